/*-------------------------------------------------------------------------
 *
 * bytea_state.h
 *	  What the self-describing bytea aggregate states share (customer_facts,
 *	  the model fits' grouped points, the satisfaction aggregates).
 *
 * A state is a plain bytea rather than internal so that it can travel
 * between parallel workers and Citus nodes.  Every state begins with the
 * varlena header, a 16-bit magic number (which also catches a state
 * written in the other byte order) and a 16-bit version (or kind); each
 * state keeps its own magic, version and layout after that.  A state that
 * comes from outside is validated before use and refused with 22P03.
 *
 *-------------------------------------------------------------------------
 */
#ifndef BYTEA_STATE_H
#define BYTEA_STATE_H

#include "postgres.h"

#include "fmgr.h"

/* The fields every state starts with, at the same offsets. */
typedef struct ByteaStateHeader
{
	int32		vl_len_;		/* varlena header (do not touch directly) */
	uint16		magic;			/* the state's own magic number */
	uint16		version;		/* its layout version, or its kind */
} ByteaStateHeader;

/* version argument of ByteaStateHeaderProblem: leave the field unchecked */
#define BYTEA_STATE_ANY_VERSION	(-1)

extern struct varlena *ByteaStateArg(FunctionCallInfo fcinfo, int argno, bool *copied);
extern void *ByteaStateWritable(void *state, bool modifiable);
extern void *NewByteaState(Size size, uint16 magic, uint16 version);
extern void *CopyGrowableState(const void *src, Size used_size, Size new_size);
extern const char *ByteaStateHeaderProblem(const void *state, Size size,
										   Size header_size, uint16 magic,
										   int version);
extern const char *ByteaStateCapacityProblem(int32 capacity, Size size,
											 Size header_size, Size item_size,
											 int32 max_items);
extern void ReportInvalidByteaState(const char *aggregate, const char *problem,
									const char *producers);

#endif							/* BYTEA_STATE_H */
