-- Configuration tables: one settings row, fixed RFM thresholds. Both are
-- validated by triggers so a bad value is refused where it is typed, with a hint.

CREATE TABLE @extschema@.settings (
	singleton			boolean PRIMARY KEY DEFAULT true CONSTRAINT settings_single_row CHECK (singleton),
	rfm_method			text NOT NULL DEFAULT 'quantile',
	segment_rule_set	text NOT NULL DEFAULT 'default',
	new_days			integer NOT NULL DEFAULT 30,
	active_days			integer NOT NULL DEFAULT 90,
	at_risk_days		integer NOT NULL DEFAULT 180,
	dormant_days		integer NOT NULL DEFAULT 365,
	history_runs_kept	integer NOT NULL DEFAULT 30,
	model_refit			text NOT NULL DEFAULT 'every_refresh',
	churn_horizon_days	integer NOT NULL DEFAULT 90,
	clv_months			integer NOT NULL DEFAULT 12,
	monthly_discount	double precision NOT NULL DEFAULT 0.01,
	churn_risk_threshold double precision NOT NULL DEFAULT 0.5,
	source_schema		name,
	source_table		name
);
COMMENT ON TABLE @extschema@.settings IS
	'The one row of retail_crm settings. Change values with UPDATE; the next refresh uses them.';
COMMENT ON COLUMN @extschema@.settings.singleton IS 'Always true: keeps the table to one row.';
COMMENT ON COLUMN @extschema@.settings.rfm_method IS
	'How R, F and M values become scores 1-5: quantile (default; value quantiles, equal values always share a score), equal_count (NTILE-like equal groups, ties broken by customer_id: the lower id gets the better score) or fixed (thresholds in crm.rfm_fixed_breaks).';
COMMENT ON COLUMN @extschema@.settings.segment_rule_set IS
	'Rule set of crm.segment_rules in use; change it with crm.activate_segment_rules().';
COMMENT ON COLUMN @extschema@.settings.new_days IS 'Lifecycle: a first purchase at most this many days before as_of makes a customer new.';
COMMENT ON COLUMN @extschema@.settings.active_days IS 'Lifecycle: a last purchase more than this many days before as_of makes a customer at-risk.';
COMMENT ON COLUMN @extschema@.settings.at_risk_days IS 'Lifecycle: more than this many days since the last purchase makes a customer dormant; a purchase after a gap this long makes them reactivated.';
COMMENT ON COLUMN @extschema@.settings.dormant_days IS 'Lifecycle: more than this many days since the last purchase makes a customer lost.';
COMMENT ON COLUMN @extschema@.settings.history_runs_kept IS 'How many refresh runs keep their per-customer rows in crm.segment_history.';
COMMENT ON COLUMN @extschema@.settings.model_refit IS
	'every_refresh (default): each refresh fits a new purchase model (the one churn_model chooses) and Gamma-Gamma model; manual: the refresh scores with the latest models stored by crm.fit_models().';
COMMENT ON COLUMN @extschema@.settings.churn_horizon_days IS 'Horizon in days of crm.customer_segments.churn_risk (no purchase within it) and expected_purchases.';
COMMENT ON COLUMN @extschema@.settings.clv_months IS 'Horizon in months of crm.customer_segments.clv.';
COMMENT ON COLUMN @extschema@.settings.monthly_discount IS 'Monthly discount rate of the CLV, e.g. 0.01 for 1 % a month.';
COMMENT ON COLUMN @extschema@.settings.churn_risk_threshold IS 'Churn risk (probability of no purchase in churn_horizon_days) from which a valuable customer enters crm.churn_watch_list and the churn:high audience.';
COMMENT ON COLUMN @extschema@.settings.source_schema IS 'Schema of the sales table or view the refresh reads; NULL means crm.transactions. Set with crm.set_transaction_source().';
COMMENT ON COLUMN @extschema@.settings.source_table IS 'Name of the sales table or view the refresh reads; NULL means crm.transactions.';

