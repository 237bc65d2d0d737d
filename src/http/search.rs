//! `GET /api/search`: parameters, limits, the blocking search (query embedding, ranking,
//! facets) off the runtime, the result cache, and the response shape shared by every list.

use std::time::Instant;

use axum::extract::{RawQuery, State};
use axum::http::StatusCode;
use axum::Json;
use serde::Serialize;
use utoipa::ToSchema;

use crate::browse;
use crate::paper::{format_date, parse_date, Paper};
use crate::query::{
    html_escape, push_html_escaped, Filters, Hit, Mode, QueryVector, SearchRequest, SNIPPET_CHARS,
};
use crate::stats::Facets;
use crate::QueryEngine;

use super::error::{ApiError, ErrorBody};
use super::papers::read_blocking;
use super::state::AppState;

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
#[derive(Debug, Clone, Serialize, ToSchema)]
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
    pub offset: usize,
    pub k: usize,
    pub hits: Vec<PaperHit>,
    pub facets: FacetCounts,
    /// Problems found in the query; the search ran on what could be used.
    pub warnings: Vec<String>,
    /// Server time spent on this request, in milliseconds.
    pub took_ms: f64,
}

/// Query parameters of `GET /api/search` (documentation; parsed by [`SearchParams::parse`]).
#[derive(Debug, Clone, Default, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)]
pub struct SearchQueryDoc {
    /// Query: words, "quoted phrases", +must, -exclude, field:term (title, abstract, authors,
    /// categories, source, id, doi). Empty: every paper passing the filters.
    q: Option<String>,
    /// bm25, dense or hybrid. Default: hybrid when the index has vectors and the model loaded,
    /// else bm25.
    mode: Option<String>,
    /// Results per page (1..=max_k, default 10).
    k: Option<usize>,
    /// Results to skip (pagination).
    offset: Option<usize>,
    /// Category filter; repeat it (or separate with commas) for any of several.
    category: Option<Vec<String>>,
    /// Source filter; repeatable.
    source: Option<Vec<String>>,
    /// Published on or after (YYYY-MM-DD).
    from: Option<String>,
    /// Published on or before (YYYY-MM-DD).
    to: Option<String>,
}

/// Parsed and validated search parameters.
#[derive(Debug, Clone)]
pub(crate) struct SearchParams {
    q: String,
    mode: Option<Mode>,
    k: usize,
    offset: usize,
    filters: Filters,
}

/// Splits a raw query string into pairs (repeated keys kept); 400 on bad encoding.
pub(crate) fn pairs(raw: Option<&str>) -> Result<Vec<(String, String)>, ApiError> {
    match raw {
        None | Some("") => Ok(Vec::new()),
        Some(s) => serde_urlencoded::from_str::<Vec<(String, String)>>(s).map_err(|e| {
            ApiError::new(
                StatusCode::BAD_REQUEST,
                "invalid_query_string",
                e.to_string(),
            )
        }),
    }
}

/// Parses a positive count parameter.
pub(crate) fn count(name: &str, v: &str, min: usize, max: usize) -> Result<usize, ApiError> {
    let n: usize = v
        .trim()
        .parse()
        .map_err(|_| ApiError::param(name, format!("{name} must be a whole number, got {v:?}")))?;
    if n < min || n > max {
        return Err(ApiError::param(
            name,
            format!("{name} must be between {min} and {max}, got {n}"),
        ));
    }
    Ok(n)
}

/// Parses a `YYYY-MM-DD` parameter.
pub(crate) fn date(name: &str, v: &str) -> Result<time::Date, ApiError> {
    parse_date(v)
        .filter(|_| v.trim().len() == 10)
        .ok_or_else(|| {
            ApiError::param(
                name,
                format!("{name} must be a date in YYYY-MM-DD form, got {v:?}"),
            )
        })
}

/// Adds a repeatable, comma-separable filter value.
pub(crate) fn push_list(list: &mut Vec<String>, v: &str) {
    list.extend(
        v.split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_string),
    );
}

