-- Lifecycle stage: prospect, new, active, at-risk, dormant, lost or reactivated from day thresholds

CREATE FUNCTION @extschema@.lifecycle_stage(
	orders bigint,
	recency_days double precision,
	tenure_days double precision,
	last_gap_days double precision,
	new_days double precision,
	active_days double precision,
	at_risk_days double precision,
	dormant_days double precision)
RETURNS text
AS 'MODULE_PATHNAME', 'lifecycle_stage'
LANGUAGE C IMMUTABLE PARALLEL SAFE;

COMMENT ON FUNCTION @extschema@.lifecycle_stage(bigint, double precision, double precision, double precision, double precision, double precision, double precision, double precision) IS
'Lifecycle stage of one customer, first matching rule wins: orders = 0 -> prospect; recency_days > dormant_days -> lost; recency_days > at_risk_days -> dormant; recency_days > active_days -> at-risk; tenure_days <= new_days -> new; last_gap_days > at_risk_days -> reactivated; otherwise active. recency_days = days from the last purchase to the analysis date, tenure_days = days from the first purchase, last_gap_days = days between the last two purchase days (NULL for a single purchase day: never reactivated). Not strict: NULL orders gives NULL; for orders > 0 recency_days and tenure_days are required (error 22004), finite, >= 0, and tenure_days >= recency_days; for prospects they are ignored. Thresholds are required, finite, > 0 and must satisfy new_days <= active_days < at_risk_days < dormant_days (checked for every non-NULL orders).';
