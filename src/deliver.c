/*-------------------------------------------------------------------------
 *
 * deliver.c
 *		  Sending queued writes: claim due rows of the outbox, send them
 *		  concurrently with their own identity and key, record the outcome.
 *
 * One call (candidate_docs.deliver(), or the background deliverer, which
 * calls it) does a bounded amount of work, in the caller's transaction:
 *
 *	- rows still failing after candidate_docs.delivery_max_age fail, and
 *	  finished rows older than candidate_docs.delivery_retention go;
 *	- then, group after group of due rows that share a role, server and
 *	  table, up to DELIVER_MAX_ROWS rows in all: the role's rights (USAGE
 *	  on the server, INSERT on the table) and user mapping are checked
 *	  again, and the group's rows are read one at a time from a cursor
 *	  (FOR UPDATE SKIP LOCKED) as slots of max_concurrency free up, so
 *	  that at most max_concurrency rows' bytes are in memory.
 *
 * A claimed row stays locked until the caller's transaction ends, so two
 * deliverers (the worker, a pg_cron job, a second server after failover)
 * never send one row at once; while it is being sent its advisory lock
 * makes candidate_docs.deliveries show it as "sending".  The outcome is
 * recorded in the same transaction: if it never commits (a crash while
 * sending), the row is sent again, with the same Idempotency-Key.
 *
 * Each attempt is one request (the transport's own retries are off): a
 * 429, a 5xx, a 409 (the same key still in flight) or a network failure
 * leaves the row pending with its attempts counted and its next attempt
 * after a back-off (exponential with jitter, or the server's Retry-After
 * or rate-limit reset); any other failure fails the row with the API's
 * message.
 *
 *-------------------------------------------------------------------------
 */
#include "candidate_docs.h"

#include "access/xact.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "foreign/foreign.h"
#include "miscadmin.h"
#include "storage/lock.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/resowner.h"
#include "utils/syscache.h"

/* rows sent by one call, at most */
#define DELIVER_MAX_ROWS 256
/* rows expired or purged by one call, at most */
#define DELIVER_SWEEP_ROWS 1000
/* back-off between attempts of a row */
#define DELIVER_BACKOFF_BASE_MS 1000
#define DELIVER_BACKOFF_CAP_MS 60000
#define DELIVER_SERVER_WAIT_CAP_S 3600.0

/* advisory lock (key1, key2) of a row being sent: key1 is "CDOB" */
#define DELIVERY_LOCK_KEY1 0x43444F42

int			cd_delivery_max_age_s = 23 * 3600;
int			cd_delivery_retention_s = 7 * 86400;

/* Rows of one role, server, table and kind: sent with one identity. */
typedef struct DeliverGroup
{
	Oid			userid;
	Oid			serverid;
	Oid			relid;			/* InvalidOid for stories */
	char	   *kind;
	char	   *role;			/* names when queued, for messages */
	char	   *server_name;
} DeliverGroup;

/* One row being sent; everything in cxt, the request in the transfer. */
typedef struct Delivery
{
	MemoryContext cxt;
	int64		id;
	char	   *what;			/* primary message of a failure */
	CdUploadParts parts;		/* a document's multipart fields */
	char	   *body;			/* a story's JSON */
} Delivery;

/* One call's work. */
typedef struct DeliverRun
{
	Oid			only_user;		/* a non-superuser delivers its own rows */
	int			left;			/* rows this call may still claim */
	int64		delivered;
	int64		failed;
} DeliverRun;

void
cd_deliver_init(void)
{
	DefineCustomIntVariable("candidate_docs.delivery_max_age",
							"A queued write still failing this long after it was queued fails.",
							"Keep it inside the API's idempotency window (Checkr: 24 hours).",
							&cd_delivery_max_age_s,
							23 * 3600, 1, INT_MAX,
							PGC_SUSET, GUC_UNIT_S,
							NULL, NULL, NULL);
	DefineCustomIntVariable("candidate_docs.delivery_retention",
							"Delivered, failed and cancelled writes older than this are removed from the outbox.",
							NULL,
							&cd_delivery_retention_s,
							7 * 86400, 1, INT_MAX,
							PGC_SUSET, GUC_UNIT_S,
							NULL, NULL, NULL);
}

