//! Query-term highlighting for result snippets.
//!
//! Same output as tantivy's `SnippetGenerator` driven by [`analysis::mixed_analyzer`] (the
//! fragment with the highest summed term weight, at most `max_bytes` long, ties to the
//! earliest; every occurrence of a query term inside it highlighted), without analysing every
//! word: a word is only lowercased and stemmed when its first two letters begin a query term
//! (English stemming rewrites endings, never the start of a word), and each thread remembers
//! the words it analysed. Re-analysing the ten abstracts of a result page word by
//! word was most of a BM25 request's cost.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::ops::Range;

use rustc_hash::FxHashMap;
use tantivy::Score;

use crate::analysis::{self, MAX_TOKEN_BYTES};

/// Distinct words whose analyzed form each thread remembers before starting over (about 1 MB;
/// only words sharing a first letter with some query's term are analysed and remembered).
const MEMO_WORDS: usize = 16_384;

thread_local! {
    /// Raw word → analyzed term (`None`: dropped), for words that needed analysing.
    static MEMO: RefCell<FxHashMap<Box<str>, Option<Box<str>>>> = RefCell::new(FxHashMap::default());
}

/// Highlights the terms of one query in any number of texts.
pub struct Highlighter {
    /// Analyzed query terms and their weights.
    weights: FxHashMap<String, Score>,
    /// `ascii_first[b]`: some term starts with the ASCII byte `b` (lowercase).
    ascii_first: [bool; 128],
    /// `ascii_pairs[a] >> b & 1`: some term starts with the ASCII bytes `a`, `b` (lowercase).
    ascii_pairs: [u128; 128],
    /// `loose_first[b]`: some term starts with the ASCII byte `b` and not with two ASCII
    /// bytes (one letter long, or a non-ASCII second char): words starting with `b` are
    /// analysed whatever their second byte.
    loose_first: [bool; 128],
    /// Byte budget of a fragment.
    max_bytes: usize,
}

/// A fragment of a text (byte range) and the highlighted ranges in it (relative to the
/// fragment, possibly overlapping where jieba's search mode emits overlapping words).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fragment {
    pub range: Range<usize>,
    pub highlights: Vec<Range<usize>>,
}

struct Candidate {
    score: Score,
    start: usize,
    stop: usize,
    highlighted: Vec<Range<usize>>,
}

impl Candidate {
    fn new(start: usize) -> Candidate {
        Candidate {
            score: 0.0,
            start,
            stop: start,
            highlighted: Vec::new(),
        }
    }
}

impl Highlighter {
    /// `weights`: analyzed term → weight (rarer terms weigh more); `max_bytes`: fragment size.
    pub fn new(weights: BTreeMap<String, Score>, max_bytes: usize) -> Highlighter {
        let mut ascii_first = [false; 128];
        let mut ascii_pairs = [0u128; 128];
        let mut loose_first = [false; 128];
        for term in weights.keys() {
            match *term.as_bytes() {
                [a, b, ..] if a.is_ascii() && b.is_ascii() => {
                    let a = usize::from(a.to_ascii_lowercase());
                    ascii_first[a] = true;
                    ascii_pairs[a] |= 1 << b.to_ascii_lowercase();
                }
                [a, ..] if a.is_ascii() => {
                    let a = usize::from(a.to_ascii_lowercase());
                    ascii_first[a] = true;
                    loose_first[a] = true;
                }
                _ => {}
            }
        }
        Highlighter {
            weights: weights.into_iter().collect(),
            ascii_first,
            ascii_pairs,
            loose_first,
            max_bytes,
        }
    }

    /// The weight of the term `word` analyzes into, or `None` when that is not a query term;
    /// `Err(())` when the analyzer drops the word altogether (too long).
    fn weight(&self, word: &str) -> Result<Option<Score>, ()> {
        if word.len() >= MAX_TOKEN_BYTES {
            return Err(());
        }
        // English stemming rewrites endings only: a word whose analyzed form is at least two
        // bytes long keeps its first two letters (lowercased), and one analysed into a single
        // letter keeps its first. So an ASCII word can only match a term sharing them.
        match *word.as_bytes() {
            [a, b, ..] if a.is_ascii() && b.is_ascii() => {
                let a = usize::from(a.to_ascii_lowercase());
                let b = b.to_ascii_lowercase();
                if !self.loose_first[a] && self.ascii_pairs[a] >> b & 1 == 0 {
                    return Ok(None);
                }
            }
            [a, ..] if a.is_ascii() && !self.ascii_first[usize::from(a.to_ascii_lowercase())] => {
                return Ok(None);
            }
            _ => {}
        }
        // The weight is looked up inside the memo, so a remembered word costs no allocation.
        Ok(MEMO.with(|memo| {
            let mut memo = memo.borrow_mut();
            if let Some(term) = memo.get(word) {
                return term.as_deref().and_then(|t| self.weights.get(t).copied());
            }
            if memo.len() >= MEMO_WORDS {
                memo.clear();
            }
            let term: Option<Box<str>> = analysis::normalize_word(word).map(Into::into);
            let weight = term.as_deref().and_then(|t| self.weights.get(t).copied());
            memo.insert(word.into(), term);
            weight
        }))
    }

