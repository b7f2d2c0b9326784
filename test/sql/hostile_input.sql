-- The hostile-input catalogue: every C function and every aggregate of the
-- schema, found in the catalog (so new ones are covered without editing
-- this file), called with each argument in turn replaced by a hostile value
-- of its type: NULL, NaN, +-Infinity, negative, zero, huge, empty, arrays of
-- the wrong length or shape, malformed aggregate states.  Each call runs as
-- its own statement under a statement_timeout.  A crash fails the test (the
-- connection is lost); the summary shows, per function, how many calls
-- returned and which SQLSTATEs the others raised.  Internal errors (XX000,
-- an elog without an error code) and timeouts (57014, a huge value taken at
-- its word) are listed call by call: there should be none.  A call whose
-- arguments are all finite must not return NaN or an infinity anywhere in
-- its result (its text form, arrays and composites included) unless the
-- function is in the allowlist below with the reason: those calls are
-- listed too, and there should be none outside the allowlist.
\i test/fixtures/extension.sql
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

-- Ordinary values of single arguments that need one of their own: a
-- method name, without which every call would stop at the name.
CREATE TEMP TABLE ordinary_argument (function regproc, position integer, literal text NOT NULL);
INSERT INTO ordinary_argument VALUES ('crm.expected_purchases_method', 6, '''series'''),
									 ('crm.expected_purchases_method', 6, '''quadrature''');

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
-- one double precision field at an extreme of its scale, the others ordinary
SELECT f.type, format('ROW(%s)::%s', string_agg(CASE WHEN f.attnum = one.attnum THEN h.v ELSE f.ordinary END,
												', ' ORDER BY f.attnum), f.type)
FROM composite_field AS f
JOIN composite_field AS one ON one.type = f.type AND one.field_type = 'double precision'::regtype
CROSS JOIN unnest(ARRAY['1e308', '5e-324', '1e-300', '9.3e18']) AS h (v)
GROUP BY f.type, one.attnum, h.v
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
-- value; aggregates also over no rows and over three rows.  finite_args:
-- no argument holds NaN or an infinity (of any type, in any element or
-- field); nonfinite_result: the result's text form shows one.
CREATE TEMP TABLE hostile_call (id serial PRIMARY KEY, signature text, statement text, finite_args boolean,
								outcome text, nonfinite_result boolean);
CREATE FUNCTION pg_temp.call_statement(t target, args text[], rows_clause text)
RETURNS text LANGUAGE sql AS $$
	SELECT CASE
		WHEN t.is_aggregate THEN format('SELECT %s(%s) FROM %s', t.fn::regproc, array_to_string(args, ', '), rows_clause)
		WHEN t.proretset THEN format('SELECT array_agg(s) FROM (SELECT %s(%s) LIMIT 1000) AS s', t.fn::regproc, array_to_string(args, ', '))
		ELSE format('SELECT %s(%s)', t.fn::regproc, array_to_string(args, ', ')) END
$$;
-- The ordinary arguments of a function: one list, or one per ordinary
-- value of its own that an argument has.
CREATE FUNCTION pg_temp.ordinary_args(t target) RETURNS SETOF text[] LANGUAGE sql AS $$
	SELECT (SELECT coalesce(array_agg(CASE WHEN a.n = own.position THEN own.literal ELSE o.literal END ORDER BY a.n), '{}')
			FROM unnest(t.arg_types) WITH ORDINALITY AS a (type, n)
			JOIN ordinary_value AS o ON o.type = a.type)
	FROM (SELECT position, literal FROM ordinary_argument WHERE function = t.fn
		  UNION ALL
		  SELECT NULL, NULL WHERE NOT EXISTS (SELECT FROM ordinary_argument WHERE function = t.fn)) AS own
$$;
INSERT INTO hostile_call (signature, statement, finite_args)
SELECT t.signature, pg_temp.call_statement(t, ordinary.args, rows_clause), true
FROM target AS t
CROSS JOIN LATERAL pg_temp.ordinary_args(t) AS ordinary (args)
CROSS JOIN unnest(ARRAY['generate_series(1, 1)', 'generate_series(1, 0)', 'generate_series(1, 3)']) AS rows_clause
WHERE t.is_aggregate OR rows_clause = 'generate_series(1, 1)'
UNION ALL
SELECT t.signature, pg_temp.call_statement(t, ordinary.args[:pos - 1] || h.literal || ordinary.args[pos + 1:], 'generate_series(1, 2)'),
	   h.literal !~* 'nan|infinity'
