//! The "Examples:" of each command's `--help`. They name the files of the offline demo
//! (scripts/demo.sh): `oci:base` (`fixture nanoserver`), `oci:published` and `oci:rebuilt`
//! (`build` from it), `cosign.key`/`cosign.pub` (`generate-key-pair`), `pins.toml`
//! (`pin oci:base`). tests/it/docs_cli.rs runs every line in such a directory, with
//! `oci:base@sha256:…` standing for the base's digest; a trailing `# exit N` is the
//! expected exit status (else 0). The top-level ones start from an empty directory.

pub const TOP: &str = "\
Examples (the offline round trip, sha256:… the digest `fixture` prints; `pause-verify COMMAND --help` has more):
  pause-verify fixture nanoserver --out oci:base
  pause-verify build --base oci:base@sha256:… --out oci:published
  pause-verify rebuild oci:published --base oci:base@sha256:…";

pub const INSPECT: &str = "\
Examples:
  pause-verify inspect oci:published
  pause-verify inspect --diff-ids --platform windows/amd64:10.0.20348 oci:base";

pub const COPY: &str = "\
Examples:
  pause-verify copy oci:published oci:mirror:3.10
  pause-verify copy oci:published docker-archive:pause.tar:pause:3.10";

pub const HIVE_DUMP: &str = "\
Examples:
  pause-verify hive dump SYSTEM";

pub const HIVE_DIFF: &str = "\
Examples:
  pause-verify hive diff SYSTEM.old SYSTEM  # exit 1: they differ";

pub const GENERATE_KEY_PAIR: &str = "\
Examples:
  pause-verify generate-key-pair --output-key-prefix release";

pub const SIGN: &str = "\
Examples:
  pause-verify sign --key cosign.key oci:published
  pause-verify sign --key cosign.key --no-attach --attestations-dir signatures oci:published";

pub const ATTEST: &str = "\
Examples:
  pause-verify attest --key cosign.key --type https://slsa.dev/provenance/v1 --predicate predicate.json oci:published";

pub const VERIFY: &str = "\
Examples:
  pause-verify verify --key cosign.pub oci:published
  pause-verify verify --key cosign.pub --attestations --type https://slsa.dev/provenance/v1 oci:published";

pub const VERIFY_BUNDLE: &str = "\
Examples:
  pause-verify verify-bundle --key signer.pub --bundle artifact.sigstore.json artifact";

pub const AUDIT: &str = "\
Examples:
  pause-verify audit oci:published --key cosign.pub --base oci:base@sha256:…
  pause-verify audit oci:published --key cosign.pub --base oci:base@sha256:… --junit audit.xml";

pub const LAYOUT: &str = "\
Examples:
  pause-verify layout --key cosign.key --base oci:base@sha256:… --functionary cosign.pub --output-file root.layout";

pub const BUILD: &str = "\
Examples:
  pause-verify build --base oci:base@sha256:… --out oci:out
  pause-verify build --base oci:base@sha256:… --out docker-archive:pause.tar:pause:3.10 --platform windows/amd64";

pub const FIXTURE: &str = "\
Examples:
  pause-verify fixture nanoserver --out oci:nano
  pause-verify fixture nanoserver --out oci:nano2 --os-version 10.0.17763.3887 --os-version 10.0.20348.2849";

pub const REBUILD: &str = "\
Examples:
  pause-verify rebuild oci:published --base oci:base@sha256:…
  pause-verify rebuild oci:published --pins pins.toml --out oci:mine";

pub const DIFF: &str = "\
Examples:
  pause-verify diff oci:published oci:rebuilt
  pause-verify diff --strict oci:published oci:rebuilt";

pub const PIN: &str = "\
Examples:
  pause-verify pin oci:base --name nanoserver";

pub const COMPLETIONS: &str = "\
Examples:
  pause-verify completions bash  # then: source <(pause-verify completions bash)
  pause-verify completions zsh  # save as _pause-verify in a directory of $fpath";

pub const MAN: &str = "\
Examples:
  pause-verify man  # then: pause-verify man > pause-verify.1; man ./pause-verify.1
  pause-verify man rebuild  # pause-verify-rebuild(1), as pause-verify(1) names it";
