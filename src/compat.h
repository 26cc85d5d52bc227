/*-------------------------------------------------------------------------
 *
 * compat.h
 *		  What differs between the PostgreSQL majors candidate_docs is built
 *		  and tested on (15, 17 and 18), each difference defined once.
 *
 * The callers read the same on every major; every PG_VERSION_NUM test of
 * the extension is in this file.  Included by candidate_docs.h.  It calls
 * nothing but PostgreSQL: no module of the extension.
 *
 *-------------------------------------------------------------------------
 */
#ifndef CANDIDATE_DOCS_COMPAT_H
#define CANDIDATE_DOCS_COMPAT_H

#if PG_VERSION_NUM < 150000
#error "candidate_docs needs PostgreSQL 15 or later"
#endif

#include "catalog/pg_foreign_server.h"
/* 18 moved ExplainState and the ExplainProperty functions out of explain.h */
#include "commands/explain.h"
#if PG_VERSION_NUM >= 180000
#include "commands/explain_format.h"
#include "commands/explain_state.h"
#endif
#include "executor/executor.h"
#include "miscadmin.h"
#if PG_VERSION_NUM >= 160000
#include "nodes/miscnodes.h"
#endif
#include "optimizer/pathnode.h"
#include "utils/acl.h"
#include "utils/wait_event.h"

/*
 * A function that never returns: 18's specifier, written first
 * ("pg_noreturn extern void f(void);"), which replaced the attribute
 * pg_attribute_noreturn().
 */
#ifndef pg_noreturn
#define pg_noreturn pg_attribute_noreturn()
#endif

/*
 * This backend's index among MaxBackends (0-based; negative or beyond for
 * an auxiliary process): 17 numbers every process, before 17 backends.
 */
#if PG_VERSION_NUM >= 170000
#define cd_my_backend_index() ((int) MyProcNumber)
#else
#define cd_my_backend_index() ((int) MyBackendId - 1)
#endif

/*
 * Wait events: named ones (pg_stat_activity.wait_event) on 17 and later,
 * registered on first use in each backend; the generic "Extension" before.
 */
#if PG_VERSION_NUM >= 170000
static inline uint32
cd_wait_event(uint32 *cache, const char *name)
{
	if (*cache == 0)
		*cache = WaitEventExtensionNew(name);
	return *cache;
}
#else
static inline uint32
cd_wait_event(uint32 *cache, const char *name)
{
	return PG_WAIT_EXTENSION;
}
#endif

/* ExecutorRun's arguments: 18 dropped execute_once. */
#if PG_VERSION_NUM >= 180000
#define CD_EXECUTOR_RUN_PARAMS QueryDesc *queryDesc, ScanDirection direction, uint64 count
#define CD_EXECUTOR_RUN_ARGS queryDesc, direction, count
#else
#define CD_EXECUTOR_RUN_PARAMS QueryDesc *queryDesc, ScanDirection direction, \
	uint64 count, bool execute_once
#define CD_EXECUTOR_RUN_ARGS queryDesc, direction, count, execute_once
#endif

/* USAGE (or another right) of roleid on a foreign server. */
static inline AclResult
cd_server_aclcheck(Oid serverid, Oid roleid, AclMode mode)
{
#if PG_VERSION_NUM >= 160000
	return object_aclcheck(ForeignServerRelationId, serverid, roleid, mode);
#else
	return pg_foreign_server_aclcheck(serverid, roleid, mode);
#endif
}

/*
 * The user whose user mapping a modification of rinfo uses: the owner of
 * a view it goes through, else the current user.  A row routed to a
 * partition has no range table entry of its own; the root's says.
 */
static inline Oid
cd_result_rel_user(ResultRelInfo *rinfo, EState *estate)
{
#if PG_VERSION_NUM >= 160000
	return ExecGetResultRelCheckAsUser(rinfo, estate);
#else
	Index		rti = rinfo->ri_RangeTableIndex;
	RangeTblEntry *rte;

	if (rti == 0 && rinfo->ri_RootResultRelInfo)
		rti = rinfo->ri_RootResultRelInfo->ri_RangeTableIndex;
	if (rti == 0)
		return GetUserId();
	rte = exec_rt_fetch(rti, estate);
	return OidIsValid(rte->checkAsUser) ? rte->checkAsUser : GetUserId();
#endif
}

/*
 * The user a foreign scan runs as (the view owner's under a view).  16 moved
 * checkAsUser from the range table entry to the plan node.
 */
