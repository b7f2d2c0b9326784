-- Gamma-Gamma: the fit on the CDNOW repeat customers against lifetimes, a
-- true maximum, analytic gradients against finite differences, expected
-- spend against the formula in SQL, edge cases, bad input, malformed and
-- empty states, and a parallel plan.
\i test/fixtures/extension.sql
SET extra_float_digits = 0;
\set SHOW_CONTEXT never

CREATE TABLE gg_cdnow (id int PRIMARY KEY, x float8, t_x float8, "T" float8, zbar float8);
\copy gg_cdnow FROM 'test/data/cdnow_summary.csv' WITH (FORMAT csv, HEADER true)

-- lifetimes fits p = 6.2490, q = 3.7448, v = 15.4425 over 946 repeat
-- customers; customers with x = 0 (zbar 0 in this file) are skipped.
CREATE TABLE gg_fit AS SELECT crm.gamma_gamma_fit(x, zbar) AS m FROM gg_cdnow;
SELECT round((m).p::numeric, 2) AS p, round((m).q::numeric, 2) AS q, round((m).v::numeric, 2) AS v,
	   round((m).log_likelihood::numeric, 3) AS log_likelihood, (m).customers, (m).converged,
	   round((m).spend_frequency_corr::numeric, 4) AS spend_frequency_corr
FROM gg_fit;
SELECT abs((m).p - 6.2490) < 0.01 AS p_matches, abs((m).q - 3.7448) < 0.01 AS q_matches,
	   abs((m).v - 15.4425) < 0.01 AS v_matches
FROM gg_fit;
-- Our maximum is at least as high as the lifetimes estimate's.
SELECT sum(crm.gamma_gamma_loglik(x, zbar, crm.gamma_gamma_model(6.2490, 3.7448, 15.4425))) <= min((m).log_likelihood) AS at_least_as_likely,
	   round((sum(crm.gamma_gamma_loglik(x, zbar, m)) - min((m).log_likelihood))::numeric, 9) AS sum_difference
FROM gg_cdnow, gg_fit WHERE x > 0;
-- Standard errors from the observed information against the inverse of
-- the Hessian taken here by second differences of the summed
-- gamma_gamma_loglik in ln(p), ln(q), ln(v) (steps of 1e-4), inverted by
-- cofactors: the same quantity by another route, to 0.1 %.
CREATE FUNCTION pg_temp.gg_ll(lp float8, lq float8, lv float8) RETURNS float8 LANGUAGE sql AS $$
	SELECT sum(crm.gamma_gamma_loglik(x, zbar, crm.gamma_gamma_model(exp(lp), exp(lq), exp(lv)))) FROM gg_cdnow WHERE x > 0
$$;
WITH f AS (SELECT ln((m).p) AS lp, ln((m).q) AS lq, ln((m).v) AS lv, m FROM gg_fit),
	 h AS (SELECT f.*, 1e-4::float8 AS e FROM f),
	 hess AS (
	SELECT m, lp, lq, lv,
		   -(pg_temp.gg_ll(lp + e, lq, lv) - 2 * pg_temp.gg_ll(lp, lq, lv) + pg_temp.gg_ll(lp - e, lq, lv)) / (e * e) AS h00,
		   -(pg_temp.gg_ll(lp, lq + e, lv) - 2 * pg_temp.gg_ll(lp, lq, lv) + pg_temp.gg_ll(lp, lq - e, lv)) / (e * e) AS h11,
		   -(pg_temp.gg_ll(lp, lq, lv + e) - 2 * pg_temp.gg_ll(lp, lq, lv) + pg_temp.gg_ll(lp, lq, lv - e)) / (e * e) AS h22,
		   -(pg_temp.gg_ll(lp + e, lq + e, lv) - pg_temp.gg_ll(lp + e, lq - e, lv) - pg_temp.gg_ll(lp - e, lq + e, lv) + pg_temp.gg_ll(lp - e, lq - e, lv)) / (4 * e * e) AS h01,
		   -(pg_temp.gg_ll(lp + e, lq, lv + e) - pg_temp.gg_ll(lp + e, lq, lv - e) - pg_temp.gg_ll(lp - e, lq, lv + e) + pg_temp.gg_ll(lp - e, lq, lv - e)) / (4 * e * e) AS h02,
		   -(pg_temp.gg_ll(lp, lq + e, lv + e) - pg_temp.gg_ll(lp, lq + e, lv - e) - pg_temp.gg_ll(lp, lq - e, lv + e) + pg_temp.gg_ll(lp, lq - e, lv - e)) / (4 * e * e) AS h12
	FROM h
), inv AS (
	SELECT m, lp, lq, lv,
		   h00 * (h11 * h22 - h12 * h12) - h01 * (h01 * h22 - h12 * h02) + h02 * (h01 * h12 - h11 * h02) AS det,
		   h11 * h22 - h12 * h12 AS c00, h00 * h22 - h02 * h02 AS c11, h00 * h11 - h01 * h01 AS c22
	FROM hess
)
SELECT round((m).p_se::numeric, 3) AS p_se, round((m).q_se::numeric, 3) AS q_se, round((m).v_se::numeric, 3) AS v_se,
	   abs((m).p_se / (exp(lp) * sqrt(c00 / det)) - 1) < 1e-3 AND
	   abs((m).q_se / (exp(lq) * sqrt(c11 / det)) - 1) < 1e-3 AND
	   abs((m).v_se / (exp(lv) * sqrt(c22 / det)) - 1) < 1e-3 AS match_second_differences
