-- Writing consent with its source: crm.set_consent_source and
-- crm.record_consent (the log and its triggers are in 15_consent.sql).  Only
-- CREATE OR REPLACE of functions, comments and grants: an upgrade runs this
-- part again.

-- The source reaches the triggers through a transaction-local setting.  On
-- Citus the consent trigger runs on the worker holding the contact: the
-- setting is made by SET LOCAL, which Citus sends to the workers of the
-- transaction when citus.propagate_set_commands is local (set_config alone
-- stays on the coordinator, and the worker would log the answer a second
-- time, without its source).
CREATE OR REPLACE FUNCTION @extschema@.set_consent_source(source text)
RETURNS void
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	IF current_setting('citus.propagate_set_commands', true) IS NOT NULL THEN
		PERFORM set_config('citus.propagate_set_commands', 'local', true);
	END IF;
	EXECUTE format('SET LOCAL retail_crm.consent_source = %L', coalesce(source, ''));
END
$$;
COMMENT ON FUNCTION @extschema@.set_consent_source(text) IS
	'Internal: the source the consent triggers log for the rest of the transaction ('''' for none), also on the Citus workers the transaction writes to (it sets citus.propagate_set_commands to local when Citus is loaded).';
REVOKE EXECUTE ON FUNCTION @extschema@.set_consent_source(text) FROM PUBLIC;
-- for the writers of consent that run as their caller (crm.merge_customers,
-- crm.forget_customer), which crm_admin runs
GRANT EXECUTE ON FUNCTION @extschema@.set_consent_source(text) TO crm_admin;

CREATE OR REPLACE FUNCTION @extschema@.record_consent(customer_id bigint, channel text, granted boolean,
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
	PERFORM @extschema@.set_consent_source(source);
	INSERT INTO @extschema@.customer_contacts AS ct (customer_id, channel, consent, consent_updated_at)
	VALUES (customer_id, channel, granted, recorded_at)
	ON CONFLICT ON CONSTRAINT customer_contacts_pkey DO UPDATE
	SET consent = excluded.consent, consent_updated_at = excluded.consent_updated_at;
	PERFORM @extschema@.set_consent_source(NULL);

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

REVOKE EXECUTE ON FUNCTION @extschema@.record_consent(bigint, text, boolean, text, timestamptz) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION @extschema@.record_consent(bigint, text, boolean, text, timestamptz) TO crm_admin;
