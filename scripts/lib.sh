# shellcheck shell=bash
# scripts/lib.sh: settings and functions shared by install-deps.sh, demo.sh
# and test.sh (sourced, not run).  Keeps the PostgreSQL version, the way to
# get root, and the throwaway cluster's settings in one place.

# The major version of the server a pg_config belongs to: from its path when
# it is Debian's (/usr/lib/postgresql/<major>/bin/pg_config, known before
# the package that installs it is there), else from "pg_config --version"
# ("PostgreSQL 16.14", "PostgreSQL 19beta2"); empty when that does not run
# (install-deps.sh then says what is missing).
pg_config_major() {
	local pg_config="$1" version
	if [[ "${pg_config}" =~ ^/usr/lib/postgresql/([0-9]+)/bin/pg_config$ ]]; then
		printf '%s' "${BASH_REMATCH[1]}"
	elif version="$("${pg_config}" --version 2>/dev/null)" &&
		[[ "${version}" =~ ^PostgreSQL\ ([0-9]+) ]]; then
		printf '%s' "${BASH_REMATCH[1]}"
	fi
}

# The server to build and test against: the one whose pg_config the caller
# names in PG_CONFIG (a Debian package's, a source build's, another
# distribution's), its major version derived from it.  Without PG_CONFIG:
# Debian's package of PG_MAJOR (default 15), by its full path, so that the
# build uses that version even when several -dev packages exist
# (/usr/bin/pg_config would pick the newest).
if [ -n "${PG_CONFIG:-}" ]; then
	PG_CONFIG="$(command -v "${PG_CONFIG}" || printf '%s' "${PG_CONFIG}")"
	PG_MAJOR="$(pg_config_major "${PG_CONFIG}")"
else
	PG_MAJOR="${PG_MAJOR:-15}"
	PG_CONFIG="/usr/lib/postgresql/${PG_MAJOR}/bin/pg_config"
fi
export PG_CONFIG

# True when PG_CONFIG is that of Debian's package of PG_MAJOR (installed, or
# to be installed by install-deps.sh): its clusters come from pg_virtualenv
# (postgresql-common), any other server's from in_temp_cluster.
is_debian_package() {
	[ "${PG_CONFIG}" = "/usr/lib/postgresql/${PG_MAJOR}/bin/pg_config" ]
}

# Settings of the throwaway cluster, one name=value a line: pg_cron is
# preloaded when the server has it (without it, the scheduling tests check
# the errors instead) and runs its jobs in database postgres with background
# workers (no libpq connection, so no password needed); the extra worker
# processes leave room for them.  Asked when a cluster starts, since
# install-deps.sh may install pg_cron after this file was sourced.
cluster_settings() {
	if [ -e "$("${PG_CONFIG}" --pkglibdir)/pg_cron.so" ]; then
		printf '%s\n' shared_preload_libraries=pg_cron cron.database_name=postgres cron.use_background_workers=on
	fi
	printf '%s\n' max_worker_processes=20
}

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

# make install into the server's directories: as root when they are not
# ours to write (a package's), as ourselves when they are (a server built
# and installed by this user, where sudo would leave root-owned files).
install_into_server() {
	if [ -w "$("${PG_CONFIG}" --pkglibdir)" ] && [ -w "$("${PG_CONFIG}" --sharedir)/extension" ]; then
		make install PG_CONFIG="${PG_CONFIG}"
	else
		as_root make install PG_CONFIG="${PG_CONFIG}"
	fi
}

# Build the extension and install it into the server's directories.
build_and_install() {
	step "make"
	make PG_CONFIG="${PG_CONFIG}"
	step "make install"
	install_into_server
}

