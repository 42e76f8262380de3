//! The Notary Project (notation) flags `verify` (and the policy's `[base] notation`) use:
//! `--notation`, `--trust-policy FILE`, `--trust-store DIR`, `--notation-scope REPO`.
//! Defaults are notation's: `$XDG_CONFIG_HOME/notation` (else `~/.config/notation`),
//! `trustpolicy.oci.json` there (else `trustpolicy.json`) and `truststore/` there.

use anyhow::Context;
use pause_verify::attest::attach::{self, Store};
use pause_verify::build::BuildOutput;
use pause_verify::image::registry::RegistryOptions;
use pause_verify::image::{Digest, ImageRef};
use pause_verify::notary::stored::{self, NotaryCheck};
use pause_verify::notary::trust_policy::PolicyDocument;
use pause_verify::notary::trust_store::TrustStore;
use pause_verify::notary::verify::Trust;
use serde::Serialize;
use std::path::{Path, PathBuf};

#[derive(clap::Args, Debug, Clone, Default)]
pub struct NotationArgs {
    /// Also verify Notary Project (notation) signatures, with notation's trust policy and trust store (default: $XDG_CONFIG_HOME/notation).
    #[arg(long)]
    pub notation: bool,
    /// notation's trust policy (trustpolicy.json / trustpolicy.oci.json); implies --notation.
    #[arg(long, value_name = "FILE")]
    pub trust_policy: Option<PathBuf>,
    /// notation's trust store directory (holding x509/{ca,signingAuthority,tsa}/NAME); implies --notation.
    #[arg(long, value_name = "DIR")]
    pub trust_store: Option<PathBuf>,
    /// The registry scope (REGISTRY/REPOSITORY) the trust policy sees for an image in a layout (default: only the "*" statement applies).
    #[arg(long, value_name = "REPO")]
    pub notation_scope: Option<String>,
}

/// The loaded trust, and what the user should know about it.
pub struct Loaded {
    pub trust: Trust,
    pub policy_path: PathBuf,
    pub store_path: PathBuf,
    pub warnings: Vec<String>,
}

fn config_dir() -> PathBuf {
    if let Some(x) = std::env::var_os("XDG_CONFIG_HOME").filter(|x| !x.is_empty()) {
        return PathBuf::from(x).join("notation");
    }
    let home = std::env::var_os("HOME")
        .map(PathBuf::from)
        .unwrap_or_default();
    home.join(".config").join("notation")
}

impl NotationArgs {
    pub fn enabled(&self) -> bool {
        self.notation || self.trust_policy.is_some() || self.trust_store.is_some()
    }

    /// The scope of `r` for the trust policy.
    pub fn scope(&self, r: &ImageRef) -> Option<String> {
        if let Some(s) = &self.notation_scope {
            return Some(s.clone());
        }
        match r {
            ImageRef::Registry {
                registry,
                repository,
                ..
            } => Some(format!("{registry}/{repository}")),
            _ => None,
        }
    }

    /// Read the policy, pick the statement for `scope`, load its trust stores.
    pub fn load(&self, scope: Option<&str>) -> anyhow::Result<Loaded> {
        let cfg = config_dir();
        let policy_path = match &self.trust_policy {
            Some(p) => p.clone(),
            None => {
                let oci = cfg.join("trustpolicy.oci.json");
                if oci.is_file() {
                    oci
                } else {
                    cfg.join("trustpolicy.json")
                }
            }
        };
        let store_path = self
            .trust_store
            .clone()
            .unwrap_or_else(|| cfg.join("truststore"));
        load(&policy_path, &store_path, scope)
    }
}

