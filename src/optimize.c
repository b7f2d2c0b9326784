/*-------------------------------------------------------------------------
 *
 * optimize.c
 *	  BFGS with a backtracking (Armijo) line search for the maximum
 *	  likelihood fits of the BTYD models.
 *
 * The models are fitted on log-parameters, so the search space is all of
 * R^n; a box |theta_i| <= bound (parameters between e^-bound and e^bound)
 * keeps a search that runs off towards an unidentified boundary from
 * overflowing: points outside evaluate to +Infinity and the line search
 * backs off.  The caller gets the best finite point seen and whether a
 * stopping rule (small gradient, or no more progress) was met at a point
 * with every |theta_i| <= limit: beyond it (parameters outside 1e-8 to
 * 1e8 with the defaults) the likelihood is flat because its maximum lies at
 * a limit the data cannot identify, and that is not convergence.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <math.h>

#include "optimize.h"

/* Stopping rules; OptimizeDefaults() fills in the usual ones. */
typedef struct OptimizeOptions
{
	int			max_iterations; /* BFGS iterations, line searches included */
	double		gradient_tolerance; /* converged when max |grad| is below */
	double		relative_tolerance; /* ... or f and theta stop changing */
	double		max_step;		/* longest step in any coordinate */
	double		bound;			/* |theta_i| <= bound, else +Infinity */
	double		limit;			/* converged only if every |theta_i| <= limit */
} OptimizeOptions;

/* Armijo sufficient decrease constant and the line search's step limit */
#define ARMIJO_C1			1e-4
#define MAX_BACKTRACKS		60

/* Defaults for the BTYD fits, whose objectives are means per customer. */
static void
OptimizeDefaults(OptimizeOptions *options)
{
	options->max_iterations = 500;
	options->gradient_tolerance = 1e-9;
	options->relative_tolerance = 1e-14;
	options->max_step = 4.0;
	options->bound = 30.0;
	options->limit = log(1e8);
}

/* max |v_i| */
static double
NormInf(const double *v, int n)
{
	double		m = 0.0;
	int			i;

	for (i = 0; i < n; i++)
		m = Max(m, fabs(v[i]));
	return m;
}

/* The objective, +Infinity outside the box or when it is not finite. */
static double
Evaluate(OptimizeObjective objective, void *arg, int n, const double *theta,
		 double *grad, double bound)
{
	double		f;
	int			i;

	for (i = 0; i < n; i++)
		if (!(fabs(theta[i]) <= bound))
			return INFINITY;
	f = objective(theta, grad, arg);
	if (isnan(f) || isinf(f))
		return INFINITY;
	for (i = 0; i < n; i++)
		if (isnan(grad[i]) || isinf(grad[i]))
			return INFINITY;
	return f;
}

/* H = I */
static void
SetIdentity(double h[OPTIMIZE_MAX_DIM][OPTIMIZE_MAX_DIM], int n)
{
	int			i;
	int			j;

	for (i = 0; i < n; i++)
		for (j = 0; j < n; j++)
			h[i][j] = (i == j) ? 1.0 : 0.0;
}

/*
 * Minimise objective from theta (updated in place to the best point).
 * The inverse Hessian estimate is reset to the identity whenever it stops
 * giving a descent direction or its step fails the line search, which is
 * the usual restart; the search gives up only when a plain gradient step
 * fails too.
 */
