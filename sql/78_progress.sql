-- Progress of long work, readable from any session while it runs (the
-- refresh, the tier review; src/progress.c says how), and the time each stage of past runs
-- took, from which the view estimates the time left.

CREATE FUNCTION @extschema@.progress_start(command text, run_id bigint, stages integer)
RETURNS void
AS 'MODULE_PATHNAME', 'progress_start'
LANGUAGE C VOLATILE;
COMMENT ON FUNCTION @extschema@.progress_start(text, bigint, integer) IS
	'Internal: this session starts a run of the named work (such as ''full refresh''), with the given number of stages; crm.progress shows it from now on.';

CREATE FUNCTION @extschema@.progress_stage(stage_number integer, stage text, rows_expected bigint)
RETURNS void
AS 'MODULE_PATHNAME', 'progress_stage'
LANGUAGE C VOLATILE;
COMMENT ON FUNCTION @extschema@.progress_stage(integer, text, bigint) IS
	'Internal: the run of this session enters a stage (1 to stages), with the rows it expects to handle (NULL: not known).';

CREATE FUNCTION @extschema@.progress_rows(rows_done bigint)
RETURNS void
AS 'MODULE_PATHNAME', 'progress_rows'
LANGUAGE C VOLATILE;
COMMENT ON FUNCTION @extschema@.progress_rows(bigint) IS
	'Internal: rows of the current stage done so far.';

CREATE FUNCTION @extschema@.progress_count(value bigint)
RETURNS bigint
AS 'MODULE_PATHNAME', 'progress_count'
LANGUAGE C VOLATILE STRICT PARALLEL RESTRICTED;
COMMENT ON FUNCTION @extschema@.progress_count(bigint) IS
	'Internal: returns its argument and counts it as a row done in the current stage of this session''s run (published every 4,096 rows); a query marks the rows it works through by passing a column through it.';

CREATE FUNCTION @extschema@.progress_finish()
RETURNS void
AS 'MODULE_PATHNAME', 'progress_finish'
LANGUAGE C VOLATILE;
COMMENT ON FUNCTION @extschema@.progress_finish() IS
	'Internal: the run of this session is over; an aborted transaction ends it too.';

CREATE FUNCTION @extschema@.progress_entries(OUT pid integer, OUT command text, OUT run_id bigint, OUT stage text,
											 OUT stage_number integer, OUT stages integer, OUT rows_done bigint,
											 OUT rows_expected bigint, OUT started_at timestamptz,
											 OUT stage_started_at timestamptz)
RETURNS SETOF record
AS 'MODULE_PATHNAME', 'progress_entries'
LANGUAGE C VOLATILE PARALLEL SAFE ROWS 4;
COMMENT ON FUNCTION @extschema@.progress_entries() IS
	'The runs in progress in this database, one row per session, as reported by their sessions; crm.progress adds elapsed time and the estimate of time left.';

CREATE TABLE @extschema@.work_stages (
	command				text NOT NULL,
	run_id				bigint NOT NULL,
	stage_number		integer NOT NULL CHECK (stage_number >= 1),
	stage				text NOT NULL,
	rows_expected		bigint,
	rows_done			bigint,
	started_at			timestamptz NOT NULL,
	finished_at			timestamptz NOT NULL,
	PRIMARY KEY (command, run_id, stage_number)
);
COMMENT ON TABLE @extschema@.work_stages IS
	'Every stage of every finished run of long work (the refresh, the tier review), committed with the run: where its time went, and the basis of crm.progress''s estimate of time left.';
COMMENT ON COLUMN @extschema@.work_stages.command IS 'The work: ''full refresh'', ''incremental refresh'' or ''tier review''.';
COMMENT ON COLUMN @extschema@.work_stages.run_id IS 'The run: crm.refresh_runs.run_id for a refresh, crm.loyalty_runs.run_id for a tier review (one per program).';
COMMENT ON COLUMN @extschema@.work_stages.stage_number IS 'Position of the stage in the run, from 1.';
COMMENT ON COLUMN @extschema@.work_stages.stage IS 'The stage: for a refresh facts, scores, models, publish; for a tier review members.';
COMMENT ON COLUMN @extschema@.work_stages.rows_expected IS 'Rows the stage expected when it started (the sales source''s estimated size for the facts, the customers after it); NULL when not known.';
COMMENT ON COLUMN @extschema@.work_stages.rows_done IS 'Rows the stage produced.';
COMMENT ON COLUMN @extschema@.work_stages.started_at IS 'When the stage started.';
COMMENT ON COLUMN @extschema@.work_stages.finished_at IS 'When the stage finished.';

-- The stage just finished, recorded from what this session reports.
CREATE FUNCTION @extschema@.progress_stage_done(rows_done bigint)
RETURNS void
LANGUAGE sql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
	INSERT INTO @extschema@.work_stages
	SELECT p.command, p.run_id, p.stage_number, p.stage, p.rows_expected, progress_stage_done.rows_done,
		   p.stage_started_at, clock_timestamp()
	FROM @extschema@.progress_entries() AS p
	WHERE p.pid = pg_backend_pid() AND p.stage_number >= 1
$$;
COMMENT ON FUNCTION @extschema@.progress_stage_done(bigint) IS
	'Internal: records the stage the run of this session just finished in crm.work_stages.';

