//! Pairing the layers of two images after their base: by history where both histories
//! account for their layers, by position otherwise.
//!
//! The classic Windows builder commits a (tiny) layer for metadata instructions such as
//! `USER`; BuildKit and our builder record them as `empty_layer` history entries. So each
//! image's history after the base becomes a list of [`Step`]s (instruction, text, layer
//! or none); the two lists are aligned on their normalised instruction text (longest
//! common subsequence), and a step with a layer on one side only becomes a one-sided
//! [`Pair`] that the comparer may accept as a metadata layer if the layer is empty.
//!
//! Owns: history normalisation and alignment. Does not own: layer contents or verdicts.

use crate::image::ImageConfig;

/// One history entry after the base.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Step {
    /// Upper-case instruction (`RUN`, `COPY`, `USER`, ...).
    pub instruction: String,
    /// Normalised text (`USER ContainerAdministrator`, `RUN reg import tools\keylight.reg`).
    pub text: String,
    /// Layer index in the manifest, if the step made one.
    pub layer: Option<usize>,
}

/// Instructions that change only the config.
pub const METADATA_INSTRUCTIONS: &[&str] = &[
    "USER",
    "ENV",
    "LABEL",
    "WORKDIR",
    "ENTRYPOINT",
    "CMD",
    "SHELL",
    "EXPOSE",
    "VOLUME",
    "STOPSIGNAL",
    "HEALTHCHECK",
    "ARG",
    "ONBUILD",
    "MAINTAINER",
];

const INSTRUCTIONS: &[&str] = &["RUN", "COPY", "ADD", "FROM"];

/// Normalise a history `created_by` as the classic builder (`cmd /S /C #(nop) USER x`,
/// `cmd /S /C reg import x`), BuildKit (`USER x`, `RUN cmd /S /C x`, `... # buildkit`) or
/// our builder writes it, into (instruction, text).
pub fn normalise(created_by: &str) -> (String, String) {
    let mut s = created_by.trim();
    if let Some(r) = s.strip_suffix("# buildkit") {
        s = r.trim_end();
    }
    for p in ["cmd /S /C ", "/bin/sh -c ", "powershell -Command "] {
        if let Some(r) = s.strip_prefix(p) {
            s = r.trim_start();
        }
    }
    let nop = s.strip_prefix("#(nop) ").map(str::trim_start);
    let explicit = nop.is_some();
    let s = nop.unwrap_or(s);
    let (first, rest) = match s.split_once(char::is_whitespace) {
        Some((f, r)) => (f, r.trim()),
        None => (s, ""),
    };
    let up = first.to_ascii_uppercase();
    let known = METADATA_INSTRUCTIONS.contains(&up.as_str()) || INSTRUCTIONS.contains(&up.as_str());
    if known && (explicit || first.chars().all(|c| c.is_ascii_uppercase())) {
        let mut rest = rest.to_string();
        if up == "RUN" {
            for p in ["cmd /S /C ", "/bin/sh -c ", "powershell -Command "] {
                if let Some(r) = rest.strip_prefix(p) {
                    rest = r.trim_start().to_string();
                }
            }
        }
        let text = if rest.is_empty() {
            up.clone()
        } else {
            format!("{up} {rest}")
        };
        (up, text)
    } else {
        // The classic builder writes a RUN step as the bare command line.
        ("RUN".into(), format!("RUN {s}"))
    }
}

/// The steps after the first `base_layers` layers. `None` when the history does not
/// account for every layer (then pair by position).
pub fn steps(config: &ImageConfig, layers: usize, base_layers: usize) -> Option<Vec<Step>> {
    let hist = config.history();
    let with_layer = hist
        .iter()
        .filter(|h| !h.empty_layer().unwrap_or(false))
        .count();
    if hist.is_empty() || with_layer != layers {
        return None;
    }
    let mut out = Vec::new();
    let mut li = 0usize;
    for h in hist {
        let has_layer = !h.empty_layer().unwrap_or(false);
        let idx = if has_layer {
            li += 1;
            Some(li - 1)
        } else {
            None
        };
        // Everything up to and including the base's last layer belongs to the base.
        if li <= base_layers {
            continue;
        }
        let (instruction, text) = normalise(h.created_by().as_deref().unwrap_or(""));
        out.push(Step {
            instruction,
            text,
            layer: idx,
        });
    }
    Some(out)
}

/// One pairing: layer indexes on each side (`None` = no layer there).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pair {
    /// The normalised step text, when the pairing came from history.
    pub step: Option<String>,
    /// True when the step is a metadata instruction (USER, ENV, ...).
    pub metadata: bool,
    /// Layer index in the reference image (rebuilt / IMAGE_A).
    pub expected: Option<usize>,
    /// Layer index in the image under test (published / IMAGE_B).
    pub actual: Option<usize>,
}

/// Pair the layers after `base_layers` of two images.
pub fn pair(
    expected: Option<&[Step]>,
    expected_layers: usize,
    actual: Option<&[Step]>,
    actual_layers: usize,
    base_layers: usize,
) -> Vec<Pair> {
    match (expected, actual) {
        (Some(e), Some(a)) => by_history(e, a),
        _ => by_position(expected_layers, actual_layers, base_layers),
    }
}

fn by_position(e: usize, a: usize, base: usize) -> Vec<Pair> {
    (base..e.max(a).max(base))
        .map(|i| Pair {
            step: None,
            metadata: false,
            expected: (i < e).then_some(i),
            actual: (i < a).then_some(i),
        })
        .collect()
}

