//! A synthetic NanoServer for tests, benchmarks and the offline demo.
//!
//! Owns: the content of a fake Windows base image, as close to MCR's NanoServer as is
//! useful: one Windows *base* layer (`Files/...` with full hives under
//! `Files/Windows/System32/config/{DEFAULT,SAM,SECURITY,SOFTWARE,SYSTEM}`, system files,
//! `UtilityVM/Files/...`, no `Hives/`), a Docker schema2 config with `os.version` and an
//! "Apply image" history entry, a Docker schema2 manifest, and a Docker manifest list
//! whose entries carry `platform.os.version` (one per requested OS version).
//!
//! The hives hold a few hundred keys: `Microsoft\Windows NT\CurrentVersion` with
//! CurrentBuild/UBR matching the OS version, `Microsoft\Ole` and `Microsoft\Rpc` (present
//! unless asked otherwise, as in the real NanoServer: the pause recipe's rpc/ole keys are
//! then pass-through 0x80 keys), `ControlSet001\Services\DiagTrack` with its usual values,
//! and filler keys (CBS packages, services, classes) so readers walk a realistic tree.
//! `size_mb` adds padding files of mixed text and pseudo-random content under
//! `Files/Windows/WinSxS/` (for the 300 MB benchmark), generated while the tar streams.
//!
//! Everything is a pure function of [`FixtureOptions`]: same options, same bytes (fixed
//! timestamps, fixed seeds; gzip as the build pins it, [`crate::build::COMPRESSOR`]).
//! Does not own where the image is written (the caller passes an [`ImageSink`]).

use crate::hive::{self, Hive, Key, Layer, Value, delta::DEFAULT_SD, model::Header};
use crate::image::digest::HashingWriter;
use crate::image::model::media;
use crate::image::{Descriptor, Digest, ImageSink};
use crate::wclayer::{Entry, LayerWriter, PaxTime};
use serde::Serialize;
use std::io::{self, Read, Write};
use std::path::Path;

/// Fixture errors.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(
        "OS version {0:?}: expected four dot-separated numbers like 10.0.20348.2849 (ltsc2019 10.0.17763.x, ltsc2022 10.0.20348.x, ltsc2025 10.0.26100.x)"
    )]
    OsVersion(String),
    #[error("OS version {0} is given twice")]
    Duplicate(String),
    #[error("writing the synthetic layer: {0}")]
    Layer(#[from] crate::wclayer::Error),
    #[error("writing a synthetic hive: {0}")]
    Hive(#[from] hive::Error),
    #[error("writing the fixture: {0}")]
    Image(#[from] crate::image::Error),
    #[error("writing the fixture: {0}")]
    Io(#[from] io::Error),
}

pub type Result<T> = std::result::Result<T, Error>;

/// What to generate.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct FixtureOptions {
    /// One image per OS version (e.g. `10.0.20348.2849`); the list holds them in this order.
    pub os_versions: Vec<String>,
    /// Approximate extra uncompressed size per layer, in MiB (padding files).
    pub size_mb: u64,
    /// `SOFTWARE\Microsoft\Ole` present.
    pub with_ole: bool,
    /// `SOFTWARE\Microsoft\Rpc` present.
    pub with_rpc: bool,
    /// `SYSTEM\ControlSet001\Services\DiagTrack` present.
    pub with_diagtrack: bool,
}

impl Default for FixtureOptions {
    fn default() -> Self {
        FixtureOptions {
            os_versions: vec![DEFAULT_OS_VERSION.to_string()],
            size_mb: 0,
            with_ole: true,
            with_rpc: true,
            with_diagtrack: true,
        }
    }
}

/// ltsc2022 as MCR served it in late 2024.
pub const DEFAULT_OS_VERSION: &str = "10.0.20348.2849";

/// The fixture's fixed clock: 2024-11-09T04:32:11Z (+0.4521837 s in the config, as MCR
/// writes 7-digit fractions).
pub const CREATED_SECS: i64 = 1_731_126_731;
pub const CREATED: &str = "2024-11-09T04:32:11.4521837Z";

/// A parsed `10.0.BUILD.UBR`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OsVersion {
    pub major: u32,
    pub minor: u32,
    pub build: u32,
    pub ubr: u32,
}

impl OsVersion {
    pub fn parse(s: &str) -> Result<OsVersion> {
        let p: Vec<u32> = s
            .split('.')
            .map(|x| x.parse::<u32>())
            .collect::<std::result::Result<_, _>>()
            .map_err(|_| Error::OsVersion(s.to_string()))?;
        match p.as_slice() {
            [major, minor, build, ubr] => Ok(OsVersion {
                major: *major,
                minor: *minor,
                build: *build,
                ubr: *ubr,
            }),
            _ => Err(Error::OsVersion(s.to_string())),
        }
    }
    fn display_version(&self) -> &'static str {
        match self.build {
            17763 => "1809",
            20348 => "21H2",
            26100 => "24H2",
            _ => "unknown",
        }
    }
    fn product_name(&self) -> &'static str {
        match self.build {
            17763 => "Windows Server 2019 Datacenter",
            20348 => "Windows Server 2022 Datacenter",
            26100 => "Windows Server 2025 Datacenter",
            _ => "Windows Server Datacenter",
        }
    }
}

