-- The campaign statistics by simulation: several hundred seeded campaigns
-- on one simulated population (crm.simulate_transactions: each customer's
-- own purchase rate and spend level, so spend before a campaign predicts
-- spend during it), each with its own random assignment and response, and
-- a known true effect.  The 95 % intervals of crm.compare_groups must
-- cover the truth in 93-97 % of the campaigns, the significant flag fire
-- in about 5 % of the campaigns without an effect, CUPED's interval be
-- narrower than Welch's and its estimate unbiased.
\i test/fixtures/extension.sql
SET timezone = 'UTC';
\set SHOW_CONTEXT never
SET client_min_messages = warning;

-- 150,000 customers: x = net spend in the 90 days before 2024-04-01, y0
-- and c0 = net spend and conversion in the 14 days from then without a
-- campaign.  Each campaign takes its own 300 of them (customer_id mod 500),
-- so that campaigns are independent draws from the population, as real
-- audiences are.
CREATE TEMP TABLE population AS
SELECT t.customer_id, (t.customer_id % 500) + 1 AS campaign,
	   coalesce(sum(t.amount) FILTER (WHERE t.occurred_at < '2024-04-01'), 0) AS x,
	   coalesce(sum(t.amount) FILTER (WHERE t.occurred_at >= '2024-04-01'), 0) AS y0,
	   coalesce(bool_or(t.amount > 0 AND t.occurred_at >= '2024-04-01'), false) AS c0,
	   -- what a response adds: one purchase of the customer's usual size
	   round(avg(t.amount) FILTER (WHERE t.amount > 0), 2) AS response_amount
FROM crm.simulate_transactions(150000, '2024-01-02', '2024-04-15', 20240401,
							   r => 0.6, alpha => 1.5, a => 0.5, b => 8, return_share => 0) AS t
GROUP BY t.customer_id;
SELECT count(*) AS customers, round(avg(c0::int), 3) AS base_conversion,
	   round(corr(x, y0)::numeric, 2) AS pre_period_correlation
FROM population;

-- Campaigns 1-250 have an effect, 251-500 none.  Half of a campaign's
-- customers are in control, by a hash seeded with the campaign; a treated
-- non-converter responds with probability 0.08 (campaigns 1-250), by
-- another hash.  The truth is the expected difference over the
-- population: conversion 0.08 * share of non-converters, revenue 0.08 *
-- their mean response amount per customer.
CREATE TEMP TABLE truth AS
SELECT k.campaign, CASE WHEN k.campaign <= 250 THEN 0.08 ELSE 0 END AS response_rate,
	   CASE WHEN k.campaign <= 250 THEN 0.08 * t.non_converters ELSE 0 END AS conversion_effect,
	   CASE WHEN k.campaign <= 250 THEN 0.08 * t.response_amounts ELSE 0 END AS revenue_effect
FROM generate_series(1, 500) AS k (campaign),
	 (SELECT avg((NOT p.c0)::int) AS non_converters,
			 avg(CASE WHEN NOT p.c0 THEN p.response_amount ELSE 0 END) AS response_amounts
	  FROM population AS p) AS t;

CREATE TEMP TABLE simulated AS
WITH members AS (
	SELECT tr.campaign, p.x,
		   (hashint8extended(p.customer_id, tr.campaign) & 1048575) >= 0.5 * 1048576 AS treated,
		   (hashint8extended(p.customer_id, 1000000 + tr.campaign) & 1048575) < tr.response_rate * 1048576 AND NOT p.c0 AS responds,
		   p.y0, p.c0, p.response_amount
	FROM truth AS tr JOIN population AS p USING (campaign)
), outcomes AS (
	SELECT m.campaign, m.treated, m.x,
		   m.y0 + CASE WHEN m.treated AND m.responds THEN m.response_amount ELSE 0 END AS y,
		   m.c0 OR (m.treated AND m.responds) AS converted
	FROM members AS m
), group_sums AS (
	SELECT o.campaign, o.treated,
		   ROW(count(*), count(*) FILTER (WHERE o.converted), sum(o.y), sum(o.y * o.y),
			   sum(o.x), sum(o.x * o.x), sum(o.x * o.y))::crm.group_outcomes AS outcomes
	FROM outcomes AS o GROUP BY o.campaign, o.treated
), sums AS (
	SELECT t.campaign, t.outcomes AS treated, c.outcomes AS control
	FROM group_sums AS t JOIN group_sums AS c ON c.campaign = t.campaign AND NOT c.treated
	WHERE t.treated
)
SELECT s.campaign, tr.conversion_effect, tr.revenue_effect, g.*
FROM sums AS s JOIN truth AS tr USING (campaign)
CROSS JOIN LATERAL crm.compare_groups(s.treated, s.control) AS g;

-- Coverage of the truth by each 95 % interval, with and without an effect.
CREATE TEMP TABLE coverage AS
SELECT s.conversion_effect > 0 AS with_effect, c.interval_kind, count(*) AS campaigns, avg(c.covered::int) AS coverage
FROM simulated AS s
CROSS JOIN LATERAL (VALUES
	('conversion', s.conversion_uplift_low <= s.conversion_effect AND s.conversion_effect <= s.conversion_uplift_high),
	('revenue (Welch)', s.revenue_uplift_low <= s.revenue_effect AND s.revenue_effect <= s.revenue_uplift_high),
	('revenue (CUPED)', s.cuped_revenue_uplift_low <= s.revenue_effect AND s.revenue_effect <= s.cuped_revenue_uplift_high))
	AS c (interval_kind, covered)
GROUP BY 1, 2;
SELECT with_effect, interval_kind, campaigns, round(coverage, 3) AS coverage, coverage BETWEEN 0.93 AND 0.97 AS in_93_to_97_percent
FROM coverage ORDER BY 1, 2;

-- Without an effect the flag fires in about 5 % of the campaigns (250
-- campaigns: 2.2-7.8 % is two standard errors either side); with one, the
-- power to see it.
SELECT conversion_effect > 0 AS with_effect, round(avg(significant::int), 3) AS flagged,
	   conversion_effect > 0 OR avg(significant::int) BETWEEN 0.022 AND 0.078 AS about_5_percent_without_effect
FROM (SELECT s.conversion_effect, coalesce(s.conversion_p_value < 0.05, false) AS significant FROM simulated AS s) AS f
GROUP BY 1 ORDER BY 1;

-- CUPED: narrower than Welch in every campaign here, by the variance its
-- covariate explains; unbiased (its mean error within three standard
-- errors of 0, as Welch's).
SELECT round(avg(cuped_variance_reduction)::numeric, 2) AS mean_variance_reduction,
	   bool_and(cuped_revenue_uplift_high - cuped_revenue_uplift_low < revenue_uplift_high - revenue_uplift_low) AS cuped_always_narrower,
	   round(avg((cuped_revenue_uplift_high - cuped_revenue_uplift_low) / (revenue_uplift_high - revenue_uplift_low))::numeric, 2) AS width_ratio,
	   abs(avg(cuped_revenue_uplift - revenue_effect)) < 3 * stddev_samp(cuped_revenue_uplift - revenue_effect) / sqrt(count(*)) AS cuped_unbiased,
	   abs(avg(revenue_uplift - revenue_effect)) < 3 * stddev_samp(revenue_uplift - revenue_effect) / sqrt(count(*)) AS welch_unbiased
FROM simulated;
