-- Channels are data: the shipped channels, contacts per customer and
-- channel written with crm.set_contact, a channel added with an INSERT, and
-- what analysts see of it all.
\i test/fixtures/extension.sql
SET timezone = 'UTC';
\set SHOW_CONTEXT never
SET client_min_messages = warning;

SELECT name, handle_kind, enabled FROM crm.channels ORDER BY name;

INSERT INTO crm.customers (customer_id, first_name, joined_at) VALUES
	(930001, 'Mei', '2024-01-01'), (930002, 'Wen', '2024-01-01');

-- Handles are trimmed and checked by the channel's handle kind; preferred
-- moves from channel to channel, and false leaves it where it is.
SELECT crm.set_contact(930001, 'email', '  mei@example.cn ');
SELECT crm.set_contact(930001, 'sms', '+86 138 0013 8000', preferred => true);
SELECT crm.set_contact(930001, 'wechat', 'oMei-openid-1', true);
SELECT crm.set_contact(930001, 'app', NULL);
SELECT crm.set_contact(930001, 'wechat', 'oMei-openid-2');
SELECT channel, handle, consent, consent_updated_at, preferred
FROM crm.customer_contacts WHERE customer_id = 930001 ORDER BY channel;

-- Consent is the customer's answer for the channel: a new handle keeps it.
SELECT crm.record_consent(930001, 'wechat', true, 'mini-program opt-in', '2024-02-01 08:00') IS NOT NULL AS recorded;
SELECT crm.set_contact(930001, 'wechat', 'oMei-openid-3');
SELECT channel, handle, consent, consent_updated_at FROM crm.customer_contacts
WHERE customer_id = 930001 AND channel = 'wechat';
-- crm.record_consent creates the contact row when there is none.
SELECT crm.record_consent(930002, 'wecom', true, 'store associate', '2024-02-02 10:00') IS NOT NULL AS recorded;
SELECT channel, handle, consent FROM crm.customer_contacts WHERE customer_id = 930002;

-- Bad input: SQLSTATE, message and hint; nothing is written.
SELECT * FROM public.error_of($$SELECT crm.set_contact(930001, 'fax', '123')$$);
SELECT * FROM public.error_of($$SELECT crm.set_contact(930001, NULL, 'x')$$);
SELECT * FROM public.error_of($$SELECT crm.set_contact(NULL, 'email', 'x@example.cn')$$);
SELECT * FROM public.error_of($$SELECT crm.set_contact(930001, 'email', 'x@example.cn', NULL)$$);
SELECT * FROM public.error_of($$SELECT crm.set_contact(930001, 'email', NULL)$$);
SELECT * FROM public.error_of($$SELECT crm.set_contact(930001, 'email', 'not an address')$$);
SELECT * FROM public.error_of($$SELECT crm.set_contact(930001, 'sms', '12-34')$$);
SELECT * FROM public.error_of($$SELECT crm.set_contact(930001, 'wechat', '   ')$$);
SELECT * FROM public.error_of($$SELECT crm.set_contact(930001, 'push', repeat('t', 257))$$);
SELECT * FROM public.error_of($$SELECT crm.set_contact(930001, 'app', '930001')$$);
SELECT * FROM public.error_of($$SELECT crm.set_contact(999999999, 'email', 'x@example.cn')$$);
SELECT count(*) AS contacts FROM crm.customer_contacts WHERE customer_id IN (930001, 930002, 999999999);

-- Adding a channel is an INSERT; a channel in use cannot be deleted, and
-- the table refuses malformed rows.
INSERT INTO crm.channels (name, handle_kind, description) VALUES ('kakao', 'platform_id', 'KakaoTalk channel message.');
SELECT crm.set_contact(930002, 'kakao', 'kakao-930002');
SELECT crm.record_consent(930002, 'kakao', true, 'kakao opt-in', '2024-02-03 10:00') IS NOT NULL AS recorded;
SELECT channel, granted, source FROM crm.consent_status WHERE customer_id = 930002 AND granted ORDER BY 1;
SELECT state, message FROM public.error_of($$DELETE FROM crm.channels WHERE name = 'kakao'$$);
SELECT state, message FROM public.error_of($$INSERT INTO crm.channels VALUES ('Fax Line', 'phone', 'x')$$);
SELECT state, message FROM public.error_of($$INSERT INTO crm.channels VALUES ('fax', 'fax_number', 'x')$$);

-- Analysts see channels and consent, never handles.
SET ROLE crm_analyst;
SELECT count(*) AS channels FROM crm.channels;
SELECT count(*) AS consent_rows FROM crm.consent_status WHERE customer_id = 930001;
SELECT * FROM public.error_of($$SELECT handle FROM crm.customer_contacts$$);
SELECT * FROM public.error_of($$SELECT crm.set_contact(930001, 'email', 'mei@example.cn')$$);
RESET ROLE;
-- No view an analyst may read holds a handle.
SELECT c.oid::regclass AS view_with_handle
FROM pg_class AS c JOIN pg_attribute AS a ON a.attrelid = c.oid AND a.attnum > 0
WHERE c.relnamespace = 'crm'::regnamespace AND c.relkind = 'v' AND a.attname = 'handle'
  AND has_table_privilege('crm_analyst', c.oid, 'SELECT');

-- Leave the shipped channels as they were for the tests that follow.
DELETE FROM crm.customer_contacts WHERE channel = 'kakao';
DELETE FROM crm.consent_events WHERE channel = 'kakao';
DELETE FROM crm.channels WHERE name = 'kakao';

-- An unknown channel of 1 MB is quoted in 64 characters at most (#16).
SELECT state, length(message) AS message_length, message
FROM public.error_of($$SELECT crm.record_consent(1, repeat('c', 1000000), true, 'test')$$);
