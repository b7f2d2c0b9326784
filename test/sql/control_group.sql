-- The global control group: a salted hash of the customer key, the share
-- from crm.settings; the monthly comparison with everyone else against the
-- textbook formulas in plain SQL; what a merge does; bad settings.
\set this_test control_group
\i test/fixtures/earlier_tests.sql
SET timezone = 'UTC';
\set SHOW_CONTEXT never
SET client_min_messages = warning;

-- Installed with the default share and a random salt.
SELECT global_control_share, length(global_control_salt) AS salt_length FROM crm.settings;

-- A fixed salt draws a fixed group, on every platform (the hash mixes
-- integers, not bytes): the members among keys 1..400.
UPDATE crm.settings SET global_control_salt = 'control-group-test';
SELECT array_agg(id ORDER BY id) AS members FROM generate_series(1, 400) AS id WHERE crm.in_global_control(id);
-- Balanced: 5 % of 200,000 keys, chi-square against the share below the
-- 0.1 % critical value (10.83, 1 degree of freedom); and reproducible.
SELECT count(*) FILTER (WHERE m) AS members,
	   (count(*) FILTER (WHERE m) - 10000) ^ 2 / 10000.0 + (count(*) FILTER (WHERE NOT m) - 190000) ^ 2 / 190000.0 < 10.83 AS balanced
FROM (SELECT crm.in_global_control(id) AS m FROM generate_series(1, 200000) AS id) AS k;
SELECT bool_and(crm.in_global_control(id) = crm.in_global_control(id)) AS reproducible FROM generate_series(1, 20000) AS id;
-- Raising the share only adds members; another salt draws another group
-- (two independent 5 % groups share about 0.25 % of keys).
BEGIN;
CREATE TEMP TABLE five_percent AS SELECT id FROM generate_series(1, 50000) AS id WHERE crm.in_global_control(id);
UPDATE crm.settings SET global_control_share = 0.1;
SELECT count(*) AS lost_by_raising FROM five_percent WHERE NOT crm.in_global_control(id);
SELECT count(*) FILTER (WHERE crm.in_global_control(id)) BETWEEN 4800 AND 5200 AS ten_percent
FROM generate_series(1, 50000) AS id;
UPDATE crm.settings SET global_control_share = 0.05, global_control_salt = 'another salt';
SELECT count(*) BETWEEN 80 AND 170 AS overlap_of_independent_groups FROM five_percent WHERE crm.in_global_control(id);
ROLLBACK;

-- The draw itself, crm.hash_in_share: the low 52 bits of hashint8extended
-- below the threshold; none at 0 or below, all from 2^52, NULL for NULL,
-- any key (negative, the extremes of bigint).
SELECT bool_and(crm.hash_in_share(id, 42, 1 << 51) = ((hashint8extended(id, 42) & ((1::bigint << 52) - 1)) < 1 << 51))
		   AS same_as_the_formula,
	   count(*) FILTER (WHERE crm.hash_in_share(id, 42, 0)) AS at_zero,
	   count(*) FILTER (WHERE crm.hash_in_share(id, 42, -1)) AS below_zero,
	   count(*) FILTER (WHERE crm.hash_in_share(id, 42, 1::bigint << 52)) AS at_two_to_the_52,
	   count(*) FILTER (WHERE crm.hash_in_share(id, 42, 9223372036854775807)) AS at_bigint_max
FROM (SELECT generate_series(-1000, 1000) AS id
	  UNION ALL VALUES (-9223372036854775808), (9223372036854775807)) AS k (id);
SELECT crm.hash_in_share(NULL, 1, 1) AS null_key, crm.hash_in_share(1, NULL, 1) AS null_seed,
	   crm.hash_in_share(1, 1, NULL) AS null_threshold;