-- Raises the uniform configuration error: invalid value, with what is allowed.
CREATE FUNCTION @extschema@.config_error(message text, hint text)
RETURNS void
LANGUAGE plpgsql STABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	RAISE EXCEPTION USING ERRCODE = 'invalid_parameter_value', MESSAGE = message, HINT = hint;
END
$$;
COMMENT ON FUNCTION @extschema@.config_error(text, text) IS
	'Internal: raises SQLSTATE 22023 with the given message and hint.';

-- The trigger functions of this part are in 18_config_checks.sql.
CREATE TRIGGER settings_check BEFORE INSERT OR UPDATE ON @extschema@.settings
	FOR EACH ROW EXECUTE FUNCTION @extschema@.settings_check();

INSERT INTO @extschema@.settings DEFAULT VALUES;

-- Fixed business thresholds for rfm_method = 'fixed'.  Each row holds the
-- four break points b1..b4 of one metric: a value v falls in band
-- 1 + (number of breaks below v); F and M scores are the band, R is 6 - band.
CREATE TABLE @extschema@.rfm_fixed_breaks (
	metric		text PRIMARY KEY,
	break_1		double precision NOT NULL,
	break_2		double precision NOT NULL,
	break_3		double precision NOT NULL,
	break_4		double precision NOT NULL
);
COMMENT ON TABLE @extschema@.rfm_fixed_breaks IS
	'Thresholds used when crm.settings.rfm_method = ''fixed''. A value equal to a break belongs to the lower band. Recency: at most break_1 days scores R=5, more than break_4 days scores R=1. Frequency and monetary: at most break_1 scores 1, more than break_4 scores 5.';
COMMENT ON COLUMN @extschema@.rfm_fixed_breaks.metric IS 'recency, frequency or monetary.';
COMMENT ON COLUMN @extschema@.rfm_fixed_breaks.break_1 IS 'Upper bound (inclusive) of band 1.';
COMMENT ON COLUMN @extschema@.rfm_fixed_breaks.break_2 IS 'Upper bound (inclusive) of band 2.';
COMMENT ON COLUMN @extschema@.rfm_fixed_breaks.break_3 IS 'Upper bound (inclusive) of band 3.';
COMMENT ON COLUMN @extschema@.rfm_fixed_breaks.break_4 IS 'Upper bound (inclusive) of band 4; larger values are band 5.';

CREATE TRIGGER rfm_fixed_breaks_check BEFORE INSERT OR UPDATE ON @extschema@.rfm_fixed_breaks
	FOR EACH ROW EXECUTE FUNCTION @extschema@.rfm_fixed_breaks_check();

INSERT INTO @extschema@.rfm_fixed_breaks VALUES
	('recency', 30, 60, 120, 240),
	('frequency', 1, 2, 4, 9),
	('monetary', 250, 500, 1000, 2500);

-- Rights and dump registration of the objects above.  Analysts may read the
-- configuration, crm_admin changes it.
GRANT SELECT ON @extschema@.settings, @extschema@.rfm_fixed_breaks TO crm_analyst;
GRANT SELECT, INSERT, UPDATE, DELETE, TRUNCATE ON @extschema@.settings, @extschema@.rfm_fixed_breaks TO crm_admin;
CREATE TRIGGER settings_replace BEFORE INSERT ON @extschema@.settings
	FOR EACH ROW EXECUTE FUNCTION @extschema@.replace_row_with_same_key('singleton');
CREATE TRIGGER rfm_fixed_breaks_replace BEFORE INSERT ON @extschema@.rfm_fixed_breaks
	FOR EACH ROW EXECUTE FUNCTION @extschema@.replace_row_with_same_key('metric');
SELECT pg_catalog.pg_extension_config_dump('@extschema@.settings', '');
SELECT pg_catalog.pg_extension_config_dump('@extschema@.rfm_fixed_breaks', '');
