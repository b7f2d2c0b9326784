-- data/generate_voice_of_customer.sql
--
-- A generated, reproducible voice-of-the-customer data set over the UCI
-- Online Retail customers already loaded by data/load_online_retail.sql
-- (the shop has no survey or complaint data of its own):
--
--   crm.survey_responses   about one order in five of 2011 is followed by a
--                          survey 1-6 days later: the six retail dimensions
--                          (after-sales answered by 40 % only), the NPS
--                          question 0-10 and the CES question 1-7, on the
--                          scales real questionnaires mix (price on 0-10);
--   crm.complaint_tickets  about one return in three of 2011 becomes a
--   crm.complaint_events   complaint with its status history: first reply,
--                          sometimes pending on the customer, solution,
--                          sometimes a reopening, closing.
--
-- Every random number is a hash of the row's key (md5), so the data is the
-- same on every run and every machine.  Each customer has a mood; for one
-- customer in seven it falls from 2011-09-11 on, so that the satisfaction
-- drop of the last 90 days before 2011-12-10 has something to find.
--
-- Run it with psql from the project root after the Online Retail load.

\set ON_ERROR_STOP on

-- uniform number in [0, 1) from a key
CREATE FUNCTION pg_temp.u(key text) RETURNS double precision
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
AS $$ SELECT ('x' || substr(md5(key), 1, 8))::bit(32)::bigint / 4294967296.0 $$;

BEGIN;

INSERT INTO crm.survey_responses (customer_id, survey_id, transaction_id, channel, store, responded_at,
								  dimension, score, scale_min, scale_max)
WITH surveyed AS (
	SELECT t.transaction_id, t.customer_id, t.occurred_at, c.country,
		   0.35 + 0.5 * pg_temp.u(t.customer_id || ':mood') AS mood,
		   pg_temp.u(t.customer_id || ':falls') < 0.15 AS mood_falls,
		   t.occurred_at + (1 + 5 * pg_temp.u(t.transaction_id || ':delay')) * interval '1 day' AS responded_at
	FROM crm.transactions AS t
	JOIN crm.customers AS c USING (customer_id)
	WHERE t.amount > 0
	  AND t.occurred_at >= '2011-01-01 00:00 Europe/London'
	  AND pg_temp.u(t.transaction_id || ':surveyed') < 0.2
), questions (dimension, scale_min, scale_max, bias, answered) AS (
	VALUES ('product_quality', 1, 5, 0.05, 1.0),
		   ('service_quality', 1, 5, -0.02, 1.0),
		   ('price_fairness', 0, 10, -0.08, 1.0),
		   ('store_environment', 1, 5, 0.03, 1.0),
		   ('after_sales_service', 1, 5, -0.10, 0.4),
		   ('overall', 1, 5, 0.0, 1.0),
		   ('recommend', 0, 10, 0.12, 1.0),
		   ('effort', 1, 7, 0.05, 1.0)
)
SELECT s.customer_id, 'S' || s.transaction_id, s.transaction_id, 'email', s.country, s.responded_at,
	   q.dimension,
	   round(q.scale_min + (q.scale_max - q.scale_min) *
			 greatest(0, least(1, s.mood + q.bias
								  - CASE WHEN s.mood_falls AND s.responded_at >= '2011-09-11 00:00 Europe/London' THEN 0.4 ELSE 0 END
								  + 0.3 * (pg_temp.u(s.transaction_id || ':' || q.dimension) - 0.5)))),
	   q.scale_min, q.scale_max
FROM surveyed AS s
CROSS JOIN questions AS q
WHERE s.responded_at < '2011-12-10 00:00 Europe/London'
  AND pg_temp.u(s.transaction_id || ':answers:' || q.dimension) < q.answered;

