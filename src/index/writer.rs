//! The index's single writer: upserts by our own paper id; nothing is visible before a commit.
//!
//! A failed write never poisons later ones. tantivy's `IndexWriter` does not recover by itself:
//! after an indexing thread fails (a full disk, say), `commit` joins the threads that are left,
//! starts no new ones, and from then on accepts documents that nothing indexes and "commits"
//! them as nothing. So on any error from adding or committing, [`PaperWriter`] drops the
//! tantivy writer (which discards everything since the last commit) and opens a new one on the
//! last commit; the caller gets [`IndexError::WriteFailed`] and the next write starts clean.

use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use tantivy::{Index, IndexWriter, Term};

use super::codec::{encode_vector, paper_to_doc};
use super::error::{io_is_storage_full, tantivy_is_storage_full, IndexError};
use super::schema::Fields;
use crate::paper::{Paper, PaperId};

/// Bytes of the free-space probe: about what the smallest segment file needs.
const WRITE_PROBE_BYTES: usize = 64 * 1024;

/// The index's single writer: upserts papers by id; nothing is visible until [`commit`].
///
/// Dropping it without committing discards everything added since the last commit, so an
/// interrupted import never leaves a half-written index.
///
/// [`commit`]: PaperWriter::commit
pub struct PaperWriter {
    /// `None` after a failed write whose writer could not be reopened (tried again on the
    /// next write).
    writer: Option<IndexWriter>,
    /// What a new writer is opened on, and how.
    index: Index,
    /// The index's directory, for the free-space probe of [`PaperWriter::reset`].
    storage: Box<dyn tantivy::Directory>,
    threads: usize,
    memory_bytes: usize,
    dir: PathBuf,
    fields: Fields,
    /// Writes that failed since the writer was opened (each reset the writer); shared so a
    /// server can report it without taking the writer's lock.
    failures: Arc<AtomicU64>,
    /// Whether the last failure was a full disk (see [`PaperWriter::reset`]).
    last_failure_storage_full: bool,
}

/// Lets a tantivy writer go without leaving a merge behind. Plain `drop` kills the writer's
/// segment updater but does not wait for a merge whose end is already scheduled: that merge
/// then saves the old writer's view of the segments as `meta.json` and garbage-collects the
/// files it does not know, after the directory lock went to the next writer — a commit of the
/// next writer (in the same process: after a failed write, or a writer reopened) could vanish.
/// Waiting for the merges first closes that window. (A writer whose indexing thread failed
/// cannot be waited for this way; tantivy then only kills it.)
fn retire(writer: IndexWriter, dir: &std::path::Path) {
    if let Err(e) = writer.wait_merging_threads() {
        tracing::warn!(dir = %dir.display(), error = %e, "the index writer stopped with an error (its merges were not all waited for)");
    }
}

impl Drop for PaperWriter {
    fn drop(&mut self) {
        if let Some(w) = self.writer.take() {
            retire(w, &self.dir);
        }
    }
}

impl PaperWriter {
    pub(super) fn new(
        writer: IndexWriter,
        index: Index,
        storage: Box<dyn tantivy::Directory>,
        threads: usize,
        memory_bytes: usize,
        dir: PathBuf,
        fields: Fields,
    ) -> PaperWriter {
        PaperWriter {
            writer: Some(writer),
            index,
            storage,
            threads,
            memory_bytes,
            dir,
            fields,
            failures: Arc::new(AtomicU64::new(0)),
            last_failure_storage_full: false,
        }
    }

    /// How many writes failed (and reset the writer) since it was opened.
    pub fn failures(&self) -> u64 {
        self.failures.load(Ordering::Relaxed)
    }

    /// The counter behind [`failures`](Self::failures), readable without this writer.
    pub fn failure_counter(&self) -> Arc<AtomicU64> {
        self.failures.clone()
    }

