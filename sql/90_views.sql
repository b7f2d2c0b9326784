-- BI views: flat, commented, stable column names, no personal data.
-- Numeric columns are cast to a precision and scale, so that JDBC and ODBC
-- report them (REFERENCE.md, "BI column reference"); each cast keeps the
-- rounding the column had.
-- Only views (and a helper of theirs) and their grants here: an upgrade runs
-- this part again.

-- Whether a run kept its history: its partition of crm.segment_history
-- exists (full runs write one; history_runs_kept drops old ones).  The
-- catalog answers without reading the history, which on Citus lives on the
-- workers, where a correlated subquery from a local table cannot reach.
CREATE OR REPLACE FUNCTION @extschema@.has_history(run_id bigint)
RETURNS boolean
LANGUAGE sql STABLE STRICT PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
	SELECT to_regclass(format('%I.%I', '@extschema@', @extschema@.run_partition('segment_history', run_id))) IS NOT NULL
$$;
COMMENT ON FUNCTION @extschema@.has_history(bigint) IS
	'Internal: true when the refresh run kept its rows in crm.segment_history (its partition exists). Stable because it reads the catalog.';

CREATE OR REPLACE VIEW @extschema@.segment_summary AS
SELECT cs.segment,
	   count(*) AS customers,
	   round(count(*) / sum(count(*)) OVER (), 4)::numeric(7,4) AS customer_share,
	   round(sum(cs.monetary), 2)::numeric(18,2) AS revenue,
	   round(sum(cs.monetary) / nullif(sum(sum(cs.monetary)) OVER (), 0), 4)::numeric(7,4) AS revenue_share,
	   round(avg(cs.recency_days), 1)::numeric(10,1) AS avg_recency_days,
	   round(avg(cs.frequency), 2)::numeric(12,2) AS avg_frequency,
	   round(avg(cs.monetary), 2)::numeric(18,2) AS avg_monetary,
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
CREATE OR REPLACE VIEW @extschema@.rfm_grid AS
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
	   round(coalesce(n.customers, 0) / nullif(sum(n.customers) OVER (), 0), 4)::numeric(7,4) AS customer_share,
	   round(coalesce(n.revenue, 0), 2)::numeric(18,2) AS revenue,
	   round(n.revenue / n.customers, 2)::numeric(18,2) AS avg_monetary
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

CREATE OR REPLACE VIEW @extschema@.lifecycle_summary AS
SELECT cs.lifecycle_stage,
	   count(*) AS customers,
	   round(count(*) / sum(count(*)) OVER (), 4)::numeric(7,4) AS customer_share,
	   round(sum(cs.monetary), 2)::numeric(18,2) AS revenue,
	   round(avg(cs.recency_days), 1)::numeric(10,1) AS avg_recency_days,
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
CREATE OR REPLACE VIEW @extschema@.segment_migration AS
WITH pair AS (
	SELECT max(l.run_id) FILTER (WHERE l.age = 2) AS from_run_id, max(l.run_id) FILTER (WHERE l.age = 1) AS to_run_id,
		   max(l.as_of) FILTER (WHERE l.age = 2) AS from_as_of, max(l.as_of) FILTER (WHERE l.age = 1) AS to_as_of
	FROM (SELECT r.run_id, r.as_of, row_number() OVER (ORDER BY r.run_id DESC) AS age
		  FROM @extschema@.refresh_runs AS r
		  WHERE r.status = 'succeeded' AND @extschema@.has_history(r.run_id)
		  ORDER BY r.run_id DESC
		  LIMIT 2) AS l
	HAVING count(*) = 2
), moves AS (
	SELECT CASE WHEN p.customer_id IS NULL THEN '(new customer)' ELSE coalesce(p.segment, '(not scored)') END AS from_segment,
		   CASE WHEN c.customer_id IS NULL THEN '(gone)' ELSE coalesce(c.segment, '(not scored)') END AS to_segment,
		   count(*) AS customers
	FROM (SELECT h.customer_id, h.segment FROM @extschema@.segment_history AS h
		  WHERE h.run_id = (SELECT pair.from_run_id FROM pair)) AS p
	FULL JOIN (SELECT h.customer_id, h.segment FROM @extschema@.segment_history AS h
			   WHERE h.run_id = (SELECT pair.to_run_id FROM pair)) AS c
		ON c.customer_id = p.customer_id
	GROUP BY 1, 2
)
SELECT m.from_segment, m.to_segment, m.customers, pair.from_run_id, pair.to_run_id, pair.from_as_of, pair.to_as_of
FROM moves AS m CROSS JOIN pair;
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
CREATE OR REPLACE VIEW @extschema@.customer_360 AS
SELECT cs.customer_id,
	   c.joined_at,
	   c.home_store,
	   c.country,
	   (SELECT ct.channel FROM @extschema@.customer_contacts AS ct
		WHERE ct.customer_id = cs.customer_id AND ct.preferred) AS preferred_channel,
	   coalesce((SELECT string_agg(ct.channel, ',' ORDER BY ct.channel) FROM @extschema@.customer_contacts AS ct
				 WHERE ct.customer_id = cs.customer_id AND ct.consent), '') AS consented_channels,
	   cs.segment,
	   cs.lifecycle_stage,
	   cs.r_score, cs.f_score, cs.m_score, cs.fm_score, cs.rfm_code,
	   cs.first_purchase_at, cs.last_purchase_at,
	   cs.recency_days, cs.frequency, cs.monetary, cs.returns,
	   cs.tenure_days, cs.purchase_days,
	   cs.btyd_frequency, cs.btyd_recency, cs.btyd_t, cs.avg_repeat_spend,
	   cs.last_gap_days, cs.median_gap_days,
	   cs.one_time_buyer, cs.p_alive, cs.churn_risk, cs.expected_purchases, cs.expected_spend, cs.clv,
	   cs.as_of
