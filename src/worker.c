/*-------------------------------------------------------------------------
 *
 * worker.c
 *		  The background deliverers of the outbox: their table in shared
 *		  memory, the wake-up a COMMIT gives, and the deliverer process,
 *		  one per database that has the extension.
 *
 * With the library in shared_preload_libraries, one launcher (launcher.c)
 * starts a deliverer per database.  A deliverer connects to its database
 * as the bootstrap superuser and calls candidate_docs.deliver() in a
 * transaction of its own: again at once while a round did work, otherwise
 * after a wait on its latch of at most a second (so that the backoff time
 * of a retry is reached), cut short by a COMMIT that queued writes
 * (cd_worker_wake).  A database without the extension, or whose extension
 * has no deliver() (an older version), has no work: its deliverer exits
 * quietly and is started again when CREATE or ALTER EXTENSION commits
 * (worker_ddl.c) or a COMMIT queues a write.
 *
 * The table has one slot per database (CD_DELIVERER_SLOTS in all; a slot
 * takes a background worker only while its deliverer runs), under one
 * LWLock.  A slot holds the deliverer's pid and latch while it
 * runs, the wake flag, and what the launcher must know when it stops:
 * whether the extension was missing, and until when a database command
 * (DROP DATABASE, ...) holds it off.
 *
 *-------------------------------------------------------------------------
 */
#include "candidate_docs.h"

#include "access/xact.h"
#include "catalog/namespace.h"
#include "catalog/pg_type.h"
#include "commands/extension.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "postmaster/bgworker.h"
#include "postmaster/interrupt.h"
#include "storage/ipc.h"
#include "storage/latch.h"
#include "storage/lwlock.h"
#include "storage/proc.h"
#include "storage/shmem.h"
#include "tcop/tcopprot.h"
#include "utils/guc.h"
#include "utils/memutils.h"
#include "utils/snapmgr.h"

#define CD_DELIVER_SQL "SELECT delivered + failed > 0 FROM candidate_docs.deliver()"
#define CD_IDLE_WAIT_MS 1000	/* longest wait between rounds */
#define CD_ERROR_WAIT_MAX_MS 30000	/* longest wait after failed rounds */
#define CD_DELIVERER_SLOTS 1024	/* databases tracked (a slot takes no worker) */

/* candidate_docs.delivery_worker: the deliverers run (preload only) */
bool		cd_delivery_worker = true;

/* The table in shared memory; NULL without preload. */
CdDeliverers *cd_deliverers = NULL;

static shmem_request_hook_type prev_shmem_request_hook = NULL;
static shmem_startup_hook_type prev_shmem_startup_hook = NULL;

static uint32 wait_event_idle = 0;

static Size
deliverers_size(void)
{
	return add_size(offsetof(CdDeliverers, slots),
					mul_size(sizeof(CdDelivererSlot), CD_DELIVERER_SLOTS));
}

static void
deliverers_shmem_request(void)
{
	if (prev_shmem_request_hook)
		prev_shmem_request_hook();
	RequestAddinShmemSpace(MAXALIGN(deliverers_size()));
	RequestNamedLWLockTranche("candidate_docs deliverers", 1);
}

static void
deliverers_shmem_startup(void)
{
	bool		found;

	if (prev_shmem_startup_hook)
		prev_shmem_startup_hook();
	LWLockAcquire(AddinShmemInitLock, LW_EXCLUSIVE);
	cd_deliverers = ShmemInitStruct("candidate_docs deliverers",
									deliverers_size(), &found);
	if (!found)
	{
		memset(cd_deliverers, 0, deliverers_size());
		cd_deliverers->lock = &(GetNamedLWLockTranche("candidate_docs deliverers"))->lock;
		cd_deliverers->nslots = CD_DELIVERER_SLOTS;
	}
	LWLockRelease(AddinShmemInitLock);
}

/*
 * From _PG_init: ask for the table's shared memory when the library is
 * preloaded.
 */
