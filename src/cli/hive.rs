//! `pause-verify hive dump FILE` and `pause-verify hive diff A B [--base BASE]`: show a
//! hive (layer semantics and tombstones included) or the changes between two.
//! Hidden: `hive generate --keys N OUT` writes a synthetic hive for benchmarks.

use super::{Global, Outcome};
use anyhow::Context;
use pause_verify::hive::{self, Hive, diff::Data, model};
use serde::Serialize;
use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};

#[derive(clap::Args, Debug)]
pub struct Args {
    #[command(subcommand)]
    pub cmd: Cmd,
    #[command(flatten)]
    pub no_registry: super::registry_flags::NoRegistry,
}

#[derive(clap::Subcommand, Debug)]
pub enum Cmd {
    /// Print every key and value of a hive file, with layer semantics and tombstones.
    #[command(after_help = super::examples::HIVE_DUMP)]
    Dump {
        /// A regf hive file (normal or differencing, e.g. Hives/System_Delta).
        file: PathBuf,
    },
    /// Show what changes from hive A to hive B (exit 1 when they differ).
    #[command(after_help = super::examples::HIVE_DIFF)]
    Diff {
        /// The hive to compare from (a regf file, normal or differencing).
        a: PathBuf,
        /// The hive to compare to (changes go from A to B).
        b: PathBuf,
        /// Apply A and B (differencing hives) to this base hive and diff the effective views.
        #[arg(long)]
        base: Option<PathBuf>,
    },
    /// Write a deterministic synthetic hive with N keys (for benchmarks).
    #[command(hide = true)]
    Generate {
        #[arg(long, default_value_t = 100_000)]
        keys: usize,
        out: PathBuf,
    },
}

fn load(p: &Path) -> anyhow::Result<Hive> {
    let bytes = pause_verify::limits::read_capped(p, &pause_verify::limits::HIVE)
        .with_context(|| format!("cannot read {}", p.display()))?;
    hive::read(&bytes).with_context(|| format!("{} is not a readable hive", p.display()))
}

pub fn run(args: Args, g: &Global) -> anyhow::Result<Outcome> {
    args.no_registry.refuse("hive")?;
    match args.cmd {
        Cmd::Dump { file } => dump(&file, g),
        Cmd::Diff { a, b, base } => diff(&a, &b, base.as_deref(), g),
        Cmd::Generate { keys, out } => {
            let bytes = hive::write(&hive::generate(keys))?;
            pause_verify::atomic::write(&out, &bytes)
                .with_context(|| format!("cannot write {}", out.display()))?;
            if !g.quiet {
                eprintln!(
                    "pause-verify: wrote {} ({} bytes, {keys} keys)",
                    out.display(),
                    bytes.len()
                );
            }
            Ok(Outcome::Pass)
        }
    }
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct JsonValue<'a> {
    name: &'a str,
    #[serde(flatten)]
    data: Data,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct JsonKey<'a> {
    path: &'a str,
    layer: model::Layer,
    layer_byte: String,
    timestamp: u64,
    flags: u16,
    #[serde(skip_serializing_if = "Option::is_none")]
    class: Option<&'a str>,
    values: Vec<JsonValue<'a>>,
}

#[derive(Serialize, Default)]
#[serde(rename_all = "camelCase")]
struct Summary {
    keys: usize,
    values: usize,
    tombstone_keys: usize,
    tombstone_values: usize,
    /// Count of keys per layer byte ("0x80": 514, ...).
    layer_bytes: BTreeMap<String, usize>,
}

fn summarize(c: &hive::stream::Counts) -> Summary {
    Summary {
        keys: c.keys,
        values: c.values,
        tombstone_keys: c.tombstone_keys,
        tombstone_values: c.tombstone_values,
        layer_bytes: (0..=255u8)
            .filter(|&b| c.layer_bytes[b as usize] > 0)
            .map(|b| (format!("0x{b:02x}"), c.layer_bytes[b as usize]))
            .collect(),
    }
}

fn layer_text(l: model::Layer) -> String {
    let mut t = l.semantics.as_str().to_string();
    if l.inherit_class {
        t.push_str("+inherit-class");
    }
    t
}

