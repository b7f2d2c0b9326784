-- Campaigns with a holdout: a campaign names an audience (the vocabulary of
-- crm.audience) and a channel; its launch freezes, once, who is in it and
-- whether each member is treated (sent to) or held out as control, drawn
-- by a hash seeded per campaign, with each member's pre-period spend for
-- CUPED.  The sending tool pulls the treatment's handles and reports what
-- happened to each message.  Results are read live from the sales
-- (96b_campaign_results.sql).

ALTER TABLE @extschema@.settings
	ADD COLUMN max_contacts_per_week integer DEFAULT 3,
	ADD COLUMN campaign_pre_period_days integer NOT NULL DEFAULT 90;
COMMENT ON COLUMN @extschema@.settings.max_contacts_per_week IS
	'Contact cap: a customer already in the treatment of this many launched campaigns starting less than 7 days before or after a campaign''s start is left out of its launch (reason contact_cap); default 3, NULL for no cap.';
COMMENT ON COLUMN @extschema@.settings.campaign_pre_period_days IS
	'Days before a campaign''s start whose spend and orders its launch stores per member: the covariate of the CUPED-adjusted revenue uplift; default 90.';

CREATE FUNCTION @extschema@.settings_campaign_check()
RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	IF NEW.max_contacts_per_week < 1 THEN
		PERFORM @extschema@.config_error(
			format('max_contacts_per_week must be at least 1 or NULL, not %s', NEW.max_contacts_per_week),
			'NULL lifts the contact cap; the default 3 lets a customer be treated by at most 3 campaigns within a week.');
	END IF;
	IF NOT NEW.campaign_pre_period_days BETWEEN 1 AND 3650 THEN
		PERFORM @extschema@.config_error(
			format('campaign_pre_period_days must be between 1 and 3650, not %s', NEW.campaign_pre_period_days),
			'The default 90 days of spend before the start make the CUPED covariate.');
	END IF;
	RETURN NEW;
END
$$;
COMMENT ON FUNCTION @extschema@.settings_campaign_check() IS 'Trigger: validates the campaign settings of crm.settings.';

CREATE TRIGGER settings_campaign_check BEFORE INSERT OR UPDATE ON @extschema@.settings
	FOR EACH ROW EXECUTE FUNCTION @extschema@.settings_campaign_check();

CREATE TABLE @extschema@.campaigns (
	campaign_id			bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	name				text NOT NULL,
	audience			text NOT NULL,
	channel				text NOT NULL REFERENCES @extschema@.channels ON UPDATE CASCADE,
	control_share		double precision NOT NULL CONSTRAINT campaigns_control_share_range
		CHECK (control_share > 0 AND control_share < 1),
	starts_at			timestamptz NOT NULL,
	ends_at				timestamptz NOT NULL,
	attribution_days	integer NOT NULL CONSTRAINT campaigns_attribution_days_range
		CHECK (attribution_days BETWEEN 1 AND 366),
	cost				numeric(18,2) NOT NULL CONSTRAINT campaigns_cost_range CHECK (cost >= 0 AND cost < 'Infinity'),
	margin				double precision CONSTRAINT campaigns_margin_range CHECK (margin > 0 AND margin <= 1),
	assignment_seed		bigint NOT NULL,
	created_at			timestamptz NOT NULL DEFAULT now(),
	created_by			name NOT NULL DEFAULT session_user,
	CONSTRAINT campaigns_ends_after_start CHECK (ends_at > starts_at)
);
COMMENT ON TABLE @extschema@.campaigns IS
	'Campaigns, one row each: create with crm.create_campaign, freeze membership with crm.launch_campaign, read results in crm.campaign_results. No personal data.';