void
cd_worker_init(void)
{
	if (!process_shared_preload_libraries_in_progress)
		return;
	prev_shmem_request_hook = shmem_request_hook;
	shmem_request_hook = deliverers_shmem_request;
	prev_shmem_startup_hook = shmem_startup_hook;
	shmem_startup_hook = deliverers_shmem_startup;
}

/*
 * The slot of database dbid, or NULL.  The caller holds the lock.
 */
CdDelivererSlot *
cd_deliverer_slot(Oid dbid)
{
	for (int i = 0; i < cd_deliverers->nslots; i++)
		if (cd_deliverers->slots[i].dbid == dbid)
			return &cd_deliverers->slots[i];
	return NULL;
}

/*
 * The slot of database dbid, taking a free one if it has none; NULL when
 * the table is full.  The caller holds the lock exclusively.
 */
CdDelivererSlot *
cd_deliverer_slot_claim(Oid dbid)
{
	CdDelivererSlot *slot = cd_deliverer_slot(dbid);

	if (slot != NULL)
		return slot;
	slot = cd_deliverer_slot(InvalidOid);
	if (slot != NULL)
	{
		memset(slot, 0, sizeof(*slot));
		slot->dbid = dbid;
	}
	return slot;
}

/*
 * Ask the launcher to look at the databases and slots again.  The caller
 * holds the lock exclusively.
 */
void
cd_deliverers_poke_launcher(void)
{
	cd_deliverers->rescan = true;
	if (cd_deliverers->launcher_latch != NULL)
		SetLatch(cd_deliverers->launcher_latch);
}

/*
 * Wake the deliverer of database dbid: called at COMMIT of a transaction
 * that queued writes, so it never fails and never waits but for the
 * lock.  Does nothing without preload.  A database whose deliverer had
 * stopped for want of the extension gets one again.
 */
void
cd_worker_wake(Oid dbid)
{
	CdDelivererSlot *slot;

	if (cd_deliverers == NULL)
		return;
	LWLockAcquire(cd_deliverers->lock, LW_EXCLUSIVE);
	slot = cd_deliverer_slot(dbid);
	if (slot != NULL)
	{
		slot->wake = true;
		slot->ext_epoch++;
		if (slot->latch != NULL)
			SetLatch(slot->latch);
		else if (slot->no_extension)
		{
			slot->no_extension = false;
			cd_deliverers_poke_launcher();
		}
	}
	else
		cd_deliverers_poke_launcher();
	LWLockRelease(cd_deliverers->lock);
}

/* ----------------------------------------------------------------
 * The deliverer process
 * ----------------------------------------------------------------
 */

typedef enum RoundResult
{
	ROUND_IDLE,					/* nothing delivered or failed */
	ROUND_WORK,					/* something delivered or failed: go again */
	ROUND_ERROR,				/* deliver() raised an error (logged) */
	ROUND_NO_EXTENSION			/* no extension, or no deliver() in it */
} RoundResult;

static int	my_slotno = -1;

/* on_shmem_exit: the slot no longer names this process. */
static void
deliverer_detach(int code, Datum arg)
{
	CdDelivererSlot *slot = &cd_deliverers->slots[my_slotno];

	if (LWLockHeldByMe(cd_deliverers->lock))
		LWLockRelease(cd_deliverers->lock);
	LWLockAcquire(cd_deliverers->lock, LW_EXCLUSIVE);
	if (slot->pid == MyProcPid)
	{
		slot->pid = 0;
		slot->latch = NULL;
	}
	if (cd_deliverers->launcher_latch != NULL)
		SetLatch(cd_deliverers->launcher_latch);
	LWLockRelease(cd_deliverers->lock);
}

/*
 * Take slot slotno for database dbid; false when this process must not
 * run: the slot went to another database, another deliverer has it, or
 * a database command holds it off.
 */
