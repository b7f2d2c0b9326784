-- MBG/NBD, and churn over a horizon and P(alive) at a future time for
-- BG/NBD and MBG/NBD: the fit on CDNOW against the published estimates,
-- the likelihood, P(alive) and expected purchases against the paper's
-- formulas in plain SQL, analytic gradients against finite differences,
-- horizon churn and future P(alive) against a Monte Carlo simulation,
-- bad input, foreign states and parallel plans.
\i test/fixtures/extension.sql
SET extra_float_digits = 0;
\set SHOW_CONTEXT never
-- Tables of its own, apart from those of the BG/NBD test.
CREATE SCHEMA mbgnbd_test;
SET search_path = mbgnbd_test, public;

CREATE TABLE cdnow (id int PRIMARY KEY, x float8, t_x float8, "T" float8, zbar float8);
\copy cdnow FROM 'test/data/cdnow_summary.csv' WITH (FORMAT csv, HEADER true)

-- BTYDplus (Platzer) and lifetimes on this data: r = 0.525, alpha = 6.183,
-- a = 0.891, b = 1.614.
CREATE TABLE cdnow_mbg AS SELECT crm.mbgnbd_fit(x, t_x, "T") AS m FROM cdnow;
SELECT round((m).r::numeric, 3) AS r, round((m).alpha::numeric, 3) AS alpha,
	   round((m).a::numeric, 3) AS a, round((m).b::numeric, 3) AS b,
	   round((m).log_likelihood::numeric, 2) AS log_likelihood,
	   (m).customers, (m).converged, (m).iterations BETWEEN 1 AND 500 AS iterations_in_range
FROM cdnow_mbg;

-- The log-likelihood against the paper's formula in plain SQL, with the
-- Gamma and Beta ratios as finite products (x is a whole number):
--   L = prod_{k<x} (r+k) alpha^r prod_{k<=x} (b+k)/(a+b+k)
--       [(alpha+T)^-(r+x) + a/(b+x) (alpha+t_x)^-(r+x)]
-- and the fit's reported log-likelihood is their sum.
CREATE FUNCTION pg_temp.mbg_ll_sql(x float8, t_x float8, t float8, r float8, alpha float8, a float8, b float8)
RETURNS float8 LANGUAGE sql AS $$
	SELECT coalesce((SELECT sum(ln(r + k)) FROM generate_series(0, x::int - 1) AS k), 0)
		   + r * ln(alpha)
		   + (SELECT sum(ln((b + k) / (a + b + k))) FROM generate_series(0, x::int) AS k)
		   + ln(power(alpha + t, -(r + x)) + a / (b + x) * power(alpha + t_x, -(r + x)))
$$;
SELECT max(abs(crm.mbgnbd_loglik(x, t_x, "T", m) - pg_temp.mbg_ll_sql(x, t_x, "T", (m).r, (m).alpha, (m).a, (m).b))) < 1e-9 AS matches_formula,
	   round((sum(crm.mbgnbd_loglik(x, t_x, "T", m)) - min((m).log_likelihood))::numeric, 9) AS sum_minus_reported
FROM cdnow, cdnow_mbg;

-- A true maximum: moving any parameter by 1 % either way lowers it.
CREATE FUNCTION pg_temp.cdnow_ll(p float8[]) RETURNS float8 LANGUAGE sql AS $$
	SELECT sum(crm.mbgnbd_loglik(x, t_x, "T", crm.mbgnbd_model(p[1], p[2], p[3], p[4]))) FROM cdnow
$$;
CREATE FUNCTION pg_temp.moved(p float8[], i int, delta float8) RETURNS float8[] LANGUAGE sql AS $$
	SELECT array_agg(CASE WHEN j = i THEN p[j] + delta ELSE p[j] END ORDER BY j)
	FROM generate_series(1, array_length(p, 1)) AS j
