-- Distributing with Citus (README, "Distributing with Citus").  One call,
-- crm.distribute(), turns a single-server installation into a distributed
-- one: the per-customer tables are distributed by customer_id and
-- colocated, so that every customer's rows live on one worker; the
-- configuration they refer to becomes reference tables (a copy on every
-- node); the logs and results of the coordinator's own work stay local.
-- Only functions here: an upgrade runs this part again.

-- The placement of every table, in the order distribute() creates it.
CREATE OR REPLACE FUNCTION @extschema@.distribution_plan(
	OUT relation regclass, OUT placement text, OUT distribution_column text, OUT colocate_with regclass)
RETURNS SETOF record
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
	SELECT p.relation::regclass, p.placement, p.distribution_column, p.colocate_with::regclass
	FROM (VALUES
		-- configuration that distributed tables refer to or join
		(1, '@extschema@.channels', 'reference', NULL, NULL),
		(2, '@extschema@.settings', 'reference', NULL, NULL),
		(3, '@extschema@.segment_rules', 'reference', NULL, NULL),
		(4, '@extschema@.segment_map', 'reference', NULL, NULL),
		(5, '@extschema@.rfm_fixed_breaks', 'reference', NULL, NULL),
		(6, '@extschema@.identity_rules', 'reference', NULL, NULL),
		(7, '@extschema@.loyalty_programs', 'reference', NULL, NULL),
		(8, '@extschema@.loyalty_tiers', 'reference', NULL, NULL),
		(9, '@extschema@.campaigns', 'reference', NULL, NULL),
		(10, '@extschema@.campaign_launches', 'reference', NULL, NULL),
		(11, '@extschema@.campaign_send_pulls', 'reference', NULL, NULL),
		(12, '@extschema@.loyalty_runs', 'reference', NULL, NULL),
		-- each customer's rows, on the worker that holds the customer
		(20, '@extschema@.customers', 'distributed', 'customer_id', NULL),
		(21, '@extschema@.customer_contacts', 'distributed', 'customer_id', '@extschema@.customers'),
		(22, '@extschema@.consent_events', 'distributed', 'customer_id', '@extschema@.customers'),
		(23, '@extschema@.transactions', 'distributed', 'customer_id', '@extschema@.customers'),
		(24, '@extschema@.transaction_items', 'distributed', 'customer_id', '@extschema@.customers'),
		(25, '@extschema@.changed_customers', 'distributed', 'customer_id', '@extschema@.customers'),
		(26, '@extschema@.loyalty_members', 'distributed', 'customer_id', '@extschema@.customers'),
		(27, '@extschema@.points_accounts', 'distributed', 'customer_id', '@extschema@.customers'),
		(28, '@extschema@.points_ledger', 'distributed', 'customer_id', '@extschema@.customers'),
		(29, '@extschema@.points_allocations', 'distributed', 'customer_id', '@extschema@.customers'),
		(30, '@extschema@.points_adjustment_reasons', 'distributed', 'customer_id', '@extschema@.customers'),
		(31, '@extschema@.loyalty_tier_changes', 'distributed', 'customer_id', '@extschema@.customers'),
		(32, '@extschema@.campaign_members', 'distributed', 'customer_id', '@extschema@.customers'),
		(33, '@extschema@.campaign_events', 'distributed', 'customer_id', '@extschema@.customers'),
		(34, '@extschema@.segment_snapshots', 'distributed', 'customer_id', '@extschema@.customers'),
		(35, '@extschema@.segment_history', 'distributed', 'customer_id', '@extschema@.customers'),
		-- sales nobody is known for, spread by order
		(40, '@extschema@.anonymous_transactions', 'distributed', 'transaction_id', NULL),
		(41, '@extschema@.anonymous_transaction_items', 'distributed', 'transaction_id', '@extschema@.anonymous_transactions')
	) AS p (step, relation, placement, distribution_column, colocate_with)
	ORDER BY p.step
$$;
COMMENT ON FUNCTION @extschema@.distribution_plan() IS
	'Where crm.distribute() places each table on Citus: reference (a copy on every node) or distributed by distribution_column, colocated with colocate_with; tables not listed stay local to the coordinator (logs, results, the voice of the customer). Stable: a fixed list.';

-- The change queue on Citus: one row trigger per written row, which Citus
-- runs on the shard next to the row (statement triggers with transition
-- tables cannot run there).
CREATE OR REPLACE FUNCTION @extschema@.queue_changed_customer()
RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	IF TG_OP <> 'DELETE' THEN
		INSERT INTO @extschema@.changed_customers (customer_id) VALUES (NEW.customer_id);
	END IF;
	IF TG_OP = 'DELETE' OR (TG_OP = 'UPDATE' AND OLD.customer_id <> NEW.customer_id) THEN
		INSERT INTO @extschema@.changed_customers (customer_id) VALUES (OLD.customer_id);
	END IF;
	RETURN NULL;
