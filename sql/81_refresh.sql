-- The segment refresh: per-customer facts in one pass over the sales source,
-- RFM scores, segment, lifecycle stage, churn and value models; published
-- atomically and logged.  Functions only, created with CREATE OR REPLACE:
-- an upgrade script runs this part again to bring them up to date (in an
-- extension script, PostgreSQL refuses to replace an object the extension
-- does not own).

-- Stage progress: in the run row, in crm.work_stages (with the run), in the
-- session (NOTICE) and in the server log.
CREATE OR REPLACE FUNCTION @extschema@.refresh_progress(run_id bigint, stage text, rows_done bigint)
RETURNS void
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	UPDATE @extschema@.refresh_runs AS r
	SET stage = refresh_progress.stage, rows_done = refresh_progress.rows_done
	WHERE r.run_id = refresh_progress.run_id;
	PERFORM @extschema@.progress_stage_done(rows_done);
	RAISE NOTICE 'retail_crm refresh run %: stage %, % rows', run_id, stage, rows_done;
	RAISE LOG 'retail_crm refresh run %: stage %, % rows', run_id, stage, rows_done;
END
$$;
COMMENT ON FUNCTION @extschema@.refresh_progress(bigint, text, bigint) IS
	'Internal: records the stage a refresh reached and reports it to the session and the server log.';

-- First transaction of a refresh: log the run before any work, so that a
-- run whose backend is killed stays visible, and close such runs of the past.
CREATE OR REPLACE FUNCTION @extschema@.refresh_start(as_of timestamptz, mode text DEFAULT 'full')
RETURNS bigint
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	new_run bigint;
BEGIN
	IF as_of IS NULL THEN
		RAISE EXCEPTION USING ERRCODE = 'null_value_not_allowed',
			MESSAGE = 'as_of must not be NULL',
			HINT = 'Call crm.refresh_segments() for now, or give the analysis date, e.g. CALL crm.refresh_segments(''2011-12-10'').';
	END IF;
	IF NOT isfinite(as_of) THEN
		RAISE EXCEPTION USING ERRCODE = 'invalid_parameter_value',
			MESSAGE = format('as_of must be a finite timestamp, not %s', as_of),
			HINT = 'Give the analysis date the scores should describe.';
	END IF;
	IF mode IS NULL OR mode NOT IN ('full', 'incremental') THEN
		RAISE EXCEPTION USING ERRCODE = 'invalid_parameter_value',
			MESSAGE = format('refresh mode must be full or incremental, not %L', @extschema@.message_excerpt(mode)),
			HINT = 'Use CALL crm.refresh_segments(as_of) for a full refresh, or add incremental => true.';
	END IF;

	UPDATE @extschema@.refresh_runs AS r
	SET status = 'failed', finished_at = clock_timestamp(), error_sqlstate = '57P01',
		error_message = 'the backend running this refresh ended before it finished (killed, crashed or server restart)'
	WHERE r.status = 'running'
	  AND NOT EXISTS (SELECT 1 FROM pg_stat_activity AS a
					  WHERE a.pid = r.backend_pid
						AND (a.backend_start IS NULL OR a.backend_start = r.backend_start));

	INSERT INTO @extschema@.refresh_runs (as_of, backend_start, mode)
	SELECT refresh_start.as_of, a.backend_start, refresh_start.mode FROM pg_stat_activity AS a WHERE a.pid = pg_backend_pid()
	RETURNING run_id INTO new_run;
	RETURN new_run;
END
$$;
COMMENT ON FUNCTION @extschema@.refresh_start(timestamptz, text) IS
	'Internal: validates as_of and the mode asked for (full or incremental), marks runs of dead backends failed, logs a new run and returns its id.';

-- The stages of a full or incremental run, in the order refresh_build runs
-- them.  Each stage gets the tables it reads as arguments and returns the
-- table it writes (temporary tables, dropped at commit), so that what one
-- stage hands the next shows in the calls.

-- Plan: the mode the run takes and the run it builds on.  An incremental
-- run builds on the last full run (its break points, models and settings);
-- when it cannot, it runs in full.
CREATE OR REPLACE FUNCTION @extschema@.refresh_plan(run_id bigint, cfg @extschema@.settings,
										 OUT mode text, OUT base_run_id bigint, OUT source regclass)
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	run record;
	full_reason text;
