//! Self-relative binary security descriptor → SDDL string, for reading `MSWINDOWS.rawsd`
//! in reports and diffs (e.g. `O:BUG:BU`, `O:BAG:SYD:(A;;FA;;;SY)(A;;0x1200a9;;;BU)`).
//!
//! Follows the documented SDDL grammar (Microsoft "Security Descriptor String Format",
//! "SID Strings", "ACE Strings"): well-known SIDs get their two-letter alias, others the
//! `S-1-...` form; access masks that equal a documented right or combination get its
//! token, other masks print as hex. Windows' own converter may order combined tokens
//! differently in rare cases, so use this for human comparison, not as an identity.
//! Malformed input is an error, never a panic. No crate on crates.io decodes SDs without
//! the Windows API, hence this module.

use std::fmt::Write as _;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("malformed security descriptor: {0}")]
pub struct SdError(pub String);

fn err<T>(s: impl Into<String>) -> Result<T, SdError> {
    Err(SdError(s.into()))
}

fn u16_at(b: &[u8], at: usize) -> Result<u16, SdError> {
    b.get(at..at + 2)
        .map(|s| u16::from_le_bytes([s[0], s[1]]))
        .ok_or_else(|| SdError(format!("needs 2 bytes at offset {at}, has {}", b.len())))
}

fn u32_at(b: &[u8], at: usize) -> Result<u32, SdError> {
    b.get(at..at + 4)
        .map(|s| u32::from_le_bytes([s[0], s[1], s[2], s[3]]))
        .ok_or_else(|| SdError(format!("needs 4 bytes at offset {at}, has {}", b.len())))
}

const SE_DACL_PRESENT: u16 = 0x0004;
const SE_SACL_PRESENT: u16 = 0x0010;
const SE_DACL_AUTO_INHERIT_REQ: u16 = 0x0100;
const SE_SACL_AUTO_INHERIT_REQ: u16 = 0x0200;
const SE_DACL_AUTO_INHERITED: u16 = 0x0400;
const SE_SACL_AUTO_INHERITED: u16 = 0x0800;
const SE_DACL_PROTECTED: u16 = 0x1000;
const SE_SACL_PROTECTED: u16 = 0x2000;
const SE_SELF_RELATIVE: u16 = 0x8000;

/// Decode a self-relative security descriptor into SDDL.
pub fn to_sddl(sd: &[u8]) -> Result<String, SdError> {
    if sd.len() < 20 {
        return err(format!(
            "{} bytes is shorter than the 20-byte header",
            sd.len()
        ));
    }
    if sd[0] != 1 {
        return err(format!("revision {} (expected 1)", sd[0]));
    }
    let control = u16_at(sd, 2)?;
    if control & SE_SELF_RELATIVE == 0 {
        return err("not self-relative (absolute descriptors hold pointers, not offsets)");
    }
    let owner = u32_at(sd, 4)? as usize;
    let group = u32_at(sd, 8)? as usize;
    let sacl = u32_at(sd, 12)? as usize;
    let dacl = u32_at(sd, 16)? as usize;
    let mut out = String::new();
    if owner != 0 {
        out.push_str("O:");
        out.push_str(&sid_alias(&parse_sid(sd, owner)?.0));
    }
    if group != 0 {
        out.push_str("G:");
        out.push_str(&sid_alias(&parse_sid(sd, group)?.0));
    }
    if control & SE_DACL_PRESENT != 0 {
        out.push_str("D:");
        acl_flags(
            &mut out,
            control,
            SE_DACL_PROTECTED,
            SE_DACL_AUTO_INHERIT_REQ,
            SE_DACL_AUTO_INHERITED,
        );
        if dacl == 0 {
            out.push_str("NO_ACCESS_CONTROL");
        } else {
            acl(sd, dacl, &mut out)?;
        }
    }
    if control & SE_SACL_PRESENT != 0 {
        out.push_str("S:");
        acl_flags(
            &mut out,
            control,
            SE_SACL_PROTECTED,
            SE_SACL_AUTO_INHERIT_REQ,
            SE_SACL_AUTO_INHERITED,
        );
        if sacl == 0 {
            out.push_str("NO_ACCESS_CONTROL");
        } else {
            acl(sd, sacl, &mut out)?;
        }
    }
    Ok(out)
}

