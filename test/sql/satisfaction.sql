-- Satisfaction aggregates (satisfaction_index, multi_dimension_index, nps,
-- csat, ces), their bad inputs and states, and the survey BI views.  Every
-- expected value is worked out by hand in the comment above it.
\i test/fixtures/extension.sql
SET timezone = 'UTC';
SET extra_float_digits = 0;
\set SHOW_CONTEXT never

-- Malformed states all raise 22P03 "invalid ... state"; the detail says
-- which check caught them.
CREATE FUNCTION pg_temp.state_error_of(statement text, OUT state text, OUT detail text)
LANGUAGE plpgsql AS $$
BEGIN
	EXECUTE statement;
	state := 'no error';
EXCEPTION WHEN OTHERS THEN
	GET STACKED DIAGNOSTICS state = RETURNED_SQLSTATE, detail = PG_EXCEPTION_DETAIL;
END
$$;

-- satisfaction_index ------------------------------------------------------

-- 1, 5 and 3 on 1-5 rescale to 0, 1 and 0.5: index 50
SELECT crm.satisfaction_index(s, 1, 5) FROM (VALUES (1), (5), (3)) AS v (s);
-- 4 on 1-5 is 0.75, 7 on 0-10 is 0.7: index 72.5 (raw mean 5.5 would mean nothing)
SELECT crm.satisfaction_index(s, lo, hi) FROM (VALUES (4, 1, 5), (7, 0, 10)) AS v (s, lo, hi);
-- weights 3 and 1 on answers 1.0 and 0.0: (3 * 1 + 1 * 0) / 4 = 75
SELECT crm.satisfaction_index(s, 1, 5, w) FROM (VALUES (5, 3), (1, 1)) AS v (s, w);
-- fractional scores and scales: 2.5 on 1-4 is 0.5, -1 on -2..2 is 0.25: 37.5
SELECT crm.satisfaction_index(s, lo, hi) FROM (VALUES (2.5, 1, 4), (-1, -2, 2)) AS v (s, lo, hi);
-- 2 on 1-4 is 1/3, kept to 9 decimals: 33.3333333
SELECT round(crm.satisfaction_index(2, 1, 4)::numeric, 7);
-- NULL scores are unanswered questions, skipped like avg() skips NULLs: 100
SELECT crm.satisfaction_index(s, 1, 5) FROM (VALUES (NULL), (5)) AS v (s);
-- no rows, and only NULL scores: NULL
SELECT crm.satisfaction_index(1, 1, 5) WHERE false;
SELECT crm.satisfaction_index(NULL, 1, 5);
SELECT crm.satisfaction_index(NULL, NULL, NULL, NULL);
-- the ends of the weight range: 1e-9 and 1e9 on 0 and 1: 1e9 / (1e9 + 1e-9) * 100
SELECT round(crm.satisfaction_index(s, 0, 1, w)::numeric, 9) FROM (VALUES (0, 1e-9), (1, 1e9)) AS v (s, w);
-- as a window function: the running index after each answer (the final
-- function runs once per row and must leave the state alone): 100, 50, 50, 62.5
SELECT i, s, crm.satisfaction_index(s, 1, 5) OVER (ORDER BY i) FROM (VALUES (1, 5), (2, 1), (3, 3), (4, 5)) AS v (i, s);
-- the same as plain SQL over a bigger group
SELECT round(crm.satisfaction_index(i % 7, 0, 6, 1 + i % 3)::numeric, 6) AS aggregate,
	   round((sum((i % 7) / 6.0 * (1 + i % 3)) / sum(1 + i % 3) * 100)::numeric, 6) AS plain_sql
FROM generate_series(1, 1000) AS i;

