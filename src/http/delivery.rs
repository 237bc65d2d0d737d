//! Delivery endpoints: a radar's Atom feed (`GET /api/radars/{id}/feed.atom`, anonymous like
//! every read, with conditional GET) and "mark as read" (`POST /api/radars/{id}/read`, behind
//! the bearer token like every write). The work is [`crate::delivery`]'s, on blocking threads.

use axum::body::Body;
use axum::extract::{Path, RawQuery, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::error::{ApiError, ErrorBody};
use super::extract::{authorize, count, heavy_blocking, pairs, read_json, unknown, with_papers};
use super::state::AppState;
use crate::delivery::feed::{self as atom_feed, FeedLinks, MAX_FEED_DAYS, MAX_FEED_K};
use crate::delivery::{self, DeliveryError, FeedRequest};
use crate::paper::PaperId;
use crate::radar::ErrorKind;

impl From<DeliveryError> for ApiError {
    fn from(e: DeliveryError) -> Self {
        match e {
            DeliveryError::Radar(r) => r.into(),
            DeliveryError::Log(_) | DeliveryError::Mail(_) => {
                debug_assert_eq!(e.kind(), ErrorKind::Internal);
                ApiError::internal(e)
            }
        }
    }
}

/// A boolean parameter: `true`/`1`/`yes` or `false`/`0`/`no`.
pub(crate) fn bool_param(name: &str, v: &str) -> Result<bool, ApiError> {
    match v.trim().to_ascii_lowercase().as_str() {
        "true" | "1" | "yes" => Ok(true),
        "false" | "0" | "no" => Ok(false),
        _ => Err(ApiError::param(
            name,
            format!("{name} must be true or false, got {v:?}"),
        )),
    }
}

/// `scheme://host` of this request, for the feed's absolute links (the `Host` header has
/// passed the allowed-hosts check; `X-Forwarded-Proto: https` from a proxy is honoured).
fn base_url(headers: &HeaderMap) -> String {
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .filter(|h| !h.is_empty() && h.chars().all(|c| c.is_ascii_graphic()))
        .unwrap_or("localhost");
    let https = headers
        .get("x-forwarded-proto")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.trim().eq_ignore_ascii_case("https"));
    format!("{}://{host}", if https { "https" } else { "http" })
}

/// Whether `If-None-Match` lists `etag` (or `*`).
fn none_match(headers: &HeaderMap, etag: &str) -> Option<bool> {
    let v = headers.get(header::IF_NONE_MATCH)?.to_str().ok()?;
    Some(
        v.split(',')
            .map(str::trim)
            .any(|t| t == "*" || t == etag || t.strip_prefix("W/") == Some(etag)),
    )
}

/// An HTTP date (`Last-Modified`) of an Atom time.
fn http_date(t: &atom_syndication::FixedDateTime) -> String {
    let secs = t.timestamp().max(0) as u64;
    httpdate::fmt_http_date(std::time::UNIX_EPOCH + std::time::Duration::from_secs(secs))
}

