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
\echo '== Which purchase model predicts this shop best: fitted up to 2011-09-09, checked against the 91 days after =='
\echo '   (churn AUC: how well the risk separates who did not buy again from who did, 0.5 = chance; Brier: lower is better)'
SET client_min_messages = warning;
\o /dev/null
SELECT * FROM crm.fit_models('2011-12-10 00:00 Europe/London', '2011-09-10 00:00 Europe/London');
\o
SELECT kind AS model, holdout_customers AS customers,
	   actual_repeat_purchases AS "purchase days made", predicted_repeat_purchases AS predicted,
	   churn_auc AS "churn AUC", brier_score AS brier, log_likelihood, aic, chosen
FROM crm.model_validation_report
WHERE latest
ORDER BY brier_score;
SELECT kind AS "refresh scores with", reason FROM crm.churn_model_choice();

\echo
\echo '== Refresh: segments as of 2011-12-10 (the day after the last sale in the data) =='
-- The refresh reports each stage as a NOTICE; the run row below says it all.
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
\echo '== Purchase and spend models the refresh fitted on all data (days; GBP), with standard errors =='
SELECT kind, customers, converged,
	   round(r::numeric, 3) AS r, round(r_se::numeric, 3) AS "r se",
	   round(alpha::numeric, 2) AS "alpha (days)", round(alpha_se::numeric, 2) AS "alpha se",
	   round(coalesce(a, s)::numeric, 4) AS "a or s", round(coalesce(a_se, s_se)::numeric, 4) AS "se",
	   round(coalesce(b, beta)::numeric, 2) AS "b or beta", round(coalesce(b_se, beta_se)::numeric, 2) AS "se",
	   round(p::numeric, 2) AS p, round(q::numeric, 2) AS q, round(v::numeric, 1) AS v,
	   round(spend_frequency_corr::numeric, 2) AS "spend-frequency corr"
FROM crm.model_diagnostics
WHERE in_use AND (scores_churn OR kind = 'gamma_gamma')
ORDER BY kind;
\echo 'How much the data say about dropout: the fit''s log-likelihood gain over the same customers without any dropout.'
\echo 'Below 3 dropout is not identified: P(alive) near 100 % is then the model''s assumption, while the churn risk'
\echo 'over the next 90 days (no purchase in them) still ranks customers by what the data show.'
SELECT kind, dropout_log_likelihood_gain AS "log-likelihood gain", dropout_identified
FROM crm.model_diagnostics
WHERE scores_churn;

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
\echo '== Churn watch list: valuable customers unlikely to buy in the next 90 days (risk >= 50 %), one-time buyers included =='
SELECT count(*) AS customers, count(*) FILTER (WHERE frequency = 1) AS "of them one-time buyers",
	   round(sum(monetary)) AS "their spend so far"
FROM crm.churn_watch_list;
\echo 'Top 10 by the value at stake, then the churn risk:'
SELECT customer_id, segment, lifecycle_stage, recency_days AS "days since last", frequency AS orders,
	   round(monetary) AS spend, round(100 * p_alive, 1) AS "P(alive) %", round(100 * churn_risk, 1) AS "churn risk %",
	   round(clv) AS clv, round(clv_at_risk) AS "clv at risk"
FROM crm.churn_watch_list
LIMIT 10;

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

\echo
\echo '== Data quality: contacts (the UCI data has none), duplicates, sales without a known customer =='
SELECT customers, missing_email, missing_phone, duplicate_pairs,
	   transactions_without_customer AS anonymous_sales, transactions_unknown_customer AS unknown_customer_sales
FROM crm.data_quality;

\echo
\echo '== Incremental refresh: one customer in a hundred buys again on 2011-12-10; only they are recomputed =='
INSERT INTO crm.transactions (transaction_id, customer_id, occurred_at, amount, channel)
SELECT 'DEMO-' || c.customer_id, c.customer_id, '2011-12-10 10:00+00', 25, 'online'
FROM crm.customers AS c WHERE c.customer_id % 100 = 0;
CALL crm.refresh_segments('2011-12-11 00:00+00', incremental => true);
SELECT run_id, mode, status, customers, scored_customers,
	   round(1000 * extract(epoch FROM finished_at - started_at)) AS ms
FROM crm.refresh_runs WHERE mode IS NOT NULL ORDER BY run_id;

