//! `academichub briefing`

use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;

use academichub::briefing::llm::{add_narrative, LlmClient};
use academichub::briefing::{
    build_briefing, render, BriefingFormat, BriefingRequest, Lang, DEFAULT_BRIEFING_K,
};
use academichub::embed::Embedder;
use academichub::radar::RankRequest;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Radar id (repeatable). Without any, the briefing covers every paper in the date range
    /// (newest first, at most -k).
    #[arg(long = "radar")]
    radars: Vec<String>,
    /// Only papers published on or after this date (YYYY-MM-DD; not in the future).
    #[arg(long, value_parser = super::parse_date_arg)]
    since: Option<time::Date>,
    /// Only papers published on or before this date (YYYY-MM-DD).
    #[arg(long, value_parser = super::parse_date_arg)]
    until: Option<time::Date>,
    /// Language of the section labels and of the LLM narrative: zh or en.
    #[arg(long, default_value = "zh")]
    lang: String,
    /// Output: json or md.
    #[arg(long, default_value = "json")]
    format: String,
    /// Papers per radar.
    #[arg(short = 'k', long = "k", default_value_t = DEFAULT_BRIEFING_K)]
    k: usize,
    /// Index directory (on the Milvus backend: the local state directory beside the
    /// collection, where the radars are).
    #[arg(long, env = "ACADEMICHUB_INDEX", default_value_os_t = super::default_index())]
    index: PathBuf,
    #[command(flatten)]
    model: super::ModelArgs,
    /// Skip the LLM narrative even when `[llm]` is configured.
    #[arg(long)]
    no_llm: bool,
}

pub fn run(a: Args) -> anyhow::Result<ExitCode> {
    let lang: Lang = a.lang.parse().map_err(anyhow::Error::msg)?;
    let format: BriefingFormat = a.format.parse().map_err(anyhow::Error::msg)?;
    let config = a.model.config()?;
    let papers = super::Papers::open(&a.index, a.model.config_path())?;
    let req = BriefingRequest {
        radars: a.radars.clone(),
        since: a.since,
        until: a.until,
        lang,
        k: a.k,
    };
    RankRequest {
        since: a.since,
        until: a.until,
        k: a.k,
    }
    .validate(academichub::radar::rank::today_utc())?;
    let spinner = std::io::stderr().is_terminal().then(|| {
        let s = indicatif::ProgressBar::new_spinner();
        s.set_message("ranking radars and building the briefing");
        s.enable_steady_tick(std::time::Duration::from_millis(120));
        s
    });
    // Radars need query embeddings; the all-papers briefing needs none.
    let mut embedder = if a.radars.is_empty() {
        None
    } else {
        papers.query_embedder(&a.model)
    };
    let mut briefing = build_briefing(
        papers.source(),
        &req,
        embedder.as_mut().map(|e| e as &mut dyn Embedder),
    )?;
    if config.llm.enabled() && !a.no_llm && briefing.empty.is_none() {
        if let Some(s) = &spinner {
            s.set_message("asking the language model for a narrative");
        }
        match LlmClient::new(&config.llm) {
            Ok(client) => {
                let rt = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()?;
                rt.block_on(add_narrative(&client, &mut briefing));
            }
            Err(e) => briefing.notes.push(format!(
                "no LLM narrative ({e}); the briefing is extractive"
            )),
        }
    }
    if let Some(s) = spinner {
        s.finish_and_clear();
    }
    match format {
        BriefingFormat::Json => println!("{}", serde_json::to_string_pretty(&briefing)?),
        BriefingFormat::Md => println!("{}", render::to_markdown(&briefing)),
    }
    Ok(ExitCode::SUCCESS)
}
