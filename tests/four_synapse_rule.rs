//! The `learning:` expansion of the four-synapse motif (`rule: four_synapse`) and of feedback
//! connectivity (`feedback_connectivity`): the shorthand runs as the shipped circuits written
//! out by hand (one level and two), `hetsim expand` prints that circuit, the motif runs and
//! learns on a pathway with loops, every error-driven rule shares one ensemble, and on a
//! sparse pathway kp's and four_synapse's feedback mirrors the forward synapses while a dense
//! pathway expands as it did before the option existed.

#[macro_use]
mod common;

use common::{hetsim, plan_from, plan_with_rules, shipped_with};
use hetsim::experiment::{CircuitSource, Output, Request};
use hetsim::record::metrics::Row;
use hetsim::run::Quiet;
use hetsim::spec::{self, CircuitSpec, Connectivity, RuleName, SourceFile};
use std::path::{Path, PathBuf};

fn shipped(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("circuits")
        .join(name)
}

/// The metrics rows of a circuit run for `duration` on the CPU in f64 (seeds 1…`seeds`), in
/// one order whatever the order of the file's projections.
fn rows(path: &Path, text: Option<String>, duration: &str, seeds: usize) -> Vec<Row> {
    let source = CircuitSource {
        path: path.to_path_buf(),
        text,
        sets: vec![("time.duration".into(), duration.into())],
        ..CircuitSource::default()
    };
    let finished = Request {
        seeds,
        output: Output::Memory,
        ..Request::new(source)
    }
    .prepare()
    .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
    .execute(&mut Quiet, None)
    .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mut rows = finished.collected.expect("memory output collects").rows;
    rows.sort_by(|a, b| {
        (a.time_s, a.instance, &a.projection)
            .partial_cmp(&(b.time_s, b.instance, &b.projection))
            .unwrap()
    });
    rows
}

fn parse(name: &str, text: &str) -> CircuitSpec {
    let source = SourceFile::from_text(Path::new(name), text.to_string());
    spec::parse_circuit(&source).unwrap_or_else(|d| panic!("{d}"))
}

#[test]
fn the_shorthand_runs_as_the_one_level_circuit_written_out() {
    let by_hand = rows(&shipped("four_synapse.yaml"), None, "3 s", 2);
    let shorthand = rows(&shipped("four_synapse_shorthand.yaml"), None, "3 s", 2);
    assert!(by_hand.len() > 60, "{} rows", by_hand.len());
    assert_eq!(by_hand, shorthand);
}

#[test]
fn the_shorthand_runs_as_the_two_level_circuit_written_out() {
    let by_hand = rows(&shipped("four_synapse_two_levels.yaml"), None, "2 s", 2);
    let shorthand = rows(
        &shipped("four_synapse_two_levels_shorthand.yaml"),
        None,
        "2 s",
        2,
    );
    // Both feedback matrices, B2 and B3, have their weight angle.
    for b in ["B2", "B3"] {
        assert!(
            shorthand
                .iter()
                .any(|r| r.projection == b && r.weight_angle_deg.is_some())
        );
    }
    assert_eq!(by_hand, shorthand);
}

