//! The body of the `evolve` fuzz target (`fuzz/`), shared with the test that replays its corpus
//! (`tests/harden_evolve.rs`), so every input the fuzzer kept is checked by `cargo test` too.
//!
//! One input is read three ways:
//! * as an evolution file, the way `hetsim evolve` reads one (against a fixed circuit, and a
//!   CSV task pinned to a small known file), with every size checked against a small budget. A
//!   refusal must be located; an accepted file must give a strategy whose first generation is
//!   the right number of finite candidates (inside the bounds where the strategy keeps them),
//!   that can be told, and whose saved state reads back through the resume checks;
//! * as a `state.json`, checked against three fixed evolutions (CMA-ES, OpenAI-ES, random
//!   draws) as `--resume` checks it: an accepted state must give finite candidates, inside the
//!   bounds for CMA-ES and random draws, and take a generation's fitness;
//! * as a `population.csv`, scanned for the rows of two finished generations.
//!
//! A panic anywhere is a find.

use super::error::EvolveError;
use super::files::{TableShape, scan_table};
use super::search::{Search, SearchState, new_strategy};
use super::setup::{Pinned, Setup, load};
use super::sizes::members_in;
use super::spec::StrategySpec;
use super::state::{self, Identity, SavedState};
use crate::circuit::budget::{Budget, MemoryBudget};
use crate::experiment::ExperimentError;
use crate::spec::{self, Diagnostics};
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

/// The budget the fuzzer runs under (as `plan::fuzzing`).
pub const FUZZ_BUDGET_BYTES: u64 = 512 << 20;

/// The fixed evolutions a fuzzed state is checked against.
const FIXED: [&str; 3] = [
    "name: fuzz-cma\ncircuit: c.yaml\nfree:\n  - {motif: W1, terms: [m_x, z_x], bounds: [-1.5, 1.5]}\n  - {motif: W2, terms: [m_x], tau_w: [0.5 s, 5 s]}\nstrategy: {kind: cma_es, population: 4, sigma0: 0.5, generations: 5, seed: 3}\n",
    "name: fuzz-openai\ncircuit: c.yaml\nfree:\n  - {motif: W1, terms: [m_x, z_x]}\nstrategy: {kind: openai_es, population: 4, sigma: 0.3, generations: 5, seed: 2}\n",
    "name: fuzz-random\ncircuit: c.yaml\nfree:\n  - {motif: W2, terms: [m_x, z_x]}\nstrategy: {kind: random, samples: 10, batch: 4, seed: 1}\n",
];

fn budget() -> Budget {
    Budget::exactly(MemoryBudget {
        bytes: FUZZ_BUDGET_BYTES,
    })
}

/// Checks one input; panics on a defect. `circuit` is the circuit every evolution file is
/// read against, `csv` the data of a CSV task.
pub fn check_bytes(bytes: &[u8], circuit: &Path, csv: &Path) {
    let pinned = Pinned {
        circuit: Some(circuit.to_path_buf()),
        csv: Some(csv.to_path_buf()),
    };
    check_evolution_file(bytes, &pinned);
    check_state(bytes, &pinned);
    check_table(bytes);
}

fn check_evolution_file(bytes: &[u8], pinned: &Pinned) {
    let file = Path::new("fuzz-evolve.yaml");
    let source = match spec::source_from_bytes(file, bytes) {
        Ok(s) => s,
        Err(d) => return check_located(&d),
    };
    let setup = match load(file, Some(source.text), None, &budget(), pinned) {
        Ok(s) => s,
        Err(e) => return check_refusal(&e),
    };
    let mut search = new_strategy(&setup)
        .unwrap_or_else(|e| panic!("an accepted evolution file cannot start its strategy: {e}"));
    let told = check_generation(&setup, &mut search, 1);
    // The state after one generation reads back through the resume checks.
    let saved = SavedState {
        identity: Identity::of(&setup),
        generations_done: told,
        search: search.state(),
        best: None,
    };
    let text = serde_json::to_string(&saved).expect("a state serialises");
    let path = Path::new("state.json");
    let again = state::parse(path, &text)
        .unwrap_or_else(|e| panic!("a saved state does not parse: {e}\n{text}"));
    state::check_identity(path, &again.identity, &setup)
        .unwrap_or_else(|e| panic!("a saved state's identity is refused: {e}"));
    if let Err(e) = state::restore(path, again, &setup) {
        panic!("a saved state is refused: {e}\n{text}");
    }
}

