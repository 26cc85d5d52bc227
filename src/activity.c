/*-------------------------------------------------------------------------
 *
 * activity.c
 *		  candidate_docs.activity: what each backend's scans, uploads and
 *		  deliveries are doing now.
 *
 * Each backend has a slot: in shared memory, one per backend, when the
 * library is preloaded; else in the backend's own memory, which the view
 * shows for the current backend only.  The transport (http.c) counts the
 * requests queued, in flight and done and the time spent waiting for the
 * budget; the scan counts the rows it returns and says how many requests a
 * run needs when that is known (its candidate ids, or the outer rows of a
 * batched join).  A slot is in use from the first transfer of a statement
 * to the end of its last one, or the end of the transaction, whichever
 * comes first.  A slot's writer is its backend alone; readers copy it under
 * its spinlock.
 *
 *-------------------------------------------------------------------------
 */
#include "candidate_docs.h"

#include "access/xact.h"
#include "catalog/pg_authid.h"
#include "funcapi.h"
#include "storage/ipc.h"
#include "storage/proc.h"
#include "storage/shmem.h"
#include "storage/spin.h"
#include "utils/builtins.h"

typedef struct CdActivitySlot
{
	slock_t		mutex;
	int			pid;			/* 0: no candidate_docs work running */
	Oid			userid;
	TimestampTz query_start;
	TimestampTz started;		/* the first transfer of the statement */
	TimestampTz budget_since;	/* a budget wait in progress, or 0 */
	NameData	server;
	int64		done;			/* attempts finished */
	int64		queued;
	int64		inflight;
	int64		rows;
	int64		budget_wait_us;
	double		budget_rate;	/* the server's budget, per second; 0: none */
	double		total;			/* requests the run needs, or -1 */
	int64		done_before;	/* done when total was set */
	bool		total_whole;	/* total is the whole join's, not a batch's */
} CdActivitySlot;

static CdActivitySlot *slots = NULL;	/* shared: MaxBackends of them */
static CdActivitySlot local_slot;
static CdActivitySlot *my_slot = NULL;
static int	depth = 0;			/* transfers alive */
static double pending_total = -1;	/* a join's count, given before its scan */
static bool xact_callback_set = false;

static shmem_request_hook_type prev_shmem_request_hook = NULL;
static shmem_startup_hook_type prev_shmem_startup_hook = NULL;

static void
activity_shmem_request(void)
{
	if (prev_shmem_request_hook)
		prev_shmem_request_hook();
	RequestAddinShmemSpace(mul_size(MaxBackends, sizeof(CdActivitySlot)));
}

static void
activity_shmem_startup(void)
{
	bool		found;

	if (prev_shmem_startup_hook)
		prev_shmem_startup_hook();
	LWLockAcquire(AddinShmemInitLock, LW_EXCLUSIVE);
	slots = ShmemInitStruct("candidate_docs activity",
							mul_size(MaxBackends, sizeof(CdActivitySlot)), &found);
	if (!found)
	{
		memset(slots, 0, mul_size(MaxBackends, sizeof(CdActivitySlot)));
		for (int i = 0; i < MaxBackends; i++)
			SpinLockInit(&slots[i].mutex);
	}
	LWLockRelease(AddinShmemInitLock);
}

/* From _PG_init: ask for shared memory when the library is preloaded. */
void
cd_activity_init(void)
{
	SpinLockInit(&local_slot.mutex);
	if (!process_shared_preload_libraries_in_progress)
		return;
	prev_shmem_request_hook = shmem_request_hook;
	shmem_request_hook = activity_shmem_request;
	prev_shmem_startup_hook = shmem_startup_hook;
	shmem_startup_hook = activity_shmem_startup;
}

/* The transaction ended: whatever ran in it is over. */
static void
activity_xact_callback(XactEvent event, void *arg)
{
	if (event != XACT_EVENT_COMMIT && event != XACT_EVENT_ABORT &&
		event != XACT_EVENT_PARALLEL_COMMIT && event != XACT_EVENT_PARALLEL_ABORT)
		return;
	depth = 0;
	pending_total = -1;
	if (my_slot && my_slot->pid != 0)
	{
		SpinLockAcquire(&my_slot->mutex);
		my_slot->pid = 0;
		SpinLockRelease(&my_slot->mutex);
	}
}

/* Whatever is left at the end of the transaction is cleared then. */
static void
watch_xact(void)
{
	if (xact_callback_set)
		return;
	RegisterXactCallback(activity_xact_callback, NULL);
	xact_callback_set = true;
}

/* This backend's slot: the shared one if there is one for it. */
static CdActivitySlot *
slot_of_backend(void)
{
	int			i = cd_my_backend_index();

	if (slots != NULL && i >= 0 && i < MaxBackends)
		return &slots[i];
	return &local_slot;
}

/*
 * A transfer of server starts (its budget requests_per_minute, 0: none):
 * the first one of a statement fills the slot.  Every begin is matched by
 * cd_activity_end (a memory context reset callback), or the transaction's
 * end.
 */
void
cd_activity_begin(const char *server, int requests_per_minute)
{
	if (depth++ > 0)
		return;
	watch_xact();
	if (my_slot == NULL)
		my_slot = slot_of_backend();
	SpinLockAcquire(&my_slot->mutex);
	my_slot->userid = GetUserId();
	my_slot->query_start = GetCurrentStatementStartTimestamp();
	my_slot->started = GetCurrentTimestamp();
	my_slot->budget_since = 0;
	namestrcpy(&my_slot->server, server);
	my_slot->done = my_slot->queued = my_slot->inflight = my_slot->rows = 0;
	my_slot->budget_wait_us = 0;
	my_slot->budget_rate = requests_per_minute / 60.0;
	my_slot->total = pending_total;
	my_slot->done_before = 0;
	my_slot->total_whole = pending_total >= 0;
	pending_total = -1;
	my_slot->pid = MyProcPid;
	SpinLockRelease(&my_slot->mutex);
}

