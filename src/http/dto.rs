//! The API's JSON shapes (request bodies and responses, with their OpenAPI schemas) and the
//! conversions from the library's types. Handlers build these; nothing else does.

use std::collections::BTreeMap;
use std::time::Instant;

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::html::{html_escape, marked};
use crate::paper::{format_date, Paper, PaperId};
use crate::radar::{Radar, RadarFilters, RadarPapers, RadarSpec};
use crate::search::browse::PaperPage;
use crate::search::snippets::opening;
use crate::search::{Facets, Hit, SNIPPET_CHARS};

/// One paper in a result list (search, latest, similar).
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct PaperHit {
    /// 1-based position in the whole list (offset included).
    pub rank: usize,
    pub id: String,
    pub title: String,
    pub authors: Vec<String>,
    /// arXiv-style categories, primary first.
    pub categories: Vec<String>,
    pub primary_category: Option<String>,
    /// arxiv, medrxiv, biorxiv, beir, or a journal's name.
    pub source: String,
    /// Publication date, `YYYY-MM-DD`.
    pub published: Option<String>,
    /// Last update, `YYYY-MM-DD`.
    pub updated: Option<String>,
    pub url: Option<String>,
    pub doi: Option<String>,
    /// Ranking score (BM25, cosine, or fused; 0 for date-ordered lists).
    pub score: f32,
    /// The BM25 part: score and 1-based rank in the BM25 list, when the paper was in it.
    pub bm25_score: Option<f32>,
    pub bm25_rank: Option<usize>,
    /// The dense part: cosine and 1-based rank in the dense list, when the paper was in it.
    pub dense_score: Option<f32>,
    pub dense_rank: Option<usize>,
    /// HTML-escaped title and abstract snippet, query words wrapped in `<mark>`.
    pub highlight: Highlight,
}

/// Highlighted, HTML-escaped text of a hit.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Highlight {
    pub title: String,
    #[serde(rename = "abstract")]
    pub abstract_text: String,
}

/// A value and how many matching papers carry it.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct FacetValue {
    pub value: String,
    pub count: u64,
}

/// Counts over every paper matching the query and filters (not just the page), most frequent
/// first. Categories count each paper's primary category.
#[derive(Debug, Clone, Default, Serialize, ToSchema)]
pub struct FacetCounts {
    pub category: Vec<FacetValue>,
    pub source: Vec<FacetValue>,
}

/// `GET /api/search` response.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct SearchResponse {
    pub query: String,
    /// The mode actually used (`hybrid` falls back to `bm25` when the query cannot be embedded).
    #[schema(example = "bm25")]
    pub mode: String,
    /// Papers matching the query and filters.
    pub total: usize,
    /// Dense and hybrid: papers passing the filters that have a vector, i.e. that could be
    /// ranked by meaning (the others, still waiting for the background embedder, are found
    /// by BM25 only). Absent in bm25 mode.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ranked_by_meaning: Option<usize>,
    pub offset: usize,
    pub k: usize,
    pub hits: Vec<PaperHit>,
    pub facets: FacetCounts,
    /// Problems found in the query; the search ran on what could be used.
    pub warnings: Vec<String>,
    /// The English the BM25 leg searched for the query's Chinese words (absent when nothing
    /// was translated).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(example = "reinforce learn")]
    pub translation: Option<String>,
    /// Server time spent on this request, in milliseconds.
    pub took_ms: f64,
}

/// A full paper (`GET /api/papers/{id}`).
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct PaperDetail {
    pub id: String,
    /// Version number (arXiv vN; 1 when the source has none).
    pub version: u64,
    pub title: String,
    #[serde(rename = "abstract")]
    pub abstract_text: String,
    pub authors: Vec<String>,
    pub categories: Vec<String>,
    pub primary_category: Option<String>,
    pub source: String,
    pub published: Option<String>,
    pub updated: Option<String>,
    pub url: Option<String>,
    pub doi: Option<String>,
    pub comment: Option<String>,
    pub journal_ref: Option<String>,
    /// Whether the paper has a dense vector (so `similar` works for it).
    pub has_vector: bool,
}

/// A list of papers (`latest`, `similar`).
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct PaperList {
    /// Papers passing the filters (for `similar`: papers with a vector, minus the paper itself).
    pub total: usize,
    pub offset: usize,
    pub k: usize,
    /// `latest`: the newest publication date among the listed papers.
    pub latest_date: Option<String>,
    pub hits: Vec<PaperHit>,
    pub took_ms: f64,
}

/// A paper sent to `POST /api/papers`. Text is whitespace-collapsed; `published` and
/// `updated` are `YYYY-MM-DD`.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PaperInput {
    /// Stable id (arXiv id without version, DOI, or a source-specific id); upserts replace the
    /// paper with the same id (case-insensitively).
    pub id: String,
    #[serde(default)]
    pub version: Option<u64>,
    #[serde(default)]
    pub title: String,
    #[serde(default, rename = "abstract")]
    pub abstract_text: String,
    #[serde(default)]
    pub authors: Vec<String>,
    /// Categories, primary first.
    #[serde(default)]
    pub categories: Vec<String>,
    /// Default `api`.
    #[serde(default)]
    pub source: Option<String>,
    #[serde(default)]
    pub published: Option<String>,
    #[serde(default)]
    pub updated: Option<String>,
    #[serde(default)]
    pub url: Option<String>,
    #[serde(default)]
    pub doi: Option<String>,
    #[serde(default)]
    pub comment: Option<String>,
    #[serde(default)]
    pub journal_ref: Option<String>,
}

