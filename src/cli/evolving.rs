//! `hetsim evolve`: options become an [`EvolveRequest`]; the library runs the generations; this
//! module prints one line per generation and the outcome.

use super::exit::{EXIT_BAD_INPUT, EXIT_FAILED, EXIT_INTERRUPTED, EXIT_OK};
use super::out::{detailln, noteln, sayln, tellln};
use crate::evolve::{EvolveError, EvolveRequest, GenerationReport};
use crate::record::Status;
use crate::text::count;
use std::path::{Path, PathBuf};

/// The options of `hetsim evolve`.
pub struct EvolveArgs {
    pub out: Option<PathBuf>,
    pub resume: bool,
    pub replace: bool,
    pub backend: String,
    pub precision: String,
    pub generations: Option<u64>,
    pub dry_run: bool,
    pub shard: Option<String>,
    pub memory_budget: Option<String>,
}

pub fn evolve(config: &Path, args: EvolveArgs, argv: Vec<String>) -> i32 {
    let EvolveArgs {
        out,
        resume,
        replace,
        backend,
        precision,
        generations,
        dry_run,
        shard,
        memory_budget,
    } = args;
    let settings = match super::settings(&crate::settings::Explicit {
        backend: Some(&backend),
        precision: Some(&precision),
        memory_budget: memory_budget.as_deref(),
        threads: None,
    }) {
        Ok(s) => s,
        Err(e) => {
            tellln!("hetsim evolve: {e}");
            return EXIT_BAD_INPUT;
        }
    };
    let shard = match shard.as_deref().map(crate::evolve::shard::parse) {
        None => None,
        Some(Ok(s)) => Some(s),
        Some(Err(e)) => {
            tellln!("hetsim evolve: {e}");
            return EXIT_BAD_INPUT;
        }
    };
    let request = EvolveRequest {
        path: config.to_path_buf(),
        out,
        resume,
        replace,
        backend: settings.backend,
        precision: settings.precision,
        backend_options: settings.backend_options,
        budget: settings.budget,
        generations,
        command_line: argv,
    };
    if dry_run {
        return print_cost(&request);
    }
    if let Some((i, n)) = shard {
        return match crate::evolve::run_shard(&request, i, n) {
            Ok((path, generation)) => {
                sayln!(
                    "shard {i}/{n} of generation {generation}: {}",
                    path.display()
                );
                EXIT_OK
            }
            Err(e) => fail(e),
        };
    }
    let stop = super::running::stop_flag();
    let (mut wall, mut run, mut generations) = (0.0, 0.0, 0usize);
    let mut report = |g: &GenerationReport| {
        wall += g.wall_s;
        run += g.run_s;
        generations += 1;
        noteln!(
            "generation {}/{}: best {:.4} (best so far {:.4}), median {:.4}, σ {:.3}{}",
            g.generation,
            g.generations,
            g.best_fitness,
            g.best_ever,
            g.median_fitness,
            g.sigma,
            if g.diverged > 0 {
                format!(", {}/{} diverged", g.diverged, g.members)
            } else {
                String::new()
            }
        );
    };
    let result = crate::evolve::evolve(&request, &mut report, Some(&stop));
    if generations > 0 {
        noteln!(
            "hetsim evolve: {} in {wall:.1} s ({:.1} per minute); {:.1}% of the time outside the ensemble runs",
            count(generations, "generation"),
            60.0 * generations as f64 / wall.max(1e-9),
            100.0 * (wall - run) / wall.max(1e-9)
        );
    }
    match result {
        Ok(mut o) => {
            sayln!("evolution directory: {}", o.dir.display());
            sayln!(
                "{}; best fitness {:.6} (mean ln(final/initial held-out loss))",
                count(o.generations_done as usize, "generation"),
                o.best_fitness
            );
            for (name, v) in &o.best_theta {
                sayln!("  {name} = {v:.4}");
            }
            crate::drawing::evolution(&mut o);
            match &o.figures {
                Some(Ok(paths)) if !paths.is_empty() => {
                    noteln!(
                        "hetsim evolve: {} in {}",
                        count(paths.len(), "figure file"),
                        o.dir.join("figures").display()
                    );
                    for p in paths {
                        detailln!("  {}", p.display());
                    }
                }
                Some(Err(e)) => tellln!("warning: figures not drawn: {e}"),
                _ => {}
            }
            if o.status == Status::Interrupted {
                noteln!(
                    "hetsim evolve: interrupted; continue with --resume --out {}",
                    o.dir.display()
                );
                EXIT_INTERRUPTED
            } else {
                EXIT_OK
            }
        }
        Err(e) => fail(e),
    }
}

fn fail(e: EvolveError) -> i32 {
    match &e {
        EvolveError::Input(d) => tellln!("{d}"),
        other => tellln!("hetsim evolve: {other}"),
    }
    if e.is_bad_input() {
        EXIT_BAD_INPUT
    } else {
        EXIT_FAILED
    }
}

/// `--dry-run`: the cost, per generation and in total.
fn print_cost(request: &EvolveRequest) -> i32 {
    let c = match crate::evolve::dry_run(request) {
        Ok(c) => c,
        Err(e) => return fail(e),
    };
    let human = crate::circuit::budget::human_bytes;
    let time = |s: f64| {
        if s < 120.0 {
            format!("{s:.1} s")
        } else if s < 7200.0 {
            format!("{:.1} min", s / 60.0)
        } else {
            format!("{:.1} h", s / 3600.0)
        }
    };
    sayln!(
        "per generation: ({} + {}) × {} × {} = {} instances, {:.3e} synapse-steps, about {} at {:.3e} synapse-steps/s (measured on {})",
        count(c.members, "member"),
        count(c.baselines, "baseline"),
        count(c.rates, "rate factor"),
        count(c.seeds, "seed"),
        c.instances,
        c.synapse_steps,
        time(c.generation_s()),
        c.rate,
        c.measured_on
    );
    sayln!(
        "memory: a generation's ensemble plans {} of the budget of {}",
        human(c.bytes),
        c.budget
    );
    if c.heldout_instances > 0 {
        sayln!(
            "held-out evaluation: {} instances, {:.3e} synapse-steps, about {}",
            c.heldout_instances,
            c.heldout_synapse_steps,
            time(c.heldout_synapse_steps / c.rate)
        );
    }
    sayln!(
        "total: {} — {:.3e} synapse-steps, about {} on this machine",
        count(c.generations as usize, "generation"),
        c.total_synapse_steps(),
        time(c.total_s())
    );
    EXIT_OK
}
