//! Feed sources and ingest settings as they appear in `academichub.toml` (`[[sources]]` tables
//! and an `[ingest]` section), and their validation into [`Source`]s and [`ClientConfig`]s.
//!
//! The raw structs keep strings so that a bad kind or interval is reported with the source's
//! name ("source \"medrxiv\": unknown kind ...") instead of a bare serde message.

use std::time::Duration;

use serde::Deserialize;

use super::client::ClientConfig;
use super::SourceKind;

/// Default poll interval when a source names none.
pub const DEFAULT_INTERVAL: Duration = Duration::from_secs(6 * 3600);
/// Shortest poll interval accepted (politeness).
pub const MIN_INTERVAL: Duration = Duration::from_secs(60);
/// Default date window of a medRxiv/bioRxiv source, in days.
pub const DEFAULT_WINDOW_DAYS: u32 = 2;
/// Default number of results an arXiv API source fetches per poll.
pub const DEFAULT_API_MAX_RESULTS: u64 = 100;
/// Default arXiv API page size (`max_results` of each call).
pub const DEFAULT_API_PAGE_SIZE: u64 = 100;
/// Abstracts longer than this many characters are cut (and the cut is reported).
pub const DEFAULT_MAX_ABSTRACT_CHARS: usize = 20_000;
/// Papers written between two commits.
pub const DEFAULT_COMMIT_EVERY: usize = 256;

/// Where the arXiv RSS listings live (`<base>/<category>`).
pub const ARXIV_RSS_BASE: &str = "https://rss.arxiv.org/rss";
/// The arXiv query API.
pub const ARXIV_API_URL: &str = "https://export.arxiv.org/api/query";
/// The medRxiv/bioRxiv API root (`<base>/details/<server>/<from>/<to>/<cursor>`).
pub const BIORXIV_API_BASE: &str = "https://api.biorxiv.org";

/// One `[[sources]]` table, as written.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SourceConfig {
    /// Unique name (used by `--source`, the state file and the summary).
    pub name: String,
    /// arxiv-rss | arxiv-atom | biorxiv-json | rss
    pub kind: String,
    /// Explicit URL (any kind). Default: built from category/query/server.
    #[serde(default)]
    pub url: Option<String>,
    /// arxiv-rss: the category (`cs.CL`, `quant-ph`).
    #[serde(default)]
    pub category: Option<String>,
    /// arxiv-atom: a search query (`cat:cs.CL AND abs:retrieval`).
    #[serde(default)]
    pub query: Option<String>,
    /// arxiv-atom: explicit ids instead of (or with) a query.
    #[serde(default)]
    pub id_list: Vec<String>,
    /// arxiv-atom: results fetched per poll (all pages together).
    #[serde(default)]
    pub max_results: Option<u64>,
    /// arxiv-atom: results per API call.
    #[serde(default)]
    pub page_size: Option<u64>,
    /// arxiv-atom: `sortBy` (relevance, lastUpdatedDate, submittedDate).
    #[serde(default)]
    pub sort_by: Option<String>,
    /// biorxiv-json: `biorxiv` or `medrxiv`.
    #[serde(default)]
    pub server: Option<String>,
    /// biorxiv-json: how many days back each poll asks for.
    #[serde(default)]
    pub days: Option<u32>,
    /// Poll interval: `90s`, `30m`, `6h`, `1d`.
    #[serde(default)]
    pub interval: Option<String>,
    /// rss: value of each paper's `source` (default: the source name).
    #[serde(default)]
    pub source: Option<String>,
    /// Set to false to keep a source in the file without polling it.
    #[serde(default)]
    pub enabled: Option<bool>,
}

