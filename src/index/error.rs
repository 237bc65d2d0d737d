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
    /// A write or commit failed (for example the disk is full). Nothing since the last
    /// successful commit was kept, and the writer was rebuilt from the last commit, so the
    /// next write starts clean and succeeds once the cause is gone.
    #[error(
        "writing the index at {dir} failed{}: {source}; nothing since the last commit was kept \
         (retry once the cause is fixed)",
        if *storage_full { " (no space left on the device)" } else { "" }
    )]
    WriteFailed {
        dir: PathBuf,
        storage_full: bool,
        #[source]
        source: tantivy::TantivyError,
    },
    /// The writer could not be rebuilt after a failed write; each later write tries again.
    #[error("the index writer at {dir} is unavailable after a failed write ({reason}); writes are refused until it can be reopened")]
    WriterUnavailable { dir: PathBuf, reason: String },
    #[error("index I/O at {dir}: {source}")]
    Io {
        dir: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// The deployment keeps its papers in Milvus (`[index] backend = "milvus"`).
    #[error("the papers live in a Milvus collection: there is no local index to {0}")]
    NotLocal(&'static str),
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

impl IndexError {
    /// Whether the error comes from a full disk (or quota): `ENOSPC`, `EDQUOT`, `EFBIG`.
    pub fn is_storage_full(&self) -> bool {
        match self {
            IndexError::WriteFailed { storage_full, .. } => *storage_full,
            IndexError::Io { source, .. } => io_is_storage_full(source),
            IndexError::Tantivy(e) => tantivy_is_storage_full(e),
            _ => false,
        }
    }
}

/// Whether an I/O error means the device (or a quota) is full.
pub fn io_is_storage_full(e: &std::io::Error) -> bool {
    // ENOSPC 28, EFBIG 27, EDQUOT 122 on Linux.
    matches!(
        e.kind(),
        std::io::ErrorKind::StorageFull | std::io::ErrorKind::FileTooLarge
    ) || matches!(e.raw_os_error(), Some(27 | 28 | 122))
}

/// Whether a tantivy error (or anything in its source chain) is a full device. Errors from an
/// indexing thread arrive as text, so the text is checked too.
pub(crate) fn tantivy_is_storage_full(e: &tantivy::TantivyError) -> bool {
    use tantivy::directory::error::OpenWriteError;
    match e {
        tantivy::TantivyError::IoError(io) if io_is_storage_full(io) => return true,
        tantivy::TantivyError::OpenWriteError(OpenWriteError::IoError { io_error, .. })
            if io_is_storage_full(io_error) =>
        {
            return true
        }
        _ => {}
    }
    let mut cur: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(err) = cur {
        if let Some(io) = err.downcast_ref::<std::io::Error>() {
            if io_is_storage_full(io) {
                return true;
            }
        }
        cur = err.source();
    }
    let text = e.to_string();
    text.contains("No space left on device")
        || text.contains("os error 28")
        || text.contains("Disk quota exceeded")
        || text.contains("File too large")
}

/// An [`IndexError::Io`] for `dir`.
pub(crate) fn io_err(dir: &std::path::Path) -> impl FnOnce(std::io::Error) -> IndexError + '_ {
    move |source| IndexError::Io {
        dir: dir.to_path_buf(),
        source,
    }
}
