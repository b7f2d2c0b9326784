-- BI views: flat, commented, stable column names, no personal data.

CREATE VIEW @extschema@.segment_summary AS
SELECT cs.segment,
	   count(*) AS customers,
	   round(count(*) / sum(count(*)) OVER (), 4) AS customer_share,
	   round(sum(cs.monetary), 2) AS revenue,
	   round(sum(cs.monetary) / nullif(sum(sum(cs.monetary)) OVER (), 0), 4) AS revenue_share,
	   round(avg(cs.recency_days), 1) AS avg_recency_days,
	   round(avg(cs.frequency), 2) AS avg_frequency,
	   round(avg(cs.monetary), 2) AS avg_monetary,
	   min(cs.as_of) AS as_of
FROM @extschema@.customer_segments AS cs
WHERE cs.segment IS NOT NULL
GROUP BY cs.segment;
COMMENT ON VIEW @extschema@.segment_summary IS
	'Customers and revenue per RFM segment at the last refresh. Covers scored customers (at least one purchase).';
COMMENT ON COLUMN @extschema@.segment_summary.segment IS 'Segment name.';
COMMENT ON COLUMN @extschema@.segment_summary.customers IS 'Customers in the segment.';
COMMENT ON COLUMN @extschema@.segment_summary.customer_share IS 'Share of scored customers, 0-1.';
COMMENT ON COLUMN @extschema@.segment_summary.revenue IS 'Net spend of the segment''s customers (purchases minus returns).';
COMMENT ON COLUMN @extschema@.segment_summary.revenue_share IS 'Share of the net spend of all scored customers, 0-1.';
COMMENT ON COLUMN @extschema@.segment_summary.avg_recency_days IS 'Mean days since the last purchase.';
COMMENT ON COLUMN @extschema@.segment_summary.avg_frequency IS 'Mean number of orders.';
COMMENT ON COLUMN @extschema@.segment_summary.avg_monetary IS 'Mean net spend per customer.';
COMMENT ON COLUMN @extschema@.segment_summary.as_of IS 'Analysis date of the refresh.';

-- All 25 cells, empty ones included, so a BI pivot keeps its shape.
CREATE VIEW @extschema@.rfm_grid AS
WITH cells AS (
	SELECT m.r_score, m.fm_score,
		   CASE WHEN count(DISTINCT m.segment) = 1 THEN min(m.segment) ELSE 'Mixed' END AS segment
	FROM @extschema@.segment_map AS m
	GROUP BY m.r_score, m.fm_score
), counts AS (
	SELECT cs.r_score, cs.fm_score, count(*) AS customers, sum(cs.monetary) AS revenue
	FROM @extschema@.customer_segments AS cs
	WHERE cs.r_score IS NOT NULL
	GROUP BY cs.r_score, cs.fm_score
)
SELECT c.r_score, c.fm_score, c.segment,
	   coalesce(n.customers, 0) AS customers,
	   round(coalesce(n.customers, 0) / nullif(sum(n.customers) OVER (), 0), 4) AS customer_share,
	   round(coalesce(n.revenue, 0), 2) AS revenue,
	   round(n.revenue / n.customers, 2) AS avg_monetary
FROM cells AS c
LEFT JOIN counts AS n USING (r_score, fm_score);
COMMENT ON VIEW @extschema@.rfm_grid IS
	'The 5x5 grid of R score by FM score at the last refresh: customers and revenue per cell, and the segment the active rules give the cell.';
COMMENT ON COLUMN @extschema@.rfm_grid.r_score IS 'Recency score 1-5, 5 = most recent.';
COMMENT ON COLUMN @extschema@.rfm_grid.fm_score IS 'FM score 1-5: mean of F and M rounded half up.';
COMMENT ON COLUMN @extschema@.rfm_grid.segment IS 'Segment of the cell, or Mixed when the rules split it by F or M.';
COMMENT ON COLUMN @extschema@.rfm_grid.customers IS 'Customers in the cell (0 for an empty cell).';
COMMENT ON COLUMN @extschema@.rfm_grid.customer_share IS 'Share of scored customers, 0-1.';
COMMENT ON COLUMN @extschema@.rfm_grid.revenue IS 'Net spend of the cell''s customers.';
COMMENT ON COLUMN @extschema@.rfm_grid.avg_monetary IS 'Mean net spend per customer; NULL for an empty cell.';

CREATE VIEW @extschema@.lifecycle_summary AS
SELECT cs.lifecycle_stage,
	   count(*) AS customers,
	   round(count(*) / sum(count(*)) OVER (), 4) AS customer_share,
	   round(sum(cs.monetary), 2) AS revenue,
	   round(avg(cs.recency_days), 1) AS avg_recency_days,
	   min(cs.as_of) AS as_of
FROM @extschema@.customer_segments AS cs
GROUP BY cs.lifecycle_stage;
COMMENT ON VIEW @extschema@.lifecycle_summary IS
	'Customers per lifecycle stage at the last refresh, prospects included.';
