//! `academichub eval`

use std::path::PathBuf;
use std::process::ExitCode;

use academichub::eval::{
    default_index_dir, milvus_eval_collection, run_eval, run_eval_milvus, Dataset, EvalOptions,
    Mode,
};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// BEIR-layout dataset directory (corpus.jsonl[.gz], queries.jsonl, qrels/<split>.tsv).
    #[arg(long)]
    dataset: PathBuf,
    /// Which qrels split to evaluate.
    #[arg(long, default_value = "test")]
    split: String,
    /// Retrieval mode.
    #[arg(long, default_value = "bm25", value_parser = ["bm25", "dense", "hybrid"])]
    mode: String,
    /// How hybrid merges the two rankings.
    #[arg(long, default_value = "convex", value_parser = ["convex", "rrf"])]
    fusion: String,
    /// Weight of the dense side in convex fusion (0..1).
    #[arg(long, default_value_t = academichub::search::fusion::DEFAULT_ALPHA)]
    alpha: f32,
    /// Hybrid only: also report every alpha in 0.0..1.0 (step 0.1) and RRF.
    #[arg(long)]
    sweep: bool,
    #[command(flatten)]
    hybrid: super::HybridArgs,
    #[command(flatten)]
    model: super::ModelArgs,
    /// Ranking depth per query (and run file depth).
    #[arg(short = 'k', long = "k", default_value_t = 100)]
    k: usize,
    /// Write a TREC run file here.
    #[arg(long)]
    run_file: Option<PathBuf>,
    /// Index directory for the dataset (default: index-data/eval/<parent>-<dataset>; reused when present).
    #[arg(long)]
    index: Option<PathBuf>,
    /// Delete and rebuild the dataset's index first.
    #[arg(long)]
    rebuild: bool,
    /// Queries file (default: queries.jsonl, or queries_<x>.jsonl for split test_<x>).
    #[arg(long)]
    queries: Option<PathBuf>,
    /// Print one JSON object.
    #[arg(long)]
    json: bool,
    /// Search Chinese queries' words as they are, without their English translation.
    #[arg(long)]
    no_translate: bool,
    /// Write each query's legs (BM25, dense and feedback ids with scores, and the term
    /// coverage) to this file as JSON lines.
    #[arg(long)]
    legs_file: Option<PathBuf>,
}

pub fn run(a: Args) -> anyhow::Result<ExitCode> {
    if a.k == 0 || a.k > academichub::search::MAX_K {
        anyhow::bail!("-k must be between 1 and {}", academichub::search::MAX_K);
    }
    let mode: Mode = a.mode.parse().map_err(anyhow::Error::msg)?;
    let dataset = Dataset::load(&a.dataset, &a.split, a.queries.as_deref())?;
    let index_dir = a
        .index
        .unwrap_or_else(|| default_index_dir(std::path::Path::new("index-data"), &a.dataset));
    // With [index] backend = "milvus", the dataset goes to its own collection instead.
    let milvus = a.model.milvus()?.map(|mut c| {
        c.collection = milvus_eval_collection(&c.collection, &a.dataset);
        c
    });
    if a.rebuild {
        match &milvus {
            Some(c) => academichub::index::milvus::MilvusStore::drop_collection(c)?,
            None if index_dir.exists() => std::fs::remove_dir_all(&index_dir)?,
            None => {}
        }
    }
    let fusion = super::fusion_arg(&a.fusion, a.alpha)?;
    let opts = EvalOptions {
        split: a.split,
        mode,
        fusion,
        hybrid: a.hybrid.params()?,
        sweep: a.sweep,
        k: a.k,
        run_file: a.run_file,
        index_dir,
        queries: a.queries,
        progress: !a.json,
        translate: !a.no_translate,
        legs_file: a.legs_file,
    };
    let existing = match &milvus {
        Some(_) => None,
        None => academichub::PaperIndex::open(&opts.index_dir).ok(),
    };
    let mut embedder = if mode == Mode::Bm25 {
        None
    } else {
        Some(a.model.load(existing.as_ref())?)
    };
    let r = match &milvus {
        Some(config) => {
            let model = match &embedder {
                Some(e) => academichub::embed::Embedder::id(e).clone(),
                None => a.model.model_id()?,
            };
            run_eval_milvus(
                &dataset,
                &opts,
                config,
                &model,
                embedder
                    .as_mut()
                    .map(|e| e as &mut dyn academichub::embed::Embedder),
            )?
        }
        None => run_eval(
            &dataset,
            &opts,
            embedder
                .as_mut()
                .map(|e| e as &mut dyn academichub::embed::Embedder),
        )?,
    };
    if a.json {
        println!("{}", serde_json::to_string_pretty(&r)?);
    } else {
        println!(
            "dataset    {} (split {}, {} queries, {} documents)",
            r.dataset, r.split, r.queries, r.documents
        );
        println!(
            "mode       {}{}{}",
            r.mode,
            r.fusion
                .as_deref()
                .map(|f| format!(" {f}"))
                .unwrap_or_default(),
            r.model
                .as_deref()
                .map(|m| format!(" (model {m})"))
                .unwrap_or_default()
        );
        println!("nDCG@10    {:.4}", r.metrics.ndcg_10);
        println!("Recall@100 {:.4}", r.metrics.recall_100);
        println!("MRR@10     {:.4}", r.metrics.mrr_10);
        println!("MAP@100    {:.4}", r.metrics.map_100);
        println!("P@10       {:.4}", r.metrics.p_10);
        println!(
            "time       {:.2}s searching ({:.1} ms/query){}",
            r.search_seconds,
            r.search_seconds * 1000.0 / r.queries.max(1) as f64,
            if r.index_seconds > 0.0 {
                format!(", {:.1}s indexing", r.index_seconds)
            } else {
                String::new()
            }
        );
        if !r.sweep.is_empty() {
            println!("sweep      fusion            nDCG@10  Recall@100  MRR@10  MAP@100");
            for (name, m) in &r.sweep {
                println!(
                    "           {name:<17} {:.4}   {:.4}      {:.4}  {:.4}",
                    m.ndcg_10, m.recall_100, m.mrr_10, m.map_100
                );
            }
        }
        if let Some(p) = &opts.run_file {
            println!("run file   {}", p.display());
        }
    }
    Ok(ExitCode::SUCCESS)
}
