//! Email digests of radars: each radar's unread matches of a window (the feed's selection),
//! a briefing over them on top (themes, cross-domain links), rendered as one HTML page and the
//! same content as plain text. The web page's digest preview is this HTML.
//!
//! Items are numbered across the whole digest (the briefing cites them by number); each shows
//! "arXiv (CS.CL)" (source and primary category), the date, the title linked to the paper, its
//! key sentence and the reason it matched, and a revision of a paper delivered before says so.
//! Rendering is pure and deterministic; the HTML has inline styles only (mail clients drop
//! style sheets) and no external resources.

use std::collections::HashMap;
use std::fmt::Write;

use time::Date;

use super::delivered::{DeliveryLog, Status, Via};
use super::feed::{self, escape_html, paper_link, FeedRequest, RadarFeed, DEFAULT_FEED_DAYS};
use super::DeliveryError;
use crate::briefing::{self, Briefing, BriefingRequest, Lang};
use crate::embed::Embedder;
use crate::paper::{format_date, Paper, PaperId};
use crate::radar::{self, PaperSource, Radar, RadarError, RadarPapers};

/// Papers per radar in a digest by default.
pub const DEFAULT_DIGEST_K: usize = 10;
/// Most radars in one digest.
pub const MAX_DIGEST_RADARS: usize = 20;

/// What a digest covers.
#[derive(Debug, Clone, PartialEq)]
pub struct DigestRequest {
    pub radars: Vec<String>,
    /// First day of the window (default: `days` back from the newest paper).
    pub since: Option<Date>,
    /// Days of the window when `since` is not given.
    pub days: u32,
    /// Papers per radar.
    pub k: usize,
    pub lang: Lang,
}

impl Default for DigestRequest {
    fn default() -> Self {
        DigestRequest {
            radars: Vec::new(),
            since: None,
            days: DEFAULT_FEED_DAYS,
            k: DEFAULT_DIGEST_K,
            lang: Lang::Zh,
        }
    }
}

/// A digest, before rendering.
#[derive(Debug, Clone)]
pub struct Digest {
    pub lang: Lang,
    pub since: Option<Date>,
    pub until: Option<Date>,
    /// Each radar's feed selection: its unread papers of the window, newest first.
    pub sections: Vec<RadarFeed>,
    /// Radars asked for that no longer exist (skipped, with a log line).
    pub missing: Vec<String>,
    pub briefing: Briefing,
}

impl Digest {
    /// Papers in the digest (a paper two radars matched counts twice).
    pub fn len(&self) -> usize {
        self.sections.iter().map(|s| s.entries.len()).sum()
    }

    /// Whether there is nothing new to send.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Builds the digest: per radar, its unread matches of the window; then the briefing over
/// them. A radar that does not exist is an error unless `skip_missing` (a scheduled digest
/// whose radar was deleted meanwhile: skipped with a log line).
pub fn build(
    source: &dyn PaperSource,
    req: &DigestRequest,
    today: Date,
    mut embedder: Option<&mut dyn Embedder>,
    skip_missing: bool,
) -> Result<Digest, DeliveryError> {
    build_with(
        source,
        req,
        today,
        |rank| rank(embedder.as_mut().map(|e| &mut **e as &mut dyn Embedder)),
        skip_missing,
    )
}

/// One radar's ranking, given the query embedder (or none).
pub type RankWith<'a> =
    dyn FnMut(Option<&mut dyn Embedder>) -> Result<feed::RadarFeed, RadarError> + 'a;

/// [`build`] with the embedder lent per radar by `with_embedder` (a server's shared query
/// embedder is then held for one radar's ranking at a time, never for the whole digest).
pub fn build_with<W>(
    source: &dyn PaperSource,
    req: &DigestRequest,
    today: Date,
    mut with_embedder: W,
    skip_missing: bool,
) -> Result<Digest, DeliveryError>
where
    W: FnMut(&mut RankWith<'_>) -> Result<feed::RadarFeed, RadarError>,
{
    if req.radars.is_empty() || req.radars.len() > MAX_DIGEST_RADARS {
        return Err(RadarError::InvalidParam {
            name: "radar",
            reason: format!(
                "a digest needs 1 to {MAX_DIGEST_RADARS} radars, got {}",
                req.radars.len()
            ),
        }
        .into());
    }
    let log = DeliveryLog::new(source.state_dir()?);
    let mut sections = Vec::new();
    let mut missing = Vec::new();
    let (mut since, mut until) = (None::<Date>, None::<Date>);
    for id in &req.radars {
        if sections.iter().any(|s: &RadarFeed| &s.radar.id == id) {
            continue;
        }
        let radar = match radar::get_radar(source, id) {
            Ok(r) => r,
            Err(RadarError::NotFound { .. }) if skip_missing => {
                tracing::warn!(radar = %id, "digest: radar no longer exists; skipped");
                missing.push(id.clone());
                continue;
            }
            Err(e) => return Err(e.into()),
        };
        let marks = log.marks(&radar)?;
        let feed_req = FeedRequest {
            k: req.k,
            days: req.days,
            all: false,
            since: req.since,
        };
        let selected = with_embedder(&mut |embedder| {
            feed::select(source, &radar, &marks, &feed_req, today, embedder)
        })?;
        since = min_date(since, selected.since);
        until = max_date(until, selected.until);
        sections.push(selected);
    }
    let ranked: Vec<(Radar, RadarPapers)> = sections
        .iter()
        .map(|s| {
            (
                s.radar.clone(),
                RadarPapers {
                    radar: s.radar.clone(),
                    since: since.map(format_date),
                    until: until.map(format_date),
                    k: req.k,
                    mode: s.mode,
                    candidates: s.entries.len(),
                    notes: Vec::new(),
                    papers: s.entries.iter().map(|e| e.hit.clone()).collect(),
                },
            )
        })
        .collect();
    let briefing = briefing::briefing_of(
        source,
        &BriefingRequest {
            radars: req.radars.clone(),
            since,
            until,
            lang: req.lang,
            k: req.k,
        },
        ranked,
    );
    Ok(Digest {
        lang: req.lang,
        since,
        until,
        sections,
        missing,
        briefing,
    })
}

fn min_date(a: Option<Date>, b: Option<Date>) -> Option<Date> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

fn max_date(a: Option<Date>, b: Option<Date>) -> Option<Date> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.max(b)),
        (a, b) => a.or(b),
    }
}

