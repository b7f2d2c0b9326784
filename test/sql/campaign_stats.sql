-- Planning a campaign: the normal distribution, the members a campaign
-- needs to detect an uplift and the uplift an audience can detect, against
-- the textbook formula written out in plain SQL; bad input.
\i test/fixtures/extension.sql
SET timezone = 'UTC';
\set SHOW_CONTEXT never
SET client_min_messages = warning;

-- The normal distribution against published values (Abramowitz and Stegun,
-- table 26.1; the quantiles to 16 digits).
SELECT crm.normal_cdf(0) AS cdf_0,
	   abs(crm.normal_cdf(1.959963984540054) - 0.975) < 1e-15 AS cdf_1_96,
	   abs(crm.normal_cdf(-3) - 0.0013498980316301) < 1e-16 AS cdf_minus_3,
	   crm.normal_cdf('-Infinity') AS cdf_minus_inf, crm.normal_cdf('Infinity') AS cdf_inf,
	   abs(crm.normal_quantile(0.975) - 1.959963984540054) < 1e-14 AS q_0_975,
	   abs(crm.normal_quantile(0.8) - 0.8416212335729143) < 1e-14 AS q_0_8,
	   abs(crm.normal_quantile(0.995) - 2.5758293035489004) < 1e-14 AS q_0_995,
	   abs(crm.normal_quantile(1e-10) + 6.361340902404056) < 1e-12 AS q_1e_10,
	   crm.normal_quantile(0.5) AS q_half;
-- The quantile inverts the distribution function from 0.1 down to 1e-300,
-- to the precision the tail's steepness allows (a relative error of about
-- x^2 units in the last place at x = normal_quantile(p)), and is
-- antisymmetric where 1 - p is exact enough to tell (p of 0.01 and more).
SELECT bool_and(abs(crm.normal_cdf(x) - p) / p < 1e-15 * (1 + x * x)) AS inverts,
	   max(abs(crm.normal_quantile(1 - p) + x)) FILTER (WHERE p >= 0.01) < 1e-14 AS antisymmetric
FROM (SELECT 10::float8 ^ (-e / 4.0) AS p FROM generate_series(4, 1200) AS e) AS g,
	 LATERAL (SELECT crm.normal_quantile(g.p) AS x) AS q;
SELECT * FROM public.error_of($$SELECT crm.normal_cdf('NaN')$$);
SELECT * FROM public.error_of($$SELECT crm.normal_quantile(0)$$);
SELECT * FROM public.error_of($$SELECT crm.normal_quantile(1)$$);
SELECT * FROM public.error_of($$SELECT crm.normal_quantile('NaN')$$);

-- Student's t against quantiles computed to 40 digits (mpmath's regularized
-- incomplete beta function) and the closed forms of 1, 2 and 3 degrees of
-- freedom; the quantile inverts the distribution function, from tiny to
-- huge degrees of freedom.
SELECT abs(crm.student_t_quantile(0.975, 1) - 12.706204736174693) < 1e-12 AS q_1,
	   abs(crm.student_t_quantile(0.975, 2) - 4.3026527297494618) < 1e-13 AS q_2,
	   abs(crm.student_t_quantile(0.975, 10) - 2.2281388519862742) < 1e-13 AS q_10,
	   abs(crm.student_t_quantile(0.975, 30) - 2.0422724563012379) < 1e-13 AS q_30,
	   abs(crm.student_t_quantile(0.995, 5) - 4.0321429835552272) < 1e-13 AS q_5,
	   crm.student_t_quantile(0.975, 'Infinity') = crm.normal_quantile(0.975) AS q_inf,
	   crm.student_t_quantile(0.5, 7) AS q_half, crm.student_t_cdf(0, 7) AS cdf_0,
	   crm.student_t_cdf('-Infinity', 3) AS cdf_minus_inf, crm.student_t_cdf('Infinity', 3) AS cdf_inf;
SELECT max(abs(crm.student_t_cdf(t, 1) - (0.5 + atan(t) / pi()))) < 1e-15 AS cauchy,
	   max(abs(crm.student_t_cdf(t, 2) - (0.5 + t / (2 * sqrt(2 + t * t))))) < 1e-15 AS two_df,
	   max(abs(crm.student_t_cdf(t, 3) - (0.5 + ((t / sqrt(3)) / (1 + t * t / 3) + atan(t / sqrt(3))) / pi()))) < 1e-14 AS three_df