FROM @extschema@.customer_segments AS cs
LEFT JOIN @extschema@.customers AS c USING (customer_id);
COMMENT ON VIEW @extschema@.customer_360 IS
	'One row per customer with everything retail_crm knows about them except personal data: profile fields without names or contacts, preferred and consented channels, segment, lifecycle stage, RFM facts and scores.';
COMMENT ON COLUMN @extschema@.customer_360.customer_id IS 'Customer key.';
COMMENT ON COLUMN @extschema@.customer_360.joined_at IS 'When the customer joined; NULL when the customer is only known from sales.';
COMMENT ON COLUMN @extschema@.customer_360.home_store IS 'Store the customer is attached to.';
COMMENT ON COLUMN @extschema@.customer_360.country IS 'Country of the customer''s address.';
COMMENT ON COLUMN @extschema@.customer_360.preferred_channel IS 'The customer''s preferred channel (crm.channels.name); NULL when none.';
COMMENT ON COLUMN @extschema@.customer_360.consented_channels IS 'Channels the customer agreed to marketing on, comma separated in name order (e.g. email,wechat); empty when none. crm.consent_status has one row per channel with when and where each answer was given.';
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
COMMENT ON COLUMN @extschema@.customer_360.one_time_buyer IS 'Bought on one day only; under BG/NBD P(alive) = 1 by the model''s construction, not a prediction; churn_risk is graded under every model.';
COMMENT ON COLUMN @extschema@.customer_360.p_alive IS 'BG/NBD probability that the customer is still active.';
COMMENT ON COLUMN @extschema@.customer_360.churn_risk IS 'Probability of no purchase in the next crm.settings.churn_horizon_days days.';
COMMENT ON COLUMN @extschema@.customer_360.expected_purchases IS 'Purchase days expected in the next crm.settings.churn_horizon_days days.';
COMMENT ON COLUMN @extschema@.customer_360.expected_spend IS 'Expected spend per purchase day (Gamma-Gamma).';
COMMENT ON COLUMN @extschema@.customer_360.clv IS 'Customer lifetime value over crm.settings.clv_months months, discounted.';
COMMENT ON COLUMN @extschema@.customer_360.as_of IS 'Analysis date of the refresh.';

CREATE OR REPLACE VIEW @extschema@.rfm_breaks AS
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

