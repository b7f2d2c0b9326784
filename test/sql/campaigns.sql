-- Campaigns: creation and its bad input, the launch (who is eligible, the
-- seeded assignment, once only), the send list and the sending tool's
-- events, what a merge does, and the results against the textbook formulas
-- computed in plain SQL from the members' own rows.
\set this_test campaigns
\i test/fixtures/earlier_tests.sql
SET timezone = 'UTC';
\set SHOW_CONTEXT never
SET client_min_messages = warning;

-- 400 customers of a loyalty tier that nobody else holds, so that the
-- audience tier:Campaign Gold is exactly them.  Every 20th has no email
-- consent, the next one consent but no address.  Purchases in the 90 days
-- before the campaign starting 2024-06-01 follow each customer's own
-- level, so pre-period spend predicts spend in the window (CUPED).
INSERT INTO crm.customers (customer_id, joined_at)
SELECT id, '2024-01-01' FROM generate_series(950001, 950400) AS id;
INSERT INTO crm.customer_contacts (customer_id, channel, handle, consent)
SELECT id, 'email', CASE WHEN id % 20 <> 1 THEN 'm' || id || '@example.org' END, id % 20 <> 0
FROM generate_series(950001, 950400) AS id;
INSERT INTO crm.transactions (transaction_id, customer_id, occurred_at, amount)
SELECT 'CMP-PRE-' || id || '-' || n, id, timestamptz '2024-03-05 12:00' + n * interval '9 days', 5 + id % 37
FROM generate_series(950001, 950400) AS id, generate_series(1, 1 + id % 3) AS n;
INSERT INTO crm.loyalty_programs (program_id) VALUES ('campaign-test');
INSERT INTO crm.loyalty_tiers (program_id, tier_rank, tier_name, threshold) VALUES ('campaign-test', 1, 'Campaign Gold', 0);
SELECT count(*) FILTER (WHERE crm.enrol_member(id, 'campaign-test', '2024-01-01')) AS enrolled
FROM generate_series(950001, 950400) AS id;
CALL crm.refresh_segments('2024-06-01 00:00+00');
-- A fixed global control group: its members among the 400 are left out.
UPDATE crm.settings SET global_control_salt = 'campaigns-test', global_control_share = 0.05;
SELECT count(*) AS in_global_control FROM generate_series(950001, 950400) AS id
WHERE crm.in_global_control(id) AND id % 20 NOT IN (0, 1);

-- Bad input: a clear error, nothing written.
SELECT * FROM public.error_of($$SELECT crm.create_campaign('x', 'no such audience', 'email')$$);
SELECT * FROM public.error_of($$SELECT crm.create_campaign('x', 'tier:No Such Tier', 'email')$$);
SELECT * FROM public.error_of($$SELECT crm.create_campaign('x', 'all', 'carrier pigeon')$$);
SELECT * FROM public.error_of($$SELECT crm.create_campaign('x', 'all', 'email', control_share => 0)$$);
SELECT * FROM public.error_of($$SELECT crm.create_campaign('x', 'all', 'email', control_share => 1)$$);
SELECT * FROM public.error_of($$SELECT crm.create_campaign('x', 'all', 'email', control_share => 'NaN')$$);
SELECT * FROM public.error_of($$SELECT crm.create_campaign('x', 'all', 'email', control_share => NULL)$$);
SELECT * FROM public.error_of($$SELECT crm.create_campaign(NULL, 'all', 'email')$$);
SELECT * FROM public.error_of($$SELECT crm.create_campaign(' ', 'all', 'email')$$);
SELECT * FROM public.error_of($$SELECT crm.create_campaign('x', 'all', 'email', starts_at => '2024-06-01', ends_at => '2024-05-01')$$);
SELECT * FROM public.error_of($$SELECT crm.create_campaign('x', 'all', 'email', starts_at => 'infinity')$$);
SELECT * FROM public.error_of($$SELECT crm.create_campaign('x', 'all', 'email', attribution_days => 0)$$);
SELECT * FROM public.error_of($$SELECT crm.create_campaign('x', 'all', 'email', cost => -1)$$);
SELECT * FROM public.error_of($$SELECT crm.create_campaign('x', 'all', 'email', cost => 'NaN')$$);
SELECT * FROM public.error_of($$SELECT crm.create_campaign('x', 'all', 'email', cost => 'Infinity')$$);
SELECT * FROM public.error_of($$SELECT crm.create_campaign('x', 'all', 'email', margin => 0)$$);
SELECT * FROM public.error_of($$SELECT crm.create_campaign('x', 'all', 'email', margin => 1.5)$$);
BEGIN;
UPDATE crm.channels SET enabled = false WHERE name = 'push';
SELECT * FROM public.error_of($$SELECT crm.create_campaign('x', 'all', 'push')$$);
ROLLBACK;
SELECT count(*) AS campaigns FROM crm.campaigns;

