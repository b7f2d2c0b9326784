-- Campaign audiences: contact lists of the customers of a segment (or
-- lifecycle stage, or the churn watch list) who consented on the channel,
-- for crm_marketer only, every pull logged.

CREATE TABLE @extschema@.audience_pulls (
	pull_id		bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	pulled_at	timestamptz NOT NULL DEFAULT now(),
	pulled_by	name NOT NULL,
	rule		text NOT NULL,
	channel		text NOT NULL,
	customers	bigint NOT NULL
);
COMMENT ON TABLE @extschema@.audience_pulls IS
	'One row per call of crm.audience: who pulled which audience on which channel, when, and how many customers it returned.';
COMMENT ON COLUMN @extschema@.audience_pulls.pull_id IS 'Pull number, increasing.';
COMMENT ON COLUMN @extschema@.audience_pulls.pulled_at IS 'When the list was pulled.';
COMMENT ON COLUMN @extschema@.audience_pulls.pulled_by IS 'Session user who pulled it (the login role, also under SET ROLE).';
COMMENT ON COLUMN @extschema@.audience_pulls.rule IS 'The audience asked for, as given to crm.audience.';
COMMENT ON COLUMN @extschema@.audience_pulls.channel IS 'Channel (crm.channels.name).';
COMMENT ON COLUMN @extschema@.audience_pulls.customers IS 'Customers returned.';

-- Checks that a channel can be marketed on (known and enabled) and returns
-- its kind of handle.
CREATE FUNCTION @extschema@.require_enabled_channel(channel text)
RETURNS text
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	handle_kind text := @extschema@.require_channel(channel);
BEGIN
	IF NOT (SELECT ch.enabled FROM @extschema@.channels AS ch WHERE ch.name = require_enabled_channel.channel) THEN
		RAISE EXCEPTION USING ERRCODE = 'invalid_parameter_value',
			MESSAGE = format('channel %s is disabled', channel),
			HINT = format('Enable it with UPDATE crm.channels SET enabled = true WHERE name = %L (crm_admin).', channel);
	END IF;
	RETURN handle_kind;
END
$$;
COMMENT ON FUNCTION @extschema@.require_enabled_channel(text) IS
	'Internal, for crm.audience and the campaign functions: the handle kind of an enabled channel of crm.channels. Errors: 22023 unknown or disabled channel, with the channels there are. Stable because it reads a table.';

-- The vocabulary of audiences: "kind:value", or a bare segment name,
-- lifecycle stage, churn_watch_list or all.
CREATE FUNCTION @extschema@.parse_audience(segment_or_rule text, OUT rule_kind text, OUT rule_value text)
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	IF segment_or_rule ~ '^(segment|lifecycle|tier|churn):' THEN
		rule_kind := split_part(segment_or_rule, ':', 1);
		rule_value := substr(segment_or_rule, length(rule_kind) + 2);
	ELSIF segment_or_rule IN ('churn_watch_list', 'all') THEN
		rule_kind := segment_or_rule;
	ELSIF EXISTS (SELECT 1 FROM @extschema@.segment_map AS m WHERE m.segment = segment_or_rule) THEN
		rule_kind := 'segment';
		rule_value := segment_or_rule;
	ELSIF segment_or_rule IN ('prospect', 'new', 'active', 'at-risk', 'dormant', 'lost', 'reactivated') THEN
		rule_kind := 'lifecycle';
		rule_value := segment_or_rule;
	ELSE
		RAISE EXCEPTION USING ERRCODE = 'invalid_parameter_value',
			MESSAGE = format('unknown audience %L', @extschema@.message_excerpt(segment_or_rule)),
			HINT = format('Give a segment of the active rule set (%s), a lifecycle stage (prospect, new, active, at-risk, dormant, lost, reactivated), segment:<name>, lifecycle:<stage>, tier:<loyalty tier name>, churn:high, churn:low, churn_watch_list or all.',
						  (SELECT string_agg(DISTINCT m.segment, ', ') FROM @extschema@.segment_map AS m));
	END IF;
	IF rule_kind = 'churn' AND rule_value NOT IN ('high', 'low') THEN
		RAISE EXCEPTION USING ERRCODE = 'invalid_parameter_value',
			MESSAGE = format('unknown churn band %L', @extschema@.message_excerpt(rule_value)),
			HINT = 'churn:high is the scored customers whose churn risk reaches crm.settings.churn_risk_threshold, churn:low the others.';
	END IF;
	IF rule_kind = 'tier'
	   AND NOT EXISTS (SELECT 1 FROM @extschema@.loyalty_tiers AS t WHERE t.tier_name = rule_value) THEN
		RAISE EXCEPTION USING ERRCODE = 'invalid_parameter_value',
			MESSAGE = format('unknown loyalty tier %L', @extschema@.message_excerpt(rule_value)),
			HINT = format('Tiers are configured in crm.loyalty_tiers: %s.',
						  coalesce((SELECT string_agg(DISTINCT t.tier_name, ', ') FROM @extschema@.loyalty_tiers AS t), 'none yet'));
	END IF;
