#!/usr/bin/env bash
# bench/run.sh [customers] [runs] [sections]: how fast retail_crm computes
# RFM segments, fits its models, counts basket pairs and runs campaigns.
#
# Builds and installs retail_crm from this tree (skip with NO_INSTALL=1),
# then in ONE throwaway cluster (pg_virtualenv, as scripts/test.sh):
#   1. generates the transactions of <customers> simulated customers (default
#      100000, about 10 each) with crm.simulate_transactions and times the
#      generation alone and the INSERT into crm.transactions (rows/s);
#   2. VACUUM ANALYZE;
#   3. runs each measured step <runs> times (default 5) and prints medians:
#        count(*)        SELECT count(*) FROM crm.transactions, the floor
#        group_by        GROUP BY customer with count(*) only, into a temp
#                        table: the floor of any per-customer pass
#        group_by_columns the same with max(occurred_at) and sum(amount):
#                        the floor of a pass reading the facts' columns
#        plain SQL RFM   GROUP BY customer + NTILE(5) + CASE, into a temp table
#        customer_facts  the C aggregate GROUP BY customer, into a temp table
#        refresh         CALL crm.refresh_segments(as_of), churn_model bgnbd
#        refresh_auto    the same with churn_model auto, after a validation
#                        of the three purchase models (timed once)
#        write_snapshot  a copy of the snapshot written into a new table and
#                        indexed: what the refresh's publish costs alone
#        write_history   the same for the history rows; with write_snapshot
#                        the write floor of a full refresh (#19 target 1)
#        incremental     the incremental refresh after 1 % of customers
#                        bought again, incremental_none with nothing queued
#                        (its fixed part), incremental_tenth after 0.1 %
#                        (#19 target 4)
#      as ratios to count(*) and to plain SQL, with the peak private memory
#      (RssAnon, sampled every 10 ms from /proc) of the backend in one extra
#      run each;
#   4. fits BG/NBD, MBG/NBD and Pareto/NBD on <customers> simulated BTYD
#      summaries and scores every customer with each, next to plain-SQL
#      P(alive);
#   5. generates order lines for those transactions with a seeded SQL
#      generator (themed baskets, skewed product popularity) and times
#      crm.refresh_affinity next to the plain-SQL pair count, then checks
#      that the published pairs equal the plain SQL's to the last digit;
#   6. times customer_facts over one customer's 400,000 days fed oldest
#      first, newest first and shuffled;
#   7. gives every customer an e-mail contact and times a campaign's launch
#      on the whole audience and the reading of its results
#      (crm.campaign_results) next to the plain-SQL way of the same
#      numbers, and the results of a campaign of at most 100,000 members;
#   8. prints the refresh's facts step under EXPLAIN ANALYZE.
# sections: all (default) or a comma-separated list of rfm (3), models (4),
# affinity (5), order (6), campaigns (7), explain (8); the generation always
# runs, and a refresh before campaigns when rfm is left out.
# Prints a Markdown table for bench/README.md.  No assertion on time.
set -euo pipefail
cd "$(dirname "$0")/.."

CUSTOMERS="${1:-100000}"
RUNS="${2:-5}"
SECTIONS="${3:-all}"
PG_MAJOR="${PG_MAJOR:-15}"
# The simulated period; as_of is its end, so no transaction is in the future.
FIRST_DAY=2022-01-01
LAST_DAY=2025-01-01
# BG/NBD per week and spend parameters giving about 10 transactions a customer.
SIM_PARAMS="r => 0.9, alpha => 4.5, a => 0.8, b => 9"

# Settings of the throwaway cluster: WAL sized so that loading 10M rows does
# not checkpoint every few seconds, and one process per core for a
# parallel query (the leader and nproc - 1 workers: with PostgreSQL's
# default of 2 workers on 2 cores, three processes share two cores and
# count(*) and the refresh are both slower); everything else at its default
# (work_mem 4MB, shared_buffers 128MB).
PARALLEL_WORKERS="$(( $(nproc) > 1 ? $(nproc) - 1 : 1 ))"
BENCH_CLUSTER_OPTS=(
	-v "${PG_MAJOR}"
	-o max_wal_size=8GB
	-o checkpoint_timeout=30min
	-o max_parallel_workers_per_gather="${PARALLEL_WORKERS}"
)
# Order lines are generated for the sales of at most this many customers:
# the plain-SQL self-join of 85M lines at 1M customers would run for hours.
AFFINITY_MAX_CUSTOMERS=100000

# True when section $1 is to run.
wants() {
	[ "${SECTIONS}" = all ] || [[ ",${SECTIONS}," == *",$1,"* ]]
}

psql_quiet() {
	psql -X -q -v ON_ERROR_STOP=1 "$@"
}

# Sample the peak RssAnon (kB) of process $1 until file $2 exists; print it.
watch_memory() {
	local pid="$1" stop_file="$2" peak=0 kb
	while [ ! -e "${stop_file}" ]; do
		kb="$(awk '/^RssAnon:/ {print $2}' "/proc/${pid}/status" 2>/dev/null || echo 0)"
		[ "${kb:-0}" -gt "${peak}" ] && peak="${kb}"
		sleep 0.01
	done
	echo "${peak}"
}

# Run SQL in a fresh backend and print the peak RssAnon (kB) it reached.
# The backend reports its pid first; a coprocess keeps the session open.
peak_memory_kb() {
	local sql="$1" tmp pid peak
	tmp="$(mktemp -d)"
	chmod 777 "${tmp}"
	coproc PSQL { psql -X -q -A -t -v ON_ERROR_STOP=1; }
	echo "SELECT pg_backend_pid();" >&"${PSQL[1]}"
	read -r pid <&"${PSQL[0]}"
	watch_memory "${pid}" "${tmp}/stop" >"${tmp}/peak" &
	printf '%s\n\\! touch %s/stop\n\\q\n' "${sql}" "${tmp}" >&"${PSQL[1]}"
	wait "${PSQL_PID}" 2>/dev/null || true
	wait
	peak="$(cat "${tmp}/peak")"
	rm -rf "${tmp}"
	echo "${peak}"
}

# The measured steps: name, then SQL.  Each leaves the database as it found it.
declare -a STEP_NAMES=(count group_by group_by_columns plain_sql customer_facts refresh refresh_auto write_snapshot write_history
	incremental incremental_none incremental_tenth)
