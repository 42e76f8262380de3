//! Why two builds of a Windows executable (PE/COFF: `.exe`, `.dll`) differ, named by
//! structure: the COFF `TimeDateStamp`, the optional header `CheckSum`, an appended
//! Authenticode certificate table, the debug directory (its time stamps and the CodeView
//! GUID/age or build id it points to), a section's contents (`.text` = code), the headers,
//! the section table, or trailing data.
//!
//! The first four are what two honest builds of the same source differ by (a linker or
//! `strip` stamping the time, a signer appending a signature and fixing the checksum, a
//! linker writing a fresh PDB GUID); `compare` labels them with versioned noise rules.
//! Anything else (`.text`, `.data`, the section table, the headers) is a different
//! program. Pure: bytes in, differences out; headers and sections are read with the
//! `object` crate (gimli-rs), bounds are checked here.
//!
//! The comparison normalises both files (those four fields zeroed, the certificate table
//! cut off) and then compares them region by region, so a difference is attributed to
//! the region whose bytes differ, never guessed from sizes.

use object::LittleEndian as LE;
use object::pe;
use object::read::pe::{ImageNtHeaders, ImageOptionalHeader, PeFile32, PeFile64};
use serde::Serialize;

/// The Windows loader's limit on sections (PE format specification, "File Header").
pub const MAX_SECTIONS: usize = 96;
/// Largest PE file compared (the pause binaries are a few MiB).
pub const MAX_PE_BYTES: usize = 256 << 20;
/// Most debug directory entries read (real files have one to four).
const MAX_DEBUG_ENTRIES: usize = 64;
/// `WIN_CERTIFICATE` revisions and the entry header size.
const WIN_CERT_REVISION_1: u16 = 0x0100;
const WIN_CERT_REVISION_2: u16 = 0x0200;
const WIN_CERT_HEADER: usize = 8;

/// What is wrong with a file that should be PE.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PeError {
    #[error("not a PE file: {0}")]
    NotPe(String),
    #[error("truncated PE file: {0}")]
    Truncated(String),
    #[error("PE file declares {0} sections; the Windows loader accepts at most {MAX_SECTIONS}")]
    TooManySections(usize),
    #[error("PE file is {0} bytes; at most {MAX_PE_BYTES} are compared")]
    TooLarge(usize),
    #[error("malformed PE file: {0}")]
    Malformed(String),
}

/// One way two PE files differ.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "part", rename_all = "kebab-case")]
pub enum PeDifference {
    /// COFF header TimeDateStamp (link or strip time).
    TimeDateStamp { expected: u32, actual: u32 },
    /// Optional header CheckSum.
    CheckSum { expected: u32, actual: u32 },
    /// The Authenticode certificate table (security directory), appended at the end of
    /// the file: its size on each side (0 = none).
    CertificateTable { expected: u32, actual: u32 },
    /// Debug directory entries' time stamps or the data they point to (CodeView GUID and
    /// age, PDB path, build id).
    DebugDirectory,
    /// A section's bytes (`.text`: the code).
    Section { name: String },
    /// Header bytes other than the fields above.
    Headers,
    /// Number, names, sizes or places of the sections.
    SectionTable,
    /// Data after the last section other than a certificate table.
    TrailingData,
}

impl PeDifference {
    /// True for the parts two honest builds of one source may differ in.
    pub fn is_noise(&self) -> bool {
        matches!(
            self,
            PeDifference::TimeDateStamp { .. }
                | PeDifference::CheckSum { .. }
                | PeDifference::CertificateTable { .. }
                | PeDifference::DebugDirectory
        )
    }

    /// Short name for reports: `TimeDateStamp`, `CheckSum`, `certificate table`,
    /// `debug directory`, `section .text (code)`, ...
    pub fn part(&self) -> String {
        match self {
            PeDifference::TimeDateStamp { .. } => "TimeDateStamp".into(),
            PeDifference::CheckSum { .. } => "CheckSum".into(),
            PeDifference::CertificateTable { .. } => "certificate table".into(),
            PeDifference::DebugDirectory => "debug directory".into(),
            PeDifference::Section { name } if name == ".text" => "section .text (code)".into(),
            PeDifference::Section { name } => format!("section {name}"),
            PeDifference::Headers => "headers".into(),
            PeDifference::SectionTable => "section table".into(),
            PeDifference::TrailingData => "trailing data".into(),
        }
    }

