#!/usr/bin/env bash
# test/integration/upgrade.sh: every released version (sql/released/) updates
# to the current one with ALTER EXTENSION retail_crm UPDATE, keeps its data
# and works afterwards.  For each released version:
#   * a database with the old version, the Online Retail sample and a
#     refresh is updated; every column the old version had keeps its values,
#     and a new refresh succeeds (from 1.0: first refused while a view of
#     the user's reads crm.customer_segments, which 1.1 replaces);
#   * an empty database with the old version, once updated, has exactly the
#     catalog (objects, labels, grants, comments, function bodies, config
#     rows) of a fresh install: catalog_snapshot.sql, compared with diff.
set -euo pipefail
# shellcheck source=test/integration/lib.sh
source "$(dirname "$0")/lib.sh"

AS_OF="2011-12-10 00:00+00"
SNAPSHOT_SQL="${PROJECT_ROOT}/test/integration/catalog_snapshot.sql"
WORK_DIR="$(mktemp -d)"
at_exit "rm -rf '${WORK_DIR}'"

# Create a database (dropped at exit) with retail_crm at the given version
# ("" for the default).
database_with_version() {
	local database="$1" version="$2" clause=""
	[ -n "${version}" ] && clause="VERSION '${version}'"
	dropdb --if-exists "${database}"
	createdb "${database}"
	at_exit "dropdb --if-exists --force '${database}'"
	sql "${database}" "CREATE EXTENSION retail_crm ${clause} CASCADE" >/dev/null ||
		fail "CREATE EXTENSION retail_crm ${clause} failed"
}

# One line per table of the schema: name, row count and a checksum of the
# columns listed in the file given (table|column lines); prints the list of
# columns first when asked to record it.
record_columns() {
	sql "$1" "SELECT c.relname || '|' || a.attname
		FROM pg_class AS c JOIN pg_attribute AS a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
		WHERE c.relnamespace = 'crm'::regnamespace AND c.relkind = 'r'
		ORDER BY c.relname, a.attnum" >"$2"
}

table_checksums() {
	local database="$1" columns_file="$2" table columns
	for table in $(cut -d'|' -f1 "${columns_file}" | uniq); do
		columns="$(grep "^${table}|" "${columns_file}" | cut -d'|' -f2 | sed 's/.*/"&"/' | paste -sd, -)"
		printf '%s ' "${table}"
		sql "${database}" "SELECT count(*) || ' ' || coalesce(md5(string_agg(r::text, E'\n' ORDER BY r::text)), '')
			FROM (SELECT ${columns} FROM crm.${table}) AS r"
	done
}

# 1.0 kept contacts and consent in columns of crm.customers, 1.1 in
# crm.customer_contacts: give some customers of the sample every mix of
# handles, consents, preferences and consent times (a NULL time for the
# consents of customers divisible by 11), then list them, one fact a line,
# from the 1.0 columns (contacts_1_0) or the 1.1 table (contacts_1_1).
CONTACTS_1_0_LOAD="UPDATE crm.customers SET
	email = CASE WHEN customer_id % 3 = 0 THEN 'c' || customer_id || '@example.com' END,
	phone = CASE WHEN customer_id % 5 = 0 THEN '+44 7700 ' || customer_id END,
	consent_email = customer_id % 6 = 0, consent_sms = customer_id % 10 = 0,
	consent_phone = customer_id % 15 = 0, consent_app = customer_id % 4 = 0,
	preferred_channel = CASE WHEN customer_id % 12 = 0 THEN 'app' WHEN customer_id % 9 = 0 THEN 'email' END,
	consent_updated_at = CASE WHEN customer_id % 11 <> 0
							  AND (customer_id % 3 = 0 OR customer_id % 4 = 0 OR customer_id % 5 = 0 OR customer_id % 7 = 0)
							  THEN timestamptz '2011-01-01 00:00+00' + customer_id * interval '1 minute' END"
CONTACTS_1_0="SELECT f FROM (
	SELECT 'email ' || customer_id || ' ' || email FROM crm.customers WHERE email IS NOT NULL
	UNION ALL SELECT 'sms ' || customer_id || ' ' || phone FROM crm.customers WHERE phone IS NOT NULL
	UNION ALL SELECT 'phone ' || customer_id || ' ' || phone FROM crm.customers WHERE phone IS NOT NULL
	UNION ALL SELECT 'consent email ' || customer_id FROM crm.customers WHERE consent_email
	UNION ALL SELECT 'consent sms ' || customer_id FROM crm.customers WHERE consent_sms
	UNION ALL SELECT 'consent phone ' || customer_id FROM crm.customers WHERE consent_phone
	UNION ALL SELECT 'consent app ' || customer_id FROM crm.customers WHERE consent_app
	UNION ALL SELECT 'preferred ' || customer_id || ' ' || preferred_channel FROM crm.customers WHERE preferred_channel IS NOT NULL
	UNION ALL SELECT 'updated ' || customer_id || ' ' || consent_updated_at FROM crm.customers WHERE consent_updated_at IS NOT NULL
	UNION ALL SELECT 'evidence ' || customer_id || ' ' || ch || ' ' || coalesce(consent_updated_at, joined_at)
	FROM crm.customers, LATERAL (VALUES ('email', consent_email), ('sms', consent_sms), ('phone', consent_phone),
									   ('app', consent_app)) AS v (ch, granted)
	WHERE granted) AS facts (f) ORDER BY 1"
