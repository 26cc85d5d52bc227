/*-------------------------------------------------------------------------
 *
 * outbox_sql.c
 *		  The SQL functions of the outbox: deliver(), await_delivery(),
 *		  retry_delivery() and cancel_delivery().
 *
 * The outbox table is read and changed as its owner (outbox.c); a role
 * acts on its own rows only, a superuser on every row.  A row another
 * role queued is reported as not existing.
 *
 *-------------------------------------------------------------------------
 */
#include "candidate_docs.h"

#include "access/htup_details.h"
#include "access/transam.h"
#include "access/xact.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "storage/latch.h"
#include "utils/builtins.h"
#include "utils/datetime.h"
#include "utils/lsyscache.h"
#include "utils/wait_event.h"

PG_FUNCTION_INFO_V1(candidate_docs_deliver);
PG_FUNCTION_INFO_V1(candidate_docs_await_delivery);
PG_FUNCTION_INFO_V1(candidate_docs_retry_delivery);
PG_FUNCTION_INFO_V1(candidate_docs_cancel_delivery);

/* how long await_delivery() sleeps between looks, at most */
#define AWAIT_SLICE_MS 100

/* A row of the outbox as these functions see it. */
typedef struct OutboxRow
{
	char	   *status;
	char	   *last_error;
	Datum		result;			/* jsonb, in the caller's context */
	bool		result_null;
	bool		this_xact;		/* queued by the current transaction */
} OutboxRow;

/*
 * deliver(OUT delivered bigint, OUT failed bigint) RETURNS record
 */
Datum
candidate_docs_deliver(PG_FUNCTION_ARGS)
{
	TupleDesc	tupdesc;
	Datum		values[2];
	bool		nulls[2] = {false, false};
	int64		delivered;
	int64		failed;

	if (get_call_result_type(fcinfo, NULL, &tupdesc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "return type must be a row type");
	cd_deliver(&delivered, &failed);
	values[0] = Int64GetDatum(delivered);
	values[1] = Int64GetDatum(failed);
	PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(tupdesc, values, nulls)));
}

pg_noreturn static void no_such_delivery(int64 id);

static void
no_such_delivery(int64 id)
{
	ereport(ERROR,
			(errcode(ERRCODE_UNDEFINED_OBJECT),
			 errmsg("delivery " INT64_FORMAT " does not exist", id),
			 errhint("A role sees its own deliveries in candidate_docs.deliveries.")));
}

/*
 * Read row id (inside cd_outbox_enter): false if there is none the caller
 * may see.  With lock, the row is locked; a row a deliverer holds is
 * reported as being sent.  Values are copied into cxt.
 */
static bool
read_row(int64 id, Oid user, bool lock, MemoryContext cxt, OutboxRow *row)
{
	Oid			types[1] = {INT8OID};
	Datum		values[1] = {Int64GetDatum(id)};
	HeapTuple	tup;
	TupleDesc	desc;
	bool		isnull;
	MemoryContext old;

	if (SPI_execute_with_args("SELECT status, last_error, result, queued_by, xmin "
							  "FROM candidate_docs.outbox WHERE id = $1",
							  1, types, values, NULL, false, 1) != SPI_OK_SELECT)
		elog(ERROR, "could not read the outbox");
	if (SPI_processed == 0)
		return false;
	tup = SPI_tuptable->vals[0];
	desc = SPI_tuptable->tupdesc;
	if (OidIsValid(user) &&
		DatumGetObjectId(SPI_getbinval(tup, desc, 4, &isnull)) != user)
		return false;
	old = MemoryContextSwitchTo(cxt);
	row->status = SPI_getvalue(tup, desc, 1);
	row->last_error = SPI_getvalue(tup, desc, 2);
	row->result = SPI_getbinval(tup, desc, 3, &row->result_null);
	if (!row->result_null)
		row->result = PointerGetDatum(PG_DETOAST_DATUM_COPY(row->result));
	row->this_xact = TransactionIdIsCurrentTransactionId(
														 DatumGetTransactionId(SPI_getbinval(tup, desc, 5, &isnull)));
	MemoryContextSwitchTo(old);
	if (lock &&
		(SPI_execute_with_args("SELECT 1 FROM candidate_docs.outbox WHERE id = $1 "
							   "FOR UPDATE SKIP LOCKED",
							   1, types, values, NULL, false, 1) != SPI_OK_SELECT ||
		 SPI_processed == 0))
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_IN_USE),
				 errmsg("delivery " INT64_FORMAT " is being sent", id),
				 errhint("Wait for it with candidate_docs.await_delivery().")));
	return true;
}

/* The role whose rows the caller may see: InvalidOid for a superuser. */
static Oid
visible_user(void)
{
	return superuser() ? InvalidOid : GetUserId();
}

/* One look at row id, as the caller; errors if it is not visible. */
static void
look(int64 id, Oid user, OutboxRow *row)
{
	CdOutboxUser save;
	MemoryContext cxt = CurrentMemoryContext;

	cd_outbox_enter(&save);
	if (!read_row(id, user, false, cxt, row))
		no_such_delivery(id);
	cd_outbox_leave(&save);
}

