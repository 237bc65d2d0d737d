//! `academichub radar add|list|show|rm`

use std::path::PathBuf;
use std::process::ExitCode;

use academichub::embed::{Embedder, FastEmbedder};
use academichub::paper::PaperId;
use academichub::radar::{self, RadarFilters, RadarSpec, RankRequest, DEFAULT_RADAR_K};
use academichub::search::QueryEmbedder;
use academichub::PaperIndex;

#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, clap::Subcommand)]
enum Command {
    /// Save a new radar (at least one --query or one --positive paper).
    Add(AddArgs),
    /// List the saved radars.
    List(ListArgs),
    /// Show a radar and its ranked papers, each with the reason it matched.
    Show(ShowArgs),
    /// Delete a radar (and forget which papers it delivered).
    Rm(RmArgs),
    /// Mark papers as read by the radar's reader: its feed, digests and `show --unread` leave
    /// them out from now on (a later version comes back as updated).
    Read(ReadArgs),
}

#[derive(Debug, clap::Args)]
struct ReadArgs {
    /// Radar id.
    id: String,
    /// A paper id (repeatable).
    #[arg(long = "paper", required = true)]
    papers: Vec<String>,
    #[command(flatten)]
    store: StoreArgs,
}

#[derive(Debug, clap::Args)]
struct IndexArg {
    /// Index directory (radars are stored in it, in radars.json). On the Milvus backend, the
    /// local state directory beside the collection (serve's --index).
    #[arg(long, env = "ACADEMICHUB_INDEX", default_value_os_t = super::default_index())]
    index: PathBuf,
}

/// `--index` and `--config` (whose `[index] backend` may name a Milvus collection).
#[derive(Debug, clap::Args)]
struct StoreArgs {
    #[command(flatten)]
    index: IndexArg,
    /// Configuration file (default: ./academichub.toml when present).
    #[arg(long, env = "ACADEMICHUB_CONFIG")]
    config: Option<PathBuf>,
}

impl StoreArgs {
    fn open(&self) -> anyhow::Result<super::Papers> {
        super::Papers::open(&self.index.index, self.config.as_deref())
    }
}

#[derive(Debug, clap::Args)]
struct AddArgs {
    /// Name (the id is a short slug of it).
    #[arg(long)]
    name: String,
    /// A query: keywords or natural language, any language (repeatable).
    #[arg(long = "query")]
    queries: Vec<String>,
    /// Only papers in this category (repeatable; any of them matches).
    #[arg(long = "category")]
    categories: Vec<String>,
    /// Only papers from this source (repeatable).
    #[arg(long = "source")]
    sources: Vec<String>,
    /// A paper id whose neighbours should move up (repeatable).
    #[arg(long = "positive")]
    positive: Vec<String>,
    /// A paper id whose neighbours should move down (repeatable).
    #[arg(long = "negative")]
    negative: Vec<String>,
    #[command(flatten)]
    store: StoreArgs,
    /// Print JSON.
    #[arg(long)]
    json: bool,
}

#[derive(Debug, clap::Args)]
struct ListArgs {
    #[command(flatten)]
    store: StoreArgs,
    /// Print JSON.
    #[arg(long)]
    json: bool,
}

#[derive(Debug, clap::Args)]
struct ShowArgs {
    /// Radar id.
    id: String,
    /// Only papers published on or after this date (YYYY-MM-DD; not in the future).
    #[arg(long, value_parser = super::parse_date_arg)]
    since: Option<time::Date>,
    /// Only papers published on or before this date (YYYY-MM-DD).
    #[arg(long, value_parser = super::parse_date_arg)]
    until: Option<time::Date>,
    /// Number of papers.
    #[arg(short = 'k', long = "k", default_value_t = DEFAULT_RADAR_K)]
    k: usize,
    /// Leave out papers already delivered (marked read, sent in a digest).
    #[arg(long)]
    unread: bool,
    #[command(flatten)]
    index: IndexArg,
    #[command(flatten)]
    model: super::ModelArgs,
    /// Print JSON.
    #[arg(long, conflicts_with = "format")]
    json: bool,
    /// Print the papers as citations instead: bibtex or ris (for Zotero, JabRef, EndNote).
    #[arg(long, value_parser = super::parse_export_arg)]
    format: Option<academichub::delivery::ExportFormat>,
}

#[derive(Debug, clap::Args)]
struct RmArgs {
    /// Radar id.
    id: String,
    #[command(flatten)]
    store: StoreArgs,
    /// Print JSON (the deleted radar).
    #[arg(long)]
    json: bool,
}

pub fn run(a: Args) -> anyhow::Result<ExitCode> {
    match a.command {
        Command::Add(a) => add(a),
        Command::List(a) => list(a),
        Command::Show(a) => show(a),
        Command::Rm(a) => rm(a),
        Command::Read(a) => read(a),
    }
}

fn ids(v: Vec<String>) -> Vec<PaperId> {
    v.into_iter().map(PaperId::new).collect()
}

fn add(a: AddArgs) -> anyhow::Result<ExitCode> {
    let papers = a.store.open()?;
    let spec = RadarSpec {
        name: a.name,
        queries: a.queries,
        filters: RadarFilters {
            categories: a.categories,
            sources: a.sources,
        },
        positive: ids(a.positive),
        negative: ids(a.negative),
    };
    let r = radar::create_radar(papers.source(), &spec)?;
    if a.json {
        println!("{}", serde_json::to_string_pretty(&r)?);
    } else {
        println!("created radar {} ({})", r.id, r.name);
    }
    Ok(ExitCode::SUCCESS)
}

