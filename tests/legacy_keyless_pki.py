"""A throw-away Sigstore PKI and cosign legacy keyless layers, made with `cryptography`
(independent of pause-verify), for tests/it/legacy_keyless.rs.

Reads a JSON spec on stdin, writes JSON on stdout:
  spec: {"now": UNIX, "identity": SAN, "issuer": ISS,
         "layers": [{"payload": B64, "att": bool, "kind": "hashedrekord"|"rekord"|"intoto"|"dsse",
                     "cert": "leaf"|"leaf2"|"rogue", "t": UNIX, "logIndex": N,
                     "entryFor": {"cert": ..., "payload": B64}   # optional: the Rekor
                    }]}                                         # entry describes another signature
  out:  {"trustedRoot": {...}, "notBefore": N, "notAfter": N,
         "layers": [{"blob": B64, "annotations": {...}}]}

PKI: root and intermediate CA (P-384, ecdsa-with-SHA384), leaves (P-256) with the Fulcio
profile: empty subject, critical SAN (e-mail or URI), digitalSignature, codeSigning EKU,
OIDC issuer extension 1.3.6.1.4.1.57264.1.8 (UTF8String), an embedded SCT by a test CT
log over the precertificate TBS (RFC 6962). A Rekor key signs SETs over the canonical
JSON {"body","integratedTime","logID","logIndex"}. "rogue" is issued by another CA
that the trusted root does not list (its SCT is still valid).
"""
import base64
import datetime
import hashlib
import json
import struct
import sys

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

b64 = lambda b: base64.b64encode(b).decode()
OID_ISSUER = x509.ObjectIdentifier("1.3.6.1.4.1.57264.1.8")
OID_SCT = x509.ObjectIdentifier("1.3.6.1.4.1.11129.2.4.2")


def spki(key):
    return key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def utc(t):
    return datetime.datetime.fromtimestamp(t, datetime.timezone.utc)


def rfc3339(t):
    return utc(t).strftime("%Y-%m-%dT%H:%M:%SZ")


def der_len(n):
    if n < 0x80:
        return bytes([n])
    b = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return bytes([0x80 | len(b)]) + b


def ca(name, key, issuer_name, issuer_key, path_len, not_before):
    b = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)]))
        .issuer_name(issuer_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(utc(not_before))
        .not_valid_after(utc(not_before + 10 * 365 * 86400))
        .add_extension(x509.BasicConstraints(ca=True, path_length=path_len), True)
        .add_extension(
            x509.KeyUsage(False, False, False, False, False, True, True, False, False), True
        )
    )
    return b.sign(issuer_key, hashes.SHA384())


