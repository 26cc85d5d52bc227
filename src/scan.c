/*-------------------------------------------------------------------------
 *
 * scan.c
 *		  The executor side of SELECT on candidate_docs foreign tables.
 *
 * At the first fetch after Begin or ReScan, the candidate id expression
 * and the pushed filters are evaluated (they may hold parameters from the
 * outer side of a nested loop) into listings: one per distinct non-NULL
 * candidate id, times each header-filter value.  fetch.c turns them into
 * pages; this file turns rows of pages into tuples.
 *
 *-------------------------------------------------------------------------
 */
#include "candidate_docs.h"

#include "access/htup_details.h"
#include "catalog/pg_type.h"
#include "executor/executor.h"
#include "nodes/makefuncs.h"
#include "miscadmin.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "utils/ruleutils.h"
#include "access/sysattr.h"
#include "access/htup_details.h"

typedef struct CdScanState
{
	CdServer   *srv;
	const CdApi *api;
	CdRowMap   *map;
	CdFetch    *fetch;
	CdPage	   *page;			/* page being read, or NULL */
	MemoryContext cxt;			/* everything of the scan */
	MemoryContext run_cxt;		/* listings of the current run */
	ExprState  *key_expr;
	bool		key_is_list;
	int			nfilters;
	int			filter_index[CD_MAX_FILTERS];
	bool		filter_is_list[CD_MAX_FILTERS];
	ExprState  *filter_expr[CD_MAX_FILTERS];
	bool		wants_content;
	bool		materialize;	/* the query reads xmin, cmin, xmax or cmax */
	int			content_attidx; /* the content column, if wanted */
	int64		not_downloaded; /* rows removed before their download */
	int			obj;			/* the current row's object in st->page */
	bool		started;
	char	   *relname;
	CdDownloads *downloads;		/* rows waiting for their files */
	bool		run_done;		/* every row of the run is in the window */
	CdFeed	   *feed;			/* listings of the outer batch, or NULL */
	ExprState  *before_download;	/* conditions checked before a download */
	List	   *ahead;			/* CdAhead: files of next outer rows */
	int			ahead_place;	/* next listing of the batch to look at */
	int64		ahead_loads;	/* the batch the places are of */
} CdScanState;

/*
 * In a batched join reading content without conditions before the
 * download, a file of an outer row not reached yet whose download has
 * started (from the first page of its listing, parked in the fetcher).
 */
typedef struct CdAhead
{
	int			place;			/* the listing's place in the batch's run */
	char	   *url;
	CdRequest  *req;
} CdAhead;

static void ahead_drop(CdScanState *st, int place);

/*
 * The user columns the query reads; *all if it reads the whole row.
 * System columns need nothing from the API: tableoid and ctid live in the
 * slot, the others in a tuple header, which *materialize asks for.
 */
static Bitmapset *
needed_attrs(List *needed, bool *all, bool *materialize)
{
	Bitmapset  *attrs = NULL;
	ListCell   *lc;

	*all = false;
	*materialize = false;
	foreach(lc, needed)
	{
		int			attno = intVal(lfirst(lc));

		if (attno > 0)
			attrs = bms_add_member(attrs, attno);
		else if (attno == 0)
			*all = true;
		else if (attno != TableOidAttributeNumber &&
				 attno != SelfItemPointerAttributeNumber)
			*materialize = true;
	}
	return attrs;
}

/* The index of the content column (the query reads it). */
static int
content_column(const CdRowMap *map)
{
	for (int i = 0; i < map->natts; i++)
		if (map->cols[i].kind == CD_COL_CONTENT)
			return i;
	return -1;
}

/*
 * BeginForeignScan: options, the row map and the fetcher; nothing is sent
 * before the first row is asked for.
 */
