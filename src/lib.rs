//! hetsim: continuous-time simulation of biologically plausible learning circuits.
//!
//! The pipeline (see ARCHITECTURE.md): `spec` (YAML files) → `circuit` (graph, rule macros,
//! checks) → `plan` (flat ensemble buffers) → `backend` (cpu, opencl) → `record` (run
//! directories) → `plot`. `experiment` is the run layer that `run`, `compare` and `rerun` share.

pub mod activation;
pub mod backend;
pub mod bench;
pub mod circuit;
pub mod cli;
pub mod drawing;
pub mod evolve;
pub mod experiment;
pub mod measure;
pub mod normals;
pub mod numeric;
pub mod plan;
pub mod plot;
pub mod record;
pub mod rng;
pub mod rule;
pub mod run;
pub mod schema;
pub mod settings;
pub mod simd;
pub mod spec;
pub mod step;
pub mod sweep;
pub mod task;
pub mod text;
pub mod workload;
