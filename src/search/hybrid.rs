//! Hybrid retrieval beyond two fixed-weight legs: language-aware weighting and dense feedback.
//!
//! Two problems of plain fusion show up when the query and the papers are in different
//! languages (a Chinese question over English abstracts):
//!
//! * **A weak leg drags fusion down.** The BM25 leg of a Chinese query over English papers
//!   matches, at best, the few Latin-script words of the query. Its min-max normalized scores
//!   still reach 1.0, so a fixed weight lets noise outvote the dense leg. The BM25 weight is
//!   therefore scaled by the query's *term coverage*: the share of its analyzed terms that occur
//!   in the index at all (about 1 for an English question over English papers, about 0 for an
//!   unspaced Chinese sentence over English papers, whatever the language pair is).
//! * **The lexical signal is lost.** When the query's own words cannot be matched, the words of
//!   its nearest papers can: the *feedback leg* is a BM25 search for the terms that the top dense
//!   hits share (weighted by their dense score, tf and idf, RM3-style). A paper that combines
//!   several of the concepts the dense neighbours agree on rises.
//!
//! The BM25 weight a query cannot use goes to the dense and feedback legs, so English
//! questions over English papers (coverage 1) rank exactly as plain fusion ranks them.
//!
//! Coverage weighting is on by default; the feedback leg is opt-in (`--feedback-weight`)
//! until measured on the full cross-lingual set; see BENCHMARKS.md.

use std::collections::HashMap;

use tantivy::query::{BooleanQuery, BoostQuery, Occur, Query, TermQuery};
use tantivy::schema::IndexRecordOption;
use tantivy::tokenizer::TokenStream;
use tantivy::{Searcher, TantivyDocument, Term};

use super::bm25;
use super::dense;
use super::error::QueryError;
use super::facets::Facets;
use super::filters::FilterSet;
use super::fusion::{self, Fusion, FusionError};
use super::request::HybridParams;
use super::topk::Leg;
use super::translate;
use crate::analysis;
use crate::index::PaperIndex;

/// The leg weights `(bm25, dense, feedback)` for a query of term coverage `coverage`.
///
/// The part of the BM25 weight the query cannot use, `w_bm25 * (1 - c)`, is handed on:
/// a share `feedback_weight` to the feedback leg, the rest to the dense leg. Convex:
/// `w_bm25 = 1 - alpha`, `w_dense = alpha`; RRF: both 1. With coverage 1 (or coverage
/// weighting off) the weights are the plain two-leg ones.
pub fn weights(params: &HybridParams, fusion: Fusion, coverage: f32) -> (f32, f32, f32) {
    let c = if params.coverage_weighting {
        coverage.clamp(0.0, 1.0)
    } else {
        1.0
    };
    let (wb, wd) = match fusion {
        Fusion::Convex { alpha } => (1.0 - alpha, alpha),
        Fusion::Rrf { .. } => (1.0, 1.0),
    };
    let freed = wb * (1.0 - c);
    (
        wb * c,
        wd + freed * (1.0 - params.feedback_weight),
        freed * params.feedback_weight,
    )
}

/// The ranked lists hybrid search fuses, for one query.
#[derive(Debug, Clone, Default)]
pub struct HybridLegs {
    pub bm25: Leg,
    /// Papers matching the BM25 query and the filters.
    pub bm25_total: usize,
    pub dense: Leg,
    /// Papers passing the filters that have a vector (what the dense leg ranked).
    pub dense_total: usize,
    /// BM25 over the feedback terms (empty when the feedback leg is off for this query).
    pub feedback: Leg,
    /// The query's term coverage in `[0, 1]`.
    pub coverage: f32,
    /// Counts of the BM25 matches by source and category, when asked for.
    pub facets: Option<Facets>,
}

/// Fuses three ranked lists of any key with `fusion` and the weights of `params` at `coverage`.
pub fn fuse_legs<K: std::hash::Hash + Eq + Ord + Clone>(
    bm25: &[(K, f32)],
    dense: &[(K, f32)],
    feedback: &[(K, f32)],
    coverage: f32,
    fusion: Fusion,
    params: &HybridParams,
) -> Result<Vec<(K, f32)>, FusionError> {
    let (wb, wd, wf) = weights(params, fusion, coverage);
    match fusion {
        Fusion::Rrf { k } => fusion::rrf(&[bm25, dense, feedback], &[wb, wd, wf], k),
        Fusion::Convex { alpha } => {
            if !(0.0..=1.0).contains(&alpha) {
                return Err(FusionError::Alpha(alpha));
            }
            fusion::weighted_convex(&[bm25, dense, feedback], &[wb, wd, wf])
        }
    }
}

