#!/usr/bin/env bash
# Markdown summary of one audit, from its JSON report (docs/json-schema.md, kind
# `audit`): verdict, image, policy, one row per platform, then every check.
#   action/summary.sh audit.json > summary.md
set -euo pipefail
jq -r '
  def cell: tostring | gsub("\\|"; "\\|") | gsub("\n"; " ");
  def icon: if . == "PASS" then "✅ PASS" elif . == "FAIL" then "❌ FAIL" else "➖ " + . end;
  (if .passed then "PASSED ✅" else "FAILED ❌" end) as $v
  | "### pause-verify audit: \($v)\n",
    "| | |\n|---|---|",
    "| image | `\(.image.reference | cell)` |",
    "| digest | `\(.image.digest)` |",
    "| policy | `\(.policy.uri | cell)`\(if .policy.digest then " (`\(.policy.digest)`)" else "" end) |",
    "| tool | pause-verify \(.toolVersion) |",
    "",
    "| platform | manifest | status | failed checks |\n|---|---|---|---|",
    (.platforms[] | "| \(.platform | cell) | `\(.manifest)` | \(.status | icon) | \((.failed // []) | join(", ") | cell) |"),
    "",
    "<details><summary>\(.checks | length) checks</summary>\n",
    "| check | platform | status | message |\n|---|---|---|---|",
    (.checks[] | "| \(.id)\(if .target then "[\(.target)]" else "" end) | \(.platform | cell) | \(.status | icon) | \((.message // "") | cell) |"),
    "\n</details>\n"
' "$1"
