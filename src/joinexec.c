/*-------------------------------------------------------------------------
 *
 * joinexec.c
 *		  Batched joins to candidate_docs tables: the executor side.
 *
 * Two halves, linked by a PARAM_EXEC slot (see joinpath.c):
 *
 * The batching node (CustomScan CandidateDocsBatch) is the outer side of a
 * nested loop.  It reads rows of its child ahead, a batch at a time,
 * keeps them (as minimal tuples, as the child gave them) and the text of
 * their candidate ids, then returns them one by one in the child's order.
 * The id is evaluated in per-tuple memory.  A batch ends at
 * CD_BATCH_MAX_ROWS rows, CD_BATCH_MAX_BYTES of memory held, or a number
 * of distinct ids that starts small (a LIMIT sends few requests) and
 * doubles up to CD_BATCH_MAX_IDS.  Reading ahead evaluates the child's
 * rows (and their ids) before the join asks for them, as a Sort or a Hash
 * does: a volatile function or an expression error of a row beyond a
 * LIMIT happens all the same.
 *
 * The feed belongs to the inner foreign scan.  The first time the scan
 * runs for a new batch, the feed begins a run of the scan's fetcher over
 * the batch's distinct ids, in the order their rows come (fetch.c).  Each
 * time the scan runs for an outer row, the feed selects that row's
 * listings: their pages are read as without a batch, while the first
 * pages of the next rows' ids are already on their way.  How many rows
 * ahead grows with the rows served (up to max_concurrency), so a LIMIT or
 * a semi-join satisfied by the first rows sends about what the plain
 * nested loop sends, and a long join keeps max_concurrency requests in
 * flight.  A response for a row not reached yet waits, unread: its error
 * or warning comes only if the join reaches that row.
 *
 *-------------------------------------------------------------------------
 */
#include "candidate_docs.h"

#include "access/htup_details.h"
#include "common/hashfn.h"
#include "executor/executor.h"
#include "nodes/extensible.h"
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

/*
 * Keep the child's row in; note its candidate id; true if a new one.  The
 * id is evaluated in per-tuple memory (a detoasted value goes with it);
 * the batch keeps the row as the child gave it and the id's text.
 */
