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
}

pub fn run(a: Args) -> anyhow::Result<ExitCode> {
    let index = PaperIndex::open(&a.index)?;
    let s = index_stats(&index)?;
    if a.json {
        println!("{}", serde_json::to_string_pretty(&s)?);
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
