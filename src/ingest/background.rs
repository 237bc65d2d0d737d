//! Background embedding for a serving process: gives every paper that lacks a vector one,
//! newest first, while the server answers.
//!
//! - The worker has its own embedders (one per core, each a one-thread ONNX Runtime session
//!   that sleeps when idle), never the query embedder; each embeds one text per run on a
//!   thread at the lowest CPU priority (nice 19 on Linux), so queries and searches preempt it,
//!   and before each text it waits while a query is being embedded
//!   ([`EmbedProgress::query_started`]): queries go first, and an idle server still embeds
//!   on every core.
//! - Every [`BATCH`] papers are written through the process's single writer and committed at
//!   once: a kill -9 loses at most the batch in flight and a restart resumes from the index
//!   itself (the papers without a vector). The writer lock is held only for that write.
//! - A paper replaced while its vector was computed (another text, or a vector of its own by
//!   then) is left alone and picked up again by the next scan: nothing is embedded twice and
//!   no newer version is overwritten.
//! - Progress (coverage, rate, ETA) is shared through [`EmbedProgress`] and written beside
//!   the index as [`PROGRESS_FILE`] after each batch, for `academichub stats`.

use std::collections::HashSet;
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use serde::{Deserialize, Serialize};

use super::backfill::missing;
use crate::embed::{passage_text, EmbedError, Embedder};
use crate::index::{IndexError, PaperIndex, PaperWriter};
use crate::paper::PaperId;

/// Papers embedded between two commits (and the most texts embedded before the worker looks
/// for newer papers again).
pub const BATCH: usize = 16;
/// How often an idle worker looks for papers without a vector.
pub const IDLE_POLL: Duration = Duration::from_secs(2);
/// Wait after a failed batch before trying again.
pub const RETRY_AFTER: Duration = Duration::from_secs(30);
/// How long the worker keeps its model sessions with nothing to embed.
pub const UNLOAD_AFTER: Duration = Duration::from_secs(60);
/// File beside the index (in its directory) with the last progress of a background run.
pub const PROGRESS_FILE: &str = "embed-progress.json";

/// What the worker is doing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EmbedState {
    /// Looking for work.
    Starting,
    /// Embedding papers.
    Embedding,
    /// Every paper has a vector; waiting for new ones.
    Idle,
    /// The last batch failed; retrying after a pause.
    Retrying,
    /// Stopped (shut down, or an error that retrying cannot fix).
    Stopped,
}

impl EmbedState {
    /// The name JSON uses (`embedding`, `idle`, ...).
    pub fn as_str(self) -> &'static str {
        match self {
            EmbedState::Starting => "starting",
            EmbedState::Embedding => "embedding",
            EmbedState::Idle => "idle",
            EmbedState::Retrying => "retrying",
            EmbedState::Stopped => "stopped",
        }
    }
}

/// A snapshot of background embedding, as `/healthz`, `/metrics`, `stats --json` and the web
/// page show it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CoverageReport {
    pub state: EmbedState,
    /// Model the vectors are computed with.
    pub model: String,
    /// Live papers.
    pub papers: u64,
    /// Live papers with a vector.
    pub with_vectors: u64,
    /// `with_vectors / papers` (1 for an empty index).
    pub coverage: f64,
    /// Papers embedded by this run.
    pub embedded: u64,
    /// Recent rate (papers per second, over the last few batches).
    pub rate_per_sec: f64,
    /// Seconds to full coverage at that rate (`None` before the first batch or when done).
    pub eta_secs: Option<f64>,
    /// The last error, if the last batch failed.
    pub last_error: Option<String>,
    /// When this snapshot was taken (Unix seconds).
    pub updated_unix: u64,
}

/// Shared progress of a background run, and the query-priority signal.
#[derive(Debug)]
pub struct EmbedProgress {
    model: String,
    papers: AtomicU64,
    with_vectors: AtomicU64,
    embedded: AtomicU64,
    state: Mutex<EmbedState>,
    /// Exponentially weighted papers/s.
    rate: Mutex<f64>,
    last_error: Mutex<Option<String>>,
    queries: AtomicUsize,
    stop: AtomicBool,
}

/// Held while a query is embedded: the worker does not start a text meanwhile.
pub struct QueryGuard<'a>(&'a EmbedProgress);

impl Drop for QueryGuard<'_> {
    fn drop(&mut self) {
        self.0.queries.fetch_sub(1, Ordering::SeqCst);
    }
}

