-- crm.refresh_affinity and crm.recommend (the tables they read and write are
-- in 85_affinity.sql).  Only CREATE OR REPLACE of functions, and grants: an
-- upgrade runs this part again.

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

-- The products a customer is offered next: affinity first, then what the
-- customer's segment buys most, then what everybody buys most.  Security
-- definer: it reads purchase histories, which its callers may not read.
CREATE OR REPLACE FUNCTION @extschema@.recommend(customer_id bigint, n integer DEFAULT 10)
RETURNS TABLE (rank integer, product_id text, source text, score double precision)
LANGUAGE plpgsql STABLE PARALLEL SAFE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	customer bigint := recommend.customer_id;
	bought text[];
	picked text[] := '{}';
	customer_segment text;
	candidate record;
	current_pass integer;
	segment_customers bigint;
	buying_customers bigint;
BEGIN
	IF customer IS NULL OR n IS NULL THEN
		RAISE EXCEPTION USING ERRCODE = 'null_value_not_allowed',
			MESSAGE = 'customer_id and n must not be NULL',
			HINT = 'Call e.g. crm.recommend(12347, 5).';
	END IF;
	IF n < 1 THEN
		RAISE EXCEPTION USING ERRCODE = 'invalid_parameter_value',
			MESSAGE = format('n must be at least 1, not %s', n),
			HINT = 'n is the number of products to recommend.';
	END IF;
	IF NOT EXISTS (SELECT 1 FROM @extschema@.customers AS c WHERE c.customer_id = customer) THEN
		RAISE EXCEPTION USING ERRCODE = 'invalid_parameter_value',
			MESSAGE = format('customer %s does not exist', customer),
			HINT = 'Recommendations are for customers in crm.customers.';
	END IF;

	SELECT coalesce(array_agg(DISTINCT b.product_id), '{}') INTO bought
	FROM @extschema@.basket_items AS b WHERE b.customer_id = customer;
	SELECT cs.segment INTO customer_segment
	FROM @extschema@.customer_segments AS cs WHERE cs.customer_id = customer;

	-- Candidates by source in turn; within a source the best score first,
	-- ties to the higher tie-break, then to the product id.
	--   affinity: sum of confidence(X => Y) over the products X bought
	--			   (tie-break: sum of lift);
	--   segment:  share of the customer's segment who bought Y;
	--   global:   share of all buying customers who bought Y.
	-- One source per pass, so that the fallbacks' scans of every purchase
	-- only run when affinity leaves places free (the pass test becomes a
	-- one-time filter on each branch).
	FOR current_pass IN 1..3 LOOP
		EXIT WHEN cardinality(picked) >= n;
		-- The fallbacks' denominators, counted when their pass comes (Citus
		-- cannot push a subquery in the select list down).
		IF current_pass = 2 THEN
			SELECT count(*) INTO segment_customers
			FROM @extschema@.customer_segments AS s WHERE s.segment = customer_segment;
		ELSIF current_pass = 3 THEN
			SELECT count(DISTINCT x.customer_id) INTO buying_customers FROM @extschema@.basket_items AS x;
		END IF;
		FOR candidate IN
			SELECT c.product_id, c.source, c.score
			FROM (SELECT a.product_b AS product_id, 'affinity' AS source, 1 AS pass,
						 sum(a.confidence) AS score, sum(a.lift) AS tie_break
				  FROM @extschema@.product_affinity AS a
				  WHERE a.product_a = ANY (bought) AND NOT a.product_b = ANY (bought)
				  GROUP BY a.product_b
				  UNION ALL
				  SELECT b.product_id, 'segment', 2,
						 count(DISTINCT b.customer_id)::double precision / segment_customers,
						 0
				  FROM @extschema@.basket_items AS b
				  JOIN @extschema@.customer_segments AS cs ON cs.customer_id = b.customer_id
				  WHERE cs.segment = customer_segment AND NOT b.product_id = ANY (bought)
				  GROUP BY b.product_id
				  UNION ALL
				  SELECT b.product_id, 'global', 3,
						 count(DISTINCT b.customer_id)::double precision / buying_customers,
						 0
				  FROM @extschema@.basket_items AS b
				  WHERE b.customer_id IS NOT NULL AND NOT b.product_id = ANY (bought)
				  GROUP BY b.product_id) AS c
			WHERE c.pass = current_pass
			ORDER BY c.score DESC, c.tie_break DESC, c.product_id
		LOOP
			CONTINUE WHEN candidate.product_id = ANY (picked);
			picked := picked || candidate.product_id;
			rank := cardinality(picked);
			product_id := candidate.product_id;
			source := candidate.source;
			score := candidate.score;
			RETURN NEXT;
			EXIT WHEN rank = n;
		END LOOP;
	END LOOP;
END
$$;
COMMENT ON FUNCTION @extschema@.recommend(bigint, integer) IS
	'Top n products (default 10) the customer has not bought: scored by affinity (sum of confidence(X => Y) over the products X the customer bought, crm.product_affinity), then filled with the best sellers of the customer''s segment (share of its customers who bought the product), then with the overall best sellers. Deterministic: ties go to the higher summed lift, then to the product id. Unknown customer or n < 1: 22023; NULL: 22004.';

-- Recommendations are for marketing; they read purchase histories.
REVOKE EXECUTE ON FUNCTION @extschema@.recommend(bigint, integer) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION @extschema@.recommend(bigint, integer) TO crm_marketer, crm_admin;
