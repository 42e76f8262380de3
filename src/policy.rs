//! The audit policy: what an image must show to pass `pause-verify audit`.
//!
//! Owns the TOML model (docs/policy.md, `attestations/policy.example.toml`), the built-in
//! default ("the upstream recipe, every platform, signed by the given key"; base pins
//! required when a pins file is found), loading with paths resolved against the policy
//! file's folder, what the command line adds ([`CliInputs`]: keys, `--pins`, `--base`),
//! the rebuild's base and pins in `compare`'s form, and validation with errors that say
//! which field is wrong and what it accepts. Does not evaluate anything (`audit`) and
//! reads no image.
//!
//! Unknown fields are refused (`deny_unknown_fields`): a misspelt requirement that were
//! silently ignored would make a gate pass that should not.

use crate::attest::PublicKey;
use crate::attest::keyless::{CertIdentity, Keyless, SubjectMatch};
use crate::attest::statement::{BUILDER_ID, PROVENANCE_V1, RegistryEdit};
use crate::attest::trust_root::TrustedRoot;
use crate::compare::pins as cpins;
use crate::image::{Digest, ImageRef, PlatformSelector};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// The only policy format version so far (`version = 1`).
pub const POLICY_VERSION: u32 = 1;

/// URI naming the built-in default policy in reports and VSAs.
pub const DEFAULT_POLICY_URI: &str = "pause-verify:policy/default/v1";

/// Largest policy file read (policies are a few kilobytes).
const MAX_POLICY_BYTES: u64 = 1024 * 1024;

#[derive(Debug, thiserror::Error)]
pub enum PolicyError {
    #[error("{path}: cannot read the policy file: {source}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path}: the policy file is over {MAX_POLICY_BYTES} bytes; is it the right file?")]
    TooLarge { path: PathBuf },
    #[error("{path}: not a valid policy (docs/policy.md):{message}")]
    Syntax { path: PathBuf, message: String },
    #[error("{path}: {field}: {message}")]
    Invalid {
        path: String,
        field: String,
        message: String,
    },
    #[error("{path}: {field}: cannot read key {key}: {message}")]
    Key {
        path: String,
        field: String,
        key: PathBuf,
        message: String,
    },
}

/// Rebuild verdicts a policy can require, best first. A required verdict accepts itself
/// and every better one (`EQUIVALENT` accepts `IDENTICAL` and `SAME_CONTENT` too).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum RequiredVerdict {
    Identical,
    SameContent,
    Equivalent,
}

impl RequiredVerdict {
    pub fn as_str(self) -> &'static str {
        match self {
            RequiredVerdict::Identical => "IDENTICAL",
            RequiredVerdict::SameContent => "SAME_CONTENT",
            RequiredVerdict::Equivalent => "EQUIVALENT",
        }
    }

    /// Whether a verdict string as compare reports it (`IDENTICAL`, `SAME_CONTENT`,
    /// `EQUIVALENT`, `DIFFERENT`) satisfies this requirement.
    pub fn accepts(self, verdict: &str) -> bool {
        let rank = match verdict {
            "IDENTICAL" => 0,
            "SAME_CONTENT" => 1,
            "EQUIVALENT" => 2,
            _ => return false,
        };
        rank <= self as u8
    }
}

/// A whole policy, as written in TOML.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Policy {
    /// Format version: 1.
    pub version: u32,
    /// A name for reports (defaults to the file name).
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub platforms: Platforms,
    #[serde(default)]
    pub pins: Pins,
    #[serde(default)]
    pub signatures: Signatures,
    #[serde(default)]
    pub attestations: Attestations,
    #[serde(default)]
    pub rebuild: Rebuild,
    #[serde(default)]
    pub base: BaseRules,
}

/// `[base]`: what the NanoServer base itself must show.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct BaseRules {
    /// The base's Notary Project signature (docs/signing.md, "Is the base Microsoft's?"):
    /// when set, the audit check `base-signature` requires it on each platform's base.
    #[serde(default)]
    pub notation: Option<BaseNotation>,
}

/// `[base] notation = { trust_policy = "...", trust_store = "...", identities = [...] }`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BaseNotation {
    /// notation's trust policy file (relative to the policy file).
    pub trust_policy: PathBuf,
    /// notation's trust store directory (default: `truststore` beside the trust policy).
    #[serde(default)]
    pub trust_store: Option<PathBuf>,
    /// `x509.subject: …` identities the base signer must match, besides the trust policy's
    /// own trustedIdentities (empty: the trust policy's alone).
    #[serde(default)]
    pub identities: Vec<String>,
    /// The registry scope the trust policy sees the base as (default: the base's
    /// `HOST/REPO`; a layout has none, so only a `"*"` statement would apply).
    #[serde(default)]
    pub scope: Option<String>,
}

/// Which platforms must be present and audited.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct Platforms {
    /// Platform selectors (`windows/amd64:10.0.20348`) that must each match a platform of
    /// the image. Empty: every platform the image has is audited (and there must be one).
    #[serde(default)]
    pub required: Vec<String>,
}

/// Pinned NanoServer bases per os.version.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct Pins {
    /// Whether each platform's base layers must match a pin for its os.version.
    #[serde(default)]
    pub required: bool,
    /// A pins file (the `attestations/pins.toml` format of `compare::pins`), relative
    /// to the policy file; its pins are added to `base`.
    #[serde(default)]
    pub file: Option<PathBuf>,
    #[serde(default)]
    pub base: Vec<Pin>,
}

/// One pinned NanoServer image for one os.version.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Pin {
    /// Full os.version (`10.0.20348.2849`) the pin is for.
    pub os_version: String,
    /// Where the base comes from (informative), e.g. `mcr.microsoft.com/windows/nanoserver:ltsc2022`.
    #[serde(default)]
    pub image: Option<String>,
    /// The NanoServer platform manifest digest (what a provenance's base digest must be).
    #[serde(default)]
    pub manifest: Option<Digest>,
    /// Its layers' compressed digests, in order: the image under audit must start with them.
    #[serde(default)]
    pub layers: Vec<Digest>,
    /// Its layers' diff_ids, in order (matched when the compressed digests differ).
    #[serde(default)]
    pub diff_ids: Vec<Digest>,
}

