//! One search request over the Milvus backend, with the same request and response as the
//! tantivy path ([`super::run`]): Milvus runs each leg (BM25 over its analyzed `text`, the
//! dense vector search, both within the request's filters as a Milvus expression), and
//! AcademicHub's own plan, coverage weighting, fusion, explanations and snippets run on top.
//!
//! What differs, said in the response's warnings when a request meets it: Milvus ranks plain
//! words (no phrases, `+`/`-` or `field:` terms: they are read as plain words, and `-` words
//! are left out), and facets count the ranked candidates, not every match. Milvus does not
//! stem (milvus-lite offers no English analyzer) and its `standard` tokenizer takes a run of
//! Chinese characters for one word, so the collection's `text` holds the index's terms
//! ([`analysis::terms_text`]) and a query searches its words' terms.
//!
//! Chinese words are translated as on the index ([`translate`]), with the statistics of the
//! deployment's vocabulary sample ([`vocabulary`]: an even sample of the collection's papers in
//! a small local index) in place of the index's own; the BM25 leg then searches the query's
//! terms and the translation's English terms, weighted as on the index. A Milvus BM25 search
//! takes text, not weighted terms, but it scores a word by its count in the query text (the
//! query's side of BM25), so a word weighing `w` is written `round(w * WEIGHT_STEPS)` times
//! and the query's own words `WEIGHT_STEPS` times.

use std::borrow::Cow;
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use super::error::QueryError;
use super::facets::Facets;
use super::fusion;
use super::hybrid;
use super::request::{Filters, Mode, SearchRequest};
use super::response::{Hit, SearchResults, Sources};
use super::run::{resolve_plan, Plan};
use super::snippets::Snippets;
use super::translate::{self, Translation};
use crate::analysis;
use crate::index::milvus::{days, quote, MilvusStore};
use crate::index::vocabulary::{self, Vocabulary};
use crate::index::QUERYABLE_FIELDS;
use crate::paper::PaperId;

/// Most distinct query words whose document frequency is looked up (one count each).
pub const MAX_COUNTED_WORDS: usize = 16;

/// The request's filters as a Milvus boolean expression ("" when there are none).
pub fn filter_expr(filters: &Filters) -> String {
    let mut parts = Vec::new();
    let list = |xs: &[String]| xs.iter().map(|x| quote(x)).collect::<Vec<_>>().join(", ");
    if !filters.categories.is_empty() {
        let spellings: Vec<String> = filters
            .categories
            .iter()
            .flat_map(|c| category_spellings(c))
            .collect();
        parts.push(format!(
            "array_contains_any(categories, [{}])",
            list(&spellings)
        ));
    }
    if !filters.sources.is_empty() {
        parts.push(format!("source in [{}]", list(&filters.sources)));
    }
    if let Some(d) = filters.from {
        parts.push(format!("published >= {}", days(d)));
    }
    if let Some(d) = filters.to {
        parts.push(format!("published <= {}", days(d)));
    }
    parts.join(" and ")
}

/// The spellings of a category a filter matches. The index compares categories without case;
/// Milvus compares stored strings exactly, so a category is looked for as given, lowercased
/// (what radars save) and in arXiv's own case: the archive in lowercase, a two-letter
/// subject class in capitals (`cs.AI`, `q-bio.NC`), longer ones in lowercase
/// (`cond-mat.mtrl-sci`).
fn category_spellings(category: &str) -> Vec<String> {
    let given = category.trim();
    let lower = given.to_lowercase();
    let arxiv = match lower.split_once('.') {
        Some((archive, class))
            if class.len() == 2 && class.chars().all(|c| c.is_ascii_alphabetic()) =>
        {
            format!("{archive}.{}", class.to_ascii_uppercase())
        }
        _ => lower.clone(),
    };
    let mut out = vec![given.to_string(), lower, arxiv];
    out.sort();
    out.dedup();
    out
}

