#!/usr/bin/env bash
# test/integration/bi_reference.sh: REFERENCE.md's BI column reference (one
# table per relation crm_analyst reads, for ODBC users, whose driver shows
# no comments) is what scripts/bi_reference.sh makes of a fresh install's
# catalog: no relation, column, type or comment missing or stale.
set -euo pipefail
# shellcheck source=test/integration/lib.sh
source "$(dirname "$0")/lib.sh"

require_server
create_test_database
PGDATABASE="${TEST_DB}" scripts/bi_reference.sh --check ||
	fail "REFERENCE.md's BI column reference does not match the catalog (diff above); run scripts/bi_reference.sh against a fresh install"
pass "REFERENCE.md documents the $(sql "${TEST_DB}" "SELECT count(*) FROM pg_class WHERE relnamespace = 'crm'::regnamespace AND relkind IN ('r', 'p', 'v', 'm', 'f') AND has_table_privilege('crm_analyst', oid, 'SELECT')") relations crm_analyst reads, column by column"
