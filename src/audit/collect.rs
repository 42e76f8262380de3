//! Gathering the facts an audit evaluates: the image's platforms (manifest, config,
//! layers), every signature and attestation stored for each platform manifest and for
//! the index (verified by `attest::attach`), and each platform's rebuild comparison
//! (from `compare`, converted by [`rebuild_facts`]).
//!
//! Reads through the image transports only (an OCI layout or an attestations directory
//! keeps the audit offline). Owns no verification logic of its own.

use super::{
    BaseFact, EditFact, Found, ImageFacts, LayerFact, NoiseFact, PlatformFacts, RebuildFacts,
};
use crate::attest::attach::{AttachError, Store, VerifyOptions};
use crate::attest::storage::AttestationsDir;
use crate::attest::{Check, PublicKey};
use crate::compare::{self, Class, PlatformReport};
use crate::image::{Descriptor, Digest, ImageRef, Root};
use std::collections::BTreeMap;

#[derive(Debug, thiserror::Error)]
pub enum CollectError {
    #[error(transparent)]
    Attach(#[from] AttachError),
    #[error(transparent)]
    Compare(#[from] compare::Error),
}

/// Pull the first `sha256:<64 hex>` out of a check's source (`.sig` layers and referrers
/// name their blob there).
fn digest_in(source: &str) -> Option<Digest> {
    let start = source.find("sha256:")?;
    let hex = source.get(start + 7..start + 7 + 64)?;
    Digest::from_hex(hex).ok()
}

fn founds(subject: &Digest, checks: Vec<Check>, dir: Option<&AttestationsDir>) -> Vec<Found> {
    checks
        .into_iter()
        .map(|check| {
            // Envelopes in the attestations dir are named by file:line; hash the line.
            let digest = digest_in(&check.source).or_else(|| {
                let d = dir?;
                let (_, line) = check.source.rsplit_once(':')?;
                let line: usize = line.parse().ok()?;
                let envs = d.envelopes(subject).ok()?;
                let (_, bytes) = envs.into_iter().find(|(l, _)| *l == line)?;
                Some(Digest::of(&bytes))
            });
            Found {
                subject: subject.clone(),
                digest,
                check,
            }
        })
        .collect()
}

/// Everything stored for one subject (signatures and attestations, all predicate types).
fn stored_for(
    store: &Store,
    subject: &Descriptor,
    inp: &Inputs<'_>,
) -> Result<(Vec<Found>, Vec<Found>), CollectError> {
    let dir = inp.dir;
    let r = store.verify_subject(
        subject,
        &VerifyOptions {
            keys: inp.keys,
            keyless: inp.keyless,
            signatures: true,
            attestations: true,
            predicate_type: None,
            identity: None,
            dir,
        },
    )?;
    Ok((
        founds(&subject.digest, r.signatures, dir),
        founds(&subject.digest, r.attestations.unwrap_or_default(), dir),
    ))
}

/// What the audit needs from outside: a store for the image, keys, an optional
/// attestations directory, and the rebuild comparison of the image (None: not required
/// by the policy; Err: why it could not run).
pub struct Inputs<'a> {
    pub reference: &'a ImageRef,
    pub store: &'a Store,
    pub keys: &'a [PublicKey],
    /// Trust for keyless bundles (policy identities + trusted root), if any.
    pub keyless: Option<&'a crate::attest::keyless::Keyless>,
    pub dir: Option<&'a AttestationsDir>,
    /// The image rebuilt and compared: one report per platform manifest digest.
    pub rebuild: Option<&'a Result<Vec<PlatformReport>, String>>,
}

/// Gather the facts about every Windows platform of the image.
pub fn collect(inp: &Inputs<'_>) -> Result<ImageFacts, CollectError> {
    let src = inp.store.source();
    let root = inp.store.root()?;
    let root_desc = root.descriptor().clone();
    let plats = compare::platforms::windows_platforms(src, None)?;
    let (root_signatures, root_attestations) = match &root {
        Root::Index(_) => stored_for(inp.store, &root_desc, inp)?,
        Root::Manifest(_) => (Vec::new(), Vec::new()),
    };
    let mut platforms = Vec::new();
    for p in plats {
        let (signatures, attestations) = if matches!(root, Root::Manifest(_)) {
            stored_for(inp.store, &root_desc, inp)?
        } else {
            stored_for(inp.store, &p.descriptor, inp)?
        };
        let diff_ids = p.image.config.diff_ids().unwrap_or_default();
        let layers = p
            .image
            .layers()
            .iter()
            .enumerate()
            .map(|(i, l)| (l.digest.clone(), diff_ids.get(i).cloned()))
            .collect();
        let manifest = p.descriptor.digest.clone();
        let rebuild = inp.rebuild.map(|r| match r {
            Err(e) => Err(e.clone()),
            Ok(reports) => reports
                .iter()
                .find(|pr| pr.published_manifest == manifest)
                .map(rebuild_facts)
                .ok_or_else(|| format!("the comparison did not cover {manifest}")),
        });
        platforms.push(PlatformFacts {
            platform: p.platform,
            config: p.image.manifest.config.digest.clone(),
            manifest,
            layers,
            signatures,
            attestations,
            rebuild,
        });
    }
    Ok(ImageFacts {
        reference: inp.reference.to_string(),
        repository: inp.store.default_identity(),
        root: root_desc.digest.clone(),
        root_media_type: root_desc.media_type.clone(),
        root_is_index: matches!(root, Root::Index(_)),
        root_signatures,
        root_attestations,
        platforms,
    })
}

/// What the audit takes from one platform's comparison.
pub fn rebuild_facts(p: &PlatformReport) -> RebuildFacts {
    // `noise` gathers every layer's noise changes.
    let mut rules: BTreeMap<String, (usize, String)> = BTreeMap::new();
    for c in &p.noise {
        if c.class == Class::Noise
            && let Some(r) = &c.rule
        {
            let e = rules
                .entry(r.clone())
                .or_insert_with(|| (0, compare::render_change(c)));
            e.0 += 1;
        }
    }
    let unexplained = p
        .unexplained
        .iter()
        .filter(|c| c.class == Class::Unexplained)
        .count();
    RebuildFacts {
        // Filled by the caller that can open the base (`cli::audit`), when asked.
        base_signatures: None,
        verdict: p.verdict.as_str().to_string(),
        rebuilt_manifest: p.rebuilt_manifest.clone(),
        reasons: p.reasons.clone(),
        base: p.base.as_ref().map(|b| BaseFact {
            source: b.source.clone(),
            reference: b.reference.clone(),
            manifest: b.manifest.clone(),
            ok: b.ok,
            reason: b.reason.clone(),
        }),
        layers: p
            .layers
            .iter()
            .map(|l| LayerFact {
                step: l.step.clone(),
                published: l.published.as_ref().map(|x| x.digest.clone()),
                rebuilt: l.rebuilt.as_ref().map(|x| x.digest.clone()),
                verdict: l.verdict.as_str().to_string(),
                reason: l.reason.clone(),
            })
            .collect(),
        noise_rules: rules
            .into_iter()
            .map(|(rule, (changes, example))| NoiseFact {
                rule,
                changes,
                example,
            })
            .collect(),
        unexplained,
        edits: p
            .recipe_edits
            .iter()
            .map(|e| EditFact {
                edit: match &e.name {
                    Some(n) => format!("{}\\{}:{n} ({})", e.hive, e.path, e.action),
                    None => format!("{}\\{} ({})", e.hive, e.path, e.action),
                },
                status: e.status.clone(),
                actual: e.actual.clone(),
            })
            .collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digest_in_sources() {
        let d = Digest::of(b"x");
        assert_eq!(
            digest_in(&format!("sha256-abc.sig layer 0 ({d})")),
            Some(d.clone())
        );
        assert_eq!(digest_in(&format!("referrer {d}")), Some(d));
        assert_eq!(digest_in("attestations/x.intoto.jsonl:3"), None);
        assert_eq!(digest_in("sha256:short"), None);
    }
}