COMMENT ON COLUMN @extschema@.campaigns.campaign_id IS 'Campaign number.';
COMMENT ON COLUMN @extschema@.campaigns.name IS 'Name the marketer gave it.';
COMMENT ON COLUMN @extschema@.campaigns.audience IS 'Who it targets, in the vocabulary of crm.audience (a segment, lifecycle:<stage>, tier:<tier>, churn:high, churn_watch_list, all, ...).';
COMMENT ON COLUMN @extschema@.campaigns.channel IS 'Channel it is sent on (crm.channels.name).';
COMMENT ON COLUMN @extschema@.campaigns.control_share IS 'Share of the eligible audience held out as the campaign''s control group (not sent to).';
COMMENT ON COLUMN @extschema@.campaigns.starts_at IS 'When it goes out: the attribution window and the pre-period are counted from here.';
COMMENT ON COLUMN @extschema@.campaigns.ends_at IS 'When sending stops: crm.campaign_sends refuses afterwards.';
COMMENT ON COLUMN @extschema@.campaigns.attribution_days IS 'A member converts with a purchase in [starts_at, starts_at + attribution_days days).';
COMMENT ON COLUMN @extschema@.campaigns.cost IS 'What the campaign cost, in the currency of the sales; the ROI divides by it.';
COMMENT ON COLUMN @extschema@.campaigns.margin IS 'Gross margin on its revenue (0 to 1) for the ROI; NULL leaves the ROI out.';
COMMENT ON COLUMN @extschema@.campaigns.assignment_seed IS 'Seed of the hash that assigns members to treatment or control: drawn at creation, so an assignment can be recomputed and checked.';
COMMENT ON COLUMN @extschema@.campaigns.created_at IS 'When it was created.';
COMMENT ON COLUMN @extschema@.campaigns.created_by IS 'Session user who created it.';

CREATE TABLE @extschema@.campaign_launches (
	campaign_id				bigint PRIMARY KEY REFERENCES @extschema@.campaigns ON DELETE CASCADE,
	launched_at				timestamptz NOT NULL DEFAULT now(),
	launched_by				name NOT NULL DEFAULT session_user,
	audience_customers		bigint NOT NULL,
	treatment_members		bigint NOT NULL,
	control_members			bigint NOT NULL,
	excluded_no_consent		bigint NOT NULL,
	excluded_no_handle		bigint NOT NULL,
	excluded_global_control	bigint NOT NULL,
	excluded_contact_cap	bigint NOT NULL
);
COMMENT ON TABLE @extschema@.campaign_launches IS
	'One row per launched campaign: when and by whom, and how its audience was split (each customer counted once, under the first reason that applies). No personal data.';
COMMENT ON COLUMN @extschema@.campaign_launches.campaign_id IS 'The campaign (crm.campaigns).';
COMMENT ON COLUMN @extschema@.campaign_launches.launched_at IS 'When its membership was frozen.';
COMMENT ON COLUMN @extschema@.campaign_launches.launched_by IS 'Session user who launched it.';
COMMENT ON COLUMN @extschema@.campaign_launches.audience_customers IS 'Scored customers in the audience at launch.';
COMMENT ON COLUMN @extschema@.campaign_launches.treatment_members IS 'Members to be sent to.';
COMMENT ON COLUMN @extschema@.campaign_launches.control_members IS 'Members held out as control.';
COMMENT ON COLUMN @extschema@.campaign_launches.excluded_no_consent IS 'Left out: no marketing consent on the channel.';
COMMENT ON COLUMN @extschema@.campaign_launches.excluded_no_handle IS 'Left out: consent, but no handle on the channel.';
COMMENT ON COLUMN @extschema@.campaign_launches.excluded_global_control IS 'Left out: in the global control group (crm.in_global_control).';
COMMENT ON COLUMN @extschema@.campaign_launches.excluded_contact_cap IS 'Left out: already treated by crm.settings.max_contacts_per_week campaigns within a week of the start.';