impl std::fmt::Display for OsVersion {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{}.{}.{}.{}",
            self.major, self.minor, self.build, self.ubr
        )
    }
}

// ---------------------------------------------------------------- hives

/// FILETIME of the fixture clock.
fn filetime() -> u64 {
    (CREATED_SECS as u64 + 11_644_473_600) * 10_000_000
}

fn sz(s: &str) -> Vec<u8> {
    s.encode_utf16()
        .chain(std::iter::once(0))
        .flat_map(|u| u.to_le_bytes())
        .collect()
}
fn multi_sz(items: &[&str]) -> Vec<u8> {
    let mut v = Vec::new();
    for s in items {
        v.extend(sz(s));
    }
    v.extend([0, 0]);
    v
}
fn dword(x: u32) -> Vec<u8> {
    x.to_le_bytes().to_vec()
}

const REG_SZ: u32 = 1;
const REG_EXPAND_SZ: u32 = 2;
const REG_BINARY: u32 = 3;
const REG_DWORD: u32 = 4;
const REG_MULTI_SZ: u32 = 7;
const REG_QWORD: u32 = 11;

/// A tiny builder over the hive model.
struct K(Key);

impl K {
    fn new(name: &str) -> K {
        K(Key::new(
            name,
            Layer::default(),
            filetime(),
            DEFAULT_SD.to_vec(),
        ))
    }
    fn v(mut self, name: &str, kind: u32, data: Vec<u8>) -> K {
        self.0.values.push(Value::new(name, kind, data));
        self
    }
    fn s(self, name: &str, val: &str) -> K {
        self.v(name, REG_SZ, sz(val))
    }
    fn x(self, name: &str, val: &str) -> K {
        self.v(name, REG_EXPAND_SZ, sz(val))
    }
    fn d(self, name: &str, val: u32) -> K {
        self.v(name, REG_DWORD, dword(val))
    }
    fn m(self, name: &str, val: &[&str]) -> K {
        self.v(name, REG_MULTI_SZ, multi_sz(val))
    }
    fn k(mut self, child: K) -> K {
        self.0.subkeys.push(child.0);
        self
    }
    fn ks(mut self, children: impl IntoIterator<Item = K>) -> K {
        self.0.subkeys.extend(children.into_iter().map(|c| c.0));
        self
    }
    /// The key at a backslash path under self, created empty as needed, with `f` applied.
    fn at(mut self, path: &str, f: impl FnOnce(K) -> K) -> K {
        fn rec(k: &mut Key, parts: &[&str], f: Box<dyn FnOnce(K) -> K + '_>) {
            let Some((first, rest)) = parts.split_first() else {
                return;
            };
            let pos = match k.subkeys.iter().position(|s| s.name == *first) {
                Some(p) => p,
                None => {
                    k.subkeys.push(K::new(first).0);
                    k.subkeys.len() - 1
                }
            };
            if rest.is_empty() {
                let taken = std::mem::replace(&mut k.subkeys[pos], K::new(first).0);
                k.subkeys[pos] = f(K(taken)).0;
            } else {
                rec(&mut k.subkeys[pos], rest, f);
            }
        }
        let parts: Vec<&str> = path.split('\\').collect();
        rec(&mut self.0, &parts, Box::new(f));
        self
    }
    fn hive(self) -> Hive {
        let mut root = self.0;
        root.flags = hive::model::KEY_HIVE_ENTRY | hive::model::KEY_NO_DELETE;
        root.sort_recursive();
        let mut header = Header::offreg(false);
        header.offreg = None;
        header.sequence = 7;
        header.timestamp = filetime();
        Hive { header, root }
    }
}

/// A deterministic GUID-looking string from a seed.
fn guid(seed: u64) -> String {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ 0xD1B5_4A32_D192_ED03;
    let mut next = || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    let a = next();
    let b = next();
    format!(
        "{{{:08X}-{:04X}-{:04X}-{:04X}-{:012X}}}",
        a >> 32,
        (a >> 16) & 0xffff,
        a & 0xffff,
        b >> 48,
        b & 0xffff_ffff_ffff
    )
}

