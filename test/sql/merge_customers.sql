-- crm.merge_customers: everything of the merged customer reaches the kept
-- one, nothing is lost or counted twice, and a replay is safe.
\i test/fixtures/extension.sql
SET timezone = 'UTC';
\set SHOW_CONTEXT never
SET client_min_messages = warning;

-- 920001 is kept: no email, consent on email and sms.  920002 is the
-- duplicate: an email it refused marketing on, a WeChat id it prefers, a
-- birth date, three sales (one a return), a survey answer, a comment, a
-- ticket and loyalty points.
INSERT INTO crm.customers (customer_id, first_name, last_name, birth_date, joined_at) VALUES
	(920001, 'Ann', 'Lee', NULL, '2024-03-01'),
	(920002, 'Ann', 'Lee', '1990-05-01', '2023-06-01'),
	(920003, 'A.', 'Lee', NULL, '2024-06-01'),
	(920004, 'Bo', 'Ek', NULL, '2024-01-01');
-- The kept customer's consents date from its sign-up.
INSERT INTO crm.customer_contacts (customer_id, channel, handle, consent, consent_updated_at, preferred) VALUES
	(920001, 'email', NULL, true, '2024-03-01', false),
	(920001, 'sms', '07700 900555', true, '2024-03-01', false),
	(920002, 'email', 'ann.lee@example.net', false, NULL, false),
	(920002, 'sms', '07700 900999', true, '2023-06-01', false),
	(920002, 'wechat', 'o-ann-lee', true, '2023-06-01', true);
INSERT INTO crm.transactions (transaction_id, customer_id, occurred_at, amount, channel) VALUES
	('MRG-K1', 920001, '2024-04-01', 100.00, 'store'),
	('MRG-K2', 920001, '2024-05-01', 50.00, 'online'),
	('MRG-M1', 920002, '2024-02-01', 30.00, 'store'),
	('MRG-M2', 920002, '2024-02-03', -10.00, 'store'),
	('MRG-M3', 920002, '2024-07-01', 200.00, 'app'),
	('MRG-C1', 920003, '2024-08-01', 75.00, 'store');
INSERT INTO crm.transaction_items (transaction_id, line_no, product_id, quantity, unit_price, customer_id) VALUES
	('MRG-K1', 1, 'P1', 1, 100.00, 920001), ('MRG-M1', 1, 'P1', 1, 20.00, 920002), ('MRG-M1', 2, 'P2', 1, 10.00, 920002);
INSERT INTO crm.survey_responses (customer_id, responded_at, dimension, score, scale_min, scale_max) VALUES
	(920002, '2024-07-02', 'overall', 4, 1, 5);
INSERT INTO crm.feedback (customer_id, received_at, comment) VALUES (920002, '2024-07-02', 'Lovely shop');
INSERT INTO crm.complaint_tickets (ticket_id, customer_id, category, priority, opened_at) VALUES
	(920002, 920002, 'delivery', 'normal', '2024-07-03');

INSERT INTO crm.loyalty_programs (program_id, qualify_on, points_validity) VALUES ('merge_club', 'points', '1 year');
INSERT INTO crm.loyalty_tiers (program_id, tier_rank, tier_name, threshold) VALUES
	('merge_club', 1, 'Member', 0), ('merge_club', 2, 'Gold', 1000);
SELECT crm.enrol_member(920002, 'merge_club', '2024-01-01');
SELECT kind, points FROM crm.earn_points(920002, 300, 'merge-test:earn-1');
SELECT kind, points FROM crm.earn_points(920002, 200, 'merge-test:earn-2', available_at => now() + interval '10 days');
SELECT kind, points FROM crm.redeem_points(920002, 50, 'merge-test:redeem-1');

-- What the two customers hold before, to compare with after.
CREATE TEMP TABLE before_merge AS
SELECT (SELECT count(*) FROM crm.transactions WHERE customer_id IN (920001, 920002)) AS sales,
	   (SELECT sum(amount) FROM crm.transactions WHERE customer_id IN (920001, 920002)) AS net_amount,
	   (SELECT count(*) FROM crm.survey_responses WHERE customer_id IN (920001, 920002)) AS surveys,
	   (SELECT count(*) FROM crm.feedback WHERE customer_id IN (920001, 920002)) AS feedback,
	   (SELECT count(*) FROM crm.complaint_tickets WHERE customer_id IN (920001, 920002)) AS tickets,
	   (SELECT sum(remaining) FROM crm.points_lots WHERE customer_id IN (920001, 920002)) AS points_held,
	   (SELECT crm.points_balance(920001) + crm.points_balance(920002)) AS points_spendable,
	   (SELECT count(*) FROM crm.transactions) AS all_sales,
	   (SELECT sum(amount) FROM crm.transactions) AS all_amount;

