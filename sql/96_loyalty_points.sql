-- Loyalty points (DEFINITIONS.md, "Loyalty program"): the functions and views over
-- the ledger tables of 96_loyalty.sql, and the loyalty grants.  Only CREATE
-- OR REPLACE of functions and views, and grants: an upgrade script runs
-- this part again to bring the functions of a released version up to date.
--
-- Functions that read the ledger are PL/pgSQL, not SQL: Citus cannot plan
-- the parameters of a SQL function over distributed tables.
--
-- Movements from outside carry an idempotency key, unique per member and
-- kind: a replay for the same member returns the original movement and
-- writes nothing; the same key for another member is another movement.
--
-- SQLSTATEs of their own (class RC: the SQL standard leaves classes I-Z to
-- implementations; 1.1 used CRM01-CRM04, whose class CR is reserved):
--   RC001  insufficient points: a redemption or negative adjustment asks
--          for more than the member's available points; nothing is written
--   RC002  idempotency key reused with other arguments
--   RC003  not a loyalty member
--   RC004  the member was merged into another

-- Lots with what is left of them.  Status as of now(): a lapsed lot keeps
-- its remainder until the expiry sweep writes it off, but cannot be spent.
CREATE OR REPLACE VIEW @extschema@.points_lots AS
SELECT l.movement_id AS lot_id, l.customer_id, l.kind, l.points,
	   coalesce(c.consumed, 0) AS consumed,
	   l.points - coalesce(c.consumed, 0) AS remaining,
	   l.created_at, l.available_at, l.expires_at,
	   CASE WHEN l.points = coalesce(c.consumed, 0) THEN 'closed'
			WHEN l.expires_at <= now() THEN 'lapsed'
			WHEN l.available_at > now() THEN 'pending'
			ELSE 'available' END AS status
FROM @extschema@.points_ledger AS l
LEFT JOIN LATERAL (SELECT sum(a.points)::bigint AS consumed
				   FROM @extschema@.points_allocations AS a
				   WHERE a.customer_id = l.customer_id AND a.lot_id = l.movement_id) AS c ON true
WHERE l.points > 0;
COMMENT ON VIEW @extschema@.points_lots IS 'Every lot (earned or added points) with what is left of it and its status now.';
COMMENT ON COLUMN @extschema@.points_lots.lot_id IS 'movement_id of the lot in crm.points_ledger.';
COMMENT ON COLUMN @extschema@.points_lots.customer_id IS 'The member.';
COMMENT ON COLUMN @extschema@.points_lots.kind IS 'earn, adjust or transfer_in.';
COMMENT ON COLUMN @extschema@.points_lots.points IS 'Points of the lot.';
COMMENT ON COLUMN @extschema@.points_lots.consumed IS 'Points taken from it by redemptions, adjustments, clawbacks and the expiry sweep.';
COMMENT ON COLUMN @extschema@.points_lots.remaining IS 'points - consumed.';
COMMENT ON COLUMN @extschema@.points_lots.created_at IS 'When the lot was written.';
COMMENT ON COLUMN @extschema@.points_lots.available_at IS 'From when it can be spent.';
COMMENT ON COLUMN @extschema@.points_lots.expires_at IS 'When its remainder lapses.';
COMMENT ON COLUMN @extschema@.points_lots.status IS 'closed (nothing left), lapsed (expired, remainder not yet swept), pending or available.';

CREATE OR REPLACE FUNCTION @extschema@.points_balance(customer_id bigint)
RETURNS bigint
LANGUAGE plpgsql STABLE STRICT PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	RETURN (SELECT coalesce(sum(lot.remaining), 0)::bigint
			FROM @extschema@.points_lots AS lot
			WHERE lot.customer_id = points_balance.customer_id AND lot.remaining > 0
			  AND lot.available_at <= now() AND lot.expires_at > now());
END
$$;
COMMENT ON FUNCTION @extschema@.points_balance(bigint) IS
	'Points the member can spend now: what is left of available, unexpired lots (pending and lapsed points excluded). 0 for a customer without points. Stable because it reads the ledger.';

-- Locks the member's account for the rest of the transaction and returns
-- the member's program; RC003 for a customer who is not a member.
CREATE OR REPLACE FUNCTION @extschema@.points_lock_account(customer bigint)
RETURNS text
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	program text;
	survivor bigint;
BEGIN
	SELECT m.program_id INTO program
	FROM @extschema@.points_accounts AS a
	JOIN @extschema@.loyalty_members AS m ON m.customer_id = a.customer_id
	WHERE a.customer_id = customer
	FOR UPDATE OF a;
	IF FOUND THEN
		SELECT m.keep_id INTO survivor FROM @extschema@.customer_merges AS m WHERE m.merge_id = customer;
		IF FOUND THEN
			RAISE EXCEPTION USING ERRCODE = 'RC004',
				MESSAGE = format('customer %s was merged into customer %s', customer, survivor),
				HINT = format('Points follow the merge: use customer %s.', survivor);
		END IF;
	ELSE
		RAISE EXCEPTION USING ERRCODE = 'RC003',
			MESSAGE = format('customer %s is not a loyalty member', customer),
			HINT = 'Enrol the customer first: SELECT crm.enrol_member(customer_id, program_id);';
	END IF;
	RETURN program;
