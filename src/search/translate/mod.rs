//! Query translation for the BM25 leg: the Chinese words of a query rendered in English with
//! CC-CEDICT ([`cedict`]), so that a Chinese question finds English papers without
//! any vector.
//!
//! 1. **Units.** Each run of CJK text is cut by jieba (the index's own analysis); adjacent
//!    words whose concatenation is a dictionary headword are joined (神经 + 网络 = 神经网络),
//!    and a word the dictionary lacks is split into the fewest dictionary words (强化学习 =
//!    强化 + 学习, 大语言模型 = 大 + 语言 + 模型). Function words (的, 了, 吗, 基于, ...) are
//!    no units.
//! 2. **Candidates.** A unit's candidate translations are its cleaned glosses, common sense
//!    first; at a lower prior, the glosses that share a headword with its main ones (the
//!    dictionary's own synonyms: 强化 "strengthen" gives "reinforce" through 加强); and the
//!    derived forms of one-word glosses ("discover" gives "discovery"); and the glossary's
//!    loose model matches (卷积: "convolutional", "encoding", "knot"). A candidate is kept
//!    only when each of its content words occurs in the index; its base score is its prior
//!    times `ln(1 + df)`.
//! 3. **The index decides.** Between adjacent units, pairs of candidates are counted as
//!    phrases in the papers ("reinforcement learning" thousands of times, "strengthen
//!    learning" hardly): a candidate's score is its base times `1 + 100 * share`, `share` the
//!    part of the rarer term's papers holding its best phrase. Candidates far below the best
//!    are dropped, and so are loose matches no phrase with one of the neighbour's best
//!    trusted candidates confirms ("convolutional neural network" keeps 卷积's
//!    "convolutional", and only it); a word only the glossary knows is then translated by
//!    its parts. A query computes at most `PHRASE_COUNT_BUDGET` (400) counts; counts and
//!    document frequencies are cached per index state.
//! 4. **One synonym group per unit** (Pirkola): the kept candidates share one unit of weight
//!    in proportion to their scores, so a word with ten glosses weighs what a word with one
//!    does; the terms of a multi-word gloss each carry the gloss's weight. The group is
//!    scaled by the share of English among the papers naming the unit (Chinese papers are
//!    matched by the Chinese words already).
//! 5. **Phrases.** Adjacent units whose best translations form a phrase of the papers
//!    ("graph neural network") add that phrase, the phrases sharing one unit of weight
//!    ([`phrase_boost`]): the BM25 leg ranks the words term at a time and the phrases re-rank
//!    its top documents.
//!
//! The query keeps its own words too (a Chinese paper still matches its Chinese words); the
//! translation is OR-ed to it as weighted terms, ranked term at a time like plain words.

pub mod cedict;

use std::borrow::Cow;
use std::collections::HashMap;

use tantivy::query::{
    BooleanQuery, BoostQuery, EmptyQuery, EnableScoring, Occur, PhraseQuery, Query, Weight,
};
use tantivy::{DocSet, Searcher, Term};

use super::error::QueryError;
use super::taat::WeightedTerms;
use crate::analysis;
use crate::index::PaperIndex;

pub use cedict::{default_path, install, shared, DictError, Dictionary, CEDICT_FILE};

/// Direct glosses considered per unit (common senses first).
const MAX_GLOSSES: usize = 12;
/// Dictionary synonyms considered per unit, and the prior they start from relative to the
/// gloss they come from.
const MAX_SYNONYMS: usize = 16;
const SYNONYM_PRIOR: f32 = 0.2;
/// Glosses of a headword that count as its senses when looking for synonyms.
const SYNONYM_SENSES: usize = 4;
/// Direct glosses, synonyms and loose glosses per unit (each, best base score first) whose
/// phrases with the neighbouring unit are counted.
const PAIR_GLOSSES: usize = 12;
const PAIR_SYNONYMS: usize = 4;
const PAIR_LOOSE: usize = 6;
const PAIR_HEADS: usize = 2;
/// Prior of a loose glossary match: it competes only once a phrase confirms it (then its
/// phrase gain decides), see [`Kind::Loose`].
const LOOSE_PRIOR: f32 = 0.2;
/// The phrase share that confirms a loose match: a quarter of the rarer term's papers use
/// the phrase ("convolutional neural", "differential privacy"), a term of the field rather than a
/// chance pairing. Chosen among 0.01-0.5 on the short terms and arxiv-zh2en (BENCHMARKS.md):
/// lower shares let chance pairings cost arxiv-zh2en, higher ones lose true pairs.
const LOOSE_PHRASE_SHARE: f32 = 0.25;
/// How much a phrase raises a candidate: its score is `base * (1 + PHRASE_GAIN * share)`,
/// `share` the part of the rarer term's papers that hold the phrase (smoothed by
/// [`PHRASE_SMOOTHING`] papers): a phrase in one paper in a hundred of its term doubles it.
const PHRASE_GAIN: f32 = 100.0;
const PHRASE_SMOOTHING: f32 = 5.0;
/// Documents a phrase count reads (the first ones of the index), scaled up to the index.
const PHRASE_SAMPLE_DOCS: u64 = 200_000;
/// Fewer sampled papers than this holding a phrase are chance, not evidence.
const MIN_PHRASE_PAPERS: u64 = 2;
/// A candidate scoring below this share of its unit's best is dropped.
const KEEP_RATIO: f32 = 0.25;
/// Weight of each of a query's `n` translated phrases beside its words: the phrases share one
/// unit of weight, as a unit's translations do. A phrase's BM25 score (its idf is its words'
/// together) is evidence beyond its words; at full weight each, a long question's phrases
/// outvoted its words (arxiv-zh2en BM25 0.8398, 0.8575 shared; BENCHMARKS.md), while a short
/// term, one phrase, keeps it whole.
pub fn phrase_boost(n: usize) -> f32 {
    1.0 / n.max(1) as f32
}

/// Longest query (in characters) whose CJK is translated; the rest is searched as it is.
pub const MAX_TRANSLATED_CHARS: usize = 200;
/// Units translated per query (a long title has about 15); later ones are searched as
/// they are.
pub const MAX_UNITS: usize = 40;

