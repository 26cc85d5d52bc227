/*-------------------------------------------------------------------------
 *
 * joinexec.c
 *		  Batched joins to candidate_docs tables: the executor side.
 *
 * Two halves, linked by a PARAM_EXEC slot (see joinpath.c):
 *
 * The batching node (CustomScan CandidateDocsBatch) is the outer side of a
 * nested loop.  It reads rows of its child ahead, a batch at a time,
 * keeps them (as minimal tuples) and the text of their candidate ids,
 * then returns them one by one in the child's order.  A batch ends at
 * CD_BATCH_MAX_ROWS rows, CD_BATCH_MAX_BYTES of rows, or a number of
 * distinct ids that starts small (a LIMIT sends few requests) and doubles
 * up to CD_BATCH_MAX_IDS.
 *
 * The feed belongs to the inner foreign scan.  The first time the scan
 * runs for a new batch, the feed fetches the batch's distinct ids at once
 * through the scan's own fetcher (concurrently, duplicates once, listings
 * seen before from its rescan cache) and converts their rows into tuples
 * kept until the next batch.  Every row of the batch is then answered
 * from memory; an id the feed does not hold (none can be, but it costs
 * nothing to be sure) is fetched as without a batch.
 *
 * When the query reads content and the scan's other conditions depend on
 * the row alone (no outer values, nothing volatile), the feed decides them
 * once per row as it loads the batch, and keeps the files of the next
 * max_concurrency rows downloading, following the outer rows' order:
 * the files of many outer rows arrive concurrently, as a batch's listings
 * do.  A download the nested loop does not come to (a LIMIT, a semi-join
 * satisfied early) is dropped.
 *
 *-------------------------------------------------------------------------
 */
#include "candidate_docs.h"

#include "access/htup_details.h"
#include "common/hashfn.h"
#include "executor/executor.h"
#include "nodes/extensible.h"
#include "nodes/nodeFuncs.h"
#include "optimizer/optimizer.h"
#include "utils/builtins.h"
#include "utils/hsearch.h"
#include "utils/memutils.h"
#include "utils/ruleutils.h"

#define CD_BATCH_FIRST_IDS 16
#define CD_BATCH_MAX_IDS 256
#define CD_BATCH_MAX_ROWS 10000
#define CD_BATCH_MAX_BYTES (8 * 1024 * 1024)
#define CD_FEED_KEY_LEN 1024

/* ---- the batching node ---- */

typedef struct CdBatchState
{
	CustomScanState css;
	ExprState  *key;			/* the candidate id, over the child's row */
	int			paramid;		/* where the inner scan finds pub */
	MemoryContext cxt;			/* rows and ids of the current batch */
	TupleTableSlot *held;		/* a kept row, before it is copied out */
	MinimalTuple *rows;
	int			nrows;
	int			caprows;
	int			next;			/* next row to return */
	bool		child_done;
	int			max_ids;		/* distinct ids of the next batch */
	CdOuterBatch pub;
	int64		batches;		/* for EXPLAIN ANALYZE */
	int64		outer_rows;
	int64		batch_ids;
} CdBatchState;

static Node *batch_create_state(CustomScan *cscan);
static void batch_begin(CustomScanState *node, EState *estate, int eflags);
static TupleTableSlot *batch_exec(CustomScanState *node);
static void batch_end(CustomScanState *node);
static void batch_rescan(CustomScanState *node);
static void batch_explain(CustomScanState *node, List *ancestors,
						  ExplainState *es);

static CustomScanMethods batch_scan_methods = {
	.CustomName = CD_BATCH_NODE_NAME,
	.CreateCustomScanState = batch_create_state,
};

static CustomExecMethods batch_exec_methods = {
	.CustomName = CD_BATCH_NODE_NAME,
	.BeginCustomScan = batch_begin,
	.ExecCustomScan = batch_exec,
	.EndCustomScan = batch_end,
	.ReScanCustomScan = batch_rescan,
	.ExplainCustomScan = batch_explain,
};

const CustomScanMethods *
cd_batch_scan_methods(void)
{
	return &batch_scan_methods;
}

