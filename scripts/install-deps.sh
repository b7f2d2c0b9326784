#!/usr/bin/env bash
# scripts/install-deps.sh: install what building, demonstrating and testing
# retail_crm needs, and nothing that is already there.
#
# For Debian's PostgreSQL (no PG_CONFIG, or PG_CONFIG=/usr/lib/postgresql/
# <ver>/bin/pg_config), on Debian or Ubuntu:
#   postgresql-<ver>            the server (PG_MAJOR, default 15)
#   postgresql-server-dev-<ver> headers and PGXS for the build
#   postgresql-<ver>-cron       pg_cron, for scheduled refreshes
#   postgresql-common           pg_virtualenv (throwaway test clusters)
#   make, gcc                   the build
#   gzip                        the sample data loader unpacks with it
#   valgrind                    the Memcheck test stage
# For any other server (PG_CONFIG naming its pg_config: a source build,
# another distribution's packages): only make, gcc, gzip and valgrind, with
# apt-get where there is one; then it checks that the server has what the
# build and the tests use, and names what is missing.
#
# Idempotent: runs apt-get (update + install) only when a package is
# missing.  Needs root or sudo for that.
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=scripts/lib.sh
source scripts/lib.sh

BUILD_TOOLS=(make gcc gzip valgrind)

# True when the package is installed (not just known or half-removed).
is_installed() {
	dpkg-query -W -f='${db:Status-Status}' "$1" 2>/dev/null | grep -qx installed
}

# apt-get install the packages given; the hint says where to find them
# when the archive has none.
apt_install() {
	local hint="$1"
	shift
	step "installing $*"
	export DEBIAN_FRONTEND=noninteractive
	as_root apt-get update -q
	if ! as_root apt-get install -y -q --no-install-recommends "$@"; then
		echo "install-deps: apt-get could not install $*." >&2
		echo "install-deps: ${hint}" >&2
		return 1
	fi
}

# Debian's server of PG_MAJOR with everything from apt.
install_debian_packages() {
	local missing=() package
	for package in "postgresql-${PG_MAJOR}" "postgresql-server-dev-${PG_MAJOR}" \
		"postgresql-${PG_MAJOR}-cron" postgresql-common "${BUILD_TOOLS[@]}"; do
		is_installed "${package}" || missing+=("${package}")
	done
	if [ "${#missing[@]}" -eq 0 ]; then
		echo "install-deps: all dependencies are installed"
		return 0
	fi
	apt_install "if PostgreSQL ${PG_MAJOR} is not in this release's archive, add the PostgreSQL project's apt repository (PGDG) and run this again." \
		"${missing[@]}"
}

# Another server: the build tools (from apt when there is apt, else named
# for the system's package manager), then the server's own parts.
install_tools_for_other_server() {
	local missing=() tool
	for tool in "${BUILD_TOOLS[@]}"; do
		command -v "${tool}" >/dev/null || missing+=("${tool}")
	done
	if [ "${#missing[@]}" -gt 0 ]; then
		if command -v apt-get >/dev/null; then
			apt_install "install them with this system's package manager and run this again." "${missing[@]}"
		else
			echo "install-deps: missing ${missing[*]}: install them (for example 'dnf install ${missing[*]}' on RHEL-like systems) and run this again." >&2
			return 1
		fi
	fi
	check_other_server
}

# What the build and the tests take from the server given by PG_CONFIG:
# pg_config itself, PGXS with pg_regress and pg_isolation_regress, the
# server headers, the server and client programs, and pg_cron (the
# scheduling tests run real jobs).  Names everything missing, then fails.
check_other_server() {
	local problems=() pgxs_top bindir program
	if ! "${PG_CONFIG}" --version >/dev/null 2>&1; then
		echo "install-deps: PG_CONFIG=${PG_CONFIG} does not run: give the full path of the pg_config of the server to test." >&2
		return 1
	fi
	echo "install-deps: server $("${PG_CONFIG}" --version) (${PG_CONFIG})"
	pgxs_top="$(dirname "$("${PG_CONFIG}" --pgxs)")/../.."
	[ -r "$("${PG_CONFIG}" --pgxs)" ] || problems+=("PGXS ($("${PG_CONFIG}" --pgxs); the -devel or -server-dev package)")
	[ -r "$("${PG_CONFIG}" --includedir-server)/postgres.h" ] ||
		problems+=("the server headers ($("${PG_CONFIG}" --includedir-server)/postgres.h; the -devel or -server-dev package)")
	for program in regress/pg_regress isolation/pg_isolation_regress; do
		[ -x "${pgxs_top}/src/test/${program}" ] || problems+=("${program#*/} (in PGXS, src/test/${program})")
	done
	bindir="$("${PG_CONFIG}" --bindir)"
	for program in postgres initdb pg_ctl pg_isready psql pg_dump pg_restore createdb dropdb; do
		[ -x "${bindir}/${program}" ] || problems+=("${program} (in ${bindir})")
	done
	[ -e "$("${PG_CONFIG}" --pkglibdir)/pg_cron.so" ] ||
		problems+=("pg_cron for this server (pg_cron.so in $("${PG_CONFIG}" --pkglibdir): postgresql-${PG_MAJOR}-cron from apt, pg_cron_${PG_MAJOR} from PGDG's dnf repository, or pg_cron built with this PG_CONFIG)")
	if [ "${#problems[@]}" -gt 0 ]; then
		echo "install-deps: the server of ${PG_CONFIG} lacks:" >&2
		printf '  - %s\n' "${problems[@]}" >&2
		return 1
	fi
	echo "install-deps: all dependencies are there"
}

main() {
	if is_debian_package; then
		install_debian_packages
	else
		install_tools_for_other_server
	fi
}

main "$@"