    /// The live tantivy writer, reopening it when an earlier failure left none.
    fn live(&mut self) -> Result<&mut IndexWriter, IndexError> {
        if self.writer.is_none() {
            let w = self
                .index
                .writer_with_num_threads(self.threads, self.memory_bytes)
                .map_err(|e| IndexError::WriterUnavailable {
                    dir: self.dir.clone(),
                    reason: e.to_string(),
                })?;
            tracing::info!(dir = %self.dir.display(), "index writer reopened after a failed write");
            self.writer = Some(w);
        }
        self.writer
            .as_mut()
            .ok_or_else(|| IndexError::WriterUnavailable {
                dir: self.dir.clone(),
                reason: "no writer".into(),
            })
    }

    /// Whether the index's directory refuses a small write for lack of space (a probe file,
    /// written and removed).
    fn storage_refuses_writes(&self) -> bool {
        let probe = std::path::Path::new(".academichub-write-probe");
        let written = self.storage.atomic_write(probe, &[0u8; WRITE_PROBE_BYTES]);
        let _ = self.storage.delete(probe);
        matches!(written, Err(e) if io_is_storage_full(&e))
    }

    /// After `source` failed a write: drops the writer (and with it everything since the last
    /// commit), opens a fresh one on the last commit, and returns the error for the caller.
    fn reset(&mut self, source: tantivy::TantivyError) -> IndexError {
        self.failures.fetch_add(1, Ordering::Relaxed);
        // When an indexing thread dies (on a full disk, say), tantivy logs its error and hands
        // the caller only "an index writer was killed": then the directory is asked whether
        // it can take a write now, and the cause of the failure before counts too.
        let killed = matches!(source, tantivy::TantivyError::ErrorInThread(_));
        let storage_full = tantivy_is_storage_full(&source)
            || (killed && (self.last_failure_storage_full || self.storage_refuses_writes()));
        self.last_failure_storage_full = storage_full;
        tracing::error!(
            dir = %self.dir.display(),
            error = %source,
            storage_full,
            "index write failed: discarding the uncommitted batch and rebuilding the writer"
        );
        // The old writer goes (its merges waited for, its threads stopped, the directory
        // lock released) before the new one takes the lock.
        if let Some(old) = self.writer.take() {
            retire(old, &self.dir);
        }
        if let Err(e) = self.live() {
            tracing::warn!(error = %e, "the index writer cannot be reopened yet; the next write tries again");
        }
        IndexError::WriteFailed {
            dir: self.dir.clone(),
            storage_full,
            source,
        }
    }

    /// Adds `paper`, replacing any paper with the same id.
    pub fn upsert(&mut self, paper: &Paper) -> Result<(), IndexError> {
        self.upsert_with_vector(paper, None)
    }

    /// Adds `paper` with its dense vector (if any), replacing any paper with the same id.
    pub fn upsert_with_vector(
        &mut self,
        paper: &Paper,
        vector: Option<&[f32]>,
    ) -> Result<(), IndexError> {
        let term = id_term(&self.fields, &paper.id);
        let mut doc = paper_to_doc(&self.fields, paper);
        if let Some(v) = vector {
            doc.add_bytes(self.fields.embedding, &encode_vector(v));
        }
        let w = self.live()?;
        w.delete_term(term);
        match w.add_document(doc) {
            Ok(_) => Ok(()),
            Err(e) => Err(self.reset(e)),
        }
    }

    /// Makes every change since the last commit durable and atomic. Blocks. On failure
    /// nothing since the last commit is kept and the writer is rebuilt
    /// ([`IndexError::WriteFailed`]).
    pub fn commit(&mut self) -> Result<(), IndexError> {
        match self.live()?.commit() {
            Ok(_) => Ok(()),
            Err(e) => Err(self.reset(e)),
        }
    }

    /// Waits for background merges to finish (call before exiting after a large import).
    pub fn wait_merging_threads(mut self) -> Result<(), IndexError> {
        if let Some(w) = self.writer.take() {
            w.wait_merging_threads()?;
        }
        Ok(())
    }
}

/// The term that identifies a paper (ids match case-insensitively).
pub(super) fn id_term(fields: &Fields, id: &PaperId) -> Term {
    Term::from_field_text(fields.id, &id.as_str().to_lowercase())
}
