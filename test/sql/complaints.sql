-- Complaint tickets: timing from status events with the SLA clock paused
-- while pending or on-hold, SLA breaches, the dashboard, the call list of
-- high-value customers, and who may read what.  Every expected value is
-- worked out by hand in the comments.
\set this_test complaints
\i test/fixtures/earlier_tests.sql
SET timezone = 'UTC';
SET datestyle = 'ISO, YMD';
SET extra_float_digits = 0;
\set SHOW_CONTEXT never
SET client_min_messages = warning;

SELECT * FROM crm.complaint_sla_targets ORDER BY first_reply_minutes;

INSERT INTO crm.complaint_tickets (ticket_id, customer_id, category, priority, channel, store, opened_at, description) VALUES
	(1, 801, 'delivery', 'normal', 'email', 'A', '2024-01-01 09:00', 'Parcel late.'),
	(2, 802, 'product', 'urgent', 'phone', 'A', '2024-01-01 08:00', 'Broken on arrival.'),
	(3, 803, 'billing', 'high', 'app', 'B', '2024-01-01 10:00', 'Charged twice.'),
	(4, 804, 'service', 'low', 'store', 'B', '2024-01-01 00:00', 'Rude staff.'),
	(5, 805, 'service', 'low', 'store', 'B', '2024-01-04 00:00', 'Opened after as_of.');
INSERT INTO crm.complaint_events (ticket_id, occurred_at, status, agent_reply, message) VALUES
	-- 1 (normal): reply after 30 min; pending 10:00 to next day 10:00
	-- (1440 min paused); solved at 11:00: clock 60 + 60 = 120 min
	(1, '2024-01-01 09:30', 'open', true, 'We are looking into it.'),
	(1, '2024-01-01 10:00', 'pending', false, 'Waiting for the tracking number.'),
	(1, '2024-01-02 10:00', 'open', false, NULL),
	(1, '2024-01-02 11:00', 'solved', true, 'Refunded the shipping.'),
	-- 2 (urgent): first reply after 90 min (> 60: breached); solved at
	-- 10:00 (first resolution 120); reopened 12:00, on-hold 13:00-15:00
	-- (120 paused), solved 16:00, closed 17:00: clock 120 + 60 + 60 = 240
	(2, '2024-01-01 09:30', 'open', true, 'Sorry, a replacement is on its way.'),
	(2, '2024-01-01 10:00', 'solved', false, NULL),
	(2, '2024-01-01 12:00', 'reopened', false, 'The replacement is broken too.'),
	(2, '2024-01-01 13:00', 'on-hold', false, 'Asked the supplier.'),
	(2, '2024-01-01 15:00', 'open', false, NULL),
	(2, '2024-01-01 16:00', 'solved', true, 'Full refund.'),
	(2, '2024-01-01 17:00', 'closed', false, NULL),
	-- 3 (high): solved with one reply after 20 min: one touch; a reopening
	-- after as_of is ignored at as_of
	(3, '2024-01-01 10:20', 'solved', true, 'Refunded the double charge.'),
	(3, '2024-01-05 09:00', 'reopened', false, 'Still charged twice.');
	-- 4 (low): nothing happened; at as_of 2024-01-03 00:00 the clock has
	-- run 2880 min: first reply breached (> 1440), resolution not (< 10080)

SELECT * FROM crm.complaint_metrics('2024-01-03 00:00+00');

-- at a later as_of, ticket 3's reopening counts and its clock runs again
-- from 2024-01-05 09:00: 20 + 60 min at 10:00, below the 1440 target;
-- resolution_minutes is NULL while unresolved
SELECT ticket_id, status, resolved, reopens, one_touch, first_resolution_minutes, resolution_minutes, clock_minutes, resolution_breached
FROM crm.complaint_metrics('2024-01-05 10:00+00') WHERE ticket_id = 3;
-- before anything was opened: no rows
SELECT count(*) FROM crm.complaint_metrics('2023-12-31 00:00+00');

-- an event dated before its ticket was opened counts as at opened_at:
-- ticket 6 opened 12:00, solved "11:00" with a reply: 0 min
INSERT INTO crm.complaint_tickets (ticket_id, customer_id, category, priority, opened_at) VALUES
	(6, 806, 'product', 'normal', '2024-01-02 12:00');
INSERT INTO crm.complaint_events (ticket_id, occurred_at, status, agent_reply) VALUES
	(6, '2024-01-02 11:00', 'solved', true);
SELECT ticket_id, status, first_reply_minutes, resolution_minutes, one_touch
FROM crm.complaint_metrics('2024-01-03 00:00+00') WHERE ticket_id = 6;

-- bad events are refused by the table
SELECT * FROM public.error_of($$INSERT INTO crm.complaint_events (ticket_id, occurred_at, status) VALUES (1, '2024-01-03', 'escalated')$$);
SELECT * FROM public.error_of($$INSERT INTO crm.complaint_events (ticket_id, occurred_at) VALUES (1, '2024-01-03')$$);
SELECT * FROM public.error_of($$INSERT INTO crm.complaint_tickets (ticket_id, category, priority, opened_at) VALUES (99, 'x', 'critical', '2024-01-03')$$);
SELECT * FROM public.error_of($$UPDATE crm.complaint_sla_targets SET resolution_minutes = 0 WHERE priority = 'low'$$);