-- A month of sales: 400 customers who joined in December 2030, a third of
-- them buying in March 2031 (some also returning), with the group given by
-- the salt above.
INSERT INTO crm.customers (customer_id, joined_at)
SELECT id, '2030-12-01' FROM generate_series(940001, 940400) AS id;
INSERT INTO crm.transactions (transaction_id, customer_id, occurred_at, amount)
SELECT 'GCG-' || id || '-' || n, id, timestamptz '2031-03-02 10:00' + (id % 20) * interval '1 day' + n * interval '1 hour',
	   CASE WHEN n = 3 THEN -5 ELSE 10 + id % 37 END
FROM generate_series(940001, 940400) AS id, generate_series(1, 3) AS n
WHERE (id::bigint * 7919) % 3 = 0 AND (n < 3 OR id % 5 = 0);
SELECT count(*) FILTER (WHERE crm.in_global_control(customer_id)) AS control_customers, count(*) AS customers
FROM crm.customers WHERE customer_id BETWEEN 940001 AND 940400;

-- The view's row for March 2031 against plain SQL: every customer who had
-- joined by the end of March, conversion = a purchase in the month,
-- revenue = the month's net amount (0 without a sale); the Wald interval
-- with z = 1.959963984540054, Welch's with the t quantile of the
-- Welch-Satterthwaite degrees of freedom.
CREATE TEMP TABLE expected_month AS
WITH population AS (
	SELECT c.customer_id, crm.in_global_control(c.customer_id) AS in_control
	FROM crm.customers AS c WHERE c.joined_at < '2031-04-01'
), spend AS (
	SELECT t.customer_id, sum(t.amount) AS revenue, bool_or(t.amount > 0) AS converted
	FROM crm.transactions AS t WHERE t.occurred_at >= '2031-03-01' AND t.occurred_at < '2031-04-01'
	GROUP BY 1
), groups AS (
	SELECT p.in_control, count(*) AS n, avg(coalesce(s.converted, false)::int::float8) AS rate,
		   avg(coalesce(s.revenue, 0))::float8 AS mean, var_samp(coalesce(s.revenue, 0))::float8 AS variance
	FROM population AS p LEFT JOIN spend AS s USING (customer_id)
	GROUP BY 1
)
SELECT t.n AS marketed_members, c.n AS control_members, t.rate - c.rate AS conversion_uplift,
	   1.959963984540054 * sqrt(t.rate * (1 - t.rate) / t.n + c.rate * (1 - c.rate) / c.n) AS conversion_margin,
	   t.mean - c.mean AS revenue_uplift,
	   sqrt(t.variance / t.n + c.variance / c.n) AS revenue_se,
	   (t.variance / t.n + c.variance / c.n) ^ 2
	   / ((t.variance / t.n) ^ 2 / (t.n - 1) + (c.variance / c.n) ^ 2 / (c.n - 1)) AS revenue_df
FROM groups AS t, groups AS c WHERE NOT t.in_control AND c.in_control;
ALTER TABLE expected_month ADD COLUMN revenue_margin float8;
UPDATE expected_month SET revenue_margin = crm.student_t_quantile(0.975, revenue_df) * revenue_se;
SELECT v.marketed_members = e.marketed_members AND v.control_members = e.control_members AS members_match,
	   abs(v.conversion_uplift - e.conversion_uplift) < 1e-12 AS conversion_uplift_matches,
	   abs(v.conversion_uplift_low - (e.conversion_uplift - e.conversion_margin)) < 1e-12
	   AND abs(v.conversion_uplift_high - (e.conversion_uplift + e.conversion_margin)) < 1e-12 AS conversion_interval_matches,
	   abs(v.revenue_uplift - e.revenue_uplift) < 1e-9 AS revenue_uplift_matches,
	   abs(v.revenue_uplift_low - (e.revenue_uplift - e.revenue_margin)) < 1e-9
	   AND abs(v.revenue_uplift_high - (e.revenue_uplift + e.revenue_margin)) < 1e-9 AS revenue_interval_matches,
	   -- a two-sided p-value p belongs to |z| = z(1 - p/2)
	   abs(crm.normal_quantile(1 - v.conversion_p_value / 2) - abs(e.conversion_uplift) / (e.conversion_margin / 1.959963984540054)) < 1e-9 AS conversion_p_value_matches,
	   abs(v.revenue_p_value - 2 * crm.student_t_cdf(-abs(e.revenue_uplift) / e.revenue_se, e.revenue_df)) < 1e-12 AS revenue_p_value_matches,
	   abs(v.incremental_revenue - e.revenue_uplift * e.marketed_members) < 1e-6 AS incremental_revenue_matches
