//! Human output, made scannable in one pass over the finished text: full digests shortened
//! (`sha256:` + 12 hex; `--json` keeps them whole), long lines wrapped to the terminal width
//! with indented continuations, verdict words coloured when colour is on. Commands build
//! their report as a `String` and hand it to `print`, so every report gets the same rules.

use std::io::IsTerminal;

/// `--color`: when to colour human output.
#[derive(clap::ValueEnum, Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ColorChoice {
    /// Never emit escape sequences.
    Never,
    /// Colour when stdout is a terminal and NO_COLOR is not set.
    #[default]
    Auto,
    /// Always colour (even piped), NO_COLOR notwithstanding.
    Always,
}

/// `writeln!` into a report `String` (which cannot fail).
macro_rules! say {
    ($out:expr, $($arg:tt)*) => {{
        use std::fmt::Write as _;
        let _ = writeln!($out, $($arg)*);
    }};
}
pub(crate) use say;

/// How the text is laid out for this run.
#[derive(Debug, Clone, Copy)]
pub struct Style {
    pub width: usize,
    pub color: bool,
}

impl Style {
    pub fn detect(choice: ColorChoice) -> Style {
        let tty = std::io::stdout().is_terminal();
        let no_color = std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty());
        Style {
            width: width(tty),
            color: match choice {
                ColorChoice::Never => false,
                ColorChoice::Always => true,
                ColorChoice::Auto => tty && !no_color,
            },
        }
    }
}

/// `COLUMNS` when set, else the terminal's width, else 80 (a pipe, a file).
fn width(tty: bool) -> usize {
    if let Some(n) = std::env::var("COLUMNS")
        .ok()
        .and_then(|c| c.trim().parse::<usize>().ok())
        .filter(|&n| n > 0)
    {
        return n.max(20);
    }
    if tty {
        let mut ws = libc::winsize {
            ws_row: 0,
            ws_col: 0,
            ws_xpixel: 0,
            ws_ypixel: 0,
        };
        // SAFETY: TIOCGWINSZ writes one winsize into the struct we own.
        if unsafe { libc::ioctl(1, libc::TIOCGWINSZ, &mut ws) } == 0 && ws.ws_col > 0 {
            return usize::from(ws.ws_col).max(20);
        }
    }
    80
}

/// Print a finished human report on stdout, styled.
pub fn print(text: &str, style: Style) {
    print!("{}", render(text, style));
}

/// The styled text: digests shortened, lines wrapped, then (width counted without
/// escapes) verdict words coloured.
pub fn render(text: &str, style: Style) -> String {
    let short = shorten_digests(text);
    let mut out = String::with_capacity(short.len());
    for line in short.split_inclusive('\n') {
        let (body, nl) = match line.strip_suffix('\n') {
            Some(b) => (b, "\n"),
            None => (line, ""),
        };
        let wrapped = wrap(body, style.width);
        out.push_str(&if style.color {
            colour(&wrapped)
        } else {
            wrapped
        });
        out.push_str(nl);
    }
    out
}

/// `sha256:` + 64 hex becomes `sha256:` + its first 12 hex; so does a cosign tag's
/// `sha256-` + 64 hex.
pub fn shorten_digests(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(i) = rest.find("sha256") {
        let sep = rest[i + 6..].chars().next();
        let n = if matches!(sep, Some(':' | '-')) { 7 } else { 6 };
        let (head, tail) = rest.split_at(i + n);
        out.push_str(head);
        let hex = tail.bytes().take_while(u8::is_ascii_hexdigit).count();
        if n == 7 && hex == 64 {
            out.push_str(&tail[..12]);
            rest = &tail[64..];
        } else {
            rest = tail;
        }
    }
    out.push_str(rest);
    out
}

/// Every run of exactly 64 hex digits (a sha256 digest, alone or in a tag, step or
/// file name) cut to its first 12: the reports are for reading, the JSON has them whole.
/// Broader than [`shorten_digests`] (which needs the `sha256:`/`sha256-` prefix): the
/// Markdown reports and `verify --tree`.
pub fn shorten_hex_runs(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut run = String::new();
    let flush = |run: &mut String, out: &mut String| {
        out.push_str(if run.len() == 64 { &run[..12] } else { run });
        run.clear();
    };
    for c in s.chars() {
        if c.is_ascii_hexdigit() {
            run.push(c);
        } else {
            flush(&mut run, &mut out);
            out.push(c);
        }
    }
    flush(&mut run, &mut out);
    out
}

