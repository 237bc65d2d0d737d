//! The relevance benchmark runner: BEIR-layout datasets, TREC run files, trec_eval metrics.
//!
//! Sits beside the query layer and never on the request path. A dataset directory holds
//! `corpus.jsonl[.gz]`, `queries.jsonl` and `qrels/<split>.tsv`.

pub mod error;
pub mod metrics;

use std::collections::HashMap;
use std::io::{BufRead, BufWriter, Write};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

pub use error::EvalError;

use crate::embed::Embedder;
use crate::index::milvus::{MilvusConfig, MilvusStore};
use crate::index::PaperIndex;
use crate::ingest::{
    embed_missing, embed_missing_milvus, import_file, import_file_milvus, open_maybe_gz, Format,
    ImportError, ImportOptions,
};
use crate::search::fusion::{self, Fusion};
use crate::search::hybrid::fuse_legs;
pub use crate::search::Mode;
use crate::search::{Filters, HybridParams, QueryEngine};
use metrics::{evaluate_query, mean, Judgements, QueryMetrics};

/// One query's ranking: its id and `(doc id, score)` pairs.
pub type QueryRun = (String, Vec<(String, f64)>);

/// A loaded BEIR dataset (queries and judgements of one split; the corpus stays on disk).
pub struct Dataset {
    pub dir: PathBuf,
    pub name: String,
    pub corpus: PathBuf,
    /// Judged queries, in file order: (query id, text).
    pub queries: Vec<(String, String)>,
    pub qrels: HashMap<String, Judgements>,
}

#[derive(Deserialize)]
struct QueryLine {
    #[serde(rename = "_id")]
    id: serde_json::Value,
    text: String,
}

