//! `hetsim sweep` and `hetsim sweep merge`: options become a [`SweepRequest`]; the library runs
//! the ensembles; this module draws the progress bar and prints the dry run and the outcome.

use super::exit::{EXIT_BAD_INPUT, EXIT_FAILED, EXIT_INTERRUPTED, EXIT_OK};
use super::out::{Verbosity, noteln, sayln, tellln, verbosity};
use crate::experiment::Threads;
use crate::record::Status;
use crate::sweep::{DryRun, Shard, SweepError, SweepOverrides, SweepProgress, SweepRequest};
use std::io::IsTerminal;
use std::path::{Path, PathBuf};

/// The options of `hetsim sweep FILE`.
pub struct SweepArgs {
    pub config: PathBuf,
    pub out: Option<PathBuf>,
    pub resume: bool,
    pub shard: Option<String>,
    pub dry_run: bool,
    pub backend: String,
    pub precision: String,
    pub ensemble_size: Option<usize>,
    pub figures: bool,
    pub memory_budget: Option<String>,
    pub threads: Threads,
    pub set: Vec<String>,
    pub seeds: Option<usize>,
    pub duration: Option<String>,
}

fn request(args: &SweepArgs, argv: Vec<String>) -> Result<SweepRequest, String> {
    let settings = super::settings(&crate::settings::Explicit {
        backend: Some(&args.backend),
        precision: Some(&args.precision),
        memory_budget: args.memory_budget.as_deref(),
        threads: Some(args.threads),
    })?;
    let shard = args.shard.as_deref().map(Shard::parse).transpose()?;
    if args.ensemble_size == Some(0) {
        return Err("--ensemble-size must be at least 1".into());
    }
    Ok(SweepRequest {
        path: args.config.clone(),
        text: None,
        out: args.out.clone(),
        resume: args.resume,
        backend: settings.backend,
        precision: settings.precision,
        backend_options: settings.backend_options,
        budget: settings.budget,
        shard,
        ensemble_size: args.ensemble_size,
        command_line: argv,
        overrides: SweepOverrides::new(&args.set, args.seeds, args.duration.as_deref())?,
        threads: settings.threads,
    })
}

fn report_error(e: &SweepError) -> i32 {
    match e {
        SweepError::Input(d) => tellln!("{d}"),
        other => tellln!("hetsim sweep: {other}"),
    }
    if e.is_bad_input() {
        EXIT_BAD_INPUT
    } else {
        EXIT_FAILED
    }
}

fn duration(s: f64) -> String {
    if s < 90.0 {
        format!("{s:.0} s")
    } else if s < 5400.0 {
        format!("{:.1} min", s / 60.0)
    } else {
        format!("{:.1} h", s / 3600.0)
    }
}

pub fn sweep(args: SweepArgs, argv: Vec<String>) -> i32 {
    let request = match request(&args, argv) {
        Ok(r) => r,
        Err(e) => {
            tellln!("hetsim sweep: {e}");
            return EXIT_BAD_INPUT;
        }
    };
    if args.dry_run {
        return match crate::sweep::dry_run(&request) {
            Ok(d) => {
                print_dry_run(&d, request.shard);
                EXIT_OK
            }
            Err(e) => report_error(&e),
        };
    }
    let stop = super::running::stop_flag();
    let bar = (std::io::stderr().is_terminal() && verbosity() != Verbosity::Quiet).then(|| {
        let bar = indicatif::ProgressBar::new(0);
        bar.set_style(
            indicatif::ProgressStyle::with_template("{bar:40} {pos}/{len} points · {msg}")
                .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
        );
        bar
    });
    let mut report = |p: &SweepProgress| {
        if let Some(bar) = &bar {
            bar.set_length(p.points_total as u64);
            bar.set_position(p.points_done as u64);
            let eta = p
                .eta_s
                .map(|s| format!(" · about {} left", duration(s)))
                .unwrap_or_default();
            bar.set_message(format!(
                "ensemble {}/{} · {} failed instance(s) · {}{eta}",
                p.ensemble,
                p.ensembles,
                p.instances_failed,
                duration(p.elapsed_s)
            ));
        }
    };
    let result = crate::sweep::sweep(&request, &mut report, Some(&stop));
    if let Some(bar) = &bar {
        bar.finish_and_clear();
    }
    match result {
        Ok(mut o) => {
            if args.figures {
                crate::drawing::sweep(&mut o);
            }
            for n in &o.notes {
                noteln!("hetsim sweep: {n}");
            }
            sayln!("sweep directory: {}", o.dir.display());
            sayln!(
                "{}/{} point(s) done{} in {} ensemble(s), {}; {} failed instance(s); status {}",
                o.points_done,
                o.points_total,
                if o.points_resumed > 0 {
                    format!(" ({} found done)", o.points_resumed)
                } else {
                    String::new()
                },
                o.ensembles_run,
                duration(o.wall_s),
                o.instances_failed,
                o.status.name()
            );
            sayln!("summary: {}", o.dir.join("summary.csv").display());
            match &o.figures {
                Some(Ok(paths)) if !paths.is_empty() => noteln!(
                    "hetsim sweep: {} figure file(s) in {}",
                    paths.len(),
                    o.dir.join("figures").display()
                ),
                Some(Err(e)) => tellln!("warning: figures not drawn: {e}"),
                _ => {}
            }
            if o.status == Status::Interrupted {
                tellln!(
                    "hetsim sweep: {}; continue with --resume --out {}",
                    o.reason.as_deref().unwrap_or("interrupted"),
                    o.dir.display()
                );
                EXIT_INTERRUPTED
            } else {
                EXIT_OK
            }
        }
        Err(e) => report_error(&e),
    }
}

