-- Where the refresh reads sales from: crm.transactions, or the retailer's own
-- table or view with the columns customer_id, occurred_at and amount.  Only
-- functions (CREATE OR REPLACE) and comments: an upgrade runs this part again.

-- Checks that a relation can serve as the sales source and returns it.
CREATE OR REPLACE FUNCTION @extschema@.check_transaction_source(source regclass)
RETURNS regclass
LANGUAGE plpgsql STABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	required constant text[] := ARRAY['customer_id', 'occurred_at', 'amount'];
	column_name text;
	column_type text;
BEGIN
	IF source IS NULL THEN
		RAISE EXCEPTION USING ERRCODE = 'null_value_not_allowed',
			MESSAGE = 'transaction source must not be NULL',
			HINT = 'Use crm.reset_transaction_source() to read crm.transactions again.';
	END IF;
	IF NOT EXISTS (SELECT 1 FROM pg_class AS c WHERE c.oid = source AND c.relkind IN ('r', 'v', 'm', 'p', 'f')) THEN
		RAISE EXCEPTION USING ERRCODE = 'wrong_object_type',
			MESSAGE = format('transaction source %s is not a table or view', source),
			HINT = 'Point the refresh at a table, view, materialized view or foreign table.';
	END IF;
	FOREACH column_name IN ARRAY required LOOP
		SELECT format_type(a.atttypid, NULL) INTO column_type
		FROM pg_attribute AS a
		WHERE a.attrelid = source AND a.attname = column_name AND a.attnum > 0 AND NOT a.attisdropped;
		IF NOT FOUND THEN
			RAISE EXCEPTION USING ERRCODE = 'undefined_column',
				MESSAGE = format('transaction source %s has no column %I', source, column_name),
				HINT = 'A transaction source needs the columns customer_id (integer type), occurred_at (timestamp with time zone) and amount (numeric type); rename or cast them in a view.';
		END IF;
		IF NOT ((column_name = 'customer_id' AND column_type IN ('smallint', 'integer', 'bigint'))
				OR (column_name = 'occurred_at' AND column_type = 'timestamp with time zone')
				OR (column_name = 'amount' AND column_type IN ('numeric', 'smallint', 'integer', 'bigint',
																 'real', 'double precision', 'money'))) THEN
			RAISE EXCEPTION USING ERRCODE = 'datatype_mismatch',
				MESSAGE = format('column %I of transaction source %s has type %s', column_name, source, column_type),
				DETAIL = CASE column_name
					WHEN 'customer_id' THEN 'customer_id must be smallint, integer or bigint.'
					WHEN 'occurred_at' THEN 'occurred_at must be timestamp with time zone, so that days are counted in one time line.'
					ELSE 'amount must be numeric, an integer type, real, double precision or money.' END,
				HINT = CASE column_name
					WHEN 'customer_id' THEN 'Cast it in a view, e.g. SELECT cust::bigint AS customer_id, ...'
					WHEN 'occurred_at' THEN 'Cast it in a view, e.g. SELECT sold_at AT TIME ZONE ''Europe/London'' AS occurred_at, ... for a timestamp without time zone.'
					ELSE 'Cast it in a view, e.g. SELECT total::numeric AS amount, ...' END;
		END IF;
	END LOOP;
	RETURN source;
END
$$;
COMMENT ON FUNCTION @extschema@.check_transaction_source(regclass) IS
	'Checks that a table or view has the columns customer_id (integer type), occurred_at (timestamptz) and amount (numeric type) the refresh needs; raises 42703 or 42804 with a hint otherwise. Stable because it reads the catalog.';

CREATE OR REPLACE FUNCTION @extschema@.set_transaction_source(source regclass)
RETURNS regclass
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	checked regclass := @extschema@.check_transaction_source(source);
	schema_name name;
	table_name name;
BEGIN
	-- the names first: Citus cannot join the catalog into an update of
	-- crm.settings, a reference table there
	SELECT n.nspname, c.relname INTO schema_name, table_name
	FROM pg_class AS c JOIN pg_namespace AS n ON n.oid = c.relnamespace
	WHERE c.oid = checked;
	UPDATE @extschema@.settings SET source_schema = schema_name, source_table = table_name;
	RETURN checked;
END
$$;
COMMENT ON FUNCTION @extschema@.set_transaction_source(regclass) IS
	'Makes the refresh read sales from this table or view (columns customer_id, occurred_at, amount) instead of crm.transactions. The columns are checked now and at every refresh.';

CREATE OR REPLACE FUNCTION @extschema@.reset_transaction_source()
RETURNS regclass
LANGUAGE sql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
	UPDATE @extschema@.settings SET source_schema = NULL, source_table = NULL;
	SELECT '@extschema@.transactions'::regclass;
$$;
COMMENT ON FUNCTION @extschema@.reset_transaction_source() IS
	'Makes the refresh read crm.transactions again.';

-- The sales source the refresh reads now, checked again: it may have been
-- dropped or altered since it was set.
CREATE OR REPLACE FUNCTION @extschema@.transaction_source()
RETURNS regclass
LANGUAGE plpgsql STABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	configured record;
	resolved regclass;
BEGIN
	SELECT s.source_schema, s.source_table INTO configured FROM @extschema@.settings AS s;
	IF configured.source_table IS NULL THEN
		RETURN '@extschema@.transactions'::regclass;
	END IF;
	resolved := to_regclass(format('%I.%I', configured.source_schema, configured.source_table));
	IF resolved IS NULL THEN
		RAISE EXCEPTION USING ERRCODE = 'undefined_table',
			MESSAGE = format('transaction source %I.%I does not exist', configured.source_schema, configured.source_table),
			HINT = 'Point the refresh at the renamed table with crm.set_transaction_source(), or back to crm.transactions with crm.reset_transaction_source().';
	END IF;
	RETURN @extschema@.check_transaction_source(resolved);
END
$$;
COMMENT ON FUNCTION @extschema@.transaction_source() IS
	'The table or view the next refresh reads sales from, checked. Stable because it reads crm.settings and the catalog.';

-- Rights of the routines above: choosing the sales source is crm_admin's.
REVOKE EXECUTE ON FUNCTION @extschema@.set_transaction_source(regclass), @extschema@.reset_transaction_source() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION @extschema@.set_transaction_source(regclass), @extschema@.reset_transaction_source() TO crm_admin;
