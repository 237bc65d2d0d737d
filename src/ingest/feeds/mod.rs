//! Feed ingestion: configured sources (arXiv RSS listings, the arXiv query API, medRxiv/bioRxiv
//! details API, any RSS/Atom journal feed) are fetched politely, parsed and normalized into
//! [`Paper`]s, merged into the index with announce semantics, and committed.
//!
//! Layout: `config` (sources in `academichub.toml`), `client` (the one HTTP client), `xml`,
//! `arxiv`, `biorxiv`, `rss` (parsers, pure), `apply` (merge + write, blocking), `state` (per
//! source poll state, written after each commit). This module ties them together:
//! [`poll_once`], [`run_pollers`], [`ingest_file`] and the [`IngestStatus`] the HTTP server can
//! export as metrics. A bad entry is skipped and counted with its reason; a bad source is
//! reported and every other source still lands. Blocking work (parsing, embedding, tantivy
//! writes and commits) runs in `spawn_blocking`.

pub mod apply;
pub mod arxiv;
pub mod biorxiv;
pub mod client;
pub mod config;
pub mod rss;
pub mod state;
pub mod text;
pub mod xml;

use std::collections::BTreeMap;
use std::future::Future;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde::Serialize;

use crate::embed::{EmbedError, Embedder};
use crate::index::{IndexError, PaperIndex, PaperWriter};
use crate::paper::{Paper, PaperId};

pub use apply::{merge, ApplyStats, Merge};
pub use client::{ClientConfig, FeedClient, FetchError, Fetched, Validators};
pub use config::{build_sources, FeedConfigError, IngestConfig, Source, SourceConfig};
pub use state::{FeedState, SourceState, StateError};

/// The kinds of source `ingest` understands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum SourceKind {
    /// arXiv's daily RSS 2.0 listing of a category.
    ArxivRss,
    /// arXiv's query API (Atom).
    ArxivAtom,
    /// medRxiv/bioRxiv details API (JSON, cursor-paged).
    BiorxivJson,
    /// Any RSS 0.9x/1.0/2.0, Atom or JSON Feed.
    Rss,
}

impl SourceKind {
    /// The name used in configuration and on the command line.
    pub fn as_str(self) -> &'static str {
        match self {
            SourceKind::ArxivRss => "arxiv-rss",
            SourceKind::ArxivAtom => "arxiv-atom",
            SourceKind::BiorxivJson => "biorxiv-json",
            SourceKind::Rss => "rss",
        }
    }
}

impl std::str::FromStr for SourceKind {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "arxiv-rss" => Ok(SourceKind::ArxivRss),
            "arxiv-atom" => Ok(SourceKind::ArxivAtom),
            "biorxiv-json" => Ok(SourceKind::BiorxivJson),
            "rss" => Ok(SourceKind::Rss),
            other => Err(format!(
                "unknown kind {other:?} (use arxiv-rss, arxiv-atom, biorxiv-json or rss)"
            )),
        }
    }
}

/// arXiv announce types.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Announce {
    New,
    Cross,
    Replace,
    ReplaceCross,
}

impl Announce {
    /// Parses `new`, `cross`, `replace`, `replace-cross`.
    pub fn parse(s: &str) -> Option<Announce> {
        match s.trim() {
            "new" => Some(Announce::New),
            "cross" => Some(Announce::Cross),
            "replace" => Some(Announce::Replace),
            "replace-cross" => Some(Announce::ReplaceCross),
            _ => None,
        }
    }
}

/// One normalized entry of a feed.
#[derive(Debug, Clone, PartialEq)]
pub struct FeedEntry {
    pub paper: Paper,
    /// arXiv RSS only.
    pub announce: Option<Announce>,
}

/// A skipped entry and why.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Skip {
    /// The entry's id, link, title or position.
    pub entry: String,
    pub reason: String,
}

/// What the parsers call one item: arXiv and RSS `entry`, bioRxiv `record`.
pub type Item = &'static str;

