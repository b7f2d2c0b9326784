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

-- Rights and dump registration of the objects above.
REVOKE EXECUTE ON FUNCTION @extschema@.set_contact(bigint, text, text, boolean) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION @extschema@.set_contact(bigint, text, text, boolean) TO crm_admin;
GRANT SELECT ON @extschema@.channels TO crm_analyst, crm_marketer;
GRANT SELECT, INSERT, UPDATE, DELETE ON @extschema@.channels TO crm_admin;
GRANT SELECT, INSERT, UPDATE, DELETE, TRUNCATE ON @extschema@.customer_contacts TO crm_admin;
CREATE TRIGGER channels_replace BEFORE INSERT ON @extschema@.channels
	FOR EACH ROW EXECUTE FUNCTION @extschema@.replace_row_with_same_key('name');
SELECT pg_catalog.pg_extension_config_dump('@extschema@.customer_contacts', '');
SELECT pg_catalog.pg_extension_config_dump('@extschema@.channels', '');
