//! The `[server]` section of the configuration file: listen address, write token, CORS origins
//! and request limits. Flags (`serve --addr`) and `$ACADEMICHUB_TOKEN` override it.

use serde::Deserialize;

/// Default listen address (loopback only: exposing the API is an explicit choice).
pub const DEFAULT_ADDR: &str = "127.0.0.1:8080";
/// Environment variable holding the write token (wins over `[server] token`).
pub const TOKEN_ENV: &str = "ACADEMICHUB_TOKEN";

/// `[server]` section.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ServerConfig {
    /// Listen address, `host:port`.
    pub addr: String,
    /// Bearer token required by the write endpoints (`POST /api/papers`, `POST /api/ingest`);
    /// without one (here or in `$ACADEMICHUB_TOKEN`) they are disabled.
    pub token: Option<String>,
    /// Origins allowed to call the API from a browser page served elsewhere (`"*"` for any).
    /// The page at `/` is same-origin and needs none.
    pub cors_origins: Vec<String>,
    /// Host names (`name` or `name:port`) the server answers in the `Host` header, against
    /// DNS rebinding; `"*"` allows any. Empty, the default: the bound address and `localhost`
    /// (any host when bound to every interface).
    pub allowed_hosts: Vec<String>,
    /// Results cached per query (0 disables the cache); cleared whenever the index changes.
    pub cache_entries: usize,
    /// Most memory the result cache may use, in bytes of response JSON (least recently used
    /// results go first).
    pub cache_bytes: usize,
    /// Threads running searches and the other index reads (papers, similar, latest, radar
    /// papers); further reads wait their turn, first come first served. 0, the default, means
    /// one per CPU core: more at once only share the cores, and evict each other's per-thread
    /// buffers from the CPU caches (see `http::pool`).
    pub search_threads: usize,
    /// Request limits.
    pub limits: Limits,
}

/// `[server.limits]`: what a single request may ask for.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Limits {
    /// Longest query, in characters.
    pub max_query_chars: usize,
    /// Largest `k` (results per page).
    pub max_k: usize,
    /// Largest `offset`.
    pub max_offset: usize,
    /// Largest request body, in bytes (`POST /api/papers`).
    pub max_body_bytes: usize,
    /// Time a request may take before it is answered with 503 `timeout`, in milliseconds.
    pub request_timeout_ms: u64,
    /// Reads that may wait for a read thread, per lane (quick lookups; searches and
    /// briefings); further ones are answered 503 `overloaded` at once.
    pub read_queue: usize,
    /// Time a client has to send a request's headers, and the longest an idle keep-alive
    /// connection stays open, in milliseconds (slow or silent clients are disconnected).
    pub header_timeout_ms: u64,
    /// On shutdown (Ctrl-C, SIGTERM), the time requests in flight get to finish before the
    /// remaining connections are closed, in milliseconds.
    pub shutdown_timeout_ms: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_query_chars: crate::search::MAX_QUERY_CHARS,
            max_k: 100,
            max_offset: crate::search::MAX_OFFSET,
            max_body_bytes: 16 * 1024 * 1024,
            request_timeout_ms: 10_000,
            read_queue: 64,
            header_timeout_ms: 15_000,
            shutdown_timeout_ms: 10_000,
        }
    }
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            addr: DEFAULT_ADDR.to_string(),
            token: None,
            cors_origins: Vec::new(),
            allowed_hosts: Vec::new(),
            cache_entries: 4096,
            cache_bytes: 64 * 1024 * 1024,
            search_threads: 0,
            limits: Limits::default(),
        }
    }
}

impl ServerConfig {
    /// `search_threads`, with 0 resolved to the number of CPU cores.
    pub fn resolved_search_threads(&self) -> usize {
        match self.search_threads {
            0 => std::thread::available_parallelism().map_or(1, |n| n.get()),
            n => n,
        }
    }

    /// The write token: `$ACADEMICHUB_TOKEN` when set and non-empty, else `[server] token`;
    /// blank values count as none.
    pub fn resolved_token(&self) -> Option<String> {
        std::env::var(TOKEN_ENV)
            .ok()
            .filter(|t| !t.trim().is_empty())
            .or_else(|| self.token.clone())
            .map(|t| t.trim().to_string())
            .filter(|t| !t.is_empty())
    }

    /// Checks the limits against what the query layer accepts, and the host list.
    pub fn check(&self) -> Result<(), String> {
        super::host::HostPolicy::new(
            std::net::SocketAddr::from(([127, 0, 0, 1], 0)),
            &self.allowed_hosts,
        )?;
        let l = &self.limits;
        let bad = |key: &str, max: usize, got: usize| {
            Err(format!(
                "[server.limits] {key} must be between 1 and {max}, got {got}"
            ))
        };
        if l.max_k == 0 || l.max_k > crate::search::MAX_K {
            return bad("max_k", crate::search::MAX_K, l.max_k);
        }
        if l.max_offset > crate::search::MAX_OFFSET {
            return bad("max_offset", crate::search::MAX_OFFSET, l.max_offset);
        }
        if l.max_query_chars == 0 || l.max_query_chars > crate::search::MAX_QUERY_CHARS {
            return bad(
                "max_query_chars",
                crate::search::MAX_QUERY_CHARS,
                l.max_query_chars,
            );
        }
        if l.max_body_bytes == 0 {
            return bad("max_body_bytes", usize::MAX, 0);
        }
        for (key, v) in [
            ("request_timeout_ms", l.request_timeout_ms),
            ("header_timeout_ms", l.header_timeout_ms),
            ("shutdown_timeout_ms", l.shutdown_timeout_ms),
            ("read_queue", l.read_queue as u64),
        ] {
            if v == 0 {
                return Err(format!("[server.limits] {key} must be positive"));
            }
        }
        Ok(())
    }
}
