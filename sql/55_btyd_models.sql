-- BTYD models: BG/NBD purchase/dropout and Gamma-Gamma spend fitted by
-- maximum likelihood in C; P(alive), churn risk, expected purchases and
-- spend, and CLV.  Time is in one unit chosen by the caller (weeks or days),
-- the same for frequency/recency/t, the fit and every scoring call.

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

CREATE FUNCTION @extschema@.bgnbd_model(r double precision, alpha double precision,
										a double precision, b double precision)
RETURNS @extschema@.bgnbd_model
AS 'MODULE_PATHNAME', 'bgnbd_model'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

COMMENT ON FUNCTION @extschema@.bgnbd_model(double precision, double precision, double precision, double precision) IS
'A BG/NBD model from known parameters (for example published ones); each must be finite and > 0 (error 22023). The fit diagnostics are NULL.';

CREATE FUNCTION @extschema@.gamma_gamma_model(p double precision, q double precision,
											  v double precision)
RETURNS @extschema@.gamma_gamma_model
AS 'MODULE_PATHNAME', 'gamma_gamma_model'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

COMMENT ON FUNCTION @extschema@.gamma_gamma_model(double precision, double precision, double precision) IS
'A Gamma-Gamma model from known parameters; each must be finite and > 0 (error 22023). The fit diagnostics are NULL.';

-- bgnbd_fit

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

-- gamma_gamma_fit

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

CREATE FUNCTION @extschema@.expected_spend(frequency double precision, monetary_avg double precision,
										   gg_model @extschema@.gamma_gamma_model)
RETURNS double precision
AS 'MODULE_PATHNAME', 'expected_spend'
LANGUAGE C IMMUTABLE PARALLEL SAFE;

COMMENT ON FUNCTION @extschema@.expected_spend(double precision, double precision, @extschema@.gamma_gamma_model) IS
'Gamma-Gamma conditional expected value of a future transaction, p (v + frequency * monetary_avg) / (p * frequency + q - 1); for frequency = 0 the population mean p v / (q - 1), with monetary_avg ignored. Not strict only so that monetary_avg may be NULL when frequency = 0; any other NULL gives NULL. Raises 22023 when the expectation is infinite (p * frequency + q <= 1).';

CREATE FUNCTION @extschema@.clv(frequency double precision, recency double precision,
								t double precision, monetary_avg double precision,
								bgnbd_model @extschema@.bgnbd_model,
								gg_model @extschema@.gamma_gamma_model,
								months double precision, monthly_discount double precision,
								periods_per_month double precision)
RETURNS double precision
AS 'MODULE_PATHNAME', 'clv'
LANGUAGE C IMMUTABLE PARALLEL SAFE;

COMMENT ON FUNCTION @extschema@.clv(double precision, double precision, double precision, double precision, @extschema@.bgnbd_model, @extschema@.gamma_gamma_model, double precision, double precision, double precision) IS
'Customer lifetime value over months future months: sum over k = 1..months of expected_spend * (expected_purchases(k m) - expected_purchases((k - 1) m)) / (1 + monthly_discount)^k, where m = periods_per_month is the number of time units of t in a month (4.345 for weeks, 30.4375 for days). months is a whole number from 0 to 1200 (more raises 54000), monthly_discount > -1, periods_per_month > 0. Not strict only so that monetary_avg may be NULL when frequency = 0; any other NULL gives NULL.';