/// Chinese function words: particles, prepositions, conjunctions and academic fillers whose
/// glosses are English stopwords or generic noise.
const FUNCTION_WORDS: &[&str] = &[
    "的",
    "了",
    "吗",
    "呢",
    "吧",
    "啊",
    "之",
    "和",
    "与",
    "及",
    "或",
    "并",
    "而",
    "也",
    "都",
    "在",
    "于",
    "对",
    "从",
    "向",
    "由",
    "把",
    "被",
    "为",
    "以",
    "将",
    "其",
    "该",
    "这",
    "那",
    "是",
    "有",
    "中",
    "上",
    "下",
    "里",
    "等",
    "个",
    "种",
    "一种",
    "一个",
    "基于",
    "通过",
    "进行",
    "使用",
    "利用",
    "如何",
    "什么",
    "哪些",
    "怎样",
    "为什么",
    "关于",
    "面向",
    "针对",
    "及其",
    "以及",
    "或者",
    "并且",
    "还是",
    "我们",
    "它们",
    "一些",
    "这些",
    "那些",
    "之间",
];

/// A query's translation: what is searched and what is shown.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Translation {
    /// The query with each CJK unit replaced by its best translation
    /// ("reinforce learn for robot"), as shown to the user.
    pub text: String,
    /// One synonym group per translated unit.
    pub groups: Vec<Group>,
    /// Units with no translation the index holds.
    pub untranslated: Vec<String>,
    /// Runs of adjacent units whose best translations the papers use as one phrase
    /// ("graph neural network"), as analyzed terms: papers holding the phrase rank higher.
    pub phrases: Vec<Vec<String>>,
}

/// The translations of one Chinese unit.
#[derive(Debug, Clone, PartialEq)]
pub struct Group {
    /// The unit (强化学习 is two: 强化 and 学习).
    pub source: String,
    /// Its best translation, as the dictionary spells it.
    pub shown: String,
    /// The share of English among the papers naming the unit, `df(shown) / (df(shown) +
    /// df(unit))`: about 1 over English papers, little over Chinese ones.
    pub english: f32,
    /// Analyzed English terms (the index's stems) with their weights in the group.
    pub terms: Vec<(String, f32)>,
    /// The papers confirm the translation: it forms a phrase of theirs with a neighbouring
    /// unit's ("reinforcement learning"), or the unit stands alone in its run (no neighbour to
    /// confirm it). "knowledge atlas" is not confirmed.
    pub confirmed: bool,
}

/// The English share ([`Translation::english_share`]) from which a query's translation is
/// embedded with it: the papers its words name are mostly English.
pub const EMBED_ENGLISH_SHARE: f32 = 0.5;

impl Translation {
    /// The translation as shown, each word of a unit's translation spelled as `spellings`
    /// (analyzed term -> a spelling, [`crate::search::snippets::spellings`] of a result page)
    /// says the papers found spell it: 强化学习 "reinforce learn" is shown "reinforcement
    /// learning". A word none of them holds keeps the dictionary's spelling, and the rest of
    /// the query stays as it is.
    pub fn respelled(&self, spellings: &HashMap<String, String>) -> String {
        let respell = |gloss: &str| -> String {
            gloss
                .split_whitespace()
                .map(|w| {
                    // An acronym ("DNA") keeps its capitals; the page's spellings are lowercased.
                    if w.chars().any(char::is_uppercase) {
                        return w;
                    }
                    analysis::normalize_word(w)
                        .and_then(|term| spellings.get(&term))
                        .map_or(w, String::as_str)
                })
                .collect::<Vec<_>>()
                .join(" ")
        };
        let mut out = String::with_capacity(self.text.len() + 16);
        let mut at = 0;
        for g in &self.groups {
            let Some(found) = self.text[at..].find(&g.shown) else {
                continue;
            };
            out.push_str(&self.text[at..at + found]);
            out.push_str(&respell(&g.shown));
            at += found + g.shown.len();
        }
        out.push_str(&self.text[at..]);
        out
    }

    /// The share of English among the papers naming the translated units, averaged over
    /// them: whether the papers the query is about are mostly English.
    pub fn english_share(&self) -> f32 {
        if self.groups.is_empty() {
            return 0.0;
        }
        self.groups.iter().map(|g| g.english).sum::<f32>() / self.groups.len() as f32
    }

    /// True when the dense leg embeds the query with this translation appended
    /// ([`embedding_text`]): the papers its words name are mostly English.
    pub fn informs_embedding(&self) -> bool {
        self.english_share() >= EMBED_ENGLISH_SHARE
    }

    /// The text the dense leg embeds for the query `original`: the query followed by this
    /// translation when it [informs the embedding](Self::informs_embedding), else `None`
    /// (embed the query as it is: over Chinese papers its own words say it best).
    ///
    /// A multilingual model places "强化学习 reinforcement learning" much nearer the English
    /// abstracts about it than "强化学习" alone (BENCHMARKS.md, "Query translation").
    pub fn embedding_text(&self, original: &str) -> Option<String> {
        self.informs_embedding()
            .then(|| format!("{} {}", original.trim(), self.text))
    }

    /// Every translated term with its weight, summed over groups.
    pub fn weighted_terms(&self) -> Vec<(String, f32)> {
        let mut out: Vec<(String, f32)> = Vec::new();
        for g in &self.groups {
            for (t, w) in &g.terms {
                match out.iter_mut().find(|(u, _)| u == t) {
                    Some((_, v)) => *v += w,
                    None => out.push((t.clone(), *w)),
                }
            }
        }
        out
    }
}

/// Where a candidate translation comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// One of the unit's own glosses (dictionary or glossary), or a derived form of one.
    Gloss,
    /// A dictionary synonym of one of its glosses.
    Synonym,
    /// A loose glossary match (or its derived form): kept only where a phrase of the papers
    /// joins it to a neighbouring unit's candidate.
    Loose,
    /// The head noun of a two-word gloss (or its derived form): kept only where a phrase
    /// with a neighbouring unit's candidate (at least [`HEAD_PHRASE_SHARE`]) makes it
    /// outscore every other candidate.
    Head,
}