/// Asks for generation `generation` and checks the candidates; tells them; returns the
/// generations done (0 where the search has no members left).
fn check_generation(setup: &Setup, search: &mut Search, generation: u64) -> u64 {
    let expected = members_in(&setup.spec.strategy, setup.sizes.members, generation);
    let candidates = search.ask(&setup.free);
    assert_eq!(candidates.len(), expected, "the number of candidates");
    let bounds = state::bounds_of(setup);
    let kept_inside = !matches!(setup.spec.strategy, StrategySpec::OpenaiEs { .. });
    for x in &candidates {
        assert_eq!(x.len(), setup.free.len(), "a candidate's dimension");
        assert!(
            x.iter().all(|v| v.is_finite()),
            "a candidate is not finite: {x:?}"
        );
        if kept_inside {
            assert!(bounds.contains(x), "a candidate outside the bounds: {x:?}");
        }
    }
    if expected == 0 {
        return generation - 1;
    }
    let fitness: Vec<f64> = (0..candidates.len())
        .map(|k| {
            if k % 3 == 2 {
                f64::INFINITY
            } else {
                k as f64 * 0.1
            }
        })
        .collect();
    search
        .tell(&fitness)
        .unwrap_or_else(|e| panic!("telling a generation failed: {e}"));
    generation
}

fn fixed_setups(pinned: &Pinned) -> &'static Vec<Setup> {
    static SETUPS: OnceLock<Vec<Setup>> = OnceLock::new();
    SETUPS.get_or_init(|| {
        FIXED
            .iter()
            .map(|text| {
                load(
                    Path::new("fixed.yaml"),
                    Some(text.to_string()),
                    None,
                    &budget(),
                    pinned,
                )
                .unwrap_or_else(|e| panic!("a fixed evolution is refused: {e}"))
            })
            .collect()
    })
}

fn check_state(bytes: &[u8], pinned: &Pinned) {
    let Ok(text) = std::str::from_utf8(bytes) else {
        return;
    };
    let path = PathBuf::from("state.json");
    let Ok(saved) = state::parse(&path, text) else {
        return;
    };
    for setup in fixed_setups(pinned) {
        let Ok((mut search, _best, done)) = state::restore(&path, saved.clone(), setup) else {
            continue;
        };
        if let SearchState::Random { drawn } = search.state() {
            assert!(drawn <= setup_samples(setup), "drawn past the samples");
        }
        if done < setup.spec.strategy.generations() {
            check_generation(setup, &mut search, done + 1);
        }
    }
}

fn setup_samples(setup: &Setup) -> usize {
    match setup.spec.strategy {
        StrategySpec::Random { samples, .. } => samples,
        _ => usize::MAX,
    }
}

fn check_table(bytes: &[u8]) {
    let header: Vec<String> = ["generation", "member", "fitness", "x"]
        .map(String::from)
        .to_vec();
    let rows = |g: u64| if g == 2 { 2 } else { 3 };
    let shape = TableShape {
        header: &header,
        done: 2,
        rows_of: &rows,
        member_column: true,
    };
    if let Ok(keep) = scan_table(bytes, &shape) {
        assert!(keep as usize <= bytes.len(), "kept more than the table");
        assert!(
            keep == 0 || bytes[keep as usize - 1] == b'\n',
            "kept a torn line"
        );
    }
}

/// A refusal must be located when it is about a file, and say something.
fn check_refusal(e: &EvolveError) {
    match e {
        EvolveError::Input(d) | EvolveError::Experiment(ExperimentError::Input(d)) => {
            check_located(d)
        }
        other => assert!(!other.to_string().trim().is_empty(), "an empty message"),
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
