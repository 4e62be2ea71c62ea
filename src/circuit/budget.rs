//! What a run of a checked circuit will cost, estimated before anything is allocated, and the
//! refusal of what exceeds the machine.
//!
//! A mistyped number in a circuit file (a `delay` of days, a `held_out` of 10¹², a `dt` of a
//! femtosecond) is valid YAML and a valid circuit, but the run would ask for terabytes or never
//! end. This module estimates, from the checked circuit alone, the memory a run holds per
//! instance and the number of integration steps, and refuses with a located diagnostic what
//! exceeds the budget — already in `hetsim validate`, with exit 2, instead of an abort in `run`.
//!
//! **The budget.** By default half of the memory this process may use: the machine's physical
//! memory (`MemTotal` in `/proc/meminfo`), lowered to the cgroup's limit where one is set (v2
//! `memory.max` of the process's own cgroup and the root, v1 `memory.limit_in_bytes`) and to
//! what the process's address-space and data limits (`ulimit -v`, `RLIMIT_AS` and
//! `RLIMIT_DATA`, common on clusters) leave beyond what it has mapped already; or
//! [`FALLBACK_BUDGET_BYTES`] where none can be read. Half, because the estimate is honest only
//! to about a factor of two and the rest (the OS, the recorder's buffers, other jobs, the
//! libraries an OpenCL platform maps) needs the other half. The environment variable
//! `HETSIM_MEMORY_BUDGET` (`8GiB`, `500MB`, a plain number of bytes) replaces the default, and a
//! command-line option may replace both; the front ends resolve which (`settings`) into a [`Budget`]
//! that travels with the job to every check of sizes — nothing here reads the environment, and
//! nothing holds a budget for the whole process (a job that checks many circuits at once, a
//! sweep's points, settles its budget first: [`Budget::settled`]). Neither can raise the budget past
//! the process's own limits, which no setting can lift.
//!
//! **The estimate** follows what the plan (`plan`) and the backends allocate per instance: the
//! initial weights and the backend's weights, window accumulators and RK4 stages (sixteen
//! numbers per plastic synapse and five per fixed one, counting the recorder's snapshots and
//! the measurements' copies, as measured with every measurement on), one
//! ring buffer of `delay steps + 1` presynaptic rate vectors per delayed projection, the held-out
//! inputs and targets and the activities of every population over the held-out set, and a data
//! set's rows. Everything is counted in f64 (8 bytes); the f32 backends need less.
//!
//! **Steps.** A run of more than [`MAX_STEPS`] steps is refused: even the smallest circuit takes
//! days for that many, so a step count that large is a mistyped `dt` or `duration` (and a count
//! past 2⁶⁴ would never end at all).

use super::{Circuit, OutputPath, Population, Projection};
use crate::spec::{CircuitSpec, Diagnostic, SourceFile, TaskSource, YamlPath};

/// The budget where the machine's memory cannot be read (not Linux, no /proc).
pub const FALLBACK_BUDGET_BYTES: u64 = 4 << 30;

/// The fraction of physical memory a run may plan to use.
pub const MACHINE_FRACTION: f64 = 0.5;

/// The environment variable that sets the budget.
pub const BUDGET_ENV: &str = "HETSIM_MEMORY_BUDGET";

/// The most integration steps a run may have: 10¹¹ steps take more than a day even for the
/// smallest circuit at 10⁸ steps per second.
pub const MAX_STEPS: f64 = 1e11;

/// Bytes of one stored number (the estimate counts f64 throughout).
const REAL: f64 = 8.0;

/// The memory a run may plan to use, in bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MemoryBudget {
    pub bytes: u64,
}

/// A budget the front end set and where it came from (`Ok(None)`: the machine's default), or
/// the message of a setting that does not parse, reported where a budget is needed.
pub type BudgetSetting = Result<Option<(MemoryBudget, BudgetSource)>, String>;

/// The memory budget a job runs under, as its front end resolved it (`settings`): a budget
/// that was set and where (the option or the variable), the machine's default, or a setting
/// that does not parse, reported where a budget is needed. It travels as a value — in the
/// requests, the sweep and evolution setups and the circuit checks — to every check of sizes,
/// so two jobs in one process may run under different budgets.
#[derive(Clone, Debug, PartialEq)]
pub struct Budget {
    setting: BudgetSetting,
    /// The budget in force as [`Budget::settled`] worked it out (None: worked out at each
    /// check).
    settled: Option<(MemoryBudget, BudgetSource)>,
}

