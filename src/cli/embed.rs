//! `academichub embed`

use std::path::PathBuf;
use std::process::ExitCode;

use academichub::ingest::{embed_missing, embed_missing_milvus};
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
    /// Milvus backend only: this process is worker I of N (`--worker 0/4`) and embeds only
    /// its share of the papers, so N processes (on one machine or many) can fill one
    /// collection at once without doing a paper twice.
    #[arg(long, value_parser = parse_worker)]
    worker: Option<(u32, u32)>,
}

/// `I/N` with I < N.
fn parse_worker(s: &str) -> Result<(u32, u32), String> {
    let bad = || format!("{s:?} is not a worker I/N with I below N (e.g. 0/4)");
    let (i, n) = s.split_once('/').ok_or_else(bad)?;
    let (i, n): (u32, u32) = (
        i.trim().parse().map_err(|_| bad())?,
        n.trim().parse().map_err(|_| bad())?,
    );
    if n == 0 || i >= n {
        return Err(bad());
    }
    Ok((i, n))
}

pub fn run(a: Args) -> anyhow::Result<ExitCode> {
    let started = std::time::Instant::now();
    let (r, embedder) = match a.model.milvus()? {
        Some(config) => {
            if a.since.is_some() {
                anyhow::bail!("--since is not available on the milvus backend");
            }
            let store = academichub::index::milvus::MilvusStore::open(&config)?;
            let mut embedder = a.model.load_named(&store.info().model)?;
            let r = embed_missing_milvus(&store, &mut embedder, a.limit, a.worker, !a.json)?;
            (r, embedder)
        }
        None => {
            if a.worker.is_some() {
                anyhow::bail!("--worker is for the milvus backend (one process writes an index)");
            }
            let index = PaperIndex::open(&a.index)?;
            let mut embedder = a.model.load(Some(&index))?;
            let r = embed_missing(&index, &mut embedder, a.since, a.limit, !a.json)?;
            (r, embedder)
        }
    };
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
