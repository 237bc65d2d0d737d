//! What every request shares: the index (opened once, one reader), the embedder, the single
//! writer, the ingest trigger, the configuration, the metrics and the result cache.

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};

use crate::embed::Embedder;
use crate::index::{PaperIndex, PaperWriter};
use crate::ingest::background::EmbedProgress;
use crate::search::{Backend, Mode, QueryEmbedder};

use axum::http::StatusCode;

use super::config::ServerConfig;
use super::error::ApiError;
use super::metrics::Metrics;

/// The future an [`IngestTrigger`] returns.
pub type IngestFuture =
    Pin<Box<dyn Future<Output = Result<serde_json::Value, IngestFailure>> + Send>>;

/// Why a poll as a whole failed (per-source failures are in its report).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IngestFailure {
    pub message: String,
    /// The index or the feeds' state could not be written for lack of space: answered 503
    /// `storage_full` (else 502 `ingest_failed`).
    pub storage_full: bool,
}

impl From<String> for IngestFailure {
    fn from(message: String) -> Self {
        IngestFailure {
            message,
            storage_full: false,
        }
    }
}

/// Something that polls feeds on demand (`POST /api/ingest`). The server calls
/// [`trigger`](IngestTrigger::trigger) with the `source` the client named (or `None` for all)
/// and answers its JSON report, or 502 `ingest_failed` with its message (503 `storage_full`
/// when nothing could be written for lack of space). An implementation
/// writes through [`AppState::writer`] (the process's single writer), reloads the index after
/// committing, and may record per-source figures with [`Metrics::record_ingest`].
pub trait IngestTrigger: Send + Sync {
    /// Starts (and awaits) one poll.
    fn trigger(&self, source: Option<String>) -> IngestFuture;
}

/// The shared embedder (fastembed's `embed` takes `&mut self`); used from blocking threads only.
pub type SharedEmbedder = Arc<Mutex<Box<dyn Embedder>>>;
/// The shared index writer; used from blocking threads only.
pub type SharedWriter = Arc<Mutex<PaperWriter>>;

/// Application state, cloned (cheaply) into every handler.
#[derive(Clone)]
pub struct AppState {
    /// Where the papers live: the tantivy index, or a Milvus collection (which answers all
    /// but radars, digests and briefings; see [`AppState::index`]).
    pub backend: Backend,
    /// Query/passage embedder with the index's model; `None` when it could not be loaded
    /// (hybrid then falls back to BM25, dense answers 409 `dense_unavailable`).
    pub embedder: Option<SharedEmbedder>,
    /// Why the embedder is missing, for error messages and warnings.
    pub embedder_error: Option<String>,
    /// The index writer; opened when writes are enabled (a token is configured).
    pub writer: Option<SharedWriter>,
    /// The writer's count of failed writes (for `/metrics`, read without its lock).
    pub(crate) write_failures: Option<Arc<std::sync::atomic::AtomicU64>>,
    /// Wired by the binary when feed ingestion is available.
    pub ingest: Option<Arc<dyn IngestTrigger>>,
    pub config: Arc<ServerConfig>,
    /// The resolved write token (`$ACADEMICHUB_TOKEN` or `[server] token`).
    pub token: Option<Arc<str>>,
    pub metrics: Arc<Metrics>,
    pub(crate) cache: Arc<Mutex<super::cache::ResultCache>>,
    /// The threads that run index reads (`[server] search_threads` of them).
    pub(crate) reads: super::pool::ReadPool,
    /// The LLM that writes briefing narratives (`[llm]` configured), and the most time one
    /// narrative may take before the briefing is answered extractive.
    pub llm: Option<(Arc<crate::briefing::llm::LlmClient>, std::time::Duration)>,
    /// Background embedding (`serve` embeds papers without a vector while it answers).
    pub background: Option<Arc<EmbedProgress>>,
    /// Which `Host` headers are answered; set by [`super::serve`] from the bound address
    /// (any host until then, as for tests that call the router directly).
    pub hosts: Arc<super::host::HostPolicy>,
}

impl AppState {
    /// State over `index` with no embedder, no writer and no ingest trigger.
    pub fn new(index: Arc<PaperIndex>, config: ServerConfig) -> Self {
        Self::on_backend(Backend::Tantivy(index), config)
    }

    /// State over `backend` with no embedder, no writer and no ingest trigger.
    pub fn on_backend(backend: Backend, config: ServerConfig) -> Self {
        let token = config.resolved_token().map(Arc::from);
        let read_threads = config.resolved_search_threads();
        let read_queue = config.limits.read_queue;
        let cache = super::cache::ResultCache::new(config.cache_entries, config.cache_bytes);
        AppState {
            backend,
            embedder: None,
            embedder_error: None,
            writer: None,
            write_failures: None,
            ingest: None,
            config: Arc::new(config),
            token,
            metrics: Arc::new(Metrics::default()),
            cache: Arc::new(Mutex::new(cache)),
            reads: super::pool::ReadPool::new(read_threads, read_queue),
            llm: None,
            background: None,
            hosts: Arc::new(super::host::HostPolicy::Any),
        }
    }

