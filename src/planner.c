/*-------------------------------------------------------------------------
 *
 * planner.c
 *		  Paths and plans for scans of candidate_docs foreign tables.
 *
 * Every listing is per candidate, so a scan needs the candidate ids before
 * it can send anything.  They come from a restriction (candidate_id = x,
 * IN (...), = ANY(array)) or, through a parameterized path, from the outer
 * side of a nested loop join (one request per outer row).  A path without
 * either costs so much that the planner takes it only when nothing else is
 * possible, and then planning fails with an error that says what to add.
 *
 * Conditions the API evaluates (Checkr's type, Kombo's integration_id) are
 * sent along when their values are ones the API accepts
 * (CdFilter.accepted).  Every condition, sent or not, is also checked locally, so
 * no query can return a wrong row whatever the API does with a filter.
 * The one exception is the condition the candidate ids came from: each
 * row's candidate_id is the id it was requested for, so that condition
 * holds by construction, except when EvalPlanQual rechecks a row joined
 * with a newer version of the outer row: it goes last into
 * fdw_recheck_quals, as postgres_fdw's pushed conditions do, and the scan
 * does not check it.  When the query reads the content column, the scan
 * itself checks the conditions that do not need the file before
 * downloading it (the first ones of fdw_recheck_quals); only the others
 * stay in the plan's qual, so that each condition runs once per row.
 *
 *-------------------------------------------------------------------------
 */
#include "candidate_docs.h"

#include "access/table.h"
#include "catalog/pg_collation.h"
#include "catalog/pg_operator.h"
#include "catalog/pg_type.h"
#include "optimizer/cost.h"
#include "nodes/makefuncs.h"
#include "nodes/nodeFuncs.h"
#include "optimizer/optimizer.h"
#include "optimizer/pathnode.h"
#include "optimizer/planmain.h"
#include "optimizer/paths.h"
#include "optimizer/restrictinfo.h"
#include "parser/parsetree.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/fmgroids.h"
#include "utils/lsyscache.h"
#include "utils/rel.h"

/* Rough figures (CD_REQUEST_COST in candidate_docs.h). */
#define CD_ROWS_PER_CANDIDATE 10.0
#define CD_UNKNOWN_LIST_LENGTH 10
/*
 * The cost of a scan without candidate ids, which fails at plan time: above
 * any parameterized nested loop (row estimates stop at 1e100), so that
 * it is chosen only when nothing else is possible, and far enough from
 * DBL_MAX that joins over it stay finite.  PostgreSQL 18 also marks the
 * path disabled, which every path comparison looks at first.
 */
#define CD_NO_KEY_COST 1.0e110

/* A condition "column = value" or "column = ANY(array)" found in a clause. */
typedef struct CdMatch
{
	Expr	   *value;			/* the side that is not our column */
	bool		is_list;		/* value is an array */
	Expr	   *clause;			/* the whole condition */
} CdMatch;

/* baserel->fdw_private during planning */
typedef struct CdRelInfo
{
	const CdApi *api;
	AttrNumber	key_attno;		/* candidate_id column, or 0 */
	Bitmapset  *content_attrs;	/* content columns, offset by
								 * FirstLowInvalidHeapAttributeNumber */
	AttrNumber	filter_attno[CD_MAX_FILTERS];
	CdMatch		key;			/* key.value NULL: no restriction fixes it */
	CdMatch		filters[CD_MAX_FILTERS];
	double		nlistings;		/* estimated requests of the plain path */
} CdRelInfo;

/* Strip binary-compatible casts (varchar column compared as text). */
static Node *
strip_relabel(Node *node)
{
	while (node && IsA(node, RelabelType))
		node = (Node *) ((RelabelType *) node)->arg;
	return node;
}

static bool
references_rel(Node *node, Index relid)
{
	Bitmapset  *attrs = NULL;

	pull_varattnos(node, relid, &attrs);
	return attrs != NULL;
}