/// Marks every paper of a sent digest as delivered to its radar; returns how many marks
/// were new.
pub fn mark_sent(source: &dyn PaperSource, digest: &Digest) -> Result<usize, DeliveryError> {
    let log = DeliveryLog::new(source.state_dir()?);
    let mut n = 0;
    for s in &digest.sections {
        let papers: Vec<(PaperId, u64)> = s
            .entries
            .iter()
            .map(|e| (e.hit.paper.id.clone(), e.hit.paper.version))
            .collect();
        if !papers.is_empty() {
            n += log.mark(&s.radar, &papers, Via::Digest)?;
        }
    }
    Ok(n)
}

struct Labels {
    title: &'static str,
    papers: fn(usize) -> String,
    themes: &'static str,
    links: &'static str,
    reason: &'static str,
    updated: &'static str,
    nothing: &'static str,
    delivered: fn(usize) -> String,
    footer: &'static str,
}

const ZH: Labels = Labels {
    title: "AcademicHub 研究雷达",
    papers: |n| format!("{n} 篇新论文"),
    themes: "主题",
    links: "跨领域关联",
    reason: "入选原因",
    updated: "有更新",
    nothing: "没有新论文。",
    delivered: |n| format!("另有 {n} 篇此前已送达，未再列出。"),
    footer: "本邮件列出的论文已标记为已送达，同一雷达不会再次发送（有新版本时会标注“有更新”）。",
};

const EN: Labels = Labels {
    title: "AcademicHub research radar",
    papers: |n| format!("{n} new papers"),
    themes: "Themes",
    links: "Cross-domain links",
    reason: "Why",
    updated: "updated",
    nothing: "No new papers.",
    delivered: |n| format!("{n} more were delivered before and are not listed again."),
    footer: "The papers listed here are now marked as delivered: the same radar will not send them again (a new version comes back marked as updated).",
};

fn labels(lang: Lang) -> &'static Labels {
    match lang {
        Lang::Zh => &ZH,
        Lang::En => &EN,
    }
}

/// `arXiv`, `medRxiv`, ... for a source name.
fn source_name(source: &str) -> String {
    match source.to_ascii_lowercase().as_str() {
        "arxiv" => "arXiv".into(),
        "medrxiv" => "medRxiv".into(),
        "biorxiv" => "bioRxiv".into(),
        "chemrxiv" => "ChemRxiv".into(),
        "api" => "API".into(),
        _ => source.to_string(),
    }
}

/// "arXiv (CS.CL)": the source and the primary category.
pub fn source_line(p: &Paper) -> String {
    match p.primary_category() {
        Some(c) => format!("{} ({})", source_name(&p.source), c.to_uppercase()),
        None => source_name(&p.source),
    }
}

