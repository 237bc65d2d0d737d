//! Pure text normalization: raw source fields -> clean display text and canonical ids.
//!
//! No I/O here. Every function is total: any input string gives an output, never a panic.

use crate::paper::{Paper, PaperId};

/// Splits an arXiv identifier into its canonical id (no version) and its version, if any.
///
/// Accepts `2401.01234v2`, `arXiv:2401.01234`, `http://arxiv.org/abs/2401.01234v3`,
/// `oai:arXiv.org:2401.01234v1` and old-style ids such as `astro-ph/0601001v1`.
pub fn canonical_arxiv_id(raw: &str) -> (String, Option<u64>) {
    let mut s = raw.trim();
    for prefix in ["oai:arXiv.org:", "arXiv:", "arxiv:"] {
        if let Some(rest) = s.strip_prefix(prefix) {
            s = rest;
        }
    }
    if let Some(pos) = s.find("/abs/").or_else(|| s.find("/pdf/")) {
        s = &s[pos + 5..];
    }
    let s = s.trim_end_matches('/').trim_end_matches(".pdf");
    if let Some(vpos) = s.rfind('v') {
        let (head, tail) = (&s[..vpos], &s[vpos + 1..]);
        if !head.is_empty()
            && head.ends_with(|c: char| c.is_ascii_digit())
            && !tail.is_empty()
            && tail.bytes().all(|b| b.is_ascii_digit())
        {
            return (head.to_string(), tail.parse().ok());
        }
    }
    (s.to_string(), None)
}

/// `raw` as a paper link when it is an absolute `http`/`https` URL with a host, in its
/// canonical form (as a browser would resolve it: `HTTPS:/x.org` is `https://x.org/`); `None`
/// for anything else (`javascript:`, `data:`, relative paths, text), which is never stored or
/// shown as a link.
pub fn web_url(raw: &str) -> Option<String> {
    let u = url::Url::parse(raw.trim()).ok()?;
    (matches!(u.scheme(), "http" | "https") && u.host_str().is_some_and(|h| !h.is_empty()))
        .then(|| u.to_string())
}

/// Escapes text for HTML.
pub fn html_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    push_html_escaped(s, &mut out);
    out
}

/// Appends `s` to `out`, escaped for HTML.
pub fn push_html_escaped(s: &str, out: &mut String) {
    // The five specials are ASCII: the text between them is copied as is, on char boundaries.
    let mut copied = 0;
    for (i, b) in s.bytes().enumerate() {
        let entity = match b {
            b'<' => "&lt;",
            b'>' => "&gt;",
            b'&' => "&amp;",
            b'"' => "&quot;",
            b'\'' => "&#39;",
            _ => continue,
        };
        out.push_str(&s[copied..i]);
        out.push_str(entity);
        copied = i + 1;
    }
    out.push_str(&s[copied..]);
}

/// Collapses all runs of whitespace (including arXiv's hard line breaks) into single spaces;
/// control characters (NUL, escape sequences' ESC, DEL) count as whitespace, so none reaches
/// a stored paper, a terminal or a page.
pub fn collapse_whitespace(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for word in s
        .split(|c: char| c.is_whitespace() || c.is_control())
        .filter(|w| !w.is_empty())
    {
        if !out.is_empty() {
            out.push(' ');
        }
        out.push_str(word);
    }
    out
}

