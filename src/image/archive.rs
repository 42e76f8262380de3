//! docker-archive: read (and, with [`write_archive`], write) the `docker save` format (also what `skopeo copy … docker-archive:`
//! writes): a tar with `manifest.json` (`[{"Config":…,"RepoTags":[…],"Layers":[…]}]`), the
//! config JSON and one tar per layer (uncompressed in practice).
//!
//! An archive has no registry manifest, so, like containers/image, we synthesise an OCI
//! image manifest (OCI rather than Docker schema2 so that a layout copied from it is read
//! by skopeo, which ignores non-OCI entries in `index.json`): config = the config file's
//! bytes (a Docker config is a valid OCI config); each layer's digest is the digest
//! of the file as stored. For an uncompressed layer that digest IS its diff_id (taken from
//! the config's `rootfs.diff_ids` and verified when the layer streams); a gzip-compressed
//! layer file is hashed once at open time. The synthesised manifest's digest is therefore
//! ours, not a registry's: compare archives by layer digests / diff_ids.
//!
//! The tar is indexed once (names → offsets); blobs are then read by seeking into it.
//!
//! Writing uses the `tar` crate's builder with fixed header metadata; the layout of the
//! archive (names, manifest.json) is this module's, so reader and writer agree on it.

use super::Digest;
use super::error::{Error, Result};
use super::model::{Descriptor, ImageConfig, Root, media};
use super::source::ImageSource;
use std::collections::HashMap;
use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

#[derive(Debug, Clone)]
struct Member {
    offset: u64,
    size: u64,
    /// Symlink or hardlink target (archive path).
    link: Option<String>,
}

/// Reads one image of a docker-archive tarball.
pub struct ArchiveSource {
    path: PathBuf,
    /// The file indexed at open time; a later open must find the same one.
    file_id: (u64, u64),
    name: String,
    manifest: Vec<u8>,
    /// digest → (offset, size) of the member holding that blob.
    blobs: HashMap<Digest, (u64, u64)>,
    /// `RepoTags` of the selected image.
    pub repo_tags: Vec<String>,
}

#[derive(serde::Deserialize)]
#[serde(rename_all = "PascalCase")]
struct Entry {
    config: String,
    #[serde(default)]
    repo_tags: Option<Vec<String>>,
    layers: Vec<String>,
}

fn file_id(m: &std::fs::Metadata) -> (u64, u64) {
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        (m.dev(), m.ino())
    }
    #[cfg(not(unix))]
    {
        (m.len(), 0)
    }
}

/// Open the archive again for one member: still a regular file, and the very file that
/// was indexed (not one swapped in under its name since).
fn reopen(path: &Path, id: (u64, u64)) -> io::Result<File> {
    let f = crate::limits::open_regular(path, "docker-archive")?;
    if file_id(&f.metadata()?) != id {
        return Err(io::Error::other(
            "the archive was replaced while it was being read",
        ));
    }
    Ok(f)
}

fn norm(p: &str) -> String {
    let mut s = p
        .trim_start_matches("./")
        .trim_start_matches('/')
        .to_string();
    while s.ends_with('/') {
        s.pop();
    }
    s
}

fn join_link(from: &str, target: &str) -> String {
    if target.starts_with('/') {
        return norm(target);
    }
    let mut parts: Vec<&str> = from.split('/').collect();
    parts.pop();
    for c in target.split('/') {
        match c {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            c => parts.push(c),
        }
    }
    parts.join("/")
}

