/*-------------------------------------------------------------------------
 *
 * worker_ddl.c
 *		  What database and extension commands tell the deliverers.
 *
 * DROP DATABASE, ALTER DATABASE ... RENAME and ... SET TABLESPACE, and
 * CREATE DATABASE from a template all fail while another process is
 * connected to the database.  Before such a command of the database's
 * owner (or a superuser) runs, this
 * ProcessUtility hook holds the database's slot (so the launcher starts no
 * deliverer there), ends its deliverer with SIGTERM and waits, a few
 * seconds at most and answering interrupts, until it is gone.  When the
 * command is over the hold is released and the deliverer starts again;
 * after a DROP DATABASE the slot is freed by the launcher's next scan.
 *
 * CREATE and ALTER EXTENSION candidate_docs, and CREATE DATABASE, wake the
 * launcher when their transaction commits: a deliverer that stopped for
 * want of the extension starts again, and a new database gets one.
 *
 *-------------------------------------------------------------------------
 */
#include "candidate_docs.h"

#include <signal.h>

#include "access/htup_details.h"
#include "access/xact.h"
#include "catalog/pg_database.h"
#include "commands/dbcommands.h"
#include "commands/defrem.h"
#include "miscadmin.h"
#include "storage/latch.h"
#include "storage/lwlock.h"
#include "storage/procarray.h"
#include "tcop/utility.h"
#include "utils/acl.h"
#include "utils/syscache.h"

#define CD_HOLD_MS 60000		/* longest hold, should its command never end */
#define CD_HOLD_AFTER_DROP_MS 10000 /* until the launcher sees the drop */
#define CD_STOP_WAIT_MS 5000	/* longest wait for a deliverer to go */
#define CD_STOP_POLL_MS 10

static ProcessUtility_hook_type prev_ProcessUtility = NULL;
static bool callback_registered = false;
static bool extension_changed = false;	/* this transaction: CREATE/ALTER EXTENSION */
static bool database_created = false;	/* this transaction: CREATE DATABASE */
static uint32 wait_event_stop = 0;

/*
 * The database whose deliverer must be gone for this command to succeed,
 * or InvalidOid.
 */
static Oid
database_to_free(Node *parsetree)
{
	ListCell   *lc;

	switch (nodeTag(parsetree))
	{
		case T_DropdbStmt:
			return get_database_oid(((DropdbStmt *) parsetree)->dbname, true);
		case T_RenameStmt:
			if (((RenameStmt *) parsetree)->renameType == OBJECT_DATABASE)
				return get_database_oid(((RenameStmt *) parsetree)->subname, true);
			break;
		case T_CreatedbStmt:
			foreach(lc, ((CreatedbStmt *) parsetree)->options)
			{
				DefElem    *opt = lfirst_node(DefElem, lc);

				if (strcmp(opt->defname, "template") == 0 && opt->arg != NULL)
					return get_database_oid(defGetString(opt), true);
			}
			return get_database_oid("template1", true);
		case T_AlterDatabaseStmt:
			foreach(lc, ((AlterDatabaseStmt *) parsetree)->options)
				if (strcmp(lfirst_node(DefElem, lc)->defname, "tablespace") == 0)
					return get_database_oid(((AlterDatabaseStmt *) parsetree)->dbname, true);
			break;
		default:
			break;
	}
	return InvalidOid;
}

/* Whether the command creates or updates the extension candidate_docs. */
static bool
changes_extension(Node *parsetree)
{
	if (IsA(parsetree, CreateExtensionStmt))
		return strcmp(((CreateExtensionStmt *) parsetree)->extname, "candidate_docs") == 0;
	if (IsA(parsetree, AlterExtensionStmt))
		return strcmp(((AlterExtensionStmt *) parsetree)->extname, "candidate_docs") == 0;
	return false;
}

/*
 * Hold the slot of dbid and end its deliverer; wait until its process is
 * gone (CD_STOP_WAIT_MS at most; the command then reports the other
 * session as usual).  A database without a slot gets one, held, so that a
 * scan of the launcher running meanwhile starts nothing there; returns
 * whether it did (the release frees it).
 */
static bool
deliverer_hold(Oid dbid)
{
	CdDelivererSlot *slot;
	bool		claimed;
	pid_t		pid = 0;
	TimestampTz deadline;

	LWLockAcquire(cd_deliverers->lock, LW_EXCLUSIVE);
	claimed = cd_deliverer_slot(dbid) == NULL;
	slot = cd_deliverer_slot_claim(dbid);
	if (slot != NULL)
	{
		slot->held_until = TimestampTzPlusMilliseconds(GetCurrentTimestamp(), CD_HOLD_MS);
		pid = slot->pid;
	}
	LWLockRelease(cd_deliverers->lock);
	if (pid == 0)
		return claimed && slot != NULL;
	kill(pid, SIGTERM);
	deadline = TimestampTzPlusMilliseconds(GetCurrentTimestamp(), CD_STOP_WAIT_MS);
	while (BackendPidGetProc(pid) != NULL && GetCurrentTimestamp() < deadline)
	{
		(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
						 CD_STOP_POLL_MS,
						 cd_wait_event(&wait_event_stop, "CandidateDocsDelivererStop"));
		ResetLatch(MyLatch);
		CHECK_FOR_INTERRUPTS();
	}
	return false;
}

