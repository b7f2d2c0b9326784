/*-------------------------------------------------------------------------
 *
 * expected_purchases.h
 *	  The quadrature grid over the posterior dropout probability of BG/NBD
 *	  and MBG/NBD, built for the expected purchases and shared by P(alive)
 *	  at a future time.
 *
 *-------------------------------------------------------------------------
 */
#ifndef EXPECTED_PURCHASES_H
#define EXPECTED_PURCHASES_H

#include "postgres.h"

/*
 * Nodes and weights for E_p[f(p)], p ~ Beta(a, beta); see
 * expected_purchases.c.  The caller pfrees p and w.
 */
typedef struct BgnbdPosteriorGrid
{
	int			n;
	double	   *p;				/* dropout probabilities */
	double	   *w;				/* weights, summing to 1 */
} BgnbdPosteriorGrid;

extern void BgnbdPosteriorGridFor(double a, double beta, double s, double kmax,
								  BgnbdPosteriorGrid *grid);
extern double BgnbdPosteriorSurvival(const BgnbdPosteriorGrid *grid, double s,
									 double k);

#endif							/* EXPECTED_PURCHASES_H */