FROM inv;

-- The correlation is Pearson's over the fitted customers.
SELECT round((corr(x, zbar) - min((m).spend_frequency_corr))::numeric, 12) AS corr_difference
FROM gg_cdnow, gg_fit WHERE x > 0;

-- A true maximum: moving any parameter by 1 % either way lowers the
-- log-likelihood.
CREATE FUNCTION pg_temp.gg_ll(p float8[]) RETURNS float8 LANGUAGE sql AS $$
	SELECT sum(crm.gamma_gamma_loglik(x, zbar, crm.gamma_gamma_model(p[1], p[2], p[3]))) FROM gg_cdnow WHERE x > 0
$$;
CREATE FUNCTION pg_temp.moved(p float8[], i int, delta float8) RETURNS float8[] LANGUAGE sql AS $$
	SELECT array_agg(CASE WHEN j = i THEN p[j] + delta ELSE p[j] END ORDER BY j)
	FROM generate_series(1, array_length(p, 1)) AS j
$$;
WITH f AS (SELECT ARRAY[(m).p, (m).q, (m).v] AS p, (m).log_likelihood AS ll FROM gg_fit)
SELECT (ARRAY['p', 'q', 'v'])[i] AS parameter, factor,
	   pg_temp.gg_ll(pg_temp.moved(p, i, p[i] * (factor - 1))) < ll AS lower
FROM f, generate_series(1, 3) AS i, unnest(ARRAY[0.99, 1.01]) AS factor
ORDER BY i, factor;

-- Analytic gradient against central finite differences.
WITH pts(point, p) AS (
	SELECT 'fit', ARRAY[(m).p, (m).q, (m).v] FROM gg_fit
	UNION ALL VALUES ('start', ARRAY[1, 2, 35]::float8[]), ('far', ARRAY[0.5, 10, 3]::float8[])
), analytic AS (
	SELECT point, i, sum(g[i]) AS g
	FROM pts, gg_cdnow,
		 LATERAL crm.gamma_gamma_loglik_gradient(x, zbar, crm.gamma_gamma_model(p[1], p[2], p[3])) AS g,
		 generate_series(1, 3) AS i
	WHERE x > 0
	GROUP BY point, i
), numeric_ AS (
	SELECT point, i, (pg_temp.gg_ll(pg_temp.moved(p, i, 1e-5 * p[i])) -
					  pg_temp.gg_ll(pg_temp.moved(p, i, -1e-5 * p[i]))) / (2e-5 * p[i]) AS g
	FROM pts, generate_series(1, 3) AS i
)
SELECT point, (ARRAY['p', 'q', 'v'])[i] AS parameter, round(a.g::numeric, 2) AS analytic,
	   abs(a.g - n.g) <= 1e-5 * greatest(abs(a.g), 1) AS agrees
FROM analytic AS a JOIN numeric_ AS n USING (point, i)
ORDER BY point, i;

-- Expected spend against the formula, and the population mean for x = 0.
SELECT id, x, zbar, round(crm.expected_spend(x, zbar, m)::numeric, 6) AS expected_spend,
	   abs(crm.expected_spend(x, zbar, m) - 6.25 * (15.44 + x * zbar) / (6.25 * x + 3.74 - 1)) < 1e-12 AS agrees
FROM gg_cdnow, (SELECT crm.gamma_gamma_model(6.25, 3.74, 15.44) AS m) AS model
WHERE id IN (1, 2, 3, 9, 100)
ORDER BY id;
SELECT round(crm.expected_spend(0, NULL, m)::numeric, 6) AS population_mean,
	   crm.expected_spend(0, NULL, m) = crm.expected_spend(0, 123, m) AS monetary_ignored,
	   abs(crm.expected_spend(0, NULL, m) - 6.25 * 15.44 / 2.74) < 1e-12 AS agrees