void
cdBeginForeignScan(ForeignScanState *node, int eflags)
{
	ForeignScan *plan = (ForeignScan *) node->ss.ps.plan;
	Relation	rel = node->ss.ss_currentRelation;
	List	   *priv = plan->fdw_private;
	CdScanState *st = palloc0(sizeof(CdScanState));
	ListCell   *lc;
	int			i = 0;
	Bitmapset  *needed;
	bool		all;
	bool		materialize;

	node->fdw_state = st;
	if (eflags & EXEC_FLAG_EXPLAIN_ONLY)
		return;

	st->cxt = AllocSetContextCreate(node->ss.ps.state->es_query_cxt,
									"candidate_docs scan", ALLOCSET_DEFAULT_SIZES);
	st->run_cxt = AllocSetContextCreate(st->cxt, "candidate_docs listings",
										ALLOCSET_SMALL_SIZES);
	st->relname = pstrdup(RelationGetRelationName(rel));
	st->srv = cd_server_for_table(RelationGetRelid(rel), cd_scan_user(node));
	st->api = cd_table_api(RelationGetRelid(rel));
	needed = needed_attrs(list_nth(priv, CD_PRIV_NEEDED), &all, &materialize);
	st->map = cd_rowmap_create(rel, st->api, needed, all);
	st->wants_content = cd_rowmap_uses(st->map, CD_COL_CONTENT);
	st->materialize = materialize;
	st->key_is_list = intVal(list_nth(priv, CD_PRIV_KEY_IS_LIST));
	st->key_expr = ExecInitExpr(linitial(plan->fdw_exprs), &node->ss.ps);
	foreach(lc, (List *) list_nth(priv, CD_PRIV_FILTERS))
	{
		st->filter_index[i] = intVal(lfirst(lc));
		st->filter_is_list[i] = intVal(list_nth(list_nth(priv, CD_PRIV_FILTER_IS_LIST), i));
		st->filter_expr[i] = ExecInitExpr(list_nth(plan->fdw_exprs, i + 1),
										  &node->ss.ps);
		i++;
	}
	st->nfilters = i;
	st->fetch = cd_fetch_create(st->srv, st->api, st->cxt,
								intVal(list_nth(priv, CD_PRIV_PARAMETERIZED)));
	if (st->wants_content)
	{
		st->content_attidx = content_column(st->map);
		st->downloads = cd_downloads_create(cd_fetch_transfer(st->fetch),
											RelationGetDescr(rel),
											st->content_attidx, st->cxt);
	}
	if (intVal(list_nth(priv, CD_PRIV_BATCH_PARAM)) >= 0)
		st->feed = cd_feed_create(node->ss.ps.state,
								  intVal(list_nth(priv, CD_PRIV_BATCH_PARAM)),
								  st->fetch, st->cxt);
	/* fdw_recheck_quals ends with the candidate id condition: not needed */
	st->before_download =
		ExecInitQual(list_copy_head(plan->fdw_recheck_quals,
									intVal(list_nth(priv, CD_PRIV_BEFORE_DOWNLOAD))),
					 &node->ss.ps);
}

static int
compare_cstrings(const void *a, const void *b)
{
	return strcmp(*(char *const *) a, *(char *const *) b);
}

/*
 * The distinct non-NULL text values of a scalar or array expression, in
 * the current memory context.
 */
static List *
eval_values(ExprState *expr, bool is_list, ExprContext *econtext)
{
	bool		isnull;
	Datum		d = ExecEvalExpr(expr, econtext, &isnull);
	Datum	   *elems;
	bool	   *nulls;
	int			n;
	char	  **texts;
	List	   *result = NIL;
	int			count = 0;
	ArrayType  *arr;

	if (isnull)
		return NIL;
	if (!is_list)
		return list_make1(makeString(TextDatumGetCString(d)));
	/*
	 * a list: the caller's lists are small; sort to drop duplicates.  The
	 * elements are text or of a type binary-compatible with it (varchar, a
	 * domain), whose array says which.
	 */
	arr = DatumGetArrayTypeP(d);
	deconstruct_array(arr, ARR_ELEMTYPE(arr), -1, false, TYPALIGN_INT,
					  &elems, &nulls, &n);
	texts = palloc(sizeof(char *) * Max(n, 1));
	for (int i = 0; i < n; i++)
		if (!nulls[i])
			texts[count++] = TextDatumGetCString(elems[i]);
	qsort(texts, count, sizeof(char *), compare_cstrings);
	for (int i = 0; i < count; i++)
		if (i == 0 || strcmp(texts[i], texts[i - 1]) != 0)
			result = lappend(result, makeString(texts[i]));
	return result;
}

