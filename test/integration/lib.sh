# shellcheck shell=bash
# test/integration/lib.sh: functions shared by the integration scripts
# (sourced, not run).
#
# The scripts run against a live cluster whose connection comes from the
# usual PG* variables: scripts/test.sh runs them inside pg_virtualenv with
# pg_cron preloaded (cron.database_name = postgres).  Each script works in
# its own database, cleans up after itself, and ends with one line
# "PASS: <name>: ..." (exit 0) or "FAIL: <name>: ..." (exit 1).

TEST_NAME="$(basename "$0" .sh)"
PROJECT_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "${PROJECT_ROOT}" || exit 1

# Keep the refresh's progress NOTICEs out of the test output.
export PGOPTIONS="${PGOPTIONS:-} -c client_min_messages=warning"

# Commands run at exit, last registered first.
CLEANUP_STEPS=()

# Print a progress line.
log() {
	printf '[%s] %s\n' "${TEST_NAME}" "$*"
}

# Stop the test: the FAIL line, exit status 1 (cleanup still runs).
fail() {
	printf 'FAIL: %s: %s\n' "${TEST_NAME}" "$*"
	exit 1
}

# The closing line of a successful test.
pass() {
	printf 'PASS: %s: %s\n' "${TEST_NAME}" "$*"
}

# Register a command (one string, run with eval) to run when the script
# exits, whatever the reason.
at_exit() {
	CLEANUP_STEPS+=("$1")
}

run_cleanup_steps() {
	local i
	for ((i = ${#CLEANUP_STEPS[@]} - 1; i >= 0; i--)); do
		eval "${CLEANUP_STEPS[i]}" || log "cleanup step failed: ${CLEANUP_STEPS[i]}"
	done
}
trap run_cleanup_steps EXIT

# Run SQL in a database; print rows unaligned, fields separated by '|'.
sql() {
	local database="$1"
	shift
	psql -X -q -A -t -v ON_ERROR_STOP=1 -d "${database}" -c "$*"
}

# Run a psql script file (or - for stdin) in a database, with its output.
sql_file() {
	psql -X -q -v ON_ERROR_STOP=1 -d "$1" -f "$2"
}

# Poll a command once a second until it succeeds; fail after the timeout.
wait_until() {
	local timeout_seconds="$1" what="$2" deadline
	shift 2
	deadline=$((SECONDS + timeout_seconds))
	until "$@"; do
		((SECONDS < deadline)) || fail "timed out after ${timeout_seconds} s waiting for ${what}"
		sleep 1
	done
}

# True when the server accepts connections and answers a query.
server_is_up() {
	pg_isready -q -t 2 && sql postgres 'SELECT 1' >/dev/null 2>&1
}

# Check that the PG* connection works before testing anything.
require_server() {
	[ -n "${PGHOST:-}${PGPORT:-}" ] ||
		fail "no cluster: run this through scripts/test.sh, or set PGHOST/PGPORT/PGUSER to a cluster that preloads pg_cron"
	server_is_up || fail "cannot connect to the cluster (PGHOST=${PGHOST:-} PGPORT=${PGPORT:-})"
}

# Create a fresh database named after the test, with retail_crm installed;
# it is dropped at exit.  Prints nothing; the name is in $TEST_DB.
create_test_database() {
	TEST_DB="it_${TEST_NAME}"
	dropdb --if-exists "${TEST_DB}"
	createdb "${TEST_DB}"
	at_exit "dropdb --if-exists --force '${TEST_DB}'"
	sql "${TEST_DB}" 'CREATE EXTENSION retail_crm CASCADE' ||
		fail "CREATE EXTENSION retail_crm failed"
}

# Load the shipped UCI Online Retail sample into the crm tables.
load_online_retail() {
	sql_file "$1" data/load_online_retail.sql >/dev/null ||
		fail "data/load_online_retail.sql failed"
}

# Number of crm.refresh_runs rows with the given status.
count_runs() {
	sql "$1" "SELECT count(*) FROM crm.refresh_runs WHERE status = '$2'"
}

# Print the newest refresh runs (for the log).
show_runs() {
	psql -X -q -d "$1" -c "SELECT run_id, status, customers, as_of, started_at, finished_at, error_message
		FROM crm.refresh_runs ORDER BY run_id DESC LIMIT $2"
}

# "count|distinct as_of" of the published segment snapshot.
snapshot_shape() {
	sql "$1" 'SELECT count(*), count(DISTINCT as_of) FROM crm.customer_segments'
}