class Pki:
    def __init__(self, now, identity, issuer):
        self.now, self.identity, self.issuer = now, identity, issuer
        start = now - 86400
        self.root_key = ec.generate_private_key(ec.SECP384R1())
        root_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "test sigstore root")])
        self.root = ca("test sigstore root", self.root_key, root_name, self.root_key, 1, start)
        self.inter_key = ec.generate_private_key(ec.SECP384R1())
        self.inter = ca("test sigstore intermediate", self.inter_key, root_name, self.root_key, 0, start)
        rogue_root_key = ec.generate_private_key(ec.SECP384R1())
        rogue_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "rogue root")])
        self.rogue_root = ca("rogue root", rogue_root_key, rogue_name, rogue_root_key, 1, start)
        self.rogue_key = ec.generate_private_key(ec.SECP384R1())
        # Same subject name as the trusted intermediate: only the signature tells them apart.
        self.rogue_inter = ca(
            "test sigstore intermediate", self.rogue_key, rogue_name, rogue_root_key, 0, start
        )
        self.ct_key = ec.generate_private_key(ec.SECP256R1())
        self.rekor_key = ec.generate_private_key(ec.SECP256R1())
        self.rekor_id = hashlib.sha256(spki(self.rekor_key)).digest()
        # A second intermediate the trusted root does not list: only a chain annotation
        # that carries it lets a path reach the root.
        self.inter2_key = ec.generate_private_key(ec.SECP384R1())
        self.inter2 = ca("test sigstore intermediate 2", self.inter2_key, root_name, self.root_key, 0, start)
        self.leaves = {}
        for name, (ik, ic, curve) in {
            "leaf": (self.inter_key, self.inter, ec.SECP256R1()),
            "leaf2": (self.inter_key, self.inter, ec.SECP256R1()),
            "rogue": (self.rogue_key, self.rogue_inter, ec.SECP256R1()),
            "leaf384": (self.inter_key, self.inter, ec.SECP384R1()),
            "leaf-inter2": (self.inter2_key, self.inter2, ec.SECP256R1()),
        }.items():
            k = ec.generate_private_key(curve)
            self.leaves[name] = (k, self.leaf(k, ik, ic))

    def leaf(self, key, issuer_key, issuer_cert):
        nb, na = self.now, self.now + 600
        if "@" in self.identity:
            san = x509.RFC822Name(self.identity)
        else:
            san = x509.UniformResourceIdentifier(self.identity)
        issuer_ext = b"\x0c" + der_len(len(self.issuer.encode())) + self.issuer.encode()
        serial = x509.random_serial_number()

        def build(extra):
            b = (
                x509.CertificateBuilder()
                .subject_name(x509.Name([]))
                .issuer_name(issuer_cert.subject)
                .public_key(key.public_key())
                .serial_number(serial)
                .not_valid_before(utc(nb))
                .not_valid_after(utc(na))
                .add_extension(
                    x509.KeyUsage(True, False, False, False, False, False, False, False, False), True
                )
                .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CODE_SIGNING]), False)
                .add_extension(x509.SubjectAlternativeName([san]), True)
                .add_extension(x509.UnrecognizedExtension(OID_ISSUER, issuer_ext), False)
            )
            for e in extra:
                b = b.add_extension(e, False)
            return b.sign(issuer_key, hashes.SHA256())

        # The precertificate TBS is this certificate's TBS without the SCT extension.
        tbs = build([]).tbs_certificate_bytes
        ts = nb * 1000
        issuer_key_hash = hashlib.sha256(spki(issuer_key)).digest()
        signed = (
            b"\x00\x00" + struct.pack(">Q", ts) + b"\x00\x01" + issuer_key_hash
            + len(tbs).to_bytes(3, "big") + tbs + b"\x00\x00"
        )
        sig = self.ct_key.sign(signed, ec.ECDSA(hashes.SHA256()))
        ct_id = hashlib.sha256(spki(self.ct_key)).digest()
        sct = b"\x00" + ct_id + struct.pack(">Q", ts) + b"\x00\x00" + b"\x04\x03" + struct.pack(">H", len(sig)) + sig
        lst = struct.pack(">H", len(sct)) + sct
        lst = struct.pack(">H", len(lst)) + lst
        ext = x509.UnrecognizedExtension(OID_SCT, b"\x04" + der_len(len(lst)) + lst)
        cert = build([ext])
        assert cert.tbs_certificate_bytes != tbs
        return cert

    def trusted_root(self):
        start = rfc3339(self.now - 86400)

        def log(url, key):
            return {
                "baseUrl": url,
                "hashAlgorithm": "SHA2_256",
                "publicKey": {
                    "rawBytes": b64(spki(key)),
                    "keyDetails": "PKIX_ECDSA_P256_SHA_256",
                    "validFor": {"start": start},
                },
                "logId": {"keyId": b64(hashlib.sha256(spki(key)).digest())},
            }

        der = lambda c: {"rawBytes": b64(c.public_bytes(serialization.Encoding.DER))}
        return {
            "mediaType": "application/vnd.dev.sigstore.trustedroot+json;version=0.1",
            "tlogs": [log("https://rekor.test", self.rekor_key)],
            "certificateAuthorities": [
                {
                    "subject": {"organization": "test", "commonName": "test sigstore"},
                    "uri": "https://fulcio.test",
                    "certChain": {"certificates": [der(self.inter), der(self.root)]},
                    "validFor": {"start": start},
                }
            ],
            "ctlogs": [log("https://ctfe.test", self.ct_key)],
            "timestampAuthorities": [],
        }

    def pem(self, name):
        return self.leaves[name][1].public_bytes(serialization.Encoding.PEM)

    def signed(self, name, payload, att):
        """(layer blob, signature annotation, raw signature, envelope dict or None)."""
        key = self.leaves[name][0]
        # Sigstore signs with SHA-384 for P-384 keys.
        h = hashes.SHA384() if key.curve.key_size == 384 else hashes.SHA256()
        if not att:
            sig = key.sign(payload, ec.ECDSA(h))
            return payload, b64(sig), sig, None
        ptype = "application/vnd.in-toto+json"
        pae = b"DSSEv1 %d %s %d %s" % (len(ptype), ptype.encode(), len(payload), payload)
        sig = key.sign(pae, ec.ECDSA(h))
        env = {"payloadType": ptype, "payload": b64(payload), "signatures": [{"keyid": "", "sig": b64(sig)}]}
        return json.dumps(env, separators=(",", ":")).encode(), "", sig, env

    def body(self, kind, cert, blob, payload, sig, env):
        pem = b64(self.pem(cert))
        sha = lambda b: {"algorithm": "sha256", "value": hashlib.sha256(b).hexdigest()}
        if kind == "hashedrekord":
            spec = {"data": {"hash": sha(blob)}, "signature": {"content": b64(sig), "publicKey": {"content": pem}}}
            v = "0.0.1"
        elif kind == "rekord":
            spec = {"data": {"hash": sha(blob)},
                    "signature": {"content": b64(sig), "format": "x509", "publicKey": {"content": pem}}}
            v = "0.0.1"
        elif kind == "intoto":
            spec = {"content": {
                "envelope": {"payloadType": env["payloadType"],
                             "signatures": [{"publicKey": pem, "sig": b64(b64(sig).encode())}]},
                "hash": sha(blob), "payloadHash": sha(payload)}}
            v = "0.0.2"
        else:
            spec = {"envelopeHash": sha(blob), "payloadHash": sha(payload),
                    "signatures": [{"signature": b64(sig), "verifier": pem}]}
            v = "0.0.1"
        return json.dumps({"apiVersion": v, "kind": kind, "spec": spec}, sort_keys=True, separators=(",", ":")).encode()

    def layer(self, s):
        att = s.get("att", False)
        kind = s.get("kind", "intoto" if att else "hashedrekord")
        payload = base64.b64decode(s["payload"])
        blob, sig_b64, sig, env = self.signed(s["cert"], payload, att)
        e = s.get("entryFor")
        if e:
            p2 = base64.b64decode(e["payload"])
            b2, _, s2, env2 = self.signed(e["cert"], p2, att)
            body = self.body(kind, e["cert"], b2, p2, s2, env2)
        else:
            body = self.body(kind, s["cert"], blob, payload, sig, env)
        t, idx = s["t"], s["logIndex"]
        canon = json.dumps(
            {"body": b64(body), "integratedTime": t, "logID": self.rekor_id.hex(), "logIndex": idx},
            sort_keys=True, separators=(",", ":"),
        ).encode()
        set_ = self.rekor_key.sign(canon, ec.ECDSA(hashes.SHA256()))
        issuer = self.inter2 if s["cert"] == "leaf-inter2" else self.inter
        chain = b"" if s.get("noChain") else (issuer.public_bytes(serialization.Encoding.PEM)
                                               + self.root.public_bytes(serialization.Encoding.PEM))
        bundle = {"SignedEntryTimestamp": b64(set_),
                  "Payload": {"body": b64(body), "integratedTime": t, "logIndex": idx, "logID": self.rekor_id.hex()}}
        return {
            "blob": b64(blob),
            "annotations": {
                "dev.cosignproject.cosign/signature": sig_b64,
                "dev.sigstore.cosign/certificate": self.pem(s["cert"]).decode(),
                "dev.sigstore.cosign/chain": chain.decode(),
                "dev.sigstore.cosign/bundle": json.dumps(bundle, separators=(",", ":")),
            },
        }


def main():
    spec = json.load(sys.stdin)
    pki = Pki(spec["now"], spec["identity"], spec["issuer"])
    out = {
        "trustedRoot": pki.trusted_root(),
        "notBefore": spec["now"],
        "notAfter": spec["now"] + 600,
        "layers": [pki.layer(s) for s in spec["layers"]],
    }
    json.dump(out, sys.stdout)


if __name__ == "__main__":
    main()
