#!/usr/bin/env bash
# The tool's own image: a reproducible OCI image of pause-verify, FROM scratch, holding
# the static binary (/pause-verify) and the CA bundle it needs for registry TLS
# (/etc/ssl/certs/ca-certificates.crt, from Debian's ca-certificates). Optionally signed,
# with a SLSA provenance, by a cosign key, and verified by pause-verify itself.
#
#   scripts/own-image.sh [--out DIR] [--tag TAG] [--binary BIN] [--key cosign.key] [--check]
#
#   --out DIR      the OCI layout to write (default target/own-image); the image is oci:DIR:TAG
#   --tag TAG      default: the crate version
#   --binary BIN   use this binary instead of building it; it must be static unless
#                  --allow-dynamic (tests use the debug binary to check the assembly)
#   --key KEY      sign the image and attest its provenance (password: COSIGN_PASSWORD),
#                  then verify both with KEY's .pub and audit it (deploy/own-image/policy.toml)
#   --check        build the image twice (into DIR.1 and DIR.2) and fail unless the two
#                  are byte-identical (same manifest digest, same blobs)
#
# The binary: `cargo build --release --locked --target x86_64-unknown-linux-gnu` with
# `-C target-feature=+crt-static` (glibc static, the one Rust toolchain here has no musl
# target) and --remap-path-prefix for the checkout and ~/.cargo, so paths do not enter
# it. Every other byte of the image is fixed: file modes, owners, times
# (SOURCE_DATE_EPOCH, default the last commit's time), tar and gzip headers (Python's
# tarfile and gzip with mtime 0), JSON key order.
#
# Exit: 0 done (and, with --check, identical), 1 a check failed, 2 bad usage.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)

out=target/own-image
tag=$(sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -n 1)
binary=
key=
check=0
allow_dynamic=0
while [ $# -gt 0 ]; do
  case $1 in
  --out) out=$2; shift 2 ;;
  --tag) tag=$2; shift 2 ;;
  --binary) binary=$2; shift 2 ;;
  --key) key=$2; shift 2 ;;
  --check) check=1; shift ;;
  --allow-dynamic) allow_dynamic=1; shift ;;
  *) echo "own-image.sh: unknown argument $1" >&2; exit 2 ;;
  esac
done
python=${PYTHON:-python3}
ca=${PV_CA_BUNDLE:-/etc/ssl/certs/ca-certificates.crt}
[ -f "$ca" ] || { echo "own-image.sh: no CA bundle at $ca (apt-get install ca-certificates)" >&2; exit 2; }
: "${SOURCE_DATE_EPOCH:=$(git log -1 --format=%ct 2>/dev/null || echo 0)}"
export SOURCE_DATE_EPOCH

if [ -z "$binary" ]; then
  target=x86_64-unknown-linux-gnu
  echo "==> cargo build --release --target $target (static)"
  RUSTFLAGS="-C target-feature=+crt-static --remap-path-prefix=$root=/src/pause-verify --remap-path-prefix=${CARGO_HOME:-$HOME/.cargo}=/cargo" \
    cargo build --release --locked --target "$target" -q
  binary=target/$target/release/pause-verify
fi
[ -x "$binary" ] || { echo "own-image.sh: $binary is not an executable" >&2; exit 2; }
if [ "$allow_dynamic" = 0 ] && ! { ldd "$binary" 2>&1 || true; } | grep -qE 'not a dynamic executable|statically linked'; then
  echo "own-image.sh: $binary is not statically linked (FROM scratch has no libc)" >&2
  exit 2
fi

# Write the layout DIR: one gzip layer, the config, the manifest, index.json. Prints the
# manifest digest.
assemble() {
  "$python" - "$1" "$tag" "$binary" "$ca" "$SOURCE_DATE_EPOCH" <<'PY'
import gzip, hashlib, io, json, os, shutil, sys, tarfile, time

out, tag, binary, ca, epoch = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4], int(sys.argv[5])
shutil.rmtree(out, ignore_errors=True)
blobs = os.path.join(out, "blobs", "sha256")
os.makedirs(blobs)

def put(data):
    d = hashlib.sha256(data).hexdigest()
    with open(os.path.join(blobs, d), "wb") as f:
        f.write(data)
    return "sha256:" + d, len(data)

def canon(obj):
    return json.dumps(obj, sort_keys=True, separators=(",", ":")).encode()

raw = io.BytesIO()
with tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as t:
    def add(name, mode, data=None):
        ti = tarfile.TarInfo(name)
        ti.mtime, ti.uid, ti.gid, ti.uname, ti.gname = epoch, 0, 0, "", ""
        if data is None:
            ti.type, ti.mode = tarfile.DIRTYPE, mode
            t.addfile(ti)
        else:
            ti.mode, ti.size = mode, len(data)
            t.addfile(ti, io.BytesIO(data))
    for d in ("etc", "etc/ssl", "etc/ssl/certs"):
        add(d, 0o755)
    add("tmp", 0o1777)  # XDG_CACHE_HOME: the blob cache, writable by the image's user
    add("etc/ssl/certs/ca-certificates.crt", 0o644, open(ca, "rb").read())
    add("pause-verify", 0o755, open(binary, "rb").read())
