-- The refresh's per-run tables: the published segment snapshot and the
-- segment history, each partitioned by run, one partition per run.
--
-- A full refresh writes every customer's row into new partitions, builds
-- their indexes once (a sorted build, not a million index insertions) and
-- publishes the snapshot by moving the one-row pointer
-- crm.published_snapshot, in one transaction.  Readers go through the view
-- crm.customer_segments, which follows the pointer: they see the old
-- snapshot until the commit and never wait for the refresh, which takes no
-- lock that conflicts with reading.  Nothing is deleted row by row: old
-- partitions are dropped whole after the commit (drop_old_partitions).  An
-- incremental refresh rewrites its customers' rows in the published
-- partition.
--
-- A run's partitions are attached, empty, in an earlier transaction.
-- ATTACH does not block readers, so a query may run on a partition list
-- cached from before the attach; the invalidation that updates it is sent
-- only after the attach is visible.  Were the attach and the pointer
-- committed together, a query could see the new pointer with the old list,
-- find no partition for it and return no rows.

CREATE TABLE @extschema@.segment_snapshots (
	snapshot_id			bigint NOT NULL,
	customer_id			bigint NOT NULL,
	as_of				timestamptz NOT NULL,
	run_id				bigint NOT NULL,
	first_purchase_at	timestamptz,
	last_purchase_at	timestamptz,
	recency_days		integer,
	frequency			bigint NOT NULL,
	monetary			numeric NOT NULL,
	returns				bigint NOT NULL,
	r_score				smallint,
	f_score				smallint,
	m_score				smallint,
	fm_score			smallint,
	rfm_code			smallint,
	segment				text,
	lifecycle_stage		text NOT NULL,
	tenure_days			integer,
	purchase_days		integer,
	btyd_frequency		integer,
	btyd_recency		integer,
	btyd_t				integer,
	avg_repeat_spend	numeric,
	last_gap_days		integer,
	median_gap_days		double precision,
	one_time_buyer		boolean,
	p_alive				double precision,
	churn_risk			double precision,
	expected_purchases	double precision,
	expected_spend		double precision,
	clv					double precision,
	bgnbd_model_id		bigint,
	gamma_gamma_model_id bigint
) PARTITION BY LIST (snapshot_id);
COMMENT ON TABLE @extschema@.segment_snapshots IS
	'Internal: the snapshots of crm.customer_segments, one partition per full refresh run (crm.segment_snapshots_<run_id>). Read crm.customer_segments instead.';
COMMENT ON COLUMN @extschema@.segment_snapshots.snapshot_id IS 'Full refresh run that built the snapshot; its partition is crm.segment_snapshots_<snapshot_id>.';

-- Each customer's segment at each full run, for migration analysis.
-- No foreign key to refresh_runs: runs are never deleted, and checking one
-- per customer row was most of the cost of writing the history.
CREATE TABLE @extschema@.segment_history (
	run_id			bigint NOT NULL,
	customer_id		bigint NOT NULL,
	segment			text,
	lifecycle_stage	text NOT NULL,
	rfm_code		smallint
) PARTITION BY LIST (run_id);
COMMENT ON TABLE @extschema@.segment_history IS
	'Segment and lifecycle stage of every customer at each of the last crm.settings.history_runs_kept successful full runs; one partition per run (crm.segment_history_<run_id>), unique by customer.';
COMMENT ON COLUMN @extschema@.segment_history.run_id IS 'Refresh run.';
COMMENT ON COLUMN @extschema@.segment_history.customer_id IS 'Customer key.';
COMMENT ON COLUMN @extschema@.segment_history.segment IS 'Segment at that run; NULL when not scored.';
COMMENT ON COLUMN @extschema@.segment_history.lifecycle_stage IS 'Lifecycle stage at that run.';
COMMENT ON COLUMN @extschema@.segment_history.rfm_code IS 'RFM code at that run.';