/// The BM25 leg of a hybrid search, ranked before (or while) the query is embedded: its top
/// `depth`, its match count and, when asked for, its facet counts.
pub struct Bm25Part {
    leg: Leg,
    total: usize,
    facets: Option<Facets>,
}

/// Ranks the BM25 leg of hybrid search for `query`, `depth` deep; with `facets`, it also
/// counts its matches by source and category in its pass.
pub fn bm25_part(
    index: &PaperIndex,
    searcher: &Searcher,
    query: &dyn Query,
    filters: &FilterSet,
    depth: usize,
    facets: bool,
) -> Result<Bm25Part, QueryError> {
    Ok(if facets {
        let (leg, f) = bm25::leg_with_facets(index, searcher, query.box_clone(), filters, depth)?;
        let total = usize::try_from(f.count).unwrap_or(usize::MAX);
        Bm25Part {
            leg,
            total,
            facets: Some(f),
        }
    } else {
        let (leg, total) = bm25::leg(index, searcher, query.box_clone(), filters, depth)?;
        Bm25Part {
            leg,
            total,
            facets: None,
        }
    })
}

/// Runs every leg hybrid search needs for one query, `depth` deep each (the feedback leg
/// only when the query has unknown terms and the feedback weight is positive); with
/// `facets`, the BM25 leg also counts its matches by source and category in its pass.
#[allow(clippy::too_many_arguments)]
pub fn legs(
    index: &PaperIndex,
    searcher: &Searcher,
    query: &dyn Query,
    vector: &[f32],
    filters: &FilterSet,
    depth: usize,
    params: &HybridParams,
    facets: bool,
) -> Result<HybridLegs, QueryError> {
    params.validate()?;
    let bm25 = bm25_part(index, searcher, query, filters, depth, facets)?;
    legs_after(index, searcher, query, bm25, vector, filters, depth, params)
}

/// [`legs`] with the BM25 leg already ranked ([`bm25_part`], same query, filters and depth).
#[allow(clippy::too_many_arguments)]
pub fn legs_after(
    index: &PaperIndex,
    searcher: &Searcher,
    query: &dyn Query,
    bm25: Bm25Part,
    vector: &[f32],
    filters: &FilterSet,
    depth: usize,
    params: &HybridParams,
) -> Result<HybridLegs, QueryError> {
    params.validate()?;
    let Bm25Part {
        leg: bm25,
        total: bm25_total,
        facets,
    } = bm25;
    let (dense, dense_total, _) = dense::leg(index, searcher, vector, filters, depth, false)?;
    let coverage = term_coverage(index, searcher, query)?;
    let feedback = if params.feedback_weight > 0.0 && coverage < 1.0 {
        let terms = feedback_terms(index, searcher, &dense, params)?;
        match feedback_query(index, &terms) {
            // Ranked only: its match count is never used.
            Some(q) => bm25::top(searcher, q, filters, depth)?,
            None => Vec::new(),
        }
    } else {
        Vec::new()
    };
    Ok(HybridLegs {
        bm25,
        bm25_total,
        dense,
        dense_total,
        feedback,
        coverage,
        facets,
    })
}

/// How far a translated unit counts as known for coverage: fully when the papers confirm
/// its translation ([`translate::Group::confirmed`]) or name it in Chinese; an unconfirmed
/// translation over English papers ("knowledge atlas" for 知识图谱) counts half, since
/// nothing says whether it is right.
pub fn unit_known(g: &translate::Group) -> f32 {
    if g.confirmed {
        1.0
    } else {
        1.0 - g.english.clamp(0.0, 1.0) * (1.0 - UNCONFIRMED_KNOWN)
    }
}

/// The part of coverage an unconfirmed translation over English papers counts for.
const UNCONFIRMED_KNOWN: f32 = 0.5;

