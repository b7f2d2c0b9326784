/*-------------------------------------------------------------------------
 *
 * gamma_gamma.c
 *	  The Gamma-Gamma spend model (Fader, Hardie & Lee 2005, "RFM and CLV:
 *	  Using Iso-Value Curves for Customer Base Analysis"): the
 *	  crm.gamma_gamma_fit aggregate, the per-customer log-likelihood and its
 *	  gradient, and the conditional expected spend.
 *
 * A customer with x > 0 repeat purchases of mean value zbar contributes
 *
 *	 ln f = ln G(px+q) - ln G(px) - ln G(q) + q ln v + (px-1) ln zbar
 *			+ px ln x - (px+q) ln(v + x zbar).
 *
 * Customers without repeat purchases carry no spend information: the fit
 * skips them (NULL or any mean spend allowed) and the expected spend gives
 * them the population mean p v / (q - 1).
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <math.h>

#include "common/int.h"
#include "fmgr.h"

#include "btyd.h"
#include "grouped_points.h"

/*
 * Columns of crm.gamma_gamma_model, in order: the parameters,
 * log_likelihood, customers, converged, spend_frequency_corr, the
 * parameters' standard errors.
 */
#define GG_NATTS			10
#define GG_NPARAMS			3
#define GG_COL_SE			7

static const char *const gg_param_names[GG_NPARAMS] = {"p", "q", "v"};

static const ModelSpec gg_spec = {
	"gamma_gamma", GG_NPARAMS, gg_param_names, GG_NATTS,
	"Gamma-Gamma parameters p, q and v must all be greater than 0; fit them with crm.gamma_gamma_fit() or pass published ones to crm.gamma_gamma_model().",
	GG_COL_SE
};

/* Model arguments and the fit read GammaGammaParams as an array of parameters. */
StaticAssertDecl(sizeof(GammaGammaParams) == GG_NPARAMS * sizeof(double),
				 "GammaGammaParams must be an array of doubles");

/* Read a crm.gamma_gamma_model argument; parameters finite and > 0. */
void
GetGammaGammaModelArg(FunctionCallInfo fcinfo, int argno, GammaGammaParams *params)
{
	GetModelParameters(fcinfo, argno, &gg_spec, (double *) params);
}

/* Check a mean repeat spend of a repeat customer: finite and > 0. */
static inline void
CheckMonetary(double zbar)
{
	CheckGreaterThan(zbar, 0, "monetary_avg",
					 "monetary_avg is the mean value of the repeat purchases and must be positive for a customer with frequency > 0; exclude customers whose returns cancel their purchases.");
}

/*
 * The fit's cache.  Its rows come sorted by x, so the terms of x and the
 * parameters (log-gamma and digamma of p x and p x + q) change only with x
 * or at the next evaluation; the terms of the parameters alone once per
 * evaluation; ln x and ln zbar never.  Only ln(v + x zbar) is computed for
 * every row at every evaluation, instead of eleven logarithms, log-gammas
 * and digammas.
 */
typedef struct GammaGammaFitCache
{
	const GroupedPoint *points; /* the fit's rows, to index log_zbar */
	double	   *log_zbar;		/* ln zbar of every row */
	GammaGammaParams params;	/* parameters of the terms below */
	bool		have_params;	/* false before the first evaluation */
	double		lgamma_q;
	double		q_log_v;
	double		digamma_q;
	double		log_v;
	double		q_over_v;
	double		x;				/* x of the x terms; -1 for none */
	double		px;
	double		log_x;
	double		lgamma_pxq_px;	/* lgamma(px + q) - lgamma(px) */
	double		digamma_pxq_px; /* digamma(px + q) - digamma(px) */
	double		digamma_pxq_q;	/* digamma(px + q) - digamma(q) */
} GammaGammaFitCache;

