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
 * The lines reach it one slot at a time through its own DestReceiver: no
 * tuple is copied into an SPI tuple table nor any id into a C string.
 *
 * Counting takes two passes over the baskets, kept in memory as product
 * numbers (4 bytes a line; product ids are interned once):
 *	 1. each basket's distinct products; a basket with more distinct products
 *		than max_basket_items is skipped and counted, so one wholesale order
 *		cannot add its n(n-1)/2 pairs; the number of baskets of each product;
 *	 2. pairs of products that are frequent enough themselves (a pair is never
 *		in more baskets than either of its products): product by product, in
 *		a dense counter array over the lines after the product in the
 *		baskets that hold it.
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

#include "catalog/pg_type_d.h"
#include "common/hashfn.h"
#include "executor/spi.h"
#include "executor/tuptable.h"
#include "fmgr.h"
#include "funcapi.h"
#include "lib/qunique.h"
#include "miscadmin.h"
#include "tcop/dest.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/tuplestore.h"

#include "retail_crm.h"

/* Output columns of crm.basket_pairs. */
#define BASKET_PAIRS_COLUMNS 9

/* A product id as it is in the line's text: bytes, no terminating NUL. */
typedef struct ProductKey
{
	const char *data;
	int32		len;
} ProductKey;

/* Product id -> product number, for interning. */
typedef struct ProductEntry
{
	ProductKey	key;			/* data: NUL-terminated copy in the work context */
	uint32		hash;			/* hash of the key, kept for rehashing */
	int32		number;			/* index into Baskets.names and .baskets_of */
	char		status;			/* simplehash slot status */
} ProductEntry;

#define SH_PREFIX		products
#define SH_ELEMENT_TYPE ProductEntry
#define SH_KEY_TYPE		ProductKey
#define SH_KEY			key
#define SH_HASH_KEY(tb, k) hash_bytes((const unsigned char *) (k).data, (k).len)
#define SH_EQUAL(tb, a, b) ((a).len == (b).len && memcmp((a).data, (b).data, (a).len) == 0)
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

