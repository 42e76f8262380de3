#!/usr/bin/python3
"""An independent "publisher" of the pause base image, for the compare tests.

It builds what a Windows `docker build` of the upstream recipe would publish, on top of
a base OCI layout (the synthetic NanoServer), without any pause-verify code:

- layer tars with Python's `tarfile` (PAX, MSWINDOWS.* records), gzip level 9;
- delta hives with `hivex` (Debian python3-hivex), starting from a minimal regf template
  written here; hivex cannot write layered keys, so the base-block flag 0x2 and each
  key node's layer byte (offset 13 of `nk`) are byte-patched afterwards and the base-block
  checksum is fixed;
- the classic Windows builder's shape: a layer for each USER step, its history strings,
  other times, another entry order, and Windows runtime noise (ContainerId,
  ComputerName, RNG seed, Lsa pid, an event log, a user profile file).

Variants for the tests: --enable-dcom VALUE, --keep-diagtrack, --extra-change (a
registry value and a file no noise rule explains), --no-noise, --broken-os-version V
(apply a variant to one platform only), --forge NAME (an attacker's addition dressed as
noise, for tests/it/forgery.rs: see FORGERIES). Deterministic: same inputs, same bytes.

The user profile hive (NTUSER.DAT) is a real, minimal hive written with hivex, as a step
run as ContainerAdministrator leaves one.

Final-image mode (--final --pause-exe F --wincat F, on a pause base as --base): what a
classic Windows build of kubernetes' Dockerfile_windows publishes (ARG, two ADD layers,
ENV PATH, ENTRYPOINT, each metadata step with its small layer); variants --extra-file
(a file the recipe does not ADD, in the pause.exe layer), --hive-change (a System_Delta
there) and --entrypoint JSON.

Usage: publish_independent.py --base DIR --out DIR [--keylight FILE] [variants]
"""

import argparse
import base64
import gzip
import hashlib
import io
import json
import os
import shutil
import struct
import sys
import tarfile
import tempfile

import hivex

GGCR_SD = "AQAAgBQAAAAkAAAAAAAAAAAAAAABAgAAAAAABSAAAAAhAgAAAQIAAAAAAAUgAAAAIQIAAA=="
MTIME = 1700000000  # other times than the rebuild's
DOCKER_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_CONFIG = "application/vnd.docker.container.image.v1+json"
DOCKER_LAYER = "application/vnd.docker.image.rootfs.diff.tar.gzip"

# The upstream keylight.reg (microsoft/windows-pause-image-base, MIT), byte for byte.
KEYLIGHT = (
    b"Windows Registry Editor Version 5.00\n"
    b"[HKEY_LOCAL_MACHINE\\SOFTWARE\\Microsoft\\rpc]\n"
    b"\"DCOM Protocols\"=hex(7):00,00\n"
    b"\"UuidSequenceNumber\"=dword:01bcf674\n"
    b"\"EpMapDisallowedProtocols\"=\"ncacn_ip_tcp\"\n"
    b"\n"
    b"[HKEY_LOCAL_MACHINE\\SOFTWARE\\Microsoft\\ole]\n"
    b"\"EnableDCOM\"=\"N\""
)


def sha(b):
    return "sha256:" + hashlib.sha256(b).hexdigest()


class Layout:
    def __init__(self, d):
        self.d = d

    def blob(self, digest):
        with open(os.path.join(self.d, "blobs", "sha256", digest.split(":")[1]), "rb") as f:
            return f.read()


class Out:
    def __init__(self, d):
        self.d = d
        os.makedirs(os.path.join(d, "blobs", "sha256"), exist_ok=True)
        with open(os.path.join(d, "oci-layout"), "w") as f:
            f.write('{"imageLayoutVersion":"1.0.0"}')

    def put(self, data):
        p = os.path.join(self.d, "blobs", "sha256", sha(data).split(":")[1])
        with open(p, "wb") as f:
            f.write(data)
        return sha(data)


# ---------------------------------------------------------------------------- hives

