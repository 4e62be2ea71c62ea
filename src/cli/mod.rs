//! The command line: parses arguments into library requests, calls the library, and turns
//! every outcome into a message and an exit code. This is the only module that writes to the
//! terminal; it builds no plan, backend, manifest or recorder itself.
//!
//! Exit codes: 0 success (also when some instances diverged), 1 the run itself failed (I/O,
//! a device, divergence of every instance), 2 bad input (a circuit, an argument, a missing
//! file, an existing run directory), 130 interrupted (SIGINT/SIGTERM; the rows so far stay).

mod bench;
mod commands;
mod device;
mod evolving;
mod exit;
pub(crate) mod out;
mod reference;
mod running;
mod signals;
mod sweeping;

use crate::experiment::Threads;
use clap::{Parser, Subcommand};
use std::path::PathBuf;

pub use commands::dispatch;

const AFTER_HELP: &str = "Examples:
  hetsim validate circuits/teacher_fa.yaml
  hetsim expand circuits/teacher_kp.yaml
  hetsim run circuits/teacher_fa.yaml --seeds 5 --out runs/fa
  hetsim compare circuits/teacher_fa.yaml --rules sgd,fa,dfa,kp --seeds 3
  hetsim rerun runs/fa --out runs/fa-again";

/// `--version`: the package version and the git commit it was built from.
const VERSION: &str = concat!(
    env!("CARGO_PKG_VERSION"),
    " (commit ",
    env!("HETSIM_GIT_COMMIT"),
    ")"
);