FROM generate_series(-20, 20, 0.25) AS t;
SELECT bool_and(abs(crm.student_t_cdf(crm.student_t_quantile(p, df), df) - p) <= 1e-10 * p) AS inverts
FROM unnest(ARRAY[0.5, 1, 2.5, 7, 30, 1000, 1e6, 1e9]) AS df,
	 unnest(ARRAY[1e-12, 1e-6, 0.025, 0.3, 0.5, 0.7, 0.975]) AS p;
-- At 0.001 degrees of freedom the 0.3 quantile is about -1e220.
SELECT abs(crm.student_t_cdf(crm.student_t_quantile(0.3, 1e-3), 1e-3) - 0.3) < 1e-12 AS inverts_heavy_tails,
	   crm.student_t_quantile(0.3, 1e-3) < -1e219 AS huge;
SELECT * FROM public.error_of($$SELECT crm.student_t_cdf('NaN', 3)$$);
SELECT * FROM public.error_of($$SELECT crm.student_t_cdf(1, 0)$$);
SELECT * FROM public.error_of($$SELECT crm.student_t_cdf(1, 'NaN')$$);
SELECT * FROM public.error_of($$SELECT crm.student_t_quantile(1, 3)$$);
SELECT * FROM public.error_of($$SELECT crm.student_t_quantile(0.5, -2)$$);
SELECT * FROM public.error_of($$SELECT crm.student_t_quantile(0.025, 1e-300)$$);

-- Sample sizes against the textbook formula (two-sided Wald test of two
-- proportions, unpooled variances, control share k):
--   n = (z(1 - alpha/2) + z(power))^2 (p0 (1 - p0) / k + p1 (1 - p1) / (1 - k)) / uplift^2
-- with the z values written out.
CREATE TEMP TABLE planning_case (baseline double precision, uplift double precision, alpha double precision,
								 power double precision, k double precision, z_alpha double precision,
								 z_power double precision);
INSERT INTO planning_case VALUES
	(0.05, 0.01, 0.05, 0.8, 0.1, 1.959963984540054, 0.8416212335729143),
	(0.05, 0.01, 0.05, 0.8, 0.5, 1.959963984540054, 0.8416212335729143),
	(0.10, 0.02, 0.05, 0.9, 0.5, 1.959963984540054, 1.2815515655446004),
	(0.02, 0.005, 0.01, 0.8, 0.2, 2.5758293035489004, 0.8416212335729143),
	(0.30, 0.05, 0.10, 0.95, 0.05, 1.6448536269514722, 1.6448536269514722),
	(0.50, 0.50, 0.05, 0.8, 0.1, 1.959963984540054, 0.8416212335729143);
SELECT c.baseline, c.uplift, c.alpha, c.power, c.k,
	   crm.campaign_sample_size(c.baseline, c.uplift, c.alpha, c.power, c.k) AS members,
	   ceil((c.z_alpha + c.z_power) ^ 2
			* (c.baseline * (1 - c.baseline) / c.k + (c.baseline + c.uplift) * (1 - c.baseline - c.uplift) / (1 - c.k))
			/ c.uplift ^ 2) AS textbook
FROM planning_case AS c ORDER BY 1, 2, 5;
-- The defaults are alpha 0.05, power 0.8, control share 0.1.
SELECT crm.campaign_sample_size(0.05, 0.01) = crm.campaign_sample_size(0.05, 0.01, 0.05, 0.8, 0.1) AS defaults;
-- The inverse: the uplift an audience can detect.  The textbook formula at
-- that uplift needs exactly the audience; round trips stay within a member.
SELECT c.baseline, c.k, n.members,
	   round(crm.campaign_detectable_uplift(c.baseline, n.members, c.alpha, c.power, c.k)::numeric, 6) AS uplift,
	   abs((c.z_alpha + c.z_power) ^ 2
		   * (c.baseline * (1 - c.baseline) / c.k
			  + (c.baseline + u.u) * (1 - c.baseline - u.u) / (1 - c.k)) / u.u ^ 2 / n.members - 1) < 1e-12 AS textbook_needs_exactly_members