/* Run an SPI statement with arguments; returns SPI_processed. */
static uint64
run_sql(const char *sql, int nargs, Oid *types, Datum *values,
		const char *nulls, int expected)
{
	int			rc = SPI_execute_with_args(sql, nargs, types, values, nulls,
										   false, 0);

	if (rc != expected)
		elog(ERROR, "outbox statement failed: %s", SPI_result_code_string(rc));
	return SPI_processed;
}

/*
 * Fail rows whose attempts went on past delivery_max_age, and remove
 * finished rows past delivery_retention; a bounded number of each.
 */
static void
sweep(DeliverRun *run)
{
	Oid			types[2] = {INT4OID, OIDOID};
	Datum		values[2];
	uint64		n;

	values[1] = ObjectIdGetDatum(run->only_user);
	values[0] = Int32GetDatum(cd_delivery_max_age_s);
	n = run_sql(
				"UPDATE candidate_docs.outbox SET status = 'failed', "
				"last_error = 'not delivered within candidate_docs.delivery_max_age ("
				"' || ($1 * interval '1 s') || '); last error: ' || coalesce(last_error, 'none') "
				"WHERE id IN (SELECT id FROM candidate_docs.outbox "
				" WHERE status = 'pending' AND attempts > 0 "
				"   AND queued_at < now() - $1 * interval '1 s' "
				"   AND ($2 = 0 OR queued_by = $2) "
				" LIMIT " CppAsString2(DELIVER_SWEEP_ROWS) " FOR UPDATE SKIP LOCKED) "
				"RETURNING server",
				2, types, values, NULL, SPI_OK_UPDATE_RETURNING);
	run->failed += n;
	for (uint64 i = 0; i < n; i++)
	{
		bool		isnull;
		Datum		server = SPI_getbinval(SPI_tuptable->vals[i],
										   SPI_tuptable->tupdesc, 1, &isnull);

		cd_stats_deliveries(DatumGetObjectId(server), 0, 1);
	}
	values[0] = Int32GetDatum(cd_delivery_retention_s);
	run_sql("DELETE FROM candidate_docs.outbox "
			"WHERE id IN (SELECT id FROM candidate_docs.outbox "
			" WHERE status <> 'pending' AND queued_at < now() - $1 * interval '1 s' "
			"   AND ($2 = 0 OR queued_by = $2) "
			" LIMIT " CppAsString2(DELIVER_SWEEP_ROWS) " FOR UPDATE SKIP LOCKED)",
			2, types, values, NULL, SPI_OK_DELETE);
}

/* Column n (1-based) of the current SPI row as text, palloc'd, or NULL. */
static char *
col_text(int n)
{
	return SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, n);
}

static Oid
col_oid(int n)
{
	bool		isnull;
	Datum		d = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, n,
								  &isnull);

	return isnull ? InvalidOid : DatumGetObjectId(d);
}

/*
 * Claim the oldest due row and return its group, or false when no row is
 * due.  The row stays locked, so that another deliverer passes over it.
 */
static bool
next_group(DeliverRun *run, DeliverGroup *g)
{
	Oid			types[1] = {OIDOID};
	Datum		values[1] = {ObjectIdGetDatum(run->only_user)};

	if (run_sql("SELECT queued_by, server, relid, kind, queued_by_name, server_name "
				"FROM candidate_docs.outbox "
				"WHERE status = 'pending' AND next_attempt_at <= now() "
				"  AND ($1 = 0 OR queued_by = $1) "
				"ORDER BY id LIMIT 1 FOR UPDATE SKIP LOCKED",
				1, types, values, NULL, SPI_OK_SELECT) == 0)
		return false;
	g->userid = col_oid(1);
	g->serverid = col_oid(2);
	g->relid = col_oid(3);
	g->kind = col_text(4);
	g->role = col_text(5);
	g->server_name = col_text(6);
	SPI_freetuptable(SPI_tuptable);
	return true;
}

/*
 * The options and user mapping the group's rows are sent with, after
 * checking again what the role may do; an ERROR says what is missing.
 */
