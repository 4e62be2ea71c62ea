//! What each subcommand does, from parsed arguments to an exit code.

use super::{Cli, Command};
use crate::circuit;
use crate::spec;
use std::path::Path;

pub const EXIT_OK: i32 = 0;
pub const EXIT_FAILED: i32 = 1;
pub const EXIT_BAD_INPUT: i32 = 2;

pub fn dispatch(cli: Cli) -> i32 {
    match cli.command {
        Command::Validate { circuit } => validate(&circuit),
        Command::Expand { circuit, dot } => expand(&circuit, dot),
        Command::Sweep { .. } => not_yet("sweep"),
        Command::Evolve { .. } => not_yet("evolve"),
        _ => not_yet("this command"),
    }
}

fn not_yet(what: &str) -> i32 {
    eprintln!("hetsim: {what} is not implemented yet");
    EXIT_FAILED
}

fn print_warnings(c: &circuit::Circuit) {
    for w in &c.warnings {
        eprintln!("warning: {w}");
    }
}

fn validate(path: &Path) -> i32 {
    match circuit::load(path) {
        Ok((_, c)) => {
            print_warnings(&c);
            println!("{}: ok — {}", path.display(), c.summary());
            EXIT_OK
        }
        Err(diagnostics) => {
            eprintln!("{diagnostics}");
            eprintln!("{}: {} error(s)", path.display(), diagnostics.0.len());
            EXIT_BAD_INPUT
        }
    }
}

fn expand(path: &Path, dot: bool) -> i32 {
    match circuit::load(path) {
        Ok((_, c)) => {
            print_warnings(&c);
            if dot {
                print!("{}", circuit::dot::to_dot(&c));
            } else {
                print!("{}", spec::to_yaml(&c.spec));
            }
            EXIT_OK
        }
        Err(diagnostics) => {
            eprintln!("{diagnostics}");
            EXIT_BAD_INPUT
        }
    }
}