/// Why one entry of a feed was skipped (the rest of the feed still lands); its message is the
/// reason a [`Skip`] reports.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum EntryError {
    /// No usable id; `looked` says where the parser looked (may be empty).
    #[error("{item} without {field}{looked}")]
    NoId {
        item: Item,
        field: &'static str,
        looked: &'static str,
    },
    /// The id field holds something that is not an id of the expected `kind`.
    #[error("{item} {field} {raw:?} is not {kind}")]
    BadId {
        item: Item,
        field: &'static str,
        raw: String,
        kind: &'static str,
    },
    /// An id the index could not look up again (too long, say).
    #[error("entry id {start:?}…: {why}")]
    UnusableId { start: String, why: String },
    #[error("{item} {id} has no title")]
    NoTitle { item: Item, id: String },
    #[error("{item} {id} has no abstract")]
    NoAbstract { item: Item, id: String },
    #[error("entry {id}: unknown announce type {raw:?}")]
    UnknownAnnounce { id: String, raw: String },
    #[error("{item} {id}: impossible or unknown date {raw:?}")]
    BadDate { item: Item, id: String, raw: String },
    #[error("record {id}: bad version {raw}")]
    BadVersion { id: String, raw: String },
    /// A JSON record of the wrong shape.
    #[error("invalid record: {0}")]
    InvalidRecord(String),
}

/// The result of parsing one response.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ParsedFeed {
    pub entries: Vec<FeedEntry>,
    pub skipped: Vec<Skip>,
    /// Ids of papers whose abstract was cut at the length cap.
    pub capped: Vec<String>,
}

impl ParsedFeed {
    /// Records one parsed entry (`Ok((entry, abstract_was_capped))`), or the reason it was
    /// skipped under the name `label` gives it.
    pub(crate) fn record(
        &mut self,
        parsed: Result<(FeedEntry, bool), EntryError>,
        label: impl FnOnce() -> String,
    ) {
        // Checks every parser shares: an id the index can look up again, and only web links.
        let parsed = parsed.and_then(|(mut entry, capped)| {
            if let Some(why) = PaperId::problem(entry.paper.id.as_str()) {
                return Err(EntryError::UnusableId {
                    start: entry.paper.id.as_str().chars().take(40).collect(),
                    why,
                });
            }
            entry.paper.url = entry
                .paper
                .url
                .as_deref()
                .and_then(crate::normalize::web_url);
            Ok((entry, capped))
        });
        match parsed {
            Ok((entry, capped)) => {
                if capped {
                    self.capped.push(entry.paper.id.to_string());
                }
                self.entries.push(entry);
            }
            Err(reason) => self.skipped.push(Skip {
                entry: label(),
                reason: reason.to_string(),
            }),
        }
    }
}

/// Parser settings.
#[derive(Debug, Clone)]
pub struct ParseOptions {
    pub max_abstract_chars: usize,
}

impl Default for ParseOptions {
    fn default() -> Self {
        ParseOptions {
            max_abstract_chars: config::DEFAULT_MAX_ABSTRACT_CHARS,
        }
    }
}

/// Why a whole response (not one entry) could not be used.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum FeedError {
    #[error("malformed feed: {0}")]
    Malformed(String),
    #[error("malformed feed: {0}")]
    Xml(#[from] xml::XmlError),
    #[error("not a feed: {0}")]
    NotAFeed(String),
    #[error("the source reported an error: {0}")]
    Reported(String),
}

