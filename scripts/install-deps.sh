#!/usr/bin/env bash
# scripts/install-deps.sh: install what building, demonstrating and testing
# retail_crm needs on Debian or Ubuntu, and nothing that is already there.
#
#   postgresql-<ver>            the server (PG_MAJOR, default 15)
#   postgresql-server-dev-<ver> headers and PGXS for the build
#   postgresql-<ver>-cron       pg_cron, for scheduled refreshes
#   postgresql-common           pg_virtualenv (throwaway test clusters)
#   make, gcc                   the build
#   gzip                        the sample data loader unpacks with it
#
# Idempotent: runs apt-get (update + install) only when a package is
# missing.  Needs root or sudo for that.
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=scripts/lib.sh
source scripts/lib.sh

REQUIRED_PACKAGES=(
	"postgresql-${PG_MAJOR}"
	"postgresql-server-dev-${PG_MAJOR}"
	"postgresql-${PG_MAJOR}-cron"
	postgresql-common
	make
	gcc
	gzip
	valgrind
)

# True when the package is installed (not just known or half-removed).
is_installed() {
	dpkg-query -W -f='${db:Status-Status}' "$1" 2>/dev/null | grep -qx installed
}

main() {
	local missing=() package
	for package in "${REQUIRED_PACKAGES[@]}"; do
		is_installed "${package}" || missing+=("${package}")
	done
	if [ "${#missing[@]}" -eq 0 ]; then
		echo "install-deps: all dependencies are installed"
		return 0
	fi

	step "installing ${missing[*]}"
	export DEBIAN_FRONTEND=noninteractive
	as_root apt-get update -q
	if ! as_root apt-get install -y -q --no-install-recommends "${missing[@]}"; then
		echo "install-deps: apt-get could not install ${missing[*]}." >&2
		echo "install-deps: if PostgreSQL ${PG_MAJOR} is not in this release's archive, add the PostgreSQL project's apt repository (PGDG) and run this again." >&2
		return 1
	fi
}

main "$@"
