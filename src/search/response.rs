//! What a search returns: ranked hits with their papers, snippets and how each leg ranked them,
//! the total, the mode actually used, warnings and facets.

use std::ops::Range;

use serde::Serialize;
use tantivy::Score;

use super::facets::Facets;
use super::request::Mode;
use crate::paper::Paper;

/// How a hit got into the results.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Sources {
    /// 1-based rank in the BM25 list, if the paper was in it.
    pub bm25_rank: Option<usize>,
    pub bm25_score: Option<Score>,
    /// 1-based rank in the dense list, if the paper was in it.
    pub dense_rank: Option<usize>,
    pub dense_score: Option<Score>,
    /// 1-based rank in the dense-feedback BM25 list (hybrid, low-coverage queries only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub feedback_rank: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub feedback_score: Option<Score>,
    /// The fused score (hybrid mode only).
    pub fused_score: Option<Score>,
    /// The English the BM25 leg searched for the query's Chinese words, when it was
    /// translated (`"reinforce learn"` for 强化学习).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub translation: Option<String>,
}

/// Text with highlighted byte ranges (always on UTF-8 boundaries).
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Snippet {
    pub text: String,
    pub highlights: Vec<Range<usize>>,
}

impl Snippet {
    /// Renders the snippet with `open`/`close` around highlights and `escape` appending each
    /// piece of text to the output (an HTML escaper for the API, a plain copy for a terminal).
    pub fn render(&self, open: &str, close: &str, escape: fn(&str, &mut String)) -> String {
        let mut out = String::with_capacity(self.text.len() + 16);
        let mut at = 0;
        for r in &self.highlights {
            if r.start < at || r.end > self.text.len() {
                continue;
            }
            escape(&self.text[at..r.start], &mut out);
            out.push_str(open);
            escape(&self.text[r.clone()], &mut out);
            out.push_str(close);
            at = r.end;
        }
        escape(&self.text[at..], &mut out);
        out
    }
}

/// One ranked paper.
#[derive(Debug, Clone, Serialize)]
pub struct Hit {
    /// 1-based rank in the whole result list (offset included).
    pub rank: usize,
    pub score: Score,
    #[serde(flatten)]
    pub paper: Paper,
    pub title_snippet: Snippet,
    pub abstract_snippet: Snippet,
    pub sources: Sources,
}

/// A page of results.
#[derive(Debug, Clone, Serialize)]
pub struct SearchResults {
    pub hits: Vec<Hit>,
    /// Papers matching the query and filters (dense: papers with a vector passing the filters;
    /// hybrid: the larger of the BM25 matches and the fused candidates).
    pub total: usize,
    /// The mode actually used (hybrid falls back to bm25 when the query could not be embedded).
    pub mode: Mode,
    /// Dense and hybrid: papers passing the filters that have a vector, i.e. that could be
    /// ranked by meaning (papers still waiting for the background embedder are found by BM25
    /// only). `None` in bm25 mode.
    pub ranked_by_meaning: Option<usize>,
    /// Problems found in the query (the search still ran on what could be used).
    pub warnings: Vec<String>,
    /// The English the BM25 leg searched for the query's Chinese words, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub translation: Option<String>,
    /// Counts by source and primary category, when the request asked for them.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub facets: Option<Facets>,
}

#[cfg(test)]
mod tests {
    use super::Snippet;

    #[test]
    fn render_wraps_highlights_escapes_every_piece_and_skips_bad_ranges() {
        let snippet = Snippet {
            text: "a<b & c> \"d\" e".to_string(),
            highlights: vec![2..3, 6..7, 10..11],
        };
        assert_eq!(
            snippet.render("[", "]", |s, out| out.push_str(s)),
            "a<[b] & [c]> \"[d]\" e"
        );
        let upper: fn(&str, &mut String) = |s, out| out.push_str(&s.to_uppercase());
        assert_eq!(snippet.render("(", ")", upper), "A<(B) & (C)> \"(D)\" E");
        // Overlapping and out-of-range highlights are skipped, not a panic.
        let bad = Snippet {
            text: "abcdef".to_string(),
            highlights: vec![0..3, 1..2, 4..9],
        };
        assert_eq!(bad.render("[", "]", |s, out| out.push_str(s)), "[abc]def");
    }
}