/// Who must have signed the image.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Signatures {
    #[serde(default = "yes")]
    pub required: bool,
    /// Public key files (PKIX PEM, `cosign.pub`), relative to the policy file. `--key`
    /// adds keys. A signature by any one key satisfies the check.
    #[serde(default)]
    pub keys: Vec<PathBuf>,
    /// Keyless signers (Fulcio certificate identity and OIDC issuer).
    #[serde(default)]
    pub identities: Vec<Identity>,
    /// The Sigstore trusted root (trusted_root.json) keyless signatures are verified
    /// against, relative to the policy file. `--trusted-root` replaces it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trusted_root: Option<PathBuf>,
    /// With a trusted root, transparency-log entries are required and verified for keyed
    /// and keyless signatures alike; `true` skips them (cosign's
    /// `--insecure-ignore-tlog`), which the audit evidence records.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub insecure_ignore_tlog: bool,
    /// How many of the signatures (and attestations) found must verify: `all` (default)
    /// or `any`, as `verify` and its `--require-any`.
    #[serde(default)]
    pub rule: SignatureRule,
}

/// The rule the `signature`, `keyless-signature` and `attestation` checks apply to what
/// they find for a platform (its manifest and the index).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SignatureRule {
    /// At least one verifies and none FAILED: a forged or foreign signature beside a
    /// good one is a fault to look at, not noise (`verify`'s default).
    #[default]
    All,
    /// At least one verifies; FAILED ones beside it are only evidence (`verify
    /// --require-any`).
    Any,
}

impl SignatureRule {
    pub fn as_str(self) -> &'static str {
        match self {
            SignatureRule::All => "all",
            SignatureRule::Any => "any",
        }
    }
}

impl Default for Signatures {
    fn default() -> Self {
        Signatures {
            required: true,
            keys: Vec::new(),
            identities: Vec::new(),
            trusted_root: None,
            insecure_ignore_tlog: false,
            rule: SignatureRule::All,
        }
    }
}

fn yes() -> bool {
    true
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Identity {
    pub issuer: String,
    /// The certificate SAN, exact.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub subject: String,
    /// Or a regular expression the whole SAN must match (anchored).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subject_regexp: Option<String>,
}

/// Attestations that must be attached, signed by one of the signature keys.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct Attestations {
    /// Predicate type URIs that must each have a verified attestation for each platform.
    #[serde(default)]
    pub predicate_types: Vec<String>,
    /// Requirements on the SLSA provenance (implies its predicate type is required).
    #[serde(default)]
    pub provenance: Option<ProvenanceRules>,
}

/// What the SLSA Provenance v1 must say.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProvenanceRules {
    /// `runDetails.builder.id` must equal this.
    #[serde(default)]
    pub builder_id: Option<String>,
    /// The recorded base image digest: `pinned` (a pin for the platform's os.version),
    /// `any`, or one `sha256:…` digest.
    #[serde(default = "pinned")]
    pub base_digest: String,
    /// `upstream`: the upstream recipe's registry edits; `none`: no requirement; or the
    /// explicit `[[attestations.provenance.edits]]` tables.
    #[serde(default)]
    pub edits: Edits,
}

fn pinned() -> String {
    "pinned".into()
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Edits {
    Named(String),
    List(Vec<RegistryEdit>),
}

impl Default for Edits {
    fn default() -> Self {
        Edits::Named("upstream".into())
    }
}

/// The rebuild-and-compare requirement.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Rebuild {
    #[serde(default = "yes")]
    pub required: bool,
    /// The NanoServer base to rebuild from, pinned by digest (`oci:DIR@sha256:…`, a
    /// layout path relative to the policy file, or `docker://HOST/REPO@sha256:…`): a
    /// manifest, or a list holding each platform's base. `--base` overrides it. Without
    /// either, each platform's base is the `image` of its pin.
    #[serde(default)]
    pub base: Option<String>,
    /// `builtin` (the upstream recipe built in) or a recipe folder / TOML file,
    /// relative to the policy file.
    #[serde(default = "builtin")]
    pub recipe: String,
    /// The weakest verdict accepted.
    #[serde(default = "equivalent")]
    pub verdict: RequiredVerdict,
    /// Noise rule ids that may explain differences (`["*"]`: any rule). A platform whose
    /// comparison leans on another rule fails.
    #[serde(default = "any_rule")]
    pub noise: Vec<String>,
    /// The image is a final image on a pause base (docs/real-image.md): the rebuild
    /// verifies the chain, `recipe` being the final recipe (e.g. Dockerfile_windows).
    #[serde(default)]
    pub chain: Option<Chain>,
}

/// `[rebuild.chain]`: the pause base the final image is built on and how it is rebuilt.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Chain {
    /// The pause base, pinned by digest (a layout path relative to the policy file, or
    /// `docker://HOST/REPO@sha256:…`); its NanoServer comes from the pins.
    pub pause_base: String,
    /// The pause base's recipe: `builtin` or a path relative to the policy file.
    #[serde(default = "builtin")]
    pub base_recipe: String,
    /// The final recipe's build context, relative to the policy file (default: the
    /// recipe's folder).
    #[serde(default)]
    pub context: Option<String>,
    /// Build args of the final recipe (`BASE` defaults to `pause_base`).
    #[serde(default)]
    pub build_args: std::collections::BTreeMap<String, String>,
}

/// `[rebuild.chain]` with paths resolved.
#[derive(Debug, Clone)]
pub struct LoadedChain {
    pub pause_base: ImageRef,
    /// None = built-in.
    pub base_recipe: Option<PathBuf>,
    pub context: Option<PathBuf>,
    pub build_args: std::collections::BTreeMap<String, String>,
}

