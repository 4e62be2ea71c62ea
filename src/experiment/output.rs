//! Where a run's files go, and the rules that protect results already written:
//!
//! - hetsim never writes into an existing non-empty directory unless asked to replace it, and
//!   then only if hetsim itself made that directory, for the same kind of work. It knows its
//!   own directories by a marker file, [`MARKER_FILE`], written when it claims one: the kind
//!   (run, sweep, evolution), a random 128-bit token and the directory's identity (device and
//!   inode), so a marker copied into another folder, or a file that merely looks like a hetsim
//!   file (a `manifest.json`), does not make that folder hetsim's to delete.
//! - one process at a time writes into a directory: [`DirLock`] is an exclusive advisory lock
//!   (`flock`) on [`LOCK_FILE`] inside it, held until dropped; a second process is refused,
//!   naming the directory and the holder's pid.

use super::ExperimentError;
use std::fs::File;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

/// The marker file that says hetsim made the directory it is in.
pub const MARKER_FILE: &str = ".hetsim-dir";
/// The file a [`DirLock`] locks (it holds the holder's pid, for messages).
pub const LOCK_FILE: &str = ".hetsim-lock";
/// What a marker's `marker` field says (a marker is small: larger files are not markers).
const MARKER_MAGIC: &str = "hetsim output directory";
const MARKER_MAX_BYTES: u64 = 4096;

/// Where results go.
#[derive(Clone, Debug, PartialEq)]
pub enum Output {
    /// A run directory. `path: None` picks `runs/<circuit name>-<unix time>`.
    Directory {
        path: Option<PathBuf>,
        /// Replace an existing run directory at `path` (its files are deleted first).
        replace: bool,
    },
    /// Keep everything in memory (the [`crate::record::Collector`] of the result).
    Memory,
}

/// What a hetsim output directory holds; a directory of one kind is never replaced by another.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DirKind {
    /// `run`, `compare` and `rerun`.
    Run,
    Sweep,
    Evolution,
}

impl DirKind {
    pub fn name(self) -> &'static str {
        match self {
            DirKind::Run => "run",
            DirKind::Sweep => "sweep",
            DirKind::Evolution => "evolution",
        }
    }
}

/// The marker's contents.
#[derive(serde::Serialize, serde::Deserialize)]
struct Marker {
    marker: String,
    kind: String,
    token: String,
    device: u64,
    inode: u64,
}

/// The default run directory for a circuit: `runs/<name>-<unix seconds>`, with `-2`, `-3`, …
/// appended if that exists already (two runs in the same second).
pub fn default_dir(name: &str) -> PathBuf {
    let secs = crate::record::unix_now() as u64;
    unused_name(PathBuf::from("runs").join(format!("{name}-{secs}")))
}

/// `base`, or `base-2`, `base-3`, … — the first that does not exist yet.
pub fn unused_name(base: PathBuf) -> PathBuf {
    let mut candidate = base.clone();
    let mut k = 2;
    while candidate.exists() {
        candidate = PathBuf::from(format!("{}-{k}", base.display()));
        k += 1;
    }
    candidate
}

/// [`claim_as`] for a run directory (`run`, `compare`, `rerun`).
pub fn claim(dir: &Path, replace: bool) -> Result<(), ExperimentError> {
    claim_as(dir, DirKind::Run, replace)
}

/// Makes `dir` ready for new results of `kind`: creates it, or accepts it empty, or — with
/// `replace` — empties a directory that hetsim marked as its own of the same kind; then marks
/// it. Anything else is refused, naming the directory and saying why. A directory another
/// process is writing (its lock is held) is refused too.
pub fn claim_as(dir: &Path, kind: DirKind, replace: bool) -> Result<(), ExperimentError> {
    claim_locked(dir, kind, replace).map(drop)
}

