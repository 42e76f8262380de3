//! `pause-verify attest --key cosign.key --predicate FILE --type URI IMAGE`: wrap the
//! predicate in an in-toto Statement v1 about the image's manifest digest, sign it as a
//! DSSE envelope and store it as cosign does (`sha256-<hex>.att`), as a Sigstore bundle
//! referrer (`--bundle`) and/or in an attestations directory (`--attestations-dir`).

use super::sign::{Target, open_target, print_stored};
use super::{Global, Outcome};
use anyhow::{Context, bail};
use pause_verify::attest::attach::Attached;
use pause_verify::attest::statement::{ResourceDescriptor, Statement};
use pause_verify::attest::{bundle, dsse, storage};
use serde::Serialize;
use std::path::PathBuf;

#[derive(clap::Args, Debug)]
pub struct Args {
    /// The cosign private key; password from COSIGN_PASSWORD or a prompt.
    #[arg(long, value_name = "FILE")]
    pub key: PathBuf,
    /// The predicate: a JSON object (e.g. a SLSA provenance predicate).
    #[arg(long, value_name = "FILE")]
    pub predicate: PathBuf,
    /// The predicate type URI (e.g. https://slsa.dev/provenance/v1).
    #[arg(long = "type", value_name = "URI")]
    pub predicate_type: String,
    /// The image: oci:DIR[:TAG|@DIGEST] or docker://HOST/REPO[:TAG|@DIGEST]; its manifest digest is the subject.
    pub image: String,
    /// The statement's subject name (default: HOST/REPO for a registry, oci:DIR for a layout).
    #[arg(long, value_name = "NAME")]
    pub subject_name: Option<String>,
    /// Also store the attestation as a Sigstore bundle v0.3 (OCI 1.1 referrer).
    #[arg(long)]
    pub bundle: bool,
    /// Also append the envelope to DIR/<digest-hex>.intoto.jsonl (and, with --bundle, the bundle to DIR/<digest-hex>.sigstore.json).
    #[arg(long, value_name = "DIR")]
    pub attestations_dir: Option<PathBuf>,
    /// Store nothing with the image (only --attestations-dir).
    #[arg(long, requires = "attestations_dir")]
    pub no_attach: bool,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Report {
    schema_version: &'static str,
    kind: &'static str,
    image: String,
    digest: String,
    predicate_type: String,
    key_hint: String,
    stored: Vec<Attached>,
    files: Vec<PathBuf>,
}

pub fn run(args: Args, g: &Global) -> anyhow::Result<Outcome> {
    super::sign::check_attestations_dir(args.attestations_dir.as_deref())?;
    let t = &args.predicate_type;
    let scheme_ok = t.split_once(':').is_some_and(|(scheme, rest)| {
        !scheme.is_empty()
            && scheme
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "+-.".contains(c))
            && !rest.trim_start_matches('/').is_empty()
    });
    if !scheme_ok || t.contains(char::is_whitespace) {
        bail!(
            "--type {:?} is not a URI (e.g. https://slsa.dev/provenance/v1)",
            args.predicate_type
        );
    }
    let raw = pause_verify::limits::read_capped(&args.predicate, &pause_verify::limits::PREDICATE)
        .with_context(|| format!("reading predicate {}", args.predicate.display()))?;
    let predicate: serde_json::Value = serde_json::from_slice(&raw)
        .with_context(|| format!("predicate {} is not JSON", args.predicate.display()))?;
    if !predicate.is_object() {
        bail!(
            "predicate {} must be a JSON object",
            args.predicate.display()
        );
    }
    let Target {
        r,
        mut store,
        subject,
        key,
    } = open_target(
        &args.image,
        &args.key,
        args.no_attach,
        "a docker-archive cannot hold attestations; pass --attestations-dir DIR --no-attach",
        g,
    )?;
    let name = args
        .subject_name
        .clone()
        .unwrap_or_else(|| store.default_identity());
    let statement = Statement::new(
        vec![ResourceDescriptor::named(name, &subject.digest)],
        &args.predicate_type,
        predicate,
    );
    let envelope = dsse::sign_statement(&statement, &key).to_json();
    let bundle_json = args
        .bundle
        .then(|| bundle::sign_statement_bundle(&statement, &key));
    let mut stored = Vec::new();
    let mut files = Vec::new();
    if !args.no_attach {
        let layer = storage::attestation_layer(&envelope, &args.predicate_type);
        stored.push(store.attach_layers(storage::att_tag(&subject.digest), &[layer])?);
        if let Some(b) = &bundle_json {
            stored.push(store.attach_bundle(&subject, b)?);
        }
    }
    if let Some(dir) = &args.attestations_dir {
        let d = storage::AttestationsDir::new(dir);
        d.add_envelope(&subject.digest, &envelope)?;
        files.push(d.envelopes_path(&subject.digest));
        if let Some(b) = &bundle_json {
            files.push(d.add_bundle(&subject.digest, b)?);
        }
    }
    if g.json {
        let doc = Report {
            schema_version: "1",
            kind: "attest",
            image: r.to_string(),
            digest: subject.digest.to_string(),
            predicate_type: args.predicate_type.clone(),
            key_hint: key.public_key().hint(),
            stored,
            files,
        };
        println!("{}", serde_json::to_string_pretty(&doc)?);
    } else {
        println!("Attested {r} {} ({})", subject.digest, args.predicate_type);
        print_stored(&stored, &files);
    }
    Ok(Outcome::Pass)
}