/// The full SOFTWARE hive of the synthetic NanoServer.
pub fn software_hive(v: OsVersion, opts: &FixtureOptions) -> Hive {
    let build = v.build.to_string();
    let mut root = K::new("CMI-CreateHive{199DAFC2-6F16-4946-BF90-5A3FC3A60902}")
        .at("Microsoft\\Windows NT\\CurrentVersion", |k| {
            k.s("BuildBranch", "fe_release")
                .s("BuildLab", &format!("{build}.fe_release.210507-1500"))
                .s(
                    "BuildLabEx",
                    &format!("{build}.1.amd64fre.fe_release.210507-1500"),
                )
                .s("CompositionEditionID", "ServerDatacenter")
                .s("CurrentBuild", &build)
                .s("CurrentBuildNumber", &build)
                .d("CurrentMajorVersionNumber", v.major)
                .d("CurrentMinorVersionNumber", v.minor)
                .s("CurrentType", "Multiprocessor Free")
                .s("CurrentVersion", "6.3")
                .s("DisplayVersion", v.display_version())
                .s("EditionID", "ServerDatacenterNano")
                .s("InstallationType", "Nano Server")
                .d("InstallDate", CREATED_SECS as u32)
                .v("InstallTime", REG_QWORD, filetime().to_le_bytes().to_vec())
                .s("PathName", "C:\\Windows")
                .s("ProductName", v.product_name())
                .s("RegisteredOrganization", "")
                .s("RegisteredOwner", "")
                .s("SoftwareType", "System")
                .s("SystemRoot", "C:\\Windows")
                .d("UBR", v.ubr)
        })
        .at("Microsoft\\Windows NT\\CurrentVersion\\Winlogon", |k| {
            k.s("Shell", "cmd.exe").s("Userinit", "")
        })
        .at("Microsoft\\Windows\\CurrentVersion", |k| {
            k.s("CommonFilesDir", "C:\\Program Files\\Common Files")
                .s("ProgramFilesDir", "C:\\Program Files")
                .s("ProgramFilesPath", "%ProgramFiles%")
                .x("ProgramW6432Dir", "C:\\Program Files")
        })
        .at("Microsoft\\Cryptography", |k| {
            k.s(
                "MachineGuid",
                &guid(v.build as u64)[1..37].to_ascii_lowercase(),
            )
        })
        .at(
            "Microsoft\\Windows\\CurrentVersion\\Policies\\System",
            |k| k.d("EnableLUA", 0).d("ConsentPromptBehaviorAdmin", 5),
        );
    if opts.with_ole {
        root = root.at("Microsoft\\Ole", |k| {
            k.s("EnableDCOM", "Y")
                .s("EnableRemoteConnect", "N")
                .d("LegacyAuthenticationLevel", 2)
                .d("LegacyImpersonationLevel", 2)
                .v("MachineLaunchRestriction", REG_BINARY, (0u8..=95).collect())
        });
    }
    if opts.with_rpc {
        root = root.at("Microsoft\\Rpc", |k| {
            k.k(K::new("ClientProtocols")
                .s("ncacn_http", "rpcrt4.dll")
                .s("ncacn_ip_tcp", "rpcrt4.dll")
                .s("ncacn_np", "rpcrt4.dll")
                .s("ncalrpc", "rpcrt4.dll"))
                .k(K::new("Extensions").s("NetBiosPath", "netbios.dll"))
                .k(K::new("SecurityService")
                    .s("10", "kerberos.dll")
                    .s("14", "schannel.dll")
                    .s("9", "secur32.dll"))
        });
    }
    // Servicing packages: the bulk of a real SOFTWARE hive's keys.
    let cbs = (0..160u64).map(|i| {
        K::new(&format!(
            "Microsoft-NanoServer-Package{i:03}~31bf3856ad364e35~amd64~~{v}"
        ))
        .s("InstallClient", "DISM Package Manager Provider")
        .s("InstallLocation", "\\\\?\\C:\\Windows\\Servicing\\Packages")
        .v(
            "InstallTimeHigh",
            REG_DWORD,
            dword((filetime() >> 32) as u32),
        )
        .v("InstallTimeLow", REG_DWORD, dword(filetime() as u32))
        .d("CurrentState", 0x70)
        .k(K::new("Owners").d(&format!("Microsoft-NanoServer-Feature{:02}", i % 17), 0x70))
    });
    root = root.at(
        "Microsoft\\Windows\\CurrentVersion\\Component Based Servicing\\Packages",
        |k| k.ks(cbs),
    );
    let exts = [
        ".bat", ".cmd", ".com", ".dll", ".exe", ".ini", ".log", ".msc", ".reg", ".sys", ".txt",
        ".xml",
    ];
    root = root.at("Classes", |k| {
        k.ks(exts.iter().map(|e| {
            K::new(e)
                .s("", &format!("{}file", &e[1..]))
                .s("Content Type", "text/plain")
        }))
        .k(K::new("CLSID").ks((0..40u64).map(|i| {
            K::new(&guid(1000 + i))
                .s("", &format!("Component {i}"))
                .k(K::new("InprocServer32")
                    .x("", &format!("%SystemRoot%\\System32\\comp{i:02}.dll"))
                    .s("ThreadingModel", "Both"))
        })))
    });
    let mut h = root.hive();
    h.root.sort_recursive();
    h
}

/// One service key as sc.exe creates them.
fn service(name: &str, display: &str, image: &str, start: u32, kind: u32, object: &str) -> K {
    K::new(name)
        .s("DisplayName", display)
        .d("ErrorControl", 1)
        .x("ImagePath", image)
        .s("ObjectName", object)
        .d("Start", start)
        .d("Type", kind)
}

