/*-------------------------------------------------------------------------
 *
 * btyd.c
 *	  Helpers shared by the BG/NBD and Gamma-Gamma model code: reading the
 *	  parameters of a model composite, building one from parameters or from
 *	  a maximum likelihood fit.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <math.h>

#include "access/htup_details.h"
#include "catalog/pg_type.h"
#include "executor/executor.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "utils/array.h"
#include "utils/float.h"

#include "btyd.h"

/* Most parameters of a model composite (BG/NBD: r, alpha, a, b). */
#define MODEL_MAX_PARAMS	4
/* Most model arguments of one function (crm.clv: BG/NBD and Gamma-Gamma). */
#define MODEL_ARGS_CACHED	2

/*
 * The parameters last read from each model argument of a call site.  A
 * query passes the same model to every row, and reading a composite's
 * fields costs a type cache lookup each; comparing the argument's bytes
 * with the last ones is cheaper.  Lives in fn_mcxt.
 */
typedef struct ModelArgCache
{
	int			argno[MODEL_ARGS_CACHED];	/* -1: slot unused */
	HeapTupleHeader tuple[MODEL_ARGS_CACHED];	/* copy of the argument */
	double		values[MODEL_ARGS_CACHED][MODEL_MAX_PARAMS];
	void	   *scratch;		/* the model's own per-call-site memory */
} ModelArgCache;

/* The cache of this call site, made on first use; NULL without flinfo. */
static ModelArgCache *
ModelArgCacheOf(FunctionCallInfo fcinfo)
{
	ModelArgCache *cache;
	int			i;

	if (fcinfo->flinfo == NULL)
		return NULL;
	cache = (ModelArgCache *) fcinfo->flinfo->fn_extra;
	if (cache == NULL)
	{
		cache = MemoryContextAllocZero(fcinfo->flinfo->fn_mcxt, sizeof(ModelArgCache));
		for (i = 0; i < MODEL_ARGS_CACHED; i++)
			cache->argno[i] = -1;
		fcinfo->flinfo->fn_extra = cache;
	}
	return cache;
}

/* The cache slot of argument argno at this call site, or NULL. */
static ModelArgCache *
GetModelArgCache(FunctionCallInfo fcinfo, int argno, int *slot)
{
	ModelArgCache *cache = ModelArgCacheOf(fcinfo);

	if (cache == NULL)
		return NULL;
	for (*slot = 0; *slot < MODEL_ARGS_CACHED; (*slot)++)
		if (cache->argno[*slot] == argno || cache->argno[*slot] == -1)
			return cache;
	return NULL;
}

/*
 * The slot a model's scoring function may keep its own per-call-site
 * memory in (allocated in fn_mcxt), or NULL without flinfo.
 */
void	  **
ModelScratch(FunctionCallInfo fcinfo)
{
	ModelArgCache *cache = ModelArgCacheOf(fcinfo);

	return cache != NULL ? &cache->scratch : NULL;
}

/*
 * Read the parameters of the model composite argument argno: each must be
 * non-null, finite and > 0.
 */
void
GetModelParameters(FunctionCallInfo fcinfo, int argno, const ModelSpec *spec,
				   double *values)
{
	HeapTupleHeader tuple = PG_GETARG_HEAPTUPLEHEADER(argno);
	uint32		length = HeapTupleHeaderGetDatumLength(tuple);
	int			slot = 0;
	ModelArgCache *cache = GetModelArgCache(fcinfo, argno, &slot);
	int			i;

	Assert(spec->nparams <= MODEL_MAX_PARAMS);
	if (cache != NULL && cache->argno[slot] == argno &&
		HeapTupleHeaderGetDatumLength(cache->tuple[slot]) == length &&
		memcmp(cache->tuple[slot], tuple, length) == 0)
	{
		memcpy(values, cache->values[slot], spec->nparams * sizeof(double));
		return;
	}

	for (i = 0; i < spec->nparams; i++)
	{
		bool		isnull;
		Datum		datum = GetAttributeByNum(tuple, i + 1, &isnull);

		if (isnull)
			ereport(ERROR,
					(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
					 errmsg("%s model parameter %s must not be NULL",
							spec->name, spec->param_names[i]),
					 errhint("A fit returns NULL parameters when the data cannot identify the model (see its converged column); build one with crm.%s_model() instead.",
							 spec->name)));
		values[i] = DatumGetFloat8(datum);
		CheckGreaterThan(values[i], 0, spec->param_names[i], spec->hint);
	}

	/* Remembered only once valid. */
	if (cache != NULL)
	{
		if (cache->argno[slot] == argno)
			pfree(cache->tuple[slot]);
		cache->tuple[slot] = MemoryContextAlloc(fcinfo->flinfo->fn_mcxt, length);
		memcpy(cache->tuple[slot], tuple, length);
		memcpy(cache->values[slot], values, spec->nparams * sizeof(double));
		cache->argno[slot] = argno;
	}
}

