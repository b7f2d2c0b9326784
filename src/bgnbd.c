/*-------------------------------------------------------------------------
 *
 * bgnbd.c
 *	  The BG/NBD model (Fader, Hardie & Lee 2005, "Counting Your Customers
 *	  the Easy Way") and its modification MBG/NBD (Batislam, Denizel &
 *	  Filiztekin 2007, "Empirical validation and comparison of models for
 *	  customer base analysis"): the crm.bgnbd_fit and crm.mbgnbd_fit
 *	  aggregates, the per-customer log-likelihood and its gradient, P(alive)
 *	  now and at a future time and churn risk over a horizon; the
 *	  conditional expected purchases are in expected_purchases.c.
 *
 * Both models let a customer drop out, with probability p ~ Beta(a, b),
 * right after a purchase: BG/NBD after each repeat purchase, MBG/NBD also
 * right after the first one.  A customer with x repeat purchases has had
 * x + d chances to drop out, d = 0 for BG/NBD and 1 for MBG/NBD (the
 * "first-purchase dropout"), and everything below depends on the model only
 * through d.  For one customer with summary (x, t_x, T), write
 *
 *	 lo = ln a - ln(b + x + d - 1) + (r + x) (ln(alpha + T) - ln(alpha + t_x))
 *
 * for x + d > 0 (the log-odds that the customer has dropped out) and
 * lo = -Inf otherwise.  Then
 *
 *	 ln L = ln G(r+x) - ln G(r) + r ln alpha + ln B(a, b+x+d) - ln B(a, b)
 *			- (r + x) ln(alpha + T) + ln(1 + e^lo)
 *	 P(alive) = 1 / (1 + e^lo)
 *
 * which is each paper's sum of two terms written as a log-sum-exp: nothing
 * overflows for heavy buyers or long-lapsed customers.  Under BG/NBD x = 0
 * gives P(alive) = 1 by construction; under MBG/NBD one-time buyers get a
 * real P(alive) < 1.  Given that the customer is alive at T, the purchase
 * rate has the posterior Gamma(r+x, alpha+T) and the dropout probability
 * Beta(a, b+x+d), independently: the horizon churn risk, P(alive) at a
 * future time and the expected purchases integrate over them.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <math.h>

#include "fmgr.h"
#include "utils/float.h"

#include "btyd.h"
#include "expected_purchases.h"
#include "grouped_points.h"

/* crm.bgnbd_model and crm.mbgnbd_model have the purchase model columns. */
#define BGNBD_NPARAMS		4

static const char *const bgnbd_param_names[BGNBD_NPARAMS] = {"r", "alpha", "a", "b"};

static const ModelSpec bgnbd_spec = {
	"bgnbd", BGNBD_NPARAMS, bgnbd_param_names, PURCHASE_NATTS,
	"BG/NBD parameters r, alpha, a and b must all be greater than 0; fit them with crm.bgnbd_fit() or pass published ones to crm.bgnbd_model().",
	PURCHASE_COL_SE
};

static const ModelSpec mbgnbd_spec = {
	"mbgnbd", BGNBD_NPARAMS, bgnbd_param_names, PURCHASE_NATTS,
	"MBG/NBD parameters r, alpha, a and b must all be greater than 0; fit them with crm.mbgnbd_fit() or pass published ones to crm.mbgnbd_model().",
	PURCHASE_COL_SE
};

const BgnbdVariant bgnbd_variant = {&bgnbd_spec, GP_KIND_BGNBD, "crm.bgnbd_fit", 0.0};
const BgnbdVariant mbgnbd_variant = {&mbgnbd_spec, GP_KIND_MBGNBD, "crm.mbgnbd_fit", 1.0};

/* The parts of ln L and its gradient that depend on x only. */
typedef struct BgnbdXTerms
{
	BgnbdParams params;			/* the parameters they were computed for */
	double		x;
	bool		can_drop;		/* x + d > 0: the dropout term is there */
	double		b_x;			/* b + x + d - 1 */
	double		base;			/* ln L without the terms in t_x and T */
	double		log_ratio;		/* ln a - ln(b + x + d - 1), if can_drop */
	double		dr;				/* d base / dr */
	double		da;				/* d base / da */
	double		db;				/* d base / db */
} BgnbdXTerms;

