-- Identity: likely duplicate customers for review, data-quality counts, and
-- the merge of a duplicate into the customer kept.
-- Contacts are compared normalised (email lower-cased and trimmed, phone as
-- its digits), by the rules enabled in crm.identity_rules.

CREATE FUNCTION @extschema@.normalized_email(email text)
RETURNS text
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
RETURN CASE WHEN lower(btrim(email)) ~ '^[^@\s]+@[^@\s]+\.[^@\s]+$' THEN lower(btrim(email)) END;
COMMENT ON FUNCTION @extschema@.normalized_email(text) IS
	'An email address lower-cased and trimmed, or NULL when it does not look like one (local@domain.tld, no spaces).';

CREATE FUNCTION @extschema@.normalized_phone(phone text)
RETURNS text
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
RETURN CASE WHEN length(regexp_replace(phone, '\D', '', 'g')) BETWEEN 7 AND 15
			THEN regexp_replace(phone, '\D', '', 'g') END;
COMMENT ON FUNCTION @extschema@.normalized_phone(text) IS
	'A phone number as its digits, or NULL when it has fewer than 7 or more than 15 (E.164 allows 15).';

CREATE TABLE @extschema@.identity_rules (
	rule		text PRIMARY KEY CONSTRAINT identity_rules_known
		CHECK (rule IN ('same_email', 'same_phone', 'same_name_birth_date')),
	enabled		boolean NOT NULL DEFAULT true
);
COMMENT ON TABLE @extschema@.identity_rules IS
	'Which rules crm.duplicate_candidates applies; switch one off with UPDATE crm.identity_rules SET enabled = false WHERE rule = ...';
COMMENT ON COLUMN @extschema@.identity_rules.rule IS 'same_email (normalised email), same_phone (phone digits) or same_name_birth_date (first and last name, case-insensitive, and birth date).';
COMMENT ON COLUMN @extschema@.identity_rules.enabled IS 'Whether the rule is applied.';
INSERT INTO @extschema@.identity_rules (rule) VALUES ('same_email'), ('same_phone'), ('same_name_birth_date');

-- Pairs of customers (lower id first) that an enabled rule matches, with the
-- shared value as evidence: personal data, so for crm_admin only.
CREATE VIEW @extschema@.duplicate_candidates AS
WITH keyed AS (
	SELECT c.customer_id, 'same_email' AS rule, @extschema@.normalized_email(c.email) AS match_key
	FROM @extschema@.customers AS c
	UNION ALL
	SELECT c.customer_id, 'same_phone', @extschema@.normalized_phone(c.phone)
	FROM @extschema@.customers AS c
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

-- Counts only, but over the contact columns: crm_admin, like the contacts.
CREATE VIEW @extschema@.data_quality AS
SELECT (SELECT count(*) FROM @extschema@.customers) AS customers,
	   (SELECT count(*) FROM @extschema@.customers AS c WHERE nullif(btrim(c.email), '') IS NULL) AS missing_email,
	   (SELECT count(*) FROM @extschema@.customers AS c
		WHERE nullif(btrim(c.email), '') IS NOT NULL AND @extschema@.normalized_email(c.email) IS NULL) AS invalid_email,
	   (SELECT count(*) FROM @extschema@.customers AS c WHERE nullif(btrim(c.phone), '') IS NULL) AS missing_phone,
	   (SELECT count(*) FROM @extschema@.customers AS c
		WHERE nullif(btrim(c.phone), '') IS NOT NULL AND @extschema@.normalized_phone(c.phone) IS NULL) AS invalid_phone,
	   (SELECT count(*) FROM (SELECT DISTINCT d.customer_id_a, d.customer_id_b
							  FROM @extschema@.duplicate_candidates AS d) AS pairs) AS duplicate_pairs,
	   (SELECT count(*) FROM @extschema@.transactions AS t WHERE t.customer_id IS NULL) AS transactions_without_customer,
	   (SELECT count(*) FROM @extschema@.transactions AS t
		WHERE t.customer_id IS NOT NULL
		  AND NOT EXISTS (SELECT 1 FROM @extschema@.customers AS c WHERE c.customer_id = t.customer_id)) AS transactions_unknown_customer;
COMMENT ON VIEW @extschema@.data_quality IS
	'One row of data-quality counts over crm.customers and crm.transactions (counts only; crm_admin, as it reads the contact columns).';
COMMENT ON COLUMN @extschema@.data_quality.customers IS 'Customers.';
COMMENT ON COLUMN @extschema@.data_quality.missing_email IS 'Customers without an email address.';
COMMENT ON COLUMN @extschema@.data_quality.invalid_email IS 'Customers whose email does not look like one (crm.normalized_email gives NULL).';
COMMENT ON COLUMN @extschema@.data_quality.missing_phone IS 'Customers without a phone number.';
COMMENT ON COLUMN @extschema@.data_quality.invalid_phone IS 'Customers whose phone has fewer than 7 or more than 15 digits.';
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
COMMENT ON COLUMN @extschema@.customer_merges.fields_filled IS 'Columns of crm.customers the kept row lacked and took from the merged row, comma separated (names only).';
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

-- Moves the merged member's points: each lot still holding points (pending
-- and lapsed ones too, so the merged account ends at 0) is closed by a
-- transfer_out and reopened on the kept member by a transfer_in lot with the
-- same dates.  The ledger stays append-only; keys merge:<id>:lot:<lot> make a
-- replay write nothing twice.  Returns the points moved.
CREATE FUNCTION @extschema@.merge_loyalty(keep bigint, merged bigint)
RETURNS bigint
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	merged_member @extschema@.loyalty_members;
	lot record;
	movement @extschema@.points_ledger;
	moved bigint := 0;
