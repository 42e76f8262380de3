//! `pause-verify sign --key cosign.key IMAGE`: sign the image's manifest digest (as
//! resolved now) the way `cosign sign --key` does, and store the signature with the image
//! (`sha256-<hex>.sig`), as a Sigstore bundle referrer (`--bundle`) and/or in an
//! attestations directory (`--attestations-dir`). Layout conventions: docs/signing.md.

use super::{Global, Outcome};
use anyhow::{Context, bail};
use pause_verify::attest::attach::{self, Attached, Store};
use pause_verify::attest::{PrivateKey, bundle, simplesigning, storage};
use pause_verify::image::{Descriptor, ImageRef};
use serde::Serialize;
use std::io::IsTerminal;
use std::path::{Path, PathBuf};

#[derive(clap::Args, Debug)]
pub struct Args {
    /// The cosign private key (ENCRYPTED SIGSTORE/COSIGN PRIVATE KEY); password from COSIGN_PASSWORD or a prompt.
    #[arg(long, value_name = "FILE")]
    pub key: PathBuf,
    /// The image: oci:DIR[:TAG|@DIGEST] or docker://HOST/REPO[:TAG|@DIGEST]. A tag is resolved to its digest, which is what gets signed.
    pub image: String,
    /// The docker-reference to put in the signed payload (default: HOST/REPO for a registry, oci:DIR for a layout), like cosign's --sign-container-identity.
    #[arg(long, value_name = "REPO")]
    pub identity: Option<String>,
    /// Also store the signature as a Sigstore bundle v0.3 (OCI 1.1 referrer), as cosign v3 does.
    #[arg(long)]
    pub bundle: bool,
    /// Also write the signature as a bundle to DIR/<digest-hex>.sigstore.json (air-gapped use).
    #[arg(long, value_name = "DIR")]
    pub attestations_dir: Option<PathBuf>,
    /// Store nothing with the image (only --attestations-dir).
    #[arg(long, requires = "attestations_dir")]
    pub no_attach: bool,
    /// On a manifest list, also sign every platform's image (as cosign sign --recursive).
    #[arg(long)]
    pub recursive: bool,
}

/// Read and decrypt a cosign private key: `COSIGN_PASSWORD` (may be empty), else a
/// prompt on a terminal, else an error (never block on a pipe).
pub(super) fn load_private_key(path: &Path) -> anyhow::Result<PrivateKey> {
    let pem = pause_verify::limits::read_capped(path, &pause_verify::limits::KEY)
        .with_context(|| format!("reading key {}", path.display()))?;
    let password = match std::env::var("COSIGN_PASSWORD") {
        Ok(p) => p,
        Err(_) if std::io::stdin().is_terminal() => {
            rpassword::prompt_password(format!("Enter password for {}: ", path.display()))
                .context("reading the password from the terminal")?
        }
        Err(_) => bail!(
            "no password for {}: set COSIGN_PASSWORD (it may be empty) or run on a terminal to be asked",
            path.display()
        ),
    };
    PrivateKey::from_encrypted_pem(&pem, password.as_bytes())
        .with_context(|| format!("loading key {}", path.display()))
}

/// What `sign` and `attest` both start from: the resolved image, its store and the key.
pub(super) struct Target {
    pub r: ImageRef,
    pub store: Store,
    pub subject: Descriptor,
    pub key: PrivateKey,
}

/// Resolve the image (exits 2 when it cannot be), refuse a store that cannot hold what
/// we would attach (`docker_archive_hint` says what to do instead), then load the key —
/// in that order so a bad image never costs a password prompt.
pub(super) fn open_target(
    image: &str,
    key: &Path,
    no_attach: bool,
    docker_archive_hint: &str,
    g: &Global,
) -> anyhow::Result<Target> {
    let r: ImageRef = image.parse()?;
    let store = Store::open(&r, &g.registry.options(g.quiet)?)?;
    let root = store.root().with_context(|| format!("resolving {r}"))?;
    let subject = root.descriptor().clone();
    // The registry transport reports the resolved digest itself.
    if !g.quiet && !matches!(r, ImageRef::Registry { .. }) {
        eprintln!("pause-verify: {r} resolved to {}", subject.digest);
    }
    if !no_attach && !store.can_attach() {
        bail!("{r}: {docker_archive_hint}");
    }
    let key = load_private_key(key)?;
    Ok(Target {
        r,
        store,
        subject,
        key,
    })
}