#[test]
fn hetsim_expand_prints_the_circuit_written_out() {
    let out = hetsim(&["expand", "circuits/four_synapse_shorthand.yaml"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let expanded = parse("expanded.yaml", &String::from_utf8(out.stdout).unwrap());
    let by_hand = parse(
        "four_synapse.yaml",
        &std::fs::read_to_string(shipped("four_synapse.yaml")).unwrap(),
    );
    assert_eq!(expanded, by_hand);
}

/// The recurrent teacher (x → h ⟲ h ⇄ y) with `rule` and feedback drawn from U[−0.1, 0.1], as
/// the forward weights are (from U[−0.5, 0.5] the 16 × 16 feedback loop B_R starts with a
/// spectral radius near 1.2 and the integrating errors run away, under kp as well).
fn recurrent(rule: &str) -> String {
    shipped_with(
        "recurrent_teacher.yaml",
        &[
            (
                "  rule: dfa\n",
                &format!("  rule: {rule}\n  tau_decay: 20 s\n"),
            ),
            (
                "feedback_init: {uniform: [-0.5, 0.5]}",
                "feedback_init: {uniform: [-0.1, 0.1]}",
            ),
        ],
    )
}

#[test]
fn the_motif_learns_through_loops() {
    let text = recurrent("four_synapse");
    let spec = parse("recurrent.yaml", &text);
    let expanded = hetsim::circuit::expand::expand(
        &SourceFile::from_text(Path::new("recurrent.yaml"), text.clone()),
        &spec,
    )
    .unwrap();
    // The self-connection and the output's loop get their feedback and cross synapses; h
    // sends one cross synapse (C_up) to its local error however many projections leave it.
    for name in ["B_R", "B2", "B_V", "C_up", "C_down", "C_up_y"] {
        assert!(expanded.projections.contains_key(name), "no {name}");
    }
    let c_ups = expanded
        .projections
        .values()
        .filter(|p| p.from == "h" && p.to.starts_with('a'))
        .count();
    assert_eq!(c_ups, 1);
    // Seeds 1–5 over 10 s (docs/motifs.md): from 1.49 ± 0.19 to 1.02 ± 0.25, none diverged,
    // each at its lowest 0.53–0.67 of its start in the second half.
    let rows = rows(&shipped("recurrent_teacher.yaml"), Some(text), "10 s", 2);
    for i in 0..2 {
        let held: Vec<(f64, f64)> = rows
            .iter()
            .filter(|r| r.instance == i && r.projection == "all")
            .filter_map(|r| Some((r.time_s, r.held_out_loss?)))
            .collect();
        let first = held[0].1;
        let (end, last) = *held.last().unwrap();
        assert!(
            end > 9.9 && last.is_finite(),
            "instance {i} stopped at {end} s: {last}"
        );
        let best = held
            .iter()
            .filter(|(t, _)| *t >= 5.0)
            .map(|(_, l)| *l)
            .fold(f64::INFINITY, f64::min);
        assert!(
            best < 0.75 * first,
            "instance {i}: {first} → at best {best}"
        );
        assert!(last < first, "instance {i}: {first} → {last}");
    }
}

#[test]
fn compare_runs_four_synapse_apart_from_the_rules_whose_modulators_differ() {
    // sgd, fa, dfa and kp share one ensemble; four_synapse adds populations (which the others
    // would leave idle) but teaches W2 from `g` where they teach it from `e`, and one ensemble
    // has one modulator per plastic projection.
    let rules = [RuleName::Sgd, RuleName::Fa, RuleName::Dfa, RuleName::Kp];
    let text = std::fs::read_to_string(shipped("teacher_kp.yaml")).unwrap();
    let (_, instances) = plan_with_rules(&text, &rules, 1);
    assert_eq!(instances.len(), 4);
    let out = hetsim(&[
        "compare",
        "circuits/teacher_kp.yaml",
        "--rules",
        "kp,four_synapse",
        "--out",
        "/nonexistent/never-written",
    ]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("cannot run as one ensemble")
            && err.contains("`W2` learns from `e` under `kp` and from `g` under `four_synapse`"),
        "{err}"
    );
    // On its own it runs (hetsim_expand_prints… checks what).
    let (plan, _) = plan_with_rules(&text, &[RuleName::FourSynapse], 1);
    assert!(plan.populations.iter().any(|p| p.name == "a"));
}

/// The sparse teacher with `rule` and the feedback connectivity line `feedback` (may be empty).
fn sparse(rule: &str, feedback: &str) -> String {
    shipped_with(
        "sparse_teacher.yaml",
        &[(
            "  rule: fa\n",
            &format!("  rule: {rule}\n  tau_decay: 20 s\n{feedback}"),
        )],
    )
}

fn mask(plan: &hetsim::plan::Plan, name: &str) -> Option<Vec<f64>> {
    let k = plan
        .projections
        .iter()
        .position(|p| p.name == name)
        .expect("projection");
    plan.masks[k].clone()
}

#[test]
fn kp_and_four_synapse_feedback_mirrors_sparse_forward_synapses() {
    for rule in ["kp", "four_synapse"] {
        let plan = plan_from(&sparse(rule, ""), &[3, 4]);
        let w2 = mask(&plan, "W2").expect("W2 is sparse");
        let b2 = mask(&plan, "B2").expect("B2 mirrors W2");
        let (rows, cols) = (10, 20);
        let n = rows * cols;
        for e in 0..2 {
            for i in 0..rows {
                for j in 0..cols {
                    assert_eq!(w2[e * n + i * cols + j], b2[e * n + j * rows + i]);
                }
            }
        }
        // The instances draw different masks.
        assert_ne!(w2[..n], w2[n..]);
        // The cross synapses stay dense: they assemble towards the identity.
        if rule == "four_synapse" {
            assert!(mask(&plan, "C_up").is_none() && mask(&plan, "C_down").is_none());
        }
    }
    // Any other form is drawn for the feedback matrix from its own stream.
    let plan = plan_from(
        &sparse("kp", "  feedback_connectivity: {probability: 0.5}\n"),
        &[3],
    );
    let (w2, b2) = (mask(&plan, "W2").unwrap(), mask(&plan, "B2").unwrap());
    let mirrored = (0..10)
        .flat_map(|i| (0..20).map(move |j| (i, j)))
        .all(|(i, j)| w2[i * 20 + j] == b2[j * 10 + i]);
    assert!(!mirrored);
    let all = plan_from(&sparse("kp", "  feedback_connectivity: all\n"), &[3]);
    assert!(mask(&all, "B2").is_none());
    // fa keeps its dense random feedback unless told otherwise.
    let fa = plan_from(&shipped_with("sparse_teacher.yaml", &[]), &[3]);
    assert!(mask(&fa, "B2").is_none());
}

#[test]
fn a_dense_pathway_expands_as_before_whatever_the_feedback_connectivity() {
    for name in [
        "teacher_kp.yaml",
        "teacher_fa.yaml",
        "four_synapse_shorthand.yaml",
    ] {
        let text = std::fs::read_to_string(shipped(name)).unwrap();
        let expand = |text: &str| {
            let source = SourceFile::from_text(Path::new(name), text.to_string());
            let spec = spec::parse_circuit(&source).unwrap_or_else(|d| panic!("{d}"));
            hetsim::circuit::expand::expand(&source, &spec).unwrap()
        };
        let default = expand(&text);
        for form in ["all", "mirror"] {
            let explicit = text.replace(
                "  tau_w: 2 s\n",
                &format!("  tau_w: 2 s\n  feedback_connectivity: {form}\n"),
            );
            assert_ne!(explicit, text);
            assert_eq!(expand(&explicit), default, "{name} with {form}");
        }
        assert!(
            default
                .projections
                .values()
                .all(|p| p.connectivity == Connectivity::All),
            "{name}"
        );
    }
}

#[test]
fn a_mirror_needs_the_projection_it_stands_for() {
    let text = shipped_with(
        "teacher_fa_explicit.yaml",
        &[("stands_for: W2", "connectivity: mirror")],
    );
    let source = SourceFile::from_text(Path::new("mirror.yaml"), text);
    let spec = spec::parse_circuit(&source).unwrap_or_else(|d| panic!("{d}"));
    let err = hetsim::circuit::build(&source, &spec)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("stands_for") && err.contains("connectivity"),
        "{err}"
    );
}