/// The full SYSTEM hive of the synthetic NanoServer.
pub fn system_hive(v: OsVersion, opts: &FixtureOptions) -> Hive {
    let svchost = |group: &str| format!("%SystemRoot%\\System32\\svchost.exe -k {group} -p");
    let mut services = vec![
        service(
            "BFE",
            "@%SystemRoot%\\system32\\bfe.dll,-1001",
            &svchost("LocalServiceNoNetworkFirewall"),
            2,
            0x20,
            "NT AUTHORITY\\LocalService",
        ),
        service(
            "CExecSvc",
            "Container Execution Agent",
            "%SystemRoot%\\system32\\cexecsvc.exe",
            2,
            0x10,
            "LocalSystem",
        ),
        service(
            "CryptSvc",
            "@%SystemRoot%\\system32\\cryptsvc.dll,-1001",
            &svchost("NetworkService"),
            2,
            0x20,
            "NT Authority\\NetworkService",
        ),
        service(
            "Dhcp",
            "@%SystemRoot%\\system32\\dhcpcore.dll,-100",
            &svchost("LocalServiceNetworkRestricted"),
            2,
            0x20,
            "NT Authority\\LocalService",
        ),
        service(
            "Dnscache",
            "@%SystemRoot%\\System32\\dnsapi.dll,-101",
            &svchost("NetworkService"),
            2,
            0x20,
            "NT AUTHORITY\\NetworkService",
        ),
        service(
            "EventLog",
            "@%SystemRoot%\\system32\\wevtsvc.dll,-200",
            &svchost("LocalServiceNetworkRestricted"),
            2,
            0x20,
            "NT AUTHORITY\\LocalService",
        ),
        service(
            "LanmanServer",
            "@%systemroot%\\system32\\srvsvc.dll,-100",
            &svchost("smbsvcs"),
            2,
            0x20,
            "LocalSystem",
        ),
        service(
            "LanmanWorkstation",
            "@%systemroot%\\system32\\wkssvc.dll,-100",
            &svchost("NetworkService"),
            2,
            0x20,
            "NT AUTHORITY\\NetworkService",
        ),
        service(
            "mpssvc",
            "@%SystemRoot%\\system32\\FirewallAPI.dll,-23090",
            &svchost("LocalServiceNoNetworkFirewall"),
            2,
            0x20,
            "NT Authority\\LocalService",
        ),
        service(
            "nsi",
            "@%SystemRoot%\\system32\\nsisvc.dll,-200",
            &svchost("LocalService"),
            2,
            0x20,
            "NT Authority\\LocalService",
        ),
        service(
            "RpcEptMapper",
            "@%windir%\\system32\\RpcEpMap.dll,-1001",
            &svchost("RPCSS"),
            2,
            0x20,
            "NT AUTHORITY\\NetworkService",
        ),
        service(
            "RpcSs",
            "@combase.dll,-5010",
            &svchost("rpcss"),
            2,
            0x20,
            "NT AUTHORITY\\NetworkService",
        ),
        service(
            "SamSs",
            "@%SystemRoot%\\system32\\samsrv.dll,-1",
            "%SystemRoot%\\system32\\lsass.exe",
            2,
            0x20,
            "LocalSystem",
        ),
        service(
            "Schedule",
            "@%SystemRoot%\\system32\\schedsvc.dll,-100",
            &svchost("netsvcs"),
            2,
            0x20,
            "LocalSystem",
        ),
        service(
            "W32Time",
            "@%SystemRoot%\\system32\\w32time.dll,-200",
            &svchost("LocalService"),
            3,
            0x20,
            "NT AUTHORITY\\LocalService",
        ),
        service(
            "Winmgmt",
            "@%Systemroot%\\system32\\wbem\\wmisvc.dll,-205",
            &svchost("netsvcs"),
            2,
            0x20,
            "localSystem",
        ),
        service(
            "WinRM",
            "@%Systemroot%\\system32\\wsmsvc.dll,-101",
            &svchost("NetworkService"),
            3,
            0x20,
            "NT AUTHORITY\\NetworkService",
        ),
        service(
            "wuauserv",
            "@%systemroot%\\system32\\wuaueng.dll,-105",
            &svchost("netsvcs"),
            3,
            0x20,
            "LocalSystem",
        ),
    ];
    // Kernel drivers: realistic filler.
    for (i, d) in [
        "acpi", "afd", "bowser", "cng", "disk", "http", "ksecdd", "msrpc", "ndis", "netbt", "Npfs",
        "Ntfs", "pci", "rdbss", "srv2", "storvsc", "tcpip", "vmbus", "volmgr", "wcifs",
    ]
    .iter()
    .enumerate()
    {
        services.push(
            service(
                d,
                d,
                &format!("System32\\drivers\\{d}.sys"),
                (i % 4) as u32,
                1,
                "",
            )
            .s("Group", "Base"),
        );
    }
    if opts.with_diagtrack {
        services.push(
            service(
                "DiagTrack",
                "@%SystemRoot%\\system32\\diagtrack.dll,-3001",
                &svchost("utcsvc"),
                2,
                0x10,
                "LocalSystem",
            )
            .s(
                "Description",
                "@%SystemRoot%\\system32\\diagtrack.dll,-3002",
            )
            .m(
                "RequiredPrivileges",
                &[
                    "SeChangeNotifyPrivilege",
                    "SeImpersonatePrivilege",
                    "SeSystemProfilePrivilege",
                    "SeTcbPrivilege",
                ],
            )
            .d("ServiceSidType", 1)
            .v(
                "FailureActions",
                REG_BINARY,
                vec![
                    0x80, 0x51, 0x01, 0, 0, 0, 0, 0, 0, 0, 0, 0, 3, 0, 0, 0, 0x14, 0, 0, 0, 1, 0,
                    0, 0, 0x30, 0x75, 0, 0, 1, 0, 0, 0, 0x30, 0x75, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
                ],
            )
            .k(K::new("Parameters")
                .x("ServiceDll", "%SystemRoot%\\system32\\diagtrack.dll")
                .d("ServiceDllUnloadOnStop", 1))
            .k(K::new("TriggerInfo").k(K::new("0").d("Type", 7).d("Action", 1))),
        );
    }
    let services: Vec<K> = services
        .into_iter()
        .map(|s| s.k(K::new("Security").v("Security", REG_BINARY, DEFAULT_SD.to_vec())))
        .collect();
    K::new("CsiTool-CreateHive-{00000000-0000-0000-0000-000000000000}")
        .at("ControlSet001\\Services", |k| k.ks(services))
        .at("ControlSet001\\Control", |k| {
            k.s("SystemStartOptions", "")
                .s("CurrentUser", "USERNAME")
                .d("ContainerType", 0)
        })
        .at("ControlSet001\\Control\\ComputerName\\ComputerName", |k| {
            k.s("ComputerName", "MINWINPC")
        })
        .at("ControlSet001\\Control\\ProductOptions", |k| {
            k.s("ProductType", "ServerNT")
                .m("ProductSuite", &["Enterprise", "DataCenter"])
        })
        .at("ControlSet001\\Control\\Session Manager\\Environment", |k| {
            k.x("ComSpec", "%SystemRoot%\\system32\\cmd.exe")
                .s("OS", "Windows_NT")
                .x(
                    "Path",
                    "%SystemRoot%\\system32;%SystemRoot%;%SystemRoot%\\System32\\Wbem;%SYSTEMROOT%\\System32\\WindowsPowerShell\\v1.0\\",
                )
                .s("PROCESSOR_ARCHITECTURE", "AMD64")
                .x("TEMP", "%SystemRoot%\\TEMP")
                .x("TMP", "%SystemRoot%\\TEMP")
        })
        .at("ControlSet001\\Control\\Windows", |k| {
            k.d("CSDVersion", 0)
                .v("ShutdownTime", REG_BINARY, filetime().to_le_bytes().to_vec())
        })
        .at("ControlSet001\\Control\\WMI\\Autologger\\AutoLogger-Diagtrack-Listener", |k| {
            k.s("Guid", &guid(7)).d("Start", 0)
        })
        .at("MountedDevices", |k| k)
        .at("Select", |k| {
            k.d("Current", 1).d("Default", 1).d("Failed", 0).d("LastKnownGood", 1)
        })
        .at("Setup", |k| {
            k.s("CmdLine", "").d("SystemSetupInProgress", 0).s(
                "BuildVersion",
                &format!("{}", v),
            )
        })
        .hive()
}

