/*-------------------------------------------------------------------------
 *
 * fetch.c
 *		  Listing pages of many candidates at once, as the executor reads.
 *
 * A scan's listings (one per candidate id, times each header-filter value)
 * are streams of pages.  Up to the transfer's concurrency requests are in
 * flight, first pages of different candidates side by side; pages are
 * handed to the executor in the order they arrive.  A stream asks for its
 * second page only once the executor has read half of its first, so
 * "LIMIT 5" over a long listing sends one request; from then on each page
 * is requested as soon as the one before it arrives, so that the network
 * works while the executor reads (one page ahead, never more).  Memory is
 * bounded by the pages in flight, one waiting page per stream, and a cap
 * on how many streams are started before their pages are read.
 *
 * Within a scan that is rescanned (the inner side of a nested loop), the
 * pages of complete listings are kept, up to candidate_docs.rescan_cache_size,
 * so an outer id seen before is answered from memory.
 *
 * A batched join's run (cd_fetch_start_ahead) holds the listings of many
 * outer rows, in the order the rows come.  The executor reads the listings
 * of one outer row at a time (cd_fetch_select); the first pages of the
 * next few rows' listings are requested meanwhile, and a response for a
 * listing not yet selected is parked as it arrived: it is parsed, and an
 * error raised or a warning noted, only when the executor comes to that
 * row, exactly as without the batch.  Later pages are requested as rows
 * are read, as in a plain run, so a LIMIT stops the requests as early.
 *
 *-------------------------------------------------------------------------
 */
#include "candidate_docs.h"

#include "common/hashfn.h"
#include "utils/guc.h"
#include "utils/hsearch.h"
#include "utils/memutils.h"

/* kB of page bodies a rescanned scan may keep; set in candidate_docs.c */
int			cd_rescan_cache_kb = 8192;

typedef struct CdStream
{
	CdListing  *listing;
	char	   *first_url;
	char	   *next_url;		/* page to request next, NULL at the end */
	CdRequest  *inflight;
	CdRequest  *parked;			/* a response for a listing not yet selected */
	bool		started;		/* ahead: its first page was asked for */
	bool		visited;		/* ahead: selected once; again means anew */
	List	   *seen;			/* URLs requested, for loop detection */
	List	   *seen_hashes;	/* their hashes, compared first */
	bool		streaming;		/* read past half a page: fetch ahead */
	int			ready;			/* pages handed out or queued, not released */
	bool		want_next;		/* executor is far enough: fetch next page */
	List	   *replay;			/* cached bodies still to hand out */
	List	   *bodies;			/* bodies kept for the cache */
	size_t		body_bytes;
	bool		cacheable;
} CdStream;

/*
 * Keyed by the whole first-page URL and header value (a palloc'd string in
 * the scan's context), compared whole: never cut, so two long keys cannot
 * collide.
 */
typedef struct CacheEntry
{
	char	   *key;
	List	   *bodies;			/* of String, in page order */
} CacheEntry;

struct CdFetch
{
	const CdServer *srv;
	const CdApi *api;
	MemoryContext cxt;			/* the scan's: pages, requests, cache */
	MemoryContext run_cxt;		/* streams of the current run */
	CdTransfer *xfer;
	CdStream   *streams;
	int			nstreams;
	int			next_new;		/* first stream not yet started */
	bool		ahead;			/* a batched join's run: streams by outer row */
	int			sel_lo;			/* ahead: the selected streams, [sel_lo, */
	int			sel_hi;			/* sel_hi) */
	int			ahead_max;		/* ahead: streams past sel_hi to start */
	List	   *active;			/* started streams with pages to come */
	List	   *queue;			/* CdPage ready for the executor */
	int			inflight;
	dlist_head	live_pages;		/* every page holding a body and tokens */
	int			runs;
	bool		rescans_expected;	/* cache from the first run on */
	HTAB	   *cache;
	size_t		cache_bytes;
	List	   *skipped;		/* candidate ids answered 404, in order */
	HTAB	   *skipped_set;	/* the same ids, to keep each once */
	MemoryContextCallback cleanup;
};