/* ln(alpha + v) and 1 / (alpha + v) for a time v (t_x or T) */
typedef struct BgnbdTimeTerms
{
	double		log;
	double		inv;
} BgnbdTimeTerms;

/*
 * The fit's cache: the x-only terms of the current x, and the time terms of
 * every whole v below BGNBD_DAY_TABLE for the current alpha.  The refresh's
 * t_x and T are whole days, so most rows find their two logarithms here
 * instead of computing them at every evaluation of the likelihood.
 */
#define BGNBD_DAY_TABLE		4096

typedef struct BgnbdFitCache
{
	double		first_dropout;	/* d of the model fitted */
	BgnbdXTerms xt;
	double		table_alpha;	/* alpha of table[]; NaN before the first fill */
	BgnbdTimeTerms table[BGNBD_DAY_TABLE];
} BgnbdFitCache;

/* Model arguments and the fit read BgnbdParams as an array of parameters. */
StaticAssertDecl(sizeof(BgnbdParams) == BGNBD_NPARAMS * sizeof(double),
				 "BgnbdParams must be an array of doubles");

/* Read a crm.bgnbd_model argument; its parameters must be finite and > 0. */
void
GetBgnbdModelArg(FunctionCallInfo fcinfo, int argno, BgnbdParams *params)
{
	GetModelParameters(fcinfo, argno, &bgnbd_spec, (double *) params);
}

/* Read a crm.mbgnbd_model argument, by the same rules. */
void
GetMbgnbdModelArg(FunctionCallInfo fcinfo, int argno, BgnbdParams *params)
{
	GetModelParameters(fcinfo, argno, &mbgnbd_spec, (double *) params);
}

/*
 * Fill the x-only terms for parameters p and d dropout chances beyond the
 * repeat purchases.
 */
static void
BgnbdXTermsFor(const BgnbdParams *p, double x, double d, BgnbdXTerms *t)
{
	double		bxd = p->b + x + d;
	double		psi_abx = Digamma(p->a + bxd);
	double		psi_ab = Digamma(p->a + p->b);

	t->params = *p;
	t->x = x;
	t->can_drop = x + d > 0;
	t->b_x = bxd - 1;
	t->base = lgamma(p->r + x) - lgamma(p->r) + p->r * log(p->alpha) +
		lgamma(bxd) - lgamma(p->a + bxd) - lgamma(p->b) + lgamma(p->a + p->b);
	t->log_ratio = t->can_drop ? log(p->a) - log(t->b_x) : 0.0;
	t->dr = Digamma(p->r + x) - Digamma(p->r) + log(p->alpha);
	t->da = psi_ab - psi_abx;
	t->db = Digamma(bxd) - Digamma(p->b) + psi_ab - psi_abx;
}

/*
 * ln L of one customer, and its gradient with respect to (r, alpha, a, b)
 * in grad if grad is not NULL.  The derivative of ln(1 + e^lo) brings in
 * w = 1 - P(alive), the logistic of lo.
 */
static inline BgnbdTimeTerms
BgnbdTimeTermsOf(double alpha, double v)
{
	BgnbdTimeTerms tt;

	tt.log = log(alpha + v);
	tt.inv = 1.0 / (alpha + v);
	return tt;
}

