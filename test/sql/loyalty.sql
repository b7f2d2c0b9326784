-- Loyalty: the tier rule in C, program configuration, enrolment, the
-- points ledger (earn, redeem, expire, adjust, clawback, idempotency), the
-- tier review, the jobs, the views and who may do what.
\i test/fixtures/extension.sql
SET timezone = 'UTC';
\set SHOW_CONTEXT never
SET client_min_messages = warning;

-- 1. crm.loyalty_tier(metric, thresholds, current_rank, is_review, soft_landing)
-- Tiers: rank 1 from 0, rank 2 from 500, rank 3 from 2000, rank 4 from 10000.
SELECT metric, current_rank, is_review, soft_landing,
	   crm.loyalty_tier(metric, '{0,500,2000,10000}', current_rank, is_review, soft_landing) AS tier
FROM (VALUES
	(0::float8, 0, false, false),		-- entry tier reached at 0
	(499.99, 1, false, false),			-- just below rank 2
	(500, 1, false, false),				-- a threshold reached counts
	(2500, 1, false, false),			-- upgrade of two ranks at once, no review needed
	(-20, 0, false, false),				-- net returns: below every tier
	(1e300, 0, false, false),			-- huge: top tier
	(100, 4, false, false),				-- no review: the tier is kept
	(100, 4, true, false),				-- review, hard landing: straight to rank 1
	(100, 4, true, true),				-- review, soft landing: one rank down
	(600, 3, true, true),				-- soft landing never below what is qualified: 2
	(-1, 1, true, false),				-- review below every tier: 0
	(15000, 4, true, true),				-- review, still qualified: stays
	(2000, 2, true, true)				-- review can upgrade too
) AS c (metric, current_rank, is_review, soft_landing);
-- One tier; a threshold above 0.
SELECT crm.loyalty_tier(5, '{10}', 0, false, false) AS below, crm.loyalty_tier(10, '{10}', 0, false, false) AS reached;
-- STRICT: NULL in, NULL out.
SELECT crm.loyalty_tier(NULL, '{0,500}', 0, false, false) IS NULL AS null_metric,
	   crm.loyalty_tier(1, NULL, 0, false, false) IS NULL AS null_thresholds,
	   crm.loyalty_tier(1, '{0,500}', NULL, false, false) IS NULL AS null_rank;
-- Bad input: each with its SQLSTATE.
SELECT * FROM public.error_of($$SELECT crm.loyalty_tier('NaN', '{0,500}', 0, false, false)$$);
SELECT * FROM public.error_of($$SELECT crm.loyalty_tier('Infinity', '{0,500}', 0, false, false)$$);
SELECT * FROM public.error_of($$SELECT crm.loyalty_tier('-Infinity', '{0,500}', 0, false, false)$$);
SELECT * FROM public.error_of($$SELECT crm.loyalty_tier(1, '{}', 0, false, false)$$);
SELECT * FROM public.error_of($$SELECT crm.loyalty_tier(1, '{{0,500},{1000,2000}}', 0, false, false)$$);
SELECT * FROM public.error_of($$SELECT crm.loyalty_tier(1, '{0,NULL,900}', 0, false, false)$$);
SELECT * FROM public.error_of($$SELECT crm.loyalty_tier(1, '{0,NaN}', 0, false, false)$$);
SELECT * FROM public.error_of($$SELECT crm.loyalty_tier(1, '{0,Infinity}', 0, false, false)$$);
SELECT * FROM public.error_of($$SELECT crm.loyalty_tier(1, '{-5,500}', 0, false, false)$$);
SELECT * FROM public.error_of($$SELECT crm.loyalty_tier(1, '{0,500,400}', 0, false, false)$$);
SELECT * FROM public.error_of($$SELECT crm.loyalty_tier(1, '{0,500,500}', 0, false, false)$$);
SELECT * FROM public.error_of($$SELECT crm.loyalty_tier(1, '{0,500}', -1, false, false)$$);
SELECT * FROM public.error_of($$SELECT crm.loyalty_tier(1, '{0,500}', 3, false, false)$$);
SELECT * FROM public.error_of($$SELECT crm.loyalty_tier(1, (SELECT array_agg(g::float8) FROM generate_series(0, 100) AS g), 0, false, false)$$);
SELECT crm.loyalty_tier(1e6, (SELECT array_agg(g::float8) FROM generate_series(0, 99) AS g), 0, false, false) AS hundred_tiers;
-- Against a plain-SQL reading of the rule on a grid of metrics, ranks and flags.
WITH grid AS (
	SELECT m::float8 AS metric, r AS current_rank, rv AS is_review, sl AS soft_landing
	FROM generate_series(-100, 12000, 50) AS m, generate_series(0, 4) AS r,
		 (VALUES (false), (true)) AS a (rv), (VALUES (false), (true)) AS b (sl)
), expected AS (
	SELECT g.*, (SELECT count(*) FROM unnest('{0,500,2000,10000}'::float8[]) AS t WHERE g.metric >= t)::integer AS qualified
	FROM grid AS g
)
SELECT count(*) AS cases,
	   count(*) FILTER (WHERE crm.loyalty_tier(metric, '{0,500,2000,10000}', current_rank, is_review, soft_landing)
						<> CASE WHEN qualified >= current_rank THEN qualified
								WHEN NOT is_review THEN current_rank
								WHEN soft_landing THEN greatest(qualified, current_rank - 1)
								ELSE qualified END) AS mismatches
