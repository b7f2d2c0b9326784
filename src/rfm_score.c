/*-------------------------------------------------------------------------
 *
 * rfm_score.c
 *	  RFM scoring of one customer against given break points.
 *
 * The break points are computed elsewhere (value quantiles or fixed
 * business thresholds; DEFINITIONS.md, "RFM scores, segments and
 * lifecycle stages"); this file only maps a value to a score so that every
 * binning method scores in exactly the same way.
 *
 * A break array holds exactly four finite, non-decreasing values b1..b4
 * (one-dimensional, no NULL elements).  The band of a value v is
 *
 *		band(v) = 1 + number of k with v > b_k			(1..5)
 *
 * so a value equal to a break stays in the lower band and equal values always
 * share a band: ties are never split, unlike NTILE(5).  Equal breaks are
 * allowed and leave the bands between them empty, e.g. {1,1,1,1} yields only
 * bands 1 and 5.
 *
 * Scores are 1..5 with 5 = best:
 *		F = band(frequency, f_breaks)
 *		M = band(monetary, m_breaks)
 *		R = 6 - band(recency_days, r_breaks)	(fewer days is better)
 *		FM = (F + M + 1) / 2 in integer arithmetic, i.e. the mean of F and M
 *			 rounded half up, the FM axis of the 11-segment scheme
 *		rfm_code = R * 100 + F * 10 + M
 *
 * recency_days and frequency must be finite and zero or more; monetary must
 * be finite but may be negative (net spend after returns).
 *
 * rfm_score runs once per customer over millions of customers, so it reads
 * the break arrays in place instead of deconstructing them, and caches the
 * blessed result descriptor in fn_extra.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <math.h>

#include "access/htup_details.h"
#include "catalog/pg_type.h"
#include "fmgr.h"
#include "funcapi.h"
#include "retail_crm.h"
#include "utils/array.h"

/* Number of attributes of the crm.rfm_scores composite type. */
#define RFM_SCORES_NATTS	5

/*
 * Return a pointer to the four break points of "breaks", after checking that
 * the array is usable; "what" names the argument in messages.  The pointer
 * points into the array itself, so no copy is made.
 */
static inline const float8 *
CheckBreaks(ArrayType *breaks, const char *what)
{
	const float8 *b;
	int			nelems;
	int			i;

	/* The SQL signature guarantees this; anything else is a catalog error. */
	if (ARR_ELEMTYPE(breaks) != FLOAT8OID)
		elog(ERROR, "%s has element type %u, expected double precision",
			 what, ARR_ELEMTYPE(breaks));

	/* An empty array has zero dimensions and is reported as 0 elements. */
	if (ARR_NDIM(breaks) > 1)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s must be a one-dimensional array, not %d-dimensional",
						what, ARR_NDIM(breaks)),
				 errhint("Pass the %d break points as a flat array such as '{10,20,30,40}'.",
						 RFM_NUM_BREAKS)));

	nelems = (ARR_NDIM(breaks) == 0) ? 0 : ARR_DIMS(breaks)[0];
	if (nelems != RFM_NUM_BREAKS)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s must have exactly %d elements, not %d",
						what, RFM_NUM_BREAKS, nelems),
				 errhint("Scores run from %d to %d, so %d break points separate them.",
						 RFM_MIN_SCORE, RFM_MAX_SCORE, RFM_NUM_BREAKS)));

	/* Without NULLs the data is a plain C array of float8. */
	if (ARR_HASNULL(breaks))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s must not contain NULL elements", what),
				 errhint("Every break point must be known; filter out empty groups before computing the breaks.")));

	b = (const float8 *) ARR_DATA_PTR(breaks);

	for (i = 0; i < RFM_NUM_BREAKS; i++)
	{
		if (isnan(b[i]) || isinf(b[i]))
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("%s element %d must be a finite number, not %g",
							what, i + 1, b[i]),
					 errhint("Break points must be finite; a band open to infinity is already implied above the last break.")));

		/*
		 * Equal neighbours are fine (they leave a band empty), but a decrease
		 * would make a larger value score lower, so it is always a mistake.
		 */
		if (i > 0 && b[i] < b[i - 1])
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("%s must be non-decreasing, but element %d (%g) is less than element %d (%g)",
							what, i + 1, b[i], i, b[i - 1]),
					 errhint("Sort the break points in ascending order; equal break points are allowed.")));
	}

	return b;
}

/*
 * Band of "value" for checked breaks "b": 1 plus the number of breaks that
 * value strictly exceeds.  Written without branches: comparisons yield 0 or
 * 1 and the breaks need not be searched because they are sorted.
 */
