/*-------------------------------------------------------------------------
 *
 * btyd.c
 *	  Helpers shared by the BG/NBD and Gamma-Gamma model code: reading the
 *	  parameters of a model composite and building one.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "executor/executor.h"
#include "funcapi.h"

#include "btyd.h"

/*
 * Read the first nparams columns of the model composite argument argno,
 * each a double precision parameter that must be non-null, finite and > 0.
 */
void
GetModelParameters(FunctionCallInfo fcinfo, int argno, const char *model,
				   int nparams, const char *const *names, double *values)
{
	HeapTupleHeader tuple = PG_GETARG_HEAPTUPLEHEADER(argno);
	int			i;

	for (i = 0; i < nparams; i++)
	{
		bool		isnull;
		Datum		datum = GetAttributeByNum(tuple, i + 1, &isnull);

		if (isnull)
			ereport(ERROR,
					(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
					 errmsg("%s model parameter %s must not be null", model, names[i]),
					 errhint("A fit returns null parameters when the data cannot identify the model (see its converged column); build one with crm.%s_model() instead.",
							 model)));
		values[i] = DatumGetFloat8(datum);
		CheckModelParameter(values[i], names[i], model);
	}
}

/* A model composite of the function's result type from values and nulls. */
Datum
ModelDatum(FunctionCallInfo fcinfo, int natts, Datum *values, bool *nulls)
{
	TupleDesc	tupdesc;

	if (get_call_result_type(fcinfo, NULL, &tupdesc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "return type must be a row type");
	if (tupdesc->natts != natts)
		elog(ERROR, "model type has %d columns, expected %d",
			 tupdesc->natts, natts);
	tupdesc = BlessTupleDesc(tupdesc);
	return HeapTupleGetDatum(heap_form_tuple(tupdesc, values, nulls));
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