END
$$;
COMMENT ON FUNCTION @extschema@.parse_audience(text) IS
	'Internal: checks an audience in the vocabulary of crm.audience and returns its kind (segment, lifecycle, tier, churn, churn_watch_list, all) and value. 22023 for an unknown audience, churn band or tier, with what there is. Stable because it reads the segment map and the tiers.';

-- The scored customers of an audience, without contact data.
CREATE FUNCTION @extschema@.audience_customers(segment_or_rule text)
RETURNS TABLE (customer_id bigint, segment text, lifecycle_stage text,
			   churn_risk double precision, clv double precision)
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	rule record := @extschema@.parse_audience(segment_or_rule);
	risk_threshold double precision := (SELECT st.churn_risk_threshold FROM @extschema@.settings AS st);
BEGIN
	RETURN QUERY
	SELECT cs.customer_id, cs.segment, cs.lifecycle_stage, cs.churn_risk, cs.clv
	FROM @extschema@.customer_segments AS cs
	WHERE CASE rule.rule_kind
			WHEN 'segment' THEN cs.segment = rule.rule_value
			WHEN 'lifecycle' THEN cs.lifecycle_stage = rule.rule_value
			WHEN 'tier' THEN EXISTS (SELECT 1 FROM @extschema@.loyalty_members AS m
									 JOIN @extschema@.loyalty_tiers AS t
										 ON t.program_id = m.program_id AND t.tier_rank = m.tier_rank
									 WHERE m.customer_id = cs.customer_id AND t.tier_name = rule.rule_value)
			-- One-time buyers have no modelled risk (P(alive) = 1 by construction).
			WHEN 'churn' THEN (cs.churn_risk >= risk_threshold) = (rule.rule_value = 'high')
			WHEN 'churn_watch_list' THEN cs.customer_id IN (SELECT w.customer_id FROM @extschema@.churn_watch_list AS w)
			ELSE true END;
END
$$;
COMMENT ON FUNCTION @extschema@.audience_customers(text) IS
	'Internal, for crm.audience and crm.launch_campaign: the scored customers (crm.customer_segments) of an audience in the vocabulary of crm.audience, with their segment, lifecycle stage, churn risk and CLV; no contact data. Errors as crm.parse_audience. Stable because it reads tables.';

-- SECURITY DEFINER because a marketer must not read crm.customer_contacts
-- itself (that would show every handle, consenting or not): the function returns
-- only consenting customers' contact for one channel.  It runs no dynamic
-- SQL and its search_path is pinned.
CREATE FUNCTION @extschema@.audience(segment_or_rule text, channel text)
RETURNS TABLE (customer_id bigint, contact text, segment text, lifecycle_stage text,
			   churn_risk double precision, clv double precision)
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	handle_kind text := @extschema@.require_enabled_channel(channel);
	returned bigint;
BEGIN
	RETURN QUERY
	SELECT a.customer_id,
		   CASE WHEN handle_kind = 'customer_id' THEN a.customer_id::text ELSE ct.handle END,
		   a.segment, a.lifecycle_stage, a.churn_risk, a.clv
	FROM @extschema@.audience_customers(segment_or_rule) AS a
	JOIN @extschema@.customer_contacts AS ct ON ct.customer_id = a.customer_id AND ct.channel = audience.channel
	WHERE ct.consent AND (handle_kind = 'customer_id' OR nullif(btrim(ct.handle), '') IS NOT NULL)
	ORDER BY a.clv DESC NULLS LAST, a.customer_id;
	GET DIAGNOSTICS returned = ROW_COUNT;

	INSERT INTO @extschema@.audience_pulls (pulled_by, rule, channel, customers)
	VALUES (session_user, segment_or_rule, channel, returned);
END
$$;
COMMENT ON FUNCTION @extschema@.audience(text, text) IS
	'Contact list for a campaign: the scored customers of a segment (or lifecycle:<stage>, segment:<name>, tier:<loyalty tier>, churn:high or churn:low for scored customers, one-time buyers included, whose churn risk over crm.settings.churn_horizon_days is at or above / below crm.settings.churn_risk_threshold, churn_watch_list, all) who consent to marketing on the channel (an enabled row of crm.channels) and have a handle for it (the customer key on channels of handle kind customer_id), highest CLV first. For crm_marketer; every call is logged in crm.audience_pulls. Errors: 22023 unknown or disabled channel, unknown audience.';

-- Rights and dump registration of the objects above.  The pull log is
-- evidence, kept.
REVOKE EXECUTE ON FUNCTION @extschema@.audience(text, text) FROM PUBLIC;
REVOKE EXECUTE ON FUNCTION @extschema@.audience_customers(text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION @extschema@.audience(text, text) TO crm_marketer;
GRANT SELECT ON @extschema@.audience_pulls TO crm_admin, crm_marketer;
SELECT pg_catalog.pg_extension_config_dump('@extschema@.audience_pulls', '');
SELECT pg_catalog.pg_extension_config_dump('@extschema@.audience_pulls_pull_id_seq', '');
