#!/bin/sh
# A release gate around `pause-verify audit` for any CI system (docs/release-gate.md).
#
#   scripts/release-gate.sh IMAGE [POLICY]
#
# IMAGE    docker://HOST/REPO:TAG, docker://…@sha256:… (pinned), or oci:DIR[:TAG]
#          (air-gapped: no network at all).
# POLICY   audit policy (default attestations/policy.toml if present, else the built-in
#          default with $AUDIT_KEY).
#
# Environment:
#   PAUSE_VERIFY        the binary (default: pause-verify on PATH)
#   AUDIT_OUT           output folder (default: audit-out): audit.json, audit.xml (JUnit),
#                       audit.txt (human), audit.vsa.json (VSA), image.digest (the
#                       digest that was audited: deploy that one)
#   AUDIT_KEY           a public key to add (--key), e.g. cosign.pub
#   AUDIT_SIGN_KEY      a cosign private key to sign the VSA (password: COSIGN_PASSWORD)
#   AUDIT_ATTESTATIONS  an attestations/ directory to read too (air-gapped)
#   AUDIT_BASE          the NanoServer base to rebuild from, pinned by digest (--base),
#                       e.g. oci:nanoserver@sha256:… (air-gapped)
#   AUDIT_PINS          a pins file (--pins; the default policy otherwise reads
#                       attestations/pins.toml when it exists)
#   XDG_CACHE_HOME      where verified registry blobs are cached (pause-verify/ below it);
#                       keep it between CI runs to download each base layer once.
#
# Exit: 0 go, 1 no-go (a check failed), 2 the audit could not run.
set -eu

image=${1:?usage: release-gate.sh IMAGE [POLICY]}
policy=${2:-}
pv=${PAUSE_VERIFY:-pause-verify}
out=${AUDIT_OUT:-audit-out}
mkdir -p "$out"

if [ -z "$policy" ] && [ -f attestations/policy.toml ]; then
    policy=attestations/policy.toml
fi

set -- audit --image "$image" --json-out "$out/audit.json" --junit "$out/audit.xml" \
    --vsa-out "$out/audit.vsa.json"
[ -n "$policy" ] && set -- "$@" --policy "$policy"
[ -n "${AUDIT_KEY:-}" ] && set -- "$@" --key "$AUDIT_KEY"
[ -n "${AUDIT_SIGN_KEY:-}" ] && set -- "$@" --sign-key "$AUDIT_SIGN_KEY"
[ -n "${AUDIT_ATTESTATIONS:-}" ] && set -- "$@" --attestations-dir "$AUDIT_ATTESTATIONS"
[ -n "${AUDIT_BASE:-}" ] && set -- "$@" --base "$AUDIT_BASE"
[ -n "${AUDIT_PINS:-}" ] && set -- "$@" --pins "$AUDIT_PINS"

rc=0
rm -f "$out/audit.json" "$out/image.digest"
"$pv" "$@" >"$out/audit.txt" || rc=$?
cat "$out/audit.txt"
# Pin: the audit resolved the reference once and checked that one digest; record it,
# so that what ships (and what the VSA's subject names) is what was gated.
[ -f "$out/audit.json" ] || touch "$out/audit.json"
digest=$(sed -n 's/^    "digest": "\(sha256:[0-9a-f]\{64\}\)".*/\1/p' "$out/audit.json" | head -n 1)
[ -n "$digest" ] && printf '%s\n' "$digest" >"$out/image.digest"
case $rc in
0) echo "release-gate: GO for $image" ;;
1) echo "release-gate: NO-GO for $image (see $out/audit.xml)" >&2 ;;
*) echo "release-gate: the audit could not run (exit $rc)" >&2 ;;
esac
exit "$rc"
