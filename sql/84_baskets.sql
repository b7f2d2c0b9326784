-- The lines basket analysis counts (85_affinity.sql): product lines with a
-- positive quantity of sale orders (amount > 0), of known and of anonymous
-- customers.  Returns and cancellations are not baskets; lines of orders
-- missing from the orders tables are left out.  Only views here: an
-- upgrade runs this part again.

-- The known customers' lines: a merge join of the two primary keys gives
-- them in basket order, which crm.basket_pairs needs, without a sort.
CREATE OR REPLACE VIEW @extschema@.customer_basket_items AS
SELECT i.transaction_id, t.customer_id, t.occurred_at, i.product_id
FROM @extschema@.transaction_items AS i
JOIN @extschema@.transactions AS t ON t.transaction_id = i.transaction_id
WHERE t.amount > 0 AND i.quantity > 0;
COMMENT ON VIEW @extschema@.customer_basket_items IS
	'The order lines of known customers that basket analysis counts: lines with quantity > 0 of sale orders (amount > 0) in crm.transactions. crm.basket_items adds the anonymous ones. A purchase history: not granted to analysts.';
COMMENT ON COLUMN @extschema@.customer_basket_items.transaction_id IS 'The basket (the order''s transaction_id).';
COMMENT ON COLUMN @extschema@.customer_basket_items.customer_id IS 'Buyer.';
COMMENT ON COLUMN @extschema@.customer_basket_items.occurred_at IS 'When the order was placed.';
COMMENT ON COLUMN @extschema@.customer_basket_items.product_id IS 'Product on the line; a product on several lines of one basket counts once.';

-- With the anonymous lines.  PostgreSQL sorts a UNION ALL as a whole, so
-- crm.refresh_affinity reads crm.customer_basket_items instead while there
-- are no anonymous lines.
CREATE OR REPLACE VIEW @extschema@.basket_items AS
SELECT c.transaction_id, c.customer_id, c.occurred_at, c.product_id
FROM @extschema@.customer_basket_items AS c
UNION ALL
SELECT i.transaction_id, NULL, t.occurred_at, i.product_id
FROM @extschema@.anonymous_transaction_items AS i
JOIN @extschema@.anonymous_transactions AS t ON t.transaction_id = i.transaction_id
WHERE t.amount > 0 AND i.quantity > 0;
COMMENT ON VIEW @extschema@.basket_items IS
	'The order lines basket analysis counts: lines with quantity > 0 of sale orders (amount > 0) in crm.transactions and crm.anonymous_transactions. Returns, cancellations and lines of orders missing from those tables are left out. A purchase history: not granted to analysts.';
COMMENT ON COLUMN @extschema@.basket_items.transaction_id IS 'The basket (the order''s transaction_id).';
COMMENT ON COLUMN @extschema@.basket_items.customer_id IS 'Buyer; NULL for anonymous sales.';
COMMENT ON COLUMN @extschema@.basket_items.occurred_at IS 'When the order was placed.';
COMMENT ON COLUMN @extschema@.basket_items.product_id IS 'Product on the line; a product on several lines of one basket counts once.';

GRANT SELECT ON @extschema@.customer_basket_items TO crm_admin;
GRANT SELECT, INSERT, UPDATE, DELETE, TRUNCATE ON @extschema@.basket_items TO crm_admin;
