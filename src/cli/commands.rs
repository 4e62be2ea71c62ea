//! What each subcommand does, from parsed arguments to an exit code.

use super::exit::{EXIT_BAD_INPUT, EXIT_FAILED, EXIT_OK};
use super::out::{say, sayln, tellln};
use super::{Cli, Command};
use crate::circuit::budget::Budget;
use crate::circuit::{self, Circuit};
use crate::experiment::Threads;
use crate::spec;
use std::path::Path;

pub fn dispatch(cli: Cli, argv: Vec<String>) -> i32 {
    match cli.command {
        Command::Validate { circuit } => validate(&circuit),
        Command::Expand { circuit, dot } => expand(&circuit, dot),
        Command::Run {
            circuit,
            resume: Some(dir),
            options,
        } => super::running::resume(&dir, circuit.as_deref(), &options, argv),
        Command::Run {
            circuit: Some(circuit),
            options,
            ..
        } => super::running::run(&circuit, &options, argv),
        Command::Run { .. } => {
            super::out::tellln!("hetsim run: give a circuit file, or --resume RUN_DIR");
            EXIT_BAD_INPUT
        }
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
            threads,
        } => super::running::rerun(&run_dir, out, replace, no_plots, threads.get(), argv),
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
            threads,
            set,
            seeds,
            duration,
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
                threads: threads.get(),
                set,
                seeds,
                duration,
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
            dry_run,
            shard,
            memory_budget,
            threads,
        } => in_pool("hetsim evolve", threads.get(), || {
            super::evolving::evolve(
                &config,
                super::evolving::EvolveArgs {
                    out,
                    resume,
                    replace,
                    backend,
                    precision,
                    generations,
                    dry_run,
                    shard,
                    memory_budget,
                },
                argv,
            )
        }),
        Command::Devices => super::device::devices(),
        Command::Schema { kind } => super::reference::schema(&kind),
        Command::Completions { shell } => super::reference::completions(shell),
        Command::Man { out } => super::reference::man(out.as_deref()),
        Command::Bench {
            backend,
            workload,
            seconds,
            measure,
            scaling,
            sweep_cost,
            quick,
            out,
            memory_budget,
            threads,
        } => in_pool("hetsim bench", threads.get(), || {
            if scaling || sweep_cost {
                super::bench::scaling(&super::bench::ScalingArgs {
                    backend: &backend,
                    scaling,
                    sweep_cost,
                    quick,
                    out: out.as_deref(),
                    memory_budget: memory_budget.as_deref(),
                })
            } else {
                super::bench::bench(&backend, &workload, seconds, &measure)
            }
        }),
    }
}

/// Runs a command whose library call takes no thread count (evolve, bench) in a pool of
/// `threads`, so that every parallel loop inside it uses that many.
fn in_pool(who: &str, threads: Threads, command: impl FnOnce() -> i32 + Send) -> i32 {
    match threads.pool() {
        Ok(pool) => pool.install(command),
        Err(e) => {
            tellln!("{who}: --threads: {e}");
            EXIT_FAILED
        }
    }
}

fn print_warnings(c: &Circuit) {
    for w in &c.warnings {
        tellln!("warning: {w}");
    }
}

/// What a YAML file of hetsim's holds, told by its top-level keys (or, failing those, the
/// schema its first line names): `validate` checks each kind as what it is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum FileKind {
    Circuit,
    Sweep,
    Evolution,
}

fn file_kind(path: &Path) -> FileKind {
    // Only a regular file is read twice (here for its keys, then by its loader): a pipe or a
    // device would be drained by the first read, so it is taken as a circuit and read once.
    if !std::fs::metadata(path).is_ok_and(|m| m.is_file()) {
        return FileKind::Circuit;
    }
    let Ok(source) = spec::read_source(path) else {
        return FileKind::Circuit;
    };
    let has = |key: &str| source.locator.has(&spec::YamlPath::of(&[key]));
    let schema = source.text.lines().next().unwrap_or_default();
    if has("axes") || (!has("populations") && schema.contains("sweep.schema.json")) {
        FileKind::Sweep
    } else if (has("free") && has("strategy"))
        || (!has("populations") && schema.contains("evolve.schema.json"))
    {
        FileKind::Evolution
    } else {
        FileKind::Circuit
    }
}