    /// The best fragment of `text`, or `None` when no query term occurs in it.
    pub fn fragment(&self, text: &str) -> Option<Fragment> {
        if self.weights.is_empty() {
            return None;
        }
        let mut best: Option<Candidate> = None;
        let mut current = Candidate::new(0);
        let keep = |c: Candidate, best: &mut Option<Candidate>| {
            // Strictly higher scores win: among equal scores the earliest fragment stays.
            if c.score > 0.0 && best.as_ref().is_none_or(|b| c.score > b.score) {
                *best = Some(c);
            }
        };
        analysis::raw_words(text, |from, to, word| {
            let Ok(weight) = self.weight(word) else {
                return;
            };
            if to - current.start > self.max_bytes {
                let done = std::mem::replace(&mut current, Candidate::new(from));
                keep(done, &mut best);
            }
            current.stop = to;
            if let Some(w) = weight {
                current.score += w;
                current.highlighted.push(from..to);
            }
        });
        keep(current, &mut best);
        best.map(|c| Fragment {
            range: c.start..c.stop,
            highlights: c
                .highlighted
                .into_iter()
                .map(|r| r.start - c.start..r.end - c.start)
                .collect(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn weights(terms: &[(&str, Score)]) -> BTreeMap<String, Score> {
        terms.iter().map(|(t, w)| (t.to_string(), *w)).collect()
    }

    #[test]
    fn highlights_stemmed_forms_and_picks_the_heaviest_fragment() {
        let h = Highlighter::new(weights(&[("model", 0.5), ("languag", 1.0)]), 40);
        let text = "Models are here. Some filler text follows now. Language models, language!";
        let f = h.fragment(text).expect("a fragment");
        let frag = &text[f.range.clone()];
        assert_eq!(frag, "follows now. Language models, language");
        let marked: Vec<&str> = f.highlights.iter().map(|r| &frag[r.clone()]).collect();
        assert_eq!(marked, ["Language", "models", "language"]);
        assert_eq!(h.fragment("nothing relevant"), None);
    }

    /// The reference: tantivy's own `SnippetGenerator` with the index analyzer, on the 250
    /// real arXiv abstracts of the fixture, for every bench query plus words taken from each
    /// abstract (so that most texts match), and on Chinese text.
    #[test]
    fn same_fragments_as_tantivy_snippet_generator_on_real_abstracts() {
        use tantivy::schema::Field;
        use tantivy::snippet::SnippetGenerator;
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/fixtures/arxiv-mini.jsonl"
        );
        let raw = std::fs::read_to_string(path).expect("fixture");
        let mut texts: Vec<String> = Vec::new();
        for line in raw.lines() {
            let v: serde_json::Value = serde_json::from_str(line).expect("json line");
            for key in ["title", "abstract"] {
                texts.push(v[key].as_str().unwrap_or_default().to_string());
            }
        }
        texts.push("我们提出一种新的大语言模型,用于机器翻译。Large 语言模型 models.".into());
        let mut queries: Vec<String> = [
            "large language models",
            "graph neural network",
            "diffusion model image generation",
            "how do speech tokens affect LLM reasoning",
            "大语言模型 translation",
            "studies of the early universe",
        ]
        .iter()
        .map(|q| q.to_string())
        .collect();
        for t in texts.iter().step_by(7) {
            let words: Vec<&str> = t.split_whitespace().collect();
            queries.push(
                words
                    .iter()
                    .skip(3)
                    .step_by(9)
                    .take(3)
                    .copied()
                    .collect::<Vec<_>>()
                    .join(" "),
            );
        }
        let mut matched = 0;
        for q in &queries {
            let terms = analysis::terms(q);
            let w: BTreeMap<String, Score> = terms
                .iter()
                .enumerate()
                .map(|(i, t)| (t.clone(), 1.0 / (2.0 + i as Score)))
                .collect();
            for max in [60, 240] {
                let ours = Highlighter::new(w.clone(), max);
                let theirs = SnippetGenerator::new(
                    w.clone(),
                    analysis::mixed_analyzer(),
                    Field::from_field_id(0),
                    max,
                );
                for text in &texts {
                    let want = theirs.snippet(text);
                    match ours.fragment(text) {
                        None => assert!(want.fragment().is_empty(), "{q:?} in {text:?}"),
                        Some(f) => {
                            matched += 1;
                            assert_eq!(
                                &text[f.range.clone()],
                                want.fragment(),
                                "{q:?} in {text:?}"
                            );
                            assert_eq!(f.highlights, want.highlighted(), "{q:?} in {text:?}");
                        }
                    }
                }
            }
        }
        assert!(matched > 1000, "too few texts matched: {matched}");
    }

    #[test]
    fn chinese_words_are_found_through_jieba() {
        let h = Highlighter::new(weights(&[("模型", 1.0)]), 200);
        let text = "我们提出一种新的语言模型。";
        let f = h.fragment(text).expect("a fragment");
        let marked: Vec<&str> = f
            .highlights
            .iter()
            .map(|r| &text[f.range.clone()][r.clone()])
            .collect();
        assert_eq!(marked, ["模型"]);
    }
}