/// The `[ingest]` section: politeness and limits (all optional).
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IngestConfig {
    /// Contact put in the user agent (URL or e-mail), as arXiv asks of API clients.
    #[serde(default)]
    pub contact: Option<String>,
    #[serde(default)]
    pub connect_timeout: Option<String>,
    #[serde(default)]
    pub read_timeout: Option<String>,
    /// Retries after the first attempt (timeouts, connection errors, 5xx, 429).
    #[serde(default)]
    pub retries: Option<u32>,
    /// First backoff delay (doubled each retry, with jitter).
    #[serde(default)]
    pub backoff: Option<String>,
    /// Longest wait between retries, and the longest Retry-After honoured.
    #[serde(default)]
    pub max_backoff: Option<String>,
    /// Minimum time between two arXiv API calls (at least 3 s is enforced).
    #[serde(default)]
    pub arxiv_api_interval: Option<String>,
    #[serde(default)]
    pub max_abstract_chars: Option<usize>,
    #[serde(default)]
    pub commit_every: Option<usize>,
}

/// Errors in the `[[sources]]` / `[ingest]` configuration.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum FeedConfigError {
    #[error("source {name:?}: {reason}")]
    Source { name: String, reason: String },
    #[error("[ingest] {key}: {reason}")]
    Ingest { key: &'static str, reason: String },
    #[error("no source named {0:?} in the configuration (known: {1})")]
    UnknownSource(String, String),
}

/// Parses `90s`, `30m`, `6h`, `1d`, `500ms` (a bare number is seconds).
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    let split = s
        .find(|c: char| !c.is_ascii_digit() && c != '.')
        .unwrap_or(s.len());
    let (num, unit) = s.split_at(split);
    let n: f64 = num
        .parse()
        .map_err(|_| format!("{s:?} is not a duration (use e.g. 90s, 30m, 6h, 1d)"))?;
    let secs = match unit.trim() {
        "" | "s" | "sec" | "secs" => n,
        "ms" => n / 1000.0,
        "m" | "min" | "mins" => n * 60.0,
        "h" | "hour" | "hours" => n * 3600.0,
        "d" | "day" | "days" => n * 86400.0,
        other => {
            return Err(format!(
                "{s:?}: unknown unit {other:?} (use ms, s, m, h or d)"
            ))
        }
    };
    if !secs.is_finite() || secs < 0.0 {
        return Err(format!("{s:?} is not a valid duration"));
    }
    Ok(Duration::from_secs_f64(secs))
}

/// A validated source, ready to poll.
#[derive(Debug, Clone, PartialEq)]
pub struct Source {
    pub name: String,
    pub kind: SourceKind,
    /// For arxiv-rss and rss: the feed URL. For arxiv-atom: the API endpoint. For
    /// biorxiv-json: the API root.
    pub url: String,
    pub query: Option<String>,
    pub id_list: Vec<String>,
    pub max_results: u64,
    pub page_size: u64,
    pub sort_by: Option<String>,
    pub server: String,
    pub days: u32,
    pub interval: Duration,
    /// `source` given to papers of an rss source.
    pub label: String,
}

impl Source {
    /// A source for one saved capture (`ingest --file`): nothing is fetched.
    pub fn for_file(name: &str, kind: SourceKind) -> Source {
        Source {
            name: name.to_string(),
            kind,
            url: String::new(),
            query: None,
            id_list: Vec::new(),
            max_results: DEFAULT_API_MAX_RESULTS,
            page_size: DEFAULT_API_PAGE_SIZE,
            sort_by: None,
            server: match kind {
                SourceKind::BiorxivJson => "biorxiv".into(),
                _ => String::new(),
            },
            days: DEFAULT_WINDOW_DAYS,
            interval: DEFAULT_INTERVAL,
            label: name.to_string(),
        }
    }
}

