-- Fitting, validating and choosing the purchase model: BG/NBD, MBG/NBD and
-- Pareto/NBD are fitted on a calibration period and checked against what
-- customers did in the holdout (crm.model_validation); the refresh scores
-- with the one crm.settings.churn_model names, or with the best holdout
-- Brier score of the last validation ('auto').

-- The purchase models and the columns of crm.models their parameters go
-- to, in the order of their constructor's arguments.
CREATE FUNCTION @extschema@.purchase_model_parameters(kind text)
RETURNS text[]
LANGUAGE sql IMMUTABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
	SELECT CASE kind
		WHEN 'bgnbd' THEN ARRAY['r', 'alpha', 'a', 'b']
		WHEN 'mbgnbd' THEN ARRAY['r', 'alpha', 'a', 'b']
		WHEN 'pareto_nbd' THEN ARRAY['r', 'alpha', 's', 'beta']
	END
$$;
COMMENT ON FUNCTION @extschema@.purchase_model_parameters(text) IS
	'The parameters of a purchase model kind (bgnbd, mbgnbd, pareto_nbd), in the order of its constructor crm.<kind>_model(); NULL for any other kind.';

CREATE FUNCTION @extschema@.purchase_model_kinds()
RETURNS text[]
LANGUAGE sql IMMUTABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
	SELECT ARRAY['bgnbd', 'mbgnbd', 'pareto_nbd']
$$;
COMMENT ON FUNCTION @extschema@.purchase_model_kinds() IS
	'The purchase models crm.fit_models() fits and validates: bgnbd, mbgnbd, pareto_nbd.';

-- SQL of the model composite of a crm.models row aliased "alias", e.g.
-- crm.bgnbd_model(m.r, m.alpha, m.a, m.b).
CREATE FUNCTION @extschema@.purchase_model_expression(kind text, alias text)
RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
	SELECT format('@extschema@.%I(%s)', kind || '_model',
				  (SELECT string_agg(format('%I.%I', alias, p), ', ' ORDER BY i)
				   FROM unnest(@extschema@.purchase_model_parameters(kind)) WITH ORDINALITY AS u(p, i)))
$$;
COMMENT ON FUNCTION @extschema@.purchase_model_expression(text, text) IS
	'Internal: the SQL expression building the model composite of kind from the crm.models row aliased alias.';

ALTER TABLE @extschema@.settings
	ADD COLUMN churn_model text NOT NULL DEFAULT 'auto';
COMMENT ON COLUMN @extschema@.settings.churn_model IS
	'Purchase model the refresh scores churn, expected purchases and CLV with: bgnbd, mbgnbd, pareto_nbd, or auto (default) = the model with the lowest holdout Brier score in the last validation of crm.fit_models(as_of, calibration_end) (lowest AIC on ties), bgnbd before any validation. See crm.churn_model_choice.';

CREATE FUNCTION @extschema@.settings_churn_model_check()
RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	IF NOT (NEW.churn_model = 'auto' OR NEW.churn_model = ANY (@extschema@.purchase_model_kinds())) THEN
		PERFORM @extschema@.config_error(
			format('churn_model must be auto, bgnbd, mbgnbd or pareto_nbd, not %L', @extschema@.message_excerpt(NEW.churn_model)),
			'auto scores with the model that predicted the last holdout best (crm.fit_models(as_of, calibration_end) validates them).');
	END IF;
	RETURN NEW;
END
$$;
COMMENT ON FUNCTION @extschema@.settings_churn_model_check() IS 'Trigger: validates crm.settings.churn_model.';

CREATE TRIGGER settings_churn_model_check BEFORE INSERT OR UPDATE ON @extschema@.settings
	FOR EACH ROW EXECUTE FUNCTION @extschema@.settings_churn_model_check();

CREATE TABLE @extschema@.model_validation (
	model_id			bigint PRIMARY KEY REFERENCES @extschema@.models ON DELETE CASCADE,
	validation_id		bigint NOT NULL,
	kind				text NOT NULL,
	calibration_end		timestamptz NOT NULL,
	holdout_end			timestamptz NOT NULL,
	holdout_days		double precision NOT NULL,
	holdout_customers	bigint NOT NULL,
	actual_repeat_purchases double precision NOT NULL,
	predicted_repeat_purchases double precision,
	churn_auc			double precision,
	brier_score			double precision,
	log_likelihood		double precision,
	parameters			integer NOT NULL,
	aic					double precision,
	bic					double precision
);
COMMENT ON TABLE @extschema@.model_validation IS
	'Holdout check of every purchase model crm.fit_models(as_of, calibration_end) fitted on the calibration period: how well it predicted what the customers did in (calibration_end, as_of]. One row per model; the models of one call share validation_id.';