impl Default for Budget {
    /// The machine's default: what a library caller gets without settings.
    fn default() -> Budget {
        Budget::machine()
    }
}

impl Budget {
    /// Half of what the machine (and the process's limits) allow, worked out where it is
    /// checked.
    pub fn machine() -> Budget {
        Budget {
            setting: Ok(None),
            settled: None,
        }
    }

    /// `budget`, set by `source` (the command line or the variable).
    pub fn set(budget: MemoryBudget, source: BudgetSource) -> Budget {
        let budget = MemoryBudget {
            bytes: budget.bytes.max(1),
        };
        Budget {
            setting: Ok(Some((budget, source))),
            settled: None,
        }
    }

    /// `budget` as if given on the command line.
    pub fn exactly(budget: MemoryBudget) -> Budget {
        Budget::set(budget, BudgetSource::Override)
    }

    /// A setting as the front end read it: set, the default, or a value that does not parse.
    pub fn from_setting(setting: BudgetSetting) -> Budget {
        match setting {
            Ok(Some((budget, source))) => Budget::set(budget, source),
            other => Budget {
                setting: other,
                settled: None,
            },
        }
    }

    /// The budget that was set and where, if one was (None: the machine's default); a setting
    /// that does not parse is its message.
    pub fn setting(&self) -> &BudgetSetting {
        &self.setting
    }

    /// The budget in force: the one set, else half the machine. A setting that did not parse
    /// is an error naming it.
    pub fn bytes(&self) -> Result<MemoryBudget, String> {
        self.resolve().map(|(b, _)| b)
    }

    /// This budget worked out once, now: the value returned answers every later check with
    /// the same budget and source without reading the machine's memory and the process's
    /// limits again. Reading them takes longer than checking a small circuit, so a job that
    /// checks many circuits in a moment (a sweep's points, an ensemble's) settles its budget
    /// first and carries the settled value. It is a value of that job, not a cache of the
    /// process: the next job (in a long-lived Python session, say) reads the machine afresh.
    /// A setting that does not parse stays as it is, its message reported where it is used.
    pub fn settled(&self) -> Budget {
        Budget {
            setting: self.setting.clone(),
            settled: self.settled.clone().or_else(|| self.resolve().ok()),
        }
    }

    /// The budget in force and where it came from.
    pub fn resolve(&self) -> Result<(MemoryBudget, BudgetSource), String> {
        if let Some(settled) = &self.settled {
            return Ok(settled.clone());
        }
        let chosen = self.chosen()?;
        // The process's own limit caps every budget: past it an allocation fails whatever
        // the setting says. The default keeps half of what is left, as it keeps half of the
        // machine; a budget the user set may use all of it.
        let fraction = match chosen.1 {
            BudgetSource::Machine { .. } | BudgetSource::Fallback => MACHINE_FRACTION,
            _ => 1.0,
        };
        Ok(match process_room() {
            Some((room, limit, mapped)) if ((room as f64 * fraction) as u64) < chosen.0.bytes => (
                MemoryBudget {
                    bytes: ((room as f64 * fraction) as u64).max(1),
                },
                BudgetSource::ProcessLimit {
                    limit,
                    mapped,
                    fraction,
                },
            ),
            _ => chosen,
        })
    }

    /// The budget set, else half the machine.
    fn chosen(&self) -> Result<(MemoryBudget, BudgetSource), String> {
        if let Some(set) = self.setting.clone()? {
            return Ok(set);
        }
        Ok(match physical_memory() {
            Some(physical) => (
                MemoryBudget {
                    bytes: (physical as f64 * MACHINE_FRACTION) as u64,
                },
                BudgetSource::Machine { physical },
            ),
            None => (
                MemoryBudget {
                    bytes: FALLBACK_BUDGET_BYTES,
                },
                BudgetSource::Fallback,
            ),
        })
    }

    /// How a user can get more memory for this budget (for messages elsewhere: sweeps,
    /// evolutions).
    pub fn how_to_raise(&self) -> &'static str {
        self.resolve()
            .map_or(RAISE_HINT, |(_, source)| raise_hint(&source))
    }

    /// [`Budget::resolve`]; a setting that does not parse is a diagnostic naming it.
    pub(crate) fn resolve_located(&self) -> Result<(MemoryBudget, BudgetSource), Diagnostic> {
        self.resolve().map_err(|e| {
            Diagnostic::outside_file(
                BUDGET_ENV,
                YamlPath::root(),
                e,
                Some("write e.g. `HETSIM_MEMORY_BUDGET=8GiB`".into()),
            )
        })
    }
}

