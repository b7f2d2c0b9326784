-- Simulators: crm.bgnbd_simulate and crm.simulate_transactions.
-- Reproducibility, argument checks, and the simulated process against the
-- closed forms of the BG/NBD and Gamma-Gamma models.  Statistical checks are
-- z-tests (|sample mean - expectation| < 4 standard errors) on a few
-- thousand customers, printed as booleans; with fixed seeds they are
-- deterministic, the tolerance only says how far off a correct simulator
-- could plausibly be.
\i test/fixtures/extension.sql

-- A few pinned rows: same seed, same rows on every platform.
SELECT * FROM crm.bgnbd_simulate(5, 52, 0.25, 4, 0.8, 2.5, 42);
SELECT transaction_id, customer_id, occurred_at AT TIME ZONE 'UTC' AS occurred_at_utc, amount, channel, store
FROM crm.simulate_transactions(3, '2024-01-01', '2025-01-01', 7);

-- Same arguments give the same rows; another seed gives other rows.
SELECT (SELECT md5(string_agg(s::text, ',' ORDER BY customer_id))
		FROM crm.bgnbd_simulate(2000, 52, 0.25, 4, 0.8, 2.5, 1) AS s) =
	   (SELECT md5(string_agg(s::text, ',' ORDER BY customer_id))
		FROM crm.bgnbd_simulate(2000, 52, 0.25, 4, 0.8, 2.5, 1) AS s) AS bgnbd_same_seed_same_rows,
	   (SELECT md5(string_agg(s::text, ',' ORDER BY customer_id))
		FROM crm.bgnbd_simulate(2000, 52, 0.25, 4, 0.8, 2.5, 1) AS s) <>
	   (SELECT md5(string_agg(s::text, ',' ORDER BY customer_id))
		FROM crm.bgnbd_simulate(2000, 52, 0.25, 4, 0.8, 2.5, 2) AS s) AS bgnbd_other_seed_other_rows;
SELECT (SELECT md5(string_agg(s::text, ',' ORDER BY transaction_id))
		FROM crm.simulate_transactions(2000, '2023-01-01', '2025-01-01', 1) AS s) =
	   (SELECT md5(string_agg(s::text, ',' ORDER BY transaction_id))
		FROM crm.simulate_transactions(2000, '2023-01-01', '2025-01-01', 1) AS s) AS tx_same_seed_same_rows,
	   (SELECT md5(string_agg(s::text, ',' ORDER BY transaction_id))
		FROM crm.simulate_transactions(2000, '2023-01-01', '2025-01-01', 1) AS s) <>
	   (SELECT md5(string_agg(s::text, ',' ORDER BY transaction_id))
		FROM crm.simulate_transactions(2000, '2023-01-01', '2025-01-01', -1) AS s) AS tx_other_seed_other_rows;

-- A customer's rows depend on the seed and its number only, not on how many
-- customers were asked for; and the session time zone plays no part.
SELECT (SELECT md5(string_agg(s::text, ',' ORDER BY customer_id))
		FROM crm.bgnbd_simulate(3000, 52, 0.25, 4, 0.8, 2.5, 9) AS s WHERE customer_id <= 100) =
	   (SELECT md5(string_agg(s::text, ',' ORDER BY customer_id))
		FROM crm.bgnbd_simulate(100, 52, 0.25, 4, 0.8, 2.5, 9) AS s) AS bgnbd_prefix_stable;
SELECT md5(string_agg(s::text, ',' ORDER BY transaction_id)) AS utc_rows
FROM crm.simulate_transactions(300, '2023-01-01', '2025-01-01', 3) AS s \gset
SET TIME ZONE 'Pacific/Chatham';
SELECT (SELECT md5(string_agg(s::text, ',' ORDER BY transaction_id))
		FROM crm.simulate_transactions(300, '2023-01-01', '2025-01-01', 3) AS s) <> :'utc_rows' AS text_form_follows_time_zone,
	   (SELECT md5(string_agg(concat_ws(',', transaction_id, customer_id, extract(epoch FROM occurred_at), amount, channel, store), ';' ORDER BY transaction_id))
		FROM crm.simulate_transactions(300, '2023-01-01', '2025-01-01', 3) AS s) =
	   (SELECT md5(string_agg(concat_ws(',', transaction_id, customer_id, extract(epoch FROM occurred_at), amount, channel, store), ';' ORDER BY transaction_id))
		FROM crm.simulate_transactions(300, '2023-01-01', '2025-01-01', 3) AS s
		WHERE current_setting('TimeZone') = 'Pacific/Chatham') AS instants_do_not;
