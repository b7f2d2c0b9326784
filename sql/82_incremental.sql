-- Change tracking for the incremental refresh.  Every statement that writes
-- crm.transactions (or adds or removes customers) appends the customers it
-- touched to crm.changed_customers, each entry with its own number;
-- CALL crm.refresh_segments(incremental => true) recomputes just those
-- customers.  Entries are only appended and deleted, never updated, and a
-- refresh deletes exactly the entries it read, by number, so a sale
-- committed while a refresh runs is never lost: it stays queued for the
-- next one.  Numbers, not transaction ids, tell the entries apart, so the
-- queue means the same on every node of a cluster.

CREATE TABLE @extschema@.changed_customers (
	customer_id		bigint NOT NULL,
	change_id		bigint GENERATED ALWAYS AS IDENTITY,
	PRIMARY KEY (customer_id, change_id)
);
COMMENT ON TABLE @extschema@.changed_customers IS
	'Queue of customers whose sales (or customer row) changed since the refresh that last covered them; filled by triggers on crm.transactions and crm.customers, emptied by crm.refresh_segments. A customer may appear several times.';
COMMENT ON COLUMN @extschema@.changed_customers.customer_id IS 'Customer key.';
COMMENT ON COLUMN @extschema@.changed_customers.change_id IS 'Number of the entry; a refresh removes the entries it read, by number, and leaves those written since.';

CREATE FUNCTION @extschema@.queue_changed_customers()
RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	IF TG_OP = 'INSERT' THEN
		INSERT INTO @extschema@.changed_customers (customer_id)
		SELECT DISTINCT n.customer_id FROM new_rows AS n WHERE n.customer_id IS NOT NULL;
	ELSIF TG_OP = 'UPDATE' THEN
		INSERT INTO @extschema@.changed_customers (customer_id)
		SELECT n.customer_id FROM new_rows AS n WHERE n.customer_id IS NOT NULL
		UNION
		SELECT o.customer_id FROM old_rows AS o WHERE o.customer_id IS NOT NULL;
	ELSE
		INSERT INTO @extschema@.changed_customers (customer_id)
		SELECT DISTINCT o.customer_id FROM old_rows AS o WHERE o.customer_id IS NOT NULL;
	END IF;
	RETURN NULL;
END
$$;
COMMENT ON FUNCTION @extschema@.queue_changed_customers() IS
	'Trigger: appends the customers a statement touched to crm.changed_customers (one row per customer and statement).';

CREATE TRIGGER transactions_queue_inserted AFTER INSERT ON @extschema@.transactions
	REFERENCING NEW TABLE AS new_rows
	FOR EACH STATEMENT EXECUTE FUNCTION @extschema@.queue_changed_customers();
CREATE TRIGGER transactions_queue_updated AFTER UPDATE ON @extschema@.transactions
	REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
	FOR EACH STATEMENT EXECUTE FUNCTION @extschema@.queue_changed_customers();
CREATE TRIGGER transactions_queue_deleted AFTER DELETE ON @extschema@.transactions
	REFERENCING OLD TABLE AS old_rows
	FOR EACH STATEMENT EXECUTE FUNCTION @extschema@.queue_changed_customers();
-- A new customer without purchases appears as a prospect; a deleted one leaves.
CREATE TRIGGER customers_queue_inserted AFTER INSERT ON @extschema@.customers
	REFERENCING NEW TABLE AS new_rows
	FOR EACH STATEMENT EXECUTE FUNCTION @extschema@.queue_changed_customers();
CREATE TRIGGER customers_queue_deleted AFTER DELETE ON @extschema@.customers
	REFERENCING OLD TABLE AS old_rows
	FOR EACH STATEMENT EXECUTE FUNCTION @extschema@.queue_changed_customers();

-- What an incremental refresh must share with the full run it builds on:
-- the settings, the segment map and the fixed break points.
CREATE FUNCTION @extschema@.settings_fingerprint()
RETURNS text
LANGUAGE sql STABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
	SELECT md5(concat_ws('|',
		(SELECT s::text FROM @extschema@.settings AS s),
		(SELECT string_agg(m::text, ',' ORDER BY m.rfm_code) FROM @extschema@.segment_map AS m),
		(SELECT string_agg(b::text, ',' ORDER BY b.metric) FROM @extschema@.rfm_fixed_breaks AS b)))
$$;
COMMENT ON FUNCTION @extschema@.settings_fingerprint() IS
	'Internal: a digest of crm.settings, crm.segment_map and crm.rfm_fixed_breaks; an incremental refresh runs in full when it differs from the last full run''s. Stable because it reads tables.';

-- The triggers write the queue as whoever changed the data, and the refresh
-- empties it: crm_admin does both.
GRANT SELECT, INSERT, DELETE ON @extschema@.changed_customers TO crm_admin;
