-- Basket affinity: which products are bought together, and what to offer a
-- customer next.  Pairs are counted in C (crm.basket_pairs) over the sale
-- baskets of crm.basket_items; crm.refresh_affinity publishes them.

-- Stable: it only reads.  Parallel restricted: the source may be a
-- temporary table, which parallel workers cannot read.
CREATE FUNCTION @extschema@.basket_pairs(source regclass, min_support double precision,
										 max_basket_items integer,
										 OUT product_a text, OUT product_b text,
										 OUT baskets_together bigint, OUT support double precision,
										 OUT confidence double precision, OUT lift double precision,
										 OUT conviction double precision,
										 OUT baskets bigint, OUT skipped_baskets bigint)
RETURNS SETOF record
AS 'MODULE_PATHNAME', 'basket_pairs'
LANGUAGE C STABLE CALLED ON NULL INPUT PARALLEL RESTRICTED ROWS 1000;
COMMENT ON FUNCTION @extschema@.basket_pairs(regclass, double precision, integer) IS
	'Every ordered product pair with support >= min_support over the baskets of source (columns transaction_id, product_id; a product counts once per basket; lines with a NULL id are ignored). Baskets with more than max_basket_items distinct products are skipped and counted. The first row carries the totals (product_a and product_b NULL): baskets = baskets counted, skipped_baskets. Conviction is NULL when confidence is 1. min_support in (0, 1], max_basket_items >= 2, else 22023; NULL arguments 22004.';

-- The published pairs.  Rewritten in one transaction by each refresh.
CREATE TABLE @extschema@.product_affinity (
	product_a			text NOT NULL,
	product_b			text NOT NULL,
	baskets_together	bigint NOT NULL,
	support				double precision NOT NULL,
	confidence			double precision NOT NULL,
	lift				double precision NOT NULL,
	conviction			double precision,
	PRIMARY KEY (product_a, product_b)
);
COMMENT ON TABLE @extschema@.product_affinity IS
	'Ordered product pairs bought together in at least min_support of the sale baskets, as of the last crm.refresh_affinity (crm.affinity_runs). Both directions of a pair are rows; support and lift are symmetric, confidence and conviction are not. Replaced atomically.';
COMMENT ON COLUMN @extschema@.product_affinity.product_a IS 'Antecedent X: the product already in the basket.';
COMMENT ON COLUMN @extschema@.product_affinity.product_b IS 'Consequent Y: the product bought with it.';
COMMENT ON COLUMN @extschema@.product_affinity.baskets_together IS 'Baskets holding both products.';
COMMENT ON COLUMN @extschema@.product_affinity.support IS 'S(X and Y): share of the counted baskets holding both, 0-1.';
COMMENT ON COLUMN @extschema@.product_affinity.confidence IS 'C(X => Y) = S(X and Y) / S(X): share of the baskets with X that also hold Y, 0-1.';
COMMENT ON COLUMN @extschema@.product_affinity.lift IS 'S(X and Y) / (S(X) S(Y)): above 1 when the two are bought together more often than by chance.';
COMMENT ON COLUMN @extschema@.product_affinity.conviction IS '(1 - S(Y)) / (1 - C(X => Y)); NULL when the confidence is 1 (conviction is infinite then).';

CREATE TABLE @extschema@.affinity_runs (
	run_id				bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	started_at			timestamptz NOT NULL,
	finished_at			timestamptz NOT NULL,
	min_support			double precision NOT NULL,
	max_basket_items	integer NOT NULL,
	baskets				bigint NOT NULL,
	skipped_baskets		bigint NOT NULL,
	pairs				bigint NOT NULL
);
COMMENT ON TABLE @extschema@.affinity_runs IS
	'One row per successful crm.refresh_affinity, committed with the pairs it published.';
COMMENT ON COLUMN @extschema@.affinity_runs.run_id IS 'Run number, increasing.';
COMMENT ON COLUMN @extschema@.affinity_runs.started_at IS 'When the run was called.';
COMMENT ON COLUMN @extschema@.affinity_runs.finished_at IS 'When the pairs were written.';
COMMENT ON COLUMN @extschema@.affinity_runs.min_support IS 'Smallest pair support kept.';
COMMENT ON COLUMN @extschema@.affinity_runs.max_basket_items IS 'Baskets with more distinct products were skipped.';
COMMENT ON COLUMN @extschema@.affinity_runs.baskets IS 'Sale baskets counted (N, the denominator of every support).';
COMMENT ON COLUMN @extschema@.affinity_runs.skipped_baskets IS 'Sale baskets skipped for having more than max_basket_items distinct products.';
COMMENT ON COLUMN @extschema@.affinity_runs.pairs IS 'Ordered pairs written to crm.product_affinity (twice the unordered pairs).';