/// Where a budget came from, for messages.
#[derive(Clone, Debug, PartialEq)]
pub enum BudgetSource {
    Override,
    Environment(String),
    Machine {
        physical: u64,
    },
    /// The process's address-space or data limit: `limit` bytes, of which `mapped` are in use;
    /// the budget is `fraction` of the rest.
    ProcessLimit {
        limit: u64,
        mapped: u64,
        fraction: f64,
    },
    Fallback,
}

impl MemoryBudget {
    /// Parses `8GiB`, `500MB`, `1.5 G`, `2048` (bytes). `k`, `M`, `G`, `T` alone are binary
    /// (as in `ulimit` and container limits); `kB`, `MB`, `GB`, `TB` are decimal.
    pub fn parse(text: &str) -> Result<MemoryBudget, String> {
        let t = text.trim();
        let split = t.find(|c: char| c.is_ascii_alphabetic()).unwrap_or(t.len());
        let (number, unit) = t.split_at(split);
        let value: f64 = number
            .trim()
            .parse()
            .map_err(|_| format!("`{t}` is not a size: write e.g. `8GiB` or `500MB`"))?;
        let scale = match unit.trim() {
            "" | "B" => 1.0,
            "kB" | "KB" => 1e3,
            "MB" => 1e6,
            "GB" => 1e9,
            "TB" => 1e12,
            "k" | "K" | "KiB" => 1024.0,
            "M" | "MiB" => 1024f64.powi(2),
            "G" | "GiB" => 1024f64.powi(3),
            "T" | "TiB" => 1024f64.powi(4),
            other => {
                return Err(format!(
                    "unknown unit `{other}` (use B, kB, MB, GB, TB, KiB, MiB, GiB or TiB)"
                ));
            }
        };
        let bytes = value * scale;
        if !(bytes.is_finite() && bytes >= 1.0) {
            return Err(format!("`{t}` is not a positive size"));
        }
        Ok(MemoryBudget {
            bytes: bytes.min(u64::MAX as f64) as u64,
        })
    }
}

impl std::fmt::Display for MemoryBudget {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&human_bytes(self.bytes as f64))
    }
}

fn describe(source: &BudgetSource) -> String {
    match source {
        BudgetSource::Override => "set on the command line".into(),
        BudgetSource::Environment(text) => format!("{BUDGET_ENV}={text}"),
        BudgetSource::Machine { physical } => format!(
            "{:.0}% of the machine's {}",
            MACHINE_FRACTION * 100.0,
            human_bytes(*physical as f64)
        ),
        BudgetSource::ProcessLimit {
            limit,
            mapped,
            fraction,
        } => format!(
            "{:.0}% of what the process's memory limit (`ulimit -v` or `ulimit -d`: {}) leaves beyond the {} it has mapped",
            fraction * 100.0,
            human_bytes(*limit as f64),
            human_bytes(*mapped as f64)
        ),
        BudgetSource::Fallback => "the default where physical memory cannot be read".into(),
    }
}

const RAISE_HINT: &str = "raise the budget with `HETSIM_MEMORY_BUDGET=64GiB` (or `--memory-budget 64GiB`) if the machine has the memory";

/// How a user can get more: a setting raises the budget, but nothing inside the process lifts
/// its own limit.
fn raise_hint(source: &BudgetSource) -> &'static str {
    match source {
        BudgetSource::ProcessLimit { .. } => {
            "raise the process's memory limit (`ulimit -v`, or the memory a cluster job asks for, e.g. Slurm's `--mem`)"
        }
        _ => RAISE_HINT,
    }
}

/// Physical memory in bytes: `MemTotal`, or the cgroup's limit when that is lower.
fn physical_memory() -> Option<u64> {
    let meminfo = std::fs::read_to_string("/proc/meminfo").ok()?;
    let total_kib: u64 = meminfo
        .lines()
        .find_map(|l| l.strip_prefix("MemTotal:"))?
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .ok()?;
    let total = total_kib.saturating_mul(1024);
    Some(cgroup_limits().into_iter().fold(total, u64::min))
}