declare -A STEP_SQL
# Untimed SQL run before a step's timed SQL.
declare -A STEP_PREPARE
STEP_SQL[count]="SELECT count(*) FROM crm.transactions;"
# The refresh as 1.0 did it, re-fitting BG/NBD, and with churn_model =
# auto after the validation setup_validation ran: it re-fits only the
# model that validation chose.
STEP_PREPARE[refresh]="UPDATE crm.settings SET churn_model = 'bgnbd';"
STEP_PREPARE[refresh_auto]="UPDATE crm.settings SET churn_model = 'auto';"
STEP_SQL[refresh_auto]="CALL crm.refresh_segments(:'as_of'::timestamptz);"
# The least any per-customer pass costs: group the rows by customer, count
# them, write one row per customer.
STEP_SQL[group_by]="
CREATE TEMP TABLE grouped AS
SELECT t.customer_id, count(*) AS source_rows FROM crm.transactions AS t GROUP BY t.customer_id;
DROP TABLE grouped;"
# The same pass reading the two columns the facts are made of, with the
# simplest aggregates of them (built-in, none of ours): what reading and
# aggregating them costs beyond the grouping (#19 target 2).
STEP_SQL[group_by_columns]="
CREATE TEMP TABLE grouped AS
SELECT t.customer_id, count(*) AS source_rows, max(t.occurred_at) AS last_at, sum(t.amount) AS spend
FROM crm.transactions AS t GROUP BY t.customer_id;
DROP TABLE grouped;"
# The plain-SQL way an analyst writes RFM today: the 11 segments of the
# default rule set (DEFINITIONS.md), scores by NTILE(5) as most tutorials do.
STEP_SQL[plain_sql]="
CREATE TEMP TABLE plain_rfm AS
WITH facts AS (
	SELECT t.customer_id,
		   floor(extract(epoch FROM (:'as_of'::timestamptz - max(t.occurred_at) FILTER (WHERE t.amount > 0))) / 86400)::integer AS recency_days,
		   count(*) FILTER (WHERE t.amount > 0) AS frequency,
		   sum(t.amount) AS monetary
	FROM crm.transactions AS t
	WHERE t.customer_id IS NOT NULL AND t.occurred_at <= :'as_of'::timestamptz
	GROUP BY t.customer_id
	HAVING count(*) FILTER (WHERE t.amount > 0) > 0
), scores AS (
	SELECT f.*,
		   ntile(5) OVER (ORDER BY f.recency_days DESC) AS r_score,
		   ntile(5) OVER (ORDER BY f.frequency) AS f_score,
		   ntile(5) OVER (ORDER BY f.monetary) AS m_score
	FROM facts AS f
)
SELECT s.*, (s.f_score + s.m_score + 1) / 2 AS fm_score,
	   CASE
		   WHEN s.r_score = 5 AND (s.f_score + s.m_score + 1) / 2 = 5 THEN 'Champions'
		   WHEN s.r_score >= 3 AND (s.f_score + s.m_score + 1) / 2 >= 4 THEN 'Loyal Customers'
		   WHEN s.r_score >= 4 AND (s.f_score + s.m_score + 1) / 2 >= 2 THEN 'Potential Loyalist'
		   WHEN s.r_score = 5 THEN 'Recent Customers'
		   WHEN s.r_score = 4 THEN 'Promising'
		   WHEN s.r_score = 3 AND (s.f_score + s.m_score + 1) / 2 = 3 THEN 'Customers Needing Attention'
		   WHEN s.r_score = 3 THEN 'About To Sleep'
		   WHEN s.r_score = 1 AND (s.f_score + s.m_score + 1) / 2 = 5 THEN 'Can''t Lose Them'
		   WHEN (s.f_score + s.m_score + 1) / 2 >= 3 THEN 'At Risk'
		   WHEN s.r_score = 2 AND (s.f_score + s.m_score + 1) / 2 = 2 THEN 'Hibernating'
		   ELSE 'Lost'
	   END AS segment
FROM scores AS s;
DROP TABLE plain_rfm;"
STEP_SQL[customer_facts]="
CREATE TEMP TABLE facts AS
SELECT t.customer_id, crm.customer_facts(t.occurred_at, t.amount, :'as_of'::timestamptz) AS facts
FROM crm.transactions AS t
GROUP BY t.customer_id;
DROP TABLE facts;"
STEP_SQL[refresh]="CALL crm.refresh_segments(:'as_of'::timestamptz);"
# What publishing alone costs: the snapshot the refresh just wrote copied
# into a new table and indexed as the refresh publishes (83_snapshots.sql),
# nothing computed, the same rows.
STEP_PREPARE[write_snapshot]="
CREATE TABLE IF NOT EXISTS bench_snapshot AS SELECT * FROM crm.customer_segments;"
STEP_SQL[write_snapshot]="
BEGIN;
CREATE TABLE bench_publish (LIKE crm.segment_snapshots) WITH (autovacuum_enabled = false);
INSERT INTO bench_publish SELECT 0, s.* FROM bench_snapshot AS s;
CREATE UNIQUE INDEX ON bench_publish (customer_id);
CREATE INDEX ON bench_publish (segment);
ANALYZE bench_publish;
COMMIT;
DROP TABLE bench_publish;"
# Right after the full refresh: 1 % of the customers buy once more (the
# previous run's extra sales are deleted first, which queues the same
# customers), then the incremental refresh recomputes just them.
STEP_PREPARE[incremental]="
DELETE FROM crm.transactions WHERE transaction_id LIKE 'inc-%';
INSERT INTO crm.transactions (transaction_id, customer_id, occurred_at, amount, channel)
SELECT 'inc-' || pg_current_xact_id() || '-' || c, c, :'as_of'::timestamptz - interval '1 hour', 25, 'online'
FROM generate_series(1, (SELECT max(customer_id) FROM crm.transactions), 100) AS c;"
STEP_SQL[incremental]="CALL crm.refresh_segments(:'as_of'::timestamptz, incremental => true);"
# What publishing the history alone costs: the rows the refresh keeps in
# crm.segment_history written into a new table and indexed as the refresh
# does it.  With write_snapshot, the write floor of a full refresh.
STEP_PREPARE[write_history]="
CREATE TABLE IF NOT EXISTS bench_history AS
SELECT s.customer_id, s.segment, s.lifecycle_stage, s.rfm_code FROM crm.customer_segments AS s;"
STEP_SQL[write_history]="
BEGIN;
CREATE TABLE bench_history_copy (LIKE crm.segment_history) WITH (autovacuum_enabled = false);
INSERT INTO bench_history_copy SELECT 0, h.* FROM bench_history AS h;
CREATE UNIQUE INDEX ON bench_history_copy (customer_id);
ANALYZE bench_history_copy;
COMMIT;
DROP TABLE bench_history_copy;"
# The incremental refresh with nothing queued (right after the previous
# one): its fixed part.  Then with 0.1 % of the customers queued, for the
# cost per changed customer next to the 1 % run.
STEP_SQL[incremental_none]="CALL crm.refresh_segments(:'as_of'::timestamptz, incremental => true);"
STEP_PREPARE[incremental_tenth]="
DELETE FROM crm.transactions WHERE transaction_id LIKE 'tenth-%';
INSERT INTO crm.transactions (transaction_id, customer_id, occurred_at, amount, channel)
SELECT 'tenth-' || pg_current_xact_id() || '-' || c, c, :'as_of'::timestamptz - interval '1 hour', 25, 'online'
FROM generate_series(1, (SELECT max(customer_id) FROM crm.transactions), 1000) AS c;"
STEP_SQL[incremental_tenth]="CALL crm.refresh_segments(:'as_of'::timestamptz, incremental => true);"

