-- The 1.0 snapshot and history, set aside by 1.0--1.1.sql, move into
-- partitions of crm.segment_snapshots and crm.segment_history
-- (83_snapshots.sql), made like those of later refreshes: not members of
-- the extension, so that a refresh can drop them.
DO $upgrade$
DECLARE
	last_run bigint := (SELECT pg_catalog.max(s.run_id) FROM @extschema@.customer_segments_1_0 AS s);
	history_run bigint;
BEGIN
	FOR history_run IN SELECT DISTINCT h.run_id FROM @extschema@.segment_history_1_0 AS h LOOP
		PERFORM @extschema@.run_partition_create('segment_history', history_run);
		EXECUTE pg_catalog.format('ALTER EXTENSION retail_crm DROP TABLE @extschema@.%I',
								  @extschema@.run_partition('segment_history', history_run));
	END LOOP;
	INSERT INTO @extschema@.segment_history SELECT h.* FROM @extschema@.segment_history_1_0 AS h;
	FOR history_run IN SELECT DISTINCT h.run_id FROM @extschema@.segment_history_1_0 AS h LOOP
		PERFORM @extschema@.run_partition_index('segment_history', history_run);
	END LOOP;
	IF last_run IS NOT NULL THEN
		PERFORM @extschema@.run_partition_create('segment_snapshots', last_run);
		EXECUTE pg_catalog.format('ALTER EXTENSION retail_crm DROP TABLE @extschema@.%I',
								  @extschema@.run_partition('segment_snapshots', last_run));
		INSERT INTO @extschema@.segment_snapshots SELECT last_run, s.* FROM @extschema@.customer_segments_1_0 AS s;
		PERFORM @extschema@.snapshot_publish(last_run);
	END IF;
END
$upgrade$;
DROP TABLE @extschema@.customer_segments_1_0, @extschema@.segment_history_1_0;
