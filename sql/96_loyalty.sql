-- Loyalty program (DEFINITIONS.md, "Loyalty program"): tiers configured in tables, a tier
-- review that upgrades at once and downgrades only at review dates, and an
-- append-only points ledger whose balance never goes negative.
--
-- Points are whole numbers (bigint).  Every movement of one member is
-- serialised on the member's row in crm.points_accounts (SELECT ... FOR
-- UPDATE), so concurrent redemptions cannot both spend the same points.
-- The functions and views over the ledger are in 96_loyalty_points.sql.
--
-- The ledger tables are keyed by customer_id first (primary keys, the
-- idempotency key, the foreign keys between them), so that Citus can
-- distribute them by customer_id, colocated, and every movement stays on its
-- member's shard.

-- Configuration ------------------------------------------------------------

CREATE TABLE @extschema@.loyalty_programs (
	program_id				text PRIMARY KEY,
	qualify_on				text NOT NULL DEFAULT 'net_spend',
	qualification_window	text NOT NULL DEFAULT 'calendar_year',
	review_every			interval NOT NULL DEFAULT '1 year',
	review_anchor			date NOT NULL DEFAULT '2000-01-01',
	soft_landing			boolean NOT NULL DEFAULT true,
	grace_period			interval NOT NULL DEFAULT '0',
	points_validity			interval DEFAULT '2 years',
	return_window			interval NOT NULL DEFAULT '0'
);
COMMENT ON TABLE @extschema@.loyalty_programs IS
	'Loyalty programs: what tiers qualify on, over which window, when tiers are reviewed, and how long points live. Tiers are in crm.loyalty_tiers.';
COMMENT ON COLUMN @extschema@.loyalty_programs.program_id IS 'Name of the program.';
COMMENT ON COLUMN @extschema@.loyalty_programs.qualify_on IS
	'Qualifying metric: net_spend (purchases minus returns), visits (distinct UTC days with a purchase) or points (points earned minus clawed back).';
COMMENT ON COLUMN @extschema@.loyalty_programs.qualification_window IS
	'calendar_year (UTC; the better of the last and the current year, so status lasts to the end of the next year), anniversary_year (the same with years from enrolment), rolling_12_months or lifetime.';
COMMENT ON COLUMN @extschema@.loyalty_programs.review_every IS 'Time between tier reviews, at least one day; reviews fall on review_anchor + k * review_every (UTC midnight).';
COMMENT ON COLUMN @extschema@.loyalty_programs.review_anchor IS 'A review date; the others follow every review_every.';
COMMENT ON COLUMN @extschema@.loyalty_programs.soft_landing IS 'True: a review lowers a tier by at most one rank.';
COMMENT ON COLUMN @extschema@.loyalty_programs.grace_period IS 'A tier reached less than this long before a review is not lowered at that review.';
COMMENT ON COLUMN @extschema@.loyalty_programs.points_validity IS 'How long earned points live when the caller gives no expiry; NULL: they never expire.';
COMMENT ON COLUMN @extschema@.loyalty_programs.return_window IS 'Points for a purchase stay pending this long after it (crm.award_transaction_points), so a return can claw them back before they are spent.';

CREATE FUNCTION @extschema@.loyalty_programs_check()
RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	IF btrim(NEW.program_id) = '' THEN
		PERFORM @extschema@.config_error('program_id must not be empty', 'Name the program, e.g. ''members''.');
	END IF;
	IF NEW.qualify_on NOT IN ('net_spend', 'visits', 'points') THEN
		PERFORM @extschema@.config_error(
			format('qualify_on must be net_spend, visits or points, not %L', @extschema@.message_excerpt(NEW.qualify_on)),
			'Tiers qualify on net spend (purchases minus returns), purchase days or points earned in the window.');
	END IF;
	IF NEW.qualification_window NOT IN ('calendar_year', 'anniversary_year', 'rolling_12_months', 'lifetime') THEN
		PERFORM @extschema@.config_error(
			format('qualification_window must be calendar_year, anniversary_year, rolling_12_months or lifetime, not %L',
				   @extschema@.message_excerpt(NEW.qualification_window)),
			'The window is the period whose metric qualifies a member for a tier.');
	END IF;
	IF NOT (NEW.review_every >= interval '1 day') THEN
		PERFORM @extschema@.config_error(
			format('review_every must be at least 1 day, not %s', NEW.review_every),
			'Reviews fall on review_anchor + k * review_every, e.g. every ''1 year'' or ''3 months''.');
	END IF;
	IF NEW.review_anchor IN ('infinity', '-infinity') THEN
		PERFORM @extschema@.config_error(format('review_anchor must be a date, not %s', NEW.review_anchor),
			'Give one review date, e.g. ''2024-01-01'' for reviews on 1 January.');
	END IF;
	IF NEW.grace_period < interval '0' OR NEW.return_window < interval '0' THEN
		PERFORM @extschema@.config_error(
			format('grace_period and return_window must be zero or more, not %s and %s', NEW.grace_period, NEW.return_window),
			'0 means no grace period or no pending time.');
	END IF;
	IF NOT (NEW.points_validity > interval '0') THEN
		PERFORM @extschema@.config_error(
			format('points_validity must be positive or NULL, not %s', NEW.points_validity),
			'NULL means points never expire.');
	END IF;
	RETURN NEW;
