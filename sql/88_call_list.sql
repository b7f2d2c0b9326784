-- Voice of the customer, part 3: tie satisfaction and complaints to value.

-- High-value customers whose satisfaction fell or whose complaints breached
-- their SLA in the current window, as of the last refresh: the people a
-- store manager should call today, most value first.
CREATE VIEW @extschema@.customers_to_call AS
WITH params AS (
	SELECT (SELECT max(cs.as_of) FROM @extschema@.customer_segments AS cs) AS as_of,
		   v.satisfaction_window_days * interval '1 day' AS window_length,
		   v.satisfaction_drop_points, v.call_min_m_score, v.call_min_clv
	FROM @extschema@.voice_settings AS v
), complaints AS (
	SELECT m.customer_id,
		   count(*) AS complaints,
		   count(*) FILTER (WHERE m.first_reply_breached OR m.resolution_breached) AS sla_breaches,
		   count(*) FILTER (WHERE NOT m.resolved) AS open_complaints,
		   max(m.opened_at) AS last_complaint_at
	FROM params AS p
	CROSS JOIN LATERAL @extschema@.complaint_metrics(p.as_of) AS m
	WHERE m.customer_id IS NOT NULL
	  AND m.opened_at > p.as_of - p.window_length
	GROUP BY m.customer_id
)
SELECT cs.customer_id, cs.segment, cs.lifecycle_stage, c.home_store,
	   cs.monetary,
	   round(cs.clv::numeric, 2)::numeric(18,2) AS clv,
	   round(cs.churn_risk::numeric, 4)::numeric(7,4) AS churn_risk,
	   s.previous_index, s.current_index, s.index_change,
	   coalesce(k.complaints, 0) AS complaints,
	   coalesce(k.sla_breaches, 0) AS sla_breaches,
	   coalesce(k.open_complaints, 0) AS open_complaints,
	   k.last_complaint_at,
	   CASE
		   WHEN s.index_change <= -p.satisfaction_drop_points AND k.sla_breaches > 0 THEN 'satisfaction drop and SLA breach'
		   WHEN k.sla_breaches > 0 THEN 'SLA breach'
		   ELSE 'satisfaction drop'
	   END AS reason,
	   cs.as_of
FROM @extschema@.customer_segments AS cs
CROSS JOIN params AS p
LEFT JOIN @extschema@.customers AS c USING (customer_id)
LEFT JOIN @extschema@.customer_satisfaction AS s USING (customer_id)
LEFT JOIN complaints AS k USING (customer_id)
WHERE (cs.m_score >= p.call_min_m_score OR cs.clv >= p.call_min_clv)
  AND (s.index_change <= -p.satisfaction_drop_points OR k.sla_breaches > 0)
ORDER BY cs.clv DESC NULLS LAST, cs.monetary DESC, cs.customer_id;
COMMENT ON VIEW @extschema@.customers_to_call IS
	'High-value customers (RFM monetary score at least crm.voice_settings.call_min_m_score, or CLV at least call_min_clv) whose satisfaction index fell by at least satisfaction_drop_points from the previous to the current window, or who had a complaint opened in the current window that breached its SLA; as of the last refresh, most value first. No personal data: look the contact up in crm.customers.';
COMMENT ON COLUMN @extschema@.customers_to_call.customer_id IS 'Customer key.';
COMMENT ON COLUMN @extschema@.customers_to_call.segment IS 'RFM segment.';
COMMENT ON COLUMN @extschema@.customers_to_call.lifecycle_stage IS 'Lifecycle stage.';
COMMENT ON COLUMN @extschema@.customers_to_call.home_store IS 'Store the customer is attached to, the one to call from.';
COMMENT ON COLUMN @extschema@.customers_to_call.monetary IS 'Net spend.';
COMMENT ON COLUMN @extschema@.customers_to_call.clv IS 'Customer lifetime value.';
COMMENT ON COLUMN @extschema@.customers_to_call.churn_risk IS 'Probability of no purchase in the next crm.settings.churn_horizon_days days.';
COMMENT ON COLUMN @extschema@.customers_to_call.previous_index IS 'Satisfaction index in the previous window.';
COMMENT ON COLUMN @extschema@.customers_to_call.current_index IS 'Satisfaction index in the current window.';
COMMENT ON COLUMN @extschema@.customers_to_call.index_change IS 'current_index - previous_index.';
COMMENT ON COLUMN @extschema@.customers_to_call.complaints IS 'Complaints opened in the current window.';
COMMENT ON COLUMN @extschema@.customers_to_call.sla_breaches IS 'Of them, tickets that breached their first-reply or resolution target.';
COMMENT ON COLUMN @extschema@.customers_to_call.open_complaints IS 'Of them, tickets not solved or closed at as_of.';
COMMENT ON COLUMN @extschema@.customers_to_call.last_complaint_at IS 'When the latest of them was opened.';
COMMENT ON COLUMN @extschema@.customers_to_call.reason IS 'satisfaction drop, SLA breach, or satisfaction drop and SLA breach.';
COMMENT ON COLUMN @extschema@.customers_to_call.as_of IS 'Analysis date of the last refresh.';

GRANT SELECT ON @extschema@.customers_to_call TO crm_analyst;
