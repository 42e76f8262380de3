//! Tar header blocks, encoded exactly as Go's `archive/tar` writes them and decoded
//! leniently as Go reads them (octal or base-256 numbers, NUL/space padding).
//!
//! Hand-written rather than `tar::Header` because the `tar` crate formats the checksum
//! as seven octal digits plus NUL where Go writes six digits, NUL and a space, and its
//! `append_pax_extensions` leaves the extended header's name, mode, uid, gid and mtime
//! fields empty where Go writes `dir/PaxHeaders.0/file` and zero-filled octal fields.
//! A layer that is to be byte-identical with one hcsshim exports needs Go's bytes.

pub const BLOCK: usize = 512;
/// USTAR field sizes.
pub const NAME_LEN: usize = 100;
pub const PREFIX_LEN: usize = 155;

/// Field offsets in a USTAR header block.
pub mod off {
    pub const NAME: usize = 0;
    pub const MODE: usize = 100;
    pub const UID: usize = 108;
    pub const GID: usize = 116;
    pub const SIZE: usize = 124;
    pub const MTIME: usize = 136;
    pub const CHKSUM: usize = 148;
    pub const TYPEFLAG: usize = 156;
    pub const LINKNAME: usize = 157;
    pub const MAGIC: usize = 257;
    pub const VERSION: usize = 263;
    pub const UNAME: usize = 265;
    pub const GNAME: usize = 297;
    pub const DEVMAJOR: usize = 329;
    pub const DEVMINOR: usize = 337;
    pub const PREFIX: usize = 345;
}

/// Largest value an octal field of `len` bytes holds (len-1 digits plus NUL), as Go's
/// `fitsInOctal`.
pub fn fits_octal(len: usize, x: u64) -> bool {
    let digits = (len - 1) as u32;
    x < 8u64.saturating_pow(digits)
}

/// Go's `formatString`: copy what fits (the rest is lost: a PAX record carries the full
/// value), NUL-terminate when room is left, and when a cut value ends the field with `/`
/// replace that slash run by a NUL (Go's guard against readers that would take a file
/// for a directory).
pub fn put_str(blk: &mut [u8; BLOCK], at: usize, len: usize, s: &[u8]) {
    let field = &mut blk[at..at + len];
    let n = s.len().min(len);
    field[..n].copy_from_slice(&s[..n]);
    if s.len() < len {
        field[s.len()] = 0;
    }
    if s.len() > len && field[len - 1] == b'/' {
        let mut k = len - 1;
        while k > 0 && s[k - 1] == b'/' {
            k -= 1;
        }
        field[k] = 0;
    }
}

/// Go's `formatOctal`: zero-padded to len-1 digits and a NUL (cut like `put_str` when
/// too large; the writer validates ranges first and a PAX record carries big sizes).
pub fn put_octal(blk: &mut [u8; BLOCK], at: usize, len: usize, x: u64) {
    let s = format!("{x:o}");
    let padded = if s.len() < len - 1 {
        format!("{}{}", "0".repeat(len - 1 - s.len()), s)
    } else {
        s
    };
    put_str(blk, at, len, padded.as_bytes());
}

/// Write the magic for USTAR/PAX and Go's checksum field (six octal digits, NUL, space).
pub fn finish_block(blk: &mut [u8; BLOCK]) {
    blk[off::MAGIC..off::MAGIC + 6].copy_from_slice(b"ustar\0");
    blk[off::VERSION..off::VERSION + 2].copy_from_slice(b"00");
    let (sum, _) = checksums(blk);
    blk[off::CHKSUM..off::CHKSUM + 8].fill(0);
    put_octal(blk, off::CHKSUM, 7, sum);
    blk[off::CHKSUM + 7] = b' ';
}

/// Unsigned and signed (historic Sun tar) sums with the checksum field read as spaces.
pub fn checksums(blk: &[u8; BLOCK]) -> (u64, i64) {
    let mut u = 0u64;
    let mut s = 0i64;
    for (i, &c) in blk.iter().enumerate() {
        let c = if (off::CHKSUM..off::CHKSUM + 8).contains(&i) {
            b' '
        } else {
            c
        };
        u += u64::from(c);
        s += i64::from(c as i8);
    }
    (u, s)
}

/// Go's `toASCII`: drop non-ASCII characters and NULs.
pub fn to_ascii(s: &str) -> String {
    s.chars().filter(|c| c.is_ascii() && *c != '\0').collect()
}

pub fn is_ascii_c(s: &str) -> bool {
    s.bytes().all(|b| b != 0 && b < 0x80)
}

/// Go's `splitUSTARPath`: split a long ASCII name into prefix and name fields.
pub fn split_ustar_path(name: &str) -> Option<(&str, &str)> {
    let bytes = name.as_bytes();
    let mut length = bytes.len();
    if length <= NAME_LEN || !is_ascii_c(name) {
        return None;
    } else if length > PREFIX_LEN + 1 {
        length = PREFIX_LEN + 1;
    } else if bytes[length - 1] == b'/' {
        length -= 1;
    }
    let i = name[..length].rfind('/')?;
    let nlen = bytes.len() - i - 1;
    if i == 0 || nlen > NAME_LEN || nlen == 0 || i > PREFIX_LEN {
        return None;
    }
    Some((&name[..i], &name[i + 1..]))
}

