#!/usr/bin/env bash
# Fuzz every parser (cargo-fuzz, libFuzzer; targets in fuzz/fuzz_targets, list in
# docs/fuzzing.md). Builds the targets, seeds one temp corpus per target from
# tests/fixtures and small hand-made inputs, runs each target for SECONDS, then prints
# executions, seconds and the result per target and the total. Exit 1 if any target
# crashed, ran out of memory or timed out (libFuzzer's reproducer is kept under
# fuzz/artifacts/TARGET/).
#
# Usage: scripts/fuzz.sh [SECONDS_PER_TARGET] [TARGET...]   (default 30 s, every target)
# Environment:
#   PV_FUZZ_CORPUS=DIR   keep the corpora in DIR/TARGET and reuse them (never commit them);
#                        default: a temp dir removed at the end
#   PV_FUZZ_NICE=N       nice level of the fuzzing processes (default 19: other builds first)
#   PV_FUZZ_SANITIZER=S  cargo-fuzz sanitizer (default none, see docs/fuzzing.md)
#   PV_FUZZ_ARGS="..."   extra libFuzzer flags for every target
#   PV_FUZZ_LOGS=DIR     keep each target's libFuzzer log as DIR/TARGET.log
#
# cargo-fuzz needs nightly-only flags (-Zsanitizer, sancov); on a stable toolchain
# RUSTC_BOOTSTRAP=1 lets the same compiler accept them.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
secs="${1:-30}"
shift || true
all_targets=(hive_read regfile_parse image_model docker_archive wclayer_reader sddl dsse
  bundle trust_root x509_sct rekor simple_signing key_pem policy_toml pins_toml dockerfile
  toml_recipe reg_cmdline registry_headers docker_config image_ref noise_glob notary_cose
  notary_jws timestamp intoto_layout)
if [ $# -gt 0 ]; then targets=("$@"); else targets=("${all_targets[@]}"); fi
nice_level="${PV_FUZZ_NICE:-19}"
sanitizer="${PV_FUZZ_SANITIZER:-none}"
fixtures="${PAUSE_VERIFY_FIXTURES:-tests/fixtures}"

command -v cargo-fuzz >/dev/null || cargo install cargo-fuzz --locked
export RUSTC_BOOTSTRAP=1
work="$(mktemp -d -t pause-verify-fuzz.XXXXXX)"
trap 'rm -rf "$work"' EXIT
export PV_FUZZ_SCRATCH="$work/scratch"
mkdir -p "$PV_FUZZ_SCRATCH"
corpus="${PV_FUZZ_CORPUS:-$work/corpus}"
seeds="$work/seeds"

# Longest input per target (bytes): room for the seeds, small enough to stay fast.
max_len() {
  case "$1" in
    hive_read) echo 600000 ;;
    docker_archive | wclayer_reader) echo 262144 ;;
    trust_root | bundle | rekor) echo 32768 ;;
    dsse | x509_sct | simple_signing | notary_cose | notary_jws | policy_toml | pins_toml | dockerfile | toml_recipe | regfile_parse | timestamp | intoto_layout) echo 16384 ;;
    *) echo 4096 ;;
  esac
}

