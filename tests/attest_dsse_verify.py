"""Verify a DSSE envelope with securesystemslib (a peer check of envelopes pause-verify
writes). Usage: attest_dsse_verify.py KEY.pub ENVELOPE.json
Every signature in the envelope must verify with the key. securesystemslib's
Envelope.verify skips signatures with an empty keyid (cosign and we write ""), so each
signature is checked with key.verify_signature over the envelope's PAE, re-keyed to the
key's own keyid. Exit 0 verified, 1 not verified."""
import base64
import json
import sys

from cryptography.hazmat.primitives.serialization import load_pem_public_key
from securesystemslib.dsse import Envelope
from securesystemslib.signer import Signature, SSlibKey

key_path, env_path = sys.argv[1], sys.argv[2]
with open(key_path, "rb") as f:
    key = SSlibKey.from_crypto(load_pem_public_key(f.read()), scheme="ecdsa-sha2-nistp256")
with open(env_path, "rb") as f:
    data = json.load(f)
# Envelope.from_dict keys signatures by keyid; read them from the JSON so several
# signatures with the same (empty) keyid are all checked.
sigs = [s["sig"] for s in data["signatures"]]
env = Envelope.from_dict(json.loads(json.dumps(data)))
if not sigs:
    print("not verified: no signatures")
    sys.exit(1)
for s in sigs:
    try:
        key.verify_signature(Signature(key.keyid, base64.b64decode(s, validate=True).hex()), env.pae())
    except Exception as e:  # UnverifiedSignatureError, VerificationError
        print(f"not verified: {type(e).__name__}: {e}")
        sys.exit(1)
print(f"verified: payloadType={env.payload_type} signatures={len(sigs)}")
