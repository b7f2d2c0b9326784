/*
 * progress.c
 *		Progress of long work (the refresh, and later the affinity run and
 *		the tier review), readable from any session while it runs.
 *
 * The run's own transaction is not committed until it ends, so no table
 * can show its progress.  PostgreSQL's pg_stat_progress_* slot of the
 * backend would, but ANALYZE and CREATE INDEX inside the run take it over
 * and clear it, and a borrowed command type would show the run as a
 * phantom VACUUM.  Instead each reporting session keeps its progress in a
 * small dynamic shared memory segment of its own and makes the segment
 * findable by holding a session advisory lock whose key carries the
 * segment's handle (pg_locks lists it; see RCRM_PROGRESS_LOCK_KEY).  A
 * reader walks the granted advisory locks of the database with that key,
 * attaches each segment, copies it under its spinlock and detaches.
 *
 * A segment stays with its session from the first report to the session's
 * end; "active" says whether a run is in progress.  An aborted transaction
 * clears it, so a run that fails without reaching progress_finish never
 * shows as running.
 */
#include "retail_crm.h"

#include "access/xact.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "storage/dsm.h"
#include "storage/lock.h"
#include "storage/spin.h"
#include "utils/builtins.h"
#include "utils/timestamp.h"
#include "utils/tuplestore.h"

/*
 * The advisory lock key of a progress segment: field2 this constant
 * ("RCPR"), field3 the segment handle, field4 a subtype that the SQL
 * advisory lock functions never use (they use 1 and 2).
 */
#define RCRM_PROGRESS_LOCK_KEY	0x52435052
#define RCRM_PROGRESS_LOCK_SUBTYPE 7
#define RCRM_PROGRESS_MAGIC		0x52435047	/* checked on attach */
#define RCRM_PROGRESS_NAME_LEN	64
#define RCRM_PROGRESS_NATTS		10

typedef struct WorkProgress
{
	uint32		magic;
	slock_t		mutex;			/* protects everything below */
	bool		active;
	int32		pid;
	char		command[RCRM_PROGRESS_NAME_LEN];
	char		stage[RCRM_PROGRESS_NAME_LEN];
	int64		run_id;
	int32		stage_number;
	int32		stages;
	int64		rows_done;		/* -1: not known */
	int64		rows_expected;	/* -1: not known */
	TimestampTz started_at;
	TimestampTz stage_started_at;
} WorkProgress;

/* This session's segment, once it reported. */
static WorkProgress *my_progress = NULL;

/* Rows progress_count saw in this stage and has not yet published. */
static int64 uncounted_rows = 0;

/* How often progress_count publishes: rarely enough to cost nothing. */
#define RCRM_PROGRESS_COUNT_BATCH 4096

/* This session's run, if any, is over. */
static void
EndMyProgress(void)
{
	if (my_progress != NULL)
	{
		SpinLockAcquire(&my_progress->mutex);
		my_progress->active = false;
		SpinLockRelease(&my_progress->mutex);
	}
}

static void
ProgressAbortCallback(XactEvent event, void *arg)
{
	if (event == XACT_EVENT_ABORT || event == XACT_EVENT_PARALLEL_ABORT)
		EndMyProgress();
}

static void
SetProgressLockTag(LOCKTAG *tag, dsm_handle handle)
{
	SET_LOCKTAG_ADVISORY(*tag, MyDatabaseId, RCRM_PROGRESS_LOCK_KEY,
						 (uint32) handle, RCRM_PROGRESS_LOCK_SUBTYPE);
}

/* This session's segment, created, pinned and announced on first use. */
static WorkProgress *
MyProgress(void)
{
	dsm_segment *segment;
	LOCKTAG		tag;

	if (my_progress != NULL)
		return my_progress;

	segment = dsm_create(sizeof(WorkProgress), 0);
	dsm_pin_mapping(segment);
	my_progress = dsm_segment_address(segment);
	memset(my_progress, 0, sizeof(WorkProgress));
	my_progress->magic = RCRM_PROGRESS_MAGIC;
	my_progress->pid = MyProcPid;
	SpinLockInit(&my_progress->mutex);

	SetProgressLockTag(&tag, dsm_segment_handle(segment));
	(void) LockAcquire(&tag, ExclusiveLock, true, false);
	RegisterXactCallback(ProgressAbortCallback, NULL);
	return my_progress;
}

