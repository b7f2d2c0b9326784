/*-------------------------------------------------------------------------
 *
 * bgnbd.c
 *	  The BG/NBD model (Fader, Hardie & Lee 2005, "Counting Your Customers
 *	  the Easy Way"): the crm.bgnbd_fit aggregate, the per-customer
 *	  log-likelihood and its gradient, P(alive), churn risk and conditional
 *	  expected purchases.
 *
 * For one customer with summary (x, t_x, T), write
 *
 *	 lo = ln a - ln(b + x - 1) + (r + x) (ln(alpha + T) - ln(alpha + t_x))
 *
 * for x > 0 (the log-odds that the customer has dropped out) and lo = -Inf
 * for x = 0.  Then
 *
 *	 ln L = ln G(r+x) - ln G(r) + r ln alpha + ln B(a, b+x) - ln B(a, b)
 *			- (r + x) ln(alpha + T) + ln(1 + e^lo)
 *	 P(alive) = 1 / (1 + e^lo)
 *
 * which is the paper's sum of two terms written as a log-sum-exp: nothing
 * overflows for heavy buyers or long-lapsed customers.  x = 0 gives
 * P(alive) = 1 by construction of the model (a customer can only drop out
 * right after a purchase), which churn views should treat separately.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <float.h>
#include <math.h>

#include "fmgr.h"

#include "btyd.h"
#include "grouped_points.h"

/* Columns of crm.bgnbd_model, in order. */
#define BGNBD_NATTS			8
#define BGNBD_NPARAMS		4

static const char *const bgnbd_param_names[BGNBD_NPARAMS] = {"r", "alpha", "a", "b"};

static const ModelSpec bgnbd_spec = {
	"bgnbd", BGNBD_NPARAMS, bgnbd_param_names, BGNBD_NATTS,
	"BG/NBD parameters r, alpha, a and b must all be greater than 0; fit them with crm.bgnbd_fit() or pass published ones to crm.bgnbd_model()."
};

/* The parts of ln L and its gradient that depend on x only. */
typedef struct BgnbdXTerms
{
	BgnbdParams params;			/* the parameters they were computed for */
	double		x;
	double		base;			/* ln L without the terms in t_x and T */
	double		log_ratio;		/* ln a - ln(b + x - 1), x > 0 */
	double		dr;				/* d base / dr */
	double		da;				/* d base / da */
	double		db;				/* d base / db */
} BgnbdXTerms;

/* Model arguments and the fit read BgnbdParams as an array of parameters. */
StaticAssertDecl(sizeof(BgnbdParams) == BGNBD_NPARAMS * sizeof(double),
				 "BgnbdParams must be an array of doubles");

/* Read a crm.bgnbd_model argument; its parameters must be finite and > 0. */
void
GetBgnbdModelArg(FunctionCallInfo fcinfo, int argno, BgnbdParams *params)
{
	GetModelParameters(fcinfo, argno, &bgnbd_spec, (double *) params);
}

/* Fill the x-only terms for parameters p. */
static void
BgnbdXTermsFor(const BgnbdParams *p, double x, BgnbdXTerms *t)
{
	double		psi_abx = Digamma(p->a + p->b + x);
	double		psi_ab = Digamma(p->a + p->b);

	t->params = *p;
	t->x = x;
	t->base = lgamma(p->r + x) - lgamma(p->r) + p->r * log(p->alpha) +
		lgamma(p->b + x) - lgamma(p->a + p->b + x) - lgamma(p->b) +
		lgamma(p->a + p->b);
	t->log_ratio = x > 0 ? log(p->a) - log(p->b + x - 1) : 0.0;
	t->dr = Digamma(p->r + x) - Digamma(p->r) + log(p->alpha);
	t->da = psi_ab - psi_abx;
	t->db = Digamma(p->b + x) - Digamma(p->b) + psi_ab - psi_abx;
}

/*
 * ln L of one customer, and its gradient with respect to (r, alpha, a, b)
 * in grad if grad is not NULL.  The derivative of ln(1 + e^lo) brings in
 * w = 1 - P(alive), the logistic of lo.
 */
