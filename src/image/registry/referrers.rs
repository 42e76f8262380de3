//! Referrers (OCI distribution 1.1): artifacts whose manifest names an image as its
//! `subject` (signatures, attestations, sigstore bundles).
//!
//! Listing asks `GET /v2/<name>/referrers/<digest>` first (with `?artifactType=` when
//! filtering); a registry without that API (distribution 2.8 answers 404; nothing else
//! means "no API") is read through the referrers tag schema: the index tagged
//! `sha256-<hex>`. A registry that answers the API must answer an OCI index: anything
//! else (not JSON, not an index, over [`MANIFEST_LIMIT`]) is an error, never "no
//! referrers". Result pages (`Link: <...>; rel="next"`) are followed, up to
//! `MAX_PAGES`, on the same origin only (our token goes with them). The artifact type
//! filter is applied here as well, whether or not the registry says it applied it
//! (`OCI-Filters-Applied: artifactType`): filtering twice is harmless, trusting a
//! registry that claims it filtered is not.
//! Pushing puts the referrer manifest by digest; a registry with the API confirms the
//! subject with an `OCI-Subject` header and nothing more is needed; otherwise the
//! tag-schema index is read, extended (once per digest) and put back.
//!
//! Owns those two paths. Does not own what a referrer holds (see `attest`).
//! Ours rather than oci-client's `pull_referrers` because that reads without a size
//! bound, hides errors as "no referrers", and has no push side.
//! The index and descriptor bytes are `image::referrers`' (one pure implementation);
//! this module only moves them.

use super::{Failure, Inner, MANIFEST_LIMIT, ManifestRef, Registry, RegistryError, RepoRef};
use crate::image::digest::Digest;
use crate::image::model::{Descriptor, media};
use crate::image::referrers::{self as vocab, referrers_tag};
use std::sync::Arc;

pub use crate::image::referrers::ReferrersVia;

pub const INDEX_MEDIA_TYPE: &str = media::OCI_INDEX;
const TAG_SCHEMA_INDEX: &str = "referrers tag schema index";

/// One entry of a referrers index.
pub type ReferrerDescriptor = Descriptor;

fn protocol(repo: &RepoRef, what: &str, detail: String) -> RegistryError {
    RegistryError::Protocol {
        registry: repo.registry.clone(),
        what: what.to_string(),
        detail,
    }
}

fn parse_index(
    bytes: &[u8],
    repo: &RepoRef,
    what: &str,
) -> Result<Vec<ReferrerDescriptor>, RegistryError> {
    vocab::parse_referrers_index(bytes)
        .map_err(|e| protocol(repo, what, format!("not an OCI index: {e}")))
}

impl Registry {
    /// Referrers of `subject` (optionally only those of `artifact_type`).
    pub fn referrers(
        &self,
        repo: &RepoRef,
        subject: &Digest,
        artifact_type: Option<&str>,
    ) -> Result<(Vec<ReferrerDescriptor>, ReferrersVia), RegistryError> {
        let inner = self.inner.clone();
        let (mut list, via) = self
            .rt
            .block_on(inner.referrers_api(repo, subject, artifact_type))?
            .map_or_else(
                || -> Result<_, RegistryError> {
                    Ok((
                        self.tag_schema_entries(repo, subject)?,
                        ReferrersVia::TagSchema,
                    ))
                },
                |l| Ok((l, ReferrersVia::Api)),
            )?;
        vocab::with_artifact_type(&mut list, artifact_type);
        Ok((list, via))
    }

    /// The tag-schema index for `subject` as stored (`None`: no such tag yet).
    fn tag_schema_index(
        &self,
        repo: &RepoRef,
        subject: &Digest,
    ) -> Result<Option<Vec<u8>>, RegistryError> {
        match self.manifest(repo, &ManifestRef::Tag(referrers_tag(subject))) {
            Ok(m) => Ok(Some(m.bytes)),
            Err(RegistryError::NotFound { .. }) => Ok(None),
            Err(e) => Err(e),
        }
    }

    fn tag_schema_entries(
        &self,
        repo: &RepoRef,
        subject: &Digest,
    ) -> Result<Vec<ReferrerDescriptor>, RegistryError> {
        match self.tag_schema_index(repo, subject)? {
            Some(bytes) => parse_index(&bytes, repo, TAG_SCHEMA_INDEX),
            None => Ok(Vec::new()),
        }
    }

    /// Push a referrer manifest (it names its subject in `subject`); its blobs must be
    /// pushed already. Returns its digest and how it is discoverable.
    pub fn push_referrer(
        &self,
        repo: &RepoRef,
        subject: &Digest,
        manifest: &[u8],
        media_type: &str,
    ) -> Result<(Digest, ReferrersVia), RegistryError> {
        let desc = vocab::describe_referrer(manifest, media_type)
            .map_err(|e| protocol(repo, "referrer", e.to_string()))?;
        let inner = self.inner.clone();
        let confirmed = self.rt.block_on(inner.put_manifest(
            repo,
            &ManifestRef::Digest(desc.digest.clone()),
            manifest,
            media_type,
        ))?;
        if confirmed.as_ref() == Some(subject) {
            return Ok((desc.digest, ReferrersVia::Api));
        }
        let existing = self.tag_schema_index(repo, subject)?;
        let listed = match &existing {
            Some(bytes) => parse_index(bytes, repo, TAG_SCHEMA_INDEX)?,
            None => Vec::new(),
        };
        if !listed.iter().any(|e| e.digest == desc.digest) {
            let (_, index) = vocab::referrers_index(existing.as_deref(), &desc)
                .map_err(|e| protocol(repo, TAG_SCHEMA_INDEX, e.to_string()))?;
            self.push_manifest(repo, &index, INDEX_MEDIA_TYPE, &[referrers_tag(subject)])?;
        }
        Ok((desc.digest, ReferrersVia::TagSchema))
    }
}

