/*-------------------------------------------------------------------------
 *
 * bytea_state.c
 *	  Reading, checking, creating and growing the self-describing bytea
 *	  aggregate states (see bytea_state.h).
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "fmgr.h"

#include "bytea_state.h"
#include "retail_crm.h"

StaticAssertDecl(sizeof(ByteaStateHeader) == 8,
				 "bytea state header must have no padding");

/*
 * Argument argno, a state, detoasted and 8-byte aligned so that its int64
 * and double fields can be read in place.  A state stored inside a tuple (a
 * partial state coming through Gather) is only 4-byte aligned, like every
 * bytea, and is then copied.  *copied tells whether the result is a private
 * copy the caller may modify.
 */
struct varlena *
ByteaStateArg(FunctionCallInfo fcinfo, int argno, bool *copied)
{
	Datum		datum = PG_GETARG_DATUM(argno);
	struct varlena *raw = (struct varlena *) DatumGetPointer(datum);
	struct varlena *detoasted = PG_DETOAST_DATUM(datum);

	*copied = (detoasted != raw);
	if (!PointerIsAligned(detoasted, int64))
	{
		Size		size = VARSIZE(detoasted);
		struct varlena *aligned = palloc(size);

		memcpy(aligned, detoasted, size);
		detoasted = aligned;
		*copied = true;
	}
	return detoasted;
}

/*
 * state itself when the caller may modify it (a private copy, or our own
 * transition value inside an aggregate), else a copy in
 * CurrentMemoryContext: never scribble on an input.
 */
void *
ByteaStateWritable(void *state, bool modifiable)
{
	Size		size;
	void	   *copy;

	if (modifiable)
		return state;
	size = VARSIZE(state);
	copy = palloc(size);
	memcpy(copy, state, size);
	return copy;
}

/* A new zeroed state of size bytes, in CurrentMemoryContext. */
void *
NewByteaState(Size size, uint16 magic, uint16 version)
{
	ByteaStateHeader *state = palloc0(size);

	Assert(size >= sizeof(ByteaStateHeader));
	SET_VARSIZE(state, size);
	state->magic = magic;
	state->version = version;
	return state;
}

/*
 * A copy of a growable state of new_size bytes: the used_size bytes of src
 * after the varlena header (its fixed header and used elements) are copied,
 * the rest stays zero.  The caller sets the new capacity field.
 */
void *
CopyGrowableState(const void *src, Size used_size, Size new_size)
{
	char	   *copy = palloc0(new_size);

	Assert(used_size <= new_size);
	SET_VARSIZE(copy, new_size);
	memcpy(copy + VARHDRSZ, (const char *) src + VARHDRSZ, used_size - VARHDRSZ);
	return copy;
}

/*
 * What is wrong with the start of a state of size bytes whose fixed header
 * is header_size bytes, or NULL; version BYTEA_STATE_ANY_VERSION leaves
 * that field to the caller (a kind).
 */
const char *
ByteaStateHeaderProblem(const void *state, Size size, Size header_size,
						uint16 magic, int version)
{
	const ByteaStateHeader *header = (const ByteaStateHeader *) state;

	Assert(header_size >= sizeof(ByteaStateHeader));
	if (size < header_size)
		return "The state is shorter than its fixed header.";
	if (header->magic != magic)
		return "The state has a wrong magic number.";
	if (version != BYTEA_STATE_ANY_VERSION && header->version != version)
		return "The state has an unsupported version.";
	return NULL;
}

/*
 * Whether the size of a growable state is that of its capacity field:
 * header_size bytes and capacity items of item_size, at most max_items.
 */
const char *
ByteaStateCapacityProblem(int32 capacity, Size size, Size header_size,
						  Size item_size, int32 max_items)
{
	if (capacity < 0 || capacity > max_items ||
		size != header_size + (Size) capacity * item_size)
		return "The state length does not match its capacity.";
	return NULL;
}

/*
 * Raise 22P03 for a state that did not come from the support functions
 * that "producers" names.
 */
void
ReportInvalidByteaState(const char *aggregate, const char *problem,
						const char *producers)
{
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_BINARY_REPRESENTATION),
			 errmsg("invalid %s state", aggregate),
			 errdetail("%s", problem),
			 errhint("Pass only states produced by %s of the same retail_crm version on a machine of the same byte order.",
					 producers)));
}