END
$$;
COMMENT ON FUNCTION @extschema@.loyalty_programs_check() IS 'Trigger: validates crm.loyalty_programs.';

CREATE TRIGGER loyalty_programs_check BEFORE INSERT OR UPDATE ON @extschema@.loyalty_programs
	FOR EACH ROW EXECUTE FUNCTION @extschema@.loyalty_programs_check();

CREATE TABLE @extschema@.loyalty_tiers (
	program_id		text NOT NULL REFERENCES @extschema@.loyalty_programs,
	tier_rank		integer NOT NULL,
	tier_name		text NOT NULL,
	threshold		numeric NOT NULL,
	earn_rate		numeric NOT NULL DEFAULT 1,
	benefits		jsonb,
	PRIMARY KEY (program_id, tier_rank),
	UNIQUE (program_id, tier_name)
);
COMMENT ON TABLE @extschema@.loyalty_tiers IS
	'Tiers of each program, ranks 1..n without gaps; a higher rank needs a strictly higher threshold. Insert a program''s tiers in one statement or in rank order.';
COMMENT ON COLUMN @extschema@.loyalty_tiers.program_id IS 'The program (crm.loyalty_programs).';
COMMENT ON COLUMN @extschema@.loyalty_tiers.tier_rank IS 'Rank 1 (entry tier) to n (top tier), at most 100.';
COMMENT ON COLUMN @extschema@.loyalty_tiers.tier_name IS 'Name of the tier, unique in the program.';
COMMENT ON COLUMN @extschema@.loyalty_tiers.threshold IS 'Qualifying metric the tier needs (in the unit of qualify_on); 0 for an entry tier every member holds.';
COMMENT ON COLUMN @extschema@.loyalty_tiers.earn_rate IS 'Points per currency unit of a purchase (crm.award_transaction_points).';
COMMENT ON COLUMN @extschema@.loyalty_tiers.benefits IS 'Benefits of the tier, free-form JSON for the retailer''s systems.';

CREATE FUNCTION @extschema@.loyalty_tiers_check_row()
RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	IF NOT (NEW.tier_rank BETWEEN 1 AND 100) THEN
		PERFORM @extschema@.config_error(format('tier_rank must be between 1 and 100, not %s', NEW.tier_rank),
			'Rank 1 is the entry tier, higher ranks are better tiers.');
	END IF;
	IF btrim(NEW.tier_name) = '' THEN
		PERFORM @extschema@.config_error('tier_name must not be empty', 'Name the tier, e.g. ''Gold''.');
	END IF;
	IF NEW.threshold IN ('NaN', 'Infinity', '-Infinity') OR NEW.threshold < 0 THEN
		PERFORM @extschema@.config_error(
			format('threshold of tier %s must be a finite number zero or more, not %s', NEW.tier_name, NEW.threshold),
			'The threshold is the net spend, visits or points the tier needs.');
	END IF;
	IF NEW.earn_rate IN ('NaN', 'Infinity', '-Infinity') OR NEW.earn_rate < 0 THEN
		PERFORM @extschema@.config_error(
			format('earn_rate of tier %s must be a finite number zero or more, not %s', NEW.tier_name, NEW.earn_rate),
			'The earn rate is points per currency unit, e.g. 1.5.');
	END IF;
	RETURN NEW;
END
$$;
COMMENT ON FUNCTION @extschema@.loyalty_tiers_check_row() IS 'Trigger: validates one row of crm.loyalty_tiers.';

-- Per statement, so that a program's tiers are checked as a whole.
CREATE FUNCTION @extschema@.loyalty_tiers_check_program()
RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	program record;
	k integer;