CONTACTS_1_1="SELECT f FROM (
	SELECT channel || ' ' || customer_id || ' ' || handle FROM crm.customer_contacts WHERE handle IS NOT NULL
	UNION ALL SELECT 'consent ' || channel || ' ' || customer_id FROM crm.customer_contacts WHERE consent
	UNION ALL SELECT 'preferred ' || customer_id || ' ' || channel FROM crm.customer_contacts WHERE preferred
	UNION ALL SELECT DISTINCT 'updated ' || customer_id || ' ' || consent_updated_at FROM crm.customer_contacts
	WHERE consent_updated_at IS NOT NULL AND customer_id % 11 <> 0
	UNION ALL SELECT 'evidence ' || customer_id || ' ' || channel || ' ' || recorded_at FROM crm.consent_events
	WHERE granted AND source = 'consent flags before retail_crm 1.1') AS facts (f) ORDER BY 1"

# Data survives the update and the refresh works after it.
check_data_survives() {
	local version="$1" database="it_upgrade_data_${1//./_}" new_version
	log "${version} with data: load, refresh, update"
	database_with_version "${database}" "${version}"
	load_online_retail "${database}"
	sql "${database}" "CALL crm.refresh_segments('${AS_OF}')"
	# A sale after the refresh: from 1.1 on it waits in the change queue,
	# which must keep it across the update.
	sql "${database}" "INSERT INTO crm.transactions (transaction_id, customer_id, occurred_at, amount)
		SELECT 'UPGRADE-SALE', min(customer_id), '${AS_OF}'::timestamptz - interval '1 day', 10 FROM crm.customers"
	record_columns "${database}" "${WORK_DIR}/columns"
	# 1.2 numbers the queue's entries instead of keeping transaction ids.
	sed -i '/^changed_customers|changed_by_xact$/d' "${WORK_DIR}/columns"
	if [ "${version}" = 1.0 ]; then
		sql "${database}" "${CONTACTS_1_0_LOAD}"
		sql "${database}" "${CONTACTS_1_0}" >"${WORK_DIR}/contacts_before"
		[ "$(wc -l <"${WORK_DIR}/contacts_before")" -gt 1000 ] || fail "the 1.0 contact columns hold too few facts to check"
		# The contact columns move to crm.customer_contacts: compared below.
		sed -i -E '/^customers\|(email|phone|consent_(email|sms|phone|app|updated_at)|preferred_channel)$/d' "${WORK_DIR}/columns"
	fi
	table_checksums "${database}" "${WORK_DIR}/columns" >"${WORK_DIR}/before"
	# An anonymous sale with a line, and a line of an order that is not
	# there: 1.2 moves them to the anonymous tables (checked after).
	sql "${database}" "INSERT INTO crm.transactions (transaction_id, customer_id, occurred_at, amount, store)
		VALUES ('UPGRADE-ANON', NULL, '${AS_OF}'::timestamptz - interval '2 days', 12.5, 'S1');
		INSERT INTO crm.transaction_items (transaction_id, line_no, product_id, quantity, unit_price)
		VALUES ('UPGRADE-ANON', 1, 'P-1', 1, 12.5), ('UPGRADE-NO-ORDER', 1, 'P-2', 2, 1)"

	if [ "${version}" = 1.0 ]; then
		refuses_while_user_views_read_replaced_tables "${database}"
	fi
	sql "${database}" 'ALTER EXTENSION retail_crm UPDATE' || fail "ALTER EXTENSION UPDATE from ${version} failed"
	if [ "${version}" = 1.0 ]; then
		sql "${database}" "CREATE VIEW public.my_champions AS $(cat "${WORK_DIR}/my_champions.sql")" ||
			fail "the saved view does not work on the updated crm.customer_segments"
		[ "$(sql "${database}" 'SELECT count(*) > 0 FROM public.my_champions')" = t ] ||
			fail "the recreated view reads no champions"
		sql "${database}" 'DROP VIEW public.my_champions'
	fi
	new_version="$(sql "${database}" "SELECT extversion FROM pg_extension WHERE extname = 'retail_crm'")"
	[ "${new_version}" = "${CURRENT_VERSION}" ] ||
		fail "after the update from ${version} the version is ${new_version}, not ${CURRENT_VERSION}"
	table_checksums "${database}" "${WORK_DIR}/columns" >"${WORK_DIR}/after"
	[ "$(sql "${database}" "SELECT (SELECT string_agg(concat_ws(' ', transaction_id, amount, store), ',')
			FROM crm.anonymous_transactions) || ' / ' || (SELECT string_agg(concat_ws(' ', transaction_id, product_id, quantity), ','
			ORDER BY transaction_id) FROM crm.anonymous_transaction_items)")" = 'UPGRADE-ANON 12.5 S1 / UPGRADE-ANON P-1 1,UPGRADE-NO-ORDER P-2 2' ] ||
		fail "the anonymous sale of ${version} or its lines did not move to the anonymous tables"
	diff -u "${WORK_DIR}/before" "${WORK_DIR}/after" ||
		fail "data of version ${version} changed in the update (diff above)"
	if [ "${version}" = 1.0 ]; then
		sql "${database}" "${CONTACTS_1_1}" >"${WORK_DIR}/contacts_after"
		diff -u "${WORK_DIR}/contacts_before" "${WORK_DIR}/contacts_after" ||
			fail "contacts and consents of 1.0 changed in the move to crm.customer_contacts (- 1.0 columns, + 1.1)"
		log "1.0 contacts and consents moved to crm.customer_contacts: $(wc -l <"${WORK_DIR}/contacts_after") facts equal"
	fi

	sql "${database}" "CALL crm.refresh_segments('${AS_OF}')" || fail "refresh after the update from ${version} failed"
	[ "$(count_runs "${database}" succeeded)" = 2 ] || fail "the refresh after the update did not succeed"
	[ "$(sql "${database}" 'SELECT count(*) FROM crm.changed_customers')" = 0 ] ||
		fail "the refresh after the update from ${version} left entries in the change queue"
	[ "$(sql "${database}" 'SELECT count(*) > 4000 FROM crm.segment_summary, crm.customer_segments LIMIT 1')" = t ] ||
		fail "no segments after the update from ${version}"
}