fn id_string(v: &serde_json::Value) -> Option<String> {
    match v {
        serde_json::Value::String(s) => Some(s.clone()),
        serde_json::Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

impl Dataset {
    /// Loads `dir` for `split`. `queries` overrides the queries file; by default it is
    /// `queries.jsonl`, or `queries_<suffix>.jsonl` for a split named `test_<suffix>` when that
    /// file exists (CSL's `test_keywords`).
    pub fn load(dir: &Path, split: &str, queries: Option<&Path>) -> Result<Self, EvalError> {
        let ds_err = |reason: String| EvalError::Dataset {
            path: dir.to_path_buf(),
            reason,
        };
        if !dir.is_dir() {
            return Err(ds_err(
                "not a directory (expected a BEIR dataset folder)".into(),
            ));
        }
        let corpus = ["corpus.jsonl", "corpus.jsonl.gz"]
            .iter()
            .map(|n| dir.join(n))
            .find(|p| p.exists())
            .ok_or_else(|| ds_err("no corpus.jsonl or corpus.jsonl.gz".into()))?;
        let qrels_path = dir.join("qrels").join(format!("{split}.tsv"));
        if !qrels_path.exists() {
            return Err(ds_err(format!(
                "no qrels for split {split:?} ({} is missing)",
                qrels_path.display()
            )));
        }
        let queries_path = match queries {
            Some(p) => p.to_path_buf(),
            None => split
                .split_once('_')
                .map(|(_, suffix)| dir.join(format!("queries_{suffix}.jsonl")))
                .filter(|p| p.exists())
                .unwrap_or_else(|| dir.join("queries.jsonl")),
        };
        let qrels = load_qrels(&qrels_path)?;
        let all_queries = load_queries(&queries_path)?;
        let mut queries: Vec<(String, String)> = all_queries
            .into_iter()
            .filter(|(id, _)| qrels.get(id).is_some_and(|j| j.values().any(|&r| r >= 1)))
            .collect();
        queries.dedup_by(|a, b| a.0 == b.0);
        if queries.is_empty() {
            return Err(ds_err(format!(
                "no query in {} has a relevant document in {}",
                queries_path.display(),
                qrels_path.display()
            )));
        }
        let name = dir
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| "dataset".into());
        Ok(Dataset {
            dir: dir.to_path_buf(),
            name,
            corpus,
            queries,
            qrels,
        })
    }
}

/// Reads `queries.jsonl` (`{"_id", "text"}` per line).
pub fn load_queries(path: &Path) -> Result<Vec<(String, String)>, EvalError> {
    let reader = open_maybe_gz(path, indicatif::ProgressBar::hidden()).map_err(|e| match e {
        ImportError::Open { path, source } => EvalError::Dataset {
            path,
            reason: source.to_string(),
        },
        other => EvalError::Import(other),
    })?;
    let mut out = Vec::new();
    for (i, line) in reader.lines().enumerate() {
        let line = line.map_err(|e| EvalError::Parse {
            path: path.to_path_buf(),
            line: i as u64 + 1,
            reason: e.to_string(),
        })?;
        if line.trim().is_empty() {
            continue;
        }
        let q: QueryLine = serde_json::from_str(&line).map_err(|e| EvalError::Parse {
            path: path.to_path_buf(),
            line: i as u64 + 1,
            reason: format!("invalid query line: {e}"),
        })?;
        let id = id_string(&q.id).ok_or_else(|| EvalError::Parse {
            path: path.to_path_buf(),
            line: i as u64 + 1,
            reason: "\"_id\" must be a string or number".into(),
        })?;
        out.push((id, q.text));
    }
    Ok(out)
}

/// Reads a qrels TSV (`query-id<TAB>corpus-id<TAB>score`, optional header line).
pub fn load_qrels(path: &Path) -> Result<HashMap<String, Judgements>, EvalError> {
    let text = std::fs::read_to_string(path).map_err(|e| EvalError::Dataset {
        path: path.to_path_buf(),
        reason: e.to_string(),
    })?;
    let mut out: HashMap<String, Judgements> = HashMap::new();
    for (i, line) in text.lines().enumerate() {
        let cols: Vec<&str> = line.split('\t').map(str::trim).collect();
        if line.trim().is_empty() || (i == 0 && cols.first() == Some(&"query-id")) {
            continue;
        }
        // Also accept TREC's four-column form: qid 0 docid rel.
        let (q, d, r) = match cols.as_slice() {
            [q, d, r] => (*q, *d, *r),
            [q, _, d, r] => (*q, *d, *r),
            _ => {
                return Err(EvalError::Parse {
                    path: path.to_path_buf(),
                    line: i as u64 + 1,
                    reason: format!("expected 3 tab-separated columns, got {:?}", line),
                })
            }
        };
        let r: i32 = r.parse().map_err(|_| EvalError::Parse {
            path: path.to_path_buf(),
            line: i as u64 + 1,
            reason: format!("relevance {r:?} is not an integer"),
        })?;
        out.entry(q.to_string())
            .or_default()
            .insert(d.to_string(), r);
    }
    Ok(out)
}

/// Options for [`run_eval`].
#[derive(Debug, Clone)]
pub struct EvalOptions {
    pub split: String,
    pub mode: Mode,
    /// How hybrid merges its legs.
    pub fusion: Fusion,
    /// Language-aware weighting and dense feedback of hybrid mode.
    pub hybrid: HybridParams,
    /// Depth of each ranking (also the run file's depth).
    pub k: usize,
    pub run_file: Option<PathBuf>,
    /// Index directory for the dataset's corpus (built when missing or empty).
    pub index_dir: PathBuf,
    /// Override of the queries file.
    pub queries: Option<PathBuf>,
    pub progress: bool,
    /// Also score hybrid with every alpha in 0.0, 0.1, .., 1.0, with RRF, with plain two-leg
    /// fusion and with feedback weights 0.0, 0.25, .., 1.0.
    pub sweep: bool,
    /// Translate Chinese queries for the BM25 leg (see [`crate::search::translate`]).
    pub translate: bool,
    /// Write each query's legs (ids and scores of BM25, dense and feedback, and the term
    /// coverage) here as JSON lines, to study fusion outside the engine.
    pub legs_file: Option<PathBuf>,
}

/// The result of an evaluation.
#[derive(Debug, Clone, Serialize)]
pub struct EvalReport {
    pub dataset: String,
    pub split: String,
    pub mode: Mode,
    /// The fusion used (hybrid only), e.g. `convex(alpha=0.5)` or `rrf(k=60)`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fusion: Option<String>,
    /// Embedding model (dense and hybrid only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    #[serde(flatten)]
    pub metrics: QueryMetrics,
    pub queries: usize,
    pub documents: u64,
    pub index_dir: String,
    /// Wall time of the query loop (query embedding included), in seconds.
    pub search_seconds: f64,
    /// Wall time spent building the index and embedding it (0 when reused).
    pub index_seconds: f64,
    /// Hybrid scores for other fusions (with `sweep`): (fusion, metrics).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub sweep: Vec<(String, QueryMetrics)>,
}

/// Default index directory for a dataset: `<root>/eval/<parent>-<dataset name>`.
pub fn default_index_dir(root: &Path, dataset_dir: &Path) -> PathBuf {
    let name = dataset_dir
        .canonicalize()
        .unwrap_or_else(|_| dataset_dir.to_path_buf())
        .components()
        .rev()
        .take(2)
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .collect::<Vec<_>>()
        .into_iter()
        .rev()
        .collect::<Vec<_>>()
        .join("-");
    root.join("eval").join(name)
}

fn describe(f: Fusion, p: &HybridParams) -> String {
    let base = match f {
        Fusion::Convex { alpha } => format!("convex(alpha={alpha:.2})"),
        Fusion::Rrf { k } => format!("rrf(k={k})"),
    };
    if *p == HybridParams::plain() {
        format!("{base}+plain")
    } else if !p.coverage_weighting {
        format!("{base}+fb{:.2}", p.feedback_weight)
    } else {
        format!("{base}+cov+fb{:.2}", p.feedback_weight)
    }
}

type IdList = Vec<(String, f32)>;

fn score_runs(dataset: &Dataset, runs: &[QueryRun]) -> QueryMetrics {
    let per_query: Vec<QueryMetrics> = runs
        .iter()
        .map(|(qid, run)| evaluate_query(run, &dataset.qrels[qid]))
        .collect();
    mean(&per_query)
}

/// One query's legs, keyed by paper id.
#[derive(Serialize)]
struct QueryLegs {
    qid: String,
    bm25: IdList,
    dense: IdList,
    feedback: IdList,
    coverage: f32,
}

impl QueryLegs {
    /// The legs of a one-leg mode: BM25's or the dense one's.
    fn one(qid: &str, mode: Mode, leg: IdList) -> QueryLegs {
        let (bm25, dense) = match mode {
            Mode::Dense => (Vec::new(), leg),
            _ => (leg, Vec::new()),
        };
        QueryLegs {
            qid: qid.to_string(),
            bm25,
            dense,
            feedback: Vec::new(),
            coverage: 1.0,
        }
    }
}

fn fused_runs(
    legs: &[QueryLegs],
    fusion: Fusion,
    params: &HybridParams,
    k: usize,
) -> Result<Vec<QueryRun>, EvalError> {
    legs.iter()
        .map(|l| {
            let mut fused = fuse_legs(&l.bm25, &l.dense, &l.feedback, l.coverage, fusion, params)
                .map_err(|e| EvalError::Dataset {
                path: PathBuf::new(),
                reason: e.to_string(),
            })?;
            fused.truncate(k);
            Ok((
                l.qid.clone(),
                fused.into_iter().map(|(d, s)| (d, f64::from(s))).collect(),
            ))
        })
        .collect()
}

/// The vector of query `qid` (`text`), or a dataset error naming the query.
fn embed_query(
    e: &mut dyn Embedder,
    dataset: &Dataset,
    qid: &str,
    text: &str,
) -> Result<Vec<f32>, EvalError> {
    e.embed_query(text).map_err(|err| EvalError::Dataset {
        path: dataset.dir.clone(),
        reason: format!("query {qid}: {err}"),
    })
}

/// Builds (or reuses) the dataset's index, embeds it when the mode needs vectors, runs every
/// judged query and scores the run.
pub fn run_eval(
    dataset: &Dataset,
    opts: &EvalOptions,
    mut embedder: Option<&mut dyn Embedder>,
) -> Result<EvalReport, EvalError> {
    let index = PaperIndex::open_or_create(&opts.index_dir)?;
    let t = std::time::Instant::now();
    if index.num_papers() == 0 {
        import_file(
            &index,
            &dataset.corpus,
            &corpus_options(dataset, opts),
            None,
        )?;
    }
    let model = match needed_model(dataset, opts, embedder.as_mut())? {
        Some(e) => {
            embed_missing(&index, &mut *e, None, None, opts.progress)?;
            Some(e.id().name.clone())
        }
        None => None,
    };
    let index_seconds = t.elapsed().as_secs_f64();
    let engine = QueryEngine::new(&index);
    let searcher = index.reader().searcher();
    let depth = opts.k.max(fusion::DEFAULT_DEPTH);
    let t = std::time::Instant::now();
    let bar = query_bar(dataset, opts);
    // A sweep scores several feedback weights from one run: compute the feedback leg at the
    // largest weight, then fuse with each.
    let leg_params = if opts.sweep {
        HybridParams {
            feedback_weight: 1.0,
            ..opts.hybrid
        }
    } else {
        opts.hybrid
    };
    let mut legs: Vec<QueryLegs> = Vec::with_capacity(dataset.queries.len());
    for (qid, text) in &dataset.queries {
        let query = engine.plain_query_with(text, opts.translate);
        let vector = match embedder.as_mut() {
            Some(e) if opts.mode != Mode::Bm25 => {
                // The query's translation (when it informs the embedding) is embedded with it.
                let text = crate::search::translate::of(query.as_ref())
                    .and_then(|t| t.embedding_text(text))
                    .unwrap_or_else(|| text.clone());
                Some(embed_query(&mut **e, dataset, qid, &text)?)
            }
            _ => None,
        };
        let one = match (opts.mode, &vector) {
            (Mode::Hybrid, Some(v)) => {
                let h = engine.hybrid_legs(
                    &searcher,
                    query.as_ref(),
                    v,
                    &Filters::default(),
                    depth,
                    &leg_params,
                )?;
                QueryLegs {
                    qid: qid.clone(),
                    bm25: to_strings(engine.ids(&searcher, &h.bm25)?),
                    dense: to_strings(engine.ids(&searcher, &h.dense)?),
                    feedback: to_strings(engine.ids(&searcher, &h.feedback)?),
                    coverage: h.coverage,
                }
            }
            (Mode::Dense, Some(v)) => {
                let (leg, _) = engine.dense_leg(&searcher, v, &Filters::default(), depth)?;
                QueryLegs::one(qid, Mode::Dense, to_strings(engine.ids(&searcher, &leg)?))
            }
            _ => {
                let (leg, _) = engine.bm25_leg(&searcher, query, &Filters::default(), depth)?;
                QueryLegs::one(qid, Mode::Bm25, to_strings(engine.ids(&searcher, &leg)?))
            }
        };
        legs.push(one);
        bar.inc(1);
    }
    bar.finish_and_clear();
    let search_seconds = t.elapsed().as_secs_f64();
    report(
        dataset,
        opts,
        &legs,
        Scored {
            model,
            documents: index.num_papers(),
            index_dir: opts.index_dir.display().to_string(),
            search_seconds,
            index_seconds,
        },
    )
}

/// The embedder the mode needs (none for bm25), or an error when it needs one and has none.
fn needed_model<'e>(
    dataset: &Dataset,
    opts: &EvalOptions,
    embedder: Option<&'e mut &mut dyn Embedder>,
) -> Result<Option<&'e mut dyn Embedder>, EvalError> {
    match (opts.mode, embedder) {
        (Mode::Bm25, _) => Ok(None),
        (_, None) => Err(EvalError::Dataset {
            path: dataset.dir.clone(),
            reason: format!("mode {} needs an embedding model", opts.mode),
        }),
        (_, Some(e)) => Ok(Some(&mut **e)),
    }
}

