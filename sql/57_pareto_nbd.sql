-- The Pareto/NBD purchase and dropout model fitted by maximum likelihood in
-- C, with P(alive) now and later, churn risk over a horizon, expected
-- purchases and CLV.  Overloads of the BG/NBD scoring functions, told
-- apart by the model argument's type.  Time is in one unit chosen by the
-- caller (weeks or days), the same for frequency/recency/t, the fit and
-- every scoring call.

CREATE TYPE @extschema@.pareto_nbd_model AS (
	r double precision,
	alpha double precision,
	s double precision,
	beta double precision,
	log_likelihood double precision,
	customers bigint,
	converged boolean,
	iterations integer,
	r_se double precision,
	alpha_se double precision,
	s_se double precision,
	beta_se double precision,
	dropout_log_likelihood_gain double precision
);

COMMENT ON TYPE @extschema@.pareto_nbd_model IS
'A Pareto/NBD model (Schmittlein, Morrison & Colombo 1987): purchase rates Gamma(r, alpha), dropout rates Gamma(s, beta), each customer buying as a Poisson process while alive and alive for an exponential time after the first purchase. Built by the pareto_nbd_fit aggregate or by pareto_nbd_model(r, alpha, s, beta). alpha and beta are in the time unit of the data it was fitted on.';
COMMENT ON COLUMN @extschema@.pareto_nbd_model.r IS
'Shape of the Gamma distribution of purchase rates; > 0. NULL when the fit could not identify the model.';
COMMENT ON COLUMN @extschema@.pareto_nbd_model.alpha IS
'Rate (inverse scale) of the Gamma distribution of purchase rates, in the time unit of t: the mean purchase rate is r / alpha per unit; > 0. NULL when the fit could not identify the model.';
COMMENT ON COLUMN @extschema@.pareto_nbd_model.s IS
'Shape of the Gamma distribution of dropout rates; > 0. NULL when the fit could not identify the model.';
COMMENT ON COLUMN @extschema@.pareto_nbd_model.beta IS
'Rate (inverse scale) of the Gamma distribution of dropout rates, in the time unit of t: the mean dropout rate is s / beta per unit; > 0. A fit that finds almost no dropout drives beta very high (up to about 1e13). NULL when the fit could not identify the model.';
COMMENT ON COLUMN @extschema@.pareto_nbd_model.log_likelihood IS
'Log-likelihood of the fitted customers at the parameters (natural log, summed over customers); NULL for a model built from parameters.';
COMMENT ON COLUMN @extschema@.pareto_nbd_model.customers IS
'Customers (input rows) the model was fitted on; NULL for a model built from parameters.';
COMMENT ON COLUMN @extschema@.pareto_nbd_model.converged IS
'Whether the optimizer met a convergence rule (gradient norm or relative change below tolerance) rather than a limit; false also when no customer has a repeat purchase (parameters NULL). NULL for a model built from parameters.';
COMMENT ON COLUMN @extschema@.pareto_nbd_model.iterations IS
'BFGS iterations of the run that produced the parameters; NULL for a model built from parameters.';
COMMENT ON COLUMN @extschema@.pareto_nbd_model.r_se IS
'Standard error of r from the observed information (the inverse Hessian of the log-likelihood at the fit); NULL for a model built from parameters, or where the Hessian is not positive definite (a parameter the data cannot identify).';
COMMENT ON COLUMN @extschema@.pareto_nbd_model.alpha_se IS
'Standard error of alpha from the observed information (the inverse Hessian of the log-likelihood at the fit); NULL for a model built from parameters, or where the Hessian is not positive definite (a parameter the data cannot identify).';
COMMENT ON COLUMN @extschema@.pareto_nbd_model.s_se IS
'Standard error of s from the observed information (the inverse Hessian of the log-likelihood at the fit); NULL for a model built from parameters, or where the Hessian is not positive definite (a parameter the data cannot identify).';
COMMENT ON COLUMN @extschema@.pareto_nbd_model.beta_se IS
'Standard error of beta from the observed information (the inverse Hessian of the log-likelihood at the fit); NULL for a model built from parameters, or where the Hessian is not positive definite (a parameter the data cannot identify).';
COMMENT ON COLUMN @extschema@.pareto_nbd_model.dropout_log_likelihood_gain IS
'Log-likelihood of the fit minus that of the NBD model (the same purchase process without any dropout) fitted on the same customers: how much the data say about dropout. Below 3 (twice it below the 5 % point of chi-square with 2 degrees of freedom) dropout is not identified and P(alive) reflects the model''s assumption rather than the data. NULL for a model built from parameters.';

CREATE FUNCTION @extschema@.pareto_nbd_model(r double precision, alpha double precision,
											 s double precision, beta double precision)
