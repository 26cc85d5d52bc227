/*-------------------------------------------------------------------------
 *
 * budget.c
 *		  The request budget shared by every backend: a token bucket for
 *		  the request rate and a cap on requests in flight, per server, API
 *		  key and integration, corrected from the APIs' rate-limit headers.
 *
 * With the library in shared_preload_libraries the entries live in shared
 * memory under one LWLock, so every backend of the cluster spends the same
 * budget; without it the same entries live in the backend's own memory (a
 * budget per backend) and a NOTICE says so once.  An entry is keyed by the
 * database, the server, a 64-bit hash of the API key (never the key) and a
 * hash of the Kombo integration; it also holds the server's counters
 * (stats.c).
 *
 * Nothing here sleeps: cd_budget_acquire says how long to wait, and the
 * transport's wait loop (http.c) waits in slices that answer interrupts.
 * A backend gives back what it holds when a request ends, when its
 * transfer is cleaned up after an error, and at exit (on_shmem_exit), so
 * a cancelled or terminated backend leaves no slot taken.
 *
 * What the API says overrides the bucket: "remaining" requests until the
 * reset of its window are counted down by every backend, and after a 429
 * nobody sends before the reset, not only the backend that saw it.
 *
 *-------------------------------------------------------------------------
 */
#include "candidate_docs.h"
#include "compat.h"

#include <math.h>

#include "common/hashfn.h"
#include "miscadmin.h"
#include "storage/ipc.h"
#include "storage/lwlock.h"
#include "storage/shmem.h"
#include "utils/memutils.h"

#define CD_BUDGET_ENTRIES 256
#define CD_BUDGET_POLL_MS 10	/* re-check a full in-flight cap */
#define CD_CAP_LOWERED_US (60 * USECS_PER_SEC)	/* a lowered cap lasts */
#define CD_RESET_CAP_S 60.0		/* longest wait a header may impose */
#define CD_SAME_WINDOW_US (2 * USECS_PER_SEC)	/* resets this close agree */

typedef struct BudgetKey
{
	Oid			dbid;
	Oid			serverid;
	uint64		keyhash;		/* of the API key, never the key */
	uint32		integration;	/* hash of the integration id, or 0 */
} BudgetKey;

typedef struct BudgetEntry
{
	BudgetKey	key;
	bool		used;
	TimestampTz last_used;
	double		tokens;			/* rate bucket */
	TimestampTz refilled_at;
	long		remaining;		/* the API's count until reset_at; < 0 unknown */
	TimestampTz reset_at;		/* end of the API's window, or 0 */
	TimestampTz blocked_until;	/* after a 429: nobody sends before */
	int			inflight;
	int			lowered_cap;	/* after a concurrency error, until ... */
	TimestampTz lowered_until;
	CdCounters	counters;
} BudgetEntry;

typedef struct BudgetTable
{
	LWLock	   *lock;			/* NULL in a backend-local table */
	BudgetEntry entries[CD_BUDGET_ENTRIES];
} BudgetTable;

static BudgetTable *budget = NULL;
static bool budget_in_shmem = false;
static int	held[CD_BUDGET_ENTRIES];	/* slots this backend holds */
static bool exit_callback_set = false;
static bool notice_given = false;

static shmem_request_hook_type prev_shmem_request_hook = NULL;
static shmem_startup_hook_type prev_shmem_startup_hook = NULL;

static void
budget_shmem_request(void)
{
	if (prev_shmem_request_hook)
		prev_shmem_request_hook();
	RequestAddinShmemSpace(MAXALIGN(sizeof(BudgetTable)));
	RequestNamedLWLockTranche("candidate_docs", 1);
}

static void
budget_shmem_startup(void)
{
	bool		found;

	if (prev_shmem_startup_hook)
		prev_shmem_startup_hook();
	LWLockAcquire(AddinShmemInitLock, LW_EXCLUSIVE);
	budget = ShmemInitStruct("candidate_docs budget", sizeof(BudgetTable), &found);
	if (!found)
	{
		memset(budget, 0, sizeof(BudgetTable));
		budget->lock = &(GetNamedLWLockTranche("candidate_docs"))->lock;
	}
	LWLockRelease(AddinShmemInitLock);
	budget_in_shmem = true;
}

