//! The HTTP API and the web page (axum). Owns status codes, JSON shapes, limits, CORS, access
//! logs and metrics; every search, lookup and write is delegated to the library
//! ([`crate::search`], [`crate::ingest`], [`crate::radar`], [`crate::briefing`]) on blocking
//! threads, and no tantivy or fastembed type appears here.
//!
//! Files: [`router`] and [`serve`] here; [`state`] (what requests share), [`config`],
//! [`extract`] (parameters, token, JSON bodies, blocking work), [`dto`] (JSON shapes),
//! [`html`] (escaping), [`error`] (`ApiError`), the endpoints ([`search`], [`papers`],
//! [`writes`], [`radars`], [`web`]), [`pool`] (the read threads), [`metrics`], [`openapi`].
//!
//! [`router`] builds the whole application from an [`AppState`] (tested without a socket
//! through `tower::ServiceExt::oneshot`); [`serve`] runs it with graceful shutdown.

pub mod cache;
pub mod config;
pub mod delivery;
pub mod dto;
pub mod error;
pub mod export;
pub mod extract;
pub mod host;
pub mod html;
pub mod metrics;
pub mod openapi;
pub mod papers;
pub mod pool;
pub mod radars;
pub mod search;
pub mod state;
pub mod web;
pub mod writes;

use std::future::Future;
use std::time::{Duration, Instant};

use axum::extract::{MatchedPath, Request, State};
use axum::http::{header, HeaderValue, Method, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;

pub use config::{Limits, ServerConfig};
pub use error::ApiError;
pub use state::{
    AppState, IngestFailure, IngestFuture, IngestTrigger, SharedEmbedder, SharedWriter,
};

/// Every route the server answers (method, path pattern): the OpenAPI document lists the same.
pub const ROUTES: &[(&str, &str)] = &[
    ("GET", "/"),
    ("GET", "/api/search"),
    ("GET", "/api/papers/{id}"),
    ("GET", "/api/papers/{id}/similar"),
    ("GET", "/api/latest"),
    ("POST", "/api/papers"),
    ("POST", "/api/ingest"),
    ("GET", "/api/radars"),
    ("POST", "/api/radars"),
    ("GET", "/api/radars/{id}"),
    ("PUT", "/api/radars/{id}"),
    ("DELETE", "/api/radars/{id}"),
    ("GET", "/api/radars/{id}/papers"),
    ("GET", "/api/radars/{id}/feed.atom"),
    ("POST", "/api/radars/{id}/read"),
    ("GET", "/api/digest"),
    ("GET", "/api/briefings"),
    ("GET", "/healthz"),
    ("GET", "/metrics"),
    ("GET", "/api/openapi.json"),
];

/// How often the server checks whether another process committed to the index.
pub const RELOAD_INTERVAL: Duration = Duration::from_secs(2);

/// Builds the application: routes, request timeout (reads), CORS, access log and metrics.
pub fn router(state: AppState) -> Router {
    let reads = Router::new()
        .route("/api/search", get(search::search))
        .route("/api/papers/{id}", get(papers::get_paper))
        .route("/api/papers/{id}/similar", get(papers::similar))
        .route("/api/latest", get(papers::latest))
        .route("/api/radars", get(radars::list))
        .route("/api/radars/{id}", get(radars::get_one))
        .route("/api/radars/{id}/papers", get(radars::papers))
        .route("/api/radars/{id}/feed.atom", get(delivery::feed))
        .route("/api/digest", get(delivery::digest_preview))
        .route("/healthz", get(papers::healthz))
        .route("/metrics", get(metrics::metrics_endpoint))
        .route("/api/openapi.json", get(openapi::openapi_json))
        .route("/", get(web::index))
        .route("/app.js", get(web::app_js))
        .route("/app.css", get(web::app_css))
        .route_layer(middleware::from_fn_with_state(state.clone(), timeout));
    // Writes run to completion (a client that gave up must not leave a half-known state);
    // their size is bounded by `max_body_bytes`. Briefings are bounded by their own LLM budget.
    let writes = Router::new()
        .route("/api/papers", post(writes::post_papers))
        .route("/api/ingest", post(writes::ingest))
        .route("/api/radars", post(radars::create))
        .route("/api/radars/{id}/read", post(delivery::read))
        .route(
            "/api/radars/{id}",
            axum::routing::put(radars::update).delete(radars::delete),
        )
        // A briefing may wait for the LLM, whose own budget bounds it (`AppState::llm`).
        .route("/api/briefings", get(radars::briefing));
    reads
        .merge(writes)
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(middleware::from_fn_with_state(state.clone(), cors))
        .layer(middleware::from_fn_with_state(state.clone(), check_host))
        .layer(middleware::from_fn_with_state(state.clone(), track))
        .with_state(state)
}

/// Serves `state` on `listener` until `shutdown` resolves, then finishes the requests in
/// flight. Also reloads the index when another process commits to it.
pub async fn serve(
    listener: tokio::net::TcpListener,
    state: AppState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let bound = listener.local_addr()?;
    let hosts =
        host::HostPolicy::new(bound, &state.config.allowed_hosts).map_err(std::io::Error::other)?;
    if hosts == host::HostPolicy::Any && state.config.allowed_hosts.is_empty() {
        tracing::warn!(
            %bound,
            "bound to every interface with no [server] allowed_hosts: requests for any Host are answered \
             (list the names clients use to guard against DNS rebinding)"
        );
    }
    let state = state.with_hosts(hosts);
    // The local index is reloaded when another process commits to it (a Milvus collection
    // serves every write as it lands).
    let index = state.backend.tantivy().cloned();
    let reloader = tokio::spawn(async move {
        let Some(index) = index else { return };
        let mut tick = tokio::time::interval(RELOAD_INTERVAL);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            let index = index.clone();
            match tokio::task::spawn_blocking(move || index.reload_if_changed()).await {
                Ok(Ok(true)) => tracing::info!("index changed on disk: reloaded"),
                Ok(Ok(false)) => {}
                Ok(Err(e)) => tracing::warn!(error = %e, "index reload failed"),
                Err(e) => tracing::warn!(error = %e, "index reload task failed"),
            }
        }
    });
    let limits = state.config.limits.clone();
    let result = serve_connections(
        listener,
        router(state),
        Duration::from_millis(limits.header_timeout_ms),
        Duration::from_millis(limits.shutdown_timeout_ms),
        shutdown,
    )
    .await;
    reloader.abort();
    result
}

