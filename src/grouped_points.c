/*-------------------------------------------------------------------------
 *
 * grouped_points.c
 *	  A bytea aggregate state of distinct weighted tuples, shared by the
 *	  model fits (crm.bgnbd_fit, crm.mbgnbd_fit, crm.pareto_nbd_fit and
 *	  crm.gamma_gamma_fit).
 *
 * The likelihoods of the models depend on a customer only through a short
 * tuple ((x, t_x, T) or (x, zbar)), and in real data, counted in whole days
 * or weeks, many customers share one.  The state therefore keeps each
 * distinct tuple once with its count, which makes the state and the fit
 * O(distinct tuples) rather than O(customers).
 *
 * Like customer_facts, the state is a plain bytea rather than internal, so
 * that it can travel between parallel workers and Citus nodes
 * (bytea_state.h); it is
 * self-describing (magic, version, kind, capacity) and validated before use:
 * cheaply on every row inside the aggregate, fully (every point) when it
 * comes from outside, where a malformed state raises 22P03.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <math.h>

#include "common/int.h"
#include "fmgr.h"
#include "utils/memutils.h"

#include "bytea_state.h"
#include "grouped_points.h"
#include "retail_crm.h"

#define GP_STATE_MAGIC		0x4750	/* "GP" */
#define GP_STATE_VERSION	1
#define GP_HEADER_SIZE		offsetof(GroupedPoints, points)
#define GP_STATE_SIZE(cap)	(GP_HEADER_SIZE + (Size) (cap) * sizeof(GroupedPoint))
#define GP_INITIAL_POINTS	16
#define GP_MAX_POINTS		((int32) ((MaxAllocSize - GP_HEADER_SIZE) / sizeof(GroupedPoint)))

StaticAssertDecl(offsetof(GroupedPoints, points) == 40,
				 "grouped points state header must have no padding");
StaticAssertDecl(sizeof(GroupedPoint) == 32,
				 "grouped point must have no padding");
StaticAssertDecl(offsetof(GroupedPoints, magic) == offsetof(ByteaStateHeader, magic) &&
				 offsetof(GroupedPoints, version) == offsetof(ByteaStateHeader, version),
				 "grouped points state must start with a bytea state header");

/* Coordinates used by a kind of state, 0 for an unknown kind. */
static int
KindDims(int kind)
{
	switch (kind)
	{
		case GP_KIND_BGNBD:
		case GP_KIND_MBGNBD:
		case GP_KIND_PARETO_NBD:
			return 3;
		case GP_KIND_GAMMA_GAMMA:
			return 2;
	}
	return 0;
}

/* SQL name of the aggregate that builds a kind of state, for messages. */
static const char *
KindName(int kind)
{
	switch (kind)
	{
		case GP_KIND_BGNBD:
			return "bgnbd_fit";
		case GP_KIND_MBGNBD:
			return "mbgnbd_fit";
		case GP_KIND_PARETO_NBD:
			return "pareto_nbd_fit";
	}
	return "gamma_gamma_fit";
}

/*
 * Whether a point could have been stored by the aggregate of its kind: the
 * transition functions check rows with the same rules (and ereport), so a
 * point failing here was not made by us.
 */
static bool
PointIsValid(int kind, const GroupedPoint *point)
{
	const double *v = point->v;
	int			i;

	for (i = 0; i < GP_MAX_DIMS; i++)
		if (isnan(v[i]) || isinf(v[i]))
			return false;
	if (point->count <= 0)
		return false;
	if (v[0] < 0 || v[0] != floor(v[0]) || v[0] > BTYD_MAX_FREQUENCY)
		return false;
	if (KindDims(kind) == 3)
		return v[1] >= 0 && v[1] <= v[2];
	/* Gamma-Gamma stores repeat customers with a positive mean spend only */
	return v[0] >= 1 && v[1] > 0 && v[2] == 0;
}

