/*-------------------------------------------------------------------------
 *
 * stats.c
 *		  Request counters per server, and the view candidate_docs.stats.
 *
 * Each attempt of a request is counted where it ends, in one step: the
 * attempt itself, its response class, bytes, latency (in a fixed
 * histogram, so that percentiles need no samples) and whether a retry
 * follows, so that stats_reset() at any moment leaves counts that agree
 * (never a response without its request).  An attempt stopped before its
 * end (cancel, error) counts as a request without a response.  Requests
 * in flight and the waits for the budget are counted when they start.
 *
 * The counters are per server, apart from the budget's entries (per API
 * key and integration), and never evicted: with the library in
 * shared_preload_libraries in shared memory under an LWLock, else in the
 * backend, and a NOTICE says so once.  A table of
 * candidate_docs.budget_entries servers; when it is full a request fails
 * before it is sent, so none goes uncounted.  Reading them writes nothing,
 * so the view works in read-only transactions and on standbys.
 *
 *-------------------------------------------------------------------------
 */
#include "candidate_docs.h"
#include "compat.h"

#include <math.h>

#include "catalog/pg_authid.h"
#include "catalog/pg_foreign_server.h"
#include "foreign/foreign.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "storage/ipc.h"
#include "storage/lwlock.h"
#include "storage/shmem.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/memutils.h"

/* A server's request counters. */
typedef struct CdCounters
{
	int64		requests;		/* attempts sent */
	int64		status_2xx;
	int64		status_404;
	int64		status_429;
	int64		status_4xx;		/* other 4xx */
	int64		status_5xx;
	int64		status_other;	/* 1xx, 3xx */
	int64		network_errors;
	int64		retries;
	int64		bytes;
	int64		budget_waits;
	int64		budget_wait_us;
	int64		latency[CD_LATENCY_BUCKETS];
	int64		deliveries;		/* queued writes delivered */
	int64		delivery_failures;	/* queued writes failed for good */
} CdCounters;

typedef struct StatsEntry
{
	Oid			dbid;
	Oid			serverid;		/* InvalidOid: free */
	int			inflight;
	CdCounters	counters;
} StatsEntry;

typedef struct StatsTable
{
	LWLock	   *lock;			/* NULL in a backend-local table */
	int			nentries;
	StatsEntry	entries[FLEXIBLE_ARRAY_MEMBER];
} StatsTable;

static StatsTable *stats = NULL;
static bool stats_in_shmem = false;
static bool notice_given = false;

static shmem_request_hook_type prev_shmem_request_hook = NULL;
static shmem_startup_hook_type prev_shmem_startup_hook = NULL;

/* As many servers as the budget has entries (candidate_docs.budget_entries). */
static int
stats_entries(void)
{
	const char *v = GetConfigOption("candidate_docs.budget_entries", true, false);

	return v ? Max(16, atoi(v)) : 1024;
}

static Size
stats_size(int n)
{
	return add_size(offsetof(StatsTable, entries), mul_size(sizeof(StatsEntry), n));
}

static void
stats_shmem_request(void)
{
	if (prev_shmem_request_hook)
		prev_shmem_request_hook();
	RequestAddinShmemSpace(MAXALIGN(stats_size(stats_entries())));
	RequestNamedLWLockTranche("candidate_docs stats", 1);
}

static void
stats_shmem_startup(void)
{
	bool		found;
	int			n = stats_entries();

	if (prev_shmem_startup_hook)
		prev_shmem_startup_hook();
	LWLockAcquire(AddinShmemInitLock, LW_EXCLUSIVE);
	stats = ShmemInitStruct("candidate_docs stats", stats_size(n), &found);
	if (!found)
	{
		memset(stats, 0, stats_size(n));
		stats->nentries = n;
		stats->lock = &(GetNamedLWLockTranche("candidate_docs stats"))->lock;
	}
	LWLockRelease(AddinShmemInitLock);
	stats_in_shmem = true;
}

/*
 * From _PG_init, after the budget's setting is defined: shared memory when
 * the library is preloaded.
 */
void
cd_stats_init(void)
{
	if (!process_shared_preload_libraries_in_progress)
		return;
	prev_shmem_request_hook = shmem_request_hook;
	shmem_request_hook = stats_shmem_request;
	prev_shmem_startup_hook = shmem_startup_hook;
	shmem_startup_hook = stats_shmem_startup;
}

/*
 * Without shared memory: say once per backend that limits and counters
 * are this backend's own.
 */
static void
notice_local(void)
{
	if (stats_in_shmem || notice_given)
		return;
	notice_given = true;
	ereport(NOTICE,
			(errmsg("candidate_docs is not in shared_preload_libraries: the request budget and statistics are per backend"),
			 errdetail("requests_per_minute and max_inflight limit this backend's requests only, and candidate_docs.stats counts them only."),
			 errhint("Add candidate_docs to shared_preload_libraries and restart the server to share them across the cluster.")));
}

static StatsTable *
stats_table(void)
{
	if (stats == NULL)
	{
		int			n = stats_entries();

		stats = MemoryContextAllocZero(TopMemoryContext, stats_size(n));
		stats->nentries = n;
	}
	return stats;
}

