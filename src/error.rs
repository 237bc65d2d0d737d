//! Typed errors, one enum per stage. Only the binary turns them into `anyhow` reports.

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

/// Errors reading an input file for import. Per-record problems are counted, not raised.
#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    #[error("cannot open {path}: {source}")]
    Open {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path}: read failed near line {line}: {source} (a truncated or corrupt gzip file?)")]
    Read {
        path: PathBuf,
        line: u64,
        #[source]
        source: std::io::Error,
    },
    #[error("{path}: nothing could be imported ({bad} bad records, first: {first_error})")]
    NothingImported {
        path: PathBuf,
        bad: u64,
        first_error: String,
    },
    #[error(transparent)]
    Index(#[from] IndexError),
    #[error(transparent)]
    Embed(crate::embed::EmbedError),
}

/// Errors in a search request.
#[derive(Debug, thiserror::Error)]
pub enum QueryError {
    #[error("invalid parameter {name}: {reason}")]
    InvalidParam { name: &'static str, reason: String },
    #[error(transparent)]
    Index(#[from] IndexError),
}

impl From<tantivy::TantivyError> for QueryError {
    fn from(e: tantivy::TantivyError) -> Self {
        QueryError::Index(IndexError::Tantivy(e))
    }
}

/// Errors in the evaluation runner.
#[derive(Debug, thiserror::Error)]
pub enum EvalError {
    #[error("{path}: {reason}")]
    Dataset { path: PathBuf, reason: String },
    #[error("{path}:{line}: {reason}")]
    Parse {
        path: PathBuf,
        line: u64,
        reason: String,
    },
    #[error("cannot write {path}: {source}")]
    Write {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error(transparent)]
    Import(#[from] ImportError),
    #[error(transparent)]
    Query(#[from] QueryError),
    #[error(transparent)]
    Index(#[from] IndexError),
}
