-- crm.forget_customer (the erasure log and crm.personal_data_columns are in
-- 93_privacy.sql).  Only CREATE OR REPLACE of functions, comments and
-- grants: an upgrade runs this part again.

CREATE OR REPLACE FUNCTION @extschema@.forget_customer(customer_id bigint)
RETURNS bigint
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	target record;
	erased_rows bigint;
	total_rows bigint := 0;
	erased_tables text[] := '{}';
	request bigint;
	withdrawn_at timestamptz := now();
BEGIN
	IF customer_id IS NULL THEN
		RAISE EXCEPTION USING ERRCODE = 'null_value_not_allowed',
			MESSAGE = 'customer_id must not be NULL',
			HINT = 'Give the key of the customer whose personal data is to be erased.';
	END IF;

	-- Withdraw every consent first: the consent log records the erasure as
	-- the reason, and no audience can pick the customer up afterwards.  The
	-- time is a value here (Citus refuses now() in a CASE of an UPDATE).
	PERFORM @extschema@.set_consent_source('crm.forget_customer');
	UPDATE @extschema@.customer_contacts AS ct
	SET consent = false, consent_updated_at = CASE WHEN ct.consent THEN withdrawn_at ELSE ct.consent_updated_at END,
		preferred = false
	WHERE ct.customer_id = forget_customer.customer_id AND (ct.consent OR ct.preferred);
	PERFORM @extschema@.set_consent_source(NULL);

	FOR target IN
		SELECT p.table_name, p.customer_rows,
			   string_agg(format('%I = %s', p.column_name, p.erased_value), ', ') AS assignments,
			   string_agg(format('%I IS DISTINCT FROM %s', p.column_name, p.erased_value), ' OR ') AS holds_data
		FROM @extschema@.personal_data_columns() AS p
		GROUP BY p.table_name, p.customer_rows
		ORDER BY p.table_name::text
	LOOP
		IF target.customer_rows IS NULL THEN
			RAISE EXCEPTION USING ERRCODE = 'internal_error',
				MESSAGE = format('%s holds personal data but neither a customer_id nor a foreign key to a table with one',
								 target.table_name),
				HINT = 'Nothing was erased. This is a retail_crm defect: report it.';
		END IF;
		EXECUTE format('UPDATE %s SET %s WHERE (%s) AND (%s)',
					   target.table_name, target.assignments, target.customer_rows, target.holds_data)
			USING customer_id;
		GET DIAGNOSTICS erased_rows = ROW_COUNT;
		IF erased_rows > 0 THEN
			total_rows := total_rows + erased_rows;
			erased_tables := erased_tables || target.table_name::text;
		END IF;
	END LOOP;

	INSERT INTO @extschema@.erasure_requests (customer_id, tables_erased, rows_erased)
	VALUES (customer_id, array_to_string(erased_tables, ', '), total_rows)
	RETURNING request_id INTO request;
	RAISE NOTICE 'retail_crm: erased personal data of customer % in % rows (%)',
		customer_id, total_rows, coalesce(nullif(array_to_string(erased_tables, ', '), ''), 'no table held any');
	RETURN request;
END
$$;
COMMENT ON FUNCTION @extschema@.forget_customer(bigint) IS
	'Erases a customer''s personal data everywhere in the schema (every column crm.personal_data_columns() lists), withdraws their consents (logged in crm.consent_events), keeps purchases, scores and aggregates under the customer key, and logs the request in crm.erasure_requests. Returns the request_id. Calling it again erases what was added since and logs again.';

REVOKE EXECUTE ON FUNCTION @extschema@.forget_customer(bigint) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION @extschema@.forget_customer(bigint) TO crm_admin;
