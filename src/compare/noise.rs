//! The versioned noise rule set: the Windows runtime churn a real `docker build` leaves
//! in a layer that no recipe asked for (container identity, host name, RNG seeds, event
//! logs, ETL traces, user profiles), and the structural differences between two honest
//! writers of the same layer (entry order, times, compression, hive byte layout).
//!
//! Each rule has a stable id, what it matches and why that is noise. The comparer asks
//! [`explain_file`] / [`explain_registry`] about every change the published image makes
//! and the rebuilt one does not; a change no rule explains is *unexplained*. The human
//! list of rules is `docs/noise-rules.md`; [`RULES_VERSION`] changes whenever a rule is
//! added, removed or widened, and every report records it.
//!
//! Patterns are hand-matched globs (`*` = any run within one path component, `**` = any
//! number of whole components, ASCII case-insensitive as Windows paths are): a glob crate
//! would bring `/` semantics and no case folding for registry paths, and the rules are few.

use crate::hive::RootHive;
use serde::Serialize;

/// Version of the rule set below. Bump on any change to [`RULES`].
pub const RULES_VERSION: &str = "2";

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

/// One noise rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Rule {
    pub id: &'static str,
    pub scope: Scope,
    /// Why a real build leaves this, in one sentence.
    pub explains: &'static str,
}

const fn reg(
    id: &'static str,
    hive: RootHive,
    key: &'static str,
    value: Option<&'static str>,
    explains: &'static str,
) -> Rule {
    Rule {
        id,
        scope: Scope::Registry { hive, key, value },
        explains,
    }
}

const fn file(id: &'static str, glob: &'static str, explains: &'static str) -> Rule {
    Rule {
        id,
        scope: Scope::File { glob },
        explains,
    }
}