/// Go's `formatPAXRecord`: "%d %s=%s\n" where %d counts the whole record.
pub fn pax_record(k: &str, v: &str) -> String {
    let mut size = k.len() + v.len() + 3;
    size += size.to_string().len();
    let rec = format!("{size} {k}={v}\n");
    if rec.len() == size {
        return rec;
    }
    format!("{} {k}={v}\n", rec.len())
}

/// Go's `path.Join(dir, "PaxHeaders.0", file)` for a clean relative name.
pub fn pax_header_name(name: &str) -> String {
    let n = match name.rsplit_once('/') {
        Some((dir, file)) => format!("{dir}/PaxHeaders.0/{file}"),
        None => format!("PaxHeaders.0/{name}"),
    };
    let mut n = to_ascii(&n);
    n.truncate(NAME_LEN);
    n.trim_end_matches('/').to_string()
}

/// A NUL-terminated string field.
pub fn get_str(blk: &[u8; BLOCK], at: usize, len: usize) -> &[u8] {
    let f = &blk[at..at + len];
    let end = f.iter().position(|&b| b == 0).unwrap_or(len);
    &f[..end]
}

/// A numeric field: base-256 when the high bit is set, else octal with NUL/space padding
/// (Go's `parseNumeric`). `None` when malformed or out of range.
pub fn get_num(blk: &[u8; BLOCK], at: usize, len: usize) -> Option<i64> {
    let f = &blk[at..at + len];
    if f.first().is_some_and(|b| b & 0x80 != 0) {
        let inv: u8 = if f[0] & 0x40 != 0 { 0xff } else { 0 };
        let mut x: u64 = 0;
        for (i, &c) in f.iter().enumerate() {
            let mut c = c ^ inv;
            if i == 0 {
                c &= 0x7f;
            }
            if x >> 56 > 0 {
                return None;
            }
            x = (x << 8) | u64::from(c);
        }
        if x >> 63 > 0 {
            return None;
        }
        let v = x as i64;
        return Some(if inv == 0xff { !v } else { v });
    }
    let trimmed: &[u8] = {
        let start = f.iter().position(|&b| b != b' ' && b != 0);
        match start {
            None => return Some(0),
            Some(s) => {
                let end = f.iter().rposition(|&b| b != b' ' && b != 0).unwrap_or(s);
                &f[s..=end]
            }
        }
    };
    // Stop at an embedded NUL like Go's parseString.
    let t = trimmed.split(|&b| b == 0).next().unwrap_or(&[]);
    let s = std::str::from_utf8(t).ok()?;
    u64::from_str_radix(s, 8)
        .ok()
        .and_then(|v| i64::try_from(v).ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pax_record_lengths_match_go() {
        // Examples from the PAX spec / Go's tests: the length counts itself.
        assert_eq!(pax_record("path", "/etc/hosts"), "19 path=/etc/hosts\n");
        assert_eq!(pax_record("a", "b"), "6 a=b\n");
        // 3+1+4 = 8 -> "9 " would make 9+... the boundary case where adding the length
        // digit crosses 10.
        let r = pax_record("a", "12345");
        assert_eq!(r.len().to_string(), r.split(' ').next().unwrap());
        let v = "x".repeat(94);
        let r = pax_record("k", &v);
        assert_eq!(r, format!("101 k={v}\n"));
        assert_eq!(r.len(), 101);
        let v = "x".repeat(95);
        let r = pax_record("k", &v);
        assert_eq!(r.len(), 102);
        assert!(r.starts_with("102 "));
    }

    #[test]
    fn split_and_pax_name() {
        assert_eq!(pax_header_name("Files"), "PaxHeaders.0/Files");
        assert_eq!(
            pax_header_name("Files/tools/keylight.reg"),
            "Files/tools/PaxHeaders.0/keylight.reg"
        );
        let long = format!("{}/{}", "a".repeat(120), "b".repeat(20));
        assert_eq!(split_ustar_path(&long), Some((&long[..120], &long[121..])));
        assert_eq!(split_ustar_path("short"), None);
    }

    #[test]
    fn numbers_round_trip() {
        let mut b = [0u8; BLOCK];
        put_octal(&mut b, off::SIZE, 12, 0o777);
        assert_eq!(&b[off::SIZE..off::SIZE + 12], b"00000000777\0");
        assert_eq!(get_num(&b, off::SIZE, 12), Some(0o777));
        // base-256
        let mut b = [0u8; BLOCK];
        b[off::SIZE] = 0x80;
        b[off::SIZE + 11] = 5;
        assert_eq!(get_num(&b, off::SIZE, 12), Some(5));
        // too large for octal: Go copies the leading digits
        let mut b = [0u8; BLOCK];
        put_octal(&mut b, off::MODE, 8, 8u64.pow(8));
        assert_eq!(&b[off::MODE..off::MODE + 8], b"10000000");
        // a cut name ending in '/' loses the slash run
        let mut b = [0u8; BLOCK];
        let s = format!("{}//{}", "a".repeat(98), "b".repeat(10));
        put_str(&mut b, off::NAME, NAME_LEN, s.as_bytes());
        assert_eq!(&b[..99], format!("{}\0", "a".repeat(98)).as_bytes());
        // garbage
        let mut b = [0u8; BLOCK];
        b[off::SIZE..off::SIZE + 3].copy_from_slice(b"9zz");
        assert_eq!(get_num(&b, off::SIZE, 12), None);
    }
}