static bool
is_column(Node *node, Index relid, AttrNumber attno)
{
	Var		   *var = (Var *) strip_relabel(node);

	return attno != InvalidAttrNumber && var && IsA(var, Var) &&
		var->varno == relid && var->varattno == attno && var->varlevelsup == 0;
}

static bool match_clause(Expr *clause, Index relid, AttrNumber attno,
						 bool joins, CdMatch *m);

/*
 * "col = a OR col = b ...": the same as col = ANY(ARRAY[a, b, ...]).
 */
static bool
match_or_clause(BoolExpr *clause, Index relid, AttrNumber attno, CdMatch *m)
{
	ArrayExpr  *arr = makeNode(ArrayExpr);
	ListCell   *lc;

	foreach(lc, clause->args)
	{
		CdMatch		arm;

		if (!match_clause(lfirst(lc), relid, attno, false, &arm) || arm.is_list)
			return false;
		arr->elements = lappend(arr->elements, arm.value);
	}
	arr->array_typeid = TEXTARRAYOID;
	arr->element_typeid = TEXTOID;
	arr->array_collid = DEFAULT_COLLATION_OID;
	arr->multidims = false;
	arr->location = -1;
	m->value = (Expr *) arr;
	m->is_list = true;
	m->clause = (Expr *) clause;
	return true;
}

/*
 * Does clause say "our column = value" with text equality?  The value may
 * be anything that does not read our rel and is not volatile: constants,
 * parameters, sub-selects, and (for join clauses) outer columns.
 */
static bool
match_clause(Expr *clause, Index relid, AttrNumber attno, bool joins, CdMatch *m)
{
	Node	   *left;
	Node	   *right;
	Oid			opno;

	if (IsA(clause, OpExpr) && list_length(((OpExpr *) clause)->args) == 2)
	{
		OpExpr	   *op = (OpExpr *) clause;

		opno = op->opno;
		left = linitial(op->args);
		right = lsecond(op->args);
		if (is_column(right, relid, attno))
		{
			Node	   *tmp = left;

			left = right;
			right = tmp;
		}
		m->is_list = false;
	}
	else if (IsA(clause, ScalarArrayOpExpr) && ((ScalarArrayOpExpr *) clause)->useOr)
	{
		ScalarArrayOpExpr *saop = (ScalarArrayOpExpr *) clause;

		opno = saop->opno;
		left = linitial(saop->args);
		right = lsecond(saop->args);
		m->is_list = true;
		if (joins)
			return false;
	}
	else if (is_orclause(clause) && !joins)
		return match_or_clause((BoolExpr *) clause, relid, attno, m);
	else
		return false;

	if (get_opcode(opno) != F_TEXTEQ || !is_column(left, relid, attno))
		return false;
	if (contain_volatile_functions(right) ||
		references_rel(right, relid) ||
		(!joins && contain_var_clause(right)))
		return false;
	m->value = (Expr *) right;
	m->clause = clause;
	return true;
}

/* Pick the first restriction that fixes the column; the others stay local. */
static void
match_restrictions(RelOptInfo *baserel, AttrNumber attno, CdMatch *m)
{
	ListCell   *lc;

	m->value = NULL;
	foreach(lc, baserel->baserestrictinfo)
	{
		RestrictInfo *rinfo = lfirst_node(RestrictInfo, lc);
		CdMatch		cand;

		if (match_clause(rinfo->clause, baserel->relid, attno, false, &cand) &&
			(m->value == NULL || (m->is_list && !cand.is_list)))
			*m = cand;
	}
}

/* How many values a match stands for, as far as planning can tell. */
static double
match_count(const CdMatch *m)
{
	Node	   *value = strip_relabel((Node *) m->value);

	if (!m->is_list)
		return 1;
	if (IsA(value, ArrayExpr))
		return list_length(((ArrayExpr *) value)->elements);
	if (IsA(value, Const) && !((Const *) value)->constisnull)
	{
		ArrayType  *arr = DatumGetArrayTypeP(((Const *) value)->constvalue);

		return ArrayGetNItems(ARR_NDIM(arr), ARR_DIMS(arr));
	}
	return CD_UNKNOWN_LIST_LENGTH;
}