static void
stats_lock(LWLockMode mode)
{
	if (stats->lock)
		LWLockAcquire(stats->lock, mode);
}

static void
stats_unlock(void)
{
	if (stats->lock)
		LWLockRelease(stats->lock);
}

/* The entry of the current database's server, made if new; -1 if full. */
static int
entry_find(Oid serverid)
{
	int			slot = -1;

	for (int i = 0; i < stats->nentries; i++)
	{
		StatsEntry *e = &stats->entries[i];

		if (e->serverid == serverid && e->dbid == MyDatabaseId)
			return i;
		if (e->serverid == InvalidOid && slot < 0)
			slot = i;
	}
	if (slot >= 0)
	{
		stats->entries[slot].dbid = MyDatabaseId;
		stats->entries[slot].serverid = serverid;
	}
	return slot;
}

/*
 * An attempt of req starts: count it in flight, and the budget's wait
 * before it.  Fails, before anything is sent, when there is no entry left
 * for a new server.
 */
void
cd_stats_begin(CdRequest *req)
{
	int			slot;
	StatsEntry *e;

	notice_local();
	stats_table();
	stats_lock(LW_EXCLUSIVE);
	slot = entry_find(req->xfer->srv->serverid);
	if (slot < 0)
	{
		stats_unlock();
		ereport(ERROR,
				(errcode(ERRCODE_CONFIGURATION_LIMIT_EXCEEDED),
				 errmsg("the statistics of candidate_docs have no free entry"),
				 errdetail("All %d entries count the requests of other servers.",
						   stats->nentries),
				 errhint("Raise candidate_docs.budget_entries and restart the server.")));
	}
	e = &stats->entries[slot];
	e->inflight++;
	if (req->budget_waited_us > 0)
	{
		e->counters.budget_waits++;
		e->counters.budget_wait_us += req->budget_waited_us;
	}
	stats_unlock();
	req->stats_slot = slot;
}

/* Upper bounds of the latency buckets, in ms; the last bucket is open. */
static const double bucket_ms[CD_LATENCY_BUCKETS - 1] = {
	1, 2, 3, 5, 7, 10, 15, 20, 30, 50, 75, 100, 150, 200, 300, 500, 750,
	1000, 2000, 5000, 10000, 30000, 60000
};

#define CD_STATS_COLS 20

/* Count an attempt of req that ended after latency_us.  Lock held. */
static void
counters_record(CdCounters *c, const CdRequest *req, int64 latency_us,
				bool retry)
{
	double		ms = latency_us / 1000.0;
	int			b = 0;

	c->requests++;
	if (req->curl_code != CURLE_OK && !req->too_large)
		c->network_errors++;
	else if (req->status >= 200 && req->status < 300)
		c->status_2xx++;
	else if (req->status == 404)
		c->status_404++;
	else if (req->status == 429)
		c->status_429++;
	else if (req->status >= 400 && req->status < 500)
		c->status_4xx++;
	else if (req->status >= 500)
		c->status_5xx++;
	else
		c->status_other++;
	if (retry)
		c->retries++;
	c->bytes += req->resp_len;
	while (b < CD_LATENCY_BUCKETS - 1 && ms > bucket_ms[b])
		b++;
	c->latency[b]++;
}

/*
 * An attempt of req ended (retry: another follows): count it with its
 * response, no longer in flight.
 */
void
cd_stats_end(CdRequest *req, bool retry)
{
	int64		latency_us = GetCurrentTimestamp() - req->started_at;
	StatsEntry *e;

	if (req->stats_slot < 0)
		return;
	stats_lock(LW_EXCLUSIVE);
	e = &stats->entries[req->stats_slot];
	counters_record(&e->counters, req, latency_us, retry);
	e->inflight = Max(0, e->inflight - 1);
	stats_unlock();
	req->stats_slot = -1;
}

/*
 * An attempt of req stopped before its end (cancel, error, cleanup): if
 * it was sent, a request without a response.  Never throws.
 */
void
cd_stats_abort(CdRequest *req, bool sent)
{
	StatsEntry *e;

	if (req->stats_slot < 0 || stats == NULL)
		return;
	stats_lock(LW_EXCLUSIVE);
	e = &stats->entries[req->stats_slot];
	if (sent)
		e->counters.requests++;
	e->inflight = Max(0, e->inflight - 1);
	stats_unlock();
	req->stats_slot = -1;
}

/*
 * Queued writes of serverid delivered and failed for good, by deliver().
 * Counted only where an entry is free: never an error, the writes are done.
 */
void
cd_stats_deliveries(Oid serverid, int64 delivered, int64 failed)
{
	int			slot;

	if (delivered == 0 && failed == 0)
		return;
	stats_table();
	stats_lock(LW_EXCLUSIVE);
	slot = entry_find(serverid);
	if (slot >= 0)
	{
		stats->entries[slot].counters.deliveries += delivered;
		stats->entries[slot].counters.delivery_failures += failed;
	}
	stats_unlock();
}

