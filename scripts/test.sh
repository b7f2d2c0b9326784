#!/usr/bin/env bash
# scripts/test.sh: the second command of the README, and what CI runs.
#
# Tests the server whose pg_config PG_CONFIG names (default: Debian's
# PostgreSQL 15 package; see scripts/lib.sh).  From a clean clone: installs
# what is missing, rebuilds retail_crm from scratch (the Makefile makes
# warnings errors), installs it, then in ONE throwaway cluster with pg_cron
# preloaded (pg_virtualenv for Debian's servers, else a cluster made with
# the server's own initdb) runs
#   1. the pg_regress suites (make installcheck; regression.diffs is printed
#      on failure), each test counted from its own result line, then two of
#      them alone on a new database (each test must also run alone);
#   2. every test/integration/*.sh script, each counted as one test (or as
#      skipped when it prints a SKIP: line, e.g. without Citus).
#   3. the pg_regress suites again, in a second throwaway cluster, against a
#      build with UndefinedBehaviorSanitizer (a report aborts the backend and
#      fails the suite), after which the normal build is installed again;
#   4. the pg_regress suites once more on a server running under Valgrind's
#      Memcheck: any error whose stack passes through retail_crm.so, or a
#      backend that dies, fails it (output differences are not judged
#      there: Memcheck slows the server 30 to 40 times, so timeouts differ).
# Ends with the single line "tests: N passed, M failed, K skipped" and exits
# non-zero when anything failed.
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=scripts/lib.sh
source scripts/lib.sh

# Longest an integration script may run before it counts as failed.
INTEGRATION_TIMEOUT_SECONDS=900

# Append one result ("PASS name", "FAIL name" or "SKIP name") to the results file.
record() {
	printf '%s %s\n' "$2" "$3" >>"$1"
}

# Make the directories pg_regress writes into usable by the cluster too: as
# root, the throwaway cluster runs as user postgres, and a test that has
# the server write a file next to its results (COPY ... TO) would otherwise
# fail with "permission denied".
prepare_output_dirs() {
	mkdir -p results
	if [ "$(id -u)" = 0 ]; then
		chown postgres: results
	fi
}

# pg_regress suites and isolation specs: one result per test, read from
# pg_regress's lines "test name ... ok|FAILED" (PostgreSQL 15) or "ok N -
# name" / "not ok N - name" (16 and later).  Two make runs, so that a failing
# regression test does not keep the isolation specs from running.
run_regression_tests() {
	local results_file="$1"
	prepare_output_dirs
	run_installcheck "${results_file}" "make installcheck: pg_regress suites" ISOLATION=
	run_installcheck "${results_file}" "make installcheck: isolation specs" REGRESS=
}

# Two pg_regress tests alone, each on a new database: one that replays the
# tests before it (views), one that needs only the extension (hostile_input).
run_tests_alone() {
	local results_file="$1" test
	for test in views hostile_input; do
		step "make installcheck: ${test} alone"
		if make installcheck PG_CONFIG="${PG_CONFIG}" PG_REGRESS_DIFF_OPTS=-U3 REGRESS="${test}" ISOLATION= >/dev/null 2>&1; then
			record "${results_file}" PASS "alone:${test}"
		else
			[ -r regression.diffs ] && cat regression.diffs
			record "${results_file}" FAIL "alone:${test}"
		fi
	done
}

# One make installcheck with the given variable overrides.
run_installcheck() {
	local results_file="$1" title="$2" log status=0 line
	shift 2
	log="$(mktemp)"
	step "${title}"
	make installcheck PG_CONFIG="${PG_CONFIG}" PG_REGRESS_DIFF_OPTS=-U3 "$@" 2>&1 | tee "${log}" || status=$?

	while IFS= read -r line; do
		case "${line}" in
		*" ... ok"* | "ok "[0-9]*)
			record "${results_file}" PASS "regress:$(regress_test_name "${line}")" ;;
		*" ... FAILED"* | *" ... failed"* | "not ok "[0-9]*)
			record "${results_file}" FAIL "regress:$(regress_test_name "${line}")" ;;
		esac
	done <"${log}"

	if [ "${status}" -ne 0 ]; then
		if [ -r regression.diffs ]; then
			echo "**** regression.diffs ****"
			cat regression.diffs
		fi
		# make failed before or outside any single test: count that too.
		grep -qE ' \.\.\. (FAILED|failed)|^not ok ' "${log}" ||
			record "${results_file}" FAIL "regress:${title}"
	fi
	rm -f "${log}"
}

# The test name in a pg_regress result line, in either output format.
regress_test_name() {
	local line="$1"
	case "${line}" in
	"ok "* | "not ok "*) line="${line#*- }" ;;
	*) line="${line#test }" ;;
	esac
	read -r line _ <<<"${line}"
	printf '%s' "${line}"
}