/// The memory limits of the cgroups this process is in: v2 `memory.max` of its own cgroup and
/// of the root, v1 `memory.limit_in_bytes` (where unlimited, v1 reports a huge number, which
/// the minimum with physical memory discards).
fn cgroup_limits() -> Vec<u64> {
    let read = |path: String| {
        std::fs::read_to_string(path)
            .ok()
            .and_then(|s| s.trim().parse::<u64>().ok())
    };
    let mut files = vec![
        "/sys/fs/cgroup/memory.max".to_string(),
        "/sys/fs/cgroup/memory/memory.limit_in_bytes".to_string(),
    ];
    if let Ok(own) = std::fs::read_to_string("/proc/self/cgroup") {
        for line in own.lines() {
            // `0::/path` (v2) or `N:memory:/path` (v1).
            let mut fields = line.splitn(3, ':');
            let (_, controllers, path) = (fields.next(), fields.next(), fields.next());
            let Some(path) = path.filter(|p| !p.contains("..")) else {
                continue;
            };
            match controllers {
                Some("") => files.push(format!("/sys/fs/cgroup{path}/memory.max")),
                Some(c) if c.split(',').any(|c| c == "memory") => {
                    files.push(format!("/sys/fs/cgroup/memory{path}/memory.limit_in_bytes"))
                }
                _ => {}
            }
        }
    }
    files.into_iter().filter_map(read).collect()
}

/// What the process's address-space and data limits (`RLIMIT_AS`, `RLIMIT_DATA`, soft) leave
/// it beyond what it has mapped: `(room, limit, mapped)` for the tighter of the two, or `None`
/// where neither is set.
fn process_room() -> Option<(u64, u64, u64)> {
    let limits = [
        (ProcessLimit::AddressSpace, "VmSize:"),
        (ProcessLimit::Data, "VmData:"),
    ]
    .map(|(which, key)| (which.soft(), key));
    // Most processes have neither limit: then what is mapped does not matter, and is not read.
    if limits.iter().all(|(limit, _)| limit.is_none()) {
        return None;
    }
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let kib = |key: &str| -> u64 {
        status
            .lines()
            .find_map(|l| l.strip_prefix(key))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
            .map_or(0, |k| k.saturating_mul(1024))
    };
    limits
        .into_iter()
        .filter_map(|(limit, key)| {
            let limit = limit?;
            let mapped = kib(key);
            Some((limit.saturating_sub(mapped), limit, mapped))
        })
        .min_by_key(|&(room, _, _)| room)
}

/// The two process limits that bound how much a process can allocate.
#[derive(Clone, Copy)]
enum ProcessLimit {
    AddressSpace,
    Data,
}

impl ProcessLimit {
    /// The soft limit in bytes, `None` when unlimited or unreadable.
    #[cfg(unix)]
    #[allow(clippy::unnecessary_cast)] // `rlim_t` is narrower than u64 on some targets
    fn soft(self) -> Option<u64> {
        let mut lim = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        // SAFETY: getrlimit writes one `rlimit` into the struct it is given.
        let ok = unsafe {
            match self {
                ProcessLimit::AddressSpace => libc::getrlimit(libc::RLIMIT_AS, &mut lim),
                ProcessLimit::Data => libc::getrlimit(libc::RLIMIT_DATA, &mut lim),
            }
        } == 0;
        (ok && lim.rlim_cur != libc::RLIM_INFINITY).then_some(lim.rlim_cur as u64)
    }

    #[cfg(not(unix))]
    fn soft(self) -> Option<u64> {
        None
    }
}

/// `1.5 GiB`, `300 MiB`, `12 KiB`, `800 B`.
pub fn human_bytes(bytes: f64) -> String {
    const UNITS: [&str; 7] = ["B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"];
    let mut value = bytes;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    if unit == UNITS.len() - 1 && value >= 1024.0 {
        return format!("{bytes:.1e} B");
    }
    if unit == 0 {
        format!("{value:.0} B")
    } else {
        format!("{value:.1} {}", UNITS[unit])
    }
}

/// One part of a run's memory, located at the setting that sizes it.
#[derive(Clone, Debug)]
pub struct Part {
    pub path: YamlPath,
    pub what: String,
    pub bytes: f64,
    /// Rows of a table the run writes (reduced by sampling less), not state it holds.
    pub table: bool,
}

/// The pieces of a circuit the estimate reads; available inside the checks before a
/// [`Circuit`] exists.
pub(crate) struct View<'a> {
    pub spec: &'a CircuitSpec,
    pub populations: &'a [Population],
    pub projections: &'a [Projection],
    pub output: Option<&'a OutputPath>,
    /// The folder a relative CSV path is read from.
    pub base_dir: &'a std::path::Path,
}

impl<'a> View<'a> {
    pub fn of(c: &'a Circuit) -> Self {
        View {
            spec: &c.spec,
            populations: &c.populations,
            projections: &c.projections,
            output: c.output.as_ref(),
            base_dir: &c.source_dir,
        }
    }
}

