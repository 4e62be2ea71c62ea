//! `hetsim devices`: the OpenCL platforms and devices, and the one hetsim would use.

use super::exit::{EXIT_FAILED, EXIT_OK};
use super::out::{sayln, tellln};
use crate::backend::opencl;

/// Lists OpenCL platforms and devices with their limits.
pub fn devices() -> i32 {
    let platforms = match opencl::platforms() {
        Ok(p) => p,
        Err(e) => {
            tellln!("hetsim devices: {e}");
            return EXIT_FAILED;
        }
    };
    let mut index = 0;
    for p in &platforms {
        sayln!("platform: {} ({}, {})", p.name, p.vendor, p.version);
        if p.devices.is_empty() {
            sayln!("  (no devices)");
        }
        for d in &p.devices {
            sayln!("  device {index}: {} [{}]", d.name, d.kind);
            sayln!("    vendor / version:     {} / {}", d.vendor, d.version);
            sayln!("    compute units:        {}", d.compute_units);
            sayln!("    global memory:        {}", bytes(d.global_mem_bytes));
            sayln!("    largest allocation:   {}", bytes(d.max_alloc_bytes));
            sayln!("    local memory:         {}", bytes(d.local_mem_bytes));
            sayln!("    max work-group size:  {}", d.max_work_group_size);
            sayln!(
                "    fp64:                 {}",
                if d.fp64 { "yes" } else { "no" }
            );
            index += 1;
        }
    }
    let device = super::settings(&Default::default())
        .map_err(|e| e.to_string())
        .and_then(|s| {
            opencl::device_numbered(s.backend_options.opencl.device).map_err(|e| e.to_string())
        });
    match device {
        Ok(d) => sayln!(
            "hetsim uses: {} (set HETSIM_OPENCL_DEVICE=<n> to choose)",
            d.name
        ),
        Err(e) => sayln!("hetsim cannot use OpenCL here: {e}"),
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