impl ArchiveSource {
    pub fn open(
        path: &Path,
        reference: Option<&str>,
        index: Option<usize>,
    ) -> Result<ArchiveSource> {
        let loc = format!("docker-archive {}", path.display());
        let f = crate::limits::open_regular(path, "docker-archive")
            .map_err(|e| Error::io(format!("opening {}", path.display()), e))?;
        let meta = f
            .metadata()
            .map_err(|e| Error::io(format!("reading {}", path.display()), e))?;
        let file_len = meta.len();
        let id = file_id(&meta);
        let mut members: HashMap<String, Member> = HashMap::new();
        // Names seen twice: `docker save` writes each once, so a second copy (a second
        // manifest.json, another config under the same name) is an attempt to show two
        // readers two images; refused when the name is used.
        let mut duplicates: std::collections::HashSet<String> = Default::default();
        let mut ar = tar::Archive::new(f);
        let entries = ar
            .entries_with_seek()
            .map_err(|e| Error::malformed(&loc, format!("not a tar archive: {e}")))?;
        for e in entries {
            let e = e.map_err(|e| Error::malformed(&loc, format!("corrupt tar: {e}")))?;
            let name = norm(&String::from_utf8_lossy(&e.path_bytes()));
            let kind = e.header().entry_type();
            let link = if kind.is_symlink() || kind.is_hard_link() {
                e.link_name_bytes().map(|l| {
                    let l = String::from_utf8_lossy(&l).into_owned();
                    if kind.is_symlink() {
                        join_link(&name, &l)
                    } else {
                        norm(&l)
                    }
                })
            } else {
                None
            };
            let member = Member {
                offset: e.raw_file_position(),
                size: e.size(),
                link,
            };
            // The tar crate seeks over member data, so a cut-off archive shows only here.
            if member.offset.saturating_add(member.size) > file_len {
                return Err(Error::malformed(
                    &loc,
                    format!(
                        "truncated archive: member {name:?} needs {} bytes up to offset {}, the file ends at {file_len}",
                        member.size,
                        member.offset.saturating_add(member.size)
                    ),
                ));
            }
            if kind.is_dir() {
                continue;
            }
            if members.insert(name.clone(), member).is_some() {
                duplicates.insert(name);
            }
        }
        if duplicates.contains("manifest.json") {
            return Err(Error::malformed(
                &loc,
                "the archive holds manifest.json more than once: which image it describes is ambiguous",
            ));
        }
        let resolve = |name: &str| -> Result<Member> {
            let mut n = norm(name);
            for _ in 0..8 {
                if duplicates.contains(&n) {
                    return Err(Error::malformed(
                        &loc,
                        format!(
                            "{n:?} is in the archive more than once: which copy is meant is ambiguous"
                        ),
                    ));
                }
                let m = members.get(&n).ok_or_else(|| {
                    Error::malformed(
                        &loc,
                        format!("{name:?} is listed in manifest.json but not in the archive"),
                    )
                })?;
                match &m.link {
                    Some(t) => n = t.clone(),
                    None => return Ok(m.clone()),
                }
            }
            Err(Error::malformed(&loc, format!("{name:?}: too many links")))
        };
        let read_member = |name: &str, m: &Member, cap: &crate::limits::Cap| -> Result<Vec<u8>> {
            if m.size > cap.bytes {
                return Err(Error::io(
                    format!("{loc}: {name}"),
                    crate::limits::too_large(cap, m.size),
                ));
            }
            let mut f = reopen(path, id)
                .map_err(|e| Error::io(format!("opening {}", path.display()), e))?;
            f.seek(SeekFrom::Start(m.offset))
                .map_err(|e| Error::io(format!("reading {}", path.display()), e))?;
            let mut v = Vec::new();
            f.take(m.size)
                .read_to_end(&mut v)
                .map_err(|e| Error::io(format!("reading {}", path.display()), e))?;
            Ok(v)
        };
        let mj = members.get("manifest.json").cloned().ok_or_else(|| {
            Error::malformed(
                &loc,
                "no manifest.json: not a docker-archive (docker save) file",
            )
        })?;
        let mj = read_member("manifest.json", &mj, &crate::limits::ARCHIVE_JSON)?;
        let list: Vec<Entry> = serde_json::from_slice(&mj).map_err(|source| Error::Json {
            what: format!("{loc}: manifest.json"),
            source,
        })?;
        let describe = |i: usize, e: &Entry| {
            format!("@{i} {}", e.repo_tags.clone().unwrap_or_default().join(" "))
        };
        let chosen = match (reference, index) {
            (Some(r), _) => {
                let short = |t: &str| {
                    t.trim_start_matches("docker.io/")
                        .trim_start_matches("library/")
                        .to_string()
                };
                list.iter()
                    .position(|e| {
                        e.repo_tags
                            .as_ref()
                            .is_some_and(|ts| ts.iter().any(|t| t == r || short(t) == short(r)))
                    })
                    .ok_or_else(|| Error::TagNotFound {
                        tag: r.to_string(),
                        location: loc.clone(),
                        available: list
                            .iter()
                            .flat_map(|e| e.repo_tags.clone().unwrap_or_default())
                            .collect(),
                    })?
            }
            (None, Some(i)) if i < list.len() => i,
            (None, Some(i)) => {
                return Err(Error::malformed(
                    &loc,
                    format!("no image @{i}: the archive holds {}", list.len()),
                ));
            }
            (None, None) if list.len() == 1 => 0,
            (None, None) => {
                return Err(Error::malformed(
                    &loc,
                    format!(
                        "the archive holds {} images; choose one with docker-archive:FILE:NAME:TAG or :@N ({})",
                        list.len(),
                        list.iter()
                            .enumerate()
                            .map(|(i, e)| describe(i, e))
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                ));
            }
        };
        let entry = &list[chosen];
        let cm = resolve(&entry.config)?;
        let config_raw = read_member(&entry.config, &cm, &crate::limits::ARCHIVE_JSON)?;
        let config = ImageConfig::parse(media::OCI_CONFIG, config_raw)?;
        let diff_ids = config.diff_ids()?;
        let mut blobs = HashMap::new();
        blobs.insert(config.descriptor.digest.clone(), (cm.offset, cm.size));
        let mut layers = Vec::new();
        for (i, l) in entry.layers.iter().enumerate() {
            let m = resolve(l)?;
            let mut f = reopen(path, id)
                .map_err(|e| Error::io(format!("opening {}", path.display()), e))?;
            f.seek(SeekFrom::Start(m.offset))
                .map_err(|e| Error::io(format!("reading {}", path.display()), e))?;
            let mut magic = [0u8; 4];
            let got = (&mut f).take(m.size.min(4)).read(&mut magic).unwrap_or(0);
            let (media_type, digest) = if got >= 2 && magic[..2] == [0x1f, 0x8b] {
                f.seek(SeekFrom::Start(m.offset))
                    .map_err(|e| Error::io(format!("reading {}", path.display()), e))?;
                let mut h = super::digest::HashingReader::new(f.take(m.size));
                io::copy(&mut h, &mut io::sink())
                    .map_err(|e| Error::io(format!("reading {}", path.display()), e))?;
                (media::OCI_LAYER_GZIP, h.finish().0)
            } else if got == 4 && magic == [0x28, 0xb5, 0x2f, 0xfd] {
                return Err(Error::Unsupported(format!(
                    "{loc}: layer {l:?} is zstd-compressed (not supported yet)"
                )));
            } else {
                let d = diff_ids.get(i).cloned().ok_or_else(|| {
                    Error::malformed(
                        &loc,
                        format!("layer {i} ({l:?}) has no rootfs.diff_ids entry in the config"),
                    )
                })?;
                (media::OCI_LAYER, d)
            };
            blobs.insert(digest.clone(), (m.offset, m.size));
            layers.push(Descriptor::new(media_type, digest, m.size));
        }
        let manifest = serde_json::json!({
            "schemaVersion": 2,
            "mediaType": media::OCI_MANIFEST,
            "config": Descriptor::new(media::OCI_CONFIG, config.descriptor.digest.clone(), config.descriptor.size),
            "layers": layers,
        });
        let manifest = serde_json::to_vec(&manifest).map_err(|source| Error::Json {
            what: format!("{loc}: synthesised manifest"),
            source,
        })?;
        let mut name = format!("docker-archive:{}", path.display());
        if let Some(r) = reference {
            name.push_str(&format!(":{r}"));
        } else if let Some(i) = index {
            name.push_str(&format!(":@{i}"));
        }
        Ok(ArchiveSource {
            path: path.to_path_buf(),
            file_id: id,
            name,
            manifest,
            blobs,
            repo_tags: entry.repo_tags.clone().unwrap_or_default(),
        })
    }
}

impl ImageSource for ArchiveSource {
    fn name(&self) -> String {
        self.name.clone()
    }

