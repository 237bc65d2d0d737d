//! The search stage: a request in, ranked papers out. Knows nothing of HTTP or the CLI.
//!
//! A request ([`request`]) is validated, its query parsed ([`parse`]) and its filters built
//! once ([`filters`]); [`run`] resolves its plan (bm25 | dense | hybrid) and ranks with the
//! legs: BM25 ([`bm25`], term at a time in [`taat`] for plain words), the dense scan
//! ([`dense`]), both keeping their best documents in one [`topk`]; hybrid search
//! ([`hybrid`]) weights and fuses them ([`fusion`]). One shared step pages, loads the papers
//! and builds their snippets ([`snippets`], [`highlight`]); [`response`] is what comes back.
//! [`facets`] counts matches by source and category, [`browse`] holds the views besides
//! ranked search, and [`query_vector`] is the one way a caller embeds a query for an index.

pub mod backend;
pub mod bm25;
pub mod browse;
pub mod dense;
pub mod engine;
pub mod error;
pub mod facets;
pub mod filters;
pub mod fusion;
pub mod highlight;
pub mod hybrid;
pub mod milvus;
pub mod parse;
pub mod query_vector;
pub mod request;
pub mod response;
pub mod run;
pub mod snippets;
pub mod taat;
pub mod topk;
pub mod translate;

pub use backend::{Backend, PaperCounts};
pub use engine::QueryEngine;
pub use error::{InvalidParam, QueryError};
pub use facets::Facets;
pub use filters::FilterSet;
pub use fusion::Fusion;
pub use query_vector::{default_mode, embedding_text, QueryEmbedder};
pub use request::{
    Filters, HybridParams, Mode, QueryVector, SearchRequest, DEFAULT_K, MAX_K, MAX_OFFSET,
    MAX_QUERY_CHARS,
};
pub use response::{Hit, SearchResults, Snippet, Sources};
pub use snippets::SNIPPET_CHARS;
pub use topk::Leg;
pub use translate::Translation;
