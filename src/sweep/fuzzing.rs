//! The body of the `sweep` fuzz target (`fuzz/fuzz_targets/sweep.rs`), shared with the test
//! that replays its corpus (`tests/harden_sweep.rs`), so every input the fuzzer kept is checked
//! by an ordinary `cargo test` on the stable toolchain.
//!
//! It reads arbitrary bytes as a sweep file the way `hetsim sweep --dry-run` and `hetsim
//! validate` do — text checks, parsing, sizes, the circuit and its `set:`, the summary, the axes
//! and every point — and packs what was accepted. A panic anywhere is a find; so is a refusal
//! without a location, an accepted sweep whose tables would repeat a column name, a point
//! count other than the one counted before expansion, or a packing that loses or repeats a
//! point.

use super::setup::{self, Expansion};
use super::{SweepError, pack, tables};
use crate::circuit::budget::{Budget, MemoryBudget};
use crate::spec::{self, Diagnostics};
use std::path::Path;

/// The budget the fuzzer runs under (as the circuit target's).
pub const FUZZ_BUDGET_BYTES: u64 = crate::plan::fuzzing::FUZZ_BUDGET_BYTES;

/// Points built per input at most: more are counted, not built (as a dry run does with more).
pub const FUZZ_POINTS_BUILT: usize = 64;

/// Checks one input, read as the sweep file `folder/fuzz_sweep.yaml` (so `circuit: c.yaml`
/// names `folder/c.yaml`); panics on a defect.
pub fn check_bytes(bytes: &[u8], folder: &Path) {
    let budget = Budget::exactly(MemoryBudget {
        bytes: FUZZ_BUDGET_BYTES,
    });
    let path = folder.join("fuzz_sweep.yaml");
    let source = match spec::source_from_bytes(&path, bytes) {
        Ok(s) => s,
        Err(d) => return check_located(&d),
    };
    let setup = match setup::load_with(
        &path,
        Some(source.text),
        &super::SweepOverrides::default(),
        Expansion::UpTo(FUZZ_POINTS_BUILT),
        &budget,
    ) {
        Ok(s) => s,
        Err(SweepError::Input(d)) => return check_located(&d),
        Err(SweepError::Point { identity, message }) => {
            assert!(
                !message.trim().is_empty(),
                "a point error without a message"
            );
            assert!(!identity.is_empty() || message.contains(' '));
            return;
        }
        Err(e) => {
            assert!(
                e.is_bad_input(),
                "a refusal of the input that is not exit 2: {e}"
            );
            return;
        }
    };
    // One name per column in the tables that axes and summary columns go into.
    let mut columns: Vec<String> = tables::fixed_columns()
        .iter()
        .map(|c| c.to_string())
        .collect();
    columns.extend(setup.axis_columns());
    columns.extend(setup.stat_columns());
    for (i, c) in columns.iter().enumerate() {
        assert!(
            !columns[..i].contains(c),
            "the column `{c}` twice: {columns:?}"
        );
    }
    assert!(setup.size.points <= super::size::MAX_POINTS);
    assert!(setup.size.instances <= super::size::MAX_INSTANCES);
    if !setup.expanded {
        assert!(setup.points.is_empty());
        return;
    }
    assert_eq!(
        setup.points.len(),
        setup.size.points,
        "the points expanded are not the points counted"
    );
    for (k, p) in setup.points.iter().enumerate() {
        assert_eq!(p.index, k);
        assert!(
            !setup.points[..k].iter().any(|q| q.id == p.id),
            "two points share the id {}",
            p.id
        );
    }
    let all: Vec<usize> = (0..setup.points.len()).collect();
    let packed = pack::pack(&setup, &all, 7, FUZZ_BUDGET_BYTES as f64);
    let mut seen: Vec<usize> = packed.iter().flat_map(|e| e.points.clone()).collect();
    seen.sort_unstable();
    assert_eq!(seen, all, "packing lost or repeated a point");
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
