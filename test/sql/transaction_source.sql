-- Pointing the refresh at the retailer's own sales table or view.
\i test/fixtures/extension.sql
SET timezone = 'UTC';
\set SHOW_CONTEXT never
SET client_min_messages = warning;

SELECT crm.transaction_source();

CREATE SCHEMA shop;
CREATE TABLE shop.sales (order_no text, cust integer, sold_at timestamptz, total numeric(12,2), note text);
INSERT INTO shop.sales VALUES
	('A1', 100, '2023-12-30 10:00', 50.00, NULL),
	('A2', 100, '2023-12-01 10:00', 70.00, NULL),
	('A3', 200, '2023-11-01 10:00', 20.00, NULL),
	('A4', NULL, '2023-11-01 10:00', 20.00, 'walk-in');
CREATE VIEW shop.sales_for_crm AS
	SELECT cust AS customer_id, sold_at AS occurred_at, total AS amount FROM shop.sales;

-- A view with the three columns is accepted and used by the next refresh.
SELECT crm.set_transaction_source('shop.sales_for_crm');
SELECT source_schema, source_table FROM crm.settings;
SELECT crm.transaction_source();
CALL crm.refresh_segments('2024-01-01 00:00+00');
SELECT run_id, status, source, customers, scored_customers, anonymous_rows
FROM crm.refresh_runs ORDER BY run_id DESC LIMIT 1;
SELECT customer_id, frequency, monetary, recency_days FROM crm.customer_segments
WHERE customer_id IN (100, 200) ORDER BY 1;

-- Columns missing or of the wrong type are refused with the reason and a hint.
CREATE VIEW shop.no_amount AS SELECT cust AS customer_id, sold_at AS occurred_at FROM shop.sales;
CREATE VIEW shop.text_customer AS SELECT order_no AS customer_id, sold_at AS occurred_at, total AS amount FROM shop.sales;
CREATE VIEW shop.local_time AS SELECT cust AS customer_id, sold_at::timestamp AS occurred_at, total AS amount FROM shop.sales;
CREATE VIEW shop.text_amount AS SELECT cust AS customer_id, sold_at AS occurred_at, note AS amount FROM shop.sales;
CREATE SEQUENCE shop.seq;
SELECT * FROM public.error_of($$SELECT crm.set_transaction_source('shop.no_amount')$$);
SELECT * FROM public.error_of($$SELECT crm.set_transaction_source('shop.text_customer')$$);
SELECT * FROM public.error_of($$SELECT crm.set_transaction_source('shop.local_time')$$);
SELECT * FROM public.error_of($$SELECT crm.set_transaction_source('shop.text_amount')$$);
SELECT * FROM public.error_of($$SELECT crm.set_transaction_source('shop.seq')$$);
SELECT * FROM public.error_of($$SELECT crm.set_transaction_source(NULL)$$);
SELECT * FROM public.error_of($$SELECT crm.set_transaction_source('shop.missing')$$);
-- The refused calls left the source as it was.
SELECT crm.transaction_source();

-- A source dropped after it was set fails the next refresh, which is logged.
DROP VIEW shop.sales_for_crm;
CALL crm.refresh_segments('2024-01-01 00:00+00');
SELECT status, stage, error_sqlstate, error_message FROM crm.refresh_runs ORDER BY run_id DESC LIMIT 1;

-- Back to crm.transactions.
SELECT crm.reset_transaction_source();
SELECT source_schema, source_table FROM crm.settings;
CALL crm.refresh_segments('2024-03-01 00:00+00');
SELECT status, source FROM crm.refresh_runs ORDER BY run_id DESC LIMIT 1;
DROP SCHEMA shop CASCADE;