BEGIN
	SELECT * INTO run FROM @extschema@.refresh_runs AS r WHERE r.run_id = refresh_plan.run_id;
	mode := run.mode;
	source := @extschema@.transaction_source();
	IF mode = 'incremental' THEN
		SELECT r.run_id INTO base_run_id FROM @extschema@.refresh_runs AS r
		WHERE r.status = 'succeeded' AND r.mode = 'full'
		ORDER BY r.run_id DESC LIMIT 1;
		full_reason := CASE
			WHEN base_run_id IS NULL THEN 'no full refresh has succeeded since change tracking began (version 1.1)'
			WHEN (SELECT r.settings_fingerprint FROM @extschema@.refresh_runs AS r WHERE r.run_id = base_run_id)
				 IS DISTINCT FROM @extschema@.settings_fingerprint()
				THEN format('the settings, segment rules or fixed breaks changed since full run %s', base_run_id)
			WHEN source <> '@extschema@.transactions'::regclass
				THEN format('changes are tracked on crm.transactions only, and the sales source is %s', source)
			WHEN run.as_of < (SELECT r.as_of FROM @extschema@.refresh_runs AS r WHERE r.run_id = base_run_id)
				THEN format('as_of lies before that of full run %s', base_run_id)
			WHEN NOT EXISTS (SELECT 1 FROM @extschema@.published_snapshot) THEN 'no snapshot is published'
		END;
		IF full_reason IS NOT NULL THEN
			RAISE NOTICE 'retail_crm refresh run %: runs in full: %', run_id, full_reason;
			mode := 'full';
			base_run_id := NULL;
		END IF;
	END IF;
	UPDATE @extschema@.refresh_runs AS r
	SET source = refresh_plan.source::text, rfm_method = cfg.rfm_method, segment_rule_set = cfg.segment_rule_set,
		mode = refresh_plan.mode, settings_fingerprint = @extschema@.settings_fingerprint()
	WHERE r.run_id = refresh_plan.run_id;
END
$$;
COMMENT ON FUNCTION @extschema@.refresh_plan(bigint, @extschema@.settings) IS
	'Internal: first stage of a refresh run. Decides whether an incremental run can build on the last full run (base_run_id) or runs in full, finds the sales source and records both in crm.refresh_runs.';

-- The queue entries the run covers, read once before the facts, which see
-- at least as much: every entry for a full run; for an incremental one,
-- also the customers it recomputes (changed; NULL for a full run).  Only
-- the entries read are removed at the end, so none is removed unread.
CREATE OR REPLACE FUNCTION @extschema@.refresh_read_queue(incremental boolean,
											   OUT queue_read regclass, OUT changed regclass)
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	CREATE TEMP TABLE refresh_queue_read ON COMMIT DROP AS
	SELECT q.customer_id, q.change_id FROM @extschema@.changed_customers AS q;
	queue_read := to_regclass('pg_temp.refresh_queue_read');
	IF incremental THEN
		CREATE TEMP TABLE refresh_changed ON COMMIT DROP AS
		SELECT DISTINCT q.customer_id FROM pg_temp.refresh_queue_read AS q;
		ANALYZE pg_temp.refresh_changed;
		changed := to_regclass('pg_temp.refresh_changed');
	END IF;
END
$$;
COMMENT ON FUNCTION @extschema@.refresh_read_queue(boolean) IS
	'Internal: copies crm.changed_customers into a temporary table (queue_read), the entries the run removes when it succeeds; for an incremental run also the distinct customers to recompute (changed).';

-- Facts: every customer's facts as of a date, in one pass over the sales
-- source; only the customers of the table changed when it is given.
-- Shared by the refresh and crm.fit_models.
CREATE OR REPLACE FUNCTION @extschema@.build_facts(as_of timestamptz, source regclass, changed regclass DEFAULT NULL,
										OUT facts regclass, OUT anonymous_rows bigint, OUT future_rows bigint,
										OUT customers bigint, OUT scored_customers bigint)
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	-- fit_models may run more than once in a transaction.
	IF to_regclass('pg_temp.refresh_facts') IS NOT NULL THEN
		DROP TABLE pg_temp.refresh_facts;
	END IF;
	-- The FILTER keeps anonymous rows out of the facts while the same scan
	-- counts them.
	EXECUTE format(
		'CREATE TEMP TABLE refresh_facts ON COMMIT DROP AS
		 SELECT g.customer_id, g.source_rows, (g.facts).*
		 FROM (SELECT s.customer_id::bigint AS customer_id, count(*) AS source_rows,
					  @extschema@.customer_facts(s.occurred_at, s.amount::numeric, $1)
						FILTER (WHERE s.customer_id IS NOT NULL) AS facts
			   FROM %s AS s %s
			   GROUP BY s.customer_id) AS g', source,
		CASE WHEN changed IS NOT NULL
			THEN format('WHERE s.customer_id IN (SELECT c.customer_id FROM %s AS c)', changed) ELSE '' END)
	USING as_of;
	SELECT coalesce(sum(f.source_rows) FILTER (WHERE f.customer_id IS NULL), 0),
		   coalesce(sum(f.future_rows), 0),
		   count(f.customer_id),
		   count(*) FILTER (WHERE f.orders > 0)
	INTO anonymous_rows, future_rows, customers, scored_customers
	FROM pg_temp.refresh_facts AS f;
	DELETE FROM pg_temp.refresh_facts AS f WHERE f.customer_id IS NULL;
	ANALYZE pg_temp.refresh_facts;
	facts := to_regclass('pg_temp.refresh_facts');
