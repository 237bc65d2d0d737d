//! `academichub ingest`: poll the configured feeds (`--once`, or forever until Ctrl-C), or
//! ingest one saved capture (`--file PATH --kind K`).

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::{Arc, Mutex};

use academichub::index::milvus::MilvusStore;
use academichub::ingest::feeds::{
    self, build_sources, FeedClient, FeedStore, IngestContext, IngestOptions, IngestSummary,
    Source, SourceKind,
};
use academichub::PaperIndex;
use anyhow::Context;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Poll each configured source once, print a per-source summary and exit (without it,
    /// sources are polled at their intervals until Ctrl-C).
    #[arg(long)]
    once: bool,
    /// Only this source (its `name` in the config file); with --file, the source name used in
    /// reports and, for `rss`, the papers' `source` (default: derived from the kind/file).
    #[arg(long)]
    source: Option<String>,
    /// Ingest a saved capture instead of fetching (needs --kind).
    #[arg(long, requires = "kind")]
    file: Option<PathBuf>,
    /// Format of --file.
    #[arg(long, value_parser = ["arxiv-rss", "arxiv-atom", "biorxiv-json", "rss"], requires = "file")]
    kind: Option<String>,
    /// Index directory (created when missing). On the milvus backend (`[index] backend =
    /// "milvus"`) papers go to the collection and this directory keeps only the feeds' state.
    #[arg(long, env = "ACADEMICHUB_INDEX", default_value_os_t = super::default_index())]
    index: PathBuf,
    /// Do not embed new papers even when the index holds vectors (run `embed` later).
    #[arg(long)]
    no_embed: bool,
    /// Papers written between two index commits (default 256, or `[ingest] commit_every`).
    #[arg(long)]
    commit_every: Option<usize>,
    #[command(flatten)]
    model: super::ModelArgs,
    /// Print the summary as JSON.
    #[arg(long)]
    json: bool,
}

