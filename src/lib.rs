//! AcademicHub: a search engine for research-paper abstracts.
//!
//! Data flows one way, and the modules follow it: feeds and corpus files ([`ingest`]) ->
//! [`normalize`] (pure text) -> [`index`] (BM25 fields + vectors, keyed by our paper id) ->
//! [`search`] (bm25 | dense | hybrid) -> [`http`] and the CLI. [`embed`] turns text into
//! vectors for ingestion and search; [`radar`] and [`briefing`] are built on search; [`eval`]
//! sits beside search, never on a request path. `ARCHITECTURE.md` has a paragraph per folder.

// Domain types and pure text functions.
pub mod analysis;
pub mod normalize;
pub mod paper;

// Configuration and embeddings, used by the stages below.
pub mod config;
pub mod embed;

// The pipeline, in data-flow order.
pub mod index;
pub mod ingest;
pub mod search;

// Built on search.
pub mod briefing;
pub mod delivery;
pub mod eval;
pub mod radar;

// The API.
pub mod http;

pub use eval::EvalError;
pub use index::{IndexError, PaperIndex};
pub use ingest::ImportError;
pub use paper::{Paper, PaperId};
pub use search::{Filters, QueryEngine, QueryError, SearchRequest, SearchResults};
