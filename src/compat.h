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

/* USAGE on a foreign server: one ACL check function per object kind before 16. */
#if PG_VERSION_NUM >= 160000
#define cd_server_aclcheck(serverid, roleid, mode) \
	object_aclcheck(ForeignServerRelationId, (serverid), (roleid), (mode))
#else
#define cd_server_aclcheck(serverid, roleid, mode) \
	pg_foreign_server_aclcheck((serverid), (roleid), (mode))
#endif

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
