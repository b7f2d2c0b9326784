-- Statistics of campaigns: the standard normal and Student's t
-- distributions (C, campaign_stats.c); the comparison of a treated group
-- with a control group (uplifts with 95 % intervals and p-values, revenue
-- plain and CUPED-adjusted); the sample-ratio check of an assignment; and
-- planning: the audience a campaign needs to detect an uplift, and the
-- uplift an audience can detect, both resting on the test whose interval
-- crm.compare_groups reports for conversion (two-sided Wald test of a
-- difference of two proportions, unpooled variances).

CREATE OR REPLACE FUNCTION @extschema@.normal_cdf(x double precision)
RETURNS double precision
LANGUAGE c IMMUTABLE STRICT PARALLEL SAFE
AS 'MODULE_PATHNAME', 'normal_cdf';
COMMENT ON FUNCTION @extschema@.normal_cdf(double precision) IS
	'P(Z <= x) for a standard normal Z, to double precision (erfc); 0 and 1 at -Infinity and Infinity. 22023 for NaN.';

CREATE OR REPLACE FUNCTION @extschema@.normal_quantile(p double precision)
RETURNS double precision
LANGUAGE c IMMUTABLE STRICT PARALLEL SAFE
AS 'MODULE_PATHNAME', 'normal_quantile';
COMMENT ON FUNCTION @extschema@.normal_quantile(double precision) IS
	'The x with P(Z <= x) = p for a standard normal Z, to a few units in the last place; normal_quantile(0.975) = 1.959964. 22023 unless 0 < p < 1.';

CREATE OR REPLACE FUNCTION @extschema@.student_t_cdf(t double precision, df double precision)
RETURNS double precision
LANGUAGE c IMMUTABLE STRICT PARALLEL SAFE
AS 'MODULE_PATHNAME', 'student_t_cdf';
COMMENT ON FUNCTION @extschema@.student_t_cdf(double precision, double precision) IS
	'P(T <= t) for Student''s t with df degrees of freedom (any df from 1e-300, whole or not; Infinity is the normal), to a relative error below 1e-10; 0 and 1 at -Infinity and Infinity. 22023 for NaN or df below 1e-300.';

CREATE OR REPLACE FUNCTION @extschema@.student_t_quantile(p double precision, df double precision)
RETURNS double precision
LANGUAGE c IMMUTABLE STRICT PARALLEL SAFE
AS 'MODULE_PATHNAME', 'student_t_quantile';
COMMENT ON FUNCTION @extschema@.student_t_quantile(double precision, double precision) IS
	'The t with P(T <= t) = p for Student''s t with df degrees of freedom; student_t_quantile(0.975, 10) = 2.228139. 22023 unless 0 < p < 1 and df >= 1e-300; 22003 when the quantile exceeds double precision (extreme p below 1 degree of freedom).';

-- What the comparison of two groups needs, one pass over the members: per
-- group the members, the converters, the sum and sum of squares of each
-- member's revenue y (members without a sale count as 0), and for CUPED the
-- sums of the pre-period covariate x, of x^2 and of x y.
CREATE TYPE @extschema@.group_outcomes AS (
	members				bigint,
	converters			bigint,
	revenue				numeric,
	revenue_squares		numeric,
	pre_revenue			numeric,
	pre_revenue_squares	numeric,
	revenue_pre_products numeric
);
COMMENT ON TYPE @extschema@.group_outcomes IS
	'Sums over the members of one group that crm.compare_groups needs: members, converters, revenue (y), y^2, the pre-period covariate (x), x^2 and x*y. Build it with ROW(count(*), count(*) FILTER (WHERE converted), sum(y), sum(y*y), sum(x), sum(x*x), sum(x*y))::crm.group_outcomes; give 0 for the three x sums when there is no covariate.';

COMMENT ON COLUMN @extschema@.group_outcomes.members IS 'Members of the group.';
COMMENT ON COLUMN @extschema@.group_outcomes.converters IS 'Members who converted.';
COMMENT ON COLUMN @extschema@.group_outcomes.revenue IS 'Sum of the members'' revenue y (0 for a member without a sale).';
COMMENT ON COLUMN @extschema@.group_outcomes.revenue_squares IS 'Sum of y^2.';
COMMENT ON COLUMN @extschema@.group_outcomes.pre_revenue IS 'Sum of the pre-period covariate x (CUPED); 0 without one.';
COMMENT ON COLUMN @extschema@.group_outcomes.pre_revenue_squares IS 'Sum of x^2.';
COMMENT ON COLUMN @extschema@.group_outcomes.revenue_pre_products IS 'Sum of x * y.';

