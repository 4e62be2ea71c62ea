//! Checkpoint files: a backend's [`StateImage`] with a header naming what it belongs to, written
//! whole or not at all.
//!
//! A file is a first line `hetsim checkpoint`, a header of one JSON line (format version, step,
//! layout, precision, the identity of the run it belongs to, the sections' names and lengths,
//! the SHA-256 of the bytes that follow, and the run loop's own state), then the sections'
//! bytes one after another. It is written through a synced temporary file and a rename, so a
//! kill at any moment leaves the previous checkpoint or the new one, never part of one; a file
//! that is cut short or altered fails its checksum when read.

use crate::backend::state::Section;
use crate::backend::{Precision, StateImage};
use std::collections::BTreeMap;
use std::path::Path;

const MAGIC: &str = "hetsim checkpoint\n";
/// The version of the format this build writes and reads.
pub const FORMAT_VERSION: u32 = 1;

/// What a checkpoint must agree with before it is restored (circuit, build, backend,
/// precision, …): compared entry by entry, the first difference named.
pub type Identity = BTreeMap<String, String>;

#[derive(serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct Header {
    format: u32,
    step: u64,
    layout: String,
    precision: Precision,
    identity: Identity,
    sections: Vec<(String, u64)>,
    sha256: String,
    /// The run loop's state beside the backend's (opaque here).
    run: serde_json::Value,
}

/// A checkpoint read back.
#[derive(Debug)]
pub struct Checkpoint {
    pub identity: Identity,
    pub image: StateImage,
    pub run: serde_json::Value,
}

#[derive(Debug, thiserror::Error)]
pub enum CheckpointError {
    #[error("{path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
    #[error("{path}: not a hetsim checkpoint ({why})")]
    Format { path: String, why: String },
}

/// Writes `image` with its identity and the run loop's state to `path`, atomically and durably.
pub fn write(
    path: &Path,
    image: &StateImage,
    identity: &Identity,
    run: serde_json::Value,
) -> Result<(), CheckpointError> {
    let payload: Vec<u8> = image
        .sections
        .iter()
        .flat_map(|s| s.bytes.iter().copied())
        .collect();
    let header = Header {
        format: FORMAT_VERSION,
        step: image.step,
        layout: image.layout.clone(),
        precision: image.precision,
        identity: identity.clone(),
        sections: image
            .sections
            .iter()
            .map(|s| (s.name.clone(), s.bytes.len() as u64))
            .collect(),
        sha256: super::manifest::sha256_hex(&payload),
        run,
    };
    let mut bytes = MAGIC.as_bytes().to_vec();
    bytes.extend(serde_json::to_vec(&header).expect("a header serialises"));
    bytes.push(b'\n');
    bytes.extend(payload);
    super::atomic::write_durable(path, &bytes).map_err(|source| CheckpointError::Io {
        path: path.display().to_string(),
        source,
    })
}

/// Reads a checkpoint, checking its format version and checksum.
pub fn read(path: &Path) -> Result<Checkpoint, CheckpointError> {
    let shown = path.display().to_string();
    let bytes = std::fs::read(path).map_err(|source| CheckpointError::Io {
        path: shown.clone(),
        source,
    })?;
    parse(&bytes).map_err(|why| CheckpointError::Format { path: shown, why })
}

fn parse(bytes: &[u8]) -> Result<Checkpoint, String> {
    let rest = bytes
        .strip_prefix(MAGIC.as_bytes())
        .ok_or("it does not start with `hetsim checkpoint`")?;
    let end = rest
        .iter()
        .position(|b| *b == b'\n')
        .ok_or("the header is not terminated")?;
    let header: Header = serde_json::from_slice(&rest[..end])
        .map_err(|e| format!("the header does not read: {e}"))?;
    if header.format != FORMAT_VERSION {
        return Err(format!(
            "format {}, this build reads format {FORMAT_VERSION}",
            header.format
        ));
    }
    let payload = &rest[end + 1..];
    let total: u64 = header.sections.iter().map(|(_, n)| *n).sum();
    if total != payload.len() as u64 {
        return Err(format!(
            "the sections need {total} bytes, the file holds {} (cut short?)",
            payload.len()
        ));
    }
    if super::manifest::sha256_hex(payload) != header.sha256 {
        return Err("the checksum does not match its contents".into());
    }
    let mut at = 0usize;
    let sections = header
        .sections
        .iter()
        .map(|(name, n)| {
            let n = *n as usize;
            let section = Section {
                name: name.clone(),
                bytes: payload[at..at + n].to_vec(),
            };
            at += n;
            section
        })
        .collect();
    Ok(Checkpoint {
        identity: header.identity,
        image: StateImage {
            step: header.step,
            layout: header.layout,
            precision: header.precision,
            sections,
        },
        run: header.run,
    })
}

/// The first entry in which two identities differ: (key, what the checkpoint says, what the
/// run has).
pub fn first_difference(saved: &Identity, now: &Identity) -> Option<(String, String, String)> {
    let keys: std::collections::BTreeSet<&String> = saved.keys().chain(now.keys()).collect();
    keys.into_iter().find_map(|k| {
        let (a, b) = (saved.get(k), now.get(k));
        (a != b).then(|| {
            (
                k.clone(),
                a.cloned().unwrap_or_else(|| "(none)".into()),
                b.cloned().unwrap_or_else(|| "(none)".into()),
            )
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn image() -> StateImage {
        StateImage {
            step: 42,
            layout: "cpu f64 8 lanes".into(),
            precision: Precision::F64,
            sections: vec![
                Section {
                    name: "block 0".into(),
                    bytes: vec![1, 2, 3],
                },
                Section {
                    name: "block 1".into(),
                    bytes: vec![],
                },
            ],
        }
    }

    #[test]
    fn a_checkpoint_reads_back_and_a_damaged_one_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state.bin");
        let identity = Identity::from([("backend".to_string(), "cpu".to_string())]);
        write(&path, &image(), &identity, serde_json::json!({"k": 1})).unwrap();
        let back = read(&path).unwrap();
        assert_eq!(back.image, image());
        assert_eq!(back.identity, identity);
        assert_eq!(back.run, serde_json::json!({"k": 1}));
        assert!(!dir.path().join("state.bin.tmp").exists());

        let mut bytes = std::fs::read(&path).unwrap();
        let n = bytes.len();
        bytes[n - 2] ^= 1;
        std::fs::write(&path, &bytes).unwrap();
        let err = read(&path).unwrap_err().to_string();
        assert!(err.contains("checksum"), "{err}");
        std::fs::write(&path, &bytes[..n - 1]).unwrap();
        let err = read(&path).unwrap_err().to_string();
        assert!(err.contains("cut short"), "{err}");
    }

    #[test]
    fn identities_name_their_first_difference() {
        let a = Identity::from([("backend".into(), "cpu".into()), ("x".into(), "1".into())]);
        let mut b = a.clone();
        assert_eq!(first_difference(&a, &b), None);
        b.insert("x".into(), "2".into());
        assert_eq!(
            first_difference(&a, &b),
            Some(("x".into(), "1".into(), "2".into()))
        );
    }
}
