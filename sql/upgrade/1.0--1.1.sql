-- Changes to the objects of 1.0.  What 1.1 adds comes from its own parts,
-- which the Makefile appends (see UPGRADE_1.0_1.1_PARTS).

-- crm.customer_segments becomes a view over one partition per full refresh,
-- crm.segment_history a table partitioned by run (83_snapshots.sql).  The
-- 1.0 views are dropped and created again from 90_views.sql (with their
-- grants, 97_grants.sql, which also drops 1.0's grant of every right on
-- every view to crm_admin); the 1.0 tables are set aside here and their
-- rows move into partitions at the end (1.0--1.1-partitions.sql).  Views of
-- the user's reading these would follow the tables set aside, so the update
-- refuses to run while there are any.
DO $upgrade$
DECLARE
	replaced regclass[] := ARRAY['@extschema@.customer_segments', '@extschema@.segment_history', '@extschema@.segment_summary',
		'@extschema@.rfm_grid', '@extschema@.lifecycle_summary', '@extschema@.segment_migration',
		'@extschema@.customer_360', '@extschema@.rfm_breaks', '@extschema@.churn_watch_list',
		'@extschema@.clv_by_segment', '@extschema@.model_diagnostics']::pg_catalog.regclass[];
	dependents text;
BEGIN
	SELECT pg_catalog.string_agg(DISTINCT r.ev_class::pg_catalog.regclass::text, ', ')
	INTO dependents
	FROM pg_catalog.pg_depend AS d
	JOIN pg_catalog.pg_rewrite AS r ON d.classid = 'pg_catalog.pg_rewrite'::pg_catalog.regclass AND d.objid = r.oid
	WHERE d.refclassid = 'pg_catalog.pg_class'::pg_catalog.regclass
	  AND d.refobjid = ANY (replaced)
	  AND NOT r.ev_class = ANY (replaced)
	  AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_depend AS e
					  WHERE e.classid = 'pg_catalog.pg_class'::pg_catalog.regclass AND e.objid = r.ev_class
						AND e.refclassid = 'pg_catalog.pg_extension'::pg_catalog.regclass AND e.deptype = 'e');
	IF dependents IS NOT NULL THEN
		RAISE EXCEPTION USING ERRCODE = 'dependent_objects_still_exist',
			MESSAGE = pg_catalog.format('retail_crm 1.1 replaces crm.customer_segments, crm.segment_history and the views built on them, and these views read them: %s', dependents),
			HINT = 'Save their definitions (SELECT pg_get_viewdef(''name''::regclass)), drop them, run ALTER EXTENSION retail_crm UPDATE again and create them again.';
	END IF;
END
$upgrade$;
DROP VIEW @extschema@.segment_summary, @extschema@.rfm_grid, @extschema@.lifecycle_summary,
	@extschema@.segment_migration, @extschema@.customer_360, @extschema@.rfm_breaks,
	@extschema@.churn_watch_list, @extschema@.clv_by_segment, @extschema@.model_diagnostics;
ALTER EXTENSION retail_crm DROP TABLE @extschema@.customer_segments;
ALTER TABLE @extschema@.customer_segments RENAME TO customer_segments_1_0;
ALTER EXTENSION retail_crm DROP TABLE @extschema@.segment_history;
ALTER TABLE @extschema@.segment_history RENAME TO segment_history_1_0;
ALTER INDEX @extschema@.segment_history_pkey RENAME TO segment_history_1_0_pkey;
-- PostgreSQL 18 and later keep NOT NULL constraints in pg_constraint, named
-- <table>_<column>_not_null: renamed like the index, so that the new
-- crm.segment_history gets the names a fresh install gives it (before 18
-- there are none to rename).
DO $not_null$
DECLARE
	constraint_name name;
BEGIN
	FOR constraint_name IN SELECT c.conname FROM pg_catalog.pg_constraint AS c
		WHERE c.conrelid = '@extschema@.segment_history_1_0'::pg_catalog.regclass AND c.contype = 'n' LOOP
		EXECUTE pg_catalog.format('ALTER TABLE @extschema@.segment_history_1_0 RENAME CONSTRAINT %I TO %I',
								  constraint_name, constraint_name || '_1_0');
	END LOOP;
END
$not_null$;

-- The incremental refresh (82_incremental.sql, 81_refresh.sql).
ALTER TABLE @extschema@.refresh_runs
	ADD COLUMN mode text CONSTRAINT refresh_runs_mode_known CHECK (mode IN ('full', 'incremental')),
	ADD COLUMN settings_fingerprint text;
COMMENT ON COLUMN @extschema@.refresh_runs.mode IS 'full (every customer) or incremental (the customers in crm.changed_customers); an incremental call that had to run in full says full. NULL for runs before version 1.1.';
COMMENT ON COLUMN @extschema@.refresh_runs.settings_fingerprint IS 'crm.settings_fingerprint() at the run: an incremental refresh builds on the last full run only while it is unchanged.';
-- Routines whose arguments changed; 81_refresh.sql creates them anew.
DROP PROCEDURE @extschema@.refresh_segments(timestamptz);
DROP FUNCTION @extschema@.refresh_start(timestamptz);
DROP FUNCTION @extschema@.build_facts(timestamptz, regclass);

-- The pg_cron helpers are shared by every job (91_cron_jobs.sql): the
-- refresh's scheduling functions (95_schedule.sql, run again below) delegate
-- to them, and the one-job require_pg_cron(text) gives way to
-- require_pg_cron(job_name, ...).
DROP FUNCTION @extschema@.require_pg_cron(text);