static double
BgnbdPointLogLik(const BgnbdParams *p, const BgnbdXTerms *xt,
				 const BgnbdTimeTerms *at_tx, const BgnbdTimeTerms *at_T,
				 double *grad)
{
	double		rx = p->r + xt->x;
	double		log_aT = at_T->log;
	double		ll = xt->base - rx * log_aT;
	double		w = 0.0;
	double		log_atx = 0.0;

	if (xt->can_drop)
	{
		double		lo;
		double		e;

		log_atx = at_tx->log;
		lo = xt->log_ratio + rx * (log_aT - log_atx);

		/* Softplus(lo) and Logistic(lo) sharing one exp() of -|lo| */
		e = exp(-fabs(lo));
		ll += Max(lo, 0.0) + log1p(e);
		w = (lo >= 0) ? 1.0 / (1.0 + e) : e / (1.0 + e);
	}
	if (grad != NULL)
	{
		grad[0] = xt->dr - log_aT + w * (log_aT - log_atx);
		grad[1] = p->r / p->alpha - rx * at_T->inv;
		grad[2] = xt->da;
		grad[3] = xt->db;
		if (xt->can_drop)
		{
			grad[1] += w * rx * (at_T->inv - at_tx->inv);
			grad[2] += w / p->a;
			grad[3] -= w / xt->b_x;
		}
	}
	return ll;
}

/* Time terms of v for the fit: from the table for whole v, else computed. */
static inline BgnbdTimeTerms
BgnbdFitTimeTerms(const BgnbdFitCache *cache, double alpha, double v)
{
	if (v >= 0 && v < BGNBD_DAY_TABLE && v == floor(v))
		return cache->table[(int) v];
	return BgnbdTimeTermsOf(alpha, v);
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
	BgnbdFitCache *fc = (BgnbdFitCache *) cache;
	BgnbdTimeTerms at_tx;
	BgnbdTimeTerms at_T;

	if (p->alpha != fc->table_alpha)
	{
		int			v;

		for (v = 0; v < BGNBD_DAY_TABLE; v++)
			fc->table[v] = BgnbdTimeTermsOf(p->alpha, (double) v);
		fc->table_alpha = p->alpha;
	}
	if (point->v[0] != fc->xt.x || memcmp(&fc->xt.params, p, sizeof(BgnbdParams)) != 0)
		BgnbdXTermsFor(p, point->v[0], fc->first_dropout, &fc->xt);
	at_tx = BgnbdFitTimeTerms(fc, p->alpha, point->v[1]);
	at_T = BgnbdFitTimeTerms(fc, p->alpha, point->v[2]);
	return BgnbdPointLogLik(p, &fc->xt, &at_tx, &at_T, grad);
}

/*
 * Transition function of a fit: add one customer (x, t_x, T).  Not strict:
 * a NULL raises 22004, like customer_facts, rather than silently dropping
 * a customer from the fit.
 */
static Datum
BgnbdFamilyFitAccum(FunctionCallInfo fcinfo, const BgnbdVariant *variant)
{
	double		v[3];

	/* validate the row before touching the state */
	v[0] = GetDoubleArg(fcinfo, 1, "frequency", variant->aggregate);
	v[1] = GetDoubleArg(fcinfo, 2, "recency", variant->aggregate);
	v[2] = GetDoubleArg(fcinfo, 3, "t", variant->aggregate);
	CheckBtydSummary(v[0], v[1], v[2]);

	PG_RETURN_BYTEA_P(GroupedPointsAdd(GroupedPointsForUpdate(fcinfo, variant->kind), v));
}

/* Final function of a fit: see PurchaseModelFitFinal. */
static Datum
BgnbdFamilyFitFinal(FunctionCallInfo fcinfo, const BgnbdVariant *variant)
{
	GroupedPoints *state = GroupedPointsArg(fcinfo, 0, variant->kind);
	BgnbdFitCache *cache = palloc(sizeof(BgnbdFitCache));
	ModelFitData fit;

	fit.spec = variant->spec;
	fit.points = GroupedPointsDistinct(state, &fit.npoints);
	fit.weight = (double) state->rows;
	fit.loglik = BgnbdFitPointLogLik;
	fit.cache = cache;
	cache->first_dropout = variant->first_dropout;
	cache->xt.x = -1;			/* no x yet */
	cache->table_alpha = get_float8_nan();	/* no table yet */
	if (fit.npoints == 0)
		PG_RETURN_NULL();
	PG_RETURN_DATUM(PurchaseModelFitFinal(fcinfo, &fit, false));
}

PG_FUNCTION_INFO_V1(bgnbd_fit_accum);
Datum
bgnbd_fit_accum(PG_FUNCTION_ARGS)
{
	return BgnbdFamilyFitAccum(fcinfo, &bgnbd_variant);
}

