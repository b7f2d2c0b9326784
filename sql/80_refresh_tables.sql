-- The segment refresh's tables: the run log and the break points.  The
-- snapshot and the history are in 83_snapshots.sql, the refresh in
-- 81_refresh.sql.

CREATE TABLE @extschema@.refresh_runs (
	run_id				bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	as_of				timestamptz NOT NULL,
	status				text NOT NULL DEFAULT 'running'
		CONSTRAINT refresh_runs_status_known CHECK (status IN ('running', 'succeeded', 'failed')),
	stage				text NOT NULL DEFAULT 'queued',
	rows_done			bigint NOT NULL DEFAULT 0,
	started_at			timestamptz NOT NULL DEFAULT clock_timestamp(),
	finished_at			timestamptz,
	source				text,
	rfm_method			text,
	segment_rule_set	text,
	customers			bigint,
	scored_customers	bigint,
	anonymous_rows		bigint,
	future_rows			bigint,
	error_sqlstate		text,
	error_message		text,
	backend_pid			integer NOT NULL DEFAULT pg_backend_pid(),
	backend_start		timestamptz,
	mode				text CONSTRAINT refresh_runs_mode_known CHECK (mode IN ('full', 'incremental')),
	settings_fingerprint text
);
COMMENT ON TABLE @extschema@.refresh_runs IS
	'One row per call of crm.refresh_segments: when, on what, how it went. A run whose backend died is marked failed by the next refresh.';
COMMENT ON COLUMN @extschema@.refresh_runs.run_id IS 'Run number, increasing.';
COMMENT ON COLUMN @extschema@.refresh_runs.as_of IS 'Analysis date the run scored customers at.';
COMMENT ON COLUMN @extschema@.refresh_runs.status IS 'running, succeeded or failed.';
COMMENT ON COLUMN @extschema@.refresh_runs.stage IS 'Stage reached: queued, facts, scores, models, publish, done; for a failed run the stage it failed in.';
COMMENT ON COLUMN @extschema@.refresh_runs.rows_done IS 'Rows produced by the last stage that finished.';
COMMENT ON COLUMN @extschema@.refresh_runs.started_at IS 'When the run was called.';
COMMENT ON COLUMN @extschema@.refresh_runs.finished_at IS 'When it succeeded or failed.';
COMMENT ON COLUMN @extschema@.refresh_runs.source IS 'Table or view the sales were read from.';
COMMENT ON COLUMN @extschema@.refresh_runs.rfm_method IS 'Score binning method used.';
COMMENT ON COLUMN @extschema@.refresh_runs.segment_rule_set IS 'Segment rule set used.';
COMMENT ON COLUMN @extschema@.refresh_runs.customers IS 'Rows written to crm.customer_segments.';
COMMENT ON COLUMN @extschema@.refresh_runs.scored_customers IS 'Customers with at least one purchase, who get RFM scores.';
COMMENT ON COLUMN @extschema@.refresh_runs.anonymous_rows IS 'Rows of the sales source without a customer_id, left out of customer metrics (a source of your own may have them; crm.transactions has none: anonymous sales are in crm.anonymous_transactions).';
COMMENT ON COLUMN @extschema@.refresh_runs.future_rows IS 'Sales rows dated after as_of, left out.';
COMMENT ON COLUMN @extschema@.refresh_runs.error_sqlstate IS 'SQLSTATE of the error a failed run stopped on.';
COMMENT ON COLUMN @extschema@.refresh_runs.error_message IS 'Message of the error a failed run stopped on.';
COMMENT ON COLUMN @extschema@.refresh_runs.backend_pid IS 'Process that ran the refresh.';
COMMENT ON COLUMN @extschema@.refresh_runs.backend_start IS 'Start time of that process, to tell it from a later one with the same pid.';
COMMENT ON COLUMN @extschema@.refresh_runs.mode IS 'full (every customer) or incremental (the customers in crm.changed_customers); an incremental call that had to run in full says full. NULL for runs before version 1.1.';
COMMENT ON COLUMN @extschema@.refresh_runs.settings_fingerprint IS 'crm.settings_fingerprint() at the run: an incremental refresh builds on the last full run only while it is unchanged.';

-- Break points each run used, one row per metric.
CREATE TABLE @extschema@.rfm_break_points (
	run_id		bigint NOT NULL REFERENCES @extschema@.refresh_runs ON DELETE CASCADE,
	metric		text NOT NULL,
	method		text NOT NULL,
	break_1		double precision,
	break_2		double precision,
	break_3		double precision,
	break_4		double precision,
	PRIMARY KEY (run_id, metric)
);
COMMENT ON TABLE @extschema@.rfm_break_points IS
	'The break points each refresh scored with. Band = 1 + number of breaks below the value; F and M scores are the band, R is 6 - band. For equal_count the breaks are the values at the group boundaries (ties there are split by customer_id).';
COMMENT ON COLUMN @extschema@.rfm_break_points.run_id IS 'Refresh run.';
COMMENT ON COLUMN @extschema@.rfm_break_points.metric IS 'recency (days), frequency (orders) or monetary (net spend).';
COMMENT ON COLUMN @extschema@.rfm_break_points.method IS 'quantile, equal_count or fixed.';
COMMENT ON COLUMN @extschema@.rfm_break_points.break_1 IS 'Upper bound (inclusive) of band 1.';
COMMENT ON COLUMN @extschema@.rfm_break_points.break_2 IS 'Upper bound (inclusive) of band 2.';
COMMENT ON COLUMN @extschema@.rfm_break_points.break_3 IS 'Upper bound (inclusive) of band 3.';
COMMENT ON COLUMN @extschema@.rfm_break_points.break_4 IS 'Upper bound (inclusive) of band 4.';

-- Rights and dump registration of the objects above.
GRANT SELECT ON @extschema@.refresh_runs, @extschema@.rfm_break_points TO crm_analyst;
GRANT SELECT, INSERT, UPDATE, DELETE, TRUNCATE ON @extschema@.refresh_runs, @extschema@.rfm_break_points TO crm_admin;
GRANT USAGE, SELECT ON @extschema@.refresh_runs_run_id_seq TO crm_admin;
SELECT pg_catalog.pg_extension_config_dump('@extschema@.refresh_runs', '');
SELECT pg_catalog.pg_extension_config_dump('@extschema@.refresh_runs_run_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('@extschema@.rfm_break_points', '');