FROM expected;

-- 2. Configuration: programs and tiers, and what is refused.
INSERT INTO crm.loyalty_programs (program_id, qualify_on, qualification_window, review_every, review_anchor,
								  soft_landing, grace_period, points_validity, return_window)
VALUES ('club', 'net_spend', 'calendar_year', '1 year', '2000-01-01', true, '0', '1 year', '14 days');
INSERT INTO crm.loyalty_tiers (program_id, tier_rank, tier_name, threshold, earn_rate, benefits) VALUES
	('club', 1, 'Member', 0, 1, '{"discount": 0}'),
	('club', 2, 'Silver', 500, 1.5, '{"discount": 5}'),
	('club', 3, 'Gold', 2000, 2, '{"discount": 10, "free_delivery": true}');
SELECT * FROM public.error_of($$INSERT INTO crm.loyalty_programs (program_id, qualification_window) VALUES ('x', 'fiscal_year')$$);
SELECT * FROM public.error_of($$INSERT INTO crm.loyalty_programs (program_id, qualify_on) VALUES ('x', 'orders')$$);
SELECT * FROM public.error_of($$INSERT INTO crm.loyalty_programs (program_id, review_every) VALUES ('x', '1 hour')$$);
SELECT * FROM public.error_of($$INSERT INTO crm.loyalty_programs (program_id, review_every) VALUES ('x', '-1 year')$$);
SELECT * FROM public.error_of($$INSERT INTO crm.loyalty_programs (program_id, review_anchor) VALUES ('x', 'infinity')$$);
SELECT * FROM public.error_of($$INSERT INTO crm.loyalty_programs (program_id, grace_period) VALUES ('x', '-1 day')$$);
SELECT * FROM public.error_of($$INSERT INTO crm.loyalty_programs (program_id, points_validity) VALUES ('x', '0')$$);
SELECT * FROM public.error_of($$INSERT INTO crm.loyalty_programs (program_id) VALUES (' ')$$);
SELECT * FROM public.error_of($$UPDATE crm.loyalty_programs SET qualification_window = 'weekly' WHERE program_id = 'club'$$);
-- Tiers: overlapping, non-monotonic, gaps, bad values.
SELECT * FROM public.error_of($$UPDATE crm.loyalty_tiers SET threshold = 2000 WHERE program_id = 'club' AND tier_rank = 2$$);
SELECT * FROM public.error_of($$UPDATE crm.loyalty_tiers SET threshold = 3000 WHERE program_id = 'club' AND tier_rank = 2$$);
SELECT * FROM public.error_of($$INSERT INTO crm.loyalty_tiers VALUES ('club', 5, 'Diamond', 9000, 3, NULL)$$);
SELECT * FROM public.error_of($$DELETE FROM crm.loyalty_tiers WHERE program_id = 'club' AND tier_rank = 2$$);
SELECT * FROM public.error_of($$INSERT INTO crm.loyalty_tiers VALUES ('club', 0, 'Zero', 0, 1, NULL)$$);
SELECT * FROM public.error_of($$INSERT INTO crm.loyalty_tiers VALUES ('club', 101, 'Far', 1e9, 1, NULL)$$);
SELECT * FROM public.error_of($$INSERT INTO crm.loyalty_tiers VALUES ('club', 4, 'Platinum', -1, 1, NULL)$$);
SELECT * FROM public.error_of($$INSERT INTO crm.loyalty_tiers VALUES ('club', 4, 'Platinum', 'NaN', 1, NULL)$$);
SELECT * FROM public.error_of($$INSERT INTO crm.loyalty_tiers VALUES ('club', 4, 'Platinum', 'Infinity', 1, NULL)$$);
SELECT * FROM public.error_of($$INSERT INTO crm.loyalty_tiers VALUES ('club', 4, 'Platinum', 5000, -1, NULL)$$);
SELECT * FROM public.error_of($$INSERT INTO crm.loyalty_tiers VALUES ('club', 4, 'Platinum', 5000, 'NaN', NULL)$$);
SELECT * FROM public.error_of($$INSERT INTO crm.loyalty_tiers VALUES ('club', 4, '', 5000, 1, NULL)$$);
SELECT * FROM public.error_of($$INSERT INTO crm.loyalty_tiers VALUES ('club', 4, 'Gold', 5000, 1, NULL)$$);
SELECT * FROM public.error_of($$INSERT INTO crm.loyalty_tiers VALUES ('nowhere', 1, 'Member', 0, 1, NULL)$$);
-- A tier added on top, in rank order, is fine; removed again from the top.
INSERT INTO crm.loyalty_tiers VALUES ('club', 4, 'Platinum', 5000, 3, NULL);
DELETE FROM crm.loyalty_tiers WHERE program_id = 'club' AND tier_rank = 4;
SELECT program_id, tier_rank, tier_name, threshold, earn_rate, benefits FROM crm.loyalty_tiers ORDER BY 1, 2;