# Churn and CLV models on the same number of simulated customers' BTYD
# summaries (days), set up once by setup_models: the fit, and scoring every
# customer, next to the plain-SQL P(alive) (the closed form through logs;
# expected purchases and CLV need the hypergeometric function, which plain
# SQL does not have).
declare -a MODEL_STEP_NAMES=(p_alive_sql bgnbd_fit mbgnbd_fit pareto_nbd_fit bgnbd_fit_grouped p_alive expected_purchases clv
	churn_risk p_alive_mbgnbd churn_risk_mbgnbd p_alive_pareto_nbd churn_risk_pareto_nbd expected_purchases_pareto_nbd)
STEP_SQL[bgnbd_fit]="SELECT (crm.bgnbd_fit(b.frequency, b.recency, b.t)).converged FROM bench_btyd AS b;"
STEP_SQL[mbgnbd_fit]="SELECT (crm.mbgnbd_fit(b.frequency, b.recency, b.t)).converged FROM bench_btyd AS b;"
STEP_SQL[pareto_nbd_fit]="SELECT (crm.pareto_nbd_fit(b.frequency, b.recency, b.t)).converged FROM bench_btyd AS b;"
# The maximum likelihood fit alone, on the grouped state built by setup_models.
STEP_SQL[bgnbd_fit_grouped]="SELECT (crm.bgnbd_fit_final(g.state)).converged FROM bench_grouped AS g;"
STEP_SQL[p_alive_sql]="
SELECT sum(CASE WHEN b.frequency = 0 THEN 1
				ELSE 1 / (1 + exp(least(700, ln(m.a / (m.b + b.frequency - 1))
											+ (m.r + b.frequency) * ln((m.alpha + b.t) / (m.alpha + b.recency)))))
		   END)
FROM bench_btyd AS b, (SELECT (bgnbd).* FROM bench_model) AS m;"
STEP_SQL[p_alive]="SELECT sum(crm.p_alive(b.frequency, b.recency, b.t, m.bgnbd)) FROM bench_btyd AS b, bench_model AS m;"
STEP_SQL[expected_purchases]="SELECT sum(crm.expected_purchases(90, b.frequency, b.recency, b.t, m.bgnbd)) FROM bench_btyd AS b, bench_model AS m;"
STEP_SQL[clv]="SELECT sum(crm.clv(b.frequency, b.recency, b.t, 50, m.bgnbd, m.gamma_gamma, 12, 0.01, 365.25 / 12)) FROM bench_btyd AS b, bench_model AS m;"
# Scoring with each purchase model: the churn risk over 90 days, P(alive).
STEP_SQL[churn_risk]="SELECT sum(crm.churn_risk(90, b.frequency, b.recency, b.t, m.bgnbd)) FROM bench_btyd AS b, bench_model AS m;"
STEP_SQL[p_alive_mbgnbd]="SELECT sum(crm.p_alive(b.frequency, b.recency, b.t, m.mbgnbd)) FROM bench_btyd AS b, bench_model AS m;"
STEP_SQL[churn_risk_mbgnbd]="SELECT sum(crm.churn_risk(90, b.frequency, b.recency, b.t, m.mbgnbd)) FROM bench_btyd AS b, bench_model AS m;"
STEP_SQL[p_alive_pareto_nbd]="SELECT sum(crm.p_alive(b.frequency, b.recency, b.t, m.pareto_nbd)) FROM bench_btyd AS b, bench_model AS m;"
STEP_SQL[churn_risk_pareto_nbd]="SELECT sum(crm.churn_risk(90, b.frequency, b.recency, b.t, m.pareto_nbd)) FROM bench_btyd AS b, bench_model AS m;"
STEP_SQL[expected_purchases_pareto_nbd]="SELECT sum(crm.expected_purchases(90, b.frequency, b.recency, b.t, m.pareto_nbd)) FROM bench_btyd AS b, bench_model AS m;"

# Basket affinity on order lines generated by setup_affinity: the refresh
# (count pairs in C, publish, log) and what an analyst writes today, a
# self-join of the distinct basket lines grouped by pair, with the same
# basket cap and support threshold (no confidence, lift or conviction yet).
declare -a AFFINITY_STEP_NAMES=(affinity_sql affinity_distinct affinity_read affinity)
AFFINITY_MIN_SUPPORT=0.001
AFFINITY_MAX_ITEMS=100
STEP_SQL[affinity]="SELECT pairs FROM crm.refresh_affinity(${AFFINITY_MIN_SUPPORT}, ${AFFINITY_MAX_ITEMS});"
# Floors, none of our code: the lines in basket order as crm.basket_pairs
# reads them, and the distinct lines in basket order as SQL gives them.  The
# bench has no anonymous sales: refresh_affinity reads
# crm.customer_basket_items, and so do the floors and the plain SQL.
STEP_SQL[affinity_read]="
SELECT count(*) FROM (SELECT s.transaction_id::pg_catalog.text, s.product_id::pg_catalog.text
					  FROM crm.customer_basket_items AS s ORDER BY s.transaction_id) AS l;"
STEP_SQL[affinity_distinct]="
SELECT count(*) FROM (SELECT DISTINCT s.transaction_id, s.product_id FROM crm.customer_basket_items AS s ORDER BY 1) AS l;"
AFFINITY_PLAIN_SQL="
CREATE TEMP TABLE plain_pairs AS
WITH lines AS (
	SELECT DISTINCT b.transaction_id, b.product_id FROM crm.customer_basket_items AS b
), kept AS (
	SELECT l.* FROM lines AS l
	WHERE l.transaction_id IN (SELECT transaction_id FROM lines GROUP BY 1 HAVING count(*) <= ${AFFINITY_MAX_ITEMS})
)
SELECT x.product_id AS product_a, y.product_id AS product_b, count(*) AS baskets_together
FROM kept AS x JOIN kept AS y ON y.transaction_id = x.transaction_id AND y.product_id > x.product_id
GROUP BY 1, 2
HAVING count(*) >= ${AFFINITY_MIN_SUPPORT} * (SELECT count(DISTINCT transaction_id) FROM kept);"
STEP_SQL[affinity_sql]="${AFFINITY_PLAIN_SQL}
DROP TABLE plain_pairs;"

