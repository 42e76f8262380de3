#!/usr/bin/env bash
# Layer verification throughput: pause-verify `inspect --diff-ids` (compressed digest +
# diff_id + tar walk, one pass) and `inspect --digests` (digest only) against, in the same
# run: `gzip -dc | sha256sum`, `sha256sum`, `openssl dgst -sha256` and an inflate-only pass
# with the same Rust backend (examples/bench_inflate.rs). Prints MB/s (of the compressed
# layer, 1 MB = 10^6 bytes), the ratios to the targets and peak RSS (/usr/bin/time -v).
# Targets: full >= 2.5x gzip|sha256sum, >= 0.85x inflate-only; digest-only >= 0.9x openssl;
# peak RSS <= 64 MiB. Figures are measurements, not assertions.
# Env: PV_BIN (release binary), PV_BENCH_DIR (scratch), PV_VERIFY_MB (uncompressed MB, default 640),
#      PV_BENCH_RUNS (best of N, default 3).
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
RUNS=${PV_BENCH_RUNS:-3}
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

# best-of-$RUNS wall time (s), the CPU time (user+sys, s) of that run and the max peak
# RSS (KiB) of a command. CPU time shows the work done even when other load steals cores.
measure() {
  local best="" cpu="" rss=0 t c r
  for _ in $(seq "$RUNS"); do
    /usr/bin/time -v -o "$WORK/time.txt" "$@" > "$WORK/out.txt" 2> "$WORK/err.txt" || {
      echo "command failed: $*" >&2; cat "$WORK/err.txt" >&2; exit 1; }
    t=$(awk -F': ' '/Elapsed \(wall clock\)/ {n=split($2,a,":"); s=0; for(i=1;i<=n;i++) s=s*60+a[i]; print s}' "$WORK/time.txt")
    c=$(awk -F': ' '/User time|System time/ {s+=$2} END {print s}' "$WORK/time.txt")
    r=$(awk -F': ' '/Maximum resident set size/ {print $2}' "$WORK/time.txt")
    if [ -z "$best" ] || awk "BEGIN{exit !($t < $best)}"; then best=$t; cpu=$c; fi
    [ "$r" -gt "$rss" ] && rss=$r
  done
  echo "$best $cpu $rss"
}

declare -A T C R
run() { local name=$1; shift; read -r T[$name] C[$name] R[$name] < <(measure "$@"); }
echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg) (figures are only meaningful on an idle machine)"
run full    "$PV_BIN" inspect --quiet --diff-ids "oci:$LAYOUT:bench"
run digest  "$PV_BIN" inspect --quiet --digests "oci:$LAYOUT:bench"
run gzipsha sh -c "gzip -dc '$BLOB' | sha256sum"
run sha256sum sha256sum "$BLOB"
run openssl openssl dgst -sha256 "$BLOB"
run inflate "$INFLATE" "$BLOB"

mbps() { awk "BEGIN{printf \"%.0f\", $SIZE / 1000000 / ${T[$1]}}"; }
ratio() { awk "BEGIN{printf \"%.2f\", ${T[$2]} / ${T[$1]}}"; }
printf '%-46s %7s %7s %7s %12s\n' "pass (best of $RUNS)" "wall s" "CPU s" "MB/s" "peak RSS"
for k in full digest inflate gzipsha sha256sum openssl; do
  case $k in
    full) label="pause-verify inspect --diff-ids (full)";;
    digest) label="pause-verify inspect --digests (digest only)";;
    inflate) label="inflate only (zlib-rs, examples/bench_inflate)";;
    gzipsha) label="gzip -dc | sha256sum";;
    sha256sum) label="sha256sum";;
    openssl) label="openssl dgst -sha256";;
  esac
  printf '%-46s %7.2f %7.2f %7s %8d KiB\n' "$label" "${T[$k]}" "${C[$k]}" "$(mbps $k)" "${R[$k]}"
done
echo "full / gzip|sha256sum   = $(ratio full gzipsha)x (target >= 2.5)"
echo "full / inflate-only     = $(ratio full inflate)x (target >= 0.85)"
echo "digest / openssl        = $(ratio digest openssl)x (target >= 0.9)"
echo "digest / sha256sum      = $(ratio digest sha256sum)x"
echo "peak RSS full / digest  = $((R[full] / 1024)) / $((R[digest] / 1024)) MiB (target <= 64)"
