//! One ensemble run as several: a backend per group of instances that integrate alike.
//!
//! `Plan::deferral_groups` finds instances whose held-input deferral differs (a compare of sgd
//! with oja, an evolution whose members' rules differ in form). Run together, the deferrable
//! ones would be integrated step by step and round differently from their single runs; here
//! each group gets its own backend on `Plan::subset`, and this backend hands every call to
//! the parts and stitches their results back into the whole plan's instance order — so
//! instance k of any ensemble is, bit for bit, what it is alone.

use super::state::{Field, Section, StateImage, load_all};
use super::{ActivitySeed, Backend, BackendError, DeviceDescription, Precision, Snapshot, Window};
use crate::plan::Plan;
use std::sync::{Arc, Mutex};

pub(super) struct Split {
    /// The whole plan (buffer sizes of the stitched results).
    plan: Arc<Plan>,
    parts: Vec<Part>,
    /// Each part's last snapshot, reused as `snapshot_into` reuses the caller's.
    scratch: Mutex<Vec<Snapshot>>,
}

struct Part {
    backend: Box<dyn Backend>,
    /// Whole-plan instance index of each of the part's instances.
    instances: Vec<usize>,
}

impl Split {
    /// Builds one backend per group with `make_part`, on the group's own plan.
    pub(super) fn new(
        plan: Arc<Plan>,
        groups: Vec<Vec<usize>>,
        mut make_part: impl FnMut(Arc<Plan>) -> Result<Box<dyn Backend>, BackendError>,
    ) -> Result<Split, BackendError> {
        let parts = groups
            .into_iter()
            .map(|instances| {
                let backend = make_part(Arc::new(plan.subset(&instances)))?;
                Ok(Part { backend, instances })
            })
            .collect::<Result<Vec<_>, BackendError>>()?;
        let scratch = Mutex::new(vec![Snapshot::default(); parts.len()]);
        Ok(Split {
            plan,
            parts,
            scratch,
        })
    }
}

/// Copies `part`'s per-instance blocks of `width` values into `whole` at its instances' places.
fn scatter(whole: &mut [f64], part: &[f64], instances: &[usize], width: usize) {
    for (local, &e) in instances.iter().enumerate() {
        whole[e * width..(e + 1) * width]
            .copy_from_slice(&part[local * width..(local + 1) * width]);
    }
}

/// Sizes `tables` to the given lengths, keeping the buffers it has.
fn fit(tables: &mut Vec<Vec<f64>>, lengths: impl Iterator<Item = usize>) {
    let lengths: Vec<usize> = lengths.collect();
    tables.truncate(lengths.len());
    for (k, &n) in lengths.iter().enumerate() {
        match tables.get_mut(k) {
            Some(table) => table.resize(n, 0.0),
            None => tables.push(vec![0.0; n]),
        }
    }
}

/// The same for a table every part may leave empty (not accumulated): empty when all are.
fn scatter_optional(
    whole: &mut Vec<f64>,
    part: &[f64],
    instances: &[usize],
    width: usize,
    e: usize,
) {
    if part.is_empty() {
        return;
    }
    if whole.is_empty() {
        // A part whose instances all have θ = 0 here accumulated nothing; the whole plan
        // would have accumulated zeros for them.
        whole.resize(e * width, 0.0);
    }
    scatter(whole, part, instances, width);
}

impl Backend for Split {
    fn describe(&self) -> String {
        format!(
            "{}; {} groups of instances integrated apart",
            self.parts[0].backend.describe(),
            self.parts.len()
        )
    }

    fn precision(&self) -> Precision {
        self.parts[0].backend.precision()
    }

    fn device(&self) -> DeviceDescription {
        self.parts[0].backend.device()
    }

    fn step(&self) -> u64 {
        self.parts[0].backend.step()
    }

    fn advance(&mut self, steps: u64) -> Result<(), BackendError> {
        for part in &mut self.parts {
            part.backend.advance(steps)?;
        }
        Ok(())
    }

    fn snapshot(&self) -> Result<Snapshot, BackendError> {
        let mut snap = Snapshot::default();
        self.snapshot_into(&mut snap)?;
        Ok(snap)
    }

    fn snapshot_into(&self, snap: &mut Snapshot) -> Result<(), BackendError> {
        let plan = &self.plan;
        let e = plan.n_instances();
        let mut scratch = self.scratch.lock().unwrap_or_else(|p| p.into_inner());
        for (part, buffer) in self.parts.iter().zip(scratch.iter_mut()) {
            part.backend.snapshot_into(buffer)?;
        }
        snap.step = scratch[0].step;
        // Every entry is overwritten below: the parts' instances cover the whole plan's.
        fit(
            &mut snap.weights,
            plan.projections.iter().map(|p| e * p.synapses()),
        );
        fit(&mut snap.u, plan.populations.iter().map(|p| e * p.size));
        fit(&mut snap.z, plan.populations.iter().map(|p| e * p.size));
        let traced = |k: usize| {
            scratch
                .iter()
                .any(|s| s.traces.get(k).is_some_and(|t| !t.is_empty()))
        };
        fit(
            &mut snap.traces,
            plan.populations
                .iter()
                .enumerate()
                .map(|(k, p)| if traced(k) { e * p.size } else { 0 }),
        );
        for (part, got) in self.parts.iter().zip(scratch.iter()) {
            let ids = &part.instances;
            for (q, p) in plan.projections.iter().enumerate() {
                scatter(&mut snap.weights[q], &got.weights[q], ids, p.synapses());
            }
            for (k, p) in plan.populations.iter().enumerate() {
                scatter(&mut snap.u[k], &got.u[k], ids, p.size);
                scatter(&mut snap.z[k], &got.z[k], ids, p.size);
                if let Some(trace) = got.traces.get(k).filter(|t| !t.is_empty()) {
                    scatter(&mut snap.traces[k], trace, ids, p.size);
                }
            }
        }
        Ok(())
    }

