//! BibTeX and RIS of papers, for reference managers (Zotero, JabRef, EndNote, Mendeley).
//!
//! A paper from arXiv is a `@misc` with `eprint`, `archivePrefix` and `primaryClass` (the
//! form arXiv's own BibTeX export and biblatex use), or an `@article` when it carries a
//! journal reference; in RIS an unpublished preprint (`UNPB`) or a journal article (`JOUR`).
//! Every BibTeX value is escaped (`{ } \ % & $ # _ ^ ~`), so titles with braces, percent signs
//! or leftover LaTeX stay valid; the stored text is already rendered from LaTeX to Unicode,
//! which BibTeX 8-bit tools and biber read as UTF-8. RIS values are single lines. Keys are
//! `<first author's surname><year><first title word>`, ASCII, unique within one export.

use std::collections::HashMap;
use std::fmt::Write;

use crate::paper::{format_date, Paper};

/// An export format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExportFormat {
    Bibtex,
    Ris,
}

impl std::str::FromStr for ExportFormat {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s.trim().to_ascii_lowercase().as_str() {
            "bibtex" | "bib" => Ok(ExportFormat::Bibtex),
            "ris" => Ok(ExportFormat::Ris),
            other => Err(format!("unknown export format {other:?} (bibtex or ris)")),
        }
    }
}

impl ExportFormat {
    /// The media type of an export.
    pub fn content_type(self) -> &'static str {
        match self {
            ExportFormat::Bibtex => "application/x-bibtex; charset=utf-8",
            ExportFormat::Ris => "application/x-research-info-systems; charset=utf-8",
        }
    }

    /// The file extension, without the dot.
    pub fn extension(self) -> &'static str {
        match self {
            ExportFormat::Bibtex => "bib",
            ExportFormat::Ris => "ris",
        }
    }
}

/// `papers` in `format`, in their order.
pub fn export(papers: &[Paper], format: ExportFormat) -> String {
    let keys = citation_keys(papers);
    let mut out = String::new();
    for (p, key) in papers.iter().zip(&keys) {
        match format {
            ExportFormat::Bibtex => bibtex_entry(&mut out, p, key),
            ExportFormat::Ris => ris_entry(&mut out, p, key),
        }
    }
    out
}

/// Whether `p` is an arXiv paper (its id is then the eprint number).
fn is_arxiv(p: &Paper) -> bool {
    p.source.eq_ignore_ascii_case("arxiv")
}

/// The year a paper is cited with: its first version's date.
fn year(p: &Paper) -> Option<i32> {
    p.published.or(p.updated).map(|d| d.year())
}

/// ASCII letters of `s` (accents dropped: `Müller` -> `Muller`), lowercased.
fn ascii_letters(s: &str) -> String {
    s.chars()
        .filter_map(|c| {
            if c.is_ascii_alphabetic() {
                return Some(c.to_ascii_lowercase());
            }
            // Latin letters with diacritics, by their base letter.
            const FOLD: &[(&str, char)] = &[
                ("àáâãäåāă", 'a'),
                ("çćč", 'c'),
                ("èéêëēėęě", 'e'),
                ("ìíîïī", 'i'),
                ("ñńň", 'n'),
                ("òóôõöøō", 'o'),
                ("śšş", 's'),
                ("ùúûüūů", 'u'),
                ("ýÿ", 'y'),
                ("źżž", 'z'),
            ];
            let l = c.to_lowercase().next()?;
            FOLD.iter()
                .find(|(from, _)| from.contains(l))
                .map(|(_, to)| *to)
        })
        .collect()
}

/// The surname of an author written `First Last` or `Last, First`.
fn surname(author: &str) -> &str {
    match author.split_once(',') {
        Some((last, _)) => last.trim(),
        None => author.split_whitespace().last().unwrap_or(""),
    }
}

/// Unique keys for `papers`: `surname + year + first title word`, with `a`, `b`, ... added
/// when two would collide.
fn citation_keys(papers: &[Paper]) -> Vec<String> {
    let mut seen: HashMap<String, usize> = HashMap::new();
    papers
        .iter()
        .map(|p| {
            let who = p
                .authors
                .first()
                .map(|a| ascii_letters(surname(a)))
                .filter(|s| !s.is_empty())
                .unwrap_or_else(|| "paper".into());
            let word = p
                .title
                .split_whitespace()
                .map(ascii_letters)
                .find(|w| {
                    w.len() > 3
                        && !matches!(
                            w.as_str(),
                            "with" | "from" | "that" | "this" | "towards" | "toward"
                        )
                })
                .unwrap_or_default();
            let base = format!(
                "{who}{}{word}",
                year(p).map(|y| y.to_string()).unwrap_or_default()
            );
            let n = seen.entry(base.clone()).or_insert(0);
            *n += 1;
            if *n == 1 {
                base
            } else {
                // 2 -> "a", 3 -> "b", ...; past "z" the number itself.
                let i = *n - 2;
                match u8::try_from(i).ok().filter(|&i| i < 26) {
                    Some(i) => format!("{base}{}", (b'a' + i) as char),
                    None => format!("{base}{n}"),
                }
            }
        })
        .collect()
}

