//! `academichub serve`: the HTTP API and the web page.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use academichub::http::{self, AppState};
use academichub::search::QueryEmbedder;
use academichub::PaperIndex;
use anyhow::Context;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Index directory (opened once; a fresh searcher per request).
    #[arg(long, env = "ACADEMICHUB_INDEX", default_value_os_t = super::default_index())]
    index: PathBuf,
    /// Listen address. Default: `[server] addr` of the config file, else 127.0.0.1:8080.
    #[arg(long)]
    addr: Option<String>,
    #[command(flatten)]
    model: super::ModelArgs,
    /// Do not embed papers that lack a vector in the background. By default `serve` gives
    /// every such paper (imported, ingested or upserted) a vector, newest first, with the
    /// index's model (for an index without vectors: `--model`, else `[models] default`, else
    /// me5-small), committing every 16 papers; it then holds the index writer.
    #[arg(long)]
    no_background_embed: bool,
    /// Background embedding threads (one model session each, at the lowest CPU priority so
    /// requests preempt them). Default: one per core.
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..=64))]
    background_threads: Option<u64>,
}

pub fn run(a: Args) -> anyhow::Result<ExitCode> {
    super::init_logging("info", true);
    let config = a.model.config()?;
    let mut server = config.server.clone();
    if let Some(addr) = &a.addr {
        server.addr = addr.clone();
    }
    server.check().map_err(anyhow::Error::msg)?;
    let addr: SocketAddr = server.addr.parse().with_context(|| {
        format!(
            "invalid listen address {:?} (use host:port, e.g. 127.0.0.1:8080)",
            server.addr
        )
    })?;
    if config.index.backend == academichub::config::Backend::Milvus {
        return run_milvus(&a, &config, server, addr);
    }
    let index = Arc::new(PaperIndex::open(&a.index)?);
    let mut state = AppState::new(index.clone(), server);
    let papers = index.num_papers();
    let with_vectors =
        academichub::index::stats::count_vectors(&index.reader().searcher()).unwrap_or(0);
    // Background embedding runs when some paper lacks a vector, or new ones can arrive.
    let sources = academichub::ingest::feeds::build_sources(&config.sources)?;
    let writes_possible = state.token.is_some() || !sources.is_empty();
    let background_wanted = !a.no_background_embed && (with_vectors < papers || writes_possible);
    let mut background_model = None;
    if index.embedding_model().is_some() || background_wanted {
        // The query embedder is one thread that sleeps when idle: a hybrid search ranks its
        // BM25 leg on the other core meanwhile, and the scans need both the moment after.
        match a
            .model
            .load_threads(Some(&index), academichub::embed::Threads::Searching)
        {
            Ok(mut e) => {
                // A fresh index takes the model now: its vectors come from the worker.
                if index.embedding_model().is_none() {
                    if let Err(err) =
                        index.claim_embedding_model(academichub::embed::Embedder::id(&e))
                    {
                        tracing::warn!(error = %err, "cannot record the embedding model in the index");
                    }
                }
                match QueryEmbedder::for_index(&index, Ok(&mut e)).unavailable() {
                    None => {
                        tracing::info!(model = %e.spec().name, "embedding model loaded: dense and hybrid search enabled");
                        background_model = Some(e.spec().clone());
                        state = state.with_embedder(Box::new(e));
                    }
                    Some(why) => {
                        tracing::warn!(error = %why, "dense search and background embedding disabled");
                        let why = why.to_string();
                        state = state.without_embedder(why);
                    }
                }
            }
            Err(err) => {
                let why = crate::describe(&err);
                tracing::warn!(error = %why, "embedding model unavailable: dense search disabled, hybrid falls back to bm25");
                state = state.without_embedder(why);
            }
        }
    } else {
        state = state.without_embedder(format!(
            "the index has no vectors (run `academichub embed --index {}`)",
            a.index.display()
        ));
    }
    // After the model block: a fresh index has taken the model by now.
    if index.embedding_model().is_some() {
        spawn_vector_warmer(index.clone());
    }
    if config.llm.enabled() {
        match academichub::briefing::llm::LlmClient::new(&config.llm) {
            Ok(client) => {
                // A timed-out attempt is not retried; fast failures (5xx, 429) are, within
                // a few seconds of slack.
                let budget = std::time::Duration::from_secs(config.llm.timeout_secs + 5);
                tracing::info!(model = %client.model(), "briefings get an LLM narrative");
                state = state.with_llm(client, budget);
            }
            Err(err) => {
                tracing::warn!(error = %err, "no LLM narrative: briefings stay extractive")
            }
        }
    }
    let background_model = background_model.filter(|_| background_wanted);
    if writes_possible || background_model.is_some() {
        state = match state.clone().open_writer() {
            Ok(s) => s,
            Err(err) => {
                tracing::warn!(error = %err, "writes will answer 503 index_busy until restarted");
                state
            }
        };
    } else {
        tracing::info!(
            "write endpoints disabled: set [server] token or ACADEMICHUB_TOKEN to enable them"
        );
    }
    let mut background = None;
    if let (Some(spec), Some(writer)) = (&background_model, &state.writer) {
        let workers = a.background_threads.map_or_else(
            || std::thread::available_parallelism().map_or(1, |n| n.get()),
            |n| n as usize,
        );
        let (model_args, load_spec) = (a.model.clone(), spec.clone());
        let load = move || {
            (0..workers)
                .map(|_| {
                    model_args
                        .load_with(&load_spec, academichub::embed::Threads::Background)
                        .map(|e| Box::new(e) as Box<dyn academichub::embed::Embedder>)
                        .map_err(|e| crate::describe(&e))
                })
                .collect()
        };
        match academichub::ingest::background::spawn(
            index.clone(),
            writer.clone(),
            &spec.name,
            load,
        ) {
            Ok((progress, handle)) => {
                tracing::info!(papers, with_vectors, workers, model = %spec.name, "embedding papers without a vector in the background (newest first)");
                state = state.with_background(progress.clone());
                background = Some((progress, handle));
            }
            Err(err) => tracing::warn!(error = %err, "cannot start background embedding"),
        }
    }
    // Feed pollers: every configured source at its interval in the background, and
    // `POST /api/ingest` polls on demand; both write through the server's single writer.
    let feeds = match (&state.writer, sources.is_empty()) {
        (Some(writer), false) => {
            let store = academichub::ingest::feeds::FeedStore::Tantivy {
                index: index.clone(),
                writer: writer.clone(),
            };
            let (wired, feeds) = wire_feeds(state, store, sources, &config)?;
            state = wired;
            Some(feeds)
        }
        (None, false) => {
            tracing::warn!(
                "feed sources configured but the index writer is unavailable: pollers disabled"
            );
            None
        }
        _ => None,
    };
    let digests = Digests::spawn(&state, &config, addr)?;
    // The dictionary of query translation, loaded once before the first request.
    match academichub::search::translate::shared() {
        Ok(d) => eprintln!("query translation: CC-CEDICT, {} Chinese words", d.len()),
        Err(why) => eprintln!("warning: Chinese queries will not be translated: {why}"),
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    runtime.block_on(async move {
        let listener = tokio::net::TcpListener::bind(addr)
            .await
            .with_context(|| format!("cannot listen on {addr}"))?;
        let local = listener.local_addr()?;
        tracing::info!(papers = index.num_papers(), index = %a.index.display(), "serving");
        println!("AcademicHub is serving {} papers at http://{local}/ (API: http://{local}/api/openapi.json); Ctrl-C stops it", index.num_papers());
        let (stop_tx, pollers) = spawn_pollers(feeds);
        http::serve(listener, state, shutdown_signal()).await?;
        // Let a poll in progress finish and commit.
        let _ = stop_tx.send(true);
        if let Some(p) = pollers {
            let _ = p.await;
        }
        digests.stop().await;
        stop_background(background).await;
        tracing::info!("stopped");
        anyhow::Ok(())
    })?;
    Ok(ExitCode::SUCCESS)
}

/// The vocabulary thread of `serve` on Milvus: reads (or draws) the collection's vocabulary
/// sample, retrying every minute while Milvus cannot give it, then draws it again hourly when
/// the collection has outgrown it (a server started on a small collection its feeds fill).
fn keep_vocabulary(store: &academichub::index::milvus::MilvusStore) {
    use academichub::search::milvus::{load_vocabulary, refresh_vocabulary};
    let mut ready = false;
    loop {
        let drawn = if ready {
            refresh_vocabulary(store)
        } else {
            load_vocabulary(store).map(|_| true)
        };
        match drawn {
            Ok(true) => {
                ready = true;
                tracing::info!("query translation ready (vocabulary sample read)");
            }
            Ok(false) => {}
            Err(why) => tracing::warn!(
                error = %why,
                "Chinese words are searched untranslated until the vocabulary sample is read"
            ),
        }
        let pause = if ready { 3_600 } else { 60 };
        std::thread::sleep(std::time::Duration::from_secs(pause));
    }
}

/// `serve` on the Milvus backend (`[index] backend = "milvus"`): search, papers by id,
/// similar papers, the newest papers, `POST /api/papers`, `/healthz`, `/metrics` and the web
/// page over the collection of `[milvus]`, with the collection's model for queries; a
/// background thread gives papers without a vector one, and the feed pollers (and `POST
/// /api/ingest`) write to the collection, keeping their state in `--index`, where radars and
/// their delivery logs live too (radars, feeds, digests and briefings rank the collection's
/// papers). An unreachable
/// Milvus stops the start with its address; later, requests that meet it answer 503
/// `backend_unavailable`.
fn run_milvus(
    a: &Args,
    config: &academichub::config::Config,
    server: academichub::http::ServerConfig,
    addr: SocketAddr,
) -> anyhow::Result<ExitCode> {
    use academichub::index::milvus::MilvusStore;
    // Radars, their delivery logs and the feeds' state live in the --index directory.
    std::fs::create_dir_all(&a.index).with_context(|| {
        format!(
            "cannot create the local state directory {}",
            a.index.display()
        )
    })?;
    let store = Arc::new(
        MilvusStore::open(&config.milvus)
            .with_context(|| {
                format!(
                    "cannot serve the Milvus collection {:?} at {}",
                    config.milvus.collection, config.milvus.uri
                )
            })?
            .with_state_dir(a.index.clone()),
    );
    let mut state =
        AppState::on_backend(academichub::search::Backend::Milvus(store.clone()), server);
    let model = store.info().model.clone();
    // The query embedder is one thread that sleeps when idle: the server's other work needs
    // the cores.
    match a
        .model
        .load_named_with(&model, academichub::embed::Threads::Searching)
    {
        Ok(e) => match store.check_model(academichub::embed::Embedder::id(&e)) {
            Ok(()) => {
                tracing::info!(model = %e.spec().name, "embedding model loaded: dense and hybrid search enabled");
                state = state.with_embedder(Box::new(e));
            }
            Err(err) => {
                tracing::warn!(error = %err, "dense search disabled");
                state = state.without_embedder(err.to_string());
            }
        },
        Err(err) => {
            let why = crate::describe(&err);
            tracing::warn!(error = %why, "embedding model unavailable: dense search disabled, hybrid falls back to bm25");
            state = state.without_embedder(why);
        }
    }
    // Query translation reads the vocabulary sample of the collection (drawn the first time),
    // off the request path: Chinese questions meanwhile are searched as they are, with a
    // warning.
    {
        let store = store.clone();
        std::thread::Builder::new()
            .name("vocabulary".into())
            .spawn(move || keep_vocabulary(&store))
            .context("cannot start the vocabulary thread")?;
    }
    let mut worker = None;
    if !a.no_background_embed && state.embedder.is_some() {
        let spec = academichub::embed::ModelSpec::named(&a.model.model_name_or(&model))?;
        match a
            .model
            .load_with(&spec, academichub::embed::Threads::Background)
        {
            Ok(e) => {
                match academichub::ingest::background::spawn_milvus(store.clone(), Box::new(e)) {
                    Ok((progress, handle)) => {
                        tracing::info!(model = %spec.name, "embedding papers without a vector in the background");
                        state = state.with_background(progress.clone());
                        worker = Some((progress, handle));
                    }
                    Err(err) => tracing::warn!(error = %err, "cannot start background embedding"),
                }
            }
            Err(err) => tracing::warn!(error = %crate::describe(&err), "no background embedding"),
        }
    }
    // Feed pollers write to the collection; their state stays in the --index directory.
    let sources = academichub::ingest::feeds::build_sources(&config.sources)?;
    let feeds = if sources.is_empty() {
        None
    } else {
        let store = academichub::ingest::feeds::FeedStore::Milvus {
            store: store.clone(),
            state_dir: a.index.clone(),
        };
        let (wired, feeds) = wire_feeds(state, store, sources, config)?;
        state = wired;
        Some(feeds)
    };
    let digests = Digests::spawn(&state, config, addr)?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    let papers = store.counts()?.papers;
    runtime.block_on(async move {
        let listener = tokio::net::TcpListener::bind(addr)
            .await
            .with_context(|| format!("cannot listen on {addr}"))?;
        let local = listener.local_addr()?;
        tracing::info!(papers, collection = %config.milvus.collection, uri = %config.milvus.uri, "serving");
        println!("AcademicHub is serving {papers} papers of the Milvus collection {:?} at http://{local}/ (API: http://{local}/api/openapi.json); Ctrl-C stops it", config.milvus.collection);
        let (stop_tx, pollers) = spawn_pollers(feeds);
        http::serve(listener, state, shutdown_signal()).await?;
        // Let a poll in progress finish and write.
        let _ = stop_tx.send(true);
        if let Some(p) = pollers {
            let _ = p.await;
        }
        digests.stop().await;
        stop_background(worker).await;
        tracing::info!("stopped");
        anyhow::Ok(())
    })?;
    Ok(ExitCode::SUCCESS)
}

/// Stops the background embedder, if one runs: it writes what it has embedded, then stops.
async fn stop_background(
    worker: Option<(
        Arc<academichub::ingest::background::EmbedProgress>,
        std::thread::JoinHandle<()>,
    )>,
) {
    if let Some((progress, handle)) = worker {
        progress.request_stop();
        let _ = tokio::task::spawn_blocking(move || handle.join()).await;
    }
}

/// What the feed pollers need: the ingest context and the sources.
type Feeds = (
    Arc<academichub::ingest::feeds::IngestContext>,
    Arc<Vec<academichub::ingest::feeds::Source>>,
);

/// Wires feed ingestion into `state` (`POST /api/ingest`) over `store`, and returns what the
/// pollers need. With background embedding, ingestion leaves vectors to the worker.
fn wire_feeds(
    state: AppState,
    store: academichub::ingest::feeds::FeedStore,
    sources: Vec<academichub::ingest::feeds::Source>,
    config: &academichub::config::Config,
) -> anyhow::Result<(AppState, Feeds)> {
    let client = academichub::ingest::feeds::FeedClient::new(config.ingest.client_config()?)?;
    let ctx = Arc::new(academichub::ingest::feeds::IngestContext::with_store(
        store,
        state
            .embedder
            .clone()
            .filter(|_| state.background.is_none()),
        Arc::new(client),
        academichub::ingest::feeds::IngestOptions::from_config(&config.ingest),
    ));
    let sources = Arc::new(sources);
    let metrics = state.metrics.clone();
    let state = state.with_ingest(Arc::new(FeedTrigger {
        ctx: ctx.clone(),
        sources: sources.clone(),
        metrics,
    }));
    tracing::info!(sources = sources.len(), "feed pollers enabled");
    Ok((state, (ctx, sources)))
}

/// Starts the feed pollers (when there are feeds) on the current runtime; they stop, after
/// the poll in progress, once `true` is sent on the returned channel.
fn spawn_pollers(
    feeds: Option<Feeds>,
) -> (
    tokio::sync::watch::Sender<bool>,
    Option<tokio::task::JoinHandle<()>>,
) {
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let pollers = feeds.map(|(ctx, sources)| {
        let mut rx = stop_rx.clone();
        tokio::spawn(async move {
            let stop = async move {
                let _ = rx.wait_for(|s| *s).await;
            };
            if let Err(e) = academichub::ingest::feeds::run_pollers(&ctx, &sources, stop).await {
                tracing::error!(error = %e, "feed pollers stopped");
            }
        })
    });
    (stop_tx, pollers)
}

/// `POST /api/ingest`: one poll of every configured source (or the one named).
struct FeedTrigger {
    ctx: Arc<academichub::ingest::feeds::IngestContext>,
    sources: Arc<Vec<academichub::ingest::feeds::Source>>,
    metrics: Arc<academichub::http::metrics::Metrics>,
}

impl academichub::http::state::IngestTrigger for FeedTrigger {
    fn trigger(&self, source: Option<String>) -> academichub::http::state::IngestFuture {
        let (ctx, sources, metrics) =
            (self.ctx.clone(), self.sources.clone(), self.metrics.clone());
        Box::pin(async move {
            let summary = academichub::ingest::feeds::poll_once(&ctx, &sources, source.as_deref())
                .await
                .map_err(|e| academichub::http::IngestFailure {
                    message: e.to_string(),
                    storage_full: e.is_storage_full(),
                })?;
            for r in &summary.sources {
                metrics.record_ingest(&r.source, r.new + r.updated);
            }
            serde_json::to_value(&summary)
                .map_err(|e| academichub::http::IngestFailure::from(e.to_string()))
        })
    }
}

/// Resolves on Ctrl-C or SIGTERM.
/// One scheduled digest: built with the query embedder (lent per radar, released before the
/// network), sent with the mailer's retries, logged; a deleted radar is skipped with a log
/// line.
/// The scheduled email digests of `[[digest]]`, sent from a thread of their own.
struct Digests {
    stop: Arc<std::sync::atomic::AtomicBool>,
    handle: Option<std::thread::JoinHandle<()>>,
}

impl Digests {
    /// Checks the schedules (a bad address, time or `[smtp]` stops the start) and starts
    /// sending them over the server's backend.
    fn spawn(
        state: &AppState,
        config: &academichub::config::Config,
        addr: SocketAddr,
    ) -> anyhow::Result<Digests> {
        let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
        if config.digest.is_empty() {
            return Ok(Digests { stop, handle: None });
        }
        academichub::delivery::schedule::validate(&config.digest)?;
        let smtp = config.smtp.as_ref().ok_or_else(|| {
            anyhow::anyhow!("[[digest]] needs an [smtp] section (host, from, tls)")
        })?;
        let mailer = academichub::delivery::mail::Mailer::new(smtp)?;
        for s in &config.digest {
            for r in &s.radars {
                if academichub::radar::get_radar(academichub::radar::source::of(&state.backend), r)
                    .is_err()
                {
                    eprintln!("warning: [[digest]] names radar {r:?}, which does not exist (yet): skipped until it does");
                }
            }
        }
        let st = state.clone();
        let base = format!("http://{addr}");
        eprintln!(
            "email digests: {} scheduled through {}:{}",
            config.digest.len(),
            smtp.host,
            smtp.port
                .map(|p| p.to_string())
                .unwrap_or_else(|| "default port".into())
        );
        let handle = academichub::delivery::schedule::spawn(
            config.digest.clone(),
            stop.clone(),
            move |s| scheduled_digest(&st, s, &mailer, &base),
        )?;
        Ok(Digests {
            stop,
            handle: Some(handle),
        })
    }

    /// Stops the schedule thread. It checks the flag every second; a digest in the middle of
    /// its SMTP retries is not waited for (its papers stay undelivered: they are marked only
    /// after a send succeeds).
    async fn stop(self) {
        let Some(handle) = self.handle else {
            return;
        };
        self.stop.store(true, std::sync::atomic::Ordering::SeqCst);
        let joined = tokio::time::timeout(
            std::time::Duration::from_secs(5),
            tokio::task::spawn_blocking(move || handle.join()),
        )
        .await;
        if joined.is_err() {
            tracing::warn!("a digest was still being sent at shutdown; it was abandoned and its papers stay undelivered");
        }
    }
}

fn scheduled_digest(
    state: &AppState,
    s: &academichub::delivery::schedule::DigestSchedule,
    mailer: &academichub::delivery::mail::Mailer,
    base: &str,
) {
    let today = academichub::radar::rank::today_utc();
    let source = academichub::radar::source::of(&state.backend);
    // The query embedder is lent for one radar's ranking at a time.
    let built = academichub::delivery::digest::build_with(
        source,
        &s.request(),
        today,
        |rank| state.with_query_embedder(|mut e| rank(e.embedder())),
        true,
    );
    let result =
        built.and_then(|d| academichub::delivery::deliver(source, &d, &s.to, mailer, base));
    match result {
        Ok(o) if o.sent => {
            tracing::info!(radars = ?s.radars, papers = o.papers, to = ?o.recipients, "digest sent")
        }
        Ok(o) => {
            tracing::info!(radars = ?s.radars, missing = ?o.missing, "digest: nothing new, no message sent")
        }
        Err(e) => {
            tracing::error!(radars = ?s.radars, error = %e, "digest not sent; its papers stay undelivered")
        }
    }
}

/// How often the vector warmer looks for segments no search has decoded yet.
const WARM_EVERY: std::time::Duration = std::time::Duration::from_secs(2);

/// Decodes the stored vectors of every segment for the dense scan off the request path: all of
/// them at start-up (logged with the time it took), then those of each new segment (commits,
/// merges) within [`WARM_EVERY`]; then builds the inverted lists of large segments
/// ([`academichub::index::ivf`]). A search that needs a segment first waits for its one
/// decode instead of starting another; it does not wait for lists.
fn spawn_vector_warmer(index: Arc<PaperIndex>) {
    let spawned = std::thread::Builder::new()
        .name("vector-warmup".into())
        .spawn(move || {
            let mut seen: std::collections::HashSet<tantivy::index::SegmentId> =
                std::collections::HashSet::new();
            let mut first = true;
            // The first pass always logs its lists (`segments=0` on a small index).
            let mut first_lists = true;
            loop {
                let searcher = index.reader().searcher();
                let ids: std::collections::HashSet<_> = searcher
                    .segment_readers()
                    .iter()
                    .map(|r| r.segment_id())
                    .collect();
                if first || !ids.is_subset(&seen) {
                    index.vectors().retain_live(&searcher);
                    let t = std::time::Instant::now();
                    match academichub::search::dense::warm(&index, &searcher) {
                        Ok(n) if first => tracing::info!(vectors = n, seconds = t.elapsed().as_secs_f64(), "vectors decoded for dense search"),
                        Ok(n) => tracing::debug!(vectors = n, seconds = t.elapsed().as_secs_f64(), "vectors of new segments decoded"),
                        Err(err) => tracing::warn!(error = %err, "decoding vectors ahead of searches failed; searches decode them"),
                    }
                    // Then the inverted lists of the large segments (seconds each, on this
                    // thread); searches scan a segment in full until its lists are there.
                    let t = std::time::Instant::now();
                    match academichub::search::dense::build_lists(&index, &searcher) {
                        Ok(0) if !first_lists => {}
                        Ok(n) => tracing::info!(segments = n, seconds = t.elapsed().as_secs_f64(), "inverted lists built for dense search"),
                        Err(err) => tracing::warn!(error = %err, "building inverted lists failed; searches scan those segments in full"),
                    }
                    first_lists = false;
                    seen = ids;
                    first = false;
                }
                std::thread::sleep(WARM_EVERY);
            }
        });
    if let Err(err) = spawned {
        tracing::warn!(error = %err, "cannot start the vector warm-up thread; searches decode vectors");
    }
}

async fn shutdown_signal() {
    let ctrl_c = async {
        if let Err(e) = tokio::signal::ctrl_c().await {
            tracing::warn!(error = %e, "cannot listen for Ctrl-C");
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(e) => {
                tracing::warn!(error = %e, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = term => {},
    }
    tracing::info!("shutdown requested: finishing requests in flight");
}
