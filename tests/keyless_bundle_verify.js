// Verify a keyless Sigstore bundle with @sigstore/verify (the reference JS verifier)
// against a trusted root file and an exact identity, as a peer check of pause-verify's
// keyless verdicts. Usage:
//   node keyless_bundle_verify.js BUNDLE.json TRUSTED_ROOT.json IDENTITY ISSUER [ARTIFACT]
// Default thresholds: one tlog entry, one SCT (sigstore-js checks SCTs; we do not).
// The identity is matched exactly (sigstore-js takes a regular expression).
// Exit 0 when verified, 1 when not, 2 on bad usage.
'use strict';
const fs = require('fs');
const { bundleFromJSON } = require('@sigstore/bundle');
const { TrustedRoot } = require('@sigstore/protobuf-specs');
const { Verifier, toSignedEntity, toTrustMaterial } = require('@sigstore/verify');

const [bundlePath, rootPath, identity, issuer, artifactPath] = process.argv.slice(2);
if (!bundlePath || !rootPath || !identity || !issuer) {
  console.error('usage: keyless_bundle_verify.js BUNDLE.json TRUSTED_ROOT.json IDENTITY ISSUER [ARTIFACT]');
  process.exit(2);
}
try {
  const bundle = bundleFromJSON(JSON.parse(fs.readFileSync(bundlePath, 'utf8')));
  const root = TrustedRoot.fromJSON(JSON.parse(fs.readFileSync(rootPath, 'utf8')));
  const trust = toTrustMaterial(root);
  const artifact = artifactPath ? fs.readFileSync(artifactPath) : undefined;
  const entity = toSignedEntity(bundle, artifact);
  const exact = new RegExp('^' + identity.replace(/[.*+?^${}()|[\]\\]/g, '\\$&') + '$');
  new Verifier(trust).verify(entity, { subjectAlternativeName: exact, extensions: { issuer } });
  console.log('verified');
} catch (e) {
  console.log(`not verified: ${e.code || ''} ${e.message}`);
  process.exit(1);
}