END
$$;
COMMENT ON FUNCTION @extschema@.build_facts(timestamptz, regclass, regclass) IS
	'Internal: computes every customer''s crm.customer_facts (or only those of the customers in the table changed) as of a date from a sales source into a temporary table (facts) and returns the counts of anonymous, future, customer and scored rows.';

-- Scores: the RFM break points (of the population, or those of the base
-- run for an incremental one).  The publish scores each customer on them as
-- it writes the row; only equal_count, which scores ranks, scores here, into
-- the table scored (NULL otherwise).
CREATE OR REPLACE FUNCTION @extschema@.refresh_scores(run_id bigint, cfg @extschema@.settings, facts regclass,
										   scored_customers bigint, base_run_id bigint,
										   OUT r_breaks double precision[], OUT f_breaks double precision[],
										   OUT m_breaks double precision[], OUT scored regclass)
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	method text := cfg.rfm_method;
	rank_breaks double precision[];
BEGIN
	IF base_run_id IS NOT NULL OR method = 'fixed' THEN
		-- An incremental run keeps its base run's break points: quantiles
		-- describe the whole population, which one customer's sale barely
		-- moves.
		SELECT max(ARRAY[b.break_1, b.break_2, b.break_3, b.break_4]) FILTER (WHERE b.metric = 'recency'),
			   max(ARRAY[b.break_1, b.break_2, b.break_3, b.break_4]) FILTER (WHERE b.metric = 'frequency'),
			   max(ARRAY[b.break_1, b.break_2, b.break_3, b.break_4]) FILTER (WHERE b.metric = 'monetary')
		INTO r_breaks, f_breaks, m_breaks
		FROM (SELECT p.metric, p.break_1, p.break_2, p.break_3, p.break_4
			  FROM @extschema@.rfm_break_points AS p WHERE p.run_id = base_run_id
			  UNION ALL
			  SELECT x.metric, x.break_1, x.break_2, x.break_3, x.break_4
			  FROM @extschema@.rfm_fixed_breaks AS x WHERE base_run_id IS NULL) AS b;
		IF base_run_id IS NULL AND (r_breaks IS NULL OR f_breaks IS NULL OR m_breaks IS NULL) THEN
			RAISE EXCEPTION USING ERRCODE = 'invalid_parameter_value',
				MESSAGE = 'crm.rfm_fixed_breaks must have a row for each of recency, frequency and monetary',
				HINT = 'Insert the missing rows, e.g. INSERT INTO crm.rfm_fixed_breaks VALUES (''monetary'', 250, 500, 1000, 2500).';
		END IF;
	ELSIF method = 'quantile' THEN
		EXECUTE format(
			'SELECT percentile_disc(ARRAY[0.2, 0.4, 0.6, 0.8]) WITHIN GROUP (ORDER BY f.recency_days::double precision),
					percentile_disc(ARRAY[0.2, 0.4, 0.6, 0.8]) WITHIN GROUP (ORDER BY f.orders::double precision),
					percentile_disc(ARRAY[0.2, 0.4, 0.6, 0.8]) WITHIN GROUP (ORDER BY f.net_spend::double precision)
			 FROM %s AS f WHERE f.orders > 0', facts)
		INTO r_breaks, f_breaks, m_breaks;
	ELSE
		-- equal_count: score ranks instead of values.  Breaks at the NTILE(5)
		-- group ends: the first n % 5 groups hold one customer more.
		SELECT array_agg(k * (scored_customers / 5) + least(k, scored_customers % 5) ORDER BY k)
		INTO rank_breaks FROM generate_series(1, 4) AS k;
		EXECUTE format(
			'CREATE TEMP TABLE refresh_scored ON COMMIT DROP AS
			 SELECT r.customer_id, r.r_rank, r.f_rank, r.m_rank,
					@extschema@.rfm_score(r.r_rank, r.f_rank, r.m_rank, $1, $1, $1) AS scores
			 FROM (SELECT f.customer_id,
						  CASE WHEN f.orders > 0 THEN row_number() OVER (PARTITION BY f.orders > 0 ORDER BY f.recency_days, f.customer_id) END,
						  CASE WHEN f.orders > 0 THEN row_number() OVER (PARTITION BY f.orders > 0 ORDER BY f.orders, f.customer_id DESC) END,
						  CASE WHEN f.orders > 0 THEN row_number() OVER (PARTITION BY f.orders > 0 ORDER BY f.net_spend, f.customer_id DESC) END
				   FROM %s AS f) AS r (customer_id, r_rank, f_rank, m_rank)', facts)
		USING rank_breaks;
		scored := to_regclass('pg_temp.refresh_scored');
		-- Report the values at the group ends, not the ranks.
		EXECUTE format(
			'SELECT array_agg(f.recency_days::double precision ORDER BY s.r_rank) FILTER (WHERE s.r_rank = ANY ($1)),
					array_agg(f.orders::double precision ORDER BY s.f_rank) FILTER (WHERE s.f_rank = ANY ($1)),
					array_agg(f.net_spend::double precision ORDER BY s.m_rank) FILTER (WHERE s.m_rank = ANY ($1))
			 FROM %s AS s JOIN %s AS f USING (customer_id)', scored, facts)
		INTO r_breaks, f_breaks, m_breaks
		USING rank_breaks;
	END IF;
	INSERT INTO @extschema@.rfm_break_points
	VALUES (refresh_scores.run_id, 'recency', method, r_breaks[1], r_breaks[2], r_breaks[3], r_breaks[4]),
		   (refresh_scores.run_id, 'frequency', method, f_breaks[1], f_breaks[2], f_breaks[3], f_breaks[4]),
		   (refresh_scores.run_id, 'monetary', method, m_breaks[1], m_breaks[2], m_breaks[3], m_breaks[4]);
END
$$;
COMMENT ON FUNCTION @extschema@.refresh_scores(bigint, @extschema@.settings, regclass, bigint, bigint) IS
	'Internal: scores stage of a refresh run. Returns the run''s RFM break points (those of base_run_id when given) and stores them in crm.rfm_break_points; for equal_count (ranks) also scores every customer of the facts table into a temporary table (scored).';

-- Models: a full run fits (or, with model_refit = manual, takes the latest
-- of) the purchase model crm.churn_model_choice() names and takes the
-- latest Gamma-Gamma model; an incremental run keeps the purchase model its
-- snapshot was scored with.
CREATE OR REPLACE FUNCTION @extschema@.refresh_models(cfg @extschema@.settings, as_of timestamptz, source regclass,
										   facts regclass, incremental boolean,
										   OUT purchase_model_id bigint, OUT gamma_gamma_id bigint)
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	kind text;
	spend_q double precision;
BEGIN
	IF incremental THEN
		purchase_model_id := (SELECT cs.bgnbd_model_id FROM @extschema@.customer_segments AS cs
							  WHERE cs.bgnbd_model_id IS NOT NULL LIMIT 1);
	ELSE
		kind := (@extschema@.churn_model_choice()).kind;
		IF cfg.model_refit = 'every_refresh' THEN
			PERFORM @extschema@.fit_models_from_facts(facts, as_of, source::text, ARRAY[kind]);
		END IF;
		purchase_model_id := @extschema@.current_model_id(kind);
	END IF;
	gamma_gamma_id := @extschema@.current_model_id('gamma_gamma');
	-- A customer's expected spend is finite only where p * x + q > 1; a fit
	-- on a small or odd population can miss that for one-time buyers
	-- (x = 0).  Their spend and CLV stay NULL instead of failing the whole
	-- refresh.
	spend_q := (SELECT m.q FROM @extschema@.models AS m WHERE m.model_id = gamma_gamma_id);
	IF spend_q <= 1 THEN
		RAISE WARNING 'Gamma-Gamma model % has q = % <= 1: expected spend and CLV of customers with p * x + q <= 1 are left NULL',
			gamma_gamma_id, round(spend_q::numeric, 3)
			USING HINT = 'The model has no finite mean spend for one-time buyers; refit on more customers with crm.fit_models().';
	END IF;
END
$$;
COMMENT ON FUNCTION @extschema@.refresh_models(@extschema@.settings, timestamptz, regclass, regclass, boolean) IS
	'Internal: models stage of a refresh run. Returns the purchase model and the Gamma-Gamma model the run scores with, fitting the purchase model on the facts table first when crm.settings.model_refit = every_refresh (full runs).';

-- Publish: a full run fills the partition of its run, which readers see
-- from the commit on (83_snapshots.sql); an incremental run (changed given)
-- rewrites its customers' rows in the published one, also visible at the
-- commit.  Returns the rows written.
CREATE OR REPLACE FUNCTION @extschema@.refresh_publish(run_id bigint, cfg @extschema@.settings, as_of timestamptz,
											facts regclass, r_breaks double precision[], f_breaks double precision[],
											m_breaks double precision[], scored regclass, changed regclass,
											purchase_model_id bigint, gamma_gamma_id bigint)
RETURNS bigint
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	target_snapshot bigint := refresh_publish.run_id;
	-- the purchase model scored with: one of the three is set, the others
	-- NULL, so that the strict scoring functions skip them; each assigned
	-- whole, so that no model gives a NULL model, not a model of NULLs
	bgnbd @extschema@.bgnbd_model := (SELECT @extschema@.bgnbd_model(m.r, m.alpha, m.a, m.b)
		FROM @extschema@.models AS m WHERE m.model_id = purchase_model_id AND m.kind = 'bgnbd');
	mbgnbd @extschema@.mbgnbd_model := (SELECT @extschema@.mbgnbd_model(m.r, m.alpha, m.a, m.b)
		FROM @extschema@.models AS m WHERE m.model_id = purchase_model_id AND m.kind = 'mbgnbd');
	pareto_nbd @extschema@.pareto_nbd_model := (SELECT @extschema@.pareto_nbd_model(m.r, m.alpha, m.s, m.beta)
		FROM @extschema@.models AS m WHERE m.model_id = purchase_model_id AND m.kind = 'pareto_nbd');
	gamma_gamma @extschema@.gamma_gamma_model := (SELECT @extschema@.gamma_gamma_model(m.p, m.q, m.v)
		FROM @extschema@.models AS m WHERE m.model_id = gamma_gamma_id);
	written bigint;
BEGIN
	IF changed IS NOT NULL THEN
		target_snapshot := (SELECT p.snapshot_id FROM @extschema@.published_snapshot AS p);
		EXECUTE format('DELETE FROM @extschema@.segment_snapshots AS cs USING %s AS c
						WHERE cs.snapshot_id = $1 AND cs.customer_id = c.customer_id', changed)
		USING target_snapshot;
	END IF;
	-- The customers with facts and the changed ones as CTEs: Citus joins
	-- those with its distributed crm.customers, not the temporary tables.
	EXECUTE format(
		'WITH with_facts AS MATERIALIZED (SELECT f.customer_id FROM %1$s AS f) %3$s
		 INSERT INTO @extschema@.segment_snapshots
		 SELECT $1, @extschema@.progress_count(f.customer_id), $2, $3, f.first_purchase_at, f.last_purchase_at,
				f.recency_days, f.orders, f.net_spend, f.returns,
				(f.scores).r_score, (f.scores).f_score, (f.scores).m_score, (f.scores).fm_score, (f.scores).rfm_code,
				CASE WHEN f.orders > 0 THEN coalesce(map.segment, ''Unclassified'') END,
				@extschema@.lifecycle_stage(f.orders, f.recency_days, f.tenure_days, f.last_gap_days,
											($4).new_days, ($4).active_days, ($4).at_risk_days, ($4).dormant_days),
				f.tenure_days, f.purchase_days, f.btyd_frequency, f.btyd_recency, f.btyd_t,
				f.avg_repeat_spend, f.last_gap_days, f.median_gap_days,
				f.btyd_frequency = 0, v.p_alive, v.churn_risk, v.expected_purchases, v.expected_spend, v.clv,
				$9, $10
		 FROM (%2$s) AS f
		 LEFT JOIN @extschema@.segment_map AS map ON map.rfm_code = (f.scores).rfm_code
		 -- Customers without a purchase have NULL BTYD facts: the strict
		 -- model functions give NULL.  One-time buyers have no mean repeat
		 -- spend: 0 makes Gamma-Gamma return the population mean.  Of each
		 -- coalesce only the call with the model in use does any work.
		 CROSS JOIN LATERAL (
			SELECT coalesce(@extschema@.p_alive(f.btyd_frequency, f.btyd_recency, f.btyd_t, $5),
							@extschema@.p_alive(f.btyd_frequency, f.btyd_recency, f.btyd_t, $6),
							@extschema@.p_alive(f.btyd_frequency, f.btyd_recency, f.btyd_t, $7)) AS p_alive,
				   coalesce(@extschema@.churn_risk(($4).churn_horizon_days, f.btyd_frequency, f.btyd_recency, f.btyd_t, $5),
							@extschema@.churn_risk(($4).churn_horizon_days, f.btyd_frequency, f.btyd_recency, f.btyd_t, $6),
							@extschema@.churn_risk(($4).churn_horizon_days, f.btyd_frequency, f.btyd_recency, f.btyd_t, $7)) AS churn_risk,
				   coalesce(@extschema@.expected_purchases(($4).churn_horizon_days, f.btyd_frequency, f.btyd_recency, f.btyd_t, $5),
							@extschema@.expected_purchases(($4).churn_horizon_days, f.btyd_frequency, f.btyd_recency, f.btyd_t, $6),
							@extschema@.expected_purchases(($4).churn_horizon_days, f.btyd_frequency, f.btyd_recency, f.btyd_t, $7)) AS expected_purchases,
				   @extschema@.expected_spend(f.btyd_frequency, coalesce(f.avg_repeat_spend, 0), spend.model) AS expected_spend,
				   coalesce(@extschema@.clv(f.btyd_frequency, f.btyd_recency, f.btyd_t, coalesce(f.avg_repeat_spend, 0),
											$5, spend.model, ($4).clv_months, ($4).monthly_discount, 365.25 / 12),
							@extschema@.clv(f.btyd_frequency, f.btyd_recency, f.btyd_t, coalesce(f.avg_repeat_spend, 0),
											$6, spend.model, ($4).clv_months, ($4).monthly_discount, 365.25 / 12),
							@extschema@.clv(f.btyd_frequency, f.btyd_recency, f.btyd_t, coalesce(f.avg_repeat_spend, 0),
											$7, spend.model, ($4).clv_months, ($4).monthly_discount, 365.25 / 12)) AS clv
			FROM (SELECT CASE WHEN ($8).p * f.btyd_frequency + ($8).q > 1 THEN $8 END AS model) AS spend
		 ) AS v
		 UNION ALL
		 SELECT $1, c.customer_id, $2, $3, NULL, NULL, NULL, 0, 0, 0,
				NULL, NULL, NULL, NULL, NULL, NULL,
				@extschema@.lifecycle_stage(0, NULL, NULL, NULL,
											($4).new_days, ($4).active_days, ($4).at_risk_days, ($4).dormant_days),
				NULL, 0, NULL, NULL, NULL, NULL, NULL, NULL,
				NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL
		 FROM @extschema@.customers AS c
		 WHERE NOT EXISTS (SELECT 1 FROM with_facts AS f WHERE f.customer_id = c.customer_id) %4$s',
		facts,
		-- Each customer scored once (OFFSET 0 keeps the call from being
		-- repeated for every score column), or the scores of equal_count.
		CASE WHEN scored IS NULL
			THEN format('SELECT f.*, @extschema@.rfm_score(f.recency_days, f.orders, f.net_spend, $11, $12, $13) AS scores
						 FROM %s AS f OFFSET 0', facts)
			ELSE format('SELECT f.*, s.scores FROM %s AS f JOIN %s AS s USING (customer_id)', facts, scored) END,
		CASE WHEN changed IS NOT NULL
			THEN format(', changed AS MATERIALIZED (SELECT ch.customer_id FROM %s AS ch)', changed) ELSE '' END,
		CASE WHEN changed IS NOT NULL
			THEN 'AND EXISTS (SELECT 1 FROM changed AS ch WHERE ch.customer_id = c.customer_id)' ELSE '' END)
	USING target_snapshot, as_of, run_id, cfg, bgnbd, mbgnbd, pareto_nbd, gamma_gamma,
		  purchase_model_id, gamma_gamma_id, r_breaks, f_breaks, m_breaks;
	GET DIAGNOSTICS written = ROW_COUNT;
	RETURN written;
END
$$;
COMMENT ON FUNCTION @extschema@.refresh_publish(bigint, @extschema@.settings, timestamptz, regclass, double precision[], double precision[], double precision[], regclass, regclass, bigint, bigint) IS
	'Internal: publish stage of a refresh run. Writes every customer''s snapshot row (RFM scores on the break points or from the table scored, segment, lifecycle stage, churn and value) from the facts table into the run''s partition of crm.segment_snapshots, or, for the customers of the table changed, into the published snapshot; returns the rows written.';

-- History: a full run's snapshot becomes the published one, and its
-- segments are kept in crm.segment_history (whole snapshots only).
CREATE OR REPLACE FUNCTION @extschema@.refresh_history(run_id bigint)
RETURNS void
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	PERFORM @extschema@.snapshot_publish(run_id);
	INSERT INTO @extschema@.segment_history
	SELECT refresh_history.run_id, cs.customer_id, cs.segment, cs.lifecycle_stage, cs.rfm_code
	FROM @extschema@.segment_snapshots AS cs WHERE cs.snapshot_id = refresh_history.run_id;
	PERFORM @extschema@.run_partition_index('segment_history', run_id);
END
$$;
COMMENT ON FUNCTION @extschema@.refresh_history(bigint) IS
	'Internal: last stage of a full refresh run. Publishes the run''s snapshot partition and copies its segments into crm.segment_history.';

-- Second transaction of a refresh: the stages in order.  Returns NULL on
-- success, or the error as {sqlstate, message, detail, hint} after logging
-- the run as failed.
CREATE OR REPLACE FUNCTION @extschema@.refresh_build(run_id bigint)
RETURNS text[]
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	as_of timestamptz := (SELECT r.as_of FROM @extschema@.refresh_runs AS r WHERE r.run_id = refresh_build.run_id);
	cfg @extschema@.settings;
	current_stage text := 'queued';
	plan record;
	incremental boolean;
	queue record;
	facts record;
	scores record;
	models record;
	written bigint;
	e_state text;
	e_message text;
	e_detail text;
	e_hint text;
BEGIN
	-- One refresh at a time: a second caller waits here until the first commits.
	PERFORM pg_advisory_xact_lock(hashtext('retail_crm.refresh_segments'));
	-- Read once: every stage works with the same settings.
	SELECT * INTO cfg FROM @extschema@.settings;
	BEGIN
		current_stage := 'facts';
		plan := @extschema@.refresh_plan(run_id, cfg);
		incremental := plan.mode = 'incremental';
		-- Other sessions follow the run in crm.progress.
		PERFORM @extschema@.progress_start(plan.mode || ' refresh', run_id, 4);
		PERFORM @extschema@.progress_stage(1, current_stage,
			(SELECT c.reltuples::bigint FROM pg_class AS c
			 WHERE c.oid = plan.source AND c.relkind = 'r' AND c.reltuples >= 0));
		queue := @extschema@.refresh_read_queue(incremental);
		facts := @extschema@.build_facts(as_of, plan.source, queue.changed);
		PERFORM @extschema@.refresh_progress(run_id, current_stage, facts.customers);

		current_stage := 'scores';
		PERFORM @extschema@.progress_stage(2, current_stage, facts.customers);
		scores := @extschema@.refresh_scores(run_id, cfg, facts.facts, facts.scored_customers, plan.base_run_id);
		PERFORM @extschema@.refresh_progress(run_id, current_stage, facts.scored_customers);

		current_stage := 'models';
		PERFORM @extschema@.progress_stage(3, current_stage, facts.scored_customers);
		models := @extschema@.refresh_models(cfg, as_of, plan.source, facts.facts, incremental);
		PERFORM @extschema@.refresh_progress(run_id, current_stage, facts.scored_customers);

		current_stage := 'publish';
		PERFORM @extschema@.progress_stage(4, current_stage, facts.customers);
		written := @extschema@.refresh_publish(run_id, cfg, as_of, facts.facts,
											   scores.r_breaks, scores.f_breaks, scores.m_breaks, scores.scored,
											   queue.changed, models.purchase_model_id, models.gamma_gamma_id);
		IF NOT incremental THEN
			PERFORM @extschema@.refresh_history(run_id);
		END IF;
		EXECUTE format('DELETE FROM @extschema@.changed_customers AS q USING %s AS r
						WHERE q.customer_id = r.customer_id AND q.change_id = r.change_id', queue.queue_read);
		PERFORM @extschema@.refresh_progress(run_id, current_stage, written);

		UPDATE @extschema@.refresh_runs AS r
		SET status = 'succeeded', stage = 'done', finished_at = clock_timestamp(),
			customers = written, scored_customers = facts.scored_customers,
			anonymous_rows = facts.anonymous_rows, future_rows = facts.future_rows
		WHERE r.run_id = refresh_build.run_id;
		-- Freed now rather than at the commit.
		EXECUTE format('DROP TABLE %s', concat_ws(', ', facts.facts, scores.scored, queue.changed, queue.queue_read));
		PERFORM @extschema@.progress_finish();
		RETURN NULL;
	EXCEPTION WHEN OTHERS THEN
		GET STACKED DIAGNOSTICS e_state = RETURNED_SQLSTATE, e_message = MESSAGE_TEXT,
								e_detail = PG_EXCEPTION_DETAIL, e_hint = PG_EXCEPTION_HINT;
		UPDATE @extschema@.refresh_runs AS r
		SET status = 'failed', stage = current_stage, finished_at = clock_timestamp(),
			error_sqlstate = e_state, error_message = e_message
		WHERE r.run_id = refresh_build.run_id;
		PERFORM @extschema@.progress_finish();
		RETURN ARRAY[e_state, e_message, e_detail, e_hint];
	END;
END
$$;
COMMENT ON FUNCTION @extschema@.refresh_build(bigint) IS
	'Internal: second transaction of a refresh. Runs the stages (plan, queue, facts, scores, models, publish, history) and replaces crm.customer_segments (an incremental run: the rows of the changed customers); on error logs the run as failed and returns the error.';

-- Re-raises a refresh error after its failure has been committed to the log.
CREATE OR REPLACE FUNCTION @extschema@.refresh_raise(run_id bigint, failure text[])
RETURNS void
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	RAISE EXCEPTION USING ERRCODE = failure[1], MESSAGE = failure[2],
		DETAIL = concat_ws(' ', nullif(failure[3], ''),
						   format('Refresh run %s is logged as failed in crm.refresh_runs.', run_id)),
		HINT = coalesce(nullif(failure[4], ''), 'See crm.refresh_runs for the stage it failed in.');
END
$$;
COMMENT ON FUNCTION @extschema@.refresh_raise(bigint, text[]) IS
	'Internal: raises the error a refresh run failed with.';

-- No SET search_path on this procedure: PostgreSQL forbids COMMIT in a
-- procedure with SET clauses.  It only calls schema-qualified functions that
-- pin their own search_path.
CREATE OR REPLACE PROCEDURE @extschema@.refresh_segments(as_of timestamptz DEFAULT pg_catalog.now(),
															incremental boolean DEFAULT false)
LANGUAGE plpgsql
AS $$
DECLARE
	run bigint;
	failure text[];
BEGIN
	IF incremental IS NULL THEN
		RAISE EXCEPTION USING ERRCODE = 'null_value_not_allowed',
			MESSAGE = 'incremental must be true or false, not NULL',
			HINT = 'Leave it out for a full refresh, or pass incremental => true.';
	END IF;
	run := @extschema@.refresh_start(as_of, CASE WHEN incremental THEN 'incremental' ELSE 'full' END);
	COMMIT;
	-- The partitions a full run fills are attached, empty, in a transaction
	-- of their own (83_snapshots.sql), also for an incremental call, which
	-- may have to run in full.
	PERFORM @extschema@.run_partition_create('segment_snapshots', run);
	PERFORM @extschema@.run_partition_create('segment_history', run);
	COMMIT;
	failure := @extschema@.refresh_build(run);
	COMMIT;
	-- In a transaction of its own: the lock a drop takes is held only for it.
	PERFORM @extschema@.drop_old_partitions();
	COMMIT;
	IF failure IS NOT NULL THEN
		PERFORM @extschema@.refresh_raise(run, failure);
	END IF;
END
$$;
COMMENT ON PROCEDURE @extschema@.refresh_segments(timestamptz, boolean) IS
	'Rebuilds crm.customer_segments as of the given analysis date (default now()): facts, RFM scores, segments, lifecycle stages, churn and value models. With incremental => true only the customers queued in crm.changed_customers are recomputed, on the break points and models of the last full run (it runs in full, with a NOTICE, when settings changed or there is no full run to build on). Readers see the old snapshot until the new one is committed. Call it outside an explicit transaction block (it commits the run log before working). A concurrent call waits for the running one.';

-- Routines that change the snapshot or the log: crm_admin only (an upgrade
-- re-running this part grants the routines whose arguments changed).
REVOKE EXECUTE ON FUNCTION @extschema@.refresh_progress(bigint, text, bigint),
	@extschema@.refresh_start(timestamptz, text), @extschema@.refresh_plan(bigint, @extschema@.settings),
	@extschema@.refresh_read_queue(boolean), @extschema@.build_facts(timestamptz, regclass, regclass),
	@extschema@.refresh_scores(bigint, @extschema@.settings, regclass, bigint, bigint),
	@extschema@.refresh_models(@extschema@.settings, timestamptz, regclass, regclass, boolean),
	@extschema@.refresh_publish(bigint, @extschema@.settings, timestamptz, regclass, double precision[], double precision[], double precision[], regclass, regclass, bigint, bigint),
	@extschema@.refresh_history(bigint), @extschema@.refresh_build(bigint), @extschema@.refresh_raise(bigint, text[]) FROM PUBLIC;
REVOKE EXECUTE ON PROCEDURE @extschema@.refresh_segments(timestamptz, boolean) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION @extschema@.refresh_progress(bigint, text, bigint),
	@extschema@.refresh_start(timestamptz, text), @extschema@.refresh_plan(bigint, @extschema@.settings),
	@extschema@.refresh_read_queue(boolean), @extschema@.build_facts(timestamptz, regclass, regclass),
	@extschema@.refresh_scores(bigint, @extschema@.settings, regclass, bigint, bigint),
	@extschema@.refresh_models(@extschema@.settings, timestamptz, regclass, regclass, boolean),
	@extschema@.refresh_publish(bigint, @extschema@.settings, timestamptz, regclass, double precision[], double precision[], double precision[], regclass, regclass, bigint, bigint),
	@extschema@.refresh_history(bigint), @extschema@.refresh_build(bigint), @extschema@.refresh_raise(bigint, text[]) TO crm_admin;
GRANT EXECUTE ON PROCEDURE @extschema@.refresh_segments(timestamptz, boolean) TO crm_admin;
