"""A throw-away Notary Project PKI and notation-style signatures, made with `cryptography`
and a small CBOR writer here (independent of pause-verify's coset/serde code), for
tests/it/notary_e2e.rs.

  notary_pki.py pki DIR
      DIR/truststore/x509/ca/test/root.crt   the test root (trusted)
      DIR/truststore/x509/ca/rogue/root.crt  another root (for policies that trust it)
      DIR/keys.json                          keys and chains of the signers below
  notary_pki.py sign DIR LAYOUT SPEC_JSON
      SPEC: {"format": "cose"|"jws", "signer": "leaf"|"ecleaf"|"rogue"|"expired",
             "subjects": "all"|"index"|"platforms",
             "variant": null|"tamper"|"other-digest"|"bad-thumbprint",
             "tsa": null|"tsa"|"rogue-tsa"}
      adds one signature referrer per subject to the OCI layout's index.json, as
      notation + ORAS lay them out (artifactType application/vnd.cncf.notary.signature,
      empty config, one envelope layer, subject, thumbprint annotation).

PKI (the spec's certificate profile): root and intermediate CA, RSA-3072,
sha384WithRSAEncryption, basicConstraints cA (critical), keyUsage keyCertSign|cRLSign
(critical); leaves: keyUsage digitalSignature (critical), EKU codeSigning, not a CA.
"leaf" is RSA-3072 (PS384, as Microsoft signs), "ecleaf" P-256 (ES256), "rogue" is
issued by the rogue root, "expired" was valid 2020-2021 only. Two TSAs made by
`openssl` (DIR/tsa, trusted as tsa:test; DIR/rogue-tsa, trusted by nothing) countersign
the signature bytes with `openssl ts` when the spec asks.
"""
import base64
import datetime
import hashlib
import json
import os
import shutil
import struct
import subprocess
import sys

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

SIG_TYPE = "application/vnd.cncf.notary.signature"
PAYLOAD_TYPE = "application/vnd.cncf.notary.payload.v1+json"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
EMPTY = "application/vnd.oci.empty.v1+json"
THUMBS = "io.cncf.notary.x509chain.thumbprint#S256"
NOW = int(datetime.datetime.now(datetime.timezone.utc).timestamp())


def utc(t):
    return datetime.datetime.fromtimestamp(t, datetime.timezone.utc)


def name(cn):
    return x509.Name(
        [
            x509.NameAttribute(NameOID.COUNTRY_NAME, "US"),
            x509.NameAttribute(NameOID.STATE_OR_PROVINCE_NAME, "Washington"),
            x509.NameAttribute(NameOID.LOCALITY_NAME, "Redmond"),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Pause Verify Test"),
            x509.NameAttribute(NameOID.COMMON_NAME, cn),
        ]
    )


def cert(subject, key, issuer, issuer_key, ca, nb, na, path_len=None):
    b = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(utc(nb))
        .not_valid_after(utc(na))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=path_len), critical=True)
    )
    ku = dict(
        content_commitment=False,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=False,
        encipher_only=False,
        decipher_only=False,
    )
    if ca:
        b = b.add_extension(
            x509.KeyUsage(digital_signature=False, key_cert_sign=True, crl_sign=True, **ku),
            critical=True,
        )
    else:
        b = b.add_extension(
            x509.KeyUsage(digital_signature=True, key_cert_sign=False, crl_sign=False, **ku),
            critical=True,
        ).add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CODE_SIGNING]), critical=False)
    return b.sign(issuer_key, hashes.SHA384())


def pem_key(k):
    return k.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()


def der(c):
    return c.public_bytes(serialization.Encoding.DER)


def pki(d):
    year = 365 * 86400
    nb, na = NOW - 86400, NOW + 5 * year
    root_k = rsa.generate_private_key(65537, 3072)
    root = cert(name("Test Supply Chain Root"), root_k, name("Test Supply Chain Root"), root_k, True, nb, na, 1)
    int_k = rsa.generate_private_key(65537, 3072)
    inter = cert(name("Test Code Signing PCA"), int_k, root.subject, root_k, True, nb, na, 0)
    rogue_k = rsa.generate_private_key(65537, 3072)
    rogue_root = cert(name("Rogue Root"), rogue_k, name("Rogue Root"), rogue_k, True, nb, na, 0)
    signers = {}
    for label, key, issuer, issuer_k, chain, lnb, lna in [
        ("leaf", rsa.generate_private_key(65537, 3072), inter, int_k, [inter, root], nb, na),
        ("ecleaf", ec.generate_private_key(ec.SECP256R1()), inter, int_k, [inter, root], nb, na),
        ("rogue", rsa.generate_private_key(65537, 3072), rogue_root, rogue_k, [rogue_root], nb, na),
        ("expired", rsa.generate_private_key(65537, 3072), inter, int_k, [inter, root], 1577836800, 1609459200),
    ]:
        cn = "Test NanoServer Signing" if label != "rogue" else "Rogue Signing"
        leaf = cert(name(cn), key, issuer.subject, issuer_k, False, lnb, lna)
        signers[label] = {
            "key": pem_key(key),
            "chain": [base64.b64encode(der(c)).decode() for c in [leaf] + chain],
        }
    for store, c in [("test", root), ("rogue", rogue_root)]:
        p = os.path.join(d, "truststore", "x509", "ca", store)
        os.makedirs(p, exist_ok=True)
        with open(os.path.join(p, "root.crt"), "wb") as f:
            f.write(c.public_bytes(serialization.Encoding.PEM))
    with open(os.path.join(d, "keys.json"), "w") as f:
        json.dump(signers, f)
    for t in ["tsa", "rogue-tsa"]:
        make_tsa(os.path.join(d, t), "Test TSA" if t == "tsa" else "Rogue TSA")
    p = os.path.join(d, "truststore", "x509", "tsa", "test")
    os.makedirs(p, exist_ok=True)
    shutil.copy(os.path.join(d, "tsa", "ca.pem"), os.path.join(p, "root.crt"))


