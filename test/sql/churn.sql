-- Churn and lifetime value end to end on the CDNOW sample (the data of the
-- BG/NBD and Gamma-Gamma papers): a calibrated fit with a holdout check, the
-- refresh filling churn and CLV columns, the churn views.
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

-- Fit on the 39-week calibration period (to 1997-09-30) and check against the
-- 39-week holdout. Days are the time unit: alpha / 7 is the weekly alpha of
-- the papers (r 0.243, alpha 4.414, a 0.793, b 2.426; p 6.25, q 3.74, v 15.44).
SELECT kind, customers, converged,
	   round(r::numeric, 3) AS r, round((alpha / 7)::numeric, 3) AS alpha_weeks,
	   round(a::numeric, 3) AS a, round(b::numeric, 3) AS b,
	   round(p::numeric, 2) AS p, round(q::numeric, 2) AS q, round(v::numeric, 2) AS v,
	   round(spend_frequency_corr::numeric, 2) AS corr,
	   as_of, holdout_end
FROM crm.fit_models('1998-07-01 00:00+00', '1997-10-01 00:00+00');

-- Predicted vs actual repeat purchase days in the holdout, per calibration
-- frequency (the paper's conditional expectations figure).
SELECT frequency_class, customers,
	   round(actual_repeat_purchases::numeric, 2) AS actual,
	   round(predicted_repeat_purchases::numeric, 2) AS predicted
FROM crm.model_calibration ORDER BY frequency_class;
SELECT round(sum(customers * actual_repeat_purchases)::numeric) AS actual_total,
	   round(sum(customers * predicted_repeat_purchases)::numeric) AS predicted_total
FROM crm.model_calibration;

-- The refresh at the end of the calibration period scores every customer
-- with the models it fits.
CALL crm.refresh_segments('1997-10-01 00:00+00');
SELECT status, stage, customers FROM crm.refresh_runs ORDER BY run_id DESC LIMIT 1;
SELECT count(*) AS customers, count(p_alive) AS with_p_alive, count(clv) AS with_clv,
	   count(*) FILTER (WHERE one_time_buyer) AS one_time_buyers,
	   bool_and(p_alive = 1) FILTER (WHERE one_time_buyer) AS one_time_p_alive_is_1,
	   bool_and(p_alive BETWEEN 0 AND 1 AND churn_risk = 1 - p_alive) AS probabilities,
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