# Campaigns, set up by setup_campaigns: every customer consents to e-mail
# and has an address; campaign 'bench' starts 30 days before as_of (its 14
# attribution days hold sales), on every scored customer ('all'), and
# 'bench_100k' on a loyalty tier of at most 100,000 of them.  The launch is
# timed on a fresh campaign each run (the previous ones truncated); plain
# SQL does the same selection, assignment and pre-period sums into a table.
declare -a CAMPAIGN_STEP_NAMES=(campaign_launch_sql campaign_launch campaign_results_sql campaign_results campaign_results_100k)
CAMPAIGN_START="(:'as_of'::timestamptz - interval '30 days')"
STEP_PREPARE[campaign_launch]="TRUNCATE crm.campaigns CASCADE;"
STEP_SQL[campaign_launch]="
SELECT sum(customers) FROM crm.launch_campaign(crm.create_campaign('bench', 'all', 'email', starts_at => ${CAMPAIGN_START}));"
STEP_SQL[campaign_launch_sql]="
CREATE TEMP TABLE plain_members AS
WITH eligible AS (
	SELECT cs.customer_id, cs.segment, cs.lifecycle_stage
	FROM crm.customer_segments AS cs
	JOIN crm.customer_contacts AS ct ON ct.customer_id = cs.customer_id AND ct.channel = 'email'
	WHERE ct.consent AND nullif(btrim(ct.handle), '') IS NOT NULL
	  AND (hashint8extended(cs.customer_id, 12345) & 4503599627370495) >= 0.05 * 4503599627370496
), pre AS (
	SELECT t.customer_id, sum(t.amount) AS revenue, count(*) FILTER (WHERE t.amount > 0) AS orders
	FROM crm.transactions AS t
	WHERE t.occurred_at >= ${CAMPAIGN_START} - interval '90 days' AND t.occurred_at < ${CAMPAIGN_START}
	  AND t.customer_id IN (SELECT e.customer_id FROM eligible AS e)
	GROUP BY t.customer_id
)
SELECT e.customer_id, e.segment, e.lifecycle_stage,
	   CASE WHEN (hashint8extended(e.customer_id, 54321) & 4503599627370495) < 0.1 * 4503599627370496
			THEN 'control' ELSE 'treatment' END AS assigned_group,
	   coalesce(p.revenue, 0) AS pre_revenue, coalesce(p.orders, 0) AS pre_orders
FROM eligible AS e LEFT JOIN pre AS p USING (customer_id);
DROP TABLE plain_members;"
# Reading the results: the view, and the same numbers as an analyst writes
# them (window sums per member, then per group Wald, Welch with the normal
# quantile, since plain SQL has no t quantile, and CUPED with theta from
# covar_samp / var_samp).
STEP_SQL[campaign_results]="
SELECT campaign_id, treatment_converters, conversion_uplift_low, revenue_uplift_low, cuped_revenue_uplift_low
FROM crm.campaign_results WHERE campaign_name = 'bench';"
STEP_SQL[campaign_results_100k]="
SELECT campaign_id, treatment_members + control_members AS members, conversion_uplift_low, cuped_revenue_uplift_low
FROM crm.campaign_results WHERE campaign_name = 'bench_100k';"
STEP_SQL[campaign_results_sql]="
WITH c AS (SELECT campaign_id, starts_at, starts_at + attribution_days * interval '1 day' AS window_end
		   FROM crm.campaigns WHERE name = 'bench'),
o AS (
	SELECT m.customer_id, m.assigned_group = 'treatment' AS treated, m.pre_revenue AS x,
		   coalesce(sum(t.amount), 0) AS y, count(t.amount) FILTER (WHERE t.amount > 0) > 0 AS converted
	FROM c JOIN crm.campaign_members AS m ON m.campaign_id = c.campaign_id
	LEFT JOIN crm.transactions AS t ON t.customer_id = m.customer_id
		 AND t.occurred_at >= c.starts_at AND t.occurred_at < c.window_end
	GROUP BY 1, 2, 3
), th AS (SELECT covar_samp(x, y) / var_samp(x) AS theta, avg(x) AS mean_x FROM o),
g AS (
	SELECT o.treated, count(*) AS n, avg(o.converted::int) AS p, avg(o.y) AS m, var_samp(o.y) AS v,
		   avg(o.y - th.theta * (o.x - th.mean_x)) AS a, var_samp(o.y - th.theta * (o.x - th.mean_x)) AS w
	FROM o, th GROUP BY o.treated
)
SELECT t.p - c.p - 1.96 * sqrt(t.p * (1 - t.p) / t.n + c.p * (1 - c.p) / c.n) AS conversion_uplift_low,
	   t.m - c.m - 1.96 * sqrt(t.v / t.n + c.v / c.n) AS revenue_uplift_low,
	   t.a - c.a - 1.96 * sqrt(t.w / t.n + c.w / c.n) AS cuped_revenue_uplift_low
FROM g AS t, g AS c WHERE t.treated AND NOT c.treated;"

# The refresh's pairs against the plain-SQL pair count, both ways of each
# pair, with support, confidence, lift and conviction computed in SQL from
# the plain counts in the same float8 divisions as the C code: any pair
# missing, extra or differing in the last digit is counted.  Fails the run
# unless none is.
check_affinity() {
	local result
	result="$(psql_quiet -A -t <<-SQL
		${AFFINITY_PLAIN_SQL}
		WITH lines AS (
			SELECT DISTINCT b.transaction_id, b.product_id FROM crm.customer_basket_items AS b
		), kept AS (
			SELECT l.* FROM lines AS l
			WHERE l.transaction_id IN (SELECT transaction_id FROM lines GROUP BY 1 HAVING count(*) <= ${AFFINITY_MAX_ITEMS})
		), n AS (
			SELECT count(DISTINCT k.transaction_id)::float8 AS n FROM kept AS k
		), single AS (
			SELECT k.product_id, count(*)::float8 AS c FROM kept AS k GROUP BY 1
		), both_ways AS (
			SELECT p.product_a AS a, p.product_b AS b, p.baskets_together AS together FROM plain_pairs AS p
			UNION ALL
			SELECT p.product_b, p.product_a, p.baskets_together FROM plain_pairs AS p
		), expected AS (
			SELECT w.a, w.b, w.together, w.together / n.n AS support, w.together / sa.c AS confidence,
				   (w.together * n.n) / (sa.c * sb.c) AS lift,
				   CASE WHEN w.together < sa.c THEN ((n.n - sb.c) * sa.c) / (n.n * (sa.c - w.together)) END AS conviction
			FROM both_ways AS w CROSS JOIN n
			JOIN single AS sa ON sa.product_id = w.a JOIN single AS sb ON sb.product_id = w.b
		)
		SELECT format('%s of %s ordered pairs differ from the plain SQL count (missing, extra or not equal to the last digit)',
					  count(*) FILTER (WHERE e.a IS NULL OR p.product_a IS NULL
										  OR (e.together, e.support, e.confidence, e.lift, e.conviction)
											 IS DISTINCT FROM (p.baskets_together, p.support, p.confidence, p.lift, p.conviction)),
					  count(*))
		FROM expected AS e FULL JOIN crm.product_affinity AS p ON p.product_a = e.a AND p.product_b = e.b;
		DROP TABLE plain_pairs;
	SQL
	)"
	echo "${result}"
	[[ "${result}" == "0 of "* ]]
}