/// Errors of an ingest run (per source errors are reported in the summary instead).
#[derive(Debug, thiserror::Error)]
pub enum IngestError {
    #[error(transparent)]
    Index(#[from] IndexError),
    #[error(transparent)]
    Milvus(#[from] crate::index::milvus::MilvusError),
    #[error(transparent)]
    Embed(EmbedError),
    #[error(transparent)]
    Fetch(#[from] FetchError),
    #[error(transparent)]
    Feed(#[from] FeedError),
    #[error(transparent)]
    State(#[from] StateError),
    #[error(transparent)]
    Config(#[from] FeedConfigError),
    #[error("cannot read {path}: {source}")]
    Read {
        path: std::path::PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{what} lock poisoned by a panicked thread")]
    Poisoned { what: &'static str },
    #[error("background task failed: {0}")]
    Join(String),
}

impl IngestError {
    /// Whether the run failed because the disk (or a quota) is full.
    pub fn is_storage_full(&self) -> bool {
        match self {
            IngestError::Index(e) => e.is_storage_full(),
            IngestError::State(StateError::Write { source, .. }) => {
                crate::index::error::io_is_storage_full(source)
            }
            _ => false,
        }
    }
}

/// Parses a response body of `kind`. `source` labels papers of generic feeds.
pub fn parse_body(
    kind: SourceKind,
    bytes: &[u8],
    opts: &ParseOptions,
    source: &Source,
) -> Result<ParsedFeed, FeedError> {
    if let Some(msg) = text::sniff_html(bytes) {
        return Err(FeedError::NotAFeed(msg));
    }
    match kind {
        SourceKind::ArxivRss => arxiv::parse_rss(bytes, opts),
        SourceKind::ArxivAtom => arxiv::parse_atom(bytes, opts).map(|(f, _)| f),
        SourceKind::BiorxivJson => {
            biorxiv::parse_details(bytes, opts, &source.server).map(|(f, _)| f)
        }
        SourceKind::Rss => rss::parse_feed(bytes, opts, &source.label),
    }
}

/// Settings of ingest runs.
#[derive(Debug, Clone)]
pub struct IngestOptions {
    pub parse: ParseOptions,
    /// Papers written between two commits.
    pub commit_every: usize,
    /// Progress bars on stderr (CLI).
    pub progress: bool,
}

impl Default for IngestOptions {
    fn default() -> Self {
        IngestOptions {
            parse: ParseOptions::default(),
            commit_every: config::DEFAULT_COMMIT_EVERY,
            progress: false,
        }
    }
}

impl IngestOptions {
    /// Options from the `[ingest]` section.
    pub fn from_config(c: &IngestConfig) -> Self {
        let mut o = IngestOptions::default();
        if let Some(n) = c.max_abstract_chars {
            o.parse.max_abstract_chars = n.max(100);
        }
        if let Some(n) = c.commit_every {
            o.commit_every = n.max(1);
        }
        o
    }
}

/// What one source's poll did (the per-source summary of `ingest --once`).
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct SourceReport {
    pub source: String,
    pub kind: String,
    /// True when the poll completed (possibly with skipped entries).
    pub ok: bool,
    /// Entries parsed into papers.
    pub fetched: u64,
    pub new: u64,
    pub updated: u64,
    pub unchanged: u64,
    /// Entries skipped as bad.
    pub skipped: u64,
    /// `entry: reason` for the first skipped entries.
    pub skipped_reasons: Vec<String>,
    /// Abstracts cut at the length cap.
    pub capped: u64,
    pub embedded: u64,
    /// New/changed papers left without a vector (run `academichub embed`).
    pub not_embedded: u64,
    /// The server answered 304, or sent the body already applied: nothing parsed.
    pub not_modified: bool,
    /// HTTP requests made (pages).
    pub requests: u64,
    pub error: Option<String>,
    pub duration_ms: u64,
}

/// How many skip reasons a report keeps.
pub const MAX_SKIP_REASONS: usize = 20;

impl SourceReport {
    fn new(source: &Source) -> Self {
        SourceReport {
            source: source.name.clone(),
            kind: source.kind.as_str().into(),
            ..Default::default()
        }
    }

    fn add_parsed(&mut self, parsed: &ParsedFeed) {
        self.fetched += parsed.entries.len() as u64;
        self.skipped += parsed.skipped.len() as u64;
        self.capped += parsed.capped.len() as u64;
        for s in &parsed.skipped {
            tracing::warn!(source = %self.source, entry = %s.entry, reason = %s.reason, "entry skipped");
            if self.skipped_reasons.len() < MAX_SKIP_REASONS {
                self.skipped_reasons
                    .push(format!("{}: {}", s.entry, s.reason));
            }
        }
        for id in &parsed.capped {
            tracing::warn!(source = %self.source, paper = %id, "abstract cut at the length cap");
        }
    }

    fn add_stats(&mut self, s: &ApplyStats) {
        self.new += s.new;
        self.updated += s.updated;
        self.unchanged += s.unchanged;
        self.embedded += s.embedded;
        self.not_embedded += s.not_embedded;
    }

    /// A one-line description (state file, logs).
    pub fn one_line(&self) -> String {
        match &self.error {
            Some(e) => format!("error: {e}"),
            None if self.not_modified => "not modified".into(),
            None => format!(
                "{} fetched, {} new, {} updated, {} unchanged, {} skipped",
                self.fetched, self.new, self.updated, self.unchanged, self.skipped
            ),
        }
    }
}

/// The summary of one `poll_once`.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct IngestSummary {
    pub sources: Vec<SourceReport>,
    /// Papers in the index afterwards.
    pub total_papers: u64,
    /// The embedding model new papers get vectors from, or None (BM25 only).
    pub embedding: Option<String>,
}

impl IngestSummary {
    /// True when every source succeeded.
    pub fn all_ok(&self) -> bool {
        self.sources.iter().all(|s| s.ok)
    }
}

/// Last poll of one source, for metrics and status pages.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct SourceStatus {
    pub source: String,
    /// Unix seconds of the last poll / last successful poll.
    pub last_poll: Option<i64>,
    pub last_success: Option<i64>,
    pub last_report: Option<SourceReport>,
    pub consecutive_failures: u32,
}

/// Shared, updated after every poll.
#[derive(Debug, Default)]
pub struct IngestStatus {
    inner: Mutex<BTreeMap<String, SourceStatus>>,
}

impl IngestStatus {
    /// The last poll of every source seen so far.
    pub fn last_ingest(&self) -> Vec<SourceStatus> {
        self.inner
            .lock()
            .map(|m| m.values().cloned().collect())
            .unwrap_or_default()
    }

    fn record(&self, st: &SourceState, report: &SourceReport) {
        if let Ok(mut m) = self.inner.lock() {
            m.insert(
                report.source.clone(),
                SourceStatus {
                    source: report.source.clone(),
                    last_poll: st.last_poll,
                    last_success: st.last_success,
                    last_report: Some(report.clone()),
                    consecutive_failures: st.consecutive_failures,
                },
            );
        }
    }
}

/// Where an ingest writes its papers, and keeps the feeds' state (`feeds-state.json`).
#[derive(Clone)]
pub enum FeedStore {
    /// The tantivy index and the process's single writer; the state lives in the index
    /// directory.
    Tantivy {
        index: Arc<PaperIndex>,
        writer: Arc<Mutex<PaperWriter>>,
    },
    /// A Milvus collection (`[index] backend = "milvus"`); the state lives in `state_dir`.
    Milvus {
        store: Arc<crate::index::milvus::MilvusStore>,
        state_dir: PathBuf,
    },
}

impl FeedStore {
    /// The directory of the feeds' state file.
    pub fn state_dir(&self) -> &Path {
        match self {
            FeedStore::Tantivy { index, .. } => index.dir(),
            FeedStore::Milvus { state_dir, .. } => state_dir,
        }
    }

    /// The tantivy index, when papers go to one.
    pub fn index(&self) -> Option<&Arc<PaperIndex>> {
        match self {
            FeedStore::Tantivy { index, .. } => Some(index),
            FeedStore::Milvus { .. } => None,
        }
    }

    /// Papers held (a count query on Milvus: blocking).
    fn num_papers(&self) -> Result<u64, IngestError> {
        match self {
            FeedStore::Tantivy { index, .. } => Ok(index.num_papers()),
            FeedStore::Milvus { store, .. } => Ok(store.counts()?.papers),
        }
    }

    /// The model of the stored vectors, if any.
    fn model_name(&self) -> Option<String> {
        match self {
            FeedStore::Tantivy { index, .. } => index.embedding_model().map(|m| m.name),
            FeedStore::Milvus { store, .. } => Some(store.info().model.clone()),
        }
    }
}

/// Everything an ingest needs; shared with the HTTP server (which also writes through the
/// index's writer). Build it once per process.
pub struct IngestContext {
    pub store: FeedStore,
    pub embedder: Option<Arc<Mutex<Box<dyn Embedder>>>>,
    pub client: Arc<FeedClient>,
    pub options: IngestOptions,
    pub status: Arc<IngestStatus>,
    /// Serializes polls (state file read-modify-write; one poll at a time is also polite).
    poll_lock: tokio::sync::Mutex<()>,
}

impl IngestContext {
    /// A context over an opened index and its writer.
    pub fn new(
        index: Arc<PaperIndex>,
        writer: Arc<Mutex<PaperWriter>>,
        embedder: Option<Arc<Mutex<Box<dyn Embedder>>>>,
        client: Arc<FeedClient>,
        options: IngestOptions,
    ) -> Self {
        Self::with_store(
            FeedStore::Tantivy { index, writer },
            embedder,
            client,
            options,
        )
    }

    /// A context over any [`FeedStore`] (a Milvus collection, say).
    pub fn with_store(
        store: FeedStore,
        embedder: Option<Arc<Mutex<Box<dyn Embedder>>>>,
        client: Arc<FeedClient>,
        options: IngestOptions,
    ) -> Self {
        IngestContext {
            store,
            embedder,
            client,
            options,
            status: Arc::new(IngestStatus::default()),
            poll_lock: tokio::sync::Mutex::new(()),
        }
    }

    /// The last poll of every source (for Prometheus metrics).
    pub fn last_ingest(&self) -> Vec<SourceStatus> {
        self.status.last_ingest()
    }

    fn embedding_name(&self) -> Option<String> {
        let model = self.store.model_name()?;
        self.embedder.as_ref().map(|_| model)
    }

    /// Papers held now (off the async runtime: a network call on Milvus).
    async fn total_papers(&self) -> Result<u64, IngestError> {
        let store = self.store.clone();
        blocking(move || store.num_papers()).await
    }
}

fn now_unix() -> i64 {
    time::OffsetDateTime::now_utc().unix_timestamp()
}

/// [`crate::index::blocking::run_blocking`] for ingest work (parsing, merging, commits, state files).
async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, IngestError> + Send + 'static,
) -> Result<T, IngestError> {
    crate::index::blocking::run_blocking(f).await
}

impl From<tokio::task::JoinError> for IngestError {
    fn from(e: tokio::task::JoinError) -> Self {
        IngestError::Join(e.to_string())
    }
}

/// Parses and applies `parsed` to the index (in `spawn_blocking`).
async fn apply_parsed(
    ctx: &IngestContext,
    source: &str,
    entries: Vec<FeedEntry>,
) -> Result<ApplyStats, IngestError> {
    let store = ctx.store.clone();
    let embedder = ctx.embedder.clone();
    let commit_every = ctx.options.commit_every;
    let progress = ctx.options.progress;
    let source = source.to_string();
    blocking(move || {
        apply::apply(
            &apply::ApplyTarget {
                store: &store,
                embedder: embedder.as_deref(),
                commit_every,
                progress,
                source: &source,
            },
            entries,
        )
    })
    .await
}

/// What fetching a source produced.
enum Fetch {
    /// 304, or the same body as last time.
    NotModified,
    Parsed {
        parsed: ParsedFeed,
        validators: Validators,
        body_hash: Option<u64>,
    },
}

async fn parse_blocking(
    kind: SourceKind,
    bytes: Vec<u8>,
    opts: ParseOptions,
    source: Source,
) -> Result<ParsedFeed, IngestError> {
    blocking(move || Ok(parse_body(kind, &bytes, &opts, &source)?)).await
}

/// Fetches (all pages of) a source.
async fn fetch_source(
    ctx: &IngestContext,
    source: &Source,
    prev: &SourceState,
    report: &mut SourceReport,
) -> Result<Fetch, IngestError> {
    let client = &ctx.client;
    let opts = ctx.options.parse.clone();
    match source.kind {
        SourceKind::ArxivRss | SourceKind::Rss => {
            report.requests += 1;
            match client.get(&source.url, Some(&prev.validators)).await? {
                Fetched::NotModified => Ok(Fetch::NotModified),
                Fetched::Body {
                    bytes, validators, ..
                } => {
                    let hash = state::body_hash(&bytes);
                    if prev.body_hash == Some(hash) {
                        return Ok(Fetch::NotModified);
                    }
                    let parsed = parse_blocking(source.kind, bytes, opts, source.clone()).await?;
                    Ok(Fetch::Parsed {
                        parsed,
                        validators,
                        body_hash: Some(hash),
                    })
                }
            }
        }
        SourceKind::ArxivAtom => {
            let mut all = ParsedFeed::default();
            let mut start = 0u64;
            let mut retried_empty = false;
            while start < source.max_results {
                let n = source.page_size.min(source.max_results - start);
                let url = arxiv_api_url(source, start, n)?;
                client.arxiv_api_gate().await;
                report.requests += 1;
                let bytes = match client.get(&url, None).await? {
                    Fetched::Body { bytes, .. } => bytes,
                    Fetched::NotModified => break,
                };
                let o = opts.clone();
                let (page, info) = blocking(move || {
                    if let Some(msg) = text::sniff_html(&bytes) {
                        return Err(IngestError::Feed(FeedError::NotAFeed(msg)));
                    }
                    Ok(arxiv::parse_atom(&bytes, &o)?)
                })
                .await?;
                let seen = (page.entries.len() + page.skipped.len()) as u64;
                let total = info.total_results.unwrap_or(0);
                if seen == 0 {
                    // arXiv sometimes answers a page inside the result set with no entries;
                    // ask once more before concluding the results ended.
                    if start < total && !retried_empty {
                        retried_empty = true;
                        continue;
                    }
                    break;
                }
                all.entries.extend(page.entries);
                all.skipped.extend(page.skipped);
                all.capped.extend(page.capped);
                start += seen;
                if start >= total {
                    break;
                }
            }
            Ok(Fetch::Parsed {
                parsed: all,
                validators: Validators::default(),
                body_hash: None,
            })
        }
        SourceKind::BiorxivJson => {
            let today = time::OffsetDateTime::now_utc().date();
            let from = today - time::Duration::days(i64::from(source.days));
            let mut all = ParsedFeed::default();
            let mut cursor = 0u64;
            for _ in 0..MAX_PAGES {
                let url = format!(
                    "{}/details/{}/{}/{}/{cursor}",
                    source.url.trim_end_matches('/'),
                    source.server,
                    crate::paper::format_date(from),
                    crate::paper::format_date(today)
                );
                report.requests += 1;
                let bytes = match client.get(&url, None).await? {
                    Fetched::Body { bytes, .. } => bytes,
                    Fetched::NotModified => break,
                };
                let o = opts.clone();
                let server = source.server.clone();
                let (page, info) = blocking(move || {
                    if let Some(msg) = text::sniff_html(&bytes) {
                        return Err(IngestError::Feed(FeedError::NotAFeed(msg)));
                    }
                    Ok(biorxiv::parse_details(&bytes, &o, &server)?)
                })
                .await?;
                let seen = (page.entries.len() + page.skipped.len()) as u64;
                all.entries.extend(page.entries);
                all.skipped.extend(page.skipped);
                all.capped.extend(page.capped);
                cursor += seen;
                if seen == 0 || cursor >= info.total {
                    break;
                }
            }
            Ok(Fetch::Parsed {
                parsed: all,
                validators: Validators::default(),
                body_hash: None,
            })
        }
    }
}

/// Upper bound on pages fetched from one source in one poll.
pub const MAX_PAGES: usize = 1000;

fn arxiv_api_url(source: &Source, start: u64, n: u64) -> Result<String, IngestError> {
    let mut url = reqwest::Url::parse(&source.url).map_err(|e| {
        IngestError::Config(FeedConfigError::Source {
            name: source.name.clone(),
            reason: format!("bad url {:?}: {e}", source.url),
        })
    })?;
    {
        let mut q = url.query_pairs_mut();
        q.append_pair("search_query", source.query.as_deref().unwrap_or(""));
        q.append_pair("id_list", &source.id_list.join(","));
        q.append_pair("start", &start.to_string());
        q.append_pair("max_results", &n.to_string());
        if let Some(s) = &source.sort_by {
            q.append_pair("sortBy", s);
            q.append_pair("sortOrder", "descending");
        }
    }
    Ok(url.to_string())
}

/// Polls one source: fetch, parse, apply, commit, then record its state.
async fn poll_source(
    ctx: &IngestContext,
    source: &Source,
    prev: &SourceState,
) -> (SourceReport, SourceState) {
    let started = Instant::now();
    let mut report = SourceReport::new(source);
    let mut st = prev.clone();
    st.last_poll = Some(now_unix());
    let outcome: Result<(), IngestError> = async {
        match fetch_source(ctx, source, prev, &mut report).await? {
            Fetch::NotModified => {
                report.not_modified = true;
            }
            Fetch::Parsed {
                parsed,
                validators,
                body_hash,
            } => {
                report.add_parsed(&parsed);
                let stats = apply_parsed(ctx, &source.name, parsed.entries).await?;
                report.add_stats(&stats);
                // Only now, after the commit, may the validators say "already have this".
                st.validators = validators;
                st.body_hash = body_hash;
            }
        }
        Ok(())
    }
    .await;
    match outcome {
        Ok(()) => {
            report.ok = true;
            st.last_success = st.last_poll;
            st.consecutive_failures = 0;
        }
        Err(e) => {
            tracing::error!(source = %source.name, error = %e, "poll failed");
            report.error = Some(e.to_string());
            st.consecutive_failures += 1;
        }
    }
    report.duration_ms = started.elapsed().as_millis() as u64;
    st.last_result = report.one_line();
    tracing::info!(source = %source.name, result = %st.last_result, ms = report.duration_ms, "polled");
    (report, st)
}

/// Polls each source once (only the one named `only`, when given), one after the other.
/// Per-source failures are in the summary; the error is for the run as a whole (unknown
/// source name, unreadable state file).
pub async fn poll_once(
    ctx: &IngestContext,
    sources: &[Source],
    only: Option<&str>,
) -> Result<IngestSummary, IngestError> {
    let selected: Vec<&Source> = match only {
        Some(name) => {
            let s: Vec<&Source> = sources.iter().filter(|s| s.name == name).collect();
            if s.is_empty() {
                return Err(IngestError::Config(FeedConfigError::UnknownSource(
                    name.to_string(),
                    sources
                        .iter()
                        .map(|s| s.name.as_str())
                        .collect::<Vec<_>>()
                        .join(", "),
                )));
            }
            s
        }
        None => sources.iter().collect(),
    };
    let _guard = ctx.poll_lock.lock().await;
    let dir = ctx.store.state_dir().to_path_buf();
    let mut state = FeedState::load(&dir)?;
    let mut summary = IngestSummary {
        embedding: ctx.embedding_name(),
        ..Default::default()
    };
    for source in selected {
        let prev = state.sources.get(&source.name).cloned().unwrap_or_default();
        let (report, st) = poll_source(ctx, source, &prev).await;
        ctx.status.record(&st, &report);
        state.sources.insert(source.name.clone(), st);
        let d = dir.clone();
        let snapshot = state.clone();
        blocking(move || Ok(snapshot.save(&d)?)).await?;
        summary.sources.push(report);
    }
    summary.total_papers = ctx.total_papers().await?;
    Ok(summary)
}

/// Ingests a saved capture of `source.kind` (no state, no HTTP).
pub async fn ingest_file(
    ctx: &IngestContext,
    path: &Path,
    source: &Source,
) -> Result<IngestSummary, IngestError> {
    let started = Instant::now();
    let bytes = tokio::fs::read(path).await.map_err(|e| IngestError::Read {
        path: path.to_path_buf(),
        source: e,
    })?;
    let mut report = SourceReport::new(source);
    report.requests = 0;
    let parsed = parse_blocking(
        source.kind,
        bytes,
        ctx.options.parse.clone(),
        source.clone(),
    )
    .await?;
    report.add_parsed(&parsed);
    let stats = apply_parsed(ctx, &source.name, parsed.entries).await?;
    report.add_stats(&stats);
    report.ok = true;
    report.duration_ms = started.elapsed().as_millis() as u64;
    Ok(IngestSummary {
        sources: vec![report],
        total_papers: ctx.total_papers().await?,
        embedding: ctx.embedding_name(),
    })
}

/// Polls every source at its interval until `shutdown` resolves. A poll in progress finishes
/// (and commits) before returning. Intervals count from the last poll recorded in the state
/// file, so a restart does not re-poll everything at once.
pub async fn run_pollers(
    ctx: &IngestContext,
    sources: &[Source],
    shutdown: impl Future<Output = ()>,
) -> Result<(), IngestError> {
    tokio::pin!(shutdown);
    if sources.is_empty() {
        return Ok(());
    }
    let state = FeedState::load(ctx.store.state_dir())?;
    let now = now_unix();
    let base = Instant::now();
    let mut due: Vec<Instant> = sources
        .iter()
        .map(|s| {
            let last = state.sources.get(&s.name).and_then(|st| st.last_poll);
            let wait = last.map_or(0, |l| (l + s.interval.as_secs() as i64 - now).max(0));
            base + Duration::from_secs(wait as u64)
        })
        .collect();
    loop {
        let (i, when) = due
            .iter()
            .enumerate()
            .min_by_key(|(_, t)| **t)
            .map(|(i, t)| (i, *t))
            .unwrap_or((0, base));
        tokio::select! {
            _ = &mut shutdown => return Ok(()),
            _ = tokio::time::sleep_until(when.into()) => {}
        }
        // One failed run (the state file cannot be written, say) must not stop every poller:
        // it is logged and this source tried again at its next interval.
        match poll_once(ctx, sources, Some(&sources[i].name)).await {
            Ok(summary) => {
                for r in &summary.sources {
                    tracing::info!(source = %r.source, result = %r.one_line(), "scheduled poll done");
                }
            }
            Err(e) => {
                tracing::error!(source = %sources[i].name, error = %e, "scheduled poll failed; retrying at the next interval");
            }
        }
        due[i] = Instant::now() + sources[i].interval;
    }
}
