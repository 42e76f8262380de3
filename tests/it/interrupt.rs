//! An interrupted run (SIGINT, SIGTERM) removes the temporary names it made and exits 130:
//! no hidden `.pause-verify-*` staging directory or blob temp stays beside the output, and
//! an existing layout it was adding to is left as it was.

use crate::common;

use common::{assert_code, bin, pv};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Hidden names of ours anywhere under `dir`.
fn temporaries(dir: &Path) -> Vec<String> {
    let mut found = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let e = e.unwrap();
            let name = e.file_name().to_string_lossy().into_owned();
            if name.starts_with(".pause-verify") || name.starts_with(".partial-") {
                found.push(e.path().display().to_string());
            }
            if e.file_type().unwrap().is_dir() {
                stack.push(e.path());
            }
        }
    }
    found
}

fn start(args: &[&str]) -> Child {
    Command::new(bin())
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

/// Wait until the child has made a temporary under `dir` (so the signal lands mid-write),
/// then send `sig` and return the exit code and stderr.
fn interrupt_mid_write(mut child: Child, dir: &Path, sig: libc::c_int) -> (Option<i32>, String) {
    let t0 = Instant::now();
    while temporaries(dir).is_empty() {
        assert!(
            child.try_wait().unwrap().is_none(),
            "the command ended before it wrote anything"
        );
        assert!(
            t0.elapsed() < Duration::from_secs(60),
            "no temporary appeared"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    // Let it get into the layer it is writing.
    std::thread::sleep(Duration::from_millis(300));
    assert!(
        child.try_wait().unwrap().is_none(),
        "finished too early to interrupt"
    );
    // SAFETY: kill(2) on our own child's pid.
    assert_eq!(unsafe { libc::kill(child.id() as libc::pid_t, sig) }, 0);
    let out = child.wait_with_output().unwrap();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn sigint_during_a_new_layout_leaves_nothing_behind() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("base");
    let child = start(&[
        "fixture",
        "nanoserver",
        "--size-mb",
        "200",
        "--out",
        &format!("oci:{}", out.display()),
    ]);
    let (code, err) = interrupt_mid_write(child, tmp.path(), libc::SIGINT);
    assert_eq!(code, Some(130), "{err}");
    assert!(err.contains("interrupted"), "{err}");
    assert!(!out.exists(), "no output may appear");
    assert_eq!(temporaries(tmp.path()), Vec::<String>::new(), "{err}");
}

#[test]
fn sigterm_while_adding_to_an_existing_layout_leaves_it_as_it_was() {
    let tmp = tempfile::tempdir().unwrap();
    let layout = tmp.path().join("layout");
    let dest = format!("oci:{}", layout.display());
    assert_code(
        &pv(["fixture", "nanoserver", "--out", &format!("{dest}:small")]),
        0,
    );
    let index = std::fs::read(layout.join("index.json")).unwrap();
    let blobs = std::fs::read_dir(layout.join("blobs/sha256"))
        .unwrap()
        .count();

    let child = start(&[
        "fixture",
        "nanoserver",
        "--size-mb",
        "200",
        "--out",
        &format!("{dest}:big"),
    ]);
    let (code, err) = interrupt_mid_write(child, &layout, libc::SIGTERM);
    assert_eq!(code, Some(130), "{err}");
    assert_eq!(temporaries(&layout), Vec::<String>::new(), "{err}");
    assert_eq!(std::fs::read(layout.join("index.json")).unwrap(), index);
    // Blobs of the interrupted image that landed whole may stay (content-addressed,
    // verified, unreferenced); none may be partial, which inspect --diff-ids proves.
    assert!(
        std::fs::read_dir(layout.join("blobs/sha256"))
            .unwrap()
            .count()
            >= blobs
    );
    assert_code(&pv(["inspect", "--diff-ids", &format!("{dest}:small")]), 0);
}
