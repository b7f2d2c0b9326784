-- Erasure of a customer's personal data (right to be forgotten).
--
-- Which columns hold personal data is written where the column is defined:
-- its comment starts with "Personal data".  Every table with such a column
-- has a customer_id column, or a foreign key to a table that has one (a
-- ticket's events reach the customer through the ticket); test/sql/install.sql
-- checks it.  So the erasure finds every such column, including those added
-- by later parts, without a list to keep up to date.  Purchases, scores and
-- aggregates stay: they describe a customer key, not a person.

CREATE TABLE @extschema@.erasure_requests (
	request_id		bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	customer_id		bigint NOT NULL,
	requested_at	timestamptz NOT NULL DEFAULT now(),
	requested_by	name NOT NULL DEFAULT session_user,
	tables_erased	text NOT NULL,
	rows_erased		bigint NOT NULL
);
COMMENT ON TABLE @extschema@.erasure_requests IS
	'One row per call of crm.forget_customer: whose personal data was erased, when, by whom and where. Holds no personal data itself.';
COMMENT ON COLUMN @extschema@.erasure_requests.request_id IS 'Request number, increasing.';
COMMENT ON COLUMN @extschema@.erasure_requests.customer_id IS 'Customer key whose personal data was erased.';
COMMENT ON COLUMN @extschema@.erasure_requests.requested_at IS 'When the erasure ran.';
COMMENT ON COLUMN @extschema@.erasure_requests.requested_by IS 'Session user who ran it.';
COMMENT ON COLUMN @extschema@.erasure_requests.tables_erased IS 'Tables in which rows of the customer had personal data erased, comma separated; empty when none held any.';
COMMENT ON COLUMN @extschema@.erasure_requests.rows_erased IS 'Rows whose personal data columns were erased.';

-- The personal data columns of the schema, with what erasing writes into
-- each (NULL, or an empty value where the column is NOT NULL) and the
-- condition that finds a customer's rows ($1 is the customer_id): the
-- table's own customer_id, else a one-column foreign key to a table with one.
CREATE FUNCTION @extschema@.personal_data_columns()
RETURNS TABLE (table_name regclass, column_name name, erased_value text, customer_rows text)
LANGUAGE sql STABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
	SELECT c.oid::regclass, a.attname,
		   CASE WHEN NOT a.attnotnull THEN 'NULL'
				ELSE format('%L::%s', '', format_type(a.atttypid, a.atttypmod)) END,
		   CASE WHEN EXISTS (SELECT 1 FROM pg_attribute AS k
							 WHERE k.attrelid = c.oid AND k.attname = 'customer_id' AND NOT k.attisdropped)
				THEN 'customer_id = $1'
				ELSE (SELECT format('%I IN (SELECT %I FROM %s WHERE customer_id = $1)',
								   fk_column.attname, ref_column.attname, fk.confrelid::regclass)
					  FROM pg_constraint AS fk
					  JOIN pg_attribute AS fk_column ON fk_column.attrelid = fk.conrelid AND fk_column.attnum = fk.conkey[1]
					  JOIN pg_attribute AS ref_column ON ref_column.attrelid = fk.confrelid AND ref_column.attnum = fk.confkey[1]
					  WHERE fk.conrelid = c.oid AND fk.contype = 'f' AND cardinality(fk.conkey) = 1
						AND EXISTS (SELECT 1 FROM pg_attribute AS k
									WHERE k.attrelid = fk.confrelid AND k.attname = 'customer_id' AND NOT k.attisdropped)
					  ORDER BY fk.conname LIMIT 1) END
	FROM pg_class AS c
	JOIN pg_attribute AS a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
	WHERE c.relnamespace = '@extschema@'::regnamespace AND c.relkind IN ('r', 'p')
	  AND col_description(c.oid, a.attnum) LIKE 'Personal data%'
	ORDER BY c.oid::regclass::text, a.attnum
$$;
COMMENT ON FUNCTION @extschema@.personal_data_columns() IS
	'Columns of the schema holding personal data (their comment starts with "Personal data"), with the value crm.forget_customer writes into each and the condition ($1 = customer_id) that finds a customer''s rows. Stable because it reads the catalog.';

GRANT SELECT ON @extschema@.erasure_requests TO crm_admin;
-- Dump registration: the erasure log is evidence, kept with its numbering.
SELECT pg_catalog.pg_extension_config_dump('@extschema@.erasure_requests', '');
SELECT pg_catalog.pg_extension_config_dump('@extschema@.erasure_requests_request_id_seq', '');