BEGIN
	FOR program IN
		SELECT t.program_id, array_agg(t.tier_rank ORDER BY t.tier_rank) AS ranks,
			   array_agg(t.threshold::float8 ORDER BY t.tier_rank) AS thresholds
		FROM @extschema@.loyalty_tiers AS t
		GROUP BY t.program_id
	LOOP
		IF program.ranks <> ARRAY(SELECT generate_series(1, cardinality(program.ranks))) THEN
			PERFORM @extschema@.config_error(
				format('tier ranks of program %s must run 1, 2, 3, ... without gaps, not %s', program.program_id, program.ranks),
				'Insert a program''s tiers in one statement or in rank order; delete from the top.');
		END IF;
		-- Compared as the review compares them (double precision).
		FOR k IN 2 .. cardinality(program.thresholds) LOOP
			IF program.thresholds[k] <= program.thresholds[k - 1] THEN
				PERFORM @extschema@.config_error(
					format('tier thresholds of program %s must increase with rank, but rank %s needs %s and rank %s needs %s',
						   program.program_id, k, program.thresholds[k], k - 1, program.thresholds[k - 1]),
					'Tiers must not overlap: each higher rank needs a strictly higher threshold.');
			END IF;
		END LOOP;
	END LOOP;
	RETURN NULL;
END
$$;
COMMENT ON FUNCTION @extschema@.loyalty_tiers_check_program() IS
	'Trigger: checks that every program''s tiers have ranks 1..n and strictly increasing thresholds.';

CREATE TRIGGER loyalty_tiers_check_row BEFORE INSERT OR UPDATE ON @extschema@.loyalty_tiers
	FOR EACH ROW EXECUTE FUNCTION @extschema@.loyalty_tiers_check_row();
CREATE TRIGGER loyalty_tiers_check_program AFTER INSERT OR UPDATE OR DELETE ON @extschema@.loyalty_tiers
	FOR EACH STATEMENT EXECUTE FUNCTION @extschema@.loyalty_tiers_check_program();

SELECT pg_catalog.pg_extension_config_dump('@extschema@.loyalty_programs', '');
SELECT pg_catalog.pg_extension_config_dump('@extschema@.loyalty_tiers', '');

-- The tier rule, in C -------------------------------------------------------

CREATE FUNCTION @extschema@.loyalty_tier(metric double precision, thresholds double precision[],
										 current_rank integer, is_review boolean, soft_landing boolean)
RETURNS integer
AS 'MODULE_PATHNAME', 'loyalty_tier'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION @extschema@.loyalty_tier(double precision, double precision[], integer, boolean, boolean) IS
	'Rank a member holds after an evaluation: the number of thresholds (one per rank, strictly increasing, finite, >= 0) the metric reaches, if that is at least current_rank (upgrades are immediate); otherwise current_rank, unless is_review: then the qualified rank, or current_rank - 1 with soft_landing. 0 = below every tier.';

-- Members and their qualification -------------------------------------------

CREATE TABLE @extschema@.loyalty_members (
	customer_id		bigint PRIMARY KEY,
	program_id		text NOT NULL REFERENCES @extschema@.loyalty_programs,
	enrolled_at		timestamptz NOT NULL,
	tier_rank		integer NOT NULL,
	tier_since		timestamptz NOT NULL
);
-- No foreign key to crm.customers: it would forbid TRUNCATE crm.customers,
-- which reloads use; crm.enrol_member() checks the customer instead.
COMMENT ON TABLE @extschema@.loyalty_members IS 'Members of a loyalty program and the tier they hold. Enrol with crm.enrol_member().';
COMMENT ON COLUMN @extschema@.loyalty_members.customer_id IS 'The member (crm.customers).';
COMMENT ON COLUMN @extschema@.loyalty_members.program_id IS 'The program the member belongs to.';
COMMENT ON COLUMN @extschema@.loyalty_members.enrolled_at IS 'When the member joined; starts the anniversary years.';
COMMENT ON COLUMN @extschema@.loyalty_members.tier_rank IS 'Rank of the tier held; 0 = below every tier.';
COMMENT ON COLUMN @extschema@.loyalty_members.tier_since IS 'When the member reached the tier held (as_of of that review, or enrolment).';
CREATE INDEX loyalty_members_program_idx ON @extschema@.loyalty_members (program_id, tier_rank);

-- Start of the current qualification period and of the previous one, in
-- UTC; both equal when the window has no previous period.
CREATE FUNCTION @extschema@.loyalty_period(qualification_window text, enrolled_at timestamptz, as_of timestamptz,
										   OUT period_start timestamptz, OUT previous_start timestamptz)
LANGUAGE plpgsql IMMUTABLE STRICT PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	as_of_utc timestamp := as_of AT TIME ZONE 'UTC';
	enrolled_utc timestamp := enrolled_at AT TIME ZONE 'UTC';
	start_utc timestamp;