    fn root(&self) -> Result<Root> {
        Root::parse(
            &format!("{}: synthesised manifest", self.name),
            Some(media::OCI_MANIFEST),
            self.manifest.clone(),
        )
    }

    fn open_raw(&self, desc: &Descriptor) -> Result<Box<dyn Read + Send>> {
        if desc.digest == Digest::of(&self.manifest) {
            return Ok(Box::new(io::Cursor::new(self.manifest.clone())));
        }
        let (offset, size) = *self
            .blobs
            .get(&desc.digest)
            .ok_or_else(|| Error::BlobMissing {
                digest: desc.digest.clone(),
                location: self.name.clone(),
            })?;
        let mut f = reopen(&self.path, self.file_id)
            .map_err(|e| Error::io(format!("opening {}", self.path.display()), e))?;
        f.seek(SeekFrom::Start(offset))
            .map_err(|e| Error::io(format!("reading {}", self.path.display()), e))?;
        Ok(Box::new(f.take(size)))
    }
}

/// Write one image as a `docker save` archive at `path` (atomically: temp name + rename),
/// in the format [`ArchiveSource`] reads: `<config-hex>.json`, one uncompressed
/// `<diff_id-hex>.tar` per layer, then `manifest.json` with `RepoTags` = `[repo_tag]` or
/// `[]`. Entries carry fixed metadata (mode 0644, uid/gid 0, mtime 0), so the same image
/// gives the same bytes.
///
/// Each layer is read twice and never held in memory: a first verifying pass gives the
/// uncompressed size the tar header needs (and checks the diff_id against the config);
/// the second pass streams the inflated tar into the archive, verifying digest and
/// diff_id again. Foreign layers cannot be written (they are never downloaded).
pub fn write_archive(
    src: &dyn ImageSource,
    image: &super::ResolvedImage,
    repo_tag: Option<&str>,
    path: &Path,
) -> Result<()> {
    let layers = image.layers();
    if let Some((i, l)) = layers.iter().enumerate().find(|(_, l)| l.is_foreign()) {
        return Err(Error::Unsupported(format!(
            "layer {i} ({}) is foreign (non-distributable, {}): it is never downloaded, so it cannot go into a docker-archive; write an OCI layout instead",
            l.digest, l.media_type
        )));
    }
    let diff_ids = image.config.diff_ids()?;
    if diff_ids.len() != layers.len() {
        return Err(Error::malformed(
            format!("config {}", image.config.descriptor.digest),
            format!(
                "{} rootfs.diff_ids for {} layers",
                diff_ids.len(),
                layers.len()
            ),
        ));
    }
    // First pass: sizes (and a diff_id check, so a bad layer fails before any writing).
    let mut sizes = Vec::with_capacity(layers.len());
    for (i, (l, want)) in layers.iter().zip(&diff_ids).enumerate() {
        let (found, ()) =
            super::layer::verify_blob(src, l, |r| io::copy(r, &mut io::sink()).map(|_| ()))?;
        if &found.diff_id != want {
            return Err(Error::DiffIdMismatch {
                layer: i,
                digest: l.digest.clone(),
                expected: want.clone(),
                actual: found.diff_id,
            });
        }
        sizes.push(found.uncompressed_size);
    }
    let config_name = format!("{}.json", image.config.descriptor.digest.hex());
    let layer_names: Vec<String> = diff_ids
        .iter()
        .map(|d| format!("{}.tar", d.hex()))
        .collect();
    let manifest = serde_json::json!([{
        "Config": config_name,
        "RepoTags": repo_tag.map(|t| vec![t.to_string()]).unwrap_or_default(),
        "Layers": layer_names,
    }]);
    let manifest = serde_json::to_vec(&manifest).map_err(|source| Error::Json {
        what: "docker-archive manifest.json".to_string(),
        source,
    })?;
    let ctx = format!("writing {}", path.display());
    // Errors raised inside the closure travel as io::Error; keep the typed one aside.
    let mut inner: Option<Error> = None;
    let written = crate::atomic::write_with(path, |f| {
        // The temp file is 0600; an archive is for sharing, like `docker save -o`'s.
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            f.set_permissions(std::fs::Permissions::from_mode(0o644))?;
        }
        let mut tar = tar::Builder::new(io::BufWriter::new(f));
        tar.append(
            &header(&config_name, image.config.raw.len() as u64)?,
            &image.config.raw[..],
        )?;
        let mut written = std::collections::HashSet::new();
        for (i, ((l, want), size)) in layers.iter().zip(&diff_ids).zip(&sizes).enumerate() {
            let name = &layer_names[i];
            // The same layer twice (docker save writes it once too).
            if !written.insert(name.clone()) {
                continue;
            }
            let h = header(name, *size)?;
            let res = super::layer::verify_blob(src, l, |r| {
                let mut counted = Counted {
                    inner: r.take(*size),
                    n: 0,
                };
                tar.append(&h, &mut counted)?;
                if counted.n != *size {
                    return Err(io::Error::new(
                        io::ErrorKind::UnexpectedEof,
                        format!(
                            "the layer changed between reads: {} bytes, expected {size}",
                            counted.n
                        ),
                    ));
                }
                Ok(())
            });
            match res {
                Ok((found, ())) if &found.diff_id == want && found.uncompressed_size == *size => {}
                Ok((found, ())) => {
                    inner = Some(Error::DiffIdMismatch {
                        layer: i,
                        digest: l.digest.clone(),
                        expected: want.clone(),
                        actual: found.diff_id,
                    });
                    return Err(io::Error::other("layer changed"));
                }
                Err(e) => {
                    inner = Some(e);
                    return Err(io::Error::other("layer failed"));
                }
            }
        }
        tar.append(
            &header("manifest.json", manifest.len() as u64)?,
            &manifest[..],
        )?;
        let mut w = tar.into_inner()?;
        io::Write::flush(&mut w)?;
        Ok(())
    });
    match (written, inner) {
        (Ok(()), _) => Ok(()),
        (Err(_), Some(e)) => Err(e),
        (Err(e), None) => Err(Error::io(ctx, e)),
    }
}