-- The dashboard runs at now(), long after every event: ticket 3 has been
-- reopened for years (breached), ticket 4 still waits, ticket 5 too.
-- Reopen rate = reopened / ever solved: high 1/1 (3), normal 0/2 (1, 6),
-- urgent 1/1 (2).  Normal: first reply (30 + 0) / 2, resolution
-- (120 + 0) / 2, one touch 1 of 2 (6).
SELECT month, priority, tickets, resolved, avg_first_reply_minutes, avg_resolution_minutes,
	   reopen_rate, one_touch_share, first_reply_breaches, resolution_breaches, breach_share, open_breached
FROM crm.complaint_sla_dashboard ORDER BY month, priority;

-- The call list, on a snapshot of four customers as of 2024-03-31 (window
-- 90 days: current from 2024-01-01, previous from 2023-10-03):
--   901 high value: overall 5/5 (100) before, 2/5 (25) now: drop 75
--   902 high value: steady 4/5, an urgent complaint on 2024-03-01 never
--       answered: SLA breach
--   903 low value (m_score 2): a big drop, not listed
--   904 high value: 8 on 0-10 (80) before, 4 on 1-5 (75) now: drop 5 < 10
BEGIN;
DELETE FROM crm.customer_segments;
-- The view shows the published snapshot; rows go into its partition.
INSERT INTO crm.segment_snapshots (snapshot_id, customer_id, as_of, run_id, frequency, monetary, returns, m_score, segment, lifecycle_stage, clv, churn_risk)
SELECT p.snapshot_id, v.* FROM crm.published_snapshot AS p, (VALUES
	(901, timestamptz '2024-03-31', 0, 12, 2400, 0, 5, 'Champions', 'active', 1800, 0.1),
	(902, '2024-03-31', 0, 9, 1500, 1, 5, 'Loyal', 'active', 900, 0.2),
	(903, '2024-03-31', 0, 1, 40, 0, 2, 'Hibernating', 'dormant', 20, 0.8),
	(904, '2024-03-31', 0, 7, 1100, 0, 4, 'Loyal', 'active', 700, 0.3)) AS v;
INSERT INTO crm.survey_responses (customer_id, responded_at, dimension, score, scale_min, scale_max) VALUES
	(901, '2023-11-10', 'overall', 5, 1, 5), (901, '2024-02-10', 'overall', 2, 1, 5),
	(902, '2023-11-10', 'overall', 4, 1, 5), (902, '2024-02-10', 'overall', 4, 1, 5),
	(903, '2023-11-10', 'overall', 5, 1, 5), (903, '2024-02-10', 'overall', 1, 1, 5),
	(904, '2023-11-10', 'overall', 8, 0, 10), (904, '2024-02-10', 'overall', 4, 1, 5),
	(904, '2023-09-01', 'overall', 0, 0, 10);	-- before both windows: ignored
INSERT INTO crm.complaint_tickets (ticket_id, customer_id, category, priority, opened_at) VALUES
	(7, 902, 'product', 'urgent', '2024-03-01 10:00'),
	(8, 901, 'product', 'low', '2023-06-01 10:00');	-- before the window: ignored
SELECT * FROM crm.customer_satisfaction WHERE customer_id > 900 ORDER BY customer_id;
SELECT customer_id, segment, monetary, clv, previous_index, current_index, index_change,
	   complaints, sla_breaches, open_complaints, reason
FROM crm.customers_to_call;

-- Roles: analysts read the views and the non-personal ticket columns, never
-- free text or single answers
SET ROLE crm_analyst;
SELECT count(*) AS dashboard_rows FROM crm.complaint_sla_dashboard;
SELECT count(*) AS metrics_rows FROM crm.complaint_metrics('2024-01-03 00:00+00');
SELECT count(*) AS to_call FROM crm.customers_to_call;
SELECT count(*) AS trend_rows FROM crm.satisfaction_trend;
SELECT * FROM public.error_of($$SELECT description FROM crm.complaint_tickets$$);
SELECT * FROM public.error_of($$SELECT message FROM crm.complaint_events$$);
SELECT * FROM public.error_of($$SELECT comment FROM crm.feedback$$);
SELECT * FROM public.error_of($$SELECT score FROM crm.survey_responses$$);
SELECT * FROM public.error_of($$UPDATE crm.complaint_sla_targets SET first_reply_minutes = 1$$);
SELECT * FROM public.error_of($$UPDATE crm.satisfaction_dimensions SET weight = 1$$);
RESET ROLE;
SET ROLE crm_admin;
INSERT INTO crm.feedback (customer_id, received_at, comment) VALUES (901, '2024-03-30', 'Lovely staff, awful parcel service.');
UPDATE crm.voice_settings SET satisfaction_drop_points = 80;
SELECT count(*) AS to_call_with_drop_80 FROM crm.customers_to_call;
RESET ROLE;
ROLLBACK;

-- What each role may do with the new relations
SELECT r.role, c.relname,
	   has_table_privilege(r.role, c.oid, 'SELECT') AS can_select,
	   has_table_privilege(r.role, c.oid, 'UPDATE') AS can_update
FROM (VALUES ('crm_analyst'), ('crm_admin')) AS r (role)
CROSS JOIN pg_class AS c
WHERE c.relnamespace = 'crm'::regnamespace AND c.relkind IN ('r', 'v')
  AND c.relname ~ '^(complaint|survey|satisfaction|feedback|voice|nps|customer_satisfaction|customers_to_call)'
ORDER BY c.relname, r.role;
