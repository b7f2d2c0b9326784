/*-------------------------------------------------------------------------
 *
 * customer_facts.c
 *	  The crm.customer_facts aggregate: one customer's transactions turned
 *	  into RFM and BTYD facts in a single pass.
 *
 * The state is a plain bytea, not internal: Citus pushes an aggregate down
 * to its workers only when the state type is not a pseudo-type, and then
 * ships the partial state between nodes through bytea's text in/out.  The
 * state is therefore self-describing (magic, version, explicit capacity) and
 * every support function validates it before trusting it.  Fields are stored
 * in the byte order of the machine that wrote them; a state read on a
 * machine of the other byte order fails the magic check instead of being
 * misread.
 *
 * Time is counted in days back from the analysis date as_of: the day index
 * of a timestamp ts is floor((as_of - ts) / 24 h).  Days are 24-hour blocks
 * ending at as_of, not calendar days, so no result depends on the session
 * TimeZone.  A purchase day is a distinct day index with at least one row of
 * positive amount.  The state keeps every distinct purchase day, which makes
 * the BTYD repeat frequency and the gaps between purchase days exact.
 *
 * Money is summed exactly as int64 in units of 1/10000; amounts with more
 * than four decimals are rounded half away from zero to four decimals.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <limits.h>

#include "access/htup_details.h"
#include "common/int.h"
#include "fmgr.h"
#include "funcapi.h"
#include "utils/builtins.h"
#include "utils/memutils.h"
#include "utils/numeric.h"
#include "utils/timestamp.h"

#include "bytea_state.h"
#include "retail_crm.h"

/*
 * Aggregate state.  It is a complete varlena: nodeAgg copies a new state into
 * the aggregate memory context with datumCopy(), which copies VARSIZE bytes,
 * so the spare day slots (capacity - ndays) are part of the varlena and are
 * kept zeroed so that the text form of a state is deterministic.
 *
 * The fixed part is 100 bytes with no padding.
 */
typedef struct CustomerFactsState
{
	int32		vl_len_;		/* varlena header (do not touch directly) */
	uint16		magic;			/* CF_STATE_MAGIC; also catches byte order */
	uint16		version;		/* CF_STATE_VERSION of the layout */
	int32		ndays;			/* distinct purchase days stored in days[] */
	int32		capacity;		/* slots in days[]; fixes VARSIZE */
	TimestampTz as_of;			/* analysis date; meaningless while rows = 0 */
	int64		rows;			/* rows accumulated, future ones included */
	int64		orders;			/* rows with amount > 0 and not in the future */
	int64		returns;		/* rows with amount < 0 and not in the future */
	int64		future_rows;	/* rows with occurred_at > as_of */
	int64		net_spend;		/* sum of all amounts, 1/10000 units */
	int64		purchase_spend; /* sum of positive amounts, 1/10000 units */
	int64		first_day_spend;	/* purchase spend on the first purchase
									 * day (days[0]), 1/10000 units */
	TimestampTz first_purchase_at;	/* earliest purchase; 0 if none */
	TimestampTz last_purchase_at;	/* latest purchase; 0 if none */
	int32		unsorted_days;	/* days appended after the sorted ones */

	/*
	 * days[0 .. ndays) are distinct purchase day indexes in chronological
	 * order, i.e. strictly decreasing: the usual time-ordered input appends.
	 * A day that does not extend them goes to days[ndays .. ndays +
	 * unsorted_days), in arrival order and possibly repeated, until
	 * SortInUnsortedDays merges them in once they are as many as the sorted
	 * ones: any input order then costs O(n log n), where inserting each
	 * earlier day in place cost O(n^2) for newest-first input.  Only the
	 * sorted form is read (final, combine): unsorted_days is 0 there.
	 */
	int32		days[FLEXIBLE_ARRAY_MEMBER];
} CustomerFactsState;

#define CF_STATE_MAGIC		0x4346	/* "CF" */
#define CF_STATE_VERSION	2
#define CF_HEADER_SIZE		offsetof(CustomerFactsState, days)
#define CF_STATE_SIZE(cap)	(CF_HEADER_SIZE + (Size) (cap) * sizeof(int32))
#define CF_USED_DAYS(state)	((state)->ndays + (state)->unsorted_days)
#define CF_INITIAL_DAYS		8
#define CF_MAX_DAYS			((int32) ((MaxAllocSize - CF_HEADER_SIZE) / sizeof(int32)))

/* Money is kept in units of 1/CF_UNITS_PER_CURRENCY; 4 decimals. */
#define CF_UNITS_PER_CURRENCY	10000
#define CF_UNIT_DECIMALS		4

/* Columns of the crm.customer_facts composite type, found by name. */
typedef enum FactsColumn
{
	CF_COL_FIRST_PURCHASE_AT,
	CF_COL_LAST_PURCHASE_AT,
	CF_COL_ORDERS,
	CF_COL_RETURNS,
	CF_COL_NET_SPEND,
	CF_COL_RECENCY_DAYS,
	CF_COL_TENURE_DAYS,
	CF_COL_PURCHASE_DAYS,
	CF_COL_BTYD_FREQUENCY,
	CF_COL_BTYD_RECENCY,
	CF_COL_BTYD_T,
	CF_COL_AVG_REPEAT_SPEND,
	CF_COL_LAST_GAP_DAYS,
	CF_COL_MEDIAN_GAP_DAYS,
	CF_COL_FUTURE_ROWS,
	CF_NATTS
} FactsColumn;

