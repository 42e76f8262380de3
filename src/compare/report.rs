//! What a comparison found, as data: verdicts, per-platform and per-layer results,
//! recipe edit status, noise and unexplained changes. The CLI renders it (human text or
//! JSON, schema `docs/json-schema.md`, [`SCHEMA_VERSION`]); attestation (a VSA) reads it.
//! No logic beyond ordering verdicts lives here.

use crate::image::Digest;
use serde::{Deserialize, Serialize};

/// Version of the JSON document (`rebuild` and `diff` kinds). Adding fields keeps it;
/// removing or changing the meaning of one bumps it.
pub const SCHEMA_VERSION: &str = "1";

/// How close two things are, best first. Ordered: the worst verdict of the parts is the
/// verdict of the whole.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Verdict {
    /// Same bytes (same digest).
    Identical,
    /// Same uncompressed content (same diff_id / same config meaning), other bytes.
    SameContent,
    /// Same meaning under the noise rules.
    Equivalent,
    /// Anything else.
    Different,
}

impl Verdict {
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Identical => "IDENTICAL",
            Verdict::SameContent => "SAME_CONTENT",
            Verdict::Equivalent => "EQUIVALENT",
            Verdict::Different => "DIFFERENT",
        }
    }
    /// True for IDENTICAL, SAME_CONTENT and EQUIVALENT.
    pub fn passes(self) -> bool {
        self != Verdict::Different
    }
}

impl std::fmt::Display for Verdict {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An image as the report names it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ImageId {
    /// The reference as given (or where the rebuilt image was written).
    pub reference: String,
    /// Digest of the root (index or manifest) the reference resolved to.
    pub digest: Digest,
    pub media_type: String,
}

/// The result of one comparison run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Report {
    pub schema_version: String,
    /// `rebuild` or `diff`.
    pub kind: String,
    pub tool_version: String,
    /// The image under test (`rebuild`: the published image; `diff`: IMAGE_B).
    pub published: ImageId,
    /// The reference (`rebuild`: the rebuilt image; `diff`: IMAGE_A).
    pub rebuilt: Option<ImageId>,
    pub strict: bool,
    pub noise_rules_version: String,
    /// Worst platform verdict.
    pub verdict: Verdict,
    pub platforms: Vec<PlatformReport>,
}

impl Report {
    /// Exit code: 0 if every platform passes, 1 otherwise.
    pub fn passes(&self) -> bool {
        !self.platforms.is_empty() && self.platforms.iter().all(|p| p.verdict.passes())
    }
}

/// One platform's verdict and the facts behind it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PlatformReport {
    /// `os/arch:os.version` of the published manifest's config.
    pub platform: String,
    pub os_version: Option<String>,
    pub published_manifest: Digest,
    pub rebuilt_manifest: Option<Digest>,
    pub verdict: Verdict,
    /// Why the verdict is what it is, most important first (empty for IDENTICAL).
    pub reasons: Vec<String>,
    /// The base check (absent for `diff` without a base).
    pub base: Option<BaseCheck>,
    /// How registry changes were compared: `effective` (delta hives applied to the base
    /// hives) or `delta` (the delta hives' own keys, values and layer semantics).
    pub registry_mode: String,
    pub layers: Vec<LayerReport>,
    pub config: ConfigReport,
    /// Every registry edit of the recipe, looked up in the image under test.
    pub recipe_edits: Vec<EditStatus>,
    /// Changes the noise rules explain.
    pub noise: Vec<Change>,
    /// Changes of the image under test no rule explains (or that --strict counts).
    pub unexplained: Vec<Change>,
}

impl PlatformReport {
    /// Layers whose verdict passes (the LAYERS column: this of `layers.len()`).
    pub fn layers_passing(&self) -> usize {
        self.layers.iter().filter(|l| l.verdict.passes()).count()
    }

    /// Recipe edits found as the recipe says (the EDITS column: this of
    /// `recipe_edits.len()`).
    pub fn edits_present(&self) -> usize {
        self.recipe_edits
            .iter()
            .filter(|e| e.status == "present")
            .count()
    }
}

/// The published image's leading layers against the pinned base.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BaseCheck {
    /// `--base` or `pins` (the pins file).
    pub source: String,
    /// The base reference or pin name.
    pub reference: String,
    /// The pinned base manifest digest, when known.
    pub manifest: Option<Digest>,
    pub ok: bool,
    pub layers: Vec<BaseLayer>,
    /// `base mismatch: ...` when not ok.
    pub reason: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BaseLayer {
    pub index: usize,
    pub pinned_digest: Digest,
    pub pinned_diff_id: Option<Digest>,
    pub published_digest: Option<Digest>,
    pub published_diff_id: Option<Digest>,
    pub ok: bool,
}

/// A layer as a report names it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LayerId {
    /// Position in the image's manifest.
    pub index: usize,
    pub digest: Digest,
    pub diff_id: Option<Digest>,
    pub size: u64,
    pub media_type: String,
}

/// One paired (or unpaired) pause layer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LayerReport {
    /// The instruction the layer comes from (history), normalised, when known.
    pub step: Option<String>,
    pub published: Option<LayerId>,
    pub rebuilt: Option<LayerId>,
    pub verdict: Verdict,
    pub reason: String,
    /// File and registry changes of this pair (published relative to rebuilt).
    pub changes: Vec<Change>,
}

/// Where a change is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Area {
    File,
    Registry,
    Layer,
    Config,
}

/// What kind of change (published relative to rebuilt).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ChangeKind {
    /// Only the image under test has it.
    Extra,
    /// Only the reference has it.
    Missing,
    /// Both have it, with other content or metadata.
    Altered,
}

/// How a change was judged.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Class {
    /// A noise rule explains it (`rule`).
    Noise,
    /// No rule explains it.
    Unexplained,
}

/// One difference, with both sides.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Change {
    pub area: Area,
    pub change: ChangeKind,
    /// Tar path (`Files/...`), registry `HIVE\key path` (hive = Software, System, ...),
    /// layer index, or config field.
    pub path: String,
    /// Registry value name (`""` = default value), or the entry field that differs
    /// (`content`, `fileattr`, `sd`, `type`, `mtime`, ...).
    pub field: Option<String>,
    /// The reference's side (rebuilt / IMAGE_A), rendered.
    pub expected: Option<String>,
    /// The side under test (published / IMAGE_B), rendered.
    pub actual: Option<String>,
    pub class: Class,
    /// The noise rule id when `class` is `noise`.
    pub rule: Option<String>,
}

/// Config fields compared.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ConfigReport {
    pub published_digest: Digest,
    pub rebuilt_digest: Option<Digest>,
    pub verdict: Verdict,
    pub differences: Vec<ConfigDiff>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ConfigDiff {
    /// `os`, `architecture`, `os.version`, `user`, `env`, `entrypoint`, `cmd`,
    /// `workingDir`, `history`, `created`.
    pub field: String,
    pub expected: serde_json::Value,
    pub actual: serde_json::Value,
    /// False when only noise (times) differs.
    pub significant: bool,
}

/// A recipe registry edit, looked up in the image under test.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EditStatus {
    /// Software, System, Sam, Security, Default.
    pub hive: String,
    pub path: String,
    /// `setValue`, `deleteValue`, `createKey`, `deleteKey`.
    pub action: String,
    pub name: Option<String>,
    /// What the recipe sets (rendered), for setValue.
    pub expected: Option<String>,
    /// What the image holds there (rendered), when it differs or is absent.
    pub actual: Option<String>,
    /// `present`, `missing` or `altered`.
    pub status: String,
}