/// `POST /api/papers` response.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct UpsertResponse {
    /// Papers written (new or replaced; a repeated id counts once, the last copy wins).
    pub upserted: usize,
    /// Of those, papers new to the index.
    pub created: usize,
    /// Papers given a fresh vector.
    pub embedded: usize,
    /// Papers that kept their stored vector (title and abstract unchanged).
    pub vectors_kept: usize,
    pub ids: Vec<String>,
    pub warnings: Vec<String>,
    pub took_ms: f64,
}

/// `POST /api/ingest` body (optional).
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct IngestRequest {
    /// Poll only this source (default: every configured feed).
    #[serde(default)]
    pub source: Option<String>,
}

/// Liveness and what the server can do.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Health {
    /// Always `ok` when the server answers.
    pub status: String,
    pub version: String,
    /// Where the papers live: `tantivy` (the local index) or `milvus`.
    pub backend: String,
    pub papers: u64,
    /// The index holds dense vectors.
    pub vectors: bool,
    /// The query embedding model is loaded (dense and hybrid search work).
    pub embedder: bool,
    /// The write endpoints are enabled (a token is configured).
    pub writes: bool,
    /// `POST /api/ingest` is wired to a feed poller.
    pub ingest: bool,
    /// Live papers with a dense vector.
    pub with_vectors: u64,
    /// `with_vectors / papers`: the share of papers that dense and hybrid search can rank by
    /// meaning (1 for an empty index).
    pub semantic_coverage: f64,
    /// Background embedding, when this server runs it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub background_embedding: Option<BackgroundEmbedding>,
}

/// Progress of the server's background embedding.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct BackgroundEmbedding {
    /// `starting`, `embedding`, `idle` (every paper has a vector), `retrying` or `stopped`.
    pub state: String,
    /// The model vectors are computed with.
    pub model: String,
    /// Papers embedded since the server started.
    pub embedded: u64,
    /// Recent rate, papers per second.
    pub rate_per_sec: f64,
    /// Seconds to full coverage at that rate.
    pub eta_secs: Option<f64>,
    /// The last batch's error, while it is retried.
    pub last_error: Option<String>,
}

impl From<&crate::ingest::background::CoverageReport> for BackgroundEmbedding {
    fn from(r: &crate::ingest::background::CoverageReport) -> Self {
        BackgroundEmbedding {
            state: r.state.as_str().to_string(),
            model: r.model.clone(),
            embedded: r.embedded,
            rate_per_sec: r.rate_per_sec,
            eta_secs: r.eta_secs,
            last_error: r.last_error.clone(),
        }
    }
}

/// `GET /api/radars`.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct RadarList {
    pub total: usize,
    /// In creation order.
    pub radars: Vec<RadarBody>,
}

/// `DELETE /api/radars/{id}`.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Deleted {
    /// The radar as it was.
    pub deleted: RadarBody,
}

/// `GET /api/radars/{id}/papers`: the ranking and how long it took.
#[derive(Debug, Clone, Serialize)]
pub struct RadarPapersResponse {
    #[serde(flatten)]
    pub result: RadarPapers,
    /// With `unread=true`: what was left out, and which papers are revisions.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub unread: Option<UnreadInfo>,
    pub took_ms: f64,
}

/// `unread=true` on a radar's papers.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct UnreadInfo {
    /// Papers of the ranking left out because they were delivered (read, or sent in a digest).
    pub delivered_left_out: usize,
    /// Listed papers delivered before at an earlier version (revisions).
    pub updated: Vec<String>,
}

/// A saved research radar.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[schema(as = Radar)]
pub struct RadarBody {
    /// Short stable slug derived from the name at creation (`llm-reasoning`, `radar-2`); never
    /// changes afterwards.
    pub id: String,
    pub name: String,
    /// Keyword or natural-language queries, any language.
    pub queries: Vec<String>,
    // `default` as on the domain type: these may be absent from a stored radar.
    #[serde(default)]
    pub filters: RadarFiltersBody,
    /// Papers like these move up.
    #[serde(default)]
    pub positive: Vec<String>,
    /// Papers like these move down.
    #[serde(default)]
    pub negative: Vec<String>,
    /// RFC 3339 UTC timestamps.
    pub created: String,
    pub updated: String,
}

impl From<Radar> for RadarBody {
    fn from(r: Radar) -> Self {
        RadarBody {
            id: r.id,
            name: r.name,
            queries: r.queries,
            filters: r.filters.into(),
            positive: r.positive.into_iter().map(|p| p.to_string()).collect(),
            negative: r.negative.into_iter().map(|p| p.to_string()).collect(),
            created: r.created,
            updated: r.updated,
        }
    }
}