CREATE TABLE @extschema@.campaign_members (
	campaign_id			bigint NOT NULL REFERENCES @extschema@.campaign_launches ON DELETE CASCADE,
	customer_id			bigint NOT NULL,
	assigned_group		text NOT NULL CONSTRAINT campaign_members_group_known
		CHECK (assigned_group IN ('treatment', 'control')),
	segment				text,
	lifecycle_stage		text,
	loyalty_tier		text,
	pre_revenue			numeric(19,4) NOT NULL,
	pre_orders			integer NOT NULL,
	PRIMARY KEY (campaign_id, customer_id)
);
-- The contact cap and crm.merge_customers look members up by customer.
CREATE INDEX campaign_members_customer_idx ON @extschema@.campaign_members (customer_id);
COMMENT ON TABLE @extschema@.campaign_members IS
	'Who is in each launched campaign, frozen at launch: treatment or control, their segment, lifecycle stage and loyalty tier then, and their spend and orders in the pre-period. Keys and aggregates only: no personal data.';
COMMENT ON COLUMN @extschema@.campaign_members.campaign_id IS 'The campaign.';
COMMENT ON COLUMN @extschema@.campaign_members.customer_id IS 'The member (customer key).';
COMMENT ON COLUMN @extschema@.campaign_members.assigned_group IS 'treatment (sent to) or control (held out), drawn by the campaign''s seeded hash.';
COMMENT ON COLUMN @extschema@.campaign_members.segment IS 'RFM segment at launch.';
COMMENT ON COLUMN @extschema@.campaign_members.lifecycle_stage IS 'Lifecycle stage at launch.';
COMMENT ON COLUMN @extschema@.campaign_members.loyalty_tier IS 'Loyalty tier at launch; NULL for non-members.';
COMMENT ON COLUMN @extschema@.campaign_members.pre_revenue IS 'Net spend in the crm.settings.campaign_pre_period_days days before starts_at (crm.transactions): the CUPED covariate.';
COMMENT ON COLUMN @extschema@.campaign_members.pre_orders IS 'Purchases (amount > 0) in the same pre-period.';

CREATE TABLE @extschema@.campaign_events (
	campaign_id		bigint NOT NULL REFERENCES @extschema@.campaign_launches ON DELETE CASCADE,
	customer_id		bigint NOT NULL,
	event			text NOT NULL CONSTRAINT campaign_events_event_known
		CHECK (event IN ('delivered', 'opened', 'clicked', 'bounced', 'unsubscribed')),
	occurred_at		timestamptz NOT NULL,
	recorded_at		timestamptz NOT NULL DEFAULT now(),
	PRIMARY KEY (campaign_id, customer_id, event),
	FOREIGN KEY (campaign_id, customer_id) REFERENCES @extschema@.campaign_members ON UPDATE CASCADE ON DELETE CASCADE
);
COMMENT ON TABLE @extschema@.campaign_events IS
	'What the sending tool reported per treatment member, each kind once (the first report): delivered, opened, clicked, bounced, unsubscribed. Write with crm.record_campaign_event. No personal data.';
COMMENT ON COLUMN @extschema@.campaign_events.campaign_id IS 'The campaign.';
COMMENT ON COLUMN @extschema@.campaign_events.customer_id IS 'The treatment member.';
COMMENT ON COLUMN @extschema@.campaign_events.event IS 'delivered, opened, clicked, bounced or unsubscribed.';
COMMENT ON COLUMN @extschema@.campaign_events.occurred_at IS 'When it happened, as the sending tool reported it.';
COMMENT ON COLUMN @extschema@.campaign_events.recorded_at IS 'When it was recorded.';

CREATE TABLE @extschema@.campaign_send_pulls (
	pull_id		bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	campaign_id	bigint NOT NULL REFERENCES @extschema@.campaign_launches ON DELETE CASCADE,
	pulled_at	timestamptz NOT NULL DEFAULT now(),
	pulled_by	name NOT NULL,
	customers	bigint NOT NULL,
	left_out	bigint NOT NULL
);
COMMENT ON TABLE @extschema@.campaign_send_pulls IS
	'One row per call of crm.campaign_sends: who pulled a campaign''s send list, when, how many handles it returned and how many treatment members it left out because they withdrew consent or lost their handle since the launch.';
