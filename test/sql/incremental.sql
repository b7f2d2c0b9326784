-- Incremental refresh: only the customers whose sales changed since the
-- last refresh are recomputed, on the last full run's break points and
-- models; it runs in full when it cannot build on one.
\set this_test incremental
\i test/fixtures/earlier_tests.sql
SET timezone = 'UTC';
\set SHOW_CONTEXT never
SET client_min_messages = warning;

-- The base: a full refresh, which empties the change queue.
CALL crm.refresh_segments('2024-07-01 00:00+00');
SELECT count(*) AS queued_after_full FROM crm.changed_customers;
CREATE TEMP TABLE before_incremental AS SELECT * FROM crm.customer_segments;

-- Two customers buy (one also returns), one sale is deleted, one customer joins.
INSERT INTO crm.transactions (transaction_id, customer_id, occurred_at, amount) VALUES
	('INC-1', 900011, '2024-07-01 10:00+00', 55),
	('INC-2', 900012, '2024-07-01 11:00+00', 20),
	('INC-3', 900012, '2024-07-01 12:00+00', -5);
DELETE FROM crm.transactions WHERE transaction_id = 'AUD-900013-3';
INSERT INTO crm.customers (customer_id, joined_at) VALUES (900021, '2024-07-01');
-- Anonymous sales queue nobody; a sale of crm.transactions needs its customer.
INSERT INTO crm.anonymous_transactions (transaction_id, occurred_at, amount) VALUES ('INC-ANON', '2024-07-01 13:00+00', 9);
SELECT * FROM public.error_of($$INSERT INTO crm.transactions (transaction_id, customer_id, occurred_at, amount) VALUES ('INC-ANON2', NULL, '2024-07-01 13:00+00', 9)$$);
SELECT customer_id, count(*) AS queued FROM crm.changed_customers GROUP BY 1 ORDER BY 1;

CALL crm.refresh_segments('2024-07-02 00:00+00', incremental => true);
SELECT mode, status, customers, scored_customers FROM crm.refresh_runs ORDER BY run_id DESC LIMIT 1;
SELECT count(*) AS queued_after_incremental FROM crm.changed_customers;
-- The changed customers at the new as_of; everyone else as before.
SELECT customer_id, as_of, frequency, monetary, returns, recency_days, lifecycle_stage
FROM crm.customer_segments WHERE customer_id IN (900011, 900012, 900013, 900021) ORDER BY 1;
SELECT count(*) AS other_rows_changed
FROM (SELECT * FROM before_incremental WHERE customer_id NOT IN (900011, 900012, 900013)
	  EXCEPT SELECT * FROM crm.customer_segments) AS changed;
SELECT (SELECT count(*) FROM crm.customer_segments) - (SELECT count(*) FROM before_incremental) AS rows_added;
-- Scores use the full run's break points.
SELECT (SELECT array_agg(break_1 ORDER BY metric) FROM crm.rfm_break_points
		WHERE run_id = (SELECT max(run_id) FROM crm.refresh_runs))
	 = (SELECT array_agg(break_1 ORDER BY metric) FROM crm.rfm_break_points
		WHERE run_id = (SELECT max(run_id) FROM crm.refresh_runs WHERE mode = 'full')) AS same_break_points;

-- The facts of the changed customers equal a full refresh's at the same as_of.
CREATE TEMP TABLE incremental_rows AS
SELECT * FROM crm.customer_segments WHERE customer_id IN (900011, 900012, 900013, 900021);
CALL crm.refresh_segments('2024-07-02 00:00+00');
SELECT count(*) AS facts_differing
FROM (SELECT customer_id, first_purchase_at, last_purchase_at, recency_days, frequency, monetary, returns,
			 tenure_days, purchase_days, btyd_frequency, btyd_recency, btyd_t, avg_repeat_spend, lifecycle_stage
	  FROM incremental_rows
	  EXCEPT
	  SELECT customer_id, first_purchase_at, last_purchase_at, recency_days, frequency, monetary, returns,
			 tenure_days, purchase_days, btyd_frequency, btyd_recency, btyd_t, avg_repeat_spend, lifecycle_stage
	  FROM crm.customer_segments) AS differing;

-- Nothing queued: an incremental run touches no row.
CALL crm.refresh_segments('2024-07-03 00:00+00', incremental => true);
SELECT mode, customers FROM crm.refresh_runs ORDER BY run_id DESC LIMIT 1;
-- History holds full runs only, so crm.segment_migration compares full snapshots.
SELECT r.mode, count(h.customer_id) > 0 AS has_history
FROM crm.refresh_runs AS r LEFT JOIN crm.segment_history AS h USING (run_id)
WHERE r.run_id > (SELECT max(run_id) - 4 FROM crm.refresh_runs)
GROUP BY r.run_id, r.mode ORDER BY r.run_id;

-- Settings changed since the last full run: the incremental call runs in full.
UPDATE crm.settings SET clv_months = 6;
INSERT INTO crm.transactions (transaction_id, customer_id, occurred_at, amount) VALUES ('INC-4', 900011, '2024-07-03 10:00+00', 10);
CALL crm.refresh_segments('2024-07-04 00:00+00', incremental => true);
SELECT mode, customers = (SELECT count(*) FROM crm.customer_segments) AS every_customer
FROM crm.refresh_runs ORDER BY run_id DESC LIMIT 1;
UPDATE crm.settings SET clv_months = 12;
CALL crm.refresh_segments('2024-07-04 00:00+00');
-- An as_of before the full run's: in full as well.
CALL crm.refresh_segments('2024-07-01 00:00+00', incremental => true);
SELECT mode FROM crm.refresh_runs ORDER BY run_id DESC LIMIT 1;

SELECT * FROM public.error_of($$CALL crm.refresh_segments('2024-07-04', NULL)$$);
SELECT * FROM public.error_of($$SELECT crm.refresh_start('2024-07-04', 'partial')$$);
