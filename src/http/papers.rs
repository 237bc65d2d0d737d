//! Paper endpoints: one paper, similar papers, the latest papers (the daily list), upserting
//! papers and triggering an ingest (both behind the bearer token).

use std::collections::HashMap;
use std::time::Instant;

use axum::body::Body;
use axum::extract::{Path, RawQuery, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::Json;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::browse::{self, SimilarError};
use crate::normalize::collapse_whitespace;
use crate::paper::{format_date, parse_date, Paper, PaperId};
use crate::query::Filters;
use crate::upsert::{upsert_papers, UpsertError, UpsertReport};

use super::error::{ApiError, ErrorBody};
use super::search::{count, date, pairs, paper_hit, push_list, unknown, PaperHit};
use super::state::AppState;

/// Default number of papers for `latest` (a day's list) and `similar`.
pub const DEFAULT_LIST_K: usize = 20;

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
    pub papers: u64,
    /// The index holds dense vectors.
    pub vectors: bool,
    /// The query embedding model is loaded (dense and hybrid search work).
    pub embedder: bool,
    /// The write endpoints are enabled (a token is configured).
    pub writes: bool,
    /// `POST /api/ingest` is wired to a feed poller.
    pub ingest: bool,
}

fn to_detail(p: Paper, has_vector: bool) -> PaperDetail {
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
        url: p.url,
        doi: p.doi,
        comment: p.comment,
        journal_ref: p.journal_ref,
        has_vector,
    }
}

pub(crate) async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, ApiError> + Send + 'static,
) -> Result<T, ApiError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(ApiError::internal)?
}

/// [`blocking`] for an index read (a search, a paper, a list): runs on the read threads
/// ([`super::pool`]), at most `[server] search_threads` at once, the others waiting their turn.
pub(crate) async fn read_blocking<T: Send + 'static>(
    state: &AppState,
    f: impl FnOnce() -> Result<T, ApiError> + Send + 'static,
) -> Result<T, ApiError> {
    state.reads.run(f).await
}

