//! The AcademicHub web page, compiled into the binary (no CDN, works offline): `web/index.html`,
//! `web/app.js`, `web/app.css`.

use axum::http::{header, HeaderValue};
use axum::response::{IntoResponse, Response};

const INDEX_HTML: &str = include_str!("../../web/index.html");
const APP_JS: &str = include_str!("../../web/app.js");
const APP_CSS: &str = include_str!("../../web/app.css");

fn asset(body: &'static str, content_type: &'static str) -> Response {
    let mut resp = body.into_response();
    let h = resp.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    resp
}

/// The web page.
#[utoipa::path(
    get,
    path = "/",
    tag = "web",
    responses((status = 200, description = "The search page (HTML)", content_type = "text/html"))
)]
pub async fn index() -> Response {
    let mut resp = asset(INDEX_HTML, "text/html; charset=utf-8");
    resp.headers_mut().insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; connect-src 'self'",
        ),
    );
    resp
}

/// The page's script.
pub async fn app_js() -> Response {
    asset(APP_JS, "text/javascript; charset=utf-8")
}

/// The page's style sheet.
pub async fn app_css() -> Response {
    asset(APP_CSS, "text/css; charset=utf-8")
}