-- bad input: each fails with SQLSTATE, message and hint
SELECT * FROM public.error_of($$SELECT crm.satisfaction_index(6, 1, 5)$$);
SELECT * FROM public.error_of($$SELECT crm.satisfaction_index(0.99, 1, 5)$$);
SELECT * FROM public.error_of($$SELECT crm.satisfaction_index(3, 3, 3)$$);
SELECT * FROM public.error_of($$SELECT crm.satisfaction_index(3, 5, 1)$$);
SELECT * FROM public.error_of($$SELECT crm.satisfaction_index('NaN', 1, 5)$$);
SELECT * FROM public.error_of($$SELECT crm.satisfaction_index(3, 1, 'Infinity')$$);
SELECT * FROM public.error_of($$SELECT crm.satisfaction_index(3, '-Infinity', 5)$$);
SELECT * FROM public.error_of($$SELECT crm.satisfaction_index(0, -1e308, 1e308)$$);
SELECT * FROM public.error_of($$SELECT crm.satisfaction_index(3, NULL, 5)$$);
SELECT * FROM public.error_of($$SELECT crm.satisfaction_index(3, 1, NULL)$$);
SELECT * FROM public.error_of($$SELECT crm.satisfaction_index(3, 1, 5, NULL)$$);
SELECT * FROM public.error_of($$SELECT crm.satisfaction_index(3, 1, 5, 0)$$);
SELECT * FROM public.error_of($$SELECT crm.satisfaction_index(3, 1, 5, -1)$$);
SELECT * FROM public.error_of($$SELECT crm.satisfaction_index(3, 1, 5, 2e9)$$);
SELECT * FROM public.error_of($$SELECT crm.satisfaction_index(3, 1, 5, 'NaN')$$);

-- support functions called directly: empty states combine to an empty
-- state (NULL index); a combined pair equals the group; inputs are never
-- modified; malformed states are refused with 22P03
SELECT crm.satisfaction_index_final(crm.satisfaction_index_combine(
	crm.satisfaction_index_accum(NULL, NULL, NULL, NULL),
	crm.satisfaction_index_accum(NULL, NULL, NULL, NULL))) AS empty_combined;
SELECT crm.satisfaction_index_final(crm.satisfaction_index_combine(
	crm.satisfaction_index_accum(NULL, 5, 1, 5),
	crm.satisfaction_index_accum(NULL, NULL, NULL, NULL))) AS one_side_empty;
SELECT crm.satisfaction_index_final(crm.satisfaction_index_combine(
	crm.satisfaction_index_accum(NULL, 5, 1, 5),
	crm.satisfaction_index_accum(NULL, 1, 1, 5, 3))) AS combined;
WITH s AS (SELECT crm.satisfaction_index_accum(NULL, 5, 1, 5) AS st)
SELECT crm.satisfaction_index_final(crm.satisfaction_index_accum(st, 1, 1, 5)) AS after_second,
	   crm.satisfaction_index_final(st) AS input_unchanged
FROM s;
SELECT * FROM public.error_of($$SELECT crm.satisfaction_index_final('\x00'::bytea)$$);
SELECT * FROM pg_temp.state_error_of($$SELECT crm.satisfaction_index_final(pg_catalog.decode(repeat('00', 44), 'hex'))$$);
SELECT * FROM pg_temp.state_error_of($$SELECT crm.satisfaction_index_final(crm.nps_accum(NULL, 9))$$);
SELECT * FROM pg_temp.state_error_of($$SELECT crm.satisfaction_index_combine(crm.satisfaction_index_accum(NULL, 5, 1, 5), '\x01'::bytea)$$);
-- a negative answer count (bytes 5-12 of the bytea; x86-64 byte order)
SELECT * FROM pg_temp.state_error_of($$SELECT crm.satisfaction_index_final(overlay(crm.satisfaction_index_accum(NULL, 5, 1, 5) PLACING '\xffffffffffffffff'::bytea FROM 5 FOR 8))$$);