/* The value an option gives a filter the query does not set. */
static List *
filter_default(CdScanState *st, const CdFilter *filter)
{
	if (filter->default_option &&
		strcmp(filter->default_option, "integration_id") == 0 &&
		st->srv->integration_id)
		return list_make1(makeString(st->srv->integration_id));
	if (filter->required)
		ereport(ERROR,
				(errcode(ERRCODE_FDW_OPTION_NAME_NOT_FOUND),
				 errmsg("a query on foreign table \"%s\" needs a value for \"%s\"",
						st->relname, filter->field),
				 errhint("Add WHERE %s = '...', or set option \"%s\" on server \"%s\" or its user mapping.",
						 filter->field, filter->default_option, st->srv->server_name)));
	return NIL;
}

/*
 * May the values go to the API?  Not if one is outside the values it
 * accepts: the condition, which stays local, then does the filtering.
 */
static bool
values_accepted(const CdFilter *filter, List *values)
{
	ListCell   *lc;

	foreach(lc, values)
		if (!cd_value_listed(filter->accepted, strVal(lfirst(lc))))
			return false;
	return true;
}

/*
 * Evaluate the candidate ids and filters and start fetching: one listing
 * per id and header-filter value.  A NULL or empty id list, or a list
 * filter with no non-NULL value, means no rows and no request.
 */
static void
scan_start(ForeignScanState *node, CdScanState *st)
{
	ExprContext *econtext = node->ss.ps.ps_ExprContext;
	MemoryContext old;
	List	   *ids;
	List	   *header_values = list_make1(NULL);
	List	   *query_values = NIL;
	List	   *listings = NIL;
	ListCell   *lc;
	ListCell   *lh;

	MemoryContextReset(st->run_cxt);
	old = MemoryContextSwitchTo(st->run_cxt);
	ids = eval_values(st->key_expr, st->key_is_list, econtext);
	foreach(lc, ids)
		if (strVal(lfirst(lc))[0] == '\0')
			ids = foreach_delete_current(ids, lc);	/* no such candidate */
	for (int f = 0; f < st->api->nfilters; f++)
	{
		const CdFilter *filter = &st->api->filters[f];
		List	   *values = NIL;
		bool		pushed = false;

		for (int i = 0; i < st->nfilters; i++)
			if (st->filter_index[i] == f)
			{
				values = eval_values(st->filter_expr[i], st->filter_is_list[i],
									 econtext);
				pushed = true;
			}
		if (!pushed)
			values = filter_default(st, filter);
		else if (values == NIL)
			ids = NIL;			/* the condition can match nothing */
		if (filter->kind == CD_FILTER_HEADER && values != NIL)
			header_values = values;
		else if (filter->kind == CD_FILTER_QUERY_LIST)
			query_values = values_accepted(filter, values) ? values : NIL;
	}

	foreach(lc, ids)
		foreach(lh, header_values)
		{
			CdListing  *listing = palloc0(sizeof(CdListing));

			listing->candidate_id = strVal(lfirst(lc));
			listing->header_value = lfirst(lh) ? strVal(lfirst(lh)) : NULL;
			if (listing->header_value)
				cd_check_header_value("integration_id", listing->header_value);
			listing->query_values = query_values;
			listings = lappend(listings, listing);
		}
	MemoryContextSwitchTo(old);
	cd_activity_expect(list_length(listings), false);
	if (!(st->feed && cd_feed_start(st->feed, listings)))
		cd_fetch_start(st->fetch, listings);
	if (st->ahead != NIL || st->ahead_place > 0)
	{
		bool		same_run = st->feed && cd_feed_loads(st->feed) == st->ahead_loads &&
			cd_fetch_selected_end(st->fetch) > 0;

		ahead_drop(st, same_run ? cd_fetch_selected_begin(st->fetch) : INT_MAX);
		if (!same_run)
			st->ahead_place = 0;
	}
	if (st->feed)
		st->ahead_loads = cd_feed_loads(st->feed);
	st->started = true;
	st->run_done = false;
}