fn small_hive(root: &str, paths: &[(&str, &str, &str)]) -> Hive {
    let mut k = K::new(root);
    for (path, name, val) in paths {
        let (n, s) = (name.to_string(), val.to_string());
        k = k.at(path, move |k| k.s(&n, &s));
    }
    k.hive()
}

/// DEFAULT, SAM, SECURITY: small but real-shaped hives.
pub fn other_hives() -> [(&'static str, Hive); 3] {
    [
        (
            "DEFAULT",
            small_hive(
                "CsiTool-CreateHive-{00000000-0000-0000-0000-000000000000}",
                &[
                    ("Control Panel\\International", "LocaleName", "en-US"),
                    ("Environment", "TEMP", "%USERPROFILE%\\AppData\\Local\\Temp"),
                    (
                        "Software\\Microsoft\\Windows\\CurrentVersion\\Explorer",
                        "",
                        "",
                    ),
                ],
            ),
        ),
        (
            "SAM",
            small_hive(
                "CsiTool-CreateHive-{00000000-0000-0000-0000-000000000000}",
                &[
                    ("SAM\\Domains\\Account\\Users\\Names\\Administrator", "", ""),
                    (
                        "SAM\\Domains\\Account\\Users\\Names\\ContainerAdministrator",
                        "",
                        "",
                    ),
                    ("SAM\\Domains\\Account\\Users\\Names\\ContainerUser", "", ""),
                    (
                        "SAM\\Domains\\Builtin\\Aliases\\Names\\Administrators",
                        "",
                        "",
                    ),
                ],
            ),
        ),
        (
            "SECURITY",
            small_hive(
                "CsiTool-CreateHive-{00000000-0000-0000-0000-000000000000}",
                &[
                    ("Policy\\PolAdtEv", "", ""),
                    ("Policy\\Accounts", "", ""),
                    ("RXACT", "", ""),
                ],
            ),
        ),
    ]
}

// ---------------------------------------------------------------- layer

/// Content of one file of the base layer.
enum Content {
    Bytes(Vec<u8>),
    /// `size` bytes generated from `seed` (text and pseudo-random runs).
    Pad {
        seed: u64,
        size: u64,
    },
}

/// Padding content: alternating 64 KiB runs of log-like text and xorshift noise, so the
/// layer compresses about as much as a real one (roughly 2:1).
struct PadReader {
    state: u64,
    left: u64,
    pos: u64,
    line: u64,
    text: Vec<u8>,
    tpos: usize,
}

impl PadReader {
    fn new(seed: u64, size: u64) -> PadReader {
        PadReader {
            state: seed.wrapping_mul(0x2545_F491_4F6C_DD1D) | 1,
            left: size,
            pos: 0,
            line: seed,
            text: Vec::new(),
            tpos: 0,
        }
    }
    fn noise(&mut self) -> u64 {
        let mut x = self.state;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.state = x;
        x
    }
}

impl Read for PadReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let run = 64 * 1024;
        let mut n = 0;
        while n < buf.len() && self.left > 0 {
            let in_run = run - (self.pos % run);
            let take = (buf.len() - n).min(in_run as usize).min(self.left as usize);
            if (self.pos / run).is_multiple_of(2) {
                for b in &mut buf[n..n + take] {
                    if self.tpos >= self.text.len() {
                        self.line += 1;
                        self.text = format!(
                            "{:08} CBS    Loaded Servicing Stack v10.0.{}.{} with Core: C:\\Windows\\WinSxS\\amd64_microsoft-windows-servicingstack\\cbscore.dll\r\n",
                            self.line,
                            self.line % 30000,
                            self.line % 997
                        )
                        .into_bytes();
                        self.tpos = 0;
                    }
                    *b = self.text[self.tpos];
                    self.tpos += 1;
                }
            } else {
                let mut i = n;
                while i < n + take {
                    let r = self.noise().to_le_bytes();
                    let k = (n + take - i).min(8);
                    buf[i..i + k].copy_from_slice(&r[..k]);
                    i += k;
                }
            }
            n += take;
            self.pos += take as u64;
            self.left -= take as u64;
        }
        Ok(n)
    }
}

