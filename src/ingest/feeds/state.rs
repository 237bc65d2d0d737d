//! Per-source poll state (`feeds-state.json` in the index directory): the validators of the
//! last successful fetch, a hash of the last body, when the source was last polled and what
//! that poll did.
//!
//! Written atomically (temp file + rename) and only after the index commit of the poll it
//! describes: a crash between the two makes the next run fetch the feed again (and find every
//! paper unchanged) instead of skipping papers that never reached the index.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::client::Validators;

/// File name inside the index directory.
pub const STATE_FILE: &str = "feeds-state.json";

/// What is remembered about one source.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct SourceState {
    #[serde(default)]
    pub validators: Validators,
    /// FNV-1a hash of the last body that was applied (skips re-parsing an identical body
    /// from a server that sends no validators).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body_hash: Option<u64>,
    /// Unix seconds of the last poll (successful or not).
    #[serde(default)]
    pub last_poll: Option<i64>,
    /// Unix seconds of the last successful poll.
    #[serde(default)]
    pub last_success: Option<i64>,
    /// One-line outcome of the last poll.
    #[serde(default)]
    pub last_result: String,
    /// Failed polls in a row.
    #[serde(default)]
    pub consecutive_failures: u32,
}

/// The whole state file.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct FeedState {
    #[serde(default)]
    pub sources: BTreeMap<String, SourceState>,
}

/// Errors reading or writing the state file.
#[derive(Debug, thiserror::Error)]
pub enum StateError {
    #[error("cannot write feed state {path}: {source}")]
    Write {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot read feed state {path}: {source}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

impl FeedState {
    /// Loads the state of the index at `dir`. A missing file is an empty state; an unreadable
    /// or corrupt one is logged and treated as empty (costs one full re-fetch, loses nothing).
    pub fn load(dir: &Path) -> Result<FeedState, StateError> {
        let path = dir.join(STATE_FILE);
        match std::fs::read(&path) {
            Ok(bytes) => match serde_json::from_slice(&bytes) {
                Ok(s) => Ok(s),
                Err(e) => {
                    tracing::warn!(path = %path.display(), error = %e, "corrupt feed state ignored; sources will be fetched in full");
                    Ok(FeedState::default())
                }
            },
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(FeedState::default()),
            Err(source) => Err(StateError::Read { path, source }),
        }
    }

    /// Writes the state atomically (temp file, fsync, rename).
    pub fn save(&self, dir: &Path) -> Result<(), StateError> {
        let path = dir.join(STATE_FILE);
        let werr = |source| StateError::Write {
            path: path.clone(),
            source,
        };
        let json = serde_json::to_vec_pretty(self).map_err(|e| werr(std::io::Error::other(e)))?;
        crate::index::write_atomic(&path, &json).map_err(werr)
    }
}

/// FNV-1a of a body.
pub fn body_hash(bytes: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in bytes {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_corrupt_file() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(FeedState::load(dir.path()).unwrap(), FeedState::default());
        let mut s = FeedState::default();
        s.sources.insert(
            "cl".into(),
            SourceState {
                validators: Validators {
                    etag: Some("\"abc\"".into()),
                    last_modified: None,
                },
                last_result: "ok".into(),
                ..Default::default()
            },
        );
        s.save(dir.path()).unwrap();
        assert_eq!(FeedState::load(dir.path()).unwrap(), s);
        assert!(!dir.path().join("feeds-state.json.tmp").exists());
        std::fs::write(dir.path().join(STATE_FILE), b"{trunc").unwrap();
        assert_eq!(FeedState::load(dir.path()).unwrap(), FeedState::default());
    }
}