-- a weighted sum above weight sum * 1e9 (bytes 29-44 hold it)
SELECT * FROM pg_temp.state_error_of($$SELECT crm.satisfaction_index_final(overlay(crm.satisfaction_index_accum(NULL, 5, 1, 5) PLACING '\xffffffffffffff7f'::bytea FROM 29 FOR 8))$$);

-- multi_dimension_index -----------------------------------------------------

-- dimension 1 (weight 0.5): 5 and 3 on 1-5 are 1 and 0.5, index 75;
-- dimension 2 (weight 0.5): 0 on 0-10, index 0; overall (0.5 * 75 + 0.5 * 0) / 1 = 37.5
SELECT crm.multi_dimension_index(d, w, s, lo, hi)
FROM (VALUES (1, 0.5, 5, 1, 5), (1, 0.5, 3, 1, 5), (2, 0.5, 0, 0, 10)) AS v (d, w, s, lo, hi);
-- dimension 2 unanswered: the weights renormalise over dimension 1 alone: 75
SELECT crm.multi_dimension_index(d, w, s, lo, hi)
FROM (VALUES (1, 0.5, 5, 1, 5), (1, 0.5, 3, 1, 5), (2, 0.5, NULL, 0, 10)) AS v (d, w, s, lo, hi);
-- a dimension of weight 0 is left out: still 37.5
SELECT crm.multi_dimension_index(d, w, s, lo, hi)
FROM (VALUES (1, 0.5, 5, 1, 5), (1, 0.5, 3, 1, 5), (2, 0.5, 0, 0, 10), (3, 0, 10, 0, 10)) AS v (d, w, s, lo, hi);
-- only dimensions of weight 0 answered, or nothing: NULL
SELECT crm.multi_dimension_index(3, 0, 10, 0, 10);
SELECT crm.multi_dimension_index(1, 1, 1, 1, 5) WHERE false;
-- the default weights: product_quality 5/5 = 100 (0.25), service_quality
-- 3/5 = 50 (0.20), store_environment 1/5 = 0 (0.10), overall 4/5 = 75
-- (0.20), price and after-sales unanswered:
-- (25 + 10 + 0 + 15) / 0.75 = 66.67
SELECT round(crm.multi_dimension_index(d.dimension_no, d.weight, v.s, 1, 5)::numeric, 2)
FROM (VALUES ('product_quality', 5), ('service_quality', 3), ('store_environment', 1), ('overall', 4)) AS v (dimension, s)
JOIN crm.satisfaction_dimensions AS d USING (dimension);
-- bad input
SELECT * FROM public.error_of($$SELECT crm.multi_dimension_index(d, w, 3, 1, 5) FROM (VALUES (1, 0.5), (1, 0.25)) AS v (d, w)$$);
SELECT * FROM public.error_of($$SELECT crm.multi_dimension_index(0, 1, 3, 1, 5)$$);
SELECT * FROM public.error_of($$SELECT crm.multi_dimension_index(33, 1, 3, 1, 5)$$);
SELECT * FROM public.error_of($$SELECT crm.multi_dimension_index(NULL, 1, 3, 1, 5)$$);
SELECT * FROM public.error_of($$SELECT crm.multi_dimension_index(1, NULL, 3, 1, 5)$$);
SELECT * FROM public.error_of($$SELECT crm.multi_dimension_index(1, -0.5, 3, 1, 5)$$);
SELECT * FROM public.error_of($$SELECT crm.multi_dimension_index(1, 1e-12, 3, 1, 5)$$);
SELECT * FROM public.error_of($$SELECT crm.multi_dimension_index(1, 1, 7, 1, 5)$$);
SELECT * FROM public.error_of($$SELECT crm.multi_dimension_index(1, 1, 3, 5, 5)$$);
-- states: empty pairs, mismatched weights across partial states, malformed
-- (byte 3 of a state is its version)
SELECT crm.multi_dimension_index_final(crm.multi_dimension_index_combine(
	crm.multi_dimension_index_accum(NULL, NULL, NULL, NULL, NULL, NULL),
	crm.multi_dimension_index_accum(NULL, NULL, NULL, NULL, NULL, NULL))) AS empty_combined;
