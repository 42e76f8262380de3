//! Progress is drawn on a terminal only: under a pty (util-linux `script`), pushing an
//! image to a registry draws the one bar style (label `push <digest>`, bytes, rate);
//! with stderr piped, or with -q, nothing is drawn. The fixture generator shows a
//! spinner with bytes while it writes a large layer.

use crate::common;

use common::{assert_code, bin, stderr};
use std::path::Path;
use std::process::Command;

/// Run `args` under a pseudo-terminal; everything the terminal saw.
fn on_tty(script: &Path, cwd: &Path, args: &[&str]) -> String {
    let cmd = std::iter::once(bin().display().to_string())
        .chain(args.iter().map(|a| a.to_string()))
        .map(|a| format!("'{a}'"))
        .collect::<Vec<_>>()
        .join(" ");
    let o = Command::new(script)
        .args(["-qfec", &cmd, "/dev/null"])
        .current_dir(cwd)
        .env("PAUSE_VERIFY_NO_CACHE", "1")
        .env("COLUMNS", "120")
        .output()
        .unwrap();
    assert_code(&o, 0);
    String::from_utf8_lossy(&o.stdout).into_owned()
}

#[test]
fn push_bar_is_styled_on_a_terminal_and_absent_when_piped_or_quiet() {
    let Some(script) = common::need_tool("script") else {
        return;
    };
    let Some(reg) = common::registry() else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    let tty = on_tty(
        &script,
        d,
        &["fixture", "nanoserver", "--out", "ns", "--size-mb", "16"],
    );
    assert!(
        tty.contains("fixture 10.0.") && tty.contains("MiB"),
        "no fixture spinner with bytes: {tty:?}"
    );
    let repo = common::unique("progress", "push");
    let dest = format!("docker://{reg}/{repo}:v1");
    let tty = on_tty(&script, d, &["copy", "oci:ns", &dest]);
    let push = tty
        .split('\r')
        .find(|l| l.contains("push ") && l.contains("/s"))
        .unwrap_or_else(|| panic!("no styled push bar: {tty:?}"));
    assert!(
        push.contains(" [") && push.contains("MiB") && !push.contains('█'),
        "push bar not in the one style: {push:?}"
    );

    // Piped stderr: no bar at all, the same copy to a new repository.
    let dest2 = format!("docker://{reg}/{repo}-piped:v1");
    let o = Command::new(bin())
        .args(["copy", "oci:ns", &dest2])
        .current_dir(d)
        .env("PAUSE_VERIFY_NO_CACHE", "1")
        .output()
        .unwrap();
    assert_code(&o, 0);
    let err = stderr(&o);
    assert!(
        !err.contains("push ") && !err.contains("/s") && !err.contains('\x1b'),
        "{err}"
    );
    // -q on a terminal: no bar either.
    let dest3 = format!("docker://{reg}/{repo}-quiet:v1");
    let tty = on_tty(&script, d, &["copy", "-q", "oci:ns", &dest3]);
    assert!(!tty.contains("push ") && !tty.contains("/s"), "{tty:?}");
}