/* A model composite of the function's result type from values and nulls. */
Datum
ModelDatum(FunctionCallInfo fcinfo, const ModelSpec *spec, Datum *values,
		   bool *nulls)
{
	TupleDesc	tupdesc;

	if (get_call_result_type(fcinfo, NULL, &tupdesc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "return type must be a row type");
	/*
	 * A database not yet updated from 1.0 has the model types without the
	 * standard errors and what follows them: those columns were appended,
	 * so the old type is a prefix of this one and gets the first columns.
	 */
	if (tupdesc->natts != spec->natts && tupdesc->natts != spec->se_column)
		elog(ERROR, "%s model type has %d columns, expected %d",
			 spec->name, tupdesc->natts, spec->natts);
	tupdesc = BlessTupleDesc(tupdesc);
	return HeapTupleGetDatum(heap_form_tuple(tupdesc, values, nulls));
}

/*
 * The constructor crm.<model>_model(parameters...): a model from known
 * parameters, each finite and > 0, with NULL fit diagnostics.
 */
Datum
ModelFromArguments(FunctionCallInfo fcinfo, const ModelSpec *spec)
{
	Datum	   *values = palloc(spec->natts * sizeof(Datum));
	bool	   *nulls = palloc(spec->natts * sizeof(bool));
	int			i;

	memset(nulls, true, spec->natts * sizeof(bool));
	for (i = 0; i < spec->nparams; i++)
	{
		CheckGreaterThan(PG_GETARG_FLOAT8(i), 0, spec->param_names[i], spec->hint);
		values[i] = PG_GETARG_DATUM(i);
		nulls[i] = false;
	}
	return ModelDatum(fcinfo, spec, values, nulls);
}

/*
 * The objective of every fit: minus the mean log-likelihood per customer on
 * theta = ln(parameters), with its gradient by the chain rule
 * (d/d ln p = p d/dp).  The mean keeps the optimizer's tolerances
 * independent of the number of customers.
 */
static double
ModelObjective(const double *theta, double *grad, void *arg)
{
	const ModelFitData *fit = (const ModelFitData *) arg;
	int			n = fit->spec->nparams;
	double		params[OPTIMIZE_MAX_DIM];
	double		total[OPTIMIZE_MAX_DIM];
	double		sum = 0.0;
	int32		i;
	int			k;

	for (k = 0; k < n; k++)
	{
		params[k] = exp(theta[k]);
		total[k] = 0.0;
	}
	for (i = 0; i < fit->npoints; i++)
	{
		double		w = (double) fit->points[i].count;
		double		g[OPTIMIZE_MAX_DIM];

		/* a fit over millions of distinct rows must answer a cancel */
		if ((i & 0xFFFF) == 0)
			CHECK_FOR_INTERRUPTS();

		sum += w * fit->loglik(params, &fit->points[i], g, fit->cache);
		for (k = 0; k < n; k++)
			total[k] += w * g[k];
	}
	for (k = 0; k < n; k++)
		grad[k] = -total[k] * params[k] / fit->weight;
	return -sum / fit->weight;
}

/* Relative step of the finite differences of the gradient, in ln(parameter). */
#define HESSIAN_STEP		1e-5

/*
 * Standard errors of the fitted parameters from the observed information:
 * the Hessian of -ln L in theta = ln(parameters), by central differences
 * of the analytic gradient, inverted through its Cholesky factor; then
 * SE(p_i) = p_i SE(theta_i) (delta method).  False when the Hessian is not
 * positive definite, which is what a parameter at a limit the data cannot
 * identify gives: its uncertainty is unbounded, not small.
 */
static bool
ModelStandardErrors(const ModelFitData *fit, const double *theta, double *se)
{
	int			n = fit->spec->nparams;
	double		hessian[OPTIMIZE_MAX_DIM][OPTIMIZE_MAX_DIM];
	double		chol[OPTIMIZE_MAX_DIM][OPTIMIZE_MAX_DIM];
	double		inverse[OPTIMIZE_MAX_DIM][OPTIMIZE_MAX_DIM];
	double		point[OPTIMIZE_MAX_DIM];
	double		up[OPTIMIZE_MAX_DIM];
	double		down[OPTIMIZE_MAX_DIM];
	int			i,
				j,
				k;

	for (j = 0; j < n; j++)
	{
		double		fu,
					fd;

		memcpy(point, theta, n * sizeof(double));
		point[j] = theta[j] + HESSIAN_STEP;
		fu = ModelObjective(point, up, (void *) fit);
		point[j] = theta[j] - HESSIAN_STEP;
		fd = ModelObjective(point, down, (void *) fit);
		if (!isfinite(fu) || !isfinite(fd))
			return false;
		/* the objective is the mean: the information of ln L is weight times it */
		for (i = 0; i < n; i++)
			hessian[i][j] = (up[i] - down[i]) / (2 * HESSIAN_STEP) * fit->weight;
	}
	/* Cholesky factor of the symmetrized Hessian, lower triangular */
	for (i = 0; i < n; i++)
		for (j = 0; j <= i; j++)
		{
			double		sum = (hessian[i][j] + hessian[j][i]) / 2;

			for (k = 0; k < j; k++)
				sum -= chol[i][k] * chol[j][k];
			if (i == j)
			{
				if (!(sum > 0) || !isfinite(sum))
					return false;
				chol[i][i] = sqrt(sum);
			}
			else
				chol[i][j] = sum / chol[j][j];
		}
	/* inverse of the factor, lower triangular, by forward substitution */
	for (j = 0; j < n; j++)
		for (i = 0; i < n; i++)
		{
			double		sum = (i == j) ? 1.0 : 0.0;

			if (i < j)
			{
				inverse[i][j] = 0.0;
				continue;
			}
			for (k = j; k < i; k++)
				sum -= chol[i][k] * inverse[k][j];
			inverse[i][j] = sum / chol[i][i];
		}
	/* diag(H^-1) = column sums of squares of the inverse factor */
	for (j = 0; j < n; j++)
	{
		double		variance = 0.0;

		for (i = j; i < n; i++)
			variance += inverse[i][j] * inverse[i][j];
		se[j] = exp(theta[j]) * sqrt(variance);
		if (!isfinite(se[j]))
			return false;
	}
	return true;
}

/* The maximised log-likelihood of a fit from the given starts; NaN if none is finite. */
double
MaximumLogLikelihood(const ModelFitData *fit, const double *starts, int nstarts,
					 OptimizeResult *result)
{
	double		theta[OPTIMIZE_MAX_DIM];

	OptimizeFromStarts(ModelObjective, (void *) fit, fit->spec->nparams, nstarts,
					   starts, theta, result);
	return result->finite ? -result->f * fit->weight : get_float8_nan();
}

/*
 * Fit a model by maximum likelihood from the given starts (on
 * log-parameters), and fill the parameter, log_likelihood, customers,
 * converged and standard error columns.  Without a finite start the
 * parameters and the log-likelihood stay NULL.
 */
void
FitModel(const ModelFitData *fit, const double *starts, int nstarts,
		 int64 customers, Datum *values, bool *nulls, OptimizeResult *result)
{
	const ModelSpec *spec = fit->spec;
	double		theta[OPTIMIZE_MAX_DIM];
	double		se[OPTIMIZE_MAX_DIM];
	int			i;

	OptimizeFromStarts(ModelObjective, (void *) fit, spec->nparams, nstarts,
					   starts, theta, result);
	if (result->finite)
	{
		bool		have_se = ModelStandardErrors(fit, theta, se);

		for (i = 0; i < spec->nparams; i++)
		{
			values[i] = Float8GetDatum(exp(theta[i]));
			nulls[i] = false;
			values[spec->se_column + i] = Float8GetDatum(have_se ? se[i] : 0.0);
			nulls[spec->se_column + i] = !have_se;
		}
		values[MODEL_COL_LOG_LIKELIHOOD(spec)] = Float8GetDatum(-result->f * fit->weight);
		nulls[MODEL_COL_LOG_LIKELIHOOD(spec)] = false;
	}
	values[MODEL_COL_CUSTOMERS(spec)] = Int64GetDatum(customers);
	nulls[MODEL_COL_CUSTOMERS(spec)] = false;
	values[MODEL_COL_CONVERGED(spec)] = BoolGetDatum(result->converged);
	nulls[MODEL_COL_CONVERGED(spec)] = false;
}

/*
 * The final function of a purchase model fit (BG/NBD, MBG/NBD,
 * Pareto/NBD) on its distinct (x, t_x, T) points: the maximum likelihood
 * model and its gain over the NBD fit without dropout.  BFGS on the
 * log-parameters from a start scaled to the data (r = 1, alpha = mean T /
 * mean x, the dropout parameters 1, the second of them mean T when it is a
 * time scale, as Pareto/NBD's beta is), restarted from two other points if
 * it does not converge; the best finite point wins and converged says
 * whether a stopping rule held there.  Without any repeat purchase the
 * purchase rate is not identified (r, alpha run off to a boundary): the
 * model is returned with NULL parameters and converged = false.
 */
Datum
PurchaseModelFitFinal(FunctionCallInfo fcinfo, const ModelFitData *fit,
					  bool dropout_scale_is_time)
{
	const ModelSpec *spec = fit->spec;
	double		sum_x = 0.0;
	double		sum_T = 0.0;
	Datum		values[PURCHASE_NATTS];
	bool		nulls[PURCHASE_NATTS];
	int32		i;

	Assert(spec->natts == PURCHASE_NATTS && spec->se_column == PURCHASE_COL_SE);
	for (i = 0; i < fit->npoints; i++)
	{
		sum_x += fit->points[i].v[0] * (double) fit->points[i].count;
		sum_T += fit->points[i].v[2] * (double) fit->points[i].count;
	}
	memset(nulls, true, sizeof(nulls));
	if (sum_x > 0)
	{
		double		mean_T = Max(sum_T / fit->weight, 1e-6);
		double		scale = dropout_scale_is_time ? log(mean_T) : 0.0;
		double		starts[3][4] = {
			{0.0, log(mean_T * fit->weight / sum_x), 0.0, scale},
			{0.0, 0.0, 0.0, 0.0},
			{log(0.25), log(mean_T), log(0.5), log(3.0) + scale},
		};
		OptimizeResult result;

		Assert(spec->nparams == 4);
		FitModel(fit, &starts[0][0], lengthof(starts), (int64) fit->weight,
				 values, nulls, &result);
		values[PURCHASE_COL_ITERATIONS] = Int32GetDatum(result.iterations);
		nulls[PURCHASE_COL_ITERATIONS] = false;
		if (!nulls[MODEL_COL_LOG_LIKELIHOOD(spec)])
		{
			double		nbd = NbdMaxLogLikelihood(fit->points, fit->npoints, fit->weight,
												  sum_x, sum_T);

			values[PURCHASE_COL_DROPOUT_GAIN] =
				Float8GetDatum(DatumGetFloat8(values[MODEL_COL_LOG_LIKELIHOOD(spec)]) - nbd);
			nulls[PURCHASE_COL_DROPOUT_GAIN] = isnan(nbd);
		}
	}
	else
	{
		/* not identified: parameters NULL, no iterations */
		values[MODEL_COL_CUSTOMERS(spec)] = Int64GetDatum((int64) fit->weight);
		values[MODEL_COL_CONVERGED(spec)] = BoolGetDatum(false);
		values[PURCHASE_COL_ITERATIONS] = Int32GetDatum(0);
		nulls[MODEL_COL_CUSTOMERS(spec)] = false;
		nulls[MODEL_COL_CONVERGED(spec)] = false;
		nulls[PURCHASE_COL_ITERATIONS] = false;
	}
	return ModelDatum(fcinfo, spec, values, nulls);
}

/* A double precision[] result of n values, each finite (FiniteResult). */
Datum
FiniteFloat8ArrayResult(FunctionCallInfo fcinfo, const double *values, int n)
{
	Datum	   *elems = palloc(n * sizeof(Datum));
	int			i;

	for (i = 0; i < n; i++)
		elems[i] = Float8GetDatum(FiniteResult(fcinfo, values[i]));
	return PointerGetDatum(construct_array(elems, n, FLOAT8OID, sizeof(float8),
										   FLOAT8PASSBYVAL, TYPALIGN_DOUBLE));
}

/*
 * Argument argno of a non-strict transition function: a NULL raises 22004
 * (like customer_facts) instead of being skipped silently.
 */
double
GetDoubleArg(FunctionCallInfo fcinfo, int argno, const char *what,
			 const char *aggregate)
{
	if (PG_ARGISNULL(argno))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("%s must not be NULL", what),
				 errhint("Filter out rows with a NULL %s before calling %s.",
						 what, aggregate)));
	return PG_GETARG_FLOAT8(argno);
}