# customer_facts over the rows of one customer with ORDER_DAYS distinct
# purchase days, fed oldest first, newest first and shuffled: the same
# answer must cost the same whatever the order (#16 found newest-first
# quadratic).  Serial, so that the rows reach the aggregate in that order.
# The shuffled rows' floor is their sort: count(*) of the same rows.
declare -a ORDER_STEP_NAMES=(sort_shuffled facts_oldest_first facts_newest_first facts_shuffled)
ORDER_DAYS=400000
for order in "oldest_first:day" "newest_first:day DESC" "shuffled:shuffle"; do
	STEP_SQL[facts_${order%%:*}]="
SET max_parallel_workers_per_gather = 0;
SELECT (crm.customer_facts(s.at, 1, :'as_of'::timestamptz)).purchase_days
FROM (SELECT o.at FROM bench_one_customer AS o ORDER BY o.${order#*:}) AS s;"
done
STEP_SQL[sort_shuffled]="
SET max_parallel_workers_per_gather = 0;
SELECT count(s.at) FROM (SELECT o.at FROM bench_one_customer AS o ORDER BY o.shuffle) AS s;"

# Backquotes are Markdown code spans here, not command substitution.
# shellcheck disable=SC2016
declare -A STEP_LABEL=(
	[count]='`SELECT count(*) FROM crm.transactions` (floor)'
	[group_by]='`GROUP BY customer_id` with only `count(*)`, into a temp table (floor of a per-customer pass)'
	[group_by_columns]='the same reading the two columns the facts need: `count(*)`, `max(occurred_at)`, `sum(amount)` (built-in aggregates only)'
	[plain_sql]='plain SQL RFM: GROUP BY + NTILE(5) + CASE, into a temp table'
	[customer_facts]='`crm.customer_facts` aggregate GROUP BY customer, into a temp table'
	[refresh]='`CALL crm.refresh_segments(as_of)` with `churn_model = bgnbd`, as in 1.0 (facts, scores, models, segments, CLV, publish, history)'
	[refresh_auto]='the same with `churn_model = auto` after a validation (re-fits the chosen model only)'
	[write_snapshot]='write a copy of the snapshot into a new table and index it as the refresh publishes, nothing computed: with the history copy, the write floor of a refresh'
	[incremental]='`CALL crm.refresh_segments(as_of, incremental => true)` after 1 % of customers bought again'
	[write_history]='write a copy of the history rows into a new table and index it as the refresh does, nothing computed: with the snapshot copy, the write floor'
	[incremental_none]='the incremental refresh with nothing queued: its fixed part'
	[incremental_tenth]='the incremental refresh after 0.1 % of customers bought again'
	[p_alive_sql]='plain SQL P(alive) of every customer (closed form through logs)'
	[bgnbd_fit]='`crm.bgnbd_fit` over every customer (grouping and maximum likelihood)'
	[mbgnbd_fit]='`crm.mbgnbd_fit` over every customer'
	[pareto_nbd_fit]='`crm.pareto_nbd_fit` over every customer'
	[bgnbd_fit_grouped]='the maximum likelihood fit alone, on the grouped state'
	[p_alive]='`crm.p_alive` of every customer'
	[expected_purchases]='`crm.expected_purchases` (90 days) of every customer'
	[clv]='`crm.clv` (12 months) of every customer'
	[churn_risk]='`crm.churn_risk(90, ...)` (BG/NBD) of every customer'
	[p_alive_mbgnbd]='`crm.p_alive` (MBG/NBD) of every customer'
	[churn_risk_mbgnbd]='`crm.churn_risk(90, ...)` (MBG/NBD) of every customer'
	[p_alive_pareto_nbd]='`crm.p_alive` (Pareto/NBD) of every customer'
	[churn_risk_pareto_nbd]='`crm.churn_risk(90, ...)` (Pareto/NBD) of every customer'
	[expected_purchases_pareto_nbd]='`crm.expected_purchases(90, ...)` (Pareto/NBD) of every customer'
	[affinity_sql]="plain SQL pair count: self-join of distinct basket lines, GROUP BY pair (support ${AFFINITY_MIN_SUPPORT}, cap ${AFFINITY_MAX_ITEMS})"
	[affinity]="\`crm.refresh_affinity(${AFFINITY_MIN_SUPPORT}, ${AFFINITY_MAX_ITEMS})\` (count in C, publish, log)"
	[affinity_read]='the sale lines in basket order as `crm.basket_pairs` reads them, only counted (floor of the refresh)'
	[affinity_distinct]='the distinct sale lines in basket order (`SELECT DISTINCT transaction_id, product_id ... ORDER BY 1`), only counted'
	[facts_oldest_first]="\`crm.customer_facts\` of one customer, ${ORDER_DAYS} days fed oldest first"
	[facts_newest_first]='the same, fed newest first'
	[facts_shuffled]='the same, fed in a random order'
	[sort_shuffled]="the ${ORDER_DAYS} rows in a random order, only counted (the floor of the shuffled run)"
	[campaign_launch_sql]='plain SQL launch: consented customers with an address outside a 5 % hash group, a 10 % control by hash, pre-period sums, into a temp table'
	[campaign_launch]='`crm.launch_campaign(crm.create_campaign(...))` on every scored customer (exclusions, assignment, pre-period, log)'
	[campaign_results_sql]='plain SQL results: window sums per member, Wald, Welch (normal quantile) and CUPED per group'
	[campaign_results]='`crm.campaign_results` of that campaign (every scored customer a member)'
	[campaign_results_100k]='`crm.campaign_results` of a campaign of at most 100,000 members'
)

# One more refresh, and how long each stage took: the refresh logs the end
# of each stage (RAISE LOG) with the server log's millisecond timestamps.
# psql cannot show them: it prints the NOTICEs only when the CALL returns.
refresh_stages() {
	local as_of="$1" log run values
	log="$(dirname "${PG_CLUSTER_CONF_ROOT}")/log/postgresql-${PG_MAJOR}-regress.log"
	psql_quiet -c "CALL crm.refresh_segments('${as_of}')"
	run="$(psql -X -A -t -c "SELECT max(run_id) FROM crm.refresh_runs")"
	values="$(grep "retail_crm refresh run ${run}: stage" "${log}" |
		sed -E "s/^([0-9-]+ [0-9:.]+ [A-Z]+) .*stage ([a-z]+), ([0-9]+) rows.*/('\1'::timestamptz, '\2', \3),/")"
	psql -X -v ON_ERROR_STOP=1 <<-SQL
		\pset footer off
		WITH stages (ended_at, stage, rows) AS (VALUES ${values%,}),
		run AS (SELECT started_at, finished_at FROM crm.refresh_runs WHERE run_id = ${run}),
		steps AS (
			SELECT s.stage, s.rows, s.ended_at FROM stages AS s
			UNION ALL
			SELECT 'history, log, commit', NULL, r.finished_at FROM run AS r
		)
		SELECT st.stage, st.rows,
			   round(1000 * extract(epoch FROM st.ended_at - coalesce(lag(st.ended_at) OVER (ORDER BY st.ended_at), r.started_at))) AS ms
		FROM steps AS st CROSS JOIN run AS r
		ORDER BY st.ended_at;
	SQL
}

# One warm-up run of each step, then RUNS timed runs, steps interleaved;
# then one more run of each in a fresh backend for its peak memory.
time_steps() {
	local as_of="$1" step run sql peak
	shift
	for run in $(seq 0 "${RUNS}"); do
		for step in "$@"; do
			psql_quiet -v as_of="${as_of}" -v step="${step}" -v run="${run}" >/dev/null <<-SQL
				${STEP_PREPARE[${step}]:-}
				SELECT clock_timestamp() AS t0 \gset
				${STEP_SQL[${step}]}
				INSERT INTO bench_times SELECT :'step', :run, 1000 * extract(epoch FROM clock_timestamp() - :'t0'::timestamptz) WHERE :run > 0;
			SQL
		done
	done
	for step in "$@"; do
		sql="\\set as_of '${as_of}'
${STEP_PREPARE[${step}]:-}
${STEP_SQL[${step}]}"
		peak="$(peak_memory_kb "${sql}")"
		psql_quiet -c "INSERT INTO bench_memory VALUES ('${step}', ${peak:-0});"
	done
}

# Markdown table of the medians of the given steps, with their ratios to the
# medians of two reference steps (measured before).
print_medians() {
	local first="$1" second="$2" labels_sql="" s ord=0
	shift 2
	for s in "$@"; do
		ord=$((ord + 1))
		labels_sql+="('${s}', \$\$${STEP_LABEL[${s}]}\$\$, ${ord}),"
	done
	psql -X -A -t -v ON_ERROR_STOP=1 <<-SQL
		WITH labels (step, label, ord) AS (VALUES ${labels_sql%,}),
		medians AS (
			SELECT b.step, percentile_cont(0.5) WITHIN GROUP (ORDER BY b.ms) AS ms,
				   min(b.ms) AS min_ms, max(b.ms) AS max_ms
			FROM bench_times AS b WHERE b.run > 0 GROUP BY b.step
		)
		SELECT '| step | median ms (min–max) | × ${first} | × ${second} | peak backend RssAnon MB |'
		UNION ALL SELECT '| --- | ---: | ---: | ---: | ---: |'
		UNION ALL
		SELECT format('| %s | %s (%s–%s) | %s | %s | %s |', l.label, round(m.ms::numeric),
					  round(m.min_ms::numeric), round(m.max_ms::numeric),
					  coalesce(round((m.ms / c.ms)::numeric, 1)::text, '–'),
					  coalesce(round((m.ms / p.ms)::numeric, 2)::text, '–'),
					  round(mem.peak_kb / 1024.0, 1))
		FROM (SELECT * FROM labels ORDER BY ord) AS l
		JOIN medians AS m USING (step)
		JOIN bench_memory AS mem USING (step)
		-- a reference step of a section left out gives no ratio
		LEFT JOIN (SELECT ms FROM medians WHERE step = '${first}') AS c ON true
		LEFT JOIN (SELECT ms FROM medians WHERE step = '${second}') AS p ON true;
	SQL
}

# BTYD summaries of CUSTOMERS simulated customers in whole days (cohorts
# spread over two years) and the models fitted on them, for the model steps.
setup_models() {
	psql_quiet -v customers="${CUSTOMERS}" <<-SQL
		-- whole days, as the refresh's facts are: customers share rows
		CREATE TABLE bench_btyd AS
		SELECT s.customer_id, s.frequency, round(s.recency) AS recency, round(s.t) AS t
		FROM crm.bgnbd_simulate(:customers, 730, 0.9, 30, 0.8, 9, 1, 700) AS s;
		ANALYZE bench_btyd;
		-- The fit aggregate without its final function: the grouped state.
		CREATE AGGREGATE bench_grouped_state(double precision, double precision, double precision) (
			SFUNC = crm.bgnbd_fit_accum, STYPE = bytea, COMBINEFUNC = crm.bgnbd_fit_combine);
		CREATE TABLE bench_grouped AS
		SELECT bench_grouped_state(b.frequency, b.recency, b.t) AS state FROM bench_btyd AS b;
		CREATE TABLE bench_model AS
		SELECT crm.bgnbd_fit(b.frequency, b.recency, b.t) AS bgnbd,
			   crm.mbgnbd_fit(b.frequency, b.recency, b.t) AS mbgnbd,
			   crm.pareto_nbd_fit(b.frequency, b.recency, b.t) AS pareto_nbd,
			   crm.gamma_gamma_model(6.0, 3.8, 15.0) AS gamma_gamma
		FROM bench_btyd AS b;
		\pset footer off
		SELECT k.kind, round(k.r::numeric, 3) AS r, round(k.alpha::numeric, 2) AS alpha,
			   round(k.d1::numeric, 3) AS "a or s", round(k.d2::numeric, 3) AS "b or beta",
			   k.converged, k.iterations, round(k.gain::numeric, 1) AS dropout_gain,
			   (SELECT count(*) FROM (SELECT DISTINCT frequency, recency, t FROM bench_btyd) AS d) AS distinct_rows
		FROM bench_model AS m,
			 LATERAL (VALUES ('bgnbd', (m.bgnbd).r, (m.bgnbd).alpha, (m.bgnbd).a, (m.bgnbd).b, (m.bgnbd).converged,
							  (m.bgnbd).iterations, (m.bgnbd).dropout_log_likelihood_gain),
							 ('mbgnbd', (m.mbgnbd).r, (m.mbgnbd).alpha, (m.mbgnbd).a, (m.mbgnbd).b, (m.mbgnbd).converged,
							  (m.mbgnbd).iterations, (m.mbgnbd).dropout_log_likelihood_gain),
							 ('pareto_nbd', (m.pareto_nbd).r, (m.pareto_nbd).alpha, (m.pareto_nbd).s, (m.pareto_nbd).beta,
							  (m.pareto_nbd).converged, (m.pareto_nbd).iterations, (m.pareto_nbd).dropout_log_likelihood_gain))
				  AS k(kind, r, alpha, d1, d2, converged, iterations, gain);
	SQL
}

# The median time of step $1 over that of step $2, as "label: N times".
median_ratio() {
	psql -X -A -t -c "SELECT format('%s: %s times', '$3',
		round((percentile_cont(0.5) WITHIN GROUP (ORDER BY ms) FILTER (WHERE step = '$1')
			   / percentile_cont(0.5) WITHIN GROUP (ORDER BY ms) FILTER (WHERE step = '$2'))::numeric, 2))
		FROM bench_times WHERE run > 0"
}

