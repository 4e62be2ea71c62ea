//! What the OpenCL backend refuses, it refuses with a message that says what to do instead.

mod common;

use hetsim::backend::{Precision, opencl};

#[test]
fn rk4_asks_for_the_cpu_backend() {
    if let Err(e) = opencl::device() {
        assert!(
            std::env::var("CI").map(|v| v != "true").unwrap_or(true),
            "CI: no OpenCL device: {e}"
        );
        eprintln!("no OpenCL device here ({e}); skipping");
        return;
    }
    let yaml = "name: rk\ntime: {dt: 0.1 ms, duration: 10 ms, method: rk4}\ntask: {kind: linear_teacher, teacher: {uniform: [-1, 1]}, stimulus: {duration: 5 ms}, held_out: 1}\npopulations:\n  x: {role: input, size: 2}\n  y: {size: 1, tau: 5 ms}\nprojections:\n  W: {from: x, to: y, init: {uniform: [-0.1, 0.1]}}\nrecord: {every: 5 ms, measure: [loss]}\n";
    let plan = common::plan_from(yaml, &[1]);
    let Err(e) = opencl::new(plan, Precision::F32) else {
        panic!("rk4 ran on opencl")
    };
    let text = e.to_string();
    assert!(
        text.contains("rk4") && text.contains("--backend cpu"),
        "{text}"
    );
}
