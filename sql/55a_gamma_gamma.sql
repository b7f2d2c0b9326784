-- Gamma-Gamma spend model (src/gamma_gamma.c): its composite, the maximum
-- likelihood fit aggregate, the per-customer log-likelihood and the
-- expected spend.

CREATE TYPE @extschema@.gamma_gamma_model AS (
	p double precision,
	q double precision,
	v double precision,
	log_likelihood double precision,
	customers bigint,
	converged boolean,
	spend_frequency_corr double precision,
	p_se double precision,
	q_se double precision,
	v_se double precision
);

COMMENT ON TYPE @extschema@.gamma_gamma_model IS
'A Gamma-Gamma spend model (Fader, Hardie & Lee 2005): transaction values Gamma(p, nu), nu Gamma(q, v), in the currency of the data. Built by the gamma_gamma_fit aggregate or by gamma_gamma_model(p, q, v).';
COMMENT ON COLUMN @extschema@.gamma_gamma_model.p IS
'Shape of the Gamma distribution of transaction values; > 0.';
COMMENT ON COLUMN @extschema@.gamma_gamma_model.q IS
'Shape of the Gamma distribution of the customers'' scale nu; > 0 (the population mean spend p v / (q - 1) needs q > 1).';
COMMENT ON COLUMN @extschema@.gamma_gamma_model.v IS
'Scale of the Gamma distribution of the customers'' nu, in the currency of the data; > 0.';
COMMENT ON COLUMN @extschema@.gamma_gamma_model.log_likelihood IS
'Log-likelihood of the fitted repeat customers at the parameters; NULL for a model built from parameters.';
COMMENT ON COLUMN @extschema@.gamma_gamma_model.customers IS
'Repeat customers (frequency > 0) the model was fitted on; rows with frequency = 0 are skipped and not counted. NULL for a model built from parameters.';
COMMENT ON COLUMN @extschema@.gamma_gamma_model.converged IS
'Whether the optimizer met a convergence rule rather than a limit; NULL for a model built from parameters.';
COMMENT ON COLUMN @extschema@.gamma_gamma_model.spend_frequency_corr IS
'Pearson correlation of frequency and monetary_avg over the fitted customers; the model assumes they are independent, so a value far from 0 warns against using it. NULL when either does not vary, and for a model built from parameters.';
COMMENT ON COLUMN @extschema@.gamma_gamma_model.p_se IS
'Standard error of p from the observed information (the inverse Hessian of the log-likelihood at the fit); NULL for a model built from parameters, or where the Hessian is not positive definite (a parameter the data cannot identify).';
COMMENT ON COLUMN @extschema@.gamma_gamma_model.q_se IS
'Standard error of q from the observed information (the inverse Hessian of the log-likelihood at the fit); NULL for a model built from parameters, or where the Hessian is not positive definite (a parameter the data cannot identify).';
COMMENT ON COLUMN @extschema@.gamma_gamma_model.v_se IS
'Standard error of v from the observed information (the inverse Hessian of the log-likelihood at the fit); NULL for a model built from parameters, or where the Hessian is not positive definite (a parameter the data cannot identify).';

CREATE FUNCTION @extschema@.gamma_gamma_model(p double precision, q double precision,
											  v double precision)
RETURNS @extschema@.gamma_gamma_model
AS 'MODULE_PATHNAME', 'gamma_gamma_model'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

COMMENT ON FUNCTION @extschema@.gamma_gamma_model(double precision, double precision, double precision) IS
'A Gamma-Gamma model from known parameters; each must be finite and > 0 (error 22023). The fit diagnostics are NULL.';

CREATE FUNCTION @extschema@.gamma_gamma_fit_accum(bytea, double precision, double precision)
RETURNS bytea
AS 'MODULE_PATHNAME', 'gamma_gamma_fit_accum'
LANGUAGE C IMMUTABLE PARALLEL SAFE;

