-- The global control group: a share of the customers that no campaign ever
-- treats, so that comparing them with everyone else measures what marketing
-- as a whole adds.  Membership is a deterministic hash of the customer key
-- and a salt generated at install (kept by pg_dump with crm.settings): the
-- same customers every time, a different group in every installation, and
-- raising the share only adds members.

ALTER TABLE @extschema@.settings
	ADD COLUMN global_control_share double precision NOT NULL DEFAULT 0.05,
	ADD COLUMN global_control_salt text NOT NULL DEFAULT gen_random_uuid()::text;
COMMENT ON COLUMN @extschema@.settings.global_control_share IS
	'Share of customers in the global control group, which no campaign treats: 0 (no group) up to below 1; default 0.05. Raising it only adds members.';
COMMENT ON COLUMN @extschema@.settings.global_control_salt IS
	'Random text generated at install that, hashed with the customer key, places each customer in or out of the global control group; kept by pg_dump. Changing it draws a new group.';

CREATE FUNCTION @extschema@.settings_global_control_check()
RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	IF NOT (NEW.global_control_share >= 0 AND NEW.global_control_share < 1) THEN
		PERFORM @extschema@.config_error(
			format('global_control_share must be at least 0 and below 1, not %s', NEW.global_control_share),
			'The default 0.05 keeps 5 % of customers out of every campaign; 0 keeps no global control group.');
	END IF;
	IF btrim(NEW.global_control_salt) = '' THEN
		PERFORM @extschema@.config_error('global_control_salt must not be empty',
			'Any text draws a group; gen_random_uuid()::text draws a new random one.');
	END IF;
	RETURN NEW;
END
$$;
COMMENT ON FUNCTION @extschema@.settings_global_control_check() IS 'Trigger: validates the global control group settings of crm.settings.';

CREATE TRIGGER settings_global_control_check BEFORE INSERT OR UPDATE ON @extschema@.settings
	FOR EACH ROW EXECUTE FUNCTION @extschema@.settings_global_control_check();

-- The draw of every holdout, global or per campaign (src/control_group.c).
CREATE OR REPLACE FUNCTION @extschema@.hash_in_share(key bigint, seed bigint, threshold bigint)
RETURNS boolean
LANGUAGE c IMMUTABLE STRICT PARALLEL SAFE
AS 'MODULE_PATHNAME', 'hash_in_share';
COMMENT ON FUNCTION @extschema@.hash_in_share(bigint, bigint, bigint) IS
	'True when the low 52 bits of hashint8extended(key, seed) are below threshold: the key is in the share threshold / 2^52 of all keys that this seed draws (none for a threshold of 0 or less, all from 2^52). The rule of the global control group and of campaign control groups; the same on every platform.';

-- A customer is a member when crm.hash_in_share(key, seed, share * 2^52);
-- the seed is the first 64 bits of the salt's md5.
CREATE FUNCTION @extschema@.global_control_key(OUT seed bigint, OUT threshold bigint)
LANGUAGE sql STABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
	SELECT ('x' || substr(md5(s.global_control_salt), 1, 16))::bit(64)::bigint,
		   (s.global_control_share * 4503599627370496)::bigint
	FROM @extschema@.settings AS s
$$;
COMMENT ON FUNCTION @extschema@.global_control_key() IS
	'Internal: the hash seed and threshold of the global control group from crm.settings: a customer is a member when crm.hash_in_share(customer_id, seed, threshold). Stable because it reads a table.';

CREATE FUNCTION @extschema@.in_global_control(customer_id bigint)
RETURNS boolean
LANGUAGE plpgsql STABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	key record;
BEGIN
	IF customer_id IS NULL THEN
		RAISE EXCEPTION USING ERRCODE = 'null_value_not_allowed',
			MESSAGE = 'customer_id must not be NULL',
			HINT = 'Give the customer key whose global control membership you ask for.';
	END IF;
	SELECT * INTO key FROM @extschema@.global_control_key();
	RETURN @extschema@.hash_in_share(customer_id, key.seed, key.threshold);
