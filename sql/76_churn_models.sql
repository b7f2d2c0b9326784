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

-- Fits the given purchase models and Gamma-Gamma on the facts in
-- pg_temp.refresh_facts (see crm.build_facts) and stores them.  A model
-- that cannot be fitted (no customer, no repeat customer) is not stored.
CREATE OR REPLACE FUNCTION @extschema@.fit_models_from_facts(as_of timestamptz, source text, purchase_kinds text[])
RETURNS TABLE (kind text, model_id bigint)
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	purchase_kind text;
	params text[];
	fitted bigint;
BEGIN
	FOREACH purchase_kind IN ARRAY purchase_kinds LOOP
		params := @extschema@.purchase_model_parameters(purchase_kind);
		EXECUTE format(
			'INSERT INTO @extschema@.models (kind, as_of, source, %s, log_likelihood, customers, converged, iterations,
											 dropout_log_likelihood_gain)
			 SELECT $1, $2, $3, %s, (s.m).log_likelihood, (s.m).customers, (s.m).converged, (s.m).iterations,
					(s.m).dropout_log_likelihood_gain
			 FROM (SELECT @extschema@.%I(f.btyd_frequency, f.btyd_recency, f.btyd_t) AS m
				   FROM pg_temp.refresh_facts AS f WHERE f.orders > 0) AS s
			 WHERE (s.m).r IS NOT NULL
			 RETURNING model_id',
			(SELECT string_agg(format('%I, %I', p, p || '_se'), ', ') FROM unnest(params) AS p),
			(SELECT string_agg(format('(s.m).%I, (s.m).%I', p, p || '_se'), ', ') FROM unnest(params) AS p),
			purchase_kind || '_fit')
		INTO fitted USING purchase_kind, fit_models_from_facts.as_of, fit_models_from_facts.source;
		IF fitted IS NOT NULL THEN
			kind := purchase_kind;
			model_id := fitted;
			RETURN NEXT;
		END IF;
	END LOOP;

	INSERT INTO @extschema@.models AS m (kind, as_of, source, p, q, v, log_likelihood, customers, converged, spend_frequency_corr,
										 p_se, q_se, v_se)
	SELECT 'gamma_gamma', fit_models_from_facts.as_of, fit_models_from_facts.source,
		   (s.m).p, (s.m).q, (s.m).v, (s.m).log_likelihood, (s.m).customers, (s.m).converged, (s.m).spend_frequency_corr,
		   (s.m).p_se, (s.m).q_se, (s.m).v_se
	FROM (SELECT @extschema@.gamma_gamma_fit(f.btyd_frequency, f.avg_repeat_spend) AS m
		  FROM pg_temp.refresh_facts AS f WHERE f.btyd_frequency > 0 AND f.avg_repeat_spend > 0) AS s
	WHERE (s.m).p IS NOT NULL
	RETURNING m.model_id INTO fitted;
	IF fitted IS NOT NULL THEN
		kind := 'gamma_gamma';
		model_id := fitted;
		RETURN NEXT;
	END IF;
END
$$;
COMMENT ON FUNCTION @extschema@.fit_models_from_facts(timestamptz, text, text[]) IS
	'Internal: fits and stores the purchase models of purchase_kinds and Gamma-Gamma from the facts of crm.build_facts; returns the kinds and ids of those that could be fitted.';

-- The holdout check of one calibrated purchase model, on the calibration
-- facts in pg_temp.refresh_facts and the holdout purchase days in
-- pg_temp.holdout_purchases.
CREATE OR REPLACE FUNCTION @extschema@.validate_model(model_id bigint, validation_id bigint,
													  calibration_end timestamptz, holdout_end timestamptz)
RETURNS void
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	model_kind text := (SELECT m.kind FROM @extschema@.models AS m WHERE m.model_id = validate_model.model_id);
	horizon double precision := extract(epoch FROM holdout_end - calibration_end) / 86400;
