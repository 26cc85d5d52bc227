/*-------------------------------------------------------------------------
 *
 * budget.c
 *		  The request budget shared by every backend: the request rate and
 *		  a cap on requests in flight, per server, API key and integration,
 *		  corrected from the APIs' rate-limit headers, with waiters served
 *		  in arrival order.
 *
 * With the library in shared_preload_libraries the entries live in shared
 * memory under one LWLock, so every backend of the cluster spends the same
 * budget; without it the same entries live in the backend's own memory (a
 * budget per backend).  An entry is keyed by the database, the server, a
 * 64-bit hash of the API key (never the key) and a hash of the Kombo
 * integration.  candidate_docs.budget_entries sizes the table.
 *
 * The budget fails closed.  An entry that still holds anything (requests
 * in flight, waiters, a block after a 429, a lowered cap, the API's count
 * of requests left, requests of the last minute) is never given to another
 * key; when no entry is free a request fails with a hint naming the
 * setting, it is never sent unbudgeted.  Only requests sent with the key
 * to the API's own origin spend the budget: downloads from another host
 * take nothing.
 *
 * The rate: a bucket of six seconds' worth (a tenth of the minute) for
 * short fan-outs, refilled at the rest of the rate (the burst plus the
 * window's refill is the rate), and under it a count of the requests started in
 * each 100 ms of the last 60.2 seconds, so that no 60-second window ever
 * holds more than requests_per_minute, whatever the bucket allows.
 *
 * Arrival order: a request refused takes a ticket on its entry (one per
 * backend and entry), and a request may start only if no live ticket is
 * older than its own.  A waiter refreshes its ticket each time it asks; a
 * ticket not refreshed for a second (its backend is gone or waiting
 * elsewhere) no longer holds the queue.
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

#include "access/xact.h"
#include "commands/defrem.h"
#include "common/hashfn.h"
#include "foreign/foreign.h"
#include "miscadmin.h"
#include "storage/ipc.h"
#include "storage/lwlock.h"
#include "storage/shmem.h"
#include "utils/guc.h"
#include "utils/inval.h"
#include "utils/memutils.h"

#define CD_BUDGET_POLL_MS 10	/* re-check a full in-flight cap */
#define CD_CAP_LOWERED_US (60 * USECS_PER_SEC)	/* a lowered cap lasts */
#define CD_RESET_CAP_S 60.0		/* longest wait a header may impose */
#define CD_SAME_WINDOW_US (2 * USECS_PER_SEC)	/* resets this close agree */
#define CD_WINDOW_SLOT_US 100000 /* the rate window counts per 100 ms */
#define CD_WINDOW_SLOTS 602		/* 60.2 s: the minute and a margin */
#define CD_IDLE_US (61 * USECS_PER_SEC) /* an entry unused this long is free */
#define CD_TICKET_STALE_US USECS_PER_SEC	/* a ticket not renewed expires */
#define CD_OPTION_CHECK_US (250 * 1000) /* re-read max_inflight while waiting */
#define CD_WAITERS_PER_BACKEND 4

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
	int64		window_at;		/* the newest window slot (now / slot) */
	int32		window[CD_WINDOW_SLOTS];	/* requests started per slot */
	long		remaining;		/* the API's count until reset_at; < 0 unknown */
	TimestampTz reset_at;		/* end of the API's window, or 0 */
	TimestampTz blocked_until;	/* after a 429: nobody sends before */
	int			inflight;
	int			lowered_cap;	/* after a concurrency error, until ... */
	TimestampTz lowered_until;
	int			waiters;		/* tickets taken on this entry */
	uint64		next_ticket;
} BudgetEntry;

/* A backend's place in an entry's queue. */
typedef struct BudgetWaiter
{
	int			entry;			/* -1: free */
	int			pid;
	uint64		ticket;
	TimestampTz seen;			/* last asked */
} BudgetWaiter;

typedef struct BudgetTable
{
	LWLock	   *lock;			/* NULL in a backend-local table */
	int			nentries;
	int			nwaiters;
	BudgetWaiter *waiters;		/* after the entries */
	BudgetEntry entries[FLEXIBLE_ARRAY_MEMBER];
} BudgetTable;