static double
BgnbdPointLogLik(const BgnbdParams *p, const BgnbdXTerms *xt, double t_x,
				 double T, double *grad)
{
	double		rx = p->r + xt->x;
	double		log_aT = log(p->alpha + T);
	double		ll = xt->base - rx * log_aT;
	double		w = 0.0;
	double		log_atx = 0.0;

	if (xt->x > 0)
	{
		double		lo;
		double		e;

		log_atx = log(p->alpha + t_x);
		lo = xt->log_ratio + rx * (log_aT - log_atx);

		/* Softplus(lo) and Logistic(lo) sharing one exp() of -|lo| */
		e = exp(-fabs(lo));
		ll += Max(lo, 0.0) + log1p(e);
		w = (lo >= 0) ? 1.0 / (1.0 + e) : e / (1.0 + e);
	}
	if (grad != NULL)
	{
		grad[0] = xt->dr - log_aT + w * (log_aT - log_atx);
		grad[1] = p->r / p->alpha - rx / (p->alpha + T);
		grad[2] = xt->da;
		grad[3] = xt->db;
		if (xt->x > 0)
		{
			grad[1] += w * rx * (1.0 / (p->alpha + T) - 1.0 / (p->alpha + t_x));
			grad[2] += w / p->a;
			grad[3] -= w / (p->b + xt->x - 1);
		}
	}
	return ll;
}

/*
 * ln L of a distinct row for the fit.  Rows come sorted by x, so the x-only
 * terms (lgamma, digamma) are recomputed only when x or the parameters
 * change.
 */
static double
BgnbdFitPointLogLik(const double *params, const GroupedPoint *point,
					double *grad, void *cache)
{
	const BgnbdParams *p = (const BgnbdParams *) params;
	BgnbdXTerms *xt = (BgnbdXTerms *) cache;

	if (point->v[0] != xt->x || memcmp(&xt->params, p, sizeof(BgnbdParams)) != 0)
		BgnbdXTermsFor(p, point->v[0], xt);
	return BgnbdPointLogLik(p, xt, point->v[1], point->v[2], grad);
}

/*
 * Transition function of bgnbd_fit: add one customer (x, t_x, T).  Not
 * strict: a NULL raises 22004, like customer_facts, rather than silently
 * dropping a customer from the fit.
 */
PG_FUNCTION_INFO_V1(bgnbd_fit_accum);
Datum
bgnbd_fit_accum(PG_FUNCTION_ARGS)
{
	double		v[3];

	/* validate the row before touching the state */
	v[0] = GetDoubleArg(fcinfo, 1, "frequency", "crm.bgnbd_fit");
	v[1] = GetDoubleArg(fcinfo, 2, "recency", "crm.bgnbd_fit");
	v[2] = GetDoubleArg(fcinfo, 3, "t", "crm.bgnbd_fit");
	CheckBtydSummary(v[0], v[1], v[2]);

	PG_RETURN_BYTEA_P(GroupedPointsAdd(GroupedPointsForUpdate(fcinfo, GP_KIND_BGNBD), v));
}

/* Combine function of bgnbd_fit: merge two partial states. */
PG_FUNCTION_INFO_V1(bgnbd_fit_combine);
Datum
bgnbd_fit_combine(PG_FUNCTION_ARGS)
{
	return GroupedPointsCombine(fcinfo, GP_KIND_BGNBD);
}

/*
 * Final function of bgnbd_fit: the maximum likelihood model.  BFGS on the
 * log-parameters from a start scaled to the data (r = 1, alpha = mean T /
 * mean x, a = b = 1), restarted from two other points if it does not
 * converge; the best finite point wins and converged says whether a
 * stopping rule held there.  Without any repeat purchase a and b do not
 * enter the likelihood and r, alpha run off to a boundary: the model is
 * returned with NULL parameters and converged = false.
 */
