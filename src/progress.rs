//! Progress bars on stderr: shown only when stderr is a terminal and `--quiet` is off;
//! otherwise hidden (no output at all), so logs and CI output stay clean.

use indicatif::{ProgressBar, ProgressStyle};
use std::io::{IsTerminal, Read};

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
        let style = ProgressStyle::with_template(
            "{msg:24} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec} {eta}",
        )
        .unwrap_or_else(|_| ProgressStyle::default_bar())
        .progress_chars("=> ");
        ProgressBar::new(total)
            .with_style(style)
            .with_message(message.to_string())
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