fn acl_flags(out: &mut String, control: u16, p: u16, ar: u16, ai: u16) {
    if control & p != 0 {
        out.push('P');
    }
    if control & ar != 0 {
        out.push_str("AR");
    }
    if control & ai != 0 {
        out.push_str("AI");
    }
}

/// A SID at `at`: its string form and byte length.
fn parse_sid(b: &[u8], at: usize) -> Result<(String, usize), SdError> {
    let rev = *b
        .get(at)
        .ok_or_else(|| SdError(format!("SID offset {at} past the end")))?;
    let count = *b
        .get(at + 1)
        .ok_or_else(|| SdError(format!("SID at {at} truncated")))? as usize;
    if rev != 1 {
        return err(format!("SID at {at} has revision {rev}"));
    }
    if count > 15 {
        return err(format!("SID at {at} has {count} sub-authorities (max 15)"));
    }
    let auth = b
        .get(at + 2..at + 8)
        .ok_or_else(|| SdError(format!("SID at {at} truncated")))?;
    let authority = auth.iter().fold(0u64, |a, &x| (a << 8) | u64::from(x));
    let mut s = if authority < (1 << 32) {
        format!("S-1-{authority}")
    } else {
        format!("S-1-0x{authority:012X}")
    };
    for i in 0..count {
        let _ = write!(s, "-{}", u32_at(b, at + 8 + 4 * i)?);
    }
    Ok((s, 8 + 4 * count))
}

/// The two-letter SDDL alias of a well-known, machine-independent SID.
pub fn sid_alias(sid: &str) -> String {
    let alias = match sid {
        "S-1-1-0" => "WD",
        "S-1-3-0" => "CO",
        "S-1-3-1" => "CG",
        "S-1-3-4" => "OW",
        "S-1-5-2" => "NU",
        "S-1-5-4" => "IU",
        "S-1-5-6" => "SU",
        "S-1-5-7" => "AN",
        "S-1-5-9" => "ED",
        "S-1-5-10" => "PS",
        "S-1-5-11" => "AU",
        "S-1-5-12" => "RC",
        "S-1-5-18" => "SY",
        "S-1-5-19" => "LS",
        "S-1-5-20" => "NS",
        "S-1-5-33" => "WR",
        "S-1-5-32-544" => "BA",
        "S-1-5-32-545" => "BU",
        "S-1-5-32-546" => "BG",
        "S-1-5-32-547" => "PU",
        "S-1-5-32-548" => "AO",
        "S-1-5-32-549" => "SO",
        "S-1-5-32-550" => "PO",
        "S-1-5-32-551" => "BO",
        "S-1-5-32-552" => "RE",
        "S-1-5-32-554" => "RU",
        "S-1-5-32-555" => "RD",
        "S-1-5-32-556" => "NO",
        "S-1-5-32-558" => "MU",
        "S-1-5-32-559" => "LU",
        "S-1-5-32-568" => "IS",
        "S-1-5-32-569" => "CY",
        "S-1-5-32-573" => "ER",
        "S-1-5-32-575" => "RA",
        "S-1-5-32-576" => "ES",
        "S-1-5-32-577" => "MS",
        "S-1-5-32-578" => "HA",
        "S-1-5-32-579" => "AA",
        "S-1-5-32-580" => "RM",
        "S-1-15-2-1" => "AC",
        "S-1-16-4096" => "LW",
        "S-1-16-8192" => "ME",
        "S-1-16-8448" => "MP",
        "S-1-16-12288" => "HI",
        "S-1-16-16384" => "SI",
        "S-1-18-1" => "AS",
        "S-1-18-2" => "SS",
        other => return other.to_string(),
    };
    alias.to_string()
}

