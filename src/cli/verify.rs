//! `pause-verify verify (--key cosign.pub | --trusted-root FILE --certificate-identity ID
//! --certificate-oidc-issuer ISS) IMAGE [--attestations [--type URI]]
//! [--attestations-dir DIR] [--platform P | --all-platforms]`: check the signatures (and
//! attestations) stored for an image, as `cosign verify` / `verify-attestation` do. A
//! bundle verifies by key or, with the keyless flags, by its Fulcio certificate and Rekor
//! entry checked offline against the trusted root (`attest::keyless`); so does a `.sig` /
//! `.att` layer that carries cosign's certificate and Rekor bundle annotations
//! (`attest::legacy_keyless`).
//!
//! Each signature: signature over the exact payload bytes → signed digest equals the
//! image digest → identity (`--identity`) / statement subject and predicate type. A
//! signed digest is only worth the bytes behind it, so the image itself is hashed too:
//! root → every platform manifest → config → (unless `--skip-blobs`) every layer, each
//! against its descriptor, streaming. Exit 0 when the image is intact and every image
//! checked has at least one verified signature (and, with `--attestations`, one verified
//! attestation) and no FAILED one (`--require-any`: at least one suffices; a check whose
//! only fault is another predicate type than `--type` is not selected, not failed);
//! 1 otherwise, listing why each failed; 2 for bad input (unreadable key, unresolvable
//! image).

use super::style::{self, say};
use super::{Global, Outcome};
use anyhow::Context;
use pause_verify::attest::Check;
use pause_verify::attest::attach::{self, Store, SubjectReport, VerifyOptions};
use pause_verify::attest::storage::AttestationsDir;
use pause_verify::image::{self, Descriptor, ImageRef, ImageSource, PlatformSelector, Root};
use pause_verify::notary::stored::{self, NotaryCheck};
use serde::Serialize;
use std::path::PathBuf;

#[derive(clap::Args, Debug)]
pub struct Args {
    /// A cosign public key (PEM); repeat for several (any one may verify). Optional with --trusted-root.
    #[arg(long, value_name = "FILE", required_unless_present_any = ["trusted_root", "notation", "trust_policy", "trust_store"])]
    pub key: Vec<PathBuf>,
    #[command(flatten)]
    pub keyless: super::verify_bundle::KeylessArgs,
    #[command(flatten)]
    pub notation: super::notation::NotationArgs,
    /// The image: oci:DIR[:TAG|@DIGEST], docker://HOST/REPO[:TAG|@DIGEST] or docker-archive:FILE (with --attestations-dir).
    pub image: String,
    /// Also check attestations (.att, attestation bundles, --attestations-dir); at least one must verify.
    #[arg(long)]
    pub attestations: bool,
    /// Only attestations of this predicate type pass (implies --attestations).
    #[arg(long = "type", value_name = "URI")]
    pub predicate_type: Option<String>,
    /// Also read signature bundles and attestations from this directory (air-gapped use).
    #[arg(long, value_name = "DIR")]
    pub attestations_dir: Option<PathBuf>,
    /// Check only attestations: no signature is required (implies --attestations).
    #[arg(long)]
    pub attestations_only: bool,
    /// The docker-reference signatures must name (a repository; tags and digests are ignored). Default: not checked, as cosign.
    #[arg(long, value_name = "REPO")]
    pub identity: Option<String>,
    /// On a manifest list, also verify this platform's image (windows/amd64[:OSVERSION]).
    #[arg(long, value_name = "PLATFORM")]
    pub platform: Option<String>,
    /// On a manifest list, also verify every platform's image.
    #[arg(long, conflicts_with = "platform")]
    pub all_platforms: bool,
    /// Hash manifests and configs only, not the layer blobs (faster on a registry).
    #[arg(long)]
    pub skip_blobs: bool,
    /// Pass when at least one signature (and attestation) verifies, even if others FAILED.
    #[arg(long)]
    pub require_any: bool,
    /// Show what was checked as a tree, as `cosign tree`: image, index, platforms, and under each its .sig / .att / referrers / --attestations-dir entries with ✓ or ✗ and why.
    #[arg(long)]
    pub tree: bool,
}

