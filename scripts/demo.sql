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

\echo
\echo '== Loyalty program: tiers on net spend per calendar year, points from every order =='
-- Every customer becomes a member on the day of their first order.  The
-- tier review as of 2011-12-10 puts them in the tier their net spend (orders
-- minus returns) of 2011, or of 2010 if better, qualifies for.
INSERT INTO crm.loyalty_programs (program_id, qualify_on, qualification_window, review_every, review_anchor,
								  soft_landing, points_validity, return_window)
VALUES ('online', 'net_spend', 'calendar_year', '1 year', '2011-01-01', true, '1 year', '30 days');
INSERT INTO crm.loyalty_tiers (program_id, tier_rank, tier_name, threshold, earn_rate, benefits) VALUES
	('online', 1, 'Bronze', 0, 1, '{"discount_pct": 0}'),
	('online', 2, 'Silver', 1000, 1.25, '{"discount_pct": 2}'),
	('online', 3, 'Gold', 5000, 1.5, '{"discount_pct": 5}'),
	('online', 4, 'Platinum', 25000, 2, '{"discount_pct": 10, "account_manager": true}');
SELECT count(*) FILTER (WHERE crm.enrol_member(customer_id, 'online', first_order)) AS members_enrolled
FROM (SELECT customer_id, min(occurred_at) AS first_order
	  FROM crm.transactions WHERE customer_id IS NOT NULL GROUP BY customer_id) AS c;
SELECT job, program_id, review_at AT TIME ZONE 'UTC' AS review_date, members, upgrades, downgrades,
	   round(extract(epoch FROM finished_at - started_at)::numeric, 2) AS seconds
FROM crm.review_tiers('2011-12-10 00:00+00', 'online');

\echo
\echo '== Members per tier =='
SELECT tier_rank AS rank, tier_name AS tier, threshold AS "net spend from (GBP)", earn_rate AS "points per GBP",
	   members, round(100 * member_share, 1) AS "members %"
FROM crm.loyalty_tier_summary
WHERE program_id = 'online'
ORDER BY tier_rank;

-- Points: every order earns points at the member's tier rate (idempotency
-- key invoice:<number>), every cancellation claws its points back.  The
-- shop's 2011-12-10 is replayed as today: each lot expires 12 months after
-- its order, counted from today, so orders older than 12 months are lapsed.
CREATE TEMPORARY TABLE demo_points_feed AS
SELECT t.transaction_id, t.customer_id, t.occurred_at,
	   floor(abs(t.amount) * tier.earn_rate)::bigint AS points, t.amount > 0 AS is_order,
	   t.occurred_at + interval '12 months' - timestamptz '2011-12-10 00:00+00' AS lapses_after
FROM crm.transactions AS t
JOIN crm.loyalty_members AS m ON m.customer_id = t.customer_id
JOIN crm.loyalty_tiers AS tier ON tier.program_id = m.program_id AND tier.tier_rank = m.tier_rank
WHERE t.occurred_at > timestamptz '2010-12-10 00:00+00' AND floor(abs(t.amount) * tier.earn_rate) > 0;

CREATE TEMPORARY TABLE demo_feed_runs (run integer, seconds numeric, ledger_rows bigint);
-- The feed, in time order (a loop: the order of side effects matters).
CREATE FUNCTION pg_temp.run_points_feed(run integer) RETURNS void LANGUAGE plpgsql AS $$
DECLARE
	sale record;
	started timestamptz := clock_timestamp();
BEGIN
	FOR sale IN SELECT * FROM demo_points_feed ORDER BY occurred_at, transaction_id LOOP
		IF sale.is_order THEN
			PERFORM crm.earn_points(sale.customer_id, sale.points, 'invoice:' || sale.transaction_id, now() + sale.lapses_after);
		ELSE
			PERFORM crm.claw_back_points(sale.customer_id, sale.points, 'invoice:' || sale.transaction_id);
		END IF;
	END LOOP;
	INSERT INTO demo_feed_runs
	SELECT run, round(extract(epoch FROM clock_timestamp() - started)::numeric, 1), count(*) FROM crm.points_ledger;
END
$$;
SELECT pg_temp.run_points_feed(1) AS feed_done \gset
-- The same feed again, as after a crash of the sender: nothing more is awarded.
SELECT pg_temp.run_points_feed(2) AS feed_done \gset

\echo
\echo '== Points feed: every order and cancellation since 2010-12-10, sent twice (the second time replays idempotency keys) =='
SELECT run, seconds, ledger_rows AS "ledger rows after the run" FROM demo_feed_runs ORDER BY run;

\echo
\echo '== Points liability now (points outstanding; what lapses within 30/60/90 days) =='
SELECT members_with_points AS members, points_available AS available, points_pending AS pending,
	   points_outstanding AS outstanding, expiring_30_days AS "lapse in 30 days",
	   expiring_60_days AS "in 60 days", expiring_90_days AS "in 90 days"
FROM crm.points_liability
WHERE program_id = 'online';

\echo
\echo '== A member statement: the Platinum member with the most movements, a redemption of 500 points included (last 8 movements) =='
SELECT m.customer_id AS statement_customer
FROM crm.loyalty_members AS m
JOIN crm.points_ledger AS l ON l.customer_id = m.customer_id
WHERE m.program_id = 'online' AND m.tier_rank = 4
GROUP BY m.customer_id
ORDER BY count(*) DESC, m.customer_id
LIMIT 1
\gset
SELECT kind, points FROM crm.redeem_points(:statement_customer, 500, 'demo-voucher-1');
SELECT customer_id, movement_id, kind, points, running_balance, requested,
	   to_char(expires_at AT TIME ZONE 'UTC', 'YYYY-MM-DD') AS expires, idempotency_key
FROM (SELECT * FROM crm.points_statement WHERE customer_id = :statement_customer
	  ORDER BY movement_id DESC LIMIT 8) AS last_movements
ORDER BY movement_id;
SELECT crm.points_balance(:statement_customer) AS "spendable balance";

\echo
\echo '== Loyalty jobs with pg_cron: tier review and points expiry, scheduled and removed again =='
SELECT crm.schedule_tier_review() AS review_job, crm.schedule_points_expiry() AS expiry_job
\gset
SELECT jobid, jobname, schedule, command
FROM cron.job
WHERE jobid IN (:review_job, :expiry_job)
ORDER BY jobid;
SELECT crm.unschedule_tier_review() AS review_removed, crm.unschedule_points_expiry() AS expiry_removed;
