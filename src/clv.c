/*-------------------------------------------------------------------------
 *
 * clv.c
 *	  Customer lifetime value from a purchase model (BG/NBD, MBG/NBD or
 *	  Pareto/NBD) and a Gamma-Gamma model:
 *
 *	  CLV = sum_{k=1..H} E[spend] (E[Y(k m)] - E[Y((k-1) m)]) / (1 + d)^k
 *
 * over H months, with monthly discount rate d and m time units of t per
 * month (4.345 for weeks, 30.4375 for days).  A wrong m silently scales the
 * result several-fold, so it is a required argument with no default.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <math.h>

#include "fmgr.h"

#include "btyd.h"

/*
 * Most months summed: 100 years.  A longer horizon says more about the
 * model's tail than about a customer.
 */
#define CLV_MAX_MONTHS		1200

/* months: a whole number from 0 to CLV_MAX_MONTHS. */
static inline void
CheckMonths(double months)
{
	CheckCount(months, CLV_MAX_MONTHS, ERRCODE_PROGRAM_LIMIT_EXCEEDED, "months",
			   "months is the number of future months to sum, at most 1200 (100 years); lifetime value is usually summed over 12 to 120 months.");
}

/* monthly_discount: finite and > -1, so that (1 + d)^k > 0. */
static inline void
CheckDiscount(double d)
{
	CheckGreaterThan(d, -1, "monthly_discount",
					 "monthly_discount is a rate per month, such as 0.01 for 1 %; 0 means no discounting.");
}

/* periods_per_month: finite and > 0. */
static inline void
CheckPeriodsPerMonth(double m)
{
	CheckGreaterThan(m, 0, "periods_per_month",
					 "periods_per_month is the number of time units of t in a month: 4.345 for weeks, 30.4375 for days.");
}

/*
 * A purchase model as clv sees it: read its composite argument into
 * params (at most four doubles), and fill expected[i] = E[Y(horizons[i])]
 * for n horizons at once (the long ones may share work, as BG/NBD's
 * quadrature grid does).
 */
typedef struct ClvPurchaseModel
{
	void		(*read) (FunctionCallInfo fcinfo, int argno, void *params);
	void		(*expected_many) (const void *params, const double *horizons, int n,
								  double x, double t_x, double T, double *expected);
} ClvPurchaseModel;

/*
 * crm.clv(frequency, recency, t, monetary_avg, purchase_model, gg_model,
 * months, monthly_discount, periods_per_month) for either purchase model.
 * Not strict only so that monetary_avg may be NULL for a customer without
 * repeat purchases (the population mean spend is used); any other NULL
 * gives NULL.
 */
static Datum
ClvOf(FunctionCallInfo fcinfo, const ClvPurchaseModel *model)
{
	double		x,
				zbar,
				t_x,
				T;
	double		months,
				discount,
				m;
	double		params[4];
	GammaGammaParams gg;
	double		spend;
	double	   *horizons;
	double	   *expected;
	double		previous = 0.0;
	double		total = 0.0;
	double		log_growth;
	int			argno;
	int			k;

	for (argno = 0; argno < 9; argno++)
		if (argno != 3 && PG_ARGISNULL(argno))
			PG_RETURN_NULL();
	if (!GetSpendArgs(fcinfo, 0, 3, &x, &zbar))
		PG_RETURN_NULL();
	t_x = PG_GETARG_FLOAT8(1);
	T = PG_GETARG_FLOAT8(2);
	CheckBtydSummary(x, t_x, T);
	model->read(fcinfo, 4, params);
	GetGammaGammaModelArg(fcinfo, 5, &gg);
	months = PG_GETARG_FLOAT8(6);
	discount = PG_GETARG_FLOAT8(7);
	m = PG_GETARG_FLOAT8(8);
	CheckMonths(months);
	CheckDiscount(discount);
	CheckPeriodsPerMonth(m);

	spend = GammaGammaExpectedSpend(&gg, x, zbar);
	log_growth = log1p(discount);

	/*
	 * All horizons at once: a model may share work between them (BG/NBD's
	 * long horizons share one quadrature grid instead of one per month).
	 */
	horizons = palloc((Max((int) months, 1)) * sizeof(double));
	expected = palloc((Max((int) months, 1)) * sizeof(double));
	for (k = 1; k <= (int) months; k++)
		horizons[k - 1] = k * m;
	model->expected_many(params, horizons, (int) months, x, t_x, T, expected);
	for (k = 1; k <= (int) months; k++)
	{
		total += (expected[k - 1] - previous) * exp(-k * log_growth);
		previous = expected[k - 1];
	}
	pfree(horizons);
	pfree(expected);
	total *= spend;
	if (isinf(total) || isnan(total))
		ereport(ERROR,
				(errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE),
				 errmsg("clv is out of range"),
				 errhint("Check monetary_avg, monthly_discount and the model parameters for unit errors.")));
	PG_RETURN_FLOAT8(total);
}