/* A text argument that must be given, as a name of bounded length. */
static void
ProgressNameArg(FunctionCallInfo fcinfo, int argno, const char *what, char *target)
{
	char	   *value;

	if (PG_ARGISNULL(argno))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("%s must not be NULL", what),
				 errhint("Name the work and its stages briefly, such as 'full refresh' and 'facts'.")));
	value = text_to_cstring(PG_GETARG_TEXT_PP(argno));
	if (value[0] == '\0' || strlen(value) >= RCRM_PROGRESS_NAME_LEN)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s must have 1 to %d bytes, not %zu", what,
						RCRM_PROGRESS_NAME_LEN - 1, strlen(value)),
				 errhint("Name the work and its stages briefly, such as 'full refresh' and 'facts'.")));
	strlcpy(target, value, RCRM_PROGRESS_NAME_LEN);
	pfree(value);
}

/* A count argument: NULL for not known, else at least 0. */
static int64
ProgressCountArg(FunctionCallInfo fcinfo, int argno, const char *what)
{
	int64		count;

	if (PG_ARGISNULL(argno))
		return -1;
	count = PG_GETARG_INT64(argno);
	if (count < 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s must not be negative, not " INT64_FORMAT, what, count),
				 errhint("Pass NULL when the number is not known.")));
	return count;
}

/*
 * progress_start(command, run_id, stages): a run begins; its first stage is
 * reported by progress_stage.
 */
PG_FUNCTION_INFO_V1(progress_start);
Datum
progress_start(PG_FUNCTION_ARGS)
{
	WorkProgress *progress;
	char		command[RCRM_PROGRESS_NAME_LEN];
	int64		run_id;
	int32		stages;

	ProgressNameArg(fcinfo, 0, "command", command);
	if (PG_ARGISNULL(1) || PG_ARGISNULL(2))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("run_id and stages must not be NULL"),
				 errhint("Pass the run's number and how many stages it has.")));
	run_id = PG_GETARG_INT64(1);
	stages = PG_GETARG_INT32(2);
	if (stages < 1)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("stages must be at least 1, not %d", stages),
				 errhint("Pass how many stages the run has.")));

	progress = MyProgress();
	SpinLockAcquire(&progress->mutex);
	progress->active = true;
	memcpy(progress->command, command, sizeof(command));
	progress->stage[0] = '\0';
	progress->run_id = run_id;
	progress->stage_number = 0;
	progress->stages = stages;
	progress->rows_done = -1;
	progress->rows_expected = -1;
	progress->started_at = GetCurrentTimestamp();
	progress->stage_started_at = progress->started_at;
	SpinLockRelease(&progress->mutex);
	PG_RETURN_VOID();
}

/* The running progress of this session, or an error. */
static WorkProgress *
ActiveProgress(void)
{
	bool		active = false;

	if (my_progress != NULL)
	{
		SpinLockAcquire(&my_progress->mutex);
		active = my_progress->active;
		SpinLockRelease(&my_progress->mutex);
	}
	if (!active)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("no work is in progress in this session"),
				 errhint("Call crm.progress_start first.")));
	return my_progress;
}

/*
 * progress_stage(stage_number, stage, rows_expected): the run enters a
 * stage; rows done start at 0.
 */
PG_FUNCTION_INFO_V1(progress_stage);
Datum
progress_stage(PG_FUNCTION_ARGS)
{
	WorkProgress *progress = ActiveProgress();
	char		stage[RCRM_PROGRESS_NAME_LEN];
	int32		stage_number;
	int64		rows_expected;

	if (PG_ARGISNULL(0))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("stage_number must not be NULL"),
				 errhint("Number the stages of a run from 1.")));
	stage_number = PG_GETARG_INT32(0);
	ProgressNameArg(fcinfo, 1, "stage", stage);
	rows_expected = ProgressCountArg(fcinfo, 2, "rows_expected");
	if (stage_number < 1 || stage_number > progress->stages)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("stage_number must be between 1 and %d, not %d",
						progress->stages, stage_number),
				 errhint("Number the stages of a run from 1 to the stages given to crm.progress_start.")));

	SpinLockAcquire(&progress->mutex);
	memcpy(progress->stage, stage, sizeof(stage));
	progress->stage_number = stage_number;
	progress->rows_done = 0;
	progress->rows_expected = rows_expected;
	progress->stage_started_at = GetCurrentTimestamp();
	SpinLockRelease(&progress->mutex);
	uncounted_rows = 0;
	PG_RETURN_VOID();
}