void
cd_joinexec_init(void)
{
	RegisterCustomScanMethods(&batch_scan_methods);
}

static Node *
batch_create_state(CustomScan *cscan)
{
	CdBatchState *bs = (CdBatchState *) newNode(sizeof(CdBatchState),
												 T_CustomScanState);

	bs->css.methods = &batch_exec_methods;
	return (Node *) bs;
}

static void
batch_begin(CustomScanState *node, EState *estate, int eflags)
{
	CustomScan *cscan = (CustomScan *) node->ss.ps.plan;
	CdBatchState *bs = (CdBatchState *) node;
	TupleDesc	desc = node->ss.ss_ScanTupleSlot->tts_tupleDescriptor;

	node->custom_ps = list_make1(ExecInitNode(linitial(cscan->custom_plans),
											  estate, eflags));
	bs->key = ExecInitExpr(linitial(cscan->custom_exprs), &node->ss.ps);
	bs->paramid = intVal(linitial(cscan->custom_private));
	bs->cxt = AllocSetContextCreate(estate->es_query_cxt, "candidate_docs batch",
									ALLOCSET_DEFAULT_SIZES);
	bs->held = ExecInitExtraTupleSlot(estate, desc, &TTSOpsMinimalTuple);
	bs->max_ids = CD_BATCH_FIRST_IDS;
	if (!(eflags & EXEC_FLAG_EXPLAIN_ONLY))
	{
		ParamExecData *prm = &estate->es_param_exec_vals[bs->paramid];

		prm->value = PointerGetDatum(&bs->pub);
		prm->isnull = false;
		cd_activity_expect(((Plan *) linitial(cscan->custom_plans))->plan_rows, true);
	}
}

/* Put kept row mt into the scan slot; its values stay in the batch's memory. */
static TupleTableSlot *
batch_show(CdBatchState *bs, MinimalTuple mt)
{
	TupleTableSlot *slot = bs->css.ss.ss_ScanTupleSlot;
	int			natts = slot->tts_tupleDescriptor->natts;

	ExecStoreMinimalTuple(mt, bs->held, false);
	slot_getallattrs(bs->held);
	ExecClearTuple(slot);
	memcpy(slot->tts_values, bs->held->tts_values, natts * sizeof(Datum));
	memcpy(slot->tts_isnull, bs->held->tts_isnull, natts * sizeof(bool));
	return ExecStoreVirtualTuple(slot);
}

/* Keep the child's row in; note its candidate id; true if a new one. */
static bool
batch_keep(CdBatchState *bs, TupleTableSlot *in, HTAB *distinct, size_t *bytes)
{
	ExprContext *econtext = bs->css.ss.ps.ps_ExprContext;
	MemoryContext old = MemoryContextSwitchTo(bs->cxt);
	MinimalTuple mt = ExecCopySlotMinimalTuple(in);
	bool		isnull;
	Datum		d;
	bool		found = true;

	if (bs->nrows == bs->caprows)
	{
		bs->caprows *= 2;
		bs->rows = repalloc(bs->rows, bs->caprows * sizeof(MinimalTuple));
	}
	bs->rows[bs->nrows++] = mt;
	*bytes += mt->t_len;
	econtext->ecxt_scantuple = batch_show(bs, mt);
	d = ExecEvalExpr(bs->key, econtext, &isnull);
	if (!isnull)
	{
		char	   *id = TextDatumGetCString(d);
		uint32		hash = string_hash(id, 0);

		bs->pub.ids = lappend(bs->pub.ids, id);
		hash_search(distinct, &hash, HASH_ENTER, &found);
	}
	MemoryContextSwitchTo(old);
	ResetExprContext(econtext);
	return !found;
}

