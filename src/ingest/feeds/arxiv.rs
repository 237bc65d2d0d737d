//! arXiv feeds: the daily RSS listings (`rss/<category>`, announce types new / cross / replace /
//! replace-cross) and the query API's Atom responses (paged with `start`/`max_results`).
//!
//! Papers come out exactly as `import` builds them from arXiv metadata (canonical id without
//! version, LaTeX rendered with removed command words kept searchable, source `arxiv`, url
//! `https://arxiv.org/abs/<id>`), so a feed and the corpus upsert into the same records.

use super::text::{cap_chars, parse_feed_date};
use super::xml::{self, XmlEntry};
use super::{Announce, EntryError, FeedEntry, FeedError, ParseOptions, ParsedFeed};
use crate::normalize::{
    arxiv_paper, canonical_arxiv_id, clean_latex, collapse_whitespace, is_arxiv_category,
};
use crate::paper::Paper;

/// Splits an RSS description `arXiv:<id>vN Announce Type: <type> \nAbstract: <text>` into
/// (versioned id, announce type, abstract). Descriptions without the prefix are all abstract.
pub fn split_rss_description(desc: &str) -> (Option<&str>, Option<&str>, &str) {
    let d = desc.trim_start();
    let Some(rest) = d.strip_prefix("arXiv:") else {
        return (None, None, d.strip_prefix("Abstract:").unwrap_or(d).trim());
    };
    let (id, rest) = rest.split_once(char::is_whitespace).unwrap_or((rest, ""));
    let rest = rest.trim_start();
    let (announce, rest) = match rest.strip_prefix("Announce Type:") {
        Some(r) => {
            let r = r.trim_start();
            let (t, r) = r.split_once(char::is_whitespace).unwrap_or((r, ""));
            (Some(t), r)
        }
        None => (None, rest),
    };
    let rest = rest.trim_start();
    let abs = rest.strip_prefix("Abstract:").unwrap_or(rest).trim();
    (Some(id), announce, abs)
}

/// The paper of an entry's id (`version` when the id carries none), title and abstract, or
/// why the entry cannot be one: an id that is not an arXiv id, no title, no abstract (after
/// capping it at the configured length; the flag says whether it was capped).
fn checked_paper(
    raw_id: &str,
    version: Option<u64>,
    title: &str,
    abs: &str,
    opts: &ParseOptions,
) -> Result<(Paper, bool), EntryError> {
    let (id, own_version) = canonical_arxiv_id(raw_id);
    if id.is_empty() || !id.contains(|c: char| c.is_ascii_digit()) {
        return Err(EntryError::BadId {
            item: "entry",
            field: "id",
            raw: raw_id.to_string(),
            kind: "an arXiv id",
        });
    }
    if title.trim().is_empty() {
        return Err(EntryError::NoTitle { item: "entry", id });
    }
    let mut p = arxiv_paper(&id, own_version.or(version), title, abs);
    let capped = cap_chars(&mut p.abstract_text, opts.max_abstract_chars);
    if p.abstract_text.is_empty() {
        return Err(EntryError::NoAbstract { item: "entry", id });
    }
    Ok((p, capped))
}

fn nonempty(s: Option<&str>) -> Option<String> {
    s.map(collapse_whitespace).filter(|s| !s.is_empty())
}

fn label(e: &XmlEntry, i: usize) -> String {
    e.text("guid")
        .or_else(|| e.text("id"))
        .or_else(|| e.text("link"))
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .or_else(|| nonempty(e.text("title")))
        .unwrap_or_else(|| format!("entry #{}", i + 1))
}

fn check_root(feed: &xml::XmlFeed, expected: &[&str], kind: &str) -> Result<(), FeedError> {
    if feed.root.eq_ignore_ascii_case("html") {
        return Err(FeedError::NotAFeed(format!(
            "got an HTML page instead of a {kind} feed"
        )));
    }
    if !expected.contains(&feed.root.as_str()) {
        return Err(FeedError::NotAFeed(format!(
            "root element <{}> is not a {kind} feed (expected <{}>)",
            feed.root,
            expected.join("> or <")
        )));
    }
    Ok(())
}

/// Parses an arXiv RSS 2.0 listing (also accepts arXiv's Atom listing of the same content).
pub fn parse_rss(bytes: &[u8], opts: &ParseOptions) -> Result<ParsedFeed, FeedError> {
    let feed = xml::parse(bytes)?;
    check_root(&feed, &["rss", "feed"], "arXiv RSS")?;
    let mut out = ParsedFeed::default();
    for (i, e) in feed.entries.iter().enumerate() {
        out.record(rss_entry(e, opts), || label(e, i));
    }
    Ok(out)
}

