//! Printing that survives a closed terminal or pipe (`hetsim run … | head -1`): a write that
//! fails is dropped instead of panicking, so the run goes on and its files stay whole.

use std::io::Write;

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

pub(crate) use {sayln, tellln};