    fn take_window(&mut self) -> Result<Window, BackendError> {
        let plan = &self.plan;
        let e = plan.n_instances();
        let mut whole = Window {
            loss_integral: vec![0.0; e],
            present_s: vec![0.0; e],
            correct_s: vec![0.0; e],
            ..Window::default()
        };
        for (index, part) in self.parts.iter_mut().enumerate() {
            let got = part.backend.take_window()?;
            let ids = &part.instances;
            whole.steps = got.steps;
            scatter(&mut whole.loss_integral, &got.loss_integral, ids, 1);
            scatter(&mut whole.present_s, &got.present_s, ids, 1);
            scatter(&mut whole.correct_s, &got.correct_s, ids, 1);
            whole.projections.resize(
                got.projections.len().max(whole.projections.len()),
                Default::default(),
            );
            for (q, window) in got.projections.iter().enumerate() {
                let width = plan.projections[q].synapses();
                let target = &mut whole.projections[q];
                scatter_optional(&mut target.dw_rule, &window.dw_rule, ids, width, e);
                scatter_optional(&mut target.backprop, &window.backprop, ids, width, e);
                scatter_optional(&mut target.u_x, &window.u_x, ids, width, e);
            }
            // Activity traces sample instance 0, which only the first part holds.
            if index == 0 {
                whole.traces = got.traces;
            }
        }
        Ok(whole)
    }

    fn enter_phase(&mut self, phase: usize) -> Result<(), BackendError> {
        for part in &mut self.parts {
            part.backend.enter_phase(phase)?;
        }
        Ok(())
    }

    fn freeze(&mut self, instance: usize) -> Result<(), BackendError> {
        for part in &mut self.parts {
            if let Some(local) = part.instances.iter().position(|&e| e == instance) {
                return part.backend.freeze(local);
            }
        }
        Ok(())
    }

    /// The parts' images in one: their layouts in a `parts` section, their sections renamed
    /// `part k: …`.
    fn save_state(&self) -> Result<StateImage, BackendError> {
        let mut layouts = Vec::new();
        let mut sections = Vec::new();
        for (k, part) in self.parts.iter().enumerate() {
            let image = part.backend.save_state()?;
            layouts.push(image.layout);
            sections.extend(image.sections.into_iter().map(|s| Section {
                name: format!("part {k}: {}", s.name),
                bytes: s.bytes,
            }));
        }
        let mut bytes = Vec::new();
        layouts.save(&mut bytes);
        sections.insert(
            0,
            Section {
                name: "parts".into(),
                bytes,
            },
        );
        Ok(StateImage {
            step: self.step(),
            layout: self.layout(),
            precision: self.precision(),
            sections,
        })
    }

    /// Hands each part its own image back. A part whose image does not fit refuses it as a
    /// single backend would; the parts before it are then restored already, so the caller
    /// must not go on with this backend (a resumed run stops with the error).
    fn restore_state(&mut self, image: &StateImage) -> Result<(), BackendError> {
        image.check_layout(&self.layout(), self.precision())?;
        // Sized to this backend's parts: an image of another grouping is refused on reading.
        let mut layouts = vec![String::new(); self.parts.len()];
        load_all("parts", &image.section("parts")?.bytes, |input| {
            layouts.load(input)
        })?;
        for (k, (part, layout)) in self.parts.iter_mut().zip(layouts).enumerate() {
            let prefix = format!("part {k}: ");
            let sections = image
                .sections
                .iter()
                .filter_map(|s| {
                    s.name.strip_prefix(&prefix).map(|name| Section {
                        name: name.into(),
                        bytes: s.bytes.clone(),
                    })
                })
                .collect();
            part.backend.restore_state(&StateImage {
                step: image.step,
                layout,
                precision: image.precision,
                sections,
            })?;
        }
        Ok(())
    }

    /// Each part takes its own instances' activities.
    fn set_activities(&mut self, seed: &ActivitySeed) -> Result<(), BackendError> {
        seed.check(&self.plan)?;
        for part in &mut self.parts {
            part.backend
                .set_activities(&seed.subset(&self.plan, &part.instances))?;
        }
        Ok(())
    }
}

impl Split {
    /// Names the split by its parts' sizes: an image restores only into the same grouping.
    fn layout(&self) -> String {
        let sizes: Vec<String> = self
            .parts
            .iter()
            .map(|p| p.instances.len().to_string())
            .collect();
        format!("split into parts of {} instances", sizes.join(", "))
    }
}