static void
fetch_cleanup(void *arg)
{
	CdFetch    *fetch = arg;
	dlist_mutable_iter iter;

	dlist_foreach_modify(iter, &fetch->live_pages)
	{
		CdPage	   *page = dlist_container(CdPage, node, iter.cur);

		cd_envelope_free(&page->env);
		free(page->body);
		page->body = NULL;
	}
	dlist_init(&fetch->live_pages);
}

/*
 * A fetcher for one scan; everything it holds is released with cxt.
 */
CdFetch *
cd_fetch_create(const CdServer *srv, const CdApi *api, MemoryContext cxt,
				bool rescans_expected)
{
	CdFetch    *fetch = MemoryContextAllocZero(cxt, sizeof(CdFetch));

	fetch->rescans_expected = rescans_expected;
	fetch->srv = srv;
	fetch->api = api;
	fetch->cxt = cxt;
	fetch->run_cxt = AllocSetContextCreate(cxt, "candidate_docs run",
										   ALLOCSET_DEFAULT_SIZES);
	fetch->xfer = cd_transfer_create(srv, cxt);
	dlist_init(&fetch->live_pages);
	fetch->cleanup.func = fetch_cleanup;
	fetch->cleanup.arg = fetch;
	MemoryContextRegisterResetCallback(cxt, &fetch->cleanup);
	return fetch;
}

CdTransfer *
cd_fetch_transfer(CdFetch *fetch)
{
	return fetch->xfer;
}

CdStats *
cd_fetch_stats(CdFetch *fetch)
{
	return &fetch->xfer->stats;
}

List *
cd_fetch_skipped(CdFetch *fetch)
{
	return fetch->skipped;
}

/* The URL of a listing's first page. */
static char *
first_page_url(const CdFetch *fetch, const CdListing *listing)
{
	StringInfoData buf;
	ListCell   *lc;
	const CdFilter *query_filter = NULL;

	for (int f = 0; f < fetch->api->nfilters; f++)
		if (fetch->api->filters[f].kind == CD_FILTER_QUERY_LIST)
			query_filter = &fetch->api->filters[f];

	initStringInfo(&buf);
	appendStringInfoString(&buf, cd_url_expand(fetch->srv->base_url,
											   fetch->api->list_path,
											   listing->candidate_id));
	if (fetch->api->page_size_param)
		appendStringInfo(&buf, "?%s=%d", fetch->api->page_size_param,
						 fetch->srv->page_size);
	foreach(lc, listing->query_values)
		appendStringInfo(&buf, "%c%s=%s", strchr(buf.data, '?') ? '&' : '?',
						 cd_url_escape(query_filter->param),
						 cd_url_escape(strVal(lfirst(lc))));
	return buf.data;
}

/* The cache key of a stream's listing, palloc'd in the current context. */
static char *
cache_key(const CdStream *stream)
{
	return psprintf("%s\n%s", stream->first_url,
					stream->listing->header_value ? stream->listing->header_value : "");
}

static uint32
cache_key_hash(const void *key, Size keysize)
{
	const char *s = *(const char *const *) key;

	return hash_bytes((const unsigned char *) s, strlen(s));
}

static int
cache_key_match(const void *key1, const void *key2, Size keysize)
{
	return strcmp(*(const char *const *) key1, *(const char *const *) key2);
}

/* Forget a stream's collected bodies (too large, or not complete). */
static void
stream_drop_bodies(CdFetch *fetch, CdStream *stream)
{
	fetch->cache_bytes -= stream->body_bytes;
	list_free_deep(stream->bodies);
	stream->bodies = NIL;
	stream->body_bytes = 0;
	stream->cacheable = false;
}

/* Keep a page body while the listing is read, within the cache's budget. */
static void
stream_keep_body(CdFetch *fetch, CdStream *stream, const char *body, size_t len)
{
	MemoryContext old;

	if (!stream->cacheable)
		return;
	if (fetch->cache_bytes + len > (size_t) cd_rescan_cache_kb * 1024)
	{
		stream_drop_bodies(fetch, stream);
		return;
	}
	old = MemoryContextSwitchTo(fetch->cxt);
	stream->bodies = lappend(stream->bodies, pnstrdup(body, len));
	MemoryContextSwitchTo(old);
	stream->body_bytes += len;
	fetch->cache_bytes += len;
}

