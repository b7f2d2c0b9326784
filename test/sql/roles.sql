-- The three roles and what each can reach, proved with SET ROLE.
\set this_test roles
\i test/fixtures/earlier_tests.sql
SET timezone = 'UTC';
\set SHOW_CONTEXT never
SET client_min_messages = warning;

SELECT rolname, rolcanlogin FROM pg_roles WHERE rolname LIKE 'crm\_%' ORDER BY 1;
SELECT r.rolname AS member, m.rolname AS of_role
FROM pg_auth_members AS a JOIN pg_roles AS r ON r.oid = a.member JOIN pg_roles AS m ON m.oid = a.roleid
WHERE r.rolname LIKE 'crm\_%' ORDER BY 1, 2;

-- What each role may read: the BI views and results, never the tables
-- with personal data (customers) or purchase histories (transactions).
SELECT r.role, c.relname,
	   has_table_privilege(r.role, c.oid, 'SELECT') AS can_select,
	   has_table_privilege(r.role, c.oid, 'UPDATE') AS can_update
FROM (VALUES ('crm_analyst'), ('crm_marketer'), ('crm_admin')) AS r (role)
CROSS JOIN pg_class AS c
WHERE c.relnamespace = 'crm'::regnamespace AND c.relkind IN ('r', 'p', 'v') AND NOT c.relispartition
ORDER BY c.relname, r.role;

-- Which routines each role may call (only the ones PUBLIC may not).
SELECT p.oid::regprocedure AS routine,
	   has_function_privilege('crm_analyst', p.oid, 'EXECUTE') AS analyst,
	   has_function_privilege('crm_admin', p.oid, 'EXECUTE') AS admin
FROM pg_proc AS p
WHERE p.pronamespace = 'crm'::regnamespace
  AND NOT has_function_privilege('public', p.oid, 'EXECUTE')
ORDER BY p.oid::regprocedure::text;

-- An analyst reads views; personal data and changes are refused.
SET ROLE crm_analyst;
SELECT count(*) > 0 AS reads_segments FROM crm.segment_summary;
SELECT count(*) > 0 AS reads_customer_360 FROM crm.customer_360;
SELECT * FROM public.error_of($$SELECT first_name FROM crm.customers$$);
SELECT * FROM public.error_of($$SELECT handle FROM crm.customer_contacts$$);
SELECT count(*) AS channels_readable FROM crm.channels;
SELECT * FROM public.error_of($$INSERT INTO crm.channels VALUES ('line', 'platform_id', 'LINE messages.')$$);
SELECT * FROM public.error_of($$SELECT count(*) FROM crm.transactions$$);
SELECT * FROM public.error_of($$UPDATE crm.settings SET clv_months = 24$$);
SELECT * FROM public.error_of($$SELECT crm.set_transaction_source('crm.transactions')$$);
SELECT * FROM public.error_of($$SELECT crm.schedule_refresh()$$);
CALL crm.refresh_segments('2024-03-01 00:00+00');
-- The analyst can still use the pure functions.
SELECT (crm.rfm_score(10, 3, 250, '{30,60,120,240}', '{1,2,4,9}', '{250,500,1000,2500}')).rfm_code;
RESET ROLE;

-- A marketer sees what analysts see, nothing more yet.
SET ROLE crm_marketer;
SELECT count(*) > 0 AS reads_segments FROM crm.segment_summary;
SELECT * FROM public.error_of($$SELECT handle FROM crm.customer_contacts$$);
SELECT * FROM public.error_of($$SELECT crm.set_contact(1, 'email', 'x@example.com')$$);
RESET ROLE;

-- An admin configures and refreshes.
SET ROLE crm_admin;
UPDATE crm.settings SET clv_months = 24;
UPDATE crm.settings SET clv_months = 12;
CALL crm.refresh_segments('2024-03-01 00:00+00');
SELECT status FROM crm.refresh_runs ORDER BY run_id DESC LIMIT 1;
SELECT count(*) > 0 AS reads_customers FROM crm.customers;
RESET ROLE;
