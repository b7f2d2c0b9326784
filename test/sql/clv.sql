-- CLV and the stability of the scoring functions: CLV against its
-- definition summed in SQL, telescoping without discount, heavy buyers,
-- long-lapsed customers and huge T stay finite and monotone, bad arguments.
\i test/fixtures/extension.sql
SET extra_float_digits = 0;
\set SHOW_CONTEXT never

CREATE TABLE clv_cdnow (id int PRIMARY KEY, x float8, t_x float8, "T" float8, zbar float8);
\copy clv_cdnow FROM 'test/data/cdnow_summary.csv' WITH (FORMAT csv, HEADER true)
CREATE TABLE clv_models AS
SELECT crm.bgnbd_model(0.243, 4.414, 0.793, 2.426) AS bg, crm.gamma_gamma_model(6.25, 3.74, 15.44) AS gg;

-- 12 months of CDNOW customers (weeks: 4.345 per month), 1 % a month,
-- against the definition summed month by month in SQL.
SELECT id, x, round(crm.clv(x, t_x, "T", zbar, bg, gg, 12, 0.01, 4.345)::numeric, 4) AS clv_12,
	   abs(crm.clv(x, t_x, "T", zbar, bg, gg, 12, 0.01, 4.345) -
		   (SELECT sum(crm.expected_spend(x, zbar, gg) *
					   (crm.expected_purchases(k * 4.345, x, t_x, "T", bg) -
						crm.expected_purchases((k - 1) * 4.345, x, t_x, "T", bg)) / power(1.01, k))
			FROM generate_series(1, 12) AS k)) < 1e-9 AS matches_definition
FROM clv_cdnow, clv_models
WHERE id IN (1, 2, 3, 9, 157, 1516)
ORDER BY id;
-- Without discount the sum telescopes to E[spend] * E[Y(months * m)].
SELECT id, abs(crm.clv(x, t_x, "T", zbar, bg, gg, 24, 0, 4.345) -
			   crm.expected_spend(x, zbar, gg) * crm.expected_purchases(24 * 4.345, x, t_x, "T", bg)) < 1e-9 AS telescopes
FROM clv_cdnow, clv_models
WHERE id IN (1, 3, 157)
ORDER BY id;
-- The same customers in days give the same value when m says days.
SELECT abs(crm.clv(2, 30.43 * 7, 38.86 * 7, 22.35, crm.bgnbd_model(0.243, 4.414 * 7, 0.793, 2.426), gg, 12, 0.01, 4.345 * 7) -
		   crm.clv(2, 30.43, 38.86, 22.35, bg, gg, 12, 0.01, 4.345)) < 1e-9 AS unit_invariant
FROM clv_models;
-- months = 0 is 0; a customer without repeat purchases may have a NULL
-- monetary_avg (population mean spend), other NULLs give NULL.
SELECT crm.clv(1, 1, 2, 10, bg, gg, 0, 0.01, 4.345) AS zero_months,
	   round(crm.clv(0, 0, 30, NULL, bg, gg, 12, 0.01, 4.345)::numeric, 4) AS one_time_buyer,
	   crm.clv(1, 1, 2, NULL, bg, gg, 12, 0.01, 4.345) IS NULL AS null_monetary_repeat,
	   crm.clv(NULL, 1, 2, 10, bg, gg, 12, 0.01, 4.345) IS NULL AS null_frequency,
	   crm.clv(1, 1, 2, 10, NULL::crm.bgnbd_model, gg, 12, 0.01, 4.345) IS NULL AS null_bgnbd,
	   crm.clv(1, 1, 2, 10, bg, NULL, 12, 0.01, 4.345) IS NULL AS null_gg,
	   crm.clv(1, 1, 2, 10, bg, gg, NULL, 0.01, 4.345) IS NULL AS null_months,
	   crm.clv(1, 1, 2, 10, bg, gg, 12, NULL, 4.345) IS NULL AS null_discount,
	   crm.clv(1, 1, 2, 10, bg, gg, 12, 0.01, NULL) IS NULL AS null_periods
FROM clv_models;
SELECT * FROM error_of($$SELECT crm.clv(1, 1, 2, 10, bg, gg, -1, 0.01, 4.345) FROM clv_models$$);
SELECT * FROM error_of($$SELECT crm.clv(1, 1, 2, 10, bg, gg, 1.5, 0.01, 4.345) FROM clv_models$$);
SELECT * FROM error_of($$SELECT crm.clv(1, 1, 2, 10, bg, gg, 1201, 0.01, 4.345) FROM clv_models$$);
SELECT * FROM error_of($$SELECT crm.clv(1, 1, 2, 10, bg, gg, 'Infinity', 0.01, 4.345) FROM clv_models$$);
SELECT * FROM error_of($$SELECT crm.clv(1, 1, 2, 10, bg, gg, 12, -1, 4.345) FROM clv_models$$);
SELECT * FROM error_of($$SELECT crm.clv(1, 1, 2, 10, bg, gg, 12, 'NaN', 4.345) FROM clv_models$$);
SELECT * FROM error_of($$SELECT crm.clv(1, 1, 2, 10, bg, gg, 12, 0.01, 0) FROM clv_models$$);
SELECT * FROM error_of($$SELECT crm.clv(1, 3, 2, 10, bg, gg, 12, 0.01, 4.345) FROM clv_models$$);
SELECT * FROM error_of($$SELECT crm.clv(1, 1, 2, 0, bg, gg, 12, 0.01, 4.345) FROM clv_models$$);
SELECT * FROM error_of($$SELECT crm.clv(0, 0, 2, NULL, bg, crm.gamma_gamma_model(1, 0.9, 3), 12, 0.01, 4.345) FROM clv_models$$);
-- 1200 months is the most, and a long horizon on a new customer stays finite.
SELECT round(crm.clv(0, 0, 0, NULL, bg, gg, 1200, 0, 4.345)::numeric, 2) AS clv_100_years_new_customer
FROM clv_models;

