-- What a BI tool sees as crm_analyst and crm_marketer, read through the
-- catalog queries pgjdbc's getTables and getColumns make (pg_class,
-- pg_namespace, pg_attribute with atttypmod and format_type, pg_description):
-- every relation listed has a comment; of those the role can read, every
-- column has one, every numeric column a precision and scale (or a reason
-- below), no column is a composite or an array, and SELECT * works (where
-- column grants withhold personal columns, on a view of the granted ones);
-- every routine the role can execute works on ordinary arguments.  Runs
-- late, so that the refresh has made partitions and the tables hold rows.
\set this_test bi_catalog
\i test/fixtures/earlier_tests.sql
SET client_min_messages = warning;

-- Numeric columns left without precision and scale, each with its reason.
-- A typmod would round what is stored: these hold values as entered or as
-- summed from crm.transactions.amount, which has no declared scale.
CREATE TEMP TABLE untyped_numeric_allowed (relation text, column_name text, reason text);
INSERT INTO untyped_numeric_allowed VALUES
	('loyalty_tiers', 'threshold', 'as entered by crm_admin, in the unit of qualify_on'),
	('loyalty_tiers', 'earn_rate', 'as entered by crm_admin'),
	('loyalty_tier_summary', 'threshold', 'crm.loyalty_tiers.threshold'),
	('loyalty_tier_summary', 'earn_rate', 'crm.loyalty_tiers.earn_rate'),
	('loyalty_tier_changes', 'qualifying_metric', 'exact net spend, visits or points the review saw'),
	('monthly_kpis', 'net_revenue', 'exact sum of crm.transactions.amount');

-- getTables (TABLE, PARTITIONED TABLE, VIEW, MATERIALIZED VIEW, FOREIGN
-- TABLE of schema crm) as the role sees it, with whether it may read it.
CREATE FUNCTION pg_temp.listed_relations()
RETURNS TABLE (relation oid, table_name name, table_type text, remarks text, readable boolean, column_grants boolean)
LANGUAGE sql STABLE
AS $$
	SELECT c.oid, c.relname,
		   CASE c.relkind WHEN 'r' THEN 'TABLE' WHEN 'p' THEN 'PARTITIONED TABLE' WHEN 'v' THEN 'VIEW'
						  WHEN 'm' THEN 'MATERIALIZED VIEW' WHEN 'f' THEN 'FOREIGN TABLE' END,
		   d.description,
		   pg_catalog.has_table_privilege(c.oid, 'SELECT'),
		   NOT pg_catalog.has_table_privilege(c.oid, 'SELECT') AND pg_catalog.has_any_column_privilege(c.oid, 'SELECT')
	FROM pg_catalog.pg_namespace AS n, pg_catalog.pg_class AS c
	LEFT JOIN pg_catalog.pg_description AS d
		ON c.oid = d.objoid AND d.objsubid = 0 AND d.classoid = 'pg_catalog.pg_class'::pg_catalog.regclass
	WHERE c.relnamespace = n.oid AND n.nspname LIKE 'crm' AND c.relname LIKE '%'
	  AND c.relkind IN ('r', 'p', 'v', 'm', 'f')
$$;

-- getColumns of the relations the role can read, with the precision and
-- scale JDBC derives from atttypmod (0 and 0 without one).
CREATE FUNCTION pg_temp.listed_columns()
RETURNS TABLE (table_name name, column_name name, type_name text, typtype "char", typcategory "char",
			   atttypid oid, atttypmod integer, remarks text)
