//! `hetsim evolve`: options become an [`EvolveRequest`]; the library runs the generations; this
//! module prints one line per generation and the outcome.

use super::commands::{EXIT_BAD_INPUT, EXIT_FAILED, EXIT_INTERRUPTED, EXIT_OK};
use super::out::{sayln, tellln};
use crate::backend::{BackendKind, Precision};
use crate::evolve::{EvolveError, EvolveRequest, GenerationReport};
use crate::record::Status;
use std::path::{Path, PathBuf};

pub fn evolve(
    config: &Path,
    out: Option<PathBuf>,
    resume: bool,
    backend: &str,
    precision: &str,
    generations: Option<u64>,
    argv: Vec<String>,
) -> i32 {
    let backend: BackendKind = match backend.parse() {
        Ok(b) => b,
        Err(e) => {
            tellln!("hetsim evolve: --backend: {e}");
            return EXIT_BAD_INPUT;
        }
    };
    let precision = match precision {
        "auto" => None,
        text => match Precision::parse(text) {
            Some(p) => Some(p),
            None => {
                tellln!("hetsim evolve: --precision must be auto, f32 or f64, not `{text}`");
                return EXIT_BAD_INPUT;
            }
        },
    };
    let request = EvolveRequest {
        path: config.to_path_buf(),
        out,
        resume,
        backend,
        precision,
        generations,
        command_line: argv,
    };
    let stop = super::running::stop_flag();
    let (mut wall, mut run, mut count) = (0.0, 0.0, 0usize);
    let mut report = |g: &GenerationReport| {
        wall += g.wall_s;
        run += g.run_s;
        count += 1;
        tellln!(
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
    if count > 0 {
        tellln!(
            "hetsim evolve: {count} generation(s) in {wall:.1} s ({:.1} per minute); {:.1}% of the time outside the ensemble runs",
            60.0 * count as f64 / wall.max(1e-9),
            100.0 * (wall - run) / wall.max(1e-9)
        );
    }
    match result {
        Ok(o) => {
            sayln!("evolution directory: {}", o.dir.display());
            sayln!(
                "{} generation(s); best fitness {:.6} (mean ln(final/initial held-out loss))",
                o.generations_done,
                o.best_fitness
            );
            for (name, v) in &o.best_theta {
                sayln!("  {name} = {v:.4}");
            }
            match &o.figures {
                Ok(paths) if !paths.is_empty() => tellln!(
                    "hetsim evolve: {} figure file(s) in {}",
                    paths.len(),
                    o.dir.join("figures").display()
                ),
                Ok(_) => {}
                Err(e) => tellln!("warning: figures not drawn: {e}"),
            }
            if o.status == Status::Interrupted {
                tellln!(
                    "hetsim evolve: interrupted; continue with --resume --out {}",
                    o.dir.display()
                );
                EXIT_INTERRUPTED
            } else {
                EXIT_OK
            }
        }
        Err(e) => {
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
    }
}
