//! The token-protected writes: upserting papers (`POST /api/papers`) and triggering a feed
//! poll (`POST /api/ingest`). Writes run to completion on blocking threads through the
//! server's single writer.

use std::collections::HashMap;
use std::time::Instant;

use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::Json;

use super::dto::{IngestRequest, PaperInput, UpsertResponse};
use super::error::{ApiError, ErrorBody};
use super::extract::{authorize, blocking, read_json};
use super::state::{AppState, SharedWriter};
use crate::index::IndexError;
use crate::ingest::{upsert_papers, upsert_papers_milvus, UpsertError, UpsertReport};
use crate::normalize::collapse_whitespace;
use crate::paper::{parse_date, Paper, PaperId};
use crate::search::Backend;

/// Turns API input into a paper (400 `invalid_body` naming the item and field).
fn to_paper(i: usize, input: PaperInput) -> Result<Paper, ApiError> {
    let bad = |field: &str, why: String| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "invalid_body",
            format!("papers[{i}].{field}: {why}"),
        )
    };
    let id = input.id.trim().to_string();
    if let Some(why) = PaperId::problem(&id) {
        return Err(bad("id", why));
    }
    let title = collapse_whitespace(&input.title);
    let abstract_text = collapse_whitespace(&input.abstract_text);
    if title.is_empty() && abstract_text.is_empty() {
        return Err(bad("title", "a paper needs a title or an abstract".into()));
    }
    let day = |field: &str, v: Option<String>| -> Result<Option<time::Date>, ApiError> {
        match v.as_deref().map(str::trim) {
            None | Some("") => Ok(None),
            Some(s) => parse_date(s).map(Some).ok_or_else(|| {
                bad(
                    field,
                    format!(
                        "{s:?} is not a date in YYYY-MM-DD form between {} and {}",
                        crate::paper::MIN_DATE,
                        crate::paper::MAX_DATE
                    ),
                )
            }),
        }
    };
    let mut p = Paper::new(PaperId::new(id), title, abstract_text);
    p.version = input.version.unwrap_or(1);
    p.authors = input
        .authors
        .iter()
        .map(|a| collapse_whitespace(a))
        .filter(|a| !a.is_empty())
        .collect();
    p.categories = input
        .categories
        .iter()
        .map(|c| c.trim().to_string())
        .filter(|c| !c.is_empty())
        .collect();
    p.source = input
        .source
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "api".into());
    p.published = day("published", input.published)?;
    p.updated = day("updated", input.updated)?.or(p.published);
    let opt = |v: Option<String>| v.map(|s| collapse_whitespace(&s)).filter(|s| !s.is_empty());
    p.url = match opt(input.url) {
        None => None,
        Some(u) => Some(
            crate::normalize::web_url(&u)
                .ok_or_else(|| bad("url", format!("{u:?} is not an http:// or https:// link")))?,
        ),
    };
    p.doi = opt(input.doi);
    p.comment = opt(input.comment);
    p.journal_ref = opt(input.journal_ref);
    Ok(p)
}

/// The papers of a `POST /api/papers` body, validated, the last of each id kept in the place
/// of its first (400 `invalid_body` naming the item and field). Pure.
pub fn papers_from_inputs(inputs: Vec<PaperInput>) -> Result<Vec<Paper>, ApiError> {
    if inputs.is_empty() {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "invalid_body",
            "expected a non-empty JSON array of papers",
        ));
    }
    let mut papers: Vec<Paper> = Vec::with_capacity(inputs.len());
    let mut seen: HashMap<String, usize> = HashMap::new();
    for (i, input) in inputs.into_iter().enumerate() {
        let p = to_paper(i, input)?;
        match seen.get(&p.id.as_str().to_lowercase()) {
            Some(&at) => papers[at] = p,
            None => {
                seen.insert(p.id.as_str().to_lowercase(), papers.len());
                papers.push(p);
            }
        }
    }
    Ok(papers)
}

