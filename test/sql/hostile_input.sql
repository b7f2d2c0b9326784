-- The hostile-input catalogue: every C function and every aggregate of the
-- schema, found in the catalog (so new ones are covered without editing
-- this file), called with each argument in turn replaced by a hostile value
-- of its type: NULL, NaN, +-Infinity, negative, zero, huge, empty, arrays of
-- the wrong length or shape, malformed aggregate states.  Each call runs as
-- its own statement under a statement_timeout.  A crash fails the test (the
-- connection is lost); the summary shows, per function, how many calls
-- returned and which SQLSTATEs the others raised.  Internal errors (XX000,
-- an elog without an error code) and timeouts (57014, a huge value taken at
-- its word) are listed call by call: there should be none.
SET timezone = 'UTC';
\set SHOW_CONTEXT never
SET client_min_messages = warning;

-- Ordinary values per argument type, used for the arguments not under test.
CREATE TEMP TABLE ordinary_value (type regtype PRIMARY KEY, literal text NOT NULL);
INSERT INTO ordinary_value VALUES
	('double precision', '2'),
	('double precision[]', '''{1,2,3,4}''::float8[]'),
	('integer', '2'),
	('integer[]', '''{1,2,3,4}''::int[]'),
	('bigint', '2'),
	('smallint', '2'),
	('numeric', '2.5'),
	('numeric[]', '''{1,2,3,4}''::numeric[]'),
	('boolean', 'true'),
	('text', '''auto'''),
	('text[]', '''{a,b}''::text[]'),
	('date', '''2024-01-31''::date'),
	('timestamp with time zone', '''2024-01-31 12:00+00''::timestamptz'),
	('interval', '''1 day''::interval'),
	('bytea', '''\x00''::bytea'),
	('regclass', '''crm.transaction_items''::regclass');

-- Hostile values per argument type.
CREATE TEMP TABLE hostile_value (type regtype, literal text NOT NULL);
INSERT INTO hostile_value
SELECT 'double precision'::regtype, v FROM unnest(ARRAY['NULL::float8', '''NaN''::float8', '''Infinity''::float8',
	'''-Infinity''::float8', '-1', '0', '1e308', '-1e308', '5e-324', '1e-300', '2147483648', '9.3e18']) AS v
UNION ALL
SELECT 'double precision[]', v FROM unnest(ARRAY['NULL::float8[]', '''{}''::float8[]', '''{NULL,1,2,3}''::float8[]',
	'''{NaN,1,2,3}''::float8[]', '''{-Infinity,0,Infinity,1}''::float8[]', '''{4,3,2,1}''::float8[]', '''{1,2}''::float8[]',
	'''{{1,2},{3,4}}''::float8[]', '''[0:3]={1,2,3,4}''::float8[]', 'array_fill(1::float8, ARRAY[100000])',
	'''{1e308,-1e308,1,2}''::float8[]']) AS v
UNION ALL
SELECT 'integer', v FROM unnest(ARRAY['NULL::int', '-1', '0', '2147483647', '(-2147483648)::int']) AS v
UNION ALL
SELECT 'integer[]', v FROM unnest(ARRAY['NULL::int[]', '''{}''::int[]', '''{NULL}''::int[]', '''{-1,0}''::int[]',
	'''{{1,2},{3,4}}''::int[]']) AS v
UNION ALL
SELECT 'bigint', v FROM unnest(ARRAY['NULL::bigint', '-1', '0', '9223372036854775807', '(-9223372036854775808)::bigint',
	'2147483648']) AS v
UNION ALL
SELECT 'smallint', v FROM unnest(ARRAY['NULL::smallint', '(-1)::smallint', '0::smallint', '32767::smallint']) AS v
UNION ALL
SELECT 'numeric', v FROM unnest(ARRAY['NULL::numeric', '''NaN''::numeric', '''Infinity''::numeric', '''-Infinity''::numeric',
	'-1', '0', '1e100', '-1e100', '1e-100', '922337203685477.5808', '1e131071']) AS v
UNION ALL
SELECT 'numeric[]', v FROM unnest(ARRAY['NULL::numeric[]', '''{}''::numeric[]', '''{NULL}''::numeric[]',
	'''{NaN,-1}''::numeric[]']) AS v
UNION ALL
SELECT 'boolean', v FROM unnest(ARRAY['NULL::boolean', 'false']) AS v
UNION ALL
SELECT 'text', v FROM unnest(ARRAY['NULL::text', '''''', ''' ''', 'repeat(''x'', 100000)', '''Robert''''); DROP TABLE x; --''',
	'E''\u00e9\u00df''']) AS v
UNION ALL
SELECT 'text[]', v FROM unnest(ARRAY['NULL::text[]', '''{}''::text[]', '''{NULL}''::text[]', '''{"",""}''::text[]']) AS v
UNION ALL
SELECT 'date', v FROM unnest(ARRAY['NULL::date', '''infinity''::date', '''-infinity''::date', '''4713-01-01 BC''::date',
	'''5874897-12-31''::date']) AS v
UNION ALL
SELECT 'timestamp with time zone', v FROM unnest(ARRAY['NULL::timestamptz', '''infinity''::timestamptz',
	'''-infinity''::timestamptz', '''4713-01-01 00:00+00 BC''::timestamptz', '''294276-12-31 00:00+00''::timestamptz',
	'''2000-01-01 00:00+00''::timestamptz']) AS v
UNION ALL
SELECT 'interval', v FROM unnest(ARRAY['NULL::interval', '''-1 day''::interval', '''0''::interval',
	'''178000000 years''::interval']) AS v
UNION ALL
-- Malformed aggregate states: empty, short, garbage, huge counts in a header.
SELECT 'bytea', v FROM unnest(ARRAY['NULL::bytea', '''\x''::bytea', '''\x01''::bytea', '''\xdeadbeef''::bytea',
	'decode(repeat(''ff'', 64), ''hex'')', 'decode(repeat(''00'', 4096), ''hex'')',
	'decode(repeat(''7fffffff'', 32), ''hex'')', 'decode(repeat(''0100000000000000'', 16), ''hex'')']) AS v
UNION ALL
SELECT 'regclass', v FROM unnest(ARRAY['NULL::regclass', '''pg_class''::regclass', '0::regclass', '''crm.customer_360''::regclass']) AS v;

-- Composite argument types (model parameters): a row of ordinary values,
-- and rows whose double precision fields all hold one hostile number.
CREATE TEMP VIEW composite_field AS
SELECT t.oid::regtype AS type, a.attnum, a.atttypid::regtype AS field_type, o.literal AS ordinary
FROM pg_type AS t
JOIN pg_attribute AS a ON a.attrelid = t.typrelid AND a.attnum > 0 AND NOT a.attisdropped
JOIN ordinary_value AS o ON o.type = a.atttypid
WHERE t.typnamespace = 'crm'::regnamespace AND t.typtype = 'c'
  AND EXISTS (SELECT 1 FROM pg_proc AS p WHERE t.oid = ANY (p.proargtypes));
INSERT INTO ordinary_value
SELECT type, format('ROW(%s)::%s', string_agg(ordinary, ', ' ORDER BY attnum), type)
FROM composite_field GROUP BY type;
INSERT INTO hostile_value
SELECT f.type, format('ROW(%s)::%s', string_agg(CASE WHEN f.field_type = 'double precision'::regtype THEN h.v ELSE f.ordinary END,
												', ' ORDER BY f.attnum), f.type)
FROM composite_field AS f
CROSS JOIN unnest(ARRAY['NULL::float8', '''NaN''::float8', '''Infinity''::float8', '-1', '0', '1e308', '1e-300']) AS h (v)
GROUP BY f.type, h.v
UNION ALL
SELECT DISTINCT type, format('NULL::%s', type) FROM composite_field;

-- The functions under test: every C function and every aggregate.
CREATE TEMP TABLE target AS
SELECT p.oid AS fn, p.oid::regprocedure::text AS signature, p.prokind = 'a' AS is_aggregate, p.proretset,
	   ARRAY(SELECT unnest(p.proargtypes::oid[])::regtype) AS arg_types
FROM pg_proc AS p JOIN pg_language AS l ON l.oid = p.prolang
WHERE p.pronamespace = 'crm'::regnamespace AND (l.lanname = 'c' OR p.prokind = 'a');

-- Every argument type has ordinary and hostile values (else this file
-- needs a new type).
SELECT DISTINCT t.signature, arg AS type_without_values
FROM target AS t, unnest(t.arg_types) AS arg
WHERE arg NOT IN (SELECT type FROM ordinary_value) OR arg NOT IN (SELECT type FROM hostile_value);

-- The calls: all-ordinary, then each argument replaced by each hostile
-- value; aggregates also over no rows and over three rows.
CREATE TEMP TABLE hostile_call (id serial PRIMARY KEY, signature text, statement text, outcome text);
CREATE FUNCTION pg_temp.call_statement(t target, args text[], rows_clause text)
RETURNS text LANGUAGE sql AS $$
	SELECT CASE
		WHEN t.is_aggregate THEN format('SELECT %s(%s) FROM %s', t.fn::regproc, array_to_string(args, ', '), rows_clause)
		WHEN t.proretset THEN format('SELECT count(*) FROM (SELECT %s(%s) LIMIT 1000) AS s', t.fn::regproc, array_to_string(args, ', '))
		ELSE format('SELECT %s(%s)', t.fn::regproc, array_to_string(args, ', ')) END
$$;
INSERT INTO hostile_call (signature, statement)
SELECT t.signature, pg_temp.call_statement(t, ordinary.args, rows_clause)
FROM target AS t
CROSS JOIN LATERAL (SELECT coalesce(array_agg(o.literal ORDER BY a.n), '{}') AS args
					FROM unnest(t.arg_types) WITH ORDINALITY AS a (type, n)
					JOIN ordinary_value AS o ON o.type = a.type) AS ordinary
CROSS JOIN unnest(ARRAY['generate_series(1, 1)', 'generate_series(1, 0)', 'generate_series(1, 3)']) AS rows_clause
WHERE t.is_aggregate OR rows_clause = 'generate_series(1, 1)'
UNION ALL
SELECT t.signature, pg_temp.call_statement(t, ordinary.args[:pos - 1] || h.literal || ordinary.args[pos + 1:], 'generate_series(1, 2)')
FROM target AS t
CROSS JOIN LATERAL (SELECT array_agg(o.literal ORDER BY a.n) AS args
					FROM unnest(t.arg_types) WITH ORDINALITY AS a (type, n)
					JOIN ordinary_value AS o ON o.type = a.type) AS ordinary
CROSS JOIN LATERAL generate_subscripts(t.arg_types, 1) AS pos
JOIN hostile_value AS h ON h.type = t.arg_types[pos]
ORDER BY 1, 2;

-- One statement per call, each with its own timeout; outcomes recorded.
CREATE FUNCTION pg_temp.run_call(call_id integer) RETURNS void LANGUAGE plpgsql AS $$
DECLARE
	result text := 'returned';
BEGIN
	BEGIN
		EXECUTE (SELECT statement FROM hostile_call WHERE id = call_id);
	EXCEPTION
		WHEN query_canceled THEN result := '57014';
		WHEN OTHERS THEN result := SQLSTATE;
	END;
	UPDATE hostile_call SET outcome = result WHERE id = call_id;
END
$$;
SET statement_timeout = '5s';
\set ECHO none
\o /dev/null
SELECT format('SELECT pg_temp.run_call(%s)', id) FROM hostile_call ORDER BY id
\gexec
\o
\set ECHO all
RESET statement_timeout;

SELECT count(*) > 500 AS many_calls, count(*) FILTER (WHERE outcome IS NULL) AS not_run FROM hostile_call;
-- Per function: calls, calls that returned, SQLSTATEs of the rest.
SELECT signature, count(*) AS calls, count(*) FILTER (WHERE outcome = 'returned') AS returned,
	   string_agg(DISTINCT outcome, ' ' ORDER BY outcome) FILTER (WHERE outcome <> 'returned') AS error_states
FROM hostile_call GROUP BY signature ORDER BY signature;
-- Internal errors and timeouts, call by call: none.
SELECT signature, statement, outcome FROM hostile_call WHERE outcome IN ('XX000', '57014') ORDER BY id;
-- Still connected: no call crashed the backend.
SELECT 'alive' AS backend;
