-- Data tables the retailer loads with COPY or INSERT, and the trigger
-- function that lets pg_restore load saved configuration over shipped rows.

CREATE TABLE @extschema@.customers (
	customer_id			bigint PRIMARY KEY,
	first_name			text,
	last_name			text,
	birth_date			date,
	gender				text,
	home_store			text,
	country				text,
	postal_code			text,
	joined_at			timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE @extschema@.customers IS
	'One row per customer: identity and join date; contacts and marketing consent per channel are in crm.customer_contacts. Holds personal data: analysts read crm.customer_360 instead.';
COMMENT ON COLUMN @extschema@.customers.customer_id IS 'The retailer''s customer key.';
COMMENT ON COLUMN @extschema@.customers.first_name IS 'Personal data.';
COMMENT ON COLUMN @extschema@.customers.last_name IS 'Personal data.';
COMMENT ON COLUMN @extschema@.customers.birth_date IS 'Personal data.';
COMMENT ON COLUMN @extschema@.customers.gender IS 'Personal data, free text as the retailer records it.';
COMMENT ON COLUMN @extschema@.customers.home_store IS 'Store the customer is attached to, if any.';
COMMENT ON COLUMN @extschema@.customers.country IS 'Country of the customer''s address.';
COMMENT ON COLUMN @extschema@.customers.postal_code IS 'Personal data when combined with other fields.';
COMMENT ON COLUMN @extschema@.customers.joined_at IS 'When the customer joined (registration or first contact).';

-- One row per order, not per line: RFM frequency counts orders.  Every row
-- has its customer, so that Citus can keep each customer's rows on one node
-- (README, "Beyond one machine: Citus"); sales without a customer go to
-- crm.anonymous_transactions.
CREATE TABLE @extschema@.transactions (
	transaction_id		text PRIMARY KEY,
	customer_id			bigint NOT NULL,
	occurred_at			timestamptz NOT NULL,
	amount				numeric NOT NULL CONSTRAINT transactions_amount_finite
		CHECK (amount NOT IN ('NaN', 'Infinity', '-Infinity')),
	channel				text,
	store				text
);
COMMENT ON TABLE @extschema@.transactions IS
	'One row per order of a known customer. Returns are rows with a negative amount. Sales without a customer go to crm.anonymous_transactions.';
COMMENT ON COLUMN @extschema@.transactions.transaction_id IS 'The retailer''s order or invoice number.';
COMMENT ON COLUMN @extschema@.transactions.customer_id IS 'Buyer (crm.customers.customer_id, which may arrive later).';
COMMENT ON COLUMN @extschema@.transactions.occurred_at IS 'When the order was placed.';
COMMENT ON COLUMN @extschema@.transactions.amount IS 'Net order value; negative for a return or cancellation.';
COMMENT ON COLUMN @extschema@.transactions.channel IS 'Sales channel, e.g. store, online, app.';
COMMENT ON COLUMN @extschema@.transactions.store IS 'Store or site that made the sale.';

-- The refresh reads one customer's orders in time order through this index.
CREATE INDEX transactions_customer_time_idx
	ON @extschema@.transactions (customer_id, occurred_at) INCLUDE (amount);
-- Time-range scans on a table that grows in time order: BRIN stays tiny at 100M rows.
CREATE INDEX transactions_occurred_at_brin
	ON @extschema@.transactions USING brin (occurred_at);

-- A line carries its order's customer, to be stored with it.
CREATE TABLE @extschema@.transaction_items (
	transaction_id		text NOT NULL,
	line_no				integer NOT NULL,
	product_id			text NOT NULL,
	description			text,
	quantity			numeric NOT NULL,
	unit_price			numeric NOT NULL,
	-- last, where the update from 1.1 added it
	customer_id			bigint NOT NULL,
	PRIMARY KEY (transaction_id, line_no)
);
COMMENT ON TABLE @extschema@.transaction_items IS 'Order lines of the orders in crm.transactions, for basket analysis.';
COMMENT ON COLUMN @extschema@.transaction_items.transaction_id IS 'The order the line belongs to (crm.transactions.transaction_id).';
COMMENT ON COLUMN @extschema@.transaction_items.line_no IS 'Line number within the order.';
COMMENT ON COLUMN @extschema@.transaction_items.product_id IS 'Product or SKU code.';
COMMENT ON COLUMN @extschema@.transaction_items.description IS 'Product description as printed on the order.';
COMMENT ON COLUMN @extschema@.transaction_items.quantity IS 'Units; negative on return lines.';
COMMENT ON COLUMN @extschema@.transaction_items.unit_price IS 'Price of one unit.';
COMMENT ON COLUMN @extschema@.transaction_items.customer_id IS 'The order''s customer (crm.transactions.customer_id), so that a cluster keeps the line with its order.';

CREATE INDEX transaction_items_product_idx ON @extschema@.transaction_items (product_id);

-- pg_restore runs CREATE EXTENSION (which inserts the shipped configuration
-- rows) and then loads the saved rows with COPY.  On the tables whose rows
-- the extension ships and users UPDATE, a trigger with this function makes a
-- row inserted with the key of an existing row replace it, so the saved
-- values win instead of failing on the key.  Each such table's part creates
-- its trigger.
CREATE FUNCTION @extschema@.replace_row_with_same_key()
RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	key_match text;
BEGIN
	SELECT string_agg(format('%1$I IS NOT DISTINCT FROM ($1).%1$I', key_column), ' AND ')
	INTO key_match
	FROM unnest(TG_ARGV) AS key_column;
	EXECUTE format('DELETE FROM %I.%I WHERE %s', TG_TABLE_SCHEMA, TG_TABLE_NAME, key_match) USING NEW;
	RETURN NEW;
END
$$;
COMMENT ON FUNCTION @extschema@.replace_row_with_same_key() IS
	'Trigger (arguments: the key columns): an inserted row replaces the row with the same key, so pg_restore can load saved configuration over the rows CREATE EXTENSION ships.';

-- Rights and dump registration of the objects above.  crm_admin only:
-- analysts read the views of 90_views.sql, which run with the owner's rights.
GRANT SELECT, INSERT, UPDATE, DELETE, TRUNCATE ON
	@extschema@.customers, @extschema@.transactions, @extschema@.transaction_items
TO crm_admin;
SELECT pg_catalog.pg_extension_config_dump('@extschema@.customers', '');
SELECT pg_catalog.pg_extension_config_dump('@extschema@.transactions', '');
SELECT pg_catalog.pg_extension_config_dump('@extschema@.transaction_items', '');
