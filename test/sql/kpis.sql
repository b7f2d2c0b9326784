-- CRM KPI views: monthly_kpis and cohort_retention on a small shop whose
-- numbers are counted by hand below, cohort_retention again from plain SQL,
-- and segment_movement against segment_migration.  The shop lives in one
-- transaction, rolled back at the end.
\set this_test kpis
\i test/fixtures/earlier_tests.sql
SET timezone = 'UTC';
SET datestyle = 'ISO, YMD';
\set SHOW_CONTEXT never
SET client_min_messages = warning;

-- Segment moves between consecutive refreshes of the earlier tests: the
-- latest pair of runs is exactly crm.segment_migration.
SELECT count(DISTINCT (from_run_id, to_run_id)) > 0 AS has_movements,
	   bool_and(to_run_id > from_run_id) AS runs_in_order
FROM crm.segment_movement;
SELECT count(*) AS differences FROM (
	(SELECT from_run_id, to_run_id, from_segment, to_segment, customers FROM crm.segment_movement
	 WHERE to_run_id = (SELECT max(to_run_id) FROM crm.segment_movement)
	 EXCEPT
	 SELECT from_run_id, to_run_id, from_segment, to_segment, customers FROM crm.segment_migration)
	UNION ALL
	(SELECT from_run_id, to_run_id, from_segment, to_segment, customers FROM crm.segment_migration
	 EXCEPT
	 SELECT from_run_id, to_run_id, from_segment, to_segment, customers FROM crm.segment_movement)) AS d;
-- Every run pair accounts for every customer of both runs.
SELECT count(*) AS unbalanced_run_pairs
FROM (SELECT m.from_run_id, m.to_run_id,
			 sum(m.customers) FILTER (WHERE m.from_segment <> '(new customer)') AS from_customers,
			 sum(m.customers) FILTER (WHERE m.to_segment <> '(gone)') AS to_customers
	  FROM crm.segment_movement AS m
	  GROUP BY 1, 2) AS s
WHERE s.from_customers IS DISTINCT FROM (SELECT count(*) FROM crm.segment_history AS h WHERE h.run_id = s.from_run_id)
   OR s.to_customers IS DISTINCT FROM (SELECT count(*) FROM crm.segment_history AS h WHERE h.run_id = s.to_run_id);

BEGIN;
DELETE FROM crm.transactions;
-- No purchases: no months, no cohorts.
SELECT count(*) AS months FROM crm.monthly_kpis;
SELECT count(*) AS cells FROM crm.cohort_retention;

-- Purchases (amount > 0) by month, 2024:
--   Jan c1 c2, Feb c2 c3, Mar c1 c3 c4, Apr c3 c5
-- (c2's Feb return, c5's Apr return and an anonymous sale are no purchases).
INSERT INTO crm.transactions (transaction_id, customer_id, occurred_at, amount) VALUES
	('k1a', 1, '2024-01-05 10:00', 100), ('k1b', 1, '2024-01-20 10:00', 50), ('k1c', 1, '2024-03-03 10:00', 80),
	('k2a', 2, '2024-01-10 10:00', 200), ('k2b', 2, '2024-02-11 10:00', 30), ('k2r', 2, '2024-02-12 10:00', -20),
	('k3a', 3, '2024-02-02 10:00', 60), ('k3b', 3, '2024-03-09 10:00', 40), ('k3c', 3, '2024-04-01 10:00', 10),
	('k4a', 4, '2024-03-15 10:00', 500),
	('k5a', 5, '2024-04-20 10:00', 70), ('k5r', 5, '2024-04-25 10:00', -70);
INSERT INTO crm.anonymous_transactions (transaction_id, occurred_at, amount) VALUES ('kxa', '2024-02-01 10:00', 999);

-- By hand:
--   month  active new returning retained reactivated lost retention churn repeat revenue  per customer
--   Jan      2     2     0         0         0        0     -        -     1/2     350     175
--   Feb      2     1     1         1 (c2)    0        1 c1  (2-1)/2  1/2   2/3      70      35
--   Mar      3     1     2         1 (c3)    1 (c1)   1 c2  (3-1)/2  1/2   3/4     620     206.67
--   Apr      2     1     1         1 (c3)    0        2     (2-1)/3  2/3   3/5      10       5
-- repeat: customers with a second purchase by the month's end (c1 Jan,
-- c2 Feb, c3 Mar) over customers with a first one (2, 3, 4, 5).
SELECT * FROM crm.monthly_kpis ORDER BY month;

-- Cohorts: Jan {c1, c2}: Feb c2, Mar c1, Apr none; Feb {c3}: Mar, Apr;
-- Mar {c4}: Apr none; Apr {c5}.
SELECT * FROM crm.cohort_retention ORDER BY cohort_month, months_since;

-- The same table from plain SQL: every cohort and month by interval
-- arithmetic, each cell counted on its own.
CREATE TEMP TABLE plain_cohorts AS
WITH firsts AS (
	SELECT t.customer_id, date_trunc('month', min(t.occurred_at)) AS cohort
	FROM crm.transactions AS t WHERE t.amount > 0 AND t.customer_id IS NOT NULL GROUP BY 1
), cells AS (
	SELECT f.cohort, g.k
	FROM (SELECT DISTINCT cohort FROM firsts) AS f,
		 generate_series(0, 100) AS g (k)
	WHERE f.cohort + g.k * interval '1 month'
		  <= (SELECT date_trunc('month', max(t.occurred_at)) FROM crm.transactions AS t
			  WHERE t.amount > 0 AND t.customer_id IS NOT NULL)
)
SELECT c.cohort::date AS cohort_month, c.k AS months_since,
	   (SELECT count(*) FROM firsts AS f WHERE f.cohort = c.cohort) AS customers,
	   (SELECT count(DISTINCT t.customer_id)
		FROM crm.transactions AS t JOIN firsts AS f USING (customer_id)
		WHERE f.cohort = c.cohort AND t.amount > 0
		  AND date_trunc('month', t.occurred_at) = c.cohort + c.k * interval '1 month') AS active
FROM cells AS c;
SELECT count(*) AS differences FROM (
	(SELECT cohort_month, months_since, customers, active, round(active::numeric / customers, 4) FROM plain_cohorts
	 EXCEPT SELECT cohort_month, months_since, customers, active, share FROM crm.cohort_retention)
	UNION ALL
	(SELECT cohort_month, months_since, customers, active, share FROM crm.cohort_retention
	 EXCEPT SELECT cohort_month, months_since, customers, active, round(active::numeric / customers, 4) FROM plain_cohorts)) AS d;

-- Analysts read the KPI views.
SET ROLE crm_analyst;
SELECT count(*) AS analyst_months FROM crm.monthly_kpis;
SELECT count(*) AS analyst_cells FROM crm.cohort_retention;
SELECT count(*) >= 0 AS analyst_reads_movement FROM crm.segment_movement;
SELECT * FROM public.error_of($$SELECT count(*) FROM crm.customer_months$$);
RESET ROLE;
ROLLBACK;

RESET client_min_messages;
RESET datestyle;
RESET timezone;
