-- CRM KPIs as flat BI views over crm.transactions: monthly customer counts
-- and rates, cohort retention, segment movement between refreshes.
-- A purchase is a transaction with a customer and amount > 0; months are
-- calendar months in the session's TimeZone (set it in the BI connection).
-- Only views here: an upgrade runs this part again.

-- Each customer's purchases and net amount per month: what the KPI views
-- count.  A purchase history, so not granted to analysts.
CREATE OR REPLACE VIEW @extschema@.customer_months AS
SELECT t.customer_id, date_trunc('month', t.occurred_at)::date AS month,
	   count(*) FILTER (WHERE t.amount > 0) AS purchases,
	   sum(t.amount) AS net_amount
FROM @extschema@.transactions AS t
WHERE t.customer_id IS NOT NULL
GROUP BY 1, 2;
COMMENT ON VIEW @extschema@.customer_months IS
	'One row per customer and calendar month (session TimeZone) with a transaction: purchases (amount > 0) and net amount. The base of crm.monthly_kpis and crm.cohort_retention; a purchase history, not granted to analysts.';
COMMENT ON COLUMN @extschema@.customer_months.customer_id IS 'Customer key.';
COMMENT ON COLUMN @extschema@.customer_months.month IS 'First day of the month.';
COMMENT ON COLUMN @extschema@.customer_months.purchases IS 'Transactions with amount > 0 in the month; 0 when the month holds only returns.';
COMMENT ON COLUMN @extschema@.customer_months.net_amount IS 'Sum of the month''s amounts, returns subtracted.';

CREATE OR REPLACE VIEW @extschema@.monthly_kpis AS
WITH purchases AS (
	SELECT m.customer_id, m.month FROM @extschema@.customer_months AS m WHERE m.purchases > 0
), orders AS (
	-- Each customer's first and second purchase, for the repeat purchase rate.
	SELECT o.customer_id,
		   min(o.month) AS first_month,
		   min(o.month) FILTER (WHERE o.n = 2) AS second_order_month
	FROM (SELECT t.customer_id, date_trunc('month', t.occurred_at)::date AS month,
				 row_number() OVER (PARTITION BY t.customer_id ORDER BY t.occurred_at, t.transaction_id) AS n
		  FROM @extschema@.transactions AS t
		  WHERE t.customer_id IS NOT NULL AND t.amount > 0) AS o
	WHERE o.n <= 2
	GROUP BY o.customer_id
), months AS (
	SELECT g.month::date AS month
	FROM (SELECT min(p.month) AS first, max(p.month) AS last FROM purchases AS p) AS r,
		 generate_series(r.first, r.last, interval '1 month') AS g (month)
), transitions AS (
	-- One row per customer active in a month or in the month before.
	SELECT coalesce(cur.month, (prev.month + interval '1 month')::date) AS month,
		   cur.customer_id IS NOT NULL AS active, prev.customer_id IS NOT NULL AS was_active,
		   coalesce(cur.customer_id, prev.customer_id) AS customer_id
	FROM purchases AS cur
	FULL JOIN purchases AS prev
		ON prev.customer_id = cur.customer_id AND prev.month = (cur.month - interval '1 month')::date
), counts AS (
	SELECT cm.month,
		   count(*) FILTER (WHERE cm.active) AS active_customers,
		   count(*) FILTER (WHERE cm.active AND o.first_month = cm.month) AS new_customers,
		   count(*) FILTER (WHERE cm.active AND cm.was_active) AS retained_customers,
		   count(*) FILTER (WHERE cm.was_active AND NOT cm.active) AS lost_customers,
		   count(*) FILTER (WHERE cm.was_active) AS previous_active_customers
	FROM transitions AS cm
	JOIN orders AS o ON o.customer_id = cm.customer_id
	GROUP BY cm.month
), revenue AS (
	SELECT m.month, sum(m.net_amount) AS net_revenue
	FROM @extschema@.customer_months AS m
	GROUP BY m.month
), to_date AS (
	SELECT m.month,
		   count(*) FILTER (WHERE o.first_month <= m.month) AS buyers,
		   count(*) FILTER (WHERE o.second_order_month <= m.month) AS repeat_buyers
	FROM months AS m CROSS JOIN orders AS o
	GROUP BY m.month
)
SELECT m.month,
	   coalesce(c.active_customers, 0) AS active_customers,
	   coalesce(c.new_customers, 0) AS new_customers,
	   coalesce(c.active_customers - c.new_customers, 0) AS returning_customers,
	   coalesce(c.retained_customers, 0) AS retained_customers,
	   coalesce(c.active_customers - c.new_customers - c.retained_customers, 0) AS reactivated_customers,
	   coalesce(c.lost_customers, 0) AS lost_customers,
	   round((c.active_customers - c.new_customers)::numeric / nullif(c.previous_active_customers, 0), 4)::numeric(12,4) AS retention_rate,
	   round(c.lost_customers::numeric / nullif(c.previous_active_customers, 0), 4)::numeric(7,4) AS churn_rate,
	   round(d.repeat_buyers::numeric / nullif(d.buyers, 0), 4)::numeric(7,4) AS repeat_purchase_rate,
	   coalesce(r.net_revenue, 0) AS net_revenue,
	   round(r.net_revenue / nullif(c.active_customers, 0), 2)::numeric(18,2) AS revenue_per_customer