FROM target AS t
CROSS JOIN LATERAL pg_temp.ordinary_args(t) AS ordinary (args)
CROSS JOIN LATERAL generate_subscripts(t.arg_types, 1) AS pos
JOIN hostile_value AS h ON h.type = t.arg_types[pos]
ORDER BY 1, 2;

-- Every argument value is finite in its ordinary form.
SELECT type, literal FROM ordinary_value WHERE literal ~* 'nan|infinity';

-- One statement per call, each with its own timeout; outcomes recorded,
-- and whether the text form of what returned shows NaN or an infinity
-- (float8 and numeric print NaN, Infinity, -Infinity; dates and
-- timestamps infinity).
CREATE FUNCTION pg_temp.run_call(call_id integer) RETURNS void LANGUAGE plpgsql AS $$
DECLARE
	result text := 'returned';
	value text;
BEGIN
	BEGIN
		EXECUTE format('SELECT v::text FROM (%s) AS s (v)', (SELECT statement FROM hostile_call WHERE id = call_id))
			INTO value;
	EXCEPTION
		WHEN query_canceled THEN result := '57014';
		WHEN OTHERS THEN result := SQLSTATE;
	END;
	UPDATE hostile_call SET outcome = result, nonfinite_result = value ~* '\m(nan|infinity)\M'
	WHERE id = call_id;
END
$$;

-- Functions documented to return NaN or an infinity from finite
-- arguments, with the reason: none.
CREATE TEMP TABLE nonfinite_allowed (function regproc, reason text NOT NULL);
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
-- Internal errors and timeouts, call by call: none.  Every error has a
-- SQLSTATE of its own class (an elog without one shows as XX000 here).
SELECT signature, statement, outcome FROM hostile_call WHERE outcome IN ('XX000', '57014') ORDER BY id;
SELECT count(*) FILTER (WHERE outcome NOT IN ('returned', '57014') AND outcome !~ '^[0-9A-Z]{5}$') AS malformed_states,
	   count(*) FILTER (WHERE finite_args) AS calls_with_finite_args,
	   count(*) FILTER (WHERE finite_args AND outcome = 'returned') AS returned_with_finite_args
FROM hostile_call;
-- NaN or an infinity out of finite arguments, call by call: none but the
-- allowlisted functions, with their reason.
SELECT c.signature, c.statement, a.reason
FROM hostile_call AS c
JOIN target AS t USING (signature)
LEFT JOIN nonfinite_allowed AS a ON a.function = t.fn
WHERE c.finite_args AND c.nonfinite_result
ORDER BY a.reason IS NOT NULL, c.id;

-- Aggregate support functions: each transition, combine, final,
-- serialization and deserialization function of a crm aggregate is either
-- called directly above (a C function of the schema taking no internal
-- argument) or takes the internal state, reachable only through the
-- aggregate, which is called above.  Any other kind would be untested.
-- (Every state is a bytea today, so all are called directly, and their
-- states come malformed from the bytea values above.)
SELECT a.aggfnoid::regprocedure AS aggregate, s.role, s.fn::regprocedure AS support_function
FROM pg_aggregate AS a
CROSS JOIN LATERAL (VALUES ('transition', a.aggtransfn), ('combine', a.aggcombinefn), ('final', a.aggfinalfn),
						   ('serial', a.aggserialfn), ('deserial', a.aggdeserialfn)) AS s (role, fn)
JOIN pg_proc AS p ON p.oid = s.fn
WHERE a.aggfnoid IN (SELECT fn FROM target WHERE is_aggregate) AND s.fn <> 0
  AND s.fn NOT IN (SELECT fn FROM target)
  AND NOT ('internal'::regtype::oid = ANY (p.proargtypes::oid[]) OR p.prorettype = 'internal'::regtype)
ORDER BY 1, 2;
SELECT count(*) FILTER (WHERE s.fn IN (SELECT fn FROM target)) AS called_directly,
	   count(*) FILTER (WHERE s.fn NOT IN (SELECT fn FROM target)) AS through_the_aggregate
FROM pg_aggregate AS a
CROSS JOIN LATERAL (VALUES (a.aggtransfn), (a.aggcombinefn), (a.aggfinalfn), (a.aggserialfn), (a.aggdeserialfn)) AS s (fn)
WHERE a.aggfnoid IN (SELECT fn FROM target WHERE is_aggregate) AND s.fn <> 0;
-- Still connected: no call crashed the backend.
SELECT 'alive' AS backend;
