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
#include "utils/array.h"

#include "btyd.h"

/*
 * Read the parameters of the model composite argument argno: each must be
 * non-null, finite and > 0.
 */
void
GetModelParameters(FunctionCallInfo fcinfo, int argno, const ModelSpec *spec,
				   double *values)
{
	HeapTupleHeader tuple = PG_GETARG_HEAPTUPLEHEADER(argno);
	int			i;

	for (i = 0; i < spec->nparams; i++)
	{
		bool		isnull;
		Datum		datum = GetAttributeByNum(tuple, i + 1, &isnull);

		if (isnull)
			ereport(ERROR,
					(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
					 errmsg("%s model parameter %s must not be null",
							spec->name, spec->param_names[i]),
					 errhint("A fit returns null parameters when the data cannot identify the model (see its converged column); build one with crm.%s_model() instead.",
							 spec->name)));
		values[i] = DatumGetFloat8(datum);
		CheckGreaterThan(values[i], 0, spec->param_names[i], spec->hint);
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
	if (tupdesc->natts != spec->natts)
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

		sum += w * fit->loglik(params, &fit->points[i], g, fit->cache);
		for (k = 0; k < n; k++)
			total[k] += w * g[k];
	}
	for (k = 0; k < n; k++)
		grad[k] = -total[k] * params[k] / fit->weight;
	return -sum / fit->weight;
}

/*
 * Fit a model by maximum likelihood from the given starts (on
 * log-parameters), and fill the parameter, log_likelihood, customers and
 * converged columns.  Without a finite start the parameters and the
 * log-likelihood stay NULL.
 */
void
FitModel(const ModelFitData *fit, const double *starts, int nstarts,
		 int64 customers, Datum *values, bool *nulls, OptimizeResult *result)
{
	const ModelSpec *spec = fit->spec;
	double		theta[OPTIMIZE_MAX_DIM];
	int			i;

	OptimizeFromStarts(ModelObjective, (void *) fit, spec->nparams, nstarts,
					   starts, theta, result);
	if (result->finite)
	{
		for (i = 0; i < spec->nparams; i++)
		{
			values[i] = Float8GetDatum(exp(theta[i]));
			nulls[i] = false;
		}
		values[MODEL_COL_LOG_LIKELIHOOD(spec)] = Float8GetDatum(-result->f * fit->weight);
		nulls[MODEL_COL_LOG_LIKELIHOOD(spec)] = false;
	}
	values[MODEL_COL_CUSTOMERS(spec)] = Int64GetDatum(customers);
	nulls[MODEL_COL_CUSTOMERS(spec)] = false;
	values[MODEL_COL_CONVERGED(spec)] = BoolGetDatum(result->converged);
	nulls[MODEL_COL_CONVERGED(spec)] = false;
}

/* A double precision[] of n values. */
Datum
Float8ArrayDatum(const double *values, int n)
{
	Datum	   *elems = palloc(n * sizeof(Datum));
	int			i;

	for (i = 0; i < n; i++)
		elems[i] = Float8GetDatum(values[i]);
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
				 errmsg("%s must not be null", what),
				 errhint("Filter out rows with a null %s before calling %s.",
						 what, aggregate)));
	return PG_GETARG_FLOAT8(argno);
}