/* The token of the next row object, or -1 at the end of the run. */
static int
next_object(CdScanState *st)
{
	int			obj;

	while (st->page == NULL || st->page->next >= st->page->env.nrows)
	{
		if (st->page)
			cd_fetch_release(st->fetch, st->page);
		st->page = cd_fetch_next_page(st->fetch);
		if (st->page == NULL)
			return -1;
	}
	obj = cd_envelope_row(&st->page->env, st->page->next++);
	if (obj < 0)
		ereport(ERROR,
				(errcode(ERRCODE_FDW_INVALID_DATA_TYPE),
				 errmsg("unexpected response shape for candidate \"%s\"",
						st->page->listing->candidate_id),
				 errdetail("Item %zu of the page is not a JSON object.",
						   st->page->next - 1)));
	cd_fetch_row_consumed(st->fetch, st->page);
	return obj;
}

/*
 * Turn the row in the scan slot into a heap tuple, for queries that read
 * xmin, cmin, xmax or cmax: its header says no transaction and no command
 * (as postgres_fdw's do).  It lives in the current memory context.
 */
static void
store_heap_row(TupleTableSlot *slot)
{
	HeapTuple	tuple = heap_form_tuple(slot->tts_tupleDescriptor,
										slot->tts_values, slot->tts_isnull);

	HeapTupleHeaderSetXmin(tuple->t_data, InvalidTransactionId);
	HeapTupleHeaderSetXmax(tuple->t_data, InvalidTransactionId);
	HeapTupleHeaderSetCmin(tuple->t_data, InvalidTransactionId);
	ExecStoreHeapTuple(tuple, slot, false);
}

/*
 * Make the values already in the (cleared) scan slot its row, with the
 * table's oid (conditions on tableoid may run before the executor sets
 * it).  Every row the scan returns or checks is stored so, whichever way
 * it came (the fetcher or the download window).
 */
static void
store_row(ForeignScanState *node, TupleTableSlot *slot)
{
	CdScanState *st = node->fdw_state;

	if (st->materialize)
		store_heap_row(slot);
	else
		ExecStoreVirtualTuple(slot);
	slot->tts_tableOid = RelationGetRelid(node->ss.ss_currentRelation);
}

/*
 * The next row of the run stored in the scan slot, the content column
 * NULL; false at the end.
 */
static bool
next_row(ForeignScanState *node, CdScanState *st, TupleTableSlot *slot)
{
	CdRowSource src = {NULL, NULL, NULL};

	ExecClearTuple(slot);
	if ((st->obj = next_object(st)) < 0)
		return false;
	src.candidate_id = st->page->listing->candidate_id;
	src.echo_value = st->page->listing->header_value;
	cd_row_from_json(st->map, &st->page->env.doc, st->obj, &src,
					 slot->tts_values, slot->tts_isnull);
	store_row(node, slot);
	return true;
}

/* Give back the downloads started ahead for listings before place. */
static void
ahead_drop(CdScanState *st, int place)
{
	ListCell   *lc;

	foreach(lc, st->ahead)
	{
		CdAhead    *a = lfirst(lc);

		if (a->place >= place)
			continue;
		cd_transfer_release(cd_fetch_transfer(st->fetch), a->req);
		pfree(a->url);
		pfree(a);
		st->ahead = foreach_delete_current(st->ahead, lc);
	}
}

/* The download started ahead for url in the current outer row, or NULL. */
static CdRequest *
ahead_take(CdScanState *st, const char *url)
{
	int			lo = cd_fetch_selected_begin(st->fetch);
	int			hi = cd_fetch_selected_end(st->fetch);
	ListCell   *lc;

	foreach(lc, st->ahead)
	{
		CdAhead    *a = lfirst(lc);
		CdRequest  *req = a->req;

		if (a->place < lo || a->place >= hi || strcmp(a->url, url) != 0)
			continue;
		pfree(a->url);
		pfree(a);
		st->ahead = foreach_delete_current(st->ahead, lc);
		return req;
	}
	return NULL;
}

/*
 * Start the downloads of the files of page (the parked first page of the
 * listing at place), up to room of them; how many were started.
 */