/*
 * From _PG_init: ask for shared memory when the library is preloaded.
 */
void
cd_budget_init(void)
{
	if (!process_shared_preload_libraries_in_progress)
		return;
	prev_shmem_request_hook = shmem_request_hook;
	shmem_request_hook = budget_shmem_request;
	prev_shmem_startup_hook = shmem_startup_hook;
	shmem_startup_hook = budget_shmem_startup;
}

/* Whether the budget and the counters are the cluster's (shared memory). */
bool
cd_budget_shared(void)
{
	return budget_in_shmem;
}

/*
 * Without shared memory: say once per backend that limits and counters
 * are this backend's own.
 */
void
cd_budget_notice_local(void)
{
	if (budget_in_shmem || notice_given)
		return;
	notice_given = true;
	ereport(NOTICE,
			(errmsg("candidate_docs is not in shared_preload_libraries: the request budget and statistics are per backend"),
			 errdetail("requests_per_minute and max_inflight limit this backend's requests only, and candidate_docs.stats counts them only."),
			 errhint("Add candidate_docs to shared_preload_libraries and restart the server to share them across the cluster.")));
}

static BudgetTable *
budget_table(void)
{
	if (budget == NULL)
		budget = MemoryContextAllocZero(TopMemoryContext, sizeof(BudgetTable));
	return budget;
}

static void
budget_lock(LWLockMode mode)
{
	if (budget->lock)
		LWLockAcquire(budget->lock, mode);
}

static void
budget_unlock(void)
{
	if (budget->lock)
		LWLockRelease(budget->lock);
}

/* At exit, give back whatever this backend still holds. */
static void
budget_exit(int code, Datum arg)
{
	budget_lock(LW_EXCLUSIVE);
	for (int i = 0; i < CD_BUDGET_ENTRIES; i++)
	{
		if (held[i] > 0)
			budget->entries[i].inflight = Max(0, budget->entries[i].inflight - held[i]);
		held[i] = 0;
	}
	budget_unlock();
}

static void
request_key(const CdRequest *req, BudgetKey *key)
{
	const CdServer *srv = req->xfer->srv;

	memset(key, 0, sizeof(*key));
	key->dbid = MyDatabaseId;
	key->serverid = srv->serverid;
	key->keyhash = hash_bytes_extended((const unsigned char *) srv->api_key,
									   strlen(srv->api_key), 0);
	if (req->integration_id)
		key->integration = hash_bytes((const unsigned char *) req->integration_id,
									  strlen(req->integration_id));
}

/*
 * The entry of key, made if new (replacing the least recently used idle
 * one when the table is full); -1 if every entry is busy.  Lock held.
 */
static int
entry_find(const BudgetKey *key, TimestampTz now)
{
	int			slot = -1;
	int			lru = -1;
	BudgetEntry *e;

	for (int i = 0; i < CD_BUDGET_ENTRIES; i++)
	{
		e = &budget->entries[i];
		if (!e->used)
		{
			if (slot < 0)
				slot = i;
			continue;
		}
		if (memcmp(&e->key, key, sizeof(BudgetKey)) == 0)
			return i;
		if (e->inflight == 0 &&
			(lru < 0 || e->last_used < budget->entries[lru].last_used))
			lru = i;
	}
	if (slot < 0)
		slot = lru;
	if (slot < 0)
		return -1;
	e = &budget->entries[slot];
	memset(e, 0, sizeof(BudgetEntry));
	e->key = *key;
	e->used = true;
	e->remaining = -1;
	return slot;
}

static long
ms_until(TimestampTz t, TimestampTz now)
{
	return Max(1, (long) ((t - now + 999) / 1000));
}

/* The in-flight cap in force: the option's, or lower after an error. */
static int
entry_cap(const BudgetEntry *e, const CdServer *srv, TimestampTz now)
{
	int			cap = srv->max_inflight;

	if (e->lowered_cap > 0 && now < e->lowered_until)
		cap = cap > 0 ? Min(cap, e->lowered_cap) : e->lowered_cap;
	return cap;
}

/*
 * Add the tokens earned since the last refill.  The bucket holds six
 * seconds' worth (a tenth of the minute), full at first: a short fan-out
 * goes at once, a long one at the rate.
 */
