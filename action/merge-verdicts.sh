#!/usr/bin/env bash
# Merge the verdicts of a matrix of audits (one folder per job, each holding the
# verdict.json that action/run-audit.sh writes) into one markdown table and one verdict:
# PASSED only when every expected job reported and every one PASSED.
#   action/merge-verdicts.sh DIR EXPECTED_JOBS > summary.md      (exit 0 PASSED, 1 otherwise)
# A job that never reported (cancelled, runner lost) counts as ERROR: the gate fails closed.
set -euo pipefail
dir=${1:?usage: merge-verdicts.sh DIR EXPECTED_JOBS}
expected=${2:?usage: merge-verdicts.sh DIR EXPECTED_JOBS}
[[ $expected =~ ^[0-9]+$ ]] || { echo "merge-verdicts: EXPECTED_JOBS must be a number" >&2; exit 2; }

mapfile -t files < <(find "$dir" -name verdict.json -type f | LC_ALL=C sort)
all=$(if [ ${#files[@]} -gt 0 ]; then jq -s 'sort_by(.image, .platform)' "${files[@]}"; else echo '[]'; fi)
got=$(jq length <<<"$all")
failed=$(jq '[.[] | select(.verdict != "PASSED")] | length' <<<"$all")
missing=$((expected > got ? expected - got : 0))
extra=$((got > expected ? got - expected : 0))
verdict=PASSED
if [ "$failed" -gt 0 ] || [ "$missing" -gt 0 ] || [ "$extra" -gt 0 ]; then verdict=FAILED; fi

echo "### pause-verify audit matrix: $verdict"
echo
echo "$got of $expected job(s) reported; $failed not PASSED; $missing missing."
echo
echo "| image | platform | audited | verdict |"
echo "|---|---|---|---|"
jq -r '.[] | "| `\(.image)` | \(if .platform == "" then "all" else .platform end) | `\(.audited)` | \(.verdict) |"' <<<"$all"
if [ -n "${GITHUB_OUTPUT:-}" ]; then
  echo "verdict=$verdict" >>"$GITHUB_OUTPUT"
  echo "failed=$((failed + missing))" >>"$GITHUB_OUTPUT"
fi
[ "$verdict" = PASSED ]
