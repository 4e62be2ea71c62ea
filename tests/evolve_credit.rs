//! Evolutions scored against tuned baselines: baselines on exactly the members' seeds, the
//! learning-rate grid, fresh tasks per generation, the held-out evaluation (`heldout.csv`),
//! resume with baselines, a generation split across processes (`--shard`) equal to an
//! unsharded one byte for byte, `--dry-run`, and a reduced version of the shipped
//! `configs/evolve_credit.yaml` (its direction, not its numbers).

mod common;

use hetsim::backend::BackendKind;
use hetsim::evolve::{EvolveRequest, evolve};
use hetsim::experiment::{CircuitSource, Design, Output, Request};
use hetsim::spec::RuleName;
use std::path::{Path, PathBuf};

use common::hetsim;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// An evolution of the kp teacher's feedback rule, with baselines and a rate grid.
fn credit_file(dir: &Path, extra: &str, generations: u64) -> PathBuf {
    let text = format!(
        "name: credit-test
circuit: {}
set: [\"time.duration=1 s\", \"time.dt=0.5 ms\", \"task.held_out=30\", \"record.every=250 ms\", \"projections.W1.init={{uniform: [-0.3, 0.3]}}\", \"projections.W2.init={{uniform: [-0.3, 0.3]}}\"]
free:
  - {{motif: B2, terms: [m_x, z_x], bounds: [-1.5, 1.5]}}
strategy: {{kind: cma_es, population: 4, sigma0: 0.5, generations: {generations}, seed: 5}}
seeds_per_member: 2
rates: [0.5, 1]
baselines: [sgd, fa, kp]
{extra}",
        root().join("circuits/teacher_kp.yaml").display()
    );
    let path = dir.join("evolve.yaml");
    std::fs::write(&path, text).unwrap();
    path
}

fn request(path: &Path, out: &Path, generations: Option<u64>, resume: bool) -> EvolveRequest {
    EvolveRequest {
        path: path.to_path_buf(),
        out: Some(out.to_path_buf()),
        resume,
        replace: false,
        backend: BackendKind::Cpu,
        precision: None,
        backend_options: Default::default(),
        budget: Default::default(),
        generations,
        command_line: vec![],
    }
}

/// The table's rows as maps from column to cell.
fn table(path: &Path) -> Vec<std::collections::HashMap<String, String>> {
    let text = std::fs::read_to_string(path).unwrap();
    let mut lines = text.lines();
    let header: Vec<String> = lines.next().unwrap().split(',').map(String::from).collect();
    lines
        .map(|l| {
            header
                .iter()
                .cloned()
                .zip(l.split(',').map(String::from))
                .collect()
        })
        .collect()
}

fn num(row: &std::collections::HashMap<String, String>, column: &str) -> f64 {
    row.get(column)
        .unwrap_or_else(|| panic!("no column {column}"))
        .parse()
        .unwrap_or(f64::NAN)
}

/// ln(final / initial held-out loss) of `rule` on the teacher at `tau_w`, averaged over the
/// seeds: a baseline's score computed by `hetsim compare`'s own path.
fn compare_score(rule: RuleName, tau_w: &str, seeds: (u64, usize)) -> f64 {
    let mut source = CircuitSource::file(root().join("circuits/teacher_kp.yaml"));
    for (k, v) in [
        ("time.duration", "1 s"),
        ("time.dt", "0.5 ms"),
        ("task.held_out", "30"),
        ("record.every", "250 ms"),
        ("projections.W1.init", "{uniform: [-0.3, 0.3]}"),
        ("projections.W2.init", "{uniform: [-0.3, 0.3]}"),
        ("learning.tau_w", tau_w),
    ] {
        source.sets.push((k.into(), v.into()));
    }
    let done = Request {
        seeds: seeds.1,
        first_seed: seeds.0,
        design: Design::Compare { rules: vec![rule] },
        output: Output::Memory,
        backend: BackendKind::Cpu,
        ..Request::new(source)
    }
    .prepare()
    .unwrap()
    .execute(&mut hetsim::run::Quiet, None)
    .unwrap();
    let rows = done.collected.unwrap().rows;
    let logs: Vec<f64> = (0..seeds.1)
        .map(|e| {
            let losses: Vec<f64> = rows
                .iter()
                .filter(|r| r.instance == e && r.projection == "all")
                .filter_map(|r| r.held_out_loss)
                .collect();
            (losses.last().unwrap() / losses[0]).ln()
        })
        .collect();
    logs.iter().sum::<f64>() / logs.len() as f64
}

#[test]
fn baselines_run_on_the_members_seeds_at_their_best_rate_and_fresh_tasks_change_them() {
    let tmp = tempfile::tempdir().unwrap();
    let path = credit_file(tmp.path(), "tasks: fresh\n", 2);
    let out = tmp.path().join("out");
    evolve(&request(&path, &out, None, false), &mut |_| {}, None).unwrap();
    let rows = table(&out.join("generations.csv"));
    assert_eq!(rows.len(), 2);
    for (g, row) in rows.iter().enumerate() {
        // sgd's update is the gradient: its angle is 0 on every layer.
        assert_eq!(num(row, "sgd_gradient_angle_deg:W1"), 0.0);
        assert!(num(row, "fa_gradient_angle_deg:W1") > 10.0);
        // Fresh tasks: generation g learns seeds 1 + 2g and 2 + 2g. Each baseline's score is
        // the best over the grid of what `compare` gives on those seeds.
        let seeds = (1 + 2 * g as u64, 2);
        for (rule, name) in [(RuleName::Sgd, "sgd"), (RuleName::Fa, "fa")] {
            let at = |tau: &str| compare_score(rule, tau, seeds);
            // Rate factors 0.5 and 1 of τ_w = 2 s: τ_w 4 s and 2 s.
            let (slow, base) = (at("4 s"), at("2 s"));
            let best = slow.min(base);
            let got = num(row, &format!("{name}_fitness"));
            assert!(
                (got - best).abs() <= 1e-12 * best.abs().max(1.0),
                "generation {}: {name} scored {got}, compare gives {slow} (×0.5) and {base} (×1)",
                g + 1
            );
            let rate = num(row, &format!("{name}_rate"));
            assert_eq!(rate, if slow < base { 0.5 } else { 1.0 });
        }
    }
    // Fresh tasks: the baselines score differently in the two generations; fixed tasks: the
    // same.
    assert_ne!(rows[0]["fa_fitness"], rows[1]["fa_fitness"]);
    let fixed = credit_file(tmp.path(), "", 2);
    let out = tmp.path().join("fixed");
    evolve(&request(&fixed, &out, None, false), &mut |_| {}, None).unwrap();
    let rows = table(&out.join("generations.csv"));
    assert_eq!(rows[0]["fa_fitness"], rows[1]["fa_fitness"]);
    // The population's rate column holds the factor of the grid whose score is the fitness
    // (no L1 penalty here), and the best of the per-factor parts.
    for row in table(&out.join("population.csv")) {
        let (at_half, at_one) = (num(&row, "score_at_rate_0.5"), num(&row, "score_at_rate_1"));
        assert_eq!(num(&row, "l1_penalty"), 0.0);
        if num(&row, "diverged") == 0.0 {
            assert_eq!(num(&row, "fitness"), at_half.min(at_one), "{row:?}");
            let r = num(&row, "rate");
            assert_eq!(r, if at_half < at_one { 0.5 } else { 1.0 }, "{row:?}");
        }
    }
}

const HELDOUT: &str = "tasks: fresh
heldout: {seeds: 2, first_seed: 1001, shapes: [{name: wide, set: [\"populations.h.size=30\"]}]}
";

#[test]
fn heldout_scores_the_best_rule_and_every_baseline_on_new_tasks_and_a_new_shape() {
    let tmp = tempfile::tempdir().unwrap();
    let path = credit_file(tmp.path(), HELDOUT, 2);
    let out = tmp.path().join("out");
    let outcome = evolve(&request(&path, &out, None, false), &mut |_| {}, None).unwrap();
    assert_eq!(outcome.heldout, Some(out.join("heldout.csv")));
    let rows = table(&out.join("heldout.csv"));
    let keys: Vec<(String, String)> = rows
        .iter()
        .map(|r| (r["shape"].clone(), r["rule"].clone()))
        .collect();
    let mut want = Vec::new();
    for shape in ["trained", "wide"] {
        for rule in ["evolved", "sgd", "fa", "kp"] {
            want.push((shape.to_string(), rule.to_string()));
        }
    }
    assert_eq!(keys, want);
    for r in &rows {
        assert!(num(r, "fitness").is_finite(), "{r:?}");
        if r["rule"] == "sgd" {
            assert_eq!(num(r, "gradient_angle_deg:W1"), 0.0);
        }
    }
    // The held-out sgd score is compare's on the held-out seeds (trained shape).
    let sgd = &rows[1];
    let best = compare_score(RuleName::Sgd, "4 s", (1001, 2)).min(compare_score(
        RuleName::Sgd,
        "2 s",
        (1001, 2),
    ));
    assert!((num(sgd, "fitness") - best).abs() <= 1e-12 * best.abs().max(1.0));
    // Held-out seeds that meet the generations' seeds are refused, located in the file.
    let bad = credit_file(
        tmp.path(),
        "tasks: fresh\nheldout: {seeds: 2, first_seed: 3}\n",
        2,
    );
    let o = hetsim(&["validate", bad.to_str().unwrap()]);
    let err = String::from_utf8_lossy(&o.stderr).to_string() + &String::from_utf8_lossy(&o.stdout);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(err.contains("held-out tasks must be new"), "{err}");
    assert!(err.contains(&format!("{}:", bad.display())), "{err}");
}

#[test]
fn a_resumed_evolution_with_baselines_and_heldout_equals_an_uninterrupted_one() {
    let tmp = tempfile::tempdir().unwrap();
    let path = credit_file(tmp.path(), HELDOUT, 3);
    let whole = tmp.path().join("whole");
    evolve(&request(&path, &whole, None, false), &mut |_| {}, None).unwrap();
    let parts = tmp.path().join("parts");
    let first = evolve(&request(&path, &parts, Some(1), false), &mut |_| {}, None).unwrap();
    // Not the file's last generation: no held-out evaluation yet.
    assert!(first.heldout.is_none() && !parts.join("heldout.csv").exists());
    evolve(&request(&path, &parts, None, true), &mut |_| {}, None).unwrap();
    for f in [
        "generations.csv",
        "population.csv",
        "best.yaml",
        "heldout.csv",
    ] {
        assert!(
            std::fs::read(whole.join(f)).unwrap() == std::fs::read(parts.join(f)).unwrap(),
            "{f} differs after resuming"
        );
    }
    // A table whose header lacks a baseline's columns is not this evolution's: refused.
    let cut = tmp.path().join("cut");
    evolve(&request(&path, &cut, Some(1), false), &mut |_| {}, None).unwrap();
    let p = cut.join("generations.csv");
    let text = std::fs::read_to_string(&p)
        .unwrap()
        .replacen("kp_fitness", "kq_fitness", 1);
    std::fs::write(&p, text).unwrap();
    let e = evolve(&request(&path, &cut, None, true), &mut |_| {}, None).unwrap_err();
    assert!(e.to_string().contains("header"), "{e}");
}

#[test]
fn a_sharded_generation_writes_the_same_bytes_as_an_unsharded_one() {
    let tmp = tempfile::tempdir().unwrap();
    let path = credit_file(tmp.path(), "tasks: fresh\n", 2);
    let whole = tmp.path().join("whole");
    evolve(&request(&path, &whole, None, false), &mut |_| {}, None).unwrap();
    // The sharded evolution: its directory and state first, then each generation as three
    // shard processes and a resume that takes their files.
    let sharded = tmp.path().join("sharded");
    let (p, d) = (path.to_str().unwrap(), sharded.to_str().unwrap());
    let ok = |args: &[&str]| {
        let o = hetsim(args);
        assert!(
            o.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&o.stderr)
        );
    };
    ok(&[
        "evolve",
        p,
        "--out",
        d,
        "--backend",
        "cpu",
        "--generations",
        "0",
    ]);
    for g in 1..=2 {
        for shard in ["0/3", "1/3", "2/3"] {
            ok(&[
                "evolve",
                p,
                "--out",
                d,
                "--backend",
                "cpu",
                "--shard",
                shard,
            ]);
        }
        if g == 1 {
            // An incomplete set is refused, never half used.
            let missing = sharded.join("shards/g1-2of3.json");
            let kept = std::fs::read(&missing).unwrap();
            std::fs::remove_file(&missing).unwrap();
            let o = hetsim(&["evolve", p, "--out", d, "--backend", "cpu", "--resume"]);
            assert_eq!(o.status.code(), Some(2));
            assert!(String::from_utf8_lossy(&o.stderr).contains("complete set"));
            std::fs::write(&missing, kept).unwrap();
        }
        ok(&[
            "evolve",
            p,
            "--out",
            d,
            "--backend",
            "cpu",
            "--resume",
            "--generations",
            &g.to_string(),
        ]);
        assert!(!sharded.join(format!("shards/g{g}-0of3.json")).exists());
    }
    for f in [
        "generations.csv",
        "population.csv",
        "best.yaml",
        "state.json",
    ] {
        let a = std::fs::read_to_string(whole.join(f)).unwrap();
        let b = std::fs::read_to_string(sharded.join(f)).unwrap();
        // state.json names the build and backend alike; the rest is the search.
        assert!(a == b, "{f} differs between sharded and unsharded");
    }
}

#[test]
fn dry_run_counts_instances_and_synapse_steps_and_runs_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let path = credit_file(tmp.path(), HELDOUT, 3);
    let out = tmp.path().join("out");
    let o = hetsim(&[
        "evolve",
        path.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
        "--backend",
        "cpu",
        "--dry-run",
    ]);
    let text = String::from_utf8_lossy(&o.stdout);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    // (4 members + 3 baselines) × 2 rate factors × 2 seeds.
    assert!(text.contains("= 28 instances"), "{text}");
    // Synapses of one instance: W1 30·20, W2 20·10, B2 10·20, two identity projections of 10
    // into the error; 2000 steps of 0.5 ms.
    let per_generation = 28.0 * (600.0 + 200.0 + 200.0 + 20.0) * 2000.0;
    assert!(
        text.contains(&format!("{per_generation:.3e} synapse-steps")),
        "{text}"
    );
    // Held-out: (evolved + 3 baselines) × 2 factors × 2 seeds in each of two shapes.
    assert!(text.contains("held-out evaluation: 32 instances"), "{text}");
    assert!(text.contains("total: 3 generations"), "{text}");
    assert!(!out.exists(), "a dry run wrote {}", out.display());
}

/// The shipped experiment reduced (a few generations, short horizons): its premise — tuned sgd
/// beats tuned fa, and kp's hidden layer is better aligned than fa's — and the evolution's
/// direction.
#[test]
fn the_reduced_credit_experiment_keeps_its_direction() {
    let tmp = tempfile::tempdir().unwrap();
    let shipped = std::fs::read_to_string(root().join("configs/evolve_credit.yaml")).unwrap();
    let text = shipped
        .replace(
            "../circuits/teacher_kp.yaml",
            &root()
                .join("circuits/teacher_kp.yaml")
                .display()
                .to_string(),
        )
        .replace("time.duration=20 s", "time.duration=6 s")
        .replace("population: 12", "population: 6")
        .replace("generations: 30", "generations: 3")
        .replace("seeds: 8", "seeds: 2");
    let path = tmp.path().join("credit.yaml");
    std::fs::write(&path, text).unwrap();
    let out = tmp.path().join("out");
    evolve(&request(&path, &out, None, false), &mut |_| {}, None).unwrap();
    let rows = table(&out.join("generations.csv"));
    for row in &rows {
        assert!(num(row, "sgd_fitness") < num(row, "fa_fitness"), "{row:?}");
        assert!(
            num(row, "kp_gradient_angle_deg:W1") < num(row, "fa_gradient_angle_deg:W1"),
            "{row:?}"
        );
    }
    // The best so far never worsens, and it learns (the loss falls).
    let best: Vec<f64> = rows.iter().map(|r| num(r, "best_ever_fitness")).collect();
    assert!(best.windows(2).all(|w| w[1] <= w[0]), "{best:?}");
    assert!(best[best.len() - 1] < 0.0, "{best:?}");
    let heldout = table(&out.join("heldout.csv"));
    assert_eq!(heldout.len(), 2 * 5);
}
