//! `hetsim devices` and the choice of the OpenCL backend.

use super::commands::{EXIT_FAILED, EXIT_OK};
use crate::backend::{Backend, Precision, opencl};
use crate::plan::Plan;
use std::sync::Arc;

/// The OpenCL backend for a plan, with a description of its device, or why there is none.
pub fn opencl_backend(
    plan: Arc<Plan>,
    precision: Precision,
) -> Result<(Box<dyn Backend>, String), String> {
    opencl::new(plan, precision).map_err(|e| e.to_string())
}

/// Lists OpenCL platforms and devices with their limits.
pub fn devices() -> i32 {
    let platforms = match opencl::platforms() {
        Ok(p) => p,
        Err(e) => {
            eprintln!("hetsim devices: {e}");
            return EXIT_FAILED;
        }
    };
    let mut index = 0;
    for p in &platforms {
        println!("platform: {} ({}, {})", p.name, p.vendor, p.version);
        if p.devices.is_empty() {
            println!("  (no devices)");
        }
        for d in &p.devices {
            println!("  device {index}: {} [{}]", d.name, d.kind);
            println!("    vendor / version:     {} / {}", d.vendor, d.version);
            println!("    compute units:        {}", d.compute_units);
            println!("    global memory:        {}", bytes(d.global_mem_bytes));
            println!("    largest allocation:   {}", bytes(d.max_alloc_bytes));
            println!("    local memory:         {}", bytes(d.local_mem_bytes));
            println!("    max work-group size:  {}", d.max_work_group_size);
            println!(
                "    fp64:                 {}",
                if d.fp64 { "yes" } else { "no" }
            );
            index += 1;
        }
    }
    match opencl::device() {
        Ok(d) => println!(
            "hetsim uses: {} (set HETSIM_OPENCL_DEVICE=<n> to choose)",
            d.name
        ),
        Err(e) => println!("hetsim cannot use OpenCL here: {e}"),
    }
    EXIT_OK
}

fn bytes(n: u64) -> String {
    const GIB: f64 = (1u64 << 30) as f64;
    const MIB: f64 = (1u64 << 20) as f64;
    let x = n as f64;
    if x >= GIB {
        format!("{:.1} GiB", x / GIB)
    } else if x >= MIB {
        format!("{:.1} MiB", x / MIB)
    } else {
        format!("{:.1} KiB", x / 1024.0)
    }
}
