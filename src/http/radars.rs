//! Radar and briefing endpoints: CRUD of saved radars (writes behind the bearer token), a
//! radar's ranked papers with the reason each matched, and briefings (JSON or Markdown, with
//! the optional LLM narrative). Everything is delegated to [`crate::radar`] and
//! [`crate::briefing`] on blocking threads; only the narrative's network call is awaited here.

use std::time::Instant;

use axum::body::Body;
use axum::extract::{Path, RawQuery, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;

use super::dto::{Deleted, RadarBody, RadarList, RadarPapersResponse, RadarSpecBody, UnreadInfo};
use super::error::{ApiError, ErrorBody};
use super::extract::{
    authorize, count, date, heavy_blocking, pairs, push_list, read_json, unknown, with_papers,
};
use super::state::AppState;
use crate::briefing::{self, BriefingFormat, BriefingRequest, Lang, DEFAULT_BRIEFING_K};
use crate::radar::{
    self, ErrorKind, RadarError, RadarSpec, RankRequest, DEFAULT_RADAR_K, MAX_RADAR_K,
};
use crate::search::QueryError;

impl From<RadarError> for ApiError {
    fn from(e: RadarError) -> Self {
        // The store's own failures (Milvus down: 503 `backend_unavailable`) as a search's.
        if let RadarError::Query(q @ (QueryError::Milvus(_) | QueryError::Index(_))) = e {
            return q.into();
        }
        match (&e, e.kind()) {
            (RadarError::NotFound { id }, _) => ApiError::new(
                StatusCode::NOT_FOUND,
                "radar_not_found",
                format!("no radar with id {id:?} (GET /api/radars lists them)"),
            ),
            (RadarError::InvalidParam { name, .. }, _) => ApiError::param(name, e.to_string()),
            (RadarError::UnknownPaper { .. }, _) => {
                ApiError::new(StatusCode::BAD_REQUEST, "unknown_paper", e.to_string())
            }
            (_, ErrorKind::InvalidInput) => {
                ApiError::new(StatusCode::BAD_REQUEST, e.code(), e.to_string())
            }
            _ => ApiError::internal(e),
        }
    }
}

async fn spec_body(
    state: &AppState,
    headers: &HeaderMap,
    body: Body,
) -> Result<RadarSpec, ApiError> {
    read_json::<RadarSpecBody>(state, headers, body, false)
        .await?
        .map(RadarSpec::from)
        .ok_or_else(|| ApiError::new(StatusCode::BAD_REQUEST, "invalid_json", "the body is empty"))
}

/// Every saved radar.
#[utoipa::path(
    get,
    path = "/api/radars",
    tag = "radars",
    responses(
        (status = 200, description = "Saved radars, in creation order", body = RadarList),
        (status = 500, description = "The radar store cannot be read (internal)", body = ErrorBody),
    )
)]
pub async fn list(State(state): State<AppState>) -> Result<Json<RadarList>, ApiError> {
    let radars = with_papers(&state, move |papers| Ok(radar::list_radars(papers)?)).await?;
    Ok(Json(RadarList {
        total: radars.len(),
        radars: radars.into_iter().map(RadarBody::from).collect(),
    }))
}

/// Saves a new radar; its id is a slug of the name.
#[utoipa::path(
    post,
    path = "/api/radars",
    tag = "radars",
    request_body(content = RadarSpecBody, description = "Name, queries (any language), filters, example papers", content_type = "application/json"),
    security(("bearer" = [])),
    responses(
        (status = 201, description = "The saved radar, with its id", body = RadarBody),
        (status = 400, description = "Malformed JSON (invalid_json), a bad field (invalid_name, invalid_queries, ...), an example paper not in the index (unknown_paper)", body = ErrorBody),
        (status = 401, description = "Missing or wrong bearer token (unauthorized)", body = ErrorBody),
        (status = 403, description = "Writes disabled: no token configured (writes_disabled)", body = ErrorBody),
    )
)]
pub async fn create(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Body,
) -> Result<(StatusCode, Json<RadarBody>), ApiError> {
    authorize(&state, &headers)?;
    let spec = spec_body(&state, &headers, body).await?;
    let radar = with_papers(&state, move |papers| {
        Ok(radar::create_radar(papers, &spec)?)
    })
    .await?;
    tracing::info!(radar = %radar.id, "radar created");
    Ok((StatusCode::CREATED, Json(radar.into())))
}