/// Cleans arXiv-style text for display and returns `(display, extra_search_words)`.
///
/// Line breaks are joined, `$...$` delimiters dropped, common LaTeX commands rendered
/// (`\alpha` -> `α`, `\emph{x}` -> `x`, `\"o` -> `ö`). Words that rendering removed (such as
/// `alpha`) are returned separately so the index can keep them searchable.
pub fn clean_latex(raw: &str) -> (String, String) {
    let text = collapse_whitespace(raw);
    if !text.contains(['\\', '$', '{', '~']) {
        return (text, String::new());
    }
    let mut out = String::with_capacity(text.len());
    let mut extra: Vec<String> = Vec::new();
    let chars: Vec<char> = text.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        match c {
            '$' => {
                i += 1;
            }
            '~' => {
                out.push(' ');
                i += 1;
            }
            '{' | '}' => {
                i += 1;
            }
            '\\' => {
                i += 1;
                let Some(&next) = chars.get(i) else {
                    break;
                };
                if next.is_ascii_alphabetic() {
                    let start = i;
                    while i < chars.len() && chars[i].is_ascii_alphabetic() {
                        i += 1;
                    }
                    let name: String = chars[start..i].iter().collect();
                    let known = latex_symbol(&name).is_some() || is_font_command(&name);
                    if let Some(sym) = latex_symbol(&name) {
                        out.push_str(sym);
                        extra.push(name);
                    } else if !known {
                        // Unknown command: keep its name as text so nothing is lost.
                        out.push_str(&name);
                    }
                    // A control word swallows one following space in LaTeX.
                    if chars.get(i) == Some(&' ') && out.ends_with(|ch: char| !ch.is_whitespace()) {
                        if !known {
                            out.push(' ');
                        }
                        i += 1;
                    }
                } else if let Some(accented) = accent(next, chars.get(i + 1..).unwrap_or(&[])) {
                    let (ch, used) = accented;
                    out.push(ch);
                    i += 1 + used;
                } else {
                    // `\%`, `\&`, `\_`, `\\`, `\ ` ...
                    out.push(match next {
                        '\\' => ' ',
                        other => other,
                    });
                    i += 1;
                }
            }
            _ => {
                out.push(c);
                i += 1;
            }
        }
    }
    (collapse_whitespace(&out), extra.join(" "))
}

fn is_font_command(name: &str) -> bool {
    matches!(
        name,
        "emph"
            | "textit"
            | "textbf"
            | "textrm"
            | "texttt"
            | "textsc"
            | "textsf"
            | "mathrm"
            | "mathbf"
            | "mathit"
            | "mathcal"
            | "mathbb"
            | "mathsf"
            | "mathfrak"
            | "boldsymbol"
            | "bm"
            | "it"
            | "bf"
            | "rm"
            | "tt"
            | "sc"
            | "em"
            | "text"
            | "mbox"
            | "operatorname"
            | "left"
            | "right"
            | "big"
            | "Big"
            | "displaystyle"
    )
}

fn latex_symbol(name: &str) -> Option<&'static str> {
    Some(match name {
        "alpha" => "α",
        "beta" => "β",
        "gamma" => "γ",
        "Gamma" => "Γ",
        "delta" => "δ",
        "Delta" => "Δ",
        "epsilon" | "varepsilon" => "ε",
        "zeta" => "ζ",
        "eta" => "η",
        "theta" | "vartheta" => "θ",
        "Theta" => "Θ",
        "iota" => "ι",
        "kappa" => "κ",
        "lambda" => "λ",
        "Lambda" => "Λ",
        "mu" => "μ",
        "nu" => "ν",
        "xi" => "ξ",
        "Xi" => "Ξ",
        "pi" => "π",
        "Pi" => "Π",
        "rho" | "varrho" => "ρ",
        "sigma" => "σ",
        "Sigma" => "Σ",
        "tau" => "τ",
        "upsilon" => "υ",
        "phi" | "varphi" => "φ",
        "Phi" => "Φ",
        "chi" => "χ",
        "psi" => "ψ",
        "Psi" => "Ψ",
        "omega" => "ω",
        "Omega" => "Ω",
        "ell" => "ℓ",
        "infty" => "∞",
        "partial" => "∂",
        "nabla" => "∇",
        "sim" => "∼",
        "simeq" | "approx" => "≈",
        "leq" | "le" => "≤",
        "geq" | "ge" => "≥",
        "neq" | "ne" => "≠",
        "ll" => "≪",
        "gg" => "≫",
        "times" => "×",
        "cdot" => "·",
        "pm" => "±",
        "mp" => "∓",
        "to" | "rightarrow" => "→",
        "leftarrow" => "←",
        "Rightarrow" => "⇒",
        "in" => "∈",
        "subset" => "⊂",
        "subseteq" => "⊆",
        "cup" => "∪",
        "cap" => "∩",
        "sum" => "∑",
        "prod" => "∏",
        "int" => "∫",
        "sqrt" => "√",
        "propto" => "∝",
        "circ" => "∘",
        "dagger" => "†",
        "hbar" => "ℏ",
        "langle" => "⟨",
        "rangle" => "⟩",
        "log" => "log",
        "exp" => "exp",
        "ln" => "ln",
        "sin" => "sin",
        "cos" => "cos",
        "max" => "max",
        "min" => "min",
        _ => return None,
    })
}