fn builtin() -> String {
    "builtin".into()
}
fn equivalent() -> RequiredVerdict {
    RequiredVerdict::Equivalent
}
fn any_rule() -> Vec<String> {
    vec!["*".into()]
}

impl Default for Rebuild {
    fn default() -> Self {
        Rebuild {
            required: true,
            base: None,
            recipe: builtin(),
            verdict: equivalent(),
            noise: any_rule(),
            chain: None,
        }
    }
}

/// A policy ready to evaluate: validated, keys read, pins merged, paths resolved.
#[derive(Debug, Clone)]
pub struct Loaded {
    pub policy: Policy,
    /// Where it came from: a file path, or [`DEFAULT_POLICY_URI`].
    pub uri: String,
    /// sha256 of the policy file bytes (None for the built-in default).
    pub digest: Option<Digest>,
    pub name: String,
    pub platforms: Vec<PlatformSelector>,
    pub pins: Vec<Pin>,
    /// Keys from the policy and from `--key`, with where each came from.
    pub keys: Vec<(String, PublicKey)>,
    /// The recipe to rebuild with: None = built-in; Some(path) resolved.
    pub recipe: Option<PathBuf>,
    /// The edits the provenance must list (empty: none required).
    pub provenance_edits: Vec<RegistryEdit>,
    /// Predicate types required (provenance included when `provenance` rules exist).
    pub predicate_types: Vec<String>,
    /// The pins the rebuild finds (and checks) each platform's base with, in
    /// `compare::pins` form: the pins files, then the inline pins that list `layers`.
    /// None when no pin is given at all.
    pub rebuild_pins: Option<cpins::Pins>,
    /// The pins files read, as given (for reports).
    pub pins_files: Vec<String>,
    /// The base the rebuild uses for every platform: (`--base` or `rebuild.base`, ref).
    pub base: Option<(String, ImageRef)>,
    /// Keyless trust (the trusted root and the identities), when the policy lists
    /// identities and a trusted root is given.
    pub keyless: Option<Keyless>,
    /// The trusted root file read, as given (for reports).
    pub trusted_root: Option<String>,
    /// `[rebuild.chain]`, resolved.
    pub chain: Option<LoadedChain>,
    /// `[base] notation`, its paths resolved and identities parsed.
    pub base_notation: Option<LoadedBaseNotation>,
}

/// `[base] notation` ready to use.
#[derive(Debug, Clone)]
pub struct LoadedBaseNotation {
    pub trust_policy: PathBuf,
    pub trust_store: PathBuf,
    pub identities: Vec<crate::notary::trust_policy::X509Subject>,
    pub scope: Option<String>,
}

/// What the command line adds to a policy.
#[derive(Debug, Clone, Copy, Default)]
pub struct CliInputs<'a> {
    /// `--key` files.
    pub keys: &'a [PathBuf],
    /// `--pins FILE` (relative to the working directory): added to the policy's pins.
    pub pins: Option<&'a Path>,
    /// `--base IMAGE`: replaces `rebuild.base`.
    pub base: Option<&'a str>,
    /// The pins file the default policy uses when no `--pins` is given and the file
    /// exists (the CLI passes `attestations/pins.toml`).
    pub default_pins: Option<&'a Path>,
    /// `--trusted-root FILE` (relative to the working directory): replaces
    /// `signatures.trusted_root`.
    pub trusted_root: Option<&'a Path>,
    /// `--certificate-identity`/`--certificate-oidc-issuer`: added to
    /// `signatures.identities`.
    pub identities: &'a [Identity],
}

/// The upstream recipe's registry edits (binaries/keylight.reg and `sc.exe delete
/// diagtrack`), as the provenance records them (docs/provenance.md): derived from the
/// built-in recipe by the build's own planner and the provenance's own conversion, so the
/// policy, the tool and the provenance share one vocabulary and one count (5).
pub fn upstream_edits() -> Vec<RegistryEdit> {
    use crate::build::plan::{self, Planned, RunAction};
    use crate::hive::{RegOp, RootHive, regfile::Action};
    // The built-in recipe always plans (a unit test says so); nothing is expected otherwise.
    let steps = plan::plan(&crate::recipe::builtin()).unwrap_or_default();
    let ops: Vec<RegOp> = steps
        .iter()
        .filter_map(|s| match &s.planned {
            Planned::Run { actions } => Some(actions),
            _ => None,
        })
        .flatten()
        .filter_map(|a| match a {
            RunAction::Reg(op) => Some(op.clone()),
            RunAction::DeleteService { name } => Some(RegOp {
                hive: RootHive::System,
                path: format!("ControlSet001\\Services\\{name}"),
                action: Action::DeleteKey,
            }),
            RunAction::DeleteAllValues { .. } => None,
        })
        .collect();
    crate::rebuild::attest::provenance_edits(&ops, &[])
}

/// The policy used without `--policy`: the upstream recipe, every platform, signed by the
/// given key(s), rebuilt and compared; no attestations required. [`load`] makes the base
/// pins required when it finds a pins file (`--pins`, else `attestations/pins.toml`).
pub fn default_policy() -> Policy {
    Policy {
        version: POLICY_VERSION,
        name: Some("default: upstream recipe, every platform, signed by the given key".into()),
        platforms: Platforms::default(),
        pins: Pins::default(),
        signatures: Signatures::default(),
        attestations: Attestations::default(),
        rebuild: Rebuild::default(),
        base: BaseRules::default(),
    }
}

/// Parse policy TOML (no file access: keys and pins files are resolved by [`load`]).
pub fn parse(text: &str, path: &Path) -> Result<Policy, PolicyError> {
    toml::from_str(text).map_err(|e| PolicyError::Syntax {
        path: path.to_path_buf(),
        message: format!("\n{}", e.to_string().trim_end()),
    })
}