WITH returns AS (
	SELECT t.transaction_id, t.customer_id, t.occurred_at, t.amount, c.country
	FROM crm.transactions AS t
	JOIN crm.customers AS c USING (customer_id)
	WHERE t.amount < 0
	  AND t.occurred_at >= '2011-01-01 00:00 Europe/London'
	  AND pg_temp.u(t.transaction_id || ':complaint') < 0.33
), tickets AS (
	INSERT INTO crm.complaint_tickets (customer_id, transaction_id, category, priority, channel, store, opened_at, description)
	SELECT r.customer_id, r.transaction_id,
		   (ARRAY['product', 'product', 'delivery', 'billing', 'service'])[1 + floor(5 * pg_temp.u(r.transaction_id || ':category'))::int],
		   CASE WHEN -r.amount >= 1000 THEN 'urgent' WHEN -r.amount >= 200 THEN 'high'
				WHEN -r.amount >= 30 THEN 'normal' ELSE 'low' END,
		   (ARRAY['email', 'phone', 'email', 'app'])[1 + floor(4 * pg_temp.u(r.transaction_id || ':channel'))::int],
		   r.country,
		   r.occurred_at + interval '1 hour',
		   'Generated complaint about order ' || r.transaction_id || '.'
	FROM returns AS r
	RETURNING ticket_id, transaction_id, opened_at
), timing AS (
	-- first reply after 10 min to 15 h; 30 % wait 1-3 days on the customer;
	-- solution 1-51 h of work later; 10 % reopened a day after, solved again
	SELECT k.ticket_id, k.transaction_id,
		   k.opened_at + (10 + 900 * pg_temp.u(k.transaction_id || ':reply') ^ 2) * interval '1 minute' AS replied_at,
		   pg_temp.u(k.transaction_id || ':pending') < 0.3 AS waits,
		   (1 + 2 * pg_temp.u(k.transaction_id || ':wait')) * interval '1 day' AS wait,
		   (60 + 3000 * pg_temp.u(k.transaction_id || ':work') ^ 2) * interval '1 minute' AS work,
		   pg_temp.u(k.transaction_id || ':reopen') < 0.1 AS reopens
	FROM tickets AS k
), events (ticket_id, occurred_at, status, agent_reply) AS (
	SELECT ticket_id, replied_at, 'open', true FROM timing
	UNION ALL
	SELECT ticket_id, replied_at + interval '30 minutes', 'pending', false FROM timing WHERE waits
	UNION ALL
	SELECT ticket_id, replied_at + interval '30 minutes' + wait, 'open', false FROM timing WHERE waits
	UNION ALL
	-- one reply only (one touch) unless the customer was waited on
	SELECT ticket_id, replied_at + CASE WHEN waits THEN interval '30 minutes' + wait ELSE interval '0' END + work, 'solved', waits FROM timing
	UNION ALL
	SELECT ticket_id, replied_at + CASE WHEN waits THEN interval '30 minutes' + wait ELSE interval '0' END + work + interval '1 day', 'reopened', false FROM timing WHERE reopens
	UNION ALL
	SELECT ticket_id, replied_at + CASE WHEN waits THEN interval '30 minutes' + wait ELSE interval '0' END + work + interval '1 day 4 hours', 'solved', true FROM timing WHERE reopens
	UNION ALL
	SELECT ticket_id, replied_at + CASE WHEN waits THEN interval '30 minutes' + wait ELSE interval '0' END + work + interval '5 days', 'closed', false FROM timing
)
INSERT INTO crm.complaint_events (ticket_id, occurred_at, status, agent_reply)
SELECT e.ticket_id, e.occurred_at, e.status, e.agent_reply
FROM events AS e
WHERE e.occurred_at < '2011-12-10 00:00 Europe/London'
ORDER BY e.ticket_id, e.occurred_at;

COMMIT;

SELECT count(*) AS survey_answers, count(DISTINCT survey_id) AS surveys, count(DISTINCT customer_id) AS customers
FROM crm.survey_responses;
SELECT count(*) AS complaints, (SELECT count(*) FROM crm.complaint_events) AS complaint_events
FROM crm.complaint_tickets;