static const char *const facts_column_names[CF_NATTS] = {
	"first_purchase_at", "last_purchase_at", "orders", "returns", "net_spend",
	"recency_days", "tenure_days", "purchase_days", "btyd_frequency",
	"btyd_recency", "btyd_t", "avg_repeat_spend", "last_gap_days",
	"median_gap_days", "future_rows"
};

/* The result row type and where each FactsColumn is in it. */
typedef struct FactsRowType
{
	TupleDesc	tupdesc;
	int			index[CF_NATTS];	/* 0-based attribute of each column */
} FactsRowType;

StaticAssertDecl(offsetof(CustomerFactsState, days) == 100,
				 "customer_facts state header must have no padding");
StaticAssertDecl(offsetof(CustomerFactsState, magic) == offsetof(ByteaStateHeader, magic) &&
				 offsetof(CustomerFactsState, version) == offsetof(ByteaStateHeader, version),
				 "customer_facts state must start with a bytea state header");

/*
 * The numeric on-disk format, read directly so that converting an amount
 * needs no palloc and no numeric arithmetic per row (a later benchmark feeds
 * 10M rows).  numeric.c keeps these definitions private, but they describe
 * the on-disk format, unchanged since PostgreSQL 9.1 (pg_upgrade relies on
 * that), and an assert-enabled build cross-checks every conversion against
 * numeric arithmetic.  Digits are base NBASE = 10000, which is exactly our
 * money unit: digit i weighs NBASE^(weight - i).
 */
#define CF_NBASE				10000
#define CF_NUMERIC_SIGN_MASK	0xC000
#define CF_NUMERIC_NEG			0x4000
#define CF_NUMERIC_SPECIAL		0xC000
#define CF_NUMERIC_NAN			0xC000
#define CF_NUMERIC_PINF			0xD000
#define CF_NUMERIC_NINF			0xF000
#define CF_NUMERIC_SHORT_FLAG	0x8000
#define CF_NUMERIC_SHORT_SIGN	0x2000
#define CF_NUMERIC_SHORT_WSIGN	0x0040
#define CF_NUMERIC_SHORT_WMASK	0x003F

static const char *CustomerFactsStateProblem(const CustomerFactsState *state,
											 Size size, bool full);

/*
 * Full invariant check of a state we built ourselves; a failure is a bug in
 * this file, not bad input, hence elog.
 */
static inline void
AssertCheckCustomerFactsState(const CustomerFactsState *state)
{
#ifdef USE_ASSERT_CHECKING
	const char *problem = CustomerFactsStateProblem(state, VARSIZE(state), true);

	if (problem != NULL)
		elog(ERROR, "customer_facts state invariant violated: %s", problem);
#endif
}

/* Reject a NULL argument of the (non-strict) transition function. */
static inline void
CheckArgNotNull(FunctionCallInfo fcinfo, int argno, const char *what)
{
	if (PG_ARGISNULL(argno))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("%s must not be NULL", what),
				 errhint("Filter out rows with a NULL %s before calling customer_facts.", what)));
}

/* Reject -infinity and infinity: they have no day index. */
static inline void
CheckFiniteTimestamp(TimestampTz ts, const char *what)
{
	if (TIMESTAMP_NOT_FINITE(ts))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s must be a finite timestamp, not %s",
						what, timestamptz_to_str(ts)),
				 errhint("Filter out rows with an infinite %s before calling customer_facts.", what)));
}

/* Every row of a group, and every partial state, must share one as_of. */
static inline void
CheckSameAsOf(TimestampTz expected, TimestampTz actual)
{
	if (expected != actual)
	{
		/* timestamptz_to_str() returns a static buffer: copy the first one */
		char	   *expected_str = pstrdup(timestamptz_to_str(expected));

		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("as_of must be the same for every row of a group"),
				 errdetail("The group started with as_of %s but got %s.",
						   expected_str, timestamptz_to_str(actual)),
				 errhint("Pass one analysis date, such as a constant or a query parameter, as the as_of argument.")));
	}
}

/* Overflow of a sum of money in 1/10000 units. */
static inline void
CheckSpendAdd(int64 a, int64 b, int64 *result)
{
	if (unlikely(pg_add_s64_overflow(a, b, result)))
		ereport(ERROR,
				(errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE),
				 errmsg("customer_facts sum of amounts is out of range"),
				 errdetail("Amounts are summed exactly in units of 0.0001, and a sum must lie between -922337203685477.5808 and 922337203685477.5807."),
				 errhint("Group the rows more finely, for example by customer and year.")));
}

/* Overflow of a row counter. */
static inline void
CheckCountAdd(int64 a, int64 b, int64 *result)
{
	if (unlikely(pg_add_s64_overflow(a, b, result)))
		ereport(ERROR,
				(errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE),
				 errmsg("customer_facts row count is out of range"),
				 errhint("Group the rows more finely, for example by customer and year.")));
}

/*
 * Validate a state that came from outside (an argument) and raise 22P03
 * if it is malformed.
 */
