//! `run`, `compare` and `rerun`: command-line options become an [`experiment::Request`]; the
//! library prepares and runs it; this module draws the progress bar, installs the signal
//! handlers that ask the run to stop, and prints the outcome.

use super::RunOptions;
use super::exit::{EXIT_BAD_INPUT, EXIT_FAILED, EXIT_INTERRUPTED, EXIT_OK};
use super::out::{Verbosity, detailln, noteln, sayln, tellln, verbosity};
use crate::experiment::{
    self, CircuitSource, Design, ExperimentError, Finished, Output, Request, Threads, parse_set,
};
use crate::record::Status;
use crate::run::{Observer, Progress};
use crate::spec::RuleName;
use crate::text::count;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::AtomicBool;

/// The request that `run`/`compare` options describe.
fn request(
    path: &Path,
    design: Design,
    options: &RunOptions,
    argv: Vec<String>,
) -> Result<Request, ExperimentError> {
    let settings = super::settings(&crate::settings::Explicit {
        backend: Some(&options.backend),
        precision: Some(&options.precision),
        memory_budget: options.memory_budget.as_deref(),
        threads: Some(options.threads.get()),
    })
    .map_err(ExperimentError::Usage)?;
    let sets = options
        .set
        .iter()
        .map(|s| parse_set(s))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Request {
        circuit: CircuitSource {
            path: path.to_path_buf(),
            text: None,
            base_dir: None,
            sets,
            duration: options.duration.clone(),
        },
        design,
        seeds: options.seeds,
        first_seed: options.seed,
        backend: settings.backend,
        precision: settings.precision,
        backend_options: settings.backend_options,
        budget: settings.budget,
        output: Output::Directory {
            path: options.out.clone(),
            replace: options.replace,
        },
        command_line: argv,
        threads: settings.threads,
        checkpoint_every: options.checkpoint_every.clone(),
        from: options.from.clone(),
        carry_activities: options.carry == Some(super::Carry::Activities),
    })
}

/// `hetsim run --resume RUN_DIR`: every other choice comes from the run's manifest, so the
/// options that would change the run are refused rather than ignored.
pub fn resume(
    run_dir: &Path,
    circuit: Option<&Path>,
    options: &RunOptions,
    argv: Vec<String>,
) -> i32 {
    let who = "hetsim run --resume";
    let changed = [
        (circuit.is_some(), "a circuit file"),
        (options.backend != "auto", "--backend"),
        (options.precision != "auto", "--precision"),
        (options.seeds != 1, "--seeds"),
        (options.seed != 1, "--seed"),
        (!options.set.is_empty(), "--set"),
        (options.duration.is_some(), "--duration"),
        (options.out.is_some(), "--out"),
        (options.replace, "--replace"),
        (options.checkpoint_every.is_some(), "--checkpoint-every"),
        (options.from.is_some(), "--from"),
        (options.carry.is_some(), "--carry"),
    ];
    if let Some((_, what)) = changed.iter().find(|(given, _)| *given) {
        tellln!(
            "{who}: {what} cannot be given with --resume: the run continues as its manifest records it"
        );
        return EXIT_BAD_INPUT;
    }
    let settings = match super::settings(&crate::settings::Explicit {
        threads: Some(options.threads.get()),
        ..Default::default()
    }) {
        Ok(s) => s,
        Err(e) => {
            tellln!("{who}: {e}");
            return EXIT_BAD_INPUT;
        }
    };
    let stop = stop_flag();
    match Request::resume(
        run_dir,
        argv,
        settings.threads,
        settings.backend_options,
        settings.budget,
    ) {
        Ok(prepared) => {
            noteln!(
                "{who}: continuing {} from t = {:.3} s",
                run_dir.display(),
                prepared.resumed_from_s().unwrap_or(0.0)
            );
            run_prepared(prepared, &stop, who, !options.no_plots)
        }
        Err(e) => report_error(who, &e),
    }
}

pub fn run(path: &Path, options: &RunOptions, argv: Vec<String>) -> i32 {
    match request(path, Design::Run, options, argv) {
        Ok(r) => execute(r, "hetsim", !options.no_plots),
        Err(e) => report_error("hetsim", &e),
    }
}

pub fn compare(path: &Path, rules: &[String], options: &RunOptions, argv: Vec<String>) -> i32 {
    let mut parsed = Vec::new();
    for name in rules {
        let Some(rule) = RuleName::from_name(name.trim()) else {
            let known: Vec<&str> = RuleName::ALL.iter().map(|r| r.name()).collect();
            tellln!(
                "hetsim compare: unknown rule `{name}` (known: {})",
                known.join(", ")
            );
            return EXIT_BAD_INPUT;
        };
        parsed.push(rule);
    }
    match request(path, Design::Compare { rules: parsed }, options, argv) {
        Ok(r) => execute(r, "hetsim compare", !options.no_plots),
        Err(e) => report_error("hetsim compare", &e),
    }
}

pub fn rerun(
    run_dir: &Path,
    out: Option<PathBuf>,
    replace: bool,
    no_plots: bool,
    threads: Threads,
    argv: Vec<String>,
) -> i32 {
    let dir = out.unwrap_or_else(|| experiment::replay::default_rerun_dir(run_dir));
    let output = Output::Directory {
        path: Some(dir),
        replace,
    };
    let settings = match super::settings(&crate::settings::Explicit {
        threads: Some(threads),
        ..Default::default()
    }) {
        Ok(s) => s,
        Err(e) => {
            tellln!("hetsim rerun: {e}");
            return EXIT_BAD_INPUT;
        }
    };
    match experiment::replay::request_from_run(run_dir, output, argv) {
        Ok(r) => execute(
            Request {
                threads: settings.threads,
                backend_options: settings.backend_options,
                budget: settings.budget,
                ..r
            },
            "hetsim rerun",
            !no_plots,
        ),
        Err(e) => report_error("hetsim rerun", &e),
    }
}