/* ln f of a distinct row (x, zbar), and its gradient in grad if not NULL. */
static double
GammaGammaFitPointLogLik(const double *params, const GroupedPoint *point,
						 double *grad, void *cache)
{
	const GammaGammaParams *g = (const GammaGammaParams *) params;
	GammaGammaFitCache *fc = (GammaGammaFitCache *) cache;
	double		x = point->v[0];
	double		zbar = point->v[1];
	double		log_z = fc->log_zbar[point - fc->points];
	double		log_vxz = log(g->v + x * zbar);

	if (!fc->have_params || memcmp(&fc->params, g, sizeof(GammaGammaParams)) != 0)
	{
		fc->params = *g;
		fc->have_params = true;
		fc->lgamma_q = lgamma(g->q);
		fc->log_v = log(g->v);
		fc->q_log_v = g->q * fc->log_v;
		fc->digamma_q = Digamma(g->q);
		fc->q_over_v = g->q / g->v;
		fc->x = -1;
	}
	if (x != fc->x)
	{
		double		psi_pxq;

		fc->x = x;
		fc->px = g->p * x;
		fc->log_x = log(x);
		fc->lgamma_pxq_px = lgamma(fc->px + g->q) - lgamma(fc->px);
		psi_pxq = Digamma(fc->px + g->q);
		fc->digamma_pxq_px = psi_pxq - Digamma(fc->px);
		fc->digamma_pxq_q = psi_pxq - fc->digamma_q;
	}
	if (grad != NULL)
	{
		grad[0] = x * (fc->digamma_pxq_px + log_z + fc->log_x - log_vxz);
		grad[1] = fc->digamma_pxq_q + fc->log_v - log_vxz;
		grad[2] = fc->q_over_v - (fc->px + g->q) / (g->v + x * zbar);
	}
	return fc->lgamma_pxq_px - fc->lgamma_q + fc->q_log_v +
		(fc->px - 1) * log_z + fc->px * fc->log_x - (fc->px + g->q) * log_vxz;
}

/*
 * ln f of one customer, and its gradient in grad if not NULL: the fit's
 * formula on a cache of that one row, so that the SQL functions and the fit
 * cannot disagree.
 */
static double
GammaGammaPointLogLik(const GammaGammaParams *g, double x, double zbar,
					  double *grad)
{
	GroupedPoint point;
	double		log_zbar = log(zbar);
	GammaGammaFitCache cache;

	memset(&point, 0, sizeof(point));
	point.v[0] = x;
	point.v[1] = zbar;
	point.count = 1;
	cache.points = &point;
	cache.log_zbar = &log_zbar;
	cache.have_params = false;
	return GammaGammaFitPointLogLik((const double *) g, &point, grad, &cache);
}

/*
 * Transition function of gamma_gamma_fit: add one customer (x, zbar).  Not
 * strict: a NULL frequency raises 22004; a customer with x = 0 is skipped
 * (its mean spend may be NULL, as customer_facts returns it); a repeat
 * customer needs a mean spend > 0.
 */
PG_FUNCTION_INFO_V1(gamma_gamma_fit_accum);
Datum
gamma_gamma_fit_accum(PG_FUNCTION_ARGS)
{
	GroupedPoints *state;
	double		v[2];

	/* validate the row before touching the state */
	v[0] = GetDoubleArg(fcinfo, 1, "frequency", "crm.gamma_gamma_fit");
	CheckFrequency(v[0]);
	if (v[0] == 0)
	{
		if (!PG_ARGISNULL(2))
			CheckNonNegative(PG_GETARG_FLOAT8(2), "monetary_avg",
							 "monetary_avg is the mean value of the repeat purchases.");
		state = GroupedPointsForUpdate(fcinfo, GP_KIND_GAMMA_GAMMA);
		if (unlikely(pg_add_s64_overflow(state->skipped, 1, &state->skipped)))
			ereport(ERROR,
					(errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE),
					 errmsg("model fit row count is out of range")));
		PG_RETURN_BYTEA_P(state);
	}
	v[1] = GetDoubleArg(fcinfo, 2, "monetary_avg", "crm.gamma_gamma_fit");
	CheckMonetary(v[1]);
	/* ln(v + x zbar) of such a row is infinite at every v: the fit would be lost */
	if (isinf(v[0] * v[1]))
		ereport(ERROR,
				(errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE),
				 errmsg("frequency %g times monetary_avg %g is out of range for crm.gamma_gamma_fit", v[0], v[1]),
				 errhint("Check monetary_avg for unit or data entry errors: a customer's total repeat spend must be a finite number.")));

	PG_RETURN_BYTEA_P(GroupedPointsAdd(GroupedPointsForUpdate(fcinfo, GP_KIND_GAMMA_GAMMA), v));
}