/* Is every value of a text (or text array) constant accepted by filter? */
static bool
const_accepted(const CdFilter *filter, Const *c, bool is_array)
{
	ArrayType  *arr;
	Datum	   *elems;
	bool	   *nulls;
	int			n;

	if (c->constisnull)
		return true;
	if (!is_array)
		return cd_value_listed(filter->accepted, TextDatumGetCString(c->constvalue));
	arr = DatumGetArrayTypeP(c->constvalue);
	deconstruct_array(arr, ARR_ELEMTYPE(arr), -1, false, TYPALIGN_INT,
					  &elems, &nulls, &n);
	for (int i = 0; i < n; i++)
		if (!nulls[i] && !cd_value_listed(filter->accepted,
										  TextDatumGetCString(elems[i])))
			return false;
	return true;
}

/*
 * May the constants of a match go to the API?  Only if each is a value the
 * API accepts for the filter: another value could make it refuse the
 * request, and sending only some of the values would lose rows.  Values
 * known only at run time are checked then (scan.c).
 */
static bool
match_accepted(const CdFilter *filter, const CdMatch *m)
{
	Node	   *value = strip_relabel((Node *) m->value);
	ListCell   *lc;

	if (filter->accepted == NULL)
		return true;
	if (IsA(value, Const))
		return const_accepted(filter, (Const *) value, m->is_list);
	if (IsA(value, ArrayExpr))
		foreach(lc, ((ArrayExpr *) value)->elements)
		{
			Node	   *elem = strip_relabel(lfirst(lc));

			if (IsA(elem, Const) && !const_accepted(filter, (Const *) elem, false))
				return false;
		}
	return true;
}

static void
find_columns(CdRelInfo *info, Oid foreigntableid)
{
	Relation	rel = table_open(foreigntableid, NoLock);
	TupleDesc	tupdesc = RelationGetDescr(rel);

	for (int i = 0; i < tupdesc->natts; i++)
	{
		Form_pg_attribute att = TupleDescAttr(tupdesc, i);
		char	   *field;

		if (att->attisdropped)
			continue;
		field = cd_column_field(foreigntableid, att->attnum);
		if (strcmp(field, "candidate_id") == 0 && info->key_attno == 0)
			info->key_attno = att->attnum;
		if (strcmp(field, "content") == 0)
			info->content_attrs = bms_add_member(info->content_attrs,
												 att->attnum - FirstLowInvalidHeapAttributeNumber);
		for (int f = 0; f < info->api->nfilters; f++)
			if (strcmp(field, info->api->filters[f].field) == 0 &&
				info->filter_attno[f] == 0)
				info->filter_attno[f] = att->attnum;
	}
	table_close(rel, NoLock);
}

/*
 * GetForeignRelSize: find the candidate id and filter conditions.
 */
void
cdGetForeignRelSize(PlannerInfo *root, RelOptInfo *baserel, Oid foreigntableid)
{
	CdRelInfo  *info = palloc0(sizeof(CdRelInfo));
	CmdType		cmd = root->parse->commandType;

	if ((cmd == CMD_UPDATE || cmd == CMD_DELETE) &&
		baserel->relid == root->parse->resultRelation)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("cannot %s foreign table \"%s\"",
						cmd == CMD_UPDATE ? "update" : "delete from",
						get_rel_name(foreigntableid)),
				 errdetail("The APIs behind candidate_docs only list and upload documents.")));

	baserel->fdw_private = info;
	info->api = cd_table_api(foreigntableid);
	find_columns(info, foreigntableid);

	match_restrictions(baserel, info->key_attno, &info->key);
	info->nlistings = info->key.value ? match_count(&info->key) : 1;
	for (int f = 0; f < info->api->nfilters; f++)
	{
		match_restrictions(baserel, info->filter_attno[f], &info->filters[f]);
		if (info->filters[f].value &&
			!match_accepted(&info->api->filters[f], &info->filters[f]))
			info->filters[f].value = NULL;	/* a local condition only */
		if (info->filters[f].value && info->api->filters[f].kind == CD_FILTER_HEADER)
			info->nlistings *= match_count(&info->filters[f]);
	}
	baserel->rows = clamp_row_est(info->nlistings * CD_ROWS_PER_CANDIDATE *
								  clauselist_selectivity(root, baserel->baserestrictinfo,
														 0, JOIN_INNER, NULL));
}

