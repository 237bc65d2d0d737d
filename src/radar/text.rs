//! Sparse tf-idf term vectors of papers, for comparing papers when no embedding is available
//! (examples without vectors, briefings over papers without vectors). Terms come from the
//! index's own analyzer ([`crate::analysis`]), so Chinese text is segmented the same way as in
//! search.

use std::collections::{BTreeMap, HashMap};

use crate::analysis;

/// Words too common in abstracts to say anything about a paper (matched after stemming).
const STOPWORDS: &[&str] = &[
    "a",
    "an",
    "and",
    "are",
    "as",
    "at",
    "be",
    "been",
    "but",
    "by",
    "can",
    "do",
    "for",
    "from",
    "ha",
    "has",
    "have",
    "how",
    "in",
    "into",
    "is",
    "it",
    "it",
    "its",
    "may",
    "more",
    "most",
    "not",
    "of",
    "on",
    "or",
    "our",
    "over",
    "such",
    "than",
    "that",
    "the",
    "their",
    "them",
    "these",
    "they",
    "this",
    "those",
    "through",
    "to",
    "under",
    "up",
    "us",
    "via",
    "wa",
    "was",
    "we",
    "were",
    "what",
    "when",
    "where",
    "which",
    "while",
    "who",
    "whose",
    "why",
    "will",
    "with",
    "within",
    "without",
    "yet",
    "both",
    "each",
    "also",
    "other",
    "all",
    "any",
    "onli",
    "same",
    "so",
    "then",
    "there",
    "between",
    "about",
    "among",
    "across",
    "after",
    "before",
    "howev",
    "furthermor",
    "moreov",
    "therefor",
    "thus",
    "here",
    "well",
    "further",
    "i",
    "e",
    "g",
    "et",
    "al",
    "new",
    "novel",
    "propos",
    "present",
    "paper",
    "work",
    "studi",
    "show",
    "use",
    "approach",
    "method",
    "result",
    "base",
    "introduc",
    "demonstr",
    "achiev",
    "perform",
    "experi",
    "exist",
    "significantli",
    "provid",
    "address",
    "differ",
    "compar",
    "improv",
    "abl",
    "one",
    "two",
    "three",
    "first",
    "second",
    "which",
    "often",
    "remain",
    "make",
    "enabl",
    "effect",
    "leverag",
    "framework",
    "task",
    "state",
    "art",
    "outperform",
    "extens",
    "code",
    "avail",
    "https",
    "http",
    "github",
    "com",
    "www",
    "org",
    "wide",
    "high",
    "low",
    "larg",
    "key",
    "evalu",
    "find",
    "consist",
    "given",
    "even",
    "signific",
    "data",
    "benchmark",
    "sever",
    "mani",
    "set",
    "includ",
    "like",
    "due",
    "toward",
    "beyond",
    "open",
    "的",
    "了",
    "和",
    "是",
    "在",
    "与",
    "及",
    "对",
    "中",
    "为",
    "以",
    "等",
    "并",
    "将",
    "从",
    "我们",
    "本文",
    "提出",
    "一种",
    "方法",
    "研究",
    "结果",
    "表明",
    "基于",
    "通过",
    "进行",
    "使用",
    "可以",
    "能够",
    "具有",
    "以及",
    "其中",
    "这些",
    "一个",
    "问题",
];

/// True when `term` (an analyzed term) carries no topical meaning.
pub fn is_stopword(term: &str) -> bool {
    if term.chars().all(|c| c.is_ascii_digit() || c == '.') {
        return true;
    }
    if term.is_ascii() && term.len() < 2 {
        return true;
    }
    static SET: std::sync::OnceLock<std::collections::HashSet<&'static str>> =
        std::sync::OnceLock::new();
    SET.get_or_init(|| STOPWORDS.iter().copied().collect())
        .contains(term)
}

/// Analyzed, stop-filtered terms of `text` with their surface form (lowercased, unstemmed),
/// in text order.
pub fn terms_with_surface(
    text: &str,
    stems: &mut HashMap<String, String>,
) -> Vec<(String, String)> {
    positioned_terms(text, stems)
        .into_iter()
        .map(|t| (t.stem, t.surface))
        .collect()
}

/// One analyzed term: its stem, its surface form and its position among all tokens (stopwords
/// included, so adjacent positions mean adjacent words).
#[derive(Debug, Clone, PartialEq)]
pub struct Tok {
    pub stem: String,
    pub surface: String,
    pub pos: usize,
    /// Byte range in the text.
    pub from: usize,
    pub to: usize,
}