-- Marketers create and launch; analysts only read.
SET ROLE crm_analyst;
SELECT * FROM public.error_of($$SELECT crm.create_campaign('x', 'all', 'email')$$);
RESET ROLE;
SET ROLE crm_marketer;
SELECT crm.create_campaign('Gold reactivation', 'tier:Campaign Gold', 'email', control_share => 0.25,
						   starts_at => '2024-06-01', attribution_days => 14, cost => 400, margin => 0.4) AS campaign_id;
RESET ROLE;
SELECT campaign_id, name, audience, channel, control_share, starts_at, ends_at, attribution_days, cost, margin,
	   created_by = current_user AS created_by_me
FROM crm.campaigns;
-- A fixed seed, so that the test knows the assignment.
UPDATE crm.campaigns SET assignment_seed = 20240601 WHERE campaign_id = 1;

SELECT * FROM public.error_of($$SELECT * FROM crm.launch_campaign(NULL)$$);
SELECT * FROM public.error_of($$SELECT * FROM crm.launch_campaign(99)$$);
SELECT * FROM public.error_of($$SELECT * FROM crm.campaign_sends(1)$$);
SET ROLE crm_marketer;
SELECT * FROM crm.launch_campaign(1);
RESET ROLE;
SELECT campaign_id, audience_customers, treatment_members, control_members, excluded_no_consent, excluded_no_handle,
	   excluded_global_control, excluded_contact_cap, launched_by = current_user AS launched_by_me
FROM crm.campaign_launches;
-- Once only, and an ended campaign is not launched again.
SELECT * FROM public.error_of($$SELECT * FROM crm.launch_campaign(1)$$);
SELECT count(*) AS members FROM crm.campaign_members WHERE campaign_id = 1;

-- Who is in: consented, with a handle, outside the global control group;
-- the group is the seeded hash, written out here.
SELECT count(*) AS members,
	   count(*) FILTER (WHERE m.customer_id % 20 IN (0, 1)) AS without_consent_or_handle,
	   count(*) FILTER (WHERE crm.in_global_control(m.customer_id)) AS in_global_control,
	   bool_and(m.assigned_group = CASE WHEN (hashint8extended(m.customer_id, 20240601) & 4503599627370495)
											 < 0.25 * 4503599627370496 THEN 'control' ELSE 'treatment' END) AS assignment_is_the_hash,
	   bool_and(m.loyalty_tier = 'Campaign Gold') AS tier_at_launch,
	   bool_and(m.pre_revenue = (5 + m.customer_id % 37) * (1 + m.customer_id % 3)) AS pre_revenue,
	   bool_and(m.pre_orders = 1 + m.customer_id % 3) AS pre_orders
FROM crm.campaign_members AS m WHERE m.campaign_id = 1;
-- Balanced: chi-square of the split against the share, below the 0.1 %
-- critical value (10.83), as the view's sample-ratio check says.
SELECT (treatment_members - 0.75 * n) ^ 2 / (0.75 * n) + (control_members - 0.25 * n) ^ 2 / (0.25 * n) < 10.83 AS balanced
FROM (SELECT treatment_members, control_members, (treatment_members + control_members)::float8 AS n
	  FROM crm.campaign_launches WHERE campaign_id = 1) AS l;

