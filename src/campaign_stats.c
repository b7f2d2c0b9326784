/*-------------------------------------------------------------------------
 *
 * campaign_stats.c
 *	  The distributions behind campaign planning and uplift intervals
 *	  (DEFINITIONS.md, "Campaigns"): the standard normal and Student's t, each
 *	  with its distribution function and its quantile function.
 *
 * SQL has no erf() before PostgreSQL 16, and sample sizes, intervals and
 * p-values need both functions to full double precision.  The distribution
 * function comes from the C library's erfc, accurate in both tails.  The
 * quantile starts from Acklam's rational approximation (relative error below
 * 1.2e-9) and takes one Halley step against erfc, which brings it to a few
 * units in the last place; the upper half is the mirror of the lower one,
 * where 1 - p is exact.
 *
 * Student's t (Welch's test of revenue per member, whose degrees of freedom
 * are not whole) comes from the regularized incomplete beta function,
 * evaluated by its continued fraction; its quantile by Newton's method on
 * that distribution function, kept inside a shrinking bracket.  The
 * fraction converges slowly, and so loses digits, for millions of degrees
 * of freedom: there its relative error grows to about 1e-11 (against 40-digit
 * values), still far below what a p-value needs.  Beyond T_NORMAL_DF
 * degrees of freedom t and the normal differ by less than that, and the
 * normal is used.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <math.h>

#include "fmgr.h"
#include "retail_crm.h"

PG_FUNCTION_INFO_V1(normal_cdf);
PG_FUNCTION_INFO_V1(normal_quantile);
PG_FUNCTION_INFO_V1(student_t_cdf);
PG_FUNCTION_INFO_V1(student_t_quantile);

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

/* sqrt(2), sqrt(2 pi) and pi: M_SQRT2 and M_PI are not in every libc's math.h. */
#define SQRT_2			1.41421356237309504880
#define SQRT_2PI		2.50662827463100050242
#define M_PI_VALUE		3.14159265358979323846

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

/*
 * Degrees of freedom from which t is taken as normal: there the two
 * quantiles differ by about (z^3 + z) / (4 df), below 3e-8 at z = 1.96.
 */
#define T_NORMAL_DF		1e8

/* Degrees of freedom below this are refused: half of them must not underflow. */
#define T_MIN_DF		1e-300

/* Beyond this |t|, t^2 is not computed: it could overflow. */
#define T_HUGE			1e150

/* The continued fraction stops when a step changes it by less than this. */
#define CF_EPSILON		1e-16
#define CF_TINY			1e-300
#define CF_MAX_STEPS	100000

/*
 * The continued fraction of I_x(a, b) (without its prefactor), by Lentz's
 * method; it converges fast for x < (a + 1) / (a + b + 2).
 */
static double
beta_continued_fraction(double a, double b, double x)
{
	double		c = 1.0;
	double		d = 1.0 - (a + b) * x / (a + 1.0);
	double		h;

	d = 1.0 / (fabs(d) < CF_TINY ? CF_TINY : d);
	h = d;
	for (int m = 1; m <= CF_MAX_STEPS; m++)
	{
		double		even = m * (b - m) * x / ((a + 2.0 * m - 1.0) * (a + 2.0 * m));
		double		odd = -(a + m) * (a + b + m) * x / ((a + 2.0 * m) * (a + 2.0 * m + 1.0));
		double		step;

		d = 1.0 + even * d;
		d = 1.0 / (fabs(d) < CF_TINY ? CF_TINY : d);
		c = 1.0 + even / c;
		c = fabs(c) < CF_TINY ? CF_TINY : c;
		h *= d * c;

		d = 1.0 + odd * d;
		d = 1.0 / (fabs(d) < CF_TINY ? CF_TINY : d);
		c = 1.0 + odd / c;
		c = fabs(c) < CF_TINY ? CF_TINY : c;
		step = d * c;
		h *= step;
		if (fabs(step - 1.0) < CF_EPSILON)
			break;
	}
	return h;
}

/*
 * log(Gamma(a + 1/2) / Gamma(a)): by its asymptotic series for large a,
 * where the difference of two lgamma values would cancel away digits.
 */
static double
log_gamma_half_ratio(double a)
{
	if (a < 50.0)
		return lgamma(a + 0.5) - lgamma(a);
	return 0.5 * log(a) - 1.0 / (8.0 * a) + 1.0 / (192.0 * a * a * a)
		- 1.0 / (640.0 * pow(a, 5.0));
}

/*
 * P(T <= t) for t <= 0 and T with df degrees of freedom:
 * I_x(df/2, 1/2) / 2 with x = df / (df + t^2), 1 - x = t^2 / (df + t^2)
 * computed directly so that neither loses digits.
 */
