//! The CPU time the whole process has used (every thread, user and system), so that a
//! measurement on a shared machine can be read by the work it did as well as by the wall
//! time it waited: under load, wall time grows with the other processes, CPU time much less.

/// Seconds of CPU time the process has used so far (None where `getrusage` fails).
pub fn process_seconds() -> Option<f64> {
    // SAFETY: getrusage writes one rusage struct into the zeroed value we own.
    let usage = unsafe {
        let mut usage: libc::rusage = std::mem::zeroed();
        if libc::getrusage(libc::RUSAGE_SELF, &mut usage) != 0 {
            return None;
        }
        usage
    };
    let seconds = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 * 1e-6;
    Some(seconds(usage.ru_utime) + seconds(usage.ru_stime))
}

/// CPU seconds used since `start` (a [`process_seconds`] reading).
pub fn since(start: Option<f64>) -> Option<f64> {
    Some(process_seconds()? - start?)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A busy loop shows as CPU time; the clock never runs backwards.
    #[test]
    fn busy_work_counts() {
        let start = process_seconds();
        assert!(start.is_some_and(|s| s >= 0.0));
        let mut x = 0u64;
        let began = std::time::Instant::now();
        while began.elapsed().as_millis() < 50 {
            x = std::hint::black_box(x.wrapping_mul(6364136223846793005).wrapping_add(1));
        }
        let used = since(start).unwrap();
        assert!(used > 0.0, "{used}");
    }
}