/* Read the next batch of the child's rows; false if there are none. */
static bool
batch_read(CdBatchState *bs)
{
	PlanState  *child = linitial(bs->css.custom_ps);
	HASHCTL		ctl;
	HTAB	   *distinct;
	size_t		bytes = 0;
	int			nids = 0;

	ExecClearTuple(bs->css.ss.ss_ScanTupleSlot);
	ExecClearTuple(bs->held);
	MemoryContextReset(bs->cxt);
	bs->nrows = bs->next = 0;
	bs->caprows = 64;
	bs->rows = MemoryContextAlloc(bs->cxt, bs->caprows * sizeof(MinimalTuple));
	bs->pub.ids = NIL;
	ctl.keysize = ctl.entrysize = sizeof(uint32);
	ctl.hcxt = bs->cxt;
	distinct = hash_create("candidate_docs batch ids", 256, &ctl,
						   HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);
	while (bs->nrows < CD_BATCH_MAX_ROWS && nids < bs->max_ids &&
		   bytes < CD_BATCH_MAX_BYTES)
	{
		TupleTableSlot *in = ExecProcNode(child);

		if (TupIsNull(in))
		{
			bs->child_done = true;
			break;
		}
		nids += batch_keep(bs, in, distinct, &bytes);
	}
	if (bs->nrows == 0)
		return false;
	bs->pub.generation++;
	bs->batches++;
	bs->outer_rows += bs->nrows;
	bs->batch_ids += nids;
	bs->max_ids = Min(bs->max_ids * 2, CD_BATCH_MAX_IDS);
	return true;
}

/*
 * ExecCustomScan: the kept rows in order, reading a batch when they are
 * used up.
 */
static TupleTableSlot *
batch_exec(CustomScanState *node)
{
	CdBatchState *bs = (CdBatchState *) node;
	TupleTableSlot *slot;
	ExprContext *econtext = node->ss.ps.ps_ExprContext;

	if (bs->next >= bs->nrows && (bs->child_done || !batch_read(bs)))
		return ExecClearTuple(node->ss.ss_ScanTupleSlot);
	slot = batch_show(bs, bs->rows[bs->next++]);
	if (node->ss.ps.ps_ProjInfo == NULL)
		return slot;
	ResetExprContext(econtext);
	econtext->ecxt_scantuple = slot;
	return ExecProject(node->ss.ps.ps_ProjInfo);
}

static void
batch_end(CustomScanState *node)
{
	CdBatchState *bs = (CdBatchState *) node;
	EState	   *estate = node->ss.ps.state;

	if (bs->cxt)
		estate->es_param_exec_vals[bs->paramid].value = (Datum) 0;
	ExecEndNode(linitial(node->custom_ps));
}

/* ReScan: forget the batch; the child starts over (now or when read). */
static void
batch_rescan(CustomScanState *node)
{
	CdBatchState *bs = (CdBatchState *) node;
	PlanState  *child = linitial(node->custom_ps);

	ExecClearTuple(node->ss.ss_ScanTupleSlot);
	ExecClearTuple(bs->held);
	MemoryContextReset(bs->cxt);
	bs->nrows = bs->next = 0;
	bs->pub.ids = NIL;
	bs->child_done = false;
	bs->max_ids = CD_BATCH_FIRST_IDS;
	if (node->ss.ps.chgParam != NULL)
		UpdateChangedParamSet(child, node->ss.ps.chgParam);
	if (child->chgParam == NULL)
		ExecReScan(child);
}

static void
batch_explain(CustomScanState *node, List *ancestors, ExplainState *es)
{
	CustomScan *cscan = (CustomScan *) node->ss.ps.plan;
	CdBatchState *bs = (CdBatchState *) node;
	List	   *context = set_deparse_context_plan(es->deparse_cxt,
												   &cscan->scan.plan, ancestors);
	bool		useprefix = list_length(es->rtable) > 1 || es->verbose;

	ExplainPropertyText("Candidate ID",
						deparse_expression(linitial(cscan->custom_exprs), context,
										   useprefix, false), es);
	if (es->analyze)
	{
		ExplainPropertyInteger("Batches", NULL, bs->batches, es);
		ExplainPropertyInteger("Outer Rows", NULL, bs->outer_rows, es);
		ExplainPropertyInteger("Batch IDs", NULL, bs->batch_ids, es);
	}
}

/* ---- the feed of the inner foreign scan ---- */