-- What to push to each segment next: products its customers are drawn to
-- through the affinity table and that most of them have not bought yet.
CREATE VIEW @extschema@.segment_next_best AS
WITH segment_sizes AS (
	SELECT cs.segment, count(*) AS customers
	FROM @extschema@.customer_segments AS cs
	WHERE cs.segment IS NOT NULL
	GROUP BY cs.segment
), affinity_products AS (
	SELECT a.product_a AS product_id FROM @extschema@.product_affinity AS a
	UNION
	SELECT a.product_b FROM @extschema@.product_affinity AS a
), segment_products AS (
	-- Only products of the affinity table are ever looked up below: counting
	-- the others' buyers was most of the work (and its estimated cost made
	-- the planner JIT-compile the query, which took longer still).
	SELECT cs.segment, b.product_id, count(DISTINCT b.customer_id)::double precision / sz.customers AS buyer_share
	FROM @extschema@.basket_items AS b
	JOIN @extschema@.customer_segments AS cs ON cs.customer_id = b.customer_id
	JOIN segment_sizes AS sz ON sz.segment = cs.segment
	WHERE b.product_id IN (SELECT ap.product_id FROM affinity_products AS ap)
	GROUP BY cs.segment, b.product_id, sz.customers
), pull AS (
	SELECT sp.segment, a.product_b AS product_id, sum(sp.buyer_share * a.confidence) AS pull
	FROM segment_products AS sp
	JOIN @extschema@.product_affinity AS a ON a.product_a = sp.product_id
	GROUP BY sp.segment, a.product_b
), scored AS (
	SELECT p.segment, p.product_id, p.pull, coalesce(sp.buyer_share, 0) AS buyer_share,
		   p.pull * (1 - coalesce(sp.buyer_share, 0)) AS score
	FROM pull AS p
	LEFT JOIN segment_products AS sp ON sp.segment = p.segment AND sp.product_id = p.product_id
), ranked AS (
	SELECT s.*, row_number() OVER (PARTITION BY s.segment ORDER BY s.score DESC, s.product_id) AS rank
	FROM scored AS s
	WHERE s.score > 0
)
SELECT r.segment, r.rank, r.product_id, r.score, r.pull, r.buyer_share
FROM ranked AS r
WHERE r.rank <= 10;
COMMENT ON VIEW @extschema@.segment_next_best IS
	'Ten next-best products per segment: pull = sum over products X of (share of the segment''s customers who bought X) x confidence(X => Y), score = pull x (1 - share who already bought Y). From crm.customer_segments and crm.product_affinity as last refreshed.';
COMMENT ON COLUMN @extschema@.segment_next_best.segment IS 'Segment (crm.customer_segments.segment).';
COMMENT ON COLUMN @extschema@.segment_next_best.rank IS '1 = best; ties go to the product id.';
COMMENT ON COLUMN @extschema@.segment_next_best.product_id IS 'Product to offer.';
COMMENT ON COLUMN @extschema@.segment_next_best.score IS 'pull x (1 - buyer_share): affinity pull on the customers who have not bought the product yet.';
COMMENT ON COLUMN @extschema@.segment_next_best.pull IS 'Sum over products X of the share of the segment who bought X times confidence(X => product).';
COMMENT ON COLUMN @extschema@.segment_next_best.buyer_share IS 'Share of the segment''s customers who already bought the product, 0-1.';

-- Rights and dump registration of the objects above.
GRANT SELECT ON @extschema@.product_affinity, @extschema@.affinity_runs, @extschema@.segment_next_best
TO crm_analyst;
GRANT SELECT, INSERT, UPDATE, DELETE, TRUNCATE ON
	@extschema@.product_affinity, @extschema@.affinity_runs, @extschema@.segment_next_best
TO crm_admin;
GRANT USAGE, SELECT ON SEQUENCE @extschema@.affinity_runs_run_id_seq TO crm_admin;
SELECT pg_catalog.pg_extension_config_dump('@extschema@.product_affinity', '');
SELECT pg_catalog.pg_extension_config_dump('@extschema@.affinity_runs', '');
SELECT pg_catalog.pg_extension_config_dump('@extschema@.affinity_runs_run_id_seq', '');