static void
add_scan_path(PlannerInfo *root, RelOptInfo *baserel, double rows, Cost startup,
		 Cost total, Relids required_outer, List *fdw_private)
{
	ForeignPath *path;

	path = cd_create_foreignscan_path(root, baserel, NULL, rows,
									  total >= CD_NO_KEY_COST ? 1 : 0, startup,
									  total, NIL, required_outer, NULL,
									  fdw_private);
	add_path(baserel, (Path *) path);
}

/* EquivalenceClass member test: is it our candidate_id column? */
static bool
ec_member_is_key(PlannerInfo *root, RelOptInfo *rel, EquivalenceClass *ec,
				 EquivalenceMember *em, void *arg)
{
	return is_column((Node *) em->em_expr, rel->relid, *(AttrNumber *) arg);
}

/* Add a parameterized path driven by join clause rinfo. */
static void
add_join_path(PlannerInfo *root, RelOptInfo *baserel, RestrictInfo *rinfo)
{
	Relids		outer;
	ParamPathInfo *ppi;
	CdMatch		m;
	CdRelInfo  *info = baserel->fdw_private;

	outer = bms_del_member(bms_copy(rinfo->clause_relids), baserel->relid);
	if (bms_is_empty(outer) ||
		!match_clause(rinfo->clause, baserel->relid, info->key_attno, true, &m))
		return;
	ppi = get_baserel_parampathinfo(root, baserel, outer);
	add_scan_path(root, baserel, CD_ROWS_PER_CANDIDATE, CD_REQUEST_COST,
			 CD_REQUEST_COST + CD_ROWS_PER_CANDIDATE * cpu_tuple_cost,
			 ppi->ppi_req_outer, list_make1(rinfo));
}

/*
 * GetForeignPaths: the plain path, and one parameterized path per join
 * clause that can feed candidate ids from an outer relation.
 */
void
cdGetForeignPaths(PlannerInfo *root, RelOptInfo *baserel, Oid foreigntableid)
{
	CdRelInfo  *info = baserel->fdw_private;
	ListCell   *lc;
	List	   *clauses;

	if (info->key.value)
		add_scan_path(root, baserel, baserel->rows, CD_REQUEST_COST,
				 info->nlistings * CD_REQUEST_COST + baserel->rows * cpu_tuple_cost,
				 NULL, NIL);
	else
		add_scan_path(root, baserel, baserel->rows, CD_NO_KEY_COST,
				 CD_NO_KEY_COST, NULL, NIL);
	if (info->key_attno == InvalidAttrNumber)
		return;

	foreach(lc, baserel->joininfo)
	{
		RestrictInfo *rinfo = lfirst_node(RestrictInfo, lc);

		if (join_clause_is_movable_to(rinfo, baserel))
			add_join_path(root, baserel, rinfo);
	}
	clauses = generate_implied_equalities_for_column(root, baserel,
													 ec_member_is_key,
													 &info->key_attno,
													 baserel->lateral_referencers);
	foreach(lc, clauses)
		add_join_path(root, baserel, lfirst_node(RestrictInfo, lc));
}

/* ---- EXPLAIN text of the pushed values, made while names are known ---- */

static void describe_value(PlannerInfo *root, Node *node, StringInfo buf);

static void
describe_const(Const *c, StringInfo buf)
{
	Oid			typoutput;
	bool		isvarlena;

	if (c->constisnull)
	{
		appendStringInfoString(buf, "NULL");
		return;
	}
	getTypeOutputInfo(c->consttype, &typoutput, &isvarlena);
	appendStringInfoString(buf,
						   quote_literal_cstr(OidOutputFunctionCall(typoutput,
																	c->constvalue)));
}