/// Streams: the file's bytes (1×) plus O(depth) walk state and one key's values at a
/// time, never the model (about 3× the file). A first walk checks the whole hive (and
/// counts the summary, which comes first), so bad input fails before any output.
fn dump(file: &Path, g: &Global) -> anyhow::Result<Outcome> {
    let bytes = pause_verify::limits::read_capped(file, &pause_verify::limits::HIVE)
        .with_context(|| format!("cannot read {}", file.display()))?;
    let unreadable = || format!("{} is not a readable hive", file.display());
    let h = hive::stream::open(&bytes).with_context(unreadable)?;
    let summary = summarize(&h.check().with_context(unreadable)?);
    let header = h.header();
    let layered = header.layered();
    let mut keys = h.keys();
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::with_capacity(1 << 16, stdout.lock());
    if g.json {
        // The document `serde_json::to_writer` made of the whole model, written a key at
        // a time: compact JSON, fields in this order.
        out.write_all(br#"{"schemaVersion":"1","kind":"hive-dump","file":"#)?;
        serde_json::to_writer(&mut out, &file.display().to_string())?;
        out.write_all(br#","header":"#)?;
        serde_json::to_writer(&mut out, header)?;
        write!(out, r#","layered":{layered},"summary":"#)?;
        serde_json::to_writer(&mut out, &summary)?;
        out.write_all(br#","keys":["#)?;
        let mut first = true;
        while let Some(k) = keys.next_key().with_context(unreadable)? {
            let values = k.values().collect::<Result<Vec<_>, _>>();
            let values = values.with_context(unreadable)?;
            let key = JsonKey {
                path: k.path,
                layer: k.layer,
                layer_byte: format!("0x{:02x}", k.layer.to_byte()),
                timestamp: k.timestamp,
                flags: k.flags,
                class: k.class,
                values: values
                    .iter()
                    .map(|v| JsonValue {
                        name: &v.name,
                        data: Data::new(v.kind, &v.data, v.tombstone),
                    })
                    .collect(),
            };
            if !first {
                out.write_all(b",")?;
            }
            first = false;
            serde_json::to_writer(&mut out, &key)?;
        }
        out.write_all(b"]}\n")?;
    } else {
        writeln!(
            out,
            "hive {}: regf 1.{}{}, {} keys, {} values, {} tombstone keys, {} tombstone values",
            file.display(),
            header.minor_version,
            if layered {
                ", layered keys (differencing hive)"
            } else {
                ""
            },
            summary.keys,
            summary.values,
            summary.tombstone_keys,
            summary.tombstone_values
        )?;
        while let Some(k) = keys.next_key().with_context(unreadable)? {
            write!(out, "[\\{}]", k.path)?;
            if layered {
                write!(
                    out,
                    " {} (0x{:02x})",
                    layer_text(k.layer),
                    k.layer.to_byte()
                )?;
            }
            write!(out, " ts={}", k.timestamp)?;
            if let Some(c) = k.class {
                write!(out, " class={c:?}")?;
            }
            writeln!(out)?;
            for v in k.values() {
                let v = v.with_context(unreadable)?;
                let name = if v.name.is_empty() {
                    "@".to_string()
                } else {
                    format!("{:?}", v.name)
                };
                if v.tombstone {
                    writeln!(out, "  {name} (deleted: tombstone)")?;
                    continue;
                }
                match model::render_data(v.kind, &v.data) {
                    Some(t) => writeln!(out, "  {name} {} {t}", model::type_name(v.kind))?,
                    None => writeln!(
                        out,
                        "  {name} {} hex:{}",
                        model::type_name(v.kind),
                        hex::encode(&v.data)
                    )?,
                }
            }
        }
    }
    out.flush()?;
    Ok(Outcome::Pass)
}

fn diff(a: &Path, b: &Path, base: Option<&Path>, g: &Global) -> anyhow::Result<Outcome> {
    let (mut ha, mut hb) = (load(a)?, load(b)?);
    if let Some(bp) = base {
        let hbase = load(bp)?;
        if ha.header.layered() {
            ha = hive::merge::apply(&hbase, &ha);
        }
        if hb.header.layered() {
            hb = hive::merge::apply(&hbase, &hb);
        }
    }
    let changes = hive::diff::diff(&ha, &hb);
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    if g.json {
        let doc = serde_json::json!({
            "schemaVersion": "1",
            "kind": "hive-diff",
            "a": a.display().to_string(),
            "b": b.display().to_string(),
            "base": base.map(|p| p.display().to_string()),
            "identical": changes.is_empty(),
            "changes": changes,
        });
        serde_json::to_writer(&mut out, &doc)?;
        writeln!(out)?;
    } else {
        use hive::diff::Change;
        let show = |d: &Data| {
            let body = d.text.clone().unwrap_or_else(|| format!("hex:{}", d.hex));
            if d.tombstone {
                "(tombstone)".to_string()
            } else {
                format!("{} {body}", d.type_name)
            }
        };
        for c in &changes {
            match c {
                Change::KeyAdded { path, layer } => {
                    writeln!(out, "+ [\\{path}] {}", layer_text(*layer))?
                }
                Change::KeyDeleted { path, .. } => writeln!(out, "- [\\{path}]")?,
                Change::KeyLayerChanged {
                    path,
                    before,
                    after,
                } => writeln!(
                    out,
                    "~ [\\{path}] layer {} -> {}",
                    layer_text(*before),
                    layer_text(*after)
                )?,
                Change::ValueAdded { path, name, after } => {
                    writeln!(out, "+ [\\{path}] {name:?} = {}", show(after))?
                }
                Change::ValueDeleted { path, name, before } => {
                    writeln!(out, "- [\\{path}] {name:?} (was {})", show(before))?
                }
                Change::ValueChanged {
                    path,
                    name,
                    before,
                    after,
                } => writeln!(
                    out,
                    "~ [\\{path}] {name:?}: {} -> {}",
                    show(before),
                    show(after)
                )?,
            }
        }
        writeln!(out, "{} change(s)", changes.len())?;
    }
    out.flush()?;
    Ok(if changes.is_empty() {
        Outcome::Pass
    } else {
        Outcome::Fail
    })
}