-- Qualification periods (UTC), by hand.
SELECT w, (p).period_start, (p).previous_start
FROM (VALUES ('calendar_year'), ('anniversary_year'), ('rolling_12_months'), ('lifetime')) AS v (w),
	 LATERAL (SELECT crm.loyalty_period(w, '2021-03-15 10:00+00', '2023-06-30 12:00+00') AS p) AS s;
SELECT (crm.loyalty_period('anniversary_year', '2021-03-15 10:00+00', '2023-03-15 09:59+00')).period_start AS day_before_anniversary;
SELECT * FROM public.error_of($$SELECT crm.loyalty_period('weekly', now(), now())$$);
-- Review dates: anchor + k * every, the latest at or before as_of.
SELECT crm.loyalty_review_date('2000-01-01', '1 year', '2023-06-30') AS yearly,
	   crm.loyalty_review_date('2000-01-01', '1 year', '2024-01-01 00:00+00') AS on_the_day,
	   crm.loyalty_review_date('2000-01-31', '1 month', '2023-03-15') AS monthly_from_31st,
	   crm.loyalty_review_date('2030-04-01', '3 months', '2023-06-30') AS anchor_in_future;

-- 3. Enrolment.
INSERT INTO crm.customers (customer_id, joined_at) VALUES
	(9000001, '2020-01-01'), (9000002, '2020-01-01'), (9000003, '2020-01-01'),
	(9000004, '2020-01-01'), (9000005, '2020-01-01'), (9000006, '2020-01-01'), (9000007, '2020-01-01');
SELECT crm.enrol_member(c, 'club', '2021-03-15 10:00+00') AS enrolled FROM generate_series(9000001, 9000006) AS c;
SELECT crm.enrol_member(9000001, 'club') AS again;
INSERT INTO crm.loyalty_programs (program_id, qualify_on, qualification_window) VALUES ('visits', 'visits', 'rolling_12_months');
SELECT * FROM public.error_of($$SELECT crm.enrol_member(9000001, 'visits')$$);
SELECT * FROM public.error_of($$SELECT crm.enrol_member(1234567890, 'club')$$);
SELECT * FROM public.error_of($$SELECT crm.enrol_member(9000007, 'nowhere')$$);
SELECT * FROM public.error_of($$SELECT crm.enrol_member(NULL, 'club')$$);
SELECT * FROM public.error_of($$SELECT crm.enrol_member(9000007, 'club', 'infinity')$$);
SELECT customer_id, program_id, tier_rank FROM crm.loyalty_members ORDER BY 1;