fn acl(sd: &[u8], at: usize, out: &mut String) -> Result<(), SdError> {
    let rev = *sd
        .get(at)
        .ok_or_else(|| SdError(format!("ACL offset {at} past the end")))?;
    if !(2..=4).contains(&rev) {
        return err(format!("ACL at {at} has revision {rev}"));
    }
    let size = u16_at(sd, at + 2)? as usize;
    let count = u16_at(sd, at + 4)? as usize;
    let end = at + size;
    if end > sd.len() || size < 8 {
        return err(format!("ACL at {at} claims {size} bytes"));
    }
    let mut p = at + 8;
    for i in 0..count {
        if p + 4 > end {
            return err(format!("ACE {i} of the ACL at {at} runs past the ACL"));
        }
        let ace_type = sd[p];
        let flags = sd[p + 1];
        let ace_size = u16_at(sd, p + 2)? as usize;
        if ace_size < 8 || p + ace_size > end {
            return err(format!("ACE {i} at {p} has size {ace_size}"));
        }
        let ace = &sd[..p + ace_size];
        out.push('(');
        out.push_str(&ace_one(ace, p, ace_type, flags)?);
        out.push(')');
        p += ace_size;
    }
    Ok(())
}

fn ace_one(b: &[u8], p: usize, ace_type: u8, flags: u8) -> Result<String, SdError> {
    let ty = match ace_type {
        0x00 => "A",
        0x01 => "D",
        0x02 => "AU",
        0x03 => "AL",
        0x05 => "OA",
        0x06 => "OD",
        0x07 => "OU",
        0x08 => "OL",
        0x09 => "XA",
        0x0A => "XD",
        0x0D => "XU",
        0x11 => "ML",
        0x12 => "RA",
        0x13 => "SP",
        0x14 => "TL",
        other => return err(format!("unsupported ACE type 0x{other:02x} at {p}")),
    };
    let mask = u32_at(b, p + 4)?;
    let mut q = p + 8;
    let (mut obj, mut inh) = (String::new(), String::new());
    if matches!(ace_type, 0x05..=0x08) {
        let oflags = u32_at(b, q)?;
        q += 4;
        if oflags & 1 != 0 {
            obj = guid(b, q)?;
            q += 16;
        }
        if oflags & 2 != 0 {
            inh = guid(b, q)?;
            q += 16;
        }
    }
    let (sid, _) = parse_sid(b, q)?;
    Ok(format!(
        "{ty};{};{};{obj};{inh};{}",
        ace_flags(flags),
        rights(mask),
        sid_alias(&sid)
    ))
}

fn guid(b: &[u8], at: usize) -> Result<String, SdError> {
    let g = b
        .get(at..at + 16)
        .ok_or_else(|| SdError(format!("GUID at {at} truncated")))?;
    Ok(format!(
        "{:08x}-{:04x}-{:04x}-{:02x}{:02x}-{:02x}{:02x}{:02x}{:02x}{:02x}{:02x}",
        u32::from_le_bytes([g[0], g[1], g[2], g[3]]),
        u16::from_le_bytes([g[4], g[5]]),
        u16::from_le_bytes([g[6], g[7]]),
        g[8],
        g[9],
        g[10],
        g[11],
        g[12],
        g[13],
        g[14],
        g[15]
    ))
}

fn ace_flags(f: u8) -> String {
    let mut s = String::new();
    for (bit, tok) in [
        (0x01, "OI"),
        (0x02, "CI"),
        (0x04, "NP"),
        (0x08, "IO"),
        (0x10, "ID"),
        (0x40, "SA"),
        (0x80, "FA"),
    ] {
        if f & bit != 0 {
            s.push_str(tok);
        }
    }
    if f & 0x20 != 0 {
        let _ = write!(s, "0x20");
    }
    s
}

