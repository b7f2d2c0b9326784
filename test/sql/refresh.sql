-- crm.refresh_segments on a hand-made shop: facts, scores under the three
-- binning methods, segments, lifecycle stages, the run log and history.
\set this_test refresh
\i test/fixtures/earlier_tests.sql
SET timezone = 'UTC';
\set SHOW_CONTEXT never
SET client_min_messages = warning;

INSERT INTO crm.customers (customer_id, first_name, joined_at) VALUES
	(1, 'Ada', '2023-01-01'),
	(2, 'Bo', '2023-01-01'),
	(3, NULL, '2023-01-01'),
	(4, NULL, '2023-01-01'),
	(5, NULL, '2023-01-01'),
	(6, NULL, '2022-01-01'),
	(7, NULL, '2022-01-01'),
	(8, NULL, '2023-12-01'),
	(9, NULL, '2023-01-01'),
	(10, 'Never', '2023-06-01');
INSERT INTO crm.customer_contacts (customer_id, channel, handle, consent) VALUES
	(1, 'email', 'ada@example.com', true),
	(10, 'email', 'never@example.com', true);

-- Every purchase at noon UTC, so day counts back from midnight are whole
-- days plus a half, rounded down.
INSERT INTO crm.transactions (transaction_id, customer_id, occurred_at, amount, channel) VALUES
	('1a', 1, '2023-12-31 12:00', 200, 'store'),	-- 0 days before as_of
	('1b', 1, '2023-12-15 12:00', 300, 'store'),
	('1c', 1, '2023-11-15 12:00', 250, 'online'),
	('1d', 1, '2023-10-01 12:00', 400, 'online'),
	('1e', 1, '2023-06-01 12:00', 150, 'store'),	-- first purchase, 213 days
	('2a', 2, '2023-12-28 12:00', 80, 'store'),	-- two orders on one day: x = 0
	('2b', 2, '2023-12-28 14:00', 20, 'store'),
	('3a', 3, '2023-12-10 12:00', 500, 'online'),
	('3b', 3, '2023-12-20 12:00', -100, 'online'),	-- a return
	('4a', 4, '2023-09-01 12:00', 60, 'store'),
	('4b', 4, '2023-09-15 12:00', 60, 'store'),
	('4c', 4, '2023-10-01 12:00', 60, 'store'),	-- 91 days: at-risk
	('5a', 5, '2023-03-01 12:00', 1200, 'store'),
	('5b', 5, '2023-05-01 12:00', 1000, 'store'),	-- 244 days: dormant
	('6a', 6, '2022-10-01 12:00', 75, 'store'),	-- 456 days: lost
	('7a', 7, '2022-11-01 12:00', 300, 'store'),
	('7b', 7, '2023-12-01 12:00', 100, 'store'),	-- back after 395 days: reactivated
	('8a', 8, '2023-12-20 12:00', 40, 'app'),		-- first purchase 11 days ago: new
	('9a', 9, '2023-12-05 12:00', -30, 'store'),	-- only a return: not scored
	('11a', 11, '2023-12-01 12:00', 10, 'app'),	-- not in crm.customers
	('11b', 11, '2024-02-01 12:00', 999, 'app'),	-- after as_of: left out
	('12a', 12, '2023-11-01 12:00', 55, 'store'),
	('12b', 12, '2023-12-01 12:00', 0, 'store');	-- zero amount: not an order
-- Anonymous sales have their own table: the refresh does not read it.
INSERT INTO crm.anonymous_transactions (transaction_id, occurred_at, amount, channel) VALUES
	('x1', '2023-12-01 12:00', 35, 'store'),
	('x2', '2023-12-02 12:00', 45, 'store');

CALL crm.refresh_segments('2024-01-01 00:00+00');

SELECT run_id, as_of, status, stage, source, rfm_method, segment_rule_set, customers,
	   scored_customers, anonymous_rows, future_rows, error_sqlstate, finished_at >= started_at AS timed
FROM crm.refresh_runs ORDER BY run_id;

SELECT customer_id, recency_days, frequency, monetary, returns, tenure_days, purchase_days,
	   btyd_frequency AS x, btyd_recency AS t_x, btyd_t AS t, avg_repeat_spend, last_gap_days, median_gap_days
FROM crm.customer_segments ORDER BY customer_id;

-- Default method: value quantiles over the 10 scored customers.
SELECT metric, method, break_1, break_2, break_3, break_4 FROM crm.rfm_breaks ORDER BY metric;
SELECT customer_id, r_score, f_score, m_score, fm_score, rfm_code, segment, lifecycle_stage
FROM crm.customer_segments ORDER BY customer_id;

-- Equal values always share a score under the default method.
SELECT count(*) AS split_ties
FROM crm.customer_segments AS a JOIN crm.customer_segments AS b
  ON a.customer_id < b.customer_id AND a.frequency = b.frequency AND a.f_score <> b.f_score;

