/*-------------------------------------------------------------------------
 *
 * candidate_docs.c
 *		  Module entry points: the FDW handler, settings, libcurl start-up
 *		  the shared budget's memory and the deliverers.
 *
 *-------------------------------------------------------------------------
 */
#include "candidate_docs.h"

#include "utils/guc.h"

PG_MODULE_MAGIC;

PG_FUNCTION_INFO_V1(candidate_docs_fdw_handler);

void		_PG_init(void);

void
_PG_init(void)
{
	if (curl_global_init(CURL_GLOBAL_ALL) != CURLE_OK)
		ereport(ERROR,
				(errcode(ERRCODE_INTERNAL_ERROR),
				 errmsg("could not initialize libcurl")));

	DefineCustomIntVariable("candidate_docs.rescan_cache_size",
							"Memory a rescanned scan may use to keep listings it already read.",
							"Inner side of a nested loop: an outer candidate id seen before is "
							"answered from memory. 0 turns the cache off.",
							&cd_rescan_cache_kb,
							8192, 0, INT_MAX / 1024,
							PGC_USERSET, GUC_UNIT_KB,
							NULL, NULL, NULL);
	DefineCustomBoolVariable("candidate_docs.enable_batched_join",
							 "Lets the planner read the outer side of a join to a candidate_docs table in batches.",
							 "The requests of a batch's candidate ids are sent concurrently.",
							 &cd_enable_batched_join,
							 true,
							 PGC_USERSET, 0,
							 NULL, NULL, NULL);
	DefineCustomBoolVariable("candidate_docs.delivery_worker",
							 "Runs the background deliverers of the outbox.",
							 "Needs candidate_docs in shared_preload_libraries. Off: queued "
							 "writes wait for candidate_docs.deliver().",
							 &cd_delivery_worker,
							 true,
							 PGC_SIGHUP, 0,
							 NULL, NULL, NULL);
	cd_outbox_init();
	cd_deliver_init();
	cd_joinpath_init();
	cd_joinexec_init();
	cd_budget_init();
	cd_stats_init();
	cd_http_init();
	cd_activity_init();
	cd_worker_init();
	cd_worker_ddl_init();
	cd_launcher_register();
	MarkGUCPrefixReserved("candidate_docs");
}

/*
 * The FDW handler: the callbacks of SELECT, INSERT and IMPORT.
 */
Datum
candidate_docs_fdw_handler(PG_FUNCTION_ARGS)
{
	FdwRoutine *routine = makeNode(FdwRoutine);

	routine->GetForeignRelSize = cdGetForeignRelSize;
	routine->GetForeignPaths = cdGetForeignPaths;
	routine->GetForeignPlan = cdGetForeignPlan;
	routine->BeginForeignScan = cdBeginForeignScan;
	routine->IterateForeignScan = cdIterateForeignScan;
	routine->ReScanForeignScan = cdReScanForeignScan;
	routine->EndForeignScan = cdEndForeignScan;
	routine->ExplainForeignScan = cdExplainForeignScan;

	routine->IsForeignRelUpdatable = cdIsForeignRelUpdatable;
	routine->PlanForeignModify = cdPlanForeignModify;
	routine->BeginForeignModify = cdBeginForeignModify;
	routine->ExecForeignInsert = cdExecForeignInsert;
	routine->EndForeignModify = cdEndForeignModify;
	routine->BeginForeignInsert = cdBeginForeignInsert;
	routine->EndForeignInsert = cdEndForeignModify;
	routine->ExplainForeignModify = cdExplainForeignModify;

	routine->ImportForeignSchema = cdImportForeignSchema;

	PG_RETURN_POINTER(routine);
}