/* A transfer ended (called from error recovery too: must not throw). */
void
cd_activity_end(void)
{
	if (depth == 0 || --depth > 0 || my_slot == NULL)
		return;
	SpinLockAcquire(&my_slot->mutex);
	my_slot->pid = 0;
	SpinLockRelease(&my_slot->mutex);
}

/* Count one event of the running work; nothing when none runs. */
void
cd_activity_count(CdActivityEvent event)
{
	CdActivitySlot *s = my_slot;

	if (depth == 0 || s == NULL)
		return;
	SpinLockAcquire(&s->mutex);
	switch (event)
	{
		case CD_ACT_QUEUED:
			s->queued++;
			break;
		case CD_ACT_STARTED:
			s->queued = Max(s->queued - 1, 0);
			s->inflight++;
			break;
		case CD_ACT_RETRY:
			s->queued++;
			/* FALLTHROUGH */
		case CD_ACT_FINISHED:
			s->inflight = Max(s->inflight - 1, 0);
			s->done++;
			break;
		case CD_ACT_RELEASED:
			s->queued = Max(s->queued - 1, 0);
			break;
		case CD_ACT_ROW:
			s->rows++;
			break;
		case CD_ACT_BUDGET_WAIT:
			if (s->budget_since == 0)
				s->budget_since = GetCurrentTimestamp();
			break;
		case CD_ACT_BUDGET_DONE:
			if (s->budget_since != 0)
				s->budget_wait_us += GetCurrentTimestamp() - s->budget_since;
			s->budget_since = 0;
			break;
	}
	SpinLockRelease(&s->mutex);
}

/* A scan's next slot: a row counted unless empty; returns slot. */
TupleTableSlot *
cd_activity_row(TupleTableSlot *slot)
{
	if (!TupIsNull(slot))
		cd_activity_count(CD_ACT_ROW);
	return slot;
}

/*
 * The requests the run needs from now: n candidate ids (a scan's list or a
 * batch), unless the whole join's count was given (whole: the planner's
 * count of its outer rows, given before its scan starts).
 */
void
cd_activity_expect(double n, bool whole)
{
	CdActivitySlot *s = my_slot;

	if (depth == 0 && whole)
	{
		watch_xact();
		pending_total = n;
	}
	if (depth == 0 || s == NULL || (s->total_whole && !whole))
		return;
	SpinLockAcquire(&s->mutex);
	s->total = n;
	s->done_before = whole ? 0 : s->done;
	s->total_whole = whole;
	SpinLockRelease(&s->mutex);
}

/* One row of the view from a copy of a slot taken at now. */
static void
put_row(ReturnSetInfo *rsinfo, const CdActivitySlot *s, TimestampTz now)
{
	Datum		values[10];
	bool		nulls[10] = {0};
	int64		wait_us = s->budget_wait_us;
	int64		run_done = s->done - s->done_before;
	double		elapsed = (double) (now - s->started) / USECS_PER_SEC;

	if (s->budget_since != 0)
		wait_us += now - s->budget_since;
	values[0] = Int32GetDatum(s->pid);
	values[1] = TimestampTzGetDatum(s->query_start);
	values[2] = NameGetDatum(&s->server);
	values[3] = Int64GetDatum(s->done);
	values[4] = Int64GetDatum(s->queued);
	values[5] = Int64GetDatum(s->inflight);
	values[6] = Int64GetDatum(s->rows);
	values[7] = Float8GetDatum((double) wait_us / USECS_PER_SEC);
	nulls[8] = nulls[9] = true;
	if (s->total >= 0)
	{
		values[8] = Int64GetDatum((int64) s->total);
		nulls[8] = false;
		/*
		 * At the rate reached so far, or the budget's if that is lower: a
		 * first burst goes faster than the budget refills.
		 */
		if (run_done > 0 && elapsed > 0)
		{
			double		rate = run_done / elapsed;

			if (s->budget_rate > 0)
				rate = Min(rate, s->budget_rate);
			values[9] = Float8GetDatum(Max(s->total - run_done, 0) / rate);
			nulls[9] = false;
		}
	}
	tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
}

/*
 * candidate_docs.activity(): one row per backend with candidate_docs work
 * running.  A role sees its own backends; pg_read_all_stats all of them.
 * Without shared memory, the current backend alone.
 */
PG_FUNCTION_INFO_V1(candidate_docs_activity);

Datum
candidate_docs_activity(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	TimestampTz now = GetCurrentTimestamp();
	bool		see_all = has_privs_of_role(GetUserId(), ROLE_PG_READ_ALL_STATS);
	int			n = slots ? MaxBackends : 1;

	InitMaterializedSRF(fcinfo, 0);
	for (int i = 0; i < n; i++)
	{
		CdActivitySlot *slot = slots ? &slots[i] : &local_slot;
		CdActivitySlot copy;

		SpinLockAcquire(&slot->mutex);
		memcpy(&copy, slot, sizeof(copy));
		SpinLockRelease(&slot->mutex);
		if (copy.pid == 0 ||
			!(see_all || has_privs_of_role(GetUserId(), copy.userid)))
			continue;
		put_row(rsinfo, &copy, now);
	}
	return (Datum) 0;
}
