/*-------------------------------------------------------------------------
 *
 * expected_purchases.c
 *	  The conditional expected purchases of BG/NBD and MBG/NBD
 *	  (crm.expected_purchases, crm.mbgnbd_expected_purchases and the
 *	  evaluations compared by crm.expected_purchases_method): the series of
 *	  the paper's hypergeometric closed form and the quadrature over the
 *	  posterior dropout probability, whose grid P(alive) at a future time
 *	  (bgnbd.c) shares.  The models and their notation are described in
 *	  bgnbd.c.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <float.h>
#include <math.h>

#include "fmgr.h"
#include "utils/builtins.h"

#include "btyd.h"
#include "expected_purchases.h"

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
 * Quadrature nodes (BgnbdPosteriorGrid) for E_p[f(p)], p ~ Beta(a, b+x):
 * p = 1 / (1 + e^-u), u = phi(s), trapezoidal rule in s with
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
void
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
	GetBgnbdCustomerAndModel(fcinfo, 1, &bgnbd_variant, &x, &t_x, &T, &p);
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
	GetBgnbdCustomerAndModel(fcinfo, 1, variant, &x, &t_x, &T, &p);
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

/* E_p[(1 + p k)^-s] on the nodes of grid. */
double
BgnbdPosteriorSurvival(const BgnbdPosteriorGrid *grid, double s, double k)
{
	double		sum = 0.0;
	int			j;

	for (j = 0; j < grid->n; j++)
		sum += grid->w[j] * exp(-s * log1p(grid->p[j] * k));
	return sum;
}
