/*-------------------------------------------------------------------------
 *
 * optimize.h
 *	  BFGS minimisation of a smooth objective with an analytic gradient.
 *
 *-------------------------------------------------------------------------
 */
#ifndef OPTIMIZE_H
#define OPTIMIZE_H

#include "postgres.h"

/* The models here have at most four parameters. */
#define OPTIMIZE_MAX_DIM	8

/*
 * Objective to minimise: returns f(theta) and stores its gradient in grad.
 * A point outside the domain returns +Infinity (or NaN), which the line
 * search treats as "too far"; grad is then ignored.
 */
typedef double (*OptimizeObjective) (const double *theta, double *grad, void *arg);

typedef struct OptimizeResult
{
	double		f;				/* objective at the returned theta */
	int			iterations;		/* BFGS iterations done */
	bool		converged;		/* a stopping rule was met, not a limit */
	bool		finite;			/* the start point had a finite objective */
} OptimizeResult;

extern void OptimizeFromStarts(OptimizeObjective objective, void *arg, int n,
							   int nstarts, const double *starts,
							   double *theta, OptimizeResult *result);

#endif							/* OPTIMIZE_H */