/* Lexicographic order of points; -0 never occurs (normalised on input). */
static int
ComparePoints(const void *pa, const void *pb)
{
	const GroupedPoint *a = (const GroupedPoint *) pa;
	const GroupedPoint *b = (const GroupedPoint *) pb;
	int			i;

	for (i = 0; i < GP_MAX_DIMS; i++)
	{
		if (a->v[i] < b->v[i])
			return -1;
		if (a->v[i] > b->v[i])
			return 1;
	}
	return 0;
}

/* Overflow of a row count. */
static inline void
CheckCountAdd(int64 a, int64 b, int64 *result)
{
	if (unlikely(pg_add_s64_overflow(a, b, result)))
		ereport(ERROR,
				(errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE),
				 errmsg("model fit row count is out of range"),
				 errhint("Fit the model on fewer rows, for example on a sample.")));
}

/*
 * Describe what is wrong with a state, or return NULL.  The cheap checks
 * are what memory safety needs; "full" adds the O(npoints) ones.
 */
static const char *
GroupedPointsProblem(const GroupedPoints *state, Size size, int kind, bool full)
{
	int64		rows = 0;
	int32		i;
	const char *problem;

	problem = ByteaStateHeaderProblem(state, size, GP_HEADER_SIZE,
									  GP_STATE_MAGIC, GP_STATE_VERSION);
	if (problem != NULL)
		return problem;
	if (state->kind != kind || state->ndims != KindDims(kind))
		return "The state belongs to another aggregate.";
	problem = ByteaStateCapacityProblem(state->capacity, size, GP_HEADER_SIZE,
										sizeof(GroupedPoint), GP_MAX_POINTS);
	if (problem != NULL)
		return problem;
	if (state->npoints < 0 || state->npoints > state->capacity ||
		state->nsorted < 0 || state->nsorted > state->npoints)
		return "The state holds more points than its capacity.";
	if (state->rows < 0 || state->skipped < 0)
		return "The state has a negative counter.";
	if (!full)
		return NULL;

	for (i = 0; i < state->npoints; i++)
	{
		if (!PointIsValid(kind, &state->points[i]))
			return "The state has a point that its aggregate does not accept.";
		if (pg_add_s64_overflow(rows, state->points[i].count, &rows))
			return "The state's point counts overflow.";
		if (i > 0 && i < state->nsorted &&
			ComparePoints(&state->points[i - 1], &state->points[i]) >= 0)
			return "The state's sorted points are not strictly increasing.";
	}
	if (rows != state->rows)
		return "The state's row count differs from the sum of its point counts.";
	for (i = state->npoints; i < state->capacity; i++)
	{
		static const GroupedPoint zero;

		if (memcmp(&state->points[i], &zero, sizeof(GroupedPoint)) != 0)
			return "The state's spare slots are not zeroed.";
	}
	return NULL;
}

/* Full invariant check of a state we built: a failure is a bug here. */
static inline void
AssertCheckGroupedPoints(const GroupedPoints *state)
{
#ifdef USE_ASSERT_CHECKING
	const char *problem = GroupedPointsProblem(state, VARSIZE(state),
											   state->kind, true);

	if (problem != NULL)
		elog(ERROR, "grouped points state invariant violated: %s", problem);
#endif
}

/* Validate a state that came from outside; 22P03 if it is malformed. */
static inline void
CheckGroupedPoints(const GroupedPoints *state, Size size, int kind, bool full)
{
	const char *problem = GroupedPointsProblem(state, size, kind, full);

	if (problem != NULL)
		ReportInvalidByteaState(KindName(kind), problem,
								psprintf("the transition or combine function of crm.%s",
										 KindName(kind)));
}

/* A new, empty state with room for capacity points. */
static GroupedPoints *
NewGroupedPoints(int kind, int32 capacity)
{
	GroupedPoints *state = NewByteaState(GP_STATE_SIZE(capacity),
										 GP_STATE_MAGIC, GP_STATE_VERSION);

	state->kind = kind;
	state->ndims = KindDims(kind);
	state->capacity = capacity;
	return state;
}

