-- scripts/bi_reference.sql: REFERENCE.md's BI column reference, from the
-- catalog of a database with retail_crm installed: one Markdown table per
-- relation crm_analyst can read whole, its columns with their declared
-- types and comments.  ODBC drivers show no comments, so REFERENCE.md must.
-- Run by scripts/bi_reference.sh.
\set ON_ERROR_STOP on
\pset format unaligned
\pset tuples_only on
SELECT string_agg(section, E'\n' ORDER BY relname)
FROM (
	SELECT c.relname,
		   format(E'### `crm.%s` (%s)\n\n%s\n\n| Column | Type | Description |\n| --- | --- | --- |\n%s\n',
				  c.relname,
				  CASE c.relkind WHEN 'v' THEN 'view' WHEN 'm' THEN 'materialized view' WHEN 'p' THEN 'partitioned table' ELSE 'table' END,
				  replace(obj_description(c.oid, 'pg_class'), '|', '\|'),
				  (SELECT string_agg(format('| `%s` | %s | %s |', a.attname, format_type(a.atttypid, a.atttypmod),
											replace(coalesce(col_description(c.oid, a.attnum), ''), '|', '\|')),
									 E'\n' ORDER BY a.attnum)
				   FROM pg_attribute AS a
				   WHERE a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped)) AS section
	FROM pg_class AS c
	WHERE c.relnamespace = 'crm'::regnamespace
	  AND c.relkind IN ('r', 'p', 'v', 'm', 'f')
	  AND has_table_privilege('crm_analyst', c.oid, 'SELECT')
) AS s;
