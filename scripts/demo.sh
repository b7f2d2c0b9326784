#!/usr/bin/env bash
# scripts/demo.sh: the first command of the README.  Installs what is
# missing, builds and installs retail_crm, then runs scripts/demo.sql in a
# throwaway PostgreSQL cluster with pg_cron preloaded: it loads the UCI
# Online Retail sample, refreshes the segments and prints what an analyst
# would look at.  The cluster is dropped at the end; nothing else changes.
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=scripts/lib.sh
source scripts/lib.sh

main() {
	step "dependencies"
	scripts/install-deps.sh
	build_and_install
	step "demo in a throwaway cluster"
	in_throwaway_cluster psql -X -v ON_ERROR_STOP=1 -f scripts/demo.sql
}

main "$@"