/* A copy of src with room for capacity (>= src->npoints) points. */
static GroupedPoints *
CopyGroupedPoints(const GroupedPoints *src, int32 capacity)
{
	GroupedPoints *state;

	Assert(capacity >= src->npoints);
	state = CopyGrowableState(src, GP_STATE_SIZE(src->npoints), GP_STATE_SIZE(capacity));
	state->capacity = capacity;
	return state;
}

/* Capacity for at least "needed" points, doubling, within palloc's limit. */
static int32
GrowCapacity(int32 current, int64 needed)
{
	if (needed > GP_MAX_POINTS)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("a model fit cannot hold more than %d distinct input rows",
						GP_MAX_POINTS),
				 errhint("Round recency and t to whole time units so that customers share rows, or fit on a sample.")));
	return DoubledCapacity(current, needed, GP_INITIAL_POINTS, GP_MAX_POINTS);
}

/* Sort points[0, n) and merge equal ones; returns the new length. */
static int32
SortDistinct(GroupedPoint *points, int32 n)
{
	int32		i;
	int32		k = 0;

	if (n <= 1)
		return n;
	qsort(points, n, sizeof(GroupedPoint), ComparePoints);
	for (i = 1; i < n; i++)
	{
		if (ComparePoints(&points[k], &points[i]) == 0)
			CheckCountAdd(points[k].count, points[i].count, &points[k].count);
		else
			points[++k] = points[i];
	}
	return k + 1;
}

/*
 * Make the whole state sorted and distinct, in place: sort the tail, then
 * merge it with the sorted prefix through a scratch array.  Freed slots are
 * zeroed again.
 */
static void
Compact(GroupedPoints *state)
{
	GroupedPoint *prefix = state->points;
	GroupedPoint *tail = state->points + state->nsorted;
	int32		nprefix = state->nsorted;
	int32		ntail = SortDistinct(tail, state->npoints - state->nsorted);
	GroupedPoint *merged;
	int32		i = 0;
	int32		j = 0;
	int32		k = 0;

	if (ntail == 0)
		return;
	merged = palloc((Size) (nprefix + ntail) * sizeof(GroupedPoint));
	while (i < nprefix || j < ntail)
	{
		int			cmp = (i == nprefix) ? 1 : (j == ntail) ? -1 :
			ComparePoints(&prefix[i], &tail[j]);

		if (cmp < 0)
			merged[k++] = prefix[i++];
		else if (cmp > 0)
			merged[k++] = tail[j++];
		else
		{
			merged[k] = prefix[i++];
			CheckCountAdd(merged[k].count, tail[j++].count, &merged[k].count);
			k++;
		}
	}
	memcpy(state->points, merged, (Size) k * sizeof(GroupedPoint));
	memset(&state->points[k], 0,
		   (Size) (state->npoints - k) * sizeof(GroupedPoint));
	state->npoints = state->nsorted = k;
	pfree(merged);
}

/*
 * Fetch state argument argno, detoasted, 8-byte aligned and validated
 * (cheaply or in full); *copied tells whether we may modify it.
 */
static GroupedPoints *
GetStateArg(FunctionCallInfo fcinfo, int argno, GroupedPointsKind kind,
			bool full, bool *copied)
{
	GroupedPoints *state = (GroupedPoints *) ByteaStateArg(fcinfo, argno, copied);

	CheckGroupedPoints(state, VARSIZE(state), kind, full);
	return state;
}

/* A validated, read-only state argument (final functions). */
GroupedPoints *
GroupedPointsArg(FunctionCallInfo fcinfo, int argno, GroupedPointsKind kind)
{
	bool		copied;

	return GetStateArg(fcinfo, argno, kind, true, &copied);
}

/*
 * The state argument 0 of a transition function, ready to be modified: a
 * new empty state for the first row, our own transition value inside an
 * aggregate (cheap checks suffice), or a fully checked private copy when
 * called directly (never scribble on an input).
 */
