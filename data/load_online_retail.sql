-- data/load_online_retail.sql
--
-- Loads the UCI "Online Retail" invoice lines (data/online_retail.csv.gz,
-- see data/README.md for origin, citation and licence) into the tables of
-- the retail_crm extension:
--
--   crm.customers          one row per CustomerID
--   crm.transactions       one row per invoice that has a CustomerID
--   crm.transaction_items  every line of those invoices
--
-- Run it with psql from the project root, after CREATE EXTENSION retail_crm:
--
--   psql -X -v ON_ERROR_STOP=1 -f data/load_online_retail.sql
--
-- Everything happens in one transaction, so a failed load leaves nothing
-- behind.  The script refuses to run when any of the file's customers or
-- invoices are already in the crm tables (no silent duplicates, no
-- overwriting of data that is there).
--
-- How the quirks of the file are treated (data/README.md says why):
--   * lines without CustomerID (135,080, including the three 'A' bad-debt
--     adjustments) are not loaded: they cannot feed customer metrics; the
--     report below counts them;
--   * cancellations (InvoiceNo 'C...', all with negative Quantity) become
--     transactions with a negative amount, i.e. returns;
--   * exact duplicate lines are kept: the file has no line key, repeated
--     scans of one item on one invoice are real, and the invoice total is
--     the sum of all its lines;
--   * zero-price lines are kept as items (they add 0 to the amount);
--   * non-product stock codes (POST, DOT, C2, M, D, CRUK, BANK CHARGES,
--     PADS ...) are kept as items and in the amount, because they were
--     billed (or credited) on the invoice.

\set ON_ERROR_STOP on
-- Only the report below is printed; the caller's QUIET is restored at the end.
\set online_retail_saved_quiet :QUIET
\set QUIET on
\echo 'Loading data/online_retail.csv.gz (UCI Online Retail, CC BY 4.0) ...'

BEGIN;

-- The raw file as it is; line_no keeps the file order (COPY fills the
-- identity column row by row).
CREATE TEMPORARY TABLE online_retail_raw (
	line_no		bigint GENERATED ALWAYS AS IDENTITY,
	invoice_no	text NOT NULL,
	stock_code	text,
	description text,
	quantity	integer NOT NULL,
	invoice_date timestamp NOT NULL,	-- UK local time
	unit_price	numeric NOT NULL,
	customer_no text,					-- float-formatted: '17850.0'
	country		text
) ON COMMIT DROP;

\copy online_retail_raw (invoice_no, stock_code, description, quantity, invoice_date, unit_price, customer_no, country) FROM PROGRAM 'gzip -dc data/online_retail.csv.gz' WITH (FORMAT csv, HEADER true)

-- The lines that can be loaded, with the customer id as bigint.
CREATE TEMPORARY VIEW online_retail_lines AS
SELECT line_no, invoice_no, stock_code, description, quantity, invoice_date,
	   unit_price, customer_no::numeric::bigint AS customer_id, country
FROM online_retail_raw
WHERE customer_no IS NOT NULL;

-- Refuse to mix this file into tables that already hold any of its keys.
DO $guard$
BEGIN
	IF EXISTS (SELECT 1 FROM crm.customers c
			   WHERE c.customer_id IN (SELECT customer_id FROM online_retail_lines))
	   OR EXISTS (SELECT 1 FROM crm.transactions t
				  WHERE t.transaction_id IN (SELECT invoice_no FROM online_retail_lines))
	   OR EXISTS (SELECT 1 FROM crm.transaction_items i
				  WHERE i.transaction_id IN (SELECT invoice_no FROM online_retail_lines))
	THEN
		RAISE EXCEPTION 'the Online Retail data is already (partly) loaded'
			USING HINT = 'Load it into a fresh database, or delete its customers, transactions and transaction items first.';
	END IF;
END
$guard$;

-- One customer per CustomerID.  No personal data exists in the file, so only
-- country and joined_at are set: no contact, no consent.
-- country: the country on most of the customer's lines (8 customers have
-- two); a tie goes to the country seen last in the file.
-- joined_at: the customer's first invoice of any kind.
INSERT INTO crm.customers (customer_id, country, joined_at)
SELECT p.customer_id, p.country, f.first_invoice
FROM (SELECT DISTINCT ON (customer_id) customer_id, country
	  FROM (SELECT customer_id, country, count(*) AS lines, max(line_no) AS last_line
			FROM online_retail_lines
			GROUP BY customer_id, country) per_country
	  ORDER BY customer_id, lines DESC, last_line DESC) p