fn print_dry_run(d: &DryRun, shard: Option<Shard>) {
    let of_shard = shard
        .map(|s| format!(" (shard {s} of {} in all)", d.points_total))
        .unwrap_or_default();
    sayln!(
        "sweep {}: {} point(s){of_shard} × {} rule(s) [{}] × {} seed(s)",
        d.name,
        if d.expanded {
            d.points.len()
        } else {
            d.instances / (d.rules.len() * d.seeds).max(1)
        },
        d.rules.len(),
        d.rules.join(", "),
        d.seeds
    );
    if !d.expanded {
        sayln!(
            "{} points in all: too many to list and build one by one here; the sweep checks each before it runs",
            d.points_total
        );
        let rate = 2e9;
        sayln!(
            "total: about {} instance(s), {:.2e} synapse-steps (the circuit before the axes apply); about {} at {rate:.0e} synapse-steps/s",
            d.instances,
            d.synapse_steps,
            duration(d.synapse_steps / rate)
        );
        return;
    }
    sayln!("point  point_id      {}", d.axis_columns.join("  "));
    for (index, id, cells) in &d.points {
        sayln!("{index:>5}  {id}  {}", cells.join("  "));
    }
    if d.already_done > 0 {
        sayln!(
            "{} point(s) already done (skipped on --resume)",
            d.already_done
        );
    }
    sayln!("{} ensemble(s):", d.ensembles.len());
    for (k, e) in d.ensembles.iter().enumerate() {
        let first = e.points.first().copied().unwrap_or(0);
        let last = e.points.last().copied().unwrap_or(0);
        sayln!(
            "  {:>4}: {} point(s) ({first}…{last}), {} instance(s), {:.2e} synapse-steps",
            k + 1,
            e.points.len(),
            e.instances,
            e.synapse_steps
        );
    }
    // The CPU backend's rate on small circuits here (docs/speed.md): 2–3e9 synapse-steps/s.
    let rate = 2e9;
    sayln!(
        "total: {} instance(s), {:.2e} synapse-steps; about {} at {rate:.0e} synapse-steps/s",
        d.instances,
        d.synapse_steps,
        duration(d.synapse_steps / rate)
    );
}

pub fn merge(dirs: &[PathBuf], out: &Path, figures: bool, argv: Vec<String>) -> i32 {
    match crate::sweep::merge::merge(dirs, out, &argv) {
        Ok(mut o) => {
            if figures {
                crate::drawing::merge(&mut o);
            }
            sayln!("merged sweep directory: {}", o.dir.display());
            sayln!(
                "{} point(s), {} summary row(s), {} failed instance(s)",
                o.points,
                o.rows,
                o.instances_failed
            );
            if let Some(Err(e)) = &o.figures {
                tellln!("warning: figures not drawn: {e}");
            }
            EXIT_OK
        }
        Err(e) => report_error(&e),
    }
}
