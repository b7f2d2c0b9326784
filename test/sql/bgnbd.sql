-- BG/NBD: the fit on CDNOW against the published estimates, a true maximum,
-- analytic gradients against finite differences, P(alive) and expected
-- purchases against independent SQL, edge cases and bad input, malformed
-- states, parallel plans, and parameter recovery from simulated data.
\i test/fixtures/extension.sql
SET extra_float_digits = 0;
\set SHOW_CONTEXT never

-- CDNOW 39-week calibration summary, in weeks (see test/data/README.md)
CREATE TABLE cdnow (id int PRIMARY KEY, x float8, t_x float8, "T" float8, zbar float8);
\copy cdnow FROM 'test/data/cdnow_summary.csv' WITH (FORMAT csv, HEADER true)
SELECT count(*) AS customers, sum(x) AS repeat_purchases, count(*) FILTER (WHERE x = 0) AS one_time
FROM cdnow;

-- Fader, Hardie & Lee (2005): r = 0.243, alpha = 4.414, a = 0.793,
-- b = 2.426, LL = -9582.4 (lifetimes gets the same).
CREATE TABLE cdnow_fit AS SELECT crm.bgnbd_fit(x, t_x, "T") AS m FROM cdnow;
SELECT round((m).r::numeric, 3) AS r, round((m).alpha::numeric, 3) AS alpha,
	   round((m).a::numeric, 3) AS a, round((m).b::numeric, 3) AS b,
	   round((m).log_likelihood::numeric, 3) AS log_likelihood,
	   (m).customers, (m).converged, (m).iterations BETWEEN 1 AND 500 AS iterations_in_range
FROM cdnow_fit;

-- The reported log-likelihood is the sum of the per-customer ones.
SELECT round((sum(crm.bgnbd_loglik(x, t_x, "T", f.m)) - min((f.m).log_likelihood))::numeric, 9) AS difference
FROM cdnow, cdnow_fit AS f;

-- Standard errors from the observed information, against lifetimes'
-- summary on this data: r 0.012557, alpha 0.378221, a 0.185719,
-- b 0.705345 (to 0.2 %).
SELECT round((m).r_se::numeric, 4) AS r_se, round((m).alpha_se::numeric, 3) AS alpha_se,
	   round((m).a_se::numeric, 3) AS a_se, round((m).b_se::numeric, 3) AS b_se,
	   abs((m).r_se / 0.012557 - 1) < 0.002 AND abs((m).alpha_se / 0.378221 - 1) < 0.002 AND
	   abs((m).a_se / 0.185719 - 1) < 0.002 AND abs((m).b_se / 0.705345 - 1) < 0.002 AS match_lifetimes
FROM cdnow_fit;

-- The gain over the NBD fit without dropout: large on CDNOW (dropout is
-- identified), and never more than the gain over the NBD likelihood at any
-- one (r, alpha): the NBD is BG/NBD's limit a -> 0, where the dropout
-- probability vanishes, so Sigma bgnbd_loglik(.., bgnbd_model(r, alpha,
-- 1e-12, 1)) is the NBD likelihood there, in plain SQL terms.
SELECT round((m).dropout_log_likelihood_gain::numeric, 1) AS dropout_gain,
	   (m).dropout_log_likelihood_gain >= 3 AS dropout_identified
FROM cdnow_fit;
SELECT bool_and(min_ll - gain >= nbd_ll - 1e-6) AS nbd_fit_is_a_maximum, count(*) AS probes
FROM (SELECT min((f.m).log_likelihood) AS min_ll, min((f.m).dropout_log_likelihood_gain) AS gain,
			 sum(crm.bgnbd_loglik(c.x, c.t_x, c.t_big, crm.bgnbd_model(pr.r, pr.alpha, 1e-12, 1))) AS nbd_ll
	  FROM (SELECT x, t_x, "T" AS t_big FROM cdnow) AS c, cdnow_fit AS f,
		   (VALUES (0.243, 4.414), (0.385, 12.07), (0.3, 8), (0.5, 15), (0.2, 5)) AS pr(r, alpha)
	  GROUP BY pr.r, pr.alpha) AS s;