PG_FUNCTION_INFO_V1(bgnbd_fit_final);
Datum
bgnbd_fit_final(PG_FUNCTION_ARGS)
{
	GroupedPoints *state = GroupedPointsArg(fcinfo, 0, GP_KIND_BGNBD);
	BgnbdXTerms cache;
	ModelFitData fit;
	double		sum_x = 0.0;
	double		sum_T = 0.0;
	Datum		values[BGNBD_NATTS];
	bool		nulls[BGNBD_NATTS];
	int32		i;

	fit.spec = &bgnbd_spec;
	fit.points = GroupedPointsDistinct(state, &fit.npoints);
	fit.weight = (double) state->rows;
	fit.loglik = BgnbdFitPointLogLik;
	fit.cache = &cache;
	cache.x = -1;				/* no x yet */
	if (fit.npoints == 0)
		PG_RETURN_NULL();
	for (i = 0; i < fit.npoints; i++)
	{
		sum_x += fit.points[i].v[0] * (double) fit.points[i].count;
		sum_T += fit.points[i].v[2] * (double) fit.points[i].count;
	}

	memset(nulls, true, sizeof(nulls));
	if (sum_x > 0)
	{
		double		mean_T = Max(sum_T / fit.weight, 1e-6);
		double		starts[3][BGNBD_NPARAMS] = {
			{0.0, log(mean_T * fit.weight / sum_x), 0.0, 0.0},
			{0.0, 0.0, 0.0, 0.0},
			{log(0.25), log(mean_T), log(0.5), log(3.0)},
		};
		OptimizeResult result;

		FitModel(&fit, &starts[0][0], lengthof(starts), state->rows,
				 values, nulls, &result);
		values[7] = Int32GetDatum(result.iterations);
		nulls[7] = false;
	}
	else
	{
		/* not identified: parameters NULL, no iterations */
		values[5] = Int64GetDatum(state->rows);
		values[6] = BoolGetDatum(false);
		values[7] = Int32GetDatum(0);
		nulls[5] = nulls[6] = nulls[7] = false;
	}
	PG_RETURN_DATUM(ModelDatum(fcinfo, &bgnbd_spec, values, nulls));
}

/* crm.bgnbd_model(r, alpha, a, b): a model from known parameters. */
PG_FUNCTION_INFO_V1(bgnbd_model);
Datum
bgnbd_model(PG_FUNCTION_ARGS)
{
	PG_RETURN_DATUM(ModelFromArguments(fcinfo, &bgnbd_spec));
}

/* Read (frequency, recency, t) at argno.. and the model after them. */
static void
GetCustomerAndModel(FunctionCallInfo fcinfo, int argno, double *x, double *t_x,
					double *T, BgnbdParams *p)
{
	*x = PG_GETARG_FLOAT8(argno);
	*t_x = PG_GETARG_FLOAT8(argno + 1);
	*T = PG_GETARG_FLOAT8(argno + 2);
	CheckBtydSummary(*x, *t_x, *T);
	GetBgnbdModelArg(fcinfo, argno + 3, p);
}

/* The log-likelihood of one customer under a model. */
PG_FUNCTION_INFO_V1(bgnbd_loglik);
Datum
bgnbd_loglik(PG_FUNCTION_ARGS)
{
	double		x,
				t_x,
				T;
	BgnbdParams p;
	BgnbdXTerms xt;

	GetCustomerAndModel(fcinfo, 0, &x, &t_x, &T, &p);
	BgnbdXTermsFor(&p, x, &xt);
	PG_RETURN_FLOAT8(BgnbdPointLogLik(&p, &xt, t_x, T, NULL));
}

/*
 * The analytic gradient of one customer's log-likelihood with respect to
 * (r, alpha, a, b): the one the fit uses, exposed so that a test can
 * compare it with finite differences of bgnbd_loglik.
 */
PG_FUNCTION_INFO_V1(bgnbd_loglik_gradient);
Datum
bgnbd_loglik_gradient(PG_FUNCTION_ARGS)
{
	double		x,
				t_x,
				T;
	BgnbdParams p;
	BgnbdXTerms xt;
	double		grad[BGNBD_NPARAMS];

	GetCustomerAndModel(fcinfo, 0, &x, &t_x, &T, &p);
	BgnbdXTermsFor(&p, x, &xt);
	BgnbdPointLogLik(&p, &xt, t_x, T, grad);
	PG_RETURN_DATUM(Float8ArrayDatum(grad, BGNBD_NPARAMS));
}

/* lo, the log-odds that a customer is dead; -Infinity for x = 0. */
double
BgnbdLogOddsDead(const BgnbdParams *p, double x, double t_x, double T)
{
	if (x == 0)
		return -INFINITY;
	return log(p->a) - log(p->b + x - 1) +
		(p->r + x) * (log(p->alpha + T) - log(p->alpha + t_x));
}

/* P(alive) = 1 / (1 + e^lo); 1 for x = 0 by construction. */
PG_FUNCTION_INFO_V1(p_alive);
Datum
p_alive(PG_FUNCTION_ARGS)
{
	double		x,
				t_x,
				T;
	BgnbdParams p;

	GetCustomerAndModel(fcinfo, 0, &x, &t_x, &T, &p);
	PG_RETURN_FLOAT8(Logistic(-BgnbdLogOddsDead(&p, x, t_x, T)));
}