SELECT crm.multi_dimension_index_final(crm.multi_dimension_index_combine(
	crm.multi_dimension_index_accum(NULL, 1, 0.5, 5, 1, 5),
	crm.multi_dimension_index_accum(NULL, 2, 0.5, 0, 0, 10))) AS combined;
SELECT * FROM public.error_of($$SELECT crm.multi_dimension_index_combine(
	crm.multi_dimension_index_accum(NULL, 1, 0.5, 5, 1, 5),
	crm.multi_dimension_index_accum(NULL, 1, 0.25, 5, 1, 5))$$);
SELECT * FROM pg_temp.state_error_of($$SELECT crm.multi_dimension_index_final(crm.satisfaction_index_accum(NULL, 5, 1, 5))$$);
SELECT * FROM pg_temp.state_error_of($$SELECT crm.multi_dimension_index_final(overlay(crm.multi_dimension_index_accum(NULL, 1, 0.5, 5, 1, 5) PLACING '\x02'::bytea FROM 3 FOR 1))$$);

-- nps ------------------------------------------------------------------------

-- 10 9 9 10 promoters, 8 7 passives, 6 0 5 3 detractors: p = d = 0.4,
-- NPS 0; SE = 100 * sqrt((0.4 + 0.4 - 0) / 10) = 28.28; CI 0 -/+ 55.44
SELECT nps, promoters, passives, detractors, responses,
	   round(std_error::numeric, 4) AS std_error, round(ci_low::numeric, 2) AS ci_low, round(ci_high::numeric, 2) AS ci_high
FROM (SELECT (crm.nps(s)).* FROM (VALUES (10), (9), (9), (8), (7), (6), (0), (5), (10), (3), (NULL)) AS v (s)) AS r;
-- 3 promoters of 4: NPS 75, p = 0.75, d = 0: SE = 100 * sqrt((0.75 - 0.5625) / 4) = 21.65
SELECT (r).nps, round((r).std_error::numeric, 4) AS std_error, round((r).ci_low::numeric, 2) AS ci_low, round((r).ci_high::numeric, 2) AS ci_high
FROM (SELECT crm.nps(s) AS r FROM (VALUES (9), (10), (10), (8)) AS v (s)) AS q;
-- one promoter and one detractor: SE = 100 * sqrt(1 / 2) = 70.71; the
-- interval 0 -/+ 138.59 is clipped to -100..100
SELECT (crm.nps(s)).* FROM (VALUES (10), (0)) AS v (s);
-- all promoters: NPS 100, SE 0
SELECT (crm.nps(s)).* FROM (VALUES (10), (9), (9)) AS v (s);
-- no answers: NULL
SELECT crm.nps(s) IS NULL AS is_null FROM (VALUES (NULL::integer)) AS v (s);
SELECT crm.nps(1) IS NULL AS is_null WHERE false;
-- the same as plain SQL
SELECT round((r).nps::numeric, 6) AS nps, round((r).std_error::numeric, 6) AS std_error,
	   round(100 * (p - d), 6) AS plain_nps, round(100 * sqrt((p + d - (p - d) ^ 2) / n), 6) AS plain_se
FROM (SELECT crm.nps(i % 11) AS r,
			 avg((i % 11 >= 9)::int) AS p, avg((i % 11 <= 6)::int) AS d, count(*) AS n
	  FROM generate_series(1, 997) AS i) AS q;
SELECT * FROM public.error_of($$SELECT crm.nps(11)$$);
SELECT * FROM public.error_of($$SELECT crm.nps(-1)$$);

-- csat and ces ------------------------------------------------------------------

