/*-------------------------------------------------------------------------
 *
 * launcher.c
 *		  The launcher of the deliverers: finds the databases, starts a
 *		  deliverer in each, and starts it again when it stops.
 *
 * Registered from shared_preload_libraries, the launcher connects to no
 * database: it reads pg_database (a shared catalog) every few seconds, and
 * at once when woken (a CREATE DATABASE or CREATE EXTENSION committed, a
 * deliverer stopped).  Every database that accepts connections and is not
 * a template gets a slot in the table of worker.c and a dynamic background
 * worker (worker.c), whose start and stop the postmaster reports to the
 * launcher.  There is no list of databases to configure.
 *
 * A deliverer that stopped is started again after a delay, 1 s, doubled
 * while it keeps stopping soon after its start (up to 30 s); not when its
 * database lacks the extension (until CREATE EXTENSION), while a database
 * command holds it off (worker_ddl.c), or while
 * candidate_docs.delivery_worker is off.  A database that is gone, or no
 * longer accepts connections, has its deliverer stopped and its slot
 * freed.  A crash of any process restarts the launcher with the server;
 * it starts every deliverer again.
 *
 *-------------------------------------------------------------------------
 */
#include "candidate_docs.h"

#include <signal.h>

#include "access/heapam.h"
#include "access/htup_details.h"
#include "access/table.h"
#include "access/tableam.h"
#include "access/xact.h"
#include "catalog/pg_database.h"
#include "miscadmin.h"
#include "postmaster/bgworker.h"
#include "postmaster/interrupt.h"
#include "storage/ipc.h"
#include "storage/latch.h"
#include "storage/lwlock.h"
#include "tcop/tcopprot.h"
#include "utils/guc.h"
#include "utils/memutils.h"
#include "utils/snapmgr.h"

#define CD_RESCAN_MS 5000		/* pg_database read again */
#define CD_RESTART_MIN_MS 1000	/* delay before a deliverer starts again */
#define CD_RESTART_MAX_MS 30000
#define CD_STABLE_MS 10000		/* ran this long: restart after the minimum */
#define CD_STARTS_BEFORE_WARNING 10 /* refused registrations, 1 s apart */

/* The launcher's own view of a slot of the shared table. */
typedef struct LauncherSlot
{
	BackgroundWorkerHandle *handle; /* started, until seen stopped */
	TimestampTz started_at;
	TimestampTz restart_at;		/* not started again before */
	int			delay_ms;		/* the delay of the next restart */
	int			failed_starts;	/* registrations refused in a row */
} LauncherSlot;

static LauncherSlot *lslots = NULL;
static MemoryContext scan_cxt = NULL;
static bool full_warned = false;
static bool no_worker_warned = false;
static uint32 wait_event_main = 0;

/*
 * From _PG_init, when preloading: register the launcher.
 */
void
cd_launcher_register(void)
{
	BackgroundWorker bgw;

	if (!process_shared_preload_libraries_in_progress)
		return;
	memset(&bgw, 0, sizeof(bgw));
	bgw.bgw_flags = BGWORKER_SHMEM_ACCESS | BGWORKER_BACKEND_DATABASE_CONNECTION;
	bgw.bgw_start_time = BgWorkerStart_RecoveryFinished;
	bgw.bgw_restart_time = 5;
	strlcpy(bgw.bgw_library_name, "candidate_docs", BGW_MAXLEN);
	strlcpy(bgw.bgw_function_name, "cd_launcher_main", BGW_MAXLEN);
	strlcpy(bgw.bgw_name, "candidate_docs launcher", BGW_MAXLEN);
	strlcpy(bgw.bgw_type, "candidate_docs launcher", BGW_MAXLEN);
	RegisterBackgroundWorker(&bgw);
}

/* on_shmem_exit: nobody wakes this launcher any more. */
static void
launcher_detach(int code, Datum arg)
{
	if (LWLockHeldByMe(cd_deliverers->lock))
		LWLockRelease(cd_deliverers->lock);
	LWLockAcquire(cd_deliverers->lock, LW_EXCLUSIVE);
	if (cd_deliverers->launcher_latch == MyLatch)
		cd_deliverers->launcher_latch = NULL;
	LWLockRelease(cd_deliverers->lock);
}

static void
launcher_attach(void)
{
	LWLockAcquire(cd_deliverers->lock, LW_EXCLUSIVE);
	cd_deliverers->launcher_latch = MyLatch;
	cd_deliverers->rescan = true;
	LWLockRelease(cd_deliverers->lock);
	on_shmem_exit(launcher_detach, (Datum) 0);
}

/*
 * The databases a deliverer may serve: those that accept connections and
 * are neither templates (a connection would stop CREATE DATABASE from
 * copying them) nor half dropped.  Allocated in scan_cxt; *n is their
 * count.
 */
