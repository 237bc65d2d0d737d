//! The on-disk paper index: one tantivy index holding every paper's BM25 fields and its
//! stored vector, keyed by our own paper id.
//!
//! This folder owns creating and opening an index (schema version and embedding model checks),
//! the single writer ([`writer`]), the document codec ([`codec`]), the one stored-paper lookup
//! ([`lookup`]) and the per-segment caches that later stages read ([`vectors`],
//! [`facet_ords`], on [`segment_cache`]). It knows nothing of search, ingestion or HTTP.
//!
//! Rules from tantivy that this module enforces: one `IndexWriter` at a time (a second writer
//! gets [`IndexError::Locked`]), one `IndexReader` per opened index, and documents are joined on
//! our `id` field, never on tantivy's `DocAddress`, which changes when segments merge.

pub mod blocking;
pub mod codec;
pub mod error;
pub mod facet_ords;
pub mod files;
pub mod ivf;
pub mod lookup;
pub mod milvus;
pub mod schema;
pub mod segment_cache;
pub mod stats;
pub mod vectors;
pub mod vocabulary;
pub mod writer;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use serde::{Deserialize, Serialize};
use tantivy::directory::MmapDirectory;
use tantivy::{Index, IndexReader, ReloadPolicy, Term};

use crate::analysis;
use crate::embed::ModelId;
use crate::paper::PaperId;

pub use codec::{
    date_to_tantivy, decode_vector, doc_to_paper, encode_vector, load_paper, paper_to_doc,
};
pub use error::IndexError;
pub use facet_ords::{FacetOrdCache, SegmentFacetOrds};
pub use files::{lock_file, write_atomic};
pub use lookup::StoredPaper;
pub use schema::{Fields, SchemaDef, QUERYABLE_FIELDS};
pub use vectors::{SegmentVectors, VectorCache};
pub use writer::PaperWriter;

use error::io_err;

/// File (inside the index directory) recording which schema built the index.
pub const META_FILE: &str = "academichub.json";
/// Memory budget of the index writer, split over its threads.
pub const WRITER_MEMORY_BYTES: usize = 256 * 1024 * 1024;
/// Default index location, relative to the working directory.
pub const DEFAULT_INDEX_DIR: &str = "index-data/papers";

#[derive(Debug, Clone, Serialize, Deserialize)]
struct IndexMeta {
    schema_version: u32,
    created_by: String,
    /// The model whose vectors the index holds (set by the first embedding run).
    #[serde(default)]
    embedding: Option<ModelId>,
}

/// An opened paper index with its single reader.
pub struct PaperIndex {
    index: Index,
    reader: IndexReader,
    fields: Fields,
    dir: PathBuf,
    schema_version: u32,
    meta: Mutex<IndexMeta>,
    vectors: Arc<VectorCache>,
    facet_ords: Arc<FacetOrdCache>,
    /// The directory the index's files are written through, for the writer's free-space
    /// probe after a failure (see [`PaperWriter`]).
    storage: Box<dyn tantivy::Directory>,
}

fn write_meta(dir: &Path, meta: &IndexMeta) -> Result<(), IndexError> {
    let json = serde_json::to_vec_pretty(meta).map_err(|e| IndexError::Io {
        dir: dir.to_path_buf(),
        source: std::io::Error::other(e),
    })?;
    // Write-then-rename: a crash never leaves a half-written meta file.
    files::write_atomic(&dir.join(META_FILE), &json).map_err(io_err(dir))
}

impl PaperIndex {
    /// Opens the index at `dir`, creating it (and the directory) when absent.
    pub fn open_or_create(dir: &Path) -> Result<Self, IndexError> {
        if dir.join("meta.json").exists() {
            return Self::open(dir);
        }
        std::fs::create_dir_all(dir).map_err(io_err(dir))?;
        let mmap = MmapDirectory::open(dir).map_err(|e| IndexError::Io {
            dir: dir.to_path_buf(),
            source: std::io::Error::other(e.to_string()),
        })?;
        Self::create_with_directory(dir, Box::new(mmap))
    }

    /// Creates a new index whose tantivy files go through `directory` (our own metadata file
    /// is written to `dir`, which must exist). For tests that inject I/O faults; everything
    /// else opens indexes with [`open_or_create`](Self::open_or_create).
    #[doc(hidden)]
    pub fn create_with_directory(
        dir: &Path,
        directory: Box<dyn tantivy::Directory>,
    ) -> Result<Self, IndexError> {
        let def = SchemaDef::builtin();
        let storage = directory.box_clone();
        let index = Index::create(directory, def.to_tantivy(), Default::default())?;
        let meta = IndexMeta {
            schema_version: def.version,
            created_by: format!("academichub {}", env!("CARGO_PKG_VERSION")),
            embedding: None,
        };
        write_meta(dir, &meta)?;
        Self::from_index(index, dir, meta, storage)
    }