/// `\'e`, `\"o`, `\^a`, `` \`a ``, `\~n`, with or without braces around the letter.
fn accent(mark: char, rest: &[char]) -> Option<(char, usize)> {
    if !matches!(mark, '\'' | '"' | '^' | '`' | '~' | 'c') {
        return None;
    }
    let (letter, used) = match rest {
        ['{', l, '}', ..] => (*l, 3),
        [l, ..] if l.is_ascii_alphabetic() => (*l, 1),
        _ => return None,
    };
    let table: &[(char, char)] = match mark {
        '\'' => &[
            ('a', 'á'),
            ('e', 'é'),
            ('i', 'í'),
            ('o', 'ó'),
            ('u', 'ú'),
            ('E', 'É'),
        ],
        '"' => &[
            ('a', 'ä'),
            ('e', 'ë'),
            ('i', 'ï'),
            ('o', 'ö'),
            ('u', 'ü'),
            ('A', 'Ä'),
            ('O', 'Ö'),
            ('U', 'Ü'),
        ],
        '^' => &[('a', 'â'), ('e', 'ê'), ('i', 'î'), ('o', 'ô'), ('u', 'û')],
        '`' => &[('a', 'à'), ('e', 'è'), ('i', 'ì'), ('o', 'ò'), ('u', 'ù')],
        '~' => &[('n', 'ñ'), ('a', 'ã'), ('o', 'õ')],
        _ => &[('c', 'ç')],
    };
    let ch = table
        .iter()
        .find(|(l, _)| *l == letter)
        .map(|(_, c)| *c)
        .unwrap_or(letter);
    Some((ch, used))
}

/// An arXiv paper of id `id` from raw title and abstract text: display text cleaned of LaTeX
/// with the removed command words kept for search, source `arxiv`, its abstract page as url.
pub fn arxiv_paper(id: &str, version: Option<u64>, title: &str, abs: &str) -> Paper {
    let (title, title_extra) = clean_latex(title);
    let (abstract_text, abs_extra) = clean_latex(abs);
    let mut p = Paper::new(PaperId::new(id), title, abstract_text);
    p.version = version.unwrap_or(1);
    p.search_extra = join_words([title_extra, abs_extra]);
    p.source = "arxiv".into();
    p.url = Some(format!("https://arxiv.org/abs/{id}"));
    p
}

