//! `academichub stats`

use std::path::PathBuf;
use std::process::ExitCode;

use academichub::search::browse::index_stats;
use academichub::PaperIndex;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Index directory.
    #[arg(long, env = "ACADEMICHUB_INDEX", default_value_os_t = super::default_index())]
    index: PathBuf,
    /// Print JSON.
    #[arg(long)]
    json: bool,
    /// How many primary categories to list (human output).
    #[arg(long, default_value_t = 20)]
    top: usize,
    /// Configuration file (default: ./academichub.toml when present); with `[index] backend =
    /// "milvus"` the counts are the Milvus collection's.
    #[arg(long, env = "ACADEMICHUB_CONFIG")]
    config: Option<PathBuf>,
}

pub fn run(a: Args) -> anyhow::Result<ExitCode> {
    let config = academichub::config::Config::load(a.config.as_deref())?;
    if config.index.backend == academichub::config::Backend::Milvus {
        return milvus_stats(&config.milvus, a.json);
    }
    let index = PaperIndex::open(&a.index)?;
    let s = index_stats(&index)?;
    // What a serving process embedding in the background last wrote beside the index.
    let background = academichub::ingest::background::read_progress(&a.index);
    let coverage = academichub::index::stats::coverage(s.with_vectors, s.papers);
    if a.json {
        let mut v = serde_json::to_value(&s)?;
        v["semantic_coverage"] = serde_json::json!(coverage);
        v["background_embedding"] = serde_json::to_value(&background)?;
        println!("{}", serde_json::to_string_pretty(&v)?);
        return Ok(ExitCode::SUCCESS);
    }
    println!("index:          {}", s.index_dir);
    println!("schema version: {}", s.schema_version);
    println!("papers:         {}", s.papers);
    println!(
        "vectors:        {}{}",
        s.with_vectors,
        s.embedding_model
            .as_deref()
            .map(|m| format!(" (model {m})"))
            .unwrap_or_default()
    );
    println!(
        "coverage:       {:.1}% of papers have a vector",
        coverage * 100.0
    );
    if let Some(b) = &background {
        let age = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs().saturating_sub(b.updated_unix))
            .unwrap_or(0);
        println!(
            "background:     {} ({}), {:.1} papers/s, eta {} (reported {age}s ago by serve)",
            b.state.as_str(),
            b.model,
            b.rate_per_sec,
            b.eta_secs
                .map(|s| format!("{:.0} min", s / 60.0))
                .unwrap_or_else(|| "-".into())
        );
    }
    println!(
        "published:      {} .. {}",
        s.first_published.as_deref().unwrap_or("-"),
        s.last_published.as_deref().unwrap_or("-")
    );
    println!(
        "size on disk:   {:.1} MiB in {} segments",
        s.size_bytes as f64 / 1048576.0,
        s.segments
    );
    println!("by source:");
    for (k, v) in &s.by_source {
        println!("  {k:<24} {v:>8}");
    }
    let mut cats: Vec<_> = s.by_primary_category.iter().collect();
    cats.sort_by(|a, b| b.1.cmp(a.1).then(a.0.cmp(b.0)));
    println!(
        "by primary category ({} in all, top {}):",
        cats.len(),
        a.top.min(cats.len())
    );
    for (k, v) in cats.iter().take(a.top) {
        println!("  {k:<24} {v:>8}");
    }
    Ok(ExitCode::SUCCESS)
}

/// What the Milvus collection holds (categories are not counted: Milvus has no facet count).
fn milvus_stats(
    config: &academichub::index::milvus::MilvusConfig,
    json: bool,
) -> anyhow::Result<ExitCode> {
    let store = academichub::index::milvus::MilvusStore::open(config)?;
    let counts = store.counts()?;
    let coverage = academichub::index::stats::coverage(counts.with_vectors, counts.papers);
    if json {
        let v = serde_json::json!({
            "backend": "milvus",
            "uri": config.uri,
            "collection": config.collection,
            "papers": counts.papers,
            "with_vectors": counts.with_vectors,
            "embedding_model": store.info().model,
            "semantic_coverage": coverage,
        });
        println!("{}", serde_json::to_string_pretty(&v)?);
        return Ok(ExitCode::SUCCESS);
    }
    println!("backend:        milvus");
    println!("collection:     {:?} at {}", config.collection, config.uri);
    println!("papers:         {}", counts.papers);
    println!(
        "vectors:        {} (model {}, {} dimensions)",
        counts.with_vectors,
        store.info().model,
        store.info().dims
    );
    println!(
        "coverage:       {:.1}% of papers have a vector",
        coverage * 100.0
    );
    Ok(ExitCode::SUCCESS)
}
