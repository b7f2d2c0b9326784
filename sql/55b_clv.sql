-- Customer lifetime value from a purchase model and the spend model
-- (src/clv.c).

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
