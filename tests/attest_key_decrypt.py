"""Decrypt a cosign key file with independent code (hashlib.scrypt + PyNaCl's secretbox +
cryptography's PKCS#8 parser) and check it matches a public key. A peer check that key
files pause-verify writes are what cosign (go-securesystemslib) reads.
Usage: attest_key_decrypt.py KEY.key PASSWORD KEY.pub
Prints the scrypt parameters; exit 0 when the decrypted key's public half equals KEY.pub."""
import base64
import hashlib
import json
import re
import sys

import nacl.secret
from cryptography.hazmat.primitives.serialization import (
    Encoding,
    PublicFormat,
    load_der_private_key,
    load_pem_public_key,
)

key_path, password, pub_path = sys.argv[1], sys.argv[2].encode(), sys.argv[3]
text = open(key_path, "r", encoding="ascii").read()
m = re.search(
    r"-----BEGIN ENCRYPTED (SIGSTORE|COSIGN) PRIVATE KEY-----\n(.*?)\n-----END ENCRYPTED \1 PRIVATE KEY-----\n",
    text,
    re.S,
)
if not m:
    print("no ENCRYPTED SIGSTORE PRIVATE KEY block with LF line ends")
    sys.exit(1)
enc = json.loads(base64.b64decode(m.group(2)))
kdf = enc["kdf"]
assert kdf["name"] == "scrypt" and enc["cipher"]["name"] == "nacl/secretbox", enc
p = kdf["params"]
box_key = hashlib.scrypt(
    password,
    salt=base64.b64decode(kdf["salt"]),
    n=p["N"],
    r=p["r"],
    p=p["p"],
    maxmem=512 * 1024 * 1024,
    dklen=32,
)
der = nacl.secret.SecretBox(box_key).decrypt(
    base64.b64decode(enc["ciphertext"]), base64.b64decode(enc["cipher"]["nonce"])
)
private = load_der_private_key(der, password=None)
spki = lambda k: k.public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo)  # noqa: E731
public = load_pem_public_key(open(pub_path, "rb").read())
if spki(private.public_key()) != spki(public):
    print("decrypted key does not match the public key")
    sys.exit(1)
print(f"N={p['N']} r={p['r']} p={p['p']} curve={private.curve.name}")