-- 4. The points ledger.
-- Earn: one lot; replaying the same event five times awards once.
SELECT (crm.earn_points(9000001, 100, 'order-1')).points;
SELECT count(DISTINCT (crm.earn_points(9000001, 100, 'order-1')).movement_id) AS distinct_movements
FROM generate_series(1, 5);
SELECT count(*) AS earn_rows, crm.points_balance(9000001) AS balance
FROM crm.points_ledger WHERE customer_id = 9000001;
-- Lots expiring at different times: redemptions take the oldest-expiring first.
SELECT (crm.earn_points(9000001, 50, 'order-2', now() + interval '30 days')).points;
SELECT (crm.earn_points(9000001, 70, 'order-3', now() + interval '400 days')).points;
SELECT crm.points_balance(9000001) AS balance;
SELECT (crm.redeem_points(9000001, 80, 'basket-1')).points;
SELECT idempotency_key AS lot, remaining, status FROM crm.points_lots AS l
JOIN crm.points_ledger AS g ON g.movement_id = l.lot_id
WHERE l.customer_id = 9000001 ORDER BY l.lot_id;
-- Short balance: RC001, and nothing written.
SELECT * FROM public.error_of($$SELECT crm.redeem_points(9000001, 141, 'basket-2')$$);
SELECT count(*) AS movements, crm.points_balance(9000001) AS balance FROM crm.points_ledger WHERE customer_id = 9000001;
-- The whole balance can be spent; replaying the redemption spends nothing more.
SELECT (crm.redeem_points(9000001, 140, 'basket-2')).points;
SELECT (crm.redeem_points(9000001, 140, 'basket-2')).points AS replayed, crm.points_balance(9000001) AS balance;
SELECT * FROM public.error_of($$SELECT crm.redeem_points(9000001, 1, 'basket-3')$$);
-- Keys reused with other arguments, and other bad input.
SELECT * FROM public.error_of($$SELECT crm.earn_points(9000001, 101, 'order-1')$$);
-- (The same key for another member is another movement: section 11.)
SELECT * FROM public.error_of($$SELECT crm.redeem_points(9000001, 10, 'basket-2')$$);
SELECT * FROM public.error_of($$SELECT crm.earn_points(9000007, 100, 'order-x')$$);
SELECT * FROM public.error_of($$SELECT crm.redeem_points(1234567890, 1, 'basket-x')$$);
SELECT * FROM public.error_of($$SELECT crm.earn_points(9000002, 0, 'order-x')$$);
SELECT * FROM public.error_of($$SELECT crm.earn_points(9000002, -5, 'order-x')$$);
SELECT * FROM public.error_of($$SELECT crm.earn_points(9000002, 1000000000001, 'order-x')$$);
SELECT * FROM public.error_of($$SELECT crm.earn_points(9000002, NULL, 'order-x')$$);
SELECT * FROM public.error_of($$SELECT crm.earn_points(9000002, 5, NULL)$$);
SELECT * FROM public.error_of($$SELECT crm.earn_points(9000002, 5, '  ')$$);
SELECT * FROM public.error_of($$SELECT crm.earn_points(9000002, 5, 'order-x', '2001-01-01 00:00+00')$$);
SELECT * FROM public.error_of($$SELECT crm.earn_points(9000002, 5, 'order-x', '2100-01-01 00:00+00', '2200-01-01 00:00+00')$$);
SELECT * FROM public.error_of($$SELECT crm.earn_points(9000002, 5, 'order-x', 'infinity', 'infinity')$$);
SELECT * FROM public.error_of($$SELECT crm.redeem_points(9000002, 0, 'basket-x')$$);
SELECT * FROM public.error_of($$SELECT crm.redeem_points(9000002, NULL, 'basket-x')$$);
SELECT crm.points_balance(1234567890) AS not_a_member, crm.points_balance(NULL) IS NULL AS null_member;

-- Pending points (return window) are not spendable; a clawback takes them
-- back from the purchase's own lot first, and never more than is there.
SELECT (crm.earn_points(9000002, 200, 'order-10', NULL, now() + interval '14 days')).points;
SELECT (crm.earn_points(9000002, 30, 'order-11')).points;
SELECT crm.points_balance(9000002) AS balance;
SELECT * FROM public.error_of($$SELECT crm.redeem_points(9000002, 31, 'basket-10')$$);
SELECT points, requested FROM crm.claw_back_points(9000002, 120, 'return-10', 'order-10');
SELECT idempotency_key AS lot, remaining, status FROM crm.points_lots AS l
JOIN crm.points_ledger AS g ON g.movement_id = l.lot_id
WHERE l.customer_id = 9000002 ORDER BY l.lot_id;
-- Without an earn key: oldest-expiring available lots only; capped at the balance.
SELECT points, requested FROM crm.claw_back_points(9000002, 50, 'return-11');
SELECT points, requested FROM crm.claw_back_points(9000002, 50, 'return-11');
SELECT crm.points_balance(9000002) AS balance;
SELECT * FROM public.error_of($$SELECT crm.claw_back_points(9000002, 5, 'return-12', 'no-such-order')$$);
SELECT * FROM public.error_of($$SELECT crm.claw_back_points(9000002, 5, 'return-12', 'order-1')$$);
SELECT * FROM public.error_of($$SELECT crm.claw_back_points(9000002, 0, 'return-12')$$);

