#!/usr/bin/env bash
# Regenerate the project's own checked-in attestations: attestations/<digest>.intoto.jsonl,
# the signed SLSA provenance and VSA that scripts/demo.sh produces for its synthetic
# pause image. Runs the demo's own steps (scripts/lib/demo_steps.sh: fixture, build,
# publish, rebuild --attest) with everything that could vary pinned:
#   - SOURCE_DATE_EPOCH=1731126731: the synthetic NanoServer's `created` time, which is the
#     demo's build clock anyway, so the image digests are the demo's; it also fixes the
#     statements' startedOn/finishedOn/timeVerified;
#   - the checked-in key attestations/cosign.key, password `pause-verify-demo-NOT-SECRET`
#     (public on purpose: attestations/README.md); ECDSA signatures are deterministic
#     (RFC 6979), so the envelopes are byte for byte the same on every run;
#   - relative paths in a work directory: statements name oci:published, oci:rebuilt,
#     oci:nanoserver@…, attestations/…, never the machine's directories.
# tests/it/attestations_checked_in.rs runs this into a temporary directory and fails with
# "stale: run scripts/attestations.sh" when the bytes differ from the checked-in ones
# (a pause-verify version bump changes toolVersion, for instance).
#
# Usage: scripts/attestations.sh [--out DIR]   (default: the repository's attestations/)
# Environment: PV (binary; default: cargo build --release), PV_DEMO_DIR (work dir, kept).
set -euo pipefail
REPO=$(cd "$(dirname "$0")/.." && pwd)
OUT_DIR=$REPO/attestations
while [ $# -gt 0 ]; do
  case $1 in
    --out) OUT_DIR=${2:?--out needs a directory}; shift 2 ;;
    *) echo "usage: scripts/attestations.sh [--out DIR]" >&2; exit 2 ;;
  esac
done
mkdir -p "$OUT_DIR"
OUT_DIR=$(cd "$OUT_DIR" && pwd)

export SOURCE_DATE_EPOCH=1731126731
export COSIGN_PASSWORD=pause-verify-demo-NOT-SECRET
export PV_DEMO_KEY=$REPO/attestations/cosign.key
. "$REPO/scripts/lib/demo_steps.sh"

demo_setup
demo_fixture
demo_build
demo_publish
demo_keypair
demo_attest

step "copy the envelopes to $OUT_DIR"
rm -f "$OUT_DIR"/*.intoto.jsonl
for f in attestations/*.intoto.jsonl; do
  install -m 0644 "$f" "$OUT_DIR/"
  echo "  $(basename "$f"): $(wc -l <"$f") envelope(s), sha256 $(sha256sum "$f" | cut -c1-64)"
done
