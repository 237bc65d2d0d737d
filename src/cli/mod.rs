//! Command-line flags (clap) and their dispatch. Each subcommand has its own file.

mod briefing;
mod copy;
mod digest;
mod embed;
mod eval;
mod import;
mod ingest;
mod radar;
mod search;
mod serve;
mod stats;

use std::path::{Path, PathBuf};

use anyhow::Context;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// AcademicHub: search research-paper abstracts (BM25 with Chinese-aware analysis).
#[derive(Debug, Parser)]
#[command(name = "academichub", version, about, propagate_version = true)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Import a corpus file (BEIR corpus.jsonl or arXiv JSONL, gzip or plain); upserts by id.
    Import(import::Args),
    /// Search the index.
    Search(search::Args),
    /// Show what the index holds.
    Stats(stats::Args),
    /// Give a dense vector to the papers that lack one (newest first).
    Embed(embed::Args),
    /// Copy papers with their vectors into the Milvus collection of --config: from an index
    /// (moving to Milvus) or another collection (one of an earlier layout too).
    Copy(copy::Args),
    /// Measure ranking quality on a BEIR-layout dataset (nDCG@10, Recall@100, MRR@10, MAP@100).
    Eval(eval::Args),
    /// Ingest papers from feeds: poll the configured sources (arXiv RSS/API, medRxiv/bioRxiv,
    /// journal RSS/Atom), or ingest a saved capture with --file.
    Ingest(ingest::Args),
    /// Research radars: saved queries, filters and example papers (add, list, show, rm).
    Radar(radar::Args),
    /// A briefing of what radars found since a date: top papers, themes, cross-domain links.
    Briefing(briefing::Args),
    /// Email the unread papers of radars (with a briefing) through [smtp]; each paper once.
    Digest(digest::Args),
    /// Serve the HTTP API and the web page.
    Serve(serve::Args),
}

/// Default index directory (`index-data/papers`), overridable with `ACADEMICHUB_INDEX`.
fn default_index() -> PathBuf {
    PathBuf::from(academichub::index::DEFAULT_INDEX_DIR)
}

/// Runs the parsed command.
pub fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Import(a) => import::run(a),
        Command::Search(a) => search::run(a),
        Command::Stats(a) => stats::run(a),
        Command::Embed(a) => embed::run(a),
        Command::Copy(a) => copy::run(a),
        Command::Eval(a) => eval::run(a),
        Command::Ingest(a) => ingest::run(a),
        Command::Radar(a) => radar::run(a),
        Command::Briefing(a) => briefing::run(a),
        Command::Digest(a) => digest::run(a),
        Command::Serve(a) => serve::run(a),
    }
}

/// Structured logs on stderr (so `--json` output on stdout stays machine-readable); `RUST_LOG`
/// filters, `default` when it is unset; `targets` shows each line's module.
fn init_logging(default: &str, targets: bool) {
    // tantivy logs every commit and garbage collection at info: with background embedding
    // committing every few seconds that would drown the access log.
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(format!("{default},tantivy=warn")));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_target(targets)
        .try_init();
}

/// A paper's date and its categories (its source when it has none), as result lists show them.
fn date_and_categories(p: &academichub::Paper) -> (String, String) {
    (
        p.published
            .map(academichub::paper::format_date)
            .unwrap_or_else(|| "no date".into()),
        if p.categories.is_empty() {
            p.source.clone()
        } else {
            p.categories.join(" ")
        },
    )
}

/// Parses `YYYY-MM-DD` for clap.
/// `--format bibtex|ris`.
fn parse_export_arg(s: &str) -> Result<academichub::delivery::ExportFormat, String> {
    s.parse()
}

fn parse_date_arg(s: &str) -> Result<time::Date, String> {
    academichub::paper::parse_date_unbounded(s)
        .filter(|_| s.trim().len() == 10)
        .ok_or_else(|| format!("{s:?} is not a date in YYYY-MM-DD form"))
}

/// The papers a radar, briefing or digest command works on: the index at `--index`, or, with
/// a config naming the Milvus backend, its collection, `--index` then being the local state
/// directory beside it (radars and their delivery logs, as `serve` keeps them).
enum Papers {
    Index(academichub::PaperIndex),
    Milvus(academichub::index::milvus::MilvusStore),
}

impl Papers {
    /// Opens what `config` names (the default config file when `None`).
    fn open(index: &Path, config: Option<&Path>) -> anyhow::Result<Papers> {
        let config = academichub::config::Config::load(config)?;
        if config.index.backend != academichub::config::Backend::Milvus {
            return Ok(Papers::Index(academichub::PaperIndex::open(index)?));
        }
        std::fs::create_dir_all(index).with_context(|| {
            format!(
                "cannot create the local state directory {}",
                index.display()
            )
        })?;
        let store = academichub::index::milvus::MilvusStore::open(&config.milvus)
            .with_context(|| {
                format!(
                    "cannot open the Milvus collection {:?} at {}",
                    config.milvus.collection, config.milvus.uri
                )
            })?
            .with_state_dir(index.to_path_buf());
        Ok(Papers::Milvus(store))
    }