/// The accept loop: HTTP/1.1 connections with a header-read timeout that also closes idle
/// keep-alive connections (a client that sends half a request, or nothing, is disconnected
/// after `header_timeout`); on `shutdown` it stops accepting, lets requests in flight finish,
/// and closes whatever is still open after `drain`.
async fn serve_connections(
    listener: tokio::net::TcpListener,
    app: Router,
    header_timeout: Duration,
    drain: Duration,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    use hyper_util::rt::{TokioIo, TokioTimer};
    use hyper_util::service::TowerToHyperService;

    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    tokio::pin!(shutdown);
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(c) => c,
                Err(e) => {
                    // Out of file descriptors, say: wait a little instead of spinning.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            _ = &mut shutdown => break,
        };
        let _ = stream.set_nodelay(true);
        let conn = hyper::server::conn::http1::Builder::new()
            .timer(TokioTimer::new())
            .header_read_timeout(header_timeout)
            .serve_connection(TokioIo::new(stream), TowerToHyperService::new(app.clone()));
        let conn = graceful.watch(conn);
        tokio::spawn(async move {
            if let Err(e) = conn.await {
                tracing::debug!(%peer, error = %e, "connection closed with an error");
            }
        });
    }
    drop(listener);
    if tokio::time::timeout(drain, graceful.shutdown())
        .await
        .is_err()
    {
        tracing::warn!(
            after_ms = drain.as_millis() as u64,
            "requests still in flight at the shutdown deadline: closing their connections"
        );
    }
    Ok(())
}

