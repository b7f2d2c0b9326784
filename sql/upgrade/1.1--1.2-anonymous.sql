-- Sales without a customer, and the lines of orders not in crm.transactions
-- under a customer, move to the tables 11_anonymous_sales.sql has just
-- created; then every row of the customer tables has its customer.  The
-- deleted rows queue nobody (the change queue skips rows without one).
INSERT INTO @extschema@.anonymous_transactions (transaction_id, occurred_at, amount, channel, store)
SELECT t.transaction_id, t.occurred_at, t.amount, t.channel, t.store
FROM @extschema@.transactions AS t WHERE t.customer_id IS NULL;
DELETE FROM @extschema@.transactions AS t WHERE t.customer_id IS NULL;
ALTER TABLE @extschema@.transactions ALTER COLUMN customer_id SET NOT NULL;
COMMENT ON TABLE @extschema@.transactions IS
	'One row per order of a known customer. Returns are rows with a negative amount. Sales without a customer go to crm.anonymous_transactions.';
COMMENT ON COLUMN @extschema@.transactions.customer_id IS 'Buyer (crm.customers.customer_id, which may arrive later).';

INSERT INTO @extschema@.anonymous_transaction_items (transaction_id, line_no, product_id, description, quantity, unit_price)
SELECT i.transaction_id, i.line_no, i.product_id, i.description, i.quantity, i.unit_price
FROM @extschema@.transaction_items AS i WHERE i.customer_id IS NULL;
DELETE FROM @extschema@.transaction_items AS i WHERE i.customer_id IS NULL;
ALTER TABLE @extschema@.transaction_items ALTER COLUMN customer_id SET NOT NULL;
COMMENT ON COLUMN @extschema@.refresh_runs.anonymous_rows IS 'Rows of the sales source without a customer_id, left out of customer metrics (a source of your own may have them; crm.transactions has none: anonymous sales are in crm.anonymous_transactions).';