-- Valuable customers the purchase model thinks will not come back in the
-- churn horizon, most value at stake first; one-time buyers included, since
-- the horizon risk is graded for them under every model.
CREATE OR REPLACE VIEW @extschema@.churn_watch_list AS
SELECT cs.customer_id, cs.segment, cs.lifecycle_stage,
	   cs.recency_days, cs.frequency, cs.monetary,
	   round(cs.p_alive::numeric, 4)::numeric(7,4) AS p_alive,
	   round(cs.churn_risk::numeric, 4)::numeric(7,4) AS churn_risk,
	   round(cs.expected_purchases::numeric, 3)::numeric(14,3) AS expected_purchases,
	   round(cs.clv::numeric, 2)::numeric(18,2) AS clv,
	   round((cs.clv * (1 - cs.p_alive) / cs.p_alive)::numeric, 2)::numeric(18,2) AS clv_at_risk,
	   cs.as_of
FROM @extschema@.customer_segments AS cs
WHERE cs.m_score >= 4
  AND cs.p_alive > 0
  AND cs.churn_risk >= (SELECT s.churn_risk_threshold FROM @extschema@.settings AS s)
ORDER BY clv_at_risk DESC, churn_risk DESC, cs.customer_id;
COMMENT ON VIEW @extschema@.churn_watch_list IS
	'Customers in the top two monetary scores, one-time buyers included, whose churn risk (no purchase in the next crm.settings.churn_horizon_days days) is at least crm.settings.churn_risk_threshold, ordered by the CLV at risk, then the churn risk.';
COMMENT ON COLUMN @extschema@.churn_watch_list.customer_id IS 'Customer key.';
COMMENT ON COLUMN @extschema@.churn_watch_list.segment IS 'RFM segment.';
COMMENT ON COLUMN @extschema@.churn_watch_list.lifecycle_stage IS 'Lifecycle stage.';
COMMENT ON COLUMN @extschema@.churn_watch_list.recency_days IS 'Days since the last purchase.';
COMMENT ON COLUMN @extschema@.churn_watch_list.frequency IS 'Orders.';
COMMENT ON COLUMN @extschema@.churn_watch_list.monetary IS 'Net spend so far.';
COMMENT ON COLUMN @extschema@.churn_watch_list.p_alive IS 'Probability the customer is still active.';
COMMENT ON COLUMN @extschema@.churn_watch_list.churn_risk IS 'Probability of no purchase in the churn horizon.';
COMMENT ON COLUMN @extschema@.churn_watch_list.expected_purchases IS 'Purchase days expected in the churn horizon.';
COMMENT ON COLUMN @extschema@.churn_watch_list.clv IS 'Expected lifetime value over the CLV horizon.';
COMMENT ON COLUMN @extschema@.churn_watch_list.clv_at_risk IS 'Value lost if the customer has dropped out: the CLV they would have if surely active minus their CLV, clv * (1 - p_alive) / p_alive.';
COMMENT ON COLUMN @extschema@.churn_watch_list.as_of IS 'Analysis date of the refresh.';

CREATE OR REPLACE VIEW @extschema@.clv_by_segment AS
SELECT cs.segment,
	   count(*) AS customers,
	   count(*) FILTER (WHERE cs.one_time_buyer) AS one_time_buyers,
	   round(avg(cs.p_alive)::numeric, 4)::numeric(7,4) AS avg_p_alive,
	   round(sum(cs.expected_purchases)::numeric, 1)::numeric(16,1) AS expected_purchases,
	   round(sum(cs.clv)::numeric, 2)::numeric(18,2) AS clv,
	   round(avg(cs.clv)::numeric, 2)::numeric(18,2) AS avg_clv,
	   round((sum(cs.clv) / nullif(sum(sum(cs.clv)) OVER (), 0))::numeric, 4)::numeric(7,4) AS clv_share,
	   min(cs.as_of) AS as_of
FROM @extschema@.customer_segments AS cs
WHERE cs.segment IS NOT NULL
GROUP BY cs.segment;
COMMENT ON VIEW @extschema@.clv_by_segment IS
	'Expected lifetime value and activity per RFM segment at the last refresh (scored customers).';
