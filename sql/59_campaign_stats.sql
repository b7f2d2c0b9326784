-- Statistics of campaigns: the standard normal distribution (C,
-- campaign_stats.c), the comparison of a treated group with a control group
-- (uplift with its 95 % interval and p-value), and planning: the audience a
-- campaign needs to detect an uplift, and the uplift an audience can detect.
-- Both rest on the same test: the two-sided Wald test of a difference of two
-- proportions, with unpooled variances, the test whose interval
-- crm.compare_groups reports.
-- Functions only, created with CREATE OR REPLACE like the other such parts.

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

-- Sufficient statistics in, so that a view computes them in one pass: per
-- group the members, the converters, and the sum and sum of squares of each
-- member's revenue (members without a sale count as 0).  Variances are taken
-- in numeric, exactly, before the square root.
CREATE OR REPLACE FUNCTION @extschema@.compare_groups(
	treated_members bigint, treated_converters bigint, treated_revenue numeric, treated_revenue_squares numeric,
	control_members bigint, control_converters bigint, control_revenue numeric, control_revenue_squares numeric,
	OUT conversion_uplift double precision, OUT conversion_uplift_low double precision,
	OUT conversion_uplift_high double precision, OUT relative_conversion_uplift double precision,
	OUT conversion_p_value double precision, OUT revenue_uplift double precision,
	OUT revenue_uplift_low double precision, OUT revenue_uplift_high double precision,
	OUT revenue_p_value double precision)
LANGUAGE sql IMMUTABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
	WITH groups AS (
		SELECT CASE WHEN treated_members > 0 THEN treated_converters::float8 / treated_members END AS p1,
			   CASE WHEN control_members > 0 THEN control_converters::float8 / control_members END AS p0,
			   CASE WHEN treated_members > 0 THEN (treated_revenue / treated_members)::float8 END AS m1,
			   CASE WHEN control_members > 0 THEN (control_revenue / control_members)::float8 END AS m0,
			   CASE WHEN treated_members > 1
					THEN ((treated_revenue_squares - treated_revenue * treated_revenue / treated_members)
						  / (treated_members - 1))::float8 END AS v1,
			   CASE WHEN control_members > 1
					THEN ((control_revenue_squares - control_revenue * control_revenue / control_members)
						  / (control_members - 1))::float8 END AS v0
	), differences AS (
		SELECT g.p1 - g.p0 AS d, sqrt(g.p1 * (1 - g.p1) / treated_members + g.p0 * (1 - g.p0) / control_members) AS d_se,
			   g.p0, g.m1 - g.m0 AS r, sqrt(g.v1 / treated_members + g.v0 / control_members) AS r_se
		FROM groups AS g
	)
	SELECT x.d, x.d - z.z * x.d_se, x.d + z.z * x.d_se, x.d / nullif(x.p0, 0),
		   CASE WHEN x.d_se > 0 THEN 2 * @extschema@.normal_cdf(-abs(x.d) / x.d_se) END,
		   x.r, x.r - z.z * x.r_se, x.r + z.z * x.r_se,
		   CASE WHEN x.r_se > 0 THEN 2 * @extschema@.normal_cdf(-abs(x.r) / x.r_se) END
	FROM differences AS x, (SELECT @extschema@.normal_quantile(0.975) AS z) AS z
$$;
COMMENT ON FUNCTION @extschema@.compare_groups(bigint, bigint, numeric, numeric, bigint, bigint, numeric, numeric) IS
	'Internal, for the control-group views: treated minus control from per-group members, converters, revenue sum and sum of squares. Conversion: difference of rates with its 95 % Wald interval (unpooled), relative to the control rate, two-sided p-value. Revenue per member: difference of means with the large-sample 95 % interval of Welch''s test (normal quantile), p-value. NULL where a group is empty (intervals: fewer than 2 members) or the variance is 0 (p-values).';

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