#[derive(Parser, Debug)]
#[command(name = "hetsim", version = VERSION, about = "Continuous-time simulation of biologically plausible learning circuits", after_help = AFTER_HELP)]
pub struct Cli {
    /// Print only results, warnings and errors: no progress bar or notes on stderr.
    #[arg(long, short, global = true, conflicts_with = "verbose")]
    pub quiet: bool,
    /// Also print details on stderr: the plan's size and steps, every figure file written.
    #[arg(long, short, global = true)]
    pub verbose: bool,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Check a circuit file and print a one-line summary, or every error with file:line:column.
    #[command(
        after_help = "Examples:\n  hetsim validate circuits/teacher_fa.yaml\n  hetsim validate my_circuit.yaml && echo ok"
    )]
    Validate {
        /// The circuit file (YAML).
        circuit: PathBuf,
    },
    /// Print the circuit with the `learning:` shorthand written out, as YAML (or as DOT).
    #[command(
        after_help = "Examples:\n  hetsim expand circuits/teacher_fa.yaml > explicit.yaml\n  hetsim expand --dot circuits/teacher_kp.yaml | dot -Tsvg > kp.svg"
    )]
    Expand {
        /// The circuit file (YAML).
        circuit: PathBuf,
        /// Write Graphviz DOT instead of YAML.
        #[arg(long)]
        dot: bool,
    },
    /// Simulate a circuit and write a run directory (manifest.json, metrics.csv, figures).
    #[command(
        after_help = "Examples:\n  hetsim run circuits/teacher_fa.yaml\n  hetsim run circuits/teacher_fa.yaml --seeds 8 --set learning.tau_w=\"5 s\" --out runs/slow\n  hetsim run circuits/digits_tanh.yaml --duration 10s --backend cpu"
    )]
    Run {
        /// The circuit file (YAML).
        #[arg(required_unless_present = "resume")]
        circuit: Option<PathBuf>,
        /// Continue the run in RUN_DIR from its newest checkpoint (the circuit, seeds, backend
        /// and precision come from its manifest); the finished tables equal an uninterrupted
        /// run's.
        #[arg(long, value_name = "RUN_DIR", conflicts_with = "circuit")]
        resume: Option<PathBuf>,
        #[command(flatten)]
        options: RunOptions,
    },
    /// Run several rules on the same task and seeds as one ensemble; print a table and write a run directory.
    #[command(
        after_help = "Examples:\n  hetsim compare circuits/teacher_fa.yaml --rules sgd,fa,dfa,kp --seeds 3\n  hetsim compare circuits/digits_tanh.yaml --rules sgd,fa --duration 20s"
    )]
    Compare {
        /// The circuit file (YAML); its `learning:` block's rule is swapped for each of --rules.
        circuit: PathBuf,
        /// Comma-separated rules: sgd, fa, dfa, kp, four_synapse, hebbian, anti_hebbian, oja (four_synapse cannot share an ensemble with sgd, fa, dfa or kp).
        #[arg(long, value_delimiter = ',', default_value = "sgd,fa,dfa,kp")]
        rules: Vec<String>,
        #[command(flatten)]
        options: RunOptions,
    },
    /// Run a run directory again from its manifest alone (same circuit text, overrides, seeds,
    /// backend and precision); the tables come out byte for byte the same.
    #[command(
        after_help = "Examples:\n  hetsim rerun runs/fa\n  hetsim rerun runs/fa --out runs/fa-check"
    )]
    Rerun {
        /// A run directory written by `run`, `compare` or `rerun` (it holds manifest.json).
        run_dir: PathBuf,
        /// Where the rerun writes (default: <RUN_DIR>-rerun).
        #[arg(long)]
        out: Option<PathBuf>,
        /// Replace an existing run directory at --out.
        #[arg(long)]
        replace: bool,
        /// Skip the figures.
        #[arg(long)]
        no_plots: bool,
        #[command(flatten)]
        threads: ThreadsOption,
    },
    /// Sweep parameters (timescales, delays, decay, noise, …) over a grid of points, run as
    /// ensembles; writes summary.csv (one row per point × rule × seed), metrics.csv and
    /// figures. Killed or interrupted, it continues with --resume; --shard I/N runs one slice
    /// for a cluster job array, and `hetsim sweep merge` combines the slices.
    #[command(
        args_conflicts_with_subcommands = true,
        subcommand_negates_reqs = true,
        after_help = "Examples:\n  hetsim sweep configs/timescale_sweep.yaml --out runs/ts\n  hetsim sweep configs/timescale_sweep.yaml --dry-run\n  hetsim sweep configs/timescale_sweep.yaml --out runs/ts --resume\n  hetsim sweep configs/timescale_sweep.yaml --shard 3/16 --out runs/ts/shard-3\n  hetsim sweep merge runs/ts/shard-* --out runs/ts/all"
    )]
    Sweep {
        #[command(subcommand)]
        action: Option<SweepAction>,
        /// The sweep file (YAML), e.g. configs/timescale_sweep.yaml.
        #[arg(required = true)]
        config: Option<PathBuf>,
        /// Output directory (default: runs/sweep-<name>-<time stamp>); must be new or empty,
        /// unless --resume.
        #[arg(long)]
        out: Option<PathBuf>,
        /// Continue the sweep in --out: finished points are kept, the rest run.
        #[arg(long)]
        resume: bool,
        /// Run only shard I of N (the points whose index is I mod N), e.g. `--shard 3/16`.
        #[arg(long, value_name = "I/N")]
        shard: Option<String>,
        /// Print the points, the ensembles they pack into and the cost; run nothing.
        #[arg(long)]
        dry_run: bool,
        /// auto, cpu or opencl.
        #[arg(long, default_value = "auto")]
        backend: String,
        /// auto (f64 on the CPU, f32 on OpenCL devices), f64 or f32.
        #[arg(long, default_value = "auto")]
        precision: String,
        /// Instances per ensemble (default: the file's `ensemble_size`, else 256).
        #[arg(long, value_name = "N")]
        ensemble_size: Option<usize>,
        /// Override a circuit field after the file's `set:` (repeatable), e.g.
        /// `--set "task.stimulus.gap=50 ms"`. Recorded: --resume and merge need the same.
        #[arg(long = "set", value_name = "PATH=VALUE")]
        set: Vec<String>,
        /// Instances per point and rule instead of the file's `seeds:`. Recorded like --set.
        #[arg(long, value_name = "N")]
        seeds: Option<usize>,
        /// Simulated duration of every point (`time.duration`, e.g. `2s`), after --set; an
        /// axis over the duration still sets its own. Recorded like --set.
        #[arg(long, value_name = "T")]
        duration: Option<String>,
        /// Skip the figures.
        #[arg(long)]
        no_plots: bool,
        #[command(flatten)]
        threads: ThreadsOption,
        /// The memory an ensemble may plan to use (e.g. `64GiB`); default: HETSIM_MEMORY_BUDGET,
        /// else half the machine's memory.
        #[arg(long, value_name = "SIZE")]
        memory_budget: Option<String>,
    },
    /// Evolve plasticity rules: one ensemble per generation, the strategy's state saved after
    /// each, `--resume` to continue.
    #[command(
        after_help = "Examples:\n  hetsim evolve configs/evolve_forward.yaml --out runs/evolve-fw\n  hetsim evolve configs/evolve_forward.yaml --out runs/evolve-fw --resume\n  hetsim evolve configs/evolve_feedback.yaml --generations 3 --backend cpu"
    )]
    Evolve {
        /// The evolution file (YAML), e.g. configs/evolve_forward.yaml.
        config: PathBuf,
        /// Output directory (default: runs/evolve-<name>-<time stamp>); must be new or empty,
        /// unless --resume or --replace.
        #[arg(long)]
        out: Option<PathBuf>,
        /// Continue the evolution in --out from its saved state.
        #[arg(long, conflicts_with = "replace")]
        resume: bool,
        /// Empty --out first if it holds an evolution hetsim marked as its own.
        #[arg(long)]
        replace: bool,
        /// auto, cpu or opencl.
        #[arg(long, default_value = "auto")]
        backend: String,
        /// auto, f64 or f32.
        #[arg(long, default_value = "auto")]
        precision: String,
        /// Run this many generations instead of the file's (a quick check).
        #[arg(long)]
        generations: Option<u64>,
        /// Print what the evolution would cost (per generation and in total: members,
        /// instances, synapse-steps, memory, wall time at the rate measured here) and exit.
        #[arg(long, conflicts_with_all = ["resume", "replace"])]
        dry_run: bool,
        /// Score only shard I of N of the next generation's members and baselines into
        /// DIR/shards/ (the evolution in --out must exist); the next --resume takes a complete
        /// set of shard files instead of running the generation.
        #[arg(long, value_name = "I/N", conflicts_with_all = ["resume", "replace", "dry_run"])]
        shard: Option<String>,
        /// The memory a generation may plan to use (e.g. `64GiB`); default: HETSIM_MEMORY_BUDGET,
        /// else half the machine's memory.
        #[arg(long, value_name = "SIZE", requires = "scaling_parts")]
        memory_budget: Option<String>,
        #[command(flatten)]
        threads: ThreadsOption,
    },
    /// Redraw the figures of a run directory from its files.
    #[command(
        after_help = "Examples:\n  hetsim plot runs/teacher-fa\n  hetsim plot runs/teacher-fa --format svg"
    )]
    Plot {
        /// A run directory (manifest.json, metrics.csv, …) or an evolution directory.
        run_dir: PathBuf,
        /// svg, png or both.
        #[arg(long, default_value = "both")]
        format: String,
    },
    /// List OpenCL platforms and devices.
    #[command(
        after_help = "Examples:\n  hetsim devices\n  OCL_ICD_VENDORS=/etc/OpenCL/vendors hetsim devices"
    )]
    Devices,
    /// Print the JSON Schema of a file format (the text shipped in schema/), for editors.
    #[command(
        after_help = "Examples:\n  hetsim schema circuit > schema/circuit.schema.json\n  hetsim schema evolve"
    )]
    Schema {
        /// Which file format: circuit, evolve or sweep.
        #[arg(value_parser = ["circuit", "evolve", "sweep"])]
        kind: String,
    },
    /// Print a shell completion script.
    #[command(
        after_help = "Examples:\n  hetsim completions bash > ~/.local/share/bash-completion/completions/hetsim\n  hetsim completions zsh > ~/.zfunc/_hetsim\n  hetsim completions fish > ~/.config/fish/completions/hetsim.fish"
    )]
    Completions {
        /// The shell: bash, zsh, fish, elvish or powershell.
        shell: clap_complete::Shell,
    },
    /// Print the manual page (roff), or write every page into a directory (the pages shipped
    /// in man/).
    #[command(after_help = "Examples:\n  hetsim man | man -l -\n  hetsim man --out man/")]
    Man {
        /// Write hetsim.1 and one page per command (hetsim-run.1, …) into this directory
        /// instead of printing hetsim.1.
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// Measure synapse-steps per second on the benchmark workloads W1, W2 and W3.
    ///
    /// W1: 64 instances of the 30-20-10 linear FA teacher circuit, 10 s simulated. W2: one
    /// 784-1000-10 tanh circuit learning by Kolen–Pollack, 2 s. W3: W1 with weight decay,
    /// weight noise on both plastic matrices and noise on the hidden rates. Each is timed on the chosen
    /// backend and, for comparison in the same run, on the CPU backend.
    #[command(
        after_help = "Examples:\n  hetsim bench\n  hetsim bench --workload w1 --backend cpu\n  hetsim bench --workload w3 --backend opencl\n  hetsim bench --workload w1 --measure \"loss, gradient_alignment\"\n  hetsim bench --scaling --out runs/scaling\n  hetsim bench --scaling --quick --backend cpu\n  hetsim bench --sweep-cost --quick",
        group(clap::ArgGroup::new("scaling_parts").args(["scaling", "sweep_cost"]).multiple(true))
    )]
    Bench {
        /// auto, cpu or opencl.
        #[arg(long, default_value = "auto")]
        backend: String,
        /// w1, w2, w3 or all.
        #[arg(long, default_value = "all")]
        workload: String,
        /// Simulated seconds per workload (default: 10 s for W1 and W3, 2 s for W2).
        #[arg(long)]
        seconds: Option<f64>,
        /// Measurements recorded every 100 ms, e.g. "loss, gradient_alignment".
        #[arg(long, default_value = "loss")]
        measure: String,
        /// Instead of the workloads: W1 over 1 to 4,096 instances and one tanh circuit over 10³
        /// to 10⁷ synapses, with each point's peak memory (docs/scaling.md); on OpenCL, on the CPU
        /// backend too.
        #[arg(long, conflicts_with_all = ["workload", "seconds", "measure"])]
        scaling: bool,
        /// Instead of the workloads: sweeps of 10 to 10,000 points against the same instances
        /// run as one ensemble, wall time and peak memory (with --scaling: after it).
        #[arg(long, conflicts_with_all = ["workload", "seconds", "measure"])]
        sweep_cost: bool,
        /// With --scaling or --sweep-cost: fewer, smaller and shorter points (a look in a minute).
        #[arg(long, requires = "scaling_parts")]
        quick: bool,
        /// With --scaling: write scaling.csv and the figure scaling.png/.svg into this directory
        /// (with --sweep-cost: sweep_cost.csv). The sweep cost's scratch files go here too
        /// (default: the system's temporary folder), removed after each measurement.
        #[arg(long, value_name = "DIR", requires = "scaling_parts")]
        out: Option<PathBuf>,
        /// The memory the points may plan to use (e.g. `8GiB`): larger points are skipped with
        /// the reason; default: HETSIM_MEMORY_BUDGET, else half the machine's memory.
        #[arg(long, value_name = "SIZE", requires = "scaling_parts")]
        memory_budget: Option<String>,
        #[command(flatten)]
        threads: ThreadsOption,
    },
}