    fn source(&self) -> &dyn academichub::radar::PaperSource {
        match self {
            Papers::Index(index) => index,
            Papers::Milvus(store) => store,
        }
    }

    /// The store's model for radar queries, or `None` (BM25-only, with the reason printed)
    /// when the store has no vectors or the model cannot be loaded or does not match.
    fn query_embedder(&self, model: &ModelArgs) -> Option<academichub::embed::FastEmbedder> {
        match self {
            Papers::Index(index) => radar::query_embedder(model, index),
            Papers::Milvus(store) => {
                let loaded = match model.load_named(&store.info().model) {
                    Ok(e) => e,
                    Err(err) => {
                        eprintln!("warning: cannot load the embedding model ({err:#}); ranking with BM25 only");
                        return None;
                    }
                };
                match store.check_model(academichub::embed::Embedder::id(&loaded)) {
                    Ok(()) => Some(loaded),
                    Err(err) => {
                        eprintln!("warning: {err}; ranking with BM25 only");
                        None
                    }
                }
            }
        }
    }
}

/// Flags shared by every command that embeds text.
#[derive(Debug, Clone, clap::Args)]
pub struct ModelArgs {
    /// Embedding model (schema/models.toml): minilm-l6 or me5-small. Default: the model the
    /// index was embedded with, else `[models] default` of the config file, else me5-small
    /// (multilingual; minilm-l6 is English-only).
    #[arg(long)]
    model: Option<String>,
    /// Model cache (what scripts/fetch-models fills). Default: `[models] cache_dir` of the
    /// config file, else ~/.cache/academichub.
    #[arg(long, env = "ACADEMICHUB_CACHE")]
    cache_dir: Option<PathBuf>,
    /// Configuration file (default: ./academichub.toml when present).
    #[arg(long, env = "ACADEMICHUB_CONFIG")]
    config: Option<PathBuf>,
}

impl ModelArgs {
    fn config(&self) -> Result<academichub::config::Config, academichub::config::ConfigError> {
        academichub::config::Config::load(self.config.as_deref())
    }

    /// `--config`, when given.
    fn config_path(&self) -> Option<&Path> {
        self.config.as_deref()
    }

    /// The `[milvus]` section when the config file names the Milvus backend.
    fn milvus(&self) -> anyhow::Result<Option<academichub::index::milvus::MilvusConfig>> {
        let config = self.config()?;
        Ok((config.index.backend == academichub::config::Backend::Milvus).then_some(config.milvus))
    }

    /// The identity a new Milvus collection records: the loaded model's, else the named one's
    /// (name and dimension; the model need not be on this machine to import without vectors).
    fn model_id(&self) -> anyhow::Result<academichub::embed::ModelId> {
        let spec = academichub::embed::ModelSpec::named(&self.model_name(None)?)?;
        Ok(academichub::embed::ModelId {
            name: spec.name,
            hash: String::new(),
            dims: spec.dims,
        })
    }

    /// Opens the Milvus collection of `config`; one that does not exist yet is created for
    /// `--model` (else `[models] default`, else me5-small). An existing collection keeps its
    /// model.
    fn open_collection(
        &self,
        config: &academichub::index::milvus::MilvusConfig,
    ) -> anyhow::Result<academichub::index::milvus::MilvusStore> {
        use academichub::index::milvus::{MilvusError, MilvusStore};
        match MilvusStore::open(config) {
            Err(MilvusError::NoCollection { .. }) => {
                Ok(MilvusStore::open_or_create(config, &self.model_id()?)?)
            }
            opened => Ok(opened?),
        }
    }

    /// Loads model `name` (a Milvus collection's), unless `--model` names another.
    fn load_named(&self, name: &str) -> anyhow::Result<academichub::embed::FastEmbedder> {
        self.load_named_with(name, academichub::embed::Threads::AllCores)
    }

    /// [`ModelArgs::load_named`] with a thread budget.
    fn load_named_with(
        &self,
        name: &str,
        threads: academichub::embed::Threads,
    ) -> anyhow::Result<academichub::embed::FastEmbedder> {
        let args = ModelArgs {
            model: Some(self.model_name_or(name)),
            ..self.clone()
        };
        args.load_threads(None, threads)
    }

    /// `--model` when given, else `name`.
    fn model_name_or(&self, name: &str) -> String {
        self.model.clone().unwrap_or_else(|| name.to_string())
    }