-- Variances and covariances are taken in numeric, exactly, before the
-- square root.  CUPED (Deng, Xu, Kohavi and Walker 2013): each member's
-- revenue minus theta (x - mean x), theta = Cov(x, y) / Var(x) over both
-- groups together; the adjusted difference has the same expectation and a
-- variance smaller by the share of Var(y) that x explains.
CREATE OR REPLACE FUNCTION @extschema@.compare_groups(
	treated @extschema@.group_outcomes, control @extschema@.group_outcomes,
	OUT conversion_uplift double precision, OUT conversion_uplift_low double precision,
	OUT conversion_uplift_high double precision, OUT relative_conversion_uplift double precision,
	OUT relative_conversion_uplift_low double precision, OUT relative_conversion_uplift_high double precision,
	OUT conversion_p_value double precision,
	OUT revenue_uplift double precision, OUT revenue_uplift_low double precision,
	OUT revenue_uplift_high double precision, OUT revenue_p_value double precision,
	OUT cuped_revenue_uplift double precision, OUT cuped_revenue_uplift_low double precision,
	OUT cuped_revenue_uplift_high double precision, OUT cuped_revenue_p_value double precision,
	OUT cuped_variance_reduction double precision)
LANGUAGE sql IMMUTABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
	WITH g AS (
		SELECT (treated).members AS n1, (control).members AS n0,
			   (treated).converters AS c1, (control).converters AS c0,
			   coalesce((treated).revenue, 0) AS y1, coalesce((control).revenue, 0) AS y0,
			   coalesce((treated).revenue_squares, 0) AS yy1, coalesce((control).revenue_squares, 0) AS yy0,
			   coalesce((treated).pre_revenue, 0) AS x1, coalesce((control).pre_revenue, 0) AS x0,
			   coalesce((treated).pre_revenue_squares, 0) AS xx1, coalesce((control).pre_revenue_squares, 0) AS xx0,
			   coalesce((treated).revenue_pre_products, 0) AS xy1, coalesce((control).revenue_pre_products, 0) AS xy0
	), moments AS (
		SELECT g.n1, g.n0,
			   CASE WHEN g.n1 > 0 THEN g.c1::float8 / g.n1 END AS p1,
			   CASE WHEN g.n0 > 0 THEN g.c0::float8 / g.n0 END AS p0,
			   CASE WHEN g.n1 > 0 THEN g.y1 / g.n1 END AS m1, CASE WHEN g.n0 > 0 THEN g.y0 / g.n0 END AS m0,
			   CASE WHEN g.n1 > 0 THEN g.x1 / g.n1 END AS mx1, CASE WHEN g.n0 > 0 THEN g.x0 / g.n0 END AS mx0,
			   -- per group: Var(y), Var(x), Cov(x, y)
			   CASE WHEN g.n1 > 1 THEN (g.yy1 - g.y1 * g.y1 / g.n1) / (g.n1 - 1) END AS vy1,
			   CASE WHEN g.n0 > 1 THEN (g.yy0 - g.y0 * g.y0 / g.n0) / (g.n0 - 1) END AS vy0,
			   CASE WHEN g.n1 > 1 THEN (g.xx1 - g.x1 * g.x1 / g.n1) / (g.n1 - 1) END AS vx1,
			   CASE WHEN g.n0 > 1 THEN (g.xx0 - g.x0 * g.x0 / g.n0) / (g.n0 - 1) END AS vx0,
			   CASE WHEN g.n1 > 1 THEN (g.xy1 - g.x1 * g.y1 / g.n1) / (g.n1 - 1) END AS cxy1,
			   CASE WHEN g.n0 > 1 THEN (g.xy0 - g.x0 * g.y0 / g.n0) / (g.n0 - 1) END AS cxy0,
			   -- theta over both groups together; 0 when x does not vary
			   CASE WHEN g.n1 + g.n0 > 1 THEN
					coalesce(((g.xy1 + g.xy0) - (g.x1 + g.x0) * (g.y1 + g.y0) / (g.n1 + g.n0))
							 / nullif((g.xx1 + g.xx0) - (g.x1 + g.x0) * (g.x1 + g.x0) / (g.n1 + g.n0), 0), 0)
			   END AS theta
		FROM g
	), parts AS (
		SELECT m.*,
			   m.vy1 - 2 * m.theta * m.cxy1 + m.theta * m.theta * m.vx1 AS va1,
			   m.vy0 - 2 * m.theta * m.cxy0 + m.theta * m.theta * m.vx0 AS va0
		FROM moments AS m
	), tests AS (
		SELECT p.p1 - p.p0 AS d, sqrt(p.p1 * (1 - p.p1) / p.n1 + p.p0 * (1 - p.p0) / p.n0) AS d_se,
			   p.p1 / nullif(p.p0, 0) - 1 AS rel,
			   sqrt(p.p1 * (1 - p.p1) / p.n1 + p.p1 * p.p1 * (1 - p.p0) / (p.n0 * nullif(p.p0, 0)))
			   / nullif(p.p0, 0) AS rel_se,
			   (p.m1 - p.m0)::float8 AS r,
			   ((p.m1 - p.m0) - p.theta * (p.mx1 - p.mx0))::float8 AS a,
			   w.se AS r_se, w.df AS r_df, c.se AS a_se, c.df AS a_df,
			   1 - (c.se * c.se) / nullif(w.se * w.se, 0) AS reduction
		FROM parts AS p
		CROSS JOIN LATERAL (SELECT sqrt((p.vy1 / p.n1 + p.vy0 / p.n0)::float8) AS se,
								   ((p.vy1 / p.n1 + p.vy0 / p.n0) ^ 2
									/ nullif((p.vy1 / p.n1) ^ 2 / (p.n1 - 1) + (p.vy0 / p.n0) ^ 2 / (p.n0 - 1), 0))::float8 AS df)
			AS w
		CROSS JOIN LATERAL (SELECT sqrt(greatest(p.va1 / p.n1 + p.va0 / p.n0, 0)::float8) AS se,
								   ((p.va1 / p.n1 + p.va0 / p.n0) ^ 2
									/ nullif((p.va1 / p.n1) ^ 2 / (p.n1 - 1) + (p.va0 / p.n0) ^ 2 / (p.n0 - 1), 0))::float8 AS df)
			AS c
	)
	SELECT t.d, t.d - z.z * t.d_se, t.d + z.z * t.d_se,
		   t.rel, t.rel - z.z * t.rel_se, t.rel + z.z * t.rel_se,
		   CASE WHEN t.d_se > 0 THEN 2 * @extschema@.normal_cdf(-abs(t.d) / t.d_se) END,
		   t.r, t.r - rq.q * t.r_se, t.r + rq.q * t.r_se,
		   CASE WHEN t.r_se > 0 THEN 2 * @extschema@.student_t_cdf(-abs(t.r) / t.r_se, t.r_df) END,
		   t.a, t.a - aq.q * t.a_se, t.a + aq.q * t.a_se,
		   CASE WHEN t.a_se > 0 THEN 2 * @extschema@.student_t_cdf(-abs(t.a) / t.a_se, t.a_df) END,
		   t.reduction
	FROM tests AS t
	CROSS JOIN (SELECT @extschema@.normal_quantile(0.975) AS z) AS z
	CROSS JOIN LATERAL (SELECT CASE WHEN t.r_df > 0 THEN @extschema@.student_t_quantile(0.975, t.r_df) END AS q) AS rq
	CROSS JOIN LATERAL (SELECT CASE WHEN t.a_df > 0 THEN @extschema@.student_t_quantile(0.975, t.a_df) END AS q) AS aq
