-- rfm_band and rfm_score: bands at and around break points, scores, codes and bad input.
-- Break sets used throughout: R {30,60,120,240} days, F {1,2,4,8} orders, M {0,100,500,1000}.
\i test/fixtures/extension.sql

-- rfm_band: a value equal to a break stays in the lower band
SELECT v, crm.rfm_band(v, '{10,20,30,40}') AS band
FROM unnest('{-5,0,10,10.000001,15,20,25,30,35,40,40.5,1e300}'::float8[]) AS v;

-- all-equal breaks leave bands 2-4 empty
SELECT v, crm.rfm_band(v, '{1,1,1,1}') AS band
FROM unnest('{0,0.999,1,1.001,100}'::float8[]) AS v;

-- partly equal breaks: band 3 is empty, ties never split
SELECT v, crm.rfm_band(v, '{1,2,2,5}') AS band
FROM unnest('{1,2,2,2,3,5,6}'::float8[]) AS v;

-- negative breaks and values, and a non-default lower bound of the array
SELECT crm.rfm_band(-15, '{-20,-10,0,10}') AS minus15,
       crm.rfm_band(-20, '{-20,-10,0,10}') AS minus20,
       crm.rfm_band(3, '[0:3]={1,2,3,4}') AS lower_bound_0;

-- rfm_score: best and worst customers
SELECT * FROM crm.rfm_score(0, 20, 5000, '{30,60,120,240}', '{1,2,4,8}', '{0,100,500,1000}');
SELECT * FROM crm.rfm_score(1000, 0, 0, '{30,60,120,240}', '{1,2,4,8}', '{0,100,500,1000}');

-- values exactly at breaks: recency 30 is still R = 5, frequency 1 is F = 1, monetary 100 is M = 2
SELECT * FROM crm.rfm_score(30, 1, 100, '{30,60,120,240}', '{1,2,4,8}', '{0,100,500,1000}');
-- just above the same breaks
SELECT * FROM crm.rfm_score(30.5, 1.5, 100.01, '{30,60,120,240}', '{1,2,4,8}', '{0,100,500,1000}');

-- fm_score is the mean of F and M rounded half up: (2,3) -> 3, (1,2) -> 2, (4,4) -> 4, (1,5) -> 3
SELECT f_score, m_score, fm_score
FROM crm.rfm_score(10, 2, 200, '{30,60,120,240}', '{1,2,4,8}', '{0,100,500,1000}')
UNION ALL
SELECT f_score, m_score, fm_score
FROM crm.rfm_score(10, 1, 50, '{30,60,120,240}', '{1,2,4,8}', '{0,100,500,1000}')
UNION ALL
SELECT f_score, m_score, fm_score
FROM crm.rfm_score(10, 5, 800, '{30,60,120,240}', '{1,2,4,8}', '{0,100,500,1000}')
UNION ALL
SELECT f_score, m_score, fm_score
FROM crm.rfm_score(10, 0, 2000, '{30,60,120,240}', '{1,2,4,8}', '{0,100,500,1000}');

-- negative monetary (net spend after returns) is allowed and scores M = 1
SELECT * FROM crm.rfm_score(45, 3, -250.5, '{30,60,120,240}', '{1,2,4,8}', '{0,100,500,1000}');

-- all-equal frequency breaks {1,1,1,1}: one-time buyers F = 1, repeat buyers F = 5
SELECT f, (crm.rfm_score(10, f, 10, '{30,60,120,240}', '{1,1,1,1}', '{0,100,500,1000}')).f_score
FROM unnest('{0,1,2,50}'::float8[]) AS f;

-- rfm_code ranges over 111..555
SELECT min(s.rfm_code), max(s.rfm_code), count(DISTINCT s.rfm_code)
FROM generate_series(0, 300, 5) AS r,
     generate_series(0, 10) AS f,
     LATERAL crm.rfm_score(r, f, f * 120, '{30,60,120,240}', '{1,2,4,8}', '{0,100,500,1000}') AS s;

-- STRICT: any NULL argument gives NULL
SELECT crm.rfm_band(NULL, '{1,2,3,4}') IS NULL AS null_value,
       crm.rfm_band(1, NULL) IS NULL AS null_breaks;