/// The subject line.
pub fn subject(d: &Digest) -> String {
    let l = labels(d.lang);
    let names: Vec<&str> = d.sections.iter().map(|s| s.radar.name.as_str()).collect();
    let date = d.until.map(format_date).unwrap_or_default();
    format!(
        "{}: {} · {} · {date}",
        l.title,
        names.join(", "),
        (l.papers)(d.len())
    )
    .trim_end_matches([' ', '·'])
    .to_string()
}

/// Item numbers by paper id (first appearance), and the key sentence of each paper.
fn numbering(d: &Digest) -> (HashMap<PaperId, usize>, HashMap<PaperId, String>) {
    let mut numbers = HashMap::new();
    let mut n = 0;
    for s in &d.sections {
        for e in &s.entries {
            numbers.entry(e.hit.paper.id.clone()).or_insert_with(|| {
                n += 1;
                n
            });
        }
    }
    let mut keys = HashMap::new();
    for s in &d.briefing.radars {
        for p in &s.papers {
            if !p.key_sentence.is_empty() {
                keys.entry(p.id.clone())
                    .or_insert_with(|| p.key_sentence.clone());
            }
        }
    }
    (numbers, keys)
}

fn window(d: &Digest) -> String {
    match (d.since, d.until) {
        (Some(s), Some(u)) if s == u => format_date(s),
        (Some(s), Some(u)) => format!("{} – {}", format_date(s), format_date(u)),
        _ => String::new(),
    }
}

/// The digest as one HTML page (the email's text/html part and the web page's preview).
/// `base` makes links to papers without a web link absolute.
pub fn render_html(d: &Digest, base: &str) -> String {
    let l = labels(d.lang);
    let (numbers, keys) = numbering(d);
    let cite = |id: &PaperId| {
        numbers
            .get(id)
            .map(|n| format!("[{n}]"))
            .unwrap_or_default()
    };
    let lang = match d.lang {
        Lang::Zh => "zh",
        Lang::En => "en",
    };
    let mut h = String::new();
    let _ = write!(
        h,
        "<!DOCTYPE html>\n<html lang=\"{lang}\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width\"><title>{}</title></head>\n\
         <body style=\"margin:0;padding:16px;background:#fafaf7;color:#1d1d1f;\
         font-family:-apple-system,'Segoe UI','PingFang SC','Microsoft YaHei',sans-serif;\
         font-size:15px;line-height:1.55\">\n<div style=\"max-width:720px;margin:0 auto\">\n",
        escape_html(&subject(d))
    );
    let _ = writeln!(
        h,
        "<h1 style=\"font-size:20px;margin:0 0 4px\">{}</h1>\n<p style=\"color:#6b6b70;margin:0 0 16px\">{} · {}</p>",
        l.title,
        escape_html(&window(d)),
        (l.papers)(d.len())
    );
    if d.is_empty() {
        let _ = writeln!(h, "<p>{}</p>", l.nothing);
    }
    if !d.briefing.themes.is_empty() && !d.is_empty() {
        let _ = writeln!(
            h,
            "<h2 style=\"font-size:17px;margin:16px 0 6px\">{}</h2>\n<ul style=\"padding-left:20px;margin:0\">",
            l.themes
        );
        for t in &d.briefing.themes {
            let cited: Vec<String> = t.papers.iter().map(&cite).collect();
            let summary: Vec<String> = t
                .summary
                .iter()
                .map(|s| format!("{} {}", escape_html(&s.text), cite(&s.paper)))
                .collect();
            let _ = writeln!(
                h,
                "<li style=\"margin:4px 0\"><b>{}</b> {}<br><span style=\"color:#444\">{}</span></li>",
                escape_html(&t.label),
                cited.join(""),
                summary.join(" ")
            );
        }
        h.push_str("</ul>\n");
    }
    if !d.briefing.links.is_empty() && !d.is_empty() {
        let _ = writeln!(
            h,
            "<h2 style=\"font-size:17px;margin:16px 0 6px\">{}</h2>\n<ul style=\"padding-left:20px;margin:0\">",
            l.links
        );
        for k in &d.briefing.links {
            let _ = writeln!(
                h,
                "<li style=\"margin:4px 0\">{} {} ↔ {} {}: {}</li>",
                cite(&k.a),
                escape_html(&k.category_a),
                cite(&k.b),
                escape_html(&k.category_b),
                escape_html(&k.shared_terms.join(", "))
            );
        }
        h.push_str("</ul>\n");
    }
    let mut shown = std::collections::HashSet::new();
    for s in &d.sections {
        let _ = writeln!(
            h,
            "<h2 style=\"font-size:17px;margin:20px 0 6px;border-bottom:1px solid #e3e1da\">{} <span style=\"color:#6b6b70;font-weight:normal;font-size:14px\">{}</span></h2>",
            escape_html(&s.radar.name),
            (l.papers)(s.entries.len())
        );
        for e in &s.entries {
            let p = &e.hit.paper;
            let n = numbers.get(&p.id).copied().unwrap_or(0);
            let again = !shown.insert(p.id.clone());
            let updated = match e.status {
                Status::Updated { .. } => format!(
                    " <span style=\"background:#fde68a;border-radius:8px;padding:0 6px\">{} v{}</span>",
                    l.updated, p.version
                ),
                _ => String::new(),
            };
            let date = p.published.map(format_date).unwrap_or_default();
            let _ = writeln!(
                h,
                "<div style=\"margin:12px 0;padding:10px 12px;background:#fff;border:1px solid #e3e1da;border-radius:8px\">\n\
                 <div style=\"color:#6b6b70;font-size:13px\">{n}. {} · {}{updated}</div>\n\
                 <div style=\"font-size:16px;font-weight:600;margin:2px 0\"><a href=\"{}\" style=\"color:#9b2c2c;text-decoration:none\">{}</a></div>",
                escape_html(&source_line(p)),
                escape_html(&date),
                escape_html(&paper_link(p, base)),
                escape_html(&p.title)
            );
            if !again {
                if let Some(k) = keys.get(&p.id) {
                    let _ = writeln!(h, "<div style=\"margin:4px 0\">{}</div>", escape_html(k));
                }
            }
            let _ = writeln!(
                h,
                "<div style=\"color:#6b6b70;font-size:13px\">{}: {}</div>\n</div>",
                l.reason,
                escape_html(&e.hit.reason.text)
            );
        }
        if s.delivered > 0 {
            let _ = writeln!(
                h,
                "<p style=\"color:#6b6b70;font-size:13px\">{}</p>",
                (l.delivered)(s.delivered)
            );
        }
    }
    let _ = writeln!(
        h,
        "<p style=\"color:#6b6b70;font-size:12px;margin-top:24px\">{}</p>\n</div></body></html>",
        l.footer
    );
    h
}

