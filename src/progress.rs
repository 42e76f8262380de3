//! Progress bars on stderr: shown only when stderr is a terminal and `--quiet` is off;
//! otherwise hidden (no output at all), so logs and CI output stay clean. Every bar has
//! one look ([`bar_style`]): label, bar, bytes done/total, rate, ETA; work of unknown size
//! gets a spinner with bytes and rate ([`spinner_style`]).

use indicatif::{ProgressBar, ProgressStyle};
use std::io::{IsTerminal, Read, Write};

/// Decides once whether bars are drawn, and makes them.
#[derive(Debug, Clone, Copy)]
pub struct Progress {
    enabled: bool,
}

impl Progress {
    /// Bars drawn when `!quiet` and stderr is a terminal.
    pub fn new(quiet: bool) -> Progress {
        Progress {
            enabled: !quiet && std::io::stderr().is_terminal(),
        }
    }

    /// Never draws.
    pub fn hidden() -> Progress {
        Progress { enabled: false }
    }

    pub fn enabled(&self) -> bool {
        self.enabled
    }

    /// A byte progress bar of `total` bytes labelled `message`.
    pub fn bytes(&self, total: u64, message: &str) -> ProgressBar {
        if !self.enabled {
            return ProgressBar::hidden();
        }
        ProgressBar::new(total)
            .with_style(bar_style())
            .with_message(message.to_string())
    }

    /// A spinner counting bytes of work whose total is not known up front.
    pub fn spinner(&self, message: &str) -> ProgressBar {
        if !self.enabled {
            return ProgressBar::hidden();
        }
        let bar = ProgressBar::new_spinner()
            .with_style(spinner_style())
            .with_message(message.to_string());
        bar.enable_steady_tick(std::time::Duration::from_millis(120));
        bar
    }

    /// Wrap a reader so reading it advances a byte bar.
    pub fn wrap_read<R: Read + Send + 'static>(
        &self,
        r: R,
        total: u64,
        message: &str,
    ) -> Box<dyn Read + Send> {
        if !self.enabled {
            return Box::new(r);
        }
        Box::new(self.bytes(total, message).wrap_read(r))
    }
}

/// The one bar look: label, bar, bytes done/total, rate, ETA.
pub fn bar_style() -> ProgressStyle {
    ProgressStyle::with_template("{msg:24} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec} {eta}")
        .unwrap_or_else(|_| ProgressStyle::default_bar())
        .progress_chars("=> ")
}

/// The spinner look, for a byte count without a total: label, spinner, bytes, rate.
pub fn spinner_style() -> ProgressStyle {
    ProgressStyle::with_template("{msg:24} {spinner} {bytes} {bytes_per_sec} {elapsed}")
        .unwrap_or_else(|_| ProgressStyle::default_spinner())
}

/// A writer that advances `bar` by the bytes written through it, and gives its inner
/// writer back (indicatif's own wrapper does not).
pub struct BarWriter<W> {
    inner: W,
    bar: ProgressBar,
}

impl<W: Write> BarWriter<W> {
    pub fn new(inner: W, bar: ProgressBar) -> BarWriter<W> {
        BarWriter { inner, bar }
    }

    /// The inner writer; the bar is finished and cleared.
    pub fn into_inner(self) -> W {
        self.bar.finish_and_clear();
        self.inner
    }
}

impl<W: Write> Write for BarWriter<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.bar.inc(n as u64);
        Ok(n)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}