/// One paper by id.
#[utoipa::path(
    get,
    path = "/api/papers/{id}",
    tag = "papers",
    params(("id" = String, Path, description = "Paper id (percent-encode a `/`, as in `hep-th%2F9901001`)")),
    responses(
        (status = 200, description = "The paper", body = PaperDetail),
        (status = 404, description = "Unknown id (paper_not_found)", body = ErrorBody),
    )
)]
pub async fn get_paper(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<PaperDetail>, ApiError> {
    let index = state.index.clone();
    let found = read_blocking(&state, move || Ok(browse::paper(&index, &id)?.ok_or(id))).await?;
    match found {
        Ok((p, v)) => Ok(Json(to_detail(p, v))),
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
    let index = state.index.clone();
    let page = read_blocking(&state, move || {
        browse::similar(&index, &id, &filters, k).map_err(|e| match e {
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

fn list(
    page: browse::PaperPage,
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
    let index = state.index.clone();
    let page = read_blocking(&state, move || {
        Ok(browse::latest(&index, &filters, k, offset)?)
    })
    .await?;
    Ok(Json(list(page, offset, k, true, started)))
}

/// Checks the bearer token of a write request: 403 when writes are disabled, 401 when the
/// token is missing or wrong.
pub(crate) fn authorize(state: &AppState, headers: &HeaderMap) -> Result<(), ApiError> {
    let Some(expected) = &state.token else {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "writes_disabled",
            "write endpoints are disabled: set `token` in the [server] section of academichub.toml \
             (or the ACADEMICHUB_TOKEN environment variable) and restart the server",
        ));
    };
    let given = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            v.strip_prefix("Bearer ")
                .or_else(|| v.strip_prefix("bearer "))
        })
        .map(str::trim);
    match given {
        Some(t) if constant_time_eq(t.as_bytes(), expected.as_bytes()) => Ok(()),
        Some(_) => Err(ApiError::new(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "wrong bearer token",
        )),
        None => Err(ApiError::new(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "this endpoint needs an `Authorization: Bearer <token>` header",
        )),
    }
}

/// Compares without an early exit, so timing does not reveal how much of a guess was right.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Reads a JSON body within the size limit: 413 `payload_too_large`, 415 for another content
/// type, 400 `invalid_json` with the position of a syntax error.
pub(crate) async fn read_json<T: serde::de::DeserializeOwned>(
    state: &AppState,
    headers: &HeaderMap,
    body: Body,
    allow_empty: bool,
) -> Result<Option<T>, ApiError> {
    if let Some(ct) = headers.get(header::CONTENT_TYPE) {
        let ct = ct.to_str().unwrap_or("");
        if !ct
            .trim_start()
            .to_ascii_lowercase()
            .starts_with("application/json")
        {
            return Err(ApiError::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported_media_type",
                format!("the body must be JSON (Content-Type: application/json), got {ct:?}"),
            ));
        }
    }
    let limit = state.config.limits.max_body_bytes;
    let bytes = axum::body::to_bytes(body, limit).await.map_err(|_| {
        ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "payload_too_large",
            format!("the body is larger than the limit of {limit} bytes ([server.limits] max_body_bytes)"),
        )
    })?;
    if bytes.iter().all(u8::is_ascii_whitespace) {
        if allow_empty {
            return Ok(None);
        }
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "invalid_json",
            "the body is empty",
        ));
    }
    serde_json::from_slice(&bytes).map(Some).map_err(|e| {
        let code = if e.is_data() {
            "invalid_body"
        } else {
            "invalid_json"
        };
        ApiError::new(StatusCode::BAD_REQUEST, code, format!("request body: {e}"))
    })
}

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
    if id.is_empty() {
        return Err(bad("id", "must not be empty".into()));
    }
    let title = collapse_whitespace(&input.title);
    let abstract_text = collapse_whitespace(&input.abstract_text);
    if title.is_empty() && abstract_text.is_empty() {
        return Err(bad("title", "a paper needs a title or an abstract".into()));
    }
    let day = |field: &str, v: Option<String>| -> Result<Option<time::Date>, ApiError> {
        match v.as_deref().map(str::trim) {
            None | Some("") => Ok(None),
            Some(s) => parse_date(s)
                .map(Some)
                .ok_or_else(|| bad(field, format!("{s:?} is not a date in YYYY-MM-DD form"))),
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
    p.url = opt(input.url);
    p.doi = opt(input.doi);
    p.comment = opt(input.comment);
    p.journal_ref = opt(input.journal_ref);
    Ok(p)
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
    let Some(writer) = state.writer.clone() else {
        return Err(ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "index_busy",
            "the server could not open the index writer (another process holds it); retry later",
        ));
    };
    let st = state.clone();
    let sources: Vec<String> = papers.iter().map(|p| p.source.clone()).collect();
    let ids: Vec<String> = papers.iter().map(|p| p.id.to_string()).collect();
    let (report, warnings) = blocking(move || upsert(&st, &writer, &papers)).await?;
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

/// The blocking upsert: embeds when the index has vectors and the model is loaded.
fn upsert(
    state: &AppState,
    writer: &super::state::SharedWriter,
    papers: &[Paper],
) -> Result<(UpsertReport, Vec<String>), ApiError> {
    let mut warnings = Vec::new();
    let mut w = writer
        .lock()
        .map_err(|_| ApiError::internal("index writer lock poisoned"))?;
    let embed = state.index.embedding_model().is_some();
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
    let report = upsert_papers(&state.index, &mut w, papers, embedder).map_err(|e| match e {
        UpsertError::Index(e) => ApiError::internal(e),
        UpsertError::Embed(e) => ApiError::internal(e),
    })?;
    Ok((report, warnings))
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
            let index = state.index.clone();
            blocking(move || browse::reload_if_changed(&index).map_err(ApiError::internal)).await?;
            Ok(Json(report))
        }
        Err(msg) => {
            tracing::warn!(error = %msg, "ingest failed");
            Err(ApiError::new(StatusCode::BAD_GATEWAY, "ingest_failed", msg))
        }
    }
}

/// Liveness and capabilities.
#[utoipa::path(
    get,
    path = "/healthz",
    tag = "ops",
    responses((status = 200, description = "The server is up", body = Health))
)]
pub async fn healthz(State(state): State<AppState>) -> Json<Health> {
    Json(Health {
        status: "ok".into(),
        version: env!("CARGO_PKG_VERSION").into(),
        papers: state.index.num_papers(),
        vectors: state.index.embedding_model().is_some(),
        embedder: state.embedder.is_some(),
        writes: state.token.is_some() && state.writer.is_some(),
        ingest: state.ingest.is_some(),
    })
}