/// What the integrity pass hashed, and what did not match.
#[derive(Serialize, Default)]
#[serde(rename_all = "camelCase")]
struct Integrity {
    ok: bool,
    manifests: usize,
    configs: usize,
    /// Layers hashed (0 with --skip-blobs).
    layers: usize,
    /// Foreign (non-distributable) layers: never downloaded, not hashed.
    foreign_layers: usize,
    layer_bytes: u64,
    blobs_skipped: bool,
    failures: Vec<IntegrityFailure>,
    /// Blobs the store does not hold (a signature-only layout): no bytes to forge, none
    /// checked.
    missing: Vec<IntegrityFailure>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct IntegrityFailure {
    what: String,
    digest: image::Digest,
    reason: String,
}

/// Hash the image from its root: every manifest of an index (nested lists too, to
/// depth 4), each manifest's config and, unless `skip_blobs`, its layers, streaming.
fn check_integrity(src: &dyn ImageSource, root: &Root, skip_blobs: bool) -> Integrity {
    let mut out = Integrity {
        blobs_skipped: skip_blobs,
        ..Integrity::default()
    };
    let fail = |out: &mut Integrity, what: String, d: &Descriptor, e: image::Error| {
        let missing = match &e {
            image::Error::BlobMissing { .. } => true,
            image::Error::Registry(r) => {
                matches!(**r, image::registry::RegistryError::NotFound { .. })
            }
            _ => false,
        };
        let f = IntegrityFailure {
            what,
            digest: d.digest.clone(),
            reason: e.to_string(),
        };
        if missing {
            out.missing.push(f)
        } else {
            out.failures.push(f)
        }
    };
    let mut pending: Vec<(Descriptor, usize)> = Vec::new();
    match root {
        Root::Manifest(m) => pending.push((m.descriptor.clone(), 0)),
        Root::Index(ix) => {
            for d in image::source::image_entries(ix) {
                pending.push((d.clone(), 1));
            }
        }
    }
    let mut seen = std::collections::BTreeSet::new();
    while let Some((d, depth)) = pending.pop() {
        if !seen.insert(d.digest.clone()) {
            continue;
        }
        if image::model::is_index(&d.media_type) {
            match src.read_index(&d) {
                Ok(ix) if depth < 4 => {
                    for c in image::source::image_entries(&ix) {
                        pending.push((c.clone(), depth + 1));
                    }
                }
                Ok(_) => out.failures.push(IntegrityFailure {
                    what: "index".into(),
                    digest: d.digest.clone(),
                    reason: "nested deeper than 4 levels".into(),
                }),
                Err(e) => fail(&mut out, "index".into(), &d, e),
            }
            continue;
        }
        if !image::model::is_manifest(&d.media_type) {
            continue;
        }
        let what = match &d.platform {
            Some(p) => format!("manifest ({p})"),
            None => "manifest".into(),
        };
        let m = match src.read_manifest(&d) {
            Ok(m) => m,
            Err(e) => {
                fail(&mut out, what, &d, e);
                continue;
            }
        };
        out.manifests += 1;
        match src.read_config(&m.config) {
            Ok(_) => out.configs += 1,
            Err(e) => fail(&mut out, format!("config of {}", d.digest), &m.config, e),
        }
        if skip_blobs {
            continue;
        }
        for (i, l) in m.layers.iter().enumerate() {
            if l.is_foreign() {
                out.foreign_layers += 1;
                continue;
            }
            let r = src.open_blob(l).and_then(|mut r| {
                std::io::copy(&mut r, &mut std::io::sink())
                    .map_err(|e| image::Error::from_io(e, format!("reading blob {}", l.digest)))
            });
            match r {
                Ok(n) => {
                    out.layers += 1;
                    out.layer_bytes += n;
                }
                Err(e) => fail(&mut out, format!("layer {i} of {}", d.digest), l, e),
            }
        }
    }
    out.ok = out.failures.is_empty();
    out
}

/// Not selected rather than failed: an attestation of another type than `--type`.
fn selected(c: &Check) -> bool {
    !matches!(&c.result, Err(f) if f.code() == "predicate_type_mismatch")
}

/// The verdict of one subject under the rule: `any` at least one verified; `all` also
/// none (selected) FAILED.
fn subject_ok(s: &SubjectReport, opts: &VerifyOptions<'_>, any: bool) -> bool {
    let group = |checks: &[Check]| {
        checks.iter().any(Check::is_verified)
            && (any
                || checks
                    .iter()
                    .filter(|c| selected(c))
                    .all(Check::is_verified))
    };
    let sig = !opts.signatures || group(&s.signatures);
    let att = !opts.attestations || s.attestations.as_deref().is_some_and(group);
    sig && att
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct KeyInfo {
    path: PathBuf,
    hint: String,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Report {
    schema_version: &'static str,
    kind: &'static str,
    image: String,
    verified: bool,
    keys: Vec<KeyInfo>,
    #[serde(skip_serializing_if = "Option::is_none")]
    identity: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    trusted_root: Option<PathBuf>,
    #[serde(skip_serializing_if = "Option::is_none")]
    certificate_identity: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    certificate_identity_regexp: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    certificate_oidc_issuer: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    predicate_type: Option<String>,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    insecure_ignore_tlog: bool,
    /// `all` (default: every signature / attestation reported must verify) or `any`.
    rule: &'static str,
    integrity: Integrity,
    #[serde(skip_serializing_if = "Option::is_none")]
    trust_policy: Option<PathBuf>,
    #[serde(skip_serializing_if = "Option::is_none")]
    trust_store: Option<PathBuf>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    notation_warnings: Vec<String>,
    subjects: Vec<SubjectOut>,
}

/// A subject's cosign report with its Notary signatures beside it.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct SubjectOut {
    #[serde(flatten)]
    report: SubjectReport,
    #[serde(skip_serializing_if = "Option::is_none")]
    notation_verified: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    notation: Option<Vec<NotaryCheck>>,
}

pub fn run(args: Args, g: &Global) -> anyhow::Result<Outcome> {
    let keys = super::verify_bundle::load_public_keys(&args.key)?;
    let keyless = args.keyless.load(!keys.is_empty())?;
    let platform: Option<PlatformSelector> =
        args.platform.as_deref().map(str::parse).transpose()?;
    let r: ImageRef = args.image.parse()?;
    if matches!(r, ImageRef::Archive { .. }) && args.attestations_dir.is_none() {
        // Not a verdict: an archive has nowhere to keep signatures, so nothing could pass.
        anyhow::bail!(
            "{r}: a docker-archive cannot hold signatures; pass --attestations-dir DIR with the bundles and attestations written for it"
        );
    }
    let store = Store::open(&r, &g.registry.options(g.quiet)?)?;
    let root = store.root().with_context(|| format!("resolving {r}"))?;
    let dir = args.attestations_dir.as_ref().map(AttestationsDir::new);
    if let Some(d) = &dir {
        anyhow::ensure!(
            d.root.is_dir(),
            "--attestations-dir {}: not a directory",
            d.root.display()
        );
    }
    let attestations = args.attestations || args.attestations_only || args.predicate_type.is_some();
    let opts = VerifyOptions {
        keys: &keys,
        keyless: keyless.as_ref(),
        signatures: !args.attestations_only,
        attestations,
        predicate_type: args.predicate_type.as_deref(),
        identity: args.identity.as_deref(),
        dir: dir.as_ref(),
    };
    let notation = if args.notation.enabled() {
        let scope = args.notation.scope(&r);
        Some(args.notation.load(scope.as_deref())?)
    } else {
        None
    };
    if let Some(n) = &notation
        && !g.json
    {
        for w in &n.warnings {
            eprintln!("pause-verify: warning: {w}");
        }
    }
    // Cosign signatures count only when keys or a trusted root were given.
    let cosign_required = !keys.is_empty() || keyless.is_some();
    let mut descriptors = vec![root.descriptor().clone()];
    descriptors.extend(attach::children(
        &store,
        &root,
        platform.as_ref(),
        args.all_platforms,
    )?);
    let mut subjects = Vec::new();
    for d in &descriptors {
        let mut report = store.verify_subject(d, &opts)?;
        report.verified = subject_ok(&report, &opts, args.require_any);
        let checks = match &notation {
            Some(n) => Some(stored::check_subject(
                &store,
                d,
                &n.trust,
                super::notation::now(),
                &super::notation::timestamps(),
            )?),
            None => None,
        };
        if let Some(c) = &checks {
            // The same rule as for cosign's: one verifies, and (rule all) every one does.
            let ok = c.iter().any(NotaryCheck::is_verified)
                && (args.require_any || c.iter().all(NotaryCheck::is_verified));
            report.verified = ok && (!cosign_required || report.verified);
        }
        subjects.push(SubjectOut {
            notation_verified: checks
                .as_ref()
                .map(|c| c.iter().filter(|x| x.is_verified()).count()),
            notation: checks,
            report,
        });
    }
    let integrity = check_integrity(store.source(), &root, args.skip_blobs);
    let rule = if args.require_any { "any" } else { "all" };
    let verified = integrity.ok && subjects.iter().all(|s| s.report.verified);
    if g.json {
        let doc = Report {
            schema_version: "1",
            kind: "verify",
            image: r.to_string(),
            verified,
            keys: args
                .key
                .iter()
                .zip(&keys)
                .map(|(p, k)| KeyInfo {
                    path: p.clone(),
                    hint: k.hint(),
                })
                .collect(),
            identity: args.identity.clone(),
            trusted_root: args.keyless.trusted_root.clone(),
            certificate_identity: args.keyless.certificate_identity.clone(),
            certificate_identity_regexp: args.keyless.certificate_identity_regexp.clone(),
            certificate_oidc_issuer: args.keyless.certificate_oidc_issuer.clone(),
            insecure_ignore_tlog: args.keyless.insecure_ignore_tlog,
            predicate_type: args.predicate_type.clone(),
            rule,
            integrity,
            trust_policy: notation.as_ref().map(|n| n.policy_path.clone()),
            trust_store: notation.as_ref().map(|n| n.store_path.clone()),
            notation_warnings: notation.map(|n| n.warnings).unwrap_or_default(),
            subjects,
        };
        println!("{}", serde_json::to_string_pretty(&doc)?);
    } else if args.tree {
        print!(
            "{}",
            tree(
                &r,
                &root,
                &integrity,
                &subjects,
                &args,
                &opts,
                cosign_required
            )
        );
        println!("{}", if verified { "VERIFIED" } else { "NOT VERIFIED" });
    } else {
        let mut out = String::new();
        let out = &mut out;
        say!(
            out,
            "{}",
            if verified { "VERIFIED" } else { "NOT VERIFIED" }
        );
        print_integrity(out, &integrity);
        for s in &subjects {
            print_subject(out, &s.report, &args, &opts, cosign_required);
            if let Some(n) = &s.notation {
                print_notation(out, n);
            }
        }
        say!(
            out,
            "rule: {}",
            if args.require_any {
                "any (--require-any): at least one signature / attestation per image must verify"
            } else {
                "all: at least one, and every signature / attestation reported, must verify"
            }
        );
        style::print(out, g.style());
    }
    Ok(if verified {
        Outcome::Pass
    } else {
        Outcome::Fail
    })
}

fn print_integrity(out: &mut String, i: &Integrity) {
    for f in &i.failures {
        say!(
            out,
            "FAILED integrity {} {}: {}",
            f.what,
            f.digest,
            f.reason
        );
    }
    for f in &i.missing {
        say!(
            out,
            "absent integrity {} {}: not in this store, nothing to check",
            f.what,
            f.digest
        );
    }
    let layers = if i.blobs_skipped {
        "layers not hashed (--skip-blobs)".to_string()
    } else {
        format!(
            "{} layer(s), {} bytes{}",
            i.layers,
            i.layer_bytes,
            if i.foreign_layers > 0 {
                format!(" ({} foreign layer(s) not fetched)", i.foreign_layers)
            } else {
                String::new()
            }
        )
    };
    say!(
        out,
        "{} integrity: {} manifest(s), {} config(s), {layers} hashed against their digests",
        if i.ok { "ok    " } else { "FAILED" },
        i.manifests,
        i.configs
    );
}

fn print_subject(
    out: &mut String,
    s: &SubjectReport,
    args: &Args,
    opts: &VerifyOptions<'_>,
    cosign: bool,
) {
    match &s.platform {
        Some(p) => say!(out, "{} ({}, {p})", s.digest, s.media_type),
        None => say!(out, "{} ({})", s.digest, s.media_type),
    }
    // Without cosign keys (notation only), absent cosign signatures are not news.
    if opts.signatures && (cosign || !s.signatures.is_empty()) {
        if s.signatures.is_empty() {
            say!(
                out,
                "  FAILED no signatures found (tag sha256-{}.sig, bundle referrers{})",
                s.digest.hex(),
                if opts.dir.is_some() {
                    ", --attestations-dir"
                } else {
                    ""
                }
            );
        }
        print_checks(out, "signature", &s.signatures, args);
        say!(
            out,
            "  {} of {} signatures verified",
            s.signatures_verified,
            s.signatures.len()
        );
    }
    if let Some(atts) = &s.attestations {
        if atts.is_empty() {
            say!(out, "  FAILED no attestations found");
        }
        print_checks(out, "attestation", atts, args);
        say!(
            out,
            "  {} of {} attestations verified{}",
            s.attestations_verified.unwrap_or(0),
            atts.len(),
            args.predicate_type
                .as_deref()
                .map(|t| format!(" (type {t})"))
                .unwrap_or_default()
        );
    }
}

/// Who a verified check was signed by: the keyless identity, or the `--key` file.
fn signer(v: &pause_verify::attest::Verified, args: &Args) -> String {
    match &v.keyless {
        Some(k) => format!("keyless {} from {}", k.identity, k.issuer),
        None => args
            .key
            .get(v.key_index)
            .map(|p| p.display().to_string())
            .unwrap_or_default(),
    }
}

fn print_checks(out: &mut String, what: &str, checks: &[Check], args: &Args) {
    for c in checks {
        match &c.result {
            Ok(v) => {
                let key = signer(v, args);
                let mut extra = String::new();
                if let Some(d) = &v.docker_reference {
                    extra.push_str(&format!(", docker-reference {d}"));
                }
                if let Some(t) = &v.predicate_type {
                    extra.push_str(&format!(", predicate {t}"));
                }
                say!(
                    out,
                    "  ok     {what} {}: {} with {key}{extra}",
                    c.source,
                    v.format
                );
            }
            Err(f) if !selected(c) => {
                say!(out, "  skip   {what} {}: {}: {f}", c.source, f.code())
            }
            Err(f) => say!(out, "  FAILED {what} {}: {}: {f}", c.source, f.code()),
        }
    }
}

fn print_notation(out: &mut String, checks: &[NotaryCheck]) {
    if checks.is_empty() {
        say!(
            out,
            "  FAILED no notation signatures found (referrers of artifactType application/vnd.cncf.notary.signature)"
        );
    }
    for c in checks {
        match &c.result {
            Ok(v) => say!(
                out,
                "  ok     notation {}: {} {} signed by {:?} (trust store {}, policy {} {}{})",
                c.source,
                v.envelope,
                v.algorithm,
                v.signer,
                v.trust_store,
                v.trust_policy,
                v.level,
                v.timestamp
                    .as_deref()
                    .map(|t| format!(", timestamp {t}"))
                    .unwrap_or_default()
            ),
            Err(f) => say!(out, "  FAILED notation {}: {}: {f}", c.source, f.code()),
        }
    }
    say!(
        out,
        "  {} of {} notation signatures verified",
        checks.iter().filter(|c| c.is_verified()).count(),
        checks.len()
    );
}

/// A node of the `--tree` view.
struct Node {
    label: String,
    children: Vec<Node>,
}

impl Node {
    fn leaf(label: String) -> Node {
        Node {
            label,
            children: Vec::new(),
        }
    }
}

fn render_tree(n: &Node, prefix: &str, out: &mut String) {
    for (i, c) in n.children.iter().enumerate() {
        let last = i + 1 == n.children.len();
        out.push_str(prefix);
        out.push_str(if last { "└── " } else { "├── " });
        out.push_str(&c.label);
        out.push('\n');
        let deeper = format!("{prefix}{}", if last { "    " } else { "│   " });
        render_tree(c, &deeper, out);
    }
}

/// Where a check's signature came from, as `cosign tree` names it.
fn kind(source: &str, notation: bool) -> &'static str {
    if source.starts_with("referrer ") {
        if notation {
            "notation signature (referrer)"
        } else {
            "cosign bundle (referrer)"
        }
    } else if source.contains(".sig ") {
        ".sig"
    } else if source.contains(".att ") {
        ".att"
    } else {
        "attestations-dir"
    }
}

fn check_nodes(what: &str, checks: &[Check], args: &Args) -> Vec<Node> {
    checks
        .iter()
        .map(|c| {
            let k = kind(&c.source, false);
            let src = style::shorten_hex_runs(&c.source);
            Node::leaf(match &c.result {
                Ok(v) => {
                    let by = signer(v, args);
                    let pt = v
                        .predicate_type
                        .as_deref()
                        .map(|t| format!(", predicate {t}"))
                        .unwrap_or_default();
                    format!("✓ {k} {what} {src}: {} with {by}{pt}", v.format)
                }
                Err(f) if !selected(c) => {
                    format!("- {k} {what} {src}: not selected: {}: {f}", f.code())
                }
                Err(f) => format!("✗ {k} {what} {src}: {}: {f}", f.code()),
            })
        })
        .collect()
}

fn subject_node(s: &SubjectOut, args: &Args, opts: &VerifyOptions<'_>, cosign: bool) -> Node {
    let r = &s.report;
    let what = if image::model::is_index(&r.media_type) {
        "index"
    } else {
        "manifest"
    };
    let mut n = Node::leaf(format!(
        "{} {what} {}{}",
        if r.verified { "✓" } else { "✗" },
        style::shorten_hex_runs(&r.digest.to_string()),
        r.platform
            .as_deref()
            .map(|p| format!(" ({p})"))
            .unwrap_or_default()
    ));
    if opts.signatures && (cosign || !r.signatures.is_empty()) {
        if r.signatures.is_empty() {
            n.children
                .push(Node::leaf("✗ signatures: none found".to_string()));
        }
        n.children
            .extend(check_nodes("signature", &r.signatures, args));
    }
    if let Some(atts) = &r.attestations {
        if atts.is_empty() {
            n.children
                .push(Node::leaf("✗ attestations: none found".to_string()));
        }
        n.children.extend(check_nodes("attestation", atts, args));
    }
    if let Some(checks) = &s.notation {
        if checks.is_empty() {
            n.children
                .push(Node::leaf("✗ notation signatures: none found".to_string()));
        }
        for c in checks {
            let k = kind(&c.source, true);
            let src = style::shorten_hex_runs(&c.source);
            n.children.push(Node::leaf(match &c.result {
                Ok(v) => format!(
                    "✓ {k} {src}: {} {} signed by {:?} (trust store {}, policy {})",
                    v.envelope, v.algorithm, v.signer, v.trust_store, v.trust_policy
                ),
                Err(f) => format!("✗ {k} {src}: {}: {f}", f.code()),
            }));
        }
    }
    n
}

/// The `--tree` view of what `verify` collected: the same checks, drawn as
/// image → index → platforms → signatures and attestations.
fn tree(
    r: &ImageRef,
    root: &Root,
    integrity: &Integrity,
    subjects: &[SubjectOut],
    args: &Args,
    opts: &VerifyOptions<'_>,
    cosign: bool,
) -> String {
    let mut top = Node::leaf(String::new());
    top.children.push(Node::leaf(format!(
        "{} integrity: {} manifest(s), {} config(s), {} layer(s) hashed{}",
        if integrity.ok { "✓" } else { "✗" },
        integrity.manifests,
        integrity.configs,
        integrity.layers,
        if integrity.blobs_skipped {
            " (--skip-blobs)"
        } else {
            ""
        }
    )));
    for f in &integrity.failures {
        top.children.push(Node::leaf(format!(
            "✗ integrity {} {}: {}",
            f.what,
            style::shorten_hex_runs(&f.digest.to_string()),
            f.reason
        )));
    }
    let mut iter = subjects.iter();
    if let Some(first) = iter.next() {
        let mut root_node = subject_node(first, args, opts, cosign);
        if let Root::Index(ix) = root {
            let mut platforms = Node::leaf("platforms".to_string());
            for s in iter {
                platforms.children.push(subject_node(s, args, opts, cosign));
            }
            let listed = image::source::image_entries(ix).len();
            if platforms.children.is_empty() {
                platforms.label = format!(
                    "platforms: {listed}, not checked (give --all-platforms or --platform)"
                );
            }
            root_node.children.push(platforms);
        }
        top.children.push(root_node);
    }
    let mut out = format!("{r}\n");
    render_tree(&top, "", &mut out);
    out
}