FROM crm.global_control_monthly AS v, expected_month AS e
WHERE v.month = '2031-03-01';
SELECT month, control_members, marketed_members, control_converters, marketed_converters,
	   round(control_conversion_rate::numeric, 4) AS control_rate, round(marketed_conversion_rate::numeric, 4) AS marketed_rate,
	   round(relative_conversion_uplift::numeric, 4) AS relative_uplift
FROM crm.global_control_monthly WHERE month = '2031-03-01';
-- The views apply the rule of crm.in_global_control.
SELECT (SELECT control_members FROM crm.global_control_monthly WHERE month = '2031-03-01')
	   = (SELECT count(*) FROM crm.customers WHERE joined_at < '2031-04-01' AND crm.in_global_control(customer_id)) AS view_uses_the_rule,
	   (SELECT array_agg(customer_id ORDER BY customer_id) FROM crm.global_control_members)
	   = (SELECT array_agg(customer_id ORDER BY customer_id) FROM crm.customers WHERE crm.in_global_control(customer_id)) AS members_view_uses_the_rule;

-- A merge: membership belongs to the key, so the kept customer stays in its
-- group and the merged customer's sales count for it, in past months too.
CREATE TEMP TABLE pair AS
SELECT (SELECT min(customer_id) FROM crm.transactions
		WHERE customer_id BETWEEN 940001 AND 940400 AND NOT crm.in_global_control(customer_id)) AS keep_id,
	   (SELECT min(customer_id) FROM crm.transactions
		WHERE customer_id BETWEEN 940001 AND 940400 AND crm.in_global_control(customer_id)) AS merge_id;
CREATE TEMP TABLE before_merge AS SELECT control_members, marketed_members, control_converters, marketed_converters
FROM crm.global_control_monthly WHERE month = '2031-03-01';
SELECT merge_id, keep_id, transactions_moved FROM crm.merge_customers((SELECT keep_id FROM pair), (SELECT merge_id FROM pair));
SELECT crm.in_global_control(keep_id) AS kept_in_control FROM pair;
SELECT v.control_members - b.control_members AS control_members_change,
	   v.marketed_members - b.marketed_members AS marketed_members_change,
	   v.control_converters - b.control_converters AS control_converters_change,
	   v.marketed_converters - b.marketed_converters AS marketed_converters_change
FROM crm.global_control_monthly AS v, before_merge AS b WHERE v.month = '2031-03-01';

-- Bad settings and input: SQLSTATE, message and hint; nothing changes.
SELECT * FROM public.error_of($$UPDATE crm.settings SET global_control_share = -0.01$$);
SELECT * FROM public.error_of($$UPDATE crm.settings SET global_control_share = 1$$);
SELECT * FROM public.error_of($$UPDATE crm.settings SET global_control_share = 'NaN'$$);
SELECT * FROM public.error_of($$UPDATE crm.settings SET global_control_share = NULL$$);
SELECT * FROM public.error_of($$UPDATE crm.settings SET global_control_salt = '  '$$);
SELECT * FROM public.error_of($$SELECT crm.in_global_control(NULL)$$);
SELECT global_control_share, global_control_salt FROM crm.settings;

-- Analysts read the comparison; only crm_admin changes the group.
SET ROLE crm_analyst;
SELECT count(*) > 0 AS analyst_reads FROM crm.global_control_monthly;
SELECT count(*) > 0 AS analyst_reads_members FROM crm.global_control_members;
SELECT crm.in_global_control(940001) IS NOT NULL AS analyst_asks_membership;
SELECT state FROM public.error_of($$UPDATE crm.settings SET global_control_share = 0.2$$);
RESET ROLE;
