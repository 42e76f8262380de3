#!/usr/bin/env bash
# The main job, offline, on an embedded default: nothing but cargo is needed.
#    1. build pause-verify (release; skipped when PV names a binary)
#    2. make a synthetic NanoServer (ltsc2022) as an OCI layout
#    3. build the pause base from it with the built-in upstream recipe (pinned by digest)
#    4. inspect the result, verifying every layer's digest and diff_id
#    5. "publish" it to another layout (copy)
#    6. rebuild from the pinned base and compare with the published image (IDENTICAL)
#    7. with python3-hivex: an independently published image compares EQUIVALENT
#    8. generate a cosign key pair (COSIGN_PASSWORD: see below)
#    9. rebuild --attest: signed SLSA provenance (rebuilt image) and VSA (published
#       image), into attestations/ and attached to both images
#   10. sign the published image
#   11. verify it: signatures, provenance and VSA
#   12. audit it with the default policy
# The steps live in scripts/lib/demo_steps.sh (scripts/attestations.sh runs the same
# ones to regenerate the checked-in attestations).
#
# Environment: PV_DEMO_DIR (work directory, kept; default: a temporary one, removed),
# PV (binary to use), PV_DEMO_KEY (sign with this key instead of a new pair),
# COSIGN_PASSWORD (default: the public demo password `pause-verify-demo-NOT-SECRET`,
# set here so no step prompts; never use it for a real key).
set -euo pipefail
. "$(dirname "$0")/lib/demo_steps.sh"

demo_setup
demo_fixture
demo_build
demo_inspect
demo_publish
demo_rebuild
demo_independent
demo_keypair
demo_attest
demo_sign
demo_verify

# The audit runs last: its rebuild checks are wired separately; its verdict is the
# demo's exit code.
audit_rc=0
demo_audit || audit_rc=$?

echo
echo "==> summary"
echo "  synthetic base   $BASE"
echo "  pause base       $OUT"
echo "  published        oci:published:latest (same digest), signed with $PUB"
echo "  rebuilt          oci:rebuilt: $VERDICT against the published image"
if [ -n "${PV_DEMO_DIR:-}" ]; then
  where="in $WORK/attestations"
else
  where="in a temporary directory, removed on exit: PV_DEMO_DIR=DIR keeps it"
fi
echo "  attestations     $(cd attestations && ls | tr '\n' ' ')($where)"
if [ "$audit_rc" = 0 ]; then
  echo "  audit            PASSED (default policy)"
  echo
  echo "demo done: every step passed"
else
  echo "  audit            FAILED (exit $audit_rc; the report above says which checks)"
  echo
  echo "demo: every step passed except the audit" >&2
  exit "$audit_rc"
fi