$$;
COMMENT ON FUNCTION @extschema@.compare_groups(@extschema@.group_outcomes, @extschema@.group_outcomes) IS
	'Treated minus control from the sums of crm.group_outcomes. Conversion: difference of rates with its 95 % Wald interval (unpooled variances) and two-sided p-value (so p < 0.05 exactly when the interval leaves out 0), and relative to the control rate with a delta-method interval. Revenue per member: difference of means with Welch''s 95 % interval (t quantile, Welch-Satterthwaite degrees of freedom) and p-value; the same after CUPED on the pre-period covariate, and the share of the variance CUPED removed. NULL where a group is empty (intervals: fewer than 2 members) or a variance is 0 (p-values).';

CREATE OR REPLACE FUNCTION @extschema@.sample_ratio_p_value(treated_members bigint, control_members bigint,
															control_share double precision)
RETURNS double precision
LANGUAGE sql IMMUTABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
	-- Pearson's chi-square with one degree of freedom: P(chi2 > X) = 2 Phi(-sqrt(X)).
	SELECT 2 * @extschema@.normal_cdf(-sqrt(
			   (treated_members - n * (1 - control_share)) ^ 2 / (n * (1 - control_share))
			   + (control_members - n * control_share) ^ 2 / (n * control_share)))
	FROM (SELECT (treated_members + control_members)::float8 AS n) AS total
	WHERE n > 0 AND control_share > 0 AND control_share < 1
