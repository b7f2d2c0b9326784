-- crm.launch_campaign and crm.record_campaign_event (the campaign tables and
-- the other campaign functions are in 96a_campaigns.sql).  Only CREATE OR
-- REPLACE of functions, comments and grants: an upgrade runs this part again.

-- SECURITY DEFINER: the launch reads consent and handles, which a marketer
-- may not read directly.  It runs no dynamic SQL and its search_path is
-- pinned.  The campaign row's lock makes a concurrent launch wait and then
-- find the launch done.
CREATE OR REPLACE FUNCTION @extschema@.launch_campaign(campaign_id bigint)
RETURNS TABLE (outcome text, customers bigint)
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	campaign @extschema@.campaigns := @extschema@.require_campaign(campaign_id, false);
	launch @extschema@.campaign_launches;
	handle_kind text;
	cap integer;
	pre_days integer;
	control_threshold bigint := (campaign.control_share * 4503599627370496)::bigint;
BEGIN
	-- On Citus the launch reads distributed tables and then writes the
	-- reference table campaign_launches, which members refer to.
	PERFORM @extschema@.citus_sequential();
	SELECT * INTO launch FROM @extschema@.campaign_launches AS l WHERE l.campaign_id = launch_campaign.campaign_id;
	IF FOUND THEN
		IF campaign.ends_at <= now() THEN
			RAISE EXCEPTION USING ERRCODE = 'object_not_in_prerequisite_state',
				MESSAGE = format('campaign %s has ended and cannot be launched again', campaign_id),
				DETAIL = format('It was launched at %s by %s and ended at %s.', launch.launched_at, launch.launched_by, campaign.ends_at),
				HINT = 'Its results are in crm.campaign_results; create a new campaign to reach the audience again.';
		END IF;
		RAISE EXCEPTION USING ERRCODE = 'object_not_in_prerequisite_state',
			MESSAGE = format('campaign %s has been launched already', campaign_id),
			DETAIL = format('It was launched at %s by %s.', launch.launched_at, launch.launched_by),
			HINT = 'A launch freezes membership once: crm.campaign_launches has its counts and crm.campaign_sends its send list.';
	END IF;
	handle_kind := @extschema@.require_enabled_channel(campaign.channel);
	SELECT st.max_contacts_per_week, st.campaign_pre_period_days INTO cap, pre_days FROM @extschema@.settings AS st;

	WITH audience AS MATERIALIZED (
		SELECT a.customer_id, a.segment, a.lifecycle_stage,
			   coalesce(ct.consent, false) AS consent,
			   handle_kind = 'customer_id' OR nullif(btrim(ct.handle), '') IS NOT NULL AS has_handle
		FROM @extschema@.audience_customers(campaign.audience) AS a
		LEFT JOIN @extschema@.customer_contacts AS ct ON ct.customer_id = a.customer_id AND ct.channel = campaign.channel
	), candidates AS MATERIALIZED (
		SELECT a.customer_id, a.segment, a.lifecycle_stage,
			   CASE WHEN NOT a.consent THEN 'no_consent'
					WHEN NOT a.has_handle THEN 'no_handle'
					-- the rule of crm.in_global_control for every key, also one
					-- missing from crm.customers
					WHEN @extschema@.hash_in_share(a.customer_id, g.seed, g.threshold) THEN 'global_control'
					WHEN recent.contacts >= cap THEN 'contact_cap'
			   END AS excluded_for,
			   @extschema@.hash_in_share(a.customer_id, campaign.assignment_seed, control_threshold) AS in_control
		FROM audience AS a
		CROSS JOIN @extschema@.global_control_key() AS g
		LEFT JOIN (SELECT m.customer_id, count(*) AS contacts
				   FROM @extschema@.campaign_members AS m
				   JOIN @extschema@.campaigns AS c ON c.campaign_id = m.campaign_id
				   WHERE m.assigned_group = 'treatment' AND cap IS NOT NULL
					 AND c.starts_at > campaign.starts_at - interval '7 days'
					 AND c.starts_at < campaign.starts_at + interval '7 days'
				   GROUP BY m.customer_id) AS recent ON recent.customer_id = a.customer_id
	), launched AS (
		INSERT INTO @extschema@.campaign_launches AS l
			(campaign_id, audience_customers, treatment_members, control_members, excluded_no_consent,
			 excluded_no_handle, excluded_global_control, excluded_contact_cap)
		SELECT launch_campaign.campaign_id, count(*),
			   count(*) FILTER (WHERE c.excluded_for IS NULL AND NOT c.in_control),
			   count(*) FILTER (WHERE c.excluded_for IS NULL AND c.in_control),
			   count(*) FILTER (WHERE c.excluded_for = 'no_consent'),
			   count(*) FILTER (WHERE c.excluded_for = 'no_handle'),
			   count(*) FILTER (WHERE c.excluded_for = 'global_control'),
			   count(*) FILTER (WHERE c.excluded_for = 'contact_cap')
		FROM candidates AS c
		RETURNING l.*
	), pre_period AS (
		SELECT t.customer_id, sum(t.amount) AS revenue, count(*) FILTER (WHERE t.amount > 0) AS orders
		FROM @extschema@.transactions AS t
		WHERE t.occurred_at >= campaign.starts_at - pre_days * interval '1 day' AND t.occurred_at < campaign.starts_at
		  AND t.customer_id IN (SELECT c.customer_id FROM candidates AS c WHERE c.excluded_for IS NULL)
		GROUP BY t.customer_id
	), members AS (
		INSERT INTO @extschema@.campaign_members
			(campaign_id, customer_id, assigned_group, segment, lifecycle_stage, loyalty_tier, pre_revenue, pre_orders)
		SELECT launch_campaign.campaign_id, c.customer_id,
			   CASE WHEN c.in_control THEN 'control' ELSE 'treatment' END,
			   c.segment, c.lifecycle_stage, t.tier_name, coalesce(p.revenue, 0), coalesce(p.orders, 0)
		FROM candidates AS c
		LEFT JOIN pre_period AS p ON p.customer_id = c.customer_id
		LEFT JOIN @extschema@.loyalty_members AS lm ON lm.customer_id = c.customer_id
		LEFT JOIN @extschema@.loyalty_tiers AS t ON t.program_id = lm.program_id AND t.tier_rank = lm.tier_rank
		WHERE c.excluded_for IS NULL
		RETURNING 1
	)
	-- members runs to completion unreferenced, like every data-modifying WITH.
	SELECT l.* INTO launch FROM launched AS l;

	RAISE NOTICE 'retail_crm: campaign % launched: % treated, % control; left out % without consent, % without handle, % in the global control group, % at the contact cap',
		campaign_id, launch.treatment_members, launch.control_members, launch.excluded_no_consent,
		launch.excluded_no_handle, launch.excluded_global_control, launch.excluded_contact_cap;
	RETURN QUERY
	SELECT o.outcome, o.customers
	FROM (VALUES (1, 'treatment', launch.treatment_members), (2, 'control', launch.control_members),
				 (3, 'excluded_no_consent', launch.excluded_no_consent),
				 (4, 'excluded_no_handle', launch.excluded_no_handle),
				 (5, 'excluded_global_control', launch.excluded_global_control),
				 (6, 'excluded_contact_cap', launch.excluded_contact_cap)) AS o (position, outcome, customers)
	ORDER BY o.position;