    /// The model cache root: flag or environment, else config file, else the default.
    fn cache_root(&self) -> anyhow::Result<PathBuf> {
        if let Some(dir) = &self.cache_dir {
            return Ok(dir.clone());
        }
        Ok(self
            .config()?
            .models
            .cache_dir
            .unwrap_or_else(academichub::embed::default_cache_root))
    }

    /// The model name to use with `index`.
    fn model_name(&self, index: Option<&academichub::PaperIndex>) -> anyhow::Result<String> {
        if let Some(m) = self
            .model
            .clone()
            .or_else(|| index.and_then(|i| i.embedding_model()).map(|m| m.name))
        {
            return Ok(m);
        }
        Ok(self
            .config()?
            .models
            .default
            .unwrap_or_else(|| academichub::embed::DEFAULT_MODEL.to_string()))
    }

    /// Loads `spec` with a thread budget from the local files.
    fn load_with(
        &self,
        spec: &academichub::embed::ModelSpec,
        threads: academichub::embed::Threads,
    ) -> anyhow::Result<academichub::embed::FastEmbedder> {
        Ok(academichub::embed::FastEmbedder::load_with(
            spec,
            &self.cache_root()?,
            threads,
        )?)
    }

    /// Loads the embedder (local files; the catalogue too with the `online-models` feature).
    fn load(
        &self,
        index: Option<&academichub::PaperIndex>,
    ) -> anyhow::Result<academichub::embed::FastEmbedder> {
        self.load_threads(index, academichub::embed::Threads::AllCores)
    }

    /// [`ModelArgs::load`] with a thread budget for its local files.
    fn load_threads(
        &self,
        index: Option<&academichub::PaperIndex>,
        threads: academichub::embed::Threads,
    ) -> anyhow::Result<academichub::embed::FastEmbedder> {
        let spec = academichub::embed::ModelSpec::named(&self.model_name(index)?)?;
        let root = self.cache_root()?;
        match academichub::embed::FastEmbedder::load_with(&spec, &root, threads) {
            Ok(e) => Ok(e),
            #[cfg(feature = "online-models")]
            Err(academichub::embed::EmbedError::MissingFiles { .. })
                if spec.catalogue.is_some() =>
            {
                Ok(academichub::embed::FastEmbedder::load_catalogue(
                    &spec, &root,
                )?)
            }
            Err(e) => Err(e.into()),
        }
    }
}

/// Parses `convex` / `rrf` plus alpha into a fusion.
fn fusion_arg(kind: &str, alpha: f32) -> anyhow::Result<academichub::search::fusion::Fusion> {
    use academichub::search::fusion::{Fusion, DEFAULT_RRF_K};
    match kind {
        "convex" => {
            anyhow::ensure!(
                (0.0..=1.0).contains(&alpha),
                "--alpha must be between 0 and 1, got {alpha}"
            );
            Ok(Fusion::Convex { alpha })
        }
        "rrf" => Ok(Fusion::Rrf { k: DEFAULT_RRF_K }),
        other => anyhow::bail!("unknown fusion {other:?} (use convex or rrf)"),
    }
}

/// Hybrid-mode tuning shared by `search` and `eval` (defaults in `academichub::hybrid`).
#[derive(Debug, Clone, clap::Args)]
pub struct HybridArgs {
    /// Hybrid: weight of the dense-feedback leg (BM25 over the terms the top dense hits share)
    /// for a query none of whose words the index knows; scaled by (1 - coverage). 0 = off.
    #[arg(long, default_value_t = academichub::search::request::DEFAULT_FEEDBACK_WEIGHT)]
    feedback_weight: f32,
    /// Hybrid: top dense hits the feedback terms come from.
    #[arg(long, default_value_t = academichub::search::request::DEFAULT_FEEDBACK_DOCS)]
    feedback_docs: usize,
    /// Hybrid: number of feedback terms.
    #[arg(long, default_value_t = academichub::search::request::DEFAULT_FEEDBACK_TERMS)]
    feedback_terms: usize,
    /// Hybrid: plain two-leg fusion (no coverage weighting of BM25, no feedback leg).
    #[arg(long)]
    plain_fusion: bool,
}

impl HybridArgs {
    fn params(&self) -> anyhow::Result<academichub::search::HybridParams> {
        let p = if self.plain_fusion {
            academichub::search::HybridParams::plain()
        } else {
            academichub::search::HybridParams {
                coverage_weighting: true,
                feedback_weight: self.feedback_weight,
                feedback_docs: self.feedback_docs,
                feedback_terms: self.feedback_terms,
            }
        };
        p.validate()?;
        Ok(p)
    }
}