RESET TIME ZONE;

-- No customers, no rows; a NULL argument (strict), no rows.
SELECT count(*) AS zero_customers FROM crm.bgnbd_simulate(0, 52, 0.25, 4, 0.8, 2.5, 1);
SELECT count(*) AS zero_customers FROM crm.simulate_transactions(0, '2024-01-01', '2025-01-01', 1);
SELECT count(*) AS null_seed FROM crm.bgnbd_simulate(10, 52, 0.25, 4, 0.8, 2.5, NULL);
SELECT count(*) AS null_day FROM crm.simulate_transactions(10, NULL, '2025-01-01', 1);

-- Bad arguments: 22023 with a hint, 54000 above the caps, 22003 when the
-- spend parameters make an amount overflow.
SELECT e.* FROM (VALUES
	('SELECT * FROM crm.bgnbd_simulate(-1, 52, 0.25, 4, 0.8, 2.5, 1)'),
	('SELECT * FROM crm.bgnbd_simulate(1000000001, 52, 0.25, 4, 0.8, 2.5, 1)'),
	('SELECT * FROM crm.bgnbd_simulate(10, -1, 0.25, 4, 0.8, 2.5, 1)'),
	('SELECT * FROM crm.bgnbd_simulate(10, ''NaN'', 0.25, 4, 0.8, 2.5, 1)'),
	('SELECT * FROM crm.bgnbd_simulate(10, ''Infinity'', 0.25, 4, 0.8, 2.5, 1)'),
	('SELECT * FROM crm.bgnbd_simulate(10, 52, 0, 4, 0.8, 2.5, 1)'),
	('SELECT * FROM crm.bgnbd_simulate(10, 52, 0.25, -4, 0.8, 2.5, 1)'),
	('SELECT * FROM crm.bgnbd_simulate(10, 52, 0.25, ''Infinity'', 0.8, 2.5, 1)'),
	('SELECT * FROM crm.bgnbd_simulate(10, 52, 0.25, 4, ''NaN'', 2.5, 1)'),
	('SELECT * FROM crm.bgnbd_simulate(10, 52, 0.25, 4, 0.8, 1e13, 1)'),
	('SELECT * FROM crm.bgnbd_simulate(10, 52, 0.25, 4, 0.8, 2.5, 1, -1)'),
	('SELECT * FROM crm.bgnbd_simulate(10, 52, 0.25, 4, 0.8, 2.5, 1, 53)')
) AS c (statement), LATERAL public.error_of(c.statement) AS e;
SELECT e.* FROM (VALUES
	('SELECT * FROM crm.simulate_transactions(-1, ''2024-01-01'', ''2025-01-01'', 1)'),
	('SELECT * FROM crm.simulate_transactions(2000000000, ''2024-01-01'', ''2025-01-01'', 1)'),
	('SELECT * FROM crm.simulate_transactions(10, ''2024-01-01'', ''2024-01-01'', 1)'),
	('SELECT * FROM crm.simulate_transactions(10, ''2025-01-01'', ''2024-01-01'', 1)'),
	('SELECT * FROM crm.simulate_transactions(10, ''-infinity'', ''2024-01-01'', 1)'),
	('SELECT * FROM crm.simulate_transactions(10, ''2024-01-01'', ''infinity'', 1)'),
	('SELECT * FROM crm.simulate_transactions(10, ''2024-01-01'', ''294277-01-02'', 1)'),
	('SELECT * FROM crm.simulate_transactions(10, ''2024-01-01'', ''2025-01-01'', 1, r => -0.25)'),
	('SELECT * FROM crm.simulate_transactions(10, ''2024-01-01'', ''2025-01-01'', 1, b => 0)'),
	('SELECT * FROM crm.simulate_transactions(10, ''2024-01-01'', ''2025-01-01'', 1, spend_p => ''Infinity'')'),
	('SELECT * FROM crm.simulate_transactions(10, ''2024-01-01'', ''2025-01-01'', 1, spend_q => 0)'),
	('SELECT * FROM crm.simulate_transactions(10, ''2024-01-01'', ''2025-01-01'', 1, spend_v => ''NaN'')'),
	('SELECT * FROM crm.simulate_transactions(10, ''2024-01-01'', ''2025-01-01'', 1, return_share => 1)'),
	('SELECT * FROM crm.simulate_transactions(10, ''2024-01-01'', ''2025-01-01'', 1, return_share => -0.01)'),
	('SELECT * FROM crm.simulate_transactions(10, ''2024-01-01'', ''2025-01-01'', 1, return_share => ''NaN'')'),
	('SELECT * FROM crm.simulate_transactions(10, ''2024-01-01'', ''2025-01-01'', 1, channels => 0)'),
	('SELECT * FROM crm.simulate_transactions(10, ''2024-01-01'', ''2025-01-01'', 1, channels => 9)'),
	('SELECT * FROM crm.simulate_transactions(10, ''2024-01-01'', ''2025-01-01'', 1, stores => 0)'),
	('SELECT * FROM crm.simulate_transactions(10, ''2024-01-01'', ''2025-01-01'', 1, stores => 100000)'),
	('SELECT * FROM crm.simulate_transactions(10, ''2024-01-01'', ''2025-01-01'', 1, spend_q => 1e-12)')
) AS c (statement), LATERAL public.error_of(c.statement) AS e;