-- Customers simulated without dropout (p ~ Beta(1e-6, 1), essentially 0):
-- the gain is a fraction of a unit, dropout not identified.
SELECT (m).dropout_log_likelihood_gain < 1 AS small_gain, (m).dropout_log_likelihood_gain >= 3 AS dropout_identified
FROM (SELECT crm.bgnbd_fit(frequency, recency, t) AS m
	  FROM crm.bgnbd_simulate(5000, 52, 0.8, 10, 1e-6, 1, 7, 40)) AS s;

-- A true maximum: moving any parameter by 1 % either way lowers the
-- log-likelihood.
CREATE FUNCTION pg_temp.cdnow_ll(p float8[]) RETURNS float8 LANGUAGE sql AS $$
	SELECT sum(crm.bgnbd_loglik(x, t_x, "T", crm.bgnbd_model(p[1], p[2], p[3], p[4]))) FROM cdnow
$$;
CREATE FUNCTION pg_temp.moved(p float8[], i int, delta float8) RETURNS float8[] LANGUAGE sql AS $$
	SELECT array_agg(CASE WHEN j = i THEN p[j] + delta ELSE p[j] END ORDER BY j)
	FROM generate_series(1, array_length(p, 1)) AS j
$$;
WITH f AS (SELECT ARRAY[(m).r, (m).alpha, (m).a, (m).b] AS p, (m).log_likelihood AS ll FROM cdnow_fit)
SELECT (ARRAY['r', 'alpha', 'a', 'b'])[i] AS parameter, factor,
	   pg_temp.cdnow_ll(pg_temp.moved(p, i, p[i] * (factor - 1))) < ll AS lower
FROM f, generate_series(1, 4) AS i, unnest(ARRAY[0.99, 1.01]) AS factor
ORDER BY i, factor;

-- Analytic gradient of the summed log-likelihood against central finite
-- differences (step 1e-5 relative) at the fit and at two far-away points.
WITH pts(point, p) AS (
	SELECT 'fit', ARRAY[(m).r, (m).alpha, (m).a, (m).b] FROM cdnow_fit
	UNION ALL VALUES ('start', ARRAY[1, 10, 1, 1]::float8[]),
					 ('far', ARRAY[0.5, 3, 2, 5]::float8[])
), analytic AS (
	SELECT point, i, sum(g[i]) AS g
	FROM pts, cdnow,
		 LATERAL crm.bgnbd_loglik_gradient(x, t_x, "T", crm.bgnbd_model(p[1], p[2], p[3], p[4])) AS g,
		 generate_series(1, 4) AS i
	GROUP BY point, i
), numeric_ AS (
	SELECT point, i, (pg_temp.cdnow_ll(pg_temp.moved(p, i, 1e-5 * p[i])) -
					  pg_temp.cdnow_ll(pg_temp.moved(p, i, -1e-5 * p[i]))) / (2e-5 * p[i]) AS g
	FROM pts, generate_series(1, 4) AS i
)
SELECT point, (ARRAY['r', 'alpha', 'a', 'b'])[i] AS parameter,
	   round(a.g::numeric, 2) AS analytic,
	   abs(a.g - n.g) <= 1e-5 * greatest(abs(a.g), 1) AS agrees
FROM analytic AS a JOIN numeric_ AS n USING (point, i)
ORDER BY point, i;

-- P(alive) and E[Y(39)] of some customers under the published model,
-- against the paper's formulas in plain SQL: P(alive) directly, 2F1 by
-- summing its own series (not the transformed one the C code sums).
CREATE TABLE picked AS
SELECT c.*, 0.243::float8 AS r, 4.414::float8 AS alpha, 0.793::float8 AS a, 2.426::float8 AS b,
	   39.0::float8 AS h
FROM cdnow AS c
WHERE id IN (1, 2, 3, 9, 100, 1000)
   OR id IN (SELECT id FROM cdnow ORDER BY x DESC, id LIMIT 2)
   OR id IN (SELECT id FROM cdnow WHERE x > 0 ORDER BY t_x, id LIMIT 1);
