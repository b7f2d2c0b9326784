-- The loyalty tier review: the qualifying metric and crm.review_tiers (the
-- tables are in 96_loyalty.sql).  Only CREATE OR REPLACE of functions and
-- comments: an upgrade runs this part again.

-- Qualifying metric of one member: the better of the current and the
-- previous period (status earned in a period lasts through the next one).
-- PL/pgSQL: Citus cannot plan a SQL function's parameters over distributed
-- tables.
CREATE OR REPLACE FUNCTION @extschema@.loyalty_metric(customer bigint, qualify_on text,
										   period_start timestamptz, previous_start timestamptz, as_of timestamptz)
RETURNS numeric
LANGUAGE plpgsql STABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	metric numeric;
BEGIN
	CASE qualify_on
	WHEN 'net_spend' THEN
		SELECT greatest(coalesce(sum(t.amount) FILTER (WHERE t.occurred_at >= period_start), 0),
						coalesce(sum(t.amount) FILTER (WHERE t.occurred_at < period_start), 0))
		INTO metric
		FROM @extschema@.transactions AS t
		WHERE t.customer_id = customer AND t.occurred_at >= previous_start AND t.occurred_at <= as_of;
	WHEN 'visits' THEN
		SELECT greatest(count(DISTINCT (t.occurred_at AT TIME ZONE 'UTC')::date) FILTER (WHERE t.occurred_at >= period_start),
						count(DISTINCT (t.occurred_at AT TIME ZONE 'UTC')::date) FILTER (WHERE t.occurred_at < period_start))
		INTO metric
		FROM @extschema@.transactions AS t
		WHERE t.customer_id = customer AND t.amount > 0
		  AND t.occurred_at >= previous_start AND t.occurred_at <= as_of;
	WHEN 'points' THEN
		SELECT greatest(coalesce(sum(l.points) FILTER (WHERE l.created_at >= period_start), 0),
						coalesce(sum(l.points) FILTER (WHERE l.created_at < period_start), 0))
		INTO metric
		FROM @extschema@.points_ledger AS l
		WHERE l.customer_id IN (SELECT @extschema@.customer_ids_merged_into(customer)) AND l.kind IN ('earn', 'clawback')
		  AND l.created_at >= previous_start AND l.created_at <= as_of;
	ELSE
		metric := NULL;
	END CASE;
	RETURN metric;
END
$$;
COMMENT ON FUNCTION @extschema@.loyalty_metric(bigint, text, timestamptz, timestamptz, timestamptz) IS
	'Qualifying metric of a member as of a time: net_spend (sum of amounts, returns included), visits (distinct UTC days with a purchase) or points (earned minus clawed back, by the member and by the customers merged into it), the better of [period_start, as_of] and [previous_start, period_start). Stable because it reads crm.transactions and the ledger.';


CREATE OR REPLACE FUNCTION @extschema@.review_tiers(as_of timestamptz DEFAULT now(), program_id text DEFAULT NULL)
RETURNS SETOF @extschema@.loyalty_runs
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	program @extschema@.loyalty_programs;
	thresholds float8[];
	review timestamptz;
	run @extschema@.loyalty_runs;
	evaluated bigint;
	changed bigint[];
	from_ranks integer[];
	to_ranks integer[];
	metrics numeric[];
	upgraded bigint;
	downgraded bigint;
	finished timestamptz;
