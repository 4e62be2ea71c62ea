//! What each subcommand does, from parsed arguments to an exit code.

use super::{Cli, Command, RunOptions};
use crate::backend::{self, Backend, Precision};
use crate::circuit::{self, Circuit};
use crate::plan::{InstanceSpec, Plan};
use crate::record::{Manifest, Recorder, unix_now};
use crate::spec::{self, CircuitSpec, RuleName, SourceFile, Time};
use std::path::{Path, PathBuf};
use std::sync::Arc;

pub const EXIT_OK: i32 = 0;
pub const EXIT_FAILED: i32 = 1;
pub const EXIT_BAD_INPUT: i32 = 2;

pub fn dispatch(cli: Cli) -> i32 {
    match cli.command {
        Command::Validate { circuit } => validate(&circuit),
        Command::Expand { circuit, dot } => expand(&circuit, dot),
        Command::Run { circuit, options } => run(&circuit, &options),
        Command::Compare {
            circuit,
            rules,
            options,
        } => super::compare::compare(&circuit, &rules, &options),
        Command::Plot { run_dir, format } => plot(&run_dir, &format),
        Command::Sweep { .. } => not_yet("sweep"),
        Command::Evolve { .. } => not_yet("evolve"),
        Command::Devices => super::device::devices(),
        Command::Bench {
            backend,
            workload,
            seconds,
            measure,
        } => super::bench::bench(&backend, &workload, seconds, &measure),
    }
}

fn not_yet(what: &str) -> i32 {
    eprintln!("hetsim: `{what}` is not implemented yet");
    EXIT_FAILED
}

fn print_warnings(c: &Circuit) {
    for w in &c.warnings {
        eprintln!("warning: {w}");
    }
}

fn validate(path: &Path) -> i32 {
    match circuit::load(path) {
        Ok((_, c)) => {
            print_warnings(&c);
            println!("{}: ok — {}", path.display(), c.summary());
            EXIT_OK
        }
        Err(diagnostics) => {
            eprintln!("{diagnostics}");
            eprintln!("{}: {} error(s)", path.display(), diagnostics.0.len());
            EXIT_BAD_INPUT
        }
    }
}

fn expand(path: &Path, dot: bool) -> i32 {
    match circuit::load(path) {
        Ok((_, c)) => {
            print_warnings(&c);
            if dot {
                print!("{}", circuit::dot::to_dot(&c));
            } else {
                print!("{}", spec::to_yaml(&c.spec));
            }
            EXIT_OK
        }
        Err(diagnostics) => {
            eprintln!("{diagnostics}");
            EXIT_BAD_INPUT
        }
    }
}

fn plot(run_dir: &Path, format: &str) -> i32 {
    let Ok(formats) = format.parse::<crate::plot::Formats>() else {
        eprintln!("hetsim plot: --format must be svg, png or both, not `{format}`");
        return EXIT_BAD_INPUT;
    };
    match crate::plot::plot_run(run_dir, formats) {
        Ok(paths) => {
            for p in &paths {
                println!("{}", p.display());
            }
            EXIT_OK
        }
        Err(e) => {
            eprintln!("hetsim plot: {e}");
            EXIT_BAD_INPUT
        }
    }
}

/// A circuit file with the command line's overrides applied, ready to become instances.
pub struct Prepared {
    pub source: SourceFile,
    pub spec: CircuitSpec,
    pub overrides: Vec<String>,
}

/// Reads the file and applies `--set` and `--duration`; errors are printed here.
pub fn prepare(path: &Path, options: &RunOptions) -> Result<Prepared, i32> {
    let (source, mut spec) = spec::load_circuit(path).map_err(|d| {
        eprintln!("{d}");
        EXIT_BAD_INPUT
    })?;
    let mut sets = Vec::new();
    for text in &options.set {
        let Some((key, value)) = text.split_once('=') else {
            eprintln!("hetsim: --set needs PATH=VALUE, got `{text}`");
            return Err(EXIT_BAD_INPUT);
        };
        sets.push((key.trim().to_string(), value.trim().to_string()));
    }
    spec = spec::apply_overrides(&spec, &sets).map_err(|e| {
        eprintln!("hetsim: {e}");
        EXIT_BAD_INPUT
    })?;
    if let Some(d) = &options.duration {
        spec.time.duration = Time::parse(d).map_err(|e| {
            eprintln!("hetsim: --duration: {e}");
            EXIT_BAD_INPUT
        })?;
    }
    Ok(Prepared {
        source,
        spec,
        overrides: options.set.clone(),
    })
}

