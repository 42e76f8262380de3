//! Image references as skopeo / regctl users write them.
//!
//! - `oci:DIR[:TAG]`, `oci:DIR@sha256:HEX` (also `oci:DIR:TAG@sha256:HEX`: both must agree)
//! - `docker-archive:FILE[:NAME:TAG | :@N]` (select an image of a multi-image archive)
//! - `docker://HOST/REPO[:TAG][@sha256:HEX]`, and a bare `HOST/REPO[:TAG][@…]` = docker://
//! - `dir:DIR` (containers/image's directory transport; the whole rest is the path)
//!
//! As in containers/image, the path ends at the first `:` (a DIR containing `:` cannot be
//! written). Parsing only; opening is `image::open`.

use super::Digest;
use super::error::Error;
use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;

/// Where an image lives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ImageRef {
    /// An OCI image layout directory.
    Layout {
        dir: PathBuf,
        tag: Option<String>,
        digest: Option<Digest>,
    },
    /// A `docker save` tarball.
    Archive {
        path: PathBuf,
        /// `NAME:TAG` as listed in the archive's `RepoTags`.
        reference: Option<String>,
        /// `@N`: the N-th image of the archive's manifest.json.
        index: Option<usize>,
    },
    /// containers/image's `dir:` directory (manifest.json, blobs by hex, signature-N).
    Dir { path: PathBuf },
    /// A registry (distribution API).
    Registry {
        registry: String,
        repository: String,
        tag: Option<String>,
        digest: Option<Digest>,
    },
}

impl ImageRef {
    /// The same layout or repository, named by `digest` alone (its tag dropped), so it
    /// reaches exactly that image; `None` for a docker-archive, which has no digest names.
    pub fn by_digest(&self, digest: &Digest) -> Option<ImageRef> {
        match self {
            ImageRef::Layout { dir, .. } => Some(ImageRef::Layout {
                dir: dir.clone(),
                tag: None,
                digest: Some(digest.clone()),
            }),
            ImageRef::Registry {
                registry,
                repository,
                ..
            } => Some(ImageRef::Registry {
                registry: registry.clone(),
                repository: repository.clone(),
                tag: None,
                digest: Some(digest.clone()),
            }),
            ImageRef::Archive { .. } => None,
            // One image per directory: it is the one named.
            ImageRef::Dir { .. } => Some(self.clone()),
        }
    }
}

impl ImageRef {
    /// The layout, archive or repository itself, without tag, digest or archive
    /// selector: where things beside an image (signatures, attestations) are kept.
    pub fn location(&self) -> ImageRef {
        match self {
            ImageRef::Layout { dir, .. } => ImageRef::Layout {
                dir: dir.clone(),
                tag: None,
                digest: None,
            },
            ImageRef::Archive { path, .. } => ImageRef::Archive {
                path: path.clone(),
                reference: None,
                index: None,
            },
            ImageRef::Registry {
                registry,
                repository,
                ..
            } => ImageRef::Registry {
                registry: registry.clone(),
                repository: repository.clone(),
                tag: None,
                digest: None,
            },
            ImageRef::Dir { .. } => self.clone(),
        }
    }
}

/// Transports of containers/image we recognise but do not implement.
const OTHER_TRANSPORTS: &[&str] = &[
    "oci-archive",
    "docker-daemon",
    "containers-storage",
    "ostree",
    "sif",
    "tarball",
];

fn err(input: &str, reason: impl Into<String>) -> Error {
    Error::Reference {
        input: input.to_string(),
        reason: reason.into(),
    }
}

fn valid_tag(t: &str) -> bool {
    // Docker's tag grammar: [A-Za-z0-9_][A-Za-z0-9_.-]{0,127}
    !t.is_empty()
        && t.len() <= 128
        && t.bytes().enumerate().all(|(i, b)| {
            b.is_ascii_alphanumeric() || b == b'_' || (i > 0 && (b == b'.' || b == b'-'))
        })
}

fn parse_digest(input: &str, d: &str) -> Result<Digest, Error> {
    d.parse().map_err(|e| err(input, format!("{e}")))
}

