//! Registry hives (regf), including differencing ("delta") hives with layered keys: pure
//! code over bytes. Owns reading, writing, the `.reg` parser, building a delta hive from
//! registry operations, merging a delta onto a base and diffing two views. It does not
//! own files (callers read and write them, via `crate::atomic`) or Windows layer tars
//! (`crate::wclayer`). Format facts: docs/architecture.md §5.
//!
//! Public API (other modules rely on these names):
//!
//! - [`model`]: [`Hive`] { header: [`model::Header`], root: [`Key`] },
//!   [`Key`] { name, flags, access_bits, layer: [`Layer`], timestamp, class, security,
//!   values, subkeys }, [`Value`] { name, kind, data, tombstone },
//!   [`Layer`] { semantics: [`LayerSemantics`], inherit_class, spare };
//!   `Hive::find(path) -> Option<&Key>` (case-insensitive, path relative to the root),
//!   `Hive::walk() -> Vec<(String, &Key)>`, `model::cmp_names`, `model::names_eq`.
//! - [`read()`]`(&[u8]) -> Result<Hive, Error>`: nt-hive validation and cross-check plus our
//!   own cell walk for layer bytes, tombstones, timestamps, classes, SDs ([`reader`]).
//! - [`stream::open`]`(&[u8]) -> Result<stream::Stream, Error>`: the same reader without the
//!   model, for output that streams: `Stream::check() -> Counts` (every check of `read`,
//!   nt-hive cross-check included), then `Stream::keys()` walks `KeyRef`s (path, layer,
//!   timestamp, flags, class, `values()`) in `Hive::walk` order; O(depth) state.
//! - [`write()`]`(&Hive) -> Result<Vec<u8>, Error>`: deterministic regf ([`writer`]).
//! - [`regfile::parse`]`(&[u8]) -> Result<Vec<RegOp>, RegFileError>` with
//!   `RegOp { hive: RootHive, path, action: Action }`, `Action::{SetValue{name, kind, data},
//!   DeleteValue{name}, CreateKey, DeleteKey}`, `RegFileError { line, message }`;
//!   `regfile::map_key(&str) -> Result<(RootHive, String), String>` maps
//!   `HKLM\SOFTWARE\…`-style paths (mapping table in [`regfile`]); `RootHive::delta_file_name`.
//! - [`delta::build`]`(base: Option<&Hive>, ops: &[RegOp], timestamp: u64) -> Result<Hive, Error>`
//!   (ops for one hive; see [`delta`] for the rules, [`delta::base_rule`] for the rule
//!   used when there is no base).
//! - [`merge::apply`]`(base: &Hive, delta: &Hive) -> Hive`: the effective view.
//! - [`diff::diff`]`(a: &Hive, b: &Hive) -> Vec<diff::Change>` (serde `Serialize`).
//! - [`generate`]`(keys: usize) -> Hive`: a deterministic synthetic hive for benchmarks.

pub mod delta;
pub mod diff;
pub mod merge;
pub mod model;
pub mod reader;
pub mod regfile;
pub mod stream;
pub mod writer;

pub use model::{Hive, Key, Layer, LayerSemantics, Value};
pub use regfile::{DeletedKey, RegOp, RootHive, net_edits};

/// What went wrong reading, writing or building a hive.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("not a registry hive: {0}")]
    NotAHive(String),
    #[error("invalid hive (nt-hive): {0}; the file is damaged or not a regf hive")]
    NtHive(String),
    #[error("corrupt hive at file offset {offset:#x}: {what}; the file is damaged or truncated")]
    Corrupt { offset: u64, what: String },
    #[error("hive readers disagree at key {path}: {what}; the hive is inconsistent")]
    Disagree { path: String, what: String },
    #[error("cannot write this hive model: {0}")]
    Write(String),
    #[error("cannot build the delta hive: {0}")]
    Build(String),
}

/// Parse a hive file's bytes (normal or differencing). See [`reader`].
pub fn read(bytes: &[u8]) -> Result<Hive, Error> {
    reader::read(bytes)
}

/// Serialize a hive model. Same model, same bytes. See [`writer`].
pub fn write(hive: &Hive) -> Result<Vec<u8>, Error> {
    writer::write(hive)
}

/// A deterministic synthetic normal hive with `keys` keys (benchmarks, tests): a tree of
/// fan-out 100 whose leaves carry a REG_SZ and a REG_DWORD.
pub fn generate(keys: usize) -> Hive {
    let sd = delta::DEFAULT_SD.to_vec();
    let ts = 133_000_000_000_000_000u64;
    let mut root = Key::new("ROOT", Layer::default(), ts, sd.clone());
    let mut made = 0usize;
    let mut i = 0usize;
    'outer: while made < keys {
        let mut mid = Key::new(&format!("Group{i:05}"), Layer::default(), ts, sd.clone());
        made += 1;
        for j in 0..100 {
            if made >= keys {
                root.subkeys.push(mid);
                break 'outer;
            }
            let mut k = Key::new(
                &format!("Key{j:03}"),
                Layer::default(),
                ts + j as u64,
                sd.clone(),
            );
            k.values.push(Value::new(
                "Name",
                1,
                format!("value {i} {j}\0")
                    .encode_utf16()
                    .flat_map(|u| u.to_le_bytes())
                    .collect(),
            ));
            k.values.push(Value::new(
                "Number",
                4,
                ((i * 100 + j) as u32).to_le_bytes().to_vec(),
            ));
            mid.subkeys.push(k);
            made += 1;
        }
        root.subkeys.push(mid);
        i += 1;
    }
    Hive {
        header: model::Header::offreg(false),
        root,
    }
}