$$;
WITH f AS (SELECT ARRAY[(m).r, (m).alpha, (m).a, (m).b] AS p, (m).log_likelihood AS ll FROM cdnow_mbg)
SELECT (ARRAY['r', 'alpha', 'a', 'b'])[i] AS parameter, factor,
	   pg_temp.cdnow_ll(pg_temp.moved(p, i, p[i] * (factor - 1))) < ll AS lower
FROM f, generate_series(1, 4) AS i, unnest(ARRAY[0.99, 1.01]) AS factor
ORDER BY i, factor;

-- Analytic gradient of the summed log-likelihood against central finite
-- differences at the fit and at two far-away points.
WITH pts(point, p) AS (
	SELECT 'fit', ARRAY[(m).r, (m).alpha, (m).a, (m).b] FROM cdnow_mbg
	UNION ALL VALUES ('start', ARRAY[1, 10, 1, 1]::float8[]),
					 ('far', ARRAY[0.5, 3, 2, 5]::float8[])
), analytic AS (
	SELECT point, i, sum(g[i]) AS g
	FROM pts, cdnow,
		 LATERAL crm.mbgnbd_loglik_gradient(x, t_x, "T", crm.mbgnbd_model(p[1], p[2], p[3], p[4])) AS g,
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

-- P(alive) and E[Y(39)] under the published model against the paper's
-- formulas in plain SQL, 2F1(r+x, b+x+1; a+b+x; z) by its own series.
-- One-time buyers have P(alive) < 1.
CREATE TABLE picked AS
SELECT c.*, 0.525::float8 AS r, 6.183::float8 AS alpha, 0.891::float8 AS a, 1.614::float8 AS b,
	   39.0::float8 AS h
FROM cdnow AS c
WHERE id IN (1, 2, 3, 9, 100, 1000)
   OR id IN (SELECT id FROM cdnow ORDER BY x DESC, id LIMIT 2);
WITH RECURSIVE series(id, n, term, total) AS (
	SELECT id, 0, 1::float8, 1::float8 FROM picked
	UNION ALL
	SELECT s.id, s.n + 1,
		   s.term * (r + x + s.n) * (b + x + 1 + s.n) / ((a + b + x + s.n) * (s.n + 1)) * (h / (alpha + "T" + h)),
		   s.total + s.term * (r + x + s.n) * (b + x + 1 + s.n) / ((a + b + x + s.n) * (s.n + 1)) * (h / (alpha + "T" + h))
	FROM series AS s JOIN picked USING (id)
	WHERE s.n < 3000 AND abs(s.term) > 1e-30 * s.total
), hyp AS (
	SELECT DISTINCT ON (id) id, total AS f FROM series ORDER BY id, n DESC
), reference AS (
	SELECT p.*,
		   1 / (1 + a / (b + x) * power((alpha + "T") / (alpha + t_x), r + x)) AS p_alive,
		   (a + b + x) / (a - 1) * (1 - power((alpha + "T") / (alpha + "T" + h), r + x) * hyp.f) /
		   (1 + a / (b + x) * power((alpha + "T") / (alpha + t_x), r + x)) AS expected
	FROM picked AS p JOIN hyp USING (id)
), ours AS (
	SELECT *, crm.p_alive(x, t_x, "T", crm.mbgnbd_model(r, alpha, a, b)) AS c_p_alive,
		   crm.expected_purchases(h, x, t_x, "T", crm.mbgnbd_model(r, alpha, a, b)) AS c_expected
	FROM reference
)
SELECT id, x, t_x, "T", round(c_p_alive::numeric, 6) AS p_alive, round(c_expected::numeric, 6) AS expected_39,
	   abs(c_p_alive - p_alive) <= 1e-9 * p_alive AS p_alive_agrees,
	   abs(c_expected - expected) <= 1e-9 * expected AS expected_agrees
FROM ours ORDER BY id;
-- churn_risk is 1 - p_alive
SELECT bool_and(abs(crm.churn_risk(x, t_x, "T", m) + crm.p_alive(x, t_x, "T", m) - 1) < 1e-15) AS sums_to_one,
	   bool_and(crm.p_alive(x, t_x, "T", m) < 1) FILTER (WHERE x = 0) AS one_time_buyers_below_1
FROM cdnow, cdnow_mbg;

-- Churn over a horizon: no purchase in an empty period is certain (1 at
-- horizon 0); the risk falls with the horizon towards 1 - P(alive) (a live
-- customer buys again some day); graded for one-time buyers under both
-- models, where 1 - P(alive) is 0 under BG/NBD.
SELECT kind, h, round(avg(risk)::numeric, 4) AS mean_risk, round(min(risk)::numeric, 4) AS min_risk,
	   round(max(risk)::numeric, 4) AS max_risk, count(DISTINCT round(risk::numeric, 6)) AS distinct_risks
FROM cdnow, unnest(ARRAY[0, 13, 52]::float8[]) AS h,
	 LATERAL (VALUES ('bgnbd', crm.churn_risk(h, x, t_x, "T", crm.bgnbd_model(0.243, 4.414, 0.793, 2.426))),
					 ('mbgnbd', crm.churn_risk(h, x, t_x, "T", crm.mbgnbd_model(0.525, 6.183, 0.891, 1.614)))) AS v(kind, risk)
WHERE x = 0
GROUP BY kind, h ORDER BY kind, h;
SELECT bool_and(abs(crm.churn_risk(0, x, t_x, "T", bg) - 1) < 1e-15 AND abs(crm.churn_risk(0, x, t_x, "T", mbg) - 1) < 1e-15) AS certain_at_0,
	   bool_and(abs(crm.churn_risk(1e300, x, t_x, "T", bg) - crm.churn_risk(x, t_x, "T", bg)) < 1e-12) AS bgnbd_long_run,
	   bool_and(abs(crm.churn_risk(1e300, x, t_x, "T", mbg) - crm.churn_risk(x, t_x, "T", mbg)) < 1e-12) AS mbgnbd_long_run,
	   bool_and(crm.churn_risk(13, x, t_x, "T", mbg) >= crm.churn_risk(52, x, t_x, "T", mbg)) AS decreasing_in_horizon
FROM cdnow, (SELECT crm.bgnbd_model(0.243, 4.414, 0.793, 2.426) AS bg,
					crm.mbgnbd_model(0.525, 6.183, 0.891, 1.614) AS mbg) AS models;

-- Monte Carlo: 20,000 customers simulated in SQL from a fixed seed over
-- T + h (T = 20 to 59 weeks, h = 26), each model's process as its paper
-- states it.  By total probability, the mean over customers of
-- churn_risk(h | history at T) is the share with no purchase in (T, T+h],
-- and the mean of p_alive(.., future => h) the share still alive at T + h:
-- both within 3 standard errors of the simulated shares.
SELECT setseed(0.17);
CREATE TABLE simulated AS
WITH RECURSIVE customers AS (
	SELECT i AS id, kind, 20 + (i % 40)::float8 AS t, 26.0::float8 AS h,
		   -(ln(1 - random()) + ln(1 - random())) / 8.0 AS lambda,
		   1 - power(1 - random(), 1.0 / 3.0) AS p
	FROM generate_series(1, 20000) AS i, unnest(ARRAY['bgnbd', 'mbgnbd']) AS kind
), path AS (
	-- MBG/NBD customers may drop out right after the first purchase
	SELECT id, kind, t, h, lambda, p, 0 AS n, 0::float8 AS at, kind = 'mbgnbd' AND random() < p AS dropped
	FROM customers
	UNION ALL
	SELECT s.id, s.kind, s.t, s.h, s.lambda, s.p, s.n + 1, s.at + d.gap, d.u < s.p
	FROM path AS s, LATERAL (SELECT -ln(1 - random()) / s.lambda AS gap, random() AS u) AS d
	WHERE NOT s.dropped AND s.at + d.gap <= s.t + s.h
)
SELECT id, kind, t, h,
	   count(*) FILTER (WHERE n > 0 AND at <= t) AS x,
	   coalesce(max(at) FILTER (WHERE at <= t), 0) AS t_x,
	   count(*) FILTER (WHERE at > t) AS holdout_purchases,
	   NOT bool_or(dropped) AS alive_at_end
FROM path GROUP BY id, kind, t, h;
WITH scored AS (
	SELECT s.*,
		   CASE kind WHEN 'bgnbd' THEN crm.churn_risk(h, x, t_x, t, crm.bgnbd_model(2, 8, 1, 3))
					 ELSE crm.churn_risk(h, x, t_x, t, crm.mbgnbd_model(2, 8, 1, 3)) END AS risk,
		   CASE kind WHEN 'bgnbd' THEN crm.p_alive(x, t_x, t, crm.bgnbd_model(2, 8, 1, 3), h)
					 ELSE crm.p_alive(x, t_x, t, crm.mbgnbd_model(2, 8, 1, 3), h) END AS alive_later
	FROM simulated AS s
)
SELECT kind, count(*) AS customers,
	   round(avg(risk)::numeric, 3) AS mean_churn_risk,
	   round(avg((holdout_purchases = 0)::int)::numeric, 3) AS simulated_no_purchase,
	   abs(avg(risk) - avg((holdout_purchases = 0)::int)) < 3 * sqrt(avg(risk) * (1 - avg(risk)) / count(*)) AS churn_within_3_se,
	   round(avg(alive_later)::numeric, 3) AS mean_p_alive_future,
	   round(avg(alive_at_end::int)::numeric, 3) AS simulated_alive,
	   abs(avg(alive_later) - avg(alive_at_end::int)) < 3 * sqrt(avg(alive_later) * (1 - avg(alive_later)) / count(*)) AS alive_within_3_se
FROM scored GROUP BY kind ORDER BY kind;
-- Parameter recovery on the same MBG/NBD customers observed to T: within 15 %.
WITH fit AS (SELECT crm.mbgnbd_fit(x, t_x, t) AS m FROM simulated WHERE kind = 'mbgnbd')
SELECT round((m).r::numeric, 2) AS r, round((m).alpha::numeric, 2) AS alpha,
	   round((m).a::numeric, 2) AS a, round((m).b::numeric, 2) AS b, (m).converged,
	   abs((m).r / 2 - 1) < 0.15 AND abs((m).alpha / 8 - 1) < 0.15 AND
	   abs((m).a / 1 - 1) < 0.15 AND abs((m).b / 3 - 1) < 0.15 AS within_15_percent
FROM fit;

-- P(alive) at a future time: the current P(alive) at 0, falling with time,
-- above 0 and, for one-time buyers under BG/NBD, below 1 once time passes.
SELECT f, round(crm.p_alive(2, 30.43, 38.86, crm.bgnbd_model(0.243, 4.414, 0.793, 2.426), f)::numeric, 6) AS bgnbd,
	   round(crm.p_alive(0, 0, 38.86, crm.bgnbd_model(0.243, 4.414, 0.793, 2.426), f)::numeric, 6) AS bgnbd_one_time,
	   round(crm.p_alive(2, 30.43, 38.86, crm.mbgnbd_model(0.525, 6.183, 0.891, 1.614), f)::numeric, 6) AS mbgnbd
FROM unnest(ARRAY[0, 1, 52, 520, 1e6]::float8[]) AS f ORDER BY f;
SELECT crm.p_alive(2, 30.43, 38.86, crm.bgnbd_model(0.243, 4.414, 0.793, 2.426), 0)
	   = crm.p_alive(2, 30.43, 38.86, crm.bgnbd_model(0.243, 4.414, 0.793, 2.426)) AS future_0_is_now;
-- heavy buyers and extreme parameters stay finite and in [0, 1]
SELECT bool_and(v BETWEEN 0 AND 1) AS in_unit_interval, count(*) AS values
FROM (VALUES (crm.mbgnbd_model(0.5, 6, 0.9, 1.6)), (crm.mbgnbd_model(1e-6, 1e6, 1e6, 1e-6)),
			 (crm.mbgnbd_model(1e6, 1e-6, 1e-6, 1e6))) AS m(m),
	 unnest(ARRAY[0, 1, 5000, 1e8]::float8[]) AS x, unnest(ARRAY[0, 1e4]::float8[]) AS h,
	 LATERAL (VALUES (crm.p_alive(x, least(x, 30), 40, m)), (crm.churn_risk(x, least(x, 30), 40, m)),
					 (crm.churn_risk(h, x, least(x, 30), 40, m)), (crm.p_alive(x, least(x, 30), 40, m, h))) AS s(v);
SELECT bool_and(e >= 0 AND e < 'Infinity') AS expected_finite
FROM unnest(ARRAY[0, 1, 5000]::float8[]) AS x, unnest(ARRAY[0, 1, 1e4]::float8[]) AS h,
	 LATERAL (SELECT crm.expected_purchases(h, x, least(x, 30), 40, crm.mbgnbd_model(0.5, 6, 0.9, 1.6)) AS e) AS s;

-- Bad input: NULL in, NULL out; a bad customer, horizon or future raises
-- 22023 with a hint; a model of another family is another type (42883).
SELECT crm.p_alive(NULL, 1, 2, crm.mbgnbd_model(1, 1, 1, 1)) IS NULL AS null_frequency,
	   crm.churn_risk(NULL, 1, 1, 2, crm.mbgnbd_model(1, 1, 1, 1)) IS NULL AS null_horizon,
	   crm.p_alive(1, 1, 2, crm.bgnbd_model(1, 1, 1, 1), NULL) IS NULL AS null_future;
SELECT * FROM error_of($$SELECT crm.mbgnbd_model(0, 1, 1, 1)$$);
SELECT * FROM error_of($$SELECT crm.p_alive(1, 3, 2, crm.mbgnbd_model(1, 1, 1, 1))$$);
SELECT * FROM error_of($$SELECT crm.p_alive(-1, 0, 2, crm.mbgnbd_model(1, 1, 1, 1))$$);
SELECT * FROM error_of($$SELECT crm.churn_risk(-1, 1, 1, 2, crm.mbgnbd_model(1, 1, 1, 1))$$);
SELECT * FROM error_of($$SELECT crm.churn_risk('NaN', 1, 1, 2, crm.bgnbd_model(1, 1, 1, 1))$$);
SELECT * FROM error_of($$SELECT crm.p_alive(1, 1, 2, crm.bgnbd_model(1, 1, 1, 1), -1)$$);
SELECT * FROM error_of($$SELECT crm.p_alive(1, 1, 2, crm.mbgnbd_model(1, 1, 1, 1), 'Infinity')$$);
-- (Without the hint: it is the server's own advice, and PostgreSQL 19 moved
-- part of it into a detail.)
SELECT state, message FROM error_of($$SELECT crm.mbgnbd_loglik(1, 1, 2, crm.bgnbd_model(1, 1, 1, 1))$$);
SELECT * FROM error_of($$SELECT crm.p_alive(1, 1, 2, ROW(NULL, 1, 1, 1, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL)::crm.mbgnbd_model)$$);

-- The aggregate: NULL for no rows; bad rows raise errors naming mbgnbd_fit;
-- no repeat purchase at all: not identified.
SELECT crm.mbgnbd_fit(x, t_x, "T") IS NULL AS no_rows_gives_null FROM cdnow WHERE false;
SELECT * FROM error_of($$SELECT crm.mbgnbd_fit(x, t_x, t) FROM (VALUES (1, 1, 2), (NULL, 1, 2)) AS v(x, t_x, t)$$);
SELECT * FROM error_of($$SELECT crm.mbgnbd_fit(x, t_x, t) FROM (VALUES (2, 3, 2)) AS v(x, t_x, t)$$);
SELECT (m).* FROM (SELECT crm.mbgnbd_fit(0, 0, "T") AS m FROM cdnow) AS s;
-- States: one of bgnbd_fit is not one of mbgnbd_fit (22P03); combine
-- equals accumulating.
CREATE TABLE states AS
SELECT crm.mbgnbd_fit_accum(NULL, 1, 2, 3) AS one,
	   crm.mbgnbd_fit_accum(crm.mbgnbd_fit_accum(NULL, 1, 2, 3), 0, 0, 3) AS two,
	   crm.bgnbd_fit_accum(NULL, 1, 2, 3) AS bg;
SELECT crm.mbgnbd_fit_final(crm.mbgnbd_fit_combine(one, two)) = crm.mbgnbd_fit_final(crm.mbgnbd_fit_accum(two, 1, 2, 3)) AS combine_matches_accum
FROM states;
SELECT * FROM error_of($$SELECT crm.mbgnbd_fit_combine(one, bg) FROM states$$);
SELECT * FROM error_of($$SELECT crm.mbgnbd_fit_final(bg) FROM states$$);
SELECT * FROM error_of($$SELECT crm.bgnbd_fit_final(one) FROM states$$);

-- Parallel plans give the serial model.
CREATE TABLE cdnow_par AS SELECT c.*, k FROM cdnow AS c, generate_series(1, 20) AS k;
ANALYZE cdnow_par;
SET max_parallel_workers_per_gather = 0;
CREATE TEMP TABLE par_serial AS SELECT crm.mbgnbd_fit(x, t_x, "T") AS m FROM cdnow_par;
SET parallel_setup_cost = 0;
SET parallel_tuple_cost = 0;
SET min_parallel_table_scan_size = 0;
SET max_parallel_workers_per_gather = 2;
SET parallel_leader_participation = off;
EXPLAIN (COSTS OFF) SELECT crm.mbgnbd_fit(x, t_x, "T") FROM cdnow_par;
SELECT p.m = s.m AS same_model, round((p.m).r::numeric, 3) AS r, (p.m).customers
FROM (SELECT crm.mbgnbd_fit(x, t_x, "T") AS m FROM cdnow_par) AS p, par_serial AS s;
RESET parallel_leader_participation;
RESET max_parallel_workers_per_gather;
RESET min_parallel_table_scan_size;
RESET parallel_tuple_cost;
RESET parallel_setup_cost;

-- Finite arguments give a finite result or 22003, never NaN or an
-- infinity (#16).
SELECT * FROM error_of($$SELECT crm.mbgnbd_loglik(2, 30, 40, crm.mbgnbd_model(1e308, 4.414, 0.793, 2.426))$$);
SELECT * FROM error_of($$SELECT crm.mbgnbd_loglik_gradient(2, 30, 40, crm.mbgnbd_model(0.243, 5e-324, 0.793, 2.426))$$);

-- A fit answers statement_timeout within a second (the fits share the
-- optimizer loop's interrupt check; bgnbd.sql has the BG/NBD case).
CREATE TEMP TABLE many_distinct AS
SELECT (g % 20)::float8 AS x, (g % 997)::float8 / 3 + g * 1e-7 AS t_x, 1000 + (g % 1009)::float8 / 7 + g * 1e-7 AS t
FROM generate_series(1, 400000) AS g;
SELECT clock_timestamp() AS started \gset
SET statement_timeout = '300ms';
SELECT crm.mbgnbd_fit(x, t_x, t) FROM many_distinct;
RESET statement_timeout;
SELECT clock_timestamp() - :'started'::timestamptz < interval '1.3 s' AS cancelled_within_a_second;