static Oid *
launcher_databases(int *n)
{
	Relation	rel;
	TableScanDesc scan;
	HeapTuple	tup;
	int			size = 16;
	Oid		   *dbids = MemoryContextAlloc(scan_cxt, size * sizeof(Oid));

	*n = 0;
	SetCurrentStatementStartTimestamp();
	StartTransactionCommand();
	PushActiveSnapshot(GetTransactionSnapshot());
	rel = table_open(DatabaseRelationId, AccessShareLock);
	scan = table_beginscan_catalog(rel, 0, NULL);
	while ((tup = heap_getnext(scan, ForwardScanDirection)) != NULL)
	{
		Form_pg_database db = (Form_pg_database) GETSTRUCT(tup);

		if (!db->datallowconn || db->datistemplate || database_is_invalid_form(db))
			continue;
		if (*n == size)
		{
			size *= 2;
			dbids = repalloc(dbids, size * sizeof(Oid));
		}
		dbids[(*n)++] = db->oid;
	}
	table_endscan(scan);
	table_close(rel, AccessShareLock);
	PopActiveSnapshot();
	CommitTransactionCommand();
	return dbids;
}

static bool
oid_listed(Oid oid, const Oid *oids, int n)
{
	for (int i = 0; i < n; i++)
		if (oids[i] == oid)
			return true;
	return false;
}

/* Stop the deliverer of slot i: its database is gone or closed. */
static void
launcher_stop(int i, pid_t pid)
{
	if (lslots[i].handle != NULL)
		TerminateBackgroundWorker(lslots[i].handle);
	else if (pid != 0)
		kill(pid, SIGTERM);		/* started by an earlier launcher */
}

/*
 * Read pg_database and bring the table up to date: a slot for each
 * database, none for a database that is gone.
 */
static void
launcher_scan(void)
{
	int			n;
	Oid		   *dbids;
	bool		full = false;

	MemoryContextReset(scan_cxt);
	dbids = launcher_databases(&n);
	LWLockAcquire(cd_deliverers->lock, LW_EXCLUSIVE);
	for (int i = 0; i < cd_deliverers->nslots; i++)
	{
		CdDelivererSlot *slot = &cd_deliverers->slots[i];

		if (!OidIsValid(slot->dbid) || oid_listed(slot->dbid, dbids, n))
			continue;
		if (slot->pid == 0 && lslots[i].handle == NULL)
		{
			memset(slot, 0, sizeof(*slot));
			memset(&lslots[i], 0, sizeof(lslots[i]));
		}
		else
			launcher_stop(i, slot->pid);
	}
	for (int i = 0; i < n; i++)
		if (cd_deliverer_slot_claim(dbids[i]) == NULL)
			full = true;
	LWLockRelease(cd_deliverers->lock);
	if (full && !full_warned)
		ereport(WARNING,
				(errcode(ERRCODE_CONFIGURATION_LIMIT_EXCEEDED),
				 errmsg("candidate_docs runs deliverers in %d databases at most",
						cd_deliverers->nslots),
				 errdetail("The writes queued in the other databases wait for candidate_docs.deliver().")));
	full_warned = full;
}

/*
 * Forget the deliverers that stopped, and set when each may start again.
 */
static void
launcher_reap(TimestampTz now)
{
	for (int i = 0; i < cd_deliverers->nslots; i++)
	{
		LauncherSlot *ls = &lslots[i];
		pid_t		pid;

		if (ls->handle == NULL ||
			GetBackgroundWorkerPid(ls->handle, &pid) != BGWH_STOPPED)
			continue;
		pfree(ls->handle);
		ls->handle = NULL;
		if (TimestampDifferenceExceeds(ls->started_at, now, CD_STABLE_MS))
			ls->delay_ms = CD_RESTART_MIN_MS;
		else
			ls->delay_ms = Min(Max(ls->delay_ms * 2, CD_RESTART_MIN_MS),
							   CD_RESTART_MAX_MS);
		ls->restart_at = TimestampTzPlusMilliseconds(now, ls->delay_ms);
	}
}

