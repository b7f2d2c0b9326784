-- Identity: likely duplicate customers for review, data-quality counts, and
-- the merge of a duplicate into the customer kept.
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

-- Counts only, but over the handles: crm_admin, like the handles.  Email
-- and phone are handle kinds: a customer has an email when any channel of
-- kind email holds a non-blank handle, an invalid one when none of those
-- handles is valid.
CREATE VIEW @extschema@.data_quality AS
WITH handles AS (
	SELECT c.customer_id,
		   bool_or(ch.handle_kind = 'email' AND nullif(btrim(ct.handle), '') IS NOT NULL) AS has_email,
		   bool_or(ch.handle_kind = 'email' AND @extschema@.normalized_email(ct.handle) IS NOT NULL) AS valid_email,
		   bool_or(ch.handle_kind = 'phone' AND nullif(btrim(ct.handle), '') IS NOT NULL) AS has_phone,
		   bool_or(ch.handle_kind = 'phone' AND @extschema@.normalized_phone(ct.handle) IS NOT NULL) AS valid_phone
	FROM @extschema@.customers AS c
	LEFT JOIN @extschema@.customer_contacts AS ct ON ct.customer_id = c.customer_id
	LEFT JOIN @extschema@.channels AS ch ON ch.name = ct.channel
	GROUP BY c.customer_id
)
SELECT (SELECT count(*) FROM handles) AS customers,
	   (SELECT count(*) FROM handles AS h WHERE NOT coalesce(h.has_email, false)) AS missing_email,
	   (SELECT count(*) FROM handles AS h WHERE h.has_email AND NOT h.valid_email) AS invalid_email,
	   (SELECT count(*) FROM handles AS h WHERE NOT coalesce(h.has_phone, false)) AS missing_phone,
	   (SELECT count(*) FROM handles AS h WHERE h.has_phone AND NOT h.valid_phone) AS invalid_phone,
	   (SELECT count(*) FROM (SELECT DISTINCT d.customer_id_a, d.customer_id_b
							  FROM @extschema@.duplicate_candidates AS d) AS pairs) AS duplicate_pairs,
	   (SELECT count(*) FROM @extschema@.transactions AS t WHERE t.customer_id IS NULL) AS transactions_without_customer,
	   (SELECT count(*) FROM @extschema@.transactions AS t
		WHERE t.customer_id IS NOT NULL
		  AND NOT EXISTS (SELECT 1 FROM @extschema@.customers AS c WHERE c.customer_id = t.customer_id)) AS transactions_unknown_customer;
COMMENT ON VIEW @extschema@.data_quality IS
	'One row of data-quality counts over crm.customers, crm.customer_contacts and crm.transactions (counts only; crm_admin, as it reads the handles).';
COMMENT ON COLUMN @extschema@.data_quality.customers IS 'Customers.';
COMMENT ON COLUMN @extschema@.data_quality.missing_email IS 'Customers without an email address (no non-blank handle on a channel of handle kind email).';
COMMENT ON COLUMN @extschema@.data_quality.invalid_email IS 'Customers with an email handle, none of which looks like an address (crm.normalized_email gives NULL).';
COMMENT ON COLUMN @extschema@.data_quality.missing_phone IS 'Customers without a phone number (no non-blank handle on a channel of handle kind phone).';
COMMENT ON COLUMN @extschema@.data_quality.invalid_phone IS 'Customers with a phone handle, none of which has 7 to 15 digits.';
COMMENT ON COLUMN @extschema@.data_quality.duplicate_pairs IS 'Distinct pairs in crm.duplicate_candidates.';
COMMENT ON COLUMN @extschema@.data_quality.transactions_without_customer IS 'Sales without a customer_id (anonymous).';
COMMENT ON COLUMN @extschema@.data_quality.transactions_unknown_customer IS 'Sales whose customer_id is not in crm.customers.';

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

CREATE FUNCTION @extschema@.merge_customers(keep_id bigint, merge_id bigint)
RETURNS @extschema@.customer_merges
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	logged @extschema@.customer_merges;
	survivor bigint;
	merged_row @extschema@.customers;
	filled text := '';
	transactions_moved bigint;
	surveys_moved bigint;
	feedback_moved bigint;
	tickets_moved bigint;
	points_moved bigint;