# 1.0 -> 1.1 turns crm.customer_segments into a view and crm.segment_history
# into a partitioned table: a view of the user's reading them would stay on
# the old tables, so the update refuses, naming it, and goes through once it
# is dropped.  The view's definition is saved in WORK_DIR/my_champions.sql.
refuses_while_user_views_read_replaced_tables() {
	local database="$1" output
	sql "${database}" "CREATE VIEW public.my_champions AS
		SELECT customer_id, clv FROM crm.customer_segments WHERE segment = 'Champions'"
	if output="$(sql "${database}" 'ALTER EXTENSION retail_crm UPDATE' 2>&1)"; then
		fail "the update from 1.0 ran while a view of the user's read crm.customer_segments"
	fi
	grep -q 'my_champions' <<<"${output}" || fail "the refused update did not name the view: ${output}"
	grep -q 'HINT:' <<<"${output}" || fail "the refused update gave no hint: ${output}"
	[ "$(sql "${database}" "SELECT extversion FROM pg_extension WHERE extname = 'retail_crm'")" = 1.0 ] ||
		fail "the refused update changed the version"
	sql "${database}" "SELECT pg_get_viewdef('public.my_champions'::regclass)" >"${WORK_DIR}/my_champions.sql"
	sql "${database}" 'DROP VIEW public.my_champions'
	log "1.0 update refused while public.my_champions read crm.customer_segments: $(grep ERROR <<<"${output}")"
}

# An updated empty database equals a fresh install, fact by fact.
check_catalog_matches_fresh_install() {
	local version="$1" updated="it_upgrade_catalog_${1//./_}"
	log "${version} updated vs fresh ${CURRENT_VERSION}: catalog"
	database_with_version "${updated}" "${version}"
	sql "${updated}" 'ALTER EXTENSION retail_crm UPDATE' || fail "ALTER EXTENSION UPDATE from ${version} failed"
	psql -X -q -v ON_ERROR_STOP=1 -d "${updated}" -f "${SNAPSHOT_SQL}" >"${WORK_DIR}/updated.txt"
	diff -u "${WORK_DIR}/fresh.txt" "${WORK_DIR}/updated.txt" ||
		fail "${version} updated to ${CURRENT_VERSION} differs from a fresh install (- fresh, + updated)"
}

require_server
CURRENT_VERSION="$(sed -n "s/^default_version = '\(.*\)'/\1/p" retail_crm.control)"
RELEASED_VERSIONS="$(ls sql/released | sed -n 's/^retail_crm--\([^-]*\)\.sql$/\1/p' | sort -V)"
[ -n "${RELEASED_VERSIONS}" ] || fail "no released version in sql/released"

database_with_version it_upgrade_fresh ""
psql -X -q -v ON_ERROR_STOP=1 -d it_upgrade_fresh -f "${SNAPSHOT_SQL}" >"${WORK_DIR}/fresh.txt"
[ "$(wc -l <"${WORK_DIR}/fresh.txt")" -gt 100 ] || fail "the catalog snapshot of a fresh install is nearly empty"

for version in ${RELEASED_VERSIONS}; do
	[ "${version}" = "${CURRENT_VERSION}" ] && continue
	check_data_survives "${version}"
	check_catalog_matches_fresh_install "${version}"
done
pass "$(echo ${RELEASED_VERSIONS} | wc -w) released version(s) update to ${CURRENT_VERSION} with data intact and a catalog equal to a fresh install"