/// Adds or replaces papers (by id), embedding them when the index has vectors.
#[utoipa::path(
    post,
    path = "/api/papers",
    tag = "write",
    request_body(content = Vec<PaperInput>, description = "JSON array of papers", content_type = "application/json"),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Papers committed and searchable", body = UpsertResponse),
        (status = 400, description = "Malformed JSON (invalid_json) or a bad paper (invalid_body)", body = ErrorBody),
        (status = 401, description = "Missing or wrong bearer token (unauthorized)", body = ErrorBody),
        (status = 403, description = "Writes disabled: no token configured (writes_disabled)", body = ErrorBody),
        (status = 413, description = "Body over the limit (payload_too_large)", body = ErrorBody),
        (status = 415, description = "Not JSON (unsupported_media_type)", body = ErrorBody),
        (status = 503, description = "Nothing stored: the index cannot take writes now (storage_full, write_failed, writer_unavailable) or its writer is held by another process (index_busy); retry later", body = ErrorBody),
    )
)]
pub async fn post_papers(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Body,
) -> Result<Json<UpsertResponse>, ApiError> {
    let started = Instant::now();
    authorize(&state, &headers)?;
    let inputs: Vec<PaperInput> = read_json(&state, &headers, body, false)
        .await?
        .unwrap_or_default();
    let papers = papers_from_inputs(inputs)?;
    let st = state.clone();
    let sources: Vec<String> = papers.iter().map(|p| p.source.clone()).collect();
    let ids: Vec<String> = papers.iter().map(|p| p.id.to_string()).collect();
    let (report, warnings) = match &state.backend {
        Backend::Milvus(store) => {
            let store = store.clone();
            blocking(move || upsert(&st, Target::Milvus(&store), &papers)).await?
        }
        Backend::Tantivy(_) => {
            let Some(writer) = state.writer.clone() else {
                return Err(ApiError::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "index_busy",
                    "the server could not open the index writer (another process holds it); retry later",
                ));
            };
            blocking(move || upsert(&st, Target::Tantivy(&writer), &papers)).await?
        }
    };
    let mut by_source: HashMap<&str, u64> = HashMap::new();
    for s in &sources {
        *by_source.entry(s).or_default() += 1;
    }
    for (s, n) in by_source {
        state.metrics.record_ingest(s, n);
    }
    tracing::info!(
        upserted = report.upserted,
        created = report.created,
        embedded = report.embedded,
        "papers upserted"
    );
    Ok(Json(UpsertResponse {
        upserted: report.upserted,
        created: report.created,
        embedded: report.embedded,
        vectors_kept: report.vectors_kept,
        ids,
        warnings,
        took_ms: started.elapsed().as_secs_f64() * 1000.0,
    }))
}

/// Where an upsert writes.
enum Target<'a> {
    Tantivy(&'a SharedWriter),
    Milvus(&'a crate::index::milvus::MilvusStore),
}

/// The blocking upsert: embeds when the store has vectors and the model is loaded (unless the
/// background worker gives the papers their vectors).
fn upsert(
    state: &AppState,
    target: Target<'_>,
    papers: &[Paper],
) -> Result<(UpsertReport, Vec<String>), ApiError> {
    let mut warnings = Vec::new();
    // Taken before the embedder, as always (one lock order for every writer).
    let mut writer = match target {
        Target::Tantivy(w) => Some(
            w.lock()
                .map_err(|_| ApiError::internal("index writer lock poisoned"))?,
        ),
        Target::Milvus(_) => None,
    };
    // With background embedding the request never waits for the model: the papers that
    // need a vector get it from the worker within seconds, newest first.
    let embed = state.backend.has_model() && state.background.is_none();
    let mut guard = match (&state.embedder, embed) {
        (Some(e), true) => Some(
            e.lock()
                .map_err(|_| ApiError::internal("embedder lock poisoned"))?,
        ),
        (None, true) => {
            warnings.push(format!(
                "papers were stored without vectors (the embedding model is unavailable: {}); run `academichub embed` to add them",
                state.embedder_error.as_deref().unwrap_or("not loaded")
            ));
            None
        }
        _ => None,
    };
    let embedder = guard
        .as_mut()
        .map(|g| &mut ***g as &mut dyn crate::embed::Embedder);
    let report = match (target, writer.as_mut()) {
        (Target::Milvus(store), _) => upsert_papers_milvus(store, papers, embedder),
        (Target::Tantivy(_), Some(w)) => upsert_papers(state.index()?, w, papers, embedder),
        (Target::Tantivy(_), None) => return Err(ApiError::internal("no index writer")),
    }
    .map_err(upsert_error)?;
    Ok((report, warnings))
}

/// A failed upsert as the API answers it.
fn upsert_error(e: UpsertError) -> ApiError {
    match e {
        UpsertError::Index(e) => write_error(e),
        UpsertError::Embed(e) => ApiError::internal(e),
        UpsertError::Refused { .. } => ApiError::new(
            StatusCode::BAD_REQUEST,
            "invalid_body",
            format!("{e}; none of the request's papers were stored"),
        ),
        UpsertError::Milvus(e) => {
            tracing::warn!(error = %e, "write to Milvus failed");
            let code = if e.is_unavailable() {
                "backend_unavailable"
            } else {
                "write_failed"
            };
            ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                code,
                format!(
                    "{e}; papers of the request's earlier batches may be stored: resending the \
                     request is safe (papers are upserted by id)"
                ),
            )
            .retry_after(5)
        }
    }
}