const fn structure(id: &'static str, explains: &'static str) -> Rule {
    Rule {
        id,
        scope: Scope::Structure,
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
        Some("Container*"),
        "ContainerId / ContainerType: the identity of the build container",
    ),
    reg(
        "sys-computer-name",
        System,
        "ControlSet001\\Control\\ComputerName\\*",
        Some("ComputerName"),
        "the build container's random host name",
    ),
    reg(
        "sys-tcpip-hostname",
        System,
        "ControlSet001\\Services\\Tcpip\\Parameters",
        Some("*Hostname"),
        "Hostname / NV Hostname: the build container's random host name",
    ),
    reg(
        "sys-tcpip-interfaces",
        System,
        "ControlSet001\\Services\\Tcpip*\\Parameters\\Interfaces\\**",
        None,
        "per-interface DHCP and address state of the build container's network",
    ),
    reg(
        "sys-tcpip6-duid",
        System,
        "ControlSet001\\Services\\Tcpip6\\Parameters",
        Some("Dhcpv6DUID"),
        "DHCPv6 client id generated at first boot",
    ),
    reg(
        "sys-lsa-pid",
        System,
        "ControlSet001\\Control\\Lsa",
        Some("LsaPid"),
        "process id of lsass in the build container",
    ),
    reg(
        "sys-rng-seed",
        System,
        "RNG",
        Some("Seed"),
        "kernel RNG seed saved at shutdown",
    ),
    reg(
        "sys-rng-aux-seed",
        System,
        "ControlSet001\\Control\\Session Manager\\kernel\\RNG",
        Some("RNGAuxiliarySeed"),
        "kernel auxiliary RNG seed saved at shutdown",
    ),
    reg(
        "sys-processor-env",
        System,
        "ControlSet001\\Control\\Session Manager\\Environment",
        Some("NUMBER_OF_PROCESSORS"),
        "the build host's processor count",
    ),
    reg(
        "sys-processor-env-id",
        System,
        "ControlSet001\\Control\\Session Manager\\Environment",
        Some("PROCESSOR_*"),
        "the build host's processor model",
    ),
    reg(
        "sys-pagefiles",
        System,
        "ControlSet001\\Control\\Session Manager\\Memory Management",
        Some("*PageFiles"),
        "page file state of the build container",
    ),
    reg(
        "sys-shutdown-time",
        System,
        "ControlSet001\\Control\\Windows",
        Some("ShutdownTime"),
        "when the build container stopped",
    ),
    reg(
        "sys-terminal-server-instance",
        System,
        "ControlSet001\\Control\\Terminal Server",
        Some("InstanceID"),
        "random session manager instance id",
    ),
    reg(
        "sys-terminal-server-lsm",
        System,
        "ControlSet001\\Control\\Terminal Server\\ClusterSettings",
        Some("LastLSMInstanceID"),
        "random session manager instance id",
    ),
    reg(
        "sys-terminal-server-cert",
        System,
        "ControlSet001\\Control\\Terminal Server\\WinStations",
        Some("SelfSigned*"),
        "self-signed certificate thumbprint generated at first boot",
    ),
    reg(
        "sys-eventlog-state",
        System,
        "ControlSet001\\Services\\EventLog\\State",
        None,
        "event log service boot/shutdown bookkeeping",
    ),
    reg(
        "sys-wmi-autologger",
        System,
        "ControlSet001\\Control\\WMI\\Autologger\\**",
        None,
        "ETW autologger session state (ETL traces) of the build container",
    ),
    reg(
        "sys-mounted-devices",
        System,
        "MountedDevices",
        None,
        "volume GUIDs of the build container's sandbox disk",
    ),
    reg(
        "sys-bam",
        System,
        "ControlSet001\\Services\\bam\\State\\**",
        None,
        "background activity moderator run times",
    ),
    // -- SOFTWARE hive --------------------------------------------------------------------
    reg(
        "sw-rng-seed",
        Software,
        "Microsoft\\Cryptography\\RNG",
        Some("Seed"),
        "CNG RNG seed saved at shutdown",
    ),
    reg(
        "sw-profile-list",
        Software,
        "Microsoft\\Windows NT\\CurrentVersion\\ProfileList\\**",
        None,
        "user profiles (ContainerAdministrator, ContainerUser) created by running a step",
    ),
    reg(
        "sw-reliability",
        Software,
        "Microsoft\\Windows\\CurrentVersion\\Reliability",
        None,
        "reliability monitor last-alive stamps",
    ),
    reg(
        "sw-sqm",
        Software,
        "Microsoft\\SQMClient\\**",
        None,
        "telemetry client ids and timestamps",
    ),
    reg(
        "sw-tracing",
        Software,
        "Microsoft\\Tracing\\**",
        None,
        "RAS/WPP tracing state written by services at boot",
    ),
    // -- files ----------------------------------------------------------------------------
    file(
        "file-event-logs",
        "Files/Windows/System32/winevt/Logs/*.evtx",
        "event logs written while the build container ran",
    ),
    file(
        "file-etl",
        "Files/**/*.etl",
        "ETW trace files written while the build container ran",
    ),
    file(
        "file-logfiles",
        "Files/Windows/System32/LogFiles/**",
        "service log files (WMI, SRUM, ...) of the build container",
    ),
    file(
        "file-user-profiles",
        "Files/Users/Container*/**",
        "the profile of the user a step ran as (NTUSER.DAT, AppData)",
    ),
    file(
        "file-service-profiles",
        "Files/Windows/ServiceProfiles/**",
        "profiles of services that ran in the build container",
    ),
    file(
        "file-registry-logs",
        "Files/Windows/System32/config/**/*.{LOG1,LOG2,blf,regtrans-ms}",
        "registry transaction logs",
    ),
    file(
        "file-registry-txr",
        "Files/Windows/System32/config/TxR/**",
        "registry transaction logs",
    ),
    file(
        "file-prefetch-temp",
        "Files/Windows/{Prefetch,Temp,Logs}/**",
        "prefetch, temp and setup logs of the build container",
    ),
];

/// The rule with this id.
pub fn rule(id: &str) -> Option<&'static Rule> {
    RULES.iter().find(|r| r.id == id)
}

/// The first rule that explains a changed tar entry at `path` (e.g. `Files/Users/x`).
pub fn explain_file(path: &str) -> Option<&'static Rule> {
    RULES.iter().find(|r| match r.scope {
        Scope::File { glob } => glob_match(glob, path, '/'),
        _ => false,
    })
}