BEGIN
	CASE qualification_window
	WHEN 'lifetime' THEN
		period_start := '-infinity';
		previous_start := '-infinity';
		RETURN;
	WHEN 'rolling_12_months' THEN
		period_start := (as_of_utc - interval '12 months') AT TIME ZONE 'UTC';
		previous_start := period_start;
		RETURN;
	WHEN 'calendar_year' THEN
		start_utc := date_trunc('year', as_of_utc);
	WHEN 'anniversary_year' THEN
		start_utc := enrolled_utc + extract(year FROM age(as_of_utc, enrolled_utc))::integer * interval '1 year';
	ELSE
		PERFORM @extschema@.config_error(
			format('qualification_window must be calendar_year, anniversary_year, rolling_12_months or lifetime, not %L',
				   @extschema@.message_excerpt(qualification_window)),
			'The window is the period whose metric qualifies a member for a tier.');
	END CASE;
	period_start := start_utc AT TIME ZONE 'UTC';
	previous_start := (start_utc - interval '1 year') AT TIME ZONE 'UTC';
END
$$;
COMMENT ON FUNCTION @extschema@.loyalty_period(text, timestamptz, timestamptz) IS
	'Start of the current and of the previous qualification period of a window as of a time (UTC); for rolling_12_months and lifetime both are the window start. Immutable: computed in UTC, whatever the session time zone.';

-- Points ledger --------------------------------------------------------------