/* qunique comparator for int32 */
static int
CompareInt32(const void *a, const void *b)
{
	int32		x = *(const int32 *) a;
	int32		y = *(const int32 *) b;

	return (x > y) - (x < y);
}

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
ProductNumber(Baskets *b, const char *data, int32 len)
{
	ProductKey	key = {data, len};
	bool		found;
	ProductEntry *entry = products_insert(b->products, key, &found);

	if (!found)
	{
		char	   *name;

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
		/* The key must outlive the line it came from. */
		name = MemoryContextAlloc(b->context, (Size) len + 1);
		memcpy(name, data, len);
		name[len] = '\0';
		entry->key.data = name;
		entry->number = b->nproducts;
		b->names[b->nproducts] = name;
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

/* Receives the source's lines in basket order (a DestReceiver). */
typedef struct LineReader
{
	DestReceiver dest;			/* first, so that the executor's pointer is ours */
	Baskets    *baskets;
	char	   *open_basket;	/* id of the basket being read, without NUL */
	int32		open_len;		/* its length; -1 before the first line */
	int32		open_capacity;	/* bytes allocated for open_basket */
} LineReader;

/*
 * One line: a new basket id closes the open basket.  The ids are compared
 * and interned where they lie in the slot; only toasted ones are copied.
 * Lines with a NULL basket or product are ignored.
 */
static bool
ReadLine(TupleTableSlot *slot, DestReceiver *self)
{
	LineReader *reader = (LineReader *) self;
	Baskets    *b = reader->baskets;
	bool		basket_null;
	bool		product_null;
	Datum		basket = slot_getattr(slot, 1, &basket_null);
	Datum		product = slot_getattr(slot, 2, &product_null);
	text	   *basket_id;
	text	   *product_id;
	int32		len;

	if (basket_null || product_null)
		return true;
	basket_id = (text *) PG_DETOAST_DATUM_PACKED(basket);
	len = VARSIZE_ANY_EXHDR(basket_id);
	if (len != reader->open_len || memcmp(VARDATA_ANY(basket_id), reader->open_basket, len) != 0)
	{
		CloseBasket(b);
		if (len > reader->open_capacity)
		{
			reader->open_basket = repalloc(reader->open_basket, len);
			reader->open_capacity = len;
		}
		memcpy(reader->open_basket, VARDATA_ANY(basket_id), len);
		reader->open_len = len;
	}
	product_id = (text *) PG_DETOAST_DATUM_PACKED(product);
	AddItem(b, ProductNumber(b, VARDATA_ANY(product_id), VARSIZE_ANY_EXHDR(product_id)));
	if ((Pointer) basket_id != DatumGetPointer(basket))
		pfree(basket_id);
	if ((Pointer) product_id != DatumGetPointer(product))
		pfree(product_id);
	return true;
}

/* Nothing to set up or release: the reader lives on ReadBaskets' stack. */
static void
ReaderStartup(DestReceiver *self, int operation, TupleDesc typeinfo)
{
}

static void
ReaderShutdown(DestReceiver *self)
{
}

/*
 * The ORDER BY that brings each basket's lines together.  A text id under a
 * deterministic collation is ordered as it is, equal ids being equal bytes
 * there: an index on it (the primary keys under crm.basket_items, through a
 * merge join) then gives the order without sorting 8 million lines.  Ids of
 * another type or collation are ordered by their text in "C", where only
 * equal texts are equal.
 */
static const char *
BasketOrder(Oid source)
{
	AttrNumber	attnum = get_attnum(source, "transaction_id");
	Oid			type;
	int32		typmod;
	Oid			collation;

	if (attnum == InvalidAttrNumber)
		return "s.transaction_id";	/* the query reports the missing column */
	get_atttypetypmodcoll(source, attnum, &type, &typmod, &collation);
	if (type == TEXTOID && OidIsValid(collation) && get_collation_isdeterministic(collation))
		return "s.transaction_id";
	return "s.transaction_id::pg_catalog.text COLLATE \"C\"";
}

/* First pass: read (basket, product) lines from the source ordered by basket. */
static void
ReadBaskets(Baskets *b, Oid source)
{
	char	   *relname = get_rel_name(source);
	char	   *query;
	SPIExecuteOptions options = {0};
	LineReader	reader = {0};
	int			result;

	if (relname == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_TABLE),
				 errmsg("relation with OID %u does not exist", source)));
	query = psprintf("SELECT s.transaction_id::pg_catalog.text, s.product_id::pg_catalog.text "
					 "FROM %s AS s ORDER BY %s",
					 quote_qualified_identifier(get_namespace_name(get_rel_namespace(source)), relname),
					 BasketOrder(source));

	reader.dest.receiveSlot = ReadLine;
	reader.dest.rStartup = ReaderStartup;
	reader.dest.rShutdown = ReaderShutdown;
	reader.dest.rDestroy = ReaderShutdown;
	reader.dest.mydest = DestNone;
	reader.baskets = b;
	reader.open_capacity = 64;
	reader.open_basket = MemoryContextAlloc(b->context, reader.open_capacity);
	reader.open_len = -1;
	options.read_only = true;
	options.dest = &reader.dest;

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	result = SPI_execute_extended(query, &options);
	if (result < 0)
		elog(ERROR, "SPI_execute_extended failed for \"%s\": %s", query, SPI_result_code_string(result));
	CloseBasket(b);
	SPI_finish();
	pfree(query);
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

/* Marks the last frequent product of a basket in the compacted lines. */
#define BASKET_END	((uint32) 1 << 31)

/*
 * Second pass: for each frequent product a in turn, count in a dense array
 * the baskets it shares with every frequent product b > a, and emit the
 * pairs with at least min_baskets of them.  The baskets are first compacted
 * in place to their frequent products, renumbered densely (the order kept),
 * with the end of each basket marked in its last line, and baskets left
 * with fewer than two are dropped; an inverted index then points at each
 * line of a, so that only the lines after it in its basket are walked, one
 * memory access a basket (walking the baskets from their start took twice
 * the accesses and the time).  Memory is the index (4 bytes a line) and
 * arrays of one counter per product, however many pairs there are (a hash
 * table of all candidate pairs took the backend to 121 MB on 783,000
 * generated lines).
 */
static void
CountPairs(Baskets *b, uint32 min_baskets, Tuplestorestate *store, TupleDesc desc)
{
	int32	   *dense = MemoryContextAllocHuge(b->context, sizeof(int32) * Max(b->nproducts, 1));
	int32	   *product_of = MemoryContextAllocHuge(b->context, sizeof(int32) * Max(b->nproducts, 1));
	uint32	   *lines = (uint32 *) b->items;
	int64		nlines = 0;
	int32		nfrequent = 0;
	int64	   *first;
	int64	   *fill;
	uint32	   *line_of;		/* product a's lines: [first[a], first[a + 1]) */
	uint32	   *together;
	int32	   *touched;

	for (int32 p = 0; p < b->nproducts; p++)
	{
		dense[p] = b->baskets_of[p] >= min_baskets ? nfrequent : -1;
		if (dense[p] >= 0)
			product_of[nfrequent++] = p;
	}
	/* nlines never passes the line being read: compacting in place is safe */
	for (int64 k = 0; k < b->nbaskets; k++)
	{
		int64		basket_start = nlines;

		for (int64 i = b->starts[k]; i < b->starts[k + 1]; i++)
			if (dense[b->items[i]] >= 0)
				lines[nlines++] = (uint32) dense[b->items[i]];
		if (nlines - basket_start < 2)
			nlines = basket_start;
		else
			lines[nlines - 1] |= BASKET_END;
	}
	if (nlines > (int64) PG_UINT32_MAX)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("more than %u lines of frequent products", PG_UINT32_MAX),
				 errhint("Compute affinity over a period or a sample of the orders.")));
	pfree(b->starts);
	b->starts = NULL;

	first = MemoryContextAllocHuge(b->context, sizeof(int64) * ((Size) nfrequent + 1));
	fill = MemoryContextAllocExtended(b->context, sizeof(int64) * Max(nfrequent, 1), MCXT_ALLOC_HUGE | MCXT_ALLOC_ZERO);
	together = MemoryContextAllocExtended(b->context, sizeof(uint32) * Max(nfrequent, 1), MCXT_ALLOC_HUGE | MCXT_ALLOC_ZERO);
	touched = MemoryContextAllocHuge(b->context, sizeof(int32) * Max(nfrequent, 1));
	for (int64 i = 0; i < nlines; i++)
		fill[lines[i] & ~BASKET_END]++;
	first[0] = 0;
	for (int32 a = 0; a < nfrequent; a++)
	{
		first[a + 1] = first[a] + fill[a];
		fill[a] = first[a];
	}
	line_of = MemoryContextAllocHuge(b->context, sizeof(uint32) * Max(nlines, 1));
	for (int64 i = 0; i < nlines; i++)
		line_of[fill[lines[i] & ~BASKET_END]++] = (uint32) i;

	for (int32 a = 0; a < nfrequent; a++)
	{
		int32		ntouched = 0;

		CHECK_FOR_INTERRUPTS();
		for (int64 j = first[a]; j < first[a + 1]; j++)
		{
			uint32		i = line_of[j];

			/* products ascend within a basket: those after a are > a */
			while (!(lines[i] & BASKET_END))
			{
				uint32		other = lines[++i] & ~BASKET_END;

				if (together[other]++ == 0)
					touched[ntouched++] = (int32) other;
			}
		}
		for (int32 t = 0; t < ntouched; t++)
		{
			int32		other = touched[t];

			if (together[other] >= min_baskets)
			{
				PutPair(store, desc, b, product_of[a], product_of[other], together[other]);
				PutPair(store, desc, b, product_of[other], product_of[a], together[other]);
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