/// A fake PE image: "MZ" header, a name, filler.
fn pe(name: &str, size: usize) -> Vec<u8> {
    let mut v = b"MZ\x90\x00\x03\x00\x00\x00\x04\x00\x00\x00\xff\xff\x00\x00".to_vec();
    v.extend_from_slice(b"This program cannot be run in DOS mode.\r\r\n$");
    v.extend_from_slice(format!("synthetic {name}").as_bytes());
    let mut i = 0u32;
    while v.len() < size {
        v.push((i.wrapping_mul(2_654_435_761) >> 24) as u8);
        i += 1;
    }
    v
}

/// The base layer's files (path → content), sorted as the layer writes them.
fn layer_files(v: OsVersion, opts: &FixtureOptions) -> Result<Vec<(String, Content)>> {
    let mut files: Vec<(String, Content)> = Vec::new();
    let cfg = "Files/Windows/System32/config/";
    files.push((
        format!("{cfg}SOFTWARE"),
        Content::Bytes(hive::write(&software_hive(v, opts))?),
    ));
    files.push((
        format!("{cfg}SYSTEM"),
        Content::Bytes(hive::write(&system_hive(v, opts))?),
    ));
    for (name, h) in other_hives() {
        files.push((format!("{cfg}{name}"), Content::Bytes(hive::write(&h)?)));
    }
    let text = |s: &str| Content::Bytes(s.as_bytes().to_vec());
    files.push((
        "Files/License.txt".into(),
        text("Synthetic NanoServer for pause-verify tests. Not Microsoft software.\r\n"),
    ));
    files.push((
        "Files/Windows/System32/drivers/etc/hosts".into(),
        text("# Copyright (c) 1993-2009 Microsoft Corp.\r\n#\r\n# localhost name resolution is handled within DNS itself.\r\n"),
    ));
    for (name, size) in [
        ("cmd.exe", 289_792usize),
        ("diagtrack.dll", 120_000),
        ("kernel32.dll", 150_000),
        ("ntdll.dll", 200_000),
        ("reg.exe", 77_824),
        ("sc.exe", 69_632),
        ("svchost.exe", 57_344),
    ] {
        files.push((
            format!("Files/Windows/System32/{name}"),
            Content::Bytes(pe(name, size)),
        ));
    }
    files.push((
        "Files/Users/Public/desktop.ini".into(),
        text("[.ShellClassInfo]\r\n"),
    ));
    files.push((
        "Files/ProgramData/Microsoft/Windows/Start Menu/desktop.ini".into(),
        text("[.ShellClassInfo]\r\n"),
    ));
    files.push((
        "UtilityVM/Files/Windows/System32/ntoskrnl.exe".into(),
        Content::Bytes(pe("ntoskrnl.exe", 100_000)),
    ));
    files.push((
        "UtilityVM/Files/EFI/Microsoft/Boot/bootmgfw.efi".into(),
        Content::Bytes(pe("bootmgfw.efi", 40_000)),
    ));
    // Padding: files of 256 KiB .. 2 MiB until size_mb is reached.
    let mut left = opts.size_mb.saturating_mul(1 << 20);
    let mut i = 0u64;
    while left > 0 {
        let size = (256 * 1024 + (i * 7919 % 8) * 224 * 1024).min(left);
        files.push((
            format!(
                "Files/Windows/WinSxS/amd64_microsoft-windows-pad{:03}_31bf3856ad364e35_{}_none_{:016x}/payload{i:05}.bin",
                i / 64,
                v,
                i / 64
            ),
            Content::Pad { seed: i + 1, size },
        ));
        left -= size;
        i += 1;
    }
    Ok(files)
}

