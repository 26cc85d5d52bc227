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
 *-------------------------------------------------------------------------
 */
#include "candidate_docs.h"

#include "common/hashfn.h"
#include "utils/guc.h"
#include "utils/hsearch.h"
#include "utils/memutils.h"

#define CD_CACHE_KEY_LEN 1024

/* kB of page bodies a rescanned scan may keep; set in candidate_docs.c */
int			cd_rescan_cache_kb = 8192;

typedef struct CdStream
{
	CdListing  *listing;
	char	   *first_url;
	char	   *next_url;		/* page to request next, NULL at the end */
	CdRequest  *inflight;
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

typedef struct CacheEntry
{
	char		key[CD_CACHE_KEY_LEN];
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
	List	   *active;			/* started streams with pages to come */
	List	   *queue;			/* CdPage ready for the executor */
	int			inflight;
	dlist_head	live_pages;		/* every page holding a body and tokens */
	int			runs;
	bool		rescans_expected;	/* cache from the first run on */
	HTAB	   *cache;
	size_t		cache_bytes;
	List	   *skipped;		/* candidate ids answered 404 */
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

static void
cache_key(const CdStream *stream, char *key)
{
	snprintf(key, CD_CACHE_KEY_LEN, "%s\n%s", stream->first_url,
			 stream->listing->header_value ? stream->listing->header_value : "");
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
	char		key[CD_CACHE_KEY_LEN];
	CacheEntry *entry;

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

		ctl.keysize = CD_CACHE_KEY_LEN;
		ctl.entrysize = sizeof(CacheEntry);
		ctl.hcxt = fetch->cxt;
		fetch->cache = hash_create("candidate_docs rescan cache", 64, &ctl,
								   HASH_ELEM | HASH_STRINGS | HASH_CONTEXT);
	}
	cache_key(stream, key);
	entry = hash_search(fetch->cache, key, HASH_ENTER, NULL);
	entry->bodies = stream->bodies;
	fetch->cache_bytes += sizeof(CacheEntry);
	stream->bodies = NIL;
	stream->cacheable = false;
}

static void
stream_init(CdFetch *fetch, CdStream *stream, CdListing *listing)
{
	char		key[CD_CACHE_KEY_LEN];
	CacheEntry *entry = NULL;

	stream->listing = listing;
	stream->first_url = first_page_url(fetch, listing);
	stream->next_url = stream->first_url;
	stream->want_next = true;
	stream->cacheable = (fetch->runs > 1 || fetch->rescans_expected) &&
		strlen(stream->first_url) < CD_CACHE_KEY_LEN - 256;
	if (fetch->cache)
	{
		cache_key(stream, key);
		entry = hash_search(fetch->cache, key, HASH_FIND, NULL);
	}
	if (entry)
	{
		stream->replay = list_copy(entry->bodies);
		stream->next_url = NULL;
		stream->cacheable = false;
	}
}

/* Drop every page and request of the previous run. */
static void
fetch_abandon(CdFetch *fetch)
{
	ListCell   *lc;

	foreach(lc, fetch->active)
	{
		CdStream   *stream = lfirst(lc);

		if (stream->inflight)
			cd_transfer_release(fetch->xfer, stream->inflight);
		if (stream->bodies)
			stream_drop_bodies(fetch, stream);
	}
	foreach(lc, fetch->queue)
		cd_fetch_release(fetch, lfirst(lc));
	fetch->queue = NIL;
	fetch->active = NIL;
	fetch->inflight = 0;
	MemoryContextReset(fetch->run_cxt);
}

/*
 * Begin a run over listings (a List of CdListing, distinct).  Pages of
 * the previous run, if any, are dropped.
 */
void
cd_fetch_start(CdFetch *fetch, List *listings)
{
	MemoryContext old;
	ListCell   *lc;
	int			i = 0;

	fetch_abandon(fetch);
	fetch->runs++;
	old = MemoryContextSwitchTo(fetch->run_cxt);
	fetch->nstreams = list_length(listings);
	fetch->streams = palloc0(sizeof(CdStream) * Max(fetch->nstreams, 1));
	fetch->next_new = 0;
	foreach(lc, listings)
		stream_init(fetch, &fetch->streams[i++], lfirst(lc));
	MemoryContextSwitchTo(old);
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
	MemoryContext old = MemoryContextSwitchTo(fetch->cxt);
	CdRequest  *req = cd_request_new("GET", pstrdup(stream->next_url), true);

	MemoryContextSwitchTo(old);
	req->integration_id = stream->listing->header_value;
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
		stream->replay == NIL;
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
	MemoryContext old;

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

	old = MemoryContextSwitchTo(fetch->run_cxt);
	while (fetch->next_new < fetch->nstreams && fetch->inflight < limit &&
		   fetch->inflight + list_length(fetch->queue) < 2 * limit)
	{
		CdStream   *stream = &fetch->streams[fetch->next_new++];

		fetch->active = lappend(fetch->active, stream);
		stream->seen = list_make1(stream->first_url);
		stream->seen_hashes =
			list_make1_int((int) hash_bytes((const unsigned char *) stream->first_url,
											strlen(stream->first_url)));
		if (stream->replay)
			stream_replay(fetch, stream);
		else
			stream_request(fetch, stream);
	}
	MemoryContextSwitchTo(old);
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

/* Where the next page is: link (next_href or cursor) of the page at url. */
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
	if (next_url == NULL ||
		!cd_url_same_origin(fetch->srv->origin, fetch->srv->base_url, next_url))
		ereport(ERROR,
				(errcode(ERRCODE_FDW_ERROR),
				 errmsg("%s: refusing to follow a next-page link to another host",
						listing_what(fetch, stream)),
				 errdetail("The link \"%s\" does not have the scheme, host and port of base_url \"%s\".",
						   cd_url_redact(link), fetch->srv->base_url)));
	hash = hash_bytes((const unsigned char *) next_url, strlen(next_url));
	forboth(lc, stream->seen, lh, stream->seen_hashes)
		if ((uint32) lfirst_int(lh) == hash && strcmp(lfirst(lc), next_url) == 0)
			ereport(ERROR,
					(errcode(ERRCODE_FDW_ERROR),
					 errmsg("%s: the API returned the same page twice",
							listing_what(fetch, stream)),
					 errdetail("The next-page link \"%s\" was already followed.",
							   cd_url_redact(next_url))));
	stream->seen = lappend(stream->seen, next_url);
	stream->seen_hashes = lappend_int(stream->seen_hashes, (int) hash);
	stream->next_url = next_url;
	MemoryContextSwitchTo(old);
}

/* Send the API's warnings (Kombo "warnings") to the server log. */
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
				 url ? errcontext("GET %s", cd_url_redact(url)) : 0));
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

