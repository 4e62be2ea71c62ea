//! Without OpenCL (simulated: the ICD loader is pointed at an empty vendor directory), the real
//! binary says what to install for `--backend opencl` (exit 2) and falls back to the CPU for
//! `--backend auto`.

use std::process::Command;

const CIRCUIT: &str = "name: tiny\ntime: {dt: 1 ms, duration: 20 ms}\ntask: {kind: linear_teacher, teacher: {uniform: [-1, 1]}, stimulus: {duration: 10 ms}, held_out: 2}\npopulations:\n  x: {role: input, size: 2}\n  h: {size: 2, tau: 5 ms}\n  y: {size: 1, tau: 5 ms}\nprojections:\n  W1: {from: x, to: h, init: {uniform: [-0.1, 0.1]}}\n  W2: {from: h, to: y, init: {uniform: [-0.1, 0.1]}}\nlearning: {rule: fa, output: y, feedback_init: {uniform: [-0.5, 0.5]}, tau_w: 1 s}\nrecord: {every: 10 ms, measure: [loss]}\n";

fn hetsim(dir: &std::path::Path, args: &[&str]) -> std::process::Output {
    let vendors = dir.join("vendors");
    std::fs::create_dir_all(&vendors).expect("vendor dir");
    Command::new(env!("CARGO_BIN_EXE_hetsim"))
        .args(args)
        .current_dir(dir)
        .env("OCL_ICD_VENDORS", &vendors)
        .env_remove("OCL_ICD_FILENAMES")
        .env_remove("OPENCL_VENDOR_PATH")
        .output()
        .expect("the hetsim binary runs")
}

#[test]
fn no_opencl_gives_a_clear_error_or_falls_back() {
    let dir = tempfile::tempdir().expect("temp dir");
    std::fs::write(dir.path().join("tiny.yaml"), CIRCUIT).expect("circuit file");

    let out = hetsim(
        dir.path(),
        &[
            "run",
            "tiny.yaml",
            "--backend",
            "opencl",
            "--out",
            "r1",
            "--no-plots",
        ],
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "stderr: {err}");
    assert!(err.contains("--backend opencl"), "stderr: {err}");
    assert!(
        err.contains("ocl-icd-libopencl1") && err.contains("pocl-opencl-icd"),
        "stderr: {err}"
    );

    let out = hetsim(
        dir.path(),
        &[
            "run",
            "tiny.yaml",
            "--backend",
            "auto",
            "--out",
            "r2",
            "--no-plots",
        ],
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "stderr: {err}");
    assert!(err.contains("running on the CPU"), "stderr: {err}");
    assert!(dir.path().join("r2").join("metrics.csv").exists());

    let out = hetsim(dir.path(), &["devices"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_ne!(out.status.code(), Some(0), "devices without OpenCL: {err}");
    assert!(err.contains("pocl-opencl-icd"), "stderr: {err}");
}
