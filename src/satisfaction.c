/*-------------------------------------------------------------------------
 *
 * satisfaction.c
 *	  Voice-of-the-customer aggregates: the 0-100 satisfaction index, the
 *	  multi-dimension index, NPS, CSAT and CES.
 *
 * Every state is a fixed-size bytea, not internal, so that the aggregates
 * run in parallel and Citus can push them down; every support function
 * validates a state before trusting it (a malformed one raises 22P03).
 *
 * Parallel plans must give exactly the serial result, so states hold only
 * integers, whose sums do not depend on the order rows arrive in:
 *  - an answer is rescaled to its own scale, (score - scale_min) /
 *	  (scale_max - scale_min), and kept in units of 1e-9 (the index then has
 *	  a resolution of 1e-7 points);
 *  - a weight is kept in units of 1e-9 too, so weights lie between 1e-9
 *	  and 1e9;
 *  - weighted sums are 128-bit integers.
 * Floating point is used only in the final functions, on the summed
 * integers.  Raw scores of different scales are never averaged.
 *
 * A NULL score is an unanswered question and is skipped, as avg() skips
 * NULLs; a NULL scale or weight next to a score is an error.  Groups with
 * no answered question give NULL.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <math.h>

#include "access/htup_details.h"
#include "common/int.h"
#include "fmgr.h"
#include "funcapi.h"
#include "utils/builtins.h"

#include "bytea_state.h"
#include "retail_crm.h"

#ifndef HAVE_INT128
#error "retail_crm needs a compiler with a 128-bit integer type"
#endif

/* Rescaled scores and weights are integers in these units. */
#define SAT_UNITS			1000000000.0
#define SAT_MIN_WEIGHT		1e-9
#define SAT_MAX_WEIGHT		1e9

/*
 * Cap on a 128-bit sum, far below the type's limit so that no single step
 * can overflow: 1e36 allows 1e9 answers of the largest weight.
 */
#define SAT_SUM_LIMIT		((int128) 1000000000000000000LL * 1000000000000000000LL)

#define SAT_STATE_VERSION	1

/* crm.satisfaction_index: weighted mean of rescaled answers. */
typedef struct SatisfactionIndexState
{
	int32		vl_len_;		/* varlena header (do not touch directly) */
	uint16		magic;			/* SI_MAGIC; also catches byte order */
	uint16		version;		/* SAT_STATE_VERSION */
	int64		responses;		/* answers accumulated */
	int128		weight_sum;		/* sum of weights, units of 1e-9 */
	int128		weighted_sum;	/* sum of weight units * score units */
} SatisfactionIndexState;

#define SI_MAGIC			0x5349	/* "SI" */
StaticAssertDecl(sizeof(SatisfactionIndexState) == 48,
				 "satisfaction_index state must have no padding");

/* The counting surveys share one state; kind tells them apart. */
typedef enum SurveyKind
{
	SURVEY_NPS = 1,
	SURVEY_CSAT = 2,
	SURVEY_CES = 3
} SurveyKind;

typedef struct SurveyCountsState
{
	int32		vl_len_;		/* varlena header (do not touch directly) */
	uint16		magic;			/* SC_MAGIC */
	uint16		kind;			/* a SurveyKind */
	int64		responses;		/* answers accumulated */
	int64		top;			/* promoters; top-2-box; CES 5-7 */
	int64		middle;			/* NPS passives, else 0 */
	int64		bottom;			/* NPS detractors, else 0 */
	int64		score_sum;		/* CES sum of scores, else 0 */
} SurveyCountsState;

#define SC_MAGIC			0x5343	/* "SC" */
StaticAssertDecl(sizeof(SurveyCountsState) == 48,
				 "survey counts state must have no padding");

/* crm.multi_dimension_index: one slot per survey dimension. */
#define MD_MAX_DIMENSIONS	32

typedef struct DimensionSlot
{
	int64		weight_units;	/* dimension weight, units of 1e-9; 0 while
								 * the dimension is unanswered */
	int64		responses;		/* answers to the dimension */
	int64		score_sum;		/* sum of rescaled answers, units of 1e-9 */
} DimensionSlot;

