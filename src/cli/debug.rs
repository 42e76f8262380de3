//! `pause-verify debug ...`: hidden plumbing commands that expose the format modules to
//! integration tests and to people poking at layers. Not part of the CLI contract.

use super::{Global, Outcome};
use anyhow::Context as _;
use base64::Engine as _;
use pause_verify::wclayer::{self, Entry, LayerItem, PaxTime, reader::EntryType};
use std::io::Write as _;
use std::path::PathBuf;

#[derive(clap::Args, Debug)]
pub struct Args {
    #[command(subcommand)]
    pub cmd: Cmd,
}

#[derive(clap::Subcommand, Debug)]
pub enum Cmd {
    /// Write a Windows layer tar from a JSON entry list (see `WriteSpec`).
    WclayerWrite {
        /// JSON file: [{"path","kind":"dir|file|whiteout|hardlink|symlink","data","data_b64","time","nanos","attrs","sd_b64","target","no_times"}]
        #[arg(long)]
        spec: PathBuf,
        #[arg(long)]
        out: PathBuf,
    },
    /// List a (decompressed) Windows layer tar as JSON; optionally extract named files.
    WclayerList {
        file: PathBuf,
        /// Path of a file to extract (its sha256 and size are reported).
        #[arg(long)]
        extract: Vec<String>,
    },
    /// Decode a base64 self-relative security descriptor to SDDL.
    Sddl { b64: String },
    /// Parse a recipe (folder, Dockerfile or .toml; the built-in one without PATH) and
    /// print it as JSON.
    Recipe {
        path: Option<PathBuf>,
        /// KEY=VALUE, as docker build --build-arg.
        #[arg(long = "build-arg")]
        build_arg: Vec<String>,
    },
}

#[derive(serde::Deserialize)]
struct SpecEntry {
    path: String,
    kind: String,
    #[serde(default)]
    data: Option<String>,
    #[serde(default)]
    data_b64: Option<String>,
    #[serde(default)]
    time: i64,
    #[serde(default)]
    nanos: u32,
    #[serde(default)]
    attrs: Option<u32>,
    #[serde(default)]
    sd_b64: Option<String>,
    #[serde(default)]
    target: Option<String>,
}