/// The memory of one instance of a run, part by part (f64 bytes, never overflowing).
pub(crate) fn instance_parts(v: &View) -> Vec<Part> {
    let dt = v.spec.time.dt.seconds();
    let steps_of = |seconds: f64| (seconds / dt).round();
    let error_delay = steps_of(v.spec.task.stimulus.error_delay.seconds());
    let size = |i: usize| v.populations[i].size as f64;
    let mut parts = Vec::new();
    for p in v.projections {
        let synapses = size(p.from) * size(p.to);
        // Initial weights in the plan, the backend's weights, snapshots and the measurements'
        // matrix copies; plastic projections add the window accumulators (ΔW_rule, backprop
        // reference, Hebbian terms) and RK4 stages. Measured: a 2000 × 2000 plastic matrix
        // (kp, every measurement) peaks at about 180 bytes per synapse in one instance.
        let copies = if p.motif.is_some() { 16.0 } else { 5.0 };
        parts.push(Part {
            path: YamlPath::of(&["projections", &p.name]),
            what: format!("the weights of `{}` ({synapses:.0} synapses)", p.name),
            bytes: synapses * copies * REAL,
            table: false,
        });
        if !p.wiring.is_all() {
            // The plan's mask, the backend's per-lane copy and its uniforms while drawn, and
            // the CPU's sparse layout: a 4-byte column index per synapse (counted as if every
            // synapse were present, an upper bound).
            parts.push(Part {
                path: YamlPath::of(&["projections", &p.name, "connectivity"]),
                what: format!("the mask of `{}` ({synapses:.0} synapses)", p.name),
                bytes: synapses * (3.0 * REAL + 4.0),
                table: false,
            });
        }
        let into_output_error = v
            .output
            .is_some_and(|o| p.to == o.error && (p.from == o.output || p.from == o.target));
        let own = steps_of(p.delay_s);
        let extra = if into_output_error { error_delay } else { 0.0 };
        let delay = own + extra;
        if delay > 0.0 {
            let path = if extra > own {
                YamlPath::of(&["task", "stimulus", "error_delay"])
            } else {
                YamlPath::of(&["projections", &p.name, "delay"])
            };
            parts.push(Part {
                path,
                what: format!(
                    "the delay buffer of `{}` ({delay:.0} steps of {} rates)",
                    p.name, v.populations[p.from].size
                ),
                bytes: (delay + 1.0) * size(p.from) * REAL,
                table: false,
            });
        }
    }
    // Population state (u, z, input, scratch, RK4 stages): a handful of vectors each.
    let units: f64 = v.populations.iter().map(|p| p.size as f64).sum();
    parts.push(Part {
        path: YamlPath::of(&["populations"]),
        what: format!("the state of {units:.0} units"),
        bytes: units * 12.0 * REAL,
        table: false,
    });
    // The task's shape, as the plan will build it: without a target population a
    // classification task's targets are as wide as its classes.
    let role_size = |role: crate::spec::Role| {
        v.populations
            .iter()
            .find(|p| p.role == role)
            .map(|p| p.size)
    };
    let inputs = role_size(crate::spec::Role::Input).unwrap_or(0);
    let params = super::task_params(v.spec, inputs, role_size(crate::spec::Role::Target)).ok();
    let (inputs, targets) = params.as_ref().map_or((inputs as f64, 1.0), |p| {
        (p.n_inputs as f64, p.n_targets as f64)
    });
    // The held-out set (inputs and targets) and every population's activity over it.
    let t = &v.spec.task;
    let rows = dataset_rows(v);
    let held_out = match rows {
        Some(r) => (t.held_out as f64).min(r),
        None => t.held_out as f64,
    };
    parts.push(Part {
        path: YamlPath::of(&["task", "held_out"]),
        what: format!(
            "the held-out set ({held_out:.0} samples of {inputs:.0} inputs and {targets:.0} targets, over {units:.0} units)"
        ),
        bytes: held_out * (units * 2.0 + inputs + targets) * REAL,
        table: false,
    });
    // A data set is read once per instance: the parsed table and its inputs and targets.
    if let Some(rows) = rows {
        let width = task_width(v);
        parts.push(Part {
            path: YamlPath::of(&["task", "path"]),
            what: format!("the data set ({rows:.0} rows)"),
            bytes: rows * width * 2.0 * REAL,
            table: false,
        });
    }
    // The task's teacher: hidden × (inputs + targets) for the tanh teacher, targets × inputs
    // (targets = classes) otherwise.
    let teacher = match &t.source {
        TaskSource::TanhTeacher(teacher) => {
            teacher.hidden.unwrap_or(50) as f64 * (inputs + targets)
        }
        TaskSource::GaussianMixture(_) | TaskSource::LinearTeacher(_) => targets * inputs,
        TaskSource::Digits(_) | TaskSource::Csv(_) => 0.0,
    };
    if teacher > 0.0 {
        parts.push(Part {
            path: YamlPath::of(&["task"]),
            what: "the task's teacher".into(),
            bytes: teacher * REAL,
            table: false,
        });
    }
    parts
}

