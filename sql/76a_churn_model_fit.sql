-- Fitting and validating the churn and value models (tables: 75_churn.sql,
-- 76_churn_models.sql).  Functions only, created with CREATE OR REPLACE, so
-- that an upgrade script runs this part again.  The facts come from
-- crm.build_facts (81_refresh.sql) as a table argument.

-- Fits the given purchase models and Gamma-Gamma on the facts table of
-- crm.build_facts and stores them.  A model
-- that cannot be fitted (no customer, no repeat customer) is not stored.
CREATE OR REPLACE FUNCTION @extschema@.fit_models_from_facts(facts regclass, as_of timestamptz, source text, purchase_kinds text[])
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
				   FROM %s AS f WHERE f.orders > 0) AS s
			 WHERE (s.m).r IS NOT NULL
			 RETURNING model_id',
			(SELECT string_agg(format('%I, %I', p, p || '_se'), ', ') FROM unnest(params) AS p),
			(SELECT string_agg(format('(s.m).%I, (s.m).%I', p, p || '_se'), ', ') FROM unnest(params) AS p),
			purchase_kind || '_fit', facts)
		INTO fitted USING purchase_kind, fit_models_from_facts.as_of, fit_models_from_facts.source;
		IF fitted IS NOT NULL THEN
			kind := purchase_kind;
			model_id := fitted;
			RETURN NEXT;
		END IF;
	END LOOP;

	EXECUTE format(
		'INSERT INTO @extschema@.models AS m (kind, as_of, source, p, q, v, log_likelihood, customers, converged,
											  spend_frequency_corr, p_se, q_se, v_se)
		 SELECT ''gamma_gamma'', $1, $2,
				(s.m).p, (s.m).q, (s.m).v, (s.m).log_likelihood, (s.m).customers, (s.m).converged, (s.m).spend_frequency_corr,
				(s.m).p_se, (s.m).q_se, (s.m).v_se
		 FROM (SELECT @extschema@.gamma_gamma_fit(f.btyd_frequency, f.avg_repeat_spend) AS m
			   FROM %s AS f WHERE f.btyd_frequency > 0 AND f.avg_repeat_spend > 0) AS s
		 WHERE (s.m).p IS NOT NULL
		 RETURNING m.model_id', facts)
	INTO fitted USING fit_models_from_facts.as_of, fit_models_from_facts.source;
	IF fitted IS NOT NULL THEN
		kind := 'gamma_gamma';
		model_id := fitted;
		RETURN NEXT;
	END IF;
END
$$;
COMMENT ON FUNCTION @extschema@.fit_models_from_facts(regclass, timestamptz, text, text[]) IS
	'Internal: fits and stores the purchase models of purchase_kinds and Gamma-Gamma from a facts table of crm.build_facts; returns the kinds and ids of those that could be fitted.';

-- The holdout check of one calibrated purchase model, on the calibration
-- facts (a table of crm.build_facts) and the holdout purchase days per
-- customer (holdout: customer_id, purchase_days).
CREATE OR REPLACE FUNCTION @extschema@.validate_model(model_id bigint, validation_id bigint,
													  calibration_end timestamptz, holdout_end timestamptz,
													  facts regclass, holdout regclass)
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
		 FROM %2$s AS f
		 JOIN @extschema@.models AS m ON m.model_id = $1
		 LEFT JOIN %3$s AS h USING (customer_id)
		 WHERE f.orders > 0', @extschema@.purchase_model_expression(model_kind, 'm'), facts, holdout)
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
COMMENT ON FUNCTION @extschema@.validate_model(bigint, bigint, timestamptz, timestamptz, regclass, regclass) IS
	'Internal: stores the holdout check of a calibrated purchase model in crm.model_calibration and crm.model_validation.';

CREATE OR REPLACE FUNCTION @extschema@.fit_models(as_of timestamptz DEFAULT now(), calibration_end timestamptz DEFAULT NULL)
RETURNS SETOF @extschema@.models
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	source_relation regclass := @extschema@.transaction_source();
	fit_end timestamptz := coalesce(calibration_end, as_of);
	facts regclass;
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

	facts := (@extschema@.build_facts(fit_end, source_relation)).facts;
	CREATE TEMP TABLE fitted_models ON COMMIT DROP AS
	SELECT * FROM @extschema@.fit_models_from_facts(facts, fit_end, source_relation::text, @extschema@.purchase_model_kinds());
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
			PERFORM @extschema@.validate_model(fitted.model_id, validation, calibration_end, fit_models.as_of,
											   facts, to_regclass('pg_temp.holdout_purchases'));
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

-- Fitting writes crm.models and crm.model_validation: crm_admin only.
REVOKE EXECUTE ON FUNCTION @extschema@.fit_models_from_facts(regclass, timestamptz, text, text[]),
	@extschema@.validate_model(bigint, bigint, timestamptz, timestamptz, regclass, regclass),
	@extschema@.fit_models(timestamptz, timestamptz) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION @extschema@.fit_models_from_facts(regclass, timestamptz, text, text[]),
	@extschema@.validate_model(bigint, bigint, timestamptz, timestamptz, regclass, regclass),
	@extschema@.fit_models(timestamptz, timestamptz) TO crm_admin;