\echo
\echo '== A campaign with a holdout: e-mail to the At Risk customers, measured against their control group =='
-- The UCI data has no contacts: every customer gets a generated address,
-- and 9 in 10 consent (the others are left out of any campaign).
INSERT INTO crm.customer_contacts (customer_id, channel, handle, consent, consent_updated_at)
SELECT c.customer_id, 'email', 'customer' || c.customer_id || '@example.invalid', c.customer_id % 10 <> 0, '2011-01-01'
FROM crm.customers AS c;
-- Fixed seeds, so that the demo prints the same numbers every run: the
-- global control group's salt, and the random() the campaign's seed comes from.
UPDATE crm.settings SET global_control_salt = 'online-retail-demo', campaign_pre_period_days = 365;
SELECT setseed(0.2011) AS seeded \gset
SELECT crm.create_campaign('At Risk win-back', 'At Risk', 'email', control_share => 0.25,
						   starts_at => '2011-12-12 00:00+00', attribution_days => 14,
						   cost => 250, margin => 0.35) AS campaign_id \gset
\echo 'Launch: who is in (treatment, control) and who is left out, and why:'
SELECT outcome, customers FROM crm.launch_campaign(:campaign_id);

-- The simulated response, two weeks from 2011-12-12: a member buys with a
-- chance that grows with their orders of the past year (5 % + 3 % per
-- order, at most 60 %), 10 points more in the treatment, for about a
-- tenth of what they spent in that year (at least 15 GBP).  The true
-- effect is therefore known: +10 points of conversion; and spend before
-- the campaign predicts spend in it, which CUPED uses.
INSERT INTO crm.transactions (transaction_id, customer_id, occurred_at, amount, channel)
SELECT 'DEMO-CAMPAIGN-' || m.customer_id, m.customer_id,
	   timestamptz '2011-12-12 09:00+00' + (hashint8extended(m.customer_id, 3) & 13) * interval '1 day',
	   round(greatest(15, 0.1 * m.pre_revenue) * (0.8 + 0.4 * (hashint8extended(m.customer_id, 2) & 1023) / 1024.0), 2),
	   'online'
FROM crm.campaign_members AS m
WHERE m.campaign_id = :campaign_id
  AND (hashint8extended(m.customer_id, 1) & 1023) / 1024.0
	  < least(0.6, 0.05 + 0.03 * m.pre_orders) + CASE WHEN m.assigned_group = 'treatment' THEN 0.10 ELSE 0 END;

\echo
\echo 'Results (crm.campaign_results), treatment minus control per member, 95 % intervals; revenue in GBP:'
SELECT treatment_members AS treated, control_members AS control,
	   round((100 * treatment_conversion_rate)::numeric, 1) AS "treated conv %", round((100 * control_conversion_rate)::numeric, 1) AS "control conv %",
	   round((100 * conversion_uplift)::numeric, 1) AS "uplift pts",
	   round((100 * conversion_uplift_low)::numeric, 1) || ' .. ' || round((100 * conversion_uplift_high)::numeric, 1) AS "interval pts",
	   round(conversion_p_value::numeric, 4) AS p, significant, sample_ratio_mismatch AS srm
FROM crm.campaign_results WHERE campaign_id = :campaign_id;
SELECT 'Welch' AS estimate, round(revenue_uplift::numeric, 2) AS "revenue uplift per member",
	   round(revenue_uplift_low::numeric, 2) || ' .. ' || round(revenue_uplift_high::numeric, 2) AS interval,
	   round((revenue_uplift_high - revenue_uplift_low)::numeric, 2) AS width, round(revenue_p_value::numeric, 4) AS p
FROM crm.campaign_results WHERE campaign_id = :campaign_id
UNION ALL
SELECT 'CUPED (pre-period spend)', round(cuped_revenue_uplift::numeric, 2),
	   round(cuped_revenue_uplift_low::numeric, 2) || ' .. ' || round(cuped_revenue_uplift_high::numeric, 2),
	   round((cuped_revenue_uplift_high - cuped_revenue_uplift_low)::numeric, 2), round(cuped_revenue_p_value::numeric, 4)
FROM crm.campaign_results WHERE campaign_id = :campaign_id;
SELECT incremental_revenue AS "incremental revenue", cost, margin, round(roi::numeric, 2) AS roi,
	   round((100 * cuped_variance_reduction)::numeric, 1) AS "variance CUPED removed %"
FROM crm.campaign_results WHERE campaign_id = :campaign_id;

\echo
\echo 'Who responded (crm.campaign_results_by_segment): by lifecycle stage and loyalty tier at launch:'
SELECT breakdown, breakdown_value AS "group", treatment_members AS treated, control_members AS control,
	   round((100 * treatment_conversion_rate)::numeric, 1) AS "treated conv %", round((100 * control_conversion_rate)::numeric, 1) AS "control conv %",
	   round((100 * conversion_uplift)::numeric, 1) AS "uplift pts",
	   round((100 * conversion_uplift_low)::numeric, 1) || ' .. ' || round((100 * conversion_uplift_high)::numeric, 1) AS "interval pts"
FROM crm.campaign_results_by_segment
WHERE campaign_id = :campaign_id AND breakdown IN ('lifecycle_stage', 'loyalty_tier')
ORDER BY breakdown, treatment_members + control_members DESC;
