//! `hetsim evolve`: options become an [`EvolveRequest`]; the library runs the generations; this
//! module prints one line per generation and the outcome.

use super::commands::{EXIT_BAD_INPUT, EXIT_FAILED, EXIT_INTERRUPTED, EXIT_OK};
use super::out::{detailln, noteln, sayln, tellln};
use crate::backend::{BackendKind, Precision};
use crate::evolve::{EvolveError, EvolveRequest, GenerationReport};
use crate::record::Status;
use crate::text::count;
use std::path::{Path, PathBuf};

#[allow(clippy::too_many_arguments)]
pub fn evolve(
    config: &Path,
    out: Option<PathBuf>,
    resume: bool,
    replace: bool,
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
        replace,
        backend,
        precision,
        generations,
        command_line: argv,
    };
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
        Ok(o) => {
            sayln!("evolution directory: {}", o.dir.display());
            sayln!(
                "{}; best fitness {:.6} (mean ln(final/initial held-out loss))",
                count(o.generations_done as usize, "generation"),
                o.best_fitness
            );
            for (name, v) in &o.best_theta {
                sayln!("  {name} = {v:.4}");
            }
            match &o.figures {
                Ok(paths) if !paths.is_empty() => {
                    noteln!(
                        "hetsim evolve: {} in {}",
                        count(paths.len(), "figure file"),
                        o.dir.join("figures").display()
                    );
                    for p in paths {
                        detailln!("  {}", p.display());
                    }
                }
                Ok(_) => {}
                Err(e) => tellln!("warning: figures not drawn: {e}"),
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