typedef struct MultiDimensionState
{
	int32		vl_len_;		/* varlena header (do not touch directly) */
	uint16		magic;			/* MD_MAGIC */
	uint16		version;		/* SAT_STATE_VERSION */
	int64		responses;		/* answers accumulated, all dimensions */
	DimensionSlot slots[MD_MAX_DIMENSIONS]; /* slot i is dimension_no i + 1 */
} MultiDimensionState;

#define MD_MAGIC			0x4D44	/* "MD" */
StaticAssertDecl(sizeof(MultiDimensionState) == 16 + MD_MAX_DIMENSIONS * 24,
				 "multi_dimension_index state must have no padding");

/* Columns of the crm.nps_result and crm.ces_result types. */
#define NPS_NATTS			8
#define CES_NATTS			3

/* Two-sided 95 % normal quantile of the NPS interval. */
#define NPS_Z95				1.96

/* Every state starts with the common header (the survey counts' kind in its version). */
StaticAssertDecl(offsetof(SatisfactionIndexState, magic) == offsetof(ByteaStateHeader, magic) &&
				 offsetof(SatisfactionIndexState, version) == offsetof(ByteaStateHeader, version) &&
				 offsetof(SurveyCountsState, magic) == offsetof(ByteaStateHeader, magic) &&
				 offsetof(SurveyCountsState, kind) == offsetof(ByteaStateHeader, version) &&
				 offsetof(MultiDimensionState, magic) == offsetof(ByteaStateHeader, magic) &&
				 offsetof(MultiDimensionState, version) == offsetof(ByteaStateHeader, version),
				 "satisfaction states must start with a bytea state header");

/* Raise 22P03 for a state that did not come from our support functions. */
static void
InvalidState(const char *aggregate, const char *problem)
{
	ReportInvalidByteaState(aggregate, problem,
							psprintf("the %s support functions", aggregate));
}

/* Raise 22004 for a NULL argument that must accompany a score. */
static inline void
CheckArgNotNull(FunctionCallInfo fcinfo, int argno, const char *what,
				const char *aggregate)
{
	if (PG_ARGISNULL(argno))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("%s must not be NULL when a score is given", what),
				 errhint("Give every answer of %s its %s; a NULL score (an unanswered question) is skipped.", aggregate, what)));
}

/* Count one more answer, raising 22003 on overflow. */
static inline void
CheckCountAdd(int64 a, int64 b, int64 *result)
{
	if (unlikely(pg_add_s64_overflow(a, b, result)))
		ereport(ERROR,
				(errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE),
				 errmsg("satisfaction answer count is out of range"),
				 errhint("Group the answers more finely, for example by month.")));
}

/* Add to a dimension's sum of rescaled answers, raising 22003 on overflow. */
static inline void
CheckScoreSumAdd(int64 a, int64 b, int64 *result)
{
	if (unlikely(pg_add_s64_overflow(a, b, result)))
		ereport(ERROR,
				(errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE),
				 errmsg("satisfaction score sum is out of range"),
				 errhint("Group the answers more finely, for example by month.")));
}

/* Add two non-negative 128-bit sums within SAT_SUM_LIMIT. */
static inline int128
SumAdd(int128 a, int128 b)
{
	if (a > SAT_SUM_LIMIT - b)
		ereport(ERROR,
				(errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE),
				 errmsg("satisfaction weighted sum is out of range"),
				 errhint("Group the answers more finely, for example by month.")));
	return a + b;
}

/*
 * The answer score on the scale scale_min..scale_max, rescaled to 0..1 in
 * units of 1e-9.  Rejects non-finite values, an empty or reversed scale and
 * scores outside the scale.
 */
