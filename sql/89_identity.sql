-- Identity: likely duplicate customers for review and the log of merges of
-- a duplicate into the customer kept (the counts: 89a_data_quality.sql; the
-- merge itself: 89b_merge_customers.sql).
-- Handles are compared normalised by their channel's handle kind (email
-- lower-cased and trimmed, phone as its digits: crm.normalized_email and
-- crm.normalized_phone, 12_channels.sql), by the rules enabled in
-- crm.identity_rules.

CREATE TABLE @extschema@.identity_rules (
	rule		text PRIMARY KEY CONSTRAINT identity_rules_known
		CHECK (rule IN ('same_email', 'same_phone', 'same_name_birth_date')),
	enabled		boolean NOT NULL DEFAULT true
);
COMMENT ON TABLE @extschema@.identity_rules IS
	'Which rules crm.duplicate_candidates applies; switch one off with UPDATE crm.identity_rules SET enabled = false WHERE rule = ...';
COMMENT ON COLUMN @extschema@.identity_rules.rule IS 'same_email (normalised handle on a channel whose handle kind is email), same_phone (phone digits, on channels of handle kind phone) or same_name_birth_date (first and last name, case-insensitive, and birth date).';
COMMENT ON COLUMN @extschema@.identity_rules.enabled IS 'Whether the rule is applied.';
INSERT INTO @extschema@.identity_rules (rule) VALUES ('same_email'), ('same_phone'), ('same_name_birth_date');

-- Pairs of customers (lower id first) that an enabled rule matches, with the
-- shared value as evidence: personal data, so for crm_admin only.
CREATE VIEW @extschema@.duplicate_candidates AS
WITH keyed AS (
	SELECT DISTINCT ct.customer_id, 'same_' || ch.handle_kind AS rule,
		   CASE ch.handle_kind WHEN 'email' THEN @extschema@.normalized_email(ct.handle)
			   ELSE @extschema@.normalized_phone(ct.handle) END AS match_key
	FROM @extschema@.customer_contacts AS ct
	JOIN @extschema@.channels AS ch ON ch.name = ct.channel AND ch.handle_kind IN ('email', 'phone')
	UNION ALL
	SELECT c.customer_id, 'same_name_birth_date',
		   lower(btrim(c.first_name)) || ' ' || lower(btrim(c.last_name)) || ' ' || to_char(c.birth_date, 'YYYY-MM-DD')
	FROM @extschema@.customers AS c
)
SELECT a.customer_id AS customer_id_a, b.customer_id AS customer_id_b, a.rule, a.match_key AS evidence
FROM keyed AS a
JOIN keyed AS b ON b.rule = a.rule AND b.match_key = a.match_key AND b.customer_id > a.customer_id
JOIN @extschema@.identity_rules AS r ON r.rule = a.rule AND r.enabled;
COMMENT ON VIEW @extschema@.duplicate_candidates IS
	'Pairs of customers an enabled rule of crm.identity_rules says may be one person, with the shared value as evidence, for review. Holds personal data: crm_admin only.';
COMMENT ON COLUMN @extschema@.duplicate_candidates.customer_id_a IS 'The lower customer key of the pair.';
COMMENT ON COLUMN @extschema@.duplicate_candidates.customer_id_b IS 'The higher customer key of the pair.';
COMMENT ON COLUMN @extschema@.duplicate_candidates.rule IS 'The rule that matched.';
COMMENT ON COLUMN @extschema@.duplicate_candidates.evidence IS 'The normalised value both share.';

-- Merging duplicates ---------------------------------------------------------
--
-- A merge moves everything the merged customer did to the kept one and
-- deletes the merged row; crm.customer_merges remembers it.  Every step moves
-- only what is still under the merged key, so running the same merge again
-- (a replay) is safe and picks up rows a late load wrote under the old key.