/* The listing is complete: its bodies become a cache entry. */
static void
stream_commit_cache(CdFetch *fetch, CdStream *stream)
{
	MemoryContext old;
	char	   *key;
	CacheEntry *entry;
	bool		found;

	if (!stream->cacheable)
		return;
	/* an entry's key counts against the budget too */
	if (fetch->cache_bytes + sizeof(CacheEntry) > (size_t) cd_rescan_cache_kb * 1024)
	{
		stream_drop_bodies(fetch, stream);
		return;
	}
	if (fetch->cache == NULL)
	{
		HASHCTL		ctl;

		ctl.keysize = sizeof(char *);
		ctl.entrysize = sizeof(CacheEntry);
		ctl.hash = cache_key_hash;
		ctl.match = cache_key_match;
		ctl.hcxt = fetch->cxt;
		fetch->cache = hash_create("candidate_docs rescan cache", 64, &ctl,
								   HASH_ELEM | HASH_FUNCTION | HASH_COMPARE |
								   HASH_CONTEXT);
	}
	old = MemoryContextSwitchTo(fetch->cxt);
	key = cache_key(stream);
	MemoryContextSwitchTo(old);
	entry = hash_search(fetch->cache, &key, HASH_ENTER, &found);
	if (found)
	{
		/* kept by an earlier run already */
		pfree(key);
		stream_drop_bodies(fetch, stream);
		return;
	}
	entry->bodies = stream->bodies;
	fetch->cache_bytes += sizeof(CacheEntry);
	stream->bodies = NIL;
	stream->cacheable = false;
}

/* A copy of the caller's listing, in the current (run) context. */
static CdListing *
listing_copy(const CdListing *listing)
{
	CdListing  *copy = palloc0(sizeof(CdListing));
	ListCell   *lc;

	copy->candidate_id = pstrdup(listing->candidate_id);
	if (listing->header_value)
		copy->header_value = pstrdup(listing->header_value);
	foreach(lc, listing->query_values)
		copy->query_values = lappend(copy->query_values,
									 makeString(pstrdup(strVal(lfirst(lc)))));
	return copy;
}

/* Read the stream's listing from the rescan cache, if it is there. */
static void
stream_use_cache(CdFetch *fetch, CdStream *stream)
{
	CacheEntry *entry = NULL;

	if (fetch->cache)
	{
		char	   *key = cache_key(stream);

		entry = hash_search(fetch->cache, &key, HASH_FIND, NULL);
		pfree(key);
	}
	if (entry)
	{
		stream->replay = list_copy(entry->bodies);
		stream->next_url = NULL;
		stream->cacheable = false;
	}
}

static void
stream_init(CdFetch *fetch, CdStream *stream, CdListing *listing)
{

	stream->listing = listing_copy(listing);
	stream->first_url = first_page_url(fetch, listing);
	stream->next_url = stream->first_url;
	stream->want_next = true;
	stream->cacheable = (fetch->runs > 1 || fetch->rescans_expected);
	stream_use_cache(fetch, stream);
}

/*
 * Drop every page and request of the previous run.  What lives in the
 * scan's context (requests, pages, the queue) is freed one by one, so
 * that memory stays flat however often a scan is rescanned.
 */
static void
fetch_abandon(CdFetch *fetch)
{
	ListCell   *lc;

	for (int i = 0; i < fetch->nstreams; i++)
	{
		CdStream   *stream = &fetch->streams[i];

		if (stream->inflight)
			cd_transfer_release(fetch->xfer, stream->inflight);
		if (stream->parked)
			cd_transfer_release(fetch->xfer, stream->parked);
		if (stream->bodies)
			stream_drop_bodies(fetch, stream);
	}
	fetch->nstreams = 0;
	foreach(lc, fetch->queue)
		cd_fetch_release(fetch, lfirst(lc));
	list_free(fetch->queue);		/* in fetch->cxt, which lives on */
	fetch->queue = NIL;
	fetch->active = NIL;
	fetch->inflight = 0;
	MemoryContextReset(fetch->run_cxt);
}

/* Does every request of api need a header-filter value? */
static bool
requires_header(const CdApi *api)
{
	for (int f = 0; f < api->nfilters; f++)
		if (api->filters[f].kind == CD_FILTER_HEADER && api->filters[f].required)
			return true;
	return false;
}