static int64
RescaledScoreUnits(double score, double scale_min, double scale_max)
{
	double		width;

	CheckFinite(score, "score");
	CheckFinite(scale_min, "scale_min");
	CheckFinite(scale_max, "scale_max");
	if (!(scale_min < scale_max))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("scale_min must be less than scale_max, not %g and %g",
						scale_min, scale_max),
				 errhint("Pass the lowest and highest possible answer of the question, for example 1 and 5.")));
	width = scale_max - scale_min;
	if (isinf(width))
		ereport(ERROR,
				(errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE),
				 errmsg("scale from %g to %g is too wide", scale_min, scale_max)));
	if (score < scale_min || score > scale_max)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("score %g is outside its scale %g to %g",
						score, scale_min, scale_max),
				 errhint("Check the scale recorded with the answer; scores are never clamped.")));
	/* (score - min) <= width in floating point too, so the ratio is in 0..1 */
	return (int64) llround((score - scale_min) / width * SAT_UNITS);
}

/*
 * A weight in units of 1e-9.  Zero is accepted only where allow_zero says
 * so (a dimension left out of the index).
 */
static int64
WeightUnits(double weight, bool allow_zero, const char *what)
{
	CheckFinite(weight, what);
	if (allow_zero && weight == 0)
		return 0;
	if (weight < SAT_MIN_WEIGHT || weight > SAT_MAX_WEIGHT)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s must be %sbetween %g and %g, not %g", what,
						allow_zero ? "0 or " : "", SAT_MIN_WEIGHT, SAT_MAX_WEIGHT,
						weight),
				 errhint("Weights are relative; scale them into this range.")));
	return (int64) llround(weight * SAT_UNITS);
}

/*
 * State argument argno, detoasted, 8-byte aligned and of the expected size,
 * magic and version (BYTEA_STATE_ANY_VERSION: the caller checks the kind);
 * a private copy when "for_update" and the state is not our own transition
 * value inside an aggregate (never scribble on an input).
 */
static void *
GetFixedState(FunctionCallInfo fcinfo, int argno, Size size, uint16 magic,
			  int version, const char *aggregate, bool for_update)
{
	bool		copied;
	struct varlena *state = ByteaStateArg(fcinfo, argno, &copied);
	const char *problem;

	if (VARSIZE(state) != size)
		InvalidState(aggregate, "The state has the wrong length.");
	problem = ByteaStateHeaderProblem(state, size, size, magic, version);
	if (problem != NULL)
		InvalidState(aggregate, problem);
	if (for_update)
		state = ByteaStateWritable(state, copied || AggCheckCallContext(fcinfo, NULL));
	return state;
}

/* ---------------------------------------------------------------------
 * crm.satisfaction_index
 * ---------------------------------------------------------------------
 */

/* Check a satisfaction_index state; raise 22P03 when malformed. */
static void
CheckSatisfactionIndexState(const SatisfactionIndexState *state)
{
	if (state->responses < 0 || state->weight_sum < state->responses ||
		state->weighted_sum < 0 ||
		state->weight_sum > SAT_SUM_LIMIT || state->weighted_sum > SAT_SUM_LIMIT)
		InvalidState("satisfaction_index", "The state has counters out of range.");
	/* divide rather than multiply: the product could overflow */
	if (state->weighted_sum / (int128) SAT_UNITS > state->weight_sum)
		InvalidState("satisfaction_index", "The state's weighted sum exceeds its weight sum.");
	if (state->responses == 0 && state->weight_sum != 0)
		InvalidState("satisfaction_index", "An empty state has a nonzero sum.");
}

/* State argument argno of satisfaction_index, validated. */
static SatisfactionIndexState *
GetSatisfactionIndexState(FunctionCallInfo fcinfo, int argno, bool for_update)
{
	SatisfactionIndexState *state;

	state = GetFixedState(fcinfo, argno, sizeof(SatisfactionIndexState),
						  SI_MAGIC, SAT_STATE_VERSION, "satisfaction_index", for_update);
	CheckSatisfactionIndexState(state);
	return state;
}

/*
 * Transition function of satisfaction_index(score, scale_min, scale_max
 * [, weight]); not strict, so that a NULL scale is an error and a NULL
 * score is skipped.
 */