-- Adjustments: either sign, with a reason; negative ones cannot overdraw.
SELECT kind, points FROM crm.adjust_points(9000003, 40, 'goodwill-1', 'late delivery');
SELECT kind, points FROM crm.adjust_points(9000003, -15, 'fix-1', 'double booking');
SELECT kind, points FROM crm.adjust_points(9000003, -15, 'fix-1', 'double booking');
SELECT * FROM public.error_of($$SELECT crm.adjust_points(9000003, -26, 'fix-2', 'too much')$$);
SELECT * FROM public.error_of($$SELECT crm.adjust_points(9000003, 0, 'fix-3', 'nothing')$$);
SELECT * FROM public.error_of($$SELECT crm.adjust_points(9000003, 5, 'fix-3', NULL)$$);
SELECT * FROM public.error_of($$SELECT crm.adjust_points(9000003, 5, 'fix-1', 'reused')$$);
SELECT crm.points_balance(9000003) AS balance, (SELECT count(*) FROM crm.points_adjustment_reasons) AS reasons;

-- Expiry: a lot lapses; the balance drops at once, the sweep writes the
-- remainder off once, and a second sweep finds nothing.
SELECT (crm.earn_points(9000004, 25, 'short-1', now() + interval '50 milliseconds')).points;
SELECT (crm.earn_points(9000004, 10, 'long-1')).points;
SELECT (crm.redeem_points(9000004, 5, 'early-1')).points;
SELECT pg_sleep(0.2);
SELECT crm.points_balance(9000004) AS balance;
SELECT * FROM public.error_of($$SELECT crm.redeem_points(9000004, 11, 'late-1')$$);
SELECT job, lots_expired, points_expired FROM crm.expire_points();
SELECT job, lots_expired, points_expired FROM crm.expire_points();
SELECT kind, points, running_balance FROM crm.points_statement WHERE customer_id = 9000004 ORDER BY movement_id;
SELECT crm.points_balance(9000004) AS balance;

-- The ledger is append-only.
SELECT * FROM public.error_of($$UPDATE crm.points_ledger SET points = 1000 WHERE customer_id = 9000001$$);
SELECT * FROM public.error_of($$DELETE FROM crm.points_ledger WHERE customer_id = 9000001$$);
SELECT * FROM public.error_of($$TRUNCATE crm.points_ledger CASCADE$$);
SELECT * FROM public.error_of($$DELETE FROM crm.points_allocations$$);
SELECT * FROM public.error_of($$UPDATE crm.points_accounts SET ledger_total = -1 WHERE customer_id = 9000001$$);

-- Consistency of everything above: account totals equal the ledger sums,
-- no lot is over-consumed, every spending movement's allocations add up.
SELECT (SELECT count(*) FROM crm.points_accounts AS a
		WHERE a.ledger_total <> (SELECT coalesce(sum(l.points), 0) FROM crm.points_ledger AS l WHERE l.customer_id = a.customer_id)) AS totals_off,
	   (SELECT count(*) FROM crm.points_lots WHERE remaining < 0) AS overdrawn_lots,
	   (SELECT count(*) FROM crm.points_ledger AS l
		WHERE l.points < 0 AND -l.points <> (SELECT sum(a.points) FROM crm.points_allocations AS a WHERE a.movement_id = l.movement_id)) AS allocations_off;

-- 5. Points for purchases: earn rate of the tier, pending through the return
-- window, a return claws back; replays award once.
INSERT INTO crm.transactions (transaction_id, customer_id, occurred_at, amount) VALUES
	('L-1', 9000005, now() - interval '30 days', 99.90),
	('L-2', 9000005, now() - interval '1 day', 250.00),
	('L-3', 9000005, now(), -50.00),
	('L-5', 9000005, now(), 0.50);
