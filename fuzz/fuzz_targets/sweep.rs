//! Arbitrary bytes as a sweep file: reading, parsing, sizes, the circuit and its `set:`, the
//! axes, every point and the packing must never panic, and every refusal is located (see
//! `hetsim::sweep::fuzzing`, which `tests/harden_sweep.rs` replays over `fuzz/corpus/sweep/`).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let folder = concat!(env!("CARGO_MANIFEST_DIR"), "/data/sweep");
    hetsim::sweep::fuzzing::check_bytes(data, std::path::Path::new(folder));
});