PG_FUNCTION_INFO_V1(satisfaction_index_accum);
Datum
satisfaction_index_accum(PG_FUNCTION_ARGS)
{
	SatisfactionIndexState *state;
	int64		score_units;
	int64		weight_units = 1000000000;	/* weight 1 */

	if (PG_ARGISNULL(0))
		state = NewByteaState(sizeof(SatisfactionIndexState), SI_MAGIC, SAT_STATE_VERSION);
	else
		state = GetSatisfactionIndexState(fcinfo, 0, true);

	if (PG_ARGISNULL(1))
		PG_RETURN_BYTEA_P(state);
	CheckArgNotNull(fcinfo, 2, "scale_min", "satisfaction_index");
	CheckArgNotNull(fcinfo, 3, "scale_max", "satisfaction_index");
	score_units = RescaledScoreUnits(PG_GETARG_FLOAT8(1), PG_GETARG_FLOAT8(2),
									 PG_GETARG_FLOAT8(3));
	if (PG_NARGS() > 4)
	{
		CheckArgNotNull(fcinfo, 4, "weight", "satisfaction_index");
		weight_units = WeightUnits(PG_GETARG_FLOAT8(4), false, "weight");
	}

	CheckCountAdd(state->responses, 1, &state->responses);
	state->weight_sum = SumAdd(state->weight_sum, weight_units);
	state->weighted_sum = SumAdd(state->weighted_sum,
								 (int128) weight_units * score_units);
	PG_RETURN_BYTEA_P(state);
}

/* Combine function of satisfaction_index: adds two partial states. */
PG_FUNCTION_INFO_V1(satisfaction_index_combine);
Datum
satisfaction_index_combine(PG_FUNCTION_ARGS)
{
	SatisfactionIndexState *a = GetSatisfactionIndexState(fcinfo, 0, true);
	SatisfactionIndexState *b = GetSatisfactionIndexState(fcinfo, 1, false);

	CheckCountAdd(a->responses, b->responses, &a->responses);
	a->weight_sum = SumAdd(a->weight_sum, b->weight_sum);
	a->weighted_sum = SumAdd(a->weighted_sum, b->weighted_sum);
	PG_RETURN_BYTEA_P(a);
}

/*
 * The 0-100 index of a mean rescaled answer in units of 1e-9.  The mean
 * lies in 0..SAT_UNITS, but a quotient of sums rounded to double can land
 * an ulp outside (100.00000000000001 for 1e5 answers of weight 1e9): the
 * documented range holds instead.
 */
static inline double
IndexOfMeanUnits(double mean_units)
{
	return Min(100.0, Max(0.0, 100.0 * mean_units / SAT_UNITS));
}

/* Final function of satisfaction_index: 0-100, NULL without answers. */
PG_FUNCTION_INFO_V1(satisfaction_index_final);
Datum
satisfaction_index_final(PG_FUNCTION_ARGS)
{
	SatisfactionIndexState *state = GetSatisfactionIndexState(fcinfo, 0, false);

	if (state->responses == 0)
		PG_RETURN_NULL();
	PG_RETURN_FLOAT8(IndexOfMeanUnits((double) state->weighted_sum / (double) state->weight_sum));
}

/* ---------------------------------------------------------------------
 * crm.multi_dimension_index
 * ---------------------------------------------------------------------
 */

/* Check a multi_dimension_index state; raise 22P03 when malformed. */
static void
CheckMultiDimensionState(const MultiDimensionState *state)
{
	int64		counted = 0;
	int			i;

	for (i = 0; i < MD_MAX_DIMENSIONS; i++)
	{
		const DimensionSlot *slot = &state->slots[i];

		if (slot->responses < 0 || slot->score_sum < 0 || slot->weight_units < 0 ||
			slot->weight_units > (int64) (SAT_MAX_WEIGHT * SAT_UNITS) ||
			slot->score_sum / (int64) SAT_UNITS > slot->responses ||
			pg_add_s64_overflow(counted, slot->responses, &counted))
			InvalidState("multi_dimension_index", "The state has counters out of range.");
		if (slot->responses == 0 && (slot->weight_units != 0 || slot->score_sum != 0))
			InvalidState("multi_dimension_index", "An unanswered dimension has a weight or a sum.");
	}
	if (counted != state->responses)
		InvalidState("multi_dimension_index", "The state's answer count does not match its dimensions.");
}

