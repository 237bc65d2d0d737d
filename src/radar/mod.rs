//! Research radars: saved topics (queries, filters, example papers) stored durably in the
//! directory of the papers' store (the index directory, or the local state directory beside a
//! Milvus collection: [`PaperSource`]), and their ranking of new papers with a reason for each.
//!
//! The service functions at the bottom are what the CLI and the HTTP API call: plain typed
//! inputs, serde-serializable outputs, [`RadarError`] with an [`ErrorKind`] that the HTTP layer
//! maps to a status code. They block (file locks, tantivy or Milvus, embedding): call them from a blocking
//! thread. This module knows nothing of HTTP or the CLI.

mod corpus;
pub mod model;
pub mod rank;
pub mod source;
pub mod store;
pub mod text;

use std::path::PathBuf;

pub use model::{Radar, RadarFilters, RadarSpec};
pub use rank::{
    ExampleMatch, QueryMatch, RadarHit, RadarPapers, RankRequest, Reason, DEFAULT_RADAR_K,
    MAX_RADAR_K,
};
pub use source::{rank, PaperSource};
pub use store::RadarStore;

use crate::embed::Embedder;
use crate::index::IndexError;
use crate::paper::PaperId;
use crate::search::QueryError;

/// Errors of radars (and of the briefings built on them).
#[derive(Debug, thiserror::Error)]
pub enum RadarError {
    #[error("no radar with id {id:?} (list them with `academichub radar list`)")]
    NotFound { id: String },
    #[error("invalid parameter {name}: {reason}")]
    InvalidParam { name: &'static str, reason: String },
    #[error("{kind} example paper {id} is not in the index")]
    UnknownPaper { kind: &'static str, id: PaperId },
    #[error("radar store {path}: {source}")]
    Store {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("radar store {path} cannot be read ({reason}); it was left untouched: fix or move it")]
    Corrupt { path: PathBuf, reason: String },
    #[error(transparent)]
    Query(#[from] QueryError),
    #[error(transparent)]
    Index(#[from] IndexError),
    /// A Milvus deployment without a local directory for its radars.
    #[error("radars are kept in a local state directory beside the Milvus collection, and this server has none")]
    NoStateDir,
}

impl From<tantivy::TantivyError> for RadarError {
    fn from(e: tantivy::TantivyError) -> Self {
        RadarError::Index(IndexError::Tantivy(e))
    }
}

/// What kind of failure an error is, for mapping to a status code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// The radar does not exist (HTTP 404).
    NotFound,
    /// The request is wrong: bad parameter, unknown example paper (HTTP 400 / 422).
    InvalidInput,
    /// Our fault or the disk's (HTTP 500; log the detail, show a generic message).
    Internal,
}

impl RadarError {
    /// The kind of this error.
    pub fn kind(&self) -> ErrorKind {
        match self {
            RadarError::NotFound { .. } => ErrorKind::NotFound,
            RadarError::InvalidParam { .. } | RadarError::UnknownPaper { .. } => {
                ErrorKind::InvalidInput
            }
            RadarError::Query(QueryError::Invalid(_)) => ErrorKind::InvalidInput,
            RadarError::Store { .. }
            | RadarError::Corrupt { .. }
            | RadarError::Query(_)
            | RadarError::Index(_)
            | RadarError::NoStateDir => ErrorKind::Internal,
        }
    }

    /// A stable machine-readable code (`not_found`, `invalid_param`, `unknown_paper`, ...).
    pub fn code(&self) -> &'static str {
        match self {
            RadarError::NotFound { .. } => "not_found",
            RadarError::InvalidParam { .. } | RadarError::Query(QueryError::Invalid(_)) => {
                "invalid_param"
            }
            RadarError::UnknownPaper { .. } => "unknown_paper",
            RadarError::Store { .. } | RadarError::Corrupt { .. } | RadarError::NoStateDir => {
                "store_error"
            }
            RadarError::Query(_) | RadarError::Index(_) => "index_error",
        }
    }
}

/// Validates `spec` and checks that its example papers exist in `source`.
fn checked(source: &dyn PaperSource, spec: &RadarSpec) -> Result<RadarSpec, RadarError> {
    let spec = spec.validated()?;
    for (kind, ids) in [("positive", &spec.positive), ("negative", &spec.negative)] {
        for id in ids.iter() {
            if source.paper(id)?.is_none() {
                return Err(RadarError::UnknownPaper {
                    kind,
                    id: id.clone(),
                });
            }
        }
    }
    Ok(spec)
}

/// `GET /api/radars`: every radar, in creation order.
pub fn list_radars(source: &dyn PaperSource) -> Result<Vec<Radar>, RadarError> {
    RadarStore::new(source.state_dir()?).list()
}

/// `GET /api/radars/{id}`.
pub fn get_radar(source: &dyn PaperSource, id: &str) -> Result<Radar, RadarError> {
    RadarStore::new(source.state_dir()?).get(id)
}

/// `POST /api/radars`: validates (non-empty, example papers exist) and saves; returns the radar
/// with its new id.
pub fn create_radar(source: &dyn PaperSource, spec: &RadarSpec) -> Result<Radar, RadarError> {
    let spec = checked(source, spec)?;
    RadarStore::new(source.state_dir()?).create(spec)
}

/// `PUT /api/radars/{id}`: replaces the radar's definition (id and creation time stay).
pub fn update_radar(
    source: &dyn PaperSource,
    id: &str,
    spec: &RadarSpec,
) -> Result<Radar, RadarError> {
    let spec = checked(source, spec)?;
    RadarStore::new(source.state_dir()?).update(id, spec)
}

/// `DELETE /api/radars/{id}`: returns the deleted radar.
pub fn delete_radar(source: &dyn PaperSource, id: &str) -> Result<Radar, RadarError> {
    RadarStore::new(source.state_dir()?).delete(id)
}

/// `GET /api/radars/{id}/papers?since=&k=`: the radar's ranked papers with reasons.
pub fn radar_papers(
    source: &dyn PaperSource,
    id: &str,
    req: &RankRequest,
    embedder: Option<&mut dyn Embedder>,
) -> Result<RadarPapers, RadarError> {
    let radar = get_radar(source, id)?;
    rank(source, &radar, req, embedder)
}