static inline Oid
cd_scan_user(ForeignScanState *node)
{
	ForeignScan *plan = (ForeignScan *) node->ss.ps.plan;
#if PG_VERSION_NUM >= 160000
	Oid			user = plan->checkAsUser;
#else
	Oid			user = exec_rt_fetch(plan->scan.scanrelid,
									 node->ss.ps.state)->checkAsUser;
#endif

	return OidIsValid(user) ? user : GetUserId();
}

/*
 * create_foreignscan_path() with 18's disabled_nodes (the number of
 * disabled nodes of the path; ignored before 18, where a disabled path
 * only costs more) and without 17's fdw_restrictinfo (RestrictInfos of a
 * pushed-down join), which the wrapper leaves empty.
 */
static inline ForeignPath *
cd_create_foreignscan_path(PlannerInfo *root, RelOptInfo *rel,
						   PathTarget *target, double rows,
						   int disabled_nodes, Cost startup_cost,
						   Cost total_cost, List *pathkeys,
						   Relids required_outer, Path *fdw_outerpath,
						   List *fdw_private)
{
#if PG_VERSION_NUM >= 180000
	return create_foreignscan_path(root, rel, target, rows, disabled_nodes,
								   startup_cost, total_cost, pathkeys,
								   required_outer, fdw_outerpath, NIL,
								   fdw_private);
#elif PG_VERSION_NUM >= 170000
	return create_foreignscan_path(root, rel, target, rows, startup_cost,
								   total_cost, pathkeys, required_outer,
								   fdw_outerpath, NIL, fdw_private);
#else
	return create_foreignscan_path(root, rel, target, rows, startup_cost,
								   total_cost, pathkeys, required_outer,
								   fdw_outerpath, fdw_private);
#endif
}

/*
 * Run fn(arg); a data exception (SQLSTATE class 22) it raises returns
 * false with its message in *message (palloc'd in the caller's context),
 * any other error is thrown.  What 16's soft errors do for an input
 * function, for 15 and for calls that have none (encoding conversion).
 */
static inline bool
cd_catch_data_error(void (*fn) (void *arg), void *arg, char **message)
{
	MemoryContext cxt = CurrentMemoryContext;
	volatile bool ok = true;

	PG_TRY();
	{
		fn(arg);
	}
	PG_CATCH();
	{
		ErrorData  *edata;

		if (ERRCODE_TO_CATEGORY(geterrcode()) != ERRCODE_DATA_EXCEPTION)
			PG_RE_THROW();
		MemoryContextSwitchTo(cxt);
		edata = CopyErrorData();
		FlushErrorState();
		*message = edata->message;
		ok = false;
	}
	PG_END_TRY();
	return ok;
}

#if PG_VERSION_NUM < 160000
typedef struct CdInputCall
{
	FmgrInfo   *flinfo;
	char	   *str;
	Oid			typioparam;
	int32		typmod;
	Datum		result;
} CdInputCall;

static inline void
cd_input_call(void *arg)
{
	CdInputCall *call = arg;

	call->result = InputFunctionCall(call->flinfo, call->str,
									 call->typioparam, call->typmod);
}
#endif

/*
 * Convert str with a type's input function.  A value the type refuses
 * returns false with the type's message in *message (palloc'd in the
 * current context); any other error (cancel, out of memory) is thrown.
 * 16 and later: the input function's soft errors.  15: the error caught
 * (cd_catch_data_error).
 */
static inline bool
cd_input_value(FmgrInfo *flinfo, char *str, Oid typioparam, int32 typmod,
			   Datum *result, char **message)
{
#if PG_VERSION_NUM >= 160000
	ErrorSaveContext escontext = {T_ErrorSaveContext};

	escontext.details_wanted = true;
	if (InputFunctionCallSafe(flinfo, str, typioparam, typmod,
							  (Node *) &escontext, result))
		return true;
	*message = escontext.error_data->message;
	return false;
#else
	CdInputCall call = {flinfo, str, typioparam, typmod, (Datum) 0};

	if (!cd_catch_data_error(cd_input_call, &call, message))
		return false;
	*result = call.result;
	return true;
#endif
}

/*
 * The outer side made distinct, for a semi-join done as an inner join;
 * NULL where create_unique_path() is gone (after 18).
 */
static inline Path *
cd_unique_path(PlannerInfo *root, RelOptInfo *rel, Path *path,
			   SpecialJoinInfo *sjinfo)
{
#if PG_VERSION_NUM < 190000
	return (Path *) create_unique_path(root, rel, path, sjinfo);
#else
	return NULL;
#endif
}

#endif							/* CANDIDATE_DOCS_COMPAT_H */
