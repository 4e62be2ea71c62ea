//! A point's numbers do not depend on how a sweep packs points into ensembles: instance k of
//! an ensemble equals, bit for bit in f64, the same instance run with other neighbours or with
//! none. The case that once broke it: weight noise swept next to points without it (a matrix
//! fed by a held input is integrated in closed form only where no instance of the ensemble has
//! weight noise, so a noiseless point packed beside a noisy one took the step-by-step path).

use hetsim::backend::BackendKind;
use hetsim::sweep::tables::read_csv;
use hetsim::sweep::{SweepRequest, sweep};
use std::collections::BTreeMap;
use std::path::Path;

/// A small linear teacher learned by sgd with weight decay: 4 → 3 → 2, 1 s at dt = 1 ms.
const CIRCUIT: &str = "name: packed
time: {dt: 1 ms, duration: 1 s}
task:
  kind: linear_teacher
  teacher: {uniform: [-1, 1]}
  input_std: 0.5
  stimulus: {duration: 50 ms}
  held_out: 20
populations:
  x: {role: input, size: 4}
  h: {size: 3, tau: 5 ms}
  y: {size: 2, tau: 5 ms}
projections:
  W1: {from: x, to: h, init: {uniform: [-0.1, 0.1]}}
  W2: {from: h, to: y, init: {uniform: [-0.1, 0.1]}}
learning: {rule: sgd, output: y, tau_w: 500 ms, tau_decay: 5 s}
record: {every: 100 ms, measure: [loss, hebbian_signature]}
";

/// Weight noise 0 (deferrable), 0.05 and 0.1, two seeds each: six instances.
const SWEEP: &str = "name: packing
circuit: c.yaml
axes:
  - {path: weight_noise, values: [0, 0.05, 0.1]}
seeds: 2
summary:
  - {measure: held_out_loss, stat: final}
  - {measure: hebbian_signature, projection: W1, stat: {mean_last: 0.5}}
";

/// `summary.csv` keyed by point id, each row's cells as written.
fn summary_by_point(dir: &Path) -> BTreeMap<String, Vec<String>> {
    let (header, rows) = read_csv(&dir.join("summary.csv")).unwrap();
    let id = header.iter().position(|h| h == "point_id").unwrap();
    rows.into_iter().map(|r| (r[id].clone(), r)).collect()
}

#[test]
fn a_point_gives_the_same_numbers_whatever_its_ensemble_neighbours() {
    let tmp = tempfile::tempdir().unwrap();
    std::fs::write(tmp.path().join("c.yaml"), CIRCUIT).unwrap();
    let file = tmp.path().join("sweep.yaml");
    std::fs::write(&file, SWEEP).unwrap();
    let mut results = Vec::new();
    for size in [1, 2, 4, 6] {
        let out = tmp.path().join(format!("size-{size}"));
        let request = SweepRequest {
            out: Some(out.clone()),
            backend: BackendKind::Cpu,
            ensemble_size: Some(size),
            ..SweepRequest::new(&file)
        };
        sweep(&request, &mut |_| {}, None).unwrap();
        results.push((size, summary_by_point(&out)));
    }
    let (_, reference) = &results[0];
    assert_eq!(reference.len(), 3);
    for (size, got) in &results[1..] {
        assert_eq!(
            got, reference,
            "ensembles of {size} instances differ from ensembles of 1"
        );
    }
}
