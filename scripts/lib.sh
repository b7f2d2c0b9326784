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