END
$$;
COMMENT ON FUNCTION @extschema@.in_global_control(bigint) IS
	'True when the customer key belongs to the global control group (crm.settings.global_control_share of all keys, drawn by a hash with the installation''s salt): no campaign treats them. Any key has an answer, known customer or not. 22004 for NULL. Stable because it reads crm.settings.';

-- The members among the customers, for bulk work: the rule of
-- crm.in_global_control without its plpgsql call per customer.
CREATE VIEW @extschema@.global_control_members AS
SELECT c.customer_id
FROM @extschema@.customers AS c, @extschema@.global_control_key() AS k
WHERE @extschema@.hash_in_share(c.customer_id, k.seed, k.threshold);
COMMENT ON VIEW @extschema@.global_control_members IS
	'The customers of crm.customers in the global control group (crm.in_global_control of each). No personal data.';
COMMENT ON COLUMN @extschema@.global_control_members.customer_id IS 'Customer key.';

-- Per calendar month (session TimeZone, like crm.monthly_kpis): the
-- customers who had joined by then, split into the global control group
-- and everyone else, their purchases in the month (crm.customer_months)
-- and the difference with its interval.
CREATE VIEW @extschema@.global_control_monthly AS
WITH members AS (
	SELECT c.customer_id, date_trunc('month', c.joined_at)::date AS joined_month,
		   g.customer_id IS NOT NULL AS in_control
	FROM @extschema@.customers AS c
	LEFT JOIN @extschema@.global_control_members AS g USING (customer_id)
), joined AS (
	SELECT m.joined_month, m.in_control, count(*) AS customers
	FROM members AS m GROUP BY 1, 2
), sales AS (
	SELECT cm.month, m.in_control,
		   count(*) FILTER (WHERE cm.purchases > 0) AS converters,
		   sum(cm.net_amount) AS revenue, sum(cm.net_amount * cm.net_amount) AS revenue_squares
	FROM @extschema@.customer_months AS cm
	JOIN members AS m ON m.customer_id = cm.customer_id AND m.joined_month <= cm.month
	GROUP BY 1, 2
), months AS (
	SELECT s.month,
		   (SELECT coalesce(sum(j.customers), 0) FROM joined AS j WHERE j.in_control AND j.joined_month <= s.month) AS control_members,
		   (SELECT coalesce(sum(j.customers), 0) FROM joined AS j WHERE NOT j.in_control AND j.joined_month <= s.month) AS marketed_members,
		   coalesce(max(s.converters) FILTER (WHERE s.in_control), 0) AS control_converters,
		   coalesce(max(s.converters) FILTER (WHERE NOT s.in_control), 0) AS marketed_converters,
		   coalesce(max(s.revenue) FILTER (WHERE s.in_control), 0) AS control_revenue,
		   coalesce(max(s.revenue) FILTER (WHERE NOT s.in_control), 0) AS marketed_revenue,
		   coalesce(max(s.revenue_squares) FILTER (WHERE s.in_control), 0) AS control_revenue_squares,
		   coalesce(max(s.revenue_squares) FILTER (WHERE NOT s.in_control), 0) AS marketed_revenue_squares
	FROM sales AS s
	GROUP BY s.month
)
SELECT m.month,
	   m.control_members::bigint AS control_members, m.marketed_members::bigint AS marketed_members,
	   m.control_converters, m.marketed_converters,
	   m.control_converters::float8 / nullif(m.control_members, 0) AS control_conversion_rate,
	   m.marketed_converters::float8 / nullif(m.marketed_members, 0) AS marketed_conversion_rate,
	   (m.control_revenue / nullif(m.control_members, 0))::float8 AS control_revenue_per_member,
	   (m.marketed_revenue / nullif(m.marketed_members, 0))::float8 AS marketed_revenue_per_member,
	   g.conversion_uplift, g.conversion_uplift_low, g.conversion_uplift_high,
	   g.relative_conversion_uplift, g.conversion_p_value,
	   g.revenue_uplift, g.revenue_uplift_low, g.revenue_uplift_high, g.revenue_p_value,
	   g.revenue_uplift * m.marketed_members AS incremental_revenue
