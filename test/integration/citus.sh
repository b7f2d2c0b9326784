#!/usr/bin/env bash
# test/integration/citus.sh: on Citus, every write path and view gives what
# it gives on one server.  When the server has Citus (pg_available_extensions),
# it starts a coordinator and two workers of the same binaries in a temporary
# directory, loads the Online Retail sample there and into a database of the
# test cluster, refreshes both, distributes the first (crm.distribute), runs
# citus_sweep.sql on both and compares the outputs line by line.  Without
# Citus it prints SKIP and exits 0 (scripts/test.sh counts it as skipped).
set -euo pipefail
# shellcheck source=test/integration/lib.sh
source "$(dirname "$0")/lib.sh"

require_server
if [ "$(sql postgres "SELECT count(*) FROM pg_available_extensions WHERE name = 'citus'")" = 0 ]; then
	printf 'SKIP: %s: skipped: Citus not installed\n' "${TEST_NAME}"
	exit 0
fi

BINDIR="$("${PG_CONFIG:-pg_config}" --bindir)"
WORK_DIR="$(mktemp -d)"
at_exit "rm -rf '${WORK_DIR}'"
RUN_AS=()
if [ "$(id -u)" = 0 ]; then
	chown postgres: "${WORK_DIR}"
	RUN_AS=(runuser -u postgres --)
fi

# Three free TCP ports on localhost (the nodes reach each other there).
PORTS=()
port=55432
while [ "${#PORTS[@]}" -lt 3 ]; do
	port=$((port + 1))
	(echo >"/dev/tcp/127.0.0.1/${port}") 2>/dev/null || PORTS+=("${port}")
done

start_node() {
	local port="$1" dir="${WORK_DIR}/node$1"
	"${RUN_AS[@]}" mkdir "${dir}"
	"${RUN_AS[@]}" "${BINDIR}/initdb" --no-sync -D "${dir}/data" -U postgres -A trust >/dev/null
	"${RUN_AS[@]}" "${BINDIR}/pg_ctl" -D "${dir}/data" -l "${dir}/server.log" -w -t 120 \
		-o "-p ${port} -k ${WORK_DIR} -c listen_addresses=localhost -c shared_preload_libraries=citus -c max_worker_processes=20 -c fsync=off" \
		start >/dev/null || { cat "${dir}/server.log"; fail "node on port ${port} did not start"; }
	at_exit "${RUN_AS[*]} '${BINDIR}/pg_ctl' -D '${dir}/data' -m fast -w stop >/dev/null"
}

# Run SQL on a node, in database crm.
node_sql() {
	local port="$1"
	shift
	psql -X -q -A -t -v ON_ERROR_STOP=1 -h "${WORK_DIR}" -p "${port}" -U postgres -d crm -c "$*"
}

log "starting a coordinator and two workers on ports ${PORTS[*]}"
for port in "${PORTS[@]}"; do
	start_node "${port}"
	psql -X -q -h "${WORK_DIR}" -p "${port}" -U postgres -d postgres -c 'CREATE DATABASE crm' >/dev/null
	node_sql "${port}" 'CREATE EXTENSION citus' >/dev/null
done
COORDINATOR="${PORTS[0]}"
node_sql "${COORDINATOR}" "SELECT citus_set_coordinator_host('localhost', ${COORDINATOR})" >/dev/null
node_sql "${COORDINATOR}" "SELECT citus_add_node('localhost', ${PORTS[1]})" >/dev/null
node_sql "${COORDINATOR}" "SELECT citus_add_node('localhost', ${PORTS[2]})" >/dev/null
node_sql "${COORDINATOR}" 'CREATE EXTENSION retail_crm CASCADE' >/dev/null ||
	fail "CREATE EXTENSION retail_crm failed on the coordinator"
CITUS_VERSION="$(node_sql "${COORDINATOR}" 'SELECT citus_version()' | awk '{print $2}')"

log "single server: loading, refreshing, sweeping"
create_test_database
load_online_retail "${TEST_DB}"
sql "${TEST_DB}" "CALL crm.refresh_segments('2011-12-10')" >/dev/null || fail "refresh failed on the single server"
psql -X -q -d "${TEST_DB}" -f test/integration/citus_sweep.sql >"${WORK_DIR}/single.out" 2>&1 ||
	{ cat "${WORK_DIR}/single.out"; fail "the sweep failed on the single server"; }

log "Citus ${CITUS_VERSION}: loading, refreshing, distributing, sweeping"
psql -X -q -v ON_ERROR_STOP=1 -h "${WORK_DIR}" -p "${COORDINATOR}" -U postgres -d crm \
	-f data/load_online_retail.sql >/dev/null || fail "data/load_online_retail.sql failed on Citus"
node_sql "${COORDINATOR}" "CALL crm.refresh_segments('2011-12-10')" >/dev/null || fail "refresh failed on Citus"
node_sql "${COORDINATOR}" 'SELECT count(*) FROM crm.distribute(4)' >/dev/null || fail "crm.distribute() failed"
psql -X -q -h "${WORK_DIR}" -p "${COORDINATOR}" -U postgres -d crm -f test/integration/citus_sweep.sql \
	>"${WORK_DIR}/citus.out" 2>&1 || { cat "${WORK_DIR}/citus.out"; fail "the sweep failed on Citus"; }

if ! diff -u "${WORK_DIR}/single.out" "${WORK_DIR}/citus.out"; then
	fail "Citus ${CITUS_VERSION} and the single server differ (above)"
fi
pass "Citus ${CITUS_VERSION}, coordinator and 2 workers: $(wc -l <"${WORK_DIR}/single.out") sweep results equal to a single server's"