/*
 * Begin a run over listings (a List of CdListing, distinct), which are
 * copied: the caller may free them at once.  A listing whose header value
 * is empty (Kombo integration_id = '') matches nothing and sends nothing:
 * a header cannot be sent empty (in a batch's run its stream stays, with
 * nothing to fetch, so that streams keep the listings' places).  Pages of
 * the previous run, if any, are dropped.
 */
static void
run_begin(CdFetch *fetch, List *listings, bool ahead)
{
	MemoryContext old;
	ListCell   *lc;
	int			i = 0;

	fetch_abandon(fetch);
	fetch->runs++;
	fetch->ahead = ahead;
	fetch->sel_lo = fetch->sel_hi = 0;
	old = MemoryContextSwitchTo(fetch->run_cxt);
	fetch->streams = palloc0(sizeof(CdStream) * Max(list_length(listings), 1));
	fetch->next_new = 0;
	foreach(lc, listings)
	{
		CdListing  *listing = lfirst(lc);
		bool		empty = listing->header_value && listing->header_value[0] == '\0';

		/* no object comes through an empty header value: no request */
		if (empty && !ahead)
			continue;
		if (listing->header_value == NULL && requires_header(fetch->api))
			elog(ERROR, "listing of candidate \"%s\" lacks a required header value",
				 listing->candidate_id);
		stream_init(fetch, &fetch->streams[i], listing);
		if (empty)
		{
			fetch->streams[i].next_url = NULL;
			fetch->streams[i].replay = NIL;
		}
		i++;
	}
	fetch->nstreams = i;
	MemoryContextSwitchTo(old);
}

void
cd_fetch_start(CdFetch *fetch, List *listings)
{
	run_begin(fetch, listings, false);
}

/*
 * Begin a batched join's run over listings, in the order their outer rows
 * come; nothing is sent before cd_fetch_select.
 */
void
cd_fetch_start_ahead(CdFetch *fetch, List *listings)
{
	run_begin(fetch, listings, true);
}

/* A page that owns body (malloc'd, or NULL for a cached one). */
static CdPage *
page_create(CdFetch *fetch, CdStream *stream, char *body)
{
	CdPage	   *page = MemoryContextAllocZero(fetch->cxt, sizeof(CdPage));

	page->stream = stream;
	page->listing = stream->listing;
	page->body = body;
	dlist_push_tail(&fetch->live_pages, &page->node);
	return page;
}

/*
 * Give a page back: its JSON is freed, and its stream may go on.
 */
void
cd_fetch_release(CdFetch *fetch, CdPage *page)
{
	dlist_delete(&page->node);
	cd_envelope_free(&page->env);
	free(page->body);
	if (page->stream)
	{
		page->stream->ready--;
		page->stream->want_next = true;
	}
	pfree(page);
}

static void
stream_request(CdFetch *fetch, CdStream *stream)
{
	CdRequest  *req = cd_request_new(fetch->xfer, "GET", stream->next_url, true);

	cd_request_set_integration_id(req, stream->listing->header_value);
	req->owner = stream;
	stream->inflight = req;
	stream->want_next = false;
	fetch->inflight++;
	cd_transfer_add(fetch->xfer, req);
}

static void handle_body(CdFetch *fetch, CdStream *stream, char *owned,
						const char *body, size_t len, const char *url);

/* Hand out the next cached page of a listing seen earlier in this scan. */
static void
stream_replay(CdFetch *fetch, CdStream *stream)
{
	char	   *body = linitial(stream->replay);

	stream->replay = list_delete_first(stream->replay);
	stream->want_next = false;
	handle_body(fetch, stream, NULL, body, strlen(body), NULL);
}

static bool
stream_finished(CdStream *stream)
{
	return stream->next_url == NULL && stream->inflight == NULL &&
		stream->parked == NULL && stream->replay == NIL;
}

/* Start a stream: its first page, or its first page from the cache. */
static void
stream_begin(CdFetch *fetch, CdStream *stream)
{
	MemoryContext old = MemoryContextSwitchTo(fetch->run_cxt);

	fetch->active = lappend(fetch->active, stream);
	stream->started = true;
	stream->seen = list_make1(stream->first_url);
	stream->seen_hashes =
		list_make1_int((int) hash_bytes((const unsigned char *) stream->first_url,
										strlen(stream->first_url)));
	if (stream->replay)
		stream_replay(fetch, stream);
	else if (stream->next_url)
		stream_request(fetch, stream);
	MemoryContextSwitchTo(old);
}