/// A radar's newest matches as an Atom 1.0 feed, for feed readers (no token needed).
#[utoipa::path(
    get,
    path = "/api/radars/{id}/feed.atom",
    tag = "radars",
    params(
        ("id" = String, Path, description = "Radar id"),
        ("k" = Option<usize>, Query, description = "Entries (1..=200, default 50)"),
        ("days" = Option<u32>, Query, description = "Days of papers, back from the newest paper the radar's filters admit (1..=366, default 7)"),
        ("all" = Option<bool>, Query, description = "true: papers already delivered (digest, mark as read) too"),
    ),
    responses(
        (status = 200, description = "application/atom+xml; ETag and Last-Modified set", content_type = "application/atom+xml"),
        (status = 304, description = "Not modified (If-None-Match / If-Modified-Since)"),
        (status = 400, description = "Bad parameter (invalid_k, invalid_days, invalid_all, unknown_param)", body = ErrorBody),
        (status = 404, description = "Unknown radar (radar_not_found)", body = ErrorBody),
    )
)]
pub async fn feed(
    State(state): State<AppState>,
    Path(id): Path<String>,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
) -> Result<Response, ApiError> {
    let mut req = FeedRequest::default();
    for (key, v) in pairs(raw.as_deref())? {
        match key.as_str() {
            "k" => req.k = count("k", &v, 1, MAX_FEED_K)?,
            "days" => req.days = count("days", &v, 1, MAX_FEED_DAYS as usize)? as u32,
            "all" => {
                req.all = match v.trim() {
                    "true" | "1" | "yes" => true,
                    "false" | "0" | "no" => false,
                    _ => {
                        return Err(ApiError::param(
                            "all",
                            format!("all must be true or false, got {v:?}"),
                        ))
                    }
                }
            }
            other => return Err(unknown(other, &["k", "days", "all"])),
        }
    }
    let base = base_url(&headers);
    let self_url = format!(
        "{base}{}",
        match &raw {
            Some(q) if !q.is_empty() => format!(
                "/api/radars/{}/feed.atom?{q}",
                atom_feed::percent_encode(&id)
            ),
            _ => format!("/api/radars/{}/feed.atom", atom_feed::percent_encode(&id)),
        }
    );
    let st = state.clone();
    let if_none = headers.clone();
    let outcome = heavy_blocking(&state, move || {
        let today = crate::radar::rank::today_utc();
        let (radar, marks, etag) = delivery::feed_state(st.papers(), &id, &req, today)?;
        if none_match(&if_none, &etag) == Some(true) {
            return Ok(Err(etag));
        }
        let feed = st
            .with_query_embedder(|mut e| {
                atom_feed::select(st.papers(), &radar, &marks, &req, today, e.embedder())
            })
            .map_err(DeliveryError::from)?;
        let modified = http_date(&atom_feed::last_modified(&feed, &marks));
        let xml = atom_feed::atom(&feed, &FeedLinks { base, self_url });
        Ok(Ok((xml, etag, modified)))
    })
    .await?;
    let (xml, etag, modified) = match outcome {
        Err(etag) => return Ok(not_modified(&etag, None)),
        Ok(x) => x,
    };
    // If-Modified-Since counts only without If-None-Match (RFC 9110 §13.1.3).
    if headers.get(header::IF_NONE_MATCH).is_none() {
        let since = headers
            .get(header::IF_MODIFIED_SINCE)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| httpdate::parse_http_date(v).ok());
        let last = httpdate::parse_http_date(&modified).ok();
        if let (Some(since), Some(last)) = (since, last) {
            if last <= since {
                return Ok(not_modified(&etag, Some(&modified)));
            }
        }
    }
    let mut resp = xml.into_response();
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/atom+xml; charset=utf-8"),
    );
    set(h, header::ETAG, &etag);
    set(h, header::LAST_MODIFIED, &modified);
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    Ok(resp)
}

fn set(h: &mut HeaderMap, name: header::HeaderName, v: &str) {
    if let Ok(v) = HeaderValue::from_str(v) {
        h.insert(name, v);
    }
}

fn not_modified(etag: &str, modified: Option<&str>) -> Response {
    let mut resp = StatusCode::NOT_MODIFIED.into_response();
    set(resp.headers_mut(), header::ETAG, etag);
    if let Some(m) = modified {
        set(resp.headers_mut(), header::LAST_MODIFIED, m);
    }
    resp
}

/// `POST /api/radars/{id}/read` body.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReadBody {
    /// Papers the reader has seen (at most 1,000 per call).
    pub ids: Vec<String>,
}

/// `POST /api/radars/{id}/read` response.
#[derive(Debug, Serialize, ToSchema)]
pub struct ReadResponse {
    pub radar: String,
    /// Marks that were new (or raised to a later version).
    pub marked: usize,
}

/// Most ids of one "mark as read".
pub const MAX_READ_IDS: usize = 1000;

