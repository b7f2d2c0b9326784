-- 1.0 kept contacts and consent in fixed columns of crm.customers; 1.1 keeps
-- them per channel in crm.customer_contacts (12_channels.sql, run before
-- this).  Every value moves as it was; each consent given is logged in
-- crm.consent_events (by the insert trigger of 15_consent.sql) with the
-- time 1.0 recorded, or the join date when it recorded none.
SELECT pg_catalog.set_config('retail_crm.consent_source', 'consent flags before retail_crm 1.1', true);
INSERT INTO @extschema@.customer_contacts (customer_id, channel, handle, consent, consent_updated_at, preferred)
SELECT c.customer_id, answer.channel, answer.handle, answer.consent,
	   CASE WHEN answer.consent THEN coalesce(c.consent_updated_at, c.joined_at) ELSE c.consent_updated_at END,
	   c.preferred_channel IS NOT DISTINCT FROM answer.channel
FROM @extschema@.customers AS c
CROSS JOIN LATERAL (VALUES ('email', c.email, c.consent_email), ('sms', c.phone, c.consent_sms),
						   ('phone', c.phone, c.consent_phone), ('app', NULL, c.consent_app))
	AS answer (channel, handle, consent)
-- A time without any consent given dates a refusal or withdrawal: kept too.
WHERE answer.handle IS NOT NULL OR answer.consent OR c.preferred_channel IS NOT DISTINCT FROM answer.channel
   OR c.consent_updated_at IS NOT NULL;
SELECT pg_catalog.set_config('retail_crm.consent_source', '', true);

ALTER TABLE @extschema@.customers
	DROP COLUMN email,
	DROP COLUMN phone,
	DROP COLUMN consent_email,
	DROP COLUMN consent_sms,
	DROP COLUMN consent_phone,
	DROP COLUMN consent_app,
	DROP COLUMN consent_updated_at,
	DROP COLUMN preferred_channel;
COMMENT ON TABLE @extschema@.customers IS
	'One row per customer: identity and join date; contacts and marketing consent per channel are in crm.customer_contacts. Holds personal data: analysts read crm.customer_360 instead.';