/// One radar.
#[utoipa::path(
    get,
    path = "/api/radars/{id}",
    tag = "radars",
    params(("id" = String, Path, description = "Radar id")),
    responses(
        (status = 200, description = "The radar", body = RadarBody),
        (status = 404, description = "Unknown id (radar_not_found)", body = ErrorBody),
    )
)]
pub async fn get_one(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<RadarBody>, ApiError> {
    let radar = with_papers(&state, move |papers| Ok(radar::get_radar(papers, &id)?)).await?;
    Ok(Json(radar.into()))
}

/// Replaces a radar's definition (its id and creation time stay).
#[utoipa::path(
    put,
    path = "/api/radars/{id}",
    tag = "radars",
    params(("id" = String, Path, description = "Radar id")),
    request_body(content = RadarSpecBody, content_type = "application/json"),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The updated radar", body = RadarBody),
        (status = 400, description = "Malformed JSON or a bad field", body = ErrorBody),
        (status = 401, description = "Missing or wrong bearer token (unauthorized)", body = ErrorBody),
        (status = 403, description = "Writes disabled (writes_disabled)", body = ErrorBody),
        (status = 404, description = "Unknown id (radar_not_found)", body = ErrorBody),
    )
)]
pub async fn update(
    State(state): State<AppState>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> Result<Json<RadarBody>, ApiError> {
    authorize(&state, &headers)?;
    let spec = spec_body(&state, &headers, body).await?;
    let radar = with_papers(&state, move |papers| {
        Ok(radar::update_radar(papers, &id, &spec)?)
    })
    .await?;
    tracing::info!(radar = %radar.id, "radar updated");
    Ok(Json(radar.into()))
}

/// Deletes a radar.
#[utoipa::path(
    delete,
    path = "/api/radars/{id}",
    tag = "radars",
    params(("id" = String, Path, description = "Radar id")),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The deleted radar", body = Deleted),
        (status = 401, description = "Missing or wrong bearer token (unauthorized)", body = ErrorBody),
        (status = 403, description = "Writes disabled (writes_disabled)", body = ErrorBody),
        (status = 404, description = "Unknown id (radar_not_found)", body = ErrorBody),
    )
)]
pub async fn delete(
    State(state): State<AppState>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Result<Json<Deleted>, ApiError> {
    authorize(&state, &headers)?;
    let deleted = with_papers(&state, move |papers| {
        Ok(crate::delivery::delete_radar(papers, &id)?)
    })
    .await?;
    tracing::info!(radar = %deleted.id, "radar deleted");
    Ok(Json(Deleted {
        deleted: deleted.into(),
    }))
}

/// The radar's papers: hybrid relevance to its queries, moved up by closeness to its positive
/// examples and down by closeness to its negative ones, each with the reason it matched.
#[utoipa::path(
    get,
    path = "/api/radars/{id}/papers",
    tag = "radars",
    params(
        ("id" = String, Path, description = "Radar id"),
        ("since" = Option<String>, Query, description = "Only papers published on or after this date (YYYY-MM-DD, not in the future)"),
        ("until" = Option<String>, Query, description = "Only papers published on or before this date (YYYY-MM-DD)"),
        ("k" = Option<usize>, Query, description = "Number of papers (1..=1000, default 20)"),
        ("format" = Option<String>, Query, description = "json (default), or bibtex / ris: the papers as a BibTeX or RIS download"),
        ("unread" = Option<bool>, Query, description = "true: leave out papers already delivered to the radar's reader (marked read, sent in a digest); revisions of them stay, listed in `unread.updated`"),
    ),
    responses(
        (status = 200, description = "`{radar, since, until, k, mode, candidates, notes, papers: [{rank, score, id, title, abstract, authors, categories, ..., reason: {query, queries_matched, positive, negative, text}}], took_ms}`", body = serde_json::Value),
        (status = 400, description = "Bad parameter (invalid_since, invalid_until, invalid_k, unknown_param)", body = ErrorBody),
        (status = 404, description = "Unknown id (radar_not_found)", body = ErrorBody),
    )
)]
pub async fn papers(
    State(state): State<AppState>,
    Path(id): Path<String>,
    RawQuery(raw): RawQuery,
) -> Result<Response, ApiError> {
    let started = Instant::now();
    let mut req = RankRequest {
        k: DEFAULT_RADAR_K,
        ..RankRequest::default()
    };
    let mut export = None;
    let mut only_unread = false;
    for (key, v) in pairs(raw.as_deref())? {
        match key.as_str() {
            "since" => req.since = Some(date("since", &v)?),
            "until" => req.until = Some(date("until", &v)?),
            "k" => req.k = count("k", &v, 1, MAX_RADAR_K)?,
            "format" => export = super::export::format_param(&v)?,
            "unread" => only_unread = super::delivery::bool_param("unread", &v)?,
            other => return Err(unknown(other, &["since", "until", "k", "format", "unread"])),
        }
    }
    req.validate(radar::rank::today_utc())?;
    let st = state.clone();
    let (result, unread) = heavy_blocking(&state, move || {
        st.with_query_embedder(|mut e| {
            if only_unread {
                let (r, left_out, updated) =
                    crate::delivery::unread_papers(st.papers(), &id, &req, e.embedder())?;
                let info = UnreadInfo {
                    delivered_left_out: left_out,
                    updated: updated.iter().map(|i| i.to_string()).collect(),
                };
                Ok((r, Some(info)))
            } else {
                Ok((
                    radar::radar_papers(st.papers(), &id, &req, e.embedder())?,
                    None,
                ))
            }
        })
    })
    .await?;
    if let Some(format) = export {
        let papers: Vec<_> = result.papers.iter().map(|h| h.paper.clone()).collect();
        let stem = format!("radar-{}", result.radar.id);
        return Ok(super::export::export_response(&papers, format, &stem));
    }
    Ok(Json(RadarPapersResponse {
        result,
        unread,
        took_ms: started.elapsed().as_secs_f64() * 1000.0,
    })
    .into_response())
}