-- Which snapshot readers see: no row before the first refresh.
CREATE TABLE @extschema@.published_snapshot (
	singleton		boolean PRIMARY KEY DEFAULT true CONSTRAINT published_snapshot_one_row CHECK (singleton),
	snapshot_id		bigint NOT NULL,
	published_at	timestamptz NOT NULL DEFAULT clock_timestamp(),
	published_in	xid8 NOT NULL DEFAULT pg_current_xact_id()
);
COMMENT ON TABLE @extschema@.published_snapshot IS
	'The snapshot crm.customer_segments shows: one row, moved by each full refresh in the transaction that publishes it.';
COMMENT ON COLUMN @extschema@.published_snapshot.singleton IS 'Always true: keeps the table at one row.';
COMMENT ON COLUMN @extschema@.published_snapshot.snapshot_id IS 'The published partition of crm.segment_snapshots.';
COMMENT ON COLUMN @extschema@.published_snapshot.published_at IS 'When it was published.';
COMMENT ON COLUMN @extschema@.published_snapshot.published_in IS 'Transaction that published it: the partitions it replaced are dropped only once no transaction whose snapshot predates this one remains.';

-- The scalar subquery is evaluated once per query, before the scan, so
-- the executor reads the published partition only.  The money columns get
-- the precision and scale of what customer_facts returns, for BI drivers.
CREATE VIEW @extschema@.customer_segments AS
SELECT s.customer_id, s.as_of, s.run_id, s.first_purchase_at, s.last_purchase_at,
	   s.recency_days, s.frequency, s.monetary::numeric(19,4) AS monetary, s.returns, s.r_score, s.f_score, s.m_score,
	   s.fm_score, s.rfm_code, s.segment, s.lifecycle_stage, s.tenure_days, s.purchase_days,
	   s.btyd_frequency, s.btyd_recency, s.btyd_t, s.avg_repeat_spend::numeric(19,4) AS avg_repeat_spend, s.last_gap_days,
	   s.median_gap_days, s.one_time_buyer, s.p_alive, s.churn_risk, s.expected_purchases,
	   s.expected_spend, s.clv, s.bgnbd_model_id, s.gamma_gamma_model_id
FROM @extschema@.segment_snapshots AS s
WHERE s.snapshot_id = (SELECT p.snapshot_id FROM @extschema@.published_snapshot AS p);
COMMENT ON VIEW @extschema@.customer_segments IS
	'One row per customer as of the last successful refresh: RFM facts and scores, segment, lifecycle stage. Replaced atomically by crm.refresh_segments (a full run publishes a new snapshot; an incremental run rewrites its customers'' rows). Days are 24-hour periods counted back from as_of.';