END
$$;
COMMENT ON FUNCTION @extschema@.queue_changed_customer() IS
	'Trigger, on Citus: appends the customer of a written row of crm.transactions or crm.customers to crm.changed_customers (crm.distribute() puts it in place of the statement triggers).';

-- The consent log on Citus, row by row for the same reason; the rule of
-- crm.log_consent_changes (15_consent.sql): an answer that agrees with the
-- log's latest one is not logged again.
CREATE OR REPLACE FUNCTION @extschema@.log_consent_change()
RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	IF (TG_OP = 'INSERT' AND NEW.consent OR TG_OP = 'UPDATE' AND NEW.consent IS DISTINCT FROM OLD.consent)
	   AND NEW.consent IS DISTINCT FROM @extschema@.logged_consent(NEW.customer_id, NEW.channel) THEN
		INSERT INTO @extschema@.consent_events (customer_id, channel, granted, recorded_at, source)
		VALUES (NEW.customer_id, NEW.channel, NEW.consent, coalesce(NEW.consent_updated_at, now()),
				@extschema@.consent_source(TG_OP));
	END IF;
	RETURN NULL;
END
$$;
COMMENT ON FUNCTION @extschema@.log_consent_change() IS
	'Trigger, on Citus: writes a crm.consent_events row for a consent an insert set or an update changed on crm.customer_contacts (crm.distribute() puts it in place of the statement triggers).';

-- Every node holds the extension's tables (Citus creates the extension on
-- the workers too), and Citus uses the workers' copies as the shells of the
-- distributed tables: a change made before distribution is made on all.
CREATE OR REPLACE FUNCTION @extschema@.run_on_every_node(command text)
RETURNS void
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	failed record;
BEGIN
	EXECUTE command;
	SELECT * INTO failed FROM run_command_on_workers(command) AS r WHERE NOT r.success LIMIT 1;
	IF FOUND THEN
		RAISE EXCEPTION USING ERRCODE = 'object_not_in_prerequisite_state',
			MESSAGE = format('worker %s:%s refused: %s', failed.nodename, failed.nodeport, failed.result),
			DETAIL = format('The command was: %s', command),
			HINT = 'Every worker must have retail_crm of the coordinator''s version (CREATE EXTENSION retail_crm on the coordinator installs it on the workers).';
	END IF;
END
$$;
COMMENT ON FUNCTION @extschema@.run_on_every_node(text) IS
	'Internal, for crm.distribute(): runs a command here and on every Citus worker (run_command_on_workers), raising 55000 with the worker''s answer when one refuses.';
REVOKE EXECUTE ON FUNCTION @extschema@.run_on_every_node(text) FROM PUBLIC;

CREATE OR REPLACE FUNCTION @extschema@.distribute(shard_count integer DEFAULT NULL)
RETURNS TABLE (relation regclass, placement text)
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	step record;
	fk record;
	fks jsonb := '[]';
	messages text;