/*
 * A batch's run: the selected streams first, then the first pages of the
 * next ahead_max streams (from the cache only once selected: a replay
 * costs nothing to wait for).
 */
static void
ahead_schedule(CdFetch *fetch)
{
	int			limit = fetch->xfer->concurrency;
	int			end = Min(fetch->nstreams,
						  fetch->sel_hi + Min(fetch->ahead_max, limit));

	for (int i = fetch->sel_lo; i < end && fetch->inflight < limit; i++)
	{
		CdStream   *stream = &fetch->streams[i];

		if (!stream->started && (i < fetch->sel_hi || stream->replay == NIL))
			stream_begin(fetch, stream);
	}
}

/*
 * Start what may start: next pages of started streams first (they keep
 * rows flowing), then first pages of new streams while few pages wait.
 */
static void
fetch_schedule(CdFetch *fetch)
{
	int			limit = fetch->xfer->concurrency;
	ListCell   *lc;

	foreach(lc, fetch->active)
	{
		CdStream   *stream = lfirst(lc);

		if (stream_finished(stream))
			fetch->active = foreach_delete_current(fetch->active, lc);
		else if (stream->want_next && stream->ready <= 1 && stream->replay)
			stream_replay(fetch, stream);
		else if (stream->want_next && stream->ready <= 1 && stream->next_url &&
				 stream->inflight == NULL && fetch->inflight < limit)
			stream_request(fetch, stream);
	}
	if (fetch->ahead)
	{
		ahead_schedule(fetch);
		return;
	}
	while (fetch->next_new < fetch->nstreams && fetch->inflight < limit &&
		   fetch->inflight + list_length(fetch->queue) < 2 * limit)
		stream_begin(fetch, &fetch->streams[fetch->next_new++]);
}

/*
 * The executor took a row of page: past half of it, the next page may be
 * requested, so that it arrives while the rest is read.
 */
void
cd_fetch_row_consumed(CdFetch *fetch, CdPage *page)
{
	CdStream   *stream = page->stream;

	if (page->next * 2 < page->env.nrows || stream->inflight || stream->ready > 1 ||
		(stream->next_url == NULL && stream->replay == NIL))
		return;
	stream->want_next = true;
	stream->streaming = true;
	fetch_schedule(fetch);
	cd_transfer_poll(fetch->xfer);
}

static const char *
listing_what(CdFetch *fetch, CdStream *stream)
{
	return psprintf("could not list %ss of candidate \"%s\"",
					fetch->api->object_noun, stream->listing->candidate_id);
}

/*
 * Where the next page is: link (next_href or cursor) of the page at url.
 * A next_href on base_url's host is requested on base_url's scheme and
 * port (Checkr's own payloads say http:// for https requests), so the
 * credentials never travel over plain http off loopback; another host is
 * an error, and so is a page seen twice.
 */
static void
stream_set_next(CdFetch *fetch, CdStream *stream, const char *link, const char *url)
{
	char	   *next_url;
	MemoryContext old;
	ListCell   *lc;
	ListCell   *lh;
	uint32		hash;

	stream->next_url = NULL;
	if (link == NULL)
		return;

	old = MemoryContextSwitchTo(fetch->run_cxt);
	if (fetch->api->paging == CD_PAGING_NEXT_HREF)
		next_url = cd_url_resolve(url, link);
	else
		next_url = psprintf("%s%c%s=%s", stream->first_url,
							strchr(stream->first_url, '?') ? '&' : '?',
							fetch->api->cursor_param, cd_url_escape(link));
	/* on base_url's host, but another scheme or port: base_url's own */
	if (next_url != NULL &&
		!cd_url_same_origin(fetch->srv->origin, fetch->srv->base_url, next_url))
		next_url = cd_url_rebase(fetch->srv->base_url, next_url);
	if (next_url == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_FDW_ERROR),
				 errmsg("%s: refusing to follow a next-page link to another host",
						listing_what(fetch, stream)),
				 errdetail("The link \"%s\" is not on the host of base_url \"%s\".",
						   cd_url_redact(link), fetch->srv->base_url)));
	hash = hash_bytes((const unsigned char *) next_url, strlen(next_url));
	forboth(lc, stream->seen, lh, stream->seen_hashes)
		if ((uint32) lfirst_int(lh) == hash && strcmp(lfirst(lc), next_url) == 0)
			ereport(ERROR,
					(errcode(ERRCODE_FDW_ERROR),
					 errmsg("%s: the API returned the same page twice",
							listing_what(fetch, stream)),
					 errdetail("The next-page link \"%s\" was already followed.",
							   cd_url_printable(fetch->srv->base_url, next_url))));
	stream->seen = lappend(stream->seen, next_url);
	stream->seen_hashes = lappend_int(stream->seen_hashes, (int) hash);
	stream->next_url = next_url;
	MemoryContextSwitchTo(old);
}

