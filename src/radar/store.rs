//! Durable radar storage: one JSON file in the index directory (`radars.json`).
//!
//! Every change runs under an exclusive advisory lock on `radars.lock` (a separate file, because
//! the data file is replaced by rename): read the current file, apply the change, write a temp
//! file, fsync it, rename it over `radars.json`, fsync the directory. Two processes (or threads)
//! writing at once are serialized, so no change is lost, and a crash leaves either the old or
//! the new file, never a half-written one. A file that cannot be parsed is an error, never
//! silently replaced.

use std::fs::File;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::model::{now_rfc3339, unique_id, Radar, RadarSpec};
use super::RadarError;

/// The radar file inside the index directory.
pub const RADARS_FILE: &str = "radars.json";
/// The lock file next to it.
pub const LOCK_FILE: &str = "radars.lock";
/// Version of the file layout.
pub const STORE_VERSION: u32 = 1;

#[derive(Debug, Default, Serialize, Deserialize)]
struct StoreFile {
    version: u32,
    radars: Vec<Radar>,
}

/// The radars of one index directory.
#[derive(Debug, Clone)]
pub struct RadarStore {
    dir: PathBuf,
}

impl RadarStore {
    /// The store of the index at `dir` (nothing is read or created until used).
    pub fn new(dir: &Path) -> Self {
        RadarStore {
            dir: dir.to_path_buf(),
        }
    }

    /// Path of the radar file.
    pub fn path(&self) -> PathBuf {
        self.dir.join(RADARS_FILE)
    }

    fn io(&self, path: PathBuf) -> impl FnOnce(std::io::Error) -> RadarError {
        move |source| RadarError::Store { path, source }
    }

    fn lock(&self, exclusive: bool) -> Result<File, RadarError> {
        let path = self.dir.join(LOCK_FILE);
        if !self.dir.is_dir() {
            return Err(RadarError::Store {
                path: self.dir.clone(),
                source: std::io::Error::new(
                    std::io::ErrorKind::NotFound,
                    "index directory does not exist (import papers first)",
                ),
            });
        }
        // Blocks until the other holder is done; released when the file is dropped.
        crate::index::lock_file(&path, exclusive).map_err(self.io(path))
    }

    fn read(&self) -> Result<StoreFile, RadarError> {
        let path = self.path();
        let bytes = match std::fs::read(&path) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Ok(StoreFile {
                    version: STORE_VERSION,
                    radars: Vec::new(),
                })
            }
            Err(e) => return Err(self.io(path)(e)),
        };
        let file: StoreFile = serde_json::from_slice(&bytes).map_err(|e| RadarError::Corrupt {
            path: path.clone(),
            reason: e.to_string(),
        })?;
        if file.version != STORE_VERSION {
            return Err(RadarError::Corrupt {
                path,
                reason: format!(
                    "layout version {} (this build reads version {STORE_VERSION})",
                    file.version
                ),
            });
        }
        Ok(file)
    }

    fn write(&self, file: &StoreFile) -> Result<(), RadarError> {
        let path = self.path();
        let json = serde_json::to_vec_pretty(file).map_err(|e| RadarError::Corrupt {
            path: path.clone(),
            reason: e.to_string(),
        })?;
        let mut bytes = json;
        bytes.push(b'\n');
        crate::index::write_atomic(&path, &bytes).map_err(self.io(path.clone()))?;
        Ok(())
    }

    /// Applies `change` to the current radars under the exclusive lock and saves the result.
    fn modify<T>(
        &self,
        change: impl FnOnce(&mut Vec<Radar>) -> Result<T, RadarError>,
    ) -> Result<T, RadarError> {
        let _lock = self.lock(true)?;
        let mut file = self.read()?;
        let out = change(&mut file.radars)?;
        file.version = STORE_VERSION;
        self.write(&file)?;
        Ok(out)
    }

    /// Every radar, in creation order.
    pub fn list(&self) -> Result<Vec<Radar>, RadarError> {
        if !self.path().exists() {
            return Ok(Vec::new());
        }
        let _lock = self.lock(false)?;
        Ok(self.read()?.radars)
    }

    /// The radar with id `id`.
    pub fn get(&self, id: &str) -> Result<Radar, RadarError> {
        self.list()?
            .into_iter()
            .find(|r| r.id == id)
            .ok_or_else(|| RadarError::NotFound { id: id.to_string() })
    }

    /// Saves a new radar from an already validated spec; returns it with its new id.
    pub fn create(&self, spec: RadarSpec) -> Result<Radar, RadarError> {
        self.modify(|radars| {
            let id = unique_id(&spec.name, radars.iter().map(|r| r.id.as_str()));
            let now = now_rfc3339();
            let radar = Radar {
                id,
                name: spec.name,
                queries: spec.queries,
                filters: spec.filters,
                positive: spec.positive,
                negative: spec.negative,
                created: now.clone(),
                updated: now,
            };
            radars.push(radar.clone());
            Ok(radar)
        })
    }

    /// Replaces the radar `id` with an already validated spec (its id and creation time stay).
    pub fn update(&self, id: &str, spec: RadarSpec) -> Result<Radar, RadarError> {
        self.modify(|radars| {
            let r = radars
                .iter_mut()
                .find(|r| r.id == id)
                .ok_or_else(|| RadarError::NotFound { id: id.to_string() })?;
            r.name = spec.name;
            r.queries = spec.queries;
            r.filters = spec.filters;
            r.positive = spec.positive;
            r.negative = spec.negative;
            r.updated = now_rfc3339();
            Ok(r.clone())
        })
    }

    /// Deletes the radar `id`; returns what was deleted.
    pub fn delete(&self, id: &str) -> Result<Radar, RadarError> {
        self.modify(|radars| {
            let pos = radars
                .iter()
                .position(|r| r.id == id)
                .ok_or_else(|| RadarError::NotFound { id: id.to_string() })?;
            Ok(radars.remove(pos))
        })
    }
}