/// The words of `query` Milvus ranks with, as the index's terms (lowercased, stemmed, Chinese
/// cut by jieba: what the collection's `text` holds): query syntax read as plain words
/// (`-word` left out, `field:` prefixes dropped), English stopwords left out (unless there is
/// nothing else); `true` when the query used syntax the backend cannot apply.
pub fn plain_words(query: &str) -> (Vec<String>, bool) {
    let mut words = Vec::new();
    let mut syntax = query.contains('"');
    for token in query.split_whitespace() {
        let mut t = token;
        if let Some(rest) = t.strip_prefix('-') {
            syntax = true;
            if !rest.is_empty() {
                continue;
            }
        }
        if let Some(rest) = t.strip_prefix('+') {
            syntax = true;
            t = rest;
        }
        if let Some((field, rest)) = t.split_once(':') {
            if QUERYABLE_FIELDS.contains(&field.to_ascii_lowercase().as_str()) {
                syntax = true;
                t = rest;
            }
        }
        analysis::raw_words(t, |_, _, w| words.push(w.to_lowercase()));
    }
    // Stopwords are left out unless the query has nothing else ("to be or not to be"), as
    // on the index.
    let content = |w: &String| w.chars().any(analysis::is_cjk) || !analysis::is_english_stopword(w);
    if words.iter().any(content) {
        words.retain(content);
    }
    let terms = words
        .iter()
        .filter_map(|w| analysis::normalize_word(w))
        .collect();
    (terms, syntax)
}

/// A Chinese query's translation on the Milvus backend, and the English words the BM25 leg
/// searches for it.
#[derive(Debug, Clone)]
pub struct MilvusTranslation {
    pub translation: Translation,
    /// The translation's terms with their weights (summed over units, as the index ranks
    /// them). Terms too light to be written once ([`WEIGHT_STEPS`]) are left out.
    pub words: Vec<(String, f32)>,
}

/// The resolution of term weights in a Milvus BM25 query: a word of the query itself is
/// written this many times, a translated term of weight `w` (at most 1) `round(w *
/// WEIGHT_STEPS)` times, so weights are kept to the nearest quarter.
pub const WEIGHT_STEPS: usize = 4;

/// Times a word of weight `w` is written in a Milvus BM25 query (0: left out; at most four
/// query words' worth, for a term several units translate to).
fn repeats(w: f32) -> usize {
    (w.max(0.0) * WEIGHT_STEPS as f32)
        .round()
        .min(WEIGHT_STEPS as f32 * 4.0) as usize
}

/// Where `store`'s deployment keeps its vocabulary sample (in its local state directory).
fn vocabulary_dir(store: &MilvusStore) -> Result<std::path::PathBuf, String> {
    store.state_dir().map(vocabulary::dir_in).ok_or_else(|| {
        "the deployment has no local state directory for the vocabulary sample".into()
    })
}

/// The vocabulary sample of `store`'s deployment this process has loaded, or why there is
/// none. `serve` loads it on its warm-up thread, `search` and `eval` with [`load_vocabulary`].
fn loaded_vocabulary(store: &MilvusStore) -> Result<Arc<Vocabulary>, String> {
    vocabulary::loaded(&vocabulary_dir(store)?).ok_or_else(|| {
        "the vocabulary sample of the collection is still being read (serve reads it at \
         start-up)"
            .to_string()
    })
}

/// Loads (or builds, the first time) the vocabulary sample query translation reads on
/// `store`'s deployment; blocks while it reads the sample. An error says why Chinese words
/// will be searched untranslated.
pub fn load_vocabulary(store: &MilvusStore) -> Result<Arc<Vocabulary>, String> {
    vocabulary::load(store, &vocabulary_dir(store)?).map_err(|e| e.to_string())
}

/// Draws the deployment's vocabulary sample again when the collection has outgrown the one
/// loaded ([`vocabulary::refresh`]); `Ok(true)` when it did.
pub fn refresh_vocabulary(store: &MilvusStore) -> Result<bool, String> {
    vocabulary::refresh(store, &vocabulary_dir(store)?)
        .map(|v| v.is_some())
        .map_err(|e| e.to_string())
}

