//! How many threads a run's parallel work uses (`--threads N`, Python's `threads=`).
//!
//! The CPU engine, the host-side measurements and the OpenCL backend's host work run on rayon.
//! A request that names a thread count gets a pool of its own, built once, and its work is
//! installed in that pool; nothing process-wide is set here, so two runs in one process (a
//! notebook) may use different counts. A request that names none uses rayon's global pool:
//! every core, or `RAYON_NUM_THREADS`, as before the option existed.
//!
//! PoCL's CPU device starts its own threads when the OpenCL platform is first touched and reads
//! their number from the environment then: `POCL_MAX_PTHREAD_COUNT` for the `pthread` device
//! (PoCL 3.1, Debian 12's, reads only this one), `POCL_CPU_MAX_CU_COUNT` for the `cpu` device of
//! later PoCL. [`POCL_THREAD_VARIABLES`] names both, and the command line sets them before
//! anything can touch OpenCL. Results do not depend on the thread count: the engine's work is
//! split into pieces whose arithmetic is fixed, whichever thread runs them.

use std::num::NonZeroUsize;
use std::sync::Arc;

/// The environment variables PoCL's CPU device reads its thread count from (the later and the
/// earlier name), once, when the OpenCL platform is first queried.
pub const POCL_THREAD_VARIABLES: [&str; 2] = ["POCL_CPU_MAX_CU_COUNT", "POCL_MAX_PTHREAD_COUNT"];

/// A thread count, or none: rayon's global pool.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Threads(Option<NonZeroUsize>);

impl Threads {
    /// rayon's global pool: all cores, or `RAYON_NUM_THREADS`.
    pub const DEFAULT: Threads = Threads(None);

    /// Exactly `n` threads (`n` at least 1).
    pub fn exactly(n: usize) -> Result<Threads, String> {
        NonZeroUsize::new(n)
            .map(|n| Threads(Some(n)))
            .ok_or_else(|| "must be at least 1 (the number of threads to run on)".to_string())
    }

    /// Reads a count as the command line gives it (`4`).
    pub fn parse(text: &str) -> Result<Threads, String> {
        let n: usize = text
            .trim()
            .parse()
            .map_err(|_| format!("must be a whole number of threads, at least 1, not `{text}`"))?;
        Threads::exactly(n)
    }

    /// The count asked for, if any.
    pub fn count(&self) -> Option<usize> {
        self.0.map(NonZeroUsize::get)
    }

    /// The pool the work runs in: a new one of the asked size, or the global one.
    pub fn pool(&self) -> Result<Pool, String> {
        let Some(n) = self.0 else {
            return Ok(Pool(None));
        };
        rayon::ThreadPoolBuilder::new()
            .num_threads(n.get())
            .thread_name(|i| format!("hetsim-{i}"))
            .build()
            .map(|p| Pool(Some(Arc::new(p))))
            .map_err(|e| format!("cannot start {n} threads: {e}"))
    }
}

/// Where a run's parallel work goes: a pool of its own, or rayon's global pool.
#[derive(Clone, Default)]
pub struct Pool(Option<Arc<rayon::ThreadPool>>);

impl Pool {
    /// Runs `work` so that every rayon call inside it uses this pool.
    pub fn install<R: Send>(&self, work: impl FnOnce() -> R + Send) -> R {
        match &self.0 {
            Some(pool) => pool.install(work),
            None => work(),
        }
    }

    /// The number of threads parallel work is spread over.
    pub fn threads(&self) -> usize {
        match &self.0 {
            Some(pool) => pool.current_num_threads(),
            None => rayon::current_num_threads(),
        }
    }
}

impl std::fmt::Debug for Pool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Pool({} threads)", self.threads())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_are_whole_and_positive() {
        assert_eq!(Threads::parse("3").unwrap().count(), Some(3));
        assert_eq!(Threads::parse(" 1 ").unwrap().count(), Some(1));
        for bad in ["0", "x", "-1", "1.5", ""] {
            assert!(Threads::parse(bad).is_err(), "{bad} accepted");
        }
        assert_eq!(Threads::DEFAULT.count(), None);
    }

    #[test]
    fn installed_work_sees_the_pool() {
        let pool = Threads::exactly(3).unwrap().pool().unwrap();
        assert_eq!(pool.install(rayon::current_num_threads), 3);
        assert_eq!(pool.threads(), 3);
        let global = Threads::DEFAULT.pool().unwrap();
        assert_eq!(
            global.install(rayon::current_num_threads),
            rayon::current_num_threads()
        );
    }
}