/* Send the API's warnings (Kombo "warnings") to the server log, key masked. */
static void
log_warnings(CdFetch *fetch, CdStream *stream, const CdJsonDoc *doc, int warnings)
{
	int			t;

	if (warnings < 0)
		return;
	t = warnings + 1;
	for (uint32 i = 0; i < doc->toks[warnings].size; i++)
	{
		char	   *msg = cd_json_strdup(doc, cd_json_get(doc, t, "message"));

		if (msg)
			cd_secret_mask(fetch->srv->api_key, msg, strlen(msg));
		ereport(LOG,
				(errmsg("%s API warning for candidate \"%s\": %s",
						fetch->api->name, stream->listing->candidate_id,
						msg ? msg : "(no message)"),
				 errhidestmt(true)));
		free(msg);
		t = doc->toks[t].next;
	}
}

/*
 * A page arrived from url, or was replayed from the cache (url NULL).
 * owned is the malloc'd body, which the page takes over, or NULL.
 */
static void
handle_body(CdFetch *fetch, CdStream *stream, char *owned, const char *body,
			size_t len, const char *url)
{
	CdPage	   *page = page_create(fetch, stream, owned);
	char		msg[256];
	MemoryContext old;

	stream->ready++;
	if (cd_envelope_parse(fetch->api, body, len, &page->env, msg, sizeof(msg)) != CD_ENV_OK)
		ereport(ERROR,
				(errcode(ERRCODE_FDW_INVALID_DATA_TYPE),
				 errmsg("%s: unexpected response", listing_what(fetch, stream)),
				 errdetail_internal("%zu bytes: %s.", len, msg),
				 url ? errcontext("GET %s", cd_url_printable(fetch->srv->base_url, url)) : 0));
	if (url)
	{
		stream_set_next(fetch, stream, page->env.next, url);
		log_warnings(fetch, stream, &page->env.doc, page->env.warnings);
		stream_keep_body(fetch, stream, body, len);
		if (stream->next_url == NULL)
			stream_commit_cache(fetch, stream);
	}
	if (page->env.nrows == 0)
	{
		cd_fetch_release(fetch, page);
		return;
	}
	if (stream->streaming)
		stream->want_next = true;	/* the reader is past page 1: keep one ahead */
	old = MemoryContextSwitchTo(fetch->cxt);
	fetch->queue = lappend(fetch->queue, page);
	MemoryContextSwitchTo(old);
}

/*
 * Remember a candidate the API did not know, once however many listings
 * (integrations, rescans) asked for it: a hash set, so that n ids cost
 * O(n), not O(n^2).
 */
static void
note_skipped(CdFetch *fetch, CdStream *stream)
{
	MemoryContext old = MemoryContextSwitchTo(fetch->cxt);
	char	   *id = stream->listing->candidate_id;
	char	  **entry;
	bool		found;

	if (fetch->skipped_set == NULL)
	{
		HASHCTL		ctl;

		ctl.keysize = sizeof(char *);
		ctl.entrysize = sizeof(char *);
		ctl.hash = cache_key_hash;
		ctl.match = cache_key_match;
		ctl.hcxt = fetch->cxt;
		fetch->skipped_set = hash_create("candidate_docs skipped ids", 64, &ctl,
										 HASH_ELEM | HASH_FUNCTION |
										 HASH_COMPARE | HASH_CONTEXT);
	}
	entry = hash_search(fetch->skipped_set, &id, HASH_ENTER, &found);
	if (!found)
	{
		*entry = pstrdup(id);
		fetch->skipped = lappend(fetch->skipped, makeString(*entry));
	}
	MemoryContextSwitchTo(old);
}