COMMENT ON COLUMN @extschema@.lifecycle_summary.lifecycle_stage IS 'prospect, new, active, at-risk, dormant, lost or reactivated.';
COMMENT ON COLUMN @extschema@.lifecycle_summary.customers IS 'Customers in the stage.';
COMMENT ON COLUMN @extschema@.lifecycle_summary.customer_share IS 'Share of all customers, 0-1.';
COMMENT ON COLUMN @extschema@.lifecycle_summary.revenue IS 'Net spend of the stage''s customers.';
COMMENT ON COLUMN @extschema@.lifecycle_summary.avg_recency_days IS 'Mean days since the last purchase; NULL for prospects.';
COMMENT ON COLUMN @extschema@.lifecycle_summary.as_of IS 'Analysis date of the refresh.';

-- From-segment x to-segment between the last two runs that kept history.
CREATE VIEW @extschema@.segment_migration AS
WITH last_two AS (
	SELECT r.run_id, r.as_of, row_number() OVER (ORDER BY r.run_id DESC) AS age
	FROM @extschema@.refresh_runs AS r
	WHERE r.status = 'succeeded'
	  AND EXISTS (SELECT 1 FROM @extschema@.segment_history AS h WHERE h.run_id = r.run_id)
	ORDER BY r.run_id DESC
	LIMIT 2
), prev AS (
	SELECT h.* FROM @extschema@.segment_history AS h JOIN last_two AS l ON l.run_id = h.run_id AND l.age = 2
), cur AS (
	SELECT h.* FROM @extschema@.segment_history AS h JOIN last_two AS l ON l.run_id = h.run_id AND l.age = 1
)
SELECT CASE WHEN p.customer_id IS NULL THEN '(new customer)' ELSE coalesce(p.segment, '(not scored)') END AS from_segment,
	   CASE WHEN c.customer_id IS NULL THEN '(gone)' ELSE coalesce(c.segment, '(not scored)') END AS to_segment,
	   count(*) AS customers,
	   (SELECT l.run_id FROM last_two AS l WHERE l.age = 2) AS from_run_id,
	   (SELECT l.run_id FROM last_two AS l WHERE l.age = 1) AS to_run_id,
	   (SELECT l.as_of FROM last_two AS l WHERE l.age = 2) AS from_as_of,
	   (SELECT l.as_of FROM last_two AS l WHERE l.age = 1) AS to_as_of
FROM prev AS p
FULL JOIN cur AS c ON c.customer_id = p.customer_id
WHERE (SELECT count(*) FROM last_two) = 2
GROUP BY 1, 2;
COMMENT ON VIEW @extschema@.segment_migration IS
	'How many customers moved from each segment to each other between the last two successful refreshes. Empty until two refreshes have run.';
COMMENT ON COLUMN @extschema@.segment_migration.from_segment IS 'Segment at the earlier run; (new customer) when absent then, (not scored) without a purchase.';
COMMENT ON COLUMN @extschema@.segment_migration.to_segment IS 'Segment at the later run; (gone) when absent now, (not scored) without a purchase.';
COMMENT ON COLUMN @extschema@.segment_migration.customers IS 'Customers who made this move (or stayed, when both are equal).';
COMMENT ON COLUMN @extschema@.segment_migration.from_run_id IS 'Earlier refresh run.';
COMMENT ON COLUMN @extschema@.segment_migration.to_run_id IS 'Later refresh run.';
COMMENT ON COLUMN @extschema@.segment_migration.from_as_of IS 'Analysis date of the earlier run.';
COMMENT ON COLUMN @extschema@.segment_migration.to_as_of IS 'Analysis date of the later run.';

-- Everything known about a customer except personal data (names, contacts,
-- birth date, gender, postal code stay in crm.customers).
CREATE VIEW @extschema@.customer_360 AS
SELECT cs.customer_id,
	   c.joined_at,
	   c.home_store,
	   c.country,
	   c.preferred_channel,
	   coalesce(c.consent_email, false) AS consent_email,
	   coalesce(c.consent_sms, false) AS consent_sms,
	   coalesce(c.consent_phone, false) AS consent_phone,
	   coalesce(c.consent_app, false) AS consent_app,
	   cs.segment,
	   cs.lifecycle_stage,
	   cs.r_score, cs.f_score, cs.m_score, cs.fm_score, cs.rfm_code,
	   cs.first_purchase_at, cs.last_purchase_at,
	   cs.recency_days, cs.frequency, cs.monetary, cs.returns,
	   cs.tenure_days, cs.purchase_days,
	   cs.btyd_frequency, cs.btyd_recency, cs.btyd_t, cs.avg_repeat_spend,
	   cs.last_gap_days, cs.median_gap_days,
	   cs.as_of
FROM @extschema@.customer_segments AS cs
LEFT JOIN @extschema@.customers AS c USING (customer_id);
COMMENT ON VIEW @extschema@.customer_360 IS
	'One row per customer with everything retail_crm knows about them except personal data: profile fields without names or contacts, consent flags, segment, lifecycle stage, RFM facts and scores.';