static void
entry_refill(BudgetEntry *e, int rpm, TimestampTz now)
{
	double		burst = Max(1.0, rpm / 10.0);

	if (e->refilled_at == 0)
		e->tokens = burst;
	else if (now > e->refilled_at)
		e->tokens += (double) (now - e->refilled_at) / USECS_PER_SEC * rpm / 60.0;
	e->tokens = Min(e->tokens, burst);
	e->refilled_at = now;
}

/* Milliseconds until a request may start on e, 0 if now.  Lock held. */
static long
entry_wait_ms(BudgetEntry *e, const CdServer *srv, TimestampTz now)
{
	int			cap = entry_cap(e, srv, now);

	if (e->blocked_until > now)
		return ms_until(e->blocked_until, now);
	if (e->reset_at != 0 && now >= e->reset_at)
	{
		e->remaining = -1;
		e->reset_at = 0;
	}
	if (e->remaining == 0)
		return ms_until(e->reset_at, now);
	if (cap > 0 && e->inflight >= cap)
		return CD_BUDGET_POLL_MS;
	if (srv->requests_per_minute > 0)
	{
		entry_refill(e, srv->requests_per_minute, now);
		if (e->tokens < 1.0)
			return Max(1, (long) ceil((1.0 - e->tokens) * 60000.0 /
									  srv->requests_per_minute));
	}
	return 0;
}

/* Whether req spends the API's budget: sent with the key, limits set. */
static bool
request_budgeted(const CdRequest *req)
{
	const CdServer *srv = req->xfer->srv;

	return (srv->requests_per_minute > 0 || srv->max_inflight > 0) &&
		req->credentials &&
		cd_url_same_origin(srv->origin, srv->base_url, req->url);
}

/*
 * May req's next attempt start now?  If so it takes a slot (given back by
 * cd_budget_finish or cd_budget_release) and true is returned; otherwise
 * *wait_ms says when to ask again.  Every attempt is counted, budgeted or
 * not (downloads from other hosts are not budgeted).
 */
bool
cd_budget_acquire(CdRequest *req, long *wait_ms)
{
	TimestampTz now = GetCurrentTimestamp();
	bool		budgeted = request_budgeted(req);
	BudgetKey	key;
	BudgetEntry *e;
	int			slot;
	long		wait;

	cd_budget_notice_local();
	budget_table();
	if (budget_in_shmem && !exit_callback_set)
	{
		on_shmem_exit(budget_exit, (Datum) 0);
		exit_callback_set = true;
	}
	request_key(req, &key);
	req->budget_slot = -1;
	req->started_at = now;

	budget_lock(LW_EXCLUSIVE);
	slot = entry_find(&key, now);
	if (slot < 0)
	{
		budget_unlock();
		return true;			/* every entry busy: unbudgeted, uncounted */
	}
	e = &budget->entries[slot];
	e->last_used = now;
	wait = budgeted ? entry_wait_ms(e, req->xfer->srv, now) : 0;
	if (wait > 0)
	{
		budget_unlock();
		if (req->budget_wait_since == 0)
			req->budget_wait_since = now;
		*wait_ms = wait;
		return false;
	}
	e->inflight++;
	held[slot]++;
	if (budgeted && req->xfer->srv->requests_per_minute > 0)
		e->tokens -= 1.0;
	if (budgeted && e->remaining > 0)
		e->remaining--;
	e->counters.requests++;
	if (req->budget_wait_since != 0)
	{
		e->counters.budget_waits++;
		e->counters.budget_wait_us += now - req->budget_wait_since;
		req->budget_wait_since = 0;
	}
	budget_unlock();
	req->budget_slot = slot;
	return true;
}

/* Give back req's slot.  Lock held. */
static void
entry_release(CdRequest *req)
{
	int			slot = req->budget_slot;

	budget->entries[slot].inflight = Max(0, budget->entries[slot].inflight - 1);
	held[slot] = Max(0, held[slot] - 1);
	req->budget_slot = -1;
}

/*
 * Learn from a response's headers: the API's count of requests left and
 * when its window resets; after a 429 every backend waits for the reset;
 * a concurrency error lowers the in-flight cap for a while.  Lock held.
 */
