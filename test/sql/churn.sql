-- Churn and lifetime value end to end on the CDNOW sample (the data of the
-- BG/NBD and Gamma-Gamma papers): a calibrated fit with a holdout check, the
-- refresh filling churn and CLV columns, the churn views.
\set this_test churn
\i test/fixtures/earlier_tests.sql
SET timezone = 'UTC';
\set SHOW_CONTEXT never
SET client_min_messages = warning;

-- 6,919 purchase lines of 2,357 customers, 1997-01-01 to 1998-06-30.
CREATE TABLE cdnow_lines (customer_id integer, day text, cds integer, dollars numeric);
\copy cdnow_lines FROM 'test/data/cdnow_transactions.csv' WITH (FORMAT csv)
CREATE VIEW cdnow_sales AS
	SELECT customer_id, to_date(day, 'YYYYMMDD')::timestamp AT TIME ZONE 'UTC' AS occurred_at, dollars AS amount
	FROM cdnow_lines;
SELECT crm.set_transaction_source('cdnow_sales');

-- Fit every model on the 39-week calibration period (to 1997-09-30) and
-- check it against the 39-week holdout. Days are the time unit: alpha / 7
-- is the weekly alpha of the papers (BG/NBD r 0.243, alpha 4.414, a 0.793,
-- b 2.426; MBG/NBD 0.525, 6.183, 0.891, 1.614; Pareto/NBD r 0.553, alpha
-- 10.58, s 0.606, beta 11.67; Gamma-Gamma p 6.25, q 3.74, v 15.44).
SELECT kind, customers, converged,
	   round(r::numeric, 3) AS r, round((alpha / 7)::numeric, 3) AS alpha_weeks,
	   round(a::numeric, 3) AS a, round(b::numeric, 3) AS b,
	   round(s::numeric, 3) AS s, round((beta / 7)::numeric, 3) AS beta_weeks,
	   round(p::numeric, 2) AS p, round(q::numeric, 2) AS q, round(v::numeric, 2) AS v,
	   round(spend_frequency_corr::numeric, 2) AS corr,
	   as_of, holdout_end
FROM crm.fit_models('1998-07-01 00:00+00', '1997-10-01 00:00+00') ORDER BY kind;

-- The holdout check of each purchase model: purchase days predicted and
-- made, how well the churn risk over the 273-day holdout separates those
-- who did not buy again from those who did (AUC), its Brier score, and the
-- calibration fit's log-likelihood, AIC and BIC.
SELECT kind, holdout_days, holdout_customers, actual_repeat_purchases, predicted_repeat_purchases,
	   churn_auc, brier_score, log_likelihood, aic, bic, latest, chosen
FROM crm.model_validation_report ORDER BY kind;

