-- Segment rule sets: the default 11-segment scheme, coverage reports, bad rules.
\i test/fixtures/extension.sql
\set SHOW_CONTEXT never

-- The default rule set covers every cell and every rule wins at least one.
SELECT * FROM crm.check_segment_rules('default');
SELECT count(DISTINCT segment) AS segments FROM crm.segment_rules WHERE rule_set = 'default';

-- The default map read as the R x FM grid of DEFINITIONS.md ("RFM scores, segments and lifecycle stages").
SELECT r_score, fm_score, min(segment) AS segment
FROM crm.segment_map GROUP BY r_score, fm_score ORDER BY r_score DESC, fm_score
\crosstabview r_score fm_score segment
-- Within one R x FM cell, F and M do not change the segment.
SELECT r_score, fm_score FROM crm.segment_map GROUP BY 1, 2 HAVING count(DISTINCT segment) > 1;

-- A custom rule set with a gap and two rules that can never match.
INSERT INTO crm.segment_rules (rule_set, precedence, segment, r_min, r_max, f_min, f_max, m_min, m_max, fm_min, fm_max) VALUES
	('shop', 1, 'VIP', 4, 5, 1, 5, 5, 5, 1, 5),
	('shop', 2, 'Recent VIP', 5, 5, 1, 5, 5, 5, 1, 5),	-- shadowed by VIP
	('shop', 3, 'Active', 3, 5, 1, 5, 1, 5, 1, 5),
	('shop', 4, 'Impossible', 1, 1, 5, 5, 1, 1, 5, 5),	-- F=5, M=1 gives FM=3, never 5
	('shop', 5, 'Lapsed', 1, 1, 1, 5, 1, 5, 1, 5);		-- R=2 is left uncovered
SELECT problem, precedence, segment, count(rfm_code) AS cells
FROM crm.check_segment_rules('shop') GROUP BY 1, 2, 3 ORDER BY 1, 2;
SELECT * FROM crm.check_segment_rules('shop') WHERE rfm_code IN (211, 255) ORDER BY rfm_code;

-- Activating it warns, returns the report and rebuilds the map.
SELECT count(*) AS problems FROM crm.activate_segment_rules('shop');
SELECT segment_rule_set FROM crm.settings;
SELECT segment, count(*) AS cells FROM crm.segment_map GROUP BY 1 ORDER BY 1;
SELECT count(*) AS problems FROM crm.activate_segment_rules('default');
SELECT segment_rule_set FROM crm.settings;
DELETE FROM crm.segment_rules WHERE rule_set = 'shop';

-- Bad rules and rule sets.
SELECT * FROM public.error_of($$INSERT INTO crm.segment_rules (rule_set, precedence, segment, r_min) VALUES ('bad', 1, 'X', 0)$$);
SELECT * FROM public.error_of($$INSERT INTO crm.segment_rules (rule_set, precedence, segment, f_min, f_max) VALUES ('bad', 1, 'X', 4, 2)$$);
SELECT * FROM public.error_of($$INSERT INTO crm.segment_rules (rule_set, precedence, segment, fm_max) VALUES ('bad', 1, 'X', 6)$$);
SELECT * FROM public.error_of($$INSERT INTO crm.segment_rules (rule_set, precedence, segment) VALUES ('bad', 1, '  ')$$);
SELECT * FROM public.error_of($$INSERT INTO crm.segment_rules (rule_set, precedence, segment) VALUES ('default', 10, 'Twice')$$);
SELECT * FROM public.error_of($$SELECT crm.check_segment_rules('nope')$$);
SELECT * FROM public.error_of($$SELECT crm.activate_segment_rules('nope')$$);
SELECT * FROM public.error_of($$SELECT crm.activate_segment_rules(NULL)$$);
SELECT segment_rule_set FROM crm.settings;

-- Bad settings are refused where they are typed.
SELECT * FROM public.error_of($$UPDATE crm.settings SET rfm_method = 'kmeans'$$);
SELECT * FROM public.error_of($$UPDATE crm.settings SET active_days = 400$$);
SELECT * FROM public.error_of($$UPDATE crm.settings SET new_days = 0$$);
SELECT * FROM public.error_of($$UPDATE crm.settings SET history_runs_kept = 1$$);
SELECT * FROM public.error_of($$UPDATE crm.settings SET source_table = 'sales'$$);
-- settings keeps one row: an INSERT (as pg_restore does) replaces it.
CREATE TEMP TABLE saved_settings AS SELECT * FROM crm.settings;
INSERT INTO crm.settings (clv_months) VALUES (6);
SELECT count(*) AS rows, min(clv_months) AS clv_months, min(rfm_method) AS rfm_method FROM crm.settings;
SELECT * FROM public.error_of($$INSERT INTO crm.settings (clv_months) VALUES (0)$$);
INSERT INTO crm.settings SELECT * FROM saved_settings;
SELECT count(*) AS rows FROM (SELECT * FROM crm.settings EXCEPT SELECT * FROM saved_settings) AS changed;
SELECT * FROM public.error_of($$UPDATE crm.rfm_fixed_breaks SET break_2 = 10 WHERE metric = 'recency'$$);
SELECT * FROM public.error_of($$UPDATE crm.rfm_fixed_breaks SET break_4 = 'Infinity' WHERE metric = 'monetary'$$);
SELECT * FROM public.error_of($$UPDATE crm.rfm_fixed_breaks SET break_1 = -1 WHERE metric = 'frequency'$$);
SELECT * FROM public.error_of($$INSERT INTO crm.rfm_fixed_breaks VALUES ('loyalty', 1, 2, 3, 4)$$);
-- One row per metric: inserting a metric's row replaces its thresholds.
INSERT INTO crm.rfm_fixed_breaks VALUES ('recency', 7, 60, 120, 240);
INSERT INTO crm.rfm_fixed_breaks VALUES ('recency', 30, 60, 120, 240);
SELECT * FROM crm.rfm_fixed_breaks ORDER BY metric;
-- Negative monetary thresholds are allowed: net spend can be negative.
UPDATE crm.rfm_fixed_breaks SET break_1 = -10 WHERE metric = 'monetary';
UPDATE crm.rfm_fixed_breaks SET break_1 = 250 WHERE metric = 'monetary';

-- A message quotes 64 characters of a rule set name or a setting, not all
-- of it (#16).
SELECT state, message FROM error_of($$SELECT * FROM crm.check_segment_rules(repeat('r', 1000000))$$);
SELECT state, message FROM error_of($$UPDATE crm.settings SET rfm_method = repeat('k', 1000000)$$);
SELECT state, message FROM error_of($$INSERT INTO crm.segment_rules (rule_set, precedence, segment, r_min, r_max, f_min, f_max, m_min, m_max, fm_min, fm_max)
									   VALUES (repeat('r', 1000000), 1, ' ', 1, 5, 1, 5, 1, 5, 1, 5)$$);