/// The translation of `text`'s Chinese words over the deployment's vocabulary sample, `None`
/// when it has none, none translates, or there is no sample or dictionary (a warning then
/// says so).
pub fn translate_query(
    store: &MilvusStore,
    text: &str,
    warnings: &mut Vec<String>,
) -> Option<MilvusTranslation> {
    if !translate::has_cjk(text) {
        return None;
    }
    let found = loaded_vocabulary(store).and_then(|vocab| {
        let dict = translate::shared()?;
        let index = vocab.index();
        let searcher = index.reader().searcher();
        let t = translate::translate(index, &searcher, dict, text).map_err(|e| e.to_string())?;
        Ok(t)
    });
    let translation = match found {
        Ok(Some(t)) => t,
        Ok(None) => return None,
        Err(why) => {
            warnings.push(format!("Chinese words were not translated: {why}"));
            return None;
        }
    };
    let words = translation
        .weighted_terms()
        .into_iter()
        .filter(|(_, w)| repeats(*w) > 0)
        .collect();
    Some(MilvusTranslation { translation, words })
}

/// The text the dense leg embeds for `text` on the Milvus backend: with its English
/// translation appended when the papers its Chinese words name are mostly English
/// ([`Translation::embedding_text`]), as on the index; `text` as it is otherwise.
pub fn embedding_text<'t>(store: &MilvusStore, text: &'t str) -> Cow<'t, str> {
    let mut ignored = Vec::new();
    match translate_query(store, text, &mut ignored) {
        Some(t) => t
            .translation
            .embedding_text(text)
            .map_or(Cow::Borrowed(text), Cow::Owned),
        None => Cow::Borrowed(text),
    }
}