PG_FUNCTION_INFO_V1(bgnbd_fit_combine);
Datum
bgnbd_fit_combine(PG_FUNCTION_ARGS)
{
	return GroupedPointsCombine(fcinfo, GP_KIND_BGNBD);
}

PG_FUNCTION_INFO_V1(bgnbd_fit_final);
Datum
bgnbd_fit_final(PG_FUNCTION_ARGS)
{
	return BgnbdFamilyFitFinal(fcinfo, &bgnbd_variant);
}

PG_FUNCTION_INFO_V1(mbgnbd_fit_accum);
Datum
mbgnbd_fit_accum(PG_FUNCTION_ARGS)
{
	return BgnbdFamilyFitAccum(fcinfo, &mbgnbd_variant);
}

PG_FUNCTION_INFO_V1(mbgnbd_fit_combine);
Datum
mbgnbd_fit_combine(PG_FUNCTION_ARGS)
{
	return GroupedPointsCombine(fcinfo, GP_KIND_MBGNBD);
}

PG_FUNCTION_INFO_V1(mbgnbd_fit_final);
Datum
mbgnbd_fit_final(PG_FUNCTION_ARGS)
{
	return BgnbdFamilyFitFinal(fcinfo, &mbgnbd_variant);
}

/* crm.bgnbd_model(r, alpha, a, b): a model from known parameters. */
PG_FUNCTION_INFO_V1(bgnbd_model);
Datum
bgnbd_model(PG_FUNCTION_ARGS)
{
	PG_RETURN_DATUM(ModelFromArguments(fcinfo, &bgnbd_spec));
}

/* crm.mbgnbd_model(r, alpha, a, b): a model from known parameters. */
PG_FUNCTION_INFO_V1(mbgnbd_model);
Datum
mbgnbd_model(PG_FUNCTION_ARGS)
{
	PG_RETURN_DATUM(ModelFromArguments(fcinfo, &mbgnbd_spec));
}

/* Read (frequency, recency, t) at argno.. and the model after them. */
void
GetBgnbdCustomerAndModel(FunctionCallInfo fcinfo, int argno, const BgnbdVariant *variant,
					double *x, double *t_x, double *T, BgnbdParams *p)
{
	*x = PG_GETARG_FLOAT8(argno);
	*t_x = PG_GETARG_FLOAT8(argno + 1);
	*T = PG_GETARG_FLOAT8(argno + 2);
	CheckBtydSummary(*x, *t_x, *T);
	GetModelParameters(fcinfo, argno + 3, variant->spec, (double *) p);
}

/*
 * ln L of the customer and model in the arguments of a SQL function, with its
 * gradient in grad if grad is not NULL.
 */
static double
BgnbdArgumentsLogLik(FunctionCallInfo fcinfo, const BgnbdVariant *variant, double *grad)
{
	double		x,
				t_x,
				T;
	BgnbdParams p;
	BgnbdXTerms xt;
	BgnbdTimeTerms at_tx;
	BgnbdTimeTerms at_T;

	GetBgnbdCustomerAndModel(fcinfo, 0, variant, &x, &t_x, &T, &p);
	BgnbdXTermsFor(&p, x, variant->first_dropout, &xt);
	at_tx = BgnbdTimeTermsOf(p.alpha, t_x);
	at_T = BgnbdTimeTermsOf(p.alpha, T);
	return BgnbdPointLogLik(&p, &xt, &at_tx, &at_T, grad);
}

/* The log-likelihood of one customer under a model. */
PG_FUNCTION_INFO_V1(bgnbd_loglik);
Datum
bgnbd_loglik(PG_FUNCTION_ARGS)
{
	PG_RETURN_FLOAT8(FiniteResult(fcinfo, BgnbdArgumentsLogLik(fcinfo, &bgnbd_variant, NULL)));
}

PG_FUNCTION_INFO_V1(mbgnbd_loglik);
Datum
mbgnbd_loglik(PG_FUNCTION_ARGS)
{
	PG_RETURN_FLOAT8(FiniteResult(fcinfo, BgnbdArgumentsLogLik(fcinfo, &mbgnbd_variant, NULL)));
}

