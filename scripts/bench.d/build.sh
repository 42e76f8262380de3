#!/usr/bin/env bash
# build: `pause-verify build` against a synthetic NanoServer whose base layer is ~300 MB
# (uncompressed, PV_BUILD_BENCH_MB), layer local, vs a full verification of that base
# layer (`inspect --diff-ids`: digest + inflate + diff_id + tar walk) in the same run.
# The build reads each base layer once (verify + hive extraction in one pass); with the
# base on the output's filesystem the base blob is hard-linked into the output, not
# copied. Target: within 1.2x the verification. Median of $PV_BENCH_RUNS interleaved
# runs (default 5), wall and CPU (user+sys). Also shown: a build into a layout that
# already holds the base blob, and one onto another filesystem (/dev/shm, tmpfs) where
# the blob must be copied.
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

RUNS=${PV_BENCH_RUNS:-5}
# Warm the page cache once so every run reads from memory alike.
cat "$D"/base/blobs/sha256/* > /dev/null
"$PV_BIN" -q build --base "$REF" --out "$D/existing" >/dev/null
SHM=""
if [ -d /dev/shm ] && [ "$(stat -c %d /dev/shm)" != "$(stat -c %d "$D")" ]; then
  SHM=$(mktemp -d /dev/shm/pv-bench-build.XXXXXX)
fi
cmds=(verify "" "'$PV_BIN' -q inspect --diff-ids '$REF'"
      build "rm -rf '$D/new'" "'$PV_BIN' -q build --base '$REF' --out '$D/new'"
      build_existing "" "'$PV_BIN' -q build --base '$REF' --out '$D/existing'")
[ -n "$SHM" ] && cmds+=(build_copy "rm -rf '$SHM/new'" "'$PV_BIN' -q build --base '$REF' --out '$SHM/new'")
python3 scripts/lib/measure.py "$RUNS" "${cmds[@]}" > "$D/times.txt"
cmp -s "$D/new/index.json" "$D/existing/index.json" && echo "fresh and existing-layout builds: same index.json"
if [ -n "$SHM" ]; then
  cmp -s "$D/new/index.json" "$SHM/new/index.json" && echo "linked and copied builds: same index.json"
  rm -rf "$SHM"
fi
python3 - "$RUNS" "$D/times.txt" <<'PY'
import sys
runs = int(sys.argv[1])
t = {}
for line in open(sys.argv[2]):
    k, w, c, rss, walls, cpus = line.split()
    t[k] = (float(w), float(c), walls)
labels = {
    "verify": "verify base layer (inspect --diff-ids)",
    "build": "build, new output (base blob linked)",
    "build_existing": "build into a layout holding the base blob",
    "build_copy": "build onto tmpfs (base blob copied)",
}
print(f"median of {runs} runs")
for k, label in labels.items():
    if k in t:
        w, c, walls = t[k]
        print(f"  {label:44} wall {w:6.3f} s  CPU {c:6.3f} s   [{walls}]")
vw, vc, _ = t["verify"]
for k in ["build", "build_existing", "build_copy"]:
    if k in t:
        w, c, _ = t[k]
        tg = "  (target <= 1.2)" if k == "build" else ""
        print(f"ratio {k}/verify: wall {w / vw:.2f}  CPU {c / vc:.2f}{tg}")
PY