static void
note_skipped(CdFetch *fetch, CdStream *stream)
{
	MemoryContext old = MemoryContextSwitchTo(fetch->cxt);
	String	   *id = makeString(pstrdup(stream->listing->candidate_id));

	if (!list_member(fetch->skipped, id))
		fetch->skipped = lappend(fetch->skipped, id);
	MemoryContextSwitchTo(old);
}

/* A 404 that means the candidate is unknown (not, say, the integration). */
static bool
candidate_not_found(CdFetch *fetch, CdRequest *req)
{
	char	   *code;
	bool		fatal = false;

	if (req->curl_code != CURLE_OK || req->status != 404)
		return false;
	code = cd_api_error_code(fetch->api, req->resp, req->resp_len);
	for (int i = 0; code && fetch->api->fatal_404_codes[i]; i++)
		fatal |= (strcmp(code, fetch->api->fatal_404_codes[i]) == 0);
	free(code);
	return !fatal;
}

static void
handle_response(CdFetch *fetch, CdRequest *req)
{
	CdStream   *stream = req->owner;

	stream->inflight = NULL;
	fetch->inflight--;
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
	pfree(req->url);
	pfree(req);
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
		if (fetch->inflight == 0)
			return NULL;
		req = cd_transfer_next(fetch->xfer, true);
		if (req)
		{
			handle_response(fetch, req);
			fetch_schedule(fetch);
			cd_transfer_poll(fetch->xfer);
		}
	}
}
