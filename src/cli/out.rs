//! Printing that survives a closed terminal or pipe (`hetsim run … | head -1`): a write that
//! fails is dropped instead of panicking, so the run goes on and its files stay whole.
//!
//! Results go to stdout (`say`, `sayln!`); everything about getting them — progress, notes,
//! warnings, errors — to stderr, so that `hetsim … > file` keeps only the results. `--quiet`
//! silences notes and progress (`noteln!`), `--verbose` adds details (`detailln!`); warnings
//! and errors (`tellln!`) are always printed.

use std::io::Write;
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

/// Writes `text` to stdout, ignoring a closed pipe.
pub fn say(text: &str) {
    let mut out = std::io::stdout().lock();
    let _ = out.write_all(text.as_bytes());
    let _ = out.flush();
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