static double
t_lower_tail(double t, double df)
{
	double		a = 0.5 * df;
	double		x;
	double		y;
	double		log_x;
	double		log_front;

	if (t == 0.0)
		return 0.5;
	if (fabs(t) > T_HUGE)
	{
		/* t^2 would overflow; df + t^2 is t^2 to double precision */
		log_x = log(df) - 2.0 * log(fabs(t));
		x = exp(log_x);
		y = 1.0;
	}
	else
	{
		double		t2 = t * t;

		x = df / (df + t2);
		y = t2 / (df + t2);
		/* log x = -log(1 + t^2/df), also where t^2/df overflows (tiny df) */
		log_x = isinf(t2 / df) ? log(df) - log(df + t2) : -log1p(t2 / df);
	}
	/* log of x^a y^(1/2) / B(a, 1/2), B(a, 1/2) = Gamma(a) sqrt(pi) / Gamma(a + 1/2) */
	log_front = log_gamma_half_ratio(a) - 0.5 * log(M_PI_VALUE) + a * log_x + 0.5 * log(y);
	/* the prefactor divided by a in logarithms: both underflow for tiny df */
	if (x < (a + 1.0) / (a + 2.5))
		return 0.5 * exp(log_front - log(a)) * beta_continued_fraction(a, 0.5, x);
	return 0.5 * (1.0 - exp(log_front - log(0.5)) * beta_continued_fraction(0.5, a, y));
}

static double
t_density(double t, double df)
{
	double		log_kernel = fabs(t) > T_HUGE ? 2.0 * log(fabs(t)) - log(df) : log1p(t * t / df);

	return exp(log_gamma_half_ratio(0.5 * df) - 0.5 * log(df * M_PI_VALUE) - 0.5 * (df + 1.0) * log_kernel);
}

static void
check_degrees_of_freedom(double df)
{
	if (!(df >= T_MIN_DF))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("degrees of freedom must be at least 1e-300, not %g", df),
				 errhint("Welch's test of two groups of n1 and n0 members has between min(n1, n0) - 1 and n1 + n0 - 2; Infinity gives the normal distribution.")));
}

/*
 * The t <= 0 with P(T <= t) = p, for 0 < p <= 0.5: Newton's method from
 * the normal quantile with its first Cornish-Fisher correction, each step
 * kept inside the bracket [low, 0] that the distribution function narrows.
 */
static double
t_lower_half_quantile(double p, double df)
{
	double		z = lower_half_quantile(p);
	double		t = z + (z * z * z + z) / (4.0 * df);
	double		low = -HUGE_VAL;
	double		high = 0.0;

	if (p == 0.5)
		return 0.0;
	/* Cauchy: tan(pi (p - 1/2)), written so that a tiny p keeps its digits */
	if (df == 1.0)
		return -1.0 / tan(M_PI_VALUE * p);
	/* doubling can take a thousand steps, for the huge quantiles of tiny df */
	for (int i = 0; i < 4000; i++)
	{
		double		f = t_lower_tail(t, df) - p;
		double		next;

		if (f > 0.0)
			high = t;
		else
			low = t;
		next = t - f / t_density(t, df);
		if (!(next > low && next < high))
			next = isinf(low) ? 2.0 * t - 1.0 : 0.5 * (low + high);
		if (isinf(next))
			break;
		if (fabs(next - t) <= 1e-15 * fabs(t))
			return next;
		t = next;
	}
	ereport(ERROR,
			(errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE),
			 errmsg("the %g quantile of Student's t with %g degrees of freedom is out of range", p, df),
			 errhint("Below 1 degree of freedom the tails are so heavy that extreme quantiles exceed double precision.")));
	pg_unreachable();
}

/*
 * student_t_cdf(t float8, df float8) -> P(T <= t) for Student's t with df
 * (not necessarily whole) degrees of freedom; df = Infinity is the normal.
 */
Datum
student_t_cdf(PG_FUNCTION_ARGS)
{
	double		t = PG_GETARG_FLOAT8(0);
	double		df = PG_GETARG_FLOAT8(1);

	if (isnan(t))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("t must be a number, not NaN"),
				 errhint("crm.student_t_cdf(2.228139, 10) is about 0.975.")));
	check_degrees_of_freedom(df);
	if (isinf(t))
		PG_RETURN_FLOAT8(t > 0.0 ? 1.0 : 0.0);
	if (df > T_NORMAL_DF)
		PG_RETURN_FLOAT8(phi_lower(t));
	if (t > 0.0)
		PG_RETURN_FLOAT8(1.0 - t_lower_tail(-t, df));
	PG_RETURN_FLOAT8(t_lower_tail(t, df));
}

/*
 * student_t_quantile(p float8, df float8) -> the t with P(T <= t) = p.
 */
Datum
student_t_quantile(PG_FUNCTION_ARGS)
{
	double		p = PG_GETARG_FLOAT8(0);
	double		df = PG_GETARG_FLOAT8(1);

	if (!(p > 0.0 && p < 1.0))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("p must lie strictly between 0 and 1, not %g", p),
				 errhint("A two-sided 95 %% interval uses crm.student_t_quantile(0.975, df).")));
	check_degrees_of_freedom(df);
	if (df > T_NORMAL_DF)
		PG_RETURN_FLOAT8(p > 0.5 ? -lower_half_quantile(1.0 - p) : lower_half_quantile(p));
	if (p > 0.5)
		PG_RETURN_FLOAT8(-t_lower_half_quantile(1.0 - p, df));
	PG_RETURN_FLOAT8(t_lower_half_quantile(p, df));
}
