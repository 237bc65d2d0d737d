//! `GET /api/search`: parameters and limits, the result cache, and the blocking search (query
//! embedding, ranking, facets) on the read threads.

use std::time::Instant;

use axum::extract::{RawQuery, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;

use super::dto::{facet_counts, search_hit, SearchResponse};
use super::error::{ApiError, ErrorBody};
use super::extract::{count, date, heavy_blocking, pairs, push_list, unknown};
use super::state::AppState;
use crate::search::{
    embedding_text, Backend, Filters, Mode, QueryVector, SearchRequest, DEFAULT_K,
};

/// Query parameters of `GET /api/search` (documentation; parsed by `SearchParams::parse`).
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
    /// json (default), or bibtex / ris: the page's papers as a BibTeX or RIS download.
    format: Option<String>,
}

/// Parsed and validated search parameters.
#[derive(Debug, Clone)]
pub(crate) struct SearchParams {
    q: String,
    mode: Option<Mode>,
    k: usize,
    offset: usize,
    filters: Filters,
    /// `format=bibtex|ris`: the page's papers as an export instead of JSON.
    export: Option<crate::delivery::ExportFormat>,
}

impl SearchParams {
    /// Parses the query string against the server's limits.
    pub(crate) fn parse(raw: Option<&str>, state: &AppState) -> Result<Self, ApiError> {
        const KNOWN: &[&str] = &[
            "q", "mode", "k", "offset", "category", "source", "from", "to", "format",
        ];
        let limits = &state.config.limits;
        let mut p = SearchParams {
            q: String::new(),
            mode: None,
            k: DEFAULT_K.min(limits.max_k),
            offset: 0,
            filters: Filters::default(),
            export: None,
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
                "format" => p.export = super::export::format_param(&v)?,
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
        (status = 200, description = "A page of ranked papers with facets (with format=bibtex|ris: those papers as application/x-bibtex or application/x-research-info-systems)", body = SearchResponse),
        (status = 400, description = "Bad parameter (code names it: invalid_k, invalid_mode, invalid_from, query_too_long, unknown_param ...)", body = ErrorBody),
        (status = 409, description = "Dense search asked for but unavailable (dense_unavailable)", body = ErrorBody),
        (status = 503, description = "The request took too long (timeout), or the Milvus backend is unreachable (backend_unavailable)", body = ErrorBody),
    )
)]
pub async fn search(
    State(state): State<AppState>,
    RawQuery(raw): RawQuery,
) -> Result<Response, ApiError> {
    let started = Instant::now();
    let params = SearchParams::parse(raw.as_deref(), &state)?;
    let mode = params.mode.unwrap_or_else(|| state.default_mode());
    if let Some(format) = params.export {
        let st = state.clone();
        let stem = format!("search-{}", params.q.trim());
        let papers = heavy_blocking(&state, move || {
            let req = search_request(&params, mode, false);
            let res = st
                .backend
                .search_embedding(&req, || Some(embed_query(&st, &params.q)))?;
            Ok(res.hits.into_iter().map(|h| h.paper).collect::<Vec<_>>())
        })
        .await?;
        return Ok(super::export::export_response(&papers, format, &stem));
    }
    if mode == Mode::Dense {
        if !state.backend.has_model() {
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
    let caching = state.config.cache_entries > 0 && state.config.cache_bytes > 0;
    // No cache over a store other processes write to without notice (Milvus).
    let key = state
        .backend
        .generation()
        .filter(|_| caching)
        .map(|generation| params.cache_key(mode, generation));
    if let Some(key) = &key {
        let hit = state.cache.lock().ok().and_then(|mut c| c.get(key));
        if let Some(cached) = hit {
            state
                .metrics
                .cache_hits
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            let mut resp = (*cached).clone();
            resp.took_ms = started.elapsed().as_secs_f64() * 1000.0;
            return Ok(Json(resp).into_response());
        }
    }
    state
        .metrics
        .cache_misses
        .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let st = state.clone();
    let mut resp = heavy_blocking(&state, move || run_search(&st, params, mode)).await?;
    if let Some(key) = key {
        // A fallback (embedding failed) may be transient: never cache it.
        if resp.mode == mode.to_string() {
            if let Ok(mut c) = state.cache.lock() {
                c.put(key, std::sync::Arc::new(resp.clone()));
            }
        }
    }
    resp.took_ms = started.elapsed().as_secs_f64() * 1000.0;
    Ok(Json(resp).into_response())
}

/// The blocking part: embed the query when needed, rank, count facets.
fn run_search(state: &AppState, p: SearchParams, mode: Mode) -> Result<SearchResponse, ApiError> {
    let req = search_request(&p, mode, true);
    // The query is embedded when the mode needs it, while a hybrid search ranks its BM25 leg.
    let res = state
        .backend
        .search_embedding(&req, || Some(embed_query(state, &p.q)))?;
    let facets = res.facets.unwrap_or_default();
    Ok(SearchResponse {
        query: p.q,
        mode: res.mode.to_string(),
        total: res.total,
        ranked_by_meaning: res.ranked_by_meaning,
        offset: p.offset,
        k: p.k,
        hits: res.hits.into_iter().map(search_hit).collect(),
        facets: facet_counts(facets),
        warnings: res.warnings,
        translation: res.translation,
        took_ms: 0.0,
    })
}

/// The request of a search, its query not embedded yet (`Backend::search_embedding` embeds
/// it when the mode needs it); snippets and facets for a page of results (an export needs
/// neither).
fn search_request(p: &SearchParams, mode: Mode, page: bool) -> SearchRequest {
    SearchRequest {
        query: p.q.clone(),
        k: p.k,
        offset: p.offset,
        filters: p.filters.clone(),
        snippets: page,
        mode,
        fusion: Default::default(),
        hybrid: Default::default(),
        query_vector: None,
        facets: page,
        translate: true,
    }
}

/// The query's vector with the server's embedder, or why it could not be computed; the text
/// to embed (with its translation) is worked out before the embedder is taken.
fn embed_query(state: &AppState, q: &str) -> QueryVector {
    let text = match &state.backend {
        Backend::Tantivy(index) => embedding_text(index, q, true),
        // Translated over the deployment's vocabulary sample.
        Backend::Milvus(store) => crate::search::milvus::embedding_text(store, q),
    };
    state.with_query_embedder(|mut e| e.embed(&text))
}