/// [`claim_as`], returning the directory's lock, held: nothing can claim or write the
/// directory between the claim and the caller's writing.
pub fn claim_locked(dir: &Path, kind: DirKind, replace: bool) -> Result<DirLock, ExperimentError> {
    if dir.as_os_str().is_empty() {
        return Err(ExperimentError::Usage(
            "the output directory is an empty path; name a directory".into(),
        ));
    }
    if std::fs::symlink_metadata(dir).is_ok() && !dir.is_dir() {
        return Err(ExperimentError::Usage(format!(
            "the output directory {} exists and is not a directory",
            dir.display()
        )));
    }
    // Decide before writing anything into the directory (not even the lock file): a folder
    // that is not ours is left exactly as it was.
    if !contents(dir)?.is_empty() {
        if !replace {
            return Err(ExperimentError::OutputExists(dir.to_path_buf()));
        }
        refuse_replace_unless_marked(dir, kind)?;
    }
    std::fs::create_dir_all(dir).map_err(|source| {
        ExperimentError::Record(crate::record::RecordError::CreateDir {
            path: dir.to_path_buf(),
            source,
        })
    })?;
    let lock = DirLock::acquire(dir)?;
    // Under the lock, look again: the directory may have changed since.
    let entries = contents(dir)?;
    if !entries.is_empty() {
        if !replace {
            return Err(ExperimentError::OutputExists(dir.to_path_buf()));
        }
        refuse_replace_unless_marked(dir, kind)?;
        for path in entries {
            // Not following links: a link inside the directory is removed, not its target.
            let is_dir = std::fs::symlink_metadata(&path)
                .map(|m| m.is_dir())
                .unwrap_or(false);
            let removed = if is_dir {
                std::fs::remove_dir_all(&path)
            } else {
                std::fs::remove_file(&path)
            };
            removed.map_err(|e| {
                ExperimentError::Usage(format!("--replace: cannot remove {}: {e}", path.display()))
            })?;
        }
    }
    write_marker(dir, kind)?;
    Ok(lock)
}

/// The directory's entries but the lock file (none when it does not exist).
fn contents(dir: &Path) -> Result<Vec<PathBuf>, ExperimentError> {
    let rd = match std::fs::read_dir(dir) {
        Ok(rd) => rd,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => {
            return Err(ExperimentError::Usage(format!(
                "cannot list the output directory {}: {e}",
                dir.display()
            )));
        }
    };
    let mut entries = Vec::new();
    for entry in rd {
        let entry = entry.map_err(|e| {
            ExperimentError::Usage(format!(
                "cannot list the output directory {}: {e}",
                dir.display()
            ))
        })?;
        if entry.file_name() != LOCK_FILE {
            entries.push(entry.path());
        }
    }
    Ok(entries)
}

fn refuse_replace_unless_marked(dir: &Path, kind: DirKind) -> Result<(), ExperimentError> {
    match marker_problem(dir, kind) {
        None => Ok(()),
        Some(why) => Err(ExperimentError::Usage(format!(
            "--replace: refusing to delete the files of {}: {why}",
            dir.display()
        ))),
    }
}

/// Whether hetsim marked `dir` as its own directory of `kind` (and the marker was written for
/// this very directory).
pub fn is_marked(dir: &Path, kind: DirKind) -> bool {
    marker_problem(dir, kind).is_none()
}

/// [`is_marked`], saying why not: for resuming into a directory, which must be hetsim's own.
pub fn check_marked(dir: &Path, kind: DirKind) -> Result<(), ExperimentError> {
    match marker_problem(dir, kind) {
        None => Ok(()),
        Some(why) => Err(ExperimentError::Usage(format!("{}: {why}", dir.display()))),
    }
}