# The validation the refresh's churn_model = auto reads: all three purchase
# models fitted up to 91 days before as_of and checked on those 91 days;
# timed once, with the validation table and the model chosen.
setup_validation() {
	psql_quiet -v as_of="$1" <<-SQL
		SELECT clock_timestamp() AS t0 \gset
		SELECT count(*) AS models FROM crm.fit_models(:'as_of'::timestamptz, :'as_of'::timestamptz - interval '91 days') \gset
		\pset footer off
		SELECT round(1000 * extract(epoch FROM clock_timestamp() - :'t0'::timestamptz)) AS fit_models_validation_ms;
		SELECT kind, holdout_customers, churn_auc, brier_score, aic, chosen FROM crm.model_validation_report ORDER BY kind;
	SQL
}

# Order lines for the simulated transactions of the first
# AFFINITY_MAX_CUSTOMERS customers, seeded: each basket has a
# theme (one of 100 families of 10 products, P0000-P0999) and 1 + Exp(mean
# 8) lines; a line is from the theme with probability 0.7, otherwise from
# all 5,000 products with popularity falling as the square of a uniform
# draw.  Products of one theme are then bought together far above chance.
setup_affinity() {
	psql_quiet <<-SQL
		SELECT setseed(0.25);
		SELECT clock_timestamp() AS t0 \gset
		INSERT INTO crm.transaction_items (transaction_id, line_no, product_id, quantity, unit_price, customer_id)
		SELECT t.transaction_id, l.line_no,
			   'P' || lpad(CASE WHEN random() < 0.7 THEN t.theme * 10 + floor(random() * 10)::integer
								ELSE floor(5000 * power(random(), 2))::integer END::text, 4, '0'),
			   CASE WHEN t.amount < 0 THEN -1 ELSE 1 END, 1, t.customer_id
		FROM (SELECT s.transaction_id, s.customer_id, s.amount, floor(random() * 100)::integer AS theme,
					 1 + floor(-ln(1 - random()) * 8)::integer AS lines
			  FROM (SELECT transaction_id, customer_id, amount FROM crm.transactions
					WHERE customer_id <= ${AFFINITY_MAX_CUSTOMERS} ORDER BY transaction_id) AS s) AS t
		CROSS JOIN LATERAL generate_series(1, t.lines) AS l (line_no);
		INSERT INTO bench_times SELECT 'generate_items', 1, 1000 * extract(epoch FROM clock_timestamp() - :'t0'::timestamptz);
		VACUUM ANALYZE crm.transaction_items;
		\pset footer off
		SELECT count(*) AS lines, count(DISTINCT transaction_id) AS baskets,
			   count(DISTINCT product_id) AS products,
			   round((SELECT ms FROM bench_times WHERE step = 'generate_items')) AS generate_ms
		FROM crm.basket_items;
	SQL
}

