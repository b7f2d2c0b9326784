/*-------------------------------------------------------------------------
 *
 * affinity.c
 *	  crm.basket_pairs: support, confidence, lift and conviction of every
 *	  product pair bought together often enough, from order lines.
 *
 * A set-returning function, not an aggregate: pairs are counted per basket,
 * so every line of a basket has to meet the others in one state.  Partial
 * aggregates over slices of the lines would split baskets between workers,
 * and no combine function can rebuild the pairs of a split basket.  The
 * function reads the lines itself through SPI, ordered by basket, and is
 * called by the plpgsql crm.refresh_affinity, which publishes the result.
 *
 * Counting takes two passes over the baskets, kept in memory as product
 * numbers (4 bytes a line; product ids are interned once):
 *	 1. each basket's distinct products; a basket with more distinct products
 *		than max_basket_items is skipped and counted, so one wholesale order
 *		cannot add its n(n-1)/2 pairs; the number of baskets of each product;
 *	 2. pairs of products that are frequent enough themselves (a pair is never
 *		in more baskets than either of its products): product by product, in
 *		a dense counter array over the baskets that hold the product.
 * Everything lives in one memory context, deleted before returning; its
 * size follows the lines and products, not the number of pairs.
 *
 * Measures over the N baskets kept (skipped ones are out of every count):
 *	 support(A,B) = n(A,B)/N, confidence(A=>B) = n(A,B)/n(A),
 *	 lift = n(A,B) N/(n(A) n(B)),
 *	 conviction = (N - n(B)) n(A)/(N (n(A) - n(A,B))),
 * each from the integer counts in one division, so that the double is the
 * correctly rounded ratio.  Conviction is NULL when confidence is 1: it is
 * infinite there, and BI tools cannot show 'Infinity'.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <math.h>

#include "common/hashfn.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "funcapi.h"
#include "lib/qunique.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/tuplestore.h"

#include "retail_crm.h"

/* Lines fetched from the source per SPI round trip. */
#define BASKET_FETCH_ROWS	10000

/* Output columns of crm.basket_pairs. */
#define BASKET_PAIRS_COLUMNS 9

/* Product id (text) -> product number, for interning. */
typedef struct ProductEntry
{
	const char *name;			/* NUL-terminated copy in the work context */
	uint32		hash;			/* hash of name, kept for rehashing */
	int32		number;			/* index into Baskets.names and .baskets_of */
	char		status;			/* simplehash slot status */
} ProductEntry;

#define SH_PREFIX		products
#define SH_ELEMENT_TYPE ProductEntry
#define SH_KEY_TYPE		const char *
#define SH_KEY			name
#define SH_HASH_KEY(tb, key) hash_bytes((const unsigned char *) (key), strlen(key))
#define SH_EQUAL(tb, a, b) (strcmp(a, b) == 0)
#define SH_STORE_HASH
#define SH_GET_HASH(tb, a) ((a)->hash)
#define SH_SCOPE		static inline
#define SH_DECLARE
#define SH_DEFINE
#include "lib/simplehash.h"

/* The kept baskets and the counts of the first pass. */
typedef struct Baskets
{
	MemoryContext context;		/* holds everything below */
	products_hash *products;	/* product id -> number */
	char	  **names;			/* product number -> product id */
	uint32	   *baskets_of;		/* product number -> kept baskets holding it */
	int32		nproducts;		/* products interned (also from skipped baskets) */
	int32		products_capacity;	/* slots in names and baskets_of */
	int32	   *items;			/* distinct product numbers of the kept
								 * baskets, basket after basket, ascending
								 * within a basket */
	int64		nitems;			/* used slots of items */
	int64		items_capacity; /* slots in items */
	int64	   *starts;			/* basket i is items[starts[i] .. starts[i+1]) */
	int64		nbaskets;		/* kept baskets */
	int64		starts_capacity;	/* slots in starts */
	int64		skipped;		/* baskets over max_basket_items */
	int32		max_basket_items;	/* larger baskets are skipped */
} Baskets;

/* Reject what is not a share of baskets in (0, 1]: zero would keep every pair. */
static inline void
CheckMinSupport(double min_support)
{
	if (isnan(min_support) || !(min_support > 0 && min_support <= 1))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("min_support must be greater than 0 and at most 1, not %g", min_support),
				 errhint("min_support is the share of baskets a pair must be in, e.g. 0.01 for 1 %%.")));
}