/// How a dataset's corpus is imported (BEIR records, the dataset's name as their source).
fn corpus_options(dataset: &Dataset, opts: &EvalOptions) -> ImportOptions {
    let mut io = ImportOptions::new(Format::Beir);
    io.beir_source = dataset.name.clone();
    io.progress = opts.progress;
    io
}

/// The query loop's progress bar (hidden without `progress`).
fn query_bar(dataset: &Dataset, opts: &EvalOptions) -> indicatif::ProgressBar {
    if opts.progress {
        indicatif::ProgressBar::new(dataset.queries.len() as u64)
    } else {
        indicatif::ProgressBar::hidden()
    }
}

/// A leg keyed by paper id as text.
fn to_strings(leg: Vec<(crate::PaperId, f32)>) -> IdList {
    leg.into_iter()
        .map(|(id, s)| (id.as_str().to_string(), s))
        .collect()
}

/// What a run measured besides its legs.
struct Scored {
    model: Option<String>,
    documents: u64,
    index_dir: String,
    search_seconds: f64,
    index_seconds: f64,
}

/// Scores the legs of every query (fused in hybrid mode, with the sweep when asked) and writes
/// the run and legs files.
fn report(
    dataset: &Dataset,
    opts: &EvalOptions,
    legs: &[QueryLegs],
    scored: Scored,
) -> Result<EvalReport, EvalError> {
    let one_leg = |pick: fn(&QueryLegs) -> &IdList| -> Vec<QueryRun> {
        legs.iter()
            .map(|l| {
                let run = pick(l)
                    .iter()
                    .take(opts.k)
                    .map(|(d, s)| (d.clone(), f64::from(*s)));
                (l.qid.clone(), run.collect())
            })
            .collect()
    };
    let runs: Vec<QueryRun> = match opts.mode {
        Mode::Bm25 => one_leg(|l| &l.bm25),
        Mode::Dense => one_leg(|l| &l.dense),
        Mode::Hybrid => fused_runs(legs, opts.fusion, &opts.hybrid, opts.k)?,
    };
    let mut sweep = Vec::new();
    if opts.sweep && opts.mode == Mode::Hybrid {
        let mut variants: Vec<(String, Fusion, HybridParams)> = Vec::new();
        for i in 0..=10 {
            let f = Fusion::Convex {
                alpha: i as f32 / 10.0,
            };
            variants.push((describe(f, &opts.hybrid), f, opts.hybrid));
        }
        let rrf = Fusion::Rrf {
            k: fusion::DEFAULT_RRF_K,
        };
        variants.push((describe(rrf, &opts.hybrid), rrf, opts.hybrid));
        let plain = HybridParams::plain();
        variants.push((describe(opts.fusion, &plain), opts.fusion, plain));
        variants.push((describe(rrf, &plain), rrf, plain));
        for i in 0..=4 {
            let p = HybridParams {
                feedback_weight: i as f32 / 4.0,
                ..opts.hybrid
            };
            variants.push((describe(opts.fusion, &p), opts.fusion, p));
        }
        for (name, f, p) in variants {
            sweep.push((name, score_runs(dataset, &fused_runs(legs, f, &p, opts.k)?)));
        }
    }
    if let Some(path) = &opts.run_file {
        write_run_file(path, &runs, "academichub")?;
    }
    if let Some(path) = &opts.legs_file {
        let werr = |source| EvalError::Write {
            path: path.to_path_buf(),
            source,
        };
        let mut w = BufWriter::new(std::fs::File::create(path).map_err(werr)?);
        for l in legs {
            let line = serde_json::to_string(l).map_err(|e| werr(std::io::Error::other(e)))?;
            writeln!(w, "{line}").map_err(werr)?;
        }
        w.flush().map_err(werr)?;
    }
    Ok(EvalReport {
        dataset: dataset.dir.display().to_string(),
        split: opts.split.clone(),
        mode: opts.mode,
        fusion: (opts.mode == Mode::Hybrid).then(|| describe(opts.fusion, &opts.hybrid)),
        model: scored.model,
        metrics: score_runs(dataset, &runs),
        queries: runs.len(),
        documents: scored.documents,
        index_dir: scored.index_dir,
        search_seconds: scored.search_seconds,
        index_seconds: scored.index_seconds,
        sweep,
    })
}

