-- Churn and lifetime value: BG/NBD and Gamma-Gamma models fitted from the
-- customer facts, stored with their diagnostics and calibration.

CREATE TABLE @extschema@.models (
	model_id			bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	kind				text NOT NULL CONSTRAINT models_kind_known CHECK (kind IN ('bgnbd', 'gamma_gamma')),
	fitted_at			timestamptz NOT NULL DEFAULT clock_timestamp(),
	as_of				timestamptz NOT NULL,
	time_unit			text NOT NULL DEFAULT 'day',
	source				text,
	r					double precision,
	alpha				double precision,
	a					double precision,
	b					double precision,
	p					double precision,
	q					double precision,
	v					double precision,
	log_likelihood		double precision,
	customers			bigint,
	converged			boolean,
	iterations			integer,
	spend_frequency_corr double precision,
	holdout_end			timestamptz
);
COMMENT ON TABLE @extschema@.models IS
	'Every fitted churn (BG/NBD) and spend (Gamma-Gamma) model with its diagnostics. Time is in days: frequency = repeat purchase days, recency and T in days.';
COMMENT ON COLUMN @extschema@.models.model_id IS 'Model number, increasing.';
COMMENT ON COLUMN @extschema@.models.kind IS 'bgnbd (purchase and dropout process) or gamma_gamma (spend per purchase).';
COMMENT ON COLUMN @extschema@.models.fitted_at IS 'When the model was fitted.';
COMMENT ON COLUMN @extschema@.models.as_of IS 'End of the data the model was fitted on (the calibration end when calibrated).';
COMMENT ON COLUMN @extschema@.models.time_unit IS 'Time unit of recency, T and alpha: day.';
COMMENT ON COLUMN @extschema@.models.source IS 'Sales table or view the facts came from.';
COMMENT ON COLUMN @extschema@.models.r IS 'BG/NBD: shape of the purchase-rate gamma distribution.';
COMMENT ON COLUMN @extschema@.models.alpha IS 'BG/NBD: scale of the purchase-rate gamma distribution, in days.';
COMMENT ON COLUMN @extschema@.models.a IS 'BG/NBD: first shape of the dropout-probability beta distribution.';
COMMENT ON COLUMN @extschema@.models.b IS 'BG/NBD: second shape of the dropout-probability beta distribution.';
COMMENT ON COLUMN @extschema@.models.p IS 'Gamma-Gamma: shape of the spend per purchase.';
COMMENT ON COLUMN @extschema@.models.q IS 'Gamma-Gamma: shape of the customers'' spend scale.';
COMMENT ON COLUMN @extschema@.models.v IS 'Gamma-Gamma: rate (gamma) of the customers'' spend scale.';
COMMENT ON COLUMN @extschema@.models.log_likelihood IS 'Maximised log-likelihood.';
COMMENT ON COLUMN @extschema@.models.customers IS 'Customers the model was fitted on.';
COMMENT ON COLUMN @extschema@.models.converged IS 'Whether the optimiser converged; the refresh scores only with converged models.';
COMMENT ON COLUMN @extschema@.models.iterations IS 'Optimiser iterations.';
COMMENT ON COLUMN @extschema@.models.spend_frequency_corr IS 'Gamma-Gamma: correlation of mean spend and frequency over the fitted customers; the model assumes it is near 0.';
COMMENT ON COLUMN @extschema@.models.holdout_end IS 'End of the holdout period when the model was calibrated; see crm.model_calibration.';

CREATE TABLE @extschema@.model_calibration (
	model_id			bigint NOT NULL REFERENCES @extschema@.models ON DELETE CASCADE,
	frequency_class		integer NOT NULL,
	customers			bigint NOT NULL,
	actual_repeat_purchases double precision NOT NULL,
	predicted_repeat_purchases double precision,
	PRIMARY KEY (model_id, frequency_class)
);
COMMENT ON TABLE @extschema@.model_calibration IS
	'Holdout check of a calibrated BG/NBD model: per number of repeat purchase days in the calibration period, the mean repeat purchase days actually made in the holdout period and the mean the model predicted.';
COMMENT ON COLUMN @extschema@.model_calibration.model_id IS 'BG/NBD model (crm.models).';
COMMENT ON COLUMN @extschema@.model_calibration.frequency_class IS 'Repeat purchase days in the calibration period; 7 stands for 7 or more.';
COMMENT ON COLUMN @extschema@.model_calibration.customers IS 'Customers in the class.';
COMMENT ON COLUMN @extschema@.model_calibration.actual_repeat_purchases IS 'Mean purchase days per customer in the holdout period.';
COMMENT ON COLUMN @extschema@.model_calibration.predicted_repeat_purchases IS 'Mean the model predicted for the holdout period.';

