//! medRxiv / bioRxiv "details" API responses (`/details/<server>/<from>/<to>/<cursor>`):
//! `{"messages": [{"status", "cursor", "count", "total", ...}], "collection": [...]}`, pages of
//! 100 walked by cursor. Papers are keyed by DOI (lowercased; any registrant prefix).

use serde::Deserialize;

use super::text::{cap_chars, extract_doi, parse_feed_date};
use super::{EntryError, FeedEntry, FeedError, ParseOptions, ParsedFeed, Skip};
use crate::normalize::{clean_latex, collapse_whitespace, join_words};
use crate::paper::{Paper, PaperId};

#[derive(Deserialize)]
struct Response {
    #[serde(default)]
    messages: Vec<serde_json::Value>,
    #[serde(default)]
    collection: Option<Vec<serde_json::Value>>,
}

#[derive(Deserialize, Default)]
struct Record {
    #[serde(default)]
    doi: Option<String>,
    #[serde(default)]
    title: Option<String>,
    #[serde(default)]
    authors: Option<String>,
    #[serde(default)]
    date: Option<String>,
    #[serde(default)]
    version: Option<serde_json::Value>,
    #[serde(default)]
    category: Option<String>,
    #[serde(default, rename = "abstract")]
    abstract_text: Option<String>,
    #[serde(default)]
    published: Option<String>,
    #[serde(default)]
    server: Option<String>,
}

/// Paging state reported by a details page.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DetailsPage {
    /// Cursor of this page.
    pub cursor: u64,
    /// Records on this page.
    pub count: u64,
    /// Records in the whole window.
    pub total: u64,
}

fn as_u64(v: Option<&serde_json::Value>) -> Option<u64> {
    match v? {
        serde_json::Value::Number(n) => n.as_u64(),
        serde_json::Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

/// Parses one details page. `default_server` names the source when a record lacks `server`.
pub fn parse_details(
    bytes: &[u8],
    opts: &ParseOptions,
    default_server: &str,
) -> Result<(ParsedFeed, DetailsPage), FeedError> {
    let trimmed = bytes.trim_ascii_start();
    if trimmed.starts_with(b"<") {
        return Err(FeedError::NotAFeed(
            "got HTML/XML instead of a bioRxiv/medRxiv JSON response".into(),
        ));
    }
    let resp: Response = serde_json::from_slice(bytes)
        .map_err(|e| FeedError::Malformed(format!("invalid JSON: {e}")))?;
    let msg = resp.messages.first();
    let status = msg
        .and_then(|m| m.get("status"))
        .and_then(|s| s.as_str())
        .unwrap_or("ok")
        .to_string();
    let collection = resp.collection.unwrap_or_default();
    if collection.is_empty() && status != "ok" && !status.starts_with("no posts found") {
        return Err(FeedError::Reported(status));
    }
    let page = DetailsPage {
        cursor: as_u64(msg.and_then(|m| m.get("cursor"))).unwrap_or(0),
        count: as_u64(msg.and_then(|m| m.get("count"))).unwrap_or(collection.len() as u64),
        total: as_u64(msg.and_then(|m| m.get("total"))).unwrap_or(collection.len() as u64),
    };
    let mut out = ParsedFeed::default();
    for (i, raw) in collection.into_iter().enumerate() {
        let rec: Record = match serde_json::from_value(raw) {
            Ok(r) => r,
            Err(e) => {
                out.skipped.push(Skip {
                    entry: format!("record #{}", page.cursor + i as u64 + 1),
                    reason: EntryError::InvalidRecord(e.to_string()).to_string(),
                });
                continue;
            }
        };
        let label = rec
            .doi
            .clone()
            .unwrap_or_else(|| format!("record #{}", page.cursor + i as u64 + 1));
        let parsed = record_to_paper(rec, opts, default_server).map(|(paper, capped)| {
            (
                FeedEntry {
                    paper,
                    announce: None,
                },
                capped,
            )
        });
        out.record(parsed, || label);
    }
    Ok((out, page))
}

fn record_to_paper(
    rec: Record,
    opts: &ParseOptions,
    default_server: &str,
) -> Result<(Paper, bool), EntryError> {
    let raw_doi = rec.doi.unwrap_or_default();
    let doi = extract_doi(&raw_doi).ok_or_else(|| {
        if raw_doi.trim().is_empty() {
            EntryError::NoId {
                item: "record",
                field: "doi",
                looked: "",
            }
        } else {
            EntryError::BadId {
                item: "record",
                field: "doi",
                raw: raw_doi.clone(),
                kind: "a DOI",
            }
        }
    })?;
    let title = rec.title.unwrap_or_default();
    if title.trim().is_empty() {
        return Err(EntryError::NoTitle {
            item: "record",
            id: doi,
        });
    }
    let (title, title_extra) = clean_latex(&title);
    let (mut abstract_text, abs_extra) = clean_latex(&rec.abstract_text.unwrap_or_default());
    let capped = cap_chars(&mut abstract_text, opts.max_abstract_chars);
    let version = match &rec.version {
        None => 1,
        Some(v) => as_u64(Some(v))
            .filter(|&v| v >= 1)
            .ok_or_else(|| EntryError::BadVersion {
                id: doi.clone(),
                raw: v.to_string(),
            })?,
    };
    let server = rec
        .server
        .map(|s| s.trim().to_lowercase())
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| default_server.to_lowercase());
    let mut p = Paper::new(PaperId::new(doi.clone()), title, abstract_text);
    p.version = version;
    p.search_extra = join_words([title_extra, abs_extra]);
    p.authors = rec
        .authors
        .unwrap_or_default()
        .split(';')
        .map(collapse_whitespace)
        .filter(|a| !a.is_empty())
        .collect();
    p.categories = rec
        .category
        .map(|c| collapse_whitespace(&c).to_lowercase())
        .filter(|c| !c.is_empty())
        .into_iter()
        .collect();
    if let Some(raw) = rec.date.as_deref().filter(|d| !d.trim().is_empty()) {
        let d = parse_feed_date(raw).ok_or_else(|| EntryError::BadDate {
            item: "record",
            id: doi.clone(),
            raw: raw.to_string(),
        })?;
        p.published = Some(d);
        p.updated = Some(d);
    }
    p.url = Some(format!("https://www.{server}.org/content/{doi}v{version}"));
    p.doi = Some(doi);
    // `published` is the DOI of the journal version once there is one ("NA" before).
    p.journal_ref = rec
        .published
        .and_then(|s| extract_doi(&s))
        .map(|d| format!("doi:{d}"));
    p.source = server;
    Ok((p, capped))
}