/// A candidate translation of one unit.
#[derive(Debug, Clone)]
struct Candidate {
    gloss: String,
    terms: Vec<String>,
    kind: Kind,
    /// `prior * ln(1 + df)`, `df` that of its rarest term: senses the papers use rise.
    base: f32,
    /// `base * (1 + PHRASE_GAIN * best phrase share with a neighbouring unit's candidate)`;
    /// 0 for a loose candidate no phrase confirms.
    score: f32,
    /// Papers holding its rarest term.
    df: u64,
}

/// True when `text` has a character query translation reads.
pub fn has_cjk(text: &str) -> bool {
    text.chars().any(analysis::is_cjk)
}

/// The translation of the CJK words of `text` over `index`, `None` when `text` has none or
/// none of them translates into words the index holds.
pub fn translate(
    index: &PaperIndex,
    searcher: &Searcher,
    dict: &Dictionary,
    text: &str,
) -> Result<Option<Translation>, QueryError> {
    if !has_cjk(text) {
        return Ok(None);
    }
    let text: String = text.chars().take(MAX_TRANSLATED_CHARS).collect();
    let mut stats = Stats::new(index, searcher);
    let mut shown = String::new();
    let mut groups = Vec::new();
    let mut untranslated = Vec::new();
    let mut phrases = Vec::new();
    for piece in split_runs(&text) {
        match piece {
            Piece::Other(s) => shown.push_str(s),
            Piece::Cjk(run) => {
                let room = MAX_UNITS.saturating_sub(groups.len() + untranslated.len());
                let (units, cands, shares) =
                    scored_units(dict, &mut stats, units(dict, run), room)?;
                let links = Links::of(&cands, &shares);
                phrases.extend(run_phrases(&cands, &links));
                let mut words = Vec::new();
                for (i, (unit, c)) in units.into_iter().zip(cands).enumerate() {
                    if links.best[i].is_none() {
                        untranslated.push(unit);
                    } else if let Some(g) = group(&mut stats, unit, c, links.confirmed(i))? {
                        words.push(g.shown.clone());
                        groups.push(g);
                    }
                }
                if !words.is_empty() {
                    if !shown.is_empty() && !shown.ends_with(' ') {
                        shown.push(' ');
                    }
                    shown.push_str(&words.join(" "));
                    shown.push(' ');
                }
            }
        }
    }
    if groups.is_empty() {
        return Ok(None);
    }
    let text = shown.split_whitespace().collect::<Vec<_>>().join(" ");
    Ok(Some(Translation {
        text,
        groups,
        untranslated,
        phrases,
    }))
}

enum Piece<'a> {
    Cjk(&'a str),
    Other(&'a str),
}

/// `text` as alternating runs of CJK and other characters.
fn split_runs(text: &str) -> Vec<Piece<'_>> {
    let mut out = Vec::new();
    let mut start = 0;
    let mut in_cjk = None;
    for (i, c) in text.char_indices() {
        let cjk = analysis::is_cjk(c);
        if in_cjk != Some(cjk) {
            if i > start {
                let s = &text[start..i];
                out.push(if in_cjk == Some(true) {
                    Piece::Cjk(s)
                } else {
                    Piece::Other(s)
                });
            }
            start = i;
            in_cjk = Some(cjk);
        }
    }
    if start < text.len() {
        let s = &text[start..];
        out.push(if in_cjk == Some(true) {
            Piece::Cjk(s)
        } else {
            Piece::Other(s)
        });
    }
    out
}

/// The translation units of one CJK run (see the module doc), function words left out.
pub fn units(dict: &Dictionary, run: &str) -> Vec<String> {
    let words = analysis::cut_cjk(run);
    let mut out = Vec::new();
    let mut i = 0;
    while i < words.len() {
        // The longest run of jieba words that is one headword (two words at least).
        let mut joined = None;
        let mut acc = String::from(words[i]);
        for (j, w) in words.iter().enumerate().skip(i + 1).take(3) {
            acc.push_str(w);
            if acc.chars().count() > dict.longest_word() {
                break;
            }
            if dict.contains(&acc) {
                joined = Some((j, acc.clone()));
            }
        }
        let (next, word) = match joined {
            Some((j, w)) => (j + 1, w),
            None => (i + 1, words[i].to_string()),
        };
        i = next;
        if dict.contains(&word) {
            out.push(word);
        } else {
            out.extend(split_word(dict, &word, dict.longest_word()));
        }
    }
    out.retain(|u| !FUNCTION_WORDS.contains(&u.as_str()));
    out
}

/// A run's units, their scored candidates and the phrase shares between neighbours.
type ScoredRun = (Vec<String>, Vec<Vec<Candidate>>, Vec<PairShares>);

/// The units of one run (at most `room`) with their candidates scored by phrases
/// ([`score_by_phrases`]) and the phrase shares between neighbours. A word only the glossary
/// knows (卷积) whose glosses no phrase of the papers confirms is translated by its parts
/// instead, as before the glossary had it.
fn scored_units(
    dict: &Dictionary,
    stats: &mut Stats<'_>,
    mut units: Vec<String>,
    room: usize,
) -> Result<ScoredRun, QueryError> {
    units.truncate(room);
    loop {
        let mut cands: Vec<Vec<Candidate>> = Vec::with_capacity(units.len());
        for u in &units {
            cands.push(candidates(dict, stats, u)?);
        }
        let shares = score_by_phrases(stats, &mut cands)?;
        let mut split = false;
        let mut next = Vec::with_capacity(units.len());
        for (u, c) in units.iter().zip(&cands) {
            if dict.is_glossary_only(u) && !c.iter().any(|c| c.score > 0.0) {
                // Pieces strictly shorter than the word: each pass splits, so this ends.
                let parts = split_word(dict, u, u.chars().count() - 1);
                if parts.len() > 1 {
                    split = true;
                    next.extend(
                        parts
                            .into_iter()
                            .filter(|p| !FUNCTION_WORDS.contains(&p.as_str())),
                    );
                    continue;
                }
            }
            next.push(u.clone());
        }
        if !split {
            return Ok((units, cands, shares));
        }
        units = next;
        units.truncate(room);
    }
}

