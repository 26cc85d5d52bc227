/*-------------------------------------------------------------------------
 *
 * compat.h
 *		  What differs between the PostgreSQL releases candidate_docs
 *		  builds on, behind version guards.
 *
 *-------------------------------------------------------------------------
 */
#ifndef CANDIDATE_DOCS_COMPAT_H
#define CANDIDATE_DOCS_COMPAT_H

#include "catalog/pg_foreign_server.h"
#include "executor/executor.h"
#include "miscadmin.h"
#include "utils/acl.h"
#include "utils/wait_event.h"

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

/*
 * Shared memory is requested from shmem_request_hook on 15 and later, from
 * _PG_init itself before.
 */
#if PG_VERSION_NUM >= 150000
#define CD_HAVE_SHMEM_REQUEST_HOOK 1
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


/* A set-returning function's tuplestore: InitMaterializedSRF() is 15's. */
#if PG_VERSION_NUM < 150000
#include "funcapi.h"
#include "miscadmin.h"
#include "utils/tuplestore.h"

static inline void
cd_init_materialized_srf(FunctionCallInfo fcinfo)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	TupleDesc	tupdesc;
	MemoryContext old;

	if (get_call_result_type(fcinfo, NULL, &tupdesc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "return type must be a row type");
	old = MemoryContextSwitchTo(rsinfo->econtext->ecxt_per_query_memory);
	rsinfo->returnMode = SFRM_Materialize;
	rsinfo->setResult = tuplestore_begin_heap(true, false, work_mem);
	rsinfo->setDesc = CreateTupleDescCopy(tupdesc);
	MemoryContextSwitchTo(old);
}
#define InitMaterializedSRF(fcinfo, flags) cd_init_materialized_srf(fcinfo)
#endif

#endif							/* CANDIDATE_DOCS_COMPAT_H */