-- bgnbd_simulate: the summary is well formed, and t_spread spreads T.
SELECT bool_and(frequency >= 0) AS frequency_ok,
	   bool_and(recency >= 0 AND recency <= t) AS recency_within_t,
	   bool_and((frequency = 0) = (recency = 0)) AS recency_zero_iff_no_repeat,
	   bool_and(t >= 30 AND t <= 52) AS t_within_spread,
	   min(t) < 31 AND max(t) > 51 AS t_spread_used
FROM crm.bgnbd_simulate(3000, 52, 0.25, 4, 0.8, 2.5, 5, t_spread => 22);

-- No dropout (b huge): X(t) is Poisson given lambda, E[X(t)] = r/alpha*t.
SELECT abs(avg(frequency) - 2.0 / 4 * 20) < 4 * stddev(frequency) / sqrt(count(*)) AS mean_is_r_over_alpha_t
FROM crm.bgnbd_simulate(4000, 20, 2, 4, 1, 1e9, 11);

-- P(X(t) = 0) = (alpha/(alpha+t))^r: no dropout can come before the first
-- repeat purchase, so only the Poisson process matters.
SELECT abs(avg((frequency = 0)::int) - (4 / (4 + 52.0)) ^ 0.25)
		 < 4 * sqrt((4 / (4 + 52.0)) ^ 0.25 * (1 - (4 / (4 + 52.0)) ^ 0.25) / count(*)) AS p_zero_matches
FROM crm.bgnbd_simulate(4000, 52, 0.25, 4, 0.8, 2.5, 12);

