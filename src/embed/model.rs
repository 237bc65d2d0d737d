//! Text embedding over a dynamically loaded ONNX Runtime, with models laid out by
//! `scripts/fetch-models` and run by our own [`Encoder`] (sessions of one model share its
//! tokenizer; see `onnx.rs`), or, with the `online-models` feature, fastembed's catalogue.

use std::num::NonZeroUsize;
use std::path::Path;
use std::sync::OnceLock;

use lru::LruCache;

use super::onnx::{shared_tokenizer, Encoder};
use super::{normalize, runtime_library, EmbedError, Embedder, ModelId, ModelSpec, EMBED_CHUNK};

/// Query vectors remembered by each embedder.
pub const QUERY_CACHE_SIZE: usize = 1024;

/// Loads ONNX Runtime once per process and builds its one environment (ONNX Runtime allows
/// one per process); later calls return the first outcome. Every session of this process
/// (ours, and a bench's bare loop) is built in that environment.
pub fn ort_environment(cache_root: &Path) -> Result<ort::environment::Environment, EmbedError> {
    static INIT: OnceLock<Result<ort::environment::Environment, (std::path::PathBuf, String)>> =
        OnceLock::new();
    let lib = runtime_library(cache_root);
    let outcome = INIT.get_or_init(|| {
        if !lib.exists() {
            return Err((lib.clone(), "file not found".into()));
        }
        // init_from loads and version-checks the library: a wrong one is an Err, not a panic
        // at the first session.
        ort::init_from(&lib)
            .map_err(|e| (lib.clone(), e.to_string()))?
            .build()
            .map_err(|e| (lib.clone(), e.to_string()))
    });
    match outcome {
        Ok(env) => Ok(env.clone()),
        Err((path, reason)) if reason == "file not found" => Err(EmbedError::MissingFiles {
            what: "ONNX Runtime library".into(),
            path: path.clone(),
            model_flag: String::new(),
        }),
        Err((path, reason)) => Err(EmbedError::Runtime {
            path: path.clone(),
            reason: reason.clone(),
        }),
    }
}

/// Where and how to build a model's sessions.
struct GraphSource {
    dir: std::path::PathBuf,
    spec: ModelSpec,
    threads: Threads,
    environment: ort::environment::Environment,
}

impl GraphSource {
    fn read(&self, file: &str) -> Result<Vec<u8>, EmbedError> {
        std::fs::read(self.dir.join(file)).map_err(|_| EmbedError::MissingFiles {
            what: format!("{} of model {}", file, self.spec.name),
            path: self.dir.join(file),
            model_flag: format!(" --model {}", self.spec.name),
        })
    }

    /// A session over `onnx` with the model's (shared) tokenizer, pooling, length and threads.
    fn session(&self, onnx: Vec<u8>) -> Result<Session, EmbedError> {
        let tokenizer = shared_tokenizer(&self.dir, self.spec.max_length)?;
        let (threads, config): (Option<usize>, &[(&str, &str)]) = match self.threads {
            Threads::AllCores => (None, &[]),
            Threads::AllCoresQuiet => (None, &[("session.intra_op.allow_spinning", "0")]),
            Threads::Searching | Threads::Background => {
                (Some(1), &[("session.intra_op.allow_spinning", "0")])
            }
        };
        let encoder = Encoder::new(
            &self.environment,
            &onnx,
            tokenizer,
            self.spec.pooling,
            threads,
            config,
        )
        .map_err(|e| match e {
            EmbedError::Load { reason, .. } => EmbedError::Load {
                name: self.spec.name.clone(),
                reason,
            },
            other => other,
        })?;
        Ok(Session::Own(encoder))
    }
}

/// A loaded graph: ours, or (with `online-models`) a fastembed catalogue model.
enum Session {
    Own(Encoder),
    #[cfg(feature = "online-models")]
    Catalogue(fastembed::TextEmbedding),
}