static int	budget_entries = 1024;	/* candidate_docs.budget_entries */
static BudgetTable *budget = NULL;
static bool budget_in_shmem = false;
static int *held = NULL;		/* slots this backend holds, per entry */
static bool exit_callback_set = false;

/* max_inflight read again while waiting: the server's, since ... */
static Oid	fresh_cap_server = InvalidOid;
static int	fresh_cap = 0;
static TimestampTz fresh_cap_at = 0;

static shmem_request_hook_type prev_shmem_request_hook = NULL;
static shmem_startup_hook_type prev_shmem_startup_hook = NULL;

static int
waiter_count(void)
{
	return MaxBackends * CD_WAITERS_PER_BACKEND;
}

static Size
budget_size(int nwaiters)
{
	return add_size(MAXALIGN(add_size(offsetof(BudgetTable, entries),
									  mul_size(sizeof(BudgetEntry), budget_entries))),
					mul_size(sizeof(BudgetWaiter), nwaiters));
}

/* Lay out a zeroed table. */
static void
budget_layout(BudgetTable *t, int nwaiters)
{
	t->nentries = budget_entries;
	t->nwaiters = nwaiters;
	t->waiters = (BudgetWaiter *) ((char *) t +
								   MAXALIGN(offsetof(BudgetTable, entries) +
											sizeof(BudgetEntry) * budget_entries));
	for (int i = 0; i < nwaiters; i++)
		t->waiters[i].entry = -1;
}

static void
budget_shmem_request(void)
{
	if (prev_shmem_request_hook)
		prev_shmem_request_hook();
	RequestAddinShmemSpace(budget_size(waiter_count()));
	RequestNamedLWLockTranche("candidate_docs", 1);
}

static void
budget_shmem_startup(void)
{
	bool		found;

	if (prev_shmem_startup_hook)
		prev_shmem_startup_hook();
	LWLockAcquire(AddinShmemInitLock, LW_EXCLUSIVE);
	budget = ShmemInitStruct("candidate_docs budget",
							 budget_size(waiter_count()), &found);
	if (!found)
	{
		memset(budget, 0, budget_size(waiter_count()));
		budget_layout(budget, waiter_count());
		budget->lock = &(GetNamedLWLockTranche("candidate_docs"))->lock;
	}
	LWLockRelease(AddinShmemInitLock);
	budget_in_shmem = true;
}

/*
 * From _PG_init: the setting and shared memory, when the library is
 * preloaded (a backend's own table has the default size).
 */
void
cd_budget_init(void)
{
	if (!process_shared_preload_libraries_in_progress)
		return;
	DefineCustomIntVariable("candidate_docs.budget_entries",
							"Entries of the shared request budget (server, API key and integration).",
							"Each combination of server, API key and Kombo integration used in the "
							"last minute takes an entry; when none is free a request fails.",
							&budget_entries,
							1024, 16, 1000000,
							PGC_POSTMASTER, 0,
							NULL, NULL, NULL);
	prev_shmem_request_hook = shmem_request_hook;
	shmem_request_hook = budget_shmem_request;
	prev_shmem_startup_hook = shmem_startup_hook;
	shmem_startup_hook = budget_shmem_startup;
}

