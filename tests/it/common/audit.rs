//! Reading an `audit` run's JSON and JUnit renderings (shared by the audit tests; each
//! keeps its own assertions on the human summary).

use serde_json::Value;

/// (id, platform) of every failing check in an audit JSON document.
pub fn failed_checks(doc: &Value) -> Vec<(String, String)> {
    doc["checks"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["status"] == "FAIL")
        .map(|c| {
            (
                c["id"].as_str().unwrap().to_string(),
                c["platform"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

/// The JUnit report has a failing `check` test case on `platform` (a prefix).
#[track_caller]
pub fn assert_junit_fails(junit: &str, check: &str, platform: &str) {
    // Attribute order is not significant in XML: look for each in the start tag.
    let hit = junit.split("<testcase ").skip(1).any(|case| {
        let tag = &case[..case.find('>').unwrap_or(case.len())];
        tag.contains(&format!(" classname=\"pause-verify.audit.{platform}"))
            && (tag.starts_with(&format!("name=\"{check}"))
                || tag.contains(&format!(" name=\"{check}")))
            && case[..case.find("</testcase>").unwrap_or(case.len())].contains("<failure ")
    });
    assert!(hit, "JUnit: no failing {check} on {platform}\n{junit}");
}

/// Two new encrypted cosign keys in `dir`: `signer.key`/`signer.pub` and
/// `other.key`/`other.pub`; returns the two private key paths.
pub fn signer_and_other_keys(
    dir: &std::path::Path,
    password: &str,
) -> (std::path::PathBuf, std::path::PathBuf) {
    let mut keys = Vec::new();
    for name in ["signer", "other"] {
        let k = pause_verify::attest::PrivateKey::generate().unwrap();
        let path = dir.join(format!("{name}.key"));
        std::fs::write(
            &path,
            k.to_encrypted_pem(password.as_bytes(), 32768).unwrap(),
        )
        .unwrap();
        std::fs::write(dir.join(format!("{name}.pub")), k.public_key().to_pem()).unwrap();
        keys.push(path);
    }
    let other = keys.pop().unwrap();
    (keys.pop().unwrap(), other)
}