-- With dropout, E[X(t)] = (a+b-1)/(a-1) * [1 - (alpha/(alpha+t))^r * 2F1(r, b; a+b-1; t/(alpha+t))]
-- (Fader, Hardie & Lee 2005, eq. 9); the series of 2F1 summed in SQL.
-- r = 0.5, alpha = 2, a = 1.5, b = 3, t = 30.
WITH RECURSIVE series (k, term, total) AS (
	SELECT 0, 1.0::double precision, 1.0::double precision
	UNION ALL
	SELECT k + 1, term * (0.5 + k) * (3 + k) / ((3.5 + k) * (k + 1)) * (30 / 32.0), total + term * (0.5 + k) * (3 + k) / ((3.5 + k) * (k + 1)) * (30 / 32.0)
	FROM series WHERE k < 2000
), expected AS (
	SELECT 3.5 / 0.5 * (1 - (2 / 32.0) ^ 0.5 * total) AS mean FROM series WHERE k = 2000
)
SELECT abs(avg(s.frequency) - e.mean) < 4 * stddev(s.frequency) / sqrt(count(*)) AS mean_with_dropout_matches
FROM crm.bgnbd_simulate(4000, 30, 0.5, 2, 1.5, 3, 13) AS s, expected AS e
GROUP BY e.mean;

-- simulate_transactions: rows fit crm.transactions, ids are unique, every row
-- lies in [first_day, last_day), every customer has a first purchase.
BEGIN;
INSERT INTO crm.transactions
SELECT * FROM crm.simulate_transactions(3000, '2023-01-01', '2025-01-01', 21);
SELECT count(DISTINCT customer_id) = 3000 AS every_customer_bought,
	   count(*) FILTER (WHERE transaction_id ~ '^C[0-9]{10}-[0-9]{6}$') = count(*) FILTER (WHERE amount > 0) AS purchase_ids,
	   count(*) FILTER (WHERE transaction_id ~ '^C[0-9]{10}-[0-9]{6}R$') = count(*) FILTER (WHERE amount < 0) AS return_ids,
	   bool_and(occurred_at >= '2023-01-01 00:00+00' AND occurred_at < '2025-01-01 00:00+00') AS within_window,
	   bool_and(amount = round(amount, 2) AND amount <> 0) AS cents,
	   array_agg(DISTINCT channel ORDER BY channel) AS channels,
	   count(DISTINCT store) AS stores,
	   min(store) AS first_store, max(store) AS last_store
FROM crm.transactions;
-- Each return is negative, 1 to 14 days after its purchase, takes back part
-- or all of it, in the same channel and store.
SELECT count(*) > 0 AS some_returns,
	   bool_and(r.amount < 0 AND -r.amount <= p.amount) AS part_or_all,
	   count(*) FILTER (WHERE -r.amount = p.amount) > 0 AS some_full,
	   count(*) FILTER (WHERE -r.amount < p.amount) > 0 AS some_partial,
	   bool_and(r.occurred_at - p.occurred_at BETWEEN '1 day' AND '14 days') AS a_few_days_later,
	   bool_and(r.customer_id = p.customer_id AND r.channel = p.channel AND r.store = p.store) AS same_place
FROM crm.transactions AS r
JOIN crm.transactions AS p ON p.transaction_id = rtrim(r.transaction_id, 'R')
WHERE r.amount < 0;
ROLLBACK;

-- Returns: about return_share of purchases (a few fall after last_day and
-- are dropped, hence the one-sided slack).
SELECT count(*) FILTER (WHERE amount < 0)::double precision / count(*) FILTER (WHERE amount > 0)
		 BETWEEN 0.2 - 0.01 - 4 * sqrt(0.2 * 0.8 / count(*) FILTER (WHERE amount > 0))
			 AND 0.2 + 4 * sqrt(0.2 * 0.8 / count(*) FILTER (WHERE amount > 0)) AS return_share_matches
FROM crm.simulate_transactions(3000, '2023-01-01', '2025-01-01', 22, return_share => 0.2);

-- Amounts: E[amount] = spend_p * spend_v / (spend_q - 1).  First purchases
-- are independent across customers, so their mean gets a z-test; the mean
-- over all purchases (correlated within a customer) a 5 % band.
SELECT abs(avg(amount) FILTER (WHERE transaction_id LIKE '%-000001') - 6 * 15 / 2.8)
		 < 4 * stddev(amount) FILTER (WHERE transaction_id LIKE '%-000001') / sqrt(3000) AS first_amount_mean_matches,
	   abs(avg(amount) FILTER (WHERE amount > 0) / (6 * 15 / 2.8) - 1) < 0.05 AS amount_mean_matches
