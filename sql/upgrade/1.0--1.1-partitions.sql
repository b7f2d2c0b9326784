-- The 1.0 snapshot and history, set aside by 1.0--1.1.sql, move into
-- partitions of crm.segment_snapshots and crm.segment_history
-- (83_snapshots.sql), made like those of later refreshes: not members of
-- the extension, so that a refresh can drop them.
DO $upgrade$
DECLARE
	last_run bigint := (SELECT pg_catalog.max(s.run_id) FROM @extschema@.customer_segments_1_0 AS s);
	history_runs bigint[] := ARRAY(SELECT DISTINCT h.run_id FROM @extschema@.segment_history_1_0 AS h ORDER BY 1);
	history_run bigint;
	part record;
BEGIN
	FOR part IN SELECT 'segment_history' AS parent, r.run_id FROM pg_catalog.unnest(history_runs) AS r (run_id)
				UNION ALL
				SELECT 'segment_snapshots', last_run WHERE last_run IS NOT NULL
	LOOP
		PERFORM @extschema@.run_partition_create(part.parent, part.run_id);
		EXECUTE pg_catalog.format('ALTER EXTENSION retail_crm DROP TABLE @extschema@.%I',
								  @extschema@.run_partition(part.parent, part.run_id));
	END LOOP;
	INSERT INTO @extschema@.segment_history SELECT h.* FROM @extschema@.segment_history_1_0 AS h;
	INSERT INTO @extschema@.segment_snapshots SELECT last_run, s.* FROM @extschema@.customer_segments_1_0 AS s;
	FOREACH history_run IN ARRAY history_runs LOOP
		PERFORM @extschema@.run_partition_index('segment_history', history_run);
	END LOOP;
	IF last_run IS NOT NULL THEN
		PERFORM @extschema@.snapshot_publish(last_run);
	END IF;
END
$upgrade$;
DROP TABLE @extschema@.customer_segments_1_0, @extschema@.segment_history_1_0;