/// A docker-archive as a destination ([`super::open_sink`]): blobs go to a staging OCI
/// layout beside FILE; [`super::ImageSink::commit`] converts the one image recorded with
/// `add_manifest` into the archive ([`write_archive`], atomic) and removes the staging
/// layout (also when dropped uncommitted). An archive holds one image: a root that is an
/// index of several is refused, naming `--platform`.
pub struct ArchiveSink {
    path: PathBuf,
    repo_tag: Option<String>,
    stage: super::layout::LayoutSink,
    root: Option<Descriptor>,
    // The staging directory and the handle that marks it live for `atomic::sweep_stale`.
    _dir: (tempfile::TempDir, crate::atomic::DirLock),
}

impl ArchiveSink {
    pub fn open(path: &Path, repo_tag: Option<&str>) -> Result<ArchiveSink> {
        if path.is_dir() {
            return Err(Error::Unsupported(format!(
                "{} is a directory; a docker-archive is a file",
                path.display()
            )));
        }
        let parent = match path.parent() {
            Some(p) if !p.as_os_str().is_empty() => p,
            _ => Path::new("."),
        };
        crate::atomic::sweep_stale(parent, ".pause-verify-out-", "");
        let (dir, held) =
            crate::atomic::temp_dir_in(parent, ".pause-verify-out-").map_err(|e| {
                Error::io(
                    format!("creating a staging directory in {}", parent.display()),
                    e,
                )
            })?;
        let stage = super::layout::LayoutSink::open(dir.path(), None)?;
        Ok(ArchiveSink {
            path: path.to_path_buf(),
            repo_tag: repo_tag.map(str::to_string),
            stage,
            root: None,
            _dir: (dir, held),
        })
    }
}