COMMENT ON FUNCTION @extschema@.gamma_gamma_fit_accum(bytea, double precision, double precision) IS
'Transition function of gamma_gamma_fit: adds one repeat customer (frequency, monetary_avg) to a state of distinct rows with counts, or skips a customer with frequency 0. Not strict: a NULL frequency, or a NULL monetary_avg with frequency > 0, raises 22004.';

CREATE FUNCTION @extschema@.gamma_gamma_fit_combine(bytea, bytea)
RETURNS bytea
AS 'MODULE_PATHNAME', 'gamma_gamma_fit_combine'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

COMMENT ON FUNCTION @extschema@.gamma_gamma_fit_combine(bytea, bytea) IS
'Combine function of gamma_gamma_fit: merges two partial states; a malformed state raises 22P03.';

CREATE FUNCTION @extschema@.gamma_gamma_fit_final(bytea)
RETURNS @extschema@.gamma_gamma_model
AS 'MODULE_PATHNAME', 'gamma_gamma_fit_final'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

COMMENT ON FUNCTION @extschema@.gamma_gamma_fit_final(bytea) IS
'Final function of gamma_gamma_fit: the maximum likelihood Gamma-Gamma model of a state, which it does not modify; NULL without repeat customers.';

CREATE AGGREGATE @extschema@.gamma_gamma_fit(frequency double precision, monetary_avg double precision) (
	SFUNC = @extschema@.gamma_gamma_fit_accum,
	STYPE = bytea,
	COMBINEFUNC = @extschema@.gamma_gamma_fit_combine,
	FINALFUNC = @extschema@.gamma_gamma_fit_final,
	PARALLEL = SAFE
);

COMMENT ON AGGREGATE @extschema@.gamma_gamma_fit(double precision, double precision) IS
'Maximum likelihood Gamma-Gamma spend model over the repeat customers: rows with frequency > 0 (a whole number) and monetary_avg > 0, the mean value of the repeat purchases. Rows with frequency = 0 are skipped (monetary_avg may be NULL there) and not counted in customers. Identical rows are grouped. NULL for no rows or no repeat customer; spend_frequency_corr reports the Pearson correlation the model assumes to be 0.';

-- per-customer log-likelihoods and their analytic gradients

CREATE FUNCTION @extschema@.gamma_gamma_loglik(frequency double precision, monetary_avg double precision,
											   model @extschema@.gamma_gamma_model)
RETURNS double precision
AS 'MODULE_PATHNAME', 'gamma_gamma_loglik'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

COMMENT ON FUNCTION @extschema@.gamma_gamma_loglik(double precision, double precision, @extschema@.gamma_gamma_model) IS
'Gamma-Gamma log-likelihood of the mean spend of one repeat customer (frequency >= 1, monetary_avg > 0) under a model.';

CREATE FUNCTION @extschema@.gamma_gamma_loglik_gradient(frequency double precision, monetary_avg double precision,
														model @extschema@.gamma_gamma_model)
RETURNS double precision[]
AS 'MODULE_PATHNAME', 'gamma_gamma_loglik_gradient'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

COMMENT ON FUNCTION @extschema@.gamma_gamma_loglik_gradient(double precision, double precision, @extschema@.gamma_gamma_model) IS
'Analytic gradient of gamma_gamma_loglik with respect to {p, q, v}, the one gamma_gamma_fit uses; exposed for checks against finite differences.';

-- scoring

CREATE FUNCTION @extschema@.expected_spend(frequency double precision, monetary_avg double precision,
										   gg_model @extschema@.gamma_gamma_model)
RETURNS double precision
AS 'MODULE_PATHNAME', 'expected_spend'
LANGUAGE C IMMUTABLE PARALLEL SAFE;

COMMENT ON FUNCTION @extschema@.expected_spend(double precision, double precision, @extschema@.gamma_gamma_model) IS
'Gamma-Gamma conditional expected value of a future transaction, p (v + frequency * monetary_avg) / (p * frequency + q - 1); for frequency = 0 the population mean p v / (q - 1), with monetary_avg ignored. Not strict only so that monetary_avg may be NULL when frequency = 0; any other NULL gives NULL. Raises 22023 when the expectation is infinite (p * frequency + q <= 1).';
