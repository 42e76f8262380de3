//! The versioned noise rule set: the Windows runtime churn a real `docker build` leaves
//! in a layer that no recipe asked for (container identity, host name, RNG seeds, event
//! logs, ETL traces, user profiles), and the structural differences between two honest
//! writers of the same layer (entry order, times, compression, hive byte layout).
//!
//! Each rule has a stable id, what it matches, the *content* it admits and why that is
//! noise. The comparer asks [`judge_file`] / [`judge_registry`] about every change the
//! published image makes and the rebuilt one does not; a change no rule admits is
//! *unexplained*. A path or key match is never enough: the rule's content check must
//! pass too (file kind, magic bytes, size; value type and shape), and some things are
//! never noise whatever their path: a PE file (`MZ`), a script or executable by
//! extension, a registry hive (`regf`, but for a user's profile hive whose content holds
//! no autostart entry), anything in a Startup folder, a link, a whiteout, and any
//! Run/RunOnce/Winlogon-style autostart key or value. The human list of rules is
//! `docs/noise-rules.md`; [`RULES_VERSION`] changes whenever a rule is added, removed,
//! widened or narrowed, and every report records it.
//!
//! Paths reach here normalised by the layer reader (`wclayer::reader::normalise_name`:
//! no `..`, no backslash); matching folds case as NTFS does (`wclayer::reader::fold`).
//!
//! Patterns are hand-matched globs (`*` = any run within one path component, `**` = any
//! number of whole components, ASCII case-insensitive as Windows paths are): a glob crate
//! would bring `/` semantics and no case folding for registry paths, and the rules are few.

use crate::hive::{Hive, RootHive};
use serde::Serialize;

/// Version of the rule set below. Bump on any change to [`RULES`] or to what they admit.
pub const RULES_VERSION: &str = "3";

/// What part of an image a rule is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case", tag = "type")]
pub enum Scope {
    /// Tar entries whose path (`Files/...`) matches the glob.
    File { glob: &'static str },
    /// Registry values (or, with `value: None`, keys and every value under them) in one
    /// delta hive, the key path matching the glob.
    Registry {
        hive: RootHive,
        key: &'static str,
        value: Option<&'static str>,
    },
    /// A structural difference between two writers of the same content.
    Structure,
}

/// The content a rule admits (checked by [`judge_file`] / [`judge_registry`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Admits {
    /// Structural rules: decided by the comparer.
    Structure,
    /// Directories, and regular files of at most this many bytes whose content is none
    /// of the never-noise kinds.
    InertFile { max: u64 },
    /// An event log: `*.evtx` beginning with `ElfFile\0`.
    Evtx,
    /// A prefetch file: `*.pf`, compressed (`MAM\x04`) or plain (`SCCA` at byte 4).
    Prefetch,
    /// A registry transaction log: `*.LOG1`/`*.LOG2` empty or a `regf` log (file type
    /// 1, 2 or 6, never a primary hive); `*.blf`, `*.regtrans-ms`, `TxR` files inert.
    RegistryLog,
    /// A user profile: directories; `NTUSER.DAT` at the profile's root only when it
    /// parses as a hive holding no autostart entry; its logs as [`Admits::RegistryLog`];
    /// other inert files up to 64 MiB.
    UserProfile,
    /// REG_SZ holding a GUID (`{…}` optional).
    GuidString,
    /// REG_DWORD.
    Dword,
    /// REG_SZ host name: 1-63 letters, digits, `-`.
    HostName,
    /// REG_SZ NetBIOS computer name: 1-15 letters, digits, `-`.
    ComputerName,
    /// REG_BINARY of 1..=this many bytes.
    Binary { max: usize },
    /// REG_DWORD, REG_QWORD or REG_BINARY (≤ 4 KiB): counters, stamps, state bits.
    NumbersOrBinary,
    /// NUMBER_OF_PROCESSORS / PROCESSOR_*: REG_SZ of the documented shapes.
    ProcessorEnv,
    /// REG_MULTI_SZ naming `pagefile.sys` / `swapfile.sys` on C:.
    PageFiles,
    /// DHCP state of an interface key: `Dhcp*`, `Lease*`, `T1`, `T2`, `AddressType`,
    /// `IsServerNapAware` values (never `NameServer`, `IPAddress`, `DefaultGateway`, …).
    DhcpState,
    /// A container user's profile entry: `ProfileImagePath` equal to
    /// `C:\Users\ContainerAdministrator` (S-1-5-93-2-1) or `…\ContainerUser`
    /// (S-1-5-93-2-2), `Sid` binary, numeric `Flags`/`State`/`RefCount`/`*Time*`.
    ContainerProfile,
    /// ETW autologger state: numbers, binary, GUID strings, `*.etl` file names.
    AutologgerState,
    /// `MountedDevices`: REG_BINARY values named `\DosDevices\X:` or `\??\Volume{…}`.
    MountedDevices,
    /// Tracing settings: numbers, and `FileDirectory` = `%windir%\tracing`.
    TracingState,
    /// SQM client ids and stamps: numbers, binary, GUID strings.
    SqmState,
}

/// One noise rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Rule {
    pub id: &'static str,
    pub scope: Scope,
    pub admits: Admits,
    /// Why a real build leaves this, in one sentence.
    pub explains: &'static str,
}

const fn reg(
    id: &'static str,
    hive: RootHive,
    key: &'static str,
    value: Option<&'static str>,
    admits: Admits,
    explains: &'static str,
) -> Rule {
    Rule {
        id,
        scope: Scope::Registry { hive, key, value },
        admits,
        explains,
    }
}

const fn file(
    id: &'static str,
    glob: &'static str,
    admits: Admits,
    explains: &'static str,
) -> Rule {
    Rule {
        id,
        scope: Scope::File { glob },
        admits,
        explains,
    }
}

const fn structure(id: &'static str, explains: &'static str) -> Rule {
    Rule {
        id,
        scope: Scope::Structure,
        admits: Admits::Structure,
        explains,
    }
}

use RootHive::{Software, System};