impl FromStr for ImageRef {
    type Err = Error;
    fn from_str(input: &str) -> Result<Self, Error> {
        if input.is_empty() {
            return Err(err(input, "empty"));
        }
        if let Some(rest) = input.strip_prefix("oci:") {
            return parse_layout(input, rest);
        }
        if let Some(rest) = input.strip_prefix("docker-archive:") {
            return parse_archive(input, rest);
        }
        if let Some(rest) = input.strip_prefix("docker://") {
            return parse_registry(input, rest);
        }
        if let Some(rest) = input.strip_prefix("dir:") {
            // As containers/image: everything after `dir:` is the path.
            if rest.is_empty() {
                return Err(err(input, "missing directory (write dir:DIR)"));
            }
            return Ok(ImageRef::Dir {
                path: PathBuf::from(rest),
            });
        }
        if let Some((t, _)) = input.split_once(':') {
            if OTHER_TRANSPORTS.contains(&t) {
                return Err(Error::Unsupported(format!(
                    "transport {t:?} is not supported (use oci:, docker-archive:, dir: or docker://)"
                )));
            }
            if t == "docker" {
                return Err(err(input, "write docker://HOST/REPO (with two slashes)"));
            }
        }
        if let Some(hint) = path_hint(input) {
            return Err(err(input, hint));
        }
        parse_registry(input, input)
    }
}

/// A transport-less reference that is surely meant as a local directory: `./x`, `../x`,
/// `/abs`, `~/x`, or a bare `x` (no registry-looking host: no `.`, `:` or `localhost`
/// before its first `/`) that exists as a directory here. Refused with the spelling
/// that works, rather than tried (with retries) as a docker.io repository. The one look
/// at the file system in this module: the mistake is only visible there.
fn path_hint(input: &str) -> Option<String> {
    let suggest = || format!("looks like a path; did you mean oci:{input}?");
    if ["./", "../", "/", "~/"]
        .iter()
        .any(|p| input.starts_with(p))
        || input == "."
        || input == ".."
    {
        return Some(suggest());
    }
    let first = input.split('/').next().unwrap_or(input);
    let host_like =
        input.contains('/') && (first.contains('.') || first.contains(':') || first == "localhost");
    if !host_like && !input.contains(['@', ':']) && std::path::Path::new(input).is_dir() {
        return Some(format!(
            "{input} is a local directory; did you mean oci:{input}? (write docker://{input} for the registry)"
        ));
    }
    None
}

fn parse_layout(input: &str, rest: &str) -> Result<ImageRef, Error> {
    let (before_at, digest) = match rest.rsplit_once('@') {
        Some((p, d)) if d.contains(':') => (p, Some(parse_digest(input, d)?)),
        _ => (rest, None),
    };
    let (dir, tag) = match before_at.split_once(':') {
        Some((d, t)) => (d, Some(t)),
        None => (before_at, None),
    };
    if dir.is_empty() {
        return Err(err(input, "missing directory (write oci:DIR[:TAG])"));
    }
    if let Some(t) = tag.filter(|t| !valid_tag(t)) {
        return Err(err(
            input,
            format!(
                "invalid tag {t:?}: letters, digits, '_', '.', '-', at most 128, not starting with '.' or '-'"
            ),
        ));
    }
    Ok(ImageRef::Layout {
        dir: PathBuf::from(dir),
        tag: tag.map(str::to_string),
        digest,
    })
}

fn parse_archive(input: &str, rest: &str) -> Result<ImageRef, Error> {
    let (path, sel) = match rest.split_once(':') {
        Some((p, s)) => (p, Some(s)),
        None => (rest, None),
    };
    if path.is_empty() {
        return Err(err(input, "missing file (write docker-archive:FILE)"));
    }
    let (mut reference, mut index) = (None, None);
    match sel {
        None => {}
        Some(s) if s.starts_with('@') => {
            index = Some(
                s[1..]
                    .parse::<usize>()
                    .map_err(|_| err(input, "after ':@' comes an image number (0, 1, ...)"))?,
            );
        }
        Some(s) => {
            // NAME:TAG as in RepoTags; the name part follows the registry grammar.
            let r = parse_registry(input, s)?;
            if let ImageRef::Registry {
                digest: Some(_), ..
            } = r
            {
                return Err(err(
                    input,
                    "a docker-archive reference takes NAME:TAG, not a digest",
                ));
            }
            reference = Some(s.to_string());
        }
    }
    Ok(ImageRef::Archive {
        path: PathBuf::from(path),
        reference,
        index,
    })
}