SELECT merge_id, keep_id, replayed_at, fields_filled, transactions_moved, survey_responses_moved,
	   feedback_moved, complaint_tickets_moved, points_moved, merged_by = session_user AS by_me
FROM crm.merge_customers(920001, 920002);

-- Nothing lost, nothing counted twice: every figure of the pair is now the
-- kept customer's, and the totals of the tables did not change.
SELECT b.sales = (SELECT count(*) FROM crm.transactions WHERE customer_id = 920001) AS sales_kept,
	   b.net_amount = (SELECT sum(amount) FROM crm.transactions WHERE customer_id = 920001) AS amount_kept,
	   b.surveys = (SELECT count(*) FROM crm.survey_responses WHERE customer_id = 920001) AS surveys_kept,
	   b.feedback = (SELECT count(*) FROM crm.feedback WHERE customer_id = 920001) AS feedback_kept,
	   b.tickets = (SELECT count(*) FROM crm.complaint_tickets WHERE customer_id = 920001) AS tickets_kept,
	   b.points_held = (SELECT sum(remaining) FROM crm.points_lots WHERE customer_id = 920001) AS points_kept,
	   b.points_spendable = crm.points_balance(920001) AS spendable_kept,
	   b.all_sales = (SELECT count(*) FROM crm.transactions) AS no_sale_lost,
	   b.all_amount = (SELECT sum(amount) FROM crm.transactions) AS no_amount_lost
FROM before_merge AS b;
SELECT (SELECT count(*) FROM crm.customers WHERE customer_id = 920002) AS merged_row_left,
	   (SELECT count(*) FROM crm.transactions WHERE customer_id = 920002) AS sales_left,
	   (SELECT count(*) FROM crm.points_lots WHERE customer_id = 920002 AND remaining > 0) AS lots_left,
	   crm.points_balance(920002) AS balance_left;
-- The order lines follow their orders, and stay in the baskets.
SELECT count(*) FILTER (WHERE customer_id = 920001) AS lines_kept, count(*) FILTER (WHERE customer_id = 920002) AS lines_left,
	   (SELECT count(*) FROM crm.basket_items WHERE transaction_id LIKE 'MRG-%') AS basket_lines
FROM crm.transaction_items WHERE transaction_id LIKE 'MRG-%';

-- The ledger stays append-only: each lot was closed on the merged member and
-- reopened on the kept one with the same dates (the pending lot stays pending).
-- A movement relates only to its own member's: the transfer_out to the lot,
-- the transfer_in to nothing; it shares the transfer_out's key.
SELECT l.customer_id, l.kind, l.points, l.requested, r.kind AS related_kind, r.points AS related_points
FROM crm.points_ledger AS l
JOIN crm.points_ledger AS o ON o.kind = 'transfer_out' AND o.idempotency_key = l.idempotency_key
JOIN crm.points_ledger AS r ON r.customer_id = o.customer_id AND r.movement_id = o.related_movement_id
WHERE l.kind IN ('transfer_out', 'transfer_in') AND l.idempotency_key LIKE 'merge:920002:%'
ORDER BY l.movement_id;
SELECT kind, count(*) AS movements, count(related_movement_id) AS related FROM crm.points_ledger
WHERE kind IN ('transfer_out', 'transfer_in') AND idempotency_key LIKE 'merge:920002:%' GROUP BY kind ORDER BY kind;
SELECT i.available_at = o.available_at AND i.expires_at = o.expires_at AS same_dates, i.status
FROM crm.points_lots AS i
JOIN crm.points_ledger AS t ON t.kind = 'transfer_out'
 AND t.idempotency_key = (SELECT n.idempotency_key FROM crm.points_ledger AS n WHERE n.customer_id = i.customer_id AND n.movement_id = i.lot_id)
JOIN crm.points_lots AS o ON o.customer_id = t.customer_id AND o.lot_id = t.related_movement_id
WHERE i.customer_id = 920001 ORDER BY i.lot_id;
-- The person's whole history: the merged member's 3 movements, 2 lots moved
-- out and 2 moved in.
SELECT kind, count(*) AS movements FROM crm.points_statement
WHERE customer_id IN (SELECT crm.customer_ids_merged_into(920001)) GROUP BY kind ORDER BY kind;
-- Account totals still equal the ledger sums.
SELECT a.customer_id, a.ledger_total, a.ledger_total = (SELECT sum(points) FROM crm.points_ledger AS l
														 WHERE l.customer_id = a.customer_id) AS matches_ledger