/// 400 `unknown_param` naming the parameter and the known ones.
pub(crate) fn unknown(key: &str, known: &[&str]) -> ApiError {
    ApiError::new(
        StatusCode::BAD_REQUEST,
        "unknown_param",
        format!("unknown parameter {key:?} (known: {})", known.join(", ")),
    )
}

impl SearchParams {
    /// Parses the query string against the server's limits.
    pub(crate) fn parse(raw: Option<&str>, state: &AppState) -> Result<Self, ApiError> {
        const KNOWN: &[&str] = &[
            "q", "mode", "k", "offset", "category", "source", "from", "to",
        ];
        let limits = &state.config.limits;
        let mut p = SearchParams {
            q: String::new(),
            mode: None,
            k: crate::query::DEFAULT_K.min(limits.max_k),
            offset: 0,
            filters: Filters::default(),
        };
        for (key, v) in pairs(raw)? {
            match key.as_str() {
                "q" => p.q = v,
                "mode" => {
                    p.mode = Some(
                        v.trim()
                            .parse::<Mode>()
                            .map_err(|e| ApiError::param("mode", e))?,
                    )
                }
                "k" => p.k = count("k", &v, 1, limits.max_k)?,
                "offset" => p.offset = count("offset", &v, 0, limits.max_offset)?,
                "category" => push_list(&mut p.filters.categories, &v),
                "source" => push_list(&mut p.filters.sources, &v),
                "from" => p.filters.from = Some(date("from", &v)?),
                "to" => p.filters.to = Some(date("to", &v)?),
                other => return Err(unknown(other, KNOWN)),
            }
        }
        let chars = p.q.chars().count();
        if chars > limits.max_query_chars {
            return Err(ApiError::new(
                StatusCode::BAD_REQUEST,
                "query_too_long",
                format!(
                    "q is {chars} characters long; the limit is {}",
                    limits.max_query_chars
                ),
            ));
        }
        if let (Some(from), Some(to)) = (p.filters.from, p.filters.to) {
            if from > to {
                return Err(ApiError::param(
                    "from",
                    format!("from={from} is after to={to}"),
                ));
            }
        }
        Ok(p)
    }

    fn cache_key(&self, mode: Mode, generation: u64) -> String {
        let mut cats = self.filters.categories.clone();
        cats.iter_mut().for_each(|c| *c = c.to_lowercase());
        cats.sort();
        let mut srcs = self.filters.sources.clone();
        srcs.iter_mut().for_each(|c| *c = c.to_lowercase());
        srcs.sort();
        format!(
            "{generation}\u{1}{mode}\u{1}{}\u{1}{}\u{1}{}\u{1}{}\u{1}{:?}\u{1}{:?}\u{1}{}",
            self.k,
            self.offset,
            cats.join(","),
            srcs.join(","),
            self.filters.from,
            self.filters.to,
            self.q.trim()
        )
    }
}

