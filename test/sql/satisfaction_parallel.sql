-- The satisfaction aggregates in parallel plans: workers build partial
-- states, the combine functions merge them; results must equal the serial
-- ones exactly (the states hold integers only).
\i test/fixtures/extension.sql
SET extra_float_digits = 3;

CREATE TABLE sat_par AS
SELECT i % 500 AS customer_id,
	   1 + i % 8 AS dimension_no,
	   (1 + i % 8) * 0.125 AS dimension_weight,
	   CASE WHEN i % 3 = 0 THEN (i * 7) % 11 ELSE 1 + (i * 13) % 5 END AS score,
	   CASE WHEN i % 3 = 0 THEN 0 ELSE 1 END AS scale_min,
	   CASE WHEN i % 3 = 0 THEN 10 ELSE 5 END AS scale_max,
	   0.5 + (i % 17) / 7.0 AS weight,
	   (i * 7) % 11 AS nps_score,
	   1 + (i * 3) % 7 AS ces_score,
	   CASE WHEN i % 101 = 0 THEN NULL ELSE 1 + (i * 13) % 5 END AS csat_score
FROM generate_series(1, 200000) AS i;
ANALYZE sat_par;

-- every aggregate, over all rows and per customer
CREATE VIEW sat_all AS
SELECT crm.satisfaction_index(score, scale_min, scale_max) AS si,
	   crm.satisfaction_index(score, scale_min, scale_max, weight) AS siw,
	   crm.multi_dimension_index(dimension_no, dimension_weight, score, scale_min, scale_max) AS mdi,
	   crm.nps(nps_score) AS nps, crm.csat(csat_score, 5) AS csat, crm.ces(ces_score) AS ces
FROM sat_par;
CREATE VIEW sat_grouped AS
SELECT customer_id,
	   crm.satisfaction_index(score, scale_min, scale_max) AS si,
	   crm.satisfaction_index(score, scale_min, scale_max, weight) AS siw,
	   crm.multi_dimension_index(dimension_no, dimension_weight, score, scale_min, scale_max) AS mdi,
	   crm.nps(nps_score) AS nps, crm.csat(csat_score, 5) AS csat, crm.ces(ces_score) AS ces
FROM sat_par GROUP BY customer_id;

-- serial results first
SET max_parallel_workers_per_gather = 0;
CREATE TEMP TABLE sat_serial_all AS SELECT * FROM sat_all;
CREATE TEMP TABLE sat_serial AS SELECT * FROM sat_grouped;

SET parallel_setup_cost = 0;
SET parallel_tuple_cost = 0;
SET min_parallel_table_scan_size = 0;
SET max_parallel_workers_per_gather = 2;
SET parallel_leader_participation = off;

-- ungrouped: one state per worker, combined by Finalize Aggregate
EXPLAIN (COSTS OFF) SELECT * FROM sat_all;
CREATE TEMP TABLE sat_parallel_all AS SELECT * FROM sat_all;
SELECT (SELECT count(*) FROM (SELECT * FROM sat_parallel_all EXCEPT SELECT * FROM sat_serial_all) AS d) AS differences;
-- the serial values themselves, with plain SQL beside them
SELECT round(s.si::numeric, 6) AS si, round(s.siw::numeric, 6) AS siw, round(s.mdi::numeric, 6) AS mdi,
	   (s.nps).nps, (s.nps).responses, round(s.csat::numeric, 6) AS csat,
	   round((s.ces).ces_mean::numeric, 6) AS ces_mean, round((s.ces).agree_pct::numeric, 6) AS ces_agree
FROM sat_serial_all AS s;
SELECT round(avg((score - scale_min)::numeric / (scale_max - scale_min)) * 100, 6) AS plain_si,
	   round((sum(weight * (score - scale_min) / (scale_max - scale_min)) / sum(weight) * 100)::numeric, 6) AS plain_siw,
	   round(100.0 * (count(*) FILTER (WHERE nps_score >= 9) - count(*) FILTER (WHERE nps_score <= 6)) / count(*), 6) AS plain_nps,
	   round(100.0 * count(*) FILTER (WHERE csat_score >= 4) / count(csat_score), 6) AS plain_csat,
	   round(avg(ces_score), 6) AS plain_ces_mean
FROM sat_par;

-- grouped, sorted partial aggregation
SET enable_hashagg = off;
EXPLAIN (COSTS OFF) SELECT * FROM sat_grouped;
CREATE TEMP TABLE sat_parallel AS SELECT * FROM sat_grouped;
SELECT count(*) AS groups FROM sat_parallel;
SELECT * FROM sat_parallel EXCEPT SELECT * FROM sat_serial;
SELECT * FROM sat_serial EXCEPT SELECT * FROM sat_parallel;

-- grouped, hashed partial aggregation
RESET enable_hashagg;
SET enable_sort = off;
EXPLAIN (COSTS OFF) SELECT * FROM sat_grouped;
DROP TABLE sat_parallel;
CREATE TEMP TABLE sat_parallel AS SELECT * FROM sat_grouped;
SELECT * FROM sat_parallel EXCEPT SELECT * FROM sat_serial;
SELECT * FROM sat_serial EXCEPT SELECT * FROM sat_parallel;

-- a group of empty partial states: no answer reaches any worker
EXPLAIN (COSTS OFF)
SELECT crm.nps(NULL::integer), crm.satisfaction_index(NULL, scale_min, scale_max) FROM sat_par;
SELECT crm.nps(NULL::integer), crm.satisfaction_index(NULL, scale_min, scale_max),
	   crm.multi_dimension_index(dimension_no, dimension_weight, NULL, scale_min, scale_max)
FROM sat_par;
SELECT crm.nps(nps_score), crm.satisfaction_index(score, scale_min, scale_max) FROM sat_par WHERE customer_id < 0;

RESET enable_sort;
RESET parallel_leader_participation;
RESET max_parallel_workers_per_gather;
RESET min_parallel_table_scan_size;
RESET parallel_tuple_cost;
RESET parallel_setup_cost;
DROP VIEW sat_all, sat_grouped;
DROP TABLE sat_par;
