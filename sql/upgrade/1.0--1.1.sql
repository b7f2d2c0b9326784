-- Changes to the objects of 1.0.  What 1.1 adds comes from its own parts,
-- which the Makefile appends (see UPGRADE_1.0_1.1_PARTS).

-- 1.0 granted crm_admin every right on every relation of the schema, views
-- included; 1.1 grants table by table, and admins read views as analysts.
REVOKE ALL ON
	@extschema@.segment_summary, @extschema@.rfm_grid, @extschema@.lifecycle_summary,
	@extschema@.segment_migration, @extschema@.customer_360, @extschema@.rfm_breaks,
	@extschema@.churn_watch_list, @extschema@.clv_by_segment, @extschema@.model_diagnostics
FROM crm_admin;

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