static CdServer *
group_server(const DeliverGroup *g)
{
	ForeignServer *server;
	CdServer   *srv;

	if (!SearchSysCacheExists1(AUTHOID, ObjectIdGetDatum(g->userid)))
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("role \"%s\" that queued the write no longer exists", g->role)));
	server = GetForeignServerExtended(g->serverid, FSV_MISSING_OK);
	if (server == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("server \"%s\" no longer exists", g->server_name)));
	if (cd_server_aclcheck(g->serverid, g->userid, ACL_USAGE) != ACLCHECK_OK)
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("role \"%s\" no longer has USAGE on server \"%s\"",
						g->role, server->servername)));
	if (!SearchSysCacheExists2(USERMAPPINGUSERSERVER, ObjectIdGetDatum(g->userid),
							   ObjectIdGetDatum(g->serverid)) &&
		!SearchSysCacheExists2(USERMAPPINGUSERSERVER, ObjectIdGetDatum(InvalidOid),
							   ObjectIdGetDatum(g->serverid)))
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("role \"%s\" no longer has a user mapping for server \"%s\"",
						g->role, server->servername)));
	if (OidIsValid(g->relid))
	{
		if (!SearchSysCacheExists1(RELOID, ObjectIdGetDatum(g->relid)))
			ereport(ERROR,
					(errcode(ERRCODE_UNDEFINED_OBJECT),
					 errmsg("the foreign table of the write no longer exists")));
		if (pg_class_aclcheck(g->relid, g->userid, ACL_INSERT) != ACLCHECK_OK)
			ereport(ERROR,
					(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
					 errmsg("role \"%s\" no longer has INSERT on foreign table \"%s\"",
							g->role, get_rel_name(g->relid))));
		srv = cd_server_for_table(g->relid, g->userid);
	}
	else
		srv = cd_server_by_name(server->servername, g->userid);
	if ((OidIsValid(g->relid) ? srv->api->upload_path : srv->api->story_path) == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_FDW_ERROR),
				 errmsg("server \"%s\" no longer takes this write", srv->server_name)));
	srv->max_retries = 0;		/* each attempt is recorded in the row */
	return srv;
}

/* An error that must stop the call, not fail a row: cancel, shutdown. */
static bool
error_stops_call(const ErrorData *edata)
{
	return edata->sqlerrcode == ERRCODE_QUERY_CANCELED ||
		ERRCODE_TO_CATEGORY(edata->sqlerrcode) == ERRCODE_OPERATOR_INTERVENTION ||
		edata->elevel > ERROR;
}

/*
 * group_server() in a subtransaction: its error becomes the returned
 * message (the rows fail with it) instead of ending the call.
 */
static char *
try_group_server(const DeliverGroup *g, CdServer **srv)
{
	MemoryContext cxt = CurrentMemoryContext;
	ResourceOwner owner = CurrentResourceOwner;
	char	   *msg = NULL;

	BeginInternalSubTransaction(NULL);
	MemoryContextSwitchTo(cxt);
	PG_TRY();
	{
		*srv = group_server(g);
		ReleaseCurrentSubTransaction();
		MemoryContextSwitchTo(cxt);
		CurrentResourceOwner = owner;
	}
	PG_CATCH();
	{
		ErrorData  *edata;

		MemoryContextSwitchTo(cxt);
		edata = CopyErrorData();
		FlushErrorState();
		RollbackAndReleaseCurrentSubTransaction();
		MemoryContextSwitchTo(cxt);
		CurrentResourceOwner = owner;
		if (error_stops_call(edata))
			ReThrowError(edata);
		msg = edata->detail ? psprintf("%s: %s", edata->message, edata->detail) :
			edata->message;
	}
	PG_END_TRY();
	return msg;
}

/* The rows of group g that this call claims: a cursor over them. */
static Portal
open_group(DeliverRun *run, const DeliverGroup *g)
{
	Oid			types[5] = {OIDOID, OIDOID, OIDOID, TEXTOID, INT4OID};
	Datum		values[5];
	char		nulls[5] = {' ', ' ', ' ', ' ', ' '};

	values[0] = ObjectIdGetDatum(g->userid);
	values[1] = ObjectIdGetDatum(g->serverid);
	values[2] = ObjectIdGetDatum(g->relid);
	values[3] = CStringGetTextDatum(g->kind);
	values[4] = Int32GetDatum(run->left);
	return SPI_cursor_open_with_args(NULL,
									 "SELECT id, target, idempotency_key, request::text, content "
									 "FROM candidate_docs.outbox "
									 "WHERE status = 'pending' AND next_attempt_at <= now() "
									 "  AND queued_by = $1 AND server = $2 "
									 "  AND coalesce(relid, 0) = $3 AND kind = $4 "
									 "ORDER BY id LIMIT $5 FOR UPDATE SKIP LOCKED",
									 5, types, values, nulls, false, 0);
}