pub fn run(a: Args) -> anyhow::Result<ExitCode> {
    super::init_logging("academichub=info", false);
    let config = a.model.config()?;
    let sources = build_sources(&config.sources)?;
    let mut opts = IngestOptions::from_config(&config.ingest);
    opts.progress = !a.json;
    if let Some(n) = a.commit_every {
        anyhow::ensure!(n >= 1, "--commit-every must be at least 1");
        opts.commit_every = n;
    }
    let file_source = match (&a.file, &a.kind) {
        (Some(path), Some(kind)) => {
            std::fs::File::open(path).with_context(|| format!("cannot open {}", path.display()))?;
            let kind: SourceKind = kind.parse().map_err(anyhow::Error::msg)?;
            let name = a.source.clone().unwrap_or_else(|| match kind {
                SourceKind::ArxivRss | SourceKind::ArxivAtom => "arxiv".into(),
                SourceKind::BiorxivJson => "biorxiv".into(),
                SourceKind::Rss => path
                    .file_stem()
                    .map(|s| s.to_string_lossy().into_owned())
                    .unwrap_or_else(|| "rss".into()),
            });
            Some(Source::for_file(&name, kind))
        }
        _ => None,
    };
    if file_source.is_none() && sources.is_empty() {
        anyhow::bail!(
            "no [[sources]] configured: add some to academichub.toml (or --config FILE; see \
             academichub.example.toml), or ingest a capture with --file PATH --kind KIND"
        );
    }
    if let (None, Some(name)) = (&file_source, &a.source) {
        anyhow::ensure!(
            sources.iter().any(|s| &s.name == name),
            "no source named {name:?} in the configuration (known: {})",
            sources
                .iter()
                .map(|s| s.name.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        );
    }
    let client = Arc::new(FeedClient::new(config.ingest.client_config()?)?);
    let mut writer = None;
    let (ctx, target) = if config.index.backend == academichub::config::Backend::Milvus {
        let store = Arc::new(a.model.open_collection(&config.milvus)?);
        std::fs::create_dir_all(&a.index)
            .with_context(|| format!("cannot create the state directory {}", a.index.display()))?;
        let embedder = load_milvus_embedder(&a, &store);
        let target = format!(
            "the Milvus collection {:?} at {}",
            config.milvus.collection, config.milvus.uri
        );
        let store = FeedStore::Milvus {
            store,
            state_dir: a.index.clone(),
        };
        (
            IngestContext::with_store(store, embedder, client, opts),
            target,
        )
    } else {
        let index = Arc::new(PaperIndex::open_or_create(&a.index)?);
        let embedder = load_embedder(&a, &index);
        let w = Arc::new(Mutex::new(index.writer()?));
        writer = Some(w.clone());
        let target = format!("the index at {}", a.index.display());
        (IngestContext::new(index, w, embedder, client, opts), target)
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    let code = runtime.block_on(async {
        if let Some(src) = &file_source {
            let path = a.file.clone().unwrap_or_default();
            let summary = feeds::ingest_file(&ctx, &path, src).await?;
            print_summary(&summary, &a, &target)?;
            return anyhow::Ok(exit_code(&summary));
        }
        if a.once {
            let summary = feeds::poll_once(&ctx, &sources, a.source.as_deref()).await?;
            print_summary(&summary, &a, &target)?;
            return Ok(exit_code(&summary));
        }
        let selected: Vec<Source> = sources
            .iter()
            .filter(|s| a.source.as_deref().is_none_or(|n| n == s.name))
            .cloned()
            .collect();
        eprintln!(
            "polling {} source(s) into {} until Ctrl-C: {}",
            selected.len(),
            target,
            selected
                .iter()
                .map(|s| format!("{} every {}s", s.name, s.interval.as_secs()))
                .collect::<Vec<_>>()
                .join(", ")
        );
        feeds::run_pollers(&ctx, &selected, async {
            let _ = tokio::signal::ctrl_c().await;
            eprintln!("Ctrl-C: stopping after the current poll");
        })
        .await?;
        Ok(ExitCode::SUCCESS)
    })?;
    drop(ctx);
    if let Some(Ok(w)) = writer.map(Arc::try_unwrap) {
        if let Ok(w) = w.into_inner() {
            w.wait_merging_threads()?;
        }
    }
    Ok(code)
}

/// The embedder for new papers of a Milvus collection: its model, unless --no-embed. A model
/// that cannot load is a warning: the ingest goes on and `embed` (or `serve`) adds vectors.
fn load_milvus_embedder(
    a: &Args,
    store: &MilvusStore,
) -> Option<Arc<Mutex<Box<dyn academichub::embed::Embedder>>>> {
    let model = &store.info().model;
    if a.no_embed {
        eprintln!("--no-embed: new papers get no vector (run `academichub embed` later)");
        return None;
    }
    match a.model.load_named(model) {
        Ok(e) => Some(Arc::new(Mutex::new(
            Box::new(e) as Box<dyn academichub::embed::Embedder>
        ))),
        Err(e) => {
            eprintln!(
                "warning: cannot load the embedding model {model} ({e:#}); ingesting without vectors, run `academichub embed` later"
            );
            None
        }
    }
}

/// The embedder for new papers: only when the index already holds vectors (their model), and
/// not with --no-embed. A model that cannot load is a warning: the ingest goes on BM25-only.
fn load_embedder(
    a: &Args,
    index: &PaperIndex,
) -> Option<Arc<Mutex<Box<dyn academichub::embed::Embedder>>>> {
    let model = index.embedding_model()?;
    if a.no_embed {
        eprintln!(
            "--no-embed: new papers get no vector ({} stays the index's model; run `academichub embed` later)",
            model.name
        );
        return None;
    }
    match a.model.load(Some(index)) {
        Ok(e) => Some(Arc::new(Mutex::new(
            Box::new(e) as Box<dyn academichub::embed::Embedder>
        ))),
        Err(e) => {
            eprintln!(
                "warning: cannot load the embedding model ({e:#}); ingesting BM25-only, run `academichub embed` later"
            );
            None
        }
    }
}

fn exit_code(s: &IngestSummary) -> ExitCode {
    if s.all_ok() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(2)
    }
}

fn print_summary(s: &IngestSummary, a: &Args, target: &str) -> anyhow::Result<()> {
    if a.json {
        let mut v = serde_json::to_value(s)?;
        v["index"] = serde_json::json!(a.index.display().to_string());
        println!("{}", serde_json::to_string_pretty(&v)?);
        return Ok(());
    }
    println!(
        "{:<24} {:<13} {:>7} {:>6} {:>7} {:>9} {:>7} {:>8}",
        "source", "kind", "fetched", "new", "updated", "unchanged", "skipped", "time"
    );
    for r in &s.sources {
        println!(
            "{:<24} {:<13} {:>7} {:>6} {:>7} {:>9} {:>7} {:>7.1}s{}",
            r.source,
            r.kind,
            r.fetched,
            r.new,
            r.updated,
            r.unchanged,
            r.skipped,
            r.duration_ms as f64 / 1000.0,
            if r.not_modified {
                "  (not modified)"
            } else {
                ""
            }
        );
        for reason in &r.skipped_reasons {
            println!("    skipped {reason}");
        }
        if r.skipped as usize > r.skipped_reasons.len() {
            println!(
                "    ... and {} more skipped",
                r.skipped as usize - r.skipped_reasons.len()
            );
        }
        if r.capped > 0 {
            println!("    {} abstract(s) cut at the length cap", r.capped);
        }
        if r.not_embedded > 0 {
            println!(
                "    {} new/changed paper(s) without a vector: run `academichub embed`",
                r.not_embedded
            );
        }
        if let Some(e) = &r.error {
            println!("    error: {e}");
        }
    }
    println!(
        "{target} now holds {} papers ({})",
        s.total_papers,
        match &s.embedding {
            Some(m) => format!("new papers embedded with {m}"),
            None => "BM25 only: no vectors for new papers".into(),
        }
    );
    Ok(())
}