/// Share of the analyzed terms of `query` (title, abstract and combined text fields) that
/// occur in at least one paper; 1.0 for a query without such terms.
///
/// Within one script, the terms count as known together once any of them is known (see the
/// body). A translated query ([`translate::Translated`]) counts by source words: its Chinese terms
/// give way to its translation units, each known when it has a translation the index holds
/// (each group; half known when over English papers and unconfirmed, see [`unit_known`]),
/// unknown when it has none.
pub fn term_coverage(
    index: &PaperIndex,
    searcher: &Searcher,
    query: &dyn Query,
) -> Result<f32, QueryError> {
    let (query, units) = match query.downcast_ref::<translate::Translated>() {
        Some(t) => {
            let tr = t.translation();
            let known: f32 = tr.groups.iter().map(unit_known).sum();
            (
                t.original(),
                Some((known, tr.groups.len() + tr.untranslated.len())),
            )
        }
        None => (query, None),
    };
    let f = index.fields();
    let fields = [f.text, f.title, f.abstract_text];
    let mut terms: Vec<Term> = Vec::new();
    query.query_terms(&mut |term, _| {
        if fields.contains(&term.field()) {
            // Coverage is judged on the combined field, which holds every title/abstract word.
            if let Some(text) = term.value().as_str() {
                if units.is_some() && translate::has_cjk(text) {
                    return;
                }
                terms.push(Term::from_field_text(f.text, text));
            }
        }
    });
    terms.sort();
    terms.dedup();
    let (mut known, mut total) = units.unwrap_or((0.0, 0));
    // Per script: a word of the query's script that the papers lack is a rare word, not a
    // sign that the papers are in another language, once some word of that script matches
    // (an English claim with one unknown name keeps its full BM25 weight); when none of
    // them matches, each counts against coverage.
    let (mut latin, mut latin_known, mut cjk, mut cjk_known) = (0, 0, 0, 0);
    for t in &terms {
        let is_known = searcher.doc_freq(t)? > 0;
        if t.value().as_str().is_some_and(translate::has_cjk) {
            cjk += 1;
            cjk_known += usize::from(is_known);
        } else {
            latin += 1;
            latin_known += usize::from(is_known);
        }
    }
    for (n, k) in [(latin, latin_known), (cjk, cjk_known)] {
        total += n;
        known += if k > 0 { n as f32 } else { 0.0 };
    }
    if total == 0 {
        return Ok(1.0);
    }
    Ok(known / total as f32)
}

/// Terms shared by the top dense hits, weighted RM3-style: for each term,
/// `sum_i p_i * tf_i / len_i` over the feedback papers (`p_i` = the paper's share of the
/// dense scores), times idf. Terms in fewer than two feedback papers (when there are two or
/// more) and terms in more than a tenth of the index are left out.
pub fn feedback_terms(
    index: &PaperIndex,
    searcher: &Searcher,
    dense: &Leg,
    params: &HybridParams,
) -> Result<Vec<(String, f32)>, QueryError> {
    let f = index.fields();
    let top: Vec<_> = dense.iter().take(params.feedback_docs).collect();
    if top.is_empty() {
        return Ok(Vec::new());
    }
    let score_sum: f32 = top.iter().map(|(_, s)| s.max(0.0)).sum();
    let mut analyzer = analysis::mixed_analyzer();
    // term -> (weighted tf sum, number of feedback papers containing it)
    let mut acc: HashMap<String, (f32, usize)> = HashMap::new();
    for (addr, score) in &top {
        let doc: TantivyDocument = searcher.doc(*addr)?;
        let mut tf: HashMap<String, f32> = HashMap::new();
        let mut len = 0usize;
        for field in [f.title, f.abstract_text] {
            for v in doc.get_all(field) {
                let Some(text) = tantivy::schema::Value::as_str(&v) else {
                    continue;
                };
                let mut stream = analyzer.token_stream(text);
                while stream.advance() {
                    let tok = &stream.token().text;
                    // Single characters and pure numbers carry no topic.
                    if tok.chars().count() < 2 || tok.chars().all(|c| c.is_ascii_digit()) {
                        continue;
                    }
                    *tf.entry(tok.clone()).or_insert(0.0) += 1.0;
                    len += 1;
                }
            }
        }
        if len == 0 {
            continue;
        }
        let p = if score_sum > 0.0 {
            score.max(0.0) / score_sum
        } else {
            1.0 / top.len() as f32
        };
        for (t, n) in tf {
            let e = acc.entry(t).or_insert((0.0, 0));
            e.0 += p * n / len as f32;
            e.1 += 1;
        }
    }
    let n_docs = searcher.num_docs().max(1) as f32;
    let min_papers = if top.len() >= 2 { 2 } else { 1 };
    let mut scored: Vec<(String, f32)> = Vec::new();
    for (t, (w, papers)) in acc {
        if papers < min_papers {
            continue;
        }
        let df = searcher.doc_freq(&Term::from_field_text(f.text, &t))? as f32;
        if df == 0.0 || df / n_docs > 0.1 {
            continue;
        }
        let idf = (1.0 + (n_docs - df + 0.5) / (df + 0.5)).ln();
        scored.push((t, w * idf));
    }
    scored.sort_by(|a, b| {
        b.1.partial_cmp(&a.1)
            .unwrap_or(std::cmp::Ordering::Equal)
            .then_with(|| a.0.cmp(&b.0))
    });
    scored.truncate(params.feedback_terms);
    Ok(scored)
}