/// Category and source filters of a radar (any listed value matches; empty = no filter).
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = RadarFilters)]
pub struct RadarFiltersBody {
    #[serde(default)]
    pub categories: Vec<String>,
    #[serde(default)]
    pub sources: Vec<String>,
}

impl From<RadarFilters> for RadarFiltersBody {
    fn from(f: RadarFilters) -> Self {
        RadarFiltersBody {
            categories: f.categories,
            sources: f.sources,
        }
    }
}

/// What a client sends to create or replace a radar (the body of `POST`/`PUT /api/radars`).
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = RadarSpec)]
pub struct RadarSpecBody {
    pub name: String,
    #[serde(default)]
    pub queries: Vec<String>,
    #[serde(default)]
    pub filters: RadarFiltersBody,
    #[serde(default)]
    pub positive: Vec<String>,
    #[serde(default)]
    pub negative: Vec<String>,
}

impl From<RadarSpecBody> for RadarSpec {
    fn from(b: RadarSpecBody) -> Self {
        RadarSpec {
            name: b.name,
            queries: b.queries,
            filters: RadarFilters {
                categories: b.filters.categories,
                sources: b.filters.sources,
            },
            positive: b.positive.into_iter().map(PaperId::new).collect(),
            negative: b.negative.into_iter().map(PaperId::new).collect(),
        }
    }
}

/// The full paper of `GET /api/papers/{id}`.
pub(crate) fn to_detail(p: Paper, has_vector: bool) -> PaperDetail {
    PaperDetail {
        primary_category: p.primary_category().map(str::to_string),
        id: p.id.to_string(),
        version: p.version,
        title: p.title,
        abstract_text: p.abstract_text,
        authors: p.authors,
        categories: p.categories,
        source: p.source,
        published: p.published.map(format_date),
        updated: p.updated.map(format_date),
        url: p.url.as_deref().and_then(crate::normalize::web_url),
        doi: p.doi,
        comment: p.comment,
        journal_ref: p.journal_ref,
        has_vector,
    }
}

/// A page of papers as a list response (`dated`: report the newest date).
pub(crate) fn list(
    page: PaperPage,
    offset: usize,
    k: usize,
    dated: bool,
    started: Instant,
) -> PaperList {
    let latest_date = if dated {
        page.papers
            .iter()
            .filter_map(|(p, _)| p.published)
            .max()
            .map(format_date)
    } else {
        None
    };
    PaperList {
        total: page.total,
        offset,
        k,
        latest_date,
        hits: page
            .papers
            .into_iter()
            .enumerate()
            .map(|(i, (p, s))| paper_hit(offset + i + 1, p, s))
            .collect(),
        took_ms: started.elapsed().as_secs_f64() * 1000.0,
    }
}

/// A search hit as a list item, with its highlighted snippets and its legs' ranks.
pub(crate) fn search_hit(h: Hit) -> PaperHit {
    let highlight = Highlight {
        title: marked(&h.title_snippet),
        abstract_text: marked(&h.abstract_snippet),
    };
    let mut out = list_item(h.rank, h.paper, h.score, highlight);
    out.bm25_score = h.sources.bm25_score;
    out.bm25_rank = h.sources.bm25_rank;
    out.dense_score = h.sources.dense_score;
    out.dense_rank = h.sources.dense_rank;
    out
}

/// A list item for `paper` (highlight = escaped title and the abstract's opening).
pub(crate) fn paper_hit(rank: usize, p: Paper, score: f32) -> PaperHit {
    let highlight = Highlight {
        title: html_escape(&p.title),
        abstract_text: html_escape(opening(&p.abstract_text, SNIPPET_CHARS)),
    };
    list_item(rank, p, score, highlight)
}

fn list_item(rank: usize, p: Paper, score: f32, highlight: Highlight) -> PaperHit {
    PaperHit {
        rank,
        primary_category: p.primary_category().map(str::to_string),
        id: p.id.to_string(),
        title: p.title,
        authors: p.authors,
        categories: p.categories,
        source: p.source,
        published: p.published.map(format_date),
        updated: p.updated.map(format_date),
        url: p.url.as_deref().and_then(crate::normalize::web_url),
        doi: p.doi,
        score,
        bm25_score: None,
        bm25_rank: None,
        dense_score: None,
        dense_rank: None,
        highlight,
    }
}

/// Facet counts, most frequent first.
pub(crate) fn facet_counts(f: Facets) -> FacetCounts {
    let sorted = |m: BTreeMap<String, u64>| {
        let mut v: Vec<FacetValue> = m
            .into_iter()
            .map(|(value, count)| FacetValue { value, count })
            .collect();
        v.sort_by(|a, b| b.count.cmp(&a.count).then_with(|| a.value.cmp(&b.value)));
        v
    };
    FacetCounts {
        category: sorted(f.by_primary_category),
        source: sorted(f.by_source),
    }
}
