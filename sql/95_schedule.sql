-- Nightly refresh through pg_cron (helpers: 91_cron_jobs.sql).  Functions
-- only, created with CREATE OR REPLACE, so that an upgrade can run this part
-- again.

CREATE OR REPLACE FUNCTION @extschema@.schedule_refresh(schedule text DEFAULT '30 2 * * *')
RETURNS bigint
LANGUAGE sql VOLATILE
SET search_path = pg_catalog, pg_temp
RETURN @extschema@.schedule_job('retail_crm_refresh', schedule, 'CALL @extschema@.refresh_segments()',
	'crm.schedule_refresh()',
	'crm.schedule_refresh() schedules the refresh with pg_cron. Without it, call crm.refresh_segments() from any scheduler.');
COMMENT ON FUNCTION @extschema@.schedule_refresh(text) IS
	'Schedules CALL crm.refresh_segments() with pg_cron under the job name retail_crm_refresh (schedule in GMT, default 02:30 daily) and returns the job id; calling it again changes the schedule. Needs pg_cron in this database; otherwise raises 55000 with the steps to take.';

CREATE OR REPLACE FUNCTION @extschema@.unschedule_refresh()
RETURNS boolean
LANGUAGE sql VOLATILE
SET search_path = pg_catalog, pg_temp
RETURN @extschema@.unschedule_job('retail_crm_refresh', 'refresh');
COMMENT ON FUNCTION @extschema@.unschedule_refresh() IS
	'Removes the pg_cron job of crm.schedule_refresh(). Returns false, with a notice, when there is none.';

-- Rights of the routines above: scheduling the refresh is crm_admin's.
REVOKE EXECUTE ON FUNCTION @extschema@.schedule_refresh(text), @extschema@.unschedule_refresh() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION @extschema@.schedule_refresh(text), @extschema@.unschedule_refresh() TO crm_admin;
