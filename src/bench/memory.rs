//! The process's resident set, read from `/proc/self/status` (Linux), and its peak reset per
//! measurement: writing `5` to `/proc/self/clear_refs` sets the peak (`VmHWM`) back to the
//! current resident set, so the peak read after a measurement is the most the process held
//! while it ran. The figures are the whole process's — the binary, the threads' stacks, and any
//! memory an earlier measurement freed that the allocator kept — which is why a measurement
//! also reports what it added above the resident set it started from.

/// The resident set at the start of a measurement, with the peak reset to it.
#[derive(Clone, Copy, Debug)]
pub struct Resident {
    /// Bytes resident when the measurement started.
    pub start: u64,
}

/// What a measurement held at most: the process's peak resident set while it ran, and how
/// much of it the measurement added above the resident set it started from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Peak {
    pub peak_bytes: u64,
    pub added_bytes: u64,
}

/// Resets the peak resident set and returns where the measurement starts; None where the
/// system does not offer both (not Linux, or a kernel without `clear_refs` mode 5). Memory the
/// allocator kept from earlier work is handed back first (glibc's `malloc_trim`), so that the
/// start is what the process still uses and a measurement's peak counts what it allocated.
pub fn start() -> Option<Resident> {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim only returns free heap pages to the system; it takes no pointers.
    unsafe {
        libc::malloc_trim(0);
    }
    std::fs::write("/proc/self/clear_refs", "5").ok()?;
    let start = status_bytes("VmRSS:")?;
    Some(Resident { start })
}

impl Resident {
    /// The peak since [`start`].
    pub fn peak(&self) -> Option<Peak> {
        let peak_bytes = status_bytes("VmHWM:")?.max(self.start);
        Some(Peak {
            peak_bytes,
            added_bytes: peak_bytes - self.start,
        })
    }
}

/// A `/proc/self/status` field in bytes (the file states kB).
fn status_bytes(field: &str) -> Option<u64> {
    let text = std::fs::read_to_string("/proc/self/status").ok()?;
    parse_kb(&text, field)
}

fn parse_kb(status: &str, field: &str) -> Option<u64> {
    let line = status.lines().find(|l| l.starts_with(field))?;
    let kb: u64 = line[field.len()..]
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .ok()?;
    Some(kb * 1024)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_parse_in_bytes() {
        let status = "Name:\thetsim\nVmHWM:\t  208724 kB\nVmRSS:\t   13524 kB\n";
        assert_eq!(parse_kb(status, "VmHWM:"), Some(208_724 * 1024));
        assert_eq!(parse_kb(status, "VmRSS:"), Some(13_524 * 1024));
        assert_eq!(parse_kb(status, "VmSwap:"), None);
    }

    /// Touching 64 MiB after a reset raises the peak by about that much (Linux only).
    #[cfg(target_os = "linux")]
    #[test]
    fn a_touched_buffer_shows_in_the_peak() {
        let Some(r) = start() else {
            eprintln!("skipped: /proc/self/clear_refs is not writable here");
            return;
        };
        let buffer = vec![1u8; 64 << 20];
        std::hint::black_box(&buffer);
        let p = r.peak().expect("VmHWM");
        drop(buffer);
        // Other tests' threads allocate and free in this process too: a lower bound only.
        assert!(p.peak_bytes >= r.start + (60 << 20), "{p:?} from {r:?}");
    }
}