/// The Milvus collection of an evaluation: `[milvus] collection` followed by the dataset's
/// name (letters, digits and underscores, as Milvus names allow).
pub fn milvus_eval_collection(base: &str, dataset_dir: &Path) -> String {
    let name = default_index_dir(Path::new(""), dataset_dir)
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let clean: String = format!("{base}_eval_{name}")
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .collect();
    clean
}

/// [`run_eval`] over a Milvus collection (`config.collection`): the corpus is imported when
/// the collection is empty and embedded when the mode needs vectors; Milvus runs each leg
/// (BM25 over its analyzer, dense), and the fusion, coverage weighting and scoring are the
/// same as over the index. Chinese questions are translated over the collection's vocabulary
/// sample ([`crate::search::milvus::translate_query`]).
pub fn run_eval_milvus(
    dataset: &Dataset,
    opts: &EvalOptions,
    config: &MilvusConfig,
    model: &crate::embed::ModelId,
    mut embedder: Option<&mut dyn Embedder>,
) -> Result<EvalReport, EvalError> {
    let store = MilvusStore::open_or_create(config, model)?;
    let t = std::time::Instant::now();
    if store.counts()?.papers == 0 {
        import_file_milvus(
            &store,
            &dataset.corpus,
            &corpus_options(dataset, opts),
            None,
        )?;
    }
    let model = match needed_model(dataset, opts, embedder.as_mut())? {
        Some(e) => {
            embed_missing_milvus(&store, &mut *e, None, None, opts.progress)?;
            Some(e.id().name.clone())
        }
        None => None,
    };
    let index_seconds = t.elapsed().as_secs_f64();
    let depth = opts.k.max(fusion::DEFAULT_DEPTH);
    // Chinese questions are translated over the collection's vocabulary sample, kept beside
    // the eval index's directory.
    let translating = opts.translate
        && dataset
            .queries
            .iter()
            .any(|(_, q)| crate::search::translate::has_cjk(q));
    let store = if translating {
        let state = PathBuf::from(format!("{}-milvus", opts.index_dir.display()));
        let store = store.with_state_dir(state);
        if let Err(why) = crate::search::milvus::load_vocabulary(&store) {
            eprintln!("warning: Chinese questions are not translated: {why}");
        }
        store
    } else {
        store
    };
    let t = std::time::Instant::now();
    let bar = query_bar(dataset, opts);
    let mut legs = Vec::with_capacity(dataset.queries.len());
    for (qid, text) in &dataset.queries {
        let (words, _) = crate::search::milvus::plain_words(text);
        let translated = if translating {
            crate::search::milvus::translate_query(&store, text, &mut Vec::new())
        } else {
            None
        };
        let vector = match embedder.as_mut() {
            Some(e) if opts.mode != Mode::Bm25 => {
                // The query's translation (when it informs the embedding) is embedded with it.
                let text = translated
                    .as_ref()
                    .and_then(|t| t.translation.embedding_text(text))
                    .unwrap_or_else(|| text.clone());
                Some(embed_query(&mut **e, dataset, qid, &text)?)
            }
            _ => None,
        };
        let one = match (opts.mode, &vector) {
            (Mode::Hybrid, Some(v)) => {
                let (bm25, dense, coverage) = crate::search::milvus::hybrid_legs(
                    &store,
                    &words,
                    translated.as_ref(),
                    v,
                    "",
                    depth,
                    opts.hybrid.coverage_weighting,
                )?;
                QueryLegs {
                    qid: qid.clone(),
                    bm25: to_strings(bm25),
                    dense: to_strings(dense),
                    feedback: Vec::new(),
                    coverage,
                }
            }
            (Mode::Dense, Some(v)) => {
                QueryLegs::one(qid, Mode::Dense, to_strings(store.dense(v, "", depth)?))
            }
            _ => QueryLegs::one(
                qid,
                Mode::Bm25,
                to_strings(store.bm25(
                    &crate::search::milvus::bm25_text(&words, translated.as_ref()),
                    "",
                    depth,
                )?),
            ),
        };
        legs.push(one);
        bar.inc(1);
    }
    bar.finish_and_clear();
    let search_seconds = t.elapsed().as_secs_f64();
    report(
        dataset,
        opts,
        &legs,
        Scored {
            model,
            documents: store.counts()?.papers,
            index_dir: format!("milvus:{}/{}", config.uri, config.collection),
            search_seconds,
            index_seconds,
        },
    )
}