FROM months AS m
CROSS JOIN LATERAL @extschema@.compare_groups(
	ROW(m.marketed_members::bigint, m.marketed_converters, m.marketed_revenue, m.marketed_revenue_squares, 0, 0, 0),
	ROW(m.control_members::bigint, m.control_converters, m.control_revenue, m.control_revenue_squares, 0, 0, 0)) AS g;
COMMENT ON VIEW @extschema@.global_control_monthly IS
	'Per calendar month with sales (session TimeZone): the customers who had joined by its end, the global control group against everyone else ("marketed"), conversion (a purchase in the month) and revenue per member (net, members without a sale count as 0), and marketed minus control with 95 % intervals: the incremental effect of all marketing. Live from crm.transactions; no personal data.';
COMMENT ON COLUMN @extschema@.global_control_monthly.month IS 'First day of the month.';
COMMENT ON COLUMN @extschema@.global_control_monthly.control_members IS 'Customers in the global control group who had joined by the end of the month.';
COMMENT ON COLUMN @extschema@.global_control_monthly.marketed_members IS 'The other customers who had joined by the end of the month.';
COMMENT ON COLUMN @extschema@.global_control_monthly.control_converters IS 'Control members with a purchase (amount > 0) in the month.';
COMMENT ON COLUMN @extschema@.global_control_monthly.marketed_converters IS 'Marketed members with a purchase in the month.';
COMMENT ON COLUMN @extschema@.global_control_monthly.control_conversion_rate IS 'control_converters / control_members.';
COMMENT ON COLUMN @extschema@.global_control_monthly.marketed_conversion_rate IS 'marketed_converters / marketed_members.';
COMMENT ON COLUMN @extschema@.global_control_monthly.control_revenue_per_member IS 'Net revenue of the control members in the month / control_members.';
COMMENT ON COLUMN @extschema@.global_control_monthly.marketed_revenue_per_member IS 'Net revenue of the marketed members in the month / marketed_members.';
COMMENT ON COLUMN @extschema@.global_control_monthly.conversion_uplift IS 'marketed_conversion_rate - control_conversion_rate.';
COMMENT ON COLUMN @extschema@.global_control_monthly.conversion_uplift_low IS 'Lower end of the 95 % interval of conversion_uplift (Wald, unpooled).';
COMMENT ON COLUMN @extschema@.global_control_monthly.conversion_uplift_high IS 'Upper end of the 95 % interval of conversion_uplift.';
COMMENT ON COLUMN @extschema@.global_control_monthly.relative_conversion_uplift IS 'conversion_uplift / control_conversion_rate; NULL when the control group did not convert.';
COMMENT ON COLUMN @extschema@.global_control_monthly.conversion_p_value IS 'Two-sided p-value of conversion_uplift = 0.';
COMMENT ON COLUMN @extschema@.global_control_monthly.revenue_uplift IS 'marketed_revenue_per_member - control_revenue_per_member.';
COMMENT ON COLUMN @extschema@.global_control_monthly.revenue_uplift_low IS 'Lower end of the 95 % interval of revenue_uplift (Welch''s test).';
COMMENT ON COLUMN @extschema@.global_control_monthly.revenue_uplift_high IS 'Upper end of the 95 % interval of revenue_uplift.';
COMMENT ON COLUMN @extschema@.global_control_monthly.revenue_p_value IS 'Two-sided p-value of revenue_uplift = 0.';
COMMENT ON COLUMN @extschema@.global_control_monthly.incremental_revenue IS 'revenue_uplift * marketed_members: the month''s revenue the marketed customers brought beyond what they would have spent as control members.';

GRANT SELECT ON @extschema@.global_control_members, @extschema@.global_control_monthly TO crm_analyst;