/// The first rule that explains a registry change in `hive` at key `path` (relative to
/// the hive root), of value `value` (`None`: the key itself was created or deleted).
pub fn explain_registry(hive: RootHive, path: &str, value: Option<&str>) -> Option<&'static Rule> {
    RULES.iter().find(|r| match r.scope {
        Scope::Registry {
            hive: h,
            key,
            value: v,
        } if h == hive => match v {
            // A key-level rule explains the key, its values and everything beneath it.
            None => glob_match(key, path, '\\') || glob_match(&format!("{key}\\**"), path, '\\'),
            Some(vg) => value.is_some_and(|n| glob_match(key, path, '\\') && glob_one(vg, n)),
        },
        _ => false,
    })
}

/// Component-wise glob match (`**` = zero or more components).
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

/// One component: `*` any run, `{a,b}` alternatives, ASCII case-insensitive.
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
    let p: Vec<char> = pattern.chars().flat_map(char::to_lowercase).collect();
    let t: Vec<char> = s.chars().flat_map(char::to_lowercase).collect();
    // Classic two-pointer wildcard match with backtracking to the last '*'.
    let (mut i, mut j) = (0usize, 0usize);
    let mut star: Option<(usize, usize)> = None;
    while j < t.len() {
        if i < p.len() && p[i] == '*' {
            star = Some((i, j));
            i += 1;
        } else if i < p.len() && p[i] == t[j] {
            i += 1;
            j += 1;
        } else if let Some((si, sj)) = star {
            i = si + 1;
            j = sj + 1;
            star = Some((si, sj + 1));
        } else {
            return false;
        }
    }
    while i < p.len() && p[i] == '*' {
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
            "Files/Users/Container*/**",
            "Files/Users/ContainerUser/NTUSER.DAT",
            '/'
        ));
        assert!(!glob_match(
            "Files/Users/Container*/**",
            "Files/Users/Public/x",
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
    }

    #[test]
    fn registry_rules_match_what_the_offreg_fixture_shows() {
        // Paths and values as they appear in the real System_Delta of PROVENANCE.md.
        let r = explain_registry(System, "ControlSet001\\Control", Some("ContainerId")).unwrap();
        assert_eq!(r.id, "sys-container-id");
        assert!(
            explain_registry(System, "ControlSet001\\Control", Some("ContainerType")).is_some()
        );
        assert!(
            explain_registry(
                System,
                "ControlSet001\\Control\\ComputerName\\ComputerName",
                Some("ComputerName")
            )
            .is_some()
        );
        assert!(explain_registry(System, "controlset001\\control\\lsa", Some("LsaPid")).is_some());
        // Not noise: the recipe's own edits and neighbours of noise.
        assert!(
            explain_registry(System, "ControlSet001\\Control\\Lsa", Some("ProductType")).is_none()
        );
        assert!(explain_registry(System, "ControlSet001\\Services\\DiagTrack", None).is_none());
        assert!(explain_registry(Software, "Microsoft\\ole", Some("EnableDCOM")).is_none());
        assert!(
            explain_registry(Software, "ControlSet001\\Control", Some("ContainerId")).is_none()
        );
        // Key-level rules cover the key and its subtree.
        assert!(explain_registry(System, "MountedDevices", None).is_some());
        assert!(explain_registry(System, "MountedDevices", Some("\\DosDevices\\C:")).is_some());
        assert!(
            explain_registry(
                Software,
                "Microsoft\\Windows NT\\CurrentVersion\\ProfileList\\S-1-5-93-2-1",
                None
            )
            .is_some()
        );
    }

    #[test]
    fn file_rules() {
        assert_eq!(
            explain_file("Files/Windows/System32/winevt/Logs/Application.evtx")
                .unwrap()
                .id,
            "file-event-logs"
        );
        assert!(explain_file("Files/Users/ContainerAdministrator/NTUSER.DAT").is_some());
        assert!(explain_file("Files/tools/keylight.reg").is_none());
        assert!(explain_file("Files/Windows/System32/config/SOFTWARE.LOG1").is_some());
        assert!(explain_file("Files/Windows/System32/config/SOFTWARE").is_none());
    }
}