END
$$;
COMMENT ON FUNCTION @extschema@.points_lock_account(bigint) IS
	'Internal: locks the member''s crm.points_accounts row (serialising the member''s movements) and returns the program; SQLSTATE RC003 when the customer is not a member, RC004 when it was merged into another.';

-- The movement an idempotency key already wrote for the member, checked
-- against the points of the replay; NULL when the key is new for the member.
CREATE OR REPLACE FUNCTION @extschema@.points_replay(movement_kind text, key text, customer bigint, asked bigint)
RETURNS @extschema@.points_ledger
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	movement @extschema@.points_ledger;
BEGIN
	SELECT * INTO movement FROM @extschema@.points_ledger AS l
	WHERE l.customer_id = customer AND l.kind = movement_kind AND l.idempotency_key = key;
	IF NOT FOUND THEN
		RETURN NULL;
	END IF;
	IF movement.requested <> asked THEN
		RAISE EXCEPTION USING ERRCODE = 'RC002',
			MESSAGE = format('idempotency key %L of %s was used for customer %s and %s points, not for customer %s and %s points',
							 @extschema@.message_excerpt(key), movement_kind, movement.customer_id, movement.requested, customer, asked),
			HINT = 'Each source event needs its own key; a replay must repeat the original arguments.';
	END IF;
	RETURN movement;
END
$$;
COMMENT ON FUNCTION @extschema@.points_replay(text, text, bigint, bigint) IS
	'Internal: the movement written earlier for the customer under (kind, key), or NULL; SQLSTATE RC002 when it was written with other points. Stable because it reads the ledger.';

-- Checks the arguments every movement from outside has.
CREATE OR REPLACE FUNCTION @extschema@.points_check_arguments(customer bigint, points bigint, key text)
RETURNS void
LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	IF customer IS NULL OR points IS NULL OR key IS NULL THEN
		RAISE EXCEPTION USING ERRCODE = 'null_value_not_allowed',
			MESSAGE = 'customer_id, points and idempotency_key must not be NULL',
			HINT = 'Every points movement names the member, the points and the key of its source event.';
	END IF;
	IF btrim(key) = '' THEN
		RAISE EXCEPTION USING ERRCODE = 'invalid_parameter_value',
			MESSAGE = 'idempotency_key must not be empty',
			HINT = 'Use the id of the source event, e.g. the order number.';
	END IF;
	IF abs(points) > 1000000000000 THEN
		RAISE EXCEPTION USING ERRCODE = 'numeric_value_out_of_range',
			MESSAGE = format('points must be at most 1000000000000 in size, not %s', points),
			HINT = 'Points are whole units; check the scale of the source amount.';
	END IF;
END
$$;
COMMENT ON FUNCTION @extschema@.points_check_arguments(bigint, bigint, text) IS
	'Internal: 22004 for a NULL member, points or key, 22023 for an empty key, 22003 beyond 10^12 points.';

-- Takes up to "wanted" points from the member's spendable lots, first_lot
-- first (a clawback may take from it while it is still pending), then the
-- oldest-expiring; records the allocations and returns the points taken.
CREATE OR REPLACE FUNCTION @extschema@.points_consume(movement bigint, customer bigint, wanted bigint, first_lot bigint)
RETURNS bigint
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	taken_points bigint;
BEGIN
	WITH taken AS (
		INSERT INTO @extschema@.points_allocations (customer_id, movement_id, lot_id, points)
		SELECT customer, movement, s.lot_id, least(s.remaining, wanted - (s.running - s.remaining))
		FROM (SELECT lot.lot_id, lot.remaining,
					 sum(lot.remaining) OVER (ORDER BY lot.lot_id IS NOT DISTINCT FROM first_lot DESC,
											  lot.expires_at, lot.lot_id) AS running
			  FROM @extschema@.points_lots AS lot
			  WHERE lot.customer_id = customer AND lot.remaining > 0 AND lot.expires_at > now()
				AND (lot.available_at <= now() OR lot.lot_id IS NOT DISTINCT FROM first_lot)) AS s
		WHERE s.running - s.remaining < wanted
		RETURNING points
	)
	SELECT coalesce(sum(taken.points), 0)::bigint INTO taken_points FROM taken;
	RETURN taken_points;
END
$$;
COMMENT ON FUNCTION @extschema@.points_consume(bigint, bigint, bigint, bigint) IS
	'Internal: allocates up to wanted points of the member''s spendable lots to a movement (first_lot first, even if pending, then the oldest-expiring) and returns the points taken. Call with the account locked.';