/* State argument argno of multi_dimension_index, validated. */
static MultiDimensionState *
GetMultiDimensionState(FunctionCallInfo fcinfo, int argno, bool for_update)
{
	MultiDimensionState *state;

	state = GetFixedState(fcinfo, argno, sizeof(MultiDimensionState),
						  MD_MAGIC, SAT_STATE_VERSION, "multi_dimension_index", for_update);
	CheckMultiDimensionState(state);
	return state;
}

/* Every answer to one dimension must carry the dimension's one weight. */
static void
CheckSameWeight(int dimension_no, int64 expected_units, int64 actual_units)
{
	if (expected_units != actual_units)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("dimension %d has weight %g on one answer and %g on another",
						dimension_no, expected_units / SAT_UNITS, actual_units / SAT_UNITS),
				 errhint("Take dimension weights from one table, such as crm.satisfaction_dimensions.")));
}

/*
 * Transition function of multi_dimension_index(dimension_no,
 * dimension_weight, score, scale_min, scale_max); not strict.
 */
PG_FUNCTION_INFO_V1(multi_dimension_index_accum);
Datum
multi_dimension_index_accum(PG_FUNCTION_ARGS)
{
	MultiDimensionState *state;
	DimensionSlot *slot;
	int32		dimension_no;
	int64		weight_units;
	int64		score_units;

	if (PG_ARGISNULL(0))
		state = NewByteaState(sizeof(MultiDimensionState), MD_MAGIC, SAT_STATE_VERSION);
	else
		state = GetMultiDimensionState(fcinfo, 0, true);

	if (PG_ARGISNULL(3))
		PG_RETURN_BYTEA_P(state);
	CheckArgNotNull(fcinfo, 1, "dimension_no", "multi_dimension_index");
	CheckArgNotNull(fcinfo, 2, "dimension_weight", "multi_dimension_index");
	CheckArgNotNull(fcinfo, 4, "scale_min", "multi_dimension_index");
	CheckArgNotNull(fcinfo, 5, "scale_max", "multi_dimension_index");

	dimension_no = PG_GETARG_INT32(1);
	if (dimension_no < 1 || dimension_no > MD_MAX_DIMENSIONS)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("dimension_no must be between 1 and %d, not %d",
						MD_MAX_DIMENSIONS, dimension_no)));
	weight_units = WeightUnits(PG_GETARG_FLOAT8(2), true, "dimension_weight");
	score_units = RescaledScoreUnits(PG_GETARG_FLOAT8(3), PG_GETARG_FLOAT8(4),
									 PG_GETARG_FLOAT8(5));

	slot = &state->slots[dimension_no - 1];
	if (slot->responses > 0)
		CheckSameWeight(dimension_no, slot->weight_units, weight_units);
	slot->weight_units = weight_units;
	CheckCountAdd(slot->responses, 1, &slot->responses);
	CheckScoreSumAdd(slot->score_sum, score_units, &slot->score_sum);
	CheckCountAdd(state->responses, 1, &state->responses);
	PG_RETURN_BYTEA_P(state);
}

/* Combine function of multi_dimension_index: adds two states slot by slot. */
PG_FUNCTION_INFO_V1(multi_dimension_index_combine);
Datum
multi_dimension_index_combine(PG_FUNCTION_ARGS)
{
	MultiDimensionState *a = GetMultiDimensionState(fcinfo, 0, true);
	MultiDimensionState *b = GetMultiDimensionState(fcinfo, 1, false);
	int			i;

	for (i = 0; i < MD_MAX_DIMENSIONS; i++)
	{
		DimensionSlot *sa = &a->slots[i];
		const DimensionSlot *sb = &b->slots[i];

		if (sb->responses == 0)
			continue;
		if (sa->responses > 0)
			CheckSameWeight(i + 1, sa->weight_units, sb->weight_units);
		sa->weight_units = sb->weight_units;
		CheckCountAdd(sa->responses, sb->responses, &sa->responses);
		CheckScoreSumAdd(sa->score_sum, sb->score_sum, &sa->score_sum);
	}
	CheckCountAdd(a->responses, b->responses, &a->responses);
	PG_RETURN_BYTEA_P(a);
}