BEGIN
	-- On Citus the run log is a reference table, written again after the
	-- members are read from every shard.
	PERFORM @extschema@.citus_sequential();
	IF as_of IS NULL OR as_of IN ('infinity', '-infinity') THEN
		RAISE EXCEPTION USING ERRCODE = 'invalid_parameter_value',
			MESSAGE = format('as_of must be a finite time, not %s', coalesce(as_of::text, 'NULL')),
			HINT = 'Omit it to review as of now.';
	END IF;
	IF review_tiers.program_id IS NOT NULL
	   AND NOT EXISTS (SELECT 1 FROM @extschema@.loyalty_programs AS p WHERE p.program_id = review_tiers.program_id) THEN
		RAISE EXCEPTION USING ERRCODE = 'invalid_parameter_value',
			MESSAGE = format('program %L does not exist', @extschema@.message_excerpt(review_tiers.program_id)),
			HINT = 'Programs are configured in crm.loyalty_programs; NULL reviews them all.';
	END IF;
	-- One review of a program at a time: the row lock also keeps its
	-- configuration as read.
	FOR program IN
		SELECT * FROM @extschema@.loyalty_programs AS p
		WHERE review_tiers.program_id IS NULL OR p.program_id = review_tiers.program_id
		ORDER BY p.program_id
		FOR UPDATE
	LOOP
		-- Tiers only move forward in time.
		IF EXISTS (SELECT 1 FROM @extschema@.loyalty_runs AS r
				   WHERE r.job = 'tier_review' AND r.program_id = program.program_id AND r.as_of > review_tiers.as_of) THEN
			RAISE EXCEPTION USING ERRCODE = 'invalid_parameter_value',
				MESSAGE = format('program %s was already reviewed as of a later time than %s', program.program_id, as_of),
				HINT = 'Review as of the latest crm.loyalty_runs.as_of of the program or later.';
		END IF;
		SELECT array_agg(t.threshold::float8 ORDER BY t.tier_rank) INTO thresholds
		FROM @extschema@.loyalty_tiers AS t WHERE t.program_id = program.program_id;
		CONTINUE WHEN thresholds IS NULL;

		-- A review date not applied yet allows downgrades.
		review := @extschema@.loyalty_review_date(program.review_anchor, program.review_every, as_of);
		IF EXISTS (SELECT 1 FROM @extschema@.loyalty_runs AS r
				   WHERE r.job = 'tier_review' AND r.program_id = program.program_id AND r.review_at >= review) THEN
			review := NULL;
		END IF;

		INSERT INTO @extschema@.loyalty_runs AS r (job, program_id, as_of, review_at)
		VALUES ('tier_review', program.program_id, as_of, review)
		RETURNING r.* INTO run;
		-- Other sessions follow the review in crm.progress, member by member.
		PERFORM @extschema@.progress_start('tier review', run.run_id, 1);
		PERFORM @extschema@.progress_stage(1, 'members',
			(SELECT count(*) FROM @extschema@.loyalty_members AS m WHERE m.program_id = program.program_id));

		-- The members are read first and evaluated here: on Citus the metric
		-- reads each member's sales from the coordinator (a worker cannot
		-- run it), and the changes are written by plain statements.
		WITH members AS MATERIALIZED (
			SELECT m.customer_id, m.tier_rank, m.tier_since, m.enrolled_at
			FROM @extschema@.loyalty_members AS m
			WHERE m.program_id = program.program_id AND m.enrolled_at <= as_of
		), evaluated AS (
			SELECT @extschema@.progress_count(m.customer_id) AS customer_id, m.tier_rank,
				   @extschema@.loyalty_tier(greatest(q.metric, 0)::float8, thresholds,
											least(m.tier_rank, cardinality(thresholds)),
											review IS NOT NULL AND m.tier_since <= as_of - program.grace_period,
											program.soft_landing) AS new_rank,
				   q.metric
			FROM members AS m
			CROSS JOIN LATERAL @extschema@.loyalty_period(program.qualification_window, m.enrolled_at, as_of) AS period
			CROSS JOIN LATERAL (SELECT @extschema@.loyalty_metric(m.customer_id, program.qualify_on,
																  period.period_start, period.previous_start, as_of) AS metric) AS q
			WHERE NOT EXISTS (SELECT 1 FROM @extschema@.customer_merges AS merged WHERE merged.merge_id = m.customer_id)
		)
		SELECT count(*),
			   coalesce(array_agg(e.customer_id) FILTER (WHERE e.new_rank <> e.tier_rank), '{}'),
			   coalesce(array_agg(e.tier_rank) FILTER (WHERE e.new_rank <> e.tier_rank), '{}'),
			   coalesce(array_agg(e.new_rank) FILTER (WHERE e.new_rank <> e.tier_rank), '{}'),
			   coalesce(array_agg(e.metric) FILTER (WHERE e.new_rank <> e.tier_rank), '{}')
		INTO evaluated, changed, from_ranks, to_ranks, metrics
		FROM evaluated AS e;
		INSERT INTO @extschema@.loyalty_tier_changes (run_id, customer_id, from_rank, to_rank, qualifying_metric)
		SELECT run.run_id, c.customer_id, c.from_rank, c.to_rank, c.metric
		FROM unnest(changed, from_ranks, to_ranks, metrics) AS c (customer_id, from_rank, to_rank, metric);
		UPDATE @extschema@.loyalty_members AS m
		SET tier_rank = c.to_rank, tier_since = as_of
		FROM unnest(changed, to_ranks) AS c (customer_id, to_rank)
		WHERE m.customer_id = c.customer_id;
		-- values: Citus refuses subqueries and volatile functions in an
		-- update of a reference table
		SELECT count(*) FILTER (WHERE c.to_rank > c.from_rank), count(*) FILTER (WHERE c.to_rank < c.from_rank)
		INTO upgraded, downgraded
		FROM unnest(from_ranks, to_ranks) AS c (from_rank, to_rank);
		finished := clock_timestamp();
		UPDATE @extschema@.loyalty_runs AS r
		SET members = evaluated, upgrades = upgraded, downgrades = downgraded, finished_at = finished
		WHERE r.run_id = run.run_id
		RETURNING r.* INTO run;
		PERFORM @extschema@.progress_stage_done(run.members);
		PERFORM @extschema@.progress_finish();
		RETURN NEXT run;
	END LOOP;
END
$$;
COMMENT ON FUNCTION @extschema@.review_tiers(timestamptz, text) IS
	'Re-tiers every member of one program (default all) as of a time (default now; never before an earlier review of the program): upgrades whenever the qualifying metric reaches a higher tier; downgrades (soft landing, grace period) only when a review date has passed that no earlier run applied. Writes crm.loyalty_tier_changes and one crm.loyalty_runs row per program, which it returns.';
