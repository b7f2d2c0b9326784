#!/usr/bin/env bash
# test/integration/reference.sh: the documentation is complete and its links
# hold.  Every function, aggregate, procedure, table, view and type of a
# fresh install's schema crm is named in REFERENCE.md, and every relative
# link of the project's Markdown files reaches a file that exists and, for a
# link to a heading, a heading that exists (GitHub's anchors).
set -euo pipefail
# shellcheck source=test/integration/lib.sh
source "$(dirname "$0")/lib.sh"
export LC_ALL=C.UTF-8

# The anchors of a Markdown file's headings, as GitHub makes them: lower
# case, punctuation dropped, spaces as hyphens, -1, -2 ... on repeats.
anchors_of() {
	awk '/^```/ { fenced = !fenced; next } !fenced && /^#+ / { sub(/^#+ /, ""); print }' "$1" |
		tr '[:upper:]' '[:lower:]' | sed -e 's/[^[:alnum:] _-]//g' -e 's/ /-/g' |
		awk '{ n = seen[$0]++; print (n ? $0 "-" n : $0) }'
}

require_server
create_test_database

# Objects: their names must appear as words in REFERENCE.md.
missing=0
words="$(grep -oE '[A-Za-z_][A-Za-z0-9_]*' REFERENCE.md | sort -u)"
while read -r name; do
	if ! grep -qxF "${name}" <<<"${words}"; then
		echo "not in REFERENCE.md: crm.${name}"
		missing=$((missing + 1))
	fi
done < <(sql "${TEST_DB}" "
	SELECT DISTINCT p.proname FROM pg_proc AS p WHERE p.pronamespace = 'crm'::regnamespace
	UNION SELECT c.relname FROM pg_class AS c
	WHERE c.relnamespace = 'crm'::regnamespace AND c.relkind IN ('r', 'p', 'v', 'c') AND NOT c.relispartition
	ORDER BY 1")
[ "${missing}" = 0 ] || fail "${missing} object(s) of schema crm missing from REFERENCE.md (list above)"

# Links: [text](target) outside code, target relative (no scheme).
broken=0
checked=0
while IFS= read -r -d '' md; do
	dir="$(dirname "${md}")"
	while IFS= read -r target; do
		case "${target}" in *://* | mailto:*) continue ;; esac
		file="${target%%#*}"
		anchor=""
		[[ "${target}" == *'#'* ]] && anchor="${target#*#}"
		path="${md}"
		[ -n "${file}" ] && path="${dir}/${file}"
		checked=$((checked + 1))
		if [ ! -e "${path}" ]; then
			echo "${md}: no file ${target}"
			broken=$((broken + 1))
		elif [ -n "${anchor}" ] && [[ "${path}" == *.md ]] && ! anchors_of "${path}" | grep -qxF "${anchor}"; then
			echo "${md}: no heading for ${target}"
			broken=$((broken + 1))
		fi
	done < <(awk '/^```/ { fenced = !fenced; next } !fenced' "${md}" | grep -oE '\]\([^)[:space:]]+\)' | sed -e 's/^](//' -e 's/)$//')
done < <(find . -name '*.md' -not -path './.git/*' -not -path './results/*' -not -path './tmp_check/*' -print0)
[ "${broken}" = 0 ] || fail "${broken} of ${checked} relative links broken (list above)"
pass "every object of schema crm is in REFERENCE.md; ${checked} relative links of the Markdown files resolve"