/// A BibTeX value: special characters escaped, whitespace (line breaks included) collapsed,
/// control characters dropped.
pub fn bib_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 8);
    let mut space = false;
    for c in s.chars() {
        if c.is_whitespace() || c.is_control() {
            space = !out.is_empty();
            continue;
        }
        if space {
            out.push(' ');
            space = false;
        }
        match c {
            '\\' => out.push_str("\\textbackslash{}"),
            '{' => out.push_str("\\{"),
            '}' => out.push_str("\\}"),
            '%' | '&' | '$' | '#' | '_' => {
                out.push('\\');
                out.push(c);
            }
            '^' => out.push_str("\\^{}"),
            '~' => out.push_str("\\~{}"),
            c => out.push(c),
        }
    }
    out
}

/// A verbatim BibTeX value (DOI, URL), which biber and url.sty read as is: braces (which
/// could unbalance the entry) and whitespace dropped, nothing escaped.
fn bib_verbatim(s: &str) -> String {
    s.chars()
        .filter(|c| !matches!(c, '{' | '}') && !c.is_whitespace() && !c.is_control())
        .collect()
}

/// An author for BibTeX's `and`-separated list: braced when the name itself holds the word
/// `and` (or is a collaboration), which BibTeX would otherwise split.
fn bib_author(a: &str) -> String {
    let e = bib_escape(a);
    let lower = e.to_lowercase();
    if lower.split_whitespace().any(|w| w == "and")
        || lower.contains("collaboration")
        || lower.contains("consortium")
    {
        format!("{{{e}}}")
    } else {
        e
    }
}

const MONTHS: [&str; 12] = [
    "jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec",
];

fn bibtex_entry(out: &mut String, p: &Paper, key: &str) {
    let arxiv = is_arxiv(p);
    let kind = if p.journal_ref.is_some() {
        "article"
    } else {
        "misc"
    };
    let _ = writeln!(out, "@{kind}{{{key},");
    let mut field = |name: &str, value: String| {
        let _ = writeln!(out, "  {name:<13} = {value},");
    };
    // Double braces keep the title's capitalization (BibTeX styles lowercase otherwise).
    field("title", format!("{{{{{}}}}}", bib_escape(&p.title)));
    if !p.authors.is_empty() {
        let authors: Vec<String> = p.authors.iter().map(|a| bib_author(a)).collect();
        field("author", format!("{{{}}}", authors.join(" and ")));
    }
    if let Some(y) = year(p) {
        field("year", format!("{{{y}}}"));
    }
    if let Some(d) = p.published.or(p.updated) {
        field(
            "month",
            MONTHS[usize::from(u8::from(d.month())) - 1].to_string(),
        );
    }
    if let Some(j) = &p.journal_ref {
        field("journal", format!("{{{}}}", bib_escape(j)));
    }
    if arxiv {
        field("eprint", format!("{{{}}}", bib_escape(p.id.as_str())));
        field("archivePrefix", "{arXiv}".into());
        if let Some(c) = p.primary_category() {
            field("primaryClass", format!("{{{}}}", bib_escape(c)));
        }
    }
    // DOIs and URLs are verbatim fields in biblatex and url.sty: an escape such as `\_`
    // would be printed as is.
    if let Some(doi) = &p.doi {
        field("doi", format!("{{{}}}", bib_verbatim(doi)));
    }
    if let Some(url) = p.url.as_deref().and_then(crate::normalize::web_url) {
        field("url", format!("{{{}}}", bib_verbatim(&url)));
    }
    if !p.categories.is_empty() {
        field(
            "keywords",
            format!("{{{}}}", bib_escape(&p.categories.join(", "))),
        );
    }
    if let Some(c) = &p.comment {
        field("note", format!("{{{}}}", bib_escape(c)));
    }
    if !p.abstract_text.is_empty() {
        field("abstract", format!("{{{}}}", bib_escape(&p.abstract_text)));
    }
    out.push_str("}\n\n");
}