/// Marks papers as read by the radar's reader: its feed and digests leave them out from now
/// on (a later version comes back as updated).
#[utoipa::path(
    post,
    path = "/api/radars/{id}/read",
    tag = "write",
    params(("id" = String, Path, description = "Radar id")),
    request_body = ReadBody,
    responses(
        (status = 200, description = "Marked", body = ReadResponse),
        (status = 400, description = "Bad body (invalid_json, invalid_body, invalid_ids, unknown_paper)", body = ErrorBody),
        (status = 401, description = "Missing or wrong token (unauthorized)", body = ErrorBody),
        (status = 404, description = "Unknown radar (radar_not_found)", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
pub async fn read(
    State(state): State<AppState>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> Result<Json<ReadResponse>, ApiError> {
    authorize(&state, &headers)?;
    let body: ReadBody = read_json(&state, &headers, body, false)
        .await?
        .ok_or_else(|| {
            ApiError::new(StatusCode::BAD_REQUEST, "invalid_json", "the body is empty")
        })?;
    if body.ids.is_empty() || body.ids.len() > MAX_READ_IDS {
        return Err(ApiError::param(
            "ids",
            format!(
                "ids must list 1 to {MAX_READ_IDS} papers, got {}",
                body.ids.len()
            ),
        ));
    }
    if let Some((i, why)) = body
        .ids
        .iter()
        .enumerate()
        .find_map(|(i, id)| PaperId::problem(id).map(|why| (i, why)))
    {
        return Err(ApiError::param("ids", format!("ids[{i}]: {why}")));
    }
    let ids: Vec<PaperId> = body.ids.iter().map(|s| PaperId::new(s.trim())).collect();
    let radar = id.clone();
    let marked = with_papers(&state, move |papers| {
        Ok(delivery::mark_read(papers, &radar, &ids)?)
    })
    .await?;
    tracing::info!(radar = %id, marked, "papers marked as read");
    Ok(Json(ReadResponse { radar: id, marked }))
}

/// The email digest of radars as the HTML the email carries (a preview: nothing is sent or
/// marked).
#[utoipa::path(
    get,
    path = "/api/digest",
    tag = "radars",
    params(
        ("radar" = Vec<String>, Query, description = "Radar id (repeatable, 1..=20)"),
        ("since" = Option<String>, Query, description = "First publication date covered (YYYY-MM-DD); default: the last `days` days"),
        ("days" = Option<u32>, Query, description = "Days of papers when `since` is not given (1..=366, default 7)"),
        ("k" = Option<usize>, Query, description = "Papers per radar (1..=100, default 10)"),
        ("lang" = Option<String>, Query, description = "zh (default) or en"),
    ),
    responses(
        (status = 200, description = "text/html: the digest's email body", content_type = "text/html"),
        (status = 400, description = "Bad parameter (invalid_radar, invalid_k, invalid_days, invalid_lang, invalid_since)", body = ErrorBody),
        (status = 404, description = "Unknown radar (radar_not_found)", body = ErrorBody),
    )
)]
pub async fn digest_preview(
    State(state): State<AppState>,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
) -> Result<Response, ApiError> {
    let mut req = delivery::digest::DigestRequest::default();
    for (key, v) in pairs(raw.as_deref())? {
        match key.as_str() {
            "radar" => req.radars.push(v.trim().to_string()),
            "since" => req.since = Some(super::extract::date("since", &v)?),
            "days" => req.days = count("days", &v, 1, MAX_FEED_DAYS as usize)? as u32,
            "k" => req.k = count("k", &v, 1, 100)?,
            "lang" => req.lang = v.parse().map_err(|e: String| ApiError::param("lang", e))?,
            other => return Err(unknown(other, &["radar", "since", "days", "k", "lang"])),
        }
    }
    let base = base_url(&headers);
    let st = state.clone();
    let html = heavy_blocking(&state, move || {
        let today = crate::radar::rank::today_utc();
        let d = delivery::digest::build_with(
            st.papers(),
            &req,
            today,
            |rank| st.with_query_embedder(|mut e| rank(e.embedder())),
            false,
        )?;
        Ok(delivery::digest::render_html(&d, &base))
    })
    .await?;
    let mut resp = html.into_response();
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    // Inline styles only, no script: the page of an email.
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static("default-src 'none'; style-src 'unsafe-inline'; img-src data:"),
    );
    Ok(resp)
}
