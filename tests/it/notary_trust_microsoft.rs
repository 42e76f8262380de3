//! The optional Microsoft trust store shipped in trust/notation: it loads as notation
//! requires, the example policy is valid, and each file's fingerprint is the one
//! trust/notation/README.md states.

use pause_verify::notary::trust_policy::PolicyDocument;
use pause_verify::notary::trust_store::{StoreType, TrustStore};
use pause_verify::notary::verify::Trust;
use pause_verify::notary::x509;
use std::path::Path;

fn dir() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("trust/notation")
}

#[test]
fn microsoft_roots_load_with_their_documented_fingerprints() {
    let store = TrustStore::new(&dir().join("truststore"));
    let readme = std::fs::read_to_string(dir().join("README.md")).unwrap();
    for (kind, name, subject, sha256) in [
        (
            StoreType::Ca,
            "microsoft-supplychain-2022",
            "CN=Microsoft Supply Chain RSA Root CA 2022,O=Microsoft Corporation,C=US",
            "23ffe2b8bdb9a1711515d4cffda04bc7f793d513c76c243f1020507d8669b7db",
        ),
        (
            StoreType::Tsa,
            "microsoft-tsa-2010",
            "CN=Microsoft Root Certificate Authority 2010,O=Microsoft Corporation,L=Redmond,ST=Washington,C=US",
            "df545bf919a2439c36983b54cdfc903dfa4f37d3996d8d84b4c31eec6f3c163e",
        ),
    ] {
        let certs = store.load(kind, name).unwrap();
        assert_eq!(certs.len(), 1);
        assert_eq!(x509::subject(&certs[0].cert), subject);
        assert_eq!(x509::thumbprint(&certs[0].cert), sha256);
        assert!(readme.contains(sha256), "README states {sha256}");
        // A root: self-issued and self-signed (RSA-4096, PKCS#1 v1.5).
        x509::root_ok(&certs[0].cert).unwrap();
    }
    let doc = PolicyDocument::load(&dir().join("trustpolicy.json")).unwrap();
    let st = doc
        .statement_for(Some("mcr.microsoft.com/windows/nanoserver"))
        .unwrap();
    assert_eq!(st.name, "mcr-windows-nanoserver");
    assert!(
        doc.statement_for(Some("docker.io/library/alpine"))
            .is_none()
    );
    let t = Trust::load(st, &store).unwrap();
    assert_eq!((t.ca.len(), t.tsa.len()), (1, 1));
}
