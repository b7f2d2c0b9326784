-- customer_facts: one pass over a customer's transactions to their RFM and BTYD facts

CREATE TYPE @extschema@.customer_facts AS (
	first_purchase_at timestamptz,
	last_purchase_at timestamptz,
	orders bigint,
	returns bigint,
	net_spend numeric,
	recency_days integer,
	tenure_days integer,
	purchase_days integer,
	btyd_frequency integer,
	btyd_recency integer,
	btyd_t integer,
	avg_repeat_spend numeric,
	last_gap_days integer,
	median_gap_days double precision,
	future_rows bigint
);

COMMENT ON TYPE @extschema@.customer_facts IS
'RFM and BTYD facts of one customer at an analysis date as_of, returned by the customer_facts aggregate. Times are in days: the day index of a timestamp ts is floor((as_of - ts) / 24 hours), whole 24-hour blocks back from as_of, independent of the session TimeZone. A purchase is a row with amount > 0 and occurred_at <= as_of; a purchase day is a distinct day index with at least one purchase.';
COMMENT ON COLUMN @extschema@.customer_facts.first_purchase_at IS
'Earliest purchase (amount > 0, occurred_at <= as_of); NULL if there is none.';
COMMENT ON COLUMN @extschema@.customer_facts.last_purchase_at IS
'Latest purchase (amount > 0, occurred_at <= as_of); NULL if there is none.';
COMMENT ON COLUMN @extschema@.customer_facts.orders IS
'Number of rows with amount > 0 (RFM frequency).';
COMMENT ON COLUMN @extschema@.customer_facts.returns IS
'Number of rows with amount < 0.';
COMMENT ON COLUMN @extschema@.customer_facts.net_spend IS
'Sum of all amounts, purchases minus returns (RFM monetary), exact, with 4 decimals; each amount is first rounded half away from zero to 4 decimals.';
COMMENT ON COLUMN @extschema@.customer_facts.recency_days IS
'Day index of the last purchase: 0 = within 24 hours before as_of; NULL if there is no purchase.';
COMMENT ON COLUMN @extschema@.customer_facts.tenure_days IS
'Day index of the first purchase; NULL if there is no purchase.';
COMMENT ON COLUMN @extschema@.customer_facts.purchase_days IS
'Number of distinct purchase days (day indexes with at least one purchase); 0 if there is no purchase.';
COMMENT ON COLUMN @extschema@.customer_facts.btyd_frequency IS
'BTYD x, in days: repeat purchase days, purchase_days - 1; NULL if there is no purchase.';
COMMENT ON COLUMN @extschema@.customer_facts.btyd_recency IS
'BTYD t_x, in days: from the first to the last purchase day; NULL if there is no purchase. Not RFM recency.';
COMMENT ON COLUMN @extschema@.customer_facts.btyd_t IS
'BTYD T, in days: from the first purchase day to as_of, equal to tenure_days; NULL if there is no purchase.';
COMMENT ON COLUMN @extschema@.customer_facts.avg_repeat_spend IS
'Gamma-Gamma mean repeat spend: purchase amounts on every purchase day but the first, divided by btyd_frequency, rounded half away from zero to 4 decimals; returns are not subtracted; NULL when btyd_frequency is 0 or NULL.';
COMMENT ON COLUMN @extschema@.customer_facts.last_gap_days IS
'Days between the two latest purchase days; NULL when btyd_frequency is 0 or NULL.';
COMMENT ON COLUMN @extschema@.customer_facts.median_gap_days IS
'Median of the gaps in days between consecutive purchase days (mean of the two middle gaps when their number is even); NULL when btyd_frequency is 0 or NULL.';
COMMENT ON COLUMN @extschema@.customer_facts.future_rows IS
'Rows with occurred_at > as_of; they are counted here and ignored by every other column.';

CREATE FUNCTION @extschema@.customer_facts_accum(bytea, timestamptz, numeric, timestamptz)
RETURNS bytea
AS 'MODULE_PATHNAME', 'customer_facts_accum'
LANGUAGE C IMMUTABLE PARALLEL SAFE;

COMMENT ON FUNCTION @extschema@.customer_facts_accum(bytea, timestamptz, numeric, timestamptz) IS
'Transition function of customer_facts: adds one transaction (occurred_at, amount, as_of) to a state. Not strict: a NULL argument raises an error instead of being skipped.';

CREATE FUNCTION @extschema@.customer_facts_combine(bytea, bytea)
RETURNS bytea
AS 'MODULE_PATHNAME', 'customer_facts_combine'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

COMMENT ON FUNCTION @extschema@.customer_facts_combine(bytea, bytea) IS
'Combine function of customer_facts: merges two partial states computed with the same as_of.';

CREATE FUNCTION @extschema@.customer_facts_final(bytea)
RETURNS @extschema@.customer_facts
AS 'MODULE_PATHNAME', 'customer_facts_final'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

COMMENT ON FUNCTION @extschema@.customer_facts_final(bytea) IS
'Final function of customer_facts: turns a state into a customer_facts row without modifying the state.';

CREATE AGGREGATE @extschema@.customer_facts(occurred_at timestamptz, amount numeric, as_of timestamptz) (
	SFUNC = @extschema@.customer_facts_accum,
	STYPE = bytea,
	COMBINEFUNC = @extschema@.customer_facts_combine,
	FINALFUNC = @extschema@.customer_facts_final,
	PARALLEL = SAFE
);

COMMENT ON AGGREGATE @extschema@.customer_facts(timestamptz, numeric, timestamptz) IS
'RFM and BTYD facts of one customer''s transactions at the analysis date as_of, in one pass; NULL for no rows. as_of must be the same on every row. Amounts are summed exactly after rounding each half away from zero to 4 decimals; NULL, NaN and infinite inputs raise errors. The state is a bytea, so the aggregate runs in parallel and Citus can push it down.';