# ---- seeds (written here, into the temp dir; nothing generated is committed)
s() { mkdir -p "$seeds/$1"; printf '%b' "$3" > "$seeds/$1/$2"; }
seed_file() { mkdir -p "$seeds/$1"; cp "$2" "$seeds/$1/$(basename "$2")"; }
make_seeds() {
  local f
  mkdir -p "$seeds"
  find "$fixtures/hives" -type f ! -name '*.txt' -print0 2>/dev/null |
    while IFS= read -r -d '' f; do seed_file hive_read "$f"; done
  seed_file regfile_parse "$fixtures/upstream/windows-pause-image-base/binaries/keylight.reg"
  s regfile_parse seed.reg 'Windows Registry Editor Version 5.00\r\n[HKEY_LOCAL_MACHINE\\SYSTEM\\CurrentControlSet\\Services\\X]\r\n@="a\\\\b"\r\n"b"=hex(2):41,00,\\\r\n  00,00\r\n"c"=-\r\n"d"=dword:0000002a\r\n[-HKEY_LOCAL_MACHINE\\SOFTWARE\\Y]\r\n'

  # Image model: selector byte (declared media type) + JSON.
  local cfg='{"architecture":"amd64","os":"windows","os.version":"10.0.20348.2849","config":{"User":"ContainerUser","Cmd":["c:\\\\windows\\\\system32\\\\cmd.exe"]},"rootfs":{"type":"layers","diff_ids":["sha256:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"]},"history":[{"created":"2024-11-09T04:32:11Z","created_by":"Apply image 10.0.20348.2849"}]}'
  local desc='{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb","size":500,"platform":{"architecture":"amd64","os":"windows","os.version":"10.0.20348.2849"}}'
  s image_model index '\x01{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":['"$desc"']}'
  s image_model manifest '\x02{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"sha256:cccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccc","size":300},"layers":[{"mediaType":"application/vnd.docker.image.rootfs.foreign.diff.tar","digest":"sha256:dddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddd","size":1000,"urls":["https://mcr.microsoft.com/v2/x"]}],"annotations":{"a":"b"}}'
  s image_model config '\x00'"$cfg"
  s image_model config-docker '\x80'"$cfg"
  s image_model platform '\x00windows/amd64:10.0.20348'
  { printf '\x04'; cat "$fixtures/cosign/containers-image/dir-img-cosign-valid/manifest.json"; } > "$seeds/image_model/docker-manifest"

  # A Windows layer tar (PAX records as hcsshim writes them) and a docker-archive of it.
  local t="$work/tree"
  mkdir -p "$t/Files/Windows/System32/config" "$t/Hives" "$t/Files/tools"
  # The regf header page only: the tar reader does not look inside, and seeds stay small.
  head -c 4096 "$fixtures/hives/yarp/EmptyHive" > "$t/Hives/Software_Delta"
  head -c 4096 "$fixtures/hives/yarp/EmptyHive" > "$t/Files/Windows/System32/config/SOFTWARE"
  printf 'hello\r\n' > "$t/Files/tools/a.txt"
  : > "$t/Files/tools/.wh.gone.txt"            # a whiteout
  ln "$t/Files/tools/a.txt" "$t/Files/tools/hard.txt"
  ln -s ../tools/a.txt "$t/Files/tools/link.txt"
  mkdir -p "$seeds/wclayer_reader" "$seeds/docker_archive"
  tar --format=pax --owner=0 --group=0 --mtime=@0 --sort=name \
    --pax-option='MSWINDOWS.fileattr=32,MSWINDOWS.rawsd=AQAAgBQAAAAkAAAAAAAAAAAAAAABAgAAAAAABSAAAAAhAgAAAQIAAAAAAAUgAAAAIQIAAA==,LIBARCHIVE.creationtime=1731126731' \
    -C "$t" -cf "$seeds/wclayer_reader/layer.tar" Files Hives
  tar --format=ustar --owner=0 --group=0 --mtime=@0 -C "$t" -cf "$seeds/wclayer_reader/ustar.tar" Files/tools
  local a="$work/archive" diff
  mkdir -p "$a"
  cp "$seeds/wclayer_reader/layer.tar" "$a/layer.tar"
  diff=$(sha256sum "$a/layer.tar" | cut -d' ' -f1)
  printf '%s' "${cfg/aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa/$diff}" > "$a/config.json"
  printf '[{"Config":"config.json","RepoTags":["pause:latest"],"Layers":["layer.tar"]}]' > "$a/manifest.json"
  ln -s layer.tar "$a/link.tar"
  tar --format=ustar --owner=0 --group=0 --mtime=@0 -C "$a" -cf "$seeds/docker_archive/one.tar" manifest.json config.json layer.tar
  printf '[{"Config":"config.json","RepoTags":["pause:latest"],"Layers":["link.tar"]},{"Config":"config.json","Layers":["layer.tar"]}]' > "$a/manifest.json"
  tar --format=ustar --owner=0 --group=0 --mtime=@0 -C "$a" -cf "$seeds/docker_archive/two.tar" manifest.json config.json layer.tar link.tar

  # Security descriptors: the ggcr Users SD, and owner SYSTEM + a DACL granting SYSTEM.
  mkdir -p "$seeds/sddl"
  printf 'AQAAgBQAAAAkAAAAAAAAAAAAAAABAgAAAAAABSAAAAAhAgAAAQIAAAAAAAUgAAAAIQIAAA==' | base64 -d > "$seeds/sddl/users"
  s sddl system '\x01\x00\x04\x80\x14\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x20\x00\x00\x00\x01\x01\x00\x00\x00\x00\x00\x05\x12\x00\x00\x00\x02\x00\x1c\x00\x01\x00\x00\x00\x00\x03\x14\x00\xff\x01\x1f\x00\x01\x01\x00\x00\x00\x00\x00\x05\x12\x00\x00\x00'

  # Signing material: split out of the fixtures (envelopes, certificates, Rekor entries).
  python3 - "$fixtures" "$seeds" "$root" <<'PY'
import base64, glob, json, os, sys
fx, out, root = sys.argv[1:4]
def put(target, name, data):
    os.makedirs(os.path.join(out, target), exist_ok=True)
    with open(os.path.join(out, target, name), "wb") as f:
        f.write(data if isinstance(data, bytes) else data.encode())
bundles = sorted(glob.glob(fx + "/cosign/**/*.sigstore.json", recursive=True))
for i, p in enumerate(bundles):
    raw = open(p, "rb").read()
    put("bundle", f"b{i}.json", raw)
    try:
        b = json.loads(raw)
    except ValueError:  # a deliberately broken fixture: a seed as it is
        continue
    if not isinstance(b, dict):
        continue
    vm = b.get("verificationMaterial", {})
    if "dsseEnvelope" in b:
        put("dsse", f"bundle{i}.json", json.dumps(b["dsseEnvelope"]))
    cert = vm.get("certificate", {}).get("rawBytes") or (vm.get("x509CertificateChain", {}).get("certificates") or [{}])[0].get("rawBytes")
    if cert:
        put("x509_sct", f"leaf{i}.der", base64.b64decode(cert))
    for k, e in enumerate(vm.get("tlogEntries", [])):
        body = base64.b64decode(e.get("canonicalizedBody", ""))
        put("rekor", f"body{i}-{k}", b"\x01" + body)
        cp = e.get("inclusionProof", {}).get("checkpoint", {}).get("envelope")
        if cp:
            put("rekor", f"checkpoint{i}-{k}", b"\x00" + cp.encode())
        if "inclusionPromise" in e:
            legacy = {"SignedEntryTimestamp": e["inclusionPromise"]["signedEntryTimestamp"],
                      "Payload": {"body": e["canonicalizedBody"], "integratedTime": int(e["integratedTime"]),
                                  "logIndex": int(e["logIndex"]),
                                  "logID": base64.b64decode(e["logId"]["keyId"]).hex()}}
            put("rekor", f"legacy{i}-{k}", b"\x02" + json.dumps(legacy).encode())
for i, p in enumerate(sorted(glob.glob(root + "/attestations/*.intoto.jsonl"))):
    for k, line in enumerate(open(p, "rb").read().splitlines()[:3]):
        put("dsse", f"att{i}-{k}.json", line)
        env = json.loads(line)
        put("dsse", f"statement{i}-{k}.json", base64.b64decode(env["payload"]))
tr = open(fx + "/cosign/cosign/trusted_root_pgi.json", "rb").read()
put("trust_root", "pgi.json", tr)
for i, ca in enumerate(json.loads(tr).get("certificateAuthorities", [])):
    for k, c in enumerate(ca["certChain"]["certificates"]):
        put("x509_sct", f"ca{i}-{k}.der", base64.b64decode(c["rawBytes"]))
for p in sorted(glob.glob(fx + "/cosign/containers-image/**/signature-*", recursive=True)) + [fx + "/cosign/containers-image/unknown-cosign-key.signature"]:
    raw = open(p, "rb").read()
    name = p.replace("/", "_")[-60:]
    put("simple_signing", name, raw)
    j = json.loads(raw[len(b"\x00sigstore-json\n"):])
    put("simple_signing", name + ".payload", base64.b64decode(j["payload"]))
# RFC 3161 tokens: byte 0 the stamped message's length, the message, the token. The
# conformance bundles' tokens stamp the bundle's signature; notation-go's stand alone.
for i, p in enumerate(sorted(glob.glob(fx + "/cosign/**/*.sigstore.json", recursive=True))):
    try:
        b = json.loads(open(p, "rb").read())
        tokens = b["verificationMaterial"]["timestampVerificationData"]["rfc3161Timestamps"]
        sig = b["messageSignature"]["signature"] if "messageSignature" in b else b["dsseEnvelope"]["signatures"][0]["sig"]
        msg = base64.b64decode(sig)[:255]
    except (ValueError, KeyError, IndexError, TypeError, AttributeError):
        continue
    for k, t in enumerate(tokens):
        try:
            der = base64.b64decode(t["signedTimestamp"])
        except (ValueError, KeyError, TypeError):
            continue
        put("timestamp", f"bundle{i}-{k}", bytes([len(msg)]) + msg + der)
for p in sorted(glob.glob(fx + "/notation/**/*.p7s", recursive=True)):
    put("timestamp", os.path.basename(p), b"\x00" + open(p, "rb").read())
# in-toto: JSON documents for the canonical encoder (selector 0): the in-toto statements
# and envelopes of attestations/, a bundle, the trusted root.
for i, p in enumerate(sorted(glob.glob(root + "/attestations/*.intoto.jsonl"))):
    line = open(p, "rb").read().splitlines()[0]
    put("intoto_layout", f"envelope{i}.json", b"\x00" + line)
    put("intoto_layout", f"statement{i}.json", b"\x00" + base64.b64decode(json.loads(line)["payload"]))
put("intoto_layout", "bundle.json", b"\x00" + open(fx + "/cosign/cosign/oci-attestation.sigstore.json", "rb").read())
put("intoto_layout", "trusted_root.json", b"\x00" + tr)
keys = glob.glob(fx + "/cosign/**/*.pub", recursive=True) + glob.glob(fx + "/cosign/**/*.key", recursive=True) + glob.glob(root + "/attestations/cosign.*")
for p in sorted(keys):
    put("key_pem", p.replace("/", "_")[-60:], open(p, "rb").read())
PY
  s rekor proof '\x03\x01\x00\x00\x00\x00\x00\x00\x00\x02\x00\x00\x00\x00\x00\x00\x00aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaabbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbcccccccccccccccccccccccccccccccc'

  # Notary signature envelopes (notation-go's test data): every one to both targets.
  find "$fixtures/notation" -name '*.sig' -print0 2>/dev/null |
    while IFS= read -r -d '' f; do seed_file notary_cose "$f"; seed_file notary_jws "$f"; done
  # in-toto layouts (selector 1: shape byte = threshold | functionaries<<2, expires NUL
  # readme NUL blob bytes) and links (selector 2: step NUL command NUL materials NUL products).
  s intoto_layout layout-1 '\x01\x052030-01-01T00:00:00Z\0pause chain\0manifest config layer-0 layer-1 '
  s intoto_layout layout-2 '\x01\x0e2027-06-30T12:00:00Z\0rebuilt by two\0aaaaaaaabbbbbbbbccccccccdddddddd'
  s intoto_layout link-base '\x02pause-base\0pause-verify build --base oci:base@sha256:aa --out img\0nanoserver/blobs/sha256/aa\nnanoserver/blobs/sha256/bb\0pause-base/blobs/sha256/aa\npause-base/blobs/sha256/cc'
  s intoto_layout link-nano '\x02nanoserver\0\0\0nanoserver/blobs/sha256/aa'
  seed_file policy_toml attestations/policy.example.toml
  s policy_toml small.toml 'version = 1\n[signatures]\nrequired = true\nkeys = ["cosign.pub"]\ntrusted_root = "trusted_root.json"\n[pins]\nrequired = true\nfiles = ["pins.toml"]\n'
  seed_file pins_toml attestations/pins.toml
  seed_file dockerfile "$fixtures/upstream/windows-pause-image-base/Dockerfile"
  s dockerfile all '# escape=`\nARG OSVERSION=ltsc2022\nFROM mcr.microsoft.com/windows/nanoserver:${OSVERSION}\nARG A\nENV B=1 C="x y"\nLABEL k=v\nWORKDIR C:\\\\tools\nCOPY binaries/ /tools/\nCOPY ["a.txt", "b/"]\nUSER ContainerAdministrator\nRUN reg import tools\\\\keylight.reg\nRUN ["reg", "add", "HKLM\\\\SOFTWARE\\\\X", "/v", "n", "/t", "REG_DWORD", "/d", "1", "/f"]\nRUN sc.exe delete diagtrack -f\nUSER ContainerUser\nCMD ["cmd"]\n'
  mkdir -p "$seeds/toml_recipe"
  awk '/^```toml/{f=1; n++; next} /^```/{f=0} f{print > (out "/r" n ".toml")}' out="$seeds/toml_recipe" docs/recipe.md
  s toml_recipe small.toml 'format = 1\nbase = "mcr.microsoft.com/windows/nanoserver:ltsc2022"\n[args]\nA = "1"\n[[steps]]\ncopy = { from = "binaries", to = "\\\\tools" }\n[[steps]]\nrun = "reg import tools\\\\keylight.reg"\n[[steps]]\nuser = "ContainerUser"\n'
  s reg_cmdline add 'reg add "HKLM\\SOFTWARE\\Microsoft\\Windows NT\\CurrentVersion" /v "A b" /t REG_MULTI_SZ /s , /d "x,y" /f'
  s reg_cmdline ve 'reg.exe ADD HKLM\\SYSTEM\\X /ve /t REG_BINARY /d 0a0b /f'
  s reg_cmdline delete 'reg delete HKLM\\SOFTWARE\\X /va /f'
  s reg_cmdline import 'reg import c:\\tools\\keylight.reg'
  s reg_cmdline sc 'sc.exe delete diagtrack -f'
  s reg_cmdline quotes 'reg add "HKLM\\A\\\\" /v x /d "a \\"b\\" c\\\\" /f'
  s registry_headers bearer 'Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:library/x:pull"'
  s registry_headers basic 'Basic realm="registry"'
  s registry_headers link '</v2/a/referrers/sha256:1?n=1&last=x>; rel="next", <https://r.example/p1>; rel=prev'
  s registry_headers retry 'Wed, 21 Oct 2015 07:28:00 GMT'
  s registry_headers secs '120'
  s registry_headers token '{"token":"abc","access_token":"def","expires_in":300}'
  s docker_config auths '{"auths":{"https://index.docker.io/v1/":{"auth":"dXNlcjpwYXNz"},"localhost:5000":{"username":"u","password":"p"},"ghcr.io":{"identitytoken":"x"}}}'
  s docker_config helpers '{"credsStore":"desktop","credHelpers":{"localhost:5000":"pass"},"auths":{"docker.io":{}}}'
  s image_ref oci 'oci:/tmp/layout:v1'
  s image_ref oci-digest 'oci:layout@sha256:634a8f35b5f16dcf4aaa0822adc0b1964bb786fca12f6831de8ddc45e5986a00'
  s image_ref archive 'docker-archive:/tmp/a.tar:pause:latest'
  s image_ref archive-index 'docker-archive:a.tar:@1'
  s image_ref docker 'docker://mcr.microsoft.com/windows/nanoserver:ltsc2022@sha256:634a8f35b5f16dcf4aaa0822adc0b1964bb786fca12f6831de8ddc45e5986a00'
  s image_ref bare 'localhost:5000/pause:1.0'
  s image_ref platform 'windows/amd64:10.0.20348'
  s noise_glob temp 'Files/Windows/{Prefetch,Temp,Logs}/**\0Files/Windows/Temp/x.etl\0'
  s noise_glob reg 'ControlSet001\\Services\\*\\Parameters\0ControlSet001\\Services\\Tcpip\\Parameters\0NameServer'
  s noise_glob dotdot 'Files/**\0Files/Windows/Temp/../System32/evil.exe\0'
}

