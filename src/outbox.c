/*-------------------------------------------------------------------------
 *
 * outbox.c
 *		  Queueing writes under delivery "after_commit": a row of the
 *		  outbox table, in the caller's transaction.
 *
 * INSERT INTO candidate_documents and create_candidate_story() validate
 * their input as in "immediate" mode, then call cd_outbox_queue() instead
 * of sending.  The row holds the request (document bytes included), the
 * role whose user mapping will send it, and its own Idempotency-Key; it
 * commits or rolls back with the caller's transaction, and deliver.c sends
 * what committed.  The outbox table is the extension's and no ordinary
 * role may read it, so the row is inserted as the table's owner, for that
 * one statement (SECURITY_LOCAL_USERID_CHANGE, as for a foreign key check).
 *
 * At COMMIT of a transaction that queued a row, the database's background
 * deliverer is woken (worker.c).
 *
 *-------------------------------------------------------------------------
 */
#include "candidate_docs.h"

#include "access/htup_details.h"
#include "access/xact.h"
#include "catalog/namespace.h"
#include "catalog/pg_class.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/lsyscache.h"
#include "utils/syscache.h"

/* candidate_docs.delivery: "", "immediate" or "after_commit" */
char	   *cd_delivery_setting = "";

/* this transaction queued a row: wake the deliverer at COMMIT */
static bool queued_in_xact = false;

/* INSERT of one row, kept for the backend's life */
static SPIPlanPtr insert_plan = NULL;

#define OUTBOX_INSERT \
	"INSERT INTO candidate_docs.outbox (queued_by, queued_by_name, server, " \
	"server_name, relid, kind, target, idempotency_key, request, content) " \
	"VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9::pg_catalog.jsonb, $10) RETURNING id"

static bool
check_delivery_setting(char **newval, void **extra, GucSource source)
{
	if ((*newval)[0] == '\0' || cd_delivery_value_valid(*newval))
		return true;
	GUC_check_errdetail("Valid values are: immediate, after_commit, or empty to use the option \"delivery\".");
	return false;
}

static void
outbox_xact_callback(XactEvent event, void *arg)
{
	switch (event)
	{
		case XACT_EVENT_COMMIT:
			if (queued_in_xact)
				cd_worker_wake(MyDatabaseId);
			queued_in_xact = false;
			break;
		case XACT_EVENT_ABORT:
		case XACT_EVENT_PREPARE:
		case XACT_EVENT_PARALLEL_COMMIT:
		case XACT_EVENT_PARALLEL_ABORT:
			queued_in_xact = false;
			break;
		default:
			break;
	}
}

/*
 * _PG_init's part: the setting candidate_docs.delivery and the COMMIT hook.
 */
void
cd_outbox_init(void)
{
	DefineCustomStringVariable("candidate_docs.delivery",
							   "Overrides the option \"delivery\" of servers and tables.",
							   "immediate: writes are sent while the statement runs; "
							   "after_commit: they are queued and sent after COMMIT. "
							   "Empty: the option decides.",
							   &cd_delivery_setting,
							   "",
							   PGC_USERSET, 0,
							   check_delivery_setting, NULL, NULL);
	RegisterXactCallback(outbox_xact_callback, NULL);
}

/*
 * Whether writes to server serverid (through foreign table relid, or
 * InvalidOid for a story) are queued: the setting, else the table's
 * option, else the server's, else "immediate".
 */
bool
cd_delivery_after_commit(Oid serverid, Oid relid)
{
	const char *mode = cd_delivery_setting;

	if (mode == NULL || mode[0] == '\0')
		mode = cd_delivery_option(serverid, relid);
	return mode != NULL && strcmp(mode, "after_commit") == 0;
}

/* Wake the deliverer when this transaction commits. */
void
cd_outbox_wake_at_commit(void)
{
	queued_in_xact = true;
}

/*
 * The outbox table of the extension installed in this database, or an
 * error; *owner is set to its owner.
 */
Oid
cd_outbox_relid(Oid *owner)
{
	Oid			nsp = get_namespace_oid("candidate_docs", true);
	Oid			relid = OidIsValid(nsp) ? get_relname_relid("outbox", nsp) : InvalidOid;
	HeapTuple	tup;

	if (!OidIsValid(relid) ||
		!HeapTupleIsValid(tup = SearchSysCache1(RELOID, ObjectIdGetDatum(relid))))
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("the outbox of candidate_docs does not exist in this database"),
				 errhint("Update the extension: ALTER EXTENSION candidate_docs UPDATE.")));
	*owner = ((Form_pg_class) GETSTRUCT(tup))->relowner;
	ReleaseSysCache(tup);
	return relid;
}

