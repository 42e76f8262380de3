#!/usr/bin/env bash
# Layer verification throughput: pause-verify `inspect --diff-ids` (compressed digest +
# diff_id + tar walk, one pass) and `inspect --digests` (digest only) against, in the same
# run: `gzip -dc | sha256sum`, `sha256sum`, `openssl dgst -sha256` and an inflate-only pass
# with the same Rust backend (examples/bench_inflate.rs). Prints MB/s (of the compressed
# layer, 1 MB = 10^6 bytes), the ratios to the targets (wall and CPU) and peak RSS.
# Median of $PV_BENCH_RUNS interleaved runs (scripts/lib/measure.py); CPU is user+sys.
# Targets: full >= 2.5x gzip|sha256sum, >= 0.85x inflate-only; digest-only >= 0.9x openssl;
# peak RSS <= 64 MiB. Figures are measurements, not assertions.
# Env: PV_BIN (release binary), PV_BENCH_DIR (scratch), PV_VERIFY_MB (uncompressed MB, default 640),
#      PV_BENCH_RUNS (median of N, default 5).
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT=$(pwd)
if [ -z "${PV_BIN:-}" ]; then
  cargo build --release --locked -q
  PV_BIN=$ROOT/target/release/pause-verify
fi
cargo build --release --locked -q --example bench_inflate
INFLATE=$ROOT/target/release/examples/bench_inflate
WORK=${PV_BENCH_DIR:-$(mktemp -d -t pause-verify-bench.XXXXXX)}/verify
mkdir -p "$WORK"
MB=${PV_VERIFY_MB:-640}
RUNS=${PV_BENCH_RUNS:-5}
PY=${PAUSE_VERIFY_PYTHON:-python3}

LAYOUT=$WORK/layout
if [ ! -f "$LAYOUT/index.json" ]; then
  echo "generating a synthetic layer (~${MB} MB uncompressed: text and binary files, gzip -6)..."
  rm -rf "$LAYOUT"
  mkdir -p "$LAYOUT/blobs/sha256"
  # The tar is made and hashed by Python, compressed by gzip(1): nothing from pause-verify.
  "$PY" - "$MB" "$WORK/diffid" <<'PYEOF' | gzip -6 > "$WORK/layer.tar.gz"
import hashlib, io, random, sys, tarfile
target = int(sys.argv[1]) * 1_000_000
rng = random.Random(20240611)
words = [''.join(rng.choice('abcdefghijklmnopqrstuvwxyz') for _ in range(rng.randint(2, 10))) for _ in range(5000)]
class Tee(io.RawIOBase):
    def __init__(self): self.h = hashlib.sha256()
    def writable(self): return True
    def write(self, b):
        self.h.update(b); sys.stdout.buffer.write(b); return len(b)
tee = Tee()
out = io.BufferedWriter(tee, 1 << 20)
written, i = 0, 0
with tarfile.open(fileobj=out, mode='w|', format=tarfile.PAX_FORMAT) as tf:
    while written < target:
        size = rng.randint(20_000, 300_000)
        kind = i % 3
        if kind == 0:    # random binary (incompressible)
            data = rng.randbytes(size)
        elif kind == 1:  # text
            lines = []
            n = 0
            while n < size:
                line = ' '.join(rng.choices(words, k=12)) + '\n'
                lines.append(line); n += len(line)
            data = ''.join(lines).encode()
        else:            # structured binary (half-compressible, like PE files)
            block = rng.randbytes(4096)
            data = (block + bytes(4096) + bytes(range(256)) * 16) * (size // 12288 + 1)
            data = data[:size]
        ti = tarfile.TarInfo(f'Files/dir{i % 64:02d}/file{i:05d}.{["bin","txt","dll"][kind]}')
        ti.size = len(data); ti.mtime = 0
        tf.addfile(ti, io.BytesIO(data))
        written += len(data); i += 1
out.flush()
open(sys.argv[2], 'w').write('sha256:' + tee.h.hexdigest() + f' {i}\n')
PYEOF
  "$PY" - "$WORK" <<'PYEOF'
import hashlib, json, os, sys
w = sys.argv[1]; lay = os.path.join(w, 'layout')
def put(b):
    d = hashlib.sha256(b).hexdigest()
    open(os.path.join(lay, 'blobs/sha256', d), 'wb').write(b); return 'sha256:' + d, len(b)
h = hashlib.sha256(); n = 0
with open(os.path.join(w, 'layer.tar.gz'), 'rb') as f:
    while chunk := f.read(1 << 20): h.update(chunk); n += len(chunk)
ld = h.hexdigest()
os.rename(os.path.join(w, 'layer.tar.gz'), os.path.join(lay, 'blobs/sha256', ld))
diff_id = open(os.path.join(w, 'diffid')).read().split()[0]
cfg = json.dumps({"architecture": "amd64", "os": "windows", "os.version": "10.0.20348.1",
                  "rootfs": {"type": "layers", "diff_ids": [diff_id]}}).encode()
cd, cs = put(cfg)
man = json.dumps({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
    "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": cd, "size": cs},
    "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", "digest": 'sha256:' + ld, "size": n}]}).encode()