/// Structural rule ids the comparer uses directly.
pub const ENTRY_ORDER: &str = "tar-entry-order";
pub const TIMES: &str = "tar-times";
pub const PAX_TIMES: &str = "tar-pax-times";
pub const COMPRESSION: &str = "layer-compression";
pub const HIVE_ENCODING: &str = "hive-encoding";
pub const METADATA_LAYER: &str = "metadata-layer";
pub const PARENT_DIR: &str = "noise-parent-dir";
pub const PARENT_KEY: &str = "noise-parent-key";
pub const CONFIG_TIMES: &str = "config-times";
/// PE parts two builds of one source differ in (`compare::pe`).
pub const PE_TIMESTAMP: &str = "pe-timestamp";
pub const PE_CHECKSUM: &str = "pe-checksum";
pub const PE_AUTHENTICODE: &str = "pe-authenticode";
pub const PE_DEBUG_DIRECTORY: &str = "pe-debug-directory";

const MIB: u64 = 1 << 20;

/// The rule set, version [`RULES_VERSION`].
pub const RULES: &[Rule] = &[
    // -- structure ----------------------------------------------------------------------
    structure(
        ENTRY_ORDER,
        "tar entry order differs (hcsshim walks the layer folder; other writers order differently); entries are compared by path",
    ),
    structure(
        TIMES,
        "tar entry times (mtime, LIBARCHIVE.creationtime) differ: they record when the build ran, not what it built; compared only under --strict",
    ),
    structure(
        PAX_TIMES,
        "extra or missing PAX atime/ctime records: Go adds them only when set; compared only under --strict",
    ),
    structure(
        COMPRESSION,
        "same uncompressed tar (diff_id), other gzip stream: another compressor or level",
    ),
    structure(
        HIVE_ENCODING,
        "delta hive bytes differ (cell layout, free space, timestamps, base-block fields) while the keys, values and layer semantics are the same",
    ),
    structure(
        METADATA_LAYER,
        "an empty layer (no file or registry change) for a metadata instruction (USER, ENV, ...): the classic Windows builder commits one, BuildKit does not",
    ),
    structure(
        PARENT_DIR,
        "a directory entry that exists only to hold files another rule explains",
    ),
    structure(
        PARENT_KEY,
        "a registry key created only to hold values or keys another rule explains",
    ),
    structure(
        PE_TIMESTAMP,
        "an executable's COFF TimeDateStamp differs: the linker or strip stamps the build time",
    ),
    structure(
        PE_CHECKSUM,
        "an executable's optional-header CheckSum differs: it covers the whole file and changes with any other stamp or signature",
    ),
    structure(
        PE_AUTHENTICODE,
        "an executable has another Authenticode certificate table appended at its end (a signature; the loader does not map it); the signature is not verified",
    ),
    structure(
        PE_DEBUG_DIRECTORY,
        "an executable's debug directory differs (time stamps, CodeView GUID/age, PDB path, build id): the linker writes a fresh one per build",
    ),
    structure(
        CONFIG_TIMES,
        "config differs only in creation times (created, history[].created) or history comments",
    ),
    // -- SYSTEM hive ----------------------------------------------------------------------
    reg(
        "sys-container-id",
        System,
        "ControlSet001\\Control",
        Some("ContainerId"),
        Admits::GuidString,
        "ContainerId: the identity of the build container",
    ),
    reg(
        "sys-container-type",
        System,
        "ControlSet001\\Control",
        Some("ContainerType"),
        Admits::Dword,
        "ContainerType: the kind of the build container (process / Hyper-V)",
    ),
    reg(
        "sys-computer-name",
        System,
        "ControlSet001\\Control\\ComputerName\\*",
        Some("ComputerName"),
        Admits::ComputerName,
        "the build container's random host name",
    ),
    reg(
        "sys-tcpip-hostname",
        System,
        "ControlSet001\\Services\\Tcpip\\Parameters",
        Some("*Hostname"),
        Admits::HostName,
        "Hostname / NV Hostname: the build container's random host name",
    ),
    reg(
        "sys-tcpip-interfaces",
        System,
        "ControlSet001\\Services\\Tcpip*\\Parameters\\Interfaces\\**",
        None,
        Admits::DhcpState,
        "per-interface DHCP lease state of the build container's network",
    ),
    reg(
        "sys-tcpip6-duid",
        System,
        "ControlSet001\\Services\\Tcpip6\\Parameters",
        Some("Dhcpv6DUID"),
        Admits::Binary { max: 130 },
        "DHCPv6 client id generated at first boot",
    ),
    reg(
        "sys-lsa-pid",
        System,
        "ControlSet001\\Control\\Lsa",
        Some("LsaPid"),
        Admits::Dword,
        "process id of lsass in the build container",
    ),
    reg(
        "sys-rng-seed",
        System,
        "RNG",
        Some("Seed"),
        Admits::Binary { max: 1024 },
        "kernel RNG seed saved at shutdown",
    ),
    reg(
        "sys-rng-aux-seed",
        System,
        "ControlSet001\\Control\\Session Manager\\kernel\\RNG",
        Some("RNGAuxiliarySeed"),
        Admits::Dword,
        "kernel auxiliary RNG seed saved at shutdown",
    ),
    reg(
        "sys-processor-env",
        System,
        "ControlSet001\\Control\\Session Manager\\Environment",
        Some("NUMBER_OF_PROCESSORS"),
        Admits::ProcessorEnv,
        "the build host's processor count",
    ),
    reg(
        "sys-processor-env-id",
        System,
        "ControlSet001\\Control\\Session Manager\\Environment",
        Some("PROCESSOR_{ARCHITECTURE,IDENTIFIER,LEVEL,REVISION}"),
        Admits::ProcessorEnv,
        "the build host's processor model",
    ),
    reg(
        "sys-pagefiles",
        System,
        "ControlSet001\\Control\\Session Manager\\Memory Management",
        Some("{Existing,}PageFiles"),
        Admits::PageFiles,
        "page file state of the build container",
    ),
    reg(
        "sys-shutdown-time",
        System,
        "ControlSet001\\Control\\Windows",
        Some("ShutdownTime"),
        Admits::Binary { max: 8 },
        "when the build container stopped",
    ),
    reg(
        "sys-terminal-server-instance",
        System,
        "ControlSet001\\Control\\Terminal Server",
        Some("InstanceID"),
        Admits::GuidString,
        "random session manager instance id",
    ),
    reg(
        "sys-terminal-server-lsm",
        System,
        "ControlSet001\\Control\\Terminal Server\\ClusterSettings",
        Some("LastLSMInstanceID"),
        Admits::GuidString,
        "random session manager instance id",
    ),
    reg(
        "sys-terminal-server-cert",
        System,
        "ControlSet001\\Control\\Terminal Server\\WinStations",
        Some("SelfSigned*"),
        Admits::Binary { max: 4096 },
        "self-signed certificate thumbprint generated at first boot",
    ),
    reg(
        "sys-eventlog-state",
        System,
        "ControlSet001\\Services\\EventLog\\State",
        None,
        Admits::NumbersOrBinary,
        "event log service boot/shutdown bookkeeping",
    ),
    reg(
        "sys-wmi-autologger",
        System,
        "ControlSet001\\Control\\WMI\\Autologger\\**",
        None,
        Admits::AutologgerState,
        "ETW autologger session state (ETL traces) of the build container",
    ),
    reg(
        "sys-mounted-devices",
        System,
        "MountedDevices",
        None,
        Admits::MountedDevices,
        "volume GUIDs of the build container's sandbox disk",
    ),
    reg(
        "sys-bam",
        System,
        "ControlSet001\\Services\\bam\\State\\**",
        None,
        Admits::NumbersOrBinary,
        "background activity moderator run times",
    ),
    // -- SOFTWARE hive --------------------------------------------------------------------
    reg(
        "sw-rng-seed",
        Software,
        "Microsoft\\Cryptography\\RNG",
        Some("Seed"),
        Admits::Binary { max: 1024 },
        "CNG RNG seed saved at shutdown",
    ),
    reg(
        "sw-profile-list",
        Software,
        "Microsoft\\Windows NT\\CurrentVersion\\ProfileList\\S-1-5-{18,19,20,93-2-1,93-2-2}",
        None,
        Admits::ContainerProfile,
        "the profile entries of the container users and of the system and service accounts, loaded by running a step",
    ),
    reg(
        "sw-reliability",
        Software,
        "Microsoft\\Windows\\CurrentVersion\\Reliability",
        None,
        Admits::NumbersOrBinary,
        "reliability monitor last-alive stamps",
    ),
    reg(
        "sw-sqm",
        Software,
        "Microsoft\\SQMClient\\**",
        None,
        Admits::SqmState,
        "telemetry client ids and timestamps",
    ),
    reg(
        "sw-tracing",
        Software,
        "Microsoft\\Tracing\\**",
        None,
        Admits::TracingState,
        "RAS/WPP tracing state written by services at boot",
    ),
    // -- files ----------------------------------------------------------------------------
    file(
        "file-event-logs",
        "Files/Windows/System32/winevt/Logs/*.evtx",
        Admits::Evtx,
        "event logs written while the build container ran",
    ),
    file(
        "file-etl",
        "Files/**/*.etl",
        Admits::InertFile { max: 256 * MIB },
        "ETW trace files written while the build container ran",
    ),
    file(
        "file-logfiles",
        "Files/Windows/System32/LogFiles/**",
        Admits::InertFile { max: 256 * MIB },
        "service log files (WMI, SRUM, ...) of the build container",
    ),
    file(
        "file-user-profiles",
        "Files/Users/{ContainerAdministrator,ContainerUser}/**",
        Admits::UserProfile,
        "the profile of the user a step ran as (NTUSER.DAT, AppData)",
    ),
    file(
        "file-service-profiles",
        "Files/Windows/ServiceProfiles/**",
        Admits::InertFile { max: 64 * MIB },
        "profiles of services that ran in the build container (never their hives)",
    ),
    file(
        "file-registry-logs",
        "Files/Windows/System32/config/**/*.{LOG1,LOG2,blf,regtrans-ms}",
        Admits::RegistryLog,
        "registry transaction logs",
    ),
    file(
        "file-registry-txr",
        "Files/Windows/System32/config/TxR/**",
        Admits::RegistryLog,
        "registry transaction logs",
    ),
    file(
        "file-prefetch",
        "Files/Windows/Prefetch/**",
        Admits::Prefetch,
        "prefetch traces of the programs the build container ran",
    ),
    file(
        "file-temp",
        "Files/Windows/Temp/**",
        Admits::InertFile { max: 64 * MIB },
        "temporary data files of the build container",
    ),
    file(
        "file-setup-logs",
        "Files/Windows/Logs/**",
        Admits::InertFile { max: 64 * MIB },
        "setup and servicing logs of the build container",
    ),
];