/// `word` as the fewest dictionary headwords of at most `longest` characters (characters
/// the dictionary lacks stand alone), ties to the split whose first piece is longest.
fn split_word(dict: &Dictionary, word: &str, longest: usize) -> Vec<String> {
    let chars: Vec<char> = word.chars().collect();
    let n = chars.len();
    // best[i]: (pieces, cost) for chars[i..]; a piece outside the dictionary costs more.
    let mut best: Vec<Option<(u32, usize)>> = vec![None; n + 1];
    best[n] = Some((0, n));
    for i in (0..n).rev() {
        for len in (1..=dict.longest_word().min(longest).min(n - i)).rev() {
            let piece: String = chars[i..i + len].iter().collect();
            let known = dict.contains(&piece);
            if !known && len > 1 {
                continue;
            }
            let Some((cost, _)) = best[i + len] else {
                continue;
            };
            let cost = cost + if known { 1 } else { 3 };
            if best[i].is_none_or(|(c, _)| cost < c) {
                best[i] = Some((cost, i + len));
            }
        }
    }
    let mut out = Vec::new();
    let mut i = 0;
    while i < n {
        let Some((_, next)) = best[i] else { break };
        out.push(chars[i..next].iter().collect());
        i = next;
    }
    out
}

/// Document frequencies and phrase counts of one index state, shared by every query of the
/// process (a technical vocabulary repeats across questions): looked up under a lock, computed
/// outside it, forgotten when the index changes or the cache outgrows [`CACHE_ENTRIES`].
#[derive(Default)]
struct SharedStats {
    /// Hash of the searcher's segments (ids and deletions): which index state this is.
    key: u64,
    df: HashMap<String, u64>,
    phrases: HashMap<(String, String), u64>,
}

const CACHE_ENTRIES: usize = 200_000;

static CACHE: std::sync::Mutex<Option<SharedStats>> = std::sync::Mutex::new(None);

fn searcher_key(searcher: &Searcher) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    for r in searcher.segment_readers() {
        r.segment_id().uuid_string().hash(&mut h);
        r.num_deleted_docs().hash(&mut h);
    }
    h.finish()
}

/// Runs `f` on the shared statistics of the index state `key`.
fn with_cache<T>(key: u64, f: impl FnOnce(&mut SharedStats) -> T) -> T {
    // A poisoned lock only means a panic elsewhere mid-insert: the maps are still valid.
    let mut guard = CACHE.lock().unwrap_or_else(|e| e.into_inner());
    let stats = guard.get_or_insert_with(SharedStats::default);
    if stats.key != key || stats.df.len() + stats.phrases.len() > CACHE_ENTRIES {
        *stats = SharedStats {
            key,
            ..SharedStats::default()
        };
    }
    f(stats)
}

/// Phrase counts one query may compute (cached ones are free): a long question's later
/// units are then chosen by their base scores alone, and no query costs more than this many
/// counts.
const PHRASE_COUNT_BUDGET: usize = 400;

/// Document frequencies and phrase counts of the index, through the shared cache.
struct Stats<'a> {
    index: &'a PaperIndex,
    searcher: &'a Searcher,
    key: u64,
    /// Phrase counts this query may still compute.
    budget: usize,
}

impl<'a> Stats<'a> {
    fn new(index: &'a PaperIndex, searcher: &'a Searcher) -> Self {
        Stats {
            index,
            searcher,
            key: searcher_key(searcher),
            budget: PHRASE_COUNT_BUDGET,
        }
    }

    fn term(&self, text: &str) -> Term {
        Term::from_field_text(self.index.fields().text, text)
    }

    fn df(&mut self, term: &str) -> Result<u64, QueryError> {
        if let Some(n) = with_cache(self.key, |c| c.df.get(term).copied()) {
            return Ok(n);
        }
        let n = self.searcher.doc_freq(&self.term(term))?;
        with_cache(self.key, |c| c.df.insert(term.to_string(), n));
        Ok(n)
    }

    /// Papers in which `a` is immediately followed by `b`, estimated from the first
    /// [`PHRASE_SAMPLE_DOCS`] documents (exact on a smaller index): the cost of a count stays
    /// the same however large the index grows.
    fn phrase(&mut self, a: &str, b: &str) -> Result<u64, QueryError> {
        let key = (a.to_string(), b.to_string());
        if let Some(n) = with_cache(self.key, |c| c.phrases.get(&key).copied()) {
            return Ok(n);
        }
        if self.budget == 0 {
            return Ok(0);
        }
        self.budget -= 1;
        let q = PhraseQuery::new(vec![self.term(a), self.term(b)]);
        let weight = q.weight(EnableScoring::disabled_from_searcher(self.searcher))?;
        let (mut found, mut sampled, mut total) = (0u64, 0u64, 0u64);
        for segment in self.searcher.segment_readers() {
            total += u64::from(segment.max_doc());
            let budget = PHRASE_SAMPLE_DOCS.saturating_sub(sampled);
            if budget == 0 {
                continue;
            }
            let end = u64::from(segment.max_doc()).min(budget);
            sampled += end;
            let mut scorer = weight.scorer(segment, 1.0)?;
            while u64::from(scorer.doc()) < end {
                if !segment.is_deleted(scorer.doc()) {
                    found += 1;
                }
                scorer.advance();
            }
        }
        // Fewer sampled papers than MIN_PHRASE_PAPERS are chance, however they scale up.
        let n = if sampled == 0 || found < MIN_PHRASE_PAPERS {
            0
        } else {
            (found as f64 * total as f64 / sampled as f64).round() as u64
        };
        with_cache(self.key, |c| c.phrases.insert(key, n));
        Ok(n)
    }
}

/// A gloss's content terms as the index analyzes them (English stopwords left out).
fn gloss_terms(gloss: &str) -> Vec<String> {
    let mut out = Vec::new();
    analysis::raw_words(gloss, |_, _, word| {
        if analysis::is_english_stopword(word) {
            return;
        }
        if let Some(t) = analysis::normalize_word(word) {
            if !out.contains(&t) {
                out.push(t);
            }
        }
    });
    out
}

