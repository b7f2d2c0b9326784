-- scripts/demo.sql: what retail_crm makes of a real shop's data, for an
-- analyst to read.  Run by scripts/demo.sh from the project root in a
-- throwaway cluster that preloads pg_cron (cron.database_name = postgres);
-- it works in any database where pg_cron may be created.
--
-- Loads the UCI Online Retail sample (see data/README.md), computes the
-- segments as of the day after its last sale, and prints the results.

\set ON_ERROR_STOP on
\set QUIET on
\pset footer off
\pset null '-'

CREATE EXTENSION pg_cron;
CREATE EXTENSION retail_crm CASCADE;

\i data/load_online_retail.sql

\echo
\echo '== Refresh: segments as of 2011-12-10 (the day after the last sale in the data) =='
-- The refresh reports each stage as a NOTICE; the run row below says it all.
SET client_min_messages = warning;
CALL crm.refresh_segments('2011-12-10 00:00 Europe/London');

SELECT run_id, status, customers,
	   as_of AT TIME ZONE 'Europe/London' AS as_of_london,
	   round(extract(epoch FROM finished_at - started_at)::numeric, 2) AS seconds
FROM crm.refresh_runs
ORDER BY run_id DESC
LIMIT 1;

\echo
\echo '== Customers and revenue per segment (revenue in GBP, shares in %, averages per customer) =='
SELECT segment,
	   customers,
	   round(100 * customer_share, 1) AS "customers %",
	   round(revenue) AS revenue,
	   round(100 * revenue_share, 1) AS "revenue %",
	   round(avg_recency_days) AS "recency (days)",
	   round(avg_frequency, 1) AS "orders",
	   round(avg_monetary) AS "spend"
FROM crm.segment_summary
ORDER BY revenue DESC NULLS LAST;

\echo
\echo '== Customers by recency score (rows, 5 = bought most recently) and frequency/monetary score (columns, 5 = best) =='
SELECT r_score, fm_score, customers
FROM crm.rfm_grid
ORDER BY r_score DESC, fm_score
\crosstabview r_score fm_score customers

\echo
\echo '== Break points the scores were cut at (band = 1 + number of breaks below the value; F and M score = band, R score = 6 - band) =='
SELECT metric, method,
	   round(break_1::numeric, 2) AS break_1, round(break_2::numeric, 2) AS break_2,
	   round(break_3::numeric, 2) AS break_3, round(break_4::numeric, 2) AS break_4
FROM crm.rfm_breaks
ORDER BY array_position(ARRAY['recency', 'frequency', 'monetary'], metric);

\echo
\echo '== Customers per lifecycle stage =='
SELECT lifecycle_stage,
	   customers,
	   round(100 * customer_share, 1) AS "customers %",
	   round(revenue) AS revenue
FROM crm.lifecycle_summary
ORDER BY customers DESC;

\echo
\echo '== Churn and spend models the refresh fitted (BG/NBD in days; Gamma-Gamma in GBP) =='
SELECT kind, customers, converged,
	   round(r::numeric, 3) AS r, round(alpha::numeric, 2) AS "alpha (days)",
	   round(a::numeric, 3) AS a, round(b::numeric, 3) AS b,
	   round(p::numeric, 2) AS p, round(q::numeric, 2) AS q, round(v::numeric, 1) AS v,
	   round(spend_frequency_corr::numeric, 2) AS "spend-frequency corr"
FROM crm.model_diagnostics
WHERE in_use
ORDER BY kind;

\echo
\echo '== Expected lifetime value per segment, next 12 months (GBP, 1 % monthly discount) =='
SELECT segment,
	   customers,
	   round(100 * avg_p_alive, 1) AS "P(alive) %",
	   round(expected_purchases) AS "purchases next 90 days",
	   round(clv) AS clv,
	   round(avg_clv) AS "clv per customer",
	   round(100 * clv_share, 1) AS "clv %"
FROM crm.clv_by_segment
ORDER BY clv DESC NULLS LAST;

\echo
\echo '== Churn watch list: valuable repeat customers likely lost, most value at stake first (top 10) =='
SELECT count(*) AS watch_list_customers FROM crm.churn_watch_list
\gset
\if :watch_list_customers
SELECT customer_id, segment, recency_days AS "days since last", frequency AS orders,
	   round(monetary) AS spend, round(100 * churn_risk, 1) AS "churn risk %",
	   round(clv) AS clv, round(clv_at_risk) AS "clv at risk"
FROM crm.churn_watch_list
LIMIT 10;
\else
\echo 'No valuable repeat customer reaches the churn-risk threshold (crm.settings.churn_risk_threshold):'
\echo 'on one year of this shop the fitted dropout is tiny (a/(a+b) above). Highest churn risks instead:'
SELECT customer_id, segment, recency_days AS "days since last", frequency AS orders,
	   round(monetary) AS spend, round((100 * churn_risk)::numeric, 1) AS "churn risk %",
	   round(clv::numeric) AS clv
