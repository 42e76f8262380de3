#!/usr/bin/env bash
# Bench: `pause-verify rebuild` (rebuild from the pinned base + compare, all local)
# against a full verify of the same published image (`inspect --diff-ids`: every layer
# read, decompressed and its digest and diff_id checked), same run, same files.
# Published images: a `pause-verify build` output (IDENTICAL) and, when python3-hivex is
# there, the independent publisher's (EQUIVALENT). The base is the synthetic NanoServer
# with $PV_BENCH_REBUILD_MB MiB of padding (default 300). Median of 5 runs each.
# Target: rebuild <= 1.2 x verify. Prints the ratio; exits 1 above the target.
set -euo pipefail
cd "$(dirname "$0")/../.."
bin="${PV_BIN:-${PAUSE_VERIFY_BIN:-target/release/pause-verify}}"
[ -x "$bin" ] || cargo build --release --quiet
mb="${PV_BENCH_REBUILD_MB:-300}"
work="$(mktemp -d "${PV_BENCH_DIR:-/tmp}/rebuild.XXXXXX")"
trap 'rm -rf "$work"' EXIT

median_ms() { # command...
  local t=()
  for _ in 1 2 3 4 5; do
    local s e
    s=$(date +%s%N); "$@" >/dev/null 2>&1 || true; e=$(date +%s%N)
    t+=($(( (e - s) / 1000000 )))
  done
  printf '%s\n' "${t[@]}" | sort -n | sed -n 3p
}

"$bin" fixture nanoserver --out "$work/base" --os-version 10.0.20348.2849 --size-mb "$mb" -q
base="oci:$work/base@$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["manifests"][0]["digest"])' "$work/base/index.json")"
"$bin" build --base "$base" --out "$work/built" -q
images=("$work/built")
if /usr/bin/python3 -c 'import hivex' 2>/dev/null; then
  /usr/bin/python3 tests/publish_independent.py --base "$work/base" --out "$work/indep" >/dev/null
  images+=("$work/indep")
fi
size=$(du -sm "$work/base/blobs" | cut -f1)
status=0
for img in "${images[@]}"; do
  "$bin" rebuild "oci:$img" --base "$base" -q >/dev/null || { echo "bench rebuild: $(basename "$img") does not pass" >&2; status=1; }
  verify=$(median_ms "$bin" inspect --diff-ids "oci:$img" -q)
  rebuild=$(median_ms "$bin" rebuild "oci:$img" --base "$base" -q)
  ratio=$(python3 -c "print(f'{$rebuild / max($verify, 1):.2f}')")
  echo "bench rebuild $(basename "$img") (base ${mb} MiB padding, ${size} MiB of blobs): rebuild+compare ${rebuild} ms, full verify ${verify} ms, ratio ${ratio} (target <= 1.20)"
  if python3 -c "import sys; sys.exit(0 if $rebuild <= 1.2 * $verify else 1)"; then :; else
    echo "bench rebuild: rebuild+compare is over 1.2 x a full verify on $(basename "$img")" >&2
    status=1
  fi
done
exit $status