/// The rule with this id.
pub fn rule(id: &str) -> Option<&'static Rule> {
    RULES.iter().find(|r| r.id == id)
}

/// What the comparer knows about one changed tar entry of the image under test.
#[derive(Debug, Clone, Copy)]
pub struct FileFacts<'a> {
    /// Normalised path (`Files/...`).
    pub path: &'a str,
    /// `dir`, `file`, `whiteout`, `hardlink`, `symlink`, `other(N)`.
    pub kind: &'a str,
    pub size: u64,
    /// The first bytes of the content ([`HEAD`] at most).
    pub head: &'a [u8],
    /// For a profile hive ([`is_profile_hive`]): whether it parsed and held no autostart
    /// entry (`Err` names what it held).
    pub hive: Option<&'a Result<(), String>>,
}

/// How many leading content bytes [`FileFacts::head`] needs.
pub const HEAD: usize = 32;

/// The verdict on one change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Judgement {
    /// A rule admits it.
    Noise(&'static Rule),
    /// No rule admits it; `Some` says why the rule whose path matched refused it, or
    /// that the content is never noise.
    NotNoise(Option<String>),
}

impl Judgement {
    pub fn rule(&self) -> Option<&'static Rule> {
        match self {
            Judgement::Noise(r) => Some(r),
            Judgement::NotNoise(_) => None,
        }
    }
}

const SCRIPT_OR_EXE: &[&str] = &[
    "exe", "dll", "sys", "com", "scr", "cpl", "ocx", "drv", "efi", "mui", "msi", "msp", "msc",
    "cmd", "bat", "ps1", "psm1", "psd1", "ps1xml", "vbs", "vbe", "js", "jse", "wsf", "wsh", "hta",
    "lnk", "pif", "url", "reg", "inf", "sct", "jar", "py", "sh",
];

/// True when a tar path names a script or executable by its extension (the human
/// report lists such changes first).
pub fn is_script_or_exe(path: &str) -> bool {
    path.rsplit('/')
        .next()
        .unwrap_or("")
        .rsplit_once('.')
        .is_some_and(|(_, ext)| SCRIPT_OR_EXE.iter().any(|e| e.eq_ignore_ascii_case(ext)))
}

/// True when `path` is a container user's profile hive (`NTUSER.DAT` at its root).
pub fn is_profile_hive(path: &str) -> bool {
    glob_match(
        "Files/Users/{ContainerAdministrator,ContainerUser}/NTUSER.DAT",
        path,
        '/',
    )
}