/* Combine function of gamma_gamma_fit: merge two partial states. */
PG_FUNCTION_INFO_V1(gamma_gamma_fit_combine);
Datum
gamma_gamma_fit_combine(PG_FUNCTION_ARGS)
{
	return GroupedPointsCombine(fcinfo, GP_KIND_GAMMA_GAMMA);
}

/*
 * Weighted Pearson correlation of x and zbar over the points, whose mean
 * zbar and largest zbar are mean_z and max_z; false when either does not
 * vary (the correlation is undefined).
 */
static bool
SpendFrequencyCorrelation(const ModelFitData *fit, double mean_z, double max_z,
						  double *corr)
{
	double		mx = 0.0,
				sxx = 0.0,
				szz = 0.0,
				sxz = 0.0;
	int32		i;

	for (i = 0; i < fit->npoints; i++)
		mx += fit->points[i].count * fit->points[i].v[0];
	mx /= fit->weight;
	/*
	 * Two passes: no cancellation in the sums of squares.  Deviations of
	 * zbar in units of max_z: the correlation does not change, and squares
	 * of a zbar near the largest double do not overflow.
	 */
	for (i = 0; i < fit->npoints; i++)
	{
		double		dx = fit->points[i].v[0] - mx;
		double		dz = (fit->points[i].v[1] - mean_z) / max_z;

		sxx += fit->points[i].count * dx * dx;
		szz += fit->points[i].count * dz * dz;
		sxz += fit->points[i].count * dx * dz;
	}
	if (sxx <= 0 || szz <= 0)
		return false;
	*corr = Max(-1.0, Min(1.0, sxz / sqrt(sxx * szz)));
	return true;
}

/*
 * Final function of gamma_gamma_fit: the maximum likelihood model over the
 * repeat customers, NULL when there are none.  BFGS on log-parameters from
 * p = 1, q = 2, v = mean zbar (population mean spend = mean zbar), then two
 * other starts if that does not converge; converged says whether one did.
 */
PG_FUNCTION_INFO_V1(gamma_gamma_fit_final);
Datum
gamma_gamma_fit_final(PG_FUNCTION_ARGS)
{
	GroupedPoints *state = GroupedPointsArg(fcinfo, 0, GP_KIND_GAMMA_GAMMA);
	ModelFitData fit;
	GammaGammaFitCache cache;
	OptimizeResult result;
	double		mean_z = 0.0;
	double		max_z = 0.0;
	double		corr;
	Datum		values[GG_NATTS];
	bool		nulls[GG_NATTS];
	int32		i;

	fit.spec = &gg_spec;
	fit.points = GroupedPointsDistinct(state, &fit.npoints);
	fit.weight = (double) state->rows;
	fit.loglik = GammaGammaFitPointLogLik;
	fit.cache = &cache;
	if (fit.npoints == 0)
		PG_RETURN_NULL();
	cache.points = fit.points;
	cache.log_zbar = palloc(fit.npoints * sizeof(double));
	cache.have_params = false;
	/* the mean as a sum of shares: no overflow for zbar near the largest double */
	for (i = 0; i < fit.npoints; i++)
	{
		mean_z += fit.points[i].v[1] * ((double) fit.points[i].count / fit.weight);
		max_z = Max(max_z, fit.points[i].v[1]);
		cache.log_zbar[i] = log(fit.points[i].v[1]);
	}

	memset(nulls, true, sizeof(nulls));
	{
		double		starts[3][GG_NPARAMS] = {
			{0.0, log(2.0), log(mean_z)},
			{0.0, 0.0, 0.0},
			{log(5.0), log(5.0), log(4.0 * mean_z)},
		};

		FitModel(&fit, &starts[0][0], lengthof(starts), state->rows,
				 values, nulls, &result);
	}
	if (SpendFrequencyCorrelation(&fit, mean_z, max_z, &corr))
	{
		values[6] = Float8GetDatum(corr);
		nulls[6] = false;
	}
	pfree(cache.log_zbar);
	PG_RETURN_DATUM(ModelDatum(fcinfo, &gg_spec, values, nulls));
}

/* crm.gamma_gamma_model(p, q, v): a model from known parameters. */
PG_FUNCTION_INFO_V1(gamma_gamma_model);
Datum
gamma_gamma_model(PG_FUNCTION_ARGS)
{
	PG_RETURN_DATUM(ModelFromArguments(fcinfo, &gg_spec));
}