-- Time left: the stages still to come, and what remains of the current
-- one, each as long as in the last finished run of the same work, scaled
-- by the rows the current stage expects against that run's.
CREATE VIEW @extschema@.progress AS
SELECT p.pid, p.command, p.run_id, p.stage, p.stage_number, p.stages, p.rows_done, p.rows_expected,
	   p.started_at, p.stage_started_at,
	   round(extract(epoch FROM clock_timestamp() - p.started_at), 1)::numeric(12,1) AS elapsed_seconds,
	   round(extract(epoch FROM clock_timestamp() - p.stage_started_at), 1)::numeric(12,1) AS stage_elapsed_seconds,
	   round((greatest(0, basis.this_seconds * basis.scale - extract(epoch FROM clock_timestamp() - p.stage_started_at))
			  + basis.later_seconds * basis.scale)::numeric, 1)::numeric(12,1) AS estimated_seconds_left,
	   basis.run_id AS estimate_from_run_id
FROM @extschema@.progress_entries() AS p
LEFT JOIN LATERAL (
	SELECT s.run_id,
		   coalesce(sum(extract(epoch FROM s.finished_at - s.started_at)) FILTER (WHERE s.stage_number > p.stage_number), 0) AS later_seconds,
		   coalesce(sum(extract(epoch FROM s.finished_at - s.started_at)) FILTER (WHERE s.stage_number = p.stage_number), 0) AS this_seconds,
		   coalesce(max(p.rows_expected::numeric / nullif(s.rows_expected, 0)) FILTER (WHERE s.stage_number = p.stage_number), 1) AS scale
	FROM @extschema@.work_stages AS s
	WHERE s.command = p.command
	  AND s.run_id = (SELECT max(l.run_id) FROM @extschema@.work_stages AS l
					  WHERE l.command = p.command AND l.run_id <> p.run_id AND l.stage_number = p.stages)
	GROUP BY s.run_id
) AS basis ON true;
COMMENT ON VIEW @extschema@.progress IS
	'Long work running now (a full or incremental refresh, a tier review), one row per session, in the manner of pg_stat_progress_*: its stage, rows, elapsed time and an estimate of the time left. Readable from any session while the run''s own transaction is still open.';
COMMENT ON COLUMN @extschema@.progress.pid IS 'Process id of the session running it (pg_stat_activity.pid).';
COMMENT ON COLUMN @extschema@.progress.command IS 'The work: ''full refresh'', ''incremental refresh'' or ''tier review''.';
COMMENT ON COLUMN @extschema@.progress.run_id IS 'The run: crm.refresh_runs.run_id for a refresh, crm.loyalty_runs.run_id for a tier review (one per program).';
COMMENT ON COLUMN @extschema@.progress.stage IS 'The current stage: for a refresh facts, scores, models, publish; for a tier review members.';
COMMENT ON COLUMN @extschema@.progress.stage_number IS 'Position of the current stage, from 1.';
COMMENT ON COLUMN @extschema@.progress.stages IS 'Number of stages of the run.';
COMMENT ON COLUMN @extschema@.progress.rows_done IS 'Rows of the current stage done so far, where the stage counts them (a refresh''s publish stage and a tier review do); 0 until the stage ends otherwise.';
COMMENT ON COLUMN @extschema@.progress.rows_expected IS 'Rows the current stage expects; NULL when not known.';
COMMENT ON COLUMN @extschema@.progress.started_at IS 'When the run started.';
COMMENT ON COLUMN @extschema@.progress.stage_started_at IS 'When the current stage started.';
COMMENT ON COLUMN @extschema@.progress.elapsed_seconds IS 'Seconds since the run started.';
COMMENT ON COLUMN @extschema@.progress.stage_elapsed_seconds IS 'Seconds since the current stage started.';
COMMENT ON COLUMN @extschema@.progress.estimated_seconds_left IS 'Estimated seconds until the run ends: the rest of the current stage and the stages to come as long as in the last finished run of the same work (estimate_from_run_id), scaled by the rows the stage expects; NULL before any run of this work finished.';
COMMENT ON COLUMN @extschema@.progress.estimate_from_run_id IS 'The finished run the estimate is based on; NULL when there is none.';

REVOKE EXECUTE ON FUNCTION @extschema@.progress_start(text, bigint, integer),
	@extschema@.progress_stage(integer, text, bigint), @extschema@.progress_rows(bigint),
	@extschema@.progress_count(bigint), @extschema@.progress_finish(), @extschema@.progress_stage_done(bigint),
	@extschema@.progress_entries() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION @extschema@.progress_start(text, bigint, integer),
	@extschema@.progress_stage(integer, text, bigint), @extschema@.progress_rows(bigint),
	@extschema@.progress_count(bigint), @extschema@.progress_finish(), @extschema@.progress_stage_done(bigint) TO crm_admin;
GRANT EXECUTE ON FUNCTION @extschema@.progress_entries() TO crm_admin, crm_analyst;
GRANT SELECT ON @extschema@.progress, @extschema@.work_stages TO crm_admin, crm_analyst;
GRANT INSERT, UPDATE, DELETE, TRUNCATE ON @extschema@.work_stages TO crm_admin;
SELECT pg_catalog.pg_extension_config_dump('@extschema@.work_stages', '');

-- crm.fit_models of 76_churn_models.sql stores models: crm_admin only.  Its
-- rights belong at the end of that part, which was being changed elsewhere
-- when 97_grants.sql was split up.
REVOKE EXECUTE ON FUNCTION @extschema@.fit_models(timestamptz, timestamptz) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION @extschema@.fit_models(timestamptz, timestamptz) TO crm_admin;
