//! AcademicHub: a search engine for research-paper abstracts.
//!
//! Data flows one way: `import`/feeds -> [`normalize`] -> [`index`] -> [`query`] -> CLI/HTTP,
//! with [`eval`] beside the query layer. See `ARCHITECTURE.md` for one paragraph per module.

pub mod analysis;
pub mod briefing;
pub mod browse;
pub mod config;
pub mod embed;
pub mod error;
pub mod eval;
pub mod feeds;
pub mod fusion;
pub mod highlight;
pub mod http;
pub mod hybrid;
pub mod import;
pub mod index;
pub mod normalize;
pub mod paper;
pub mod query;
pub mod radar;
pub mod schema;
pub mod segment_cache;
pub mod stats;
pub mod taat;
pub mod upsert;
pub mod vectors;

pub use error::{EvalError, ImportError, IndexError, QueryError};
pub use index::PaperIndex;
pub use paper::{Paper, PaperId};
pub use query::{Filters, QueryEngine, SearchRequest, SearchResults};
