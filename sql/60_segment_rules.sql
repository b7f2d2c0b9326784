-- Segment names from score rules: the rule table, its checks, and the
-- 125-cell map the refresh joins on.

CREATE TABLE @extschema@.segment_rules (
	rule_set	text NOT NULL,
	precedence	integer NOT NULL,
	segment		text NOT NULL,
	r_min		smallint NOT NULL DEFAULT 1,
	r_max		smallint NOT NULL DEFAULT 5,
	f_min		smallint NOT NULL DEFAULT 1,
	f_max		smallint NOT NULL DEFAULT 5,
	m_min		smallint NOT NULL DEFAULT 1,
	m_max		smallint NOT NULL DEFAULT 5,
	fm_min		smallint NOT NULL DEFAULT 1,
	fm_max		smallint NOT NULL DEFAULT 5,
	PRIMARY KEY (rule_set, precedence)
);
COMMENT ON TABLE @extschema@.segment_rules IS
	'Segment rules: a customer gets the segment of the first rule (lowest precedence) whose ranges hold all of their scores. Add a rule set under a new name and switch to it with crm.activate_segment_rules(); the rule set ''default'' belongs to the extension.';
COMMENT ON COLUMN @extschema@.segment_rules.rule_set IS 'Name of the rule set the rule belongs to.';
COMMENT ON COLUMN @extschema@.segment_rules.precedence IS 'Lower numbers are tried first; the first match wins.';
COMMENT ON COLUMN @extschema@.segment_rules.segment IS 'Segment name given by the rule.';
COMMENT ON COLUMN @extschema@.segment_rules.r_min IS 'Lowest R score (1-5) the rule matches.';
COMMENT ON COLUMN @extschema@.segment_rules.r_max IS 'Highest R score (1-5) the rule matches.';
COMMENT ON COLUMN @extschema@.segment_rules.f_min IS 'Lowest F score (1-5) the rule matches.';
COMMENT ON COLUMN @extschema@.segment_rules.f_max IS 'Highest F score (1-5) the rule matches.';
COMMENT ON COLUMN @extschema@.segment_rules.m_min IS 'Lowest M score (1-5) the rule matches.';
COMMENT ON COLUMN @extschema@.segment_rules.m_max IS 'Highest M score (1-5) the rule matches.';
COMMENT ON COLUMN @extschema@.segment_rules.fm_min IS 'Lowest FM score (mean of F and M rounded half up) the rule matches.';
COMMENT ON COLUMN @extschema@.segment_rules.fm_max IS 'Highest FM score the rule matches.';

-- segment_rules_check() and check_segment_rules() are in 18_config_checks.sql.
CREATE TRIGGER segment_rules_check BEFORE INSERT OR UPDATE ON @extschema@.segment_rules
	FOR EACH ROW EXECUTE FUNCTION @extschema@.segment_rules_check();

