#!/usr/bin/env bash
# build: `pause-verify build` against a synthetic NanoServer whose base layer is ~300 MB
# (uncompressed, PV_BUILD_BENCH_MB), layer local, vs a full verification of that base
# layer (`inspect --diff-ids`: digest + inflate + diff_id + tar walk) in the same run.
# The build reads each base layer once (verify + copy + hive extraction in one pass);
# target: within 1.2x the verification. A fresh output also writes (and fsyncs) the
# ~165 MB compressed base blob into the output layout, which verification does not.
set -euo pipefail
: "${PV_BIN:?run through scripts/bench.sh}"
D=${PV_BENCH_DIR:-$(mktemp -d)}/build
MB=${PV_BUILD_BENCH_MB:-300}
rm -rf "$D"; mkdir -p "$D"

t0=$(date +%s.%N)
"$PV_BIN" -q fixture nanoserver --out "$D/base" --size-mb "$MB" > "$D/fixture.txt"
t1=$(date +%s.%N)
REF=$(sed -n 's/^wrote *//p' "$D/fixture.txt")
LAYER=$(sed -n 's/^ *layer *\(sha256:[0-9a-f]*\) (\([0-9]*\) B gzip, \([0-9]*\) B tar)/\2 \3/p' "$D/fixture.txt")
echo "fixture: ${MB} MiB padding, layer (gzip, tar bytes): $LAYER, made in $(awk "BEGIN{printf \"%.2f\", $t1 - $t0}") s"

secs() { /usr/bin/time -f %e "$@" 2>&1 >/dev/null | tail -1; }

# Warm the page cache once so both runs read from memory alike.
cat "$D"/base/blobs/sha256/* > /dev/null
v1=$(secs "$PV_BIN" -q inspect --diff-ids "$REF")
b1=$(secs "$PV_BIN" -q build --base "$REF" --out "$D/out1")
v2=$(secs "$PV_BIN" -q inspect --diff-ids "$REF")
b2=$(secs "$PV_BIN" -q build --base "$REF" --out "$D/out2")
verify=$(awk "BEGIN{print ($v1 < $v2) ? $v1 : $v2}")
build=$(awk "BEGIN{print ($b1 < $b2) ? $b1 : $b2}")
ratio=$(awk "BEGIN{printf \"%.2f\", $build / $verify}")
echo "verify base layer (inspect --diff-ids): $v1 s, $v2 s (best $verify s)"
echo "build (base copied + verified + hives):  $b1 s, $b2 s (best $build s)"
echo "ratio build/verify: $ratio (target <= 1.2)"
# The same build into a layout that already holds the base blob: no copy, no fsync of
# the base layer; what remains is the one verifying pass plus the new layers.
e1=$(secs "$PV_BIN" -q build --base "$REF" --out "$D/out1")
echo "build into a layout holding the base blob (no copy): $e1 s, ratio $(awk "BEGIN{printf \"%.2f\", $e1 / $verify}")"
cmp -s "$D/out1/index.json" "$D/out2/index.json" && echo "both builds: same index.json"