-- Writes one movement and keeps the account total.
CREATE OR REPLACE FUNCTION @extschema@.points_write(customer bigint, movement_kind text, points bigint, asked bigint, key text,
										 available_at timestamptz, expires_at timestamptz, related bigint)
RETURNS @extschema@.points_ledger
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	movement @extschema@.points_ledger;
BEGIN
	INSERT INTO @extschema@.points_ledger AS l
		(customer_id, kind, points, requested, idempotency_key, available_at, expires_at, related_movement_id)
	VALUES (customer, movement_kind, points, asked, key, available_at, expires_at, related)
	ON CONFLICT (customer_id, kind, idempotency_key) DO NOTHING
	RETURNING l.* INTO movement;
	IF movement.movement_id IS NULL THEN
		-- The member's key was written already: by a caller that did not
		-- look it up first, or by a transaction that did not hold the lock.
		movement := @extschema@.points_replay(movement_kind, key, customer, asked);
		IF movement.movement_id IS NULL THEN
			RAISE EXCEPTION USING ERRCODE = 'serialization_failure',
				MESSAGE = format('idempotency key %L of %s is being written by a concurrent transaction', @extschema@.message_excerpt(key), movement_kind),
				HINT = 'Retry the call.';
		END IF;
		RETURN movement;
	END IF;
	UPDATE @extschema@.points_accounts AS a
	SET ledger_total = a.ledger_total + points, updated_at = now()
	WHERE a.customer_id = customer;
	RETURN movement;
END
$$;
COMMENT ON FUNCTION @extschema@.points_write(bigint, text, bigint, bigint, text, timestamptz, timestamptz, bigint) IS
	'Internal: appends one movement (or returns the one its key already wrote) and adds it to the account total. Call with the account locked.';

-- Adds a lot (earn, or a positive adjust) to a member.
CREATE OR REPLACE FUNCTION @extschema@.points_add_lot(customer bigint, movement_kind text, points bigint, key text,
										   expires_at timestamptz, available_at timestamptz)
RETURNS @extschema@.points_ledger
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	program text;
	movement @extschema@.points_ledger;
	lot_expires timestamptz := expires_at;
	lot_available timestamptz := coalesce(available_at, now());
BEGIN
	PERFORM @extschema@.points_check_arguments(customer, points, key);
	IF points <= 0 THEN
		RAISE EXCEPTION USING ERRCODE = 'invalid_parameter_value',
			MESSAGE = format('points to %s must be positive, not %s', movement_kind, points),
			HINT = 'Take points back with crm.claw_back_points() or crm.adjust_points() with negative points.';
	END IF;
	program := @extschema@.points_lock_account(customer);
	movement := @extschema@.points_replay(movement_kind, key, customer, points);
	IF movement.movement_id IS NOT NULL THEN
		RETURN movement;
	END IF;
	IF lot_expires IS NULL THEN
		SELECT coalesce(now() + p.points_validity, 'infinity') INTO lot_expires
		FROM @extschema@.loyalty_programs AS p WHERE p.program_id = program;
	END IF;
	IF NOT (lot_expires > now()) THEN
		RAISE EXCEPTION USING ERRCODE = 'invalid_parameter_value',
			MESSAGE = format('expires_at must be in the future, not %s', lot_expires),
			HINT = 'Omit expires_at for the program''s points_validity.';
	END IF;
	IF NOT (lot_expires > lot_available) THEN
		RAISE EXCEPTION USING ERRCODE = 'invalid_parameter_value',
			MESSAGE = format('expires_at (%s) must be later than available_at (%s)', lot_expires, lot_available),
			HINT = 'Points must be spendable for a while before they lapse.';
	END IF;
	RETURN @extschema@.points_write(customer, movement_kind, points, points, key, lot_available, lot_expires, NULL);
END
$$;
COMMENT ON FUNCTION @extschema@.points_add_lot(bigint, text, bigint, text, timestamptz, timestamptz) IS
	'Internal: writes a lot of kind earn or adjust for crm.earn_points() and crm.adjust_points().';

-- Spends points of a member (redeem, or a negative adjust): RC001 when
-- fewer are available.
CREATE OR REPLACE FUNCTION @extschema@.points_spend(customer bigint, movement_kind text, points bigint, asked bigint, key text)
RETURNS @extschema@.points_ledger
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	movement @extschema@.points_ledger;
	balance bigint;
BEGIN
	PERFORM @extschema@.points_lock_account(customer);
	movement := @extschema@.points_replay(movement_kind, key, customer, asked);
	IF movement.movement_id IS NOT NULL THEN
		RETURN movement;
	END IF;
	balance := @extschema@.points_balance(customer);
	IF balance < points THEN
		RAISE EXCEPTION USING ERRCODE = 'RC001',
			MESSAGE = format('insufficient points: customer %s has %s available, not %s', customer, balance, points),
			HINT = 'Nothing was written. Pending points (return window) and lapsed points cannot be spent.';
	END IF;
	movement := @extschema@.points_write(customer, movement_kind, -points, asked, key, NULL, NULL, NULL);
	PERFORM @extschema@.points_consume(movement.movement_id, customer, points, NULL);
	RETURN movement;