BEGIN
	IF keep_id IS NULL OR merge_id IS NULL THEN
		RAISE EXCEPTION USING ERRCODE = 'null_value_not_allowed',
			MESSAGE = 'keep_id and merge_id must not be NULL',
			HINT = 'Name the customer to keep and the duplicate to merge into it, e.g. from crm.duplicate_candidates.';
	END IF;
	IF keep_id = merge_id THEN
		RAISE EXCEPTION USING ERRCODE = 'invalid_parameter_value',
			MESSAGE = format('cannot merge customer %s into itself', keep_id),
			HINT = 'keep_id and merge_id must be two different customers.';
	END IF;
	-- Both rows, in key order, so that two merges cannot deadlock; then the
	-- log, read after the locks so that a merge that just committed is seen.
	PERFORM 1 FROM @extschema@.customers AS c
	WHERE c.customer_id IN (keep_id, merge_id) ORDER BY c.customer_id FOR UPDATE;
	SELECT m.keep_id INTO survivor FROM @extschema@.customer_merges AS m WHERE m.merge_id = merge_customers.keep_id;
	IF FOUND THEN
		RAISE EXCEPTION USING ERRCODE = 'invalid_parameter_value',
			MESSAGE = format('customer %s was merged into customer %s and cannot keep anything', keep_id, survivor),
			HINT = format('Merge into customer %s instead.', survivor);
	END IF;
	SELECT * INTO logged FROM @extschema@.customer_merges AS m WHERE m.merge_id = merge_customers.merge_id;
	IF FOUND AND logged.keep_id <> keep_id THEN
		RAISE EXCEPTION USING ERRCODE = 'invalid_parameter_value',
			MESSAGE = format('customer %s was already merged into customer %s', merge_id, logged.keep_id),
			HINT = 'A customer is merged once; a replay must name the same kept customer.';
	END IF;
	IF NOT EXISTS (SELECT 1 FROM @extschema@.customers AS c WHERE c.customer_id = keep_id) THEN
		RAISE EXCEPTION USING ERRCODE = 'foreign_key_violation',
			MESSAGE = format('customer %s does not exist', keep_id),
			HINT = 'The kept customer must be in crm.customers.';
	END IF;
	SELECT * INTO merged_row FROM @extschema@.customers AS c WHERE c.customer_id = merge_id;
	IF NOT FOUND AND logged.merge_id IS NULL THEN
		RAISE EXCEPTION USING ERRCODE = 'foreign_key_violation',
			MESSAGE = format('customer %s does not exist', merge_id),
			HINT = 'The merged customer must be in crm.customers (or already merged, for a replay).';
	END IF;

	IF merged_row.customer_id IS NOT NULL THEN
		-- The kept row wins; what it lacks comes from the merged row.
		SELECT coalesce(string_agg(f.name, ', ' ORDER BY f.position), '') INTO filled
		FROM @extschema@.customers AS k
		CROSS JOIN LATERAL (VALUES
			(1, 'first_name', k.first_name IS NULL AND merged_row.first_name IS NOT NULL),
			(2, 'last_name', k.last_name IS NULL AND merged_row.last_name IS NOT NULL),
			(3, 'birth_date', k.birth_date IS NULL AND merged_row.birth_date IS NOT NULL),
			(4, 'gender', k.gender IS NULL AND merged_row.gender IS NOT NULL),
			(5, 'home_store', k.home_store IS NULL AND merged_row.home_store IS NOT NULL),
			(6, 'country', k.country IS NULL AND merged_row.country IS NOT NULL),
			(7, 'postal_code', k.postal_code IS NULL AND merged_row.postal_code IS NOT NULL),
			(8, 'joined_at', merged_row.joined_at < k.joined_at))
			AS f (position, name, taken)
		WHERE k.customer_id = keep_id AND f.taken;
		UPDATE @extschema@.customers AS k
		SET first_name = coalesce(k.first_name, merged_row.first_name),
			last_name = coalesce(k.last_name, merged_row.last_name),
			birth_date = coalesce(k.birth_date, merged_row.birth_date),
			gender = coalesce(k.gender, merged_row.gender),
			home_store = coalesce(k.home_store, merged_row.home_store),
			country = coalesce(k.country, merged_row.country),
			postal_code = coalesce(k.postal_code, merged_row.postal_code),
			joined_at = least(k.joined_at, merged_row.joined_at)
		WHERE k.customer_id = keep_id;
	END IF;

	-- Then the handles, channel by channel, also on a replay (contacts a
	-- late load wrote under the merged key).  Consent is never widened: a handle taken
	-- over keeps the kept customer's consent on its channel only where the
	-- merged customer had consent there too.
	PERFORM set_config('retail_crm.consent_source', 'crm.merge_customers', true);
	WITH merged AS (
		SELECT m.channel, m.handle, m.consent, k.handle AS kept_handle,
			   coalesce(k.consent, false) AS kept_consent, k.consent_updated_at AS kept_consent_updated_at,
			   coalesce(k.preferred, false) AS kept_preferred,
			   nullif(btrim(k.handle), '') IS NULL AND nullif(btrim(m.handle), '') IS NOT NULL AS take_handle,
			   m.preferred AND NOT EXISTS (SELECT 1 FROM @extschema@.customer_contacts AS p
										   WHERE p.customer_id = keep_id AND p.preferred) AS take_preference
		FROM @extschema@.customer_contacts AS m
		LEFT JOIN @extschema@.customer_contacts AS k ON k.customer_id = keep_id AND k.channel = m.channel
		WHERE m.customer_id = merge_id
	), written AS (
		INSERT INTO @extschema@.customer_contacts AS ct
			(customer_id, channel, handle, consent, consent_updated_at, preferred)
		SELECT keep_id, w.channel, CASE WHEN w.take_handle THEN w.handle ELSE w.kept_handle END,
			   w.kept_consent AND (NOT w.take_handle OR w.consent),
			   -- a withdrawal happens now: the consent log dates it by this column
			   CASE WHEN w.kept_consent AND w.take_handle AND NOT w.consent THEN now()
					ELSE w.kept_consent_updated_at END,
			   w.kept_preferred OR w.take_preference
		FROM merged AS w
		WHERE w.take_handle OR w.take_preference
		ON CONFLICT ON CONSTRAINT customer_contacts_pkey DO UPDATE
		SET handle = excluded.handle, consent = excluded.consent,
			consent_updated_at = excluded.consent_updated_at, preferred = excluded.preferred
		RETURNING ct.channel
	)
	SELECT concat_ws(', ', nullif(filled, ''),
					 (SELECT string_agg('handle:' || w.channel, ', ' ORDER BY w.channel) FROM merged AS w
					  WHERE w.take_handle AND w.channel IN (SELECT r.channel FROM written AS r)),
					 (SELECT 'preferred_channel' FROM merged AS w WHERE w.take_preference))
	INTO filled;
	PERFORM set_config('retail_crm.consent_source', '', true);

	UPDATE @extschema@.transactions AS t SET customer_id = keep_id WHERE t.customer_id = merge_id;
	GET DIAGNOSTICS transactions_moved = ROW_COUNT;
	UPDATE @extschema@.survey_responses AS r SET customer_id = keep_id WHERE r.customer_id = merge_id;
	GET DIAGNOSTICS surveys_moved = ROW_COUNT;
	UPDATE @extschema@.feedback AS f SET customer_id = keep_id WHERE f.customer_id = merge_id;
	GET DIAGNOSTICS feedback_moved = ROW_COUNT;
	UPDATE @extschema@.complaint_tickets AS t SET customer_id = keep_id WHERE t.customer_id = merge_id;
	GET DIAGNOSTICS tickets_moved = ROW_COUNT;
	points_moved := @extschema@.merge_loyalty(keep_id, merge_id);
	-- Campaign memberships (and their events) follow the kept customer,
	-- except in a campaign both were in: there the kept one's assignment stands.
	DELETE FROM @extschema@.campaign_members AS m
	WHERE m.customer_id = merge_id
	  AND EXISTS (SELECT 1 FROM @extschema@.campaign_members AS k WHERE k.campaign_id = m.campaign_id AND k.customer_id = keep_id);
	UPDATE @extschema@.campaign_members AS m SET customer_id = keep_id WHERE m.customer_id = merge_id;
	DELETE FROM @extschema@.customer_contacts AS ct WHERE ct.customer_id = merge_id;
	DELETE FROM @extschema@.customers AS c WHERE c.customer_id = merge_id;

	INSERT INTO @extschema@.customer_merges AS m
		(merge_id, keep_id, fields_filled, transactions_moved, survey_responses_moved, feedback_moved,
		 complaint_tickets_moved, points_moved)
	VALUES (merge_id, keep_id, filled, transactions_moved, surveys_moved, feedback_moved, tickets_moved, points_moved)
	ON CONFLICT ON CONSTRAINT customer_merges_pkey DO UPDATE
	SET replayed_at = now(),
		fields_filled = concat_ws(', ', nullif(m.fields_filled, ''), nullif(excluded.fields_filled, '')),
		transactions_moved = m.transactions_moved + excluded.transactions_moved,
		survey_responses_moved = m.survey_responses_moved + excluded.survey_responses_moved,
		feedback_moved = m.feedback_moved + excluded.feedback_moved,
		complaint_tickets_moved = m.complaint_tickets_moved + excluded.complaint_tickets_moved,
		points_moved = m.points_moved + excluded.points_moved
	RETURNING m.* INTO logged;
	RETURN logged;