-- The simulated response: in the 14 days from the start, 30 % of the
-- control and 45 % of the treatment buy, the treatment a little more; a
-- purchase after the window and one before the start are not counted.
INSERT INTO crm.transactions (transaction_id, customer_id, occurred_at, amount)
SELECT 'CMP-WIN-' || m.customer_id, m.customer_id, timestamptz '2024-06-01 09:00' + (m.customer_id % 13) * interval '1 day',
	   m.pre_revenue / 2 + CASE WHEN m.assigned_group = 'treatment' THEN 4 ELSE 0 END + m.customer_id % 5
FROM crm.campaign_members AS m
WHERE m.campaign_id = 1
  AND (hashint8extended(m.customer_id, 7) & 1023) < CASE WHEN m.assigned_group = 'treatment' THEN 461 ELSE 307 END;
INSERT INTO crm.transactions (transaction_id, customer_id, occurred_at, amount)
SELECT 'CMP-OUT-' || m.customer_id || '-' || w, m.customer_id, w, 1000
FROM crm.campaign_members AS m, unnest(ARRAY[timestamptz '2024-06-15 00:00', '2024-05-31 23:59']) AS w
WHERE m.campaign_id = 1 AND m.customer_id % 10 = 3;

-- The view against the textbook formulas over the members' own rows:
-- Wald for conversion, Welch (Welch-Satterthwaite degrees of freedom) for
-- revenue, CUPED as each member's revenue minus theta (x - mean x), theta
-- the regression slope over all members, then Welch again.
CREATE TEMP TABLE window_outcomes AS
SELECT m.customer_id, m.assigned_group = 'treatment' AS treated, m.pre_revenue::float8 AS x,
	   coalesce(sum(t.amount), 0)::float8 AS y, count(t.*) > 0 AS converted
FROM crm.campaign_members AS m
LEFT JOIN crm.transactions AS t ON t.customer_id = m.customer_id
	 AND t.occurred_at >= '2024-06-01' AND t.occurred_at < '2024-06-15'
WHERE m.campaign_id = 1
GROUP BY 1, 2, 3;
CREATE TEMP TABLE textbook AS
WITH theta AS (
	SELECT covar_samp(x, y) / var_samp(x) AS theta, avg(x) AS mean_x FROM window_outcomes
), adjusted AS (
	SELECT o.treated, o.converted::int::float8 AS c, o.y, o.y - th.theta * (o.x - th.mean_x) AS ya
	FROM window_outcomes AS o, theta AS th
), g AS (
	SELECT count(*) FILTER (WHERE treated) AS n1, count(*) FILTER (WHERE NOT treated) AS n0,
		   avg(c) FILTER (WHERE treated) AS p1, avg(c) FILTER (WHERE NOT treated) AS p0,
		   avg(y) FILTER (WHERE treated) AS m1, avg(y) FILTER (WHERE NOT treated) AS m0,
		   var_samp(y) FILTER (WHERE treated) AS v1, var_samp(y) FILTER (WHERE NOT treated) AS v0,
		   avg(ya) FILTER (WHERE treated) AS a1, avg(ya) FILTER (WHERE NOT treated) AS a0,
		   var_samp(ya) FILTER (WHERE treated) AS w1, var_samp(ya) FILTER (WHERE NOT treated) AS w0
	FROM adjusted
), e AS (
	SELECT g.*, sqrt(p1 * (1 - p1) / n1 + p0 * (1 - p0) / n0) AS d_se,
		   sqrt(v1 / n1 + v0 / n0) AS r_se, (v1 / n1 + v0 / n0) ^ 2 / ((v1 / n1) ^ 2 / (n1 - 1) + (v0 / n0) ^ 2 / (n0 - 1)) AS r_df,
		   sqrt(w1 / n1 + w0 / n0) AS a_se, (w1 / n1 + w0 / n0) ^ 2 / ((w1 / n1) ^ 2 / (n1 - 1) + (w0 / n0) ^ 2 / (n0 - 1)) AS a_df
	FROM g
)
SELECT n1, n0, p1 - p0 AS conversion_uplift, p1 - p0 - 1.959963984540054 * d_se AS conversion_uplift_low,
	   p1 - p0 + 1.959963984540054 * d_se AS conversion_uplift_high,
	   m1 - m0 AS revenue_uplift, m1 - m0 - crm.student_t_quantile(0.975, r_df) * r_se AS revenue_uplift_low,
	   m1 - m0 + crm.student_t_quantile(0.975, r_df) * r_se AS revenue_uplift_high,
	   a1 - a0 AS cuped_revenue_uplift, a1 - a0 - crm.student_t_quantile(0.975, a_df) * a_se AS cuped_revenue_uplift_low,
	   a1 - a0 + crm.student_t_quantile(0.975, a_df) * a_se AS cuped_revenue_uplift_high,
	   2 * crm.student_t_cdf(-abs(m1 - m0) / r_se, r_df) AS revenue_p_value
