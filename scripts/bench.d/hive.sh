#!/usr/bin/env bash
# Bench: `pause-verify hive dump` vs `reglookup` on the same files, same run: the largest
# hive fixture and a generated 100k-key hive. Median wall time of 5 runs each, output to
# /dev/null. Fails when ours is slower than reglookup.
set -euo pipefail
cd "$(dirname "$0")/../.."
command -v reglookup >/dev/null || { echo "bench hive: reglookup missing (apt-get install reglookup)" >&2; exit 1; }
bin="${PAUSE_VERIFY_BIN:-target/release/pause-verify}"
[ -x "$bin" ] || cargo build --release --quiet
fixtures="${PAUSE_VERIFY_FIXTURES:-tests/fixtures}"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
"$bin" hive generate --keys 100000 "$work/gen100k" -q

median_ms() { # command...
  local t=()
  for _ in 1 2 3 4 5; do
    local s e
    s=$(date +%s%N); "$@" >/dev/null 2>&1 || true; e=$(date +%s%N)
    t+=($(( (e - s) / 1000000 )))
  done
  printf '%s\n' "${t[@]}" | sort -n | sed -n 3p
}

status=0
files=("$work/gen100k")
largest=$(ls -S "$fixtures"/hives/*/* 2>/dev/null | grep -v '\.txt$' | head -1 || true)
[ -n "$largest" ] && files=("$largest" "${files[@]}")
for f in "${files[@]}"; do
  ours=$(median_ms "$bin" hive dump "$f")
  ours_json=$(median_ms "$bin" hive dump --json "$f")
  theirs=$(median_ms reglookup "$f")
  keys=$("$bin" hive dump --json "$f" | python3 -c 'import json,sys; print(json.load(sys.stdin)["summary"]["keys"])')
  rss=""
  if [ -x /usr/bin/time ]; then
    kib=$(/usr/bin/time -f %M "$bin" hive dump "$f" 2>&1 >/dev/null | tail -1)
    rss=", peak RSS $kib KiB ($(( kib * 1024 * 100 / $(stat -c %s "$f") ))% of the file)"
  fi
  echo "bench hive dump $(basename "$f") ($(stat -c %s "$f") bytes, $keys keys): pause-verify ${ours} ms (json ${ours_json} ms), reglookup ${theirs} ms$rss"
  if [ "$ours" -gt "$theirs" ]; then
    echo "bench hive: pause-verify is slower than reglookup on $(basename "$f")" >&2
    status=1
  fi
done
exit $status