FROM crm.simulate_transactions(3000, '2023-01-01', '2025-01-01', 23);

-- Purchase counts: first purchase uniform in a window of w = 104.4 weeks,
-- then without dropout Poisson(lambda * exposure), exposure uniform in
-- (0, w): E[purchases] = 1 + r/alpha * w/2.
SELECT abs(avg(n) - (1 + 2.0 / 4 * (731 / 7.0) / 2)) < 4 * stddev(n) / sqrt(count(*)) AS purchases_per_week_rate
FROM (SELECT customer_id, count(*) AS n
	  FROM crm.simulate_transactions(3000, '2023-01-01', '2025-01-01', 24, r => 2, alpha => 4, b => 1e9, return_share => 0)
	  GROUP BY customer_id) AS per_customer;

-- One channel and one store: everything in 'store' at S001.
SELECT array_agg(DISTINCT channel) AS channels, array_agg(DISTINCT store) AS stores
FROM crm.simulate_transactions(50, '2024-01-01', '2025-01-01', 1, channels => 1, stores => 1);
-- Channel shares follow the weights 1, 1/2, 1/3 (6/11, 3/11, 2/11).
SELECT channel, abs(count(*)::double precision / sum(count(*)) OVER () -
		   CASE channel WHEN 'store' THEN 6 / 11.0 WHEN 'online' THEN 3 / 11.0 ELSE 2 / 11.0 END) < 0.02 AS share_matches
FROM crm.simulate_transactions(3000, '2023-01-01', '2025-01-01', 25)
WHERE amount > 0 GROUP BY channel ORDER BY channel;

-- mbgnbd_simulate and pareto_nbd_simulate share bgnbd_simulate's body:
-- pinned rows, same seed same rows, a customer's row independent of how
-- many were asked for, the same argument checks.
SELECT * FROM crm.mbgnbd_simulate(5, 52, 0.25, 4, 0.8, 2.5, 42);
SELECT * FROM crm.pareto_nbd_simulate(5, 52, 0.55, 10.5, 0.6, 12, 42);
SELECT (SELECT md5(string_agg(s::text, ',' ORDER BY customer_id)) FROM crm.mbgnbd_simulate(2000, 52, 0.25, 4, 0.8, 2.5, 1) AS s) =
	   (SELECT md5(string_agg(s::text, ',' ORDER BY customer_id)) FROM crm.mbgnbd_simulate(2000, 52, 0.25, 4, 0.8, 2.5, 1) AS s) AS mbgnbd_same_seed_same_rows,
	   (SELECT md5(string_agg(s::text, ',' ORDER BY customer_id)) FROM crm.pareto_nbd_simulate(2000, 52, 0.55, 10.5, 0.6, 12, 1) AS s) =
	   (SELECT md5(string_agg(s::text, ',' ORDER BY customer_id)) FROM crm.pareto_nbd_simulate(2000, 52, 0.55, 10.5, 0.6, 12, 1) AS s) AS pareto_same_seed_same_rows,
	   (SELECT md5(string_agg(s::text, ',' ORDER BY customer_id)) FROM crm.pareto_nbd_simulate(2000, 52, 0.55, 10.5, 0.6, 12, 1) AS s) <>
	   (SELECT md5(string_agg(s::text, ',' ORDER BY customer_id)) FROM crm.pareto_nbd_simulate(2000, 52, 0.55, 10.5, 0.6, 12, 2) AS s) AS pareto_other_seed_other_rows,
	   (SELECT md5(string_agg(s::text, ',' ORDER BY customer_id)) FROM crm.pareto_nbd_simulate(3000, 52, 0.55, 10.5, 0.6, 12, 9, 20) AS s WHERE customer_id <= 100) =
	   (SELECT md5(string_agg(s::text, ',' ORDER BY customer_id)) FROM crm.pareto_nbd_simulate(100, 52, 0.55, 10.5, 0.6, 12, 9, 20) AS s) AS pareto_prefix_stable;
