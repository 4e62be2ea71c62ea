//! The rows of `instances.csv` and `weights.csv`, defined once: the run-directory recorder
//! writes them and the in-memory collector keeps them, so both hold identical tables.

use crate::backend::Snapshot;
use crate::plan::Plan;
use crate::rule::Term;

/// A table as strings: a header and rows of equal length (empty cells where a value does not
/// apply to an instance).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Table {
    pub header: Vec<String>,
    pub rows: Vec<Vec<String>>,
}

impl Table {
    /// The cells of one column, by header name.
    pub fn column(&self, name: &str) -> Option<Vec<&str>> {
        let c = self.header.iter().position(|h| h == name)?;
        Some(self.rows.iter().map(|r| r[c].as_str()).collect())
    }
}

/// A number as the tables write it: shortest text that parses back to the same f64.
fn num(x: f64) -> String {
    format!("{x}")
}

/// One column of `instances.csv`: its name and, per instance, its value where it applies.
struct Column {
    name: String,
    cells: Vec<Option<String>>,
}

/// `instances.csv`: one row per instance with every per-instance value that can vary —
/// seed, rule, label, stimulus timing, τ, bias and noise per population, delay per projection,
/// and τ_w, τ_decay, weight noise and θ per plastic projection — with cells only where they
/// apply (no τ for an input, no τ_w for a fixed or tied matrix, nothing for an element the
/// instance's circuit does not have).
pub fn instances_table(plan: &Plan) -> Table {
    let e_count = plan.n_instances();
    let each = |f: &dyn Fn(usize) -> Option<String>| (0..e_count).map(f).collect::<Vec<_>>();
    let mut columns = vec![
        Column {
            name: "instance".into(),
            cells: each(&|e| Some(e.to_string())),
        },
        Column {
            name: "seed".into(),
            cells: each(&|e| Some(plan.seeds[e].to_string())),
        },
        Column {
            name: "rule".into(),
            cells: each(&|e| {
                Some(
                    plan.labels[e]
                        .split_whitespace()
                        .next()
                        .unwrap_or("")
                        .to_string(),
                )
            }),
        },
        Column {
            name: "label".into(),
            cells: each(&|e| Some(plan.labels[e].clone())),
        },
        Column {
            name: "stimulus_s".into(),
            cells: each(&|e| Some(num(plan.timing[e].present_steps as f64 * plan.dt_s))),
        },
        Column {
            name: "gap_s".into(),
            cells: each(&|e| {
                let t = plan.timing[e];
                Some(num((t.period_steps - t.present_steps) as f64 * plan.dt_s))
            }),
        },
        Column {
            name: "error_delay_s".into(),
            cells: each(&|e| {
                Some(num(plan.circuits[e]
                    .spec
                    .task
                    .stimulus
                    .error_delay
                    .seconds()))
            }),
        },
    ];
    let has_population =
        |e: usize, name: &str| plan.circuits[e].populations.iter().any(|p| p.name == name);
    for (k, p) in plan.populations.iter().enumerate() {
        let driven = matches!(p.role, crate::spec::Role::Input | crate::spec::Role::Target);
        if driven {
            continue;
        }
        let pop = &plan.populations[k];
        if !p.instantaneous {
            columns.push(Column {
                name: format!("tau_s:{}", p.name),
                cells: each(&|e| has_population(e, &pop.name).then(|| num(pop.tau_s[e]))),
            });
        }
        columns.push(Column {
            name: format!("bias:{}", p.name),
            cells: each(&|e| has_population(e, &pop.name).then(|| num(pop.bias[e]))),
        });
        columns.push(Column {
            name: format!("noise:{}", p.name),
            cells: each(&|e| has_population(e, &pop.name).then(|| num(pop.noise[e]))),
        });
    }
    for p in &plan.projections {
        if p.max_delay() == 0 {
            continue;
        }
        columns.push(Column {
            name: format!("delay_s:{}", p.name),
            cells: each(&|e| (p.sign[e] != 0.0).then(|| num(p.delay_steps[e] as f64 * plan.dt_s))),
        });
    }
    for m in &plan.motifs {
        let p = &plan.projections[m.projection];
        // Plastic in instance e: the instance has the projection, it is not a tied copy there,
        // and its own circuit gives it a motif.
        let plastic = |e: usize| {
            p.sign[e] != 0.0
                && !p.tied[e]
                && plan.circuits[e]
                    .projections
                    .iter()
                    .any(|q| q.name == p.name && q.motif.is_some())
        };
        columns.push(Column {
            name: format!("tau_w_s:{}", p.name),
            cells: each(&|e| plastic(e).then(|| num(m.tau_w_s[e]))),
        });
        columns.push(Column {
            name: format!("tau_decay_s:{}", p.name),
            cells: each(&|e| {
                (plastic(e) && m.tau_decay_s[e].is_finite()).then(|| num(m.tau_decay_s[e]))
            }),
        });
        columns.push(Column {
            name: format!("weight_noise:{}", p.name),
            cells: each(&|e| plastic(e).then(|| num(m.weight_noise[e]))),
        });
        for (k, term) in Term::ALL.iter().enumerate() {
            if !m.term_used(k) {
                continue;
            }
            columns.push(Column {
                name: format!("theta_{}:{}", term.key(), p.name),
                cells: each(&|e| plastic(e).then(|| num(m.theta[e][k]))),
            });
        }
    }
    Table {
        header: columns.iter().map(|c| c.name.clone()).collect(),
        rows: (0..e_count)
            .map(|e| {
                columns
                    .iter()
                    .map(|c| c.cells[e].clone().unwrap_or_default())
                    .collect()
            })
            .collect(),
    }
}

