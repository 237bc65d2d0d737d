//! Paper reads: one paper, similar papers, the latest papers (the daily list), and liveness.
//! Each runs on the read threads; the library does the work ([`crate::search::browse`]).

use std::time::Instant;

use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;

use super::dto::{list, to_detail, Health, PaperDetail, PaperList};
use super::error::{ApiError, ErrorBody};
use super::extract::{count, date, heavy_blocking, pairs, push_list, read_blocking, unknown};
use super::state::AppState;
use crate::delivery::ExportFormat;
use crate::search::browse::SimilarError;
use crate::search::Backend;
use crate::search::Filters;

/// Default number of papers for `latest` (a day's list) and `similar`.
pub const DEFAULT_LIST_K: usize = 20;

/// One paper by id.
#[utoipa::path(
    get,
    path = "/api/papers/{id}",
    tag = "papers",
    params(("id" = String, Path, description = "Paper id (percent-encode a `/`, as in `hep-th%2F9901001`); `ID.bib` or `ID.ris` for the paper as BibTeX or RIS")),
    responses(
        (status = 200, description = "The paper (for `ID.bib` / `ID.ris`: application/x-bibtex / application/x-research-info-systems)", body = PaperDetail),
        (status = 404, description = "Unknown id (paper_not_found)", body = ErrorBody),
    )
)]
pub async fn get_paper(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    // `/api/papers/{id}.bib` and `.ris`: the paper as a citation (an id that itself ends so
    // is served as JSON first).
    let export = [ExportFormat::Bibtex, ExportFormat::Ris]
        .into_iter()
        .find_map(|f| {
            id.strip_suffix(&format!(".{}", f.extension()))
                .map(|stem| (f, stem.to_string()))
        });
    let backend = state.backend.clone();
    let found = read_blocking(&state, move || {
        if let Some(p) = backend.paper(&id)? {
            return Ok(Ok((p, None)));
        }
        match export {
            Some((format, stem)) => {
                Ok(backend.paper(&stem)?.map(|p| (p, Some(format))).ok_or(stem))
            }
            None => Ok(Err(id)),
        }
    })
    .await?;
    match found {
        Ok(((p, _), Some(format))) => {
            let stem = p.id.to_string();
            Ok(super::export::export_response(
                std::slice::from_ref(&p),
                format,
                &stem,
            ))
        }
        Ok(((p, v), None)) => Ok(Json(to_detail(p, v)).into_response()),
        Err(id) => Err(ApiError::paper_not_found(&id)),
    }
}

/// Papers nearest to one paper by the cosine of their stored vectors, excluding itself.
#[utoipa::path(
    get,
    path = "/api/papers/{id}/similar",
    tag = "papers",
    params(
        ("id" = String, Path, description = "Paper id"),
        ("k" = Option<usize>, Query, description = "Number of papers (1..=max_k, default 20)"),
        ("category" = Option<Vec<String>>, Query, description = "Only papers in these categories (repeatable)"),
        ("source" = Option<Vec<String>>, Query, description = "Only papers from these sources (repeatable)"),
    ),
    responses(
        (status = 200, description = "Nearest papers, most similar first", body = PaperList),
        (status = 400, description = "Bad parameter (invalid_k, unknown_param)", body = ErrorBody),
        (status = 404, description = "Unknown id (paper_not_found)", body = ErrorBody),
        (status = 409, description = "The index has no vectors (no_vectors) or this paper has none yet (paper_has_no_vector)", body = ErrorBody),
    )
)]
pub async fn similar(
    State(state): State<AppState>,
    Path(id): Path<String>,
    RawQuery(raw): RawQuery,
) -> Result<Json<PaperList>, ApiError> {
    let started = Instant::now();
    let max_k = state.config.limits.max_k;
    let mut k = DEFAULT_LIST_K.min(max_k);
    let mut filters = Filters::default();
    for (key, v) in pairs(raw.as_deref())? {
        match key.as_str() {
            "k" => k = count("k", &v, 1, max_k)?,
            "category" => push_list(&mut filters.categories, &v),
            "source" => push_list(&mut filters.sources, &v),
            other => return Err(unknown(other, &["k", "category", "source"])),
        }
    }
    let backend = state.backend.clone();
    let page = heavy_blocking(&state, move || {
        backend.similar(&id, &filters, k).map_err(|e| match e {
            SimilarError::UnknownPaper(id) => ApiError::paper_not_found(&id),
            SimilarError::NoVectors => {
                ApiError::new(StatusCode::CONFLICT, "no_vectors", e.to_string())
            }
            SimilarError::PaperWithoutVector(_) => {
                ApiError::new(StatusCode::CONFLICT, "paper_has_no_vector", e.to_string())
            }
            SimilarError::Query(q) => q.into(),
        })
    })
    .await?;
    Ok(Json(list(page, 0, k, false, started)))
}