/* A basket of fewer than two products has no pair. */
static inline void
CheckMaxBasketItems(int32 max_basket_items)
{
	if (max_basket_items < 2)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("max_basket_items must be at least 2, not %d", max_basket_items),
				 errhint("Baskets with more distinct products than this are skipped; 100 is a common cap.")));
}

/* The product number of a product id, interning it on first sight. */
static int32
ProductNumber(Baskets *b, const char *name)
{
	bool		found;
	ProductEntry *entry = products_insert(b->products, name, &found);

	if (!found)
	{
		if (b->nproducts == PG_INT32_MAX)
			ereport(ERROR,
					(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
					 errmsg("more than %d distinct products", PG_INT32_MAX)));
		if (b->nproducts == b->products_capacity)
		{
			b->products_capacity = DoubledCapacity(b->products_capacity, (int64) b->nproducts + 1,
												   1024, PG_INT32_MAX);
			b->names = repalloc_huge(b->names, sizeof(char *) * b->products_capacity);
			b->baskets_of = repalloc_huge(b->baskets_of, sizeof(uint32) * b->products_capacity);
		}
		/* The key must outlive the SPI tuple it came from. */
		entry->name = MemoryContextStrdup(b->context, name);
		entry->number = b->nproducts;
		b->names[b->nproducts] = (char *) entry->name;
		b->baskets_of[b->nproducts] = 0;
		b->nproducts++;
	}
	return entry->number;
}

/* Append one line's product number to the open basket. */
static void
AddItem(Baskets *b, int32 number)
{
	if (b->nitems == b->items_capacity)
	{
		b->items_capacity = Max(b->items_capacity * 2, 4096);
		b->items = repalloc_huge(b->items, sizeof(int32) * b->items_capacity);
	}
	b->items[b->nitems++] = number;
}

/*
 * Close the open basket (its lines are items[starts[nbaskets] ..)): keep
 * its distinct products, or drop it and count it as skipped when it has more
 * than max_basket_items of them.
 */
static void
CloseBasket(Baskets *b)
{
	int64		start = b->starts[b->nbaskets];
	int64		lines = b->nitems - start;
	size_t		distinct;

	if (lines == 0)
		return;
	sort_int32(b->items + start, lines);
	distinct = qunique(b->items + start, lines, sizeof(int32), CompareInt32);
	if (distinct > (size_t) b->max_basket_items)
	{
		b->skipped++;
		b->nitems = start;
		return;
	}
	b->nitems = start + distinct;
	for (int64 i = start; i < b->nitems; i++)
	{
		/* n(A) <= N, checked against PG_UINT32_MAX below */
		b->baskets_of[b->items[i]]++;
	}
	if (b->nbaskets + 2 > b->starts_capacity)
	{
		b->starts_capacity = Max(b->starts_capacity * 2, 1024);
		b->starts = repalloc_huge(b->starts, sizeof(int64) * b->starts_capacity);
	}
	b->nbaskets++;
	if (b->nbaskets >= PG_UINT32_MAX)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("more than %u baskets", PG_UINT32_MAX - 1),
				 errhint("Compute affinity over a period or a sample of the orders.")));
	b->starts[b->nbaskets] = b->nitems;
}

/*
 * First pass: read (basket, product) lines from the source ordered by basket
 * and keep the baskets.  Lines with a NULL basket or product are ignored.
 */