struct CdFeed;
static void prefetch_drop_first(struct CdFeed *feed);

typedef struct CdFeedEntry
{
	char		key[CD_FEED_KEY_LEN];	/* candidate id, newline, header value */
	List	   *rows;			/* of CdFeedRow */
} CdFeedEntry;

/* A download started for a row of an outer row ahead. */
typedef struct CdPrefetch
{
	int			pos;			/* the outer row's place in the batch */
	const CdFeedRow *row;
	CdRequest  *req;			/* in req_cxt */
} CdPrefetch;

struct CdFeed
{
	EState	   *estate;
	int			paramid;
	CdRowMap   *map;
	CdFetch    *fetch;
	bool		wants_content;
	bool		prefetch;		/* content: decide rows and download ahead */
	ForeignScanState *node;		/* the scan: its conditions without content
								 * (fdw_recheck_quals), its slot (free while
								 * a batch loads) */
	CdOuterBatch *batch;		/* the batch in store */
	List	   *headers;		/* header values of each id's listings */
	int			pos;			/* place of the current outer row, or -1 */
	int			next_pos;		/* next row to download for: outer row, */
	int			next_key;		/* its listing, */
	int			next_row;		/* and the row of that listing */
	List	   *ahead;			/* CdPrefetch, in the order rows are read */
	MemoryContext cxt;			/* the loaded batch: listings, rows */
	MemoryContext tmp_cxt;		/* one row's conversion */
	MemoryContext serve_cxt;	/* the entries of the current outer row */
	uint64		loaded;			/* generation of the batch in store */
	HTAB	   *store;
	List	   *serving;		/* CdFeedEntry of the current outer row */
	int			entry_pos;
	int			row_pos;
	int64		loads;
};

CdFeed *
cd_feed_create(EState *estate, int paramid, CdRowMap *map, CdFetch *fetch,
			   MemoryContext cxt)
{
	CdFeed	   *feed = MemoryContextAllocZero(cxt, sizeof(CdFeed));

	feed->estate = estate;
	feed->paramid = paramid;
	feed->map = map;
	feed->fetch = fetch;
	feed->wants_content = cd_rowmap_uses(map, CD_COL_CONTENT);
	feed->cxt = AllocSetContextCreate(cxt, "candidate_docs batch rows",
									  ALLOCSET_DEFAULT_SIZES);
	feed->tmp_cxt = AllocSetContextCreate(cxt, "candidate_docs batch row",
										  ALLOCSET_DEFAULT_SIZES);
	feed->serve_cxt = AllocSetContextCreate(cxt, "candidate_docs batch serve",
											ALLOCSET_SMALL_SIZES);
	return feed;
}

int64
cd_feed_loads(CdFeed *feed)
{
	return feed->loads;
}

/* The store's key of a listing; false if it is too long to be one. */
static bool
feed_key(const CdListing *listing, char *key)
{
	return snprintf(key, CD_FEED_KEY_LEN, "%s\n%s", listing->candidate_id,
					listing->header_value ? listing->header_value : "") <
		CD_FEED_KEY_LEN;
}

static int
compare_ids(const ListCell *a, const ListCell *b)
{
	return strcmp(lfirst(a), lfirst(b));
}

/*
 * The listings of a batch: its distinct non-empty ids, each with the
 * header values and query values of proto (the listings of the current
 * outer row: the filters are the same for every row of the scan).
 */
static List *
feed_listings(CdFeed *feed, CdOuterBatch *batch, List *proto)
{
	List	   *ids = list_copy(batch->ids);
	List	   *query_values = copyObject(((CdListing *) linitial(proto))->query_values);
	List	   *listings = NIL;
	ListCell   *lc;
	ListCell   *lp;
	char		key[CD_FEED_KEY_LEN];

	list_sort(ids, compare_ids);
	foreach(lc, ids)
	{
		char	   *id = lfirst(lc);

		if (id[0] == '\0' ||
			(foreach_current_index(lc) > 0 &&
			 strcmp(id, list_nth(ids, foreach_current_index(lc) - 1)) == 0))
			continue;
		foreach(lp, proto)
		{
			CdListing  *p = lfirst(lp);
			CdListing  *listing = palloc0(sizeof(CdListing));
			CdFeedEntry *entry;

			listing->candidate_id = pstrdup(id);
			listing->header_value = p->header_value ? pstrdup(p->header_value) : NULL;
			listing->query_values = query_values;
			if (!feed_key(listing, key))
				continue;
			entry = hash_search(feed->store, key, HASH_ENTER, NULL);
			entry->rows = NIL;
			listings = lappend(listings, listing);
		}
	}
	return listings;
}