COMMENT ON COLUMN @extschema@.customer_segments.customer_id IS 'Customer key.';
COMMENT ON COLUMN @extschema@.customer_segments.as_of IS 'Analysis date of the refresh.';
COMMENT ON COLUMN @extschema@.customer_segments.run_id IS 'Refresh run that wrote the row (crm.refresh_runs).';
COMMENT ON COLUMN @extschema@.customer_segments.first_purchase_at IS 'First purchase (amount > 0) up to as_of.';
COMMENT ON COLUMN @extschema@.customer_segments.last_purchase_at IS 'Last purchase up to as_of.';
COMMENT ON COLUMN @extschema@.customer_segments.recency_days IS 'R: whole days from the last purchase to as_of; NULL without a purchase.';
COMMENT ON COLUMN @extschema@.customer_segments.frequency IS 'F: number of orders with a positive amount.';
COMMENT ON COLUMN @extschema@.customer_segments.monetary IS 'M: net spend, purchases minus returns.';
COMMENT ON COLUMN @extschema@.customer_segments.returns IS 'Number of return transactions (negative amount).';
COMMENT ON COLUMN @extschema@.customer_segments.r_score IS 'Recency score 1-5, 5 = most recent; NULL for customers without a purchase.';
COMMENT ON COLUMN @extschema@.customer_segments.f_score IS 'Frequency score 1-5, 5 = most orders.';
COMMENT ON COLUMN @extschema@.customer_segments.m_score IS 'Monetary score 1-5, 5 = highest net spend.';
COMMENT ON COLUMN @extschema@.customer_segments.fm_score IS 'Mean of F and M rounded half up: the FM axis of the segment grid.';
COMMENT ON COLUMN @extschema@.customer_segments.rfm_code IS 'R*100 + F*10 + M, e.g. 555.';
COMMENT ON COLUMN @extschema@.customer_segments.segment IS 'Segment from the active rule set; NULL for customers without a purchase (not scored).';
COMMENT ON COLUMN @extschema@.customer_segments.lifecycle_stage IS 'prospect, new, active, at-risk, dormant, lost or reactivated.';
COMMENT ON COLUMN @extschema@.customer_segments.tenure_days IS 'Whole days from the first purchase to as_of.';
COMMENT ON COLUMN @extschema@.customer_segments.purchase_days IS 'Distinct days with a purchase.';
COMMENT ON COLUMN @extschema@.customer_segments.btyd_frequency IS 'BG/NBD x: repeat purchase days (purchase_days - 1).';
COMMENT ON COLUMN @extschema@.customer_segments.btyd_recency IS 'BG/NBD t_x in days: from the first to the last purchase day.';
COMMENT ON COLUMN @extschema@.customer_segments.btyd_t IS 'BG/NBD T in days: from the first purchase day to as_of.';
COMMENT ON COLUMN @extschema@.customer_segments.avg_repeat_spend IS 'Mean purchase value of the repeat purchase days (Gamma-Gamma input); NULL when there is none.';
COMMENT ON COLUMN @extschema@.customer_segments.last_gap_days IS 'Days between the two latest purchase days.';
COMMENT ON COLUMN @extschema@.customer_segments.median_gap_days IS 'Median days between consecutive purchase days.';
COMMENT ON COLUMN @extschema@.customer_segments.one_time_buyer IS 'True when the customer bought on one day only (x = 0); under BG/NBD their P(alive) = 1 is a property of the model, not a prediction (MBG/NBD and Pareto/NBD model it), while their churn_risk is graded under every model.';
COMMENT ON COLUMN @extschema@.customer_segments.p_alive IS 'Probability that the customer is still active at as_of, under the purchase model used (bgnbd_model_id); NULL without a purchase or a converged model.';
COMMENT ON COLUMN @extschema@.customer_segments.churn_risk IS 'Probability of no purchase in the next crm.settings.churn_horizon_days days (dropped out, or active and not buying), under the purchase model used. Until 1.0 this column was 1 - p_alive.';
COMMENT ON COLUMN @extschema@.customer_segments.expected_purchases IS 'Purchase days the purchase model expects in the next crm.settings.churn_horizon_days days.';
COMMENT ON COLUMN @extschema@.customer_segments.expected_spend IS 'Gamma-Gamma expected spend per purchase day (the population mean for one-time buyers).';
COMMENT ON COLUMN @extschema@.customer_segments.clv IS 'Customer lifetime value over crm.settings.clv_months months, discounted monthly by crm.settings.monthly_discount.';
COMMENT ON COLUMN @extschema@.customer_segments.bgnbd_model_id IS 'Purchase model used (crm.models; its kind is bgnbd, mbgnbd or pareto_nbd, see crm.settings.churn_model). The name is kept from 1.0, when BG/NBD was the only one.';
COMMENT ON COLUMN @extschema@.customer_segments.gamma_gamma_model_id IS 'Gamma-Gamma model used (crm.models).';

-- The partition of segment_snapshots or segment_history holding a run's rows.
CREATE FUNCTION @extschema@.run_partition(parent text, run_id bigint)
RETURNS text
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$ SELECT parent || '_' || run_id $$;
COMMENT ON FUNCTION @extschema@.run_partition(text, bigint) IS
	'Internal: the name (in the extension''s schema) of the partition of a per-run table (segment_snapshots or segment_history) that holds a run''s rows.';

