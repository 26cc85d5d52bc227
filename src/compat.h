/*-------------------------------------------------------------------------
 *
 * compat.h
 *		  What differs between the PostgreSQL versions candidate_docs
 *		  builds on, behind one name each.
 *
 *-------------------------------------------------------------------------
 */
#ifndef CD_COMPAT_H
#define CD_COMPAT_H

#include "catalog/pg_foreign_server.h"
#include "executor/executor.h"
#include "miscadmin.h"
#include "utils/acl.h"

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

#endif							/* CD_COMPAT_H */
