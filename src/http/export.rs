//! Export responses: papers as BibTeX or RIS (`format=bibtex|ris` on searches and radar
//! papers, `/api/papers/{id}.bib` and `.ris`), downloaded as a file by a browser.

use axum::http::{header, HeaderValue};
use axum::response::{IntoResponse, Response};

use super::error::ApiError;
use crate::delivery::{export, ExportFormat};
use crate::paper::Paper;

/// The `format` parameter of an endpoint that answers JSON or an export: `None` for `json`.
pub(crate) fn format_param(v: &str) -> Result<Option<ExportFormat>, ApiError> {
    if v.trim().eq_ignore_ascii_case("json") {
        return Ok(None);
    }
    v.parse::<ExportFormat>().map(Some).map_err(|_| {
        ApiError::param(
            "format",
            format!("format must be json, bibtex or ris, got {v:?}"),
        )
    })
}

/// `papers` in `format`, as a download named `<stem>.<ext>`.
pub(crate) fn export_response(papers: &[Paper], format: ExportFormat, stem: &str) -> Response {
    let body = export(papers, format);
    let stem: String = stem
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '.' {
                c
            } else {
                '_'
            }
        })
        .take(80)
        .collect();
    let disposition = format!("attachment; filename=\"{stem}.{}\"", format.extension());
    let mut resp = body.into_response();
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(format.content_type()),
    );
    if let Ok(v) = HeaderValue::from_str(&disposition) {
        h.insert(header::CONTENT_DISPOSITION, v);
    }
    resp
}
