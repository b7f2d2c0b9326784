-- The 1.0 snapshot, set aside by 1.0--1.1.sql, becomes the published
-- partition of crm.segment_snapshots (83_snapshots.sql), owned like the
-- partitions later refreshes create: not by the extension, so that a
-- refresh can drop it.
DO $upgrade$
DECLARE
	last_run bigint := (SELECT pg_catalog.max(s.run_id) FROM @extschema@.customer_segments_1_0 AS s);
BEGIN
	IF last_run IS NOT NULL THEN
		PERFORM @extschema@.snapshot_create(last_run);
		EXECUTE pg_catalog.format('ALTER EXTENSION retail_crm DROP TABLE @extschema@.%I',
								  @extschema@.snapshot_partition(last_run));
		INSERT INTO @extschema@.segment_snapshots SELECT last_run, s.* FROM @extschema@.customer_segments_1_0 AS s;
		PERFORM @extschema@.snapshot_publish(last_run);
	END IF;
END
$upgrade$;
DROP TABLE @extschema@.customer_segments_1_0;