JOIN (SELECT customer_id, min(invoice_date) AT TIME ZONE 'Europe/London' AS first_invoice
	  FROM online_retail_lines
	  GROUP BY customer_id) f USING (customer_id);

-- One transaction per invoice.  Every invoice in the file has at most one
-- CustomerID.  43 invoices span two minutes: the first one counts.
INSERT INTO crm.transactions (transaction_id, customer_id, occurred_at, amount, channel, store)
SELECT invoice_no,
	   min(customer_id),
	   min(invoice_date) AT TIME ZONE 'Europe/London',
	   sum(quantity * unit_price),
	   'online',
	   NULL
FROM online_retail_lines
GROUP BY invoice_no;

-- Every line of those invoices, numbered 1.. in file order per invoice.
-- Order lines carry their invoice's customer since retail_crm 1.2; the
-- script loads earlier versions too.
SELECT CASE WHEN EXISTS (SELECT 1 FROM pg_attribute
						 WHERE attrelid = 'crm.transaction_items'::regclass AND attname = 'customer_id'
						   AND NOT attisdropped)
			THEN ', customer_id' ELSE '' END AS line_customer \gset
INSERT INTO crm.transaction_items (transaction_id, line_no, product_id, description, quantity, unit_price :line_customer)
SELECT invoice_no,
	   row_number() OVER (PARTITION BY invoice_no ORDER BY line_no),
	   stock_code, description, quantity, unit_price :line_customer
FROM online_retail_lines;

\echo 'Load report:'
WITH lines AS (
	SELECT count(*) AS rows_read,
		   count(*) FILTER (WHERE customer_no IS NULL) AS rows_without_customer,
		   count(DISTINCT invoice_no) FILTER (WHERE customer_no IS NULL) AS invoices_without_customer,
		   count(*) FILTER (WHERE customer_no IS NOT NULL AND unit_price = 0) AS zero_price_lines
	FROM online_retail_raw
), duplicates AS (
	SELECT coalesce(sum(copies - 1), 0) AS duplicate_lines
	FROM (SELECT count(*) AS copies
		  FROM online_retail_lines
		  GROUP BY invoice_no, stock_code, description, quantity, invoice_date,
				   unit_price, customer_id, country
		  HAVING count(*) > 1) d
), loaded AS (
	SELECT count(*) AS invoices,
		   count(*) FILTER (WHERE amount < 0) AS returns,
		   count(DISTINCT customer_id) AS customers,
		   sum(amount) FILTER (WHERE amount > 0) AS sales,
		   sum(amount) AS net_revenue
	FROM crm.transactions
	WHERE transaction_id IN (SELECT invoice_no FROM online_retail_lines)
)
SELECT measure, value
FROM lines, duplicates, loaded,
	 LATERAL (VALUES
		(1, 'rows read', rows_read::text),
		(2, 'rows without CustomerID (not loaded)', rows_without_customer::text),
		(3, 'invoices without CustomerID (not loaded)', invoices_without_customer::text),
		(4, 'customers loaded', customers::text),
		(5, 'invoices loaded (crm.transactions)', invoices::text),
		(6, '  of which returns (amount < 0)', returns::text),
		(7, 'lines loaded (crm.transaction_items)', (rows_read - rows_without_customer)::text),
		(8, '  exact duplicate lines kept', duplicate_lines::text),
		(9, '  zero-price lines kept', zero_price_lines::text),
		(10, 'sales, GBP (invoices > 0)', to_char(sales, 'FM999,999,999.00')),
		(11, 'net revenue, GBP (after returns)', to_char(net_revenue, 'FM999,999,999.00'))
	 ) AS report(pos, measure, value)
ORDER BY pos;

COMMIT;

-- Fresh statistics for the refresh that usually follows.
ANALYZE crm.customers;
ANALYZE crm.transactions;
ANALYZE crm.transaction_items;

\set QUIET :online_retail_saved_quiet
\unset online_retail_saved_quiet