/// Prior of a derived form relative to the gloss it comes from.
const DERIVED_PRIOR: f32 = 0.8;
/// Prior of the head noun of a two-word gloss, relative to a first gloss.
const HEAD_PRIOR: f32 = 0.5;
/// The phrase share that lets a head noun stand for its gloss: a tenth of the rarer term's
/// papers use the phrase with the neighbour's candidate ("topological insulator": 0.23 of the
/// "insulator" papers), a term of the field rather than a generic noun next to a frequent word
/// ("diffusion mechanism"). Chosen among 0.01-0.2 on the short terms and arxiv-zh2en BM25
/// (BENCHMARKS.md): 0.1-0.15 is best on both.
const HEAD_PHRASE_SHARE: f32 = 0.1;

/// The last word of a gloss of exactly two words, both plain lowercase English (no
/// stopword): "electrical insulation" gives "insulation".
fn gloss_head(gloss: &str) -> Option<String> {
    let words: Vec<&str> = gloss.split_whitespace().collect();
    match words.as_slice() {
        [a, b]
            if [a, b].iter().all(|w| {
                w.len() >= 3
                    && w.chars().all(|c| c.is_ascii_lowercase())
                    && !analysis::is_english_stopword(w)
            }) =>
        {
            Some(b.to_string())
        }
        _ => None,
    }
}

/// Noun and adjective forms of an English word by regular suffixes (`discover` gives
/// `discovery`, `retrieve` `retrieval`, `generate` `generative`); only those whose stem the
/// index holds become candidates.
fn derived_forms(word: &str) -> Vec<String> {
    const SUFFIXES: &[&str] = &[
        "y", "ion", "ation", "al", "ar", "ic", "ical", "ive", "ity", "ment", "ance", "ence",
    ];
    let lower = word.to_lowercase();
    if lower.len() < 4 || !lower.chars().all(|c| c.is_ascii_alphabetic()) {
        return Vec::new();
    }
    // "molecule" -> "molecular", "topology" -> "topological".
    let stem = lower
        .strip_suffix('e')
        .or_else(|| lower.strip_suffix('y'))
        .unwrap_or(&lower);
    SUFFIXES
        .iter()
        .map(|s| format!("{stem}{s}"))
        .filter(|f| *f != lower)
        .collect()
}

/// The candidate translations of `unit` whose terms all occur in the index, best prior first.
fn candidates(
    dict: &Dictionary,
    stats: &mut Stats<'_>,
    unit: &str,
) -> Result<Vec<Candidate>, QueryError> {
    let glosses = dict.glosses(unit);
    let mut offered: Vec<(String, f32, Kind)> = Vec::new();
    for (rank, g) in glosses.iter().take(MAX_GLOSSES).enumerate() {
        offered.push((g.to_string(), 1.0 / (1.0 + 0.5 * rank as f32), Kind::Gloss));
    }
    let mut synonyms = 0;
    for (rank, g) in glosses.iter().take(3).enumerate() {
        let from = 1.0 / (1.0 + 0.5 * rank as f32);
        for (s, shared) in dict.synonyms(g, SYNONYM_SENSES, MAX_SYNONYMS) {
            if synonyms >= MAX_SYNONYMS {
                break;
            }
            if offered.iter().any(|(o, _, _)| o == s) {
                continue;
            }
            let prior = SYNONYM_PRIOR * from * (1.0 + 0.25 * (shared as f32 - 1.0)).min(2.0);
            offered.push((s.to_string(), prior, Kind::Synonym));
            synonyms += 1;
        }
    }
    for g in dict.loose_glosses(unit) {
        if !offered.iter().any(|(o, _, _)| o == g) {
            offered.push((g.to_string(), LOOSE_PRIOR, Kind::Loose));
        }
    }
    // The head noun of a two-word gloss ("electrical insulation" for 绝缘体): the papers may
    // name the thing without the dictionary's qualifier ("topological insulator", one stem
    // with "insulation"), so it is offered too, below the gloss it comes from, and kept only
    // where the papers prefer it (a phrase with a neighbour), never beside the full gloss
    // ("gravitational wave" keeps no lone "wave").
    let heads: Vec<String> = glosses
        .iter()
        .take(MAX_GLOSSES)
        .filter_map(|g| gloss_head(g))
        .collect();
    for h in heads {
        if !offered.iter().any(|(o, _, _)| *o == h) {
            offered.push((h, HEAD_PRIOR, Kind::Head));
        }
    }
    // Derived forms of one-word glosses: the dictionary glosses verbs ("to discover", "to
    // retrieve", "to generate"), papers name things ("discovery", "retrieval", "generative").
    let mut derived: Vec<(String, f32, Kind)> = Vec::new();
    for (gloss, prior, kind) in &offered {
        if gloss.contains(' ') {
            continue;
        }
        let Some(own) = analysis::normalize_word(gloss) else {
            continue;
        };
        for form in derived_forms(gloss) {
            let Some(stem) = analysis::normalize_word(&form) else {
                continue;
            };
            if stem == own
                || offered.iter().any(|(o, _, _)| *o == form)
                || derived.iter().any(|(d, _, _)| *d == form)
            {
                continue;
            }
            if stats.df(&stem)? > 0 {
                derived.push((form, prior * DERIVED_PRIOR, *kind));
            }
        }
    }
    offered.extend(derived);
    let mut out: Vec<Candidate> = Vec::new();
    for (gloss, prior, kind) in offered {
        let terms = gloss_terms(&gloss);
        if terms.is_empty() {
            continue;
        }
        let mut rarest = u64::MAX;
        for t in &terms {
            rarest = rarest.min(stats.df(t)?);
        }
        if rarest == 0 {
            continue;
        }
        // A gloss of several words is a term of the papers only as a phrase: "private
        // business" (隐私) is rare as such however common "private" is. Counted on adjacent
        // words when the gloss has no stopword between them; a phrase the papers lack leaves
        // the gloss its least weight, not nothing (绝缘体 has only "electrical insulation").
        if terms.len() > 1 && gloss.split_whitespace().count() == terms.len() {
            for pair in terms.windows(2) {
                rarest = rarest.min(stats.phrase(&pair[0], &pair[1])?.max(1));
            }
        }
        let base = prior * (1.0 + rarest as f32).ln();

        // Two glosses analyzing to the same terms ("to learn", "learning") are one candidate.
        if let Some(c) = out.iter_mut().find(|c| c.terms == terms) {
            if base > c.base {
                (c.base, c.score, c.kind, c.df) = (base, base, kind, rarest);
            }
            continue;
        }
        out.push(Candidate {
            gloss,
            terms,
            kind,
            base,
            score: base,
            df: rarest,
        });
    }
    out.sort_by(|a, b| b.base.total_cmp(&a.base));
    Ok(out)
}

