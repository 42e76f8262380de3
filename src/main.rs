//! The `pause-verify` binary: parse arguments, call the library, render, pick the exit code.
//!
//! Exit codes: 0 verified / identical / equivalent; 1 a verdict failed; 2 usage error or
//! bad input; 130 interrupted (temporary files removed). Every error that reaches here
//! is printed with its causes and exits 2.

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
    // An interrupted run (Ctrl-C, SIGTERM from a cancelled CI job, SIGHUP) removes the
    // temporary names it made (see `atomic`) and exits 130 like a shell would for SIGINT.
    let _ = ctrlc::set_handler(|| {
        let n = pause_verify::atomic::remove_temporaries();
        eprintln!("pause-verify: interrupted; removed {n} temporary file(s)");
        std::process::exit(130);
    });
    cli::main()
}
