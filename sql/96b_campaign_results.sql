-- Campaign results, live from crm.transactions (like the KPI views, not
-- from the refreshed snapshot): each member's purchases in the attribution
-- window, summed per campaign and group and compared by crm.compare_groups.
-- Readable by BI tools; no personal data.

CREATE VIEW @extschema@.campaign_member_outcomes AS
SELECT m.campaign_id, m.customer_id, m.assigned_group, m.segment, m.lifecycle_stage, m.loyalty_tier,
	   m.pre_revenue, m.pre_orders, o.orders, coalesce(o.revenue, 0)::numeric(19,4) AS revenue
FROM @extschema@.campaign_members AS m
JOIN @extschema@.campaigns AS c ON c.campaign_id = m.campaign_id
CROSS JOIN LATERAL (
	SELECT count(*) FILTER (WHERE t.amount > 0) AS orders, sum(t.amount) AS revenue
	FROM @extschema@.transactions AS t
	WHERE t.customer_id = m.customer_id
	  AND t.occurred_at >= c.starts_at AND t.occurred_at < c.starts_at + c.attribution_days * interval '1 day') AS o;
COMMENT ON VIEW @extschema@.campaign_member_outcomes IS
	'One row per campaign member: their group and launch-time segment, lifecycle stage and tier, pre-period spend and orders, and their purchases in the attribution window so far, live from crm.transactions. What crm.campaign_results sums; no personal data.';
COMMENT ON COLUMN @extschema@.campaign_member_outcomes.campaign_id IS 'The campaign.';
COMMENT ON COLUMN @extschema@.campaign_member_outcomes.customer_id IS 'The member (customer key).';
COMMENT ON COLUMN @extschema@.campaign_member_outcomes.assigned_group IS 'treatment or control.';
COMMENT ON COLUMN @extschema@.campaign_member_outcomes.segment IS 'RFM segment at launch.';
COMMENT ON COLUMN @extschema@.campaign_member_outcomes.lifecycle_stage IS 'Lifecycle stage at launch.';
COMMENT ON COLUMN @extschema@.campaign_member_outcomes.loyalty_tier IS 'Loyalty tier at launch; NULL for non-members.';
COMMENT ON COLUMN @extschema@.campaign_member_outcomes.pre_revenue IS 'Net spend in the pre-period (the CUPED covariate).';
COMMENT ON COLUMN @extschema@.campaign_member_outcomes.pre_orders IS 'Purchases in the pre-period.';
COMMENT ON COLUMN @extschema@.campaign_member_outcomes.orders IS 'Purchases (amount > 0) in [starts_at, starts_at + attribution_days days); a member with one converted.';
COMMENT ON COLUMN @extschema@.campaign_member_outcomes.revenue IS 'Net amount of the same window, returns subtracted; 0 without a sale.';

