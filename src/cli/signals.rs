//! SIGINT and SIGTERM, received on a thread of hetsim's own, whatever the libraries it loads do
//! with signals.
//!
//! Why not signal handlers: the OpenCL platform (PoCL) loads LLVM, which installs handlers for
//! SIGINT, SIGTERM and more; a handler installed after it (signal-hook) chains to LLVM's, which
//! restores the default action and raises the signal again, so the process died at once (exit
//! 143 on SIGTERM, the manifest left at `running`), and which handler runs depends on the order
//! the libraries loaded in. Instead, [`install`] blocks both signals in the main thread before
//! any other thread exists (every thread inherits the mask, those of rayon, PoCL and LLVM
//! included), so no handler ever runs, and a dedicated thread takes them with `sigwait`:
//!
//! - while a command has asked for a stop flag ([`stop_flag`]), the first signal sets it (the
//!   run stops after the current window and records `interrupted`); a second one ends the
//!   process at once with exit code 130;
//! - otherwise the signal has its default effect (the process ends, killed by that signal).
//!
//! Child processes are not affected: the standard library resets the mask when it spawns one.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

/// The exit code after a second signal while a run stops.
const EXIT_INTERRUPTED: i32 = super::exit::EXIT_INTERRUPTED;

/// The stop flag of the command running, once it asked for one.
static STOP: Mutex<Option<Arc<AtomicBool>>> = Mutex::new(None);

/// Blocks SIGINT and SIGTERM in this thread (and so in every thread started after it) and
/// starts the thread that receives them. Call first thing in `main`, before any other thread.
pub fn install() {
    #[cfg(unix)]
    {
        let set = signal_set();
        // SAFETY: changing this thread's signal mask with a set built by sigemptyset/sigaddset.
        let rc = unsafe { libc::pthread_sigmask(libc::SIG_BLOCK, &set, std::ptr::null_mut()) };
        if rc != 0 {
            return;
        }
        let spawned = std::thread::Builder::new()
            .name("hetsim-signals".into())
            .spawn(move || receive(set));
        if spawned.is_err() {
            // Without the receiving thread, leave the signals as they were.
            // SAFETY: as above.
            unsafe { libc::pthread_sigmask(libc::SIG_UNBLOCK, &set, std::ptr::null_mut()) };
        }
    }
}

/// A flag that SIGINT and SIGTERM set from now on (a run, sweep or evolution stops after the
/// current window, ensemble or generation); a second signal ends the process at once.
pub fn stop_flag() -> Arc<AtomicBool> {
    let flag = Arc::new(AtomicBool::new(false));
    if let Ok(mut stop) = STOP.lock() {
        *stop = Some(flag.clone());
    }
    flag
}

#[cfg(unix)]
fn signal_set() -> libc::sigset_t {
    // SAFETY: sigemptyset initialises the set before sigaddset reads it.
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        libc::sigaddset(&mut set, libc::SIGINT);
        libc::sigaddset(&mut set, libc::SIGTERM);
        set
    }
}

#[cfg(unix)]
fn receive(set: libc::sigset_t) {
    loop {
        let mut signal: libc::c_int = 0;
        // SAFETY: waits for one of the blocked signals in `set`.
        if unsafe { libc::sigwait(&set, &mut signal) } != 0 {
            continue;
        }
        let flag = STOP.lock().ok().and_then(|s| s.clone());
        match flag {
            // The first signal during a run: ask it to stop.
            Some(flag) if !flag.swap(true, Ordering::SeqCst) => {}
            // A second one: end now (the rows written so far are whole).
            Some(_) => unsafe { libc::_exit(EXIT_INTERRUPTED) },
            None => die_of(signal),
        }
    }
}

/// Ends the process as the signal's default action would (killed by it), whatever handler a
/// library installed for it meanwhile.
#[cfg(unix)]
fn die_of(signal: libc::c_int) -> ! {
    // SAFETY: resetting the disposition and unblocking the signal in this thread, then
    // raising it; `_exit` only if the process survived that.
    unsafe {
        libc::signal(signal, libc::SIG_DFL);
        let mut one: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut one);
        libc::sigaddset(&mut one, signal);
        libc::pthread_sigmask(libc::SIG_UNBLOCK, &one, std::ptr::null_mut());
        libc::raise(signal);
        libc::_exit(128 + signal)
    }
}