END
$$;
COMMENT ON FUNCTION @extschema@.points_spend(bigint, text, bigint, bigint, text) IS
	'Internal: writes a redeem or negative adjust movement and takes its points from the oldest-expiring available lots; SQLSTATE RC001 when fewer are available.';

CREATE OR REPLACE FUNCTION @extschema@.earn_points(customer_id bigint, points bigint, idempotency_key text,
										expires_at timestamptz DEFAULT NULL, available_at timestamptz DEFAULT NULL)
RETURNS @extschema@.points_ledger
LANGUAGE sql VOLATILE
SET search_path = pg_catalog, pg_temp
RETURN @extschema@.points_add_lot(customer_id, 'earn', points, idempotency_key, expires_at, available_at);
COMMENT ON FUNCTION @extschema@.earn_points(bigint, bigint, text, timestamptz, timestamptz) IS
	'Adds a lot of points (> 0) to a member: spendable from available_at (default now; later = pending), lapsing at expires_at (default now + the program''s points_validity; never when that is NULL). Returns the movement. A replay of the member''s idempotency key returns the original movement and writes nothing (keys are per member: another member''s key is another movement); RC002 when its points differ, RC003 for a non-member.';

CREATE OR REPLACE FUNCTION @extschema@.redeem_points(customer_id bigint, points bigint, idempotency_key text)
RETURNS @extschema@.points_ledger
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	PERFORM @extschema@.points_check_arguments(customer_id, points, idempotency_key);
	IF points <= 0 THEN
		RAISE EXCEPTION USING ERRCODE = 'invalid_parameter_value',
			MESSAGE = format('points to redeem must be positive, not %s', points),
			HINT = 'Give the points the member spends.';
	END IF;
	RETURN @extschema@.points_spend(customer_id, 'redeem', points, points, idempotency_key);
END
$$;
COMMENT ON FUNCTION @extschema@.redeem_points(bigint, bigint, text) IS
	'Spends points (> 0) of a member, oldest-expiring lots first, and returns the movement. SQLSTATE RC001 (insufficient points) when fewer are available: nothing is written. A replay of the member''s idempotency key returns the original movement; RC002 when its points differ, RC003 for a non-member.';

CREATE OR REPLACE FUNCTION @extschema@.adjust_points(customer_id bigint, points bigint, idempotency_key text, reason text,
										  expires_at timestamptz DEFAULT NULL)
RETURNS @extschema@.points_ledger
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	movement @extschema@.points_ledger;
BEGIN
	PERFORM @extschema@.points_check_arguments(customer_id, points, idempotency_key);
	IF points = 0 OR reason IS NULL OR btrim(reason) = '' THEN
		RAISE EXCEPTION USING ERRCODE = 'invalid_parameter_value',
			MESSAGE = format('an adjustment needs non-zero points and a reason, not %s points and reason %L', points, @extschema@.message_excerpt(reason)),
			HINT = 'Positive points add a lot, negative points take from the oldest-expiring lots.';
	END IF;
	IF points > 0 THEN
		movement := @extschema@.points_add_lot(customer_id, 'adjust', points, idempotency_key, expires_at, NULL);
	ELSE
		movement := @extschema@.points_spend(customer_id, 'adjust', -points, points, idempotency_key);
	END IF;
	INSERT INTO @extschema@.points_adjustment_reasons AS r (movement_id, customer_id, reason)
	VALUES (movement.movement_id, adjust_points.customer_id, adjust_points.reason)
	ON CONFLICT ON CONSTRAINT points_adjustment_reasons_pkey DO NOTHING;
	RETURN movement;
END
$$;
COMMENT ON FUNCTION @extschema@.adjust_points(bigint, bigint, text, text, timestamptz) IS
	'Corrects a member''s points: positive points add a lot (expires_at as in crm.earn_points), negative points are taken from the oldest-expiring lots (RC001 when short). reason is required and kept in crm.points_adjustment_reasons. Idempotent by key like crm.earn_points.';

CREATE OR REPLACE FUNCTION @extschema@.claw_back_points(customer_id bigint, points bigint, idempotency_key text,
											 earn_key text DEFAULT NULL)
RETURNS @extschema@.points_ledger
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	movement @extschema@.points_ledger;
	earned bigint;
	takeable bigint;