/// The same digest as plain text (the email's text/plain part).
pub fn render_text(d: &Digest, base: &str) -> String {
    let l = labels(d.lang);
    let (numbers, keys) = numbering(d);
    let cite = |id: &PaperId| {
        numbers
            .get(id)
            .map(|n| format!("[{n}]"))
            .unwrap_or_default()
    };
    let mut t = String::new();
    let _ = writeln!(t, "{}\n{} · {}\n", l.title, window(d), (l.papers)(d.len()));
    if d.is_empty() {
        let _ = writeln!(t, "{}", l.nothing);
    }
    if !d.briefing.themes.is_empty() && !d.is_empty() {
        let _ = writeln!(t, "{}", l.themes);
        for th in &d.briefing.themes {
            let cited: Vec<String> = th.papers.iter().map(&cite).collect();
            let _ = writeln!(t, "- {} {}", th.label, cited.join(""));
            for s in &th.summary {
                let _ = writeln!(t, "  {} {}", s.text, cite(&s.paper));
            }
        }
        t.push('\n');
    }
    if !d.briefing.links.is_empty() && !d.is_empty() {
        let _ = writeln!(t, "{}", l.links);
        for k in &d.briefing.links {
            let _ = writeln!(
                t,
                "- {} {} <-> {} {}: {}",
                cite(&k.a),
                k.category_a,
                cite(&k.b),
                k.category_b,
                k.shared_terms.join(", ")
            );
        }
        t.push('\n');
    }
    for s in &d.sections {
        let _ = writeln!(t, "== {} ({})", s.radar.name, (l.papers)(s.entries.len()));
        for e in &s.entries {
            let p = &e.hit.paper;
            let updated = match e.status {
                Status::Updated { .. } => format!(" [{} v{}]", l.updated, p.version),
                _ => String::new(),
            };
            let _ = writeln!(
                t,
                "\n{}. {} · {}{updated}\n   {}\n   {}",
                numbers.get(&p.id).copied().unwrap_or(0),
                source_line(p),
                p.published.map(format_date).unwrap_or_default(),
                p.title,
                paper_link(p, base)
            );
            if let Some(k) = keys.get(&p.id) {
                let _ = writeln!(t, "   {k}");
            }
            let _ = writeln!(t, "   {}: {}", l.reason, e.hit.reason.text);
        }
        if s.delivered > 0 {
            let _ = writeln!(t, "\n{}", (l.delivered)(s.delivered));
        }
        t.push('\n');
    }
    let _ = writeln!(t, "--\n{}", l.footer);
    t
}
