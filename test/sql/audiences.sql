-- Campaign audiences: only consenting customers with a contact, for
-- crm_marketer only, every pull logged.
SET timezone = 'UTC';
\set SHOW_CONTEXT never
SET client_min_messages = warning;

-- Six customers with every mix of consent and contact, all recent buyers.
INSERT INTO crm.customers (customer_id, first_name, email, phone, joined_at,
						   consent_email, consent_sms, consent_phone, consent_app)
VALUES (900011, 'A', 'a@example.org', '+44 1', '2024-01-01', true, true, false, false),
	   (900012, 'B', 'b@example.org', NULL, '2024-01-01', true, true, true, false),
	   (900013, 'C', NULL, '+44 3', '2024-01-01', true, false, true, true),
	   (900014, 'D', 'd@example.org', '+44 4', '2024-01-01', false, false, false, false),
	   (900015, 'E', '  ', '+44 5', '2024-01-01', true, false, false, true),
	   (900016, 'F', 'f@example.org', '+44 6', '2024-01-01', true, true, true, true);
INSERT INTO crm.transactions (transaction_id, customer_id, occurred_at, amount)
SELECT 'AUD-' || id || '-' || n, id, timestamptz '2024-05-01 12:00' + n * interval '3 days', 10 * n + id % 7
FROM generate_series(900011, 900016) AS id, generate_series(1, 3) AS n;
CALL crm.refresh_segments('2024-06-01 00:00+00');
-- Customer 900016 withdraws email consent.
SELECT crm.record_consent(900016, 'email', false, 'unsubscribe link', '2024-05-30 10:00') IS NOT NULL;

-- Only crm_marketer may pull.
SET ROLE crm_analyst;
SELECT * FROM public.error_of($$SELECT * FROM crm.audience('all', 'email')$$);
RESET ROLE;
SET ROLE crm_admin;
SELECT * FROM public.error_of($$SELECT * FROM crm.audience('all', 'email')$$);
RESET ROLE;

SET ROLE crm_marketer;
SELECT * FROM public.error_of($$SELECT email FROM crm.customers$$);
CREATE TEMP TABLE pulled AS
SELECT ch AS channel, a.customer_id, a.contact
FROM unnest(ARRAY['email', 'sms', 'phone', 'app']) AS ch, LATERAL crm.audience('all', ch) AS a;
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
	   = (SELECT count(*) FROM crm.customer_segments AS cs JOIN crm.customers AS c USING (customer_id)
		  WHERE c.consent_app AND cs.btyd_frequency > 0
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

-- No pull ever returned a customer without consent or contact on its channel.
SELECT count(*) AS violations
FROM pulled AS p JOIN crm.customers AS c USING (customer_id)
WHERE NOT CASE p.channel WHEN 'email' THEN c.consent_email AND p.contact = c.email
						 WHEN 'sms' THEN c.consent_sms AND p.contact = c.phone
						 WHEN 'phone' THEN c.consent_phone AND p.contact = c.phone
						 ELSE c.consent_app END;
SELECT channel, count(*) AS consenting_with_contact_missing_from_pull
FROM (SELECT 'email' AS channel, customer_id FROM crm.customers WHERE consent_email AND btrim(email) <> ''
	  UNION ALL SELECT 'sms', customer_id FROM crm.customers WHERE consent_sms AND btrim(phone) <> ''
	  UNION ALL SELECT 'phone', customer_id FROM crm.customers WHERE consent_phone AND btrim(phone) <> ''
	  UNION ALL SELECT 'app', customer_id FROM crm.customers WHERE consent_app) AS consenting
JOIN crm.customer_segments USING (customer_id)
WHERE (channel, customer_id) NOT IN (SELECT channel, customer_id FROM pulled)
GROUP BY channel;

-- An erased customer leaves every audience.
SELECT crm.forget_customer(900016) IS NOT NULL AS erased;
SET ROLE crm_marketer;
SELECT count(*) AS erased_in_audiences
FROM unnest(ARRAY['email', 'sms', 'phone', 'app']) AS ch, LATERAL crm.audience('all', ch) AS a
WHERE a.customer_id = 900016;
RESET ROLE;
