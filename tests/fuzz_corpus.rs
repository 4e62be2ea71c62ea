//! Replays the fuzz target's committed corpus (`fuzz/corpus/circuit/`) on the stable toolchain:
//! every input the fuzzer kept (minimised, including the ones that once found a defect) goes
//! through the same checks as in `cargo +nightly fuzz run circuit`
//! (`hetsim::plan::fuzzing::check_bytes`), so a regression fails `cargo test`.

use std::path::PathBuf;

#[test]
fn every_corpus_input_passes_the_fuzz_checks() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("fuzz");
    let csv = root.join("data/small.csv");
    let mut files: Vec<PathBuf> = std::fs::read_dir(root.join("corpus/circuit"))
        .expect("fuzz/corpus/circuit exists")
        .map(|e| e.expect("directory entry").path())
        .filter(|p| p.is_file())
        .collect();
    files.sort();
    assert!(
        files.len() >= 10,
        "the corpus has only {} files",
        files.len()
    );
    for file in &files {
        let bytes = std::fs::read(file).unwrap();
        let outcome = std::panic::catch_unwind(|| {
            hetsim::plan::fuzzing::check_bytes(&bytes, &csv);
        });
        assert!(outcome.is_ok(), "fuzz check failed on {}", file.display());
    }
}
