//! The CPU backend: the reference integrator, and a fast one.
//!
//! Instances are interleaved in blocks of `L` lanes: every buffer holds `[T; L]` per element, so
//! each per-step operation is a straight loop over lanes that the compiler turns into SIMD, with
//! no horizontal reductions. Blocks are independent and run on rayon's threads for a whole
//! `advance` without synchronising. A single instance uses `L = 1`.
//!
//! The integrator does not own the plan: `Static` is the shared, read-only part of the plan
//! that every block reads, and each block owns only its lanes' state.

mod block;
mod held;
mod lanes;
mod sparse;

use super::{
    Accumulate, ActivitySeed, Backend, BackendError, BackendKind, DeviceDescription, Precision,
    Snapshot, StateImage, Window,
    state::{Section, load_all},
};
use crate::plan::Plan;
use crate::simd::Simd;
use crate::spec::Method;
use crate::step::StepProgram;
use block::Block;
pub use lanes::Real;
use rayon::prelude::*;
pub use sparse::SPARSE_BELOW;
use std::sync::Arc;

/// The plan quantities every block reads.
pub(crate) struct Static {
    pub plan: Arc<Plan>,
    pub accumulate: Accumulate,
    /// Projections into each population.
    pub inputs_of: Vec<Vec<usize>>,
    /// Forward projections leaving each population (for the backprop pass).
    pub forward_out_of: Vec<Vec<usize>>,
    /// Whether the window's backprop accumulator of a projection equals its m·xᵀ update
    /// (output layer driven straight by the output error), so it can be skipped.
    pub backprop_is_rule: Vec<bool>,
    /// The vector instructions every block's step is compiled for.
    pub simd: Simd,
    /// The Euler / exponential Euler step every block executes, operation by operation.
    pub program: StepProgram,
    /// Masked projections of one-lane blocks below this density take the sparse layout
    /// (`sparse`; `SPARSE_BELOW` unless a benchmark or test asks for another).
    pub sparse_below: f64,
}

pub struct CpuBackend<T: Real, const L: usize> {
    shared: Arc<Static>,
    blocks: Vec<Block<T, L>>,
    step: u64,
    threads: usize,
}

/// Builds the CPU backend for a plan, choosing the lane width from the ensemble size, on the
/// vector level `auto` takes (`backend::make` passes the one the settings chose).
pub fn new(plan: Arc<Plan>, precision: Precision) -> Box<dyn Backend> {
    with_simd(plan, precision, Simd::auto())
}

/// The same on a given vector level (the results are the same on every level).
pub fn with_simd(plan: Arc<Plan>, precision: Precision, simd: Simd) -> Box<dyn Backend> {
    with_sparse_below(plan, precision, simd, SPARSE_BELOW)
}

/// `with_simd`, with masked projections of one-lane blocks in the sparse layout below density
/// `sparse_below` (0: never, above 1: always) — for the crossover benchmark and the tests that
/// compare the layouts.
pub fn with_sparse_below(
    plan: Arc<Plan>,
    precision: Precision,
    simd: Simd,
    sparse_below: f64,
) -> Box<dyn Backend> {
    let e = plan.n_instances();
    let s = sparse_below;
    match (precision, e) {
        (Precision::F64, 1) => Box::new(CpuBackend::<f64, 1>::new(plan, simd, s)),
        (Precision::F64, 2..=4) => Box::new(CpuBackend::<f64, 4>::new(plan, simd, s)),
        (Precision::F64, _) => Box::new(CpuBackend::<f64, 8>::new(plan, simd, s)),
        (Precision::F32, 1) => Box::new(CpuBackend::<f32, 1>::new(plan, simd, s)),
        (Precision::F32, 2..=8) => Box::new(CpuBackend::<f32, 8>::new(plan, simd, s)),
        (Precision::F32, _) => Box::new(CpuBackend::<f32, 16>::new(plan, simd, s)),
    }
}

impl<T: Real, const L: usize> CpuBackend<T, L> {
    pub fn new(plan: Arc<Plan>, simd: Simd, sparse_below: f64) -> Self {
        let n_pop = plan.populations.len();
        let mut inputs_of = vec![Vec::new(); n_pop];
        let mut forward_out_of = vec![Vec::new(); n_pop];
        for (q, p) in plan.projections.iter().enumerate() {
            inputs_of[p.to].push(q);
            if p.forward {
                forward_out_of[p.from].push(q);
            }
        }
        let backprop_is_rule = (0..plan.projections.len())
            .map(|q| plan.backprop_is_rule_everywhere(q))
            .collect();
        let accumulate = Accumulate::for_plan(&plan);
        // A large plastic matrix of a single instance, fed by the input population without
        // delay, computes the next step's forward sum as it writes its weights (one pass over
        // W instead of two; see `Block::fused_rows`).
        let fusable = |m: usize| {
            let motif = &plan.motifs[m];
            let p = &plan.projections[motif.projection];
            L == 1
                && !motif.has_noise()
                && p.from == plan.input
                && p.max_delay() == 0
                && p.synapses() >= block::PARALLEL_SYNAPSES
                && plan.method != Method::Rk4
        };
        let program = StepProgram::for_plan(&plan, fusable);
        let shared = Arc::new(Static {
            plan: plan.clone(),
            accumulate,
            inputs_of,
            forward_out_of,
            backprop_is_rule,
            simd,
            program,
            sparse_below,
        });
        let e = plan.n_instances();
        let blocks = (0..e.div_ceil(L))
            .map(|b| Block::new(&shared, b * L, (e - b * L).min(L)))
            .collect();
        CpuBackend {
            shared,
            blocks,
            step: 0,
            threads: rayon::current_num_threads(),
        }
    }
}

