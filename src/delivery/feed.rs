//! Atom 1.0 feeds of radars (`GET /api/radars/{id}/feed.atom`): a radar's best `k` matches
//! among the papers of its last `days` days, newest first, each with its abstract and the
//! reason it matched; papers already delivered to the radar's reader (a digest, "mark as
//! read") are left out unless asked for (not replaced by lower matches: once everything is
//! read, nothing shows until new papers rank), and a revised paper comes back as updated.
//!
//! The window ends at the newest paper the radar's filters admit (not after today), so a feed
//! over an archive that stopped growing still lists that archive's last days. Rendering goes
//! through `atom_syndication`, which escapes every value.

use std::fmt::Write;

use atom_syndication::{
    Category, Content, Entry, Feed, FixedDateTime, Generator, Link, Person, Text,
};
use time::{Date, Duration};

use super::delivered::{RadarMarks, Status};
use crate::embed::Embedder;
use crate::paper::{format_date, Paper};
use crate::radar::{self, PaperSource, Radar, RadarError, RadarHit, RankRequest, MAX_RADAR_K};
use crate::search::{Filters, Mode};

/// Entries of a feed by default.
pub const DEFAULT_FEED_K: usize = 50;
/// Most entries of a feed.
pub const MAX_FEED_K: usize = 200;
/// Days a feed looks back by default.
pub const DEFAULT_FEED_DAYS: u32 = 7;
/// Most days a feed looks back.
pub const MAX_FEED_DAYS: u32 = 366;

/// What a feed lists.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FeedRequest {
    /// Entries (1..=MAX_FEED_K).
    pub k: usize,
    /// Days of papers, counted back from the newest (1..=MAX_FEED_DAYS).
    pub days: u32,
    /// Papers already delivered too.
    pub all: bool,
    /// First day of the window instead of `days` back (a digest's `--since`).
    pub since: Option<Date>,
}

impl Default for FeedRequest {
    fn default() -> Self {
        FeedRequest {
            k: DEFAULT_FEED_K,
            days: DEFAULT_FEED_DAYS,
            all: false,
            since: None,
        }
    }
}

impl FeedRequest {
    /// Checks the bounds.
    pub fn validate(&self) -> Result<(), RadarError> {
        if self.k == 0 || self.k > MAX_FEED_K {
            return Err(RadarError::InvalidParam {
                name: "k",
                reason: format!("must be between 1 and {MAX_FEED_K}, got {}", self.k),
            });
        }
        if self.days == 0 || self.days > MAX_FEED_DAYS {
            return Err(RadarError::InvalidParam {
                name: "days",
                reason: format!("must be between 1 and {MAX_FEED_DAYS}, got {}", self.days),
            });
        }
        Ok(())
    }
}

/// One entry: the ranked paper and what it is to the reader.
#[derive(Debug, Clone)]
pub struct FeedEntry {
    pub hit: RadarHit,
    pub status: Status,
}

/// A radar's feed, before rendering.
#[derive(Debug, Clone)]
pub struct RadarFeed {
    pub radar: Radar,
    /// The window (`None` when the radar's filters admit no dated paper).
    pub since: Option<Date>,
    pub until: Option<Date>,
    pub mode: Mode,
    /// Newest first.
    pub entries: Vec<FeedEntry>,
    /// Matches of the window left out because they were delivered already.
    pub delivered: usize,
}

/// The newest publication date the radar's filters admit, not after `today`.
fn newest_date(
    source: &dyn PaperSource,
    radar: &Radar,
    today: Date,
) -> Result<Option<Date>, RadarError> {
    let filters = Filters {
        categories: radar.filters.categories.clone(),
        sources: radar.filters.sources.clone(),
        from: None,
        to: Some(today),
    };
    source.newest_date(&filters, today)
}