LANGUAGE sql STABLE
AS $$
	SELECT c.relname, a.attname, pg_catalog.format_type(a.atttypid, a.atttypmod), t.typtype, t.typcategory,
		   a.atttypid, a.atttypmod, dsc.description
	FROM pg_catalog.pg_namespace AS n
	JOIN pg_catalog.pg_class AS c ON c.relnamespace = n.oid
	JOIN pg_catalog.pg_attribute AS a ON a.attrelid = c.oid
	JOIN pg_catalog.pg_type AS t ON a.atttypid = t.oid
	LEFT JOIN pg_catalog.pg_description AS dsc
		ON c.oid = dsc.objoid AND a.attnum = dsc.objsubid AND dsc.classoid = 'pg_catalog.pg_class'::pg_catalog.regclass
	WHERE c.relkind IN ('r', 'p', 'v', 'f', 'm') AND a.attnum > 0 AND NOT a.attisdropped AND n.nspname LIKE 'crm'
	  AND pg_catalog.has_table_privilege(c.oid, 'SELECT')
$$;

-- SELECT * ... LIMIT 0 of a relation: NULL when it works, else the SQLSTATE.
CREATE FUNCTION pg_temp.select_star_fails(relation oid)
RETURNS text
LANGUAGE plpgsql
AS $$
BEGIN
	EXECUTE format('SELECT * FROM %s LIMIT 0', relation::regclass);
	RETURN NULL;
EXCEPTION WHEN OTHERS THEN
	RETURN SQLSTATE;
END
$$;

-- Runs a call and undoes whatever it wrote: 'ok', or SQLSTATE and message.
-- Whole rows are formatted so that the planner cannot skip the call.
CREATE FUNCTION pg_temp.try_call(call text)
RETURNS text
LANGUAGE plpgsql
AS $$
BEGIN
	EXECUTE format('SELECT pg_catalog.string_agg(c::text, '','') FROM (SELECT %s) AS c', call);
	RAISE EXCEPTION USING ERRCODE = 'ZZ001', MESSAGE = 'undo';
EXCEPTION WHEN OTHERS THEN
	RETURN CASE WHEN SQLSTATE = 'ZZ001' THEN 'ok' ELSE SQLSTATE || ' ' || SQLERRM END;
END
$$;

