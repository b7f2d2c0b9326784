-- Consent with time and source, and erasure of personal data.
\i test/fixtures/extension.sql
SET timezone = 'UTC';
\set SHOW_CONTEXT never
SET client_min_messages = warning;

INSERT INTO crm.customers (customer_id, first_name, last_name, birth_date, gender,
						   postal_code, country, joined_at)
VALUES (900001, 'Zebulon', 'Quixwood', '1980-02-29', 'male', 'ZQ1 9XX', 'United Kingdom', '2024-01-05'),
	   (900002, 'Ysolde', 'Marchbank', NULL, NULL, NULL, 'France', '2024-01-06'),
	   (900003, 'Xanthe', 'Pell', NULL, NULL, NULL, 'Spain', '2024-01-07');
-- Loading contacts logs the consents they arrive with (statement trigger).
INSERT INTO crm.customer_contacts (customer_id, channel, handle, consent, consent_updated_at)
VALUES (900001, 'email', 'zebulon.quixwood@example.org', true, '2024-01-05 10:00'),
	   (900001, 'sms', '+44 7700 900001', false, '2024-01-05 10:00'),
	   (900001, 'wechat', 'oZebulonQuixwood7700', false, NULL),
	   (900002, 'email', 'ysolde@example.org', false, '2024-01-06 11:00'),
	   (900002, 'sms', '+44 7700 900002', true, '2024-01-06 11:00');
SELECT crm.set_contact(900001, 'email', 'zebulon.quixwood@example.org', preferred => true);
SELECT customer_id, channel, granted, recorded_at, source, recorded_by = session_user AS by_me
FROM crm.consent_events WHERE customer_id BETWEEN 900001 AND 900003 ORDER BY event_id;

-- crm.record_consent: a new answer sets the flag and is logged with its source;
-- the same call again returns the same event; a renewal of the current
-- answer changes no flag but is logged.
SELECT crm.record_consent(900001, 'sms', true, 'store 12 till', '2024-02-01 09:30') AS sms_event \gset
SELECT crm.record_consent(900001, 'sms', true, 'store 12 till', '2024-02-01 09:30') = :sms_event AS replay_is_same_event;
SELECT crm.record_consent(900001, 'email', true, 'newsletter renewal', '2024-03-01 08:00') > :sms_event AS renewal_logged;
SELECT crm.record_consent(900002, 'sms', false, 'unsubscribe link', '2024-03-02 12:00') > :sms_event AS withdrawal_logged;
-- Writing consent directly is logged too, with a generic source.
INSERT INTO crm.customer_contacts (customer_id, channel, consent, consent_updated_at)
VALUES (900003, 'phone', true, '2024-04-01 15:00');
UPDATE crm.customer_contacts SET consent = true, consent_updated_at = '2024-04-02 09:00'
WHERE customer_id = 900002 AND channel = 'email';
SELECT customer_id, channel, consent, consent_updated_at, preferred
FROM crm.customer_contacts WHERE customer_id BETWEEN 900001 AND 900003 ORDER BY 1, 2;
SELECT * FROM crm.consent_status WHERE customer_id BETWEEN 900001 AND 900003 ORDER BY customer_id, channel;
SELECT count(*) AS events_total FROM crm.consent_events WHERE customer_id BETWEEN 900001 AND 900003;

-- Bad input: nothing is written.
SELECT * FROM public.error_of($$SELECT crm.record_consent(NULL, 'email', true, 'form')$$);
SELECT * FROM public.error_of($$SELECT crm.record_consent(900001, 'email', NULL, 'form')$$);
SELECT * FROM public.error_of($$SELECT crm.record_consent(900001, 'fax', true, 'form')$$);
SELECT * FROM public.error_of($$SELECT crm.record_consent(900001, NULL, true, 'form')$$);
SELECT * FROM public.error_of($$SELECT crm.record_consent(900001, 'email', true, '  ')$$);
SELECT * FROM public.error_of($$SELECT crm.record_consent(900001, 'email', true, NULL)$$);
SELECT * FROM public.error_of($$SELECT crm.record_consent(900001, 'email', true, 'form', 'infinity')$$);
SELECT * FROM public.error_of($$SELECT crm.record_consent(900001, 'email', true, 'form', NULL)$$);
SELECT * FROM public.error_of($$SELECT crm.record_consent(999999999, 'email', true, 'form')$$);
SELECT count(*) AS events_total FROM crm.consent_events WHERE customer_id BETWEEN 900001 AND 900003;

-- Every value of the schema that matches one of the given patterns: every
-- column of every table, cast to text.
CREATE FUNCTION pg_temp.find_values(patterns text[])
RETURNS TABLE (table_name text, column_name text, hits bigint)
LANGUAGE plpgsql AS $$
DECLARE
	target record;
BEGIN
	FOR target IN
		SELECT c.oid::regclass AS rel, a.attname
		FROM pg_class AS c JOIN pg_attribute AS a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
		WHERE c.relnamespace = 'crm'::regnamespace AND c.relkind = 'r'
		ORDER BY 1, 2
	LOOP
		EXECUTE format('SELECT count(*) FROM %s WHERE %I::text ILIKE ANY ($1)', target.rel, target.attname)
			INTO hits USING patterns;
		IF hits > 0 THEN
			table_name := target.rel::text;
			column_name := target.attname;
			RETURN NEXT;
		END IF;
	END LOOP;
