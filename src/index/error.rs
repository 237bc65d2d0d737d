//! The index stage's error type.

use std::path::PathBuf;

/// Errors opening, writing or reading the index.
#[derive(Debug, thiserror::Error)]
pub enum IndexError {
    #[error("invalid schema file: {0}")]
    SchemaFile(String),
    #[error("no index at {dir}: build one first, e.g. `academichub import --format arxiv-jsonl FILE --index {dir}`")]
    Missing { dir: PathBuf },
    #[error(
        "the index at {dir} was built with schema version {found}, this build uses version {expected}: \
         rebuild it by deleting the directory (`rm -r {dir}`) and importing again"
    )]
    SchemaMismatch {
        dir: PathBuf,
        found: String,
        expected: u32,
    },
    #[error("another process is writing to the index at {dir}; wait for it to finish (tantivy allows one writer)")]
    Locked { dir: PathBuf },
    #[error("index I/O at {dir}: {source}")]
    Io {
        dir: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("index error: {0}")]
    Tantivy(#[from] tantivy::TantivyError),
    #[error("corrupt stored document: {0}")]
    CorruptDoc(String),
    /// A thread panicked while holding one of the index's locks; what it guarded may be half
    /// updated, so the process should be restarted.
    #[error("the {what} lock was poisoned by a thread that panicked while holding it; restart the process")]
    Poisoned { what: &'static str },
    #[error(
        "the vectors in {dir} were built with {index_model}, not {requested}: query with that model, \
         or rebuild the index (delete the directory and import again with the new model)"
    )]
    ModelMismatch {
        dir: PathBuf,
        index_model: String,
        requested: String,
    },
    #[error("the index at {dir} has no vectors: run `academichub embed --index {dir}` (or import with --embed) first")]
    NoVectors { dir: PathBuf },
}

/// An [`IndexError::Io`] for `dir`.
pub(crate) fn io_err(dir: &std::path::Path) -> impl FnOnce(std::io::Error) -> IndexError + '_ {
    move |source| IndexError::Io {
        dir: dir.to_path_buf(),
        source,
    }
}