-- 5 and 4 of 5, 3 and 1 below: CSAT 50
SELECT crm.csat(s, 5) FROM (VALUES (5), (4), (3), (1), (NULL)) AS v (s);
-- each answer on its own scale: 9 of 10 is top-2, 8 of 10 is not: 50
SELECT crm.csat(s, m) FROM (VALUES (9, 10), (8, 10)) AS v (s, m);
SELECT crm.csat(s, 5) IS NULL AS is_null FROM (VALUES (NULL::integer)) AS v (s);
SELECT * FROM public.error_of($$SELECT crm.csat(3, 2)$$);
SELECT * FROM public.error_of($$SELECT crm.csat(3, 101)$$);
SELECT * FROM public.error_of($$SELECT crm.csat(0, 5)$$);
SELECT * FROM public.error_of($$SELECT crm.csat(6, 5)$$);
SELECT * FROM public.error_of($$SELECT crm.csat(4, NULL)$$);
-- 7, 5, 4, 1: mean 17 / 4 = 4.25, agree (5-7) 2 of 4 = 50 %
SELECT (crm.ces(s)).* FROM (VALUES (7), (5), (4), (1), (NULL)) AS v (s);
SELECT crm.ces(s) IS NULL AS is_null FROM (VALUES (NULL::integer)) AS v (s);
SELECT * FROM public.error_of($$SELECT crm.ces(0)$$);
SELECT * FROM public.error_of($$SELECT crm.ces(8)$$);

-- the shared counting state: empty pairs, kinds kept apart, malformed states
SELECT crm.nps_final(crm.survey_counts_combine(crm.nps_accum(NULL, NULL), crm.nps_accum(NULL, NULL))) IS NULL AS empty_nps;
SELECT crm.csat_final(crm.survey_counts_combine(crm.csat_accum(NULL, 5, 5), crm.csat_accum(NULL, 1, 5))) AS csat_combined;
SELECT (crm.ces_final(crm.survey_counts_combine(crm.ces_accum(NULL, 7), crm.ces_accum(NULL, 2)))).* ;
SELECT * FROM pg_temp.state_error_of($$SELECT crm.survey_counts_combine(crm.nps_accum(NULL, 9), crm.csat_accum(NULL, 5, 5))$$);
SELECT * FROM pg_temp.state_error_of($$SELECT crm.nps_final(crm.csat_accum(NULL, 5, 5))$$);
SELECT * FROM pg_temp.state_error_of($$SELECT crm.nps_accum(crm.ces_accum(NULL, 5), 9)$$);
SELECT * FROM pg_temp.state_error_of($$SELECT crm.csat_final('\x'::bytea)$$);
-- promoters (bytes 13-20) overwritten to 5 while 1 answer was counted
SELECT * FROM pg_temp.state_error_of($$SELECT crm.nps_final(overlay(crm.nps_accum(NULL, 9) PLACING '\x05'::bytea FROM 13 FOR 1))$$);
-- an unknown kind (byte 3)
SELECT * FROM pg_temp.state_error_of($$SELECT crm.ces_final(overlay(crm.ces_accum(NULL, 5) PLACING '\x09'::bytea FROM 3 FOR 1))$$);

-- survey tables and BI views -------------------------------------------------------

-- the table refuses what the aggregates would
SELECT * FROM public.error_of($$INSERT INTO crm.survey_responses (responded_at, dimension, score, scale_min, scale_max) VALUES ('2024-01-01', 'overall', 6, 1, 5)$$);
SELECT * FROM public.error_of($$INSERT INTO crm.survey_responses (responded_at, dimension, score, scale_min, scale_max) VALUES ('2024-01-01', 'overall', 3, 5, 5)$$);
SELECT * FROM public.error_of($$INSERT INTO crm.survey_responses (responded_at, dimension, score, scale_min, scale_max) VALUES ('2024-01-01', 'overall', 'NaN', 1, 'NaN')$$);
SELECT * FROM public.error_of($$INSERT INTO crm.survey_responses (responded_at, dimension, score, scale_min, scale_max) VALUES ('2024-01-01', 'taste', 3, 1, 5)$$);