/// Why `dir` is not hetsim's own directory of `kind`; None when it is.
pub fn marker_problem(dir: &Path, kind: DirKind) -> Option<String> {
    let not_ours = |what: &str| {
        Some(format!(
            "{what}, so it is not a hetsim {} directory",
            kind.name()
        ))
    };
    let path = dir.join(MARKER_FILE);
    let meta = match std::fs::symlink_metadata(&path) {
        Ok(m) => m,
        Err(_) => {
            return not_ours(&format!(
                "it has no {MARKER_FILE} marker (hetsim writes one in every directory it makes; directories made before markers existed must be deleted by hand)"
            ));
        }
    };
    if !meta.is_file() || meta.len() > MARKER_MAX_BYTES {
        return not_ours(&format!("its {MARKER_FILE} is not a hetsim marker"));
    }
    let mut text = String::new();
    let read = File::open(&path).and_then(|f| f.take(MARKER_MAX_BYTES).read_to_string(&mut text));
    if read.is_err() {
        return not_ours(&format!("its {MARKER_FILE} cannot be read"));
    }
    let marker: Marker = match serde_json::from_str(&text) {
        Ok(m) if is_marker(&m) => m,
        _ => return not_ours(&format!("its {MARKER_FILE} is not a hetsim marker")),
    };
    if marker.kind != kind.name() {
        return Some(format!(
            "it is a hetsim {} directory, not a {} directory",
            marker.kind,
            kind.name()
        ));
    }
    match identity(dir) {
        Some((device, inode)) if device == marker.device && inode == marker.inode => None,
        _ => not_ours(&format!(
            "its {MARKER_FILE} was written for another directory (copied or restored here)"
        )),
    }
}

fn is_marker(m: &Marker) -> bool {
    m.marker == MARKER_MAGIC
        && m.token.len() == 32
        && m.token.bytes().all(|b| b.is_ascii_hexdigit())
}

/// The directory's device and inode (what a copied marker cannot match).
#[cfg(unix)]
fn identity(dir: &Path) -> Option<(u64, u64)> {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata(dir).ok().map(|m| (m.dev(), m.ino()))
}

#[cfg(not(unix))]
fn identity(dir: &Path) -> Option<(u64, u64)> {
    std::fs::metadata(dir).ok().map(|_| (0, 0))
}

fn write_marker(dir: &Path, kind: DirKind) -> Result<(), ExperimentError> {
    let (device, inode) = identity(dir).ok_or_else(|| {
        ExperimentError::Usage(format!("cannot read the directory {}", dir.display()))
    })?;
    let marker = Marker {
        marker: MARKER_MAGIC.into(),
        kind: kind.name().into(),
        token: random_token(),
        device,
        inode,
    };
    let text = serde_json::to_string_pretty(&marker).unwrap_or_default() + "\n";
    let path = dir.join(MARKER_FILE);
    crate::record::atomic::write_atomic(&path, &text)
        .map_err(|e| ExperimentError::Usage(format!("cannot write {}: {e}", path.display())))
}