    /// Both sides' values, where the difference has them.
    pub fn values(&self) -> Option<(String, String)> {
        match self {
            PeDifference::TimeDateStamp { expected, actual }
            | PeDifference::CheckSum { expected, actual } => {
                Some((format!("0x{expected:08x}"), format!("0x{actual:08x}")))
            }
            PeDifference::CertificateTable { expected, actual } => {
                let s = |n: &u32| {
                    if *n == 0 {
                        "none".to_string()
                    } else {
                        format!("{n} bytes")
                    }
                };
                Some((s(expected), s(actual)))
            }
            _ => None,
        }
    }
}

/// A section as laid out in the file.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Section {
    name: String,
    virtual_address: u32,
    virtual_size: u32,
    raw: (usize, usize),
    characteristics: u32,
}

/// The facts of one PE file the comparison needs.
#[derive(Debug, Clone)]
struct Layout {
    time_date_stamp: u32,
    checksum: u32,
    /// File offsets of the fields normalised away.
    time_date_stamp_at: usize,
    checksum_at: usize,
    security_entry_at: Option<usize>,
    size_of_headers: usize,
    sections: Vec<Section>,
    /// The certificate table's file range, when it is a well-formed table at the end.
    certificate: Option<(usize, usize)>,
    /// Debug directory entries: (entry offset, raw data range).
    debug: Vec<(usize, Option<(usize, usize)>)>,
}

fn u16_at(b: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_le_bytes(b.get(at..at + 2)?.try_into().ok()?))
}

fn u32_at(b: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_le_bytes(b.get(at..at + 4)?.try_into().ok()?))
}

fn section_name(raw: &[u8; 8]) -> String {
    let end = raw.iter().position(|&c| c == 0).unwrap_or(8);
    String::from_utf8_lossy(&raw[..end]).into_owned()
}

/// Is `data[off..off+len]` a sequence of `WIN_CERTIFICATE` entries filling it exactly?
fn certificate_table_ok(data: &[u8], off: usize, len: usize) -> bool {
    let end = off + len;
    let mut at = off;
    while at < end {
        let (Some(n), Some(rev)) = (u32_at(data, at), u16_at(data, at + 4)) else {
            return false;
        };
        let n = n as usize;
        if n < WIN_CERT_HEADER || (rev != WIN_CERT_REVISION_1 && rev != WIN_CERT_REVISION_2) {
            return false;
        }
        // Entries are 8-byte aligned.
        let next = at.saturating_add(n.div_ceil(8) * 8);
        if at + n > end {
            return false;
        }
        at = next.min(end);
    }
    at == end
}

