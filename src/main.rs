//! The `hetsim` binary: everything lives in the library; this only forwards the exit code.

fn main() {
    std::process::exit(hetsim::cli::main_with_args());
}