WITH RECURSIVE series(id, n, term, total) AS (
	SELECT id, 0, 1::float8, 1::float8 FROM picked
	UNION ALL
	SELECT s.id, s.n + 1,
		   s.term * (r + x + s.n) * (b + x + s.n) / ((a + b + x - 1 + s.n) * (s.n + 1)) * (h / (alpha + "T" + h)),
		   s.total + s.term * (r + x + s.n) * (b + x + s.n) / ((a + b + x - 1 + s.n) * (s.n + 1)) * (h / (alpha + "T" + h))
	FROM series AS s JOIN picked USING (id)
	WHERE s.n < 3000 AND abs(s.term) > 1e-30 * s.total
), hyp AS (
	SELECT DISTINCT ON (id) id, total AS f FROM series ORDER BY id, n DESC
), reference AS (
	SELECT p.*,
		   1 / (1 + CASE WHEN x > 0 THEN a / (b + x - 1) * power((alpha + "T") / (alpha + t_x), r + x) ELSE 0 END) AS p_alive,
		   (a + b + x - 1) / (a - 1) * (1 - power((alpha + "T") / (alpha + "T" + h), r + x) * hyp.f) /
		   (1 + CASE WHEN x > 0 THEN a / (b + x - 1) * power((alpha + "T") / (alpha + t_x), r + x) ELSE 0 END) AS expected
	FROM picked AS p JOIN hyp USING (id)
), ours AS (
	SELECT *, crm.p_alive(x, t_x, "T", crm.bgnbd_model(r, alpha, a, b)) AS c_p_alive,
		   crm.expected_purchases(h, x, t_x, "T", crm.bgnbd_model(r, alpha, a, b)) AS c_expected
	FROM reference
)
SELECT id, x, t_x, "T", round(c_p_alive::numeric, 6) AS p_alive, round(c_expected::numeric, 6) AS expected_39,
	   abs(c_p_alive - p_alive) <= 1e-9 * p_alive AS p_alive_agrees,
	   abs(c_expected - expected) <= 1e-9 * expected AS expected_agrees
FROM ours ORDER BY id;

-- churn_risk is 1 - p_alive; one-time buyers are alive by construction.
SELECT id, round(crm.churn_risk(x, t_x, "T", m)::numeric, 6) AS churn_risk,
	   abs(crm.churn_risk(x, t_x, "T", m) + crm.p_alive(x, t_x, "T", m) - 1) < 1e-15 AS sums_to_one
FROM picked, (SELECT crm.bgnbd_model(0.243, 4.414, 0.793, 2.426) AS m) AS model
ORDER BY id;

-- The constructor: parameters only, diagnostics NULL; each parameter > 0 and finite.
SELECT crm.bgnbd_model(0.243, 4.414, 0.793, 2.426);
SELECT * FROM error_of($$SELECT crm.bgnbd_model(0, 1, 1, 1)$$);
SELECT * FROM error_of($$SELECT crm.bgnbd_model(1, -1, 1, 1)$$);
SELECT * FROM error_of($$SELECT crm.bgnbd_model(1, 1, 'NaN', 1)$$);
SELECT * FROM error_of($$SELECT crm.bgnbd_model(1, 1, 1, 'Infinity')$$);
SELECT crm.bgnbd_model(NULL, 1, 1, 1) IS NULL AS null_parameter_gives_null;
-- A model with a NULL parameter (an unidentified fit) cannot score.
SELECT * FROM error_of($$SELECT crm.p_alive(1, 1, 2, ROW(NULL, 1, 1, 1, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL)::crm.bgnbd_model)$$);
SELECT * FROM error_of($$SELECT crm.p_alive(1, 1, 2, ROW(1, 1, 0, 1, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL)::crm.bgnbd_model)$$);

-- Scoring: NULL in, NULL out; bad customers raise 22023 with a hint.
SELECT crm.p_alive(NULL, 1, 2, crm.bgnbd_model(1, 1, 1, 1)) IS NULL AS null_frequency,
	   crm.churn_risk(1, NULL, 2, crm.bgnbd_model(1, 1, 1, 1)) IS NULL AS null_recency,
	   crm.expected_purchases(1, 1, 1, NULL, crm.bgnbd_model(1, 1, 1, 1)) IS NULL AS null_t,
	   crm.expected_purchases(NULL, 1, 1, 2, crm.bgnbd_model(1, 1, 1, 1)) IS NULL AS null_horizon,
	   crm.p_alive(1, 1, 2, NULL::crm.bgnbd_model) IS NULL AS null_model;