impl SourceConfig {
    /// Validates this table into a [`Source`]; errors name the source.
    pub fn build(&self) -> Result<Source, FeedConfigError> {
        let err = |reason: String| FeedConfigError::Source {
            name: self.name.clone(),
            reason,
        };
        if self.name.trim().is_empty() {
            return Err(err("every source needs a non-empty name".into()));
        }
        let kind: SourceKind = self.kind.parse().map_err(err)?;
        let interval = match &self.interval {
            None => DEFAULT_INTERVAL,
            Some(s) => parse_duration(s).map_err(|e| err(format!("interval {e}")))?,
        };
        if interval < MIN_INTERVAL {
            return Err(err(format!(
                "interval {:?} is shorter than the minimum of {}s (be polite to the servers)",
                self.interval.as_deref().unwrap_or(""),
                MIN_INTERVAL.as_secs()
            )));
        }
        let mut src = Source::for_file(&self.name, kind);
        src.interval = interval;
        src.label = self.source.clone().unwrap_or_else(|| self.name.clone());
        match kind {
            SourceKind::ArxivRss => {
                src.url = match (&self.url, &self.category) {
                    (Some(u), _) => u.clone(),
                    (None, Some(c)) if !c.trim().is_empty() => {
                        format!("{ARXIV_RSS_BASE}/{}", c.trim())
                    }
                    _ => {
                        return Err(err(
                            "arxiv-rss needs `category` (e.g. \"cs.CL\") or `url`".into()
                        ))
                    }
                };
            }
            SourceKind::ArxivAtom => {
                if self.query.as_deref().is_none_or(|q| q.trim().is_empty())
                    && self.id_list.is_empty()
                {
                    return Err(err("arxiv-atom needs `query` or `id_list`".into()));
                }
                src.url = self.url.clone().unwrap_or_else(|| ARXIV_API_URL.into());
                src.query = self.query.clone();
                src.id_list = self.id_list.clone();
                src.max_results = self.max_results.unwrap_or(DEFAULT_API_MAX_RESULTS);
                src.page_size = self
                    .page_size
                    .unwrap_or(DEFAULT_API_PAGE_SIZE)
                    .clamp(1, 2000);
                if src.max_results == 0 {
                    return Err(err("max_results must be at least 1".into()));
                }
                src.sort_by = self.sort_by.clone();
            }
            SourceKind::BiorxivJson => {
                let server = self.server.clone().ok_or_else(|| {
                    err("biorxiv-json needs `server` (biorxiv or medrxiv)".into())
                })?;
                if !matches!(server.as_str(), "biorxiv" | "medrxiv") {
                    return Err(err(format!(
                        "unknown server {server:?} (use biorxiv or medrxiv)"
                    )));
                }
                src.server = server;
                src.days = self.days.unwrap_or(DEFAULT_WINDOW_DAYS).max(1);
                src.url = self.url.clone().unwrap_or_else(|| BIORXIV_API_BASE.into());
            }
            SourceKind::Rss => {
                src.url = self
                    .url
                    .clone()
                    .ok_or_else(|| err("rss needs `url`".into()))?;
            }
        }
        if !(src.url.starts_with("http://") || src.url.starts_with("https://")) {
            return Err(err(format!("url {:?} is not an http(s) URL", src.url)));
        }
        Ok(src)
    }
}

/// Validates every enabled source (names must be unique).
pub fn build_sources(cfgs: &[SourceConfig]) -> Result<Vec<Source>, FeedConfigError> {
    let mut out: Vec<Source> = Vec::new();
    for c in cfgs.iter().filter(|c| c.enabled != Some(false)) {
        let s = c.build()?;
        if out.iter().any(|o| o.name == s.name) {
            return Err(FeedConfigError::Source {
                name: s.name,
                reason: "two sources have this name".into(),
            });
        }
        out.push(s);
    }
    Ok(out)
}