FROM months AS m
LEFT JOIN counts AS c ON c.month = m.month
LEFT JOIN revenue AS r ON r.month = m.month
LEFT JOIN to_date AS d ON d.month = m.month;
COMMENT ON VIEW @extschema@.monthly_kpis IS
	'Customer KPIs per calendar month (session TimeZone) from crm.transactions, from the first to the last month with a purchase. Active = bought in the month (a purchase: customer set, amount > 0); new = first purchase ever in the month; returning = active - new = retained + reactivated; lost = active last month, not this month. Rates are NULL when their denominator is 0.';
COMMENT ON COLUMN @extschema@.monthly_kpis.month IS 'First day of the month.';
COMMENT ON COLUMN @extschema@.monthly_kpis.active_customers IS 'Customers with at least one purchase in the month.';
COMMENT ON COLUMN @extschema@.monthly_kpis.new_customers IS 'Active customers whose first purchase ever is in the month.';
COMMENT ON COLUMN @extschema@.monthly_kpis.returning_customers IS 'Active customers who had bought before the month: retained + reactivated.';
COMMENT ON COLUMN @extschema@.monthly_kpis.retained_customers IS 'Active customers who were also active the month before.';
COMMENT ON COLUMN @extschema@.monthly_kpis.reactivated_customers IS 'Returning customers who were not active the month before.';
COMMENT ON COLUMN @extschema@.monthly_kpis.lost_customers IS 'Customers active the month before and not in this month.';
COMMENT ON COLUMN @extschema@.monthly_kpis.retention_rate IS '(active - new) / active the month before, the customers at the end less the new ones over the customers at the start; can exceed 1 when many come back. NULL in the first month.';
COMMENT ON COLUMN @extschema@.monthly_kpis.churn_rate IS 'lost / active the month before, 0-1; retained / active the month before = 1 - churn_rate.';
COMMENT ON COLUMN @extschema@.monthly_kpis.repeat_purchase_rate IS 'Customers with at least two purchases up to the end of the month / customers with at least one, 0-1.';
COMMENT ON COLUMN @extschema@.monthly_kpis.net_revenue IS 'Sum of the amounts of the month''s transactions with a customer, returns subtracted.';
COMMENT ON COLUMN @extschema@.monthly_kpis.revenue_per_customer IS 'net_revenue / active_customers, rounded to cents.';

CREATE OR REPLACE VIEW @extschema@.cohort_retention AS
WITH purchases AS (
	SELECT m.customer_id, m.month FROM @extschema@.customer_months AS m WHERE m.purchases > 0
), cohorts AS (
	SELECT p.customer_id, min(p.month) AS cohort_month
	FROM purchases AS p
	GROUP BY p.customer_id
), sizes AS (
	SELECT c.cohort_month, count(*) AS customers
	FROM cohorts AS c
	GROUP BY c.cohort_month
), activity AS (
	SELECT c.cohort_month,
		   ((extract(year FROM p.month) - extract(year FROM c.cohort_month)) * 12
			+ extract(month FROM p.month) - extract(month FROM c.cohort_month))::integer AS months_since,
		   count(*) AS active
	FROM purchases AS p
	JOIN cohorts AS c ON c.customer_id = p.customer_id
	GROUP BY 1, 2
), last_month AS (
	SELECT max(p.month) AS month FROM purchases AS p
)
SELECT s.cohort_month, k.months_since, s.customers,
	   coalesce(a.active, 0) AS active,
	   round(coalesce(a.active, 0)::numeric / s.customers, 4)::numeric(7,4) AS share
FROM sizes AS s
CROSS JOIN last_month AS l
CROSS JOIN LATERAL generate_series(0, ((extract(year FROM l.month) - extract(year FROM s.cohort_month)) * 12
										+ extract(month FROM l.month) - extract(month FROM s.cohort_month))::integer)
	AS k (months_since)
