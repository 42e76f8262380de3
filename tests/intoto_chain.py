"""Keys and tamperings for tests/it/intoto_layout.rs, with the reference in-toto library.

    python intoto_chain.py keys DIR NAME...            P-256 keys: DIR/NAME.pk8 (PKCS#8 DER), DIR/NAME.pub (PEM)
    python intoto_chain.py tamper SRC DST KIND KEYS    copy the links of SRC to DST, then tamper (KIND below)

Links are re-signed with the reference library (in_toto.models.metablock + a
securesystemslib CryptoSigner) where the tampering needs a valid signature, so the only
fault left is the one named:
  foreign-signer    the rebuilder's pause-base link is replaced by the same link signed by `other`
  extra-product     both pause-base links (each validly re-signed) list a product outside pause-base/
  unpinned-base     both nanoserver links (each validly re-signed) name a base layer the layout does not pin
  irreproducible    the rebuilder's pause-base link (validly re-signed) has one product hash changed
  layout-edited     the layout's threshold is lowered to 1 without re-signing it
"""

import hashlib
import json
import shutil
import sys
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from in_toto.models.metadata import Metablock
from securesystemslib.signer import CryptoSigner


def keys(out, names):
    out = Path(out)
    for n in names:
        k = ec.generate_private_key(ec.SECP256R1())
        (out / f"{n}.pk8").write_bytes(
            k.private_bytes(serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
        )
        (out / f"{n}.pub").write_bytes(
            k.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        )


def signer(keys_dir, name):
    der = (Path(keys_dir) / f"{name}.pk8").read_bytes()
    return CryptoSigner(serialization.load_der_private_key(der, None))


def keyid_prefix(s):
    return s.public_key.keyid[:8]


def resign(path, keys_dir, name, edit, new_path=None):
    mb = Metablock.load(str(path))
    edit(mb.signed)
    mb.signatures = []
    s = signer(keys_dir, name)
    mb.create_signature(s)
    path.unlink()
    target = new_path or path
    mb.dump(str(target))
    return target


def link_of(dst, step, keys_dir, name):
    return dst / f"{step}.{keyid_prefix(signer(keys_dir, name))}.link"


def tamper(src, dst, kind, keys_dir):
    src, dst = Path(src), Path(dst)
    shutil.copytree(src, dst)
    fake = hashlib.sha256(b"not the pinned base").hexdigest()
    if kind == "foreign-signer":
        p = link_of(dst, "pause-base", keys_dir, "rebuilder")
        other = link_of(dst, "pause-base", keys_dir, "other")
        mb = Metablock.load(str(p))
        mb.signatures = []
        mb.create_signature(signer(keys_dir, "other"))
        p.unlink()
        mb.dump(str(other))
    elif kind == "extra-product":
        for who in ("builder", "rebuilder"):
            resign(
                link_of(dst, "pause-base", keys_dir, who),
                keys_dir,
                who,
                lambda l: l.products.__setitem__("extra/payload.exe", {"sha256": fake}),
            )
    elif kind == "unpinned-base":
        def swap(link):
            name = sorted(k for k in link.products if k.startswith("nanoserver/blobs/sha256/"))[-1]
            del link.products[name]
            link.products[f"nanoserver/blobs/sha256/{fake}"] = {"sha256": fake}

        for who in ("builder", "rebuilder"):
            resign(link_of(dst, "nanoserver", keys_dir, who), keys_dir, who, swap)
    elif kind == "irreproducible":
        def change(link):
            name = sorted(link.products)[0]
            link.products[name] = {"sha256": fake}

        resign(link_of(dst, "pause-base", keys_dir, "rebuilder"), keys_dir, "rebuilder", change)
    elif kind == "layout-edited":
        p = dst / "root.layout"
        doc = json.loads(p.read_text())
        for step in doc["signed"]["steps"]:
            step["threshold"] = 1
        p.write_text(json.dumps(doc, indent=1))
    else:
        raise SystemExit(f"unknown tampering {kind}")


if __name__ == "__main__":
    if sys.argv[1] == "keys":
        keys(sys.argv[2], sys.argv[3:])
    elif sys.argv[1] == "tamper":
        tamper(*sys.argv[2:6])
    else:
        raise SystemExit(__doc__)
