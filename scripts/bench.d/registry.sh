#!/usr/bin/env bash
# Registry transport: pull (docker:// -> OCI layout) and push (layout -> docker://) of a
# ~90 MB-gzip image on the loopback registry, pause-verify against skopeo in the same run.
# Median of $PV_BENCH_RUNS interleaved runs (default 7) of each command, wall and CPU
# (user+sys of the client; the registry's own CPU is not counted for either side).
# Target: pause-verify >= 1.2x skopeo's throughput, pull and push. Measurements, not
# assertions. Pull is measured with --no-cache (blobs land in memory, then the layout)
# and with a fresh, empty blob cache per run (blobs land in the cache and are
# hard-linked into the layout), as a first `copy` on a new machine does.
set -euo pipefail
cd "$(dirname "$0")/../.."
. scripts/lib/registry.sh
PV_BIN=${PV_BIN:?run through scripts/bench.sh}
WORK=${PV_BENCH_DIR:?}/registry
RUNS=${PV_BENCH_RUNS:-7}
rm -rf "$WORK"; mkdir -p "$WORK"
export PV_REG_ROOT=$WORK/reg
trap 'registry_stop_all' EXIT
# Not REG=$(registry_start ...): a command substitution is a subshell, whose record of
# the registry's pid the EXIT trap would never see (the registry would outlive the bench).
registry_start bench > "$WORK/registry.addr"
REG=$(cat "$WORK/registry.addr")

# ~90 MB of gzip over 4 layers: mostly random bytes (incompressible) plus text.
python3 - "$WORK/src" <<'PY'
import gzip, hashlib, io, json, os, random, sys, tarfile
d = sys.argv[1]; os.makedirs(f"{d}/blobs/sha256")
def put(b):
    h = hashlib.sha256(b).hexdigest(); open(f"{d}/blobs/sha256/{h}", "wb").write(b); return "sha256:" + h, len(b)
rnd = random.Random(7); layers = []; diffs = []
for i in range(4):
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as t:
        for name, data in (("Files/random.bin", rnd.randbytes(21 << 20)),
                           ("Files/text.txt", "".join(f"line {k} of layer {i}\n" for k in range(200000)).encode())):
            ti = tarfile.TarInfo(name); ti.size = len(data); t.addfile(ti, io.BytesIO(data))
    r = raw.getvalue(); diffs.append("sha256:" + hashlib.sha256(r).hexdigest())
    dg, sz = put(gzip.compress(r, compresslevel=1, mtime=0))
    layers.append({"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", "digest": dg, "size": sz})
cd, cs = put(json.dumps({"architecture": "amd64", "os": "windows", "rootfs": {"type": "layers", "diff_ids": diffs}}).encode())
md, ms = put(json.dumps({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
    "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": cd, "size": cs}, "layers": layers}).encode())
open(f"{d}/oci-layout", "w").write('{"imageLayoutVersion":"1.0.0"}')
json.dump({"schemaVersion": 2, "manifests": [{"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": md, "size": ms,
    "annotations": {"org.opencontainers.image.ref.name": "t"}}]}, open(f"{d}/index.json", "w"))
PY
BYTES=$(du -cb "$WORK"/src/blobs/sha256/* | tail -1 | cut -f1)
echo "image: $((BYTES / 1000000)) MB in blobs; registry $REG"
skopeo copy -q --dest-tls-verify=false "oci:$WORK/src:t" "docker://$REG/bench/src:t"

clear_skopeo_cache='rm -f /var/lib/containers/cache/blob-info-cache-v1.* "${HOME:-/root}"/.local/share/containers/cache/blob-info-cache-v1.*'
SRC="docker://$REG/bench/src:t"
# Push: a fresh repository per run, so every blob is uploaded (nothing to mount or skip).
python3 scripts/lib/measure.py "$RUNS" \
  pull_pv "rm -rf '$WORK/out-pv'" "'$PV_BIN' copy -q --no-cache '$SRC' 'oci:$WORK/out-pv:t'" \
  pull_pvc "rm -rf '$WORK/out-pvc' '$WORK/xdg'" "env XDG_CACHE_HOME='$WORK/xdg' '$PV_BIN' copy -q '$SRC' 'oci:$WORK/out-pvc:t'" \
  fetch_pv "" "'$PV_BIN' inspect -q --no-cache --digests '$SRC'" \
  pull_sk "rm -rf '$WORK/out-sk'; $clear_skopeo_cache" "skopeo copy -q --src-tls-verify=false '$SRC' 'oci:$WORK/out-sk:t'" \
  push_pv "" "'$PV_BIN' copy -q --no-cache 'oci:$WORK/src:t' 'docker://$REG/bench/pv-$$-{run}:t'" \
  push_sk "$clear_skopeo_cache" "skopeo copy -q --dest-tls-verify=false 'oci:$WORK/src:t' 'docker://$REG/bench/sk-$$-{run}:t'" \
  > "$WORK/times.txt"
cmp -s <(ls "$WORK/out-pv/blobs/sha256") <(ls "$WORK/out-sk/blobs/sha256") || echo "WARNING: pause-verify and skopeo layouts hold different blobs" >&2

python3 - "$BYTES" "$RUNS" "$WORK/times.txt" <<'PY'
import sys
b, runs = int(sys.argv[1]), int(sys.argv[2])
t = {}
for line in open(sys.argv[3]):
    name, wall, cpu, rss, walls, cpus = line.split()
    t[name] = (float(wall), float(cpu), walls)
mb = b / 1e6
print(f"median of {runs} runs; wall s, client CPU s (user+sys), MB/s of wall")
def row(label, k):
    w, c, walls = t[k]
    print(f"  {label:42} wall {w:6.3f} s {mb / w:7.1f} MB/s  CPU {c:6.3f} s   [{walls}]")
row("pull pause-verify --no-cache", "pull_pv")
row("pull pause-verify, empty cache (linked)", "pull_pvc")
row("fetch+verify only (inspect --digests)", "fetch_pv")
row("pull skopeo", "pull_sk")
row("push pause-verify", "push_pv")
row("push skopeo", "push_sk")
def ratio(label, ours, theirs):
    (wo, co, _), (wt, ct, _) = t[ours], t[theirs]
    print(f"{label:44} wall {wt / wo:5.2f}x   CPU {ct / co:5.2f}x   (target >= 1.2x)")
ratio("pull --no-cache / skopeo", "pull_pv", "pull_sk")
ratio("pull with empty cache / skopeo", "pull_pvc", "pull_sk")
ratio("push / skopeo", "push_pv", "push_sk")
PY