/* The purchase models' sides of ClvPurchaseModel. */
StaticAssertDecl(sizeof(BgnbdParams) <= 4 * sizeof(double) &&
				 sizeof(ParetoNbdParams) <= 4 * sizeof(double),
				 "clv reads a purchase model into four doubles");

static void
ClvReadBgnbd(FunctionCallInfo fcinfo, int argno, void *params)
{
	GetBgnbdModelArg(fcinfo, argno, (BgnbdParams *) params);
}

static void
ClvBgnbdExpected(const void *params, const double *horizons, int n,
				 double x, double t_x, double T, double *expected)
{
	BgnbdExpectedPurchasesMany((const BgnbdParams *) params, horizons, n, x, t_x, T, expected);
}

static void
ClvReadMbgnbd(FunctionCallInfo fcinfo, int argno, void *params)
{
	GetMbgnbdModelArg(fcinfo, argno, (BgnbdParams *) params);
}

static void
ClvMbgnbdExpected(const void *params, const double *horizons, int n,
				  double x, double t_x, double T, double *expected)
{
	MbgnbdExpectedPurchasesMany((const BgnbdParams *) params, horizons, n, x, t_x, T, expected);
}

static void
ClvReadParetoNbd(FunctionCallInfo fcinfo, int argno, void *params)
{
	GetParetoNbdModelArg(fcinfo, argno, (ParetoNbdParams *) params);
}

static void
ClvParetoNbdExpected(const void *params, const double *horizons, int n,
					 double x, double t_x, double T, double *expected)
{
	ParetoNbdExpectedPurchasesMany((const ParetoNbdParams *) params, horizons, n,
								   x, t_x, T, expected);
}

/* crm.clv(..., bgnbd_model crm.bgnbd_model, gg_model, ...) */
PG_FUNCTION_INFO_V1(clv);
Datum
clv(PG_FUNCTION_ARGS)
{
	static const ClvPurchaseModel bgnbd = {ClvReadBgnbd, ClvBgnbdExpected};

	return ClvOf(fcinfo, &bgnbd);
}

/* crm.clv(..., mbgnbd_model crm.mbgnbd_model, gg_model, ...) */
PG_FUNCTION_INFO_V1(mbgnbd_clv);
Datum
mbgnbd_clv(PG_FUNCTION_ARGS)
{
	static const ClvPurchaseModel mbgnbd = {ClvReadMbgnbd, ClvMbgnbdExpected};

	return ClvOf(fcinfo, &mbgnbd);
}

/* crm.clv(..., pareto_nbd_model crm.pareto_nbd_model, gg_model, ...) */
PG_FUNCTION_INFO_V1(pareto_nbd_clv);
Datum
pareto_nbd_clv(PG_FUNCTION_ARGS)
{
	static const ClvPurchaseModel pareto_nbd = {ClvReadParetoNbd, ClvParetoNbdExpected};

	return ClvOf(fcinfo, &pareto_nbd);
}