SELECT crm.rfm_score(NULL, 1, 1, '{30,60,120,240}', '{1,2,4,8}', '{0,100,500,1000}') IS NULL AS r,
       crm.rfm_score(1, NULL, 1, '{30,60,120,240}', '{1,2,4,8}', '{0,100,500,1000}') IS NULL AS f,
       crm.rfm_score(1, 1, NULL, '{30,60,120,240}', '{1,2,4,8}', '{0,100,500,1000}') IS NULL AS m,
       crm.rfm_score(1, 1, 1, NULL, '{1,2,4,8}', '{0,100,500,1000}') IS NULL AS rb,
       crm.rfm_score(1, 1, 1, '{30,60,120,240}', NULL, '{0,100,500,1000}') IS NULL AS fb,
       crm.rfm_score(1, 1, 1, '{30,60,120,240}', '{1,2,4,8}', NULL) IS NULL AS mb;

-- bad break arrays: wrong size, empty, two-dimensional, NULL, NaN, infinite, decreasing
SELECT crm.rfm_score(1, 1, 1, '{30,60,120}', '{1,2,4,8}', '{0,100,500,1000}');
SELECT crm.rfm_score(1, 1, 1, '{30,60,120,240}', '{1,2,4,8,16}', '{0,100,500,1000}');
SELECT crm.rfm_score(1, 1, 1, '{30,60,120,240}', '{1,2,4,8}', '{}');
SELECT crm.rfm_score(1, 1, 1, '{{30,60},{120,240}}', '{1,2,4,8}', '{0,100,500,1000}');
SELECT crm.rfm_score(1, 1, 1, '{30,60,120,240}', '{1,NULL,4,8}', '{0,100,500,1000}');
SELECT crm.rfm_score(1, 1, 1, '{30,60,120,240}', '{1,2,4,8}', '{0,100,NaN,1000}');
SELECT crm.rfm_score(1, 1, 1, '{30,60,120,Infinity}', '{1,2,4,8}', '{0,100,500,1000}');
SELECT crm.rfm_score(1, 1, 1, '{-Infinity,60,120,240}', '{1,2,4,8}', '{0,100,500,1000}');
SELECT crm.rfm_score(1, 1, 1, '{30,60,120,240}', '{1,4,2,8}', '{0,100,500,1000}');
SELECT crm.rfm_band(1, '{}');
SELECT crm.rfm_band(1, '{1,2,3}');
SELECT crm.rfm_band(1, '{4,3,2,1}');
SELECT crm.rfm_band(1, '{1,2,3,NULL}');

-- bad scalar inputs: negative or non-finite recency and frequency, non-finite monetary and value
SELECT crm.rfm_score(-1, 1, 1, '{30,60,120,240}', '{1,2,4,8}', '{0,100,500,1000}');
SELECT crm.rfm_score('NaN', 1, 1, '{30,60,120,240}', '{1,2,4,8}', '{0,100,500,1000}');
SELECT crm.rfm_score('Infinity', 1, 1, '{30,60,120,240}', '{1,2,4,8}', '{0,100,500,1000}');
SELECT crm.rfm_score(1, -0.5, 1, '{30,60,120,240}', '{1,2,4,8}', '{0,100,500,1000}');
SELECT crm.rfm_score(1, 'Infinity', 1, '{30,60,120,240}', '{1,2,4,8}', '{0,100,500,1000}');
SELECT crm.rfm_score(1, 1, 'NaN', '{30,60,120,240}', '{1,2,4,8}', '{0,100,500,1000}');
SELECT crm.rfm_score(1, 1, '-Infinity', '{30,60,120,240}', '{1,2,4,8}', '{0,100,500,1000}');
SELECT crm.rfm_band('NaN', '{1,2,3,4}');

-- every bad input above raises 22023
SELECT (public.error_of(format('SELECT crm.rfm_score(%s, %s, %s, %L, %L, %L)', r, f, m, rb, fb, mb))).state AS sqlstate,
       count(*)
FROM (VALUES
	('1', '1', '1', '{30,60,120}', '{1,2,4,8}', '{0,100,500,1000}'),
	('1', '1', '1', '{30,60,120,240}', '{1,2,4,8,16}', '{0,100,500,1000}'),
	('1', '1', '1', '{30,60,120,240}', '{1,2,4,8}', '{}'),
	('1', '1', '1', '{{30,60},{120,240}}', '{1,2,4,8}', '{0,100,500,1000}'),
	('1', '1', '1', '{30,60,120,240}', '{1,NULL,4,8}', '{0,100,500,1000}'),
	('1', '1', '1', '{30,60,120,240}', '{1,2,4,8}', '{0,100,NaN,1000}'),
	('1', '1', '1', '{30,60,120,Infinity}', '{1,2,4,8}', '{0,100,500,1000}'),
	('1', '1', '1', '{30,60,120,240}', '{1,4,2,8}', '{0,100,500,1000}'),
	('-1', '1', '1', '{30,60,120,240}', '{1,2,4,8}', '{0,100,500,1000}'),
	('''NaN''', '1', '1', '{30,60,120,240}', '{1,2,4,8}', '{0,100,500,1000}'),
	('1', '-0.5', '1', '{30,60,120,240}', '{1,2,4,8}', '{0,100,500,1000}'),
	('1', '''Infinity''', '1', '{30,60,120,240}', '{1,2,4,8}', '{0,100,500,1000}'),
	('1', '1', '''NaN''', '{30,60,120,240}', '{1,2,4,8}', '{0,100,500,1000}')
) AS bad(r, f, m, rb, fb, mb)
GROUP BY 1;