pub fn run(args: Args, _g: &Global) -> anyhow::Result<Outcome> {
    let b64 = base64::engine::general_purpose::STANDARD;
    match args.cmd {
        Cmd::WclayerWrite { spec, out } => {
            let text = std::fs::read_to_string(&spec)
                .with_context(|| format!("reading {}", spec.display()))?;
            let specs: Vec<SpecEntry> = serde_json::from_str(&text)
                .with_context(|| format!("parsing {}", spec.display()))?;
            let mut items = Vec::new();
            for s in specs {
                let t = PaxTime {
                    secs: s.time,
                    nanos: s.nanos,
                };
                let data = match (s.data, s.data_b64) {
                    (Some(d), _) => d.into_bytes(),
                    (None, Some(x)) => b64.decode(x)?,
                    _ => Vec::new(),
                };
                let target = s.target.unwrap_or_default();
                let mut e = match s.kind.as_str() {
                    "dir" => Entry::dir(&s.path, t),
                    "file" => Entry::file(&s.path, data.len() as u64, t),
                    "whiteout" => Entry::whiteout(&s.path),
                    "hardlink" => Entry::hard_link(&s.path, &target, t),
                    "symlink" => Entry::symlink(&s.path, &target, t),
                    k => anyhow::bail!("unknown entry kind {k:?}"),
                };
                if let Some(a) = s.attrs {
                    e.file_attributes = Some(a);
                }
                if let Some(sd) = s.sd_b64 {
                    e.raw_sd = Some(b64.decode(sd)?);
                }
                items.push(if s.kind == "file" {
                    LayerItem::file(e, data)
                } else {
                    LayerItem::dir(e)
                });
            }
            pause_verify::atomic::write_with(&out, |f| {
                wclayer::write_layer(std::io::BufWriter::new(f), items)
                    .map_err(std::io::Error::other)?
                    .flush()
            })
            .with_context(|| format!("writing {}", out.display()))?;
            Ok(Outcome::Pass)
        }
        Cmd::WclayerList { file, extract } => {
            let f = std::fs::File::open(&file)
                .with_context(|| format!("opening {}", file.display()))?;
            let mut r = wclayer::LayerReader::new(std::io::BufReader::new(f));
            let mut summary = wclayer::LayerSummary::default();
            let mut entries = Vec::new();
            let mut extracted = serde_json::Map::new();
            while let Some(mut e) = r.next_entry()? {
                summary.observe(&e.info);
                let ty = match &e.kind {
                    EntryType::Dir => "dir".to_string(),
                    EntryType::File => "file".to_string(),
                    EntryType::Whiteout => "whiteout".to_string(),
                    EntryType::HardLink { .. } => "hardlink".to_string(),
                    EntryType::Symlink { .. } => "symlink".to_string(),
                    EntryType::Other(t) => format!("other({t})"),
                };
                let sddl = e
                    .raw_sd
                    .as_ref()
                    .map(|sd| wclayer::sddl::to_sddl(sd).unwrap_or_else(|x| x.to_string()));
                let mut content = serde_json::Value::Null;
                if e.kind == EntryType::File
                    && extract.iter().any(|x| x.eq_ignore_ascii_case(&e.path))
                {
                    let data = e.read_to_vec(1 << 30)?;
                    content = serde_json::json!({
                        "sha256": pause_verify::image::digest::Digest::of(&data).to_string(),
                        "size": data.len(),
                    });
                    extracted.insert(e.path.clone(), content.clone());
                }
                entries.push(serde_json::json!({
                    "path": e.path,
                    "type": ty,
                    "typeflag": (e.typeflag as char).to_string(),
                    "size": e.size,
                    "mode": format!("{:o}", e.mode),
                    "uid": e.uid, "gid": e.gid, "uname": e.uname, "gname": e.gname,
                    "mtime": e.mtime.to_pax_string(),
                    "pax": e.pax,
                    "fileattr": e.file_attributes,
                    "rawsd": e.raw_sd.as_ref().map(|s| b64.encode(s)),
                    "sddl": sddl,
                    "creationtime": e.creation_time.map(|t| t.to_pax_string()),
                    "mountpoint": e.mountpoint,
                    "whiteout_target": e.whiteout_target(),
                    "header_offset": e.header_offset,
                    "content": content,
                }));
            }
            let doc = serde_json::json!({
                "schemaVersion": "1",
                "kind": "debug-wclayer-list",
                "layerKind": summary.kind(),
                "summary": summary,
                "entries": entries,
                "extracted": extracted,
            });
            out(&serde_json::to_string_pretty(&doc)?);
            Ok(Outcome::Pass)
        }
        Cmd::Recipe { path, build_arg } => {
            let mut args = std::collections::BTreeMap::new();
            for a in build_arg {
                let (k, v) = match a.split_once('=') {
                    Some((k, v)) => (k.to_string(), v.to_string()),
                    // docker: `--build-arg K` takes K from the environment.
                    None => match std::env::var(&a) {
                        Ok(v) => (a.clone(), v),
                        Err(_) => continue,
                    },
                };
                args.insert(k, v);
            }
            let r = match path {
                Some(p) => pause_verify::recipe::load(&p, &args)?,
                None => pause_verify::recipe::builtin_with_args(&args),
            };
            for w in &r.warnings {
                eprintln!("pause-verify: warning: {w}");
            }
            let doc = serde_json::json!({
                "schemaVersion": "1",
                "kind": "debug-recipe",
                "stepsDigest": r.steps_digest().to_string(),
                "recipe": r,
            });
            out(&serde_json::to_string_pretty(&doc)?);
            Ok(Outcome::Pass)
        }
        Cmd::Sddl { b64: s } => {
            let sd = b64.decode(s.trim()).context("not base64")?;
            out(&wclayer::sddl::to_sddl(&sd)?);
            Ok(Outcome::Pass)
        }
    }
}

/// Print the report; a closed stdout (e.g. `| head`) is not an error worth a panic.
fn out(s: &str) {
    let mut o = std::io::stdout().lock();
    let _ = writeln!(o, "{s}");
}