FROM crm.customer_360
WHERE NOT one_time_buyer AND m_score >= 4
ORDER BY churn_risk DESC, customer_id
LIMIT 10;
\endif

\echo
\echo '== Voice of the customer: a generated survey and complaint set over these customers (data/generate_voice_of_customer.sql) =='
\i data/generate_voice_of_customer.sql

\echo
\echo '== Satisfaction per month, all countries: weighted index over the six dimensions (0-100), NPS with its 95 % interval, CSAT and CES =='
SELECT to_char(i.month, 'YYYY-MM') AS month,
	   i.responses AS answers,
	   i.satisfaction_index AS "index",
	   n.responses AS "NPS answers", n.nps, n.ci_low AS "NPS low", n.ci_high AS "NPS high",
	   t.csat AS "CSAT overall %",
	   c.ces_mean AS "CES mean", c.agree_pct AS "CES agree %"
FROM crm.satisfaction_index_monthly AS i
JOIN crm.nps_trend AS n USING (month, store)
JOIN crm.satisfaction_trend AS t USING (month, store)
CROSS JOIN LATERAL (
	SELECT round((r.ces).ces_mean::numeric, 2) AS ces_mean, round((r.ces).agree_pct::numeric, 1) AS agree_pct
	FROM (SELECT crm.ces(s.score::integer) AS ces
		  FROM crm.survey_responses AS s
		  WHERE s.dimension = 'effort' AND date_trunc('month', s.responded_at) = i.month) AS r
) AS c
WHERE i.store = '(all stores)' AND t.dimension = 'overall'
ORDER BY i.month;

\echo
\echo '== Satisfaction per dimension in 2011 (index 0-100; each answer rescaled on its own scale, weights from crm.satisfaction_dimensions) =='
SELECT d.dimension, d.weight, count(*) AS answers,
	   min(r.scale_min) || '-' || max(r.scale_max) AS scale,
	   round(crm.satisfaction_index(r.score, r.scale_min, r.scale_max)::numeric, 1) AS "index"
FROM crm.survey_responses AS r
JOIN crm.satisfaction_dimensions AS d USING (dimension)
GROUP BY d.dimension, d.dimension_no, d.weight
ORDER BY d.dimension_no;

\echo
\echo '== Complaint handling as of 2011-12-10 per priority (SLA clock in minutes, paused while pending or on-hold) =='
SELECT m.priority, count(*) AS tickets, count(*) FILTER (WHERE m.resolved) AS resolved,
	   min(m.first_reply_target_minutes) AS "reply target",
	   round(avg(m.first_reply_minutes)) AS "avg first reply",
	   min(m.resolution_target_minutes) AS "resolution target",
	   round(avg(m.resolution_minutes)) AS "avg resolution",
	   round(100.0 * count(*) FILTER (WHERE m.reopens > 0) / nullif(count(*) FILTER (WHERE m.first_resolution_minutes IS NOT NULL), 0), 1) AS "reopen %",
	   round(100.0 * count(*) FILTER (WHERE m.one_touch) / nullif(count(*) FILTER (WHERE m.resolved), 0), 1) AS "one-touch %",
	   round(100.0 * count(*) FILTER (WHERE m.first_reply_breached OR m.resolution_breached) / count(*), 1) AS "SLA breached %"
FROM crm.complaint_metrics('2011-12-10 00:00 Europe/London') AS m
GROUP BY m.priority
ORDER BY min(m.first_reply_target_minutes);

\echo
\echo '== Call today: high-value customers whose satisfaction fell 10+ points in the last 90 days or whose complaint breached its SLA (top 10 of the list) =='
SELECT count(*) AS customers_to_call,
	   count(*) FILTER (WHERE reason LIKE 'satisfaction%') AS "satisfaction fell",
	   count(*) FILTER (WHERE reason LIKE '%SLA%') AS "SLA breached"
FROM crm.customers_to_call;
SELECT customer_id, segment, round(monetary) AS spend, round(clv) AS clv,
	   previous_index AS "index before", current_index AS "index now",
	   complaints, sla_breaches AS breaches, reason
FROM crm.customers_to_call
LIMIT 10;

\echo
\echo '== Nightly refresh with pg_cron: schedule it, look at the job, remove it again =='
SELECT crm.schedule_refresh() AS jobid
\gset
SELECT jobid, jobname, schedule, command, database
FROM cron.job
WHERE jobid = :jobid;
SELECT crm.unschedule_refresh();
SELECT count(*) AS "jobs left named retail_crm_refresh"
FROM cron.job
WHERE jobname = 'retail_crm_refresh';