/* Mark the due rows of a group failed with msg (its identity is gone). */
static void
fail_group(DeliverRun *run, const DeliverGroup *g, const char *msg)
{
	Oid			types[6] = {OIDOID, OIDOID, OIDOID, TEXTOID, INT4OID, TEXTOID};
	Datum		values[6];
	uint64		n;

	values[0] = ObjectIdGetDatum(g->userid);
	values[1] = ObjectIdGetDatum(g->serverid);
	values[2] = ObjectIdGetDatum(g->relid);
	values[3] = CStringGetTextDatum(g->kind);
	values[4] = Int32GetDatum(run->left);
	values[5] = CStringGetTextDatum(msg);
	n = run_sql("UPDATE candidate_docs.outbox SET status = 'failed', last_error = $6 "
				"WHERE id IN (SELECT id FROM candidate_docs.outbox "
				" WHERE status = 'pending' AND next_attempt_at <= now() "
				"   AND queued_by = $1 AND server = $2 "
				"   AND coalesce(relid, 0) = $3 AND kind = $4 "
				" ORDER BY id LIMIT $5 FOR UPDATE SKIP LOCKED)",
				6, types, values, NULL, SPI_OK_UPDATE);
	run->failed += n;
	cd_stats_deliveries(g->serverid, 0, n);
	run->left -= (int) Min(n, (uint64) run->left);
}

/* Show the row as "sending" until the transaction ends. */
static void
lock_sending(int64 id)
{
	LOCKTAG		tag;

	SET_LOCKTAG_ADVISORY(tag, MyDatabaseId, DELIVERY_LOCK_KEY1,
						 (uint32) ((uint64) id & 0xFFFFFFFF), 2);
	(void) LockAcquire(&tag, ExclusiveLock, false, true);
}

/*
 * Read the next claimed row of the cursor into a Delivery (in its own
 * context under parent) and its request, queued on xfer; NULL when the
 * cursor is done.
 */
static Delivery *
next_delivery(Portal cursor, CdTransfer *xfer, const DeliverGroup *g,
			  MemoryContext parent)
{
	const CdServer *srv = xfer->srv;
	Delivery   *d;
	MemoryContext old;
	CdRequest  *req;
	char	   *target;
	bool		isnull;
	Datum		content;

	SPI_cursor_fetch(cursor, true, 1);
	if (SPI_processed == 0)
		return NULL;
	d = MemoryContextAllocZero(parent, sizeof(Delivery));
	d->cxt = AllocSetContextCreate(parent, "candidate_docs delivery",
								   ALLOCSET_DEFAULT_SIZES);
	old = MemoryContextSwitchTo(d->cxt);
	d->id = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0],
										SPI_tuptable->tupdesc, 1, &isnull));
	target = col_text(2);
	if (OidIsValid(g->relid))
	{
		char	   *text = col_text(4);
		json_t	   *request = cd_parse_json_arg(text ? text : "{}", text ? strlen(text) : 2,
												"request");

		d->parts.type = pstrdup(json_string_value(json_object_get(request, "type")) ?: "");
		d->parts.filename = pstrdup(json_string_value(json_object_get(request, "filename")) ?: "");
		d->parts.content_type = pstrdup(json_string_value(json_object_get(request, "content_type")) ?: "");
		json_decref(request);
		content = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 5, &isnull);
		if (!isnull)
		{
			/* a copy: the SPI row is freed below */
			bytea	   *bytes = DatumGetByteaPCopy(content);

			d->parts.data = VARDATA(bytes);
			d->parts.len = VARSIZE(bytes) - VARHDRSZ;
		}
		else
			d->parts.data = "";
		d->what = psprintf("could not upload document \"%s\" for candidate \"%s\"",
						   d->parts.filename, target);
		req = cd_request_new(xfer, "POST",
							 cd_url_expand(srv->base_url, srv->api->upload_path, target),
							 true);
		req->build_mime = cd_upload_mime;
		req->mime_arg = &d->parts;
	}
	else
	{
		d->body = col_text(4);
		if (d->body == NULL)
			d->body = "{}";
		d->what = psprintf("could not create a candidate story for report \"%s\"", target);
		req = cd_request_new(xfer, "POST",
							 cd_url_expand(srv->base_url, srv->api->story_path, target),
							 true);
		req->body = d->body;
		req->body_len = strlen(d->body);
		req->content_type = "application/json";
	}
	req->idempotency_key = col_text(3);
	req->owner = d;
	MemoryContextSwitchTo(old);
	SPI_freetuptable(SPI_tuptable);
	lock_sending(d->id);
	cd_transfer_add(xfer, req);
	return d;
}

