-- The segment refresh's tables: the run log, the published snapshot, the
-- break points and the history.  The refresh itself is in 81_refresh.sql.

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
COMMENT ON COLUMN @extschema@.refresh_runs.anonymous_rows IS 'Sales rows without a customer_id, left out of customer metrics.';
COMMENT ON COLUMN @extschema@.refresh_runs.future_rows IS 'Sales rows dated after as_of, left out.';
COMMENT ON COLUMN @extschema@.refresh_runs.error_sqlstate IS 'SQLSTATE of the error a failed run stopped on.';
COMMENT ON COLUMN @extschema@.refresh_runs.error_message IS 'Message of the error a failed run stopped on.';
COMMENT ON COLUMN @extschema@.refresh_runs.backend_pid IS 'Process that ran the refresh.';
COMMENT ON COLUMN @extschema@.refresh_runs.backend_start IS 'Start time of that process, to tell it from a later one with the same pid.';
COMMENT ON COLUMN @extschema@.refresh_runs.mode IS 'full (every customer) or incremental (the customers in crm.changed_customers); an incremental call that had to run in full says full. NULL for runs before version 1.1.';
COMMENT ON COLUMN @extschema@.refresh_runs.settings_fingerprint IS 'crm.settings_fingerprint() at the run: an incremental refresh builds on the last full run only while it is unchanged.';

-- The published snapshot.  Rewritten in one transaction by each refresh.
CREATE TABLE @extschema@.customer_segments (
	customer_id			bigint PRIMARY KEY,
	as_of				timestamptz NOT NULL,
	run_id				bigint NOT NULL,
	first_purchase_at	timestamptz,
	last_purchase_at	timestamptz,
	recency_days		integer,
	frequency			bigint NOT NULL,
	monetary			numeric NOT NULL,
	returns				bigint NOT NULL,
	r_score				smallint,
	f_score				smallint,
	m_score				smallint,
	fm_score			smallint,
	rfm_code			smallint,
	segment				text,
	lifecycle_stage		text NOT NULL,
	tenure_days			integer,
	purchase_days		integer,
	btyd_frequency		integer,
	btyd_recency		integer,
	btyd_t				integer,
	avg_repeat_spend	numeric,
	last_gap_days		integer,
	median_gap_days		double precision,
	one_time_buyer		boolean,
	p_alive				double precision,
	churn_risk			double precision,
	expected_purchases	double precision,
	expected_spend		double precision,
	clv					double precision,
	bgnbd_model_id		bigint,
	gamma_gamma_model_id bigint
);
COMMENT ON TABLE @extschema@.customer_segments IS
	'One row per customer as of the last successful refresh: RFM facts and scores, segment, lifecycle stage. Replaced atomically by crm.refresh_segments. Days are 24-hour periods counted back from as_of.';
