-- crm.merge_customers (the merge log is in 89_identity.sql).  Only CREATE
-- OR REPLACE of functions, and grants: an upgrade runs this part again.

CREATE OR REPLACE FUNCTION @extschema@.merge_customers(keep_id bigint, merge_id bigint)
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
	-- the lines stay with their orders
	UPDATE @extschema@.transaction_items AS i SET customer_id = keep_id WHERE i.customer_id = merge_id;
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

REVOKE EXECUTE ON FUNCTION @extschema@.merge_customers(bigint, bigint) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION @extschema@.merge_customers(bigint, bigint) TO crm_admin;