-- January, store A: overall 5 and 3 on 1-5 (index 75), product_quality 4
-- on 1-5 (75) and 10 on 0-10 (100): 87.5; recommend 10, 9, 6.
-- January, store B: overall 1 on 1-5 (0), recommend 8.
-- February, store A: overall 4 (75), recommend 0.
INSERT INTO crm.survey_responses (customer_id, store, responded_at, dimension, score, scale_min, scale_max) VALUES
	(1, 'A', '2024-01-05', 'overall', 5, 1, 5),
	(2, 'A', '2024-01-06', 'overall', 3, 1, 5),
	(1, 'A', '2024-01-05', 'product_quality', 4, 1, 5),
	(2, 'A', '2024-01-06', 'product_quality', 10, 0, 10),
	(1, 'A', '2024-01-05', 'recommend', 10, 0, 10),
	(2, 'A', '2024-01-06', 'recommend', 9, 0, 10),
	(3, 'A', '2024-01-07', 'recommend', 6, 0, 10),
	(4, 'B', '2024-01-08', 'overall', 1, 1, 5),
	(4, 'B', '2024-01-08', 'recommend', 8, 0, 10),
	(1, 'A', '2024-02-01', 'overall', 4, 1, 5),
	(1, 'A', '2024-02-01', 'recommend', 0, 0, 10);

-- January (all stores): overall 5, 3, 1 = 1, 0.5, 0: 50; CSAT 1 of 3
SELECT * FROM crm.satisfaction_trend ORDER BY month, store, dimension;
-- January A: (0.25 * 87.5 + 0.20 * 75) / 0.45 = 81.94; B: 0;
-- all stores: overall (1 + 0.5 + 0) / 3 = 50, product_quality 87.5:
-- (0.25 * 87.5 + 0.20 * 50) / 0.45 = 70.83.  February A: 75
SELECT * FROM crm.satisfaction_index_monthly ORDER BY month, store;
-- January: 10, 9 promoters, 6 detractor, 8 passive: NPS 25,
-- SE = 100 * sqrt((0.5 + 0.25 - 0.0625) / 4) = 41.46
SELECT * FROM crm.nps_trend ORDER BY month, store;

-- Olist review scores (test/data/README.md): 300 real 1-5 answers, the
-- index and CSAT against plain SQL
CREATE TABLE olist_reviews (review_id text, order_id text, review_score integer, review_creation_date timestamp);
\copy olist_reviews FROM 'test/data/olist_review_scores.csv' WITH (FORMAT csv, HEADER true)
SELECT count(*) AS reviews,
	   round(crm.satisfaction_index(review_score, 1, 5)::numeric, 6) AS satisfaction_index,
	   round(avg((review_score - 1) / 4.0) * 100, 6) AS plain_index,
	   round(crm.csat(review_score, 5)::numeric, 6) AS csat,
	   round(100.0 * count(*) FILTER (WHERE review_score >= 4) / count(*), 6) AS plain_csat
FROM olist_reviews;
SELECT to_char(review_creation_date, 'YYYY-MM') AS month, count(*) AS reviews,
	   round(crm.satisfaction_index(review_score, 1, 5)::numeric, 2) AS satisfaction_index,
	   round(crm.csat(review_score, 5)::numeric, 2) AS csat
FROM olist_reviews
WHERE review_creation_date >= '2018-01-01'
GROUP BY 1 ORDER BY 1;

-- The index stays within 0-100 however the sums round (#16): 100,000
-- top answers of weight 1e9 gave 100.00000000000001.
SELECT crm.satisfaction_index(5, 1, 5, 1e9) AS top, crm.satisfaction_index(1, 1, 5, 1e9) AS bottom
FROM generate_series(1, 100000);
SELECT crm.multi_dimension_index(1, 1e9, 5, 1, 5) AS top FROM generate_series(1, 100000);