-- Per campaign and breakdown: all members ('all'), or by launch-time
-- segment, lifecycle stage or loyalty tier.  One pass over the members
-- sums each group into a crm.group_outcomes; a group without members in a
-- breakdown value counts 0 members.
CREATE VIEW @extschema@.campaign_results_by_segment AS
WITH group_sums AS (
	SELECT o.campaign_id, b.breakdown, b.breakdown_value, o.assigned_group,
		   ROW(count(*), count(*) FILTER (WHERE o.orders > 0), sum(o.revenue), sum(o.revenue * o.revenue),
			   sum(o.pre_revenue), sum(o.pre_revenue * o.pre_revenue),
			   sum(o.pre_revenue * o.revenue))::@extschema@.group_outcomes AS outcomes,
		   sum(o.orders) AS orders
	FROM @extschema@.campaign_member_outcomes AS o
	CROSS JOIN LATERAL (VALUES ('all', 'all'),
							   ('segment', coalesce(o.segment, 'none')),
							   ('lifecycle_stage', coalesce(o.lifecycle_stage, 'none')),
							   ('loyalty_tier', coalesce(o.loyalty_tier, 'none'))) AS b (breakdown, breakdown_value)
	GROUP BY o.campaign_id, b.breakdown, b.breakdown_value, o.assigned_group
), sums AS (
	SELECT g.campaign_id, g.breakdown, g.breakdown_value,
		   coalesce((array_agg(g.outcomes) FILTER (WHERE g.assigned_group = 'treatment'))[1],
					ROW(0, 0, NULL, NULL, NULL, NULL, NULL)::@extschema@.group_outcomes) AS treated,
		   coalesce((array_agg(g.outcomes) FILTER (WHERE g.assigned_group = 'control'))[1],
					ROW(0, 0, NULL, NULL, NULL, NULL, NULL)::@extschema@.group_outcomes) AS control,
		   coalesce(sum(g.orders) FILTER (WHERE g.assigned_group = 'treatment'), 0) AS treatment_orders,
		   coalesce(sum(g.orders) FILTER (WHERE g.assigned_group = 'control'), 0) AS control_orders
	FROM group_sums AS g
	GROUP BY g.campaign_id, g.breakdown, g.breakdown_value
)
SELECT s.campaign_id, s.breakdown, s.breakdown_value,
	   (s.treated).members AS treatment_members, (s.control).members AS control_members,
	   (s.treated).converters AS treatment_converters, (s.control).converters AS control_converters,
	   (s.treated).converters::float8 / nullif((s.treated).members, 0) AS treatment_conversion_rate,
	   (s.control).converters::float8 / nullif((s.control).members, 0) AS control_conversion_rate,
	   s.treatment_orders::bigint AS treatment_orders, s.control_orders::bigint AS control_orders,
	   coalesce((s.treated).revenue, 0)::numeric(18,2) AS treatment_revenue,
	   coalesce((s.control).revenue, 0)::numeric(18,2) AS control_revenue,
	   ((s.treated).revenue / nullif((s.treated).members, 0))::float8 AS treatment_revenue_per_member,
	   ((s.control).revenue / nullif((s.control).members, 0))::float8 AS control_revenue_per_member,
	   g.conversion_uplift, g.conversion_uplift_low, g.conversion_uplift_high,
	   g.relative_conversion_uplift, g.relative_conversion_uplift_low, g.relative_conversion_uplift_high,
	   g.conversion_p_value,
	   g.revenue_uplift, g.revenue_uplift_low, g.revenue_uplift_high, g.revenue_p_value,
	   g.cuped_revenue_uplift, g.cuped_revenue_uplift_low, g.cuped_revenue_uplift_high, g.cuped_revenue_p_value,
	   g.cuped_variance_reduction,
	   (g.cuped_revenue_uplift * (s.treated).members)::numeric(18,2) AS incremental_revenue,
	   coalesce(g.conversion_p_value < 0.05, false) AS significant
FROM sums AS s
CROSS JOIN LATERAL @extschema@.compare_groups(s.treated, s.control) AS g;
COMMENT ON VIEW @extschema@.campaign_results_by_segment IS
	'Who responded: the results of each launched campaign for all its members (breakdown all) and by the members'' segment, lifecycle stage and loyalty tier at launch (breakdown segment, lifecycle_stage, loyalty_tier; value none where there was none). Filter on breakdown: each breakdown counts every member once. Treatment minus control per member, with 95 % intervals; live from crm.transactions. No personal data.';
COMMENT ON COLUMN @extschema@.campaign_results_by_segment.campaign_id IS 'The campaign.';
COMMENT ON COLUMN @extschema@.campaign_results_by_segment.breakdown IS 'all, segment, lifecycle_stage or loyalty_tier.';
COMMENT ON COLUMN @extschema@.campaign_results_by_segment.breakdown_value IS 'The segment, stage or tier at launch (none for a customer without one); all for breakdown all.';

CREATE VIEW @extschema@.campaign_results AS
SELECT c.campaign_id, c.name AS campaign_name, c.channel, c.audience,
	   CASE WHEN now() < c.starts_at THEN 'scheduled'
			WHEN now() < c.ends_at THEN 'running'
			WHEN now() < c.starts_at + c.attribution_days * interval '1 day' THEN 'measuring'
			ELSE 'complete' END AS status,
	   c.starts_at, c.ends_at, c.attribution_days, l.launched_at,
	   least(now(), c.starts_at + c.attribution_days * interval '1 day') AS measured_until,
	   c.control_share::numeric(5,4) AS control_share,
	   coalesce(r.treatment_members, 0) AS treatment_members, coalesce(r.control_members, 0) AS control_members,
	   coalesce(r.treatment_converters, 0) AS treatment_converters,
	   coalesce(r.control_converters, 0) AS control_converters,
	   r.treatment_conversion_rate, r.control_conversion_rate,
	   coalesce(r.treatment_orders, 0) AS treatment_orders, coalesce(r.control_orders, 0) AS control_orders,
	   coalesce(r.treatment_revenue, 0)::numeric(18,2) AS treatment_revenue,
	   coalesce(r.control_revenue, 0)::numeric(18,2) AS control_revenue,
	   r.treatment_revenue_per_member, r.control_revenue_per_member,
	   r.conversion_uplift, r.conversion_uplift_low, r.conversion_uplift_high,
	   r.relative_conversion_uplift, r.relative_conversion_uplift_low, r.relative_conversion_uplift_high,
	   r.conversion_p_value,
	   r.revenue_uplift, r.revenue_uplift_low, r.revenue_uplift_high, r.revenue_p_value,
	   r.cuped_revenue_uplift, r.cuped_revenue_uplift_low, r.cuped_revenue_uplift_high, r.cuped_revenue_p_value,
	   r.cuped_variance_reduction, r.incremental_revenue,
	   c.cost, c.margin::numeric(5,4) AS margin,
	   ((r.incremental_revenue * c.margin::numeric - c.cost) / nullif(c.cost, 0))::float8 AS roi,
	   coalesce(r.significant, false) AS significant,
	   srm.p_value AS sample_ratio_p_value, coalesce(srm.p_value < 0.001, false) AS sample_ratio_mismatch,
	   coalesce(e.delivered, 0) AS delivered, coalesce(e.opened, 0) AS opened, coalesce(e.clicked, 0) AS clicked,
	   coalesce(e.bounced, 0) AS bounced, coalesce(e.unsubscribed, 0) AS unsubscribed
