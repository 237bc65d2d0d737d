//! Which papers each radar has already delivered (`<index>/delivered.json`), so that a paper
//! reaches a reader once: a digest marks what it sent, "mark as read" (web page, API, CLI)
//! marks what the reader has seen, and feeds and digests leave those papers out by default.
//! A paper delivered at one version and later revised (a higher arXiv version) comes back,
//! marked as updated.
//!
//! Stored like `radars.json`: every change under an exclusive lock on `delivered.lock`, written
//! to a temporary file, fsynced and renamed (then the directory fsynced), so a crash leaves the
//! old or the new file and two writers never lose each other's marks. A file that cannot be
//! parsed is an error, never overwritten. Marks belong to one radar *instance*: a radar deleted
//! and created again under the same id (a new `created` time) starts with nothing delivered.

use std::collections::BTreeMap;
use std::fs::File;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::paper::{Paper, PaperId};
use crate::radar::Radar;

/// The file inside the index directory.
pub const DELIVERED_FILE: &str = "delivered.json";
/// Its lock file.
pub const LOCK_FILE: &str = "delivered.lock";
/// Version of the file layout.
pub const DELIVERED_VERSION: u32 = 1;
/// Most papers remembered per radar; the oldest marks are forgotten past it.
pub const MAX_MARKS_PER_RADAR: usize = 100_000;

/// Errors of the delivery log.
#[derive(Debug, thiserror::Error)]
pub enum DeliveredError {
    #[error("delivery log {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error(
        "delivery log {path} cannot be read ({reason}); it was left untouched: fix or move it"
    )]
    Corrupt { path: PathBuf, reason: String },
}

/// How a paper reached the reader.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Via {
    /// Sent in an email digest.
    Digest,
    /// Marked as read (web page, API, CLI).
    Read,
}

/// One delivered paper.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Mark {
    /// The version delivered (a later version comes back as updated).
    pub version: u64,
    /// RFC 3339 UTC.
    pub at: String,
    pub via: Via,
}

/// The marks of one radar instance.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RadarMarks {
    /// The radar's `created` time: marks of a deleted radar never apply to a new one.
    pub created: String,
    /// Counts every change (feeds' ETags include it).
    #[serde(default)]
    pub revision: u64,
    #[serde(default)]
    pub papers: BTreeMap<PaperId, Mark>,
}

#[derive(Debug, Default, Serialize, Deserialize)]
struct LogFile {
    version: u32,
    #[serde(default)]
    radars: BTreeMap<String, RadarMarks>,
}

/// Whether a paper is news to a radar's reader.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase", tag = "status")]
pub enum Status {
    /// Never delivered.
    New,
    /// Delivered at an earlier version; this is a revision.
    Updated { delivered_version: u64 },
    /// Delivered at this version (or a later one).
    Delivered,
}

impl RadarMarks {
    /// What `paper` is to this radar's reader.
    pub fn status(&self, paper: &Paper) -> Status {
        match self.papers.get(&paper.id) {
            None => Status::New,
            Some(m) if paper.version > m.version => Status::Updated {
                delivered_version: m.version,
            },
            Some(_) => Status::Delivered,
        }
    }
}

/// The delivery log of one index directory.
#[derive(Debug, Clone)]
pub struct DeliveryLog {
    dir: PathBuf,
}

impl DeliveryLog {
    /// The log of the index at `dir` (nothing is read or created until used).
    pub fn new(dir: &Path) -> Self {
        DeliveryLog {
            dir: dir.to_path_buf(),
        }
    }

    /// Path of the log file.
    pub fn path(&self) -> PathBuf {
        self.dir.join(DELIVERED_FILE)
    }

    fn io(&self, path: PathBuf) -> impl FnOnce(std::io::Error) -> DeliveredError {
        move |source| DeliveredError::Io { path, source }
    }

    fn lock(&self, exclusive: bool) -> Result<File, DeliveredError> {
        let path = self.dir.join(LOCK_FILE);
        crate::index::lock_file(&path, exclusive).map_err(self.io(path))
    }

