-- retail_crm install script, assembled by the Makefile from the sql/ parts.
\echo Use "CREATE EXTENSION retail_crm" to load this file. \quit

-- The schema is fixed (control file: schema = crm, relocatable = false), so
-- BI tools and the parts below can rely on the name crm.
-- Data tables the retailer loads with COPY or INSERT.

CREATE TABLE @extschema@.customers (
	customer_id			bigint PRIMARY KEY,
	first_name			text,
	last_name			text,
	email				text,
	phone				text,
	birth_date			date,
	gender				text,
	home_store			text,
	country				text,
	postal_code			text,
	joined_at			timestamptz NOT NULL DEFAULT now(),
	consent_email		boolean NOT NULL DEFAULT false,
	consent_sms			boolean NOT NULL DEFAULT false,
	consent_phone		boolean NOT NULL DEFAULT false,
	consent_app			boolean NOT NULL DEFAULT false,
	consent_updated_at	timestamptz,
	preferred_channel	text CONSTRAINT customers_preferred_channel_known
		CHECK (preferred_channel IN ('email', 'sms', 'phone', 'app'))
);
COMMENT ON TABLE @extschema@.customers IS
	'One row per customer: identity, contact, join date and per-channel marketing consent. Holds personal data: analysts read crm.customer_360 instead.';
COMMENT ON COLUMN @extschema@.customers.customer_id IS 'The retailer''s customer key.';
COMMENT ON COLUMN @extschema@.customers.first_name IS 'Personal data.';
COMMENT ON COLUMN @extschema@.customers.last_name IS 'Personal data.';
COMMENT ON COLUMN @extschema@.customers.email IS 'Personal data: contact for the email channel.';
COMMENT ON COLUMN @extschema@.customers.phone IS 'Personal data: contact for the sms and phone channels.';
COMMENT ON COLUMN @extschema@.customers.birth_date IS 'Personal data.';
COMMENT ON COLUMN @extschema@.customers.gender IS 'Personal data, free text as the retailer records it.';
COMMENT ON COLUMN @extschema@.customers.home_store IS 'Store the customer is attached to, if any.';
COMMENT ON COLUMN @extschema@.customers.country IS 'Country of the customer''s address.';
COMMENT ON COLUMN @extschema@.customers.postal_code IS 'Personal data when combined with other fields.';
COMMENT ON COLUMN @extschema@.customers.joined_at IS 'When the customer joined (registration or first contact).';
COMMENT ON COLUMN @extschema@.customers.consent_email IS 'True when the customer agreed to marketing by email.';
COMMENT ON COLUMN @extschema@.customers.consent_sms IS 'True when the customer agreed to marketing by SMS.';
COMMENT ON COLUMN @extschema@.customers.consent_phone IS 'True when the customer agreed to marketing by phone.';
COMMENT ON COLUMN @extschema@.customers.consent_app IS 'True when the customer agreed to marketing through the app or WeChat.';
COMMENT ON COLUMN @extschema@.customers.consent_updated_at IS 'When any consent flag last changed.';
COMMENT ON COLUMN @extschema@.customers.preferred_channel IS 'email, sms, phone or app.';

-- One row per order, not per line: RFM frequency counts orders.
CREATE TABLE @extschema@.transactions (
	transaction_id		text PRIMARY KEY,
	customer_id			bigint,
	occurred_at			timestamptz NOT NULL,
	amount				numeric NOT NULL CONSTRAINT transactions_amount_finite
		CHECK (amount NOT IN ('NaN', 'Infinity', '-Infinity')),
	channel				text,
	store				text
);
COMMENT ON TABLE @extschema@.transactions IS
	'One row per order. Returns are rows with a negative amount. Rows without a customer are kept for totals but cannot feed customer metrics.';
COMMENT ON COLUMN @extschema@.transactions.transaction_id IS 'The retailer''s order or invoice number.';
COMMENT ON COLUMN @extschema@.transactions.customer_id IS 'Buyer; NULL for anonymous sales.';
COMMENT ON COLUMN @extschema@.transactions.occurred_at IS 'When the order was placed.';
COMMENT ON COLUMN @extschema@.transactions.amount IS 'Net order value; negative for a return or cancellation.';
COMMENT ON COLUMN @extschema@.transactions.channel IS 'Sales channel, e.g. store, online, app.';
COMMENT ON COLUMN @extschema@.transactions.store IS 'Store or site that made the sale.';

-- The refresh reads one customer's orders in time order through this index.
CREATE INDEX transactions_customer_time_idx
	ON @extschema@.transactions (customer_id, occurred_at) INCLUDE (amount);
-- Time-range scans on a table that grows in time order: BRIN stays tiny at 100M rows.
CREATE INDEX transactions_occurred_at_brin
	ON @extschema@.transactions USING brin (occurred_at);

CREATE TABLE @extschema@.transaction_items (
	transaction_id		text NOT NULL,
	line_no				integer NOT NULL,
	product_id			text NOT NULL,
	description			text,
	quantity			numeric NOT NULL,
	unit_price			numeric NOT NULL,
	PRIMARY KEY (transaction_id, line_no)
);
COMMENT ON TABLE @extschema@.transaction_items IS 'Order lines, for basket analysis.';
COMMENT ON COLUMN @extschema@.transaction_items.transaction_id IS 'The order the line belongs to (crm.transactions.transaction_id).';
COMMENT ON COLUMN @extschema@.transaction_items.line_no IS 'Line number within the order.';
COMMENT ON COLUMN @extschema@.transaction_items.product_id IS 'Product or SKU code.';
COMMENT ON COLUMN @extschema@.transaction_items.description IS 'Product description as printed on the order.';
COMMENT ON COLUMN @extschema@.transaction_items.quantity IS 'Units; negative on return lines.';
COMMENT ON COLUMN @extschema@.transaction_items.unit_price IS 'Price of one unit.';

CREATE INDEX transaction_items_product_idx ON @extschema@.transaction_items (product_id);

SELECT pg_catalog.pg_extension_config_dump('@extschema@.customers', '');
SELECT pg_catalog.pg_extension_config_dump('@extschema@.transactions', '');
SELECT pg_catalog.pg_extension_config_dump('@extschema@.transaction_items', '');
-- Configuration tables: one settings row, fixed RFM thresholds. Both are
-- validated by triggers so a bad value is refused where it is typed, with a hint.

CREATE TABLE @extschema@.settings (
	singleton			boolean PRIMARY KEY DEFAULT true CONSTRAINT settings_single_row CHECK (singleton),
	rfm_method			text NOT NULL DEFAULT 'quantile',
	segment_rule_set	text NOT NULL DEFAULT 'default',
	new_days			integer NOT NULL DEFAULT 30,
	active_days			integer NOT NULL DEFAULT 90,
	at_risk_days		integer NOT NULL DEFAULT 180,
	dormant_days		integer NOT NULL DEFAULT 365,
	history_runs_kept	integer NOT NULL DEFAULT 30,
	model_refit			text NOT NULL DEFAULT 'every_refresh',
	churn_horizon_days	integer NOT NULL DEFAULT 90,
	clv_months			integer NOT NULL DEFAULT 12,
	monthly_discount	double precision NOT NULL DEFAULT 0.01,
	churn_risk_threshold double precision NOT NULL DEFAULT 0.5,
	source_schema		name,
	source_table		name
);
COMMENT ON TABLE @extschema@.settings IS
	'The one row of retail_crm settings. Change values with UPDATE; the next refresh uses them.';
COMMENT ON COLUMN @extschema@.settings.singleton IS 'Always true: keeps the table to one row.';
COMMENT ON COLUMN @extschema@.settings.rfm_method IS
	'How R, F and M values become scores 1-5: quantile (default; value quantiles, equal values always share a score), equal_count (NTILE-like equal groups, ties broken by customer_id: the lower id gets the better score) or fixed (thresholds in crm.rfm_fixed_breaks).';
COMMENT ON COLUMN @extschema@.settings.segment_rule_set IS
	'Rule set of crm.segment_rules in use; change it with crm.activate_segment_rules().';
COMMENT ON COLUMN @extschema@.settings.new_days IS 'Lifecycle: a first purchase at most this many days before as_of makes a customer new.';
COMMENT ON COLUMN @extschema@.settings.active_days IS 'Lifecycle: a last purchase more than this many days before as_of makes a customer at-risk.';
COMMENT ON COLUMN @extschema@.settings.at_risk_days IS 'Lifecycle: more than this many days since the last purchase makes a customer dormant; a purchase after a gap this long makes them reactivated.';
COMMENT ON COLUMN @extschema@.settings.dormant_days IS 'Lifecycle: more than this many days since the last purchase makes a customer lost.';
COMMENT ON COLUMN @extschema@.settings.history_runs_kept IS 'How many refresh runs keep their per-customer rows in crm.segment_history.';
COMMENT ON COLUMN @extschema@.settings.model_refit IS
	'every_refresh (default): each refresh fits new BG/NBD and Gamma-Gamma models; manual: the refresh scores with the latest models stored by crm.fit_models().';
COMMENT ON COLUMN @extschema@.settings.churn_horizon_days IS 'Horizon in days of crm.customer_segments.expected_purchases.';
COMMENT ON COLUMN @extschema@.settings.clv_months IS 'Horizon in months of crm.customer_segments.clv.';
COMMENT ON COLUMN @extschema@.settings.monthly_discount IS 'Monthly discount rate of the CLV, e.g. 0.01 for 1 % a month.';
COMMENT ON COLUMN @extschema@.settings.churn_risk_threshold IS 'Churn risk (1 - P(alive)) from which a valuable customer enters crm.churn_watch_list.';
COMMENT ON COLUMN @extschema@.settings.source_schema IS 'Schema of the sales table or view the refresh reads; NULL means crm.transactions. Set with crm.set_transaction_source().';
COMMENT ON COLUMN @extschema@.settings.source_table IS 'Name of the sales table or view the refresh reads; NULL means crm.transactions.';

-- Raises the uniform configuration error: invalid value, with what is allowed.
CREATE FUNCTION @extschema@.config_error(message text, hint text)
RETURNS void
LANGUAGE plpgsql STABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	RAISE EXCEPTION USING ERRCODE = 'invalid_parameter_value', MESSAGE = message, HINT = hint;
END
$$;
COMMENT ON FUNCTION @extschema@.config_error(text, text) IS
	'Internal: raises SQLSTATE 22023 with the given message and hint.';

CREATE FUNCTION @extschema@.settings_check()
RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	IF NEW.rfm_method NOT IN ('quantile', 'equal_count', 'fixed') THEN
		PERFORM @extschema@.config_error(
			format('rfm_method must be quantile, equal_count or fixed, not %L', NEW.rfm_method),
			'quantile keeps equal values together; equal_count makes equal-sized groups; fixed reads crm.rfm_fixed_breaks.');
	END IF;
	IF NOT (0 < NEW.new_days AND NEW.new_days <= NEW.active_days
			AND NEW.active_days < NEW.at_risk_days AND NEW.at_risk_days < NEW.dormant_days) THEN
		PERFORM @extschema@.config_error(
			format('lifecycle thresholds must satisfy 0 < new_days <= active_days < at_risk_days < dormant_days, not %s, %s, %s, %s',
				   NEW.new_days, NEW.active_days, NEW.at_risk_days, NEW.dormant_days),
			'The defaults are 30, 90, 180 and 365 days.');
	END IF;
	IF NEW.history_runs_kept < 2 THEN
		PERFORM @extschema@.config_error(
			format('history_runs_kept must be at least 2, not %s', NEW.history_runs_kept),
			'crm.segment_migration compares the last two runs, so both must be kept.');
	END IF;
	IF NEW.model_refit NOT IN ('every_refresh', 'manual') THEN
		PERFORM @extschema@.config_error(
			format('model_refit must be every_refresh or manual, not %L', NEW.model_refit),
			'every_refresh fits the churn and spend models at each refresh; manual uses the latest models stored by crm.fit_models().');
	END IF;
	IF NEW.churn_horizon_days < 1 OR NEW.clv_months < 1 OR NEW.clv_months > 1200 THEN
		PERFORM @extschema@.config_error(
			format('churn_horizon_days must be at least 1 and clv_months between 1 and 1200, not %s and %s',
				   NEW.churn_horizon_days, NEW.clv_months),
			'The defaults are 90 days and 12 months.');
	END IF;
	IF NOT (NEW.monthly_discount > -1 AND NEW.monthly_discount < 1) THEN
		PERFORM @extschema@.config_error(
			format('monthly_discount must lie between -1 and 1 (exclusive), not %s', NEW.monthly_discount),
			'A monthly rate of 0.01 discounts one year by about 11 %.');
	END IF;
	IF NOT (NEW.churn_risk_threshold >= 0 AND NEW.churn_risk_threshold <= 1) THEN
		PERFORM @extschema@.config_error(
			format('churn_risk_threshold must lie between 0 and 1, not %s', NEW.churn_risk_threshold),
			'The default 0.5 lists customers more likely gone than active.');
	END IF;
	IF (NEW.source_schema IS NULL) <> (NEW.source_table IS NULL) THEN
		PERFORM @extschema@.config_error('source_schema and source_table must both be set or both be NULL',
			'Use crm.set_transaction_source() and crm.reset_transaction_source().');
	END IF;
	RETURN NEW;
END
$$;
COMMENT ON FUNCTION @extschema@.settings_check() IS 'Trigger: validates crm.settings.';

CREATE TRIGGER settings_check BEFORE INSERT OR UPDATE ON @extschema@.settings
	FOR EACH ROW EXECUTE FUNCTION @extschema@.settings_check();

INSERT INTO @extschema@.settings DEFAULT VALUES;

-- Fixed business thresholds for rfm_method = 'fixed'.  Each row holds the
-- four break points b1..b4 of one metric: a value v falls in band
-- 1 + (number of breaks below v); F and M scores are the band, R is 6 - band.
CREATE TABLE @extschema@.rfm_fixed_breaks (
	metric		text PRIMARY KEY,
	break_1		double precision NOT NULL,
	break_2		double precision NOT NULL,
	break_3		double precision NOT NULL,
	break_4		double precision NOT NULL
);
COMMENT ON TABLE @extschema@.rfm_fixed_breaks IS
	'Thresholds used when crm.settings.rfm_method = ''fixed''. A value equal to a break belongs to the lower band. Recency: at most break_1 days scores R=5, more than break_4 days scores R=1. Frequency and monetary: at most break_1 scores 1, more than break_4 scores 5.';