FROM crm.points_accounts AS a WHERE a.customer_id IN (920001, 920002) ORDER BY 1;

-- The kept customer joined the program; the merged member takes no more
-- movements and is not counted in the tier summary.
SELECT customer_id, program_id, enrolled_at, tier_rank FROM crm.loyalty_members
WHERE customer_id IN (920001, 920002) ORDER BY 1;
SELECT * FROM public.error_of($$SELECT crm.earn_points(920002, 10, 'merge-test:late')$$);
SELECT tier_name, members FROM crm.loyalty_tier_summary WHERE program_id = 'merge_club' ORDER BY tier_rank;

-- The kept customer took the missing birth date, the earlier join date,
-- the missing email and WeChat handles and the preferred channel; the email
-- came with a refusal, so email consent is now off (never widened) and the
-- change is logged as evidence; the WeChat consent of the merged customer
-- is not taken over either.  Its own sms handle and consent stay.
SELECT customer_id, birth_date, joined_at FROM crm.customers WHERE customer_id = 920001;
SELECT channel, handle, consent, preferred FROM crm.customer_contacts WHERE customer_id = 920001 ORDER BY 1;
SELECT channel, granted, source, recorded_at > now() - interval '1 hour' AS dated_now
FROM crm.consent_events
WHERE customer_id = 920001 AND source = 'crm.merge_customers' ORDER BY channel;
SELECT crm.logged_consent(920001, 'email') AS latest_logged_email_answer;
SELECT current_setting('retail_crm.consent_source', true) = '' AS source_reset;
-- Both customers wait for the next incremental refresh.
SELECT array_agg(DISTINCT customer_id ORDER BY customer_id) AS queued
FROM crm.changed_customers WHERE customer_id IN (920001, 920002);

-- A replay moves nothing and changes no count ...
SELECT transactions_moved, points_moved, replayed_at IS NOT NULL AS replayed
FROM crm.merge_customers(920001, 920002);
SELECT (SELECT count(*) FROM crm.transactions WHERE customer_id = 920001) AS sales,
	   (SELECT count(*) FROM crm.points_ledger WHERE idempotency_key LIKE 'merge:920002:%') AS transfer_rows;
-- ... and picks up a sale a late load wrote under the old key.
INSERT INTO crm.transactions (transaction_id, customer_id, occurred_at, amount) VALUES ('MRG-M4', 920002, '2024-09-01', 20);
SELECT transactions_moved, fields_filled FROM crm.merge_customers(920001, 920002);
SELECT customer_id FROM crm.transactions WHERE transaction_id = 'MRG-M4';

-- A chain: 920003 merged into 920001 too.  The points metric of the kept
-- member counts the merged members' earnings.
SELECT transactions_moved, points_moved FROM crm.merge_customers(920001, 920003);
SELECT array_agg(id ORDER BY id) AS merged_into_920001 FROM crm.customer_ids_merged_into(920001) AS id;
SELECT crm.loyalty_metric(920001, 'points', '-infinity', '-infinity', now()) AS points_metric;

-- Refusals.
SELECT * FROM public.error_of($$SELECT crm.merge_customers(NULL, 920004)$$);
SELECT * FROM public.error_of($$SELECT crm.merge_customers(920004, 920004)$$);
SELECT * FROM public.error_of($$SELECT crm.merge_customers(920002, 920004)$$);
SELECT * FROM public.error_of($$SELECT crm.merge_customers(920004, 920002)$$);
SELECT * FROM public.error_of($$SELECT crm.merge_customers(929999, 920004)$$);
SELECT * FROM public.error_of($$SELECT crm.merge_customers(920004, 929999)$$);
SELECT count(*) AS merges_logged FROM crm.customer_merges WHERE keep_id = 920001;

-- Merging touches personal data: crm_admin only.
SET ROLE crm_analyst;
SELECT * FROM public.error_of($$SELECT crm.merge_customers(920001, 920004)$$);
SELECT * FROM public.error_of($$SELECT * FROM crm.customer_merges$$);
RESET ROLE;
SET ROLE crm_admin;
SELECT merge_id, keep_id, transactions_moved FROM crm.merge_customers(920001, 920004);
RESET ROLE;