FROM e;

SET ROLE crm_analyst;
SELECT campaign_id, campaign_name, channel, audience, status, attribution_days, measured_until, control_share,
	   treatment_members, control_members, treatment_converters, control_converters,
	   round(treatment_conversion_rate::numeric, 4) AS treatment_rate, round(control_conversion_rate::numeric, 4) AS control_rate,
	   treatment_orders, control_orders, treatment_revenue, control_revenue, significant, sample_ratio_mismatch,
	   cost, margin
FROM crm.campaign_results;
RESET ROLE;
SELECT t.n1 = r.treatment_members AND t.n0 = r.control_members AS members,
	   abs(r.conversion_uplift - t.conversion_uplift) < 1e-12 AS conversion_uplift,
	   abs(r.conversion_uplift_low - t.conversion_uplift_low) < 1e-12
	   AND abs(r.conversion_uplift_high - t.conversion_uplift_high) < 1e-12 AS conversion_interval,
	   abs(r.revenue_uplift - t.revenue_uplift) < 1e-9 AS revenue_uplift,
	   abs(r.revenue_uplift_low - t.revenue_uplift_low) < 1e-9
	   AND abs(r.revenue_uplift_high - t.revenue_uplift_high) < 1e-9 AS welch_interval,
	   abs(r.revenue_p_value - t.revenue_p_value) < 1e-12 AS welch_p_value,
	   abs(r.cuped_revenue_uplift - t.cuped_revenue_uplift) < 1e-9 AS cuped_uplift,
	   abs(r.cuped_revenue_uplift_low - t.cuped_revenue_uplift_low) < 1e-9
	   AND abs(r.cuped_revenue_uplift_high - t.cuped_revenue_uplift_high) < 1e-9 AS cuped_interval,
	   r.cuped_revenue_uplift_high - r.cuped_revenue_uplift_low < r.revenue_uplift_high - r.revenue_uplift_low AS cuped_narrower,
	   r.incremental_revenue = round((r.cuped_revenue_uplift * r.treatment_members)::numeric, 2) AS incremental_revenue,
	   abs(r.roi - (r.incremental_revenue * 0.4 - 400) / 400) < 1e-12 AS roi,
	   r.significant = (r.conversion_uplift_low > 0 OR r.conversion_uplift_high < 0) AS significant_is_the_interval,
	   abs(r.sample_ratio_p_value - 2 * crm.normal_cdf(-sqrt((r.treatment_members - 0.75 * (r.treatment_members + r.control_members)) ^ 2 / (0.75 * (r.treatment_members + r.control_members))
															 + (r.control_members - 0.25 * (r.treatment_members + r.control_members)) ^ 2 / (0.25 * (r.treatment_members + r.control_members))))) < 1e-12 AS sample_ratio
FROM crm.campaign_results AS r, textbook AS t;

-- By segment, stage and tier at launch: each breakdown counts every member
-- once; the all row is the campaign's.
SELECT breakdown, count(*) AS rows, sum(treatment_members) AS treatment_members, sum(control_members) AS control_members,
	   sum(treatment_converters + control_converters) AS converters
FROM crm.campaign_results_by_segment WHERE campaign_id = 1
GROUP BY breakdown ORDER BY breakdown;
SELECT r.conversion_uplift = s.conversion_uplift AND r.cuped_revenue_uplift_low = s.cuped_revenue_uplift_low AS all_row_is_the_campaign
FROM crm.campaign_results AS r JOIN crm.campaign_results_by_segment AS s ON s.campaign_id = r.campaign_id AND s.breakdown = 'all';

