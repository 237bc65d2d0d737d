//! Pure helpers shared by the feed parsers: dates in feed formats, DOIs, HTML stripping and the
//! abstract length cap. No I/O.

use time::Date;

use crate::paper::parse_date;

/// Parses the dates feeds use: RFC 3339 / ISO (`2022-02-24T15:05:19Z`, `2023-12-16`) and
/// RFC 2822 (`Tue, 16 Jun 2026 00:00:00 -0400`). The calendar day is taken as written (the
/// announcement day in the feed's time zone). `None` for impossible or unknown dates.
pub fn parse_feed_date(s: &str) -> Option<Date> {
    let s = s.trim();
    if s.is_empty() {
        return None;
    }
    if s.as_bytes().first().is_some_and(u8::is_ascii_digit) && s.len() >= 10 {
        return parse_date(s);
    }
    let fmt = time::format_description::well_known::Rfc2822;
    time::OffsetDateTime::parse(s, &fmt)
        .ok()
        .map(|t| t.date())
        .filter(|d| crate::paper::date_in_range(*d))
}

/// Extracts a DOI (`10.<registrant>/<suffix>`) from `doi:10...`, `https://doi.org/10...`,
/// `info:doi/10...` or a bare DOI, lowercased (DOIs are case-insensitive). Any registrant
/// prefix is accepted (bioRxiv uses 10.1101 and 10.64898).
pub fn extract_doi(s: &str) -> Option<String> {
    let s = s.trim();
    let start = s.find("10.")?;
    let rest = &s[start..];
    let (registrant, suffix) = rest.split_once('/')?;
    if registrant.len() < 4
        || !registrant[3..]
            .bytes()
            .all(|b| b.is_ascii_digit() || b == b'.')
    {
        return None;
    }
    let suffix: &str = suffix
        .split(|c: char| c.is_whitespace() || c == '?' || c == '#' || c == '"' || c == '<')
        .next()
        .unwrap_or("");
    let suffix = suffix.trim_end_matches(['.', ',', ';', ')']);
    if suffix.is_empty() {
        return None;
    }
    Some(format!("{registrant}/{suffix}").to_lowercase())
}

/// Removes HTML tags and decodes the common entities (journal feeds put HTML in descriptions).
pub fn strip_html(s: &str) -> String {
    if !s.contains('<') && !s.contains('&') {
        return s.to_string();
    }
    let mut out = String::with_capacity(s.len());
    let mut in_tag = false;
    for c in s.chars() {
        match c {
            '<' => {
                in_tag = true;
                out.push(' ');
            }
            '>' if in_tag => in_tag = false,
            _ if !in_tag => out.push(c),
            _ => {}
        }
    }
    decode_entities(&out)
}

fn decode_entities(s: &str) -> String {
    if !s.contains('&') {
        return s.to_string();
    }
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(pos) = rest.find('&') {
        out.push_str(&rest[..pos]);
        let after = &rest[pos..];
        let end = after.find(';').filter(|&e| e <= 10);
        let decoded = end.and_then(|e| {
            let name = &after[1..e];
            let c = match name {
                "amp" => Some('&'),
                "lt" => Some('<'),
                "gt" => Some('>'),
                "quot" => Some('"'),
                "apos" | "#39" => Some('\''),
                "nbsp" => Some(' '),
                n if n.starts_with("#x") || n.starts_with("#X") => u32::from_str_radix(&n[2..], 16)
                    .ok()
                    .and_then(char::from_u32),
                n if n.starts_with('#') => n[1..].parse().ok().and_then(char::from_u32),
                _ => None,
            };
            c.map(|c| (c, e + 1))
        });
        match decoded {
            Some((c, used)) => {
                out.push(c);
                rest = &after[used..];
            }
            None => {
                out.push('&');
                rest = &after[1..];
            }
        }
    }
    out.push_str(rest);
    out
}

/// Caps `text` at `max_chars` characters, cutting at a word boundary and marking the cut with
/// `" …"`. Returns whether it was cut.
pub fn cap_chars(text: &mut String, max_chars: usize) -> bool {
    let Some((cut, _)) = text.char_indices().nth(max_chars) else {
        return false;
    };
    let head = &text[..cut];
    let cut = head
        .rfind(char::is_whitespace)
        .filter(|&w| w > cut / 2)
        .unwrap_or(cut);
    text.truncate(cut);
    text.truncate(text.trim_end().len());
    text.push_str(" …");
    true
}

/// When `bytes` is an HTML page (an error or maintenance page served instead of a feed), a
/// description naming its `<title>`.
pub fn sniff_html(bytes: &[u8]) -> Option<String> {
    let head = &bytes[..bytes.len().min(4096)];
    let text = String::from_utf8_lossy(head).to_lowercase();
    let t = text.trim_start_matches('\u{feff}').trim_start();
    if !(t.starts_with("<!doctype html") || t.starts_with("<html")) {
        return None;
    }
    let title = t
        .split_once("<title>")
        .and_then(|(_, rest)| rest.split_once("</title>"))
        .map(|(title, _)| collapse(title))
        .filter(|s| !s.is_empty());
    Some(match title {
        Some(title) => format!("got an HTML page (title {title:?}) instead of a feed"),
        None => "got an HTML page instead of a feed".into(),
    })
}

fn collapse(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn feed_dates() {
        let d = |s| parse_feed_date(s).map(crate::paper::format_date);
        assert_eq!(
            d("Tue, 16 Jun 2026 00:00:00 -0400").as_deref(),
            Some("2026-06-16")
        );
        assert_eq!(d("2022-02-24T15:05:19Z").as_deref(), Some("2022-02-24"));
        assert_eq!(d("2023-12-16").as_deref(), Some("2023-12-16"));
        assert_eq!(d("Tue, 31 Feb 2026 00:00:00 -0400"), None);
        assert_eq!(d("2026-02-30"), None);
        assert_eq!(d("yesterday"), None);
    }

    #[test]
    fn dois_from_any_spelling_and_prefix() {
        assert_eq!(
            extract_doi("doi:10.1101/2023.12.16.571984").as_deref(),
            Some("10.1101/2023.12.16.571984")
        );
        assert_eq!(
            extract_doi("https://doi.org/10.64898/2025.01.02.ABC?x=1").as_deref(),
            Some("10.64898/2025.01.02.abc")
        );
        assert_eq!(
            extract_doi("info:doi/10.1371/journal.pcbi.1011000.").as_deref(),
            Some("10.1371/journal.pcbi.1011000")
        );
        assert_eq!(extract_doi("no doi here"), None);
        assert_eq!(extract_doi("10.x/abc"), None);
    }

    #[test]
    fn html_and_caps() {
        assert_eq!(
            strip_html("<p>A &amp; B&#233; &lt;x&gt;</p>").trim(),
            "A & Bé <x>"
        );
        assert_eq!(strip_html("a & b"), "a & b");
        let mut s = "word ".repeat(10);
        assert!(cap_chars(&mut s, 12));
        assert_eq!(s, "word word …");
        let mut short = "short".to_string();
        assert!(!cap_chars(&mut short, 12));
        let mut cjk = "深度学习".repeat(10);
        assert!(cap_chars(&mut cjk, 5));
        assert!(cjk.starts_with("深度学习深"));
    }
}
