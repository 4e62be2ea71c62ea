//! Carried activities (`--from RUN_DIR --carry activities`) written into the device's state
//! arena before the first step: rate populations' u and z and every trace's q, in every copy
//! the row layout keeps by step parity (the first step reads copy 0 and writes copy 1), as the
//! initial state is written. The row layout's step 0 products, formed ahead from the rates
//! when the backend was made, are formed again from the carried ones.

use super::{DeviceReal, OpenClBackend, OpenClError, read, write};
use crate::backend::{ActivitySeed, BackendError};

impl<R: DeviceReal> OpenClBackend<R> {
    pub(super) fn set_activities_checked(
        &mut self,
        seed: &ActivitySeed,
    ) -> Result<(), BackendError> {
        seed.check(&self.m.plan)?;
        if self.step != 0 {
            return Err(crate::backend::StateError(format!(
                "activities are carried before the first step, not at step {}",
                self.step
            ))
            .into());
        }
        self.write_activities(seed)
            .and_then(|()| self.prime())
            .map_err(|e| self.failed("set_activities", e))
    }

    fn write_activities(&mut self, seed: &ActivitySeed) -> Result<(), OpenClError> {
        let m = &self.m;
        let e_pad = m.e_pad;
        // Nothing queued may land after the write.
        self.queue.finish().map_err(super::api("clFinish"))?;
        let mut s = vec![R::default(); m.state_len * e_pad];
        read(&self.queue, &self.bufs.s, &mut s)?;
        let mut wide: Vec<f64> = s.iter().map(|v| (*v).into()).collect();
        for (p, pop) in m.plan.populations.iter().enumerate() {
            for parity in 0..m.parities {
                if let Some(u) = &seed.u[p] {
                    m.scatter(u, pop.size, &mut wide, m.u_off(p, parity));
                }
                if let Some(z) = &seed.z[p] {
                    m.scatter(z, pop.size, &mut wide, m.z_off(p, parity));
                }
                if let (Some(q), Some(off)) = (&seed.q[p], m.q_at(p, parity)) {
                    m.scatter(q, pop.size, &mut wide, off);
                }
            }
        }
        let s: Vec<R> = wide.iter().map(|v| R::of(*v)).collect();
        write(&self.queue, &mut self.bufs.s, &s)?;
        self.queue.finish().map_err(super::api("clFinish"))
    }
}
