//! The OpenAPI document, derived from the handlers' annotations and the response types (so it
//! cannot drift from the code; `tests/it/http.rs` checks the served copy lists every route).

use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

use super::{delivery, dto, error, metrics, papers, radars, search, web, writes};

/// The API description served at `/api/openapi.json`.
#[derive(OpenApi)]
#[openapi(
    info(
        title = "AcademicHub",
        description = "Search research-paper abstracts: BM25, dense and hybrid search, the latest papers, similar papers, research radars and briefings, upserts and feed ingestion. Every error is `{\"error\": {\"code\", \"message\"}}`."
    ),
    paths(
        search::search,
        papers::get_paper,
        papers::similar,
        papers::latest,
        writes::post_papers,
        writes::ingest,
        radars::list,
        radars::create,
        radars::get_one,
        radars::update,
        radars::delete,
        radars::papers,
        delivery::feed,
        delivery::read,
        delivery::digest_preview,
        radars::briefing,
        papers::healthz,
        metrics::metrics_endpoint,
        openapi_json,
        web::index,
    ),
    components(schemas(error::ErrorBody, error::ErrorDetail, dto::PaperInput)),
    modifiers(&BearerAuth),
    tags(
        (name = "search", description = "Ranked search"),
        (name = "papers", description = "Papers, similar papers, the daily list"),
        (name = "radars", description = "Saved research radars, their papers, briefings"),
        (name = "write", description = "Token-protected writes"),
        (name = "ops", description = "Health, metrics, this document"),
        (name = "web", description = "The web page"),
    )
)]
pub struct ApiDoc;

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, api: &mut utoipa::openapi::OpenApi) {
        let components = api.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
    }
}

/// The generated document.
pub fn document() -> utoipa::openapi::OpenApi {
    ApiDoc::openapi()
}

/// This document.
#[utoipa::path(
    get,
    path = "/api/openapi.json",
    tag = "ops",
    responses((status = 200, description = "OpenAPI 3.1 description of this API", body = serde_json::Value))
)]
pub async fn openapi_json() -> axum::response::Response {
    use axum::response::IntoResponse;
    (
        [(axum::http::header::CONTENT_TYPE, "application/json")],
        serialized().clone(),
    )
        .into_response()
}

/// The document as served, serialized on first use.
fn serialized() -> &'static axum::body::Bytes {
    static JSON: std::sync::OnceLock<axum::body::Bytes> = std::sync::OnceLock::new();
    JSON.get_or_init(|| {
        axum::body::Bytes::from(
            document()
                .to_pretty_json()
                .unwrap_or_else(|e| format!("{{\"error\": \"{e}\"}}")),
        )
    })
}
