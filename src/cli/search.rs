//! `academichub search`

use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;

use academichub::search::{
    default_mode, embedding_text, Filters, Mode, QueryEmbedder, QueryVector, SearchRequest,
    SearchResults, DEFAULT_K,
};
use academichub::{PaperIndex, QueryEngine};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Query: words, "quoted phrases", +must, -exclude, field:term (title, abstract, authors,
    /// categories, source, id, doi).
    query: String,
    /// Index directory.
    #[arg(long, env = "ACADEMICHUB_INDEX", default_value_os_t = super::default_index())]
    index: PathBuf,
    /// Number of results.
    #[arg(short = 'k', long = "k", default_value_t = DEFAULT_K)]
    k: usize,
    /// Skip this many results (pagination).
    #[arg(long, default_value_t = 0)]
    offset: usize,
    /// Only papers in this category (repeatable; any of them matches).
    #[arg(long = "category")]
    categories: Vec<String>,
    /// Only papers from this source (repeatable).
    #[arg(long = "source")]
    sources: Vec<String>,
    /// Published on or after this date (YYYY-MM-DD).
    #[arg(long, value_parser = super::parse_date_arg)]
    from: Option<time::Date>,
    /// Published on or before this date (YYYY-MM-DD).
    #[arg(long, value_parser = super::parse_date_arg)]
    to: Option<time::Date>,
    /// bm25, dense or hybrid. Default: hybrid when the index has vectors, else bm25.
    #[arg(long, value_parser = ["bm25", "dense", "hybrid"])]
    mode: Option<String>,
    /// How hybrid merges the two rankings: convex (normalized scores) or rrf (ranks).
    #[arg(long, default_value = "convex", value_parser = ["convex", "rrf"])]
    fusion: String,
    /// Weight of the dense side in convex fusion (0..1).
    #[arg(long, default_value_t = academichub::search::fusion::DEFAULT_ALPHA)]
    alpha: f32,
    #[command(flatten)]
    hybrid: super::HybridArgs,
    #[command(flatten)]
    model: super::ModelArgs,
    /// Show how each hit was ranked (bm25 / dense ranks and scores).
    #[arg(long)]
    explain: bool,
    /// Search the query's Chinese words as they are, without their English translation.
    #[arg(long)]
    no_translate: bool,
    /// Print JSON.
    #[arg(long, conflicts_with = "format")]
    json: bool,
    /// Print the results as citations instead: bibtex or ris (for Zotero, JabRef, EndNote).
    #[arg(long, value_parser = super::parse_export_arg)]
    format: Option<academichub::delivery::ExportFormat>,
}