RETURNS @extschema@.pareto_nbd_model
AS 'MODULE_PATHNAME', 'pareto_nbd_model'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

COMMENT ON FUNCTION @extschema@.pareto_nbd_model(double precision, double precision, double precision, double precision) IS
'A Pareto/NBD model from known parameters (for example published ones); each must be finite and > 0 (error 22023). The fit diagnostics are NULL.';

-- pareto_nbd_fit

CREATE FUNCTION @extschema@.pareto_nbd_fit_accum(bytea, double precision, double precision, double precision)
RETURNS bytea
AS 'MODULE_PATHNAME', 'pareto_nbd_fit_accum'
LANGUAGE C IMMUTABLE PARALLEL SAFE;

COMMENT ON FUNCTION @extschema@.pareto_nbd_fit_accum(bytea, double precision, double precision, double precision) IS
'Transition function of pareto_nbd_fit: adds one customer (frequency, recency, t) to a state of distinct rows with counts. Not strict: a NULL argument raises 22004 instead of being skipped.';

CREATE FUNCTION @extschema@.pareto_nbd_fit_combine(bytea, bytea)
RETURNS bytea
AS 'MODULE_PATHNAME', 'pareto_nbd_fit_combine'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

COMMENT ON FUNCTION @extschema@.pareto_nbd_fit_combine(bytea, bytea) IS
'Combine function of pareto_nbd_fit: merges two partial states; a malformed state, or one of another fit, raises 22P03.';

CREATE FUNCTION @extschema@.pareto_nbd_fit_final(bytea)
RETURNS @extschema@.pareto_nbd_model
AS 'MODULE_PATHNAME', 'pareto_nbd_fit_final'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

COMMENT ON FUNCTION @extschema@.pareto_nbd_fit_final(bytea) IS
'Final function of pareto_nbd_fit: the maximum likelihood Pareto/NBD model of a state, which it does not modify.';

CREATE AGGREGATE @extschema@.pareto_nbd_fit(frequency double precision, recency double precision, t double precision) (
	SFUNC = @extschema@.pareto_nbd_fit_accum,
	STYPE = bytea,
	COMBINEFUNC = @extschema@.pareto_nbd_fit_combine,
	FINALFUNC = @extschema@.pareto_nbd_fit_final,
	PARALLEL = SAFE
);

COMMENT ON AGGREGATE @extschema@.pareto_nbd_fit(double precision, double precision, double precision) IS
'Maximum likelihood Pareto/NBD model of customers given as (frequency x = repeat purchases, a whole number >= 0; recency t_x = time from first to last purchase; t = T, time from first purchase to the analysis date), all times in one unit chosen by the caller (weeks or days), 0 <= recency <= t. Identical rows are grouped, so the fit costs per distinct row. BFGS with analytic gradients on log-parameters, restarted from other starts if it does not converge; see converged and iterations. NULL for no rows; NULL, NaN, infinite, negative or fractional frequency, and recency > t raise errors (22004, 22023). With no repeat purchase at all the model is not identified: parameters NULL, converged false.';

-- per-customer log-likelihood and its analytic gradient

CREATE FUNCTION @extschema@.pareto_nbd_loglik(frequency double precision, recency double precision,
											  t double precision, model @extschema@.pareto_nbd_model)
RETURNS double precision
AS 'MODULE_PATHNAME', 'pareto_nbd_loglik'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

COMMENT ON FUNCTION @extschema@.pareto_nbd_loglik(double precision, double precision, double precision, @extschema@.pareto_nbd_model) IS
'Pareto/NBD log-likelihood of one customer (frequency, recency, t) under a model; its sum over customers is what pareto_nbd_fit maximises. The integral of the likelihood is evaluated by a hypergeometric series, or by numerical integration where the series converges slowly (dropout rates far slower than purchase rates), so heavy buyers and long-lapsed customers stay finite.';

CREATE FUNCTION @extschema@.pareto_nbd_loglik_gradient(frequency double precision, recency double precision,
													   t double precision, model @extschema@.pareto_nbd_model)
RETURNS double precision[]
AS 'MODULE_PATHNAME', 'pareto_nbd_loglik_gradient'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

COMMENT ON FUNCTION @extschema@.pareto_nbd_loglik_gradient(double precision, double precision, double precision, @extschema@.pareto_nbd_model) IS
'Analytic gradient of pareto_nbd_loglik with respect to {r, alpha, s, beta}, the one pareto_nbd_fit uses; exposed for checks against finite differences.';

-- scoring

CREATE FUNCTION @extschema@.p_alive(frequency double precision, recency double precision,
									t double precision, model @extschema@.pareto_nbd_model)
RETURNS double precision
AS 'MODULE_PATHNAME', 'pareto_nbd_p_alive'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