fn parse_registry(input: &str, rest: &str) -> Result<ImageRef, Error> {
    let (name_tag, digest) = match rest.split_once('@') {
        Some((n, d)) => (n, Some(parse_digest(input, d)?)),
        None => (rest, None),
    };
    // The tag is after the last ':' of the last path component (a ':' before a '/' is a port).
    let last_slash = name_tag.rfind('/').map(|i| i + 1).unwrap_or(0);
    let (name, tag) = match name_tag[last_slash..].rfind(':') {
        Some(i) => (
            &name_tag[..last_slash + i],
            Some(&name_tag[last_slash + i + 1..]),
        ),
        None => (name_tag, None),
    };
    if let Some(t) = tag.filter(|t| !valid_tag(t)) {
        return Err(err(input, format!("invalid tag {t:?}")));
    }
    if name.is_empty() {
        return Err(err(input, "missing repository"));
    }
    let mut parts: Vec<&str> = name.split('/').collect();
    let first = parts[0];
    let registry = if parts.len() > 1
        && (first.contains('.') || first.contains(':') || first == "localhost")
    {
        parts.remove(0);
        if first.is_empty()
            || !first
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-.:[]".contains(&b))
        {
            return Err(err(input, format!("invalid registry host {first:?}")));
        }
        if let Err(why) = check_port(first) {
            return Err(err(
                input,
                format!("invalid registry host {first:?}: {why}"),
            ));
        }
        first.to_string()
    } else {
        "docker.io".to_string()
    };
    for p in &parts {
        let ok = !p.is_empty()
            && p.bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"._-".contains(&b))
            && p.as_bytes()[0].is_ascii_alphanumeric()
            && p.as_bytes()[p.len() - 1].is_ascii_alphanumeric();
        if !ok {
            return Err(err(
                input,
                format!(
                    "invalid repository component {p:?}: lowercase letters, digits and '.', '_', '-' separators"
                ),
            ));
        }
    }
    let mut repository = parts.join("/");
    if registry == "docker.io" && parts.len() == 1 {
        repository = format!("library/{repository}");
    }
    Ok(ImageRef::Registry {
        registry,
        repository,
        tag: tag.map(str::to_string),
        digest,
    })
}

/// The port of `HOST[:PORT]` / `[IPV6][:PORT]`, when present, must be a number 1-65535:
/// caught here, a typo is a malformed reference (exit 2 at once) rather than a request
/// that fails and is retried.
fn check_port(host: &str) -> Result<(), String> {
    let port = match host.strip_prefix('[') {
        Some(rest) => match rest.split_once(']') {
            Some((_, "")) => return Ok(()),
            Some((_, after)) => match after.strip_prefix(':') {
                Some(p) => p,
                None => return Err("expected :PORT after the bracketed address".into()),
            },
            None => return Err("unclosed '['".into()),
        },
        None => match host.split_once(':') {
            Some((_, p)) => p,
            None => return Ok(()),
        },
    };
    match port.parse::<u16>() {
        Ok(n) if n > 0 && port.bytes().all(|b| b.is_ascii_digit()) => Ok(()),
        _ => Err(format!("the port {port:?} is not a number from 1 to 65535")),
    }
}