fn components(p: &str) -> Vec<Vec<u8>> {
    p.split('/').map(|c| c.as_bytes().to_vec()).collect()
}

/// Write the uncompressed base layer tar for `v` to `out` (streaming).
pub fn write_base_layer<W: Write>(v: OsVersion, opts: &FixtureOptions, out: W) -> Result<W> {
    let t = PaxTime::from_secs(CREATED_SECS);
    let files = layer_files(v, opts)?;
    // Every directory on the way, then files; sorted component-wise as hcsshim writes.
    let mut items: Vec<(Vec<Vec<u8>>, String, Option<Content>)> = Vec::new();
    let mut dirs = std::collections::BTreeSet::new();
    for (p, _) in &files {
        let comps: Vec<&str> = p.split('/').collect();
        for i in 1..comps.len() {
            dirs.insert(comps[..i].join("/"));
        }
    }
    for d in dirs {
        items.push((components(&d), d, None));
    }
    for (p, c) in files {
        items.push((components(&p), p, Some(c)));
    }
    items.sort_by(|a, b| a.0.cmp(&b.0));
    let mut w = LayerWriter::new(out);
    for (_, path, content) in items {
        let top_level = !path.contains('/');
        match content {
            None => {
                let mut e = Entry::dir(&path, t);
                if !top_level {
                    e = e.with_sd(DEFAULT_SD.to_vec());
                }
                w.append_bytes(&e, &[])?;
            }
            Some(Content::Bytes(b)) => {
                let e = Entry::file(&path, b.len() as u64, t).with_sd(DEFAULT_SD.to_vec());
                w.append_bytes(&e, &b)?;
            }
            Some(Content::Pad { seed, size }) => {
                let e = Entry::file(&path, size, t).with_sd(DEFAULT_SD.to_vec());
                w.append(&e, &mut PadReader::new(seed, size))?;
            }
        }
    }
    Ok(w.finish()?)
}

/// The Docker schema2 config of the image for `v` with base layer `diff_id`.
pub fn config_json(v: OsVersion, diff_id: &Digest) -> Vec<u8> {
    let doc = serde_json::json!({
        "architecture": "amd64",
        "config": {
            "Cmd": ["c:\\windows\\system32\\cmd.exe"],
            "Env": null,
            "OnBuild": null,
            "User": "ContainerUser",
            "WorkingDir": "",
        },
        "created": CREATED,
        "history": [{"created": CREATED, "created_by": format!("Apply image {v}")}],
        "os": "windows",
        "os.version": v.to_string(),
        "rootfs": {"type": "layers", "diff_ids": [diff_id.to_string()]},
    });
    serde_json::to_vec(&doc).unwrap_or_default()
}

/// One generated platform image.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct FixtureImage {
    pub os_version: String,
    pub manifest: Descriptor,
    pub config: Descriptor,
    pub layer: Descriptor,
    pub diff_id: Digest,
    pub uncompressed_size: u64,
}

/// What [`write_fixture`] produced.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct FixtureOutput {
    /// The Docker manifest list (the image's root).
    pub list: Descriptor,
    pub images: Vec<FixtureImage>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct DockerManifest<'a> {
    schema_version: u32,
    media_type: &'a str,
    config: &'a Descriptor,
    layers: Vec<&'a Descriptor>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct DockerList<'a> {
    schema_version: u32,
    media_type: &'a str,
    manifests: Vec<Descriptor>,
}

