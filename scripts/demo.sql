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
\echo '== Basket affinity: product pairs in at least 1 % of the sale baskets (baskets over 100 distinct products skipped) =='
SELECT run_id, baskets, skipped_baskets, pairs AS ordered_pairs,
	   round(extract(epoch FROM finished_at - started_at)::numeric, 2) AS seconds
FROM crm.refresh_affinity(0.01, 100);

-- One description per product: the one on most of its lines.
CREATE TEMP VIEW demo_products AS
SELECT DISTINCT ON (i.product_id) i.product_id, left(i.description, 34) AS description
FROM crm.transaction_items AS i
WHERE i.description IS NOT NULL
GROUP BY i.product_id, i.description
ORDER BY i.product_id, count(*) DESC, i.description;

\echo
\echo '== Top 10 product pairs by lift (each pair once; confidence both ways) =='
SELECT a.product_a, pa.description AS "description a", a.product_b, pb.description AS "description b",
	   a.baskets_together AS baskets, round(100 * a.support::numeric, 2) AS "support %",
	   round(100 * a.confidence::numeric, 1) AS "conf a=>b %", round(100 * r.confidence::numeric, 1) AS "conf b=>a %",
	   round(a.lift::numeric, 1) AS lift
FROM crm.product_affinity AS a
JOIN crm.product_affinity AS r ON r.product_a = a.product_b AND r.product_b = a.product_a
LEFT JOIN demo_products AS pa ON pa.product_id = a.product_a
LEFT JOIN demo_products AS pb ON pb.product_id = a.product_b
WHERE a.product_a < a.product_b
ORDER BY a.lift DESC, a.product_a, a.product_b
LIMIT 10;

\echo
\echo '== Recommendations (top 5) for three customers: the first Champion, the first At Risk and the first Lost customer by id =='
SELECT c.segment, c.customer_id, c.frequency AS orders, r.rank, r.product_id, p.description, r.source,
	   round(r.score::numeric, 3) AS score
FROM (SELECT DISTINCT ON (cs.segment) cs.segment, cs.customer_id, cs.frequency
	  FROM crm.customer_segments AS cs
	  WHERE cs.segment IN ('Champions', 'At Risk', 'Lost')
	  ORDER BY cs.segment, cs.customer_id) AS c
CROSS JOIN LATERAL crm.recommend(c.customer_id, 5) AS r
LEFT JOIN demo_products AS p ON p.product_id = r.product_id
ORDER BY array_position(ARRAY['Champions', 'At Risk', 'Lost'], c.segment), r.rank;

\echo
\echo '== Next-best products for the Champions segment (share = segment customers who already bought it) =='
SELECT n.rank, n.product_id, p.description, round(n.score::numeric, 3) AS score,
	   round(100 * n.buyer_share::numeric, 1) AS "bought %"
FROM crm.segment_next_best AS n
LEFT JOIN demo_products AS p ON p.product_id = n.product_id
WHERE n.segment = 'Champions'
ORDER BY n.rank
LIMIT 5;

-- Months in the shop's own time zone.
SET timezone = 'Europe/London';
\echo
\echo '== Monthly KPIs (rates in %, revenue in GBP; 2011-12 holds 1-9 December only) =='
SELECT to_char(month, 'YYYY-MM') AS month, active_customers AS active, new_customers AS new,
	   returning_customers AS returning, lost_customers AS lost,
	   round(100 * retention_rate, 1) AS "retention %", round(100 * churn_rate, 1) AS "churn %",
	   round(100 * repeat_purchase_rate, 1) AS "repeat %", round(net_revenue) AS revenue,
	   round(revenue_per_customer) AS "per customer"
FROM crm.monthly_kpis
ORDER BY month;

\echo
\echo '== Cohort retention: % of each first-purchase month (customers) buying again k months later =='
SELECT to_char(cohort_month, 'YYYY-MM') || ' (' || customers || ')' AS cohort, months_since, round(100 * share) AS pct
FROM crm.cohort_retention
ORDER BY cohort_month, months_since
\crosstabview cohort months_since pct
RESET timezone;

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