FROM (SELECT crm.gamma_gamma_model(6.25, 3.74, 15.44) AS m) AS model;

-- NULLs: the model or the frequency NULL gives NULL, monetary_avg NULL
-- gives NULL for a repeat customer only.
SELECT crm.expected_spend(NULL, 10, m) IS NULL AS null_frequency,
	   crm.expected_spend(2, NULL, m) IS NULL AS null_monetary_repeat,
	   crm.expected_spend(2, 10, NULL) IS NULL AS null_model
FROM (SELECT crm.gamma_gamma_model(6.25, 3.74, 15.44) AS m) AS model;
SELECT * FROM error_of($$SELECT crm.expected_spend(2, 0, crm.gamma_gamma_model(1, 2, 3))$$);
SELECT * FROM error_of($$SELECT crm.expected_spend(2, 'NaN', crm.gamma_gamma_model(1, 2, 3))$$);
SELECT * FROM error_of($$SELECT crm.expected_spend(0, -5, crm.gamma_gamma_model(1, 2, 3))$$);
SELECT * FROM error_of($$SELECT crm.expected_spend(1.5, 5, crm.gamma_gamma_model(1, 2, 3))$$);
-- q <= 1: no finite population mean
SELECT * FROM error_of($$SELECT crm.expected_spend(0, NULL, crm.gamma_gamma_model(1, 0.5, 3))$$);
SELECT round(crm.expected_spend(1, 10, crm.gamma_gamma_model(1, 0.5, 3))::numeric, 6) AS finite_for_repeat_customer;

-- Constructor: > 0 and finite.
SELECT crm.gamma_gamma_model(6.25, 3.74, 15.44);
SELECT * FROM error_of($$SELECT crm.gamma_gamma_model(0, 1, 1)$$);
SELECT * FROM error_of($$SELECT crm.gamma_gamma_model(1, 'Infinity', 1)$$);
SELECT * FROM error_of($$SELECT crm.expected_spend(1, 1, ROW(1, 1, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL)::crm.gamma_gamma_model)$$);
-- The per-customer log-likelihood is for repeat customers only.
SELECT * FROM error_of($$SELECT crm.gamma_gamma_loglik(0, 10, crm.gamma_gamma_model(1, 2, 3))$$);

-- The aggregate: NULL for no rows and without repeat customers; rows with
-- x = 0 may have a NULL monetary_avg; other NULLs and bad values raise.
SELECT crm.gamma_gamma_fit(x, zbar) IS NULL AS no_rows FROM gg_cdnow WHERE false;
SELECT crm.gamma_gamma_fit(x, NULL) IS NULL AS no_repeat_customers FROM gg_cdnow WHERE x = 0;
SELECT (m).customers, round((m).p::numeric, 2) AS p
FROM (SELECT crm.gamma_gamma_fit(x, CASE WHEN x > 0 THEN zbar END) AS m FROM gg_cdnow) AS s;
SELECT * FROM error_of($$SELECT crm.gamma_gamma_fit(x, z) FROM (VALUES (NULL::float8, 10::float8)) AS v(x, z)$$);
SELECT * FROM error_of($$SELECT crm.gamma_gamma_fit(x, z) FROM (VALUES (2, NULL::float8)) AS v(x, z)$$);
SELECT * FROM error_of($$SELECT crm.gamma_gamma_fit(x, z) FROM (VALUES (2, -3)) AS v(x, z)$$);
SELECT * FROM error_of($$SELECT crm.gamma_gamma_fit(x, z) FROM (VALUES (2, 'Infinity'::float8)) AS v(x, z)$$);
SELECT * FROM error_of($$SELECT crm.gamma_gamma_fit(x, z) FROM (VALUES (-2, 3)) AS v(x, z)$$);
SELECT * FROM error_of($$SELECT crm.gamma_gamma_fit(x, z) FROM (VALUES (2.5, 3)) AS v(x, z)$$);

-- States: a state of skipped rows only is empty; combining two empty
-- states gives an empty one and its model is NULL; foreign and malformed
-- states raise 22P03.
CREATE TABLE gg_states AS
SELECT crm.gamma_gamma_fit_accum(NULL, 0, NULL) AS empty,
	   crm.gamma_gamma_fit_accum(NULL, 2, 10) AS one,
	   crm.bgnbd_fit_accum(NULL, 1, 2, 3) AS bg;
