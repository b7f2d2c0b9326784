-- Basket affinity (crm.basket_pairs, crm.refresh_affinity), recommendations
-- (crm.recommend) and next-best products per segment, on baskets small
-- enough to count by hand.  Everything in one transaction, rolled back at
-- the end, so that the data of earlier tests is left as it was.
\set this_test affinity
\i test/fixtures/earlier_tests.sql
SET timezone = 'UTC';
\set SHOW_CONTEXT never
SET client_min_messages = warning;

BEGIN;
-- Only this file's data.
DELETE FROM crm.transactions;
DELETE FROM crm.customer_segments;

-- No lines at all: a defined, empty result.
SELECT * FROM crm.basket_pairs('crm.basket_items', 0.1, 10);
SELECT run_id, min_support, max_basket_items, baskets, skipped_baskets, pairs
FROM crm.refresh_affinity(0.1, 10);
SELECT count(*) AS pairs FROM crm.product_affinity;

-- Six baskets count (max_basket_items = 3):
--   S1 {A,B,C}  S2 {A,B}  S3 {A,C}  S4 {B,D}  S5 {A,B,D} (A on two lines)
--   S8 {A} (its C line has a negative quantity)
-- S6 {A,B,C,D} has 4 distinct products: skipped.  R7 is a return: no basket.
-- n(A) = 5, n(B) = 4, n(C) = 2, n(D) = 2;
-- n(A,B) = 3, n(A,C) = 2, n(A,D) = 1, n(B,C) = 1, n(B,D) = 2, n(C,D) = 0.
INSERT INTO crm.customers (customer_id, joined_at) VALUES
	(901, '2024-01-01'), (902, '2024-01-01'), (903, '2024-01-01'),
	(904, '2024-01-01'), (905, '2024-01-01'), (906, '2024-01-01')
ON CONFLICT DO NOTHING;
INSERT INTO crm.transactions (transaction_id, customer_id, occurred_at, amount) VALUES
	('S1', 901, '2024-01-02', 30), ('S2', 901, '2024-01-05', 20),
	('S3', 902, '2024-01-03', 20), ('S4', 903, '2024-01-04', 20),
	('S5', 903, '2024-01-06', 40), ('S6', 905, '2024-01-07', 40),
	('R7', 901, '2024-01-08', -20), ('S8', 904, '2024-01-09', 5);
INSERT INTO crm.transaction_items (transaction_id, line_no, product_id, quantity, unit_price, customer_id)
SELECT l.transaction_id, l.line_no, l.product_id, l.quantity, l.unit_price, t.customer_id
FROM crm.transactions AS t JOIN (VALUES
	('S1', 1, 'A', 1, 10), ('S1', 2, 'B', 1, 10), ('S1', 3, 'C', 1, 10),
	('S2', 1, 'A', 1, 10), ('S2', 2, 'B', 1, 10),
	('S3', 1, 'A', 1, 10), ('S3', 2, 'C', 1, 10),
	('S4', 1, 'B', 1, 10), ('S4', 2, 'D', 1, 10),
	('S5', 1, 'A', 1, 10), ('S5', 2, 'B', 1, 10), ('S5', 3, 'D', 1, 10), ('S5', 4, 'A', 1, 10),
	('S6', 1, 'A', 1, 10), ('S6', 2, 'B', 1, 10), ('S6', 3, 'C', 1, 10), ('S6', 4, 'D', 1, 10),
	('R7', 1, 'A', -1, 10), ('R7', 2, 'B', -1, 10),
	('S8', 1, 'A', 1, 10), ('S8', 2, 'C', -1, 5))
	AS l (transaction_id, line_no, product_id, quantity, unit_price) ON l.transaction_id = t.transaction_id;

-- min_support 0.3: pairs in at least 1.8 of 6 baskets, i.e. AB, AC, BD.
--   A=>B support 3/6, confidence 3/5, lift 3*6/(5*4) = 0.9,
--        conviction (1 - 4/6)/(1 - 3/5) = 5/6
--   B=>A confidence 3/4, conviction (1 - 5/6)/(1 - 3/4) = 2/3
--   A=>C support 2/6, confidence 2/5, lift 2*6/(5*2) = 1.2, conviction (4/6)/(3/5) = 10/9
--   C=>A confidence 1: conviction NULL
--   B=>D support 2/6, confidence 2/4, lift 2*6/(4*2) = 1.5, conviction (4/6)/(1/2) = 4/3
--   D=>B confidence 1: conviction NULL
SELECT * FROM crm.basket_pairs('crm.basket_items', 0.3, 3) ORDER BY product_a NULLS FIRST, product_b;
SELECT run_id, min_support, max_basket_items, baskets, skipped_baskets, pairs
FROM crm.refresh_affinity(0.3, 3);
SELECT * FROM crm.product_affinity ORDER BY product_a, product_b;