fn list(a: ListArgs) -> anyhow::Result<ExitCode> {
    let papers = a.store.open()?;
    let radars = radar::list_radars(papers.source())?;
    if a.json {
        println!("{}", serde_json::to_string_pretty(&radars)?);
        return Ok(ExitCode::SUCCESS);
    }
    if radars.is_empty() {
        println!("no radars (create one with `academichub radar add --name N --query Q`)");
    }
    for r in &radars {
        println!("{:<24} {}", r.id, r.name);
        for q in &r.queries {
            println!("{:<24}   query: {q}", "");
        }
        let f = &r.filters;
        if !f.categories.is_empty() || !f.sources.is_empty() {
            println!(
                "{:<24}   filters: {}",
                "",
                f.categories
                    .iter()
                    .chain(f.sources.iter())
                    .cloned()
                    .collect::<Vec<_>>()
                    .join(", ")
            );
        }
        if !r.positive.is_empty() || !r.negative.is_empty() {
            println!(
                "{:<24}   examples: +{} -{}",
                "",
                r.positive.len(),
                r.negative.len()
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// The index's embedder for radar queries, or `None` (BM25-only, with the reason printed)
/// when the index has no vectors or the model cannot be loaded or does not match.
pub(super) fn query_embedder(model: &super::ModelArgs, index: &PaperIndex) -> Option<FastEmbedder> {
    index.embedding_model()?;
    let mut loaded = match model.load(Some(index)) {
        Ok(e) => e,
        Err(err) => {
            eprintln!("warning: cannot load the embedding model ({err:#}); ranking with BM25 only");
            return None;
        }
    };
    if let Some(why) = QueryEmbedder::for_index(index, Ok(&mut loaded)).unavailable() {
        eprintln!("warning: {why}; ranking with BM25 only");
        return None;
    }
    Some(loaded)
}

fn show(a: ShowArgs) -> anyhow::Result<ExitCode> {
    let papers = super::Papers::open(&a.index.index, a.model.config_path())?;
    let index = papers.source();
    let radar = radar::get_radar(index, &a.id)?;
    let req = RankRequest {
        since: a.since,
        until: a.until,
        k: a.k,
    };
    // Validate before loading a model.
    req.validate(radar::rank::today_utc())?;
    let mut embedder = papers.query_embedder(&a.model);
    let started = std::time::Instant::now();
    let embedder = embedder.as_mut().map(|e| e as &mut dyn Embedder);
    let res = if a.unread {
        let (res, left_out, updated) =
            academichub::delivery::unread_papers(index, &radar.id, &req, embedder)?;
        eprintln!(
            "note: {left_out} papers already delivered left out; {} revised since delivered",
            updated.len()
        );
        res
    } else {
        radar::rank(index, &radar, &req, embedder)?
    };
    let took_ms = started.elapsed().as_secs_f64() * 1000.0;
    if let Some(format) = a.format {
        for n in &res.notes {
            eprintln!("note: {n}");
        }
        let papers: Vec<_> = res.papers.into_iter().map(|h| h.paper).collect();
        print!("{}", academichub::delivery::export(&papers, format));
        return Ok(ExitCode::SUCCESS);
    }
    if a.json {
        let mut v = serde_json::to_value(&res)?;
        v["took_ms"] = serde_json::json!(took_ms);
        println!("{}", serde_json::to_string_pretty(&v)?);
        return Ok(ExitCode::SUCCESS);
    }
    println!("{} ({})", radar.name, radar.id);
    for q in &radar.queries {
        println!("  query: {q}");
    }
    for p in &radar.positive {
        println!("  positive: {p}");
    }
    for n in &radar.negative {
        println!("  negative: {n}");
    }
    for n in &res.notes {
        eprintln!("note: {n}");
    }
    println!(
        "\n{} papers ({}, {} candidates{}; {took_ms:.0} ms)\n",
        res.papers.len(),
        res.mode,
        res.candidates,
        res.since
            .as_ref()
            .map(|s| format!(", since {s}"))
            .unwrap_or_default()
    );
    for h in &res.papers {
        let p = &h.paper;
        println!(
            "{:>3}. {}  [{}]  score {:.3}",
            h.rank, p.title, p.id, h.score
        );
        let (date, categories) = super::date_and_categories(p);
        println!("     {date} · {categories}");
        println!("     why: {}\n", h.reason.text);
    }
    Ok(ExitCode::SUCCESS)
}

fn read(a: ReadArgs) -> anyhow::Result<ExitCode> {
    let papers = a.store.open()?;
    let ids: Vec<PaperId> = a.papers.iter().map(|p| PaperId::new(p.trim())).collect();
    let n = academichub::delivery::mark_read(papers.source(), &a.id, &ids)?;
    println!("marked {n} papers as read for radar {}", a.id);
    Ok(ExitCode::SUCCESS)
}

fn rm(a: RmArgs) -> anyhow::Result<ExitCode> {
    let papers = a.store.open()?;
    let r = academichub::delivery::delete_radar(papers.source(), &a.id)?;
    if a.json {
        println!("{}", serde_json::to_string_pretty(&r)?);
    } else {
        println!("deleted radar {} ({})", r.id, r.name);
    }
    Ok(ExitCode::SUCCESS)
}