static inline void
CheckCustomerFactsState(const CustomerFactsState *state, Size size, bool full)
{
	const char *problem = CustomerFactsStateProblem(state, size, full);

	if (problem != NULL)
		ReportInvalidByteaState("customer_facts", problem,
								"customer_facts_accum or customer_facts_combine");
}

/*
 * Day index of ts: whole 24-hour blocks from ts back to as_of.  The caller
 * guarantees ts <= as_of, both finite, so the unsigned difference is exact
 * even when the signed one would overflow, and the quotient (at most about
 * 1.1e8 days across the whole timestamp range) fits in int32.
 */
static inline int32
DayIndex(TimestampTz as_of, TimestampTz ts)
{
	uint64		diff = (uint64) as_of - (uint64) ts;

	return (int32) (diff / (uint64) USECS_PER_DAY);
}

/*
 * Describe what is wrong with a state, or return NULL.  The cheap checks
 * (size, magic, counts within bounds) are all that memory safety needs and
 * run on every row; "full" adds the O(ndays) cross-field checks.
 */
static const char *
CustomerFactsStateProblem(const CustomerFactsState *state, Size size, bool full)
{
	int64		counted;
	int32		i;
	const char *problem;

	problem = ByteaStateHeaderProblem(state, size, CF_HEADER_SIZE,
									  CF_STATE_MAGIC, CF_STATE_VERSION);
	if (problem == NULL)
		problem = ByteaStateCapacityProblem(state->capacity, size, CF_HEADER_SIZE,
											sizeof(int32), CF_MAX_DAYS);
	if (problem != NULL)
		return problem;
	if (state->ndays < 0 || state->unsorted_days < 0 ||
		(int64) state->ndays + state->unsorted_days > state->capacity)
		return "The state holds more days than its capacity.";
	if (state->rows < 0 || state->orders < 0 || state->returns < 0 ||
		state->future_rows < 0)
		return "The state has a negative counter.";
	if (state->rows > 0 && TIMESTAMP_NOT_FINITE(state->as_of))
		return "The state has an infinite as_of.";
	if (!full)
		return NULL;

	if (pg_add_s64_overflow(state->orders, state->returns, &counted) ||
		pg_add_s64_overflow(counted, state->future_rows, &counted) ||
		counted > state->rows)
		return "The state counts more orders, returns and future rows than rows.";
	if ((state->orders == 0) != (state->ndays == 0) ||
		CF_USED_DAYS(state) > state->orders)
		return "The state's purchase days do not match its order count.";
	if (state->rows == 0 && state->net_spend != 0)
		return "An empty state has a nonzero spend.";
	if (state->returns == 0 && state->net_spend != state->purchase_spend)
		return "The state's net spend differs from its purchase spend without returns.";
	if (state->net_spend > state->purchase_spend)
		return "The state's net spend exceeds its purchase spend.";
	if (state->purchase_spend < 0 || state->first_day_spend < 0 ||
		state->first_day_spend > state->purchase_spend)
		return "The state's purchase spend is inconsistent.";

	if (state->ndays == 0)
	{
		if (state->purchase_spend != 0 || state->first_purchase_at != 0 ||
			state->last_purchase_at != 0)
			return "A state without purchases has purchase data.";
	}
	else
	{
		int32		first_day = state->days[0];
		int32		last_day = state->days[state->ndays - 1];

		if (TIMESTAMP_NOT_FINITE(state->first_purchase_at) ||
			TIMESTAMP_NOT_FINITE(state->last_purchase_at) ||
			state->first_purchase_at > state->last_purchase_at ||
			state->last_purchase_at > state->as_of)
			return "The state's purchase timestamps are out of order.";

		for (i = 1; i < state->ndays; i++)
		{
			if (state->days[i - 1] <= state->days[i])
				return "The state's purchase days are not strictly decreasing.";
		}
		for (i = state->ndays; i < CF_USED_DAYS(state); i++)
		{
			first_day = Max(first_day, state->days[i]);
			last_day = Min(last_day, state->days[i]);
		}
		if (last_day < 0)
			return "The state has a negative day index.";
		if (DayIndex(state->as_of, state->first_purchase_at) != first_day ||
			DayIndex(state->as_of, state->last_purchase_at) != last_day)
			return "The state's purchase days do not match its purchase timestamps.";
	}
	for (i = CF_USED_DAYS(state); i < state->capacity; i++)
	{
		if (state->days[i] != 0)
			return "The state's spare day slots are not zeroed.";
	}
	return NULL;
}

/* A new, empty state with room for capacity days, in CurrentMemoryContext. */
static CustomerFactsState *
NewCustomerFactsState(int32 capacity)
{
	CustomerFactsState *state = NewByteaState(CF_STATE_SIZE(capacity),
											  CF_STATE_MAGIC, CF_STATE_VERSION);

	state->capacity = capacity;
	return state;
}

/* A copy of src with room for capacity (>= its used slots) days. */
static CustomerFactsState *
CopyCustomerFactsState(const CustomerFactsState *src, int32 capacity)
{
	CustomerFactsState *state;

	Assert(capacity >= CF_USED_DAYS(src));
	state = CopyGrowableState(src, CF_STATE_SIZE(CF_USED_DAYS(src)), CF_STATE_SIZE(capacity));
	state->capacity = capacity;
	return state;
}