BEGIN
	IF NOT EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'citus') THEN
		RAISE EXCEPTION USING ERRCODE = 'object_not_in_prerequisite_state',
			MESSAGE = 'Citus is not installed in this database',
			HINT = 'On the coordinator and every worker: add citus to shared_preload_libraries, restart, CREATE EXTENSION citus in this database; add the workers with SELECT citus_add_node(host, port) on the coordinator; then call crm.distribute() again. A single server needs none of this.';
	END IF;
	IF shard_count IS NOT NULL AND shard_count NOT BETWEEN 1 AND 64000 THEN
		RAISE EXCEPTION USING ERRCODE = 'invalid_parameter_value',
			MESSAGE = format('shard_count must be between 1 and 64000, not %s', shard_count),
			HINT = 'Leave it NULL for citus.shard_count (32 by default), or give a few times the number of worker cores.';
	END IF;
	IF NOT citus_is_coordinator() THEN
		RAISE EXCEPTION USING ERRCODE = 'object_not_in_prerequisite_state',
			MESSAGE = 'crm.distribute() runs on the Citus coordinator',
			HINT = 'Connect to the coordinator and call it there.';
	END IF;
	IF EXISTS (SELECT 1 FROM pg_dist_partition AS d WHERE d.logicalrelid = '@extschema@.customers'::regclass) THEN
		RAISE NOTICE 'retail_crm is distributed already';
		RETURN QUERY SELECT p.relation, p.placement FROM @extschema@.distribution_plan() AS p;
		RETURN;
	END IF;
	-- One refresh, affinity run or tier review at a time against the move.
	LOCK TABLE @extschema@.customers, @extschema@.transactions IN ACCESS EXCLUSIVE MODE;

	-- Citus takes foreign keys only between tables it already placed:
	-- every key between crm tables is dropped here and made again below,
	-- where Citus can enforce it.
	FOR fk IN
		SELECT c.conrelid::regclass AS tbl, c.conname, pg_get_constraintdef(c.oid) AS def
		FROM pg_constraint AS c
		WHERE c.contype = 'f' AND c.connamespace = '@extschema@'::regnamespace
		  AND c.conparentid = 0
	LOOP
		fks := fks || jsonb_build_object('tbl', fk.tbl::text, 'name', fk.conname, 'def', fk.def);
		PERFORM @extschema@.run_on_every_node(format('ALTER TABLE %s DROP CONSTRAINT %I', fk.tbl, fk.conname));
	END LOOP;

	-- Unique keys hold the distribution column on Citus (an order number,
	-- a line or a consent event is unique per customer there); the change
	-- queue and the consent log take row triggers instead of statement
	-- triggers, made below.
	PERFORM @extschema@.run_on_every_node(c.command)
	FROM unnest(ARRAY[
		'ALTER TABLE @extschema@.transactions DROP CONSTRAINT transactions_pkey,
			ADD CONSTRAINT transactions_pkey PRIMARY KEY (transaction_id, customer_id)',
		'ALTER TABLE @extschema@.transaction_items DROP CONSTRAINT transaction_items_pkey,
			ADD CONSTRAINT transaction_items_pkey PRIMARY KEY (transaction_id, line_no, customer_id)',
		'ALTER TABLE @extschema@.consent_events DROP CONSTRAINT consent_events_pkey,
			ADD CONSTRAINT consent_events_pkey PRIMARY KEY (event_id, customer_id)',
		'DROP TRIGGER transactions_queue_inserted ON @extschema@.transactions',
		'DROP TRIGGER transactions_queue_updated ON @extschema@.transactions',
		'DROP TRIGGER transactions_queue_deleted ON @extschema@.transactions',
		'DROP TRIGGER customers_queue_inserted ON @extschema@.customers',
		'DROP TRIGGER customers_queue_deleted ON @extschema@.customers',
		'DROP TRIGGER customer_contacts_consent_inserted ON @extschema@.customer_contacts',
		'DROP TRIGGER customer_contacts_consent_updated ON @extschema@.customer_contacts']) AS c (command);

	-- Triggers (configuration checks, the consent log, the append-only
	-- ledger) run on the shards; Citus asks for this to allow them.
	PERFORM set_config('citus.enable_unsafe_triggers', 'on', true);
	-- Foreign keys to reference tables, made again in this transaction, need
	-- every shard written over one connection per node.
	PERFORM set_config('citus.multi_shard_modify_mode', 'sequential', true);
	-- Citus's notices on every copied table are not news to the caller.
	messages := current_setting('client_min_messages');
	PERFORM set_config('client_min_messages', 'warning', true);
	FOR step IN SELECT * FROM @extschema@.distribution_plan() LOOP
		IF step.placement = 'reference' THEN
			PERFORM create_reference_table(step.relation);
		ELSIF step.colocate_with IS NULL THEN
			PERFORM create_distributed_table(step.relation, step.distribution_column,
											 shard_count => coalesce(shard_count, current_setting('citus.shard_count')::integer),
											 colocate_with => 'none');
		ELSE
			PERFORM create_distributed_table(step.relation, step.distribution_column,
											 colocate_with => step.colocate_with::text);
		END IF;
		-- the rows now live in the shards; the coordinator's copy goes
		-- (the ledger's append-only trigger guards the shards, not this)
		EXECUTE format('ALTER TABLE %s DISABLE TRIGGER USER', step.relation);
		PERFORM truncate_local_data_after_distributing_table(step.relation);
		EXECUTE format('ALTER TABLE %s ENABLE TRIGGER USER', step.relation);
	END LOOP;
	PERFORM set_config('client_min_messages', messages, true);

	-- Rows written on a worker (by the shard-side triggers) draw identity
	-- values from the worker's sequences, which CREATE EXTENSION made there
	-- starting at 1: each node gets its own range, as Citus gives its own
	-- sequences (the node's group id in the top 16 bits).
	PERFORM run_command_on_workers(format(
		'SELECT setval(%L, greatest(nextval(%L), ((SELECT groupid FROM pg_dist_local_group)::bigint << 48) + 1), false)',
		s.seq, s.seq))
	FROM (SELECT pg_get_serial_sequence(p.relation::text, a.attname) AS seq
		  FROM @extschema@.distribution_plan() AS p
		  JOIN pg_attribute AS a ON a.attrelid = p.relation AND a.attidentity <> '' AND NOT a.attisdropped
		  WHERE p.placement = 'distributed') AS s;

	CREATE TRIGGER transactions_queue AFTER INSERT OR UPDATE OR DELETE ON @extschema@.transactions
		FOR EACH ROW EXECUTE FUNCTION @extschema@.queue_changed_customer();
	CREATE TRIGGER customers_queue AFTER INSERT OR DELETE ON @extschema@.customers
		FOR EACH ROW EXECUTE FUNCTION @extschema@.queue_changed_customer();
	CREATE TRIGGER customer_contacts_consent AFTER INSERT OR UPDATE ON @extschema@.customer_contacts
		FOR EACH ROW EXECUTE FUNCTION @extschema@.log_consent_change();

	-- Two views in a variant Citus can plan (one server keeps the parts'
	-- own).  Lines join their order by customer too, which Citus needs to
	-- join them on each shard (on one server a second equality spoils the
	-- plan of 84_baskets.sql).
	CREATE OR REPLACE VIEW @extschema@.customer_basket_items AS
	SELECT i.transaction_id, t.customer_id, t.occurred_at, i.product_id
	FROM @extschema@.transaction_items AS i
	JOIN @extschema@.transactions AS t ON t.transaction_id = i.transaction_id AND t.customer_id = i.customer_id
	WHERE t.amount > 0 AND i.quantity > 0;
	-- A member's sales in the attribution window by a join and GROUP BY:
	-- Citus cannot push down the lateral aggregate of 96b_campaign_results.sql,
	-- which one server keeps (on the Online Retail sample it took 9 ms for a
	-- campaign of 4,000 members, the join 12 ms).
	CREATE OR REPLACE VIEW @extschema@.campaign_member_outcomes AS
	SELECT m.campaign_id, m.customer_id, m.assigned_group, m.segment, m.lifecycle_stage, m.loyalty_tier,
		   m.pre_revenue, m.pre_orders, count(t.amount) FILTER (WHERE t.amount > 0) AS orders,
		   coalesce(sum(t.amount), 0)::numeric(19,4) AS revenue
	FROM @extschema@.campaign_members AS m
	JOIN @extschema@.campaigns AS c ON c.campaign_id = m.campaign_id
	LEFT JOIN @extschema@.transactions AS t
		ON t.customer_id = m.customer_id
	   AND t.occurred_at >= c.starts_at AND t.occurred_at < c.starts_at + c.attribution_days * interval '1 day'
	GROUP BY m.campaign_id, m.customer_id;

	-- The foreign keys again, where Citus enforces them: between colocated
	-- tables on the distribution column, to reference tables, and between
	-- local tables.  A key from a distributed to a local table cannot be.
	-- Nothing updates a customer key on Citus (merges move rows by delete
	-- and insert), and Citus refuses ON UPDATE CASCADE on it.
	FOR fk IN SELECT * FROM jsonb_to_recordset(fks) AS f (tbl text, name text, def text) LOOP
		BEGIN
			EXECUTE format('ALTER TABLE %s ADD CONSTRAINT %I %s', fk.tbl, fk.name, replace(fk.def, ' ON UPDATE CASCADE', ''));
		EXCEPTION WHEN feature_not_supported OR invalid_table_definition OR object_not_in_prerequisite_state
					   OR dependent_objects_still_exist THEN
			RAISE NOTICE 'retail_crm: foreign key % of % is not kept on Citus: %', fk.name, fk.tbl, SQLERRM;
		END;
	END LOOP;

	RETURN QUERY SELECT p.relation, p.placement FROM @extschema@.distribution_plan() AS p;
END
$$;
COMMENT ON FUNCTION @extschema@.distribute(integer) IS
	'On a Citus coordinator: distributes the per-customer tables by customer_id, colocated, in shard_count shards (NULL: citus.shard_count), makes the configuration they refer to reference tables, keeps logs and results local (crm.distribution_plan()), puts the change queue''s row triggers in place and keeps the foreign keys Citus can enforce; returns the placements. One way: Citus cannot undistribute tables of an extension. 55000 without Citus or off the coordinator, 22023 a shard_count outside 1..64000; a second call returns the placements.';

REVOKE EXECUTE ON FUNCTION @extschema@.distribute(integer) FROM PUBLIC;
