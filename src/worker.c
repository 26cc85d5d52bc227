/*-------------------------------------------------------------------------
 *
 * worker.c
 *		  The background deliverers of the outbox: a launcher and one
 *		  worker per database that has the extension.
 *
 *-------------------------------------------------------------------------
 */
#include "candidate_docs.h"

/* candidate_docs.delivery_worker: the deliverers run (preload only) */
bool		cd_delivery_worker = true;

/*
 * Wake the deliverer of database dbid: called at COMMIT of a transaction
 * that queued writes.  Does nothing when no deliverer runs.
 */
void
cd_worker_wake(Oid dbid)
{
}