static bool
deliverer_attach(int slotno, Oid dbid)
{
	CdDelivererSlot *slot;
	bool		ok;

	if (cd_deliverers == NULL || slotno < 0 || slotno >= cd_deliverers->nslots)
		return false;
	slot = &cd_deliverers->slots[slotno];
	LWLockAcquire(cd_deliverers->lock, LW_EXCLUSIVE);
	ok = slot->dbid == dbid && slot->pid == 0 &&
		slot->held_until <= GetCurrentTimestamp();
	if (ok)
	{
		slot->pid = MyProcPid;
		slot->latch = MyLatch;
		my_slotno = slotno;
	}
	LWLockRelease(cd_deliverers->lock);
	if (ok)
		on_shmem_exit(deliverer_detach, (Datum) 0);
	return ok;
}

/*
 * Whether the database has the extension with a deliver() callable
 * without arguments.  In a transaction.
 */
static bool
deliver_available(void)
{
	List	   *name;

	if (!OidIsValid(get_extension_oid("candidate_docs", true)))
		return false;
	name = list_make2(makeString("candidate_docs"), makeString("deliver"));
	return FuncnameGetCandidates(name, 0, NIL, false, true, false, true) != NULL;
}

/*
 * Run deliver() once; true if it did work: it delivered or failed rows (a
 * row that will be retried counts as neither).
 */
static bool
deliver_once(void)
{
	int			ret = SPI_execute(CD_DELIVER_SQL, false, 0);
	bool		isnull;
	Datum		did_work;

	if (ret != SPI_OK_SELECT || SPI_processed != 1 ||
		SPI_tuptable->tupdesc->natts != 1 ||
		TupleDescAttr(SPI_tuptable->tupdesc, 0)->atttypid != BOOLOID)
		elog(ERROR, "%s: unexpected result", CD_DELIVER_SQL);
	did_work = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1,
							 &isnull);
	return !isnull && DatumGetBool(did_work);
}

/* One round in a transaction of its own; errors propagate. */
static RoundResult
round_in_transaction(void)
{
	RoundResult result;

	SetCurrentStatementStartTimestamp();
	StartTransactionCommand();
	SPI_connect();
	PushActiveSnapshot(GetTransactionSnapshot());
	pgstat_report_activity(STATE_RUNNING, CD_DELIVER_SQL);
	if (!deliver_available())
		result = ROUND_NO_EXTENSION;
	else
		result = deliver_once() ? ROUND_WORK : ROUND_IDLE;
	SPI_finish();
	PopActiveSnapshot();
	CommitTransactionCommand();
	return result;
}

/* Whether deliver() is still there, in a transaction of its own. */
static bool
deliver_still_available(void)
{
	bool		available;

	StartTransactionCommand();
	PushActiveSnapshot(GetTransactionSnapshot());
	available = deliver_available();
	PopActiveSnapshot();
	CommitTransactionCommand();
	return available;
}

/*
 * One round of delivery.  An error is caught and logged as a WARNING,
 * unless the extension went away meanwhile (DROP EXTENSION): that ends
 * the deliverer quietly.  Runs in cxt, reset by the caller.
 */
static RoundResult
deliverer_round(MemoryContext cxt)
{
	volatile RoundResult result = ROUND_ERROR;

	PG_TRY();
	{
		result = round_in_transaction();
	}
	PG_CATCH();
	{
		ErrorData  *edata;

		MemoryContextSwitchTo(cxt);
		edata = CopyErrorData();
		FlushErrorState();
		AbortCurrentTransaction();
		if (!deliver_still_available())
			result = ROUND_NO_EXTENSION;
		else
		{
			edata->elevel = WARNING;
			ThrowErrorData(edata);
			result = ROUND_ERROR;
		}
	}
	PG_END_TRY();
	pgstat_report_stat(false);
	pgstat_report_activity(STATE_IDLE, NULL);
	return result;
}