SELECT * FROM error_of($$SELECT crm.p_alive('NaN', 1, 2, crm.bgnbd_model(1, 1, 1, 1))$$);
SELECT * FROM error_of($$SELECT crm.p_alive(1, 1, 'Infinity', crm.bgnbd_model(1, 1, 1, 1))$$);
SELECT * FROM error_of($$SELECT crm.p_alive(-1, 1, 2, crm.bgnbd_model(1, 1, 1, 1))$$);
SELECT * FROM error_of($$SELECT crm.p_alive(1.5, 1, 2, crm.bgnbd_model(1, 1, 1, 1))$$);
SELECT * FROM error_of($$SELECT crm.p_alive(2e9, 1, 2, crm.bgnbd_model(1, 1, 1, 1))$$);
SELECT * FROM error_of($$SELECT crm.p_alive(1, -1, 2, crm.bgnbd_model(1, 1, 1, 1))$$);
SELECT * FROM error_of($$SELECT crm.p_alive(1, 3, 2, crm.bgnbd_model(1, 1, 1, 1))$$);
SELECT * FROM error_of($$SELECT crm.expected_purchases(-1, 1, 1, 2, crm.bgnbd_model(1, 1, 1, 1))$$);
SELECT * FROM error_of($$SELECT crm.expected_purchases('Infinity', 1, 1, 2, crm.bgnbd_model(1, 1, 1, 1))$$);
-- t = 0 (first purchase on the analysis date) and horizon = 0 are fine.
SELECT crm.p_alive(0, 0, 0, m) AS p_alive_t0,
	   round(crm.expected_purchases(10, 0, 0, 0, m)::numeric, 6) AS expected_t0,
	   crm.expected_purchases(0, 3, 10, 20, m) AS expected_horizon_0
FROM (SELECT crm.bgnbd_model(0.243, 4.414, 0.793, 2.426) AS m) AS model;

-- Horizons long against alpha + t, z = horizon / (alpha + t + horizon) near
-- 1, where the hypergeometric series would need tens of millions of terms:
-- customers first seen at or just before the analysis date under a fitted
-- alpha of half a day, horizons of 1 to 1000 days.  Expected purchases are
-- finite and non-negative, increase with the horizon and stay below the
-- expectation without dropout, (r + x) horizon / (alpha + t).
CREATE TABLE long_horizons AS
SELECT x, t, h, crm.expected_purchases(h, x, t, t, crm.bgnbd_model(0.2, 0.5, 0.8, 2.5)) AS e,
	   (0.2 + x) * h / (0.5 + t) AS no_dropout
FROM unnest(ARRAY[0, 1, 5, 50]::float8[]) AS x, unnest(ARRAY[0, 1, 10]::float8[]) AS t,
	 generate_series(1, 1000) AS h;
SELECT x, t, count(*) AS horizons,
	   bool_and(e >= 0 AND e < 'Infinity') AS finite_non_negative,
	   bool_and(e_prev IS NULL OR e > e_prev) AS increasing,
	   bool_and(e <= no_dropout) AS below_no_dropout,
	   round(max(e)::numeric, 6) AS expected_1000
FROM (SELECT *, lag(e) OVER (PARTITION BY x, t ORDER BY h) AS e_prev FROM long_horizons) AS s
GROUP BY x, t ORDER BY x, t;

-- The series and the quadrature agree to 1e-9 where both apply (z from
-- 0.5 to 0.9), for a < 1, a = 1 and a > 1, light and heavy buyers; in
-- fact to about 1e-12.
SELECT count(*) AS points,
	   bool_and(abs(s - q) <= 1e-9 * s) AS methods_agree,
	   max(abs(s - q) / s) <= 1e-11 AS within_1e_11
