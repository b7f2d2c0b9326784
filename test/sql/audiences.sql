-- Campaign audiences: only consenting customers with a contact, for
-- crm_marketer only, every pull logged.
\set this_test audiences
\i test/fixtures/earlier_tests.sql
SET timezone = 'UTC';
\set SHOW_CONTEXT never
SET client_min_messages = warning;

-- Six customers with every mix of consent and handle, all recent buyers.
INSERT INTO crm.customers (customer_id, first_name, joined_at)
SELECT id, chr(65 + (id - 900011)::int), '2024-01-01' FROM generate_series(900011, 900016) AS id;
INSERT INTO crm.customer_contacts (customer_id, channel, handle, consent) VALUES
	(900011, 'email', 'a@example.org', true), (900011, 'sms', '+44 1', true), (900011, 'phone', '+44 1', false),
	(900011, 'wechat', 'oA-openid', true),
	(900012, 'email', 'b@example.org', true), (900012, 'sms', NULL, true), (900012, 'phone', NULL, true),
	(900012, 'wechat', NULL, true),
	(900013, 'sms', '+44 3', false), (900013, 'phone', '+44 3', true), (900013, 'app', NULL, true),
	(900013, 'email', NULL, true),
	(900014, 'email', 'd@example.org', false), (900014, 'sms', '+44 4', false), (900014, 'phone', '+44 4', false),
	(900015, 'email', '  ', true), (900015, 'sms', '+44 5', false), (900015, 'phone', '+44 5', false),
	(900015, 'app', NULL, true),
	(900016, 'email', 'f@example.org', true), (900016, 'sms', '+44 6', true), (900016, 'phone', '+44 6', true),
	(900016, 'app', NULL, true), (900016, 'wechat', 'oF-openid', true);
INSERT INTO crm.transactions (transaction_id, customer_id, occurred_at, amount)
SELECT 'AUD-' || id || '-' || n, id, timestamptz '2024-05-01 12:00' + n * interval '3 days', 10 * n + id % 7
FROM generate_series(900011, 900016) AS id, generate_series(1, 3) AS n;
CALL crm.refresh_segments('2024-06-01 00:00+00');
-- Customer 900016 withdraws email consent.
SELECT crm.record_consent(900016, 'email', false, 'unsubscribe link', '2024-05-30 10:00') IS NOT NULL;

-- What analysts see of it: channels by name, no handle.
SELECT crm.set_contact(900016, 'wechat', 'oF-openid', preferred => true);
SELECT customer_id, preferred_channel, consented_channels FROM crm.customer_360
WHERE customer_id BETWEEN 900011 AND 900016 ORDER BY 1;

-- Only crm_marketer may pull.
SET ROLE crm_analyst;
SELECT * FROM public.error_of($$SELECT * FROM crm.audience('all', 'email')$$);
RESET ROLE;
SET ROLE crm_admin;
SELECT * FROM public.error_of($$SELECT * FROM crm.audience('all', 'email')$$);
RESET ROLE;

SET ROLE crm_marketer;
SELECT * FROM public.error_of($$SELECT handle FROM crm.customer_contacts$$);
CREATE TEMP TABLE pulled AS
SELECT ch AS channel, a.customer_id, a.contact
FROM unnest(ARRAY['email', 'sms', 'phone', 'app', 'wechat']) AS ch, LATERAL crm.audience('all', ch) AS a;
SELECT channel, customer_id, contact FROM pulled WHERE customer_id BETWEEN 900011 AND 900016 ORDER BY 1, 2;
-- The forms of an audience.
SELECT count(*) > 0 AS by_segment_prefix FROM crm.audience('segment:' || (SELECT segment FROM crm.customer_360 WHERE customer_id = 900016), 'app');
SELECT customer_id, segment, lifecycle_stage FROM crm.audience('lifecycle:new', 'sms') WHERE customer_id BETWEEN 900011 AND 900016 ORDER BY 1;
SELECT count(*) AS bare_stage FROM crm.audience('new', 'sms') WHERE customer_id BETWEEN 900011 AND 900016;
SELECT count(*) AS watch_list FROM crm.audience('churn_watch_list', 'email') WHERE customer_id BETWEEN 900011 AND 900016;
-- Loyalty tiers: members holding the tier, consent still required (900014
-- is a member without any consent).
RESET ROLE;
INSERT INTO crm.loyalty_programs (program_id) VALUES ('audience_club');
INSERT INTO crm.loyalty_tiers (program_id, tier_rank, tier_name, threshold) VALUES
	('audience_club', 1, 'Audience Bronze', 0), ('audience_club', 2, 'Audience Gold', 100000);
