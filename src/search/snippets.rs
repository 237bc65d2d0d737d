//! Highlighted snippets of a result page: the query's text terms weighted by rarity, the whole
//! title highlighted when it fits, the abstract's best fragment (or its opening).

use std::collections::{BTreeMap, HashMap, HashSet};

use tantivy::query::Query;
use tantivy::{Score, Searcher, Term};

use super::error::QueryError;
use super::highlight::Highlighter;
use super::response::{Hit, Snippet, Sources};
use crate::index::PaperIndex;
use crate::paper::Paper;

/// For each analyzed term highlighted in `hits`' titles and abstracts, the spelling (lowercased)
/// its highlights use most often; ties go to the shorter, then the first in order. What a
/// translation's words are shown as ([`super::translate::Translation::respelled`]).
pub fn spellings(hits: &[Hit]) -> HashMap<String, String> {
    let mut counts: HashMap<String, BTreeMap<String, usize>> = HashMap::new();
    for snippet in hits
        .iter()
        .flat_map(|h| [&h.title_snippet, &h.abstract_snippet])
    {
        for range in &snippet.highlights {
            let Some(word) = snippet.text.get(range.clone()) else {
                continue;
            };
            if let Some(term) = crate::analysis::normalize_word(word) {
                *counts
                    .entry(term)
                    .or_default()
                    .entry(word.to_lowercase())
                    .or_default() += 1;
            }
        }
    }
    counts
        .into_iter()
        .filter_map(|(term, seen)| {
            let best = seen
                .into_iter()
                .max_by(|(a, n), (b, m)| n.cmp(m).then(b.len().cmp(&a.len())).then(b.cmp(a)))?;
            Some((term, best.0))
        })
        .collect()
}

/// Length of the abstract snippet, in characters.
pub const SNIPPET_CHARS: usize = 240;

/// Longest title fragment, in bytes (a title longer than this is shown without highlights).
const TITLE_BYTES: usize = 1000;

/// The snippet makers of one query: titles and abstracts.
pub struct Snippets {
    title: Highlighter,
    abstract_text: Highlighter,
}

impl Snippets {
    /// Highlighters for the text terms of `query`, each weighted `1 / (1 + df)` (terms that
    /// occur in no paper are not highlighted).
    pub fn new(
        index: &PaperIndex,
        searcher: &Searcher,
        query: &dyn Query,
    ) -> Result<Snippets, QueryError> {
        let f = index.fields();
        let text_fields: HashSet<_> = [f.text, f.title, f.abstract_text].into_iter().collect();
        let mut terms: Vec<Term> = Vec::new();
        query.query_terms(&mut |term, _| {
            if text_fields.contains(&term.field()) {
                terms.push(term.clone());
            }
        });
        let mut weights: BTreeMap<String, Score> = BTreeMap::new();
        for term in terms {
            let value = term.value();
            let Some(text) = value.as_str() else {
                continue;
            };
            let df = searcher.doc_freq(&Term::from_field_text(f.text, text))?;
            if df > 0 {
                weights.insert(text.to_string(), 1.0 / (1.0 + df as Score));
            }
        }
        Ok(Snippets {
            title: Highlighter::new(weights.clone(), TITLE_BYTES),
            abstract_text: Highlighter::new(weights, SNIPPET_CHARS),
        })
    }

    /// Highlighters for analyzed terms with their weights (the Milvus backend's snippets).
    pub fn from_weights(weights: BTreeMap<String, Score>) -> Snippets {
        Snippets {
            title: Highlighter::new(weights.clone(), TITLE_BYTES),
            abstract_text: Highlighter::new(weights, SNIPPET_CHARS),
        }
    }

    /// The whole title, highlighted when the whole title fits in one fragment.
    /// The hit of `paper` at `rank`, its snippets made with `snippets` when there are any
    /// (a page without snippets: an export, a briefing's candidates). Both backends build
    /// their pages with it.
    pub fn hit(
        snippets: Option<&Snippets>,
        rank: usize,
        score: Score,
        paper: Paper,
        sources: Sources,
    ) -> Hit {
        let (title_snippet, abstract_snippet) = match snippets {
            Some(s) => (s.title(&paper.title), s.abstract_text(&paper.abstract_text)),
            None => (Snippet::default(), Snippet::default()),
        };
        Hit {
            rank,
            score,
            paper,
            title_snippet,
            abstract_snippet,
            sources,
        }
    }

    pub fn title(&self, title: &str) -> Snippet {
        match self.title.fragment(title) {
            Some(f) if f.range.len() == title.len() => Snippet {
                text: title.to_string(),
                highlights: f.highlights,
            },
            _ => Snippet {
                text: title.to_string(),
                highlights: Vec::new(),
            },
        }
    }

    /// The abstract's best fragment; its opening when no query word occurs in it.
    pub fn abstract_text(&self, text: &str) -> Snippet {
        if let Some(f) = self.abstract_text.fragment(text) {
            if !f.range.is_empty() {
                return Snippet {
                    text: text[f.range].to_string(),
                    highlights: f.highlights,
                };
            }
        }
        Snippet {
            text: opening(text, SNIPPET_CHARS).to_string(),
            highlights: Vec::new(),
        }
    }
}

/// The first `chars` characters of `text`, cut on a character boundary.
pub fn opening(text: &str, chars: usize) -> &str {
    let end = text
        .char_indices()
        .nth(chars)
        .map(|(i, _)| i)
        .unwrap_or(text.len());
    &text[..end]
}

#[cfg(test)]
mod tests {
    use super::opening;

    #[test]
    fn opening_cuts_on_character_boundaries() {
        assert_eq!(opening("大语言模型", 2), "大语");
        assert_eq!(opening("short", 240), "short");
        assert_eq!(opening("", 3), "");
    }
}