/// A failed write: 503 while the index cannot take writes (`storage_full` when the disk is
/// full, `write_failed` for another I/O failure, `writer_unavailable` when the writer could not
/// be reopened), each saying that nothing of the request was kept; 500 for anything else.
pub(crate) fn write_error(e: IndexError) -> ApiError {
    let code = match &e {
        IndexError::WriteFailed { storage_full, .. } if *storage_full => "storage_full",
        IndexError::WriteFailed { .. } => "write_failed",
        IndexError::WriterUnavailable { .. } => "writer_unavailable",
        e if e.is_storage_full() => "storage_full",
        _ => return ApiError::internal(e),
    };
    tracing::warn!(error = %e, code, "write refused");
    ApiError::new(
        StatusCode::SERVICE_UNAVAILABLE,
        code,
        format!("{e}; none of the request's papers were stored"),
    )
}

/// Triggers a feed poll and answers its report.
#[utoipa::path(
    post,
    path = "/api/ingest",
    tag = "write",
    request_body(content = Option<IngestRequest>, description = "Optional: {\"source\": NAME} to poll one source", content_type = "application/json"),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The poll's report", body = serde_json::Value),
        (status = 401, description = "Missing or wrong bearer token (unauthorized)", body = ErrorBody),
        (status = 403, description = "Writes disabled: no token configured (writes_disabled)", body = ErrorBody),
        (status = 502, description = "The poll failed (ingest_failed)", body = ErrorBody),
        (status = 503, description = "No feed poller in this server (ingest_unavailable)", body = ErrorBody),
    )
)]
pub async fn ingest(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Body,
) -> Result<Json<serde_json::Value>, ApiError> {
    authorize(&state, &headers)?;
    let req: IngestRequest = read_json(&state, &headers, body, true)
        .await?
        .unwrap_or_default();
    let Some(trigger) = state.ingest.clone() else {
        return Err(ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "ingest_unavailable",
            "this server has no feed poller wired in; add papers with POST /api/papers",
        ));
    };
    let source = req
        .source
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty());
    match trigger.trigger(source).await {
        Ok(report) => {
            // A Milvus collection serves the papers as they land; the index reloads.
            if let Some(index) = state.backend.tantivy().cloned() {
                blocking(move || index.reload_if_changed().map_err(ApiError::internal)).await?;
            }
            Ok(Json(report))
        }
        Err(failure) if failure.storage_full => {
            tracing::warn!(error = %failure.message, "ingest failed: storage full");
            Err(ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "storage_full",
                format!(
                    "{}; nothing after the last commit was kept, retry once space is freed",
                    failure.message
                ),
            )
            .retry_after(30))
        }
        Err(failure) => {
            tracing::warn!(error = %failure.message, "ingest failed");
            Err(ApiError::new(
                StatusCode::BAD_GATEWAY,
                "ingest_failed",
                failure.message,
            ))
        }
    }
}