/// Writes a TREC run file: `qid Q0 docid rank score tag`, in trec_eval order.
pub fn write_run_file(path: &Path, runs: &[QueryRun], tag: &str) -> Result<(), EvalError> {
    let werr = |source| EvalError::Write {
        path: path.to_path_buf(),
        source,
    };
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent).map_err(werr)?;
    }
    let file = std::fs::File::create(path).map_err(werr)?;
    let mut w = BufWriter::new(file);
    for (qid, run) in runs {
        let mut ranked = run.clone();
        metrics::trec_order(&mut ranked);
        for (rank, (doc, score)) in ranked.iter().enumerate() {
            writeln!(w, "{qid} Q0 {doc} {} {score:.6} {tag}", rank + 1).map_err(werr)?;
        }
    }
    w.flush().map_err(werr)?;
    Ok(())
}

/// Reads a TREC run file into per-query `(doc, score)` lists (query order preserved).
pub fn read_run_file(path: &Path) -> Result<Vec<QueryRun>, EvalError> {
    let text = std::fs::read_to_string(path).map_err(|e| EvalError::Dataset {
        path: path.to_path_buf(),
        reason: e.to_string(),
    })?;
    let mut out: Vec<QueryRun> = Vec::new();
    let mut pos: HashMap<String, usize> = HashMap::new();
    for (i, line) in text.lines().enumerate() {
        let cols: Vec<&str> = line.split_whitespace().collect();
        if cols.is_empty() {
            continue;
        }
        let [qid, _, doc, _, score, ..] = cols.as_slice() else {
            return Err(EvalError::Parse {
                path: path.to_path_buf(),
                line: i as u64 + 1,
                reason: "expected `qid Q0 docid rank score tag`".into(),
            });
        };
        let score: f64 = score.parse().map_err(|_| EvalError::Parse {
            path: path.to_path_buf(),
            line: i as u64 + 1,
            reason: format!("score {score:?} is not a number"),
        })?;
        let at = *pos.entry(qid.to_string()).or_insert_with(|| {
            out.push((qid.to_string(), Vec::new()));
            out.len() - 1
        });
        out[at].1.push((doc.to_string(), score));
    }
    Ok(out)
}