    fn read(&self) -> Result<LogFile, DeliveredError> {
        let path = self.path();
        let bytes = match std::fs::read(&path) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Ok(LogFile {
                    version: DELIVERED_VERSION,
                    radars: BTreeMap::new(),
                })
            }
            Err(e) => return Err(self.io(path)(e)),
        };
        let file: LogFile =
            serde_json::from_slice(&bytes).map_err(|e| DeliveredError::Corrupt {
                path: path.clone(),
                reason: e.to_string(),
            })?;
        if file.version != DELIVERED_VERSION {
            return Err(DeliveredError::Corrupt {
                path,
                reason: format!(
                    "layout version {} (this build reads version {DELIVERED_VERSION})",
                    file.version
                ),
            });
        }
        Ok(file)
    }

    /// The marks of `radar` (empty when it has none, or they belong to an earlier radar of the
    /// same id).
    pub fn marks(&self, radar: &Radar) -> Result<RadarMarks, DeliveredError> {
        let _lock = self.lock(false)?;
        let mut file = self.read()?;
        Ok(match file.radars.remove(&radar.id) {
            Some(m) if m.created == radar.created => m,
            _ => RadarMarks {
                created: radar.created.clone(),
                ..RadarMarks::default()
            },
        })
    }

    /// Marks `papers` (id and version) as delivered to `radar`'s reader `via` a channel;
    /// returns how many marks were new or raised to a later version. A paper already marked at
    /// its version (or a later one) keeps its mark.
    pub fn mark(
        &self,
        radar: &Radar,
        papers: &[(PaperId, u64)],
        via: Via,
    ) -> Result<usize, DeliveredError> {
        let _lock = self.lock(true)?;
        let mut file = self.read()?;
        let entry = file
            .radars
            .entry(radar.id.clone())
            .or_insert_with(RadarMarks::default);
        if entry.created != radar.created {
            *entry = RadarMarks {
                created: radar.created.clone(),
                ..RadarMarks::default()
            };
        }
        let at = crate::radar::model::now_rfc3339();
        let mut changed = 0;
        for (id, version) in papers {
            let version = (*version).max(1);
            match entry.papers.get(id) {
                Some(m) if m.version >= version => {}
                _ => {
                    entry.papers.insert(
                        id.clone(),
                        Mark {
                            version,
                            at: at.clone(),
                            via,
                        },
                    );
                    changed += 1;
                }
            }
        }
        if changed == 0 {
            return Ok(0);
        }
        entry.revision += 1;
        if entry.papers.len() > MAX_MARKS_PER_RADAR {
            // Forget the oldest marks (RFC 3339 UTC strings sort by time).
            let mut by_age: Vec<(String, PaperId)> = entry
                .papers
                .iter()
                .map(|(id, m)| (m.at.clone(), id.clone()))
                .collect();
            by_age.sort();
            let excess = entry.papers.len() - MAX_MARKS_PER_RADAR;
            for (_, id) in by_age.into_iter().take(excess) {
                entry.papers.remove(&id);
            }
        }
        file.version = DELIVERED_VERSION;
        self.write(&file)?;
        Ok(changed)
    }

    /// Forgets every mark of the radar `id` (it was deleted); returns how many there were.
    pub fn forget(&self, id: &str) -> Result<usize, DeliveredError> {
        let _lock = self.lock(true)?;
        let mut file = self.read()?;
        let Some(gone) = file.radars.remove(id) else {
            return Ok(0);
        };
        file.version = DELIVERED_VERSION;
        self.write(&file)?;
        Ok(gone.papers.len())
    }

    fn write(&self, file: &LogFile) -> Result<(), DeliveredError> {
        let path = self.path();
        let mut bytes = serde_json::to_vec(file).map_err(|e| DeliveredError::Corrupt {
            path: path.clone(),
            reason: e.to_string(),
        })?;
        bytes.push(b'\n');
        crate::index::write_atomic(&path, &bytes).map_err(self.io(path))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn radar(id: &str, created: &str) -> Radar {
        Radar {
            id: id.into(),
            name: id.into(),
            queries: vec!["q".into()],
            filters: Default::default(),
            positive: vec![],
            negative: vec![],
            created: created.into(),
            updated: created.into(),
        }
    }

    fn paper(id: &str, version: u64) -> Paper {
        let mut p = Paper::new(PaperId::new(id), "t", "a");
        p.version = version;
        p
    }

    #[test]
    fn marks_versions_and_radar_instances() {
        let dir = tempfile::tempdir().unwrap();
        let log = DeliveryLog::new(dir.path());
        let r = radar("speech", "2026-12-01T00:00:00Z");
        let m = log.marks(&r).unwrap();
        assert_eq!(m.status(&paper("2606.00001", 1)), Status::New);
        let ids = [
            (PaperId::new("2606.00001"), 1),
            (PaperId::new("2606.00002"), 2),
        ];
        assert_eq!(log.mark(&r, &ids, Via::Digest).unwrap(), 2);
        assert_eq!(log.mark(&r, &ids, Via::Read).unwrap(), 0, "already marked");
        let m = log.marks(&r).unwrap();
        assert_eq!(m.revision, 1);
        assert_eq!(m.status(&paper("2606.00001", 1)), Status::Delivered);
        assert_eq!(
            m.status(&paper("2606.00001", 3)),
            Status::Updated {
                delivered_version: 1
            }
        );
        assert_eq!(m.status(&paper("2606.00002", 1)), Status::Delivered);
        assert_eq!(m.papers[&PaperId::new("2606.00002")].via, Via::Digest);
        // Another radar, and the same id re-created, start empty.
        assert!(log.marks(&radar("other", "x")).unwrap().papers.is_empty());
        let again = radar("speech", "2026-12-02T00:00:00Z");
        assert!(log.marks(&again).unwrap().papers.is_empty());
        assert_eq!(
            log.mark(&again, &[(PaperId::new("2606.00003"), 1)], Via::Read)
                .unwrap(),
            1
        );
        assert_eq!(log.marks(&again).unwrap().papers.len(), 1);
        assert!(log.marks(&r).unwrap().papers.is_empty(), "replaced");
        assert_eq!(log.forget("speech").unwrap(), 1);
        assert_eq!(log.forget("speech").unwrap(), 0);
        assert!(log.marks(&again).unwrap().papers.is_empty());
    }

    #[test]
    fn a_corrupt_log_is_an_error_and_left_alone() {
        let dir = tempfile::tempdir().unwrap();
        let log = DeliveryLog::new(dir.path());
        std::fs::write(log.path(), b"{not json").unwrap();
        let r = radar("speech", "c");
        assert!(matches!(log.marks(&r), Err(DeliveredError::Corrupt { .. })));
        assert!(matches!(
            log.mark(&r, &[(PaperId::new("a"), 1)], Via::Read),
            Err(DeliveredError::Corrupt { .. })
        ));
        assert_eq!(std::fs::read(log.path()).unwrap(), b"{not json");
    }
}
