#!/usr/bin/env bash
# test/integration/points_concurrency.sh: many clients redeeming from one
# member at once never overdraw, lose or duplicate a movement, and replayed
# earn events award once.
#
# One member starts with 1,000 points in ten lots.  At the same moment:
#   - CLIENTS psql sessions each send REDEMPTIONS redemptions of COST points
#     (own idempotency key each, every statement sent twice: a client retry),
#     one transaction per statement, together asking far more than there is;
#   - REPLAYERS sessions each send the same EARN_EVENTS earn events of
#     EARN_POINTS points (the same keys in every session: a replayed feed).
# Then the ledger must show: every earn event once; every redemption a
# client saw succeed exactly once, and no other; balance = earned - redeemed
# >= 0 and below COST (the demand exceeds the supply, so nothing may be left
# unspent that a refused redemption could have had); account total = ledger
# sum; every lot's allocations within the lot; no key twice.
set -euo pipefail
# shellcheck source=test/integration/lib.sh
source "$(dirname "$0")/lib.sh"

MEMBER=1
CLIENTS=16
REDEMPTIONS=25
COST=7
REPLAYERS=4
EARN_EVENTS=50
EARN_POINTS=10
INITIAL_POINTS=1000

setup() {
	sql "${TEST_DB}" "
		INSERT INTO crm.customers (customer_id) VALUES (${MEMBER});
		INSERT INTO crm.loyalty_programs (program_id) VALUES ('club');
		INSERT INTO crm.loyalty_tiers (program_id, tier_rank, tier_name, threshold) VALUES ('club', 1, 'Member', 0);
		SELECT crm.enrol_member(${MEMBER}, 'club');
		SELECT count(crm.earn_points(${MEMBER}, $((INITIAL_POINTS / 10)), 'initial-' || i, now() + i * interval '1 day'))
		FROM generate_series(1, 10) AS i;" >/dev/null
}

# Redemptions of one client, each sent twice; psql goes on after errors.
# Prints "ok <key> <movement_id>" per success, psql prints the SQLSTATE of
# each error on stderr.
redeemer_script() {
	local client="$1" j
	echo '\set VERBOSITY sqlstate'
	for ((j = 1; j <= REDEMPTIONS; j++)); do
		for _ in 1 2; do
			printf "SELECT 'ok c%d-%d ' || movement_id FROM crm.redeem_points(%d, %d, 'c%d-%d');\n" \
				"${client}" "${j}" "${MEMBER}" "${COST}" "${client}" "${j}"
		done
	done
}

replayer_script() {
	local j
	for ((j = 1; j <= EARN_EVENTS; j++)); do
		printf "SELECT 'earned e%d ' || movement_id FROM crm.earn_points(%d, %d, 'event-%d');\n" \
			"${j}" "${MEMBER}" "${EARN_POINTS}" "${j}"
	done
}