-- Fixed business thresholds.
UPDATE crm.settings SET rfm_method = 'fixed';
CALL crm.refresh_segments('2024-01-01 00:00+00');
SELECT metric, method, break_1, break_2, break_3, break_4 FROM crm.rfm_breaks ORDER BY metric;
SELECT customer_id, recency_days, frequency, monetary, r_score, f_score, m_score, rfm_code, segment
FROM crm.customer_segments WHERE r_score IS NOT NULL ORDER BY customer_id;

-- Equal-count groups, NTILE-like: 10 customers make 5 groups of 2; ties are
-- split by customer_id, the lower id getting the better score.
UPDATE crm.settings SET rfm_method = 'equal_count';
CALL crm.refresh_segments('2024-01-01 00:00+00');
SELECT metric, method, break_1, break_2, break_3, break_4 FROM crm.rfm_breaks ORDER BY metric;
SELECT customer_id, recency_days, frequency, monetary, r_score, f_score, m_score, rfm_code
FROM crm.customer_segments WHERE r_score IS NOT NULL ORDER BY customer_id;
SELECT f_score, count(*) FROM crm.customer_segments WHERE f_score IS NOT NULL GROUP BY 1 ORDER BY 1;
UPDATE crm.settings SET rfm_method = 'quantile';

-- A later as_of: customers move; the migration view compares the last two runs.
INSERT INTO crm.transactions VALUES ('6b', 6, '2024-01-20 12:00', 500, 'store', NULL);
CALL crm.refresh_segments('2024-02-01 00:00+00');
SELECT from_segment, to_segment, customers, from_run_id, to_run_id
FROM crm.segment_migration ORDER BY 1, 2;
SELECT run_id, count(*) FROM crm.segment_history GROUP BY 1 ORDER BY 1;

-- History keeps the last history_runs_kept successful runs; the run log stays.
UPDATE crm.settings SET history_runs_kept = 2;
CALL crm.refresh_segments('2024-02-01 00:00+00');
SELECT run_id, count(*) FROM crm.segment_history GROUP BY 1 ORDER BY 1;
SELECT count(*) AS runs_logged FROM crm.refresh_runs;
UPDATE crm.settings SET history_runs_kept = 30;

-- A refresh that fails is logged with its error, keeps the previous snapshot
-- and raises the error to the caller.
SELECT count(*), min(as_of) FROM crm.customer_segments;
DELETE FROM crm.rfm_fixed_breaks WHERE metric = 'monetary';
UPDATE crm.settings SET rfm_method = 'fixed';
CALL crm.refresh_segments('2024-03-01 00:00+00');
SELECT run_id, status, stage, error_sqlstate, error_message
FROM crm.refresh_runs ORDER BY run_id DESC LIMIT 1;
SELECT count(*), min(as_of) FROM crm.customer_segments;
INSERT INTO crm.rfm_fixed_breaks VALUES ('monetary', 250, 500, 1000, 2500);
UPDATE crm.settings SET rfm_method = 'quantile';

-- Inside an explicit transaction block the procedure cannot commit its log.
BEGIN;
CALL crm.refresh_segments('2024-03-01 00:00+00');
ROLLBACK;

-- Progress is reported to the session stage by stage.
SET client_min_messages = notice;
CALL crm.refresh_segments('2024-03-01 00:00+00');
RESET client_min_messages;

-- Each full refresh publishes a partition of its own and drops the old one;
-- the view shows the published partition only.  The history keeps one
-- partition per full run, as many as history_runs_kept.
SELECT count(*) AS partitions,
	   bool_and(i.inhrelid = format('crm.segment_snapshots_%s', p.snapshot_id)::regclass) AS only_the_published,
	   (SELECT max(r.run_id) FROM crm.refresh_runs AS r WHERE r.status = 'succeeded') = p.snapshot_id AS last_run_published
FROM pg_inherits AS i CROSS JOIN crm.published_snapshot AS p
WHERE i.inhparent = 'crm.segment_snapshots'::regclass
GROUP BY p.snapshot_id;
SELECT (SELECT count(*) FROM crm.customer_segments) = (SELECT count(*) FROM crm.segment_snapshots) AS view_shows_all_rows;
SELECT count(*) AS history_partitions,
	   count(*) = (SELECT count(DISTINCT h.run_id) FROM crm.segment_history AS h) AS one_per_run
FROM pg_inherits AS i WHERE i.inhparent = 'crm.segment_history'::regclass;
-- Nothing left to drop (a partition still being read: specs/refresh_atomic).
SELECT crm.drop_old_partitions() AS dropped_when_nothing_is_left;
-- The partition helpers refuse what the refresh never asks of them.
SELECT crm.run_partition_create('customers', 1);
SELECT crm.run_partition_create(NULL, 1);
SELECT crm.run_partition_create('segment_history', NULL);
SELECT crm.run_partition_create('segment_history', -1);
SELECT crm.run_partition_index('segment_history', -1);
SELECT crm.run_partition_index('segment_snapshots', NULL);
SELECT crm.snapshot_publish(NULL);
SELECT crm.snapshot_publish((SELECT snapshot_id FROM crm.published_snapshot));