FROM planning_case AS c
CROSS JOIN (VALUES (1000::bigint), (50000), (2000000)) AS n (members)
CROSS JOIN LATERAL (SELECT crm.campaign_detectable_uplift(c.baseline, n.members, c.alpha, c.power, c.k) AS u) AS u
WHERE c.uplift < 0.5
ORDER BY 1, 2, 3;
SELECT bool_and(crm.campaign_detectable_uplift(c.baseline, crm.campaign_sample_size(c.baseline, c.uplift, c.alpha, c.power, c.k),
											   c.alpha, c.power, c.k) <= c.uplift) AS sample_size_detects_its_uplift,
	   bool_and(crm.campaign_sample_size(c.baseline, crm.campaign_detectable_uplift(c.baseline, 12345, c.alpha, c.power, c.k),
										 c.alpha, c.power, c.k) BETWEEN 12345 AND 12346) AS detectable_uplift_needs_the_audience
FROM planning_case AS c WHERE c.uplift < 0.5;

-- Bad input: SQLSTATE, message and hint.
SELECT * FROM public.error_of($$SELECT crm.campaign_sample_size(NULL, 0.01)$$);
SELECT * FROM public.error_of($$SELECT crm.campaign_sample_size(0.05, NULL)$$);
SELECT * FROM public.error_of($$SELECT crm.campaign_sample_size(0.05, 0.01, NULL)$$);
SELECT * FROM public.error_of($$SELECT crm.campaign_sample_size(0.05, 0.01, power => NULL)$$);
SELECT * FROM public.error_of($$SELECT crm.campaign_sample_size(0.05, 0.01, control_share => NULL)$$);
SELECT * FROM public.error_of($$SELECT crm.campaign_sample_size(0, 0.01)$$);
SELECT * FROM public.error_of($$SELECT crm.campaign_sample_size(1, 0.01)$$);
SELECT * FROM public.error_of($$SELECT crm.campaign_sample_size('NaN', 0.01)$$);
SELECT * FROM public.error_of($$SELECT crm.campaign_sample_size(0.05, 0)$$);
SELECT * FROM public.error_of($$SELECT crm.campaign_sample_size(0.05, -0.01)$$);
SELECT * FROM public.error_of($$SELECT crm.campaign_sample_size(0.05, 0.96)$$);
SELECT * FROM public.error_of($$SELECT crm.campaign_sample_size(0.05, 'Infinity')$$);
SELECT * FROM public.error_of($$SELECT crm.campaign_sample_size(0.05, 1e-300)$$);
SELECT * FROM public.error_of($$SELECT crm.campaign_sample_size(0.05, 0.01, alpha => 0)$$);
SELECT * FROM public.error_of($$SELECT crm.campaign_sample_size(0.05, 0.01, alpha => 1)$$);
SELECT * FROM public.error_of($$SELECT crm.campaign_sample_size(0.05, 0.01, power => 1)$$);
SELECT * FROM public.error_of($$SELECT crm.campaign_sample_size(0.05, 0.01, power => 0.02)$$);
SELECT * FROM public.error_of($$SELECT crm.campaign_sample_size(0.05, 0.01, control_share => 0)$$);
SELECT * FROM public.error_of($$SELECT crm.campaign_sample_size(0.05, 0.01, control_share => 1)$$);
SELECT * FROM public.error_of($$SELECT crm.campaign_sample_size(0.05, 0.01, control_share => 'NaN')$$);
SELECT * FROM public.error_of($$SELECT crm.campaign_detectable_uplift(0.05, NULL)$$);
SELECT * FROM public.error_of($$SELECT crm.campaign_detectable_uplift(0.05, 0)$$);
SELECT * FROM public.error_of($$SELECT crm.campaign_detectable_uplift(0.05, -5)$$);
SELECT * FROM public.error_of($$SELECT crm.campaign_detectable_uplift(0.05, 3)$$);
SELECT * FROM public.error_of($$SELECT crm.campaign_detectable_uplift(2, 1000)$$);
SELECT * FROM public.error_of($$SELECT crm.campaign_detectable_uplift(0.05, 1000, control_share => 1.5)$$);
-- Extreme but valid: the largest audience there is, a tiny uplift, a tiny alpha.
SELECT crm.campaign_detectable_uplift(0.05, 9223372036854775807) < 1e-9 AS huge_audience_detects_tiny_uplift,
	   crm.campaign_sample_size(0.05, 1e-9) > 1e18 AS tiny_uplift_needs_huge_audience,
	   crm.campaign_sample_size(0.05, 0.01, alpha => 1e-300) > crm.campaign_sample_size(0.05, 0.01) AS tiny_alpha_needs_more;