BEGIN
	PERFORM @extschema@.points_check_arguments(customer_id, points, idempotency_key);
	IF points <= 0 THEN
		RAISE EXCEPTION USING ERRCODE = 'invalid_parameter_value',
			MESSAGE = format('points to claw back must be positive, not %s', points),
			HINT = 'Give the points the returned purchase earned.';
	END IF;
	PERFORM @extschema@.points_lock_account(customer_id);
	movement := @extschema@.points_replay('clawback', idempotency_key, customer_id, points);
	IF movement.movement_id IS NOT NULL THEN
		RETURN movement;
	END IF;
	IF earn_key IS NOT NULL THEN
		SELECT l.movement_id INTO earned FROM @extschema@.points_ledger AS l
		WHERE l.kind = 'earn' AND l.idempotency_key = earn_key AND l.customer_id = claw_back_points.customer_id;
		IF NOT FOUND THEN
			RAISE EXCEPTION USING ERRCODE = 'invalid_parameter_value',
				MESSAGE = format('customer %s has no earn movement with idempotency key %L', customer_id, @extschema@.message_excerpt(earn_key)),
				HINT = 'earn_key is the idempotency key of the earn the returned purchase made; omit it when unknown.';
		END IF;
	END IF;
	-- What the earn's lot (even pending) and the available lots still hold:
	-- the balance never goes negative, so a clawback takes at most that.
	SELECT least(claw_back_points.points, coalesce(sum(lot.remaining), 0))::bigint INTO takeable
	FROM @extschema@.points_lots AS lot
	WHERE lot.customer_id = claw_back_points.customer_id AND lot.remaining > 0 AND lot.expires_at > now()
	  AND (lot.available_at <= now() OR lot.lot_id IS NOT DISTINCT FROM earned);
	movement := @extschema@.points_write(customer_id, 'clawback', -takeable, points, idempotency_key, NULL, NULL, earned);
	PERFORM @extschema@.points_consume(movement.movement_id, customer_id, takeable, earned);
	RETURN movement;
END
$$;
COMMENT ON FUNCTION @extschema@.claw_back_points(bigint, bigint, text, text) IS
	'Takes back points (> 0) of a returned purchase: first from the lot of the earn with idempotency key earn_key (also while pending), then from the oldest-expiring available lots, but never more than the member has (requested minus points is the shortfall). Idempotent by key; RC003 for a non-member.';

-- Points for one purchase or return of crm.transactions, at the earn rate
-- of the member's tier; NULL (nothing written) when that is 0 points.
CREATE OR REPLACE FUNCTION @extschema@.award_transaction_points(transaction_id text)
RETURNS @extschema@.points_ledger
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	sale record;
	points bigint;
BEGIN
	SELECT t.customer_id, t.occurred_at, t.amount, coalesce(tier.earn_rate, 0) AS earn_rate, p.return_window
	INTO sale
	FROM @extschema@.transactions AS t
	LEFT JOIN @extschema@.loyalty_members AS m ON m.customer_id = t.customer_id
	LEFT JOIN @extschema@.loyalty_programs AS p ON p.program_id = m.program_id
	LEFT JOIN @extschema@.loyalty_tiers AS tier ON tier.program_id = m.program_id AND tier.tier_rank = m.tier_rank
	WHERE t.transaction_id = award_transaction_points.transaction_id;
	IF NOT FOUND THEN
		IF EXISTS (SELECT 1 FROM @extschema@.anonymous_transactions AS a
				   WHERE a.transaction_id = award_transaction_points.transaction_id) THEN
			RETURN NULL;
		END IF;
		RAISE EXCEPTION USING ERRCODE = 'no_data_found',
			MESSAGE = format('transaction %L does not exist', @extschema@.message_excerpt(transaction_id)),
			HINT = 'Load the order into crm.transactions (or crm.anonymous_transactions) first.';
	END IF;
	points := floor(abs(sale.amount) * sale.earn_rate);
	IF points = 0 THEN
		RETURN NULL;
	END IF;
	IF sale.amount > 0 THEN
		RETURN @extschema@.points_add_lot(sale.customer_id, 'earn', points, 'transaction:' || transaction_id,
										  NULL, greatest(now(), sale.occurred_at + sale.return_window));
	END IF;
	RETURN @extschema@.claw_back_points(sale.customer_id, points, 'transaction:' || transaction_id);
END
$$;
COMMENT ON FUNCTION @extschema@.award_transaction_points(text) IS
	'Points for a crm.transactions row at the earn rate of the member''s tier (floor of |amount| x rate): a purchase earns a lot pending until occurred_at + the program''s return_window, a return claws the points back. Idempotency key transaction:<transaction_id>, so replays award once. NULL when that makes 0 points or the sale is anonymous (crm.anonymous_transactions); RC003 when the buyer is not a member.';

CREATE OR REPLACE FUNCTION @extschema@.expire_points()
RETURNS @extschema@.loyalty_runs
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	run @extschema@.loyalty_runs;
	member bigint;
	lot record;
	movement @extschema@.points_ledger;
	lots bigint := 0;
	expired bigint := 0;
	finished timestamptz;