    /// Opens an existing index; fails with [`IndexError::Missing`] or
    /// [`IndexError::SchemaMismatch`] (with the fix in the message).
    pub fn open(dir: &Path) -> Result<Self, IndexError> {
        if !dir.join("meta.json").exists() {
            return Err(IndexError::Missing {
                dir: dir.to_path_buf(),
            });
        }
        let def = SchemaDef::builtin();
        let meta = match std::fs::read(dir.join(META_FILE)) {
            Ok(bytes) => serde_json::from_slice::<IndexMeta>(&bytes).ok(),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
            Err(e) => return Err(io_err(dir)(e)),
        };
        let found = meta.as_ref().map(|m| m.schema_version);
        let mismatch = |found: String| IndexError::SchemaMismatch {
            dir: dir.to_path_buf(),
            found,
            expected: def.version,
        };
        match found {
            Some(v) if v == def.version => {}
            Some(v) => return Err(mismatch(v.to_string())),
            None => return Err(mismatch("unknown (no readable academichub.json)".into())),
        }
        let index = Index::open_in_dir(dir)?;
        if index.schema() != def.to_tantivy() {
            return Err(mismatch(format!(
                "{} with different fields",
                found.unwrap_or_default()
            )));
        }
        let meta = meta.ok_or_else(|| mismatch("unknown".into()))?;
        let storage = MmapDirectory::open(dir).map_err(|e| IndexError::Io {
            dir: dir.to_path_buf(),
            source: std::io::Error::other(e.to_string()),
        })?;
        Self::from_index(index, dir, meta, Box::new(storage))
    }

    fn from_index(
        index: Index,
        dir: &Path,
        meta: IndexMeta,
        storage: Box<dyn tantivy::Directory>,
    ) -> Result<Self, IndexError> {
        analysis::register(&index);
        let fields = Fields::resolve(&index.schema())?;
        let reader = index
            .reader_builder()
            .reload_policy(ReloadPolicy::Manual)
            .try_into()?;
        Ok(PaperIndex {
            index,
            reader,
            fields,
            dir: dir.to_path_buf(),
            schema_version: meta.schema_version,
            meta: Mutex::new(meta),
            vectors: Arc::new(VectorCache::default()),
            facet_ords: Arc::new(FacetOrdCache::default()),
            storage,
        })
    }

    /// The tantivy index (for the query layer and benches).
    pub fn tantivy(&self) -> &Index {
        &self.index
    }

    /// The process-wide reader.
    pub fn reader(&self) -> &IndexReader {
        &self.reader
    }

    /// Resolved schema fields.
    pub fn fields(&self) -> &Fields {
        &self.fields
    }

    /// The index directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The schema version recorded in the index.
    pub fn schema_version(&self) -> u32 {
        self.schema_version
    }

    /// The model whose vectors this index holds, if any paper has been embedded.
    pub fn embedding_model(&self) -> Option<ModelId> {
        self.meta.lock().ok().and_then(|m| m.embedding.clone())
    }

    /// Records `model` as the index's embedding model. Fails if vectors of another model (or
    /// another build of it) are already stored: mixing models would make cosines meaningless.
    pub fn claim_embedding_model(&self, model: &ModelId) -> Result<(), IndexError> {
        let mut meta = self
            .meta
            .lock()
            .map_err(|_| IndexError::Poisoned { what: "index meta" })?;
        match &meta.embedding {
            Some(existing) if existing == model => Ok(()),
            Some(existing) => Err(IndexError::ModelMismatch {
                dir: self.dir.clone(),
                index_model: format!("{} ({})", existing.name, existing.hash),
                requested: format!("{} ({})", model.name, model.hash),
            }),
            None => {
                let mut updated = meta.clone();
                updated.embedding = Some(model.clone());
                write_meta(&self.dir, &updated)?;
                *meta = updated;
                Ok(())
            }
        }
    }

    /// Checks that queries embedded by `model` can be compared with the stored vectors.
    pub fn check_query_model(&self, model: &ModelId) -> Result<(), IndexError> {
        match self.embedding_model() {
            Some(existing) if &existing == model => Ok(()),
            Some(existing) => Err(IndexError::ModelMismatch {
                dir: self.dir.clone(),
                index_model: format!("{} ({})", existing.name, existing.hash),
                requested: format!("{} ({})", model.name, model.hash),
            }),
            None => Err(IndexError::NoVectors {
                dir: self.dir.clone(),
            }),
        }
    }

