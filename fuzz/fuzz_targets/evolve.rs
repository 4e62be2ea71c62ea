//! Arbitrary bytes as an evolution file, as a `state.json` and as a `population.csv`: reading,
//! the size checks, the resume checks and the first generation of an accepted strategy must
//! never panic, and every refusal is located (see `hetsim::evolve::fuzzing`, which
//! `tests/harden_evolve.rs` replays over `fuzz/corpus/evolve/`).
#![no_main]

use libfuzzer_sys::fuzz_target;
use std::path::Path;

fuzz_target!(|data: &[u8]| {
    let circuit = concat!(env!("CARGO_MANIFEST_DIR"), "/../circuits/teacher_fa.yaml");
    let csv = concat!(env!("CARGO_MANIFEST_DIR"), "/data/small.csv");
    hetsim::evolve::fuzzing::check_bytes(data, Path::new(circuit), Path::new(csv));
});