/// Why this content is never noise, whatever its path (checked before any rule).
fn never_noise(f: &FileFacts) -> Option<String> {
    match f.kind {
        "file" | "dir" => {}
        "whiteout" => return Some("a deletion (whiteout) is never noise".into()),
        k => return Some(format!("a {k} entry is never noise")),
    }
    if glob_match("Files/**/Start Menu/Programs/Startup/**", f.path, '/') {
        return Some("an entry in a Startup folder is never noise".into());
    }
    if f.kind == "dir" {
        return None;
    }
    if f.head.starts_with(b"MZ") {
        return Some("a PE executable (MZ header) is never noise".into());
    }
    if let Some((_, ext)) = f.path.rsplit('/').next().unwrap_or("").rsplit_once('.')
        && SCRIPT_OR_EXE.iter().any(|e| e.eq_ignore_ascii_case(ext))
    {
        return Some(format!("a script or executable (.{ext}) is never noise"));
    }
    if f.head.starts_with(b"#!") {
        return Some("a script (#!) is never noise".into());
    }
    None
}

/// The `regf` file type at offset 28 (0 primary hive, 1/2/6 transaction logs).
fn regf_type(head: &[u8]) -> Option<u32> {
    if head.starts_with(b"regf") && head.len() >= 32 {
        Some(u32::from_le_bytes([head[28], head[29], head[30], head[31]]))
    } else if head.starts_with(b"regf") {
        Some(0)
    } else {
        None
    }
}

fn ext_is(path: &str, exts: &[&str]) -> bool {
    let name = path.rsplit('/').next().unwrap_or("");
    name.rsplit_once('.')
        .is_some_and(|(_, e)| exts.iter().any(|x| x.eq_ignore_ascii_case(e)))
}

fn is_hive_log(f: &FileFacts) -> Result<(), String> {
    if ext_is(f.path, &["LOG1", "LOG2", "LOG"]) {
        return match regf_type(f.head) {
            _ if f.size == 0 => Ok(()),
            Some(1 | 2 | 6) => Ok(()),
            Some(t) => Err(format!(
                "a registry hive (regf file type {t}) named as a log is never noise"
            )),
            None => Err("a registry log that is neither empty nor a regf log".into()),
        };
    }
    if regf_type(f.head).is_some() {
        return Err("a registry hive (regf) is never noise".into());
    }
    Ok(())
}

fn check_file(a: Admits, f: &FileFacts) -> Result<(), String> {
    if f.kind == "dir" {
        return Ok(());
    }
    let inert = |max: u64| {
        if f.size > max {
            return Err(format!(
                "{} bytes is over the rule's {max}-byte limit",
                f.size
            ));
        }
        if regf_type(f.head).is_some() {
            return Err("a registry hive (regf) is never noise".into());
        }
        Ok(())
    };
    match a {
        Admits::InertFile { max } => inert(max),
        Admits::Evtx => {
            if !f.head.starts_with(b"ElfFile\0") {
                return Err("not an event log (no ElfFile header)".into());
            }
            inert(1 << 30)
        }
        Admits::Prefetch => {
            let pf = ext_is(f.path, &["pf"])
                && (f.head.starts_with(b"MAM\x04")
                    || f.head.get(4..8).is_some_and(|m| m == b"SCCA"));
            let other_ok = ext_is(f.path, &["db", "ini"]);
            if !pf && !other_ok {
                return Err("not a prefetch file (*.pf with a MAM or SCCA header)".into());
            }
            inert(64 * MIB)
        }
        Admits::RegistryLog => {
            is_hive_log(f)?;
            if f.size > 64 * MIB {
                return Err(format!("{} bytes is over the 64 MiB limit", f.size));
            }
            Ok(())
        }
        Admits::UserProfile => {
            if is_profile_hive(f.path) {
                return match f.hive {
                    Some(Ok(())) => Ok(()),
                    Some(Err(e)) => Err(format!("profile hive: {e}")),
                    None => Err("profile hive not checked".into()),
                };
            }
            is_hive_log(f)?;
            inert(64 * MIB)
        }
        _ => Err("a file is not what this rule admits".into()),
    }
}

/// Judge a changed tar entry of the image under test: never-noise content first, then
/// the first rule whose glob matches, with its content check.
pub fn judge_file(f: &FileFacts) -> Judgement {
    if let Some(why) = never_noise(f) {
        return Judgement::NotNoise(Some(why));
    }
    let mut refusal = None;
    for r in RULES {
        let Scope::File { glob } = r.scope else {
            continue;
        };
        if !glob_match(glob, f.path, '/') {
            continue;
        }
        match check_file(r.admits, f) {
            Ok(()) => return Judgement::Noise(r),
            Err(e) => {
                refusal.get_or_insert_with(|| format!("{}: {e}", r.id));
            }
        }
    }
    Judgement::NotNoise(refusal)
}

/// The first rule whose glob matches `path`, content unchecked (for a changed field of
/// an entry both sides have: e.g. another security descriptor on a noise file).
pub fn explain_file(path: &str) -> Option<&'static Rule> {
    RULES.iter().find(|r| match r.scope {
        Scope::File { glob } => glob_match(glob, path, '/'),
        _ => false,
    })
}

/// Keys and values that start programs or redirect them: never noise, in any hive
/// (`"*"`: every value of the key, and creating the key).
const AUTOSTART: &[(&str, &str)] = &[
    ("**\\Microsoft\\Windows\\CurrentVersion\\Run*", "*"),
    ("**\\Microsoft\\Windows\\CurrentVersion\\Run*\\**", "*"),
    ("**\\Policies\\Explorer\\Run", "*"),
    ("**\\Policies\\System", "{Shell,Userinit}"),
    (
        "**\\Microsoft\\Windows NT\\CurrentVersion\\Winlogon",
        "{Shell,Userinit,Taskman,AppSetup}",
    ),
    (
        "**\\Microsoft\\Windows NT\\CurrentVersion\\Windows",
        "{load,run,AppInit_DLLs}",
    ),
    (
        "**\\Microsoft\\Windows NT\\CurrentVersion\\Image File Execution Options\\**",
        "*",
    ),
    ("**\\Microsoft\\Command Processor", "AutoRun"),
    (
        "**\\Explorer\\{Shell Folders,User Shell Folders}",
        "{Startup,Common Startup}",
    ),
    (
        "**\\Classes\\**\\{InprocServer32,LocalServer32,command}",
        "*",
    ),
    ("Environment", "{UserInitMprLogonScript,Path}"),
    (
        "**\\Control\\Session Manager",
        "{BootExecute,SetupExecute,Execute}",
    ),
    ("**\\Control\\Session Manager\\Environment", "Path"),
    ("**\\Services\\*", "{ImagePath,ServiceDll}"),
    ("**\\Services\\*\\Parameters", "ServiceDll"),
];