-- rfm_score over a generated set equals the plain-SQL CASE computation,
-- with values landing exactly on breaks, ties, negative spend and an all-equal break set
CREATE TEMP TABLE rfm_input AS
SELECT g,
       ((g * 37) % 300 + (g % 2) * 0.5)::float8 AS recency_days,
       (g % 11)::float8 AS frequency,
       ((g * 7919) % 1301 - 150 + (g % 4) * 0.25)::float8 AS monetary,
       CASE WHEN g % 3 = 0 THEN '{1,1,1,1}' ELSE '{1,2,4,8}' END::float8[] AS f_breaks
FROM generate_series(1, 5000) AS g;

CREATE TEMP VIEW rfm_expected AS
SELECT g,
       (6 - CASE WHEN recency_days > 240 THEN 5 WHEN recency_days > 120 THEN 4
                 WHEN recency_days > 60 THEN 3 WHEN recency_days > 30 THEN 2 ELSE 1 END) AS r,
       CASE WHEN frequency > f_breaks[4] THEN 5 WHEN frequency > f_breaks[3] THEN 4
            WHEN frequency > f_breaks[2] THEN 3 WHEN frequency > f_breaks[1] THEN 2 ELSE 1 END AS f,
       CASE WHEN monetary > 1000 THEN 5 WHEN monetary > 500 THEN 4
            WHEN monetary > 100 THEN 3 WHEN monetary > 0 THEN 2 ELSE 1 END AS m
FROM rfm_input;

CREATE TEMP VIEW rfm_actual AS
SELECT g, s.r_score, s.f_score, s.m_score, s.fm_score, s.rfm_code
FROM rfm_input,
     LATERAL crm.rfm_score(recency_days, frequency, monetary,
                           '{30,60,120,240}', f_breaks, '{0,100,500,1000}') AS s;

-- the generated set covers every score on every axis
SELECT count(DISTINCT r) AS r_values, count(DISTINCT f) AS f_values,
       count(DISTINCT m) AS m_values, count(DISTINCT (r, f, m)) AS cells
FROM rfm_expected;

-- and values exactly on every break of every axis
SELECT count(*) FILTER (WHERE recency_days IN (30, 60, 120, 240)) AS r_on_break,
       count(DISTINCT recency_days) FILTER (WHERE recency_days IN (30, 60, 120, 240)) AS r_breaks_hit,
       count(DISTINCT frequency) FILTER (WHERE frequency IN (1, 2, 4, 8)) AS f_breaks_hit,
       count(DISTINCT monetary) FILTER (WHERE monetary IN (0, 100, 500, 1000)) AS m_breaks_hit,
       count(*) FILTER (WHERE monetary < 0) AS negative_monetary
FROM rfm_input;

-- 0 rows in both directions
SELECT count(*) AS mismatches FROM (
	(SELECT g, r, f, m, (f + m + 1) / 2, r * 100 + f * 10 + m FROM rfm_expected
	 EXCEPT
	 SELECT g, r_score, f_score, m_score, fm_score, rfm_code FROM rfm_actual)
	UNION ALL
	(SELECT g, r_score, f_score, m_score, fm_score, rfm_code FROM rfm_actual
	 EXCEPT
	 SELECT g, r, f, m, (f + m + 1) / 2, r * 100 + f * 10 + m FROM rfm_expected)
) AS d;

-- rfm_band agrees with the same CASE on the monetary axis
SELECT count(*) AS mismatches
FROM rfm_input JOIN rfm_expected USING (g)
WHERE crm.rfm_band(monetary, '{0,100,500,1000}') <> m;

DROP VIEW rfm_actual;
DROP VIEW rfm_expected;
DROP TABLE rfm_input;