/*
 * Capacity for at least "needed" days: double the current one so that a
 * growing state is copied O(log n) times, within the palloc limit.
 */
static int32
GrowCapacity(int32 current, int64 needed)
{
	if (needed > CF_MAX_DAYS)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("customer_facts cannot hold more than %d purchase days",
						CF_MAX_DAYS)));
	return DoubledCapacity(current, needed, CF_INITIAL_DAYS, CF_MAX_DAYS);
}

/*
 * Fetch state argument argno, detoasted and 8-byte aligned, and validate it.
 * *copied tells whether the result is a private copy we may modify.
 */
static CustomerFactsState *
GetStateArg(FunctionCallInfo fcinfo, int argno, bool full, bool *copied)
{
	CustomerFactsState *state = (CustomerFactsState *) ByteaStateArg(fcinfo, argno, copied);

	CheckCustomerFactsState(state, VARSIZE(state), full);
	return state;
}

/*
 * Convert a numeric amount, possibly with a 1-byte varlena header, to units
 * of 1/10000 rounded half away from zero.  Sets *sign to the sign of the
 * exact amount (an amount of 0.00001 is a purchase that adds 0 units).
 * Raises an error for NaN, infinities and amounts out of the int64 range.
 */
static int64
AmountToUnits(Datum amount_datum, int *sign)
{
	struct varlena *amount = PG_DETOAST_DATUM_PACKED(amount_datum);
	const char *data = VARDATA_ANY(amount);
	Size		len = VARSIZE_ANY_EXHDR(amount);
	uint16		header;
	int			weight;
	bool		negative;
	Size		hdrsize;
	int			ndigits;
	int64		units = 0;	/* accumulated negated: INT64_MIN is reachable */
	bool		nonzero = false;
	bool		overflow = false;
	int			i;
	int			exponent;

	memcpy(&header, data, sizeof(uint16));
	if ((header & CF_NUMERIC_SIGN_MASK) == CF_NUMERIC_SPECIAL)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("amount must be a finite number, not %s",
						header == CF_NUMERIC_NAN ? "NaN" :
						header == CF_NUMERIC_PINF ? "Infinity" :
						header == CF_NUMERIC_NINF ? "-Infinity" : "a special value"),
				 errhint("Filter out rows with NaN or infinite amounts before calling customer_facts.")));

	if (header & CF_NUMERIC_SHORT_FLAG)
	{
		negative = (header & CF_NUMERIC_SHORT_SIGN) != 0;
		weight = (header & CF_NUMERIC_SHORT_WMASK);
		if (header & CF_NUMERIC_SHORT_WSIGN)
			weight |= ~CF_NUMERIC_SHORT_WMASK;
		hdrsize = sizeof(uint16);
	}
	else
	{
		int16		w;

		negative = (header & CF_NUMERIC_SIGN_MASK) == CF_NUMERIC_NEG;
		memcpy(&w, data + sizeof(uint16), sizeof(int16));
		weight = w;
		hdrsize = sizeof(uint16) + sizeof(int16);
	}
	ndigits = (len - hdrsize) / sizeof(int16);

	/*
	 * Digit i weighs NBASE^(weight - i) currency units, that is
	 * NBASE^(weight + 1 - i) money units.  Horner over the exponents from
	 * weight + 1 down to 0 (stripped trailing zero digits read as 0), then
	 * round on the next digit: a digit >= NBASE/2 means at least half a unit
	 * whatever follows, less means less than half.
	 */
	if (weight + 1 > 4)
		overflow = true;		/* >= NBASE^5 units exceeds int64 */
	for (exponent = weight + 1, i = 0; !overflow && exponent >= 0; exponent--, i++)
	{
		int16		digit = 0;

		if (i < ndigits)
			memcpy(&digit, data + hdrsize + i * sizeof(int16), sizeof(int16));
		nonzero |= (digit != 0);
		if (pg_mul_s64_overflow(units, CF_NBASE, &units) ||
			pg_sub_s64_overflow(units, digit, &units))
			overflow = true;
	}
	if (!overflow)
	{
		/* index of the first digit below 1/10000; negative when above */
		int			round_index = weight + 2;

		for (i = Max(round_index, 0); i < ndigits && !nonzero; i++)
		{
			int16		digit;

			memcpy(&digit, data + hdrsize + i * sizeof(int16), sizeof(int16));
			nonzero = (digit != 0);
		}
		if (round_index >= 0 && round_index < ndigits)
		{
			int16		digit;

			memcpy(&digit, data + hdrsize + round_index * sizeof(int16),
				   sizeof(int16));
			if (digit >= CF_NBASE / 2 && pg_sub_s64_overflow(units, 1, &units))
				overflow = true;
		}
	}
	if (!overflow && !negative)
	{
		if (units == PG_INT64_MIN)
			overflow = true;
		else
			units = -units;
	}
	if (overflow)
		ereport(ERROR,
				(errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE),
				 errmsg("amount %s is out of range for customer_facts",
						MessageExcerpt(DatumGetCString(DirectFunctionCall1(numeric_out, amount_datum)))),
				 errdetail("Amounts are summed exactly in units of 0.0001 and must lie between -922337203685477.5808 and 922337203685477.5807."),
				 errhint("Check the amount column for unit or data entry errors.")));

	*sign = !nonzero ? 0 : (negative ? -1 : 1);