static void
describe_value(PlannerInfo *root, Node *node, StringInfo buf)
{
	node = strip_relabel(node);
	if (IsA(node, Const))
		describe_const((Const *) node, buf);
	else if (IsA(node, Param) && ((Param *) node)->paramkind == PARAM_EXTERN)
		appendStringInfo(buf, "$%d", ((Param *) node)->paramid);
	else if (IsA(node, Var) && ((Var *) node)->varattno > 0)
	{
		Var		   *var = (Var *) node;
		RangeTblEntry *rte = planner_rt_fetch(var->varno, root);

		appendStringInfo(buf, "%s.%s", quote_identifier(rte->eref->aliasname),
						 quote_identifier(get_rte_attribute_name(rte, var->varattno)));
	}
	else if (IsA(node, ArrayExpr))
	{
		ListCell   *lc;

		appendStringInfoString(buf, "ARRAY[");
		foreach(lc, ((ArrayExpr *) node)->elements)
		{
			if (lc != list_head(((ArrayExpr *) node)->elements))
				appendStringInfoString(buf, ", ");
			describe_value(root, lfirst(lc), buf);
		}
		appendStringInfoChar(buf, ']');
	}
	else
		appendStringInfoString(buf, "(expression)");
}

static char *
describe_match(PlannerInfo *root, const char *name, const CdMatch *m)
{
	StringInfoData buf;

	initStringInfo(&buf);
	appendStringInfo(&buf, "%s %s ", name, m->is_list ? "= ANY" : "=");
	describe_value(root, (Node *) m->value, &buf);
	return buf.data;
}

/*
 * Do attrs (attnums offset by FirstLowInvalidHeapAttributeNumber) hold a
 * content column or the whole row?
 */
static bool
reads_content(const CdRelInfo *info, const Bitmapset *attrs)
{
	return bms_overlap(attrs, info->content_attrs) ||
		bms_is_member(0 - FirstLowInvalidHeapAttributeNumber, attrs);
}

/*
 * Columns the query reads, from its target list and every local condition,
 * as the attnums the scan gets in CD_PRIV_NEEDED: 0 for the whole row,
 * negative numbers for system columns.  *content says whether the file's
 * bytes are needed.
 */
static List *
needed_columns(RelOptInfo *baserel, List *local_quals, bool *content)
{
	CdRelInfo  *info = baserel->fdw_private;
	Bitmapset  *attrs = NULL;
	List	   *result = NIL;
	int			attno = -1;

	pull_varattnos((Node *) baserel->reltarget->exprs, baserel->relid, &attrs);
	pull_varattnos((Node *) local_quals, baserel->relid, &attrs);
	*content = reads_content(info, attrs);
	while ((attno = bms_next_member(attrs, attno)) >= 0)
		result = lappend(result,
						 makeInteger(attno + FirstLowInvalidHeapAttributeNumber));
	return result;
}

/* Does the condition read the content column, or the whole row? */
static bool
needs_content(RelOptInfo *baserel, Node *clause)
{
	CdRelInfo  *info = baserel->fdw_private;
	Bitmapset  *attrs = NULL;

	pull_varattnos(clause, baserel->relid, &attrs);
	return reads_content(info, attrs);
}

/*
 * Is rinfo the condition the candidate ids come from?  The planner may
 * hand a join clause back as another, equal RestrictInfo, so compare what
 * it says, not where it is.
 */
static bool
is_key_clause(RestrictInfo *rinfo, RelOptInfo *baserel, const CdMatch *key)
{
	CdRelInfo  *info = baserel->fdw_private;
	CdMatch		m;

	if (rinfo->clause == key->clause)
		return true;
	return match_clause(rinfo->clause, baserel->relid, info->key_attno, true, &m) &&
		m.is_list == key->is_list && equal(m.value, key->value);
}