END
$$;
\set zebulon '{%Zebulon%, %Quixwood%, %zebulon.quixwood%, %7700 900001%, %ZQ1 9XX%, 1980-02-29, 02-29-1980}'

-- The columns that hold personal data, and where Zebulon's data is now.
SELECT * FROM crm.personal_data_columns();
SELECT * FROM pg_temp.find_values(:'zebulon');

-- Erasure: personal data gone everywhere, purchases and consent evidence kept.
-- Zebulon also wrote feedback and complained; an agent's note on his ticket
-- (crm.complaint_events, reached through the ticket) names him too.
INSERT INTO crm.transactions (transaction_id, customer_id, occurred_at, amount, channel, store)
VALUES ('Z-1', 900001, '2024-01-10 12:00', 120.00, 'store', 'S12'),
	   ('Z-2', 900001, '2024-02-10 12:00', 80.00, 'online', NULL);
INSERT INTO crm.feedback (customer_id, received_at, comment)
VALUES (900001, '2024-02-11', 'Zebulon Quixwood here: the till was slow'),
	   (900002, '2024-02-11', 'Ysolde: lovely shop');
INSERT INTO crm.complaint_tickets (ticket_id, customer_id, category, opened_at, description)
VALUES (990001, 900001, 'delivery', '2024-02-12', 'Parcel for Zebulon Quixwood, ZQ1 9XX, lost'),
	   (990002, 900002, 'delivery', '2024-02-12', 'Parcel for Ysolde late');
INSERT INTO crm.complaint_events (ticket_id, occurred_at, status, message)
VALUES (990001, '2024-02-12 10:00', 'new', 'Called Zebulon on +44 7700 900001'),
	   (990002, '2024-02-12 10:00', 'new', 'Called Ysolde');
SELECT * FROM pg_temp.find_values(:'zebulon');
SELECT crm.forget_customer(900001) AS request \gset
SELECT request_id = :request AS logged, customer_id, requested_by = session_user AS by_me,
	   tables_erased, rows_erased
FROM crm.erasure_requests ORDER BY request_id;
SELECT * FROM pg_temp.find_values(:'zebulon');
SELECT customer_id, first_name, last_name, birth_date, gender, postal_code, country, joined_at
FROM crm.customers WHERE customer_id = 900001;
SELECT channel, handle, consent, preferred FROM crm.customer_contacts WHERE customer_id = 900001 ORDER BY 1;
SELECT count(*) AS purchases_kept, sum(amount) AS spend_kept FROM crm.transactions WHERE customer_id = 900001;
SELECT channel, granted, source FROM crm.consent_events
WHERE customer_id = 900001 ORDER BY event_id DESC LIMIT 2;
-- Again: nothing left to erase, still logged; an unknown customer too.
SELECT crm.forget_customer(900001) > :request AS logged_again;
SELECT crm.forget_customer(123456789) > :request AS unknown_logged;
SELECT customer_id, tables_erased, rows_erased FROM crm.erasure_requests ORDER BY request_id;
SELECT * FROM public.error_of($$SELECT crm.forget_customer(NULL)$$);
-- The other customers are untouched; Zebulon's ticket and feedback stay, without text.
SELECT c.customer_id, c.first_name, ct.channel, ct.handle
FROM crm.customers AS c LEFT JOIN crm.customer_contacts AS ct USING (customer_id)
WHERE c.customer_id IN (900002, 900003) ORDER BY 1, 3;
SELECT customer_id, comment FROM crm.feedback WHERE customer_id IN (900001, 900002) ORDER BY 1;
SELECT t.ticket_id, t.customer_id, t.category, t.description, e.status, e.message
FROM crm.complaint_tickets AS t JOIN crm.complaint_events AS e USING (ticket_id)
WHERE t.ticket_id IN (990001, 990002) ORDER BY 1;

-- Who may do what: only crm_admin records consents and erases.
SET ROLE crm_analyst;
SELECT * FROM public.error_of($$SELECT crm.forget_customer(900002)$$);
SELECT * FROM public.error_of($$SELECT crm.record_consent(900002, 'email', true, 'form')$$);
SELECT count(*) AS consent_rows FROM crm.consent_status WHERE customer_id BETWEEN 900001 AND 900003;
SELECT * FROM public.error_of($$SELECT * FROM crm.consent_events$$);
SELECT * FROM public.error_of($$SELECT handle FROM crm.customer_contacts$$);
SELECT * FROM public.error_of($$SELECT * FROM crm.erasure_requests$$);
RESET ROLE;
SET ROLE crm_admin;
SELECT crm.record_consent(900002, 'email', true, 'web signup form', '2024-05-01 10:00') IS NOT NULL AS admin_records;
SELECT * FROM public.error_of($$UPDATE crm.consent_events SET granted = false$$);
RESET ROLE;