tar = raw.getvalue()
gz = io.BytesIO()
with gzip.GzipFile(fileobj=gz, mode="wb", compresslevel=9, mtime=0, filename="") as g:
    g.write(tar)
layer, layer_size = put(gz.getvalue())
created = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(epoch))
config = {
    "architecture": "amd64",
    "os": "linux",
    "created": created,
    "config": {
        "Entrypoint": ["/pause-verify"],
        "Env": ["SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt", "XDG_CACHE_HOME=/tmp"],
        "User": "65532:65532",
        "WorkingDir": "/",
    },
    "rootfs": {"type": "layers", "diff_ids": ["sha256:" + hashlib.sha256(tar).hexdigest()]},
    "history": [{"created": created, "created_by": "scripts/own-image.sh: pause-verify (static) + CA bundle"}],
}
cfg, cfg_size = put(canon(config))
manifest = {
    "schemaVersion": 2,
    "mediaType": "application/vnd.oci.image.manifest.v1+json",
    "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": cfg, "size": cfg_size},
    "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", "digest": layer, "size": layer_size}],
    "annotations": {"org.opencontainers.image.title": "pause-verify", "org.opencontainers.image.version": tag},
}
man, man_size = put(canon(manifest))
index = {
    "schemaVersion": 2,
    "mediaType": "application/vnd.oci.image.index.v1+json",
    "manifests": [{
        "mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": man, "size": man_size,
        "platform": {"architecture": "amd64", "os": "linux"},
        "annotations": {"org.opencontainers.image.ref.name": tag},
    }],
}
with open(os.path.join(out, "index.json"), "wb") as f:
    f.write(canon(index))
with open(os.path.join(out, "oci-layout"), "wb") as f:
    f.write(b'{"imageLayoutVersion":"1.0.0"}')
print(man)
PY
}

if [ "$check" = 1 ]; then
  d1=$(assemble "$out.1")
  d2=$(assemble "$out.2")
  if [ "$d1" != "$d2" ] || ! diff -r "$out.1" "$out.2" >/dev/null; then
    echo "own-image.sh: NOT reproducible: $d1 vs $d2" >&2
    exit 1
  fi
  echo "reproducible: built twice, both $d1"
  rm -rf "$out.2"
  mv "$out.1" "$out.tmp" && rm -rf "$out" && mv "$out.tmp" "$out"
  digest=$d1
else
  digest=$(assemble "$out")
fi
image=oci:$out:$tag
echo "image $image ($digest)"

if [ -n "$key" ]; then
  pv=$binary
  pub=${key%.key}.pub
  [ -f "$pub" ] || { echo "own-image.sh: no public key $pub beside $key" >&2; exit 2; }
  bin_sha=$(sha256sum "$binary" | cut -d' ' -f1)
  lock_sha=$(sha256sum Cargo.lock | cut -d' ' -f1)
  ca_sha=$(sha256sum "$ca" | cut -d' ' -f1)
  commit=$(git rev-parse HEAD 2>/dev/null || echo unknown)
  rustc=$(rustc --version 2>/dev/null || echo unknown)
  "$python" - "$out/provenance.json" "$commit" "$rustc" "$bin_sha" "$lock_sha" "$ca_sha" "$SOURCE_DATE_EPOCH" <<'PY'
import json, sys, time
path, commit, rustc, bin_sha, lock_sha, ca_sha, epoch = sys.argv[1:8]
t = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(int(epoch)))
predicate = {
    "buildDefinition": {
        "buildType": "https://github.com/pause-verify/pause-verify/own-image/v1",
        "externalParameters": {
            "source": {"uri": "git+https://github.com/pause-verify/pause-verify", "digest": {"gitCommit": commit}},
            "script": "scripts/own-image.sh",
        },
        "internalParameters": {
            "rustc": rustc,
            "target": "x86_64-unknown-linux-gnu",
            "rustflags": "-C target-feature=+crt-static --remap-path-prefix",
            "SOURCE_DATE_EPOCH": epoch,
        },
        "resolvedDependencies": [
            {"name": "Cargo.lock", "digest": {"sha256": lock_sha}},
            {"name": "pause-verify (the static binary)", "digest": {"sha256": bin_sha}},
            {"name": "ca-certificates.crt", "digest": {"sha256": ca_sha}},
        ],
    },
    "runDetails": {
        "builder": {"id": "https://github.com/pause-verify/pause-verify/scripts/own-image.sh"},
        "metadata": {"startedOn": t, "finishedOn": t},
    },
}
open(path, "w").write(json.dumps(predicate, indent=1, sort_keys=True) + "\n")
PY
  # The provenance lives outside the layout's blobs; move it aside so --check's layout
  # comparison and the image stay the same bytes.
  mv "$out/provenance.json" "$out.provenance.json"
  "$pv" -q sign --key "$key" "$image"
  "$pv" -q attest --key "$key" --predicate "$out.provenance.json" --type https://slsa.dev/provenance/v1 "$image"
  echo "==> verified by pause-verify itself"
  "$pv" verify --key "$pub" --attestations --type https://slsa.dev/provenance/v1 "$image"
  "$pv" audit "$image" --key "$pub" --policy deploy/own-image/policy.toml
fi