/// Bytes one row of a sampled table (`probes.csv`, `weight_snapshots.csv`, `plasticity.csv`)
/// takes on disk or in the in-memory collector: a few numbers, indices and a shared name.
pub const ROW_BYTES: f64 = 56.0;

/// Bytes one row of `metrics.csv` takes (a dozen numbers and the projection's name).
const METRICS_ROW_BYTES: f64 = 160.0;

/// The tables a run of `instances` instances writes, part by part: every row is held by the
/// in-memory collector (Python, evolutions), and a run directory's tables should not outgrow
/// what the machine could hold either. Instance lists (`instances: [0, 3]`) count as written,
/// `all` as `instances`.
pub(crate) fn table_parts(v: &View, instances: f64) -> Vec<Part> {
    let r = &v.spec.record;
    let dt = v.spec.time.dt.seconds();
    let steps = (v.spec.time.duration.seconds() / dt).round();
    // Samples at t = 0 and every `every` after it.
    let samples = |every: Option<crate::spec::Time>| {
        let every = every.unwrap_or(r.every).seconds() / dt;
        (steps / every.round().max(1.0)).floor() + 1.0
    };
    let count = |list: &crate::spec::Indices| match list {
        crate::spec::Indices::All => instances,
        crate::spec::Indices::Only(v) => v.len() as f64,
    };
    let plastic = v.projections.iter().filter(|p| p.motif.is_some()).count() as f64;
    let mut parts = vec![Part {
        path: YamlPath::of(&["record", "every"]),
        what: "the rows of metrics.csv".into(),
        bytes: samples(None) * instances * (plastic + 1.0) * METRICS_ROW_BYTES,
        table: true,
    }];
    for (i, p) in r.probes.iter().enumerate() {
        let size = v
            .populations
            .iter()
            .find(|q| q.name == p.population)
            .map_or(0, |q| q.size);
        parts.push(Part {
            path: YamlPath::of(&["record", "probes"]).index(i),
            what: format!("the rows of probes.csv for `{}`", p.population),
            bytes: samples(p.every) * p.units.count(size) as f64 * count(&p.instances) * ROW_BYTES,
            table: true,
        });
    }
    if let Some(w) = &r.weights {
        let chosen = v.projections.iter().filter(|p| match &w.projections {
            Some(names) => names.contains(&p.name),
            None => p.motif.is_some(),
        });
        let per_instance: f64 = chosen
            .map(|p| match &w.synapses {
                crate::spec::Synapses::All => {
                    v.populations[p.from].size as f64 * v.populations[p.to].size as f64
                }
                crate::spec::Synapses::Only(pairs) => pairs.len() as f64,
            })
            .sum();
        parts.push(Part {
            path: YamlPath::of(&["record", "weights"]),
            what: "the rows of weight_snapshots.csv".into(),
            bytes: samples(w.every) * per_instance * count(&w.instances) * ROW_BYTES,
            table: true,
        });
    }
    if let Some(pc) = &r.plasticity_curve {
        parts.push(Part {
            path: YamlPath::of(&["record", "plasticity_curve"]),
            what: format!(
                "the rows of plasticity.csv ({} post rates per sample)",
                pc.post_rates.count
            ),
            bytes: samples(pc.every)
                * pc.post_rates.count as f64
                * pc.instances.len() as f64
                * ROW_BYTES,
            table: true,
        });
    }
    parts
}

/// Rows of the task's data set, when it has one (the CSV's size is estimated from the file's
/// length: a number and its comma take at least two bytes).
fn dataset_rows(v: &View) -> Option<f64> {
    match &v.spec.task.source {
        TaskSource::Digits(_) => Some(1797.0),
        TaskSource::Csv(data) => {
            let path = &data.path;
            let len = std::fs::metadata(v.base_dir.join(path))
                .ok()
                .filter(|m| m.is_file())
                .map_or(0, |m| m.len())
                .min(crate::task::MAX_CSV_BYTES);
            Some((len as f64 / (2.0 * task_width(v))).max(1.0))
        }
        _ => None,
    }
}

