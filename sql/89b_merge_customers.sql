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
	merged_contact @extschema@.customer_contacts;
	kept_contact @extschema@.customer_contacts;
	kept_preference boolean;
	take_handle boolean;
	take_preference boolean;
	handles_taken text[] := '{}';
	preference_taken boolean := false;
	merged_at timestamptz := now();
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
	-- One row per statement: Citus locks rows of one shard at a time.
	PERFORM 1 FROM @extschema@.customers AS c WHERE c.customer_id = least(keep_id, merge_id) FOR UPDATE;
	PERFORM 1 FROM @extschema@.customers AS c WHERE c.customer_id = greatest(keep_id, merge_id) FOR UPDATE;
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
	PERFORM @extschema@.set_consent_source('crm.merge_customers');
	-- Channel by channel, each statement on one customer: Citus cannot join
	-- the two customers' contacts, which live on different shards.
	kept_preference := EXISTS (SELECT 1 FROM @extschema@.customer_contacts AS p
							   WHERE p.customer_id = keep_id AND p.preferred);
	FOR merged_contact IN
		SELECT * FROM @extschema@.customer_contacts AS m WHERE m.customer_id = merge_id ORDER BY m.channel
	LOOP
		SELECT * INTO kept_contact FROM @extschema@.customer_contacts AS k
		WHERE k.customer_id = keep_id AND k.channel = merged_contact.channel;
		take_handle := nullif(btrim(kept_contact.handle), '') IS NULL AND nullif(btrim(merged_contact.handle), '') IS NOT NULL;
		take_preference := merged_contact.preferred AND NOT kept_preference;
		CONTINUE WHEN NOT (take_handle OR take_preference);
		INSERT INTO @extschema@.customer_contacts AS ct
			(customer_id, channel, handle, consent, consent_updated_at, preferred)
		VALUES (keep_id, merged_contact.channel,
				CASE WHEN take_handle THEN merged_contact.handle ELSE kept_contact.handle END,
				coalesce(kept_contact.consent, false) AND (NOT take_handle OR merged_contact.consent),
				-- a withdrawal happens now: the consent log dates it by this column
				CASE WHEN coalesce(kept_contact.consent, false) AND take_handle AND NOT merged_contact.consent
					 THEN merged_at ELSE kept_contact.consent_updated_at END,
				coalesce(kept_contact.preferred, false) OR take_preference)
		ON CONFLICT ON CONSTRAINT customer_contacts_pkey DO UPDATE
		SET handle = excluded.handle, consent = excluded.consent,
			consent_updated_at = excluded.consent_updated_at, preferred = excluded.preferred;
		IF take_handle THEN
			handles_taken := handles_taken || ('handle:' || merged_contact.channel);
		END IF;
		IF take_preference THEN
			preference_taken := true;
		END IF;
	END LOOP;
	filled := concat_ws(', ', nullif(filled, ''), nullif(array_to_string(handles_taken, ', '), ''),
						CASE WHEN preference_taken THEN 'preferred_channel' END);
	PERFORM @extschema@.set_consent_source(NULL);

	-- Rows keyed by the customer move by delete and insert: on Citus the
	-- customer is the distribution column, which an UPDATE cannot change
	-- (the rows go to the kept customer's shard).
	WITH moved AS (
		DELETE FROM @extschema@.transactions AS t WHERE t.customer_id = merge_id
		RETURNING t.transaction_id, t.occurred_at, t.amount, t.channel, t.store
	)
	INSERT INTO @extschema@.transactions (transaction_id, customer_id, occurred_at, amount, channel, store)
	SELECT m.transaction_id, keep_id, m.occurred_at, m.amount, m.channel, m.store FROM moved AS m;
	GET DIAGNOSTICS transactions_moved = ROW_COUNT;
	-- the lines stay with their orders
	WITH moved AS (
		DELETE FROM @extschema@.transaction_items AS i WHERE i.customer_id = merge_id
		RETURNING i.transaction_id, i.line_no, i.product_id, i.description, i.quantity, i.unit_price
	)
	INSERT INTO @extschema@.transaction_items (transaction_id, line_no, product_id, description, quantity, unit_price, customer_id)
	SELECT m.transaction_id, m.line_no, m.product_id, m.description, m.quantity, m.unit_price, keep_id FROM moved AS m;
	UPDATE @extschema@.survey_responses AS r SET customer_id = keep_id WHERE r.customer_id = merge_id;
	GET DIAGNOSTICS surveys_moved = ROW_COUNT;
	UPDATE @extschema@.feedback AS f SET customer_id = keep_id WHERE f.customer_id = merge_id;
	GET DIAGNOSTICS feedback_moved = ROW_COUNT;
	UPDATE @extschema@.complaint_tickets AS t SET customer_id = keep_id WHERE t.customer_id = merge_id;
	GET DIAGNOSTICS tickets_moved = ROW_COUNT;
	points_moved := @extschema@.merge_loyalty(keep_id, merge_id);
	-- Campaign memberships (and their events) follow the kept customer,
	-- except in a campaign both were in: there the kept one's assignment stands.
	-- Copied, then deleted with the merged customer's rows; the events
	-- follow the memberships copied (not those of a campaign the kept
	-- customer was in already).
	WITH copied AS (
		INSERT INTO @extschema@.campaign_members AS k
			(campaign_id, customer_id, assigned_group, segment, lifecycle_stage, loyalty_tier, pre_revenue, pre_orders)
		SELECT m.campaign_id, keep_id, m.assigned_group, m.segment, m.lifecycle_stage, m.loyalty_tier, m.pre_revenue, m.pre_orders
		FROM @extschema@.campaign_members AS m
		WHERE m.customer_id = merge_id
		ON CONFLICT ON CONSTRAINT campaign_members_pkey DO NOTHING
		RETURNING k.campaign_id
	)
	INSERT INTO @extschema@.campaign_events (campaign_id, customer_id, event, occurred_at, recorded_at)
	SELECT e.campaign_id, keep_id, e.event, e.occurred_at, e.recorded_at
	FROM @extschema@.campaign_events AS e
	JOIN copied AS c ON c.campaign_id = e.campaign_id
	WHERE e.customer_id = merge_id;
	DELETE FROM @extschema@.campaign_events AS e WHERE e.customer_id = merge_id;
	DELETE FROM @extschema@.campaign_members AS m WHERE m.customer_id = merge_id;
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