pub fn run(a: Args) -> anyhow::Result<ExitCode> {
    let started = std::time::Instant::now();
    let named: Option<Mode> = match &a.mode {
        Some(m) => Some(m.parse().map_err(anyhow::Error::msg)?),
        None => None,
    };
    let res = match a.model.milvus()? {
        Some(config) => search_milvus(&a, named, &config)?,
        None => search_index(&a, named)?,
    };
    let took_ms = started.elapsed().as_secs_f64() * 1000.0;
    if let Some(format) = a.format {
        for w in &res.warnings {
            eprintln!("warning: {w}");
        }
        let papers: Vec<_> = res.hits.into_iter().map(|h| h.paper).collect();
        print!("{}", academichub::delivery::export(&papers, format));
        return Ok(ExitCode::SUCCESS);
    }
    if a.json {
        let mut v = serde_json::to_value(&res)?;
        v["query"] = serde_json::json!(a.query);
        v["took_ms"] = serde_json::json!(took_ms);
        println!("{}", serde_json::to_string_pretty(&v)?);
        return Ok(ExitCode::SUCCESS);
    }
    for w in &res.warnings {
        eprintln!("warning: {w}");
    }
    let color = std::io::stdout().is_terminal();
    let (open, close) = if color {
        ("\x1b[1;33m", "\x1b[0m")
    } else {
        ("[", "]")
    };
    if let (true, Some(t)) = (res.hits.is_empty(), &res.translation) {
        println!("translated: {t}");
    }
    if res.hits.is_empty() {
        println!(
            "no results ({} matching papers, {took_ms:.1} ms)",
            res.total
        );
        return Ok(ExitCode::SUCCESS);
    }
    println!(
        "{} matching papers ({}); showing {}-{} ({took_ms:.1} ms)",
        res.total,
        res.mode,
        a.offset + 1,
        a.offset + res.hits.len()
    );
    if let Some(t) = &res.translation {
        println!("translated: {t}");
    }
    println!();
    for h in &res.hits {
        let p = &h.paper;
        println!(
            "{:>3}. {}  [{}]  score {:.3}",
            h.rank,
            h.title_snippet
                .render(open, close, |s, out| out.push_str(s)),
            p.id,
            h.score
        );
        let (date, categories) = super::date_and_categories(p);
        let authors = p.authors.iter().take(3).cloned().collect::<Vec<_>>();
        println!("     {date} · {categories} · {}", authors.join(", "));
        if a.explain {
            println!("     ranked by: {}", explain(&h.sources));
        }
        println!(
            "     {}\n",
            h.abstract_snippet
                .render(open, close, |s, out| out.push_str(s))
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// The search over the tantivy index.
fn search_index(a: &Args, named: Option<Mode>) -> anyhow::Result<SearchResults> {
    let index = PaperIndex::open(&a.index)?;
    let engine = QueryEngine::new(&index);
    // The model is loaded when the search may need it: dense or hybrid named, or no mode named
    // and the index has vectors (then it decides the default mode).
    let mut loaded = match named {
        Some(Mode::Bm25) => None,
        None if index.embedding_model().is_none() => None,
        _ => Some(a.model.load(Some(&index)).map_err(|e| e.to_string())),
    };
    let mut embedder = loaded.as_mut().map(|loaded| match loaded {
        Ok(e) => QueryEmbedder::for_index(&index, Ok(e)),
        Err(why) => QueryEmbedder::Unavailable(why.clone()),
    });
    let ready = embedder.as_ref().is_some_and(QueryEmbedder::is_ready);
    let mode = named.unwrap_or_else(|| default_mode(&index, ready));
    if let (None, Some(why)) = (
        named,
        embedder.as_ref().and_then(QueryEmbedder::unavailable),
    ) {
        eprintln!("warning: dense search unavailable ({why}); searching with bm25");
    }
    let query_vector = match (mode, embedder.as_mut()) {
        (Mode::Bm25, _) | (_, None) => None,
        (_, Some(e)) => Some(e.embed(&embedding_text(&index, &a.query, !a.no_translate))),
    };
    Ok(engine.search(&request(a, mode, query_vector)?)?)
}

/// The search over the Milvus collection of `[milvus]`: the model is the collection's.
fn search_milvus(
    a: &Args,
    named: Option<Mode>,
    config: &academichub::index::milvus::MilvusConfig,
) -> anyhow::Result<SearchResults> {
    let store =
        academichub::index::milvus::MilvusStore::open(config)?.with_state_dir(a.index.clone());
    let translating = !a.no_translate && academichub::search::translate::has_cjk(&a.query);
    if translating {
        // The first Chinese question of a deployment draws its vocabulary sample (seconds).
        std::fs::create_dir_all(&a.index)?;
        if let Err(why) = academichub::search::milvus::load_vocabulary(&store) {
            eprintln!("warning: Chinese words are not translated: {why}");
        }
    }
    let has_vectors = || -> anyhow::Result<bool> { Ok(store.count_with_vectors("")? > 0) };
    let wants_model = match named {
        Some(Mode::Bm25) => false,
        Some(_) => true,
        None => has_vectors()?,
    };
    let mut query_vector = None;
    let mut mode = named.unwrap_or(Mode::Bm25);
    if wants_model {
        let model = a.model.load_named(&store.info().model);
        query_vector = Some(match model {
            Ok(mut e) => match store.check_model(academichub::embed::Embedder::id(&e)) {
                Ok(()) => match academichub::embed::Embedder::embed_query(
                    &mut e,
                    &if translating {
                        academichub::search::milvus::embedding_text(&store, &a.query)
                    } else {
                        a.query.as_str().into()
                    },
                ) {
                    Ok(v) => QueryVector::Ready(v),
                    Err(err) => QueryVector::Failed(err.to_string()),
                },
                Err(err) => QueryVector::Failed(err.to_string()),
            },
            Err(err) => QueryVector::Failed(err.to_string()),
        });
        if named.is_none() {
            mode = Mode::Hybrid;
        }
    }
    Ok(academichub::search::milvus::search(
        &store,
        &request(a, mode, query_vector)?,
    )?)
}

/// The request the flags describe.
fn request(
    a: &Args,
    mode: Mode,
    query_vector: Option<QueryVector>,
) -> anyhow::Result<SearchRequest> {
    Ok(SearchRequest {
        query: a.query.clone(),
        k: a.k,
        offset: a.offset,
        filters: Filters {
            categories: a.categories.clone(),
            sources: a.sources.clone(),
            from: a.from,
            to: a.to,
        },
        snippets: a.format.is_none(),
        mode,
        fusion: super::fusion_arg(&a.fusion, a.alpha)?,
        hybrid: a.hybrid.params()?,
        query_vector,
        facets: false,
        translate: !a.no_translate,
    })
}

/// One line saying which legs ranked a hit, where, and with what score.
fn explain(s: &academichub::search::Sources) -> String {
    let leg = |name: &str, rank: Option<usize>, score: Option<f32>| {
        rank.map(|r| format!("{name} #{r} ({:.3})", score.unwrap_or(0.0)))
    };
    let mut parts: Vec<String> = [
        leg("bm25", s.bm25_rank, s.bm25_score),
        leg("dense", s.dense_rank, s.dense_score),
        leg("feedback", s.feedback_rank, s.feedback_score),
    ]
    .into_iter()
    .flatten()
    .collect();
    if let Some(f) = s.fused_score {
        parts.push(format!("fused {f:.3}"));
    }
    parts.join(" · ")
}