# Run a command inside a throwaway PostgreSQL cluster with
# cluster_settings(), with PGHOST, PGPORT, PGUSER and PGDATABASE exported to
# it; the cluster is dropped afterwards.  Debian's servers get one from
# pg_virtualenv (which also exports PGPASSWORD), when it is installed.  NONROOT=1, as Debian's
# pg_buildext sets it, keeps the cluster and its service file in a
# temporary directory even when we are root, instead of
# /etc/postgresql/<ver>/regress and /etc/postgresql-common/pg_service.conf,
# so several runs can coexist and nothing is left behind in /etc.  Any
# other server gets in_temp_cluster.  As root the cluster runs as user
# postgres.
in_throwaway_cluster() {
	local settings=() setting options=() dir status=0
	mapfile -t settings < <(cluster_settings)
	if is_debian_package && command -v pg_virtualenv >/dev/null; then
		for setting in "${settings[@]}"; do
			options+=(-o "${setting}")
		done
		NONROOT=1 pg_virtualenv -v "${PG_MAJOR}" "${options[@]}" "$@"
		return
	fi
	dir="$(mktemp -d)"
	in_temp_cluster "${dir}" "" "${settings[@]}" -- "$@" || status=$?
	rm -rf "${dir}"
	return "${status}"
}

# in_temp_cluster DIR LAUNCHER SETTING... -- COMMAND...: run a command
# against a new cluster of the server's own binaries (pg_config --bindir),
# made in the empty directory DIR (the caller removes it, after reading
# DIR/server.log if it wants).  The server listens only on a Unix socket in
# DIR, so no other server's port or socket can be in the way; it starts
# with the settings given (name=value) under LAUNCHER (shell words put
# before the postgres binary, "" for none).  The command gets PGHOST,
# PGPORT, PGUSER (the superuser postgres, trusted) and PGDATABASE, no
# PGPASSWORD, and the server's bindir first in PATH (psql, pg_dump ... of the
# same version).  As root the server runs as user postgres.  Returns the
# command's status, or 1 when the server does not start.
in_temp_cluster() {
	local dir="$1" launcher="$2" bindir options=() run_as=() status=0 port=5432
	shift 2
	while [ "$1" != -- ]; do
		options+=(-c "$1")
		shift
	done
	shift
	bindir="$("${PG_CONFIG}" --bindir)"
	if [ "$(id -u)" = 0 ]; then
		id postgres >/dev/null 2>&1 || {
			echo "error: as root, the test server runs as user postgres, and there is no such user" >&2
			return 1
		}
		chown postgres: "${dir}"
		run_as=(runuser -u postgres --)
	fi
	"${run_as[@]}" "${bindir}/initdb" --no-sync -D "${dir}/data" -U postgres -A trust >/dev/null
	"${run_as[@]}" bash -c "${launcher} $(printf '%q ' "${bindir}/postgres" -D "${dir}/data" \
		-k "${dir}" -p "${port}" -c listen_addresses= "${options[@]}") >$(printf '%q' "${dir}/server.log") 2>&1 &"
	for _ in $(seq 1 120); do
		"${bindir}/pg_isready" -q -h "${dir}" -p "${port}" && break
		sleep 1
	done
	if "${bindir}/pg_isready" -q -h "${dir}" -p "${port}"; then
		(
			export PGHOST="${dir}" PGPORT="${port}" PGUSER=postgres PGDATABASE=postgres PATH="${bindir}:${PATH}"
			unset PGPASSWORD
			"$@"
		) || status=$?
	else
		echo "error: the test server did not start in 120 s; its log:" >&2
		cat "${dir}/server.log" >&2
		status=1
	fi
	"${run_as[@]}" "${bindir}/pg_ctl" -D "${dir}/data" -m fast -w -t 300 stop >/dev/null || true
	return "${status}"
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
# server build.  The server is started directly (in_temp_cluster), with
# no JIT and no parallel workers: pg_virtualenv cannot wrap it.  Prints the
# errors whose stack passes through retail_crm.so (the server's own known
# reports, such as uninitialised padding written to disk, are not ours to
# judge) and fails when there is one, or when a backend died.
in_valgrind_cluster() {
	local dir status=0 report ours
	dir="$(mktemp -d)"
	in_temp_cluster "${dir}" \
		"valgrind --quiet --trace-children=yes --error-limit=no --num-callers=40 --log-file=$(printf '%q' "${dir}/valgrind.%p.log")" \
		jit=off max_parallel_workers_per_gather=0 -- "$@" || status=$?
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