static void
entry_learn(BudgetEntry *e, const CdRequest *req, bool concurrency,
			TimestampTz now)
{
	TimestampTz reset = 0;
	double		wait;
	int			cap;

	if (req->rate_reset_s >= 0)
		reset = now + (TimestampTz) (Min(req->rate_reset_s, CD_RESET_CAP_S) * USECS_PER_SEC);
	if (concurrency)
	{
		/* one less than was in flight, this request included */
		cap = entry_cap(e, req->xfer->srv, now);
		e->lowered_cap = Max(1, (cap > 0 ? Min(cap, e->inflight) : e->inflight) - 1);
		e->lowered_until = now + CD_CAP_LOWERED_US;
		return;
	}
	if (req->status == 429)
	{
		wait = req->retry_after_s >= 0 ? req->retry_after_s :
			req->rate_reset_s >= 0 ? req->rate_reset_s : 1.0;
		e->blocked_until = Max(e->blocked_until,
							   now + (TimestampTz) (Min(wait, CD_RESET_CAP_S) * USECS_PER_SEC));
		return;
	}
	if (req->rate_remaining < 0 || reset == 0)
		return;
	/* the same window (resets in whole seconds: keep the earliest) */
	if (e->reset_at != 0 && now < e->reset_at &&
		reset < e->reset_at + CD_SAME_WINDOW_US)
	{
		e->remaining = Min(e->remaining, req->rate_remaining);
		e->reset_at = Min(e->reset_at, reset);
	}
	else
	{
		e->remaining = req->rate_remaining;
		e->reset_at = reset;
	}
}

/*
 * An attempt of req ended (retry: another follows): give its slot back,
 * count it, and learn from the response.
 */
void
cd_budget_finish(CdRequest *req, bool retry)
{
	const CdApi *api = req->xfer->srv->api;
	TimestampTz now;
	bool		concurrency = false;
	bool		budgeted;
	BudgetEntry *e;

	if (req->budget_slot < 0)
		return;
	now = GetCurrentTimestamp();
	budgeted = request_budgeted(req);
	if (req->status == 429 && api->concurrency_error_code)
	{
		char	   *code = cd_api_error_code(api, req->resp, req->resp_len);

		concurrency = code && strcmp(code, api->concurrency_error_code) == 0;
		free(code);
	}
	budget_lock(LW_EXCLUSIVE);
	e = &budget->entries[req->budget_slot];
	cd_counters_record(&e->counters, req, now - req->started_at, retry);
	if (budgeted)
		entry_learn(e, req, concurrency, now);
	entry_release(req);
	budget_unlock();
}

/*
 * Give back req's slot if it still holds one (an attempt stopped before
 * its end: cancel, error, cleanup).  Never throws.
 */
void
cd_budget_release(CdRequest *req)
{
	if (req->budget_slot < 0 || budget == NULL)
		return;
	budget_lock(LW_EXCLUSIVE);
	entry_release(req);
	budget_unlock();
}

/*
 * A palloc'd copy of database dbid's entries: server, requests in flight
 * and counters.  Returns how many.
 */
int
cd_budget_rows(Oid dbid, CdBudgetRow **rows)
{
	int			n = 0;

	*rows = palloc(sizeof(CdBudgetRow) * CD_BUDGET_ENTRIES);
	budget_table();
	budget_lock(LW_SHARED);
	for (int i = 0; i < CD_BUDGET_ENTRIES; i++)
	{
		BudgetEntry *e = &budget->entries[i];

		if (!e->used || e->key.dbid != dbid)
			continue;
		(*rows)[n].serverid = e->key.serverid;
		(*rows)[n].inflight = e->inflight;
		(*rows)[n].counters = e->counters;
		n++;
	}
	budget_unlock();
	return n;
}

/* Zero the counters of the current database's entries. */
void
cd_budget_reset_counters(void)
{
	budget_table();
	budget_lock(LW_EXCLUSIVE);
	for (int i = 0; i < CD_BUDGET_ENTRIES; i++)
		if (budget->entries[i].used && budget->entries[i].key.dbid == MyDatabaseId)
			memset(&budget->entries[i].counters, 0, sizeof(CdCounters));
	budget_unlock();
}
