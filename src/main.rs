//! The `pause-verify` binary: parse arguments, call the library, render, pick the exit code.
//!
//! Exit codes: 0 verified / identical / equivalent; 1 a verdict failed; 2 usage error or
//! bad input. Every error that reaches here is printed with its causes and exits 2.

mod cli;

use std::process::ExitCode;

fn main() -> ExitCode {
    // Behave like other Unix filters when stdout closes early (`| head`): end quietly
    // instead of panicking on a failed println!.
    #[cfg(unix)]
    // SAFETY: called first thing in main, before any thread exists; SIG_DFL is always valid.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
    cli::main()
}