/*
 * Does row meet the scan's conditions that do not read content?  Checked
 * on the row as the scan stores it (table oid, system columns).
 */
static bool
feed_row_passes(CdFeed *feed, const CdFeedRow *row)
{
	ForeignScanState *node = feed->node;
	TupleTableSlot *slot = node->ss.ss_ScanTupleSlot;
	ExprContext *econtext = node->ss.ps.ps_ExprContext;
	MemoryContext old = MemoryContextSwitchTo(feed->tmp_cxt);
	bool		passes;

	ExecClearTuple(slot);
	heap_deform_tuple(row->tuple, slot->tts_tupleDescriptor, slot->tts_values,
					  slot->tts_isnull);
	cd_scan_store_row(node, slot);
	econtext->ecxt_scantuple = slot;
	passes = ExecQual(node->fdw_recheck_quals, econtext);
	ExecClearTuple(slot);
	MemoryContextSwitchTo(old);
	MemoryContextReset(feed->tmp_cxt);
	return passes;
}

/*
 * Note where row's file is, for a row that may be downloaded (the URL is
 * read as the scan reads it).
 */
static void
feed_row_download(CdFeed *feed, CdFeedRow *row, const CdJsonDoc *doc, int obj)
{
	const CdApi *api = feed->map->api;
	MemoryContext old = MemoryContextSwitchTo(feed->cxt);

	row->content_url = cd_json_field_text(api, doc, obj, api->content_url_field);
	row->object_id = pstrdup(cd_json_object_id(doc, obj));
	MemoryContextSwitchTo(old);
}

/* Convert every row of page into a kept tuple, then give the page back. */
static void
feed_page(CdFeed *feed, CdPage *page)
{
	TupleDesc	desc = feed->map->tupdesc;
	CdRowSource src = {page->listing->candidate_id, page->listing->header_value, NULL};
	Datum	   *values = palloc(sizeof(Datum) * desc->natts);
	bool	   *nulls = palloc(sizeof(bool) * desc->natts);
	char		key[CD_FEED_KEY_LEN];
	CdFeedEntry *entry = NULL;

	if (feed_key(page->listing, key))
		entry = hash_search(feed->store, key, HASH_FIND, NULL);
	while (entry && page->next < page->env.nrows)
	{
		const CdJsonDoc *doc = &page->env.doc;
		int			obj = cd_envelope_row(&page->env, page->next++);
		MemoryContext old;
		CdFeedRow  *row;

		if (obj < 0)
			ereport(ERROR,
					(errcode(ERRCODE_FDW_INVALID_DATA_TYPE),
					 errmsg("unexpected response shape for candidate \"%s\"",
							page->listing->candidate_id),
					 errdetail("Item %zu of the page is not a JSON object.",
							   page->next - 1)));
		cd_fetch_row_consumed(feed->fetch, page);
		old = MemoryContextSwitchTo(feed->tmp_cxt);
		cd_row_from_json(feed->map, doc, obj, &src, values, nulls);
		MemoryContextSwitchTo(feed->cxt);
		row = palloc0(sizeof(CdFeedRow));
		row->tuple = heap_form_tuple(desc, values, nulls);
		entry->rows = lappend(entry->rows, row);
		MemoryContextSwitchTo(old);
		MemoryContextReset(feed->tmp_cxt);
		if (feed->prefetch)
			row->passes = feed_row_passes(feed, row);
		if (feed->wants_content && (row->passes || !feed->prefetch))
			feed_row_download(feed, row, doc, obj);
	}
	cd_fetch_release(feed->fetch, page);
}

