-- Changes to the tables of 1.1.  The functions 1.2 changes come from their
-- parts, which the Makefile appends (see UPGRADE_1.1_1.2_PARTS).

-- The change queue numbers its entries instead of keeping the writing
-- transaction's id (82_incremental.sql): entries queued before the update
-- get numbers and stay queued.
ALTER TABLE @extschema@.changed_customers ADD COLUMN change_id bigint GENERATED ALWAYS AS IDENTITY;
ALTER TABLE @extschema@.changed_customers ADD PRIMARY KEY (customer_id, change_id);
ALTER TABLE @extschema@.changed_customers DROP COLUMN changed_by_xact;
COMMENT ON COLUMN @extschema@.changed_customers.change_id IS 'Number of the entry; a refresh removes the entries it read, by number, and leaves those written since.';