def openssl(cwd, *args):
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True)


def make_tsa(d, cn):
    """A TSA made with `openssl` (root CA + leaf with the critical timeStamping EKU)."""
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, "ext.cnf"), "w") as f:
        f.write(
            "[ca]\nbasicConstraints=critical,CA:true\nkeyUsage=critical,keyCertSign\n"
            "[leaf]\nbasicConstraints=CA:false\nkeyUsage=critical,digitalSignature\n"
            "extendedKeyUsage=critical,timeStamping\n"
        )
    with open(os.path.join(d, "ts.cnf"), "w") as f:
        f.write(
            "[tsa]\ndefault_tsa=t\n[t]\nserial=./serial\nsigner_digest=sha256\n"
            "default_policy=1.2.3.4.1\ndigests=sha256,sha384,sha512\n"
            "ess_cert_id_alg=sha256\ness_cert_id_chain=no\n"
        )
    with open(os.path.join(d, "serial"), "w") as f:
        f.write("01\n")
    openssl(d, "req", "-x509", "-newkey", "rsa:3072", "-nodes", "-keyout", "ca.key", "-out", "ca.pem",
            "-subj", f"/C=US/O=Pause Verify Test/CN={cn} Root", "-days", "3650", "-extensions", "ca", "-config", "ext.cnf")
    openssl(d, "req", "-new", "-newkey", "rsa:3072", "-nodes", "-keyout", "tsa.key", "-out", "tsa.csr",
            "-subj", f"/C=US/O=Pause Verify Test/CN={cn}")
    openssl(d, "x509", "-req", "-in", "tsa.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial",
            "-out", "tsa.pem", "-days", "3650", "-extfile", "ext.cnf", "-extensions", "leaf")


def stamp(d, sig):
    """An RFC 3161 TimeStampToken over `sig`, by `openssl ts` (certificate embedded)."""
    with open(os.path.join(d, "msg"), "wb") as f:
        f.write(sig)
    openssl(d, "ts", "-query", "-data", "msg", "-sha384", "-cert", "-out", "q.tsq")
    openssl(d, "ts", "-reply", "-config", "ts.cnf", "-queryfile", "q.tsq", "-inkey", "tsa.key",
            "-signer", "tsa.pem", "-token_out", "-out", "t.der")
    return open(os.path.join(d, "t.der"), "rb").read()


# ---- CBOR (RFC 8949), just what COSE_Sign1 needs


def cbor_head(major, n):
    if n < 24:
        return bytes([major << 5 | n])
    for ai, fmt in [(24, ">B"), (25, ">H"), (26, ">I"), (27, ">Q")]:
        if n < 1 << (8 * struct.calcsize(fmt)):
            return bytes([major << 5 | ai]) + struct.pack(fmt, n)


def cbor(v):
    if isinstance(v, bool):
        return b"\xf5" if v else b"\xf4"
    if isinstance(v, int):
        return cbor_head(0, v) if v >= 0 else cbor_head(1, -1 - v)
    if isinstance(v, bytes):
        return cbor_head(2, len(v)) + v
    if isinstance(v, str):
        b = v.encode()
        return cbor_head(3, len(b)) + b
    if isinstance(v, list):
        return cbor_head(4, len(v)) + b"".join(cbor(x) for x in v)
    if isinstance(v, dict):
        return cbor_head(5, len(v)) + b"".join(cbor(k) + cbor(x) for k, x in v.items())
    if isinstance(v, tuple) and v[0] == "tag":
        return cbor_head(6, v[1]) + cbor(v[2])
    raise TypeError(v)


def b64url(b):
    return base64.urlsafe_b64encode(b).rstrip(b"=").decode()


def sign_bytes(key, msg):
    if isinstance(key, rsa.RSAPrivateKey):
        h = {2048: hashes.SHA256(), 3072: hashes.SHA384(), 4096: hashes.SHA512()}[key.key_size]
        alg = {2048: "PS256", 3072: "PS384", 4096: "PS512"}[key.key_size]
        return alg, key.sign(msg, padding.PSS(mgf=padding.MGF1(h), salt_length=h.digest_size), h)
    r, s = decode_dss_signature(key.sign(msg, ec.ECDSA(hashes.SHA256())))
    return "ES256", r.to_bytes(32, "big") + s.to_bytes(32, "big")