BEGIN
	DROP TABLE IF EXISTS pg_temp.validation_scores;
	EXECUTE format(
		'CREATE TEMP TABLE validation_scores ON COMMIT DROP AS
		 SELECT f.btyd_frequency, coalesce(h.purchase_days, 0) AS purchase_days,
				@extschema@.expected_purchases($2, f.btyd_frequency, f.btyd_recency, f.btyd_t, %1$s) AS predicted,
				@extschema@.churn_risk($2, f.btyd_frequency, f.btyd_recency, f.btyd_t, %1$s) AS risk
		 FROM pg_temp.refresh_facts AS f
		 JOIN @extschema@.models AS m ON m.model_id = $1
		 LEFT JOIN pg_temp.holdout_purchases AS h USING (customer_id)
		 WHERE f.orders > 0', @extschema@.purchase_model_expression(model_kind, 'm'))
	USING validate_model.model_id, horizon;

	INSERT INTO @extschema@.model_calibration
	SELECT validate_model.model_id, least(v.btyd_frequency, 7), count(*), avg(v.purchase_days), avg(v.predicted)
	FROM pg_temp.validation_scores AS v GROUP BY 2;

	-- AUC by the rank-sum (Mann-Whitney) statistic with mid-ranks for ties.
	INSERT INTO @extschema@.model_validation
	SELECT validate_model.model_id, validate_model.validation_id, model_kind,
		   validate_model.calibration_end, validate_model.holdout_end, horizon,
		   count(*), sum(r.purchase_days), sum(r.predicted),
		   (sum(r.mid_rank) FILTER (WHERE r.churned) - count(*) FILTER (WHERE r.churned) * (count(*) FILTER (WHERE r.churned) + 1) / 2.0)
			   / nullif(count(*) FILTER (WHERE r.churned) * count(*) FILTER (WHERE NOT r.churned), 0),
		   avg((r.risk - r.churned::int) ^ 2),
		   m.log_likelihood, 4, 8 - 2 * m.log_likelihood, 4 * ln(m.customers) - 2 * m.log_likelihood
	FROM (SELECT v.*, v.purchase_days = 0 AS churned,
				 rank() OVER (ORDER BY v.risk) + (count(*) OVER (PARTITION BY v.risk) - 1) / 2.0 AS mid_rank
		  FROM pg_temp.validation_scores AS v) AS r
	JOIN @extschema@.models AS m ON m.model_id = validate_model.model_id
	GROUP BY m.log_likelihood, m.customers;
	DROP TABLE pg_temp.validation_scores;
END
$$;
COMMENT ON FUNCTION @extschema@.validate_model(bigint, bigint, timestamptz, timestamptz) IS
	'Internal: stores the holdout check of a calibrated purchase model in crm.model_calibration and crm.model_validation.';

CREATE OR REPLACE FUNCTION @extschema@.fit_models(as_of timestamptz DEFAULT now(), calibration_end timestamptz DEFAULT NULL)
RETURNS SETOF @extschema@.models
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	source_relation regclass := @extschema@.transaction_source();
	fit_end timestamptz := coalesce(calibration_end, as_of);
	fitted_ids bigint[];
	validation bigint;
	fitted record;
BEGIN
	IF as_of IS NULL OR NOT isfinite(as_of) THEN
		RAISE EXCEPTION USING ERRCODE = 'invalid_parameter_value',
			MESSAGE = format('as_of must be a finite timestamp, not %s', coalesce(as_of::text, 'NULL')),
			HINT = 'Give the end of the data to fit on, e.g. crm.fit_models(''2011-12-10'').';
	END IF;
	IF calibration_end IS NOT NULL AND NOT (calibration_end < as_of AND isfinite(calibration_end)) THEN
		RAISE EXCEPTION USING ERRCODE = 'invalid_parameter_value',
			MESSAGE = format('calibration_end must be a finite timestamp before as_of %s, not %s', as_of, calibration_end),
			HINT = 'The models are fitted on the data up to calibration_end and checked against the purchases between calibration_end and as_of.';
	END IF;

	PERFORM @extschema@.build_facts(fit_end, source_relation);
	CREATE TEMP TABLE fitted_models ON COMMIT DROP AS
	SELECT * FROM @extschema@.fit_models_from_facts(fit_end, source_relation::text, @extschema@.purchase_model_kinds());
	fitted_ids := ARRAY(SELECT f.model_id FROM pg_temp.fitted_models AS f);

	IF calibration_end IS NOT NULL THEN
		UPDATE @extschema@.models AS m SET holdout_end = fit_models.as_of WHERE m.model_id = ANY (fitted_ids);
		-- Holdout purchase days are counted like the facts count them:
		-- 24-hour periods back from the end of the period.
		EXECUTE format(
			'CREATE TEMP TABLE holdout_purchases ON COMMIT DROP AS
			 SELECT s.customer_id::bigint AS customer_id,
					count(DISTINCT floor(extract(epoch FROM $2 - s.occurred_at) / 86400)) AS purchase_days
			 FROM %s AS s
			 WHERE s.customer_id IS NOT NULL AND s.amount > 0
			   AND s.occurred_at > $1 AND s.occurred_at <= $2
			 GROUP BY 1', source_relation)
		USING calibration_end, fit_models.as_of;
		ANALYZE pg_temp.holdout_purchases;
		validation := nextval('@extschema@.model_validation_id_seq');
		FOR fitted IN SELECT * FROM pg_temp.fitted_models AS f WHERE f.kind <> 'gamma_gamma' ORDER BY f.model_id LOOP
			PERFORM @extschema@.validate_model(fitted.model_id, validation, calibration_end, fit_models.as_of);
		END LOOP;
		DROP TABLE pg_temp.holdout_purchases;
	END IF;
	DROP TABLE pg_temp.fitted_models;

	RETURN QUERY SELECT * FROM @extschema@.models AS m
		WHERE m.model_id = ANY (fitted_ids)
		ORDER BY m.model_id;
END
$$;
COMMENT ON FUNCTION @extschema@.fit_models(timestamptz, timestamptz) IS
	'Fits BG/NBD, MBG/NBD, Pareto/NBD and Gamma-Gamma on every customer''s facts as of as_of (days as the time unit) and stores them in crm.models. With calibration_end, fits on the data up to calibration_end and stores the holdout check of (calibration_end, as_of] of each purchase model in crm.model_calibration and crm.model_validation (the churn_model = auto choice reads the last one). Returns the stored models.';

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
REVOKE EXECUTE ON FUNCTION @extschema@.fit_models_from_facts(timestamptz, text, text[]),
	@extschema@.validate_model(bigint, bigint, timestamptz, timestamptz) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION @extschema@.fit_models_from_facts(timestamptz, text, text[]),
	@extschema@.validate_model(bigint, bigint, timestamptz, timestamptz) TO crm_admin;
GRANT SELECT ON @extschema@.model_validation, @extschema@.model_validation_report TO crm_analyst;
GRANT SELECT ON @extschema@.model_validation_report TO crm_admin;
GRANT SELECT, INSERT, UPDATE, DELETE, TRUNCATE ON @extschema@.model_validation TO crm_admin;
GRANT USAGE, SELECT ON @extschema@.model_validation_id_seq TO crm_admin;
SELECT pg_catalog.pg_extension_config_dump('@extschema@.model_validation', '');
SELECT pg_catalog.pg_extension_config_dump('@extschema@.model_validation_id_seq', '');