/// Runs a search over the Milvus collection of `store`.
pub fn search(store: &MilvusStore, req: &SearchRequest) -> Result<SearchResults, QueryError> {
    req.validate()?;
    let mut warnings = Vec::new();
    let plan = resolve_plan(req, &mut warnings)?;
    let (words, syntax) = plain_words(&req.query);
    if syntax {
        warnings.push(
            "the milvus backend ranks plain words: phrases, + and field: are read as plain \
             words and -words are left out"
                .into(),
        );
    }
    let translated = if req.translate && plan.mode() != Mode::Dense {
        translate_query(store, &req.query, &mut warnings)
    } else {
        None
    };
    if plan.mode() == Mode::Hybrid && req.hybrid.feedback_weight > 0.0 {
        warnings.push("the feedback leg is not available on the milvus backend".into());
    }
    let filter = filter_expr(&req.filters);
    let searched = with_translation(&words, translated.as_ref());
    let text = bm25_text(&words, translated.as_ref());
    // Which words the papers hold, probed once for coverage and snippets.
    let weighting = plan.mode() == Mode::Hybrid && req.hybrid.coverage_weighting;
    let probed = if req.snippets || weighting {
        probes(store, &searched)?
    } else {
        Vec::new()
    };
    let want = req.offset + req.k;
    let mut by_meaning = None;
    // Whether the legs returned every paper they could rank (facets then count them all).
    let all_ranked;
    let (list, total): (Vec<(PaperId, f32, Sources)>, usize) = match plan {
        // An empty query lists every paper passing the filters, as on the index (newest first
        // here: Milvus has no order of its own to keep).
        Plan::Bm25 if req.query.trim().is_empty() => {
            let today = time::OffsetDateTime::now_utc().date();
            let (ids, total) = store.newest(&filter, want, today)?;
            let total = usize::try_from(total).unwrap_or(usize::MAX);
            all_ranked = ids.len() >= total;
            let list = ids
                .into_iter()
                .map(|id| (id, 0.0, Sources::default()))
                .collect();
            (list, total)
        }
        Plan::Bm25 => {
            let depth = want.max(fusion::DEFAULT_DEPTH);
            let leg = store.bm25(&text, &filter, depth)?;
            let total = ranked_total(leg.len(), depth, &mut warnings);
            all_ranked = leg.len() < depth;
            (single(leg, bm25_marks), total)
        }
        Plan::Dense(v) => {
            let leg = store.dense(v, &filter, want)?;
            let total = dense_total(store, &filter)?;
            by_meaning = Some(total);
            all_ranked = leg.len() >= total;
            (single(leg, dense_marks), total)
        }
        Plan::Hybrid(v) => {
            let depth = want.max(fusion::DEFAULT_DEPTH);
            // Coverage from the probes already made for the snippets.
            let coverage = match (weighting, &translated) {
                (false, _) => 1.0,
                (true, None) => coverage(&probed),
                (true, Some(t)) => translated_coverage(&probed, &words, &t.translation),
            };
            let (bm25, dense) = legs(store, &text, v, &filter, depth)?;
            let fused = hybrid::fuse_legs(&bm25, &dense, &[], coverage, req.fusion, &req.hybrid)
                .map_err(super::error::InvalidParam::Fusion)?;
            let total = ranked_total(bm25.len(), depth, &mut warnings).max(fused.len());
            all_ranked = bm25.len() < depth && dense.len() < depth;
            by_meaning = Some(dense_total(store, &filter)?);
            let (b, d) = (positions(&bm25), positions(&dense));
            let list = fused
                .into_iter()
                .map(|(id, s)| {
                    let (b, d) = (b.get(&id), d.get(&id));
                    let src = Sources {
                        bm25_rank: b.map(|x| x.0),
                        bm25_score: b.map(|x| x.1),
                        dense_rank: d.map(|x| x.0),
                        dense_score: d.map(|x| x.1),
                        fused_score: Some(s),
                        ..Sources::default()
                    };
                    (id, s, src)
                })
                .collect();
            (list, total)
        }
    };
    let facets = if req.facets {
        let f = candidate_facets(store, &list)?;
        if !all_ranked {
            warnings.push(format!(
                "facet counts on the milvus backend cover the {} best-ranked papers, not all \
                 {total} matches (Milvus does not count facets over a search's matches)",
                f.count
            ));
        }
        Some(f)
    } else {
        None
    };
    let mut hits = page(store, &probed, list, req)?;
    // The translation shown is the one used (by the BM25 leg; a dense search embeds it only
    // over mostly English papers, see `embedding_text`), its words spelled as the papers on the
    // page spell them.
    let shown = |t: &Translation| t.respelled(&crate::search::snippets::spellings(&hits));
    let translation = match (&translated, plan.mode()) {
        (Some(t), _) => Some(shown(&t.translation)),
        (None, Mode::Dense) if req.translate && translate::has_cjk(&req.query) => {
            let mut ignored = Vec::new();
            translate_query(store, &req.query, &mut ignored)
                .filter(|t| t.translation.informs_embedding())
                .map(|t| shown(&t.translation))
        }
        (None, _) => None,
    };
    if translation.is_some() {
        for h in &mut hits {
            h.sources.translation.clone_from(&translation);
        }
    }
    Ok(SearchResults {
        hits,
        total,
        mode: plan.mode(),
        ranked_by_meaning: by_meaning,
        warnings,
        translation,
        facets,
    })
}

/// The two legs of a hybrid search, `depth` deep, and the query's coverage (1 without
/// coverage weighting).
pub type Legs = (Vec<(PaperId, f32)>, Vec<(PaperId, f32)>, f32);

/// Runs both legs of hybrid search for the plain `words` of a query in Milvus (with the
/// English words of its translation, when it has one), and its coverage when `weighting`.
pub fn hybrid_legs(
    store: &MilvusStore,
    words: &[String],
    translated: Option<&MilvusTranslation>,
    vector: &[f32],
    filter: &str,
    depth: usize,
    weighting: bool,
) -> Result<Legs, QueryError> {
    let coverage = match (weighting, translated) {
        (false, _) => 1.0,
        (true, None) => coverage(&probes(store, words)?),
        (true, Some(t)) => translated_coverage(&probes(store, words)?, words, &t.translation),
    };
    let (bm25, dense) = legs(store, &bm25_text(words, translated), vector, filter, depth)?;
    Ok((bm25, dense, coverage))
}