COMMENT ON COLUMN @extschema@.campaign_send_pulls.pull_id IS 'Pull number, increasing.';
COMMENT ON COLUMN @extschema@.campaign_send_pulls.campaign_id IS 'The campaign.';
COMMENT ON COLUMN @extschema@.campaign_send_pulls.pulled_at IS 'When the list was pulled.';
COMMENT ON COLUMN @extschema@.campaign_send_pulls.pulled_by IS 'Session user who pulled it (the login role, also under SET ROLE).';
COMMENT ON COLUMN @extschema@.campaign_send_pulls.customers IS 'Handles returned.';
COMMENT ON COLUMN @extschema@.campaign_send_pulls.left_out IS 'Treatment members left out: consent withdrawn or handle gone since the launch.';

-- The launched campaign, locked against a concurrent launch, send pull or
-- event; errors name what is missing.
CREATE FUNCTION @extschema@.require_campaign(campaign_id bigint, must_be_launched boolean)
RETURNS @extschema@.campaigns
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	campaign @extschema@.campaigns;
BEGIN
	IF campaign_id IS NULL THEN
		RAISE EXCEPTION USING ERRCODE = 'null_value_not_allowed',
			MESSAGE = 'campaign_id must not be NULL',
			HINT = 'Give the number crm.create_campaign returned (crm.campaigns.campaign_id).';
	END IF;
	SELECT * INTO campaign FROM @extschema@.campaigns AS c WHERE c.campaign_id = require_campaign.campaign_id FOR UPDATE;
	IF NOT FOUND THEN
		RAISE EXCEPTION USING ERRCODE = 'foreign_key_violation',
			MESSAGE = format('campaign %s does not exist', campaign_id),
			HINT = 'Create it with crm.create_campaign; crm.campaigns lists the campaigns there are.';
	END IF;
	IF must_be_launched
	   AND NOT EXISTS (SELECT 1 FROM @extschema@.campaign_launches AS l WHERE l.campaign_id = require_campaign.campaign_id) THEN
		RAISE EXCEPTION USING ERRCODE = 'object_not_in_prerequisite_state',
			MESSAGE = format('campaign %s has not been launched', campaign_id),
			HINT = format('Launch it first: SELECT * FROM crm.launch_campaign(%s);', campaign_id);
	END IF;
	RETURN campaign;
END
$$;
COMMENT ON FUNCTION @extschema@.require_campaign(bigint, boolean) IS
	'Internal, for the campaign functions: the campaign row, locked FOR UPDATE. Errors: 22004 NULL, 23503 unknown campaign, 55000 not launched when it must be.';

CREATE FUNCTION @extschema@.create_campaign(name text, audience text, channel text,
											control_share double precision DEFAULT 0.1,
											starts_at timestamptz DEFAULT now(),
											ends_at timestamptz DEFAULT NULL,
											attribution_days integer DEFAULT 14,
											cost numeric DEFAULT 0,
											margin double precision DEFAULT NULL)
