#!/usr/bin/env bash
# test/integration/dump_restore.sh: a database using retail_crm survives
# pg_dump and pg_restore.  The source database gets the Online Retail
# sample, non-default settings, fixed RFM breaks and a custom rule set, two
# refreshes and a model fit; after pg_dump -Fc and pg_restore into a new
# database, catalog_snapshot.sql (objects, grants, comments and the contents
# of every table) is identical in both, and a refresh in the restored
# database continues the run numbering.
set -euo pipefail
# shellcheck source=test/integration/lib.sh
source "$(dirname "$0")/lib.sh"

RESTORED_DB="it_dump_restored"
WORK_DIR="$(mktemp -d)"
at_exit "rm -rf '${WORK_DIR}'"

require_server
create_test_database
SOURCE_DB="${TEST_DB}"

log "loading, configuring and refreshing ${SOURCE_DB}"
load_online_retail "${SOURCE_DB}"
sql_file "${SOURCE_DB}" data/generate_voice_of_customer.sql >/dev/null ||
	fail "data/generate_voice_of_customer.sql failed"
sql_file "${SOURCE_DB}" - >/dev/null <<'SQL'
UPDATE crm.settings SET clv_months = 24, history_runs_kept = 5, rfm_method = 'fixed', global_control_share = 0.1;
UPDATE crm.rfm_fixed_breaks SET break_1 = 14 WHERE metric = 'recency';
UPDATE crm.complaint_sla_targets SET first_reply_minutes = first_reply_minutes + 1;
UPDATE crm.voice_settings SET satisfaction_drop_points = 15;
INSERT INTO crm.feedback (customer_id, received_at, topic, comment)
SELECT customer_id, '2011-11-01 12:00+00', 'service', 'Friendly staff, slow delivery'
FROM crm.customers WHERE customer_id % 97 = 0;
INSERT INTO crm.customer_contacts (customer_id, channel, handle, consent, consent_updated_at)
SELECT customer_id, 'email', 'customer' || customer_id || '@example.com', true, '2011-06-01 10:00+00'
FROM crm.customers WHERE customer_id % 7 = 0;
INSERT INTO crm.channels (name, handle_kind, description) VALUES ('line', 'platform_id', 'LINE official account message.');
UPDATE crm.channels SET enabled = false WHERE name = 'push';
SELECT count(crm.set_contact(customer_id, 'line', 'U' || customer_id, preferred => true))
FROM crm.customers WHERE customer_id % 13 = 0;
SELECT count(crm.record_consent(customer_id, 'sms', true, 'store till', '2011-07-01 10:00+00'))
FROM crm.customers WHERE customer_id % 11 = 0;
INSERT INTO crm.segment_rules (rule_set, precedence, segment, r_min, r_max)
VALUES ('two_groups', 1, 'Recent', 4, 5), ('two_groups', 2, 'Not recent', 1, 3);
SELECT count(*) FROM crm.activate_segment_rules('two_groups');
CALL crm.refresh_segments('2011-09-01 00:00+00');
CALL crm.refresh_segments('2011-12-10 00:00+00');
SELECT crm.fit_models('2011-12-10 00:00+00', '2011-09-01 00:00+00');
SQL

log "pg_dump | pg_restore into ${RESTORED_DB}"
pg_dump -Fc -d "${SOURCE_DB}" -f "${WORK_DIR}/source.dump" || fail "pg_dump failed"
dropdb --if-exists "${RESTORED_DB}"
createdb "${RESTORED_DB}"
at_exit "dropdb --if-exists --force '${RESTORED_DB}'"
pg_restore --exit-on-error -d "${RESTORED_DB}" "${WORK_DIR}/source.dump" || fail "pg_restore failed"

for database in "${SOURCE_DB}" "${RESTORED_DB}"; do
	psql -X -q -v ON_ERROR_STOP=1 -d "${database}" -f test/integration/catalog_snapshot.sql >"${WORK_DIR}/${database}.txt"
done
for table in customer_contacts consent_events survey_responses feedback complaint_tickets complaint_events; do
	grep -q "^crm.${table} rows [1-9]" "${WORK_DIR}/${SOURCE_DB}.txt" ||
		fail "the source database has no rows in crm.${table} to restore"
done
grep -q '^crm.customer_segments rows 4372 ' "${WORK_DIR}/${SOURCE_DB}.txt" ||
	fail "the source database does not hold the expected snapshot: $(grep '^crm.customer_segments' "${WORK_DIR}/${SOURCE_DB}.txt")"
diff -u "${WORK_DIR}/${SOURCE_DB}.txt" "${WORK_DIR}/${RESTORED_DB}.txt" ||
	fail "the restored database differs from the dumped one (- dumped, + restored)"
# The control group's salt, left out of the comparison above (it differs
# between installations): the restore keeps the installation's own.
control_group="SELECT global_control_salt || ' ' || (SELECT count(*) FROM crm.customers WHERE crm.in_global_control(customer_id)) FROM crm.settings"
[ "$(sql "${RESTORED_DB}" "${control_group}")" = "$(sql "${SOURCE_DB}" "${control_group}")" ] ||
	fail "the restored database has another global control group salt or group"

sql "${RESTORED_DB}" "CALL crm.refresh_segments('2011-12-10 00:00+00')" || fail "refresh in the restored database failed"
[ "$(sql "${RESTORED_DB}" "SELECT max(run_id) FROM crm.refresh_runs WHERE status = 'succeeded'")" = 3 ] ||
	fail "the restored run numbering did not continue at 3"
[ "$(sql "${RESTORED_DB}" "SELECT count(DISTINCT segment) FROM crm.customer_segments")" = 2 ] ||
	fail "the restored database does not score with the restored rule set"
pass "configuration, data, models, runs, snapshot and the global control group restored identically; the next refresh is run 3 with the restored rule set"
