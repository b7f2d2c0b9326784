/*-------------------------------------------------------------------------
 *
 * lifecycle.c
 *	  Lifecycle stage of one customer from order count and day measures.
 *
 * The stages (DEFINITIONS.md, "RFM scores, segments and lifecycle stages")
 * are decided by rules in a fixed order, the first match wins:
 *
 *	1. orders = 0							-> prospect
 *	2. recency_days > dormant_days			-> lost
 *	3. recency_days > at_risk_days			-> dormant
 *	4. recency_days > active_days			-> at-risk
 *	5. tenure_days <= new_days				-> new
 *	6. last_gap_days > at_risk_days			-> reactivated
 *	7. otherwise							-> active
 *
 * recency_days is the number of days from the last purchase to the analysis
 * date, tenure_days from the first purchase to the analysis date, and
 * last_gap_days the number of days between the last two purchase days (NULL
 * when the customer bought on a single day only).  A value exactly at a
 * threshold does not cross it: recency_days = active_days is still active,
 * tenure_days = new_days is still new, and last_gap_days = at_risk_days is
 * not a reactivation.
 *
 * The function is not strict because NULL means different things for
 * different arguments: a NULL order count gives a NULL stage, a prospect has
 * no purchase dates, a NULL last gap means "no gap", but a missing threshold
 * or a missing date of a buying customer is an error, not an unknown stage.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <math.h>

#include "fmgr.h"
#include "retail_crm.h"
#include "utils/builtins.h"

/* Argument positions, named so that the NULL checks read like the SQL. */
#define LC_ARG_ORDERS		0
#define LC_ARG_RECENCY		1
#define LC_ARG_TENURE		2
#define LC_ARG_LAST_GAP		3
#define LC_ARG_NEW			4
#define LC_ARG_ACTIVE		5
#define LC_ARG_AT_RISK		6
#define LC_ARG_DORMANT		7

/*
 * Fetch a threshold that must be present, finite and positive; a zero
 * window would make every purchase older than it by construction.
 */
static inline float8
CheckThreshold(FunctionCallInfo fcinfo, int argno, const char *what)
{
	float8		value;

	if (PG_ARGISNULL(argno))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("%s must not be NULL", what),
				 errhint("Pass all four stage thresholds in days; lifecycle_stage has no built-in defaults.")));

	value = PG_GETARG_FLOAT8(argno);
	CheckFinite(value, what);
	if (value <= 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s must be greater than zero, not %g", what, value),
				 errhint("Stage thresholds are windows in days and must be positive.")));

	return value;
}

/*
 * The stages only nest if the windows grow: a "new" window longer than the
 * active one could never be reached, and equal at-risk/dormant windows would
 * leave a stage empty.
 */
static inline void
CheckThresholdOrder(float8 new_days, float8 active_days,
					float8 at_risk_days, float8 dormant_days)
{
	if (!(new_days <= active_days &&
		  active_days < at_risk_days &&
		  at_risk_days < dormant_days))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("lifecycle thresholds are out of order: new_days = %g, active_days = %g, at_risk_days = %g, dormant_days = %g",
						new_days, active_days, at_risk_days, dormant_days),
				 errhint("Thresholds must satisfy new_days <= active_days < at_risk_days < dormant_days.")));
}

/* Fetch a day measure that a buying customer must have. */
static inline float8
GetRequiredDays(FunctionCallInfo fcinfo, int argno, const char *what)
{
	float8		value;

	if (PG_ARGISNULL(argno))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("%s must not be NULL when orders is greater than zero", what),
				 errhint("A customer with orders has a first and a last purchase date; pass orders = 0 for prospects.")));

	/* Both required measures count back from the analysis date. */
	value = PG_GETARG_FLOAT8(argno);
	CheckNonNegative(value, what,
			  "Days are counted from a purchase to the analysis date; a negative value means a purchase after the analysis date.");

	return value;
}

PG_FUNCTION_INFO_V1(lifecycle_stage);

/* Lifecycle stage name of one customer; NULL if the order count is NULL. */
Datum
lifecycle_stage(PG_FUNCTION_ARGS)
{
	int64		orders;
	float8		new_days;
	float8		active_days;
	float8		at_risk_days;
	float8		dormant_days;
	float8		recency_days;
	float8		tenure_days;
	float8		last_gap_days = 0;
	bool		has_gap;
	const char *stage;

	/* An unknown order count is an unknown stage, like a strict function. */
	if (PG_ARGISNULL(LC_ARG_ORDERS))
		PG_RETURN_NULL();

	orders = PG_GETARG_INT64(LC_ARG_ORDERS);
	if (orders < 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("orders must be zero or more, not " INT64_FORMAT, orders),
				 errhint("Count distinct orders; returns reduce spend, not the order count.")));

	/*
	 * Thresholds are checked even for prospects so that a bad configuration
	 * fails on every row, not only once the first buyer shows up.
	 */
	new_days = CheckThreshold(fcinfo, LC_ARG_NEW, "new_days");
	active_days = CheckThreshold(fcinfo, LC_ARG_ACTIVE, "active_days");
	at_risk_days = CheckThreshold(fcinfo, LC_ARG_AT_RISK, "at_risk_days");
	dormant_days = CheckThreshold(fcinfo, LC_ARG_DORMANT, "dormant_days");
	CheckThresholdOrder(new_days, active_days, at_risk_days, dormant_days);

	/* A prospect has no purchase dates; whatever was passed is not used. */
	if (orders == 0)
		PG_RETURN_TEXT_P(cstring_to_text("prospect"));

	recency_days = GetRequiredDays(fcinfo, LC_ARG_RECENCY, "recency_days");
	tenure_days = GetRequiredDays(fcinfo, LC_ARG_TENURE, "tenure_days");
	if (tenure_days < recency_days)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("tenure_days (%g) must not be less than recency_days (%g)",
						tenure_days, recency_days),
				 errhint("The first purchase cannot be after the last one; check that the two arguments are not swapped.")));

	/* NULL last gap: every purchase fell on one day, so no dormant spell. */
	has_gap = !PG_ARGISNULL(LC_ARG_LAST_GAP);
	if (has_gap)
	{
		last_gap_days = PG_GETARG_FLOAT8(LC_ARG_LAST_GAP);
		CheckNonNegative(last_gap_days, "last_gap_days",
				  "last_gap_days is the number of days between the last two purchase days; pass NULL when all purchases fell on one day.");
	}

	if (recency_days > dormant_days)
		stage = "lost";
	else if (recency_days > at_risk_days)
		stage = "dormant";
	else if (recency_days > active_days)
		stage = "at-risk";
	else if (tenure_days <= new_days)
		stage = "new";
	else if (has_gap && last_gap_days > at_risk_days)
		stage = "reactivated";
	else
		stage = "active";

	PG_RETURN_TEXT_P(cstring_to_text(stage));
}