END
$$;
COMMENT ON FUNCTION @extschema@.launch_campaign(bigint) IS
	'Freezes a campaign''s membership, once: every scored customer of its audience who consents on its channel, has a handle there, is outside the global control group and under the contact cap (crm.settings.max_contacts_per_week) becomes a member, in treatment or control by the campaign''s seeded hash (control_share of them in control), with their segment, lifecycle stage and loyalty tier and their pre-period spend and orders. Returns the count per outcome (treatment, control, excluded_<reason>), also logged in crm.campaign_launches. For crm_marketer and crm_admin. Errors: 22004 NULL, 23503 unknown campaign, 55000 launched already (or ended after its launch), 22023 channel disabled since creation or audience no longer valid.';

-- SECURITY DEFINER: an unsubscribe withdraws consent, which a marketer may
-- not write directly.  No dynamic SQL; search_path pinned.
CREATE OR REPLACE FUNCTION @extschema@.record_campaign_event(campaign_id bigint, customer_id bigint, event text,
												  occurred_at timestamptz DEFAULT now())
RETURNS boolean
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	campaign @extschema@.campaigns := @extschema@.require_campaign(campaign_id, true);
	member_group text;
	contact record;
	recorded boolean;
	handle_kind text;
BEGIN
	IF customer_id IS NULL OR event IS NULL OR occurred_at IS NULL THEN
		RAISE EXCEPTION USING ERRCODE = 'null_value_not_allowed',
			MESSAGE = 'customer_id, event and occurred_at must not be NULL',
			HINT = 'Record what the sending tool reported for one member, e.g. (42, 17, ''opened'', ''2026-12-01 10:00+00'').';
	END IF;
	IF event NOT IN ('delivered', 'opened', 'clicked', 'bounced', 'unsubscribed') THEN
		RAISE EXCEPTION USING ERRCODE = 'invalid_parameter_value',
			MESSAGE = format('unknown campaign event %L', @extschema@.message_excerpt(event)),
			HINT = 'Events are delivered, opened, clicked, bounced and unsubscribed.';
	END IF;
	IF occurred_at > now() + interval '1 day' OR NOT isfinite(occurred_at) THEN
		RAISE EXCEPTION USING ERRCODE = 'invalid_parameter_value',
			MESSAGE = format('campaign event occurred_at %s lies in the future', occurred_at),
			HINT = 'Give the time the sending tool reported.';
	END IF;
	SELECT m.assigned_group INTO member_group FROM @extschema@.campaign_members AS m
	WHERE m.campaign_id = record_campaign_event.campaign_id AND m.customer_id = record_campaign_event.customer_id;
	IF member_group IS DISTINCT FROM 'treatment' THEN
		RAISE EXCEPTION USING ERRCODE = 'invalid_parameter_value',
			MESSAGE = format('customer %s is not in the treatment group of campaign %s%s', customer_id, campaign_id,
							 CASE WHEN member_group = 'control' THEN ' but in its control group' ELSE '' END),
			HINT = 'Only treatment members are sent to (crm.campaign_sends); a control member must not be contacted, or the uplift is lost.';
	END IF;
	IF event = 'delivered' THEN
		-- the channel's kind first: Citus cannot run a function that reads
		-- a table inside a query it sends to a worker
		handle_kind := @extschema@.require_channel(campaign.channel);
		SELECT ct.consent, ct.consent_updated_at,
			   handle_kind = 'customer_id' OR nullif(btrim(ct.handle), '') IS NOT NULL AS has_handle
		INTO contact
		FROM @extschema@.customer_contacts AS ct
		WHERE ct.customer_id = record_campaign_event.customer_id AND ct.channel = campaign.channel;
		-- A consent withdrawn after the delivery does not make it wrong.
		IF NOT coalesce(contact.consent OR contact.consent_updated_at > occurred_at, false) OR NOT contact.has_handle THEN
			RAISE EXCEPTION USING ERRCODE = 'object_not_in_prerequisite_state',
				MESSAGE = format('customer %s had no consent or no handle on %s when campaign %s was delivered to them at %s',
								 customer_id, campaign.channel, campaign_id, occurred_at),
				HINT = 'Send only to the list crm.campaign_sends returns at the time of sending: it leaves out withdrawn consents.';
		END IF;
	END IF;

	INSERT INTO @extschema@.campaign_events (campaign_id, customer_id, event, occurred_at)
	VALUES (campaign_id, customer_id, event, occurred_at)
	ON CONFLICT ON CONSTRAINT campaign_events_pkey DO NOTHING
	RETURNING true INTO recorded;
	IF recorded AND event = 'unsubscribed' THEN
		PERFORM @extschema@.record_consent(customer_id, campaign.channel, false,
										   format('unsubscribe from campaign %s', campaign_id), occurred_at);
	END IF;
	RETURN coalesce(recorded, false);
END
$$;
COMMENT ON FUNCTION @extschema@.record_campaign_event(bigint, bigint, text, timestamptz) IS
	'Records what the sending tool reported for a treatment member of a launched campaign: delivered, opened, clicked, bounced or unsubscribed, each kind once (a repeat changes nothing and returns false; the first returns true). An unsubscribe withdraws the member''s consent on the campaign''s channel through crm.record_consent (source "unsubscribe from campaign N"). For crm_marketer and crm_admin. Errors: 22004 NULL, 23503 unknown campaign, 55000 not launched, or a delivery to a member without consent or handle at the time, 22023 unknown event, future time, or a customer outside the treatment group.';

REVOKE EXECUTE ON FUNCTION @extschema@.launch_campaign(bigint),
	@extschema@.record_campaign_event(bigint, bigint, text, timestamptz) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION @extschema@.launch_campaign(bigint),
	@extschema@.record_campaign_event(bigint, bigint, text, timestamptz) TO crm_marketer, crm_admin;
-- crm.merge_customers (run by crm_admin) moves memberships and their events
-- by insert and delete.
GRANT INSERT, DELETE ON @extschema@.campaign_members, @extschema@.campaign_events TO crm_admin;