RETURNS bigint
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	created bigint;
BEGIN
	IF name IS NULL OR audience IS NULL OR channel IS NULL OR control_share IS NULL OR starts_at IS NULL
	   OR attribution_days IS NULL OR cost IS NULL THEN
		RAISE EXCEPTION USING ERRCODE = 'null_value_not_allowed',
			MESSAGE = 'only ends_at and margin of a campaign may be NULL',
			HINT = 'Leave control_share (0.1), starts_at (now), attribution_days (14) and cost (0) out to take their defaults.';
	END IF;
	IF btrim(name) = '' THEN
		RAISE EXCEPTION USING ERRCODE = 'invalid_parameter_value',
			MESSAGE = 'a campaign needs a name',
			HINT = 'Name it so that a report reader knows it, e.g. ''At Risk win-back, December''.';
	END IF;
	PERFORM @extschema@.parse_audience(audience);
	PERFORM @extschema@.require_enabled_channel(channel);
	IF NOT (control_share > 0 AND control_share < 1) THEN
		RAISE EXCEPTION USING ERRCODE = 'invalid_parameter_value',
			MESSAGE = format('control_share must lie strictly between 0 and 1, not %s', control_share),
			HINT = 'The share of the eligible audience held out and not sent to: 0.1 is usual; crm.campaign_sample_size tells what an uplift needs.';
	END IF;
	IF NOT attribution_days BETWEEN 1 AND 366 THEN
		RAISE EXCEPTION USING ERRCODE = 'invalid_parameter_value',
			MESSAGE = format('attribution_days must be between 1 and 366, not %s', attribution_days),
			HINT = 'A member converts with a purchase within attribution_days of the start; 14 is usual for email.';
	END IF;
	ends_at := coalesce(ends_at, starts_at + attribution_days * interval '1 day');
	IF NOT (isfinite(starts_at) AND isfinite(ends_at) AND ends_at > starts_at) THEN
		RAISE EXCEPTION USING ERRCODE = 'invalid_parameter_value',
			MESSAGE = format('a campaign must end after it starts, at finite times (starts_at %s, ends_at %s)', starts_at, ends_at),
			HINT = 'Leave ends_at out to end sending when the attribution window closes.';
	END IF;
	IF NOT (cost >= 0 AND cost < 1e16) THEN
		RAISE EXCEPTION USING ERRCODE = 'invalid_parameter_value',
			MESSAGE = format('cost must be a finite amount of at least 0, not %s', cost),
			HINT = 'What the campaign cost in the currency of the sales (below 10^16); 0 when it cost nothing worth counting.';
	END IF;
	IF NOT (margin > 0 AND margin <= 1) THEN
		RAISE EXCEPTION USING ERRCODE = 'invalid_parameter_value',
			MESSAGE = format('margin must lie above 0 and at most 1, not %s', margin),
			HINT = 'The gross margin on the campaign''s revenue, e.g. 0.35; leave it NULL to leave the ROI out.';
	END IF;

	INSERT INTO @extschema@.campaigns AS c (name, audience, channel, control_share, starts_at, ends_at,
											attribution_days, cost, margin, assignment_seed)
	VALUES (name, audience, channel, control_share, starts_at, ends_at, attribution_days, cost, margin,
			(random() * 9.2e18)::bigint)
	RETURNING c.campaign_id INTO created;
	RETURN created;
END
$$;
COMMENT ON FUNCTION @extschema@.create_campaign(text, text, text, double precision, timestamptz, timestamptz, integer, numeric, double precision) IS
	'Creates a campaign and returns its campaign_id: an audience in the vocabulary of crm.audience, an enabled channel, the share held out as control, when it starts and ends (default: when the attribution window closes), the attribution window in days, its cost and gross margin for the ROI. Nobody is assigned until crm.launch_campaign. For crm_marketer and crm_admin. Errors: 22004 NULL, 22023 unknown audience or channel, control_share outside (0, 1), attribution_days outside 1-366, ends_at not after starts_at, cost negative or not finite, margin outside (0, 1].';

-- SECURITY DEFINER: it returns handles, which a marketer may not read
-- directly, and only the treatment's.  No dynamic SQL; search_path pinned.
CREATE FUNCTION @extschema@.campaign_sends(campaign_id bigint)
RETURNS TABLE (customer_id bigint, channel text, handle text)
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	campaign @extschema@.campaigns := @extschema@.require_campaign(campaign_id, true);
	handle_kind text := @extschema@.require_channel(campaign.channel);
	returned bigint;
	treated bigint;