md, ms = put(man)
json.dump({"schemaVersion": 2, "manifests": [{"mediaType": "application/vnd.oci.image.manifest.v1+json",
    "digest": md, "size": ms, "annotations": {"org.opencontainers.image.ref.name": "bench"}}]},
    open(os.path.join(lay, 'index.json'), 'w'))
open(os.path.join(lay, 'oci-layout'), 'w').write('{"imageLayoutVersion":"1.0.0"}')
PYEOF
fi
BLOB=$(ls -S "$LAYOUT"/blobs/sha256/* | head -1)
SIZE=$(stat -c %s "$BLOB")
USIZE=$(gzip -dc "$BLOB" | wc -c)
FILES=$(awk '{print $2}' "$WORK/diffid")
echo "layer: $((SIZE / 1000000)) MB gzip, $((USIZE / 1000000)) MB tar, $FILES files ($(nproc) CPUs)"
cat "$BLOB" > /dev/null  # warm the page cache: we measure CPU work, not the disk

echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg) (wall figures are only meaningful on an idle machine; CPU figures less affected)"
python3 scripts/lib/measure.py "$RUNS" \
  full "" "'$PV_BIN' inspect --quiet --diff-ids 'oci:$LAYOUT:bench'" \
  digest "" "'$PV_BIN' inspect --quiet --digests 'oci:$LAYOUT:bench'" \
  inflate "" "'$INFLATE' '$BLOB'" \
  gzipsha "" "sh -c \"gzip -dc '$BLOB' | sha256sum\"" \
  sha256sum "" "sha256sum '$BLOB'" \
  openssl "" "openssl dgst -sha256 '$BLOB'" \
  > "$WORK/times.txt"
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
python3 - "$SIZE" "$RUNS" "$WORK/times.txt" <<'PY'
import sys
size, runs = int(sys.argv[1]), int(sys.argv[2])
t = {}
for line in open(sys.argv[3]):
    k, w, c, rss, walls, cpus = line.split()
    t[k] = (float(w), float(c), int(rss), walls)
labels = {
    "full": "pause-verify inspect --diff-ids (full)",
    "digest": "pause-verify inspect --digests (digest only)",
    "inflate": "inflate only (zlib-rs, examples/bench_inflate)",
    "gzipsha": "gzip -dc | sha256sum",
    "sha256sum": "sha256sum",
    "openssl": "openssl dgst -sha256",
}
print(f"{'pass (median of %d)' % runs:46} {'wall s':>7} {'CPU s':>7} {'MB/s':>7} {'peak RSS':>12}")
for k in ["full", "digest", "inflate", "gzipsha", "sha256sum", "openssl"]:
    w, c, rss, _ = t[k]
    print(f"{labels[k]:46} {w:7.3f} {c:7.3f} {size / 1e6 / w:7.0f} {rss:8d} KiB")
def ratio(a, b, target):
    (wa, ca, _, _), (wb, cb, _, _) = t[a], t[b]
    tg = f"(target >= {target})" if target else ""
    print(f"{a + ' / ' + b:24} = wall {wb / wa:5.2f}x  CPU {cb / ca:5.2f}x {tg}")
ratio("full", "gzipsha", 2.5)
ratio("full", "inflate", 0.85)
ratio("digest", "openssl", 0.9)
ratio("digest", "sha256sum", None)
print(f"peak RSS full / digest  = {t['full'][2] // 1024} / {t['digest'][2] // 1024} MiB (target <= 64)")
PY