/// `hetsim sweep merge`.
#[derive(Subcommand, Debug)]
pub enum SweepAction {
    /// Combine the shard directories of one sweep into one; refuses when a point is missing
    /// or was finished twice.
    Merge {
        /// The shard directories (`--shard I/N --out DIR` of each array task).
        #[arg(required = true)]
        dirs: Vec<PathBuf>,
        /// The merged sweep directory (new or empty).
        #[arg(long)]
        out: PathBuf,
        /// Skip the figures.
        #[arg(long)]
        no_plots: bool,
    },
}

#[derive(clap::Args, Debug, Clone)]
pub struct RunOptions {
    /// auto (OpenCL when a device is present, else CPU), cpu or opencl.
    #[arg(long, default_value = "auto")]
    pub backend: String,
    /// Number of instances, with seeds seed, seed+1, ….
    #[arg(long, default_value_t = 1)]
    pub seeds: usize,
    /// First seed.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Override any circuit field: `--set populations.h.tau="2 ms"` (repeatable).
    #[arg(long = "set", value_name = "PATH=VALUE")]
    pub set: Vec<String>,
    /// Simulated duration, overriding `time.duration` (e.g. `20s`).
    #[arg(long)]
    pub duration: Option<String>,
    /// Run directory (default: runs/<circuit name>-<time stamp>). An existing non-empty
    /// directory is refused unless --replace is given.
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Replace the run directory given by --out if it holds an earlier run.
    #[arg(long)]
    pub replace: bool,
    /// auto (f64 on the CPU, the reference; f32 on OpenCL devices), f64 or f32.
    #[arg(long, default_value = "auto")]
    pub precision: String,
    /// Skip the figures.
    #[arg(long)]
    pub no_plots: bool,
    /// Save the complete state into RUN_DIR/checkpoint every this much simulated time (a
    /// multiple of record.every, e.g. `10s`), and when stopped by SIGINT/SIGTERM, so
    /// `hetsim run --resume RUN_DIR` can continue the run.
    #[arg(long, value_name = "TIME")]
    pub checkpoint_every: Option<String>,
    /// Start from the weights another run saved: RUN_DIR (its latest) or RUN_DIR@TIME (a
    /// `record.weights` snapshot time, or its start or end). Every plastic projection is
    /// taken from it, instance k from its instance k; activities start as the circuit says
    /// unless --carry activities.
    #[arg(long, value_name = "RUN_DIR[@TIME]")]
    pub from: Option<String>,
    /// With --from: `activities` also starts every rate population's u (and z = φ(u)) and every
    /// trace from that run's checkpoint, which must be at TIME (default: the checkpoint's time;
    /// a run with --checkpoint-every keeps one at its end); the weights then come from it too.
    #[arg(long, value_name = "WHAT", requires = "from")]
    pub carry: Option<Carry>,
    /// The memory a run may plan to use (e.g. `64GiB`); default: HETSIM_MEMORY_BUDGET, else half
    /// the machine's memory.
    #[arg(long, value_name = "SIZE")]
    pub memory_budget: Option<String>,
    #[command(flatten)]
    pub threads: ThreadsOption,
}