fn task_width(v: &View) -> f64 {
    match v.spec.task.source {
        TaskSource::Digits(_) => 74.0,
        _ => v
            .populations
            .iter()
            .filter(|p| p.role.is_driven())
            .map(|p| p.size as f64)
            .sum::<f64>()
            .max(1.0),
    }
}

/// The estimate for one instance, in bytes.
pub fn instance_bytes(circuit: &Circuit) -> f64 {
    instance_parts(&View::of(circuit))
        .iter()
        .map(|p| p.bytes)
        .sum()
}

/// Memory every run holds once, whatever its instance count (the program, the embedded data,
/// the recorder's buffers).
pub const SHARED_BYTES: f64 = 64.0 * 1024.0 * 1024.0;

/// Refuses a single instance that exceeds the budget, or a step count that could not finish,
/// with diagnostics at the settings responsible.
pub(crate) fn check_view(
    source: &SourceFile,
    v: &View,
    budget: MemoryBudget,
    budget_source: &BudgetSource,
) -> Vec<Diagnostic> {
    let mut out = Vec::new();
    let time = &v.spec.time;
    let steps = time.duration.seconds() / time.dt.seconds();
    if steps.is_nan() || steps > MAX_STEPS {
        // Blame the setting that is further from ordinary: a dt below a microsecond, or else
        // the duration.
        let path = if time.dt.seconds() < 1e-6 {
            YamlPath::of(&["time", "dt"])
        } else {
            YamlPath::of(&["time", "duration"])
        };
        out.push(source.diagnostic(
            path,
            format!(
                "duration {} at dt = {} is {steps:.3e} steps, more than the {MAX_STEPS:.0e} a run may have (days of computing even for the smallest circuit)",
                time.duration, time.dt
            ),
            Some("check the units of `dt` and `duration`, e.g. `dt: 0.1 ms`, `duration: 10 s`".into()),
        ));
    }
    let mut parts = instance_parts(v);
    parts.extend(table_parts(v, 1.0));
    let total: f64 = parts.iter().map(|p| p.bytes).sum::<f64>() + SHARED_BYTES;
    if total > budget.bytes as f64 {
        let largest = parts
            .iter()
            .max_by(|a, b| a.bytes.total_cmp(&b.bytes))
            .expect("a circuit has populations");
        out.push(source.diagnostic(
            largest.path.clone(),
            format!(
                "the run would need about {} of memory, more than the budget of {} ({}); most of it is {}: {}",
                human_bytes(total),
                budget,
                describe(budget_source),
                largest.what,
                human_bytes(largest.bytes)
            ),
            Some(if largest.table {
                format!(
                    "sample less often (`every`), or record fewer units, synapses or instances, or {}",
                    raise_hint(budget_source)
                )
            } else {
                format!("reduce this setting, or {}", raise_hint(budget_source))
            }),
        ));
    }
    out
}

/// Whether `instances` instances of `circuit` fit the budget; the message names the instance
/// count, the estimate and the budget. For the run layer, before it builds a plan.
/// `setting` is the budget the job runs under, which `budget` is (or a part of, where the job
/// keeps the rest for itself).
pub fn check_instances(
    circuit: &Circuit,
    instances: usize,
    budget: &MemoryBudget,
    setting: &Budget,
) -> Result<(), String> {
    let view = View::of(circuit);
    let per_instance = instance_bytes(circuit);
    let tables = table_parts(&view, instances as f64);
    let table_bytes: f64 = tables.iter().map(|p| p.bytes).sum();
    let total = per_instance * instances as f64 + table_bytes + SHARED_BYTES;
    if total <= budget.bytes as f64 {
        return Ok(());
    }
    // Where the budget in force is the one passed, say where it came from.
    let (from, hint) = match setting.resolve() {
        Ok((b, source)) if b == *budget => {
            (format!(" ({})", describe(&source)), raise_hint(&source))
        }
        _ => (String::new(), RAISE_HINT),
    };
    let largest_table = tables.iter().max_by(|a, b| a.bytes.total_cmp(&b.bytes));
    if let Some(t) = largest_table.filter(|t| t.bytes > per_instance * instances as f64) {
        return Err(format!(
            "{instances} instances of `{}` would write about {} of tables, more than the memory budget of {budget}{from}; most of it is {} ({}, at `{}`)\n  hint: sample less often (`every`), or record fewer units, synapses or instances, or {hint}",
            circuit.spec.name,
            human_bytes(table_bytes),
            t.what,
            human_bytes(t.bytes),
            t.path,
        ));
    }
    // Tables of `all` instances grow with the count too.
    let tables_per_instance: f64 = table_parts(&view, 1.0).iter().map(|p| p.bytes).sum();
    let fit = ((budget.bytes as f64 - SHARED_BYTES) / (per_instance + tables_per_instance))
        .floor()
        .max(0.0);
    Err(format!(
        "{instances} instances of `{}` would need about {} of memory ({} per instance), more than the budget of {budget}{from}; {fit:.0} instances fit\n  hint: run fewer instances (`--seeds`), or {hint}",
        circuit.spec.name,
        human_bytes(total),
        human_bytes(per_instance),
    ))
}