/*
 * The message of the error cd_request_error() would raise for req, as
 * text for last_error.  Only strings are made on that path.
 */
static char *
request_error_text(const CdTransfer *xfer, const CdRequest *req, const char *what)
{
	MemoryContext cxt = CurrentMemoryContext;
	char	   *msg = NULL;

	PG_TRY();
	{
		cd_request_error(xfer, req, what);
	}
	PG_CATCH();
	{
		ErrorData  *edata;

		MemoryContextSwitchTo(cxt);
		edata = CopyErrorData();
		FlushErrorState();
		msg = edata->detail ? psprintf("%s: %s", edata->message, edata->detail) :
			edata->message;
	}
	PG_END_TRY();
	return msg;
}

/* Milliseconds before the next attempt of a row that has had attempts. */
static long
row_backoff_ms(const CdRequest *req, int attempts)
{
	double		wait = req->retry_after_s;
	long		cap;

	if (wait < 0 && req->status == 429)
		wait = req->rate_reset_s;
	if (wait >= 0)
		return (long) (Min(wait, DELIVER_SERVER_WAIT_CAP_S) * 1000.0);
	cap = (long) DELIVER_BACKOFF_BASE_MS << Min(Max(attempts, 1) - 1, 10);
	cap = Min(cap, DELIVER_BACKOFF_CAP_MS);
	return cap / 2 + random() % (cap / 2 + 1);
}

/*
 * The API's answer as jsonb, or NULL with the reason in *why when it is
 * none (no body, or JSON that jsonb refuses, such as \u0000): the row was
 * delivered all the same, and must not be sent again for it.
 */
static Datum
answer_jsonb(const CdRequest *req, bool *isnull, char **why)
{
	Oid			typinput;
	Oid			typioparam;
	FmgrInfo	flinfo;
	Datum		result;

	*isnull = true;
	*why = NULL;
	if (req->resp == NULL || req->resp_len == 0)
		return (Datum) 0;
	getTypeInputInfo(JSONBOID, &typinput, &typioparam);
	fmgr_info(typinput, &flinfo);
	if (!cd_input_value(&flinfo, pnstrdup(req->resp, req->resp_len), typioparam,
						-1, &result, why))
		return (Datum) 0;
	*isnull = false;
	return result;
}

static void
record_delivered(DeliverRun *run, Delivery *d, const CdRequest *req)
{
	Oid			types[3] = {INT8OID, JSONBOID, TEXTOID};
	Datum		values[3];
	char		nulls[3] = {' ', ' ', ' '};
	bool		isnull;
	char	   *why;

	values[0] = Int64GetDatum(d->id);
	values[1] = answer_jsonb(req, &isnull, &why);
	if (isnull)
		nulls[1] = 'n';
	if (why != NULL)
		values[2] = CStringGetTextDatum(psprintf("delivered, but the API's answer could not be kept: %s",
												 why));
	else
		nulls[2] = 'n';
	run_sql("UPDATE candidate_docs.outbox SET status = 'delivered', delivered_at = now(), "
			"attempts = attempts + 1, last_error = $3, result = $2, "
			"request = NULL, content = NULL WHERE id = $1",
			3, types, values, nulls, SPI_OK_UPDATE);
	run->delivered++;
}