/// What `--carry` takes from the `--from` run besides its weights.
#[derive(clap::ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum Carry {
    /// Rate populations' u and z and every trace's q, from the run's checkpoint.
    Activities,
}

/// `--threads N`, on every command that runs.
#[derive(clap::Args, Debug, Clone, Copy)]
pub struct ThreadsOption {
    /// Threads for the simulation (default: every core, or RAYON_NUM_THREADS); also caps PoCL's
    /// CPU device. On a cluster, the task's CPUs (`--threads "$SLURM_CPUS_PER_TASK"`).
    #[arg(long = "threads", value_name = "N", value_parser = parse_threads)]
    count: Option<Threads>,
}

impl ThreadsOption {
    /// The count given, or rayon's global pool.
    pub fn get(self) -> Threads {
        self.count.unwrap_or_default()
    }
}

/// `--threads N`: a whole number, at least 1 (clap names the option in the error).
fn parse_threads(text: &str) -> Result<Threads, String> {
    Threads::parse(text)
}

impl Command {
    /// The thread count a running command asks for.
    fn threads(&self) -> Threads {
        match self {
            Command::Run { options, .. } | Command::Compare { options, .. } => {
                options.threads.get()
            }
            Command::Rerun { threads, .. }
            | Command::Sweep { threads, .. }
            | Command::Evolve { threads, .. }
            | Command::Bench { threads, .. } => threads.get(),
            _ => Threads::DEFAULT,
        }
    }
}