static void
no_key_error(Oid foreigntableid, const CdApi *api)
{
	ereport(ERROR,
			(errcode(ERRCODE_FDW_ERROR),
			 errmsg("a query on foreign table \"%s\" needs a condition on column \"candidate_id\"",
					get_rel_name(foreigntableid)),
			 errdetail("The %s API lists the %ss of one candidate at a time.",
					   api->name, api->object_noun),
			 errhint("Add WHERE candidate_id = '...', candidate_id IN (...) or candidate_id = ANY(...), or join on candidate_id.")));
}

/*
 * GetForeignPlan: the candidate id expression (from the restriction or
 * from the path's join clause) and the pushed filters go to fdw_exprs,
 * where the executor evaluates them.  Every other clause is checked
 * locally, once: when the file is downloaded, those that do not read it
 * go to fdw_recheck_quals, which the scan checks before the download (and
 * EvalPlanQual when it rechecks a row); the rest are the plan's qual.
 * The candidate id condition ends fdw_recheck_quals, for EvalPlanQual
 * alone.
 */
ForeignScan *
cdGetForeignPlan(PlannerInfo *root, RelOptInfo *baserel, Oid foreigntableid,
				 ForeignPath *best_path, List *tlist, List *scan_clauses,
				 Plan *outer_plan)
{
	CdRelInfo  *info = baserel->fdw_private;
	List	   *local_quals = NIL;
	List	   *before_download = NIL;
	List	   *after_download = NIL;
	List	   *needed;
	bool		content;
	CdMatch		key = info->key;
	ListCell   *lc;
	List	   *exprs;
	List	   *filter_index = NIL;
	List	   *filter_is_list = NIL;
	List	   *explain_filters = NIL;
	List	   *scan_private;

	if (best_path->fdw_private != NIL)
		match_clause(linitial_node(RestrictInfo, best_path->fdw_private)->clause,
					 baserel->relid, info->key_attno, true, &key);
	if (key.value == NULL)
		no_key_error(foreigntableid, info->api);
	foreach(lc, scan_clauses)
	{
		RestrictInfo *rinfo = lfirst_node(RestrictInfo, lc);

		if (!rinfo->pseudoconstant && !is_key_clause(rinfo, baserel, &key))
			local_quals = lappend(local_quals, rinfo->clause);
	}
	/* the candidate id condition is rechecked too: it reads the column */
	needed = needed_columns(baserel, lappend(list_copy(local_quals), key.clause),
							&content);
	foreach(lc, local_quals)
	{
		if (content && !needs_content(baserel, lfirst(lc)))
			before_download = lappend(before_download, lfirst(lc));
		else
			after_download = lappend(after_download, lfirst(lc));
	}

	exprs = list_make1(key.value);
	for (int f = 0; f < info->api->nfilters; f++)
	{
		const CdFilter *filter = &info->api->filters[f];

		if (info->filters[f].value == NULL)
			continue;
		exprs = lappend(exprs, info->filters[f].value);
		filter_index = lappend(filter_index, makeInteger(f));
		filter_is_list = lappend(filter_is_list,
								 makeInteger(info->filters[f].is_list));
		explain_filters = lappend(explain_filters,
								  makeString(describe_match(root, filter->param,
															&info->filters[f])));
	}

	scan_private = list_make3(makeInteger(key.is_list), filter_index, filter_is_list);
	scan_private = lappend(scan_private, needed);
	scan_private = lappend(scan_private,
					  makeString(describe_match(root, "candidate_id", &key)));
	scan_private = lappend(scan_private, explain_filters);
	scan_private = lappend(scan_private, makeInteger(best_path->fdw_private != NIL));
	scan_private = lappend(scan_private,
						   makeInteger(cd_batch_param(root, best_path)));
	scan_private = lappend(scan_private, makeInteger(list_length(before_download)));
	return make_foreignscan(tlist, after_download, baserel->relid, exprs,
							scan_private, NIL,
							lappend(before_download, key.clause), outer_plan);
}