/*
 * Final function of multi_dimension_index: the weighted mean of the
 * answered dimensions' 0-100 indexes, weights renormalised over them.  NULL
 * without answers or when only dimensions of weight 0 were answered.
 */
PG_FUNCTION_INFO_V1(multi_dimension_index_final);
Datum
multi_dimension_index_final(PG_FUNCTION_ARGS)
{
	MultiDimensionState *state = GetMultiDimensionState(fcinfo, 0, false);
	double		weighted = 0;
	double		weights = 0;
	int			i;

	for (i = 0; i < MD_MAX_DIMENSIONS; i++)
	{
		const DimensionSlot *slot = &state->slots[i];

		if (slot->responses == 0 || slot->weight_units == 0)
			continue;
		weighted += (double) slot->weight_units *
			((double) slot->score_sum / (double) slot->responses);
		weights += (double) slot->weight_units;
	}
	if (weights == 0)
		PG_RETURN_NULL();
	PG_RETURN_FLOAT8(IndexOfMeanUnits(weighted / weights));
}

/* ---------------------------------------------------------------------
 * crm.nps, crm.csat, crm.ces: counting states
 * ---------------------------------------------------------------------
 */

/* The SQL name of the aggregate a counting state belongs to. */
static const char *
SurveyName(SurveyKind kind)
{
	return kind == SURVEY_NPS ? "nps" : kind == SURVEY_CSAT ? "csat" : "ces";
}

/* Check a counting state; raise 22P03 when malformed. */
static void
CheckSurveyCountsState(const SurveyCountsState *state)
{
	if (state->kind < SURVEY_NPS || state->kind > SURVEY_CES)
		InvalidState("survey counts", "The state has an unknown kind.");
	if (state->responses < 0 || state->top < 0 || state->middle < 0 ||
		state->bottom < 0 || state->score_sum < 0 || state->top > state->responses)
		InvalidState(SurveyName(state->kind), "The state has counters out of range.");
	if (state->kind == SURVEY_NPS)
	{
		int64		counted;

		if (pg_add_s64_overflow(state->top, state->middle, &counted) ||
			pg_add_s64_overflow(counted, state->bottom, &counted) ||
			counted != state->responses || state->score_sum != 0)
			InvalidState("nps", "The state's promoters, passives and detractors do not add up to its answers.");
	}
	else if (state->middle != 0 || state->bottom != 0)
		InvalidState(SurveyName(state->kind), "The state has counters its kind does not use.");
	else if (state->kind == SURVEY_CSAT && state->score_sum != 0)
		InvalidState("csat", "The state has a score sum.");
	else if (state->kind == SURVEY_CES &&
			 (state->score_sum < state->responses ||
			  (state->score_sum - state->responses) / 6 > state->responses))
		InvalidState("ces", "The state's score sum is outside 1 to 7 times its answers.");
}

/* State argument argno of nps, csat or ces, validated. */
static SurveyCountsState *
GetSurveyCountsState(FunctionCallInfo fcinfo, int argno, bool for_update)
{
	SurveyCountsState *state;

	state = GetFixedState(fcinfo, argno, sizeof(SurveyCountsState), SC_MAGIC,
						  BYTEA_STATE_ANY_VERSION, "survey counts", for_update);
	CheckSurveyCountsState(state);
	return state;
}

/* The state argument 0 of a counting transition function, of kind. */
static SurveyCountsState *
SurveyCountsForUpdate(FunctionCallInfo fcinfo, SurveyKind kind)
{
	SurveyCountsState *state;

	if (PG_ARGISNULL(0))
		return NewByteaState(sizeof(SurveyCountsState), SC_MAGIC, kind);
	state = GetSurveyCountsState(fcinfo, 0, true);
	if (state->kind != kind)
		InvalidState(SurveyName(kind), "The state belongs to another aggregate.");
	return state;
}

