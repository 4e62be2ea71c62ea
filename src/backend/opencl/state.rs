//! The OpenCL backend's state image: the device buffers that change as it runs (weights, the
//! state arena with the deferred updates and the row layout's parity copies, the window's
//! accumulators and counts, the cached training sample, the trace slots), read back and written
//! again whole, with the host's step, window start, parameter table (freeze edits it) and the
//! row layout's current sample. Buffers that never change after loading (task data, keys) are
//! the plan's and are not saved, nor is the integer table, which is the saved phase's (its
//! tasks and input scales) and is written again from the plan on restoring.

use super::{DeviceReal, Exec, OpenClBackend, OpenClError, Wide, read, write};
use crate::backend::state::{Field, Section, StateError, load_all};
use crate::backend::{BackendError, Precision, StateImage};

impl<R: DeviceReal> OpenClBackend<R> {
    /// The layout a state image must come from: the kernels lay out the arenas differently.
    fn layout(&self) -> String {
        let exec = match self.exec {
            Exec::Ensemble { .. } => "ensemble",
            Exec::Rows { .. } => "rows",
        };
        format!(
            "opencl {exec} {} ({} padded instances)",
            R::NAME,
            self.m.e_pad
        )
    }

    fn precision_of() -> Precision {
        if R::NAME == "f64" {
            Precision::F64
        } else {
            Precision::F32
        }
    }

    /// Length of the cached-sample buffer (as allocated).
    fn xs_len(&self) -> usize {
        let m = &self.m;
        m.e_pad * (m.n_in + m.n_out + m.hidden())
    }

    pub(super) fn save_checked(&self) -> Result<StateImage, OpenClError> {
        let m = &self.m;
        let e_pad = m.e_pad;
        // Every queued step finishes before anything is read.
        self.queue.finish().map_err(super::api("clFinish"))?;
        let mut sections = Vec::new();
        let mut put = |name: &str, f: &dyn Fn(&mut Vec<u8>)| {
            let mut bytes = Vec::new();
            f(&mut bytes);
            sections.push(Section {
                name: name.into(),
                bytes,
            });
        };
        let row_sample = match &self.exec {
            Exec::Rows { sample, .. } => Some(*sample),
            Exec::Ensemble { .. } => None,
        };
        put("host", &|out| {
            self.step.save(out);
            self.window_start.save(out);
            self.params.save(out);
            row_sample.save(out);
            self.phase.save(out);
            self.frozen.save(out);
        });
        let device =
            |len: usize, buf: &opencl3::memory::Buffer<R>| -> Result<Vec<R>, OpenClError> {
                let mut v = vec![R::default(); len];
                read(&self.queue, buf, &mut v)?;
                Ok(v)
            };
        let w = device(m.w_len * e_pad, &self.bufs.w)?;
        let s = device(m.state_len * e_pad, &self.bufs.s)?;
        let a = device(m.acc_len * e_pad, &self.bufs.a)?;
        let trace = device((m.trace_slots * 5).max(1), &self.bufs.trace)?;
        let xs = self.bufs.xs.read(&self.queue, self.xs_len())?;
        let loss = self.bufs.loss.read(&self.queue, e_pad)?;
        let mut cnt = vec![0u32; 2 * e_pad];
        read(&self.queue, &self.bufs.cnt, &mut cnt)?;
        let mut sample = vec![0u64; e_pad];
        read(&self.queue, &self.bufs.sample, &mut sample)?;
        put("w", &|out| w.save(out));
        put("s", &|out| s.save(out));
        put("a", &|out| a.save(out));
        put("trace", &|out| trace.save(out));
        put("xs", &|out| xs.save(out));
        put("loss", &|out| loss.save(out));
        put("cnt", &|out| cnt.save(out));
        put("sample", &|out| sample.save(out));
        Ok(StateImage {
            step: self.step,
            layout: self.layout(),
            precision: Self::precision_of(),
            sections,
        })
    }