/// Load the trust a policy file gives images of `scope`.
pub fn load(policy_path: &Path, store_path: &Path, scope: Option<&str>) -> anyhow::Result<Loaded> {
    let doc = PolicyDocument::load(policy_path)
        .with_context(|| format!("trust policy {}", policy_path.display()))?;
    let st = doc.statement_for(scope).with_context(|| {
        format!(
            "trust policy {}: no statement applies to {} (and there is no \"*\" statement)",
            policy_path.display(),
            scope.unwrap_or("an image without a registry scope (pass --notation-scope)")
        )
    })?;
    anyhow::ensure!(
        store_path.is_dir(),
        "trust store {}: not a directory",
        store_path.display()
    );
    let trust = Trust::load(st, &TrustStore::new(store_path))
        .with_context(|| format!("trust policy statement {:?}", st.name))?;
    Ok(Loaded {
        warnings: st.warnings(),
        trust,
        policy_path: policy_path.to_path_buf(),
        store_path: store_path.to_path_buf(),
    })
}

/// "Now" for expiry and validity checks, Unix seconds.
pub fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

/// The RFC 3161 verifier for countersignatures (`attest::timestamp`).
pub fn timestamps() -> pause_verify::notary::verify::Rfc3161 {
    pause_verify::notary::verify::Rfc3161
}

/// One rebuilt platform's base and its Notary signatures.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct BaseSignatures {
    /// The base platform manifest the rebuild used.
    pub base: Digest,
    /// The base as named (`--base` or the pin's image).
    pub reference: String,
    pub verified: bool,
    pub notation: Vec<NotaryCheck>,
}

impl BaseSignatures {
    /// What the provenance records of the first verified signature.
    pub fn annotations(&self) -> Option<serde_json::Map<String, serde_json::Value>> {
        let (c, v) = self
            .notation
            .iter()
            .find_map(|c| c.result.as_ref().ok().map(|v| (c, v)))?;
        let mut m = serde_json::Map::new();
        let manifest = c.source.strip_prefix("referrer ").unwrap_or(&c.source);
        m.insert("notation.signatureManifest".into(), manifest.into());
        m.insert("notation.signer".into(), v.signer.clone().into());
        m.insert("notation.trustStore".into(), v.trust_store.clone().into());
        m.insert("notation.trustPolicy".into(), v.trust_policy.clone().into());
        if let Some(t) = &v.timestamp {
            m.insert("notation.timestamp".into(), t.clone().into());
        }
        Some(m)
    }
}

/// Check the Notary signatures of every build's base, where the base was read from.
pub fn check_bases(
    args: &NotationArgs,
    builds: &[BuildOutput],
    registry: &RegistryOptions,
    quiet: bool,
) -> anyhow::Result<Vec<BaseSignatures>> {
    let mut out = Vec::new();
    for b in builds {
        let r: ImageRef = b
            .base
            .reference
            .parse()
            .with_context(|| format!("base {}", b.base.reference))?;
        let loaded = args.load(args.scope(&r).as_deref())?;
        if !quiet {
            for w in &loaded.warnings {
                eprintln!("pause-verify: warning: {w}");
            }
        }
        let store = Store::open(&r, registry).with_context(|| format!("opening base {r}"))?;
        let root = store.root().with_context(|| format!("reading base {r}"))?;
        let mut descs = vec![root.descriptor().clone()];
        descs.extend(attach::children(&store, &root, None, true)?);
        let d = descs
            .into_iter()
            .find(|d| d.digest == b.base.manifest.digest)
            .unwrap_or_else(|| b.base.manifest.clone());
        let checks = stored::check_subject(&store, &d, &loaded.trust, now(), &timestamps())?;
        out.push(BaseSignatures {
            base: d.digest.clone(),
            reference: b.base.reference.clone(),
            verified: checks.iter().any(NotaryCheck::is_verified),
            notation: checks,
        });
    }
    Ok(out)
}

pub fn print_bases(bases: &[BaseSignatures]) {
    for b in bases {
        println!("base {} ({})", b.base, b.reference);
        if b.notation.is_empty() {
            println!("  FAILED no notation signatures found for the base");
        }
        for c in &b.notation {
            match &c.result {
                Ok(v) => println!(
                    "  ok     notation {}: signed by {:?} (trust store {}, policy {})",
                    c.source, v.signer, v.trust_store, v.trust_policy
                ),
                Err(f) => println!("  FAILED notation {}: {}: {f}", c.source, f.code()),
            }
        }
    }
}
