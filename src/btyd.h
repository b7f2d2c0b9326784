/*-------------------------------------------------------------------------
 *
 * btyd.h
 *	  Shared math of the "buy till you die" models: the BG/NBD and
 *	  Pareto/NBD purchase and dropout models and the Gamma-Gamma spend
 *	  model, their parameters, the checks of a customer's (x, t_x, T)
 *	  summary and the special functions the likelihoods need.
 *
 * Time is in one unit chosen by the caller (weeks, days): x is the number
 * of repeat purchases, t_x the time from the first to the last purchase and
 * T the time from the first purchase to the analysis date.
 *
 *-------------------------------------------------------------------------
 */
#ifndef BTYD_H
#define BTYD_H

#include "postgres.h"

#include <math.h>

#include "fmgr.h"

#include "grouped_points.h"
#include "optimize.h"
#include "retail_crm.h"

/*
 * BG/NBD and MBG/NBD parameters: purchase rates ~ Gamma(r, alpha), dropout
 * ~ Beta(a, b)
 */
typedef struct BgnbdParams
{
	double		r;
	double		alpha;
	double		a;
	double		b;
} BgnbdParams;

/*
 * Pareto/NBD parameters: purchase rates ~ Gamma(r, alpha), dropout rates
 * ~ Gamma(s, beta).  Exported for clv, which scores with either purchase
 * model.
 */
typedef struct ParetoNbdParams
{
	double		r;
	double		alpha;
	double		s;
	double		beta;
} ParetoNbdParams;

/* Gamma-Gamma parameters: spend ~ Gamma(p, nu), nu ~ Gamma(q, v) */
typedef struct GammaGammaParams
{
	double		p;
	double		q;
	double		v;
} GammaGammaParams;

/*
 * A model composite type.  Its columns are the nparams parameters, then
 * log_likelihood, customers, converged and any model-specific ones, among
 * them the nparams standard errors of the parameters from se_column on.
 */
typedef struct ModelSpec
{
	const char *name;			/* SQL name: "bgnbd", "gamma_gamma" */
	int			nparams;		/* parameters, all > 0 */
	const char *const *param_names;
	int			natts;			/* columns of the composite type */
	const char *hint;			/* how to get a valid model */
	int			se_column;		/* column of the first standard error */
} ModelSpec;

/*
 * Columns of the purchase model composites (crm.bgnbd_model,
 * crm.mbgnbd_model, crm.pareto_nbd_model): the four parameters,
 * log_likelihood, customers, converged, iterations, the parameters'
 * standard errors, dropout_log_likelihood_gain.
 */
#define PURCHASE_NATTS				13
#define PURCHASE_COL_ITERATIONS		7
#define PURCHASE_COL_SE				8
#define PURCHASE_COL_DROPOUT_GAIN	12

/* Column positions shared by every model composite, after the parameters. */
#define MODEL_COL_LOG_LIKELIHOOD(spec)	((spec)->nparams)
#define MODEL_COL_CUSTOMERS(spec)		((spec)->nparams + 1)
#define MODEL_COL_CONVERGED(spec)		((spec)->nparams + 2)

/*
 * Log-likelihood of one distinct input row at natural parameters params,
 * with its gradient in grad; cache is the model's scratch space.
 */
typedef double (*PointLogLik) (const double *params, const GroupedPoint *point,
							   double *grad, void *cache);

/* What a fit needs: the distinct rows and the model's point likelihood. */
typedef struct ModelFitData
{
	const ModelSpec *spec;
	const GroupedPoint *points; /* distinct rows, sorted */
	int32		npoints;
	double		weight;			/* customers: sum of the counts */
	PointLogLik loglik;
	void	   *cache;
} ModelFitData;

/* model composites and fits (btyd.c) */
extern void GetModelParameters(FunctionCallInfo fcinfo, int argno,
							   const ModelSpec *spec, double *values);
extern Datum ModelDatum(FunctionCallInfo fcinfo, const ModelSpec *spec,
						Datum *values, bool *nulls);
extern Datum ModelFromArguments(FunctionCallInfo fcinfo, const ModelSpec *spec);
extern void **ModelScratch(FunctionCallInfo fcinfo);
extern void FitModel(const ModelFitData *fit, const double *starts, int nstarts,
					 int64 customers, Datum *values, bool *nulls,
					 OptimizeResult *result);
extern Datum PurchaseModelFitFinal(FunctionCallInfo fcinfo, const ModelFitData *fit,
								   bool dropout_scale_is_time);
extern double MaximumLogLikelihood(const ModelFitData *fit, const double *starts,
								   int nstarts, OptimizeResult *result);

/* the no-dropout baseline of the purchase models (nbd.c) */
extern double NbdMaxLogLikelihood(const GroupedPoint *points, int32 npoints,
								  double weight, double sum_x, double sum_T);
extern Datum FiniteFloat8ArrayResult(FunctionCallInfo fcinfo, const double *values, int n);
extern double GetDoubleArg(FunctionCallInfo fcinfo, int argno, const char *what,
						   const char *aggregate);

/*
 * One of BG/NBD and MBG/NBD: its composite type, fit state and dropout
 * chances (bgnbd.c).
 */
typedef struct BgnbdVariant
{
	const ModelSpec *spec;
	GroupedPointsKind kind;
	const char *aggregate;		/* SQL name of the fit, for messages */
	double		first_dropout;	/* d: 0 for BG/NBD, 1 for MBG/NBD */
} BgnbdVariant;