/// Read and validate a policy file (or the default with `path = None`), adding what
/// the command line gives (keys, pins, base).
pub fn load(path: Option<&Path>, cli: &CliInputs<'_>) -> Result<Loaded, PolicyError> {
    let (policy, uri, digest, base_dir) = match path {
        None => {
            let mut policy = default_policy();
            // The default policy pins the base whenever it has pins to hold it to.
            policy.pins.required =
                cli.pins.is_some() || cli.default_pins.is_some_and(|p| p.is_file());
            (
                policy,
                DEFAULT_POLICY_URI.to_string(),
                None,
                PathBuf::from("."),
            )
        }
        Some(p) => {
            let bytes = read_limited(p)?;
            let text = String::from_utf8(bytes.clone()).map_err(|_| PolicyError::Syntax {
                path: p.to_path_buf(),
                message: " not UTF-8 text".into(),
            })?;
            let policy = parse(&text, p)?;
            let dir = p.parent().map(Path::to_path_buf).unwrap_or_default();
            (
                policy,
                p.display().to_string(),
                Some(Digest::of(&bytes)),
                dir,
            )
        }
    };
    let default_pins = match (path, cli.pins) {
        (None, None) => cli.default_pins.filter(|p| p.is_file()),
        _ => None,
    };
    let cli = CliInputs {
        pins: cli.pins.or(default_pins),
        ..*cli
    };
    resolve(policy, uri, digest, &base_dir, &cli)
}

fn read_limited(p: &Path) -> Result<Vec<u8>, PolicyError> {
    let read_err = |source| PolicyError::Read {
        path: p.to_path_buf(),
        source,
    };
    if std::fs::metadata(p).is_ok_and(|m| m.is_file() && m.len() > MAX_POLICY_BYTES) {
        return Err(PolicyError::TooLarge {
            path: p.to_path_buf(),
        });
    }
    crate::limits::read_capped(p, &crate::limits::POLICY).map_err(read_err)
}