/* Fetch every listing of batch and keep its rows. */
static void
feed_load(CdFeed *feed, CdOuterBatch *batch, List *proto)
{
	HASHCTL		ctl;
	MemoryContext old;
	List	   *listings;
	CdPage	   *page;
	ListCell   *lc;

	feed->loaded = 0;
	feed->store = NULL;
	while (feed->ahead != NIL)
		prefetch_drop_first(feed);
	feed->batch = batch;
	feed->pos = -1;
	feed->next_pos = feed->next_key = feed->next_row = 0;
	MemoryContextReset(feed->cxt);
	ctl.keysize = CD_FEED_KEY_LEN;
	ctl.entrysize = sizeof(CdFeedEntry);
	ctl.hcxt = feed->cxt;
	feed->store = hash_create("candidate_docs batch rows", 256, &ctl,
							  HASH_ELEM | HASH_STRINGS | HASH_CONTEXT);
	old = MemoryContextSwitchTo(feed->cxt);
	listings = feed_listings(feed, batch, proto);
	feed->headers = NIL;
	foreach(lc, proto)
		feed->headers = lappend(feed->headers, ((CdListing *) lfirst(lc))->header_value ?
								pstrdup(((CdListing *) lfirst(lc))->header_value) : NULL);
	MemoryContextSwitchTo(old);
	cd_fetch_start(feed->fetch, listings);
	while ((page = cd_fetch_next_page(feed->fetch)) != NULL)
		feed_page(feed, page);
	feed->loaded = batch->generation;
	feed->loads++;
}

/* ---- downloads ahead ---- */

/*
 * Decide the scan's content-free conditions once per row, as the batch
 * loads, and download ahead; only if they read nothing but the row.
 */
static bool
depends_on_more_than_row(Node *node, void *context)
{
	if (node == NULL)
		return false;
	if ((IsA(node, Param) && ((Param *) node)->paramkind == PARAM_EXEC) ||
		IsA(node, SubPlan) || IsA(node, AlternativeSubPlan))
		return true;
	return expression_tree_walker(node, depends_on_more_than_row, context);
}

void
cd_feed_prefetch_content(CdFeed *feed, ForeignScanState *node)
{
	List	   *quals = ((ForeignScan *) node->ss.ps.plan)->fdw_recheck_quals;

	feed->prefetch = !depends_on_more_than_row((Node *) quals, NULL) &&
		!contain_volatile_functions((Node *) quals);
	feed->node = node;
}

bool
cd_feed_prefetching(CdFeed *feed)
{
	return feed->prefetch;
}

static void
prefetch_drop_first(CdFeed *feed)
{
	CdPrefetch *p = linitial(feed->ahead);

	cd_transfer_release(cd_fetch_transfer(feed->fetch), p->req);
	pfree(p);
	feed->ahead = list_delete_first(feed->ahead);
}

/* The current outer row is the next one of the batch with id. */
static void
feed_locate(CdFeed *feed, const char *id)
{
	List	   *ids = feed->batch->ids;
	int			pos = feed->pos + 1;

	while (pos < list_length(ids) && strcmp(list_nth(ids, pos), id) != 0)
		pos++;
	feed->pos = pos;
	while (feed->ahead != NIL && ((CdPrefetch *) linitial(feed->ahead))->pos < pos)
		prefetch_drop_first(feed);	/* not come to */
	if (feed->next_pos < pos)
	{
		feed->next_pos = pos;
		feed->next_key = feed->next_row = 0;
	}
}

/* The rows of the next_key-th listing of the outer row at next_pos. */
static List *
prefetch_rows(CdFeed *feed)
{
	CdListing	listing;
	char		key[CD_FEED_KEY_LEN];
	CdFeedEntry *entry = NULL;

	listing.candidate_id = list_nth(feed->batch->ids, feed->next_pos);
	listing.header_value = list_nth(feed->headers, feed->next_key);
	if (feed_key(&listing, key))
		entry = hash_search(feed->store, key, HASH_FIND, NULL);
	return entry ? entry->rows : NIL;
}