static void
ReadBaskets(Baskets *b, Oid source)
{
	char	   *relname = get_rel_name(source);
	char	   *nspname;
	char	   *query;
	SPIPlanPtr	plan;
	Portal		portal;
	char	   *open_basket = NULL;

	if (relname == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_TABLE),
				 errmsg("relation with OID %u does not exist", source)));
	nspname = get_namespace_name(get_rel_namespace(source));
	/* "C" order: only equal ids need to be adjacent, and memcmp is fastest. */
	query = psprintf("SELECT s.transaction_id::pg_catalog.text, s.product_id::pg_catalog.text "
					 "FROM %s AS s ORDER BY s.transaction_id::pg_catalog.text COLLATE \"C\"",
					 quote_qualified_identifier(nspname, relname));

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	plan = SPI_prepare(query, 0, NULL);
	if (plan == NULL)
		elog(ERROR, "SPI_prepare failed for \"%s\": %s", query, SPI_result_code_string(SPI_result));
	portal = SPI_cursor_open(NULL, plan, NULL, NULL, true);

	for (;;)
	{
		SPI_cursor_fetch(portal, true, BASKET_FETCH_ROWS);
		if (SPI_processed == 0)
			break;
		for (uint64 row = 0; row < SPI_processed; row++)
		{
			HeapTuple	tuple = SPI_tuptable->vals[row];
			TupleDesc	desc = SPI_tuptable->tupdesc;
			bool		basket_null;
			bool		product_null;
			Datum		basket = SPI_getbinval(tuple, desc, 1, &basket_null);
			Datum		product = SPI_getbinval(tuple, desc, 2, &product_null);
			MemoryContext caller;
			char	   *basket_id;

			if (basket_null || product_null)
				continue;
			caller = MemoryContextSwitchTo(b->context);
			basket_id = TextDatumGetCString(basket);
			if (open_basket == NULL || strcmp(open_basket, basket_id) != 0)
			{
				CloseBasket(b);
				if (open_basket != NULL)
					pfree(open_basket);
				open_basket = basket_id;
			}
			else
				pfree(basket_id);
			{
				char	   *product_id = TextDatumGetCString(product);

				AddItem(b, ProductNumber(b, product_id));
				pfree(product_id);
			}
			MemoryContextSwitchTo(caller);
		}
		SPI_freetuptable(SPI_tuptable);
	}
	CloseBasket(b);
	SPI_cursor_close(portal);
	SPI_finish();
}

/* One output row for the ordered pair (a, b) with n(a,b) = together. */
static void
PutPair(Tuplestorestate *store, TupleDesc desc, const Baskets *b,
		int32 a, int32 c, uint32 together)
{
	Datum		values[BASKET_PAIRS_COLUMNS];
	bool		nulls[BASKET_PAIRS_COLUMNS] = {0};
	double		n = (double) b->nbaskets;
	double		n_a = (double) b->baskets_of[a];
	double		n_c = (double) b->baskets_of[c];
	double		n_ac = (double) together;

	text	   *name_a = cstring_to_text(b->names[a]);
	text	   *name_c = cstring_to_text(b->names[c]);

	values[0] = PointerGetDatum(name_a);
	values[1] = PointerGetDatum(name_c);
	values[2] = Int64GetDatum(together);
	values[3] = Float8GetDatum(n_ac / n);
	values[4] = Float8GetDatum(n_ac / n_a);
	values[5] = Float8GetDatum((n_ac * n) / (n_a * n_c));
	if (together == b->baskets_of[a])
		nulls[6] = true;
	else
		values[6] = Float8GetDatum(((n - n_c) * n_a) / (n * (n_a - n_ac)));
	values[7] = Int64GetDatum(b->nbaskets);
	values[8] = Int64GetDatum(b->skipped);
	tuplestore_putvalues(store, desc, values, nulls);
	/* the tuplestore has its copy; millions of rows must not pile up here */
	pfree(name_a);
	pfree(name_c);
}

/* The totals row: product_a and product_b NULL, kept and skipped baskets. */
static void
PutTotals(Tuplestorestate *store, TupleDesc desc, const Baskets *b)
{
	Datum		values[BASKET_PAIRS_COLUMNS] = {0};
	bool		nulls[BASKET_PAIRS_COLUMNS];

	for (int i = 0; i < BASKET_PAIRS_COLUMNS; i++)
		nulls[i] = true;
	values[7] = Int64GetDatum(b->nbaskets);
	nulls[7] = false;
	values[8] = Int64GetDatum(b->skipped);
	nulls[8] = false;
	tuplestore_putvalues(store, desc, values, nulls);
}

/*
 * Second pass: for each frequent product a in turn, count in a dense array
 * the baskets it shares with every frequent product b > a, walking only the
 * baskets that hold a (an inverted index), and emit the pairs with at least
 * min_baskets of them.  Memory is the index (4 bytes a line) and two arrays
 * of one counter per product, however many pairs there are (a hash table of
 * all candidate pairs took the backend to 121 MB on 783,000 generated lines).
 */
