-- The loyalty ledger of 1.1, keyed by customer_id first, as 96_loyalty.sql
-- creates it in 1.2 (so that Citus can distribute it by customer_id): the
-- primary keys, the idempotency key (per member from 1.2) and the foreign
-- keys between the ledger tables.  The functions follow from
-- 96_loyalty_points.sql, appended by the Makefile.

-- The append-only triggers allow the two updates below, which change no
-- points: allocations learn their member, and transfer_in rows stop naming
-- the merged member's lot (another member's row; their key
-- merge:<merged>:lot:<lot_id> still names it, as in 1.2).
ALTER TABLE @extschema@.points_ledger DISABLE TRIGGER points_ledger_append_only;
ALTER TABLE @extschema@.points_allocations DISABLE TRIGGER points_allocations_append_only;

ALTER TABLE @extschema@.points_allocations ADD COLUMN customer_id bigint;
UPDATE @extschema@.points_allocations AS a SET customer_id = l.customer_id
FROM @extschema@.points_ledger AS l WHERE l.movement_id = a.movement_id;
ALTER TABLE @extschema@.points_allocations ALTER COLUMN customer_id SET NOT NULL;

UPDATE @extschema@.points_ledger AS l SET related_movement_id = NULL
FROM @extschema@.points_ledger AS r
WHERE r.movement_id = l.related_movement_id AND r.customer_id <> l.customer_id;

ALTER TABLE @extschema@.points_ledger ENABLE TRIGGER points_ledger_append_only;
ALTER TABLE @extschema@.points_allocations ENABLE TRIGGER points_allocations_append_only;

-- The foreign keys first: they hang on the ledger's primary key.
ALTER TABLE @extschema@.points_ledger DROP CONSTRAINT points_ledger_related_movement_id_fkey;
ALTER TABLE @extschema@.points_allocations
	DROP CONSTRAINT points_allocations_movement_id_fkey,
	DROP CONSTRAINT points_allocations_lot_id_fkey,
	DROP CONSTRAINT points_allocations_pkey;
ALTER TABLE @extschema@.points_adjustment_reasons
	DROP CONSTRAINT points_adjustment_reasons_movement_id_fkey,
	DROP CONSTRAINT points_adjustment_reasons_pkey;
-- The new primary key is the index points_ledger_customer_idx was.
DROP INDEX @extschema@.points_ledger_customer_idx;
DROP INDEX @extschema@.points_allocations_lot_idx;

ALTER TABLE @extschema@.points_ledger
	DROP CONSTRAINT points_ledger_pkey,
	ADD CONSTRAINT points_ledger_pkey PRIMARY KEY (customer_id, movement_id),
	DROP CONSTRAINT points_ledger_idempotent,
	ADD CONSTRAINT points_ledger_idempotent UNIQUE (customer_id, kind, idempotency_key);
ALTER TABLE @extschema@.points_ledger
	ADD CONSTRAINT points_ledger_customer_id_related_movement_id_fkey FOREIGN KEY (customer_id, related_movement_id)
		REFERENCES @extschema@.points_ledger (customer_id, movement_id);
ALTER TABLE @extschema@.points_allocations
	ADD CONSTRAINT points_allocations_pkey PRIMARY KEY (customer_id, movement_id, lot_id),
	ADD CONSTRAINT points_allocations_customer_id_movement_id_fkey FOREIGN KEY (customer_id, movement_id)
		REFERENCES @extschema@.points_ledger (customer_id, movement_id),
	ADD CONSTRAINT points_allocations_customer_id_lot_id_fkey FOREIGN KEY (customer_id, lot_id)
		REFERENCES @extschema@.points_ledger (customer_id, movement_id);
CREATE INDEX points_allocations_lot_idx ON @extschema@.points_allocations (customer_id, lot_id) INCLUDE (points);
ALTER TABLE @extschema@.points_adjustment_reasons
	ADD CONSTRAINT points_adjustment_reasons_pkey PRIMARY KEY (customer_id, movement_id),
	ADD CONSTRAINT points_adjustment_reasons_customer_id_movement_id_fkey FOREIGN KEY (customer_id, movement_id)
		REFERENCES @extschema@.points_ledger (customer_id, movement_id);

COMMENT ON COLUMN @extschema@.points_allocations.customer_id IS 'The member whose movement and lot these are.';
COMMENT ON COLUMN @extschema@.points_ledger.idempotency_key IS
	'Key of the source event, unique per member and kind: a replay for the member returns this row. Expire rows use lot:<lot_id>, transfers merge:<merged customer>:lot:<lot_id>.';
COMMENT ON COLUMN @extschema@.points_ledger.related_movement_id IS
	'A movement of the same member: expire and transfer_out rows, the lot swept or moved; clawbacks, the earn of the returned purchase, if known. NULL for transfer_in: the lot it continues is the merged member''s, named by the idempotency key.';
