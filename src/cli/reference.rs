//! `hetsim schema`, `completions` and `man`: reference text generated from the definitions
//! themselves — the file formats' serde types ([`crate::schema`]) and this module's clap
//! definitions — so that none of it can disagree with what hetsim accepts.

use super::Cli;
use super::exit::{EXIT_BAD_INPUT, EXIT_FAILED, EXIT_OK};
use super::out::{say, tellln};
use crate::schema::{FileKind, schema_json};
use clap::CommandFactory;
use std::path::Path;

/// Prints the JSON Schema of one file format.
pub fn schema(kind: &str) -> i32 {
    let Some(kind) = FileKind::ALL.into_iter().find(|k| k.name() == kind) else {
        tellln!("hetsim schema: unknown file format `{kind}` (circuit, evolve or sweep)");
        return EXIT_BAD_INPUT;
    };
    match schema_json(kind) {
        Some(text) => {
            say(&text);
            EXIT_OK
        }
        None => {
            tellln!(
                "hetsim schema: the {} file format has no schema yet",
                kind.name()
            );
            EXIT_FAILED
        }
    }
}

/// Prints a completion script for `shell`.
pub fn completions(shell: clap_complete::Shell) -> i32 {
    let mut command = Cli::command();
    let mut text = Vec::new();
    clap_complete::generate(shell, &mut command, "hetsim", &mut text);
    say(&String::from_utf8_lossy(&text));
    EXIT_OK
}

/// The manual pages: `hetsim.1` first, then one per command (`hetsim-run.1`, …), as
/// (file name, roff text).
pub fn man_pages() -> std::io::Result<Vec<(String, Vec<u8>)>> {
    // The plain version, not `--version`'s commit: the shipped pages must not change with
    // every commit.
    let mut command = Cli::command()
        .version(env!("CARGO_PKG_VERSION"))
        .disable_help_subcommand(true);
    command.build();
    let mut pages = Vec::new();
    let mut add = |command: clap::Command| -> std::io::Result<()> {
        let man = clap_mangen::Man::new(command);
        let mut text = Vec::new();
        man.render(&mut text)?;
        pages.push((man.get_filename(), text));
        Ok(())
    };
    add(command.clone())?;
    for sub in command.get_subcommands().filter(|s| !s.is_hide_set()) {
        add(sub.clone())?;
    }
    Ok(pages)
}

/// Prints `hetsim.1`, or writes every page into `out`.
pub fn man(out: Option<&Path>) -> i32 {
    let pages = match man_pages() {
        Ok(p) => p,
        Err(e) => {
            tellln!("hetsim man: {e}");
            return EXIT_FAILED;
        }
    };
    let Some(dir) = out else {
        say(&String::from_utf8_lossy(&pages[0].1));
        return EXIT_OK;
    };
    if let Err(e) = std::fs::create_dir_all(dir) {
        tellln!("hetsim man: cannot create {}: {e}", dir.display());
        return EXIT_FAILED;
    }
    for (name, text) in &pages {
        let path = dir.join(name);
        if let Err(e) = std::fs::write(&path, text) {
            tellln!("hetsim man: cannot write {}: {e}", path.display());
            return EXIT_FAILED;
        }
        super::out::sayln!("{}", path.display());
    }
    EXIT_OK
}
