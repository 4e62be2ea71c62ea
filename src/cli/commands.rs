//! What each subcommand does, from parsed arguments to an exit code.

use super::out::{say, sayln, tellln};
use super::{Cli, Command};
use crate::circuit::{self, Circuit};
use crate::spec;
use std::path::Path;

pub const EXIT_OK: i32 = 0;
pub const EXIT_FAILED: i32 = 1;
pub const EXIT_BAD_INPUT: i32 = 2;
/// 128 + SIGINT, as shells report a command stopped by Ctrl-C.
pub const EXIT_INTERRUPTED: i32 = 130;

pub fn dispatch(cli: Cli, argv: Vec<String>) -> i32 {
    match cli.command {
        Command::Validate { circuit } => validate(&circuit),
        Command::Expand { circuit, dot } => expand(&circuit, dot),
        Command::Run { circuit, options } => super::running::run(&circuit, &options, argv),
        Command::Compare {
            circuit,
            rules,
            options,
        } => super::running::compare(&circuit, &rules, &options, argv),
        Command::Rerun {
            run_dir,
            out,
            replace,
            no_plots,
        } => super::running::rerun(&run_dir, out, replace, no_plots, argv),
        Command::Plot { run_dir, format } => plot(&run_dir, &format),
        Command::Sweep {
            action:
                Some(super::SweepAction::Merge {
                    dirs,
                    out,
                    no_plots,
                }),
            ..
        } => super::sweeping::merge(&dirs, &out, !no_plots, argv),
        Command::Sweep {
            action: None,
            config,
            out,
            resume,
            shard,
            dry_run,
            backend,
            precision,
            ensemble_size,
            no_plots,
            memory_budget,
        } => super::sweeping::sweep(
            super::sweeping::SweepArgs {
                config: config.unwrap_or_default(),
                out,
                resume,
                shard,
                dry_run,
                backend,
                precision,
                ensemble_size,
                figures: !no_plots,
                memory_budget,
            },
            argv,
        ),
        Command::Evolve {
            config,
            out,
            resume,
            replace,
            backend,
            precision,
            generations,
        } => super::evolving::evolve(
            &config,
            out,
            resume,
            replace,
            &backend,
            &precision,
            generations,
            argv,
        ),
        Command::Devices => super::device::devices(),
        Command::Schema { kind } => super::reference::schema(&kind),
        Command::Completions { shell } => super::reference::completions(shell),
        Command::Man { out } => super::reference::man(out.as_deref()),
        Command::Bench {
            backend,
            workload,
            seconds,
            measure,
        } => super::bench::bench(&backend, &workload, seconds, &measure),
    }
}

fn print_warnings(c: &Circuit) {
    for w in &c.warnings {
        tellln!("warning: {w}");
    }
}

fn validate(path: &Path) -> i32 {
    match circuit::load(path) {
        Ok((_, c)) => {
            print_warnings(&c);
            sayln!("{}: ok — {}", path.display(), c.summary());
            EXIT_OK
        }
        Err(diagnostics) => {
            tellln!("{diagnostics}");
            tellln!(
                "{}: {}",
                path.display(),
                crate::text::count(diagnostics.0.len(), "error")
            );
            EXIT_BAD_INPUT
        }
    }
}

fn expand(path: &Path, dot: bool) -> i32 {
    match circuit::load(path) {
        Ok((_, c)) => {
            print_warnings(&c);
            if dot {
                say(&circuit::dot::to_dot(&c));
            } else {
                say(&spec::to_yaml(&c.spec));
            }
            EXIT_OK
        }
        Err(diagnostics) => {
            tellln!("{diagnostics}");
            EXIT_BAD_INPUT
        }
    }
}

fn plot(run_dir: &Path, format: &str) -> i32 {
    let Ok(formats) = format.parse::<crate::plot::Formats>() else {
        tellln!("hetsim plot: --format must be svg, png or both, not `{format}`");
        return EXIT_BAD_INPUT;
    };
    match crate::plot::plot_run_reporting(run_dir, formats) {
        Ok((paths, warnings)) => {
            for w in &warnings {
                tellln!("warning: {w}");
            }
            for p in &paths {
                sayln!("{}", p.display());
            }
            EXIT_OK
        }
        Err(e) => {
            tellln!("hetsim plot: {e}");
            EXIT_BAD_INPUT
        }
    }
}