    /// Wires background embedding: writes leave vectors to it, queries pause it.
    pub fn with_background(mut self, progress: Arc<EmbedProgress>) -> Self {
        self.background = Some(progress);
        self
    }

    /// Sets the embedder.
    pub fn with_embedder(mut self, embedder: Box<dyn Embedder>) -> Self {
        self.embedder = Some(Arc::new(Mutex::new(embedder)));
        self.embedder_error = None;
        self
    }

    /// Records why no embedder is available.
    pub fn without_embedder(mut self, why: impl Into<String>) -> Self {
        self.embedder = None;
        self.embedder_error = Some(why.into());
        self
    }

    /// Answers only requests whose `Host` the policy allows.
    pub fn with_hosts(mut self, hosts: super::host::HostPolicy) -> Self {
        self.hosts = Arc::new(hosts);
        self
    }

    /// Sets the shared writer.
    pub fn with_writer(mut self, writer: SharedWriter) -> Self {
        self.write_failures = writer.lock().ok().map(|w| w.failure_counter());
        self.writer = Some(writer);
        self
    }

    /// The tantivy index, for what only it does (writes through its single writer); on the
    /// Milvus backend, 501 `not_on_backend`.
    pub fn index(&self) -> Result<&Arc<PaperIndex>, ApiError> {
        self.backend.tantivy().ok_or_else(|| {
            ApiError::new(
                StatusCode::NOT_IMPLEMENTED,
                "not_on_backend",
                "this needs the tantivy backend; this server runs on the milvus backend",
            )
        })
    }

    /// Where radars, read marks and delivery state live, and what radars rank: the backend's
    /// paper store.
    pub(crate) fn papers(&self) -> &dyn crate::radar::source::PaperSource {
        crate::radar::source::of(&self.backend)
    }

    /// Opens the index's single writer and shares it (fails when another process holds it,
    /// or the papers live in Milvus).
    pub fn open_writer(self) -> Result<Self, crate::IndexError> {
        let Some(index) = self.backend.tantivy() else {
            return Err(crate::IndexError::NotLocal("write to"));
        };
        let w = index.writer()?;
        Ok(self.with_writer(Arc::new(Mutex::new(w))))
    }

    /// Wires feed ingestion (`POST /api/ingest`).
    pub fn with_ingest(mut self, trigger: Arc<dyn IngestTrigger>) -> Self {
        self.ingest = Some(trigger);
        self
    }

    /// Wires the LLM narrative of briefings; a narrative that takes longer than `budget`
    /// (retries included) is given up and the briefing answered extractive.
    pub fn with_llm(
        mut self,
        client: crate::briefing::llm::LlmClient,
        budget: std::time::Duration,
    ) -> Self {
        self.llm = Some((Arc::new(client), budget));
        self
    }

    /// The shared writer, for an ingester running in the same process.
    pub fn writer(&self) -> Option<SharedWriter> {
        self.writer.clone()
    }

    /// The mode used when a search names none: hybrid when dense search is possible (the
    /// embedder was checked against the index when the server started).
    pub fn default_mode(&self) -> Mode {
        match &self.backend {
            Backend::Tantivy(index) => crate::search::default_mode(index, self.embedder.is_some()),
            // The embedder was checked against the collection's model at start-up.
            Backend::Milvus(_) if self.embedder.is_some() => Mode::Hybrid,
            Backend::Milvus(_) => Mode::Bm25,
        }
    }

    /// Runs `f` with the server's query embedder checked against the index, or with why there
    /// is none. Blocking (it locks the embedder): call from a blocking thread.
    pub fn with_query_embedder<T>(&self, f: impl FnOnce(QueryEmbedder<'_>) -> T) -> T {
        let Some(shared) = &self.embedder else {
            return f(QueryEmbedder::Unavailable(
                self.embedder_error
                    .clone()
                    .unwrap_or_else(|| "no embedding model is loaded".into()),
            ));
        };
        // Queries first: the background worker starts no text while this runs.
        let _priority = self.background.as_ref().map(|b| b.query_started());
        let Ok(mut guard) = shared.lock() else {
            return f(QueryEmbedder::Unavailable(
                "the embedder is unusable after an earlier panic".into(),
            ));
        };
        match &self.backend {
            Backend::Tantivy(index) => f(QueryEmbedder::for_index(index, Ok(&mut **guard))),
            // Checked against the collection's model when the server started.
            Backend::Milvus(_) => f(QueryEmbedder::Ready(&mut **guard)),
        }
    }
}