/// One RIS value: on one line, control characters dropped.
fn ris_value(s: &str) -> String {
    s.split(|c: char| c.is_whitespace() || c.is_control())
        .filter(|w| !w.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
}

fn ris_entry(out: &mut String, p: &Paper, key: &str) {
    let mut tag = |t: &str, v: &str| {
        let v = ris_value(v);
        if !v.is_empty() {
            let _ = writeln!(out, "{t}  - {v}");
        }
    };
    tag(
        "TY",
        if p.journal_ref.is_some() {
            "JOUR"
        } else {
            "UNPB"
        },
    );
    tag("ID", key);
    tag("TI", &p.title);
    for a in &p.authors {
        tag("AU", a);
    }
    if let Some(y) = year(p) {
        tag("PY", &y.to_string());
    }
    if let Some(d) = p.published.or(p.updated) {
        tag("DA", &format_date(d).replace('-', "/"));
    }
    if let Some(j) = &p.journal_ref {
        tag("JO", j);
    }
    if let Some(doi) = &p.doi {
        tag("DO", doi);
    }
    if let Some(url) = p.url.as_deref().and_then(crate::normalize::web_url) {
        tag("UR", &url);
    }
    for c in &p.categories {
        tag("KW", c);
    }
    if is_arxiv(p) {
        let class = p
            .primary_category()
            .map(|c| format!(" [{c}]"))
            .unwrap_or_default();
        tag("N1", &format!("arXiv:{}v{}{class}", p.id, p.version.max(1)));
    }
    if let Some(c) = &p.comment {
        tag("N1", c);
    }
    tag("AB", &p.abstract_text);
    out.push_str("ER  - \n\n");
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::paper::{parse_date, PaperId};

    fn paper(id: &str, title: &str, authors: &[&str]) -> Paper {
        let mut p = Paper::new(PaperId::new(id), title, "An abstract with 50% more & less.");
        p.authors = authors.iter().map(|a| a.to_string()).collect();
        p.source = "arxiv".into();
        p.categories = vec!["cs.CL".into(), "cs.AI".into()];
        p.published = parse_date("2026-06-16");
        p.url = Some(format!("https://arxiv.org/abs/{id}"));
        p
    }

    #[test]
    fn keys_are_ascii_and_unique() {
        let a = paper(
            "2606.00001",
            "Streaming Large Language Models",
            &["Zoë Müller"],
        );
        let b = paper(
            "2606.00002",
            "Streaming large language models",
            &["Z. Muller"],
        );
        let c = paper("2606.00003", "A", &[]);
        assert_eq!(
            citation_keys(&[a, b, c]),
            ["muller2026streaming", "muller2026streaminga", "paper2026"]
        );
    }

    #[test]
    fn special_characters_are_escaped() {
        assert_eq!(
            bib_escape("{Braces} 100% R&D $x_1^2$ #1 ~a \\cmd\nnext"),
            "\\{Braces\\} 100\\% R\\&D \\$x\\_1\\^{}2\\$ \\#1 \\~{}a \\textbackslash{}cmd next"
        );
        assert_eq!(bib_author("Barack and Michelle"), "{Barack and Michelle}");
        assert_eq!(bib_author("ATLAS Collaboration"), "{ATLAS Collaboration}");
        assert_eq!(bib_author("Anders Andersen"), "Anders Andersen");
    }

    #[test]
    fn an_arxiv_preprint_in_both_formats() {
        let mut p = paper(
            "2606.00001",
            "Streaming {LLMs}: a 100% survey",
            &["Junlong Tong", "Xiaoyu Shen"],
        );
        p.comment = Some("Accepted by ACL 2026".into());
        let bib = export(std::slice::from_ref(&p), ExportFormat::Bibtex);
        assert!(bib.starts_with("@misc{tong2026streaming,\n"), "{bib}");
        for line in [
            "  title         = {{Streaming \\{LLMs\\}: a 100\\% survey}},",
            "  author        = {Junlong Tong and Xiaoyu Shen},",
            "  year          = {2026},",
            "  month         = jun,",
            "  eprint        = {2606.00001},",
            "  archivePrefix = {arXiv},",
            "  primaryClass  = {cs.CL},",
            "  url           = {https://arxiv.org/abs/2606.00001},",
            "  keywords      = {cs.CL, cs.AI},",
            "  note          = {Accepted by ACL 2026},",
            "  abstract      = {An abstract with 50\\% more \\& less.},",
        ] {
            assert!(bib.contains(line), "{line} not in\n{bib}");
        }
        let ris = export(std::slice::from_ref(&p), ExportFormat::Ris);
        assert!(
            ris.starts_with("TY  - UNPB\nID  - tong2026streaming\n"),
            "{ris}"
        );
        for line in [
            "TI  - Streaming {LLMs}: a 100% survey",
            "AU  - Junlong Tong",
            "AU  - Xiaoyu Shen",
            "PY  - 2026",
            "DA  - 2026/06/16",
            "N1  - arXiv:2606.00001v1 [cs.CL]",
            "KW  - cs.AI",
            "ER  - ",
        ] {
            assert!(ris.lines().any(|l| l == line), "{line} not in\n{ris}");
        }
        p.journal_ref = Some("Nature 1, 2 (2026)".into());
        p.doi = Some("10.1038/x_y".into());
        let bib = export(std::slice::from_ref(&p), ExportFormat::Bibtex);
        assert!(bib.starts_with("@article{"), "{bib}");
        assert!(bib.contains("doi           = {10.1038/x_y},"), "{bib}");
        assert!(export(&[p], ExportFormat::Ris).starts_with("TY  - JOUR\n"));
        assert_eq!("BIB".parse::<ExportFormat>(), Ok(ExportFormat::Bibtex));
        assert!("csv".parse::<ExportFormat>().is_err());
    }
}