/// Why a registry key/value is an autostart location, if it is one.
pub fn autostart(path: &str, value: Option<&str>) -> Option<String> {
    for (k, v) in AUTOSTART {
        let hit = glob_match(k, path, '\\')
            && match value {
                Some(n) => glob_one(v, n),
                None => *v == "*",
            };
        if hit {
            return Some(format!(
                "{path}{} is an autostart location, never noise",
                value.map(|n| format!(" value {n:?}")).unwrap_or_default()
            ));
        }
    }
    None
}

/// Scan a parsed profile hive for autostart entries (iteratively: depth is attacker's).
pub fn hive_autostart(h: &Hive) -> Result<(), String> {
    let mut stack: Vec<(String, &crate::hive::Key)> =
        h.root.subkeys.iter().map(|k| (k.name.clone(), k)).collect();
    while let Some((path, k)) = stack.pop() {
        for v in &k.values {
            if let Some(why) = autostart(&path, Some(&v.name)) {
                return Err(why);
            }
        }
        for s in &k.subkeys {
            stack.push((format!("{path}\\{}", s.name), s));
        }
    }
    Ok(())
}

fn utf16_str(data: &[u8]) -> Option<String> {
    if !data.len().is_multiple_of(2) {
        return None;
    }
    let units: Vec<u16> = data
        .chunks_exact(2)
        .map(|c| u16::from_le_bytes([c[0], c[1]]))
        .collect();
    let units = match units.iter().position(|&u| u == 0) {
        Some(n) if units[n..].iter().all(|&u| u == 0) => &units[..n],
        Some(_) => return None,
        None => &units[..],
    };
    String::from_utf16(units).ok()
}

fn utf16_multi(data: &[u8]) -> Option<Vec<String>> {
    if !data.len().is_multiple_of(2) {
        return None;
    }
    let units: Vec<u16> = data
        .chunks_exact(2)
        .map(|c| u16::from_le_bytes([c[0], c[1]]))
        .collect();
    let mut out = Vec::new();
    for part in units.split(|&u| u == 0) {
        if !part.is_empty() {
            out.push(String::from_utf16(part).ok()?);
        }
    }
    Some(out)
}

fn is_guid(s: &str) -> bool {
    let s = s
        .strip_prefix('{')
        .and_then(|x| x.strip_suffix('}'))
        .unwrap_or(s);
    let groups: Vec<&str> = s.split('-').collect();
    groups.len() == 5
        && groups
            .iter()
            .zip([8, 4, 4, 4, 12])
            .all(|(g, n)| g.len() == n && g.bytes().all(|b| b.is_ascii_hexdigit()))
}

const REG_SZ: u32 = 1;
const REG_EXPAND_SZ: u32 = 2;
const REG_BINARY: u32 = 3;
const REG_DWORD: u32 = 4;
const REG_MULTI_SZ: u32 = 7;
const REG_QWORD: u32 = 11;

fn sz(kind: u32, data: &[u8]) -> Result<String, String> {
    if kind != REG_SZ && kind != REG_EXPAND_SZ {
        return Err(format!("type {kind} where a string was expected"));
    }
    utf16_str(data).ok_or_else(|| "not a well-formed UTF-16 string".into())
}

fn numbers_or_binary(kind: u32, data: &[u8]) -> Result<(), String> {
    match kind {
        REG_DWORD if data.len() == 4 => Ok(()),
        REG_QWORD if data.len() == 8 => Ok(()),
        REG_BINARY if data.len() <= 4096 => Ok(()),
        _ => Err(format!(
            "type {kind} with {} bytes is not a number or small binary",
            data.len()
        )),
    }
}

fn name_chars(s: &str, max: usize) -> bool {
    !s.is_empty() && s.len() <= max && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
}

