-- The checks of the configuration (crm.settings and crm.rfm_fixed_breaks,
-- 20_settings.sql; crm.segment_rules, 60_segment_rules.sql): the trigger
-- functions that refuse a bad row where it is typed, and
-- crm.check_segment_rules.  Functions only, so that the update from 1.0
-- runs this part again (their messages quote values through
-- crm.message_excerpt since 1.1).  The triggers and the tables are created
-- in the parts named.

CREATE OR REPLACE FUNCTION @extschema@.settings_check()
RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	IF NEW.rfm_method NOT IN ('quantile', 'equal_count', 'fixed') THEN
		PERFORM @extschema@.config_error(
			format('rfm_method must be quantile, equal_count or fixed, not %L', @extschema@.message_excerpt(NEW.rfm_method)),
			'quantile keeps equal values together; equal_count makes equal-sized groups; fixed reads crm.rfm_fixed_breaks.');
	END IF;
	IF NOT (0 < NEW.new_days AND NEW.new_days <= NEW.active_days
			AND NEW.active_days < NEW.at_risk_days AND NEW.at_risk_days < NEW.dormant_days) THEN
		PERFORM @extschema@.config_error(
			format('lifecycle thresholds must satisfy 0 < new_days <= active_days < at_risk_days < dormant_days, not %s, %s, %s, %s',
				   NEW.new_days, NEW.active_days, NEW.at_risk_days, NEW.dormant_days),
			'The defaults are 30, 90, 180 and 365 days.');
	END IF;
	IF NEW.history_runs_kept < 2 THEN
		PERFORM @extschema@.config_error(
			format('history_runs_kept must be at least 2, not %s', NEW.history_runs_kept),
			'crm.segment_migration compares the last two runs, so both must be kept.');
	END IF;
	IF NEW.model_refit NOT IN ('every_refresh', 'manual') THEN
		PERFORM @extschema@.config_error(
			format('model_refit must be every_refresh or manual, not %L', @extschema@.message_excerpt(NEW.model_refit)),
			'every_refresh fits the churn and spend models at each refresh; manual uses the latest models stored by crm.fit_models().');
	END IF;
	IF NEW.churn_horizon_days < 1 OR NEW.clv_months < 1 OR NEW.clv_months > 1200 THEN
		PERFORM @extschema@.config_error(
			format('churn_horizon_days must be at least 1 and clv_months between 1 and 1200, not %s and %s',
				   NEW.churn_horizon_days, NEW.clv_months),
			'The defaults are 90 days and 12 months.');
	END IF;
	IF NOT (NEW.monthly_discount > -1 AND NEW.monthly_discount < 1) THEN
		PERFORM @extschema@.config_error(
			format('monthly_discount must lie between -1 and 1 (exclusive), not %s', NEW.monthly_discount),
			'A monthly rate of 0.01 discounts one year by about 11 %.');
	END IF;
	IF NOT (NEW.churn_risk_threshold >= 0 AND NEW.churn_risk_threshold <= 1) THEN
		PERFORM @extschema@.config_error(
			format('churn_risk_threshold must lie between 0 and 1, not %s', NEW.churn_risk_threshold),
			'The default 0.5 lists customers more likely gone than active.');
	END IF;
	IF (NEW.source_schema IS NULL) <> (NEW.source_table IS NULL) THEN
		PERFORM @extschema@.config_error('source_schema and source_table must both be set or both be NULL',
			'Use crm.set_transaction_source() and crm.reset_transaction_source().');
	END IF;
	RETURN NEW;
END
$$;
COMMENT ON FUNCTION @extschema@.settings_check() IS 'Trigger: validates crm.settings.';

CREATE OR REPLACE FUNCTION @extschema@.rfm_fixed_breaks_check()
RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	breaks double precision[] := ARRAY[NEW.break_1, NEW.break_2, NEW.break_3, NEW.break_4];
BEGIN
	IF NEW.metric NOT IN ('recency', 'frequency', 'monetary') THEN
		PERFORM @extschema@.config_error(
			format('metric must be recency, frequency or monetary, not %L', @extschema@.message_excerpt(NEW.metric)),
			'crm.rfm_fixed_breaks holds one row per metric.');
	END IF;
	IF 'NaN' = ANY (breaks) OR 'Infinity' = ANY (breaks) OR '-Infinity' = ANY (breaks)
	   OR NOT (NEW.break_1 <= NEW.break_2 AND NEW.break_2 <= NEW.break_3 AND NEW.break_3 <= NEW.break_4) THEN
		PERFORM @extschema@.config_error(
			format('%s breaks must be finite and non-decreasing, not %s', @extschema@.message_excerpt(NEW.metric), breaks),
			'Give four thresholds in increasing order, e.g. 30, 60, 120, 240 days for recency.');
	END IF;
	IF NEW.metric IN ('recency', 'frequency') AND NEW.break_1 < 0 THEN
		PERFORM @extschema@.config_error(
			format('%s breaks must not be negative, not %s', @extschema@.message_excerpt(NEW.metric), breaks),
			'Recency is counted in days and frequency in orders, both zero or more.');
	END IF;
	RETURN NEW;
