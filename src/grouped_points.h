/*-------------------------------------------------------------------------
 *
 * grouped_points.h
 *	  The bytea aggregate state shared by the model fits: distinct input
 *	  tuples of doubles, each with the number of rows that had it.
 *
 *-------------------------------------------------------------------------
 */
#ifndef GROUPED_POINTS_H
#define GROUPED_POINTS_H

#include "postgres.h"

#include "fmgr.h"

/* Which aggregate a state belongs to; a state of one is rejected by another. */
typedef enum GroupedPointsKind
{
	GP_KIND_BGNBD = 1,			/* (x, t_x, T) */
	GP_KIND_GAMMA_GAMMA = 2,	/* (x, zbar) */
	GP_KIND_MBGNBD = 3,			/* (x, t_x, T) */
	GP_KIND_PARETO_NBD = 4		/* (x, t_x, T) */
} GroupedPointsKind;

#define GP_MAX_DIMS		3

/*
 * Largest x accepted by the models (CheckFrequency) and so in a point: a
 * count of repeat purchase periods.  Far above any real customer, low
 * enough that r + x and the models' series stay exact in double precision.
 * Defined here, under the models, because a received state's points are
 * checked against it.
 */
#define BTYD_MAX_FREQUENCY	1e9

/* One distinct tuple; unused coordinates are 0.  32 bytes, no padding. */
typedef struct GroupedPoint
{
	double		v[GP_MAX_DIMS];
	int64		count;			/* rows with this tuple, > 0 */
} GroupedPoint;

/*
 * The state: a complete varlena (nodeAgg copies VARSIZE bytes), spare
 * slots zeroed so that its text form is deterministic.  points[0, nsorted)
 * are strictly increasing (lexicographically) and so distinct; the tail
 * points[nsorted, npoints) holds rows appended since, in arrival order.
 * The tail is sorted and merged into the prefix whenever the state is full,
 * so appending stays O(1) amortised and the state about the size of the
 * distinct tuples.
 */
typedef struct GroupedPoints
{
	int32		vl_len_;		/* varlena header (do not touch directly) */
	uint16		magic;			/* GP_STATE_MAGIC; also catches byte order */
	uint16		version;		/* GP_STATE_VERSION of the layout */
	uint16		kind;			/* GroupedPointsKind */
	uint16		ndims;			/* coordinates used in each point */
	int32		npoints;		/* points stored */
	int32		capacity;		/* slots in points[]; fixes VARSIZE */
	int32		nsorted;		/* length of the sorted, distinct prefix */
	int64		rows;			/* rows stored: sum of the counts */
	int64		skipped;		/* rows accepted but not stored (see kinds) */
	GroupedPoint points[FLEXIBLE_ARRAY_MEMBER];
} GroupedPoints;

extern GroupedPoints *GroupedPointsForUpdate(FunctionCallInfo fcinfo, GroupedPointsKind kind);
extern GroupedPoints *GroupedPointsAdd(GroupedPoints *state, const double *v);
extern GroupedPoints *GroupedPointsArg(FunctionCallInfo fcinfo, int argno,
									   GroupedPointsKind kind);
extern Datum GroupedPointsCombine(FunctionCallInfo fcinfo, GroupedPointsKind kind);
extern GroupedPoint *GroupedPointsDistinct(const GroupedPoints *state, int32 *npoints);

#endif							/* GROUPED_POINTS_H */