/// A briefing over one or more radars (or every paper of the date range without any): top
/// papers per radar, themes, cross-domain links, every statement citing paper ids; plus the
/// LLM narrative when one is configured.
#[utoipa::path(
    get,
    path = "/api/briefings",
    tag = "radars",
    params(
        ("radar" = Option<Vec<String>>, Query, description = "Radar id; repeat for several (at most 10). Without any: every paper of the date range, newest first"),
        ("since" = Option<String>, Query, description = "Only papers published on or after this date (YYYY-MM-DD, not in the future)"),
        ("until" = Option<String>, Query, description = "Only papers published on or before this date (YYYY-MM-DD)"),
        ("lang" = Option<String>, Query, description = "zh (default) or en: section labels and the narrative's language"),
        ("format" = Option<String>, Query, description = "json (default) or md (text/markdown)"),
        ("k" = Option<usize>, Query, description = "Papers per radar (1..=1000, default 10; without radars: papers of the range, newest first)"),
        ("llm" = Option<bool>, Query, description = "false skips the LLM narrative even when one is configured (default true)"),
    ),
    responses(
        (status = 200, description = "The briefing: `{lang, since, until, radars, papers, clustering, themes, links, empty, notes, narrative}` as JSON, or Markdown with format=md", body = serde_json::Value),
        (status = 400, description = "Bad parameter (invalid_since, invalid_lang, invalid_format, invalid_k, invalid_radar, unknown_param)", body = ErrorBody),
        (status = 404, description = "Unknown radar id (radar_not_found)", body = ErrorBody),
    )
)]
pub async fn briefing(
    State(state): State<AppState>,
    RawQuery(raw): RawQuery,
) -> Result<Response, ApiError> {
    let mut req = BriefingRequest {
        k: DEFAULT_BRIEFING_K,
        ..BriefingRequest::default()
    };
    let mut format = BriefingFormat::Json;
    let mut use_llm = true;
    for (key, v) in pairs(raw.as_deref())? {
        match key.as_str() {
            "radar" => push_list(&mut req.radars, &v),
            "since" => req.since = Some(date("since", &v)?),
            "until" => req.until = Some(date("until", &v)?),
            "lang" => req.lang = v.parse::<Lang>().map_err(|e| ApiError::param("lang", e))?,
            "format" => {
                format = v
                    .parse::<BriefingFormat>()
                    .map_err(|e| ApiError::param("format", e))?
            }
            "k" => req.k = count("k", &v, 1, MAX_RADAR_K)?,
            "llm" => {
                use_llm = match v.trim().to_ascii_lowercase().as_str() {
                    "true" | "1" | "yes" => true,
                    "false" | "0" | "no" => false,
                    _ => {
                        return Err(ApiError::param(
                            "llm",
                            format!("llm must be true or false, got {v:?}"),
                        ))
                    }
                }
            }
            other => {
                return Err(unknown(
                    other,
                    &["radar", "since", "until", "lang", "format", "k", "llm"],
                ))
            }
        }
    }
    let st = state.clone();
    // A heavy read: at most `search_threads` briefings are built at once (each reads up to
    // thousands of papers), a bounded number wait, and one that waited past the request
    // timeout is answered 503 `timeout` and never built.
    let limit = std::time::Duration::from_millis(state.config.limits.request_timeout_ms);
    let built = tokio::time::timeout(
        limit,
        heavy_blocking(&state, move || {
            // Radars need query embeddings; the all-papers briefing needs none.
            if req.radars.is_empty() {
                Ok(briefing::build_briefing(st.papers(), &req, None)?)
            } else {
                st.with_query_embedder(|mut e| {
                    Ok(briefing::build_briefing(st.papers(), &req, e.embedder())?)
                })
            }
        }),
    )
    .await;
    let mut b = match built {
        Ok(b) => b?,
        Err(_) => {
            return Err(ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "timeout",
                format!(
                "the briefing was not built within {} ms; retry later or ask for fewer papers (k)",
                limit.as_millis()
            ),
            )
            .retry_after(1))
        }
    };
    if let (Some((client, budget)), true, None) = (&state.llm, use_llm, &b.empty) {
        let narrated =
            tokio::time::timeout(*budget, briefing::llm::add_narrative(client, &mut b)).await;
        if narrated.is_err() {
            b.notes.push(format!(
                "no LLM narrative (the model did not finish within {} s); the briefing is extractive",
                budget.as_secs_f64()
            ));
        }
    }
    Ok(match format {
        BriefingFormat::Json => Json(b).into_response(),
        BriefingFormat::Md => (
            [(header::CONTENT_TYPE, "text/markdown; charset=utf-8")],
            briefing::render::to_markdown(&b),
        )
            .into_response(),
    })
}