/// Most result pages we follow (`Link: <...>; rel="next"`) before refusing the list.
const MAX_PAGES: usize = 64;

/// The `rel="next"` target of a `Link` header (RFC 8288), if any.
fn next_link(value: &str) -> Option<&str> {
    value.split(',').find_map(|link| {
        let (target, params) = link.trim().strip_prefix('<')?.split_once('>')?;
        params
            .split(';')
            .filter_map(|p| p.trim().split_once('='))
            .any(|(k, v)| {
                k.trim().eq_ignore_ascii_case("rel")
                    && v.trim().trim_matches('"').split(' ').any(|r| r == "next")
            })
            .then_some(target)
    })
}

impl Inner {
    /// `Ok(None)`: the registry has no referrers API. Follows result pages.
    async fn referrers_api(
        self: Arc<Self>,
        repo: &RepoRef,
        subject: &Digest,
        artifact_type: Option<&str>,
    ) -> Result<Option<Vec<ReferrerDescriptor>>, RegistryError> {
        let what = format!("referrers of {subject}");
        let first = format!("{}/referrers/{subject}", self.base(repo));
        let origin = first.split("/v2/").next().unwrap_or_default().to_string();
        let mut url = first.clone();
        let mut all = Vec::new();
        for page in 0..MAX_PAGES {
            // The next page's link carries its own query.
            let query = if page == 0 { artifact_type } else { None };
            let Some((list, next)) = self
                .retry(repo, &what, || {
                    self.referrers_page(repo, &url, query, &what)
                })
                .await?
            else {
                if page == 0 {
                    return Ok(None);
                }
                return Err(protocol(
                    repo,
                    &what,
                    format!("result page {url} is not found (404)"),
                ));
            };
            all.extend(list);
            let Some(next) = next else {
                return Ok(Some(all));
            };
            // Our token goes with every page: only ever to the registry itself.
            url = if next.starts_with('/') {
                format!("{origin}{next}")
            } else if next.starts_with(&format!("{origin}/")) {
                next
            } else {
                return Err(protocol(
                    repo,
                    &what,
                    format!("the next result page is elsewhere ({next}); not followed"),
                ));
            };
        }
        Err(protocol(
            repo,
            &what,
            format!("more than {MAX_PAGES} result pages; refused"),
        ))
    }

    /// One page of the referrers API and the link to the next; `None` on 404.
    async fn referrers_page(
        &self,
        repo: &RepoRef,
        url: &str,
        artifact_type: Option<&str>,
        what: &str,
    ) -> Result<Option<(Vec<ReferrerDescriptor>, Option<String>)>, Failure> {
        let mut req = self
            .http
            .get(url)
            .header(reqwest::header::ACCEPT, INDEX_MEDIA_TYPE);
        if let Some(t) = artifact_type {
            req = req.query(&[("artifactType", t)]);
        }
        let authz = self.authorization(repo, false).await?;
        if let Some(a) = &authz {
            req = req.header(reqwest::header::AUTHORIZATION, a);
        }
        let res = req.send().await.map_err(|e| super::classify_reqwest(&e))?;
        let status = res.status();
        if status.as_u16() == 404 {
            return Ok(None);
        }
        if !status.is_success() {
            return Err(self.refusal(repo, what, res, authz.as_deref()).await);
        }
        let next = res
            .headers()
            .get(reqwest::header::LINK)
            .and_then(|v| v.to_str().ok())
            .and_then(next_link)
            .map(str::to_string);
        let body = match super::read_bounded(res, MANIFEST_LIMIT).await {
            Ok(b) => b,
            Err(super::ReadFail::Net(f)) => return Err(f),
            Err(super::ReadFail::TooLarge) => {
                return Err(Failure::Fatal(RegistryError::TooLarge {
                    registry: repo.registry.clone(),
                    what: what.to_string(),
                    limit: MANIFEST_LIMIT,
                }));
            }
        };
        // The body decides, not `Content-Type`: a registry that labels a valid index
        // wrongly still answered; one that answers anything else is broken.
        let list = vocab::parse_referrers_index(&body).map_err(|e| {
            Failure::Fatal(protocol(
                repo,
                what,
                format!("the referrers API answered {status} with something that is not an OCI image index: {e}"),
            ))
        })?;
        Ok(Some((list, next)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_next_page() {
        assert_eq!(
            next_link(r#"</v2/a/referrers/sha256:1?n=1&last=x>; rel="next""#),
            Some("/v2/a/referrers/sha256:1?n=1&last=x")
        );
        assert_eq!(
            next_link(r#"<https://r.example/p1>; rel="prev", <https://r.example/p3>;rel=next"#),
            Some("https://r.example/p3")
        );
        assert_eq!(next_link(r#"</x>; rel="prev""#), None);
        assert_eq!(next_link("garbage"), None);
    }

    #[test]
    fn tag_schema_index_must_be_an_index() {
        let d = Descriptor::of_bytes(media::OCI_MANIFEST, b"{}");
        let (_, idx) = vocab::referrers_index(None, &d).unwrap();
        let back = parse_index(&idx, &RepoRef::new("r", "x"), "t").unwrap();
        assert_eq!(back, vec![d]);
        assert!(parse_index(b"[]", &RepoRef::new("r", "x"), "t").is_err());
    }
}