fn rights(mask: u32) -> String {
    for (m, tok) in [
        (0x001F_01FF, "FA"),
        (0x0012_0089, "FR"),
        (0x0012_0116, "FW"),
        (0x0012_00A0, "FX"),
        (0x000F_003F, "KA"),
        (0x0002_0019, "KR"),
        (0x0002_0006, "KW"),
    ] {
        if mask == m {
            return tok.to_string();
        }
    }
    let bits = [
        (0x1000_0000, "GA"),
        (0x8000_0000, "GR"),
        (0x4000_0000, "GW"),
        (0x2000_0000, "GX"),
        (0x0002_0000, "RC"),
        (0x0001_0000, "SD"),
        (0x0004_0000, "WD"),
        (0x0008_0000, "WO"),
        (0x0000_0010, "RP"),
        (0x0000_0020, "WP"),
        (0x0000_0001, "CC"),
        (0x0000_0002, "DC"),
        (0x0000_0004, "LC"),
        (0x0000_0008, "SW"),
        (0x0000_0080, "LO"),
        (0x0000_0040, "DT"),
        (0x0000_0100, "CR"),
    ];
    let covered = bits.iter().fold(0u32, |a, (b, _)| a | b);
    if mask != 0 && mask & !covered == 0 {
        return bits
            .iter()
            .filter(|(b, _)| mask & b != 0)
            .map(|(_, t)| *t)
            .collect();
    }
    format!("0x{mask:x}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::Engine as _;

    fn b64(s: &str) -> Vec<u8> {
        base64::engine::general_purpose::STANDARD.decode(s).unwrap()
    }

    #[test]
    fn ggcr_users_descriptor_is_o_bu_g_bu() {
        // go-containerregistry's internal/windows comment says: $sddlValue="O:BUG:BU".
        assert_eq!(
            to_sddl(&b64(crate::wclayer::GGCR_USERS_SD_B64)).unwrap(),
            "O:BUG:BU"
        );
    }

    /// Build a descriptor by hand from the documented layout.
    fn sid(auth: u8, subs: &[u32]) -> Vec<u8> {
        let mut v = vec![1, subs.len() as u8, 0, 0, 0, 0, 0, auth];
        for s in subs {
            v.extend_from_slice(&s.to_le_bytes());
        }
        v
    }

    #[test]
    fn dacl_with_aces_and_unknown_sid() {
        let owner = sid(5, &[32, 544]);
        let group = sid(5, &[18]);
        let ace = |t: u8, f: u8, mask: u32, s: &[u8]| {
            let mut a = vec![t, f];
            a.extend_from_slice(&((8 + s.len()) as u16).to_le_bytes());
            a.extend_from_slice(&mask.to_le_bytes());
            a.extend_from_slice(s);
            a
        };
        let aces = [
            ace(0, 0, 0x1F01FF, &sid(5, &[18])),
            ace(0, 0x0B, 0x1000_0000, &sid(3, &[0])),
            ace(1, 0x10, 0x1200a9, &sid(5, &[93, 2, 2])),
        ];
        let body: Vec<u8> = aces.concat();
        let mut acl = vec![2, 0];
        acl.extend_from_slice(&((8 + body.len()) as u16).to_le_bytes());
        acl.extend_from_slice(&(aces.len() as u16).to_le_bytes());
        acl.extend_from_slice(&[0, 0]);
        acl.extend_from_slice(&body);
        let mut sd = vec![1, 0];
        sd.extend_from_slice(&(0x8000u16 | 0x4 | 0x1000).to_le_bytes());
        let o = 20u32;
        let g = o + owner.len() as u32;
        let d = g + group.len() as u32;
        for x in [o, g, 0, d] {
            sd.extend_from_slice(&x.to_le_bytes());
        }
        sd.extend_from_slice(&owner);
        sd.extend_from_slice(&group);
        sd.extend_from_slice(&acl);
        assert_eq!(
            to_sddl(&sd).unwrap(),
            "O:BAG:SYD:P(A;;FA;;;SY)(A;OICIIO;GA;;;CO)(D;ID;0x1200a9;;;S-1-5-93-2-2)"
        );
        // Every truncation is an error, never a panic.
        for n in 0..sd.len() {
            let _ = to_sddl(&sd[..n]);
        }
        assert!(to_sddl(&sd[..sd.len() - 1]).is_err());
    }

    #[test]
    fn malformed_is_error() {
        assert!(to_sddl(&[]).is_err());
        assert!(to_sddl(&[2; 20]).is_err());
        let mut v = b64(crate::wclayer::GGCR_USERS_SD_B64);
        v[4] = 0xff; // owner offset past the end
        assert!(to_sddl(&v).is_err());
    }
}
