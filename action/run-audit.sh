#!/usr/bin/env bash
# The audit step of the composite action (action.yml), and of the GitLab template and
# the reusable matrix workflow: one `pause-verify audit` with the inputs below, writing
# JSON, JUnit, the human report, the VSA and a markdown summary, then the step outputs.
#
# Inputs (environment):
#   PV_BIN                 the binary (action/install.sh's output `bin`; default pause-verify)
#   INPUT_IMAGE            docker://HOST/REPO[:TAG|@DIGEST], oci:DIR[:TAG|@DIGEST], docker-archive:FILE
#   INPUT_PLATFORM         optional OS/ARCH[:OSVERSION-PREFIX]: audit only that platform's
#                          manifest (resolved once, audited by digest); empty: every platform
#   INPUT_KEY              public keys (PEM paths), separated by spaces or newlines
#   INPUT_POLICY INPUT_PINS INPUT_BASE INPUT_ATTESTATIONS_DIR INPUT_TRUSTED_ROOT
#   INPUT_CERTIFICATE_IDENTITY INPUT_CERTIFICATE_IDENTITY_REGEXP INPUT_CERTIFICATE_OIDC_ISSUER
#                          passed as the audit flags of the same names
#   INPUT_SIGN_KEY         cosign private key signing the VSA; INPUT_SIGN_KEY_PASSWORD its password
#   INPUT_ATTACH_VSA       "true": also store the VSA's predicate as a cosign attestation
#                          on the audited digest (`pause-verify attest`), for Kyverno
#   INPUT_INSECURE         registry hosts spoken to over plain HTTP (space separated)
#   INPUT_OUT_DIR          output folder (default pause-verify-out)
#   INPUT_FAIL_ON_NO_GO    "true" (default): exit 1 when the audit fails; "false": exit 0 and
#                          let the caller read the `verdict` output (exit 2 always fails)
#   GITHUB_OUTPUT, GITHUB_STEP_SUMMARY   where outputs and the summary go (optional)
# Outputs: verdict (PASSED | FAILED | ERROR), exit-code, image (the reference audited, by
# digest when known), digest, json, junit, report, vsa, summary (file paths).
set -uo pipefail
set -f # INPUT_KEY and INPUT_INSECURE are split on whitespace, never globbed

pv=${PV_BIN:-pause-verify}
out=${INPUT_OUT_DIR:-pause-verify-out}
image=${INPUT_IMAGE:-}
platform=${INPUT_PLATFORM:-}
ghout=${GITHUB_OUTPUT:-/dev/null}

output() { printf '%s=%s\n' "$1" "$2" >>"$ghout"; }
fail2() {
  echo "pause-verify action: $*" >&2
  output verdict ERROR
  output exit-code 2
  exit 2
}

# HOST/REPO or DIR of a reference without transport: no tag, no digest.
repo_of() {
  local r=${1%%@*}
  case ${r##*/} in *:*) r=${r%:*} ;; esac
  printf '%s' "$r"
}
case $image in
docker://*) transport=docker:// ;;
oci:*) transport=oci: ;;
docker-archive:*) transport= ;;
*) transport=docker:// image=docker://$image ;; # a bare HOST/REPO:TAG is a registry
esac

[ -n "$image" ] || fail2 "the input image is required"
mkdir -p "$out" || fail2 "cannot create $out"
rm -f "$out/audit.json" "$out/audit.xml" "$out/audit.txt" "$out/audit.vsa.json" "$out/summary.md" \
  "$out/verdict.json" "$out/vsa.predicate.json"

global=()
for h in ${INPUT_INSECURE:-}; do global+=(--insecure "$h"); done