/// The candidates of a unit whose phrases are counted: its best direct glosses, its best
/// synonyms and its best loose glosses (by base score), as indices.
fn pair_pool(cands: &[Candidate]) -> Vec<usize> {
    let of = |kind: Kind, n: usize| {
        (0..cands.len())
            .filter(move |&i| cands[i].kind == kind)
            .take(n)
    };
    of(Kind::Gloss, PAIR_GLOSSES)
        .chain(of(Kind::Head, PAIR_HEADS))
        .chain(of(Kind::Synonym, PAIR_SYNONYMS))
        .chain(of(Kind::Loose, PAIR_LOOSE))
        .collect()
}

/// Raises each candidate's score by its best phrase with a candidate of a neighbouring unit:
/// `score = base * (1 + PHRASE_GAIN * share)`, `share` the smoothed part of the rarer term's
/// papers holding the phrase (how much the papers treat the pair as one term, whatever the
/// words' own frequencies).
/// Returns, per boundary between units `i - 1` and `i` (index `i - 1`), the phrase share of
/// each counted pair of candidates `(a, b)`.
fn score_by_phrases(
    stats: &mut Stats<'_>,
    cands: &mut [Vec<Candidate>],
) -> Result<Vec<PairShares>, QueryError> {
    let mut shares: Vec<PairShares> = vec![HashMap::new(); cands.len().saturating_sub(1)];
    let mut best: Vec<Vec<f32>> = cands.iter().map(|c| vec![0.0; c.len()]).collect();
    for i in 1..cands.len() {
        let (left, right) = (&cands[i - 1], &cands[i]);
        let right_pool = pair_pool(right);
        for a in pair_pool(left) {
            for &b in &right_pool {
                // A loose match is confirmed only by one of the neighbour's few best trusted
                // candidates: never by another loose match, and the count stays small.
                if (left[a].kind == Kind::Loose && !confirms_loose(right, b))
                    || (right[b].kind == Kind::Loose && !confirms_loose(left, a))
                {
                    continue;
                }
                let (Some(last), Some(first)) = (left[a].terms.last(), right[b].terms.first())
                else {
                    continue;
                };
                if last == first {
                    continue;
                }
                let n = stats.phrase(last, first)?;
                if n == 0 {
                    continue;
                }
                let rarer = stats.df(last)?.min(stats.df(first)?) as f32;
                let share = n as f32 / (rarer + PHRASE_SMOOTHING);
                shares[i - 1].insert((a, b), share);
                best[i - 1][a] = best[i - 1][a].max(share);
                best[i][b] = best[i][b].max(share);
            }
        }
    }
    for (c, counts) in cands.iter_mut().zip(best) {
        for (cand, share) in c.iter_mut().zip(counts) {
            cand.score = if (cand.kind == Kind::Loose && share < LOOSE_PHRASE_SHARE)
                || (cand.kind == Kind::Head && share < HEAD_PHRASE_SHARE)
            {
                0.0
            } else {
                cand.base * (1.0 + PHRASE_GAIN * share)
            };
        }
    }
    Ok(shares)
}

/// Trusted candidates per unit (best base first) that may confirm a neighbour's loose match.
const LOOSE_PARTNERS: usize = 4;

/// True when `cands[i]` may confirm a neighbouring unit's loose match: it is not loose
/// itself and among its unit's [`LOOSE_PARTNERS`] best trusted candidates (`cands` is sorted
/// by base score).
fn confirms_loose(cands: &[Candidate], i: usize) -> bool {
    cands[i].kind != Kind::Loose
        && cands[..i].iter().filter(|c| c.kind != Kind::Loose).count() < LOOSE_PARTNERS
}

/// Phrase shares of counted candidate pairs `(left, right)` at one boundary between units.
type PairShares = HashMap<(usize, usize), f32>;

/// A phrase share from which two translations read as one term: where the phrase doubles
/// a candidate's score.
const PHRASE_SHARE: f32 = 1.0 / PHRASE_GAIN;

/// The phrases of one run: maximal chains of adjacent units whose best candidates form
/// phrases of at least [`PHRASE_SHARE`], as the terms of those candidates in order.
fn run_phrases(cands: &[Vec<Candidate>], links: &Links) -> Vec<Vec<String>> {
    let mut out = Vec::new();
    let mut current: Vec<String> = Vec::new();
    for (i, c) in cands.iter().enumerate() {
        if !links.joined[i] {
            if current.len() > 1 {
                out.push(std::mem::take(&mut current));
            }
            current.clear();
        }
        if let Some(b) = links.best[i] {
            current.extend(c[b].terms.iter().cloned());
        }
    }
    if current.len() > 1 {
        out.push(current);
    }
    out
}

/// How a run's units hold together: each unit's best candidate (highest score above 0), and
/// whether it forms a phrase of the papers (share at least [`PHRASE_SHARE`]) with the
/// previous unit's best.
struct Links {
    best: Vec<Option<usize>>,
    /// `joined[i]`: unit `i` is joined to unit `i - 1` (never for the first).
    joined: Vec<bool>,
}

impl Links {
    fn of(cands: &[Vec<Candidate>], shares: &[PairShares]) -> Links {
        let best: Vec<Option<usize>> = cands
            .iter()
            .map(|c| {
                (0..c.len())
                    .filter(|&i| c[i].score > 0.0)
                    .max_by(|&x, &y| c[x].score.total_cmp(&c[y].score).then(y.cmp(&x)))
            })
            .collect();
        let joined = (0..cands.len())
            .map(|i| {
                i > 0
                    && matches!((best[i - 1], best[i]), (Some(a), Some(b))
                        if shares[i - 1].get(&(a, b)).is_some_and(|&s| s >= PHRASE_SHARE))
            })
            .collect();
        Links { best, joined }
    }

