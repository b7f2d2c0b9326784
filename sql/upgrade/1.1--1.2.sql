-- Changes to the tables of 1.1.  The functions 1.2 changes come from their
-- parts, which the Makefile appends (see UPGRADE_1.1_1.2_PARTS).

-- The change queue numbers its entries instead of keeping the writing
-- transaction's id (82_incremental.sql): entries queued before the update
-- get numbers and stay queued.
ALTER TABLE @extschema@.changed_customers ADD COLUMN change_id bigint GENERATED ALWAYS AS IDENTITY;
ALTER TABLE @extschema@.changed_customers ADD PRIMARY KEY (customer_id, change_id);
ALTER TABLE @extschema@.changed_customers DROP COLUMN changed_by_xact;
COMMENT ON COLUMN @extschema@.changed_customers.change_id IS 'Number of the entry; a refresh removes the entries it read, by number, and leaves those written since.';

-- Every order line carries its order's customer (10_tables.sql), added
-- last as in a fresh install; lines of anonymous or missing orders move to
-- crm.anonymous_transaction_items (sql/upgrade/1.1--1.2-anonymous.sql,
-- once 11_anonymous_sales.sql has created it).
ALTER TABLE @extschema@.transaction_items ADD COLUMN customer_id bigint;
UPDATE @extschema@.transaction_items AS i SET customer_id = t.customer_id
FROM @extschema@.transactions AS t WHERE t.transaction_id = i.transaction_id;
COMMENT ON TABLE @extschema@.transaction_items IS 'Order lines of the orders in crm.transactions, for basket analysis.';
COMMENT ON COLUMN @extschema@.transaction_items.customer_id IS 'The order''s customer (crm.transactions.customer_id), so that a cluster keeps the line with its order.';

-- The refresh's stages and the model fit take the tables they read as
-- arguments (81_refresh.sql, 76a_churn_model_fit.sql create them anew).
DROP FUNCTION @extschema@.build_facts(timestamptz, regclass, boolean);
DROP FUNCTION @extschema@.fit_models_from_facts(timestamptz, text, text[]);
DROP FUNCTION @extschema@.validate_model(bigint, bigint, timestamptz, timestamptz);