static int
ahead_page(CdScanState *st, const CdRequest *page, int place, int room)
{
	CdTransfer *xfer = cd_fetch_transfer(st->fetch);
	CdEnvelope	env;
	char		msg[64];
	int			started = 0;
	MemoryContext old;

	PG_TRY();
	{
		if (cd_envelope_parse(st->api, page->resp, page->resp_len, &env, msg,
							  sizeof(msg)) == CD_ENV_OK)
			for (size_t r = 0; r < env.nrows && started < room; r++)
			{
				int			obj = cd_envelope_row(&env, r);
				char	   *url;
				CdAhead    *a;

				if (obj < 0 ||
					(url = cd_json_field_text(st->api, &env.doc, obj,
											  st->api->content_url_field)) == NULL ||
					cd_url_check_download(url) != NULL)
					continue;	/* an error, if any, when the row is reached */
				old = MemoryContextSwitchTo(st->cxt);	/* the list lives on */
				a = palloc(sizeof(CdAhead));
				a->place = place;
				a->url = pstrdup(url);
				a->req = cd_download_request(xfer, url, "");
				st->ahead = lappend(st->ahead, a);
				MemoryContextSwitchTo(old);
				started++;
			}
	}
	PG_FINALLY();
	{
		cd_envelope_free(&env);
	}
	PG_END_TRY();
	return started;
}

/*
 * In a batched join whose content needs no condition first, keep the
 * files of the next outer rows downloading (from their listings' first
 * pages, as they arrive), up to max_concurrency files ahead.
 */
static void
ahead_start(CdScanState *st)
{
	int			room = Max(cd_fetch_transfer(st->fetch)->concurrency, 1) -
		list_length(st->ahead);
	int			place = Max(st->ahead_place, cd_fetch_selected_end(st->fetch));

	while (room > 0)
	{
		bool		arrived;
		const CdRequest *page = cd_fetch_parked(st->fetch, place, &arrived);

		if (!arrived)
			break;
		if (page)
			room -= ahead_page(st, page, place, room);
		place++;
	}
	st->ahead_place = place;
}

/*
 * The next row with its file's bytes.  Rows ahead that meet the
 * conditions that do not need the file (the first ones of the plan's
 * fdw_recheck_quals, which the executor checks itself only when it
 * rechecks a row) go into the download window (their downloads start at
 * once) until it is full; then the oldest comes out.  Each of those
 * conditions runs once per row.
 */
static TupleTableSlot *
next_with_content(ForeignScanState *node, CdScanState *st)
{
	TupleTableSlot *slot = node->ss.ss_ScanTupleSlot;
	ExprContext *econtext = node->ss.ps.ps_ExprContext;

	while (!st->run_done && !cd_downloads_full(st->downloads))
	{
		if (!next_row(node, st, slot))
		{
			st->run_done = true;
			break;
		}
		econtext->ecxt_scantuple = slot;
		if (ExecQual(st->before_download, econtext))
		{
			const CdJsonDoc *doc = &st->page->env.doc;
			char	   *url = cd_json_field_text(st->api, doc, st->obj,
												 st->api->content_url_field);

			cd_downloads_add(st->downloads, slot, url,
							 psprintf("could not download %s \"%s\"",
									  st->api->object_noun,
									  cd_json_object_id(doc, st->obj)),
							 url && st->ahead ? ahead_take(st, url) : NULL);
		}
		else
			st->not_downloaded++;
		ExecClearTuple(slot);
		MemoryContextReset(econtext->ecxt_per_tuple_memory);
	}
	if (st->feed && st->before_download == NULL)
		ahead_start(st);
	if (cd_downloads_next(st->downloads, slot))
		store_row(node, slot);
	return slot;
}

/*
 * IterateForeignScan: one row per API object, in the per-tuple context.
 */
TupleTableSlot *
cdIterateForeignScan(ForeignScanState *node)
{
	CdScanState *st = node->fdw_state;
	TupleTableSlot *slot = node->ss.ss_ScanTupleSlot;

	if (!st->started)
		scan_start(node, st);
	if (st->wants_content)
		return cd_activity_row(next_with_content(node, st));
	next_row(node, st, slot);
	return cd_activity_row(slot);
}