INSERT INTO crm.anonymous_transactions (transaction_id, occurred_at, amount) VALUES ('L-4', now(), 80.00);
SELECT t, (m).kind, (m).points, (m).requested, (m).available_at > now() AS pending
FROM unnest(ARRAY['L-1', 'L-2', 'L-3', 'L-4', 'L-5', 'L-1', 'L-2', 'L-3']) WITH ORDINALITY AS u (t, n),
	 LATERAL (SELECT crm.award_transaction_points(t) AS m) AS s
ORDER BY n;
SELECT * FROM public.error_of($$SELECT crm.award_transaction_points('no-such-order')$$);
SELECT crm.points_balance(9000005) AS balance,
	   (SELECT sum(points) FROM crm.points_ledger WHERE customer_id = 9000005) AS ledger_sum;

-- 6. Tier review.  Member 9000001..9000006 of club (calendar year, net
-- spend, tiers 0 / 500 / 2000, yearly reviews on 1 January, soft landing).
INSERT INTO crm.transactions (transaction_id, customer_id, occurred_at, amount) VALUES
	('T-1', 9000001, '2022-05-01', 2500.00),			-- Gold in 2022
	('T-2', 9000002, '2022-05-01', 2500.00),			-- Gold in 2022 ...
	('T-3', 9000002, '2023-02-01', 600.00),				-- ... Silver-level in 2023
	('T-4', 9000003, '2023-03-01', 400.00),
	('T-5', 9000003, '2023-04-01', 150.00),				-- Silver in 2023 (550)
	('T-6', 9000004, '2023-03-01', 800.00),
	('T-7', 9000004, '2023-03-05', -400.00),			-- a return: 400 net, Member
	('T-8', 9000006, '2021-12-31 23:59:59+00', 5000.00);	-- Gold in 2021 only
-- As of mid-2023 (no review date passed since 2023-01-01 was never applied:
-- the first run applies it).
SELECT job, program_id, review_at, members, upgrades, downgrades FROM crm.review_tiers('2023-06-30 00:00+00');
SELECT customer_id, tier_rank FROM crm.loyalty_members ORDER BY 1;
-- Later in 2023: no review date due, so only upgrades (none).
SELECT job, program_id, review_at, members, upgrades, downgrades FROM crm.review_tiers('2023-09-30 00:00+00');
-- Review of 1 January 2024: the better of 2023 and 2024-to-date counts.
-- 9000001 (Gold, nothing in 2023) drops one rank only (soft landing).
SELECT job, program_id, review_at, members, upgrades, downgrades FROM crm.review_tiers('2024-01-01 00:00+00');
SELECT customer_id, tier_rank FROM crm.loyalty_members ORDER BY 1;
-- The same review date is applied once.
SELECT job, program_id, review_at, members, upgrades, downgrades FROM crm.review_tiers('2024-01-02 00:00+00');
-- The metrics the runs saw, against plain SQL over crm.transactions.
SELECT c.customer_id, c.qualifying_metric,
	   greatest((SELECT coalesce(sum(amount), 0) FROM crm.transactions WHERE customer_id = c.customer_id
				 AND occurred_at >= date_trunc('year', r.as_of) AND occurred_at <= r.as_of),
				(SELECT coalesce(sum(amount), 0) FROM crm.transactions WHERE customer_id = c.customer_id
				 AND occurred_at >= date_trunc('year', r.as_of) - interval '1 year' AND occurred_at < date_trunc('year', r.as_of))) AS plain_sql,
	   c.from_rank, c.to_rank, r.as_of
FROM crm.loyalty_tier_changes AS c JOIN crm.loyalty_runs AS r USING (run_id)
ORDER BY r.run_id, c.customer_id;
-- Hard landing and a grace period: a tier reached within 400 days of the
-- review is kept.
UPDATE crm.loyalty_programs SET soft_landing = false, grace_period = '400 days' WHERE program_id = 'club';
SELECT job, program_id, review_at, members, upgrades, downgrades FROM crm.review_tiers('2025-01-01 00:00+00');
UPDATE crm.loyalty_programs SET grace_period = '0' WHERE program_id = 'club';
SELECT job, program_id, review_at, members, upgrades, downgrades FROM crm.review_tiers('2026-01-01 00:00+00');
SELECT customer_id, tier_rank FROM crm.loyalty_members ORDER BY 1;
SELECT * FROM public.error_of($$SELECT crm.review_tiers('infinity')$$);
SELECT * FROM public.error_of($$SELECT crm.review_tiers(NULL)$$);
SELECT * FROM public.error_of($$SELECT crm.review_tiers('2025-06-30 00:00+00')$$);
SELECT * FROM public.error_of($$SELECT crm.review_tiers(now(), 'nowhere')$$);