    pub(super) fn restore_checked(&mut self, image: &StateImage) -> Result<(), BackendError> {
        image.check_layout(&self.layout(), Self::precision_of())?;
        let m = &self.m;
        let e_pad = m.e_pad;
        // Read everything first, so a bad image changes nothing.
        let load = |name: &str, f: &mut dyn FnMut(&mut &[u8]) -> Result<(), StateError>| {
            let section = image.section(name)?;
            load_all(name, &section.bytes, |input| f(input))
        };
        let (mut step, mut window_start, mut params) = (0u64, 0u64, self.params.clone());
        let (mut phase, mut frozen) = (0usize, self.frozen.clone());
        let mut row_sample = match &self.exec {
            Exec::Rows { sample, .. } => Some(*sample),
            Exec::Ensemble { .. } => None,
        };
        load("host", &mut |i| {
            step.load(i)?;
            window_start.load(i)?;
            params.load(i)?;
            row_sample.load(i)?;
            phase.load(i)?;
            frozen.load(i)
        })?;
        if phase >= m.plan.phases.len() {
            return Err(StateError(format!(
                "the state image was saved in phase {} of a protocol of {}",
                phase + 1,
                m.plan.phases.len()
            ))
            .into());
        }
        let mut w = vec![R::default(); m.w_len * e_pad];
        let mut s = vec![R::default(); m.state_len * e_pad];
        let mut a = vec![R::default(); m.acc_len * e_pad];
        let mut trace = vec![R::default(); (m.trace_slots * 5).max(1)];
        let mut xs = vec![0f64; self.xs_len()];
        let mut loss = vec![0f64; e_pad];
        let mut cnt = vec![0u32; 2 * e_pad];
        let mut sample = vec![0u64; e_pad];
        load("w", &mut |i| w.load(i))?;
        load("s", &mut |i| s.load(i))?;
        load("a", &mut |i| a.load(i))?;
        load("trace", &mut |i| trace.load(i))?;
        load("xs", &mut |i| xs.load(i))?;
        load("loss", &mut |i| loss.load(i))?;
        load("cnt", &mut |i| cnt.load(i))?;
        load("sample", &mut |i| sample.load(i))?;
        let written = (|| -> Result<(), OpenClError> {
            // Nothing queued (the row layout's first steps) may land after the writes.
            self.queue.finish().map_err(super::api("clFinish"))?;
            let q = &self.queue;
            write(q, &mut self.bufs.w, &w)?;
            write(q, &mut self.bufs.s, &s)?;
            write(q, &mut self.bufs.a, &a)?;
            write(q, &mut self.bufs.trace, &trace)?;
            write_wide(q, &mut self.bufs.xs, &xs)?;
            write_wide(q, &mut self.bufs.loss, &loss)?;
            write(q, &mut self.bufs.cnt, &cnt)?;
            write(q, &mut self.bufs.sample, &sample)?;
            let p: Vec<R> = params.iter().map(|x| R::of(*x)).collect();
            write(q, &mut self.bufs.p, &p)?;
            q.finish().map_err(super::api("clFinish"))
        })();
        written.map_err(|e| self.failed("restore_state", e))?;
        // The parameter rows are the saved phase's, frozen instances' rows at zero.
        self.params = params;
        self.phase = phase;
        self.frozen = frozen;
        // The integer rows that select each instance's task and input scale are the phase's.
        self.write_longs(phase)
            .map_err(|e| self.failed("restore_state", e))?;
        self.step = step;
        self.window_start = window_start;
        if let (
            Exec::Rows {
                sample, pending, ..
            },
            Some(k),
        ) = (&mut self.exec, row_sample)
        {
            *sample = k;
            *pending = None;
        }
        Ok(())
    }
}

fn write_wide(
    queue: &opencl3::command_queue::CommandQueue,
    buf: &mut Wide,
    data: &[f64],
) -> Result<(), OpenClError> {
    buf.write(queue, data)
}
