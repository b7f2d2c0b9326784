-- What a function sets for its transaction when the database is on Citus
-- (99_citus.sql); on one server it does nothing.  Only CREATE OR REPLACE of
-- functions, comments and grants: an upgrade runs this part again.

-- Citus refuses to write a reference table that distributed tables refer to
-- after a parallel read or write of distributed tables in the same
-- transaction (a launch, a tier review, an expiry sweep do both): one
-- connection per node makes the order safe.
CREATE OR REPLACE FUNCTION @extschema@.citus_sequential()
RETURNS void
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	IF current_setting('citus.multi_shard_modify_mode', true) IS NOT NULL THEN
		PERFORM set_config('citus.multi_shard_modify_mode', 'sequential', true);
	END IF;
END
$$;
COMMENT ON FUNCTION @extschema@.citus_sequential() IS
	'Internal: when Citus is loaded, sets citus.multi_shard_modify_mode to sequential for the rest of the transaction, so that a function may write a reference table after touching distributed tables; nothing on one server.';
-- for crm.review_tiers and crm.expire_points, which crm_admin runs
REVOKE EXECUTE ON FUNCTION @extschema@.citus_sequential() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION @extschema@.citus_sequential() TO crm_admin;
