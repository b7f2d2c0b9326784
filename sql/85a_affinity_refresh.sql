-- crm.refresh_affinity (the tables it writes are in 85_affinity.sql).  Only
-- CREATE OR REPLACE of functions, and grants: an upgrade runs this part again.

CREATE OR REPLACE FUNCTION @extschema@.refresh_affinity(min_support double precision DEFAULT 0.01,
											 max_basket_items integer DEFAULT 100)
RETURNS @extschema@.affinity_runs
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	run @extschema@.affinity_runs;
	-- the lines in basket order without a sort while none is anonymous
	source regclass := CASE WHEN EXISTS (SELECT 1 FROM @extschema@.anonymous_transaction_items)
							THEN '@extschema@.basket_items' ELSE '@extschema@.customer_basket_items' END;
BEGIN
	-- One refresh at a time: a second caller waits here until the first commits.
	PERFORM pg_advisory_xact_lock(hashtext('retail_crm.refresh_affinity'));
	run.started_at := clock_timestamp();
	run.min_support := min_support;
	run.max_basket_items := max_basket_items;

	-- Readers keep seeing the previous pairs until this transaction commits.
	-- The pairs go straight from the function into the table; the totals
	-- row (products NULL) comes back beside the count of rows written.
	DELETE FROM @extschema@.product_affinity;
	WITH counted AS MATERIALIZED (
		SELECT * FROM @extschema@.basket_pairs(source, min_support, max_basket_items)
	), written AS (
		INSERT INTO @extschema@.product_affinity
		SELECT c.product_a, c.product_b, c.baskets_together, c.support, c.confidence, c.lift, c.conviction
		FROM counted AS c WHERE c.product_a IS NOT NULL
		RETURNING 1
	)
	SELECT c.baskets, c.skipped_baskets, (SELECT count(*) FROM written)
	INTO run.baskets, run.skipped_baskets, run.pairs
	FROM counted AS c WHERE c.product_a IS NULL;

	run.finished_at := clock_timestamp();
	INSERT INTO @extschema@.affinity_runs (started_at, finished_at, min_support, max_basket_items,
										   baskets, skipped_baskets, pairs)
	VALUES (run.started_at, run.finished_at, run.min_support, run.max_basket_items,
			run.baskets, run.skipped_baskets, run.pairs)
	RETURNING * INTO run;
	RAISE NOTICE 'retail_crm affinity run %: % baskets counted, % skipped (over % distinct products), % ordered pairs',
		run.run_id, run.baskets, run.skipped_baskets, run.max_basket_items, run.pairs;
	RETURN run;
END
$$;
COMMENT ON FUNCTION @extschema@.refresh_affinity(double precision, integer) IS
	'Recounts product pairs over the sale baskets of crm.basket_items and replaces crm.product_affinity in one transaction (readers see the old pairs until it commits); logs the run in crm.affinity_runs and returns it. min_support in (0, 1] (default 0.01), max_basket_items >= 2 (default 100): larger baskets are skipped and counted.';

REVOKE EXECUTE ON FUNCTION @extschema@.refresh_affinity(double precision, integer) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION @extschema@.refresh_affinity(double precision, integer) TO crm_admin;