GroupedPoints *
GroupedPointsForUpdate(FunctionCallInfo fcinfo, GroupedPointsKind kind)
{
	bool		in_agg = AggCheckCallContext(fcinfo, NULL) != 0;
	GroupedPoints *state;
	bool		copied;

	/*
	 * The first row: the new state lives in the per-tuple context and
	 * nodeAgg copies it into the aggregate context.
	 */
	if (PG_ARGISNULL(0))
		return NewGroupedPoints(kind, GP_INITIAL_POINTS);
	state = GetStateArg(fcinfo, 0, kind, !in_agg, &copied);
	state = ByteaStateWritable(state, in_agg || copied);
	AssertCheckGroupedPoints(state);
	return state;
}

/*
 * Add one row with coordinates v (already validated) and return the state,
 * which may be a new, bigger one.  The old state is then left alone: inside
 * an aggregate nodeAgg frees it itself after copying the new one.
 */
GroupedPoints *
GroupedPointsAdd(GroupedPoints *state, const double *v)
{
	GroupedPoint point;
	int			i;

	memset(&point, 0, sizeof(point));
	for (i = 0; i < state->ndims; i++)
		point.v[i] = v[i] + 0.0;	/* -0 becomes +0: one tuple, one point */
	point.count = 1;

	CheckCountAdd(state->rows, 1, &state->rows);

	/* input sorted by customer attributes repeats the last tuple: count it */
	if (state->npoints > 0 &&
		ComparePoints(&state->points[state->npoints - 1], &point) == 0)
	{
		CheckCountAdd(state->points[state->npoints - 1].count, 1,
					  &state->points[state->npoints - 1].count);
		return state;
	}
	if (state->npoints == state->capacity)
	{
		Compact(state);
		/* still more than half full: grow, so compactions stay rare */
		if (state->npoints > state->capacity / 2)
			state = CopyGroupedPoints(state,
									  GrowCapacity(state->capacity,
												   (int64) state->npoints + 1));
	}
	state->points[state->npoints++] = point;
	AssertCheckGroupedPoints(state);
	return state;
}

/*
 * Combine function body: merge partial state 1 into partial state 0.  The
 * first state may be updated in place inside an aggregate; the second is
 * never modified.  The result is sorted and distinct.
 */
Datum
GroupedPointsCombine(FunctionCallInfo fcinfo, GroupedPointsKind kind)
{
	bool		in_agg = AggCheckCallContext(fcinfo, NULL) != 0;
	GroupedPoints *a;
	GroupedPoints *b;
	GroupedPoints *target;
	bool		a_copied;
	bool		b_copied;
	int64		rows;
	int64		skipped;
	int64		total;

	a = GetStateArg(fcinfo, 0, kind, true, &a_copied);
	b = GetStateArg(fcinfo, 1, kind, true, &b_copied);

	CheckCountAdd(a->rows, b->rows, &rows);
	CheckCountAdd(a->skipped, b->skipped, &skipped);
	total = (int64) a->npoints + b->npoints;

	if ((in_agg || a_copied) && a != b && total <= a->capacity)
		target = a;
	else
		target = CopyGroupedPoints(a, GrowCapacity(a->capacity, total));
	memcpy(&target->points[target->npoints], b->points,
		   (Size) b->npoints * sizeof(GroupedPoint));
	target->npoints = (int32) total;
	Compact(target);
	target->rows = rows;
	target->skipped = skipped;

	AssertCheckGroupedPoints(target);
	PG_RETURN_BYTEA_P(target);
}

/*
 * The distinct points of a state, sorted, in new palloc'd memory.  A copy
 * is compacted, not the state (a final function may run more than once):
 * its sorted prefix then needs a merge, not a full sort.
 */
GroupedPoint *
GroupedPointsDistinct(const GroupedPoints *state, int32 *npoints)
{
	GroupedPoints *copy = CopyGroupedPoints(state, Max(state->npoints, 1));

	Compact(copy);
	*npoints = copy->npoints;
	return copy->points;
}