impl Session {
    /// Pooled vectors of `texts`, `batch` per run.
    fn embed(&mut self, texts: &[String], batch: usize) -> Result<Vec<Vec<f32>>, EmbedError> {
        match self {
            Session::Own(e) => e.embed(texts, batch),
            #[cfg(feature = "online-models")]
            Session::Catalogue(t) => t
                .embed(texts, Some(batch))
                .map_err(|e| EmbedError::Embed(e.to_string())),
        }
    }
}

/// How many ONNX Runtime threads an embedder uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Threads {
    /// One intra-op thread per core, spinning between runs (fastest for one caller).
    AllCores,
    /// One intra-op thread per core that sleeps when idle.
    AllCoresQuiet,
    /// The query embedder of a server: one thread that sleeps when idle. A query is a few
    /// tokens, too little work to share out per operator (each handoff wakes the other
    /// thread), and the dense scan and BM25 leg that follow need the cores: a spinning pool
    /// kept a core busy through them, and at 2.7M papers one thread embedded a query in 4.7
    /// ms p50 against 5.3 ms for a sleeping pool of one thread per core (hybrid p50 20.7
    /// against 22.5 ms; medians of six alternating search-bench runs each, BENCHMARKS.md).
    Searching,
    /// One thread, no spinning: background work beside a serving process.
    Background,
}

/// A fastembed model plus its description and a query-vector cache.
pub struct FastEmbedder {
    spec: ModelSpec,
    id: ModelId,
    /// The passage graph (loaded at the first passage when the model has a query graph).
    inner: Option<Session>,
    /// Where to load the passage graph from when it is not loaded yet.
    source: Option<GraphSource>,
    /// The graph for queries when the model directory has one (`query.onnx`, for example a
    /// float graph beside an int8 passage graph; the default builds have none).
    query: Option<Session>,
    queries: LruCache<String, Vec<f32>>,
}

