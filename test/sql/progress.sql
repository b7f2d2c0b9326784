-- crm.progress and crm.work_stages: what a session reports about its own
-- run (the isolation spec progress_visible shows another session reading it), the
-- stages the refreshes of the earlier tests left, and bad input.
\set this_test progress
\i test/fixtures/earlier_tests.sql
\set SHOW_CONTEXT never

-- The refreshes of the refresh test, stage by stage, in order.
SELECT command, stage_number, stage, count(*) AS runs,
	   bool_and(finished_at >= started_at) AS timed, bool_and(rows_done >= 0) AS counted
FROM crm.work_stages GROUP BY command, stage_number, stage ORDER BY command, stage_number;
-- Nothing runs now.
SELECT count(*) AS running FROM crm.progress;

-- A run of this session: seen with its stage and rows, the rows that
-- progress_count passes through counted (published every 4,096), the
-- finished stage recorded, gone at the end.
SELECT crm.progress_start('test work', 1, 2);
SELECT command, run_id, stage, stage_number, stages, rows_done, rows_expected, pid = pg_backend_pid() AS mine
FROM crm.progress;
SELECT crm.progress_stage(1, 'counting', 10000);
SELECT sum(crm.progress_count(g)) AS passed_through FROM generate_series(1, 10000) AS g;
SELECT stage, rows_done, rows_expected, estimated_seconds_left, estimate_from_run_id FROM crm.progress;
SELECT crm.progress_rows(10000);
SELECT crm.progress_stage_done(10000);
SELECT crm.progress_stage(2, 'second', NULL);
SELECT stage, stage_number, rows_done, rows_expected FROM crm.progress;
SELECT crm.progress_stage_done(0);
SELECT crm.progress_finish();
SELECT count(*) AS running FROM crm.progress;
SELECT command, run_id, stage_number, stage, rows_expected, rows_done FROM crm.work_stages
WHERE command = 'test work' ORDER BY stage_number;
-- A second run of the same work is estimated from the first.
SELECT crm.progress_start('test work', 2, 2);
SELECT crm.progress_stage(1, 'counting', 20000);
SELECT estimated_seconds_left >= 0 AS estimated, estimate_from_run_id FROM crm.progress;
SELECT crm.progress_finish();
-- An aborted transaction ends the run; outside a run progress_count only
-- returns its argument.
BEGIN;
SELECT crm.progress_start('test work', 3, 1);
SELECT count(*) AS running FROM crm.progress;
ROLLBACK;
SELECT count(*) AS running FROM crm.progress;
SELECT crm.progress_count(42) AS unchanged, crm.progress_count(NULL) IS NULL AS null_stays_null;
DELETE FROM crm.work_stages WHERE command = 'test work';

-- Bad input: nothing reported.  An error ends the run with its
-- transaction, so each bad stage call starts one in the same statement.
SELECT crm.progress_start(NULL, 1, 1);
SELECT crm.progress_start('', 1, 1);
SELECT crm.progress_start(repeat('x', 64), 1, 1);
SELECT crm.progress_start('test work', NULL, 1);
SELECT crm.progress_start('test work', 1, 0);
SELECT crm.progress_stage(1, 'no run', 1);
SELECT crm.progress_rows(1);
SELECT crm.progress_start('test work', 4, 2), crm.progress_stage(3, 'beyond', 1);
SELECT crm.progress_start('test work', 4, 2), crm.progress_stage(0, 'before', 1);
SELECT crm.progress_start('test work', 4, 2), crm.progress_stage(NULL, 'null', 1);
SELECT crm.progress_start('test work', 4, 2), crm.progress_stage(1, NULL, 1);
SELECT crm.progress_start('test work', 4, 2), crm.progress_stage(1, repeat('x', 1000000), 1);
SELECT crm.progress_start('test work', 4, 2), crm.progress_stage(1, 'negative', -1);
SELECT crm.progress_start('test work', 4, 2), crm.progress_rows(-5);
SELECT count(*) AS running FROM crm.progress;
-- finishing twice, or with nothing running, is harmless
SELECT crm.progress_finish(), crm.progress_finish();