impl EmbedProgress {
    pub fn new(model: &str) -> Self {
        EmbedProgress {
            model: model.to_string(),
            papers: AtomicU64::new(0),
            with_vectors: AtomicU64::new(0),
            embedded: AtomicU64::new(0),
            state: Mutex::new(EmbedState::Starting),
            rate: Mutex::new(0.0),
            last_error: Mutex::new(None),
            queries: AtomicUsize::new(0),
            stop: AtomicBool::new(false),
        }
    }

    /// Marks a query embedding in progress until the guard drops.
    pub fn query_started(&self) -> QueryGuard<'_> {
        self.queries.fetch_add(1, Ordering::SeqCst);
        QueryGuard(self)
    }

    /// Asks the worker to stop after the text in flight (its batch is still committed).
    pub fn request_stop(&self) {
        self.stop.store(true, Ordering::SeqCst);
    }

    fn stopping(&self) -> bool {
        self.stop.load(Ordering::SeqCst)
    }

    fn set_state(&self, s: EmbedState) {
        if let Ok(mut g) = self.state.lock() {
            *g = s;
        }
    }

    fn set_counts(&self, papers: u64, with_vectors: u64) {
        self.papers.store(papers, Ordering::SeqCst);
        self.with_vectors.store(with_vectors, Ordering::SeqCst);
    }

    fn record_batch(&self, done: u64, secs: f64) {
        self.embedded.fetch_add(done, Ordering::SeqCst);
        self.with_vectors.fetch_add(done, Ordering::SeqCst);
        if secs > 0.0 && done > 0 {
            if let Ok(mut r) = self.rate.lock() {
                let now = done as f64 / secs;
                *r = if *r == 0.0 { now } else { 0.8 * *r + 0.2 * now };
            }
        }
    }

    fn set_error(&self, e: Option<String>) {
        if let Ok(mut g) = self.last_error.lock() {
            *g = e;
        }
    }

    /// The current snapshot.
    pub fn report(&self) -> CoverageReport {
        let papers = self.papers.load(Ordering::SeqCst);
        let with_vectors = self.with_vectors.load(Ordering::SeqCst).min(papers);
        let rate = self.rate.lock().map(|r| *r).unwrap_or(0.0);
        let state = self.state.lock().map(|s| *s).unwrap_or(EmbedState::Stopped);
        let left = papers - with_vectors;
        CoverageReport {
            state,
            model: self.model.clone(),
            papers,
            with_vectors,
            coverage: crate::index::stats::coverage(with_vectors, papers),
            embedded: self.embedded.load(Ordering::SeqCst),
            rate_per_sec: rate,
            eta_secs: (left > 0 && rate > 0.0).then(|| left as f64 / rate),
            last_error: self.last_error.lock().ok().and_then(|e| e.clone()),
            updated_unix: SystemTime::now()
                .duration_since(SystemTime::UNIX_EPOCH)
                .map(|d| d.as_secs())
                .unwrap_or(0),
        }
    }
}