static BudgetTable *
budget_table(void)
{
	if (budget == NULL)
	{
		/* a backend's own table: one waiter is this backend */
		budget = MemoryContextAllocZero(TopMemoryContext, budget_size(1));
		budget_layout(budget, 1);
	}
	if (held == NULL)
		held = MemoryContextAllocZero(TopMemoryContext,
									  sizeof(int) * budget->nentries);
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

/* Free waiter w.  Lock held. */
static void
waiter_free(BudgetWaiter *w)
{
	budget->entries[w->entry].waiters--;
	w->entry = -1;
}

/* At exit, give back whatever this backend still holds. */
static void
budget_exit(int code, Datum arg)
{
	budget_lock(LW_EXCLUSIVE);
	for (int i = 0; i < budget->nentries; i++)
	{
		if (held[i] > 0)
			budget->entries[i].inflight = Max(0, budget->entries[i].inflight - held[i]);
		held[i] = 0;
	}
	for (int i = 0; i < budget->nwaiters; i++)
		if (budget->waiters[i].entry >= 0 && budget->waiters[i].pid == MyProcPid)
			waiter_free(&budget->waiters[i]);
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
 * Whether e holds nothing: no request in flight, no block, lowered cap or
 * API window in force, and nobody asked for it in the last minute (so no
 * live ticket, and the rate window and the bucket are empty and full).
 */
static bool
entry_idle(const BudgetEntry *e, TimestampTz now)
{
	return e->inflight == 0 &&
		e->blocked_until <= now && e->lowered_until <= now &&
		e->reset_at <= now && e->last_used + CD_IDLE_US <= now;
}

/*
 * The entry of key, made if new (in a free entry, else in the least
 * recently used idle one); -1 if none is free.  Lock held.
 */
static int
entry_find(const BudgetKey *key, TimestampTz now)
{
	int			slot = -1;
	int			lru = -1;
	BudgetEntry *e;

	for (int i = 0; i < budget->nentries; i++)
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
		if (entry_idle(e, now) &&
			(lru < 0 || e->last_used < budget->entries[lru].last_used))
			lru = i;
	}
	if (slot < 0)
		slot = lru;
	if (slot < 0)
		return -1;
	for (int i = 0; i < budget->nwaiters; i++)
		if (budget->waiters[i].entry == slot)
			waiter_free(&budget->waiters[i]);	/* stale */
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

/*
 * max_inflight as the catalog says now: a waiting backend reads it again
 * (every CD_OPTION_CHECK_US), so that ALTER SERVER raising it reaches
 * requests already waiting.  What was read serves the rest of the
 * statement; until then, the scan's own.
 */
static int
server_max_inflight(const CdServer *srv, TimestampTz now, bool waiting)
{
	bool		known = fresh_cap_server == srv->serverid &&
		fresh_cap_at >= GetCurrentStatementStartTimestamp();
	MemoryContext tmp;
	MemoryContext old;
	ForeignServer *server;
	int			cap = srv->api->default_max_inflight;

	if (!waiting || !IsTransactionState() ||
		(known && now - fresh_cap_at < CD_OPTION_CHECK_US))
		return known ? fresh_cap : srv->max_inflight;
	if (!known)
	{
		fresh_cap_server = srv->serverid;
		fresh_cap = srv->max_inflight;
		fresh_cap_at = now;
		return fresh_cap;
	}
	tmp = AllocSetContextCreate(CurrentMemoryContext, "candidate_docs options",
								ALLOCSET_SMALL_SIZES);
	old = MemoryContextSwitchTo(tmp);
	AcceptInvalidationMessages();
	server = GetForeignServerExtended(srv->serverid, FSV_MISSING_OK);
	if (server)
	{
		ListCell   *lc;

		foreach(lc, server->options)
		{
			DefElem    *def = lfirst(lc);

			if (strcmp(def->defname, "max_inflight") == 0)
				cap = (int) strtol(defGetString(def), NULL, 10);
		}
		fresh_cap = Max(0, cap);
	}
	MemoryContextSwitchTo(old);
	MemoryContextDelete(tmp);
	fresh_cap_at = now;
	return fresh_cap;
}

/* The in-flight cap in force: the option's, or lower after an error. */
static int
entry_cap(const BudgetEntry *e, int cap, TimestampTz now)
{
	if (e->lowered_cap > 0 && now < e->lowered_until)
		cap = cap > 0 ? Min(cap, e->lowered_cap) : e->lowered_cap;
	return cap;
}

/*
 * Add the tokens earned since the last refill.  The bucket holds six
 * seconds' worth (a tenth of the minute), full at first, and refills at
 * the rest of the rate spread over the window, so that the burst plus the
 * window's refill is the rate: a short fan-out goes at once, a long one
 * evenly at nine tenths of the rate, never stopped short by the window.
 */
static double
refill_per_minute(int rpm)
{
	double		window_min = CD_WINDOW_SLOTS * (double) CD_WINDOW_SLOT_US /
		(60.0 * USECS_PER_SEC);

	return Max(rpm - Max(1.0, rpm / 10.0), rpm / 60.0) / window_min;
}

static void
entry_refill(BudgetEntry *e, int rpm, TimestampTz now)
{
	double		burst = Max(1.0, rpm / 10.0);
	double		per_s = refill_per_minute(rpm) / 60.0;

	if (e->refilled_at == 0)
		e->tokens = burst;
	else if (now > e->refilled_at)
		e->tokens += (double) (now - e->refilled_at) / USECS_PER_SEC * per_s;
	e->tokens = Min(e->tokens, burst);
	e->refilled_at = now;
}

/* Move the window to now's slot, dropping the slots that left it. */
static void
window_advance(BudgetEntry *e, TimestampTz now)
{
	int64		at = now / CD_WINDOW_SLOT_US;

	if (e->window_at == 0 || at - e->window_at >= CD_WINDOW_SLOTS)
		memset(e->window, 0, sizeof(e->window));
	else
		for (int64 s = e->window_at + 1; s <= at; s++)
			e->window[s % CD_WINDOW_SLOTS] = 0;
	e->window_at = Max(e->window_at, at);
}

/*
 * Milliseconds until the window admits one more request under rpm, 0 if
 * now: when the oldest slot that holds a request leaves it.
 */
static long
window_wait_ms(BudgetEntry *e, int rpm, TimestampTz now)
{
	int64		at;
	int64		sum = 0;

	window_advance(e, now);
	at = e->window_at;
	for (int i = 0; i < CD_WINDOW_SLOTS; i++)
		sum += e->window[i];
	if (sum < rpm)
		return 0;
	for (int64 s = at - CD_WINDOW_SLOTS + 1; s <= at; s++)
		if (e->window[s % CD_WINDOW_SLOTS] > 0)
			return ms_until((s + CD_WINDOW_SLOTS) * CD_WINDOW_SLOT_US, now);
	return CD_BUDGET_POLL_MS;
}

/* Milliseconds until a request may start on e, 0 if now.  Lock held. */
static long
entry_wait_ms(BudgetEntry *e, const CdServer *srv, int cap, TimestampTz now)
{
	int			rpm = srv->requests_per_minute;

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
	if (rpm > 0)
	{
		long		wait = window_wait_ms(e, rpm, now);

		if (wait > 0)
			return wait;
		entry_refill(e, rpm, now);
		if (e->tokens < 1.0)
			return Max(1, (long) ceil((1.0 - e->tokens) * 60000.0 /
									  refill_per_minute(rpm)));
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
 * This backend's ticket on entry slot, renewed; the stale tickets met on
 * the way are dropped.  NULL if this backend has none.  Lock held.
 */
static BudgetWaiter *
waiter_mine(int slot, TimestampTz now, bool *older)
{
	BudgetWaiter *mine = NULL;

	for (int i = 0; i < budget->nwaiters; i++)
	{
		BudgetWaiter *w = &budget->waiters[i];

		if (w->entry != slot)
			continue;
		if (w->pid == MyProcPid)
			mine = w;
		else if (w->seen + CD_TICKET_STALE_US < now)
			waiter_free(w);
	}
	*older = false;
	for (int i = 0; i < budget->nwaiters; i++)
	{
		BudgetWaiter *w = &budget->waiters[i];

		if (w->entry == slot && w != mine &&
			(mine == NULL || w->ticket < mine->ticket))
			*older = true;
	}
	if (mine)
		mine->seen = now;
	return mine;
}

/*
 * Take a ticket on entry slot.  With every waiter record taken, none: the
 * request then waits until no ticket is left.  Lock held.
 */
static void
waiter_take(int slot, TimestampTz now)
{
	for (int i = 0; i < budget->nwaiters; i++)
	{
		BudgetWaiter *w = &budget->waiters[i];

		if (w->entry >= 0)
			continue;
		w->entry = slot;
		w->pid = MyProcPid;
		w->ticket = budget->entries[slot].next_ticket++;
		w->seen = now;
		budget->entries[slot].waiters++;
		return;
	}
}

/*
 * The entry of req's key.  Every entry busy: the request fails (after
 * dropping the lock), it never goes out unbudgeted.
 */
static BudgetEntry *
entry_for(const CdRequest *req, TimestampTz now, int *slot)
{
	BudgetKey	key;

	request_key(req, &key);
	budget_lock(LW_EXCLUSIVE);
	*slot = entry_find(&key, now);
	if (*slot >= 0)
		return &budget->entries[*slot];
	budget_unlock();
	ereport(ERROR,
			(errcode(ERRCODE_CONFIGURATION_LIMIT_EXCEEDED),
			 errmsg("the request budget of candidate_docs has no free entry"),
			 errdetail("All %d entries hold requests of the last minute, in flight or waiting.",
					   budget->nentries),
			 errhint("Raise candidate_docs.budget_entries and restart the server.")));
	return NULL;				/* keep the compiler quiet */
}

/*
 * May req's next attempt start now?  If so it takes a slot (given back by
 * cd_budget_finish or cd_budget_release) and true is returned; otherwise
 * *wait_ms says when to ask again.  A request that does not spend the
 * budget always may.
 */
bool
cd_budget_acquire(CdRequest *req, long *wait_ms)
{
	TimestampTz now = GetCurrentTimestamp();
	const CdServer *srv = req->xfer->srv;
	BudgetEntry *e;
	BudgetWaiter *w;
	bool		older;
	int			slot;
	int			cap;
	long		wait;

	req->budget_slot = -1;
	req->started_at = now;
	req->budget_waited_us = 0;
	if (!request_budgeted(req))
		return true;
	budget_table();
	if (budget_in_shmem && !exit_callback_set)
	{
		on_shmem_exit(budget_exit, (Datum) 0);
		exit_callback_set = true;
	}
	cap = server_max_inflight(srv, now, req->budget_wait_since != 0);
	e = entry_for(req, now, &slot);
	e->last_used = now;
	w = waiter_mine(slot, now, &older);
	wait = older ? CD_BUDGET_POLL_MS : entry_wait_ms(e, srv, entry_cap(e, cap, now), now);
	if (wait > 0)
	{
		if (w == NULL)
			waiter_take(slot, now);
		budget_unlock();
		if (req->budget_wait_since == 0)
			req->budget_wait_since = now;
		*wait_ms = Min(wait, CD_BUDGET_POLL_MS * 10);
		return false;
	}
	if (w)
		waiter_free(w);
	e->inflight++;
	held[slot]++;
	if (srv->requests_per_minute > 0)
	{
		e->tokens -= 1.0;
		e->window[e->window_at % CD_WINDOW_SLOTS]++;
	}
	if (e->remaining > 0)
		e->remaining--;
	budget_unlock();
	if (req->budget_wait_since != 0)
		req->budget_waited_us = now - req->budget_wait_since;
	req->budget_wait_since = 0;
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
		cap = entry_cap(e, req->xfer->srv->max_inflight, now);
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
 * An attempt of req ended: give its slot back and learn from the
 * response.
 */
void
cd_budget_finish(CdRequest *req)
{
	const CdApi *api = req->xfer->srv->api;
	TimestampTz now;
	bool		concurrency = false;

	if (req->budget_slot < 0)
		return;
	now = GetCurrentTimestamp();
	if (req->status == 429 && api->concurrency_error_code)
	{
		char	   *code = cd_api_error_code(api, req->resp, req->resp_len);

		concurrency = code && strcmp(code, api->concurrency_error_code) == 0;
		free(code);
	}
	budget_lock(LW_EXCLUSIVE);
	entry_learn(&budget->entries[req->budget_slot], req, concurrency, now);
	entry_release(req);
	budget_unlock();
}

/*
 * Give back req's slot if it still holds one (an attempt stopped before
 * its end: cancel, error, cleanup), and this backend's tickets if req was
 * waiting, so that nobody waits behind a request that went away.  Never
 * throws.
 */
void
cd_budget_release(CdRequest *req)
{
	if (budget == NULL || (req->budget_slot < 0 && req->budget_wait_since == 0))
		return;
	budget_lock(LW_EXCLUSIVE);
	if (req->budget_slot >= 0)
		entry_release(req);
	if (req->budget_wait_since != 0)
		for (int i = 0; i < budget->nwaiters; i++)
			if (budget->waiters[i].entry >= 0 && budget->waiters[i].pid == MyProcPid)
				waiter_free(&budget->waiters[i]);
	req->budget_wait_since = 0;
	budget_unlock();
}