/// The radar's feed: its best matches of the window, delivered papers left out unless
/// `req.all`, newest first.
pub fn select(
    source: &dyn PaperSource,
    radar: &Radar,
    marks: &RadarMarks,
    req: &FeedRequest,
    today: Date,
    embedder: Option<&mut dyn Embedder>,
) -> Result<RadarFeed, RadarError> {
    req.validate()?;
    let Some(until) = newest_date(source, radar, today)? else {
        return Ok(RadarFeed {
            radar: radar.clone(),
            since: None,
            until: None,
            mode: Mode::Bm25,
            entries: Vec::new(),
            delivered: 0,
        });
    };
    let since = match req.since {
        Some(s) if s > until => {
            // Nothing the filters admit is that new.
            return Ok(RadarFeed {
                radar: radar.clone(),
                since: Some(s),
                until: Some(s),
                mode: Mode::Bm25,
                entries: Vec::new(),
                delivered: 0,
            });
        }
        Some(s) => s,
        None => until
            .checked_sub(Duration::days(i64::from(req.days) - 1))
            .unwrap_or(until),
    };
    // The radar's top `k` of the window; what was delivered is left out, not replaced by
    // lower matches: a reader who has read everything sees nothing until new papers rank.
    let k = req.k.min(MAX_RADAR_K);
    let ranked = radar::rank(
        source,
        radar,
        &RankRequest {
            since: Some(since),
            until: Some(until),
            k,
        },
        embedder,
    )?;
    let mut delivered = 0;
    let mut entries: Vec<FeedEntry> = Vec::with_capacity(req.k);
    for hit in ranked.papers {
        let status = marks.status(&hit.paper);
        if status == Status::Delivered && !req.all {
            delivered += 1;
            continue;
        }
        entries.push(FeedEntry { hit, status });
    }
    entries.sort_by(|a, b| {
        b.hit
            .paper
            .published
            .cmp(&a.hit.paper.published)
            .then(a.hit.rank.cmp(&b.hit.rank))
    });
    Ok(RadarFeed {
        radar: radar.clone(),
        since: Some(since),
        until: Some(until),
        mode: ranked.mode,
        entries,
        delivered,
    })
}

/// Absolute URLs of a feed: where it is served and where people read the radar.
#[derive(Debug, Clone)]
pub struct FeedLinks {
    /// `http://host:port` (no trailing slash).
    pub base: String,
    /// The feed's own URL (`rel="self"`).
    pub self_url: String,
}

/// Midnight UTC of `d`.
fn at_midnight(d: Date) -> FixedDateTime {
    FixedDateTime::parse_from_rfc3339(&format!("{}T00:00:00Z", format_date(d)))
        .unwrap_or_else(|_| epoch())
}

fn epoch() -> FixedDateTime {
    FixedDateTime::parse_from_rfc3339("1970-01-01T00:00:00Z").unwrap_or_default()
}

/// When a paper last changed, as Atom wants it.
fn paper_updated(p: &Paper) -> Option<FixedDateTime> {
    p.updated.or(p.published).map(at_midnight)
}

/// HTML text of `s` (for `type="html"` content and the digest): control characters dropped,
/// then the shared escaper.
pub(super) fn escape_html(s: &str) -> String {
    crate::normalize::html_escape(&xml_text(s))
}

/// Text XML 1.0 can carry: control characters other than tab and newline dropped.
fn xml_text(s: &str) -> String {
    s.chars()
        .filter(|c| !c.is_control() || *c == '\n' || *c == '\t')
        .collect()
}

/// `s` percent-encoded except RFC 3986's unreserved characters (for ids in URIs and paths).
pub fn percent_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(b as char);
        } else {
            let _ = write!(out, "%{b:02X}");
        }
    }
    out
}

/// Where a reader opens a paper: its own web link, else its DOI, else this server's record.
pub fn paper_link(p: &Paper, base: &str) -> String {
    if let Some(u) = p.url.as_deref().and_then(crate::normalize::web_url) {
        return u;
    }
    if let Some(doi) = p.doi.as_deref().filter(|d| !d.trim().is_empty()) {
        return format!("https://doi.org/{}", doi.trim());
    }
    format!("{base}/api/papers/{}", percent_encode(p.id.as_str()))
}

/// The title shown for an entry: revisions of delivered papers say so.
pub fn entry_title(e: &FeedEntry) -> String {
    match e.status {
        Status::Updated { .. } => {
            format!("[updated v{}] {}", e.hit.paper.version, e.hit.paper.title)
        }
        _ => e.hit.paper.title.clone(),
    }
}

