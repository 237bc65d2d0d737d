//! Errors of reading an input file for import (per-record problems are counted, not raised).

use std::path::PathBuf;

use crate::embed::EmbedError;
use crate::index::IndexError;

/// Errors reading an input file for import, or embedding what it brought.
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
    Embed(EmbedError),
    #[error(transparent)]
    Milvus(#[from] crate::index::milvus::MilvusError),
}

impl From<tantivy::TantivyError> for ImportError {
    fn from(e: tantivy::TantivyError) -> Self {
        ImportError::Index(IndexError::Tantivy(e))
    }
}