-- A visits program on a rolling 12 months: distinct purchase days count,
-- returns do not.
INSERT INTO crm.loyalty_tiers VALUES ('visits', 1, 'Regular', 0, 1, NULL), ('visits', 2, 'Frequent', 3, 1, NULL);
SELECT crm.enrol_member(9000007, 'visits', '2023-01-01');
INSERT INTO crm.transactions (transaction_id, customer_id, occurred_at, amount) VALUES
	('V-1', 9000007, '2023-05-01 09:00+00', 10), ('V-2', 9000007, '2023-05-01 17:00+00', 10),
	('V-3', 9000007, '2023-05-02 09:00+00', 10), ('V-4', 9000007, '2023-05-03 09:00+00', -10),
	('V-5', 9000007, '2022-04-01 09:00+00', 10), ('V-6', 9000007, '2023-06-01 09:00+00', 10);
SELECT crm.loyalty_metric(9000007, 'visits', p.period_start, p.previous_start, '2023-05-31 00:00+00') AS visits_may,
	   crm.loyalty_metric(9000007, 'visits', p2.period_start, p2.previous_start, '2023-06-30 00:00+00') AS visits_june
FROM crm.loyalty_period('rolling_12_months', '2023-01-01', '2023-05-31 00:00+00') AS p,
	 crm.loyalty_period('rolling_12_months', '2023-01-01', '2023-06-30 00:00+00') AS p2;
SELECT job, program_id, review_at, members, upgrades, downgrades FROM crm.review_tiers('2023-06-30 00:00+00', 'visits');
SELECT customer_id, tier_rank FROM crm.loyalty_members WHERE program_id = 'visits';

-- Points as the metric: earned minus clawed back (lifetime here).
SELECT crm.loyalty_metric(9000001, 'points', '-infinity', '-infinity', now()) AS points_9000001,
	   crm.loyalty_metric(9000002, 'points', '-infinity', '-infinity', now()) AS points_9000002;

-- 7. Jobs: without pg_cron in this database, the same 55000 guidance as the
-- refresh, naming the job (message and hint depend on whether pg_cron is
-- preloaded; test/integration/points_concurrency.sh schedules for real).
SELECT state, hint LIKE '%crm.schedule_tier_review()%'
			  OR hint LIKE '%retail_crm_tier_review_contrib_regression%crm.review_tiers()%' AS names_the_job
FROM public.error_of($$SELECT crm.schedule_tier_review()$$);
SELECT state, hint LIKE '%crm.schedule_points_expiry()%'
			  OR hint LIKE '%retail_crm_points_expiry_contrib_regression%crm.expire_points()%' AS names_the_job
FROM public.error_of($$SELECT crm.schedule_points_expiry('15 4 * * *')$$);
SELECT * FROM public.error_of($$SELECT crm.schedule_tier_review(NULL)$$);
SELECT crm.unschedule_tier_review();
SELECT crm.unschedule_points_expiry();

-- 8. Views.  A lot that lapses in 45 days shows in the 60- and 90-day columns.
SELECT (crm.earn_points(9000006, 12, 'soon-1', now() + interval '45 days')).points;
SELECT * FROM crm.loyalty_tier_summary ORDER BY program_id, tier_rank;
SELECT run_id, program_id, review_at, from_tier, to_tier, direction, members
FROM crm.loyalty_tier_movements ORDER BY run_id, from_rank, to_rank;
SELECT * FROM crm.points_liability ORDER BY program_id;
SELECT movement_id - min(movement_id) OVER () AS n, kind, points, running_balance, requested, idempotency_key
FROM crm.points_statement WHERE customer_id = 9000001 ORDER BY movement_id;

-- 9. Roles: analysts read the loyalty views, not the adjustment reasons,
-- and cannot move points; admins can.
SET ROLE crm_analyst;
SELECT count(*) > 0 AS reads_tiers FROM crm.loyalty_tier_summary;
SELECT count(*) > 0 AS reads_statement FROM crm.points_statement;
SELECT crm.points_balance(9000001) AS analyst_reads_balance;
SELECT * FROM public.error_of($$SELECT reason FROM crm.points_adjustment_reasons$$);
SELECT * FROM public.error_of($$SELECT crm.earn_points(9000001, 10, 'analyst-1')$$);
SELECT * FROM public.error_of($$SELECT crm.review_tiers()$$);
SELECT * FROM public.error_of($$INSERT INTO crm.loyalty_tiers VALUES ('club', 4, 'Platinum', 5000, 3, NULL)$$);
RESET ROLE;
SET ROLE crm_admin;
SELECT (crm.earn_points(9000001, 10, 'admin-1')).points AS admin_earns;
SELECT count(*) AS admin_reads_reasons FROM crm.points_adjustment_reasons;
RESET ROLE;