-- Stability: one-time, single-repeat and very heavy buyers (x = 500), who
-- bought last at the analysis date (t_x = T) or right after their first
-- purchase (t_x = 0), for T = 39 weeks and T = 1e6 weeks.
CREATE TABLE extremes AS
SELECT x, t_x, t FROM unnest(ARRAY[0, 1, 500]::float8[]) AS x,
	 unnest(ARRAY[39, 1e6]::float8[]) AS t, LATERAL unnest(ARRAY[t, 0]) AS t_x
WHERE x > 0 OR t_x = 0;
SELECT x, t_x, t,
	   round(crm.p_alive(x, t_x, t, bg)::numeric, 6) AS p_alive,
	   round(crm.churn_risk(x, t_x, t, bg)::numeric, 6) AS churn_risk,
	   round(crm.expected_purchases(39, x, t_x, t, bg)::numeric, 6) AS expected_39,
	   round(crm.clv(x, t_x, t, 20, bg, gg, 12, 0.01, 4.345)::numeric, 4) AS clv_12
FROM extremes, clv_models
ORDER BY x, t, t_x;
-- Probabilities within [0, 1]; expected purchases and CLV finite, >= 0 and
-- non-decreasing in the horizon; P(alive) non-increasing in T.
SELECT bool_and(p BETWEEN 0 AND 1) AS probabilities_in_range,
	   bool_and(e >= 0 AND e < 'Infinity') AS expected_finite,
	   bool_and(e_prev IS NULL OR e >= e_prev) AS expected_monotone,
	   bool_and(c >= 0 AND c < 'Infinity') AS clv_finite,
	   bool_and(c_prev IS NULL OR c >= c_prev) AS clv_monotone
FROM (SELECT p, e, lag(e) OVER w AS e_prev, c, lag(c) OVER w AS c_prev
	  FROM (SELECT x, t_x, t, h,
				   crm.p_alive(x, t_x, t, bg) AS p,
				   crm.expected_purchases(h, x, t_x, t, bg) AS e,
				   crm.clv(x, t_x, t, 20, bg, gg, (h / 100)::int, 0.01, 4.345) AS c
			FROM extremes, clv_models, unnest(ARRAY[0, 1, 10, 100, 1000, 10000, 100000]::float8[]) AS h) AS s
	  WINDOW w AS (PARTITION BY x, t_x, t ORDER BY h)) AS m;
SELECT x, bool_and(p_next IS NULL OR p_next <= p) AS p_alive_non_increasing_in_t
FROM (SELECT x, t, crm.p_alive(x, 0, t, bg) AS p,
			 lead(crm.p_alive(x, 0, t, bg)) OVER (PARTITION BY x ORDER BY t) AS p_next
	  FROM unnest(ARRAY[0, 1, 2, 500]::float8[]) AS x,
		   unnest(ARRAY[0, 1, 10, 100, 1000, 1e4, 1e6, 1e9]::float8[]) AS t, clv_models) AS s
GROUP BY x ORDER BY x;
-- A fitted model with a near 1 (the closed form's a - 1 pole) stays smooth.
SELECT round(crm.expected_purchases(39, 2, 30, 39, crm.bgnbd_model(0.25, 4.4, 1 - 1e-9, 2.4))::numeric, 6) AS a_below_1,
	   round(crm.expected_purchases(39, 2, 30, 39, crm.bgnbd_model(0.25, 4.4, 1, 2.4))::numeric, 6) AS a_equal_1,
	   round(crm.expected_purchases(39, 2, 30, 39, crm.bgnbd_model(0.25, 4.4, 1 + 1e-9, 2.4))::numeric, 6) AS a_above_1;
-- A horizon 2e12 times alpha + t, far beyond any series, is finite and
-- right: 1785.4856041755731 is the posterior integral in mpmath at 30 digits.
SELECT abs(crm.expected_purchases(1e13, 0, 0, 0, bg) - 1785.4856041755731) <= 1e-11 * 1785.4856041755731 AS horizon_1e13
FROM clv_models;
-- CLV in days of customers first seen on the analysis date under an alpha
-- of half a day (the case that stopped the nightly refresh): finite, and
-- the months evaluated together match expected_purchases month by month.
SELECT x, t, round(c::numeric, 4) AS clv_120, abs(c - d) <= 1e-9 * d AS matches_definition
FROM (SELECT x, t,
			 crm.clv(x, t, t, 20, m, gg, 120, 0.01, 30.4375) AS c,
			 (SELECT sum(crm.expected_spend(x, 20, gg) *
						 (crm.expected_purchases(k * 30.4375, x, t, t, m) -
						  crm.expected_purchases((k - 1) * 30.4375, x, t, t, m)) / power(1.01, k))
			  FROM generate_series(1, 120) AS k) AS d
	  FROM clv_models, (SELECT crm.bgnbd_model(0.2, 0.5, 0.8, 2.5) AS m) AS model,
		   unnest(ARRAY[0, 1, 5]::float8[]) AS x, unnest(ARRAY[0, 10, 400]::float8[]) AS t) AS s
ORDER BY x, t;
