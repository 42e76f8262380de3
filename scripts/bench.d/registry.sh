#!/usr/bin/env bash
# Registry transport: pull (docker:// -> OCI layout) and push (layout -> docker://) of a
# ~90 MB-gzip image on the loopback registry, pause-verify against skopeo in the same run.
# Each figure is the best of $PV_BENCH_RUNS runs (default 3). Measurements, not assertions.
set -euo pipefail
cd "$(dirname "$0")/../.."
. scripts/lib/registry.sh
PV_BIN=${PV_BIN:?run through scripts/bench.sh}
WORK=${PV_BENCH_DIR:?}/registry
RUNS=${PV_BENCH_RUNS:-3}
rm -rf "$WORK"; mkdir -p "$WORK"
export PV_REG_ROOT=$WORK/reg
trap 'registry_stop_all' EXIT
REG=$(registry_start bench)

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

clear_skopeo_cache() {
  rm -f /var/lib/containers/cache/blob-info-cache-v1.* "${HOME:-/root}"/.local/share/containers/cache/blob-info-cache-v1.* 2>/dev/null || true
}
now() { date +%s.%N; }
best() { # best time of RUNS runs of a command whose first arg is a setup function
  local setup=$1; shift; local b=999999 t0 t1 i
  for i in $(seq 1 "$RUNS"); do
    $setup "$i"
    t0=$(now); "$@" >/dev/null 2>&1; t1=$(now)
    b=$(python3 -c "print(min($b, $t1 - $t0))")
  done
  echo "$b"
}
N=0
pull_setup() { rm -rf "$WORK/out-pv" "$WORK/out-sk"; clear_skopeo_cache; }
push_setup() { N=$((N + 1)); clear_skopeo_cache; }

PULL_PV=$(best pull_setup "$PV_BIN" copy -q --no-cache "docker://$REG/bench/src:t" "oci:$WORK/out-pv:t")
# Download + verify only (no layout written): separates transport cost from the sink's.
VERIFY_PV=$(best pull_setup "$PV_BIN" inspect -q --no-cache --digests "docker://$REG/bench/src:t")
PULL_SK=$(best pull_setup skopeo copy -q --src-tls-verify=false "docker://$REG/bench/src:t" "oci:$WORK/out-sk:t")
# Fresh repositories per run, so every blob is uploaded (nothing to mount or skip).
push_pv() { "$PV_BIN" copy -q --no-cache "oci:$WORK/src:t" "docker://$REG/bench/pv-$RANDOM$RANDOM:t"; }
push_sk() { skopeo copy -q --dest-tls-verify=false "oci:$WORK/src:t" "docker://$REG/bench/sk-$RANDOM$RANDOM:t"; }
PUSH_PV=$(best push_setup push_pv)
PUSH_SK=$(best push_setup push_sk)

python3 - "$BYTES" "$PULL_PV" "$PULL_SK" "$PUSH_PV" "$PUSH_SK" "$VERIFY_PV" <<'PY'
import sys
b, pp, ps, up, us, vp = int(sys.argv[1]), *map(float, sys.argv[2:])
mb = b / 1e6
print(f"pull  pause-verify {pp:6.2f} s {mb/pp:7.1f} MB/s | skopeo {ps:6.2f} s {mb/ps:7.1f} MB/s | ratio {ps/pp:.2f}x")
print(f"fetch+verify only (inspect --digests) {vp:6.2f} s {mb/vp:7.1f} MB/s | vs skopeo pull ratio {ps/vp:.2f}x")
print(f"push  pause-verify {up:6.2f} s {mb/up:7.1f} MB/s | skopeo {us:6.2f} s {mb/us:7.1f} MB/s | ratio {us/up:.2f}x")
PY
