//! Content changes of executables, named by PE structure (`crate::pe`): a file whose
//! bytes differ becomes one change per PE part that differs. TimeDateStamp, CheckSum, an
//! appended Authenticode certificate table and the debug directory are noise (rules
//! `pe-timestamp`, `pe-checksum`, `pe-authenticode`, `pe-debug-directory`, in
//! `noise::RULES`); any other part (`.text`, another section, headers, section table,
//! trailing data) stays unexplained. A file that does not parse as PE keeps its content
//! change, with the parse error beside it.

use super::layerdiff::LayerContent;
use super::noise;
use super::report::{Area, Change, ChangeKind, Class};
use crate::pe::{self, PeDifference};

/// The noise rule id for a PE difference, if it is noise.
pub fn rule_for(d: &PeDifference) -> Option<&'static str> {
    match d {
        PeDifference::TimeDateStamp { .. } => Some(noise::PE_TIMESTAMP),
        PeDifference::CheckSum { .. } => Some(noise::PE_CHECKSUM),
        PeDifference::CertificateTable { .. } => Some(noise::PE_AUTHENTICODE),
        PeDifference::DebugDirectory => Some(noise::PE_DEBUG_DIRECTORY),
        _ => None,
    }
}

/// Replace each unexplained content change of an executable both layers hold with its
/// PE differences.
pub fn refine(changes: &mut Vec<Change>, expected: &LayerContent, actual: &LayerContent) {
    let mut out = Vec::with_capacity(changes.len());
    for c in changes.drain(..) {
        let key = c.path.to_ascii_lowercase();
        let pair = (expected.pe.get(&key), actual.pe.get(&key));
        let (Some(e), Some(a)) = pair else {
            out.push(c);
            continue;
        };
        if c.area != Area::File
            || c.change != ChangeKind::Altered
            || c.field.as_deref() != Some("content")
            || c.class != Class::Unexplained
        {
            out.push(c);
            continue;
        }
        match pe::compare(e, a) {
            Ok(diffs) if !diffs.is_empty() => {
                for d in diffs {
                    let (ev, av) = d.values().unzip();
                    out.push(Change {
                        area: Area::File,
                        change: ChangeKind::Altered,
                        path: c.path.clone(),
                        field: Some(format!("pe {}", d.part())),
                        expected: ev,
                        actual: av,
                        class: if rule_for(&d).is_some() {
                            Class::Noise
                        } else {
                            Class::Unexplained
                        },
                        rule: rule_for(&d).map(str::to_string),
                    });
                }
            }
            Ok(_) => out.push(c),
            Err(err) => {
                out.push(Change {
                    actual: Some(format!("{} ({err})", c.actual.clone().unwrap_or_default())),
                    ..c
                });
            }
        }
    }
    *changes = out;
}