impl IngestConfig {
    /// The client settings (defaults for everything not set).
    pub fn client_config(&self) -> Result<ClientConfig, FeedConfigError> {
        let mut c = ClientConfig::default();
        let dur =
            |key: &'static str, v: &Option<String>| -> Result<Option<Duration>, FeedConfigError> {
                v.as_deref()
                    .map(|s| {
                        parse_duration(s).map_err(|reason| FeedConfigError::Ingest { key, reason })
                    })
                    .transpose()
            };
        if let Some(d) = dur("connect_timeout", &self.connect_timeout)? {
            c.connect_timeout = d;
        }
        if let Some(d) = dur("read_timeout", &self.read_timeout)? {
            c.read_timeout = d;
        }
        if let Some(d) = dur("backoff", &self.backoff)? {
            c.backoff = d;
        }
        if let Some(d) = dur("max_backoff", &self.max_backoff)? {
            c.max_backoff = d;
        }
        if let Some(d) = dur("arxiv_api_interval", &self.arxiv_api_interval)? {
            if d < super::client::ARXIV_API_MIN_INTERVAL {
                return Err(FeedConfigError::Ingest {
                    key: "arxiv_api_interval",
                    reason: "arXiv asks for at least 3s between API calls".into(),
                });
            }
            c.arxiv_api_interval = d;
        }
        if let Some(r) = self.retries {
            c.retries = r;
        }
        if let Some(contact) = &self.contact {
            c.user_agent = super::client::user_agent(Some(contact));
        }
        Ok(c)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn example_config_sources_are_valid() {
        let text = include_str!("../../../academichub.example.toml");
        let c: crate::config::Config = toml::from_str(text).expect("example parses");
        let sources = build_sources(&c.sources).expect("example sources valid");
        let names: Vec<&str> = sources.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(names.len(), 9, "{names:?}");
        assert!(sources
            .iter()
            .any(|s| s.kind == SourceKind::BiorxivJson && s.server == "medrxiv" && s.days == 2));
        let api = sources
            .iter()
            .find(|s| s.kind == SourceKind::ArxivAtom)
            .expect("api source");
        assert_eq!((api.max_results, api.page_size), (200, 100));
        let client = c.ingest.client_config().expect("ingest section valid");
        assert!(client.arxiv_api_interval >= Duration::from_secs(3));
        let dup = vec![c.sources[0].clone(), c.sources[0].clone()];
        assert!(build_sources(&dup)
            .unwrap_err()
            .to_string()
            .contains("two sources"));
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("30m"), Ok(Duration::from_secs(1800)));
        assert_eq!(parse_duration("6h"), Ok(Duration::from_secs(21600)));
        assert_eq!(parse_duration("1d"), Ok(Duration::from_secs(86400)));
        assert_eq!(parse_duration("90"), Ok(Duration::from_secs(90)));
        assert_eq!(parse_duration("250ms"), Ok(Duration::from_millis(250)));
        assert!(parse_duration("6 weeks").is_err());
        assert!(parse_duration("soon").is_err());
    }

    #[test]
    fn bad_sources_are_named() {
        let bad_kind = SourceConfig {
            name: "medrxiv".into(),
            kind: "medrxiv-xml".into(),
            ..Default::default()
        };
        let e = bad_kind.build().unwrap_err().to_string();
        assert!(
            e.contains("\"medrxiv\"") && e.contains("medrxiv-xml"),
            "{e}"
        );
        let bad_interval = SourceConfig {
            name: "cl".into(),
            kind: "arxiv-rss".into(),
            category: Some("cs.CL".into()),
            interval: Some("6 weeks".into()),
            ..Default::default()
        };
        let e = bad_interval.build().unwrap_err().to_string();
        assert!(e.contains("\"cl\"") && e.contains("interval"), "{e}");
        let ok = SourceConfig {
            interval: Some("6h".into()),
            ..bad_interval
        }
        .build()
        .unwrap();
        assert_eq!(ok.url, "https://rss.arxiv.org/rss/cs.CL");
        let too_fast = SourceConfig {
            name: "x".into(),
            kind: "rss".into(),
            url: Some("https://example.org/feed".into()),
            interval: Some("5s".into()),
            ..Default::default()
        };
        assert!(too_fast
            .build()
            .unwrap_err()
            .to_string()
            .contains("minimum"));
    }
}