/// One digest, short (for code that formats a digest on its own).
pub fn short(d: &impl std::fmt::Display) -> String {
    shorten_digests(&d.to_string())
}

/// Break `line` at spaces so no piece is wider than `width` (a single word longer than
/// the width stays whole); continuations are indented four past the line's own indent.
/// Spacing inside a piece is kept, so aligned columns stay aligned.
pub fn wrap(line: &str, width: usize) -> String {
    if line.chars().count() <= width {
        return line.to_string();
    }
    let indent = line.len() - line.trim_start_matches(' ').len();
    let cont = " ".repeat((indent + 4).min(width / 2));
    let mut out = String::new();
    let mut cur = line[..indent].to_string();
    let mut cur_len = indent;
    let mut first_word = true;
    let mut rest = &line[indent..];
    while !rest.is_empty() {
        // One segment: the spaces before a word, and the word.
        let gap = rest.len() - rest.trim_start_matches(' ').len();
        let after = &rest[gap..];
        let wend = after.find(' ').unwrap_or(after.len());
        let word = &after[..wend];
        rest = &after[wend..];
        if word.is_empty() {
            break;
        }
        let wl = word.chars().count();
        if !first_word && cur_len + gap + wl > width {
            out.push_str(&cur);
            out.push('\n');
            cur = cont.clone();
            cur_len = cont.len();
            first_word = true;
        }
        if !first_word {
            cur.push_str(&" ".repeat(gap));
            cur_len += gap;
        }
        cur.push_str(word);
        cur_len += wl;
        first_word = false;
    }
    out.push_str(&cur);
    out
}

const GREEN: &str = "\x1b[32m";
const RED: &str = "\x1b[31m";
const YELLOW: &str = "\x1b[33m";
const RESET: &str = "\x1b[0m";

/// Verdict words (whole, upper case) in their colour; nothing else.
fn colour(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 16);
    let b = text.as_bytes();
    let mut i = 0;
    while i < b.len() {
        let word_start = i == 0 || !b[i - 1].is_ascii_alphanumeric();
        if word_start && b[i].is_ascii_uppercase() {
            let end = i + b[i..].iter().take_while(|c| c.is_ascii_uppercase()).count();
            let word_end = end == b.len() || !b[end].is_ascii_alphanumeric();
            let word = &text[i..end];
            let not_verified = word == "NOT" && text[end..].starts_with(" VERIFIED") && word_end;
            let code = match word {
                _ if not_verified => Some(RED),
                "PASS" | "IDENTICAL" | "VERIFIED" => Some(GREEN),
                "FAIL" | "FAILED" | "DIFFERENT" | "MISMATCH" => Some(RED),
                "EQUIVALENT" => Some(YELLOW),
                _ => None,
            };
            match code {
                Some(c) if word_end => {
                    let stop = if not_verified {
                        end + " VERIFIED".len()
                    } else {
                        end
                    };
                    out.push_str(c);
                    out.push_str(&text[i..stop]);
                    out.push_str(RESET);
                    i = stop;
                }
                _ => {
                    out.push_str(word);
                    i = end;
                }
            }
            continue;
        }
        let ch = text[i..].chars().next().unwrap_or(' ');
        out.push(ch);
        i += ch.len_utf8();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shortens_only_full_digests() {
        let d = format!("sha256:{}", "a".repeat(64));
        assert_eq!(
            shorten_digests(&format!("x {d} sha256:abc sha256-{}.sig", "b".repeat(64))),
            "x sha256:aaaaaaaaaaaa sha256:abc sha256-bbbbbbbbbbbb.sig"
        );
    }

    #[test]
    fn wraps_with_indent_and_keeps_long_words() {
        let w = wrap("  one two three four five six", 12);
        assert_eq!(
            w,
            "  one two\n      three\n      four\n      five\n      six"
        );
        assert!(w.lines().all(|l| l.len() <= 12));
        assert_eq!(wrap("a    b c", 6), "a    b\n   c");
        assert_eq!(
            wrap("  abcdefghijklmnop x", 16),
            "  abcdefghijklmnop\n      x"
        );
    }

    #[test]
    fn colours_verdict_words_only() {
        assert_eq!(
            colour("PASSING PASS NOT VERIFIED"),
            format!("PASSING {GREEN}PASS{RESET} {RED}NOT VERIFIED{RESET}")
        );
        assert_eq!(colour("VERIFIED"), format!("{GREEN}VERIFIED{RESET}"));
    }
}
