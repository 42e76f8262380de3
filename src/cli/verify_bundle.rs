//! `pause-verify verify-bundle --bundle FILE (--artifact FILE | --digest sha256:HEX |
//! FILE_OR_DIGEST) [--key PUB ...] [--trusted-root FILE [--certificate-identity ID
//! --certificate-oidc-issuer ISS] [--insecure-ignore-tlog]] [--type URI]`: verify one
//! Sigstore bundle file about a blob or a digest, keyed or keyless (offline, against a
//! trusted root file), as `cosign verify-blob(-attestation) --bundle` does. The
//! positional argument follows the sigstore-conformance CLI protocol: `sha256:` and 64
//! hex digits that name no file is a digest, anything else a file.
//!
//! Also owns [`KeylessArgs`], the trusted-root flags `verify` shares. With `--key` and
//! `--trusted-root`, a keyed bundle's log entries and timestamps are verified too. Exit 0
//! verified, 1 not (with the reason code), 2 for bad input (unreadable bundle, key or
//! trusted root).

use super::{Global, Outcome};
use anyhow::Context;
use pause_verify::attest::bundle::verify_bundle_with;
use pause_verify::attest::keyless::{CertIdentity, Keyless, SubjectMatch};
use pause_verify::attest::trust_root::TrustedRoot;
use pause_verify::attest::verify::MAX_PAYLOAD_BYTES;
use pause_verify::attest::{Check, PublicKey};
use pause_verify::image::Digest;
use pause_verify::image::digest::HashingReader;
use serde::Serialize;
use std::io::Read;
use std::path::{Path, PathBuf};

/// Keyless (Fulcio + Rekor) trust, checked offline against a trusted root file.
#[derive(clap::Args, Debug, Clone)]
pub struct KeylessArgs {
    /// A Sigstore trusted root (trusted_root.json: Fulcio CAs, Rekor, CT and timestamp authority keys) to verify keyless bundles and .sig/.att layers against; with --key, keyed signatures' Rekor entries and timestamps are verified against it too.
    #[arg(long, value_name = "FILE")]
    pub trusted_root: Option<PathBuf>,
    /// With --trusted-root: do not require or check transparency log entries (cosign's flag of the same name; printed as a warning and recorded in --json).
    #[arg(long, requires = "trusted_root")]
    pub insecure_ignore_tlog: bool,
    /// The certificate identity (SAN: URI or e-mail) a keyless signer must have, exactly.
    #[arg(long, value_name = "ID", requires_all = ["trusted_root", "certificate_oidc_issuer"], conflicts_with = "certificate_identity_regexp")]
    pub certificate_identity: Option<String>,
    /// Or a regular expression the whole certificate identity must match (anchored, unlike cosign).
    #[arg(long, value_name = "REGEXP", requires_all = ["trusted_root", "certificate_oidc_issuer"])]
    pub certificate_identity_regexp: Option<String>,
    /// The OIDC issuer a keyless signer's certificate must name, exactly.
    #[arg(long, value_name = "URL", requires = "trusted_root")]
    pub certificate_oidc_issuer: Option<String>,
}

/// The `--key` files, read and parsed (exit 2 naming the file when one is not a key).
pub fn load_public_keys(paths: &[PathBuf]) -> anyhow::Result<Vec<PublicKey>> {
    paths
        .iter()
        .map(|p| {
            let pem = pause_verify::limits::read_capped(p, &pause_verify::limits::KEY)
                .with_context(|| format!("reading key {}", p.display()))?;
            PublicKey::from_pem(&pem).with_context(|| format!("loading key {}", p.display()))
        })
        .collect()
}

impl KeylessArgs {
    pub fn is_set(&self) -> bool {
        self.trusted_root.is_some()
    }