-- An ordinary call of every routine in SQL or PL/pgSQL, or taking a
-- relation, that the analyst or the marketer may execute.  Routines in C
-- that take no relation compute from their arguments only (basket_pairs is
-- the one C routine that reads a table); trigger functions cannot be called.
CREATE TEMP TABLE routine_calls (routine regprocedure, call text);
INSERT INTO routine_calls VALUES
	('crm.consent_source(text)', $$crm.consent_source('UPDATE')$$),
	('crm.require_channel(text)', $$crm.require_channel('email')$$),
	('crm.config_error(text,text)', $$crm.config_error('what is wrong', 'what to do')$$),
	('crm.message_excerpt(text)', $$crm.message_excerpt(repeat('x', 100))$$),
	('crm.campaign_sample_size(double precision,double precision,double precision,double precision,double precision)', $$crm.campaign_sample_size(0.05, 0.01)$$),
	('crm.campaign_detectable_uplift(double precision,bigint,double precision,double precision,double precision)', $$crm.campaign_detectable_uplift(0.05, 100000)$$),
	('crm.planning_z(double precision,double precision,double precision,double precision)', $$crm.planning_z(0.05, 0.05, 0.8, 0.1)$$),
	('crm.compare_groups(crm.group_outcomes,crm.group_outcomes)', $$* FROM crm.compare_groups(ROW(1000, 60, 5000, 90000, 4000, 60000, 70000), ROW(1000, 50, 4000, 70000, 4000, 60000, 60000))$$),
	('crm.sample_ratio_p_value(bigint,bigint,double precision)', $$crm.sample_ratio_p_value(900, 100, 0.1)$$),
	('crm.require_enabled_channel(text)', $$crm.require_enabled_channel('email')$$),
	('crm.parse_audience(text)', $$* FROM crm.parse_audience('all')$$),
	('crm.in_global_control(bigint)', $$crm.in_global_control(1)$$),
	('crm.global_control_key()', $$* FROM crm.global_control_key()$$),
	('crm.has_history(bigint)', $$crm.has_history(1)$$),
	('crm.distribution_plan()', $$* FROM crm.distribution_plan()$$),
	('crm.segment_cells(text)', $$* FROM crm.segment_cells('default')$$),
	('crm.check_segment_rules(text)', $$* FROM crm.check_segment_rules('default')$$),
	('crm.check_transaction_source(regclass)', $$crm.check_transaction_source('crm.transactions')$$),
	('crm.transaction_source()', $$crm.transaction_source()$$),
	('crm.current_model_id(text)', $$crm.current_model_id('bgnbd')$$),
	('crm.purchase_model_parameters(text)', $$crm.purchase_model_parameters('bgnbd')$$),
	('crm.purchase_model_kinds()', $$crm.purchase_model_kinds()$$),
	('crm.purchase_model_expression(text,text)', $$crm.purchase_model_expression('bgnbd', 'm')$$),
	('crm.churn_model_choice()', $$* FROM crm.churn_model_choice()$$),
	('crm.settings_fingerprint()', $$crm.settings_fingerprint()$$),
	('crm.run_partition(text,bigint)', $$crm.run_partition('segment_history', 1)$$),
	('crm.per_run_table(text)', $$crm.per_run_table('segment_history')$$),
	('crm.basket_pairs(regclass,double precision,integer)', $$* FROM crm.basket_pairs('pg_temp.my_baskets', 0.1, 100)$$),
	('crm.recommend(bigint,integer)', $$* FROM crm.recommend((SELECT min(s.customer_id) FROM crm.customer_segments AS s WHERE s.segment IS NOT NULL), 3)$$),
	('crm.complaint_metrics(timestamp with time zone)', $$* FROM crm.complaint_metrics(now())$$),
	('crm.normalized_email(text)', $$crm.normalized_email(' Ann@Example.org')$$),
	('crm.normalized_phone(text)', $$crm.normalized_phone('+44 20 7946 0000')$$),
	('crm.personal_data_columns()', $$* FROM crm.personal_data_columns()$$),
	('crm.audience(text,text)', $$* FROM crm.audience('Champions', 'email')$$),
	('crm.create_campaign(text,text,text,double precision,timestamp with time zone,timestamp with time zone,integer,numeric,double precision)',
	 $$crm.create_campaign('BI check', 'Champions', 'email')$$),
	('crm.launch_campaign(bigint)', $$* FROM crm.launch_campaign(crm.create_campaign('BI check', 'Champions', 'email'))$$),
	('crm.campaign_sends(bigint)',
	 $$* FROM crm.campaign_sends((SELECT max(c.campaign_id) FROM crm.campaigns AS c JOIN crm.campaign_launches USING (campaign_id) WHERE c.ends_at > now()))$$),
	('crm.record_campaign_event(bigint,bigint,text,timestamp with time zone)',
	 $$crm.record_campaign_event(m.campaign_id, m.customer_id, 'clicked') FROM crm.campaign_members AS m JOIN crm.campaigns AS c USING (campaign_id) WHERE m.assigned_group = 'treatment' AND c.ends_at > now() LIMIT 1$$),
	('crm.loyalty_period(text,timestamp with time zone,timestamp with time zone)', $$* FROM crm.loyalty_period('calendar_year', '2024-03-01', '2025-06-01')$$),
	('crm.loyalty_review_date(date,interval,timestamp with time zone)', $$crm.loyalty_review_date('2025-01-01', interval '1 year', '2025-06-01')$$),
	('crm.points_balance(bigint)', $$crm.points_balance((SELECT min(m.customer_id) FROM crm.loyalty_members AS m))$$),
	('crm.points_check_arguments(bigint,bigint,text)', $$crm.points_check_arguments(1, 10, 'key')$$),
	('crm.points_replay(text,text,bigint,bigint)', $$* FROM crm.points_replay('earn', 'no such key', 1, 10)$$);
GRANT SELECT ON untyped_numeric_allowed, routine_calls TO PUBLIC;

-- The internals that read what only crm_admin may read are crm_admin's.
SELECT r AS routine, has_function_privilege('crm_analyst', r, 'EXECUTE') AS analyst,
	   has_function_privilege('crm_marketer', r, 'EXECUTE') AS marketer,
	   has_function_privilege('crm_admin', r, 'EXECUTE') AS admin
