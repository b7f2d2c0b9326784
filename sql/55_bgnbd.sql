-- BG/NBD purchase and dropout model (src/bgnbd.c): its composite, the
-- maximum likelihood fit aggregate, the per-customer log-likelihood, and
-- scoring: P(alive), churn risk, expected purchases.  Time is in one unit
-- chosen by the caller (weeks or days), the same for frequency/recency/t,
-- the fit and every scoring call.

CREATE TYPE @extschema@.bgnbd_model AS (
	r double precision,
	alpha double precision,
	a double precision,
	b double precision,
	log_likelihood double precision,
	customers bigint,
	converged boolean,
	iterations integer,
	r_se double precision,
	alpha_se double precision,
	a_se double precision,
	b_se double precision,
	dropout_log_likelihood_gain double precision
);

COMMENT ON TYPE @extschema@.bgnbd_model IS
'A BG/NBD model (Fader, Hardie & Lee 2005): purchase rates Gamma(r, alpha), dropout probabilities Beta(a, b). Built by the bgnbd_fit aggregate or by bgnbd_model(r, alpha, a, b). alpha is in the time unit of the data it was fitted on.';
COMMENT ON COLUMN @extschema@.bgnbd_model.r IS
'Shape of the Gamma distribution of purchase rates; > 0. NULL when the fit could not identify the model.';
COMMENT ON COLUMN @extschema@.bgnbd_model.alpha IS
'Scale of the Gamma distribution of purchase rates, in the time unit of t; > 0. NULL when the fit could not identify the model.';
COMMENT ON COLUMN @extschema@.bgnbd_model.a IS
'First shape of the Beta distribution of the dropout probability after each purchase; > 0. NULL when the fit could not identify the model.';
COMMENT ON COLUMN @extschema@.bgnbd_model.b IS
'Second shape of the Beta distribution of the dropout probability after each purchase; > 0. NULL when the fit could not identify the model.';
COMMENT ON COLUMN @extschema@.bgnbd_model.log_likelihood IS
'Log-likelihood of the fitted customers at the parameters (natural log, summed over customers); NULL for a model built from parameters.';
COMMENT ON COLUMN @extschema@.bgnbd_model.customers IS
'Customers (input rows) the model was fitted on; NULL for a model built from parameters.';
COMMENT ON COLUMN @extschema@.bgnbd_model.converged IS
'Whether the optimizer met a convergence rule (gradient norm or relative change below tolerance) rather than a limit; false also when no customer has a repeat purchase (parameters NULL). NULL for a model built from parameters.';
COMMENT ON COLUMN @extschema@.bgnbd_model.iterations IS
'BFGS iterations of the run that produced the parameters; NULL for a model built from parameters.';
COMMENT ON COLUMN @extschema@.bgnbd_model.r_se IS
'Standard error of r from the observed information (the inverse Hessian of the log-likelihood at the fit); NULL for a model built from parameters, or where the Hessian is not positive definite (a parameter the data cannot identify).';
COMMENT ON COLUMN @extschema@.bgnbd_model.alpha_se IS
'Standard error of alpha from the observed information (the inverse Hessian of the log-likelihood at the fit); NULL for a model built from parameters, or where the Hessian is not positive definite (a parameter the data cannot identify).';
COMMENT ON COLUMN @extschema@.bgnbd_model.a_se IS
'Standard error of a from the observed information (the inverse Hessian of the log-likelihood at the fit); NULL for a model built from parameters, or where the Hessian is not positive definite (a parameter the data cannot identify).';
COMMENT ON COLUMN @extschema@.bgnbd_model.b_se IS
'Standard error of b from the observed information (the inverse Hessian of the log-likelihood at the fit); NULL for a model built from parameters, or where the Hessian is not positive definite (a parameter the data cannot identify).';
COMMENT ON COLUMN @extschema@.bgnbd_model.dropout_log_likelihood_gain IS
'Log-likelihood of the fit minus that of the NBD model (the same purchase process without any dropout) fitted on the same customers: how much the data say about dropout. Below 3 (twice it below the 5 % point of chi-square with 2 degrees of freedom) dropout is not identified and P(alive) reflects the model''s assumption rather than the data. NULL for a model built from parameters.';

CREATE FUNCTION @extschema@.bgnbd_model(r double precision, alpha double precision,
										a double precision, b double precision)
RETURNS @extschema@.bgnbd_model
AS 'MODULE_PATHNAME', 'bgnbd_model'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

COMMENT ON FUNCTION @extschema@.bgnbd_model(double precision, double precision, double precision, double precision) IS
'A BG/NBD model from known parameters (for example published ones); each must be finite and > 0 (error 22023). The fit diagnostics are NULL.';

CREATE FUNCTION @extschema@.bgnbd_fit_accum(bytea, double precision, double precision, double precision)
RETURNS bytea
AS 'MODULE_PATHNAME', 'bgnbd_fit_accum'
LANGUAGE C IMMUTABLE PARALLEL SAFE;

COMMENT ON FUNCTION @extschema@.bgnbd_fit_accum(bytea, double precision, double precision, double precision) IS
'Transition function of bgnbd_fit: adds one customer (frequency, recency, t) to a state of distinct rows with counts. Not strict: a NULL argument raises 22004 instead of being skipped.';

CREATE FUNCTION @extschema@.bgnbd_fit_combine(bytea, bytea)
RETURNS bytea
AS 'MODULE_PATHNAME', 'bgnbd_fit_combine'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

