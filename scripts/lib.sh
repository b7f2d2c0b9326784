# shellcheck shell=bash
# scripts/lib.sh: settings and functions shared by install-deps.sh, demo.sh
# and test.sh (sourced, not run).  Keeps the PostgreSQL version, the way to
# get root, and the throwaway cluster's settings in one place.

# PostgreSQL major version the extension is built and tested against.
PG_MAJOR="${PG_MAJOR:-15}"
# Build against this server version even when several -dev packages exist
# (/usr/bin/pg_config would pick the newest).
export PG_CONFIG="/usr/lib/postgresql/${PG_MAJOR}/bin/pg_config"

# Settings of the throwaway cluster: pg_cron must be preloaded and runs its
# jobs in database postgres with background workers (no libpq connection, so
# no password needed); the extra worker processes leave room for them.
PG_VIRTUALENV_OPTS=(
	-v "${PG_MAJOR}"
	-o shared_preload_libraries=pg_cron
	-o cron.database_name=postgres
	-o cron.use_background_workers=on
	-o max_worker_processes=20
)

# Run a command as root: directly when we are root, else through sudo.
as_root() {
	if [ "$(id -u)" = 0 ]; then
		"$@"
	elif command -v sudo >/dev/null; then
		sudo "$@"
	else
		echo "error: '$*' needs root, and sudo is not installed" >&2
		return 1
	fi
}

# Print a visible step heading.
step() {
	printf '\n==> %s\n' "$*"
}

# Build the extension and install it into the server's directories.
build_and_install() {
	step "make"
	make PG_CONFIG="${PG_CONFIG}"
	step "make install"
	as_root make install PG_CONFIG="${PG_CONFIG}"
}

# Run a command inside a throwaway PostgreSQL cluster (pg_virtualenv exports
# PGHOST, PGPORT, PGUSER, PGPASSWORD, PGDATABASE to it; the cluster is
# dropped afterwards).  NONROOT=1, as Debian's pg_buildext sets it, keeps the
# cluster and its service file in a temporary directory even when we are
# root, instead of /etc/postgresql/<ver>/regress and
# /etc/postgresql-common/pg_service.conf, so several runs can coexist and
# nothing is left behind in /etc.  As root the cluster runs as user postgres.
in_throwaway_cluster() {
	NONROOT=1 pg_virtualenv "${PG_VIRTUALENV_OPTS[@]}" "$@"
}

# Compiler flags of the sanitizer build: UndefinedBehaviorSanitizer (signed
# overflow, bad shifts, float-to-integer overflow, out-of-bounds indexing of
# arrays of known size, misaligned or null pointers), every report fatal, so
# the backend aborts and the test that reached it fails.  Its runtime is
# loaded with the extension, so the server needs nothing special.
# (AddressSanitizer needs its runtime preloaded into the server, and there
# "postgres -V" hangs in a futex under LD_PRELOAD=libasan.so on bookworm.)
SANITIZER_COPT="-fsanitize=undefined,float-cast-overflow,bounds -fno-sanitize-recover=all -fno-omit-frame-pointer"

# Run a command against a throwaway server running under Valgrind's
# Memcheck (backends are forked, so every one runs under it).  Memcheck
# sees reads of undefined memory and accesses outside malloc'd blocks
# (PostgreSQL's memory contexts are malloc'd blocks), without a special
# server build.  The server is started directly: pg_virtualenv cannot wrap
# it.  Prints the errors whose stack passes through retail_crm.so (the
# server's own known reports, such as uninitialised padding written to
# disk, are not ours to judge) and fails when there is one, or when a
# backend died.
in_valgrind_cluster() {
	local dir bindir status=0 run_as=() report ours
	bindir="$(${PG_CONFIG} --bindir)"
	dir="$(mktemp -d)"
	if [ "$(id -u)" = 0 ]; then
		chown postgres: "${dir}"
		run_as=(runuser -u postgres --)
	fi
	"${run_as[@]}" "${bindir}/initdb" -D "${dir}/data" -U postgres -A trust >/dev/null
	"${run_as[@]}" bash -c "valgrind --quiet --trace-children=yes --error-limit=no --num-callers=40 \
		--log-file='${dir}/valgrind.%p.log' '${bindir}/postgres' -D '${dir}/data' -k '${dir}' \
		-c listen_addresses= -c jit=off -c max_parallel_workers_per_gather=0 \
		>'${dir}/server.log' 2>&1 &"
	PGHOST="${dir}" PGPORT=5432 PGUSER=postgres PGDATABASE=postgres
	export PGHOST PGPORT PGUSER PGDATABASE
	for _ in $(seq 1 120); do
		pg_isready -q && break
		sleep 1
	done
	"$@" || status=$?
	"${run_as[@]}" "${bindir}/pg_ctl" -D "${dir}/data" -m fast -w -t 300 stop >/dev/null || true
	unset PGHOST PGPORT PGUSER PGDATABASE
	# Frames of the extension name its source files (with debug info) or the library.
	ours="retail_crm[.]so|[(]($(cd src && ls -- *.c | paste -sd'|')):[0-9]+[)]"
	report="$(awk -v ours="${ours}" '/^==[0-9]+== [A-Z]/ { if (block ~ ours) print block; block = "" }
		{ block = block $0 "\n" } END { if (block ~ ours) print block }' "${dir}"/valgrind.*.log)"
	if [ -n "${report}" ]; then
		echo "**** Valgrind errors in retail_crm ****"
		echo "${report}"
		status=1
	fi
	if grep -q "terminated by signal" "${dir}/server.log"; then
		echo "**** a backend died under Valgrind ****"
		grep -B2 -A2 "terminated by signal" "${dir}/server.log"
		status=1
	fi
	rm -rf "${dir}"
	return "${status}"
}