/* A failed attempt: pending again after a back-off, or failed for good. */
static void
record_failure(DeliverRun *run, Delivery *d, const CdTransfer *xfer,
			   const CdRequest *req)
{
	bool		retry = cd_request_retryable(req) ||
		(req->curl_code == CURLE_OK && req->status == 409);
	Oid			types[4] = {INT8OID, TEXTOID, BOOLOID, INT4OID};
	Datum		values[4];

	values[0] = Int64GetDatum(d->id);
	values[1] = CStringGetTextDatum(request_error_text(xfer, req, d->what));
	values[2] = BoolGetDatum(retry);
	values[3] = Int32GetDatum(cd_delivery_max_age_s);
	run_sql("UPDATE candidate_docs.outbox SET attempts = attempts + 1, last_error = $2, "
			"status = CASE WHEN $3 AND queued_at >= now() - $4 * interval '1 s' "
			"  THEN 'pending' ELSE 'failed' END "
			"WHERE id = $1 RETURNING status, attempts",
			4, types, values, NULL, SPI_OK_UPDATE_RETURNING);
	if (strcmp(col_text(1), "failed") == 0)
		run->failed++;
	else
	{
		int			attempts = atoi(col_text(2));
		Oid			t2[2] = {INT8OID, INT8OID};
		Datum		v2[2] = {Int64GetDatum(d->id),
		Int64GetDatum(row_backoff_ms(req, attempts))};

		run_sql("UPDATE candidate_docs.outbox SET next_attempt_at = "
				"now() + $2 * interval '1 ms' WHERE id = $1",
				2, t2, v2, NULL, SPI_OK_UPDATE);
	}
}

/*
 * Send the rows of one group; at most max_concurrency in memory at once.
 * Returns how many rows it claimed.
 */
static int
deliver_group(DeliverRun *run, const DeliverGroup *g, CdServer *srv,
			  MemoryContext cxt)
{
	CdTransfer *xfer = cd_transfer_create(srv, cxt);
	Portal		cursor = open_group(run, g);
	bool		more = true;
	int			inflight = 0;
	int			claimed = 0;
	int64		delivered0 = run->delivered;
	int64		failed0 = run->failed;

	for (;;)
	{
		CdRequest  *req;
		Delivery   *d;

		while (more && inflight < srv->max_concurrency && run->left > 0)
		{
			if (next_delivery(cursor, xfer, g, cxt) == NULL)
				more = false;
			else
			{
				inflight++;
				claimed++;
				run->left--;
			}
		}
		if (inflight == 0)
			break;
		req = cd_transfer_next(xfer, true);
		Assert(req != NULL);
		d = req->owner;
		inflight--;
		if (cd_request_ok(req))
			record_delivered(run, d, req);
		else
			record_failure(run, d, xfer, req);
		cd_transfer_release(xfer, req);
		MemoryContextDelete(d->cxt);
		pfree(d);
	}
	SPI_cursor_close(cursor);
	cd_stats_deliveries(srv->serverid, run->delivered - delivered0,
						run->failed - failed0);
	return claimed;
}

/*
 * candidate_docs.deliver()'s work: see the file header.  A superuser (and
 * the background deliverer) delivers every role's rows; another role its
 * own.
 */
void
cd_deliver(int64 *delivered, int64 *failed)
{
	DeliverRun run = {0};
	CdOutboxUser save;
	MemoryContext cxt = AllocSetContextCreate(CurrentMemoryContext,
											  "candidate_docs deliver",
											  ALLOCSET_DEFAULT_SIZES);
	DeliverGroup g;

	if (cd_outbox_queued_in_xact())
		ereport(ERROR,
				(errcode(ERRCODE_ACTIVE_SQL_TRANSACTION),
				 errmsg("cannot deliver in the transaction that queued writes"),
				 errdetail("Nothing is sent before the transaction that queued it commits."),
				 errhint("COMMIT first, then call candidate_docs.deliver().")));
	run.only_user = superuser() ? InvalidOid : GetUserId();
	run.left = DELIVER_MAX_ROWS;
	cd_outbox_enter(&save);
	sweep(&run);
	while (run.left > 0 && next_group(&run, &g))
	{
		CdServer   *srv = NULL;
		char	   *msg = try_group_server(&g, &srv);

		int			claimed = 1;

		if (msg)
			fail_group(&run, &g, psprintf("not sent: %s", msg));
		else
			claimed = deliver_group(&run, &g, srv, cxt);
		MemoryContextReset(cxt);
		if (claimed == 0)
			break;				/* the oldest row changed meanwhile */
	}
	cd_outbox_leave(&save);
	MemoryContextDelete(cxt);
	*delivered = run.delivered;
	*failed = run.failed;
}