/// The feed as Atom 1.0 XML.
pub fn atom(feed: &RadarFeed, links: &FeedLinks) -> String {
    let radar = &feed.radar;
    let radar_page = format!(
        "{}/?view=radars&radar={}",
        links.base,
        percent_encode(&radar.id)
    );
    let mut entries = Vec::with_capacity(feed.entries.len());
    for e in &feed.entries {
        let p = &e.hit.paper;
        let link = paper_link(p, &links.base);
        let mut html = String::new();
        let _ = write!(
            html,
            "<p><b>Why:</b> {}</p>",
            escape_html(&e.hit.reason.text)
        );
        if let Status::Updated { delivered_version } = e.status {
            let _ = write!(
                html,
                "<p><b>Updated:</b> version {} (you had version {delivered_version}).</p>",
                p.version
            );
        }
        let _ = write!(html, "<p>{}</p>", escape_html(&p.abstract_text));
        let mut meta = vec![format!("{} {}", p.source, p.id)];
        if !p.categories.is_empty() {
            meta.push(p.categories.join(", "));
        }
        if let Some(d) = p.published {
            meta.push(format_date(d));
        }
        let _ = write!(html, "<p>{}</p>", escape_html(&meta.join(" · ")));
        let mut entry = Entry::default();
        entry.set_id(format!(
            "tag:academichub,2026:paper/{}",
            percent_encode(p.id.as_str())
        ));
        entry.set_title(Text::plain(xml_text(&entry_title(e))));
        entry.set_updated(paper_updated(p).unwrap_or_else(|| radar_updated(radar)));
        if let Some(d) = p.published {
            entry.set_published(Some(at_midnight(d)));
        }
        entry.set_authors(
            p.authors
                .iter()
                .map(|a| Person {
                    name: xml_text(a),
                    ..Person::default()
                })
                .collect::<Vec<_>>(),
        );
        entry.set_categories(
            p.categories
                .iter()
                .map(|c| Category {
                    term: xml_text(c),
                    ..Category::default()
                })
                .collect::<Vec<_>>(),
        );
        entry.set_links(vec![Link {
            href: link,
            rel: "alternate".into(),
            ..Link::default()
        }]);
        entry.set_summary(Some(Text::plain(xml_text(&e.hit.reason.text))));
        entry.set_content(Some(Content {
            value: Some(xml_text(&html)),
            content_type: Some("html".into()),
            ..Content::default()
        }));
        entries.push(entry);
    }
    let updated = feed
        .entries
        .iter()
        .filter_map(|e| paper_updated(&e.hit.paper))
        .chain(std::iter::once(radar_updated(radar)))
        .max()
        .unwrap_or_else(epoch);
    let mut out = Feed::default();
    out.set_id(format!(
        "tag:academichub,2026:radar/{}/{}",
        percent_encode(&radar.id),
        percent_encode(&radar.created)
    ));
    out.set_title(Text::plain(xml_text(&format!(
        "{} — AcademicHub radar",
        radar.name
    ))));
    let window = match (feed.since, feed.until) {
        (Some(s), Some(u)) => format!("papers of {} to {}", format_date(s), format_date(u)),
        _ => "no papers yet".to_string(),
    };
    out.set_subtitle(Some(Text::plain(xml_text(&format!(
        "Queries: {}. Best matches among the {window}, newest first.",
        radar.queries.join("; ")
    )))));
    out.set_updated(updated);
    out.set_authors(vec![Person {
        name: "AcademicHub".into(),
        ..Person::default()
    }]);
    out.set_generator(Some(Generator {
        value: "AcademicHub".into(),
        version: Some(env!("CARGO_PKG_VERSION").into()),
        ..Generator::default()
    }));
    out.set_links(vec![
        Link {
            href: links.self_url.clone(),
            rel: "self".into(),
            mime_type: Some("application/atom+xml".into()),
            ..Link::default()
        },
        Link {
            href: radar_page,
            rel: "alternate".into(),
            mime_type: Some("text/html".into()),
            ..Link::default()
        },
    ]);
    out.set_entries(entries);
    out.to_string()
}

/// The radar's last change, as Atom wants it.
fn radar_updated(radar: &Radar) -> FixedDateTime {
    FixedDateTime::parse_from_rfc3339(&radar.updated).unwrap_or_else(|_| epoch())
}

/// The newest change a feed shows, for `Last-Modified`: its newest entry, the radar's
/// definition, or a mark of the radar.
pub fn last_modified(feed: &RadarFeed, marks: &RadarMarks) -> FixedDateTime {
    feed.entries
        .iter()
        .filter_map(|e| paper_updated(&e.hit.paper))
        .chain(std::iter::once(radar_updated(&feed.radar)))
        .chain(
            marks
                .papers
                .values()
                .filter_map(|m| FixedDateTime::parse_from_rfc3339(&m.at).ok()),
        )
        .max()
        .unwrap_or_else(epoch)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escaping_and_ids() {
        assert_eq!(percent_encode("hep-th/9901001"), "hep-th%2F9901001");
        assert_eq!(escape_html("<b>&\"'\u{7}"), "&lt;b&gt;&amp;&quot;&#39;");
        assert_eq!(xml_text("a\u{0}b\u{1b}c\nd"), "abc\nd");
        let mut p = Paper::new(crate::paper::PaperId::new("x/1"), "t", "a");
        assert_eq!(paper_link(&p, "http://h"), "http://h/api/papers/x%2F1");
        p.doi = Some("10.1/a".into());
        assert_eq!(paper_link(&p, "http://h"), "https://doi.org/10.1/a");
        p.url = Some("javascript:alert(1)".into());
        assert_eq!(paper_link(&p, "http://h"), "https://doi.org/10.1/a");
        p.url = Some("https://arxiv.org/abs/x/1".into());
        assert_eq!(paper_link(&p, "http://h"), "https://arxiv.org/abs/x/1");
    }
}