/// The query of the feedback leg: each term boosted by its weight (relative to the best).
pub fn feedback_query(index: &PaperIndex, terms: &[(String, f32)]) -> Option<Box<dyn Query>> {
    let top = terms.first()?.1;
    if top <= 0.0 {
        return None;
    }
    let field = index.fields().text;
    let clauses = terms
        .iter()
        .map(|(t, w)| {
            let q = TermQuery::new(
                Term::from_field_text(field, t),
                IndexRecordOption::WithFreqs,
            );
            (
                Occur::Should,
                Box::new(BoostQuery::new(Box::new(q), w / top)) as Box<dyn Query>,
            )
        })
        .collect();
    Some(Box::new(BooleanQuery::new(clauses)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: (f32, f32, f32), b: (f32, f32, f32)) -> bool {
        (a.0 - b.0).abs() < 1e-6 && (a.1 - b.1).abs() < 1e-6 && (a.2 - b.2).abs() < 1e-6
    }

    #[test]
    fn full_coverage_gives_the_plain_weights() {
        let p = HybridParams::default();
        let convex = Fusion::Convex { alpha: 0.4 };
        assert!(close(weights(&p, convex, 1.0), (0.6, 0.4, 0.0)));
        assert!(close(
            weights(&p, Fusion::Rrf { k: 60.0 }, 1.0),
            (1.0, 1.0, 0.0)
        ));
        // Coverage weighting off: whatever the coverage.
        let plain = HybridParams::plain();
        assert!(close(weights(&plain, convex, 0.0), (0.6, 0.4, 0.0)));
    }

    #[test]
    fn unusable_bm25_weight_goes_to_dense_and_feedback() {
        let convex = Fusion::Convex { alpha: 0.4 };
        let mut p = HybridParams::default();
        // No known term: all of BM25's weight goes to dense (feedback off by default).
        assert!(close(weights(&p, convex, 0.0), (0.0, 1.0, 0.0)));
        // Half the terms known: half of it moves.
        assert!(close(weights(&p, convex, 0.5), (0.3, 0.7, 0.0)));
        // With feedback on, the freed weight is split.
        p.feedback_weight = 0.5;
        assert!(close(weights(&p, convex, 0.0), (0.0, 0.7, 0.3)));
        assert!(close(
            weights(&p, Fusion::Rrf { k: 60.0 }, 0.25),
            (0.25, 1.375, 0.375)
        ));
        // Coverage outside [0, 1] is clamped; the weights always sum as the plain ones do.
        assert!(close(weights(&p, convex, 7.0), (0.6, 0.4, 0.0)));
        let (b, d, f) = weights(&p, convex, 0.3);
        assert!((b + d + f - 1.0).abs() < 1e-6);
    }

    #[test]
    fn fuse_legs_weights_the_lists_exactly() {
        let bm25 = [("a", 10.0), ("b", 5.0), ("c", 0.0)];
        let dense = [("c", 0.9), ("d", 0.1)];
        let convex = Fusion::Convex { alpha: 0.5 };
        let p = HybridParams::default();
        // Coverage 1: plain convex fusion of min-max normalized scores.
        let fused = fuse_legs(&bm25, &dense, &[], 1.0, convex, &p).expect("fused");
        assert_eq!(fused, vec![("a", 0.5), ("c", 0.5), ("b", 0.25), ("d", 0.0)]);
        // Coverage 0: BM25 has no say, the dense order wins.
        let fused = fuse_legs(&bm25, &dense, &[], 0.0, convex, &p).expect("fused");
        assert_eq!(fused[0], ("c", 1.0));
        assert!(fused
            .iter()
            .filter(|(k, _)| *k == "a" || *k == "b")
            .all(|(_, s)| *s == 0.0));
        // An alpha out of range is an error, not a ranking.
        let bad = Fusion::Convex { alpha: 1.5 };
        assert_eq!(
            fuse_legs(&bm25, &dense, &[], 1.0, bad, &p),
            Err(FusionError::Alpha(1.5))
        );
        // Empty legs fuse to nothing.
        let none: [(&str, f32); 0] = [];
        assert!(fuse_legs(&none, &none, &none, 0.5, convex, &p)
            .expect("fused")
            .is_empty());
    }
}