fn layout_of<'d, Pe: ImageNtHeaders>(
    data: &'d [u8],
    file: &object::read::pe::PeFile<'d, Pe, &'d [u8]>,
) -> Result<Layout, PeError> {
    let e_lfanew = file.dos_header().nt_headers_offset() as usize;
    let fh = file.nt_headers().file_header();
    let oh = file.nt_headers().optional_header();
    let nsections = fh.number_of_sections.get(LE) as usize;
    if nsections > MAX_SECTIONS {
        return Err(PeError::TooManySections(nsections));
    }
    let coff = e_lfanew + 4;
    let opt = coff + pe::IMAGE_SIZEOF_FILE_HEADER;
    let dirs_at = opt
        + if Pe::is_type_64(file.nt_headers()) {
            112
        } else {
            96
        };
    let ndirs = oh.number_of_rva_and_sizes() as usize;
    let size_of_headers = oh.size_of_headers() as usize;
    if size_of_headers > data.len() {
        return Err(PeError::Truncated(format!(
            "SizeOfHeaders is {size_of_headers} but the file has {} bytes",
            data.len()
        )));
    }
    let mut sections = Vec::new();
    for s in file.section_table().iter() {
        // The raw extent as the header declares it (object's `pe_file_range` clips it to
        // the virtual size, which would hide a cut-off padding).
        let (off, len) = (
            s.pointer_to_raw_data.get(LE) as usize,
            s.size_of_raw_data.get(LE) as usize,
        );
        if off.checked_add(len).is_none_or(|e| e > data.len()) {
            return Err(PeError::Truncated(format!(
                "section {} holds bytes {off}..{} but the file has {} bytes",
                section_name(&s.name),
                off + len,
                data.len()
            )));
        }
        sections.push(Section {
            name: section_name(&s.name),
            virtual_address: s.virtual_address.get(LE),
            virtual_size: s.virtual_size.get(LE),
            raw: (off, len),
            characteristics: s.characteristics.get(LE),
        });
    }
    let mut certificate = None;
    let mut security_entry_at = None;
    if ndirs > pe::IMAGE_DIRECTORY_ENTRY_SECURITY {
        security_entry_at = Some(dirs_at + 8 * pe::IMAGE_DIRECTORY_ENTRY_SECURITY);
        if let Some(d) = file.data_directory(pe::IMAGE_DIRECTORY_ENTRY_SECURITY) {
            // The security directory holds a file offset, not an RVA.
            let (off, len) = (d.virtual_address.get(LE) as usize, d.size.get(LE) as usize);
            if len > 0 {
                if off.checked_add(len).is_none_or(|e| e > data.len()) {
                    return Err(PeError::Truncated(format!(
                        "the certificate table holds bytes {off}..{} but the file has {} bytes",
                        off.saturating_add(len),
                        data.len()
                    )));
                }
                if off + len == data.len() && certificate_table_ok(data, off, len) {
                    certificate = Some((off, len));
                }
            }
        }
    }
    let mut debug = Vec::new();
    if let Some(d) = file.data_directory(pe::IMAGE_DIRECTORY_ENTRY_DEBUG)
        && d.size.get(LE) > 0
    {
        let table = file.section_table();
        let (off, len) = d.file_range(&table).map_err(|e| {
            PeError::Malformed(format!("the debug directory is outside every section: {e}"))
        })?;
        let (off, len) = (off as usize, len as usize);
        if off + len > data.len() {
            return Err(PeError::Truncated("the debug directory".into()));
        }
        let n = len / 28;
        if n > MAX_DEBUG_ENTRIES {
            return Err(PeError::Malformed(format!(
                "the debug directory declares {n} entries (at most {MAX_DEBUG_ENTRIES} are read)"
            )));
        }
        for i in 0..n {
            let at = off + 28 * i;
            let size = u32_at(data, at + 16).unwrap_or(0) as usize;
            let ptr = u32_at(data, at + 24).unwrap_or(0) as usize;
            let raw = (size > 0 && ptr > 0).then_some((ptr, size));
            if let Some((p, s)) = raw
                && p.checked_add(s).is_none_or(|e| e > data.len())
            {
                return Err(PeError::Truncated(format!(
                    "debug directory entry {i} points at bytes {p}..{} but the file has {} bytes",
                    p.saturating_add(s),
                    data.len()
                )));
            }
            debug.push((at, raw));
        }
    }
    Ok(Layout {
        time_date_stamp: fh.time_date_stamp.get(LE),
        checksum: oh.check_sum(),
        time_date_stamp_at: coff + 4,
        checksum_at: opt + 64,
        security_entry_at,
        size_of_headers,
        sections,
        certificate,
        debug,
    })
}

fn layout(data: &[u8]) -> Result<Layout, PeError> {
    if data.len() > MAX_PE_BYTES {
        return Err(PeError::TooLarge(data.len()));
    }
    if data.len() < 64 || &data[..2] != b"MZ" {
        return Err(PeError::NotPe("no MZ header".into()));
    }
    let e_lfanew = u32_at(data, 60).unwrap_or(0) as usize;
    if e_lfanew.checked_add(24 + 2).is_none_or(|e| e > data.len()) {
        return Err(PeError::Truncated(format!(
            "the PE header offset is {e_lfanew} but the file has {} bytes",
            data.len()
        )));
    }
    if data.get(e_lfanew..e_lfanew + 4) != Some(b"PE\0\0") {
        return Err(PeError::NotPe("no PE signature".into()));
    }
    // Checked before `object` reads the section table, so the error names the count.
    let nsections = u16_at(data, e_lfanew + 6).unwrap_or(0) as usize;
    if nsections > MAX_SECTIONS {
        return Err(PeError::TooManySections(nsections));
    }
    let magic = u16_at(data, e_lfanew + 24).unwrap_or(0);
    let bad = |e: object::Error| PeError::Truncated(e.to_string());
    match magic {
        pe::IMAGE_NT_OPTIONAL_HDR64_MAGIC => {
            let f = PeFile64::parse(data).map_err(bad)?;
            layout_of(data, &f)
        }
        pe::IMAGE_NT_OPTIONAL_HDR32_MAGIC => {
            let f = PeFile32::parse(data).map_err(bad)?;
            layout_of(data, &f)
        }
        m => Err(PeError::NotPe(format!("optional header magic 0x{m:04x}"))),
    }
}