/// Like [`terms_with_surface`], with token positions.
pub fn positioned_terms(text: &str, stems: &mut HashMap<String, String>) -> Vec<Tok> {
    use tantivy::tokenizer::{LowerCaser, RemoveLongFilter, TextAnalyzer, TokenStream};
    let mut surface = TextAnalyzer::builder(analysis::MixedTokenizer::default())
        .filter(RemoveLongFilter::limit(analysis::MAX_TOKEN_BYTES))
        .filter(LowerCaser)
        .build();
    let mut stream = surface.token_stream(text);
    let mut out = Vec::new();
    let mut pos = 0;
    while stream.advance() {
        pos += 1;
        let (from, to) = (stream.token().offset_from, stream.token().offset_to);
        let word = stream.token().text.clone();
        let stem = match stems.get(&word) {
            Some(s) => s.clone(),
            None => {
                // The index analyzer on one lowercased word is exactly its stem.
                let s = analysis::terms(&word)
                    .into_iter()
                    .next()
                    .unwrap_or_default();
                stems.insert(word.clone(), s.clone());
                s
            }
        };
        if !stem.is_empty() && !is_stopword(&stem) {
            out.push(Tok {
                stem,
                surface: word,
                pos,
                from,
                to,
            });
        }
    }
    out
}

/// A sparse, L2-normalized vector over terms (sorted by term, so iteration is deterministic).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SparseVec(pub BTreeMap<String, f32>);

impl SparseVec {
    /// Term frequencies of `terms` weighted by `idf(term)` (log-scaled tf), L2-normalized.
    pub fn tfidf<'a>(terms: impl Iterator<Item = &'a str>, idf: impl Fn(&str) -> f32) -> Self {
        let mut tf: BTreeMap<String, f32> = BTreeMap::new();
        for t in terms {
            *tf.entry(t.to_string()).or_insert(0.0) += 1.0;
        }
        let mut v: BTreeMap<String, f32> = tf
            .into_iter()
            .map(|(t, n)| {
                let w = (1.0 + n.ln()) * idf(&t);
                (t, w)
            })
            .filter(|(_, w)| *w > 0.0)
            .collect();
        let norm = v.values().map(|w| w * w).sum::<f32>().sqrt();
        if norm > 0.0 {
            v.values_mut().for_each(|w| *w /= norm);
        }
        SparseVec(v)
    }

    /// Cosine with another normalized vector.
    pub fn cosine(&self, other: &SparseVec) -> f32 {
        let (small, large) = if self.0.len() <= other.0.len() {
            (&self.0, &other.0)
        } else {
            (&other.0, &self.0)
        };
        small
            .iter()
            .filter_map(|(t, w)| large.get(t).map(|o| w * o))
            .sum()
    }

    /// Cosine with a normalized vector held in a hash map (fast lookups for large centres);
    /// sums in this vector's term order, so the result is deterministic.
    pub fn cosine_map(&self, other: &HashMap<String, f32>) -> f32 {
        self.0
            .iter()
            .filter_map(|(t, w)| other.get(t).map(|o| w * o))
            .sum()
    }

    /// Adds `other * weight` (not renormalized).
    pub fn add_scaled(&mut self, other: &SparseVec, weight: f32) {
        for (t, w) in &other.0 {
            *self.0.entry(t.clone()).or_insert(0.0) += w * weight;
        }
    }

    /// Rescales to unit length.
    pub fn normalize(&mut self) {
        let norm = self.0.values().map(|w| w * w).sum::<f32>().sqrt();
        if norm > 0.0 {
            self.0.values_mut().for_each(|w| *w /= norm);
        }
    }
}

/// Inverse document frequency `ln(1 + n / df)` (0 for unseen terms).
pub fn idf(n: usize, df: usize) -> f32 {
    if df == 0 {
        0.0
    } else {
        (1.0 + n as f32 / df as f32).ln()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn surface_forms_and_stopwords() {
        let mut cache = HashMap::new();
        let t = terms_with_surface(
            "We propose Streaming Models for 基于深度学习的图像识别",
            &mut cache,
        );
        let stems: Vec<&str> = t.iter().map(|(s, _)| s.as_str()).collect();
        assert!(
            stems.contains(&"stream") && stems.contains(&"model"),
            "{stems:?}"
        );
        assert!(
            !stems.contains(&"we") && !stems.contains(&"propos"),
            "{stems:?}"
        );
        assert!(stems.contains(&"图像"), "{stems:?}");
        assert!(!stems.contains(&"基于"), "{stems:?}");
        let surface: HashMap<_, _> = t.into_iter().collect();
        assert_eq!(surface["stream"], "streaming");
    }

    #[test]
    fn sparse_cosine() {
        let a = SparseVec::tfidf(["x", "y"].into_iter(), |_| 1.0);
        let b = SparseVec::tfidf(["x"].into_iter(), |_| 1.0);
        assert!((a.cosine(&b) - std::f32::consts::FRAC_1_SQRT_2).abs() < 1e-6);
        assert!((a.cosine(&a) - 1.0).abs() < 1e-6);
        assert_eq!(a.cosine(&SparseVec::default()), 0.0);
    }
}
