//! Embedding a query for an index: the one place that decides whether an embedder can serve
//! an index's dense leg (the index must hold vectors of the embedder's exact model build), the
//! one rule for the default mode, and the query vector or why there is none. HTTP, the CLI and
//! radars all go through here.

use std::borrow::Cow;

use super::request::{Mode, QueryVector};
use super::translate;
use crate::embed::Embedder;
use crate::index::PaperIndex;

/// An embedder checked against an index, or why queries cannot be embedded for it.
pub enum QueryEmbedder<'e> {
    /// Its model built the index's vectors: its query vectors compare with them.
    Ready(&'e mut dyn Embedder),
    /// No usable embedder, and why (for warnings, notes and error messages).
    Unavailable(String),
}

impl<'e> QueryEmbedder<'e> {
    /// Checks `embedder` (or the reason there is none) against `index`.
    pub fn for_index(
        index: &PaperIndex,
        embedder: Result<&'e mut dyn Embedder, String>,
    ) -> QueryEmbedder<'e> {
        match embedder {
            Err(why) => QueryEmbedder::Unavailable(why),
            Ok(e) => match index.check_query_model(e.id()) {
                Ok(()) => QueryEmbedder::Ready(e),
                Err(err) => QueryEmbedder::Unavailable(err.to_string()),
            },
        }
    }

    /// True when queries can be embedded for the index.
    pub fn is_ready(&self) -> bool {
        matches!(self, QueryEmbedder::Ready(_))
    }

    /// The embedder, when it is usable.
    pub fn embedder(&mut self) -> Option<&mut dyn Embedder> {
        match self {
            QueryEmbedder::Ready(e) => Some(&mut **e),
            QueryEmbedder::Unavailable(_) => None,
        }
    }

    /// Why queries cannot be embedded, when they cannot.
    pub fn unavailable(&self) -> Option<&str> {
        match self {
            QueryEmbedder::Ready(_) => None,
            QueryEmbedder::Unavailable(why) => Some(why),
        }
    }

    /// The vector of `query`, or why it could not be computed (hybrid search then falls back
    /// to bm25 and says so; dense search fails with the reason). Pass a search's
    /// [`embedding_text`], computed before taking a shared embedder's lock.
    pub fn embed(&mut self, query: &str) -> QueryVector {
        match self {
            QueryEmbedder::Ready(e) => match e.embed_query(query) {
                Ok(v) => QueryVector::Ready(v),
                Err(err) => QueryVector::Failed(err.to_string()),
            },
            QueryEmbedder::Unavailable(why) => QueryVector::Failed(why.clone()),
        }
    }
}

/// The text a search embeds for `query` over `index`: with `translate`, a Chinese query over
/// mostly English papers gets its English translation appended
/// ([`translate::embedding_text`]); otherwise the query as it is.
pub fn embedding_text<'t>(index: &PaperIndex, query: &'t str, translate: bool) -> Cow<'t, str> {
    if translate {
        translate::embedding_text(index, query)
    } else {
        Cow::Borrowed(query)
    }
}

/// The mode of a search that names none: hybrid when the index has vectors and a query
/// embedder for them is at hand (`query_embedder`: a [`QueryEmbedder::is_ready`], or a server's
/// embedder checked when it started), else bm25. The one rule, for the API and the CLI alike.
pub fn default_mode(index: &PaperIndex, query_embedder: bool) -> Mode {
    if query_embedder && index.embedding_model().is_some() {
        Mode::Hybrid
    } else {
        Mode::Bm25
    }
}
