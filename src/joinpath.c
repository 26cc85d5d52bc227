/*-------------------------------------------------------------------------
 *
 * joinpath.c
 *		  Batched joins to candidate_docs tables: the planner side.
 *
 * A join clause on candidate_id makes the foreign table the inner side of
 * a nested loop: one request per outer row, one after the other.  Here the
 * planner is also offered that nested loop with a batching node under its
 * outer side.  The node (CandidateDocsBatch, executed in joinexec.c) reads
 * many outer rows ahead and evaluates their candidate ids; while the inner
 * foreign scan reads the listing of one outer row, the first pages of the
 * next rows' ids are already on their way.  The join itself stays
 * PostgreSQL's nested loop (join type, other join clauses, projection), so
 * it returns the rows the plain nested loop returns, only sooner.  The
 * node keeps its child's order, so it is offered over the outer side's
 * ordered paths too: ORDER BY the outer side's index with a LIMIT needs no
 * Sort of the whole join.
 *
 * The two nodes find each other through a PARAM_EXEC slot of their own,
 * as a recursive union and its work table scan do: the batching node puts
 * a pointer to its batch there, the foreign scan reads it.
 *
 *-------------------------------------------------------------------------
 */
#include "candidate_docs.h"

#include "nodes/extensible.h"
#include "nodes/makefuncs.h"
#include "optimizer/cost.h"
#include "optimizer/optimizer.h"
#include "optimizer/paramassign.h"
#include "optimizer/pathnode.h"
#include "optimizer/paths.h"

/* A batch's requests run side by side: a row costs a share of one. */
#define CD_BATCHED_REQUEST_COST (CD_REQUEST_COST / 8)
/* outer rows the batching node reads before its first row (joinexec.c) */
#define CD_FIRST_BATCH_ROWS 16.0

bool		cd_enable_batched_join = true;

static set_join_pathlist_hook_type prev_join_pathlist_hook = NULL;

static Plan *plan_batch_path(PlannerInfo *root, RelOptInfo *rel,
							 CustomPath *best_path, List *tlist,
							 List *clauses, List *custom_plans);

static CustomPathMethods batch_path_methods = {
	.CustomName = CD_BATCH_NODE_NAME,
	.PlanCustomPath = plan_batch_path,
};

/* Is rel a candidate_docs foreign table of this query level? */
static bool
is_candidate_docs_rel(RelOptInfo *rel)
{
	return rel->reloptkind == RELOPT_BASEREL && rel->fdwroutine != NULL &&
		rel->fdwroutine->GetForeignRelSize == cdGetForeignRelSize;
}

/*
 * The outer side of the join clause a parameterized path was made for:
 * the expression whose value is the candidate id.
 */
static Expr *
outer_key(PlannerInfo *root, ForeignPath *inner)
{
	RestrictInfo *rinfo = linitial_node(RestrictInfo, inner->fdw_private);
	OpExpr	   *op = (OpExpr *) rinfo->clause;

	if (!IsA(op, OpExpr) || list_length(op->args) != 2)
		return NULL;
	if (bms_is_member(inner->path.parent->relid,
					  pull_varnos(root, linitial(op->args))))
		return lsecond(op->args);
	return linitial(op->args);
}

/*
 * The batching node over outer: same rows, same order (its pathkeys),
 * same target.  Before its first row it reads the first batch of outer
 * rows: that share of the outer side's run is its startup cost, so that a
 * LIMIT over an ordered outer side weighs it against a Sort's.
 */
static CustomPath *
make_batch_path(Path *outer, Expr *key, Integer *link)
{
	CustomPath *batch = makeNode(CustomPath);
	double		first = Min(outer->rows, CD_FIRST_BATCH_ROWS);
	Cost		outer_run = outer->total_cost - outer->startup_cost;

	batch->path.pathtype = T_CustomScan;
	batch->path.parent = outer->parent;
	batch->path.pathtarget = outer->pathtarget;
	batch->path.param_info = NULL;
	batch->path.parallel_aware = false;
	batch->path.parallel_safe = false;	/* the link is a backend pointer */
	batch->path.parallel_workers = 0;
	batch->path.rows = outer->rows;
	batch->path.startup_cost = outer->startup_cost +
		(outer->rows > 0 ? outer_run * first / outer->rows : 0) +
		first * cpu_tuple_cost;
	batch->path.total_cost = outer->total_cost + outer->rows * cpu_tuple_cost;
	batch->path.pathkeys = outer->pathkeys;
	batch->custom_paths = list_make1(outer);
	batch->custom_private = list_make2(key, link);
	batch->methods = &batch_path_methods;
	return batch;
}

/* The inner foreign path again, linked to the batch and costed for it. */
static ForeignPath *
make_batched_inner(ForeignPath *plain, Integer *link)
{
	ForeignPath *inner = makeNode(ForeignPath);

	memcpy(inner, plain, sizeof(ForeignPath));
	inner->fdw_private = list_make2(linitial(plain->fdw_private), link);
	inner->path.startup_cost = CD_BATCHED_REQUEST_COST;
	inner->path.total_cost = CD_BATCHED_REQUEST_COST +
		(plain->path.total_cost - plain->path.startup_cost);
	return inner;
}