-- One of the two per-run tables, or an error.
CREATE FUNCTION @extschema@.per_run_table(parent text)
RETURNS regclass
LANGUAGE plpgsql STABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	IF parent IS NULL OR parent NOT IN ('segment_snapshots', 'segment_history') THEN
		RAISE EXCEPTION USING ERRCODE = 'invalid_parameter_value',
			MESSAGE = format('%s is not a per-run table of retail_crm', coalesce(parent, 'NULL')),
			HINT = 'Partitions are made by crm.refresh_segments; call that instead.';
	END IF;
	RETURN to_regclass('@extschema@.' || quote_ident(parent));
END
$$;
COMMENT ON FUNCTION @extschema@.per_run_table(text) IS
	'Internal: crm.segment_snapshots or crm.segment_history by name; any other name is an error.';

-- Owner's rights: the refresh runs as crm_admin, which may not create
-- tables in the schema or alter the parents.
CREATE FUNCTION @extschema@.run_partition_create(parent text, run_id bigint)
RETURNS void
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	parent_table regclass := @extschema@.per_run_table(parent);
BEGIN
	IF NOT EXISTS (SELECT 1 FROM @extschema@.refresh_runs AS r WHERE r.run_id = run_partition_create.run_id) THEN
		RAISE EXCEPTION USING ERRCODE = 'invalid_parameter_value',
			MESSAGE = format('refresh run %s does not exist', coalesce(run_id::text, 'NULL')),
			HINT = 'Partitions are made by crm.refresh_segments; call that instead.';
	END IF;
	-- LIKE and ATTACH rather than PARTITION OF: ATTACH locks the parent in a
	-- mode that readers do not wait for.  The new partition is empty, so
	-- attaching it scans nothing.  A snapshot partition gets no autovacuum:
	-- it is written once, analyzed when published and dropped by the next
	-- full run (an incremental run rewrites a few rows), and an autovacuum
	-- worker on it would keep that drop from getting its lock.
	EXECUTE format('CREATE TABLE @extschema@.%I (LIKE %s) %s',
				   @extschema@.run_partition(parent, run_id), parent_table,
				   CASE WHEN parent = 'segment_snapshots'
						THEN 'WITH (autovacuum_enabled = false, toast.autovacuum_enabled = false)' ELSE '' END);
	EXECUTE format('ALTER TABLE %s ATTACH PARTITION @extschema@.%I FOR VALUES IN (%s)',
				   parent_table, @extschema@.run_partition(parent, run_id), run_id);
	-- BI tools list every table of the schema, readable or not (JDBC
	-- getTables does not filter by privilege): say what this one is and
	-- what to read instead, since only the parent is granted.
	EXECUTE format('COMMENT ON TABLE @extschema@.%I IS %L',
				   @extschema@.run_partition(parent, run_id),
				   format('Partition of %s for refresh run %s, internal: read %s instead.', parent_table, run_id,
						  CASE WHEN parent = 'segment_snapshots' THEN '@extschema@.customer_segments' ELSE parent_table::text END));
END
$$;
COMMENT ON FUNCTION @extschema@.run_partition_create(text, bigint) IS
	'Internal: creates and attaches the empty partition of crm.segment_snapshots or crm.segment_history for a refresh run, commented with what to read instead.';

-- Indexes are built after the rows are in: one sorted build each.
-- Readers may already lock the partition (it was attached earlier): CREATE
-- INDEX takes a lock they do not wait for, ADD PRIMARY KEY one they would.
CREATE FUNCTION @extschema@.run_partition_index(parent text, run_id bigint)
RETURNS void
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	parent_table regclass := @extschema@.per_run_table(parent);
	run_table regclass := to_regclass('@extschema@.' || quote_ident(@extschema@.run_partition(parent, run_id)));