BEGIN
	-- On Citus the run log is a reference table, written again after the
	-- lots are read from every shard.
	PERFORM @extschema@.citus_sequential();
	INSERT INTO @extschema@.loyalty_runs AS r (job, as_of) VALUES ('points_expiry', now())
	RETURNING r.* INTO run;
	FOR member IN
		SELECT DISTINCT l.customer_id FROM @extschema@.points_lots AS l
		WHERE l.expires_at <= now() AND l.remaining > 0
		ORDER BY 1
	LOOP
		PERFORM @extschema@.points_lock_account(member);
		-- Read again under the lock: a clawback may have taken from a lot.
		FOR lot IN
			SELECT l.lot_id, l.remaining FROM @extschema@.points_lots AS l
			WHERE l.customer_id = member AND l.expires_at <= now() AND l.remaining > 0
			ORDER BY l.lot_id
		LOOP
			movement := @extschema@.points_write(member, 'expire', -lot.remaining, NULL, 'lot:' || lot.lot_id,
												 NULL, NULL, lot.lot_id);
			INSERT INTO @extschema@.points_allocations (customer_id, movement_id, lot_id, points)
			VALUES (member, movement.movement_id, lot.lot_id, lot.remaining);
			lots := lots + 1;
			expired := expired + lot.remaining;
		END LOOP;
	END LOOP;
	-- a value: Citus refuses a volatile function in an update of a reference table
	finished := clock_timestamp();
	UPDATE @extschema@.loyalty_runs AS r
	SET lots_expired = lots, points_expired = expired, finished_at = finished
	WHERE r.run_id = run.run_id
	RETURNING r.* INTO run;
	RETURN run;
END
$$;
COMMENT ON FUNCTION @extschema@.expire_points()
	IS 'The expiry sweep: writes an expire movement for what is left of every lot lapsed by now (one per lot, key lot:<lot_id>, so never twice) and logs the run in crm.loyalty_runs, which it returns.';

-- Moves the merged member's points: each lot still holding points (pending
-- and lapsed ones too, so the merged account ends at 0) is closed by a
-- transfer_out and reopened on the kept member by a transfer_in lot with the
-- same dates.  The ledger stays append-only; keys merge:<id>:lot:<lot> make a
-- replay write nothing twice.  Each movement relates only to its own
-- member's rows (Citus keeps a member's rows on one shard): the transfer_out
-- to the lot it closes, while the transfer_in is tied to that lot by the key
-- alone, the transfer_out's key.  Returns the points moved.
CREATE OR REPLACE FUNCTION @extschema@.merge_loyalty(keep bigint, merged bigint)
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
	-- Both accounts, in key order like every other locker of two; one row
	-- per statement, as Citus locks rows of one shard at a time.
	PERFORM 1 FROM @extschema@.points_accounts AS a WHERE a.customer_id = least(keep, merged) FOR UPDATE;
	PERFORM 1 FROM @extschema@.points_accounts AS a WHERE a.customer_id = greatest(keep, merged) FOR UPDATE;
	FOR lot IN
		SELECT l.lot_id, l.remaining, l.available_at, l.expires_at
		FROM @extschema@.points_lots AS l
		WHERE l.customer_id = merged AND l.remaining > 0
		ORDER BY l.lot_id
	LOOP
		movement := @extschema@.points_write(merged, 'transfer_out', -lot.remaining, lot.remaining,
											 format('merge:%s:lot:%s', merged, lot.lot_id), NULL, NULL, lot.lot_id);
		INSERT INTO @extschema@.points_allocations (customer_id, movement_id, lot_id, points)
		VALUES (merged, movement.movement_id, lot.lot_id, lot.remaining);
		PERFORM @extschema@.points_write(keep, 'transfer_in', lot.remaining, lot.remaining,
										 format('merge:%s:lot:%s', merged, lot.lot_id),
										 lot.available_at, lot.expires_at, NULL);
		moved := moved + lot.remaining;
	END LOOP;
	RETURN moved;
END
$$;
COMMENT ON FUNCTION @extschema@.merge_loyalty(bigint, bigint) IS
	'Internal, for crm.merge_customers: enrols the kept customer in the merged member''s program (or keeps the better tier in the same program) and transfers every lot still holding points with its dates (transfer_out and transfer_in share the key merge:<merged>:lot:<lot_id>); returns the points moved.';