# One platform: resolve its manifest digest once, then audit REPO@DIGEST, so the verdict
# and the VSA name exactly what was checked.
if [ -n "$platform" ]; then
  [ -n "$transport" ] || fail2 "platform needs a docker:// or oci: image, got $image"
  rest=${image#"$transport"}
  repo=$(repo_of "$rest")
  inspect=$("$pv" "${global[@]}" inspect --json --platform "$platform" "$image") ||
    fail2 "inspect --platform $platform $image failed"
  digest=$(printf '%s' "$inspect" | jq -er '.manifest.digest') || fail2 "inspect gave no manifest digest"
  image=$transport$repo@$digest
  echo "platform $platform of $INPUT_IMAGE: $image"
fi

args=(audit --image "$image" --json-out "$out/audit.json" --junit "$out/audit.xml"
  --vsa-out "$out/audit.vsa.json")
for k in ${INPUT_KEY:-}; do args+=(--key "$k"); done
[ -n "${INPUT_POLICY:-}" ] && args+=(--policy "$INPUT_POLICY")
[ -n "${INPUT_PINS:-}" ] && args+=(--pins "$INPUT_PINS")
[ -n "${INPUT_BASE:-}" ] && args+=(--base "$INPUT_BASE")
[ -n "${INPUT_ATTESTATIONS_DIR:-}" ] && args+=(--attestations-dir "$INPUT_ATTESTATIONS_DIR")
[ -n "${INPUT_TRUSTED_ROOT:-}" ] && args+=(--trusted-root "$INPUT_TRUSTED_ROOT")
[ -n "${INPUT_CERTIFICATE_IDENTITY:-}" ] && args+=(--certificate-identity "$INPUT_CERTIFICATE_IDENTITY")
[ -n "${INPUT_CERTIFICATE_IDENTITY_REGEXP:-}" ] &&
  args+=(--certificate-identity-regexp "$INPUT_CERTIFICATE_IDENTITY_REGEXP")
[ -n "${INPUT_CERTIFICATE_OIDC_ISSUER:-}" ] && args+=(--certificate-oidc-issuer "$INPUT_CERTIFICATE_OIDC_ISSUER")
[ -n "${INPUT_SIGN_KEY:-}" ] && args+=(--sign-key "$INPUT_SIGN_KEY")
if [ -n "${INPUT_SIGN_KEY_PASSWORD:-}" ]; then export COSIGN_PASSWORD=$INPUT_SIGN_KEY_PASSWORD; fi

rc=0
# The step summary is this script's (summary.sh below, also when the audit cannot run and
# with an installed release that predates it); without the unset, pause-verify would
# append its own --markdown report to GITHUB_STEP_SUMMARY too.
env -u GITHUB_STEP_SUMMARY "$pv" "${global[@]}" "${args[@]}" >"$out/audit.txt" || rc=$?
cat "$out/audit.txt"

case $rc in
0) verdict=PASSED ;;
1) verdict=FAILED ;;
*) verdict=ERROR ;;
esac
digest=
by_digest=$image
if [ -s "$out/audit.json" ]; then
  digest=$(jq -r '.image.digest // empty' "$out/audit.json")
  if [ -n "$digest" ] && [ -n "$transport" ]; then
    by_digest=$transport$(repo_of "${image#"$transport"}")@$digest
  fi
  # The summary is rendered from the JSON report only (docs/json-schema.md, kind audit).
  "$(dirname "${BASH_SOURCE[0]}")/summary.sh" "$out/audit.json" >"$out/summary.md" || rc=2
else
  printf '### pause-verify audit: ERROR\n\nThe audit of `%s` could not run (exit %s):\n\n```\n%s\n```\n' \
    "$image" "$rc" "$(tail -n 20 "$out/audit.txt")" >"$out/summary.md"
fi
[ -n "${GITHUB_STEP_SUMMARY:-}" ] && cat "$out/summary.md" >>"$GITHUB_STEP_SUMMARY"

if [ "$rc" = 0 ] && [ "${INPUT_ATTACH_VSA:-false}" = true ]; then
  [ -n "${INPUT_SIGN_KEY:-}" ] || fail2 "attach-vsa needs sign-key"
  jq '.payload | @base64d | fromjson | .predicate' "$out/audit.vsa.json" >"$out/vsa.predicate.json" ||
    fail2 "the VSA envelope cannot be read"
  "$pv" "${global[@]}" attest --key "$INPUT_SIGN_KEY" --predicate "$out/vsa.predicate.json" \
    --type https://slsa.dev/verification_summary/v1 "$by_digest" || fail2 "attaching the VSA failed"
fi

# One line per job for action/merge-verdicts.sh (the matrix's gather job).
jq -n --arg image "${INPUT_IMAGE:-}" --arg platform "$platform" --arg audited "$by_digest" \
  --arg verdict "$verdict" --argjson exit "$rc" --arg digest "$digest" \
  '{image: $image, platform: $platform, audited: $audited, digest: $digest, verdict: $verdict, exitCode: $exit}' \
  >"$out/verdict.json"

output verdict "$verdict"
output exit-code "$rc"
output image "$by_digest"
output digest "$digest"
output json "$out/audit.json"
output junit "$out/audit.xml"
output report "$out/audit.txt"
[ -s "$out/audit.vsa.json" ] && output vsa "$out/audit.vsa.json" || output vsa ""
output summary "$out/summary.md"

echo "pause-verify audit: $verdict ($image)"
if [ "$rc" = 1 ] && [ "${INPUT_FAIL_ON_NO_GO:-true}" = false ]; then exit 0; fi
exit "$rc"