/// Errors of one batch.
#[derive(Debug, thiserror::Error)]
pub enum BackgroundError {
    #[error(transparent)]
    Index(#[from] IndexError),
    #[error(transparent)]
    Embed(#[from] EmbedError),
}

/// Reads the progress a background run last wrote beside `index_dir` (`None` when there is
/// none or it cannot be read).
pub fn read_progress(index_dir: &Path) -> Option<CoverageReport> {
    let text = std::fs::read_to_string(index_dir.join(PROGRESS_FILE)).ok()?;
    serde_json::from_str(&text).ok()
}

fn write_progress(index_dir: &Path, report: &CoverageReport) {
    let Ok(json) = serde_json::to_vec_pretty(report) else {
        return;
    };
    if let Err(e) = crate::index::write_atomic(&index_dir.join(PROGRESS_FILE), &json) {
        tracing::debug!(error = %e, "cannot write {PROGRESS_FILE}");
    }
}

/// Runs the worker until [`EmbedProgress::request_stop`]: while papers lack a vector it
/// embeds them in batches with the embedders `load` builds (claiming their model for the
/// index: an index with another model's vectors is an error); after [`UNLOAD_AFTER`] with
/// nothing to do it drops them (their memory goes back) and loads them again when papers
/// arrive. Blocking: run it on its own thread.
pub fn run(
    index: &PaperIndex,
    writer: &Mutex<PaperWriter>,
    load: &mut dyn FnMut() -> Result<Vec<Box<dyn Embedder>>, String>,
    progress: &EmbedProgress,
) -> Result<(), String> {
    let mut last_log = Instant::now();
    let mut failed = HashSet::new();
    let mut embedders: Option<Vec<Box<dyn Embedder>>> = None;
    let mut idle_since: Option<Instant> = None;
    while !progress.stopping() {
        if embedders.is_none() {
            if !work_left(index, progress, failed.len()).map_err(|e| e.to_string())? {
                idle(index, progress);
                continue;
            }
            let e = load()?;
            if let Some(first) = e.first() {
                index
                    .claim_embedding_model(first.id())
                    .map_err(|e| e.to_string())?;
            }
            embedders = Some(e);
        }
        let Some(e) = embedders.as_mut() else {
            continue;
        };
        match run_batch(index, writer, e, progress, &mut failed) {
            Ok(0) => {
                let since = *idle_since.get_or_insert_with(Instant::now);
                if since.elapsed() >= UNLOAD_AFTER {
                    embedders = None;
                    idle_since = None;
                    tracing::info!("background embedding idle: model sessions released until new papers arrive");
                }
                idle(index, progress);
            }
            Ok(_) => {
                idle_since = None;
                progress.set_error(None);
                let r = progress.report();
                write_progress(index.dir(), &r);
                if last_log.elapsed() >= Duration::from_secs(60) {
                    last_log = Instant::now();
                    tracing::info!(
                        with_vectors = r.with_vectors,
                        papers = r.papers,
                        rate = format!("{:.1}/s", r.rate_per_sec),
                        eta_min = r.eta_secs.map(|s| (s / 60.0).round()),
                        "background embedding"
                    );
                }
            }
            Err(e) => {
                tracing::warn!(error = %e, retry_in_s = RETRY_AFTER.as_secs(), "background embedding batch failed");
                progress.set_error(Some(e.to_string()));
                progress.set_state(EmbedState::Retrying);
                write_progress(index.dir(), &progress.report());
                sleep_unless_stopped(progress, RETRY_AFTER);
            }
        }
    }
    progress.set_state(EmbedState::Stopped);
    write_progress(index.dir(), &progress.report());
    Ok(())
}

/// Idle: nothing to embed now; look again after [`IDLE_POLL`].
fn idle(index: &PaperIndex, progress: &EmbedProgress) {
    progress.set_state(EmbedState::Idle);
    write_progress(index.dir(), &progress.report());
    sleep_unless_stopped(progress, IDLE_POLL);
}

/// Whether more papers lack a vector than the `skipped` ones the model failed on (and the
/// live counts, into `progress`).
fn work_left(
    index: &PaperIndex,
    progress: &EmbedProgress,
    skipped: usize,
) -> Result<bool, IndexError> {
    index.reload()?;
    let searcher = index.reader().searcher();
    let papers = searcher.num_docs();
    let with = crate::index::stats::count_vectors(&searcher)?;
    progress.set_counts(papers, with);
    Ok(with + (skipped as u64) < papers)
}

fn sleep_unless_stopped(progress: &EmbedProgress, total: Duration) {
    let until = Instant::now() + total;
    while !progress.stopping() && Instant::now() < until {
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// One batch: the newest [`BATCH`] papers without a vector, shared out over `embedders` (one
/// thread each, at the lowest CPU priority), each text embedded alone after any query in
/// progress; then written and committed. Returns how many got a vector (at least 1 while
/// papers lack one, so a caller loops until it returns 0). A text the model fails on is
/// skipped (logged, and counted in `failed`) for the rest of the run rather than retried
/// forever.
pub fn run_batch(
    index: &PaperIndex,
    writer: &Mutex<PaperWriter>,
    embedders: &mut [Box<dyn Embedder>],
    progress: &EmbedProgress,
    failed: &mut HashSet<PaperId>,
) -> Result<u64, BackgroundError> {
    index.reload()?;
    let searcher = index.reader().searcher();
    let (mut todo, already) = missing(index, &searcher, None)?;
    progress.set_counts(already + todo.len() as u64, already);
    if !failed.is_empty() {
        todo.retain(|(_, addr)| {
            index
                .id_at(&searcher, *addr)
                .map_or(true, |id| !failed.contains(&id))
        });
    }
    if todo.is_empty() || embedders.is_empty() {
        return Ok(0);
    }
    progress.set_state(EmbedState::Embedding);
    let started = Instant::now();
    let mut papers = Vec::with_capacity(BATCH);
    for (_, addr) in todo.iter().take(BATCH) {
        papers.push(index.paper_at(&searcher, *addr)?);
    }
    let results = embed_shared(embedders, &papers, progress);
    let mut done = Vec::with_capacity(papers.len());
    let mut by_index: Vec<Option<Vec<f32>>> = vec![None; papers.len()];
    for (i, v) in results {
        match v {
            Ok(v) => by_index[i] = Some(v),
            Err(e) => {
                tracing::warn!(id = %papers[i].id, error = %e, "cannot embed this paper: skipped until restart");
                failed.insert(papers[i].id.clone());
            }
        }
    }
    for (paper, v) in papers.into_iter().zip(by_index) {
        if let Some(v) = v {
            done.push((paper, v));
        }
    }
    let written = write_batch(index, writer, &done)?;
    progress.record_batch(written, started.elapsed().as_secs_f64());
    // Not idle even when every paper changed meanwhile: the next scan picks them up.
    Ok(written.max(1))
}

/// A paper's position in its batch and its vector (or why the model failed on it).
type Embedded = (usize, Result<Vec<f32>, EmbedError>);

/// Embeds `papers` with `embedders` in parallel, paper `i` on embedder `i % n`, each on its own
/// thread at the lowest CPU priority, one text per run, each text after any query in progress.
fn embed_shared(
    embedders: &mut [Box<dyn Embedder>],
    papers: &[crate::paper::Paper],
    progress: &EmbedProgress,
) -> Vec<Embedded> {
    let n = embedders.len();
    std::thread::scope(|scope| {
        let handles: Vec<_> = embedders
            .iter_mut()
            .enumerate()
            .map(|(w, e)| scope.spawn(move || embed_share(e.as_mut(), papers, w, n, progress)))
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().unwrap_or_default())
            .collect()
    })
}

/// Worker `w` of `n`: papers `w, w + n, ...`.
fn embed_share(
    e: &mut dyn Embedder,
    papers: &[crate::paper::Paper],
    w: usize,
    n: usize,
    progress: &EmbedProgress,
) -> Vec<Embedded> {
    lowest_cpu_priority();
    let mut out = Vec::new();
    for (i, paper) in papers.iter().enumerate().skip(w).step_by(n) {
        if progress.stopping() && !out.is_empty() {
            break;
        }
        while progress.queries.load(Ordering::SeqCst) > 0 && !progress.stopping() {
            std::thread::sleep(Duration::from_millis(1));
        }
        let text = passage_text(&paper.title, &paper.abstract_text);
        let v = e
            .embed_passages(std::slice::from_ref(&text))
            .and_then(|mut v| {
                v.pop()
                    .ok_or_else(|| EmbedError::Embed("no vector returned".into()))
            });
        out.push((i, v));
    }
    out
}

/// Lowers the calling thread to the lowest CPU priority (nice 19), so that request threads
/// preempt it. Linux applies `setpriority` to one thread given its id; elsewhere a no-op.
fn lowest_cpu_priority() {
    #[cfg(target_os = "linux")]
    // SAFETY: gettid and setpriority take no pointers; a failure only leaves the priority as is.
    unsafe {
        let tid = libc::gettid();
        if libc::setpriority(libc::PRIO_PROCESS, tid as libc::id_t, 19) != 0 {
            tracing::debug!("cannot lower the background embedding thread's priority");
        }
    }
}

/// Writes the vectors of papers still stored as they were embedded and still without one;
/// commits and reloads. Returns how many were written.
fn write_batch(
    index: &PaperIndex,
    writer: &Mutex<PaperWriter>,
    done: &[(crate::paper::Paper, Vec<f32>)],
) -> Result<u64, IndexError> {
    let mut w = writer
        .lock()
        .map_err(|_| IndexError::Poisoned { what: "writer" })?;
    // Every other writer commits before it lets go of the lock: the reloaded searcher sees
    // the index as it now is.
    index.reload()?;
    let searcher = index.reader().searcher();
    let mut written = 0u64;
    for (paper, v) in done {
        match index.stored(&searcher, &paper.id)? {
            // The current version (its other fields may have changed meanwhile) gets the
            // vector if its text is the one embedded.
            Some(now) if now.vector.is_none() && now.same_text(paper) => {
                w.upsert_with_vector(&now.paper, Some(v))?;
                written += 1;
            }
            _ => {}
        }
    }
    if written > 0 {
        w.commit()?;
        index.reload()?;
    }
    Ok(written)
}

/// Starts the worker on its own thread; returns the shared progress and the thread handle.
/// `load` builds the worker's embedders on that thread when there is work (model sessions
/// take seconds to load: the server answers meanwhile), again after an idle release; if it
/// fails, the worker stops with the error in its report.
pub fn spawn<F>(
    index: Arc<PaperIndex>,
    writer: Arc<Mutex<PaperWriter>>,
    model: &str,
    mut load: F,
) -> std::io::Result<(Arc<EmbedProgress>, std::thread::JoinHandle<()>)>
where
    F: FnMut() -> Result<Vec<Box<dyn Embedder>>, String> + Send + 'static,
{
    let progress = Arc::new(EmbedProgress::new(model));
    let p = progress.clone();
    let handle = std::thread::Builder::new()
        .name("embed-background".into())
        .spawn(move || {
            if let Err(e) = run(&index, &writer, &mut load, &p) {
                tracing::error!(error = %e, "background embedding stopped");
                p.set_error(Some(e));
                p.set_state(EmbedState::Stopped);
                write_progress(index.dir(), &p.report());
            }
        })?;
    Ok((progress, handle))
}

/// How often an idle Milvus worker looks for papers without a vector (a query to Milvus).
pub const MILVUS_IDLE_POLL: Duration = Duration::from_secs(10);

/// Papers the Milvus worker embeds per round (one acknowledged upsert per [`BATCH`] of them,
/// then a flush, so searches see them from indexed segments).
pub const MILVUS_ROUND: u64 = 256;

/// Background embedding for a server on the Milvus backend: a thread that gives papers of the
/// collection without a vector one ([`super::embed_missing_milvus`]), [`MILVUS_ROUND`] at a
/// time, looking again every [`MILVUS_IDLE_POLL`] when none is left (one query for a single
/// such paper, not a count) and [`RETRY_AFTER`] after a failure (Milvus down: nothing is lost,
/// the papers stay without a vector until it is back). Other processes (`academichub embed
/// --worker I/N`) may fill the same collection at once. Progress is shared as for the tantivy
/// worker; [`EmbedProgress::request_stop`] stops it within a round.
pub fn spawn_milvus(
    store: Arc<crate::index::milvus::MilvusStore>,
    mut embedder: Box<dyn Embedder>,
) -> std::io::Result<(Arc<EmbedProgress>, std::thread::JoinHandle<()>)> {
    let progress = Arc::new(EmbedProgress::new(&embedder.id().name));
    let shared = progress.clone();
    let pause = move |d: Duration, p: &EmbedProgress| {
        let until = Instant::now() + d;
        while Instant::now() < until && !p.stopping() {
            std::thread::sleep(Duration::from_millis(100));
        }
    };
    let handle = std::thread::Builder::new()
        .name("milvus-embed".into())
        .spawn(move || {
            let p = &*shared;
            // Counted once here; then each round's report says how many papers there are.
            if let Ok(c) = store.counts() {
                p.set_counts(c.papers, c.with_vectors);
            }
            while !p.stopping() {
                // A cheap look first (one paper without a vector, or none): counting takes
                // hundreds of milliseconds on milvus-lite, too much to do every few seconds
                // beside the searches.
                match store.without_vectors(1) {
                    Ok(next) if next.is_empty() => {
                        p.set_state(EmbedState::Idle);
                        p.set_error(None);
                        pause(MILVUS_IDLE_POLL, p);
                        continue;
                    }
                    Ok(_) => {}
                    Err(e) => {
                        tracing::warn!(error = %e, "background embedding cannot read Milvus; retrying later");
                        p.set_error(Some(e.to_string()));
                        p.set_state(EmbedState::Retrying);
                        pause(RETRY_AFTER, p);
                        continue;
                    }
                }
                let started = Instant::now();
                match super::embed_missing_milvus(
                    &store,
                    &mut *embedder,
                    Some(MILVUS_ROUND),
                    None,
                    false,
                ) {
                    Ok(r) => {
                        p.set_error(None);
                        if r.embedded > 0 {
                            p.set_state(EmbedState::Embedding);
                            p.record_batch(r.embedded, started.elapsed().as_secs_f64());
                            tracing::info!(
                                embedded = r.embedded,
                                remaining = r.remaining,
                                "background embedding: vectors written to Milvus"
                            );
                        } else {
                            // Another worker took them meanwhile.
                            p.set_state(EmbedState::Idle);
                            pause(MILVUS_IDLE_POLL, p);
                        }
                        let with_vectors = r.already + r.embedded;
                        p.set_counts(with_vectors + r.remaining, with_vectors);
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, "background embedding failed; retrying later");
                        p.set_error(Some(e.to_string()));
                        p.set_state(EmbedState::Retrying);
                        pause(RETRY_AFTER, p);
                    }
                }
            }
            p.set_state(EmbedState::Stopped);
        })?;
    Ok((progress, handle))
}