-- A campaign starting tomorrow: the send list is the treatment with its
-- handles, for marketers only, every pull logged.
SET ROLE crm_marketer;
SELECT crm.create_campaign('Gold next week', 'tier:Campaign Gold', 'email', starts_at => now() + interval '1 day') AS campaign_id;
RESET ROLE;
UPDATE crm.campaigns SET assignment_seed = 42 WHERE campaign_id = 2;
SET ROLE crm_marketer;
SELECT outcome, customers FROM crm.launch_campaign(2);
CREATE TEMP TABLE sends AS SELECT * FROM crm.campaign_sends(2);
SELECT * FROM public.error_of($$SELECT * FROM crm.launch_campaign(2)$$);
RESET ROLE;
SELECT count(*) AS sends, count(DISTINCT s.customer_id) AS customers,
	   bool_and(m.assigned_group = 'treatment') AS treatment_only, bool_and(s.handle = 'm' || s.customer_id || '@example.org') AS handles,
	   (SELECT treatment_members FROM crm.campaign_launches WHERE campaign_id = 2) AS treatment_members
FROM sends AS s JOIN crm.campaign_members AS m ON m.campaign_id = 2 AND m.customer_id = s.customer_id;
SELECT campaign_id, customers, left_out, pulled_by = session_user AS pulled_by_me FROM crm.campaign_send_pulls;
SET ROLE crm_analyst;
SELECT * FROM public.error_of($$SELECT * FROM crm.campaign_sends(2)$$);
RESET ROLE;
SET ROLE crm_admin;
SELECT * FROM public.error_of($$SELECT * FROM crm.campaign_sends(2)$$);
RESET ROLE;
SELECT * FROM public.error_of($$SELECT * FROM crm.campaign_sends(1)$$);

-- The contact cap: a third campaign the same day finds the treatment of
-- the second at the cap of 1 and leaves them out.
UPDATE crm.settings SET max_contacts_per_week = 1;
SELECT crm.create_campaign('Gold again', 'tier:Campaign Gold', 'email', starts_at => now() + interval '2 days') AS campaign_id;
UPDATE crm.campaigns SET assignment_seed = 7 WHERE campaign_id = 3;
SELECT outcome, customers FROM crm.launch_campaign(3);
SELECT (SELECT excluded_contact_cap FROM crm.campaign_launches WHERE campaign_id = 3)
	   = (SELECT treatment_members FROM crm.campaign_launches WHERE campaign_id = 2) AS capped_are_the_treated;
UPDATE crm.settings SET max_contacts_per_week = DEFAULT;
SELECT * FROM public.error_of($$UPDATE crm.settings SET max_contacts_per_week = 0$$);
SELECT * FROM public.error_of($$UPDATE crm.settings SET campaign_pre_period_days = 0$$);

-- The sending tool's events: once per kind, treatment members only; an
-- unsubscribe withdraws the consent, and the next send list leaves them out.
SELECT min(customer_id) FILTER (WHERE assigned_group = 'treatment') AS treated,
	   max(customer_id) FILTER (WHERE assigned_group = 'treatment') AS treated_too,
	   min(customer_id) FILTER (WHERE assigned_group = 'control') AS control
FROM crm.campaign_members WHERE campaign_id = 2 \gset
SET ROLE crm_marketer;
SELECT crm.record_campaign_event(2, :treated, 'delivered') AS first, crm.record_campaign_event(2, :treated, 'delivered') AS again,
	   crm.record_campaign_event(2, :treated, 'opened') AS opened, crm.record_campaign_event(2, :treated_too, 'delivered') AS delivered_too,
	   crm.record_campaign_event(2, :treated_too, 'unsubscribed') AS unsubscribed;