static void
CountPairs(Baskets *b, uint32 min_baskets, Tuplestorestate *store, TupleDesc desc)
{
	int64	   *first = MemoryContextAllocHuge(b->context, sizeof(int64) * ((Size) b->nproducts + 1));
	int64	   *fill = MemoryContextAllocHuge(b->context, sizeof(int64) * Max(b->nproducts, 1));
	uint32	   *baskets_with;	/* product p's baskets: [first[p], first[p + 1]) */
	uint32	   *together = MemoryContextAllocHuge(b->context, sizeof(uint32) * Max(b->nproducts, 1));
	int32	   *touched = MemoryContextAllocHuge(b->context, sizeof(int32) * Max(b->nproducts, 1));
	int64		total = 0;

	/* the inverted index, for frequent products only */
	for (int32 p = 0; p < b->nproducts; p++)
	{
		first[p] = total;
		fill[p] = total;
		if (b->baskets_of[p] >= min_baskets)
			total += b->baskets_of[p];
		together[p] = 0;
	}
	first[b->nproducts] = total;
	baskets_with = MemoryContextAllocHuge(b->context, sizeof(uint32) * Max(total, 1));
	for (int64 k = 0; k < b->nbaskets; k++)
		for (int64 i = b->starts[k]; i < b->starts[k + 1]; i++)
			if (b->baskets_of[b->items[i]] >= min_baskets)
				baskets_with[fill[b->items[i]]++] = (uint32) k;

	for (int32 a = 0; a < b->nproducts; a++)
	{
		int32		ntouched = 0;

		if (b->baskets_of[a] < min_baskets)
			continue;
		CHECK_FOR_INTERRUPTS();
		for (int64 j = first[a]; j < first[a + 1]; j++)
		{
			uint32		k = baskets_with[j];

			for (int64 i = b->starts[k]; i < b->starts[k + 1]; i++)
			{
				int32		other = b->items[i];

				if (other <= a || b->baskets_of[other] < min_baskets)
					continue;
				if (together[other]++ == 0)
					touched[ntouched++] = other;
			}
		}
		for (int32 t = 0; t < ntouched; t++)
		{
			int32		other = touched[t];

			if (together[other] >= min_baskets)
			{
				PutPair(store, desc, b, a, other, together[other]);
				PutPair(store, desc, b, other, a, together[other]);
			}
			together[other] = 0;
		}
	}
}

PG_FUNCTION_INFO_V1(basket_pairs);
/* Every ordered product pair with support >= min_support, after a totals row. */
Datum
basket_pairs(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	Oid			source;
	double		min_support;
	Baskets		b = {0};
	uint32		min_baskets;

	for (int arg = 0; arg < 3; arg++)
		if (PG_ARGISNULL(arg))
			ereport(ERROR,
					(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
					 errmsg("%s must not be NULL",
							arg == 0 ? "source" : arg == 1 ? "min_support" : "max_basket_items"),
					 errhint("Call crm.basket_pairs('crm.basket_items', 0.01, 100) for the sale baskets.")));
	source = PG_GETARG_OID(0);
	min_support = PG_GETARG_FLOAT8(1);
	CheckMinSupport(min_support);
	b.max_basket_items = PG_GETARG_INT32(2);
	CheckMaxBasketItems(b.max_basket_items);

	InitMaterializedSRF(fcinfo, 0);

	b.context = AllocSetContextCreate(CurrentMemoryContext, "crm.basket_pairs",
									  ALLOCSET_DEFAULT_SIZES);
	b.products = products_create(b.context, 1024, NULL);
	b.names = MemoryContextAlloc(b.context, sizeof(char *));
	b.baskets_of = MemoryContextAlloc(b.context, sizeof(uint32));
	b.items = MemoryContextAlloc(b.context, sizeof(int32));
	b.starts = MemoryContextAllocZero(b.context, sizeof(int64) * 2);
	b.starts_capacity = 2;

	ReadBaskets(&b, source);
	PutTotals(rsinfo->setResult, rsinfo->setDesc, &b);

	if (b.nbaskets > 0)
	{
		/*
		 * The smallest count whose share reaches min_support, in the same
		 * division as the reported support, so that both agree at the edge.
		 */
		min_baskets = (uint32) Max(floor(min_support * (double) b.nbaskets), 1.0);
		while ((double) min_baskets / (double) b.nbaskets < min_support)
			min_baskets++;
		while (min_baskets > 1 && (double) (min_baskets - 1) / (double) b.nbaskets >= min_support)
			min_baskets--;

		CountPairs(&b, min_baskets, rsinfo->setResult, rsinfo->setDesc);
	}
	ereport(DEBUG1,
			(errmsg_internal("crm.basket_pairs: %lld baskets, %lld skipped, %d products, %zu bytes of work memory",
							 (long long) b.nbaskets, (long long) b.skipped, b.nproducts,
							 MemoryContextMemAllocated(b.context, true))));
	MemoryContextDelete(b.context);
	return (Datum) 0;
}