-- The complete 11-segment scheme on R and FM (DEFINITIONS.md, "RFM scores,
-- segments and lifecycle stages", the R x FM table): every one of the 25
-- R x FM cells is covered and every rule wins at least one cell.
INSERT INTO @extschema@.segment_rules (rule_set, precedence, segment, r_min, r_max, fm_min, fm_max) VALUES
	('default', 10, 'Champions', 5, 5, 5, 5),
	('default', 20, 'Loyal Customers', 3, 5, 4, 5),
	('default', 30, 'Potential Loyalist', 4, 5, 2, 3),
	('default', 40, 'Recent Customers', 5, 5, 1, 1),
	('default', 50, 'Promising', 4, 4, 1, 1),
	('default', 60, 'Customers Needing Attention', 3, 3, 3, 3),
	('default', 70, 'About To Sleep', 3, 3, 1, 2),
	('default', 80, 'Can''t Lose Them', 1, 1, 5, 5),
	('default', 90, 'At Risk', 1, 2, 3, 5),
	('default', 100, 'Hibernating', 2, 2, 2, 2),
	('default', 110, 'Lost', 1, 2, 1, 2);

-- Every (R, F, M) score cell with the segment the active rule set gives it.
CREATE TABLE @extschema@.segment_map (
	rfm_code	smallint PRIMARY KEY,
	r_score		smallint NOT NULL,
	f_score		smallint NOT NULL,
	m_score		smallint NOT NULL,
	fm_score	smallint NOT NULL,
	segment		text NOT NULL,
	precedence	integer
);
COMMENT ON TABLE @extschema@.segment_map IS
	'The 125 score cells and the segment the active rule set gives each; built by crm.activate_segment_rules(). Cells no rule covers get the segment Unclassified.';
COMMENT ON COLUMN @extschema@.segment_map.rfm_code IS 'R*100 + F*10 + M.';
COMMENT ON COLUMN @extschema@.segment_map.r_score IS 'Recency score 1-5.';
COMMENT ON COLUMN @extschema@.segment_map.f_score IS 'Frequency score 1-5.';
COMMENT ON COLUMN @extschema@.segment_map.m_score IS 'Monetary score 1-5.';
COMMENT ON COLUMN @extschema@.segment_map.fm_score IS 'Mean of F and M rounded half up.';
COMMENT ON COLUMN @extschema@.segment_map.segment IS 'Segment of the first matching rule, or Unclassified.';
COMMENT ON COLUMN @extschema@.segment_map.precedence IS 'Precedence of the rule that matched; NULL when none did.';

-- Each score cell with the first rule of the set that matches it.  The cell
-- scores come from crm.rfm_score itself (values equal to bands with breaks
-- 1,2,3,4), so FM is computed exactly as the refresh computes it.
CREATE FUNCTION @extschema@.segment_cells(rule_set text)
RETURNS TABLE (rfm_code smallint, r_score smallint, f_score smallint, m_score smallint,
			   fm_score smallint, segment text, precedence integer)
LANGUAGE sql STABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
	WITH cells AS (
		SELECT (@extschema@.rfm_score(6 - r, f, m, '{1,2,3,4}', '{1,2,3,4}', '{1,2,3,4}')).*
		FROM generate_series(1, 5) AS r, generate_series(1, 5) AS f, generate_series(1, 5) AS m
	)
	SELECT c.rfm_code, c.r_score, c.f_score, c.m_score, c.fm_score, rule.segment, rule.precedence
	FROM cells AS c
	LEFT JOIN LATERAL (
		SELECT sr.segment, sr.precedence
		FROM @extschema@.segment_rules AS sr
		WHERE sr.rule_set = segment_cells.rule_set
		  AND c.r_score BETWEEN sr.r_min AND sr.r_max
		  AND c.f_score BETWEEN sr.f_min AND sr.f_max
		  AND c.m_score BETWEEN sr.m_min AND sr.m_max
		  AND c.fm_score BETWEEN sr.fm_min AND sr.fm_max
		ORDER BY sr.precedence
		LIMIT 1
	) AS rule ON true
$$;
COMMENT ON FUNCTION @extschema@.segment_cells(text) IS
	'The 125 (R, F, M) score cells with the segment and precedence of the first rule of the rule set that matches each (NULL when none). Stable because it reads crm.segment_rules.';

CREATE FUNCTION @extschema@.activate_segment_rules(rule_set text)
RETURNS TABLE (problem text, precedence integer, segment text, rfm_code smallint, detail text)
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	uncovered integer := 0;
	unreachable integer := 0;
	report record;
BEGIN
	FOR report IN SELECT * FROM @extschema@.check_segment_rules(rule_set) LOOP
		IF report.problem = 'uncovered cell' THEN
			uncovered := uncovered + 1;
		ELSE
			unreachable := unreachable + 1;
		END IF;
		problem := report.problem;
		precedence := report.precedence;
		segment := report.segment;
		rfm_code := report.rfm_code;
		detail := report.detail;
		RETURN NEXT;
	END LOOP;

	DELETE FROM @extschema@.segment_map;
	INSERT INTO @extschema@.segment_map
		SELECT c.rfm_code, c.r_score, c.f_score, c.m_score, c.fm_score,
			   coalesce(c.segment, 'Unclassified'), c.precedence
		FROM @extschema@.segment_cells(activate_segment_rules.rule_set) AS c;
	UPDATE @extschema@.settings SET segment_rule_set = rule_set;

	IF uncovered > 0 OR unreachable > 0 THEN
		RAISE WARNING 'segment rule set % leaves % of 125 score cells uncovered and has % unreachable rules',
			quote_literal(rule_set), uncovered, unreachable
			USING HINT = 'The rows returned list them; the next refresh puts customers of uncovered cells in the segment Unclassified.';
	END IF;
END
$$;
COMMENT ON FUNCTION @extschema@.activate_segment_rules(text) IS
	'Makes a rule set the one the refresh uses, rebuilds crm.segment_map, and returns (and warns about) its uncovered cells and unreachable rules. Takes effect at the next refresh.';

-- Build the map for the default rule set at install time.
SELECT count(*) FROM @extschema@.activate_segment_rules('default');

-- Rights and dump registration of the objects above.  The rule set
-- 'default' belongs to the extension and comes back with CREATE EXTENSION;
-- the map follows whichever set is active.
GRANT SELECT ON @extschema@.segment_rules, @extschema@.segment_map TO crm_analyst;
GRANT SELECT, INSERT, UPDATE, DELETE, TRUNCATE ON @extschema@.segment_rules, @extschema@.segment_map TO crm_admin;
REVOKE EXECUTE ON FUNCTION @extschema@.activate_segment_rules(text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION @extschema@.activate_segment_rules(text) TO crm_admin;
CREATE TRIGGER segment_map_replace BEFORE INSERT ON @extschema@.segment_map
	FOR EACH ROW EXECUTE FUNCTION @extschema@.replace_row_with_same_key('rfm_code');
SELECT pg_catalog.pg_extension_config_dump('@extschema@.segment_rules', $$WHERE rule_set <> 'default'$$);
SELECT pg_catalog.pg_extension_config_dump('@extschema@.segment_map', '');