RESET ROLE;
SELECT consent FROM crm.customer_contacts WHERE customer_id = :treated_too AND channel = 'email';
SELECT granted, source FROM crm.consent_events
WHERE customer_id = :treated_too AND channel = 'email' ORDER BY event_id DESC LIMIT 1;
SET ROLE crm_marketer;
SELECT count(*) AS sends_after_unsubscribe FROM crm.campaign_sends(2);
RESET ROLE;
SELECT customers, left_out FROM crm.campaign_send_pulls ORDER BY pull_id DESC LIMIT 1;
SELECT * FROM public.error_of(format('SELECT crm.record_campaign_event(2, %s, %L)', :control, 'delivered'));
SELECT * FROM public.error_of($$SELECT crm.record_campaign_event(2, 950001, 'delivered')$$);
SELECT state, hint FROM public.error_of(format('SELECT crm.record_campaign_event(2, %s, %L)', :treated_too, 'delivered'));
SELECT * FROM public.error_of(format('SELECT crm.record_campaign_event(2, %s, %L)', :treated, 'forwarded'));
SELECT state, hint FROM public.error_of(format('SELECT crm.record_campaign_event(2, %s, %L, now() + interval ''1 week'')', :treated, 'opened'));
SELECT * FROM public.error_of($$SELECT crm.record_campaign_event(2, NULL, 'opened')$$);
SELECT * FROM public.error_of($$SELECT crm.record_campaign_event(99, 950002, 'opened')$$);
SELECT campaign_id, status, delivered, opened, clicked, bounced, unsubscribed FROM crm.campaign_results ORDER BY campaign_id;

-- A merge: the merged member's membership and events follow the kept
-- customer; where both were members, the kept one's assignment stands.
INSERT INTO crm.customers (customer_id, joined_at) VALUES (950999, '2024-01-01');
SELECT merge_id, keep_id FROM crm.merge_customers(950999, :treated);
SELECT campaign_id, assigned_group, (SELECT count(*) FROM crm.campaign_events AS e
									 WHERE e.campaign_id = m.campaign_id AND e.customer_id = m.customer_id) AS events
FROM crm.campaign_members AS m WHERE m.customer_id = 950999 ORDER BY 1;
SELECT assigned_group AS kept_group FROM crm.campaign_members
WHERE campaign_id = 2 AND customer_id = :treated_too;
SELECT merge_id, keep_id FROM crm.merge_customers(:treated_too, 950999);
SELECT count(*) AS memberships_of_kept, count(*) FILTER (WHERE customer_id = 950999) AS left_under_merged
FROM crm.campaign_members WHERE campaign_id = 2 AND customer_id IN (:treated_too, 950999);

-- Analysts read results and members, never handles.
SET ROLE crm_analyst;
SELECT count(*) > 0 AS reads_members FROM crm.campaign_member_outcomes;
SELECT * FROM public.error_of($$SELECT * FROM crm.campaign_send_pulls$$);
RESET ROLE;

-- The global control group holds every key, also one crm.customers lacks
-- (sales may arrive before the customer row): such a customer is left out
-- of a launch like any other member of the group.
SELECT min(id) AS outsider FROM generate_series(960000, 961000) AS id WHERE crm.in_global_control(id) \gset
INSERT INTO crm.transactions (transaction_id, customer_id, occurred_at, amount)
VALUES ('CMP-OUTSIDER', :outsider, '2024-05-20', 40);
INSERT INTO crm.customer_contacts (customer_id, channel, handle, consent)
VALUES (:outsider, 'email', 'outsider@example.org', true);
CALL crm.refresh_segments('2024-06-01 00:00+00');
SELECT lifecycle_stage AS outsider_stage FROM crm.customer_segments WHERE customer_id = :outsider \gset
SELECT :'outsider_stage' AS outsider_stage,
	   NOT EXISTS (SELECT FROM crm.customers WHERE customer_id = :outsider) AS not_in_customers;
SELECT customers > 0 AS some_left_out_as_global_control
FROM crm.launch_campaign(crm.create_campaign('outsider', 'lifecycle:' || :'outsider_stage', 'email',
											 starts_at => '2024-06-01'))
WHERE outcome = 'excluded_global_control';
SELECT count(*) AS outsider_memberships FROM crm.campaign_members WHERE customer_id = :outsider;