fn by_history(e: &[Step], a: &[Step]) -> Vec<Pair> {
    // LCS on the normalised text; ties broken towards pairing earlier steps.
    let (n, m) = (e.len(), a.len());
    let mut dp = vec![vec![0u32; m + 1]; n + 1];
    for i in (0..n).rev() {
        for j in (0..m).rev() {
            dp[i][j] = if same_step(&e[i], &a[j]) {
                dp[i + 1][j + 1] + 1
            } else {
                dp[i + 1][j].max(dp[i][j + 1])
            };
        }
    }
    let mut out = Vec::new();
    let (mut i, mut j) = (0, 0);
    let mut push = |s: &Step, ex: Option<usize>, ac: Option<usize>| {
        if ex.is_some() || ac.is_some() {
            out.push(Pair {
                step: Some(s.text.clone()),
                metadata: METADATA_INSTRUCTIONS.contains(&s.instruction.as_str()),
                expected: ex,
                actual: ac,
            });
        }
    };
    while i < n || j < m {
        if i < n && j < m && same_step(&e[i], &a[j]) {
            push(&e[i], e[i].layer, a[j].layer);
            i += 1;
            j += 1;
        } else if j >= m || (i < n && dp[i + 1][j] >= dp[i][j + 1]) {
            push(&e[i], e[i].layer, None);
            i += 1;
        } else {
            push(&a[j], None, a[j].layer);
            j += 1;
        }
    }
    // Unpaired layers of the same instruction next to each other: pair them (a RUN whose
    // text differs is still the layer to compare against).
    merge_adjacent(out)
}

fn merge_adjacent(v: Vec<Pair>) -> Vec<Pair> {
    let mut out: Vec<Pair> = Vec::with_capacity(v.len());
    for p in v {
        if let Some(last) = out.last_mut() {
            let one_sided = |q: &Pair| q.expected.is_none() != q.actual.is_none();
            if one_sided(last)
                && one_sided(&p)
                && last.metadata == p.metadata
                && !p.metadata
                && last.expected.is_some() != p.expected.is_some()
            {
                last.expected = last.expected.or(p.expected);
                last.actual = last.actual.or(p.actual);
                if let (Some(a), Some(b)) = (&last.step, &p.step)
                    && a != b
                {
                    last.step = Some(format!("{a} | {b}"));
                }
                continue;
            }
        }
        out.push(p);
    }
    out
}

fn same_step(x: &Step, y: &Step) -> bool {
    if x.instruction != y.instruction {
        return false;
    }
    // COPY texts differ between builders (`COPY dir:<hash> in C:\tools` vs
    // `COPY binaries /tools`): the instruction is enough for them.
    x.instruction == "COPY" || x.instruction == "ADD" || squash(&x.text) == squash(&y.text)
}

fn squash(s: &str) -> String {
    s.split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .to_ascii_lowercase()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalises_builder_dialects() {
        assert_eq!(
            normalise("cmd /S /C #(nop) USER ContainerAdministrator").1,
            "USER ContainerAdministrator"
        );
        assert_eq!(normalise("USER ContainerUser").1, "USER ContainerUser");
        assert_eq!(
            normalise("cmd /S /C reg import tools\\keylight.reg").1,
            "RUN reg import tools\\keylight.reg"
        );
        assert_eq!(
            normalise("RUN cmd /S /C sc.exe delete diagtrack -f # buildkit").1,
            "RUN sc.exe delete diagtrack -f"
        );
        assert_eq!(normalise("COPY binaries /tools # buildkit").0, "COPY");
        assert_eq!(
            normalise("cmd /S /C #(nop) COPY dir:06c6 in C:\\tools ").0,
            "COPY"
        );
        // A lower-case command line is a RUN, not an instruction.
        assert_eq!(normalise("cmd /S /C user add x").0, "RUN");
    }

    fn st(text: &str, layer: Option<usize>) -> Step {
        let (instruction, text) = normalise(text);
        Step {
            instruction,
            text,
            layer,
        }
    }

    #[test]
    fn metadata_layers_pair_one_sided() {
        // Published (classic builder): a layer for each USER.
        let a = vec![
            st("cmd /S /C #(nop) COPY dir:abc in C:\\tools", Some(1)),
            st("cmd /S /C #(nop) USER ContainerAdministrator", Some(2)),
            st("cmd /S /C reg import tools\\keylight.reg", Some(3)),
            st("cmd /S /C sc.exe delete diagtrack -f", Some(4)),
            st("cmd /S /C #(nop) USER ContainerUser", Some(5)),
        ];
        // Rebuilt: USER steps are empty.
        let e = vec![
            st("COPY binaries /tools", Some(1)),
            st("USER ContainerAdministrator", None),
            st("RUN reg import tools\\keylight.reg", Some(2)),
            st("RUN sc.exe delete diagtrack -f", Some(3)),
            st("USER ContainerUser", None),
        ];
        let p = pair(Some(&e), 4, Some(&a), 6, 1);
        let got: Vec<(Option<usize>, Option<usize>, bool)> = p
            .iter()
            .map(|p| (p.expected, p.actual, p.metadata))
            .collect();
        assert_eq!(
            got,
            vec![
                (Some(1), Some(1), false),
                (None, Some(2), true),
                (Some(2), Some(3), false),
                (Some(3), Some(4), false),
                (None, Some(5), true),
            ]
        );
    }

    #[test]
    fn differing_run_texts_still_pair() {
        let e = vec![st("RUN a", Some(1))];
        let a = vec![st("RUN b", Some(1))];
        let p = pair(Some(&e), 2, Some(&a), 2, 1);
        assert_eq!(p.len(), 1);
        assert_eq!((p[0].expected, p[0].actual), (Some(1), Some(1)));
    }

    #[test]
    fn position_fallback() {
        let p = pair(None, 3, None, 4, 1);
        assert_eq!(p.len(), 3);
        assert_eq!((p[2].expected, p[2].actual), (None, Some(3)));
    }
}