BEGIN
	IF campaign.ends_at <= now() THEN
		RAISE EXCEPTION USING ERRCODE = 'object_not_in_prerequisite_state',
			MESSAGE = format('campaign %s ended at %s: nothing more may be sent for it', campaign_id, campaign.ends_at),
			HINT = 'Its results are in crm.campaign_results; create a new campaign to reach the audience again.';
	END IF;
	RETURN QUERY
	SELECT m.customer_id, campaign.channel,
		   CASE WHEN handle_kind = 'customer_id' THEN m.customer_id::text ELSE ct.handle END
	FROM @extschema@.campaign_members AS m
	JOIN @extschema@.customer_contacts AS ct ON ct.customer_id = m.customer_id AND ct.channel = campaign.channel
	WHERE m.campaign_id = campaign_sends.campaign_id AND m.assigned_group = 'treatment'
	  AND ct.consent AND (handle_kind = 'customer_id' OR nullif(btrim(ct.handle), '') IS NOT NULL)
	ORDER BY m.customer_id;
	GET DIAGNOSTICS returned = ROW_COUNT;
	SELECT count(*) INTO treated FROM @extschema@.campaign_members AS m
	WHERE m.campaign_id = campaign_sends.campaign_id AND m.assigned_group = 'treatment';
	IF treated > returned THEN
		RAISE NOTICE 'retail_crm: % treatment members of campaign % are left out: they withdrew consent or lost their handle on % since the launch',
			treated - returned, campaign_id, campaign.channel;
	END IF;
	INSERT INTO @extschema@.campaign_send_pulls (campaign_id, pulled_by, customers, left_out)
	VALUES (campaign_id, session_user, returned, treated - returned);
END
$$;
COMMENT ON FUNCTION @extschema@.campaign_sends(bigint) IS
	'The send list of a launched campaign for the sending tool: its treatment members'' customer_id, channel and handle (the customer key on channels of handle kind customer_id), leaving out, with a notice, members who withdrew consent or lost their handle since the launch; control members never appear. For crm_marketer only; every call is logged in crm.campaign_send_pulls. Errors: 22004 NULL, 23503 unknown campaign, 55000 not launched or ended.';

REVOKE EXECUTE ON FUNCTION @extschema@.create_campaign(text, text, text, double precision, timestamptz, timestamptz, integer, numeric, double precision),
	@extschema@.campaign_sends(bigint), @extschema@.require_campaign(bigint, boolean) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION @extschema@.create_campaign(text, text, text, double precision, timestamptz, timestamptz, integer, numeric, double precision)
	TO crm_marketer, crm_admin;
GRANT EXECUTE ON FUNCTION @extschema@.campaign_sends(bigint) TO crm_marketer;
GRANT SELECT ON @extschema@.campaigns, @extschema@.campaign_launches, @extschema@.campaign_members,
	@extschema@.campaign_events TO crm_analyst;
GRANT SELECT ON @extschema@.campaign_send_pulls TO crm_admin, crm_marketer;
-- crm.merge_customers (run by crm_admin) moves memberships.
GRANT UPDATE, DELETE ON @extschema@.campaign_members TO crm_admin;
-- Dump registration: definitions, launches and frozen memberships, the
-- sending tool's events and the send-list log.
SELECT pg_catalog.pg_extension_config_dump('@extschema@.campaigns', '');
SELECT pg_catalog.pg_extension_config_dump('@extschema@.campaigns_campaign_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('@extschema@.campaign_launches', '');
SELECT pg_catalog.pg_extension_config_dump('@extschema@.campaign_members', '');
SELECT pg_catalog.pg_extension_config_dump('@extschema@.campaign_events', '');
SELECT pg_catalog.pg_extension_config_dump('@extschema@.campaign_send_pulls', '');
SELECT pg_catalog.pg_extension_config_dump('@extschema@.campaign_send_pulls_pull_id_seq', '');