/// Search the index.
#[utoipa::path(
    get,
    path = "/api/search",
    tag = "search",
    params(SearchQueryDoc),
    responses(
        (status = 200, description = "A page of ranked papers with facets", body = SearchResponse),
        (status = 400, description = "Bad parameter (code names it: invalid_k, invalid_mode, invalid_from, query_too_long, unknown_param ...)", body = ErrorBody),
        (status = 409, description = "Dense search asked for but unavailable (dense_unavailable)", body = ErrorBody),
        (status = 503, description = "The request took too long (timeout)", body = ErrorBody),
    )
)]
pub async fn search(
    State(state): State<AppState>,
    RawQuery(raw): RawQuery,
) -> Result<Json<SearchResponse>, ApiError> {
    let started = Instant::now();
    let params = SearchParams::parse(raw.as_deref(), &state)?;
    let mode = params.mode.unwrap_or_else(|| state.default_mode());
    if mode == Mode::Dense {
        if state.index.embedding_model().is_none() {
            return Err(ApiError::new(
                StatusCode::CONFLICT,
                "dense_unavailable",
                "dense search needs vectors, and this index has none: run `academichub embed` on it",
            ));
        }
        if let Some(why) = state.embedder.is_none().then(|| {
            state
                .embedder_error
                .clone()
                .unwrap_or_else(|| "no embedding model is loaded".into())
        }) {
            return Err(ApiError::new(
                StatusCode::CONFLICT,
                "dense_unavailable",
                format!(
                    "dense search needs the query embedding model, which is unavailable: {why}"
                ),
            ));
        }
    }
    let caching = state.config.cache_entries > 0;
    let key = caching.then(|| params.cache_key(mode, browse::generation(&state.index)));
    if let Some(key) = &key {
        let hit = state
            .cache
            .lock()
            .ok()
            .and_then(|mut c| c.get(key).cloned());
        if let Some(cached) = hit {
            state
                .metrics
                .cache_hits
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            let mut resp = (*cached).clone();
            resp.took_ms = started.elapsed().as_secs_f64() * 1000.0;
            return Ok(Json(resp));
        }
    }
    state
        .metrics
        .cache_misses
        .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let st = state.clone();
    let mut resp = read_blocking(&state, move || run_search(&st, params, mode)).await?;
    if let Some(key) = key {
        // A fallback (embedding failed) may be transient: never cache it.
        if resp.mode == mode.to_string() {
            if let Ok(mut c) = state.cache.lock() {
                c.put(key, std::sync::Arc::new(resp.clone()));
            }
        }
    }
    resp.took_ms = started.elapsed().as_secs_f64() * 1000.0;
    Ok(Json(resp))
}

/// The blocking part: embed the query when needed, rank, count facets.
fn run_search(state: &AppState, p: SearchParams, mode: Mode) -> Result<SearchResponse, ApiError> {
    let query_vector = match mode {
        Mode::Bm25 => None,
        _ => Some(embed_query(state, &p.q)),
    };
    let req = SearchRequest {
        query: p.q.clone(),
        k: p.k,
        offset: p.offset,
        filters: p.filters.clone(),
        snippets: true,
        mode,
        fusion: Default::default(),
        hybrid: Default::default(),
        query_vector,
        facets: true,
    };
    let res = QueryEngine::new(&state.index).search(&req)?;
    let facets = res.facets.unwrap_or_default();
    Ok(SearchResponse {
        query: p.q,
        mode: res.mode.to_string(),
        total: res.total,
        offset: p.offset,
        k: p.k,
        hits: res.hits.into_iter().map(search_hit).collect(),
        facets: facet_counts(facets),
        warnings: res.warnings,
        took_ms: 0.0,
    })
}

/// The query's vector with the index's model, or why it could not be computed.
fn embed_query(state: &AppState, q: &str) -> QueryVector {
    let Some(embedder) = &state.embedder else {
        return QueryVector::Failed(
            state
                .embedder_error
                .clone()
                .unwrap_or_else(|| "no embedding model is loaded".into()),
        );
    };
    let Ok(mut e) = embedder.lock() else {
        return QueryVector::Failed("the embedder is unusable after an earlier panic".into());
    };
    if let Err(err) = state.index.check_query_model(e.id()) {
        return QueryVector::Failed(err.to_string());
    }
    match e.embed_query(q) {
        Ok(v) => QueryVector::Ready(v),
        Err(err) => QueryVector::Failed(err.to_string()),
    }
}

fn search_hit(h: Hit) -> PaperHit {
    let highlight = Highlight {
        title: h
            .title_snippet
            .render("<mark>", "</mark>", push_html_escaped),
        abstract_text: h
            .abstract_snippet
            .render("<mark>", "</mark>", push_html_escaped),
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
    let opening_end = p
        .abstract_text
        .char_indices()
        .nth(SNIPPET_CHARS)
        .map(|(i, _)| i)
        .unwrap_or(p.abstract_text.len());
    let highlight = Highlight {
        title: html_escape(&p.title),
        abstract_text: html_escape(&p.abstract_text[..opening_end]),
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
        url: p.url,
        doi: p.doi,
        score,
        bm25_score: None,
        bm25_rank: None,
        dense_score: None,
        dense_rank: None,
        highlight,
    }
}

fn facet_counts(f: Facets) -> FacetCounts {
    let sorted = |m: std::collections::BTreeMap<String, u64>| {
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
