#!/usr/bin/env bash
# test/integration/preexisting_objects.sh: CREATE EXTENSION is safe against
# objects another user created in advance in schema crm.  An unprivileged
# role creates the schema with a function named like one retail_crm
# creates with CREATE OR REPLACE (crm.refresh_build) and a table named like
# one it creates with CREATE (crm.settings); installing must fail, leave
# both objects as they were, and create nothing.
set -euo pipefail
# shellcheck source=test/integration/lib.sh
source "$(dirname "$0")/lib.sh"

ATTACKER="it_preexisting_attacker"

require_server
# The role goes after the database that holds its objects (cleanup runs last first).
TEST_DB="it_${TEST_NAME}"
dropdb --if-exists "${TEST_DB}"
sql postgres "DROP ROLE IF EXISTS ${ATTACKER}; CREATE ROLE ${ATTACKER} NOLOGIN" >/dev/null
at_exit "sql postgres 'DROP ROLE IF EXISTS ${ATTACKER}' >/dev/null"
createdb "${TEST_DB}"
at_exit "dropdb --if-exists --force '${TEST_DB}'"

sql "${TEST_DB}" "GRANT CREATE ON DATABASE ${TEST_DB} TO ${ATTACKER}" >/dev/null
sql_file "${TEST_DB}" - >/dev/null <<SQL
SET ROLE ${ATTACKER};
CREATE SCHEMA crm;
CREATE FUNCTION crm.refresh_build(run_id bigint) RETURNS text[]
LANGUAGE sql AS \$\$ SELECT ARRAY['planted'] \$\$;
CREATE TABLE crm.settings (planted text);
RESET ROLE;
SQL

for attempt in function table; do
	if sql "${TEST_DB}" 'CREATE EXTENSION retail_crm' 2>"/tmp/${TEST_NAME}.err"; then
		fail "CREATE EXTENSION succeeded over objects planted by another role"
	fi
	log "CREATE EXTENSION refused: $(head -1 "/tmp/${TEST_NAME}.err")"
	[ "${attempt}" = function ] || break
	# The planted table is hit first; without it, the planted function is next.
	sql "${TEST_DB}" "DROP TABLE crm.settings" >/dev/null
done
rm -f "/tmp/${TEST_NAME}.err"

[ "$(sql "${TEST_DB}" "SELECT crm.refresh_build(1)")" = "{planted}" ] ||
	fail "the planted crm.refresh_build was replaced"
[ "$(sql "${TEST_DB}" "SELECT pg_get_userbyid(proowner) FROM pg_proc WHERE oid = 'crm.refresh_build(bigint)'::regprocedure")" = "${ATTACKER}" ] ||
	fail "the planted function changed owner"
[ "$(sql "${TEST_DB}" "SELECT count(*) FROM pg_extension WHERE extname = 'retail_crm'")" = 0 ] ||
	fail "the extension was created"
[ "$(sql "${TEST_DB}" "SELECT count(*) FROM pg_class WHERE relnamespace = 'crm'::regnamespace")" = 0 ] ||
	fail "a failed CREATE EXTENSION left relations in schema crm"
pass "CREATE EXTENSION refused a planted table and a planted function in schema crm, replaced neither, created nothing"
