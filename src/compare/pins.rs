//! The pins file (`attestations/pins.toml`): which NanoServer base each OS version is
//! rebuilt from, pinned by digest.
//!
//! ```toml
//! schemaVersion = "1"
//!
//! [[pin]]
//! name = "ltsc2022"
//! osVersion = "10.0.20348.5499"
//! image = "docker://mcr.microsoft.com/windows/nanoserver:ltsc2022"   # where to fetch it
//! manifest = "sha256:…"        # optional: the base manifest digest
//! [[pin.layers]]               # the base layers, in order: compressed digest and size,
//! digest = "sha256:dc16…"      # diffId when known
//! size = 124257916
//! ```
//!
//! A pin is matched by exact `osVersion`. Its `layers` are what the published image's
//! leading layers must be (by digest, and by diff_id when the pin has one); its `image`
//! is where `rebuild` reads the base from when no `--base` is given, and that image's
//! layers must equal the pin's. Owns parsing and lookup; no I/O beyond reading the file.

use crate::image::Digest;
use serde::{Deserialize, Serialize};
use std::path::Path;

/// The pins file's own format version.
pub const PINS_SCHEMA_VERSION: &str = "1";

/// The default location, relative to the working directory.
pub const DEFAULT_PATH: &str = "attestations/pins.toml";

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Pins {
    pub schema_version: String,
    #[serde(default, rename = "pin")]
    pub pins: Vec<Pin>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Pin {
    pub name: String,
    pub os_version: String,
    /// Where the base is read from when no `--base` is given.
    #[serde(default)]
    pub image: Option<String>,
    /// The base manifest digest, when known.
    #[serde(default)]
    pub manifest: Option<Digest>,
    /// True for the synthetic NanoServer (`pause-verify fixture nanoserver`).
    #[serde(default)]
    pub synthetic: bool,
    /// Where the facts come from.
    #[serde(default)]
    pub source: Option<String>,
    pub layers: Vec<PinLayer>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PinLayer {
    pub digest: Digest,
    pub size: u64,
    #[serde(default)]
    pub diff_id: Option<Digest>,
}

#[derive(Debug, thiserror::Error)]
pub enum PinsError {
    #[error("cannot read the pins file {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("pins file {path}: {reason}")]
    Invalid { path: String, reason: String },
}

impl Pins {
    /// Parse pins TOML; `what` names it in errors.
    pub fn parse(text: &str, what: &str) -> Result<Pins, PinsError> {
        let bad = |reason: String| PinsError::Invalid {
            path: what.to_string(),
            reason,
        };
        let p: Pins = toml::from_str(text).map_err(|e| bad(e.to_string()))?;
        if p.schema_version != PINS_SCHEMA_VERSION {
            return Err(bad(format!(
                "schemaVersion {:?} is not supported (expected {PINS_SCHEMA_VERSION:?})",
                p.schema_version
            )));
        }
        for (i, pin) in p.pins.iter().enumerate() {
            if pin.layers.is_empty() {
                return Err(bad(format!("pin {} ({}) lists no layers", i, pin.name)));
            }
            if p.pins[..i].iter().any(|q| q.os_version == pin.os_version) {
                return Err(bad(format!(
                    "two pins for os.version {} (names {} and this one, {})",
                    pin.os_version,
                    p.pins[..i]
                        .iter()
                        .find(|q| q.os_version == pin.os_version)
                        .map(|q| q.name.as_str())
                        .unwrap_or(""),
                    pin.name
                )));
            }
        }
        Ok(p)
    }

    pub fn load(path: &Path) -> Result<Pins, PinsError> {
        let text =
            crate::limits::read_capped_string(path, &crate::limits::PINS).map_err(|source| {
                PinsError::Read {
                    path: path.display().to_string(),
                    source,
                }
            })?;
        Pins::parse(&text, &path.display().to_string())
    }

    /// The pin for an exact os.version.
    pub fn for_os_version(&self, v: &str) -> Option<&Pin> {
        self.pins.iter().find(|p| p.os_version == v)
    }

    /// The pin whose layers are exactly `layers` (compressed digests), if any.
    pub fn by_layers(&self, layers: &[Digest]) -> Option<&Pin> {
        self.pins.iter().find(|p| {
            p.layers.len() == layers.len()
                && p.layers.iter().zip(layers).all(|(a, b)| &a.digest == b)
        })
    }

    /// The os.versions pinned, for messages.
    pub fn versions(&self) -> Vec<String> {
        self.pins
            .iter()
            .map(|p| format!("{} ({})", p.os_version, p.name))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_rejects() {
        let ok = r#"
schemaVersion = "1"
[[pin]]
name = "x"
osVersion = "10.0.1.2"
[[pin.layers]]
digest = "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
size = 0
"#;
        let p = Pins::parse(ok, "t").unwrap();
        assert_eq!(p.for_os_version("10.0.1.2").unwrap().name, "x");
        assert!(p.for_os_version("10.0.1").is_none());
        assert!(Pins::parse(&ok.replace("\"1\"", "\"2\""), "t").is_err());
        assert!(Pins::parse(&ok.replace("size = 0", "size = 0\nextra = 1"), "t").is_err());
        assert!(Pins::parse(&ok.replace("sha256:e3", "sha256:zz"), "t").is_err());
    }

    #[test]
    fn checked_in_pins_file_parses_and_holds_the_repo_info_layers() {
        let p = Pins::load(&Path::new(env!("CARGO_MANIFEST_DIR")).join(DEFAULT_PATH)).unwrap();
        // Layer digests and sizes from docker-library/repo-info (tests/fixtures/images).
        let ltsc2022 = p.for_os_version("10.0.20348.5499").unwrap();
        assert_eq!(
            ltsc2022.layers[0].digest.to_string(),
            "sha256:dc16402aa7d3fdbac6580d83e9c13ab7caf61d557113810e102089ffa3cd6cb4"
        );
        assert_eq!(ltsc2022.layers[0].size, 124257916);
        assert!(p.for_os_version("10.0.17763.3887").is_some());
        assert!(p.for_os_version("10.0.26100.33158").is_some());
    }
}