/*
 * Offer the nested loop of outer and the parameterized foreign path
 * plain, with the batching node between the loop and outer.
 */
static void
add_batched_nestloop(PlannerInfo *root, RelOptInfo *joinrel, Path *outer,
					 ForeignPath *plain, JoinType jointype,
					 JoinPathExtraData *extra)
{
	Expr	   *key = outer_key(root, plain);
	Integer    *link = makeInteger(-1);
	CustomPath *batch;
	ForeignPath *inner;
	JoinCostWorkspace ws;

	if (key == NULL || outer->param_info != NULL)
		return;
	batch = make_batch_path(outer, key, link);
	inner = make_batched_inner(plain, link);
	initial_cost_nestloop(root, &ws, jointype, &batch->path, &inner->path, extra);
	add_path(joinrel, (Path *)
			 create_nestloop_path(root, joinrel, jointype, &ws, extra,
								  &batch->path, &inner->path, extra->restrictlist,
								  build_join_pathkeys(root, joinrel, jointype,
													  outer->pathkeys),
								  NULL));
}

/*
 * set_join_pathlist_hook: for a join whose inner side is a candidate_docs
 * table with a path parameterized by the outer side (a join clause on
 * candidate_id), offer the batched nested loop beside the plain one.
 * Right and full joins need the inner side first: not offered.
 */
static void
cd_join_pathlist(PlannerInfo *root, RelOptInfo *joinrel, RelOptInfo *outerrel,
				 RelOptInfo *innerrel, JoinType jointype, JoinPathExtraData *extra)
{
	List	   *outers;
	ListCell   *lc;
	ListCell   *lo;

	if (prev_join_pathlist_hook)
		prev_join_pathlist_hook(root, joinrel, outerrel, innerrel, jointype, extra);
	if (!cd_enable_batched_join || !is_candidate_docs_rel(innerrel) ||
		root->placeholder_list != NIL || outerrel->cheapest_total_path == NULL)
		return;
	outers = list_make1(outerrel->cheapest_total_path);
	if (outerrel->cheapest_startup_path)
		outers = list_append_unique_ptr(outers, outerrel->cheapest_startup_path);
	/* the node keeps its child's order: ordered outer paths too */
	foreach(lo, outerrel->pathlist)
	{
		Path	   *path = lfirst(lo);

		if (path->pathkeys != NIL && path->param_info == NULL)
			outers = list_append_unique_ptr(outers, path);
	}
	if (jointype == JOIN_UNIQUE_OUTER)
	{
		Path	   *unique = cd_unique_path(root, outerrel,
											outerrel->cheapest_total_path,
											extra->sjinfo);

		if (unique == NULL)
			return;
		outers = list_make1(unique);
		jointype = JOIN_INNER;
	}
	else if (jointype != JOIN_INNER && jointype != JOIN_LEFT &&
			 jointype != JOIN_SEMI && jointype != JOIN_ANTI)
		return;

	foreach(lc, innerrel->pathlist)
	{
		ForeignPath *plain = (ForeignPath *) lfirst(lc);

		if (!IsA(plain, ForeignPath) || list_length(plain->fdw_private) != 1 ||
			plain->path.param_info == NULL ||
			!bms_is_subset(PATH_REQ_OUTER(&plain->path), outerrel->relids))
			continue;
		foreach(lo, outers)
			add_batched_nestloop(root, joinrel, lfirst(lo), plain, jointype, extra);
	}
}

/*
 * PlanCustomPath: the batching node reads its child's tuples as they are
 * and evaluates the candidate id expression over them.
 */
static Plan *
plan_batch_path(PlannerInfo *root, RelOptInfo *rel, CustomPath *best_path,
				List *tlist, List *clauses, List *custom_plans)
{
	CustomScan *cscan = makeNode(CustomScan);
	Plan	   *child = linitial(custom_plans);
	Integer    *link = lsecond(best_path->custom_private);

	if (intVal(link) < 0)
		link->ival = assign_special_exec_param(root);
	cscan->scan.plan.targetlist = tlist;
	cscan->scan.plan.qual = NIL;
	cscan->scan.scanrelid = 0;
	cscan->custom_scan_tlist = copyObject(child->targetlist);
	cscan->custom_plans = custom_plans;
	cscan->custom_exprs = list_make1(copyObject(linitial(best_path->custom_private)));
	cscan->custom_private = list_make1(makeInteger(intVal(link)));
	cscan->custom_relids = bms_copy(rel->relids);
	cscan->flags = best_path->flags;
	cscan->methods = cd_batch_scan_methods();
	return &cscan->scan.plan;
}

/*
 * The PARAM_EXEC slot through which a batched foreign scan path finds its
 * batch, or -1 for a scan that is not batched.  Whichever of the two
 * nodes is planned first assigns it.
 */
int
cd_batch_param(PlannerInfo *root, ForeignPath *path)
{
	Integer    *link;

	if (list_length(path->fdw_private) < 2)
		return -1;
	link = lsecond(path->fdw_private);
	if (intVal(link) < 0)
		link->ival = assign_special_exec_param(root);
	return intVal(link);
}

void
cd_joinpath_init(void)
{
	prev_join_pathlist_hook = set_join_pathlist_hook;
	set_join_pathlist_hook = cd_join_pathlist;
}
