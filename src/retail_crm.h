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

#include "utils/timestamp.h"

/* Scores run from 1 (worst) to 5 (best); a score band has four break points. */
#define RFM_MIN_SCORE	1
#define RFM_MAX_SCORE	5
#define RFM_NUM_BREAKS	(RFM_MAX_SCORE - RFM_MIN_SCORE)

/* A day in microseconds, the unit of every TimestampTz difference. */
#define RCRM_USECS_PER_DAY	((double) USECS_PER_DAY)

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

#endif							/* RETAIL_CRM_H */