-- One row per member: the lock every movement of the member takes, and the
-- ledger total, which a constraint keeps from going negative.
CREATE TABLE @extschema@.points_accounts (
	customer_id		bigint PRIMARY KEY REFERENCES @extschema@.loyalty_members,
	ledger_total	bigint NOT NULL DEFAULT 0 CONSTRAINT points_accounts_never_negative CHECK (ledger_total >= 0),
	updated_at		timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE @extschema@.points_accounts IS
	'One row per member: every points movement locks it first, so the movements of one member are serialised; ledger_total is kept equal to the sum of the member''s ledger.';
COMMENT ON COLUMN @extschema@.points_accounts.customer_id IS 'The member.';
COMMENT ON COLUMN @extschema@.points_accounts.ledger_total IS 'Sum of the member''s ledger: available, pending and lapsed points not yet swept; never negative.';
COMMENT ON COLUMN @extschema@.points_accounts.updated_at IS 'Time of the last movement.';

CREATE TABLE @extschema@.points_ledger (
	movement_id			bigint GENERATED ALWAYS AS IDENTITY,
	customer_id			bigint NOT NULL REFERENCES @extschema@.points_accounts,
	kind				text NOT NULL CONSTRAINT points_ledger_kind_known
		CHECK (kind IN ('earn', 'redeem', 'expire', 'adjust', 'clawback', 'transfer_in', 'transfer_out')),
	points				bigint NOT NULL,
	requested			bigint,
	idempotency_key		text NOT NULL,
	created_at			timestamptz NOT NULL DEFAULT now(),
	available_at		timestamptz,
	expires_at			timestamptz,
	related_movement_id	bigint,
	PRIMARY KEY (customer_id, movement_id),
	-- A movement relates to one of the same member: transfer_in names its
	-- origin (the merged member's lot) by its idempotency key only.
	FOREIGN KEY (customer_id, related_movement_id) REFERENCES @extschema@.points_ledger (customer_id, movement_id),
	CONSTRAINT points_ledger_sign CHECK (CASE WHEN kind IN ('earn', 'transfer_in') THEN points > 0
											 WHEN kind = 'adjust' THEN points <> 0
											 WHEN kind = 'clawback' THEN points <= 0
											 ELSE points < 0 END),
	CONSTRAINT points_ledger_lot CHECK ((points > 0) = (available_at IS NOT NULL AND expires_at IS NOT NULL)),
	CONSTRAINT points_ledger_idempotent UNIQUE (customer_id, kind, idempotency_key)
);
COMMENT ON TABLE @extschema@.points_ledger IS
	'Append-only points ledger: one row per movement. Rows with positive points are lots (earned or added points with an expiry); crm.points_allocations records which lots each spending movement consumed.';
COMMENT ON COLUMN @extschema@.points_ledger.movement_id IS 'Movement number, increasing in commit order per member.';
COMMENT ON COLUMN @extschema@.points_ledger.customer_id IS 'The member.';
COMMENT ON COLUMN @extschema@.points_ledger.kind IS 'earn, redeem, expire (sweep of a lapsed lot''s remainder), adjust (either sign), clawback (return), or transfer_out and transfer_in (a lot moved by crm.merge_customers).';
COMMENT ON COLUMN @extschema@.points_ledger.points IS 'Signed change of the member''s points: positive for lots, negative for spending; 0 for a clawback that found nothing to take.';
COMMENT ON COLUMN @extschema@.points_ledger.requested IS 'Points the caller asked for (a clawback may take less: what the member still had); NULL for expire rows.';
COMMENT ON COLUMN @extschema@.points_ledger.idempotency_key IS 'Key of the source event, unique per member and kind: a replay for the member returns this row. Expire rows use lot:<lot_id>, transfers merge:<merged customer>:lot:<lot_id>.';
COMMENT ON COLUMN @extschema@.points_ledger.created_at IS 'When the movement was written (transaction time).';
COMMENT ON COLUMN @extschema@.points_ledger.available_at IS 'Lots: from when the points can be spent (pending before).';
COMMENT ON COLUMN @extschema@.points_ledger.expires_at IS 'Lots: when the remaining points lapse; infinity when they never do.';
COMMENT ON COLUMN @extschema@.points_ledger.related_movement_id IS 'A movement of the same member: expire and transfer_out rows, the lot swept or moved; clawbacks, the earn of the returned purchase, if known. NULL for transfer_in: the lot it continues is the merged member''s, named by the idempotency key.';
CREATE INDEX points_ledger_lot_expiry_idx ON @extschema@.points_ledger (expires_at) WHERE points > 0;

CREATE TABLE @extschema@.points_allocations (
	movement_id		bigint NOT NULL,
	lot_id			bigint NOT NULL,
	points			bigint NOT NULL CONSTRAINT points_allocations_positive CHECK (points > 0),
	-- last, where the update from 1.1 added it
	customer_id		bigint NOT NULL,
	PRIMARY KEY (customer_id, movement_id, lot_id),
	-- A movement spends only its own member's lots.
	FOREIGN KEY (customer_id, movement_id) REFERENCES @extschema@.points_ledger (customer_id, movement_id),
	FOREIGN KEY (customer_id, lot_id) REFERENCES @extschema@.points_ledger (customer_id, movement_id)
);
COMMENT ON TABLE @extschema@.points_allocations IS
	'Append-only: which lots a spending movement (redeem, expire, negative adjust, clawback) consumed, and how many points of each.';
COMMENT ON COLUMN @extschema@.points_allocations.customer_id IS 'The member whose movement and lot these are.';
COMMENT ON COLUMN @extschema@.points_allocations.movement_id IS 'The spending movement.';
COMMENT ON COLUMN @extschema@.points_allocations.lot_id IS 'The lot consumed (movement_id of an earn or positive adjust).';
COMMENT ON COLUMN @extschema@.points_allocations.points IS 'Points taken from the lot.';
CREATE INDEX points_allocations_lot_idx ON @extschema@.points_allocations (customer_id, lot_id) INCLUDE (points);

CREATE TABLE @extschema@.points_adjustment_reasons (
	movement_id		bigint NOT NULL,
	customer_id		bigint NOT NULL,
	reason			text NOT NULL,
	PRIMARY KEY (customer_id, movement_id),
	FOREIGN KEY (customer_id, movement_id) REFERENCES @extschema@.points_ledger (customer_id, movement_id)
);
COMMENT ON TABLE @extschema@.points_adjustment_reasons IS
	'Why an adjustment was made, as typed by staff. Free text, so it may hold personal data: not readable by analysts.';
COMMENT ON COLUMN @extschema@.points_adjustment_reasons.movement_id IS 'The adjust movement.';
COMMENT ON COLUMN @extschema@.points_adjustment_reasons.customer_id IS 'Member the adjustment belongs to, so that crm.forget_customer finds the reason.';
COMMENT ON COLUMN @extschema@.points_adjustment_reasons.reason IS 'Personal data: free text typed by staff, which may name or describe the customer; emptied by crm.forget_customer.';

CREATE FUNCTION @extschema@.points_append_only()
RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	RAISE EXCEPTION USING ERRCODE = 'feature_not_supported',
		MESSAGE = format('%s is append-only: %s is not allowed', TG_TABLE_NAME, lower(TG_OP)),
		HINT = 'Correct a movement with a new one: crm.adjust_points() or crm.claw_back_points().';
END
$$;
COMMENT ON FUNCTION @extschema@.points_append_only() IS 'Trigger: refuses UPDATE, DELETE and TRUNCATE on the points ledger and its allocations.';

CREATE TRIGGER points_ledger_append_only BEFORE UPDATE OR DELETE ON @extschema@.points_ledger
	FOR EACH ROW EXECUTE FUNCTION @extschema@.points_append_only();
CREATE TRIGGER points_ledger_no_truncate BEFORE TRUNCATE ON @extschema@.points_ledger
	FOR EACH STATEMENT EXECUTE FUNCTION @extschema@.points_append_only();
CREATE TRIGGER points_allocations_append_only BEFORE UPDATE OR DELETE ON @extschema@.points_allocations
	FOR EACH ROW EXECUTE FUNCTION @extschema@.points_append_only();
CREATE TRIGGER points_allocations_no_truncate BEFORE TRUNCATE ON @extschema@.points_allocations
	FOR EACH STATEMENT EXECUTE FUNCTION @extschema@.points_append_only();

CREATE FUNCTION @extschema@.enrol_member(customer_id bigint, program_id text, enrolled_at timestamptz DEFAULT now())
RETURNS boolean
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	current_program text;
BEGIN
	IF customer_id IS NULL OR program_id IS NULL OR enrolled_at IS NULL THEN
		RAISE EXCEPTION USING ERRCODE = 'null_value_not_allowed',
			MESSAGE = 'customer_id, program_id and enrolled_at must not be NULL',
			HINT = 'Name the customer (crm.customers) and the program (crm.loyalty_programs).';
	END IF;
	IF enrolled_at IN ('infinity', '-infinity') THEN
		RAISE EXCEPTION USING ERRCODE = 'invalid_parameter_value',
			MESSAGE = format('enrolled_at must be a finite time, not %s', enrolled_at),
			HINT = 'Omit it to enrol now.';
	END IF;
	IF NOT EXISTS (SELECT 1 FROM @extschema@.customers AS c WHERE c.customer_id = enrol_member.customer_id) THEN
		RAISE EXCEPTION USING ERRCODE = 'foreign_key_violation',
			MESSAGE = format('customer %s does not exist', customer_id),
			HINT = 'Load the customer into crm.customers first.';
	END IF;
	SELECT m.program_id INTO current_program FROM @extschema@.loyalty_members AS m
	WHERE m.customer_id = enrol_member.customer_id;
	IF FOUND THEN
		IF current_program <> enrol_member.program_id THEN
			RAISE EXCEPTION USING ERRCODE = 'invalid_parameter_value',
				MESSAGE = format('customer %s is already a member of program %s', customer_id, current_program),
				HINT = 'A customer belongs to one program.';
		END IF;
		RETURN false;
	END IF;
	-- The entry tier (threshold 0) is held from enrolment.
	INSERT INTO @extschema@.loyalty_members AS m (customer_id, program_id, enrolled_at, tier_rank, tier_since)
	SELECT enrol_member.customer_id, enrol_member.program_id, enrol_member.enrolled_at,
		   (SELECT count(*) FROM @extschema@.loyalty_tiers AS t
			WHERE t.program_id = enrol_member.program_id AND t.threshold <= 0),
		   enrol_member.enrolled_at
	ON CONFLICT ON CONSTRAINT loyalty_members_pkey DO NOTHING;
	IF NOT FOUND THEN
		RETURN false;
	END IF;
	INSERT INTO @extschema@.points_accounts (customer_id) VALUES (enrol_member.customer_id);
	RETURN true;
END
$$;
COMMENT ON FUNCTION @extschema@.enrol_member(bigint, text, timestamptz) IS
	'Makes a customer a member of a program (with its entry tier when that needs 0) and opens the points account. true when enrolled now, false when already a member of that program; 22023 when a member of another.';

-- Tier review and expiry runs ------------------------------------------------

CREATE TABLE @extschema@.loyalty_runs (
	run_id			bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	job				text NOT NULL CONSTRAINT loyalty_runs_job_known CHECK (job IN ('tier_review', 'points_expiry')),
	program_id		text,
	as_of			timestamptz NOT NULL,
	review_at		timestamptz,
	members			bigint,
	upgrades		bigint,
	downgrades		bigint,
	lots_expired	bigint,
	points_expired	bigint,
	started_at		timestamptz NOT NULL DEFAULT clock_timestamp(),
	finished_at		timestamptz
);
COMMENT ON TABLE @extschema@.loyalty_runs IS
	'Log of the tier reviews (one row per program) and points expiry sweeps that committed; a failed run rolls back and shows in cron.job_run_details.';
COMMENT ON COLUMN @extschema@.loyalty_runs.run_id IS 'Run number.';
COMMENT ON COLUMN @extschema@.loyalty_runs.job IS 'tier_review or points_expiry.';
COMMENT ON COLUMN @extschema@.loyalty_runs.program_id IS 'Program reviewed; NULL for an expiry sweep (all members).';
COMMENT ON COLUMN @extschema@.loyalty_runs.as_of IS 'Time the run evaluated as of.';
COMMENT ON COLUMN @extschema@.loyalty_runs.review_at IS 'Review date this run applied (downgrades allowed); NULL when it only upgraded.';
COMMENT ON COLUMN @extschema@.loyalty_runs.members IS 'Members evaluated.';
COMMENT ON COLUMN @extschema@.loyalty_runs.upgrades IS 'Members moved up.';
COMMENT ON COLUMN @extschema@.loyalty_runs.downgrades IS 'Members moved down.';
COMMENT ON COLUMN @extschema@.loyalty_runs.lots_expired IS 'Lapsed lots whose remainder the sweep wrote off.';
COMMENT ON COLUMN @extschema@.loyalty_runs.points_expired IS 'Points the sweep wrote off.';
COMMENT ON COLUMN @extschema@.loyalty_runs.started_at IS 'Start of the run.';
COMMENT ON COLUMN @extschema@.loyalty_runs.finished_at IS 'End of the run.';

CREATE TABLE @extschema@.loyalty_tier_changes (
	run_id				bigint NOT NULL REFERENCES @extschema@.loyalty_runs,
	customer_id			bigint NOT NULL,
	from_rank			integer NOT NULL,
	to_rank				integer NOT NULL,
	qualifying_metric	numeric NOT NULL,
	PRIMARY KEY (run_id, customer_id)
);
COMMENT ON TABLE @extschema@.loyalty_tier_changes IS 'Every tier change a review made.';
COMMENT ON COLUMN @extschema@.loyalty_tier_changes.run_id IS 'The review (crm.loyalty_runs).';
COMMENT ON COLUMN @extschema@.loyalty_tier_changes.customer_id IS 'The member.';
COMMENT ON COLUMN @extschema@.loyalty_tier_changes.from_rank IS 'Rank before; 0 = no tier.';
COMMENT ON COLUMN @extschema@.loyalty_tier_changes.to_rank IS 'Rank after.';
COMMENT ON COLUMN @extschema@.loyalty_tier_changes.qualifying_metric IS 'The qualifying metric the review saw.';

-- Latest review date of a program at or before as_of (UTC midnight), NULL
-- before the first.
CREATE FUNCTION @extschema@.loyalty_review_date(review_anchor date, review_every interval, as_of timestamptz)
RETURNS timestamptz
LANGUAGE plpgsql IMMUTABLE STRICT PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	as_of_utc timestamp := as_of AT TIME ZONE 'UTC';
	review timestamp := review_anchor;
	step integer := 0;
BEGIN
	IF review > as_of_utc THEN
		-- Step back from the anchor to the last review before as_of.
		WHILE review > as_of_utc LOOP
			step := step - 1;
			review := review_anchor + step * review_every;
		END LOOP;
	ELSE
		-- Months and years do not divide evenly: estimate, then correct.
		step := floor(extract(epoch FROM as_of_utc - review_anchor) /
					  extract(epoch FROM review_every))::integer;
		WHILE review_anchor + (step + 1) * review_every <= as_of_utc LOOP
			step := step + 1;
		END LOOP;
		WHILE step > 0 AND review_anchor + step * review_every > as_of_utc LOOP
			step := step - 1;
		END LOOP;
		review := review_anchor + step * review_every;
	END IF;
	RETURN review AT TIME ZONE 'UTC';
END
$$;
COMMENT ON FUNCTION @extschema@.loyalty_review_date(date, interval, timestamptz) IS
	'Latest review date review_anchor + k * review_every (k any integer, UTC midnight) at or before as_of.';

-- Jobs ------------------------------------------------------------------------

CREATE FUNCTION @extschema@.schedule_tier_review(schedule text DEFAULT '0 3 * * *')
RETURNS bigint
LANGUAGE sql VOLATILE
SET search_path = pg_catalog, pg_temp
RETURN @extschema@.schedule_job('retail_crm_tier_review', schedule, 'SELECT count(*) FROM @extschema@.review_tiers()',
	'crm.schedule_tier_review()',
	'crm.schedule_tier_review() schedules the tier review with pg_cron. Without it, call crm.review_tiers() from any scheduler.');
COMMENT ON FUNCTION @extschema@.schedule_tier_review(text) IS
	'Schedules crm.review_tiers() with pg_cron as job retail_crm_tier_review (GMT, default 03:00 daily) and returns the job id; again = new schedule. Without pg_cron: 55000 with the steps to take.';

CREATE FUNCTION @extschema@.unschedule_tier_review()
RETURNS boolean
LANGUAGE sql VOLATILE
SET search_path = pg_catalog, pg_temp
RETURN @extschema@.unschedule_job('retail_crm_tier_review', 'tier review');
COMMENT ON FUNCTION @extschema@.unschedule_tier_review() IS
	'Removes the pg_cron job of crm.schedule_tier_review(); false, with a notice, when there is none.';

CREATE FUNCTION @extschema@.schedule_points_expiry(schedule text DEFAULT '30 3 * * *')
RETURNS bigint
LANGUAGE sql VOLATILE
SET search_path = pg_catalog, pg_temp
RETURN @extschema@.schedule_job('retail_crm_points_expiry', schedule, 'SELECT @extschema@.expire_points()',
	'crm.schedule_points_expiry()',
	'crm.schedule_points_expiry() schedules the points expiry with pg_cron. Without it, call crm.expire_points() from any scheduler.');
COMMENT ON FUNCTION @extschema@.schedule_points_expiry(text) IS
	'Schedules crm.expire_points() with pg_cron as job retail_crm_points_expiry (GMT, default 03:30 daily) and returns the job id; again = new schedule. Without pg_cron: 55000 with the steps to take.';

CREATE FUNCTION @extschema@.unschedule_points_expiry()
RETURNS boolean
LANGUAGE sql VOLATILE
SET search_path = pg_catalog, pg_temp
RETURN @extschema@.unschedule_job('retail_crm_points_expiry', 'points expiry');
COMMENT ON FUNCTION @extschema@.unschedule_points_expiry() IS
	'Removes the pg_cron job of crm.schedule_points_expiry(); false, with a notice, when there is none.';

-- BI views -------------------------------------------------------------------


CREATE VIEW @extschema@.loyalty_tier_movements AS
SELECT r.run_id, r.program_id, r.as_of, r.review_at,
	   c.from_rank, coalesce(f.tier_name, '(no tier)') AS from_tier,
	   c.to_rank, coalesce(t.tier_name, '(no tier)') AS to_tier,
	   CASE WHEN c.to_rank > c.from_rank THEN 'up' ELSE 'down' END AS direction,
	   count(*) AS members
FROM @extschema@.loyalty_tier_changes AS c
JOIN @extschema@.loyalty_runs AS r ON r.run_id = c.run_id
LEFT JOIN @extschema@.loyalty_tiers AS f ON f.program_id = r.program_id AND f.tier_rank = c.from_rank
LEFT JOIN @extschema@.loyalty_tiers AS t ON t.program_id = r.program_id AND t.tier_rank = c.to_rank
GROUP BY r.run_id, r.program_id, r.as_of, r.review_at, c.from_rank, f.tier_name, c.to_rank, t.tier_name;
COMMENT ON VIEW @extschema@.loyalty_tier_movements IS 'Tier moves per review run: how many members went from which tier to which.';
COMMENT ON COLUMN @extschema@.loyalty_tier_movements.run_id IS 'The review (crm.loyalty_runs).';
COMMENT ON COLUMN @extschema@.loyalty_tier_movements.program_id IS 'The program.';
COMMENT ON COLUMN @extschema@.loyalty_tier_movements.as_of IS 'Time the review evaluated as of.';
COMMENT ON COLUMN @extschema@.loyalty_tier_movements.review_at IS 'Review date applied; NULL for a run that could only upgrade.';
COMMENT ON COLUMN @extschema@.loyalty_tier_movements.from_rank IS 'Rank before.';
COMMENT ON COLUMN @extschema@.loyalty_tier_movements.from_tier IS 'Tier before (current name).';
COMMENT ON COLUMN @extschema@.loyalty_tier_movements.to_rank IS 'Rank after.';
COMMENT ON COLUMN @extschema@.loyalty_tier_movements.to_tier IS 'Tier after (current name).';
COMMENT ON COLUMN @extschema@.loyalty_tier_movements.direction IS 'up or down.';
COMMENT ON COLUMN @extschema@.loyalty_tier_movements.members IS 'Members who moved so.';

-- Members, the ledger and the logs are data: pg_dump keeps them (with the
-- identity sequences, so that restored ids are not handed out again).
SELECT pg_catalog.pg_extension_config_dump('@extschema@.loyalty_members', '');
SELECT pg_catalog.pg_extension_config_dump('@extschema@.points_accounts', '');
SELECT pg_catalog.pg_extension_config_dump('@extschema@.points_ledger', '');
SELECT pg_catalog.pg_extension_config_dump('@extschema@.points_ledger_movement_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('@extschema@.points_allocations', '');
SELECT pg_catalog.pg_extension_config_dump('@extschema@.points_adjustment_reasons', '');
SELECT pg_catalog.pg_extension_config_dump('@extschema@.loyalty_runs', '');
SELECT pg_catalog.pg_extension_config_dump('@extschema@.loyalty_runs_run_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('@extschema@.loyalty_tier_changes', '');