SELECT crm.gamma_gamma_fit_final(crm.gamma_gamma_fit_combine(empty, empty)) IS NULL AS empty_combined_is_null,
	   crm.gamma_gamma_fit_final(crm.gamma_gamma_fit_combine(empty, one)) = crm.gamma_gamma_fit_final(one) AS empty_is_neutral,
	   crm.gamma_gamma_fit_final(crm.gamma_gamma_fit_combine(one, empty)) = crm.gamma_gamma_fit_final(one) AS neutral_either_side,
	   (crm.gamma_gamma_fit_final(one)).customers AS one_customer
FROM gg_states;
SELECT * FROM error_of($$SELECT crm.gamma_gamma_fit_combine(one, bg) FROM gg_states$$);
SELECT * FROM error_of($$SELECT crm.gamma_gamma_fit_final('\x0102') FROM gg_states$$);
-- zbar = -1 written over the first point's mean spend
SELECT * FROM error_of($$SELECT crm.gamma_gamma_fit_final(overlay(one PLACING '\x000000000000f0bf' FROM 45)) FROM gg_states$$);

-- A parallel plan gives the same model as the serial one.
CREATE TABLE gg_par AS SELECT c.*, k FROM gg_cdnow AS c, generate_series(1, 20) AS k;
ANALYZE gg_par;
SET max_parallel_workers_per_gather = 0;
CREATE TEMP TABLE gg_serial AS SELECT crm.gamma_gamma_fit(x, zbar) AS m FROM gg_par;
SET parallel_setup_cost = 0;
SET parallel_tuple_cost = 0;
SET min_parallel_table_scan_size = 0;
SET max_parallel_workers_per_gather = 2;
SET parallel_leader_participation = off;
EXPLAIN (COSTS OFF) SELECT crm.gamma_gamma_fit(x, zbar) FROM gg_par;
SELECT p.m = s.m AS same_model, (p.m).customers, round((p.m).p::numeric, 2) AS p
FROM (SELECT crm.gamma_gamma_fit(x, zbar) AS m FROM gg_par) AS p, gg_serial AS s;
RESET parallel_leader_participation;
RESET max_parallel_workers_per_gather;
RESET min_parallel_table_scan_size;
RESET parallel_tuple_cost;
RESET parallel_setup_cost;

-- Finite arguments give a finite result or 22003, never NaN or an
-- infinity (#16).
SELECT * FROM error_of($$SELECT crm.gamma_gamma_loglik(2, 35, crm.gamma_gamma_model(1e308, 3.74, 15.44))$$);
SELECT * FROM error_of($$SELECT crm.gamma_gamma_loglik(2, 1e308, crm.gamma_gamma_model(6.25, 3.74, 15.44))$$);
SELECT * FROM error_of($$SELECT crm.gamma_gamma_loglik_gradient(2, 35, crm.gamma_gamma_model(6.25, 3.74, 5e-324))$$);
SELECT * FROM error_of($$SELECT crm.expected_spend(2, 1e308, crm.gamma_gamma_model(6.25, 3.74, 15.44))$$);
SELECT * FROM error_of($$SELECT crm.expected_spend(2, 35, crm.gamma_gamma_model(1e308, 3.74, 15.44))$$);
-- A row whose total repeat spend x * zbar overflows is rejected when it is
-- added: it would make every row's likelihood infinite.
SELECT * FROM error_of($$SELECT crm.gamma_gamma_fit(x, zbar) FROM (VALUES (2, 30), (3, 40), (1e9, 1e300)) AS v (x, zbar)$$);
-- A mean spend near the largest double, with a finite total, still fits:
-- the mean and the spend-frequency correlation do not overflow.
SELECT (m).customers, (m).p IS NOT NULL AS fitted, round((m).spend_frequency_corr::numeric, 6) AS corr
FROM (SELECT crm.gamma_gamma_fit(x, zbar) AS m
	  FROM (VALUES (2, 30), (3, 40), (1, 1e300), (1, 1.5e308)) AS v (x, zbar)) AS f;

-- A fit answers statement_timeout within a second (#16): over 1M
-- distinct rows it takes seconds; the optimizer's loop checks for
-- interrupts.
CREATE TEMP TABLE many_spends AS
SELECT 1 + (g % 20)::float8 AS x, 10 + (g % 997)::float8 / 3 + g * 1e-7 AS zbar
FROM generate_series(1, 1000000) AS g;
SELECT clock_timestamp() AS started \gset
SET statement_timeout = '2s';
SELECT crm.gamma_gamma_fit(x, zbar) FROM many_spends;
RESET statement_timeout;
SELECT clock_timestamp() - :'started'::timestamptz < interval '3 s' AS cancelled_within_a_second;