/* Reject an integer score outside low..high. */
static inline void
CheckScoreRange(int32 score, int32 low, int32 high, const char *what)
{
	if (score < low || score > high)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s score must be between %d and %d, not %d",
						what, low, high, score),
				 errhint("Filter out answers from other scales; a NULL score (an unanswered question) is skipped.")));
}

/* Transition function of nps(score): 0-10, NULL skipped. */
PG_FUNCTION_INFO_V1(nps_accum);
Datum
nps_accum(PG_FUNCTION_ARGS)
{
	SurveyCountsState *state = SurveyCountsForUpdate(fcinfo, SURVEY_NPS);
	int32		score;

	if (PG_ARGISNULL(1))
		PG_RETURN_BYTEA_P(state);
	score = PG_GETARG_INT32(1);
	CheckScoreRange(score, 0, 10, "NPS");
	CheckCountAdd(state->responses, 1, &state->responses);
	if (score >= 9)
		state->top++;
	else if (score >= 7)
		state->middle++;
	else
		state->bottom++;
	PG_RETURN_BYTEA_P(state);
}

/* Transition function of csat(score, scale_max): 1..scale_max. */
PG_FUNCTION_INFO_V1(csat_accum);
Datum
csat_accum(PG_FUNCTION_ARGS)
{
	SurveyCountsState *state = SurveyCountsForUpdate(fcinfo, SURVEY_CSAT);
	int32		score;
	int32		scale_max;

	if (PG_ARGISNULL(1))
		PG_RETURN_BYTEA_P(state);
	CheckArgNotNull(fcinfo, 2, "scale_max", "csat");
	score = PG_GETARG_INT32(1);
	scale_max = PG_GETARG_INT32(2);
	if (scale_max < 3 || scale_max > 100)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("CSAT scale_max must be between 3 and 100, not %d", scale_max),
				 errhint("CSAT answers run from 1 to scale_max, usually 5; the top two boxes are scale_max - 1 and scale_max.")));
	CheckScoreRange(score, 1, scale_max, "CSAT");
	CheckCountAdd(state->responses, 1, &state->responses);
	if (score >= scale_max - 1)
		state->top++;
	PG_RETURN_BYTEA_P(state);
}

/* Transition function of ces(score): 1-7 agreement, NULL skipped. */
PG_FUNCTION_INFO_V1(ces_accum);
Datum
ces_accum(PG_FUNCTION_ARGS)
{
	SurveyCountsState *state = SurveyCountsForUpdate(fcinfo, SURVEY_CES);
	int32		score;

	if (PG_ARGISNULL(1))
		PG_RETURN_BYTEA_P(state);
	score = PG_GETARG_INT32(1);
	CheckScoreRange(score, 1, 7, "CES");
	CheckCountAdd(state->responses, 1, &state->responses);
	CheckCountAdd(state->score_sum, score, &state->score_sum);
	if (score >= 5)
		state->top++;
	PG_RETURN_BYTEA_P(state);
}

/* Combine function of nps, csat and ces: adds two states of one kind. */
PG_FUNCTION_INFO_V1(survey_counts_combine);
Datum
survey_counts_combine(PG_FUNCTION_ARGS)
{
	SurveyCountsState *a = GetSurveyCountsState(fcinfo, 0, true);
	SurveyCountsState *b = GetSurveyCountsState(fcinfo, 1, false);

	if (a->kind != b->kind)
		InvalidState("survey counts", "The two states belong to different aggregates.");
	CheckCountAdd(a->responses, b->responses, &a->responses);
	CheckCountAdd(a->top, b->top, &a->top);
	CheckCountAdd(a->middle, b->middle, &a->middle);
	CheckCountAdd(a->bottom, b->bottom, &a->bottom);
	CheckCountAdd(a->score_sum, b->score_sum, &a->score_sum);
	PG_RETURN_BYTEA_P(a);
}