END
$$;
COMMENT ON FUNCTION @extschema@.rfm_fixed_breaks_check() IS 'Trigger: validates crm.rfm_fixed_breaks.';

CREATE OR REPLACE FUNCTION @extschema@.segment_rules_check()
RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	IF NOT (1 <= NEW.r_min AND NEW.r_min <= NEW.r_max AND NEW.r_max <= 5
			AND 1 <= NEW.f_min AND NEW.f_min <= NEW.f_max AND NEW.f_max <= 5
			AND 1 <= NEW.m_min AND NEW.m_min <= NEW.m_max AND NEW.m_max <= 5
			AND 1 <= NEW.fm_min AND NEW.fm_min <= NEW.fm_max AND NEW.fm_max <= 5) THEN
		PERFORM @extschema@.config_error(
			format('segment rule %s of rule set %L has an invalid score range: r %s-%s, f %s-%s, m %s-%s, fm %s-%s',
				   NEW.precedence, @extschema@.message_excerpt(NEW.rule_set), NEW.r_min, NEW.r_max, NEW.f_min, NEW.f_max,
				   NEW.m_min, NEW.m_max, NEW.fm_min, NEW.fm_max),
			'Every range must lie within 1 to 5 with its minimum not above its maximum.');
	END IF;
	IF btrim(NEW.segment) = '' THEN
		PERFORM @extschema@.config_error(
			format('segment rule %s of rule set %L has an empty segment name', NEW.precedence, @extschema@.message_excerpt(NEW.rule_set)),
			'Give every rule the segment name customers matching it should get.');
	END IF;
	RETURN NEW;
END
$$;
COMMENT ON FUNCTION @extschema@.segment_rules_check() IS 'Trigger: validates crm.segment_rules.';

CREATE OR REPLACE FUNCTION @extschema@.check_segment_rules(rule_set text)
RETURNS TABLE (problem text, precedence integer, segment text, rfm_code smallint, detail text)
LANGUAGE plpgsql STABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	IF rule_set IS NULL THEN
		RAISE EXCEPTION USING ERRCODE = 'null_value_not_allowed',
			MESSAGE = 'rule_set must not be NULL',
			HINT = 'Name a rule set of crm.segment_rules, e.g. ''default''.';
	END IF;
	IF NOT EXISTS (SELECT 1 FROM @extschema@.segment_rules AS sr WHERE sr.rule_set = check_segment_rules.rule_set) THEN
		RAISE EXCEPTION USING ERRCODE = 'invalid_parameter_value',
			MESSAGE = format('segment rule set %L has no rules', @extschema@.message_excerpt(rule_set)),
			HINT = format('Rule sets in crm.segment_rules: %s.',
						  (SELECT coalesce(string_agg(DISTINCT quote_literal(sr.rule_set), ', '), 'none')
						   FROM @extschema@.segment_rules AS sr));
	END IF;
	RETURN QUERY
		SELECT 'uncovered cell'::text, NULL::integer, NULL::text, c.rfm_code,
			   format('no rule matches R=%s F=%s M=%s (FM=%s); customers there get the segment Unclassified',
					  c.r_score, c.f_score, c.m_score, c.fm_score)
		FROM @extschema@.segment_cells(check_segment_rules.rule_set) AS c
		WHERE c.precedence IS NULL
		UNION ALL
		SELECT 'unreachable rule', sr.precedence, sr.segment, NULL::smallint,
			   'every score cell this rule covers is taken by a rule with lower precedence, or it covers none'
		FROM @extschema@.segment_rules AS sr
		WHERE sr.rule_set = check_segment_rules.rule_set
		  AND sr.precedence NOT IN (SELECT c.precedence FROM @extschema@.segment_cells(check_segment_rules.rule_set) AS c
									WHERE c.precedence IS NOT NULL)
		ORDER BY 1, 2, 4;
END
$$;
COMMENT ON FUNCTION @extschema@.check_segment_rules(text) IS
	'Reports the score cells a rule set leaves uncovered and the rules of it that can never match. Stable because it reads crm.segment_rules.';