BEGIN
	SELECT * INTO merged_member FROM @extschema@.loyalty_members AS m WHERE m.customer_id = merged;
	IF NOT FOUND THEN
		RETURN 0;
	END IF;
	-- The kept customer joins the merged one's program, or keeps the better
	-- tier and the earlier enrolment when both are in the same program.
	INSERT INTO @extschema@.loyalty_members AS m (customer_id, program_id, enrolled_at, tier_rank, tier_since)
	VALUES (keep, merged_member.program_id, merged_member.enrolled_at, merged_member.tier_rank, merged_member.tier_since)
	ON CONFLICT ON CONSTRAINT loyalty_members_pkey DO UPDATE
	SET enrolled_at = least(m.enrolled_at, excluded.enrolled_at),
		tier_rank = greatest(m.tier_rank, excluded.tier_rank),
		tier_since = CASE WHEN excluded.tier_rank > m.tier_rank THEN excluded.tier_since ELSE m.tier_since END
	WHERE m.program_id = excluded.program_id;
	INSERT INTO @extschema@.points_accounts (customer_id) VALUES (keep) ON CONFLICT DO NOTHING;
	-- Both accounts, in key order like every other locker of two.
	PERFORM 1 FROM @extschema@.points_accounts AS a
	WHERE a.customer_id IN (keep, merged) ORDER BY a.customer_id FOR UPDATE;
	FOR lot IN
		SELECT l.lot_id, l.remaining, l.available_at, l.expires_at
		FROM @extschema@.points_lots AS l
		WHERE l.customer_id = merged AND l.remaining > 0
		ORDER BY l.lot_id
	LOOP
		movement := @extschema@.points_write(merged, 'transfer_out', -lot.remaining, lot.remaining,
											 format('merge:%s:lot:%s', merged, lot.lot_id), NULL, NULL, lot.lot_id);
		INSERT INTO @extschema@.points_allocations (movement_id, lot_id, points)
		VALUES (movement.movement_id, lot.lot_id, lot.remaining);
		PERFORM @extschema@.points_write(keep, 'transfer_in', lot.remaining, lot.remaining,
										 format('merge:%s:lot:%s', merged, lot.lot_id),
										 lot.available_at, lot.expires_at, lot.lot_id);
		moved := moved + lot.remaining;
	END LOOP;
	RETURN moved;
