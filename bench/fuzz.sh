#!/usr/bin/env bash
# bench/fuzz.sh [queries per role] [seed]: a bounded fuzz run of retail_crm
# with SQLsmith (Debian package sqlsmith, installed when missing).
#
# In a throwaway cluster it installs the extension, loads the demo's data
# (the UCI Online Retail sample and the generated voice of the customer),
# fits the models and refreshes, then lets SQLsmith send random queries over
# the schema's tables, views and functions as a login role of each of
# crm_analyst, crm_marketer and crm_admin (never as a superuser: the point
# is what those roles can reach).  SQLsmith stops each query after 1 s.
# From the server log (every error with its SQLSTATE) and from
# pg_stat_user_functions (track_functions = all) it prints:
#   - queries sent, and errors per SQLSTATE, per role;
#   - how many of the crm functions the queries reached;
#   - every crash and every internal error (XX000) with its statement.
# Exits non-zero on a crash or an internal error.  Errors with an SQLSTATE
# are what hostile input should get; they are counted, not failures.
set -euo pipefail
cd "$(dirname "$0")/.."

QUERIES="${1:-2000}"
SEED="${2:-1}"
FUZZ_ROLES=(crm_analyst crm_marketer crm_admin)

run_in_cluster() {
	local log role failed=0 tmp
	tmp="$(mktemp -d)"
	log="$(dirname "${PG_CLUSTER_CONF_ROOT}")/log/postgresql-${PGVERSION}-regress.log"
	psql -X -q -v ON_ERROR_STOP=1 <<-SQL >/dev/null
		SET client_min_messages = warning;
		CREATE EXTENSION retail_crm CASCADE;
		\i data/load_online_retail.sql
		\i data/generate_voice_of_customer.sql
		SELECT * FROM crm.fit_models('2011-12-10 00:00 Europe/London', '2011-09-10 00:00 Europe/London');
		CALL crm.refresh_segments('2011-12-10 00:00 Europe/London');
		SELECT pg_stat_reset();
	SQL
	for role in "${FUZZ_ROLES[@]}"; do
		psql -X -q -v ON_ERROR_STOP=1 -c "CREATE ROLE fuzz_${role} LOGIN PASSWORD '${PGPASSWORD}' IN ROLE ${role}"
		echo "== SQLsmith as a member of ${role}: ${QUERIES} queries, seed ${SEED}"
		# SQLsmith's own summary goes to stderr; a lost connection ends it
		if ! sqlsmith --target="host=${PGHOST} port=${PGPORT} dbname=${PGDATABASE} user=fuzz_${role} password=${PGPASSWORD}" \
			--exclude-catalog --seed="${SEED}" --max-queries="${QUERIES}" >/dev/null 2>"${tmp}/${role}.err"; then
			echo "SQLsmith stopped early: $(tail -n 1 "${tmp}/${role}.err")"
		fi
	done
	# The log line prefix holds the SQLSTATE (%e) and the user (%u).
	rm -rf "${tmp}"
	psql -X -v ON_ERROR_STOP=1 <<-SQL
		\pset footer off
		\set QUIET on
		CREATE TEMP TABLE fuzz_log (line text);
		\copy fuzz_log FROM PROGRAM 'grep -a -E " fuzz_crm_[a-z]+ (ERROR|FATAL|PANIC): " ${log} | tr "\\\\t\\\\\\\\" "  "' WITH (FORMAT text)
		CREATE TEMP VIEW fuzz_error AS
		SELECT m[1] AS sqlstate, m[2] AS role, m[4] AS message
		FROM fuzz_log, regexp_match(line, '^\S+ \S+ \S+ \[\d+\] (\w{5}) fuzz_(crm_[a-z]+) (ERROR|FATAL|PANIC):  (.*)$') AS m;
		\echo '== errors per role (of ${QUERIES} queries each) and SQLSTATE: what hostile queries should get'
		SELECT role, count(*) AS errors FROM fuzz_error GROUP BY role ORDER BY role;
		SELECT role, sqlstate, count(*) AS errors, min(message) AS example
		FROM fuzz_error GROUP BY role, sqlstate ORDER BY role, count(*) DESC;
		\echo '== crm functions the queries reached (calls counted by track_functions = all; aggregates and inlined SQL functions are not counted)'
		SELECT count(*) FILTER (WHERE s.calls > 0) AS reached, count(*) AS crm_functions
		FROM pg_proc AS p LEFT JOIN pg_stat_user_functions AS s ON s.funcid = p.oid
		WHERE p.pronamespace = 'crm'::regnamespace AND p.prokind = 'f';
	SQL
	echo "== crashes and internal errors"
	if grep -a -E "terminated by signal|PANIC:| XX000 " "${log}"; then
		failed=1
	else
		echo "none"
	fi
	return "${failed}"
}

main() {
	if [ "${1:-}" = --in-cluster ]; then
		shift
		QUERIES="$1" SEED="$2"
		run_in_cluster
		return
	fi
	# shellcheck source=scripts/lib.sh
	source scripts/lib.sh
	command -v sqlsmith >/dev/null || as_root apt-get install -y sqlsmith
	build_and_install >/dev/null
	NONROOT=1 pg_virtualenv -v "${PG_MAJOR}" -o track_functions=all \
		-o "log_line_prefix=%m [%p] %e %u " -o log_min_error_statement=error \
		bash "$0" --in-cluster "${QUERIES}" "${SEED}"
}

main "$@"