CREATE OR REPLACE VIEW @extschema@.points_liability AS
SELECT m.program_id,
	   count(DISTINCT lot.customer_id) FILTER (WHERE lot.status IN ('available', 'pending')) AS members_with_points,
	   coalesce(sum(lot.remaining) FILTER (WHERE lot.status = 'available'), 0)::bigint AS points_available,
	   coalesce(sum(lot.remaining) FILTER (WHERE lot.status = 'pending'), 0)::bigint AS points_pending,
	   coalesce(sum(lot.remaining) FILTER (WHERE lot.status IN ('available', 'pending')), 0)::bigint AS points_outstanding,
	   coalesce(sum(lot.remaining) FILTER (WHERE lot.status IN ('available', 'pending')
										   AND lot.expires_at <= now() + interval '30 days'), 0)::bigint AS expiring_30_days,
	   coalesce(sum(lot.remaining) FILTER (WHERE lot.status IN ('available', 'pending')
										   AND lot.expires_at <= now() + interval '60 days'), 0)::bigint AS expiring_60_days,
	   coalesce(sum(lot.remaining) FILTER (WHERE lot.status IN ('available', 'pending')
										   AND lot.expires_at <= now() + interval '90 days'), 0)::bigint AS expiring_90_days,
	   coalesce(sum(lot.remaining) FILTER (WHERE lot.status = 'lapsed'), 0)::bigint AS lapsed_unswept
FROM @extschema@.points_lots AS lot
JOIN @extschema@.loyalty_members AS m ON m.customer_id = lot.customer_id
WHERE lot.remaining > 0
GROUP BY m.program_id;
COMMENT ON VIEW @extschema@.points_liability IS
	'Outstanding points per program now, and how many of them lapse within 30, 60 and 90 days (cumulative).';
COMMENT ON COLUMN @extschema@.points_liability.program_id IS 'The program.';
COMMENT ON COLUMN @extschema@.points_liability.members_with_points IS 'Members with outstanding points.';
COMMENT ON COLUMN @extschema@.points_liability.points_available IS 'Points members can spend now.';
COMMENT ON COLUMN @extschema@.points_liability.points_pending IS 'Points still in their return window.';
COMMENT ON COLUMN @extschema@.points_liability.points_outstanding IS 'points_available + points_pending: the liability.';
COMMENT ON COLUMN @extschema@.points_liability.expiring_30_days IS 'Outstanding points that lapse within 30 days.';
COMMENT ON COLUMN @extschema@.points_liability.expiring_60_days IS 'Outstanding points that lapse within 60 days (30-day ones included).';
COMMENT ON COLUMN @extschema@.points_liability.expiring_90_days IS 'Outstanding points that lapse within 90 days (60-day ones included).';
COMMENT ON COLUMN @extschema@.points_liability.lapsed_unswept IS 'Lapsed points the expiry sweep has not written off yet (not spendable, not a liability).';

CREATE OR REPLACE VIEW @extschema@.points_statement AS
SELECT l.customer_id, l.movement_id, l.created_at, l.kind, l.points,
	   (sum(l.points) OVER (PARTITION BY l.customer_id ORDER BY l.movement_id))::bigint AS running_balance,
	   l.requested, l.available_at, l.expires_at, l.related_movement_id, l.idempotency_key
FROM @extschema@.points_ledger AS l;
COMMENT ON VIEW @extschema@.points_statement IS
	'Member statement: every movement in order with the running ledger balance (pending and lapsed-unswept points included). Filter by customer_id.';
COMMENT ON COLUMN @extschema@.points_statement.customer_id IS 'The member.';
COMMENT ON COLUMN @extschema@.points_statement.movement_id IS 'Movement number.';
COMMENT ON COLUMN @extschema@.points_statement.created_at IS 'When it was written.';
COMMENT ON COLUMN @extschema@.points_statement.kind IS 'earn, redeem, expire, adjust, clawback, transfer_out or transfer_in.';
COMMENT ON COLUMN @extschema@.points_statement.points IS 'Signed change.';
COMMENT ON COLUMN @extschema@.points_statement.running_balance IS 'Sum of the member''s movements up to this one.';
COMMENT ON COLUMN @extschema@.points_statement.requested IS 'Points asked for (a clawback may take less).';
COMMENT ON COLUMN @extschema@.points_statement.available_at IS 'Lots: spendable from.';
COMMENT ON COLUMN @extschema@.points_statement.expires_at IS 'Lots: lapse at.';
COMMENT ON COLUMN @extschema@.points_statement.related_movement_id IS 'Expire and transfer_out: the lot; clawback: the earn; NULL for transfer_in (the lot was the merged member''s).';
COMMENT ON COLUMN @extschema@.points_statement.idempotency_key IS 'Key of the source event.';

-- Grants ----------------------------------------------------------------------

CREATE OR REPLACE VIEW @extschema@.loyalty_tier_summary AS
-- The merged keys as a CTE: Citus joins it with the distributed members.
WITH merged AS MATERIALIZED (SELECT m.merge_id FROM @extschema@.customer_merges AS m),
counts AS (
	SELECT m.program_id, m.tier_rank, count(*) AS members
	FROM @extschema@.loyalty_members AS m
	WHERE NOT EXISTS (SELECT 1 FROM merged WHERE merged.merge_id = m.customer_id)
	GROUP BY m.program_id, m.tier_rank
)
SELECT coalesce(t.program_id, c.program_id) AS program_id,
	   coalesce(t.tier_rank, c.tier_rank) AS tier_rank,
	   coalesce(t.tier_name, '(no tier)') AS tier_name,
	   t.threshold, t.earn_rate,
	   coalesce(c.members, 0) AS members,
	   round(coalesce(c.members, 0) / nullif(sum(c.members) OVER (PARTITION BY coalesce(t.program_id, c.program_id)), 0), 4)::numeric(7,4) AS member_share