-- The same numbers from plain SQL, independently of the C code.
CREATE TEMP TABLE plain_baskets AS
SELECT DISTINCT b.transaction_id, b.product_id
FROM crm.basket_items AS b
WHERE b.transaction_id IN (SELECT transaction_id FROM crm.basket_items GROUP BY 1
						   HAVING count(DISTINCT product_id) <= 3);
CREATE TEMP TABLE plain_pairs AS
WITH n AS (SELECT count(DISTINCT transaction_id)::float8 AS n FROM plain_baskets),
	 single AS (SELECT product_id, count(*)::float8 AS c FROM plain_baskets GROUP BY 1),
	 pair AS (SELECT x.product_id AS a, y.product_id AS b, count(*)::float8 AS c
			  FROM plain_baskets AS x JOIN plain_baskets AS y
				ON x.transaction_id = y.transaction_id AND x.product_id <> y.product_id
			  GROUP BY 1, 2)
SELECT p.a, p.b, p.c::bigint AS together, p.c / n.n AS support, p.c / sa.c AS confidence,
	   (p.c / n.n) / ((sa.c / n.n) * (sb.c / n.n)) AS lift,
	   CASE WHEN p.c < sa.c THEN (1 - sb.c / n.n) / (1 - p.c / sa.c) END AS conviction
FROM pair AS p CROSS JOIN n
JOIN single AS sa ON sa.product_id = p.a JOIN single AS sb ON sb.product_id = p.b
WHERE p.c / n.n >= 0.3;
SELECT count(*) AS differences FROM (
	(SELECT a, b, together, round(support::numeric, 12), round(confidence::numeric, 12),
			round(lift::numeric, 12), round(conviction::numeric, 12) FROM plain_pairs
	 EXCEPT
	 SELECT product_a, product_b, baskets_together, round(support::numeric, 12), round(confidence::numeric, 12),
			round(lift::numeric, 12), round(conviction::numeric, 12) FROM crm.product_affinity)
	UNION ALL
	(SELECT product_a, product_b, baskets_together, round(support::numeric, 12), round(confidence::numeric, 12),
			round(lift::numeric, 12), round(conviction::numeric, 12) FROM crm.product_affinity
	 EXCEPT
	 SELECT a, b, together, round(support::numeric, 12), round(confidence::numeric, 12),
			round(lift::numeric, 12), round(conviction::numeric, 12) FROM plain_pairs)) AS d;

-- Support at the edge: exactly 3/6 keeps A,B only (two ordered rows);
-- exactly 2/6 keeps all three pairs (inclusive, in the same division).
SELECT count(*) FILTER (WHERE product_a IS NOT NULL) AS pairs
FROM crm.basket_pairs('crm.basket_items', 0.5, 3);
SELECT count(*) FILTER (WHERE product_a IS NOT NULL) AS pairs
FROM crm.basket_pairs('crm.basket_items', 2 / 6::float8, 3);
-- A cap of 4 counts S6 too: 7 baskets, nothing skipped, AB in 4 of them.
SELECT product_a, product_b, baskets_together, support, baskets, skipped_baskets
FROM crm.basket_pairs('crm.basket_items', 0.5, 4) ORDER BY product_a NULLS FIRST, product_b;
-- Huge cap and min_support 1: pairs in every basket only (none here).
SELECT * FROM crm.basket_pairs('crm.basket_items', 1, 2147483647);

-- Any relation with transaction_id and product_id works; NULL ids are
-- ignored, duplicates count once; {P,Q} in every basket: confidence 1 both
-- ways, lift 1, conviction NULL.
CREATE TEMP TABLE lines (transaction_id text, product_id text);
INSERT INTO lines VALUES ('1', 'P'), ('1', 'Q'), ('1', NULL), ('2', 'Q'), ('2', 'P'), ('2', 'P'),
	(NULL, 'P'), (NULL, 'R'), ('3', NULL);