BEGIN
	IF NOT EXISTS (SELECT 1 FROM pg_inherits AS i WHERE i.inhparent = parent_table AND i.inhrelid = run_table)
	   OR EXISTS (SELECT 1 FROM pg_index AS x WHERE x.indrelid = run_table) THEN
		RAISE EXCEPTION USING ERRCODE = 'invalid_parameter_value',
			MESSAGE = format('%s has no partition for run %s to index, or it is indexed already',
							 parent, coalesce(run_id::text, 'NULL')),
			HINT = 'Partitions are made by crm.refresh_segments; call that instead.';
	END IF;
	EXECUTE format('CREATE UNIQUE INDEX ON %s (customer_id)', run_table);
	IF parent = 'segment_snapshots' THEN
		EXECUTE format('CREATE INDEX ON %s (segment)', run_table);
	END IF;
	-- Readers plan with statistics from the first query on.
	EXECUTE format('ANALYZE %s', run_table);
END
$$;
COMMENT ON FUNCTION @extschema@.run_partition_index(text, bigint) IS
	'Internal: builds the indexes of a run''s partition of crm.segment_snapshots (unique customer, segment) or crm.segment_history (unique customer) once its rows are in, and analyzes it.';

-- The publishing move itself; others see it at commit.
CREATE FUNCTION @extschema@.snapshot_publish(snapshot_id bigint)
RETURNS void
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	PERFORM @extschema@.run_partition_index('segment_snapshots', snapshot_id);
	INSERT INTO @extschema@.published_snapshot AS p (snapshot_id) VALUES (snapshot_publish.snapshot_id)
	ON CONFLICT (singleton) DO UPDATE
	SET snapshot_id = excluded.snapshot_id, published_at = excluded.published_at, published_in = excluded.published_in;
END
$$;
COMMENT ON FUNCTION @extschema@.snapshot_publish(bigint) IS
	'Internal: indexes and analyzes a snapshot''s partition and makes it the one crm.customer_segments shows (visible to others at commit).';

-- Partitions of one parent, unless being read.  Dropping a partition locks
-- its parent against readers; the lock is asked for with NOWAIT, so that no
-- reader ever queues behind the drop: five tries over half a second, then
-- the partitions are left to the next call.
CREATE FUNCTION @extschema@.drop_partitions(parent regclass, partitions regclass[])
RETURNS integer
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	attempt integer;
BEGIN
	IF coalesce(cardinality(partitions), 0) = 0 THEN
		RETURN 0;
	END IF;
	FOR attempt IN 1..5 LOOP
		BEGIN
			EXECUTE format('LOCK TABLE %s IN ACCESS EXCLUSIVE MODE NOWAIT', parent);
			EXECUTE format('DROP TABLE %s', array_to_string(partitions, ', '));
			RETURN cardinality(partitions);
		EXCEPTION WHEN lock_not_available THEN
			PERFORM pg_sleep(0.1);
		END;
	END LOOP;
	RAISE NOTICE 'retail_crm: % old partition(s) of % are still being read; the next refresh drops them',
		cardinality(partitions), parent
		USING HINT = 'Or call crm.drop_old_partitions() when the long reads have finished.';
	RETURN 0;
END
$$;
COMMENT ON FUNCTION @extschema@.drop_partitions(regclass, regclass[]) IS
	'Internal: drops partitions of a parent unless it is being read (NOWAIT, five tries over half a second); returns how many it dropped.';

-- Partitions to keep: the published snapshot, the history of the last
-- history_runs_kept full runs, and those of runs still running.
CREATE FUNCTION @extschema@.drop_old_partitions()
RETURNS integer
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	parent text;
	old_partitions regclass[];
	dropped integer := 0;
	older_reader text;