-- 10. Every tier review above left its one stage in crm.work_stages (the
-- progress other sessions watch while it runs): the members it evaluated.
SELECT count(*) AS reviews, count(*) FILTER (WHERE w.rows_done = r.members) AS members_counted,
	   count(*) FILTER (WHERE w.finished_at >= w.started_at AND w.stage = 'members') AS timed
FROM crm.loyalty_runs AS r
JOIN crm.work_stages AS w ON w.command = 'tier review' AND w.run_id = r.run_id
WHERE r.job = 'tier_review';
SELECT count(*) AS reviews_without_stage
FROM crm.loyalty_runs AS r
WHERE r.job = 'tier_review'
  AND NOT EXISTS (SELECT 1 FROM crm.work_stages AS w WHERE w.command = 'tier review' AND w.run_id = r.run_id);

-- 11. Idempotency keys are per member: the same key for two members makes
-- two movements (1.1 raised RC002 for the second member); a replay for the
-- same member returns its first movement, or RC002 with other points.
-- Rolled back at the end: later tests count the customers.
BEGIN;
INSERT INTO crm.customers (customer_id, joined_at) VALUES (9000008, '2020-01-01'), (9000009, '2020-01-01');
SELECT crm.enrol_member(c, 'club') AS enrolled FROM generate_series(9000008, 9000009) AS c;
SELECT (crm.earn_points(9000008, 10, 'shared-1')).movement_id AS lot_8 \gset
SELECT (crm.earn_points(9000009, 20, 'shared-1')).movement_id AS lot_9 \gset
SELECT :lot_8 <> :lot_9 AS two_movements,
	   (crm.earn_points(9000009, 20, 'shared-1')).movement_id = :lot_9 AS replay_is_first_movement,
	   (crm.earn_points(9000008, 10, 'shared-1')).movement_id = :lot_8 AS other_replay_is_first_movement;
SELECT * FROM public.error_of($$SELECT crm.earn_points(9000009, 21, 'shared-1')$$);
SELECT (crm.redeem_points(9000008, 4, 'shared-basket')).movement_id AS redeem_8 \gset
SELECT (crm.redeem_points(9000009, 4, 'shared-basket')).points AS redeemed_9;
SELECT (crm.redeem_points(9000009, 4, 'shared-basket')).points AS replayed_9;
SELECT customer_id, kind, points, requested, idempotency_key FROM crm.points_ledger
WHERE idempotency_key LIKE 'shared-%' ORDER BY customer_id, movement_id;
SELECT crm.points_balance(9000008) AS balance_8, crm.points_balance(9000009) AS balance_9;
-- The keys keep each movement with its member: no allocation of another
-- member's lot or for another member's movement, no relation to another
-- member's movement, no adjustment reason on another member's movement, one
-- movement per member, kind and key.
SELECT * FROM public.error_of(format('INSERT INTO crm.points_allocations (customer_id, movement_id, lot_id, points) VALUES (9000008, %s, %s, 1)', :redeem_8, :lot_9));
SELECT * FROM public.error_of(format('INSERT INTO crm.points_allocations (customer_id, movement_id, lot_id, points) VALUES (9000009, %s, %s, 1)', :redeem_8, :lot_9));
SELECT * FROM public.error_of(format($$INSERT INTO crm.points_ledger (customer_id, kind, points, requested, idempotency_key, related_movement_id) VALUES (9000008, 'clawback', 0, 1, 'cross-1', %s)$$, :lot_9));
SELECT * FROM public.error_of(format($$INSERT INTO crm.points_adjustment_reasons (movement_id, customer_id, reason) VALUES (%s, 9000009, 'not hers')$$, :lot_8));
SELECT * FROM public.error_of($$INSERT INTO crm.points_ledger (customer_id, kind, points, requested, idempotency_key) VALUES (9000008, 'redeem', -1, 1, 'shared-basket')$$);
ROLLBACK;