/// The words the BM25 leg searches: the query's own, then its translation's.
pub fn with_translation(words: &[String], translated: Option<&MilvusTranslation>) -> Vec<String> {
    let mut searched = words.to_vec();
    if let Some(t) = translated {
        for (w, _) in &t.words {
            if !searched.contains(w) {
                searched.push(w.clone());
            }
        }
    }
    searched
}

/// The text of the BM25 leg's Milvus search: the query's own `words`, and with a translation
/// each of its words as many times as its weight says ([`WEIGHT_STEPS`]; the query's own words
/// then [`WEIGHT_STEPS`] times each, so they weigh 1).
pub fn bm25_text(words: &[String], translated: Option<&MilvusTranslation>) -> String {
    let Some(t) = translated.filter(|t| !t.words.is_empty()) else {
        return words.join(" ");
    };
    let mut weighted: Vec<(&str, f32)> = words.iter().map(|w| (w.as_str(), 1.0)).collect();
    for (w, weight) in &t.words {
        match weighted.iter_mut().find(|(u, _)| u == w) {
            Some((_, v)) => *v += weight,
            None => weighted.push((w, *weight)),
        }
    }
    let mut text = Vec::new();
    for (w, weight) in weighted {
        text.extend(std::iter::repeat_n(w, repeats(weight)));
    }
    text.join(" ")
}

/// The BM25 and dense legs, `depth` deep.
type LegPair = (Vec<(PaperId, f32)>, Vec<(PaperId, f32)>);

fn legs(
    store: &MilvusStore,
    text: &str,
    vector: &[f32],
    filter: &str,
    depth: usize,
) -> Result<LegPair, QueryError> {
    let bm25 = store.bm25(text, filter, depth)?;
    let dense = store.dense(vector, filter, depth)?;
    Ok((bm25, dense))
}

/// How many papers the BM25 leg matched, from the `ranked` it returned at `depth`: exact below
/// the depth, else a lower bound, and the response says so. Counting every match
/// (`TEXT_MATCH`) took 0.66 s on milvus-lite at 5,183 papers, too slow for every search.
fn ranked_total(ranked: usize, depth: usize, warnings: &mut Vec<String>) -> usize {
    if ranked >= depth {
        warnings.push(format!(
            "total counts the {ranked} papers ranked by words; more match (the milvus backend \
             does not count every match)"
        ));
    }
    ranked
}

/// Papers the dense leg can rank: those with a vector, within the filters.
fn dense_total(store: &MilvusStore, filter: &str) -> Result<usize, QueryError> {
    let n = store.count_with_vectors(filter)?;
    Ok(usize::try_from(n).unwrap_or(usize::MAX))
}

/// The query's distinct words (at most [`MAX_COUNTED_WORDS`]), each with the BM25 score of
/// its best paper (`None`: no paper holds it). Counting a word's papers (`TEXT_MATCH`) took
/// 0.66 s on milvus-lite at 5,183 papers; one search of depth 1 says as much as coverage needs,
/// and its score grows with the word's rarity, which is what snippets weigh.
fn probes(store: &MilvusStore, words: &[String]) -> Result<Vec<(String, Option<f32>)>, QueryError> {
    let mut distinct: Vec<&String> = words.iter().collect();
    distinct.sort();
    distinct.dedup();
    distinct.truncate(MAX_COUNTED_WORDS);
    let words: Vec<String> = distinct.into_iter().cloned().collect();
    let best = store.probe_all(&words)?;
    Ok(words.into_iter().zip(best).collect())
}