fn validate(path: &Path) -> i32 {
    let budget = super::environment_budget();
    match file_kind(path) {
        FileKind::Circuit => validate_circuit(path, &budget),
        FileKind::Sweep => validate_sweep(path, &budget),
        FileKind::Evolution => validate_evolution(path, &budget),
    }
}

fn report_diagnostics(path: &Path, diagnostics: &spec::Diagnostics) -> i32 {
    tellln!("{diagnostics}");
    tellln!(
        "{}: {}",
        path.display(),
        crate::text::count(diagnostics.0.len(), "error")
    );
    EXIT_BAD_INPUT
}

/// A sweep file checked as `hetsim sweep` checks it before running: the file, its circuit and
/// `set:`, sizes, axes, summary and — unless there are too many to build here — every point.
fn validate_sweep(path: &Path, budget: &Budget) -> i32 {
    use crate::sweep::{SweepError, setup};
    match setup::load_with(
        path,
        None,
        &crate::sweep::SweepOverrides::default(),
        setup::Expansion::QUICK,
        budget,
    ) {
        Ok(s) => {
            let built = if s.expanded {
                "every point checked"
            } else {
                "too many points to build each here; `hetsim sweep` checks each before it runs"
            };
            sayln!(
                "{}: ok — sweep `{}`: {} × {} × {} = {} ({built}); see `hetsim sweep {} --dry-run` for its ensembles",
                path.display(),
                s.spec.name,
                crate::text::count(s.size.points, "point"),
                crate::text::count(s.rules.len(), "rule"),
                crate::text::count(s.spec.seeds, "seed"),
                crate::text::count(s.size.instances, "instance"),
                path.display()
            );
            EXIT_OK
        }
        Err(SweepError::Input(d)) => report_diagnostics(path, &d),
        Err(e) => {
            tellln!("{}: {e}", path.display());
            if e.is_bad_input() {
                EXIT_BAD_INPUT
            } else {
                EXIT_FAILED
            }
        }
    }
}

/// An evolution file checked as `hetsim evolve` checks it before its first generation.
fn validate_evolution(path: &Path, budget: &Budget) -> i32 {
    use crate::evolve::EvolveError;
    match crate::evolve::check(path, budget) {
        Ok(summary) => {
            sayln!("{}: ok — {summary}", path.display());
            EXIT_OK
        }
        Err(EvolveError::Input(d)) => report_diagnostics(path, &d),
        Err(e) => {
            tellln!("hetsim validate: {}: {e}", path.display());
            if e.is_bad_input() {
                EXIT_BAD_INPUT
            } else {
                EXIT_FAILED
            }
        }
    }
}

fn validate_circuit(path: &Path, budget: &Budget) -> i32 {
    match circuit::load_within(path, budget) {
        Ok((_, c)) => {
            print_warnings(&c);
            sayln!("{}: ok — {}", path.display(), c.summary());
            EXIT_OK
        }
        Err(diagnostics) => report_diagnostics(path, &diagnostics),
    }
}

fn expand(path: &Path, dot: bool) -> i32 {
    match circuit::load_within(path, &super::environment_budget()) {
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

/// Whether `dir` is a sweep's directory (its manifest says so, or it holds the sweep's copy of
/// its file), finished or not.
fn is_sweep_dir(dir: &Path) -> bool {
    let kind = std::fs::read_to_string(dir.join("manifest.json"))
        .ok()
        .and_then(|t| serde_json::from_str::<serde_json::Value>(&t).ok())
        .and_then(|m| m["kind"].as_str().map(str::to_string));
    kind.as_deref() == Some("sweep") || (kind.is_none() && dir.join("sweep.yaml").is_file())
}

fn plot(run_dir: &Path, format: &str) -> i32 {
    let Ok(formats) = format.parse::<crate::plot::Formats>() else {
        tellln!("hetsim plot: --format must be svg, png or both, not `{format}`");
        return EXIT_BAD_INPUT;
    };
    // A sweep directory has its own figures, whether or not a part has finished yet.
    if is_sweep_dir(run_dir) {
        if let Some(why) = crate::plot::sweep::not_ready(run_dir) {
            tellln!("hetsim plot: {why}");
            return EXIT_BAD_INPUT;
        }
        return match crate::plot::plot_sweep(run_dir, formats) {
            Ok(paths) => {
                for p in &paths {
                    sayln!("{}", p.display());
                }
                EXIT_OK
            }
            Err(e) => {
                tellln!("hetsim plot: {e}");
                EXIT_BAD_INPUT
            }
        };
    }
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