/*
 * The slot's extension epoch; a wake or CREATE EXTENSION after it was
 * read means a missing extension may be there now.  *woken says whether a
 * COMMIT queued writes since the flag was last cleared; clear clears it.
 */
static uint64
deliverer_epoch(bool clear, bool *woken)
{
	CdDelivererSlot *slot = &cd_deliverers->slots[my_slotno];
	uint64		epoch;

	LWLockAcquire(cd_deliverers->lock, LW_EXCLUSIVE);
	epoch = slot->ext_epoch;
	if (woken != NULL)
		*woken = slot->wake;
	if (clear)
		slot->wake = false;
	LWLockRelease(cd_deliverers->lock);
	return epoch;
}

/*
 * End quietly: the database has no deliver().  The launcher starts a
 * deliverer again when CREATE or ALTER EXTENSION commits, unless one did
 * since the round began (then at once).
 */
static pg_noreturn void
deliverer_exit_no_extension(uint64 epoch)
{
	CdDelivererSlot *slot = &cd_deliverers->slots[my_slotno];

	LWLockAcquire(cd_deliverers->lock, LW_EXCLUSIVE);
	slot->no_extension = (slot->ext_epoch == epoch);
	LWLockRelease(cd_deliverers->lock);
	proc_exit(0);
}

/* Between rounds: the setting is read again; off ends the deliverer. */
static void
deliverer_check_config(void)
{
	if (ConfigReloadPending)
	{
		ConfigReloadPending = false;
		ProcessConfigFile(PGC_SIGHUP);
	}
	if (!cd_delivery_worker)
		proc_exit(0);
}

static pg_noreturn void
deliverer_loop(void)
{
	MemoryContext cxt = AllocSetContextCreate(TopMemoryContext,
											  "candidate_docs deliverer",
											  ALLOCSET_DEFAULT_SIZES);
	int			error_wait = 0;

	for (;;)
	{
		uint64		epoch;
		RoundResult result;
		bool		woken;

		CHECK_FOR_INTERRUPTS();
		deliverer_check_config();
		epoch = deliverer_epoch(true, NULL);
		MemoryContextSwitchTo(cxt);
		result = deliverer_round(cxt);
		MemoryContextSwitchTo(TopMemoryContext);
		MemoryContextReset(cxt);
		if (result == ROUND_NO_EXTENSION)
			deliverer_exit_no_extension(epoch);
		if (result == ROUND_ERROR)
			error_wait = Min(Max(error_wait * 2, CD_IDLE_WAIT_MS), CD_ERROR_WAIT_MAX_MS);
		else
			error_wait = 0;
		if (result == ROUND_WORK)
			continue;
		/* writes committed during the round: another at once */
		(void) deliverer_epoch(false, &woken);
		if (woken && result == ROUND_IDLE)
			continue;
		(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
						 error_wait > 0 ? error_wait : CD_IDLE_WAIT_MS,
						 cd_wait_event(&wait_event_idle, "CandidateDocsDelivererIdle"));
		ResetLatch(MyLatch);
	}
}

/*
 * Entry point of a deliverer (started by the launcher): main_arg is its
 * slot, bgw_extra its database.  SIGTERM is die(): a deliver() call in
 * progress ends at its next interrupt check, within a second.
 */
void
cd_deliverer_main(Datum main_arg)
{
	Oid			dbid;

	memcpy(&dbid, MyBgworkerEntry->bgw_extra, sizeof(Oid));
	pqsignal(SIGTERM, die);
	pqsignal(SIGHUP, SignalHandlerForConfigReload);
	BackgroundWorkerUnblockSignals();
	if (!cd_delivery_worker || !deliverer_attach(DatumGetInt32(main_arg), dbid))
		proc_exit(0);
	BackgroundWorkerInitializeConnectionByOid(dbid, InvalidOid, 0);
	pgstat_report_appname("candidate_docs deliverer");
	deliverer_loop();
}