FROM (SELECT crm.expected_purchases_method(h, x, t_x, t, m, 'series') AS s,
			 crm.expected_purchases_method(h, x, t_x, t, m, 'quadrature') AS q
	  FROM (VALUES (crm.bgnbd_model(0.2, 0.5, 0.8, 2.5)), (crm.bgnbd_model(0.243, 4.414, 0.793, 2.426)),
				   (crm.bgnbd_model(1.5, 3, 1, 1)), (crm.bgnbd_model(0.5, 2, 3, 7)),
				   (crm.bgnbd_model(2, 10, 0.05, 0.3)), (crm.bgnbd_model(0.3, 1, 5, 0.2))) AS models(m),
		   unnest(ARRAY[0, 1, 5, 50]::float8[]) AS x, unnest(ARRAY[0, 1, 10]::float8[]) AS t,
		   unnest(ARRAY[0.5, 0.6, 0.7, 0.8, 0.9]) AS z,
		   LATERAL (SELECT CASE WHEN x > 0 THEN 0.8 * t ELSE 0 END AS t_x,
						   z / (1 - z) * ((m).alpha + t) AS h) AS l) AS v;
SELECT * FROM error_of($$SELECT crm.expected_purchases_method(1e13, 0, 0, 0, crm.bgnbd_model(0.2, 0.5, 0.8, 2.5), 'series')$$);
SELECT * FROM error_of($$SELECT crm.expected_purchases_method(1, 0, 0, 0, crm.bgnbd_model(0.2, 0.5, 0.8, 2.5), 'simpson')$$);

-- An independent check near z = 1: E[Y | alive] = E_p[(1 - (1 + p k)^-(r+x)) / p],
-- k = horizon / (alpha + t), p ~ Beta(a, b + x), by the midpoint rule in
-- u = logit p on [-60, 40] in steps of 0.01, normalized by the same sum of
-- the density; (1 + p k)^-(r+x) to first order where p k is below 1e-7.
WITH cases (id, r, alpha, a, b, x, t_x, t, h) AS (
	VALUES (1, 0.2, 0.5, 0.8, 2.5, 0, 0, 0, 273.938), (2, 0.2, 0.5, 0.8, 2.5, 1, 0, 0, 1000),
		   (3, 0.2, 0.5, 1, 2.5, 5, 1, 1, 1000), (4, 0.2, 0.5, 2.5, 2.5, 1, 0, 0, 1000),
		   (5, 0.2, 0.5, 0.3, 0.5, 0, 0, 0, 1e5)
), nodes AS (
	SELECT c.*, 1 / (1 + exp(-u)) AS p, h / (alpha + t) AS k,
		   exp(a * u - (a + b + x) * ln(1 + exp(u))) AS density
	FROM cases AS c, generate_series(-5999.5, 3999.5) AS i, LATERAL (SELECT i / 100 AS u) AS l
), midpoint AS (
	SELECT id, r, alpha, a, b, x, t_x, t, h,
		   sum(density * CASE WHEN p * k < 1e-7 THEN (r + x) * k * (1 - (r + x + 1) * p * k / 2)
							  ELSE (1 - power(1 + p * k, -(r + x))) / p END) / sum(density) AS alive
	FROM nodes GROUP BY id, r, alpha, a, b, x, t_x, t, h
)
SELECT id, round((h / (alpha + t + h))::numeric, 6) AS z, round(e::numeric, 6) AS expected,
	   abs(e - reference) <= 1e-6 * reference AS matches_midpoint
FROM (SELECT *, crm.expected_purchases(h, x, t_x, t, crm.bgnbd_model(r, alpha, a, b)) AS e,
			 alive * crm.p_alive(x, t_x, t, crm.bgnbd_model(r, alpha, a, b)) AS reference
	  FROM midpoint) AS s
ORDER BY id;