COMMENT ON COLUMN @extschema@.rfm_fixed_breaks.metric IS 'recency, frequency or monetary.';
COMMENT ON COLUMN @extschema@.rfm_fixed_breaks.break_1 IS 'Upper bound (inclusive) of band 1.';
COMMENT ON COLUMN @extschema@.rfm_fixed_breaks.break_2 IS 'Upper bound (inclusive) of band 2.';
COMMENT ON COLUMN @extschema@.rfm_fixed_breaks.break_3 IS 'Upper bound (inclusive) of band 3.';
COMMENT ON COLUMN @extschema@.rfm_fixed_breaks.break_4 IS 'Upper bound (inclusive) of band 4; larger values are band 5.';

CREATE FUNCTION @extschema@.rfm_fixed_breaks_check()
RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	breaks double precision[] := ARRAY[NEW.break_1, NEW.break_2, NEW.break_3, NEW.break_4];
BEGIN
	IF NEW.metric NOT IN ('recency', 'frequency', 'monetary') THEN
		PERFORM @extschema@.config_error(
			format('metric must be recency, frequency or monetary, not %L', NEW.metric),
			'crm.rfm_fixed_breaks holds one row per metric.');
	END IF;
	IF 'NaN' = ANY (breaks) OR 'Infinity' = ANY (breaks) OR '-Infinity' = ANY (breaks)
	   OR NOT (NEW.break_1 <= NEW.break_2 AND NEW.break_2 <= NEW.break_3 AND NEW.break_3 <= NEW.break_4) THEN
		PERFORM @extschema@.config_error(
			format('%s breaks must be finite and non-decreasing, not %s', NEW.metric, breaks),
			'Give four thresholds in increasing order, e.g. 30, 60, 120, 240 days for recency.');
	END IF;
	IF NEW.metric IN ('recency', 'frequency') AND NEW.break_1 < 0 THEN
		PERFORM @extschema@.config_error(
			format('%s breaks must not be negative, not %s', NEW.metric, breaks),
			'Recency is counted in days and frequency in orders, both zero or more.');
	END IF;
	RETURN NEW;
END
$$;
COMMENT ON FUNCTION @extschema@.rfm_fixed_breaks_check() IS 'Trigger: validates crm.rfm_fixed_breaks.';

CREATE TRIGGER rfm_fixed_breaks_check BEFORE INSERT OR UPDATE ON @extschema@.rfm_fixed_breaks
	FOR EACH ROW EXECUTE FUNCTION @extschema@.rfm_fixed_breaks_check();

INSERT INTO @extschema@.rfm_fixed_breaks VALUES
	('recency', 30, 60, 120, 240),
	('frequency', 1, 2, 4, 9),
	('monetary', 250, 500, 1000, 2500);
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
-- RFM scoring: map recency, frequency and monetary value to scores 1..5 against given break points

CREATE TYPE @extschema@.rfm_scores AS (
	r_score smallint,
	f_score smallint,
	m_score smallint,
	fm_score smallint,
	rfm_code smallint
);

COMMENT ON TYPE @extschema@.rfm_scores IS
'RFM scores of one customer, each 1..5 with 5 = best, as returned by rfm_score.';
COMMENT ON COLUMN @extschema@.rfm_scores.r_score IS
'Recency score 1..5: 6 - rfm_band(recency_days, r_breaks), so fewer days since the last purchase scores higher.';
COMMENT ON COLUMN @extschema@.rfm_scores.f_score IS
'Frequency score 1..5: rfm_band(frequency, f_breaks).';
COMMENT ON COLUMN @extschema@.rfm_scores.m_score IS
'Monetary score 1..5: rfm_band(monetary, m_breaks).';
COMMENT ON COLUMN @extschema@.rfm_scores.fm_score IS
'FM score 1..5: (f_score + m_score + 1) / 2 in integer arithmetic, the mean of F and M rounded half up; the FM axis of the 11-segment scheme.';
COMMENT ON COLUMN @extschema@.rfm_scores.rfm_code IS
'Composite code r_score * 100 + f_score * 10 + m_score, 111..555.';

CREATE FUNCTION @extschema@.rfm_band(value double precision, breaks double precision[])
RETURNS smallint
AS 'MODULE_PATHNAME', 'rfm_band'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

COMMENT ON FUNCTION @extschema@.rfm_band(double precision, double precision[]) IS
'Band 1..5 of value: 1 + the number of break points that value strictly exceeds. breaks must be a one-dimensional array of exactly 4 finite, non-decreasing values without NULLs; a value equal to a break stays in the lower band, equal values always share a band, and equal breaks leave the bands between them empty. value must be finite. NULL in, NULL out.';

CREATE FUNCTION @extschema@.rfm_score(
	recency_days double precision,
	frequency double precision,
	monetary double precision,
	r_breaks double precision[],
	f_breaks double precision[],
	m_breaks double precision[])
RETURNS @extschema@.rfm_scores
AS 'MODULE_PATHNAME', 'rfm_score'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

COMMENT ON FUNCTION @extschema@.rfm_score(double precision, double precision, double precision, double precision[], double precision[], double precision[]) IS
'RFM scores of one customer (5 = best): F = rfm_band(frequency, f_breaks), M = rfm_band(monetary, m_breaks), R = 6 - rfm_band(recency_days, r_breaks), FM = (F + M + 1) / 2 (mean rounded half up), rfm_code = R*100 + F*10 + M. Each break array holds exactly 4 finite, non-decreasing values; ties at a break never split. recency_days (days from the last purchase to the analysis date) and frequency (number of orders) must be finite and >= 0; monetary (net spend) must be finite and may be negative after returns. NULL in, NULL out.';
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
-- BTYD models: BG/NBD purchase/dropout and Gamma-Gamma spend fitted by
-- maximum likelihood in C; P(alive), churn risk, expected purchases and
-- spend, and CLV.  Time is in one unit chosen by the caller (weeks or days),
-- the same for frequency/recency/t, the fit and every scoring call.

CREATE TYPE @extschema@.bgnbd_model AS (
	r double precision,
	alpha double precision,
	a double precision,
	b double precision,
	log_likelihood double precision,
	customers bigint,
	converged boolean,
	iterations integer
);

COMMENT ON TYPE @extschema@.bgnbd_model IS
'A BG/NBD model (Fader, Hardie & Lee 2005): purchase rates Gamma(r, alpha), dropout probabilities Beta(a, b). Built by the bgnbd_fit aggregate or by bgnbd_model(r, alpha, a, b). alpha is in the time unit of the data it was fitted on.';
COMMENT ON COLUMN @extschema@.bgnbd_model.r IS
'Shape of the Gamma distribution of purchase rates; > 0. NULL when the fit could not identify the model.';
COMMENT ON COLUMN @extschema@.bgnbd_model.alpha IS
'Scale of the Gamma distribution of purchase rates, in the time unit of t; > 0. NULL when the fit could not identify the model.';
COMMENT ON COLUMN @extschema@.bgnbd_model.a IS
'First shape of the Beta distribution of the dropout probability after each purchase; > 0. NULL when the fit could not identify the model.';
COMMENT ON COLUMN @extschema@.bgnbd_model.b IS
'Second shape of the Beta distribution of the dropout probability after each purchase; > 0. NULL when the fit could not identify the model.';
COMMENT ON COLUMN @extschema@.bgnbd_model.log_likelihood IS
'Log-likelihood of the fitted customers at the parameters (natural log, summed over customers); NULL for a model built from parameters.';
COMMENT ON COLUMN @extschema@.bgnbd_model.customers IS
'Customers (input rows) the model was fitted on; NULL for a model built from parameters.';
COMMENT ON COLUMN @extschema@.bgnbd_model.converged IS
'Whether the optimizer met a convergence rule (gradient norm or relative change below tolerance) rather than a limit; false also when no customer has a repeat purchase (parameters NULL). NULL for a model built from parameters.';
COMMENT ON COLUMN @extschema@.bgnbd_model.iterations IS
'BFGS iterations of the run that produced the parameters; NULL for a model built from parameters.';

CREATE TYPE @extschema@.gamma_gamma_model AS (
	p double precision,
	q double precision,
	v double precision,
	log_likelihood double precision,
	customers bigint,
	converged boolean,
	spend_frequency_corr double precision
);

COMMENT ON TYPE @extschema@.gamma_gamma_model IS
'A Gamma-Gamma spend model (Fader, Hardie & Lee 2005): transaction values Gamma(p, nu), nu Gamma(q, v), in the currency of the data. Built by the gamma_gamma_fit aggregate or by gamma_gamma_model(p, q, v).';
COMMENT ON COLUMN @extschema@.gamma_gamma_model.p IS
'Shape of the Gamma distribution of transaction values; > 0.';
COMMENT ON COLUMN @extschema@.gamma_gamma_model.q IS
'Shape of the Gamma distribution of the customers'' scale nu; > 0 (the population mean spend p v / (q - 1) needs q > 1).';
COMMENT ON COLUMN @extschema@.gamma_gamma_model.v IS
'Scale of the Gamma distribution of the customers'' nu, in the currency of the data; > 0.';
COMMENT ON COLUMN @extschema@.gamma_gamma_model.log_likelihood IS
'Log-likelihood of the fitted repeat customers at the parameters; NULL for a model built from parameters.';
COMMENT ON COLUMN @extschema@.gamma_gamma_model.customers IS
'Repeat customers (frequency > 0) the model was fitted on; rows with frequency = 0 are skipped and not counted. NULL for a model built from parameters.';
COMMENT ON COLUMN @extschema@.gamma_gamma_model.converged IS
'Whether the optimizer met a convergence rule rather than a limit; NULL for a model built from parameters.';
COMMENT ON COLUMN @extschema@.gamma_gamma_model.spend_frequency_corr IS
'Pearson correlation of frequency and monetary_avg over the fitted customers; the model assumes they are independent, so a value far from 0 warns against using it. NULL when either does not vary, and for a model built from parameters.';

CREATE FUNCTION @extschema@.bgnbd_model(r double precision, alpha double precision,
										a double precision, b double precision)
RETURNS @extschema@.bgnbd_model
AS 'MODULE_PATHNAME', 'bgnbd_model'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

COMMENT ON FUNCTION @extschema@.bgnbd_model(double precision, double precision, double precision, double precision) IS
'A BG/NBD model from known parameters (for example published ones); each must be finite and > 0 (error 22023). The fit diagnostics are NULL.';

CREATE FUNCTION @extschema@.gamma_gamma_model(p double precision, q double precision,
											  v double precision)
RETURNS @extschema@.gamma_gamma_model
AS 'MODULE_PATHNAME', 'gamma_gamma_model'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

COMMENT ON FUNCTION @extschema@.gamma_gamma_model(double precision, double precision, double precision) IS
'A Gamma-Gamma model from known parameters; each must be finite and > 0 (error 22023). The fit diagnostics are NULL.';

-- bgnbd_fit

CREATE FUNCTION @extschema@.bgnbd_fit_accum(bytea, double precision, double precision, double precision)
RETURNS bytea
AS 'MODULE_PATHNAME', 'bgnbd_fit_accum'
LANGUAGE C IMMUTABLE PARALLEL SAFE;

COMMENT ON FUNCTION @extschema@.bgnbd_fit_accum(bytea, double precision, double precision, double precision) IS
'Transition function of bgnbd_fit: adds one customer (frequency, recency, t) to a state of distinct rows with counts. Not strict: a NULL argument raises 22004 instead of being skipped.';

CREATE FUNCTION @extschema@.bgnbd_fit_combine(bytea, bytea)
RETURNS bytea
AS 'MODULE_PATHNAME', 'bgnbd_fit_combine'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

COMMENT ON FUNCTION @extschema@.bgnbd_fit_combine(bytea, bytea) IS
'Combine function of bgnbd_fit: merges two partial states; a malformed state raises 22P03.';

CREATE FUNCTION @extschema@.bgnbd_fit_final(bytea)
RETURNS @extschema@.bgnbd_model
AS 'MODULE_PATHNAME', 'bgnbd_fit_final'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

COMMENT ON FUNCTION @extschema@.bgnbd_fit_final(bytea) IS
'Final function of bgnbd_fit: the maximum likelihood BG/NBD model of a state, which it does not modify.';

CREATE AGGREGATE @extschema@.bgnbd_fit(frequency double precision, recency double precision, t double precision) (
	SFUNC = @extschema@.bgnbd_fit_accum,
	STYPE = bytea,
	COMBINEFUNC = @extschema@.bgnbd_fit_combine,
	FINALFUNC = @extschema@.bgnbd_fit_final,
	PARALLEL = SAFE
);

COMMENT ON AGGREGATE @extschema@.bgnbd_fit(double precision, double precision, double precision) IS
'Maximum likelihood BG/NBD model of customers given as (frequency x = repeat purchases, a whole number >= 0; recency t_x = time from first to last purchase; t = T, time from first purchase to the analysis date), all times in one unit chosen by the caller (weeks or days), 0 <= recency <= t. Identical rows are grouped, so the fit costs per distinct row. BFGS with analytic gradients on log-parameters, restarted from other starts if it does not converge; see converged and iterations. NULL for no rows; NULL, NaN, infinite, negative or fractional frequency, and recency > t raise errors (22004, 22023). With no repeat purchase at all the model is not identified: parameters NULL, converged false.';

-- gamma_gamma_fit

CREATE FUNCTION @extschema@.gamma_gamma_fit_accum(bytea, double precision, double precision)
RETURNS bytea
AS 'MODULE_PATHNAME', 'gamma_gamma_fit_accum'
LANGUAGE C IMMUTABLE PARALLEL SAFE;

COMMENT ON FUNCTION @extschema@.gamma_gamma_fit_accum(bytea, double precision, double precision) IS
'Transition function of gamma_gamma_fit: adds one repeat customer (frequency, monetary_avg) to a state of distinct rows with counts, or skips a customer with frequency 0. Not strict: a NULL frequency, or a NULL monetary_avg with frequency > 0, raises 22004.';

CREATE FUNCTION @extschema@.gamma_gamma_fit_combine(bytea, bytea)
RETURNS bytea
AS 'MODULE_PATHNAME', 'gamma_gamma_fit_combine'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

COMMENT ON FUNCTION @extschema@.gamma_gamma_fit_combine(bytea, bytea) IS
'Combine function of gamma_gamma_fit: merges two partial states; a malformed state raises 22P03.';