/// Builds a circuit from a (possibly modified) spec, printing diagnostics on failure.
pub fn build_circuit(source: &SourceFile, spec: &CircuitSpec) -> Result<Circuit, i32> {
    circuit::build(source, spec).map_err(|d| {
        eprintln!("{d}");
        EXIT_BAD_INPUT
    })
}

/// The label of a circuit's instances: its rule name, or `explicit`.
pub fn rule_label(spec: &CircuitSpec) -> String {
    spec.learning
        .as_ref()
        .map(|l| l.rule.name().to_string())
        .unwrap_or_else(|| "explicit".into())
}

/// The backend named on the command line; `auto` falls back to the CPU and says so.
///
/// Without a precision, the CPU runs f64 (the reference) and OpenCL devices f32.
pub fn make_backend(
    plan: Arc<Plan>,
    name: &str,
    precision: Option<Precision>,
) -> Result<(Box<dyn Backend>, String), i32> {
    let cpu_precision = precision.unwrap_or(Precision::F64);
    match name {
        "cpu" => Ok((backend::cpu::new(plan, cpu_precision), "cpu".into())),
        "auto" | "opencl" => {
            match super::device::opencl_backend(plan.clone(), precision.unwrap_or(Precision::F32)) {
                Ok((b, device)) => Ok((b, device)),
                Err(reason) if name == "auto" => {
                    eprintln!("hetsim: no OpenCL device ({reason}); running on the CPU");
                    Ok((backend::cpu::new(plan, cpu_precision), "cpu".into()))
                }
                Err(reason) => {
                    eprintln!("hetsim: --backend opencl: {reason}");
                    Err(EXIT_BAD_INPUT)
                }
            }
        }
        other => {
            eprintln!("hetsim: --backend must be auto, cpu or opencl, not `{other}`");
            Err(EXIT_BAD_INPUT)
        }
    }
}

pub fn default_out_dir(name: &str) -> PathBuf {
    let secs = unix_now() as u64;
    PathBuf::from("runs").join(format!("{name}-{secs}"))
}

