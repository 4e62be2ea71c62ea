//! `hetsim devices` and the choice of the OpenCL backend.

use crate::backend::{Backend, Precision};
use crate::plan::Plan;
use std::sync::Arc;

/// The OpenCL backend for a plan, with a description of its device, or why there is none.
pub fn opencl_backend(
    _plan: Arc<Plan>,
    _precision: Precision,
) -> Result<(Box<dyn Backend>, String), String> {
    Err("the OpenCL backend is not built into this version yet".into())
}

pub fn devices() -> i32 {
    eprintln!("hetsim devices: the OpenCL backend is not built into this version yet");
    super::commands::EXIT_FAILED
}