/*
 * progress_count(value): value, unchanged; counts it as a row done in the
 * current stage.  A query marks the rows it works through by passing one
 * of their columns through it.  Without a run in progress (or in a
 * parallel worker, which reports nothing) it only returns its argument.
 */
PG_FUNCTION_INFO_V1(progress_count);
Datum
progress_count(PG_FUNCTION_ARGS)
{
	/* only this backend writes its segment: reading active needs no lock */
	if (my_progress != NULL && my_progress->active &&
		++uncounted_rows >= RCRM_PROGRESS_COUNT_BATCH)
	{
		SpinLockAcquire(&my_progress->mutex);
		my_progress->rows_done = Max(my_progress->rows_done, 0) + uncounted_rows;
		SpinLockRelease(&my_progress->mutex);
		uncounted_rows = 0;
	}
	PG_RETURN_DATUM(PG_GETARG_DATUM(0));
}

/* progress_rows(rows_done): rows of the current stage done so far. */
PG_FUNCTION_INFO_V1(progress_rows);
Datum
progress_rows(PG_FUNCTION_ARGS)
{
	WorkProgress *progress = ActiveProgress();
	int64		rows_done = ProgressCountArg(fcinfo, 0, "rows_done");

	SpinLockAcquire(&progress->mutex);
	progress->rows_done = rows_done;
	SpinLockRelease(&progress->mutex);
	uncounted_rows = 0;
	PG_RETURN_VOID();
}

/* progress_finish(): the run is over (whatever its outcome). */
PG_FUNCTION_INFO_V1(progress_finish);
Datum
progress_finish(PG_FUNCTION_ARGS)
{
	EndMyProgress();
	PG_RETURN_VOID();
}

/*
 * progress_entries(): one row per run in progress in this database, from
 * the segments the advisory locks point to.  A segment whose session ended
 * between the lock scan and the attach is skipped.
 */
PG_FUNCTION_INFO_V1(progress_entries);
Datum
progress_entries(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	LockData   *locks;
	int			i;

	InitMaterializedSRF(fcinfo, 0);
	locks = GetLockStatusData();
	for (i = 0; i < locks->nelements; i++)
	{
		const LOCKTAG *tag = &locks->locks[i].locktag;
		dsm_segment *segment;
		WorkProgress copy;
		Datum		values[RCRM_PROGRESS_NATTS];
		bool		nulls[RCRM_PROGRESS_NATTS] = {0};

		if (tag->locktag_type != LOCKTAG_ADVISORY ||
			tag->locktag_field1 != MyDatabaseId ||
			tag->locktag_field2 != RCRM_PROGRESS_LOCK_KEY ||
			tag->locktag_field4 != RCRM_PROGRESS_LOCK_SUBTYPE ||
			locks->locks[i].holdMask == 0)
			continue;

		if (my_progress != NULL && locks->locks[i].pid == MyProcPid)
		{
			SpinLockAcquire(&my_progress->mutex);
			copy = *my_progress;
			SpinLockRelease(&my_progress->mutex);
		}
		else
		{
			segment = dsm_attach((dsm_handle) tag->locktag_field3);
			if (segment == NULL)
				continue;
			if (dsm_segment_map_length(segment) < sizeof(WorkProgress))
			{
				dsm_detach(segment);
				continue;
			}
			{
				WorkProgress *shared = dsm_segment_address(segment);

				if (shared->magic != RCRM_PROGRESS_MAGIC)
				{
					dsm_detach(segment);
					continue;
				}
				SpinLockAcquire(&shared->mutex);
				copy = *shared;
				SpinLockRelease(&shared->mutex);
			}
			dsm_detach(segment);
		}
		if (!copy.active)
			continue;

		values[0] = Int32GetDatum(copy.pid);
		values[1] = CStringGetTextDatum(copy.command);
		values[2] = Int64GetDatum(copy.run_id);
		values[3] = CStringGetTextDatum(copy.stage);
		nulls[3] = copy.stage_number == 0;
		values[4] = Int32GetDatum(copy.stage_number);
		values[5] = Int32GetDatum(copy.stages);
		values[6] = Int64GetDatum(copy.rows_done);
		nulls[6] = copy.rows_done < 0;
		values[7] = Int64GetDatum(copy.rows_expected);
		nulls[7] = copy.rows_expected < 0;
		values[8] = TimestampTzGetDatum(copy.started_at);
		values[9] = TimestampTzGetDatum(copy.stage_started_at);
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	return (Datum) 0;
}