/*
 * The command is over: the deliverer may start again after after_ms.  A
 * slot the hold claimed is freed instead (the launcher's scan decides
 * whether the database gets one).
 */
static void
deliverer_release(Oid dbid, bool claimed, int after_ms)
{
	CdDelivererSlot *slot;

	LWLockAcquire(cd_deliverers->lock, LW_EXCLUSIVE);
	slot = cd_deliverer_slot(dbid);
	if (slot != NULL && claimed && slot->pid == 0)
		memset(slot, 0, sizeof(*slot));
	else if (slot != NULL)
		slot->held_until = after_ms > 0 ?
			TimestampTzPlusMilliseconds(GetCurrentTimestamp(), after_ms) : 0;
	cd_deliverers_poke_launcher();
	LWLockRelease(cd_deliverers->lock);
}

/*
 * At COMMIT: the launcher looks again (a new database), and a deliverer
 * that stopped for want of the extension starts again.
 */
static void
worker_ddl_xact_callback(XactEvent event, void *arg)
{
	CdDelivererSlot *slot;

	if (!extension_changed && !database_created)
		return;
	if (event == XACT_EVENT_COMMIT && cd_deliverers != NULL)
	{
		LWLockAcquire(cd_deliverers->lock, LW_EXCLUSIVE);
		slot = extension_changed ? cd_deliverer_slot(MyDatabaseId) : NULL;
		if (slot != NULL)
		{
			slot->no_extension = false;
			slot->ext_epoch++;
		}
		cd_deliverers_poke_launcher();
		LWLockRelease(cd_deliverers->lock);
	}
	if (event == XACT_EVENT_COMMIT || event == XACT_EVENT_ABORT ||
		event == XACT_EVENT_PREPARE)
		extension_changed = database_created = false;
}

static void
run_utility(PlannedStmt *pstmt, const char *queryString, bool readOnlyTree,
			ProcessUtilityContext context, ParamListInfo params,
			QueryEnvironment *queryEnv, DestReceiver *dest, QueryCompletion *qc)
{
	if (prev_ProcessUtility)
		prev_ProcessUtility(pstmt, queryString, readOnlyTree, context, params,
							queryEnv, dest, qc);
	else
		standard_ProcessUtility(pstmt, queryString, readOnlyTree, context, params,
								queryEnv, dest, qc);
}

/*
 * Whether the current user could run a command on database dbid that
 * needs its deliverer gone: its owner (or a member of the owning role, or
 * a superuser).  Anyone else's command fails on its own permission check,
 * and must not stop the deliverer before it does.
 */
static bool
may_own_database(Oid dbid)
{
	HeapTuple	tup = SearchSysCache1(DATABASEOID, ObjectIdGetDatum(dbid));
	Oid			owner;

	if (!HeapTupleIsValid(tup))
		return false;
	owner = ((Form_pg_database) GETSTRUCT(tup))->datdba;
	ReleaseSysCache(tup);
	return has_privs_of_role(GetUserId(), owner);
}

/*
 * ProcessUtility hook: a database command first ends the database's
 * deliverer; extension and database creation are noted for COMMIT.
 */
static void
cdWorkerProcessUtility(PlannedStmt *pstmt, const char *queryString,
					   bool readOnlyTree, ProcessUtilityContext context,
					   ParamListInfo params, QueryEnvironment *queryEnv,
					   DestReceiver *dest, QueryCompletion *qc)
{
	Node	   *parsetree = pstmt->utilityStmt;
	Oid			dbid = InvalidOid;
	volatile bool claimed = false;

	if (cd_deliverers != NULL)
		dbid = database_to_free(parsetree);
	if (OidIsValid(dbid) && !may_own_database(dbid))
		dbid = InvalidOid;
	PG_TRY();
	{
		if (OidIsValid(dbid))
			claimed = deliverer_hold(dbid);
		run_utility(pstmt, queryString, readOnlyTree, context, params,
					queryEnv, dest, qc);
	}
	PG_CATCH();
	{
		if (OidIsValid(dbid))
			deliverer_release(dbid, claimed, 0);
		PG_RE_THROW();
	}
	PG_END_TRY();
	/* after a DROP, the launcher frees the slot once it sees the database gone */
	if (IsA(parsetree, DropdbStmt) && OidIsValid(dbid))
		deliverer_release(dbid, false, CD_HOLD_AFTER_DROP_MS);
	else if (OidIsValid(dbid))
		deliverer_release(dbid, claimed, 0);
	if (cd_deliverers == NULL)
		return;
	if (changes_extension(parsetree))
		extension_changed = true;
	else if (IsA(parsetree, CreatedbStmt))
		database_created = true;
	else
		return;
	if (!callback_registered)
		RegisterXactCallback(worker_ddl_xact_callback, NULL);
	callback_registered = true;
}

/*
 * From _PG_init, when preloading: install the hook (without preload
 * there are no deliverers).
 */
void
cd_worker_ddl_init(void)
{
	if (!process_shared_preload_libraries_in_progress)
		return;
	prev_ProcessUtility = ProcessUtility_hook;
	ProcessUtility_hook = cdWorkerProcessUtility;
}