/// The file with the noise fields zeroed and the certificate table cut off, and where its
/// sections end.
fn normalise(data: &[u8], l: &Layout) -> Vec<u8> {
    let end = l.certificate.map_or(data.len(), |(off, _)| off);
    let mut b = data[..end].to_vec();
    let mut zero = |at: usize, n: usize| {
        if let Some(s) = b.get_mut(at..at + n) {
            s.fill(0);
        }
    };
    zero(l.time_date_stamp_at, 4);
    zero(l.checksum_at, 4);
    if let Some(at) = l.security_entry_at {
        zero(at, 8);
    }
    for (at, raw) in &l.debug {
        zero(at + 4, 4);
        if let Some((p, s)) = raw {
            zero(*p, *s);
        }
    }
    // A signer pads the image to 8 bytes before appending the table.
    let sections_end = l
        .sections
        .iter()
        .map(|s| s.raw.0 + s.raw.1)
        .chain([l.size_of_headers])
        .max()
        .unwrap_or(0);
    while b.len() > sections_end && b.last() == Some(&0) {
        b.pop();
    }
    b
}

fn debug_bytes(data: &[u8], l: &Layout) -> Vec<Vec<u8>> {
    l.debug
        .iter()
        .map(|(at, raw)| {
            let mut v = data.get(*at..at + 28).unwrap_or_default().to_vec();
            if let Some((p, s)) = raw {
                v.extend_from_slice(data.get(*p..p + s).unwrap_or_default());
            }
            v
        })
        .collect()
}

/// Parse `data` as PE and check its structure (for a clear error on a bad file).
pub fn check(data: &[u8]) -> Result<(), PeError> {
    layout(data).map(|_| ())
}

/// How `actual` differs from `expected`, part by part (empty: the same bytes).
pub fn compare(expected: &[u8], actual: &[u8]) -> Result<Vec<PeDifference>, PeError> {
    let (le, la) = (layout(expected)?, layout(actual)?);
    let mut out = Vec::new();
    if le.time_date_stamp != la.time_date_stamp {
        out.push(PeDifference::TimeDateStamp {
            expected: le.time_date_stamp,
            actual: la.time_date_stamp,
        });
    }
    if le.checksum != la.checksum {
        out.push(PeDifference::CheckSum {
            expected: le.checksum,
            actual: la.checksum,
        });
    }
    let cert = |d: &[u8], l: &Layout| l.certificate.map(|(o, n)| d[o..o + n].to_vec());
    if cert(expected, &le) != cert(actual, &la) {
        let size = |l: &Layout| l.certificate.map_or(0, |(_, n)| n as u32);
        out.push(PeDifference::CertificateTable {
            expected: size(&le),
            actual: size(&la),
        });
    }
    if debug_bytes(expected, &le) != debug_bytes(actual, &la) {
        out.push(PeDifference::DebugDirectory);
    }
    let (ne, na) = (normalise(expected, &le), normalise(actual, &la));
    if ne == na {
        return Ok(out);
    }
    let mut found = false;
    if le.sections != la.sections {
        out.push(PeDifference::SectionTable);
        found = true;
    }
    let hdr = |b: &[u8], l: &Layout| b[..l.size_of_headers.min(b.len())].to_vec();
    if hdr(&ne, &le) != hdr(&na, &la) && !found {
        out.push(PeDifference::Headers);
        found = true;
    }
    for s in &le.sections {
        let Some(t) = la.sections.iter().find(|t| t.name == s.name) else {
            continue;
        };
        let get = |b: &[u8], r: (usize, usize)| b.get(r.0..r.0 + r.1).map(<[u8]>::to_vec);
        if get(&ne, s.raw) != get(&na, t.raw) {
            out.push(PeDifference::Section {
                name: s.name.clone(),
            });
            found = true;
        }
    }
    if !found {
        // Same headers and sections: the bytes differ outside them.
        out.push(PeDifference::TrailingData);
    }
    Ok(out)
}

/// Is `name` (a path in a layer) a file type this module compares?
pub fn is_pe_name(name: &str) -> bool {
    let n = name.to_ascii_lowercase();
    [".exe", ".dll", ".sys", ".efi", ".scr", ".ocx", ".cpl"]
        .iter()
        .any(|e| n.ends_with(e))
}