/// 128 random bits in hex: from the system's random source, else from the standard
/// library's randomly keyed hasher (mixed with the time and pid).
fn random_token() -> String {
    let mut bytes = [0u8; 16];
    let from_os = File::open("/dev/urandom").and_then(|mut f| f.read_exact(&mut bytes));
    if from_os.is_err() {
        use std::hash::{BuildHasher, Hasher};
        for half in bytes.chunks_mut(8) {
            let mut h = std::collections::hash_map::RandomState::new().build_hasher();
            h.write_u128(
                std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map(|d| d.as_nanos())
                    .unwrap_or(0),
            );
            h.write_u32(std::process::id());
            half.copy_from_slice(&h.finish().to_le_bytes());
        }
    }
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// An exclusive advisory lock on an output directory, held until dropped: one process writes
/// a directory at a time. Not blocking: a directory in use is refused at once.
#[derive(Debug)]
pub struct DirLock {
    // Closing the file releases the lock.
    _file: File,
    dir: PathBuf,
}

impl DirLock {
    /// Locks `dir` (which must exist), or says which process holds it.
    pub fn acquire(dir: &Path) -> Result<DirLock, ExperimentError> {
        let path = dir.join(LOCK_FILE);
        let cannot = |e: std::io::Error| {
            ExperimentError::Usage(format!("cannot lock the directory {}: {e}", dir.display()))
        };
        let mut options = std::fs::OpenOptions::new();
        options.read(true).write(true).create(true).truncate(false);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            // A link planted in the lock file's place is not followed.
            options.custom_flags(libc::O_NOFOLLOW);
        }
        let mut file = options.open(&path).map_err(cannot)?;
        #[cfg(unix)]
        {
            use std::os::unix::io::AsRawFd;
            // A lock belongs to the open file, and a child that a thread of the holder forks
            // shares it until the child's exec closes it: a lock released a moment ago may
            // still look held. So a refusal waits until the lock has stayed held for a second.
            let try_lock = || {
                // SAFETY: flock on a descriptor this function owns; no memory is involved.
                let rc = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) };
                (rc == 0)
                    .then_some(())
                    .ok_or_else(std::io::Error::last_os_error)
            };
            let started = std::time::Instant::now();
            let mut locked = try_lock();
            while locked
                .as_ref()
                .is_err_and(|e| e.raw_os_error() == Some(libc::EWOULDBLOCK))
                && started.elapsed() < std::time::Duration::from_secs(1)
            {
                std::thread::sleep(std::time::Duration::from_millis(50));
                locked = try_lock();
            }
            if let Err(err) = locked {
                if err.raw_os_error() == Some(libc::EWOULDBLOCK) {
                    let mut holder = String::new();
                    let _ = (&file).take(32).read_to_string(&mut holder);
                    let holder = holder.trim();
                    let by = if !holder.is_empty() && holder.bytes().all(|b| b.is_ascii_digit()) {
                        format!(" (pid {holder})")
                    } else {
                        String::new()
                    };
                    return Err(ExperimentError::Usage(format!(
                        "the directory {} is in use by another hetsim process{by}; wait for it to end, or choose another directory",
                        dir.display()
                    )));
                }
                return Err(cannot(err));
            }
        }
        // The holder's pid, for the message a second process prints.
        file.set_len(0).map_err(cannot)?;
        write!(file, "{}", std::process::id()).map_err(cannot)?;
        Ok(DirLock {
            _file: file,
            dir: dir.to_path_buf(),
        })
    }

    /// The directory locked.
    pub fn dir(&self) -> &Path {
        &self.dir
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(path: &Path, text: &str) {
        std::fs::write(path, text).unwrap();
    }

    #[test]
    fn a_new_or_empty_directory_is_claimed_and_marked() {
        let t = tempfile::tempdir().unwrap();
        let new = t.path().join("new/deeper");
        claim_as(&new, DirKind::Run, false).unwrap();
        assert!(is_marked(&new, DirKind::Run));
        assert!(!is_marked(&new, DirKind::Sweep));
        let empty = t.path().join("empty");
        std::fs::create_dir(&empty).unwrap();
        claim_as(&empty, DirKind::Evolution, false).unwrap();
        assert!(is_marked(&empty, DirKind::Evolution));
        assert!(check_marked(&empty, DirKind::Evolution).is_ok());
    }

    #[test]
    fn a_marked_directory_is_replaced_only_when_asked_and_of_the_same_kind() {
        let t = tempfile::tempdir().unwrap();
        let dir = t.path().join("run");
        claim(&dir, false).unwrap();
        write(&dir.join("manifest.json"), "{}");
        std::fs::create_dir(dir.join("figures")).unwrap();
        write(&dir.join("figures/a.svg"), "x");
        let e = claim(&dir, false).unwrap_err();
        assert!(matches!(e, ExperimentError::OutputExists(_)), "{e}");
        let e = claim_as(&dir, DirKind::Sweep, true)
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("hetsim run directory, not a sweep directory"),
            "{e}"
        );
        assert!(dir.join("manifest.json").exists());
        claim(&dir, true).unwrap();
        let left: Vec<_> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        let mut left = left;
        left.sort();
        assert_eq!(left, [MARKER_FILE, LOCK_FILE]);
        assert!(is_marked(&dir, DirKind::Run));
    }

    #[test]
    fn replace_never_deletes_a_folder_hetsim_did_not_mark() {
        let t = tempfile::tempdir().unwrap();
        // A project folder that happens to hold a manifest.json.
        let dir = t.path().join("web-app");
        std::fs::create_dir_all(dir.join(".git")).unwrap();
        std::fs::create_dir_all(dir.join("src")).unwrap();
        write(&dir.join("manifest.json"), r#"{"name": "web-app"}"#);
        let e = claim(&dir, true).unwrap_err().to_string();
        assert!(e.contains(&dir.display().to_string()), "{e}");
        assert!(e.contains("has no .hetsim-dir marker"), "{e}");
        assert!(dir.join(".git").is_dir() && dir.join("src").is_dir());
        assert!(
            !dir.join(LOCK_FILE).exists(),
            "nothing written into a folder not ours"
        );
        // A forged marker: wrong shape, or a real marker copied from another directory.
        write(&dir.join(MARKER_FILE), r#"{"kind": "run"}"#);
        let e = claim(&dir, true).unwrap_err().to_string();
        assert!(e.contains("is not a hetsim marker"), "{e}");
        let ours = t.path().join("ours");
        claim(&ours, false).unwrap();
        std::fs::copy(ours.join(MARKER_FILE), dir.join(MARKER_FILE)).unwrap();
        let e = claim(&dir, true).unwrap_err().to_string();
        assert!(e.contains("written for another directory"), "{e}");
        assert!(dir.join(".git").is_dir() && dir.join("manifest.json").is_file());
        // A marker that is a link to a real one.
        std::fs::remove_file(dir.join(MARKER_FILE)).unwrap();
        #[cfg(unix)]
        {
            std::os::unix::fs::symlink(ours.join(MARKER_FILE), dir.join(MARKER_FILE)).unwrap();
            let e = claim(&dir, true).unwrap_err().to_string();
            assert!(e.contains("is not a hetsim marker"), "{e}");
        }
        assert!(dir.join("src").is_dir());
        let e = check_marked(&dir, DirKind::Run).unwrap_err().to_string();
        assert!(e.starts_with(&dir.display().to_string()), "{e}");
    }

    #[test]
    fn an_empty_path_is_refused_before_anything_is_written() {
        let e = claim(Path::new(""), true).unwrap_err().to_string();
        assert!(e.contains("empty path"), "{e}");
    }

    #[test]
    fn a_file_in_the_way_is_refused() {
        let t = tempfile::tempdir().unwrap();
        let file = t.path().join("f");
        write(&file, "data");
        let e = claim(&file, true).unwrap_err().to_string();
        assert!(e.contains("is not a directory"), "{e}");
        assert_eq!(std::fs::read_to_string(&file).unwrap(), "data");
    }

    #[test]
    fn a_directory_is_locked_by_one_holder_at_a_time() {
        let t = tempfile::tempdir().unwrap();
        let dir = t.path();
        let lock = DirLock::acquire(dir).unwrap();
        assert_eq!(lock.dir(), dir);
        let e = DirLock::acquire(dir).unwrap_err().to_string();
        assert!(e.contains(&dir.display().to_string()), "{e}");
        assert!(
            e.contains(&format!(
                "in use by another hetsim process (pid {})",
                std::process::id()
            )),
            "{e}"
        );
        // Claiming (even replacing) a directory in use is refused.
        let e = claim(dir, true).unwrap_err().to_string();
        assert!(e.contains("in use"), "{e}");
        drop(lock);
        let again = DirLock::acquire(dir).unwrap();
        drop(again);
        let held = claim_locked(dir, DirKind::Run, false).unwrap();
        assert!(DirLock::acquire(dir).is_err());
        drop(held);
    }
}