#ifdef USE_ASSERT_CHECKING
	{
		/* the same conversion through numeric arithmetic must agree */
		bool		have_error = false;
		Numeric		scaled = numeric_mul_opt_error(DatumGetNumeric(amount_datum),
												   int64_to_numeric(CF_UNITS_PER_CURRENCY),
												   &have_error);

		Assert(!have_error);
		Assert(DatumGetInt64(DirectFunctionCall1(numeric_int8,
												 NumericGetDatum(scaled))) == units);
	}
#endif

	return units;
}

/* True if day is one of the sorted purchase days. */
static bool
HasPurchaseDay(const CustomerFactsState *state, int32 day)
{
	int32		lo = 0;
	int32		hi = state->ndays;

	while (lo < hi)
	{
		int32		mid = lo + (hi - lo) / 2;

		if (state->days[mid] == day)
			return true;
		if (state->days[mid] > day)
			lo = mid + 1;
		else
			hi = mid;
	}
	return false;
}

/* Number of distinct days in the union of two decreasing day arrays. */
static int64
CountUnionDays(const int32 *a, int32 na, const int32 *b, int32 nb)
{
	int32		i = 0;
	int32		j = 0;
	int64		count = 0;

	while (i < na && j < nb)
	{
		if (a[i] == b[j])
			i++, j++;
		else if (a[i] > b[j])
			i++;
		else
			j++;
		count++;
	}
	return count + (na - i) + (nb - j);
}

/*
 * Merge the decreasing array b into the decreasing array target[0..na),
 * whose room holds the union of "total" days.  Filling from the end never
 * overwrites an unread target day, so target may be merged in place.
 */
static void
MergeDaysInto(int32 *target, int32 na, const int32 *b, int32 nb, int64 total)
{
	int64		k = total - 1;
	int32		i = na - 1;
	int32		j = nb - 1;

	while (j >= 0)
	{
		if (i >= 0 && target[i] < b[j])
			target[k--] = target[i--];
		else if (i >= 0 && target[i] == b[j])
		{
			target[k--] = target[i--];
			j--;
		}
		else
			target[k--] = b[j--];
	}
	Assert(k == i);
}

/*
 * Merge the unsorted days into the sorted ones, dropping repeats, so that
 * unsorted_days becomes 0.  The state must be ours to modify.
 */
static void
SortInUnsortedDays(CustomerFactsState *state)
{
	int32	   *unsorted = state->days + state->ndays;
	int32		nunsorted = state->unsorted_days;
	int32	   *distinct;
	int32		ndistinct = 0;
	int64		total;
	int32		i;

	if (nunsorted == 0)
		return;
	sort_int32(unsorted, nunsorted);
	/* decreasing and distinct, set aside: the merge overwrites these slots */
	distinct = palloc(nunsorted * sizeof(int32));
	for (i = nunsorted - 1; i >= 0; i--)
	{
		if (ndistinct == 0 || unsorted[i] != distinct[ndistinct - 1])
			distinct[ndistinct++] = unsorted[i];
	}
	total = CountUnionDays(state->days, state->ndays, distinct, ndistinct);
	MergeDaysInto(state->days, state->ndays, distinct, ndistinct, total);
	pfree(distinct);
	/* the slots the repeats freed are spare again, and spares are zero */
	memset(state->days + total, 0,
		   ((int64) state->ndays + nunsorted - total) * sizeof(int32));
	state->ndays = (int32) total;
	state->unsorted_days = 0;
}

/*
 * The state with its unsorted days merged in: itself when we may modify it
 * (*ours), else a copy, which is then ours.
 */
static CustomerFactsState *
WithDaysSorted(CustomerFactsState *state, bool *ours)
{
	if (state->unsorted_days == 0)
		return state;
	if (!*ours)
	{
		state = CopyCustomerFactsState(state, state->capacity);
		*ours = true;
	}
	SortInUnsortedDays(state);
	return state;
}

/*
 * Record a purchase day.  Returns the state to use from now on: a bigger
 * copy when the day needed room.  The old state is left alone then: inside
 * an aggregate nodeAgg copies the new pointer into the aggregate context
 * and pfrees the old state itself (ExecAggTransReparent), so repalloc or
 * pfree here would free its memory twice.
 */
static CustomerFactsState *
AddPurchaseDay(CustomerFactsState *state, int32 day)
{
	bool		extends_sorted;

	/* time-ordered input extends the sorted days: check the end first */
	extends_sorted = state->unsorted_days == 0 &&
		(state->ndays == 0 || day < state->days[state->ndays - 1]);
	if (!extends_sorted)
	{
		/* rows of one day usually come together: the last day first */
		if (day == state->days[CF_USED_DAYS(state) - 1] || HasPurchaseDay(state, day))
			return state;
	}
	if (CF_USED_DAYS(state) == state->capacity)
	{
		SortInUnsortedDays(state);
		if (HasPurchaseDay(state, day))
			return state;		/* it was one of the unsorted days */
		if (state->ndays == state->capacity)
			state = CopyCustomerFactsState(state,
										   GrowCapacity(state->capacity,
														(int64) state->ndays + 1));
		extends_sorted = state->ndays == 0 || day < state->days[state->ndays - 1];
	}
	state->days[CF_USED_DAYS(state)] = day;
	if (extends_sorted)
		state->ndays++;
	else if (++state->unsorted_days >= Max(state->ndays, CF_INITIAL_DAYS))
		SortInUnsortedDays(state);
	return state;
}