-- Predicted vs actual repeat purchase days in the holdout, per calibration
-- frequency (the paper's conditional expectations figure).
SELECT v.kind, c.frequency_class, c.customers,
	   round(c.actual_repeat_purchases::numeric, 2) AS actual,
	   round(c.predicted_repeat_purchases::numeric, 2) AS predicted
FROM crm.model_calibration AS c JOIN crm.model_validation AS v USING (model_id)
ORDER BY v.kind, c.frequency_class;
SELECT v.kind, round(sum(c.customers * c.actual_repeat_purchases)::numeric) AS actual_total,
	   round(sum(c.customers * c.predicted_repeat_purchases)::numeric) AS predicted_total,
	   round(min(v.actual_repeat_purchases)::numeric) = round(sum(c.customers * c.actual_repeat_purchases)::numeric) AS totals_agree
FROM crm.model_calibration AS c JOIN crm.model_validation AS v USING (model_id)
GROUP BY v.kind ORDER BY v.kind;

-- The AUC and Brier score against a plain-SQL computation of the same
-- statistics: the calibration facts of every customer, the holdout
-- purchase days counted in SQL, each model's churn risk over the holdout,
-- and the AUC as the share of (non-buyer, buyer) pairs the risk orders
-- right, ties counted half.
CREATE TEMP TABLE calibration AS
SELECT customer_id, (crm.customer_facts(occurred_at, amount, '1997-10-01 00:00+00')).*
FROM cdnow_sales GROUP BY customer_id;
CREATE TEMP TABLE holdout AS
SELECT c.customer_id, c.btyd_frequency AS x, c.btyd_recency AS t_x, c.btyd_t AS t,
	   (SELECT count(DISTINCT floor(extract(epoch FROM '1998-07-01 00:00+00' - s.occurred_at) / 86400))
		FROM cdnow_sales AS s
		WHERE s.customer_id = c.customer_id AND s.amount > 0
		  AND s.occurred_at > '1997-10-01 00:00+00' AND s.occurred_at <= '1998-07-01 00:00+00') = 0 AS churned
FROM calibration AS c WHERE c.orders > 0;
CREATE TEMP TABLE holdout_risk AS
SELECT v.kind, h.customer_id, h.churned,
	   CASE v.kind
		   WHEN 'bgnbd' THEN crm.churn_risk(v.holdout_days, h.x, h.t_x, h.t, crm.bgnbd_model(m.r, m.alpha, m.a, m.b))
		   WHEN 'mbgnbd' THEN crm.churn_risk(v.holdout_days, h.x, h.t_x, h.t, crm.mbgnbd_model(m.r, m.alpha, m.a, m.b))
		   ELSE crm.churn_risk(v.holdout_days, h.x, h.t_x, h.t, crm.pareto_nbd_model(m.r, m.alpha, m.s, m.beta))
	   END AS risk
FROM crm.model_validation AS v JOIN crm.models AS m USING (model_id), holdout AS h;
SELECT r.kind, count(*) AS customers,
	   abs((SELECT avg(CASE WHEN c.risk > b.risk THEN 1 WHEN c.risk = b.risk THEN 0.5 ELSE 0 END)
			FROM holdout_risk AS c JOIN holdout_risk AS b ON b.kind = c.kind AND NOT b.churned
			WHERE c.kind = r.kind AND c.churned) - min(v.churn_auc)) < 1e-9 AS auc_agrees,
	   abs(avg((r.risk - r.churned::int) ^ 2) - min(v.brier_score)) < 1e-12 AS brier_agrees
FROM holdout_risk AS r JOIN crm.model_validation AS v USING (kind)
GROUP BY r.kind ORDER BY r.kind;

-- auto scores with the lowest holdout Brier score of the last validation.
SELECT kind, reason FROM crm.churn_model_choice();
SELECT kind, in_use, scores_churn, churn_model_choice IS NOT NULL AS says_why
FROM crm.model_diagnostics
WHERE model_id IN (SELECT max(model_id) FROM crm.models WHERE kind <> 'gamma_gamma' GROUP BY kind)
ORDER BY kind;

-- The refresh at the end of the calibration period fits the chosen model
-- on all data to then and scores every customer with it: P(alive), and
-- the churn risk over crm.settings.churn_horizon_days (90), which is at
-- least the probability of having dropped out, and graded for one-time
-- buyers.
CALL crm.refresh_segments('1997-10-01 00:00+00');
SELECT status, stage, customers FROM crm.refresh_runs ORDER BY run_id DESC LIMIT 1;
SELECT m.kind = (SELECT c.kind FROM crm.churn_model_choice() AS c) AS scored_with_chosen_kind,
	   m.as_of, m.holdout_end IS NULL AS fitted_on_all_data
FROM crm.models AS m WHERE m.model_id = (SELECT max(cs.bgnbd_model_id) FROM crm.customer_segments AS cs);
SELECT count(*) AS customers, count(p_alive) AS with_p_alive, count(clv) AS with_clv,
	   count(*) FILTER (WHERE one_time_buyer) AS one_time_buyers,
	   count(DISTINCT round(churn_risk::numeric, 6)) FILTER (WHERE one_time_buyer) AS one_time_risks,
	   bool_and(p_alive BETWEEN 0 AND 1 AND churn_risk BETWEEN 1 - p_alive - 1e-12 AND 1) AS probabilities,
	   bool_and(clv >= 0 AND expected_purchases >= 0 AND expected_spend > 0) AS non_negative
FROM crm.customer_segments;
SELECT round(sum(expected_purchases)::numeric) AS expected_purchases_90_days,
	   round(sum(clv)::numeric) AS clv_12_months
FROM crm.customer_segments;

SELECT segment, customers, one_time_buyers, avg_p_alive, clv_share
FROM crm.clv_by_segment ORDER BY clv DESC, segment;
SELECT customer_id, segment, frequency, recency_days, p_alive, churn_risk, clv, clv_at_risk
FROM crm.churn_watch_list LIMIT 5;
SELECT count(*) AS listed, bool_and(churn_risk >= 0.5) AS all_at_risk,
	   bool_and(clv_at_risk IS NOT NULL) AS all_valued
FROM crm.churn_watch_list;
SELECT kind, converged, customers FROM crm.model_diagnostics WHERE in_use ORDER BY kind;
-- one-time buyers are on the watch list now that their risk is modelled
SELECT count(*) FILTER (WHERE frequency = 1) AS one_time_buyers_listed FROM crm.churn_watch_list;

-- Every purchase model can be chosen by name; MBG/NBD models one-time
-- buyers' P(alive) too.  The fits' standard errors and the gain over a
-- fit without dropout show in model_diagnostics.
UPDATE crm.settings SET churn_model = 'mbgnbd';
CALL crm.refresh_segments('1997-10-01 00:00+00');
SELECT kind, reason FROM crm.churn_model_choice();
SELECT count(*) FILTER (WHERE one_time_buyer) AS one_time_buyers,
	   bool_and(p_alive < 1) FILTER (WHERE one_time_buyer) AS one_time_p_alive_below_1
FROM crm.customer_segments;
SELECT kind, scores_churn, r_se > 0 AND alpha_se > 0 AS purchase_se,
	   coalesce(a_se, s_se) > 0 AND coalesce(b_se, beta_se) > 0 AS dropout_se,
	   dropout_log_likelihood_gain > 0 AS gains, dropout_identified
FROM crm.model_diagnostics
WHERE model_id IN (SELECT max(model_id) FROM crm.models WHERE kind <> 'gamma_gamma' GROUP BY kind)
ORDER BY kind;
SELECT * FROM public.error_of($$UPDATE crm.settings SET churn_model = 'pareto'$$);
UPDATE crm.settings SET churn_model = 'auto';

-- Manual refit: the refresh keeps scoring with the latest stored models.
UPDATE crm.settings SET model_refit = 'manual';
CALL crm.refresh_segments('1997-10-01 00:00+00');
SELECT count(*) AS models FROM crm.models;
SELECT count(DISTINCT bgnbd_model_id) AS bgnbd_models_used FROM crm.customer_segments;
UPDATE crm.settings SET model_refit = 'every_refresh';

-- Bad calls.
SELECT * FROM public.error_of($$SELECT crm.fit_models(NULL)$$);
SELECT * FROM public.error_of($$SELECT crm.fit_models('infinity')$$);
SELECT * FROM public.error_of($$SELECT crm.fit_models('1997-10-01', '1998-01-01')$$);
SELECT * FROM public.error_of($$UPDATE crm.settings SET model_refit = 'sometimes'$$);
SELECT * FROM public.error_of($$UPDATE crm.settings SET monthly_discount = -1$$);
SELECT * FROM public.error_of($$UPDATE crm.settings SET churn_risk_threshold = 'NaN'$$);
SELECT * FROM public.error_of($$UPDATE crm.settings SET clv_months = 0$$);

-- No sales at all: nothing to fit, no model stored, the refresh still runs.
CREATE VIEW no_sales AS SELECT * FROM cdnow_sales WHERE false;
SELECT crm.set_transaction_source('no_sales');
SELECT count(*) AS fitted FROM crm.fit_models('1997-10-01');
SELECT crm.reset_transaction_source();
DROP VIEW no_sales, cdnow_sales;
DROP TABLE cdnow_lines;
CALL crm.refresh_segments('2024-03-01 00:00+00');