SELECT * FROM crm.basket_pairs('lines', 1, 2) ORDER BY product_a NULLS FIRST, product_b;
TRUNCATE lines;
SELECT * FROM crm.basket_pairs('lines', 0.5, 2);
-- A basket is its id's text, whatever the type: numeric 1.0 and 1.00 are
-- equal but two baskets, {P,Q,R} and {Q,R}, though their lines interleave.
CREATE TEMP TABLE numeric_lines (transaction_id numeric, product_id text);
INSERT INTO numeric_lines VALUES (1.0, 'P'), (1.00, 'Q'), (1.0, 'Q'), (1.00, 'R'), (1.0, 'R');
SELECT * FROM crm.basket_pairs('numeric_lines', 1, 3) ORDER BY product_a NULLS FIRST, product_b;

-- Bad input: a clear error each, the published pairs untouched.
SELECT * FROM public.error_of($$SELECT * FROM crm.basket_pairs('crm.basket_items', NULL, 3)$$);
SELECT * FROM public.error_of($$SELECT * FROM crm.basket_pairs('crm.basket_items', 0.3, NULL)$$);
SELECT * FROM public.error_of($$SELECT * FROM crm.basket_pairs(NULL, 0.3, 3)$$);
SELECT * FROM public.error_of($$SELECT * FROM crm.basket_pairs('crm.basket_items', 0, 3)$$);
SELECT * FROM public.error_of($$SELECT * FROM crm.basket_pairs('crm.basket_items', -0.1, 3)$$);
SELECT * FROM public.error_of($$SELECT * FROM crm.basket_pairs('crm.basket_items', 1.5, 3)$$);
SELECT * FROM public.error_of($$SELECT * FROM crm.basket_pairs('crm.basket_items', 'NaN', 3)$$);
SELECT * FROM public.error_of($$SELECT * FROM crm.basket_pairs('crm.basket_items', 'Infinity', 3)$$);
SELECT * FROM public.error_of($$SELECT * FROM crm.basket_pairs('crm.basket_items', '-Infinity', 3)$$);
SELECT * FROM public.error_of($$SELECT * FROM crm.basket_pairs('crm.basket_items', 0.3, 1)$$);
SELECT * FROM public.error_of($$SELECT * FROM crm.basket_pairs('crm.basket_items', 0.3, 0)$$);
SELECT * FROM public.error_of($$SELECT * FROM crm.basket_pairs('crm.basket_items', 0.3, -5)$$);
SELECT * FROM public.error_of($$SELECT * FROM crm.basket_pairs('crm.customers', 0.3, 3)$$);
SELECT * FROM public.error_of($$SELECT crm.refresh_affinity(NULL, 3)$$);
SELECT * FROM public.error_of($$SELECT crm.refresh_affinity('NaN', 3)$$);
SELECT * FROM public.error_of($$SELECT crm.refresh_affinity(0.3, 1)$$);
SELECT count(*) AS pairs_still_published FROM crm.product_affinity;
SELECT run_id, baskets, skipped_baskets, pairs FROM crm.affinity_runs ORDER BY run_id;

-- Recommendations.  Segments: 901, 902, 904 Champions; 903, 905 Lost; 906
-- none (no purchase).  Buyers in crm.basket_items: 901 {A,B,C}, 902 {A,C},
-- 903 {A,B,D}, 904 {A}, 905 {A,B,C,D} (its basket only skipped by the cap).
-- The view shows the published snapshot; rows go into its partition.
INSERT INTO crm.segment_snapshots (snapshot_id, customer_id, as_of, run_id, frequency, monetary, returns, segment, lifecycle_stage)
SELECT p.snapshot_id, v.* FROM crm.published_snapshot AS p, (VALUES
	(901, timestamptz '2024-02-01', 0, 2, 30, 1, 'Champions', 'active'),
	(902, '2024-02-01', 0, 1, 20, 0, 'Champions', 'active'),
	(903, '2024-02-01', 0, 2, 60, 0, 'Lost', 'lost'),
	(904, '2024-02-01', 0, 1, 5, 0, 'Champions', 'new'),
	(905, '2024-02-01', 0, 1, 40, 0, 'Lost', 'lost'),
	(906, '2024-02-01', 0, 0, 0, 0, NULL, 'prospect')) AS v;