/*
 * A 404 that means the candidate is unknown: the API's own error body
 * (not a web server's page for a path that is no endpoint), without a
 * code that names something else (the integration, say).
 */
static bool
candidate_not_found(CdFetch *fetch, CdRequest *req)
{
	StringInfoData words;
	char	   *code;
	bool		fatal = false;

	if (req->curl_code != CURLE_OK || req->status != 404)
		return false;
	initStringInfo(&words);
	if (!cd_api_error_body(fetch->api, req->resp, req->resp_len, &words))
		return false;
	code = cd_api_error_code(fetch->api, req->resp, req->resp_len);
	for (int i = 0; code && fetch->api->fatal_404_codes[i]; i++)
		fatal |= (strcmp(code, fetch->api->fatal_404_codes[i]) == 0);
	free(code);
	return !fatal;
}

static void
process_response(CdFetch *fetch, CdRequest *req)
{
	CdStream   *stream = req->owner;

	fetch->xfer->stats.pages += cd_request_ok(req);
	if (cd_request_ok(req))
	{
		char	   *body = req->resp;

		req->resp = NULL;		/* the page owns it now */
		handle_body(fetch, stream, body, body, req->resp_len, req->url);
	}
	else if (candidate_not_found(fetch, req))
	{
		note_skipped(fetch, stream);
		stream->next_url = NULL;
		if (stream->bodies)
			stream_drop_bodies(fetch, stream);
	}
	else
		cd_request_error(fetch->xfer, req, listing_what(fetch, stream));
	cd_transfer_release(fetch->xfer, req);
}

/* Is stream one the executor reads now? */
static bool
stream_selected(const CdFetch *fetch, const CdStream *stream)
{
	int			i = stream - fetch->streams;

	return !fetch->ahead || (i >= fetch->sel_lo && i < fetch->sel_hi);
}

/*
 * A response arrived: read it, or park it until its listing is selected
 * (its pages, errors and warnings belong to an outer row not reached yet).
 */
static void
handle_response(CdFetch *fetch, CdRequest *req)
{
	CdStream   *stream = req->owner;

	stream->inflight = NULL;
	fetch->inflight--;
	if (stream_selected(fetch, stream))
		process_response(fetch, req);
	else
		stream->parked = req;
}

/*
 * Forget what a stream of a batch's run holds or waits for: its request,
 * parked response and queued pages (a page the executor holds stays until
 * it is released).  It can begin again from its first page.
 */
static void
stream_abandon(CdFetch *fetch, CdStream *stream)
{
	ListCell   *lc;

	if (stream->inflight)
	{
		cd_transfer_release(fetch->xfer, stream->inflight);
		fetch->inflight--;
	}
	if (stream->parked)
		cd_transfer_release(fetch->xfer, stream->parked);
	stream->inflight = stream->parked = NULL;
	foreach(lc, fetch->queue)
		if (((CdPage *) lfirst(lc))->stream == stream)
		{
			cd_fetch_release(fetch, lfirst(lc));
			fetch->queue = foreach_delete_current(fetch->queue, lc);
		}
	if (stream->bodies)
		stream_drop_bodies(fetch, stream);
	/* the URLs followed, but the first, are the run's to free */
	for (int i = 1; i < list_length(stream->seen); i++)
		pfree(list_nth(stream->seen, i));
	list_free(stream->seen);
	list_free(stream->seen_hashes);
	stream->seen = stream->seen_hashes = NIL;
	list_free(stream->replay);
	stream->replay = NIL;
	stream->next_url = NULL;	/* finished: off the active list */
	stream->started = false;
}

/* Make a visited stream of a batch's run new again, as a rescan would. */
static void
stream_restart(CdFetch *fetch, CdStream *stream)
{
	CdListing  *listing = stream->listing;
	char	   *first_url = stream->first_url;
	bool		empty = listing->header_value && listing->header_value[0] == '\0';
	MemoryContext old = MemoryContextSwitchTo(fetch->run_cxt);

	stream_abandon(fetch, stream);
	fetch->active = list_delete_ptr(fetch->active, stream);
	memset(stream, 0, sizeof(CdStream));
	stream->listing = listing;
	stream->first_url = first_url;
	stream->next_url = empty ? NULL : first_url;
	stream->want_next = true;
	stream->cacheable = true;
	stream->visited = true;
	if (!empty)
		stream_use_cache(fetch, stream);
	MemoryContextSwitchTo(old);
}

