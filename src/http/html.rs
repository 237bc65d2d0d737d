//! HTML escaping of text the API returns as markup (highlighted snippets, titles).

pub use crate::normalize::{html_escape, push_html_escaped};
use crate::search::Snippet;

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