/// Whether reading `file` (a saved weights file or table), which takes `bytes` of memory
/// (`what` says how much of what), fits the budget: asked before the file is read, so an
/// oversized one is refused naming the file and the size, not read.
pub fn check_read(
    file: &std::path::Path,
    what: &str,
    bytes: f64,
    setting: &Budget,
) -> Result<(), String> {
    let (budget, source) = setting.resolve()?;
    if bytes <= budget.bytes as f64 {
        return Ok(());
    }
    Err(format!(
        "{}: reading it would take about {} of memory ({what}), more than the memory budget of {budget} ({})\n  hint: {}",
        file.display(),
        human_bytes(bytes),
        describe(&source),
        raise_hint(&source)
    ))
}

/// Asks the allocator for `bytes` and gives them back at once: where the process cannot have
/// them (its address-space limit, the kernel's overcommit check, a cgroup already near its
/// limit), the answer is a message naming the amount, not an abort at some later allocation.
/// Pages are never touched, so this costs no memory.
pub fn reserve(bytes: f64, instances: usize) -> Result<(), String> {
    let wanted = bytes.max(0.0).min(usize::MAX as f64) as usize;
    let mut probe: Vec<u8> = Vec::new();
    probe.try_reserve_exact(wanted).map_err(|_| {
        format!(
            "{} would need about {} of memory, which this process cannot allocate (its memory limit, `ulimit -v`, or the machine's free memory)\n  hint: run fewer instances or a smaller circuit, or raise the process's limit",
            crate::text::count(instances, "instance"),
            human_bytes(bytes)
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_parse_in_both_conventions() {
        assert_eq!(MemoryBudget::parse("8GiB").unwrap().bytes, 8 << 30);
        assert_eq!(MemoryBudget::parse("500MB").unwrap().bytes, 500_000_000);
        assert_eq!(MemoryBudget::parse("1.5 G").unwrap().bytes, 3 << 29);
        assert_eq!(MemoryBudget::parse("2048").unwrap().bytes, 2048);
        assert!(MemoryBudget::parse("lots").is_err());
        assert!(MemoryBudget::parse("8 parsecs").is_err());
        assert!(MemoryBudget::parse("-1GB").is_err());
    }

    #[test]
    fn a_settled_budget_answers_as_it_resolved_and_a_bad_setting_stays_its_message() {
        let set = Budget::exactly(MemoryBudget { bytes: 12_345 });
        assert_eq!(set.settled().resolve(), set.resolve());
        let machine = Budget::machine().settled();
        let first = machine.resolve().unwrap();
        assert!(first.0.bytes >= 1);
        // Settled once: every later answer is the first, and settling again changes nothing.
        assert_eq!(machine.resolve().unwrap(), first);
        assert_eq!(machine.settled(), machine);
        // The setting itself is unchanged (what the front end set, for messages).
        assert_eq!(machine.setting(), Budget::machine().setting());
        let bad = Budget::from_setting(Err("`lots` is not a size".into())).settled();
        assert_eq!(bad.bytes(), Err("`lots` is not a size".to_string()));
    }

    #[test]
    fn a_reservation_the_allocator_cannot_give_is_a_message() {
        assert!(reserve(1e6, 1).is_ok());
        let e = reserve(1e30, 3).unwrap_err();
        assert!(
            e.contains("3 instances") && e.contains("cannot allocate"),
            "{e}"
        );
    }

    #[test]
    fn bytes_read_in_human_units() {
        assert_eq!(human_bytes(512.0), "512 B");
        assert_eq!(human_bytes(1.5 * 1024.0 * 1024.0 * 1024.0), "1.5 GiB");
        assert!(human_bytes(1e300).contains('e'));
    }
}