-- The aggregate: NULL for no rows, like avg(); NULL, NaN, infinite,
-- negative or fractional input and recency > t raise errors.
SELECT crm.bgnbd_fit(x, t_x, "T") IS NULL AS no_rows_gives_null FROM cdnow WHERE false;
SELECT * FROM error_of($$SELECT crm.bgnbd_fit(x, t_x, t) FROM (VALUES (1, 1, 2), (NULL, 1, 2)) AS v(x, t_x, t)$$);
SELECT * FROM error_of($$SELECT crm.bgnbd_fit(x, t_x, t) FROM (VALUES (1, NULL::float8, 2)) AS v(x, t_x, t)$$);
SELECT * FROM error_of($$SELECT crm.bgnbd_fit(x, t_x, t) FROM (VALUES (1, 1, NULL::float8)) AS v(x, t_x, t)$$);
SELECT * FROM error_of($$SELECT crm.bgnbd_fit(x, t_x, t) FROM (VALUES (1, 1, 'NaN'::float8)) AS v(x, t_x, t)$$);
SELECT * FROM error_of($$SELECT crm.bgnbd_fit(x, t_x, t) FROM (VALUES (-1, 1, 2)) AS v(x, t_x, t)$$);
SELECT * FROM error_of($$SELECT crm.bgnbd_fit(x, t_x, t) FROM (VALUES (0.5, 1, 2)) AS v(x, t_x, t)$$);
SELECT * FROM error_of($$SELECT crm.bgnbd_fit(x, t_x, t) FROM (VALUES (2, 3, 2)) AS v(x, t_x, t)$$);
-- No repeat purchase at all: a and b do not enter the likelihood and r,
-- alpha run off to a limit, so the model is not identified.
SELECT (m).* FROM (SELECT crm.bgnbd_fit(0, 0, "T") AS m FROM cdnow) AS s;
-- A single repeat customer: the likelihood keeps rising towards a limit
-- (parameters beyond 1e8), so the best point is returned with converged false.
SELECT (m).converged, (m).customers, (m).r IS NOT NULL AS best_point_returned
FROM (SELECT crm.bgnbd_fit(2, 5, 10) AS m) AS s;

-- Identical rows are grouped: the state of 2357 customers holds their
-- distinct (x, t_x, T) only, and duplicating every row doubles the counts,
-- not the points, and leaves the parameters unchanged.
CREATE AGGREGATE pg_temp.bgnbd_state(float8, float8, float8) (
	SFUNC = crm.bgnbd_fit_accum, STYPE = bytea, COMBINEFUNC = crm.bgnbd_fit_combine);
SELECT (SELECT count(DISTINCT (x, t_x, "T")) FROM cdnow) AS distinct_rows,
	   (length(pg_temp.bgnbd_state(x, t_x, "T")) - 36) / 32 >= (SELECT count(DISTINCT (x, t_x, "T")) FROM cdnow) AS capacity_holds_them
FROM cdnow;
SELECT round((d.m2).r::numeric, 6) = round((f.m).r::numeric, 6) AND round((d.m2).b::numeric, 6) = round((f.m).b::numeric, 6) AS same_parameters,
	   (d.m2).customers, round(((d.m2).log_likelihood / (f.m).log_likelihood)::numeric, 9) AS log_likelihood_ratio
FROM (SELECT crm.bgnbd_fit(x, t_x, "T") AS m2 FROM cdnow, generate_series(1, 2)) AS d, cdnow_fit AS f;

-- Support functions called directly: the input state is never modified,
-- and malformed or foreign states raise 22P03.
CREATE TABLE states AS
SELECT crm.bgnbd_fit_accum(NULL, 1, 2, 3) AS one,
	   crm.bgnbd_fit_accum(crm.bgnbd_fit_accum(NULL, 1, 2, 3), 0, 0, 3) AS two,
	   crm.gamma_gamma_fit_accum(NULL, 2, 10) AS gg;
SELECT crm.bgnbd_fit_accum(one, 5, 6, 7) <> one AS grew, one = crm.bgnbd_fit_accum(NULL, 1, 2, 3) AS input_unchanged,
	   crm.bgnbd_fit_final(crm.bgnbd_fit_combine(one, two)) = crm.bgnbd_fit_final(crm.bgnbd_fit_accum(two, 1, 2, 3)) AS combine_matches_accum,
	   crm.bgnbd_fit_final(crm.bgnbd_fit_combine(one, one)) = crm.bgnbd_fit_final(crm.bgnbd_fit_accum(one, 1, 2, 3)) AS combine_with_itself,
	   (crm.bgnbd_fit_final(crm.bgnbd_fit_combine(one, two))).customers AS combined_customers
