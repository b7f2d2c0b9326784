-- Churn and lifetime value: the purchase models (BG/NBD, MBG/NBD,
-- Pareto/NBD) and the Gamma-Gamma spend model fitted from the customer
-- facts, stored with their diagnostics and calibration.  How they are
-- fitted, validated and chosen: 76_churn_models.sql.

CREATE TABLE @extschema@.models (
	model_id			bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	kind				text NOT NULL CONSTRAINT models_kind_known CHECK (kind IN ('bgnbd', 'gamma_gamma', 'mbgnbd', 'pareto_nbd')),
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
	holdout_end			timestamptz,
	s					double precision,
	beta				double precision,
	r_se				double precision,
	alpha_se				double precision,
	a_se				double precision,
	b_se				double precision,
	s_se				double precision,
	beta_se				double precision,
	p_se				double precision,
	q_se				double precision,
	v_se				double precision,
	dropout_log_likelihood_gain double precision
);
COMMENT ON TABLE @extschema@.models IS
	'Every fitted purchase model (BG/NBD, MBG/NBD, Pareto/NBD) and spend model (Gamma-Gamma) with its diagnostics. Time is in days: frequency = repeat purchase days, recency and T in days.';
COMMENT ON COLUMN @extschema@.models.model_id IS 'Model number, increasing.';
COMMENT ON COLUMN @extschema@.models.kind IS 'bgnbd, mbgnbd or pareto_nbd (purchase and dropout process), or gamma_gamma (spend per purchase).';
COMMENT ON COLUMN @extschema@.models.fitted_at IS 'When the model was fitted.';
COMMENT ON COLUMN @extschema@.models.as_of IS 'End of the data the model was fitted on (the calibration end when calibrated).';
COMMENT ON COLUMN @extschema@.models.time_unit IS 'Time unit of recency, T and alpha: day.';
COMMENT ON COLUMN @extschema@.models.source IS 'Sales table or view the facts came from.';
COMMENT ON COLUMN @extschema@.models.r IS 'Purchase models: shape of the purchase-rate gamma distribution.';
COMMENT ON COLUMN @extschema@.models.alpha IS 'Purchase models: scale of the purchase-rate gamma distribution, in days.';
COMMENT ON COLUMN @extschema@.models.a IS 'BG/NBD and MBG/NBD: first shape of the dropout-probability beta distribution.';
COMMENT ON COLUMN @extschema@.models.b IS 'BG/NBD and MBG/NBD: second shape of the dropout-probability beta distribution.';
COMMENT ON COLUMN @extschema@.models.p IS 'Gamma-Gamma: shape of the spend per purchase.';
COMMENT ON COLUMN @extschema@.models.q IS 'Gamma-Gamma: shape of the customers'' spend scale.';
COMMENT ON COLUMN @extschema@.models.v IS 'Gamma-Gamma: rate (gamma) of the customers'' spend scale.';
COMMENT ON COLUMN @extschema@.models.log_likelihood IS 'Maximised log-likelihood.';
COMMENT ON COLUMN @extschema@.models.customers IS 'Customers the model was fitted on.';
COMMENT ON COLUMN @extschema@.models.converged IS 'Whether the optimiser converged; the refresh scores only with converged models.';
COMMENT ON COLUMN @extschema@.models.iterations IS 'Optimiser iterations.';
COMMENT ON COLUMN @extschema@.models.spend_frequency_corr IS 'Gamma-Gamma: correlation of mean spend and frequency over the fitted customers; the model assumes it is near 0.';
COMMENT ON COLUMN @extschema@.models.holdout_end IS 'End of the holdout period when the model was calibrated; see crm.model_calibration and crm.model_validation.';
COMMENT ON COLUMN @extschema@.models.s IS 'Pareto/NBD: shape of the dropout-rate gamma distribution.';
COMMENT ON COLUMN @extschema@.models.beta IS 'Pareto/NBD: scale of the dropout-rate gamma distribution, in days.';
COMMENT ON COLUMN @extschema@.models.r_se IS 'Standard error of r (observed information); NULL where not identified.';
COMMENT ON COLUMN @extschema@.models.alpha_se IS 'Standard error of alpha (observed information); NULL where not identified.';
COMMENT ON COLUMN @extschema@.models.a_se IS 'Standard error of a (observed information); NULL where not identified.';
COMMENT ON COLUMN @extschema@.models.b_se IS 'Standard error of b (observed information); NULL where not identified.';
COMMENT ON COLUMN @extschema@.models.s_se IS 'Standard error of s (observed information); NULL where not identified.';
COMMENT ON COLUMN @extschema@.models.beta_se IS 'Standard error of beta (observed information); NULL where not identified.';
COMMENT ON COLUMN @extschema@.models.p_se IS 'Standard error of p (observed information); NULL where not identified.';
COMMENT ON COLUMN @extschema@.models.q_se IS 'Standard error of q (observed information); NULL where not identified.';
COMMENT ON COLUMN @extschema@.models.v_se IS 'Standard error of v (observed information); NULL where not identified.';
COMMENT ON COLUMN @extschema@.models.dropout_log_likelihood_gain IS 'Purchase models: log-likelihood gain over the NBD fit without dropout; below 3 the data do not identify dropout.';

CREATE TABLE @extschema@.model_calibration (
	model_id			bigint NOT NULL REFERENCES @extschema@.models ON DELETE CASCADE,
	frequency_class		integer NOT NULL,
	customers			bigint NOT NULL,
	actual_repeat_purchases double precision NOT NULL,
	predicted_repeat_purchases double precision,
	PRIMARY KEY (model_id, frequency_class)
);
COMMENT ON TABLE @extschema@.model_calibration IS
	'Holdout check of a calibrated purchase model: per number of repeat purchase days in the calibration period, the mean repeat purchase days actually made in the holdout period and the mean the model predicted.';
COMMENT ON COLUMN @extschema@.model_calibration.model_id IS 'Purchase model (crm.models).';
COMMENT ON COLUMN @extschema@.model_calibration.frequency_class IS 'Repeat purchase days in the calibration period; 7 stands for 7 or more.';
COMMENT ON COLUMN @extschema@.model_calibration.customers IS 'Customers in the class.';
COMMENT ON COLUMN @extschema@.model_calibration.actual_repeat_purchases IS 'Mean purchase days per customer in the holdout period.';
COMMENT ON COLUMN @extschema@.model_calibration.predicted_repeat_purchases IS 'Mean the model predicted for the holdout period.';

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

-- Rights and dump registration of the objects above.
GRANT SELECT ON @extschema@.models, @extschema@.model_calibration TO crm_analyst;
GRANT SELECT, INSERT, UPDATE, DELETE, TRUNCATE ON @extschema@.models, @extschema@.model_calibration TO crm_admin;
GRANT USAGE, SELECT ON @extschema@.models_model_id_seq TO crm_admin;
SELECT pg_catalog.pg_extension_config_dump('@extschema@.models', '');
SELECT pg_catalog.pg_extension_config_dump('@extschema@.models_model_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('@extschema@.model_calibration', '');