/*
 * The upper bound (ms) of the bucket holding the p-th fraction of the
 * latencies; isnull when none were counted.  The open last bucket reports
 * its lower bound.
 */
static Datum
percentile(const CdCounters *c, double p, bool *isnull)
{
	int64		total = 0;
	int64		rank;
	int64		seen = 0;

	for (int i = 0; i < CD_LATENCY_BUCKETS; i++)
		total += c->latency[i];
	*isnull = (total == 0);
	if (total == 0)
		return (Datum) 0;
	rank = (int64) ceil(p * total);
	for (int i = 0; i < CD_LATENCY_BUCKETS - 1; i++)
	{
		seen += c->latency[i];
		if (seen >= rank)
			return Float8GetDatum(bucket_ms[i]);
	}
	return Float8GetDatum(bucket_ms[CD_LATENCY_BUCKETS - 2]);
}

/*
 * Whether the current role may see a server's counters: the server still
 * exists, and the role may use it or reads all statistics.
 */
static bool
may_see(Oid serverid)
{
	if (GetForeignServerExtended(serverid, FSV_MISSING_OK) == NULL)
		return false;
	return has_privs_of_role(GetUserId(), ROLE_PG_READ_ALL_STATS) ||
		cd_server_aclcheck(serverid, GetUserId(), ACL_USAGE) == ACLCHECK_OK;
}

static void
put_row(Tuplestorestate *ts, TupleDesc desc, Oid serverid, int inflight,
		const CdCounters *c)
{
	ForeignServer *server = GetForeignServerExtended(serverid, FSV_MISSING_OK);
	Datum		values[CD_STATS_COLS];
	bool		nulls[CD_STATS_COLS] = {0};
	NameData	name;
	int			i = 0;

	if (server == NULL)
		return;					/* dropped since */
	namestrcpy(&name, server->servername);
	values[i++] = NameGetDatum(&name);
	values[i++] = Int64GetDatum(c->requests);
	values[i++] = Int64GetDatum(c->status_2xx);
	values[i++] = Int64GetDatum(c->status_404);
	values[i++] = Int64GetDatum(c->status_429);
	values[i++] = Int64GetDatum(c->status_4xx);
	values[i++] = Int64GetDatum(c->status_5xx);
	values[i++] = Int64GetDatum(c->status_other);
	values[i++] = Int64GetDatum(c->network_errors);
	values[i++] = Int64GetDatum(c->retries);
	values[i++] = Int64GetDatum(c->bytes);
	values[i++] = Int64GetDatum(c->budget_waits);
	values[i++] = Float8GetDatum(c->budget_wait_us / 1000.0);
	values[i] = percentile(c, 0.50, &nulls[i]);
	i++;
	values[i] = percentile(c, 0.95, &nulls[i]);
	i++;
	values[i] = percentile(c, 0.99, &nulls[i]);
	i++;
	values[i++] = Int32GetDatum(inflight);
	values[i++] = BoolGetDatum(stats_in_shmem);
	values[i++] = Int64GetDatum(c->deliveries);
	values[i++] = Int64GetDatum(c->delivery_failures);
	Assert(i == CD_STATS_COLS);
	/* an installation of 1.1 has 18 columns: desc takes as many as it has */
	tuplestore_putvalues(ts, desc, values, nulls);
}

/*
 * A palloc'd copy of the current database's entries.  Returns how many.
 */
static int
stats_copy(StatsEntry **rows)
{
	int			n = 0;

	stats_table();
	*rows = palloc(sizeof(StatsEntry) * stats->nentries);
	stats_lock(LW_SHARED);
	for (int i = 0; i < stats->nentries; i++)
		if (stats->entries[i].serverid != InvalidOid &&
			stats->entries[i].dbid == MyDatabaseId)
			(*rows)[n++] = stats->entries[i];
	stats_unlock();
	return n;
}

/*
 * candidate_docs.stats(): one row per server of the current database.
 */
PG_FUNCTION_INFO_V1(candidate_docs_stats);

Datum
candidate_docs_stats(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	StatsEntry *rows;
	int			n;

	InitMaterializedSRF(fcinfo, 0);
	notice_local();
	n = stats_copy(&rows);
	for (int i = 0; i < n; i++)
		if (may_see(rows[i].serverid))
			put_row(rsinfo->setResult, rsinfo->setDesc, rows[i].serverid,
					rows[i].inflight, &rows[i].counters);
	pfree(rows);
	return (Datum) 0;
}

/*
 * candidate_docs.stats_reset(): zero the counters of the current
 * database's servers (what is in flight stays in flight).
 */
PG_FUNCTION_INFO_V1(candidate_docs_stats_reset);

Datum
candidate_docs_stats_reset(PG_FUNCTION_ARGS)
{
	stats_table();
	stats_lock(LW_EXCLUSIVE);
	for (int i = 0; i < stats->nentries; i++)
		if (stats->entries[i].serverid != InvalidOid &&
			stats->entries[i].dbid == MyDatabaseId)
			memset(&stats->entries[i].counters, 0, sizeof(CdCounters));
	stats_unlock();
	PG_RETURN_VOID();
}
