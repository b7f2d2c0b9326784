-- test/integration/catalog_snapshot.sql: everything retail_crm puts in a
-- database, one line per fact, sorted, so that two databases can be compared
-- with diff (used by upgrade.sh: an updated old version must equal a fresh
-- install).  Function bodies and view definitions appear as md5 sums.
\pset format unaligned
\pset tuples_only on
WITH ext AS (SELECT oid, extnamespace FROM pg_extension WHERE extname = 'retail_crm'),
facts(fact) AS (
	SELECT 'version ' || extversion || ' config ' ||
		   coalesce((SELECT string_agg(c::regclass::text || ' ' || coalesce(w, ''), '; ' ORDER BY c::regclass::text)
					 FROM unnest(extconfig, extcondition) AS u(c, w)), '')
	FROM pg_extension WHERE extname = 'retail_crm'
	UNION ALL
	SELECT 'member ' || pg_describe_object(d.classid, d.objid, d.objsubid)
	FROM pg_depend AS d, ext
	WHERE d.refclassid = 'pg_extension'::regclass AND d.refobjid = ext.oid AND d.deptype = 'e'
	UNION ALL
	SELECT format('relation %s kind %s acl %s comment %s options %s',
				  c.oid::regclass, c.relkind, c.relacl, md5(coalesce(obj_description(c.oid, 'pg_class'), '')),
				  c.reloptions)
	FROM pg_class AS c, ext WHERE c.relnamespace = ext.extnamespace
	UNION ALL
	SELECT format('column %s.%s %s notnull %s default %s identity %s generated %s comment %s acl %s',
				  c.oid::regclass, a.attname, format_type(a.atttypid, a.atttypmod), a.attnotnull,
				  pg_get_expr(ad.adbin, ad.adrelid), a.attidentity, a.attgenerated,
				  md5(coalesce(col_description(c.oid, a.attnum), '')), a.attacl)
	FROM pg_class AS c JOIN ext ON c.relnamespace = ext.extnamespace
	JOIN pg_attribute AS a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
	LEFT JOIN pg_attrdef AS ad ON ad.adrelid = c.oid AND ad.adnum = a.attnum
	UNION ALL
	SELECT format('constraint %s %s %s', co.conrelid::regclass, co.conname, pg_get_constraintdef(co.oid))
	FROM pg_constraint AS co, ext WHERE co.connamespace = ext.extnamespace
	UNION ALL
	SELECT 'index ' || pg_get_indexdef(i.indexrelid)
	FROM pg_index AS i JOIN pg_class AS c ON c.oid = i.indexrelid, ext
	WHERE c.relnamespace = ext.extnamespace
	UNION ALL
	SELECT 'trigger ' || pg_get_triggerdef(t.oid)
	FROM pg_trigger AS t JOIN pg_class AS c ON c.oid = t.tgrelid, ext
	WHERE c.relnamespace = ext.extnamespace AND NOT t.tgisinternal
	UNION ALL
	SELECT 'view ' || c.oid::regclass || ' ' || md5(pg_get_viewdef(c.oid))
	FROM pg_class AS c, ext WHERE c.relnamespace = ext.extnamespace AND c.relkind IN ('v', 'm')
	UNION ALL
	SELECT format('routine %s kind %s returns %s volatile %s parallel %s strict %s secdef %s leakproof %s cost %s rows %s config %s acl %s body %s comment %s',
				  p.oid::regprocedure, p.prokind, pg_get_function_result(p.oid), p.provolatile,
				  p.proparallel, p.proisstrict, p.prosecdef, p.proleakproof, p.procost, p.prorows,
				  p.proconfig, p.proacl,
				  -- the whole definition: prosrc is empty for SQL-standard bodies
				  md5(CASE WHEN p.prokind = 'a' THEN p.prosrc ELSE pg_get_functiondef(p.oid) END),
				  md5(coalesce(obj_description(p.oid, 'pg_proc'), '')))
	FROM pg_proc AS p, ext WHERE p.pronamespace = ext.extnamespace
	UNION ALL
	SELECT format('aggregate %s trans %s final %s combine %s serial %s deserial %s stype %s init %s',
				  a.aggfnoid::regprocedure, a.aggtransfn, a.aggfinalfn, a.aggcombinefn, a.aggserialfn,
				  a.aggdeserialfn, a.aggtranstype::regtype, a.agginitval)
	FROM pg_aggregate AS a JOIN pg_proc AS p ON p.oid = a.aggfnoid, ext
	WHERE p.pronamespace = ext.extnamespace
	UNION ALL
	SELECT format('type %s kind %s comment %s', t.oid::regtype, t.typtype,
				  md5(coalesce(obj_description(t.oid, 'pg_type'), '')))
	FROM pg_type AS t, ext
	WHERE t.typnamespace = ext.extnamespace AND t.typtype IN ('c', 'e', 'd', 'b') AND t.typrelid = 0
	UNION ALL
	SELECT format('enum %s %s %s', e.enumtypid::regtype, e.enumsortorder, e.enumlabel)
	FROM pg_enum AS e JOIN pg_type AS t ON t.oid = e.enumtypid, ext
	WHERE t.typnamespace = ext.extnamespace
	UNION ALL
	SELECT format('sequence %s start %s increment %s', s.seqrelid::regclass, s.seqstart, s.seqincrement)
	FROM pg_sequence AS s JOIN pg_class AS c ON c.oid = s.seqrelid, ext
	WHERE c.relnamespace = ext.extnamespace
	UNION ALL
	SELECT format('schema acl %s', n.nspacl) FROM pg_namespace AS n, ext WHERE n.oid = ext.extnamespace
)
SELECT fact FROM facts ORDER BY fact COLLATE "C";

-- Contents of every table (install-time configuration must match too),
-- but the change queue of the incremental refresh: restoring the sales
-- queues their customers again, harmlessly; nor the salt of the global
-- control group in crm.settings, random in each installation
-- (dump_restore.sh checks that a restore keeps it).  And what readers see of the snapshot partitions:
-- the view crm.customer_segments.
SELECT format('SELECT %L || '' rows '' || count(*) || '' '' || coalesce(md5(string_agg(%s, E''\n'' ORDER BY %2$s)), '''') FROM %1$s AS t',
			  c.oid::regclass,
			  CASE WHEN c.relname = 'settings' THEN '(to_jsonb(t) - ''global_control_salt'')::text' ELSE 't::text' END)
FROM pg_class AS c JOIN pg_extension AS e ON e.extname = 'retail_crm' AND c.relnamespace = e.extnamespace
WHERE (c.relkind IN ('r', 'p') OR c.relname = 'customer_segments') AND c.relname <> 'changed_customers'
ORDER BY c.oid::regclass::text COLLATE "C"
\gexec