/* Start downloads for the rows ahead, up to the transfer's concurrency. */
static void
feed_prefetch(CdFeed *feed)
{
	CdTransfer *xfer = cd_fetch_transfer(feed->fetch);
	MemoryContext old;

	while (list_length(feed->ahead) < Max(xfer->concurrency, 1) &&
		   feed->next_pos < list_length(feed->batch->ids))
	{
		List	   *rows;
		const CdFeedRow *row;
		CdPrefetch *p;

		if (feed->next_key >= list_length(feed->headers))
		{
			feed->next_pos++;
			feed->next_key = feed->next_row = 0;
			continue;
		}
		rows = prefetch_rows(feed);
		if (feed->next_row >= list_length(rows))
		{
			feed->next_key++;
			feed->next_row = 0;
			continue;
		}
		row = list_nth(rows, feed->next_row++);
		if (!row->passes || row->content_url == NULL ||
			cd_url_check_download(row->content_url) != NULL)
			continue;			/* nothing to download, or an error when reached */
		old = MemoryContextSwitchTo(feed->cxt);
		p = palloc(sizeof(CdPrefetch));
		p->pos = feed->next_pos;
		p->row = row;
		p->req = cd_download_request(xfer, row->content_url, row->object_id);
		feed->ahead = lappend(feed->ahead, p);
		MemoryContextSwitchTo(old);
	}
	cd_transfer_poll(xfer);
}

/*
 * The download started for row of the current outer row, now the caller's
 * (to release with cd_transfer_release), or NULL if none was.
 */
CdRequest *
cd_feed_take_download(CdFeed *feed, const CdFeedRow *row)
{
	CdPrefetch *p;
	CdRequest  *req;

	if (feed->ahead == NIL)
		return NULL;
	p = linitial(feed->ahead);
	if (p->pos != feed->pos || p->row != row)
		return NULL;
	req = p->req;
	pfree(p);
	feed->ahead = list_delete_first(feed->ahead);
	feed_prefetch(feed);
	return req;
}

/*
 * Serve listings (those of the current outer row) from the batch, loading
 * it first if it is new.  False if there is no batch, or it lacks one of
 * the listings: the caller fetches them itself.
 */
bool
cd_feed_start(CdFeed *feed, List *listings)
{
	ParamExecData *prm = &feed->estate->es_param_exec_vals[feed->paramid];
	CdOuterBatch *batch = prm->isnull ? NULL : (CdOuterBatch *) DatumGetPointer(prm->value);
	MemoryContext old;
	ListCell   *lc;
	char		key[CD_FEED_KEY_LEN];

	MemoryContextReset(feed->serve_cxt);
	feed->serving = NIL;
	feed->entry_pos = feed->row_pos = 0;
	if (batch == NULL || batch->generation == 0 || listings == NIL)
		return false;
	if (batch->generation != feed->loaded)
		feed_load(feed, batch, listings);
	old = MemoryContextSwitchTo(feed->serve_cxt);
	foreach(lc, listings)
	{
		CdFeedEntry *entry = NULL;

		if (feed_key(lfirst(lc), key))
			entry = hash_search(feed->store, key, HASH_FIND, NULL);
		if (entry == NULL)
		{
			feed->serving = NIL;
			break;
		}
		feed->serving = lappend(feed->serving, entry);
	}
	MemoryContextSwitchTo(old);
	if (feed->prefetch && feed->serving != NIL)
	{
		feed_locate(feed, ((CdListing *) linitial(listings))->candidate_id);
		feed_prefetch(feed);
	}
	return feed->serving != NIL;
}

/* The next kept row of the current outer row, or NULL. */
const CdFeedRow *
cd_feed_next(CdFeed *feed)
{
	while (feed->entry_pos < list_length(feed->serving))
	{
		CdFeedEntry *entry = list_nth(feed->serving, feed->entry_pos);

		if (feed->row_pos < list_length(entry->rows))
			return list_nth(entry->rows, feed->row_pos++);
		feed->entry_pos++;
		feed->row_pos = 0;
	}
	return NULL;
}
