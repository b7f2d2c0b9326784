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
-- crm.set_consent_source (15a_consent_record.sql), read by the triggers below.
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

-- Reads the consent log, which only crm_admin may: for the triggers of the
-- writes to crm.customers, which only crm_admin makes.
REVOKE EXECUTE ON FUNCTION @extschema@.logged_consent(bigint, text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION @extschema@.logged_consent(bigint, text) TO crm_admin;
GRANT SELECT ON @extschema@.consent_status TO crm_analyst;
GRANT SELECT, INSERT ON @extschema@.consent_events TO crm_admin;
-- Dump registration: the consent log is evidence, kept with its numbering.
SELECT pg_catalog.pg_extension_config_dump('@extschema@.consent_events', '');
SELECT pg_catalog.pg_extension_config_dump('@extschema@.consent_events_event_id_seq', '');
