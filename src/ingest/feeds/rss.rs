//! Any RSS 0.9x/1.0/2.0, Atom or JSON Feed (journal tables of contents, bioRxiv subject
//! collections) through feed-rs, with the DOI and dates read from the raw elements feed-rs does
//! not keep (`dc:identifier`, `prism:doi`, `dc:date`).
//!
//! The paper id is the DOI when the entry has one (lowercased, any prefix), else
//! `<source>:<entry id or link>`; `source` is the configured source label.

use super::text::{cap_chars, extract_doi, parse_feed_date, strip_html};
use super::xml::{self, XmlEntry};
use super::{EntryError, FeedEntry, FeedError, ParseOptions, ParsedFeed};
use crate::normalize::{clean_latex, collapse_whitespace, join_words};
use crate::paper::{parse_date, Paper, PaperId};

/// Parses a generic feed; `source` becomes each paper's `source`.
pub fn parse_feed(
    bytes: &[u8],
    opts: &ParseOptions,
    source: &str,
) -> Result<ParsedFeed, FeedError> {
    let is_json = bytes.trim_ascii_start().starts_with(b"{");
    let raw = if is_json {
        None
    } else {
        let doc = xml::parse(bytes)?;
        if doc.root.eq_ignore_ascii_case("html") {
            return Err(FeedError::NotAFeed(
                "got an HTML page instead of an RSS/Atom feed".into(),
            ));
        }
        Some(doc)
    };
    let feed = feed_rs::parser::parse(bytes)
        .map_err(|e| FeedError::Malformed(format!("not an RSS/Atom/JSON feed: {e}")))?;
    // feed-rs and the raw reader see the same items in the same order; use the raw elements
    // only when the counts agree.
    let raw_entries: Option<&[XmlEntry]> = raw
        .as_ref()
        .map(|d| d.entries.as_slice())
        .filter(|r| r.len() == feed.entries.len());
    let mut out = ParsedFeed::default();
    for (i, e) in feed.entries.iter().enumerate() {
        let raw = raw_entries.and_then(|r| r.get(i));
        let label = e
            .links
            .first()
            .map(|l| l.href.trim().to_string())
            .or_else(|| e.title.as_ref().map(|t| collapse_whitespace(&t.content)))
            .unwrap_or_else(|| format!("entry #{}", i + 1));
        let parsed = entry_to_paper(e, raw, opts, source).map(|(paper, capped)| {
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
    Ok(out)
}

fn raw_text<'a>(raw: Option<&'a XmlEntry>, names: &[&str]) -> Option<&'a str> {
    let raw = raw?;
    names
        .iter()
        .find_map(|n| raw.text(n).map(str::trim).filter(|s| !s.is_empty()))
}

fn entry_to_paper(
    e: &feed_rs::model::Entry,
    raw: Option<&XmlEntry>,
    opts: &ParseOptions,
    source: &str,
) -> Result<(Paper, bool), EntryError> {
    let title = e
        .title
        .as_ref()
        .map(|t| strip_html(&t.content))
        .unwrap_or_default();
    let link = e
        .links
        .iter()
        .find(|l| l.rel.as_deref().is_none_or(|r| r == "alternate"))
        .or_else(|| e.links.first())
        .map(|l| l.href.trim().to_string());
    let raw_id = raw_text(raw, &["guid", "id"]);
    let doi = raw_text(
        raw,
        &[
            "prism:doi",
            "dc:identifier",
            "dc:source",
            "dcterms:identifier",
        ],
    )
    .and_then(extract_doi)
    .or_else(|| raw_id.and_then(extract_doi))
    .or_else(|| {
        e.links
            .iter()
            .find(|l| l.href.contains("doi.org/") || l.href.contains("/doi/"))
            .and_then(|l| extract_doi(&l.href))
    });
    let id = match (&doi, raw_id, &link) {
        (Some(d), _, _) => d.clone(),
        (None, Some(g), _) => format!("{source}:{g}"),
        (None, None, Some(l)) if !l.is_empty() => format!("{source}:{l}"),
        _ if raw.is_none() && !e.id.is_empty() => format!("{source}:{}", e.id),
        _ => {
            return Err(EntryError::NoId {
                item: "entry",
                field: "id",
                looked: " (no DOI, guid/id or link)",
            })
        }
    };
    if title.trim().is_empty() {
        return Err(EntryError::NoTitle { item: "entry", id });
    }
    let body = e
        .summary
        .as_ref()
        .map(|s| s.content.clone())
        .or_else(|| e.content.as_ref().and_then(|c| c.body.clone()))
        .unwrap_or_default();
    let (title, title_extra) = clean_latex(&title);
    let (mut abstract_text, abs_extra) = clean_latex(&strip_html(&body));
    let capped = cap_chars(&mut abstract_text, opts.max_abstract_chars);
    let mut p = Paper::new(PaperId::new(id), title, abstract_text);
    p.search_extra = join_words([title_extra, abs_extra]);
    // Preprint servers put the version at the end of the content link (`...571984v2?rss=1`).
    if let (Some(d), Some(l)) = (&doi, &link) {
        let suffix = d.rsplit('/').next().unwrap_or("");
        if let Some(pos) = l.to_lowercase().find(&format!("{suffix}v")) {
            let digits: String = l[pos + suffix.len() + 1..]
                .chars()
                .take_while(char::is_ascii_digit)
                .collect();
            if let Ok(v) = digits.parse::<u64>() {
                p.version = v.max(1);
            }
        }
    }
    p.authors = e
        .authors
        .iter()
        .flat_map(|a| split_author_list(&a.name))
        .collect();
    p.categories = e
        .categories
        .iter()
        .map(|c| collapse_whitespace(&c.term))
        .filter(|c| !c.is_empty())
        .collect();
    super::arxiv::dedup_keep_order(&mut p.categories);
    p.source = source.to_string();
    let raw_date = raw_text(
        raw,
        &[
            "prism:publicationDate",
            "dc:date",
            "pubDate",
            "published",
            "updated",
        ],
    );
    let date = match raw_date {
        Some(s) => Some(parse_feed_date(s).ok_or_else(|| EntryError::BadDate {
            item: "entry",
            id: p.id.to_string(),
            raw: s.to_string(),
        })?),
        None => e
            .published
            .or(e.updated)
            .and_then(|d| parse_date(&d.format("%Y-%m-%d").to_string())),
    };
    p.published = date;
    p.updated = e
        .updated
        .and_then(|d| parse_date(&d.format("%Y-%m-%d").to_string()))
        .filter(|u| date.is_none_or(|d| *u >= d))
        .or(date);
    // A link that is not a web page (`javascript:`, say) gives way to the DOI's.
    p.url = link
        .as_deref()
        .and_then(crate::normalize::web_url)
        .or_else(|| doi.as_ref().map(|d| format!("https://doi.org/{d}")));
    p.doi = doi;
    Ok((p, capped))
}

fn is_initials(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 8
        && s.ends_with('.')
        && s.chars()
            .all(|c| c.is_uppercase() || matches!(c, '.' | '-' | ' '))
}

/// Splits one author string that may hold a whole list: `A; B`, `Last, I., Last, I. J.`
/// (bioRxiv's dc:creator) or `First Last, First Last`. A single `Last, First` stays one name.
pub fn split_author_list(s: &str) -> Vec<String> {
    let s = collapse_whitespace(s);
    if s.contains(';') {
        return s
            .split(';')
            .map(collapse_whitespace)
            .filter(|a| !a.is_empty())
            .collect();
    }
    let parts: Vec<&str> = s
        .split(',')
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .collect();
    if parts.len() >= 2
        && parts.len().is_multiple_of(2)
        && parts.iter().skip(1).step_by(2).all(|p| is_initials(p))
    {
        return parts
            .chunks(2)
            .map(|c| format!("{}, {}", c[0], c[1]))
            .collect();
    }
    if parts.len() > 2 {
        return parts.into_iter().map(str::to_string).collect();
    }
    if s.is_empty() {
        Vec::new()
    } else {
        vec![s]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn author_lists() {
        assert_eq!(
            split_author_list("LAPALU, N., SIMON, A., Plaumann, P.-L., O'Connell, R. J."),
            vec![
                "LAPALU, N.",
                "SIMON, A.",
                "Plaumann, P.-L.",
                "O'Connell, R. J."
            ]
        );
        assert_eq!(
            split_author_list("Ann Lee, Bo Chen, Cy Wu"),
            vec!["Ann Lee", "Bo Chen", "Cy Wu"]
        );
        assert_eq!(split_author_list("Lee, Ann"), vec!["Lee, Ann"]);
        assert_eq!(split_author_list("A B; C D"), vec!["A B", "C D"]);
        assert!(split_author_list("  ").is_empty());
    }
}
