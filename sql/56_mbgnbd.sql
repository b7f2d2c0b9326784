-- MBG/NBD (Batislam, Denizel & Filiztekin 2007): BG/NBD where a customer may
-- also drop out right after the first purchase, so one-time buyers have a
-- real P(alive).  Same C code as BG/NBD (src/bgnbd.c).  Then, for both
-- models, the churn risk over a horizon and P(alive) at a future time.

CREATE TYPE @extschema@.mbgnbd_model AS (
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

COMMENT ON TYPE @extschema@.mbgnbd_model IS
'An MBG/NBD model (Batislam, Denizel & Filiztekin 2007): purchase rates Gamma(r, alpha), dropout probabilities Beta(a, b), a dropout possible after every purchase including the first. Built by the mbgnbd_fit aggregate or by mbgnbd_model(r, alpha, a, b). alpha is in the time unit of the data it was fitted on.';
COMMENT ON COLUMN @extschema@.mbgnbd_model.r IS
'Shape of the Gamma distribution of purchase rates; > 0. NULL when the fit could not identify the model.';
COMMENT ON COLUMN @extschema@.mbgnbd_model.alpha IS
'Scale of the Gamma distribution of purchase rates, in the time unit of t; > 0. NULL when the fit could not identify the model.';
COMMENT ON COLUMN @extschema@.mbgnbd_model.a IS
'First shape of the Beta distribution of the dropout probability after each purchase, the first included; > 0. NULL when the fit could not identify the model.';
COMMENT ON COLUMN @extschema@.mbgnbd_model.b IS
'Second shape of the Beta distribution of the dropout probability after each purchase, the first included; > 0. NULL when the fit could not identify the model.';
COMMENT ON COLUMN @extschema@.mbgnbd_model.log_likelihood IS
'Log-likelihood of the fitted customers at the parameters (natural log, summed over customers); NULL for a model built from parameters.';
COMMENT ON COLUMN @extschema@.mbgnbd_model.customers IS
'Customers (input rows) the model was fitted on; NULL for a model built from parameters.';
COMMENT ON COLUMN @extschema@.mbgnbd_model.converged IS
'Whether the optimizer met a convergence rule rather than a limit; false also when no customer has a repeat purchase (parameters NULL). NULL for a model built from parameters.';
COMMENT ON COLUMN @extschema@.mbgnbd_model.iterations IS
'BFGS iterations of the run that produced the parameters; NULL for a model built from parameters.';
COMMENT ON COLUMN @extschema@.mbgnbd_model.r_se IS
'Standard error of r from the observed information (the inverse Hessian of the log-likelihood at the fit); NULL for a model built from parameters, or where the Hessian is not positive definite (a parameter the data cannot identify).';
COMMENT ON COLUMN @extschema@.mbgnbd_model.alpha_se IS
'Standard error of alpha from the observed information (the inverse Hessian of the log-likelihood at the fit); NULL for a model built from parameters, or where the Hessian is not positive definite (a parameter the data cannot identify).';
COMMENT ON COLUMN @extschema@.mbgnbd_model.a_se IS
'Standard error of a from the observed information (the inverse Hessian of the log-likelihood at the fit); NULL for a model built from parameters, or where the Hessian is not positive definite (a parameter the data cannot identify).';
COMMENT ON COLUMN @extschema@.mbgnbd_model.b_se IS
'Standard error of b from the observed information (the inverse Hessian of the log-likelihood at the fit); NULL for a model built from parameters, or where the Hessian is not positive definite (a parameter the data cannot identify).';
COMMENT ON COLUMN @extschema@.mbgnbd_model.dropout_log_likelihood_gain IS
'Log-likelihood of the fit minus that of the NBD model (the same purchase process without any dropout) fitted on the same customers: how much the data say about dropout. Below 3 (twice it below the 5 % point of chi-square with 2 degrees of freedom) dropout is not identified and P(alive) reflects the model''s assumption rather than the data. NULL for a model built from parameters.';

CREATE FUNCTION @extschema@.mbgnbd_model(r double precision, alpha double precision,
										 a double precision, b double precision)
RETURNS @extschema@.mbgnbd_model
AS 'MODULE_PATHNAME', 'mbgnbd_model'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

COMMENT ON FUNCTION @extschema@.mbgnbd_model(double precision, double precision, double precision, double precision) IS
'An MBG/NBD model from known parameters (for example published ones); each must be finite and > 0 (error 22023). The fit diagnostics are NULL.';

CREATE FUNCTION @extschema@.mbgnbd_fit_accum(bytea, double precision, double precision, double precision)
RETURNS bytea
AS 'MODULE_PATHNAME', 'mbgnbd_fit_accum'
LANGUAGE C IMMUTABLE PARALLEL SAFE;

COMMENT ON FUNCTION @extschema@.mbgnbd_fit_accum(bytea, double precision, double precision, double precision) IS
'Transition function of mbgnbd_fit: adds one customer (frequency, recency, t) to a state of distinct rows with counts. Not strict: a NULL argument raises 22004 instead of being skipped.';

CREATE FUNCTION @extschema@.mbgnbd_fit_combine(bytea, bytea)
RETURNS bytea
AS 'MODULE_PATHNAME', 'mbgnbd_fit_combine'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

COMMENT ON FUNCTION @extschema@.mbgnbd_fit_combine(bytea, bytea) IS
'Combine function of mbgnbd_fit: merges two partial states; a malformed state, or one of another aggregate, raises 22P03.';

CREATE FUNCTION @extschema@.mbgnbd_fit_final(bytea)
RETURNS @extschema@.mbgnbd_model
AS 'MODULE_PATHNAME', 'mbgnbd_fit_final'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

COMMENT ON FUNCTION @extschema@.mbgnbd_fit_final(bytea) IS
'Final function of mbgnbd_fit: the maximum likelihood MBG/NBD model of a state, which it does not modify.';

CREATE AGGREGATE @extschema@.mbgnbd_fit(frequency double precision, recency double precision, t double precision) (
	SFUNC = @extschema@.mbgnbd_fit_accum,
	STYPE = bytea,
	COMBINEFUNC = @extschema@.mbgnbd_fit_combine,
	FINALFUNC = @extschema@.mbgnbd_fit_final,
	PARALLEL = SAFE
);

COMMENT ON AGGREGATE @extschema@.mbgnbd_fit(double precision, double precision, double precision) IS
'Maximum likelihood MBG/NBD model of customers given as (frequency x = repeat purchases, a whole number >= 0; recency t_x = time from first to last purchase; t = T, time from first purchase to the analysis date), all times in one unit chosen by the caller, 0 <= recency <= t; the inputs, checks, grouping and optimizer of bgnbd_fit. NULL for no rows; NULL, NaN, infinite, negative or fractional frequency, and recency > t raise errors (22004, 22023). With no repeat purchase at all the purchase rate is not identified: parameters NULL, converged false.';

CREATE FUNCTION @extschema@.mbgnbd_loglik(frequency double precision, recency double precision,
										  t double precision, model @extschema@.mbgnbd_model)
RETURNS double precision
AS 'MODULE_PATHNAME', 'mbgnbd_loglik'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

COMMENT ON FUNCTION @extschema@.mbgnbd_loglik(double precision, double precision, double precision, @extschema@.mbgnbd_model) IS
'MBG/NBD log-likelihood of one customer (frequency, recency, t) under a model; its sum over customers is what mbgnbd_fit maximises.';

CREATE FUNCTION @extschema@.mbgnbd_loglik_gradient(frequency double precision, recency double precision,
												   t double precision, model @extschema@.mbgnbd_model)
RETURNS double precision[]
AS 'MODULE_PATHNAME', 'mbgnbd_loglik_gradient'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

COMMENT ON FUNCTION @extschema@.mbgnbd_loglik_gradient(double precision, double precision, double precision, @extschema@.mbgnbd_model) IS
'Analytic gradient of mbgnbd_loglik with respect to {r, alpha, a, b}, the one mbgnbd_fit uses; exposed for checks against finite differences.';

CREATE FUNCTION @extschema@.p_alive(frequency double precision, recency double precision,
									t double precision, model @extschema@.mbgnbd_model)
RETURNS double precision
AS 'MODULE_PATHNAME', 'mbgnbd_p_alive'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

COMMENT ON FUNCTION @extschema@.p_alive(double precision, double precision, double precision, @extschema@.mbgnbd_model) IS
'MBG/NBD probability that a customer (frequency, recency, t; times in the unit of the model) is still active: 1 / (1 + a / (b + frequency) ((alpha + t) / (alpha + recency))^(r + frequency)), through the log-odds. Below 1 also for one-time buyers (frequency = 0).';

CREATE FUNCTION @extschema@.churn_risk(frequency double precision, recency double precision,
									   t double precision, model @extschema@.mbgnbd_model)
RETURNS double precision
AS 'MODULE_PATHNAME', 'mbgnbd_churn_risk'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

COMMENT ON FUNCTION @extschema@.churn_risk(double precision, double precision, double precision, @extschema@.mbgnbd_model) IS
'1 - p_alive under MBG/NBD, computed directly so that small risks keep their precision. For the probability of no purchase over a horizon use churn_risk(horizon, frequency, recency, t, model).';

CREATE FUNCTION @extschema@.expected_purchases(horizon double precision, frequency double precision,
											   recency double precision, t double precision,
											   model @extschema@.mbgnbd_model)
RETURNS double precision
AS 'MODULE_PATHNAME', 'mbgnbd_expected_purchases'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

COMMENT ON FUNCTION @extschema@.expected_purchases(double precision, double precision, double precision, double precision, @extschema@.mbgnbd_model) IS
'MBG/NBD conditional expected number of purchases in the next horizon time units of a customer (frequency, recency, t): P(alive) (a + b + x) / (a - 1) [1 - ((alpha + t) / (alpha + t + horizon))^(r + x) 2F1(r + x, b + x + 1; a + b + x; horizon / (alpha + t + horizon))], evaluated like the BG/NBD expected_purchases (series after Euler''s transformation, numerical integration for long horizons); horizon >= 0.';

-- Churn over a horizon and P(alive) at a future time, BG/NBD and MBG/NBD

CREATE FUNCTION @extschema@.churn_risk(horizon double precision, frequency double precision,
									   recency double precision, t double precision,
									   model @extschema@.bgnbd_model)
RETURNS double precision
AS 'MODULE_PATHNAME', 'bgnbd_horizon_churn_risk'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

COMMENT ON FUNCTION @extschema@.churn_risk(double precision, double precision, double precision, double precision, @extschema@.bgnbd_model) IS
'BG/NBD probability that a customer (frequency, recency, t) makes no purchase in the next horizon time units (the unit of t): dropped out, or alive and not buying, 1 - P(alive) + P(alive) ((alpha + t) / (alpha + t + horizon))^(r + frequency). Graded for every customer, one-time buyers included, even where the fitted dropout is near zero; horizon >= 0: 1 at horizon 0, falling towards 1 - P(alive) as the horizon grows.';

CREATE FUNCTION @extschema@.churn_risk(horizon double precision, frequency double precision,
									   recency double precision, t double precision,
									   model @extschema@.mbgnbd_model)
RETURNS double precision
AS 'MODULE_PATHNAME', 'mbgnbd_horizon_churn_risk'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

COMMENT ON FUNCTION @extschema@.churn_risk(double precision, double precision, double precision, double precision, @extschema@.mbgnbd_model) IS
'MBG/NBD probability that a customer (frequency, recency, t) makes no purchase in the next horizon time units: 1 - P(alive) + P(alive) ((alpha + t) / (alpha + t + horizon))^(r + frequency); horizon >= 0.';

CREATE FUNCTION @extschema@.p_alive(frequency double precision, recency double precision,
									t double precision, model @extschema@.bgnbd_model,
									future double precision)
RETURNS double precision
AS 'MODULE_PATHNAME', 'bgnbd_p_alive_future'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

COMMENT ON FUNCTION @extschema@.p_alive(double precision, double precision, double precision, @extschema@.bgnbd_model, double precision) IS
'BG/NBD probability that a customer (frequency, recency, t) is still active future time units after t, whatever they buy meanwhile: P(alive) E[(1 + p future / (alpha + t))^-(r + frequency)] over the posterior dropout probability p ~ Beta(a, b + frequency), integrated numerically. future >= 0; 0 gives p_alive.';

CREATE FUNCTION @extschema@.p_alive(frequency double precision, recency double precision,
									t double precision, model @extschema@.mbgnbd_model,
									future double precision)
RETURNS double precision
AS 'MODULE_PATHNAME', 'mbgnbd_p_alive_future'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

COMMENT ON FUNCTION @extschema@.p_alive(double precision, double precision, double precision, @extschema@.mbgnbd_model, double precision) IS
'MBG/NBD probability that a customer is still active future time units after t: P(alive) E[(1 + p future / (alpha + t))^-(r + frequency)] over p ~ Beta(a, b + frequency + 1). future >= 0; 0 gives p_alive.';

CREATE FUNCTION @extschema@.clv(frequency double precision, recency double precision,
								t double precision, monetary_avg double precision,
								mbgnbd_model @extschema@.mbgnbd_model,
								gg_model @extschema@.gamma_gamma_model,
								months double precision, monthly_discount double precision,
								periods_per_month double precision)
RETURNS double precision
AS 'MODULE_PATHNAME', 'mbgnbd_clv'
LANGUAGE C IMMUTABLE PARALLEL SAFE;

COMMENT ON FUNCTION @extschema@.clv(double precision, double precision, double precision, double precision, @extschema@.mbgnbd_model, @extschema@.gamma_gamma_model, double precision, double precision, double precision) IS
'Customer lifetime value with an MBG/NBD purchase model: the sum and arguments of the BG/NBD clv, with the MBG/NBD expected purchases. Not strict only so that monetary_avg may be NULL when frequency = 0; any other NULL gives NULL.';
