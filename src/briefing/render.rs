//! Markdown rendering of a [`Briefing`], with section labels in Chinese or English. Every
//! statement keeps its paper id in brackets. Pure and deterministic.

use std::fmt::Write;

use super::{Briefing, Lang};

struct Labels {
    title: &'static str,
    range_since: &'static str,
    range_until: &'static str,
    narrative: &'static str,
    narrative_by: &'static str,
    radars: &'static str,
    candidates: &'static str,
    themes: &'static str,
    theme: &'static str,
    terms: &'static str,
    categories: &'static str,
    papers: &'static str,
    key_sentences: &'static str,
    links: &'static str,
    no_links: &'static str,
    shared: &'static str,
    similarity: &'static str,
    notes: &'static str,
    clustering_embedding: &'static str,
    clustering_tfidf: &'static str,
    reason: &'static str,
}

const ZH: Labels = Labels {
    title: "研究雷达简报",
    range_since: "起始日期",
    range_until: "截止日期",
    narrative: "综述（由语言模型生成）",
    narrative_by: "模型",
    radars: "各雷达的重点论文",
    candidates: "候选论文",
    themes: "主题",
    theme: "主题",
    terms: "关键词",
    categories: "领域",
    papers: "论文",
    key_sentences: "要点",
    links: "跨领域关联",
    no_links: "没有发现足够相近的跨领域论文对。",
    shared: "共同词",
    similarity: "相似度",
    notes: "说明",
    clustering_embedding: "主题按论文向量聚类",
    clustering_tfidf: "主题按 tf-idf 词向量聚类",
    reason: "入选原因",
};

const EN: Labels = Labels {
    title: "Research radar briefing",
    range_since: "Since",
    range_until: "Until",
    narrative: "Overview (written by a language model)",
    narrative_by: "model",
    radars: "Top papers per radar",
    candidates: "candidates",
    themes: "Themes",
    theme: "Theme",
    terms: "Terms",
    categories: "Fields",
    papers: "Papers",
    key_sentences: "Key points",
    links: "Cross-domain links",
    no_links: "No pair of papers from different fields is close enough.",
    shared: "shared terms",
    similarity: "similarity",
    notes: "Notes",
    clustering_embedding: "themes clustered by paper embeddings",
    clustering_tfidf: "themes clustered by tf-idf term vectors",
    reason: "why",
};

fn labels(lang: Lang) -> &'static Labels {
    match lang {
        Lang::Zh => &ZH,
        Lang::En => &EN,
    }
}

/// One line: no newlines inside list items.
fn line(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Renders the briefing as Markdown.
pub fn to_markdown(b: &Briefing) -> String {
    let l = labels(b.lang);
    let mut out = String::new();
    let _ = writeln!(out, "# {}\n", l.title);
    let mut range = Vec::new();
    if let Some(s) = &b.since {
        range.push(format!("{}: {s}", l.range_since));
    }
    if let Some(u) = &b.until {
        range.push(format!("{}: {u}", l.range_until));
    }
    range.push(format!("{}: {}", l.papers, b.papers.len()));
    let _ = writeln!(out, "{}\n", range.join(" · "));
    if let Some(e) = &b.empty {
        let _ = writeln!(out, "{e}\n");
    }
    if let Some(n) = &b.narrative {
        let _ = writeln!(out, "## {}\n", l.narrative);
        let _ = writeln!(out, "{}\n", n.text.trim());
        let _ = writeln!(out, "_{}: {}_\n", l.narrative_by, n.model);
    }
    radar_sections(&mut out, b, l);
    theme_sections(&mut out, b, l);
    link_section(&mut out, b, l);
    if !b.notes.is_empty() {
        let _ = writeln!(out, "## {}\n", l.notes);
        for n in &b.notes {
            let _ = writeln!(out, "- {}", line(n));
        }
        out.push('\n');
    }
    while out.ends_with("\n\n") {
        out.pop();
    }
    out
}

/// Each radar: its picks with key sentence and reason, after its notes.
fn radar_sections(out: &mut String, b: &Briefing, l: &Labels) {
    if b.radars.is_empty() {
        return;
    }
    let _ = writeln!(out, "## {}\n", l.radars);
    for r in &b.radars {
        let _ = writeln!(
            out,
            "### {} (`{}`, {}, {} {})\n",
            line(&r.name),
            r.id,
            r.mode,
            r.candidates,
            l.candidates
        );
        for n in &r.notes {
            let _ = writeln!(out, "> {}", line(n));
        }
        if !r.notes.is_empty() {
            out.push('\n');
        }
        for (i, p) in r.papers.iter().enumerate() {
            let _ = writeln!(out, "{}. **{}** [{}]", i + 1, line(&p.title), p.id);
            if !p.key_sentence.is_empty() {
                let _ = writeln!(out, "   {} [{}]", line(&p.key_sentence), p.id);
            }
            if !p.reason.is_empty() {
                let _ = writeln!(out, "   _{}: {}_", l.reason, line(&p.reason));
            }
        }
        out.push('\n');
    }
}

/// Each theme: label, terms, categories, papers, key sentences.
fn theme_sections(out: &mut String, b: &Briefing, l: &Labels) {
    if b.themes.is_empty() {
        return;
    }
    let _ = writeln!(
        out,
        "## {}\n\n_{}_\n",
        l.themes,
        if b.clustering.space == "embedding" {
            l.clustering_embedding
        } else {
            l.clustering_tfidf
        }
    );
    for t in &b.themes {
        let _ = writeln!(out, "### {} {}: {}\n", l.theme, t.id, line(&t.label));
        let terms: Vec<String> = t
            .terms
            .iter()
            .map(|x| format!("{} ({})", x.term, x.papers))
            .collect();
        let _ = writeln!(out, "- {}: {}", l.terms, terms.join(", "));
        let cats: Vec<String> = t
            .categories
            .iter()
            .map(|(c, n)| format!("{c} ({n})"))
            .collect();
        if !cats.is_empty() {
            let _ = writeln!(out, "- {}: {}", l.categories, cats.join(", "));
        }
        let ids: Vec<String> = t.papers.iter().map(|p| format!("[{p}]")).collect();
        let _ = writeln!(out, "- {}: {}", l.papers, ids.join(" "));
        if !t.summary.is_empty() {
            let _ = writeln!(out, "- {}:", l.key_sentences);
            for s in &t.summary {
                let _ = writeln!(out, "  - {} [{}]", line(&s.text), s.paper);
            }
        }
        out.push('\n');
    }
}

/// The cross-domain links between selected papers (or that there are none).
fn link_section(out: &mut String, b: &Briefing, l: &Labels) {
    if b.papers.is_empty() {
        return;
    }
    let _ = writeln!(out, "## {}\n", l.links);
    if b.links.is_empty() {
        let _ = writeln!(out, "{}\n", l.no_links);
    }
    let title = |id: &crate::paper::PaperId| {
        b.papers
            .iter()
            .find(|p| &p.id == id)
            .map(|p| line(&p.title))
            .unwrap_or_default()
    };
    for k in &b.links {
        let _ = writeln!(
            out,
            "- {} ({}) [{}] ↔ {} ({}) [{}] — {} {:.2}; {}: {}",
            title(&k.a),
            k.category_a,
            k.a,
            title(&k.b),
            k.category_b,
            k.b,
            l.similarity,
            k.similarity,
            l.shared,
            k.shared_terms.join(", ")
        );
    }
    if !b.links.is_empty() {
        out.push('\n');
    }
}
