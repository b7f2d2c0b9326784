-- retail_crm install script, assembled by the Makefile from the sql/ parts.
\echo Use "CREATE EXTENSION retail_crm" to load this file. \quit

-- The schema is fixed (control file: schema = crm, relocatable = false), so
-- BI tools and the parts below can rely on the name crm.
-- Roles, created first so that every later part grants on its own objects
-- (an upgrade script then carries the grants of what it adds).  Created only
-- when missing: roles belong to the whole cluster and may exist from an
-- install in another database.  NOLOGIN: grant them to login roles.
--   crm_admin     configuration, data, refresh and scheduling
--   crm_analyst   views and results without personal data
--   crm_marketer  what analysts see, plus audience lists of consenting customers

DO $roles$
DECLARE
	role_name text;
BEGIN
	FOREACH role_name IN ARRAY ARRAY['crm_admin', 'crm_analyst', 'crm_marketer'] LOOP
		IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_roles WHERE rolname = role_name) THEN
			EXECUTE pg_catalog.format('CREATE ROLE %I NOLOGIN', role_name);
		END IF;
	END LOOP;
END
$roles$;

GRANT USAGE ON SCHEMA @extschema@ TO crm_admin, crm_analyst, crm_marketer;

-- Role inheritance: marketers and admins see what analysts see.
GRANT crm_analyst TO crm_marketer;
GRANT crm_analyst TO crm_admin;
-- Data tables the retailer loads with COPY or INSERT.

CREATE TABLE @extschema@.customers (
	customer_id			bigint PRIMARY KEY,
	first_name			text,
	last_name			text,
	birth_date			date,
	gender				text,
	home_store			text,
	country				text,
	postal_code			text,
	joined_at			timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE @extschema@.customers IS
	'One row per customer: identity and join date; contacts and marketing consent per channel are in crm.customer_contacts. Holds personal data: analysts read crm.customer_360 instead.';
COMMENT ON COLUMN @extschema@.customers.customer_id IS 'The retailer''s customer key.';
COMMENT ON COLUMN @extschema@.customers.first_name IS 'Personal data.';
COMMENT ON COLUMN @extschema@.customers.last_name IS 'Personal data.';
COMMENT ON COLUMN @extschema@.customers.birth_date IS 'Personal data.';
COMMENT ON COLUMN @extschema@.customers.gender IS 'Personal data, free text as the retailer records it.';
COMMENT ON COLUMN @extschema@.customers.home_store IS 'Store the customer is attached to, if any.';
COMMENT ON COLUMN @extschema@.customers.country IS 'Country of the customer''s address.';
COMMENT ON COLUMN @extschema@.customers.postal_code IS 'Personal data when combined with other fields.';
COMMENT ON COLUMN @extschema@.customers.joined_at IS 'When the customer joined (registration or first contact).';

-- One row per order, not per line: RFM frequency counts orders.
CREATE TABLE @extschema@.transactions (
	transaction_id		text PRIMARY KEY,
	customer_id			bigint,
	occurred_at			timestamptz NOT NULL,
	amount				numeric NOT NULL CONSTRAINT transactions_amount_finite
		CHECK (amount NOT IN ('NaN', 'Infinity', '-Infinity')),
	channel				text,
	store				text
);
COMMENT ON TABLE @extschema@.transactions IS
	'One row per order. Returns are rows with a negative amount. Rows without a customer are kept for totals but cannot feed customer metrics.';
COMMENT ON COLUMN @extschema@.transactions.transaction_id IS 'The retailer''s order or invoice number.';
COMMENT ON COLUMN @extschema@.transactions.customer_id IS 'Buyer; NULL for anonymous sales.';
COMMENT ON COLUMN @extschema@.transactions.occurred_at IS 'When the order was placed.';
COMMENT ON COLUMN @extschema@.transactions.amount IS 'Net order value; negative for a return or cancellation.';
COMMENT ON COLUMN @extschema@.transactions.channel IS 'Sales channel, e.g. store, online, app.';
COMMENT ON COLUMN @extschema@.transactions.store IS 'Store or site that made the sale.';

-- The refresh reads one customer's orders in time order through this index.
CREATE INDEX transactions_customer_time_idx
	ON @extschema@.transactions (customer_id, occurred_at) INCLUDE (amount);
-- Time-range scans on a table that grows in time order: BRIN stays tiny at 100M rows.
CREATE INDEX transactions_occurred_at_brin
	ON @extschema@.transactions USING brin (occurred_at);

CREATE TABLE @extschema@.transaction_items (
	transaction_id		text NOT NULL,
	line_no				integer NOT NULL,
	product_id			text NOT NULL,
	description			text,
	quantity			numeric NOT NULL,
	unit_price			numeric NOT NULL,
	PRIMARY KEY (transaction_id, line_no)
);
COMMENT ON TABLE @extschema@.transaction_items IS 'Order lines, for basket analysis.';
COMMENT ON COLUMN @extschema@.transaction_items.transaction_id IS 'The order the line belongs to (crm.transactions.transaction_id).';
COMMENT ON COLUMN @extschema@.transaction_items.line_no IS 'Line number within the order.';
COMMENT ON COLUMN @extschema@.transaction_items.product_id IS 'Product or SKU code.';
COMMENT ON COLUMN @extschema@.transaction_items.description IS 'Product description as printed on the order.';
COMMENT ON COLUMN @extschema@.transaction_items.quantity IS 'Units; negative on return lines.';
COMMENT ON COLUMN @extschema@.transaction_items.unit_price IS 'Price of one unit.';

CREATE INDEX transaction_items_product_idx ON @extschema@.transaction_items (product_id);
-- What error messages quote of an argument (the C functions have the same
-- rule in MessageExcerpt, src/retail_crm.c).

CREATE OR REPLACE FUNCTION @extschema@.message_excerpt(value text)
RETURNS text
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
	SELECT CASE WHEN length(value) > 64 THEN left(value, 64) || '...' ELSE value END
$$;
COMMENT ON FUNCTION @extschema@.message_excerpt(text) IS
	'The text an error message quotes of an argument: whole up to 64 characters, else its first 64 followed by "...", so that a huge argument does not travel into the client and the server log with every error.';
-- Marketing channels and each customer's contact on them.  Channels are
-- rows, so a retailer adds one (WeChat, WeCom, a new messenger) with an
-- INSERT; every function that reaches customers reads crm.channels.  A
-- channel's handle kind says what identifies the customer there, and so how
-- a handle is checked and which identity rule compares it (89_identity.sql).

CREATE TABLE @extschema@.channels (
	name			text PRIMARY KEY CONSTRAINT channels_name_format CHECK (name ~ '^[a-z][a-z0-9_]{0,62}$'),
	handle_kind		text NOT NULL CONSTRAINT channels_handle_kind_known
		CHECK (handle_kind IN ('email', 'phone', 'customer_id', 'platform_id')),
	description		text NOT NULL,
	enabled			boolean NOT NULL DEFAULT true
);
COMMENT ON TABLE @extschema@.channels IS
	'Marketing channels: add one with INSERT, stop marketing on one with UPDATE ... SET enabled = false (a channel with contacts or consent evidence cannot be deleted).';
COMMENT ON COLUMN @extschema@.channels.name IS 'Channel name as used by crm.set_contact, crm.record_consent and crm.audience: lower-case letters, digits and _.';
COMMENT ON COLUMN @extschema@.channels.handle_kind IS
	'What reaches the customer there: email (an email address), phone (a phone number, 7-15 digits), customer_id (the customer key itself: no handle is stored) or platform_id (an identifier the platform issued, e.g. a WeChat OpenID or a push device token).';
COMMENT ON COLUMN @extschema@.channels.description IS 'What the channel is.';
COMMENT ON COLUMN @extschema@.channels.enabled IS 'False stops crm.audience from pulling customers on the channel; contacts and consent are kept.';

INSERT INTO @extschema@.channels (name, handle_kind, description) VALUES
	('email', 'email', 'Email to the customer''s address.'),
	('sms', 'phone', 'Text message to the customer''s mobile number.'),
	('phone', 'phone', 'Call to the customer''s phone number.'),
	('app', 'customer_id', 'Message in the retailer''s app, addressed by the customer key.'),
	('wechat', 'platform_id', 'WeChat official account or mini-program message, addressed by the customer''s OpenID.'),
	('wecom', 'platform_id', 'WeCom (WeChat Work) message from a store associate, addressed by the customer''s external user id.'),
	('push', 'platform_id', 'Push notification, addressed by the device token.');

CREATE TABLE @extschema@.customer_contacts (
	customer_id			bigint NOT NULL,
	channel				text NOT NULL REFERENCES @extschema@.channels ON UPDATE CASCADE,
	handle				text,
	consent				boolean NOT NULL DEFAULT false,
	consent_updated_at	timestamptz,
	preferred			boolean NOT NULL DEFAULT false,
	PRIMARY KEY (customer_id, channel)
);
-- No foreign key to crm.customers: it would forbid TRUNCATE crm.customers,
-- which reloads use; crm.set_contact and crm.record_consent check the
-- customer instead, crm.merge_customers deletes the merged one's contacts.
COMMENT ON TABLE @extschema@.customer_contacts IS
	'One row per customer and channel: the handle that reaches them there, their marketing consent and whether it is their preferred channel. Write consent with crm.record_consent (or directly: triggers log every change in crm.consent_events) and handles with crm.set_contact. Holds personal data: crm_admin only.';
COMMENT ON COLUMN @extschema@.customer_contacts.customer_id IS 'Customer key (crm.customers).';
COMMENT ON COLUMN @extschema@.customer_contacts.channel IS 'Channel (crm.channels.name).';
COMMENT ON COLUMN @extschema@.customer_contacts.handle IS 'Personal data: the address, number or platform id that reaches the customer on the channel; NULL when unknown, and on channels whose handle kind is customer_id.';
COMMENT ON COLUMN @extschema@.customer_contacts.consent IS 'True when the customer agreed to marketing on the channel.';
COMMENT ON COLUMN @extschema@.customer_contacts.consent_updated_at IS 'When the consent last changed; the consent log dates a change written directly by this column.';
COMMENT ON COLUMN @extschema@.customer_contacts.preferred IS 'True on the customer''s preferred channel (at most one per customer).';

CREATE UNIQUE INDEX customer_contacts_one_preferred
	ON @extschema@.customer_contacts (customer_id) WHERE preferred;

CREATE FUNCTION @extschema@.normalized_email(email text)
RETURNS text
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
RETURN CASE WHEN lower(btrim(email)) ~ '^[^@\s]+@[^@\s]+\.[^@\s]+$' THEN lower(btrim(email)) END;
COMMENT ON FUNCTION @extschema@.normalized_email(text) IS
	'An email address lower-cased and trimmed, or NULL when it does not look like one (local@domain.tld, no spaces).';

CREATE FUNCTION @extschema@.normalized_phone(phone text)
RETURNS text
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
RETURN CASE WHEN length(regexp_replace(phone, '\D', '', 'g')) BETWEEN 7 AND 15
			THEN regexp_replace(phone, '\D', '', 'g') END;
COMMENT ON FUNCTION @extschema@.normalized_phone(text) IS
	'A phone number as its digits, or NULL when it has fewer than 7 or more than 15 (E.164 allows 15).';

-- Raises 22023 unless channel names a row of crm.channels; returns its
-- handle kind.
CREATE FUNCTION @extschema@.require_channel(channel text)
RETURNS text
LANGUAGE plpgsql STABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	kind text;
BEGIN
	SELECT ch.handle_kind INTO kind FROM @extschema@.channels AS ch WHERE ch.name = require_channel.channel;
	IF kind IS NULL THEN
		RAISE EXCEPTION USING ERRCODE = 'invalid_parameter_value',
			MESSAGE = format('unknown channel %L', @extschema@.message_excerpt(channel)),
			HINT = format('Channels are the rows of crm.channels: %s. Add one with INSERT INTO crm.channels.',
						  (SELECT string_agg(ch.name, ', ' ORDER BY ch.name) FROM @extschema@.channels AS ch));
	END IF;
	RETURN kind;
END
$$;
COMMENT ON FUNCTION @extschema@.require_channel(text) IS
	'Internal: the handle kind of a channel of crm.channels; raises 22023 with the known channels as hint for any other name. Stable because it reads a table.';

CREATE FUNCTION @extschema@.set_contact(customer_id bigint, channel text, handle text,
										preferred boolean DEFAULT false)
RETURNS void
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	kind text;
BEGIN
	IF customer_id IS NULL OR preferred IS NULL THEN
		RAISE EXCEPTION USING ERRCODE = 'null_value_not_allowed',
			MESSAGE = 'customer_id and preferred must not be NULL',
			HINT = 'preferred is true to make the channel the customer''s preferred one, else false.';
	END IF;
	kind := @extschema@.require_channel(channel);
	IF kind = 'customer_id' THEN
		IF handle IS NOT NULL THEN
			RAISE EXCEPTION USING ERRCODE = 'invalid_parameter_value',
				MESSAGE = format('channel %s reaches the customer by their key and takes no handle', channel),
				HINT = 'Pass NULL as the handle.';
		END IF;
	ELSIF handle IS NULL THEN
		RAISE EXCEPTION USING ERRCODE = 'null_value_not_allowed',
			MESSAGE = format('channel %s needs a handle', channel),
			HINT = 'To erase a customer''s contacts use crm.forget_customer.';
	ELSIF kind = 'email' AND @extschema@.normalized_email(handle) IS NULL THEN
		RAISE EXCEPTION USING ERRCODE = 'invalid_parameter_value',
			MESSAGE = format('channel %s needs an email address', channel),
			HINT = 'An email address looks like name@example.com, without spaces.';
	ELSIF kind = 'phone' AND @extschema@.normalized_phone(handle) IS NULL THEN
		RAISE EXCEPTION USING ERRCODE = 'invalid_parameter_value',
			MESSAGE = format('channel %s needs a phone number of 7 to 15 digits', channel),
			HINT = 'Give the number with its country code, e.g. +86 138 0013 8000; spaces, dashes and brackets are ignored.';
	ELSIF kind = 'platform_id' AND (btrim(handle) = '' OR length(handle) > 256) THEN
		RAISE EXCEPTION USING ERRCODE = 'invalid_parameter_value',
			MESSAGE = format('channel %s needs a platform id of 1 to 256 characters', channel),
			HINT = 'Give the identifier the platform issued, e.g. the WeChat OpenID.';
	END IF;
	-- Locks the customer row, so that two calls cannot both make a channel
	-- preferred; a missing row is the caller's error.
	PERFORM 1 FROM @extschema@.customers AS c WHERE c.customer_id = set_contact.customer_id FOR UPDATE;
	IF NOT FOUND THEN
		RAISE EXCEPTION USING ERRCODE = 'foreign_key_violation',
			MESSAGE = format('customer %s does not exist', customer_id),
			HINT = 'Insert the customer into crm.customers first.';
	END IF;
	IF preferred THEN
		UPDATE @extschema@.customer_contacts AS ct SET preferred = false
		WHERE ct.customer_id = set_contact.customer_id AND ct.preferred AND ct.channel <> set_contact.channel;
	END IF;
	-- Consent stays: it is the customer's answer for the channel, whatever
	-- the address (crm.record_consent records answers).
	INSERT INTO @extschema@.customer_contacts AS ct (customer_id, channel, handle, preferred)
	VALUES (customer_id, channel, btrim(handle), preferred)
	ON CONFLICT ON CONSTRAINT customer_contacts_pkey DO UPDATE
	SET handle = excluded.handle, preferred = ct.preferred OR excluded.preferred;
END
$$;
COMMENT ON FUNCTION @extschema@.set_contact(bigint, text, text, boolean) IS
	'Sets a customer''s handle on a channel (trimmed; checked by the channel''s handle kind); preferred = true also makes it their preferred channel (false leaves the preference as it is). Consent is unchanged: record it with crm.record_consent. Errors: 22023 unknown channel or a handle that does not fit its kind; 22004 NULL customer, preference or (except on customer_id channels) handle; 23503 unknown customer.';

REVOKE EXECUTE ON FUNCTION @extschema@.set_contact(bigint, text, text, boolean) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION @extschema@.set_contact(bigint, text, text, boolean) TO crm_admin;
GRANT SELECT ON @extschema@.channels TO crm_analyst, crm_marketer;
GRANT SELECT, INSERT, UPDATE, DELETE ON @extschema@.channels TO crm_admin;
GRANT SELECT, INSERT, UPDATE, DELETE, TRUNCATE ON @extschema@.customer_contacts TO crm_admin;
-- Marketing consent with its evidence.  crm.customer_contacts holds the
-- current answer per customer and channel (12_channels.sql);
-- crm.consent_events keeps every answer with when and where it was given.
-- The answers can be changed by any means (COPY, UPDATE, crm.record_consent):
-- triggers log each change, so the log cannot fall behind them.

CREATE TABLE @extschema@.consent_events (
	event_id		bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	customer_id		bigint NOT NULL,
	channel			text NOT NULL REFERENCES @extschema@.channels,
	granted			boolean NOT NULL,
	recorded_at		timestamptz NOT NULL,
	source			text NOT NULL,
	recorded_by		name NOT NULL DEFAULT session_user
);
COMMENT ON TABLE @extschema@.consent_events IS
	'Every consent answer per customer and channel, with time and source: the evidence behind crm.customer_contacts.consent. Append-only; kept after crm.forget_customer (it holds no personal data). No foreign key to the customer, so the evidence outlives a deleted customer row.';
COMMENT ON COLUMN @extschema@.consent_events.event_id IS 'Event number, increasing.';
COMMENT ON COLUMN @extschema@.consent_events.customer_id IS 'Customer key.';
COMMENT ON COLUMN @extschema@.consent_events.channel IS 'Channel (crm.channels.name).';
COMMENT ON COLUMN @extschema@.consent_events.granted IS 'True when the customer agreed to marketing on the channel, false when they refused or withdrew.';
COMMENT ON COLUMN @extschema@.consent_events.recorded_at IS 'When the customer gave the answer (crm.customer_contacts.consent_updated_at when the consent was written directly).';
COMMENT ON COLUMN @extschema@.consent_events.source IS 'Where the answer came from, e.g. web signup form, store till, crm.forget_customer; "crm.customer_contacts insert/update" when the consent was written directly without a source.';
COMMENT ON COLUMN @extschema@.consent_events.recorded_by IS 'Session user who wrote the answer.';

CREATE INDEX consent_events_customer_idx
	ON @extschema@.consent_events (customer_id, channel, recorded_at);

-- Source of the consent changes written in this transaction; set by
-- crm.record_consent, read by the triggers below.
CREATE FUNCTION @extschema@.consent_source(operation text)
RETURNS text
LANGUAGE sql STABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
	SELECT coalesce(nullif(current_setting('retail_crm.consent_source', true), ''),
					'crm.customer_contacts ' || lower(operation))
$$;
COMMENT ON FUNCTION @extschema@.consent_source(text) IS
	'Internal: the consent source crm.record_consent set for this transaction, else "crm.customer_contacts <operation>". Stable because it reads a setting.';

-- The latest answer the log holds for a customer and channel.
CREATE FUNCTION @extschema@.logged_consent(customer_id bigint, channel text)
RETURNS boolean
LANGUAGE sql STABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
	SELECT e.granted FROM @extschema@.consent_events AS e
	WHERE e.customer_id = logged_consent.customer_id AND e.channel = logged_consent.channel
	ORDER BY e.recorded_at DESC, e.event_id DESC
	LIMIT 1
$$;
COMMENT ON FUNCTION @extschema@.logged_consent(bigint, text) IS
	'Internal: the latest consent answer crm.consent_events holds for a customer and channel, NULL when none. Stable because it reads a table.';

-- One statement-level trigger per operation: transition tables let a COPY
-- of a million contacts log its consents in one INSERT ... SELECT.  An
-- answer that already agrees with the log's latest one is not logged again,
-- so pg_restore, which loads the saved log and then the contacts, does not
-- log every consent twice.
CREATE FUNCTION @extschema@.log_consent_changes()
RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	IF TG_OP = 'INSERT' THEN
		INSERT INTO @extschema@.consent_events (customer_id, channel, granted, recorded_at, source)
		SELECT n.customer_id, n.channel, n.consent,
			   coalesce(n.consent_updated_at, now()), @extschema@.consent_source(TG_OP)
		FROM new_rows AS n
		WHERE n.consent
		  AND n.consent IS DISTINCT FROM @extschema@.logged_consent(n.customer_id, n.channel);
	ELSE
		INSERT INTO @extschema@.consent_events (customer_id, channel, granted, recorded_at, source)
		SELECT n.customer_id, n.channel, n.consent,
			   coalesce(n.consent_updated_at, now()), @extschema@.consent_source(TG_OP)
		FROM new_rows AS n
		JOIN old_rows AS o USING (customer_id, channel)
		WHERE n.consent IS DISTINCT FROM o.consent
		  AND n.consent IS DISTINCT FROM @extschema@.logged_consent(n.customer_id, n.channel);
	END IF;
	RETURN NULL;
END
$$;
COMMENT ON FUNCTION @extschema@.log_consent_changes() IS
	'Trigger: writes a crm.consent_events row for every consent a statement on crm.customer_contacts set (insert) or changed (update).';

CREATE TRIGGER customer_contacts_consent_inserted AFTER INSERT ON @extschema@.customer_contacts
	REFERENCING NEW TABLE AS new_rows
	FOR EACH STATEMENT EXECUTE FUNCTION @extschema@.log_consent_changes();
CREATE TRIGGER customer_contacts_consent_updated AFTER UPDATE ON @extschema@.customer_contacts
	REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
	FOR EACH STATEMENT EXECUTE FUNCTION @extschema@.log_consent_changes();

CREATE FUNCTION @extschema@.record_consent(customer_id bigint, channel text, granted boolean,
										   source text, recorded_at timestamptz DEFAULT now())
RETURNS bigint
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	event bigint;
BEGIN
	IF customer_id IS NULL OR granted IS NULL OR recorded_at IS NULL THEN
		RAISE EXCEPTION USING ERRCODE = 'null_value_not_allowed',
			MESSAGE = 'customer_id, granted and recorded_at must not be NULL',
			HINT = 'Record a refusal or a withdrawal with granted = false.';
	END IF;
	PERFORM @extschema@.require_channel(channel);
	IF source IS NULL OR btrim(source) = '' THEN
		RAISE EXCEPTION USING ERRCODE = 'invalid_parameter_value',
			MESSAGE = 'a consent needs its source',
			HINT = 'Say where the answer was given, e.g. ''web signup form'' or ''store 12 till''.';
	END IF;
	IF recorded_at > now() + interval '1 day' THEN
		RAISE EXCEPTION USING ERRCODE = 'invalid_parameter_value',
			MESSAGE = format('consent recorded_at %s lies in the future', recorded_at),
			HINT = 'Give the time the customer answered.';
	END IF;

	IF NOT EXISTS (SELECT 1 FROM @extschema@.customers AS c WHERE c.customer_id = record_consent.customer_id) THEN
		RAISE EXCEPTION USING ERRCODE = 'foreign_key_violation',
			MESSAGE = format('customer %s does not exist', customer_id),
			HINT = 'Insert the customer into crm.customers first.';
	END IF;

	-- The change is logged by the contact triggers with this source.
	PERFORM set_config('retail_crm.consent_source', source, true);
	INSERT INTO @extschema@.customer_contacts AS ct (customer_id, channel, consent, consent_updated_at)
	VALUES (customer_id, channel, granted, recorded_at)
	ON CONFLICT ON CONSTRAINT customer_contacts_pkey DO UPDATE
	SET consent = excluded.consent, consent_updated_at = excluded.consent_updated_at;
	PERFORM set_config('retail_crm.consent_source', '', true);

	-- The same answer again (a renewal) changes nothing: log it here.
	SELECT max(e.event_id) INTO event
	FROM @extschema@.consent_events AS e
	WHERE e.customer_id = record_consent.customer_id AND e.channel = record_consent.channel
	  AND e.recorded_at = record_consent.recorded_at AND e.source = record_consent.source
	  AND e.granted = record_consent.granted;
	IF event IS NULL THEN
		INSERT INTO @extschema@.consent_events (customer_id, channel, granted, recorded_at, source)
		VALUES (customer_id, channel, granted, recorded_at, source)
		RETURNING event_id INTO event;
	END IF;
	RETURN event;
END
$$;
COMMENT ON FUNCTION @extschema@.record_consent(bigint, text, boolean, text, timestamptz) IS
	'Records a customer''s consent answer on one channel with its source and time: sets crm.customer_contacts.consent (creating the contact row without a handle if there is none) and logs the answer in crm.consent_events (also when it repeats the current answer). Returns the event_id. Errors: 22023 unknown channel, empty source or future time; 23503 unknown customer; 22004 NULL arguments.';

-- Current consent per channel with the answer that set it; no personal data.
CREATE VIEW @extschema@.consent_status AS
SELECT c.customer_id, ch.name AS channel, coalesce(ct.consent, false) AS granted,
	   last_event.recorded_at, last_event.source
FROM @extschema@.customers AS c
CROSS JOIN @extschema@.channels AS ch
LEFT JOIN @extschema@.customer_contacts AS ct ON ct.customer_id = c.customer_id AND ct.channel = ch.name
LEFT JOIN LATERAL (
	SELECT e.recorded_at, e.source
	FROM @extschema@.consent_events AS e
	WHERE e.customer_id = c.customer_id AND e.channel = ch.name
	ORDER BY e.recorded_at DESC, e.event_id DESC
	LIMIT 1
) AS last_event ON true;
COMMENT ON VIEW @extschema@.consent_status IS
	'One row per customer and channel of crm.channels: whether they consent to marketing there now, and when and where that answer was given. No personal data.';
COMMENT ON COLUMN @extschema@.consent_status.customer_id IS 'Customer key.';
COMMENT ON COLUMN @extschema@.consent_status.channel IS 'Channel (crm.channels.name).';
COMMENT ON COLUMN @extschema@.consent_status.granted IS 'True when the customer consents to marketing on the channel now.';
COMMENT ON COLUMN @extschema@.consent_status.recorded_at IS 'When the latest answer on the channel was given; NULL when never asked.';
COMMENT ON COLUMN @extschema@.consent_status.source IS 'Where the latest answer came from; NULL when never asked.';

REVOKE EXECUTE ON FUNCTION @extschema@.record_consent(bigint, text, boolean, text, timestamptz) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION @extschema@.record_consent(bigint, text, boolean, text, timestamptz) TO crm_admin;
-- Reads the consent log, which only crm_admin may: for the triggers of the
-- writes to crm.customers, which only crm_admin makes.
REVOKE EXECUTE ON FUNCTION @extschema@.logged_consent(bigint, text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION @extschema@.logged_consent(bigint, text) TO crm_admin;
GRANT SELECT ON @extschema@.consent_status TO crm_analyst;
GRANT SELECT, INSERT ON @extschema@.consent_events TO crm_admin;
-- The checks of the configuration (crm.settings and crm.rfm_fixed_breaks,
-- 20_settings.sql; crm.segment_rules, 60_segment_rules.sql): the trigger
-- functions that refuse a bad row where it is typed, and
-- crm.check_segment_rules.  Functions only, so that the update from 1.0
-- runs this part again (their messages quote values through
-- crm.message_excerpt since 1.1).  The triggers and the tables are created
-- in the parts named.

CREATE OR REPLACE FUNCTION @extschema@.settings_check()
RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	IF NEW.rfm_method NOT IN ('quantile', 'equal_count', 'fixed') THEN
		PERFORM @extschema@.config_error(
			format('rfm_method must be quantile, equal_count or fixed, not %L', @extschema@.message_excerpt(NEW.rfm_method)),
			'quantile keeps equal values together; equal_count makes equal-sized groups; fixed reads crm.rfm_fixed_breaks.');
	END IF;
	IF NOT (0 < NEW.new_days AND NEW.new_days <= NEW.active_days
			AND NEW.active_days < NEW.at_risk_days AND NEW.at_risk_days < NEW.dormant_days) THEN
		PERFORM @extschema@.config_error(
			format('lifecycle thresholds must satisfy 0 < new_days <= active_days < at_risk_days < dormant_days, not %s, %s, %s, %s',
				   NEW.new_days, NEW.active_days, NEW.at_risk_days, NEW.dormant_days),
			'The defaults are 30, 90, 180 and 365 days.');
	END IF;
	IF NEW.history_runs_kept < 2 THEN
		PERFORM @extschema@.config_error(
			format('history_runs_kept must be at least 2, not %s', NEW.history_runs_kept),
			'crm.segment_migration compares the last two runs, so both must be kept.');
	END IF;
	IF NEW.model_refit NOT IN ('every_refresh', 'manual') THEN
		PERFORM @extschema@.config_error(
			format('model_refit must be every_refresh or manual, not %L', @extschema@.message_excerpt(NEW.model_refit)),
			'every_refresh fits the churn and spend models at each refresh; manual uses the latest models stored by crm.fit_models().');
	END IF;
	IF NEW.churn_horizon_days < 1 OR NEW.clv_months < 1 OR NEW.clv_months > 1200 THEN
		PERFORM @extschema@.config_error(
			format('churn_horizon_days must be at least 1 and clv_months between 1 and 1200, not %s and %s',
				   NEW.churn_horizon_days, NEW.clv_months),
			'The defaults are 90 days and 12 months.');
	END IF;
	IF NOT (NEW.monthly_discount > -1 AND NEW.monthly_discount < 1) THEN
		PERFORM @extschema@.config_error(
			format('monthly_discount must lie between -1 and 1 (exclusive), not %s', NEW.monthly_discount),
			'A monthly rate of 0.01 discounts one year by about 11 %.');
	END IF;
	IF NOT (NEW.churn_risk_threshold >= 0 AND NEW.churn_risk_threshold <= 1) THEN
		PERFORM @extschema@.config_error(
			format('churn_risk_threshold must lie between 0 and 1, not %s', NEW.churn_risk_threshold),
			'The default 0.5 lists customers more likely gone than active.');
	END IF;
	IF (NEW.source_schema IS NULL) <> (NEW.source_table IS NULL) THEN
		PERFORM @extschema@.config_error('source_schema and source_table must both be set or both be NULL',
			'Use crm.set_transaction_source() and crm.reset_transaction_source().');
	END IF;
	RETURN NEW;
END
$$;
COMMENT ON FUNCTION @extschema@.settings_check() IS 'Trigger: validates crm.settings.';

CREATE OR REPLACE FUNCTION @extschema@.rfm_fixed_breaks_check()
RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	breaks double precision[] := ARRAY[NEW.break_1, NEW.break_2, NEW.break_3, NEW.break_4];
BEGIN
	IF NEW.metric NOT IN ('recency', 'frequency', 'monetary') THEN
		PERFORM @extschema@.config_error(
			format('metric must be recency, frequency or monetary, not %L', @extschema@.message_excerpt(NEW.metric)),
			'crm.rfm_fixed_breaks holds one row per metric.');
	END IF;
	IF 'NaN' = ANY (breaks) OR 'Infinity' = ANY (breaks) OR '-Infinity' = ANY (breaks)
	   OR NOT (NEW.break_1 <= NEW.break_2 AND NEW.break_2 <= NEW.break_3 AND NEW.break_3 <= NEW.break_4) THEN
		PERFORM @extschema@.config_error(
			format('%s breaks must be finite and non-decreasing, not %s', @extschema@.message_excerpt(NEW.metric), breaks),
			'Give four thresholds in increasing order, e.g. 30, 60, 120, 240 days for recency.');
	END IF;
	IF NEW.metric IN ('recency', 'frequency') AND NEW.break_1 < 0 THEN
		PERFORM @extschema@.config_error(
			format('%s breaks must not be negative, not %s', @extschema@.message_excerpt(NEW.metric), breaks),
			'Recency is counted in days and frequency in orders, both zero or more.');
	END IF;
	RETURN NEW;
END
$$;
COMMENT ON FUNCTION @extschema@.rfm_fixed_breaks_check() IS 'Trigger: validates crm.rfm_fixed_breaks.';

CREATE OR REPLACE FUNCTION @extschema@.segment_rules_check()
RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	IF NOT (1 <= NEW.r_min AND NEW.r_min <= NEW.r_max AND NEW.r_max <= 5
			AND 1 <= NEW.f_min AND NEW.f_min <= NEW.f_max AND NEW.f_max <= 5
			AND 1 <= NEW.m_min AND NEW.m_min <= NEW.m_max AND NEW.m_max <= 5
			AND 1 <= NEW.fm_min AND NEW.fm_min <= NEW.fm_max AND NEW.fm_max <= 5) THEN
		PERFORM @extschema@.config_error(
			format('segment rule %s of rule set %L has an invalid score range: r %s-%s, f %s-%s, m %s-%s, fm %s-%s',
				   NEW.precedence, @extschema@.message_excerpt(NEW.rule_set), NEW.r_min, NEW.r_max, NEW.f_min, NEW.f_max,
				   NEW.m_min, NEW.m_max, NEW.fm_min, NEW.fm_max),
			'Every range must lie within 1 to 5 with its minimum not above its maximum.');
	END IF;
	IF btrim(NEW.segment) = '' THEN
		PERFORM @extschema@.config_error(
			format('segment rule %s of rule set %L has an empty segment name', NEW.precedence, @extschema@.message_excerpt(NEW.rule_set)),
			'Give every rule the segment name customers matching it should get.');
	END IF;
	RETURN NEW;
END
$$;
COMMENT ON FUNCTION @extschema@.segment_rules_check() IS 'Trigger: validates crm.segment_rules.';

CREATE OR REPLACE FUNCTION @extschema@.check_segment_rules(rule_set text)
RETURNS TABLE (problem text, precedence integer, segment text, rfm_code smallint, detail text)
LANGUAGE plpgsql STABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	IF rule_set IS NULL THEN
		RAISE EXCEPTION USING ERRCODE = 'null_value_not_allowed',
			MESSAGE = 'rule_set must not be NULL',
			HINT = 'Name a rule set of crm.segment_rules, e.g. ''default''.';
	END IF;
	IF NOT EXISTS (SELECT 1 FROM @extschema@.segment_rules AS sr WHERE sr.rule_set = check_segment_rules.rule_set) THEN
		RAISE EXCEPTION USING ERRCODE = 'invalid_parameter_value',
			MESSAGE = format('segment rule set %L has no rules', @extschema@.message_excerpt(rule_set)),
			HINT = format('Rule sets in crm.segment_rules: %s.',
						  (SELECT coalesce(string_agg(DISTINCT quote_literal(sr.rule_set), ', '), 'none')
						   FROM @extschema@.segment_rules AS sr));
	END IF;
	RETURN QUERY
		SELECT 'uncovered cell'::text, NULL::integer, NULL::text, c.rfm_code,
			   format('no rule matches R=%s F=%s M=%s (FM=%s); customers there get the segment Unclassified',
					  c.r_score, c.f_score, c.m_score, c.fm_score)
		FROM @extschema@.segment_cells(check_segment_rules.rule_set) AS c
		WHERE c.precedence IS NULL
		UNION ALL
		SELECT 'unreachable rule', sr.precedence, sr.segment, NULL::smallint,
			   'every score cell this rule covers is taken by a rule with lower precedence, or it covers none'
		FROM @extschema@.segment_rules AS sr
		WHERE sr.rule_set = check_segment_rules.rule_set
		  AND sr.precedence NOT IN (SELECT c.precedence FROM @extschema@.segment_cells(check_segment_rules.rule_set) AS c
									WHERE c.precedence IS NOT NULL)
		ORDER BY 1, 2, 4;
END
$$;
COMMENT ON FUNCTION @extschema@.check_segment_rules(text) IS
	'Reports the score cells a rule set leaves uncovered and the rules of it that can never match. Stable because it reads crm.segment_rules.';
-- Configuration tables: one settings row, fixed RFM thresholds. Both are
-- validated by triggers so a bad value is refused where it is typed, with a hint.

CREATE TABLE @extschema@.settings (
	singleton			boolean PRIMARY KEY DEFAULT true CONSTRAINT settings_single_row CHECK (singleton),
	rfm_method			text NOT NULL DEFAULT 'quantile',
	segment_rule_set	text NOT NULL DEFAULT 'default',
	new_days			integer NOT NULL DEFAULT 30,
	active_days			integer NOT NULL DEFAULT 90,
	at_risk_days		integer NOT NULL DEFAULT 180,
	dormant_days		integer NOT NULL DEFAULT 365,
	history_runs_kept	integer NOT NULL DEFAULT 30,
	model_refit			text NOT NULL DEFAULT 'every_refresh',
	churn_horizon_days	integer NOT NULL DEFAULT 90,
	clv_months			integer NOT NULL DEFAULT 12,
	monthly_discount	double precision NOT NULL DEFAULT 0.01,
	churn_risk_threshold double precision NOT NULL DEFAULT 0.5,
	source_schema		name,
	source_table		name
);
COMMENT ON TABLE @extschema@.settings IS
	'The one row of retail_crm settings. Change values with UPDATE; the next refresh uses them.';
COMMENT ON COLUMN @extschema@.settings.singleton IS 'Always true: keeps the table to one row.';
COMMENT ON COLUMN @extschema@.settings.rfm_method IS
	'How R, F and M values become scores 1-5: quantile (default; value quantiles, equal values always share a score), equal_count (NTILE-like equal groups, ties broken by customer_id: the lower id gets the better score) or fixed (thresholds in crm.rfm_fixed_breaks).';
COMMENT ON COLUMN @extschema@.settings.segment_rule_set IS
	'Rule set of crm.segment_rules in use; change it with crm.activate_segment_rules().';
COMMENT ON COLUMN @extschema@.settings.new_days IS 'Lifecycle: a first purchase at most this many days before as_of makes a customer new.';
COMMENT ON COLUMN @extschema@.settings.active_days IS 'Lifecycle: a last purchase more than this many days before as_of makes a customer at-risk.';
COMMENT ON COLUMN @extschema@.settings.at_risk_days IS 'Lifecycle: more than this many days since the last purchase makes a customer dormant; a purchase after a gap this long makes them reactivated.';
COMMENT ON COLUMN @extschema@.settings.dormant_days IS 'Lifecycle: more than this many days since the last purchase makes a customer lost.';
COMMENT ON COLUMN @extschema@.settings.history_runs_kept IS 'How many refresh runs keep their per-customer rows in crm.segment_history.';
COMMENT ON COLUMN @extschema@.settings.model_refit IS
	'every_refresh (default): each refresh fits a new purchase model (the one churn_model chooses) and Gamma-Gamma model; manual: the refresh scores with the latest models stored by crm.fit_models().';
COMMENT ON COLUMN @extschema@.settings.churn_horizon_days IS 'Horizon in days of crm.customer_segments.churn_risk (no purchase within it) and expected_purchases.';
COMMENT ON COLUMN @extschema@.settings.clv_months IS 'Horizon in months of crm.customer_segments.clv.';
COMMENT ON COLUMN @extschema@.settings.monthly_discount IS 'Monthly discount rate of the CLV, e.g. 0.01 for 1 % a month.';
COMMENT ON COLUMN @extschema@.settings.churn_risk_threshold IS 'Churn risk (probability of no purchase in churn_horizon_days) from which a valuable customer enters crm.churn_watch_list and the churn:high audience.';
COMMENT ON COLUMN @extschema@.settings.source_schema IS 'Schema of the sales table or view the refresh reads; NULL means crm.transactions. Set with crm.set_transaction_source().';
COMMENT ON COLUMN @extschema@.settings.source_table IS 'Name of the sales table or view the refresh reads; NULL means crm.transactions.';

-- Raises the uniform configuration error: invalid value, with what is allowed.
CREATE FUNCTION @extschema@.config_error(message text, hint text)
RETURNS void
LANGUAGE plpgsql STABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	RAISE EXCEPTION USING ERRCODE = 'invalid_parameter_value', MESSAGE = message, HINT = hint;
END
$$;
COMMENT ON FUNCTION @extschema@.config_error(text, text) IS
	'Internal: raises SQLSTATE 22023 with the given message and hint.';

-- The trigger functions of this part are in 18_config_checks.sql.
CREATE TRIGGER settings_check BEFORE INSERT OR UPDATE ON @extschema@.settings
	FOR EACH ROW EXECUTE FUNCTION @extschema@.settings_check();

INSERT INTO @extschema@.settings DEFAULT VALUES;

-- Fixed business thresholds for rfm_method = 'fixed'.  Each row holds the
-- four break points b1..b4 of one metric: a value v falls in band
-- 1 + (number of breaks below v); F and M scores are the band, R is 6 - band.
CREATE TABLE @extschema@.rfm_fixed_breaks (
	metric		text PRIMARY KEY,
	break_1		double precision NOT NULL,
	break_2		double precision NOT NULL,
	break_3		double precision NOT NULL,
	break_4		double precision NOT NULL
);
COMMENT ON TABLE @extschema@.rfm_fixed_breaks IS
	'Thresholds used when crm.settings.rfm_method = ''fixed''. A value equal to a break belongs to the lower band. Recency: at most break_1 days scores R=5, more than break_4 days scores R=1. Frequency and monetary: at most break_1 scores 1, more than break_4 scores 5.';
COMMENT ON COLUMN @extschema@.rfm_fixed_breaks.metric IS 'recency, frequency or monetary.';
COMMENT ON COLUMN @extschema@.rfm_fixed_breaks.break_1 IS 'Upper bound (inclusive) of band 1.';
COMMENT ON COLUMN @extschema@.rfm_fixed_breaks.break_2 IS 'Upper bound (inclusive) of band 2.';
COMMENT ON COLUMN @extschema@.rfm_fixed_breaks.break_3 IS 'Upper bound (inclusive) of band 3.';
COMMENT ON COLUMN @extschema@.rfm_fixed_breaks.break_4 IS 'Upper bound (inclusive) of band 4; larger values are band 5.';

CREATE TRIGGER rfm_fixed_breaks_check BEFORE INSERT OR UPDATE ON @extschema@.rfm_fixed_breaks
	FOR EACH ROW EXECUTE FUNCTION @extschema@.rfm_fixed_breaks_check();

INSERT INTO @extschema@.rfm_fixed_breaks VALUES
	('recency', 30, 60, 120, 240),
	('frequency', 1, 2, 4, 9),
	('monetary', 250, 500, 1000, 2500);
-- customer_facts: one pass over a customer's transactions to their RFM and BTYD facts

CREATE TYPE @extschema@.customer_facts AS (
	first_purchase_at timestamptz,
	last_purchase_at timestamptz,
	orders bigint,
	returns bigint,
	net_spend numeric,
	recency_days integer,
	tenure_days integer,
	purchase_days integer,
	btyd_frequency integer,
	btyd_recency integer,
	btyd_t integer,
	avg_repeat_spend numeric,
	last_gap_days integer,
	median_gap_days double precision,
	future_rows bigint
);

COMMENT ON TYPE @extschema@.customer_facts IS
'RFM and BTYD facts of one customer at an analysis date as_of, returned by the customer_facts aggregate. Times are in days: the day index of a timestamp ts is floor((as_of - ts) / 24 hours), whole 24-hour blocks back from as_of, independent of the session TimeZone. A purchase is a row with amount > 0 and occurred_at <= as_of; a purchase day is a distinct day index with at least one purchase.';
COMMENT ON COLUMN @extschema@.customer_facts.first_purchase_at IS
'Earliest purchase (amount > 0, occurred_at <= as_of); NULL if there is none.';
COMMENT ON COLUMN @extschema@.customer_facts.last_purchase_at IS
'Latest purchase (amount > 0, occurred_at <= as_of); NULL if there is none.';
COMMENT ON COLUMN @extschema@.customer_facts.orders IS
'Number of rows with amount > 0 (RFM frequency).';
COMMENT ON COLUMN @extschema@.customer_facts.returns IS
'Number of rows with amount < 0.';
COMMENT ON COLUMN @extschema@.customer_facts.net_spend IS
'Sum of all amounts, purchases minus returns (RFM monetary), exact, with 4 decimals; each amount is first rounded half away from zero to 4 decimals.';
COMMENT ON COLUMN @extschema@.customer_facts.recency_days IS
'Day index of the last purchase: 0 = within 24 hours before as_of; NULL if there is no purchase.';
COMMENT ON COLUMN @extschema@.customer_facts.tenure_days IS
'Day index of the first purchase; NULL if there is no purchase.';
COMMENT ON COLUMN @extschema@.customer_facts.purchase_days IS
'Number of distinct purchase days (day indexes with at least one purchase); 0 if there is no purchase.';
COMMENT ON COLUMN @extschema@.customer_facts.btyd_frequency IS
'BTYD x, in days: repeat purchase days, purchase_days - 1; NULL if there is no purchase.';
COMMENT ON COLUMN @extschema@.customer_facts.btyd_recency IS
'BTYD t_x, in days: from the first to the last purchase day; NULL if there is no purchase. Not RFM recency.';
COMMENT ON COLUMN @extschema@.customer_facts.btyd_t IS
'BTYD T, in days: from the first purchase day to as_of, equal to tenure_days; NULL if there is no purchase.';
COMMENT ON COLUMN @extschema@.customer_facts.avg_repeat_spend IS
'Gamma-Gamma mean repeat spend: purchase amounts on every purchase day but the first, divided by btyd_frequency, rounded half away from zero to 4 decimals; returns are not subtracted; NULL when btyd_frequency is 0 or NULL.';
COMMENT ON COLUMN @extschema@.customer_facts.last_gap_days IS
'Days between the two latest purchase days; NULL when btyd_frequency is 0 or NULL.';
COMMENT ON COLUMN @extschema@.customer_facts.median_gap_days IS
'Median of the gaps in days between consecutive purchase days (mean of the two middle gaps when their number is even); NULL when btyd_frequency is 0 or NULL.';
COMMENT ON COLUMN @extschema@.customer_facts.future_rows IS
'Rows with occurred_at > as_of; they are counted here and ignored by every other column.';

CREATE FUNCTION @extschema@.customer_facts_accum(bytea, timestamptz, numeric, timestamptz)
RETURNS bytea
AS 'MODULE_PATHNAME', 'customer_facts_accum'
LANGUAGE C IMMUTABLE PARALLEL SAFE;

COMMENT ON FUNCTION @extschema@.customer_facts_accum(bytea, timestamptz, numeric, timestamptz) IS
'Transition function of customer_facts: adds one transaction (occurred_at, amount, as_of) to a state. Not strict: a NULL argument raises an error instead of being skipped.';

CREATE FUNCTION @extschema@.customer_facts_combine(bytea, bytea)
RETURNS bytea
AS 'MODULE_PATHNAME', 'customer_facts_combine'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

COMMENT ON FUNCTION @extschema@.customer_facts_combine(bytea, bytea) IS
'Combine function of customer_facts: merges two partial states computed with the same as_of.';

CREATE FUNCTION @extschema@.customer_facts_final(bytea)
RETURNS @extschema@.customer_facts
AS 'MODULE_PATHNAME', 'customer_facts_final'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

COMMENT ON FUNCTION @extschema@.customer_facts_final(bytea) IS
'Final function of customer_facts: turns a state into a customer_facts row without modifying the state.';

CREATE AGGREGATE @extschema@.customer_facts(occurred_at timestamptz, amount numeric, as_of timestamptz) (
	SFUNC = @extschema@.customer_facts_accum,
	STYPE = bytea,
	COMBINEFUNC = @extschema@.customer_facts_combine,
	FINALFUNC = @extschema@.customer_facts_final,
	PARALLEL = SAFE
);

COMMENT ON AGGREGATE @extschema@.customer_facts(timestamptz, numeric, timestamptz) IS
'RFM and BTYD facts of one customer''s transactions at the analysis date as_of, in one pass; NULL for no rows. as_of must be the same on every row. Amounts are summed exactly after rounding each half away from zero to 4 decimals; NULL, NaN and infinite inputs raise errors. The state is a bytea, so the aggregate runs in parallel and Citus can push it down.';
-- RFM scoring: map recency, frequency and monetary value to scores 1..5 against given break points

CREATE TYPE @extschema@.rfm_scores AS (
	r_score smallint,
	f_score smallint,
	m_score smallint,
	fm_score smallint,
	rfm_code smallint
);

COMMENT ON TYPE @extschema@.rfm_scores IS
'RFM scores of one customer, each 1..5 with 5 = best, as returned by rfm_score.';
COMMENT ON COLUMN @extschema@.rfm_scores.r_score IS
'Recency score 1..5: 6 - rfm_band(recency_days, r_breaks), so fewer days since the last purchase scores higher.';
COMMENT ON COLUMN @extschema@.rfm_scores.f_score IS
'Frequency score 1..5: rfm_band(frequency, f_breaks).';
COMMENT ON COLUMN @extschema@.rfm_scores.m_score IS
'Monetary score 1..5: rfm_band(monetary, m_breaks).';
COMMENT ON COLUMN @extschema@.rfm_scores.fm_score IS
'FM score 1..5: (f_score + m_score + 1) / 2 in integer arithmetic, the mean of F and M rounded half up; the FM axis of the 11-segment scheme.';
COMMENT ON COLUMN @extschema@.rfm_scores.rfm_code IS
'Composite code r_score * 100 + f_score * 10 + m_score, 111..555.';

CREATE FUNCTION @extschema@.rfm_band(value double precision, breaks double precision[])
RETURNS smallint
AS 'MODULE_PATHNAME', 'rfm_band'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

COMMENT ON FUNCTION @extschema@.rfm_band(double precision, double precision[]) IS
'Band 1..5 of value: 1 + the number of break points that value strictly exceeds. breaks must be a one-dimensional array of exactly 4 finite, non-decreasing values without NULLs; a value equal to a break stays in the lower band, equal values always share a band, and equal breaks leave the bands between them empty. value must be finite. NULL in, NULL out.';

CREATE FUNCTION @extschema@.rfm_score(
	recency_days double precision,
	frequency double precision,
	monetary double precision,
	r_breaks double precision[],
	f_breaks double precision[],
	m_breaks double precision[])
RETURNS @extschema@.rfm_scores
AS 'MODULE_PATHNAME', 'rfm_score'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

COMMENT ON FUNCTION @extschema@.rfm_score(double precision, double precision, double precision, double precision[], double precision[], double precision[]) IS
'RFM scores of one customer (5 = best): F = rfm_band(frequency, f_breaks), M = rfm_band(monetary, m_breaks), R = 6 - rfm_band(recency_days, r_breaks), FM = (F + M + 1) / 2 (mean rounded half up), rfm_code = R*100 + F*10 + M. Each break array holds exactly 4 finite, non-decreasing values; ties at a break never split. recency_days (days from the last purchase to the analysis date) and frequency (number of orders) must be finite and >= 0; monetary (net spend) must be finite and may be negative after returns. NULL in, NULL out.';
-- Lifecycle stage: prospect, new, active, at-risk, dormant, lost or reactivated from day thresholds

CREATE FUNCTION @extschema@.lifecycle_stage(
	orders bigint,
	recency_days double precision,
	tenure_days double precision,
	last_gap_days double precision,
	new_days double precision,
	active_days double precision,
	at_risk_days double precision,
	dormant_days double precision)
RETURNS text
AS 'MODULE_PATHNAME', 'lifecycle_stage'
LANGUAGE C IMMUTABLE PARALLEL SAFE;

COMMENT ON FUNCTION @extschema@.lifecycle_stage(bigint, double precision, double precision, double precision, double precision, double precision, double precision, double precision) IS
'Lifecycle stage of one customer, first matching rule wins: orders = 0 -> prospect; recency_days > dormant_days -> lost; recency_days > at_risk_days -> dormant; recency_days > active_days -> at-risk; tenure_days <= new_days -> new; last_gap_days > at_risk_days -> reactivated; otherwise active. recency_days = days from the last purchase to the analysis date, tenure_days = days from the first purchase, last_gap_days = days between the last two purchase days (NULL for a single purchase day: never reactivated). Not strict: NULL orders gives NULL; for orders > 0 recency_days and tenure_days are required (error 22004), finite, >= 0, and tenure_days >= recency_days; for prospects they are ignored. Thresholds are required, finite, > 0 and must satisfy new_days <= active_days < at_risk_days < dormant_days (checked for every non-NULL orders).';
-- BTYD models: BG/NBD purchase/dropout and Gamma-Gamma spend fitted by
-- maximum likelihood in C; P(alive), churn risk, expected purchases and
-- spend, and CLV.  Time is in one unit chosen by the caller (weeks or days),
-- the same for frequency/recency/t, the fit and every scoring call.

CREATE TYPE @extschema@.bgnbd_model AS (
	r double precision,
	alpha double precision,
	a double precision,
	b double precision,
	log_likelihood double precision,
	customers bigint,
	converged boolean,
	iterations integer,
	r_se double precision,
	alpha_se double precision,
	a_se double precision,
	b_se double precision,
	dropout_log_likelihood_gain double precision
);

COMMENT ON TYPE @extschema@.bgnbd_model IS
'A BG/NBD model (Fader, Hardie & Lee 2005): purchase rates Gamma(r, alpha), dropout probabilities Beta(a, b). Built by the bgnbd_fit aggregate or by bgnbd_model(r, alpha, a, b). alpha is in the time unit of the data it was fitted on.';
COMMENT ON COLUMN @extschema@.bgnbd_model.r IS
'Shape of the Gamma distribution of purchase rates; > 0. NULL when the fit could not identify the model.';
COMMENT ON COLUMN @extschema@.bgnbd_model.alpha IS
'Scale of the Gamma distribution of purchase rates, in the time unit of t; > 0. NULL when the fit could not identify the model.';
COMMENT ON COLUMN @extschema@.bgnbd_model.a IS
'First shape of the Beta distribution of the dropout probability after each purchase; > 0. NULL when the fit could not identify the model.';
COMMENT ON COLUMN @extschema@.bgnbd_model.b IS
'Second shape of the Beta distribution of the dropout probability after each purchase; > 0. NULL when the fit could not identify the model.';
COMMENT ON COLUMN @extschema@.bgnbd_model.log_likelihood IS
'Log-likelihood of the fitted customers at the parameters (natural log, summed over customers); NULL for a model built from parameters.';
COMMENT ON COLUMN @extschema@.bgnbd_model.customers IS
'Customers (input rows) the model was fitted on; NULL for a model built from parameters.';
COMMENT ON COLUMN @extschema@.bgnbd_model.converged IS
'Whether the optimizer met a convergence rule (gradient norm or relative change below tolerance) rather than a limit; false also when no customer has a repeat purchase (parameters NULL). NULL for a model built from parameters.';
COMMENT ON COLUMN @extschema@.bgnbd_model.iterations IS
'BFGS iterations of the run that produced the parameters; NULL for a model built from parameters.';
COMMENT ON COLUMN @extschema@.bgnbd_model.r_se IS
'Standard error of r from the observed information (the inverse Hessian of the log-likelihood at the fit); NULL for a model built from parameters, or where the Hessian is not positive definite (a parameter the data cannot identify).';
COMMENT ON COLUMN @extschema@.bgnbd_model.alpha_se IS
'Standard error of alpha from the observed information (the inverse Hessian of the log-likelihood at the fit); NULL for a model built from parameters, or where the Hessian is not positive definite (a parameter the data cannot identify).';
COMMENT ON COLUMN @extschema@.bgnbd_model.a_se IS
'Standard error of a from the observed information (the inverse Hessian of the log-likelihood at the fit); NULL for a model built from parameters, or where the Hessian is not positive definite (a parameter the data cannot identify).';
COMMENT ON COLUMN @extschema@.bgnbd_model.b_se IS
'Standard error of b from the observed information (the inverse Hessian of the log-likelihood at the fit); NULL for a model built from parameters, or where the Hessian is not positive definite (a parameter the data cannot identify).';
COMMENT ON COLUMN @extschema@.bgnbd_model.dropout_log_likelihood_gain IS
'Log-likelihood of the fit minus that of the NBD model (the same purchase process without any dropout) fitted on the same customers: how much the data say about dropout. Below 3 (twice it below the 5 % point of chi-square with 2 degrees of freedom) dropout is not identified and P(alive) reflects the model''s assumption rather than the data. NULL for a model built from parameters.';

CREATE TYPE @extschema@.gamma_gamma_model AS (
	p double precision,
	q double precision,
	v double precision,
	log_likelihood double precision,
	customers bigint,
	converged boolean,
	spend_frequency_corr double precision,
	p_se double precision,
	q_se double precision,
	v_se double precision
);

COMMENT ON TYPE @extschema@.gamma_gamma_model IS
'A Gamma-Gamma spend model (Fader, Hardie & Lee 2005): transaction values Gamma(p, nu), nu Gamma(q, v), in the currency of the data. Built by the gamma_gamma_fit aggregate or by gamma_gamma_model(p, q, v).';
COMMENT ON COLUMN @extschema@.gamma_gamma_model.p IS
'Shape of the Gamma distribution of transaction values; > 0.';
COMMENT ON COLUMN @extschema@.gamma_gamma_model.q IS
'Shape of the Gamma distribution of the customers'' scale nu; > 0 (the population mean spend p v / (q - 1) needs q > 1).';
COMMENT ON COLUMN @extschema@.gamma_gamma_model.v IS
'Scale of the Gamma distribution of the customers'' nu, in the currency of the data; > 0.';
COMMENT ON COLUMN @extschema@.gamma_gamma_model.log_likelihood IS
'Log-likelihood of the fitted repeat customers at the parameters; NULL for a model built from parameters.';
COMMENT ON COLUMN @extschema@.gamma_gamma_model.customers IS
'Repeat customers (frequency > 0) the model was fitted on; rows with frequency = 0 are skipped and not counted. NULL for a model built from parameters.';
COMMENT ON COLUMN @extschema@.gamma_gamma_model.converged IS
'Whether the optimizer met a convergence rule rather than a limit; NULL for a model built from parameters.';
COMMENT ON COLUMN @extschema@.gamma_gamma_model.spend_frequency_corr IS
'Pearson correlation of frequency and monetary_avg over the fitted customers; the model assumes they are independent, so a value far from 0 warns against using it. NULL when either does not vary, and for a model built from parameters.';
COMMENT ON COLUMN @extschema@.gamma_gamma_model.p_se IS
'Standard error of p from the observed information (the inverse Hessian of the log-likelihood at the fit); NULL for a model built from parameters, or where the Hessian is not positive definite (a parameter the data cannot identify).';
COMMENT ON COLUMN @extschema@.gamma_gamma_model.q_se IS
'Standard error of q from the observed information (the inverse Hessian of the log-likelihood at the fit); NULL for a model built from parameters, or where the Hessian is not positive definite (a parameter the data cannot identify).';
COMMENT ON COLUMN @extschema@.gamma_gamma_model.v_se IS
'Standard error of v from the observed information (the inverse Hessian of the log-likelihood at the fit); NULL for a model built from parameters, or where the Hessian is not positive definite (a parameter the data cannot identify).';

CREATE FUNCTION @extschema@.bgnbd_model(r double precision, alpha double precision,
										a double precision, b double precision)
RETURNS @extschema@.bgnbd_model
AS 'MODULE_PATHNAME', 'bgnbd_model'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

COMMENT ON FUNCTION @extschema@.bgnbd_model(double precision, double precision, double precision, double precision) IS
'A BG/NBD model from known parameters (for example published ones); each must be finite and > 0 (error 22023). The fit diagnostics are NULL.';

CREATE FUNCTION @extschema@.gamma_gamma_model(p double precision, q double precision,
											  v double precision)
RETURNS @extschema@.gamma_gamma_model
AS 'MODULE_PATHNAME', 'gamma_gamma_model'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

COMMENT ON FUNCTION @extschema@.gamma_gamma_model(double precision, double precision, double precision) IS
'A Gamma-Gamma model from known parameters; each must be finite and > 0 (error 22023). The fit diagnostics are NULL.';

-- bgnbd_fit

CREATE FUNCTION @extschema@.bgnbd_fit_accum(bytea, double precision, double precision, double precision)
RETURNS bytea
AS 'MODULE_PATHNAME', 'bgnbd_fit_accum'
LANGUAGE C IMMUTABLE PARALLEL SAFE;

COMMENT ON FUNCTION @extschema@.bgnbd_fit_accum(bytea, double precision, double precision, double precision) IS
'Transition function of bgnbd_fit: adds one customer (frequency, recency, t) to a state of distinct rows with counts. Not strict: a NULL argument raises 22004 instead of being skipped.';

CREATE FUNCTION @extschema@.bgnbd_fit_combine(bytea, bytea)
RETURNS bytea
AS 'MODULE_PATHNAME', 'bgnbd_fit_combine'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

COMMENT ON FUNCTION @extschema@.bgnbd_fit_combine(bytea, bytea) IS
'Combine function of bgnbd_fit: merges two partial states; a malformed state raises 22P03.';

CREATE FUNCTION @extschema@.bgnbd_fit_final(bytea)
RETURNS @extschema@.bgnbd_model
AS 'MODULE_PATHNAME', 'bgnbd_fit_final'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

COMMENT ON FUNCTION @extschema@.bgnbd_fit_final(bytea) IS
'Final function of bgnbd_fit: the maximum likelihood BG/NBD model of a state, which it does not modify.';

CREATE AGGREGATE @extschema@.bgnbd_fit(frequency double precision, recency double precision, t double precision) (
	SFUNC = @extschema@.bgnbd_fit_accum,
	STYPE = bytea,
	COMBINEFUNC = @extschema@.bgnbd_fit_combine,
	FINALFUNC = @extschema@.bgnbd_fit_final,
	PARALLEL = SAFE
);

COMMENT ON AGGREGATE @extschema@.bgnbd_fit(double precision, double precision, double precision) IS
'Maximum likelihood BG/NBD model of customers given as (frequency x = repeat purchases, a whole number >= 0; recency t_x = time from first to last purchase; t = T, time from first purchase to the analysis date), all times in one unit chosen by the caller (weeks or days), 0 <= recency <= t. Identical rows are grouped, so the fit costs per distinct row. BFGS with analytic gradients on log-parameters, restarted from other starts if it does not converge; see converged and iterations. NULL for no rows; NULL, NaN, infinite, negative or fractional frequency, and recency > t raise errors (22004, 22023). With no repeat purchase at all the model is not identified: parameters NULL, converged false.';

-- gamma_gamma_fit

CREATE FUNCTION @extschema@.gamma_gamma_fit_accum(bytea, double precision, double precision)
RETURNS bytea
AS 'MODULE_PATHNAME', 'gamma_gamma_fit_accum'
LANGUAGE C IMMUTABLE PARALLEL SAFE;

COMMENT ON FUNCTION @extschema@.gamma_gamma_fit_accum(bytea, double precision, double precision) IS
'Transition function of gamma_gamma_fit: adds one repeat customer (frequency, monetary_avg) to a state of distinct rows with counts, or skips a customer with frequency 0. Not strict: a NULL frequency, or a NULL monetary_avg with frequency > 0, raises 22004.';

CREATE FUNCTION @extschema@.gamma_gamma_fit_combine(bytea, bytea)
RETURNS bytea
AS 'MODULE_PATHNAME', 'gamma_gamma_fit_combine'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

COMMENT ON FUNCTION @extschema@.gamma_gamma_fit_combine(bytea, bytea) IS
'Combine function of gamma_gamma_fit: merges two partial states; a malformed state raises 22P03.';

CREATE FUNCTION @extschema@.gamma_gamma_fit_final(bytea)
RETURNS @extschema@.gamma_gamma_model
AS 'MODULE_PATHNAME', 'gamma_gamma_fit_final'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

COMMENT ON FUNCTION @extschema@.gamma_gamma_fit_final(bytea) IS
'Final function of gamma_gamma_fit: the maximum likelihood Gamma-Gamma model of a state, which it does not modify; NULL without repeat customers.';

CREATE AGGREGATE @extschema@.gamma_gamma_fit(frequency double precision, monetary_avg double precision) (
	SFUNC = @extschema@.gamma_gamma_fit_accum,
	STYPE = bytea,
	COMBINEFUNC = @extschema@.gamma_gamma_fit_combine,
	FINALFUNC = @extschema@.gamma_gamma_fit_final,
	PARALLEL = SAFE
);

COMMENT ON AGGREGATE @extschema@.gamma_gamma_fit(double precision, double precision) IS
'Maximum likelihood Gamma-Gamma spend model over the repeat customers: rows with frequency > 0 (a whole number) and monetary_avg > 0, the mean value of the repeat purchases. Rows with frequency = 0 are skipped (monetary_avg may be NULL there) and not counted in customers. Identical rows are grouped. NULL for no rows or no repeat customer; spend_frequency_corr reports the Pearson correlation the model assumes to be 0.';

-- per-customer log-likelihoods and their analytic gradients

CREATE FUNCTION @extschema@.bgnbd_loglik(frequency double precision, recency double precision,
										 t double precision, model @extschema@.bgnbd_model)
RETURNS double precision
AS 'MODULE_PATHNAME', 'bgnbd_loglik'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

COMMENT ON FUNCTION @extschema@.bgnbd_loglik(double precision, double precision, double precision, @extschema@.bgnbd_model) IS
'BG/NBD log-likelihood of one customer (frequency, recency, t) under a model; its sum over customers is what bgnbd_fit maximises.';

CREATE FUNCTION @extschema@.bgnbd_loglik_gradient(frequency double precision, recency double precision,
												  t double precision, model @extschema@.bgnbd_model)
RETURNS double precision[]
AS 'MODULE_PATHNAME', 'bgnbd_loglik_gradient'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

COMMENT ON FUNCTION @extschema@.bgnbd_loglik_gradient(double precision, double precision, double precision, @extschema@.bgnbd_model) IS
'Analytic gradient of bgnbd_loglik with respect to {r, alpha, a, b}, the one bgnbd_fit uses; exposed for checks against finite differences.';

CREATE FUNCTION @extschema@.gamma_gamma_loglik(frequency double precision, monetary_avg double precision,
											   model @extschema@.gamma_gamma_model)
RETURNS double precision
AS 'MODULE_PATHNAME', 'gamma_gamma_loglik'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

COMMENT ON FUNCTION @extschema@.gamma_gamma_loglik(double precision, double precision, @extschema@.gamma_gamma_model) IS
'Gamma-Gamma log-likelihood of the mean spend of one repeat customer (frequency >= 1, monetary_avg > 0) under a model.';

CREATE FUNCTION @extschema@.gamma_gamma_loglik_gradient(frequency double precision, monetary_avg double precision,
														model @extschema@.gamma_gamma_model)
RETURNS double precision[]
AS 'MODULE_PATHNAME', 'gamma_gamma_loglik_gradient'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

COMMENT ON FUNCTION @extschema@.gamma_gamma_loglik_gradient(double precision, double precision, @extschema@.gamma_gamma_model) IS
'Analytic gradient of gamma_gamma_loglik with respect to {p, q, v}, the one gamma_gamma_fit uses; exposed for checks against finite differences.';

-- scoring

CREATE FUNCTION @extschema@.p_alive(frequency double precision, recency double precision,
									t double precision, model @extschema@.bgnbd_model)
RETURNS double precision
AS 'MODULE_PATHNAME', 'p_alive'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

COMMENT ON FUNCTION @extschema@.p_alive(double precision, double precision, double precision, @extschema@.bgnbd_model) IS
'BG/NBD probability that a customer (frequency, recency, t; times in the unit of the model) is still active, computed through the log-odds so that heavy buyers and long-lapsed customers stay finite. A customer without repeat purchases (frequency = 0) gets 1 by construction of the model: treat one-time buyers separately in churn views.';

CREATE FUNCTION @extschema@.churn_risk(frequency double precision, recency double precision,
									   t double precision, model @extschema@.bgnbd_model)
RETURNS double precision
AS 'MODULE_PATHNAME', 'churn_risk'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

COMMENT ON FUNCTION @extschema@.churn_risk(double precision, double precision, double precision, @extschema@.bgnbd_model) IS
'1 - p_alive, computed directly so that small risks keep their precision; 0 for frequency = 0 by construction of the model.';

CREATE FUNCTION @extschema@.expected_purchases(horizon double precision, frequency double precision,
											   recency double precision, t double precision,
											   model @extschema@.bgnbd_model)
RETURNS double precision
AS 'MODULE_PATHNAME', 'expected_purchases'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

COMMENT ON FUNCTION @extschema@.expected_purchases(double precision, double precision, double precision, double precision, @extschema@.bgnbd_model) IS
'BG/NBD conditional expected number of purchases in the next horizon time units (the unit of t) of a customer (frequency, recency, t); horizon >= 0. Up to horizons of about 9 times alpha + t the Gauss hypergeometric function is summed after Euler''s transformation, so heavy buyers stay finite; beyond, the posterior expectation over the dropout probability is integrated numerically, so any finite horizon gives a finite value.';

CREATE FUNCTION @extschema@.expected_purchases_method(horizon double precision, frequency double precision,
													  recency double precision, t double precision,
													  model @extschema@.bgnbd_model, method text)
RETURNS double precision
AS 'MODULE_PATHNAME', 'expected_purchases_method'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

COMMENT ON FUNCTION @extschema@.expected_purchases_method(double precision, double precision, double precision, double precision, @extschema@.bgnbd_model, text) IS
'expected_purchases by one method, ''series'' or ''quadrature'', whichever horizon; exposed for checks that the two agree where both apply. The series raises 22003 where it does not converge quickly.';

CREATE FUNCTION @extschema@.expected_spend(frequency double precision, monetary_avg double precision,
										   gg_model @extschema@.gamma_gamma_model)
RETURNS double precision
AS 'MODULE_PATHNAME', 'expected_spend'
LANGUAGE C IMMUTABLE PARALLEL SAFE;

COMMENT ON FUNCTION @extschema@.expected_spend(double precision, double precision, @extschema@.gamma_gamma_model) IS
'Gamma-Gamma conditional expected value of a future transaction, p (v + frequency * monetary_avg) / (p * frequency + q - 1); for frequency = 0 the population mean p v / (q - 1), with monetary_avg ignored. Not strict only so that monetary_avg may be NULL when frequency = 0; any other NULL gives NULL. Raises 22023 when the expectation is infinite (p * frequency + q <= 1).';

CREATE FUNCTION @extschema@.clv(frequency double precision, recency double precision,
								t double precision, monetary_avg double precision,
								bgnbd_model @extschema@.bgnbd_model,
								gg_model @extschema@.gamma_gamma_model,
								months double precision, monthly_discount double precision,
								periods_per_month double precision)
RETURNS double precision
AS 'MODULE_PATHNAME', 'clv'
LANGUAGE C IMMUTABLE PARALLEL SAFE;

COMMENT ON FUNCTION @extschema@.clv(double precision, double precision, double precision, double precision, @extschema@.bgnbd_model, @extschema@.gamma_gamma_model, double precision, double precision, double precision) IS
'Customer lifetime value over months future months: sum over k = 1..months of expected_spend * (expected_purchases(k m) - expected_purchases((k - 1) m)) / (1 + monthly_discount)^k, where m = periods_per_month is the number of time units of t in a month (4.345 for weeks, 30.4375 for days). months is a whole number from 0 to 1200 (more raises 54000), monthly_discount > -1, periods_per_month > 0. Not strict only so that monetary_avg may be NULL when frequency = 0; any other NULL gives NULL.';
-- MBG/NBD (Batislam, Denizel & Filiztekin 2007): BG/NBD where a customer may
-- also drop out right after the first purchase, so one-time buyers have a
-- real P(alive).  Same C code as BG/NBD (src/bgnbd.c).  Then, for both
-- models, the churn risk over a horizon and P(alive) at a future time.

CREATE TYPE @extschema@.mbgnbd_model AS (
	r double precision,
	alpha double precision,
	a double precision,
	b double precision,
	log_likelihood double precision,
	customers bigint,
	converged boolean,
	iterations integer,
	r_se double precision,
	alpha_se double precision,
	a_se double precision,
	b_se double precision,
	dropout_log_likelihood_gain double precision
);

COMMENT ON TYPE @extschema@.mbgnbd_model IS
'An MBG/NBD model (Batislam, Denizel & Filiztekin 2007): purchase rates Gamma(r, alpha), dropout probabilities Beta(a, b), a dropout possible after every purchase including the first. Built by the mbgnbd_fit aggregate or by mbgnbd_model(r, alpha, a, b). alpha is in the time unit of the data it was fitted on.';
COMMENT ON COLUMN @extschema@.mbgnbd_model.r IS
'Shape of the Gamma distribution of purchase rates; > 0. NULL when the fit could not identify the model.';
COMMENT ON COLUMN @extschema@.mbgnbd_model.alpha IS
'Scale of the Gamma distribution of purchase rates, in the time unit of t; > 0. NULL when the fit could not identify the model.';
COMMENT ON COLUMN @extschema@.mbgnbd_model.a IS
'First shape of the Beta distribution of the dropout probability after each purchase, the first included; > 0. NULL when the fit could not identify the model.';
COMMENT ON COLUMN @extschema@.mbgnbd_model.b IS
'Second shape of the Beta distribution of the dropout probability after each purchase, the first included; > 0. NULL when the fit could not identify the model.';
COMMENT ON COLUMN @extschema@.mbgnbd_model.log_likelihood IS
'Log-likelihood of the fitted customers at the parameters (natural log, summed over customers); NULL for a model built from parameters.';
COMMENT ON COLUMN @extschema@.mbgnbd_model.customers IS
'Customers (input rows) the model was fitted on; NULL for a model built from parameters.';
COMMENT ON COLUMN @extschema@.mbgnbd_model.converged IS
'Whether the optimizer met a convergence rule rather than a limit; false also when no customer has a repeat purchase (parameters NULL). NULL for a model built from parameters.';
COMMENT ON COLUMN @extschema@.mbgnbd_model.iterations IS
'BFGS iterations of the run that produced the parameters; NULL for a model built from parameters.';
COMMENT ON COLUMN @extschema@.mbgnbd_model.r_se IS
'Standard error of r from the observed information (the inverse Hessian of the log-likelihood at the fit); NULL for a model built from parameters, or where the Hessian is not positive definite (a parameter the data cannot identify).';
COMMENT ON COLUMN @extschema@.mbgnbd_model.alpha_se IS
'Standard error of alpha from the observed information (the inverse Hessian of the log-likelihood at the fit); NULL for a model built from parameters, or where the Hessian is not positive definite (a parameter the data cannot identify).';
COMMENT ON COLUMN @extschema@.mbgnbd_model.a_se IS
'Standard error of a from the observed information (the inverse Hessian of the log-likelihood at the fit); NULL for a model built from parameters, or where the Hessian is not positive definite (a parameter the data cannot identify).';
COMMENT ON COLUMN @extschema@.mbgnbd_model.b_se IS
'Standard error of b from the observed information (the inverse Hessian of the log-likelihood at the fit); NULL for a model built from parameters, or where the Hessian is not positive definite (a parameter the data cannot identify).';
COMMENT ON COLUMN @extschema@.mbgnbd_model.dropout_log_likelihood_gain IS
'Log-likelihood of the fit minus that of the NBD model (the same purchase process without any dropout) fitted on the same customers: how much the data say about dropout. Below 3 (twice it below the 5 % point of chi-square with 2 degrees of freedom) dropout is not identified and P(alive) reflects the model''s assumption rather than the data. NULL for a model built from parameters.';

CREATE FUNCTION @extschema@.mbgnbd_model(r double precision, alpha double precision,
										 a double precision, b double precision)
RETURNS @extschema@.mbgnbd_model
AS 'MODULE_PATHNAME', 'mbgnbd_model'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

COMMENT ON FUNCTION @extschema@.mbgnbd_model(double precision, double precision, double precision, double precision) IS
'An MBG/NBD model from known parameters (for example published ones); each must be finite and > 0 (error 22023). The fit diagnostics are NULL.';

CREATE FUNCTION @extschema@.mbgnbd_fit_accum(bytea, double precision, double precision, double precision)
RETURNS bytea
AS 'MODULE_PATHNAME', 'mbgnbd_fit_accum'
LANGUAGE C IMMUTABLE PARALLEL SAFE;

COMMENT ON FUNCTION @extschema@.mbgnbd_fit_accum(bytea, double precision, double precision, double precision) IS
'Transition function of mbgnbd_fit: adds one customer (frequency, recency, t) to a state of distinct rows with counts. Not strict: a NULL argument raises 22004 instead of being skipped.';

CREATE FUNCTION @extschema@.mbgnbd_fit_combine(bytea, bytea)
RETURNS bytea
AS 'MODULE_PATHNAME', 'mbgnbd_fit_combine'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

COMMENT ON FUNCTION @extschema@.mbgnbd_fit_combine(bytea, bytea) IS
'Combine function of mbgnbd_fit: merges two partial states; a malformed state, or one of another aggregate, raises 22P03.';

CREATE FUNCTION @extschema@.mbgnbd_fit_final(bytea)
RETURNS @extschema@.mbgnbd_model
AS 'MODULE_PATHNAME', 'mbgnbd_fit_final'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

COMMENT ON FUNCTION @extschema@.mbgnbd_fit_final(bytea) IS
'Final function of mbgnbd_fit: the maximum likelihood MBG/NBD model of a state, which it does not modify.';

CREATE AGGREGATE @extschema@.mbgnbd_fit(frequency double precision, recency double precision, t double precision) (
	SFUNC = @extschema@.mbgnbd_fit_accum,
	STYPE = bytea,
	COMBINEFUNC = @extschema@.mbgnbd_fit_combine,
	FINALFUNC = @extschema@.mbgnbd_fit_final,
	PARALLEL = SAFE
);

COMMENT ON AGGREGATE @extschema@.mbgnbd_fit(double precision, double precision, double precision) IS
'Maximum likelihood MBG/NBD model of customers given as (frequency x = repeat purchases, a whole number >= 0; recency t_x = time from first to last purchase; t = T, time from first purchase to the analysis date), all times in one unit chosen by the caller, 0 <= recency <= t; the inputs, checks, grouping and optimizer of bgnbd_fit. NULL for no rows; NULL, NaN, infinite, negative or fractional frequency, and recency > t raise errors (22004, 22023). With no repeat purchase at all the purchase rate is not identified: parameters NULL, converged false.';

CREATE FUNCTION @extschema@.mbgnbd_loglik(frequency double precision, recency double precision,
										  t double precision, model @extschema@.mbgnbd_model)
RETURNS double precision
AS 'MODULE_PATHNAME', 'mbgnbd_loglik'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

COMMENT ON FUNCTION @extschema@.mbgnbd_loglik(double precision, double precision, double precision, @extschema@.mbgnbd_model) IS
'MBG/NBD log-likelihood of one customer (frequency, recency, t) under a model; its sum over customers is what mbgnbd_fit maximises.';

CREATE FUNCTION @extschema@.mbgnbd_loglik_gradient(frequency double precision, recency double precision,
												   t double precision, model @extschema@.mbgnbd_model)
RETURNS double precision[]
AS 'MODULE_PATHNAME', 'mbgnbd_loglik_gradient'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

COMMENT ON FUNCTION @extschema@.mbgnbd_loglik_gradient(double precision, double precision, double precision, @extschema@.mbgnbd_model) IS
'Analytic gradient of mbgnbd_loglik with respect to {r, alpha, a, b}, the one mbgnbd_fit uses; exposed for checks against finite differences.';

CREATE FUNCTION @extschema@.p_alive(frequency double precision, recency double precision,
									t double precision, model @extschema@.mbgnbd_model)
RETURNS double precision
AS 'MODULE_PATHNAME', 'mbgnbd_p_alive'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

COMMENT ON FUNCTION @extschema@.p_alive(double precision, double precision, double precision, @extschema@.mbgnbd_model) IS
'MBG/NBD probability that a customer (frequency, recency, t; times in the unit of the model) is still active: 1 / (1 + a / (b + frequency) ((alpha + t) / (alpha + recency))^(r + frequency)), through the log-odds. Below 1 also for one-time buyers (frequency = 0).';

CREATE FUNCTION @extschema@.churn_risk(frequency double precision, recency double precision,
									   t double precision, model @extschema@.mbgnbd_model)
RETURNS double precision
AS 'MODULE_PATHNAME', 'mbgnbd_churn_risk'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

COMMENT ON FUNCTION @extschema@.churn_risk(double precision, double precision, double precision, @extschema@.mbgnbd_model) IS
'1 - p_alive under MBG/NBD, computed directly so that small risks keep their precision. For the probability of no purchase over a horizon use churn_risk(horizon, frequency, recency, t, model).';

CREATE FUNCTION @extschema@.expected_purchases(horizon double precision, frequency double precision,
											   recency double precision, t double precision,
											   model @extschema@.mbgnbd_model)
RETURNS double precision
AS 'MODULE_PATHNAME', 'mbgnbd_expected_purchases'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

COMMENT ON FUNCTION @extschema@.expected_purchases(double precision, double precision, double precision, double precision, @extschema@.mbgnbd_model) IS
'MBG/NBD conditional expected number of purchases in the next horizon time units of a customer (frequency, recency, t): P(alive) (a + b + x) / (a - 1) [1 - ((alpha + t) / (alpha + t + horizon))^(r + x) 2F1(r + x, b + x + 1; a + b + x; horizon / (alpha + t + horizon))], evaluated like the BG/NBD expected_purchases (series after Euler''s transformation, numerical integration for long horizons); horizon >= 0.';

-- Churn over a horizon and P(alive) at a future time, BG/NBD and MBG/NBD

CREATE FUNCTION @extschema@.churn_risk(horizon double precision, frequency double precision,
									   recency double precision, t double precision,
									   model @extschema@.bgnbd_model)
RETURNS double precision
AS 'MODULE_PATHNAME', 'bgnbd_horizon_churn_risk'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

COMMENT ON FUNCTION @extschema@.churn_risk(double precision, double precision, double precision, double precision, @extschema@.bgnbd_model) IS
'BG/NBD probability that a customer (frequency, recency, t) makes no purchase in the next horizon time units (the unit of t): dropped out, or alive and not buying, 1 - P(alive) + P(alive) ((alpha + t) / (alpha + t + horizon))^(r + frequency). Graded for every customer, one-time buyers included, even where the fitted dropout is near zero; horizon >= 0: 1 at horizon 0, falling towards 1 - P(alive) as the horizon grows.';

CREATE FUNCTION @extschema@.churn_risk(horizon double precision, frequency double precision,
									   recency double precision, t double precision,
									   model @extschema@.mbgnbd_model)
RETURNS double precision
AS 'MODULE_PATHNAME', 'mbgnbd_horizon_churn_risk'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

COMMENT ON FUNCTION @extschema@.churn_risk(double precision, double precision, double precision, double precision, @extschema@.mbgnbd_model) IS
'MBG/NBD probability that a customer (frequency, recency, t) makes no purchase in the next horizon time units: 1 - P(alive) + P(alive) ((alpha + t) / (alpha + t + horizon))^(r + frequency); horizon >= 0.';

CREATE FUNCTION @extschema@.p_alive(frequency double precision, recency double precision,
									t double precision, model @extschema@.bgnbd_model,
									future double precision)
RETURNS double precision
AS 'MODULE_PATHNAME', 'bgnbd_p_alive_future'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

COMMENT ON FUNCTION @extschema@.p_alive(double precision, double precision, double precision, @extschema@.bgnbd_model, double precision) IS
'BG/NBD probability that a customer (frequency, recency, t) is still active future time units after t, whatever they buy meanwhile: P(alive) E[(1 + p future / (alpha + t))^-(r + frequency)] over the posterior dropout probability p ~ Beta(a, b + frequency), integrated numerically. future >= 0; 0 gives p_alive.';

CREATE FUNCTION @extschema@.p_alive(frequency double precision, recency double precision,
									t double precision, model @extschema@.mbgnbd_model,
									future double precision)
RETURNS double precision
AS 'MODULE_PATHNAME', 'mbgnbd_p_alive_future'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

COMMENT ON FUNCTION @extschema@.p_alive(double precision, double precision, double precision, @extschema@.mbgnbd_model, double precision) IS
'MBG/NBD probability that a customer is still active future time units after t: P(alive) E[(1 + p future / (alpha + t))^-(r + frequency)] over p ~ Beta(a, b + frequency + 1). future >= 0; 0 gives p_alive.';

CREATE FUNCTION @extschema@.clv(frequency double precision, recency double precision,
								t double precision, monetary_avg double precision,
								mbgnbd_model @extschema@.mbgnbd_model,
								gg_model @extschema@.gamma_gamma_model,
								months double precision, monthly_discount double precision,
								periods_per_month double precision)
RETURNS double precision
AS 'MODULE_PATHNAME', 'mbgnbd_clv'
LANGUAGE C IMMUTABLE PARALLEL SAFE;

COMMENT ON FUNCTION @extschema@.clv(double precision, double precision, double precision, double precision, @extschema@.mbgnbd_model, @extschema@.gamma_gamma_model, double precision, double precision, double precision) IS
'Customer lifetime value with an MBG/NBD purchase model: the sum and arguments of the BG/NBD clv, with the MBG/NBD expected purchases. Not strict only so that monetary_avg may be NULL when frequency = 0; any other NULL gives NULL.';
-- The Pareto/NBD purchase and dropout model fitted by maximum likelihood in
-- C, with P(alive) now and later, churn risk over a horizon, expected
-- purchases and CLV.  Overloads of the BG/NBD scoring functions, told
-- apart by the model argument's type.  Time is in one unit chosen by the
-- caller (weeks or days), the same for frequency/recency/t, the fit and
-- every scoring call.

CREATE TYPE @extschema@.pareto_nbd_model AS (
	r double precision,
	alpha double precision,
	s double precision,
	beta double precision,
	log_likelihood double precision,
	customers bigint,
	converged boolean,
	iterations integer,
	r_se double precision,
	alpha_se double precision,
	s_se double precision,
	beta_se double precision,
	dropout_log_likelihood_gain double precision
);

COMMENT ON TYPE @extschema@.pareto_nbd_model IS
'A Pareto/NBD model (Schmittlein, Morrison & Colombo 1987): purchase rates Gamma(r, alpha), dropout rates Gamma(s, beta), each customer buying as a Poisson process while alive and alive for an exponential time after the first purchase. Built by the pareto_nbd_fit aggregate or by pareto_nbd_model(r, alpha, s, beta). alpha and beta are in the time unit of the data it was fitted on.';
COMMENT ON COLUMN @extschema@.pareto_nbd_model.r IS
'Shape of the Gamma distribution of purchase rates; > 0. NULL when the fit could not identify the model.';
COMMENT ON COLUMN @extschema@.pareto_nbd_model.alpha IS
'Rate (inverse scale) of the Gamma distribution of purchase rates, in the time unit of t: the mean purchase rate is r / alpha per unit; > 0. NULL when the fit could not identify the model.';
COMMENT ON COLUMN @extschema@.pareto_nbd_model.s IS
'Shape of the Gamma distribution of dropout rates; > 0. NULL when the fit could not identify the model.';
COMMENT ON COLUMN @extschema@.pareto_nbd_model.beta IS
'Rate (inverse scale) of the Gamma distribution of dropout rates, in the time unit of t: the mean dropout rate is s / beta per unit; > 0. A fit that finds almost no dropout drives beta very high (up to about 1e13). NULL when the fit could not identify the model.';
COMMENT ON COLUMN @extschema@.pareto_nbd_model.log_likelihood IS
'Log-likelihood of the fitted customers at the parameters (natural log, summed over customers); NULL for a model built from parameters.';
COMMENT ON COLUMN @extschema@.pareto_nbd_model.customers IS
'Customers (input rows) the model was fitted on; NULL for a model built from parameters.';
COMMENT ON COLUMN @extschema@.pareto_nbd_model.converged IS
'Whether the optimizer met a convergence rule (gradient norm or relative change below tolerance) rather than a limit; false also when no customer has a repeat purchase (parameters NULL). NULL for a model built from parameters.';
COMMENT ON COLUMN @extschema@.pareto_nbd_model.iterations IS
'BFGS iterations of the run that produced the parameters; NULL for a model built from parameters.';
COMMENT ON COLUMN @extschema@.pareto_nbd_model.r_se IS
'Standard error of r from the observed information (the inverse Hessian of the log-likelihood at the fit); NULL for a model built from parameters, or where the Hessian is not positive definite (a parameter the data cannot identify).';
COMMENT ON COLUMN @extschema@.pareto_nbd_model.alpha_se IS
'Standard error of alpha from the observed information (the inverse Hessian of the log-likelihood at the fit); NULL for a model built from parameters, or where the Hessian is not positive definite (a parameter the data cannot identify).';
COMMENT ON COLUMN @extschema@.pareto_nbd_model.s_se IS
'Standard error of s from the observed information (the inverse Hessian of the log-likelihood at the fit); NULL for a model built from parameters, or where the Hessian is not positive definite (a parameter the data cannot identify).';
COMMENT ON COLUMN @extschema@.pareto_nbd_model.beta_se IS
'Standard error of beta from the observed information (the inverse Hessian of the log-likelihood at the fit); NULL for a model built from parameters, or where the Hessian is not positive definite (a parameter the data cannot identify).';
COMMENT ON COLUMN @extschema@.pareto_nbd_model.dropout_log_likelihood_gain IS
'Log-likelihood of the fit minus that of the NBD model (the same purchase process without any dropout) fitted on the same customers: how much the data say about dropout. Below 3 (twice it below the 5 % point of chi-square with 2 degrees of freedom) dropout is not identified and P(alive) reflects the model''s assumption rather than the data. NULL for a model built from parameters.';

CREATE FUNCTION @extschema@.pareto_nbd_model(r double precision, alpha double precision,
											 s double precision, beta double precision)
RETURNS @extschema@.pareto_nbd_model
AS 'MODULE_PATHNAME', 'pareto_nbd_model'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

COMMENT ON FUNCTION @extschema@.pareto_nbd_model(double precision, double precision, double precision, double precision) IS
'A Pareto/NBD model from known parameters (for example published ones); each must be finite and > 0 (error 22023). The fit diagnostics are NULL.';

-- pareto_nbd_fit

CREATE FUNCTION @extschema@.pareto_nbd_fit_accum(bytea, double precision, double precision, double precision)
RETURNS bytea
AS 'MODULE_PATHNAME', 'pareto_nbd_fit_accum'
LANGUAGE C IMMUTABLE PARALLEL SAFE;

COMMENT ON FUNCTION @extschema@.pareto_nbd_fit_accum(bytea, double precision, double precision, double precision) IS
'Transition function of pareto_nbd_fit: adds one customer (frequency, recency, t) to a state of distinct rows with counts. Not strict: a NULL argument raises 22004 instead of being skipped.';

CREATE FUNCTION @extschema@.pareto_nbd_fit_combine(bytea, bytea)
RETURNS bytea
AS 'MODULE_PATHNAME', 'pareto_nbd_fit_combine'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

COMMENT ON FUNCTION @extschema@.pareto_nbd_fit_combine(bytea, bytea) IS
'Combine function of pareto_nbd_fit: merges two partial states; a malformed state, or one of another fit, raises 22P03.';

CREATE FUNCTION @extschema@.pareto_nbd_fit_final(bytea)
RETURNS @extschema@.pareto_nbd_model
AS 'MODULE_PATHNAME', 'pareto_nbd_fit_final'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

COMMENT ON FUNCTION @extschema@.pareto_nbd_fit_final(bytea) IS
'Final function of pareto_nbd_fit: the maximum likelihood Pareto/NBD model of a state, which it does not modify.';

CREATE AGGREGATE @extschema@.pareto_nbd_fit(frequency double precision, recency double precision, t double precision) (
	SFUNC = @extschema@.pareto_nbd_fit_accum,
	STYPE = bytea,
	COMBINEFUNC = @extschema@.pareto_nbd_fit_combine,
	FINALFUNC = @extschema@.pareto_nbd_fit_final,
	PARALLEL = SAFE
);

COMMENT ON AGGREGATE @extschema@.pareto_nbd_fit(double precision, double precision, double precision) IS
'Maximum likelihood Pareto/NBD model of customers given as (frequency x = repeat purchases, a whole number >= 0; recency t_x = time from first to last purchase; t = T, time from first purchase to the analysis date), all times in one unit chosen by the caller (weeks or days), 0 <= recency <= t. Identical rows are grouped, so the fit costs per distinct row. BFGS with analytic gradients on log-parameters, restarted from other starts if it does not converge; see converged and iterations. NULL for no rows; NULL, NaN, infinite, negative or fractional frequency, and recency > t raise errors (22004, 22023). With no repeat purchase at all the model is not identified: parameters NULL, converged false.';

-- per-customer log-likelihood and its analytic gradient

CREATE FUNCTION @extschema@.pareto_nbd_loglik(frequency double precision, recency double precision,
											  t double precision, model @extschema@.pareto_nbd_model)
RETURNS double precision
AS 'MODULE_PATHNAME', 'pareto_nbd_loglik'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

COMMENT ON FUNCTION @extschema@.pareto_nbd_loglik(double precision, double precision, double precision, @extschema@.pareto_nbd_model) IS
'Pareto/NBD log-likelihood of one customer (frequency, recency, t) under a model; its sum over customers is what pareto_nbd_fit maximises. The integral of the likelihood is evaluated by a hypergeometric series, or by numerical integration where the series converges slowly (dropout rates far slower than purchase rates), so heavy buyers and long-lapsed customers stay finite.';

CREATE FUNCTION @extschema@.pareto_nbd_loglik_gradient(frequency double precision, recency double precision,
													   t double precision, model @extschema@.pareto_nbd_model)
RETURNS double precision[]
AS 'MODULE_PATHNAME', 'pareto_nbd_loglik_gradient'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

COMMENT ON FUNCTION @extschema@.pareto_nbd_loglik_gradient(double precision, double precision, double precision, @extschema@.pareto_nbd_model) IS
'Analytic gradient of pareto_nbd_loglik with respect to {r, alpha, s, beta}, the one pareto_nbd_fit uses; exposed for checks against finite differences.';

-- scoring

CREATE FUNCTION @extschema@.p_alive(frequency double precision, recency double precision,
									t double precision, model @extschema@.pareto_nbd_model)
RETURNS double precision
AS 'MODULE_PATHNAME', 'pareto_nbd_p_alive'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

COMMENT ON FUNCTION @extschema@.p_alive(double precision, double precision, double precision, @extschema@.pareto_nbd_model) IS
'Pareto/NBD probability that a customer (frequency, recency, t; times in the unit of the model) is still alive at t, computed through the log-odds so that heavy buyers and long-lapsed customers stay finite. Unlike BG/NBD, a customer without repeat purchases (frequency = 0) can have dropped out, so the value is below 1 for every recency < t; it is 1 when recency = t (a purchase at the analysis date).';

CREATE FUNCTION @extschema@.p_alive(frequency double precision, recency double precision,
									t double precision, model @extschema@.pareto_nbd_model,
									future double precision)
RETURNS double precision
AS 'MODULE_PATHNAME', 'pareto_nbd_p_alive_future'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

COMMENT ON FUNCTION @extschema@.p_alive(double precision, double precision, double precision, @extschema@.pareto_nbd_model, double precision) IS
'Pareto/NBD probability that a customer (frequency, recency, t) is still alive future time units after t: p_alive * ((beta + t) / (beta + t + future))^s. future >= 0 and finite (else 22023); future = 0 gives p_alive.';

CREATE FUNCTION @extschema@.churn_risk(frequency double precision, recency double precision,
									   t double precision, model @extschema@.pareto_nbd_model)
RETURNS double precision
AS 'MODULE_PATHNAME', 'pareto_nbd_churn_risk'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

COMMENT ON FUNCTION @extschema@.churn_risk(double precision, double precision, double precision, @extschema@.pareto_nbd_model) IS
'1 - p_alive under a Pareto/NBD model, computed directly so that small risks keep their precision: the probability that the customer has dropped out by t. Above 0 also for frequency = 0; 0 when recency = t.';

CREATE FUNCTION @extschema@.churn_risk(horizon double precision, frequency double precision,
									   recency double precision, t double precision,
									   model @extschema@.pareto_nbd_model)
RETURNS double precision
AS 'MODULE_PATHNAME', 'pareto_nbd_horizon_churn_risk'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

COMMENT ON FUNCTION @extschema@.churn_risk(double precision, double precision, double precision, double precision, @extschema@.pareto_nbd_model) IS
'Pareto/NBD probability that a customer (frequency, recency, t) makes no purchase in the next horizon time units (the unit of t): 1 - p_alive * P(a live customer buys before dropping out, within the horizon). In [0, 1]; 1 for horizon = 0, decreasing in the horizon towards 1 - p_alive * E[lambda / (lambda + mu)] (a live customer may drop out before buying again), not towards churn_risk. horizon >= 0 and finite (else 22023).';

CREATE FUNCTION @extschema@.expected_purchases(horizon double precision, frequency double precision,
											   recency double precision, t double precision,
											   model @extschema@.pareto_nbd_model)
RETURNS double precision
AS 'MODULE_PATHNAME', 'pareto_nbd_expected_purchases'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

COMMENT ON FUNCTION @extschema@.expected_purchases(double precision, double precision, double precision, double precision, @extschema@.pareto_nbd_model) IS
'Pareto/NBD conditional expected number of purchases in the next horizon time units (the unit of t) of a customer (frequency, recency, t): p_alive * (r + frequency) (beta + t) / ((alpha + t) (s - 1)) * (1 - ((beta + t) / (beta + t + horizon))^(s - 1)), evaluated without loss at and near s = 1 (where it becomes a logarithm). horizon >= 0 and finite (else 22023); 22003 if the result overflows.';

CREATE FUNCTION @extschema@.clv(frequency double precision, recency double precision,
								t double precision, monetary_avg double precision,
								pareto_nbd_model @extschema@.pareto_nbd_model,
								gg_model @extschema@.gamma_gamma_model,
								months double precision, monthly_discount double precision,
								periods_per_month double precision)
RETURNS double precision
AS 'MODULE_PATHNAME', 'pareto_nbd_clv'
LANGUAGE C IMMUTABLE PARALLEL SAFE;

COMMENT ON FUNCTION @extschema@.clv(double precision, double precision, double precision, double precision, @extschema@.pareto_nbd_model, @extschema@.gamma_gamma_model, double precision, double precision, double precision) IS
'Customer lifetime value under a Pareto/NBD purchase model: sum over k = 1..months of expected_spend * (expected_purchases(k m) - expected_purchases((k - 1) m)) / (1 + monthly_discount)^k, where m = periods_per_month is the number of time units of t in a month (4.345 for weeks, 30.4375 for days). months is a whole number from 0 to 1200 (more raises 54000), monthly_discount > -1, periods_per_month > 0 (else 22023). Not strict only so that monetary_avg may be NULL when frequency = 0; any other NULL gives NULL.';
-- Simulators: seeded BG/NBD, MBG/NBD and Pareto/NBD customers and purchase
-- histories, to try the product on realistic data and to test model fits.
-- Functions only, created with CREATE OR REPLACE: the 1.0 -> 1.1 update runs
-- this part again to add the simulators 1.1 brings.

-- The simulators are IMMUTABLE: their rows are a function of the arguments
-- alone (their own seeded random streams, dates read as UTC midnights, no
-- table, setting or clock is read), and PostgreSQL never pre-evaluates a
-- set-returning function, so the label cannot freeze a 10M-row result into a
-- plan.  PARALLEL SAFE: each call keeps its random state in its own memory.
CREATE OR REPLACE FUNCTION @extschema@.bgnbd_simulate(
	customers bigint,
	t double precision,
	r double precision,
	alpha double precision,
	a double precision,
	b double precision,
	seed bigint,
	t_spread double precision DEFAULT 0)
RETURNS TABLE (customer_id bigint, frequency integer, recency double precision, t double precision)
AS 'MODULE_PATHNAME', 'bgnbd_simulate'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE
ROWS 1000;

COMMENT ON FUNCTION @extschema@.bgnbd_simulate(bigint, double precision, double precision, double precision, double precision, double precision, bigint, double precision) IS
'Simulates customers 1..customers of the BG/NBD model (Fader, Hardie & Lee 2005) and returns their BTYD summary: purchase rate lambda ~ Gamma(shape r, rate alpha), dropout probability p ~ Beta(a, b); a first purchase at time 0, then a Poisson process of rate lambda, and after each repeat purchase a dropout with probability p; observed up to t. frequency = repeat purchases in (0, t], recency = time of the last purchase (0 if none), t = the observation period. Time is in the unit alpha is in (lambda is per unit). t_spread > 0 gives each customer its own period, uniform in [t - t_spread, t] (cohorts of different ages). Same arguments, same rows on every platform; customer i''s row does not depend on customers. customers 0..1e9 (more: 54000); t >= 0, 0 <= t_spread <= t; r, alpha, a, b in [1e-12, 1e12] (else 22023).';

CREATE OR REPLACE FUNCTION @extschema@.mbgnbd_simulate(
	customers bigint,
	t double precision,
	r double precision,
	alpha double precision,
	a double precision,
	b double precision,
	seed bigint,
	t_spread double precision DEFAULT 0)
RETURNS TABLE (customer_id bigint, frequency integer, recency double precision, t double precision)
AS 'MODULE_PATHNAME', 'mbgnbd_simulate'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE
ROWS 1000;

COMMENT ON FUNCTION @extschema@.mbgnbd_simulate(bigint, double precision, double precision, double precision, double precision, double precision, bigint, double precision) IS
'Simulates customers 1..customers of the MBG/NBD model (Batislam, Denizel & Filiztekin 2007) and returns their BTYD summary: as bgnbd_simulate, except that a customer may also drop out, with probability p, right after the first purchase at time 0 (so some customers with frequency 0 are already dead). Purchase rate lambda ~ Gamma(shape r, rate alpha), p ~ Beta(a, b); observed up to t. frequency = repeat purchases in (0, t], recency = time of the last purchase (0 if none), t = the observation period, in the unit alpha is in; t_spread > 0 gives each customer its own period, uniform in [t - t_spread, t]. Same arguments, same rows on every platform; customer i''s row does not depend on customers. customers 0..1e9 (more: 54000); t >= 0, 0 <= t_spread <= t; r, alpha, a, b in [1e-12, 1e12] (else 22023).';

CREATE OR REPLACE FUNCTION @extschema@.pareto_nbd_simulate(
	customers bigint,
	t double precision,
	r double precision,
	alpha double precision,
	s double precision,
	beta double precision,
	seed bigint,
	t_spread double precision DEFAULT 0)
RETURNS TABLE (customer_id bigint, frequency integer, recency double precision, t double precision)
AS 'MODULE_PATHNAME', 'pareto_nbd_simulate'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE
ROWS 1000;

COMMENT ON FUNCTION @extschema@.pareto_nbd_simulate(bigint, double precision, double precision, double precision, double precision, double precision, bigint, double precision) IS
'Simulates customers 1..customers of the Pareto/NBD model (Schmittlein, Morrison & Colombo 1987) and returns their BTYD summary: purchase rate lambda ~ Gamma(shape r, rate alpha), dropout rate mu ~ Gamma(shape s, rate beta); a first purchase at time 0, then a Poisson process of rate lambda until the customer dies, an Exp(mu) time after the first purchase; observed up to t. frequency = repeat purchases in (0, t], recency = time of the last purchase (0 if none), t = the observation period, in the unit alpha and beta are in; t_spread > 0 gives each customer its own period, uniform in [t - t_spread, t]. Same arguments, same rows on every platform; customer i''s row does not depend on customers. customers 0..1e9 (more: 54000); t >= 0, 0 <= t_spread <= t; r, alpha, s, beta in [1e-12, 1e12] (else 22023); a customer expecting more than 1e8 purchases in its lifetime raises 22003.';

CREATE OR REPLACE FUNCTION @extschema@.simulate_transactions(
	customers bigint,
	first_day date,
	last_day date,
	seed bigint,
	r double precision DEFAULT 0.25,
	alpha double precision DEFAULT 4.0,
	a double precision DEFAULT 0.8,
	b double precision DEFAULT 2.5,
	spend_p double precision DEFAULT 6.0,
	spend_q double precision DEFAULT 3.8,
	spend_v double precision DEFAULT 15.0,
	return_share double precision DEFAULT 0.05,
	channels integer DEFAULT 3,
	stores integer DEFAULT 20)
RETURNS TABLE (transaction_id text, customer_id bigint, occurred_at timestamptz, amount numeric, channel text, store text)
AS 'MODULE_PATHNAME', 'simulate_transactions'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE
ROWS 10000;

COMMENT ON FUNCTION @extschema@.simulate_transactions(bigint, date, date, bigint, double precision, double precision, double precision, double precision, double precision, double precision, double precision, double precision, integer, integer) IS
'Simulated transactions of customers 1..customers, in the columns of crm.transactions (INSERT INTO crm.transactions SELECT * FROM crm.simulate_transactions(...)). Every row falls in [first_day, last_day), days taken as 00:00 UTC. Each customer''s first purchase is uniform in that window; then BG/NBD purchases with rates PER WEEK: lambda ~ Gamma(shape r, rate alpha) purchases/week, after each repeat purchase a dropout with probability p ~ Beta(a, b), until dropout or last_day. Amounts follow Gamma-Gamma: per customer nu ~ Gamma(shape spend_q, rate spend_v), each purchase ~ Gamma(shape spend_p, rate nu), rounded to cents (at least 0.01); mean spend_p*spend_v/(spend_q-1). A share return_share of purchases is followed 1-14 days later by a return of all (half of them) or 10-100 % of the amount, negative, with the purchase''s id plus R, unless it would fall on or after last_day. channel: store, online, app, phone, marketplace, social, catalog, kiosk (the first channels; weights 1, 1/2, 1/3, ...); store S001..: 80 % of a customer''s purchases in a home store. transaction_id C<customer, 10 digits>-<purchase number, 6 digits>: unique within a call, prefix it to combine calls. Same arguments, same rows on every platform. customers 0..1e9, channels 1..8, stores 1..99999 (more: 54000); r, alpha, a, b, spend_* in [1e-12, 1e12], 0 <= return_share < 1, last_day > first_day (else 22023).';
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

-- Segment names from score rules: the rule table, its checks, and the
-- 125-cell map the refresh joins on.

CREATE TABLE @extschema@.segment_rules (
	rule_set	text NOT NULL,
	precedence	integer NOT NULL,
	segment		text NOT NULL,
	r_min		smallint NOT NULL DEFAULT 1,
	r_max		smallint NOT NULL DEFAULT 5,
	f_min		smallint NOT NULL DEFAULT 1,
	f_max		smallint NOT NULL DEFAULT 5,
	m_min		smallint NOT NULL DEFAULT 1,
	m_max		smallint NOT NULL DEFAULT 5,
	fm_min		smallint NOT NULL DEFAULT 1,
	fm_max		smallint NOT NULL DEFAULT 5,
	PRIMARY KEY (rule_set, precedence)
);
COMMENT ON TABLE @extschema@.segment_rules IS
	'Segment rules: a customer gets the segment of the first rule (lowest precedence) whose ranges hold all of their scores. Add a rule set under a new name and switch to it with crm.activate_segment_rules(); the rule set ''default'' belongs to the extension.';
COMMENT ON COLUMN @extschema@.segment_rules.rule_set IS 'Name of the rule set the rule belongs to.';
COMMENT ON COLUMN @extschema@.segment_rules.precedence IS 'Lower numbers are tried first; the first match wins.';
COMMENT ON COLUMN @extschema@.segment_rules.segment IS 'Segment name given by the rule.';
COMMENT ON COLUMN @extschema@.segment_rules.r_min IS 'Lowest R score (1-5) the rule matches.';
COMMENT ON COLUMN @extschema@.segment_rules.r_max IS 'Highest R score (1-5) the rule matches.';
COMMENT ON COLUMN @extschema@.segment_rules.f_min IS 'Lowest F score (1-5) the rule matches.';
COMMENT ON COLUMN @extschema@.segment_rules.f_max IS 'Highest F score (1-5) the rule matches.';
COMMENT ON COLUMN @extschema@.segment_rules.m_min IS 'Lowest M score (1-5) the rule matches.';
COMMENT ON COLUMN @extschema@.segment_rules.m_max IS 'Highest M score (1-5) the rule matches.';
COMMENT ON COLUMN @extschema@.segment_rules.fm_min IS 'Lowest FM score (mean of F and M rounded half up) the rule matches.';
COMMENT ON COLUMN @extschema@.segment_rules.fm_max IS 'Highest FM score the rule matches.';

-- segment_rules_check() and check_segment_rules() are in 18_config_checks.sql.
CREATE TRIGGER segment_rules_check BEFORE INSERT OR UPDATE ON @extschema@.segment_rules
	FOR EACH ROW EXECUTE FUNCTION @extschema@.segment_rules_check();

-- The complete 11-segment scheme on R and FM (README, "How the numbers are
-- defined", the R x FM table): every one
-- of the 25 R x FM cells is covered and every rule wins at least one cell.
INSERT INTO @extschema@.segment_rules (rule_set, precedence, segment, r_min, r_max, fm_min, fm_max) VALUES
	('default', 10, 'Champions', 5, 5, 5, 5),
	('default', 20, 'Loyal Customers', 3, 5, 4, 5),
	('default', 30, 'Potential Loyalist', 4, 5, 2, 3),
	('default', 40, 'Recent Customers', 5, 5, 1, 1),
	('default', 50, 'Promising', 4, 4, 1, 1),
	('default', 60, 'Customers Needing Attention', 3, 3, 3, 3),
	('default', 70, 'About To Sleep', 3, 3, 1, 2),
	('default', 80, 'Can''t Lose Them', 1, 1, 5, 5),
	('default', 90, 'At Risk', 1, 2, 3, 5),
	('default', 100, 'Hibernating', 2, 2, 2, 2),
	('default', 110, 'Lost', 1, 2, 1, 2);

-- Every (R, F, M) score cell with the segment the active rule set gives it.
CREATE TABLE @extschema@.segment_map (
	rfm_code	smallint PRIMARY KEY,
	r_score		smallint NOT NULL,
	f_score		smallint NOT NULL,
	m_score		smallint NOT NULL,
	fm_score	smallint NOT NULL,
	segment		text NOT NULL,
	precedence	integer
);
COMMENT ON TABLE @extschema@.segment_map IS
	'The 125 score cells and the segment the active rule set gives each; built by crm.activate_segment_rules(). Cells no rule covers get the segment Unclassified.';
COMMENT ON COLUMN @extschema@.segment_map.rfm_code IS 'R*100 + F*10 + M.';
COMMENT ON COLUMN @extschema@.segment_map.r_score IS 'Recency score 1-5.';
COMMENT ON COLUMN @extschema@.segment_map.f_score IS 'Frequency score 1-5.';
COMMENT ON COLUMN @extschema@.segment_map.m_score IS 'Monetary score 1-5.';
COMMENT ON COLUMN @extschema@.segment_map.fm_score IS 'Mean of F and M rounded half up.';
COMMENT ON COLUMN @extschema@.segment_map.segment IS 'Segment of the first matching rule, or Unclassified.';
COMMENT ON COLUMN @extschema@.segment_map.precedence IS 'Precedence of the rule that matched; NULL when none did.';

-- Each score cell with the first rule of the set that matches it.  The cell
-- scores come from crm.rfm_score itself (values equal to bands with breaks
-- 1,2,3,4), so FM is computed exactly as the refresh computes it.
CREATE FUNCTION @extschema@.segment_cells(rule_set text)
RETURNS TABLE (rfm_code smallint, r_score smallint, f_score smallint, m_score smallint,
			   fm_score smallint, segment text, precedence integer)
LANGUAGE sql STABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
	WITH cells AS (
		SELECT (@extschema@.rfm_score(6 - r, f, m, '{1,2,3,4}', '{1,2,3,4}', '{1,2,3,4}')).*
		FROM generate_series(1, 5) AS r, generate_series(1, 5) AS f, generate_series(1, 5) AS m
	)
	SELECT c.rfm_code, c.r_score, c.f_score, c.m_score, c.fm_score, rule.segment, rule.precedence
	FROM cells AS c
	LEFT JOIN LATERAL (
		SELECT sr.segment, sr.precedence
		FROM @extschema@.segment_rules AS sr
		WHERE sr.rule_set = segment_cells.rule_set
		  AND c.r_score BETWEEN sr.r_min AND sr.r_max
		  AND c.f_score BETWEEN sr.f_min AND sr.f_max
		  AND c.m_score BETWEEN sr.m_min AND sr.m_max
		  AND c.fm_score BETWEEN sr.fm_min AND sr.fm_max
		ORDER BY sr.precedence
		LIMIT 1
	) AS rule ON true
$$;
COMMENT ON FUNCTION @extschema@.segment_cells(text) IS
	'The 125 (R, F, M) score cells with the segment and precedence of the first rule of the rule set that matches each (NULL when none). Stable because it reads crm.segment_rules.';

CREATE FUNCTION @extschema@.activate_segment_rules(rule_set text)
RETURNS TABLE (problem text, precedence integer, segment text, rfm_code smallint, detail text)
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	uncovered integer := 0;
	unreachable integer := 0;
	report record;
BEGIN
	FOR report IN SELECT * FROM @extschema@.check_segment_rules(rule_set) LOOP
		IF report.problem = 'uncovered cell' THEN
			uncovered := uncovered + 1;
		ELSE
			unreachable := unreachable + 1;
		END IF;
		problem := report.problem;
		precedence := report.precedence;
		segment := report.segment;
		rfm_code := report.rfm_code;
		detail := report.detail;
		RETURN NEXT;
	END LOOP;

	DELETE FROM @extschema@.segment_map;
	INSERT INTO @extschema@.segment_map
		SELECT c.rfm_code, c.r_score, c.f_score, c.m_score, c.fm_score,
			   coalesce(c.segment, 'Unclassified'), c.precedence
		FROM @extschema@.segment_cells(activate_segment_rules.rule_set) AS c;
	UPDATE @extschema@.settings SET segment_rule_set = rule_set;

	IF uncovered > 0 OR unreachable > 0 THEN
		RAISE WARNING 'segment rule set % leaves % of 125 score cells uncovered and has % unreachable rules',
			quote_literal(rule_set), uncovered, unreachable
			USING HINT = 'The rows returned list them; the next refresh puts customers of uncovered cells in the segment Unclassified.';
	END IF;
END
$$;
COMMENT ON FUNCTION @extschema@.activate_segment_rules(text) IS
	'Makes a rule set the one the refresh uses, rebuilds crm.segment_map, and returns (and warns about) its uncovered cells and unreachable rules. Takes effect at the next refresh.';

-- Build the map for the default rule set at install time.
SELECT count(*) FROM @extschema@.activate_segment_rules('default');
-- Where the refresh reads sales from: crm.transactions, or the retailer's own
-- table or view with the columns customer_id, occurred_at and amount.

-- Checks that a relation can serve as the sales source and returns it.
CREATE FUNCTION @extschema@.check_transaction_source(source regclass)
RETURNS regclass
LANGUAGE plpgsql STABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	required constant text[] := ARRAY['customer_id', 'occurred_at', 'amount'];
	column_name text;
	column_type text;
BEGIN
	IF source IS NULL THEN
		RAISE EXCEPTION USING ERRCODE = 'null_value_not_allowed',
			MESSAGE = 'transaction source must not be NULL',
			HINT = 'Use crm.reset_transaction_source() to read crm.transactions again.';
	END IF;
	IF NOT EXISTS (SELECT 1 FROM pg_class AS c WHERE c.oid = source AND c.relkind IN ('r', 'v', 'm', 'p', 'f')) THEN
		RAISE EXCEPTION USING ERRCODE = 'wrong_object_type',
			MESSAGE = format('transaction source %s is not a table or view', source),
			HINT = 'Point the refresh at a table, view, materialized view or foreign table.';
	END IF;
	FOREACH column_name IN ARRAY required LOOP
		SELECT format_type(a.atttypid, NULL) INTO column_type
		FROM pg_attribute AS a
		WHERE a.attrelid = source AND a.attname = column_name AND a.attnum > 0 AND NOT a.attisdropped;
		IF NOT FOUND THEN
			RAISE EXCEPTION USING ERRCODE = 'undefined_column',
				MESSAGE = format('transaction source %s has no column %I', source, column_name),
				HINT = 'A transaction source needs the columns customer_id (integer type), occurred_at (timestamp with time zone) and amount (numeric type); rename or cast them in a view.';
		END IF;
		IF NOT ((column_name = 'customer_id' AND column_type IN ('smallint', 'integer', 'bigint'))
				OR (column_name = 'occurred_at' AND column_type = 'timestamp with time zone')
				OR (column_name = 'amount' AND column_type IN ('numeric', 'smallint', 'integer', 'bigint',
																 'real', 'double precision', 'money'))) THEN
			RAISE EXCEPTION USING ERRCODE = 'datatype_mismatch',
				MESSAGE = format('column %I of transaction source %s has type %s', column_name, source, column_type),
				DETAIL = CASE column_name
					WHEN 'customer_id' THEN 'customer_id must be smallint, integer or bigint.'
					WHEN 'occurred_at' THEN 'occurred_at must be timestamp with time zone, so that days are counted in one time line.'
					ELSE 'amount must be numeric, an integer type, real, double precision or money.' END,
				HINT = CASE column_name
					WHEN 'customer_id' THEN 'Cast it in a view, e.g. SELECT cust::bigint AS customer_id, ...'
					WHEN 'occurred_at' THEN 'Cast it in a view, e.g. SELECT sold_at AT TIME ZONE ''Europe/London'' AS occurred_at, ... for a timestamp without time zone.'
					ELSE 'Cast it in a view, e.g. SELECT total::numeric AS amount, ...' END;
		END IF;
	END LOOP;
	RETURN source;
END
$$;
COMMENT ON FUNCTION @extschema@.check_transaction_source(regclass) IS
	'Checks that a table or view has the columns customer_id (integer type), occurred_at (timestamptz) and amount (numeric type) the refresh needs; raises 42703 or 42804 with a hint otherwise. Stable because it reads the catalog.';

CREATE FUNCTION @extschema@.set_transaction_source(source regclass)
RETURNS regclass
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	checked regclass := @extschema@.check_transaction_source(source);
BEGIN
	UPDATE @extschema@.settings
	SET source_schema = n.nspname, source_table = c.relname
	FROM pg_class AS c JOIN pg_namespace AS n ON n.oid = c.relnamespace
	WHERE c.oid = checked;
	RETURN checked;
END
$$;
COMMENT ON FUNCTION @extschema@.set_transaction_source(regclass) IS
	'Makes the refresh read sales from this table or view (columns customer_id, occurred_at, amount) instead of crm.transactions. The columns are checked now and at every refresh.';

CREATE FUNCTION @extschema@.reset_transaction_source()
RETURNS regclass
LANGUAGE sql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
	UPDATE @extschema@.settings SET source_schema = NULL, source_table = NULL;
	SELECT '@extschema@.transactions'::regclass;
$$;
COMMENT ON FUNCTION @extschema@.reset_transaction_source() IS
	'Makes the refresh read crm.transactions again.';

-- The sales source the refresh reads now, checked again: it may have been
-- dropped or altered since it was set.
CREATE FUNCTION @extschema@.transaction_source()
RETURNS regclass
LANGUAGE plpgsql STABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	configured record;
	resolved regclass;
BEGIN
	SELECT s.source_schema, s.source_table INTO configured FROM @extschema@.settings AS s;
	IF configured.source_table IS NULL THEN
		RETURN '@extschema@.transactions'::regclass;
	END IF;
	resolved := to_regclass(format('%I.%I', configured.source_schema, configured.source_table));
	IF resolved IS NULL THEN
		RAISE EXCEPTION USING ERRCODE = 'undefined_table',
			MESSAGE = format('transaction source %I.%I does not exist', configured.source_schema, configured.source_table),
			HINT = 'Point the refresh at the renamed table with crm.set_transaction_source(), or back to crm.transactions with crm.reset_transaction_source().';
	END IF;
	RETURN @extschema@.check_transaction_source(resolved);
END
$$;
COMMENT ON FUNCTION @extschema@.transaction_source() IS
	'The table or view the next refresh reads sales from, checked. Stable because it reads crm.settings and the catalog.';
-- Churn and lifetime value: the purchase models (BG/NBD, MBG/NBD,
-- Pareto/NBD) and the Gamma-Gamma spend model fitted from the customer
-- facts, stored with their diagnostics and calibration.  How they are
-- fitted, validated and chosen: 76_churn_models.sql.

CREATE TABLE @extschema@.models (
	model_id			bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	kind				text NOT NULL CONSTRAINT models_kind_known CHECK (kind IN ('bgnbd', 'gamma_gamma', 'mbgnbd', 'pareto_nbd')),
	fitted_at			timestamptz NOT NULL DEFAULT clock_timestamp(),
	as_of				timestamptz NOT NULL,
	time_unit			text NOT NULL DEFAULT 'day',
	source				text,
	r					double precision,
	alpha				double precision,
	a					double precision,
	b					double precision,
	p					double precision,
	q					double precision,
	v					double precision,
	log_likelihood		double precision,
	customers			bigint,
	converged			boolean,
	iterations			integer,
	spend_frequency_corr double precision,
	holdout_end			timestamptz,
	s					double precision,
	beta				double precision,
	r_se				double precision,
	alpha_se				double precision,
	a_se				double precision,
	b_se				double precision,
	s_se				double precision,
	beta_se				double precision,
	p_se				double precision,
	q_se				double precision,
	v_se				double precision,
	dropout_log_likelihood_gain double precision
);
COMMENT ON TABLE @extschema@.models IS
	'Every fitted purchase model (BG/NBD, MBG/NBD, Pareto/NBD) and spend model (Gamma-Gamma) with its diagnostics. Time is in days: frequency = repeat purchase days, recency and T in days.';
COMMENT ON COLUMN @extschema@.models.model_id IS 'Model number, increasing.';
COMMENT ON COLUMN @extschema@.models.kind IS 'bgnbd, mbgnbd or pareto_nbd (purchase and dropout process), or gamma_gamma (spend per purchase).';
COMMENT ON COLUMN @extschema@.models.fitted_at IS 'When the model was fitted.';
COMMENT ON COLUMN @extschema@.models.as_of IS 'End of the data the model was fitted on (the calibration end when calibrated).';
COMMENT ON COLUMN @extschema@.models.time_unit IS 'Time unit of recency, T and alpha: day.';
COMMENT ON COLUMN @extschema@.models.source IS 'Sales table or view the facts came from.';
COMMENT ON COLUMN @extschema@.models.r IS 'Purchase models: shape of the purchase-rate gamma distribution.';
COMMENT ON COLUMN @extschema@.models.alpha IS 'Purchase models: scale of the purchase-rate gamma distribution, in days.';
COMMENT ON COLUMN @extschema@.models.a IS 'BG/NBD and MBG/NBD: first shape of the dropout-probability beta distribution.';
COMMENT ON COLUMN @extschema@.models.b IS 'BG/NBD and MBG/NBD: second shape of the dropout-probability beta distribution.';
COMMENT ON COLUMN @extschema@.models.p IS 'Gamma-Gamma: shape of the spend per purchase.';
COMMENT ON COLUMN @extschema@.models.q IS 'Gamma-Gamma: shape of the customers'' spend scale.';
COMMENT ON COLUMN @extschema@.models.v IS 'Gamma-Gamma: rate (gamma) of the customers'' spend scale.';
COMMENT ON COLUMN @extschema@.models.log_likelihood IS 'Maximised log-likelihood.';
COMMENT ON COLUMN @extschema@.models.customers IS 'Customers the model was fitted on.';
COMMENT ON COLUMN @extschema@.models.converged IS 'Whether the optimiser converged; the refresh scores only with converged models.';
COMMENT ON COLUMN @extschema@.models.iterations IS 'Optimiser iterations.';
COMMENT ON COLUMN @extschema@.models.spend_frequency_corr IS 'Gamma-Gamma: correlation of mean spend and frequency over the fitted customers; the model assumes it is near 0.';
COMMENT ON COLUMN @extschema@.models.holdout_end IS 'End of the holdout period when the model was calibrated; see crm.model_calibration and crm.model_validation.';
COMMENT ON COLUMN @extschema@.models.s IS 'Pareto/NBD: shape of the dropout-rate gamma distribution.';
COMMENT ON COLUMN @extschema@.models.beta IS 'Pareto/NBD: scale of the dropout-rate gamma distribution, in days.';
COMMENT ON COLUMN @extschema@.models.r_se IS 'Standard error of r (observed information); NULL where not identified.';
COMMENT ON COLUMN @extschema@.models.alpha_se IS 'Standard error of alpha (observed information); NULL where not identified.';
COMMENT ON COLUMN @extschema@.models.a_se IS 'Standard error of a (observed information); NULL where not identified.';
COMMENT ON COLUMN @extschema@.models.b_se IS 'Standard error of b (observed information); NULL where not identified.';
COMMENT ON COLUMN @extschema@.models.s_se IS 'Standard error of s (observed information); NULL where not identified.';
COMMENT ON COLUMN @extschema@.models.beta_se IS 'Standard error of beta (observed information); NULL where not identified.';
COMMENT ON COLUMN @extschema@.models.p_se IS 'Standard error of p (observed information); NULL where not identified.';
COMMENT ON COLUMN @extschema@.models.q_se IS 'Standard error of q (observed information); NULL where not identified.';
COMMENT ON COLUMN @extschema@.models.v_se IS 'Standard error of v (observed information); NULL where not identified.';
COMMENT ON COLUMN @extschema@.models.dropout_log_likelihood_gain IS 'Purchase models: log-likelihood gain over the NBD fit without dropout; below 3 the data do not identify dropout.';

CREATE TABLE @extschema@.model_calibration (
	model_id			bigint NOT NULL REFERENCES @extschema@.models ON DELETE CASCADE,
	frequency_class		integer NOT NULL,
	customers			bigint NOT NULL,
	actual_repeat_purchases double precision NOT NULL,
	predicted_repeat_purchases double precision,
	PRIMARY KEY (model_id, frequency_class)
);
COMMENT ON TABLE @extschema@.model_calibration IS
	'Holdout check of a calibrated purchase model: per number of repeat purchase days in the calibration period, the mean repeat purchase days actually made in the holdout period and the mean the model predicted.';
COMMENT ON COLUMN @extschema@.model_calibration.model_id IS 'Purchase model (crm.models).';
COMMENT ON COLUMN @extschema@.model_calibration.frequency_class IS 'Repeat purchase days in the calibration period; 7 stands for 7 or more.';
COMMENT ON COLUMN @extschema@.model_calibration.customers IS 'Customers in the class.';
COMMENT ON COLUMN @extschema@.model_calibration.actual_repeat_purchases IS 'Mean purchase days per customer in the holdout period.';
COMMENT ON COLUMN @extschema@.model_calibration.predicted_repeat_purchases IS 'Mean the model predicted for the holdout period.';

-- The model the refresh scores with: the latest converged one of a kind.
CREATE FUNCTION @extschema@.current_model_id(kind text)
RETURNS bigint
LANGUAGE sql STABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
	SELECT max(m.model_id) FROM @extschema@.models AS m
	WHERE m.kind = current_model_id.kind AND m.converged
$$;
COMMENT ON FUNCTION @extschema@.current_model_id(text) IS
	'The latest converged model of a kind (bgnbd or gamma_gamma), NULL when there is none. Stable because it reads crm.models.';
-- Fitting, validating and choosing the purchase model: BG/NBD, MBG/NBD and
-- Pareto/NBD are fitted on a calibration period and checked against what
-- customers did in the holdout (crm.model_validation); the refresh scores
-- with the one crm.settings.churn_model names, or with the best holdout
-- Brier score of the last validation ('auto').

-- The purchase models and the columns of crm.models their parameters go
-- to, in the order of their constructor's arguments.
CREATE FUNCTION @extschema@.purchase_model_parameters(kind text)
RETURNS text[]
LANGUAGE sql IMMUTABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
	SELECT CASE kind
		WHEN 'bgnbd' THEN ARRAY['r', 'alpha', 'a', 'b']
		WHEN 'mbgnbd' THEN ARRAY['r', 'alpha', 'a', 'b']
		WHEN 'pareto_nbd' THEN ARRAY['r', 'alpha', 's', 'beta']
	END
$$;
COMMENT ON FUNCTION @extschema@.purchase_model_parameters(text) IS
	'The parameters of a purchase model kind (bgnbd, mbgnbd, pareto_nbd), in the order of its constructor crm.<kind>_model(); NULL for any other kind.';

CREATE FUNCTION @extschema@.purchase_model_kinds()
RETURNS text[]
LANGUAGE sql IMMUTABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
	SELECT ARRAY['bgnbd', 'mbgnbd', 'pareto_nbd']
$$;
COMMENT ON FUNCTION @extschema@.purchase_model_kinds() IS
	'The purchase models crm.fit_models() fits and validates: bgnbd, mbgnbd, pareto_nbd.';

-- SQL of the model composite of a crm.models row aliased "alias", e.g.
-- crm.bgnbd_model(m.r, m.alpha, m.a, m.b).
CREATE FUNCTION @extschema@.purchase_model_expression(kind text, alias text)
RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
	SELECT format('@extschema@.%I(%s)', kind || '_model',
				  (SELECT string_agg(format('%I.%I', alias, p), ', ' ORDER BY i)
				   FROM unnest(@extschema@.purchase_model_parameters(kind)) WITH ORDINALITY AS u(p, i)))
$$;
COMMENT ON FUNCTION @extschema@.purchase_model_expression(text, text) IS
	'Internal: the SQL expression building the model composite of kind from the crm.models row aliased alias.';

ALTER TABLE @extschema@.settings
	ADD COLUMN churn_model text NOT NULL DEFAULT 'auto';
COMMENT ON COLUMN @extschema@.settings.churn_model IS
	'Purchase model the refresh scores churn, expected purchases and CLV with: bgnbd, mbgnbd, pareto_nbd, or auto (default) = the model with the lowest holdout Brier score in the last validation of crm.fit_models(as_of, calibration_end) (lowest AIC on ties), bgnbd before any validation. See crm.churn_model_choice.';

CREATE FUNCTION @extschema@.settings_churn_model_check()
RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	IF NOT (NEW.churn_model = 'auto' OR NEW.churn_model = ANY (@extschema@.purchase_model_kinds())) THEN
		PERFORM @extschema@.config_error(
			format('churn_model must be auto, bgnbd, mbgnbd or pareto_nbd, not %L', @extschema@.message_excerpt(NEW.churn_model)),
			'auto scores with the model that predicted the last holdout best (crm.fit_models(as_of, calibration_end) validates them).');
	END IF;
	RETURN NEW;
END
$$;
COMMENT ON FUNCTION @extschema@.settings_churn_model_check() IS 'Trigger: validates crm.settings.churn_model.';

CREATE TRIGGER settings_churn_model_check BEFORE INSERT OR UPDATE ON @extschema@.settings
	FOR EACH ROW EXECUTE FUNCTION @extschema@.settings_churn_model_check();

CREATE TABLE @extschema@.model_validation (
	model_id			bigint PRIMARY KEY REFERENCES @extschema@.models ON DELETE CASCADE,
	validation_id		bigint NOT NULL,
	kind				text NOT NULL,
	calibration_end		timestamptz NOT NULL,
	holdout_end			timestamptz NOT NULL,
	holdout_days		double precision NOT NULL,
	holdout_customers	bigint NOT NULL,
	actual_repeat_purchases double precision NOT NULL,
	predicted_repeat_purchases double precision,
	churn_auc			double precision,
	brier_score			double precision,
	log_likelihood		double precision,
	parameters			integer NOT NULL,
	aic					double precision,
	bic					double precision
);
COMMENT ON TABLE @extschema@.model_validation IS
	'Holdout check of every purchase model crm.fit_models(as_of, calibration_end) fitted on the calibration period: how well it predicted what the customers did in (calibration_end, as_of]. One row per model; the models of one call share validation_id.';
COMMENT ON COLUMN @extschema@.model_validation.model_id IS 'The calibrated model (crm.models).';
COMMENT ON COLUMN @extschema@.model_validation.validation_id IS 'One number per crm.fit_models() call, increasing: the last validation has the largest.';
COMMENT ON COLUMN @extschema@.model_validation.kind IS 'bgnbd, mbgnbd or pareto_nbd.';
COMMENT ON COLUMN @extschema@.model_validation.calibration_end IS 'End of the calibration period the model was fitted on.';
COMMENT ON COLUMN @extschema@.model_validation.holdout_end IS 'End of the holdout period (the as_of of crm.fit_models).';
COMMENT ON COLUMN @extschema@.model_validation.holdout_days IS 'Length of the holdout period in days: the horizon of the churn risk scored.';
COMMENT ON COLUMN @extschema@.model_validation.holdout_customers IS 'Customers with a purchase in the calibration period: those scored.';
COMMENT ON COLUMN @extschema@.model_validation.actual_repeat_purchases IS 'Purchase days they made in the holdout period, in total.';
COMMENT ON COLUMN @extschema@.model_validation.predicted_repeat_purchases IS 'Purchase days the model expected them to make there, in total.';
COMMENT ON COLUMN @extschema@.model_validation.churn_auc IS 'Area under the ROC curve of the churn risk over the holdout against "made no purchase in the holdout": the probability that a random such customer has a higher risk than a random buyer (ties count half); 0.5 is chance, 1 perfect. NULL when everyone or no one bought.';
COMMENT ON COLUMN @extschema@.model_validation.brier_score IS 'Mean squared difference between the churn risk over the holdout and 1 for no purchase / 0 for a purchase; lower is better, 0.25 is a constant 50 % guess.';
COMMENT ON COLUMN @extschema@.model_validation.log_likelihood IS 'Log-likelihood of the calibration fit.';
COMMENT ON COLUMN @extschema@.model_validation.parameters IS 'Parameters of the model: 4.';
COMMENT ON COLUMN @extschema@.model_validation.aic IS 'Akaike information criterion of the calibration fit, 2 parameters - 2 log_likelihood; lower is better.';
COMMENT ON COLUMN @extschema@.model_validation.bic IS 'Bayesian information criterion, ln(customers) parameters - 2 log_likelihood; lower is better.';

CREATE SEQUENCE @extschema@.model_validation_id_seq;
COMMENT ON SEQUENCE @extschema@.model_validation_id_seq IS 'Numbers the crm.fit_models() calls that validate.';

-- Fits the given purchase models and Gamma-Gamma on the facts in
-- pg_temp.refresh_facts (see crm.build_facts) and stores them.  A model
-- that cannot be fitted (no customer, no repeat customer) is not stored.
CREATE OR REPLACE FUNCTION @extschema@.fit_models_from_facts(as_of timestamptz, source text, purchase_kinds text[])
RETURNS TABLE (kind text, model_id bigint)
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	purchase_kind text;
	params text[];
	fitted bigint;
BEGIN
	FOREACH purchase_kind IN ARRAY purchase_kinds LOOP
		params := @extschema@.purchase_model_parameters(purchase_kind);
		EXECUTE format(
			'INSERT INTO @extschema@.models (kind, as_of, source, %s, log_likelihood, customers, converged, iterations,
											 dropout_log_likelihood_gain)
			 SELECT $1, $2, $3, %s, (s.m).log_likelihood, (s.m).customers, (s.m).converged, (s.m).iterations,
					(s.m).dropout_log_likelihood_gain
			 FROM (SELECT @extschema@.%I(f.btyd_frequency, f.btyd_recency, f.btyd_t) AS m
				   FROM pg_temp.refresh_facts AS f WHERE f.orders > 0) AS s
			 WHERE (s.m).r IS NOT NULL
			 RETURNING model_id',
			(SELECT string_agg(format('%I, %I', p, p || '_se'), ', ') FROM unnest(params) AS p),
			(SELECT string_agg(format('(s.m).%I, (s.m).%I', p, p || '_se'), ', ') FROM unnest(params) AS p),
			purchase_kind || '_fit')
		INTO fitted USING purchase_kind, fit_models_from_facts.as_of, fit_models_from_facts.source;
		IF fitted IS NOT NULL THEN
			kind := purchase_kind;
			model_id := fitted;
			RETURN NEXT;
		END IF;
	END LOOP;

	INSERT INTO @extschema@.models AS m (kind, as_of, source, p, q, v, log_likelihood, customers, converged, spend_frequency_corr,
										 p_se, q_se, v_se)
	SELECT 'gamma_gamma', fit_models_from_facts.as_of, fit_models_from_facts.source,
		   (s.m).p, (s.m).q, (s.m).v, (s.m).log_likelihood, (s.m).customers, (s.m).converged, (s.m).spend_frequency_corr,
		   (s.m).p_se, (s.m).q_se, (s.m).v_se
	FROM (SELECT @extschema@.gamma_gamma_fit(f.btyd_frequency, f.avg_repeat_spend) AS m
		  FROM pg_temp.refresh_facts AS f WHERE f.btyd_frequency > 0 AND f.avg_repeat_spend > 0) AS s
	WHERE (s.m).p IS NOT NULL
	RETURNING m.model_id INTO fitted;
	IF fitted IS NOT NULL THEN
		kind := 'gamma_gamma';
		model_id := fitted;
		RETURN NEXT;
	END IF;
END
$$;
COMMENT ON FUNCTION @extschema@.fit_models_from_facts(timestamptz, text, text[]) IS
	'Internal: fits and stores the purchase models of purchase_kinds and Gamma-Gamma from the facts of crm.build_facts; returns the kinds and ids of those that could be fitted.';

-- The holdout check of one calibrated purchase model, on the calibration
-- facts in pg_temp.refresh_facts and the holdout purchase days in
-- pg_temp.holdout_purchases.
CREATE OR REPLACE FUNCTION @extschema@.validate_model(model_id bigint, validation_id bigint,
													  calibration_end timestamptz, holdout_end timestamptz)
RETURNS void
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	model_kind text := (SELECT m.kind FROM @extschema@.models AS m WHERE m.model_id = validate_model.model_id);
	horizon double precision := extract(epoch FROM holdout_end - calibration_end) / 86400;
BEGIN
	DROP TABLE IF EXISTS pg_temp.validation_scores;
	EXECUTE format(
		'CREATE TEMP TABLE validation_scores ON COMMIT DROP AS
		 SELECT f.btyd_frequency, coalesce(h.purchase_days, 0) AS purchase_days,
				@extschema@.expected_purchases($2, f.btyd_frequency, f.btyd_recency, f.btyd_t, %1$s) AS predicted,
				@extschema@.churn_risk($2, f.btyd_frequency, f.btyd_recency, f.btyd_t, %1$s) AS risk
		 FROM pg_temp.refresh_facts AS f
		 JOIN @extschema@.models AS m ON m.model_id = $1
		 LEFT JOIN pg_temp.holdout_purchases AS h USING (customer_id)
		 WHERE f.orders > 0', @extschema@.purchase_model_expression(model_kind, 'm'))
	USING validate_model.model_id, horizon;

	INSERT INTO @extschema@.model_calibration
	SELECT validate_model.model_id, least(v.btyd_frequency, 7), count(*), avg(v.purchase_days), avg(v.predicted)
	FROM pg_temp.validation_scores AS v GROUP BY 2;

	-- AUC by the rank-sum (Mann-Whitney) statistic with mid-ranks for ties.
	INSERT INTO @extschema@.model_validation
	SELECT validate_model.model_id, validate_model.validation_id, model_kind,
		   validate_model.calibration_end, validate_model.holdout_end, horizon,
		   count(*), sum(r.purchase_days), sum(r.predicted),
		   (sum(r.mid_rank) FILTER (WHERE r.churned) - count(*) FILTER (WHERE r.churned) * (count(*) FILTER (WHERE r.churned) + 1) / 2.0)
			   / nullif(count(*) FILTER (WHERE r.churned) * count(*) FILTER (WHERE NOT r.churned), 0),
		   avg((r.risk - r.churned::int) ^ 2),
		   m.log_likelihood, 4, 8 - 2 * m.log_likelihood, 4 * ln(m.customers) - 2 * m.log_likelihood
	FROM (SELECT v.*, v.purchase_days = 0 AS churned,
				 rank() OVER (ORDER BY v.risk) + (count(*) OVER (PARTITION BY v.risk) - 1) / 2.0 AS mid_rank
		  FROM pg_temp.validation_scores AS v) AS r
	JOIN @extschema@.models AS m ON m.model_id = validate_model.model_id
	GROUP BY m.log_likelihood, m.customers;
	DROP TABLE pg_temp.validation_scores;
END
$$;
COMMENT ON FUNCTION @extschema@.validate_model(bigint, bigint, timestamptz, timestamptz) IS
	'Internal: stores the holdout check of a calibrated purchase model in crm.model_calibration and crm.model_validation.';

CREATE OR REPLACE FUNCTION @extschema@.fit_models(as_of timestamptz DEFAULT now(), calibration_end timestamptz DEFAULT NULL)
RETURNS SETOF @extschema@.models
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	source_relation regclass := @extschema@.transaction_source();
	fit_end timestamptz := coalesce(calibration_end, as_of);
	fitted_ids bigint[];
	validation bigint;
	fitted record;
BEGIN
	IF as_of IS NULL OR NOT isfinite(as_of) THEN
		RAISE EXCEPTION USING ERRCODE = 'invalid_parameter_value',
			MESSAGE = format('as_of must be a finite timestamp, not %s', coalesce(as_of::text, 'NULL')),
			HINT = 'Give the end of the data to fit on, e.g. crm.fit_models(''2011-12-10'').';
	END IF;
	IF calibration_end IS NOT NULL AND NOT (calibration_end < as_of AND isfinite(calibration_end)) THEN
		RAISE EXCEPTION USING ERRCODE = 'invalid_parameter_value',
			MESSAGE = format('calibration_end must be a finite timestamp before as_of %s, not %s', as_of, calibration_end),
			HINT = 'The models are fitted on the data up to calibration_end and checked against the purchases between calibration_end and as_of.';
	END IF;

	PERFORM @extschema@.build_facts(fit_end, source_relation);
	CREATE TEMP TABLE fitted_models ON COMMIT DROP AS
	SELECT * FROM @extschema@.fit_models_from_facts(fit_end, source_relation::text, @extschema@.purchase_model_kinds());
	fitted_ids := ARRAY(SELECT f.model_id FROM pg_temp.fitted_models AS f);

	IF calibration_end IS NOT NULL THEN
		UPDATE @extschema@.models AS m SET holdout_end = fit_models.as_of WHERE m.model_id = ANY (fitted_ids);
		-- Holdout purchase days are counted like the facts count them:
		-- 24-hour periods back from the end of the period.
		EXECUTE format(
			'CREATE TEMP TABLE holdout_purchases ON COMMIT DROP AS
			 SELECT s.customer_id::bigint AS customer_id,
					count(DISTINCT floor(extract(epoch FROM $2 - s.occurred_at) / 86400)) AS purchase_days
			 FROM %s AS s
			 WHERE s.customer_id IS NOT NULL AND s.amount > 0
			   AND s.occurred_at > $1 AND s.occurred_at <= $2
			 GROUP BY 1', source_relation)
		USING calibration_end, fit_models.as_of;
		ANALYZE pg_temp.holdout_purchases;
		validation := nextval('@extschema@.model_validation_id_seq');
		FOR fitted IN SELECT * FROM pg_temp.fitted_models AS f WHERE f.kind <> 'gamma_gamma' ORDER BY f.model_id LOOP
			PERFORM @extschema@.validate_model(fitted.model_id, validation, calibration_end, fit_models.as_of);
		END LOOP;
		DROP TABLE pg_temp.holdout_purchases;
	END IF;
	DROP TABLE pg_temp.fitted_models;

	RETURN QUERY SELECT * FROM @extschema@.models AS m
		WHERE m.model_id = ANY (fitted_ids)
		ORDER BY m.model_id;
END
$$;
COMMENT ON FUNCTION @extschema@.fit_models(timestamptz, timestamptz) IS
	'Fits BG/NBD, MBG/NBD, Pareto/NBD and Gamma-Gamma on every customer''s facts as of as_of (days as the time unit) and stores them in crm.models. With calibration_end, fits on the data up to calibration_end and stores the holdout check of (calibration_end, as_of] of each purchase model in crm.model_calibration and crm.model_validation (the churn_model = auto choice reads the last one). Returns the stored models.';

-- The purchase model the refresh scores with, and why.
CREATE FUNCTION @extschema@.churn_model_choice(OUT kind text, OUT reason text, OUT validation_id bigint)
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	setting text := (SELECT s.churn_model FROM @extschema@.settings AS s);
BEGIN
	IF setting <> 'auto' THEN
		kind := setting;
		reason := format('crm.settings.churn_model = %s', setting);
		RETURN;
	END IF;
	SELECT v.kind, format('auto: lowest holdout Brier score (%s) of validation %s, holdout %s to %s',
						  round(v.brier_score::numeric, 4), v.validation_id,
						  to_char(v.calibration_end, 'YYYY-MM-DD HH24:MI TZ'),
						  to_char(v.holdout_end, 'YYYY-MM-DD HH24:MI TZ')),
		   v.validation_id
	INTO kind, reason, validation_id
	FROM @extschema@.model_validation AS v
	JOIN @extschema@.models AS m USING (model_id)
	WHERE v.validation_id = (SELECT max(l.validation_id) FROM @extschema@.model_validation AS l)
	  AND m.converged AND v.brier_score IS NOT NULL
	ORDER BY v.brier_score, v.aic, v.kind
	LIMIT 1;
	IF kind IS NULL THEN
		kind := 'bgnbd';
		reason := 'auto: no validation yet (crm.fit_models(as_of, calibration_end) makes one), so bgnbd';
	END IF;
END
$$;
COMMENT ON FUNCTION @extschema@.churn_model_choice() IS
	'The purchase model kind the refresh scores with and why: crm.settings.churn_model, or for auto the converged model with the lowest holdout Brier score of the last validation (ties: lower AIC), bgnbd when there is none. Stable because it reads tables.';

CREATE VIEW @extschema@.model_validation_report AS
SELECT v.validation_id, v.kind, v.model_id, v.calibration_end, v.holdout_end,
	   round(v.holdout_days::numeric, 2)::numeric(10,2) AS holdout_days, v.holdout_customers,
	   round(v.actual_repeat_purchases::numeric, 1)::numeric(16,1) AS actual_repeat_purchases,
	   round(v.predicted_repeat_purchases::numeric, 1)::numeric(16,1) AS predicted_repeat_purchases,
	   round(v.churn_auc::numeric, 4)::numeric(7,4) AS churn_auc, round(v.brier_score::numeric, 4)::numeric(7,4) AS brier_score,
	   round(v.log_likelihood::numeric, 2)::numeric(18,2) AS log_likelihood,
	   round(v.aic::numeric, 2)::numeric(18,2) AS aic, round(v.bic::numeric, 2)::numeric(18,2) AS bic,
	   m.converged,
	   v.validation_id = (SELECT max(l.validation_id) FROM @extschema@.model_validation AS l) AS latest,
	   v.kind = (SELECT c.kind FROM @extschema@.churn_model_choice() AS c) AND
	   v.validation_id = (SELECT max(l.validation_id) FROM @extschema@.model_validation AS l) AS chosen
FROM @extschema@.model_validation AS v
JOIN @extschema@.models AS m USING (model_id);
COMMENT ON VIEW @extschema@.model_validation_report IS
	'Every holdout validation of the purchase models, one row per model, for BI tools: how well each predicted the holdout purchases and who would not buy. chosen marks the model the refresh scores with when it comes from the latest validation.';
COMMENT ON COLUMN @extschema@.model_validation_report.validation_id IS 'Validation (one crm.fit_models call); the largest is the latest.';
COMMENT ON COLUMN @extschema@.model_validation_report.kind IS 'bgnbd, mbgnbd or pareto_nbd.';
COMMENT ON COLUMN @extschema@.model_validation_report.model_id IS 'The calibrated model (crm.model_diagnostics).';
COMMENT ON COLUMN @extschema@.model_validation_report.calibration_end IS 'End of the calibration period.';
COMMENT ON COLUMN @extschema@.model_validation_report.holdout_end IS 'End of the holdout period.';
COMMENT ON COLUMN @extschema@.model_validation_report.holdout_days IS 'Length of the holdout in days, the horizon of the churn risk.';
COMMENT ON COLUMN @extschema@.model_validation_report.holdout_customers IS 'Customers scored.';
COMMENT ON COLUMN @extschema@.model_validation_report.actual_repeat_purchases IS 'Purchase days made in the holdout, in total.';
COMMENT ON COLUMN @extschema@.model_validation_report.predicted_repeat_purchases IS 'Purchase days the model expected, in total.';
COMMENT ON COLUMN @extschema@.model_validation_report.churn_auc IS 'Area under the ROC curve of the churn risk against no purchase in the holdout: 0.5 is chance, 1 perfect.';
COMMENT ON COLUMN @extschema@.model_validation_report.brier_score IS 'Mean squared error of the churn risk as a probability of no purchase; lower is better.';
COMMENT ON COLUMN @extschema@.model_validation_report.log_likelihood IS 'Log-likelihood of the calibration fit.';
COMMENT ON COLUMN @extschema@.model_validation_report.aic IS 'Akaike information criterion; lower is better.';
COMMENT ON COLUMN @extschema@.model_validation_report.bic IS 'Bayesian information criterion; lower is better.';
COMMENT ON COLUMN @extschema@.model_validation_report.converged IS 'Whether the calibration fit converged (auto chooses only converged models).';
COMMENT ON COLUMN @extschema@.model_validation_report.latest IS 'From the latest validation.';
COMMENT ON COLUMN @extschema@.model_validation_report.chosen IS 'The model kind the refresh scores with, in the latest validation.';

-- Rights and dump registration of the objects above.
REVOKE EXECUTE ON FUNCTION @extschema@.fit_models_from_facts(timestamptz, text, text[]),
	@extschema@.validate_model(bigint, bigint, timestamptz, timestamptz) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION @extschema@.fit_models_from_facts(timestamptz, text, text[]),
	@extschema@.validate_model(bigint, bigint, timestamptz, timestamptz) TO crm_admin;
GRANT SELECT ON @extschema@.model_validation, @extschema@.model_validation_report TO crm_analyst;
GRANT SELECT ON @extschema@.model_validation_report TO crm_admin;
GRANT SELECT, INSERT, UPDATE, DELETE, TRUNCATE ON @extschema@.model_validation TO crm_admin;
GRANT USAGE, SELECT ON @extschema@.model_validation_id_seq TO crm_admin;
SELECT pg_catalog.pg_extension_config_dump('@extschema@.model_validation', '');
SELECT pg_catalog.pg_extension_config_dump('@extschema@.model_validation_id_seq', '');
-- Progress of long work, readable from any session while it runs (the
-- refresh, the tier review; src/progress.c says how), and the time each stage of past runs
-- took, from which the view estimates the time left.

CREATE FUNCTION @extschema@.progress_start(command text, run_id bigint, stages integer)
RETURNS void
AS 'MODULE_PATHNAME', 'progress_start'
LANGUAGE C VOLATILE;
COMMENT ON FUNCTION @extschema@.progress_start(text, bigint, integer) IS
	'Internal: this session starts a run of the named work (such as ''full refresh''), with the given number of stages; crm.progress shows it from now on.';

CREATE FUNCTION @extschema@.progress_stage(stage_number integer, stage text, rows_expected bigint)
RETURNS void
AS 'MODULE_PATHNAME', 'progress_stage'
LANGUAGE C VOLATILE;
COMMENT ON FUNCTION @extschema@.progress_stage(integer, text, bigint) IS
	'Internal: the run of this session enters a stage (1 to stages), with the rows it expects to handle (NULL: not known).';

CREATE FUNCTION @extschema@.progress_rows(rows_done bigint)
RETURNS void
AS 'MODULE_PATHNAME', 'progress_rows'
LANGUAGE C VOLATILE;
COMMENT ON FUNCTION @extschema@.progress_rows(bigint) IS
	'Internal: rows of the current stage done so far.';

CREATE FUNCTION @extschema@.progress_count(value bigint)
RETURNS bigint
AS 'MODULE_PATHNAME', 'progress_count'
LANGUAGE C VOLATILE STRICT PARALLEL RESTRICTED;
COMMENT ON FUNCTION @extschema@.progress_count(bigint) IS
	'Internal: returns its argument and counts it as a row done in the current stage of this session''s run (published every 4,096 rows); a query marks the rows it works through by passing a column through it.';

CREATE FUNCTION @extschema@.progress_finish()
RETURNS void
AS 'MODULE_PATHNAME', 'progress_finish'
LANGUAGE C VOLATILE;
COMMENT ON FUNCTION @extschema@.progress_finish() IS
	'Internal: the run of this session is over; an aborted transaction ends it too.';

CREATE FUNCTION @extschema@.progress_entries(OUT pid integer, OUT command text, OUT run_id bigint, OUT stage text,
											 OUT stage_number integer, OUT stages integer, OUT rows_done bigint,
											 OUT rows_expected bigint, OUT started_at timestamptz,
											 OUT stage_started_at timestamptz)
RETURNS SETOF record
AS 'MODULE_PATHNAME', 'progress_entries'
LANGUAGE C VOLATILE PARALLEL SAFE ROWS 4;
COMMENT ON FUNCTION @extschema@.progress_entries() IS
	'The runs in progress in this database, one row per session, as reported by their sessions; crm.progress adds elapsed time and the estimate of time left.';

CREATE TABLE @extschema@.work_stages (
	command				text NOT NULL,
	run_id				bigint NOT NULL,
	stage_number		integer NOT NULL CHECK (stage_number >= 1),
	stage				text NOT NULL,
	rows_expected		bigint,
	rows_done			bigint,
	started_at			timestamptz NOT NULL,
	finished_at			timestamptz NOT NULL,
	PRIMARY KEY (command, run_id, stage_number)
);
COMMENT ON TABLE @extschema@.work_stages IS
	'Every stage of every finished run of long work (the refresh, the tier review), committed with the run: where its time went, and the basis of crm.progress''s estimate of time left.';
COMMENT ON COLUMN @extschema@.work_stages.command IS 'The work: ''full refresh'', ''incremental refresh'' or ''tier review''.';
COMMENT ON COLUMN @extschema@.work_stages.run_id IS 'The run: crm.refresh_runs.run_id for a refresh, crm.loyalty_runs.run_id for a tier review (one per program).';
COMMENT ON COLUMN @extschema@.work_stages.stage_number IS 'Position of the stage in the run, from 1.';
COMMENT ON COLUMN @extschema@.work_stages.stage IS 'The stage: for a refresh facts, scores, models, publish; for a tier review members.';
COMMENT ON COLUMN @extschema@.work_stages.rows_expected IS 'Rows the stage expected when it started (the sales source''s estimated size for the facts, the customers after it); NULL when not known.';
COMMENT ON COLUMN @extschema@.work_stages.rows_done IS 'Rows the stage produced.';
COMMENT ON COLUMN @extschema@.work_stages.started_at IS 'When the stage started.';
COMMENT ON COLUMN @extschema@.work_stages.finished_at IS 'When the stage finished.';

-- The stage just finished, recorded from what this session reports.
CREATE FUNCTION @extschema@.progress_stage_done(rows_done bigint)
RETURNS void
LANGUAGE sql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
	INSERT INTO @extschema@.work_stages
	SELECT p.command, p.run_id, p.stage_number, p.stage, p.rows_expected, progress_stage_done.rows_done,
		   p.stage_started_at, clock_timestamp()
	FROM @extschema@.progress_entries() AS p
	WHERE p.pid = pg_backend_pid() AND p.stage_number >= 1
$$;
COMMENT ON FUNCTION @extschema@.progress_stage_done(bigint) IS
	'Internal: records the stage the run of this session just finished in crm.work_stages.';

-- Time left: the stages still to come, and what remains of the current
-- one, each as long as in the last finished run of the same work, scaled
-- by the rows the current stage expects against that run's.
CREATE VIEW @extschema@.progress AS
SELECT p.pid, p.command, p.run_id, p.stage, p.stage_number, p.stages, p.rows_done, p.rows_expected,
	   p.started_at, p.stage_started_at,
	   round(extract(epoch FROM clock_timestamp() - p.started_at), 1)::numeric(12,1) AS elapsed_seconds,
	   round(extract(epoch FROM clock_timestamp() - p.stage_started_at), 1)::numeric(12,1) AS stage_elapsed_seconds,
	   round((greatest(0, basis.this_seconds * basis.scale - extract(epoch FROM clock_timestamp() - p.stage_started_at))
			  + basis.later_seconds * basis.scale)::numeric, 1)::numeric(12,1) AS estimated_seconds_left,
	   basis.run_id AS estimate_from_run_id
FROM @extschema@.progress_entries() AS p
LEFT JOIN LATERAL (
	SELECT s.run_id,
		   coalesce(sum(extract(epoch FROM s.finished_at - s.started_at)) FILTER (WHERE s.stage_number > p.stage_number), 0) AS later_seconds,
		   coalesce(sum(extract(epoch FROM s.finished_at - s.started_at)) FILTER (WHERE s.stage_number = p.stage_number), 0) AS this_seconds,
		   coalesce(max(p.rows_expected::numeric / nullif(s.rows_expected, 0)) FILTER (WHERE s.stage_number = p.stage_number), 1) AS scale
	FROM @extschema@.work_stages AS s
	WHERE s.command = p.command
	  AND s.run_id = (SELECT max(l.run_id) FROM @extschema@.work_stages AS l
					  WHERE l.command = p.command AND l.run_id <> p.run_id AND l.stage_number = p.stages)
	GROUP BY s.run_id
) AS basis ON true;
COMMENT ON VIEW @extschema@.progress IS
	'Long work running now (a full or incremental refresh, a tier review), one row per session, in the manner of pg_stat_progress_*: its stage, rows, elapsed time and an estimate of the time left. Readable from any session while the run''s own transaction is still open.';
COMMENT ON COLUMN @extschema@.progress.pid IS 'Process id of the session running it (pg_stat_activity.pid).';
COMMENT ON COLUMN @extschema@.progress.command IS 'The work: ''full refresh'', ''incremental refresh'' or ''tier review''.';
COMMENT ON COLUMN @extschema@.progress.run_id IS 'The run: crm.refresh_runs.run_id for a refresh, crm.loyalty_runs.run_id for a tier review (one per program).';
COMMENT ON COLUMN @extschema@.progress.stage IS 'The current stage: for a refresh facts, scores, models, publish; for a tier review members.';
COMMENT ON COLUMN @extschema@.progress.stage_number IS 'Position of the current stage, from 1.';
COMMENT ON COLUMN @extschema@.progress.stages IS 'Number of stages of the run.';
COMMENT ON COLUMN @extschema@.progress.rows_done IS 'Rows of the current stage done so far, where the stage counts them (a refresh''s publish stage and a tier review do); 0 until the stage ends otherwise.';
COMMENT ON COLUMN @extschema@.progress.rows_expected IS 'Rows the current stage expects; NULL when not known.';
COMMENT ON COLUMN @extschema@.progress.started_at IS 'When the run started.';
COMMENT ON COLUMN @extschema@.progress.stage_started_at IS 'When the current stage started.';
COMMENT ON COLUMN @extschema@.progress.elapsed_seconds IS 'Seconds since the run started.';
COMMENT ON COLUMN @extschema@.progress.stage_elapsed_seconds IS 'Seconds since the current stage started.';
COMMENT ON COLUMN @extschema@.progress.estimated_seconds_left IS 'Estimated seconds until the run ends: the rest of the current stage and the stages to come as long as in the last finished run of the same work (estimate_from_run_id), scaled by the rows the stage expects; NULL before any run of this work finished.';
COMMENT ON COLUMN @extschema@.progress.estimate_from_run_id IS 'The finished run the estimate is based on; NULL when there is none.';

REVOKE EXECUTE ON FUNCTION @extschema@.progress_start(text, bigint, integer),
	@extschema@.progress_stage(integer, text, bigint), @extschema@.progress_rows(bigint),
	@extschema@.progress_count(bigint), @extschema@.progress_finish(), @extschema@.progress_stage_done(bigint),
	@extschema@.progress_entries() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION @extschema@.progress_start(text, bigint, integer),
	@extschema@.progress_stage(integer, text, bigint), @extschema@.progress_rows(bigint),
	@extschema@.progress_count(bigint), @extschema@.progress_finish(), @extschema@.progress_stage_done(bigint) TO crm_admin;
GRANT EXECUTE ON FUNCTION @extschema@.progress_entries() TO crm_admin, crm_analyst;
GRANT SELECT ON @extschema@.progress, @extschema@.work_stages TO crm_admin, crm_analyst;
GRANT INSERT, UPDATE, DELETE, TRUNCATE ON @extschema@.work_stages TO crm_admin;
SELECT pg_catalog.pg_extension_config_dump('@extschema@.work_stages', '');
-- The segment refresh's tables: the run log and the break points.  The
-- snapshot and the history are in 83_snapshots.sql, the refresh in
-- 81_refresh.sql.

CREATE TABLE @extschema@.refresh_runs (
	run_id				bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	as_of				timestamptz NOT NULL,
	status				text NOT NULL DEFAULT 'running'
		CONSTRAINT refresh_runs_status_known CHECK (status IN ('running', 'succeeded', 'failed')),
	stage				text NOT NULL DEFAULT 'queued',
	rows_done			bigint NOT NULL DEFAULT 0,
	started_at			timestamptz NOT NULL DEFAULT clock_timestamp(),
	finished_at			timestamptz,
	source				text,
	rfm_method			text,
	segment_rule_set	text,
	customers			bigint,
	scored_customers	bigint,
	anonymous_rows		bigint,
	future_rows			bigint,
	error_sqlstate		text,
	error_message		text,
	backend_pid			integer NOT NULL DEFAULT pg_backend_pid(),
	backend_start		timestamptz,
	mode				text CONSTRAINT refresh_runs_mode_known CHECK (mode IN ('full', 'incremental')),
	settings_fingerprint text
);
COMMENT ON TABLE @extschema@.refresh_runs IS
	'One row per call of crm.refresh_segments: when, on what, how it went. A run whose backend died is marked failed by the next refresh.';
COMMENT ON COLUMN @extschema@.refresh_runs.run_id IS 'Run number, increasing.';
COMMENT ON COLUMN @extschema@.refresh_runs.as_of IS 'Analysis date the run scored customers at.';
COMMENT ON COLUMN @extschema@.refresh_runs.status IS 'running, succeeded or failed.';
COMMENT ON COLUMN @extschema@.refresh_runs.stage IS 'Stage reached: queued, facts, scores, models, publish, done; for a failed run the stage it failed in.';
COMMENT ON COLUMN @extschema@.refresh_runs.rows_done IS 'Rows produced by the last stage that finished.';
COMMENT ON COLUMN @extschema@.refresh_runs.started_at IS 'When the run was called.';
COMMENT ON COLUMN @extschema@.refresh_runs.finished_at IS 'When it succeeded or failed.';
COMMENT ON COLUMN @extschema@.refresh_runs.source IS 'Table or view the sales were read from.';
COMMENT ON COLUMN @extschema@.refresh_runs.rfm_method IS 'Score binning method used.';
COMMENT ON COLUMN @extschema@.refresh_runs.segment_rule_set IS 'Segment rule set used.';
COMMENT ON COLUMN @extschema@.refresh_runs.customers IS 'Rows written to crm.customer_segments.';
COMMENT ON COLUMN @extschema@.refresh_runs.scored_customers IS 'Customers with at least one purchase, who get RFM scores.';
COMMENT ON COLUMN @extschema@.refresh_runs.anonymous_rows IS 'Sales rows without a customer_id, left out of customer metrics.';
COMMENT ON COLUMN @extschema@.refresh_runs.future_rows IS 'Sales rows dated after as_of, left out.';
COMMENT ON COLUMN @extschema@.refresh_runs.error_sqlstate IS 'SQLSTATE of the error a failed run stopped on.';
COMMENT ON COLUMN @extschema@.refresh_runs.error_message IS 'Message of the error a failed run stopped on.';
COMMENT ON COLUMN @extschema@.refresh_runs.backend_pid IS 'Process that ran the refresh.';
COMMENT ON COLUMN @extschema@.refresh_runs.backend_start IS 'Start time of that process, to tell it from a later one with the same pid.';
COMMENT ON COLUMN @extschema@.refresh_runs.mode IS 'full (every customer) or incremental (the customers in crm.changed_customers); an incremental call that had to run in full says full. NULL for runs before version 1.1.';
COMMENT ON COLUMN @extschema@.refresh_runs.settings_fingerprint IS 'crm.settings_fingerprint() at the run: an incremental refresh builds on the last full run only while it is unchanged.';

-- Break points each run used, one row per metric.
CREATE TABLE @extschema@.rfm_break_points (
	run_id		bigint NOT NULL REFERENCES @extschema@.refresh_runs ON DELETE CASCADE,
	metric		text NOT NULL,
	method		text NOT NULL,
	break_1		double precision,
	break_2		double precision,
	break_3		double precision,
	break_4		double precision,
	PRIMARY KEY (run_id, metric)
);
COMMENT ON TABLE @extschema@.rfm_break_points IS
	'The break points each refresh scored with. Band = 1 + number of breaks below the value; F and M scores are the band, R is 6 - band. For equal_count the breaks are the values at the group boundaries (ties there are split by customer_id).';
COMMENT ON COLUMN @extschema@.rfm_break_points.run_id IS 'Refresh run.';
COMMENT ON COLUMN @extschema@.rfm_break_points.metric IS 'recency (days), frequency (orders) or monetary (net spend).';
COMMENT ON COLUMN @extschema@.rfm_break_points.method IS 'quantile, equal_count or fixed.';
COMMENT ON COLUMN @extschema@.rfm_break_points.break_1 IS 'Upper bound (inclusive) of band 1.';
COMMENT ON COLUMN @extschema@.rfm_break_points.break_2 IS 'Upper bound (inclusive) of band 2.';
COMMENT ON COLUMN @extschema@.rfm_break_points.break_3 IS 'Upper bound (inclusive) of band 3.';
COMMENT ON COLUMN @extschema@.rfm_break_points.break_4 IS 'Upper bound (inclusive) of band 4.';
-- The segment refresh: per-customer facts in one pass over the sales source,
-- RFM scores, segment, lifecycle stage, churn and value models; published
-- atomically and logged.  Functions only, created with CREATE OR REPLACE:
-- an upgrade script runs this part again to bring them up to date (in an
-- extension script, PostgreSQL refuses to replace an object the extension
-- does not own).

-- Stage progress: in the run row, in crm.work_stages (with the run), in the
-- session (NOTICE) and in the server log.
CREATE OR REPLACE FUNCTION @extschema@.refresh_progress(run_id bigint, stage text, rows_done bigint)
RETURNS void
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	UPDATE @extschema@.refresh_runs AS r
	SET stage = refresh_progress.stage, rows_done = refresh_progress.rows_done
	WHERE r.run_id = refresh_progress.run_id;
	PERFORM @extschema@.progress_stage_done(rows_done);
	RAISE NOTICE 'retail_crm refresh run %: stage %, % rows', run_id, stage, rows_done;
	RAISE LOG 'retail_crm refresh run %: stage %, % rows', run_id, stage, rows_done;
END
$$;
COMMENT ON FUNCTION @extschema@.refresh_progress(bigint, text, bigint) IS
	'Internal: records the stage a refresh reached and reports it to the session and the server log.';

-- First transaction of a refresh: log the run before any work, so that a
-- run whose backend is killed stays visible, and close such runs of the past.
CREATE OR REPLACE FUNCTION @extschema@.refresh_start(as_of timestamptz, mode text DEFAULT 'full')
RETURNS bigint
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	new_run bigint;
BEGIN
	IF as_of IS NULL THEN
		RAISE EXCEPTION USING ERRCODE = 'null_value_not_allowed',
			MESSAGE = 'as_of must not be NULL',
			HINT = 'Call crm.refresh_segments() for now, or give the analysis date, e.g. CALL crm.refresh_segments(''2011-12-10'').';
	END IF;
	IF NOT isfinite(as_of) THEN
		RAISE EXCEPTION USING ERRCODE = 'invalid_parameter_value',
			MESSAGE = format('as_of must be a finite timestamp, not %s', as_of),
			HINT = 'Give the analysis date the scores should describe.';
	END IF;
	IF mode IS NULL OR mode NOT IN ('full', 'incremental') THEN
		RAISE EXCEPTION USING ERRCODE = 'invalid_parameter_value',
			MESSAGE = format('refresh mode must be full or incremental, not %L', @extschema@.message_excerpt(mode)),
			HINT = 'Use CALL crm.refresh_segments(as_of) for a full refresh, or add incremental => true.';
	END IF;

	UPDATE @extschema@.refresh_runs AS r
	SET status = 'failed', finished_at = clock_timestamp(), error_sqlstate = '57P01',
		error_message = 'the backend running this refresh ended before it finished (killed, crashed or server restart)'
	WHERE r.status = 'running'
	  AND NOT EXISTS (SELECT 1 FROM pg_stat_activity AS a
					  WHERE a.pid = r.backend_pid
						AND (a.backend_start IS NULL OR a.backend_start = r.backend_start));

	INSERT INTO @extschema@.refresh_runs (as_of, backend_start, mode)
	SELECT refresh_start.as_of, a.backend_start, refresh_start.mode FROM pg_stat_activity AS a WHERE a.pid = pg_backend_pid()
	RETURNING run_id INTO new_run;
	RETURN new_run;
END
$$;
COMMENT ON FUNCTION @extschema@.refresh_start(timestamptz, text) IS
	'Internal: validates as_of and the mode asked for (full or incremental), marks runs of dead backends failed, logs a new run and returns its id.';

-- Every customer's facts as of a date, in one pass over the sales source,
-- into the temporary table refresh_facts (dropped at commit); only the
-- customers of the temporary table refresh_changed when changed_only.
-- Shared by the refresh and the model fit, which may run in the same
-- transaction.
CREATE OR REPLACE FUNCTION @extschema@.build_facts(as_of timestamptz, source regclass,
										changed_only boolean DEFAULT false,
										OUT anonymous_rows bigint, OUT future_rows bigint,
										OUT customers bigint, OUT scored_customers bigint)
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	IF to_regclass('pg_temp.refresh_facts') IS NOT NULL THEN
		DROP TABLE pg_temp.refresh_facts;
	END IF;
	-- The FILTER keeps anonymous rows out of the facts while the same scan
	-- counts them.
	EXECUTE format(
		'CREATE TEMP TABLE refresh_facts ON COMMIT DROP AS
		 SELECT g.customer_id, g.source_rows, (g.facts).*
		 FROM (SELECT s.customer_id::bigint AS customer_id, count(*) AS source_rows,
					  @extschema@.customer_facts(s.occurred_at, s.amount::numeric, $1)
						FILTER (WHERE s.customer_id IS NOT NULL) AS facts
			   FROM %s AS s %s
			   GROUP BY s.customer_id) AS g', source,
		CASE WHEN changed_only THEN 'WHERE s.customer_id IN (SELECT c.customer_id FROM pg_temp.refresh_changed AS c)' ELSE '' END)
	USING as_of;
	SELECT coalesce(sum(f.source_rows) FILTER (WHERE f.customer_id IS NULL), 0),
		   coalesce(sum(f.future_rows), 0),
		   count(f.customer_id),
		   count(*) FILTER (WHERE f.orders > 0)
	INTO anonymous_rows, future_rows, customers, scored_customers
	FROM pg_temp.refresh_facts AS f;
	DELETE FROM pg_temp.refresh_facts AS f WHERE f.customer_id IS NULL;
	ANALYZE pg_temp.refresh_facts;
END
$$;
COMMENT ON FUNCTION @extschema@.build_facts(timestamptz, regclass, boolean) IS
	'Internal: computes every customer''s crm.customer_facts (or only those of the temporary table refresh_changed) as of a date from a sales source into the temporary table refresh_facts and returns the counts of anonymous, future, customer and scored rows.';

-- Second transaction: build and publish.  Returns NULL on success, or the
-- error as {sqlstate, message, detail, hint} after logging the run as failed.
CREATE OR REPLACE FUNCTION @extschema@.refresh_build(run_id bigint)
RETURNS text[]
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	run record;
	cfg record;
	current_stage text := 'queued';
	source_relation regclass;
	facts record;
	n_customers bigint;
	n_scored bigint;
	n_rows bigint;
	r_breaks double precision[];
	f_breaks double precision[];
	m_breaks double precision[];
	score_inputs text;
	choice record;
	-- the purchase model scored with: one of the three is set, the others
	-- NULL, so that the strict scoring functions skip them
	bgnbd @extschema@.bgnbd_model;
	mbgnbd @extschema@.mbgnbd_model;
	pareto_nbd @extschema@.pareto_nbd_model;
	gamma_gamma @extschema@.gamma_gamma_model;
	base record;
	full_reason text;
	incremental boolean;
	changes_seen pg_snapshot;
	purchase_model_id bigint;
	gamma_gamma_id bigint;
	target_snapshot bigint;		-- the partition the rows go to
	e_state text;
	e_message text;
	e_detail text;
	e_hint text;
BEGIN
	-- One refresh at a time: a second caller waits here until the first commits.
	PERFORM pg_advisory_xact_lock(hashtext('retail_crm.refresh_segments'));

	SELECT * INTO run FROM @extschema@.refresh_runs AS r WHERE r.run_id = refresh_build.run_id;
	SELECT * INTO cfg FROM @extschema@.settings;
	BEGIN
		current_stage := 'facts';
		source_relation := @extschema@.transaction_source();

		-- An incremental run builds on the last full run: its break points,
		-- models and settings.  When it cannot, it runs in full.
		IF run.mode = 'incremental' THEN
			SELECT * INTO base FROM @extschema@.refresh_runs AS r
			WHERE r.status = 'succeeded' AND r.mode = 'full'
			ORDER BY r.run_id DESC LIMIT 1;
			full_reason := CASE
				WHEN base.run_id IS NULL THEN 'no full refresh has succeeded since change tracking began (version 1.1)'
				WHEN base.settings_fingerprint IS DISTINCT FROM @extschema@.settings_fingerprint()
					THEN format('the settings, segment rules or fixed breaks changed since full run %s', base.run_id)
				WHEN source_relation <> '@extschema@.transactions'::regclass
					THEN format('changes are tracked on crm.transactions only, and the sales source is %s', source_relation)
				WHEN run.as_of < base.as_of THEN format('as_of lies before that of full run %s', base.run_id)
				WHEN NOT EXISTS (SELECT 1 FROM @extschema@.published_snapshot) THEN 'no snapshot is published'
			END;
			IF full_reason IS NOT NULL THEN
				RAISE NOTICE 'retail_crm refresh run %: runs in full: %', run_id, full_reason;
				run.mode := 'full';
			END IF;
		END IF;
		incremental := run.mode = 'incremental';
		-- Other sessions follow the run in crm.progress.
		PERFORM @extschema@.progress_start(run.mode || ' refresh', run_id, 4);
		PERFORM @extschema@.progress_stage(1, current_stage,
			(SELECT c.reltuples::bigint FROM pg_class AS c
			 WHERE c.oid = source_relation AND c.relkind = 'r' AND c.reltuples >= 0));
		UPDATE @extschema@.refresh_runs AS r
		SET source = source_relation::text, rfm_method = cfg.rfm_method, segment_rule_set = cfg.segment_rule_set,
			mode = run.mode, settings_fingerprint = @extschema@.settings_fingerprint()
		WHERE r.run_id = refresh_build.run_id;

		-- Queued changes this snapshot sees are covered by this run; later
		-- statements see at least as much, so none is removed unread.
		-- The customers to recompute (none listed in a full run).
		changes_seen := pg_current_snapshot();
		CREATE TEMP TABLE refresh_changed ON COMMIT DROP AS
		SELECT DISTINCT q.customer_id FROM @extschema@.changed_customers AS q WHERE incremental;
		ANALYZE pg_temp.refresh_changed;
		SELECT * INTO facts FROM @extschema@.build_facts(run.as_of, source_relation, incremental);
		run.anonymous_rows := facts.anonymous_rows;
		run.future_rows := facts.future_rows;
		n_customers := facts.customers;
		n_scored := facts.scored_customers;
		PERFORM @extschema@.refresh_progress(run_id, current_stage, n_customers);

		current_stage := 'scores';
		PERFORM @extschema@.progress_stage(2, current_stage, n_customers);
		IF incremental THEN
			-- Scores on the break points of the full run: quantiles describe
			-- the whole population, which one customer's sale barely moves.
			SELECT max(ARRAY[b.break_1, b.break_2, b.break_3, b.break_4]) FILTER (WHERE b.metric = 'recency'),
				   max(ARRAY[b.break_1, b.break_2, b.break_3, b.break_4]) FILTER (WHERE b.metric = 'frequency'),
				   max(ARRAY[b.break_1, b.break_2, b.break_3, b.break_4]) FILTER (WHERE b.metric = 'monetary')
			INTO r_breaks, f_breaks, m_breaks
			FROM @extschema@.rfm_break_points AS b WHERE b.run_id = base.run_id;
			score_inputs := 'f.recency_days, f.orders, f.net_spend';
		ELSIF cfg.rfm_method = 'fixed' THEN
			SELECT max(ARRAY[b.break_1, b.break_2, b.break_3, b.break_4]) FILTER (WHERE b.metric = 'recency'),
				   max(ARRAY[b.break_1, b.break_2, b.break_3, b.break_4]) FILTER (WHERE b.metric = 'frequency'),
				   max(ARRAY[b.break_1, b.break_2, b.break_3, b.break_4]) FILTER (WHERE b.metric = 'monetary')
			INTO r_breaks, f_breaks, m_breaks
			FROM @extschema@.rfm_fixed_breaks AS b;
			IF r_breaks IS NULL OR f_breaks IS NULL OR m_breaks IS NULL THEN
				RAISE EXCEPTION USING ERRCODE = 'invalid_parameter_value',
					MESSAGE = 'crm.rfm_fixed_breaks must have a row for each of recency, frequency and monetary',
					HINT = 'Insert the missing rows, e.g. INSERT INTO crm.rfm_fixed_breaks VALUES (''monetary'', 250, 500, 1000, 2500).';
			END IF;
			score_inputs := 'f.recency_days, f.orders, f.net_spend';
		ELSIF cfg.rfm_method = 'quantile' THEN
			SELECT percentile_disc(ARRAY[0.2, 0.4, 0.6, 0.8]) WITHIN GROUP (ORDER BY f.recency_days::double precision),
				   percentile_disc(ARRAY[0.2, 0.4, 0.6, 0.8]) WITHIN GROUP (ORDER BY f.orders::double precision),
				   percentile_disc(ARRAY[0.2, 0.4, 0.6, 0.8]) WITHIN GROUP (ORDER BY f.net_spend::double precision)
			INTO r_breaks, f_breaks, m_breaks
			FROM pg_temp.refresh_facts AS f WHERE f.orders > 0;
			score_inputs := 'f.recency_days, f.orders, f.net_spend';
		ELSE
			-- equal_count: score ranks instead of values.  Breaks at the NTILE(5)
			-- group ends: the first n % 5 groups hold one customer more.
			SELECT array_agg(k * (n_scored / 5) + least(k, n_scored % 5) ORDER BY k)
			INTO r_breaks FROM generate_series(1, 4) AS k;
			f_breaks := r_breaks;
			m_breaks := r_breaks;
			score_inputs :=
				'CASE WHEN f.orders > 0 THEN row_number() OVER (PARTITION BY f.orders > 0 ORDER BY f.recency_days, f.customer_id) END,
				 CASE WHEN f.orders > 0 THEN row_number() OVER (PARTITION BY f.orders > 0 ORDER BY f.orders, f.customer_id DESC) END,
				 CASE WHEN f.orders > 0 THEN row_number() OVER (PARTITION BY f.orders > 0 ORDER BY f.net_spend, f.customer_id DESC) END';
		END IF;

		-- OFFSET 0 keeps the planner from expanding (scores).* into one
		-- rfm_score call per column.
		EXECUTE format(
			'CREATE TEMP TABLE refresh_scored ON COMMIT DROP AS
			 SELECT sc.customer_id, sc.r_input, sc.f_input, sc.m_input, (sc.scores).*
			 FROM (SELECT i.*, @extschema@.rfm_score(i.r_input, i.f_input, i.m_input, $1, $2, $3) AS scores
				   FROM (SELECT f.customer_id, %s
						 FROM pg_temp.refresh_facts AS f) AS i (customer_id, r_input, f_input, m_input)
				   OFFSET 0) AS sc', score_inputs)
		USING r_breaks, f_breaks, m_breaks;

		IF cfg.rfm_method = 'equal_count' AND NOT incremental THEN
			-- Report the values at the group ends, not the ranks.
			SELECT array_agg(f.recency_days::double precision ORDER BY s.r_input) FILTER (WHERE s.r_input = ANY (r_breaks)),
				   array_agg(f.orders::double precision ORDER BY s.f_input) FILTER (WHERE s.f_input = ANY (f_breaks)),
				   array_agg(f.net_spend::double precision ORDER BY s.m_input) FILTER (WHERE s.m_input = ANY (m_breaks))
			INTO r_breaks, f_breaks, m_breaks
			FROM pg_temp.refresh_scored AS s JOIN pg_temp.refresh_facts AS f USING (customer_id);
		END IF;
		INSERT INTO @extschema@.rfm_break_points
		VALUES (refresh_build.run_id, 'recency', cfg.rfm_method, r_breaks[1], r_breaks[2], r_breaks[3], r_breaks[4]),
			   (refresh_build.run_id, 'frequency', cfg.rfm_method, f_breaks[1], f_breaks[2], f_breaks[3], f_breaks[4]),
			   (refresh_build.run_id, 'monetary', cfg.rfm_method, m_breaks[1], m_breaks[2], m_breaks[3], m_breaks[4]);
		PERFORM @extschema@.refresh_progress(run_id, current_stage, n_scored);

		-- A full run fits (or, with model_refit = manual, takes the latest
		-- of) the purchase model crm.churn_model_choice() names; an
		-- incremental run keeps the one its snapshot was scored with.
		current_stage := 'models';
		PERFORM @extschema@.progress_stage(3, current_stage, n_scored);
		IF incremental THEN
			purchase_model_id := (SELECT cs.bgnbd_model_id FROM @extschema@.customer_segments AS cs
								  WHERE cs.bgnbd_model_id IS NOT NULL LIMIT 1);
		ELSE
			choice := @extschema@.churn_model_choice();
			IF cfg.model_refit = 'every_refresh' THEN
				PERFORM @extschema@.fit_models_from_facts(run.as_of, source_relation::text, ARRAY[choice.kind]);
			END IF;
			purchase_model_id := @extschema@.current_model_id(choice.kind);
		END IF;
		gamma_gamma_id := @extschema@.current_model_id('gamma_gamma');
		-- Assigned whole, so that no model gives a NULL model (which the
		-- strict scoring functions turn into NULL scores), not a model of NULLs.
		bgnbd := (SELECT @extschema@.bgnbd_model(m.r, m.alpha, m.a, m.b)
				  FROM @extschema@.models AS m WHERE m.model_id = purchase_model_id AND m.kind = 'bgnbd');
		mbgnbd := (SELECT @extschema@.mbgnbd_model(m.r, m.alpha, m.a, m.b)
				   FROM @extschema@.models AS m WHERE m.model_id = purchase_model_id AND m.kind = 'mbgnbd');
		pareto_nbd := (SELECT @extschema@.pareto_nbd_model(m.r, m.alpha, m.s, m.beta)
					   FROM @extschema@.models AS m WHERE m.model_id = purchase_model_id AND m.kind = 'pareto_nbd');
		gamma_gamma := (SELECT @extschema@.gamma_gamma_model(m.p, m.q, m.v)
						FROM @extschema@.models AS m WHERE m.model_id = gamma_gamma_id);
		-- A customer's expected spend is finite only where p * x + q > 1; a
		-- fit on a small or odd population can miss that for one-time
		-- buyers (x = 0).  Their spend and CLV stay NULL instead of failing
		-- the whole refresh.
		IF gamma_gamma.q <= 1 THEN
			RAISE WARNING 'Gamma-Gamma model % has q = % <= 1: expected spend and CLV of customers with p * x + q <= 1 are left NULL',
				gamma_gamma_id, round(gamma_gamma.q::numeric, 3)
				USING HINT = 'The model has no finite mean spend for one-time buyers; refit on more customers with crm.fit_models().';
		END IF;
		PERFORM @extschema@.refresh_progress(run_id, current_stage, n_scored);

		-- A full run fills a new partition that readers see from the commit
		-- on (83_snapshots.sql); an incremental run rewrites its customers'
		-- rows in the published one, also visible at the commit.
		current_stage := 'publish';
		PERFORM @extschema@.progress_stage(4, current_stage, n_customers);
		IF incremental THEN
			target_snapshot := (SELECT p.snapshot_id FROM @extschema@.published_snapshot AS p);
			DELETE FROM @extschema@.segment_snapshots AS cs
			USING pg_temp.refresh_changed AS c WHERE cs.snapshot_id = target_snapshot AND cs.customer_id = c.customer_id;
		ELSE
			target_snapshot := refresh_build.run_id;
		END IF;
		INSERT INTO @extschema@.segment_snapshots
		SELECT target_snapshot, @extschema@.progress_count(f.customer_id), run.as_of, refresh_build.run_id, f.first_purchase_at, f.last_purchase_at,
			   f.recency_days, f.orders, f.net_spend, f.returns,
			   s.r_score, s.f_score, s.m_score, s.fm_score, s.rfm_code,
			   CASE WHEN f.orders > 0 THEN coalesce(map.segment, 'Unclassified') END,
			   @extschema@.lifecycle_stage(f.orders, f.recency_days, f.tenure_days, f.last_gap_days,
										   cfg.new_days, cfg.active_days, cfg.at_risk_days, cfg.dormant_days),
			   f.tenure_days, f.purchase_days, f.btyd_frequency, f.btyd_recency, f.btyd_t,
			   f.avg_repeat_spend, f.last_gap_days, f.median_gap_days,
			   f.btyd_frequency = 0, v.p_alive, v.churn_risk, v.expected_purchases, v.expected_spend, v.clv,
			   purchase_model_id, gamma_gamma_id
		FROM pg_temp.refresh_facts AS f
		JOIN pg_temp.refresh_scored AS s USING (customer_id)
		LEFT JOIN @extschema@.segment_map AS map ON map.rfm_code = s.rfm_code
		-- Customers without a purchase have NULL BTYD facts: the strict
		-- model functions give NULL.  One-time buyers have no mean repeat
		-- spend: 0 makes Gamma-Gamma return the population mean.  Of each
		-- coalesce only the call with the model in use does any work.
		CROSS JOIN LATERAL (
			SELECT coalesce(@extschema@.p_alive(f.btyd_frequency, f.btyd_recency, f.btyd_t, bgnbd),
							@extschema@.p_alive(f.btyd_frequency, f.btyd_recency, f.btyd_t, mbgnbd),
							@extschema@.p_alive(f.btyd_frequency, f.btyd_recency, f.btyd_t, pareto_nbd)) AS p_alive,
				   coalesce(@extschema@.churn_risk(cfg.churn_horizon_days, f.btyd_frequency, f.btyd_recency, f.btyd_t, bgnbd),
							@extschema@.churn_risk(cfg.churn_horizon_days, f.btyd_frequency, f.btyd_recency, f.btyd_t, mbgnbd),
							@extschema@.churn_risk(cfg.churn_horizon_days, f.btyd_frequency, f.btyd_recency, f.btyd_t, pareto_nbd)) AS churn_risk,
				   coalesce(@extschema@.expected_purchases(cfg.churn_horizon_days, f.btyd_frequency, f.btyd_recency, f.btyd_t, bgnbd),
							@extschema@.expected_purchases(cfg.churn_horizon_days, f.btyd_frequency, f.btyd_recency, f.btyd_t, mbgnbd),
							@extschema@.expected_purchases(cfg.churn_horizon_days, f.btyd_frequency, f.btyd_recency, f.btyd_t, pareto_nbd)) AS expected_purchases,
				   @extschema@.expected_spend(f.btyd_frequency, coalesce(f.avg_repeat_spend, 0), spend.model) AS expected_spend,
				   coalesce(@extschema@.clv(f.btyd_frequency, f.btyd_recency, f.btyd_t, coalesce(f.avg_repeat_spend, 0),
											bgnbd, spend.model, cfg.clv_months, cfg.monthly_discount, 365.25 / 12),
							@extschema@.clv(f.btyd_frequency, f.btyd_recency, f.btyd_t, coalesce(f.avg_repeat_spend, 0),
											mbgnbd, spend.model, cfg.clv_months, cfg.monthly_discount, 365.25 / 12),
							@extschema@.clv(f.btyd_frequency, f.btyd_recency, f.btyd_t, coalesce(f.avg_repeat_spend, 0),
											pareto_nbd, spend.model, cfg.clv_months, cfg.monthly_discount, 365.25 / 12)) AS clv
			FROM (SELECT CASE WHEN gamma_gamma.p * f.btyd_frequency + gamma_gamma.q > 1 THEN gamma_gamma END AS model) AS spend
		) AS v
		UNION ALL
		SELECT target_snapshot, c.customer_id, run.as_of, refresh_build.run_id, NULL, NULL, NULL, 0, 0, 0,
			   NULL, NULL, NULL, NULL, NULL, NULL,
			   @extschema@.lifecycle_stage(0, NULL, NULL, NULL,
										   cfg.new_days, cfg.active_days, cfg.at_risk_days, cfg.dormant_days),
			   NULL, 0, NULL, NULL, NULL, NULL, NULL, NULL,
			   NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL
		FROM @extschema@.customers AS c
		WHERE NOT EXISTS (SELECT 1 FROM pg_temp.refresh_facts AS f WHERE f.customer_id = c.customer_id)
		  AND (NOT incremental
			   OR EXISTS (SELECT 1 FROM pg_temp.refresh_changed AS ch WHERE ch.customer_id = c.customer_id));
		GET DIAGNOSTICS n_rows = ROW_COUNT;

		-- The history keeps whole snapshots: full runs only.
		IF NOT incremental THEN
			PERFORM @extschema@.snapshot_publish(target_snapshot);
			INSERT INTO @extschema@.segment_history
			SELECT refresh_build.run_id, cs.customer_id, cs.segment, cs.lifecycle_stage, cs.rfm_code
			FROM @extschema@.segment_snapshots AS cs WHERE cs.snapshot_id = target_snapshot;
			PERFORM @extschema@.run_partition_index('segment_history', refresh_build.run_id);
		END IF;
		DELETE FROM @extschema@.changed_customers AS q
		WHERE pg_visible_in_snapshot(q.changed_by_xact, changes_seen);
		PERFORM @extschema@.refresh_progress(run_id, current_stage, n_rows);

		UPDATE @extschema@.refresh_runs AS r
		SET status = 'succeeded', stage = 'done', finished_at = clock_timestamp(),
			customers = n_rows, scored_customers = n_scored,
			anonymous_rows = run.anonymous_rows, future_rows = run.future_rows
		WHERE r.run_id = refresh_build.run_id;
		DROP TABLE pg_temp.refresh_facts, pg_temp.refresh_scored, pg_temp.refresh_changed;
		PERFORM @extschema@.progress_finish();
		RETURN NULL;
	EXCEPTION WHEN OTHERS THEN
		GET STACKED DIAGNOSTICS e_state = RETURNED_SQLSTATE, e_message = MESSAGE_TEXT,
								e_detail = PG_EXCEPTION_DETAIL, e_hint = PG_EXCEPTION_HINT;
		UPDATE @extschema@.refresh_runs AS r
		SET status = 'failed', stage = current_stage, finished_at = clock_timestamp(),
			error_sqlstate = e_state, error_message = e_message
		WHERE r.run_id = refresh_build.run_id;
		PERFORM @extschema@.progress_finish();
		RETURN ARRAY[e_state, e_message, e_detail, e_hint];
	END;
END
$$;
COMMENT ON FUNCTION @extschema@.refresh_build(bigint) IS
	'Internal: second transaction of a refresh. Builds facts, scores and segments and replaces crm.customer_segments (an incremental run: the rows of the changed customers); on error logs the run as failed and returns the error.';

-- Re-raises a refresh error after its failure has been committed to the log.
CREATE OR REPLACE FUNCTION @extschema@.refresh_raise(run_id bigint, failure text[])
RETURNS void
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	RAISE EXCEPTION USING ERRCODE = failure[1], MESSAGE = failure[2],
		DETAIL = concat_ws(' ', nullif(failure[3], ''),
						   format('Refresh run %s is logged as failed in crm.refresh_runs.', run_id)),
		HINT = coalesce(nullif(failure[4], ''), 'See crm.refresh_runs for the stage it failed in.');
END
$$;
COMMENT ON FUNCTION @extschema@.refresh_raise(bigint, text[]) IS
	'Internal: raises the error a refresh run failed with.';

-- No SET search_path on this procedure: PostgreSQL forbids COMMIT in a
-- procedure with SET clauses.  It only calls schema-qualified functions that
-- pin their own search_path.
CREATE OR REPLACE PROCEDURE @extschema@.refresh_segments(as_of timestamptz DEFAULT pg_catalog.now(),
															incremental boolean DEFAULT false)
LANGUAGE plpgsql
AS $$
DECLARE
	run bigint;
	failure text[];
BEGIN
	IF incremental IS NULL THEN
		RAISE EXCEPTION USING ERRCODE = 'null_value_not_allowed',
			MESSAGE = 'incremental must be true or false, not NULL',
			HINT = 'Leave it out for a full refresh, or pass incremental => true.';
	END IF;
	run := @extschema@.refresh_start(as_of, CASE WHEN incremental THEN 'incremental' ELSE 'full' END);
	COMMIT;
	-- The partitions a full run fills are attached, empty, in a transaction
	-- of their own (83_snapshots.sql), also for an incremental call, which
	-- may have to run in full.
	PERFORM @extschema@.run_partition_create('segment_snapshots', run);
	PERFORM @extschema@.run_partition_create('segment_history', run);
	COMMIT;
	failure := @extschema@.refresh_build(run);
	COMMIT;
	-- In a transaction of its own: the lock a drop takes is held only for it.
	PERFORM @extschema@.drop_old_partitions();
	COMMIT;
	IF failure IS NOT NULL THEN
		PERFORM @extschema@.refresh_raise(run, failure);
	END IF;
END
$$;
COMMENT ON PROCEDURE @extschema@.refresh_segments(timestamptz, boolean) IS
	'Rebuilds crm.customer_segments as of the given analysis date (default now()): facts, RFM scores, segments, lifecycle stages, churn and value models. With incremental => true only the customers queued in crm.changed_customers are recomputed, on the break points and models of the last full run (it runs in full, with a NOTICE, when settings changed or there is no full run to build on). Readers see the old snapshot until the new one is committed. Call it outside an explicit transaction block (it commits the run log before working). A concurrent call waits for the running one.';

-- Routines that change the snapshot or the log: crm_admin only.  Granted
-- here, not in 97_grants.sql, so that an upgrade re-running this part grants
-- routines whose arguments changed.
REVOKE EXECUTE ON FUNCTION @extschema@.refresh_progress(bigint, text, bigint),
	@extschema@.refresh_start(timestamptz, text), @extschema@.build_facts(timestamptz, regclass, boolean),
	@extschema@.refresh_build(bigint), @extschema@.refresh_raise(bigint, text[]) FROM PUBLIC;
REVOKE EXECUTE ON PROCEDURE @extschema@.refresh_segments(timestamptz, boolean) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION @extschema@.refresh_progress(bigint, text, bigint),
	@extschema@.refresh_start(timestamptz, text), @extschema@.build_facts(timestamptz, regclass, boolean),
	@extschema@.refresh_build(bigint), @extschema@.refresh_raise(bigint, text[]) TO crm_admin;
GRANT EXECUTE ON PROCEDURE @extschema@.refresh_segments(timestamptz, boolean) TO crm_admin;
-- Change tracking for the incremental refresh.  Every statement that writes
-- crm.transactions (or adds or removes customers) appends the customers it
-- touched to crm.changed_customers, with the id of the writing transaction;
-- CALL crm.refresh_segments(incremental => true) recomputes just those
-- customers and removes the entries its snapshot saw.  Entries are only
-- appended and deleted, never updated, and a refresh deletes only entries of
-- transactions its snapshot saw committed, so a sale committed while a
-- refresh runs is never lost: it stays queued for the next one.

CREATE TABLE @extschema@.changed_customers (
	customer_id		bigint NOT NULL,
	changed_by_xact	xid8 NOT NULL DEFAULT pg_current_xact_id()
);
COMMENT ON TABLE @extschema@.changed_customers IS
	'Queue of customers whose sales (or customer row) changed since the refresh that last covered them; filled by triggers on crm.transactions and crm.customers, emptied by crm.refresh_segments. A customer may appear several times.';
COMMENT ON COLUMN @extschema@.changed_customers.customer_id IS 'Customer key.';
COMMENT ON COLUMN @extschema@.changed_customers.changed_by_xact IS 'Transaction that made the change; a refresh removes the entries of transactions its snapshot saw committed.';

CREATE FUNCTION @extschema@.queue_changed_customers()
RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	IF TG_OP = 'INSERT' THEN
		INSERT INTO @extschema@.changed_customers (customer_id)
		SELECT DISTINCT n.customer_id FROM new_rows AS n WHERE n.customer_id IS NOT NULL;
	ELSIF TG_OP = 'UPDATE' THEN
		INSERT INTO @extschema@.changed_customers (customer_id)
		SELECT n.customer_id FROM new_rows AS n WHERE n.customer_id IS NOT NULL
		UNION
		SELECT o.customer_id FROM old_rows AS o WHERE o.customer_id IS NOT NULL;
	ELSE
		INSERT INTO @extschema@.changed_customers (customer_id)
		SELECT DISTINCT o.customer_id FROM old_rows AS o WHERE o.customer_id IS NOT NULL;
	END IF;
	RETURN NULL;
END
$$;
COMMENT ON FUNCTION @extschema@.queue_changed_customers() IS
	'Trigger: appends the customers a statement touched to crm.changed_customers (one row per customer and statement).';

CREATE TRIGGER transactions_queue_inserted AFTER INSERT ON @extschema@.transactions
	REFERENCING NEW TABLE AS new_rows
	FOR EACH STATEMENT EXECUTE FUNCTION @extschema@.queue_changed_customers();
CREATE TRIGGER transactions_queue_updated AFTER UPDATE ON @extschema@.transactions
	REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
	FOR EACH STATEMENT EXECUTE FUNCTION @extschema@.queue_changed_customers();
CREATE TRIGGER transactions_queue_deleted AFTER DELETE ON @extschema@.transactions
	REFERENCING OLD TABLE AS old_rows
	FOR EACH STATEMENT EXECUTE FUNCTION @extschema@.queue_changed_customers();
-- A new customer without purchases appears as a prospect; a deleted one leaves.
CREATE TRIGGER customers_queue_inserted AFTER INSERT ON @extschema@.customers
	REFERENCING NEW TABLE AS new_rows
	FOR EACH STATEMENT EXECUTE FUNCTION @extschema@.queue_changed_customers();
CREATE TRIGGER customers_queue_deleted AFTER DELETE ON @extschema@.customers
	REFERENCING OLD TABLE AS old_rows
	FOR EACH STATEMENT EXECUTE FUNCTION @extschema@.queue_changed_customers();

-- What an incremental refresh must share with the full run it builds on:
-- the settings, the segment map and the fixed break points.
CREATE FUNCTION @extschema@.settings_fingerprint()
RETURNS text
LANGUAGE sql STABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
	SELECT md5(concat_ws('|',
		(SELECT s::text FROM @extschema@.settings AS s),
		(SELECT string_agg(m::text, ',' ORDER BY m.rfm_code) FROM @extschema@.segment_map AS m),
		(SELECT string_agg(b::text, ',' ORDER BY b.metric) FROM @extschema@.rfm_fixed_breaks AS b)))
$$;
COMMENT ON FUNCTION @extschema@.settings_fingerprint() IS
	'Internal: a digest of crm.settings, crm.segment_map and crm.rfm_fixed_breaks; an incremental refresh runs in full when it differs from the last full run''s. Stable because it reads tables.';

-- The triggers write the queue as whoever changed the data, and the refresh
-- empties it: crm_admin does both.
GRANT SELECT, INSERT, DELETE ON @extschema@.changed_customers TO crm_admin;
-- The refresh's per-run tables: the published segment snapshot and the
-- segment history, each partitioned by run, one partition per run.
--
-- A full refresh writes every customer's row into new partitions, builds
-- their indexes once (a sorted build, not a million index insertions) and
-- publishes the snapshot by moving the one-row pointer
-- crm.published_snapshot, in one transaction.  Readers go through the view
-- crm.customer_segments, which follows the pointer: they see the old
-- snapshot until the commit and never wait for the refresh, which takes no
-- lock that conflicts with reading.  Nothing is deleted row by row: old
-- partitions are dropped whole after the commit (drop_old_partitions).  An
-- incremental refresh rewrites its customers' rows in the published
-- partition.
--
-- A run's partitions are attached, empty, in an earlier transaction.
-- ATTACH does not block readers, so a query may run on a partition list
-- cached from before the attach; the invalidation that updates it is sent
-- only after the attach is visible.  Were the attach and the pointer
-- committed together, a query could see the new pointer with the old list,
-- find no partition for it and return no rows.

CREATE TABLE @extschema@.segment_snapshots (
	snapshot_id			bigint NOT NULL,
	customer_id			bigint NOT NULL,
	as_of				timestamptz NOT NULL,
	run_id				bigint NOT NULL,
	first_purchase_at	timestamptz,
	last_purchase_at	timestamptz,
	recency_days		integer,
	frequency			bigint NOT NULL,
	monetary			numeric NOT NULL,
	returns				bigint NOT NULL,
	r_score				smallint,
	f_score				smallint,
	m_score				smallint,
	fm_score			smallint,
	rfm_code			smallint,
	segment				text,
	lifecycle_stage		text NOT NULL,
	tenure_days			integer,
	purchase_days		integer,
	btyd_frequency		integer,
	btyd_recency		integer,
	btyd_t				integer,
	avg_repeat_spend	numeric,
	last_gap_days		integer,
	median_gap_days		double precision,
	one_time_buyer		boolean,
	p_alive				double precision,
	churn_risk			double precision,
	expected_purchases	double precision,
	expected_spend		double precision,
	clv					double precision,
	bgnbd_model_id		bigint,
	gamma_gamma_model_id bigint
) PARTITION BY LIST (snapshot_id);
COMMENT ON TABLE @extschema@.segment_snapshots IS
	'Internal: the snapshots of crm.customer_segments, one partition per full refresh run (crm.segment_snapshots_<run_id>). Read crm.customer_segments instead.';
COMMENT ON COLUMN @extschema@.segment_snapshots.snapshot_id IS 'Full refresh run that built the snapshot; its partition is crm.segment_snapshots_<snapshot_id>.';

-- Each customer's segment at each full run, for migration analysis.
-- No foreign key to refresh_runs: runs are never deleted, and checking one
-- per customer row was most of the cost of writing the history.
CREATE TABLE @extschema@.segment_history (
	run_id			bigint NOT NULL,
	customer_id		bigint NOT NULL,
	segment			text,
	lifecycle_stage	text NOT NULL,
	rfm_code		smallint
) PARTITION BY LIST (run_id);
COMMENT ON TABLE @extschema@.segment_history IS
	'Segment and lifecycle stage of every customer at each of the last crm.settings.history_runs_kept successful full runs; one partition per run (crm.segment_history_<run_id>), unique by customer.';
COMMENT ON COLUMN @extschema@.segment_history.run_id IS 'Refresh run.';
COMMENT ON COLUMN @extschema@.segment_history.customer_id IS 'Customer key.';
COMMENT ON COLUMN @extschema@.segment_history.segment IS 'Segment at that run; NULL when not scored.';
COMMENT ON COLUMN @extschema@.segment_history.lifecycle_stage IS 'Lifecycle stage at that run.';
COMMENT ON COLUMN @extschema@.segment_history.rfm_code IS 'RFM code at that run.';

-- Which snapshot readers see: no row before the first refresh.
CREATE TABLE @extschema@.published_snapshot (
	singleton		boolean PRIMARY KEY DEFAULT true CONSTRAINT published_snapshot_one_row CHECK (singleton),
	snapshot_id		bigint NOT NULL,
	published_at	timestamptz NOT NULL DEFAULT clock_timestamp(),
	published_in	xid8 NOT NULL DEFAULT pg_current_xact_id()
);
COMMENT ON TABLE @extschema@.published_snapshot IS
	'The snapshot crm.customer_segments shows: one row, moved by each full refresh in the transaction that publishes it.';
COMMENT ON COLUMN @extschema@.published_snapshot.singleton IS 'Always true: keeps the table at one row.';
COMMENT ON COLUMN @extschema@.published_snapshot.snapshot_id IS 'The published partition of crm.segment_snapshots.';
COMMENT ON COLUMN @extschema@.published_snapshot.published_at IS 'When it was published.';
COMMENT ON COLUMN @extschema@.published_snapshot.published_in IS 'Transaction that published it: the partitions it replaced are dropped only once no transaction whose snapshot predates this one remains.';

-- The scalar subquery is evaluated once per query, before the scan, so
-- the executor reads the published partition only.  The money columns get
-- the precision and scale of what customer_facts returns, for BI drivers.
CREATE VIEW @extschema@.customer_segments AS
SELECT s.customer_id, s.as_of, s.run_id, s.first_purchase_at, s.last_purchase_at,
	   s.recency_days, s.frequency, s.monetary::numeric(19,4) AS monetary, s.returns, s.r_score, s.f_score, s.m_score,
	   s.fm_score, s.rfm_code, s.segment, s.lifecycle_stage, s.tenure_days, s.purchase_days,
	   s.btyd_frequency, s.btyd_recency, s.btyd_t, s.avg_repeat_spend::numeric(19,4) AS avg_repeat_spend, s.last_gap_days,
	   s.median_gap_days, s.one_time_buyer, s.p_alive, s.churn_risk, s.expected_purchases,
	   s.expected_spend, s.clv, s.bgnbd_model_id, s.gamma_gamma_model_id
FROM @extschema@.segment_snapshots AS s
WHERE s.snapshot_id = (SELECT p.snapshot_id FROM @extschema@.published_snapshot AS p);
COMMENT ON VIEW @extschema@.customer_segments IS
	'One row per customer as of the last successful refresh: RFM facts and scores, segment, lifecycle stage. Replaced atomically by crm.refresh_segments (a full run publishes a new snapshot; an incremental run rewrites its customers'' rows). Days are 24-hour periods counted back from as_of.';
COMMENT ON COLUMN @extschema@.customer_segments.customer_id IS 'Customer key.';
COMMENT ON COLUMN @extschema@.customer_segments.as_of IS 'Analysis date of the refresh.';
COMMENT ON COLUMN @extschema@.customer_segments.run_id IS 'Refresh run that wrote the row (crm.refresh_runs).';
COMMENT ON COLUMN @extschema@.customer_segments.first_purchase_at IS 'First purchase (amount > 0) up to as_of.';
COMMENT ON COLUMN @extschema@.customer_segments.last_purchase_at IS 'Last purchase up to as_of.';
COMMENT ON COLUMN @extschema@.customer_segments.recency_days IS 'R: whole days from the last purchase to as_of; NULL without a purchase.';
COMMENT ON COLUMN @extschema@.customer_segments.frequency IS 'F: number of orders with a positive amount.';
COMMENT ON COLUMN @extschema@.customer_segments.monetary IS 'M: net spend, purchases minus returns.';
COMMENT ON COLUMN @extschema@.customer_segments.returns IS 'Number of return transactions (negative amount).';
COMMENT ON COLUMN @extschema@.customer_segments.r_score IS 'Recency score 1-5, 5 = most recent; NULL for customers without a purchase.';
COMMENT ON COLUMN @extschema@.customer_segments.f_score IS 'Frequency score 1-5, 5 = most orders.';
COMMENT ON COLUMN @extschema@.customer_segments.m_score IS 'Monetary score 1-5, 5 = highest net spend.';
COMMENT ON COLUMN @extschema@.customer_segments.fm_score IS 'Mean of F and M rounded half up: the FM axis of the segment grid.';
COMMENT ON COLUMN @extschema@.customer_segments.rfm_code IS 'R*100 + F*10 + M, e.g. 555.';
COMMENT ON COLUMN @extschema@.customer_segments.segment IS 'Segment from the active rule set; NULL for customers without a purchase (not scored).';
COMMENT ON COLUMN @extschema@.customer_segments.lifecycle_stage IS 'prospect, new, active, at-risk, dormant, lost or reactivated.';
COMMENT ON COLUMN @extschema@.customer_segments.tenure_days IS 'Whole days from the first purchase to as_of.';
COMMENT ON COLUMN @extschema@.customer_segments.purchase_days IS 'Distinct days with a purchase.';
COMMENT ON COLUMN @extschema@.customer_segments.btyd_frequency IS 'BG/NBD x: repeat purchase days (purchase_days - 1).';
COMMENT ON COLUMN @extschema@.customer_segments.btyd_recency IS 'BG/NBD t_x in days: from the first to the last purchase day.';
COMMENT ON COLUMN @extschema@.customer_segments.btyd_t IS 'BG/NBD T in days: from the first purchase day to as_of.';
COMMENT ON COLUMN @extschema@.customer_segments.avg_repeat_spend IS 'Mean purchase value of the repeat purchase days (Gamma-Gamma input); NULL when there is none.';
COMMENT ON COLUMN @extschema@.customer_segments.last_gap_days IS 'Days between the two latest purchase days.';
COMMENT ON COLUMN @extschema@.customer_segments.median_gap_days IS 'Median days between consecutive purchase days.';
COMMENT ON COLUMN @extschema@.customer_segments.one_time_buyer IS 'True when the customer bought on one day only (x = 0); under BG/NBD their P(alive) = 1 is a property of the model, not a prediction (MBG/NBD and Pareto/NBD model it), while their churn_risk is graded under every model.';
COMMENT ON COLUMN @extschema@.customer_segments.p_alive IS 'Probability that the customer is still active at as_of, under the purchase model used (bgnbd_model_id); NULL without a purchase or a converged model.';
COMMENT ON COLUMN @extschema@.customer_segments.churn_risk IS 'Probability of no purchase in the next crm.settings.churn_horizon_days days (dropped out, or active and not buying), under the purchase model used. Until 1.0 this column was 1 - p_alive.';
COMMENT ON COLUMN @extschema@.customer_segments.expected_purchases IS 'Purchase days the purchase model expects in the next crm.settings.churn_horizon_days days.';
COMMENT ON COLUMN @extschema@.customer_segments.expected_spend IS 'Gamma-Gamma expected spend per purchase day (the population mean for one-time buyers).';
COMMENT ON COLUMN @extschema@.customer_segments.clv IS 'Customer lifetime value over crm.settings.clv_months months, discounted monthly by crm.settings.monthly_discount.';
COMMENT ON COLUMN @extschema@.customer_segments.bgnbd_model_id IS 'Purchase model used (crm.models; its kind is bgnbd, mbgnbd or pareto_nbd, see crm.settings.churn_model). The name is kept from 1.0, when BG/NBD was the only one.';
COMMENT ON COLUMN @extschema@.customer_segments.gamma_gamma_model_id IS 'Gamma-Gamma model used (crm.models).';

-- The partition of segment_snapshots or segment_history holding a run's rows.
CREATE FUNCTION @extschema@.run_partition(parent text, run_id bigint)
RETURNS text
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$ SELECT parent || '_' || run_id $$;
COMMENT ON FUNCTION @extschema@.run_partition(text, bigint) IS
	'Internal: the name (in the extension''s schema) of the partition of a per-run table (segment_snapshots or segment_history) that holds a run''s rows.';

-- One of the two per-run tables, or an error.
CREATE FUNCTION @extschema@.per_run_table(parent text)
RETURNS regclass
LANGUAGE plpgsql STABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	IF parent IS NULL OR parent NOT IN ('segment_snapshots', 'segment_history') THEN
		RAISE EXCEPTION USING ERRCODE = 'invalid_parameter_value',
			MESSAGE = format('%s is not a per-run table of retail_crm', coalesce(parent, 'NULL')),
			HINT = 'Partitions are made by crm.refresh_segments; call that instead.';
	END IF;
	RETURN to_regclass('@extschema@.' || quote_ident(parent));
END
$$;
COMMENT ON FUNCTION @extschema@.per_run_table(text) IS
	'Internal: crm.segment_snapshots or crm.segment_history by name; any other name is an error.';

-- Owner's rights: the refresh runs as crm_admin, which may not create
-- tables in the schema or alter the parents.
CREATE FUNCTION @extschema@.run_partition_create(parent text, run_id bigint)
RETURNS void
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	parent_table regclass := @extschema@.per_run_table(parent);
BEGIN
	IF NOT EXISTS (SELECT 1 FROM @extschema@.refresh_runs AS r WHERE r.run_id = run_partition_create.run_id) THEN
		RAISE EXCEPTION USING ERRCODE = 'invalid_parameter_value',
			MESSAGE = format('refresh run %s does not exist', coalesce(run_id::text, 'NULL')),
			HINT = 'Partitions are made by crm.refresh_segments; call that instead.';
	END IF;
	-- LIKE and ATTACH rather than PARTITION OF: ATTACH locks the parent in a
	-- mode that readers do not wait for.  The new partition is empty, so
	-- attaching it scans nothing.  A snapshot partition gets no autovacuum:
	-- it is written once, analyzed when published and dropped by the next
	-- full run (an incremental run rewrites a few rows), and an autovacuum
	-- worker on it would keep that drop from getting its lock.
	EXECUTE format('CREATE TABLE @extschema@.%I (LIKE %s) %s',
				   @extschema@.run_partition(parent, run_id), parent_table,
				   CASE WHEN parent = 'segment_snapshots'
						THEN 'WITH (autovacuum_enabled = false, toast.autovacuum_enabled = false)' ELSE '' END);
	EXECUTE format('ALTER TABLE %s ATTACH PARTITION @extschema@.%I FOR VALUES IN (%s)',
				   parent_table, @extschema@.run_partition(parent, run_id), run_id);
	-- BI tools list every table of the schema, readable or not (JDBC
	-- getTables does not filter by privilege): say what this one is and
	-- what to read instead, since only the parent is granted.
	EXECUTE format('COMMENT ON TABLE @extschema@.%I IS %L',
				   @extschema@.run_partition(parent, run_id),
				   format('Partition of %s for refresh run %s, internal: read %s instead.', parent_table, run_id,
						  CASE WHEN parent = 'segment_snapshots' THEN '@extschema@.customer_segments' ELSE parent_table::text END));
END
$$;
COMMENT ON FUNCTION @extschema@.run_partition_create(text, bigint) IS
	'Internal: creates and attaches the empty partition of crm.segment_snapshots or crm.segment_history for a refresh run, commented with what to read instead.';

-- Indexes are built after the rows are in: one sorted build each.
-- Readers may already lock the partition (it was attached earlier): CREATE
-- INDEX takes a lock they do not wait for, ADD PRIMARY KEY one they would.
CREATE FUNCTION @extschema@.run_partition_index(parent text, run_id bigint)
RETURNS void
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	parent_table regclass := @extschema@.per_run_table(parent);
	run_table regclass := to_regclass('@extschema@.' || quote_ident(@extschema@.run_partition(parent, run_id)));
BEGIN
	IF NOT EXISTS (SELECT 1 FROM pg_inherits AS i WHERE i.inhparent = parent_table AND i.inhrelid = run_table)
	   OR EXISTS (SELECT 1 FROM pg_index AS x WHERE x.indrelid = run_table) THEN
		RAISE EXCEPTION USING ERRCODE = 'invalid_parameter_value',
			MESSAGE = format('%s has no partition for run %s to index, or it is indexed already',
							 parent, coalesce(run_id::text, 'NULL')),
			HINT = 'Partitions are made by crm.refresh_segments; call that instead.';
	END IF;
	EXECUTE format('CREATE UNIQUE INDEX ON %s (customer_id)', run_table);
	IF parent = 'segment_snapshots' THEN
		EXECUTE format('CREATE INDEX ON %s (segment)', run_table);
	END IF;
	-- Readers plan with statistics from the first query on.
	EXECUTE format('ANALYZE %s', run_table);
END
$$;
COMMENT ON FUNCTION @extschema@.run_partition_index(text, bigint) IS
	'Internal: builds the indexes of a run''s partition of crm.segment_snapshots (unique customer, segment) or crm.segment_history (unique customer) once its rows are in, and analyzes it.';

-- The publishing move itself; others see it at commit.
CREATE FUNCTION @extschema@.snapshot_publish(snapshot_id bigint)
RETURNS void
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	PERFORM @extschema@.run_partition_index('segment_snapshots', snapshot_id);
	INSERT INTO @extschema@.published_snapshot AS p (snapshot_id) VALUES (snapshot_publish.snapshot_id)
	ON CONFLICT (singleton) DO UPDATE
	SET snapshot_id = excluded.snapshot_id, published_at = excluded.published_at, published_in = excluded.published_in;
END
$$;
COMMENT ON FUNCTION @extschema@.snapshot_publish(bigint) IS
	'Internal: indexes and analyzes a snapshot''s partition and makes it the one crm.customer_segments shows (visible to others at commit).';

-- Partitions of one parent, unless being read.  Dropping a partition locks
-- its parent against readers; the lock is asked for with NOWAIT, so that no
-- reader ever queues behind the drop: five tries over half a second, then
-- the partitions are left to the next call.
CREATE FUNCTION @extschema@.drop_partitions(parent regclass, partitions regclass[])
RETURNS integer
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	attempt integer;
BEGIN
	IF coalesce(cardinality(partitions), 0) = 0 THEN
		RETURN 0;
	END IF;
	FOR attempt IN 1..5 LOOP
		BEGIN
			EXECUTE format('LOCK TABLE %s IN ACCESS EXCLUSIVE MODE NOWAIT', parent);
			EXECUTE format('DROP TABLE %s', array_to_string(partitions, ', '));
			RETURN cardinality(partitions);
		EXCEPTION WHEN lock_not_available THEN
			PERFORM pg_sleep(0.1);
		END;
	END LOOP;
	RAISE NOTICE 'retail_crm: % old partition(s) of % are still being read; the next refresh drops them',
		cardinality(partitions), parent
		USING HINT = 'Or call crm.drop_old_partitions() when the long reads have finished.';
	RETURN 0;
END
$$;
COMMENT ON FUNCTION @extschema@.drop_partitions(regclass, regclass[]) IS
	'Internal: drops partitions of a parent unless it is being read (NOWAIT, five tries over half a second); returns how many it dropped.';

-- Partitions to keep: the published snapshot, the history of the last
-- history_runs_kept full runs, and those of runs still running.
CREATE FUNCTION @extschema@.drop_old_partitions()
RETURNS integer
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	parent text;
	old_partitions regclass[];
	dropped integer := 0;
	older_reader text;
BEGIN
	-- A transaction whose snapshot predates the last publish (REPEATABLE
	-- READ, an open cursor; on a standby with hot_standby_feedback, through
	-- its walsender or replication slot) still sees the old pointer and the
	-- old history runs, and may read them later: the partitions stay until
	-- it is gone.
	SELECT o.holder INTO older_reader
	FROM (SELECT format('process %s', a.pid) AS holder, a.backend_xmin AS snapshot_xmin
		  FROM pg_stat_activity AS a WHERE a.pid <> pg_backend_pid()
		  UNION ALL
		  SELECT format('replication slot %s', r.slot_name), r.xmin FROM pg_replication_slots AS r) AS o
	CROSS JOIN @extschema@.published_snapshot AS p
	WHERE o.snapshot_xmin IS NOT NULL
	  AND age(o.snapshot_xmin) >= age((p.published_in::text::numeric % 4294967296)::text::xid)
	ORDER BY age(o.snapshot_xmin) DESC LIMIT 1;
	IF older_reader IS NOT NULL THEN
		RAISE NOTICE 'retail_crm: old partitions are kept while % holds a snapshot older than the last refresh; the next refresh drops them',
			older_reader
			USING HINT = 'Or call crm.drop_old_partitions() when it has finished.';
		RETURN 0;
	END IF;
	FOREACH parent IN ARRAY ARRAY['segment_snapshots', 'segment_history'] LOOP
		SELECT array_agg(i.inhrelid::regclass ORDER BY i.inhrelid) INTO old_partitions
		FROM pg_inherits AS i
		WHERE i.inhparent = @extschema@.per_run_table(parent)
		  AND NOT EXISTS (
			  SELECT 1
			  FROM (SELECT r.run_id FROM @extschema@.refresh_runs AS r WHERE r.status = 'running'
					UNION ALL
					SELECT p.snapshot_id FROM @extschema@.published_snapshot AS p WHERE parent = 'segment_snapshots'
					UNION ALL
					(SELECT r.run_id FROM @extschema@.refresh_runs AS r
					 WHERE parent = 'segment_history' AND r.status = 'succeeded' AND r.mode IS DISTINCT FROM 'incremental'
					 ORDER BY r.run_id DESC
					 LIMIT (SELECT s.history_runs_kept FROM @extschema@.settings AS s))) AS kept (run_id)
			  WHERE i.inhrelid = to_regclass('@extschema@.' || quote_ident(@extschema@.run_partition(parent, kept.run_id))));
		dropped := dropped + @extschema@.drop_partitions(@extschema@.per_run_table(parent), old_partitions);
	END LOOP;
	RETURN dropped;
END
$$;
COMMENT ON FUNCTION @extschema@.drop_old_partitions() IS
	'Drops the partitions of crm.segment_snapshots no longer published and of crm.segment_history beyond the last crm.settings.history_runs_kept full runs (keeping those of running refreshes), unless they are being read or a transaction older than the last publish could still read them: it tries five times over half a second and never makes a reader wait. Returns how many it dropped. crm.refresh_segments calls it after each run.';

REVOKE EXECUTE ON FUNCTION @extschema@.run_partition_create(text, bigint), @extschema@.run_partition_index(text, bigint),
	@extschema@.snapshot_publish(bigint), @extschema@.drop_partitions(regclass, regclass[]),
	@extschema@.drop_old_partitions() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION @extschema@.run_partition_create(text, bigint), @extschema@.run_partition_index(text, bigint),
	@extschema@.snapshot_publish(bigint), @extschema@.drop_old_partitions() TO crm_admin;

-- Analysts (and admins, who are analysts too) read the view and the
-- history; the refresh (crm_admin) writes through the parents.
GRANT SELECT ON @extschema@.customer_segments, @extschema@.published_snapshot TO crm_analyst;
GRANT SELECT, INSERT, DELETE ON @extschema@.segment_snapshots TO crm_admin;
-- Basket affinity: which products are bought together, and what to offer a
-- customer next.  Pairs are counted in C (crm.basket_pairs) over the sale
-- baskets of crm.basket_items; crm.refresh_affinity publishes them.

-- The lines basket analysis counts: product lines with a positive quantity
-- of sale transactions (amount > 0).  Returns and cancellations are not
-- baskets; lines of orders missing from crm.transactions are left out.
CREATE VIEW @extschema@.basket_items AS
SELECT i.transaction_id, t.customer_id, t.occurred_at, i.product_id
FROM @extschema@.transaction_items AS i
JOIN @extschema@.transactions AS t ON t.transaction_id = i.transaction_id
WHERE t.amount > 0 AND i.quantity > 0;
COMMENT ON VIEW @extschema@.basket_items IS
	'The order lines basket analysis counts: lines with quantity > 0 of sale transactions (amount > 0). Returns, cancellations and lines of orders missing from crm.transactions are left out. A purchase history: not granted to analysts.';
COMMENT ON COLUMN @extschema@.basket_items.transaction_id IS 'The basket (crm.transactions.transaction_id).';
COMMENT ON COLUMN @extschema@.basket_items.customer_id IS 'Buyer; NULL for anonymous sales.';
COMMENT ON COLUMN @extschema@.basket_items.occurred_at IS 'When the order was placed.';
COMMENT ON COLUMN @extschema@.basket_items.product_id IS 'Product on the line; a product on several lines of one basket counts once.';

-- Stable: it only reads.  Parallel restricted: the source may be a
-- temporary table, which parallel workers cannot read.
CREATE FUNCTION @extschema@.basket_pairs(source regclass, min_support double precision,
										 max_basket_items integer,
										 OUT product_a text, OUT product_b text,
										 OUT baskets_together bigint, OUT support double precision,
										 OUT confidence double precision, OUT lift double precision,
										 OUT conviction double precision,
										 OUT baskets bigint, OUT skipped_baskets bigint)
RETURNS SETOF record
AS 'MODULE_PATHNAME', 'basket_pairs'
LANGUAGE C STABLE CALLED ON NULL INPUT PARALLEL RESTRICTED ROWS 1000;
COMMENT ON FUNCTION @extschema@.basket_pairs(regclass, double precision, integer) IS
	'Every ordered product pair with support >= min_support over the baskets of source (columns transaction_id, product_id; a product counts once per basket; lines with a NULL id are ignored). Baskets with more than max_basket_items distinct products are skipped and counted. The first row carries the totals (product_a and product_b NULL): baskets = baskets counted, skipped_baskets. Conviction is NULL when confidence is 1. min_support in (0, 1], max_basket_items >= 2, else 22023; NULL arguments 22004.';

-- The published pairs.  Rewritten in one transaction by each refresh.
CREATE TABLE @extschema@.product_affinity (
	product_a			text NOT NULL,
	product_b			text NOT NULL,
	baskets_together	bigint NOT NULL,
	support				double precision NOT NULL,
	confidence			double precision NOT NULL,
	lift				double precision NOT NULL,
	conviction			double precision,
	PRIMARY KEY (product_a, product_b)
);
COMMENT ON TABLE @extschema@.product_affinity IS
	'Ordered product pairs bought together in at least min_support of the sale baskets, as of the last crm.refresh_affinity (crm.affinity_runs). Both directions of a pair are rows; support and lift are symmetric, confidence and conviction are not. Replaced atomically.';
COMMENT ON COLUMN @extschema@.product_affinity.product_a IS 'Antecedent X: the product already in the basket.';
COMMENT ON COLUMN @extschema@.product_affinity.product_b IS 'Consequent Y: the product bought with it.';
COMMENT ON COLUMN @extschema@.product_affinity.baskets_together IS 'Baskets holding both products.';
COMMENT ON COLUMN @extschema@.product_affinity.support IS 'S(X and Y): share of the counted baskets holding both, 0-1.';
COMMENT ON COLUMN @extschema@.product_affinity.confidence IS 'C(X => Y) = S(X and Y) / S(X): share of the baskets with X that also hold Y, 0-1.';
COMMENT ON COLUMN @extschema@.product_affinity.lift IS 'S(X and Y) / (S(X) S(Y)): above 1 when the two are bought together more often than by chance.';
COMMENT ON COLUMN @extschema@.product_affinity.conviction IS '(1 - S(Y)) / (1 - C(X => Y)); NULL when the confidence is 1 (conviction is infinite then).';

CREATE TABLE @extschema@.affinity_runs (
	run_id				bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	started_at			timestamptz NOT NULL,
	finished_at			timestamptz NOT NULL,
	min_support			double precision NOT NULL,
	max_basket_items	integer NOT NULL,
	baskets				bigint NOT NULL,
	skipped_baskets		bigint NOT NULL,
	pairs				bigint NOT NULL
);
COMMENT ON TABLE @extschema@.affinity_runs IS
	'One row per successful crm.refresh_affinity, committed with the pairs it published.';
COMMENT ON COLUMN @extschema@.affinity_runs.run_id IS 'Run number, increasing.';
COMMENT ON COLUMN @extschema@.affinity_runs.started_at IS 'When the run was called.';
COMMENT ON COLUMN @extschema@.affinity_runs.finished_at IS 'When the pairs were written.';
COMMENT ON COLUMN @extschema@.affinity_runs.min_support IS 'Smallest pair support kept.';
COMMENT ON COLUMN @extschema@.affinity_runs.max_basket_items IS 'Baskets with more distinct products were skipped.';
COMMENT ON COLUMN @extschema@.affinity_runs.baskets IS 'Sale baskets counted (N, the denominator of every support).';
COMMENT ON COLUMN @extschema@.affinity_runs.skipped_baskets IS 'Sale baskets skipped for having more than max_basket_items distinct products.';
COMMENT ON COLUMN @extschema@.affinity_runs.pairs IS 'Ordered pairs written to crm.product_affinity (twice the unordered pairs).';

CREATE FUNCTION @extschema@.refresh_affinity(min_support double precision DEFAULT 0.01,
											 max_basket_items integer DEFAULT 100)
RETURNS @extschema@.affinity_runs
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	run @extschema@.affinity_runs;
BEGIN
	-- One refresh at a time: a second caller waits here until the first commits.
	PERFORM pg_advisory_xact_lock(hashtext('retail_crm.refresh_affinity'));
	run.started_at := clock_timestamp();
	run.min_support := min_support;
	run.max_basket_items := max_basket_items;

	-- Readers keep seeing the previous pairs until this transaction commits.
	-- The pairs go straight from the function into the table; the totals
	-- row (products NULL) comes back beside the count of rows written.
	DELETE FROM @extschema@.product_affinity;
	WITH counted AS MATERIALIZED (
		SELECT * FROM @extschema@.basket_pairs('@extschema@.basket_items', min_support, max_basket_items)
	), written AS (
		INSERT INTO @extschema@.product_affinity
		SELECT c.product_a, c.product_b, c.baskets_together, c.support, c.confidence, c.lift, c.conviction
		FROM counted AS c WHERE c.product_a IS NOT NULL
		RETURNING 1
	)
	SELECT c.baskets, c.skipped_baskets, (SELECT count(*) FROM written)
	INTO run.baskets, run.skipped_baskets, run.pairs
	FROM counted AS c WHERE c.product_a IS NULL;

	run.finished_at := clock_timestamp();
	INSERT INTO @extschema@.affinity_runs (started_at, finished_at, min_support, max_basket_items,
										   baskets, skipped_baskets, pairs)
	VALUES (run.started_at, run.finished_at, run.min_support, run.max_basket_items,
			run.baskets, run.skipped_baskets, run.pairs)
	RETURNING * INTO run;
	RAISE NOTICE 'retail_crm affinity run %: % baskets counted, % skipped (over % distinct products), % ordered pairs',
		run.run_id, run.baskets, run.skipped_baskets, run.max_basket_items, run.pairs;
	RETURN run;
END
$$;
COMMENT ON FUNCTION @extschema@.refresh_affinity(double precision, integer) IS
	'Recounts product pairs over the sale baskets of crm.basket_items and replaces crm.product_affinity in one transaction (readers see the old pairs until it commits); logs the run in crm.affinity_runs and returns it. min_support in (0, 1] (default 0.01), max_basket_items >= 2 (default 100): larger baskets are skipped and counted.';

-- The products a customer is offered next: affinity first, then what the
-- customer's segment buys most, then what everybody buys most.  Security
-- definer: it reads purchase histories, which its callers may not read.
CREATE FUNCTION @extschema@.recommend(customer_id bigint, n integer DEFAULT 10)
RETURNS TABLE (rank integer, product_id text, source text, score double precision)
LANGUAGE plpgsql STABLE PARALLEL SAFE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	customer bigint := recommend.customer_id;
	bought text[];
	picked text[] := '{}';
	customer_segment text;
	candidate record;
	current_pass integer;
BEGIN
	IF customer IS NULL OR n IS NULL THEN
		RAISE EXCEPTION USING ERRCODE = 'null_value_not_allowed',
			MESSAGE = 'customer_id and n must not be NULL',
			HINT = 'Call e.g. crm.recommend(12347, 5).';
	END IF;
	IF n < 1 THEN
		RAISE EXCEPTION USING ERRCODE = 'invalid_parameter_value',
			MESSAGE = format('n must be at least 1, not %s', n),
			HINT = 'n is the number of products to recommend.';
	END IF;
	IF NOT EXISTS (SELECT 1 FROM @extschema@.customers AS c WHERE c.customer_id = customer) THEN
		RAISE EXCEPTION USING ERRCODE = 'invalid_parameter_value',
			MESSAGE = format('customer %s does not exist', customer),
			HINT = 'Recommendations are for customers in crm.customers.';
	END IF;

	SELECT coalesce(array_agg(DISTINCT b.product_id), '{}') INTO bought
	FROM @extschema@.basket_items AS b WHERE b.customer_id = customer;
	SELECT cs.segment INTO customer_segment
	FROM @extschema@.customer_segments AS cs WHERE cs.customer_id = customer;

	-- Candidates by source in turn; within a source the best score first,
	-- ties to the higher tie-break, then to the product id.
	--   affinity: sum of confidence(X => Y) over the products X bought
	--			   (tie-break: sum of lift);
	--   segment:  share of the customer's segment who bought Y;
	--   global:   share of all buying customers who bought Y.
	-- One source per pass, so that the fallbacks' scans of every purchase
	-- only run when affinity leaves places free (the pass test becomes a
	-- one-time filter on each branch).
	FOR current_pass IN 1..3 LOOP
		EXIT WHEN cardinality(picked) >= n;
		FOR candidate IN
			SELECT c.product_id, c.source, c.score
			FROM (SELECT a.product_b AS product_id, 'affinity' AS source, 1 AS pass,
						 sum(a.confidence) AS score, sum(a.lift) AS tie_break
				  FROM @extschema@.product_affinity AS a
				  WHERE a.product_a = ANY (bought) AND NOT a.product_b = ANY (bought)
				  GROUP BY a.product_b
				  UNION ALL
				  SELECT b.product_id, 'segment', 2,
						 count(DISTINCT b.customer_id)::double precision
						 / (SELECT count(*) FROM @extschema@.customer_segments AS s WHERE s.segment = customer_segment),
						 0
				  FROM @extschema@.basket_items AS b
				  JOIN @extschema@.customer_segments AS cs ON cs.customer_id = b.customer_id
				  WHERE cs.segment = customer_segment AND NOT b.product_id = ANY (bought)
				  GROUP BY b.product_id
				  UNION ALL
				  SELECT b.product_id, 'global', 3,
						 count(DISTINCT b.customer_id)::double precision
						 / (SELECT count(DISTINCT x.customer_id) FROM @extschema@.basket_items AS x),
						 0
				  FROM @extschema@.basket_items AS b
				  WHERE b.customer_id IS NOT NULL AND NOT b.product_id = ANY (bought)
				  GROUP BY b.product_id) AS c
			WHERE c.pass = current_pass
			ORDER BY c.score DESC, c.tie_break DESC, c.product_id
		LOOP
			CONTINUE WHEN candidate.product_id = ANY (picked);
			picked := picked || candidate.product_id;
			rank := cardinality(picked);
			product_id := candidate.product_id;
			source := candidate.source;
			score := candidate.score;
			RETURN NEXT;
			EXIT WHEN rank = n;
		END LOOP;
	END LOOP;
END
$$;
COMMENT ON FUNCTION @extschema@.recommend(bigint, integer) IS
	'Top n products (default 10) the customer has not bought: scored by affinity (sum of confidence(X => Y) over the products X the customer bought, crm.product_affinity), then filled with the best sellers of the customer''s segment (share of its customers who bought the product), then with the overall best sellers. Deterministic: ties go to the higher summed lift, then to the product id. Unknown customer or n < 1: 22023; NULL: 22004.';

-- What to push to each segment next: products its customers are drawn to
-- through the affinity table and that most of them have not bought yet.
CREATE VIEW @extschema@.segment_next_best AS
WITH segment_sizes AS (
	SELECT cs.segment, count(*) AS customers
	FROM @extschema@.customer_segments AS cs
	WHERE cs.segment IS NOT NULL
	GROUP BY cs.segment
), affinity_products AS (
	SELECT a.product_a AS product_id FROM @extschema@.product_affinity AS a
	UNION
	SELECT a.product_b FROM @extschema@.product_affinity AS a
), segment_products AS (
	-- Only products of the affinity table are ever looked up below: counting
	-- the others' buyers was most of the work (and its estimated cost made
	-- the planner JIT-compile the query, which took longer still).
	SELECT cs.segment, b.product_id, count(DISTINCT b.customer_id)::double precision / sz.customers AS buyer_share
	FROM @extschema@.basket_items AS b
	JOIN @extschema@.customer_segments AS cs ON cs.customer_id = b.customer_id
	JOIN segment_sizes AS sz ON sz.segment = cs.segment
	WHERE b.product_id IN (SELECT ap.product_id FROM affinity_products AS ap)
	GROUP BY cs.segment, b.product_id, sz.customers
), pull AS (
	SELECT sp.segment, a.product_b AS product_id, sum(sp.buyer_share * a.confidence) AS pull
	FROM segment_products AS sp
	JOIN @extschema@.product_affinity AS a ON a.product_a = sp.product_id
	GROUP BY sp.segment, a.product_b
), scored AS (
	SELECT p.segment, p.product_id, p.pull, coalesce(sp.buyer_share, 0) AS buyer_share,
		   p.pull * (1 - coalesce(sp.buyer_share, 0)) AS score
	FROM pull AS p
	LEFT JOIN segment_products AS sp ON sp.segment = p.segment AND sp.product_id = p.product_id
), ranked AS (
	SELECT s.*, row_number() OVER (PARTITION BY s.segment ORDER BY s.score DESC, s.product_id) AS rank
	FROM scored AS s
	WHERE s.score > 0
)
SELECT r.segment, r.rank, r.product_id, r.score, r.pull, r.buyer_share
FROM ranked AS r
WHERE r.rank <= 10;
COMMENT ON VIEW @extschema@.segment_next_best IS
	'Ten next-best products per segment: pull = sum over products X of (share of the segment''s customers who bought X) x confidence(X => Y), score = pull x (1 - share who already bought Y). From crm.customer_segments and crm.product_affinity as last refreshed.';
COMMENT ON COLUMN @extschema@.segment_next_best.segment IS 'Segment (crm.customer_segments.segment).';
COMMENT ON COLUMN @extschema@.segment_next_best.rank IS '1 = best; ties go to the product id.';
COMMENT ON COLUMN @extschema@.segment_next_best.product_id IS 'Product to offer.';
COMMENT ON COLUMN @extschema@.segment_next_best.score IS 'pull x (1 - buyer_share): affinity pull on the customers who have not bought the product yet.';
COMMENT ON COLUMN @extschema@.segment_next_best.pull IS 'Sum over products X of the share of the segment who bought X times confidence(X => product).';
COMMENT ON COLUMN @extschema@.segment_next_best.buyer_share IS 'Share of the segment''s customers who already bought the product, 0-1.';

-- Grants (roles: 05_roles.sql).  The same rights 97_grants.sql gives on a
-- fresh install, so that an updated 1.0 matches a fresh 1.1.
GRANT SELECT ON @extschema@.product_affinity, @extschema@.affinity_runs, @extschema@.segment_next_best
TO crm_analyst;
GRANT SELECT, INSERT, UPDATE, DELETE, TRUNCATE ON
	@extschema@.basket_items, @extschema@.product_affinity, @extschema@.affinity_runs,
	@extschema@.segment_next_best
TO crm_admin;
GRANT USAGE, SELECT ON SEQUENCE @extschema@.affinity_runs_run_id_seq TO crm_admin;
REVOKE EXECUTE ON FUNCTION @extschema@.refresh_affinity(double precision, integer) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION @extschema@.refresh_affinity(double precision, integer) TO crm_admin;
-- Recommendations are for marketing; they read purchase histories.
REVOKE EXECUTE ON FUNCTION @extschema@.recommend(bigint, integer) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION @extschema@.recommend(bigint, integer) TO crm_marketer, crm_admin;
-- Voice of the customer, part 1: survey answers and free-text feedback, the
-- satisfaction aggregates (C, src/satisfaction.c) and their BI views.

-- Result types of the aggregates that return several numbers.  BI views
-- expand them into columns.
CREATE TYPE @extschema@.nps_result AS (
	nps double precision,
	promoters bigint,
	passives bigint,
	detractors bigint,
	responses bigint,
	std_error double precision,
	ci_low double precision,
	ci_high double precision
);
COMMENT ON TYPE @extschema@.nps_result IS
	'Net Promoter Score of a group of 0-10 answers, returned by crm.nps.';
COMMENT ON COLUMN @extschema@.nps_result.nps IS 'NPS = 100 * (promoters - detractors) / responses, -100 to 100.';
COMMENT ON COLUMN @extschema@.nps_result.promoters IS 'Answers 9 or 10.';
COMMENT ON COLUMN @extschema@.nps_result.passives IS 'Answers 7 or 8.';
COMMENT ON COLUMN @extschema@.nps_result.detractors IS 'Answers 0 to 6.';
COMMENT ON COLUMN @extschema@.nps_result.responses IS 'Answers counted (NULL scores are skipped).';
COMMENT ON COLUMN @extschema@.nps_result.std_error IS 'Standard error of the NPS, 100 * sqrt((p + d - (p - d)^2) / n) with p, d the promoter and detractor shares.';
COMMENT ON COLUMN @extschema@.nps_result.ci_low IS 'Lower end of the 95 % interval, nps - 1.96 * std_error, not below -100.';
COMMENT ON COLUMN @extschema@.nps_result.ci_high IS 'Upper end of the 95 % interval, nps + 1.96 * std_error, not above 100.';

CREATE TYPE @extschema@.ces_result AS (
	ces_mean double precision,
	agree_pct double precision,
	responses bigint
);
COMMENT ON TYPE @extschema@.ces_result IS
	'Customer Effort Score 2.0 of a group of 1-7 agreement answers ("the company made it easy to handle my issue"), returned by crm.ces.';
COMMENT ON COLUMN @extschema@.ces_result.ces_mean IS 'Mean answer, 1 to 7; higher is easier.';
COMMENT ON COLUMN @extschema@.ces_result.agree_pct IS 'Share of answers 5, 6 or 7 (agree), 0-100.';
COMMENT ON COLUMN @extschema@.ces_result.responses IS 'Answers counted (NULL scores are skipped).';

-- satisfaction_index(score, scale_min, scale_max [, weight])
CREATE FUNCTION @extschema@.satisfaction_index_accum(bytea, double precision, double precision, double precision)
RETURNS bytea
AS 'MODULE_PATHNAME', 'satisfaction_index_accum'
LANGUAGE C IMMUTABLE PARALLEL SAFE;
COMMENT ON FUNCTION @extschema@.satisfaction_index_accum(bytea, double precision, double precision, double precision) IS
	'Transition function of satisfaction_index(score, scale_min, scale_max). Not strict: a NULL score is skipped, a NULL scale is an error.';

CREATE FUNCTION @extschema@.satisfaction_index_accum(bytea, double precision, double precision, double precision, double precision)
RETURNS bytea
AS 'MODULE_PATHNAME', 'satisfaction_index_accum'
LANGUAGE C IMMUTABLE PARALLEL SAFE;
COMMENT ON FUNCTION @extschema@.satisfaction_index_accum(bytea, double precision, double precision, double precision, double precision) IS
	'Transition function of satisfaction_index(score, scale_min, scale_max, weight). Not strict: a NULL score is skipped, a NULL scale or weight is an error.';

CREATE FUNCTION @extschema@.satisfaction_index_combine(bytea, bytea)
RETURNS bytea
AS 'MODULE_PATHNAME', 'satisfaction_index_combine'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION @extschema@.satisfaction_index_combine(bytea, bytea) IS
	'Combine function of satisfaction_index: adds two partial states.';

CREATE FUNCTION @extschema@.satisfaction_index_final(bytea)
RETURNS double precision
AS 'MODULE_PATHNAME', 'satisfaction_index_final'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION @extschema@.satisfaction_index_final(bytea) IS
	'Final function of satisfaction_index: the 0-100 index of a state, NULL when it holds no answer.';

CREATE AGGREGATE @extschema@.satisfaction_index(score double precision, scale_min double precision, scale_max double precision) (
	SFUNC = @extschema@.satisfaction_index_accum,
	STYPE = bytea,
	COMBINEFUNC = @extschema@.satisfaction_index_combine,
	FINALFUNC = @extschema@.satisfaction_index_final,
	PARALLEL = SAFE
);
COMMENT ON AGGREGATE @extschema@.satisfaction_index(double precision, double precision, double precision) IS
	'0-100 satisfaction index: the mean of the answers, each rescaled on its own scale, (score - scale_min) / (scale_max - scale_min) * 100. NULL scores are skipped; NULL without answers. A score outside its scale, scale_min >= scale_max, NaN or infinity raise 22023.';

CREATE AGGREGATE @extschema@.satisfaction_index(score double precision, scale_min double precision, scale_max double precision, weight double precision) (
	SFUNC = @extschema@.satisfaction_index_accum,
	STYPE = bytea,
	COMBINEFUNC = @extschema@.satisfaction_index_combine,
	FINALFUNC = @extschema@.satisfaction_index_final,
	PARALLEL = SAFE
);
COMMENT ON AGGREGATE @extschema@.satisfaction_index(double precision, double precision, double precision, double precision) IS
	'Weighted 0-100 satisfaction index: sum(weight * rescaled score) / sum(weight) * 100, each answer rescaled on its own scale. Weights are relative, between 1e-9 and 1e9, kept to 9 decimals. NULL scores are skipped; NULL without answers.';

-- multi_dimension_index(dimension_no, dimension_weight, score, scale_min, scale_max)
CREATE FUNCTION @extschema@.multi_dimension_index_accum(bytea, integer, double precision, double precision, double precision, double precision)
RETURNS bytea
AS 'MODULE_PATHNAME', 'multi_dimension_index_accum'
LANGUAGE C IMMUTABLE PARALLEL SAFE;
COMMENT ON FUNCTION @extschema@.multi_dimension_index_accum(bytea, integer, double precision, double precision, double precision, double precision) IS
	'Transition function of multi_dimension_index. Not strict: a NULL score is skipped, any other NULL next to a score is an error.';

CREATE FUNCTION @extschema@.multi_dimension_index_combine(bytea, bytea)
RETURNS bytea
AS 'MODULE_PATHNAME', 'multi_dimension_index_combine'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION @extschema@.multi_dimension_index_combine(bytea, bytea) IS
	'Combine function of multi_dimension_index: adds two partial states dimension by dimension; a dimension with two different weights raises 22023.';

CREATE FUNCTION @extschema@.multi_dimension_index_final(bytea)
RETURNS double precision
AS 'MODULE_PATHNAME', 'multi_dimension_index_final'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION @extschema@.multi_dimension_index_final(bytea) IS
	'Final function of multi_dimension_index: the weighted index of a state, NULL when no dimension of positive weight was answered.';

CREATE AGGREGATE @extschema@.multi_dimension_index(dimension_no integer, dimension_weight double precision, score double precision, scale_min double precision, scale_max double precision) (
	SFUNC = @extschema@.multi_dimension_index_accum,
	STYPE = bytea,
	COMBINEFUNC = @extschema@.multi_dimension_index_combine,
	FINALFUNC = @extschema@.multi_dimension_index_final,
	PARALLEL = SAFE
);
COMMENT ON AGGREGATE @extschema@.multi_dimension_index(integer, double precision, double precision, double precision, double precision) IS
	'0-100 index over several survey dimensions: each dimension (1-32) gets the mean of its rescaled answers, then sum(w_d * index_d) / sum(w_d) over the dimensions answered in the group, so the weights are renormalised when a dimension is unanswered. Dimensions of weight 0 are left out; every answer to one dimension must carry the same weight (22023 otherwise). NULL without answers.';

-- nps, csat, ces: one counting state, told apart by its kind
CREATE FUNCTION @extschema@.nps_accum(bytea, integer)
RETURNS bytea
AS 'MODULE_PATHNAME', 'nps_accum'
LANGUAGE C IMMUTABLE PARALLEL SAFE;
COMMENT ON FUNCTION @extschema@.nps_accum(bytea, integer) IS
	'Transition function of nps: counts a 0-10 answer as promoter, passive or detractor; a NULL score is skipped.';

CREATE FUNCTION @extschema@.csat_accum(bytea, integer, integer)
RETURNS bytea
AS 'MODULE_PATHNAME', 'csat_accum'
LANGUAGE C IMMUTABLE PARALLEL SAFE;
COMMENT ON FUNCTION @extschema@.csat_accum(bytea, integer, integer) IS
	'Transition function of csat: counts a 1..scale_max answer and whether it is in the top two boxes; a NULL score is skipped.';

CREATE FUNCTION @extschema@.ces_accum(bytea, integer)
RETURNS bytea
AS 'MODULE_PATHNAME', 'ces_accum'
LANGUAGE C IMMUTABLE PARALLEL SAFE;
COMMENT ON FUNCTION @extschema@.ces_accum(bytea, integer) IS
	'Transition function of ces: adds a 1-7 answer; a NULL score is skipped.';

CREATE FUNCTION @extschema@.survey_counts_combine(bytea, bytea)
RETURNS bytea
AS 'MODULE_PATHNAME', 'survey_counts_combine'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION @extschema@.survey_counts_combine(bytea, bytea) IS
	'Combine function of nps, csat and ces: adds two partial states of the same aggregate.';

CREATE FUNCTION @extschema@.nps_final(bytea)
RETURNS @extschema@.nps_result
AS 'MODULE_PATHNAME', 'nps_final'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION @extschema@.nps_final(bytea) IS
	'Final function of nps: the nps_result of a state, NULL when it holds no answer.';

CREATE FUNCTION @extschema@.csat_final(bytea)
RETURNS double precision
AS 'MODULE_PATHNAME', 'csat_final'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION @extschema@.csat_final(bytea) IS
	'Final function of csat: the top-2-box share, 0-100, NULL when the state holds no answer.';

CREATE FUNCTION @extschema@.ces_final(bytea)
RETURNS @extschema@.ces_result
AS 'MODULE_PATHNAME', 'ces_final'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION @extschema@.ces_final(bytea) IS
	'Final function of ces: the ces_result of a state, NULL when it holds no answer.';

CREATE AGGREGATE @extschema@.nps(score integer) (
	SFUNC = @extschema@.nps_accum,
	STYPE = bytea,
	COMBINEFUNC = @extschema@.survey_counts_combine,
	FINALFUNC = @extschema@.nps_final,
	PARALLEL = SAFE
);
COMMENT ON AGGREGATE @extschema@.nps(integer) IS
	'Net Promoter Score of 0-10 "how likely are you to recommend us" answers, as a crm.nps_result row with counts, standard error and 95 % interval. NULL scores are skipped; NULL without answers; a score outside 0-10 raises 22023.';

CREATE AGGREGATE @extschema@.csat(score integer, scale_max integer) (
	SFUNC = @extschema@.csat_accum,
	STYPE = bytea,
	COMBINEFUNC = @extschema@.survey_counts_combine,
	FINALFUNC = @extschema@.csat_final,
	PARALLEL = SAFE
);
COMMENT ON AGGREGATE @extschema@.csat(integer, integer) IS
	'CSAT: share of answers in the top two boxes of their own 1..scale_max scale (4-5 on 1-5), 0-100. scale_max must be 3 to 100. NULL scores are skipped; NULL without answers.';

CREATE AGGREGATE @extschema@.ces(score integer) (
	SFUNC = @extschema@.ces_accum,
	STYPE = bytea,
	COMBINEFUNC = @extschema@.survey_counts_combine,
	FINALFUNC = @extschema@.ces_final,
	PARALLEL = SAFE
);
COMMENT ON AGGREGATE @extschema@.ces(integer) IS
	'Customer Effort Score 2.0 of 1-7 agreement answers, as a crm.ces_result row with both usual reports: the mean and the share of 5-7. NULL scores are skipped; NULL without answers; a score outside 1-7 raises 22023.';

-- Survey dimensions and their weights in the overall index.
CREATE TABLE @extschema@.satisfaction_dimensions (
	dimension		text PRIMARY KEY,
	dimension_no	integer NOT NULL UNIQUE
		CONSTRAINT satisfaction_dimensions_no_range CHECK (dimension_no BETWEEN 1 AND 32),
	weight			double precision NOT NULL
		CONSTRAINT satisfaction_dimensions_weight_range CHECK (weight = 0 OR weight BETWEEN 1e-9 AND 1e9),
	description		text NOT NULL
);
COMMENT ON TABLE @extschema@.satisfaction_dimensions IS
	'Survey dimensions (questions) and their weights in the multi-dimension satisfaction index. Weights are relative and renormalised over the dimensions a group answered; weight 0 keeps a dimension (such as the NPS question) out of the index. Edit with UPDATE or INSERT.';
COMMENT ON COLUMN @extschema@.satisfaction_dimensions.dimension IS 'Dimension key, used in crm.survey_responses.dimension.';
COMMENT ON COLUMN @extschema@.satisfaction_dimensions.dimension_no IS 'Slot 1-32 of the dimension in crm.multi_dimension_index.';
COMMENT ON COLUMN @extschema@.satisfaction_dimensions.weight IS 'Relative weight in the overall index: 0, or 1e-9 to 1e9.';
COMMENT ON COLUMN @extschema@.satisfaction_dimensions.description IS 'What the question asks.';

INSERT INTO @extschema@.satisfaction_dimensions (dimension, dimension_no, weight, description) VALUES
	('product_quality', 1, 0.25, 'Satisfaction with the quality of the products bought.'),
	('service_quality', 2, 0.20, 'Satisfaction with the staff and the service.'),
	('price_fairness', 3, 0.15, 'Whether the prices felt fair for what was bought.'),
	('store_environment', 4, 0.10, 'The store or site: cleanliness, layout, ease of finding things.'),
	('after_sales_service', 5, 0.10, 'Returns, repairs, delivery and help after the purchase.'),
	('overall', 6, 0.20, 'Overall satisfaction.'),
	('recommend', 7, 0, 'NPS question: how likely the customer is to recommend the retailer, 0-10. Not in the index.'),
	('effort', 8, 0, 'CES question: the retailer made it easy to get what I wanted, 1-7. Not in the index.');

CREATE TABLE @extschema@.survey_responses (
	response_id		bigint GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
	customer_id		bigint,
	survey_id		text,
	transaction_id	text,
	channel			text,
	store			text,
	responded_at	timestamptz NOT NULL,
	dimension		text NOT NULL REFERENCES @extschema@.satisfaction_dimensions (dimension) ON UPDATE CASCADE,
	score			double precision NOT NULL,
	scale_min		double precision NOT NULL,
	scale_max		double precision NOT NULL,
	CONSTRAINT survey_responses_scale_valid
		CHECK (scale_min > '-Infinity' AND scale_max < 'Infinity' AND scale_min < scale_max),
	CONSTRAINT survey_responses_score_on_scale CHECK (score BETWEEN scale_min AND scale_max)
);
COMMENT ON TABLE @extschema@.survey_responses IS
	'One row per answered survey question. An unanswered question has no row. Each answer carries its own scale, so answers on different scales can be combined after rescaling.';
COMMENT ON COLUMN @extschema@.survey_responses.response_id IS 'Answer key.';
COMMENT ON COLUMN @extschema@.survey_responses.customer_id IS 'Customer who answered; NULL for an anonymous survey.';
COMMENT ON COLUMN @extschema@.survey_responses.survey_id IS 'The retailer''s key of the questionnaire filled in (groups the answers of one sitting).';
COMMENT ON COLUMN @extschema@.survey_responses.transaction_id IS 'Order the survey was about, if any.';
COMMENT ON COLUMN @extschema@.survey_responses.channel IS 'Survey channel, e.g. email, sms, app, in-store, phone.';
COMMENT ON COLUMN @extschema@.survey_responses.store IS 'Store or site the answer is about.';
COMMENT ON COLUMN @extschema@.survey_responses.responded_at IS 'When the customer answered.';
COMMENT ON COLUMN @extschema@.survey_responses.dimension IS 'Question answered (crm.satisfaction_dimensions).';
COMMENT ON COLUMN @extschema@.survey_responses.score IS 'The answer, between scale_min and scale_max.';
COMMENT ON COLUMN @extschema@.survey_responses.scale_min IS 'Lowest possible answer of the question (worst).';
COMMENT ON COLUMN @extschema@.survey_responses.scale_max IS 'Highest possible answer of the question (best).';

CREATE INDEX survey_responses_customer_time_idx ON @extschema@.survey_responses (customer_id, responded_at);
CREATE INDEX survey_responses_time_idx ON @extschema@.survey_responses (responded_at);

CREATE TABLE @extschema@.feedback (
	feedback_id		bigint GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
	customer_id		bigint,
	transaction_id	text,
	channel			text,
	store			text,
	received_at		timestamptz NOT NULL,
	topic			text,
	comment			text NOT NULL
);
COMMENT ON TABLE @extschema@.feedback IS
	'Free-text feedback: survey comments, reviews, messages. comment is personal data and never reaches an analyst view.';
COMMENT ON COLUMN @extschema@.feedback.feedback_id IS 'Feedback key.';
COMMENT ON COLUMN @extschema@.feedback.customer_id IS 'Customer who wrote it; NULL when anonymous.';
COMMENT ON COLUMN @extschema@.feedback.transaction_id IS 'Order it is about, if any.';
COMMENT ON COLUMN @extschema@.feedback.channel IS 'Where it was received, e.g. survey, email, review site, in-store.';
COMMENT ON COLUMN @extschema@.feedback.store IS 'Store or site it is about.';
COMMENT ON COLUMN @extschema@.feedback.received_at IS 'When it was received.';
COMMENT ON COLUMN @extschema@.feedback.topic IS 'Topic chosen by the customer or tagged by staff, e.g. a dimension key.';
COMMENT ON COLUMN @extschema@.feedback.comment IS 'Personal data: the customer''s own words.';

CREATE INDEX feedback_customer_idx ON @extschema@.feedback (customer_id);

-- Settings of the voice-of-the-customer views.
CREATE TABLE @extschema@.voice_settings (
	singleton					boolean PRIMARY KEY DEFAULT true CONSTRAINT voice_settings_single_row CHECK (singleton),
	satisfaction_window_days	integer NOT NULL DEFAULT 90
		CONSTRAINT voice_settings_window_positive CHECK (satisfaction_window_days BETWEEN 1 AND 3660),
	satisfaction_drop_points	double precision NOT NULL DEFAULT 10
		CONSTRAINT voice_settings_drop_range CHECK (satisfaction_drop_points > 0 AND satisfaction_drop_points <= 100),
	call_min_m_score			smallint NOT NULL DEFAULT 4
		CONSTRAINT voice_settings_m_score_range CHECK (call_min_m_score BETWEEN 1 AND 5),
	call_min_clv				double precision
		CONSTRAINT voice_settings_clv_finite CHECK (call_min_clv >= 0 AND call_min_clv < 'Infinity')
);
COMMENT ON TABLE @extschema@.voice_settings IS
	'The one row of voice-of-the-customer settings (satisfaction windows and who counts as high value in crm.customers_to_call). Change with UPDATE.';
COMMENT ON COLUMN @extschema@.voice_settings.singleton IS 'Always true: keeps the table to one row.';
COMMENT ON COLUMN @extschema@.voice_settings.satisfaction_window_days IS 'Length of the current and the previous satisfaction window, in days back from the refresh''s as_of.';
COMMENT ON COLUMN @extschema@.voice_settings.satisfaction_drop_points IS 'A fall of the index by at least this many points from the previous to the current window puts a high-value customer on the call list.';
COMMENT ON COLUMN @extschema@.voice_settings.call_min_m_score IS 'High value: customers with at least this RFM monetary score...';
COMMENT ON COLUMN @extschema@.voice_settings.call_min_clv IS '...or with at least this CLV; NULL: CLV is not used.';
INSERT INTO @extschema@.voice_settings DEFAULT VALUES;

SELECT pg_catalog.pg_extension_config_dump('@extschema@.satisfaction_dimensions', '');
SELECT pg_catalog.pg_extension_config_dump('@extschema@.survey_responses', '');
SELECT pg_catalog.pg_extension_config_dump('@extschema@.feedback', '');
SELECT pg_catalog.pg_extension_config_dump('@extschema@.voice_settings', '');

-- Satisfaction per calendar month (session TimeZone), store and dimension;
-- store '(all stores)' totals the month.
CREATE VIEW @extschema@.satisfaction_trend AS
SELECT date_trunc('month', r.responded_at) AS month,
	   CASE WHEN grouping(r.store) = 1 THEN '(all stores)' ELSE coalesce(r.store, '(no store)') END AS store,
	   r.dimension,
	   count(*) AS responses,
	   round(@extschema@.satisfaction_index(r.score, r.scale_min, r.scale_max)::numeric, 2)::numeric(5,2) AS satisfaction_index,
	   round(@extschema@.csat(r.score::integer, r.scale_max::integer)
			 FILTER (WHERE r.scale_min = 1 AND r.score = trunc(r.score)
					 AND r.scale_max IN (3, 4, 5, 6, 7, 8, 9, 10))::numeric, 2)::numeric(5,2) AS csat
FROM @extschema@.survey_responses AS r
GROUP BY GROUPING SETS ((date_trunc('month', r.responded_at), r.dimension),
					   (date_trunc('month', r.responded_at), r.store, r.dimension));
COMMENT ON VIEW @extschema@.satisfaction_trend IS
	'Satisfaction per month, store and survey dimension: the 0-100 index (each answer rescaled on its own scale) and CSAT.';
COMMENT ON COLUMN @extschema@.satisfaction_trend.month IS 'First instant of the calendar month, in the session TimeZone.';
COMMENT ON COLUMN @extschema@.satisfaction_trend.store IS 'Store; (all stores) for the month''s total, (no store) for answers without one.';
COMMENT ON COLUMN @extschema@.satisfaction_trend.dimension IS 'Survey dimension.';
COMMENT ON COLUMN @extschema@.satisfaction_trend.responses IS 'Answers.';
COMMENT ON COLUMN @extschema@.satisfaction_trend.satisfaction_index IS 'Mean rescaled answer, 0-100 (crm.satisfaction_index).';
COMMENT ON COLUMN @extschema@.satisfaction_trend.csat IS 'Share of top-2-box answers, 0-100, over the answers on integer 1-3 to 1-10 scales; NULL when there are none.';

-- The weighted overall index per month and store.
CREATE VIEW @extschema@.satisfaction_index_monthly AS
SELECT date_trunc('month', r.responded_at) AS month,
	   CASE WHEN grouping(r.store) = 1 THEN '(all stores)' ELSE coalesce(r.store, '(no store)') END AS store,
	   count(*) FILTER (WHERE d.weight > 0) AS responses,
	   count(DISTINCT r.dimension) FILTER (WHERE d.weight > 0) AS dimensions_answered,
	   round(@extschema@.multi_dimension_index(d.dimension_no, d.weight, r.score, r.scale_min, r.scale_max)::numeric, 2)::numeric(5,2) AS satisfaction_index
FROM @extschema@.survey_responses AS r
JOIN @extschema@.satisfaction_dimensions AS d USING (dimension)
GROUP BY GROUPING SETS ((date_trunc('month', r.responded_at)), (date_trunc('month', r.responded_at), r.store));
COMMENT ON VIEW @extschema@.satisfaction_index_monthly IS
	'The overall satisfaction index per month and store: dimension indexes weighted by crm.satisfaction_dimensions.weight, renormalised over the dimensions answered (crm.multi_dimension_index).';
COMMENT ON COLUMN @extschema@.satisfaction_index_monthly.month IS 'First instant of the calendar month, in the session TimeZone.';
COMMENT ON COLUMN @extschema@.satisfaction_index_monthly.store IS 'Store; (all stores) for the month''s total, (no store) for answers without one.';
COMMENT ON COLUMN @extschema@.satisfaction_index_monthly.responses IS 'Answers to dimensions of positive weight.';
COMMENT ON COLUMN @extschema@.satisfaction_index_monthly.dimensions_answered IS 'Dimensions of positive weight with at least one answer.';
COMMENT ON COLUMN @extschema@.satisfaction_index_monthly.satisfaction_index IS 'Weighted index, 0-100; NULL when no dimension of positive weight was answered.';

-- NPS per month and store from the recommend question (0-10 answers).
CREATE VIEW @extschema@.nps_trend AS
SELECT g.month, g.store,
	   (g.result).responses,
	   (g.result).promoters,
	   (g.result).passives,
	   (g.result).detractors,
	   round((g.result).nps::numeric, 2)::numeric(5,2) AS nps,
	   round((g.result).std_error::numeric, 2)::numeric(5,2) AS std_error,
	   round((g.result).ci_low::numeric, 2)::numeric(5,2) AS ci_low,
	   round((g.result).ci_high::numeric, 2)::numeric(5,2) AS ci_high
FROM (
	SELECT date_trunc('month', r.responded_at) AS month,
		   CASE WHEN grouping(r.store) = 1 THEN '(all stores)' ELSE coalesce(r.store, '(no store)') END AS store,
		   @extschema@.nps(r.score::integer) AS result
	FROM @extschema@.survey_responses AS r
	WHERE r.dimension = 'recommend' AND r.scale_min = 0 AND r.scale_max = 10
	GROUP BY GROUPING SETS ((date_trunc('month', r.responded_at)), (date_trunc('month', r.responded_at), r.store))
) AS g;
COMMENT ON VIEW @extschema@.nps_trend IS
	'Net Promoter Score per month and store with its 95 % interval, from the answers to the recommend dimension on the 0-10 scale (scores rounded to whole numbers).';
COMMENT ON COLUMN @extschema@.nps_trend.month IS 'First instant of the calendar month, in the session TimeZone.';
COMMENT ON COLUMN @extschema@.nps_trend.store IS 'Store; (all stores) for the month''s total, (no store) for answers without one.';
COMMENT ON COLUMN @extschema@.nps_trend.responses IS 'Answers.';
COMMENT ON COLUMN @extschema@.nps_trend.promoters IS 'Answers 9-10.';
COMMENT ON COLUMN @extschema@.nps_trend.passives IS 'Answers 7-8.';
COMMENT ON COLUMN @extschema@.nps_trend.detractors IS 'Answers 0-6.';
COMMENT ON COLUMN @extschema@.nps_trend.nps IS 'NPS, -100 to 100.';
COMMENT ON COLUMN @extschema@.nps_trend.std_error IS 'Standard error of the NPS.';
COMMENT ON COLUMN @extschema@.nps_trend.ci_low IS 'Lower end of the 95 % interval.';
COMMENT ON COLUMN @extschema@.nps_trend.ci_high IS 'Upper end of the 95 % interval.';

-- Each customer's overall index in the current and the previous window
-- before the last refresh's as_of.
CREATE VIEW @extschema@.customer_satisfaction AS
WITH params AS (
	SELECT (SELECT max(cs.as_of) FROM @extschema@.customer_segments AS cs) AS as_of,
		   v.satisfaction_window_days * interval '1 day' AS window_length
	FROM @extschema@.voice_settings AS v
), windowed AS (
	SELECT r.customer_id, d.dimension_no, d.weight, r.score, r.scale_min, r.scale_max,
		   r.responded_at > p.as_of - p.window_length AS in_current,
		   p.as_of
	FROM @extschema@.survey_responses AS r
	JOIN @extschema@.satisfaction_dimensions AS d USING (dimension)
	CROSS JOIN params AS p
	WHERE r.customer_id IS NOT NULL
	  AND r.responded_at <= p.as_of
	  AND r.responded_at > p.as_of - 2 * p.window_length
	  AND d.weight > 0
), indexed AS (
	SELECT w.customer_id,
		   @extschema@.multi_dimension_index(w.dimension_no, w.weight, w.score, w.scale_min, w.scale_max)
			   FILTER (WHERE w.in_current) AS current_index,
		   count(*) FILTER (WHERE w.in_current) AS current_responses,
		   @extschema@.multi_dimension_index(w.dimension_no, w.weight, w.score, w.scale_min, w.scale_max)
			   FILTER (WHERE NOT w.in_current) AS previous_index,
		   count(*) FILTER (WHERE NOT w.in_current) AS previous_responses,
		   min(w.as_of) AS as_of
	FROM windowed AS w
	GROUP BY w.customer_id
)
SELECT i.customer_id,
	   round(i.current_index::numeric, 2)::numeric(5,2) AS current_index,
	   i.current_responses,
	   round(i.previous_index::numeric, 2)::numeric(5,2) AS previous_index,
	   i.previous_responses,
	   round((i.current_index - i.previous_index)::numeric, 2)::numeric(5,2) AS index_change,
	   i.as_of
FROM indexed AS i;
COMMENT ON VIEW @extschema@.customer_satisfaction IS
	'Each customer''s weighted satisfaction index in the current window (the crm.voice_settings.satisfaction_window_days days up to the last refresh''s as_of) and in the window before it. Empty before the first refresh.';
COMMENT ON COLUMN @extschema@.customer_satisfaction.customer_id IS 'Customer key.';
COMMENT ON COLUMN @extschema@.customer_satisfaction.current_index IS 'Weighted index, 0-100, over the current window; NULL without answers.';
COMMENT ON COLUMN @extschema@.customer_satisfaction.current_responses IS 'Answers in the current window.';
COMMENT ON COLUMN @extschema@.customer_satisfaction.previous_index IS 'Weighted index over the previous window; NULL without answers.';
COMMENT ON COLUMN @extschema@.customer_satisfaction.previous_responses IS 'Answers in the previous window.';
COMMENT ON COLUMN @extschema@.customer_satisfaction.index_change IS 'current_index - previous_index; negative when satisfaction fell.';
COMMENT ON COLUMN @extschema@.customer_satisfaction.as_of IS 'Analysis date of the last refresh, end of the current window.';

GRANT SELECT ON @extschema@.satisfaction_trend, @extschema@.satisfaction_index_monthly,
	@extschema@.nps_trend, @extschema@.customer_satisfaction,
	@extschema@.satisfaction_dimensions, @extschema@.voice_settings
TO crm_analyst;
GRANT SELECT, INSERT, UPDATE, DELETE, TRUNCATE ON
	@extschema@.satisfaction_dimensions, @extschema@.survey_responses,
	@extschema@.feedback, @extschema@.voice_settings
TO crm_admin;
GRANT USAGE, SELECT ON SEQUENCE @extschema@.survey_responses_response_id_seq,
	@extschema@.feedback_feedback_id_seq
TO crm_admin;
-- Voice of the customer, part 2: complaint tickets, their status changes as
-- events, SLA targets per priority, and the timing metrics computed from
-- the events.

CREATE TABLE @extschema@.complaint_sla_targets (
	priority				text PRIMARY KEY,
	first_reply_minutes		integer NOT NULL
		CONSTRAINT complaint_sla_targets_reply_positive CHECK (first_reply_minutes > 0),
	resolution_minutes		integer NOT NULL
		CONSTRAINT complaint_sla_targets_resolution_positive CHECK (resolution_minutes > 0)
);
COMMENT ON TABLE @extschema@.complaint_sla_targets IS
	'SLA targets per ticket priority, in minutes of running SLA clock (the clock pauses while a ticket is pending or on-hold). Edit with UPDATE or INSERT.';
COMMENT ON COLUMN @extschema@.complaint_sla_targets.priority IS 'Ticket priority.';
COMMENT ON COLUMN @extschema@.complaint_sla_targets.first_reply_minutes IS 'Target from opening to the first staff reply.';
COMMENT ON COLUMN @extschema@.complaint_sla_targets.resolution_minutes IS 'Target from opening to the final solution.';

INSERT INTO @extschema@.complaint_sla_targets (priority, first_reply_minutes, resolution_minutes) VALUES
	('urgent', 60, 480),
	('high', 240, 1440),
	('normal', 480, 4320),
	('low', 1440, 10080);

CREATE TABLE @extschema@.complaint_tickets (
	ticket_id		bigint GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
	customer_id		bigint,
	transaction_id	text,
	category		text NOT NULL,
	priority		text NOT NULL DEFAULT 'normal'
		REFERENCES @extschema@.complaint_sla_targets (priority) ON UPDATE CASCADE,
	channel			text,
	store			text,
	opened_at		timestamptz NOT NULL,
	description		text
);
COMMENT ON TABLE @extschema@.complaint_tickets IS
	'One row per complaint. A ticket starts in status new at opened_at; every later change is a row of crm.complaint_events. description is personal data.';
COMMENT ON COLUMN @extschema@.complaint_tickets.ticket_id IS 'Ticket key.';
COMMENT ON COLUMN @extschema@.complaint_tickets.customer_id IS 'Customer who complained; NULL when unknown.';
COMMENT ON COLUMN @extschema@.complaint_tickets.transaction_id IS 'Order the complaint is about, if any.';
COMMENT ON COLUMN @extschema@.complaint_tickets.category IS 'What it is about, e.g. product, delivery, service, billing, returns.';
COMMENT ON COLUMN @extschema@.complaint_tickets.priority IS 'Priority; its SLA targets are in crm.complaint_sla_targets.';
COMMENT ON COLUMN @extschema@.complaint_tickets.channel IS 'Where it came in, e.g. phone, email, store, app, social.';
COMMENT ON COLUMN @extschema@.complaint_tickets.store IS 'Store or site concerned.';
COMMENT ON COLUMN @extschema@.complaint_tickets.opened_at IS 'When the ticket was opened (status new); the SLA clocks start here.';
COMMENT ON COLUMN @extschema@.complaint_tickets.description IS 'Personal data: the complaint in the customer''s or agent''s words.';

CREATE INDEX complaint_tickets_customer_idx ON @extschema@.complaint_tickets (customer_id);
CREATE INDEX complaint_tickets_opened_idx ON @extschema@.complaint_tickets (opened_at);

CREATE TABLE @extschema@.complaint_events (
	event_id		bigint GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
	ticket_id		bigint NOT NULL REFERENCES @extschema@.complaint_tickets (ticket_id) ON DELETE CASCADE,
	occurred_at		timestamptz NOT NULL,
	status			text CONSTRAINT complaint_events_status_known
		CHECK (status IN ('new', 'open', 'pending', 'on-hold', 'solved', 'closed', 'reopened')),
	agent_reply		boolean NOT NULL DEFAULT false,
	message			text,
	CONSTRAINT complaint_events_does_something CHECK (status IS NOT NULL OR agent_reply)
);
COMMENT ON TABLE @extschema@.complaint_events IS
	'What happened to a ticket, in time order: status changes and staff replies to the customer. Every complaint metric is recomputed from these rows. message is personal data.';
COMMENT ON COLUMN @extschema@.complaint_events.event_id IS 'Event key; orders events with the same timestamp.';
COMMENT ON COLUMN @extschema@.complaint_events.ticket_id IS 'Ticket (crm.complaint_tickets).';
COMMENT ON COLUMN @extschema@.complaint_events.occurred_at IS 'When it happened; an event before the ticket''s opened_at counts as at opened_at.';
COMMENT ON COLUMN @extschema@.complaint_events.status IS 'Status from now on: new, open, pending (waiting on the customer), on-hold (waiting on a third party), solved, closed or reopened; NULL when the status did not change.';
COMMENT ON COLUMN @extschema@.complaint_events.agent_reply IS 'True when staff replied to the customer in this event (first reply time, one-touch resolution).';
COMMENT ON COLUMN @extschema@.complaint_events.message IS 'Personal data: text of the reply or note.';

CREATE INDEX complaint_events_ticket_time_idx ON @extschema@.complaint_events (ticket_id, occurred_at, event_id);

SELECT pg_catalog.pg_extension_config_dump('@extschema@.complaint_sla_targets', '');
SELECT pg_catalog.pg_extension_config_dump('@extschema@.complaint_tickets', '');
SELECT pg_catalog.pg_extension_config_dump('@extschema@.complaint_events', '');

-- Per-ticket timing at as_of.  The SLA clock runs while the status is new,
-- open or reopened, pauses in pending and on-hold and stops in solved and
-- closed; events and tickets after as_of are ignored.  Reads the tables'
-- non-personal columns only (analysts hold SELECT on exactly those).
CREATE FUNCTION @extschema@.complaint_metrics(as_of timestamptz)
RETURNS TABLE (
	ticket_id bigint,
	customer_id bigint,
	store text,
	category text,
	priority text,
	channel text,
	opened_at timestamptz,
	status text,
	resolved boolean,
	agent_replies bigint,
	first_reply_at timestamptz,
	first_reply_minutes numeric,
	first_resolution_minutes numeric,
	resolution_minutes numeric,
	clock_minutes numeric,
	paused_minutes numeric,
	reopens bigint,
	one_touch boolean,
	first_reply_target_minutes integer,
	resolution_target_minutes integer,
	first_reply_breached boolean,
	resolution_breached boolean
)
LANGUAGE sql STABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
-- stable because it reads tables
AS $$
WITH tickets AS (
	SELECT t.ticket_id, t.customer_id, t.store, t.category, t.priority, t.channel, t.opened_at
	FROM @extschema@.complaint_tickets AS t
	WHERE t.opened_at <= as_of
), events AS (
	SELECT e.ticket_id, e.event_id, greatest(e.occurred_at, t.opened_at) AS at, e.status, e.agent_reply
	FROM @extschema@.complaint_events AS e
	JOIN tickets AS t USING (ticket_id)
	WHERE e.occurred_at <= as_of
), replies AS (
	SELECT e.ticket_id, count(*) AS agent_replies, min(e.at) AS first_reply_at
	FROM events AS e
	WHERE e.agent_reply
	GROUP BY e.ticket_id
), timeline AS (
	SELECT t.ticket_id, t.opened_at AS at, 0::bigint AS event_id, 'new'::text AS status
	FROM tickets AS t
	UNION ALL
	SELECT e.ticket_id, e.at, e.event_id, e.status
	FROM events AS e
	WHERE e.status IS NOT NULL
), spans AS (
	-- each status holds from its event to the next one (or as_of)
	SELECT l.ticket_id, l.status, l.at AS span_start,
		   coalesce(lead(l.at) OVER w, as_of) AS span_end,
		   lag(l.status) OVER w AS previous_status,
		   row_number() OVER (PARTITION BY l.ticket_id ORDER BY l.at DESC, l.event_id DESC) AS from_last,
		   l.status IN ('new', 'open', 'reopened') AS clock_runs,
		   min(l.at) FILTER (WHERE l.status IN ('solved', 'closed')) OVER (PARTITION BY l.ticket_id) AS first_solved_at,
		   r.first_reply_at
	FROM timeline AS l
	LEFT JOIN replies AS r USING (ticket_id)
	WINDOW w AS (PARTITION BY l.ticket_id ORDER BY l.at, l.event_id)
), per_ticket AS (
	SELECT s.ticket_id,
		   min(s.status) FILTER (WHERE s.from_last = 1) AS status,
		   sum(s.span_end - s.span_start) FILTER (WHERE s.clock_runs) AS running,
		   sum(s.span_end - s.span_start) FILTER (WHERE s.status IN ('pending', 'on-hold')) AS paused,
		   sum(least(s.span_end, s.first_reply_at) - s.span_start)
			   FILTER (WHERE s.clock_runs AND s.span_start < s.first_reply_at) AS running_to_reply,
		   sum(least(s.span_end, s.first_solved_at) - s.span_start)
			   FILTER (WHERE s.clock_runs AND s.span_start < s.first_solved_at) AS running_to_first_solve,
		   min(s.first_solved_at) AS first_solved_at,
		   count(*) FILTER (WHERE s.previous_status IN ('solved', 'closed')
							AND s.status NOT IN ('solved', 'closed')) AS reopens
	FROM spans AS s
	GROUP BY s.ticket_id
), measured AS (
	SELECT t.*, p.status, p.reopens, p.first_solved_at,
		   p.status IN ('solved', 'closed') AS resolved,
		   coalesce(r.agent_replies, 0) AS agent_replies,
		   r.first_reply_at,
		   round(extract(epoch FROM coalesce(p.running_to_reply, interval '0')) / 60, 2) AS to_reply,
		   round(extract(epoch FROM coalesce(p.running_to_first_solve, interval '0')) / 60, 2) AS to_first_solve,
		   round(extract(epoch FROM coalesce(p.running, interval '0')) / 60, 2) AS running,
		   round(extract(epoch FROM coalesce(p.paused, interval '0')) / 60, 2) AS paused,
		   g.first_reply_minutes AS reply_target,
		   g.resolution_minutes AS resolution_target
	FROM tickets AS t
	JOIN per_ticket AS p USING (ticket_id)
	LEFT JOIN replies AS r USING (ticket_id)
	JOIN @extschema@.complaint_sla_targets AS g USING (priority)
)
SELECT m.ticket_id, m.customer_id, m.store, m.category, m.priority, m.channel, m.opened_at,
	   m.status, m.resolved, m.agent_replies, m.first_reply_at,
	   CASE WHEN m.first_reply_at IS NOT NULL THEN m.to_reply END,
	   CASE WHEN m.first_solved_at IS NOT NULL THEN m.to_first_solve END,
	   CASE WHEN m.resolved THEN m.running END,
	   m.running,
	   m.paused,
	   m.reopens,
	   m.resolved AND m.agent_replies = 1 AND m.reopens = 0,
	   m.reply_target,
	   m.resolution_target,
	   CASE WHEN m.first_reply_at IS NOT NULL THEN m.to_reply ELSE m.running END > m.reply_target,
	   m.running > m.resolution_target
FROM measured AS m
ORDER BY m.ticket_id
$$;
COMMENT ON FUNCTION @extschema@.complaint_metrics(timestamptz) IS
	'Per-ticket complaint metrics at the analysis date as_of, recomputed from crm.complaint_events: status, staff replies, first reply, first and full resolution time, the SLA clock so far, paused time, reopens, one-touch resolution and SLA breaches. The SLA clock runs while a ticket is new, open or reopened, pauses while it is pending or on-hold, and stops while it is solved or closed; times are minutes of running clock, rounded to 2 decimals. A ticket still waiting for its first reply or its solution at as_of has breached when its clock so far exceeds the target.';

-- Per-ticket metrics now, for BI and for analysts.
CREATE VIEW @extschema@.complaint_ticket_metrics AS
SELECT m.ticket_id, m.customer_id, m.store, m.category, m.priority, m.channel, m.opened_at,
	   m.status, m.resolved, m.agent_replies, m.first_reply_at, m.first_reply_minutes::numeric(14,2) AS first_reply_minutes,
	   m.first_resolution_minutes::numeric(14,2) AS first_resolution_minutes,
	   m.resolution_minutes::numeric(14,2) AS resolution_minutes, m.clock_minutes::numeric(14,2) AS clock_minutes,
	   m.paused_minutes::numeric(14,2) AS paused_minutes, m.reopens,
	   m.one_touch, m.first_reply_target_minutes, m.resolution_target_minutes,
	   m.first_reply_breached, m.resolution_breached
FROM @extschema@.complaint_metrics(now()) AS m;
COMMENT ON VIEW @extschema@.complaint_ticket_metrics IS
	'crm.complaint_metrics at the current time: one row per ticket, without its description or messages.';
COMMENT ON COLUMN @extschema@.complaint_ticket_metrics.ticket_id IS 'Ticket key.';
COMMENT ON COLUMN @extschema@.complaint_ticket_metrics.customer_id IS 'Customer who complained.';
COMMENT ON COLUMN @extschema@.complaint_ticket_metrics.store IS 'Store concerned.';
COMMENT ON COLUMN @extschema@.complaint_ticket_metrics.category IS 'Complaint category.';
COMMENT ON COLUMN @extschema@.complaint_ticket_metrics.priority IS 'Priority.';
COMMENT ON COLUMN @extschema@.complaint_ticket_metrics.channel IS 'Channel it came in by.';
COMMENT ON COLUMN @extschema@.complaint_ticket_metrics.opened_at IS 'When it was opened.';
COMMENT ON COLUMN @extschema@.complaint_ticket_metrics.status IS 'Current status.';
COMMENT ON COLUMN @extschema@.complaint_ticket_metrics.resolved IS 'Solved or closed now.';
COMMENT ON COLUMN @extschema@.complaint_ticket_metrics.agent_replies IS 'Staff replies to the customer.';
COMMENT ON COLUMN @extschema@.complaint_ticket_metrics.first_reply_at IS 'First staff reply; NULL before it.';
COMMENT ON COLUMN @extschema@.complaint_ticket_metrics.first_reply_minutes IS 'Running SLA minutes from opening to the first reply; NULL before it.';
COMMENT ON COLUMN @extschema@.complaint_ticket_metrics.first_resolution_minutes IS 'Running SLA minutes from opening to the first time it was solved or closed; NULL if never.';
COMMENT ON COLUMN @extschema@.complaint_ticket_metrics.resolution_minutes IS 'Running SLA minutes from opening to the final solution; NULL while unresolved.';
COMMENT ON COLUMN @extschema@.complaint_ticket_metrics.clock_minutes IS 'Running SLA minutes so far: equal to resolution_minutes when resolved, growing while unresolved.';
COMMENT ON COLUMN @extschema@.complaint_ticket_metrics.paused_minutes IS 'Minutes spent pending or on-hold (not counted by the SLA clock).';
COMMENT ON COLUMN @extschema@.complaint_ticket_metrics.reopens IS 'Times it went from solved or closed back to an unsolved status.';
COMMENT ON COLUMN @extschema@.complaint_ticket_metrics.one_touch IS 'Resolved with exactly one staff reply and never reopened.';
COMMENT ON COLUMN @extschema@.complaint_ticket_metrics.first_reply_target_minutes IS 'SLA target for the first reply.';
COMMENT ON COLUMN @extschema@.complaint_ticket_metrics.resolution_target_minutes IS 'SLA target for the resolution.';
COMMENT ON COLUMN @extschema@.complaint_ticket_metrics.first_reply_breached IS 'The first reply came, or is still missing, after its target.';
COMMENT ON COLUMN @extschema@.complaint_ticket_metrics.resolution_breached IS 'The resolution came, or is still missing, after its target.';

-- SLA dashboard per month opened and priority.
CREATE VIEW @extschema@.complaint_sla_dashboard AS
SELECT date_trunc('month', m.opened_at) AS month,
	   m.priority,
	   count(*) AS tickets,
	   count(*) FILTER (WHERE m.resolved) AS resolved,
	   round(avg(m.first_reply_minutes), 1)::numeric(14,1) AS avg_first_reply_minutes,
	   round(avg(m.resolution_minutes), 1)::numeric(14,1) AS avg_resolution_minutes,
	   round(count(*) FILTER (WHERE m.reopens > 0)::numeric
			 / nullif(count(*) FILTER (WHERE m.first_resolution_minutes IS NOT NULL), 0), 4)::numeric(7,4) AS reopen_rate,
	   round(count(*) FILTER (WHERE m.one_touch)::numeric
			 / nullif(count(*) FILTER (WHERE m.resolved), 0), 4)::numeric(7,4) AS one_touch_share,
	   count(*) FILTER (WHERE m.first_reply_breached) AS first_reply_breaches,
	   count(*) FILTER (WHERE m.resolution_breached) AS resolution_breaches,
	   round(count(*) FILTER (WHERE m.first_reply_breached OR m.resolution_breached)::numeric / count(*), 4)::numeric(7,4) AS breach_share,
	   count(*) FILTER (WHERE NOT m.resolved AND m.resolution_breached) AS open_breached
FROM @extschema@.complaint_ticket_metrics AS m
GROUP BY 1, 2;
COMMENT ON VIEW @extschema@.complaint_sla_dashboard IS
	'Complaint handling per calendar month opened (session TimeZone) and priority, at the current time: volumes, mean first reply and resolution times, reopen rate, one-touch share and SLA breaches.';
COMMENT ON COLUMN @extschema@.complaint_sla_dashboard.month IS 'First instant of the calendar month the tickets were opened in.';
COMMENT ON COLUMN @extschema@.complaint_sla_dashboard.priority IS 'Priority.';
COMMENT ON COLUMN @extschema@.complaint_sla_dashboard.tickets IS 'Tickets opened.';
COMMENT ON COLUMN @extschema@.complaint_sla_dashboard.resolved IS 'Of them, solved or closed now.';
COMMENT ON COLUMN @extschema@.complaint_sla_dashboard.avg_first_reply_minutes IS 'Mean running SLA minutes to the first reply, over the tickets replied to.';
COMMENT ON COLUMN @extschema@.complaint_sla_dashboard.avg_resolution_minutes IS 'Mean running SLA minutes to the final solution, over the resolved tickets.';
COMMENT ON COLUMN @extschema@.complaint_sla_dashboard.reopen_rate IS 'Share of the tickets ever solved that were reopened at least once, 0-1.';
COMMENT ON COLUMN @extschema@.complaint_sla_dashboard.one_touch_share IS 'Share of the resolved tickets solved with one staff reply and no reopening, 0-1.';
COMMENT ON COLUMN @extschema@.complaint_sla_dashboard.first_reply_breaches IS 'Tickets whose first reply missed its target (or is missing past it).';
COMMENT ON COLUMN @extschema@.complaint_sla_dashboard.resolution_breaches IS 'Tickets whose resolution missed its target (or is missing past it).';
COMMENT ON COLUMN @extschema@.complaint_sla_dashboard.breach_share IS 'Share of tickets with any breach, 0-1.';
COMMENT ON COLUMN @extschema@.complaint_sla_dashboard.open_breached IS 'Unresolved tickets already past their resolution target.';

-- The tickets and events without their text, for BI tools: they read a
-- relation with SELECT *, which the column grants below make fail.
CREATE VIEW @extschema@.complaint_ticket_list AS
SELECT t.ticket_id, t.customer_id, t.transaction_id, t.category, t.priority, t.channel, t.store, t.opened_at
FROM @extschema@.complaint_tickets AS t;
COMMENT ON VIEW @extschema@.complaint_ticket_list IS
	'crm.complaint_tickets without the description (personal data): one row per complaint, readable whole by analysts.';

CREATE VIEW @extschema@.complaint_event_list AS
SELECT e.event_id, e.ticket_id, e.occurred_at, e.status, e.agent_reply
FROM @extschema@.complaint_events AS e;
COMMENT ON VIEW @extschema@.complaint_event_list IS
	'crm.complaint_events without the message (personal data): status changes and staff replies in time order, readable whole by analysts.';
-- Their columns mean what the tables' columns mean: the comments are copied.
DO $comments$
DECLARE
	col record;
BEGIN
	FOR col IN
		SELECT v.list, a.attname, pg_catalog.col_description(a.attrelid, a.attnum) AS description
		FROM (VALUES ('@extschema@.complaint_ticket_list'::pg_catalog.regclass, '@extschema@.complaint_tickets'::pg_catalog.regclass),
					 ('@extschema@.complaint_event_list', '@extschema@.complaint_events')) AS v (list, source)
		JOIN pg_catalog.pg_attribute AS l ON l.attrelid = v.list AND l.attnum > 0
		JOIN pg_catalog.pg_attribute AS a ON a.attrelid = v.source AND a.attname = l.attname
	LOOP
		EXECUTE pg_catalog.format('COMMENT ON COLUMN %s.%I IS %L', col.list, col.attname, col.description);
	END LOOP;
END
$comments$;

-- Analysts read the non-personal columns, so that complaint_metrics works
-- for them; description and message stay with crm_admin.
GRANT SELECT ON @extschema@.complaint_ticket_metrics, @extschema@.complaint_sla_dashboard,
	@extschema@.complaint_sla_targets, @extschema@.complaint_ticket_list, @extschema@.complaint_event_list
TO crm_analyst;
GRANT SELECT (ticket_id, customer_id, transaction_id, category, priority, channel, store, opened_at)
	ON @extschema@.complaint_tickets TO crm_analyst;
GRANT SELECT (event_id, ticket_id, occurred_at, status, agent_reply)
	ON @extschema@.complaint_events TO crm_analyst;
GRANT SELECT, INSERT, UPDATE, DELETE, TRUNCATE ON
	@extschema@.complaint_sla_targets, @extschema@.complaint_tickets, @extschema@.complaint_events
TO crm_admin;
GRANT USAGE, SELECT ON SEQUENCE @extschema@.complaint_tickets_ticket_id_seq,
	@extschema@.complaint_events_event_id_seq
TO crm_admin;
-- Voice of the customer, part 3: tie satisfaction and complaints to value.

-- High-value customers whose satisfaction fell or whose complaints breached
-- their SLA in the current window, as of the last refresh: the people a
-- store manager should call today, most value first.
CREATE VIEW @extschema@.customers_to_call AS
WITH params AS (
	SELECT (SELECT max(cs.as_of) FROM @extschema@.customer_segments AS cs) AS as_of,
		   v.satisfaction_window_days * interval '1 day' AS window_length,
		   v.satisfaction_drop_points, v.call_min_m_score, v.call_min_clv
	FROM @extschema@.voice_settings AS v
), complaints AS (
	SELECT m.customer_id,
		   count(*) AS complaints,
		   count(*) FILTER (WHERE m.first_reply_breached OR m.resolution_breached) AS sla_breaches,
		   count(*) FILTER (WHERE NOT m.resolved) AS open_complaints,
		   max(m.opened_at) AS last_complaint_at
	FROM params AS p
	CROSS JOIN LATERAL @extschema@.complaint_metrics(p.as_of) AS m
	WHERE m.customer_id IS NOT NULL
	  AND m.opened_at > p.as_of - p.window_length
	GROUP BY m.customer_id
)
SELECT cs.customer_id, cs.segment, cs.lifecycle_stage, c.home_store,
	   cs.monetary,
	   round(cs.clv::numeric, 2)::numeric(18,2) AS clv,
	   round(cs.churn_risk::numeric, 4)::numeric(7,4) AS churn_risk,
	   s.previous_index, s.current_index, s.index_change,
	   coalesce(k.complaints, 0) AS complaints,
	   coalesce(k.sla_breaches, 0) AS sla_breaches,
	   coalesce(k.open_complaints, 0) AS open_complaints,
	   k.last_complaint_at,
	   CASE
		   WHEN s.index_change <= -p.satisfaction_drop_points AND k.sla_breaches > 0 THEN 'satisfaction drop and SLA breach'
		   WHEN k.sla_breaches > 0 THEN 'SLA breach'
		   ELSE 'satisfaction drop'
	   END AS reason,
	   cs.as_of
FROM @extschema@.customer_segments AS cs
CROSS JOIN params AS p
LEFT JOIN @extschema@.customers AS c USING (customer_id)
LEFT JOIN @extschema@.customer_satisfaction AS s USING (customer_id)
LEFT JOIN complaints AS k USING (customer_id)
WHERE (cs.m_score >= p.call_min_m_score OR cs.clv >= p.call_min_clv)
  AND (s.index_change <= -p.satisfaction_drop_points OR k.sla_breaches > 0)
ORDER BY cs.clv DESC NULLS LAST, cs.monetary DESC, cs.customer_id;
COMMENT ON VIEW @extschema@.customers_to_call IS
	'High-value customers (RFM monetary score at least crm.voice_settings.call_min_m_score, or CLV at least call_min_clv) whose satisfaction index fell by at least satisfaction_drop_points from the previous to the current window, or who had a complaint opened in the current window that breached its SLA; as of the last refresh, most value first. No personal data: look the contact up in crm.customers.';
COMMENT ON COLUMN @extschema@.customers_to_call.customer_id IS 'Customer key.';
COMMENT ON COLUMN @extschema@.customers_to_call.segment IS 'RFM segment.';
COMMENT ON COLUMN @extschema@.customers_to_call.lifecycle_stage IS 'Lifecycle stage.';
COMMENT ON COLUMN @extschema@.customers_to_call.home_store IS 'Store the customer is attached to, the one to call from.';
COMMENT ON COLUMN @extschema@.customers_to_call.monetary IS 'Net spend.';
COMMENT ON COLUMN @extschema@.customers_to_call.clv IS 'Customer lifetime value.';
COMMENT ON COLUMN @extschema@.customers_to_call.churn_risk IS 'Probability of no purchase in the next crm.settings.churn_horizon_days days.';
COMMENT ON COLUMN @extschema@.customers_to_call.previous_index IS 'Satisfaction index in the previous window.';
COMMENT ON COLUMN @extschema@.customers_to_call.current_index IS 'Satisfaction index in the current window.';
COMMENT ON COLUMN @extschema@.customers_to_call.index_change IS 'current_index - previous_index.';
COMMENT ON COLUMN @extschema@.customers_to_call.complaints IS 'Complaints opened in the current window.';
COMMENT ON COLUMN @extschema@.customers_to_call.sla_breaches IS 'Of them, tickets that breached their first-reply or resolution target.';
COMMENT ON COLUMN @extschema@.customers_to_call.open_complaints IS 'Of them, tickets not solved or closed at as_of.';
COMMENT ON COLUMN @extschema@.customers_to_call.last_complaint_at IS 'When the latest of them was opened.';
COMMENT ON COLUMN @extschema@.customers_to_call.reason IS 'satisfaction drop, SLA breach, or satisfaction drop and SLA breach.';
COMMENT ON COLUMN @extschema@.customers_to_call.as_of IS 'Analysis date of the last refresh.';

GRANT SELECT ON @extschema@.customers_to_call TO crm_analyst;
-- Identity: likely duplicate customers for review, data-quality counts, and
-- the merge of a duplicate into the customer kept.
-- Handles are compared normalised by their channel's handle kind (email
-- lower-cased and trimmed, phone as its digits: crm.normalized_email and
-- crm.normalized_phone, 12_channels.sql), by the rules enabled in
-- crm.identity_rules.

CREATE TABLE @extschema@.identity_rules (
	rule		text PRIMARY KEY CONSTRAINT identity_rules_known
		CHECK (rule IN ('same_email', 'same_phone', 'same_name_birth_date')),
	enabled		boolean NOT NULL DEFAULT true
);
COMMENT ON TABLE @extschema@.identity_rules IS
	'Which rules crm.duplicate_candidates applies; switch one off with UPDATE crm.identity_rules SET enabled = false WHERE rule = ...';
COMMENT ON COLUMN @extschema@.identity_rules.rule IS 'same_email (normalised handle on a channel whose handle kind is email), same_phone (phone digits, on channels of handle kind phone) or same_name_birth_date (first and last name, case-insensitive, and birth date).';
COMMENT ON COLUMN @extschema@.identity_rules.enabled IS 'Whether the rule is applied.';
INSERT INTO @extschema@.identity_rules (rule) VALUES ('same_email'), ('same_phone'), ('same_name_birth_date');

-- Pairs of customers (lower id first) that an enabled rule matches, with the
-- shared value as evidence: personal data, so for crm_admin only.
CREATE VIEW @extschema@.duplicate_candidates AS
WITH keyed AS (
	SELECT DISTINCT ct.customer_id, 'same_' || ch.handle_kind AS rule,
		   CASE ch.handle_kind WHEN 'email' THEN @extschema@.normalized_email(ct.handle)
			   ELSE @extschema@.normalized_phone(ct.handle) END AS match_key
	FROM @extschema@.customer_contacts AS ct
	JOIN @extschema@.channels AS ch ON ch.name = ct.channel AND ch.handle_kind IN ('email', 'phone')
	UNION ALL
	SELECT c.customer_id, 'same_name_birth_date',
		   lower(btrim(c.first_name)) || ' ' || lower(btrim(c.last_name)) || ' ' || to_char(c.birth_date, 'YYYY-MM-DD')
	FROM @extschema@.customers AS c
)
SELECT a.customer_id AS customer_id_a, b.customer_id AS customer_id_b, a.rule, a.match_key AS evidence
FROM keyed AS a
JOIN keyed AS b ON b.rule = a.rule AND b.match_key = a.match_key AND b.customer_id > a.customer_id
JOIN @extschema@.identity_rules AS r ON r.rule = a.rule AND r.enabled;
COMMENT ON VIEW @extschema@.duplicate_candidates IS
	'Pairs of customers an enabled rule of crm.identity_rules says may be one person, with the shared value as evidence, for review. Holds personal data: crm_admin only.';
COMMENT ON COLUMN @extschema@.duplicate_candidates.customer_id_a IS 'The lower customer key of the pair.';
COMMENT ON COLUMN @extschema@.duplicate_candidates.customer_id_b IS 'The higher customer key of the pair.';
COMMENT ON COLUMN @extschema@.duplicate_candidates.rule IS 'The rule that matched.';
COMMENT ON COLUMN @extschema@.duplicate_candidates.evidence IS 'The normalised value both share.';

-- Counts only, but over the handles: crm_admin, like the handles.  Email
-- and phone are handle kinds: a customer has an email when any channel of
-- kind email holds a non-blank handle, an invalid one when none of those
-- handles is valid.
CREATE VIEW @extschema@.data_quality AS
WITH handles AS (
	SELECT c.customer_id,
		   bool_or(ch.handle_kind = 'email' AND nullif(btrim(ct.handle), '') IS NOT NULL) AS has_email,
		   bool_or(ch.handle_kind = 'email' AND @extschema@.normalized_email(ct.handle) IS NOT NULL) AS valid_email,
		   bool_or(ch.handle_kind = 'phone' AND nullif(btrim(ct.handle), '') IS NOT NULL) AS has_phone,
		   bool_or(ch.handle_kind = 'phone' AND @extschema@.normalized_phone(ct.handle) IS NOT NULL) AS valid_phone
	FROM @extschema@.customers AS c
	LEFT JOIN @extschema@.customer_contacts AS ct ON ct.customer_id = c.customer_id
	LEFT JOIN @extschema@.channels AS ch ON ch.name = ct.channel
	GROUP BY c.customer_id
)
SELECT (SELECT count(*) FROM handles) AS customers,
	   (SELECT count(*) FROM handles AS h WHERE NOT coalesce(h.has_email, false)) AS missing_email,
	   (SELECT count(*) FROM handles AS h WHERE h.has_email AND NOT h.valid_email) AS invalid_email,
	   (SELECT count(*) FROM handles AS h WHERE NOT coalesce(h.has_phone, false)) AS missing_phone,
	   (SELECT count(*) FROM handles AS h WHERE h.has_phone AND NOT h.valid_phone) AS invalid_phone,
	   (SELECT count(*) FROM (SELECT DISTINCT d.customer_id_a, d.customer_id_b
							  FROM @extschema@.duplicate_candidates AS d) AS pairs) AS duplicate_pairs,
	   (SELECT count(*) FROM @extschema@.transactions AS t WHERE t.customer_id IS NULL) AS transactions_without_customer,
	   (SELECT count(*) FROM @extschema@.transactions AS t
		WHERE t.customer_id IS NOT NULL
		  AND NOT EXISTS (SELECT 1 FROM @extschema@.customers AS c WHERE c.customer_id = t.customer_id)) AS transactions_unknown_customer;
COMMENT ON VIEW @extschema@.data_quality IS
	'One row of data-quality counts over crm.customers, crm.customer_contacts and crm.transactions (counts only; crm_admin, as it reads the handles).';
COMMENT ON COLUMN @extschema@.data_quality.customers IS 'Customers.';
COMMENT ON COLUMN @extschema@.data_quality.missing_email IS 'Customers without an email address (no non-blank handle on a channel of handle kind email).';
COMMENT ON COLUMN @extschema@.data_quality.invalid_email IS 'Customers with an email handle, none of which looks like an address (crm.normalized_email gives NULL).';
COMMENT ON COLUMN @extschema@.data_quality.missing_phone IS 'Customers without a phone number (no non-blank handle on a channel of handle kind phone).';
COMMENT ON COLUMN @extschema@.data_quality.invalid_phone IS 'Customers with a phone handle, none of which has 7 to 15 digits.';
COMMENT ON COLUMN @extschema@.data_quality.duplicate_pairs IS 'Distinct pairs in crm.duplicate_candidates.';
COMMENT ON COLUMN @extschema@.data_quality.transactions_without_customer IS 'Sales without a customer_id (anonymous).';
COMMENT ON COLUMN @extschema@.data_quality.transactions_unknown_customer IS 'Sales whose customer_id is not in crm.customers.';

-- Merging duplicates ---------------------------------------------------------
--
-- A merge moves everything the merged customer did to the kept one and
-- deletes the merged row; crm.customer_merges remembers it.  Every step moves
-- only what is still under the merged key, so running the same merge again
-- (a replay) is safe and picks up rows a late load wrote under the old key.

CREATE TABLE @extschema@.customer_merges (
	merge_id					bigint PRIMARY KEY,
	keep_id						bigint NOT NULL,
	merged_at					timestamptz NOT NULL DEFAULT now(),
	merged_by					name NOT NULL DEFAULT session_user,
	replayed_at					timestamptz,
	fields_filled				text NOT NULL,
	transactions_moved			bigint NOT NULL,
	survey_responses_moved		bigint NOT NULL,
	feedback_moved				bigint NOT NULL,
	complaint_tickets_moved		bigint NOT NULL,
	points_moved				bigint NOT NULL,
	CONSTRAINT customer_merges_not_self CHECK (merge_id <> keep_id)
);
COMMENT ON TABLE @extschema@.customer_merges IS
	'One row per customer merged into another by crm.merge_customers, with what moved (replays add to the counts). Keys and counts only: no personal data.';
COMMENT ON COLUMN @extschema@.customer_merges.merge_id IS 'Customer merged away (its crm.customers row is deleted); merged once only.';
COMMENT ON COLUMN @extschema@.customer_merges.keep_id IS 'Customer kept, who now holds everything of merge_id.';
COMMENT ON COLUMN @extschema@.customer_merges.merged_at IS 'When the merge ran first.';
COMMENT ON COLUMN @extschema@.customer_merges.merged_by IS 'Session user who ran it first.';
COMMENT ON COLUMN @extschema@.customer_merges.replayed_at IS 'When it was last run again; NULL when never.';
COMMENT ON COLUMN @extschema@.customer_merges.fields_filled IS 'What the kept customer lacked and took from the merged one, comma separated (names only): columns of crm.customers, handle:<channel> for a handle, preferred_channel for the preference.';
COMMENT ON COLUMN @extschema@.customer_merges.transactions_moved IS 'crm.transactions rows moved to keep_id.';
COMMENT ON COLUMN @extschema@.customer_merges.survey_responses_moved IS 'crm.survey_responses rows moved.';
COMMENT ON COLUMN @extschema@.customer_merges.feedback_moved IS 'crm.feedback rows moved.';
COMMENT ON COLUMN @extschema@.customer_merges.complaint_tickets_moved IS 'crm.complaint_tickets rows moved (their events follow the ticket).';
COMMENT ON COLUMN @extschema@.customer_merges.points_moved IS 'Loyalty points transferred (lots still holding points, with their dates).';
CREATE INDEX customer_merges_keep_idx ON @extschema@.customer_merges (keep_id);

-- A customer and every customer merged into it, directly or through a chain.
CREATE FUNCTION @extschema@.customer_ids_merged_into(customer_id bigint)
RETURNS SETOF bigint
LANGUAGE sql STABLE STRICT PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
	WITH RECURSIVE merged (customer_id) AS (
		SELECT customer_ids_merged_into.customer_id
		UNION
		SELECT m.merge_id FROM @extschema@.customer_merges AS m JOIN merged ON m.keep_id = merged.customer_id
	)
	SELECT merged.customer_id FROM merged
$$;
COMMENT ON FUNCTION @extschema@.customer_ids_merged_into(bigint) IS
	'The customer key and every key merged into it by crm.merge_customers, directly or through a chain. Stable because it reads crm.customer_merges.';

-- Moves the merged member's points: each lot still holding points (pending
-- and lapsed ones too, so the merged account ends at 0) is closed by a
-- transfer_out and reopened on the kept member by a transfer_in lot with the
-- same dates.  The ledger stays append-only; keys merge:<id>:lot:<lot> make a
-- replay write nothing twice.  Returns the points moved.
CREATE FUNCTION @extschema@.merge_loyalty(keep bigint, merged bigint)
RETURNS bigint
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	merged_member @extschema@.loyalty_members;
	lot record;
	movement @extschema@.points_ledger;
	moved bigint := 0;
BEGIN
	SELECT * INTO merged_member FROM @extschema@.loyalty_members AS m WHERE m.customer_id = merged;
	IF NOT FOUND THEN
		RETURN 0;
	END IF;
	-- The kept customer joins the merged one's program, or keeps the better
	-- tier and the earlier enrolment when both are in the same program.
	INSERT INTO @extschema@.loyalty_members AS m (customer_id, program_id, enrolled_at, tier_rank, tier_since)
	VALUES (keep, merged_member.program_id, merged_member.enrolled_at, merged_member.tier_rank, merged_member.tier_since)
	ON CONFLICT ON CONSTRAINT loyalty_members_pkey DO UPDATE
	SET enrolled_at = least(m.enrolled_at, excluded.enrolled_at),
		tier_rank = greatest(m.tier_rank, excluded.tier_rank),
		tier_since = CASE WHEN excluded.tier_rank > m.tier_rank THEN excluded.tier_since ELSE m.tier_since END
	WHERE m.program_id = excluded.program_id;
	INSERT INTO @extschema@.points_accounts (customer_id) VALUES (keep) ON CONFLICT DO NOTHING;
	-- Both accounts, in key order like every other locker of two.
	PERFORM 1 FROM @extschema@.points_accounts AS a
	WHERE a.customer_id IN (keep, merged) ORDER BY a.customer_id FOR UPDATE;
	FOR lot IN
		SELECT l.lot_id, l.remaining, l.available_at, l.expires_at
		FROM @extschema@.points_lots AS l
		WHERE l.customer_id = merged AND l.remaining > 0
		ORDER BY l.lot_id
	LOOP
		movement := @extschema@.points_write(merged, 'transfer_out', -lot.remaining, lot.remaining,
											 format('merge:%s:lot:%s', merged, lot.lot_id), NULL, NULL, lot.lot_id);
		INSERT INTO @extschema@.points_allocations (movement_id, lot_id, points)
		VALUES (movement.movement_id, lot.lot_id, lot.remaining);
		PERFORM @extschema@.points_write(keep, 'transfer_in', lot.remaining, lot.remaining,
										 format('merge:%s:lot:%s', merged, lot.lot_id),
										 lot.available_at, lot.expires_at, lot.lot_id);
		moved := moved + lot.remaining;
	END LOOP;
	RETURN moved;
END
$$;
COMMENT ON FUNCTION @extschema@.merge_loyalty(bigint, bigint) IS
	'Internal, for crm.merge_customers: enrols the kept customer in the merged member''s program (or keeps the better tier in the same program) and transfers every lot still holding points with its dates; returns the points moved.';

CREATE FUNCTION @extschema@.merge_customers(keep_id bigint, merge_id bigint)
RETURNS @extschema@.customer_merges
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	logged @extschema@.customer_merges;
	survivor bigint;
	merged_row @extschema@.customers;
	filled text := '';
	transactions_moved bigint;
	surveys_moved bigint;
	feedback_moved bigint;
	tickets_moved bigint;
	points_moved bigint;
BEGIN
	IF keep_id IS NULL OR merge_id IS NULL THEN
		RAISE EXCEPTION USING ERRCODE = 'null_value_not_allowed',
			MESSAGE = 'keep_id and merge_id must not be NULL',
			HINT = 'Name the customer to keep and the duplicate to merge into it, e.g. from crm.duplicate_candidates.';
	END IF;
	IF keep_id = merge_id THEN
		RAISE EXCEPTION USING ERRCODE = 'invalid_parameter_value',
			MESSAGE = format('cannot merge customer %s into itself', keep_id),
			HINT = 'keep_id and merge_id must be two different customers.';
	END IF;
	-- Both rows, in key order, so that two merges cannot deadlock; then the
	-- log, read after the locks so that a merge that just committed is seen.
	PERFORM 1 FROM @extschema@.customers AS c
	WHERE c.customer_id IN (keep_id, merge_id) ORDER BY c.customer_id FOR UPDATE;
	SELECT m.keep_id INTO survivor FROM @extschema@.customer_merges AS m WHERE m.merge_id = merge_customers.keep_id;
	IF FOUND THEN
		RAISE EXCEPTION USING ERRCODE = 'invalid_parameter_value',
			MESSAGE = format('customer %s was merged into customer %s and cannot keep anything', keep_id, survivor),
			HINT = format('Merge into customer %s instead.', survivor);
	END IF;
	SELECT * INTO logged FROM @extschema@.customer_merges AS m WHERE m.merge_id = merge_customers.merge_id;
	IF FOUND AND logged.keep_id <> keep_id THEN
		RAISE EXCEPTION USING ERRCODE = 'invalid_parameter_value',
			MESSAGE = format('customer %s was already merged into customer %s', merge_id, logged.keep_id),
			HINT = 'A customer is merged once; a replay must name the same kept customer.';
	END IF;
	IF NOT EXISTS (SELECT 1 FROM @extschema@.customers AS c WHERE c.customer_id = keep_id) THEN
		RAISE EXCEPTION USING ERRCODE = 'foreign_key_violation',
			MESSAGE = format('customer %s does not exist', keep_id),
			HINT = 'The kept customer must be in crm.customers.';
	END IF;
	SELECT * INTO merged_row FROM @extschema@.customers AS c WHERE c.customer_id = merge_id;
	IF NOT FOUND AND logged.merge_id IS NULL THEN
		RAISE EXCEPTION USING ERRCODE = 'foreign_key_violation',
			MESSAGE = format('customer %s does not exist', merge_id),
			HINT = 'The merged customer must be in crm.customers (or already merged, for a replay).';
	END IF;

	IF merged_row.customer_id IS NOT NULL THEN
		-- The kept row wins; what it lacks comes from the merged row.
		SELECT coalesce(string_agg(f.name, ', ' ORDER BY f.position), '') INTO filled
		FROM @extschema@.customers AS k
		CROSS JOIN LATERAL (VALUES
			(1, 'first_name', k.first_name IS NULL AND merged_row.first_name IS NOT NULL),
			(2, 'last_name', k.last_name IS NULL AND merged_row.last_name IS NOT NULL),
			(3, 'birth_date', k.birth_date IS NULL AND merged_row.birth_date IS NOT NULL),
			(4, 'gender', k.gender IS NULL AND merged_row.gender IS NOT NULL),
			(5, 'home_store', k.home_store IS NULL AND merged_row.home_store IS NOT NULL),
			(6, 'country', k.country IS NULL AND merged_row.country IS NOT NULL),
			(7, 'postal_code', k.postal_code IS NULL AND merged_row.postal_code IS NOT NULL),
			(8, 'joined_at', merged_row.joined_at < k.joined_at))
			AS f (position, name, taken)
		WHERE k.customer_id = keep_id AND f.taken;
		UPDATE @extschema@.customers AS k
		SET first_name = coalesce(k.first_name, merged_row.first_name),
			last_name = coalesce(k.last_name, merged_row.last_name),
			birth_date = coalesce(k.birth_date, merged_row.birth_date),
			gender = coalesce(k.gender, merged_row.gender),
			home_store = coalesce(k.home_store, merged_row.home_store),
			country = coalesce(k.country, merged_row.country),
			postal_code = coalesce(k.postal_code, merged_row.postal_code),
			joined_at = least(k.joined_at, merged_row.joined_at)
		WHERE k.customer_id = keep_id;
	END IF;

	-- Then the handles, channel by channel, also on a replay (contacts a
	-- late load wrote under the merged key).  Consent is never widened: a handle taken
	-- over keeps the kept customer's consent on its channel only where the
	-- merged customer had consent there too.
	PERFORM set_config('retail_crm.consent_source', 'crm.merge_customers', true);
	WITH merged AS (
		SELECT m.channel, m.handle, m.consent, k.handle AS kept_handle,
			   coalesce(k.consent, false) AS kept_consent, k.consent_updated_at AS kept_consent_updated_at,
			   coalesce(k.preferred, false) AS kept_preferred,
			   nullif(btrim(k.handle), '') IS NULL AND nullif(btrim(m.handle), '') IS NOT NULL AS take_handle,
			   m.preferred AND NOT EXISTS (SELECT 1 FROM @extschema@.customer_contacts AS p
										   WHERE p.customer_id = keep_id AND p.preferred) AS take_preference
		FROM @extschema@.customer_contacts AS m
		LEFT JOIN @extschema@.customer_contacts AS k ON k.customer_id = keep_id AND k.channel = m.channel
		WHERE m.customer_id = merge_id
	), written AS (
		INSERT INTO @extschema@.customer_contacts AS ct
			(customer_id, channel, handle, consent, consent_updated_at, preferred)
		SELECT keep_id, w.channel, CASE WHEN w.take_handle THEN w.handle ELSE w.kept_handle END,
			   w.kept_consent AND (NOT w.take_handle OR w.consent),
			   -- a withdrawal happens now: the consent log dates it by this column
			   CASE WHEN w.kept_consent AND w.take_handle AND NOT w.consent THEN now()
					ELSE w.kept_consent_updated_at END,
			   w.kept_preferred OR w.take_preference
		FROM merged AS w
		WHERE w.take_handle OR w.take_preference
		ON CONFLICT ON CONSTRAINT customer_contacts_pkey DO UPDATE
		SET handle = excluded.handle, consent = excluded.consent,
			consent_updated_at = excluded.consent_updated_at, preferred = excluded.preferred
		RETURNING ct.channel
	)
	SELECT concat_ws(', ', nullif(filled, ''),
					 (SELECT string_agg('handle:' || w.channel, ', ' ORDER BY w.channel) FROM merged AS w
					  WHERE w.take_handle AND w.channel IN (SELECT r.channel FROM written AS r)),
					 (SELECT 'preferred_channel' FROM merged AS w WHERE w.take_preference))
	INTO filled;
	PERFORM set_config('retail_crm.consent_source', '', true);

	UPDATE @extschema@.transactions AS t SET customer_id = keep_id WHERE t.customer_id = merge_id;
	GET DIAGNOSTICS transactions_moved = ROW_COUNT;
	UPDATE @extschema@.survey_responses AS r SET customer_id = keep_id WHERE r.customer_id = merge_id;
	GET DIAGNOSTICS surveys_moved = ROW_COUNT;
	UPDATE @extschema@.feedback AS f SET customer_id = keep_id WHERE f.customer_id = merge_id;
	GET DIAGNOSTICS feedback_moved = ROW_COUNT;
	UPDATE @extschema@.complaint_tickets AS t SET customer_id = keep_id WHERE t.customer_id = merge_id;
	GET DIAGNOSTICS tickets_moved = ROW_COUNT;
	points_moved := @extschema@.merge_loyalty(keep_id, merge_id);
	-- Campaign memberships (and their events) follow the kept customer,
	-- except in a campaign both were in: there the kept one's assignment stands.
	DELETE FROM @extschema@.campaign_members AS m
	WHERE m.customer_id = merge_id
	  AND EXISTS (SELECT 1 FROM @extschema@.campaign_members AS k WHERE k.campaign_id = m.campaign_id AND k.customer_id = keep_id);
	UPDATE @extschema@.campaign_members AS m SET customer_id = keep_id WHERE m.customer_id = merge_id;
	DELETE FROM @extschema@.customer_contacts AS ct WHERE ct.customer_id = merge_id;
	DELETE FROM @extschema@.customers AS c WHERE c.customer_id = merge_id;

	INSERT INTO @extschema@.customer_merges AS m
		(merge_id, keep_id, fields_filled, transactions_moved, survey_responses_moved, feedback_moved,
		 complaint_tickets_moved, points_moved)
	VALUES (merge_id, keep_id, filled, transactions_moved, surveys_moved, feedback_moved, tickets_moved, points_moved)
	ON CONFLICT ON CONSTRAINT customer_merges_pkey DO UPDATE
	SET replayed_at = now(),
		fields_filled = concat_ws(', ', nullif(m.fields_filled, ''), nullif(excluded.fields_filled, '')),
		transactions_moved = m.transactions_moved + excluded.transactions_moved,
		survey_responses_moved = m.survey_responses_moved + excluded.survey_responses_moved,
		feedback_moved = m.feedback_moved + excluded.feedback_moved,
		complaint_tickets_moved = m.complaint_tickets_moved + excluded.complaint_tickets_moved,
		points_moved = m.points_moved + excluded.points_moved
	RETURNING m.* INTO logged;
	RETURN logged;
END
$$;
COMMENT ON FUNCTION @extschema@.merge_customers(bigint, bigint) IS
	'Merges customer merge_id into keep_id: moves its transactions, survey responses, feedback and complaint tickets, transfers its loyalty points (lots with their dates) and membership, moves its campaign memberships and events (in a campaign both were in, the kept customer''s assignment stands), fills the kept customer''s missing fields, handles and preferred channel from the merged one (consent never widened), deletes the merged row and its contacts and logs the merge in crm.customer_merges, whose row it returns. Running it again moves what arrived under merge_id since and adds to the counts. Scores follow at the next refresh (incremental is enough).';

GRANT SELECT ON @extschema@.identity_rules TO crm_analyst;
GRANT SELECT ON @extschema@.duplicate_candidates, @extschema@.data_quality TO crm_admin;
GRANT SELECT, UPDATE ON @extschema@.identity_rules TO crm_admin;
GRANT SELECT, INSERT, UPDATE, DELETE, TRUNCATE ON @extschema@.customer_merges TO crm_admin;
REVOKE EXECUTE ON FUNCTION @extschema@.merge_customers(bigint, bigint) FROM PUBLIC;
REVOKE EXECUTE ON FUNCTION @extschema@.merge_loyalty(bigint, bigint) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION @extschema@.merge_customers(bigint, bigint), @extschema@.merge_loyalty(bigint, bigint) TO crm_admin;
-- Reads crm.customer_merges, which only crm_admin may (the tier review uses it).
REVOKE EXECUTE ON FUNCTION @extschema@.customer_ids_merged_into(bigint) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION @extschema@.customer_ids_merged_into(bigint) TO crm_admin;
-- BI views: flat, commented, stable column names, no personal data.
-- Numeric columns are cast to a precision and scale, so that JDBC and ODBC
-- report them (README, "BI column reference"); each cast keeps the
-- rounding the column had.

CREATE VIEW @extschema@.segment_summary AS
SELECT cs.segment,
	   count(*) AS customers,
	   round(count(*) / sum(count(*)) OVER (), 4)::numeric(7,4) AS customer_share,
	   round(sum(cs.monetary), 2)::numeric(18,2) AS revenue,
	   round(sum(cs.monetary) / nullif(sum(sum(cs.monetary)) OVER (), 0), 4)::numeric(7,4) AS revenue_share,
	   round(avg(cs.recency_days), 1)::numeric(10,1) AS avg_recency_days,
	   round(avg(cs.frequency), 2)::numeric(12,2) AS avg_frequency,
	   round(avg(cs.monetary), 2)::numeric(18,2) AS avg_monetary,
	   min(cs.as_of) AS as_of
FROM @extschema@.customer_segments AS cs
WHERE cs.segment IS NOT NULL
GROUP BY cs.segment;
COMMENT ON VIEW @extschema@.segment_summary IS
	'Customers and revenue per RFM segment at the last refresh. Covers scored customers (at least one purchase).';
COMMENT ON COLUMN @extschema@.segment_summary.segment IS 'Segment name.';
COMMENT ON COLUMN @extschema@.segment_summary.customers IS 'Customers in the segment.';
COMMENT ON COLUMN @extschema@.segment_summary.customer_share IS 'Share of scored customers, 0-1.';
COMMENT ON COLUMN @extschema@.segment_summary.revenue IS 'Net spend of the segment''s customers (purchases minus returns).';
COMMENT ON COLUMN @extschema@.segment_summary.revenue_share IS 'Share of the net spend of all scored customers, 0-1.';
COMMENT ON COLUMN @extschema@.segment_summary.avg_recency_days IS 'Mean days since the last purchase.';
COMMENT ON COLUMN @extschema@.segment_summary.avg_frequency IS 'Mean number of orders.';
COMMENT ON COLUMN @extschema@.segment_summary.avg_monetary IS 'Mean net spend per customer.';
COMMENT ON COLUMN @extschema@.segment_summary.as_of IS 'Analysis date of the refresh.';

-- All 25 cells, empty ones included, so a BI pivot keeps its shape.
CREATE VIEW @extschema@.rfm_grid AS
WITH cells AS (
	SELECT m.r_score, m.fm_score,
		   CASE WHEN count(DISTINCT m.segment) = 1 THEN min(m.segment) ELSE 'Mixed' END AS segment
	FROM @extschema@.segment_map AS m
	GROUP BY m.r_score, m.fm_score
), counts AS (
	SELECT cs.r_score, cs.fm_score, count(*) AS customers, sum(cs.monetary) AS revenue
	FROM @extschema@.customer_segments AS cs
	WHERE cs.r_score IS NOT NULL
	GROUP BY cs.r_score, cs.fm_score
)
SELECT c.r_score, c.fm_score, c.segment,
	   coalesce(n.customers, 0) AS customers,
	   round(coalesce(n.customers, 0) / nullif(sum(n.customers) OVER (), 0), 4)::numeric(7,4) AS customer_share,
	   round(coalesce(n.revenue, 0), 2)::numeric(18,2) AS revenue,
	   round(n.revenue / n.customers, 2)::numeric(18,2) AS avg_monetary
FROM cells AS c
LEFT JOIN counts AS n USING (r_score, fm_score);
COMMENT ON VIEW @extschema@.rfm_grid IS
	'The 5x5 grid of R score by FM score at the last refresh: customers and revenue per cell, and the segment the active rules give the cell.';
COMMENT ON COLUMN @extschema@.rfm_grid.r_score IS 'Recency score 1-5, 5 = most recent.';
COMMENT ON COLUMN @extschema@.rfm_grid.fm_score IS 'FM score 1-5: mean of F and M rounded half up.';
COMMENT ON COLUMN @extschema@.rfm_grid.segment IS 'Segment of the cell, or Mixed when the rules split it by F or M.';
COMMENT ON COLUMN @extschema@.rfm_grid.customers IS 'Customers in the cell (0 for an empty cell).';
COMMENT ON COLUMN @extschema@.rfm_grid.customer_share IS 'Share of scored customers, 0-1.';
COMMENT ON COLUMN @extschema@.rfm_grid.revenue IS 'Net spend of the cell''s customers.';
COMMENT ON COLUMN @extschema@.rfm_grid.avg_monetary IS 'Mean net spend per customer; NULL for an empty cell.';

CREATE VIEW @extschema@.lifecycle_summary AS
SELECT cs.lifecycle_stage,
	   count(*) AS customers,
	   round(count(*) / sum(count(*)) OVER (), 4)::numeric(7,4) AS customer_share,
	   round(sum(cs.monetary), 2)::numeric(18,2) AS revenue,
	   round(avg(cs.recency_days), 1)::numeric(10,1) AS avg_recency_days,
	   min(cs.as_of) AS as_of
FROM @extschema@.customer_segments AS cs
GROUP BY cs.lifecycle_stage;
COMMENT ON VIEW @extschema@.lifecycle_summary IS
	'Customers per lifecycle stage at the last refresh, prospects included.';
COMMENT ON COLUMN @extschema@.lifecycle_summary.lifecycle_stage IS 'prospect, new, active, at-risk, dormant, lost or reactivated.';
COMMENT ON COLUMN @extschema@.lifecycle_summary.customers IS 'Customers in the stage.';
COMMENT ON COLUMN @extschema@.lifecycle_summary.customer_share IS 'Share of all customers, 0-1.';
COMMENT ON COLUMN @extschema@.lifecycle_summary.revenue IS 'Net spend of the stage''s customers.';
COMMENT ON COLUMN @extschema@.lifecycle_summary.avg_recency_days IS 'Mean days since the last purchase; NULL for prospects.';
COMMENT ON COLUMN @extschema@.lifecycle_summary.as_of IS 'Analysis date of the refresh.';

-- From-segment x to-segment between the last two runs that kept history.
CREATE VIEW @extschema@.segment_migration AS
WITH last_two AS (
	SELECT r.run_id, r.as_of, row_number() OVER (ORDER BY r.run_id DESC) AS age
	FROM @extschema@.refresh_runs AS r
	WHERE r.status = 'succeeded'
	  AND EXISTS (SELECT 1 FROM @extschema@.segment_history AS h WHERE h.run_id = r.run_id)
	ORDER BY r.run_id DESC
	LIMIT 2
), prev AS (
	SELECT h.* FROM @extschema@.segment_history AS h JOIN last_two AS l ON l.run_id = h.run_id AND l.age = 2
), cur AS (
	SELECT h.* FROM @extschema@.segment_history AS h JOIN last_two AS l ON l.run_id = h.run_id AND l.age = 1
)
SELECT CASE WHEN p.customer_id IS NULL THEN '(new customer)' ELSE coalesce(p.segment, '(not scored)') END AS from_segment,
	   CASE WHEN c.customer_id IS NULL THEN '(gone)' ELSE coalesce(c.segment, '(not scored)') END AS to_segment,
	   count(*) AS customers,
	   (SELECT l.run_id FROM last_two AS l WHERE l.age = 2) AS from_run_id,
	   (SELECT l.run_id FROM last_two AS l WHERE l.age = 1) AS to_run_id,
	   (SELECT l.as_of FROM last_two AS l WHERE l.age = 2) AS from_as_of,
	   (SELECT l.as_of FROM last_two AS l WHERE l.age = 1) AS to_as_of
FROM prev AS p
FULL JOIN cur AS c ON c.customer_id = p.customer_id
WHERE (SELECT count(*) FROM last_two) = 2
GROUP BY 1, 2;
COMMENT ON VIEW @extschema@.segment_migration IS
	'How many customers moved from each segment to each other between the last two successful refreshes. Empty until two refreshes have run.';
COMMENT ON COLUMN @extschema@.segment_migration.from_segment IS 'Segment at the earlier run; (new customer) when absent then, (not scored) without a purchase.';
COMMENT ON COLUMN @extschema@.segment_migration.to_segment IS 'Segment at the later run; (gone) when absent now, (not scored) without a purchase.';
COMMENT ON COLUMN @extschema@.segment_migration.customers IS 'Customers who made this move (or stayed, when both are equal).';
COMMENT ON COLUMN @extschema@.segment_migration.from_run_id IS 'Earlier refresh run.';
COMMENT ON COLUMN @extschema@.segment_migration.to_run_id IS 'Later refresh run.';
COMMENT ON COLUMN @extschema@.segment_migration.from_as_of IS 'Analysis date of the earlier run.';
COMMENT ON COLUMN @extschema@.segment_migration.to_as_of IS 'Analysis date of the later run.';

-- Everything known about a customer except personal data (names, contacts,
-- birth date, gender, postal code stay in crm.customers).
CREATE VIEW @extschema@.customer_360 AS
SELECT cs.customer_id,
	   c.joined_at,
	   c.home_store,
	   c.country,
	   (SELECT ct.channel FROM @extschema@.customer_contacts AS ct
		WHERE ct.customer_id = cs.customer_id AND ct.preferred) AS preferred_channel,
	   coalesce((SELECT string_agg(ct.channel, ',' ORDER BY ct.channel) FROM @extschema@.customer_contacts AS ct
				 WHERE ct.customer_id = cs.customer_id AND ct.consent), '') AS consented_channels,
	   cs.segment,
	   cs.lifecycle_stage,
	   cs.r_score, cs.f_score, cs.m_score, cs.fm_score, cs.rfm_code,
	   cs.first_purchase_at, cs.last_purchase_at,
	   cs.recency_days, cs.frequency, cs.monetary, cs.returns,
	   cs.tenure_days, cs.purchase_days,
	   cs.btyd_frequency, cs.btyd_recency, cs.btyd_t, cs.avg_repeat_spend,
	   cs.last_gap_days, cs.median_gap_days,
	   cs.one_time_buyer, cs.p_alive, cs.churn_risk, cs.expected_purchases, cs.expected_spend, cs.clv,
	   cs.as_of
FROM @extschema@.customer_segments AS cs
LEFT JOIN @extschema@.customers AS c USING (customer_id);
COMMENT ON VIEW @extschema@.customer_360 IS
	'One row per customer with everything retail_crm knows about them except personal data: profile fields without names or contacts, preferred and consented channels, segment, lifecycle stage, RFM facts and scores.';
COMMENT ON COLUMN @extschema@.customer_360.customer_id IS 'Customer key.';
COMMENT ON COLUMN @extschema@.customer_360.joined_at IS 'When the customer joined; NULL when the customer is only known from sales.';
COMMENT ON COLUMN @extschema@.customer_360.home_store IS 'Store the customer is attached to.';
COMMENT ON COLUMN @extschema@.customer_360.country IS 'Country of the customer''s address.';
COMMENT ON COLUMN @extschema@.customer_360.preferred_channel IS 'The customer''s preferred channel (crm.channels.name); NULL when none.';
COMMENT ON COLUMN @extschema@.customer_360.consented_channels IS 'Channels the customer agreed to marketing on, comma separated in name order (e.g. email,wechat); empty when none. crm.consent_status has one row per channel with when and where each answer was given.';
COMMENT ON COLUMN @extschema@.customer_360.segment IS 'RFM segment; NULL when not scored.';
COMMENT ON COLUMN @extschema@.customer_360.lifecycle_stage IS 'prospect, new, active, at-risk, dormant, lost or reactivated.';
COMMENT ON COLUMN @extschema@.customer_360.r_score IS 'Recency score 1-5.';
COMMENT ON COLUMN @extschema@.customer_360.f_score IS 'Frequency score 1-5.';
COMMENT ON COLUMN @extschema@.customer_360.m_score IS 'Monetary score 1-5.';
COMMENT ON COLUMN @extschema@.customer_360.fm_score IS 'Mean of F and M rounded half up.';
COMMENT ON COLUMN @extschema@.customer_360.rfm_code IS 'R*100 + F*10 + M.';
COMMENT ON COLUMN @extschema@.customer_360.first_purchase_at IS 'First purchase up to as_of.';
COMMENT ON COLUMN @extschema@.customer_360.last_purchase_at IS 'Last purchase up to as_of.';
COMMENT ON COLUMN @extschema@.customer_360.recency_days IS 'Whole days since the last purchase.';
COMMENT ON COLUMN @extschema@.customer_360.frequency IS 'Orders with a positive amount.';
COMMENT ON COLUMN @extschema@.customer_360.monetary IS 'Net spend.';
COMMENT ON COLUMN @extschema@.customer_360.returns IS 'Return transactions.';
COMMENT ON COLUMN @extschema@.customer_360.tenure_days IS 'Whole days since the first purchase.';
COMMENT ON COLUMN @extschema@.customer_360.purchase_days IS 'Distinct days with a purchase.';
COMMENT ON COLUMN @extschema@.customer_360.btyd_frequency IS 'BG/NBD x: repeat purchase days.';
COMMENT ON COLUMN @extschema@.customer_360.btyd_recency IS 'BG/NBD t_x in days.';
COMMENT ON COLUMN @extschema@.customer_360.btyd_t IS 'BG/NBD T in days.';
COMMENT ON COLUMN @extschema@.customer_360.avg_repeat_spend IS 'Mean purchase value of repeat purchase days.';
COMMENT ON COLUMN @extschema@.customer_360.last_gap_days IS 'Days between the two latest purchase days.';
COMMENT ON COLUMN @extschema@.customer_360.median_gap_days IS 'Median days between purchase days.';
COMMENT ON COLUMN @extschema@.customer_360.one_time_buyer IS 'Bought on one day only; under BG/NBD P(alive) = 1 by the model''s construction, not a prediction; churn_risk is graded under every model.';
COMMENT ON COLUMN @extschema@.customer_360.p_alive IS 'BG/NBD probability that the customer is still active.';
COMMENT ON COLUMN @extschema@.customer_360.churn_risk IS 'Probability of no purchase in the next crm.settings.churn_horizon_days days.';
COMMENT ON COLUMN @extschema@.customer_360.expected_purchases IS 'Purchase days expected in the next crm.settings.churn_horizon_days days.';
COMMENT ON COLUMN @extschema@.customer_360.expected_spend IS 'Expected spend per purchase day (Gamma-Gamma).';
COMMENT ON COLUMN @extschema@.customer_360.clv IS 'Customer lifetime value over crm.settings.clv_months months, discounted.';
COMMENT ON COLUMN @extschema@.customer_360.as_of IS 'Analysis date of the refresh.';

CREATE VIEW @extschema@.rfm_breaks AS
SELECT b.metric, b.method, b.break_1, b.break_2, b.break_3, b.break_4, b.run_id, r.as_of
FROM @extschema@.rfm_break_points AS b
JOIN @extschema@.refresh_runs AS r USING (run_id)
WHERE b.run_id = (SELECT max(s.run_id) FROM @extschema@.refresh_runs AS s WHERE s.status = 'succeeded');
COMMENT ON VIEW @extschema@.rfm_breaks IS
	'Break points of the last successful refresh. Band = 1 + number of breaks below the value; F and M scores are the band, R is 6 - band.';
COMMENT ON COLUMN @extschema@.rfm_breaks.metric IS 'recency (days), frequency (orders) or monetary (net spend).';
COMMENT ON COLUMN @extschema@.rfm_breaks.method IS 'quantile, equal_count or fixed.';
COMMENT ON COLUMN @extschema@.rfm_breaks.break_1 IS 'Upper bound (inclusive) of band 1.';
COMMENT ON COLUMN @extschema@.rfm_breaks.break_2 IS 'Upper bound (inclusive) of band 2.';
COMMENT ON COLUMN @extschema@.rfm_breaks.break_3 IS 'Upper bound (inclusive) of band 3.';
COMMENT ON COLUMN @extschema@.rfm_breaks.break_4 IS 'Upper bound (inclusive) of band 4.';
COMMENT ON COLUMN @extschema@.rfm_breaks.run_id IS 'Refresh run.';
COMMENT ON COLUMN @extschema@.rfm_breaks.as_of IS 'Analysis date of that run.';

-- Valuable customers the purchase model thinks will not come back in the
-- churn horizon, most value at stake first; one-time buyers included, since
-- the horizon risk is graded for them under every model.
CREATE VIEW @extschema@.churn_watch_list AS
SELECT cs.customer_id, cs.segment, cs.lifecycle_stage,
	   cs.recency_days, cs.frequency, cs.monetary,
	   round(cs.p_alive::numeric, 4)::numeric(7,4) AS p_alive,
	   round(cs.churn_risk::numeric, 4)::numeric(7,4) AS churn_risk,
	   round(cs.expected_purchases::numeric, 3)::numeric(14,3) AS expected_purchases,
	   round(cs.clv::numeric, 2)::numeric(18,2) AS clv,
	   round((cs.clv * (1 - cs.p_alive) / cs.p_alive)::numeric, 2)::numeric(18,2) AS clv_at_risk,
	   cs.as_of
FROM @extschema@.customer_segments AS cs
WHERE cs.m_score >= 4
  AND cs.p_alive > 0
  AND cs.churn_risk >= (SELECT s.churn_risk_threshold FROM @extschema@.settings AS s)
ORDER BY clv_at_risk DESC, churn_risk DESC, cs.customer_id;
COMMENT ON VIEW @extschema@.churn_watch_list IS
	'Customers in the top two monetary scores, one-time buyers included, whose churn risk (no purchase in the next crm.settings.churn_horizon_days days) is at least crm.settings.churn_risk_threshold, ordered by the CLV at risk, then the churn risk.';
COMMENT ON COLUMN @extschema@.churn_watch_list.customer_id IS 'Customer key.';
COMMENT ON COLUMN @extschema@.churn_watch_list.segment IS 'RFM segment.';
COMMENT ON COLUMN @extschema@.churn_watch_list.lifecycle_stage IS 'Lifecycle stage.';
COMMENT ON COLUMN @extschema@.churn_watch_list.recency_days IS 'Days since the last purchase.';
COMMENT ON COLUMN @extschema@.churn_watch_list.frequency IS 'Orders.';
COMMENT ON COLUMN @extschema@.churn_watch_list.monetary IS 'Net spend so far.';
COMMENT ON COLUMN @extschema@.churn_watch_list.p_alive IS 'Probability the customer is still active.';
COMMENT ON COLUMN @extschema@.churn_watch_list.churn_risk IS 'Probability of no purchase in the churn horizon.';
COMMENT ON COLUMN @extschema@.churn_watch_list.expected_purchases IS 'Purchase days expected in the churn horizon.';
COMMENT ON COLUMN @extschema@.churn_watch_list.clv IS 'Expected lifetime value over the CLV horizon.';
COMMENT ON COLUMN @extschema@.churn_watch_list.clv_at_risk IS 'Value lost if the customer has dropped out: the CLV they would have if surely active minus their CLV, clv * (1 - p_alive) / p_alive.';
COMMENT ON COLUMN @extschema@.churn_watch_list.as_of IS 'Analysis date of the refresh.';

CREATE VIEW @extschema@.clv_by_segment AS
SELECT cs.segment,
	   count(*) AS customers,
	   count(*) FILTER (WHERE cs.one_time_buyer) AS one_time_buyers,
	   round(avg(cs.p_alive)::numeric, 4)::numeric(7,4) AS avg_p_alive,
	   round(sum(cs.expected_purchases)::numeric, 1)::numeric(16,1) AS expected_purchases,
	   round(sum(cs.clv)::numeric, 2)::numeric(18,2) AS clv,
	   round(avg(cs.clv)::numeric, 2)::numeric(18,2) AS avg_clv,
	   round((sum(cs.clv) / nullif(sum(sum(cs.clv)) OVER (), 0))::numeric, 4)::numeric(7,4) AS clv_share,
	   min(cs.as_of) AS as_of
FROM @extschema@.customer_segments AS cs
WHERE cs.segment IS NOT NULL
GROUP BY cs.segment;
COMMENT ON VIEW @extschema@.clv_by_segment IS
	'Expected lifetime value and activity per RFM segment at the last refresh (scored customers).';
COMMENT ON COLUMN @extschema@.clv_by_segment.segment IS 'Segment name.';
COMMENT ON COLUMN @extschema@.clv_by_segment.customers IS 'Customers in the segment.';
COMMENT ON COLUMN @extschema@.clv_by_segment.one_time_buyers IS 'Of them, customers who bought on one day only.';
COMMENT ON COLUMN @extschema@.clv_by_segment.avg_p_alive IS 'Mean probability of being active.';
COMMENT ON COLUMN @extschema@.clv_by_segment.expected_purchases IS 'Purchase days the segment is expected to make in the churn horizon.';
COMMENT ON COLUMN @extschema@.clv_by_segment.clv IS 'Total expected lifetime value of the segment.';
COMMENT ON COLUMN @extschema@.clv_by_segment.avg_clv IS 'Mean expected lifetime value per customer.';
COMMENT ON COLUMN @extschema@.clv_by_segment.clv_share IS 'Share of the total expected lifetime value, 0-1.';
COMMENT ON COLUMN @extschema@.clv_by_segment.as_of IS 'Analysis date of the refresh.';

CREATE VIEW @extschema@.model_diagnostics AS
SELECT m.model_id, m.kind, m.fitted_at, m.as_of, m.time_unit,
	   m.r, m.alpha, m.a, m.b, m.p, m.q, m.v,
	   m.log_likelihood, m.customers, m.converged, m.iterations, m.spend_frequency_corr,
	   m.holdout_end,
	   m.model_id = @extschema@.current_model_id(m.kind) AS in_use,
	   m.s, m.beta,
	   round(v.churn_auc::numeric, 4)::numeric(7,4) AS holdout_churn_auc,
	   round(v.brier_score::numeric, 4)::numeric(7,4) AS holdout_brier_score,
	   m.kind = c.kind AND m.model_id = @extschema@.current_model_id(m.kind) AS scores_churn,
	   CASE WHEN m.kind = c.kind AND m.model_id = @extschema@.current_model_id(m.kind) THEN c.reason END AS churn_model_choice,
	   m.r_se, m.alpha_se, m.a_se, m.b_se, m.s_se, m.beta_se, m.p_se, m.q_se, m.v_se, 
	   round(m.dropout_log_likelihood_gain::numeric, 3)::numeric(18,3) AS dropout_log_likelihood_gain,
	   m.dropout_log_likelihood_gain >= 3 AS dropout_identified
FROM @extschema@.models AS m
LEFT JOIN @extschema@.model_validation AS v USING (model_id)
CROSS JOIN @extschema@.churn_model_choice() AS c;
COMMENT ON VIEW @extschema@.model_diagnostics IS
	'Every fitted model with its parameters and fit diagnostics; in_use marks the latest converged model of each kind, scores_churn the purchase model the next refresh scores with (when crm.settings.model_refit = manual; otherwise it fits a new one of that kind), churn_model_choice says why.';
COMMENT ON COLUMN @extschema@.model_diagnostics.model_id IS 'Model number.';
COMMENT ON COLUMN @extschema@.model_diagnostics.kind IS 'bgnbd, mbgnbd, pareto_nbd or gamma_gamma.';
COMMENT ON COLUMN @extschema@.model_diagnostics.fitted_at IS 'When it was fitted.';
COMMENT ON COLUMN @extschema@.model_diagnostics.as_of IS 'End of the data it was fitted on.';
COMMENT ON COLUMN @extschema@.model_diagnostics.time_unit IS 'Time unit of the purchase model parameters: day.';
COMMENT ON COLUMN @extschema@.model_diagnostics.r IS 'Purchase models: r.';
COMMENT ON COLUMN @extschema@.model_diagnostics.alpha IS 'Purchase models: alpha (days).';
COMMENT ON COLUMN @extschema@.model_diagnostics.a IS 'BG/NBD and MBG/NBD: a.';
COMMENT ON COLUMN @extschema@.model_diagnostics.b IS 'BG/NBD and MBG/NBD: b.';
COMMENT ON COLUMN @extschema@.model_diagnostics.p IS 'Gamma-Gamma p.';
COMMENT ON COLUMN @extschema@.model_diagnostics.q IS 'Gamma-Gamma q.';
COMMENT ON COLUMN @extschema@.model_diagnostics.v IS 'Gamma-Gamma v (gamma).';
COMMENT ON COLUMN @extschema@.model_diagnostics.log_likelihood IS 'Maximised log-likelihood.';
COMMENT ON COLUMN @extschema@.model_diagnostics.customers IS 'Customers fitted on.';
COMMENT ON COLUMN @extschema@.model_diagnostics.converged IS 'Whether the fit converged.';
COMMENT ON COLUMN @extschema@.model_diagnostics.iterations IS 'Optimiser iterations.';
COMMENT ON COLUMN @extschema@.model_diagnostics.spend_frequency_corr IS 'Gamma-Gamma: correlation of spend and frequency (should be near 0).';
COMMENT ON COLUMN @extschema@.model_diagnostics.holdout_end IS 'End of the holdout period of a calibrated model.';
COMMENT ON COLUMN @extschema@.model_diagnostics.in_use IS 'The latest converged model of its kind.';
COMMENT ON COLUMN @extschema@.model_diagnostics.s IS 'Pareto/NBD s.';
COMMENT ON COLUMN @extschema@.model_diagnostics.beta IS 'Pareto/NBD beta (days).';
COMMENT ON COLUMN @extschema@.model_diagnostics.holdout_churn_auc IS 'Calibrated purchase models: area under the ROC curve of the churn risk in the holdout (crm.model_validation).';
COMMENT ON COLUMN @extschema@.model_diagnostics.holdout_brier_score IS 'Calibrated purchase models: Brier score of the churn risk in the holdout; the auto choice takes the lowest of the last validation.';
COMMENT ON COLUMN @extschema@.model_diagnostics.scores_churn IS 'The purchase model of the kind crm.settings.churn_model chooses, latest converged: the refresh scores churn, expected purchases and CLV with this kind.';
COMMENT ON COLUMN @extschema@.model_diagnostics.churn_model_choice IS 'On the scores_churn row: why its kind was chosen (crm.churn_model_choice()).';
COMMENT ON COLUMN @extschema@.model_diagnostics.r_se IS 'Standard error of r from the observed information; NULL where the data cannot identify the parameter.';
COMMENT ON COLUMN @extschema@.model_diagnostics.alpha_se IS 'Standard error of alpha from the observed information; NULL where the data cannot identify the parameter.';
COMMENT ON COLUMN @extschema@.model_diagnostics.a_se IS 'Standard error of a from the observed information; NULL where the data cannot identify the parameter.';
COMMENT ON COLUMN @extschema@.model_diagnostics.b_se IS 'Standard error of b from the observed information; NULL where the data cannot identify the parameter.';
COMMENT ON COLUMN @extschema@.model_diagnostics.s_se IS 'Standard error of s from the observed information; NULL where the data cannot identify the parameter.';
COMMENT ON COLUMN @extschema@.model_diagnostics.beta_se IS 'Standard error of beta from the observed information; NULL where the data cannot identify the parameter.';
COMMENT ON COLUMN @extschema@.model_diagnostics.p_se IS 'Standard error of p from the observed information; NULL where the data cannot identify the parameter.';
COMMENT ON COLUMN @extschema@.model_diagnostics.q_se IS 'Standard error of q from the observed information; NULL where the data cannot identify the parameter.';
COMMENT ON COLUMN @extschema@.model_diagnostics.v_se IS 'Standard error of v from the observed information; NULL where the data cannot identify the parameter.';
COMMENT ON COLUMN @extschema@.model_diagnostics.dropout_log_likelihood_gain IS 'Purchase models: log-likelihood gain over the same customers fitted without any dropout (NBD).';
COMMENT ON COLUMN @extschema@.model_diagnostics.dropout_identified IS 'Purchase models: whether the data identify dropout at all (the gain is at least 3, twice it the 5 % point of chi-square with 2 degrees of freedom). When false, P(alive) near 1 is the model''s assumption, not a finding; the churn risk over the horizon still ranks customers.';
-- pg_cron jobs of retail_crm (the refresh, the tier review, the points
-- expiry), scheduled through one set of helpers.  pg_cron stays optional: it
-- is looked up at call time, never required by the control file.

-- Raises 55000 with the exact steps to take when pg_cron cannot run the job
-- job_name (command on schedule) for this database.  scheduler names the
-- function to call again; detail says what to do without pg_cron.
CREATE FUNCTION @extschema@.require_pg_cron(job_name text, schedule text, command text,
											scheduler text, detail text)
RETURNS void
LANGUAGE plpgsql STABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	cron_database text;
BEGIN
	IF EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'pg_cron') THEN
		RETURN;
	END IF;
	-- Read only when needed: once pg_cron is loaded the setting is for
	-- superusers (and pg_read_all_settings), and crm_admin calls this too.
	BEGIN
		cron_database := current_setting('cron.database_name', true);
	EXCEPTION WHEN insufficient_privilege THEN
		RAISE EXCEPTION USING ERRCODE = 'object_not_in_prerequisite_state',
			MESSAGE = 'pg_cron is loaded but its extension is not created in this database',
			HINT = format('Ask a superuser to run CREATE EXTENSION pg_cron; in the database cron.database_name names (pg_cron schedules only there), then call %s again.', scheduler);
	END;
	IF cron_database IS NULL THEN
		RAISE EXCEPTION USING ERRCODE = 'object_not_in_prerequisite_state',
			MESSAGE = 'pg_cron is not installed',
			DETAIL = detail,
			HINT = format('Install pg_cron (Debian: apt-get install postgresql-15-cron), set shared_preload_libraries = ''pg_cron'' and cron.database_name = %L in postgresql.conf, restart PostgreSQL, run CREATE EXTENSION pg_cron; in that database, then call %s again.',
						  current_database(), scheduler);
	ELSIF cron_database <> current_database() THEN
		RAISE EXCEPTION USING ERRCODE = 'object_not_in_prerequisite_state',
			MESSAGE = format('pg_cron runs in database %s, not in %s', cron_database, current_database()),
			HINT = format('Connect to database %s and run: SELECT cron.schedule_in_database(%L, %L, %L, %L);',
						  cron_database, job_name || '_' || current_database(), schedule,
						  command, current_database());
	ELSE
		RAISE EXCEPTION USING ERRCODE = 'object_not_in_prerequisite_state',
			MESSAGE = 'pg_cron is loaded but its extension is not created in this database',
			HINT = format('Run CREATE EXTENSION pg_cron; here, then call %s again.', scheduler);
	END IF;
END
$$;
COMMENT ON FUNCTION @extschema@.require_pg_cron(text, text, text, text, text) IS
	'Internal: raises 55000 with the steps to take when pg_cron cannot run the job (name, schedule, command) for this database; scheduler is the function to call again, detail what to do without pg_cron. Stable because it reads the catalog and settings.';

-- Schedules (or reschedules: pg_cron upserts by name) command under job_name.
CREATE FUNCTION @extschema@.schedule_job(job_name text, schedule text, command text,
										 scheduler text, detail text)
RETURNS bigint
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	job bigint;
	cron_message text;
BEGIN
	IF schedule IS NULL OR btrim(schedule) = '' THEN
		RAISE EXCEPTION USING ERRCODE = 'invalid_parameter_value',
			MESSAGE = 'schedule must be a cron expression, not empty',
			HINT = 'Use the five-field cron syntax in GMT, e.g. ''30 2 * * *'' for 02:30 GMT every day.';
	END IF;
	PERFORM @extschema@.require_pg_cron(job_name, schedule, command, scheduler, detail);
	BEGIN
		-- Dynamic: the cron schema does not exist when pg_cron is absent.
		EXECUTE 'SELECT cron.schedule_in_database($1, $2, $3, $4)'
			INTO job
			USING job_name, schedule, command, current_database();
	EXCEPTION WHEN invalid_parameter_value OR internal_error THEN
		GET STACKED DIAGNOSTICS cron_message = MESSAGE_TEXT;
		RAISE EXCEPTION USING ERRCODE = 'invalid_parameter_value',
			MESSAGE = format('invalid schedule %L', @extschema@.message_excerpt(schedule)),
			DETAIL = format('pg_cron says: %s', @extschema@.message_excerpt(cron_message)),
			HINT = 'Use the five-field cron syntax in GMT, e.g. ''30 2 * * *''; pg_cron 1.4 has minute granularity.';
	END;
	RETURN job;
END
$$;
COMMENT ON FUNCTION @extschema@.schedule_job(text, text, text, text, text) IS
	'Internal: schedules command with pg_cron in this database under job_name (schedule in GMT) and returns the job id; again = new schedule. Without pg_cron raises 55000 (see crm.require_pg_cron).';

-- Removes the job job_name of this database; "what" names it in notices.
CREATE FUNCTION @extschema@.unschedule_job(job_name text, what text)
RETURNS boolean
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	job bigint;
BEGIN
	IF NOT EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'pg_cron') THEN
		RAISE NOTICE 'pg_cron is not installed in this database, so no % is scheduled', what;
		RETURN false;
	END IF;
	EXECUTE 'SELECT jobid FROM cron.job WHERE jobname = $1 AND database = $2'
		INTO job
		USING job_name, current_database();
	IF job IS NULL THEN
		RAISE NOTICE 'no retail_crm % is scheduled', what;
		RETURN false;
	END IF;
	EXECUTE 'SELECT cron.unschedule($1)' USING job;
	RETURN true;
END
$$;
COMMENT ON FUNCTION @extschema@.unschedule_job(text, text) IS
	'Internal: removes the pg_cron job job_name of this database; false, with a notice naming "what", when there is none.';

DO $grants$
DECLARE
	routine regprocedure;
BEGIN
	FOREACH routine IN ARRAY ARRAY[
		'@extschema@.require_pg_cron(text, text, text, text, text)',
		'@extschema@.schedule_job(text, text, text, text, text)',
		'@extschema@.unschedule_job(text, text)']::pg_catalog.regprocedure[]
	LOOP
		EXECUTE pg_catalog.format('REVOKE EXECUTE ON ROUTINE %s FROM PUBLIC', routine);
		EXECUTE pg_catalog.format('GRANT EXECUTE ON ROUTINE %s TO crm_admin', routine);
	END LOOP;
END
$grants$;
-- CRM KPIs as flat BI views over crm.transactions: monthly customer counts
-- and rates, cohort retention, segment movement between refreshes.
-- A purchase is a transaction with a customer and amount > 0; months are
-- calendar months in the session's TimeZone (set it in the BI connection).

-- Each customer's purchases and net amount per month: what the KPI views
-- count.  A purchase history, so not granted to analysts.
CREATE VIEW @extschema@.customer_months AS
SELECT t.customer_id, date_trunc('month', t.occurred_at)::date AS month,
	   count(*) FILTER (WHERE t.amount > 0) AS purchases,
	   sum(t.amount) AS net_amount
FROM @extschema@.transactions AS t
WHERE t.customer_id IS NOT NULL
GROUP BY 1, 2;
COMMENT ON VIEW @extschema@.customer_months IS
	'One row per customer and calendar month (session TimeZone) with a transaction: purchases (amount > 0) and net amount. The base of crm.monthly_kpis and crm.cohort_retention; a purchase history, not granted to analysts.';
COMMENT ON COLUMN @extschema@.customer_months.customer_id IS 'Customer key.';
COMMENT ON COLUMN @extschema@.customer_months.month IS 'First day of the month.';
COMMENT ON COLUMN @extschema@.customer_months.purchases IS 'Transactions with amount > 0 in the month; 0 when the month holds only returns.';
COMMENT ON COLUMN @extschema@.customer_months.net_amount IS 'Sum of the month''s amounts, returns subtracted.';

CREATE VIEW @extschema@.monthly_kpis AS
WITH purchases AS (
	SELECT m.customer_id, m.month FROM @extschema@.customer_months AS m WHERE m.purchases > 0
), orders AS (
	-- Each customer's first and second purchase, for the repeat purchase rate.
	SELECT o.customer_id,
		   min(o.month) AS first_month,
		   min(o.month) FILTER (WHERE o.n = 2) AS second_order_month
	FROM (SELECT t.customer_id, date_trunc('month', t.occurred_at)::date AS month,
				 row_number() OVER (PARTITION BY t.customer_id ORDER BY t.occurred_at, t.transaction_id) AS n
		  FROM @extschema@.transactions AS t
		  WHERE t.customer_id IS NOT NULL AND t.amount > 0) AS o
	WHERE o.n <= 2
	GROUP BY o.customer_id
), months AS (
	SELECT g.month::date AS month
	FROM (SELECT min(p.month) AS first, max(p.month) AS last FROM purchases AS p) AS r,
		 generate_series(r.first, r.last, interval '1 month') AS g (month)
), transitions AS (
	-- One row per customer active in a month or in the month before.
	SELECT coalesce(cur.month, (prev.month + interval '1 month')::date) AS month,
		   cur.customer_id IS NOT NULL AS active, prev.customer_id IS NOT NULL AS was_active,
		   coalesce(cur.customer_id, prev.customer_id) AS customer_id
	FROM purchases AS cur
	FULL JOIN purchases AS prev
		ON prev.customer_id = cur.customer_id AND prev.month = (cur.month - interval '1 month')::date
), counts AS (
	SELECT cm.month,
		   count(*) FILTER (WHERE cm.active) AS active_customers,
		   count(*) FILTER (WHERE cm.active AND o.first_month = cm.month) AS new_customers,
		   count(*) FILTER (WHERE cm.active AND cm.was_active) AS retained_customers,
		   count(*) FILTER (WHERE cm.was_active AND NOT cm.active) AS lost_customers,
		   count(*) FILTER (WHERE cm.was_active) AS previous_active_customers
	FROM transitions AS cm
	JOIN orders AS o ON o.customer_id = cm.customer_id
	GROUP BY cm.month
), revenue AS (
	SELECT m.month, sum(m.net_amount) AS net_revenue
	FROM @extschema@.customer_months AS m
	GROUP BY m.month
), to_date AS (
	SELECT m.month,
		   count(*) FILTER (WHERE o.first_month <= m.month) AS buyers,
		   count(*) FILTER (WHERE o.second_order_month <= m.month) AS repeat_buyers
	FROM months AS m CROSS JOIN orders AS o
	GROUP BY m.month
)
SELECT m.month,
	   coalesce(c.active_customers, 0) AS active_customers,
	   coalesce(c.new_customers, 0) AS new_customers,
	   coalesce(c.active_customers - c.new_customers, 0) AS returning_customers,
	   coalesce(c.retained_customers, 0) AS retained_customers,
	   coalesce(c.active_customers - c.new_customers - c.retained_customers, 0) AS reactivated_customers,
	   coalesce(c.lost_customers, 0) AS lost_customers,
	   round((c.active_customers - c.new_customers)::numeric / nullif(c.previous_active_customers, 0), 4)::numeric(12,4) AS retention_rate,
	   round(c.lost_customers::numeric / nullif(c.previous_active_customers, 0), 4)::numeric(7,4) AS churn_rate,
	   round(d.repeat_buyers::numeric / nullif(d.buyers, 0), 4)::numeric(7,4) AS repeat_purchase_rate,
	   coalesce(r.net_revenue, 0) AS net_revenue,
	   round(r.net_revenue / nullif(c.active_customers, 0), 2)::numeric(18,2) AS revenue_per_customer
FROM months AS m
LEFT JOIN counts AS c ON c.month = m.month
LEFT JOIN revenue AS r ON r.month = m.month
LEFT JOIN to_date AS d ON d.month = m.month;
COMMENT ON VIEW @extschema@.monthly_kpis IS
	'Customer KPIs per calendar month (session TimeZone) from crm.transactions, from the first to the last month with a purchase. Active = bought in the month (a purchase: customer set, amount > 0); new = first purchase ever in the month; returning = active - new = retained + reactivated; lost = active last month, not this month. Rates are NULL when their denominator is 0.';
COMMENT ON COLUMN @extschema@.monthly_kpis.month IS 'First day of the month.';
COMMENT ON COLUMN @extschema@.monthly_kpis.active_customers IS 'Customers with at least one purchase in the month.';
COMMENT ON COLUMN @extschema@.monthly_kpis.new_customers IS 'Active customers whose first purchase ever is in the month.';
COMMENT ON COLUMN @extschema@.monthly_kpis.returning_customers IS 'Active customers who had bought before the month: retained + reactivated.';
COMMENT ON COLUMN @extschema@.monthly_kpis.retained_customers IS 'Active customers who were also active the month before.';
COMMENT ON COLUMN @extschema@.monthly_kpis.reactivated_customers IS 'Returning customers who were not active the month before.';
COMMENT ON COLUMN @extschema@.monthly_kpis.lost_customers IS 'Customers active the month before and not in this month.';
COMMENT ON COLUMN @extschema@.monthly_kpis.retention_rate IS '(active - new) / active the month before, the customers at the end less the new ones over the customers at the start; can exceed 1 when many come back. NULL in the first month.';
COMMENT ON COLUMN @extschema@.monthly_kpis.churn_rate IS 'lost / active the month before, 0-1; retained / active the month before = 1 - churn_rate.';
COMMENT ON COLUMN @extschema@.monthly_kpis.repeat_purchase_rate IS 'Customers with at least two purchases up to the end of the month / customers with at least one, 0-1.';
COMMENT ON COLUMN @extschema@.monthly_kpis.net_revenue IS 'Sum of the amounts of the month''s transactions with a customer, returns subtracted.';
COMMENT ON COLUMN @extschema@.monthly_kpis.revenue_per_customer IS 'net_revenue / active_customers, rounded to cents.';

CREATE VIEW @extschema@.cohort_retention AS
WITH purchases AS (
	SELECT m.customer_id, m.month FROM @extschema@.customer_months AS m WHERE m.purchases > 0
), cohorts AS (
	SELECT p.customer_id, min(p.month) AS cohort_month
	FROM purchases AS p
	GROUP BY p.customer_id
), sizes AS (
	SELECT c.cohort_month, count(*) AS customers
	FROM cohorts AS c
	GROUP BY c.cohort_month
), activity AS (
	SELECT c.cohort_month,
		   ((extract(year FROM p.month) - extract(year FROM c.cohort_month)) * 12
			+ extract(month FROM p.month) - extract(month FROM c.cohort_month))::integer AS months_since,
		   count(*) AS active
	FROM purchases AS p
	JOIN cohorts AS c ON c.customer_id = p.customer_id
	GROUP BY 1, 2
), last_month AS (
	SELECT max(p.month) AS month FROM purchases AS p
)
SELECT s.cohort_month, k.months_since, s.customers,
	   coalesce(a.active, 0) AS active,
	   round(coalesce(a.active, 0)::numeric / s.customers, 4)::numeric(7,4) AS share
FROM sizes AS s
CROSS JOIN last_month AS l
CROSS JOIN LATERAL generate_series(0, ((extract(year FROM l.month) - extract(year FROM s.cohort_month)) * 12
										+ extract(month FROM l.month) - extract(month FROM s.cohort_month))::integer)
	AS k (months_since)
LEFT JOIN activity AS a ON a.cohort_month = s.cohort_month AND a.months_since = k.months_since;
COMMENT ON VIEW @extschema@.cohort_retention IS
	'Cohort table from crm.transactions: customers grouped by the calendar month (session TimeZone) of their first purchase; for each month since, up to the last month with a purchase, how many of them bought (amount > 0) and what share. months_since 0 is the cohort month itself (share 1).';
COMMENT ON COLUMN @extschema@.cohort_retention.cohort_month IS 'First day of the month of the customers'' first purchase.';
COMMENT ON COLUMN @extschema@.cohort_retention.months_since IS 'Calendar months after the cohort month, 0 = the cohort month.';
COMMENT ON COLUMN @extschema@.cohort_retention.customers IS 'Customers in the cohort.';
COMMENT ON COLUMN @extschema@.cohort_retention.active IS 'Cohort customers with a purchase in that month.';
COMMENT ON COLUMN @extschema@.cohort_retention.share IS 'active / customers, 0-1, rounded to 4 decimals.';

-- Segment moves between every two consecutive refreshes whose history is
-- kept (crm.settings.history_runs_kept); crm.segment_migration is the
-- latest of them.
CREATE VIEW @extschema@.segment_movement AS
WITH runs AS (
	SELECT r.run_id, r.as_of,
		   lag(r.run_id) OVER (ORDER BY r.run_id) AS from_run_id,
		   lag(r.as_of) OVER (ORDER BY r.run_id) AS from_as_of
	FROM @extschema@.refresh_runs AS r
	WHERE r.status = 'succeeded'
	  AND EXISTS (SELECT 1 FROM @extschema@.segment_history AS h WHERE h.run_id = r.run_id)
)
SELECT r.from_run_id, r.run_id AS to_run_id, r.from_as_of, r.as_of AS to_as_of,
	   m.from_segment, m.to_segment, m.customers
FROM runs AS r
CROSS JOIN LATERAL (
	SELECT CASE WHEN p.customer_id IS NULL THEN '(new customer)' ELSE coalesce(p.segment, '(not scored)') END AS from_segment,
		   CASE WHEN c.customer_id IS NULL THEN '(gone)' ELSE coalesce(c.segment, '(not scored)') END AS to_segment,
		   count(*) AS customers
	FROM (SELECT h.customer_id, h.segment FROM @extschema@.segment_history AS h WHERE h.run_id = r.from_run_id) AS p
	FULL JOIN (SELECT h.customer_id, h.segment FROM @extschema@.segment_history AS h WHERE h.run_id = r.run_id) AS c
		ON c.customer_id = p.customer_id
	GROUP BY 1, 2
) AS m
WHERE r.from_run_id IS NOT NULL;
COMMENT ON VIEW @extschema@.segment_movement IS
	'Customers moving from each segment to each other between every two consecutive successful refreshes whose history is kept: segment movement over time. The last pair of runs is crm.segment_migration.';
COMMENT ON COLUMN @extschema@.segment_movement.from_run_id IS 'Earlier refresh run.';
COMMENT ON COLUMN @extschema@.segment_movement.to_run_id IS 'Later refresh run (the next one with history).';
COMMENT ON COLUMN @extschema@.segment_movement.from_as_of IS 'Analysis date of the earlier run.';
COMMENT ON COLUMN @extschema@.segment_movement.to_as_of IS 'Analysis date of the later run.';
COMMENT ON COLUMN @extschema@.segment_movement.from_segment IS 'Segment at the earlier run; (new customer) when absent then, (not scored) without a purchase.';
COMMENT ON COLUMN @extschema@.segment_movement.to_segment IS 'Segment at the later run; (gone) when absent then, (not scored) without a purchase.';
COMMENT ON COLUMN @extschema@.segment_movement.customers IS 'Customers who made this move (or stayed, when both are equal).';

-- Grants (roles: 05_roles.sql), the same as 97_grants.sql gives on a fresh
-- install.  Aggregates only: analysts may read them.
GRANT SELECT ON @extschema@.monthly_kpis, @extschema@.cohort_retention, @extschema@.segment_movement
TO crm_analyst;
GRANT SELECT, INSERT, UPDATE, DELETE, TRUNCATE ON
	@extschema@.customer_months, @extschema@.monthly_kpis, @extschema@.cohort_retention, @extschema@.segment_movement
TO crm_admin;
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
-- Erasure of a customer's personal data (right to be forgotten).
--
-- Which columns hold personal data is written where the column is defined:
-- its comment starts with "Personal data".  Every table with such a column
-- has a customer_id column, or a foreign key to a table that has one (a
-- ticket's events reach the customer through the ticket); test/sql/install.sql
-- checks it.  So the erasure finds every such column, including those added
-- by later parts, without a list to keep up to date.  Purchases, scores and
-- aggregates stay: they describe a customer key, not a person.

CREATE TABLE @extschema@.erasure_requests (
	request_id		bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	customer_id		bigint NOT NULL,
	requested_at	timestamptz NOT NULL DEFAULT now(),
	requested_by	name NOT NULL DEFAULT session_user,
	tables_erased	text NOT NULL,
	rows_erased		bigint NOT NULL
);
COMMENT ON TABLE @extschema@.erasure_requests IS
	'One row per call of crm.forget_customer: whose personal data was erased, when, by whom and where. Holds no personal data itself.';
COMMENT ON COLUMN @extschema@.erasure_requests.request_id IS 'Request number, increasing.';
COMMENT ON COLUMN @extschema@.erasure_requests.customer_id IS 'Customer key whose personal data was erased.';
COMMENT ON COLUMN @extschema@.erasure_requests.requested_at IS 'When the erasure ran.';
COMMENT ON COLUMN @extschema@.erasure_requests.requested_by IS 'Session user who ran it.';
COMMENT ON COLUMN @extschema@.erasure_requests.tables_erased IS 'Tables in which rows of the customer had personal data erased, comma separated; empty when none held any.';
COMMENT ON COLUMN @extschema@.erasure_requests.rows_erased IS 'Rows whose personal data columns were erased.';

-- The personal data columns of the schema, with what erasing writes into
-- each (NULL, or an empty value where the column is NOT NULL) and the
-- condition that finds a customer's rows ($1 is the customer_id): the
-- table's own customer_id, else a one-column foreign key to a table with one.
CREATE FUNCTION @extschema@.personal_data_columns()
RETURNS TABLE (table_name regclass, column_name name, erased_value text, customer_rows text)
LANGUAGE sql STABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
	SELECT c.oid::regclass, a.attname,
		   CASE WHEN NOT a.attnotnull THEN 'NULL'
				ELSE format('%L::%s', '', format_type(a.atttypid, a.atttypmod)) END,
		   CASE WHEN EXISTS (SELECT 1 FROM pg_attribute AS k
							 WHERE k.attrelid = c.oid AND k.attname = 'customer_id' AND NOT k.attisdropped)
				THEN 'customer_id = $1'
				ELSE (SELECT format('%I IN (SELECT %I FROM %s WHERE customer_id = $1)',
								   fk_column.attname, ref_column.attname, fk.confrelid::regclass)
					  FROM pg_constraint AS fk
					  JOIN pg_attribute AS fk_column ON fk_column.attrelid = fk.conrelid AND fk_column.attnum = fk.conkey[1]
					  JOIN pg_attribute AS ref_column ON ref_column.attrelid = fk.confrelid AND ref_column.attnum = fk.confkey[1]
					  WHERE fk.conrelid = c.oid AND fk.contype = 'f' AND cardinality(fk.conkey) = 1
						AND EXISTS (SELECT 1 FROM pg_attribute AS k
									WHERE k.attrelid = fk.confrelid AND k.attname = 'customer_id' AND NOT k.attisdropped)
					  ORDER BY fk.conname LIMIT 1) END
	FROM pg_class AS c
	JOIN pg_attribute AS a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
	WHERE c.relnamespace = '@extschema@'::regnamespace AND c.relkind IN ('r', 'p')
	  AND col_description(c.oid, a.attnum) LIKE 'Personal data%'
	ORDER BY c.oid::regclass::text, a.attnum
$$;
COMMENT ON FUNCTION @extschema@.personal_data_columns() IS
	'Columns of the schema holding personal data (their comment starts with "Personal data"), with the value crm.forget_customer writes into each and the condition ($1 = customer_id) that finds a customer''s rows. Stable because it reads the catalog.';

CREATE FUNCTION @extschema@.forget_customer(customer_id bigint)
RETURNS bigint
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	target record;
	erased_rows bigint;
	total_rows bigint := 0;
	erased_tables text[] := '{}';
	request bigint;
BEGIN
	IF customer_id IS NULL THEN
		RAISE EXCEPTION USING ERRCODE = 'null_value_not_allowed',
			MESSAGE = 'customer_id must not be NULL',
			HINT = 'Give the key of the customer whose personal data is to be erased.';
	END IF;

	-- Withdraw every consent first: the consent log records the erasure as
	-- the reason, and no audience can pick the customer up afterwards.
	PERFORM set_config('retail_crm.consent_source', 'crm.forget_customer', true);
	UPDATE @extschema@.customer_contacts AS ct
	SET consent = false, consent_updated_at = CASE WHEN ct.consent THEN now() ELSE ct.consent_updated_at END,
		preferred = false
	WHERE ct.customer_id = forget_customer.customer_id AND (ct.consent OR ct.preferred);
	PERFORM set_config('retail_crm.consent_source', '', true);

	FOR target IN
		SELECT p.table_name, p.customer_rows,
			   string_agg(format('%I = %s', p.column_name, p.erased_value), ', ') AS assignments,
			   string_agg(format('%I IS DISTINCT FROM %s', p.column_name, p.erased_value), ' OR ') AS holds_data
		FROM @extschema@.personal_data_columns() AS p
		GROUP BY p.table_name, p.customer_rows
		ORDER BY p.table_name::text
	LOOP
		IF target.customer_rows IS NULL THEN
			RAISE EXCEPTION USING ERRCODE = 'internal_error',
				MESSAGE = format('%s holds personal data but neither a customer_id nor a foreign key to a table with one',
								 target.table_name),
				HINT = 'Nothing was erased. This is a retail_crm defect: report it.';
		END IF;
		EXECUTE format('UPDATE %s SET %s WHERE (%s) AND (%s)',
					   target.table_name, target.assignments, target.customer_rows, target.holds_data)
			USING customer_id;
		GET DIAGNOSTICS erased_rows = ROW_COUNT;
		IF erased_rows > 0 THEN
			total_rows := total_rows + erased_rows;
			erased_tables := erased_tables || target.table_name::text;
		END IF;
	END LOOP;

	INSERT INTO @extschema@.erasure_requests (customer_id, tables_erased, rows_erased)
	VALUES (customer_id, array_to_string(erased_tables, ', '), total_rows)
	RETURNING request_id INTO request;
	RAISE NOTICE 'retail_crm: erased personal data of customer % in % rows (%)',
		customer_id, total_rows, coalesce(nullif(array_to_string(erased_tables, ', '), ''), 'no table held any');
	RETURN request;
END
$$;
COMMENT ON FUNCTION @extschema@.forget_customer(bigint) IS
	'Erases a customer''s personal data everywhere in the schema (every column crm.personal_data_columns() lists), withdraws their consents (logged in crm.consent_events), keeps purchases, scores and aggregates under the customer key, and logs the request in crm.erasure_requests. Returns the request_id. Calling it again erases what was added since and logs again.';

REVOKE EXECUTE ON FUNCTION @extschema@.forget_customer(bigint) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION @extschema@.forget_customer(bigint) TO crm_admin;
GRANT SELECT ON @extschema@.erasure_requests TO crm_admin;
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

REVOKE EXECUTE ON FUNCTION @extschema@.audience(text, text) FROM PUBLIC;
REVOKE EXECUTE ON FUNCTION @extschema@.audience_customers(text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION @extschema@.audience(text, text) TO crm_marketer;
GRANT SELECT ON @extschema@.audience_pulls TO crm_admin, crm_marketer;
-- Nightly refresh through pg_cron (helpers: 91_cron_jobs.sql).  Functions
-- only, created with CREATE OR REPLACE, so that an upgrade can run this part
-- again.

CREATE OR REPLACE FUNCTION @extschema@.schedule_refresh(schedule text DEFAULT '30 2 * * *')
RETURNS bigint
LANGUAGE sql VOLATILE
SET search_path = pg_catalog, pg_temp
RETURN @extschema@.schedule_job('retail_crm_refresh', schedule, 'CALL @extschema@.refresh_segments()',
	'crm.schedule_refresh()',
	'crm.schedule_refresh() schedules the refresh with pg_cron. Without it, call crm.refresh_segments() from any scheduler.');
COMMENT ON FUNCTION @extschema@.schedule_refresh(text) IS
	'Schedules CALL crm.refresh_segments() with pg_cron under the job name retail_crm_refresh (schedule in GMT, default 02:30 daily) and returns the job id; calling it again changes the schedule. Needs pg_cron in this database; otherwise raises 55000 with the steps to take.';

CREATE OR REPLACE FUNCTION @extschema@.unschedule_refresh()
RETURNS boolean
LANGUAGE sql VOLATILE
SET search_path = pg_catalog, pg_temp
RETURN @extschema@.unschedule_job('retail_crm_refresh', 'refresh');
COMMENT ON FUNCTION @extschema@.unschedule_refresh() IS
	'Removes the pg_cron job of crm.schedule_refresh(). Returns false, with a notice, when there is none.';
-- Loyalty program (README, "Loyalty program"): tiers configured in tables, a tier
-- review that upgrades at once and downgrades only at review dates, and an
-- append-only points ledger whose balance never goes negative.
--
-- Points are whole numbers (bigint).  Every movement of one member is
-- serialised on the member's row in crm.points_accounts (SELECT ... FOR
-- UPDATE), so concurrent redemptions cannot both spend the same points.
-- Movements from outside carry an idempotency key, unique per kind: a replay
-- returns the original movement and writes nothing.
--
-- SQLSTATEs of their own (class CR):
--   CRM01  insufficient points: a redemption or negative adjustment asks
--          for more than the member's available points; nothing is written
--   CRM02  idempotency key reused with other arguments
--   CRM03  not a loyalty member

-- Configuration ------------------------------------------------------------

CREATE TABLE @extschema@.loyalty_programs (
	program_id				text PRIMARY KEY,
	qualify_on				text NOT NULL DEFAULT 'net_spend',
	qualification_window	text NOT NULL DEFAULT 'calendar_year',
	review_every			interval NOT NULL DEFAULT '1 year',
	review_anchor			date NOT NULL DEFAULT '2000-01-01',
	soft_landing			boolean NOT NULL DEFAULT true,
	grace_period			interval NOT NULL DEFAULT '0',
	points_validity			interval DEFAULT '2 years',
	return_window			interval NOT NULL DEFAULT '0'
);
COMMENT ON TABLE @extschema@.loyalty_programs IS
	'Loyalty programs: what tiers qualify on, over which window, when tiers are reviewed, and how long points live. Tiers are in crm.loyalty_tiers.';
COMMENT ON COLUMN @extschema@.loyalty_programs.program_id IS 'Name of the program.';
COMMENT ON COLUMN @extschema@.loyalty_programs.qualify_on IS
	'Qualifying metric: net_spend (purchases minus returns), visits (distinct UTC days with a purchase) or points (points earned minus clawed back).';
COMMENT ON COLUMN @extschema@.loyalty_programs.qualification_window IS
	'calendar_year (UTC; the better of the last and the current year, so status lasts to the end of the next year), anniversary_year (the same with years from enrolment), rolling_12_months or lifetime.';
COMMENT ON COLUMN @extschema@.loyalty_programs.review_every IS 'Time between tier reviews, at least one day; reviews fall on review_anchor + k * review_every (UTC midnight).';
COMMENT ON COLUMN @extschema@.loyalty_programs.review_anchor IS 'A review date; the others follow every review_every.';
COMMENT ON COLUMN @extschema@.loyalty_programs.soft_landing IS 'True: a review lowers a tier by at most one rank.';
COMMENT ON COLUMN @extschema@.loyalty_programs.grace_period IS 'A tier reached less than this long before a review is not lowered at that review.';
COMMENT ON COLUMN @extschema@.loyalty_programs.points_validity IS 'How long earned points live when the caller gives no expiry; NULL: they never expire.';
COMMENT ON COLUMN @extschema@.loyalty_programs.return_window IS 'Points for a purchase stay pending this long after it (crm.award_transaction_points), so a return can claw them back before they are spent.';

CREATE FUNCTION @extschema@.loyalty_programs_check()
RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	IF btrim(NEW.program_id) = '' THEN
		PERFORM @extschema@.config_error('program_id must not be empty', 'Name the program, e.g. ''members''.');
	END IF;
	IF NEW.qualify_on NOT IN ('net_spend', 'visits', 'points') THEN
		PERFORM @extschema@.config_error(
			format('qualify_on must be net_spend, visits or points, not %L', @extschema@.message_excerpt(NEW.qualify_on)),
			'Tiers qualify on net spend (purchases minus returns), purchase days or points earned in the window.');
	END IF;
	IF NEW.qualification_window NOT IN ('calendar_year', 'anniversary_year', 'rolling_12_months', 'lifetime') THEN
		PERFORM @extschema@.config_error(
			format('qualification_window must be calendar_year, anniversary_year, rolling_12_months or lifetime, not %L',
				   @extschema@.message_excerpt(NEW.qualification_window)),
			'The window is the period whose metric qualifies a member for a tier.');
	END IF;
	IF NOT (NEW.review_every >= interval '1 day') THEN
		PERFORM @extschema@.config_error(
			format('review_every must be at least 1 day, not %s', NEW.review_every),
			'Reviews fall on review_anchor + k * review_every, e.g. every ''1 year'' or ''3 months''.');
	END IF;
	IF NEW.review_anchor IN ('infinity', '-infinity') THEN
		PERFORM @extschema@.config_error(format('review_anchor must be a date, not %s', NEW.review_anchor),
			'Give one review date, e.g. ''2024-01-01'' for reviews on 1 January.');
	END IF;
	IF NEW.grace_period < interval '0' OR NEW.return_window < interval '0' THEN
		PERFORM @extschema@.config_error(
			format('grace_period and return_window must be zero or more, not %s and %s', NEW.grace_period, NEW.return_window),
			'0 means no grace period or no pending time.');
	END IF;
	IF NOT (NEW.points_validity > interval '0') THEN
		PERFORM @extschema@.config_error(
			format('points_validity must be positive or NULL, not %s', NEW.points_validity),
			'NULL means points never expire.');
	END IF;
	RETURN NEW;
END
$$;
COMMENT ON FUNCTION @extschema@.loyalty_programs_check() IS 'Trigger: validates crm.loyalty_programs.';

CREATE TRIGGER loyalty_programs_check BEFORE INSERT OR UPDATE ON @extschema@.loyalty_programs
	FOR EACH ROW EXECUTE FUNCTION @extschema@.loyalty_programs_check();

CREATE TABLE @extschema@.loyalty_tiers (
	program_id		text NOT NULL REFERENCES @extschema@.loyalty_programs,
	tier_rank		integer NOT NULL,
	tier_name		text NOT NULL,
	threshold		numeric NOT NULL,
	earn_rate		numeric NOT NULL DEFAULT 1,
	benefits		jsonb,
	PRIMARY KEY (program_id, tier_rank),
	UNIQUE (program_id, tier_name)
);
COMMENT ON TABLE @extschema@.loyalty_tiers IS
	'Tiers of each program, ranks 1..n without gaps; a higher rank needs a strictly higher threshold. Insert a program''s tiers in one statement or in rank order.';
COMMENT ON COLUMN @extschema@.loyalty_tiers.program_id IS 'The program (crm.loyalty_programs).';
COMMENT ON COLUMN @extschema@.loyalty_tiers.tier_rank IS 'Rank 1 (entry tier) to n (top tier), at most 100.';
COMMENT ON COLUMN @extschema@.loyalty_tiers.tier_name IS 'Name of the tier, unique in the program.';
COMMENT ON COLUMN @extschema@.loyalty_tiers.threshold IS 'Qualifying metric the tier needs (in the unit of qualify_on); 0 for an entry tier every member holds.';
COMMENT ON COLUMN @extschema@.loyalty_tiers.earn_rate IS 'Points per currency unit of a purchase (crm.award_transaction_points).';
COMMENT ON COLUMN @extschema@.loyalty_tiers.benefits IS 'Benefits of the tier, free-form JSON for the retailer''s systems.';

CREATE FUNCTION @extschema@.loyalty_tiers_check_row()
RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	IF NOT (NEW.tier_rank BETWEEN 1 AND 100) THEN
		PERFORM @extschema@.config_error(format('tier_rank must be between 1 and 100, not %s', NEW.tier_rank),
			'Rank 1 is the entry tier, higher ranks are better tiers.');
	END IF;
	IF btrim(NEW.tier_name) = '' THEN
		PERFORM @extschema@.config_error('tier_name must not be empty', 'Name the tier, e.g. ''Gold''.');
	END IF;
	IF NEW.threshold IN ('NaN', 'Infinity', '-Infinity') OR NEW.threshold < 0 THEN
		PERFORM @extschema@.config_error(
			format('threshold of tier %s must be a finite number zero or more, not %s', NEW.tier_name, NEW.threshold),
			'The threshold is the net spend, visits or points the tier needs.');
	END IF;
	IF NEW.earn_rate IN ('NaN', 'Infinity', '-Infinity') OR NEW.earn_rate < 0 THEN
		PERFORM @extschema@.config_error(
			format('earn_rate of tier %s must be a finite number zero or more, not %s', NEW.tier_name, NEW.earn_rate),
			'The earn rate is points per currency unit, e.g. 1.5.');
	END IF;
	RETURN NEW;
END
$$;
COMMENT ON FUNCTION @extschema@.loyalty_tiers_check_row() IS 'Trigger: validates one row of crm.loyalty_tiers.';

-- Per statement, so that a program's tiers are checked as a whole.
CREATE FUNCTION @extschema@.loyalty_tiers_check_program()
RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	program record;
	k integer;
BEGIN
	FOR program IN
		SELECT t.program_id, array_agg(t.tier_rank ORDER BY t.tier_rank) AS ranks,
			   array_agg(t.threshold::float8 ORDER BY t.tier_rank) AS thresholds
		FROM @extschema@.loyalty_tiers AS t
		GROUP BY t.program_id
	LOOP
		IF program.ranks <> ARRAY(SELECT generate_series(1, cardinality(program.ranks))) THEN
			PERFORM @extschema@.config_error(
				format('tier ranks of program %s must run 1, 2, 3, ... without gaps, not %s', program.program_id, program.ranks),
				'Insert a program''s tiers in one statement or in rank order; delete from the top.');
		END IF;
		-- Compared as the review compares them (double precision).
		FOR k IN 2 .. cardinality(program.thresholds) LOOP
			IF program.thresholds[k] <= program.thresholds[k - 1] THEN
				PERFORM @extschema@.config_error(
					format('tier thresholds of program %s must increase with rank, but rank %s needs %s and rank %s needs %s',
						   program.program_id, k, program.thresholds[k], k - 1, program.thresholds[k - 1]),
					'Tiers must not overlap: each higher rank needs a strictly higher threshold.');
			END IF;
		END LOOP;
	END LOOP;
	RETURN NULL;
END
$$;
COMMENT ON FUNCTION @extschema@.loyalty_tiers_check_program() IS
	'Trigger: checks that every program''s tiers have ranks 1..n and strictly increasing thresholds.';

CREATE TRIGGER loyalty_tiers_check_row BEFORE INSERT OR UPDATE ON @extschema@.loyalty_tiers
	FOR EACH ROW EXECUTE FUNCTION @extschema@.loyalty_tiers_check_row();
CREATE TRIGGER loyalty_tiers_check_program AFTER INSERT OR UPDATE OR DELETE ON @extschema@.loyalty_tiers
	FOR EACH STATEMENT EXECUTE FUNCTION @extschema@.loyalty_tiers_check_program();

SELECT pg_catalog.pg_extension_config_dump('@extschema@.loyalty_programs', '');
SELECT pg_catalog.pg_extension_config_dump('@extschema@.loyalty_tiers', '');

-- The tier rule, in C -------------------------------------------------------

CREATE FUNCTION @extschema@.loyalty_tier(metric double precision, thresholds double precision[],
										 current_rank integer, is_review boolean, soft_landing boolean)
RETURNS integer
AS 'MODULE_PATHNAME', 'loyalty_tier'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION @extschema@.loyalty_tier(double precision, double precision[], integer, boolean, boolean) IS
	'Rank a member holds after an evaluation: the number of thresholds (one per rank, strictly increasing, finite, >= 0) the metric reaches, if that is at least current_rank (upgrades are immediate); otherwise current_rank, unless is_review: then the qualified rank, or current_rank - 1 with soft_landing. 0 = below every tier.';

-- Members and their qualification -------------------------------------------

CREATE TABLE @extschema@.loyalty_members (
	customer_id		bigint PRIMARY KEY,
	program_id		text NOT NULL REFERENCES @extschema@.loyalty_programs,
	enrolled_at		timestamptz NOT NULL,
	tier_rank		integer NOT NULL,
	tier_since		timestamptz NOT NULL
);
-- No foreign key to crm.customers: it would forbid TRUNCATE crm.customers,
-- which reloads use; crm.enrol_member() checks the customer instead.
COMMENT ON TABLE @extschema@.loyalty_members IS 'Members of a loyalty program and the tier they hold. Enrol with crm.enrol_member().';
COMMENT ON COLUMN @extschema@.loyalty_members.customer_id IS 'The member (crm.customers).';
COMMENT ON COLUMN @extschema@.loyalty_members.program_id IS 'The program the member belongs to.';
COMMENT ON COLUMN @extschema@.loyalty_members.enrolled_at IS 'When the member joined; starts the anniversary years.';
COMMENT ON COLUMN @extschema@.loyalty_members.tier_rank IS 'Rank of the tier held; 0 = below every tier.';
COMMENT ON COLUMN @extschema@.loyalty_members.tier_since IS 'When the member reached the tier held (as_of of that review, or enrolment).';
CREATE INDEX loyalty_members_program_idx ON @extschema@.loyalty_members (program_id, tier_rank);

-- Start of the current qualification period and of the previous one, in
-- UTC; both equal when the window has no previous period.
CREATE FUNCTION @extschema@.loyalty_period(qualification_window text, enrolled_at timestamptz, as_of timestamptz,
										   OUT period_start timestamptz, OUT previous_start timestamptz)
LANGUAGE plpgsql IMMUTABLE STRICT PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	as_of_utc timestamp := as_of AT TIME ZONE 'UTC';
	enrolled_utc timestamp := enrolled_at AT TIME ZONE 'UTC';
	start_utc timestamp;
BEGIN
	CASE qualification_window
	WHEN 'lifetime' THEN
		period_start := '-infinity';
		previous_start := '-infinity';
		RETURN;
	WHEN 'rolling_12_months' THEN
		period_start := (as_of_utc - interval '12 months') AT TIME ZONE 'UTC';
		previous_start := period_start;
		RETURN;
	WHEN 'calendar_year' THEN
		start_utc := date_trunc('year', as_of_utc);
	WHEN 'anniversary_year' THEN
		start_utc := enrolled_utc + extract(year FROM age(as_of_utc, enrolled_utc))::integer * interval '1 year';
	ELSE
		PERFORM @extschema@.config_error(
			format('qualification_window must be calendar_year, anniversary_year, rolling_12_months or lifetime, not %L',
				   @extschema@.message_excerpt(qualification_window)),
			'The window is the period whose metric qualifies a member for a tier.');
	END CASE;
	period_start := start_utc AT TIME ZONE 'UTC';
	previous_start := (start_utc - interval '1 year') AT TIME ZONE 'UTC';
END
$$;
COMMENT ON FUNCTION @extschema@.loyalty_period(text, timestamptz, timestamptz) IS
	'Start of the current and of the previous qualification period of a window as of a time (UTC); for rolling_12_months and lifetime both are the window start. Immutable: computed in UTC, whatever the session time zone.';

-- Points ledger --------------------------------------------------------------

-- One row per member: the lock every movement of the member takes, and the
-- ledger total, which a constraint keeps from going negative.
CREATE TABLE @extschema@.points_accounts (
	customer_id		bigint PRIMARY KEY REFERENCES @extschema@.loyalty_members,
	ledger_total	bigint NOT NULL DEFAULT 0 CONSTRAINT points_accounts_never_negative CHECK (ledger_total >= 0),
	updated_at		timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE @extschema@.points_accounts IS
	'One row per member: every points movement locks it first, so the movements of one member are serialised; ledger_total is kept equal to the sum of the member''s ledger.';
COMMENT ON COLUMN @extschema@.points_accounts.customer_id IS 'The member.';
COMMENT ON COLUMN @extschema@.points_accounts.ledger_total IS 'Sum of the member''s ledger: available, pending and lapsed points not yet swept; never negative.';
COMMENT ON COLUMN @extschema@.points_accounts.updated_at IS 'Time of the last movement.';

CREATE TABLE @extschema@.points_ledger (
	movement_id			bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	customer_id			bigint NOT NULL REFERENCES @extschema@.points_accounts,
	kind				text NOT NULL CONSTRAINT points_ledger_kind_known
		CHECK (kind IN ('earn', 'redeem', 'expire', 'adjust', 'clawback', 'transfer_in', 'transfer_out')),
	points				bigint NOT NULL,
	requested			bigint,
	idempotency_key		text NOT NULL,
	created_at			timestamptz NOT NULL DEFAULT now(),
	available_at		timestamptz,
	expires_at			timestamptz,
	related_movement_id	bigint REFERENCES @extschema@.points_ledger,
	CONSTRAINT points_ledger_sign CHECK (CASE WHEN kind IN ('earn', 'transfer_in') THEN points > 0
											 WHEN kind = 'adjust' THEN points <> 0
											 WHEN kind = 'clawback' THEN points <= 0
											 ELSE points < 0 END),
	CONSTRAINT points_ledger_lot CHECK ((points > 0) = (available_at IS NOT NULL AND expires_at IS NOT NULL)),
	CONSTRAINT points_ledger_idempotent UNIQUE (kind, idempotency_key)
);
COMMENT ON TABLE @extschema@.points_ledger IS
	'Append-only points ledger: one row per movement. Rows with positive points are lots (earned or added points with an expiry); crm.points_allocations records which lots each spending movement consumed.';
COMMENT ON COLUMN @extschema@.points_ledger.movement_id IS 'Movement number, increasing in commit order per member.';
COMMENT ON COLUMN @extschema@.points_ledger.customer_id IS 'The member.';
COMMENT ON COLUMN @extschema@.points_ledger.kind IS 'earn, redeem, expire (sweep of a lapsed lot''s remainder), adjust (either sign), clawback (return), or transfer_out and transfer_in (a lot moved by crm.merge_customers).';
COMMENT ON COLUMN @extschema@.points_ledger.points IS 'Signed change of the member''s points: positive for lots, negative for spending; 0 for a clawback that found nothing to take.';
COMMENT ON COLUMN @extschema@.points_ledger.requested IS 'Points the caller asked for (a clawback may take less: what the member still had); NULL for expire rows.';
COMMENT ON COLUMN @extschema@.points_ledger.idempotency_key IS 'Key of the source event, unique per kind: a replay returns this row. Expire rows use lot:<lot_id>.';
COMMENT ON COLUMN @extschema@.points_ledger.created_at IS 'When the movement was written (transaction time).';
COMMENT ON COLUMN @extschema@.points_ledger.available_at IS 'Lots: from when the points can be spent (pending before).';
COMMENT ON COLUMN @extschema@.points_ledger.expires_at IS 'Lots: when the remaining points lapse; infinity when they never do.';
COMMENT ON COLUMN @extschema@.points_ledger.related_movement_id IS 'Expire and transfer rows: the lot swept or moved; clawbacks: the earn of the returned purchase, if known.';
CREATE INDEX points_ledger_customer_idx ON @extschema@.points_ledger (customer_id, movement_id);
CREATE INDEX points_ledger_lot_expiry_idx ON @extschema@.points_ledger (expires_at) WHERE points > 0;

CREATE TABLE @extschema@.points_allocations (
	movement_id		bigint NOT NULL REFERENCES @extschema@.points_ledger,
	lot_id			bigint NOT NULL REFERENCES @extschema@.points_ledger,
	points			bigint NOT NULL CONSTRAINT points_allocations_positive CHECK (points > 0),
	PRIMARY KEY (movement_id, lot_id)
);
COMMENT ON TABLE @extschema@.points_allocations IS
	'Append-only: which lots a spending movement (redeem, expire, negative adjust, clawback) consumed, and how many points of each.';
COMMENT ON COLUMN @extschema@.points_allocations.movement_id IS 'The spending movement.';
COMMENT ON COLUMN @extschema@.points_allocations.lot_id IS 'The lot consumed (movement_id of an earn or positive adjust).';
COMMENT ON COLUMN @extschema@.points_allocations.points IS 'Points taken from the lot.';
CREATE INDEX points_allocations_lot_idx ON @extschema@.points_allocations (lot_id) INCLUDE (points);

CREATE TABLE @extschema@.points_adjustment_reasons (
	movement_id		bigint PRIMARY KEY REFERENCES @extschema@.points_ledger,
	customer_id		bigint NOT NULL,
	reason			text NOT NULL
);
COMMENT ON TABLE @extschema@.points_adjustment_reasons IS
	'Why an adjustment was made, as typed by staff. Free text, so it may hold personal data: not readable by analysts.';
COMMENT ON COLUMN @extschema@.points_adjustment_reasons.movement_id IS 'The adjust movement.';
COMMENT ON COLUMN @extschema@.points_adjustment_reasons.customer_id IS 'Member the adjustment belongs to, so that crm.forget_customer finds the reason.';
COMMENT ON COLUMN @extschema@.points_adjustment_reasons.reason IS 'Personal data: free text typed by staff, which may name or describe the customer; emptied by crm.forget_customer.';

CREATE FUNCTION @extschema@.points_append_only()
RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	RAISE EXCEPTION USING ERRCODE = 'feature_not_supported',
		MESSAGE = format('%s is append-only: %s is not allowed', TG_TABLE_NAME, lower(TG_OP)),
		HINT = 'Correct a movement with a new one: crm.adjust_points() or crm.claw_back_points().';
END
$$;
COMMENT ON FUNCTION @extschema@.points_append_only() IS 'Trigger: refuses UPDATE, DELETE and TRUNCATE on the points ledger and its allocations.';

CREATE TRIGGER points_ledger_append_only BEFORE UPDATE OR DELETE ON @extschema@.points_ledger
	FOR EACH ROW EXECUTE FUNCTION @extschema@.points_append_only();
CREATE TRIGGER points_ledger_no_truncate BEFORE TRUNCATE ON @extschema@.points_ledger
	FOR EACH STATEMENT EXECUTE FUNCTION @extschema@.points_append_only();
CREATE TRIGGER points_allocations_append_only BEFORE UPDATE OR DELETE ON @extschema@.points_allocations
	FOR EACH ROW EXECUTE FUNCTION @extschema@.points_append_only();
CREATE TRIGGER points_allocations_no_truncate BEFORE TRUNCATE ON @extschema@.points_allocations
	FOR EACH STATEMENT EXECUTE FUNCTION @extschema@.points_append_only();

-- Lots with what is left of them.  Status as of now(): a lapsed lot keeps
-- its remainder until the expiry sweep writes it off, but cannot be spent.
CREATE VIEW @extschema@.points_lots AS
SELECT l.movement_id AS lot_id, l.customer_id, l.kind, l.points,
	   coalesce(c.consumed, 0) AS consumed,
	   l.points - coalesce(c.consumed, 0) AS remaining,
	   l.created_at, l.available_at, l.expires_at,
	   CASE WHEN l.points = coalesce(c.consumed, 0) THEN 'closed'
			WHEN l.expires_at <= now() THEN 'lapsed'
			WHEN l.available_at > now() THEN 'pending'
			ELSE 'available' END AS status
FROM @extschema@.points_ledger AS l
LEFT JOIN LATERAL (SELECT sum(a.points)::bigint AS consumed
				   FROM @extschema@.points_allocations AS a
				   WHERE a.lot_id = l.movement_id) AS c ON true
WHERE l.points > 0;
COMMENT ON VIEW @extschema@.points_lots IS 'Every lot (earned or added points) with what is left of it and its status now.';
COMMENT ON COLUMN @extschema@.points_lots.lot_id IS 'movement_id of the lot in crm.points_ledger.';
COMMENT ON COLUMN @extschema@.points_lots.customer_id IS 'The member.';
COMMENT ON COLUMN @extschema@.points_lots.kind IS 'earn, adjust or transfer_in.';
COMMENT ON COLUMN @extschema@.points_lots.points IS 'Points of the lot.';
COMMENT ON COLUMN @extschema@.points_lots.consumed IS 'Points taken from it by redemptions, adjustments, clawbacks and the expiry sweep.';
COMMENT ON COLUMN @extschema@.points_lots.remaining IS 'points - consumed.';
COMMENT ON COLUMN @extschema@.points_lots.created_at IS 'When the lot was written.';
COMMENT ON COLUMN @extschema@.points_lots.available_at IS 'From when it can be spent.';
COMMENT ON COLUMN @extschema@.points_lots.expires_at IS 'When its remainder lapses.';
COMMENT ON COLUMN @extschema@.points_lots.status IS 'closed (nothing left), lapsed (expired, remainder not yet swept), pending or available.';

CREATE FUNCTION @extschema@.points_balance(customer_id bigint)
RETURNS bigint
LANGUAGE sql STABLE STRICT PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
RETURN (SELECT coalesce(sum(lot.remaining), 0)::bigint
		FROM @extschema@.points_lots AS lot
		WHERE lot.customer_id = points_balance.customer_id AND lot.remaining > 0
		  AND lot.available_at <= now() AND lot.expires_at > now());
COMMENT ON FUNCTION @extschema@.points_balance(bigint) IS
	'Points the member can spend now: what is left of available, unexpired lots (pending and lapsed points excluded). 0 for a customer without points. Stable because it reads the ledger.';

-- Locks the member's account for the rest of the transaction and returns
-- the member's program; CRM03 for a customer who is not a member.
CREATE FUNCTION @extschema@.points_lock_account(customer bigint)
RETURNS text
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	program text;
	survivor bigint;
BEGIN
	SELECT m.program_id INTO program
	FROM @extschema@.points_accounts AS a
	JOIN @extschema@.loyalty_members AS m ON m.customer_id = a.customer_id
	WHERE a.customer_id = customer
	FOR UPDATE OF a;
	IF FOUND THEN
		SELECT m.keep_id INTO survivor FROM @extschema@.customer_merges AS m WHERE m.merge_id = customer;
		IF FOUND THEN
			RAISE EXCEPTION USING ERRCODE = 'CRM04',
				MESSAGE = format('customer %s was merged into customer %s', customer, survivor),
				HINT = format('Points follow the merge: use customer %s.', survivor);
		END IF;
	ELSE
		RAISE EXCEPTION USING ERRCODE = 'CRM03',
			MESSAGE = format('customer %s is not a loyalty member', customer),
			HINT = 'Enrol the customer first: SELECT crm.enrol_member(customer_id, program_id);';
	END IF;
	RETURN program;
END
$$;
COMMENT ON FUNCTION @extschema@.points_lock_account(bigint) IS
	'Internal: locks the member''s crm.points_accounts row (serialising the member''s movements) and returns the program; SQLSTATE CRM03 when the customer is not a member, CRM04 when it was merged into another.';

-- The movement an idempotency key already wrote, checked against the
-- arguments of the replay; NULL when the key is new.
CREATE FUNCTION @extschema@.points_replay(movement_kind text, key text, customer bigint, asked bigint)
RETURNS @extschema@.points_ledger
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	movement @extschema@.points_ledger;
BEGIN
	SELECT * INTO movement FROM @extschema@.points_ledger AS l
	WHERE l.kind = movement_kind AND l.idempotency_key = key;
	IF NOT FOUND THEN
		RETURN NULL;
	END IF;
	IF movement.customer_id <> customer OR movement.requested <> asked THEN
		RAISE EXCEPTION USING ERRCODE = 'CRM02',
			MESSAGE = format('idempotency key %L of %s was used for customer %s and %s points, not for customer %s and %s points',
							 @extschema@.message_excerpt(key), movement_kind, movement.customer_id, movement.requested, customer, asked),
			HINT = 'Each source event needs its own key; a replay must repeat the original arguments.';
	END IF;
	RETURN movement;
END
$$;
COMMENT ON FUNCTION @extschema@.points_replay(text, text, bigint, bigint) IS
	'Internal: the movement written earlier under (kind, key), or NULL; SQLSTATE CRM02 when it was written with another customer or points. Stable because it reads the ledger.';

-- Checks the arguments every movement from outside has.
CREATE FUNCTION @extschema@.points_check_arguments(customer bigint, points bigint, key text)
RETURNS void
LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	IF customer IS NULL OR points IS NULL OR key IS NULL THEN
		RAISE EXCEPTION USING ERRCODE = 'null_value_not_allowed',
			MESSAGE = 'customer_id, points and idempotency_key must not be NULL',
			HINT = 'Every points movement names the member, the points and the key of its source event.';
	END IF;
	IF btrim(key) = '' THEN
		RAISE EXCEPTION USING ERRCODE = 'invalid_parameter_value',
			MESSAGE = 'idempotency_key must not be empty',
			HINT = 'Use the id of the source event, e.g. the order number.';
	END IF;
	IF abs(points) > 1000000000000 THEN
		RAISE EXCEPTION USING ERRCODE = 'numeric_value_out_of_range',
			MESSAGE = format('points must be at most 1000000000000 in size, not %s', points),
			HINT = 'Points are whole units; check the scale of the source amount.';
	END IF;
END
$$;
COMMENT ON FUNCTION @extschema@.points_check_arguments(bigint, bigint, text) IS
	'Internal: 22004 for a NULL member, points or key, 22023 for an empty key, 22003 beyond 10^12 points.';

-- Takes up to "wanted" points from the member's spendable lots, first_lot
-- first (a clawback may take from it while it is still pending), then the
-- oldest-expiring; records the allocations and returns the points taken.
CREATE FUNCTION @extschema@.points_consume(movement bigint, customer bigint, wanted bigint, first_lot bigint)
RETURNS bigint
LANGUAGE sql VOLATILE
SET search_path = pg_catalog, pg_temp
BEGIN ATOMIC
	WITH taken AS (
		INSERT INTO @extschema@.points_allocations (movement_id, lot_id, points)
		SELECT movement, s.lot_id, least(s.remaining, wanted - (s.running - s.remaining))
		FROM (SELECT lot.lot_id, lot.remaining,
					 sum(lot.remaining) OVER (ORDER BY lot.lot_id IS NOT DISTINCT FROM first_lot DESC,
											  lot.expires_at, lot.lot_id) AS running
			  FROM @extschema@.points_lots AS lot
			  WHERE lot.customer_id = customer AND lot.remaining > 0 AND lot.expires_at > now()
				AND (lot.available_at <= now() OR lot.lot_id IS NOT DISTINCT FROM first_lot)) AS s
		WHERE s.running - s.remaining < wanted
		RETURNING points
	)
	SELECT coalesce(sum(taken.points), 0)::bigint FROM taken;
END;
COMMENT ON FUNCTION @extschema@.points_consume(bigint, bigint, bigint, bigint) IS
	'Internal: allocates up to wanted points of the member''s spendable lots to a movement (first_lot first, even if pending, then the oldest-expiring) and returns the points taken. Call with the account locked.';

-- Writes one movement and keeps the account total.
CREATE FUNCTION @extschema@.points_write(customer bigint, movement_kind text, points bigint, asked bigint, key text,
										 available_at timestamptz, expires_at timestamptz, related bigint)
RETURNS @extschema@.points_ledger
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	movement @extschema@.points_ledger;
BEGIN
	INSERT INTO @extschema@.points_ledger AS l
		(customer_id, kind, points, requested, idempotency_key, available_at, expires_at, related_movement_id)
	VALUES (customer, movement_kind, points, asked, key, available_at, expires_at, related)
	ON CONFLICT (kind, idempotency_key) DO NOTHING
	RETURNING l.* INTO movement;
	IF movement.movement_id IS NULL THEN
		-- Same key written meanwhile by another member's transaction.
		movement := @extschema@.points_replay(movement_kind, key, customer, asked);
		IF movement.movement_id IS NULL THEN
			RAISE EXCEPTION USING ERRCODE = 'serialization_failure',
				MESSAGE = format('idempotency key %L of %s is being written by a concurrent transaction', @extschema@.message_excerpt(key), movement_kind),
				HINT = 'Retry the call.';
		END IF;
		RETURN movement;
	END IF;
	UPDATE @extschema@.points_accounts AS a
	SET ledger_total = a.ledger_total + points, updated_at = now()
	WHERE a.customer_id = customer;
	RETURN movement;
END
$$;
COMMENT ON FUNCTION @extschema@.points_write(bigint, text, bigint, bigint, text, timestamptz, timestamptz, bigint) IS
	'Internal: appends one movement (or returns the one its key already wrote) and adds it to the account total. Call with the account locked.';

-- Adds a lot (earn, or a positive adjust) to a member.
CREATE FUNCTION @extschema@.points_add_lot(customer bigint, movement_kind text, points bigint, key text,
										   expires_at timestamptz, available_at timestamptz)
RETURNS @extschema@.points_ledger
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	program text;
	movement @extschema@.points_ledger;
	lot_expires timestamptz := expires_at;
	lot_available timestamptz := coalesce(available_at, now());
BEGIN
	PERFORM @extschema@.points_check_arguments(customer, points, key);
	IF points <= 0 THEN
		RAISE EXCEPTION USING ERRCODE = 'invalid_parameter_value',
			MESSAGE = format('points to %s must be positive, not %s', movement_kind, points),
			HINT = 'Take points back with crm.claw_back_points() or crm.adjust_points() with negative points.';
	END IF;
	program := @extschema@.points_lock_account(customer);
	movement := @extschema@.points_replay(movement_kind, key, customer, points);
	IF movement.movement_id IS NOT NULL THEN
		RETURN movement;
	END IF;
	IF lot_expires IS NULL THEN
		SELECT coalesce(now() + p.points_validity, 'infinity') INTO lot_expires
		FROM @extschema@.loyalty_programs AS p WHERE p.program_id = program;
	END IF;
	IF NOT (lot_expires > now()) THEN
		RAISE EXCEPTION USING ERRCODE = 'invalid_parameter_value',
			MESSAGE = format('expires_at must be in the future, not %s', lot_expires),
			HINT = 'Omit expires_at for the program''s points_validity.';
	END IF;
	IF NOT (lot_expires > lot_available) THEN
		RAISE EXCEPTION USING ERRCODE = 'invalid_parameter_value',
			MESSAGE = format('expires_at (%s) must be later than available_at (%s)', lot_expires, lot_available),
			HINT = 'Points must be spendable for a while before they lapse.';
	END IF;
	RETURN @extschema@.points_write(customer, movement_kind, points, points, key, lot_available, lot_expires, NULL);
END
$$;
COMMENT ON FUNCTION @extschema@.points_add_lot(bigint, text, bigint, text, timestamptz, timestamptz) IS
	'Internal: writes a lot of kind earn or adjust for crm.earn_points() and crm.adjust_points().';

-- Spends points of a member (redeem, or a negative adjust): CRM01 when
-- fewer are available.
CREATE FUNCTION @extschema@.points_spend(customer bigint, movement_kind text, points bigint, asked bigint, key text)
RETURNS @extschema@.points_ledger
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	movement @extschema@.points_ledger;
	balance bigint;
BEGIN
	PERFORM @extschema@.points_lock_account(customer);
	movement := @extschema@.points_replay(movement_kind, key, customer, asked);
	IF movement.movement_id IS NOT NULL THEN
		RETURN movement;
	END IF;
	balance := @extschema@.points_balance(customer);
	IF balance < points THEN
		RAISE EXCEPTION USING ERRCODE = 'CRM01',
			MESSAGE = format('insufficient points: customer %s has %s available, not %s', customer, balance, points),
			HINT = 'Nothing was written. Pending points (return window) and lapsed points cannot be spent.';
	END IF;
	movement := @extschema@.points_write(customer, movement_kind, -points, asked, key, NULL, NULL, NULL);
	PERFORM @extschema@.points_consume(movement.movement_id, customer, points, NULL);
	RETURN movement;
END
$$;
COMMENT ON FUNCTION @extschema@.points_spend(bigint, text, bigint, bigint, text) IS
	'Internal: writes a redeem or negative adjust movement and takes its points from the oldest-expiring available lots; SQLSTATE CRM01 when fewer are available.';

CREATE FUNCTION @extschema@.earn_points(customer_id bigint, points bigint, idempotency_key text,
										expires_at timestamptz DEFAULT NULL, available_at timestamptz DEFAULT NULL)
RETURNS @extschema@.points_ledger
LANGUAGE sql VOLATILE
SET search_path = pg_catalog, pg_temp
RETURN @extschema@.points_add_lot(customer_id, 'earn', points, idempotency_key, expires_at, available_at);
COMMENT ON FUNCTION @extschema@.earn_points(bigint, bigint, text, timestamptz, timestamptz) IS
	'Adds a lot of points (> 0) to a member: spendable from available_at (default now; later = pending), lapsing at expires_at (default now + the program''s points_validity; never when that is NULL). Returns the movement. A replay of the idempotency key returns the original movement and writes nothing; CRM02 when its arguments differ, CRM03 for a non-member.';

CREATE FUNCTION @extschema@.redeem_points(customer_id bigint, points bigint, idempotency_key text)
RETURNS @extschema@.points_ledger
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	PERFORM @extschema@.points_check_arguments(customer_id, points, idempotency_key);
	IF points <= 0 THEN
		RAISE EXCEPTION USING ERRCODE = 'invalid_parameter_value',
			MESSAGE = format('points to redeem must be positive, not %s', points),
			HINT = 'Give the points the member spends.';
	END IF;
	RETURN @extschema@.points_spend(customer_id, 'redeem', points, points, idempotency_key);
END
$$;
COMMENT ON FUNCTION @extschema@.redeem_points(bigint, bigint, text) IS
	'Spends points (> 0) of a member, oldest-expiring lots first, and returns the movement. SQLSTATE CRM01 (insufficient points) when fewer are available: nothing is written. A replay of the idempotency key returns the original movement; CRM02 when its arguments differ, CRM03 for a non-member.';

CREATE FUNCTION @extschema@.adjust_points(customer_id bigint, points bigint, idempotency_key text, reason text,
										  expires_at timestamptz DEFAULT NULL)
RETURNS @extschema@.points_ledger
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	movement @extschema@.points_ledger;
BEGIN
	PERFORM @extschema@.points_check_arguments(customer_id, points, idempotency_key);
	IF points = 0 OR reason IS NULL OR btrim(reason) = '' THEN
		RAISE EXCEPTION USING ERRCODE = 'invalid_parameter_value',
			MESSAGE = format('an adjustment needs non-zero points and a reason, not %s points and reason %L', points, @extschema@.message_excerpt(reason)),
			HINT = 'Positive points add a lot, negative points take from the oldest-expiring lots.';
	END IF;
	IF points > 0 THEN
		movement := @extschema@.points_add_lot(customer_id, 'adjust', points, idempotency_key, expires_at, NULL);
	ELSE
		movement := @extschema@.points_spend(customer_id, 'adjust', -points, points, idempotency_key);
	END IF;
	INSERT INTO @extschema@.points_adjustment_reasons AS r (movement_id, customer_id, reason)
	VALUES (movement.movement_id, adjust_points.customer_id, adjust_points.reason)
	ON CONFLICT (movement_id) DO NOTHING;
	RETURN movement;
END
$$;
COMMENT ON FUNCTION @extschema@.adjust_points(bigint, bigint, text, text, timestamptz) IS
	'Corrects a member''s points: positive points add a lot (expires_at as in crm.earn_points), negative points are taken from the oldest-expiring lots (CRM01 when short). reason is required and kept in crm.points_adjustment_reasons. Idempotent by key like crm.earn_points.';

CREATE FUNCTION @extschema@.claw_back_points(customer_id bigint, points bigint, idempotency_key text,
											 earn_key text DEFAULT NULL)
RETURNS @extschema@.points_ledger
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	movement @extschema@.points_ledger;
	earned bigint;
	takeable bigint;
BEGIN
	PERFORM @extschema@.points_check_arguments(customer_id, points, idempotency_key);
	IF points <= 0 THEN
		RAISE EXCEPTION USING ERRCODE = 'invalid_parameter_value',
			MESSAGE = format('points to claw back must be positive, not %s', points),
			HINT = 'Give the points the returned purchase earned.';
	END IF;
	PERFORM @extschema@.points_lock_account(customer_id);
	movement := @extschema@.points_replay('clawback', idempotency_key, customer_id, points);
	IF movement.movement_id IS NOT NULL THEN
		RETURN movement;
	END IF;
	IF earn_key IS NOT NULL THEN
		SELECT l.movement_id INTO earned FROM @extschema@.points_ledger AS l
		WHERE l.kind = 'earn' AND l.idempotency_key = earn_key AND l.customer_id = claw_back_points.customer_id;
		IF NOT FOUND THEN
			RAISE EXCEPTION USING ERRCODE = 'invalid_parameter_value',
				MESSAGE = format('customer %s has no earn movement with idempotency key %L', customer_id, @extschema@.message_excerpt(earn_key)),
				HINT = 'earn_key is the idempotency key of the earn the returned purchase made; omit it when unknown.';
		END IF;
	END IF;
	-- What the earn's lot (even pending) and the available lots still hold:
	-- the balance never goes negative, so a clawback takes at most that.
	SELECT least(claw_back_points.points, coalesce(sum(lot.remaining), 0))::bigint INTO takeable
	FROM @extschema@.points_lots AS lot
	WHERE lot.customer_id = claw_back_points.customer_id AND lot.remaining > 0 AND lot.expires_at > now()
	  AND (lot.available_at <= now() OR lot.lot_id IS NOT DISTINCT FROM earned);
	movement := @extschema@.points_write(customer_id, 'clawback', -takeable, points, idempotency_key, NULL, NULL, earned);
	PERFORM @extschema@.points_consume(movement.movement_id, customer_id, takeable, earned);
	RETURN movement;
END
$$;
COMMENT ON FUNCTION @extschema@.claw_back_points(bigint, bigint, text, text) IS
	'Takes back points (> 0) of a returned purchase: first from the lot of the earn with idempotency key earn_key (also while pending), then from the oldest-expiring available lots, but never more than the member has (requested minus points is the shortfall). Idempotent by key; CRM03 for a non-member.';

-- Points for one purchase or return of crm.transactions, at the earn rate
-- of the member's tier; NULL (nothing written) when that is 0 points.
CREATE FUNCTION @extschema@.award_transaction_points(transaction_id text)
RETURNS @extschema@.points_ledger
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	sale record;
	points bigint;
BEGIN
	SELECT t.customer_id, t.occurred_at, t.amount, coalesce(tier.earn_rate, 0) AS earn_rate, p.return_window
	INTO sale
	FROM @extschema@.transactions AS t
	LEFT JOIN @extschema@.loyalty_members AS m ON m.customer_id = t.customer_id
	LEFT JOIN @extschema@.loyalty_programs AS p ON p.program_id = m.program_id
	LEFT JOIN @extschema@.loyalty_tiers AS tier ON tier.program_id = m.program_id AND tier.tier_rank = m.tier_rank
	WHERE t.transaction_id = award_transaction_points.transaction_id;
	IF NOT FOUND THEN
		RAISE EXCEPTION USING ERRCODE = 'no_data_found',
			MESSAGE = format('transaction %L does not exist', @extschema@.message_excerpt(transaction_id)),
			HINT = 'Load the order into crm.transactions first.';
	END IF;
	points := floor(abs(sale.amount) * sale.earn_rate);
	IF points = 0 OR sale.customer_id IS NULL THEN
		RETURN NULL;
	END IF;
	IF sale.amount > 0 THEN
		RETURN @extschema@.points_add_lot(sale.customer_id, 'earn', points, 'transaction:' || transaction_id,
										  NULL, greatest(now(), sale.occurred_at + sale.return_window));
	END IF;
	RETURN @extschema@.claw_back_points(sale.customer_id, points, 'transaction:' || transaction_id);
END
$$;
COMMENT ON FUNCTION @extschema@.award_transaction_points(text) IS
	'Points for a crm.transactions row at the earn rate of the member''s tier (floor of |amount| x rate): a purchase earns a lot pending until occurred_at + the program''s return_window, a return claws the points back. Idempotency key transaction:<transaction_id>, so replays award once. NULL when that makes 0 points or the sale is anonymous; CRM03 when the buyer is not a member.';

CREATE FUNCTION @extschema@.enrol_member(customer_id bigint, program_id text, enrolled_at timestamptz DEFAULT now())
RETURNS boolean
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	current_program text;
BEGIN
	IF customer_id IS NULL OR program_id IS NULL OR enrolled_at IS NULL THEN
		RAISE EXCEPTION USING ERRCODE = 'null_value_not_allowed',
			MESSAGE = 'customer_id, program_id and enrolled_at must not be NULL',
			HINT = 'Name the customer (crm.customers) and the program (crm.loyalty_programs).';
	END IF;
	IF enrolled_at IN ('infinity', '-infinity') THEN
		RAISE EXCEPTION USING ERRCODE = 'invalid_parameter_value',
			MESSAGE = format('enrolled_at must be a finite time, not %s', enrolled_at),
			HINT = 'Omit it to enrol now.';
	END IF;
	IF NOT EXISTS (SELECT 1 FROM @extschema@.customers AS c WHERE c.customer_id = enrol_member.customer_id) THEN
		RAISE EXCEPTION USING ERRCODE = 'foreign_key_violation',
			MESSAGE = format('customer %s does not exist', customer_id),
			HINT = 'Load the customer into crm.customers first.';
	END IF;
	SELECT m.program_id INTO current_program FROM @extschema@.loyalty_members AS m
	WHERE m.customer_id = enrol_member.customer_id;
	IF FOUND THEN
		IF current_program <> enrol_member.program_id THEN
			RAISE EXCEPTION USING ERRCODE = 'invalid_parameter_value',
				MESSAGE = format('customer %s is already a member of program %s', customer_id, current_program),
				HINT = 'A customer belongs to one program.';
		END IF;
		RETURN false;
	END IF;
	-- The entry tier (threshold 0) is held from enrolment.
	INSERT INTO @extschema@.loyalty_members AS m (customer_id, program_id, enrolled_at, tier_rank, tier_since)
	SELECT enrol_member.customer_id, enrol_member.program_id, enrol_member.enrolled_at,
		   (SELECT count(*) FROM @extschema@.loyalty_tiers AS t
			WHERE t.program_id = enrol_member.program_id AND t.threshold <= 0),
		   enrol_member.enrolled_at
	ON CONFLICT ON CONSTRAINT loyalty_members_pkey DO NOTHING;
	IF NOT FOUND THEN
		RETURN false;
	END IF;
	INSERT INTO @extschema@.points_accounts (customer_id) VALUES (enrol_member.customer_id);
	RETURN true;
END
$$;
COMMENT ON FUNCTION @extschema@.enrol_member(bigint, text, timestamptz) IS
	'Makes a customer a member of a program (with its entry tier when that needs 0) and opens the points account. true when enrolled now, false when already a member of that program; 22023 when a member of another.';

-- Qualifying metric of one member: the better of the current and the
-- previous period (status earned in a period lasts through the next one).
CREATE FUNCTION @extschema@.loyalty_metric(customer bigint, qualify_on text,
										   period_start timestamptz, previous_start timestamptz, as_of timestamptz)
RETURNS numeric
LANGUAGE sql STABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
RETURN CASE qualify_on
	WHEN 'net_spend' THEN
		(SELECT greatest(coalesce(sum(t.amount) FILTER (WHERE t.occurred_at >= period_start), 0),
						 coalesce(sum(t.amount) FILTER (WHERE t.occurred_at < period_start), 0))
		 FROM @extschema@.transactions AS t
		 WHERE t.customer_id = customer AND t.occurred_at >= previous_start AND t.occurred_at <= as_of)
	WHEN 'visits' THEN
		(SELECT greatest(count(DISTINCT (t.occurred_at AT TIME ZONE 'UTC')::date) FILTER (WHERE t.occurred_at >= period_start),
						 count(DISTINCT (t.occurred_at AT TIME ZONE 'UTC')::date) FILTER (WHERE t.occurred_at < period_start))
		 FROM @extschema@.transactions AS t
		 WHERE t.customer_id = customer AND t.amount > 0
		   AND t.occurred_at >= previous_start AND t.occurred_at <= as_of)
	WHEN 'points' THEN
		(SELECT greatest(coalesce(sum(l.points) FILTER (WHERE l.created_at >= period_start), 0),
						 coalesce(sum(l.points) FILTER (WHERE l.created_at < period_start), 0))
		 FROM @extschema@.points_ledger AS l
		 WHERE l.customer_id IN (SELECT @extschema@.customer_ids_merged_into(customer)) AND l.kind IN ('earn', 'clawback')
		   AND l.created_at >= previous_start AND l.created_at <= as_of)
	END;
COMMENT ON FUNCTION @extschema@.loyalty_metric(bigint, text, timestamptz, timestamptz, timestamptz) IS
	'Qualifying metric of a member as of a time: net_spend (sum of amounts, returns included), visits (distinct UTC days with a purchase) or points (earned minus clawed back, by the member and by the customers merged into it), the better of [period_start, as_of] and [previous_start, period_start). Stable because it reads crm.transactions and the ledger.';

-- Tier review and expiry runs ------------------------------------------------

CREATE TABLE @extschema@.loyalty_runs (
	run_id			bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	job				text NOT NULL CONSTRAINT loyalty_runs_job_known CHECK (job IN ('tier_review', 'points_expiry')),
	program_id		text,
	as_of			timestamptz NOT NULL,
	review_at		timestamptz,
	members			bigint,
	upgrades		bigint,
	downgrades		bigint,
	lots_expired	bigint,
	points_expired	bigint,
	started_at		timestamptz NOT NULL DEFAULT clock_timestamp(),
	finished_at		timestamptz
);
COMMENT ON TABLE @extschema@.loyalty_runs IS
	'Log of the tier reviews (one row per program) and points expiry sweeps that committed; a failed run rolls back and shows in cron.job_run_details.';
COMMENT ON COLUMN @extschema@.loyalty_runs.run_id IS 'Run number.';
COMMENT ON COLUMN @extschema@.loyalty_runs.job IS 'tier_review or points_expiry.';
COMMENT ON COLUMN @extschema@.loyalty_runs.program_id IS 'Program reviewed; NULL for an expiry sweep (all members).';
COMMENT ON COLUMN @extschema@.loyalty_runs.as_of IS 'Time the run evaluated as of.';
COMMENT ON COLUMN @extschema@.loyalty_runs.review_at IS 'Review date this run applied (downgrades allowed); NULL when it only upgraded.';
COMMENT ON COLUMN @extschema@.loyalty_runs.members IS 'Members evaluated.';
COMMENT ON COLUMN @extschema@.loyalty_runs.upgrades IS 'Members moved up.';
COMMENT ON COLUMN @extschema@.loyalty_runs.downgrades IS 'Members moved down.';
COMMENT ON COLUMN @extschema@.loyalty_runs.lots_expired IS 'Lapsed lots whose remainder the sweep wrote off.';
COMMENT ON COLUMN @extschema@.loyalty_runs.points_expired IS 'Points the sweep wrote off.';
COMMENT ON COLUMN @extschema@.loyalty_runs.started_at IS 'Start of the run.';
COMMENT ON COLUMN @extschema@.loyalty_runs.finished_at IS 'End of the run.';

CREATE TABLE @extschema@.loyalty_tier_changes (
	run_id				bigint NOT NULL REFERENCES @extschema@.loyalty_runs,
	customer_id			bigint NOT NULL,
	from_rank			integer NOT NULL,
	to_rank				integer NOT NULL,
	qualifying_metric	numeric NOT NULL,
	PRIMARY KEY (run_id, customer_id)
);
COMMENT ON TABLE @extschema@.loyalty_tier_changes IS 'Every tier change a review made.';
COMMENT ON COLUMN @extschema@.loyalty_tier_changes.run_id IS 'The review (crm.loyalty_runs).';
COMMENT ON COLUMN @extschema@.loyalty_tier_changes.customer_id IS 'The member.';
COMMENT ON COLUMN @extschema@.loyalty_tier_changes.from_rank IS 'Rank before; 0 = no tier.';
COMMENT ON COLUMN @extschema@.loyalty_tier_changes.to_rank IS 'Rank after.';
COMMENT ON COLUMN @extschema@.loyalty_tier_changes.qualifying_metric IS 'The qualifying metric the review saw.';

-- Latest review date of a program at or before as_of (UTC midnight), NULL
-- before the first.
CREATE FUNCTION @extschema@.loyalty_review_date(review_anchor date, review_every interval, as_of timestamptz)
RETURNS timestamptz
LANGUAGE plpgsql IMMUTABLE STRICT PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	as_of_utc timestamp := as_of AT TIME ZONE 'UTC';
	review timestamp := review_anchor;
	step integer := 0;
BEGIN
	IF review > as_of_utc THEN
		-- Step back from the anchor to the last review before as_of.
		WHILE review > as_of_utc LOOP
			step := step - 1;
			review := review_anchor + step * review_every;
		END LOOP;
	ELSE
		-- Months and years do not divide evenly: estimate, then correct.
		step := floor(extract(epoch FROM as_of_utc - review_anchor) /
					  extract(epoch FROM review_every))::integer;
		WHILE review_anchor + (step + 1) * review_every <= as_of_utc LOOP
			step := step + 1;
		END LOOP;
		WHILE step > 0 AND review_anchor + step * review_every > as_of_utc LOOP
			step := step - 1;
		END LOOP;
		review := review_anchor + step * review_every;
	END IF;
	RETURN review AT TIME ZONE 'UTC';
END
$$;
COMMENT ON FUNCTION @extschema@.loyalty_review_date(date, interval, timestamptz) IS
	'Latest review date review_anchor + k * review_every (k any integer, UTC midnight) at or before as_of.';

CREATE FUNCTION @extschema@.review_tiers(as_of timestamptz DEFAULT now(), program_id text DEFAULT NULL)
RETURNS SETOF @extschema@.loyalty_runs
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	program @extschema@.loyalty_programs;
	thresholds float8[];
	review timestamptz;
	run @extschema@.loyalty_runs;
BEGIN
	IF as_of IS NULL OR as_of IN ('infinity', '-infinity') THEN
		RAISE EXCEPTION USING ERRCODE = 'invalid_parameter_value',
			MESSAGE = format('as_of must be a finite time, not %s', coalesce(as_of::text, 'NULL')),
			HINT = 'Omit it to review as of now.';
	END IF;
	IF review_tiers.program_id IS NOT NULL
	   AND NOT EXISTS (SELECT 1 FROM @extschema@.loyalty_programs AS p WHERE p.program_id = review_tiers.program_id) THEN
		RAISE EXCEPTION USING ERRCODE = 'invalid_parameter_value',
			MESSAGE = format('program %L does not exist', @extschema@.message_excerpt(review_tiers.program_id)),
			HINT = 'Programs are configured in crm.loyalty_programs; NULL reviews them all.';
	END IF;
	-- One review of a program at a time: the row lock also keeps its
	-- configuration as read.
	FOR program IN
		SELECT * FROM @extschema@.loyalty_programs AS p
		WHERE review_tiers.program_id IS NULL OR p.program_id = review_tiers.program_id
		ORDER BY p.program_id
		FOR UPDATE
	LOOP
		-- Tiers only move forward in time.
		IF EXISTS (SELECT 1 FROM @extschema@.loyalty_runs AS r
				   WHERE r.job = 'tier_review' AND r.program_id = program.program_id AND r.as_of > review_tiers.as_of) THEN
			RAISE EXCEPTION USING ERRCODE = 'invalid_parameter_value',
				MESSAGE = format('program %s was already reviewed as of a later time than %s', program.program_id, as_of),
				HINT = 'Review as of the latest crm.loyalty_runs.as_of of the program or later.';
		END IF;
		SELECT array_agg(t.threshold::float8 ORDER BY t.tier_rank) INTO thresholds
		FROM @extschema@.loyalty_tiers AS t WHERE t.program_id = program.program_id;
		CONTINUE WHEN thresholds IS NULL;

		-- A review date not applied yet allows downgrades.
		review := @extschema@.loyalty_review_date(program.review_anchor, program.review_every, as_of);
		IF EXISTS (SELECT 1 FROM @extschema@.loyalty_runs AS r
				   WHERE r.job = 'tier_review' AND r.program_id = program.program_id AND r.review_at >= review) THEN
			review := NULL;
		END IF;

		INSERT INTO @extschema@.loyalty_runs AS r (job, program_id, as_of, review_at)
		VALUES ('tier_review', program.program_id, as_of, review)
		RETURNING r.* INTO run;
		-- Other sessions follow the review in crm.progress, member by member.
		PERFORM @extschema@.progress_start('tier review', run.run_id, 1);
		PERFORM @extschema@.progress_stage(1, 'members',
			(SELECT count(*) FROM @extschema@.loyalty_members AS m WHERE m.program_id = program.program_id));

		WITH evaluated AS (
			SELECT @extschema@.progress_count(m.customer_id) AS customer_id, m.tier_rank,
				   @extschema@.loyalty_tier(greatest(q.metric, 0)::float8, thresholds,
											least(m.tier_rank, cardinality(thresholds)),
											review IS NOT NULL AND m.tier_since <= as_of - program.grace_period,
											program.soft_landing) AS new_rank,
				   q.metric
			FROM @extschema@.loyalty_members AS m
			CROSS JOIN LATERAL @extschema@.loyalty_period(program.qualification_window, m.enrolled_at, as_of) AS period
			CROSS JOIN LATERAL (SELECT @extschema@.loyalty_metric(m.customer_id, program.qualify_on,
																  period.period_start, period.previous_start, as_of) AS metric) AS q
			WHERE m.program_id = program.program_id AND m.enrolled_at <= as_of
			  AND NOT EXISTS (SELECT 1 FROM @extschema@.customer_merges AS merged WHERE merged.merge_id = m.customer_id)
		), changes AS (
			INSERT INTO @extschema@.loyalty_tier_changes (run_id, customer_id, from_rank, to_rank, qualifying_metric)
			SELECT run.run_id, e.customer_id, e.tier_rank, e.new_rank, e.metric
			FROM evaluated AS e WHERE e.new_rank <> e.tier_rank
			RETURNING customer_id, from_rank, to_rank
		), moved AS (
			UPDATE @extschema@.loyalty_members AS m
			SET tier_rank = c.to_rank, tier_since = as_of
			FROM changes AS c
			WHERE m.customer_id = c.customer_id
		)
		UPDATE @extschema@.loyalty_runs AS r
		SET members = (SELECT count(*) FROM evaluated),
			upgrades = (SELECT count(*) FROM changes AS c WHERE c.to_rank > c.from_rank),
			downgrades = (SELECT count(*) FROM changes AS c WHERE c.to_rank < c.from_rank),
			finished_at = clock_timestamp()
		WHERE r.run_id = run.run_id
		RETURNING r.* INTO run;
		PERFORM @extschema@.progress_stage_done(run.members);
		PERFORM @extschema@.progress_finish();
		RETURN NEXT run;
	END LOOP;
END
$$;
COMMENT ON FUNCTION @extschema@.review_tiers(timestamptz, text) IS
	'Re-tiers every member of one program (default all) as of a time (default now; never before an earlier review of the program): upgrades whenever the qualifying metric reaches a higher tier; downgrades (soft landing, grace period) only when a review date has passed that no earlier run applied. Writes crm.loyalty_tier_changes and one crm.loyalty_runs row per program, which it returns.';

CREATE FUNCTION @extschema@.expire_points()
RETURNS @extschema@.loyalty_runs
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	run @extschema@.loyalty_runs;
	member bigint;
	lot record;
	movement @extschema@.points_ledger;
	lots bigint := 0;
	expired bigint := 0;
BEGIN
	INSERT INTO @extschema@.loyalty_runs AS r (job, as_of) VALUES ('points_expiry', now())
	RETURNING r.* INTO run;
	FOR member IN
		SELECT DISTINCT l.customer_id FROM @extschema@.points_lots AS l
		WHERE l.expires_at <= now() AND l.remaining > 0
		ORDER BY 1
	LOOP
		PERFORM @extschema@.points_lock_account(member);
		-- Read again under the lock: a clawback may have taken from a lot.
		FOR lot IN
			SELECT l.lot_id, l.remaining FROM @extschema@.points_lots AS l
			WHERE l.customer_id = member AND l.expires_at <= now() AND l.remaining > 0
			ORDER BY l.lot_id
		LOOP
			movement := @extschema@.points_write(member, 'expire', -lot.remaining, NULL, 'lot:' || lot.lot_id,
												 NULL, NULL, lot.lot_id);
			INSERT INTO @extschema@.points_allocations (movement_id, lot_id, points)
			VALUES (movement.movement_id, lot.lot_id, lot.remaining);
			lots := lots + 1;
			expired := expired + lot.remaining;
		END LOOP;
	END LOOP;
	UPDATE @extschema@.loyalty_runs AS r
	SET lots_expired = lots, points_expired = expired, finished_at = clock_timestamp()
	WHERE r.run_id = run.run_id
	RETURNING r.* INTO run;
	RETURN run;
END
$$;
COMMENT ON FUNCTION @extschema@.expire_points()
	IS 'The expiry sweep: writes an expire movement for what is left of every lot lapsed by now (one per lot, key lot:<lot_id>, so never twice) and logs the run in crm.loyalty_runs, which it returns.';

-- Jobs ------------------------------------------------------------------------

CREATE FUNCTION @extschema@.schedule_tier_review(schedule text DEFAULT '0 3 * * *')
RETURNS bigint
LANGUAGE sql VOLATILE
SET search_path = pg_catalog, pg_temp
RETURN @extschema@.schedule_job('retail_crm_tier_review', schedule, 'SELECT count(*) FROM @extschema@.review_tiers()',
	'crm.schedule_tier_review()',
	'crm.schedule_tier_review() schedules the tier review with pg_cron. Without it, call crm.review_tiers() from any scheduler.');
COMMENT ON FUNCTION @extschema@.schedule_tier_review(text) IS
	'Schedules crm.review_tiers() with pg_cron as job retail_crm_tier_review (GMT, default 03:00 daily) and returns the job id; again = new schedule. Without pg_cron: 55000 with the steps to take.';

CREATE FUNCTION @extschema@.unschedule_tier_review()
RETURNS boolean
LANGUAGE sql VOLATILE
SET search_path = pg_catalog, pg_temp
RETURN @extschema@.unschedule_job('retail_crm_tier_review', 'tier review');
COMMENT ON FUNCTION @extschema@.unschedule_tier_review() IS
	'Removes the pg_cron job of crm.schedule_tier_review(); false, with a notice, when there is none.';

CREATE FUNCTION @extschema@.schedule_points_expiry(schedule text DEFAULT '30 3 * * *')
RETURNS bigint
LANGUAGE sql VOLATILE
SET search_path = pg_catalog, pg_temp
RETURN @extschema@.schedule_job('retail_crm_points_expiry', schedule, 'SELECT @extschema@.expire_points()',
	'crm.schedule_points_expiry()',
	'crm.schedule_points_expiry() schedules the points expiry with pg_cron. Without it, call crm.expire_points() from any scheduler.');
COMMENT ON FUNCTION @extschema@.schedule_points_expiry(text) IS
	'Schedules crm.expire_points() with pg_cron as job retail_crm_points_expiry (GMT, default 03:30 daily) and returns the job id; again = new schedule. Without pg_cron: 55000 with the steps to take.';

CREATE FUNCTION @extschema@.unschedule_points_expiry()
RETURNS boolean
LANGUAGE sql VOLATILE
SET search_path = pg_catalog, pg_temp
RETURN @extschema@.unschedule_job('retail_crm_points_expiry', 'points expiry');
COMMENT ON FUNCTION @extschema@.unschedule_points_expiry() IS
	'Removes the pg_cron job of crm.schedule_points_expiry(); false, with a notice, when there is none.';

-- BI views -------------------------------------------------------------------

CREATE VIEW @extschema@.loyalty_tier_summary AS
WITH counts AS (
	SELECT m.program_id, m.tier_rank, count(*) AS members
	FROM @extschema@.loyalty_members AS m
	WHERE NOT EXISTS (SELECT 1 FROM @extschema@.customer_merges AS merged WHERE merged.merge_id = m.customer_id)
	GROUP BY m.program_id, m.tier_rank
)
SELECT coalesce(t.program_id, c.program_id) AS program_id,
	   coalesce(t.tier_rank, c.tier_rank) AS tier_rank,
	   coalesce(t.tier_name, '(no tier)') AS tier_name,
	   t.threshold, t.earn_rate,
	   coalesce(c.members, 0) AS members,
	   round(coalesce(c.members, 0) / nullif(sum(c.members) OVER (PARTITION BY coalesce(t.program_id, c.program_id)), 0), 4)::numeric(7,4) AS member_share
FROM @extschema@.loyalty_tiers AS t
FULL JOIN counts AS c ON c.program_id = t.program_id AND c.tier_rank = t.tier_rank;
COMMENT ON VIEW @extschema@.loyalty_tier_summary IS 'Members per tier of each program, empty tiers included; rank 0 (no tier) appears when members hold it. Members merged into another customer are not counted.';
COMMENT ON COLUMN @extschema@.loyalty_tier_summary.program_id IS 'The program.';
COMMENT ON COLUMN @extschema@.loyalty_tier_summary.tier_rank IS 'Rank; 0 = below every tier.';
COMMENT ON COLUMN @extschema@.loyalty_tier_summary.tier_name IS 'Tier name; (no tier) for rank 0.';
COMMENT ON COLUMN @extschema@.loyalty_tier_summary.threshold IS 'Qualifying metric the tier needs.';
COMMENT ON COLUMN @extschema@.loyalty_tier_summary.earn_rate IS 'Points per currency unit.';
COMMENT ON COLUMN @extschema@.loyalty_tier_summary.members IS 'Members holding the tier.';
COMMENT ON COLUMN @extschema@.loyalty_tier_summary.member_share IS 'Share of the program''s members, 0-1.';

CREATE VIEW @extschema@.loyalty_tier_movements AS
SELECT r.run_id, r.program_id, r.as_of, r.review_at,
	   c.from_rank, coalesce(f.tier_name, '(no tier)') AS from_tier,
	   c.to_rank, coalesce(t.tier_name, '(no tier)') AS to_tier,
	   CASE WHEN c.to_rank > c.from_rank THEN 'up' ELSE 'down' END AS direction,
	   count(*) AS members
FROM @extschema@.loyalty_tier_changes AS c
JOIN @extschema@.loyalty_runs AS r ON r.run_id = c.run_id
LEFT JOIN @extschema@.loyalty_tiers AS f ON f.program_id = r.program_id AND f.tier_rank = c.from_rank
LEFT JOIN @extschema@.loyalty_tiers AS t ON t.program_id = r.program_id AND t.tier_rank = c.to_rank
GROUP BY r.run_id, r.program_id, r.as_of, r.review_at, c.from_rank, f.tier_name, c.to_rank, t.tier_name;
COMMENT ON VIEW @extschema@.loyalty_tier_movements IS 'Tier moves per review run: how many members went from which tier to which.';
COMMENT ON COLUMN @extschema@.loyalty_tier_movements.run_id IS 'The review (crm.loyalty_runs).';
COMMENT ON COLUMN @extschema@.loyalty_tier_movements.program_id IS 'The program.';
COMMENT ON COLUMN @extschema@.loyalty_tier_movements.as_of IS 'Time the review evaluated as of.';
COMMENT ON COLUMN @extschema@.loyalty_tier_movements.review_at IS 'Review date applied; NULL for a run that could only upgrade.';
COMMENT ON COLUMN @extschema@.loyalty_tier_movements.from_rank IS 'Rank before.';
COMMENT ON COLUMN @extschema@.loyalty_tier_movements.from_tier IS 'Tier before (current name).';
COMMENT ON COLUMN @extschema@.loyalty_tier_movements.to_rank IS 'Rank after.';
COMMENT ON COLUMN @extschema@.loyalty_tier_movements.to_tier IS 'Tier after (current name).';
COMMENT ON COLUMN @extschema@.loyalty_tier_movements.direction IS 'up or down.';
COMMENT ON COLUMN @extschema@.loyalty_tier_movements.members IS 'Members who moved so.';

CREATE VIEW @extschema@.points_liability AS
SELECT m.program_id,
	   count(DISTINCT lot.customer_id) FILTER (WHERE lot.status IN ('available', 'pending')) AS members_with_points,
	   coalesce(sum(lot.remaining) FILTER (WHERE lot.status = 'available'), 0)::bigint AS points_available,
	   coalesce(sum(lot.remaining) FILTER (WHERE lot.status = 'pending'), 0)::bigint AS points_pending,
	   coalesce(sum(lot.remaining) FILTER (WHERE lot.status IN ('available', 'pending')), 0)::bigint AS points_outstanding,
	   coalesce(sum(lot.remaining) FILTER (WHERE lot.status IN ('available', 'pending')
										   AND lot.expires_at <= now() + interval '30 days'), 0)::bigint AS expiring_30_days,
	   coalesce(sum(lot.remaining) FILTER (WHERE lot.status IN ('available', 'pending')
										   AND lot.expires_at <= now() + interval '60 days'), 0)::bigint AS expiring_60_days,
	   coalesce(sum(lot.remaining) FILTER (WHERE lot.status IN ('available', 'pending')
										   AND lot.expires_at <= now() + interval '90 days'), 0)::bigint AS expiring_90_days,
	   coalesce(sum(lot.remaining) FILTER (WHERE lot.status = 'lapsed'), 0)::bigint AS lapsed_unswept
FROM @extschema@.points_lots AS lot
JOIN @extschema@.loyalty_members AS m ON m.customer_id = lot.customer_id
WHERE lot.remaining > 0
GROUP BY m.program_id;
COMMENT ON VIEW @extschema@.points_liability IS
	'Outstanding points per program now, and how many of them lapse within 30, 60 and 90 days (cumulative).';
COMMENT ON COLUMN @extschema@.points_liability.program_id IS 'The program.';
COMMENT ON COLUMN @extschema@.points_liability.members_with_points IS 'Members with outstanding points.';
COMMENT ON COLUMN @extschema@.points_liability.points_available IS 'Points members can spend now.';
COMMENT ON COLUMN @extschema@.points_liability.points_pending IS 'Points still in their return window.';
COMMENT ON COLUMN @extschema@.points_liability.points_outstanding IS 'points_available + points_pending: the liability.';
COMMENT ON COLUMN @extschema@.points_liability.expiring_30_days IS 'Outstanding points that lapse within 30 days.';
COMMENT ON COLUMN @extschema@.points_liability.expiring_60_days IS 'Outstanding points that lapse within 60 days (30-day ones included).';
COMMENT ON COLUMN @extschema@.points_liability.expiring_90_days IS 'Outstanding points that lapse within 90 days (60-day ones included).';
COMMENT ON COLUMN @extschema@.points_liability.lapsed_unswept IS 'Lapsed points the expiry sweep has not written off yet (not spendable, not a liability).';

CREATE VIEW @extschema@.points_statement AS
SELECT l.customer_id, l.movement_id, l.created_at, l.kind, l.points,
	   (sum(l.points) OVER (PARTITION BY l.customer_id ORDER BY l.movement_id))::bigint AS running_balance,
	   l.requested, l.available_at, l.expires_at, l.related_movement_id, l.idempotency_key
FROM @extschema@.points_ledger AS l;
COMMENT ON VIEW @extschema@.points_statement IS
	'Member statement: every movement in order with the running ledger balance (pending and lapsed-unswept points included). Filter by customer_id.';
COMMENT ON COLUMN @extschema@.points_statement.customer_id IS 'The member.';
COMMENT ON COLUMN @extschema@.points_statement.movement_id IS 'Movement number.';
COMMENT ON COLUMN @extschema@.points_statement.created_at IS 'When it was written.';
COMMENT ON COLUMN @extschema@.points_statement.kind IS 'earn, redeem, expire, adjust, clawback, transfer_out or transfer_in.';
COMMENT ON COLUMN @extschema@.points_statement.points IS 'Signed change.';
COMMENT ON COLUMN @extschema@.points_statement.running_balance IS 'Sum of the member''s movements up to this one.';
COMMENT ON COLUMN @extschema@.points_statement.requested IS 'Points asked for (a clawback may take less).';
COMMENT ON COLUMN @extschema@.points_statement.available_at IS 'Lots: spendable from.';
COMMENT ON COLUMN @extschema@.points_statement.expires_at IS 'Lots: lapse at.';
COMMENT ON COLUMN @extschema@.points_statement.related_movement_id IS 'Expire and transfers: the lot; clawback: the earn.';
COMMENT ON COLUMN @extschema@.points_statement.idempotency_key IS 'Key of the source event.';

-- Members, the ledger and the logs are data: pg_dump keeps them (with the
-- identity sequences, so that restored ids are not handed out again).
SELECT pg_catalog.pg_extension_config_dump('@extschema@.loyalty_members', '');
SELECT pg_catalog.pg_extension_config_dump('@extschema@.points_accounts', '');
SELECT pg_catalog.pg_extension_config_dump('@extschema@.points_ledger', '');
SELECT pg_catalog.pg_extension_config_dump('@extschema@.points_ledger_movement_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('@extschema@.points_allocations', '');
SELECT pg_catalog.pg_extension_config_dump('@extschema@.points_adjustment_reasons', '');
SELECT pg_catalog.pg_extension_config_dump('@extschema@.loyalty_runs', '');
SELECT pg_catalog.pg_extension_config_dump('@extschema@.loyalty_runs_run_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('@extschema@.loyalty_tier_changes', '');

-- Grants ----------------------------------------------------------------------

GRANT SELECT ON
	@extschema@.loyalty_programs, @extschema@.loyalty_tiers, @extschema@.loyalty_members,
	@extschema@.points_accounts, @extschema@.points_ledger, @extschema@.points_allocations,
	@extschema@.loyalty_runs, @extschema@.loyalty_tier_changes,
	@extschema@.points_lots, @extschema@.loyalty_tier_summary, @extschema@.loyalty_tier_movements,
	@extschema@.points_liability, @extschema@.points_statement
TO crm_analyst;
GRANT SELECT, INSERT, UPDATE, DELETE, TRUNCATE ON
	@extschema@.loyalty_programs, @extschema@.loyalty_tiers, @extschema@.loyalty_members,
	@extschema@.points_accounts, @extschema@.points_ledger, @extschema@.points_allocations,
	@extschema@.points_adjustment_reasons, @extschema@.loyalty_runs, @extschema@.loyalty_tier_changes,
	@extschema@.points_lots, @extschema@.loyalty_tier_summary, @extschema@.loyalty_tier_movements,
	@extschema@.points_liability, @extschema@.points_statement
TO crm_admin;
GRANT USAGE, SELECT ON SEQUENCE
	@extschema@.points_ledger_movement_id_seq, @extschema@.loyalty_runs_run_id_seq
TO crm_admin;

DO $grants$
DECLARE
	routine regprocedure;
BEGIN
	FOREACH routine IN ARRAY ARRAY[
		'@extschema@.points_lock_account(bigint)',
		'@extschema@.points_consume(bigint, bigint, bigint, bigint)',
		'@extschema@.points_write(bigint, text, bigint, bigint, text, timestamptz, timestamptz, bigint)',
		'@extschema@.points_add_lot(bigint, text, bigint, text, timestamptz, timestamptz)',
		'@extschema@.points_spend(bigint, text, bigint, bigint, text)',
		'@extschema@.earn_points(bigint, bigint, text, timestamptz, timestamptz)',
		'@extschema@.redeem_points(bigint, bigint, text)',
		'@extschema@.adjust_points(bigint, bigint, text, text, timestamptz)',
		'@extschema@.claw_back_points(bigint, bigint, text, text)',
		'@extschema@.award_transaction_points(text)',
		'@extschema@.enrol_member(bigint, text, timestamptz)',
		'@extschema@.review_tiers(timestamptz, text)',
		-- Reads crm.transactions and crm.customer_merges: the review's.
		'@extschema@.loyalty_metric(bigint, text, timestamptz, timestamptz, timestamptz)',
		'@extschema@.expire_points()',
		'@extschema@.schedule_tier_review(text)',
		'@extschema@.unschedule_tier_review()',
		'@extschema@.schedule_points_expiry(text)',
		'@extschema@.unschedule_points_expiry()']::pg_catalog.regprocedure[]
	LOOP
		EXECUTE pg_catalog.format('REVOKE EXECUTE ON ROUTINE %s FROM PUBLIC', routine);
		EXECUTE pg_catalog.format('GRANT EXECUTE ON ROUTINE %s TO crm_admin', routine);
	END LOOP;
END
$grants$;
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

-- SECURITY DEFINER: the launch reads consent and handles, which a marketer
-- may not read directly.  It runs no dynamic SQL and its search_path is
-- pinned.  The campaign row's lock makes a concurrent launch wait and then
-- find the launch done.
CREATE FUNCTION @extschema@.launch_campaign(campaign_id bigint)
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

-- SECURITY DEFINER: an unsubscribe withdraws consent, which a marketer may
-- not write directly.  No dynamic SQL; search_path pinned.
CREATE FUNCTION @extschema@.record_campaign_event(campaign_id bigint, customer_id bigint, event text,
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
		SELECT ct.consent, ct.consent_updated_at,
			   @extschema@.require_channel(campaign.channel) = 'customer_id' OR nullif(btrim(ct.handle), '') IS NOT NULL AS has_handle
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

REVOKE EXECUTE ON FUNCTION @extschema@.create_campaign(text, text, text, double precision, timestamptz, timestamptz, integer, numeric, double precision),
	@extschema@.launch_campaign(bigint), @extschema@.campaign_sends(bigint),
	@extschema@.record_campaign_event(bigint, bigint, text, timestamptz),
	@extschema@.require_campaign(bigint, boolean) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION @extschema@.create_campaign(text, text, text, double precision, timestamptz, timestamptz, integer, numeric, double precision),
	@extschema@.launch_campaign(bigint), @extschema@.record_campaign_event(bigint, bigint, text, timestamptz)
	TO crm_marketer, crm_admin;
GRANT EXECUTE ON FUNCTION @extschema@.campaign_sends(bigint) TO crm_marketer;
GRANT SELECT ON @extschema@.campaigns, @extschema@.campaign_launches, @extschema@.campaign_members,
	@extschema@.campaign_events TO crm_analyst;
GRANT SELECT ON @extschema@.campaign_send_pulls TO crm_admin, crm_marketer;
-- crm.merge_customers (run by crm_admin) moves memberships.
GRANT UPDATE, DELETE ON @extschema@.campaign_members TO crm_admin;
-- Campaign results, live from crm.transactions (like the KPI views, not
-- from the refreshed snapshot): each member's purchases in the attribution
-- window, summed per campaign and group and compared by crm.compare_groups.
-- Readable by BI tools; no personal data.

CREATE VIEW @extschema@.campaign_member_outcomes AS
SELECT m.campaign_id, m.customer_id, m.assigned_group, m.segment, m.lifecycle_stage, m.loyalty_tier,
	   m.pre_revenue, m.pre_orders, o.orders, coalesce(o.revenue, 0)::numeric(19,4) AS revenue
FROM @extschema@.campaign_members AS m
JOIN @extschema@.campaigns AS c ON c.campaign_id = m.campaign_id
CROSS JOIN LATERAL (
	SELECT count(*) FILTER (WHERE t.amount > 0) AS orders, sum(t.amount) AS revenue
	FROM @extschema@.transactions AS t
	WHERE t.customer_id = m.customer_id
	  AND t.occurred_at >= c.starts_at AND t.occurred_at < c.starts_at + c.attribution_days * interval '1 day') AS o;
COMMENT ON VIEW @extschema@.campaign_member_outcomes IS
	'One row per campaign member: their group and launch-time segment, lifecycle stage and tier, pre-period spend and orders, and their purchases in the attribution window so far, live from crm.transactions. What crm.campaign_results sums; no personal data.';
COMMENT ON COLUMN @extschema@.campaign_member_outcomes.campaign_id IS 'The campaign.';
COMMENT ON COLUMN @extschema@.campaign_member_outcomes.customer_id IS 'The member (customer key).';
COMMENT ON COLUMN @extschema@.campaign_member_outcomes.assigned_group IS 'treatment or control.';
COMMENT ON COLUMN @extschema@.campaign_member_outcomes.segment IS 'RFM segment at launch.';
COMMENT ON COLUMN @extschema@.campaign_member_outcomes.lifecycle_stage IS 'Lifecycle stage at launch.';
COMMENT ON COLUMN @extschema@.campaign_member_outcomes.loyalty_tier IS 'Loyalty tier at launch; NULL for non-members.';
COMMENT ON COLUMN @extschema@.campaign_member_outcomes.pre_revenue IS 'Net spend in the pre-period (the CUPED covariate).';
COMMENT ON COLUMN @extschema@.campaign_member_outcomes.pre_orders IS 'Purchases in the pre-period.';
COMMENT ON COLUMN @extschema@.campaign_member_outcomes.orders IS 'Purchases (amount > 0) in [starts_at, starts_at + attribution_days days); a member with one converted.';
COMMENT ON COLUMN @extschema@.campaign_member_outcomes.revenue IS 'Net amount of the same window, returns subtracted; 0 without a sale.';

-- Per campaign and breakdown: all members ('all'), or by launch-time
-- segment, lifecycle stage or loyalty tier.  One pass over the members
-- sums each group into a crm.group_outcomes; a group without members in a
-- breakdown value counts 0 members.
CREATE VIEW @extschema@.campaign_results_by_segment AS
WITH group_sums AS (
	SELECT o.campaign_id, b.breakdown, b.breakdown_value, o.assigned_group,
		   ROW(count(*), count(*) FILTER (WHERE o.orders > 0), sum(o.revenue), sum(o.revenue * o.revenue),
			   sum(o.pre_revenue), sum(o.pre_revenue * o.pre_revenue),
			   sum(o.pre_revenue * o.revenue))::@extschema@.group_outcomes AS outcomes,
		   sum(o.orders) AS orders
	FROM @extschema@.campaign_member_outcomes AS o
	CROSS JOIN LATERAL (VALUES ('all', 'all'),
							   ('segment', coalesce(o.segment, 'none')),
							   ('lifecycle_stage', coalesce(o.lifecycle_stage, 'none')),
							   ('loyalty_tier', coalesce(o.loyalty_tier, 'none'))) AS b (breakdown, breakdown_value)
	GROUP BY o.campaign_id, b.breakdown, b.breakdown_value, o.assigned_group
), sums AS (
	SELECT g.campaign_id, g.breakdown, g.breakdown_value,
		   coalesce((array_agg(g.outcomes) FILTER (WHERE g.assigned_group = 'treatment'))[1],
					ROW(0, 0, NULL, NULL, NULL, NULL, NULL)::@extschema@.group_outcomes) AS treated,
		   coalesce((array_agg(g.outcomes) FILTER (WHERE g.assigned_group = 'control'))[1],
					ROW(0, 0, NULL, NULL, NULL, NULL, NULL)::@extschema@.group_outcomes) AS control,
		   coalesce(sum(g.orders) FILTER (WHERE g.assigned_group = 'treatment'), 0) AS treatment_orders,
		   coalesce(sum(g.orders) FILTER (WHERE g.assigned_group = 'control'), 0) AS control_orders
	FROM group_sums AS g
	GROUP BY g.campaign_id, g.breakdown, g.breakdown_value
)
SELECT s.campaign_id, s.breakdown, s.breakdown_value,
	   (s.treated).members AS treatment_members, (s.control).members AS control_members,
	   (s.treated).converters AS treatment_converters, (s.control).converters AS control_converters,
	   (s.treated).converters::float8 / nullif((s.treated).members, 0) AS treatment_conversion_rate,
	   (s.control).converters::float8 / nullif((s.control).members, 0) AS control_conversion_rate,
	   s.treatment_orders::bigint AS treatment_orders, s.control_orders::bigint AS control_orders,
	   coalesce((s.treated).revenue, 0)::numeric(18,2) AS treatment_revenue,
	   coalesce((s.control).revenue, 0)::numeric(18,2) AS control_revenue,
	   ((s.treated).revenue / nullif((s.treated).members, 0))::float8 AS treatment_revenue_per_member,
	   ((s.control).revenue / nullif((s.control).members, 0))::float8 AS control_revenue_per_member,
	   g.conversion_uplift, g.conversion_uplift_low, g.conversion_uplift_high,
	   g.relative_conversion_uplift, g.relative_conversion_uplift_low, g.relative_conversion_uplift_high,
	   g.conversion_p_value,
	   g.revenue_uplift, g.revenue_uplift_low, g.revenue_uplift_high, g.revenue_p_value,
	   g.cuped_revenue_uplift, g.cuped_revenue_uplift_low, g.cuped_revenue_uplift_high, g.cuped_revenue_p_value,
	   g.cuped_variance_reduction,
	   (g.cuped_revenue_uplift * (s.treated).members)::numeric(18,2) AS incremental_revenue,
	   coalesce(g.conversion_p_value < 0.05, false) AS significant
FROM sums AS s
CROSS JOIN LATERAL @extschema@.compare_groups(s.treated, s.control) AS g;
COMMENT ON VIEW @extschema@.campaign_results_by_segment IS
	'Who responded: the results of each launched campaign for all its members (breakdown all) and by the members'' segment, lifecycle stage and loyalty tier at launch (breakdown segment, lifecycle_stage, loyalty_tier; value none where there was none). Filter on breakdown: each breakdown counts every member once. Treatment minus control per member, with 95 % intervals; live from crm.transactions. No personal data.';
COMMENT ON COLUMN @extschema@.campaign_results_by_segment.campaign_id IS 'The campaign.';
COMMENT ON COLUMN @extschema@.campaign_results_by_segment.breakdown IS 'all, segment, lifecycle_stage or loyalty_tier.';
COMMENT ON COLUMN @extschema@.campaign_results_by_segment.breakdown_value IS 'The segment, stage or tier at launch (none for a customer without one); all for breakdown all.';

CREATE VIEW @extschema@.campaign_results AS
SELECT c.campaign_id, c.name AS campaign_name, c.channel, c.audience,
	   CASE WHEN now() < c.starts_at THEN 'scheduled'
			WHEN now() < c.ends_at THEN 'running'
			WHEN now() < c.starts_at + c.attribution_days * interval '1 day' THEN 'measuring'
			ELSE 'complete' END AS status,
	   c.starts_at, c.ends_at, c.attribution_days, l.launched_at,
	   least(now(), c.starts_at + c.attribution_days * interval '1 day') AS measured_until,
	   c.control_share::numeric(5,4) AS control_share,
	   coalesce(r.treatment_members, 0) AS treatment_members, coalesce(r.control_members, 0) AS control_members,
	   coalesce(r.treatment_converters, 0) AS treatment_converters,
	   coalesce(r.control_converters, 0) AS control_converters,
	   r.treatment_conversion_rate, r.control_conversion_rate,
	   coalesce(r.treatment_orders, 0) AS treatment_orders, coalesce(r.control_orders, 0) AS control_orders,
	   coalesce(r.treatment_revenue, 0)::numeric(18,2) AS treatment_revenue,
	   coalesce(r.control_revenue, 0)::numeric(18,2) AS control_revenue,
	   r.treatment_revenue_per_member, r.control_revenue_per_member,
	   r.conversion_uplift, r.conversion_uplift_low, r.conversion_uplift_high,
	   r.relative_conversion_uplift, r.relative_conversion_uplift_low, r.relative_conversion_uplift_high,
	   r.conversion_p_value,
	   r.revenue_uplift, r.revenue_uplift_low, r.revenue_uplift_high, r.revenue_p_value,
	   r.cuped_revenue_uplift, r.cuped_revenue_uplift_low, r.cuped_revenue_uplift_high, r.cuped_revenue_p_value,
	   r.cuped_variance_reduction, r.incremental_revenue,
	   c.cost, c.margin::numeric(5,4) AS margin,
	   ((r.incremental_revenue * c.margin::numeric - c.cost) / nullif(c.cost, 0))::float8 AS roi,
	   coalesce(r.significant, false) AS significant,
	   srm.p_value AS sample_ratio_p_value, coalesce(srm.p_value < 0.001, false) AS sample_ratio_mismatch,
	   coalesce(e.delivered, 0) AS delivered, coalesce(e.opened, 0) AS opened, coalesce(e.clicked, 0) AS clicked,
	   coalesce(e.bounced, 0) AS bounced, coalesce(e.unsubscribed, 0) AS unsubscribed
FROM @extschema@.campaigns AS c
JOIN @extschema@.campaign_launches AS l ON l.campaign_id = c.campaign_id
-- LATERAL, and kept a subquery (OFFSET 0), so that a query for one
-- campaign sums only that campaign's members.
LEFT JOIN LATERAL (SELECT s.* FROM @extschema@.campaign_results_by_segment AS s
				   WHERE s.campaign_id = c.campaign_id AND s.breakdown = 'all' OFFSET 0) AS r ON true
LEFT JOIN (SELECT ev.campaign_id,
				  count(*) FILTER (WHERE ev.event = 'delivered') AS delivered,
				  count(*) FILTER (WHERE ev.event = 'opened') AS opened,
				  count(*) FILTER (WHERE ev.event = 'clicked') AS clicked,
				  count(*) FILTER (WHERE ev.event = 'bounced') AS bounced,
				  count(*) FILTER (WHERE ev.event = 'unsubscribed') AS unsubscribed
		   FROM @extschema@.campaign_events AS ev GROUP BY ev.campaign_id) AS e ON e.campaign_id = c.campaign_id
CROSS JOIN LATERAL (SELECT @extschema@.sample_ratio_p_value(l.treatment_members, l.control_members, c.control_share) AS p_value) AS srm;
COMMENT ON VIEW @extschema@.campaign_results IS
	'One row per launched campaign, live from crm.transactions: members, converters (a purchase within attribution_days of the start), orders and revenue per group, and treatment minus control per member with 95 % intervals: conversion (absolute and relative), revenue (Welch) and revenue adjusted by CUPED on pre-period spend, incremental revenue, ROI, the significant flag, the sample-ratio check and what the sending tool reported. By segment, lifecycle stage and tier: crm.campaign_results_by_segment. No personal data.';
COMMENT ON COLUMN @extschema@.campaign_results.campaign_id IS 'The campaign.';
COMMENT ON COLUMN @extschema@.campaign_results.campaign_name IS 'Its name.';
COMMENT ON COLUMN @extschema@.campaign_results.channel IS 'Channel it is sent on.';
COMMENT ON COLUMN @extschema@.campaign_results.audience IS 'Who it targets (vocabulary of crm.audience).';
COMMENT ON COLUMN @extschema@.campaign_results.status IS 'scheduled (before starts_at), running (until ends_at), measuring (attribution window still open) or complete.';
COMMENT ON COLUMN @extschema@.campaign_results.starts_at IS 'When it went out; the attribution window starts here.';
COMMENT ON COLUMN @extschema@.campaign_results.ends_at IS 'When sending stopped.';
COMMENT ON COLUMN @extschema@.campaign_results.attribution_days IS 'Length of the attribution window in days.';
COMMENT ON COLUMN @extschema@.campaign_results.launched_at IS 'When its membership was frozen.';
COMMENT ON COLUMN @extschema@.campaign_results.measured_until IS 'Sales up to this time are counted: now, or the end of the attribution window.';
COMMENT ON COLUMN @extschema@.campaign_results.control_share IS 'Share of the eligible audience held out as control.';
COMMENT ON COLUMN @extschema@.campaign_results.cost IS 'What the campaign cost.';
COMMENT ON COLUMN @extschema@.campaign_results.margin IS 'Gross margin on its revenue used by the ROI; NULL when not given.';
COMMENT ON COLUMN @extschema@.campaign_results.roi IS '(incremental_revenue * margin - cost) / cost; NULL without a cost or a margin.';
COMMENT ON COLUMN @extschema@.campaign_results.sample_ratio_p_value IS 'p-value of the sample-ratio check (crm.sample_ratio_p_value): were treatment and control members drawn with control_share?';
COMMENT ON COLUMN @extschema@.campaign_results.sample_ratio_mismatch IS 'True when sample_ratio_p_value < 0.001: the assignment is broken and the uplifts cannot be trusted.';
COMMENT ON COLUMN @extschema@.campaign_results.delivered IS 'Treatment members the sending tool reported delivered.';
COMMENT ON COLUMN @extschema@.campaign_results.opened IS 'Treatment members who opened it.';
COMMENT ON COLUMN @extschema@.campaign_results.clicked IS 'Treatment members who clicked.';
COMMENT ON COLUMN @extschema@.campaign_results.bounced IS 'Treatment members whose message bounced.';
COMMENT ON COLUMN @extschema@.campaign_results.unsubscribed IS 'Treatment members who unsubscribed (their consent on the channel is withdrawn).';

-- The statistics columns the two views share, commented once for both.
DO $comments$
DECLARE
	view_name text;
	shared record;
BEGIN
	FOREACH view_name IN ARRAY ARRAY['campaign_results', 'campaign_results_by_segment'] LOOP
		FOR shared IN
			SELECT * FROM (VALUES
				('treatment_members', 'Members sent to.'),
				('control_members', 'Members held out.'),
				('treatment_converters', 'Treatment members with a purchase in the attribution window so far.'),
				('control_converters', 'Control members with a purchase in the attribution window so far.'),
				('treatment_conversion_rate', 'treatment_converters / treatment_members.'),
				('control_conversion_rate', 'control_converters / control_members.'),
				('treatment_orders', 'Purchases of the treatment members in the window.'),
				('control_orders', 'Purchases of the control members in the window.'),
				('treatment_revenue', 'Net revenue of the treatment members in the window.'),
				('control_revenue', 'Net revenue of the control members in the window.'),
				('treatment_revenue_per_member', 'treatment_revenue / treatment_members (members without a sale count as 0).'),
				('control_revenue_per_member', 'control_revenue / control_members.'),
				('conversion_uplift', 'treatment_conversion_rate - control_conversion_rate.'),
				('conversion_uplift_low', 'Lower end of the 95 % interval of conversion_uplift (Wald, unpooled).'),
				('conversion_uplift_high', 'Upper end of the 95 % interval of conversion_uplift.'),
				('relative_conversion_uplift', 'conversion_uplift / control_conversion_rate; NULL when the control group did not convert.'),
				('relative_conversion_uplift_low', 'Lower end of its 95 % interval (delta method).'),
				('relative_conversion_uplift_high', 'Upper end of its 95 % interval.'),
				('conversion_p_value', 'Two-sided p-value of conversion_uplift = 0 (below 0.05 exactly when the interval leaves out 0).'),
				('revenue_uplift', 'treatment_revenue_per_member - control_revenue_per_member.'),
				('revenue_uplift_low', 'Lower end of the 95 % interval of revenue_uplift (Welch''s test).'),
				('revenue_uplift_high', 'Upper end of the 95 % interval of revenue_uplift.'),
				('revenue_p_value', 'Two-sided p-value of revenue_uplift = 0 (Welch).'),
				('cuped_revenue_uplift', 'revenue_uplift adjusted by CUPED on pre-period spend: the same expectation, a smaller variance.'),
				('cuped_revenue_uplift_low', 'Lower end of the 95 % interval of cuped_revenue_uplift.'),
				('cuped_revenue_uplift_high', 'Upper end of the 95 % interval of cuped_revenue_uplift.'),
				('cuped_revenue_p_value', 'Two-sided p-value of cuped_revenue_uplift = 0.'),
				('cuped_variance_reduction', 'Share of the variance of revenue_uplift that CUPED removed (0 to 1): the interval is narrower by the factor sqrt(1 - this).'),
				('incremental_revenue', 'cuped_revenue_uplift * treatment_members: revenue the campaign brought beyond what the treated would have spent anyway.'),
				('significant', 'True when conversion_p_value < 0.05: the conversion uplift''s interval leaves out 0.')) AS c (column_name, description)
		LOOP
			EXECUTE format('COMMENT ON COLUMN @extschema@.%I.%I IS %L', view_name, shared.column_name, shared.description);
		END LOOP;
	END LOOP;
END
$comments$;

GRANT SELECT ON @extschema@.campaign_member_outcomes, @extschema@.campaign_results,
	@extschema@.campaign_results_by_segment TO crm_analyst;
-- Grants on the objects of the parts above (roles: 05_roles.sql).  Views
-- run with the owner's rights, so an analyst reads the BI views without any
-- right on the tables that hold personal data.
-- crm_analyst: the views, results and logs; no personal data.
GRANT SELECT ON
	@extschema@.segment_summary, @extschema@.rfm_grid, @extschema@.lifecycle_summary,
	@extschema@.segment_migration, @extschema@.customer_360, @extschema@.rfm_breaks,
	@extschema@.churn_watch_list, @extschema@.clv_by_segment, @extschema@.model_diagnostics,
	@extschema@.segment_history, @extschema@.refresh_runs,
	@extschema@.rfm_break_points, @extschema@.models, @extschema@.model_calibration,
	@extschema@.settings, @extschema@.rfm_fixed_breaks, @extschema@.segment_rules,
	@extschema@.segment_map
TO crm_analyst;

-- crm_admin: the data, the configuration, the refresh and its schedule.
GRANT SELECT, INSERT, UPDATE, DELETE, TRUNCATE ON
	@extschema@.customers, @extschema@.transactions, @extschema@.transaction_items,
	@extschema@.settings, @extschema@.rfm_fixed_breaks, @extschema@.segment_rules,
	@extschema@.segment_map, @extschema@.models, @extschema@.model_calibration,
	@extschema@.refresh_runs, @extschema@.rfm_break_points,
	@extschema@.segment_history
TO crm_admin;
GRANT USAGE, SELECT ON @extschema@.models_model_id_seq, @extschema@.refresh_runs_run_id_seq TO crm_admin;

-- Routines that change configuration, models or the snapshot: crm_admin only.
DO $grants$
DECLARE
	routine regprocedure;
BEGIN
	FOREACH routine IN ARRAY ARRAY[
		'@extschema@.activate_segment_rules(text)',
		'@extschema@.set_transaction_source(regclass)',
		'@extschema@.reset_transaction_source()',
		'@extschema@.fit_models(timestamptz, timestamptz)',
		'@extschema@.schedule_refresh(text)',
		'@extschema@.unschedule_refresh()']::pg_catalog.regprocedure[]
	LOOP
		EXECUTE pg_catalog.format('REVOKE EXECUTE ON ROUTINE %s FROM PUBLIC', routine);
		EXECUTE pg_catalog.format('GRANT EXECUTE ON ROUTINE %s TO crm_admin', routine);
	END LOOP;
END
$grants$;
-- What pg_dump saves.  The tables of an extension are not dumped unless
-- registered with pg_extension_config_dump; every table holding data a user
-- loaded, configured or produced is registered here, with the sequences
-- that number its rows.  Registering again only updates the filter, so the
-- upgrade script runs this part as it is.
--
-- pg_restore runs CREATE EXTENSION (which inserts the shipped configuration
-- rows) and then loads the saved rows with COPY.  On the tables whose rows the
-- extension ships and users UPDATE, a row inserted with the key of an
-- existing row replaces it, so the saved values win instead of failing on
-- the key.

CREATE FUNCTION @extschema@.replace_row_with_same_key()
RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	key_match text;
BEGIN
	SELECT string_agg(format('%1$I IS NOT DISTINCT FROM ($1).%1$I', key_column), ' AND ')
	INTO key_match
	FROM unnest(TG_ARGV) AS key_column;
	EXECUTE format('DELETE FROM %I.%I WHERE %s', TG_TABLE_SCHEMA, TG_TABLE_NAME, key_match) USING NEW;
	RETURN NEW;
END
$$;
COMMENT ON FUNCTION @extschema@.replace_row_with_same_key() IS
	'Trigger (arguments: the key columns): an inserted row replaces the row with the same key, so pg_restore can load saved configuration over the rows CREATE EXTENSION ships.';

CREATE TRIGGER settings_replace BEFORE INSERT ON @extschema@.settings
	FOR EACH ROW EXECUTE FUNCTION @extschema@.replace_row_with_same_key('singleton');
CREATE TRIGGER rfm_fixed_breaks_replace BEFORE INSERT ON @extschema@.rfm_fixed_breaks
	FOR EACH ROW EXECUTE FUNCTION @extschema@.replace_row_with_same_key('metric');
CREATE TRIGGER segment_map_replace BEFORE INSERT ON @extschema@.segment_map
	FOR EACH ROW EXECUTE FUNCTION @extschema@.replace_row_with_same_key('rfm_code');
CREATE TRIGGER satisfaction_dimensions_replace BEFORE INSERT ON @extschema@.satisfaction_dimensions
	FOR EACH ROW EXECUTE FUNCTION @extschema@.replace_row_with_same_key('dimension');
CREATE TRIGGER voice_settings_replace BEFORE INSERT ON @extschema@.voice_settings
	FOR EACH ROW EXECUTE FUNCTION @extschema@.replace_row_with_same_key('singleton');
CREATE TRIGGER complaint_sla_targets_replace BEFORE INSERT ON @extschema@.complaint_sla_targets
	FOR EACH ROW EXECUTE FUNCTION @extschema@.replace_row_with_same_key('priority');
CREATE TRIGGER channels_replace BEFORE INSERT ON @extschema@.channels
	FOR EACH ROW EXECUTE FUNCTION @extschema@.replace_row_with_same_key('name');
CREATE TRIGGER identity_rules_replace BEFORE INSERT ON @extschema@.identity_rules
	FOR EACH ROW EXECUTE FUNCTION @extschema@.replace_row_with_same_key('rule');

-- Data the retailer loads.
SELECT pg_catalog.pg_extension_config_dump('@extschema@.customers', '');
SELECT pg_catalog.pg_extension_config_dump('@extschema@.transactions', '');
SELECT pg_catalog.pg_extension_config_dump('@extschema@.transaction_items', '');
SELECT pg_catalog.pg_extension_config_dump('@extschema@.customer_contacts', '');
SELECT pg_catalog.pg_extension_config_dump('@extschema@.consent_events', '');
SELECT pg_catalog.pg_extension_config_dump('@extschema@.consent_events_event_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('@extschema@.customer_merges', '');

-- Configuration.  The rule set 'default' belongs to the extension and comes
-- back with CREATE EXTENSION; the map follows whichever set is active.
SELECT pg_catalog.pg_extension_config_dump('@extschema@.settings', '');
SELECT pg_catalog.pg_extension_config_dump('@extschema@.rfm_fixed_breaks', '');
SELECT pg_catalog.pg_extension_config_dump('@extschema@.segment_rules', $$WHERE rule_set <> 'default'$$);
SELECT pg_catalog.pg_extension_config_dump('@extschema@.segment_map', '');
SELECT pg_catalog.pg_extension_config_dump('@extschema@.identity_rules', '');
SELECT pg_catalog.pg_extension_config_dump('@extschema@.channels', '');

-- Results: the models, the run log, the published snapshot and its history.
SELECT pg_catalog.pg_extension_config_dump('@extschema@.models', '');
SELECT pg_catalog.pg_extension_config_dump('@extschema@.models_model_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('@extschema@.model_calibration', '');
SELECT pg_catalog.pg_extension_config_dump('@extschema@.refresh_runs', '');
SELECT pg_catalog.pg_extension_config_dump('@extschema@.refresh_runs_run_id_seq', '');
-- The partitions of the snapshot and the history (83_snapshots.sql) are
-- created by the refresh, not by this script: pg_dump dumps them, rows and
-- ATTACH, as it dumps any table outside the extension.
SELECT pg_catalog.pg_extension_config_dump('@extschema@.published_snapshot', '');
SELECT pg_catalog.pg_extension_config_dump('@extschema@.rfm_break_points', '');

-- Product affinity and its run log.
SELECT pg_catalog.pg_extension_config_dump('@extschema@.product_affinity', '');
SELECT pg_catalog.pg_extension_config_dump('@extschema@.affinity_runs', '');
SELECT pg_catalog.pg_extension_config_dump('@extschema@.affinity_runs_run_id_seq', '');

-- Voice of the customer (the tables are registered in their parts): the
-- sequences that number answers, feedback, tickets and events.
SELECT pg_catalog.pg_extension_config_dump('@extschema@.survey_responses_response_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('@extschema@.feedback_feedback_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('@extschema@.complaint_tickets_ticket_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('@extschema@.complaint_events_event_id_seq', '');

-- Logs of erasures and audience pulls: evidence, kept.
SELECT pg_catalog.pg_extension_config_dump('@extschema@.erasure_requests', '');
SELECT pg_catalog.pg_extension_config_dump('@extschema@.erasure_requests_request_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('@extschema@.audience_pulls', '');
SELECT pg_catalog.pg_extension_config_dump('@extschema@.audience_pulls_pull_id_seq', '');

-- Campaigns: definitions, launches and frozen memberships, the sending
-- tool's events and the send-list log.
SELECT pg_catalog.pg_extension_config_dump('@extschema@.campaigns', '');
SELECT pg_catalog.pg_extension_config_dump('@extschema@.campaigns_campaign_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('@extschema@.campaign_launches', '');
SELECT pg_catalog.pg_extension_config_dump('@extschema@.campaign_members', '');
SELECT pg_catalog.pg_extension_config_dump('@extschema@.campaign_events', '');
SELECT pg_catalog.pg_extension_config_dump('@extschema@.campaign_send_pulls', '');
SELECT pg_catalog.pg_extension_config_dump('@extschema@.campaign_send_pulls_pull_id_seq', '');
