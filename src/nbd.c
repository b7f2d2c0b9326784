/*-------------------------------------------------------------------------
 *
 * nbd.c
 *	  The NBD model (Ehrenberg 1959): purchases at a Gamma(r, alpha)
 *	  distributed Poisson rate, and no dropout at all.  The purchase models
 *	  nest it (BG/NBD and MBG/NBD as the dropout probability goes to 0,
 *	  Pareto/NBD as the dropout rate does), so the gain in log-likelihood of
 *	  a fitted purchase model over the NBD fit of the same customers tells
 *	  how much the data say about dropout at all: where it is a fraction of
 *	  a unit, P(alive) is the model's assumption, not a finding.
 *
 * For one customer (x, t_x, T) the NBD likelihood depends on x and T only:
 *
 *	 ln L = ln G(r+x) - ln G(r) + r ln alpha - (r + x) ln(alpha + T)
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <math.h>

#include "utils/float.h"

#include "btyd.h"

#define NBD_NPARAMS		2

static const char *const nbd_param_names[NBD_NPARAMS] = {"r", "alpha"};

/* Not a SQL type: the fit only reports its log-likelihood. */
static const ModelSpec nbd_spec = {"nbd", NBD_NPARAMS, nbd_param_names, 0, NULL, -1};

/* The terms in r and x, kept while the rows of one x follow each other. */
typedef struct NbdFitCache
{
	double		r;
	double		x;
	double		log_gamma_ratio;	/* ln G(r+x) - ln G(r) */
	double		digamma_diff;	/* psi(r+x) - psi(r) */
} NbdFitCache;

static double
NbdPointLogLik(const double *params, const GroupedPoint *point, double *grad, void *cache)
{
	NbdFitCache *fc = (NbdFitCache *) cache;
	double		r = params[0];
	double		alpha = params[1];
	double		x = point->v[0];
	double		T = point->v[2];
	double		log_aT = log(alpha + T);

	if (r != fc->r || x != fc->x)
	{
		fc->r = r;
		fc->x = x;
		fc->log_gamma_ratio = lgamma(r + x) - lgamma(r);
		fc->digamma_diff = Digamma(r + x) - Digamma(r);
	}
	if (grad != NULL)
	{
		grad[0] = fc->digamma_diff + log(alpha) - log_aT;
		grad[1] = r / alpha - (r + x) / (alpha + T);
	}
	return fc->log_gamma_ratio + r * log(alpha) - (r + x) * log_aT;
}

/*
 * The maximised NBD log-likelihood of the (x, t_x, T) points of a fit,
 * from the start BG/NBD uses (r = 1, alpha = mean T / mean x) and two
 * others; NaN when no start is finite.  sum_x > 0 (with no repeat
 * purchase the NBD is not identified either).
 */
double
NbdMaxLogLikelihood(const GroupedPoint *points, int32 npoints, double weight,
					double sum_x, double sum_T)
{
	NbdFitCache cache = {get_float8_nan(), -1.0, 0.0, 0.0};
	ModelFitData fit;
	double		mean_T = Max(sum_T / weight, 1e-6);
	double		starts[3][NBD_NPARAMS] = {
		{0.0, log(mean_T * weight / sum_x)},
		{0.0, 0.0},
		{log(0.25), log(mean_T)},
	};
	OptimizeResult result;

	fit.spec = &nbd_spec;
	fit.points = points;
	fit.npoints = npoints;
	fit.weight = weight;
	fit.loglik = NbdPointLogLik;
	fit.cache = &cache;
	return MaximumLogLikelihood(&fit, &starts[0][0], lengthof(starts), &result);
}