# Integration scripts: each on its own, with the cluster's PG* variables.
# One that ends with a SKIP: line (what it needs is not installed) counts as
# skipped, apart from the passes.
run_integration_tests() {
	local results_file="$1" script name output
	output="$(mktemp)"
	for script in test/integration/*.sh; do
		name="$(basename "${script}" .sh)"
		[ "${name}" = lib ] && continue
		step "integration: ${name}"
		if timeout "${INTEGRATION_TIMEOUT_SECONDS}" bash "${script}" | tee "${output}"; then
			if grep -q '^SKIP: ' "${output}"; then
				record "${results_file}" SKIP "integration:${name}"
			else
				record "${results_file}" PASS "integration:${name}"
			fi
		else
			record "${results_file}" FAIL "integration:${name}"
		fi
	done
	rm -f "${output}"
}

# Runs inside the throwaway cluster: every suite, results into the file named.
run_suites_in_cluster() {
	local results_file="$1"
	run_regression_tests "${results_file}"
	run_tests_alone "${results_file}"
	run_integration_tests "${results_file}"
	! grep -q '^FAIL ' "${results_file}"
}

# Print every result and the closing count line; fail when anything failed.
report() {
	local results_file="$1" passed failed skipped
	step "results"
	cat "${results_file}"
	passed="$(grep -c '^PASS ' "${results_file}" || true)"
	failed="$(grep -c '^FAIL ' "${results_file}" || true)"
	skipped="$(grep -c '^SKIP ' "${results_file}" || true)"
	echo "tests: ${passed} passed, ${failed} failed, ${skipped} skipped"
	[ "${failed}" -eq 0 ] && [ "${passed}" -gt 0 ]
}

# The pg_regress suites against the sanitizer build, counted as one test;
# then the normal build goes back in place.
run_sanitizer_suite() {
	local results_file="$1"
	step "sanitizer build (UndefinedBehaviorSanitizer)"
	make clean PG_CONFIG="${PG_CONFIG}" >/dev/null
	make PG_CONFIG="${PG_CONFIG}" COPT="${SANITIZER_COPT}" >/dev/null
	install_into_server >/dev/null
	prepare_output_dirs
	step "pg_regress suites under the sanitizers"
	if in_throwaway_cluster make installcheck PG_CONFIG="${PG_CONFIG}" PG_REGRESS_DIFF_OPTS=-U3 ISOLATION=; then
		record "${results_file}" PASS "sanitizer:regress"
	else
		[ -r regression.diffs ] && cat regression.diffs
		record "${results_file}" FAIL "sanitizer:regress"
	fi
	make clean PG_CONFIG="${PG_CONFIG}" >/dev/null
	build_and_install >/dev/null
}

# The pg_regress suites on a server under Valgrind, counted as one test.
run_valgrind_suite() {
	local results_file="$1"
	prepare_output_dirs
	rm -f results/*.out
	step "pg_regress suites under Valgrind (Memcheck)"
	if in_valgrind_cluster regress_under_valgrind; then
		record "${results_file}" PASS "valgrind:regress"
	else
		record "${results_file}" FAIL "valgrind:regress"
	fi
}

# make installcheck whose own verdict is left aside; it must at least have
# run every suite.
regress_under_valgrind() {
	local expected ran
	make installcheck PG_CONFIG="${PG_CONFIG}" ISOLATION= >/dev/null 2>&1 || true
	expected="$(make -s -f - PG_CONFIG="${PG_CONFIG}" <<<'include Makefile
print-regress: ; @echo $(words $(REGRESS))' print-regress 2>/dev/null)"
	ran="$(find results -name '*.out' | wc -l)"
	echo "suites run under Valgrind: ${ran} of ${expected}"
	[ "${ran}" -eq "${expected}" ]
}

main() {
	if [ "${1:-}" = --in-cluster ]; then
		run_suites_in_cluster "$2"
		return
	fi

	RESULTS_FILE="$(mktemp)"
	trap 'rm -f "${RESULTS_FILE}"' EXIT

	step "dependencies"
	scripts/install-deps.sh
	step "testing $("${PG_CONFIG}" --version) (${PG_CONFIG})"
	step "make clean"
	make clean PG_CONFIG="${PG_CONFIG}"
	build_and_install

	step "tests in a throwaway cluster"
	in_throwaway_cluster scripts/test.sh --in-cluster "${RESULTS_FILE}" ||
		grep -q '^FAIL ' "${RESULTS_FILE}" ||
		record "${RESULTS_FILE}" FAIL "cluster:throwaway"
	run_sanitizer_suite "${RESULTS_FILE}"
	run_valgrind_suite "${RESULTS_FILE}"
	report "${RESULTS_FILE}"
}

main "$@"
