-- pg_cron jobs of retail_crm (the refresh, the tier review, the points
-- expiry), scheduled through one set of helpers.  pg_cron stays optional: it
-- is looked up at call time, never required by the control file.

-- Raises 55000 with the exact steps to take when pg_cron cannot run the job
-- job_name (command on schedule) for this database.  scheduler names the
-- function to call again; detail says what to do without pg_cron.
CREATE FUNCTION @extschema@.require_pg_cron(job_name text, schedule text, command text,
											scheduler text, detail text)
RETURNS void
LANGUAGE plpgsql STABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	cron_database text;
BEGIN
	IF EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'pg_cron') THEN
		RETURN;
	END IF;
	-- Read only when needed: once pg_cron is loaded the setting is for
	-- superusers (and pg_read_all_settings), and crm_admin calls this too.
	BEGIN
		cron_database := current_setting('cron.database_name', true);
	EXCEPTION WHEN insufficient_privilege THEN
		RAISE EXCEPTION USING ERRCODE = 'object_not_in_prerequisite_state',
			MESSAGE = 'pg_cron is loaded but its extension is not created in this database',
			HINT = format('Ask a superuser to run CREATE EXTENSION pg_cron; in the database cron.database_name names (pg_cron schedules only there), then call %s again.', scheduler);
	END;
	IF cron_database IS NULL THEN
		RAISE EXCEPTION USING ERRCODE = 'object_not_in_prerequisite_state',
			MESSAGE = 'pg_cron is not installed',
			DETAIL = detail,
			HINT = format('Install pg_cron (Debian: apt-get install postgresql-15-cron), set shared_preload_libraries = ''pg_cron'' and cron.database_name = %L in postgresql.conf, restart PostgreSQL, run CREATE EXTENSION pg_cron; in that database, then call %s again.',
						  current_database(), scheduler);
	ELSIF cron_database <> current_database() THEN
		RAISE EXCEPTION USING ERRCODE = 'object_not_in_prerequisite_state',
			MESSAGE = format('pg_cron runs in database %s, not in %s', cron_database, current_database()),
			HINT = format('Connect to database %s and run: SELECT cron.schedule_in_database(%L, %L, %L, %L);',
						  cron_database, job_name || '_' || current_database(), schedule,
						  command, current_database());
	ELSE
		RAISE EXCEPTION USING ERRCODE = 'object_not_in_prerequisite_state',
			MESSAGE = 'pg_cron is loaded but its extension is not created in this database',
			HINT = format('Run CREATE EXTENSION pg_cron; here, then call %s again.', scheduler);
	END IF;
END
$$;
COMMENT ON FUNCTION @extschema@.require_pg_cron(text, text, text, text, text) IS
	'Internal: raises 55000 with the steps to take when pg_cron cannot run the job (name, schedule, command) for this database; scheduler is the function to call again, detail what to do without pg_cron. Stable because it reads the catalog and settings.';

-- Schedules (or reschedules: pg_cron upserts by name) command under job_name.
CREATE FUNCTION @extschema@.schedule_job(job_name text, schedule text, command text,
										 scheduler text, detail text)
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
	PERFORM @extschema@.require_pg_cron(job_name, schedule, command, scheduler, detail);
	BEGIN
		-- Dynamic: the cron schema does not exist when pg_cron is absent.
		EXECUTE 'SELECT cron.schedule_in_database($1, $2, $3, $4)'
			INTO job
			USING job_name, schedule, command, current_database();
	EXCEPTION WHEN invalid_parameter_value OR internal_error THEN
		GET STACKED DIAGNOSTICS cron_message = MESSAGE_TEXT;
		RAISE EXCEPTION USING ERRCODE = 'invalid_parameter_value',
			MESSAGE = format('invalid schedule %L', @extschema@.message_excerpt(schedule)),
			DETAIL = format('pg_cron says: %s', @extschema@.message_excerpt(cron_message)),
			HINT = 'Use the five-field cron syntax in GMT, e.g. ''30 2 * * *''; pg_cron 1.4 has minute granularity.';
	END;
	RETURN job;
END
$$;
COMMENT ON FUNCTION @extschema@.schedule_job(text, text, text, text, text) IS
	'Internal: schedules command with pg_cron in this database under job_name (schedule in GMT) and returns the job id; again = new schedule. Without pg_cron raises 55000 (see crm.require_pg_cron).';

-- Removes the job job_name of this database; "what" names it in notices.
CREATE FUNCTION @extschema@.unschedule_job(job_name text, what text)
RETURNS boolean
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	job bigint;
BEGIN
	IF NOT EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'pg_cron') THEN
		RAISE NOTICE 'pg_cron is not installed in this database, so no % is scheduled', what;
		RETURN false;
	END IF;
	EXECUTE 'SELECT jobid FROM cron.job WHERE jobname = $1 AND database = $2'
		INTO job
		USING job_name, current_database();
	IF job IS NULL THEN
		RAISE NOTICE 'no retail_crm % is scheduled', what;
		RETURN false;
	END IF;
	EXECUTE 'SELECT cron.unschedule($1)' USING job;
	RETURN true;
END
$$;
COMMENT ON FUNCTION @extschema@.unschedule_job(text, text) IS
	'Internal: removes the pg_cron job job_name of this database; false, with a notice naming "what", when there is none.';

DO $grants$
DECLARE
	routine regprocedure;
BEGIN
	FOREACH routine IN ARRAY ARRAY[
		'@extschema@.require_pg_cron(text, text, text, text, text)',
		'@extschema@.schedule_job(text, text, text, text, text)',
		'@extschema@.unschedule_job(text, text)']::pg_catalog.regprocedure[]
	LOOP
		EXECUTE pg_catalog.format('REVOKE EXECUTE ON ROUTINE %s FROM PUBLIC', routine);
		EXECUTE pg_catalog.format('GRANT EXECUTE ON ROUTINE %s TO crm_admin', routine);
	END LOOP;
END
$grants$;
