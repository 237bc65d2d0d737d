//! HTML escaping of text the API returns as markup (highlighted snippets, titles).

use crate::search::Snippet;

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

/// A snippet as escaped HTML with `<mark>` around its highlights.
pub fn marked(snippet: &Snippet) -> String {
    snippet.render("<mark>", "</mark>", push_html_escaped)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn html_escape_replaces_the_five_specials_and_keeps_everything_else() {
        for (raw, want) in [
            ("", ""),
            ("plain text, no specials", "plain text, no specials"),
            (
                "<b>\"quoted\" & 'single'</b>",
                "&lt;b&gt;&quot;quoted&quot; &amp; &#39;single&#39;&lt;/b&gt;",
            ),
            ("é<ü>模型&", "é&lt;ü&gt;模型&amp;"),
            ("&&", "&amp;&amp;"),
            ("x < y", "x &lt; y"),
        ] {
            assert_eq!(html_escape(raw), want, "{raw:?}");
        }
    }

    #[test]
    fn marked_escapes_text_and_highlights_and_wraps_the_highlights() {
        let text = "a<b & c> \"d\" e".to_string();
        let marks = marked(&Snippet {
            text,
            highlights: vec![2..3, 6..7, 10..11],
        });
        let want = "a&lt;<mark>b</mark> &amp; <mark>c</mark>&gt; &quot;<mark>d</mark>&quot; e";
        assert_eq!(marks, want);
    }
}
