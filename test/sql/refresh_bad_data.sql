-- Bad data reaching the refresh: each case fails with SQLSTATE, message and
-- hint and is logged, or has a defined result. The previous snapshot survives.
\set this_test refresh_bad_data
\i test/fixtures/earlier_tests.sql
SET timezone = 'UTC';
\set SHOW_CONTEXT never
SET client_min_messages = warning;

CREATE TABLE raw_sales (customer_id bigint, occurred_at timestamptz, amount double precision);
SELECT crm.set_transaction_source('raw_sales');
SELECT count(*) AS before_rows, min(as_of) AS before_as_of FROM crm.customer_segments;

-- An empty source: every known customer is a prospect, nothing is scored,
-- break points are NULL.
CALL crm.refresh_segments('2024-01-01 00:00+00');
SELECT status, customers, scored_customers FROM crm.refresh_runs ORDER BY run_id DESC LIMIT 1;
SELECT lifecycle_stage, count(*) FROM crm.customer_segments GROUP BY 1;
SELECT metric, break_1, break_4 FROM crm.rfm_breaks ORDER BY metric;
SELECT count(*) FROM crm.segment_summary;

-- Non-finite and missing amounts, missing dates, amounts too large to sum.
INSERT INTO raw_sales VALUES (1, '2023-12-01', 10), (1, '2023-12-02', 'NaN');
CALL crm.refresh_segments('2024-01-01 00:00+00');
SELECT status, stage, error_sqlstate FROM crm.refresh_runs ORDER BY run_id DESC LIMIT 1;
UPDATE raw_sales SET amount = 'Infinity' WHERE amount = 'NaN';
CALL crm.refresh_segments('2024-01-01 00:00+00');
UPDATE raw_sales SET amount = NULL WHERE amount = 'Infinity';
CALL crm.refresh_segments('2024-01-01 00:00+00');
UPDATE raw_sales SET amount = 5, occurred_at = NULL WHERE amount IS NULL;
CALL crm.refresh_segments('2024-01-01 00:00+00');
UPDATE raw_sales SET occurred_at = '-infinity' WHERE occurred_at IS NULL;
CALL crm.refresh_segments('2024-01-01 00:00+00');
UPDATE raw_sales SET occurred_at = '2023-12-03', amount = 9e17 WHERE occurred_at = '-infinity';
INSERT INTO raw_sales VALUES (1, '2023-12-04', 9e17);
CALL crm.refresh_segments('2024-01-01 00:00+00');
SELECT status, stage, error_sqlstate FROM crm.refresh_runs ORDER BY run_id DESC LIMIT 5;

-- None of the failures touched the snapshot: it is still the empty-source one.
SELECT count(*), min(as_of), max(run_id) = (SELECT max(run_id) FROM crm.refresh_runs WHERE status = 'succeeded') AS from_last_success
FROM crm.customer_segments;

-- Rows without a customer and rows after as_of are counted, not scored.
TRUNCATE raw_sales;
INSERT INTO raw_sales VALUES (NULL, '2023-12-01', 'NaN'), (NULL, '2023-12-02', 10),
	(1, '2023-12-01', 10), (1, '2025-01-01', 10), (2, '2023-12-01', -10);
CALL crm.refresh_segments('2024-01-01 00:00+00');
SELECT status, anonymous_rows, future_rows, scored_customers FROM crm.refresh_runs ORDER BY run_id DESC LIMIT 1;
SELECT customer_id, frequency, monetary, returns, segment, lifecycle_stage
FROM crm.customer_segments WHERE customer_id IN (1, 2) ORDER BY 1;

-- The analysis date itself.
CALL crm.refresh_segments(NULL);
CALL crm.refresh_segments('infinity');
CALL crm.refresh_segments('-infinity');

-- crm.transactions refuses what it cannot hold.
SELECT * FROM public.error_of($$INSERT INTO crm.transactions VALUES ('n1', 1, now(), 'NaN', NULL, NULL)$$);
SELECT * FROM public.error_of($$INSERT INTO crm.transactions VALUES ('n2', 1, now(), '-Infinity', NULL, NULL)$$);
SELECT * FROM public.error_of($$INSERT INTO crm.transactions VALUES ('n3', 1, NULL, 1, NULL, NULL)$$);
SELECT * FROM public.error_of($$INSERT INTO crm.transactions VALUES ('n4', 1, now(), NULL, NULL, NULL)$$);

SELECT crm.reset_transaction_source();
DROP TABLE raw_sales;
CALL crm.refresh_segments('2024-03-01 00:00+00');