COMMENT ON COLUMN @extschema@.customer_360.customer_id IS 'Customer key.';
COMMENT ON COLUMN @extschema@.customer_360.joined_at IS 'When the customer joined; NULL when the customer is only known from sales.';
COMMENT ON COLUMN @extschema@.customer_360.home_store IS 'Store the customer is attached to.';
COMMENT ON COLUMN @extschema@.customer_360.country IS 'Country of the customer''s address.';
COMMENT ON COLUMN @extschema@.customer_360.preferred_channel IS 'email, sms, phone or app.';
COMMENT ON COLUMN @extschema@.customer_360.consent_email IS 'Agreed to marketing by email.';
COMMENT ON COLUMN @extschema@.customer_360.consent_sms IS 'Agreed to marketing by SMS.';
COMMENT ON COLUMN @extschema@.customer_360.consent_phone IS 'Agreed to marketing by phone.';
COMMENT ON COLUMN @extschema@.customer_360.consent_app IS 'Agreed to marketing through the app.';
COMMENT ON COLUMN @extschema@.customer_360.segment IS 'RFM segment; NULL when not scored.';
COMMENT ON COLUMN @extschema@.customer_360.lifecycle_stage IS 'prospect, new, active, at-risk, dormant, lost or reactivated.';
COMMENT ON COLUMN @extschema@.customer_360.r_score IS 'Recency score 1-5.';
COMMENT ON COLUMN @extschema@.customer_360.f_score IS 'Frequency score 1-5.';
COMMENT ON COLUMN @extschema@.customer_360.m_score IS 'Monetary score 1-5.';
COMMENT ON COLUMN @extschema@.customer_360.fm_score IS 'Mean of F and M rounded half up.';
COMMENT ON COLUMN @extschema@.customer_360.rfm_code IS 'R*100 + F*10 + M.';
COMMENT ON COLUMN @extschema@.customer_360.first_purchase_at IS 'First purchase up to as_of.';
COMMENT ON COLUMN @extschema@.customer_360.last_purchase_at IS 'Last purchase up to as_of.';
COMMENT ON COLUMN @extschema@.customer_360.recency_days IS 'Whole days since the last purchase.';
COMMENT ON COLUMN @extschema@.customer_360.frequency IS 'Orders with a positive amount.';
COMMENT ON COLUMN @extschema@.customer_360.monetary IS 'Net spend.';
COMMENT ON COLUMN @extschema@.customer_360.returns IS 'Return transactions.';
COMMENT ON COLUMN @extschema@.customer_360.tenure_days IS 'Whole days since the first purchase.';
COMMENT ON COLUMN @extschema@.customer_360.purchase_days IS 'Distinct days with a purchase.';
COMMENT ON COLUMN @extschema@.customer_360.btyd_frequency IS 'BG/NBD x: repeat purchase days.';
COMMENT ON COLUMN @extschema@.customer_360.btyd_recency IS 'BG/NBD t_x in days.';
COMMENT ON COLUMN @extschema@.customer_360.btyd_t IS 'BG/NBD T in days.';
COMMENT ON COLUMN @extschema@.customer_360.avg_repeat_spend IS 'Mean purchase value of repeat purchase days.';
COMMENT ON COLUMN @extschema@.customer_360.last_gap_days IS 'Days between the two latest purchase days.';
COMMENT ON COLUMN @extschema@.customer_360.median_gap_days IS 'Median days between purchase days.';
COMMENT ON COLUMN @extschema@.customer_360.as_of IS 'Analysis date of the refresh.';

CREATE VIEW @extschema@.rfm_breaks AS
SELECT b.metric, b.method, b.break_1, b.break_2, b.break_3, b.break_4, b.run_id, r.as_of
FROM @extschema@.rfm_break_points AS b
JOIN @extschema@.refresh_runs AS r USING (run_id)
WHERE b.run_id = (SELECT max(s.run_id) FROM @extschema@.refresh_runs AS s WHERE s.status = 'succeeded');
COMMENT ON VIEW @extschema@.rfm_breaks IS
	'Break points of the last successful refresh. Band = 1 + number of breaks below the value; F and M scores are the band, R is 6 - band.';
COMMENT ON COLUMN @extschema@.rfm_breaks.metric IS 'recency (days), frequency (orders) or monetary (net spend).';
COMMENT ON COLUMN @extschema@.rfm_breaks.method IS 'quantile, equal_count or fixed.';
COMMENT ON COLUMN @extschema@.rfm_breaks.break_1 IS 'Upper bound (inclusive) of band 1.';
COMMENT ON COLUMN @extschema@.rfm_breaks.break_2 IS 'Upper bound (inclusive) of band 2.';
COMMENT ON COLUMN @extschema@.rfm_breaks.break_3 IS 'Upper bound (inclusive) of band 3.';
COMMENT ON COLUMN @extschema@.rfm_breaks.break_4 IS 'Upper bound (inclusive) of band 4.';
COMMENT ON COLUMN @extschema@.rfm_breaks.run_id IS 'Refresh run.';
COMMENT ON COLUMN @extschema@.rfm_breaks.as_of IS 'Analysis date of that run.';