# Contacts for every scored customer, the 'bench' campaign the results
# steps read, and the 'bench_100k' campaign on a tier of at most 100,000.
setup_campaigns() {
	psql_quiet -v as_of="$1" <<-SQL
		UPDATE crm.settings SET max_contacts_per_week = NULL;
		INSERT INTO crm.customer_contacts (customer_id, channel, handle, consent)
		SELECT s.customer_id, 'email', 'c' || s.customer_id || '@example.invalid', true FROM crm.customer_segments AS s;
		INSERT INTO crm.loyalty_programs (program_id) VALUES ('bench');
		INSERT INTO crm.loyalty_tiers (program_id, tier_rank, tier_name, threshold) VALUES ('bench', 1, 'Bench', 0);
		INSERT INTO crm.loyalty_members (customer_id, program_id, enrolled_at, tier_rank, tier_since)
		SELECT s.customer_id, 'bench', :'as_of'::timestamptz - interval '1 year', 1, :'as_of'::timestamptz - interval '1 year'
		FROM crm.customer_segments AS s ORDER BY s.customer_id LIMIT 100000;
		VACUUM ANALYZE crm.customer_contacts, crm.loyalty_members;
	SQL
}

# Inside the cluster: everything, printing the report.
run_in_cluster() {
	local as_of="${LAST_DAY} 00:00+00"

	psql_quiet <<-SQL
		CREATE EXTENSION retail_crm;
		CREATE TABLE bench_times (step text, run integer, ms double precision);
		CREATE TABLE bench_memory (step text, peak_kb bigint);
		ALTER SYSTEM SET client_min_messages = warning;
		SELECT pg_reload_conf();
	SQL

	echo "== generation: ${CUSTOMERS} customers, ${FIRST_DAY} to ${LAST_DAY}, ${SIM_PARAMS}"
	psql_quiet -v customers="${CUSTOMERS}" <<-SQL
		\set params '${SIM_PARAMS}'
		-- generation alone, streamed through ProjectSet (no tuplestore)
		SELECT clock_timestamp() AS t0 \gset
		SELECT count(*) AS generated FROM (SELECT crm.simulate_transactions(:customers, '${FIRST_DAY}', '${LAST_DAY}', 1, :params)) AS s \gset
		INSERT INTO bench_times SELECT 'generate', 1, 1000 * extract(epoch FROM clock_timestamp() - :'t0'::timestamptz);
		-- generation and INSERT into crm.transactions with its three indexes
		SELECT clock_timestamp() AS t0 \gset
		INSERT INTO crm.transactions SELECT * FROM crm.simulate_transactions(:customers, '${FIRST_DAY}', '${LAST_DAY}', 1, :params);
		INSERT INTO bench_times SELECT 'generate_insert', 1, 1000 * extract(epoch FROM clock_timestamp() - :'t0'::timestamptz);
		SELECT clock_timestamp() AS t0 \gset
		VACUUM ANALYZE crm.transactions;
		INSERT INTO bench_times SELECT 'vacuum_analyze', 1, 1000 * extract(epoch FROM clock_timestamp() - :'t0'::timestamptz);
		\pset footer off
		SELECT :generated AS rows, s.step,
			   round(s.ms) AS ms,
			   round(:generated / (s.ms / 1000)) AS rows_per_s
		FROM bench_times AS s ORDER BY s.ms;
		SELECT pg_size_pretty(pg_total_relation_size('crm.transactions')) AS table_and_indexes,
			   round(count(*)::numeric / count(DISTINCT customer_id), 1) AS rows_per_customer,
			   round(avg((amount < 0)::int), 3) AS return_share
		FROM crm.transactions;
	SQL

	if wants rfm; then
		rfm_section "${as_of}"
	elif wants campaigns; then
		psql_quiet -c "CALL crm.refresh_segments('${as_of}')"
	fi
	wants models && models_section "${as_of}"
	wants affinity && affinity_section "${as_of}"
	wants order && order_section "${as_of}"
	wants campaigns && campaigns_section "${as_of}"
	wants explain && explain_section "${as_of}"
	return 0
}