    /// The trust to verify bundles with, when a trusted root is given. Without identities
    /// (`has_keys`: keyed verification) it still checks keyed transparency evidence.
    pub fn load(&self, has_keys: bool) -> anyhow::Result<Option<Keyless>> {
        let Some(path) = &self.trusted_root else {
            return Ok(None);
        };
        let subject = match (
            &self.certificate_identity,
            &self.certificate_identity_regexp,
        ) {
            (Some(s), _) => Some(SubjectMatch::Exact(s.clone())),
            (None, Some(r)) => Some(
                SubjectMatch::regexp(r)
                    .with_context(|| format!("--certificate-identity-regexp {r:?}"))?,
            ),
            (None, None) => None,
        };
        let identities = match (subject, &self.certificate_oidc_issuer) {
            (Some(subject), Some(issuer)) => vec![CertIdentity {
                subject,
                issuer: issuer.clone(),
            }],
            (None, None) if has_keys => Vec::new(),
            (None, Some(_)) => anyhow::bail!(
                "--certificate-oidc-issuer needs --certificate-identity (or --certificate-identity-regexp)"
            ),
            _ => anyhow::bail!(
                "--trusted-root needs --certificate-identity (or --certificate-identity-regexp) and --certificate-oidc-issuer, or --key"
            ),
        };
        if self.insecure_ignore_tlog {
            eprintln!(
                "pause-verify: warning: --insecure-ignore-tlog: transparency log entries are neither required nor verified"
            );
        }
        Ok(Some(Keyless {
            root: load_trusted_root(path)?,
            identities,
            ignore_tlog: self.insecure_ignore_tlog,
        }))
    }
}

/// Read and parse a trusted root file (errors name the file).
pub fn load_trusted_root(path: &Path) -> anyhow::Result<TrustedRoot> {
    let bytes = read_limited(path, "trusted root")?;
    TrustedRoot::from_json(&bytes).with_context(|| format!("trusted root {}", path.display()))
}

fn read_limited(path: &Path, what: &str) -> anyhow::Result<Vec<u8>> {
    let f = pause_verify::limits::open_regular(path, "input file")
        .with_context(|| format!("reading {what} {}", path.display()))?;
    let mut bytes = Vec::new();
    f.take(MAX_PAYLOAD_BYTES as u64 + 1)
        .read_to_end(&mut bytes)
        .with_context(|| format!("reading {what} {}", path.display()))?;
    anyhow::ensure!(
        bytes.len() <= MAX_PAYLOAD_BYTES,
        "{what} {} is over {MAX_PAYLOAD_BYTES} bytes",
        path.display()
    );
    Ok(bytes)
}

#[derive(clap::Args, Debug)]
pub struct Args {
    /// The Sigstore bundle file (.sigstore.json).
    #[arg(long, value_name = "FILE")]
    pub bundle: PathBuf,
    /// The signed file (message signatures sign it; attestations name its sha256 as subject).
    #[arg(
        long,
        value_name = "FILE",
        required_unless_present_any = ["digest", "file_or_digest"],
        conflicts_with_all = ["digest", "file_or_digest"]
    )]
    pub artifact: Option<PathBuf>,
    /// The signed digest instead of a file (e.g. an image manifest digest).
    #[arg(long, value_name = "sha256:HEX", conflicts_with = "file_or_digest")]
    pub digest: Option<Digest>,
    /// The signed file or its digest, as the sigstore-conformance protocol passes it: sha256:HEX (64 digits) that is no file on disk is a digest.
    #[arg(value_name = "FILE_OR_DIGEST")]
    pub file_or_digest: Option<String>,
    /// A cosign public key (PEM); repeat for several (any one may verify).
    #[arg(long, value_name = "FILE")]
    pub key: Vec<PathBuf>,
    #[command(flatten)]
    pub keyless: KeylessArgs,
    /// The predicate type a DSSE attestation must have.
    #[arg(long = "type", value_name = "URI")]
    pub predicate_type: Option<String>,
    #[command(flatten)]
    pub no_registry: super::registry_flags::NoRegistry,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Report<'a> {
    schema_version: &'static str,
    kind: &'static str,
    bundle: &'a Path,
    subject: &'a Digest,
    verified: bool,
    keys: Vec<KeyInfo<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    trusted_root: Option<&'a Path>,
    #[serde(skip_serializing_if = "Option::is_none")]
    certificate_identity: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    certificate_identity_regexp: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    certificate_oidc_issuer: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    predicate_type: Option<&'a str>,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    insecure_ignore_tlog: bool,
    check: &'a Check,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct KeyInfo<'a> {
    path: &'a Path,
    hint: String,
}