/* Microseconds of an interval, months taken as 30 days. */
static int64
interval_us(const Interval *iv)
{
	return iv->time + (int64) iv->day * USECS_PER_DAY +
		(int64) iv->month * DAYS_PER_MONTH * USECS_PER_DAY;
}

static char *
interval_text(Interval *iv)
{
	Oid			typoutput;
	bool		isvarlena;

	getTypeOutputInfo(INTERVALOID, &typoutput, &isvarlena);
	return OidOutputFunctionCall(typoutput, IntervalPGetDatum(iv));
}

/*
 * await_delivery(id bigint, timeout interval DEFAULT '30 s') RETURNS jsonb
 *
 * Looks at the row every AWAIT_SLICE_MS at most (each look sees what has
 * committed since), answering interrupts between looks.
 */
Datum
candidate_docs_await_delivery(PG_FUNCTION_ARGS)
{
	int64		id = PG_GETARG_INT64(0);
	Interval   *timeout = PG_GETARG_INTERVAL_P(1);
	TimestampTz deadline = GetCurrentTimestamp() + Max(interval_us(timeout), 0);
	Oid			user = visible_user();
	static uint32 wait_event = 0;

	for (;;)
	{
		OutboxRow	row;
		TimestampTz now;

		look(id, user, &row);
		if (strcmp(row.status, "delivered") == 0)
		{
			if (row.result_null)
				PG_RETURN_NULL();
			PG_RETURN_DATUM(row.result);
		}
		if (strcmp(row.status, "failed") == 0)
			ereport(ERROR,
					(errcode(ERRCODE_FDW_ERROR),
					 errmsg("delivery " INT64_FORMAT " failed", id),
					 errdetail_internal("%s", row.last_error ? row.last_error : "")));
		if (strcmp(row.status, "cancelled") == 0)
			ereport(ERROR,
					(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
					 errmsg("delivery " INT64_FORMAT " was cancelled", id)));
		if (row.this_xact)
			ereport(ERROR,
					(errcode(ERRCODE_ACTIVE_SQL_TRANSACTION),
					 errmsg("delivery " INT64_FORMAT " was queued by this transaction", id),
					 errdetail("Nothing is sent before the transaction that queued it commits."),
					 errhint("COMMIT first.")));
		now = GetCurrentTimestamp();
		if (now >= deadline)
			ereport(ERROR,
					(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
					 errmsg("delivery " INT64_FORMAT " is still %s after %s", id,
							row.status, interval_text(timeout)),
					 row.last_error ? errdetail_internal("Last error: %s", row.last_error) : 0,
					 errhint("Without the background deliverer, candidate_docs.deliver() sends queued writes.")));
		(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
						 Min(AWAIT_SLICE_MS, (deadline - now) / 1000 + 1),
						 cd_wait_event(&wait_event, "CandidateDocsAwaitDelivery"));
		ResetLatch(MyLatch);
		CHECK_FOR_INTERRUPTS();
	}
}

/*
 * Move row id, which the caller may see and no deliverer holds, from status
 * from to another with update (its parameter $1 is the id); hint says
 * which rows may be.
 */
static void
change_row(int64 id, const char *from, const char *update, const char *hint)
{
	Oid			types[1] = {INT8OID};
	Datum		values[1] = {Int64GetDatum(id)};
	CdOutboxUser save;
	OutboxRow	row;
	Oid			user = visible_user();

	cd_outbox_enter(&save);
	if (!read_row(id, user, true, CurrentMemoryContext, &row))
		no_such_delivery(id);
	if (strcmp(row.status, from) != 0)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("delivery " INT64_FORMAT " is %s, not %s", id, row.status, from),
				 errhint("%s", hint)));
	if (SPI_execute_with_args(update, 1, types, values, NULL, false, 0) != SPI_OK_UPDATE)
		elog(ERROR, "could not update the outbox");
	cd_outbox_leave(&save);
}

/*
 * retry_delivery(id bigint) RETURNS void: a failed row is pending again,
 * due now, with its attempts reset and the same Idempotency-Key.
 */
Datum
candidate_docs_retry_delivery(PG_FUNCTION_ARGS)
{
	change_row(PG_GETARG_INT64(0), "failed",
			   "UPDATE candidate_docs.outbox SET status = 'pending', "
			   "attempts = 0, next_attempt_at = now() WHERE id = $1",
			   "Only a failed delivery can be retried.");
	cd_outbox_wake_at_commit();
	PG_RETURN_VOID();
}

/*
 * cancel_delivery(id bigint) RETURNS void: a pending row that no deliverer
 * holds is cancelled, and its bytes dropped.
 */
Datum
candidate_docs_cancel_delivery(PG_FUNCTION_ARGS)
{
	change_row(PG_GETARG_INT64(0), "pending",
			   "UPDATE candidate_docs.outbox SET status = 'cancelled', "
			   "request = NULL, content = NULL WHERE id = $1",
			   "Only a delivery not yet sent can be cancelled.");
	PG_RETURN_VOID();
}