FROM @extschema@.campaigns AS c
JOIN @extschema@.campaign_launches AS l ON l.campaign_id = c.campaign_id
-- LATERAL, and kept a subquery (OFFSET 0), so that a query for one
-- campaign sums only that campaign's members.
LEFT JOIN LATERAL (SELECT s.* FROM @extschema@.campaign_results_by_segment AS s
				   WHERE s.campaign_id = c.campaign_id AND s.breakdown = 'all' OFFSET 0) AS r ON true
LEFT JOIN (SELECT ev.campaign_id,
				  count(*) FILTER (WHERE ev.event = 'delivered') AS delivered,
				  count(*) FILTER (WHERE ev.event = 'opened') AS opened,
				  count(*) FILTER (WHERE ev.event = 'clicked') AS clicked,
				  count(*) FILTER (WHERE ev.event = 'bounced') AS bounced,
				  count(*) FILTER (WHERE ev.event = 'unsubscribed') AS unsubscribed
		   FROM @extschema@.campaign_events AS ev GROUP BY ev.campaign_id) AS e ON e.campaign_id = c.campaign_id
CROSS JOIN LATERAL (SELECT @extschema@.sample_ratio_p_value(l.treatment_members, l.control_members, c.control_share) AS p_value) AS srm;
COMMENT ON VIEW @extschema@.campaign_results IS
	'One row per launched campaign, live from crm.transactions: members, converters (a purchase within attribution_days of the start), orders and revenue per group, and treatment minus control per member with 95 % intervals: conversion (absolute and relative), revenue (Welch) and revenue adjusted by CUPED on pre-period spend, incremental revenue, ROI, the significant flag, the sample-ratio check and what the sending tool reported. By segment, lifecycle stage and tier: crm.campaign_results_by_segment. No personal data.';
COMMENT ON COLUMN @extschema@.campaign_results.campaign_id IS 'The campaign.';
COMMENT ON COLUMN @extschema@.campaign_results.campaign_name IS 'Its name.';
COMMENT ON COLUMN @extschema@.campaign_results.channel IS 'Channel it is sent on.';
COMMENT ON COLUMN @extschema@.campaign_results.audience IS 'Who it targets (vocabulary of crm.audience).';
COMMENT ON COLUMN @extschema@.campaign_results.status IS 'scheduled (before starts_at), running (until ends_at), measuring (attribution window still open) or complete.';
COMMENT ON COLUMN @extschema@.campaign_results.starts_at IS 'When it went out; the attribution window starts here.';
COMMENT ON COLUMN @extschema@.campaign_results.ends_at IS 'When sending stopped.';
COMMENT ON COLUMN @extschema@.campaign_results.attribution_days IS 'Length of the attribution window in days.';
COMMENT ON COLUMN @extschema@.campaign_results.launched_at IS 'When its membership was frozen.';
COMMENT ON COLUMN @extschema@.campaign_results.measured_until IS 'Sales up to this time are counted: now, or the end of the attribution window.';
COMMENT ON COLUMN @extschema@.campaign_results.control_share IS 'Share of the eligible audience held out as control.';
COMMENT ON COLUMN @extschema@.campaign_results.cost IS 'What the campaign cost.';
COMMENT ON COLUMN @extschema@.campaign_results.margin IS 'Gross margin on its revenue used by the ROI; NULL when not given.';
COMMENT ON COLUMN @extschema@.campaign_results.roi IS '(incremental_revenue * margin - cost) / cost; NULL without a cost or a margin.';
COMMENT ON COLUMN @extschema@.campaign_results.sample_ratio_p_value IS 'p-value of the sample-ratio check (crm.sample_ratio_p_value): were treatment and control members drawn with control_share?';
COMMENT ON COLUMN @extschema@.campaign_results.sample_ratio_mismatch IS 'True when sample_ratio_p_value < 0.001: the assignment is broken and the uplifts cannot be trusted.';
COMMENT ON COLUMN @extschema@.campaign_results.delivered IS 'Treatment members the sending tool reported delivered.';
COMMENT ON COLUMN @extschema@.campaign_results.opened IS 'Treatment members who opened it.';
COMMENT ON COLUMN @extschema@.campaign_results.clicked IS 'Treatment members who clicked.';
COMMENT ON COLUMN @extschema@.campaign_results.bounced IS 'Treatment members whose message bounced.';
COMMENT ON COLUMN @extschema@.campaign_results.unsubscribed IS 'Treatment members who unsubscribed (their consent on the channel is withdrawn).';

