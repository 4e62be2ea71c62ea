//! Arbitrary bytes as a circuit file: reading, parsing, expansion, checks, the memory budget
//! and planning must never panic, and every refusal is located (see
//! `hetsim::plan::fuzzing`, which `tests/fuzz_corpus.rs` replays over `fuzz/corpus/`).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let csv = concat!(env!("CARGO_MANIFEST_DIR"), "/data/small.csv");
    hetsim::plan::fuzzing::check_bytes(data, std::path::Path::new(csv));
});