COMMENT ON COLUMN @extschema@.clv_by_segment.segment IS 'Segment name.';
COMMENT ON COLUMN @extschema@.clv_by_segment.customers IS 'Customers in the segment.';
COMMENT ON COLUMN @extschema@.clv_by_segment.one_time_buyers IS 'Of them, customers who bought on one day only.';
COMMENT ON COLUMN @extschema@.clv_by_segment.avg_p_alive IS 'Mean probability of being active.';
COMMENT ON COLUMN @extschema@.clv_by_segment.expected_purchases IS 'Purchase days the segment is expected to make in the churn horizon.';
COMMENT ON COLUMN @extschema@.clv_by_segment.clv IS 'Total expected lifetime value of the segment.';
COMMENT ON COLUMN @extschema@.clv_by_segment.avg_clv IS 'Mean expected lifetime value per customer.';
COMMENT ON COLUMN @extschema@.clv_by_segment.clv_share IS 'Share of the total expected lifetime value, 0-1.';
COMMENT ON COLUMN @extschema@.clv_by_segment.as_of IS 'Analysis date of the refresh.';

CREATE OR REPLACE VIEW @extschema@.model_diagnostics AS
SELECT m.model_id, m.kind, m.fitted_at, m.as_of, m.time_unit,
	   m.r, m.alpha, m.a, m.b, m.p, m.q, m.v,
	   m.log_likelihood, m.customers, m.converged, m.iterations, m.spend_frequency_corr,
	   m.holdout_end,
	   m.model_id = @extschema@.current_model_id(m.kind) AS in_use,
	   m.s, m.beta,
	   round(v.churn_auc::numeric, 4)::numeric(7,4) AS holdout_churn_auc,
	   round(v.brier_score::numeric, 4)::numeric(7,4) AS holdout_brier_score,
	   m.kind = c.kind AND m.model_id = @extschema@.current_model_id(m.kind) AS scores_churn,
	   CASE WHEN m.kind = c.kind AND m.model_id = @extschema@.current_model_id(m.kind) THEN c.reason END AS churn_model_choice,
	   m.r_se, m.alpha_se, m.a_se, m.b_se, m.s_se, m.beta_se, m.p_se, m.q_se, m.v_se, 
	   round(m.dropout_log_likelihood_gain::numeric, 3)::numeric(18,3) AS dropout_log_likelihood_gain,
	   m.dropout_log_likelihood_gain >= 3 AS dropout_identified
FROM @extschema@.models AS m
LEFT JOIN @extschema@.model_validation AS v USING (model_id)
CROSS JOIN @extschema@.churn_model_choice() AS c;
COMMENT ON VIEW @extschema@.model_diagnostics IS
	'Every fitted model with its parameters and fit diagnostics; in_use marks the latest converged model of each kind, scores_churn the purchase model the next refresh scores with (when crm.settings.model_refit = manual; otherwise it fits a new one of that kind), churn_model_choice says why.';
