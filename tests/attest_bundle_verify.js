// Verify a keyed Sigstore bundle with @sigstore/verify (the reference JS verifier), as a
// peer check of bundles pause-verify writes. Usage:
//   node attest_bundle_verify.js BUNDLE.json KEY.pub [ARTIFACT]
// ARTIFACT is needed for messageSignature bundles. Trust: an empty trusted root, the one
// key mapped by its hint (base64 sha256 of the PKIX DER), thresholds 0 (no tlog, no TSA,
// no CT: we sign offline). Exit 0 when verified, 1 when not, 2 on bad usage.
'use strict';
const fs = require('fs');
const crypto = require('crypto');
const { bundleFromJSON } = require('@sigstore/bundle');
const { Verifier, toSignedEntity, toTrustMaterial } = require('@sigstore/verify');

const [bundlePath, keyPath, artifactPath] = process.argv.slice(2);
if (!bundlePath || !keyPath) {
  console.error('usage: attest_bundle_verify.js BUNDLE.json KEY.pub [ARTIFACT]');
  process.exit(2);
}
try {
  const bundle = bundleFromJSON(JSON.parse(fs.readFileSync(bundlePath, 'utf8')));
  const publicKey = crypto.createPublicKey(fs.readFileSync(keyPath));
  const der = publicKey.export({ type: 'spki', format: 'der' });
  const hint = crypto.createHash('sha256').update(der).digest('base64');
  const keys = {};
  keys[hint] = { rawBytes: der };
  const root = { certificateAuthorities: [], timestampAuthorities: [], tlogs: [], ctlogs: [] };
  const trust = toTrustMaterial(root, keys);
  const artifact = artifactPath ? fs.readFileSync(artifactPath) : undefined;
  const entity = toSignedEntity(bundle, artifact);
  new Verifier(trust, { tlogThreshold: 0, ctlogThreshold: 0, timestampThreshold: 0 }).verify(entity);
  console.log('verified');
} catch (e) {
  console.log(`not verified: ${e.code || ''} ${e.message}`);
  process.exit(1);
}
