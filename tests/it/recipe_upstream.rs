//! Recipes: the upstream checkout, the built-in default and the TOML form give the same
//! steps; every unsupported or broken input is an error with its line.

use crate::common;

use common::*;
use serde_json::Value;
use std::path::Path;

fn recipe_json(args: &[&str]) -> (Value, std::process::Output) {
    let mut a = vec!["debug", "recipe"];
    a.extend_from_slice(args);
    let o = pv(a);
    (serde_json::from_slice(&o.stdout).unwrap_or(Value::Null), o)
}

fn sha256_file(p: &Path) -> String {
    let o = std::process::Command::new("sha256sum")
        .arg(p)
        .output()
        .unwrap();
    format!(
        "sha256:{}",
        String::from_utf8_lossy(&o.stdout)
            .split(' ')
            .next()
            .unwrap()
    )
}

#[test]
fn upstream_checkout_equals_builtin() {
    let Some(up) = upstream_recipe() else { return };
    let (u, o) = recipe_json(&[up.to_str().unwrap(), "--build-arg", "OSVERSION=ltsc2022"]);
    assert_code(&o, 0);
    let (b, o) = recipe_json(&["--build-arg", "OSVERSION=ltsc2022"]);
    assert_code(&o, 0);
    assert_eq!(u["recipe"]["steps"], b["recipe"]["steps"]);
    assert_eq!(u["stepsDigest"], b["stepsDigest"]);
    assert_eq!(
        u["recipe"]["base"],
        "mcr.microsoft.com/windows/nanoserver:ltsc2022-amd64"
    );
    assert_eq!(u["recipe"]["base"], b["recipe"]["base"]);
    let steps = u["recipe"]["steps"].as_array().unwrap();
    let created: Vec<&str> = steps
        .iter()
        .map(|s| s["created_by"].as_str().unwrap())
        .collect();
    assert_eq!(created.len(), 5);
    assert!(
        created[0].starts_with("cmd /S /C #(nop) COPY dir:")
            && created[0].ends_with(" in \\tools ")
    );
    assert_eq!(
        &created[1..],
        [
            "cmd /S /C #(nop)  USER ContainerAdministrator",
            "cmd /S /C reg import tools\\keylight.reg",
            "cmd /S /C sc.exe delete diagtrack -f",
            "cmd /S /C #(nop)  USER ContainerUser",
        ]
    );
    let lines: Vec<u64> = steps.iter().map(|s| s["line"].as_u64().unwrap()).collect();
    assert_eq!(lines, [4, 5, 6, 8, 9]);
    // The copied file's digest is the upstream file's, computed by sha256sum.
    let reg = sha256_file(&up.join("binaries/keylight.reg"));
    assert_eq!(steps[0]["kind"]["files"][0]["sha256"], reg.as_str());
    assert_eq!(
        steps[0]["kind"]["files"][0]["dest_path"],
        "tools/keylight.reg"
    );
    assert_eq!(steps[2]["kind"]["path_in_image"], "tools/keylight.reg");
    assert_eq!(steps[2]["kind"]["sha256"], reg.as_str());
    assert_eq!(steps[3]["kind"]["service"], "diagtrack");
    // Input files: the Dockerfile and the .reg, with their real digests.
    let files = &u["recipe"]["files"];
    assert_eq!(files[0]["path"], "Dockerfile");
    assert_eq!(
        files[0]["digest"],
        sha256_file(&up.join("Dockerfile")).as_str()
    );
    assert_eq!(files[1]["path"], "binaries/keylight.reg");
    // The built-in .reg is byte-identical to upstream's.
    let ours = Path::new(env!("CARGO_MANIFEST_DIR")).join("assets/keylight.reg");
    assert_eq!(
        std::fs::read(ours).unwrap(),
        std::fs::read(up.join("binaries/keylight.reg")).unwrap()
    );
}

#[test]
fn missing_osversion_warns_and_unused_args_are_reported() {
    let Some(up) = upstream_recipe() else { return };
    let (v, o) = recipe_json(&[up.to_str().unwrap(), "--build-arg", "NOPE=1"]);
    assert_code(&o, 0);
    assert_eq!(
        v["recipe"]["base"],
        "mcr.microsoft.com/windows/nanoserver:-amd64"
    );
    let err = stderr(&o);
    assert!(err.contains("OSVERSION has no value"), "{err}");
    assert!(err.contains("[NOPE] were not consumed"), "{err}");
}