/// The human-readable tail both commands print: what was stored with the image, what
/// was written to the attestations directory.
pub(super) fn print_stored(stored: &[Attached], files: &[PathBuf]) {
    for a in stored {
        if a.added == 0 {
            println!("  {}: already there", a.location);
        } else {
            println!("  stored {}", a.location);
        }
    }
    for f in files {
        println!("  wrote {}", f.display());
    }
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Report {
    schema_version: &'static str,
    kind: &'static str,
    image: String,
    digest: String,
    media_type: String,
    docker_reference: String,
    key_hint: String,
    /// With --recursive: the platform images signed besides the root.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    platform_digests: Vec<String>,
    stored: Vec<Attached>,
    files: Vec<PathBuf>,
}

/// An `--attestations-dir` that exists must be a directory. Checked before anything is
/// signed or attached, so a mistaken path does not fail halfway (the image already signed,
/// the directory not written).
pub(super) fn check_attestations_dir(dir: Option<&Path>) -> anyhow::Result<()> {
    if let Some(d) = dir {
        if d.exists() && !d.is_dir() {
            bail!(
                "--attestations-dir {}: exists and is not a directory; give a directory (created if missing)",
                d.display()
            );
        }
    }
    Ok(())
}

pub fn run(args: Args, g: &Global) -> anyhow::Result<Outcome> {
    check_attestations_dir(args.attestations_dir.as_deref())?;
    let Target {
        r,
        mut store,
        subject,
        key,
    } = open_target(
        &args.image,
        &args.key,
        args.no_attach,
        "a docker-archive cannot hold signatures; pass --attestations-dir DIR --no-attach, or copy the image to a layout or registry first",
        g,
    )?;
    let identity = args
        .identity
        .clone()
        .unwrap_or_else(|| store.default_identity());
    let mut subjects = vec![subject.clone()];
    if args.recursive {
        let root = store.root()?;
        subjects.extend(attach::children(&store, &root, None, true)?);
    }
    let mut stored = Vec::new();
    let mut files = Vec::new();
    for subject in &subjects {
        if !args.no_attach {
            let layer = simplesigning::sign(&key, &identity, &subject.digest);
            stored.push(store.attach_layers(storage::sig_tag(&subject.digest), &[layer])?);
        }
        let bundle_json = (args.bundle || args.attestations_dir.is_some()).then(|| {
            bundle::sign_statement_bundle(
                &bundle::image_signature_statement(&identity, &subject.digest),
                &key,
            )
        });
        if let Some(b) = &bundle_json {
            if args.bundle && !args.no_attach {
                stored.push(store.attach_bundle(subject, b)?);
            }
            if let Some(dir) = &args.attestations_dir {
                let d = storage::AttestationsDir::new(dir);
                files.push(d.add_bundle(&subject.digest, b)?);
            }
        }
    }
    if g.json {
        let doc = Report {
            schema_version: "1",
            kind: "sign",
            image: r.to_string(),
            digest: subject.digest.to_string(),
            media_type: subject.media_type.clone(),
            docker_reference: identity,
            key_hint: key.public_key().hint(),
            platform_digests: subjects
                .iter()
                .skip(1)
                .map(|d| d.digest.to_string())
                .collect(),
            stored,
            files,
        };
        println!("{}", serde_json::to_string_pretty(&doc)?);
    } else {
        println!("Signed {r} {} as {identity}", subject.digest);
        for c in subjects.iter().skip(1) {
            println!("  and its platform image {}", c.digest);
        }
        print_stored(&stored, &files);
    }
    Ok(Outcome::Pass)
}