COMMENT ON COLUMN @extschema@.customer_segments.customer_id IS 'Customer key.';
COMMENT ON COLUMN @extschema@.customer_segments.as_of IS 'Analysis date of the refresh.';
COMMENT ON COLUMN @extschema@.customer_segments.run_id IS 'Refresh run that wrote the row (crm.refresh_runs).';
COMMENT ON COLUMN @extschema@.customer_segments.first_purchase_at IS 'First purchase (amount > 0) up to as_of.';
COMMENT ON COLUMN @extschema@.customer_segments.last_purchase_at IS 'Last purchase up to as_of.';
COMMENT ON COLUMN @extschema@.customer_segments.recency_days IS 'R: whole days from the last purchase to as_of; NULL without a purchase.';
COMMENT ON COLUMN @extschema@.customer_segments.frequency IS 'F: number of orders with a positive amount.';
COMMENT ON COLUMN @extschema@.customer_segments.monetary IS 'M: net spend, purchases minus returns.';
COMMENT ON COLUMN @extschema@.customer_segments.returns IS 'Number of return transactions (negative amount).';
COMMENT ON COLUMN @extschema@.customer_segments.r_score IS 'Recency score 1-5, 5 = most recent; NULL for customers without a purchase.';
COMMENT ON COLUMN @extschema@.customer_segments.f_score IS 'Frequency score 1-5, 5 = most orders.';
COMMENT ON COLUMN @extschema@.customer_segments.m_score IS 'Monetary score 1-5, 5 = highest net spend.';
COMMENT ON COLUMN @extschema@.customer_segments.fm_score IS 'Mean of F and M rounded half up: the FM axis of the segment grid.';
COMMENT ON COLUMN @extschema@.customer_segments.rfm_code IS 'R*100 + F*10 + M, e.g. 555.';
COMMENT ON COLUMN @extschema@.customer_segments.segment IS 'Segment from the active rule set; NULL for customers without a purchase (not scored).';
COMMENT ON COLUMN @extschema@.customer_segments.lifecycle_stage IS 'prospect, new, active, at-risk, dormant, lost or reactivated.';
COMMENT ON COLUMN @extschema@.customer_segments.tenure_days IS 'Whole days from the first purchase to as_of.';
COMMENT ON COLUMN @extschema@.customer_segments.purchase_days IS 'Distinct days with a purchase.';
COMMENT ON COLUMN @extschema@.customer_segments.btyd_frequency IS 'BG/NBD x: repeat purchase days (purchase_days - 1).';
COMMENT ON COLUMN @extschema@.customer_segments.btyd_recency IS 'BG/NBD t_x in days: from the first to the last purchase day.';
COMMENT ON COLUMN @extschema@.customer_segments.btyd_t IS 'BG/NBD T in days: from the first purchase day to as_of.';
COMMENT ON COLUMN @extschema@.customer_segments.avg_repeat_spend IS 'Mean purchase value of the repeat purchase days (Gamma-Gamma input); NULL when there is none.';
COMMENT ON COLUMN @extschema@.customer_segments.last_gap_days IS 'Days between the two latest purchase days.';
COMMENT ON COLUMN @extschema@.customer_segments.median_gap_days IS 'Median days between consecutive purchase days.';
COMMENT ON COLUMN @extschema@.customer_segments.one_time_buyer IS 'True when the customer bought on one day only (BG/NBD x = 0): their P(alive) = 1 is a property of the model, not a prediction.';
COMMENT ON COLUMN @extschema@.customer_segments.p_alive IS 'BG/NBD probability that the customer is still active; NULL without a purchase or a converged model.';
COMMENT ON COLUMN @extschema@.customer_segments.churn_risk IS '1 - p_alive.';
COMMENT ON COLUMN @extschema@.customer_segments.expected_purchases IS 'Purchase days the BG/NBD model expects in the next crm.settings.churn_horizon_days days.';
COMMENT ON COLUMN @extschema@.customer_segments.expected_spend IS 'Gamma-Gamma expected spend per purchase day (the population mean for one-time buyers).';
COMMENT ON COLUMN @extschema@.customer_segments.clv IS 'Customer lifetime value over crm.settings.clv_months months, discounted monthly by crm.settings.monthly_discount.';
COMMENT ON COLUMN @extschema@.customer_segments.bgnbd_model_id IS 'BG/NBD model used (crm.models).';
COMMENT ON COLUMN @extschema@.customer_segments.gamma_gamma_model_id IS 'Gamma-Gamma model used (crm.models).';

CREATE INDEX customer_segments_segment_idx ON @extschema@.customer_segments (segment);

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

-- Each customer's segment per run, for migration analysis.
-- No foreign key to refresh_runs: runs are never deleted, and checking one
-- per customer row was most of the cost of writing the history.
CREATE TABLE @extschema@.segment_history (
	run_id			bigint NOT NULL,
	customer_id		bigint NOT NULL,
	segment			text,
	lifecycle_stage	text NOT NULL,
	rfm_code		smallint,
	PRIMARY KEY (run_id, customer_id)
);
COMMENT ON TABLE @extschema@.segment_history IS
	'Segment and lifecycle stage of every customer at each of the last crm.settings.history_runs_kept successful runs.';
COMMENT ON COLUMN @extschema@.segment_history.run_id IS 'Refresh run.';
COMMENT ON COLUMN @extschema@.segment_history.customer_id IS 'Customer key.';
COMMENT ON COLUMN @extschema@.segment_history.segment IS 'Segment at that run; NULL when not scored.';
COMMENT ON COLUMN @extschema@.segment_history.lifecycle_stage IS 'Lifecycle stage at that run.';
COMMENT ON COLUMN @extschema@.segment_history.rfm_code IS 'RFM code at that run.';
