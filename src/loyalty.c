/*-------------------------------------------------------------------------
 *
 * loyalty.c
 *	  The tier a loyalty member holds after one evaluation (DEFINITIONS.md,
 *	  "Loyalty program").
 *
 * A program's tiers have ranks 1..n; thresholds[k] is the qualifying metric
 * (net spend, points or visits over the program's window) that rank k needs.
 * Thresholds are finite, zero or more and strictly increasing, so the rank a
 * metric qualifies for is the number of thresholds it reaches:
 *
 *		qualified = number of k with metric >= thresholds[k]		(0..n)
 *
 * Rank 0 means "below every tier" (a program whose entry tier needs 0 puts
 * every member with a metric of zero or more in it).  Against the member's
 * current rank:
 *
 *		qualified >= current			-> qualified	(upgrades are immediate)
 *		qualified <  current, no review	-> current		(downgrades wait)
 *		qualified <  current, review	-> qualified, or current - 1 with
 *										   soft landing (one tier per review)
 *
 * The function runs once per member in the tier review, so it reads the
 * threshold array in place and checks it in one pass.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <math.h>

#include "catalog/pg_type.h"
#include "fmgr.h"
#include "retail_crm.h"
#include "utils/array.h"

/* More tiers than any real program has; keeps the linear scan trivially cheap. */
#define LOYALTY_MAX_TIERS	100

/*
 * Return a pointer into "thresholds" after checking that they define tiers:
 * a flat array of 1..LOYALTY_MAX_TIERS finite, non-negative, strictly
 * increasing values without NULLs.  *ntiers receives their number.
 */
static inline const float8 *
CheckThresholds(ArrayType *thresholds, int *ntiers)
{
	const float8 *t;
	int			n;
	int			k;

	/* The SQL signature guarantees this; anything else is a catalog error. */
	if (ARR_ELEMTYPE(thresholds) != FLOAT8OID)
		elog(ERROR, "thresholds have element type %u, expected double precision",
			 ARR_ELEMTYPE(thresholds));

	if (ARR_NDIM(thresholds) > 1)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("thresholds must be a one-dimensional array, not %d-dimensional",
						ARR_NDIM(thresholds)),
				 errhint("Pass one threshold per tier, lowest rank first, e.g. '{0,500,2000}'.")));

	n = (ARR_NDIM(thresholds) == 0) ? 0 : ARR_DIMS(thresholds)[0];
	if (n == 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("thresholds must hold at least one tier, not an empty array"),
				 errhint("Pass one threshold per tier, lowest rank first, e.g. '{0,500,2000}'.")));
	if (n > LOYALTY_MAX_TIERS)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("a program can have at most %d tiers, not %d", LOYALTY_MAX_TIERS, n)));

	/* Without NULLs the data is a plain C array of float8. */
	if (ARR_HASNULL(thresholds))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("thresholds must not contain NULL elements"),
				 errhint("Every tier needs a qualifying threshold; the entry tier's is usually 0.")));

	t = (const float8 *) ARR_DATA_PTR(thresholds);
	for (k = 0; k < n; k++)
	{
		if (isnan(t[k]) || isinf(t[k]) || t[k] < 0)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("threshold of rank %d must be a finite number zero or more, not %g",
							k + 1, t[k]),
					 errhint("A tier's threshold is the net spend, points or visits it needs.")));

		/*
		 * Equal thresholds would make the lower tier unreachable, a decrease
		 * would let a smaller metric reach a higher tier: both are mistakes.
		 */
		if (k > 0 && !(t[k] > t[k - 1]))
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("thresholds must be strictly increasing, but rank %d needs %g and rank %d needs %g",
							k + 1, t[k], k, t[k - 1]),
					 errhint("Sort the tiers by rank; a higher tier needs a higher threshold.")));
	}

	*ntiers = n;
	return t;
}

PG_FUNCTION_INFO_V1(loyalty_tier);

/* The rank a member holds after an evaluation; see the file header. */
Datum
loyalty_tier(PG_FUNCTION_ARGS)
{
	float8		metric = PG_GETARG_FLOAT8(0);
	ArrayType  *thresholds = PG_GETARG_ARRAYTYPE_P(1);
	int32		current = PG_GETARG_INT32(2);
	bool		is_review = PG_GETARG_BOOL(3);
	bool		soft_landing = PG_GETARG_BOOL(4);
	const float8 *t;
	int			ntiers;
	int32		qualified = 0;

	/* A negative metric is fine: returns can exceed purchases. */
	if (isnan(metric) || isinf(metric))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("qualifying metric must be a finite number, not %g", metric),
				 errhint("The metric is the member's net spend, points or visits over the qualification window.")));

	t = CheckThresholds(thresholds, &ntiers);

	if (current < 0 || current > ntiers)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("current rank must be between 0 and %d, not %d", ntiers, current),
				 errhint("Ranks run from 1 to the number of thresholds; 0 means the member holds no tier yet.")));

	while (qualified < ntiers && metric >= t[qualified])
		qualified++;

	if (qualified >= current)
		PG_RETURN_INT32(qualified);
	if (!is_review)
		PG_RETURN_INT32(current);
	PG_RETURN_INT32(soft_landing ? Max(qualified, current - 1) : qualified);
}