    /// Whether the papers confirm unit `i`'s best translation ([`Group::confirmed`]): it is
    /// joined to a neighbour, or alone in its run.
    fn confirmed(&self, i: usize) -> bool {
        self.joined.len() == 1 || self.joined[i] || self.joined.get(i + 1).copied().unwrap_or(false)
    }
}

/// The synonym group of `unit` from its scored candidates: those within [`KEEP_RATIO`] of
/// the best share one unit of weight by score.
///
/// The group's weight is the share of English among the papers naming the unit, `df(best
/// translation) / (df(best translation) + df(unit))`: 1 over English papers, little over
/// Chinese ones, which the Chinese words already match.
fn group(
    stats: &mut Stats<'_>,
    unit: String,
    mut cands: Vec<Candidate>,
    confirmed: bool,
) -> Result<Option<Group>, QueryError> {
    cands.retain(|c| c.score > 0.0);
    cands.sort_by(|a, b| b.score.total_cmp(&a.score));
    let Some(best) = cands.first().map(|c| c.score) else {
        return Ok(None);
    };
    let english = cands[0].df as f32;
    let chinese = stats.df(&unit)? as f32;
    let weight = english / (english + chinese);
    cands.retain(|c| c.score >= KEEP_RATIO * best && (c.kind != Kind::Head || c.score >= best));
    let sum: f32 = cands.iter().map(|c| c.score).sum();
    let mut terms: Vec<(String, f32)> = Vec::new();
    for c in &cands {
        let w = weight * c.score / sum;
        for t in &c.terms {
            match terms.iter_mut().find(|(u, _)| u == t) {
                Some((_, v)) => *v = (*v + w).min(1.0),
                None => terms.push((t.clone(), w)),
            }
        }
    }
    Ok(Some(Group {
        source: unit,
        shown: cands[0].gloss.clone(),
        english: weight,
        terms,
        confirmed,
    }))
}

/// A query with its translation: `query` OR-ed with the translated terms, each boosted by
/// its group weight. Ranks as that OR (term at a time when `query` is plain words); the
/// translation is kept for coverage, `--explain` and the JSON `sources`.
#[derive(Debug)]
pub struct Translated {
    query: Box<dyn Query>,
    terms: WeightedTerms,
    translation: Translation,
}

impl Translated {
    /// `query` with `translation`'s terms OR-ed to it.
    pub fn new(index: &PaperIndex, query: Box<dyn Query>, translation: Translation) -> Self {
        let field = index.fields().text;
        let terms = WeightedTerms::new(
            translation
                .weighted_terms()
                .into_iter()
                .map(|(t, w)| (Term::from_field_text(field, &t), w))
                .collect(),
        );
        Translated {
            query,
            terms,
            translation,
        }
    }

    /// The query as the user wrote it.
    pub fn original(&self) -> &dyn Query {
        self.query.as_ref()
    }

    /// The translated terms.
    pub fn terms(&self) -> &WeightedTerms {
        &self.terms
    }

    /// The translation.
    pub fn translation(&self) -> &Translation {
        &self.translation
    }

    /// The query without its phrases: the original OR the weighted terms (what term-at-a-time
    /// ranking reads; the phrases then re-rank its top documents, see `bm25::leg`).
    pub fn without_phrases(&self) -> Box<dyn Query> {
        let terms: Box<dyn Query> = Box::new(self.terms.clone());
        if self.query.downcast_ref::<EmptyQuery>().is_some() {
            return terms;
        }
        Box::new(BooleanQuery::new(vec![
            (Occur::Should, self.query.box_clone()),
            (Occur::Should, terms),
        ]))
    }

    fn combined(&self) -> Box<dyn Query> {
        let translated: Box<dyn Query> = Box::new(self.terms.clone());
        // `+required` and `-excluded` words keep their meaning: the translation only scores.
        let mut clauses: Vec<(Occur, Box<dyn Query>)> =
            match self.query.downcast_ref::<BooleanQuery>() {
                _ if self.query.downcast_ref::<EmptyQuery>().is_some() => Vec::new(),
                Some(b) if b.clauses().iter().any(|(o, _)| *o != Occur::Should) => b
                    .clauses()
                    .iter()
                    .map(|(o, q)| (*o, q.box_clone()))
                    .collect(),
                _ => vec![(Occur::Should, self.query.box_clone())],
            };
        clauses.push((Occur::Should, translated));
        let phrases = self.phrase_queries();
        let boost = phrase_boost(phrases.len());
        for phrase in phrases {
            clauses.push((
                Occur::Should,
                Box::new(BoostQuery::new(Box::new(phrase), boost)),
            ));
        }
        Box::new(BooleanQuery::new(clauses))
    }

    /// The translation's phrases as phrase queries on the translated terms' field.
    pub fn phrase_queries(&self) -> Vec<PhraseQuery> {
        let Some(field) = self.terms.terms().first().map(|(t, _)| t.field()) else {
            return Vec::new();
        };
        self.translation
            .phrases
            .iter()
            .map(|p| PhraseQuery::new(p.iter().map(|t| Term::from_field_text(field, t)).collect()))
            .collect()
    }
}

impl Clone for Translated {
    fn clone(&self) -> Self {
        Translated {
            query: self.query.box_clone(),
            terms: self.terms.clone(),
            translation: self.translation.clone(),
        }
    }
}

impl Query for Translated {
    fn weight(&self, enable_scoring: EnableScoring<'_>) -> tantivy::Result<Box<dyn Weight>> {
        self.combined().weight(enable_scoring)
    }

    fn query_terms<'a>(&'a self, visitor: &mut dyn FnMut(&'a Term, bool)) {
        self.query.query_terms(visitor);
        self.terms.query_terms(visitor);
    }
}

/// The text to embed for the query `text` over `index`: `text` followed by its English
/// translation when it has Chinese words and the papers they name are mostly English
/// ([`Translation::embedding_text`]); `text` as it is otherwise, or when the dictionary is
/// not loaded or the translation fails (the search itself warns about those).
pub fn embedding_text<'t>(index: &PaperIndex, text: &'t str) -> Cow<'t, str> {
    if !has_cjk(text) {
        return Cow::Borrowed(text);
    }
    let Ok(dict) = cedict::shared() else {
        return Cow::Borrowed(text);
    };
    let searcher = index.reader().searcher();
    match translate(index, &searcher, dict, text) {
        Ok(Some(t)) => t
            .embedding_text(text)
            .map_or(Cow::Borrowed(text), Cow::Owned),
        _ => Cow::Borrowed(text),
    }
}

