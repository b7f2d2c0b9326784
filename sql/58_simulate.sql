-- Simulators: seeded BG/NBD, MBG/NBD and Pareto/NBD customers and purchase
-- histories, to try the product on realistic data and to test model fits.
-- Functions only, created with CREATE OR REPLACE: the 1.0 -> 1.1 update runs
-- this part again to add the simulators 1.1 brings.

-- The simulators are IMMUTABLE: their rows are a function of the arguments
-- alone (their own seeded random streams, dates read as UTC midnights, no
-- table, setting or clock is read), and PostgreSQL never pre-evaluates a
-- set-returning function, so the label cannot freeze a 10M-row result into a
-- plan.  PARALLEL SAFE: each call keeps its random state in its own memory.
CREATE OR REPLACE FUNCTION @extschema@.bgnbd_simulate(
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

CREATE OR REPLACE FUNCTION @extschema@.mbgnbd_simulate(
	customers bigint,
	t double precision,
	r double precision,
	alpha double precision,
	a double precision,
	b double precision,
	seed bigint,
	t_spread double precision DEFAULT 0)
RETURNS TABLE (customer_id bigint, frequency integer, recency double precision, t double precision)
AS 'MODULE_PATHNAME', 'mbgnbd_simulate'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE
ROWS 1000;

COMMENT ON FUNCTION @extschema@.mbgnbd_simulate(bigint, double precision, double precision, double precision, double precision, double precision, bigint, double precision) IS
'Simulates customers 1..customers of the MBG/NBD model (Batislam, Denizel & Filiztekin 2007) and returns their BTYD summary: as bgnbd_simulate, except that a customer may also drop out, with probability p, right after the first purchase at time 0 (so some customers with frequency 0 are already dead). Purchase rate lambda ~ Gamma(shape r, rate alpha), p ~ Beta(a, b); observed up to t. frequency = repeat purchases in (0, t], recency = time of the last purchase (0 if none), t = the observation period, in the unit alpha is in; t_spread > 0 gives each customer its own period, uniform in [t - t_spread, t]. Same arguments, same rows on every platform; customer i''s row does not depend on customers. customers 0..1e9 (more: 54000); t >= 0, 0 <= t_spread <= t; r, alpha, a, b in [1e-12, 1e12] (else 22023).';

CREATE OR REPLACE FUNCTION @extschema@.pareto_nbd_simulate(
	customers bigint,
	t double precision,
	r double precision,
	alpha double precision,
	s double precision,
	beta double precision,
	seed bigint,
	t_spread double precision DEFAULT 0)
RETURNS TABLE (customer_id bigint, frequency integer, recency double precision, t double precision)
AS 'MODULE_PATHNAME', 'pareto_nbd_simulate'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE
ROWS 1000;

COMMENT ON FUNCTION @extschema@.pareto_nbd_simulate(bigint, double precision, double precision, double precision, double precision, double precision, bigint, double precision) IS
'Simulates customers 1..customers of the Pareto/NBD model (Schmittlein, Morrison & Colombo 1987) and returns their BTYD summary: purchase rate lambda ~ Gamma(shape r, rate alpha), dropout rate mu ~ Gamma(shape s, rate beta); a first purchase at time 0, then a Poisson process of rate lambda until the customer dies, an Exp(mu) time after the first purchase; observed up to t. frequency = repeat purchases in (0, t], recency = time of the last purchase (0 if none), t = the observation period, in the unit alpha and beta are in; t_spread > 0 gives each customer its own period, uniform in [t - t_spread, t]. Same arguments, same rows on every platform; customer i''s row does not depend on customers. customers 0..1e9 (more: 54000); t >= 0, 0 <= t_spread <= t; r, alpha, s, beta in [1e-12, 1e12] (else 22023); a customer expecting more than 1e8 purchases in its lifetime raises 22003.';

CREATE OR REPLACE FUNCTION @extschema@.simulate_transactions(
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
