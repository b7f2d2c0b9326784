/*-------------------------------------------------------------------------
 *
 * control_group.c
 *	  The rule that draws holdout groups (DEFINITIONS.md, "Campaigns"): a key falls
 *	  in a share of all keys by a seeded hash, with no random state to keep.
 *
 * The global control group and every campaign's control group use it.  The
 * low 52 bits of hashint8extended(key, seed) are compared with the share
 * times 2^52: 52 bits are what a double holds exactly, so share * 2^52 is
 * the share to full precision.  hashint8extended mixes 32-bit words
 * arithmetically, so the draw does not depend on the platform's byte order.
 * Written in C because launches test it on every member of an audience.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "fmgr.h"
#include "utils/fmgrprotos.h"

PG_FUNCTION_INFO_V1(hash_in_share);

/* 2^52 - 1: the bits of the hash that are compared. */
#define HASH_SHARE_MASK	UINT64CONST(0xFFFFFFFFFFFFF)

/*
 * hash_in_share(key bigint, seed bigint, threshold bigint) -> boolean: is
 * the key among the threshold / 2^52 share of keys that this seed selects?
 * Any threshold has an answer: none at 0 or below, all from 2^52 up.
 */
Datum
hash_in_share(PG_FUNCTION_ARGS)
{
	uint64		hash = DatumGetUInt64(DirectFunctionCall2(hashint8extended,
														  PG_GETARG_DATUM(0),
														  PG_GETARG_DATUM(1)));
	int64		threshold = PG_GETARG_INT64(2);

	PG_RETURN_BOOL((int64) (hash & HASH_SHARE_MASK) < threshold);
}