/// The translation carried by `query`, if it is a [`Translated`] query.
pub fn of(query: &dyn Query) -> Option<&Translation> {
    query
        .downcast_ref::<Translated>()
        .map(Translated::translation)
}

/// `query` with the translation of `text`'s Chinese words, when it has any and the process's
/// dictionary is loaded (a warning says so when it is not).
pub fn translate_query(
    index: &PaperIndex,
    query: Box<dyn Query>,
    text: &str,
    warnings: &mut Vec<String>,
) -> Box<dyn Query> {
    if !has_cjk(text) {
        return query;
    }
    translate_query_with(index, query, text, cedict::shared(), warnings)
}

/// [`translate_query`] with a given dictionary, or the reason there is none (the query is
/// then searched as it is, with a warning).
pub fn translate_query_with(
    index: &PaperIndex,
    query: Box<dyn Query>,
    text: &str,
    dict: Result<&Dictionary, &str>,
    warnings: &mut Vec<String>,
) -> Box<dyn Query> {
    if !has_cjk(text) {
        return query;
    }
    let dict = match dict {
        Ok(d) => d,
        Err(why) => {
            warnings.push(format!("Chinese words were not translated: {why}"));
            return query;
        }
    };
    let searcher = index.reader().searcher();
    match translate(index, &searcher, dict, text) {
        Ok(Some(t)) => Box::new(Translated::new(index, query, t)),
        Ok(None) => query,
        Err(e) => {
            warnings.push(format!("Chinese words were not translated: {e}"));
            query
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_translation_informs_the_embedding_over_mostly_english_papers() {
        let group = |source: &str, english: f32| Group {
            source: source.into(),
            shown: "x".into(),
            english,
            terms: vec![("x".into(), english)],
            confirmed: true,
        };
        let mut t = Translation {
            text: "reinforce learn".into(),
            groups: vec![group("强化", 0.9), group("学习", 0.3)],
            ..Translation::default()
        };
        assert!((t.english_share() - 0.6).abs() < 1e-6);
        assert_eq!(
            t.embedding_text(" 强化学习 ").as_deref(),
            Some("强化学习 reinforce learn")
        );
        // Mostly Chinese papers name the words: the question is embedded as it is.
        t.groups[0].english = 0.6;
        assert!(!t.informs_embedding());
        assert_eq!(t.embedding_text("强化学习"), None);
        assert_eq!(Translation::default().english_share(), 0.0);
    }

    #[test]
    fn a_translation_is_shown_as_the_papers_spell_its_words() {
        let group = |source: &str, shown: &str| Group {
            source: source.into(),
            shown: shown.into(),
            english: 1.0,
            terms: Vec::new(),
            confirmed: true,
        };
        let t = Translation {
            text: "for reinforce learn of the robot arm ，now DNA".into(),
            groups: vec![
                group("强化", "reinforce"),
                group("学习", "learn of the robot"),
                group("脱氧核糖核酸", "DNA"),
            ],
            ..Translation::default()
        };
        let spellings: HashMap<String, String> = [
            ("reinforc", "reinforcement"),
            ("learn", "learning"),
            ("robot", "robots"),
            ("for", "FOR"),
            ("arm", "arms"),
            ("dna", "dna"),
        ]
        .into_iter()
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .collect();
        // Only the units' translations are respelled (not "for" or "arm" around them), word by
        // word; their words without a spelling ("of", "the") stay, and so do capitals ("DNA").
        assert_eq!(
            t.respelled(&spellings),
            "for reinforcement learning of the robots arm ，now DNA"
        );
        // A word no paper on the page holds keeps the dictionary's spelling.
        assert_eq!(t.respelled(&HashMap::new()), t.text);
    }

    fn dict() -> Dictionary {
        let text = "強化 强化 [qiang2 hua4] /to strengthen/to intensify/\n\
            學習 学习 [xue2 xi2] /to learn/to study/\n\
            語言 语言 [yu3 yan2] /language/\n\
            模型 模型 [mo2 xing2] /model/mold/\n\
            大 大 [da4] /big/large/\n\
            神經網絡 神经网络 [shen2 jing1 wang3 luo4] /neural network/\n\
            的 的 [de5] /of/\n";
        Dictionary::parse(text, std::path::Path::new("t")).expect("parses")
    }

    #[test]
    fn units_follow_the_dictionary_and_skip_function_words() {
        let d = dict();
        assert_eq!(units(&d, "强化学习"), ["强化", "学习"]);
        assert_eq!(
            units(&d, "大语言模型的神经网络"),
            ["大", "语言", "模型", "神经网络"]
        );
        assert!(units(&d, "的了吗").is_empty());
        // A character the dictionary lacks stands alone (and finds no translation later).
        assert_eq!(
            split_word(&d, "强化x学习", d.longest_word()),
            ["强化", "x", "学习"]
        );
    }

    #[test]
    fn the_head_of_a_two_word_gloss_is_its_last_word() {
        assert_eq!(
            gloss_head("electrical insulation").as_deref(),
            Some("insulation")
        );
        assert_eq!(gloss_head("gravitational wave").as_deref(), Some("wave"));
        for no in [
            "insulator",
            "to look up",
            "heat insulation (building)",
            "an error",
            "Albert Einstein",
        ] {
            assert_eq!(gloss_head(no), None, "{no}");
        }
    }

    #[test]
    fn derived_forms_name_what_verbs_do() {
        for (verb, noun) in [
            ("discover", "discovery"),
            ("retrieve", "retrieval"),
            ("generate", "generative"),
            ("generate", "generation"),
            ("molecule", "molecular"),
            ("topology", "topological"),
        ] {
            assert!(derived_forms(verb).contains(&noun.to_string()), "{verb}");
        }
        assert!(derived_forms("map").is_empty(), "too short");
        assert!(derived_forms("x-ray").is_empty());
    }
}
