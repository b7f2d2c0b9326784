-- lifecycle_stage: every stage, boundaries exactly at thresholds, NULL rules and bad input.
-- Thresholds used throughout: new 30, active 60, at-risk 120, dormant 365 days.
\i test/fixtures/extension.sql

-- one row per stage, first matching rule wins
SELECT label, crm.lifecycle_stage(orders, recency, tenure, gap, 30, 60, 120, 365) AS stage
FROM (VALUES
	('no orders',                     0::bigint, NULL::float8, NULL::float8, NULL::float8),
	('last purchase 400 days ago',    7, 400, 900, 20),
	('last purchase 200 days ago',    7, 200, 900, 20),
	('last purchase 90 days ago',     7, 90, 900, 20),
	('first purchase 10 days ago',    1, 10, 10, NULL),
	('regular buyer',                 7, 10, 900, 20),
	('back after 200 days away',      7, 10, 900, 200)
) AS t(label, orders, recency, tenure, gap);

-- boundaries: a value exactly at a threshold does not cross it
SELECT label, crm.lifecycle_stage(orders, recency, tenure, gap, 30, 60, 120, 365) AS stage
FROM (VALUES
	('recency = dormant_days',        3::bigint, 365::float8, 900::float8, 20::float8),
	('recency just over dormant',     3, 365.5, 900, 20),
	('recency = at_risk_days',        3, 120, 900, 20),
	('recency just over at_risk',     3, 120.5, 900, 20),
	('recency = active_days',         3, 60, 900, 20),
	('recency just over active',      3, 60.5, 900, 20),
	('tenure = new_days',             2, 5, 30, 25),
	('tenure just over new',          2, 5, 30.5, 25),
	('gap = at_risk_days',            2, 5, 200, 120),
	('gap just over at_risk',         2, 5, 200, 120.5),
	('recency 0, tenure 0',           1, 0, 0, NULL)
) AS t(label, orders, recency, tenure, gap);

-- precedence: a reactivated customer who then lapses is at-risk, dormant or lost, not reactivated
SELECT recency, crm.lifecycle_stage(5, recency, 900, 200, 30, 60, 120, 365) AS stage
FROM unnest('{10,90,200,400}'::float8[]) AS recency;

-- NULL last gap (single purchase day) never gives reactivated, even for old customers
SELECT crm.lifecycle_stage(3, 10, 500, NULL, 30, 60, 120, 365) AS single_day,
       crm.lifecycle_stage(3, 10, 500, 0, 30, 60, 120, 365) AS zero_gap;

-- new_days may equal active_days
SELECT crm.lifecycle_stage(1, 60, 60, NULL, 60, 60, 120, 365) AS new_equals_active;

-- fractional thresholds and day measures
SELECT crm.lifecycle_stage(2, 0.25, 0.75, 0.5, 0.5, 1.5, 2.5, 3.5) AS fractional_active,
       crm.lifecycle_stage(2, 3.75, 4, 0.25, 0.5, 1.5, 2.5, 3.5) AS fractional_lost;

-- a prospect's day measures are not looked at, even invalid ones
SELECT crm.lifecycle_stage(0, 5, 10, 3, 30, 60, 120, 365) AS with_values,
       crm.lifecycle_stage(0, -1, 'NaN', -5, 30, 60, 120, 365) AS with_bad_values;

-- NULL orders gives NULL, whatever the other arguments are
SELECT crm.lifecycle_stage(NULL, 10, 100, 20, 30, 60, 120, 365) IS NULL AS null_orders,
       crm.lifecycle_stage(NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL) IS NULL AS all_null;

-- bad orders
SELECT crm.lifecycle_stage(-1, 10, 100, 20, 30, 60, 120, 365);

-- missing day measures of a buying customer: 22004
SELECT crm.lifecycle_stage(1, NULL, 100, NULL, 30, 60, 120, 365);
SELECT crm.lifecycle_stage(1, 10, NULL, NULL, 30, 60, 120, 365);

-- bad day measures: negative, NaN, infinite, tenure before recency
SELECT crm.lifecycle_stage(2, -1, 100, 20, 30, 60, 120, 365);
SELECT crm.lifecycle_stage(2, 'NaN', 100, 20, 30, 60, 120, 365);
SELECT crm.lifecycle_stage(2, 10, 'Infinity', 20, 30, 60, 120, 365);
SELECT crm.lifecycle_stage(2, 10, -100, 20, 30, 60, 120, 365);
SELECT crm.lifecycle_stage(2, 10, 100, -20, 30, 60, 120, 365);
SELECT crm.lifecycle_stage(2, 10, 100, 'NaN', 30, 60, 120, 365);
SELECT crm.lifecycle_stage(2, 100, 10, 20, 30, 60, 120, 365);