/// Check a registry value the rule's key matched.
fn check_value(a: Admits, path: &str, name: &str, kind: u32, data: &[u8]) -> Result<(), String> {
    let dword = || {
        if kind == REG_DWORD && data.len() == 4 {
            Ok(())
        } else {
            Err(format!(
                "type {kind} with {} bytes is not a REG_DWORD",
                data.len()
            ))
        }
    };
    match a {
        Admits::Dword => dword(),
        Admits::GuidString => {
            let s = sz(kind, data)?;
            if is_guid(&s) {
                Ok(())
            } else {
                Err(format!("{s:?} is not a GUID"))
            }
        }
        Admits::HostName | Admits::ComputerName => {
            let s = sz(kind, data)?;
            let max = if a == Admits::HostName { 63 } else { 15 };
            if name_chars(&s, max) {
                Ok(())
            } else {
                Err(format!("{s:?} is not a host name"))
            }
        }
        Admits::Binary { max } => {
            if kind == REG_BINARY && !data.is_empty() && data.len() <= max {
                Ok(())
            } else {
                Err(format!(
                    "type {kind} with {} bytes is not REG_BINARY of 1..={max} bytes",
                    data.len()
                ))
            }
        }
        Admits::NumbersOrBinary => numbers_or_binary(kind, data),
        Admits::ProcessorEnv => {
            let s = sz(kind, data)?;
            let ok = match name.to_ascii_uppercase().as_str() {
                "NUMBER_OF_PROCESSORS" | "PROCESSOR_LEVEL" => {
                    !s.is_empty() && s.len() <= 4 && s.bytes().all(|b| b.is_ascii_digit())
                }
                "PROCESSOR_REVISION" => {
                    !s.is_empty() && s.len() <= 8 && s.bytes().all(|b| b.is_ascii_hexdigit())
                }
                "PROCESSOR_ARCHITECTURE" => ["AMD64", "x86", "ARM64"]
                    .iter()
                    .any(|x| x.eq_ignore_ascii_case(&s)),
                "PROCESSOR_IDENTIFIER" => {
                    s.len() <= 128
                        && s.bytes().all(|b| {
                            b.is_ascii_alphanumeric() || matches!(b, b' ' | b',' | b'-' | b'_')
                        })
                }
                _ => false,
            };
            if ok {
                Ok(())
            } else {
                Err(format!("{s:?} is not a processor description"))
            }
        }
        Admits::PageFiles => {
            if kind != REG_MULTI_SZ {
                return Err(format!("type {kind} is not REG_MULTI_SZ"));
            }
            let items = utf16_multi(data).ok_or("not a well-formed REG_MULTI_SZ")?;
            for it in &items {
                let path = it.split(' ').next().unwrap_or("");
                let p = path.strip_prefix("\\??\\").unwrap_or(path);
                let ok = p.len() > 3
                    && p[..3].eq_ignore_ascii_case("C:\\")
                    && ["pagefile.sys", "swapfile.sys"]
                        .iter()
                        .any(|f| p[3..].eq_ignore_ascii_case(f))
                    || p.starts_with("?:\\") && p[3..].eq_ignore_ascii_case("pagefile.sys");
                if !ok {
                    return Err(format!("{it:?} is not a page file on C:"));
                }
            }
            Ok(())
        }
        Admits::DhcpState => {
            let ok_name = glob_one("{Dhcp*,Lease*,T1,T2,AddressType,IsServerNapAware}", name);
            if !ok_name {
                return Err(format!(
                    "value {name:?} is interface configuration, not DHCP lease state"
                ));
            }
            match kind {
                REG_DWORD | REG_QWORD | REG_BINARY if data.len() <= 4096 => Ok(()),
                REG_SZ | REG_MULTI_SZ if data.len() <= 4096 => Ok(()),
                _ => Err(format!("type {kind} with {} bytes", data.len())),
            }
        }
        Admits::ContainerProfile => {
            if name.eq_ignore_ascii_case("ProfileImagePath") {
                let s = sz(kind, data)?;
                let sid = path.rsplit('\\').next().unwrap_or("");
                let defaults = default_profile_paths(sid);
                return if defaults.iter().any(|x| x.eq_ignore_ascii_case(&s)) {
                    Ok(())
                } else {
                    Err(format!(
                        "ProfileImagePath {s:?} is not the default profile path {}",
                        defaults.first().map_or("(none)", |d| d.as_str())
                    ))
                };
            }
            if name.eq_ignore_ascii_case("Sid") {
                return if kind == REG_BINARY && data.len() <= 68 {
                    Ok(())
                } else {
                    Err("Sid is not a binary SID".into())
                };
            }
            if glob_one(
                "{Flags,State,RefCount,FullProfile,RunLogonScriptSync,*Time*}",
                name,
            ) {
                return numbers_or_binary(kind, data);
            }
            Err(format!("value {name:?} is not part of a profile entry"))
        }
        Admits::AutologgerState => {
            if numbers_or_binary(kind, data).is_ok() {
                return Ok(());
            }
            let s = sz(kind, data)?;
            if is_guid(&s) || s.to_ascii_lowercase().ends_with(".etl") {
                Ok(())
            } else {
                Err(format!("{s:?} is neither a GUID nor an .etl file name"))
            }
        }
        Admits::MountedDevices => {
            let ok_name = glob_one("\\DosDevices\\?:", name)
                || (name.starts_with("\\??\\Volume{") && name.ends_with('}'));
            if ok_name && kind == REG_BINARY && data.len() <= 1024 {
                Ok(())
            } else {
                Err(format!("{name:?} is not a mounted device entry"))
            }
        }
        Admits::TracingState => {
            if name.eq_ignore_ascii_case("FileDirectory") {
                let s = sz(kind, data)?;
                return if s.eq_ignore_ascii_case("%windir%\\tracing") {
                    Ok(())
                } else {
                    Err(format!("FileDirectory {s:?} is not %windir%\\tracing"))
                };
            }
            match kind {
                REG_DWORD if data.len() == 4 => Ok(()),
                REG_QWORD if data.len() == 8 => Ok(()),
                _ => Err(format!("type {kind} is not a number")),
            }
        }
        Admits::SqmState => {
            if numbers_or_binary(kind, data).is_ok() {
                return Ok(());
            }
            let s = sz(kind, data)?;
            if is_guid(&s) {
                Ok(())
            } else {
                Err(format!("{s:?} is not a GUID"))
            }
        }
        _ => Err("not a registry rule".into()),
    }
}

/// The default `ProfileImagePath` of a well-known profile SID (as Windows writes it,
/// first; then the equivalent spellings).
fn default_profile_paths(sid: &str) -> Vec<String> {
    let user = |u: &str| {
        vec![
            format!("C:\\Users\\{u}"),
            format!("%SystemDrive%\\Users\\{u}"),
        ]
    };
    let sys = |p: &str| vec![format!("%systemroot%\\{p}"), format!("C:\\Windows\\{p}")];
    match sid.to_ascii_uppercase().as_str() {
        "S-1-5-93-2-1" => user("ContainerAdministrator"),
        "S-1-5-93-2-2" => user("ContainerUser"),
        "S-1-5-18" => sys("system32\\config\\systemprofile"),
        "S-1-5-19" => sys("ServiceProfiles\\LocalService"),
        "S-1-5-20" => sys("ServiceProfiles\\NetworkService"),
        _ => Vec::new(),
    }
}

/// A registry change of the image under test, as [`judge_registry`] sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RegChange<'a> {
    KeyCreated,
    KeyDeleted,
    ValueSet { kind: u32, data: &'a [u8] },
    ValueDeleted,
}

/// Judge a registry change in `hive` at key `path` (relative to the hive root), of value
/// `value` (`None`: the key itself).
pub fn judge_registry(
    hive: RootHive,
    path: &str,
    value: Option<&str>,
    change: RegChange,
) -> Judgement {
    if let Some(why) = autostart(path, value) {
        return Judgement::NotNoise(Some(why));
    }
    let mut refusal = None;
    for r in RULES {
        let Scope::Registry {
            hive: h,
            key,
            value: v,
        } = r.scope
        else {
            continue;
        };
        if h != hive {
            continue;
        }
        let key_match = glob_match(key, path, '\\');
        let under = key_match || glob_match(&format!("{key}\\**"), path, '\\');
        let hit = match (v, value) {
            // A key-level rule covers the key, its values and its subtree.
            (None, _) => under,
            (Some(vg), Some(n)) => key_match && glob_one(vg, n),
            (Some(_), None) => false,
        };
        if !hit {
            continue;
        }
        let checked = match (change, value) {
            (RegChange::KeyCreated, _) | (RegChange::ValueDeleted, _) => Ok(()),
            (RegChange::KeyDeleted, _) => Err("a deleted key is never noise".to_string()),
            (RegChange::ValueSet { kind, data }, Some(n)) => {
                check_value(r.admits, path, n, kind, data)
            }
            (RegChange::ValueSet { .. }, None) => Err("a value without a name".into()),
        };
        match checked {
            Ok(()) => return Judgement::Noise(r),
            Err(e) => {
                refusal.get_or_insert_with(|| format!("{}: {e}", r.id));
            }
        }
    }
    Judgement::NotNoise(refusal)
}