CREATE TABLE @extschema@.customer_merges (
	merge_id					bigint PRIMARY KEY,
	keep_id						bigint NOT NULL,
	merged_at					timestamptz NOT NULL DEFAULT now(),
	merged_by					name NOT NULL DEFAULT session_user,
	replayed_at					timestamptz,
	fields_filled				text NOT NULL,
	transactions_moved			bigint NOT NULL,
	survey_responses_moved		bigint NOT NULL,
	feedback_moved				bigint NOT NULL,
	complaint_tickets_moved		bigint NOT NULL,
	points_moved				bigint NOT NULL,
	CONSTRAINT customer_merges_not_self CHECK (merge_id <> keep_id)
);
COMMENT ON TABLE @extschema@.customer_merges IS
	'One row per customer merged into another by crm.merge_customers, with what moved (replays add to the counts). Keys and counts only: no personal data.';
COMMENT ON COLUMN @extschema@.customer_merges.merge_id IS 'Customer merged away (its crm.customers row is deleted); merged once only.';
COMMENT ON COLUMN @extschema@.customer_merges.keep_id IS 'Customer kept, who now holds everything of merge_id.';
COMMENT ON COLUMN @extschema@.customer_merges.merged_at IS 'When the merge ran first.';
COMMENT ON COLUMN @extschema@.customer_merges.merged_by IS 'Session user who ran it first.';
COMMENT ON COLUMN @extschema@.customer_merges.replayed_at IS 'When it was last run again; NULL when never.';
COMMENT ON COLUMN @extschema@.customer_merges.fields_filled IS 'What the kept customer lacked and took from the merged one, comma separated (names only): columns of crm.customers, handle:<channel> for a handle, preferred_channel for the preference.';
COMMENT ON COLUMN @extschema@.customer_merges.transactions_moved IS 'crm.transactions rows moved to keep_id.';
COMMENT ON COLUMN @extschema@.customer_merges.survey_responses_moved IS 'crm.survey_responses rows moved.';
COMMENT ON COLUMN @extschema@.customer_merges.feedback_moved IS 'crm.feedback rows moved.';
COMMENT ON COLUMN @extschema@.customer_merges.complaint_tickets_moved IS 'crm.complaint_tickets rows moved (their events follow the ticket).';
COMMENT ON COLUMN @extschema@.customer_merges.points_moved IS 'Loyalty points transferred (lots still holding points, with their dates).';
CREATE INDEX customer_merges_keep_idx ON @extschema@.customer_merges (keep_id);

-- A customer and every customer merged into it, directly or through a chain.
CREATE FUNCTION @extschema@.customer_ids_merged_into(customer_id bigint)
RETURNS SETOF bigint
LANGUAGE sql STABLE STRICT PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
	WITH RECURSIVE merged (customer_id) AS (
		SELECT customer_ids_merged_into.customer_id
		UNION
		SELECT m.merge_id FROM @extschema@.customer_merges AS m JOIN merged ON m.keep_id = merged.customer_id
	)
	SELECT merged.customer_id FROM merged
$$;
COMMENT ON FUNCTION @extschema@.customer_ids_merged_into(bigint) IS
	'The customer key and every key merged into it by crm.merge_customers, directly or through a chain. Stable because it reads crm.customer_merges.';

-- Rights and dump registration of the objects above.
GRANT SELECT ON @extschema@.identity_rules TO crm_analyst;
GRANT SELECT ON @extschema@.duplicate_candidates TO crm_admin;
GRANT SELECT, UPDATE ON @extschema@.identity_rules TO crm_admin;
GRANT SELECT, INSERT, UPDATE, DELETE, TRUNCATE ON @extschema@.customer_merges TO crm_admin;
-- Reads crm.customer_merges, which only crm_admin may (the tier review uses it).
REVOKE EXECUTE ON FUNCTION @extschema@.customer_ids_merged_into(bigint) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION @extschema@.customer_ids_merged_into(bigint) TO crm_admin;
CREATE TRIGGER identity_rules_replace BEFORE INSERT ON @extschema@.identity_rules
	FOR EACH ROW EXECUTE FUNCTION @extschema@.replace_row_with_same_key('rule');
SELECT pg_catalog.pg_extension_config_dump('@extschema@.customer_merges', '');
SELECT pg_catalog.pg_extension_config_dump('@extschema@.identity_rules', '');
