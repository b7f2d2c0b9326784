/*-------------------------------------------------------------------------
 *
 * bgnbd.c
 *	  The BG/NBD model (Fader, Hardie & Lee 2005, "Counting Your Customers
 *	  the Easy Way") and its modification MBG/NBD (Batislam, Denizel &
 *	  Filiztekin 2007, "Empirical validation and comparison of models for
 *	  customer base analysis"): the crm.bgnbd_fit and crm.mbgnbd_fit
 *	  aggregates, the per-customer log-likelihood and its gradient, P(alive)
 *	  now and at a future time, churn risk over a horizon and conditional
 *	  expected purchases.
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
 * future time and the expected purchases below integrate over them.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <float.h>
#include <math.h>

#include "fmgr.h"
#include "utils/builtins.h"
#include "utils/float.h"

#include "btyd.h"
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

/* One of the two models: its composite type, fit state and dropout chances. */
typedef struct BgnbdVariant
{
	const ModelSpec *spec;
	GroupedPointsKind kind;
	const char *aggregate;		/* SQL name of the fit, for messages */
	double		first_dropout;	/* d: 0 for BG/NBD, 1 for MBG/NBD */
} BgnbdVariant;

static const BgnbdVariant bgnbd_variant = {&bgnbd_spec, GP_KIND_BGNBD, "crm.bgnbd_fit", 0.0};
static const BgnbdVariant mbgnbd_variant = {&mbgnbd_spec, GP_KIND_MBGNBD, "crm.mbgnbd_fit", 1.0};

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
static void
GetCustomerAndModel(FunctionCallInfo fcinfo, int argno, const BgnbdVariant *variant,
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

	GetCustomerAndModel(fcinfo, 0, variant, &x, &t_x, &T, &p);
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
static double
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

	GetCustomerAndModel(fcinfo, 0, variant, &x, &t_x, &T, &p);
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

	GetCustomerAndModel(fcinfo, 0, variant, &x, &t_x, &T, &p);
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
 * E[Y(t) | x, t_x, T], the expected purchases in the next t time units, is
 * P(alive) times the expectation for a customer known to be alive.  Given
 * that, the posterior has lambda ~ Gamma(r+x, alpha+T) and p ~ Beta(a, b+x)
 * independent, a live customer buys (1 - e^(-lambda p t)) / p in
 * expectation, and integrating lambda out gives
 *
 *	 E[Y(t) | alive] = E_p[(1 - (1 + p k)^-(r+x)) / p],	k = t / (alpha + T),
 *
 * which equals the paper's closed form
 *
 *	 (a+b+x-1)/(a-1) [1 - ((alpha+T)/(alpha+T+t))^(r+x) 2F1(r+x, b+x; a+b+x-1; z)]
 *
 * with z = t / (alpha + T + t) = k / (1 + k).  Two evaluations:
 *
 * The series, for z <= BGNBD_SERIES_MAX_Z.  After Euler's transformation,
 * 2F1(r+x, b+x; c; z) = (1-z)^(a-1-r-x) 2F1(a+b-1-r, a-1; c; z) with
 * c = a+b+x-1, under which the power of (1-z) cancels and, writing
 * 2F1(A, a-1; c; z) = 1 + (a-1) S/c,
 *
 *	 E = [-c L phi((a-1) L) - (1-z)^(a-1) S] * P(alive),
 *	 L = ln(1-z), phi(u) = (e^u - 1)/u,
 *	 S = sum_{n>=1} (A)_n (a)_{n-1} / ((c+1)_{n-1} n!) z^n,  A = a+b-1-r.
 *
 * This has no overflow for large x, no 0/0 at a = 1 and no pole at c = 0;
 * its terms fall like n^(a-r-x-2) z^n, so a few hundred suffice for
 * z <= 0.9.  Closer to 1 (a horizon long against alpha + T: a customer
 * first seen at the analysis date under a small alpha) it needs about
 * 40 / (1 - z) terms, tens of millions in real refreshes.
 *
 * The quadrature, for the rest, and whenever the series has not converged
 * within BGNBD_SERIES_BUDGET terms (very large a) or cancels (very large
 * b): the expectation over p above, see BgnbdPosteriorGrid.  It costs one
 * log1p and one expm1 per node (about a hundred) for any z, and has no
 * pole at a = 1 either.
 */

/* Largest z = t / (alpha + T + t) evaluated with the series first. */
#define BGNBD_SERIES_MAX_Z		0.9

/*
 * Most series terms summed before falling back to the quadrature: several
 * times what z <= 0.9 needs unless a is in the thousands.
 */
#define BGNBD_SERIES_BUDGET		4000

/*
 * Quadrature nodes for E_p[f(p)], p ~ Beta(a, b+x): p = 1 / (1 + e^-u),
 * u = phi(s), trapezoidal rule in s with
 *
 *	 phi(s) = s + sigma (e^(g (s - s_R) / sigma) - e^(g (s_L - s) / sigma)),
 *
 * g = 1/2, sigma the length scale of the integrand in u (1 unless the
 * density is narrower).
 *
 * In u the Beta density is e^(a u) / (1 + e^u)^(a+b+x) up to a constant,
 * which turns the endpoint singularities p^(a-1) and (1-p)^(b+x-1) into
 * exponential tails, and the integrand f(p) = (1 - (1 + p k)^-(r+x)) / p
 * changes from (r+x) k to 1/p around u = -ln(k (r+x)): the features of the
 * integrand lie many e-folds apart, so the nodes must be spaced in u, not p.
 * Its singularities are all at |Im u| = pi and it is bounded in
 * |Im u| < pi/2, so the trapezoidal rule with step h converges like
 * e^(-pi^2 / h) (for sigma = 1) wherever u = phi(s) is close to the
 * identity, which is on [s_L, s_R]: that interval covers the Beta mode,
 * u = 0 and the change of f with a margin.  Beyond it the map grows exponentially, so tails that
 * decay slowly (e^(a u) for small a, e^-(b+x) u for small b + x) cost a
 * few nodes and not thousands.  The nodes are cut where the density falls
 * below e^-BGNBD_GRID_LOG_CUT times its mode, which also bounds their
 * number when a and b + x are large and the density is narrow.  The
 * weights are normalized by their sum, not by B(a, b+x), so that its
 * rounding for large x does not enter and the quadrature of f = 1 is
 * exact.
 */
typedef struct BgnbdPosteriorGrid
{
	int			n;
	double	   *p;				/* dropout probabilities */
	double	   *w;				/* weights, summing to 1 */
} BgnbdPosteriorGrid;

/* h / sigma = pi^2 / 40, for errors of about e^-40 relative */
#define BGNBD_GRID_STEP			0.25
/* beyond the features of the integrand, in e-folds of u */
#define BGNBD_GRID_MARGIN		4.0
/* density cut, in e-folds below the mode, on top of the range of f */
#define BGNBD_GRID_LOG_CUT		45.0

/*
 * ln of the Beta(a, beta) density in u = logit p, relative to its mode m
 * (where p = a / (a + beta) = pm):
 *
 *	 a (u - m) - (a + beta) ln(1 + pm (e^(u-m) - 1)).
 *
 * Written in u - m so that its rounding stays far below 1 even when a and
 * beta are in the millions, instead of that of (a + beta) ln(1 + e^u).
 */
static inline double
BetaLogDensityLogit(double a, double beta, double mode, double pm, double u)
{
	double		d = u - mode;

	return a * d - (a + beta) * log1p(pm * expm1(d));
}

/*
 * The u where the log-density falls to target, walking from the mode u0
 * in direction dir (+1 or -1): the log-density is concave in u, so the
 * point is unique; doubling then bisection to within a fraction of a step.
 */
static double
BetaLogDensityLevel(double a, double beta, double u0, double pm, double target,
					double dir, double width)
{
	double		inner = u0;
	double		outer = u0 + dir * width;
	int			i;

	for (i = 0; i < 2100 && BetaLogDensityLogit(a, beta, u0, pm, outer) > target; i++)
	{
		inner = outer;
		width *= 2;
		outer = u0 + dir * width;
	}
	while (fabs(outer - inner) > BGNBD_GRID_STEP / 16 * Min(1.0, width))
	{
		double		mid = (inner + outer) / 2;

		if (mid == inner || mid == outer)
			break;
		if (BetaLogDensityLogit(a, beta, u0, pm, mid) > target)
			inner = mid;
		else
			outer = mid;
	}
	return outer;
}

/*
 * Nodes for p ~ Beta(a, beta) and an integrand whose change lies at
 * u >= -ln(kmax s): for horizons up to kmax (alpha + T).
 */
static void
BgnbdPosteriorGridFor(double a, double beta, double s, double kmax,
					  BgnbdPosteriorGrid *grid)
{
	const double gamma = 0.5;

	/* curvature of the log-density at the mode, written not to overflow */
	double		kappa = a / (a + beta) * beta;

	/*
	 * The length scale of the integrand in u: 1, or the width of the
	 * density where it is narrower (a and b + x both large).  Step, margin
	 * and the growth of the map scale with it, so the number of nodes stays
	 * bounded.
	 */
	double		sigma = Min(1.0, 2 / sqrt(kappa));
	double		h = BGNBD_GRID_STEP * sigma;
	double		margin = BGNBD_GRID_MARGIN * sigma;
	double		mode = log(a) - log(beta);
	double		pm = a / (a + beta);

	/* f spans (r+x) k to about 1; its range widens the density cut */
	double		cut = BGNBD_GRID_LOG_CUT + log1p(s) + log1p(Min(kmax, 1e300));
	double		u_lo;
	double		u_hi;
	double		s_L = Min(mode, -log(Min(kmax, 1e300)) - log(Max(s, 1.0))) - BGNBD_GRID_MARGIN;
	double		s_R = Max(mode, 0.0) + BGNBD_GRID_MARGIN;
	double		total = 0.0;
	double		first;
	double		last;
	int			max_nodes;
	int			j;

	/*
	 * a and b + x both above 1e12: the posterior of p is a point mass at
	 * its mean to within 1e-12 relative (the spread of u is 1/sqrt(kappa)),
	 * and the log-density could no longer be resolved in double precision.
	 */
	if (kappa > 1e12)
	{
		grid->n = 1;
		grid->p = palloc(sizeof(double));
		grid->w = palloc(sizeof(double));
		grid->p[0] = pm;
		grid->w[0] = 1.0;
		return;
	}
	u_lo = BetaLogDensityLevel(a, beta, mode, pm, -cut, -1, sigma);
	u_hi = BetaLogDensityLevel(a, beta, mode, pm, -cut, 1, sigma);

	/*
	 * Where the density is narrow, shrink [s_L, s_R] to it, with the margin
	 * so that the map stays close to the identity over all of it.
	 */
	s_L = Max(s_L, u_lo - margin);
	s_R = Min(s_R, u_hi + margin);

	/*
	 * First node: just below u_lo.  On [s_L, s_R] the map is within sigma
	 * of the identity, so start sigma below u_lo; in the left tail, walk
	 * down (the map grows exponentially there, so that takes a few steps).
	 */
	if (u_lo - sigma > s_L)
		first = s_L + floor((u_lo - sigma - s_L) / h) * h;
	else
	{
		first = s_L;
		while (first + sigma * (exp(gamma * (first - s_R) / sigma) -
								exp(gamma * (s_L - first) / sigma)) > u_lo)
			first -= h;
	}
	/* last node: just above u_hi, by the same bounds */
	if (u_hi + sigma <= s_R)
		last = u_hi + sigma;
	else
		last = s_R + sigma * log(Max((u_hi - s_R) / sigma + 1, 1.0)) / gamma;
	max_nodes = (int) ((last - first) / h) + 3;
	grid->p = palloc(max_nodes * sizeof(double));
	grid->w = palloc(max_nodes * sizeof(double));
	grid->n = 0;
	for (j = 0; j < max_nodes; j++)
	{
		double		t = first + j * h;
		double		right = exp(gamma * (t - s_R) / sigma);
		double		left = exp(gamma * (s_L - t) / sigma);
		double		u = t + sigma * (right - left);
		double		w;

		if (u < u_lo)
			continue;
		if (u > u_hi)
			break;
		w = exp(BetaLogDensityLogit(a, beta, mode, pm, u)) *
			(1 + gamma * (right + left));
		if (w == 0)
			continue;
		grid->p[grid->n] = (u > 0) ? 1 / (1 + exp(-u)) : exp(u) / (1 + exp(u));
		grid->w[grid->n] = w;
		grid->n++;
		total += w;
	}
	for (j = 0; j < grid->n; j++)
		grid->w[j] /= total;
}

/* E_p[(1 - (1 + p k)^-s) / p] on the nodes of grid. */
static double
BgnbdPosteriorMean(const BgnbdPosteriorGrid *grid, double s, double k)
{
	double		sum = 0.0;
	int			j;

	for (j = 0; j < grid->n; j++)
	{
		double		p = grid->p[j];

		/* p underflows to 0 far in the left tail when a is small */
		if (p > 0)
			sum -= grid->w[j] * expm1(-s * log1p(p * k)) / p;
		else
			sum += grid->w[j] * s * k;
	}
	return sum;
}

/*
 * The series for E[Y(horizon) | alive] (see above) for n horizons at once:
 * a term's coefficient does not depend on the horizon (only z does), so it
 * is computed once per term for all of them, which clv's twelve monthly
 * horizons need.  converged[i] is false where horizon i is 0, its z is
 * above max_z, the series has not converged within
 * BGNBD_SERIES_BUDGET terms or its two parts cancel; result[i] is set
 * where it is true.
 */
static void
BgnbdExpectedAliveSeriesMany(const BgnbdParams *p, const double *horizons, int n,
							 double x, double T, double max_z, double *result, bool *converged)
{
	double		c = p->a + p->b + x - 1;
	double		A = p->a + p->b - 1 - p->r;
	double	   *L = palloc(n * sizeof(double));
	double	   *z = palloc(n * sizeof(double));
	double	   *term = palloc(n * sizeof(double));
	double	   *sum = palloc(n * sizeof(double));
	bool	   *summing = palloc(n * sizeof(bool));
	int			left = 0;
	int			k;
	int			i;

	for (i = 0; i < n; i++)
	{
		double		h = horizons[i];

		converged[i] = false;
		z[i] = h / (p->alpha + T + h);
		summing[i] = h != 0 && z[i] <= max_z;
		if (!summing[i])
			continue;
		L[i] = -log1p(h / (p->alpha + T));
		term[i] = A * z[i];
		sum[i] = term[i];
		if (term[i] == 0)
		{
			summing[i] = false;
			converged[i] = true;
		}
		else
			left++;
	}
	for (k = 1; left > 0; k++)
	{
		double		coefficient = (A + k) * (p->a + k - 1) / ((c + k) * (k + 1));

		for (i = 0; i < n; i++)
		{
			double		ratio;

			if (!summing[i])
				continue;
			ratio = coefficient * z[i];
			term[i] *= ratio;
			sum[i] += term[i];
			/* decreasing terms, and the rest below rounding of the result */
			if ((fabs(ratio) < 1 &&
				 fabs(term[i]) <= DBL_EPSILON / 8 * (fabs(sum[i]) + fabs(c * L[i])) * (1 - z[i])) ||
				(k < BGNBD_SERIES_BUDGET && term[i] == 0))
				converged[i] = true;
			else if (k < BGNBD_SERIES_BUDGET)
				continue;
			summing[i] = false;
			left--;
		}
	}
	for (i = 0; i < n; i++)
	{
		double		u;
		double		phi;

		if (!converged[i])
			continue;
		u = (p->a - 1) * L[i];
		phi = (u == 0) ? 1.0 : expm1(u) / u;
		result[i] = -c * L[i] * phi - exp(u) * sum[i];

		/*
		 * The two parts nearly cancel when c is huge against the result (b
		 * in the millions and more): more than 4 digits lost, leave it to
		 * the quadrature.
		 */
		if (!(fabs(c * L[i] * phi) <= 1e4 * fabs(result[i])))
			converged[i] = false;
	}
	pfree(L);
	pfree(z);
	pfree(term);
	pfree(sum);
	pfree(summing);
}

/*
 * E[Y(horizons[i]) | x, t_x, T] into expected[i] for n horizons, for a
 * model with d dropout chances beyond the repeat purchases: the series
 * where it is quick, one quadrature grid shared by the others.  Cheaper
 * than a call per horizon when several need the quadrature, as in clv.
 * The posterior dropout Beta(a, b + x + d) is that of BG/NBD with b + d,
 * so both models share the series and the grid.
 */
static void
BgnbdFamilyExpectedPurchasesMany(const BgnbdParams *p, double d, const double *horizons,
								 int n, double x, double t_x, double T, double *expected)
{
	double		alive = Logistic(-BgnbdLogOddsDead(p, d, x, t_x, T));
	double		s = p->r + x;
	double		kmax = 0.0;
	BgnbdParams posterior = *p;
	bool	   *by_series = palloc(n * sizeof(bool));
	bool	   *quadrature = palloc(n * sizeof(bool));
	int			i;

	posterior.b += d;
	BgnbdExpectedAliveSeriesMany(&posterior, horizons, n, x, T, BGNBD_SERIES_MAX_Z, expected, by_series);
	for (i = 0; i < n; i++)
	{
		double		h = horizons[i];

		quadrature[i] = false;
		if (h == 0)
			expected[i] = 0.0;
		else if (by_series[i])
			expected[i] *= alive;
		else
		{
			quadrature[i] = true;
			kmax = Max(kmax, h / (p->alpha + T));
		}
	}
	pfree(by_series);
	if (kmax > 0)
	{
		BgnbdPosteriorGrid grid;

		BgnbdPosteriorGridFor(p->a, posterior.b + x, s, kmax, &grid);
		for (i = 0; i < n; i++)
			if (quadrature[i])
				expected[i] = alive * BgnbdPosteriorMean(&grid, s, horizons[i] / (p->alpha + T));
		pfree(grid.p);
		pfree(grid.w);
	}
	pfree(quadrature);
	/* rounding can leave a tiny negative value for a tiny horizon */
	for (i = 0; i < n; i++)
		expected[i] = Max(expected[i], 0.0);
}

/* BG/NBD E[Y(horizons[i]) | x, t_x, T] for n horizons (clv). */
void
BgnbdExpectedPurchasesMany(const BgnbdParams *p, const double *horizons, int n,
						   double x, double t_x, double T, double *expected)
{
	BgnbdFamilyExpectedPurchasesMany(p, bgnbd_variant.first_dropout, horizons, n, x, t_x, T, expected);
}

/* MBG/NBD E[Y(horizons[i]) | x, t_x, T] for n horizons (clv). */
void
MbgnbdExpectedPurchasesMany(const BgnbdParams *p, const double *horizons, int n,
							double x, double t_x, double T, double *expected)
{
	BgnbdFamilyExpectedPurchasesMany(p, mbgnbd_variant.first_dropout, horizons, n, x, t_x, T, expected);
}

/*
 * The two evaluations of the BG/NBD E[Y(horizon) | x, t_x, T] separately,
 * method 'series' or 'quadrature', so that a test can compare them where
 * both apply; the series raises an error where it has not converged.
 */
PG_FUNCTION_INFO_V1(expected_purchases_method);
Datum
expected_purchases_method(PG_FUNCTION_ARGS)
{
	double		horizon = PG_GETARG_FLOAT8(0);
	char	   *method = text_to_cstring(PG_GETARG_TEXT_PP(5));
	double		x,
				t_x,
				T;
	BgnbdParams p;
	double		alive;
	double		result;

	CheckHorizon(horizon);
	GetCustomerAndModel(fcinfo, 1, &bgnbd_variant, &x, &t_x, &T, &p);
	if (horizon == 0)
		PG_RETURN_FLOAT8(0.0);
	alive = Logistic(-BgnbdLogOddsDead(&p, bgnbd_variant.first_dropout, x, t_x, T));
	if (strcmp(method, "series") == 0)
	{
		bool		converged;

		/* z < 1 for every finite horizon: no limit but the budget */
		BgnbdExpectedAliveSeriesMany(&p, &horizon, 1, x, T, 1.0, &result, &converged);
		if (!converged)
			ereport(ERROR,
					(errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE),
					 errmsg("the expected purchases series does not converge within %d terms for a horizon of %g",
							BGNBD_SERIES_BUDGET, horizon),
					 errhint("Compare the methods at horizons up to about 9 times alpha + t.")));
	}
	else if (strcmp(method, "quadrature") == 0)
	{
		BgnbdPosteriorGrid grid;
		double		k = horizon / (p.alpha + T);

		BgnbdPosteriorGridFor(p.a, p.b + x, p.r + x, k, &grid);
		result = BgnbdPosteriorMean(&grid, p.r + x, k);
	}
	else
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("method must be 'series' or 'quadrature', not \"%s\"", MessageExcerpt(method)),
				 errhint("The method names one of the two evaluations of crm.expected_purchases for BG/NBD.")));
	PG_RETURN_FLOAT8(FiniteResult(fcinfo, alive * result));
}