fn report_error(who: &str, e: &ExperimentError) -> i32 {
    match e {
        // Located diagnostics carry their own file:line:column prefix.
        ExperimentError::Input(d) => tellln!("{d}"),
        ExperimentError::Backend(crate::backend::BackendError::Unavailable(reason)) => {
            tellln!("{who}: --backend opencl: {reason}")
        }
        other => tellln!("{who}: {other}"),
    }
    if e.is_bad_input() {
        EXIT_BAD_INPUT
    } else {
        EXIT_FAILED
    }
}

/// The progress bar: simulated percentage and time, diverged instances, time left.
struct Bar(indicatif::ProgressBar);

impl Observer for Bar {
    fn window(&mut self, p: &Progress) {
        self.0.set_position(p.step);
        let diverged = if p.diverged > 0 {
            format!(", {}/{} diverged", p.diverged, p.instances)
        } else {
            String::new()
        };
        self.0.set_message(format!("{:.1} s{diverged}", p.time_s));
    }
}

/// SIGINT and SIGTERM set the returned flag (the run stops after the current window); a second
/// signal ends the process at once. See [`super::signals`].
pub(super) fn stop_flag() -> Arc<AtomicBool> {
    super::signals::stop_flag()
}

/// Prepares and runs `request`, then draws its figures if `figures`.
fn execute(request: Request, who: &str, figures: bool) -> i32 {
    // Before the run directory is claimed and its manifest written: a signal while the backend
    // is made (compiling kernels takes seconds) stops the run at its start, recorded.
    let stop = stop_flag();
    let prepared = match request.prepare() {
        Ok(p) => p,
        Err(e) => return report_error(who, &e),
    };
    run_prepared(prepared, &stop, who, figures)
}

/// Runs a prepared run with the progress bar, draws its figures if `figures`, and prints the
/// outcome.
fn run_prepared(
    prepared: experiment::Prepared,
    stop: &Arc<AtomicBool>,
    who: &str,
    figures: bool,
) -> i32 {
    for w in &prepared.warnings {
        tellln!("warning: {w}");
    }
    for n in &prepared.notes {
        noteln!("{who}: {n}");
    }
    let plan = prepared.plan().clone();
    noteln!(
        "hetsim: {} of `{}` on {} → {}",
        count(plan.n_instances(), "instance"),
        plan.name,
        prepared.backend_description(),
        prepared
            .dir()
            .map(|d| d.display().to_string())
            .unwrap_or_else(|| "memory".into())
    );
    detailln!(
        "hetsim: {} of dt = {} ({}), {} per instance, recorded every {}",
        count(plan.steps as usize, "step"),
        crate::spec::Time::from_seconds(plan.dt_s),
        plan.method.name(),
        count(plan.synapses_per_instance(), "synapse"),
        crate::spec::Time::from_seconds(plan.dt_s * plan.record_every_steps as f64)
    );
    let bar = if verbosity() == Verbosity::Quiet {
        indicatif::ProgressBar::hidden()
    } else {
        indicatif::ProgressBar::new(plan.steps)
    };
    bar.set_style(
        indicatif::ProgressStyle::with_template("{bar:40} {percent}% simulated {msg} eta {eta}")
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    let mut observer = Bar(bar.clone());
    let result = prepared.execute(&mut observer, Some(stop));
    bar.finish_and_clear();
    match result {
        Ok(mut finished) => {
            if figures {
                crate::drawing::run(&mut finished);
            }
            report(&finished)
        }
        Err(e) => report_error(who, &e),
    }
}

fn report(f: &Finished) -> i32 {
    let o = &f.outcome;
    for failure in &o.failures {
        tellln!("warning: {}", failure.message);
    }
    if let Some(dir) = &f.dir {
        sayln!("run directory: {}", dir.display());
    }
    sayln!(
        "{}, {:.1} s simulated in {:.1} s wall ({:.2e} synapse-steps/s)",
        count(f.plan.n_instances(), "instance"),
        o.time_reached_s,
        o.wall_s,
        o.synapse_steps_per_s
    );
    super::out::say(&f.summary.table());
    match &f.figures {
        Some(Ok(paths)) => {
            noteln!(
                "hetsim: {} in {}",
                count(paths.len(), "figure file"),
                f.dir
                    .as_ref()
                    .map(|d| d.join("figures").display().to_string())
                    .unwrap_or_default()
            );
            for p in paths {
                detailln!("  {}", p.display());
            }
        }
        Some(Err(e)) => tellln!("warning: figures not drawn: {e}"),
        None => {}
    }
    match o.status {
        Status::Completed | Status::CompletedWithFailures => EXIT_OK,
        Status::Interrupted => {
            tellln!(
                "hetsim: interrupted at t = {:.3} s; the rows written so far are whole (status `interrupted`)",
                o.time_reached_s
            );
            EXIT_INTERRUPTED
        }
        Status::Failed => {
            tellln!(
                "hetsim: the run failed: {}",
                f.manifest.status_reason.clone().unwrap_or_default()
            );
            EXIT_FAILED
        }
        Status::Running => EXIT_FAILED,
    }
}
