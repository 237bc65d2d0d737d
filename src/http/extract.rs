//! Request plumbing shared by every endpoint: query-string pairs and typed parameters (with
//! the `invalid_<param>` errors), the bearer-token check, JSON bodies within the size limit,
//! and running blocking work off the async runtime (index reads on the read threads).

use axum::body::Body;
use axum::http::{header, HeaderMap, StatusCode};

use super::error::ApiError;
use super::state::AppState;
use crate::paper::parse_date_unbounded;

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
    parse_date_unbounded(v)
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

/// Runs blocking work (a write, an embedding, a file lock) on tokio's blocking pool.
pub(crate) async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, ApiError> + Send + 'static,
) -> Result<T, ApiError> {
    crate::index::blocking::run_blocking(f).await
}

/// [`blocking`] work on the backend's paper store ([`AppState::papers`]): radars, read marks.
pub(crate) async fn with_papers<T: Send + 'static>(
    state: &AppState,
    f: impl FnOnce(&dyn crate::radar::source::PaperSource) -> Result<T, ApiError> + Send + 'static,
) -> Result<T, ApiError> {
    let st = state.clone();
    blocking(move || f(st.papers())).await
}

/// [`blocking`] for a quick index read (one paper, the latest list): runs on the read threads
/// ([`super::pool`]) ahead of heavy reads, with a thread of its own.
pub(crate) async fn read_blocking<T: Send + 'static>(
    state: &AppState,
    f: impl FnOnce() -> Result<T, ApiError> + Send + 'static,
) -> Result<T, ApiError> {
    state.reads.run(super::pool::Lane::Quick, f).await
}

/// [`blocking`] for a heavy read (a search, similar papers, radar papers, a briefing): runs on
/// the read threads, at most `[server] search_threads` at once, a bounded number waiting.
pub(crate) async fn heavy_blocking<T: Send + 'static>(
    state: &AppState,
    f: impl FnOnce() -> Result<T, ApiError> + Send + 'static,
) -> Result<T, ApiError> {
    state.reads.run(super::pool::Lane::Heavy, f).await
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
            // The scheme is case-insensitive (RFC 9110 §11.1): `Bearer`, `bearer`, `BEARER`.
            let (scheme, token) = v.trim_start().split_once([' ', '\t'])?;
            scheme.eq_ignore_ascii_case("bearer").then_some(token)
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
    parse_json(&bytes, allow_empty)
}

/// A JSON request body: `None` for a blank one when `allow_empty`, else 400 `invalid_json` for
/// bad syntax and `invalid_body` for the wrong shape, naming the position. Pure, so the
/// fuzzers reach it without a server.
pub fn parse_json<T: serde::de::DeserializeOwned>(
    bytes: &[u8],
    allow_empty: bool,
) -> Result<Option<T>, ApiError> {
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
    serde_json::from_slice(bytes).map(Some).map_err(|e| {
        let code = if e.is_data() {
            "invalid_body"
        } else {
            "invalid_json"
        };
        ApiError::new(StatusCode::BAD_REQUEST, code, format!("request body: {e}"))
    })
}