/* 1 - P(alive) = e^lo / (1 + e^lo), computed directly to keep small risks exact. */
PG_FUNCTION_INFO_V1(churn_risk);
Datum
churn_risk(PG_FUNCTION_ARGS)
{
	double		x,
				t_x,
				T;
	BgnbdParams p;

	GetCustomerAndModel(fcinfo, 0, &x, &t_x, &T, &p);
	PG_RETURN_FLOAT8(Logistic(BgnbdLogOddsDead(&p, x, t_x, T)));
}

/*
 * E[Y(t) | x, t_x, T], the expected purchases in the next t time units:
 *
 *	 (a+b+x-1)/(a-1) [1 - ((alpha+T)/(alpha+T+t))^(r+x) 2F1(r+x, b+x; a+b+x-1; z)]
 *	   * P(alive),	z = t / (alpha + T + t).
 *
 * Evaluated after Euler's transformation, 2F1(r+x, b+x; c; z) =
 * (1-z)^(a-1-r-x) 2F1(a+b-1-r, a-1; c; z) with c = a+b+x-1, under which the
 * power of (1-z) cancels and, writing 2F1(A, a-1; c; z) = 1 + (a-1) S/c,
 *
 *	 E = [-c L phi((a-1) L) - (1-z)^(a-1) S] * P(alive),
 *	 L = ln(1-z), phi(u) = (e^u - 1)/u,
 *	 S = sum_{n>=1} (A)_n (a)_{n-1} / ((c+1)_{n-1} n!) z^n,  A = a+b-1-r.
 *
 * This has no overflow for large x (no (1-z)^-(r+x)), no 0/0 at a = 1, no
 * pole at c = 0, and the series terms fall like n^(a-r-x-2) z^n, so it
 * converges fast for heavy buyers and geometrically otherwise; its length is
 * capped at BTYD_MAX_SERIES_TERMS.
 */
double
BgnbdExpectedPurchases(const BgnbdParams *p, double horizon, double x,
					   double t_x, double T)
{
	double		c = p->a + p->b + x - 1;
	double		A = p->a + p->b - 1 - p->r;
	double		L;
	double		z;
	double		u;
	double		phi;
	double		term;
	double		sum;
	double		result;
	int64		n;

	if (horizon == 0)
		return 0.0;
	L = -log1p(horizon / (p->alpha + T));
	z = horizon / (p->alpha + T + horizon);
	u = (p->a - 1) * L;
	phi = (u == 0) ? 1.0 : expm1(u) / u;

	term = A * z;
	sum = term;
	for (n = 1; term != 0; n++)
	{
		double		ratio = (A + n) * (p->a + n - 1) / ((c + n) * (n + 1)) * z;

		term *= ratio;
		sum += term;
		/* decreasing terms, and the rest below rounding of the result */
		if (fabs(ratio) < 1 &&
			fabs(term) <= DBL_EPSILON / 8 * (fabs(sum) + fabs(c * L)) * (1 - z))
			break;
		if (n >= BTYD_MAX_SERIES_TERMS)
			ereport(ERROR,
					(errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE),
					 errmsg("expected purchases over a horizon of %g do not converge within %d series terms",
							horizon, BTYD_MAX_SERIES_TERMS),
					 errhint("Use a horizon shorter than about 100000 times alpha + t.")));
	}
	result = (-c * L * phi - exp(u) * sum) * Logistic(-BgnbdLogOddsDead(p, x, t_x, T));
	/* rounding can leave a tiny negative value for a tiny horizon */
	return Max(result, 0.0);
}

/* Check a horizon or other span of future time: finite and >= 0. */
static inline void
CheckHorizon(double horizon)
{
	CheckNonNegative(horizon, "horizon",
					 "horizon is the length of the future period, in the time unit of t.");
}

/* crm.expected_purchases(horizon, frequency, recency, t, model) */
PG_FUNCTION_INFO_V1(expected_purchases);
Datum
expected_purchases(PG_FUNCTION_ARGS)
{
	double		horizon = PG_GETARG_FLOAT8(0);
	double		x,
				t_x,
				T;
	BgnbdParams p;

	CheckHorizon(horizon);
	GetCustomerAndModel(fcinfo, 1, &x, &t_x, &T, &p);
	PG_RETURN_FLOAT8(BgnbdExpectedPurchases(&p, horizon, x, t_x, T));
}