COSE_ALG = {"PS256": -37, "PS384": -38, "PS512": -39, "ES256": -7, "ES384": -35}


def envelope(fmt, signer, payload, variant, tsa=None):
    key = serialization.load_pem_private_key(signer["key"].encode(), None)
    chain = [base64.b64decode(c) for c in signer["chain"]]
    alg, _ = sign_bytes(key, b"probe")
    if fmt == "jws":
        prot = {
            "alg": alg,
            "crit": ["io.cncf.notary.signingScheme"],
            "cty": PAYLOAD_TYPE,
            "io.cncf.notary.signingScheme": "notary.x509",
            "io.cncf.notary.signingTime": utc(NOW).strftime("%Y-%m-%dT%H:%M:%SZ"),
        }
        p64 = b64url(json.dumps(prot, separators=(",", ":")).encode())
        pl64 = b64url(payload)
        _, sig = sign_bytes(key, (p64 + "." + pl64).encode())
        if variant == "tamper":
            pl64 = b64url(payload.replace(b'"size":', b'"size": '))
        header = {
            "x5c": [base64.b64encode(c).decode() for c in chain],
            "io.cncf.notary.signingAgent": "notary_pki.py/1",
        }
        if tsa:
            header["io.cncf.notary.timestampSignature"] = base64.b64encode(stamp(tsa, sig)).decode()
        env = {"payload": pl64, "protected": p64, "header": header, "signature": b64url(sig)}
        return "application/jose+json", json.dumps(env).encode()
    prot = cbor(
        {
            1: COSE_ALG[alg],
            2: ["io.cncf.notary.signingScheme"],
            3: PAYLOAD_TYPE,
            "io.cncf.notary.signingScheme": "notary.x509",
            "io.cncf.notary.signingTime": ("tag", 1, NOW),
        }
    )
    to_sign = cbor(["Signature1", prot, b"", payload])
    _, sig = sign_bytes(key, to_sign)
    if variant == "tamper":
        payload = payload.replace(b'"size":', b'"size": ')
    unprot = {33: chain, "io.cncf.notary.signingAgent": "notary_pki.py/1"}
    if tsa:
        unprot["io.cncf.notary.timestampSignature"] = stamp(tsa, sig)
    return "application/cose", cbor(("tag", 18, [prot, unprot, payload, sig]))


def put_blob(layout, data):
    d = hashlib.sha256(data).hexdigest()
    p = os.path.join(layout, "blobs", "sha256", d)
    if not os.path.exists(p):
        with open(p, "wb") as f:
            f.write(data)
    return "sha256:" + d


def sign(d, layout, spec):
    signers = json.load(open(os.path.join(d, "keys.json")))
    signer = signers[spec["signer"]]
    variant = spec.get("variant")
    idx_path = os.path.join(layout, "index.json")
    idx = json.load(open(idx_path))
    top = [m for m in idx["manifests"] if "artifactType" not in m]
    subjects = []
    for m in top:
        if spec["subjects"] in ("all", "index"):
            subjects.append(m)
        if spec["subjects"] in ("all", "platforms"):
            blob = open(os.path.join(layout, "blobs", "sha256", m["digest"][7:]), "rb").read()
            subjects.extend(json.loads(blob).get("manifests", []))
    for s in subjects:
        target = {"mediaType": s["mediaType"], "digest": s["digest"], "size": s["size"]}
        if variant == "other-digest":
            target["digest"] = "sha256:" + "ab" * 32
        payload = json.dumps({"targetArtifact": target}, separators=(",", ":")).encode()
        tsa = os.path.join(d, spec["tsa"]) if spec.get("tsa") else None
        mt, env = envelope(spec["format"], signer, payload, variant, tsa)
        thumbs = [hashlib.sha256(base64.b64decode(c)).hexdigest() for c in signer["chain"]]
        if variant == "bad-thumbprint":
            thumbs = thumbs[::-1]
        ann = {THUMBS: json.dumps(thumbs), "org.opencontainers.image.created": "2026-01-01T00:00:00Z"}
        env_d = put_blob(layout, env)
        cfg_d = put_blob(layout, b"{}")
        manifest = {
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "artifactType": SIG_TYPE,
            "config": {"mediaType": EMPTY, "digest": cfg_d, "size": 2},
            "layers": [{"mediaType": mt, "digest": env_d, "size": len(env)}],
            "subject": {"mediaType": s["mediaType"], "digest": s["digest"], "size": s["size"]},
            "annotations": ann,
        }
        mb = json.dumps(manifest, separators=(",", ":")).encode()
        md = put_blob(layout, mb)
        idx["manifests"].append(
            {"mediaType": OCI_MANIFEST, "digest": md, "size": len(mb), "artifactType": SIG_TYPE, "annotations": ann}
        )
    with open(idx_path, "w") as f:
        json.dump(idx, f)
    print(json.dumps({"signed": [s["digest"] for s in subjects]}))


if __name__ == "__main__":
    if sys.argv[1] == "pki":
        pki(sys.argv[2])
    else:
        sign(sys.argv[2], sys.argv[3], json.loads(sys.argv[4]))
