#!/usr/bin/env bash
# The main job, offline, on an embedded default: nothing but cargo is needed.
#   1. build pause-verify (release)
#   2. make a synthetic NanoServer (ltsc2022) as an OCI layout
#   3. build the pause base from it with the built-in upstream recipe (pinned by digest)
#   4. inspect the result, verifying every layer's digest and diff_id
#   5. "publish" it to another layout (copy)
#   6. rebuild from the pinned base and compare with the published image (IDENTICAL)
#   7. with python3-hivex: an independently published image compares EQUIVALENT
# Later steps (sign, verify) append here as numbered steps.
# Work directory: $PV_DEMO_DIR (kept) or a temporary directory (removed at exit).
set -euo pipefail
cd "$(dirname "$0")/.."

step() { echo; echo "==> step $1: $2"; }

if [ -n "${PV_DEMO_DIR:-}" ]; then
  WORK=$PV_DEMO_DIR
  mkdir -p "$WORK"
else
  WORK=$(mktemp -d -t pause-verify-demo.XXXXXX)
  trap 'rm -rf "$WORK"' EXIT
fi
rm -rf "$WORK/nanoserver" "$WORK/pause-base" "$WORK/published" "$WORK/independent"

step 1 "cargo build --release"
cargo build --release --locked -q
PV=$(pwd)/target/release/pause-verify
echo "binary: $PV ($("$PV" --version))"

step 2 "synthetic NanoServer 10.0.20348.2849 -> $WORK/nanoserver"
"$PV" fixture nanoserver --out "$WORK/nanoserver" --os-version 10.0.20348.2849 | tee "$WORK/fixture.txt"
BASE=$(sed -n 's/^wrote *//p' "$WORK/fixture.txt")
echo "base, pinned by digest: $BASE"

step 3 "build the pause base (built-in upstream recipe) -> $WORK/pause-base"
"$PV" build --base "$BASE" --out "$WORK/pause-base" | tee "$WORK/build.txt"
OUT=$(sed -n 's/^wrote *//p' "$WORK/build.txt")

step 4 "inspect the result, verifying every layer (digest and diff_id)"
"$PV" inspect --diff-ids --platform windows/amd64:10.0.20348 "$OUT"

step 5 "publish: copy the pause base to a second layout, as a registry mirror would"
rm -rf "$WORK/published"
"$PV" copy "$OUT" "oci:$WORK/published:latest"

step 6 "rebuild from the pinned base and compare with the published image (expect IDENTICAL)"
"$PV" rebuild --image "oci:$WORK/published:latest" --base "$BASE"

if /usr/bin/python3 -c 'import hivex' 2>/dev/null; then
  step 7 "an independently published image (Python tarfile + hivex, Windows noise): expect EQUIVALENT"
  /usr/bin/python3 tests/publish_independent.py --base "$WORK/nanoserver" --out "$WORK/independent" >/dev/null
  "$PV" rebuild --image "oci:$WORK/independent" --base "$BASE" | sed -n '1,8p;/^verdict/p'
fi

echo
echo "demo done: base $BASE"
echo "           pause base $OUT"
