//! `academichub digest`: one email with the unread papers of one or more radars (and a
//! briefing over them), sent through `[smtp]`; its papers are marked as delivered only after
//! the server took the message.

use std::path::PathBuf;
use std::process::ExitCode;

use academichub::briefing::Lang;
use academichub::delivery::digest::{self, DigestRequest, DEFAULT_DIGEST_K};
use academichub::delivery::feed::DEFAULT_FEED_DAYS;
use academichub::delivery::mail::{self, Mailer};
use academichub::embed::Embedder;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Radar id (repeatable).
    #[arg(long = "radar", required = true)]
    radars: Vec<String>,
    /// First publication date covered (YYYY-MM-DD). Default: the last --days days of papers.
    #[arg(long, value_parser = super::parse_date_arg)]
    since: Option<time::Date>,
    /// Days of papers covered when --since is not given.
    #[arg(long, default_value_t = DEFAULT_FEED_DAYS)]
    days: u32,
    /// Recipient address (repeatable).
    #[arg(long = "to", required_unless_present = "dry_run")]
    to: Vec<String>,
    /// Papers per radar.
    #[arg(short = 'k', long = "k", default_value_t = DEFAULT_DIGEST_K)]
    k: usize,
    /// Language of the labels: zh or en.
    #[arg(long, default_value = "zh")]
    lang: String,
    /// Index directory (on the Milvus backend: the local state directory beside the
    /// collection, where the radars are).
    #[arg(long, env = "ACADEMICHUB_INDEX", default_value_os_t = super::default_index())]
    index: PathBuf,
    #[command(flatten)]
    model: super::ModelArgs,
    /// Build the digest and print its text (write the HTML with --html), send and mark nothing.
    #[arg(long)]
    dry_run: bool,
    /// With --dry-run: write the HTML body to this file.
    #[arg(long, requires = "dry_run")]
    html: Option<PathBuf>,
    /// Print what was done as JSON.
    #[arg(long)]
    json: bool,
}

pub fn run(a: Args) -> anyhow::Result<ExitCode> {
    let lang: Lang = a.lang.parse().map_err(anyhow::Error::msg)?;
    // Every address and the mail settings are checked before anything is built or sent.
    for addr in &a.to {
        mail::mailbox(addr)?;
    }
    let config = a.model.config()?;
    let mailer = if a.dry_run {
        None
    } else {
        let smtp = config.smtp.as_ref().ok_or_else(|| {
            anyhow::anyhow!(
                "no [smtp] section in the config: add host, from and tls (see README, \"Email digests\"), or use --dry-run"
            )
        })?;
        Some(Mailer::new(smtp)?)
    };
    if a.days == 0 || a.days > academichub::delivery::feed::MAX_FEED_DAYS {
        anyhow::bail!(
            "--days must be between 1 and {}",
            academichub::delivery::feed::MAX_FEED_DAYS
        );
    }
    if a.k == 0 || a.k > 100 {
        anyhow::bail!("-k must be between 1 and 100");
    }
    let papers = super::Papers::open(&a.index, a.model.config_path())?;
    let index = papers.source();
    let req = DigestRequest {
        radars: a.radars.clone(),
        since: a.since,
        days: a.days,
        k: a.k,
        lang,
    };
    let mut embedder = papers.query_embedder(&a.model);
    let embedder = embedder.as_mut().map(|e| e as &mut dyn Embedder);
    let today = academichub::radar::rank::today_utc();
    let base = format!("http://{}", config.server.addr);
    let started = std::time::Instant::now();
    let Some(mailer) = mailer else {
        let d = digest::build(index, &req, today, embedder, false)?;
        if let Some(path) = &a.html {
            std::fs::write(path, digest::render_html(&d, &base))?;
        }
        if a.json {
            println!(
                "{}",
                serde_json::json!({"sent": false, "papers": d.len(), "subject": digest::subject(&d), "dry_run": true})
            );
        } else {
            print!(
                "Subject: {}\n\n{}",
                digest::subject(&d),
                digest::render_text(&d, &base)
            );
        }
        return Ok(ExitCode::SUCCESS);
    };
    let outcome = academichub::delivery::send_digest(
        index, &req, &a.to, &mailer, &base, today, embedder, false,
    )?;
    let secs = started.elapsed().as_secs_f64();
    if a.json {
        let mut v = serde_json::to_value(&outcome)?;
        v["seconds"] = serde_json::json!(secs);
        println!("{v}");
    } else if outcome.sent {
        println!(
            "sent {} papers to {} ({:?}); {} marked as delivered ({secs:.1} s)",
            outcome.papers,
            outcome.recipients.join(", "),
            outcome.subject,
            outcome.marked
        );
    } else {
        println!(
            "nothing new for radar {} since the last digest: no message sent",
            a.radars.join(", ")
        );
    }
    Ok(ExitCode::SUCCESS)
}