static bool
batch_keep(CdBatchState *bs, TupleTableSlot *in, HTAB *distinct)
{
	ExprContext *econtext = bs->css.ss.ps.ps_ExprContext;
	MemoryContext old;
	MinimalTuple mt;
	bool		isnull;
	Datum		d;
	bool		found = true;

	if (bs->nrows == bs->caprows)
	{
		bs->caprows *= 2;
		bs->rows = repalloc(bs->rows, bs->caprows * sizeof(MinimalTuple));
	}
	old = MemoryContextSwitchTo(bs->cxt);
	mt = ExecCopySlotMinimalTuple(in);
	MemoryContextSwitchTo(old);
	bs->rows[bs->nrows++] = mt;
	ResetExprContext(econtext);
	econtext->ecxt_scantuple = batch_show(bs, mt);
	d = ExecEvalExprSwitchContext(bs->key, econtext, &isnull);
	if (!isnull)
	{
		char	   *id;
		uint32		hash;

		old = MemoryContextSwitchTo(econtext->ecxt_per_tuple_memory);
		id = TextDatumGetCString(d);
		hash = string_hash(id, 0);
		MemoryContextSwitchTo(bs->cxt);
		bs->pub.ids = lappend(bs->pub.ids, pstrdup(id));
		MemoryContextSwitchTo(old);
		hash_search(distinct, &hash, HASH_ENTER, &found);
	}
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
	/* the cap counts what the batch holds: rows, ids, their lists */
	while (bs->nrows < CD_BATCH_MAX_ROWS && nids < bs->max_ids &&
		   MemoryContextMemAllocated(bs->cxt, false) < CD_BATCH_MAX_BYTES)
	{
		TupleTableSlot *in = ExecProcNode(child);

		if (TupIsNull(in))
		{
			bs->child_done = true;
			break;
		}
		nids += batch_keep(bs, in, distinct);
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

struct CdFeed
{
	EState	   *estate;
	int			paramid;
	CdFetch    *fetch;
	MemoryContext cxt;			/* the run of the batch: its listings */
	uint64		loaded;			/* generation of the batch of the run */
	bool		given_up;		/* this batch's rows are fetched one by one */
	HTAB	   *first;			/* candidate id -> its first listing's place */
	List	   *headers;		/* header values of every id's listings */
	List	   *query_values;	/* query values of every listing */
	int			visits;			/* outer rows served: read-ahead grows with it */
	int64		loads;
};

typedef struct CdFeedEntry
{
	char		id[CD_FEED_KEY_LEN];
	int			first;			/* place of the id's first listing in the run */
} CdFeedEntry;

CdFeed *
cd_feed_create(EState *estate, int paramid, CdFetch *fetch, MemoryContext cxt)
{
	CdFeed	   *feed = MemoryContextAllocZero(cxt, sizeof(CdFeed));

	feed->estate = estate;
	feed->paramid = paramid;
	feed->fetch = fetch;
	feed->cxt = AllocSetContextCreate(cxt, "candidate_docs batch listings",
									  ALLOCSET_DEFAULT_SIZES);
	return feed;
}

int64
cd_feed_loads(CdFeed *feed)
{
	return feed->loads;
}

/*
 * Begin the run of a new batch: each distinct non-empty id, in the order
 * its first outer row comes, times the header and query values of proto
 * (the listings of the current outer row: the filters are the same for
 * every row of the scan, which cd_feed_start checks).  Nothing is sent
 * yet.
 */
static void
feed_load(CdFeed *feed, CdOuterBatch *batch, List *proto)
{
	HASHCTL		ctl;
	MemoryContext old;
	List	   *listings = NIL;
	ListCell   *lc;
	ListCell   *lp;

	MemoryContextReset(feed->cxt);
	ctl.keysize = CD_FEED_KEY_LEN;
	ctl.entrysize = sizeof(CdFeedEntry);
	ctl.hcxt = feed->cxt;
	feed->first = hash_create("candidate_docs batch ids", 256, &ctl,
							  HASH_ELEM | HASH_STRINGS | HASH_CONTEXT);
	old = MemoryContextSwitchTo(feed->cxt);
	feed->headers = NIL;
	foreach(lp, proto)
	{
		char	   *h = ((CdListing *) lfirst(lp))->header_value;

		feed->headers = lappend(feed->headers, h ? pstrdup(h) : NULL);
	}
	feed->query_values = copyObject(((CdListing *) linitial(proto))->query_values);
	foreach(lc, batch->ids)
	{
		char	   *id = lfirst(lc);
		CdFeedEntry *entry;
		bool		found;

		if (id[0] == '\0' || strlen(id) >= CD_FEED_KEY_LEN)
			continue;			/* no request; a long id is fetched alone */
		entry = hash_search(feed->first, id, HASH_ENTER, &found);
		if (found)
			continue;
		entry->first = list_length(listings);
		foreach(lp, feed->headers)
		{
			CdListing  *listing = palloc0(sizeof(CdListing));

			listing->candidate_id = id;
			listing->header_value = lfirst(lp);
			listing->query_values = feed->query_values;
			listings = lappend(listings, listing);
		}
	}
	MemoryContextSwitchTo(old);
	cd_fetch_start_ahead(feed->fetch, listings);
	feed->loaded = batch->generation;
	feed->given_up = false;
	feed->loads++;
}

static bool
same_text(const char *a, const char *b)
{
	return (a == NULL) == (b == NULL) && (a == NULL || strcmp(a, b) == 0);
}

/*
 * The place of listings (those of the current outer row) in the run, or
 * -1 if they are not the run's: another id, or other filter values.
 */
static int
feed_place(CdFeed *feed, List *listings)
{
	const char *id = ((CdListing *) linitial(listings))->candidate_id;
	CdFeedEntry *entry;
	ListCell   *lc;
	ListCell   *lh;

	if (list_length(listings) != list_length(feed->headers) ||
		strlen(id) >= CD_FEED_KEY_LEN)
		return -1;
	forboth(lc, listings, lh, feed->headers)
	{
		CdListing  *listing = lfirst(lc);

		if (strcmp(listing->candidate_id, id) != 0 ||
			!same_text(listing->header_value, lfirst(lh)) ||
			!equal(listing->query_values, feed->query_values))
			return -1;
	}
	entry = hash_search(feed->first, id, HASH_FIND, NULL);
	return entry ? entry->first : -1;
}

/*
 * Serve listings (those of the current outer row) from the run of the
 * outer batch, beginning it if the batch is new: the fetcher's pages are
 * then theirs.  False if there is no batch, or the run does not hold the
 * listings: the caller starts a run of its own (and the rest of the batch
 * is fetched so too).
 */
/*
 * How many outer rows past the current one may have their first pages (and
 * files) fetched ahead, at the visits-th outer row: 1 at first, doubling up
 * to the transfer's concurrency.  A LIMIT or EXISTS that stops at once costs
 * one request more than the plain loop; a join read to its end reaches full
 * concurrency within a few rows.
 */
static int
ahead_rows(int visits, int concurrency)
{
	int			ahead = 1;

	while (ahead < concurrency && visits > 1)
	{
		ahead *= 2;
		visits--;
	}
	return Min(ahead, concurrency);
}

bool
cd_feed_start(CdFeed *feed, List *listings)
{
	ParamExecData *prm = &feed->estate->es_param_exec_vals[feed->paramid];
	CdOuterBatch *batch = prm->isnull ? NULL : (CdOuterBatch *) DatumGetPointer(prm->value);
	CdTransfer *xfer = cd_fetch_transfer(feed->fetch);
	int			place;

	if (batch == NULL || batch->generation == 0)
		return false;
	if (batch->generation != feed->loaded)
	{
		if (listings == NIL)
			return false;		/* nothing to learn the filters from yet */
		feed_load(feed, batch, listings);
	}
	if (feed->given_up)
		return false;
	feed->visits++;
	if (listings == NIL)
		place = cd_fetch_selected_end(feed->fetch);
	else if ((place = feed_place(feed, listings)) < 0)
	{
		feed->given_up = true;
		return false;
	}
	cd_fetch_select(feed->fetch, place, place + list_length(listings),
					ahead_rows(feed->visits, xfer->concurrency));
	return true;
}