LEFT JOIN activity AS a ON a.cohort_month = s.cohort_month AND a.months_since = k.months_since;
COMMENT ON VIEW @extschema@.cohort_retention IS
	'Cohort table from crm.transactions: customers grouped by the calendar month (session TimeZone) of their first purchase; for each month since, up to the last month with a purchase, how many of them bought (amount > 0) and what share. months_since 0 is the cohort month itself (share 1).';
COMMENT ON COLUMN @extschema@.cohort_retention.cohort_month IS 'First day of the month of the customers'' first purchase.';
COMMENT ON COLUMN @extschema@.cohort_retention.months_since IS 'Calendar months after the cohort month, 0 = the cohort month.';
COMMENT ON COLUMN @extschema@.cohort_retention.customers IS 'Customers in the cohort.';
COMMENT ON COLUMN @extschema@.cohort_retention.active IS 'Cohort customers with a purchase in that month.';
COMMENT ON COLUMN @extschema@.cohort_retention.share IS 'active / customers, 0-1, rounded to 4 decimals.';

-- Segment moves between every two consecutive refreshes whose history is
-- kept (crm.settings.history_runs_kept); crm.segment_migration is the
-- latest of them.
CREATE OR REPLACE VIEW @extschema@.segment_movement AS
WITH runs AS (
	SELECT r.run_id, r.as_of,
		   lag(r.run_id) OVER (ORDER BY r.run_id) AS from_run_id,
		   lag(r.as_of) OVER (ORDER BY r.run_id) AS from_as_of
	FROM @extschema@.refresh_runs AS r
	WHERE r.status = 'succeeded' AND @extschema@.has_history(r.run_id)
), sides AS (
	-- each pair's two runs, joined to the history by equality: every
	-- history partition is read once per pair it belongs to
	SELECT r.from_run_id, r.run_id AS to_run_id, s.run_id, s.is_to
	FROM runs AS r
	CROSS JOIN LATERAL (VALUES (r.from_run_id, false), (r.run_id, true)) AS s (run_id, is_to)
	WHERE r.from_run_id IS NOT NULL
), per_customer AS (
	SELECT s.from_run_id, s.to_run_id, h.customer_id,
		   bool_or(NOT s.is_to) AS was_there, bool_or(s.is_to) AS is_there,
		   max(h.segment) FILTER (WHERE NOT s.is_to) AS from_segment,
		   max(h.segment) FILTER (WHERE s.is_to) AS to_segment
	FROM sides AS s
	JOIN @extschema@.segment_history AS h ON h.run_id = s.run_id
	GROUP BY s.from_run_id, s.to_run_id, h.customer_id
)
SELECT c.from_run_id, c.to_run_id, r.from_as_of, r.as_of AS to_as_of,
	   CASE WHEN NOT c.was_there THEN '(new customer)' ELSE coalesce(c.from_segment, '(not scored)') END AS from_segment,
	   CASE WHEN NOT c.is_there THEN '(gone)' ELSE coalesce(c.to_segment, '(not scored)') END AS to_segment,
	   count(*) AS customers
FROM per_customer AS c
JOIN runs AS r ON r.run_id = c.to_run_id
GROUP BY c.from_run_id, c.to_run_id, r.from_as_of, r.as_of, 5, 6;
COMMENT ON VIEW @extschema@.segment_movement IS
	'Customers moving from each segment to each other between every two consecutive successful refreshes whose history is kept: segment movement over time. The last pair of runs is crm.segment_migration.';
COMMENT ON COLUMN @extschema@.segment_movement.from_run_id IS 'Earlier refresh run.';
COMMENT ON COLUMN @extschema@.segment_movement.to_run_id IS 'Later refresh run (the next one with history).';
COMMENT ON COLUMN @extschema@.segment_movement.from_as_of IS 'Analysis date of the earlier run.';
COMMENT ON COLUMN @extschema@.segment_movement.to_as_of IS 'Analysis date of the later run.';
COMMENT ON COLUMN @extschema@.segment_movement.from_segment IS 'Segment at the earlier run; (new customer) when absent then, (not scored) without a purchase.';
COMMENT ON COLUMN @extschema@.segment_movement.to_segment IS 'Segment at the later run; (gone) when absent then, (not scored) without a purchase.';
COMMENT ON COLUMN @extschema@.segment_movement.customers IS 'Customers who made this move (or stayed, when both are equal).';

-- Rights of the objects above.  Aggregates only: analysts may read them.
GRANT SELECT ON @extschema@.monthly_kpis, @extschema@.cohort_retention, @extschema@.segment_movement
TO crm_analyst;
GRANT SELECT, INSERT, UPDATE, DELETE, TRUNCATE ON
	@extschema@.customer_months, @extschema@.monthly_kpis, @extschema@.cohort_retention, @extschema@.segment_movement
TO crm_admin;