/*
 * ReScanForeignScan: parameters may have changed; start over at the next
 * fetch.  Listings already read stay in the rescan cache.
 */
void
cdReScanForeignScan(ForeignScanState *node)
{
	CdScanState *st = node->fdw_state;

	if (st->page)
		cd_fetch_release(st->fetch, st->page);
	st->page = NULL;
	st->started = false;
	if (st->downloads)
		cd_downloads_reset(st->downloads);
}

static int
compare_names(const ListCell *a, const ListCell *b)
{
	return strcmp(strVal(lfirst(a)), strVal(lfirst(b)));
}

/*
 * EndForeignScan: one WARNING naming the candidates the API did not know,
 * then everything of the scan goes with its memory context.
 */
void
cdEndForeignScan(ForeignScanState *node)
{
	CdScanState *st = node->fdw_state;
	List	   *skipped;
	StringInfoData names;
	ListCell   *lc;

	if (st == NULL || st->fetch == NULL)
		return;
	skipped = cd_fetch_skipped(st->fetch);
	if (skipped != NIL)
	{
		list_sort(skipped, compare_names);	/* requests end in any order */
		initStringInfo(&names);
		foreach(lc, skipped)
			appendStringInfo(&names, "%s\"%s\"", names.len ? ", " : "",
							 strVal(lfirst(lc)));
		ereport(WARNING,
				(errcode(ERRCODE_WARNING),
				 errmsg_plural("%d candidate not found by the %s API, skipped: %s",
							   "%d candidates not found by the %s API, skipped: %s",
							   list_length(skipped), list_length(skipped),
							   st->api->name, names.data)));
	}
	MemoryContextDelete(st->cxt);
	node->fdw_state = NULL;
}

/*
 * ExplainForeignScan: the endpoint and what goes to the API; with
 * ANALYZE, what the scan sent and received.
 */
void
cdExplainForeignScan(ForeignScanState *node, ExplainState *es)
{
	ForeignScan *plan = (ForeignScan *) node->ss.ps.plan;
	List	   *priv = plan->fdw_private;
	const CdApi *api = cd_table_api(RelationGetRelid(node->ss.ss_currentRelation));
	CdScanState *st = node->fdw_state;
	List	   *filters = NIL;
	List	   *before_download =
		list_copy_head(plan->fdw_recheck_quals,
					   intVal(list_nth(priv, CD_PRIV_BEFORE_DOWNLOAD)));
	ListCell   *lc;

	ExplainPropertyText("Endpoint", psprintf("GET %s", api->list_path), es);
	ExplainPropertyText("Candidate IDs",
						strVal(list_nth(priv, CD_PRIV_EXPLAIN_KEY)), es);
	foreach(lc, (List *) list_nth(priv, CD_PRIV_EXPLAIN_FILTERS))
		filters = lappend(filters, strVal(lfirst(lc)));
	if (filters != NIL)
		ExplainPropertyList("API Filters", filters, es);
	if (before_download != NIL)
	{
		List	   *context = set_deparse_context_plan(es->deparse_cxt,
													   (Plan *) plan, NIL);
		Node	   *quals = (Node *) make_ands_explicit(before_download);

		ExplainPropertyText("Filter Before Download",
							deparse_expression(quals, context, es->verbose, false),
							es);
	}
	if (es->analyze && st && st->fetch)
	{
		CdStats    *stats = cd_fetch_stats(st->fetch);

		ExplainPropertyInteger("Requests", NULL, stats->requests, es);
		ExplainPropertyInteger("Pages", NULL, stats->pages, es);
		ExplainPropertyInteger("Retries", NULL, stats->retries, es);
		ExplainPropertyInteger("Bytes Received", NULL, stats->bytes, es);
		if (before_download != NIL)
			ExplainPropertyInteger("Rows Removed Before Download", NULL,
								   st->not_downloaded, es);
		if (st->feed)
			ExplainPropertyInteger("Batch Loads", NULL, cd_feed_loads(st->feed), es);
		if (es->verbose)
			ExplainPropertyInteger("Scan Memory", "kB",
								   MemoryContextMemAllocated(st->cxt, true) / 1024,
								   es);
	}
}
