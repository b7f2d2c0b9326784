#!/usr/bin/env bash
# test/integration/readers_during_refresh.sh: readers never see a half-built
# segment table, and two refreshes started at once both complete.
#
# With the UCI Online Retail sample loaded and one refresh done, one session
# runs five refreshes back to back (each with another as_of) while this
# script keeps reading crm.customer_segments and crm.segment_summary in
# another session.  Every read must show the full customer count and exactly
# one as_of: a read of a table being rebuilt in place would see a partial
# count or two as_of values.  Then two refreshes are started at the same
# moment: the second must wait for the first, and both must succeed.
set -euo pipefail
# shellcheck source=test/integration/lib.sh
source "$(dirname "$0")/lib.sh"

REFRESHES=5
# Upper bound of reads; the reader stops as soon as the refreshes are done.
MAX_READS=20000
# as_of of the first refresh: the day after the last sale in the sample.
FIRST_AS_OF="2011-12-10 00:00 Europe/London"

# The SQL of the writer session: REFRESHES calls, as_of one hour apart.
refresh_calls() {
	local i
	for ((i = 1; i <= REFRESHES; i++)); do
		printf "CALL crm.refresh_segments(timestamptz '%s' + interval '%d hours');\n" "${FIRST_AS_OF}" "${i}"
	done
}

# The SQL of the reader session: up to MAX_READS reads, each printing
# "segments|<rows>|<as_of values>" and "summary|<customers>", until the
# psql variable finished_runs runs have finished.  psql has no loop, so it is
# unrolled.
reader_script() {
	local read_sql i
	read_sql="$(
		cat <<-'SQL'
			SELECT 'segments|' || count(*) || '|' || count(DISTINCT as_of) FROM crm.customer_segments;
			SELECT 'summary|' || sum(customers) FROM crm.segment_summary;
			SELECT count(*) >= :finished_runs AS writer_done FROM crm.refresh_runs WHERE status <> 'running' \gset
			\if :writer_done
			\q
			\endif
		SQL
	)"
	for ((i = 1; i <= MAX_READS; i++)); do
		printf '%s\n' "${read_sql}"
	done
}

# Five refreshes in one session while another session keeps reading; every
# read must be the whole snapshot.
test_readers_see_whole_snapshots() {
	local expected_rows expected_sum finished_before writer_pid reads_log bad
	expected_rows="$(sql "${TEST_DB}" 'SELECT count(*) FROM crm.customer_segments')"
	expected_sum="$(sql "${TEST_DB}" 'SELECT sum(customers) FROM crm.segment_summary')"
	[ "${expected_rows}" -gt 0 ] || fail "the first refresh published no rows"
	log "snapshot: ${expected_rows} rows in crm.customer_segments, ${expected_sum} customers in crm.segment_summary"
	finished_before="$(sql "${TEST_DB}" "SELECT count(*) FROM crm.refresh_runs WHERE status <> 'running'")"
	reads_log="$(mktemp)"
	at_exit "rm -f '${reads_log}'"

	refresh_calls | psql -X -q -v ON_ERROR_STOP=1 -d "${TEST_DB}" -f - &
	writer_pid=$!
	at_exit "kill ${writer_pid} 2>/dev/null || true"
	# (A file, not a pipe: psql stops reading when the writer is done.)
	psql -X -q -A -t -v ON_ERROR_STOP=1 -v finished_runs=$((finished_before + REFRESHES)) \
		-d "${TEST_DB}" -f <(reader_script) >"${reads_log}" ||
		fail "the reader session failed"
	wait "${writer_pid}" || fail "the writer session's refreshes failed"

	READS="$(grep -c '^segments|' "${reads_log}" || true)"
	bad="$(grep -v -x -e "segments|${expected_rows}|1" -e "summary|${expected_sum}" "${reads_log}" | head -3 || true)"
	[ -z "${bad}" ] || fail "a read during the refreshes saw a partial snapshot (expected segments|${expected_rows}|1 and summary|${expected_sum}): ${bad}"
	[ "$(grep -c '^summary|' "${reads_log}" || true)" = "${READS}" ] || fail "reader output is incomplete"
	((READS > 0)) || fail "no read happened while the refreshes ran"
	((READS < MAX_READS)) || fail "the refreshes did not finish within ${MAX_READS} reads"
	[ "$(count_runs "${TEST_DB}" succeeded)" -ge $((finished_before + REFRESHES)) ] ||
		fail "not all ${REFRESHES} refreshes succeeded"
	log "${READS} reads during ${REFRESHES} refreshes, all showed ${expected_rows} rows with one as_of and ${expected_sum} customers in the summary"
}

# Number of this database's sessions waiting for a lock inside a refresh.
refreshes_waiting_for_lock() {
	sql "${TEST_DB}" "SELECT count(*) FROM pg_stat_activity
		WHERE datname = current_database() AND wait_event_type = 'Lock'
		  AND query ILIKE 'CALL crm.refresh_segments%'"
}

# Two refreshes started together: both finish, one after the other.  While
# both run, pg_stat_activity is sampled to show the second one waiting.
test_concurrent_refreshes_serialise() {
	local succeeded_before first second samples=0 waits_seen=0
	succeeded_before="$(count_runs "${TEST_DB}" succeeded)"
	sql "${TEST_DB}" "CALL crm.refresh_segments('${FIRST_AS_OF}')" &
	first=$!
	sql "${TEST_DB}" "CALL crm.refresh_segments('${FIRST_AS_OF}')" &
	second=$!
	at_exit "kill ${first} ${second} 2>/dev/null || true"
	while kill -0 "${first}" 2>/dev/null && kill -0 "${second}" 2>/dev/null && ((samples < MAX_READS)); do
		[ "$(refreshes_waiting_for_lock)" = 0 ] || waits_seen=$((waits_seen + 1))
		samples=$((samples + 1))
	done
	wait "${first}" || fail "the first of two concurrent refreshes failed"
	wait "${second}" || fail "the second of two concurrent refreshes failed"
	show_runs "${TEST_DB}" 2
	[ "$(count_runs "${TEST_DB}" succeeded)" = $((succeeded_before + 2)) ] ||
		fail "two concurrent refreshes did not give two succeeded runs"
	[ "$(snapshot_shape "${TEST_DB}")" = "$(sql "${TEST_DB}" 'SELECT count(*) FROM crm.customer_segments')|1" ] ||
		fail "after two concurrent refreshes crm.customer_segments is not one whole snapshot"
	log "two concurrent refreshes both succeeded; a refresh was seen waiting for a lock in ${waits_seen} of ${samples} samples while both ran"
}

main() {
	require_server
	create_test_database
	log "loading data/online_retail.csv.gz"
	load_online_retail "${TEST_DB}"
	sql "${TEST_DB}" "CALL crm.refresh_segments('${FIRST_AS_OF}')"

	test_readers_see_whole_snapshots
	test_concurrent_refreshes_serialise
	pass "${READS} reads during ${REFRESHES} refreshes saw whole snapshots; two concurrent refreshes both succeeded"
}

main "$@"