COMMENT ON COLUMN @extschema@.model_validation.model_id IS 'The calibrated model (crm.models).';
COMMENT ON COLUMN @extschema@.model_validation.validation_id IS 'One number per crm.fit_models() call, increasing: the last validation has the largest.';
COMMENT ON COLUMN @extschema@.model_validation.kind IS 'bgnbd, mbgnbd or pareto_nbd.';
COMMENT ON COLUMN @extschema@.model_validation.calibration_end IS 'End of the calibration period the model was fitted on.';
COMMENT ON COLUMN @extschema@.model_validation.holdout_end IS 'End of the holdout period (the as_of of crm.fit_models).';
COMMENT ON COLUMN @extschema@.model_validation.holdout_days IS 'Length of the holdout period in days: the horizon of the churn risk scored.';
COMMENT ON COLUMN @extschema@.model_validation.holdout_customers IS 'Customers with a purchase in the calibration period: those scored.';
COMMENT ON COLUMN @extschema@.model_validation.actual_repeat_purchases IS 'Purchase days they made in the holdout period, in total.';
COMMENT ON COLUMN @extschema@.model_validation.predicted_repeat_purchases IS 'Purchase days the model expected them to make there, in total.';
COMMENT ON COLUMN @extschema@.model_validation.churn_auc IS 'Area under the ROC curve of the churn risk over the holdout against "made no purchase in the holdout": the probability that a random such customer has a higher risk than a random buyer (ties count half); 0.5 is chance, 1 perfect. NULL when everyone or no one bought.';
COMMENT ON COLUMN @extschema@.model_validation.brier_score IS 'Mean squared difference between the churn risk over the holdout and 1 for no purchase / 0 for a purchase; lower is better, 0.25 is a constant 50 % guess.';
COMMENT ON COLUMN @extschema@.model_validation.log_likelihood IS 'Log-likelihood of the calibration fit.';
COMMENT ON COLUMN @extschema@.model_validation.parameters IS 'Parameters of the model: 4.';
COMMENT ON COLUMN @extschema@.model_validation.aic IS 'Akaike information criterion of the calibration fit, 2 parameters - 2 log_likelihood; lower is better.';
COMMENT ON COLUMN @extschema@.model_validation.bic IS 'Bayesian information criterion, ln(customers) parameters - 2 log_likelihood; lower is better.';

CREATE SEQUENCE @extschema@.model_validation_id_seq;
COMMENT ON SEQUENCE @extschema@.model_validation_id_seq IS 'Numbers the crm.fit_models() calls that validate.';

-- The purchase model the refresh scores with, and why.
CREATE FUNCTION @extschema@.churn_model_choice(OUT kind text, OUT reason text, OUT validation_id bigint)
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	setting text := (SELECT s.churn_model FROM @extschema@.settings AS s);
BEGIN
	IF setting <> 'auto' THEN
		kind := setting;
		reason := format('crm.settings.churn_model = %s', setting);
		RETURN;
	END IF;
	SELECT v.kind, format('auto: lowest holdout Brier score (%s) of validation %s, holdout %s to %s',
						  round(v.brier_score::numeric, 4), v.validation_id,
						  to_char(v.calibration_end, 'YYYY-MM-DD HH24:MI TZ'),
						  to_char(v.holdout_end, 'YYYY-MM-DD HH24:MI TZ')),
		   v.validation_id
	INTO kind, reason, validation_id
	FROM @extschema@.model_validation AS v
	JOIN @extschema@.models AS m USING (model_id)
	WHERE v.validation_id = (SELECT max(l.validation_id) FROM @extschema@.model_validation AS l)
	  AND m.converged AND v.brier_score IS NOT NULL
	ORDER BY v.brier_score, v.aic, v.kind
	LIMIT 1;
	IF kind IS NULL THEN
		kind := 'bgnbd';
		reason := 'auto: no validation yet (crm.fit_models(as_of, calibration_end) makes one), so bgnbd';
	END IF;
END
$$;
COMMENT ON FUNCTION @extschema@.churn_model_choice() IS
	'The purchase model kind the refresh scores with and why: crm.settings.churn_model, or for auto the converged model with the lowest holdout Brier score of the last validation (ties: lower AIC), bgnbd when there is none. Stable because it reads tables.';