/* Start the deliverer of slot i for database dbid. */
static void
launcher_start_one(int i, Oid dbid, TimestampTz now)
{
	BackgroundWorker bgw;
	MemoryContext old;
	bool		ok;

	memset(&bgw, 0, sizeof(bgw));
	bgw.bgw_flags = BGWORKER_SHMEM_ACCESS | BGWORKER_BACKEND_DATABASE_CONNECTION;
	bgw.bgw_start_time = BgWorkerStart_RecoveryFinished;
	bgw.bgw_restart_time = BGW_NEVER_RESTART;
	strlcpy(bgw.bgw_library_name, "candidate_docs", BGW_MAXLEN);
	strlcpy(bgw.bgw_function_name, "cd_deliverer_main", BGW_MAXLEN);
	snprintf(bgw.bgw_name, BGW_MAXLEN, "candidate_docs deliverer for database %u", dbid);
	strlcpy(bgw.bgw_type, "candidate_docs deliverer", BGW_MAXLEN);
	bgw.bgw_main_arg = Int32GetDatum(i);
	memcpy(bgw.bgw_extra, &dbid, sizeof(Oid));
	bgw.bgw_notify_pid = MyProcPid;

	old = MemoryContextSwitchTo(TopMemoryContext);
	ok = RegisterDynamicBackgroundWorker(&bgw, &lslots[i].handle);
	MemoryContextSwitchTo(old);
	if (ok)
	{
		lslots[i].started_at = now;
		lslots[i].failed_starts = 0;
		no_worker_warned = false;
		return;
	}

	/*
	 * No free worker: at start-up, the deliverers of databases without the
	 * extension take workers for a moment.  Say so when it lasts.
	 */
	lslots[i].handle = NULL;
	lslots[i].restart_at = TimestampTzPlusMilliseconds(now, CD_RESTART_MIN_MS);
	if (++lslots[i].failed_starts >= CD_STARTS_BEFORE_WARNING && !no_worker_warned)
		ereport(WARNING,
				(errcode(ERRCODE_CONFIGURATION_LIMIT_EXCEEDED),
				 errmsg("could not start a candidate_docs deliverer: no background worker is free"),
				 errdetail("It is tried again every second."),
				 errhint("Raise max_worker_processes.")));
	no_worker_warned |= lslots[i].failed_starts >= CD_STARTS_BEFORE_WARNING;
}

/*
 * Start the deliverers that should run and do not; returns when the
 * next one is due (at the latest: next).
 */
static TimestampTz
launcher_start(TimestampTz now, TimestampTz next)
{
	int			nstart = 0;
	int		   *start = palloc(sizeof(int) * cd_deliverers->nslots);
	Oid		   *dbid = palloc(sizeof(Oid) * cd_deliverers->nslots);

	LWLockAcquire(cd_deliverers->lock, LW_SHARED);
	for (int i = 0; cd_delivery_worker && i < cd_deliverers->nslots; i++)
	{
		CdDelivererSlot *slot = &cd_deliverers->slots[i];
		TimestampTz due = Max(slot->held_until, lslots[i].restart_at);

		if (!OidIsValid(slot->dbid) || slot->pid != 0 ||
			lslots[i].handle != NULL || slot->no_extension)
			continue;
		if (due > now)
			next = Min(next, due);
		else
		{
			start[nstart] = i;
			dbid[nstart++] = slot->dbid;
		}
	}
	LWLockRelease(cd_deliverers->lock);
	for (int k = 0; k < nstart; k++)
	{
		launcher_start_one(start[k], dbid[k], now);
		if (lslots[start[k]].handle == NULL)
			next = Min(next, lslots[start[k]].restart_at);
	}
	pfree(start);
	pfree(dbid);
	return next;
}

/* Whether someone asked for a scan since the last one. */
static bool
launcher_take_rescan(void)
{
	bool		rescan;

	LWLockAcquire(cd_deliverers->lock, LW_EXCLUSIVE);
	rescan = cd_deliverers->rescan;
	cd_deliverers->rescan = false;
	LWLockRelease(cd_deliverers->lock);
	return rescan;
}

/*
 * Entry point of the launcher.  SIGTERM ends it (die()); SIGHUP reads
 * the settings again; the postmaster's death ends it.
 */
void
cd_launcher_main(Datum main_arg)
{
	TimestampTz next_scan = 0;

	pqsignal(SIGTERM, die);
	pqsignal(SIGHUP, SignalHandlerForConfigReload);
	BackgroundWorkerUnblockSignals();
	BackgroundWorkerInitializeConnection(NULL, NULL, 0);
	if (cd_deliverers == NULL)
		proc_exit(0);
	lslots = MemoryContextAllocZero(TopMemoryContext,
									sizeof(LauncherSlot) * cd_deliverers->nslots);
	scan_cxt = AllocSetContextCreate(TopMemoryContext, "candidate_docs launcher",
									 ALLOCSET_SMALL_SIZES);
	launcher_attach();
	for (;;)
	{
		TimestampTz now;
		TimestampTz next;

		CHECK_FOR_INTERRUPTS();
		if (ConfigReloadPending)
		{
			ConfigReloadPending = false;
			ProcessConfigFile(PGC_SIGHUP);
		}
		now = GetCurrentTimestamp();
		launcher_reap(now);
		if (launcher_take_rescan() || now >= next_scan)
		{
			launcher_scan();
			next_scan = TimestampTzPlusMilliseconds(now, CD_RESCAN_MS);
		}
		next = launcher_start(now, next_scan);
		(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
						 Max(TimestampDifferenceMilliseconds(now, next), 1),
						 cd_wait_event(&wait_event_main, "CandidateDocsLauncherMain"));
		ResetLatch(MyLatch);
	}
}
