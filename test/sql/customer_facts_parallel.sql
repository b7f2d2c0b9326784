-- customer_facts in parallel plans: partial states are built by workers and
-- merged by customer_facts_combine; the result must equal the serial one.
\i test/fixtures/extension.sql
SET timezone = 'UTC';
SET datestyle = 'ISO, YMD';
SET extra_float_digits = 0;

CREATE TABLE cf_par AS
SELECT i % 1000 AS customer_id,
	   timestamptz '2022-01-01 00:00+00' + ((i * 7919) % 1051200) * interval '1 minute' AS occurred_at,
	   ((i * 37) % 30001 - 3000) / 100.0 AS amount
FROM generate_series(1, 200000) i;
ANALYZE cf_par;

-- serial results first
SET max_parallel_workers_per_gather = 0;
CREATE TEMP TABLE cf_serial_all AS
SELECT crm.customer_facts(occurred_at, amount, '2023-12-01 00:00+00') AS facts FROM cf_par;
CREATE TEMP TABLE cf_serial AS
SELECT customer_id, crm.customer_facts(occurred_at, amount, '2023-12-01 00:00+00') AS facts
FROM cf_par GROUP BY customer_id;

SET parallel_setup_cost = 0;
SET parallel_tuple_cost = 0;
SET min_parallel_table_scan_size = 0;
SET max_parallel_workers_per_gather = 2;
SET parallel_leader_participation = off;

-- ungrouped: one state per worker, combined by Finalize Aggregate
EXPLAIN (COSTS OFF)
SELECT crm.customer_facts(occurred_at, amount, '2023-12-01 00:00+00') FROM cf_par;
SELECT count(*) AS differences
FROM (SELECT crm.customer_facts(occurred_at, amount, '2023-12-01 00:00+00') AS facts FROM cf_par) p
WHERE p.facts IS DISTINCT FROM (SELECT facts FROM cf_serial_all);
SELECT (facts).orders, (facts).returns, (facts).net_spend, (facts).purchase_days,
	   (facts).recency_days, (facts).tenure_days, (facts).median_gap_days, (facts).future_rows
FROM cf_serial_all;

-- grouped, sorted partial aggregation
SET enable_hashagg = off;
EXPLAIN (COSTS OFF)
SELECT customer_id, crm.customer_facts(occurred_at, amount, '2023-12-01 00:00+00')
FROM cf_par GROUP BY customer_id;
CREATE TEMP TABLE cf_parallel AS
SELECT customer_id, crm.customer_facts(occurred_at, amount, '2023-12-01 00:00+00') AS facts
FROM cf_par GROUP BY customer_id;
SELECT * FROM cf_parallel EXCEPT SELECT * FROM cf_serial;
SELECT * FROM cf_serial EXCEPT SELECT * FROM cf_parallel;

-- grouped, hashed partial aggregation
RESET enable_hashagg;
SET enable_sort = off;
EXPLAIN (COSTS OFF)
SELECT customer_id, crm.customer_facts(occurred_at, amount, '2023-12-01 00:00+00')
FROM cf_par GROUP BY customer_id;
DROP TABLE cf_parallel;
CREATE TEMP TABLE cf_parallel AS
SELECT customer_id, crm.customer_facts(occurred_at, amount, '2023-12-01 00:00+00') AS facts
FROM cf_par GROUP BY customer_id;
SELECT * FROM cf_parallel EXCEPT SELECT * FROM cf_serial;
SELECT * FROM cf_serial EXCEPT SELECT * FROM cf_parallel;
RESET enable_sort;

-- partitionwise partial aggregation runs combine even without workers:
-- each customer's rows are spread over all partitions (split by month)
SET max_parallel_workers_per_gather = 0;
SET enable_partitionwise_aggregate = on;
CREATE TABLE cf_part (customer_id int, occurred_at timestamptz, amount numeric)
	PARTITION BY RANGE (occurred_at);
CREATE TABLE cf_part_1 PARTITION OF cf_part FOR VALUES FROM (MINVALUE) TO ('2023-01-01 00:00+00');
CREATE TABLE cf_part_2 PARTITION OF cf_part FOR VALUES FROM ('2023-01-01 00:00+00') TO ('2023-07-01 00:00+00');
CREATE TABLE cf_part_3 PARTITION OF cf_part FOR VALUES FROM ('2023-07-01 00:00+00') TO (MAXVALUE);
INSERT INTO cf_part SELECT * FROM cf_par;
ANALYZE cf_part;
EXPLAIN (COSTS OFF)
SELECT customer_id, crm.customer_facts(occurred_at, amount, '2023-12-01 00:00+00')
FROM cf_part GROUP BY customer_id;
DROP TABLE cf_parallel;
CREATE TEMP TABLE cf_parallel AS
SELECT customer_id, crm.customer_facts(occurred_at, amount, '2023-12-01 00:00+00') AS facts
FROM cf_part GROUP BY customer_id;
SELECT * FROM cf_parallel EXCEPT SELECT * FROM cf_serial;
SELECT * FROM cf_serial EXCEPT SELECT * FROM cf_parallel;

RESET enable_partitionwise_aggregate;
RESET max_parallel_workers_per_gather;
RESET parallel_leader_participation;
RESET min_parallel_table_scan_size;
RESET parallel_tuple_cost;
RESET parallel_setup_cost;
DROP TABLE cf_part;
DROP TABLE cf_par;
RESET extra_float_digits;
RESET datestyle;
RESET timezone;