impl<T: Real, const L: usize> Backend for CpuBackend<T, L> {
    fn describe(&self) -> String {
        format!(
            "cpu ({}, {}, {}, {})",
            T::NAME,
            crate::text::count(L, "lane"),
            crate::text::count(self.threads, "thread"),
            self.shared.simd
        )
    }

    fn precision(&self) -> Precision {
        T::PRECISION
    }

    fn device(&self) -> DeviceDescription {
        DeviceDescription {
            kind: BackendKind::Cpu,
            name: crate::simd::cpu_model(),
            platform: None,
            driver_version: None,
        }
    }

    fn step(&self) -> u64 {
        self.step
    }

    fn advance(&mut self, steps: u64) -> Result<(), BackendError> {
        let shared = &self.shared;
        if self.blocks.len() == 1 {
            self.blocks[0].advance(shared, steps);
        } else {
            self.blocks
                .par_iter_mut()
                .for_each(|b| b.advance(shared, steps));
        }
        self.step += steps;
        Ok(())
    }

    fn enter_phase(&mut self, phase: usize) -> Result<(), BackendError> {
        let shared = &self.shared;
        for b in &mut self.blocks {
            b.enter_phase(shared, phase);
        }
        Ok(())
    }

    fn snapshot(&self) -> Result<Snapshot, BackendError> {
        let mut snap = Snapshot::default();
        self.snapshot_into(&mut snap)?;
        Ok(snap)
    }

    fn snapshot_into(&self, snap: &mut Snapshot) -> Result<(), BackendError> {
        let plan = &self.shared.plan;
        let e = plan.n_instances();
        // Sized to this plan (kept when they already are: the blocks overwrite every entry).
        fn fit(bufs: &mut Vec<Vec<f64>>, lens: impl ExactSizeIterator<Item = usize>) {
            bufs.resize_with(lens.len(), Vec::new);
            for (b, n) in bufs.iter_mut().zip(lens) {
                b.resize(n, 0.0);
            }
        }
        snap.step = self.step;
        let pops = &plan.populations;
        fit(
            &mut snap.weights,
            plan.projections.iter().map(|p| e * p.synapses()),
        );
        fit(&mut snap.u, pops.iter().map(|p| e * p.size));
        fit(&mut snap.z, pops.iter().map(|p| e * p.size));
        let trace_len =
            |p: &crate::plan::PlanPopulation| if p.trace.is_some() { e * p.size } else { 0 };
        fit(&mut snap.traces, pops.iter().map(trace_len));
        for b in &self.blocks {
            b.write_snapshot(snap);
        }
        Ok(())
    }

    fn take_window(&mut self) -> Result<Window, BackendError> {
        let plan = &self.shared.plan;
        let e = plan.n_instances();
        let mut w = Window {
            steps: 0,
            loss_integral: vec![0.0; e],
            present_s: vec![0.0; e],
            correct_s: vec![0.0; e],
            projections: plan
                .projections
                .iter()
                .map(|_| Default::default())
                .collect(),
            traces: Vec::new(),
        };
        for b in &mut self.blocks {
            b.take_window(&self.shared, &mut w);
        }
        Ok(w)
    }

    fn freeze(&mut self, instance: usize) -> Result<(), BackendError> {
        let b = instance / L;
        if let Some(block) = self.blocks.get_mut(b) {
            block.freeze(instance % L);
        }
        Ok(())
    }

    fn save_state(&self) -> Result<StateImage, BackendError> {
        let sections = self
            .blocks
            .iter()
            .enumerate()
            .map(|(b, block)| {
                let mut bytes = Vec::new();
                block.save_state(&mut bytes);
                Section {
                    name: format!("block {b}"),
                    bytes,
                }
            })
            .collect();
        Ok(StateImage {
            step: self.step,
            layout: self.layout(),
            precision: T::PRECISION,
            sections,
        })
    }

    fn restore_state(&mut self, image: &StateImage) -> Result<(), BackendError> {
        image.check_layout(&self.layout(), T::PRECISION)?;
        if image.sections.len() != self.blocks.len() {
            return Err(crate::backend::StateError(format!(
                "the state image holds {} blocks, this backend {}",
                image.sections.len(),
                self.blocks.len()
            ))
            .into());
        }
        let shared = &self.shared;
        for (b, block) in self.blocks.iter_mut().enumerate() {
            let section = image.section(&format!("block {b}"))?;
            load_all(&section.name, &section.bytes, |input| {
                block.restore_state(shared, input)
            })?;
        }
        self.step = image.step;
        Ok(())
    }

    fn set_activities(&mut self, seed: &ActivitySeed) -> Result<(), BackendError> {
        seed.check(&self.shared.plan)?;
        for b in &mut self.blocks {
            b.set_activities(seed);
        }
        Ok(())
    }
}

impl<T: Real, const L: usize> CpuBackend<T, L> {
    /// What a state image of this backend must have been written by: the lane width decides
    /// how instances are grouped into blocks.
    fn layout(&self) -> String {
        format!("cpu {} {}", T::NAME, crate::text::count(L, "lane"))
    }
}