main() {
	local work pids=() i successes distinct_successes refused other_errors earned redeemed balance
	require_server
	create_test_database
	setup
	work="$(mktemp -d)"
	at_exit "rm -rf '${work}'"

	log "${CLIENTS} clients x ${REDEMPTIONS} redemptions of ${COST} points (each sent twice), ${REPLAYERS} sessions replaying ${EARN_EVENTS} earn events, all at once"
	for ((i = 1; i <= CLIENTS; i++)); do
		redeemer_script "${i}" >"${work}/redeem_${i}.sql"
	done
	replayer_script >"${work}/replay.sql"
	for ((i = 1; i <= CLIENTS; i++)); do
		psql -X -q -A -t -d "${TEST_DB}" -f "${work}/redeem_${i}.sql" >"${work}/redeem_${i}.out" 2>"${work}/redeem_${i}.err" &
		pids+=($!)
	done
	for ((i = 1; i <= REPLAYERS; i++)); do
		psql -X -q -A -t -v ON_ERROR_STOP=1 -d "${TEST_DB}" -f "${work}/replay.sql" >"${work}/replay_${i}.out" 2>"${work}/replay_${i}.err" &
		pids+=($!)
	done
	for pid in "${pids[@]}"; do
		wait "${pid}" || true
	done

	for ((i = 1; i <= REPLAYERS; i++)); do
		[ ! -s "${work}/replay_${i}.err" ] || fail "replayer ${i} failed: $(head -3 "${work}/replay_${i}.err")"
	done
	# Every replayer saw the same movement for each event.
	[ "$(cat "${work}"/replay_*.out | sort -u | wc -l)" -eq "${EARN_EVENTS}" ] ||
		fail "replayed earn events returned $(cat "${work}"/replay_*.out | sort -u | wc -l) distinct movements, not ${EARN_EVENTS}"

	successes="$(cat "${work}"/redeem_*.out | grep -c '^ok ' || true)"
	cat "${work}"/redeem_*.out | grep '^ok ' | sort -u >"${work}/successes"
	distinct_successes="$(wc -l <"${work}/successes")"
	# The retry of a success returns the same movement: one line per key.
	[ "$(cut -d' ' -f2 "${work}/successes" | sort -u | wc -l)" -eq "${distinct_successes}" ] ||
		fail "a redemption key was answered with two different movements"
	refused="$(cat "${work}"/redeem_*.err | grep -c 'RC001' || true)"
	other_errors="$(cat "${work}"/redeem_*.err | grep -v 'RC001' | grep -c . || true)"
	[ "${other_errors}" -eq 0 ] || fail "redemptions failed otherwise than RC001: $(cat "${work}"/redeem_*.err | grep -v RC001 | head -3)"
	[ $((successes + refused)) -eq $((CLIENTS * REDEMPTIONS * 2)) ] ||
		fail "${successes} successes + ${refused} refusals, not $((CLIENTS * REDEMPTIONS * 2)) answers"
	log "${distinct_successes} redemptions succeeded (${successes} answers with retries), ${refused} refused with RC001"

	# The ledger holds exactly the movements the clients saw succeed.
	sql "${TEST_DB}" "SELECT 'ok ' || idempotency_key || ' ' || movement_id FROM crm.points_ledger
		WHERE kind = 'redeem' ORDER BY 1" | sort >"${work}/ledger_redemptions"
	diff -q "${work}/successes" "${work}/ledger_redemptions" >/dev/null ||
		fail "ledger redemptions differ from what clients saw: $(diff "${work}/successes" "${work}/ledger_redemptions" | head -5)"

	earned="$(sql "${TEST_DB}" "SELECT sum(points) FROM crm.points_ledger WHERE kind = 'earn'")"
	redeemed="$(sql "${TEST_DB}" "SELECT -sum(points) FROM crm.points_ledger WHERE kind = 'redeem'")"
	balance="$(sql "${TEST_DB}" "SELECT crm.points_balance(${MEMBER})")"
	[ "${earned}" -eq $((INITIAL_POINTS + EARN_EVENTS * EARN_POINTS)) ] ||
		fail "earned ${earned} points, not $((INITIAL_POINTS + EARN_EVENTS * EARN_POINTS)): a replayed event awarded twice or not at all"
	[ "$(sql "${TEST_DB}" "SELECT count(*) FROM crm.points_ledger WHERE kind = 'earn' AND idempotency_key LIKE 'event-%'")" -eq "${EARN_EVENTS}" ] ||
		fail "earn events are not in the ledger exactly once each"
	[ "${redeemed}" -eq $((distinct_successes * COST)) ] || fail "redeemed ${redeemed}, not ${distinct_successes} x ${COST}"
	[ "${balance}" -eq $((earned - redeemed)) ] || fail "balance ${balance} is not earned ${earned} - redeemed ${redeemed}"
	[ "${balance}" -ge 0 ] && [ "${balance}" -lt "${COST}" ] ||
		fail "balance ${balance} must be between 0 and ${COST} - 1 after the demand exceeded the supply"
	[ "$(sql "${TEST_DB}" "
		SELECT (SELECT ledger_total FROM crm.points_accounts WHERE customer_id = ${MEMBER})
			   = (SELECT sum(points) FROM crm.points_ledger WHERE customer_id = ${MEMBER})
		   AND NOT EXISTS (SELECT 1 FROM crm.points_lots WHERE remaining < 0)
		   AND NOT EXISTS (SELECT 1 FROM crm.points_ledger AS l WHERE l.points < 0
						   AND -l.points <> (SELECT sum(a.points) FROM crm.points_allocations AS a WHERE a.movement_id = l.movement_id))
		   AND NOT EXISTS (SELECT 1 FROM crm.points_ledger GROUP BY kind, idempotency_key HAVING count(*) > 1)
		   AND (SELECT min(running_balance) FROM crm.points_statement WHERE customer_id = ${MEMBER}) >= 0")" = t ] ||
		fail "ledger inconsistent: account total, lot allocations, duplicate keys or a negative running balance"

	pass "${distinct_successes} concurrent redemptions of ${COST} (${refused} refused with RC001) from ${earned} points earned: balance ${balance} = earned - redeemed, never negative; ${REPLAYERS} replays of ${EARN_EVENTS} earn events awarded once"
}

main "$@"
