//! The API's error type: every failure becomes `{"error": {"code", "message"}}` with the right
//! status. Internal errors answer a generic message; their detail goes to the log only.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

use crate::search::{InvalidParam, QueryError};

/// An error answered to the client.
#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    /// Stable machine-readable code (`invalid_k`, `paper_not_found`, ...).
    pub code: String,
    pub message: String,
    /// Seconds for a `Retry-After` header (503s the client should retry).
    pub retry_after: Option<u32>,
}

/// The JSON body of every error response.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

/// What went wrong.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ErrorDetail {
    /// Stable machine-readable code: `invalid_<param>` for a bad query parameter (`invalid_k`,
    /// `invalid_mode`, `invalid_from`, ...), `query_too_long`, `invalid_json`, `invalid_body`,
    /// `payload_too_large`, `paper_not_found`, `no_vectors`, `paper_has_no_vector`,
    /// `dense_unavailable`, `unauthorized`, `writes_disabled`, `ingest_unavailable`,
    /// `ingest_failed`, `index_busy`, `overloaded`, `storage_full`, `write_failed`, `writer_unavailable`,
    /// `backend_unavailable`, `not_on_backend`, `timeout`, `not_found`, `method_not_allowed`,
    /// `internal`.
    pub code: String,
    /// Human-readable explanation naming what was wrong.
    pub message: String,
}

impl ApiError {
    /// An error with any status.
    pub fn new(status: StatusCode, code: impl Into<String>, message: impl Into<String>) -> Self {
        ApiError {
            status,
            code: code.into(),
            message: message.into(),
            retry_after: None,
        }
    }

    /// Adds a `Retry-After: secs` header.
    pub fn retry_after(mut self, secs: u32) -> Self {
        self.retry_after = Some(secs);
        self
    }

    /// 400 for a bad value of query parameter `name`: code `invalid_<name>`.
    pub fn param(name: &str, message: impl Into<String>) -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            format!("invalid_{name}"),
            message.into(),
        )
    }

    /// 500 with a generic message; `detail` is logged, never sent.
    pub fn internal(detail: impl std::fmt::Display) -> Self {
        tracing::error!(error = %detail, "internal error");
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            "internal error (the detail is in the server log)",
        )
    }

    /// 404 for an unknown paper id.
    pub fn paper_not_found(id: &str) -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            "paper_not_found",
            format!("no paper with id {id:?}"),
        )
    }
}

impl From<QueryError> for ApiError {
    fn from(e: QueryError) -> Self {
        match e {
            QueryError::Invalid(p @ InvalidParam::QueryTooLong { .. }) => {
                ApiError::new(StatusCode::BAD_REQUEST, "query_too_long", format!("q: {p}"))
            }
            QueryError::Invalid(p) => {
                ApiError::param(p.name(), format!("invalid parameter {}: {p}", p.name()))
            }
            QueryError::Index(e) => ApiError::internal(e),
            // The search backend is down or slow: the client may retry.
            QueryError::Milvus(e) if e.is_unavailable() => {
                tracing::warn!(error = %e, "search backend unavailable");
                ApiError::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "backend_unavailable",
                    "the search backend (Milvus) is unavailable; retry shortly",
                )
                .retry_after(5)
            }
            QueryError::Milvus(e) => ApiError::internal(e),
        }
    }
}

impl From<tokio::task::JoinError> for ApiError {
    /// A blocking task that panicked (or was cancelled): 500, the detail logged.
    fn from(e: tokio::task::JoinError) -> Self {
        ApiError::internal(e)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = ErrorBody {
            error: ErrorDetail {
                code: self.code,
                message: self.message,
            },
        };
        let mut resp = (self.status, axum::Json(body)).into_response();
        if let Some(secs) = self.retry_after {
            resp.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        if self.status == StatusCode::UNAUTHORIZED {
            resp.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer realm=\"academichub\""),
            );
        }
        resp
    }
}