/* Read (frequency, monetary_avg) of a repeat customer and the model after them. */
static void
GetSpendAndModel(FunctionCallInfo fcinfo, double *x, double *zbar,
				 GammaGammaParams *g)
{
	*x = PG_GETARG_FLOAT8(0);
	*zbar = PG_GETARG_FLOAT8(1);
	CheckFrequency(*x);
	if (*x == 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("frequency must be at least 1 for a Gamma-Gamma log-likelihood"),
				 errhint("The model describes the mean spend of repeat purchases; customers without them carry no spend information.")));
	CheckMonetary(*zbar);
	GetGammaGammaModelArg(fcinfo, 2, g);
}

/* The Gamma-Gamma log-likelihood of one repeat customer. */
PG_FUNCTION_INFO_V1(gamma_gamma_loglik);
Datum
gamma_gamma_loglik(PG_FUNCTION_ARGS)
{
	double		x,
				zbar;
	GammaGammaParams g;

	GetSpendAndModel(fcinfo, &x, &zbar, &g);
	PG_RETURN_FLOAT8(FiniteResult(fcinfo, GammaGammaPointLogLik(&g, x, zbar, NULL)));
}

/* Its analytic gradient with respect to (p, q, v), as the fit uses it. */
PG_FUNCTION_INFO_V1(gamma_gamma_loglik_gradient);
Datum
gamma_gamma_loglik_gradient(PG_FUNCTION_ARGS)
{
	double		x,
				zbar;
	GammaGammaParams g;
	double		grad[GG_NPARAMS];

	GetSpendAndModel(fcinfo, &x, &zbar, &g);
	GammaGammaPointLogLik(&g, x, zbar, grad);
	PG_RETURN_DATUM(FiniteFloat8ArrayResult(fcinfo, grad, GG_NPARAMS));
}

/*
 * E[spend | x, zbar] = p (v + x zbar) / (p x + q - 1), the population mean
 * p v / (q - 1) for x = 0 (zbar ignored).  Finite only when p x + q > 1.
 */
double
GammaGammaExpectedSpend(const GammaGammaParams *g, double x, double zbar)
{
	double		denominator = g->p * x + g->q - 1;

	if (!(denominator > 0))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("expected spend is infinite for frequency %g: gamma_gamma model p * frequency + q must exceed 1", x),
				 errhint("With q <= 1 the model has no finite mean spend; customers without repeat purchases need q > 1.")));
	return g->p * (g->v + (x > 0 ? x * zbar : 0.0)) / denominator;
}

/*
 * Read the frequency and mean spend of a customer for the expected spend
 * from arguments xarg, zarg: x a whole number >= 0; zbar required and > 0
 * when x > 0, ignored (NULL allowed) when x = 0.  False if the result is
 * NULL: x NULL, or zbar NULL for a repeat customer.
 */
bool
GetSpendArgs(FunctionCallInfo fcinfo, int xarg, int zarg, double *x, double *zbar)
{
	if (PG_ARGISNULL(xarg))
		return false;
	*x = PG_GETARG_FLOAT8(xarg);
	CheckFrequency(*x);
	*zbar = 0.0;
	if (*x == 0)
	{
		if (!PG_ARGISNULL(zarg))
			CheckNonNegative(PG_GETARG_FLOAT8(zarg), "monetary_avg",
							 "monetary_avg is the mean value of the repeat purchases.");
		return true;
	}
	if (PG_ARGISNULL(zarg))
		return false;
	*zbar = PG_GETARG_FLOAT8(zarg);
	CheckMonetary(*zbar);
	return true;
}

/*
 * crm.expected_spend(frequency, monetary_avg, gg_model).  Not strict only
 * so that monetary_avg may be NULL for x = 0; any other NULL gives NULL.
 */
PG_FUNCTION_INFO_V1(expected_spend);
Datum
expected_spend(PG_FUNCTION_ARGS)
{
	double		x,
				zbar;
	GammaGammaParams g;

	if (PG_ARGISNULL(2) || !GetSpendArgs(fcinfo, 0, 1, &x, &zbar))
		PG_RETURN_NULL();
	GetGammaGammaModelArg(fcinfo, 2, &g);
	PG_RETURN_FLOAT8(FiniteResult(fcinfo, GammaGammaExpectedSpend(&g, x, zbar)));
}