-- 904 bought A: B 0.6 and C 0.4 by confidence, then D from the best
-- sellers (its segment bought only A, B, C; 2 of 5 buyers bought D).
SELECT * FROM crm.recommend(904, 5);
-- 902 bought A and C: B 0.6 (C=>A goes to A, bought); D overall 2/5.
SELECT * FROM crm.recommend(902, 3);
-- 903 bought A, B, D: C 0.4 (B=>A, D=>B lead to bought products).
SELECT * FROM crm.recommend(903, 2);
-- 906 bought nothing: best sellers; B and C tie at 3/5, B first by id.
SELECT * FROM crm.recommend(906, 5);
SELECT * FROM crm.recommend(906, 1);
SELECT * FROM public.error_of($$SELECT * FROM crm.recommend(NULL, 3)$$);
SELECT * FROM public.error_of($$SELECT * FROM crm.recommend(901, NULL)$$);
SELECT * FROM public.error_of($$SELECT * FROM crm.recommend(901, 0)$$);
SELECT * FROM public.error_of($$SELECT * FROM crm.recommend(901, -1)$$);
SELECT * FROM public.error_of($$SELECT * FROM crm.recommend(999999, 3)$$);

-- Next-best products per segment.  Champions (901, 902, 904) bought
-- A 3/3, B 1/3, C 2/3: pull(B) = 1*0.6, score 0.6*(1 - 1/3) = 0.4;
-- pull(D) = 1/3*0.5, score 1/6; pull(C) = 1*0.4, score 0.4/3; A all bought.
-- Lost (903, 905) bought A, B, D 2/2 and C 1/2: pull(C) = 0.4, score 0.2.
SELECT segment, rank, product_id, round(score::numeric, 4) AS score, round(pull::numeric, 4) AS pull,
	   round(buyer_share::numeric, 4) AS buyer_share
FROM crm.segment_next_best ORDER BY segment, rank;

-- Roles: analysts read the pairs, not the purchase lines; marketers get
-- recommendations; only admins refresh.
SET ROLE crm_analyst;
SELECT count(*) AS analyst_reads_pairs FROM crm.product_affinity;
SELECT count(*) AS analyst_reads_next_best FROM crm.segment_next_best;
SELECT * FROM public.error_of($$SELECT count(*) FROM crm.basket_items$$);
SELECT * FROM public.error_of($$SELECT * FROM crm.recommend(904, 1)$$);
SELECT * FROM public.error_of($$SELECT crm.refresh_affinity(0.3, 3)$$);
RESET ROLE;
SET ROLE crm_marketer;
SELECT * FROM crm.recommend(904, 1);
SELECT * FROM public.error_of($$SELECT crm.refresh_affinity(0.3, 3)$$);
RESET ROLE;
SET ROLE crm_admin;
SELECT baskets, skipped_baskets, pairs FROM crm.refresh_affinity(0.3, 3);
SELECT count(*) AS admin_reads_lines FROM crm.basket_items;
RESET ROLE;

-- Anonymous baskets count like the others (N1 {C,D}: n(C,D) becomes 1 in 7
-- baskets); a line belongs to its order's basket whatever customer it is
-- filed under (S2's D line, filed under 902, makes S2 {A,B,D}: n(B,D) 3).
INSERT INTO crm.anonymous_transactions (transaction_id, occurred_at, amount) VALUES ('N1', '2024-01-10', 15);
INSERT INTO crm.anonymous_transaction_items (transaction_id, line_no, product_id, quantity, unit_price)
VALUES ('N1', 1, 'C', 1, 5), ('N1', 2, 'D', 1, 10);
INSERT INTO crm.transaction_items (transaction_id, line_no, product_id, quantity, unit_price, customer_id)
VALUES ('S2', 3, 'D', 1, 10, 902);
SELECT transaction_id, customer_id, product_id FROM crm.basket_items WHERE transaction_id IN ('N1', 'S2') ORDER BY 1, 3;
SELECT baskets, skipped_baskets FROM crm.refresh_affinity(0.1, 3);
SELECT product_a, product_b, baskets_together FROM crm.product_affinity WHERE (product_a, product_b) IN (('C', 'D'), ('B', 'D')) ORDER BY 1;
ROLLBACK;

RESET client_min_messages;
RESET timezone;