/// The non-empty parts joined by single spaces (the search extras of a title and an abstract).
pub fn join_words<const N: usize>(parts: [String; N]) -> String {
    parts
        .into_iter()
        .filter(|s| !s.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
}

/// True for arXiv taxonomy codes (`cs.CL`, `hep-th`, `cond-mat.mes-hall`), false for MSC/ACM
/// class codes that some records carry in the same list (`68T45, 62H30`, `I.5.3; I.2.10`).
pub fn is_arxiv_category(c: &str) -> bool {
    let (archive, subject) = match c.split_once('.') {
        Some((a, s)) => (a, Some(s)),
        None => (c, None),
    };
    let archive_ok = archive.starts_with(|ch: char| ch.is_ascii_lowercase())
        && archive
            .chars()
            .all(|ch| ch.is_ascii_lowercase() || ch == '-');
    let subject_ok = subject.is_none_or(|s| {
        s.starts_with(|ch: char| ch.is_ascii_alphabetic())
            && s.chars().all(|ch| ch.is_ascii_alphabetic() || ch == '-')
    });
    archive_ok && subject_ok
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_http_links_are_paper_urls() {
        for (raw, stored) in [
            (
                "https://arxiv.org/abs/2606.00001",
                "https://arxiv.org/abs/2606.00001",
            ),
            (
                " http://www.biorxiv.org/content/10.1101/x ",
                "http://www.biorxiv.org/content/10.1101/x",
            ),
            ("HTTPS://doi.org/10.1/x", "https://doi.org/10.1/x"),
            // Found by the paper_body fuzz target: a browser reads one slash as two.
            (
                "https:/+arxiv.org/sa60/62b.00001",
                "https://+arxiv.org/sa60/62b.00001",
            ),
        ] {
            assert_eq!(web_url(raw).as_deref(), Some(stored), "{raw}");
        }
        for bad in [
            "javascript:alert(1)",
            "JavaScript:alert(1)",
            " javascript:alert(1)",
            "data:text/html,<script>",
            "/abs/2606.00001",
            "arxiv.org/abs/1",
            "ftp://x.org/a",
            "http://",
            "",
            "vbscript:x",
        ] {
            assert_eq!(web_url(bad), None, "{bad}");
        }
    }

    #[test]
    fn join_words_skips_empty_parts() {
        assert_eq!(join_words(["alpha".into(), String::new()]), "alpha");
        assert_eq!(join_words(["a b".into(), "c".into()]), "a b c");
        assert_eq!(join_words([String::new(), String::new()]), "");
    }

    #[test]
    fn arxiv_categories_filter_class_codes() {
        for ok in [
            "cs.CL",
            "hep-th",
            "cond-mat.mes-hall",
            "q-bio.NC",
            "astro-ph",
        ] {
            assert!(is_arxiv_category(ok), "{ok}");
        }
        for bad in ["68T45, 62H30", "I.5.3; I.2.10", "", "CS", "cs.", "62H30"] {
            assert!(!is_arxiv_category(bad), "{bad}");
        }
    }

    #[test]
    fn arxiv_ids() {
        assert_eq!(
            canonical_arxiv_id("http://arxiv.org/abs/2401.01234v3"),
            ("2401.01234".into(), Some(3))
        );
        assert_eq!(
            canonical_arxiv_id("oai:arXiv.org:2606.12345v1"),
            ("2606.12345".into(), Some(1))
        );
        assert_eq!(
            canonical_arxiv_id("arXiv:1804.06498"),
            ("1804.06498".into(), None)
        );
        assert_eq!(
            canonical_arxiv_id("http://arxiv.org/abs/astro-ph/0601001v1"),
            ("astro-ph/0601001".into(), Some(1))
        );
        assert_eq!(
            canonical_arxiv_id("solv-int/9901001"),
            ("solv-int/9901001".into(), None)
        );
        assert_eq!(canonical_arxiv_id(""), (String::new(), None));
        assert_eq!(canonical_arxiv_id("v2"), ("v2".into(), None));
    }

    #[test]
    fn latex_is_rendered_and_kept_searchable() {
        let (display, extra) = clean_latex(
            "We bound the\nerror by $O(\\epsilon^{2})$ for\n\\emph{all} $\\alpha\\geq 1$.",
        );
        assert_eq!(display, "We bound the error by O(ε^2) for all α≥1.");
        assert_eq!(extra, "epsilon alpha geq");
    }

    #[test]
    fn accents_and_escapes() {
        let (display, _) = clean_latex("Schr\\\"odinger and Erd\\H{o}s, 50\\% \\& more");
        assert_eq!(display, "Schrödinger and ErdHos, 50% & more");
        let (display, _) = clean_latex("caf\\'{e} na\\\"ive");
        assert_eq!(display, "café naïve");
    }

    #[test]
    fn never_panics_on_odd_input() {
        for s in [
            "\\",
            "$",
            "\\'",
            "{\\",
            "中文 $\\alpha$ 测试",
            "\\\"{",
            "~~~",
            "\\c",
        ] {
            let _ = clean_latex(s);
        }
        let (display, _) = clean_latex("中文 $\\alpha$ 测试");
        assert_eq!(display, "中文 α 测试");
    }
}