/*
 * numerator / denominator (denominator > 0) rounded half away from zero,
 * the rounding numeric uses.
 */
static int64
DivideRounded(int64 numerator, int64 denominator)
{
	int64		quotient = numerator / denominator;
	int64		remainder = numerator % denominator;

	/* |remainder| < denominator <= INT32_MAX, so doubling cannot overflow */
	if (remainder >= 0 ? 2 * remainder >= denominator
		: -2 * remainder >= denominator)
		quotient += (numerator >= 0) ? 1 : -1;
	return quotient;
}

/*
 * The k-th smallest of values[0..n-1] (0-based), by quickselect: it
 * reorders the array so that values[0..k-1] are all <= the result, and
 * takes linear time on average instead of sorting.
 */
static int32
SelectKthSmallest(int32 *values, int32 n, int32 k)
{
	int32		lo = 0;
	int32		hi = n - 1;

	while (lo < hi)
	{
		int32		pivot = values[lo + (hi - lo) / 2];
		int32		i = lo;
		int32		j = hi;

		/* Hoare partition: [lo, j] <= pivot, [i, hi] >= pivot */
		while (i <= j)
		{
			while (values[i] < pivot)
				i++;
			while (values[j] > pivot)
				j--;
			if (i <= j)
			{
				int32		swap = values[i];

				values[i++] = values[j];
				values[j--] = swap;
			}
		}
		if (k <= j)
			hi = j;
		else if (k >= i)
			lo = i;
		else
			break;				/* values[j + 1 .. i - 1] all equal the pivot */
	}
	return values[k];
}

/*
 * Median of the gaps between consecutive purchase days (ndays >= 2).  Most
 * customers have a few dozen gaps at most: those stay on the stack.
 */
#define CF_STACK_GAPS 64

static double
MedianGapDays(const CustomerFactsState *state)
{
	int32		ngaps = state->ndays - 1;
	int32		stack_gaps[CF_STACK_GAPS];
	int32	   *gaps;
	double		median;
	int32		upper;
	int32		i;

	gaps = ngaps <= CF_STACK_GAPS ? stack_gaps : palloc(ngaps * sizeof(int32));
	for (i = 0; i < ngaps; i++)
		gaps[i] = state->days[i] - state->days[i + 1];
	upper = SelectKthSmallest(gaps, ngaps, ngaps / 2);
	if (ngaps % 2 == 1)
		median = upper;
	else
	{
		/* the lower middle is the largest of the values left of upper */
		int32		lower = gaps[0];

		for (i = 1; i < ngaps / 2; i++)
			lower = Max(lower, gaps[i]);
		median = ((double) lower + (double) upper) / 2.0;
	}
	if (gaps != stack_gaps)
		pfree(gaps);
	return median;
}

/*
 * Transition function: add one transaction (occurred_at, amount, as_of).
 * Not strict, so that NULLs raise errors instead of being skipped silently.
 */
PG_FUNCTION_INFO_V1(customer_facts_accum);
Datum
customer_facts_accum(PG_FUNCTION_ARGS)
{
	bool		in_agg = AggCheckCallContext(fcinfo, NULL) != 0;
	CustomerFactsState *state;
	TimestampTz occurred_at;
	TimestampTz as_of;
	int64		units;
	int			sign;
	int64		rows;

	/* validate the row before touching the state */
	CheckArgNotNull(fcinfo, 1, "occurred_at");
	CheckArgNotNull(fcinfo, 2, "amount");
	CheckArgNotNull(fcinfo, 3, "as_of");
	occurred_at = PG_GETARG_TIMESTAMPTZ(1);
	as_of = PG_GETARG_TIMESTAMPTZ(3);
	CheckFiniteTimestamp(occurred_at, "occurred_at");
	CheckFiniteTimestamp(as_of, "as_of");
	units = AmountToUnits(PG_GETARG_DATUM(2), &sign);

	if (PG_ARGISNULL(0))
	{
		/*
		 * First row of a group.  The new state lives in the per-tuple
		 * context; nodeAgg copies it into the aggregate context.
		 */
		state = NewCustomerFactsState(CF_INITIAL_DAYS);
		state->as_of = as_of;
	}
	else
	{
		bool		copied;

		/*
		 * Inside an aggregate the state is our own transition value, so the
		 * cheap checks suffice and it may be updated in place.  A direct call
		 * gets a full check and works on a copy: never scribble on input.
		 */
		state = GetStateArg(fcinfo, 0, !in_agg, &copied);
		state = ByteaStateWritable(state, in_agg || copied);
		if (state->rows == 0)
			state->as_of = as_of;
		else
			CheckSameAsOf(state->as_of, as_of);
	}
	AssertCheckCustomerFactsState(state);

	CheckCountAdd(state->rows, 1, &rows);

	if (occurred_at > as_of)
	{
		/* future rows only count: the analysis pretends not to see them */
		CheckCountAdd(state->future_rows, 1, &state->future_rows);
	}
	else if (sign > 0)
	{
		int32		day = DayIndex(as_of, occurred_at);
		int64		orders;
		int64		net_spend;
		int64		purchase_spend;
		int64		first_day_spend;

		int32		first_day;

		CheckCountAdd(state->orders, 1, &orders);
		CheckSpendAdd(state->net_spend, units, &net_spend);
		CheckSpendAdd(state->purchase_spend, units, &purchase_spend);
		/* the first purchase day is that of first_purchase_at */
		first_day = state->orders == 0 ? -1 : DayIndex(as_of, state->first_purchase_at);
		if (day > first_day)
			first_day_spend = units;
		else if (day == first_day)
			CheckSpendAdd(state->first_day_spend, units, &first_day_spend);
		else
			first_day_spend = state->first_day_spend;

		state = AddPurchaseDay(state, day);

		state->orders = orders;
		state->net_spend = net_spend;
		state->purchase_spend = purchase_spend;
		state->first_day_spend = first_day_spend;
		if (state->orders == 1 || occurred_at < state->first_purchase_at)
			state->first_purchase_at = occurred_at;
		if (state->orders == 1 || occurred_at > state->last_purchase_at)
			state->last_purchase_at = occurred_at;
	}
	else if (sign < 0)
	{
		int64		returns;
		int64		net_spend;

		CheckCountAdd(state->returns, 1, &returns);
		CheckSpendAdd(state->net_spend, units, &net_spend);
		state->returns = returns;
		state->net_spend = net_spend;
	}
	/* an amount of zero is validated and counted in rows only */

	state->rows = rows;
	AssertCheckCustomerFactsState(state);
	PG_RETURN_BYTEA_P(state);
}