fn rss_entry(e: &XmlEntry, opts: &ParseOptions) -> Result<(FeedEntry, bool), EntryError> {
    let desc = e
        .text("description")
        .or_else(|| e.text("summary"))
        .unwrap_or("");
    let (desc_id, desc_announce, abs) = split_rss_description(desc);
    let raw_id = e
        .text("guid")
        .or_else(|| e.text("id"))
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .or(desc_id)
        .or_else(|| e.text("link").map(str::trim).filter(|s| !s.is_empty()))
        .ok_or(EntryError::NoId {
            item: "entry",
            field: "id",
            looked: " (no guid, no arXiv id in the description, no link)",
        })?;
    // The description's own `arXiv:<id>vN` carries the version when the guid lacks one.
    let desc_version = desc_id.and_then(|d| canonical_arxiv_id(d).1);
    let title = e.text("title").unwrap_or("");
    let (mut p, capped) = checked_paper(raw_id, desc_version, title, abs, opts)?;
    let id = p.id.to_string();
    let announce_raw = e
        .text("arxiv:announce_type")
        .map(str::trim)
        .or(desc_announce)
        .unwrap_or("new");
    let announce = Announce::parse(announce_raw).ok_or_else(|| EntryError::UnknownAnnounce {
        id: id.clone(),
        raw: announce_raw.to_string(),
    })?;
    p.categories = e
        .all("category")
        .map(|c| c.attr("term").unwrap_or(c.text.as_str()).trim().to_string())
        .filter(|c| is_arxiv_category(c))
        .collect();
    dedup_keep_order(&mut p.categories);
    p.authors = e
        .all("dc:creator")
        .flat_map(|c| c.text.split(','))
        .map(|a| clean_latex(a).0)
        .filter(|a| !a.is_empty())
        .collect();
    if let Some(raw) = e.text("pubDate").or_else(|| e.text("published")) {
        let d = parse_feed_date(raw).ok_or_else(|| EntryError::BadDate {
            item: "entry",
            id: id.clone(),
            raw: raw.trim().to_string(),
        })?;
        p.published = Some(d);
        p.updated = Some(d);
    }
    p.doi = nonempty(e.text("arxiv:DOI").or_else(|| e.text("arxiv:doi")));
    p.journal_ref = nonempty(
        e.text("arxiv:journal_reference")
            .or_else(|| e.text("arxiv:journal_ref")),
    );
    Ok((
        FeedEntry {
            paper: p,
            announce: Some(announce),
        },
        capped,
    ))
}

/// Paging information of an arXiv API response.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ApiPage {
    pub total_results: Option<u64>,
    pub start_index: Option<u64>,
    pub items_per_page: Option<u64>,
}

/// Parses an arXiv query API response (Atom). An error feed (single entry titled `Error`) is a
/// [`FeedError::Reported`], never a paper.
pub fn parse_atom(bytes: &[u8], opts: &ParseOptions) -> Result<(ParsedFeed, ApiPage), FeedError> {
    let feed = xml::parse(bytes)?;
    check_root(&feed, &["feed"], "arXiv API (Atom)")?;
    for e in &feed.entries {
        let is_error = e.text("title").map(str::trim) == Some("Error")
            && e.text("id").is_some_and(|id| id.contains("/api/errors"));
        if is_error {
            return Err(FeedError::Reported(
                nonempty(e.text("summary")).unwrap_or_else(|| "unspecified error".into()),
            ));
        }
    }
    let num = |name: &str| {
        feed.channel
            .text(name)
            .and_then(|s| s.trim().parse::<u64>().ok())
    };
    let page = ApiPage {
        total_results: num("opensearch:totalResults"),
        start_index: num("opensearch:startIndex"),
        items_per_page: num("opensearch:itemsPerPage"),
    };
    let mut out = ParsedFeed::default();
    for (i, e) in feed.entries.iter().enumerate() {
        out.record(atom_entry(e, opts), || label(e, i));
    }
    Ok((out, page))
}

fn atom_entry(e: &XmlEntry, opts: &ParseOptions) -> Result<(FeedEntry, bool), EntryError> {
    let raw_id = e
        .text("id")
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .ok_or(EntryError::NoId {
            item: "entry",
            field: "id",
            looked: "",
        })?;
    let title = e.text("title").unwrap_or("");
    let summary = e.text("summary").unwrap_or("");
    let (mut p, capped) = checked_paper(raw_id, None, title, summary, opts)?;
    let id = p.id.to_string();
    let primary = e
        .field("arxiv:primary_category")
        .and_then(|f| f.attr("term"))
        .map(|s| s.trim().to_string());
    p.categories = primary
        .into_iter()
        .chain(
            e.all("category")
                .filter_map(|c| c.attr("term"))
                .map(|s| s.trim().to_string()),
        )
        .filter(|c| is_arxiv_category(c))
        .collect();
    dedup_keep_order(&mut p.categories);
    p.authors = e
        .all("author")
        .filter_map(|a| a.child("name"))
        .map(|a| clean_latex(a).0)
        .filter(|a| !a.is_empty())
        .collect();
    let date = |name: &str| -> Result<Option<time::Date>, EntryError> {
        match e.text(name).map(str::trim).filter(|s| !s.is_empty()) {
            None => Ok(None),
            Some(raw) => parse_feed_date(raw)
                .map(Some)
                .ok_or_else(|| EntryError::BadDate {
                    item: "entry",
                    id: id.clone(),
                    raw: raw.to_string(),
                }),
        }
    };
    p.published = date("published")?;
    p.updated = date("updated")?.or(p.published);
    p.comment = nonempty(e.text("arxiv:comment"));
    p.journal_ref = nonempty(e.text("arxiv:journal_ref"));
    p.doi = nonempty(e.text("arxiv:doi"));
    Ok((
        FeedEntry {
            paper: p,
            announce: None,
        },
        capped,
    ))
}

/// Removes repeated values, keeping the first occurrence.
pub fn dedup_keep_order(v: &mut Vec<String>) {
    let mut seen = std::collections::HashSet::new();
    v.retain(|c| seen.insert(c.clone()));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rss_description_prefix_is_split() {
        let (id, t, abs) = split_rss_description(
            "arXiv:2203.01250v3 Announce Type: replace-cross \nAbstract: We consider $x$.",
        );
        assert_eq!(
            (id, t, abs),
            (
                Some("2203.01250v3"),
                Some("replace-cross"),
                "We consider $x$."
            )
        );
        assert_eq!(
            split_rss_description("Plain abstract."),
            (None, None, "Plain abstract.")
        );
    }
}
