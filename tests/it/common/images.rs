//! Hand-written test images: gzip tar layers and OCI layout directories, built without
//! the crate's own writers so the tests do not check the code with itself.

use pause_verify::image::Digest;
use serde_json::Value;
use std::io::Write;
use std::path::{Path, PathBuf};

/// A gzip tar layer holding one file; returns (gzip bytes, diff_id).
pub fn gz_tar_layer(name: &str, body: &[u8]) -> (Vec<u8>, Digest) {
    let mut tar = tar::Builder::new(Vec::new());
    let mut h = tar::Header::new_ustar();
    h.set_size(body.len() as u64);
    h.set_mode(0o644);
    h.set_cksum();
    tar.append_data(&mut h, name, body).unwrap();
    let raw = tar.into_inner().unwrap();
    let diff_id = Digest::of(&raw);
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(&raw).unwrap();
    (gz.finish().unwrap(), diff_id)
}

/// A layout directory being written by hand: blobs first, then [`Layout::finish`].
pub struct Layout {
    dir: PathBuf,
}

impl Layout {
    pub fn new(dir: &Path) -> Layout {
        std::fs::create_dir_all(dir.join("blobs/sha256")).unwrap();
        Layout {
            dir: dir.to_path_buf(),
        }
    }

    /// Store a blob; returns its digest and size.
    pub fn put(&self, bytes: &[u8]) -> (Digest, usize) {
        let d = Digest::of(bytes);
        std::fs::write(self.dir.join("blobs/sha256").join(d.hex()), bytes).unwrap();
        (d, bytes.len())
    }

    /// Write `oci-layout` and an `index.json` (verbatim bytes) listing the root.
    pub fn finish(&self, index_json: &[u8]) {
        std::fs::write(
            self.dir.join("oci-layout"),
            r#"{"imageLayoutVersion":"1.0.0"}"#,
        )
        .unwrap();
        std::fs::write(self.dir.join("index.json"), index_json).unwrap();
    }
}

/// A layout's `index.json`.
pub fn index(dir: &Path) -> Value {
    serde_json::from_slice(&std::fs::read(dir.join("index.json")).unwrap()).unwrap()
}

/// The digest of a layout's first (single) root.
pub fn root_digest(dir: &Path) -> String {
    index(dir)["manifests"][0]["digest"]
        .as_str()
        .unwrap()
        .to_string()
}

/// `oci:DIR@<root digest>` of a layout whose index.json lists one image.
pub fn root_ref(dir: &Path) -> String {
    format!("oci:{}@{}", dir.display(), root_digest(dir))
}