FROM @extschema@.loyalty_tiers AS t
FULL JOIN counts AS c ON c.program_id = t.program_id AND c.tier_rank = t.tier_rank;
COMMENT ON VIEW @extschema@.loyalty_tier_summary IS 'Members per tier of each program, empty tiers included; rank 0 (no tier) appears when members hold it. Members merged into another customer are not counted.';
COMMENT ON COLUMN @extschema@.loyalty_tier_summary.program_id IS 'The program.';
COMMENT ON COLUMN @extschema@.loyalty_tier_summary.tier_rank IS 'Rank; 0 = below every tier.';
COMMENT ON COLUMN @extschema@.loyalty_tier_summary.tier_name IS 'Tier name; (no tier) for rank 0.';
COMMENT ON COLUMN @extschema@.loyalty_tier_summary.threshold IS 'Qualifying metric the tier needs.';
COMMENT ON COLUMN @extschema@.loyalty_tier_summary.earn_rate IS 'Points per currency unit.';
COMMENT ON COLUMN @extschema@.loyalty_tier_summary.members IS 'Members holding the tier.';
COMMENT ON COLUMN @extschema@.loyalty_tier_summary.member_share IS 'Share of the program''s members, 0-1.';

GRANT SELECT ON
	@extschema@.loyalty_programs, @extschema@.loyalty_tiers, @extschema@.loyalty_members,
	@extschema@.points_accounts, @extschema@.points_ledger, @extschema@.points_allocations,
	@extschema@.loyalty_runs, @extschema@.loyalty_tier_changes,
	@extschema@.points_lots, @extschema@.loyalty_tier_summary, @extschema@.loyalty_tier_movements,
	@extschema@.points_liability, @extschema@.points_statement
TO crm_analyst;
GRANT SELECT, INSERT, UPDATE, DELETE, TRUNCATE ON
	@extschema@.loyalty_programs, @extschema@.loyalty_tiers, @extschema@.loyalty_members,
	@extschema@.points_accounts, @extschema@.points_ledger, @extschema@.points_allocations,
	@extschema@.points_adjustment_reasons, @extschema@.loyalty_runs, @extschema@.loyalty_tier_changes,
	@extschema@.points_lots, @extschema@.loyalty_tier_summary, @extschema@.loyalty_tier_movements,
	@extschema@.points_liability, @extschema@.points_statement
TO crm_admin;
GRANT USAGE, SELECT ON SEQUENCE
	@extschema@.points_ledger_movement_id_seq, @extschema@.loyalty_runs_run_id_seq
TO crm_admin;

DO $grants$
DECLARE
	routine regprocedure;
BEGIN
	FOREACH routine IN ARRAY ARRAY[
		'@extschema@.points_lock_account(bigint)',
		'@extschema@.points_consume(bigint, bigint, bigint, bigint)',
		'@extschema@.points_write(bigint, text, bigint, bigint, text, timestamptz, timestamptz, bigint)',
		'@extschema@.points_add_lot(bigint, text, bigint, text, timestamptz, timestamptz)',
		'@extschema@.points_spend(bigint, text, bigint, bigint, text)',
		'@extschema@.earn_points(bigint, bigint, text, timestamptz, timestamptz)',
		'@extschema@.redeem_points(bigint, bigint, text)',
		'@extschema@.adjust_points(bigint, bigint, text, text, timestamptz)',
		'@extschema@.claw_back_points(bigint, bigint, text, text)',
		'@extschema@.award_transaction_points(text)',
		'@extschema@.enrol_member(bigint, text, timestamptz)',
		'@extschema@.review_tiers(timestamptz, text)',
		-- Reads crm.transactions and crm.customer_merges: the review's.
		'@extschema@.loyalty_metric(bigint, text, timestamptz, timestamptz, timestamptz)',
		'@extschema@.expire_points()',
		'@extschema@.merge_loyalty(bigint, bigint)',
		'@extschema@.schedule_tier_review(text)',
		'@extschema@.unschedule_tier_review()',
		'@extschema@.schedule_points_expiry(text)',
		'@extschema@.unschedule_points_expiry()']::pg_catalog.regprocedure[]
	LOOP
		EXECUTE pg_catalog.format('REVOKE EXECUTE ON ROUTINE %s FROM PUBLIC', routine);
		EXECUTE pg_catalog.format('GRANT EXECUTE ON ROUTINE %s TO crm_admin', routine);
	END LOOP;
END
$grants$;