/* A final function's state of kind, or NULL when it holds no answer. */
static SurveyCountsState *
FinalSurveyCounts(FunctionCallInfo fcinfo, SurveyKind kind)
{
	SurveyCountsState *state = GetSurveyCountsState(fcinfo, 0, false);

	if (state->kind != kind)
		InvalidState(SurveyName(kind), "The state belongs to another aggregate.");
	return state->responses == 0 ? NULL : state;
}

/* The blessed tuple descriptor of a final function returning natts columns. */
static TupleDesc
ResultTupleDesc(FunctionCallInfo fcinfo, int natts)
{
	TupleDesc	tupdesc;

	if (get_call_result_type(fcinfo, NULL, &tupdesc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "return type must be a row type");
	if (tupdesc->natts != natts)
		elog(ERROR, "result type has %d columns, expected %d", tupdesc->natts, natts);
	return BlessTupleDesc(tupdesc);
}

/*
 * Final function of nps: the crm.nps_result row.  The standard error treats
 * each answer as +1 (promoter), 0 or -1 (detractor): its variance is
 * p + d - (p - d)^2 for shares p and d.  The interval is NPS +/- 1.96 SE,
 * clipped to the possible range -100..100.
 */
PG_FUNCTION_INFO_V1(nps_final);
Datum
nps_final(PG_FUNCTION_ARGS)
{
	SurveyCountsState *state = FinalSurveyCounts(fcinfo, SURVEY_NPS);
	TupleDesc	tupdesc;
	Datum		values[NPS_NATTS];
	bool		nulls[NPS_NATTS] = {0};
	double		n;
	double		p;
	double		d;
	double		nps;
	double		se;

	if (state == NULL)
		PG_RETURN_NULL();
	tupdesc = ResultTupleDesc(fcinfo, NPS_NATTS);

	n = (double) state->responses;
	p = state->top / n;
	d = state->bottom / n;
	nps = 100.0 * (double) (state->top - state->bottom) / n;
	/* max() guards against a variance of -0 or -1e-17 by rounding */
	se = 100.0 * sqrt(Max(p + d - (p - d) * (p - d), 0.0) / n);

	values[0] = Float8GetDatum(nps);
	values[1] = Int64GetDatum(state->top);
	values[2] = Int64GetDatum(state->middle);
	values[3] = Int64GetDatum(state->bottom);
	values[4] = Int64GetDatum(state->responses);
	values[5] = Float8GetDatum(se);
	values[6] = Float8GetDatum(Max(nps - NPS_Z95 * se, -100.0));
	values[7] = Float8GetDatum(Min(nps + NPS_Z95 * se, 100.0));
	PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(tupdesc, values, nulls)));
}

/* Final function of csat: share of top-2-box answers, 0-100. */
PG_FUNCTION_INFO_V1(csat_final);
Datum
csat_final(PG_FUNCTION_ARGS)
{
	SurveyCountsState *state = FinalSurveyCounts(fcinfo, SURVEY_CSAT);

	if (state == NULL)
		PG_RETURN_NULL();
	PG_RETURN_FLOAT8(100.0 * (double) state->top / (double) state->responses);
}

/* Final function of ces: the crm.ces_result row (mean and share of 5-7). */
PG_FUNCTION_INFO_V1(ces_final);
Datum
ces_final(PG_FUNCTION_ARGS)
{
	SurveyCountsState *state = FinalSurveyCounts(fcinfo, SURVEY_CES);
	TupleDesc	tupdesc;
	Datum		values[CES_NATTS];
	bool		nulls[CES_NATTS] = {0};

	if (state == NULL)
		PG_RETURN_NULL();
	tupdesc = ResultTupleDesc(fcinfo, CES_NATTS);
	values[0] = Float8GetDatum((double) state->score_sum / (double) state->responses);
	values[1] = Float8GetDatum(100.0 * (double) state->top / (double) state->responses);
	values[2] = Int64GetDatum(state->responses);
	PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(tupdesc, values, nulls)));
}