/*
 * The analytic gradient of one customer's log-likelihood with respect to
 * (r, alpha, a, b): the one the fit uses, exposed so that a test can
 * compare it with finite differences of the log-likelihood.
 */
PG_FUNCTION_INFO_V1(bgnbd_loglik_gradient);
Datum
bgnbd_loglik_gradient(PG_FUNCTION_ARGS)
{
	double		grad[BGNBD_NPARAMS];

	BgnbdArgumentsLogLik(fcinfo, &bgnbd_variant, grad);
	PG_RETURN_DATUM(FiniteFloat8ArrayResult(fcinfo, grad, BGNBD_NPARAMS));
}

PG_FUNCTION_INFO_V1(mbgnbd_loglik_gradient);
Datum
mbgnbd_loglik_gradient(PG_FUNCTION_ARGS)
{
	double		grad[BGNBD_NPARAMS];

	BgnbdArgumentsLogLik(fcinfo, &mbgnbd_variant, grad);
	PG_RETURN_DATUM(FiniteFloat8ArrayResult(fcinfo, grad, BGNBD_NPARAMS));
}

/* lo, the log-odds that a customer is dead; -Infinity if x + d = 0. */
double
BgnbdLogOddsDead(const BgnbdParams *p, double d, double x, double t_x, double T)
{
	if (x + d == 0)
		return -INFINITY;
	return log(p->a) - log(p->b + x + d - 1) +
		(p->r + x) * (log(p->alpha + T) - log(p->alpha + t_x));
}

/* P(alive) = 1 / (1 + e^lo) */
static Datum
BgnbdFamilyPAlive(FunctionCallInfo fcinfo, const BgnbdVariant *variant)
{
	double		x,
				t_x,
				T;
	BgnbdParams p;

	GetBgnbdCustomerAndModel(fcinfo, 0, variant, &x, &t_x, &T, &p);
	PG_RETURN_FLOAT8(Logistic(-BgnbdLogOddsDead(&p, variant->first_dropout, x, t_x, T)));
}

/* 1 - P(alive) = e^lo / (1 + e^lo), computed directly to keep small risks exact. */
static Datum
BgnbdFamilyChurnRisk(FunctionCallInfo fcinfo, const BgnbdVariant *variant)
{
	double		x,
				t_x,
				T;
	BgnbdParams p;

	GetBgnbdCustomerAndModel(fcinfo, 0, variant, &x, &t_x, &T, &p);
	PG_RETURN_FLOAT8(Logistic(BgnbdLogOddsDead(&p, variant->first_dropout, x, t_x, T)));
}

/* P(alive); 1 for x = 0 by construction of BG/NBD. */
PG_FUNCTION_INFO_V1(p_alive);
Datum
p_alive(PG_FUNCTION_ARGS)
{
	return BgnbdFamilyPAlive(fcinfo, &bgnbd_variant);
}

PG_FUNCTION_INFO_V1(mbgnbd_p_alive);
Datum
mbgnbd_p_alive(PG_FUNCTION_ARGS)
{
	return BgnbdFamilyPAlive(fcinfo, &mbgnbd_variant);
}

PG_FUNCTION_INFO_V1(churn_risk);
Datum
churn_risk(PG_FUNCTION_ARGS)
{
	return BgnbdFamilyChurnRisk(fcinfo, &bgnbd_variant);
}

PG_FUNCTION_INFO_V1(mbgnbd_churn_risk);
Datum
mbgnbd_churn_risk(PG_FUNCTION_ARGS)
{
	return BgnbdFamilyChurnRisk(fcinfo, &mbgnbd_variant);
}