SELECT e.* FROM (VALUES
	('SELECT * FROM crm.mbgnbd_simulate(-1, 52, 0.25, 4, 0.8, 2.5, 1)'),
	('SELECT * FROM crm.mbgnbd_simulate(10, 52, 0.25, 4, 0, 2.5, 1)'),
	('SELECT * FROM crm.mbgnbd_simulate(10, 52, 0.25, 4, 0.8, 2.5, 1, 53)'),
	('SELECT * FROM crm.pareto_nbd_simulate(1000000001, 52, 0.55, 10.5, 0.6, 12, 1)'),
	('SELECT * FROM crm.pareto_nbd_simulate(10, ''NaN'', 0.55, 10.5, 0.6, 12, 1)'),
	('SELECT * FROM crm.pareto_nbd_simulate(10, 52, 0.55, 10.5, -0.6, 12, 1)'),
	('SELECT * FROM crm.pareto_nbd_simulate(10, 52, 0.55, 10.5, 0.6, 1e13, 1)'),
	('SELECT * FROM crm.pareto_nbd_simulate(10, 52, 0.55, 10.5, 0.6, ''Infinity'', 1)'),
	('SELECT * FROM crm.pareto_nbd_simulate(10, 52, 0.55, 10.5, 0.6, 12, 1, -1)')
) AS c (statement), LATERAL public.error_of(c.statement) AS e;
SELECT bool_and(frequency >= 0 AND recency >= 0 AND recency <= t AND (frequency = 0) = (recency = 0)) AS well_formed,
	   bool_and(t >= 30 AND t <= 52) AS t_within_spread
FROM crm.pareto_nbd_simulate(3000, 52, 0.55, 10.5, 0.6, 12, 5, 22);

-- MBG/NBD: a dropout may follow the first purchase, so more customers have
-- no repeat purchase than under BG/NBD with the same seed and parameters;
-- P(X(t) = 0) = p0 + (1 - p0) (alpha/(alpha+t))^r with p0 = E[p] = a/(a+b)
-- averaged jointly: E[p] + E[1 - p] (alpha/(alpha+t))^r.
SELECT avg((m.frequency = 0)::int) > avg((b.frequency = 0)::int) AS more_zeros_than_bgnbd,
	   abs(avg((m.frequency = 0)::int) - (0.8 / 3.3 + 2.5 / 3.3 * (4 / 56.0) ^ 0.25))
		 < 4 * sqrt(0.6 * 0.4 / count(*)) AS p_zero_matches
FROM crm.mbgnbd_simulate(4000, 52, 0.25, 4, 0.8, 2.5, 12) AS m
JOIN crm.bgnbd_simulate(4000, 52, 0.25, 4, 0.8, 2.5, 12) AS b USING (customer_id);

-- Pareto/NBD without dropout (beta huge): X(t) is Poisson given lambda,
-- E[X(t)] = r/alpha*t; with dropout, P(X(t) = 0) is the closed form
-- (alpha/(alpha+t))^r [s/(r+s) (beta/(beta+t))^s ... ] checked through the
-- model itself: the likelihood of (0, 0, t) integrates exactly that, so
-- the share of zeros matches exp(pareto_nbd_loglik(0, 0, t)).
SELECT abs(avg(frequency) - 2.0 / 4 * 20) < 4 * stddev(frequency) / sqrt(count(*)) AS mean_is_r_over_alpha_t
FROM crm.pareto_nbd_simulate(4000, 20, 2, 4, 1, 1e12, 11);
SELECT abs(avg((frequency = 0)::int) - p0) < 4 * sqrt(p0 * (1 - p0) / count(*)) AS p_zero_matches_likelihood
FROM crm.pareto_nbd_simulate(4000, 52, 0.55, 10.5, 0.6, 12, 13),
	 LATERAL (SELECT exp(crm.pareto_nbd_loglik(0, 0, 52, crm.pareto_nbd_model(0.55, 10.5, 0.6, 12))) AS p0) AS l
GROUP BY p0;
