//! What a search asks for: the query, paging, filters, mode, fusion and hybrid parameters, and
//! the query vector the caller computed. Plain data plus validation; no index access.

use serde::Serialize;
use time::Date;

use super::error::{InvalidParam, QueryError};
use super::fusion::Fusion;

/// Largest `k` a request may ask for.
pub const MAX_K: usize = 1000;
/// Largest `offset` a request may ask for.
pub const MAX_OFFSET: usize = 10_000;
/// Longest query accepted, in characters.
pub const MAX_QUERY_CHARS: usize = 1000;
/// Default number of hits.
pub const DEFAULT_K: usize = 10;

/// Default share of the unusable BM25 weight given to the feedback leg (see
/// [`HybridParams::feedback_weight`]): off until it is shown to help on the full arxiv-zh2en
/// set (on the 80-paper fixture its neighbours are off-topic and it hurts; BENCHMARKS.md).
pub const DEFAULT_FEEDBACK_WEIGHT: f32 = 0.0;
/// Default number of top dense hits the feedback terms come from.
pub const DEFAULT_FEEDBACK_DOCS: usize = 10;
/// Default number of feedback terms.
pub const DEFAULT_FEEDBACK_TERMS: usize = 30;
/// Most top dense hits the feedback terms may come from.
pub const MAX_FEEDBACK_DOCS: usize = 100;
/// Most feedback terms.
pub const MAX_FEEDBACK_TERMS: usize = 200;

/// Filters applied to every search mode alike.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Filters {
    /// Match papers carrying any of these categories (case-insensitive).
    pub categories: Vec<String>,
    /// Match papers from any of these sources (case-insensitive).
    pub sources: Vec<String>,
    /// First publication date, inclusive.
    pub from: Option<Date>,
    /// Last publication date, inclusive.
    pub to: Option<Date>,
}

impl Filters {
    /// True when nothing is filtered.
    pub fn is_empty(&self) -> bool {
        self.categories.is_empty()
            && self.sources.is_empty()
            && self.from.is_none()
            && self.to.is_none()
    }
}

/// Retrieval mode.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    /// Keyword ranking (BM25 over title + abstract).
    #[default]
    Bm25,
    /// Cosine between the query's and the papers' embeddings.
    Dense,
    /// Both, fused.
    Hybrid,
}

impl std::str::FromStr for Mode {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "bm25" => Ok(Mode::Bm25),
            "dense" => Ok(Mode::Dense),
            "hybrid" => Ok(Mode::Hybrid),
            other => Err(format!(
                "unknown mode {other:?} (use bm25, dense or hybrid)"
            )),
        }
    }
}

impl std::fmt::Display for Mode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Mode::Bm25 => "bm25",
            Mode::Dense => "dense",
            Mode::Hybrid => "hybrid",
        })
    }
}

/// The query's embedding, computed by the caller (embedding is blocking work that does not
/// belong in the query layer; see [`super::query_vector`]), or why it could not be computed.
#[derive(Debug, Clone)]
pub enum QueryVector {
    Ready(Vec<f32>),
    Failed(String),
}

/// Tuning of hybrid search beyond the fusion method: language-aware weighting of the BM25 leg
/// and the dense-feedback leg (see [`super::hybrid`]).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct HybridParams {
    /// Scale the BM25 leg's weight by the query's term coverage.
    pub coverage_weighting: bool,
    /// Share of the BM25 weight a query cannot use (`1 - coverage` of it) that goes to the
    /// feedback leg; the rest goes to the dense leg. 0 turns the feedback leg off.
    pub feedback_weight: f32,
    /// Top dense hits the feedback terms are drawn from.
    pub feedback_docs: usize,
    /// Number of feedback terms.
    pub feedback_terms: usize,
}

impl Default for HybridParams {
    fn default() -> Self {
        HybridParams {
            coverage_weighting: true,
            feedback_weight: DEFAULT_FEEDBACK_WEIGHT,
            feedback_docs: DEFAULT_FEEDBACK_DOCS,
            feedback_terms: DEFAULT_FEEDBACK_TERMS,
        }
    }
}

impl HybridParams {
    /// Plain two-leg fusion with fixed weights (no coverage weighting, no feedback).
    pub fn plain() -> Self {
        HybridParams {
            coverage_weighting: false,
            feedback_weight: 0.0,
            ..HybridParams::default()
        }
    }

    /// Checks ranges.
    pub fn validate(&self) -> Result<(), QueryError> {
        if !(0.0..=1.0).contains(&self.feedback_weight) {
            return Err(InvalidParam::FeedbackWeight(self.feedback_weight).into());
        }
        if self.feedback_docs == 0 || self.feedback_docs > MAX_FEEDBACK_DOCS {
            return Err(InvalidParam::FeedbackDocs {
                got: self.feedback_docs,
                max: MAX_FEEDBACK_DOCS,
            }
            .into());
        }
        if self.feedback_terms == 0 || self.feedback_terms > MAX_FEEDBACK_TERMS {
            return Err(InvalidParam::FeedbackTerms {
                got: self.feedback_terms,
                max: MAX_FEEDBACK_TERMS,
            }
            .into());
        }
        Ok(())
    }
}

/// A search request.
#[derive(Debug, Clone)]
pub struct SearchRequest {
    pub query: String,
    pub k: usize,
    pub offset: usize,
    pub filters: Filters,
    /// Compute highlighted snippets (off for evaluation runs).
    pub snippets: bool,
    pub mode: Mode,
    pub fusion: Fusion,
    /// Language-aware weighting and dense feedback of hybrid mode.
    pub hybrid: HybridParams,
    /// Required for dense mode; hybrid falls back to BM25 without it.
    pub query_vector: Option<QueryVector>,
    /// Also count the matches by source and primary category ([`super::SearchResults::facets`]):
    /// the BM25 matches (every paper passing the filters in dense mode). In bm25 mode the
    /// facet pass also gives the total, so the ranking pass need not count.
    pub facets: bool,
    /// Translate the query's Chinese words into English for the BM25 leg (on by default;
    /// see [`super::translate`]).
    pub translate: bool,
}

impl SearchRequest {
    /// A request for the top `DEFAULT_K` hits with snippets and no filters.
    pub fn new(query: impl Into<String>) -> Self {
        SearchRequest {
            query: query.into(),
            k: DEFAULT_K,
            offset: 0,
            filters: Filters::default(),
            snippets: true,
            mode: Mode::Bm25,
            fusion: Fusion::default(),
            hybrid: HybridParams::default(),
            query_vector: None,
            facets: false,
            translate: true,
        }
    }

    /// Checks limits; every violation says which limit and which value.
    pub fn validate(&self) -> Result<(), QueryError> {
        if self.k == 0 || self.k > MAX_K {
            return Err(InvalidParam::K {
                got: self.k,
                max: MAX_K,
            }
            .into());
        }
        if self.offset > MAX_OFFSET {
            return Err(InvalidParam::Offset {
                got: self.offset,
                max: MAX_OFFSET,
            }
            .into());
        }
        let chars = self.query.chars().count();
        if chars > MAX_QUERY_CHARS {
            return Err(InvalidParam::QueryTooLong {
                chars,
                max: MAX_QUERY_CHARS,
            }
            .into());
        }
        if let Fusion::Convex { alpha } = self.fusion {
            if !(0.0..=1.0).contains(&alpha) {
                return Err(InvalidParam::Alpha(alpha).into());
            }
        }
        if let (Some(from), Some(to)) = (self.filters.from, self.filters.to) {
            if from > to {
                return Err(InvalidParam::DateRange { from, to }.into());
            }
        }
        Ok(())
    }
}