/// Validate `policy` and resolve its files against `base_dir`; `cli.pins` and `cli.keys`
/// are read as given (relative to the working directory), `cli.default_pins` is ignored.
pub fn resolve(
    mut policy: Policy,
    uri: String,
    digest: Option<Digest>,
    base_dir: &Path,
    cli: &CliInputs<'_>,
) -> Result<Loaded, PolicyError> {
    policy
        .signatures
        .identities
        .extend(cli.identities.iter().cloned());
    let invalid = |field: &str, message: String| PolicyError::Invalid {
        path: uri.clone(),
        field: field.into(),
        message,
    };
    if policy.version != POLICY_VERSION {
        return Err(invalid(
            "version",
            format!(
                "version {} is not supported; this pause-verify reads version {POLICY_VERSION}",
                policy.version
            ),
        ));
    }
    let mut platforms = Vec::new();
    for (i, s) in policy.platforms.required.iter().enumerate() {
        let sel: PlatformSelector = s.parse().map_err(|e: crate::image::Error| {
            invalid(&format!("platforms.required[{i}]"), e.to_string())
        })?;
        if platforms.contains(&sel) {
            return Err(invalid(
                &format!("platforms.required[{i}]"),
                format!("{s:?} is listed twice"),
            ));
        }
        platforms.push(sel);
    }

    let mut pins = policy.pins.base.clone();
    let mut files: Vec<(String, cpins::Pins)> = Vec::new();
    for (field, p) in policy
        .pins
        .file
        .iter()
        .map(|f| ("pins.file", base_dir.join(f)))
        .chain(cli.pins.map(|p| ("--pins", p.to_path_buf())))
    {
        let read = read_pins_file(&p).map_err(|message| PolicyError::Invalid {
            path: uri.clone(),
            field: field.into(),
            message,
        })?;
        pins.extend(read.pins.iter().cloned().map(policy_pin));
        files.push((p.display().to_string(), read));
    }
    for (i, pin) in pins.iter().enumerate() {
        if pin.manifest.is_none() && pin.layers.is_empty() && pin.diff_ids.is_empty() {
            return Err(invalid(
                &format!("pins.base[{i}]"),
                "a pin needs a manifest digest, layers or diff_ids".into(),
            ));
        }
        if pin.os_version.is_empty()
            || !pin
                .os_version
                .bytes()
                .all(|b| b.is_ascii_digit() || b == b'.')
        {
            return Err(invalid(
                &format!("pins.base[{i}].os_version"),
                format!(
                    "{:?} is not an os.version like 10.0.20348.2849",
                    pin.os_version
                ),
            ));
        }
    }
    if policy.pins.required && pins.is_empty() {
        return Err(invalid(
            "pins",
            "required = true but no pins are given (add [[pins.base]] tables or pins.file)".into(),
        ));
    }

    let rebuild_pins = merge_pins(&files, &policy.pins.base).map_err(|m| invalid("pins", m))?;

    let mut keys = Vec::new();
    for (i, k) in policy.signatures.keys.iter().enumerate() {
        let p = base_dir.join(k);
        keys.push((
            p.display().to_string(),
            read_key(&p, &uri, &format!("signatures.keys[{i}]"))?,
        ));
    }
    for k in cli.keys {
        keys.push((k.display().to_string(), read_key(k, &uri, "--key")?));
    }
    let needs_keys = policy.signatures.required
        || !policy.attestations.predicate_types.is_empty()
        || policy.attestations.provenance.is_some();
    if needs_keys && keys.is_empty() && policy.signatures.identities.is_empty() {
        return Err(invalid(
            "signatures.keys",
            "signatures or attestations are required but no public key is given: pass --key cosign.pub or list keys in the policy".into(),
        ));
    }
    let mut identities = Vec::new();
    for (i, id) in policy.signatures.identities.iter().enumerate() {
        let field = format!("signatures.identities[{i}]");
        let subject = match (id.subject.is_empty(), &id.subject_regexp) {
            (false, None) => SubjectMatch::Exact(id.subject.clone()),
            (true, Some(r)) => SubjectMatch::regexp(r)
                .map_err(|e| invalid(&field, format!("subject_regexp {r:?}: {e}")))?,
            _ => {
                return Err(invalid(
                    &field,
                    "set exactly one of subject and subject_regexp".into(),
                ));
            }
        };
        if id.issuer.is_empty() {
            return Err(invalid(&field, "issuer must be set".into()));
        }
        identities.push(CertIdentity {
            subject,
            issuer: id.issuer.clone(),
        });
    }
    let trusted_root = match (cli.trusted_root, &policy.signatures.trusted_root) {
        (Some(p), _) => Some(p.to_path_buf()),
        (None, Some(p)) => Some(base_dir.join(p)),
        (None, None) => None,
    };
    // A trusted root without identities still verifies keyed signatures' transparency
    // evidence.
    let keyless = match &trusted_root {
        Some(p) => {
            let bad =
                |m: String| invalid("signatures.trusted_root", format!("{}: {m}", p.display()));
            let bytes = crate::limits::read_capped(p, &crate::limits::TRUSTED_ROOT)
                .map_err(|e| bad(e.to_string()))?;
            let root = TrustedRoot::from_json(&bytes).map_err(|e| bad(e.to_string()))?;
            Some(Keyless {
                root,
                identities,
                ignore_tlog: policy.signatures.insecure_ignore_tlog,
            })
        }
        None => None,
    };

    let mut predicate_types = Vec::new();
    for (i, t) in policy.attestations.predicate_types.iter().enumerate() {
        if !(t.starts_with("https://") || t.starts_with("http://")) {
            return Err(invalid(
                &format!("attestations.predicate_types[{i}]"),
                format!("{t:?} is not a predicate type URI (https://...)"),
            ));
        }
        if !predicate_types.contains(t) {
            predicate_types.push(t.clone());
        }
    }
    let mut provenance_edits = Vec::new();
    if let Some(p) = &policy.attestations.provenance {
        if !predicate_types.iter().any(|t| t == PROVENANCE_V1) {
            predicate_types.push(PROVENANCE_V1.to_string());
        }
        match p.base_digest.as_str() {
            "any" => {}
            "pinned" => {
                if !pins.iter().any(|p| p.manifest.is_some()) {
                    return Err(invalid(
                        "attestations.provenance.base_digest",
                        "\"pinned\" needs pins with a manifest digest ([[pins.base]] or pins.file); use \"any\" or a sha256: digest otherwise".into(),
                    ));
                }
            }
            other => {
                other.parse::<Digest>().map_err(|e| {
                    invalid(
                        "attestations.provenance.base_digest",
                        format!("{e}; expected \"pinned\", \"any\" or sha256:HEX"),
                    )
                })?;
            }
        }
        if let Some(b) = &p.builder_id
            && b.is_empty()
        {
            return Err(invalid(
                "attestations.provenance.builder_id",
                "empty; leave it out to accept any builder".into(),
            ));
        }
        provenance_edits = match &p.edits {
            Edits::Named(n) if n == "upstream" => upstream_edits(),
            Edits::Named(n) if n == "none" => Vec::new(),
            Edits::Named(n) => {
                return Err(invalid(
                    "attestations.provenance.edits",
                    format!(
                        "{n:?} is not \"upstream\", \"none\" or a list of [[attestations.provenance.edits]] tables"
                    ),
                ));
            }
            Edits::List(l) => l.clone(),
        };
    }

    let recipe = match policy.rebuild.recipe.as_str() {
        "builtin" => None,
        "" => {
            return Err(invalid(
                "rebuild.recipe",
                "empty; use \"builtin\" or a path".into(),
            ));
        }
        p => Some(base_dir.join(p)),
    };
    for (i, n) in policy.rebuild.noise.iter().enumerate() {
        if n.is_empty() || n.contains(char::is_whitespace) {
            return Err(invalid(
                &format!("rebuild.noise[{i}]"),
                format!("{n:?} is not a noise rule id (docs/noise-rules.md) or \"*\""),
            ));
        }
    }

    let base = match (cli.base, &policy.rebuild.base) {
        (Some(b), _) => Some((
            "--base".to_string(),
            parse_base(b, None).map_err(|m| invalid("--base", m))?,
        )),
        (None, Some(b)) => Some((
            "rebuild.base".to_string(),
            parse_base(b, Some(base_dir)).map_err(|m| invalid("rebuild.base", m))?,
        )),
        (None, None) => None,
    };

    let chain = match &policy.rebuild.chain {
        None => None,
        Some(c) => {
            if recipe.is_none() {
                return Err(invalid(
                    "rebuild.recipe",
                    "[rebuild.chain] needs the final image's recipe (e.g. \"Dockerfile_windows\"), not \"builtin\"".into(),
                ));
            }
            Some(LoadedChain {
                pause_base: parse_base(&c.pause_base, Some(base_dir))
                    .map_err(|m| invalid("rebuild.chain.pause_base", m))?,
                base_recipe: match c.base_recipe.as_str() {
                    "builtin" => None,
                    p => Some(base_dir.join(p)),
                },
                context: c.context.as_ref().map(|p| base_dir.join(p)),
                build_args: c.build_args.clone(),
            })
        }
    };
    let base_notation = match &policy.base.notation {
        None => None,
        Some(n) => {
            let trust_policy = base_dir.join(&n.trust_policy);
            let trust_store = match &n.trust_store {
                Some(s) => base_dir.join(s),
                None => trust_policy
                    .parent()
                    .unwrap_or(Path::new("."))
                    .join("truststore"),
            };
            let mut identities = Vec::new();
            for (i, id) in n.identities.iter().enumerate() {
                identities.push(
                    crate::notary::trust_policy::parse_identity(id)
                        .map_err(|m| invalid(&format!("base.notation.identities[{i}]"), m))?,
                );
            }
            Some(LoadedBaseNotation {
                trust_policy,
                trust_store,
                identities,
                scope: n.scope.clone(),
            })
        }
    };
    let name = policy.name.clone().unwrap_or_else(|| uri.clone());
    Ok(Loaded {
        chain,
        base_notation,
        policy,
        uri,
        digest,
        name,
        platforms,
        pins,
        keys,
        recipe,
        provenance_edits,
        predicate_types,
        rebuild_pins,
        pins_files: files.into_iter().map(|(p, _)| p).collect(),
        base,
        keyless,
        trusted_root: trusted_root.map(|p| p.display().to_string()),
    })
}