FROM unnest(ARRAY['crm.customer_ids_merged_into(bigint)', 'crm.logged_consent(bigint,text)',
				  'crm.loyalty_metric(bigint,text,timestamptz,timestamptz,timestamptz)',
				  'crm.require_pg_cron(text,text,text,text,text)']::regprocedure[]) AS r;

-- Tables whose personal columns column grants withhold, so that SELECT *
-- on them fails, and the view of exactly the granted columns BI tools read.
CREATE TEMP TABLE whole_views (table_name name, view_name name);
INSERT INTO whole_views VALUES ('complaint_tickets', 'complaint_ticket_list'), ('complaint_events', 'complaint_event_list');
GRANT SELECT ON whole_views TO PUBLIC;

-- Whatever a BI tool connected as the current role would trip over.
CREATE FUNCTION pg_temp.catalog_problems()
RETURNS TABLE (table_name name, column_name name, problem text)
LANGUAGE sql
AS $$
	SELECT l.table_name, NULL::name, 'listed without a comment' FROM pg_temp.listed_relations() AS l WHERE l.remarks IS NULL
	UNION ALL
	SELECT l.table_name, NULL, 'SELECT * fails with ' || pg_temp.select_star_fails(l.relation)
	FROM pg_temp.listed_relations() AS l
	WHERE (l.readable OR l.column_grants) AND pg_temp.select_star_fails(l.relation) IS NOT NULL
	  AND NOT (l.column_grants AND l.table_name IN (SELECT w.table_name FROM whole_views AS w))
	UNION ALL
	-- A whole view has the granted columns, no more, no fewer.
	(SELECT w.view_name, a.attname, 'column granted on ' || w.table_name || ' but not in the view'
	 FROM whole_views AS w
	 JOIN pg_catalog.pg_attribute AS a ON a.attrelid = ('crm.' || w.table_name)::regclass AND a.attnum > 0 AND NOT a.attisdropped
	 WHERE pg_catalog.has_column_privilege(a.attrelid, a.attnum, 'SELECT')
	   AND NOT EXISTS (SELECT 1 FROM pg_temp.listed_columns() AS c WHERE c.table_name = w.view_name AND c.column_name = a.attname))
	UNION ALL
	(SELECT w.view_name, c.column_name, 'column in the view but not granted on ' || w.table_name
	 FROM whole_views AS w
	 JOIN pg_temp.listed_columns() AS c ON c.table_name = w.view_name
	 WHERE NOT pg_catalog.has_column_privilege(('crm.' || w.table_name)::regclass, c.column_name, 'SELECT'))
	UNION ALL
	SELECT c.table_name, c.column_name, 'column without a comment' FROM pg_temp.listed_columns() AS c WHERE c.remarks IS NULL
	UNION ALL
	SELECT c.table_name, c.column_name, 'composite or array column: ' || c.type_name
	FROM pg_temp.listed_columns() AS c WHERE c.typtype = 'c' OR c.typcategory = 'A'
	UNION ALL
	SELECT c.table_name, c.column_name, 'numeric without precision and scale'
	FROM pg_temp.listed_columns() AS c
	WHERE c.atttypid = 'numeric'::regtype AND c.atttypmod < 0
	  AND NOT EXISTS (SELECT 1 FROM untyped_numeric_allowed AS a WHERE a.relation = c.table_name AND a.column_name = c.column_name)
$$;

SET ROLE crm_analyst;
CREATE TEMP TABLE my_baskets (transaction_id text, product_id text);
INSERT INTO my_baskets VALUES ('t1', 'a'), ('t1', 'b'), ('t2', 'a'), ('t2', 'b'), ('t3', 'a');