impl super::ImageSink for ArchiveSink {
    fn has_blob(&self, desc: &Descriptor) -> Result<bool> {
        self.stage.has_blob(desc)
    }
    fn put_blob(
        &mut self,
        reader: &mut dyn Read,
        expected: Option<&Descriptor>,
    ) -> Result<Descriptor> {
        self.stage.put_blob(reader, expected)
    }
    fn put_verified(&mut self, blob: &super::VerifiedBlob) -> Result<super::Placement> {
        self.stage.put_verified(blob)
    }
    fn stage_link(&mut self, desc: &Descriptor, src: &Path) -> Result<Option<super::StagedBlob>> {
        self.stage.stage_link(desc, src)
    }
    fn add_manifest(&mut self, desc: &Descriptor, tag: Option<&str>) -> Result<()> {
        self.stage.add_manifest(desc, None)?;
        if let Some(t) = tag {
            self.repo_tag = Some(t.to_string());
        }
        self.root = Some(desc.clone());
        Ok(())
    }
    fn name(&self) -> String {
        format!("docker-archive:{}", self.path.display())
    }
    fn commit(&mut self) -> Result<()> {
        let Some(root) = self.root.clone() else {
            return Err(Error::malformed(
                self.name(),
                "nothing was recorded to write into the archive",
            ));
        };
        let staged = super::LayoutSource::open(self._dir.0.path(), None, Some(&root.digest))?;
        if let Root::Index(i) = staged.root()? {
            let n = super::source::image_entries(&i).len();
            if n != 1 {
                return Err(Error::Unsupported(format!(
                    "a docker-archive holds one image and this one has {n} platforms; choose one with --platform, or write an OCI layout"
                )));
            }
        }
        let resolved = super::resolve(&staged, None)?;
        write_archive(&staged, &resolved, self.repo_tag.as_deref(), &self.path)
    }
}

