//! hetsim: continuous-time simulation of biologically plausible learning circuits.
//!
//! The pipeline (see ARCHITECTURE.md): `spec` (YAML files) → `circuit` (graph, rule macros,
//! checks) → `plan` (flat ensemble buffers) → `backend` (cpu, opencl) → `record` (run
//! directories) → `plot`.

pub mod spec;
pub mod activation;
pub mod measure;