/* crm.expected_purchases(horizon, frequency, recency, t, model) */
static Datum
BgnbdFamilyExpectedPurchases(FunctionCallInfo fcinfo, const BgnbdVariant *variant)
{
	double		horizon = PG_GETARG_FLOAT8(0);
	double		x,
				t_x,
				T;
	BgnbdParams p;
	double		result;

	CheckHorizon(horizon);
	GetCustomerAndModel(fcinfo, 1, variant, &x, &t_x, &T, &p);
	BgnbdFamilyExpectedPurchasesMany(&p, variant->first_dropout, &horizon, 1, x, t_x, T, &result);
	PG_RETURN_FLOAT8(CheckedExpectedPurchases(result, horizon));
}

PG_FUNCTION_INFO_V1(expected_purchases);
Datum
expected_purchases(PG_FUNCTION_ARGS)
{
	return BgnbdFamilyExpectedPurchases(fcinfo, &bgnbd_variant);
}

PG_FUNCTION_INFO_V1(mbgnbd_expected_purchases);
Datum
mbgnbd_expected_purchases(PG_FUNCTION_ARGS)
{
	return BgnbdFamilyExpectedPurchases(fcinfo, &mbgnbd_variant);
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
	GetCustomerAndModel(fcinfo, 1, variant, &x, &t_x, &T, &p);
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

/* E_p[(1 + p k)^-s] on the nodes of grid. */
static double
BgnbdPosteriorSurvival(const BgnbdPosteriorGrid *grid, double s, double k)
{
	double		sum = 0.0;
	int			j;

	for (j = 0; j < grid->n; j++)
		sum += grid->w[j] * exp(-s * log1p(grid->p[j] * k));
	return sum;
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
	GetCustomerAndModel(fcinfo, 0, variant, &x, &t_x, &T, &p);
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
