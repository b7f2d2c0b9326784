#!/usr/bin/env bash
# test/integration/cron_refresh.sh: a refresh scheduled with
# crm.schedule_refresh(), and the loyalty jobs scheduled with
# crm.schedule_tier_review() and crm.schedule_points_expiry(), really run
# from pg_cron.
#
# pg_regress cannot wait for a cron tick, so this script does: in the
# database pg_cron runs in (cron.database_name, here postgres; pg_cron can
# only be created there) it installs pg_cron and retail_crm, loads a small
# fixture, schedules the refresh every minute, and waits up to 150 s for both
# a succeeded cron.job_run_details row of that job and a succeeded
# crm.refresh_runs row that scored customers.  Then crm.unschedule_refresh()
# must remove the job.  The tier review and the points expiry are scheduled
# the same way and must each log a run in crm.loyalty_runs (the review an
# upgrade, the sweep a lapsed lot) before their unschedule functions remove
# them.  The database is left as it was found (checked).
set -euo pipefail
# shellcheck source=test/integration/lib.sh
source "$(dirname "$0")/lib.sh"

CRON_DB="postgres"
JOB_NAME="retail_crm_refresh"
LOYALTY_JOBS="'retail_crm_tier_review', 'retail_crm_points_expiry'"
TICK_TIMEOUT_SECONDS=150

# Extensions and schemas of the cron database, to check it is left as found
# (not the temporary schemas that any session using temp tables leaves).
database_objects() {
	sql "${CRON_DB}" "
		SELECT string_agg(kind || ' ' || name, ', ' ORDER BY kind, name)
		FROM (SELECT 'extension' AS kind, extname::text AS name FROM pg_extension
			  UNION ALL
			  SELECT 'schema', nspname::text FROM pg_namespace
			  WHERE nspname !~ '^pg_(toast_)?temp_') AS objects"
}

# Install pg_cron (unless present: then it is kept) and a fresh retail_crm.
install_extensions() {
	[ "$(sql "${CRON_DB}" "SELECT count(*) FROM pg_namespace WHERE nspname = 'crm'")" = 0 ] ||
		fail "schema crm (retail_crm) already exists in database ${CRON_DB}; refusing to touch its data"
	PG_CRON_CREATED=false
	if [ "$(sql "${CRON_DB}" "SELECT count(*) FROM pg_extension WHERE extname = 'pg_cron'")" = 0 ]; then
		sql "${CRON_DB}" 'CREATE EXTENSION pg_cron'
		PG_CRON_CREATED=true
	fi
	at_exit remove_extensions
	sql "${CRON_DB}" 'CREATE EXTENSION retail_crm CASCADE'
}

# Undo install_extensions.  CREATE EXTENSION created schema crm but DROP
# EXTENSION does not drop it (it is not a member of the extension), so it
# goes explicitly; without CASCADE, so anything left in it stops the test.
remove_extensions() {
	sql "${CRON_DB}" 'DROP EXTENSION IF EXISTS retail_crm CASCADE'
	sql "${CRON_DB}" 'DROP SCHEMA IF EXISTS crm'
	if [ "${PG_CRON_CREATED}" = true ]; then
		sql "${CRON_DB}" 'DROP EXTENSION IF EXISTS pg_cron'
	fi
}

# Unschedule the job if the test stopped before it did (and pg_cron is
# still there).
remove_job() {
	[ "$(sql "${CRON_DB}" "SELECT to_regclass('cron.job') IS NOT NULL")" = t ] || return 0
	sql "${CRON_DB}" "SELECT cron.unschedule(jobid) FROM cron.job WHERE jobname IN ('${JOB_NAME}', ${LOYALTY_JOBS})" >/dev/null
}

# Three customers with purchases (and one return) in the recent past, and a
# prospect without orders.
load_fixture() {
	sql "${CRON_DB}" "
		INSERT INTO crm.customers (customer_id, country, joined_at) VALUES
			(1, 'United Kingdom', now() - interval '400 days'),
			(2, 'France', now() - interval '200 days'),
			(3, 'Germany', now() - interval '30 days'),
			(4, 'Germany', now() - interval '2 days');
		INSERT INTO crm.transactions (transaction_id, customer_id, occurred_at, amount, channel, store) VALUES
			('c1', 1, now() - interval '390 days', 120.00, 'online', NULL),
			('c2', 1, now() - interval '200 days', 80.50, 'store', 'London'),
			('c3', 1, now() - interval '5 days', 240.00, 'online', NULL),
			('c4', 2, now() - interval '150 days', 35.90, 'store', 'Paris'),
			('c5', 2, now() - interval '149 days', -35.90, 'store', 'Paris'),
			('c6', 2, now() - interval '20 days', 60.00, 'online', NULL),
			('c7', 3, now() - interval '29 days', 15.00, 'online', NULL);
		INSERT INTO crm.loyalty_programs (program_id, qualification_window) VALUES ('club', 'lifetime');
		INSERT INTO crm.loyalty_tiers (program_id, tier_rank, tier_name, threshold) VALUES
			('club', 1, 'Member', 0), ('club', 2, 'Silver', 300);
		SELECT crm.enrol_member(1, 'club');
		SELECT crm.earn_points(1, 25, 'soon-gone', now() + interval '1 second');" >/dev/null
}