BEGIN
	-- A transaction whose snapshot predates the last publish (REPEATABLE
	-- READ, an open cursor; on a standby with hot_standby_feedback, through
	-- its walsender or replication slot) still sees the old pointer and the
	-- old history runs, and may read them later: the partitions stay until
	-- it is gone.
	SELECT o.holder INTO older_reader
	FROM (SELECT format('process %s', a.pid) AS holder, a.backend_xmin AS snapshot_xmin
		  FROM pg_stat_activity AS a WHERE a.pid <> pg_backend_pid()
		  UNION ALL
		  SELECT format('replication slot %s', r.slot_name), r.xmin FROM pg_replication_slots AS r) AS o
	CROSS JOIN @extschema@.published_snapshot AS p
	WHERE o.snapshot_xmin IS NOT NULL
	  AND age(o.snapshot_xmin) >= age((p.published_in::text::numeric % 4294967296)::text::xid)
	ORDER BY age(o.snapshot_xmin) DESC LIMIT 1;
	IF older_reader IS NOT NULL THEN
		RAISE NOTICE 'retail_crm: old partitions are kept while % holds a snapshot older than the last refresh; the next refresh drops them',
			older_reader
			USING HINT = 'Or call crm.drop_old_partitions() when it has finished.';
		RETURN 0;
	END IF;
	FOREACH parent IN ARRAY ARRAY['segment_snapshots', 'segment_history'] LOOP
		SELECT array_agg(i.inhrelid::regclass ORDER BY i.inhrelid) INTO old_partitions
		FROM pg_inherits AS i
		WHERE i.inhparent = @extschema@.per_run_table(parent)
		  AND NOT EXISTS (
			  SELECT 1
			  FROM (SELECT r.run_id FROM @extschema@.refresh_runs AS r WHERE r.status = 'running'
					UNION ALL
					SELECT p.snapshot_id FROM @extschema@.published_snapshot AS p WHERE parent = 'segment_snapshots'
					UNION ALL
					(SELECT r.run_id FROM @extschema@.refresh_runs AS r
					 WHERE parent = 'segment_history' AND r.status = 'succeeded' AND r.mode IS DISTINCT FROM 'incremental'
					 ORDER BY r.run_id DESC
					 LIMIT (SELECT s.history_runs_kept FROM @extschema@.settings AS s))) AS kept (run_id)
			  WHERE i.inhrelid = to_regclass('@extschema@.' || quote_ident(@extschema@.run_partition(parent, kept.run_id))));
		dropped := dropped + @extschema@.drop_partitions(@extschema@.per_run_table(parent), old_partitions);
	END LOOP;
	RETURN dropped;
END
$$;
COMMENT ON FUNCTION @extschema@.drop_old_partitions() IS
	'Drops the partitions of crm.segment_snapshots no longer published and of crm.segment_history beyond the last crm.settings.history_runs_kept full runs (keeping those of running refreshes), unless they are being read or a transaction older than the last publish could still read them: it tries five times over half a second and never makes a reader wait. Returns how many it dropped. crm.refresh_segments calls it after each run.';

REVOKE EXECUTE ON FUNCTION @extschema@.run_partition_create(text, bigint), @extschema@.run_partition_index(text, bigint),
	@extschema@.snapshot_publish(bigint), @extschema@.drop_partitions(regclass, regclass[]),
	@extschema@.drop_old_partitions() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION @extschema@.run_partition_create(text, bigint), @extschema@.run_partition_index(text, bigint),
	@extschema@.snapshot_publish(bigint), @extschema@.drop_old_partitions() TO crm_admin;

-- Analysts (and admins, who are analysts too) read the view and the
-- history; the refresh (crm_admin) writes through the parents.
GRANT SELECT ON @extschema@.customer_segments, @extschema@.published_snapshot TO crm_analyst;
GRANT SELECT, INSERT, DELETE ON @extschema@.segment_snapshots TO crm_admin;

-- Rights of the history; dump registration of which snapshot is published.
-- The partitions of crm.segment_snapshots and crm.segment_history are
-- created by the refresh, not by the install script: pg_dump dumps them,
-- rows and ATTACH, as it dumps any table outside the extension.
GRANT SELECT ON @extschema@.segment_history TO crm_analyst;
GRANT SELECT, INSERT, UPDATE, DELETE, TRUNCATE ON @extschema@.segment_history TO crm_admin;
SELECT pg_catalog.pg_extension_config_dump('@extschema@.published_snapshot', '');