# 3. the refresh and its floors.
rfm_section() {
	local as_of="$1"
	setup_validation "${as_of}"
	time_steps "${as_of}" "${STEP_NAMES[@]}"
	echo
	echo "== medians of ${RUNS} runs (after one warm-up run)"
	print_medians count plain_sql "${STEP_NAMES[@]}"
	median_ratio refresh_auto refresh "refresh with churn_model = auto vs bgnbd"
	psql -X -A -t -v ON_ERROR_STOP=1 <<-SQL
		WITH m AS (
			SELECT step, percentile_cont(0.5) WITHIN GROUP (ORDER BY ms) AS ms
			FROM bench_times WHERE run > 0 GROUP BY step
		), v AS (
			SELECT max(ms) FILTER (WHERE step = 'refresh') AS refresh,
				   max(ms) FILTER (WHERE step = 'write_snapshot') + max(ms) FILTER (WHERE step = 'write_history') AS write_floor,
				   max(ms) FILTER (WHERE step = 'incremental') AS one_percent,
				   max(ms) FILTER (WHERE step = 'incremental_tenth') AS tenth,
				   max(ms) FILTER (WHERE step = 'incremental_none') AS fixed,
				   max(ms) FILTER (WHERE step = 'customer_facts') AS facts,
				   max(ms) FILTER (WHERE step = 'group_by') AS group_by,
				   max(ms) FILTER (WHERE step = 'group_by_columns') AS group_by_columns
			FROM m
		)
		SELECT format('customer_facts vs the GROUP BY floor: %s times; vs the same pass reading its columns: %s times',
					  round((facts / group_by)::numeric, 2), round((facts / group_by_columns)::numeric, 2)) FROM v
		UNION ALL
		SELECT format('full refresh vs its write floor (snapshot and history copies): %s times', round((refresh / write_floor)::numeric, 2)) FROM v
		UNION ALL
		SELECT format('incremental refresh (1 %% of customers) vs full refresh: %s times faster', round((refresh / one_percent)::numeric, 1)) FROM v
		UNION ALL
		SELECT format('incremental refresh: fixed part %s ms; beyond it, 1 %% of customers costs %s times 0.1 %% (proportional: 10)',
					  round(fixed::numeric), round(((one_percent - fixed) / nullif(tenth - fixed, 0))::numeric, 1)) FROM v;
	SQL
}

# 4. the models.
models_section() {
	local as_of="$1"
	setup_models
	time_steps "${as_of}" "${MODEL_STEP_NAMES[@]}"
	echo
	echo "== churn and CLV models on ${CUSTOMERS} simulated customers: medians of ${RUNS} runs"
	print_medians count p_alive_sql "${MODEL_STEP_NAMES[@]}"
	median_ratio mbgnbd_fit bgnbd_fit "mbgnbd_fit vs bgnbd_fit"
	median_ratio pareto_nbd_fit bgnbd_fit "pareto_nbd_fit vs bgnbd_fit"
}

# 5. basket affinity.
affinity_section() {
	local as_of="$1"
	echo
	echo "== basket affinity: order lines for the simulated transactions"
	setup_affinity
	time_steps "${as_of}" "${AFFINITY_STEP_NAMES[@]}"
	psql_quiet -c "SELECT baskets, skipped_baskets, pairs FROM crm.affinity_runs ORDER BY run_id DESC LIMIT 1;"
	check_affinity
	echo
	echo "== basket affinity: medians of ${RUNS} runs"
	print_medians count affinity_sql "${AFFINITY_STEP_NAMES[@]}"
}

# 6. customer_facts and the order of its input.
order_section() {
	local as_of="$1"
	echo
	echo "== customer_facts and input order: one customer with ${ORDER_DAYS} distinct days"
	psql_quiet -v as_of="${as_of}" <<-SQL
		SELECT setseed(0.5);
		CREATE TABLE bench_one_customer AS
		SELECT g AS day, :'as_of'::timestamptz - g * interval '1 day' AS at, random() AS shuffle
		FROM generate_series(1, ${ORDER_DAYS}) AS g;
	SQL
	time_steps "${as_of}" "${ORDER_STEP_NAMES[@]}"
	print_medians facts_oldest_first sort_shuffled "${ORDER_STEP_NAMES[@]}"
	median_ratio facts_newest_first facts_oldest_first "newest first vs oldest first"
	median_ratio facts_shuffled sort_shuffled "shuffled vs its floor (the rows shuffled and counted)"
	psql_quiet -c "DROP TABLE bench_one_customer;"
}

# 7. campaigns.
campaigns_section() {
	local as_of="$1"
	echo
	echo "== campaigns: launch on every scored customer, results over the window's sales"
	setup_campaigns "${as_of}"
	# count(*) again: the reference of the tables below, also without rfm.
	time_steps "${as_of}" count campaign_launch_sql campaign_launch
	psql_quiet -v as_of="${as_of}" <<-SQL
		SELECT count(*) FROM crm.launch_campaign(crm.create_campaign('bench_100k', 'tier:Bench', 'email',
																	 starts_at => ${CAMPAIGN_START}));
		VACUUM ANALYZE crm.campaign_members;
		\pset footer off
		SELECT campaign_name, treatment_members, control_members, treatment_converters, control_converters,
			   round(conversion_uplift::numeric, 4) AS conversion_uplift, round(revenue_uplift::numeric, 2) AS revenue_uplift,
			   round(cuped_revenue_uplift::numeric, 2) AS cuped_revenue_uplift, sample_ratio_mismatch
		FROM crm.campaign_results ORDER BY campaign_id;
	SQL
	time_steps "${as_of}" campaign_results_sql campaign_results campaign_results_100k
	echo
	echo "== campaigns: medians of ${RUNS} runs"
	print_medians count campaign_launch_sql campaign_launch_sql campaign_launch
	print_medians count campaign_results_sql campaign_results_sql campaign_results campaign_results_100k
}

# 8. where the refresh's time goes.
explain_section() {
	local as_of="$1"
	echo
	echo "== where the refresh's time goes: its facts step under EXPLAIN ANALYZE"
	psql_quiet -v as_of="${as_of}" <<-SQL
		EXPLAIN (ANALYZE, BUFFERS, COSTS OFF)
		SELECT g.customer_id, g.source_rows, (g.facts).*
		FROM (SELECT s.customer_id::bigint AS customer_id, count(*) AS source_rows,
					 crm.customer_facts(s.occurred_at, s.amount::numeric, :'as_of'::timestamptz)
					   FILTER (WHERE s.customer_id IS NOT NULL) AS facts
			  FROM crm.transactions AS s
			  GROUP BY s.customer_id) AS g;
	SQL
	echo
	echo "== refresh stages: time of each stage, from the server log's progress lines"
	refresh_stages "${as_of}"
}

main() {
	if [ "${1:-}" = --in-cluster ]; then
		shift
		CUSTOMERS="$1" RUNS="$2" SECTIONS="$3"
		run_in_cluster
		return
	fi
	if [ "${NO_INSTALL:-0}" != 1 ]; then
		# shellcheck source=scripts/lib.sh
		source scripts/lib.sh
		build_and_install >/dev/null
	fi
	echo "== machine: $(nproc) CPUs (max_parallel_workers_per_gather=${PARALLEL_WORKERS}), $(awk -F': ' '/^model name/ {print $2; exit}' /proc/cpuinfo), $(awk '/^MemTotal/ {printf "%.1f GB RAM", $2 / 1048576}' /proc/meminfo)"
	NONROOT=1 pg_virtualenv "${BENCH_CLUSTER_OPTS[@]}" bash "$0" --in-cluster "${CUSTOMERS}" "${RUNS}" "${SECTIONS}"
}

main "$@"
