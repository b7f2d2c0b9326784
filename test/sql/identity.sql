-- Likely duplicate customers and data-quality counts.
\i test/fixtures/extension.sql
SET timezone = 'UTC';
\set SHOW_CONTEXT never
SET client_min_messages = warning;

-- Normalisation: email lower-cased and trimmed, phone as digits; NULL when
-- it does not look like one.
SELECT e, crm.normalized_email(e)
FROM unnest(ARRAY[' Ann.Lee@Example.ORG ', 'ann.lee@example.org', 'no-at-sign', 'a@b', 'two@@x.org', 'sp ace@x.org', '']) AS e;
SELECT p, crm.normalized_phone(p)
FROM unnest(ARRAY['+44 (0)7700 900123', '07700-900123', '123', '1234567890123456', 'call me']) AS p;
SELECT crm.normalized_email(NULL) IS NULL AS null_email, crm.normalized_phone(NULL) IS NULL AS null_phone;

-- Five customers: 910001 and 910002 share an email written differently,
-- 910002 and 910003 a phone (one for sms, one for calls: both channels'
-- handles are phone numbers), 910001 and 910004 name and birth date;
-- 910005 has an invalid email and phone.  A WeChat id is no match key.
INSERT INTO crm.customers (customer_id, first_name, last_name, birth_date, joined_at) VALUES
	(910001, 'Ann', 'Lee', '1990-05-01', '2024-01-01'),
	(910002, 'Anne', 'Lee', NULL, '2024-01-01'),
	(910003, 'Bob', 'Ray', NULL, '2024-01-01'),
	(910004, ' ann', 'LEE ', '1990-05-01', '2024-01-01'),
	(910005, 'Cy', 'Ng', NULL, '2024-01-01');
INSERT INTO crm.customer_contacts (customer_id, channel, handle) VALUES
	(910001, 'email', 'Ann.Lee@Example.org'), (910001, 'wechat', 'o-shared'),
	(910002, 'email', ' ann.lee@example.org'), (910002, 'sms', '07700 900123'), (910002, 'wechat', 'o-shared'),
	(910003, 'phone', '07700-900-123'),
	(910004, 'email', 'other@example.org'),
	(910005, 'email', 'cy at example'), (910005, 'sms', '12');
SELECT customer_id_a, customer_id_b, rule, evidence FROM crm.duplicate_candidates
WHERE customer_id_a BETWEEN 910001 AND 910005 ORDER BY 1, 2, 3;

-- A rule switched off no longer matches.
UPDATE crm.identity_rules SET enabled = false WHERE rule = 'same_phone';
SELECT rule FROM crm.duplicate_candidates WHERE customer_id_a BETWEEN 910001 AND 910005 ORDER BY 1;
UPDATE crm.identity_rules SET enabled = true WHERE rule = 'same_phone';
SELECT * FROM public.error_of($$INSERT INTO crm.identity_rules VALUES ('same_shoe_size', true)$$);

-- Data quality, against counts written out in plain SQL.
SELECT q.customers = (SELECT count(*) FROM crm.customers) AS customers_match,
	   q.missing_email = (SELECT count(*) FROM crm.customers AS c
						  WHERE NOT EXISTS (SELECT 1 FROM crm.customer_contacts AS ct
											WHERE ct.customer_id = c.customer_id AND ct.channel = 'email'
											  AND btrim(ct.handle) <> '')) AS missing_email_match,
	   q.invalid_email = (SELECT count(*) FROM crm.customer_contacts WHERE channel = 'email' AND btrim(handle) <> ''
						  AND lower(btrim(handle)) !~ '^[^@\s]+@[^@\s]+\.[^@\s]+$') AS invalid_email_match,
	   q.invalid_phone = (SELECT count(DISTINCT customer_id) FROM crm.customer_contacts
						  WHERE channel IN ('sms', 'phone') AND btrim(handle) <> ''
							AND length(regexp_replace(handle, '\D', '', 'g')) NOT BETWEEN 7 AND 15) AS invalid_phone_match,
	   q.transactions_without_customer = (SELECT count(*) FROM crm.anonymous_transactions) AS anonymous_match,
	   q.transactions_unknown_customer = (SELECT count(*) FROM crm.transactions AS t
										  WHERE t.customer_id NOT IN (SELECT customer_id FROM crm.customers)) AS unknown_match,
	   q.duplicate_pairs >= 3 AS has_the_three_pairs
FROM crm.data_quality AS q;

-- Evidence and contact counts are for crm_admin; analysts see the rules.
SET ROLE crm_analyst;
SELECT * FROM public.error_of($$SELECT * FROM crm.duplicate_candidates$$);
SELECT * FROM public.error_of($$SELECT * FROM crm.data_quality$$);
SELECT count(*) AS rules FROM crm.identity_rules;
RESET ROLE;
SET ROLE crm_admin;
SELECT count(*) >= 3 AS admin_reads_candidates FROM crm.duplicate_candidates;
RESET ROLE;