/// A base reference: pinned by digest; a relative layout path is taken from `dir`.
fn parse_base(text: &str, dir: Option<&Path>) -> Result<ImageRef, String> {
    let mut r: ImageRef = text
        .parse()
        .map_err(|e: crate::image::Error| e.to_string())?;
    if !crate::build::is_pinned(&r) {
        return Err(format!(
            "{text}: the base must be pinned by digest (oci:DIR@sha256:…, docker://HOST/REPO@sha256:…); `pause-verify inspect` shows the digest"
        ));
    }
    if let (ImageRef::Layout { dir: d, .. }, Some(base)) = (&mut r, dir)
        && d.is_relative()
    {
        *d = base.join(&*d);
    }
    Ok(r)
}

fn policy_pin(pin: cpins::Pin) -> Pin {
    let diff_ids: Option<Vec<Digest>> = pin.layers.iter().map(|l| l.diff_id.clone()).collect();
    Pin {
        os_version: pin.os_version,
        image: pin.image.or(Some(pin.name)),
        manifest: pin.manifest,
        layers: pin.layers.into_iter().map(|l| l.digest).collect(),
        diff_ids: diff_ids.unwrap_or_default(),
    }
}

/// The rebuild's pins: every pins file's, then the inline pins that list `layers` (the
/// rebuild matches bases by compressed digest). Two pins for one os.version must agree
/// on the layers; the first is kept.
fn merge_pins(
    files: &[(String, cpins::Pins)],
    inline: &[Pin],
) -> Result<Option<cpins::Pins>, String> {
    let mut all: Vec<cpins::Pin> = files.iter().flat_map(|(_, p)| p.pins.clone()).collect();
    for (i, p) in inline.iter().enumerate() {
        if p.layers.is_empty() {
            continue;
        }
        all.push(cpins::Pin {
            name: p.image.clone().unwrap_or_else(|| format!("pins.base[{i}]")),
            os_version: p.os_version.clone(),
            image: p.image.clone(),
            manifest: p.manifest.clone(),
            synthetic: false,
            source: Some(format!("policy pins.base[{i}]")),
            layers: p
                .layers
                .iter()
                .enumerate()
                .map(|(k, d)| cpins::PinLayer {
                    digest: d.clone(),
                    // Unknown: the rebuild compares digests, never sizes, of pins.
                    size: 0,
                    diff_id: p.diff_ids.get(k).cloned(),
                })
                .collect(),
        });
    }
    let mut out: Vec<cpins::Pin> = Vec::new();
    for p in all {
        match out.iter().find(|q| q.os_version == p.os_version) {
            None => out.push(p),
            Some(q) => {
                let same = q.layers.len() == p.layers.len()
                    && q.layers
                        .iter()
                        .zip(&p.layers)
                        .all(|(a, b)| a.digest == b.digest);
                if !same {
                    return Err(format!(
                        "pins {} and {} both pin os.version {} but to different layers",
                        q.name, p.name, p.os_version
                    ));
                }
            }
        }
    }
    Ok((!out.is_empty()).then(|| cpins::Pins {
        schema_version: cpins::PINS_SCHEMA_VERSION.to_string(),
        pins: out,
    }))
}

fn read_key(p: &Path, uri: &str, field: &str) -> Result<PublicKey, PolicyError> {
    let err = |message: String| PolicyError::Key {
        path: uri.to_string(),
        field: field.into(),
        key: p.to_path_buf(),
        message,
    };
    let bytes =
        crate::limits::read_capped(p, &crate::limits::KEY).map_err(|e| err(e.to_string()))?;
    PublicKey::from_pem(&bytes).map_err(|e| err(e.to_string()))
}

/// Read a pins file (`attestations/pins.toml`, format of `compare::pins`).
fn read_pins_file(p: &Path) -> Result<cpins::Pins, String> {
    if std::fs::metadata(p).is_ok_and(|m| m.len() > MAX_POLICY_BYTES) {
        return Err(format!(
            "{}: over {MAX_POLICY_BYTES} bytes; is it the right file?",
            p.display()
        ));
    }
    cpins::Pins::load(p).map_err(|e| e.to_string())
}

impl Loaded {
    /// The pins for an os.version (exact match).
    pub fn pins_for(&self, os_version: &str) -> Vec<&Pin> {
        self.pins
            .iter()
            .filter(|p| p.os_version == os_version)
            .collect()
    }

    /// Whether a noise rule id is allowed.
    pub fn noise_allowed(&self, rule: &str) -> bool {
        self.policy
            .rebuild
            .noise
            .iter()
            .any(|n| n == "*" || n == rule)
    }

    pub fn builder_id(&self) -> Option<&str> {
        self.policy
            .attestations
            .provenance
            .as_ref()
            .and_then(|p| p.builder_id.as_deref())
    }
}

