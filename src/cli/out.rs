//! Printing that survives a closed terminal or pipe (`hetsim run … | head -1`): a write that
//! fails is dropped instead of panicking, so the run goes on and its files stay whole. A
//! failure other than the reader going away (a full disk behind `> file`, an I/O error) is
//! remembered, and the command then ends with exit code 1 and says so on stderr
//! ([`exit_code_after_stdout`]): the results printed are incomplete.
//!
//! Results go to stdout (`say`, `sayln!`); everything about getting them — progress, notes,
//! warnings, errors — to stderr, so that `hetsim … > file` keeps only the results. `--quiet`
//! silences notes and progress (`noteln!`), `--verbose` adds details (`detailln!`); warnings
//! and errors (`tellln!`) are always printed.

use std::io::Write;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU8, Ordering};

/// How much goes to stderr besides warnings and errors.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Verbosity {
    Quiet = 0,
    Normal = 1,
    Verbose = 2,
}

static VERBOSITY: AtomicU8 = AtomicU8::new(Verbosity::Normal as u8);

/// Set once, from `--quiet` / `--verbose`, before a command runs.
pub fn set_verbosity(v: Verbosity) {
    VERBOSITY.store(v as u8, Ordering::Relaxed);
}

pub fn verbosity() -> Verbosity {
    match VERBOSITY.load(Ordering::Relaxed) {
        0 => Verbosity::Quiet,
        1 => Verbosity::Normal,
        _ => Verbosity::Verbose,
    }
}

/// The first error writing to stdout, other than a closed pipe.
static STDOUT_ERROR: OnceLock<String> = OnceLock::new();

/// Writes `text` to stdout; a closed pipe is ignored, any other failure remembered.
pub fn say(text: &str) {
    let mut out = std::io::stdout().lock();
    let written = out.write_all(text.as_bytes()).and_then(|()| out.flush());
    if let Err(e) = written {
        // The reader went away (`| head -1`): it has what it wanted.
        if e.kind() != std::io::ErrorKind::BrokenPipe {
            let _ = STDOUT_ERROR.set(e.to_string());
        }
    }
}

/// The exit code of a command that returned `code`, once its results had to reach stdout:
/// if writing them failed, 1 (unless the command failed already) with the reason on stderr.
pub fn exit_code_after_stdout(code: i32) -> i32 {
    let Some(error) = STDOUT_ERROR.get() else {
        return code;
    };
    tell(&format!(
        "hetsim: the results could not be written to standard output ({error}); what was printed is incomplete (files the command wrote are not affected)"
    ));
    if code == super::exit::EXIT_OK {
        super::exit::EXIT_FAILED
    } else {
        code
    }
}

/// Writes `text` and a newline to stderr, ignoring a closed pipe.
pub fn tell(text: &str) {
    let mut err = std::io::stderr().lock();
    let _ = err.write_all(text.as_bytes());
    let _ = err.write_all(b"\n");
}

/// `println!` that ignores a closed stdout.
macro_rules! sayln {
    ($($arg:tt)*) => { $crate::cli::out::say(&format!("{}\n", format_args!($($arg)*))) };
}

/// `eprintln!` that ignores a closed stderr.
macro_rules! tellln {
    ($($arg:tt)*) => { $crate::cli::out::tell(&format!($($arg)*)) };
}

/// A note or progress line on stderr; `--quiet` hides it.
macro_rules! noteln {
    ($($arg:tt)*) => {
        if $crate::cli::out::verbosity() >= $crate::cli::out::Verbosity::Normal {
            $crate::cli::out::tell(&format!($($arg)*))
        }
    };
}

/// A detail on stderr, printed only with `--verbose`.
macro_rules! detailln {
    ($($arg:tt)*) => {
        if $crate::cli::out::verbosity() >= $crate::cli::out::Verbosity::Verbose {
            $crate::cli::out::tell(&format!($($arg)*))
        }
    };
}

pub(crate) use {detailln, noteln, sayln, tellln};
