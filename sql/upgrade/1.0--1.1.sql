-- Changes to objects of 1.0 (what 1.1 adds comes from its own parts, listed
-- before this file in the Makefile).

-- The pg_cron helpers are shared by every job (93_cron_jobs.sql): the
-- refresh's scheduling functions delegate to them, and the one-job
-- require_pg_cron(text) gives way to require_pg_cron(job_name, ...).
DROP FUNCTION @extschema@.require_pg_cron(text);

CREATE OR REPLACE FUNCTION @extschema@.schedule_refresh(schedule text DEFAULT '30 2 * * *')
RETURNS bigint
LANGUAGE sql VOLATILE
SET search_path = pg_catalog, pg_temp
RETURN @extschema@.schedule_job('retail_crm_refresh', schedule, 'CALL @extschema@.refresh_segments()',
	'crm.schedule_refresh()',
	'crm.schedule_refresh() schedules the refresh with pg_cron. Without it, call crm.refresh_segments() from any scheduler.');

CREATE OR REPLACE FUNCTION @extschema@.unschedule_refresh()
RETURNS boolean
LANGUAGE sql VOLATILE
SET search_path = pg_catalog, pg_temp
RETURN @extschema@.unschedule_job('retail_crm_refresh', 'refresh');