END
$$;
COMMENT ON FUNCTION @extschema@.merge_loyalty(bigint, bigint) IS
	'Internal, for crm.merge_customers: enrols the kept customer in the merged member''s program (or keeps the better tier in the same program) and transfers every lot still holding points with its dates; returns the points moved.';

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
		-- The kept row wins; what it lacks comes from the merged row.  Consent
		-- is never widened: a contact taken over keeps its channels only where
		-- both rows had consent.
		SELECT coalesce(string_agg(f.name, ', ' ORDER BY f.position), '') INTO filled
		FROM @extschema@.customers AS k
		CROSS JOIN LATERAL (VALUES
			(1, 'first_name', k.first_name IS NULL AND merged_row.first_name IS NOT NULL),
			(2, 'last_name', k.last_name IS NULL AND merged_row.last_name IS NOT NULL),
			(3, 'email', nullif(btrim(k.email), '') IS NULL AND nullif(btrim(merged_row.email), '') IS NOT NULL),
			(4, 'phone', nullif(btrim(k.phone), '') IS NULL AND nullif(btrim(merged_row.phone), '') IS NOT NULL),
			(5, 'birth_date', k.birth_date IS NULL AND merged_row.birth_date IS NOT NULL),
			(6, 'gender', k.gender IS NULL AND merged_row.gender IS NOT NULL),
			(7, 'home_store', k.home_store IS NULL AND merged_row.home_store IS NOT NULL),
			(8, 'country', k.country IS NULL AND merged_row.country IS NOT NULL),
			(9, 'postal_code', k.postal_code IS NULL AND merged_row.postal_code IS NOT NULL),
			(10, 'joined_at', merged_row.joined_at < k.joined_at),
			(11, 'preferred_channel', k.preferred_channel IS NULL AND merged_row.preferred_channel IS NOT NULL))
			AS f (position, name, taken)
		WHERE k.customer_id = keep_id AND f.taken;
		PERFORM set_config('retail_crm.consent_source', 'crm.merge_customers', true);
		UPDATE @extschema@.customers AS k
		SET first_name = coalesce(k.first_name, merged_row.first_name),
			last_name = coalesce(k.last_name, merged_row.last_name),
			email = coalesce(nullif(btrim(k.email), ''), merged_row.email),
			phone = coalesce(nullif(btrim(k.phone), ''), merged_row.phone),
			birth_date = coalesce(k.birth_date, merged_row.birth_date),
			gender = coalesce(k.gender, merged_row.gender),
			home_store = coalesce(k.home_store, merged_row.home_store),
			country = coalesce(k.country, merged_row.country),
			postal_code = coalesce(k.postal_code, merged_row.postal_code),
			joined_at = least(k.joined_at, merged_row.joined_at),
			preferred_channel = coalesce(k.preferred_channel, merged_row.preferred_channel),
			consent_email = n.consent_email,
			consent_sms = n.consent_sms,
			consent_phone = n.consent_phone,
			-- a withdrawal happens now: the consent log dates it by this column
			consent_updated_at = CASE WHEN (n.consent_email, n.consent_sms, n.consent_phone)
										   IS DISTINCT FROM (k.consent_email, k.consent_sms, k.consent_phone)
									  THEN now() ELSE k.consent_updated_at END
		FROM (SELECT c.customer_id,
					 c.consent_email AND (nullif(btrim(c.email), '') IS NOT NULL
										  OR nullif(btrim(merged_row.email), '') IS NULL
										  OR merged_row.consent_email) AS consent_email,
					 c.consent_sms AND (nullif(btrim(c.phone), '') IS NOT NULL
										OR nullif(btrim(merged_row.phone), '') IS NULL
										OR merged_row.consent_sms) AS consent_sms,
					 c.consent_phone AND (nullif(btrim(c.phone), '') IS NOT NULL
										  OR nullif(btrim(merged_row.phone), '') IS NULL
										  OR merged_row.consent_phone) AS consent_phone
			  FROM @extschema@.customers AS c WHERE c.customer_id = keep_id) AS n
		WHERE k.customer_id = n.customer_id;
		PERFORM set_config('retail_crm.consent_source', '', true);
	END IF;

	UPDATE @extschema@.transactions AS t SET customer_id = keep_id WHERE t.customer_id = merge_id;
	GET DIAGNOSTICS transactions_moved = ROW_COUNT;
	UPDATE @extschema@.survey_responses AS r SET customer_id = keep_id WHERE r.customer_id = merge_id;
	GET DIAGNOSTICS surveys_moved = ROW_COUNT;
	UPDATE @extschema@.feedback AS f SET customer_id = keep_id WHERE f.customer_id = merge_id;
	GET DIAGNOSTICS feedback_moved = ROW_COUNT;
	UPDATE @extschema@.complaint_tickets AS t SET customer_id = keep_id WHERE t.customer_id = merge_id;
	GET DIAGNOSTICS tickets_moved = ROW_COUNT;
	points_moved := @extschema@.merge_loyalty(keep_id, merge_id);
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
	'Merges customer merge_id into keep_id: moves its transactions, survey responses, feedback and complaint tickets, transfers its loyalty points (lots with their dates) and membership, fills the kept row''s missing fields from the merged row (consent never widened), deletes the merged row and logs the merge in crm.customer_merges, whose row it returns. Running it again moves what arrived under merge_id since and adds to the counts. Scores follow at the next refresh (incremental is enough).';

GRANT SELECT ON @extschema@.identity_rules TO crm_analyst;
GRANT SELECT ON @extschema@.duplicate_candidates, @extschema@.data_quality TO crm_admin;
GRANT SELECT, UPDATE ON @extschema@.identity_rules TO crm_admin;
GRANT SELECT, INSERT, UPDATE, DELETE, TRUNCATE ON @extschema@.customer_merges TO crm_admin;
REVOKE EXECUTE ON FUNCTION @extschema@.merge_customers(bigint, bigint) FROM PUBLIC;
REVOKE EXECUTE ON FUNCTION @extschema@.merge_loyalty(bigint, bigint) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION @extschema@.merge_customers(bigint, bigint), @extschema@.merge_loyalty(bigint, bigint) TO crm_admin;
-- Reads crm.customer_merges, which only crm_admin may (the tier review uses it).
REVOKE EXECUTE ON FUNCTION @extschema@.customer_ids_merged_into(bigint) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION @extschema@.customer_ids_merged_into(bigint) TO crm_admin;