/// The newest papers, newest first: the daily list (`date` = one day's papers).
#[utoipa::path(
    get,
    path = "/api/latest",
    tag = "papers",
    params(
        ("category" = Option<Vec<String>>, Query, description = "Only papers in these categories (repeatable or comma-separated)"),
        ("source" = Option<Vec<String>>, Query, description = "Only papers from these sources (repeatable)"),
        ("date" = Option<String>, Query, description = "Only papers published that day (YYYY-MM-DD)"),
        ("k" = Option<usize>, Query, description = "Number of papers (1..=max_k, default 20)"),
        ("offset" = Option<usize>, Query, description = "Papers to skip"),
    ),
    responses(
        (status = 200, description = "Newest papers first", body = PaperList),
        (status = 400, description = "Bad parameter (invalid_date, invalid_k, invalid_offset, unknown_param)", body = ErrorBody),
    )
)]
pub async fn latest(
    State(state): State<AppState>,
    RawQuery(raw): RawQuery,
) -> Result<Json<PaperList>, ApiError> {
    let started = Instant::now();
    let limits = &state.config.limits;
    let mut k = DEFAULT_LIST_K.min(limits.max_k);
    let mut offset = 0;
    let mut filters = Filters::default();
    for (key, v) in pairs(raw.as_deref())? {
        match key.as_str() {
            "k" => k = count("k", &v, 1, limits.max_k)?,
            "offset" => offset = count("offset", &v, 0, limits.max_offset)?,
            "category" => push_list(&mut filters.categories, &v),
            "source" => push_list(&mut filters.sources, &v),
            "date" => {
                let d = date("date", &v)?;
                filters.from = Some(d);
                filters.to = Some(d);
            }
            other => {
                return Err(unknown(
                    other,
                    &["category", "source", "date", "k", "offset"],
                ))
            }
        }
    }
    let backend = state.backend.clone();
    let page = read_blocking(&state, move || {
        let today = crate::radar::rank::today_utc();
        Ok(backend.latest(&filters, k, offset, today)?)
    })
    .await?;
    Ok(Json(list(page, offset, k, true, started)))
}

/// Liveness and capabilities.
#[utoipa::path(
    get,
    path = "/healthz",
    tag = "ops",
    responses(
        (status = 200, description = "The server is up", body = Health),
        (status = 503, description = "The search backend (Milvus) is unreachable (backend_unavailable)", body = ErrorBody),
    )
)]
pub async fn healthz(State(state): State<AppState>) -> Result<Json<Health>, ApiError> {
    let background = state.background.as_ref().map(|b| b.report());
    let (papers, with_vectors) = match &state.backend {
        Backend::Tantivy(index) => {
            let papers = index.num_papers();
            let with_vectors = match &background {
                Some(r) => r.with_vectors,
                // Counting reads one fast-field column per segment: well under a millisecond
                // per 100K papers, cheap enough for a health check.
                None => crate::index::stats::count_vectors(&index.reader().searcher()).unwrap_or(0),
            };
            (papers, with_vectors)
        }
        // Two counts in Milvus (a network call: off the runtime); Milvus down is a 503.
        Backend::Milvus(_) => {
            let backend = state.backend.clone();
            let c = read_blocking(&state, move || Ok(backend.counts()?)).await?;
            (c.papers, c.with_vectors)
        }
    };
    let with_vectors = with_vectors.min(papers);
    Ok(Json(Health {
        status: "ok".into(),
        version: env!("CARGO_PKG_VERSION").into(),
        backend: state.backend.name().into(),
        papers,
        vectors: state.backend.has_model(),
        embedder: state.embedder.is_some(),
        // A Milvus collection takes writes without a local writer.
        writes: state.token.is_some()
            && (state.writer.is_some() || state.backend.tantivy().is_none()),
        ingest: state.ingest.is_some(),
        with_vectors,
        semantic_coverage: crate::index::stats::coverage(with_vectors, papers),
        background_embedding: background.as_ref().map(Into::into),
    }))
}