fn model_hash(dir: &Path, file_name: &str, onnx: &[u8]) -> String {
    if let Ok(manifest) = std::fs::read_to_string(dir.join("MANIFEST")) {
        for line in manifest.lines() {
            let mut parts = line.split_whitespace();
            if let (Some(sha), Some(file)) = (parts.next(), parts.next()) {
                if file.trim_start_matches('*') == file_name {
                    return format!("sha256:{sha}");
                }
            }
        }
    }
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in onnx {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    format!("fnv64:{h:016x}")
}

impl FastEmbedder {
    /// Loads `spec` from `<cache_root>/models/<dir>/` (files of `scripts/fetch-models`), with
    /// ONNX Runtime's default threads (one per core).
    pub fn load(spec: &ModelSpec, cache_root: &Path) -> Result<Self, EmbedError> {
        Self::load_with(spec, cache_root, Threads::AllCores)
    }

    /// [`FastEmbedder::load`] with a thread budget: the background embedder of `serve` runs
    /// on one thread that sleeps when idle, so queries and searches always find a free core.
    ///
    /// A model with a query graph (`query.onnx`) loads it now and its passage graph at the
    /// first passage (a server that only embeds queries never holds it); a background
    /// embedder loads only the passage graph.
    pub fn load_with(
        spec: &ModelSpec,
        cache_root: &Path,
        threads: Threads,
    ) -> Result<Self, EmbedError> {
        let environment = ort_environment(cache_root)?;
        let dir = cache_root.join("models").join(&spec.dir);
        let source = GraphSource {
            dir,
            spec: spec.clone(),
            threads,
            environment,
        };
        let onnx = source.read("model.onnx")?;
        let mut hash = model_hash(&source.dir, "model.onnx", &onnx);
        // The query graph is part of the model's identity: an index queried with another one
        // says so. A background embedder (passages only) records the same identity.
        let has_query = source.dir.join("query.onnx").exists();
        if has_query {
            let q = source.read("query.onnx")?;
            hash = format!("{hash}+query:{}", model_hash(&source.dir, "query.onnx", &q));
            if threads != Threads::Background {
                let query = source.session(q)?;
                drop(onnx);
                let mut e = Self::wrap(spec, hash, None);
                e.query = Some(query);
                e.source = Some(source);
                return Ok(e);
            }
        }
        let inner = source.session(onnx)?;
        Ok(Self::wrap(spec, hash, Some(inner)))
    }

    /// Downloads a fastembed catalogue model by name (needs internet and `online-models`).
    #[cfg(feature = "online-models")]
    pub fn load_catalogue(spec: &ModelSpec, cache_root: &Path) -> Result<Self, EmbedError> {
        let environment = ort_environment(cache_root)?;
        let name = spec.catalogue.clone().ok_or_else(|| EmbedError::Load {
            name: spec.name.clone(),
            reason: "no catalogue name in schema/models.toml".into(),
        })?;
        let model: fastembed::EmbeddingModel =
            name.parse().map_err(|e: String| EmbedError::Load {
                name: spec.name.clone(),
                reason: e,
            })?;
        let options = fastembed::TextInitOptions::new(model)
            .with_max_length(spec.max_length)
            .with_cache_dir(cache_root.join("hub"))
            .with_environment(environment);
        let inner = fastembed::TextEmbedding::try_new(options).map_err(|e| EmbedError::Load {
            name: spec.name.clone(),
            reason: e.to_string(),
        })?;
        Ok(Self::wrap(
            spec,
            format!("catalogue:{name}"),
            Some(Session::Catalogue(inner)),
        ))
    }

    fn wrap(spec: &ModelSpec, hash: String, inner: Option<Session>) -> Self {
        FastEmbedder {
            id: ModelId {
                name: spec.name.clone(),
                hash,
                dims: spec.dims,
            },
            spec: spec.clone(),
            inner,
            query: None,
            source: None,
            queries: LruCache::new(
                NonZeroUsize::new(QUERY_CACHE_SIZE).unwrap_or(NonZeroUsize::MIN),
            ),
        }
    }

    /// The model description.
    pub fn spec(&self) -> &ModelSpec {
        &self.spec
    }

    /// Embeds already prefixed texts in bounded chunks (with the query graph when `query`
    /// and the model has one).
    fn embed_raw(&mut self, texts: &[String], query: bool) -> Result<Vec<Vec<f32>>, EmbedError> {
        let mut out = Vec::with_capacity(texts.len());
        let batch = self.spec.batch_size.max(1);
        for chunk in texts.chunks(EMBED_CHUNK) {
            if !query && self.inner.is_none() {
                if let Some(src) = &self.source {
                    let onnx = src.read("model.onnx")?;
                    self.inner = Some(src.session(onnx)?);
                }
            }
            let session = match (&mut self.query, &mut self.inner, query) {
                (Some(q), _, true) => q,
                (_, Some(p), _) => p,
                (_, None, _) => {
                    return Err(EmbedError::Embed("no passage session loaded".into()));
                }
            };
            let mut vecs = session.embed(chunk, batch)?;
            for v in &mut vecs {
                if v.len() != self.spec.dims {
                    return Err(EmbedError::Embed(format!(
                        "model {} returned {} dimensions, expected {}",
                        self.spec.name,
                        v.len(),
                        self.spec.dims
                    )));
                }
                normalize(v);
            }
            out.extend(vecs);
        }
        Ok(out)
    }
}

impl Embedder for FastEmbedder {
    fn id(&self) -> &ModelId {
        &self.id
    }

    fn embed_passages(&mut self, texts: &[String]) -> Result<Vec<Vec<f32>>, EmbedError> {
        if self.spec.passage_prefix.is_empty() {
            return self.embed_raw(texts, false);
        }
        let prefixed: Vec<String> = texts
            .iter()
            .map(|t| format!("{}{t}", self.spec.passage_prefix))
            .collect();
        self.embed_raw(&prefixed, false)
    }

    fn embed_query(&mut self, text: &str) -> Result<Vec<f32>, EmbedError> {
        if let Some(v) = self.queries.get(text) {
            return Ok(v.clone());
        }
        let prefixed = format!("{}{text}", self.spec.query_prefix);
        let v = self
            .embed_raw(std::slice::from_ref(&prefixed), true)?
            .pop()
            .ok_or_else(|| EmbedError::Embed("no vector returned".into()))?;
        self.queries.put(text.to_string(), v.clone());
        Ok(v)
    }
}