/// Everything after the instances are known: plan, backend, run directory, progress, figures.
pub fn run_instances(
    circuit_path: &Path,
    instances: Vec<InstanceSpec>,
    options: &RunOptions,
    command: &str,
    overrides: Vec<String>,
) -> Result<(PathBuf, crate::run::RunOutcome, Arc<Plan>), i32> {
    let precision = match options.precision.as_str() {
        "auto" => None,
        text => match Precision::parse(text) {
            Some(p) => Some(p),
            None => {
                eprintln!("hetsim: --precision must be auto, f32 or f64, not `{text}`");
                return Err(EXIT_BAD_INPUT);
            }
        },
    };
    if instances.is_empty() {
        eprintln!("hetsim: --seeds must be at least 1");
        return Err(EXIT_BAD_INPUT);
    }
    let base = circuit_path
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_default();
    let plan = Arc::new(Plan::new(&instances, &base).map_err(|e| {
        eprintln!("hetsim: {e}");
        EXIT_BAD_INPUT
    })?);
    let (mut backend, device) = make_backend(plan.clone(), &options.backend, precision)?;
    let dir = options
        .out
        .clone()
        .unwrap_or_else(|| default_out_dir(&plan.name));
    let mut circuits = std::collections::BTreeMap::new();
    for inst in &instances {
        circuits
            .entry(inst.label.clone())
            .or_insert_with(|| spec::to_yaml(&inst.circuit.spec));
    }
    let mut notes = Vec::new();
    if plan.forward_order.is_none() {
        notes.push("gradient alignment, loss alignment and learning strength are not defined for recurrent forward pathways; they are not recorded".into());
    }
    if plan.method == crate::spec::Method::Rk4 {
        notes.push("rk4: window accumulators (ΔW of the rule, Hebbian terms) use the first stage of each step".into());
    }
    let mut labels: Vec<String> = Vec::new();
    for l in &plan.labels {
        if !labels.contains(l) {
            labels.push(l.clone());
        }
    }
    let manifest = Manifest {
        hetsim_version: env!("CARGO_PKG_VERSION").into(),
        circuit: plan.name.clone(),
        circuit_file: Some(circuit_path.display().to_string()),
        command: command.into(),
        status: "running".into(),
        backend: backend.describe(),
        device,
        // Every backend names its precision in its description ("cpu (f64, …)").
        precision: if backend.describe().contains("f32") {
            "f32".into()
        } else {
            "f64".into()
        },
        method: plan.method.name().into(),
        dt_s: plan.dt_s,
        duration_s: plan.steps as f64 * plan.dt_s,
        steps: plan.steps,
        record_every_s: plan.record_every_steps as f64 * plan.dt_s,
        measures: plan
            .measures
            .iter()
            // The names of circuit files (`gradient_alignment`), not Rust's.
            .map(|m| {
                serde_json::to_value(m)
                    .ok()
                    .and_then(|v| v.as_str().map(str::to_string))
                    .unwrap_or_default()
            })
            .collect(),
        instances: plan.n_instances(),
        seeds: plan.seeds.clone(),
        rules: labels,
        started_unix_s: unix_now(),
        ended_unix_s: None,
        wall_s: None,
        synapse_steps_per_s: None,
        peak_rss_bytes: None,
        notes,
        failures: Vec::new(),
        circuits,
        overrides,
    };
    let mut recorder = Recorder::create(&dir, &plan, manifest).map_err(|e| {
        eprintln!("hetsim: {e}");
        EXIT_FAILED
    })?;
    eprintln!(
        "hetsim: {} instance(s) of `{}` on {} → {}",
        plan.n_instances(),
        plan.name,
        backend.describe(),
        dir.display()
    );
    let bar = indicatif::ProgressBar::new(plan.steps);
    bar.set_style(
        indicatif::ProgressStyle::with_template("{bar:40} {percent}% simulated {msg} eta {eta}")
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    let dt = plan.dt_s;
    let outcome = crate::run::execute(&plan, backend.as_mut(), &mut recorder, &mut |step, _| {
        bar.set_position(step);
        bar.set_message(format!("{:.1} s", step as f64 * dt));
    });
    bar.finish_and_clear();
    let outcome = outcome.map_err(|e| {
        eprintln!("hetsim: {e}");
        EXIT_FAILED
    })?;
    for f in &outcome.failures {
        eprintln!("warning: {}", f.message);
    }
    if !options.no_plots {
        match crate::plot::plot_run(&dir, crate::plot::Formats::BOTH) {
            Ok(paths) => eprintln!(
                "hetsim: {} figure file(s) in {}",
                paths.len(),
                dir.join("figures").display()
            ),
            Err(e) => eprintln!("warning: figures not drawn: {e}"),
        }
    }
    Ok((dir, outcome, plan))
}

fn run(path: &Path, options: &RunOptions) -> i32 {
    let prepared = match prepare(path, options) {
        Ok(p) => p,
        Err(code) => return code,
    };
    let circuit = match build_circuit(&prepared.source, &prepared.spec) {
        Ok(c) => c,
        Err(code) => return code,
    };
    print_warnings(&circuit);
    let label = rule_label(&prepared.spec);
    let instances: Vec<InstanceSpec> = (0..options.seeds as u64)
        .map(|k| InstanceSpec {
            circuit: circuit.clone(),
            seed: options.seed + k,
            label: label.clone(),
        })
        .collect();
    let command = format!(
        "hetsim run {}",
        std::env::args().skip(2).collect::<Vec<_>>().join(" ")
    );
    match run_instances(path, instances, options, &command, prepared.overrides) {
        Ok((dir, outcome, plan)) => {
            summarize(&dir, &plan, &outcome);
            if outcome.failures.len() == plan.n_instances() {
                EXIT_FAILED
            } else {
                EXIT_OK
            }
        }
        Err(code) => code,
    }
}

fn summarize(dir: &Path, plan: &Plan, outcome: &crate::run::RunOutcome) {
    println!("run directory: {}", dir.display());
    println!(
        "{} instance(s), {:.1} s simulated in {:.1} s wall ({:.2e} synapse-steps/s)",
        plan.n_instances(),
        plan.steps as f64 * plan.dt_s,
        outcome.wall_s,
        outcome.synapse_steps_per_s
    );
    if let Ok(table) = super::compare::summary_table(dir) {
        print!("{table}");
    }
}

/// Replaces the rule of a shorthand circuit (for `compare`); kp gets a default decay if the
/// file has none.
pub fn with_rule(
    spec: &CircuitSpec,
    rule: RuleName,
) -> Result<(CircuitSpec, Option<String>), String> {
    let mut out = spec.clone();
    let learning = out
        .learning
        .as_mut()
        .ok_or("compare needs a circuit with a `learning:` block (the rule it swaps)")?;
    learning.rule = rule;
    let mut note = None;
    if rule == RuleName::Kp && learning.tau_decay.is_none() {
        let tau = Time::from_seconds(learning.tau_w.seconds() * 10.0);
        note = Some(format!(
            "kp: the circuit sets no tau_decay; using 10 × tau_w = {tau}"
        ));
        learning.tau_decay = Some(tau);
    }
    if rule != RuleName::Kp
        && spec
            .learning
            .as_ref()
            .is_some_and(|l| l.rule == RuleName::Kp)
    {
        learning.tau_decay = None;
    }
    Ok((out, note))
}
