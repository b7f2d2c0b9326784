/*-------------------------------------------------------------------------
 *
 * retail_crm.h
 *	  Declarations shared by every C file of the retail_crm extension.
 *
 *-------------------------------------------------------------------------
 */
#ifndef RETAIL_CRM_H
#define RETAIL_CRM_H

#include "postgres.h"

#include <math.h>

#include "fmgr.h"
#include "utils/timestamp.h"
#if PG_VERSION_NUM >= 160000
/* the varlena macros moved out of postgres.h into their own header in 16 */
#include "varatt.h"
#endif

/* Scores run from 1 (worst) to 5 (best); a score band has four break points. */
#define RFM_MIN_SCORE	1
#define RFM_MAX_SCORE	5
#define RFM_NUM_BREAKS	(RFM_MAX_SCORE - RFM_MIN_SCORE)

/*
 * Reject NaN and +/-Infinity where a finite number is the only meaningful
 * input.  "what" names the argument in the message.
 */
static inline void
CheckFinite(double value, const char *what)
{
	if (isnan(value) || isinf(value))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s must be a finite number, not %g", what, value),
				 errhint("Exclude rows with NaN or infinite values before calling retail_crm functions.")));
}

/*
 * Reject NaN, infinity and negative values where only zero or more makes
 * sense; "hint" says what the input means, the usual clue to the mistake.
 */
static inline void
CheckNonNegative(double value, const char *what, const char *hint)
{
	CheckFinite(value, what);
	if (value < 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s must be zero or more, not %g", what, value),
				 errhint("%s", hint)));
}

/*
 * Reject NaN, infinity and values <= bound where only values above it make
 * sense; "hint" says what the input means.
 */
static inline void
CheckGreaterThan(double value, double bound, const char *what, const char *hint)
{
	CheckFinite(value, what);
	if (!(value > bound))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s must be greater than %g, not %g", what, bound, value),
				 errhint("%s", hint)));
}

/* Characters of an argument an error message quotes at most (MessageExcerpt). */
#define RCRM_EXCERPT_MAX_CHARS	64

/* (retail_crm.c) */
extern const char *MessageExcerpt(const char *value);
extern void ReportNonFiniteResult(FunctionCallInfo fcinfo);

/*
 * A computed result on its way back to SQL: NaN or an infinity out of
 * finite arguments means an intermediate value overflowed (arguments or
 * parameters far outside the scale of customer data), so it raises 22003
 * instead of leaving as an answer.
 */
static inline double
FiniteResult(FunctionCallInfo fcinfo, double value)
{
	if (unlikely(isnan(value) || isinf(value)))
		ReportNonFiniteResult(fcinfo);
	return value;
}

/*
 * Capacity of a growing state that needs room for "needed" items (the
 * caller has checked needed <= max): double the current capacity, at least
 * "initial", so that a state growing one item at a time is copied
 * O(log n) times, and never beyond max.
 */
static inline int32
DoubledCapacity(int32 current, int64 needed, int32 initial, int32 max)
{
	int64		capacity = Max((int64) current * 2, (int64) initial);

	capacity = Max(capacity, needed);
	return (int32) Min(capacity, (int64) max);
}

/*
 * sort_int32(array, n): ascending sort with the comparison inlined (no call
 * per comparison, as qsort makes), for the days customer_facts merges in
 * and the items of each basket (affinity).
 */
#define ST_SORT sort_int32
#define ST_ELEMENT_TYPE int32
#define ST_COMPARE(a, b) ((*(a) > *(b)) - (*(a) < *(b)))
#define ST_SCOPE static inline
#define ST_DEFINE
#include "lib/sort_template.h"

#endif							/* RETAIL_CRM_H */