SELECT count(*) AS enrolled FROM unnest(ARRAY[900011, 900012, 900014]) AS id WHERE crm.enrol_member(id, 'audience_club', '2024-01-01');
SET ROLE crm_marketer;
SELECT customer_id, contact FROM crm.audience('tier:Audience Bronze', 'email') ORDER BY 1;
SELECT count(*) AS gold_members FROM crm.audience('tier:Audience Gold', 'email');
SELECT state, message FROM public.error_of($$SELECT * FROM crm.audience('tier:Diamond', 'email')$$);
-- Churn bands split the repeat customers at the watch list's threshold, as
-- plain SQL does.
CREATE TEMP TABLE churn_pulled AS
SELECT band, a.customer_id FROM unnest(ARRAY['high', 'low']) AS band, LATERAL crm.audience('churn:' || band, 'app') AS a;
RESET ROLE;
SELECT b.band,
	   (SELECT count(*) FROM churn_pulled AS p WHERE p.band = b.band)
	   = (SELECT count(*) FROM crm.customer_segments AS cs JOIN crm.customer_contacts AS ct USING (customer_id)
		  WHERE ct.channel = 'app' AND ct.consent AND cs.btyd_frequency > 0
			AND (cs.churn_risk >= (SELECT churn_risk_threshold FROM crm.settings)) = (b.band = 'high')) AS matches_plain_sql,
	   (SELECT count(*) > 0 FROM churn_pulled AS p WHERE p.band = b.band) AS returned_some
FROM unnest(ARRAY['high', 'low']) AS b (band) ORDER BY 1;
SET ROLE crm_marketer;
SELECT state, message FROM public.error_of($$SELECT * FROM crm.audience('churn:medium', 'email')$$);
SELECT * FROM public.error_of($$SELECT * FROM crm.audience('all', 'fax')$$);
SELECT * FROM public.error_of($$SELECT * FROM crm.audience('all', NULL)$$);
SELECT state, message FROM public.error_of($$SELECT * FROM crm.audience('Wizards', 'email')$$);
SELECT state, message FROM public.error_of($$SELECT * FROM crm.audience(NULL, 'email')$$);
-- a message quotes 64 characters of an argument, not a whole megabyte (#16)
SELECT state, message FROM public.error_of($$SELECT * FROM crm.audience(repeat('W', 1000000), 'email')$$);
SELECT rule, channel, customers > 0 AS returned_some, pulled_by = session_user AS by_me
FROM crm.audience_pulls ORDER BY pull_id;
RESET ROLE;

-- A channel is data: a new one is pulled like the shipped ones; a disabled
-- one is refused.
INSERT INTO crm.channels (name, handle_kind, description) VALUES ('line', 'platform_id', 'LINE official account message.');
INSERT INTO crm.customer_contacts (customer_id, channel, handle, consent) VALUES (900013, 'line', 'U-line-3', true);
SET ROLE crm_marketer;
INSERT INTO pulled SELECT 'line', a.customer_id, a.contact FROM crm.audience('all', 'line') AS a;
SELECT customer_id, contact FROM pulled WHERE channel = 'line' ORDER BY 1;
RESET ROLE;
UPDATE crm.channels SET enabled = false WHERE name = 'line';
SET ROLE crm_marketer;
SELECT * FROM public.error_of($$SELECT * FROM crm.audience('all', 'line')$$);
RESET ROLE;
UPDATE crm.channels SET enabled = true WHERE name = 'line';

-- No pull ever returned a customer without consent or handle on its channel.
SELECT count(*) AS violations
FROM pulled AS p
LEFT JOIN crm.customer_contacts AS ct ON ct.customer_id = p.customer_id AND ct.channel = p.channel
LEFT JOIN crm.channels AS ch ON ch.name = p.channel
WHERE NOT coalesce(ct.consent AND p.contact = CASE WHEN ch.handle_kind = 'customer_id' THEN p.customer_id::text
												  ELSE ct.handle END, false);
SELECT ct.channel, count(*) AS consenting_with_handle_missing_from_pull
FROM crm.customer_contacts AS ct
JOIN crm.channels AS ch ON ch.name = ct.channel
JOIN crm.customer_segments USING (customer_id)
WHERE ct.consent AND (ch.handle_kind = 'customer_id' OR btrim(ct.handle) <> '')
  AND (ct.channel, ct.customer_id) NOT IN (SELECT channel, customer_id FROM pulled)
GROUP BY ct.channel;

-- An erased customer leaves every audience.
SELECT crm.forget_customer(900016) IS NOT NULL AS erased;
SET ROLE crm_marketer;
SELECT count(*) AS erased_in_audiences
FROM unnest(ARRAY['email', 'sms', 'phone', 'app', 'wechat']) AS ch, LATERAL crm.audience('all', ch) AS a
WHERE a.customer_id = 900016;
RESET ROLE;