CREATE FUNCTION @extschema@.gamma_gamma_fit_final(bytea)
RETURNS @extschema@.gamma_gamma_model
AS 'MODULE_PATHNAME', 'gamma_gamma_fit_final'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

COMMENT ON FUNCTION @extschema@.gamma_gamma_fit_final(bytea) IS
'Final function of gamma_gamma_fit: the maximum likelihood Gamma-Gamma model of a state, which it does not modify; NULL without repeat customers.';

CREATE AGGREGATE @extschema@.gamma_gamma_fit(frequency double precision, monetary_avg double precision) (
	SFUNC = @extschema@.gamma_gamma_fit_accum,
	STYPE = bytea,
	COMBINEFUNC = @extschema@.gamma_gamma_fit_combine,
	FINALFUNC = @extschema@.gamma_gamma_fit_final,
	PARALLEL = SAFE
);

COMMENT ON AGGREGATE @extschema@.gamma_gamma_fit(double precision, double precision) IS
'Maximum likelihood Gamma-Gamma spend model over the repeat customers: rows with frequency > 0 (a whole number) and monetary_avg > 0, the mean value of the repeat purchases. Rows with frequency = 0 are skipped (monetary_avg may be NULL there) and not counted in customers. Identical rows are grouped. NULL for no rows or no repeat customer; spend_frequency_corr reports the Pearson correlation the model assumes to be 0.';

-- per-customer log-likelihoods and their analytic gradients

CREATE FUNCTION @extschema@.bgnbd_loglik(frequency double precision, recency double precision,
										 t double precision, model @extschema@.bgnbd_model)
RETURNS double precision
AS 'MODULE_PATHNAME', 'bgnbd_loglik'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

COMMENT ON FUNCTION @extschema@.bgnbd_loglik(double precision, double precision, double precision, @extschema@.bgnbd_model) IS
'BG/NBD log-likelihood of one customer (frequency, recency, t) under a model; its sum over customers is what bgnbd_fit maximises.';

CREATE FUNCTION @extschema@.bgnbd_loglik_gradient(frequency double precision, recency double precision,
												  t double precision, model @extschema@.bgnbd_model)
RETURNS double precision[]
AS 'MODULE_PATHNAME', 'bgnbd_loglik_gradient'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

COMMENT ON FUNCTION @extschema@.bgnbd_loglik_gradient(double precision, double precision, double precision, @extschema@.bgnbd_model) IS
'Analytic gradient of bgnbd_loglik with respect to {r, alpha, a, b}, the one bgnbd_fit uses; exposed for checks against finite differences.';

CREATE FUNCTION @extschema@.gamma_gamma_loglik(frequency double precision, monetary_avg double precision,
											   model @extschema@.gamma_gamma_model)
RETURNS double precision
AS 'MODULE_PATHNAME', 'gamma_gamma_loglik'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

COMMENT ON FUNCTION @extschema@.gamma_gamma_loglik(double precision, double precision, @extschema@.gamma_gamma_model) IS
'Gamma-Gamma log-likelihood of the mean spend of one repeat customer (frequency >= 1, monetary_avg > 0) under a model.';

CREATE FUNCTION @extschema@.gamma_gamma_loglik_gradient(frequency double precision, monetary_avg double precision,
														model @extschema@.gamma_gamma_model)
RETURNS double precision[]
AS 'MODULE_PATHNAME', 'gamma_gamma_loglik_gradient'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

COMMENT ON FUNCTION @extschema@.gamma_gamma_loglik_gradient(double precision, double precision, @extschema@.gamma_gamma_model) IS
'Analytic gradient of gamma_gamma_loglik with respect to {p, q, v}, the one gamma_gamma_fit uses; exposed for checks against finite differences.';

-- scoring

CREATE FUNCTION @extschema@.p_alive(frequency double precision, recency double precision,
									t double precision, model @extschema@.bgnbd_model)
RETURNS double precision
AS 'MODULE_PATHNAME', 'p_alive'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

COMMENT ON FUNCTION @extschema@.p_alive(double precision, double precision, double precision, @extschema@.bgnbd_model) IS
'BG/NBD probability that a customer (frequency, recency, t; times in the unit of the model) is still active, computed through the log-odds so that heavy buyers and long-lapsed customers stay finite. A customer without repeat purchases (frequency = 0) gets 1 by construction of the model: treat one-time buyers separately in churn views.';

CREATE FUNCTION @extschema@.churn_risk(frequency double precision, recency double precision,
									   t double precision, model @extschema@.bgnbd_model)
RETURNS double precision
AS 'MODULE_PATHNAME', 'churn_risk'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

COMMENT ON FUNCTION @extschema@.churn_risk(double precision, double precision, double precision, @extschema@.bgnbd_model) IS
'1 - p_alive, computed directly so that small risks keep their precision; 0 for frequency = 0 by construction of the model.';

CREATE FUNCTION @extschema@.expected_purchases(horizon double precision, frequency double precision,
											   recency double precision, t double precision,
											   model @extschema@.bgnbd_model)
RETURNS double precision
AS 'MODULE_PATHNAME', 'expected_purchases'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

COMMENT ON FUNCTION @extschema@.expected_purchases(double precision, double precision, double precision, double precision, @extschema@.bgnbd_model) IS
'BG/NBD conditional expected number of purchases in the next horizon time units (the unit of t) of a customer (frequency, recency, t); horizon >= 0. Up to horizons of about 9 times alpha + t the Gauss hypergeometric function is summed after Euler''s transformation, so heavy buyers stay finite; beyond, the posterior expectation over the dropout probability is integrated numerically, so any finite horizon gives a finite value.';

CREATE FUNCTION @extschema@.expected_purchases_method(horizon double precision, frequency double precision,
													  recency double precision, t double precision,
													  model @extschema@.bgnbd_model, method text)
RETURNS double precision
AS 'MODULE_PATHNAME', 'expected_purchases_method'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

COMMENT ON FUNCTION @extschema@.expected_purchases_method(double precision, double precision, double precision, double precision, @extschema@.bgnbd_model, text) IS
'expected_purchases by one method, ''series'' or ''quadrature'', whichever horizon; exposed for checks that the two agree where both apply. The series raises 22003 where it does not converge quickly.';

CREATE FUNCTION @extschema@.expected_spend(frequency double precision, monetary_avg double precision,
										   gg_model @extschema@.gamma_gamma_model)
RETURNS double precision
AS 'MODULE_PATHNAME', 'expected_spend'
LANGUAGE C IMMUTABLE PARALLEL SAFE;

COMMENT ON FUNCTION @extschema@.expected_spend(double precision, double precision, @extschema@.gamma_gamma_model) IS
'Gamma-Gamma conditional expected value of a future transaction, p (v + frequency * monetary_avg) / (p * frequency + q - 1); for frequency = 0 the population mean p v / (q - 1), with monetary_avg ignored. Not strict only so that monetary_avg may be NULL when frequency = 0; any other NULL gives NULL. Raises 22023 when the expectation is infinite (p * frequency + q <= 1).';

CREATE FUNCTION @extschema@.clv(frequency double precision, recency double precision,
								t double precision, monetary_avg double precision,
								bgnbd_model @extschema@.bgnbd_model,
								gg_model @extschema@.gamma_gamma_model,
								months double precision, monthly_discount double precision,
								periods_per_month double precision)
RETURNS double precision
AS 'MODULE_PATHNAME', 'clv'
LANGUAGE C IMMUTABLE PARALLEL SAFE;

COMMENT ON FUNCTION @extschema@.clv(double precision, double precision, double precision, double precision, @extschema@.bgnbd_model, @extschema@.gamma_gamma_model, double precision, double precision, double precision) IS
'Customer lifetime value over months future months: sum over k = 1..months of expected_spend * (expected_purchases(k m) - expected_purchases((k - 1) m)) / (1 + monthly_discount)^k, where m = periods_per_month is the number of time units of t in a month (4.345 for weeks, 30.4375 for days). months is a whole number from 0 to 1200 (more raises 54000), monthly_discount > -1, periods_per_month > 0. Not strict only so that monetary_avg may be NULL when frequency = 0; any other NULL gives NULL.';
-- Simulators: seeded BG/NBD customers and purchase histories, to try the product on realistic data and to test model fits

-- Both simulators are IMMUTABLE: their rows are a function of the arguments
-- alone (their own seeded random streams, dates read as UTC midnights, no
-- table, setting or clock is read), and PostgreSQL never pre-evaluates a
-- set-returning function, so the label cannot freeze a 10M-row result into a
-- plan.  PARALLEL SAFE: each call keeps its random state in its own memory.
CREATE FUNCTION @extschema@.bgnbd_simulate(
	customers bigint,
	t double precision,
	r double precision,
	alpha double precision,
	a double precision,
	b double precision,
	seed bigint,
	t_spread double precision DEFAULT 0)
RETURNS TABLE (customer_id bigint, frequency integer, recency double precision, t double precision)
AS 'MODULE_PATHNAME', 'bgnbd_simulate'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE
ROWS 1000;

COMMENT ON FUNCTION @extschema@.bgnbd_simulate(bigint, double precision, double precision, double precision, double precision, double precision, bigint, double precision) IS
'Simulates customers 1..customers of the BG/NBD model (Fader, Hardie & Lee 2005) and returns their BTYD summary: purchase rate lambda ~ Gamma(shape r, rate alpha), dropout probability p ~ Beta(a, b); a first purchase at time 0, then a Poisson process of rate lambda, and after each repeat purchase a dropout with probability p; observed up to t. frequency = repeat purchases in (0, t], recency = time of the last purchase (0 if none), t = the observation period. Time is in the unit alpha is in (lambda is per unit). t_spread > 0 gives each customer its own period, uniform in [t - t_spread, t] (cohorts of different ages). Same arguments, same rows on every platform; customer i''s row does not depend on customers. customers 0..1e9 (more: 54000); t >= 0, 0 <= t_spread <= t; r, alpha, a, b in [1e-12, 1e12] (else 22023).';

CREATE FUNCTION @extschema@.simulate_transactions(
	customers bigint,
	first_day date,
	last_day date,
	seed bigint,
	r double precision DEFAULT 0.25,
	alpha double precision DEFAULT 4.0,
	a double precision DEFAULT 0.8,
	b double precision DEFAULT 2.5,
	spend_p double precision DEFAULT 6.0,
	spend_q double precision DEFAULT 3.8,
	spend_v double precision DEFAULT 15.0,
	return_share double precision DEFAULT 0.05,
	channels integer DEFAULT 3,
	stores integer DEFAULT 20)
RETURNS TABLE (transaction_id text, customer_id bigint, occurred_at timestamptz, amount numeric, channel text, store text)
AS 'MODULE_PATHNAME', 'simulate_transactions'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE
ROWS 10000;

COMMENT ON FUNCTION @extschema@.simulate_transactions(bigint, date, date, bigint, double precision, double precision, double precision, double precision, double precision, double precision, double precision, double precision, integer, integer) IS
'Simulated transactions of customers 1..customers, in the columns of crm.transactions (INSERT INTO crm.transactions SELECT * FROM crm.simulate_transactions(...)). Every row falls in [first_day, last_day), days taken as 00:00 UTC. Each customer''s first purchase is uniform in that window; then BG/NBD purchases with rates PER WEEK: lambda ~ Gamma(shape r, rate alpha) purchases/week, after each repeat purchase a dropout with probability p ~ Beta(a, b), until dropout or last_day. Amounts follow Gamma-Gamma: per customer nu ~ Gamma(shape spend_q, rate spend_v), each purchase ~ Gamma(shape spend_p, rate nu), rounded to cents (at least 0.01); mean spend_p*spend_v/(spend_q-1). A share return_share of purchases is followed 1-14 days later by a return of all (half of them) or 10-100 % of the amount, negative, with the purchase''s id plus R, unless it would fall on or after last_day. channel: store, online, app, phone, marketplace, social, catalog, kiosk (the first channels; weights 1, 1/2, 1/3, ...); store S001..: 80 % of a customer''s purchases in a home store. transaction_id C<customer, 10 digits>-<purchase number, 6 digits>: unique within a call, prefix it to combine calls. Same arguments, same rows on every platform. customers 0..1e9, channels 1..8, stores 1..99999 (more: 54000); r, alpha, a, b, spend_* in [1e-12, 1e12], 0 <= return_share < 1, last_day > first_day (else 22023).';
-- Segment names from score rules: the rule table, its checks, and the
-- 125-cell map the refresh joins on.

CREATE TABLE @extschema@.segment_rules (
	rule_set	text NOT NULL,
	precedence	integer NOT NULL,
	segment		text NOT NULL,
	r_min		smallint NOT NULL DEFAULT 1,
	r_max		smallint NOT NULL DEFAULT 5,
	f_min		smallint NOT NULL DEFAULT 1,
	f_max		smallint NOT NULL DEFAULT 5,
	m_min		smallint NOT NULL DEFAULT 1,
	m_max		smallint NOT NULL DEFAULT 5,
	fm_min		smallint NOT NULL DEFAULT 1,
	fm_max		smallint NOT NULL DEFAULT 5,
	PRIMARY KEY (rule_set, precedence)
);
COMMENT ON TABLE @extschema@.segment_rules IS
	'Segment rules: a customer gets the segment of the first rule (lowest precedence) whose ranges hold all of their scores. Add a rule set under a new name and switch to it with crm.activate_segment_rules(); the rule set ''default'' belongs to the extension.';
COMMENT ON COLUMN @extschema@.segment_rules.rule_set IS 'Name of the rule set the rule belongs to.';
COMMENT ON COLUMN @extschema@.segment_rules.precedence IS 'Lower numbers are tried first; the first match wins.';
COMMENT ON COLUMN @extschema@.segment_rules.segment IS 'Segment name given by the rule.';
COMMENT ON COLUMN @extschema@.segment_rules.r_min IS 'Lowest R score (1-5) the rule matches.';
COMMENT ON COLUMN @extschema@.segment_rules.r_max IS 'Highest R score (1-5) the rule matches.';
COMMENT ON COLUMN @extschema@.segment_rules.f_min IS 'Lowest F score (1-5) the rule matches.';
COMMENT ON COLUMN @extschema@.segment_rules.f_max IS 'Highest F score (1-5) the rule matches.';
COMMENT ON COLUMN @extschema@.segment_rules.m_min IS 'Lowest M score (1-5) the rule matches.';
COMMENT ON COLUMN @extschema@.segment_rules.m_max IS 'Highest M score (1-5) the rule matches.';
COMMENT ON COLUMN @extschema@.segment_rules.fm_min IS 'Lowest FM score (mean of F and M rounded half up) the rule matches.';
COMMENT ON COLUMN @extschema@.segment_rules.fm_max IS 'Highest FM score the rule matches.';