def utf16z(s):
    return (s + "\0").encode("utf-16-le")


def self_relative_sd():
    """O:BAG:BAD:(A;;KA;;;SY): owner/group Administrators, SYSTEM full control."""
    def sid(auth, *subs):
        return struct.pack("<BB", 1, len(subs)) + struct.pack(">Q", auth)[2:] + b"".join(
            struct.pack("<I", s) for s in subs)
    ba = sid(5, 32, 544)
    sy = sid(5, 18)
    ace = struct.pack("<BBHI", 0, 0, 8 + len(sy), 0xF003F) + sy
    acl = struct.pack("<BBHHH", 2, 0, 8 + len(ace), 1, 0) + ace
    hdr = 20
    owner_off = hdr
    group_off = owner_off + len(ba)
    dacl_off = group_off + len(ba)
    return struct.pack("<BBHIIII", 1, 0, 0x8004, owner_off, group_off, 0, dacl_off) + ba + ba + acl


def checksum(block):
    x = 0
    for i in range(0, 508, 4):
        x ^= struct.unpack_from("<I", block, i)[0]
    if x == 0xFFFFFFFF:
        x = 0xFFFFFFFE
    if x == 0:
        x = 1
    return x


def template():
    """A minimal normal hive: base block + one hbin with the root key and its sk."""
    sd = self_relative_sd()
    hbin = bytearray(4096)
    hbin[0:4] = b"hbin"
    struct.pack_into("<III", hbin, 4, 0, 4096, 0)
    nk_off = 0x20
    name = b"ROOT"
    nk = bytearray(76 + len(name))
    nk[0:2] = b"nk"
    sk_off = nk_off + ((4 + len(nk) + 7) // 8) * 8
    struct.pack_into("<H", nk, 2, 0x2C)
    struct.pack_into("<I", nk, 16, 0xFFFFFFFF)  # parent
    struct.pack_into("<I", nk, 28, 0xFFFFFFFF)  # subkey list
    struct.pack_into("<I", nk, 32, 0xFFFFFFFF)  # volatile list
    struct.pack_into("<I", nk, 40, 0xFFFFFFFF)  # value list
    struct.pack_into("<I", nk, 44, sk_off)
    struct.pack_into("<I", nk, 48, 0xFFFFFFFF)  # class
    struct.pack_into("<H", nk, 72, len(name))
    nk[76:] = name
    nk_cell = ((4 + len(nk) + 7) // 8) * 8
    struct.pack_into("<i", hbin, nk_off, -nk_cell)
    hbin[nk_off + 4:nk_off + 4 + len(nk)] = nk
    sk = bytearray(20 + len(sd))
    sk[0:2] = b"sk"
    struct.pack_into("<IIII", sk, 4, sk_off, sk_off, 1, len(sd))
    sk[20:] = sd
    sk_cell = ((4 + len(sk) + 7) // 8) * 8
    struct.pack_into("<i", hbin, sk_off, -sk_cell)
    hbin[sk_off + 4:sk_off + 4 + len(sk)] = sk
    free_off = sk_off + sk_cell
    struct.pack_into("<i", hbin, free_off, 4096 - free_off)
    base = bytearray(4096)
    base[0:4] = b"regf"
    struct.pack_into("<IIQIIIIIII", base, 4, 1, 1, 0, 1, 5, 0, 1, nk_off, 4096, 1)
    struct.pack_into("<I", base, 508, checksum(base))
    return bytes(base) + bytes(hbin)


def nk_cells(data):
    """(file offset of nk data, cell offset) for every allocated nk cell."""
    out = []
    pos = 4096
    while pos + 32 <= len(data) and data[pos:pos + 4] == b"hbin":
        size = struct.unpack_from("<I", data, pos + 8)[0]
        c = pos + 32
        while c < pos + size:
            csize = struct.unpack_from("<i", data, c)[0]
            if csize == 0:
                break
            if csize < 0 and data[c + 4:c + 6] == b"nk":
                out.append((c + 4, c - 4096))
            c += abs(csize)
        pos += size
    return out


def key_paths(data):
    """Key path (root = "") → file offset of its nk data."""
    info = {}
    for off, cell in nk_cells(data):
        parent = struct.unpack_from("<I", data, off + 16)[0]
        nlen = struct.unpack_from("<H", data, off + 72)[0]
        flags = struct.unpack_from("<H", data, off + 2)[0]
        raw = data[off + 76:off + 76 + nlen]
        name = raw.decode("latin-1") if flags & 0x20 else raw.decode("utf-16-le")
        info[cell] = (name, parent, off, flags)
    paths = {}
    for cell, (name, parent, off, flags) in info.items():
        parts = []
        c = cell
        while c in info and not info[c][3] & 0x4:
            parts.append(info[c][0])
            c = info[c][1]
        paths["\\".join(reversed(parts)).lower()] = off
    return paths


def make_delta(keys, layers):
    """keys: [(path, [(name, type, bytes)])] created in order with hivex;
    layers: {path: layer byte}. Returns the patched delta hive bytes."""
    with tempfile.TemporaryDirectory() as td:
        p = os.path.join(td, "hive")
        with open(p, "wb") as f:
            f.write(template())
        h = hivex.Hivex(p, write=True)
        for path, values in keys:
            node = h.root()
            for part in [x for x in path.split("\\") if x]:
                child = h.node_get_child(node, part)
                if child is None:
                    child = h.node_add_child(node, part)
                node = child
            if values:
                h.node_set_values(node, [
                    {"key": n, "t": t, "value": v} for (n, t, v) in values])
        h.commit(p)
        del h
        with open(p, "rb") as f:
            data = bytearray(f.read())
    paths = key_paths(data)
    for path, byte in layers.items():
        off = paths[path.lower()]
        data[off + 13] = byte
        if byte == 0x01:
            struct.pack_into("<Q", data, off + 4, 0)  # tombstones carry no timestamp
    flags = struct.unpack_from("<I", data, 144)[0]
    struct.pack_into("<I", data, 144, flags | 0x2)
    struct.pack_into("<I", data, 508, checksum(data[:4096]))
    return bytes(data)


def make_hive(keys):
    """A normal (non-layered) hive with keys [(path, [(name, type, bytes)])]."""
    with tempfile.TemporaryDirectory() as td:
        p = os.path.join(td, "hive")
        with open(p, "wb") as f:
            f.write(template())
        h = hivex.Hivex(p, write=True)
        for path, values in keys:
            node = h.root()
            for part in [x for x in path.split("\\") if x]:
                child = h.node_get_child(node, part)
                if child is None:
                    child = h.node_add_child(node, part)
                node = child
            if values:
                h.node_set_values(node, [
                    {"key": n, "t": t, "value": v} for (n, t, v) in values])
        h.commit(p)
        del h
        with open(p, "rb") as f:
            return f.read()


def profile_hive(extra=()):
    """What a first logon leaves in a container user's NTUSER.DAT (a few keys)."""
    return make_hive([
        ("Software\\Microsoft\\Windows\\CurrentVersion\\Explorer",
         [("ShellState", 3, bytes(36))]),
        ("Environment", [("TEMP", 2, utf16z("%USERPROFILE%\\AppData\\Local\\Temp"))]),
    ] + list(extra))


# ----------------------------------------------------------------------------- base

def base_hive_has(hive_bytes, path):
    with tempfile.TemporaryDirectory() as td:
        p = os.path.join(td, "h")
        with open(p, "wb") as f:
            f.write(hive_bytes)
        h = hivex.Hivex(p)
        node = h.root()
        for part in path.split("\\"):
            node = h.node_get_child(node, part)
            if node is None:
                return None
        return h.node_name(node)


def base_hives(layer_gz):
    out = {}
    with tarfile.open(fileobj=io.BytesIO(gzip.decompress(layer_gz))) as t:
        for m in t:
            n = m.name.rstrip("/").lower()
            for h in ("software", "system"):
                if n == "files/windows/system32/config/" + h:
                    out[h] = t.extractfile(m).read()
    return out


# ----------------------------------------------------------------------------- tars

def tar_layer(entries):
    """entries: [(path, bytes or None for a dir or {"symlink"|"hardlink": target}, sd?)]
    in the order given."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as t:
        for path, data, sd in entries:
            ti = tarfile.TarInfo(path)
            ti.mtime = MTIME
            ti.uid = ti.gid = 0
            ti.uname = ti.gname = ""
            pax = {"LIBARCHIVE.creationtime": str(MTIME - 7)}
            if isinstance(data, dict):
                (kind, target), = data.items()
                ti.type = tarfile.SYMTYPE if kind == "symlink" else tarfile.LNKTYPE
                ti.linkname = target
                ti.mode = 0o644
                pax["MSWINDOWS.fileattr"] = "32"
                data = None
            elif data is None:
                ti.type = tarfile.DIRTYPE
                ti.mode = 0o755
                pax["MSWINDOWS.fileattr"] = "16"
            else:
                ti.type = tarfile.REGTYPE
                ti.mode = 0o644
                ti.size = len(data)
                pax["MSWINDOWS.fileattr"] = "32"
            if sd:
                pax["MSWINDOWS.rawsd"] = GGCR_SD
            ti.pax_headers = pax
            t.addfile(ti, io.BytesIO(data) if data is not None else None)
    return buf.getvalue()


MZ = b"MZ\x90\x00\x03\x00\x00\x00\x04\x00\x00\x00\xff\xff" + bytes(48)
STARTUP = "Files/Users/ContainerUser/AppData/Roaming/Microsoft/Windows/Start Menu/Programs/Startup"


def _dirs(path):
    """Directory entries for the parents of `path` below Files/Users (which exists)."""
    parts = path.split("/")
    return [("/".join(parts[:i]), None, True) for i in range(3, len(parts))]


# Files an attacker adds to the `reg import` layer, each dressed as Windows noise. The
# registry forgeries (profile-image-path, nameserver) are made above, in the deltas.
FORGERIES = {
    "temp-dotdot": lambda: [("Files/Windows/Temp", None, True),
                            ("Files/Windows/Temp/../System32/evil.exe", MZ, True)],
    "users-dotdot": lambda: [
        ("Files/Users/ContainerUser", None, True),
        ("Files/Users/ContainerUser/../../Windows/System32/drivers/etc/hosts",
         b"6.6.6.6 registry.k8s.io\r\n", True)],
    "temp-exe": lambda: [("Files/Windows/Temp", None, True),
                         ("Files/Windows/Temp/evil.exe", MZ, True)],
    "startup-cmd": lambda: _dirs(STARTUP + "/evil.cmd") + [
        ("Files/Users/ContainerUser/NTUSER.DAT", profile_hive(), True),
        (STARTUP + "/evil.cmd", b"@echo off\r\nC:\\tools\\x.exe\r\n", True)],
    "profile-run": lambda: [
        ("Files/Users/ContainerUser", None, True),
        ("Files/Users/ContainerUser/NTUSER.DAT", profile_hive([
            ("Software\\Microsoft\\Windows\\CurrentVersion\\Run",
             [("Updater", 1, utf16z("C:\\tools\\x.exe"))])]), True)],
    "service-hive": lambda: [
        ("Files/Windows/ServiceProfiles", None, True),
        ("Files/Windows/ServiceProfiles/LocalService", None, True),
        ("Files/Windows/ServiceProfiles/LocalService/NTUSER.DAT", profile_hive(), True)],
    "symlink-escape": lambda: [("Files/Windows/Temp", None, True),
                               ("Files/Windows/Temp/x", {"symlink": "..\\..\\..\\..\\evil"}, True)],
    "hardlink-escape": lambda: [("Files/Windows/Temp", None, True),
                                ("Files/Windows/Temp/y", {"hardlink": "Files/../../etc/shadow"}, True)],
    "profile-image-path": lambda: [],
    "nameserver": lambda: [],
    "case-collision": lambda: [],
    "duplicate": lambda: [],
}


def publish_platform(base, out, entry, args, broken):
    man = json.loads(base.blob(entry["digest"]))
    cfg = json.loads(base.blob(man["config"]["digest"]))
    base_layers = man["layers"]
    for l in base_layers:
        out.put(base.blob(l["digest"]))
    hives = base_hives(base.blob(base_layers[-1]["digest"]))
    sw, sysh = hives.get("software"), hives.get("system")
    rpc = base_hive_has(sw, "Microsoft\\rpc") if sw else None
    ole = base_hive_has(sw, "Microsoft\\ole") if sw else None
    diag = base_hive_has(sysh, "ControlSet001\\Services\\DiagTrack") if sysh else None
    noise = not args.no_noise

    enable_dcom = args.enable_dcom if (broken and args.enable_dcom) else "N"
    keylight_keys = [
        ("Microsoft\\" + (rpc or "rpc"), [
            ("DCOM Protocols", 7, b"\0\0"),
            ("UuidSequenceNumber", 4, struct.pack("<I", 0x01BCF674)),
            ("EpMapDisallowedProtocols", 1, utf16z("ncacn_ip_tcp")),
        ]),
        ("Microsoft\\" + (ole or "ole"), [("EnableDCOM", 1, utf16z(enable_dcom))]),
    ]
    sw_layers = {
        "Microsoft": 0x80,
        "Microsoft\\" + (rpc or "rpc"): 0x80 if rpc else 0x03,
        "Microsoft\\" + (ole or "ole"): 0x80 if ole else 0x03,
    }
    if broken and args.extra_change:
        keylight_keys.append(("Microsoft\\Windows\\CurrentVersion\\Run",
                              [("Updater", 1, utf16z("C:\\tools\\x.exe"))]))
        for k in ("Microsoft\\Windows", "Microsoft\\Windows\\CurrentVersion",
                  "Microsoft\\Windows\\CurrentVersion\\Run"):
            sw_layers[k] = 0x80
    forge = args.forge if broken else None
    if forge == "profile-image-path":
        pl = "Microsoft\\Windows NT\\CurrentVersion\\ProfileList\\S-1-5-93-2-1"
        keylight_keys.append((pl, [("ProfileImagePath", 2, utf16z("C:\\Windows\\System32"))]))
        for k in ("Microsoft\\Windows NT", "Microsoft\\Windows NT\\CurrentVersion",
                  "Microsoft\\Windows NT\\CurrentVersion\\ProfileList", pl):
            sw_layers[k] = 0x80
    software_delta = make_delta(keylight_keys, sw_layers)

    sys_keys, sys_layers = [], {}
    if noise:
        sys_keys += [
            ("ControlSet001\\Control", [
                ("ContainerType", 4, struct.pack("<I", 2)),
                ("ContainerId", 1, utf16z("A9AB3D85-47B5-56F9-8205-B04A5D26B08B")),
            ]),
            ("ControlSet001\\Control\\ComputerName\\ComputerName",
             [("ComputerName", 1, utf16z("D59F6865D8A6"))]),
            ("ControlSet001\\Control\\Session Manager\\kernel\\RNG",
             [("RNGAuxiliarySeed", 4, struct.pack("<I", 3247893969))]),
        ]
        if forge == "nameserver":
            ifk = ("ControlSet001\\Services\\Tcpip\\Parameters\\Interfaces\\"
                   "{4b3d0a56-1111-2222-3333-444455556666}")
            sys_keys.append((ifk, [("DhcpIPAddress", 1, utf16z("172.20.0.5")),
                                   ("NameServer", 1, utf16z("6.6.6.6"))]))
            for k in ("ControlSet001\\Services", "ControlSet001\\Services\\Tcpip",
                      "ControlSet001\\Services\\Tcpip\\Parameters",
                      "ControlSet001\\Services\\Tcpip\\Parameters\\Interfaces", ifk):
                sys_layers[k] = 0x80
        for k in ("ControlSet001", "ControlSet001\\Control",
                  "ControlSet001\\Control\\ComputerName",
                  "ControlSet001\\Control\\ComputerName\\ComputerName",
                  "ControlSet001\\Control\\Session Manager",
                  "ControlSet001\\Control\\Session Manager\\kernel",
                  "ControlSet001\\Control\\Session Manager\\kernel\\RNG"):
            sys_layers[k] = 0x80
    reg_import_system = make_delta(sys_keys, sys_layers) if sys_keys else None

    del_keys, del_layers = [], {}
    if not (broken and args.keep_diagtrack):
        del_keys.append(("ControlSet001\\Services\\" + (diag or "DiagTrack"), []))
        del_layers.update({"ControlSet001": 0x80, "ControlSet001\\Services": 0x80,
                           "ControlSet001\\Services\\" + (diag or "DiagTrack"): 0x01})
    if noise:
        del_keys.append(("ControlSet001\\Control\\Lsa",
                         [("LsaPid", 4, struct.pack("<I", 420))]))
        del_layers.update({"ControlSet001": 0x80, "ControlSet001\\Control": 0x80,
                           "ControlSet001\\Control\\Lsa": 0x80})
    sc_delete_system = make_delta(del_keys, del_layers) if del_keys else None

    keylight = open(args.keylight, "rb").read() if args.keylight else KEYLIGHT
    # Entry order: Hives first, children in reverse order (hcsshim writes Files first,
    # sorted): the comparer must not care.
    copy_entries = [
        ("Hives", None, False),
        ("Files", None, False),
        ("Files/tools", None, True),
        ("Files/tools/keylight.reg", keylight, True),
    ]
    if forge == "case-collision":
        # NTFS has one file for both names: the second one wins on a Windows host.
        copy_entries.append(("Files/TOOLS/KeyLight.reg", b"Windows Registry Editor Version 5.00\n", True))
    if forge == "duplicate":
        copy_entries.append(("Files/tools/keylight.reg", b"Windows Registry Editor Version 5.00\n", True))
    copy_layer = tar_layer(copy_entries)
    empty_layer = tar_layer([("Hives", None, False), ("Files", None, False)])
    run1 = [("Hives", None, False), ("Hives/Software_Delta", software_delta, False)]
    if reg_import_system:
        run1.append(("Hives/System_Delta", reg_import_system, False))
    run1.append(("Files", None, False))
    if noise:
        run1 += [
            ("Files/Windows", None, True),
            ("Files/Windows/System32", None, True),
            ("Files/Windows/System32/winevt", None, True),
            ("Files/Windows/System32/winevt/Logs", None, True),
            ("Files/Windows/System32/winevt/Logs/Application.evtx", b"ElfFile\0" + bytes(120), True),
            ("Files/Users", None, True),
            ("Files/Users/ContainerAdministrator", None, True),
            ("Files/Users/ContainerAdministrator/NTUSER.DAT", profile_hive(), True),
        ]
    if forge:
        run1 += FORGERIES[forge]()
    if broken and args.extra_change:
        run1.append(("Files/tools/x.exe", b"MZ not noise", True))
    run2 = [("Hives", None, False)]
    if sc_delete_system:
        run2.append(("Hives/System_Delta", sc_delete_system, False))
    run2.append(("Files", None, False))

    steps = [
        ("cmd /S /C #(nop) COPY dir:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef in C:\\tools ", copy_layer),
        ("cmd /S /C #(nop)  USER ContainerAdministrator", empty_layer),
        ("cmd /S /C reg import tools\\keylight.reg", tar_layer(run1)),
        ("cmd /S /C sc.exe delete diagtrack -f", tar_layer(run2)),
        ("cmd /S /C #(nop)  USER ContainerUser", empty_layer),
    ]
    layers = list(base_layers)
    diff_ids = list(cfg["rootfs"]["diff_ids"])
    history = list(cfg.get("history", []))
    for i, (created_by, tar) in enumerate(steps):
        gz = gzip.compress(tar, compresslevel=9, mtime=0)
        d = out.put(gz)
        layers.append({"mediaType": DOCKER_LAYER, "size": len(gz), "digest": d})
        diff_ids.append(sha(tar))
        history.append({"created": "2023-11-14T22:13:%02d.1234567Z" % (20 + i),
                        "created_by": created_by})
    cfg["rootfs"]["diff_ids"] = diff_ids
    cfg["history"] = history
    cfg.setdefault("config", {})["User"] = "ContainerUser"
    cfg["created"] = "2023-11-14T22:13:25.7654321Z"
    cfg_bytes = json.dumps(cfg, indent=None, separators=(",", ":")).encode()
    cd = out.put(cfg_bytes)
    manifest = {
        "schemaVersion": 2,
        "mediaType": DOCKER_MANIFEST,
        "config": {"mediaType": DOCKER_CONFIG, "size": len(cfg_bytes), "digest": cd},
        "layers": layers,
    }
    mb = json.dumps(manifest, indent=3).encode()
    md = out.put(mb)
    plat = dict(entry.get("platform") or {"os": "windows", "architecture": "amd64",
                                          "os.version": cfg.get("os.version")})
    return {"mediaType": DOCKER_MANIFEST, "size": len(mb), "digest": md, "platform": plat}


def publish_final(base, out, entry, args, broken):
    """The final image (kubernetes' Dockerfile_windows) on a pause base, as the classic
    Windows builder lays it out: a small layer for each metadata step (ARG, ENV,
    ENTRYPOINT), one layer per ADD, its history strings, other times."""
    man = json.loads(base.blob(entry["digest"]))
    cfg = json.loads(base.blob(man["config"]["digest"]))
    base_layers = man["layers"]
    for l in base_layers:
        out.put(base.blob(l["digest"]))
    pause_exe = open(args.pause_exe, "rb").read()
    wincat = open(args.wincat, "rb").read()
    add_pause = [("Hives", None, False), ("Files", None, False),
                 ("Files/pause.exe", pause_exe, True)]
    if broken and args.extra_file:
        add_pause.append(("Files/extra.txt", b"not in the recipe\n", True))
    if broken and args.hive_change:
        # A value a noise rule would explain in a RUN layer (sys-container-id).
        add_pause.insert(1, ("Hives/System_Delta", make_delta(
            [("ControlSet001\\Control", [("ContainerType", 4, struct.pack("<I", 2))])],
            {"ControlSet001": 0x80, "ControlSet001\\Control": 0x80}), False))
    add_wincat = [("Files", None, False), ("Files/Windows", None, True),
                  ("Files/Windows/System32", None, True),
                  ("Files/Windows/System32/wincat.exe", wincat, True),
                  ("Hives", None, False)]
    empty_layer = tar_layer([("Hives", None, False), ("Files", None, False)])
    path = "C:\\Windows\\system32;C:\\Windows;"
    entrypoint = json.loads(args.entrypoint) if (broken and args.entrypoint) else ["/pause.exe"]
    steps = [
        ("cmd /S /C #(nop)  ARG ARCH", empty_layer),
        ("cmd /S /C #(nop) ADD file:%s in C:\\pause.exe " % hashlib.sha256(pause_exe).hexdigest(),
         tar_layer(add_pause)),
        ("cmd /S /C #(nop) ADD file:%s in C:\\Windows\\System32\\wincat.exe " % hashlib.sha256(wincat).hexdigest(),
         tar_layer(add_wincat)),
        ("cmd /S /C #(nop)  ENV PATH=" + path, empty_layer),
        ("cmd /S /C #(nop)  ENTRYPOINT " + "[" + " ".join(json.dumps(a) for a in entrypoint) + "]",
         empty_layer),
    ]
    layers = list(base_layers)
    diff_ids = list(cfg["rootfs"]["diff_ids"])
    history = list(cfg.get("history", []))
    for i, (created_by, tar) in enumerate(steps):
        gz = gzip.compress(tar, compresslevel=9, mtime=0)
        d = out.put(gz)
        layers.append({"mediaType": DOCKER_LAYER, "size": len(gz), "digest": d})
        diff_ids.append(sha(tar))
        history.append({"created": "2024-02-01T10:00:%02d.5Z" % (10 + i), "created_by": created_by})
    cfg["rootfs"]["diff_ids"] = diff_ids
    cfg["history"] = history
    c = cfg.setdefault("config", {})
    env = [e for e in (c.get("Env") or []) if e.split("=", 1)[0].upper() != "PATH"]
    c["Env"] = env + ["PATH=" + path]
    c["Entrypoint"] = entrypoint
    cfg["created"] = "2024-02-01T10:00:15.5Z"
    cfg_bytes = json.dumps(cfg, indent=None, separators=(",", ":")).encode()
    cd = out.put(cfg_bytes)
    manifest = {
        "schemaVersion": 2,
        "mediaType": DOCKER_MANIFEST,
        "config": {"mediaType": DOCKER_CONFIG, "size": len(cfg_bytes), "digest": cd},
        "layers": layers,
    }
    mb = json.dumps(manifest, indent=3).encode()
    md = out.put(mb)
    plat = dict(entry.get("platform") or {"os": "windows", "architecture": "amd64",
                                          "os.version": cfg.get("os.version")})
    return {"mediaType": DOCKER_MANIFEST, "size": len(mb), "digest": md, "platform": plat}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--base", required=True, help="OCI layout of the base")
    ap.add_argument("--out", required=True)
    ap.add_argument("--keylight")
    ap.add_argument("--enable-dcom")
    ap.add_argument("--keep-diagtrack", action="store_true")
    ap.add_argument("--extra-change", action="store_true")
    ap.add_argument("--no-noise", action="store_true")
    ap.add_argument("--broken-os-version", help="apply the variant to this os.version only")
    ap.add_argument("--final", action="store_true",
                    help="publish the final image (Dockerfile_windows) on --base, a pause base")
    ap.add_argument("--pause-exe", help="--final: the pause.exe to ADD")
    ap.add_argument("--wincat", help="--final: the wincat.exe to ADD")
    ap.add_argument("--extra-file", action="store_true",
                    help="--final: an extra file in the pause.exe ADD layer")
    ap.add_argument("--entrypoint", help="--final: another ENTRYPOINT (JSON list)")
    ap.add_argument("--hive-change", action="store_true",
                    help="--final: a delta hive (ContainerType) in the pause.exe ADD layer")
    ap.add_argument("--forge", choices=sorted(FORGERIES), help="plant one forgery (tests/it/forgery.rs)")
    args = ap.parse_args()
    if args.final and not (args.pause_exe and args.wincat):
        ap.error("--final needs --pause-exe and --wincat")
    base = Layout(args.base)
    idx = json.load(open(os.path.join(args.base, "index.json")))
    root_desc = idx["manifests"][0]
    root = json.loads(base.blob(root_desc["digest"]))
    if "manifests" in root:
        entries = root["manifests"]
    else:
        entries = [{"digest": root_desc["digest"], "mediaType": root.get("mediaType", DOCKER_MANIFEST)}]
    if os.path.exists(args.out):
        shutil.rmtree(args.out)
    out = Out(args.out)
    descs = []
    for e in entries:
        osv = (e.get("platform") or {}).get("os.version")
        broken = args.broken_os_version is None or args.broken_os_version == osv
        publish = publish_final if args.final else publish_platform
        descs.append(publish(base, out, e, args, broken))
    lst = json.dumps({"schemaVersion": 2, "mediaType": DOCKER_LIST, "manifests": descs},
                     indent=3).encode()
    ld = out.put(lst)
    with open(os.path.join(args.out, "index.json"), "w") as f:
        json.dump({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json",
                   "manifests": [{"mediaType": DOCKER_LIST, "size": len(lst), "digest": ld,
                                  "annotations": {"org.opencontainers.image.ref.name": "latest"}}]},
                  f)
    print(ld)


if __name__ == "__main__":
    sys.exit(main())