/// When a weight snapshot was taken.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stage {
    Start,
    End,
}

impl Stage {
    pub fn name(self) -> &'static str {
        match self {
            Stage::Start => "start",
            Stage::End => "end",
        }
    }
}

/// One matrix entry of `weights.csv`.
#[derive(Clone, Debug, PartialEq)]
pub struct WeightRow {
    pub stage: Stage,
    pub instance: usize,
    /// The projection, or `W-BT` for the difference W − Bᵀ of a feedback matrix B that stands
    /// in for W.
    pub projection: String,
    pub row: usize,
    pub col: usize,
    pub value: f64,
}

pub const WEIGHT_COLUMNS: [&str; 6] = ["stage", "instance", "projection", "row", "col", "value"];

impl WeightRow {
    pub fn cells(&self) -> [String; 6] {
        [
            self.stage.name().to_string(),
            self.instance.to_string(),
            self.projection.clone(),
            self.row.to_string(),
            self.col.to_string(),
            format!("{:.5e}", self.value),
        ]
    }
}

/// Matrices larger than this (synapses per instance) are not written to `weights.csv`.
pub const MAX_WEIGHT_SYNAPSES: usize = 50_000;

/// The weight matrices of the first instance of each label at `stage`, with `W − Bᵀ` for
/// every feedback matrix that stands in for a forward one (none when the circuit is larger
/// than [`MAX_WEIGHT_SYNAPSES`]).
pub fn weight_rows(plan: &Plan, snap: &Snapshot, stage: Stage) -> Vec<WeightRow> {
    let mut out = Vec::new();
    if plan.synapses_per_instance() > MAX_WEIGHT_SYNAPSES {
        return out;
    }
    let mut seen: Vec<&String> = Vec::new();
    for (e, label) in plan.labels.iter().enumerate() {
        if seen.contains(&label) {
            continue;
        }
        seen.push(label);
        for (q, p) in plan.projections.iter().enumerate() {
            if p.sign[e] == 0.0 || !(p.motif.is_some() || p.stands_for.is_some()) {
                continue;
            }
            let n = p.synapses();
            let m = &snap.weights[q][e * n..(e + 1) * n];
            for i in 0..p.rows {
                for j in 0..p.cols {
                    out.push(WeightRow {
                        stage,
                        instance: e,
                        projection: p.name.clone(),
                        row: i,
                        col: j,
                        value: m[i * p.cols + j],
                    });
                }
            }
            if let Some(f) = p.stands_for {
                let fp = &plan.projections[f];
                let wf = &snap.weights[f][e * fp.synapses()..(e + 1) * fp.synapses()];
                let name = format!("{}-{}T", fp.name, p.name);
                for i in 0..fp.rows {
                    for j in 0..fp.cols {
                        out.push(WeightRow {
                            stage,
                            instance: e,
                            projection: name.clone(),
                            row: i,
                            col: j,
                            value: wf[i * fp.cols + j] - m[j * p.cols + i],
                        });
                    }
                }
            }
        }
    }
    out
}