/// Component-wise glob match (`**` = zero or more components), case folded as NTFS.
pub fn glob_match(pattern: &str, path: &str, sep: char) -> bool {
    let p: Vec<&str> = pattern.split(sep).filter(|s| !s.is_empty()).collect();
    let s: Vec<&str> = path.split(sep).filter(|s| !s.is_empty()).collect();
    match_parts(&p, &s)
}

fn match_parts(p: &[&str], s: &[&str]) -> bool {
    match p.split_first() {
        None => s.is_empty(),
        Some((&"**", rest)) => (0..=s.len()).any(|i| match_parts(rest, &s[i..])),
        Some((first, rest)) => match s.split_first() {
            Some((c, srest)) => glob_one(first, c) && match_parts(rest, srest),
            None => false,
        },
    }
}

/// One component: `*` any run, `?` one character, `{a,b}` alternatives; case folded with
/// the NTFS/registry upcase table (`hive::model::upcase_unit`).
fn glob_one(pattern: &str, s: &str) -> bool {
    if let Some(open) = pattern.find('{')
        && let Some(close_rel) = pattern[open..].find('}')
    {
        let close = open + close_rel;
        let (pre, post) = (&pattern[..open], &pattern[close + 1..]);
        return pattern[open + 1..close]
            .split(',')
            .any(|alt| glob_one(&format!("{pre}{alt}{post}"), s));
    }
    let fold = |x: &str| -> Vec<u16> {
        x.encode_utf16()
            .map(crate::hive::model::upcase_unit)
            .collect()
    };
    let (p, t) = (fold(pattern), fold(s));
    let star = b'*' as u16;
    let any = b'?' as u16;
    // Classic two-pointer wildcard match with backtracking to the last '*'.
    let (mut i, mut j) = (0usize, 0usize);
    let mut back: Option<(usize, usize)> = None;
    while j < t.len() {
        if i < p.len() && p[i] == star {
            back = Some((i, j));
            i += 1;
        } else if i < p.len() && (p[i] == t[j] || p[i] == any) {
            i += 1;
            j += 1;
        } else if let Some((si, sj)) = back {
            i = si + 1;
            j = sj + 1;
            back = Some((si, sj + 1));
        } else {
            return false;
        }
    }
    while i < p.len() && p[i] == star {
        i += 1;
    }
    i == p.len()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_unique_and_structural_ids_exist() {
        let mut ids: Vec<&str> = RULES.iter().map(|r| r.id).collect();
        ids.sort();
        let n = ids.len();
        ids.dedup();
        assert_eq!(ids.len(), n, "duplicate rule id");
        for id in [
            ENTRY_ORDER,
            TIMES,
            PAX_TIMES,
            COMPRESSION,
            HIVE_ENCODING,
            METADATA_LAYER,
            PARENT_DIR,
            PARENT_KEY,
            CONFIG_TIMES,
        ] {
            assert!(rule(id).is_some(), "{id}");
        }
    }

    #[test]
    fn every_rule_is_documented() {
        let doc = include_str!("../../docs/noise-rules.md");
        assert!(doc.starts_with(&format!("# Noise rules (version {RULES_VERSION})")));
        for r in RULES {
            assert!(
                doc.contains(&format!("`{}`", r.id)),
                "{} not in docs/noise-rules.md",
                r.id
            );
        }
    }

    #[test]
    fn globs() {
        assert!(glob_match("Files/**/*.etl", "Files/a/b/c.ETL", '/'));
        assert!(glob_match("Files/**/*.etl", "Files/c.etl", '/'));
        assert!(!glob_match("Files/**/*.etl", "Files/c.etlx", '/'));
        assert!(glob_match(
            "Files/Users/{ContainerAdministrator,ContainerUser}/**",
            "Files/Users/containeruser/x",
            '/'
        ));
        assert!(!glob_match(
            "Files/Users/{ContainerAdministrator,ContainerUser}/**",
            "Files/Users/ContainerEvil/x",
            '/'
        ));
        assert!(glob_match(
            "Files/Windows/{Prefetch,Temp}/**",
            "Files/Windows/temp/a",
            '/'
        ));
        assert!(!glob_match(
            "Files/Windows/{Prefetch,Temp}/**",
            "Files/Windows/System32/a",
            '/'
        ));
        assert!(glob_one("a*b*c", "aXXbYc"));
        assert!(!glob_one("a*b*c", "aXXbYd"));
        // NTFS folding, not Unicode's: the Kelvin sign is not K.
        assert!(!glob_one("k", "\u{212A}"));
        assert!(glob_one("\\DosDevices\\?:", "\\DosDevices\\C:"));
    }

    fn f<'a>(path: &'a str, head: &'a [u8]) -> FileFacts<'a> {
        FileFacts {
            path,
            kind: "file",
            size: head.len() as u64,
            head,
            hive: None,
        }
    }

    fn noise_id(j: Judgement) -> Option<&'static str> {
        j.rule().map(|r| r.id)
    }

    #[test]
    fn file_rules_check_content() {
        assert_eq!(
            noise_id(judge_file(&f(
                "Files/Windows/System32/winevt/Logs/Application.evtx",
                b"ElfFile\0xxxx"
            ))),
            Some("file-event-logs")
        );
        // An event log path with other content is not noise.
        assert_eq!(
            noise_id(judge_file(&f(
                "Files/Windows/System32/winevt/Logs/Application.evtx",
                b"hello"
            ))),
            None
        );
        // Never noise whatever the path.
        for (p, h) in [
            ("Files/Windows/Temp/evil.exe", &b"MZ\x90\0"[..]),
            ("Files/Windows/Temp/evil.bin", b"MZ\x90\0"),
            ("Files/Windows/Temp/x.cmd", b"@echo off"),
            ("Files/Windows/Logs/x.PS1", b"iex"),
            (
                "Files/Windows/ServiceProfiles/LocalService/NTUSER.DAT",
                b"regf",
            ),
            (
                "Files/Users/ContainerUser/AppData/Roaming/Microsoft/Windows/Start Menu/Programs/Startup/a.txt",
                b"x",
            ),
            (
                "Files/Windows/System32/config/SOFTWARE.LOG1",
                b"regf\0\0\0\0",
            ),
        ] {
            let j = judge_file(&f(p, h));
            assert!(matches!(j, Judgement::NotNoise(Some(_))), "{p}: {j:?}");
        }
        let mut ok = f("Files/Windows/Temp/data.tmp", b"just data");
        assert_eq!(noise_id(judge_file(&ok)), Some("file-temp"));
        ok.kind = "symlink";
        assert_eq!(noise_id(judge_file(&ok)), None);
        assert_eq!(
            noise_id(judge_file(&f(
                "Files/Windows/Prefetch/CMD.EXE-1234.pf",
                b"MAM\x04zz"
            ))),
            Some("file-prefetch")
        );
        assert_eq!(
            noise_id(judge_file(&f("Files/Windows/Prefetch/x.pf", b"zzzzzz"))),
            None
        );
        let mut log = [0u8; 32];
        log[..4].copy_from_slice(b"regf");
        log[28] = 2;
        assert_eq!(
            noise_id(judge_file(&f(
                "Files/Windows/System32/config/SOFTWARE.LOG1",
                &log
            ))),
            Some("file-registry-logs")
        );
        // The profile hive only with its content check passed.
        let mut h = f("Files/Users/ContainerAdministrator/NTUSER.DAT", b"regf");
        assert_eq!(noise_id(judge_file(&h)), None);
        let good = Ok(());
        h.hive = Some(&good);
        assert_eq!(noise_id(judge_file(&h)), Some("file-user-profiles"));
        let bad = Err("Run".to_string());
        h.hive = Some(&bad);
        assert_eq!(noise_id(judge_file(&h)), None);
        assert!(explain_file("Files/tools/keylight.reg").is_none());
    }

    fn sz(s: &str) -> Vec<u8> {
        s.encode_utf16()
            .chain([0])
            .flat_map(|u| u.to_le_bytes())
            .collect()
    }

    fn set<'a>(kind: u32, data: &'a [u8]) -> RegChange<'a> {
        RegChange::ValueSet { kind, data }
    }

    #[test]
    fn registry_rules_check_values() {
        let guid = sz("A9AB3D85-47B5-56F9-8205-B04A5D26B08B");
        let j = judge_registry(
            System,
            "ControlSet001\\Control",
            Some("ContainerId"),
            set(1, &guid),
        );
        assert_eq!(noise_id(j), Some("sys-container-id"));
        let j = judge_registry(
            System,
            "ControlSet001\\Control",
            Some("ContainerId"),
            set(1, &sz("cmd /c evil")),
        );
        assert!(matches!(j, Judgement::NotNoise(Some(_))), "{j:?}");
        let j = judge_registry(
            System,
            "controlset001\\control\\lsa",
            Some("LsaPid"),
            set(4, &[1, 2, 3, 4]),
        );
        assert_eq!(noise_id(j), Some("sys-lsa-pid"));
        // Not noise: the recipe's own edits and neighbours of noise.
        let d = [1, 0, 0, 0];
        assert_eq!(
            noise_id(judge_registry(
                System,
                "ControlSet001\\Control\\Lsa",
                Some("ProductType"),
                set(4, &d)
            )),
            None
        );
        assert_eq!(
            noise_id(judge_registry(
                System,
                "ControlSet001\\Services\\DiagTrack",
                None,
                RegChange::KeyCreated
            )),
            None
        );
        // DHCP state yes, a static DNS server no.
        let ifk = "ControlSet001\\Services\\Tcpip\\Parameters\\Interfaces\\{4b3d0a56-1111-2222-3333-444455556666}";
        assert_eq!(
            noise_id(judge_registry(
                System,
                ifk,
                Some("DhcpIPAddress"),
                set(1, &sz("10.0.0.5"))
            )),
            Some("sys-tcpip-interfaces")
        );
        assert_eq!(
            noise_id(judge_registry(
                System,
                ifk,
                Some("NameServer"),
                set(1, &sz("6.6.6.6"))
            )),
            None
        );
        // Profile list: only the default profile path of a container user.
        let pk = "Microsoft\\Windows NT\\CurrentVersion\\ProfileList\\S-1-5-93-2-1";
        assert_eq!(
            noise_id(judge_registry(
                Software,
                pk,
                Some("ProfileImagePath"),
                set(2, &sz("C:\\Users\\ContainerAdministrator"))
            )),
            Some("sw-profile-list")
        );
        assert_eq!(
            noise_id(judge_registry(
                Software,
                pk,
                Some("ProfileImagePath"),
                set(2, &sz("C:\\Windows\\System32"))
            )),
            None
        );
        assert_eq!(
            noise_id(judge_registry(Software, pk, None, RegChange::KeyCreated)),
            Some("sw-profile-list")
        );
        let lk = "Microsoft\\Windows NT\\CurrentVersion\\ProfileList\\S-1-5-19";
        assert_eq!(
            noise_id(judge_registry(
                Software,
                lk,
                Some("ProfileImagePath"),
                set(2, &sz("%systemroot%\\ServiceProfiles\\LocalService"))
            )),
            Some("sw-profile-list")
        );
        assert_eq!(
            noise_id(judge_registry(
                Software,
                lk,
                Some("ProfileImagePath"),
                set(2, &sz("C:\\Users\\ContainerUser"))
            )),
            None
        );
        let other = "Microsoft\\Windows NT\\CurrentVersion\\ProfileList\\S-1-5-21-1-2-3-500";
        assert_eq!(
            noise_id(judge_registry(Software, other, None, RegChange::KeyCreated)),
            None
        );
        // Autostart keys are never noise.
        let j = judge_registry(
            Software,
            "Microsoft\\Windows\\CurrentVersion\\Run",
            Some("x"),
            set(1, &sz("C:\\x.exe")),
        );
        assert!(matches!(j, Judgement::NotNoise(Some(_))), "{j:?}");
        assert!(
            judge_registry(System, "MountedDevices", None, RegChange::KeyCreated)
                .rule()
                .is_some()
        );
        assert!(
            judge_registry(System, "MountedDevices", None, RegChange::KeyDeleted)
                .rule()
                .is_none()
        );
    }
}