fn header(name: &str, size: u64) -> io::Result<tar::Header> {
    let mut h = tar::Header::new_ustar();
    h.set_path(name)?;
    h.set_size(size);
    h.set_mode(0o644);
    h.set_uid(0);
    h.set_gid(0);
    h.set_mtime(0);
    h.set_entry_type(tar::EntryType::Regular);
    h.set_cksum();
    Ok(h)
}

/// Counts what the tar builder copied, to catch a short stream.
struct Counted<R> {
    inner: R,
    n: u64,
}

impl<R: Read> Read for Counted<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let k = self.inner.read(buf)?;
        self.n += k as u64;
        Ok(k)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::image::{Manifest, ResolvedImage};
    use flate2::{Compression, write::GzEncoder};
    use std::io::Write;

    /// Blobs by digest, served as stored.
    struct Mem {
        blobs: HashMap<Digest, Vec<u8>>,
    }

    impl ImageSource for Mem {
        fn name(&self) -> String {
            "mem".into()
        }
        fn root(&self) -> Result<Root> {
            unreachable!("write_archive is given the resolved image")
        }
        fn open_raw(&self, desc: &Descriptor) -> Result<Box<dyn Read + Send>> {
            let b = self.blobs.get(&desc.digest).ok_or(Error::BlobMissing {
                digest: desc.digest.clone(),
                location: "mem".into(),
            })?;
            Ok(Box::new(io::Cursor::new(b.clone())))
        }
    }

    fn layer_tar(content: &[u8]) -> Vec<u8> {
        let mut b = tar::Builder::new(Vec::new());
        let mut h = tar::Header::new_ustar();
        h.set_size(content.len() as u64);
        h.set_mode(0o644);
        h.set_cksum();
        b.append_data(&mut h, "Files/x.txt", content).unwrap();
        b.into_inner().unwrap()
    }

    /// One gzip layer and one uncompressed layer; `media` overrides the first's type.
    fn image(media: &str) -> (Mem, ResolvedImage, Vec<Vec<u8>>) {
        let tars = vec![layer_tar(b"one\n"), layer_tar(b"two\n")];
        let mut gz = GzEncoder::new(Vec::new(), Compression::default());
        gz.write_all(&tars[0]).unwrap();
        let gz = gz.finish().unwrap();
        let diff_ids: Vec<String> = tars.iter().map(|t| Digest::of(t).to_string()).collect();
        let config = serde_json::to_vec(&serde_json::json!({
            "architecture": "amd64", "os": "windows",
            "rootfs": {"type": "layers", "diff_ids": diff_ids},
        }))
        .unwrap();
        let l0 = Descriptor::of_bytes(media, &gz);
        let l1 = Descriptor::of_bytes(media::OCI_LAYER, &tars[1]);
        let cfg = Descriptor::of_bytes(media::OCI_CONFIG, &config);
        let manifest = serde_json::to_vec(&serde_json::json!({
            "schemaVersion": 2, "mediaType": media::OCI_MANIFEST,
            "config": cfg, "layers": [l0, l1],
        }))
        .unwrap();
        let mut blobs = HashMap::new();
        blobs.insert(l0.digest.clone(), gz);
        blobs.insert(l1.digest.clone(), tars[1].clone());
        let image = ResolvedImage {
            index: None,
            selected: None,
            manifest: Manifest::parse("m", Some(media::OCI_MANIFEST), manifest).unwrap(),
            config: ImageConfig::parse(media::OCI_CONFIG, config).unwrap(),
        };
        (Mem { blobs }, image, tars)
    }

    fn only(dir: &Path) -> Vec<String> {
        std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect()
    }

    #[test]
    fn round_trips_through_the_reader() {
        let (src, img, tars) = image(media::OCI_LAYER_GZIP);
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("a.tar");
        write_archive(&src, &img, Some("pause:test"), &p).unwrap();
        assert_eq!(only(dir.path()), ["a.tar"]);
        let back = ArchiveSource::open(&p, Some("pause:test"), None).unwrap();
        assert_eq!(back.repo_tags, ["pause:test"]);
        let root = back.root().unwrap();
        let Root::Manifest(m) = root else {
            panic!("a manifest")
        };
        assert_eq!(back.read_config(&m.config).unwrap().raw, img.config.raw);
        for (l, t) in m.layers.iter().zip(&tars) {
            // Stored uncompressed: the layer as read back is the original tar.
            let mut v = Vec::new();
            back.open_blob(l).unwrap().read_to_end(&mut v).unwrap();
            assert_eq!(&v, t);
        }
    }

    #[test]
    fn a_corrupt_layer_leaves_no_file() {
        let (mut src, img, _) = image(media::OCI_LAYER_GZIP);
        let d = img.layers()[1].digest.clone();
        src.blobs.get_mut(&d).unwrap()[600] ^= 1;
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("a.tar");
        let e = write_archive(&src, &img, None, &p).unwrap_err();
        assert!(matches!(e, Error::DigestMismatch { .. }), "{e}");
        assert!(only(dir.path()).is_empty());
    }

    #[test]
    fn a_foreign_layer_is_refused_by_name() {
        let (src, img, _) = image(media::DOCKER_FOREIGN_GZIP);
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("a.tar");
        let e = write_archive(&src, &img, None, &p).unwrap_err().to_string();
        assert!(e.contains("layer 0") && e.contains("foreign"), "{e}");
        assert!(only(dir.path()).is_empty());
    }
}