$$;
COMMENT ON FUNCTION @extschema@.sample_ratio_p_value(bigint, bigint, double precision) IS
	'p-value of the sample-ratio-mismatch check: Pearson''s chi-square test (1 degree of freedom) that treated_members and control_members were drawn with control_share. A p-value below 0.001 means the assignment is broken (members lost or added on one side), and no uplift of the campaign can be trusted. NULL without members or with control_share outside (0, 1).';

-- Checks the arguments the two planning functions share; returns
-- z(1 - alpha/2) + z(power).
CREATE OR REPLACE FUNCTION @extschema@.planning_z(baseline_rate double precision, alpha double precision,
												  power double precision, control_share double precision)
RETURNS double precision
LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	IF baseline_rate IS NULL OR alpha IS NULL OR power IS NULL OR control_share IS NULL THEN
		RAISE EXCEPTION USING ERRCODE = 'null_value_not_allowed',
			MESSAGE = 'baseline_rate, alpha, power and control_share must not be NULL',
			HINT = 'Leave alpha (0.05), power (0.8) and control_share (0.1) out to take their defaults.';
	END IF;
	IF NOT (baseline_rate > 0 AND baseline_rate < 1) THEN
		RAISE EXCEPTION USING ERRCODE = 'invalid_parameter_value',
			MESSAGE = format('baseline_rate must lie strictly between 0 and 1, not %s', baseline_rate),
			HINT = 'The conversion rate without the campaign, e.g. 0.05 when 5 % of the audience buy in the attribution window anyway.';
	END IF;
	IF NOT (alpha > 0 AND alpha < 1) THEN
		RAISE EXCEPTION USING ERRCODE = 'invalid_parameter_value',
			MESSAGE = format('alpha must lie strictly between 0 and 1, not %s', alpha),
			HINT = 'The two-sided significance level: 0.05 for a 95 % interval.';
	END IF;
	IF NOT (power > alpha / 2 AND power < 1) THEN
		RAISE EXCEPTION USING ERRCODE = 'invalid_parameter_value',
			MESSAGE = format('power must lie above alpha/2 and below 1, not %s', power),
			HINT = 'The chance of detecting the uplift when it is there: 0.8 is usual, 0.9 cautious.';
	END IF;
	IF NOT (control_share > 0 AND control_share < 1) THEN
		RAISE EXCEPTION USING ERRCODE = 'invalid_parameter_value',
			MESSAGE = format('control_share must lie strictly between 0 and 1, not %s', control_share),
			HINT = 'The share of the audience held out as control, e.g. 0.1.';
	END IF;
	-- z(1 - alpha/2) as -z(alpha/2): exact even where 1 - alpha/2 rounds to 1.
	RETURN @extschema@.normal_quantile(power) - @extschema@.normal_quantile(alpha / 2);
END
$$;
COMMENT ON FUNCTION @extschema@.planning_z(double precision, double precision, double precision, double precision) IS
	'Internal, for crm.campaign_sample_size and crm.campaign_detectable_uplift: checks their shared arguments (22004 NULL, 22023 out of range, with hints) and returns z(1 - alpha/2) + z(power).';

CREATE OR REPLACE FUNCTION @extschema@.campaign_sample_size(baseline_rate double precision,
															min_detectable_uplift double precision,
															alpha double precision DEFAULT 0.05,
															power double precision DEFAULT 0.8,
															control_share double precision DEFAULT 0.1)
RETURNS bigint
LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	z double precision := @extschema@.planning_z(baseline_rate, alpha, power, control_share);
	treated_rate double precision;
	variance double precision;