-- What the analyst reads (column_grants: some columns only).
SELECT table_name, table_type, column_grants FROM pg_temp.listed_relations() WHERE readable OR column_grants ORDER BY 1;
SELECT * FROM pg_temp.catalog_problems() ORDER BY 1, 2, 3;
-- Partitions are listed too, unreadable: they say what to read instead.
SELECT count(*) > 0 AS partitions_listed,
	   bool_and(remarks LIKE 'Partition of crm.segment_% for refresh run %, internal: read crm.% instead.') AS partitions_say_what_to_read,
	   bool_or(readable) AS any_readable
FROM pg_temp.listed_relations() AS l
WHERE EXISTS (SELECT 1 FROM pg_inherits AS i WHERE i.inhrelid = l.relation);
-- The allowlist stays true: each entry is a readable untyped numeric.
SELECT a.relation, a.column_name FROM untyped_numeric_allowed AS a
WHERE NOT EXISTS (SELECT 1 FROM pg_temp.listed_columns() AS c
				  WHERE c.table_name = a.relation AND c.column_name = a.column_name
					AND c.atttypid = 'numeric'::regtype AND c.atttypmod < 0);
-- Precision and scale as JDBC reports them ((typmod - 4) >> 16, (typmod - 4) & 65535).
SELECT type_name, ((atttypmod - 4) >> 16) & 65535 AS jdbc_precision, (atttypmod - 4) & 65535 AS jdbc_scale, count(*) AS columns
FROM pg_temp.listed_columns() WHERE atttypid = 'numeric'::regtype AND atttypmod >= 0
GROUP BY 1, 2, 3 ORDER BY 2, 3;

-- The marketer reads more (the audience and send-list logs): the same checks.
SET ROLE crm_marketer;
SELECT table_name FROM pg_temp.listed_relations() WHERE readable
EXCEPT
SELECT c.relname FROM pg_class AS c
WHERE c.relnamespace = 'crm'::regnamespace AND has_table_privilege('crm_analyst', c.oid, 'SELECT');
SELECT * FROM pg_temp.catalog_problems() ORDER BY 1, 2, 3;
SET ROLE crm_analyst;

-- Every routine the analyst, then the marketer, may execute works.
CREATE FUNCTION pg_temp.routine_results()
RETURNS TABLE (routine regprocedure, result text)
LANGUAGE sql
AS $$
	SELECT p.oid::regprocedure,
		   CASE WHEN rc.call IS NULL THEN 'no ordinary call listed in routine_calls' ELSE pg_temp.try_call(rc.call) END
	FROM pg_catalog.pg_proc AS p
	JOIN pg_catalog.pg_language AS l ON l.oid = p.prolang
	LEFT JOIN routine_calls AS rc ON rc.routine = p.oid
	WHERE p.pronamespace = 'crm'::regnamespace
	  AND pg_catalog.has_function_privilege(p.oid, 'EXECUTE')
	  AND p.prorettype <> 'trigger'::regtype
	  AND (l.lanname NOT IN ('c', 'internal') OR 'regclass'::regtype = ANY (p.proargtypes::oid[]))
$$;
SELECT routine, result FROM pg_temp.routine_results() WHERE result <> 'ok' ORDER BY 1::text;
SELECT count(*) AS routines_called FROM pg_temp.routine_results();
SET ROLE crm_marketer;
SELECT routine, result FROM pg_temp.routine_results() WHERE result <> 'ok' ORDER BY 1::text;
SELECT count(*) AS routines_called FROM pg_temp.routine_results();
RESET ROLE;
-- Every call listed is of a routine one of them may execute.
SELECT routine FROM routine_calls
WHERE NOT has_function_privilege('crm_marketer', routine, 'EXECUTE') ORDER BY 1::text;

-- Where pg_cron is loaded but not created here, crm_admin gets 55000 with
-- the steps, not 42501 on pg_cron's superuser-only setting.
SET ROLE crm_admin;
SELECT pg_temp.try_call($$crm.require_pg_cron('job', '* * * * *', 'SELECT 1', 'crm.schedule_refresh()', 'detail')$$) ~ '^(ok|55000)' AS admin_gets_steps;
RESET ROLE;
DROP TABLE untyped_numeric_allowed, routine_calls, whole_views;
RESET client_min_messages;