static inline int
RfmBand(float8 value, const float8 *b)
{
	return RFM_MIN_SCORE + (value > b[0]) + (value > b[1]) +
		(value > b[2]) + (value > b[3]);
}

/*
 * Return the blessed descriptor of the function's composite result, built
 * once per call site and kept in fn_extra for the rest of the query.
 */
static TupleDesc
GetRfmScoresDesc(FunctionCallInfo fcinfo)
{
	TupleDesc	tupdesc = (TupleDesc) fcinfo->flinfo->fn_extra;

	if (tupdesc == NULL)
	{
		MemoryContext oldcontext;
		int			i;

		/* The descriptor must outlive the per-row memory context. */
		oldcontext = MemoryContextSwitchTo(fcinfo->flinfo->fn_mcxt);

		if (get_call_result_type(fcinfo, NULL, &tupdesc) != TYPEFUNC_COMPOSITE)
			ereport(ERROR,
					(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
					 errmsg("function returning record called in context that cannot accept type record")));

		/* Guard against a hand-edited rfm_scores type before writing into it. */
		if (tupdesc->natts != RFM_SCORES_NATTS)
			elog(ERROR, "rfm_scores has %d attributes, expected %d",
				 tupdesc->natts, RFM_SCORES_NATTS);
		for (i = 0; i < RFM_SCORES_NATTS; i++)
			if (TupleDescAttr(tupdesc, i)->atttypid != INT2OID)
				elog(ERROR, "rfm_scores attribute %d is not smallint", i + 1);

		tupdesc = BlessTupleDesc(tupdesc);
		MemoryContextSwitchTo(oldcontext);

		fcinfo->flinfo->fn_extra = tupdesc;
	}

	return tupdesc;
}

PG_FUNCTION_INFO_V1(rfm_band);

/* Band 1..5 of one value against four non-decreasing break points. */
Datum
rfm_band(PG_FUNCTION_ARGS)
{
	float8		value = PG_GETARG_FLOAT8(0);
	ArrayType  *breaks = PG_GETARG_ARRAYTYPE_P(1);
	const float8 *b;

	/* NaN compares greater than everything in PostgreSQL but not in C. */
	CheckFinite(value, "value");
	b = CheckBreaks(breaks, "breaks");

	PG_RETURN_INT16((int16) RfmBand(value, b));
}

PG_FUNCTION_INFO_V1(rfm_score);

/* R, F, M, FM scores and the composite RFM code of one customer. */
Datum
rfm_score(PG_FUNCTION_ARGS)
{
	float8		recency_days = PG_GETARG_FLOAT8(0);
	float8		frequency = PG_GETARG_FLOAT8(1);
	float8		monetary = PG_GETARG_FLOAT8(2);
	ArrayType  *r_arr = PG_GETARG_ARRAYTYPE_P(3);
	ArrayType  *f_arr = PG_GETARG_ARRAYTYPE_P(4);
	ArrayType  *m_arr = PG_GETARG_ARRAYTYPE_P(5);
	const float8 *r_breaks;
	const float8 *f_breaks;
	const float8 *m_breaks;
	int			r;
	int			f;
	int			m;
	TupleDesc	tupdesc;
	Datum		values[RFM_SCORES_NATTS];
	bool		nulls[RFM_SCORES_NATTS] = {false, false, false, false, false};

	CheckNonNegative(recency_days, "recency_days",
						  "Recency is the number of days from the last purchase to the analysis date; an analysis date before the last purchase gives a negative value.");
	CheckNonNegative(frequency, "frequency",
						  "Frequency is the number of orders, which cannot be negative.");
	/* Negative monetary is net spend after returns and scores in band 1. */
	CheckFinite(monetary, "monetary");

	r_breaks = CheckBreaks(r_arr, "r_breaks");
	f_breaks = CheckBreaks(f_arr, "f_breaks");
	m_breaks = CheckBreaks(m_arr, "m_breaks");

	/* Recency is the one axis where a smaller value is better. */
	r = (RFM_MAX_SCORE + RFM_MIN_SCORE) - RfmBand(recency_days, r_breaks);
	f = RfmBand(frequency, f_breaks);
	m = RfmBand(monetary, m_breaks);

	values[0] = Int16GetDatum((int16) r);
	values[1] = Int16GetDatum((int16) f);
	values[2] = Int16GetDatum((int16) m);
	/* Mean of F and M rounded half up: F + M is positive, so / truncates. */
	values[3] = Int16GetDatum((int16) ((f + m + 1) / 2));
	values[4] = Int16GetDatum((int16) (r * 100 + f * 10 + m));

	tupdesc = GetRfmScoresDesc(fcinfo);

	PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(tupdesc, values, nulls)));
}
