-- Sales without a known customer: their own tables, so that every row of
-- crm.transactions and crm.transaction_items has its customer (a cluster
-- keeps each customer's rows on one node).  The retailer loads them like
-- the others; they count in baskets and crm.data_quality, never in customer
-- metrics.  This part owns its grants and dump registration.

-- The columns, checks and comments of the customer tables, without the
-- customer: a column added there is added here in the same release.
CREATE TABLE @extschema@.anonymous_transactions
	(LIKE @extschema@.transactions INCLUDING CONSTRAINTS INCLUDING COMMENTS);
ALTER TABLE @extschema@.anonymous_transactions DROP COLUMN customer_id, ADD PRIMARY KEY (transaction_id);
COMMENT ON TABLE @extschema@.anonymous_transactions IS
	'One row per order without a known customer. Returns are rows with a negative amount. Counted in basket analysis and in crm.data_quality, never in customer metrics.';

CREATE TABLE @extschema@.anonymous_transaction_items
	(LIKE @extschema@.transaction_items INCLUDING CONSTRAINTS INCLUDING COMMENTS);
ALTER TABLE @extschema@.anonymous_transaction_items DROP COLUMN customer_id, ADD PRIMARY KEY (transaction_id, line_no);
COMMENT ON TABLE @extschema@.anonymous_transaction_items IS 'Order lines of the orders in crm.anonymous_transactions, for basket analysis.';
COMMENT ON COLUMN @extschema@.anonymous_transaction_items.transaction_id IS 'The order the line belongs to (crm.anonymous_transactions.transaction_id).';

GRANT SELECT, INSERT, UPDATE, DELETE, TRUNCATE ON
	@extschema@.anonymous_transactions, @extschema@.anonymous_transaction_items
TO crm_admin;
SELECT pg_catalog.pg_extension_config_dump('@extschema@.anonymous_transactions', '');
SELECT pg_catalog.pg_extension_config_dump('@extschema@.anonymous_transaction_items', '');