/// Share of the query's distinct words some paper holds, per script as in
/// [`hybrid::term_coverage`]: once any word of a script is known, that script's words all
/// count as known (a rare name in an English question is not a sign of another language).
fn coverage(probes: &[(String, Option<f32>)]) -> f32 {
    let (mut latin, mut latin_known, mut cjk, mut cjk_known) = (0, 0, 0, 0);
    for (w, best) in probes {
        let known = best.is_some();
        if w.chars().any(analysis::is_cjk) {
            cjk += 1;
            cjk_known += usize::from(known);
        } else {
            latin += 1;
            latin_known += usize::from(known);
        }
    }
    let total = latin + cjk;
    if total == 0 {
        return 1.0;
    }
    let known: usize = [(latin, latin_known), (cjk, cjk_known)]
        .into_iter()
        .map(|(n, k)| if k > 0 { n } else { 0 })
        .sum();
    known as f32 / total as f32
}

/// [`coverage`] of a translated query, counted by source words as on the index
/// ([`hybrid::term_coverage`]): its Chinese words give way to its translation units (each
/// known as far as [`hybrid::unit_known`] says, an untranslated one unknown), its other words
/// count per script as usual. `words` are the query's own words (the probes hold the
/// translation's too).
fn translated_coverage(probes: &[(String, Option<f32>)], words: &[String], t: &Translation) -> f32 {
    let own: Vec<(String, Option<f32>)> = probes
        .iter()
        .filter(|(w, _)| words.contains(w) && !translate::has_cjk(w))
        .cloned()
        .collect();
    let (latin, latin_known) = (
        own.len(),
        own.iter().filter(|(_, best)| best.is_some()).count(),
    );
    let units = t.groups.len() + t.untranslated.len();
    let known_units: f32 = t.groups.iter().map(hybrid::unit_known).sum();
    let total = latin + units;
    if total == 0 {
        return 1.0;
    }
    let known_latin = if latin_known > 0 { latin as f32 } else { 0.0 };
    (known_latin + known_units) / total as f32
}

/// Source and primary-category counts of the ranked candidates (every paper a leg returned:
/// the page's and those after it, up to the legs' depth).
fn candidate_facets(
    store: &MilvusStore,
    ranked: &[(PaperId, f32, Sources)],
) -> Result<Facets, QueryError> {
    let ids: Vec<PaperId> = ranked.iter().map(|(id, _, _)| id.clone()).collect();
    let mut f = Facets::default();
    for (source, primary) in store.facet_values(&ids)? {
        f.count += 1;
        *f.by_source.entry(source).or_default() += 1;
        if !primary.is_empty() {
            *f.by_primary_category.entry(primary).or_default() += 1;
        }
    }
    Ok(f)
}

fn positions(leg: &[(PaperId, f32)]) -> HashMap<PaperId, (usize, f32)> {
    leg.iter()
        .enumerate()
        .map(|(i, (id, s))| (id.clone(), (i + 1, *s)))
        .collect()
}

fn bm25_marks(src: &mut Sources, rank: usize, score: f32) {
    src.bm25_rank = Some(rank);
    src.bm25_score = Some(score);
}

fn dense_marks(src: &mut Sources, rank: usize, score: f32) {
    src.dense_rank = Some(rank);
    src.dense_score = Some(score);
}

fn single(
    leg: Vec<(PaperId, f32)>,
    mark: fn(&mut Sources, usize, f32),
) -> Vec<(PaperId, f32, Sources)> {
    leg.into_iter()
        .enumerate()
        .map(|(i, (id, s))| {
            let mut src = Sources::default();
            mark(&mut src, i + 1, s);
            (id, s, src)
        })
        .collect()
}