extern const BgnbdVariant bgnbd_variant;
extern const BgnbdVariant mbgnbd_variant;
extern void GetBgnbdCustomerAndModel(FunctionCallInfo fcinfo, int argno,
									 const BgnbdVariant *variant, double *x,
									 double *t_x, double *T, BgnbdParams *p);
extern double BgnbdLogOddsDead(const BgnbdParams *p, double d, double x,
							   double t_x, double T);

/* model readers (bgnbd.c, pareto_nbd.c, gamma_gamma.c) */
extern void GetBgnbdModelArg(FunctionCallInfo fcinfo, int argno, BgnbdParams *params);
extern void GetMbgnbdModelArg(FunctionCallInfo fcinfo, int argno, BgnbdParams *params);
extern void GetParetoNbdModelArg(FunctionCallInfo fcinfo, int argno, ParetoNbdParams *params);
extern void GetGammaGammaModelArg(FunctionCallInfo fcinfo, int argno, GammaGammaParams *params);

/* scoring (expected_purchases.c, pareto_nbd.c, gamma_gamma.c) */
extern void BgnbdExpectedPurchasesMany(const BgnbdParams *p, const double *horizons,
									   int n, double x, double t_x, double T,
									   double *expected);
extern void MbgnbdExpectedPurchasesMany(const BgnbdParams *p, const double *horizons,
										int n, double x, double t_x, double T,
										double *expected);
extern void ParetoNbdExpectedPurchasesMany(const ParetoNbdParams *p, const double *horizons,
										   int n, double x, double t_x, double T,
										   double *expected);
extern double GammaGammaExpectedSpend(const GammaGammaParams *p, double x, double zbar);
extern bool GetSpendArgs(FunctionCallInfo fcinfo, int xarg, int zarg,
						 double *x, double *zbar);

/*
 * Check a count: a finite whole number from 0 to max; above max raises
 * max_errcode.
 */
static inline void
CheckCount(double value, double max, int max_errcode, const char *what,
		   const char *hint)
{
	CheckNonNegative(value, what, hint);
	if (value != floor(value))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s must be a whole number, not %g", what, value),
				 errhint("%s", hint)));
	if (value > max)
		ereport(ERROR,
				(errcode(max_errcode),
				 errmsg("%s must be at most %g, not %g", what, max, value),
				 errhint("%s", hint)));
}

/*
 * Check a frequency: a whole number of repeat purchases.  BTYD x counts
 * purchase periods; a fraction means the caller passed an average or a
 * wrong column, so it is rejected instead of being fitted.
 */
static inline void
CheckFrequency(double x)
{
	CheckCount(x, BTYD_MAX_FREQUENCY, ERRCODE_INVALID_PARAMETER_VALUE, "frequency",
			   "frequency is the number of repeat purchases: distinct purchase periods after the first one.");
}

/*
 * Check one customer's BTYD summary (x, t_x, T): finite, x a whole number,
 * 0 <= t_x <= T.
 */
static inline void
CheckBtydSummary(double x, double t_x, double T)
{
	CheckFrequency(x);
	CheckNonNegative(t_x, "recency",
					 "recency is the time from the first to the last purchase (BTYD t_x), not RFM recency.");
	CheckNonNegative(T, "t",
					 "t is the time from the first purchase to the analysis date (BTYD T).");
	if (t_x > T)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("recency %g must not exceed t %g", t_x, T),
				 errhint("recency is the time from the first to the last purchase and t the time from the first purchase to the analysis date, both in the same unit; BTYD recency is not RFM recency.")));
}

/*
 * Expected purchases as returned to SQL: an infinite or undefined
 * expectation (a horizon or parameters far out of scale) is an error, not
 * a value.
 */
static inline double
CheckedExpectedPurchases(double expected, double horizon)
{
	if (isinf(expected) || isnan(expected))
		ereport(ERROR,
				(errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE),
				 errmsg("expected purchases over a horizon of %g are out of range", horizon),
				 errhint("Check horizon, t and the model parameters for unit errors.")));
	return expected;
}

/* Check a horizon or other span of future time: finite and >= 0. */
static inline void
CheckHorizon(double horizon)
{
	CheckNonNegative(horizon, "horizon",
					 "horizon is the length of the future period, in the time unit of t.");
}

/*
 * Digamma function psi(x) for x > 0 (C has none): shift x up with
 * psi(x) = psi(x + 1) - 1/x, then the asymptotic series, whose first
 * omitted term is below 2e-14 for x >= 10.
 */
static inline double
Digamma(double x)
{
	double		result = 0.0;
	double		inv2;

	while (x < 10.0)
	{
		result -= 1.0 / x;
		x += 1.0;
	}
	inv2 = 1.0 / (x * x);
	result += log(x) - 0.5 / x -
		inv2 * (1.0 / 12 - inv2 * (1.0 / 120 - inv2 * (1.0 / 252 - inv2 * (1.0 / 240 - inv2 * (1.0 / 132)))));
	return result;
}

/* 1 / (1 + e^-u), the logistic function, without overflow */
static inline double
Logistic(double u)
{
	if (u >= 0)
		return 1.0 / (1.0 + exp(-u));
	else
	{
		double		e = exp(u);

		return e / (1.0 + e);
	}
}

#endif							/* BTYD_H */
