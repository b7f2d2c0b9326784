/*-------------------------------------------------------------------------
 *
 * retail_crm.c
 *	  Module entry point of the retail_crm extension, and the error
 *	  reports every C file shares.
 *
 * The extension needs no shared memory or background workers of its own:
 * scheduling is delegated to pg_cron when it is installed, so there is no
 * _PG_init and the library loads on first use.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "fmgr.h"
#include "mb/pg_wchar.h"
#include "utils/lsyscache.h"

#include "retail_crm.h"

PG_MODULE_MAGIC;

/*
 * value as an error message quotes it: whole up to RCRM_EXCERPT_MAX_CHARS
 * characters, else cut there (at a character boundary) and marked with
 * "...", so that a huge argument does not travel into the client and the
 * server log with every error.
 */
const char *
MessageExcerpt(const char *value)
{
	int			length = strlen(value);
	int			cut = pg_mbcharcliplen(value, length, RCRM_EXCERPT_MAX_CHARS);

	if (cut == length)
		return value;
	return psprintf("%.*s...", cut, value);
}

/* The 22003 error of FiniteResult, naming the function called. */
void
ReportNonFiniteResult(FunctionCallInfo fcinfo)
{
	Oid			fn = fcinfo->flinfo != NULL ? fcinfo->flinfo->fn_oid : InvalidOid;
	char	   *name = OidIsValid(fn) ? get_func_name(fn) : NULL;
	char	   *schema = name != NULL ? get_namespace_name(get_func_namespace(fn)) : NULL;

	ereport(ERROR,
			(errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE),
			 errmsg("result of %s%s%s is out of range",
					schema != NULL ? schema : "", schema != NULL ? "." : "",
					name != NULL ? name : "a retail_crm function"),
			 errhint("An argument or model parameter lies far outside the scale of customer data (such as 1e308 or 5e-324), where the result is not a finite number; check units and model parameters.")));
}