/// The requested page: papers read from the collection, snippets from their stored text with
/// the highlighter of the tantivy path (query words weighted by their probe's BM25 score, which
/// grows with rarity as the tantivy path's `1 / (1 + df)` does).
fn page(
    store: &MilvusStore,
    probed: &[(String, Option<f32>)],
    ranked: Vec<(PaperId, f32, Sources)>,
    req: &SearchRequest,
) -> Result<Vec<Hit>, QueryError> {
    let ranked: Vec<_> = ranked.into_iter().skip(req.offset).take(req.k).collect();
    let ids: Vec<PaperId> = ranked.iter().map(|(id, _, _)| id.clone()).collect();
    let mut papers: HashMap<PaperId, crate::paper::Paper> = store
        .papers(&ids)?
        .into_iter()
        .map(|p| (p.id.clone(), p))
        .collect();
    let snippets = if req.snippets {
        let mut weights = BTreeMap::new();
        // The probed words are terms already.
        for (term, best) in probed {
            if let Some(score) = best {
                weights.insert(term.clone(), *score);
            }
        }
        Some(Snippets::from_weights(weights))
    } else {
        None
    };
    let mut hits = Vec::with_capacity(ranked.len());
    for (i, (id, score, sources)) in ranked.into_iter().enumerate() {
        // A paper deleted between the legs and this read drops out of the page.
        let Some(paper) = papers.remove(&id) else {
            continue;
        };
        hits.push(Snippets::hit(
            snippets.as_ref(),
            req.offset + i + 1,
            score,
            paper,
            sources,
        ));
    }
    Ok(hits)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bm25_text_writes_each_word_as_often_as_it_weighs() {
        let words: Vec<String> = vec!["bert".into(), "强化学习".into()];
        assert_eq!(bm25_text(&words, None), "bert 强化学习");
        let t = MilvusTranslation {
            translation: Translation::default(),
            words: vec![
                ("reinforcement".into(), 1.0),
                ("learning".into(), 0.55),
                ("bert".into(), 0.25),
                ("study".into(), 0.1),
            ],
        };
        // The query's own words weigh 1 (a translated term repeating one adds to it); a
        // term lighter than half a step is left out.
        assert_eq!(
            bm25_text(&words, Some(&t)),
            "bert bert bert bert bert 强化学习 强化学习 强化学习 强化学习 reinforcement \
             reinforcement reinforcement reinforcement learning learning"
        );
        assert_eq!(
            with_translation(&words, Some(&t)),
            ["bert", "强化学习", "reinforcement", "learning", "study"]
        );
        // No translated words: the query as it is.
        let none = MilvusTranslation {
            translation: Translation::default(),
            words: Vec::new(),
        };
        assert_eq!(bm25_text(&words, Some(&none)), "bert 强化学习");
    }

    #[test]
    fn filters_become_one_expression() {
        assert_eq!(filter_expr(&Filters::default()), "");
        let f = Filters {
            categories: vec!["cs.CL".into(), "cs.\"X".into()],
            sources: vec!["arxiv".into()],
            from: time::Date::from_calendar_date(1970, time::Month::January, 11).ok(),
            to: None,
        };
        assert_eq!(
            filter_expr(&f),
            r#"array_contains_any(categories, ["cs.CL", "cs.cl", "cs.\"X", "cs.\"x"]) and source in ["arxiv"] and published >= 10"#
        );
    }

    #[test]
    fn a_category_is_matched_in_every_case_it_is_stored_in() {
        assert_eq!(category_spellings("cs.ai"), ["cs.AI", "cs.ai"]);
        assert_eq!(
            category_spellings("Q-BIO.NC"),
            ["Q-BIO.NC", "q-bio.NC", "q-bio.nc"]
        );
        assert_eq!(
            category_spellings("cond-mat.mtrl-sci"),
            ["cond-mat.mtrl-sci"]
        );
        assert_eq!(category_spellings("hep-th"), ["hep-th"]);
    }

    #[test]
    fn query_syntax_is_read_as_plain_words() {
        assert_eq!(
            plain_words("how do speech tokens affect LLM reasoning?"),
            (
                vec!["speech", "token", "affect", "llm", "reason"]
                    .into_iter()
                    .map(String::from)
                    .collect(),
                false
            )
        );
        let (w, syntax) = plain_words(r#"title:"graph neural" +networks -survey"#);
        // As the index's terms: stemmed, as the collection's text holds them.
        assert_eq!(w, vec!["graph", "neural", "network"]);
        assert!(syntax);
        let (w, _) = plain_words("强化学习 for robots");
        assert_eq!(w, vec!["强化", "学习", "robot"]);
        let (w, _) = plain_words("Of the AND");
        assert_eq!(w, vec!["of", "the", "and"]);
    }
}