FROM states;
SELECT * FROM error_of($$SELECT crm.bgnbd_fit_combine('\x00', one) FROM states$$);
SELECT * FROM error_of($$SELECT crm.bgnbd_fit_final(substring(one FROM 1 FOR 20)) FROM states$$);
SELECT * FROM error_of($$SELECT crm.bgnbd_fit_combine(one, gg) FROM states$$);
SELECT * FROM error_of($$SELECT crm.bgnbd_fit_accum(gg, 1, 1, 1) FROM states$$);
-- x = 1.5 written over the first point's frequency
SELECT * FROM error_of($$SELECT crm.bgnbd_fit_final(overlay(one PLACING '\x000000000000f83f' FROM 37)) FROM states$$);
-- a count of 0 written over the first point's count
SELECT * FROM error_of($$SELECT crm.bgnbd_fit_final(overlay(one PLACING '\x0000000000000000' FROM 61)) FROM states$$);
-- a length that does not match the capacity
SELECT * FROM error_of($$SELECT crm.bgnbd_fit_combine(one || '\x00'::bytea, two) FROM states$$);

-- Parallel plans give the same model as the serial one: workers build
-- partial states, bgnbd_fit_combine merges them.  Every k holds a full copy
-- of CDNOW, so each group's model is the CDNOW model.
CREATE TABLE cdnow_par AS SELECT c.*, k FROM cdnow AS c, generate_series(1, 20) AS k;
ANALYZE cdnow_par;
SET max_parallel_workers_per_gather = 0;
CREATE TEMP TABLE par_serial AS SELECT crm.bgnbd_fit(x, t_x, "T") AS m FROM cdnow_par;
SET parallel_setup_cost = 0;
SET parallel_tuple_cost = 0;
SET min_parallel_table_scan_size = 0;
SET max_parallel_workers_per_gather = 2;
SET parallel_leader_participation = off;
EXPLAIN (COSTS OFF) SELECT crm.bgnbd_fit(x, t_x, "T") FROM cdnow_par;
SELECT p.m = s.m AS same_model, round((p.m).r::numeric, 3) AS r, round((p.m).b::numeric, 3) AS b,
	   (p.m).customers
FROM (SELECT crm.bgnbd_fit(x, t_x, "T") AS m FROM cdnow_par) AS p, par_serial AS s;
-- grouped: every group equals the CDNOW fit
SET enable_hashagg = off;
EXPLAIN (COSTS OFF) SELECT k, crm.bgnbd_fit(x, t_x, "T") FROM cdnow_par GROUP BY k;
SELECT count(*) AS groups, count(*) FILTER (WHERE round((g.gm).r::numeric, 6) = round((f.m).r::numeric, 6)
											 AND round((g.gm).alpha::numeric, 6) = round((f.m).alpha::numeric, 6)
											 AND round((g.gm).a::numeric, 6) = round((f.m).a::numeric, 6)
											 AND round((g.gm).b::numeric, 6) = round((f.m).b::numeric, 6)) AS equal_to_cdnow_fit
FROM (SELECT k, crm.bgnbd_fit(x, t_x, "T") AS gm FROM cdnow_par GROUP BY k) AS g, cdnow_fit AS f;
RESET enable_hashagg;
-- rows in the first pages only: a worker without rows contributes no state
SELECT p.m = s.m AS same_model_with_idle_workers
FROM (SELECT crm.bgnbd_fit(x, t_x, "T") AS m FROM cdnow_par WHERE k = 1 AND id <= 100) AS p,
	 (SELECT crm.bgnbd_fit(x, t_x, "T") AS m FROM cdnow WHERE id <= 100) AS s;
-- no rows at all in any worker: NULL
SELECT crm.bgnbd_fit(x, t_x, "T") IS NULL AS empty_is_null FROM cdnow_par WHERE k = 0;
RESET parallel_leader_participation;
RESET max_parallel_workers_per_gather;
RESET min_parallel_table_scan_size;
RESET parallel_tuple_cost;
RESET parallel_setup_cost;