static void
OptimizeBfgs(OptimizeObjective objective, void *arg, int n, double *theta,
			 const OptimizeOptions *options, OptimizeResult *result)
{
	double		h[OPTIMIZE_MAX_DIM][OPTIMIZE_MAX_DIM];
	double		g[OPTIMIZE_MAX_DIM];
	double		g_new[OPTIMIZE_MAX_DIM];
	double		d[OPTIMIZE_MAX_DIM];
	double		trial[OPTIMIZE_MAX_DIM];
	double		s[OPTIMIZE_MAX_DIM];
	double		y[OPTIMIZE_MAX_DIM];
	double		hy[OPTIMIZE_MAX_DIM];
	double		f;
	bool		identity = true;
	int			i;
	int			j;

	Assert(n > 0 && n <= OPTIMIZE_MAX_DIM);
	result->iterations = 0;
	result->converged = false;
	f = Evaluate(objective, arg, n, theta, g, options->bound);
	result->f = f;
	result->finite = !isinf(f);
	if (!result->finite)
		return;
	SetIdentity(h, n);

	while (result->iterations < options->max_iterations)
	{
		double		slope = 0.0;
		double		step = 1.0;
		double		f_new = INFINITY;
		double		dnorm;
		double		sy = 0.0;
		double		yhy = 0.0;
		int			k;

		if (NormInf(g, n) < options->gradient_tolerance)
		{
			result->converged = true;
			break;
		}
		result->iterations++;

		/* direction d = -H g; a non-descent direction restarts H */
		for (i = 0; i < n; i++)
		{
			d[i] = 0.0;
			for (j = 0; j < n; j++)
				d[i] -= h[i][j] * g[j];
			slope += d[i] * g[i];
		}
		if (!(slope < 0))
		{
			SetIdentity(h, n);
			identity = true;
			slope = 0.0;
			for (i = 0; i < n; i++)
			{
				d[i] = -g[i];
				slope -= g[i] * g[i];
			}
		}
		/* a first step along a huge gradient would leave the region */
		dnorm = NormInf(d, n);
		if (dnorm > options->max_step)
		{
			for (i = 0; i < n; i++)
				d[i] *= options->max_step / dnorm;
			slope *= options->max_step / dnorm;
		}

		/* backtracking line search for sufficient decrease */
		for (k = 0; k < MAX_BACKTRACKS; k++)
		{
			for (i = 0; i < n; i++)
				trial[i] = theta[i] + step * d[i];
			f_new = Evaluate(objective, arg, n, trial, g_new, options->bound);
			if (f_new <= f + ARMIJO_C1 * step * slope)
				break;
			step *= 0.5;
		}
		if (k == MAX_BACKTRACKS)
		{
			if (identity)
			{
				/*
				 * Not even a tiny gradient step decreases f: we are at a
				 * minimum up to rounding, or stuck against the box.
				 */
				result->converged = NormInf(g, n) < sqrt(options->gradient_tolerance);
				break;
			}
			SetIdentity(h, n);
			identity = true;
			continue;
		}

		for (i = 0; i < n; i++)
		{
			s[i] = trial[i] - theta[i];
			y[i] = g_new[i] - g[i];
			sy += s[i] * y[i];
		}

		/* no more progress in f nor theta: converged, even if g is not tiny */
		if (fabs(f - f_new) <= options->relative_tolerance * (1.0 + fabs(f)) &&
			NormInf(s, n) <= sqrt(options->relative_tolerance))
		{
			memcpy(theta, trial, n * sizeof(double));
			memcpy(g, g_new, n * sizeof(double));
			f = f_new;
			result->converged = true;
			break;
		}

		memcpy(theta, trial, n * sizeof(double));
		memcpy(g, g_new, n * sizeof(double));
		f = f_new;

		/*
		 * BFGS update of the inverse Hessian, skipped when the curvature
		 * condition s'y > 0 fails (it would lose positive definiteness).
		 * The first update scales the identity by s'y / y'y, so that the
		 * first quasi-Newton step already has the right length.
		 */
		for (i = 0; i < n; i++)
		{
			hy[i] = 0.0;
			for (j = 0; j < n; j++)
				hy[i] += h[i][j] * y[j];
		}
		for (i = 0; i < n; i++)
			yhy += y[i] * hy[i];
		if (sy > 1e-12 * sqrt(yhy > 0 ? yhy : 0) * NormInf(s, n) && sy > 0)
		{
			if (identity)
			{
				double		scale = sy / yhy;

				for (i = 0; i < n; i++)
				{
					for (j = 0; j < n; j++)
						h[i][j] *= scale;
					hy[i] *= scale;
				}
				yhy *= scale;
			}
			for (i = 0; i < n; i++)
				for (j = 0; j < n; j++)
					h[i][j] += ((sy + yhy) * s[i] * s[j]) / (sy * sy) -
						(hy[i] * s[j] + s[i] * hy[j]) / sy;
			identity = false;
		}
	}
	result->f = f;

	/*
	 * A point far out is where the search ran off towards a limit (a
	 * parameter going to 0 or infinity, where the likelihood flattens out),
	 * not an interior maximum, whatever the stopping rule said.
	 */
	for (i = 0; i < n; i++)
		if (fabs(theta[i]) > options->limit)
			result->converged = false;
}

/*
 * BFGS with the default options from each of nstarts starting points
 * (starts[s * n .. s * n + n)) in turn, until one converges.  theta and
 * result get the run that converged, or else the best finite one;
 * result->finite is false if no start had a finite objective.
 */
void
OptimizeFromStarts(OptimizeObjective objective, void *arg, int n,
				   int nstarts, const double *starts, double *theta,
				   OptimizeResult *result)
{
	OptimizeOptions options;
	int			s;

	OptimizeDefaults(&options);
	result->f = INFINITY;
	result->iterations = 0;
	result->converged = false;
	result->finite = false;
	for (s = 0; s < nstarts && !result->converged; s++)
	{
		double		trial[OPTIMIZE_MAX_DIM];
		OptimizeResult run;

		memcpy(trial, starts + s * n, n * sizeof(double));
		OptimizeBfgs(objective, arg, n, trial, &options, &run);
		if (run.finite && (run.converged || run.f < result->f))
		{
			*result = run;
			memcpy(theta, trial, n * sizeof(double));
		}
	}
}