/*
 * The executor now reads streams lo to hi - 1 of a batch's run (the
 * listings of one outer row; lo == hi for a row without any), and the
 * first pages of up to ahead_max streams after them may be fetched.
 * Streams before, and those selected until now, are dropped; a stream
 * selected before starts over (from the rescan cache if it is complete
 * there).  A parked response of a selected stream is read now: its error
 * is raised, its warning noted, as the plain nested loop would.
 */
void
cd_fetch_select(CdFetch *fetch, int lo, int hi, int ahead_max)
{
	Assert(fetch->ahead && lo >= 0 && lo <= hi && hi <= fetch->nstreams);
	for (int i = 0; i < Max(fetch->sel_hi, lo); i++)
		if (fetch->streams[i].started && (i < lo || i >= hi))
			stream_abandon(fetch, &fetch->streams[i]);
	fetch->sel_lo = lo;
	fetch->sel_hi = hi;
	fetch->ahead_max = Max(ahead_max, 0);
	for (int i = lo; i < hi; i++)
	{
		CdStream   *stream = &fetch->streams[i];

		if (stream->visited)
			stream_restart(fetch, stream);
		stream->visited = true;
	}
	for (int i = lo; i < hi; i++)
	{
		CdStream   *stream = &fetch->streams[i];
		CdRequest  *req = stream->parked;

		if (req == NULL)
			continue;
		stream->parked = NULL;
		process_response(fetch, req);
	}
	fetch_schedule(fetch);
	cd_transfer_poll(fetch->xfer);
}

/* The first of the selected streams. */
int
cd_fetch_selected_begin(CdFetch *fetch)
{
	return fetch->sel_lo;
}

/*
 * A batch's run: the response parked for stream i, a listing of an outer
 * row not reached yet, if it is a page (NULL if it failed or has nothing
 * to read: the error comes when the row is reached).  *arrived is false
 * while stream i has no answer yet.  The response stays the fetcher's.
 */
const CdRequest *
cd_fetch_parked(CdFetch *fetch, int i, bool *arrived)
{
	CdStream   *stream;

	*arrived = false;
	if (!fetch->ahead || i < fetch->sel_hi || i >= fetch->nstreams)
		return NULL;
	stream = &fetch->streams[i];
	*arrived = stream->started && stream->inflight == NULL;
	return stream->parked && cd_request_ok(stream->parked) ? stream->parked : NULL;
}

/* The end of the selected streams: where a row without listings stands. */
int
cd_fetch_selected_end(CdFetch *fetch)
{
	return fetch->sel_hi;
}

/* Does the executor's run have pages to come? */
static bool
run_pending(CdFetch *fetch)
{
	if (!fetch->ahead)
		return fetch->inflight > 0;
	for (int i = fetch->sel_lo; i < fetch->sel_hi; i++)
		if (!stream_finished(&fetch->streams[i]))
			return true;
	return false;
}

/*
 * The next page with rows, in arrival order, or NULL when every listing
 * of the run is read.  Waits (answering interrupts) while requests are in
 * flight.  The caller gives the page back with cd_fetch_release.
 */
CdPage *
cd_fetch_next_page(CdFetch *fetch)
{
	for (;;)
	{
		CdRequest  *req;

		if (fetch->queue != NIL)
		{
			CdPage	   *page = linitial(fetch->queue);

			fetch->queue = list_delete_first(fetch->queue);
			return page;
		}
		fetch_schedule(fetch);
		if (fetch->queue != NIL)
			continue;
		if (!run_pending(fetch))
			return NULL;
		req = cd_transfer_next(fetch->xfer, true);
		if (req == NULL)
			elog(ERROR, "candidate_docs: a listing waits for a page never requested");
		if (req)
		{
			handle_response(fetch, req);
			fetch_schedule(fetch);
			cd_transfer_poll(fetch->xfer);
		}
	}
}
