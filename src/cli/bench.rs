//! `hetsim bench`: synapse-steps per second on the workloads of DESIGN §4.

pub fn bench(_backend: &str, _workload: &str, _seconds: Option<f64>) -> i32 {
    eprintln!("hetsim bench: not implemented yet");
    super::commands::EXIT_FAILED
}