COMMENT ON FUNCTION @extschema@.p_alive(double precision, double precision, double precision, @extschema@.pareto_nbd_model) IS
'Pareto/NBD probability that a customer (frequency, recency, t; times in the unit of the model) is still alive at t, computed through the log-odds so that heavy buyers and long-lapsed customers stay finite. Unlike BG/NBD, a customer without repeat purchases (frequency = 0) can have dropped out, so the value is below 1 for every recency < t; it is 1 when recency = t (a purchase at the analysis date).';

CREATE FUNCTION @extschema@.p_alive(frequency double precision, recency double precision,
									t double precision, model @extschema@.pareto_nbd_model,
									future double precision)
RETURNS double precision
AS 'MODULE_PATHNAME', 'pareto_nbd_p_alive_future'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

COMMENT ON FUNCTION @extschema@.p_alive(double precision, double precision, double precision, @extschema@.pareto_nbd_model, double precision) IS
'Pareto/NBD probability that a customer (frequency, recency, t) is still alive future time units after t: p_alive * ((beta + t) / (beta + t + future))^s. future >= 0 and finite (else 22023); future = 0 gives p_alive.';

CREATE FUNCTION @extschema@.churn_risk(frequency double precision, recency double precision,
									   t double precision, model @extschema@.pareto_nbd_model)
RETURNS double precision
AS 'MODULE_PATHNAME', 'pareto_nbd_churn_risk'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

COMMENT ON FUNCTION @extschema@.churn_risk(double precision, double precision, double precision, @extschema@.pareto_nbd_model) IS
'1 - p_alive under a Pareto/NBD model, computed directly so that small risks keep their precision: the probability that the customer has dropped out by t. Above 0 also for frequency = 0; 0 when recency = t.';

CREATE FUNCTION @extschema@.churn_risk(horizon double precision, frequency double precision,
									   recency double precision, t double precision,
									   model @extschema@.pareto_nbd_model)
RETURNS double precision
AS 'MODULE_PATHNAME', 'pareto_nbd_horizon_churn_risk'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

COMMENT ON FUNCTION @extschema@.churn_risk(double precision, double precision, double precision, double precision, @extschema@.pareto_nbd_model) IS
'Pareto/NBD probability that a customer (frequency, recency, t) makes no purchase in the next horizon time units (the unit of t): 1 - p_alive * P(a live customer buys before dropping out, within the horizon). In [0, 1]; 1 for horizon = 0, decreasing in the horizon towards 1 - p_alive * E[lambda / (lambda + mu)] (a live customer may drop out before buying again), not towards churn_risk. horizon >= 0 and finite (else 22023).';

CREATE FUNCTION @extschema@.expected_purchases(horizon double precision, frequency double precision,
											   recency double precision, t double precision,
											   model @extschema@.pareto_nbd_model)
RETURNS double precision
AS 'MODULE_PATHNAME', 'pareto_nbd_expected_purchases'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

COMMENT ON FUNCTION @extschema@.expected_purchases(double precision, double precision, double precision, double precision, @extschema@.pareto_nbd_model) IS
'Pareto/NBD conditional expected number of purchases in the next horizon time units (the unit of t) of a customer (frequency, recency, t): p_alive * (r + frequency) (beta + t) / ((alpha + t) (s - 1)) * (1 - ((beta + t) / (beta + t + horizon))^(s - 1)), evaluated without loss at and near s = 1 (where it becomes a logarithm). horizon >= 0 and finite (else 22023); 22003 if the result overflows.';

CREATE FUNCTION @extschema@.clv(frequency double precision, recency double precision,
								t double precision, monetary_avg double precision,
								pareto_nbd_model @extschema@.pareto_nbd_model,
								gg_model @extschema@.gamma_gamma_model,
								months double precision, monthly_discount double precision,
								periods_per_month double precision)
RETURNS double precision
AS 'MODULE_PATHNAME', 'pareto_nbd_clv'
LANGUAGE C IMMUTABLE PARALLEL SAFE;

COMMENT ON FUNCTION @extschema@.clv(double precision, double precision, double precision, double precision, @extschema@.pareto_nbd_model, @extschema@.gamma_gamma_model, double precision, double precision, double precision) IS
'Customer lifetime value under a Pareto/NBD purchase model: sum over k = 1..months of expected_spend * (expected_purchases(k m) - expected_purchases((k - 1) m)) / (1 + monthly_discount)^k, where m = periods_per_month is the number of time units of t in a month (4.345 for weeks, 30.4375 for days). months is a whole number from 0 to 1200 (more raises 54000), monthly_discount > -1, periods_per_month > 0 (else 22023). Not strict only so that monetary_avg may be NULL when frequency = 0; any other NULL gives NULL.';