-- Parameter recovery: 20,000 customers simulated in SQL from a fixed seed
-- with r = 2 (a rate is a sum of two exponentials over alpha), alpha = 8,
-- a = 1 (a dropout probability is 1 - U^(1/b)), b = 3, and T from 10 to
-- 49 weeks.  After each repeat purchase the customer drops out with
-- probability p.  The estimates land within 15 % of the truth.
SELECT setseed(0.42);
CREATE TABLE simulated AS
WITH RECURSIVE customers AS (
	SELECT i AS id, 10 + (i % 40)::float8 AS t,
		   -(ln(1 - random()) + ln(1 - random())) / 8.0 AS lambda,
		   1 - power(1 - random(), 1.0 / 3.0) AS p
	FROM generate_series(1, 20000) AS i
), path AS (
	SELECT id, t, lambda, p, 0 AS x, 0::float8 AS t_x, false AS dropped FROM customers
	UNION ALL
	SELECT s.id, s.t, s.lambda, s.p, s.x + 1, s.t_x + d.gap, d.u < s.p
	FROM path AS s, LATERAL (SELECT -ln(1 - random()) / s.lambda AS gap, random() AS u) AS d
	WHERE NOT s.dropped AND s.t_x + d.gap <= s.t
)
SELECT DISTINCT ON (id) id, x, t_x, t FROM path ORDER BY id, x DESC;
WITH fit AS (SELECT crm.bgnbd_fit(x, t_x, t) AS m FROM simulated)
SELECT round((m).r::numeric, 2) AS r, round((m).alpha::numeric, 2) AS alpha,
	   round((m).a::numeric, 2) AS a, round((m).b::numeric, 2) AS b, (m).converged,
	   abs((m).r / 2 - 1) < 0.15 AND abs((m).alpha / 8 - 1) < 0.15 AND
	   abs((m).a / 1 - 1) < 0.15 AND abs((m).b / 3 - 1) < 0.15 AS within_15_percent
FROM fit;

-- A fit answers a cancel: over 400,000 distinct rows it takes seconds,
-- and statement_timeout stops it within one pass over them (57014), well
-- within a second of the timeout.
CREATE TEMP TABLE many_distinct AS
SELECT (g % 20)::float8 AS x, (g % 997)::float8 / 3 + g * 1e-7 AS t_x, 1000 + (g % 1009)::float8 / 7 + g * 1e-7 AS t
FROM generate_series(1, 400000) AS g;
SELECT clock_timestamp() AS started \gset
SET statement_timeout = '300ms';
SELECT crm.bgnbd_fit(x, t_x, t) FROM many_distinct;
SELECT crm.pareto_nbd_fit(x, t_x, t) FROM many_distinct;
RESET statement_timeout;
SELECT clock_timestamp() - :'started'::timestamptz < interval '2.6 s' AS both_cancelled_within_a_second;

-- Finite arguments give a finite result or 22003, never NaN or an
-- infinity (#16): parameters far outside the scale of customer data, where
-- ln B and ln G of them overflow or a derivative exceeds the largest double.
SELECT * FROM error_of($$SELECT crm.bgnbd_loglik(2, 30, 40, crm.bgnbd_model(1e308, 4.414, 0.793, 2.426))$$);
SELECT * FROM error_of($$SELECT crm.bgnbd_loglik(2, 30, 40, crm.bgnbd_model(0.243, 4.414, 1e308, 2.426))$$);
SELECT * FROM error_of($$SELECT crm.bgnbd_loglik(2, 30, 40, crm.bgnbd_model(0.243, 4.414, 0.793, 1e308))$$);
SELECT * FROM error_of($$SELECT crm.bgnbd_loglik_gradient(2, 30, 40, crm.bgnbd_model(5e-324, 4.414, 0.793, 2.426))$$);
SELECT * FROM error_of($$SELECT crm.expected_purchases_method(2, 2, 2, 2, crm.bgnbd_model(2, 2, 1e308, 2), 'quadrature')$$);
-- still finite near those scales: a result, as before
SELECT crm.bgnbd_loglik(2, 30, 40, crm.bgnbd_model(1e8, 4.414, 0.793, 2.426)) < 0 AS finite_loglik;
-- An unknown method is quoted in the message up to 64 characters, not whole.
SELECT state, length(message) AS message_length, message ~ 'x{64}\.\.\.' AS cut
FROM error_of($$SELECT crm.expected_purchases_method(1, 0, 0, 0, crm.bgnbd_model(0.2, 0.5, 0.8, 2.5), repeat('x', 1000000))$$);