CREATE FUNCTION @extschema@.segment_rules_check()
RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	IF NOT (1 <= NEW.r_min AND NEW.r_min <= NEW.r_max AND NEW.r_max <= 5
			AND 1 <= NEW.f_min AND NEW.f_min <= NEW.f_max AND NEW.f_max <= 5
			AND 1 <= NEW.m_min AND NEW.m_min <= NEW.m_max AND NEW.m_max <= 5
			AND 1 <= NEW.fm_min AND NEW.fm_min <= NEW.fm_max AND NEW.fm_max <= 5) THEN
		PERFORM @extschema@.config_error(
			format('segment rule %s of rule set %L has an invalid score range: r %s-%s, f %s-%s, m %s-%s, fm %s-%s',
				   NEW.precedence, NEW.rule_set, NEW.r_min, NEW.r_max, NEW.f_min, NEW.f_max,
				   NEW.m_min, NEW.m_max, NEW.fm_min, NEW.fm_max),
			'Every range must lie within 1 to 5 with its minimum not above its maximum.');
	END IF;
	IF btrim(NEW.segment) = '' THEN
		PERFORM @extschema@.config_error(
			format('segment rule %s of rule set %L has an empty segment name', NEW.precedence, NEW.rule_set),
			'Give every rule the segment name customers matching it should get.');
	END IF;
	RETURN NEW;
END
$$;
COMMENT ON FUNCTION @extschema@.segment_rules_check() IS 'Trigger: validates crm.segment_rules.';

CREATE TRIGGER segment_rules_check BEFORE INSERT OR UPDATE ON @extschema@.segment_rules
	FOR EACH ROW EXECUTE FUNCTION @extschema@.segment_rules_check();