# True once pg_cron ran both loyalty jobs and each logged its run.
loyalty_jobs_ran_from_cron() {
	local job_failures
	job_failures="$(sql "${CRON_DB}" "
		SELECT string_agg(d.return_message, '; ') FROM cron.job_run_details AS d JOIN cron.job AS j USING (jobid)
		WHERE j.jobname IN (${LOYALTY_JOBS}) AND d.status = 'failed'")"
	[ -z "${job_failures}" ] || fail "a loyalty cron job failed: ${job_failures}"
	[ "$(sql "${CRON_DB}" "
		SELECT (SELECT count(DISTINCT j.jobname) FROM cron.job_run_details AS d JOIN cron.job AS j USING (jobid)
				WHERE j.jobname IN (${LOYALTY_JOBS}) AND d.status = 'succeeded') = 2
		   AND EXISTS (SELECT 1 FROM crm.loyalty_runs WHERE job = 'tier_review' AND upgrades = 1)
		   AND EXISTS (SELECT 1 FROM crm.loyalty_runs WHERE job = 'points_expiry' AND points_expired = 25)")" = t ]
}

# The tier review and the points expiry, scheduled every minute, run and
# log; their unschedule functions remove them.
test_loyalty_jobs() {
	local review_job expiry_job
	review_job="$(sql "${CRON_DB}" "SELECT crm.schedule_tier_review('* * * * *')")"
	expiry_job="$(sql "${CRON_DB}" "SELECT crm.schedule_points_expiry('* * * * *')")"
	[ -n "${review_job}" ] && [ -n "${expiry_job}" ] || fail "the loyalty schedule functions returned no job id"
	log "scheduled jobs ${review_job} and ${expiry_job}: $(sql "${CRON_DB}" "SELECT string_agg(jobname || ' | ' || command, '; ') FROM cron.job WHERE jobname IN (${LOYALTY_JOBS})")"
	wait_until "${TICK_TIMEOUT_SECONDS}" "succeeded runs of the tier review and the points expiry" loyalty_jobs_ran_from_cron
	psql -X -q -d "${CRON_DB}" -c "SELECT run_id, job, program_id, members, upgrades, downgrades, lots_expired, points_expired
		FROM crm.loyalty_runs ORDER BY run_id LIMIT 4"
	[ "$(sql "${CRON_DB}" 'SELECT crm.unschedule_tier_review() AND crm.unschedule_points_expiry()')" = t ] ||
		fail "the loyalty unschedule functions did not find their jobs"
	[ "$(sql "${CRON_DB}" "SELECT count(*) FROM cron.job WHERE jobname IN (${LOYALTY_JOBS})")" = 0 ] ||
		fail "loyalty jobs still exist after unscheduling"
}

# True once pg_cron ran the job successfully and the run it made is logged.
refresh_ran_from_cron() {
	local job_failures
	job_failures="$(sql "${CRON_DB}" "
		SELECT string_agg(return_message, '; ') FROM cron.job_run_details
		WHERE jobid = ${JOB_ID} AND status = 'failed'")"
	[ -z "${job_failures}" ] || fail "the cron job failed: ${job_failures}"
	[ "$(sql "${CRON_DB}" "
		SELECT EXISTS (SELECT 1 FROM cron.job_run_details
					   WHERE jobid = ${JOB_ID} AND status = 'succeeded')
		   AND EXISTS (SELECT 1 FROM crm.refresh_runs
					   WHERE status = 'succeeded' AND customers > 0)")" = t ]
}

main() {
	local objects_before started waited
	require_server
	objects_before="$(database_objects)"
	install_extensions
	load_fixture

	JOB_ID="$(sql "${CRON_DB}" "SELECT crm.schedule_refresh('* * * * *')")"
	[ -n "${JOB_ID}" ] || fail "crm.schedule_refresh() returned no job id"
	at_exit remove_job
	log "scheduled job ${JOB_ID}: $(sql "${CRON_DB}" "SELECT jobname || ' | ' || schedule || ' | ' || command || ' | ' || database FROM cron.job WHERE jobid = ${JOB_ID}")"
	[ "$(sql "${CRON_DB}" "SELECT jobname FROM cron.job WHERE jobid = ${JOB_ID}")" = "${JOB_NAME}" ] ||
		fail "job ${JOB_ID} is not named ${JOB_NAME}"

	log "waiting up to ${TICK_TIMEOUT_SECONDS} s for pg_cron to run the refresh"
	started="${SECONDS}"
	wait_until "${TICK_TIMEOUT_SECONDS}" "a succeeded cron run and refresh run" refresh_ran_from_cron
	waited=$((SECONDS - started))
	log "pg_cron ran it after ${waited} s:"
	psql -X -q -d "${CRON_DB}" -c "SELECT runid, status, return_message, start_time, end_time
		FROM cron.job_run_details WHERE jobid = ${JOB_ID} ORDER BY runid"
	show_runs "${CRON_DB}" 3

	sql "${CRON_DB}" 'SELECT crm.unschedule_refresh()' >/dev/null
	[ "$(sql "${CRON_DB}" "SELECT count(*) FROM cron.job WHERE jobname = '${JOB_NAME}'")" = 0 ] ||
		fail "job ${JOB_NAME} still exists after crm.unschedule_refresh()"

	test_loyalty_jobs

	remove_extensions
	[ "$(database_objects)" = "${objects_before}" ] ||
		fail "database ${CRON_DB} was not left as found: $(database_objects) instead of ${objects_before}"

	pass "pg_cron job ${JOB_ID} refreshed the segments within ${waited} s; unschedule_refresh() removed it; the tier review and points expiry jobs ran and were logged; ${CRON_DB} left as found"
}

main "$@"
