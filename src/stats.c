/*-------------------------------------------------------------------------
 *
 * stats.c
 *		  Request counters per server, and the view candidate_docs.stats.
 *
 * Each attempt of a request is counted where it ends: its response class,
 * bytes, latency (in a fixed histogram, so that percentiles need no
 * samples) and whether a retry follows.  The counters live in the budget
 * entries (budget.c): in shared memory when the library is preloaded,
 * else in the backend.  Reading them writes nothing, so the view works in
 * read-only transactions and on standbys.
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
#include "utils/acl.h"
#include "utils/builtins.h"

/* Upper bounds of the latency buckets, in ms; the last bucket is open. */
static const double bucket_ms[CD_LATENCY_BUCKETS - 1] = {
	1, 2, 3, 5, 7, 10, 15, 20, 30, 50, 75, 100, 150, 200, 300, 500, 750,
	1000, 2000, 5000, 10000, 30000, 60000
};

#define CD_STATS_COLS 18

/*
 * Count an attempt of req that ended after latency_us.  Plain arithmetic:
 * called with the budget's lock held.
 */
void
cd_counters_record(CdCounters *c, const CdRequest *req, int64 latency_us,
				   bool retry)
{
	double		ms = latency_us / 1000.0;
	int			b = 0;

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

void
cd_counters_add(CdCounters *sum, const CdCounters *c)
{
	sum->requests += c->requests;
	sum->status_2xx += c->status_2xx;
	sum->status_404 += c->status_404;
	sum->status_429 += c->status_429;
	sum->status_4xx += c->status_4xx;
	sum->status_5xx += c->status_5xx;
	sum->status_other += c->status_other;
	sum->network_errors += c->network_errors;
	sum->retries += c->retries;
	sum->bytes += c->bytes;
	sum->budget_waits += c->budget_waits;
	sum->budget_wait_us += c->budget_wait_us;
	for (int i = 0; i < CD_LATENCY_BUCKETS; i++)
		sum->latency[i] += c->latency[i];
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
	values[i++] = BoolGetDatum(cd_budget_shared());
	Assert(i == CD_STATS_COLS);
	tuplestore_putvalues(ts, desc, values, nulls);
}

/*
 * candidate_docs.stats(): one row per server of the current database,
 * summing its entries (API keys and integrations).
 */
PG_FUNCTION_INFO_V1(candidate_docs_stats);

Datum
candidate_docs_stats(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	CdBudgetRow *rows;
	int			n;
	bool	   *done;

	InitMaterializedSRF(fcinfo, 0);
	cd_budget_notice_local();
	n = cd_budget_rows(MyDatabaseId, &rows);
	done = palloc0(sizeof(bool) * Max(n, 1));
	for (int i = 0; i < n; i++)
	{
		CdCounters	sum = {0};
		int			inflight = 0;

		if (done[i] || !may_see(rows[i].serverid))
			continue;
		for (int j = i; j < n; j++)
			if (!done[j] && rows[j].serverid == rows[i].serverid)
			{
				cd_counters_add(&sum, &rows[j].counters);
				inflight += rows[j].inflight;
				done[j] = true;
			}
		put_row(rsinfo->setResult, rsinfo->setDesc, rows[i].serverid,
				inflight, &sum);
	}
	return (Datum) 0;
}

/*
 * candidate_docs.stats_reset(): zero the counters of the current
 * database's servers.
 */
PG_FUNCTION_INFO_V1(candidate_docs_stats_reset);

Datum
candidate_docs_stats_reset(PG_FUNCTION_ARGS)
{
	cd_budget_reset_counters();
	PG_RETURN_VOID();
}
