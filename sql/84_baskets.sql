-- The lines basket analysis counts (85_affinity.sql): product lines with a
-- positive quantity of sale orders (amount > 0), of known and of anonymous
-- customers.  Returns and cancellations are not baskets; lines of orders
-- missing from the orders table, or filed under another customer than
-- their order, are left out.  Each branch is in transaction_id order by its
-- primary keys, so crm.basket_pairs reads the union in basket order without
-- a sort.  Only views here: an upgrade runs this part again.
CREATE OR REPLACE VIEW @extschema@.basket_items AS
SELECT i.transaction_id, t.customer_id, t.occurred_at, i.product_id
FROM @extschema@.transaction_items AS i
JOIN @extschema@.transactions AS t ON t.transaction_id = i.transaction_id AND t.customer_id = i.customer_id
WHERE t.amount > 0 AND i.quantity > 0
UNION ALL
SELECT i.transaction_id, NULL, t.occurred_at, i.product_id
FROM @extschema@.anonymous_transaction_items AS i
JOIN @extschema@.anonymous_transactions AS t ON t.transaction_id = i.transaction_id
WHERE t.amount > 0 AND i.quantity > 0;
COMMENT ON VIEW @extschema@.basket_items IS
	'The order lines basket analysis counts: lines with quantity > 0 of sale orders (amount > 0) in crm.transactions and crm.anonymous_transactions. Returns, cancellations, lines of orders missing from those tables and lines filed under another customer than their order are left out. A purchase history: not granted to analysts.';
COMMENT ON COLUMN @extschema@.basket_items.transaction_id IS 'The basket (the order''s transaction_id).';
COMMENT ON COLUMN @extschema@.basket_items.customer_id IS 'Buyer; NULL for anonymous sales.';
COMMENT ON COLUMN @extschema@.basket_items.occurred_at IS 'When the order was placed.';
COMMENT ON COLUMN @extschema@.basket_items.product_id IS 'Product on the line; a product on several lines of one basket counts once.';