-- The complete 11-segment scheme on R and FM (README, "How the numbers are
-- defined", the R x FM table): every one
-- of the 25 R x FM cells is covered and every rule wins at least one cell.
INSERT INTO @extschema@.segment_rules (rule_set, precedence, segment, r_min, r_max, fm_min, fm_max) VALUES
	('default', 10, 'Champions', 5, 5, 5, 5),
	('default', 20, 'Loyal Customers', 3, 5, 4, 5),
	('default', 30, 'Potential Loyalist', 4, 5, 2, 3),
	('default', 40, 'Recent Customers', 5, 5, 1, 1),
	('default', 50, 'Promising', 4, 4, 1, 1),
	('default', 60, 'Customers Needing Attention', 3, 3, 3, 3),
	('default', 70, 'About To Sleep', 3, 3, 1, 2),
	('default', 80, 'Can''t Lose Them', 1, 1, 5, 5),
	('default', 90, 'At Risk', 1, 2, 3, 5),
	('default', 100, 'Hibernating', 2, 2, 2, 2),
	('default', 110, 'Lost', 1, 2, 1, 2);

SELECT pg_catalog.pg_extension_config_dump('@extschema@.segment_rules', $$WHERE rule_set <> 'default'$$);

-- Every (R, F, M) score cell with the segment the active rule set gives it.
CREATE TABLE @extschema@.segment_map (
	rfm_code	smallint PRIMARY KEY,
	r_score		smallint NOT NULL,
	f_score		smallint NOT NULL,
	m_score		smallint NOT NULL,
	fm_score	smallint NOT NULL,
	segment		text NOT NULL,
	precedence	integer
);
COMMENT ON TABLE @extschema@.segment_map IS
	'The 125 score cells and the segment the active rule set gives each; built by crm.activate_segment_rules(). Cells no rule covers get the segment Unclassified.';
COMMENT ON COLUMN @extschema@.segment_map.rfm_code IS 'R*100 + F*10 + M.';
COMMENT ON COLUMN @extschema@.segment_map.r_score IS 'Recency score 1-5.';
COMMENT ON COLUMN @extschema@.segment_map.f_score IS 'Frequency score 1-5.';
COMMENT ON COLUMN @extschema@.segment_map.m_score IS 'Monetary score 1-5.';
COMMENT ON COLUMN @extschema@.segment_map.fm_score IS 'Mean of F and M rounded half up.';
COMMENT ON COLUMN @extschema@.segment_map.segment IS 'Segment of the first matching rule, or Unclassified.';
COMMENT ON COLUMN @extschema@.segment_map.precedence IS 'Precedence of the rule that matched; NULL when none did.';

-- Each score cell with the first rule of the set that matches it.  The cell
-- scores come from crm.rfm_score itself (values equal to bands with breaks
-- 1,2,3,4), so FM is computed exactly as the refresh computes it.
CREATE FUNCTION @extschema@.segment_cells(rule_set text)
RETURNS TABLE (rfm_code smallint, r_score smallint, f_score smallint, m_score smallint,
			   fm_score smallint, segment text, precedence integer)
LANGUAGE sql STABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
	WITH cells AS (
		SELECT (@extschema@.rfm_score(6 - r, f, m, '{1,2,3,4}', '{1,2,3,4}', '{1,2,3,4}')).*
		FROM generate_series(1, 5) AS r, generate_series(1, 5) AS f, generate_series(1, 5) AS m
	)
	SELECT c.rfm_code, c.r_score, c.f_score, c.m_score, c.fm_score, rule.segment, rule.precedence
	FROM cells AS c
	LEFT JOIN LATERAL (
		SELECT sr.segment, sr.precedence
		FROM @extschema@.segment_rules AS sr
		WHERE sr.rule_set = segment_cells.rule_set
		  AND c.r_score BETWEEN sr.r_min AND sr.r_max
		  AND c.f_score BETWEEN sr.f_min AND sr.f_max
		  AND c.m_score BETWEEN sr.m_min AND sr.m_max
		  AND c.fm_score BETWEEN sr.fm_min AND sr.fm_max
		ORDER BY sr.precedence
		LIMIT 1
	) AS rule ON true
$$;
COMMENT ON FUNCTION @extschema@.segment_cells(text) IS
	'The 125 (R, F, M) score cells with the segment and precedence of the first rule of the rule set that matches each (NULL when none). Stable because it reads crm.segment_rules.';

CREATE FUNCTION @extschema@.check_segment_rules(rule_set text)
RETURNS TABLE (problem text, precedence integer, segment text, rfm_code smallint, detail text)
LANGUAGE plpgsql STABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	IF rule_set IS NULL THEN
		RAISE EXCEPTION USING ERRCODE = 'null_value_not_allowed',
			MESSAGE = 'rule_set must not be NULL',
			HINT = 'Name a rule set of crm.segment_rules, e.g. ''default''.';
	END IF;
	IF NOT EXISTS (SELECT 1 FROM @extschema@.segment_rules AS sr WHERE sr.rule_set = check_segment_rules.rule_set) THEN
		RAISE EXCEPTION USING ERRCODE = 'invalid_parameter_value',
			MESSAGE = format('segment rule set %L has no rules', rule_set),
			HINT = format('Rule sets in crm.segment_rules: %s.',
						  (SELECT coalesce(string_agg(DISTINCT quote_literal(sr.rule_set), ', '), 'none')
						   FROM @extschema@.segment_rules AS sr));
	END IF;
	RETURN QUERY
		SELECT 'uncovered cell'::text, NULL::integer, NULL::text, c.rfm_code,
			   format('no rule matches R=%s F=%s M=%s (FM=%s); customers there get the segment Unclassified',
					  c.r_score, c.f_score, c.m_score, c.fm_score)
		FROM @extschema@.segment_cells(check_segment_rules.rule_set) AS c
		WHERE c.precedence IS NULL
		UNION ALL
		SELECT 'unreachable rule', sr.precedence, sr.segment, NULL::smallint,
			   'every score cell this rule covers is taken by a rule with lower precedence, or it covers none'
		FROM @extschema@.segment_rules AS sr
		WHERE sr.rule_set = check_segment_rules.rule_set
		  AND sr.precedence NOT IN (SELECT c.precedence FROM @extschema@.segment_cells(check_segment_rules.rule_set) AS c
									WHERE c.precedence IS NOT NULL)
		ORDER BY 1, 2, 4;
END
$$;
COMMENT ON FUNCTION @extschema@.check_segment_rules(text) IS
	'Reports the score cells a rule set leaves uncovered and the rules of it that can never match. Stable because it reads crm.segment_rules.';

CREATE FUNCTION @extschema@.activate_segment_rules(rule_set text)
RETURNS TABLE (problem text, precedence integer, segment text, rfm_code smallint, detail text)
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	uncovered integer := 0;
	unreachable integer := 0;
	report record;
BEGIN
	FOR report IN SELECT * FROM @extschema@.check_segment_rules(rule_set) LOOP
		IF report.problem = 'uncovered cell' THEN
			uncovered := uncovered + 1;
		ELSE
			unreachable := unreachable + 1;
		END IF;
		problem := report.problem;
		precedence := report.precedence;
		segment := report.segment;
		rfm_code := report.rfm_code;
		detail := report.detail;
		RETURN NEXT;
	END LOOP;

	DELETE FROM @extschema@.segment_map;
	INSERT INTO @extschema@.segment_map
		SELECT c.rfm_code, c.r_score, c.f_score, c.m_score, c.fm_score,
			   coalesce(c.segment, 'Unclassified'), c.precedence
		FROM @extschema@.segment_cells(activate_segment_rules.rule_set) AS c;
	UPDATE @extschema@.settings SET segment_rule_set = rule_set;

	IF uncovered > 0 OR unreachable > 0 THEN
		RAISE WARNING 'segment rule set % leaves % of 125 score cells uncovered and has % unreachable rules',
			quote_literal(rule_set), uncovered, unreachable
			USING HINT = 'The rows returned list them; the next refresh puts customers of uncovered cells in the segment Unclassified.';
	END IF;
END
$$;
COMMENT ON FUNCTION @extschema@.activate_segment_rules(text) IS
	'Makes a rule set the one the refresh uses, rebuilds crm.segment_map, and returns (and warns about) its uncovered cells and unreachable rules. Takes effect at the next refresh.';

-- Build the map for the default rule set at install time.
SELECT count(*) FROM @extschema@.activate_segment_rules('default');
-- Where the refresh reads sales from: crm.transactions, or the retailer's own
-- table or view with the columns customer_id, occurred_at and amount.

-- Checks that a relation can serve as the sales source and returns it.
CREATE FUNCTION @extschema@.check_transaction_source(source regclass)
RETURNS regclass
LANGUAGE plpgsql STABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	required constant text[] := ARRAY['customer_id', 'occurred_at', 'amount'];
	column_name text;
	column_type text;
BEGIN
	IF source IS NULL THEN
		RAISE EXCEPTION USING ERRCODE = 'null_value_not_allowed',
			MESSAGE = 'transaction source must not be NULL',
			HINT = 'Use crm.reset_transaction_source() to read crm.transactions again.';
	END IF;
	IF NOT EXISTS (SELECT 1 FROM pg_class AS c WHERE c.oid = source AND c.relkind IN ('r', 'v', 'm', 'p', 'f')) THEN
		RAISE EXCEPTION USING ERRCODE = 'wrong_object_type',
			MESSAGE = format('transaction source %s is not a table or view', source),
			HINT = 'Point the refresh at a table, view, materialized view or foreign table.';
	END IF;
	FOREACH column_name IN ARRAY required LOOP
		SELECT format_type(a.atttypid, NULL) INTO column_type
		FROM pg_attribute AS a
		WHERE a.attrelid = source AND a.attname = column_name AND a.attnum > 0 AND NOT a.attisdropped;
		IF NOT FOUND THEN
			RAISE EXCEPTION USING ERRCODE = 'undefined_column',
				MESSAGE = format('transaction source %s has no column %I', source, column_name),
				HINT = 'A transaction source needs the columns customer_id (integer type), occurred_at (timestamp with time zone) and amount (numeric type); rename or cast them in a view.';
		END IF;
		IF NOT ((column_name = 'customer_id' AND column_type IN ('smallint', 'integer', 'bigint'))
				OR (column_name = 'occurred_at' AND column_type = 'timestamp with time zone')
				OR (column_name = 'amount' AND column_type IN ('numeric', 'smallint', 'integer', 'bigint',
																 'real', 'double precision', 'money'))) THEN
			RAISE EXCEPTION USING ERRCODE = 'datatype_mismatch',
				MESSAGE = format('column %I of transaction source %s has type %s', column_name, source, column_type),
				DETAIL = CASE column_name
					WHEN 'customer_id' THEN 'customer_id must be smallint, integer or bigint.'
					WHEN 'occurred_at' THEN 'occurred_at must be timestamp with time zone, so that days are counted in one time line.'
					ELSE 'amount must be numeric, an integer type, real, double precision or money.' END,
				HINT = CASE column_name
					WHEN 'customer_id' THEN 'Cast it in a view, e.g. SELECT cust::bigint AS customer_id, ...'
					WHEN 'occurred_at' THEN 'Cast it in a view, e.g. SELECT sold_at AT TIME ZONE ''Europe/London'' AS occurred_at, ... for a timestamp without time zone.'
					ELSE 'Cast it in a view, e.g. SELECT total::numeric AS amount, ...' END;
		END IF;
	END LOOP;
	RETURN source;
END
$$;
COMMENT ON FUNCTION @extschema@.check_transaction_source(regclass) IS
	'Checks that a table or view has the columns customer_id (integer type), occurred_at (timestamptz) and amount (numeric type) the refresh needs; raises 42703 or 42804 with a hint otherwise. Stable because it reads the catalog.';

CREATE FUNCTION @extschema@.set_transaction_source(source regclass)
RETURNS regclass
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	checked regclass := @extschema@.check_transaction_source(source);
BEGIN
	UPDATE @extschema@.settings
	SET source_schema = n.nspname, source_table = c.relname
	FROM pg_class AS c JOIN pg_namespace AS n ON n.oid = c.relnamespace
	WHERE c.oid = checked;
	RETURN checked;
END
$$;
COMMENT ON FUNCTION @extschema@.set_transaction_source(regclass) IS
	'Makes the refresh read sales from this table or view (columns customer_id, occurred_at, amount) instead of crm.transactions. The columns are checked now and at every refresh.';

CREATE FUNCTION @extschema@.reset_transaction_source()
RETURNS regclass
LANGUAGE sql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
	UPDATE @extschema@.settings SET source_schema = NULL, source_table = NULL;
	SELECT '@extschema@.transactions'::regclass;
$$;
COMMENT ON FUNCTION @extschema@.reset_transaction_source() IS
	'Makes the refresh read crm.transactions again.';

-- The sales source the refresh reads now, checked again: it may have been
-- dropped or altered since it was set.
CREATE FUNCTION @extschema@.transaction_source()
RETURNS regclass
LANGUAGE plpgsql STABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	configured record;
	resolved regclass;
BEGIN
	SELECT s.source_schema, s.source_table INTO configured FROM @extschema@.settings AS s;
	IF configured.source_table IS NULL THEN
		RETURN '@extschema@.transactions'::regclass;
	END IF;
	resolved := to_regclass(format('%I.%I', configured.source_schema, configured.source_table));
	IF resolved IS NULL THEN
		RAISE EXCEPTION USING ERRCODE = 'undefined_table',
			MESSAGE = format('transaction source %I.%I does not exist', configured.source_schema, configured.source_table),
			HINT = 'Point the refresh at the renamed table with crm.set_transaction_source(), or back to crm.transactions with crm.reset_transaction_source().';
	END IF;
	RETURN @extschema@.check_transaction_source(resolved);
END
$$;
COMMENT ON FUNCTION @extschema@.transaction_source() IS
	'The table or view the next refresh reads sales from, checked. Stable because it reads crm.settings and the catalog.';
-- Churn and lifetime value: BG/NBD and Gamma-Gamma models fitted from the
-- customer facts, stored with their diagnostics and calibration.

CREATE TABLE @extschema@.models (
	model_id			bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	kind				text NOT NULL CONSTRAINT models_kind_known CHECK (kind IN ('bgnbd', 'gamma_gamma')),
	fitted_at			timestamptz NOT NULL DEFAULT clock_timestamp(),
	as_of				timestamptz NOT NULL,
	time_unit			text NOT NULL DEFAULT 'day',
	source				text,
	r					double precision,
	alpha				double precision,
	a					double precision,
	b					double precision,
	p					double precision,
	q					double precision,
	v					double precision,
	log_likelihood		double precision,
	customers			bigint,
	converged			boolean,
	iterations			integer,
	spend_frequency_corr double precision,
	holdout_end			timestamptz
);
COMMENT ON TABLE @extschema@.models IS
	'Every fitted churn (BG/NBD) and spend (Gamma-Gamma) model with its diagnostics. Time is in days: frequency = repeat purchase days, recency and T in days.';
COMMENT ON COLUMN @extschema@.models.model_id IS 'Model number, increasing.';
COMMENT ON COLUMN @extschema@.models.kind IS 'bgnbd (purchase and dropout process) or gamma_gamma (spend per purchase).';
COMMENT ON COLUMN @extschema@.models.fitted_at IS 'When the model was fitted.';
COMMENT ON COLUMN @extschema@.models.as_of IS 'End of the data the model was fitted on (the calibration end when calibrated).';
COMMENT ON COLUMN @extschema@.models.time_unit IS 'Time unit of recency, T and alpha: day.';
COMMENT ON COLUMN @extschema@.models.source IS 'Sales table or view the facts came from.';
COMMENT ON COLUMN @extschema@.models.r IS 'BG/NBD: shape of the purchase-rate gamma distribution.';
COMMENT ON COLUMN @extschema@.models.alpha IS 'BG/NBD: scale of the purchase-rate gamma distribution, in days.';
COMMENT ON COLUMN @extschema@.models.a IS 'BG/NBD: first shape of the dropout-probability beta distribution.';
COMMENT ON COLUMN @extschema@.models.b IS 'BG/NBD: second shape of the dropout-probability beta distribution.';
COMMENT ON COLUMN @extschema@.models.p IS 'Gamma-Gamma: shape of the spend per purchase.';
COMMENT ON COLUMN @extschema@.models.q IS 'Gamma-Gamma: shape of the customers'' spend scale.';
COMMENT ON COLUMN @extschema@.models.v IS 'Gamma-Gamma: rate (gamma) of the customers'' spend scale.';
COMMENT ON COLUMN @extschema@.models.log_likelihood IS 'Maximised log-likelihood.';
COMMENT ON COLUMN @extschema@.models.customers IS 'Customers the model was fitted on.';
COMMENT ON COLUMN @extschema@.models.converged IS 'Whether the optimiser converged; the refresh scores only with converged models.';
COMMENT ON COLUMN @extschema@.models.iterations IS 'Optimiser iterations.';
COMMENT ON COLUMN @extschema@.models.spend_frequency_corr IS 'Gamma-Gamma: correlation of mean spend and frequency over the fitted customers; the model assumes it is near 0.';
COMMENT ON COLUMN @extschema@.models.holdout_end IS 'End of the holdout period when the model was calibrated; see crm.model_calibration.';

CREATE TABLE @extschema@.model_calibration (
	model_id			bigint NOT NULL REFERENCES @extschema@.models ON DELETE CASCADE,
	frequency_class		integer NOT NULL,
	customers			bigint NOT NULL,
	actual_repeat_purchases double precision NOT NULL,
	predicted_repeat_purchases double precision,
	PRIMARY KEY (model_id, frequency_class)
);
COMMENT ON TABLE @extschema@.model_calibration IS
	'Holdout check of a calibrated BG/NBD model: per number of repeat purchase days in the calibration period, the mean repeat purchase days actually made in the holdout period and the mean the model predicted.';
COMMENT ON COLUMN @extschema@.model_calibration.model_id IS 'BG/NBD model (crm.models).';
COMMENT ON COLUMN @extschema@.model_calibration.frequency_class IS 'Repeat purchase days in the calibration period; 7 stands for 7 or more.';
COMMENT ON COLUMN @extschema@.model_calibration.customers IS 'Customers in the class.';
COMMENT ON COLUMN @extschema@.model_calibration.actual_repeat_purchases IS 'Mean purchase days per customer in the holdout period.';
COMMENT ON COLUMN @extschema@.model_calibration.predicted_repeat_purchases IS 'Mean the model predicted for the holdout period.';

-- Fits both models on the facts in pg_temp.refresh_facts (see
-- crm.build_facts) and stores them.  A model that cannot be fitted (no
-- customer, or no repeat customer for Gamma-Gamma) is not stored.
CREATE FUNCTION @extschema@.fit_models_from_facts(as_of timestamptz, source text,
												  OUT bgnbd_model_id bigint, OUT gamma_gamma_model_id bigint)
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	INSERT INTO @extschema@.models (kind, as_of, source, r, alpha, a, b, log_likelihood, customers, converged, iterations)
	SELECT 'bgnbd', fit_models_from_facts.as_of, fit_models_from_facts.source,
		   (s.m).r, (s.m).alpha, (s.m).a, (s.m).b, (s.m).log_likelihood, (s.m).customers, (s.m).converged, (s.m).iterations
	FROM (SELECT @extschema@.bgnbd_fit(f.btyd_frequency, f.btyd_recency, f.btyd_t) AS m
		  FROM pg_temp.refresh_facts AS f WHERE f.orders > 0) AS s
	WHERE (s.m).r IS NOT NULL
	RETURNING model_id INTO bgnbd_model_id;

	INSERT INTO @extschema@.models (kind, as_of, source, p, q, v, log_likelihood, customers, converged, spend_frequency_corr)
	SELECT 'gamma_gamma', fit_models_from_facts.as_of, fit_models_from_facts.source,
		   (s.m).p, (s.m).q, (s.m).v, (s.m).log_likelihood, (s.m).customers, (s.m).converged, (s.m).spend_frequency_corr
	FROM (SELECT @extschema@.gamma_gamma_fit(f.btyd_frequency, f.avg_repeat_spend) AS m
		  FROM pg_temp.refresh_facts AS f WHERE f.btyd_frequency > 0 AND f.avg_repeat_spend > 0) AS s
	WHERE (s.m).p IS NOT NULL
	RETURNING model_id INTO gamma_gamma_model_id;
END
$$;
COMMENT ON FUNCTION @extschema@.fit_models_from_facts(timestamptz, text) IS
	'Internal: fits and stores BG/NBD and Gamma-Gamma models from the facts of crm.build_facts; returns their ids (NULL when a model could not be fitted).';

CREATE FUNCTION @extschema@.fit_models(as_of timestamptz DEFAULT now(), calibration_end timestamptz DEFAULT NULL)
RETURNS SETOF @extschema@.models
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	source_relation regclass := @extschema@.transaction_source();
	fit_end timestamptz := coalesce(calibration_end, as_of);
	fitted record;
	holdout_days double precision;
BEGIN
	IF as_of IS NULL OR NOT isfinite(as_of) THEN
		RAISE EXCEPTION USING ERRCODE = 'invalid_parameter_value',
			MESSAGE = format('as_of must be a finite timestamp, not %s', coalesce(as_of::text, 'NULL')),
			HINT = 'Give the end of the data to fit on, e.g. crm.fit_models(''2011-12-10'').';
	END IF;
	IF calibration_end IS NOT NULL AND NOT (calibration_end < as_of AND isfinite(calibration_end)) THEN
		RAISE EXCEPTION USING ERRCODE = 'invalid_parameter_value',
			MESSAGE = format('calibration_end must be a finite timestamp before as_of %s, not %s', as_of, calibration_end),
			HINT = 'The models are fitted on the data up to calibration_end and checked against the purchases between calibration_end and as_of.';
	END IF;

	PERFORM @extschema@.build_facts(fit_end, source_relation);
	SELECT * INTO fitted FROM @extschema@.fit_models_from_facts(fit_end, source_relation::text);

	IF calibration_end IS NOT NULL AND fitted.bgnbd_model_id IS NOT NULL THEN
		UPDATE @extschema@.models AS m SET holdout_end = fit_models.as_of
		WHERE m.model_id IN (fitted.bgnbd_model_id, fitted.gamma_gamma_model_id);
		holdout_days := extract(epoch FROM fit_models.as_of - calibration_end) / 86400;
		-- Holdout purchase days are counted like the facts count them:
		-- 24-hour periods back from the end of the period.
		EXECUTE format(
			'INSERT INTO @extschema@.model_calibration
			 SELECT $1, least(f.btyd_frequency, 7), count(*),
					avg(coalesce(h.purchase_days, 0)),
					avg(@extschema@.expected_purchases($2, f.btyd_frequency, f.btyd_recency, f.btyd_t,
													   @extschema@.bgnbd_model(m.r, m.alpha, m.a, m.b)))
			 FROM pg_temp.refresh_facts AS f
			 JOIN @extschema@.models AS m ON m.model_id = $1
			 LEFT JOIN (SELECT s.customer_id::bigint AS customer_id,
							   count(DISTINCT floor(extract(epoch FROM $4 - s.occurred_at) / 86400)) AS purchase_days
						FROM %s AS s
						WHERE s.customer_id IS NOT NULL AND s.amount > 0
						  AND s.occurred_at > $3 AND s.occurred_at <= $4
						GROUP BY 1) AS h USING (customer_id)
			 WHERE f.orders > 0
			 GROUP BY 2', source_relation)
		USING fitted.bgnbd_model_id, holdout_days, calibration_end, fit_models.as_of;
	END IF;

	RETURN QUERY SELECT * FROM @extschema@.models AS m
		WHERE m.model_id IN (fitted.bgnbd_model_id, fitted.gamma_gamma_model_id)
		ORDER BY m.model_id;
END
$$;
COMMENT ON FUNCTION @extschema@.fit_models(timestamptz, timestamptz) IS
	'Fits BG/NBD and Gamma-Gamma on every customer''s facts as of as_of (days as the time unit) and stores them in crm.models. With calibration_end, fits on the data up to calibration_end and stores the holdout check of (calibration_end, as_of] in crm.model_calibration. Returns the stored models.';

-- The model the refresh scores with: the latest converged one of a kind.
CREATE FUNCTION @extschema@.current_model_id(kind text)
RETURNS bigint
LANGUAGE sql STABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
	SELECT max(m.model_id) FROM @extschema@.models AS m
	WHERE m.kind = current_model_id.kind AND m.converged
$$;
COMMENT ON FUNCTION @extschema@.current_model_id(text) IS
	'The latest converged model of a kind (bgnbd or gamma_gamma), NULL when there is none. Stable because it reads crm.models.';

SELECT pg_catalog.pg_extension_config_dump('@extschema@.models', '');
SELECT pg_catalog.pg_extension_config_dump('@extschema@.model_calibration', '');
-- The segment refresh: per-customer facts in one pass over the sales source,
-- RFM scores, segment, lifecycle stage; published atomically and logged.

CREATE TABLE @extschema@.refresh_runs (
	run_id				bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	as_of				timestamptz NOT NULL,
	status				text NOT NULL DEFAULT 'running'
		CONSTRAINT refresh_runs_status_known CHECK (status IN ('running', 'succeeded', 'failed')),
	stage				text NOT NULL DEFAULT 'queued',
	rows_done			bigint NOT NULL DEFAULT 0,
	started_at			timestamptz NOT NULL DEFAULT clock_timestamp(),
	finished_at			timestamptz,
	source				text,
	rfm_method			text,
	segment_rule_set	text,
	customers			bigint,
	scored_customers	bigint,
	anonymous_rows		bigint,
	future_rows			bigint,
	error_sqlstate		text,
	error_message		text,
	backend_pid			integer NOT NULL DEFAULT pg_backend_pid(),
	backend_start		timestamptz
);
COMMENT ON TABLE @extschema@.refresh_runs IS
	'One row per call of crm.refresh_segments: when, on what, how it went. A run whose backend died is marked failed by the next refresh.';
COMMENT ON COLUMN @extschema@.refresh_runs.run_id IS 'Run number, increasing.';
COMMENT ON COLUMN @extschema@.refresh_runs.as_of IS 'Analysis date the run scored customers at.';
COMMENT ON COLUMN @extschema@.refresh_runs.status IS 'running, succeeded or failed.';
COMMENT ON COLUMN @extschema@.refresh_runs.stage IS 'Stage reached: queued, facts, scores, models, publish, done; for a failed run the stage it failed in.';
COMMENT ON COLUMN @extschema@.refresh_runs.rows_done IS 'Rows produced by the last stage that finished.';
COMMENT ON COLUMN @extschema@.refresh_runs.started_at IS 'When the run was called.';
COMMENT ON COLUMN @extschema@.refresh_runs.finished_at IS 'When it succeeded or failed.';
COMMENT ON COLUMN @extschema@.refresh_runs.source IS 'Table or view the sales were read from.';
COMMENT ON COLUMN @extschema@.refresh_runs.rfm_method IS 'Score binning method used.';
COMMENT ON COLUMN @extschema@.refresh_runs.segment_rule_set IS 'Segment rule set used.';
COMMENT ON COLUMN @extschema@.refresh_runs.customers IS 'Rows written to crm.customer_segments.';
COMMENT ON COLUMN @extschema@.refresh_runs.scored_customers IS 'Customers with at least one purchase, who get RFM scores.';
COMMENT ON COLUMN @extschema@.refresh_runs.anonymous_rows IS 'Sales rows without a customer_id, left out of customer metrics.';
COMMENT ON COLUMN @extschema@.refresh_runs.future_rows IS 'Sales rows dated after as_of, left out.';
COMMENT ON COLUMN @extschema@.refresh_runs.error_sqlstate IS 'SQLSTATE of the error a failed run stopped on.';
COMMENT ON COLUMN @extschema@.refresh_runs.error_message IS 'Message of the error a failed run stopped on.';
COMMENT ON COLUMN @extschema@.refresh_runs.backend_pid IS 'Process that ran the refresh.';
COMMENT ON COLUMN @extschema@.refresh_runs.backend_start IS 'Start time of that process, to tell it from a later one with the same pid.';

-- The published snapshot.  Rewritten in one transaction by each refresh.
CREATE TABLE @extschema@.customer_segments (
	customer_id			bigint PRIMARY KEY,
	as_of				timestamptz NOT NULL,
	run_id				bigint NOT NULL,
	first_purchase_at	timestamptz,
	last_purchase_at	timestamptz,
	recency_days		integer,
	frequency			bigint NOT NULL,
	monetary			numeric NOT NULL,
	returns				bigint NOT NULL,
	r_score				smallint,
	f_score				smallint,
	m_score				smallint,
	fm_score			smallint,
	rfm_code			smallint,
	segment				text,
	lifecycle_stage		text NOT NULL,
	tenure_days			integer,
	purchase_days		integer,
	btyd_frequency		integer,
	btyd_recency		integer,
	btyd_t				integer,
	avg_repeat_spend	numeric,
	last_gap_days		integer,
	median_gap_days		double precision,
	one_time_buyer		boolean,
	p_alive				double precision,
	churn_risk			double precision,
	expected_purchases	double precision,
	expected_spend		double precision,
	clv					double precision,
	bgnbd_model_id		bigint,
	gamma_gamma_model_id bigint
);
COMMENT ON TABLE @extschema@.customer_segments IS
	'One row per customer as of the last successful refresh: RFM facts and scores, segment, lifecycle stage. Replaced atomically by crm.refresh_segments. Days are 24-hour periods counted back from as_of.';
COMMENT ON COLUMN @extschema@.customer_segments.customer_id IS 'Customer key.';
COMMENT ON COLUMN @extschema@.customer_segments.as_of IS 'Analysis date of the refresh.';
COMMENT ON COLUMN @extschema@.customer_segments.run_id IS 'Refresh run that wrote the row (crm.refresh_runs).';
COMMENT ON COLUMN @extschema@.customer_segments.first_purchase_at IS 'First purchase (amount > 0) up to as_of.';
COMMENT ON COLUMN @extschema@.customer_segments.last_purchase_at IS 'Last purchase up to as_of.';
COMMENT ON COLUMN @extschema@.customer_segments.recency_days IS 'R: whole days from the last purchase to as_of; NULL without a purchase.';
COMMENT ON COLUMN @extschema@.customer_segments.frequency IS 'F: number of orders with a positive amount.';
COMMENT ON COLUMN @extschema@.customer_segments.monetary IS 'M: net spend, purchases minus returns.';
COMMENT ON COLUMN @extschema@.customer_segments.returns IS 'Number of return transactions (negative amount).';
COMMENT ON COLUMN @extschema@.customer_segments.r_score IS 'Recency score 1-5, 5 = most recent; NULL for customers without a purchase.';
COMMENT ON COLUMN @extschema@.customer_segments.f_score IS 'Frequency score 1-5, 5 = most orders.';
COMMENT ON COLUMN @extschema@.customer_segments.m_score IS 'Monetary score 1-5, 5 = highest net spend.';
COMMENT ON COLUMN @extschema@.customer_segments.fm_score IS 'Mean of F and M rounded half up: the FM axis of the segment grid.';
COMMENT ON COLUMN @extschema@.customer_segments.rfm_code IS 'R*100 + F*10 + M, e.g. 555.';
COMMENT ON COLUMN @extschema@.customer_segments.segment IS 'Segment from the active rule set; NULL for customers without a purchase (not scored).';
COMMENT ON COLUMN @extschema@.customer_segments.lifecycle_stage IS 'prospect, new, active, at-risk, dormant, lost or reactivated.';
COMMENT ON COLUMN @extschema@.customer_segments.tenure_days IS 'Whole days from the first purchase to as_of.';
COMMENT ON COLUMN @extschema@.customer_segments.purchase_days IS 'Distinct days with a purchase.';
COMMENT ON COLUMN @extschema@.customer_segments.btyd_frequency IS 'BG/NBD x: repeat purchase days (purchase_days - 1).';
COMMENT ON COLUMN @extschema@.customer_segments.btyd_recency IS 'BG/NBD t_x in days: from the first to the last purchase day.';
COMMENT ON COLUMN @extschema@.customer_segments.btyd_t IS 'BG/NBD T in days: from the first purchase day to as_of.';
COMMENT ON COLUMN @extschema@.customer_segments.avg_repeat_spend IS 'Mean purchase value of the repeat purchase days (Gamma-Gamma input); NULL when there is none.';
COMMENT ON COLUMN @extschema@.customer_segments.last_gap_days IS 'Days between the two latest purchase days.';
COMMENT ON COLUMN @extschema@.customer_segments.median_gap_days IS 'Median days between consecutive purchase days.';
COMMENT ON COLUMN @extschema@.customer_segments.one_time_buyer IS 'True when the customer bought on one day only (BG/NBD x = 0): their P(alive) = 1 is a property of the model, not a prediction.';
COMMENT ON COLUMN @extschema@.customer_segments.p_alive IS 'BG/NBD probability that the customer is still active; NULL without a purchase or a converged model.';
COMMENT ON COLUMN @extschema@.customer_segments.churn_risk IS '1 - p_alive.';
COMMENT ON COLUMN @extschema@.customer_segments.expected_purchases IS 'Purchase days the BG/NBD model expects in the next crm.settings.churn_horizon_days days.';
COMMENT ON COLUMN @extschema@.customer_segments.expected_spend IS 'Gamma-Gamma expected spend per purchase day (the population mean for one-time buyers).';
COMMENT ON COLUMN @extschema@.customer_segments.clv IS 'Customer lifetime value over crm.settings.clv_months months, discounted monthly by crm.settings.monthly_discount.';
COMMENT ON COLUMN @extschema@.customer_segments.bgnbd_model_id IS 'BG/NBD model used (crm.models).';
COMMENT ON COLUMN @extschema@.customer_segments.gamma_gamma_model_id IS 'Gamma-Gamma model used (crm.models).';

CREATE INDEX customer_segments_segment_idx ON @extschema@.customer_segments (segment);

-- Break points each run used, one row per metric.
CREATE TABLE @extschema@.rfm_break_points (
	run_id		bigint NOT NULL REFERENCES @extschema@.refresh_runs ON DELETE CASCADE,
	metric		text NOT NULL,
	method		text NOT NULL,
	break_1		double precision,
	break_2		double precision,
	break_3		double precision,
	break_4		double precision,
	PRIMARY KEY (run_id, metric)
);
COMMENT ON TABLE @extschema@.rfm_break_points IS
	'The break points each refresh scored with. Band = 1 + number of breaks below the value; F and M scores are the band, R is 6 - band. For equal_count the breaks are the values at the group boundaries (ties there are split by customer_id).';
COMMENT ON COLUMN @extschema@.rfm_break_points.run_id IS 'Refresh run.';
COMMENT ON COLUMN @extschema@.rfm_break_points.metric IS 'recency (days), frequency (orders) or monetary (net spend).';
COMMENT ON COLUMN @extschema@.rfm_break_points.method IS 'quantile, equal_count or fixed.';
COMMENT ON COLUMN @extschema@.rfm_break_points.break_1 IS 'Upper bound (inclusive) of band 1.';
COMMENT ON COLUMN @extschema@.rfm_break_points.break_2 IS 'Upper bound (inclusive) of band 2.';
COMMENT ON COLUMN @extschema@.rfm_break_points.break_3 IS 'Upper bound (inclusive) of band 3.';
COMMENT ON COLUMN @extschema@.rfm_break_points.break_4 IS 'Upper bound (inclusive) of band 4.';

-- Each customer's segment per run, for migration analysis.
-- No foreign key to refresh_runs: runs are never deleted, and checking one
-- per customer row was most of the cost of writing the history.
CREATE TABLE @extschema@.segment_history (
	run_id			bigint NOT NULL,
	customer_id		bigint NOT NULL,
	segment			text,
	lifecycle_stage	text NOT NULL,
	rfm_code		smallint,
	PRIMARY KEY (run_id, customer_id)
);
COMMENT ON TABLE @extschema@.segment_history IS
	'Segment and lifecycle stage of every customer at each of the last crm.settings.history_runs_kept successful runs.';
COMMENT ON COLUMN @extschema@.segment_history.run_id IS 'Refresh run.';
COMMENT ON COLUMN @extschema@.segment_history.customer_id IS 'Customer key.';
COMMENT ON COLUMN @extschema@.segment_history.segment IS 'Segment at that run; NULL when not scored.';
COMMENT ON COLUMN @extschema@.segment_history.lifecycle_stage IS 'Lifecycle stage at that run.';
COMMENT ON COLUMN @extschema@.segment_history.rfm_code IS 'RFM code at that run.';

-- Stage progress: in the run row, in the session (NOTICE) and in the server log.
CREATE FUNCTION @extschema@.refresh_progress(run_id bigint, stage text, rows_done bigint)
RETURNS void
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	UPDATE @extschema@.refresh_runs AS r
	SET stage = refresh_progress.stage, rows_done = refresh_progress.rows_done
	WHERE r.run_id = refresh_progress.run_id;
	RAISE NOTICE 'retail_crm refresh run %: stage %, % rows', run_id, stage, rows_done;
	RAISE LOG 'retail_crm refresh run %: stage %, % rows', run_id, stage, rows_done;
END
$$;
COMMENT ON FUNCTION @extschema@.refresh_progress(bigint, text, bigint) IS
	'Internal: records the stage a refresh reached and reports it to the session and the server log.';

-- First transaction of a refresh: log the run before any work, so that a
-- run whose backend is killed stays visible, and close such runs of the past.
CREATE FUNCTION @extschema@.refresh_start(as_of timestamptz)
RETURNS bigint
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	new_run bigint;
BEGIN
	IF as_of IS NULL THEN
		RAISE EXCEPTION USING ERRCODE = 'null_value_not_allowed',
			MESSAGE = 'as_of must not be NULL',
			HINT = 'Call crm.refresh_segments() for now, or give the analysis date, e.g. CALL crm.refresh_segments(''2011-12-10'').';
	END IF;
	IF NOT isfinite(as_of) THEN
		RAISE EXCEPTION USING ERRCODE = 'invalid_parameter_value',
			MESSAGE = format('as_of must be a finite timestamp, not %s', as_of),
			HINT = 'Give the analysis date the scores should describe.';
	END IF;

	UPDATE @extschema@.refresh_runs AS r
	SET status = 'failed', finished_at = clock_timestamp(), error_sqlstate = '57P01',
		error_message = 'the backend running this refresh ended before it finished (killed, crashed or server restart)'
	WHERE r.status = 'running'
	  AND NOT EXISTS (SELECT 1 FROM pg_stat_activity AS a
					  WHERE a.pid = r.backend_pid
						AND (a.backend_start IS NULL OR a.backend_start = r.backend_start));

	INSERT INTO @extschema@.refresh_runs (as_of, backend_start)
	SELECT refresh_start.as_of, a.backend_start FROM pg_stat_activity AS a WHERE a.pid = pg_backend_pid()
	RETURNING run_id INTO new_run;
	RETURN new_run;
END
$$;
COMMENT ON FUNCTION @extschema@.refresh_start(timestamptz) IS
	'Internal: validates as_of, marks runs of dead backends failed, logs a new run and returns its id.';

-- Every customer's facts as of a date, in one pass over the sales source,
-- into the temporary table refresh_facts (dropped at commit).  Shared by the
-- refresh and the model fit, which may run in the same transaction.
CREATE FUNCTION @extschema@.build_facts(as_of timestamptz, source regclass,
										OUT anonymous_rows bigint, OUT future_rows bigint,
										OUT customers bigint, OUT scored_customers bigint)
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	IF to_regclass('pg_temp.refresh_facts') IS NOT NULL THEN
		DROP TABLE pg_temp.refresh_facts;
	END IF;
	-- The FILTER keeps anonymous rows out of the facts while the same scan
	-- counts them.
	EXECUTE format(
		'CREATE TEMP TABLE refresh_facts ON COMMIT DROP AS
		 SELECT g.customer_id, g.source_rows, (g.facts).*
		 FROM (SELECT s.customer_id::bigint AS customer_id, count(*) AS source_rows,
					  @extschema@.customer_facts(s.occurred_at, s.amount::numeric, $1)
						FILTER (WHERE s.customer_id IS NOT NULL) AS facts
			   FROM %s AS s
			   GROUP BY s.customer_id) AS g', source)
	USING as_of;
	SELECT coalesce(sum(f.source_rows) FILTER (WHERE f.customer_id IS NULL), 0),
		   coalesce(sum(f.future_rows), 0),
		   count(f.customer_id),
		   count(*) FILTER (WHERE f.orders > 0)
	INTO anonymous_rows, future_rows, customers, scored_customers
	FROM pg_temp.refresh_facts AS f;
	DELETE FROM pg_temp.refresh_facts AS f WHERE f.customer_id IS NULL;
	ANALYZE pg_temp.refresh_facts;
END
$$;
COMMENT ON FUNCTION @extschema@.build_facts(timestamptz, regclass) IS
	'Internal: computes every customer''s crm.customer_facts as of a date from a sales source into the temporary table refresh_facts and returns the counts of anonymous, future, customer and scored rows.';

-- Second transaction: build and publish.  Returns NULL on success, or the
-- error as {sqlstate, message, detail, hint} after logging the run as failed.
CREATE FUNCTION @extschema@.refresh_build(run_id bigint)
RETURNS text[]
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	run record;
	cfg record;
	current_stage text := 'queued';
	source_relation regclass;
	facts record;
	n_customers bigint;
	n_scored bigint;
	n_rows bigint;
	r_breaks double precision[];
	f_breaks double precision[];
	m_breaks double precision[];
	score_inputs text;
	bgnbd @extschema@.bgnbd_model;
	gamma_gamma @extschema@.gamma_gamma_model;
	bgnbd_id bigint;
	gamma_gamma_id bigint;
	e_state text;
	e_message text;
	e_detail text;
	e_hint text;
BEGIN
	-- One refresh at a time: a second caller waits here until the first commits.
	PERFORM pg_advisory_xact_lock(hashtext('retail_crm.refresh_segments'));

	SELECT * INTO run FROM @extschema@.refresh_runs AS r WHERE r.run_id = refresh_build.run_id;
	SELECT * INTO cfg FROM @extschema@.settings;
	BEGIN
		current_stage := 'facts';
		source_relation := @extschema@.transaction_source();
		UPDATE @extschema@.refresh_runs AS r
		SET source = source_relation::text, rfm_method = cfg.rfm_method, segment_rule_set = cfg.segment_rule_set
		WHERE r.run_id = refresh_build.run_id;

		SELECT * INTO facts FROM @extschema@.build_facts(run.as_of, source_relation);
		run.anonymous_rows := facts.anonymous_rows;
		run.future_rows := facts.future_rows;
		n_customers := facts.customers;
		n_scored := facts.scored_customers;
		PERFORM @extschema@.refresh_progress(run_id, current_stage, n_customers);

		current_stage := 'scores';
		IF cfg.rfm_method = 'fixed' THEN
			SELECT max(ARRAY[b.break_1, b.break_2, b.break_3, b.break_4]) FILTER (WHERE b.metric = 'recency'),
				   max(ARRAY[b.break_1, b.break_2, b.break_3, b.break_4]) FILTER (WHERE b.metric = 'frequency'),
				   max(ARRAY[b.break_1, b.break_2, b.break_3, b.break_4]) FILTER (WHERE b.metric = 'monetary')
			INTO r_breaks, f_breaks, m_breaks
			FROM @extschema@.rfm_fixed_breaks AS b;
			IF r_breaks IS NULL OR f_breaks IS NULL OR m_breaks IS NULL THEN
				RAISE EXCEPTION USING ERRCODE = 'invalid_parameter_value',
					MESSAGE = 'crm.rfm_fixed_breaks must have a row for each of recency, frequency and monetary',
					HINT = 'Insert the missing rows, e.g. INSERT INTO crm.rfm_fixed_breaks VALUES (''monetary'', 250, 500, 1000, 2500).';
			END IF;
			score_inputs := 'f.recency_days, f.orders, f.net_spend';
		ELSIF cfg.rfm_method = 'quantile' THEN
			SELECT percentile_disc(ARRAY[0.2, 0.4, 0.6, 0.8]) WITHIN GROUP (ORDER BY f.recency_days::double precision),
				   percentile_disc(ARRAY[0.2, 0.4, 0.6, 0.8]) WITHIN GROUP (ORDER BY f.orders::double precision),
				   percentile_disc(ARRAY[0.2, 0.4, 0.6, 0.8]) WITHIN GROUP (ORDER BY f.net_spend::double precision)
			INTO r_breaks, f_breaks, m_breaks
			FROM pg_temp.refresh_facts AS f WHERE f.orders > 0;
			score_inputs := 'f.recency_days, f.orders, f.net_spend';
		ELSE
			-- equal_count: score ranks instead of values.  Breaks at the NTILE(5)
			-- group ends: the first n % 5 groups hold one customer more.
			SELECT array_agg(k * (n_scored / 5) + least(k, n_scored % 5) ORDER BY k)
			INTO r_breaks FROM generate_series(1, 4) AS k;
			f_breaks := r_breaks;
			m_breaks := r_breaks;
			score_inputs :=
				'CASE WHEN f.orders > 0 THEN row_number() OVER (PARTITION BY f.orders > 0 ORDER BY f.recency_days, f.customer_id) END,
				 CASE WHEN f.orders > 0 THEN row_number() OVER (PARTITION BY f.orders > 0 ORDER BY f.orders, f.customer_id DESC) END,
				 CASE WHEN f.orders > 0 THEN row_number() OVER (PARTITION BY f.orders > 0 ORDER BY f.net_spend, f.customer_id DESC) END';
		END IF;

		-- OFFSET 0 keeps the planner from expanding (scores).* into one
		-- rfm_score call per column.
		EXECUTE format(
			'CREATE TEMP TABLE refresh_scored ON COMMIT DROP AS
			 SELECT sc.customer_id, sc.r_input, sc.f_input, sc.m_input, (sc.scores).*
			 FROM (SELECT i.*, @extschema@.rfm_score(i.r_input, i.f_input, i.m_input, $1, $2, $3) AS scores
				   FROM (SELECT f.customer_id, %s
						 FROM pg_temp.refresh_facts AS f) AS i (customer_id, r_input, f_input, m_input)
				   OFFSET 0) AS sc', score_inputs)
		USING r_breaks, f_breaks, m_breaks;

		IF cfg.rfm_method = 'equal_count' THEN
			-- Report the values at the group ends, not the ranks.
			SELECT array_agg(f.recency_days::double precision ORDER BY s.r_input) FILTER (WHERE s.r_input = ANY (r_breaks)),
				   array_agg(f.orders::double precision ORDER BY s.f_input) FILTER (WHERE s.f_input = ANY (f_breaks)),
				   array_agg(f.net_spend::double precision ORDER BY s.m_input) FILTER (WHERE s.m_input = ANY (m_breaks))
			INTO r_breaks, f_breaks, m_breaks
			FROM pg_temp.refresh_scored AS s JOIN pg_temp.refresh_facts AS f USING (customer_id);
		END IF;
		INSERT INTO @extschema@.rfm_break_points
		VALUES (refresh_build.run_id, 'recency', cfg.rfm_method, r_breaks[1], r_breaks[2], r_breaks[3], r_breaks[4]),
			   (refresh_build.run_id, 'frequency', cfg.rfm_method, f_breaks[1], f_breaks[2], f_breaks[3], f_breaks[4]),
			   (refresh_build.run_id, 'monetary', cfg.rfm_method, m_breaks[1], m_breaks[2], m_breaks[3], m_breaks[4]);
		PERFORM @extschema@.refresh_progress(run_id, current_stage, n_scored);

		current_stage := 'models';
		IF cfg.model_refit = 'every_refresh' THEN
			PERFORM @extschema@.fit_models_from_facts(run.as_of, source_relation::text);
		END IF;
		bgnbd_id := @extschema@.current_model_id('bgnbd');
		gamma_gamma_id := @extschema@.current_model_id('gamma_gamma');
		-- Assigned whole, so that no model gives a NULL model (which the
		-- strict scoring functions turn into NULL scores), not a model of NULLs.
		bgnbd := (SELECT @extschema@.bgnbd_model(m.r, m.alpha, m.a, m.b)
				  FROM @extschema@.models AS m WHERE m.model_id = bgnbd_id);
		gamma_gamma := (SELECT @extschema@.gamma_gamma_model(m.p, m.q, m.v)
						FROM @extschema@.models AS m WHERE m.model_id = gamma_gamma_id);
		PERFORM @extschema@.refresh_progress(run_id, current_stage, n_scored);

		-- Readers keep seeing the previous snapshot until this transaction commits.
		current_stage := 'publish';
		DELETE FROM @extschema@.customer_segments;
		INSERT INTO @extschema@.customer_segments
		SELECT f.customer_id, run.as_of, refresh_build.run_id, f.first_purchase_at, f.last_purchase_at,
			   f.recency_days, f.orders, f.net_spend, f.returns,
			   s.r_score, s.f_score, s.m_score, s.fm_score, s.rfm_code,
			   CASE WHEN f.orders > 0 THEN coalesce(map.segment, 'Unclassified') END,
			   @extschema@.lifecycle_stage(f.orders, f.recency_days, f.tenure_days, f.last_gap_days,
										   cfg.new_days, cfg.active_days, cfg.at_risk_days, cfg.dormant_days),
			   f.tenure_days, f.purchase_days, f.btyd_frequency, f.btyd_recency, f.btyd_t,
			   f.avg_repeat_spend, f.last_gap_days, f.median_gap_days,
			   f.btyd_frequency = 0, v.p_alive, 1 - v.p_alive, v.expected_purchases, v.expected_spend, v.clv,
			   bgnbd_id, gamma_gamma_id
		FROM pg_temp.refresh_facts AS f
		JOIN pg_temp.refresh_scored AS s USING (customer_id)
		LEFT JOIN @extschema@.segment_map AS map ON map.rfm_code = s.rfm_code
		-- Customers without a purchase have NULL BTYD facts: the strict
		-- model functions give NULL.  One-time buyers have no mean repeat
		-- spend: 0 makes Gamma-Gamma return the population mean.
		CROSS JOIN LATERAL (
			SELECT @extschema@.p_alive(f.btyd_frequency, f.btyd_recency, f.btyd_t, bgnbd) AS p_alive,
				   @extschema@.expected_purchases(cfg.churn_horizon_days, f.btyd_frequency, f.btyd_recency,
												  f.btyd_t, bgnbd) AS expected_purchases,
				   @extschema@.expected_spend(f.btyd_frequency, coalesce(f.avg_repeat_spend, 0), gamma_gamma) AS expected_spend,
				   @extschema@.clv(f.btyd_frequency, f.btyd_recency, f.btyd_t, coalesce(f.avg_repeat_spend, 0),
								   bgnbd, gamma_gamma, cfg.clv_months, cfg.monthly_discount, 365.25 / 12) AS clv
		) AS v
		UNION ALL
		SELECT c.customer_id, run.as_of, refresh_build.run_id, NULL, NULL, NULL, 0, 0, 0,
			   NULL, NULL, NULL, NULL, NULL, NULL,
			   @extschema@.lifecycle_stage(0, NULL, NULL, NULL,
										   cfg.new_days, cfg.active_days, cfg.at_risk_days, cfg.dormant_days),
			   NULL, 0, NULL, NULL, NULL, NULL, NULL, NULL,
			   NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL
		FROM @extschema@.customers AS c
		WHERE NOT EXISTS (SELECT 1 FROM pg_temp.refresh_facts AS f WHERE f.customer_id = c.customer_id);
		GET DIAGNOSTICS n_rows = ROW_COUNT;

		INSERT INTO @extschema@.segment_history
		SELECT refresh_build.run_id, cs.customer_id, cs.segment, cs.lifecycle_stage, cs.rfm_code
		FROM @extschema@.customer_segments AS cs;
		PERFORM @extschema@.refresh_progress(run_id, current_stage, n_rows);

		UPDATE @extschema@.refresh_runs AS r
		SET status = 'succeeded', stage = 'done', finished_at = clock_timestamp(),
			customers = n_rows, scored_customers = n_scored,
			anonymous_rows = run.anonymous_rows, future_rows = run.future_rows
		WHERE r.run_id = refresh_build.run_id;
		-- The run log stays; only per-customer history of old runs goes.
		DELETE FROM @extschema@.segment_history AS h
		WHERE h.run_id < (SELECT min(kept.run_id)
						  FROM (SELECT r.run_id FROM @extschema@.refresh_runs AS r
								WHERE r.status = 'succeeded'
								ORDER BY r.run_id DESC LIMIT cfg.history_runs_kept) AS kept);
		DROP TABLE pg_temp.refresh_facts, pg_temp.refresh_scored;
		RETURN NULL;
	EXCEPTION WHEN OTHERS THEN
		GET STACKED DIAGNOSTICS e_state = RETURNED_SQLSTATE, e_message = MESSAGE_TEXT,
								e_detail = PG_EXCEPTION_DETAIL, e_hint = PG_EXCEPTION_HINT;
		UPDATE @extschema@.refresh_runs AS r
		SET status = 'failed', stage = current_stage, finished_at = clock_timestamp(),
			error_sqlstate = e_state, error_message = e_message
		WHERE r.run_id = refresh_build.run_id;
		RETURN ARRAY[e_state, e_message, e_detail, e_hint];
	END;
END
$$;
COMMENT ON FUNCTION @extschema@.refresh_build(bigint) IS
	'Internal: second transaction of a refresh. Builds facts, scores and segments and replaces crm.customer_segments; on error logs the run as failed and returns the error.';

-- Re-raises a refresh error after its failure has been committed to the log.
CREATE FUNCTION @extschema@.refresh_raise(run_id bigint, failure text[])
RETURNS void
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	RAISE EXCEPTION USING ERRCODE = failure[1], MESSAGE = failure[2],
		DETAIL = concat_ws(' ', nullif(failure[3], ''),
						   format('Refresh run %s is logged as failed in crm.refresh_runs.', run_id)),
		HINT = coalesce(nullif(failure[4], ''), 'See crm.refresh_runs for the stage it failed in.');
END
$$;
COMMENT ON FUNCTION @extschema@.refresh_raise(bigint, text[]) IS
	'Internal: raises the error a refresh run failed with.';

-- No SET search_path on this procedure: PostgreSQL forbids COMMIT in a
-- procedure with SET clauses.  It only calls schema-qualified functions that
-- pin their own search_path.
CREATE PROCEDURE @extschema@.refresh_segments(as_of timestamptz DEFAULT pg_catalog.now())
LANGUAGE plpgsql
AS $$
DECLARE
	run bigint;
	failure text[];
BEGIN
	run := @extschema@.refresh_start(as_of);
	COMMIT;
	failure := @extschema@.refresh_build(run);
	COMMIT;
	IF failure IS NOT NULL THEN
		PERFORM @extschema@.refresh_raise(run, failure);
	END IF;
END
$$;
COMMENT ON PROCEDURE @extschema@.refresh_segments(timestamptz) IS
	'Rebuilds crm.customer_segments as of the given analysis date (default now()): facts, RFM scores, segments, lifecycle stages. Readers see the old snapshot until the new one is committed. Call it outside an explicit transaction block (it commits the run log before working). A concurrent call waits for the running one.';
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
	   cs.one_time_buyer, cs.p_alive, cs.churn_risk, cs.expected_purchases, cs.expected_spend, cs.clv,
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
COMMENT ON COLUMN @extschema@.customer_360.one_time_buyer IS 'Bought on one day only: P(alive) = 1 by the model''s construction, not a prediction.';
COMMENT ON COLUMN @extschema@.customer_360.p_alive IS 'BG/NBD probability that the customer is still active.';
COMMENT ON COLUMN @extschema@.customer_360.churn_risk IS '1 - p_alive.';
COMMENT ON COLUMN @extschema@.customer_360.expected_purchases IS 'Purchase days expected in the next crm.settings.churn_horizon_days days.';
COMMENT ON COLUMN @extschema@.customer_360.expected_spend IS 'Expected spend per purchase day (Gamma-Gamma).';
COMMENT ON COLUMN @extschema@.customer_360.clv IS 'Customer lifetime value over crm.settings.clv_months months, discounted.';
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

-- Valuable repeat customers the churn model thinks are slipping away,
-- most value at stake first.  One-time buyers are left out: for them
-- P(alive) = 1 by the model's construction, so the model cannot warn.
CREATE VIEW @extschema@.churn_watch_list AS
SELECT cs.customer_id, cs.segment, cs.lifecycle_stage,
	   cs.recency_days, cs.frequency, cs.monetary,
	   round(cs.p_alive::numeric, 4) AS p_alive,
	   round(cs.churn_risk::numeric, 4) AS churn_risk,
	   round(cs.expected_purchases::numeric, 3) AS expected_purchases,
	   round(cs.clv::numeric, 2) AS clv,
	   round((cs.clv * cs.churn_risk / cs.p_alive)::numeric, 2) AS clv_at_risk,
	   cs.as_of
FROM @extschema@.customer_segments AS cs
WHERE NOT cs.one_time_buyer
  AND cs.m_score >= 4
  AND cs.p_alive > 0
  AND cs.churn_risk >= (SELECT s.churn_risk_threshold FROM @extschema@.settings AS s)
ORDER BY clv_at_risk DESC, cs.customer_id;
COMMENT ON VIEW @extschema@.churn_watch_list IS
	'Repeat customers in the top two monetary scores whose churn risk is at least crm.settings.churn_risk_threshold, ordered by the CLV at risk. One-time buyers are not listed: the BG/NBD model gives them P(alive) = 1 by construction (see crm.customer_360.one_time_buyer).';
COMMENT ON COLUMN @extschema@.churn_watch_list.customer_id IS 'Customer key.';
COMMENT ON COLUMN @extschema@.churn_watch_list.segment IS 'RFM segment.';
COMMENT ON COLUMN @extschema@.churn_watch_list.lifecycle_stage IS 'Lifecycle stage.';
COMMENT ON COLUMN @extschema@.churn_watch_list.recency_days IS 'Days since the last purchase.';
COMMENT ON COLUMN @extschema@.churn_watch_list.frequency IS 'Orders.';
COMMENT ON COLUMN @extschema@.churn_watch_list.monetary IS 'Net spend so far.';
COMMENT ON COLUMN @extschema@.churn_watch_list.p_alive IS 'Probability the customer is still active.';
COMMENT ON COLUMN @extschema@.churn_watch_list.churn_risk IS '1 - p_alive.';
COMMENT ON COLUMN @extschema@.churn_watch_list.expected_purchases IS 'Purchase days expected in the churn horizon.';
COMMENT ON COLUMN @extschema@.churn_watch_list.clv IS 'Expected lifetime value over the CLV horizon.';
COMMENT ON COLUMN @extschema@.churn_watch_list.clv_at_risk IS 'Value lost if the customer has churned: the CLV they would have if surely active minus their CLV, clv * churn_risk / p_alive.';
COMMENT ON COLUMN @extschema@.churn_watch_list.as_of IS 'Analysis date of the refresh.';

CREATE VIEW @extschema@.clv_by_segment AS
SELECT cs.segment,
	   count(*) AS customers,
	   count(*) FILTER (WHERE cs.one_time_buyer) AS one_time_buyers,
	   round(avg(cs.p_alive)::numeric, 4) AS avg_p_alive,
	   round(sum(cs.expected_purchases)::numeric, 1) AS expected_purchases,
	   round(sum(cs.clv)::numeric, 2) AS clv,
	   round(avg(cs.clv)::numeric, 2) AS avg_clv,
	   round((sum(cs.clv) / nullif(sum(sum(cs.clv)) OVER (), 0))::numeric, 4) AS clv_share,
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

CREATE VIEW @extschema@.model_diagnostics AS
SELECT m.model_id, m.kind, m.fitted_at, m.as_of, m.time_unit,
	   m.r, m.alpha, m.a, m.b, m.p, m.q, m.v,
	   m.log_likelihood, m.customers, m.converged, m.iterations, m.spend_frequency_corr,
	   m.holdout_end,
	   m.model_id = @extschema@.current_model_id(m.kind) AS in_use
FROM @extschema@.models AS m;
COMMENT ON VIEW @extschema@.model_diagnostics IS
	'Every fitted model with its parameters and fit diagnostics; in_use marks the ones the next refresh scores with (when crm.settings.model_refit = manual) or the refresh used last.';
COMMENT ON COLUMN @extschema@.model_diagnostics.model_id IS 'Model number.';
COMMENT ON COLUMN @extschema@.model_diagnostics.kind IS 'bgnbd or gamma_gamma.';
COMMENT ON COLUMN @extschema@.model_diagnostics.fitted_at IS 'When it was fitted.';
COMMENT ON COLUMN @extschema@.model_diagnostics.as_of IS 'End of the data it was fitted on.';
COMMENT ON COLUMN @extschema@.model_diagnostics.time_unit IS 'Time unit of the BG/NBD parameters: day.';
COMMENT ON COLUMN @extschema@.model_diagnostics.r IS 'BG/NBD r.';
COMMENT ON COLUMN @extschema@.model_diagnostics.alpha IS 'BG/NBD alpha (days).';
COMMENT ON COLUMN @extschema@.model_diagnostics.a IS 'BG/NBD a.';
COMMENT ON COLUMN @extschema@.model_diagnostics.b IS 'BG/NBD b.';
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
-- Nightly refresh through pg_cron, which stays optional: it is looked up at
-- call time, never required by the control file.

-- Raises 55000 with the exact steps to take when pg_cron cannot be used from
-- this database.
CREATE FUNCTION @extschema@.require_pg_cron(schedule text)
RETURNS void
LANGUAGE plpgsql STABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	cron_database text := current_setting('cron.database_name', true);
BEGIN
	IF EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'pg_cron') THEN
		RETURN;
	END IF;
	IF cron_database IS NULL THEN
		RAISE EXCEPTION USING ERRCODE = 'object_not_in_prerequisite_state',
			MESSAGE = 'pg_cron is not installed',
			DETAIL = 'crm.schedule_refresh() schedules the refresh with pg_cron. Without it, call crm.refresh_segments() from any scheduler.',
			HINT = format('Install pg_cron (Debian: apt-get install postgresql-15-cron), set shared_preload_libraries = ''pg_cron'' and cron.database_name = %L in postgresql.conf, restart PostgreSQL, run CREATE EXTENSION pg_cron; in that database, then call crm.schedule_refresh() again.',
						  current_database());
	ELSIF cron_database <> current_database() THEN
		RAISE EXCEPTION USING ERRCODE = 'object_not_in_prerequisite_state',
			MESSAGE = format('pg_cron runs in database %s, not in %s', cron_database, current_database()),
			HINT = format('Connect to database %s and run: SELECT cron.schedule_in_database(%L, %L, %L, %L);',
						  cron_database, 'retail_crm_refresh_' || current_database(), schedule,
						  'CALL @extschema@.refresh_segments()', current_database());
	ELSE
		RAISE EXCEPTION USING ERRCODE = 'object_not_in_prerequisite_state',
			MESSAGE = 'pg_cron is loaded but its extension is not created in this database',
			HINT = 'Run CREATE EXTENSION pg_cron; here, then call crm.schedule_refresh() again.';
	END IF;
END
$$;
COMMENT ON FUNCTION @extschema@.require_pg_cron(text) IS
	'Internal: raises 55000 with the steps to take when pg_cron cannot schedule jobs for this database. Stable because it reads the catalog and settings.';

CREATE FUNCTION @extschema@.schedule_refresh(schedule text DEFAULT '30 2 * * *')
RETURNS bigint
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	job bigint;
	cron_message text;
BEGIN
	IF schedule IS NULL OR btrim(schedule) = '' THEN
		RAISE EXCEPTION USING ERRCODE = 'invalid_parameter_value',
			MESSAGE = 'schedule must be a cron expression, not empty',
			HINT = 'Use the five-field cron syntax in GMT, e.g. ''30 2 * * *'' for 02:30 GMT every day.';
	END IF;
	PERFORM @extschema@.require_pg_cron(schedule);
	BEGIN
		-- Dynamic: the cron schema does not exist when pg_cron is absent.
		-- Scheduling the same job name again updates the job.
		EXECUTE 'SELECT cron.schedule_in_database($1, $2, $3, $4)'
			INTO job
			USING 'retail_crm_refresh', schedule, 'CALL @extschema@.refresh_segments()', current_database();
	EXCEPTION WHEN invalid_parameter_value OR internal_error THEN
		GET STACKED DIAGNOSTICS cron_message = MESSAGE_TEXT;
		RAISE EXCEPTION USING ERRCODE = 'invalid_parameter_value',
			MESSAGE = format('invalid schedule %L', schedule),
			DETAIL = format('pg_cron says: %s', cron_message),
			HINT = 'Use the five-field cron syntax in GMT, e.g. ''30 2 * * *''; pg_cron 1.4 has minute granularity.';
	END;
	RETURN job;
END
$$;
COMMENT ON FUNCTION @extschema@.schedule_refresh(text) IS
	'Schedules CALL crm.refresh_segments() with pg_cron under the job name retail_crm_refresh (schedule in GMT, default 02:30 daily) and returns the job id; calling it again changes the schedule. Needs pg_cron in this database; otherwise raises 55000 with the steps to take.';

CREATE FUNCTION @extschema@.unschedule_refresh()
RETURNS boolean
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	job bigint;
BEGIN
	IF NOT EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'pg_cron') THEN
		RAISE NOTICE 'pg_cron is not installed in this database, so no refresh is scheduled';
		RETURN false;
	END IF;
	EXECUTE 'SELECT jobid FROM cron.job WHERE jobname = $1 AND database = $2'
		INTO job
		USING 'retail_crm_refresh', current_database();
	IF job IS NULL THEN
		RAISE NOTICE 'no retail_crm refresh is scheduled';
		RETURN false;
	END IF;
	EXECUTE 'SELECT cron.unschedule($1)' USING job;
	RETURN true;
END
$$;
COMMENT ON FUNCTION @extschema@.unschedule_refresh() IS
	'Removes the pg_cron job of crm.schedule_refresh(). Returns false, with a notice, when there is none.';
-- Roles.  Created only when missing: roles belong to the whole cluster and
-- may exist from an install in another database.  NOLOGIN: grant them to
-- login roles.  Views run with the owner's rights, so an analyst reads the
-- BI views without any right on the tables that hold personal data.

DO $roles$
DECLARE
	role_name text;
BEGIN
	FOREACH role_name IN ARRAY ARRAY['crm_admin', 'crm_analyst', 'crm_marketer'] LOOP
		IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_roles WHERE rolname = role_name) THEN
			EXECUTE pg_catalog.format('CREATE ROLE %I NOLOGIN', role_name);
		END IF;
	END LOOP;
END
$roles$;

GRANT USAGE ON SCHEMA @extschema@ TO crm_admin, crm_analyst, crm_marketer;

-- crm_analyst: the views, results and logs; no personal data.
GRANT SELECT ON
	@extschema@.segment_summary, @extschema@.rfm_grid, @extschema@.lifecycle_summary,
	@extschema@.segment_migration, @extschema@.customer_360, @extschema@.rfm_breaks,
	@extschema@.churn_watch_list, @extschema@.clv_by_segment, @extschema@.model_diagnostics,
	@extschema@.customer_segments, @extschema@.segment_history, @extschema@.refresh_runs,
	@extschema@.rfm_break_points, @extschema@.models, @extschema@.model_calibration,
	@extschema@.settings, @extschema@.rfm_fixed_breaks, @extschema@.segment_rules,
	@extschema@.segment_map
TO crm_analyst;

-- crm_marketer: what analysts see; audience lists with contact details come
-- with the campaign functions.
GRANT crm_analyst TO crm_marketer;

-- crm_admin: the data, the configuration, the refresh and its schedule.
GRANT crm_analyst TO crm_admin;
GRANT SELECT, INSERT, UPDATE, DELETE, TRUNCATE ON ALL TABLES IN SCHEMA @extschema@ TO crm_admin;
GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA @extschema@ TO crm_admin;

-- Routines that change configuration, models or the snapshot: crm_admin only.
DO $grants$
DECLARE
	routine regprocedure;
BEGIN
	FOREACH routine IN ARRAY ARRAY[
		'@extschema@.activate_segment_rules(text)',
		'@extschema@.set_transaction_source(regclass)',
		'@extschema@.reset_transaction_source()',
		'@extschema@.fit_models(timestamptz, timestamptz)',
		'@extschema@.fit_models_from_facts(timestamptz, text)',
		'@extschema@.build_facts(timestamptz, regclass)',
		'@extschema@.refresh_segments(timestamptz)',
		'@extschema@.refresh_start(timestamptz)',
		'@extschema@.refresh_build(bigint)',
		'@extschema@.refresh_progress(bigint, text, bigint)',
		'@extschema@.refresh_raise(bigint, text[])',
		'@extschema@.schedule_refresh(text)',
		'@extschema@.unschedule_refresh()']::pg_catalog.regprocedure[]
	LOOP
		EXECUTE pg_catalog.format('REVOKE EXECUTE ON ROUTINE %s FROM PUBLIC', routine);
		EXECUTE pg_catalog.format('GRANT EXECUTE ON ROUTINE %s TO crm_admin', routine);
	END LOOP;
END
$grants$;