/*
 * crm.churn_risk(horizon, frequency, recency, t, model): the probability of
 * no purchase in the next horizon time units.  A live customer who does not
 * buy cannot drop out (dropout follows purchases), so that is dead now, or
 * alive and no purchase: with lambda ~ Gamma(r+x, alpha+T),
 *
 *	 P(no purchase) = 1 - P(alive) + P(alive) ((alpha+T) / (alpha+T+horizon))^(r+x),
 *
 * a sum of two non-negative terms, exact however small either is: 1 for
 * horizon 0, 1 - P(alive) as the horizon grows without bound.  Unlike
 * 1 - P(alive) it grows with time since the last purchase even where the
 * fitted dropout is negligible, and it is graded for one-time buyers.
 */
static Datum
BgnbdFamilyHorizonChurnRisk(FunctionCallInfo fcinfo, const BgnbdVariant *variant)
{
	double		horizon = PG_GETARG_FLOAT8(0);
	double		x,
				t_x,
				T;
	BgnbdParams p;
	double		lo;

	CheckHorizon(horizon);
	GetBgnbdCustomerAndModel(fcinfo, 1, variant, &x, &t_x, &T, &p);
	lo = BgnbdLogOddsDead(&p, variant->first_dropout, x, t_x, T);
	/* the two terms' rounding can exceed 1 by an ulp */
	PG_RETURN_FLOAT8(Min(Logistic(lo) +
						 Logistic(-lo) * exp(-(p.r + x) * log1p(horizon / (p.alpha + T))), 1.0));
}

PG_FUNCTION_INFO_V1(bgnbd_horizon_churn_risk);
Datum
bgnbd_horizon_churn_risk(PG_FUNCTION_ARGS)
{
	return BgnbdFamilyHorizonChurnRisk(fcinfo, &bgnbd_variant);
}

PG_FUNCTION_INFO_V1(mbgnbd_horizon_churn_risk);
Datum
mbgnbd_horizon_churn_risk(PG_FUNCTION_ARGS)
{
	return BgnbdFamilyHorizonChurnRisk(fcinfo, &mbgnbd_variant);
}

/*
 * crm.p_alive(frequency, recency, t, model, future): the probability that
 * the customer is still alive future time units after T, whatever they buy
 * meanwhile.  A live customer survives a purchase with probability 1 - p,
 * so given lambda and p the chance of no dropout in the next f units is
 * e^(-lambda p f); over the posterior lambda ~ Gamma(r+x, alpha+T) that is
 * (1 + p k)^-(r+x) with k = f / (alpha+T), whose mean over the posterior
 * p ~ Beta(a, b+x+d) is taken on the expected purchases' quadrature grid.
 */
static Datum
BgnbdFamilyPAliveFuture(FunctionCallInfo fcinfo, const BgnbdVariant *variant)
{
	double		future = PG_GETARG_FLOAT8(4);
	double		x,
				t_x,
				T;
	BgnbdParams p;
	double		alive;
	double		k;
	BgnbdPosteriorGrid grid;
	double		survival;

	CheckNonNegative(future, "future",
					 "future is the time after t, in the time unit of t, at which to evaluate P(alive); 0 gives P(alive) at t.");
	GetBgnbdCustomerAndModel(fcinfo, 0, variant, &x, &t_x, &T, &p);
	alive = Logistic(-BgnbdLogOddsDead(&p, variant->first_dropout, x, t_x, T));
	if (future == 0)
		PG_RETURN_FLOAT8(alive);
	k = future / (p.alpha + T);
	BgnbdPosteriorGridFor(p.a, p.b + x + variant->first_dropout, p.r + x, k, &grid);
	survival = BgnbdPosteriorSurvival(&grid, p.r + x, k);
	pfree(grid.p);
	pfree(grid.w);
	PG_RETURN_FLOAT8(alive * Min(survival, 1.0));
}

PG_FUNCTION_INFO_V1(bgnbd_p_alive_future);
Datum
bgnbd_p_alive_future(PG_FUNCTION_ARGS)
{
	return BgnbdFamilyPAliveFuture(fcinfo, &bgnbd_variant);
}

PG_FUNCTION_INFO_V1(mbgnbd_p_alive_future);
Datum
mbgnbd_p_alive_future(PG_FUNCTION_ARGS)
{
	return BgnbdFamilyPAliveFuture(fcinfo, &mbgnbd_variant);
}
