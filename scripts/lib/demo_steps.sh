# The demo's steps, shared by scripts/demo.sh (all of them) and scripts/attestations.sh
# (the ones that make the checked-in attestations). Source this file, then call
# demo_setup and the steps in order. Each step prints what it runs.
#
# Every step runs in the work directory with RELATIVE paths (nanoserver/, pause-base/,
# published/, rebuilt/, attestations/), so what the steps write (image references and
# file names inside signed statements) does not depend on where the work directory is.
#
# Inputs (environment):
#   PV            the pause-verify binary; unset: `cargo build --release` and use that
#   PV_DEMO_DIR   the work directory (kept); unset: a temporary one, removed at exit
#   PV_DEMO_KEY   an existing cosign key to sign with (its .pub beside it); unset: the
#                 key-pair step makes demo.key / demo.pub in the work directory
#   COSIGN_PASSWORD  the key's password; unset: the demo's public test password
#                 `pause-verify-demo-NOT-SECRET` (attestations/README.md), so nothing prompts
#   SOURCE_DATE_EPOCH  optional: the build clock and the statements' times

PV_DEMO_STEP=0
PV_REPO=${PV_REPO:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}

# `step N TEXT`: step N of scripts/demo.sh's header (the numbers stay the header's when
# a step is skipped); `step TEXT`: the next number (scripts/attestations.sh).
step() {
  case "${1:-}" in
    '' | *[!0-9]*) PV_DEMO_STEP=$((PV_DEMO_STEP + 1)) ;;
    *) PV_DEMO_STEP=$1; shift ;;
  esac
  echo
  echo "==> step $PV_DEMO_STEP: $*"
}

# Print a command, then run it.
run() {
  echo "\$ pause-verify ${*:2}" | sed "s|$PV_REPO/||g"
  "$@"
}

demo_setup() {
  # Paths given relative to the caller's directory still work after the cd below.
  if [ -n "${PV_DEMO_KEY:-}" ]; then
    PV_DEMO_KEY=$(cd "$(dirname "$PV_DEMO_KEY")" && pwd)/$(basename "$PV_DEMO_KEY")
  fi
  if [ -n "${PV:-}" ] && [ "${PV#/}" = "$PV" ] && [ "${PV#*/}" != "$PV" ]; then
    PV=$(pwd)/$PV
  fi
  if [ -n "${PV_DEMO_DIR:-}" ]; then
    WORK=$PV_DEMO_DIR
    mkdir -p "$WORK"
  else
    WORK=$(mktemp -d -t pause-verify-demo.XXXXXX)
    trap 'rm -rf "$WORK"' EXIT
  fi
  WORK=$(cd "$WORK" && pwd)
  if [ -z "${PV:-}" ]; then
    step 1 "cargo build --release"
    (cd "$PV_REPO" && cargo build --release --locked -q)
    PV=$PV_REPO/target/release/pause-verify
  else
    step 1 "cargo build --release: skipped, PV names the binary"
  fi
  echo "binary: $PV ($("$PV" --version))"
  echo "work directory: $WORK"
  : "${COSIGN_PASSWORD=pause-verify-demo-NOT-SECRET}"
  export COSIGN_PASSWORD
  cd "$WORK"
  rm -rf nanoserver pause-base published independent rebuilt attestations demo.key demo.pub \
    fixture.txt build.txt attest.txt
}

demo_fixture() {
  step 2 "synthetic NanoServer 10.0.20348.2849 -> nanoserver/"
  run "$PV" fixture nanoserver --out nanoserver --os-version 10.0.20348.2849 | tee fixture.txt
  BASE=$(sed -n 's/^wrote *//p' fixture.txt)
  echo "base, pinned by digest: $BASE"
}

demo_build() {
  step 3 "build the pause base (built-in upstream recipe) -> pause-base/"
  run "$PV" build --base "$BASE" --out pause-base | tee build.txt
  OUT=$(sed -n 's/^wrote *//p' build.txt)
}

demo_inspect() {
  step 4 "inspect the result, verifying every layer (digest and diff_id)"
  run "$PV" inspect --diff-ids --platform windows/amd64:10.0.20348 "$OUT"
}

demo_publish() {
  step 5 "publish: copy the pause base to a second layout, as a registry mirror would"
  run "$PV" copy "$OUT" oci:published:latest
}

demo_rebuild() {
  step 6 "rebuild from the pinned base and compare with the published image (expect IDENTICAL)"
  run "$PV" rebuild oci:published:latest --base "$BASE"
}

demo_independent() {
  if /usr/bin/python3 -c 'import hivex' 2>/dev/null; then
    step 7 "an independently published image (Python tarfile + hivex, Windows noise): expect EQUIVALENT"
    /usr/bin/python3 "$PV_REPO/tests/publish_independent.py" --base nanoserver --out independent >/dev/null
    run "$PV" rebuild oci:independent --base "$BASE" | sed -n '1,8p;/^verdict/p'
  else
    echo
    step 7 "skipped: /usr/bin/python3 has no hivex module (apt-get install python3-hivex) for the independent publisher"
  fi
}

demo_keypair() {
  if [ -n "${PV_DEMO_KEY:-}" ]; then
    KEY=$PV_DEMO_KEY
    PUB=${PV_DEMO_KEY%.key}.pub
    step 8 "signing key: $KEY (given by PV_DEMO_KEY)"
  else
    step 8 "generate a cosign key pair demo.key / demo.pub (password from COSIGN_PASSWORD, set by this script)"
    run "$PV" generate-key-pair --output-key-prefix demo
    KEY=demo.key
    PUB=demo.pub
  fi
}

demo_attest() {
  step 9 "rebuild again and sign: SLSA provenance for the rebuilt image, SLSA VSA for the published one"
  echo "    (DSSE envelopes appended to attestations/<digest>.intoto.jsonl and attached as .att)"
  run "$PV" rebuild oci:published:latest --base "$BASE" --out oci:rebuilt \
    --attest --key "$KEY" --attestations-dir attestations --attach >attest.txt
  sed -n '/^verdict/,$p' attest.txt
  VERDICT=$(sed -n 's/^verdict: *//p' attest.txt)
  ls -l attestations
}

demo_sign() {
  step 10 "sign the published image (cosign-compatible .sig, recursive: the list and its platform image)"
  run "$PV" sign --key "$KEY" --recursive oci:published:latest
}

demo_verify() {
  step 11 "verify the published image: signatures and attestations (provenance + VSA), every platform"
  run "$PV" verify --key "$PUB" --attestations --attestations-dir attestations --all-platforms \
    oci:published:latest
  run "$PV" verify --key "$PUB" --attestations-only --type https://slsa.dev/provenance/v1 oci:rebuilt
}

demo_audit() {
  step 12 "audit the published image with the default policy (upstream recipe over the pinned base, signed by demo.pub)"
  run "$PV" audit oci:published:latest --key "$PUB" --base "$BASE" --attestations-dir attestations
}