pub fn run(args: Args, g: &Global) -> anyhow::Result<Outcome> {
    args.no_registry.refuse("verify-bundle")?;
    anyhow::ensure!(
        !args.key.is_empty() || args.keyless.is_set(),
        "nothing to verify with: give --key PUB, or --trusted-root with --certificate-identity and --certificate-oidc-issuer"
    );
    let keys = load_public_keys(&args.key)?;
    let keyless = args.keyless.load(!keys.is_empty())?;
    let bundle = read_limited(&args.bundle, "bundle")?;
    let positional = args.file_or_digest.as_deref().map(|s| {
        let digest_like = s.len() == 71
            && s.strip_prefix("sha256:")
                .is_some_and(|h| h.bytes().all(|c| c.is_ascii_hexdigit()));
        match s.parse::<Digest>() {
            Ok(d) if digest_like && !Path::new(s).exists() => Err(d),
            _ => Ok(PathBuf::from(s)),
        }
    });
    let artifact = match (&args.artifact, &positional) {
        (Some(a), _) => Some(a.clone()),
        (None, Some(Ok(p))) => Some(p.clone()),
        _ => None,
    };
    let subject = match (&args.digest, &positional, &artifact) {
        (Some(d), _, _) => d.clone(),
        (None, Some(Err(d)), _) => d.clone(),
        (None, _, Some(a)) => {
            let f = pause_verify::limits::open_regular(a, "artifact")
                .with_context(|| format!("reading artifact {}", a.display()))?;
            let mut r = HashingReader::new(f);
            std::io::copy(&mut r, &mut std::io::sink())
                .with_context(|| format!("reading artifact {}", a.display()))?;
            r.finish().0
        }
        _ => anyhow::bail!("give --artifact FILE, --digest sha256:HEX or FILE_OR_DIGEST"),
    };
    let check = Check {
        source: args.bundle.display().to_string(),
        result: verify_bundle_with(
            &keys,
            keyless.as_ref(),
            &bundle,
            &subject,
            args.predicate_type.as_deref(),
        ),
    };
    let verified = check.is_verified();
    if g.json {
        let doc = Report {
            schema_version: "1",
            kind: "verify-bundle",
            bundle: &args.bundle,
            subject: &subject,
            verified,
            keys: args
                .key
                .iter()
                .zip(&keys)
                .map(|(p, k)| KeyInfo {
                    path: p,
                    hint: k.hint(),
                })
                .collect(),
            trusted_root: args.keyless.trusted_root.as_deref(),
            certificate_identity: args.keyless.certificate_identity.as_deref(),
            certificate_identity_regexp: args.keyless.certificate_identity_regexp.as_deref(),
            certificate_oidc_issuer: args.keyless.certificate_oidc_issuer.as_deref(),
            predicate_type: args.predicate_type.as_deref(),
            insecure_ignore_tlog: args.keyless.insecure_ignore_tlog,
            check: &check,
        };
        println!("{}", serde_json::to_string_pretty(&doc)?);
    } else {
        println!("{} (subject {subject})", args.bundle.display());
        if args.keyless.insecure_ignore_tlog {
            println!("  WARNING transparency log not checked (--insecure-ignore-tlog)");
        }
        match &check.result {
            Ok(v) => {
                let by = match &v.keyless {
                    Some(s) => format!("keyless: {} from {}", s.identity, s.issuer),
                    None => format!(
                        "key {}",
                        args.key
                            .get(v.key_index)
                            .map(|p| p.display().to_string())
                            .unwrap_or_default()
                    ),
                };
                let pt = v
                    .predicate_type
                    .as_deref()
                    .map(|t| format!(", predicate {t}"))
                    .unwrap_or_default();
                println!("  ok     {} with {by}{pt}", v.format);
                if let Some(t) = &v.transparency {
                    for e in &t.entries {
                        println!(
                            "         Rekor v{} {} entry {}{}{}",
                            e.rekor_version,
                            e.log,
                            e.log_index,
                            e.integrated_time
                                .map(|t| format!(" integrated {}", pause_verify::time::rfc3339(t)))
                                .unwrap_or_default(),
                            if e.inclusion_proof {
                                ", inclusion proof"
                            } else {
                                ""
                            }
                        );
                    }
                    for ts in &t.timestamps {
                        println!(
                            "         timestamp {} by {}",
                            pause_verify::time::rfc3339(ts.time),
                            ts.authority
                        );
                    }
                }
            }
            Err(f) => println!("  FAILED {}: {f}", f.code()),
        }
        println!("{}", if verified { "VERIFIED" } else { "NOT VERIFIED" });
    }
    Ok(if verified {
        Outcome::Pass
    } else {
        Outcome::Fail
    })
}