END
$$;
COMMENT ON FUNCTION @extschema@.merge_customers(bigint, bigint) IS
	'Merges customer merge_id into keep_id: moves its transactions, survey responses, feedback and complaint tickets, transfers its loyalty points (lots with their dates) and membership, moves its campaign memberships and events (in a campaign both were in, the kept customer''s assignment stands), fills the kept customer''s missing fields, handles and preferred channel from the merged one (consent never widened), deletes the merged row and its contacts and logs the merge in crm.customer_merges, whose row it returns. Running it again moves what arrived under merge_id since and adds to the counts. Scores follow at the next refresh (incremental is enough).';

GRANT SELECT ON @extschema@.identity_rules TO crm_analyst;
GRANT SELECT ON @extschema@.duplicate_candidates, @extschema@.data_quality TO crm_admin;
GRANT SELECT, UPDATE ON @extschema@.identity_rules TO crm_admin;
GRANT SELECT, INSERT, UPDATE, DELETE, TRUNCATE ON @extschema@.customer_merges TO crm_admin;
REVOKE EXECUTE ON FUNCTION @extschema@.merge_customers(bigint, bigint) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION @extschema@.merge_customers(bigint, bigint) TO crm_admin;
-- Reads crm.customer_merges, which only crm_admin may (the tier review uses it).
REVOKE EXECUTE ON FUNCTION @extschema@.customer_ids_merged_into(bigint) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION @extschema@.customer_ids_merged_into(bigint) TO crm_admin;
