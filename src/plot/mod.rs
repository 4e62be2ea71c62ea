//! Figures for a finished simulation run.
//!
//! This module turns the files a run leaves on disk (`manifest.json`,
//! `instances.csv`, `metrics.csv` and, when present, `traces.csv` and
//! `weights.csv`) into slide-ready SVG and/or PNG figures. It never looks at
//! in-memory simulator state: everything it draws can be redrawn later from
//! the run directory alone.
//!
//! Layout of the module:
//! - [`data`]: reading and validating the run files into [`RunData`];
//! - [`stats`]: grouping rows into curves and computing means and bands
//!   (plain functions, unit-tested on hand numbers);
//! - `style`: the embedded font, colours, number formatting and titles;
//! - `render`: the shared drawing machinery (writing SVG/PNG, header and
//!   legend, grids of mean-and-band panels of equal size, heat maps);
//! - `clip`: drawing a series so that nothing of it lands outside its
//!   panel's data rectangle;
//! - [`figures`]: one function per figure kind, all with the same signature
//!   ([`FigureFn`]), listed in [`FIGURES`].
//!
//! ```text
//! use hetsim::plot::{plot_run, Formats};
//! let written = plot_run(Path::new("runs/xor"), "both".parse::<Formats>()?)?;
//! ```

mod clip;
pub mod data;
pub mod decay_rules;
pub mod evolution;
pub mod figures;
pub mod heldout;
pub mod plasticity;
mod render;
pub mod scaling;
pub mod stats;
mod style;
pub mod sweep;

#[cfg(test)]
mod tests;

use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;

pub use data::{Instance, Manifest, Metric, MetricRow, RunData, Stage, TraceRow, WeightEntry};
pub use evolution::plot_evolution;
pub use figures::{
    FIGURES, FigureFn, alignment, hebbian, learning_curves, learning_strength, traces, weights,
};
pub use stats::{BandKind, BandPoint, LabelSeries, Summary};
/// The figures' colours, for other front ends (the Python package's `hetsim.palette`).
pub use style::label_colours;

/// Everything that can go wrong while loading a run or drawing its figures.
#[derive(Debug, thiserror::Error)]
pub enum PlotError {
    /// A file the run directory must contain is absent.
    #[error("missing run file: {}", path.display())]
    MissingFile { path: PathBuf },
    /// A file exists but a row (or the JSON document) cannot be understood.
    #[error("{}:{line}: {reason}", path.display())]
    Malformed {
        path: PathBuf,
        line: u64,
        reason: String,
    },
    /// Reading or writing a file failed at the operating-system level.
    #[error("i/o error on {}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// plotters reported an error while drawing or saving a figure.
    #[error("could not draw {}: {reason}", path.display())]
    Draw { path: PathBuf, reason: String },
    /// The embedded font could not be registered with plotters.
    #[error("could not register the embedded font: {0}")]
    Font(String),
    /// A `--format`-style string other than `svg`, `png` or `both`.
    #[error("unknown figure format {0:?}: expected svg, png or both")]
    BadFormat(String),
}

/// Which file formats each figure is written in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Formats {
    pub svg: bool,
    pub png: bool,
}

impl Formats {
    pub const SVG: Formats = Formats {
        svg: true,
        png: false,
    };
    pub const PNG: Formats = Formats {
        svg: false,
        png: true,
    };
    pub const BOTH: Formats = Formats {
        svg: true,
        png: true,
    };

    /// Parses `svg`, `png` or `both` (case-insensitive, surrounding blanks ignored).
    pub fn parse(s: &str) -> Result<Formats, PlotError> {
        match s.trim().to_ascii_lowercase().as_str() {
            "svg" => Ok(Formats::SVG),
            "png" => Ok(Formats::PNG),
            "both" => Ok(Formats::BOTH),
            _ => Err(PlotError::BadFormat(s.to_string())),
        }
    }
}

impl Default for Formats {
    fn default() -> Self {
        Formats::BOTH
    }
}

impl FromStr for Formats {
    type Err = PlotError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Formats::parse(s)
    }
}

impl fmt::Display for Formats {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = match (self.svg, self.png) {
            (true, true) => "both",
            (true, false) => "svg",
            (false, true) => "png",
            (false, false) => "none",
        };
        f.write_str(s)
    }
}

/// The figures of a sweep directory: those of [`sweep`], and for a sweep of random rules
/// against decay the tables and figure of [`decay_rules`].
pub fn plot_sweep(dir: &Path, formats: Formats) -> Result<Vec<PathBuf>, PlotError> {
    let mut written = sweep::plot_sweep(dir, formats)?;
    written.extend(decay_rules::write(dir, formats)?);
    Ok(written)
}

/// Reads a run directory; see [`data`] for the files and their checks.
pub fn load_run(run_dir: &Path) -> Result<RunData, PlotError> {
    data::load_run(run_dir)
}

/// Loads `run_dir` and writes every figure whose data is present into
/// `run_dir/figures/`, returning the paths written (in [`FIGURES`] order).
/// Figures without data are skipped silently.
pub fn plot_run(run_dir: &Path, formats: Formats) -> Result<Vec<PathBuf>, PlotError> {
    plot_run_reporting(run_dir, formats).map(|(written, _)| written)
}

/// [`plot_run`], and the warnings about what was drawn around (a cut last row left out, NaN
/// or infinite cells shown as gaps) for the caller to show.
pub fn plot_run_reporting(
    run_dir: &Path,
    formats: Formats,
) -> Result<(Vec<PathBuf>, Vec<String>), PlotError> {
    // Evolution and sweep directories have their own figures.
    if run_dir.join("generations.csv").is_file() && !run_dir.join("metrics.csv").exists() {
        return plot_evolution(run_dir, formats).map(|w| (w, Vec::new()));
    }
    if run_dir.join("summary.csv").is_file() && run_dir.join("sweep.yaml").is_file() {
        return plot_sweep(run_dir, formats).map(|w| (w, Vec::new()));
    }
    let run = load_run(run_dir)?;
    let out_dir = run_dir.join("figures");
    let mut written = Vec::new();
    for (_, figure) in FIGURES {
        written.extend(figure(&run, &out_dir, formats)?);
    }
    let mut warnings = run.warnings.clone();
    let samples = data::read_plasticity(run_dir, &mut warnings)?;
    written.extend(plasticity::plasticity(&run, &samples, &out_dir, formats)?);
    Ok((written, warnings))
}