-- The statistics columns the two views share, commented once for both.
DO $comments$
DECLARE
	view_name text;
	shared record;
BEGIN
	FOREACH view_name IN ARRAY ARRAY['campaign_results', 'campaign_results_by_segment'] LOOP
		FOR shared IN
			SELECT * FROM (VALUES
				('treatment_members', 'Members sent to.'),
				('control_members', 'Members held out.'),
				('treatment_converters', 'Treatment members with a purchase in the attribution window so far.'),
				('control_converters', 'Control members with a purchase in the attribution window so far.'),
				('treatment_conversion_rate', 'treatment_converters / treatment_members.'),
				('control_conversion_rate', 'control_converters / control_members.'),
				('treatment_orders', 'Purchases of the treatment members in the window.'),
				('control_orders', 'Purchases of the control members in the window.'),
				('treatment_revenue', 'Net revenue of the treatment members in the window.'),
				('control_revenue', 'Net revenue of the control members in the window.'),
				('treatment_revenue_per_member', 'treatment_revenue / treatment_members (members without a sale count as 0).'),
				('control_revenue_per_member', 'control_revenue / control_members.'),
				('conversion_uplift', 'treatment_conversion_rate - control_conversion_rate.'),
				('conversion_uplift_low', 'Lower end of the 95 % interval of conversion_uplift (Wald, unpooled).'),
				('conversion_uplift_high', 'Upper end of the 95 % interval of conversion_uplift.'),
				('relative_conversion_uplift', 'conversion_uplift / control_conversion_rate; NULL when the control group did not convert.'),
				('relative_conversion_uplift_low', 'Lower end of its 95 % interval (delta method).'),
				('relative_conversion_uplift_high', 'Upper end of its 95 % interval.'),
				('conversion_p_value', 'Two-sided p-value of conversion_uplift = 0 (below 0.05 exactly when the interval leaves out 0).'),
				('revenue_uplift', 'treatment_revenue_per_member - control_revenue_per_member.'),
				('revenue_uplift_low', 'Lower end of the 95 % interval of revenue_uplift (Welch''s test).'),
				('revenue_uplift_high', 'Upper end of the 95 % interval of revenue_uplift.'),
				('revenue_p_value', 'Two-sided p-value of revenue_uplift = 0 (Welch).'),
				('cuped_revenue_uplift', 'revenue_uplift adjusted by CUPED on pre-period spend: the same expectation, a smaller variance.'),
				('cuped_revenue_uplift_low', 'Lower end of the 95 % interval of cuped_revenue_uplift.'),
				('cuped_revenue_uplift_high', 'Upper end of the 95 % interval of cuped_revenue_uplift.'),
				('cuped_revenue_p_value', 'Two-sided p-value of cuped_revenue_uplift = 0.'),
				('cuped_variance_reduction', 'Share of the variance of revenue_uplift that CUPED removed (0 to 1): the interval is narrower by the factor sqrt(1 - this).'),
				('incremental_revenue', 'cuped_revenue_uplift * treatment_members: revenue the campaign brought beyond what the treated would have spent anyway.'),
				('significant', 'True when conversion_p_value < 0.05: the conversion uplift''s interval leaves out 0.')) AS c (column_name, description)
		LOOP
			EXECUTE format('COMMENT ON COLUMN @extschema@.%I.%I IS %L', view_name, shared.column_name, shared.description);
		END LOOP;
	END LOOP;
END
$comments$;

GRANT SELECT ON @extschema@.campaign_member_outcomes, @extschema@.campaign_results,
	@extschema@.campaign_results_by_segment TO crm_analyst;