/// Generate the fixture into `sink`. Layers are staged as temporary files in `scratch`
/// (never held in memory), then stored verified. Returns the list descriptor; the caller
/// records it (`sink.add_manifest`) under the tag it wants.
pub fn write_fixture(
    opts: &FixtureOptions,
    sink: &mut dyn ImageSink,
    scratch: &Path,
    progress: &crate::progress::Progress,
) -> Result<FixtureOutput> {
    let mut seen = std::collections::BTreeSet::new();
    let versions: Vec<OsVersion> = opts
        .os_versions
        .iter()
        .map(|s| OsVersion::parse(s))
        .collect::<Result<_>>()?;
    for v in &versions {
        if !seen.insert(v.to_string()) {
            return Err(Error::Duplicate(v.to_string()));
        }
    }
    let mut images = Vec::new();
    let mut entries = Vec::new();
    for v in versions {
        let mut tmp = tempfile::Builder::new()
            .prefix(".pause-verify-fixture-")
            .tempfile_in(scratch)?;
        crate::atomic::note_temporary(tmp.path());
        let (layer_desc, diff_id, usize_) = {
            let file = io::BufWriter::with_capacity(1 << 20, tmp.as_file_mut());
            let gz = crate::build::gzip_writer(HashingWriter::new(file));
            // Generating and compressing a large layer takes seconds: a spinner counts
            // the tar bytes written.
            let bar = progress.spinner(&format!("fixture {v}"));
            let tar = HashingWriter::new(crate::progress::BarWriter::new(gz, bar));
            let tar = write_base_layer(v, opts, tar)?;
            let (gz, diff_id, usize_) = tar.finish();
            let gz = gz.into_inner();
            let compressed = gz.finish()?;
            let (mut file, digest, size) = compressed.finish();
            file.flush()?;
            (
                Descriptor::new(media::DOCKER_LAYER_GZIP, digest, size),
                diff_id,
                usize_,
            )
        };
        let mut f = tmp.reopen()?;
        sink.put_blob(&mut f, Some(&layer_desc))?;
        let config = config_json(v, &diff_id);
        let config_desc = sink.put_bytes(media::DOCKER_CONFIG, &config)?;
        let manifest = serde_json::to_vec(&DockerManifest {
            schema_version: 2,
            media_type: media::DOCKER_MANIFEST,
            config: &config_desc,
            layers: vec![&layer_desc],
        })
        .map_err(io::Error::other)?;
        let manifest_desc = sink.put_bytes(media::DOCKER_MANIFEST, &manifest)?;
        let mut entry = manifest_desc.clone();
        entry.platform = Some(crate::image::Platform {
            architecture: "amd64".into(),
            os: "windows".into(),
            os_version: Some(v.to_string()),
            os_features: None,
            variant: None,
        });
        entries.push(entry);
        images.push(FixtureImage {
            os_version: v.to_string(),
            manifest: manifest_desc,
            config: config_desc,
            layer: layer_desc,
            diff_id,
            uncompressed_size: usize_,
        });
    }
    let list = serde_json::to_vec(&DockerList {
        schema_version: 2,
        media_type: media::DOCKER_LIST,
        manifests: entries,
    })
    .map_err(io::Error::other)?;
    let list = sink.put_bytes(media::DOCKER_LIST, &list)?;
    Ok(FixtureOutput { list, images })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hives_hold_what_the_recipe_touches() {
        let v = OsVersion::parse("10.0.17763.3887").unwrap();
        let opts = FixtureOptions::default();
        let sw = hive::read(&hive::write(&software_hive(v, &opts)).unwrap()).unwrap();
        let cv = sw.find("Microsoft\\Windows NT\\CurrentVersion").unwrap();
        assert_eq!(cv.value("CurrentBuild").unwrap().data, sz("17763"));
        assert_eq!(cv.value("UBR").unwrap().data, dword(3887));
        assert!(sw.find("microsoft\\rpc").is_some());
        assert!(sw.find("Microsoft\\Ole").is_some());
        assert!(sw.walk().len() > 300, "{}", sw.walk().len());
        let sys = hive::read(&hive::write(&system_hive(v, &opts)).unwrap()).unwrap();
        let dt = sys.find("ControlSet001\\Services\\DiagTrack").unwrap();
        assert_eq!(dt.value("Start").unwrap().data, dword(2));
        assert!(dt.value("ImagePath").is_some());
        let none = FixtureOptions {
            with_ole: false,
            with_rpc: false,
            with_diagtrack: false,
            ..opts
        };
        assert!(software_hive(v, &none).find("Microsoft\\Rpc").is_none());
        assert!(
            system_hive(v, &none)
                .find("ControlSet001\\Services\\DiagTrack")
                .is_none()
        );
    }

    #[test]
    fn layer_is_a_base_layer_and_deterministic() {
        let v = OsVersion::parse(DEFAULT_OS_VERSION).unwrap();
        let opts = FixtureOptions {
            size_mb: 1,
            ..Default::default()
        };
        let a = write_base_layer(v, &opts, Vec::new()).unwrap();
        let b = write_base_layer(v, &opts, Vec::new()).unwrap();
        assert_eq!(a, b);
        assert!(a.len() > 1 << 20);
        let x =
            crate::wclayer::extract(&a[..], &["Files/Windows/System32/config/SOFTWARE"], 1 << 26)
                .unwrap();
        assert_eq!(x.kind(), crate::wclayer::LayerKind::Base);
        assert_eq!(x.summary.base_hives.len(), 5);
        assert!(
            x.files
                .contains_key("Files/Windows/System32/config/SOFTWARE")
        );
    }

    #[test]
    fn os_version_is_checked() {
        assert!(OsVersion::parse("10.0.20348").is_err());
        assert!(OsVersion::parse("10.0.x.1").is_err());
        assert_eq!(
            OsVersion::parse("10.0.26100.1").unwrap().to_string(),
            "10.0.26100.1"
        );
    }
}
