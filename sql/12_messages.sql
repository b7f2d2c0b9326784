-- What error messages quote of an argument (the C functions have the same
-- rule in MessageExcerpt, src/retail_crm.c).

CREATE OR REPLACE FUNCTION @extschema@.message_excerpt(value text)
RETURNS text
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
	SELECT CASE WHEN length(value) > 64 THEN left(value, 64) || '...' ELSE value END
$$;
COMMENT ON FUNCTION @extschema@.message_excerpt(text) IS
	'The text an error message quotes of an argument: whole up to 64 characters, else its first 64 followed by "...", so that a huge argument does not travel into the client and the server log with every error.';