-- missing thresholds: 22004, also for prospects
SELECT crm.lifecycle_stage(2, 10, 100, 20, NULL, 60, 120, 365);
SELECT crm.lifecycle_stage(2, 10, 100, 20, 30, NULL, 120, 365);
SELECT crm.lifecycle_stage(2, 10, 100, 20, 30, 60, NULL, 365);
SELECT crm.lifecycle_stage(0, NULL, NULL, NULL, 30, 60, 120, NULL);

-- bad thresholds: zero, negative, non-finite
SELECT crm.lifecycle_stage(2, 10, 100, 20, 0, 60, 120, 365);
SELECT crm.lifecycle_stage(2, 10, 100, 20, 30, -60, 120, 365);
SELECT crm.lifecycle_stage(2, 10, 100, 20, 30, 60, 'NaN', 365);
SELECT crm.lifecycle_stage(0, NULL, NULL, NULL, 30, 60, 120, 'Infinity');

-- thresholds out of order
SELECT crm.lifecycle_stage(2, 10, 100, 20, 90, 60, 120, 365);
SELECT crm.lifecycle_stage(2, 10, 100, 20, 30, 120, 120, 365);
SELECT crm.lifecycle_stage(2, 10, 100, 20, 30, 60, 365, 365);
SELECT crm.lifecycle_stage(0, NULL, NULL, NULL, 30, 60, 400, 365);

-- SQLSTATE of every bad input above
SELECT args, (public.error_of('SELECT crm.lifecycle_stage(' || args || ')')).state AS sqlstate
FROM (VALUES
	('-1, 10, 100, 20, 30, 60, 120, 365'),
	('1, NULL, 100, NULL, 30, 60, 120, 365'),
	('1, 10, NULL, NULL, 30, 60, 120, 365'),
	('2, -1, 100, 20, 30, 60, 120, 365'),
	('2, ''NaN'', 100, 20, 30, 60, 120, 365'),
	('2, 10, ''Infinity'', 20, 30, 60, 120, 365'),
	('2, 10, -100, 20, 30, 60, 120, 365'),
	('2, 10, 100, -20, 30, 60, 120, 365'),
	('2, 10, 100, ''NaN'', 30, 60, 120, 365'),
	('2, 100, 10, 20, 30, 60, 120, 365'),
	('2, 10, 100, 20, NULL, 60, 120, 365'),
	('2, 10, 100, 20, 30, NULL, 120, 365'),
	('2, 10, 100, 20, 30, 60, NULL, 365'),
	('0, NULL, NULL, NULL, 30, 60, 120, NULL'),
	('2, 10, 100, 20, 0, 60, 120, 365'),
	('2, 10, 100, 20, 30, -60, 120, 365'),
	('2, 10, 100, 20, 30, 60, ''NaN'', 365'),
	('0, NULL, NULL, NULL, 30, 60, 120, ''Infinity'''),
	('2, 10, 100, 20, 90, 60, 120, 365'),
	('2, 10, 100, 20, 30, 120, 120, 365'),
	('2, 10, 100, 20, 30, 60, 365, 365'),
	('0, NULL, NULL, NULL, 30, 60, 400, 365')
) AS bad(args);

-- lifecycle_stage over a generated set equals the plain-SQL CASE of the rules
CREATE TEMP TABLE lc_input AS
SELECT g,
       (g % 4)::bigint AS orders,
       ((g * 37) % 500)::float8 AS recency,
       ((g * 37) % 500 + CASE WHEN g % 3 = 0 THEN (g * 11) % 41 ELSE (g * 13) % 400 END)::float8 AS tenure,
       CASE WHEN g % 5 = 0 THEN NULL ELSE ((g * 13) % 250)::float8 END AS gap
FROM generate_series(1, 4000) AS g;

SELECT stage, count(*) AS customers
FROM (
	SELECT crm.lifecycle_stage(orders, recency, tenure, gap, 30, 60, 120, 365) AS stage
	FROM lc_input
) AS s
GROUP BY stage
ORDER BY stage;

SELECT count(*) AS mismatches
FROM lc_input
WHERE crm.lifecycle_stage(orders, recency, tenure, gap, 30, 60, 120, 365) IS DISTINCT FROM
	CASE
		WHEN orders = 0 THEN 'prospect'
		WHEN recency > 365 THEN 'lost'
		WHEN recency > 120 THEN 'dormant'
		WHEN recency > 60 THEN 'at-risk'
		WHEN tenure <= 30 THEN 'new'
		WHEN gap > 120 THEN 'reactivated'
		ELSE 'active'
	END;

DROP TABLE lc_input;
