//! `academichub embed`

use std::path::PathBuf;
use std::process::ExitCode;

use academichub::ingest::embed_missing;
use academichub::PaperIndex;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Index directory.
    #[arg(long, env = "ACADEMICHUB_INDEX", default_value_os_t = super::default_index())]
    index: PathBuf,
    #[command(flatten)]
    model: super::ModelArgs,
    /// Only papers published on or after this date (YYYY-MM-DD).
    #[arg(long, value_parser = super::parse_date_arg)]
    since: Option<time::Date>,
    /// Embed at most this many papers (newest first).
    #[arg(long)]
    limit: Option<u64>,
    /// Print JSON.
    #[arg(long)]
    json: bool,
}

pub fn run(a: Args) -> anyhow::Result<ExitCode> {
    let index = PaperIndex::open(&a.index)?;
    let mut embedder = a.model.load(Some(&index))?;
    let started = std::time::Instant::now();
    let r = embed_missing(&index, &mut embedder, a.since, a.limit, !a.json)?;
    let secs = started.elapsed().as_secs_f64();
    if a.json {
        let mut v = serde_json::to_value(&r)?;
        v["seconds"] = serde_json::json!(secs);
        v["model"] = serde_json::json!(embedder.spec().name);
        println!("{}", serde_json::to_string_pretty(&v)?);
    } else {
        println!(
            "embedded {} papers with {} in {secs:.1}s ({:.1} docs/s); {} already had a vector, {} still lack one",
            r.embedded,
            embedder.spec().name,
            r.embedded as f64 / secs.max(1e-9),
            r.already,
            r.remaining
        );
    }
    Ok(ExitCode::SUCCESS)
}