#[test]
fn toml_example_from_the_docs_equals_builtin() {
    let docs =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/recipe.md"))
            .unwrap();
    let toml = docs
        .split("```toml\n")
        .nth(1)
        .unwrap()
        .split("```")
        .next()
        .unwrap();
    let d = tempfile::tempdir().unwrap();
    std::fs::create_dir(d.path().join("binaries")).unwrap();
    std::fs::copy(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("assets/keylight.reg"),
        d.path().join("binaries/keylight.reg"),
    )
    .unwrap();
    let p = d.path().join("pause.toml");
    std::fs::write(&p, toml).unwrap();
    let (t, o) = recipe_json(&[p.to_str().unwrap(), "--build-arg", "OSVERSION=1809"]);
    assert_code(&o, 0);
    let (b, _) = recipe_json(&["--build-arg", "OSVERSION=1809"]);
    let strip = |v: &Value| {
        v["recipe"]["steps"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| (s["created_by"].clone(), s["kind"].clone()))
            .collect::<Vec<_>>()
    };
    assert_eq!(strip(&t), strip(&b));
    assert_eq!(t["stepsDigest"], b["stepsDigest"]);
    assert_eq!(
        t["recipe"]["base"],
        "mcr.microsoft.com/windows/nanoserver:1809-amd64"
    );
    assert_eq!(t["recipe"]["name"], "windows-pause-image-base");
    // Step lines point into the TOML file.
    let first_step_line = toml
        .lines()
        .position(|l| l.starts_with("[[steps]]"))
        .unwrap()
        + 1;
    assert_eq!(t["recipe"]["steps"][0]["line"], first_step_line);
}

/// A file in a test recipe folder: name and content.
type Ctx<'a> = (&'a str, &'a [u8]);

/// Write a recipe folder and return the error text of loading it.
fn fails(dockerfile: &str, files: &[Ctx]) -> String {
    let d = tempfile::tempdir().unwrap();
    std::fs::write(d.path().join("Dockerfile"), dockerfile).unwrap();
    for (name, data) in files {
        let p = d.path().join(name);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, data).unwrap();
    }
    let (_, o) = recipe_json(&[d.path().to_str().unwrap()]);
    assert_code(&o, 2);
    let e = stderr(&o);
    assert!(!e.contains("panicked"), "{e}");
    e
}

#[test]
fn each_error_names_what_and_where() {
    let head = "ARG V=1\nFROM img:${V}\n";
    let cases: &[(&str, &[Ctx], &str)] = &[
        (
            "EXPOSE 80\n",
            &[],
            "Dockerfile:3: instruction EXPOSE is not supported",
        ),
        (
            "RUN powershell -c echo hi\n",
            &[],
            "Dockerfile:3: command \"powershell\" is not supported",
        ),
        (
            "RUN reg import a.reg && echo x\n",
            &[],
            "Dockerfile:3: RUN reg import a.reg && echo x: '&'",
        ),
        (
            "COPY nothere /x\n",
            &[],
            "Dockerfile:3: COPY source \"nothere\" not found",
        ),
        (
            "COPY a.reg /x/\nRUN reg import \\\n  b.reg\n",
            &[("a.reg", b"x")],
            "Dockerfile:4: reg import b.reg: C:\\b.reg was not put into the image",
        ),
        (
            "COPY --chown=x a.reg /x/\n",
            &[("a.reg", b"x")],
            "Dockerfile:3: COPY --chown is not supported",
        ),
        ("COPY ../etc /x\n", &[], "outside the build context"),
        ("COPY *.reg /x/\n", &[], "wildcards are not supported"),
        (
            "ADD a.tar.gz /x/\n",
            &[("a.tar.gz", &[0x1f, 0x8b, 8, 0])],
            "ADD would unpack the archive",
        ),
        ("FROM other\n", &[], "Dockerfile:3: a second FROM"),
        (
            "RUN reg add HKLM\\X /t REG_WHAT /d 1\n",
            &[],
            "Dockerfile:3: reg add: unknown type REG_WHAT",
        ),
        (
            "RUN reg delete Software\\X /f\n",
            &[],
            "does not start with a registry root",
        ),
        ("ENV A \"unclosed\n", &[], "Dockerfile:3: unbalanced quote"),
        (
            "USER ${V:?required}\n",
            &[],
            "Dockerfile:3: unsupported substitution",
        ),
        ("WORKDIR D:\\x\n", &[], "Dockerfile:3:"),
    ];
    for (body, files, needle) in cases {
        let e = fails(&format!("{head}{body}"), files);
        assert!(
            e.contains(needle),
            "for {body:?}: expected {needle:?} in {e}"
        );
    }
    assert!(fails("USER x\nFROM a\n", &[]).contains("Dockerfile:1: USER before FROM"));
    assert!(fails("# escape=x\nFROM a\n", &[]).contains("Dockerfile:1: invalid escape character"));
    assert!(fails("ARG A\n", &[]).contains("has no FROM instruction"));
}

