-- Nightly refresh through pg_cron, which stays optional: it is looked up at
-- call time, never required by the control file.

-- Raises 55000 with the exact steps to take when pg_cron cannot be used from
-- this database.
CREATE FUNCTION @extschema@.require_pg_cron(schedule text)
RETURNS void
LANGUAGE plpgsql STABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	cron_database text := current_setting('cron.database_name', true);
BEGIN
	IF EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'pg_cron') THEN
		RETURN;
	END IF;
	IF cron_database IS NULL THEN
		RAISE EXCEPTION USING ERRCODE = 'object_not_in_prerequisite_state',
			MESSAGE = 'pg_cron is not installed',
			DETAIL = 'crm.schedule_refresh() schedules the refresh with pg_cron. Without it, call crm.refresh_segments() from any scheduler.',
			HINT = format('Install pg_cron (Debian: apt-get install postgresql-15-cron), set shared_preload_libraries = ''pg_cron'' and cron.database_name = %L in postgresql.conf, restart PostgreSQL, run CREATE EXTENSION pg_cron; in that database, then call crm.schedule_refresh() again.',
						  current_database());
	ELSIF cron_database <> current_database() THEN
		RAISE EXCEPTION USING ERRCODE = 'object_not_in_prerequisite_state',
			MESSAGE = format('pg_cron runs in database %s, not in %s', cron_database, current_database()),
			HINT = format('Connect to database %s and run: SELECT cron.schedule_in_database(%L, %L, %L, %L);',
						  cron_database, 'retail_crm_refresh_' || current_database(), schedule,
						  'CALL @extschema@.refresh_segments()', current_database());
	ELSE
		RAISE EXCEPTION USING ERRCODE = 'object_not_in_prerequisite_state',
			MESSAGE = 'pg_cron is loaded but its extension is not created in this database',
			HINT = 'Run CREATE EXTENSION pg_cron; here, then call crm.schedule_refresh() again.';
	END IF;
END
$$;
COMMENT ON FUNCTION @extschema@.require_pg_cron(text) IS
	'Internal: raises 55000 with the steps to take when pg_cron cannot schedule jobs for this database. Stable because it reads the catalog and settings.';

CREATE FUNCTION @extschema@.schedule_refresh(schedule text DEFAULT '30 2 * * *')
RETURNS bigint
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	job bigint;
	cron_message text;
BEGIN
	IF schedule IS NULL OR btrim(schedule) = '' THEN
		RAISE EXCEPTION USING ERRCODE = 'invalid_parameter_value',
			MESSAGE = 'schedule must be a cron expression, not empty',
			HINT = 'Use the five-field cron syntax in GMT, e.g. ''30 2 * * *'' for 02:30 GMT every day.';
	END IF;
	PERFORM @extschema@.require_pg_cron(schedule);
	BEGIN
		-- Dynamic: the cron schema does not exist when pg_cron is absent.
		-- Scheduling the same job name again updates the job.
		EXECUTE 'SELECT cron.schedule_in_database($1, $2, $3, $4)'
			INTO job
			USING 'retail_crm_refresh', schedule, 'CALL @extschema@.refresh_segments()', current_database();
	EXCEPTION WHEN invalid_parameter_value OR internal_error THEN
		GET STACKED DIAGNOSTICS cron_message = MESSAGE_TEXT;
		RAISE EXCEPTION USING ERRCODE = 'invalid_parameter_value',
			MESSAGE = format('invalid schedule %L', schedule),
			DETAIL = format('pg_cron says: %s', cron_message),
			HINT = 'Use the five-field cron syntax in GMT, e.g. ''30 2 * * *''; pg_cron 1.4 has minute granularity.';
	END;
	RETURN job;
END
$$;
COMMENT ON FUNCTION @extschema@.schedule_refresh(text) IS
	'Schedules CALL crm.refresh_segments() with pg_cron under the job name retail_crm_refresh (schedule in GMT, default 02:30 daily) and returns the job id; calling it again changes the schedule. Needs pg_cron in this database; otherwise raises 55000 with the steps to take.';

CREATE FUNCTION @extschema@.unschedule_refresh()
RETURNS boolean
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	job bigint;
BEGIN
	IF NOT EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'pg_cron') THEN
		RAISE NOTICE 'pg_cron is not installed in this database, so no refresh is scheduled';
		RETURN false;
	END IF;
	EXECUTE 'SELECT jobid FROM cron.job WHERE jobname = $1 AND database = $2'
		INTO job
		USING 'retail_crm_refresh', current_database();
	IF job IS NULL THEN
		RAISE NOTICE 'no retail_crm refresh is scheduled';
		RETURN false;
	END IF;
	EXECUTE 'SELECT cron.unschedule($1)' USING job;
	RETURN true;
END
$$;
COMMENT ON FUNCTION @extschema@.unschedule_refresh() IS
	'Removes the pg_cron job of crm.schedule_refresh(). Returns false, with a notice, when there is none.';