/// Caps PoCL's CPU device at `threads`. PoCL reads the count once, when the OpenCL platform
/// is first queried, so this runs before any command can touch OpenCL.
fn cap_pocl_threads(threads: Threads) {
    let Some(n) = threads.count() else {
        return;
    };
    for name in crate::experiment::threads::POCL_THREAD_VARIABLES {
        // SAFETY: called from `main_with_args` before any library starts a thread; the one
        // thread that exists (signals) waits for signals and never reads the environment.
        unsafe { std::env::set_var(name, n.to_string()) };
    }
}

/// Parses the process arguments and runs; returns the exit code.
pub fn main_with_args() -> i32 {
    // First, while this is the only thread: SIGINT/SIGTERM go to hetsim's own thread, never to
    // a handler a library installs.
    signals::install();
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let code = if e.use_stderr() { 2 } else { 0 };
            let _ = e.print();
            return code;
        }
    };
    // A file-size limit (`ulimit -f`) or quota would otherwise kill the process with SIGXFSZ in
    // the middle of a write; caught, the write fails with an error the run reports (the rows
    // already written stay whole and the manifest says `failed`).
    // SAFETY: the handler does nothing, which is async-signal-safe.
    let _ = unsafe { signal_hook::low_level::register(signal_hook::consts::SIGXFSZ, || {}) };
    out::set_verbosity(if cli.quiet {
        out::Verbosity::Quiet
    } else if cli.verbose {
        out::Verbosity::Verbose
    } else {
        out::Verbosity::Normal
    });
    cap_pocl_threads(cli.command.threads());
    let code = dispatch(cli, std::env::args().collect());
    out::exit_code_after_stdout(code)
}

/// The settings a running command's options describe, over the process's environment: the one
/// place the command line resolves them.
fn settings(explicit: &crate::settings::Explicit<'_>) -> Result<crate::settings::Settings, String> {
    crate::settings::Settings::resolve(explicit, &crate::settings::process_environment)
}

/// The memory budget of a command without `--memory-budget` (`validate`, `expand`): the
/// variable's, else the machine's; a value that does not parse is reported where a budget is
/// needed, as a located diagnostic naming the variable.
fn environment_budget() -> crate::circuit::budget::Budget {
    crate::circuit::budget::Budget::from_setting(crate::settings::environment_budget(
        &crate::settings::process_environment,
    ))
}