COMMENT ON FUNCTION @extschema@.bgnbd_fit_combine(bytea, bytea) IS
'Combine function of bgnbd_fit: merges two partial states; a malformed state raises 22P03.';

CREATE FUNCTION @extschema@.bgnbd_fit_final(bytea)
RETURNS @extschema@.bgnbd_model
AS 'MODULE_PATHNAME', 'bgnbd_fit_final'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

COMMENT ON FUNCTION @extschema@.bgnbd_fit_final(bytea) IS
'Final function of bgnbd_fit: the maximum likelihood BG/NBD model of a state, which it does not modify.';

CREATE AGGREGATE @extschema@.bgnbd_fit(frequency double precision, recency double precision, t double precision) (
	SFUNC = @extschema@.bgnbd_fit_accum,
	STYPE = bytea,
	COMBINEFUNC = @extschema@.bgnbd_fit_combine,
	FINALFUNC = @extschema@.bgnbd_fit_final,
	PARALLEL = SAFE
);

COMMENT ON AGGREGATE @extschema@.bgnbd_fit(double precision, double precision, double precision) IS
'Maximum likelihood BG/NBD model of customers given as (frequency x = repeat purchases, a whole number >= 0; recency t_x = time from first to last purchase; t = T, time from first purchase to the analysis date), all times in one unit chosen by the caller (weeks or days), 0 <= recency <= t. Identical rows are grouped, so the fit costs per distinct row. BFGS with analytic gradients on log-parameters, restarted from other starts if it does not converge; see converged and iterations. NULL for no rows; NULL, NaN, infinite, negative or fractional frequency, and recency > t raise errors (22004, 22023). With no repeat purchase at all the model is not identified: parameters NULL, converged false.';

-- per-customer log-likelihoods and their analytic gradients

CREATE FUNCTION @extschema@.bgnbd_loglik(frequency double precision, recency double precision,
										 t double precision, model @extschema@.bgnbd_model)
RETURNS double precision
AS 'MODULE_PATHNAME', 'bgnbd_loglik'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

COMMENT ON FUNCTION @extschema@.bgnbd_loglik(double precision, double precision, double precision, @extschema@.bgnbd_model) IS
'BG/NBD log-likelihood of one customer (frequency, recency, t) under a model; its sum over customers is what bgnbd_fit maximises.';

CREATE FUNCTION @extschema@.bgnbd_loglik_gradient(frequency double precision, recency double precision,
												  t double precision, model @extschema@.bgnbd_model)
RETURNS double precision[]
AS 'MODULE_PATHNAME', 'bgnbd_loglik_gradient'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

COMMENT ON FUNCTION @extschema@.bgnbd_loglik_gradient(double precision, double precision, double precision, @extschema@.bgnbd_model) IS
'Analytic gradient of bgnbd_loglik with respect to {r, alpha, a, b}, the one bgnbd_fit uses; exposed for checks against finite differences.';

-- scoring

CREATE FUNCTION @extschema@.p_alive(frequency double precision, recency double precision,
									t double precision, model @extschema@.bgnbd_model)
RETURNS double precision
AS 'MODULE_PATHNAME', 'p_alive'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

COMMENT ON FUNCTION @extschema@.p_alive(double precision, double precision, double precision, @extschema@.bgnbd_model) IS
'BG/NBD probability that a customer (frequency, recency, t; times in the unit of the model) is still active, computed through the log-odds so that heavy buyers and long-lapsed customers stay finite. A customer without repeat purchases (frequency = 0) gets 1 by construction of the model: treat one-time buyers separately in churn views.';

CREATE FUNCTION @extschema@.churn_risk(frequency double precision, recency double precision,
									   t double precision, model @extschema@.bgnbd_model)
RETURNS double precision
AS 'MODULE_PATHNAME', 'churn_risk'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

COMMENT ON FUNCTION @extschema@.churn_risk(double precision, double precision, double precision, @extschema@.bgnbd_model) IS
'1 - p_alive, computed directly so that small risks keep their precision; 0 for frequency = 0 by construction of the model.';

CREATE FUNCTION @extschema@.expected_purchases(horizon double precision, frequency double precision,
											   recency double precision, t double precision,
											   model @extschema@.bgnbd_model)
RETURNS double precision
AS 'MODULE_PATHNAME', 'expected_purchases'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

COMMENT ON FUNCTION @extschema@.expected_purchases(double precision, double precision, double precision, double precision, @extschema@.bgnbd_model) IS
'BG/NBD conditional expected number of purchases in the next horizon time units (the unit of t) of a customer (frequency, recency, t); horizon >= 0. Up to horizons of about 9 times alpha + t the Gauss hypergeometric function is summed after Euler''s transformation, so heavy buyers stay finite; beyond, the posterior expectation over the dropout probability is integrated numerically, so any finite horizon gives a finite value.';

CREATE FUNCTION @extschema@.expected_purchases_method(horizon double precision, frequency double precision,
													  recency double precision, t double precision,
													  model @extschema@.bgnbd_model, method text)
RETURNS double precision
AS 'MODULE_PATHNAME', 'expected_purchases_method'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

COMMENT ON FUNCTION @extschema@.expected_purchases_method(double precision, double precision, double precision, double precision, @extschema@.bgnbd_model, text) IS
'expected_purchases by one method, ''series'' or ''quadrature'', whichever horizon; exposed for checks that the two agree where both apply. The series raises 22003 where it does not converge quickly.';