/*
 * Combine function: merge two partial states.  Strict, as nodeAgg copies the
 * non-null side.  The first state may be updated in place inside an
 * aggregate; the second one is never modified.
 */
PG_FUNCTION_INFO_V1(customer_facts_combine);
Datum
customer_facts_combine(PG_FUNCTION_ARGS)
{
	bool		in_agg = AggCheckCallContext(fcinfo, NULL) != 0;
	CustomerFactsState *a;
	CustomerFactsState *b;
	CustomerFactsState *target;
	bool		a_ours;
	bool		b_copied;
	int64		rows;
	int64		orders;
	int64		returns;
	int64		future_rows;
	int64		net_spend;
	int64		purchase_spend;
	int64		first_day_spend;
	TimestampTz first_purchase_at;
	TimestampTz last_purchase_at;
	int64		total_days;

	a = GetStateArg(fcinfo, 0, true, &a_ours);
	a_ours |= in_agg;
	a = WithDaysSorted(a, &a_ours);
	b = GetStateArg(fcinfo, 1, true, &b_copied);
	b = WithDaysSorted(b, &b_copied);
	AssertCheckCustomerFactsState(a);
	AssertCheckCustomerFactsState(b);

	/* an empty side (no rows, as_of unset) contributes nothing */
	if (b->rows == 0)
		PG_RETURN_BYTEA_P(a);
	if (a->rows == 0)
		PG_RETURN_BYTEA_P(b);

	CheckSameAsOf(a->as_of, b->as_of);

	CheckCountAdd(a->rows, b->rows, &rows);
	CheckCountAdd(a->orders, b->orders, &orders);
	CheckCountAdd(a->returns, b->returns, &returns);
	CheckCountAdd(a->future_rows, b->future_rows, &future_rows);
	CheckSpendAdd(a->net_spend, b->net_spend, &net_spend);
	CheckSpendAdd(a->purchase_spend, b->purchase_spend, &purchase_spend);

	/* the first purchase day is the larger days[0]; equal days add up */
	if (b->ndays == 0)
	{
		first_day_spend = a->first_day_spend;
		first_purchase_at = a->first_purchase_at;
		last_purchase_at = a->last_purchase_at;
	}
	else if (a->ndays == 0)
	{
		first_day_spend = b->first_day_spend;
		first_purchase_at = b->first_purchase_at;
		last_purchase_at = b->last_purchase_at;
	}
	else
	{
		if (a->days[0] > b->days[0])
			first_day_spend = a->first_day_spend;
		else if (a->days[0] < b->days[0])
			first_day_spend = b->first_day_spend;
		else
			CheckSpendAdd(a->first_day_spend, b->first_day_spend,
						  &first_day_spend);
		first_purchase_at = Min(a->first_purchase_at, b->first_purchase_at);
		last_purchase_at = Max(a->last_purchase_at, b->last_purchase_at);
	}

	total_days = CountUnionDays(a->days, a->ndays, b->days, b->ndays);

	/*
	 * Merge into a when we own it and it has room; otherwise into a bigger
	 * copy (the old a is then freed by nodeAgg, never by us).
	 */
	if (a_ours && a != b && total_days <= a->capacity)
		target = a;
	else
		target = CopyCustomerFactsState(a, GrowCapacity(a->capacity, total_days));
	MergeDaysInto(target->days, target->ndays, b->days, b->ndays, total_days);

	target->ndays = (int32) total_days;
	target->rows = rows;
	target->orders = orders;
	target->returns = returns;
	target->future_rows = future_rows;
	target->net_spend = net_spend;
	target->purchase_spend = purchase_spend;
	target->first_day_spend = first_day_spend;
	target->first_purchase_at = first_purchase_at;
	target->last_purchase_at = last_purchase_at;

	AssertCheckCustomerFactsState(target);
	PG_RETURN_BYTEA_P(target);
}