CREATE VIEW @extschema@.model_validation_report AS
SELECT v.validation_id, v.kind, v.model_id, v.calibration_end, v.holdout_end,
	   round(v.holdout_days::numeric, 2)::numeric(10,2) AS holdout_days, v.holdout_customers,
	   round(v.actual_repeat_purchases::numeric, 1)::numeric(16,1) AS actual_repeat_purchases,
	   round(v.predicted_repeat_purchases::numeric, 1)::numeric(16,1) AS predicted_repeat_purchases,
	   round(v.churn_auc::numeric, 4)::numeric(7,4) AS churn_auc, round(v.brier_score::numeric, 4)::numeric(7,4) AS brier_score,
	   round(v.log_likelihood::numeric, 2)::numeric(18,2) AS log_likelihood,
	   round(v.aic::numeric, 2)::numeric(18,2) AS aic, round(v.bic::numeric, 2)::numeric(18,2) AS bic,
	   m.converged,
	   v.validation_id = (SELECT max(l.validation_id) FROM @extschema@.model_validation AS l) AS latest,
	   v.kind = (SELECT c.kind FROM @extschema@.churn_model_choice() AS c) AND
	   v.validation_id = (SELECT max(l.validation_id) FROM @extschema@.model_validation AS l) AS chosen
FROM @extschema@.model_validation AS v
JOIN @extschema@.models AS m USING (model_id);
COMMENT ON VIEW @extschema@.model_validation_report IS
	'Every holdout validation of the purchase models, one row per model, for BI tools: how well each predicted the holdout purchases and who would not buy. chosen marks the model the refresh scores with when it comes from the latest validation.';
COMMENT ON COLUMN @extschema@.model_validation_report.validation_id IS 'Validation (one crm.fit_models call); the largest is the latest.';
COMMENT ON COLUMN @extschema@.model_validation_report.kind IS 'bgnbd, mbgnbd or pareto_nbd.';
COMMENT ON COLUMN @extschema@.model_validation_report.model_id IS 'The calibrated model (crm.model_diagnostics).';
COMMENT ON COLUMN @extschema@.model_validation_report.calibration_end IS 'End of the calibration period.';
COMMENT ON COLUMN @extschema@.model_validation_report.holdout_end IS 'End of the holdout period.';
COMMENT ON COLUMN @extschema@.model_validation_report.holdout_days IS 'Length of the holdout in days, the horizon of the churn risk.';
COMMENT ON COLUMN @extschema@.model_validation_report.holdout_customers IS 'Customers scored.';
COMMENT ON COLUMN @extschema@.model_validation_report.actual_repeat_purchases IS 'Purchase days made in the holdout, in total.';
COMMENT ON COLUMN @extschema@.model_validation_report.predicted_repeat_purchases IS 'Purchase days the model expected, in total.';
COMMENT ON COLUMN @extschema@.model_validation_report.churn_auc IS 'Area under the ROC curve of the churn risk against no purchase in the holdout: 0.5 is chance, 1 perfect.';
COMMENT ON COLUMN @extschema@.model_validation_report.brier_score IS 'Mean squared error of the churn risk as a probability of no purchase; lower is better.';
COMMENT ON COLUMN @extschema@.model_validation_report.log_likelihood IS 'Log-likelihood of the calibration fit.';
COMMENT ON COLUMN @extschema@.model_validation_report.aic IS 'Akaike information criterion; lower is better.';
COMMENT ON COLUMN @extschema@.model_validation_report.bic IS 'Bayesian information criterion; lower is better.';
COMMENT ON COLUMN @extschema@.model_validation_report.converged IS 'Whether the calibration fit converged (auto chooses only converged models).';
COMMENT ON COLUMN @extschema@.model_validation_report.latest IS 'From the latest validation.';
COMMENT ON COLUMN @extschema@.model_validation_report.chosen IS 'The model kind the refresh scores with, in the latest validation.';

-- Rights and dump registration of the objects above.
GRANT SELECT ON @extschema@.model_validation, @extschema@.model_validation_report TO crm_analyst;
GRANT SELECT ON @extschema@.model_validation_report TO crm_admin;
GRANT SELECT, INSERT, UPDATE, DELETE, TRUNCATE ON @extschema@.model_validation TO crm_admin;
GRANT USAGE, SELECT ON @extschema@.model_validation_id_seq TO crm_admin;
SELECT pg_catalog.pg_extension_config_dump('@extschema@.model_validation', '');
SELECT pg_catalog.pg_extension_config_dump('@extschema@.model_validation_id_seq', '');