COMMENT ON COLUMN @extschema@.model_diagnostics.model_id IS 'Model number.';
COMMENT ON COLUMN @extschema@.model_diagnostics.kind IS 'bgnbd, mbgnbd, pareto_nbd or gamma_gamma.';
COMMENT ON COLUMN @extschema@.model_diagnostics.fitted_at IS 'When it was fitted.';
COMMENT ON COLUMN @extschema@.model_diagnostics.as_of IS 'End of the data it was fitted on.';
COMMENT ON COLUMN @extschema@.model_diagnostics.time_unit IS 'Time unit of the purchase model parameters: day.';
COMMENT ON COLUMN @extschema@.model_diagnostics.r IS 'Purchase models: r.';
COMMENT ON COLUMN @extschema@.model_diagnostics.alpha IS 'Purchase models: alpha (days).';
COMMENT ON COLUMN @extschema@.model_diagnostics.a IS 'BG/NBD and MBG/NBD: a.';
COMMENT ON COLUMN @extschema@.model_diagnostics.b IS 'BG/NBD and MBG/NBD: b.';
COMMENT ON COLUMN @extschema@.model_diagnostics.p IS 'Gamma-Gamma p.';
COMMENT ON COLUMN @extschema@.model_diagnostics.q IS 'Gamma-Gamma q.';
COMMENT ON COLUMN @extschema@.model_diagnostics.v IS 'Gamma-Gamma v (gamma).';
COMMENT ON COLUMN @extschema@.model_diagnostics.log_likelihood IS 'Maximised log-likelihood.';
COMMENT ON COLUMN @extschema@.model_diagnostics.customers IS 'Customers fitted on.';
COMMENT ON COLUMN @extschema@.model_diagnostics.converged IS 'Whether the fit converged.';
COMMENT ON COLUMN @extschema@.model_diagnostics.iterations IS 'Optimiser iterations.';
COMMENT ON COLUMN @extschema@.model_diagnostics.spend_frequency_corr IS 'Gamma-Gamma: correlation of spend and frequency (should be near 0).';
COMMENT ON COLUMN @extschema@.model_diagnostics.holdout_end IS 'End of the holdout period of a calibrated model.';
COMMENT ON COLUMN @extschema@.model_diagnostics.in_use IS 'The latest converged model of its kind.';
COMMENT ON COLUMN @extschema@.model_diagnostics.s IS 'Pareto/NBD s.';
COMMENT ON COLUMN @extschema@.model_diagnostics.beta IS 'Pareto/NBD beta (days).';
COMMENT ON COLUMN @extschema@.model_diagnostics.holdout_churn_auc IS 'Calibrated purchase models: area under the ROC curve of the churn risk in the holdout (crm.model_validation).';
COMMENT ON COLUMN @extschema@.model_diagnostics.holdout_brier_score IS 'Calibrated purchase models: Brier score of the churn risk in the holdout; the auto choice takes the lowest of the last validation.';
COMMENT ON COLUMN @extschema@.model_diagnostics.scores_churn IS 'The purchase model of the kind crm.settings.churn_model chooses, latest converged: the refresh scores churn, expected purchases and CLV with this kind.';
COMMENT ON COLUMN @extschema@.model_diagnostics.churn_model_choice IS 'On the scores_churn row: why its kind was chosen (crm.churn_model_choice()).';
COMMENT ON COLUMN @extschema@.model_diagnostics.r_se IS 'Standard error of r from the observed information; NULL where the data cannot identify the parameter.';
COMMENT ON COLUMN @extschema@.model_diagnostics.alpha_se IS 'Standard error of alpha from the observed information; NULL where the data cannot identify the parameter.';
COMMENT ON COLUMN @extschema@.model_diagnostics.a_se IS 'Standard error of a from the observed information; NULL where the data cannot identify the parameter.';
COMMENT ON COLUMN @extschema@.model_diagnostics.b_se IS 'Standard error of b from the observed information; NULL where the data cannot identify the parameter.';
COMMENT ON COLUMN @extschema@.model_diagnostics.s_se IS 'Standard error of s from the observed information; NULL where the data cannot identify the parameter.';
COMMENT ON COLUMN @extschema@.model_diagnostics.beta_se IS 'Standard error of beta from the observed information; NULL where the data cannot identify the parameter.';
COMMENT ON COLUMN @extschema@.model_diagnostics.p_se IS 'Standard error of p from the observed information; NULL where the data cannot identify the parameter.';
COMMENT ON COLUMN @extschema@.model_diagnostics.q_se IS 'Standard error of q from the observed information; NULL where the data cannot identify the parameter.';
COMMENT ON COLUMN @extschema@.model_diagnostics.v_se IS 'Standard error of v from the observed information; NULL where the data cannot identify the parameter.';
COMMENT ON COLUMN @extschema@.model_diagnostics.dropout_log_likelihood_gain IS 'Purchase models: log-likelihood gain over the same customers fitted without any dropout (NBD).';
COMMENT ON COLUMN @extschema@.model_diagnostics.dropout_identified IS 'Purchase models: whether the data identify dropout at all (the gain is at least 3, twice it the 5 % point of chi-square with 2 degrees of freedom). When false, P(alive) near 1 is the model''s assumption, not a finding; the churn risk over the horizon still ranks customers.';

-- Rights of the objects above.  Views run with the owner's rights, so an
-- analyst reads them without any right on the tables that hold personal
-- data.
GRANT SELECT ON
	@extschema@.segment_summary, @extschema@.rfm_grid, @extschema@.lifecycle_summary,
	@extschema@.segment_migration, @extschema@.customer_360, @extschema@.rfm_breaks,
	@extschema@.churn_watch_list, @extschema@.clv_by_segment, @extschema@.model_diagnostics
TO crm_analyst;