-- Fits both models on the facts in pg_temp.refresh_facts (see
-- crm.build_facts) and stores them.  A model that cannot be fitted (no
-- customer, or no repeat customer for Gamma-Gamma) is not stored.
CREATE FUNCTION @extschema@.fit_models_from_facts(as_of timestamptz, source text,
												  OUT bgnbd_model_id bigint, OUT gamma_gamma_model_id bigint)
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	INSERT INTO @extschema@.models (kind, as_of, source, r, alpha, a, b, log_likelihood, customers, converged, iterations)
	SELECT 'bgnbd', fit_models_from_facts.as_of, fit_models_from_facts.source,
		   (s.m).r, (s.m).alpha, (s.m).a, (s.m).b, (s.m).log_likelihood, (s.m).customers, (s.m).converged, (s.m).iterations
	FROM (SELECT @extschema@.bgnbd_fit(f.btyd_frequency, f.btyd_recency, f.btyd_t) AS m
		  FROM pg_temp.refresh_facts AS f WHERE f.orders > 0) AS s
	WHERE (s.m).r IS NOT NULL
	RETURNING model_id INTO bgnbd_model_id;

	INSERT INTO @extschema@.models (kind, as_of, source, p, q, v, log_likelihood, customers, converged, spend_frequency_corr)
	SELECT 'gamma_gamma', fit_models_from_facts.as_of, fit_models_from_facts.source,
		   (s.m).p, (s.m).q, (s.m).v, (s.m).log_likelihood, (s.m).customers, (s.m).converged, (s.m).spend_frequency_corr
	FROM (SELECT @extschema@.gamma_gamma_fit(f.btyd_frequency, f.avg_repeat_spend) AS m
		  FROM pg_temp.refresh_facts AS f WHERE f.btyd_frequency > 0 AND f.avg_repeat_spend > 0) AS s
	WHERE (s.m).p IS NOT NULL
	RETURNING model_id INTO gamma_gamma_model_id;
END
$$;
COMMENT ON FUNCTION @extschema@.fit_models_from_facts(timestamptz, text) IS
	'Internal: fits and stores BG/NBD and Gamma-Gamma models from the facts of crm.build_facts; returns their ids (NULL when a model could not be fitted).';

CREATE FUNCTION @extschema@.fit_models(as_of timestamptz DEFAULT now(), calibration_end timestamptz DEFAULT NULL)
RETURNS SETOF @extschema@.models
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	source_relation regclass := @extschema@.transaction_source();
	fit_end timestamptz := coalesce(calibration_end, as_of);
	fitted record;
	holdout_days double precision;
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
	SELECT * INTO fitted FROM @extschema@.fit_models_from_facts(fit_end, source_relation::text);

	IF calibration_end IS NOT NULL AND fitted.bgnbd_model_id IS NOT NULL THEN
		UPDATE @extschema@.models AS m SET holdout_end = fit_models.as_of
		WHERE m.model_id IN (fitted.bgnbd_model_id, fitted.gamma_gamma_model_id);
		holdout_days := extract(epoch FROM fit_models.as_of - calibration_end) / 86400;
		-- Holdout purchase days are counted like the facts count them:
		-- 24-hour periods back from the end of the period.
		EXECUTE format(
			'INSERT INTO @extschema@.model_calibration
			 SELECT $1, least(f.btyd_frequency, 7), count(*),
					avg(coalesce(h.purchase_days, 0)),
					avg(@extschema@.expected_purchases($2, f.btyd_frequency, f.btyd_recency, f.btyd_t,
													   @extschema@.bgnbd_model(m.r, m.alpha, m.a, m.b)))
			 FROM pg_temp.refresh_facts AS f
			 JOIN @extschema@.models AS m ON m.model_id = $1
			 LEFT JOIN (SELECT s.customer_id::bigint AS customer_id,
							   count(DISTINCT floor(extract(epoch FROM $4 - s.occurred_at) / 86400)) AS purchase_days
						FROM %s AS s
						WHERE s.customer_id IS NOT NULL AND s.amount > 0
						  AND s.occurred_at > $3 AND s.occurred_at <= $4
						GROUP BY 1) AS h USING (customer_id)
			 WHERE f.orders > 0
			 GROUP BY 2', source_relation)
		USING fitted.bgnbd_model_id, holdout_days, calibration_end, fit_models.as_of;
	END IF;

	RETURN QUERY SELECT * FROM @extschema@.models AS m
		WHERE m.model_id IN (fitted.bgnbd_model_id, fitted.gamma_gamma_model_id)
		ORDER BY m.model_id;
END
$$;
COMMENT ON FUNCTION @extschema@.fit_models(timestamptz, timestamptz) IS
	'Fits BG/NBD and Gamma-Gamma on every customer''s facts as of as_of (days as the time unit) and stores them in crm.models. With calibration_end, fits on the data up to calibration_end and stores the holdout check of (calibration_end, as_of] in crm.model_calibration. Returns the stored models.';

-- The model the refresh scores with: the latest converged one of a kind.
CREATE FUNCTION @extschema@.current_model_id(kind text)
RETURNS bigint
LANGUAGE sql STABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
	SELECT max(m.model_id) FROM @extschema@.models AS m
	WHERE m.kind = current_model_id.kind AND m.converged
$$;
COMMENT ON FUNCTION @extschema@.current_model_id(text) IS
	'The latest converged model of a kind (bgnbd or gamma_gamma), NULL when there is none. Stable because it reads crm.models.';