/* Whether this transaction queued a write (or asked for a retry). */
bool
cd_outbox_queued_in_xact(void)
{
	return queued_in_xact;
}

/*
 * Work on the outbox: act as its owner, for this backend's statements only
 * (SECURITY_LOCAL_USERID_CHANGE), and connect to SPI.  cd_outbox_leave
 * undoes both; an error undoes both too (transaction abort).
 */
void
cd_outbox_enter(CdOutboxUser *save)
{
	Oid			owner;

	(void) cd_outbox_relid(&owner);
	GetUserIdAndSecContext(&save->userid, &save->sec_context);
	SetUserIdAndSecContext(owner, save->sec_context | SECURITY_LOCAL_USERID_CHANGE |
						   SECURITY_RESTRICTED_OPERATION);
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
}

void
cd_outbox_leave(const CdOutboxUser *save)
{
	SPI_finish();
	SetUserIdAndSecContext(save->userid, save->sec_context);
}

/* Refuse to queue where nothing may be written. */
static void
check_writable(void)
{
	if (RecoveryInProgress())
		ereport(ERROR,
				(errcode(ERRCODE_READ_ONLY_SQL_TRANSACTION),
				 errmsg("cannot queue a write during recovery"),
				 errdetail("A standby sends nothing and queues nothing.")));
	if (XactReadOnly)
		ereport(ERROR,
				(errcode(ERRCODE_READ_ONLY_SQL_TRANSACTION),
				 errmsg("cannot queue a write in a read-only transaction")));
}

static Datum
text_or_null(const char *s, char *null)
{
	*null = s ? ' ' : 'n';
	return s ? CStringGetTextDatum(s) : (Datum) 0;
}

/*
 * Add w to the outbox, in the current transaction; returns the row's id.
 * Everything made here (the bytea copy of the content included) is freed
 * before returning, so that queueing many large rows keeps memory flat.
 */
int64
cd_outbox_queue(const CdQueuedWrite *w)
{
	static const Oid argtypes[10] = {OIDOID, TEXTOID, OIDOID, TEXTOID, OIDOID,
	TEXTOID, TEXTOID, TEXTOID, TEXTOID, BYTEAOID};
	Datum		values[10];
	char		nulls[10];
	CdOutboxUser save;
	bytea	   *content = NULL;
	char	   *role = GetUserNameFromId(w->userid, false);
	int64		id;
	bool		isnull;

	check_writable();
	memset(nulls, ' ', sizeof(nulls));
	values[0] = ObjectIdGetDatum(w->userid);
	values[1] = CStringGetTextDatum(role);
	values[2] = ObjectIdGetDatum(w->serverid);
	values[3] = CStringGetTextDatum(w->server_name);
	values[4] = ObjectIdGetDatum(w->relid);
	nulls[4] = OidIsValid(w->relid) ? ' ' : 'n';
	values[5] = CStringGetTextDatum(w->kind);
	values[6] = CStringGetTextDatum(w->target);
	values[7] = CStringGetTextDatum(w->key);
	values[8] = text_or_null(w->request, &nulls[8]);
	nulls[9] = 'n';
	if (w->content)
	{
		content = palloc(VARHDRSZ + w->content_len);
		SET_VARSIZE(content, VARHDRSZ + w->content_len);
		memcpy(VARDATA(content), w->content, w->content_len);
		values[9] = PointerGetDatum(content);
		nulls[9] = ' ';
	}

	cd_outbox_enter(&save);
	if (insert_plan == NULL)
	{
		SPIPlanPtr	plan = SPI_prepare(OUTBOX_INSERT, 10, (Oid *) argtypes);

		if (plan == NULL || SPI_keepplan(plan) != 0)
			elog(ERROR, "could not prepare the outbox insert: %s",
				 SPI_result_code_string(SPI_result));
		insert_plan = plan;
	}
	if (SPI_execute_plan(insert_plan, values, nulls, false, 1) != SPI_OK_INSERT_RETURNING ||
		SPI_processed != 1)
		elog(ERROR, "could not queue a write in the outbox");
	id = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc,
									 1, &isnull));
	cd_outbox_leave(&save);

	if (content)
		pfree(content);
	pfree(role);
	queued_in_xact = true;
	return id;
}