# ---- build
echo "fuzz: building ${#targets[@]} targets (sanitizer $sanitizer)" >&2
# cargo fuzz build takes one target or none (= all). 16 codegen units: the build takes
# half the time on two cores, the targets run a little slower.
build_one=()
if [ ${#targets[@]} -eq 1 ]; then build_one=("${targets[0]}"); fi
(cd fuzz && cargo fuzz build -s "$sanitizer" --codegen-units 16 "${build_one[@]}")
bindir="fuzz/target/x86_64-unknown-linux-gnu/release"
make_seeds

# ---- run
total=0
failed=0
results=()
for t in "${targets[@]}"; do
  mkdir -p "$corpus/$t" "fuzz/artifacts/$t"
  log="$work/$t.log"
  start=$(date +%s.%N)
  rc=0
  # -timeout: one input taking 10 s is a hang; -rss_limit_mb: an input costing 2 GiB is an OOM.
  # shellcheck disable=SC2086
  nice -n "$nice_level" "$bindir/$t" "$corpus/$t" "$seeds/$t" \
    -max_total_time="$secs" -max_len="$(max_len "$t")" -rss_limit_mb=2048 -timeout=10 \
    -print_final_stats=1 -artifact_prefix="fuzz/artifacts/$t/" ${PV_FUZZ_ARGS:-} \
    > "$log" 2>&1 || rc=$?
  took=$(awk -v a="$start" -v b="$(date +%s.%N)" 'BEGIN { printf "%.0f", b - a }')
  execs=$(awk -F: '/^stat::number_of_executed_units/ { gsub(/ /, "", $2); n = $2 } END { print n + 0 }' "$log")
  if [ "$execs" -eq 0 ]; then
    execs=$(sed -n 's/^#\([0-9]*\)[[:space:]]*DONE.*/\1/p' "$log" | tail -1)
    execs=${execs:-0}
  fi
  result=ok
  if [ "$rc" -ne 0 ]; then
    failed=$((failed + 1))
    if grep -q 'out-of-memory' "$log"; then result=OOM
    elif grep -q 'ERROR: libFuzzer: timeout' "$log"; then result=timeout
    else result=crash; fi
    artifact=$(sed -n 's/.*Test unit written to \(.*\)$/\1/p' "$log" | tail -1)
    result="$result ${artifact:-(see log)}"
    echo "---- $t: $result; end of its log:" >&2
    tail -40 "$log" >&2
  fi
  if [ -n "${PV_FUZZ_LOGS:-}" ]; then mkdir -p "$PV_FUZZ_LOGS" && cp "$log" "$PV_FUZZ_LOGS/"; fi
  total=$((total + execs))
  results+=("$(printf '%-18s %12s %6s  %s' "$t" "$execs" "${took}s" "$result")")
  echo "fuzz: $t: $execs executions in ${took}s: $result" >&2
done

echo
printf '%-18s %12s %6s  %s\n' target executions time result
printf '%s\n' "${results[@]}"
printf '%-18s %12s\n' total "$total"
if [ "$failed" -gt 0 ]; then
  echo "fuzz: $failed target(s) failed; reproduce with fuzz/target/x86_64-unknown-linux-gnu/release/TARGET ARTIFACT" >&2
  exit 1
fi
echo "fuzz: ${#targets[@]} targets ran ${secs}s each without a crash"