/*
 * The result row type and its columns' positions, looked up once per query
 * and kept with the function call (looking the type up per group showed in
 * profiles of 1M customers).
 */
static const FactsRowType *
GetFactsRowType(FunctionCallInfo fcinfo)
{
	TupleDesc	tupdesc;
	MemoryContext old_context;
	FactsRowType *rowtype;
	int			column;

	if (fcinfo->flinfo->fn_extra != NULL)
		return (const FactsRowType *) fcinfo->flinfo->fn_extra;
	if (get_call_result_type(fcinfo, NULL, &tupdesc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "return type must be a row type");
	if (tupdesc->natts != CF_NATTS)
		elog(ERROR, "customer_facts type has %d columns, expected %d",
			 tupdesc->natts, CF_NATTS);
	old_context = MemoryContextSwitchTo(fcinfo->flinfo->fn_mcxt);
	rowtype = palloc(sizeof(FactsRowType));
	rowtype->tupdesc = BlessTupleDesc(CreateTupleDescCopy(tupdesc));
	MemoryContextSwitchTo(old_context);
	for (column = 0; column < CF_NATTS; column++)
	{
		int			i;

		rowtype->index[column] = -1;
		for (i = 0; i < tupdesc->natts; i++)
		{
			Form_pg_attribute attr = TupleDescAttr(tupdesc, i);

			if (!attr->attisdropped &&
				strcmp(NameStr(attr->attname), facts_column_names[column]) == 0)
			{
				rowtype->index[column] = i;
				break;
			}
		}
		if (rowtype->index[column] < 0)
			elog(ERROR, "customer_facts type has no column %s",
				 facts_column_names[column]);
	}
	fcinfo->flinfo->fn_extra = rowtype;
	return rowtype;
}

/*
 * Final function: the crm.customer_facts row of a state.  Read-only, since
 * a final function may run more than once on the same state (window
 * aggregates, shared transition states).
 */
PG_FUNCTION_INFO_V1(customer_facts_final);
Datum
customer_facts_final(PG_FUNCTION_ARGS)
{
	CustomerFactsState *state;
	bool		copied;
	const FactsRowType *rowtype;
	Datum		values[CF_NATTS];
	bool		nulls[CF_NATTS];
	int32		x;

	state = GetStateArg(fcinfo, 0, true, &copied);
	AssertCheckCustomerFactsState(state);
	state = WithDaysSorted(state, &copied);

	/* an empty state is no rows at all: NULL, like avg() */
	if (state->rows == 0)
		PG_RETURN_NULL();

	rowtype = GetFactsRowType(fcinfo);

#define SET_COLUMN(column, datum) \
	(values[rowtype->index[column]] = (datum), nulls[rowtype->index[column]] = false)

	memset(nulls, true, sizeof(nulls));
	SET_COLUMN(CF_COL_ORDERS, Int64GetDatum(state->orders));
	SET_COLUMN(CF_COL_RETURNS, Int64GetDatum(state->returns));
	SET_COLUMN(CF_COL_NET_SPEND,
			   NumericGetDatum(int64_div_fast_to_numeric(state->net_spend,
														 CF_UNIT_DECIMALS)));
	SET_COLUMN(CF_COL_PURCHASE_DAYS, Int32GetDatum(state->ndays));
	SET_COLUMN(CF_COL_FUTURE_ROWS, Int64GetDatum(state->future_rows));

	if (state->ndays > 0)
	{
		int32		first_day = state->days[0];
		int32		last_day = state->days[state->ndays - 1];

		x = state->ndays - 1;
		SET_COLUMN(CF_COL_FIRST_PURCHASE_AT, TimestampTzGetDatum(state->first_purchase_at));
		SET_COLUMN(CF_COL_LAST_PURCHASE_AT, TimestampTzGetDatum(state->last_purchase_at));
		SET_COLUMN(CF_COL_RECENCY_DAYS, Int32GetDatum(last_day));
		SET_COLUMN(CF_COL_TENURE_DAYS, Int32GetDatum(first_day));
		SET_COLUMN(CF_COL_BTYD_FREQUENCY, Int32GetDatum(x));
		SET_COLUMN(CF_COL_BTYD_RECENCY, Int32GetDatum(first_day - last_day));
		SET_COLUMN(CF_COL_BTYD_T, Int32GetDatum(first_day));

		if (x > 0)
		{
			int64		repeat_spend = state->purchase_spend - state->first_day_spend;

			SET_COLUMN(CF_COL_AVG_REPEAT_SPEND,
					   NumericGetDatum(int64_div_fast_to_numeric(DivideRounded(repeat_spend, x),
																 CF_UNIT_DECIMALS)));
			SET_COLUMN(CF_COL_LAST_GAP_DAYS, Int32GetDatum(state->days[x - 1] - last_day));
			SET_COLUMN(CF_COL_MEDIAN_GAP_DAYS, Float8GetDatum(MedianGapDays(state)));
		}
	}
#undef SET_COLUMN

	PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(rowtype->tupdesc, values, nulls)));
}