BEGIN
	IF min_detectable_uplift IS NULL THEN
		RAISE EXCEPTION USING ERRCODE = 'null_value_not_allowed',
			MESSAGE = 'min_detectable_uplift must not be NULL',
			HINT = 'The smallest increase of the conversion rate worth detecting, in rate points: 0.01 for 5 % -> 6 %.';
	END IF;
	treated_rate := baseline_rate + min_detectable_uplift;
	IF NOT (min_detectable_uplift > 0 AND treated_rate <= 1) THEN
		RAISE EXCEPTION USING ERRCODE = 'invalid_parameter_value',
			MESSAGE = format('min_detectable_uplift must be above 0 and at most 1 - baseline_rate (%s), not %s',
							 1 - baseline_rate, min_detectable_uplift),
			HINT = 'The uplift is absolute, in rate points: 0.01 detects a rise from 5 % to 6 %.';
	END IF;
	variance := baseline_rate * (1 - baseline_rate) / control_share
				+ treated_rate * (1 - treated_rate) / (1 - control_share);
	-- Checked in logarithms first: a tiny uplift's square underflows.
	IF 2 * ln(z) + ln(variance) - 2 * ln(min_detectable_uplift) >= ln(9.2e18) THEN
		RAISE EXCEPTION USING ERRCODE = 'numeric_value_out_of_range',
			MESSAGE = format('detecting an uplift of %s needs more members than can be counted', min_detectable_uplift),
			HINT = 'Plan for a larger uplift: the members needed grow with 1 / uplift^2.';
	END IF;
	RETURN ceil(z * z * variance / (min_detectable_uplift * min_detectable_uplift))::bigint;
END
$$;
COMMENT ON FUNCTION @extschema@.campaign_sample_size(double precision, double precision, double precision, double precision, double precision) IS
	'Members a campaign needs (treatment and control together, control_share of them held out) so that a two-sided test at level alpha detects an absolute conversion uplift of min_detectable_uplift over baseline_rate with the given power: ceil((z(1-alpha/2) + z(power))^2 (p0 (1-p0) / k + p1 (1-p1) / (1-k)) / uplift^2), p1 = p0 + uplift, k = control_share. Errors: 22004 NULL; 22023 baseline_rate, alpha, control_share outside (0, 1), power outside (alpha/2, 1), uplift not in (0, 1 - baseline_rate]; 22003 beyond bigint.';

CREATE OR REPLACE FUNCTION @extschema@.campaign_detectable_uplift(baseline_rate double precision,
																  members bigint,
																  alpha double precision DEFAULT 0.05,
																  power double precision DEFAULT 0.8,
																  control_share double precision DEFAULT 0.1)
RETURNS double precision
LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	z double precision := @extschema@.planning_z(baseline_rate, alpha, power, control_share);
	p0 double precision := baseline_rate;
	q0 double precision := 1 - baseline_rate;
	c double precision;
	n double precision;
	uplift double precision;
BEGIN
	IF members IS NULL THEN
		RAISE EXCEPTION USING ERRCODE = 'null_value_not_allowed',
			MESSAGE = 'members must not be NULL',
			HINT = 'The size of the audience, treatment and control together.';
	END IF;
	IF members < 1 THEN
		RAISE EXCEPTION USING ERRCODE = 'invalid_parameter_value',
			MESSAGE = format('members must be at least 1, not %s', members),
			HINT = 'The size of the audience, treatment and control together.';
	END IF;
	-- campaign_sample_size's formula, with members = n, solved for the uplift
	-- u: (n + c) u^2 - c (q0 - p0) u - z^2 p0 q0 / k - c p0 q0 = 0,
	-- c = z^2 / (1 - k); the positive root.
	n := members;
	c := z * z / (1 - control_share);
	uplift := (c * (q0 - p0) + sqrt(c * c * (q0 - p0) * (q0 - p0)
									+ 4 * (n + c) * (z * z * p0 * q0 / control_share + c * p0 * q0)))
			  / (2 * (n + c));
	IF NOT uplift <= q0 THEN
		RAISE EXCEPTION USING ERRCODE = 'invalid_parameter_value',
			MESSAGE = format('%s members cannot detect any uplift over a baseline rate of %s', members, baseline_rate),
			HINT = format('Even a rise to 100 %% conversion needs %s members.',
						  @extschema@.campaign_sample_size(baseline_rate, q0, alpha, power, control_share));
	END IF;
	RETURN uplift;
END
$$;
COMMENT ON FUNCTION @extschema@.campaign_detectable_uplift(double precision, bigint, double precision, double precision, double precision) IS
	'The inverse of crm.campaign_sample_size: the smallest absolute conversion uplift over baseline_rate that an audience of members (control_share of them held out) detects at level alpha with the given power. Errors: 22004 NULL; 22023 as crm.campaign_sample_size, members below 1, or an audience too small to detect even a rise to 100 % (the hint says how many it needs).';

