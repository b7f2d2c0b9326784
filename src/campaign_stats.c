/*-------------------------------------------------------------------------
 *
 * campaign_stats.c
 *	  The standard normal distribution behind campaign planning and
 *	  uplift intervals (README, "Campaigns: control group and planning"):
 *	  its distribution function and its quantile function.
 *
 * SQL has no erf() before PostgreSQL 16, and sample sizes, intervals and
 * p-values need both functions to full double precision.  The distribution
 * function comes from the C library's erfc, accurate in both tails.  The
 * quantile starts from Acklam's rational approximation (relative error below
 * 1.2e-9) and takes one Halley step against erfc, which brings it to a few
 * units in the last place; the upper half is the mirror of the lower one,
 * where 1 - p is exact.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <math.h>

#include "fmgr.h"
#include "retail_crm.h"

PG_FUNCTION_INFO_V1(normal_cdf);
PG_FUNCTION_INFO_V1(normal_quantile);

/* Acklam's coefficients: central region, then both tails. */
static const double acklam_a[6] = {
	-3.969683028665376e+01, 2.209460984245205e+02, -2.759285104469687e+02,
	1.383577518672690e+02, -3.066479806614716e+01, 2.506628277459239e+00
};
static const double acklam_b[5] = {
	-5.447609879822406e+01, 1.615858368580409e+02, -1.556989798598866e+02,
	6.680131188771972e+01, -1.328068155288572e+01
};
static const double acklam_c[6] = {
	-7.784894002430293e-03, -3.223964580411365e-01, -2.400758277161838e+00,
	-2.549732539343734e+00, 4.374664141464968e+00, 2.938163982698783e+00
};
static const double acklam_d[4] = {
	7.784695709041462e-03, 3.224671290700398e-01, 2.445134137142996e+00,
	3.754408661907416e+00
};

/* sqrt(2) and sqrt(2 pi): M_SQRT2 and M_PI are not in every libc's math.h. */
#define SQRT_2			1.41421356237309504880
#define SQRT_2PI		2.50662827463100050242

/* Below this the lower-tail formula applies. */
#define ACKLAM_P_LOW	0.02425

static double
phi_lower(double x)
{
	return 0.5 * erfc(-x / SQRT_2);
}

/* The quantile of 0 < p <= 0.5. */
static double
lower_half_quantile(double p)
{
	double		x;
	double		density;

	if (p < ACKLAM_P_LOW)
	{
		double		q = sqrt(-2.0 * log(p));

		x = (((((acklam_c[0] * q + acklam_c[1]) * q + acklam_c[2]) * q + acklam_c[3]) * q +
			  acklam_c[4]) * q + acklam_c[5]) /
			((((acklam_d[0] * q + acklam_d[1]) * q + acklam_d[2]) * q + acklam_d[3]) * q + 1.0);
	}
	else
	{
		double		q = p - 0.5;
		double		r = q * q;

		x = (((((acklam_a[0] * r + acklam_a[1]) * r + acklam_a[2]) * r + acklam_a[3]) * r +
			  acklam_a[4]) * r + acklam_a[5]) * q /
			(((((acklam_b[0] * r + acklam_b[1]) * r + acklam_b[2]) * r + acklam_b[3]) * r +
			  acklam_b[4]) * r + 1.0);
	}

	/* Halley's step; the density underflows only for p of about 1e-320. */
	density = exp(-0.5 * x * x) / SQRT_2PI;
	if (density > 0.0)
	{
		double		u = (phi_lower(x) - p) / density;

		x = x - u / (1.0 + 0.5 * x * u);
	}
	return x;
}

/*
 * normal_cdf(x float8) -> P(Z <= x) for a standard normal Z.  +-Infinity
 * give 1 and 0; NaN is refused.
 */
Datum
normal_cdf(PG_FUNCTION_ARGS)
{
	double		x = PG_GETARG_FLOAT8(0);

	if (isnan(x))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("x must be a number, not NaN"),
				 errhint("crm.normal_cdf(1.959964) is about 0.975.")));
	PG_RETURN_FLOAT8(phi_lower(x));
}

/*
 * normal_quantile(p float8) -> the x with P(Z <= x) = p, for 0 < p < 1.
 */
Datum
normal_quantile(PG_FUNCTION_ARGS)
{
	double		p = PG_GETARG_FLOAT8(0);

	if (!(p > 0.0 && p < 1.0))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("p must lie strictly between 0 and 1, not %g", p),
				 errhint("A two-sided 95 %% interval uses crm.normal_quantile(0.975), about 1.959964.")));
	if (p > 0.5)
		PG_RETURN_FLOAT8(-lower_half_quantile(1.0 - p));
	PG_RETURN_FLOAT8(lower_half_quantile(p));
}
