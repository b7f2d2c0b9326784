-- CREATE EXTENSION, what it creates, and the labels every object carries.
CREATE EXTENSION retail_crm CASCADE;
SELECT extname, extversion, extrelocatable, extnamespace::regnamespace
FROM pg_extension WHERE extname = 'retail_crm';

-- Members of the extension, by kind: everything lives in schema crm.
-- Without the types that come with another object (the array type of every
-- type, the row type of every table and view, the multirange of a range):
-- PostgreSQL 17 and later record them as members too, earlier versions only
-- the object they come with, which is listed either way.
SELECT pg_describe_object(d.classid, d.objid, 0) AS object
FROM pg_depend AS d
WHERE d.refclassid = 'pg_extension'::regclass
  AND d.refobjid = (SELECT oid FROM pg_extension WHERE extname = 'retail_crm')
  AND d.deptype = 'e'
  AND NOT EXISTS (SELECT FROM pg_type AS t LEFT JOIN pg_class AS c ON c.oid = t.typrelid
				  WHERE d.classid = 'pg_type'::regclass AND t.oid = d.objid
					AND (c.relkind <> 'c' OR t.typtype = 'm'
						 OR EXISTS (SELECT FROM pg_type AS e WHERE e.typarray = t.oid)))
ORDER BY 1;

-- Labels of every function: volatility, parallel safety, strictness, pinned search_path.
SELECT p.oid::regprocedure AS function, p.prokind, p.provolatile, p.proparallel, p.proisstrict,
	   l.lanname, p.proconfig
FROM pg_proc AS p
JOIN pg_language AS l ON l.oid = p.prolang
WHERE p.pronamespace = 'crm'::regnamespace
ORDER BY p.oid::regprocedure::text;

-- Functions in SQL or PL/pgSQL without a pinned search_path: only the
-- procedure, which may not have one because it commits.
SELECT p.oid::regprocedure
FROM pg_proc AS p JOIN pg_language AS l ON l.oid = p.prolang
WHERE p.pronamespace = 'crm'::regnamespace AND l.lanname <> 'c' AND p.prokind <> 'a'
  AND (p.proconfig IS NULL OR NOT 'search_path=pg_catalog, pg_temp' = ANY (p.proconfig));

-- Everything a user or BI tool sees has a comment.
SELECT c.oid::regclass AS relation_without_comment
FROM pg_class AS c
WHERE c.relnamespace = 'crm'::regnamespace AND c.relkind IN ('r', 'v', 'c')
  AND obj_description(c.oid, 'pg_class') IS NULL
  AND c.relkind <> 'c';
SELECT c.oid::regclass AS relation, a.attname AS column_without_comment
FROM pg_class AS c JOIN pg_attribute AS a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
WHERE c.relnamespace = 'crm'::regnamespace AND c.relkind IN ('r', 'v', 'c')
  AND col_description(c.oid, a.attnum) IS NULL
ORDER BY c.oid::regclass::text, a.attname;
SELECT p.oid::regprocedure AS function_without_comment
FROM pg_proc AS p
WHERE p.pronamespace = 'crm'::regnamespace AND obj_description(p.oid, 'pg_proc') IS NULL;

-- BI views are flat: no array or composite columns.
SELECT c.oid::regclass AS view, a.attname, a.atttypid::regtype
FROM pg_class AS c JOIN pg_attribute AS a ON a.attrelid = c.oid AND a.attnum > 0
JOIN pg_type AS t ON t.oid = a.atttypid
WHERE c.relnamespace = 'crm'::regnamespace AND c.relkind = 'v'
  AND (t.typcategory = 'A' OR t.typtype = 'c');

-- Aggregates: concrete state type, combine function, parallel safe.
SELECT a.aggfnoid::regprocedure, a.aggtranstype::regtype, a.aggcombinefn, p.proparallel
FROM pg_aggregate AS a JOIN pg_proc AS p ON p.oid = a.aggfnoid
WHERE p.pronamespace = 'crm'::regnamespace
ORDER BY a.aggfnoid::regprocedure::text;

-- The defaults a fresh install scores with.
-- One setting a row; of the control group's salt, random at each install,
-- only its shape.
SELECT setting.key AS setting,
	   CASE WHEN setting.key = 'global_control_salt'
			THEN (setting.value ~ '^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$')::text
			ELSE setting.value END AS value
FROM crm.settings AS s, jsonb_each_text(to_jsonb(s)) AS setting
ORDER BY 1;
SELECT * FROM crm.rfm_fixed_breaks ORDER BY metric;

-- Installing works without pg_cron, and the schema cannot be moved.
SELECT count(*) AS pg_cron_installed FROM pg_extension WHERE extname = 'pg_cron';
ALTER EXTENSION retail_crm SET SCHEMA public;

-- Personal data: every column commented "Personal data" sits in a table
-- crm.forget_customer can reach by customer (its own customer_id or a
-- foreign key to a table with one), and no view an analyst may read uses one.
SELECT table_name AS personal_data_unreachable, column_name
FROM crm.personal_data_columns() WHERE customer_rows IS NULL;
SELECT DISTINCT v.oid::regclass AS analyst_view, t.oid::regclass AS reads_from, a.attname AS personal_column
FROM pg_class AS v
JOIN pg_rewrite AS r ON r.ev_class = v.oid
JOIN pg_depend AS d ON d.classid = 'pg_rewrite'::regclass AND d.objid = r.oid AND d.refobjsubid > 0
JOIN pg_class AS t ON t.oid = d.refobjid
JOIN pg_attribute AS a ON a.attrelid = t.oid AND a.attnum = d.refobjsubid
WHERE v.relnamespace = 'crm'::regnamespace AND v.relkind = 'v'
  AND has_table_privilege('crm_analyst', v.oid, 'SELECT')
  AND col_description(t.oid, a.attnum) LIKE 'Personal data%';
