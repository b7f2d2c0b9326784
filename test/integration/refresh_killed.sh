#!/usr/bin/env bash
# test/integration/refresh_killed.sh: a refresh whose backend dies (kill -9,
# as an OOM kill or a crash would) leaves the published segments untouched,
# and the next refresh records the dead run as failed.
#
# Generates customers until one refresh takes at least MIN_REFRESH_SECONDS,
# so that a second refresh can be caught in the middle of its work; finds its
# backend in pg_stat_activity and sends it SIGKILL.  The postmaster then
# restarts every backend (crash recovery), so the script waits for the server
# with pg_isready before checking:
#   * crm.customer_segments still holds the previous snapshot (same row
#     count and as_of);
#   * after the next CALL crm.refresh_segments() the killed run's row in
#     crm.refresh_runs says 'failed'.
set -euo pipefail
# shellcheck source=test/integration/lib.sh
source "$(dirname "$0")/lib.sh"

# The victim is found by polling once a second and killed half a second
# later, so a refresh of barely 2 s can finish first (it did: 2.13 s).
MIN_REFRESH_SECONDS=4
FIRST_BATCH_CUSTOMERS=50000
MAX_CUSTOMERS=1600000
RECOVERY_TIMEOUT_SECONDS=120
VICTIM_START_TIMEOUT_SECONDS=60
VICTIM_APP_NAME="retail_crm_refresh_victim"
SNAPSHOT_AS_OF="2024-01-01 00:00+00"
VICTIM_AS_OF="2024-01-02 00:00+00"

# Add customers first_id .. first_id+count-1, each with 1 to 15 orders
# spread over three years (about one in 25 a return).  Deterministic.
add_customers() {
	local first_id="$1" count="$2"
	sql "${TEST_DB}" "
		INSERT INTO crm.customers (customer_id, country, joined_at)
		SELECT id, 'United Kingdom', timestamptz '2020-06-01 00:00+00' + (id % 200) * interval '1 day'
		FROM generate_series(${first_id}::bigint, ${first_id} + ${count} - 1) AS id;
		INSERT INTO crm.transactions (transaction_id, customer_id, occurred_at, amount, channel, store)
		SELECT 'g' || id || '-' || n, id,
			   timestamptz '2021-01-01 00:00+00' + ((id * 7919 + n * 104729) % 1095) * interval '1 day',
			   CASE WHEN (id + n) % 25 = 0 THEN -1 ELSE 1 END * ((id * 31 + n * 17) % 400 + 1) * 1.25,
			   'online', NULL
		FROM generate_series(${first_id}::bigint, ${first_id} + ${count} - 1) AS id,
			 generate_series(1, 1 + (id % 15)::integer) AS n;
		ANALYZE crm.customers;
		ANALYZE crm.transactions;"
}

# Seconds the newest succeeded refresh took.
last_refresh_seconds() {
	sql "${TEST_DB}" "SELECT round(extract(epoch FROM finished_at - started_at)::numeric, 2)
		FROM crm.refresh_runs WHERE status = 'succeeded' ORDER BY run_id DESC LIMIT 1"
}

# Grow the data (doubling) until a refresh takes MIN_REFRESH_SECONDS; the
# last refresh is the snapshot the killed one must not disturb.
build_slow_enough_snapshot() {
	local customers=0 batch="${FIRST_BATCH_CUSTOMERS}" took
	while :; do
		add_customers $((customers + 1)) "${batch}"
		customers=$((customers + batch))
		sql "${TEST_DB}" "CALL crm.refresh_segments('${SNAPSHOT_AS_OF}')"
		took="$(last_refresh_seconds)"
		log "${customers} customers: a refresh takes ${took} s"
		awk -v t="${took}" -v min="${MIN_REFRESH_SECONDS}" 'BEGIN { exit !(t >= min) }' && return
		((customers * 2 <= MAX_CUSTOMERS)) ||
			fail "a refresh of ${customers} customers still takes only ${took} s; cannot catch one running"
		batch="${customers}"
	done
}

# Backend pid of the victim refresh, once it runs and its run row is
# visible as 'running'; empty until then.
victim_pid() {
	sql "${TEST_DB}" "
		SELECT pid FROM pg_stat_activity
		WHERE application_name = '${VICTIM_APP_NAME}' AND state = 'active'
		  AND query ILIKE 'CALL crm.refresh_segments%'
		LIMIT 1"
}

# The run_id of the 'running' row the given backend logged, empty if none.
running_run_of() {
	sql "${TEST_DB}" "SELECT run_id FROM crm.refresh_runs WHERE status = 'running' AND backend_pid = ${1:-0}"
}

victim_is_running() {
	[ -n "$(running_run_of "$(victim_pid)")" ]
}

main() {
	require_server
	create_test_database
	build_slow_enough_snapshot

	local before victim_psql pid run_id after status
	before="$(sql "${TEST_DB}" 'SELECT count(*), count(DISTINCT as_of), min(as_of) FROM crm.customer_segments')"
	log "published snapshot (rows|as_ofs|as_of): ${before}"

	PGAPPNAME="${VICTIM_APP_NAME}" sql "${TEST_DB}" "CALL crm.refresh_segments('${VICTIM_AS_OF}')" &
	victim_psql=$!
	at_exit "kill ${victim_psql} 2>/dev/null || true"
	wait_until "${VICTIM_START_TIMEOUT_SECONDS}" "the refresh to start and log a 'running' run" victim_is_running
	pid="$(victim_pid)"
	run_id="$(running_run_of "${pid}")"
	sleep 0.5 # into the middle of the work
	[ -n "$(victim_pid)" ] || fail "the refresh finished before it could be killed; raise MIN_REFRESH_SECONDS"

	log "kill -9 backend ${pid} (run ${run_id}) in the middle of its refresh; its psql will report the lost connection"
	kill -KILL "${pid}"
	! wait "${victim_psql}" || fail "the killed refresh's session reported success"
	wait_until "${RECOVERY_TIMEOUT_SECONDS}" "the server to finish crash recovery" server_is_up
	log "server is back after crash recovery"

	after="$(sql "${TEST_DB}" 'SELECT count(*), count(DISTINCT as_of), min(as_of) FROM crm.customer_segments')"
	[ "${after}" = "${before}" ] ||
		fail "crm.customer_segments changed: ${after} after the kill, ${before} before"
	log "crm.customer_segments still holds the previous snapshot: ${after}"
	log "run ${run_id} before the next refresh: $(sql "${TEST_DB}" "SELECT status FROM crm.refresh_runs WHERE run_id = ${run_id}")"

	sql "${TEST_DB}" "CALL crm.refresh_segments('${VICTIM_AS_OF}')"
	show_runs "${TEST_DB}" 3
	status="$(sql "${TEST_DB}" "SELECT status FROM crm.refresh_runs WHERE run_id = ${run_id}")"
	[ "${status}" = failed ] ||
		fail "the killed run ${run_id} has status '${status}' after the next refresh, expected 'failed'"
	[ "$(sql "${TEST_DB}" "SELECT status FROM crm.refresh_runs ORDER BY run_id DESC LIMIT 1")" = succeeded ] ||
		fail "the refresh after the kill did not succeed"

	pass "killed refresh left the snapshot (${before}) intact; run ${run_id} is marked failed by the next refresh"
}

main "$@"
