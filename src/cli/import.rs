//! `academichub import`

use std::path::PathBuf;
use std::process::ExitCode;

use academichub::ingest::{import_file, import_file_milvus, Format, ImportOptions};
use academichub::PaperIndex;
use anyhow::Context;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Input format: beir (corpus.jsonl) or arxiv-jsonl (arXiv metadata, one JSON object a line).
    #[arg(long, value_parser = ["beir", "arxiv-jsonl"])]
    format: String,
    /// The file to import (gzip is detected automatically).
    path: PathBuf,
    /// Index directory (created when missing).
    #[arg(long, env = "ACADEMICHUB_INDEX", default_value_os_t = super::default_index())]
    index: PathBuf,
    /// `source` value given to BEIR records.
    #[arg(long, default_value = "beir")]
    source: String,
    /// Also embed every paper (unchanged papers keep their stored vector).
    #[arg(long)]
    embed: bool,
    #[command(flatten)]
    model: super::ModelArgs,
    /// Print the report as JSON.
    #[arg(long)]
    json: bool,
}

pub fn run(a: Args) -> anyhow::Result<ExitCode> {
    let format: Format = a.format.parse().map_err(anyhow::Error::msg)?;
    // Check the input before creating anything, so a typo leaves no empty index behind.
    std::fs::File::open(&a.path).with_context(|| format!("cannot open {}", a.path.display()))?;
    let mut opts = ImportOptions::new(format);
    opts.beir_source = a.source.clone();
    let started = std::time::Instant::now();
    let (report, target) = match a.model.milvus()? {
        Some(config) => {
            // With --embed, the collection's model (its vectors must compare).
            let store = a.model.open_collection(&config)?;
            let mut embedder = if a.embed {
                Some(a.model.load_named(&store.info().model)?)
            } else {
                None
            };
            let report = import_file_milvus(
                &store,
                &a.path,
                &opts,
                embedder
                    .as_mut()
                    .map(|e| e as &mut dyn academichub::embed::Embedder),
            )?;
            let target = format!(
                "the Milvus collection {:?} at {}",
                config.collection, config.uri
            );
            (report, target)
        }
        None => {
            let index = PaperIndex::open_or_create(&a.index)?;
            let mut embedder = if a.embed {
                Some(a.model.load(Some(&index))?)
            } else {
                None
            };
            let report = import_file(
                &index,
                &a.path,
                &opts,
                embedder
                    .as_mut()
                    .map(|e| e as &mut dyn academichub::embed::Embedder),
            )?;
            (report, format!("the index at {}", a.index.display()))
        }
    };
    let secs = started.elapsed().as_secs_f64();
    if a.json {
        let mut v = serde_json::to_value(&report)?;
        v["seconds"] = serde_json::json!(secs);
        v["index"] = serde_json::json!(target);
        println!("{}", serde_json::to_string_pretty(&v)?);
    } else {
        for e in &report.errors {
            eprintln!("skipped: {e}");
        }
        if report.skipped as usize > report.errors.len() {
            eprintln!(
                "... and {} more skipped records",
                report.skipped as usize - report.errors.len()
            );
        }
        println!(
            "imported {} papers from {} ({} records, {} skipped, {} embedded) in {:.1}s ({:.0} docs/s); {} now holds {} papers",
            report.imported,
            a.path.display(),
            report.records,
            report.skipped,
            report.embedded,
            secs,
            report.imported as f64 / secs.max(1e-9),
            target,
            report.total_papers
        );
    }
    Ok(ExitCode::SUCCESS)
}