async fn not_found(uri: axum::http::Uri) -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        "not_found",
        format!("no route for {} (see /api/openapi.json)", uri.path()),
    )
}

async fn method_not_allowed(method: Method, uri: axum::http::Uri) -> ApiError {
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
        format!("{method} is not allowed on {}", uri.path()),
    )
}

/// Answers 503 `timeout` when a read takes longer than `request_timeout_ms`.
async fn timeout(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let limit = Duration::from_millis(state.config.limits.request_timeout_ms);
    match tokio::time::timeout(limit, next.run(req)).await {
        Ok(resp) => resp,
        Err(_) => ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "timeout",
            format!(
                "the request took longer than {} ms ([server.limits] request_timeout_ms); try a narrower query",
                limit.as_millis()
            ),
        )
        .retry_after(1)
        .into_response(),
    }
}

/// 421 `host_not_allowed` for a `Host` header that does not name this server (DNS rebinding).
async fn check_host(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let host = req
        .headers()
        .get(header::HOST)
        .map(|h| h.to_str().unwrap_or("\u{fffd}"));
    if !state.hosts.allows(host) {
        return ApiError::new(
            StatusCode::MISDIRECTED_REQUEST,
            "host_not_allowed",
            "this server does not answer for that Host (see [server] allowed_hosts)",
        )
        .into_response();
    }
    next.run(req).await
}

/// CORS for the configured origins (`"*"` allows any). Preflight requests are answered here.
async fn cors(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let origins = &state.config.cors_origins;
    let origin = req.headers().get(header::ORIGIN).cloned();
    let allowed = origin.as_ref().and_then(|o| {
        let o_str = o.to_str().ok()?;
        if origins.iter().any(|a| a == "*") {
            Some(HeaderValue::from_static("*"))
        } else if origins.iter().any(|a| a.trim_end_matches('/') == o_str) {
            Some(o.clone())
        } else {
            None
        }
    });
    let preflight = req.method() == Method::OPTIONS
        && req
            .headers()
            .contains_key(header::ACCESS_CONTROL_REQUEST_METHOD);
    let mut resp = if preflight {
        if allowed.is_none() {
            return ApiError::new(
                StatusCode::FORBIDDEN,
                "cors_origin_not_allowed",
                "this origin is not in [server] cors_origins",
            )
            .into_response();
        }
        let mut r = StatusCode::NO_CONTENT.into_response();
        let h = r.headers_mut();
        h.insert(
            header::ACCESS_CONTROL_ALLOW_METHODS,
            HeaderValue::from_static("GET, POST, PUT, DELETE, OPTIONS"),
        );
        h.insert(
            header::ACCESS_CONTROL_ALLOW_HEADERS,
            HeaderValue::from_static("authorization, content-type"),
        );
        h.insert(
            header::ACCESS_CONTROL_MAX_AGE,
            HeaderValue::from_static("600"),
        );
        r
    } else {
        next.run(req).await
    };
    if let Some(a) = allowed {
        let h = resp.headers_mut();
        h.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, a);
        h.append(header::VARY, HeaderValue::from_static("origin"));
    }
    resp
}

/// One access-log line and the metrics of every request, by matched route pattern.
async fn track(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let started = Instant::now();
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map(|m| m.as_str().to_string());
    let method = req.method().clone();
    let path = req.uri().path().to_string();
    let resp = next.run(req).await;
    let elapsed = started.elapsed();
    let status = resp.status().as_u16();
    let route = route.as_deref().unwrap_or("unmatched");
    state
        .metrics
        .observe(route, method.as_str(), status, elapsed);
    tracing::info!(
        target: "academichub::access",
        method = %method,
        route,
        path = %path,
        status,
        latency_ms = elapsed.as_secs_f64() * 1000.0,
    );
    resp
}
