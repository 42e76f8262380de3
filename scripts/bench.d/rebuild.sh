#!/usr/bin/env bash
# Bench: `pause-verify rebuild` (rebuild from the pinned base + compare, all local)
# against a full verify of the same published image (`inspect --diff-ids`: every layer
# read, decompressed and its digest and diff_id checked), same run, same files.
# Published images: a `pause-verify build` output (IDENTICAL) and, when python3-hivex is
# there, the independent publisher's (EQUIVALENT). The base is the synthetic NanoServer
# with $PV_BENCH_REBUILD_MB MiB of padding (default 300). Interleaved, median of
# $PV_BENCH_RUNS (7) runs, wall and CPU (scripts/lib/bench_pair.sh).
# Target: rebuild <= 1.2 x verify (CPU). Prints both ratios; exits 1 above the target.
set -euo pipefail
cd "$(dirname "$0")/../.."
bin="${PV_BIN:-${PAUSE_VERIFY_BIN:-target/release/pause-verify}}"
[ -x "$bin" ] || cargo build --release --quiet
mb="${PV_BENCH_REBUILD_MB:-300}"
work="$(mktemp -d "${PV_BENCH_DIR:-/tmp}/rebuild.XXXXXX")"
trap 'rm -rf "$work"' EXIT

. scripts/lib/bench_pair.sh
runs="${PV_BENCH_RUNS:-7}"

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
  bench_pair "$runs" "bench rebuild $(basename "$img") (base ${mb} MiB padding, ${size} MiB of blobs): rebuild+compare" 1.2 \
    "'$bin' rebuild 'oci:$img' --base '$base' -q" "'$bin' inspect --diff-ids 'oci:$img' -q" || {
    echo "bench rebuild: rebuild+compare is over 1.2 x a full verify (CPU) on $(basename "$img")" >&2
    status=1
  }
done
exit $status