impl fmt::Display for ImageRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ImageRef::Layout { dir, tag, digest } => {
                write!(f, "oci:{}", dir.display())?;
                if let Some(t) = tag {
                    write!(f, ":{t}")?;
                }
                if let Some(d) = digest {
                    write!(f, "@{d}")?;
                }
                Ok(())
            }
            ImageRef::Archive {
                path,
                reference,
                index,
            } => {
                write!(f, "docker-archive:{}", path.display())?;
                if let Some(r) = reference {
                    write!(f, ":{r}")?;
                }
                if let Some(i) = index {
                    write!(f, ":@{i}")?;
                }
                Ok(())
            }
            ImageRef::Dir { path } => write!(f, "dir:{}", path.display()),
            ImageRef::Registry {
                registry,
                repository,
                tag,
                digest,
            } => {
                write!(f, "docker://{registry}/{repository}")?;
                if let Some(t) = tag {
                    write!(f, ":{t}")?;
                }
                if let Some(d) = digest {
                    write!(f, "@{d}")?;
                }
                Ok(())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    const D: &str = "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

    #[test]
    fn parses_the_forms() {
        let r: ImageRef = "oci:/tmp/x:v1".parse().unwrap();
        assert_eq!(
            r,
            ImageRef::Layout {
                dir: "/tmp/x".into(),
                tag: Some("v1".into()),
                digest: None
            }
        );
        let r: ImageRef = format!("oci:/tmp/x@{D}").parse().unwrap();
        assert!(matches!(
            r,
            ImageRef::Layout {
                tag: None,
                digest: Some(_),
                ..
            }
        ));
        let r: ImageRef = "mcr.microsoft.com/windows/nanoserver:ltsc2022"
            .parse()
            .unwrap();
        assert_eq!(
            r,
            ImageRef::Registry {
                registry: "mcr.microsoft.com".into(),
                repository: "windows/nanoserver".into(),
                tag: Some("ltsc2022".into()),
                digest: None
            }
        );
        let r: ImageRef = format!("docker://localhost:5000/a/b:t@{D}")
            .parse()
            .unwrap();
        assert_eq!(r.to_string(), format!("docker://localhost:5000/a/b:t@{D}"));
        let r: ImageRef = "busybox".parse().unwrap();
        assert_eq!(r.to_string(), "docker://docker.io/library/busybox");
        let r: ImageRef = "docker-archive:/x.tar:foo/bar:v1".parse().unwrap();
        assert!(matches!(r, ImageRef::Archive { reference: Some(ref s), .. } if s == "foo/bar:v1"));
        let r: ImageRef = "docker-archive:/x.tar:@1".parse().unwrap();
        assert!(matches!(r, ImageRef::Archive { index: Some(1), .. }));
    }

    #[test]
    fn by_digest_drops_the_tag() {
        let d = Digest::of(b"x");
        for (r, want) in [
            ("oci:dir:v1", format!("oci:dir@{d}")),
            (
                "docker://reg.example/a/b:v1",
                format!("docker://reg.example/a/b@{d}"),
            ),
        ] {
            let r: ImageRef = r.parse().unwrap();
            assert_eq!(r.by_digest(&d).unwrap().to_string(), want);
        }
        let a: ImageRef = "docker-archive:x.tar".parse().unwrap();
        assert_eq!(a.by_digest(&d), None);
    }

    #[test]
    fn a_path_is_refused_with_the_oci_spelling() {
        for p in ["./x", "../x", "/abs/dir", "~/x", "."] {
            let e = p.parse::<ImageRef>().unwrap_err().to_string();
            assert!(e.contains(&format!("did you mean oci:{p}?")), "{e}");
        }
        // A bare name is looked up relative to the working directory.
        let name = format!("pvrefhint{}", std::process::id());
        std::fs::create_dir(&name).unwrap();
        let e = name.parse::<ImageRef>().unwrap_err().to_string();
        std::fs::remove_dir(&name).unwrap();
        assert!(e.contains(&format!("did you mean oci:{name}?")), "{e}");
        // Not a directory here, or with a registry host: a registry reference as before.
        assert!("no-such-dir-here/pause".parse::<ImageRef>().is_ok());
        assert!(format!("{name}:v1").parse::<ImageRef>().is_ok());
    }

    #[test]
    fn rejects_malformed() {
        for bad in [
            "",
            "oci:",
            "oci:/x:bad tag",
            "oci:/x@sha256:abc",
            "docker://",
            "docker://Host.com/Repo",
            "docker://h.com/r:t@md5:00",
            "docker-archive:",
            "docker-archive:/x.tar:@z",
            "docker:/x",
            "oci-archive:/x.tar",
            "a//b",
            "docker://localhost:99999/foo",
            "docker://localhost:abc/foo",
            "docker://localhost:/foo",
            "docker://h.com:0/r",
            "docker://h.com:+80/r",
            "docker://[::1/r",
            "docker://[::1]x/r",
        ] {
            assert!(bad.parse::<ImageRef>().is_err(), "{bad}");
        }
        for good in [
            "docker://[::1]:5000/a",
            "docker://[::1]/a",
            "localhost:65535/a",
        ] {
            assert!(good.parse::<ImageRef>().is_ok(), "{good}");
        }
    }
}
