//! Command-line flags (clap) and their dispatch. Each subcommand has its own file.

mod eval;
mod import;
mod search;
mod stats;

use std::path::PathBuf;
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
    /// Measure ranking quality on a BEIR-layout dataset (nDCG@10, Recall@100, MRR@10, MAP@100).
    Eval(eval::Args),
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
        Command::Eval(a) => eval::run(a),
    }
}

/// Parses `YYYY-MM-DD` for clap.
fn parse_date_arg(s: &str) -> Result<time::Date, String> {
    academichub::paper::parse_date(s)
        .filter(|_| s.trim().len() == 10)
        .ok_or_else(|| format!("{s:?} is not a date in YYYY-MM-DD form"))
}
