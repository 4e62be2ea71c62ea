//! The body of the `circuit` fuzz target (`fuzz/`), shared with the test that replays its
//! corpus (`tests/fuzz_corpus.rs`), so that every input the fuzzer ever kept is checked by an
//! ordinary `cargo test` on the stable toolchain.
//!
//! It reads arbitrary bytes as a circuit file the way `hetsim validate` does — text checks,
//! parsing, expansion, meaning checks and the memory budget — and then plans what was accepted.
//! A panic anywhere is a find; so is an accepted circuit that the plan refuses, a diagnostic
//! without a location, or an expanded circuit that does not read back.

use crate::circuit::budget::{Budget, MemoryBudget, check_instances};
use crate::plan::{InstanceSpec, Plan};
use crate::spec::{self, Diagnostics};
use std::path::Path;

/// The budget the fuzzer runs under: small enough that an accepted circuit's plan fits in the
/// fuzzer's memory limit (2 GB by default) with the estimate's factor of two to spare.
pub const FUZZ_BUDGET_BYTES: u64 = 512 << 20;

/// Checks one input; panics on a defect.
pub fn check_bytes(bytes: &[u8], csv_path: &Path) {
    let budget = MemoryBudget {
        bytes: FUZZ_BUDGET_BYTES,
    };
    let setting = Budget::exactly(budget);
    let file = Path::new("fuzz.yaml");
    let source = match spec::source_from_bytes(file, bytes) {
        Ok(s) => s,
        Err(d) => return check_located(&d),
    };
    let mut spec = match spec::parse_circuit(&source) {
        Ok(s) => s,
        Err(d) => return check_located(&d),
    };
    // A CSV task reads whatever file its path names; the fuzzer's must be a small known one,
    // or every input naming /dev/zero would read the full CSV limit.
    if let spec::TaskSource::Csv(data) = &mut spec.task.source {
        data.path = csv_path.display().to_string();
    }
    let circuit = match crate::circuit::build_within(&source, &spec, &setting) {
        Ok(c) => c,
        Err(d) => return check_located(&d),
    };
    if let Err(e) = check_instances(&circuit, 1, &budget, &setting) {
        panic!("build accepted a circuit that check_instances refuses: {e}");
    }
    // What validate accepts, run must be able to plan.
    let instance = InstanceSpec {
        circuit: circuit.clone(),
        seed: 1,
        label: "fuzz".into(),
    };
    if let Err(e) = Plan::within(&[instance], Path::new(""), &setting) {
        panic!("a circuit that passed every check cannot be planned: {e}");
    }
    // `hetsim expand` writes a file that must read back as the same circuit.
    let text = spec::to_yaml(&circuit.spec);
    let again = spec::SourceFile::from_text(file, text.clone());
    let reparsed = spec::parse_circuit(&again)
        .unwrap_or_else(|d| panic!("the expanded circuit does not parse: {d}\n{text}"));
    if let Err(d) = crate::circuit::build_within(&again, &reparsed, &setting) {
        panic!("the expanded circuit does not build: {d}\n{text}");
    }
}

/// Every diagnostic names a place: a line and column in the file, or its origin outside it.
fn check_located(d: &Diagnostics) {
    assert!(!d.0.is_empty(), "an error without a diagnostic");
    for one in &d.0 {
        assert!(
            one.is_outside_file() || (one.line >= 1 && one.column >= 1),
            "unlocated: {one}"
        );
        assert!(!one.message.trim().is_empty(), "empty message: {one:?}");
    }
}