/// The builder id our own provenance carries (a sensible policy value).
pub const OUR_BUILDER_ID: &str = BUILDER_ID;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn upstream_edits_come_from_the_builtin_recipe() {
        use crate::attest::statement::EditOp;
        let e = upstream_edits();
        let got: Vec<(String, String, Option<String>, EditOp)> = e
            .iter()
            .map(|e| (e.hive.clone(), e.key.clone(), e.value.clone(), e.op))
            .collect();
        let sw = |v: &str| {
            (
                "HKLM\\SOFTWARE".to_string(),
                if v == "EnableDCOM" {
                    "Microsoft\\ole"
                } else {
                    "Microsoft\\rpc"
                }
                .to_string(),
                Some(v.to_string()),
                EditOp::Set,
            )
        };
        assert_eq!(
            got,
            vec![
                sw("DCOM Protocols"),
                sw("UuidSequenceNumber"),
                sw("EpMapDisallowedProtocols"),
                sw("EnableDCOM"),
                (
                    "HKLM\\SYSTEM".to_string(),
                    "ControlSet001\\Services\\diagtrack".to_string(),
                    None,
                    EditOp::DeleteKey
                ),
            ]
        );
        assert_eq!(e[1].data, Some(serde_json::json!(0x01bc_f674)));
        assert_eq!(e[2].data, Some(serde_json::json!("ncacn_ip_tcp")));
    }

    const KEY: &str = "-----BEGIN PUBLIC KEY-----\nMFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEGmsWpZNuu+SUX70n3lVK4JLsaoV7T+rhea2rQUu29EQiatoLB06QdsmSd+GsQGlQzfcDtsKPzb+B2zLggrWZjg==\n-----END PUBLIC KEY-----\n";

    fn with_files(policy: &str) -> (tempfile::TempDir, Result<Loaded, PolicyError>) {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("k.pub"), KEY).unwrap();
        let p = dir.path().join("policy.toml");
        std::fs::write(&p, policy).unwrap();
        let r = load(Some(&p), &CliInputs::default());
        (dir, r)
    }

    fn err(policy: &str) -> String {
        with_files(policy).1.unwrap_err().to_string()
    }

    #[test]
    fn example_policy_loads() {
        let text = include_str!("../attestations/policy.example.toml");
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("attestations");
        let policy = parse(text, Path::new("policy.example.toml")).unwrap();
        // It names no key (the demo key must not be trusted by copying the example):
        // without --key it is refused, with one it loads.
        let e = resolve(
            policy.clone(),
            "example".into(),
            None,
            &dir,
            &CliInputs::default(),
        );
        assert!(e.is_err());
        let keys = [dir.join("cosign.pub")];
        let cli = CliInputs {
            keys: &keys,
            ..CliInputs::default()
        };
        let l = resolve(policy, "example".into(), None, &dir, &cli).unwrap();
        assert_eq!(l.platforms.len(), 3);
        assert!(l.predicate_types.iter().any(|t| t == PROVENANCE_V1));
        assert_eq!(l.provenance_edits, upstream_edits());
        assert_eq!(l.keys.len(), 1);
    }

    #[test]
    fn default_policy_needs_a_key_and_requires_signature_and_rebuild() {
        let e = load(None, &CliInputs::default()).unwrap_err().to_string();
        assert!(e.contains("--key"), "{e}");
        let dir = tempfile::tempdir().unwrap();
        let k = dir.path().join("k.pub");
        std::fs::write(&k, KEY).unwrap();
        let keys = [k];
        let l = load(
            None,
            &CliInputs {
                keys: &keys,
                ..Default::default()
            },
        )
        .unwrap();
        assert!(l.policy.signatures.required);
        assert!(l.policy.rebuild.required);
        assert_eq!(l.policy.rebuild.verdict, RequiredVerdict::Equivalent);
        assert!(l.platforms.is_empty(), "every platform of the image");
        assert!(l.predicate_types.is_empty());
        assert!(!l.policy.pins.required);
        assert!(l.noise_allowed("tar-times"));
        assert_eq!(l.uri, DEFAULT_POLICY_URI);
    }

    #[test]
    fn verdict_order() {
        use RequiredVerdict::*;
        assert!(Identical.accepts("IDENTICAL"));
        assert!(!Identical.accepts("SAME_CONTENT"));
        assert!(SameContent.accepts("IDENTICAL"));
        assert!(!SameContent.accepts("EQUIVALENT"));
        assert!(Equivalent.accepts("EQUIVALENT"));
        assert!(!Equivalent.accepts("DIFFERENT"));
        assert!(!Equivalent.accepts("identical"));
    }

    #[test]
    fn errors_name_the_field() {
        let cases = [
            ("version = 2\n", "version 2 is not supported"),
            (
                "version = 1\n[signatures]\nkeys=['k.pub']\n[platforms]\nrequired=['windows']\n",
                "platforms.required[0]",
            ),
            (
                "version = 1\n[signatures]\nkeys=['k.pub']\n[rebuild]\nverdict='SIMILAR'\n",
                "SIMILAR",
            ),
            (
                "version = 1\n[signatures]\nkeys=['k.pub']\nrequired_signers=1\n",
                "required_signers",
            ),
            ("version = 1\n[signatures]\nkeys=['nope.pub']\n", "nope.pub"),
            (
                "version = 1\n[signatures]\nkeys=['k.pub']\n[pins]\nrequired=true\n",
                "no pins",
            ),
            (
                "version = 1\n[signatures]\nkeys=['k.pub']\n[attestations.provenance]\n",
                "\"pinned\" needs pins",
            ),
            (
                "version = 1\n[signatures]\nkeys=['k.pub']\n[attestations.provenance]\nbase_digest='sha256:12'\n",
                "base_digest",
            ),
            (
                "version = 1\n[signatures]\nkeys=['k.pub']\n[attestations.provenance]\nbase_digest='any'\nedits='some'\n",
                "\"upstream\", \"none\"",
            ),
            (
                "version = 1\n[signatures]\nkeys=['k.pub']\n[attestations]\npredicate_types=['provenance']\n",
                "predicate_types[0]",
            ),
            (
                "version = 1\n[signatures]\nkeys=['k.pub']\n[[pins.base]]\nos_version='ltsc2022'\nmanifest='sha256:0000000000000000000000000000000000000000000000000000000000000000'\n",
                "pins.base[0].os_version",
            ),
            ("version = 1\n", "no public key"),
            ("not toml = = 1", "not a valid policy"),
        ];
        for (text, want) in cases {
            let e = err(text);
            assert!(e.contains(want), "{text:?}: {e}");
        }
    }

    #[test]
    fn explicit_edits_keys_and_pins_file() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("k.pub"), KEY).unwrap();
        let d = Digest::of(b"base");
        std::fs::write(
            dir.path().join("pins.toml"),
            format!(
                "schemaVersion = \"1\"\n[[pin]]\nname='x'\nosVersion='10.0.20348.1'\nmanifest='{d}'\n[[pin.layers]]\ndigest='{d}'\nsize=1\n"
            ),
        )
        .unwrap();
        let p = dir.path().join("p.toml");
        std::fs::write(
            &p,
            "version = 1\n[signatures]\nkeys=['k.pub']\n[pins]\nrequired=true\nfile='pins.toml'\n\
             [attestations.provenance]\nbuilder_id='https://b'\n\
             [[attestations.provenance.edits]]\nhive='HKLM\\SOFTWARE'\nkey='Microsoft\\ole'\nvalue='EnableDCOM'\nop='set'\n\
             [rebuild]\nverdict='IDENTICAL'\nnoise=[]\nrecipe='recipe-dir'\n",
        )
        .unwrap();
        let l = load(Some(&p), &CliInputs::default()).unwrap();
        assert_eq!(l.pins.len(), 1);
        assert_eq!(l.pins_for("10.0.20348.1")[0].layers, vec![d]);
        assert!(l.pins_for("10.0.20348.2").is_empty());
        assert_eq!(l.provenance_edits.len(), 1);
        assert_eq!(l.provenance_edits[0].key, "Microsoft\\ole");
        assert_eq!(l.builder_id(), Some("https://b"));
        assert!(!l.noise_allowed("tar-times"));
        assert_eq!(l.recipe, Some(dir.path().join("recipe-dir")));
        assert_eq!(l.digest, Some(Digest::of(&std::fs::read(&p).unwrap())));
    }

    fn pins_file(dir: &Path, name: &str, version: &str, layer: &Digest) -> PathBuf {
        let p = dir.join(name);
        std::fs::write(
            &p,
            format!(
                "schemaVersion = \"1\"\n[[pin]]\nname='{name}'\nosVersion='{version}'\n[[pin.layers]]\ndigest='{layer}'\nsize=1\n"
            ),
        )
        .unwrap();
        p
    }

    #[test]
    fn default_policy_finds_pins_and_base() {
        let dir = tempfile::tempdir().unwrap();
        let k = dir.path().join("k.pub");
        std::fs::write(&k, KEY).unwrap();
        let keys = [k];
        let l1 = Digest::of(b"layer");
        let found = pins_file(dir.path(), "found.toml", "10.0.20348.1", &l1);
        let given = pins_file(dir.path(), "given.toml", "10.0.17763.1", &l1);
        let missing = dir.path().join("missing.toml");
        let cli = |pins, default_pins, base| CliInputs {
            keys: &keys,
            pins,
            base,
            default_pins,
            trusted_root: None,
            identities: &[],
        };
        // No pins file anywhere: base pins not required, the rebuild has nothing.
        let l = load(None, &cli(None, Some(&missing), None)).unwrap();
        assert!(!l.policy.pins.required);
        assert!(l.rebuild_pins.is_none() && l.base.is_none());
        // The default pins file, when it exists: read, and the base must be pinned.
        let l = load(None, &cli(None, Some(&found), None)).unwrap();
        assert!(l.policy.pins.required);
        assert_eq!(l.pins_files, vec![found.display().to_string()]);
        let rp = l.rebuild_pins.unwrap();
        assert!(rp.for_os_version("10.0.20348.1").is_some());
        // --pins replaces the default file.
        let l = load(None, &cli(Some(&given), Some(&found), None)).unwrap();
        assert_eq!(l.pins_files, vec![given.display().to_string()]);
        assert!(l.pins_for("10.0.20348.1").is_empty());
        assert_eq!(l.pins_for("10.0.17763.1").len(), 1);
        // --base must be pinned by digest.
        let b = format!("oci:/x@{l1}");
        let l = load(None, &cli(None, None, Some(&b))).unwrap();
        assert_eq!(l.base.as_ref().unwrap().0, "--base");
        let e = load(None, &cli(None, None, Some("oci:/x:tag")))
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("--base") && e.contains("pinned by digest"),
            "{e}"
        );
    }

    #[test]
    fn rebuild_base_is_relative_to_the_policy_and_pins_must_agree() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("k.pub"), KEY).unwrap();
        let d = Digest::of(b"m");
        let (text, l) = with_files(&format!(
            "version = 1\n[signatures]\nkeys=['k.pub']\n[rebuild]\nbase='oci:nano@{d}'\n"
        ));
        let l = l.unwrap();
        let (src, r) = l.base.unwrap();
        assert_eq!(src, "rebuild.base");
        assert_eq!(
            r,
            ImageRef::Layout {
                dir: text.path().join("nano"),
                tag: None,
                digest: Some(d.clone())
            }
        );
        let e = err("version = 1\n[signatures]\nkeys=['k.pub']\n[rebuild]\nbase='oci:nano'\n");
        assert!(
            e.contains("rebuild.base") && e.contains("pinned by digest"),
            "{e}"
        );

        // Inline pins with layers join the rebuild's pins; a pins file that pins the same
        // os.version to other layers is refused.
        let other = Digest::of(b"other");
        pins_file(dir.path(), "p.toml", "10.0.20348.1", &other);
        let pol = dir.path().join("pol.toml");
        let inline = format!(
            "version = 1\n[signatures]\nkeys=['k.pub']\n[[pins.base]]\nos_version='10.0.20348.1'\nimage='oci:nano@{d}'\nlayers=['{d}']\n"
        );
        std::fs::write(&pol, &inline).unwrap();
        let l = load(Some(&pol), &CliInputs::default()).unwrap();
        let pin = l.rebuild_pins.unwrap().pins.remove(0);
        assert_eq!(pin.image.as_deref(), Some(format!("oci:nano@{d}").as_str()));
        assert_eq!(pin.layers[0].digest, d);
        std::fs::write(&pol, format!("{inline}[pins]\nfile='p.toml'\n")).unwrap();
        let e = load(Some(&pol), &CliInputs::default())
            .unwrap_err()
            .to_string();
        assert!(e.contains("different layers"), "{e}");
    }
}