    /// Per-segment vector matrices for dense search.
    pub fn vectors(&self) -> &Arc<VectorCache> {
        &self.vectors
    }

    /// Per-segment source/category ordinals for facet counts.
    pub fn facet_ords(&self) -> &Arc<FacetOrdCache> {
        &self.facet_ords
    }

    /// Number of live papers as of the last reload.
    pub fn num_papers(&self) -> u64 {
        self.reader.searcher().num_docs()
    }

    /// Makes the latest commit visible to new searchers.
    pub fn reload(&self) -> Result<(), IndexError> {
        self.reader.reload()?;
        // Forget what was decoded from segments merged away: every merge makes a new segment
        // (its vectors alone are about 190 MB at 100K papers), and without this each stayed
        // in memory until the next dense search (a server that only embedded grew without
        // bound).
        let searcher = self.reader.searcher();
        self.vectors.retain_live(&searcher);
        self.facet_ords.retain_live(&searcher);
        Ok(())
    }

    /// Total size of the index files on disk, in bytes.
    pub fn size_on_disk(&self) -> Result<u64, IndexError> {
        dir_size(&self.dir)
    }

    /// Opens the single writer. Fails with [`IndexError::Locked`] if another one is open.
    pub fn writer(&self) -> Result<PaperWriter, IndexError> {
        let threads = std::thread::available_parallelism()
            .map(|n| n.get().clamp(1, 4))
            .unwrap_or(1);
        let writer = self
            .index
            .writer_with_num_threads(threads, WRITER_MEMORY_BYTES)
            .map_err(|e| match e {
                tantivy::TantivyError::LockFailure(..) => IndexError::Locked {
                    dir: self.dir.clone(),
                },
                other => IndexError::Tantivy(other),
            })?;
        Ok(PaperWriter::new(
            writer,
            self.index.clone(),
            self.storage.box_clone(),
            threads,
            WRITER_MEMORY_BYTES,
            self.dir.clone(),
            self.fields,
        ))
    }

    /// The term that identifies a paper (ids match case-insensitively).
    pub fn id_term(&self, id: &PaperId) -> Term {
        writer::id_term(&self.fields, id)
    }

    /// Reloads the reader when the index on disk has other segments (or deletes) than the
    /// current searcher sees, e.g. after a commit by another process. Returns whether it
    /// reloaded.
    pub fn reload_if_changed(&self) -> Result<bool, IndexError> {
        let on_disk: BTreeMap<_, _> = self
            .index
            .searchable_segment_metas()?
            .into_iter()
            .map(|m| (m.id(), m.delete_opstamp()))
            .collect();
        let searcher = self.reader.searcher();
        if &on_disk == searcher.generation().segments() {
            return Ok(false);
        }
        self.reload()?;
        Ok(true)
    }

    /// The generation of the current searcher: changes whenever a reload brings in new
    /// segments (cache keys for query results).
    pub fn generation(&self) -> u64 {
        self.reader.searcher().generation().generation_id()
    }
}

/// Total size of the files in `dir`, in bytes. A file deleted while the directory is read
/// (tantivy removes merged-away segment files as a writer commits) is not counted and is no
/// error: `/metrics` answered 500 when it met one (seen in a CI run under load).
fn dir_size(dir: &Path) -> Result<u64, IndexError> {
    let mut total = 0;
    for entry in std::fs::read_dir(dir).map_err(io_err(dir))? {
        let entry = match entry {
            Ok(e) => e,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(e) => return Err(io_err(dir)(e)),
        };
        match entry.metadata() {
            Ok(meta) if meta.is_file() => total += meta.len(),
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(io_err(dir)(e)),
        }
    }
    Ok(total)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dir_size_ignores_files_deleted_while_it_reads() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("kept"), b"12345").unwrap();
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let churn = {
            let (dir, stop) = (dir.path().to_path_buf(), stop.clone());
            std::thread::spawn(move || {
                let mut i = 0u64;
                while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    let p = dir.join(format!("gone-{}", i % 64));
                    let _ = std::fs::write(&p, b"x");
                    let _ = std::fs::remove_file(&p);
                    i += 1;
                }
            })
        };
        for _ in 0..3000 {
            let size = dir_size(dir.path()).expect("no error for a file deleted meanwhile");
            assert!((5..=5 + 64).contains(&size), "{size}");
        }
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
        churn.join().unwrap();
    }
}