#[test]
fn windows_dockerfile_features() {
    let d = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(d.path().join("ctx/sub")).unwrap();
    std::fs::write(d.path().join("ctx/b.reg"), b"B").unwrap();
    std::fs::write(d.path().join("ctx/a.reg"), b"A").unwrap();
    std::fs::write(d.path().join("ctx/sub/c.txt"), b"C").unwrap();
    std::fs::write(
        d.path().join("Dockerfile"),
        "# escape=`\n\
         FROM base\n\
         ARG TAG=v1\n\
         WORKDIR C:\\work\n\
         COPY [\"ctx\", \"C:/Program Files/x\"]\n\
         ENV KEY=\"a b\" OTHER=$TAG\n\
         LABEL org.example=\"${TAG}-x\"\n\
         RUN reg import `\n\
             \"..\\Program Files\\x\\a.reg\"\n\
         RUN [\"reg\", \"add\", \"HKLM\\\\SOFTWARE\\\\K\", \"/v\", \"N\", \"/t\", \"REG_DWORD\", \"/d\", \"1\", \"/f\"]\n\
         CMD [\"c:\\\\windows\\\\system32\\\\cmd.exe\"]\n",
    )
    .unwrap();
    let (v, o) = recipe_json(&[d.path().to_str().unwrap(), "--build-arg", "TAG=v2"]);
    assert_code(&o, 0);
    let s = &v["recipe"]["steps"];
    assert_eq!(s[0]["created_by"], "cmd /S /C #(nop)  ARG TAG=v1");
    assert_eq!(s[1]["created_by"], "cmd /S /C #(nop) WORKDIR C:\\work");
    assert!(
        s[2]["created_by"]
            .as_str()
            .unwrap()
            .ends_with(" in C:\\Program Files\\x "),
        "{}",
        s[2]["created_by"]
    );
    let dests: Vec<&str> = s[2]["kind"]["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["dest_path"].as_str().unwrap())
        .collect();
    assert_eq!(
        dests,
        [
            "Program Files/x/a.reg",
            "Program Files/x/b.reg",
            "Program Files/x/sub/c.txt"
        ]
    );
    assert_eq!(
        s[2]["kind"]["dirs"],
        serde_json::json!(["Program Files", "Program Files/x", "Program Files/x/sub"])
    );
    assert_eq!(s[3]["created_by"], "cmd /S /C #(nop)  ENV KEY=a b OTHER=v2");
    assert_eq!(
        s[4]["created_by"],
        "cmd /S /C #(nop)  LABEL org.example=v2-x"
    );
    assert_eq!(s[5]["line"], 8);
    assert_eq!(s[5]["kind"]["path_in_image"], "Program Files/x/a.reg");
    assert_eq!(
        s[5]["created_by"],
        "|1 TAG=v2 cmd /S /C reg import \"..\\Program Files\\x\\a.reg\""
    );
    assert_eq!(s[6]["kind"]["op"], "reg-add");
    assert_eq!(s[6]["kind"]["reg_type"], "REG_DWORD");
    assert_eq!(
        s[6]["created_by"],
        "|1 TAG=v2 reg add HKLM\\SOFTWARE\\K /v N /t REG_DWORD /d 1 /f"
    );
    assert_eq!(
        s[7]["created_by"],
        "cmd /S /C #(nop)  CMD [\"c:\\\\windows\\\\system32\\\\cmd.exe\"]"
    );
}

#[test]
fn toml_errors_name_the_step_line() {
    let d = tempfile::tempdir().unwrap();
    let run = |name: &str, text: &str| {
        let p = d.path().join(name);
        std::fs::write(&p, text).unwrap();
        let (_, o) = recipe_json(&[p.to_str().unwrap()]);
        assert_code(&o, 2);
        let e = stderr(&o);
        assert!(!e.contains("panicked"), "{e}");
        e
    };
    let e = run(
        "a.toml",
        "format = 1\nbase = \"b\"\n\n[[steps]]\nuser = \"a\"\n\n[[steps]]\nrun = \"powershell x\"\n",
    );
    assert!(
        e.contains("a.toml:7: command \"powershell\" is not supported"),
        "{e}"
    );
    let e = run(
        "b.toml",
        "format = 1\nbase = \"b\"\n[[steps]]\nfrobnicate = 1\n",
    );
    assert!(
        e.contains("b.toml:") && e.contains("not a valid recipe"),
        "{e}"
    );
    let e = run("c.toml", "format = 2\nbase = \"b\"\n");
    assert!(e.contains("format = 2 is not supported"), "{e}");
    let e = run(
        "d.toml",
        "format = 1\nbase = \"b\"\n[[steps]]\nuser = \"a\"\nsc_delete = \"x\"\n",
    );
    assert!(
        e.contains("d.toml:3: a step holds exactly one operation"),
        "{e}"
    );
    let e = run(
        "e.toml",
        "format = 1\nbase = \"b\"\n[[steps]]\nreg_add = { key = 'HKLM\\SOFTWARE\\K', value = 'N', type = 'REG_DWORD', data = '1' }\n[[steps]]\ncopy = { src = 'missing', dest = '/x' }\n",
    );
    assert!(
        e.contains("e.toml:5: COPY source \"missing\" not found"),
        "{e}"
    );
}
