//! The BM25 legs: a query's top documents under the request's filters, with the match count
//! and, on request, the facet counts of every match.
//!
//! A plain OR of words (the common shape, see [`super::taat`]) is ranked term at a time;
//! any other shape (phrases, field queries, nested +/-) goes through tantivy's own scorers.
//! Both rank identically (same scores, ties by address).

use tantivy::collector::{Count, TopDocs};
use tantivy::query::{EnableScoring, PhraseQuery, Query};
use tantivy::DocSet;
use tantivy::Searcher;

use super::error::QueryError;
use super::facets::{Facets, OrdinalFacets};
use super::filters::FilterSet;
use super::parse::scored_text_fields;
use super::taat::{self, TermDisjunction};
use super::topk::Leg;
use super::translate::{phrase_boost, Translated};
use crate::index::PaperIndex;

/// The query as a plain OR of scored terms, when it is one (a translated query without its
/// phrases, which re-rank its top documents after).
fn term_disjunction(index: &PaperIndex, query: &dyn Query) -> Option<TermDisjunction> {
    let fields = scored_text_fields(index);
    match query.downcast_ref::<Translated>() {
        Some(t) => TermDisjunction::of(t.without_phrases().as_ref(), &fields),
        None => TermDisjunction::of(query, &fields),
    }
}

/// Candidates ranked term at a time before a translated query's phrases re-rank them: the
/// phrase scores only ever raise a document, and a paper holding a phrase holds its terms.
const PHRASE_POOL: usize = 200;

/// The phrases of a translated query, when it has any.
fn phrases(query: &dyn Query) -> Vec<PhraseQuery> {
    query
        .downcast_ref::<Translated>()
        .map(Translated::phrase_queries)
        .unwrap_or_default()
}

/// How deep term-at-a-time ranking goes for `depth` results of `query`.
fn pool(query: &dyn Query, depth: usize) -> usize {
    if phrases(query).is_empty() {
        depth
    } else {
        depth.max(PHRASE_POOL)
    }
}

/// Adds to each ranked document the BM25 score of every phrase of `query` it holds, times
/// [`phrase_boost`] (what tantivy's scorers give the OR of terms and boosted phrases),
/// re-sorts and keeps `depth`: a seek per document and phrase, instead of phrase matching
/// over every paper.
fn rescore_phrases(
    searcher: &Searcher,
    query: &dyn Query,
    mut top: Leg,
    depth: usize,
) -> Result<Leg, QueryError> {
    let phrases = phrases(query);
    if phrases.is_empty() {
        return Ok(top);
    }
    let boost = phrase_boost(phrases.len());
    let mut order: Vec<usize> = (0..top.len()).collect();
    order.sort_by_key(|&i| top[i].0);
    for phrase in phrases {
        let weight = phrase.weight(EnableScoring::enabled_from_searcher(searcher))?;
        let mut current: Option<(u32, Box<dyn tantivy::query::Scorer>)> = None;
        for &i in &order {
            let addr = top[i].0;
            if current
                .as_ref()
                .is_none_or(|(ord, _)| *ord != addr.segment_ord)
            {
                let segment = searcher.segment_reader(addr.segment_ord);
                current = Some((addr.segment_ord, weight.scorer(segment, 1.0)?));
            }
            let Some((_, scorer)) = current.as_mut() else {
                continue;
            };
            if scorer.doc() < addr.doc_id {
                scorer.seek(addr.doc_id);
            }
            if scorer.doc() == addr.doc_id {
                top[i].1 += boost * scorer.score();
            }
        }
    }
    top.sort_by(|a, b| b.1.total_cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    top.truncate(depth);
    Ok(top)
}

/// Top `depth` of `query` under `filters` and the number of matches.
pub fn leg(
    index: &PaperIndex,
    searcher: &Searcher,
    query: Box<dyn Query>,
    filters: &FilterSet,
    depth: usize,
) -> Result<(Leg, usize), QueryError> {
    if let Some(terms) = term_disjunction(index, query.as_ref()) {
        let pool = pool(query.as_ref(), depth);
        let found = taat::search(searcher, &terms, &filters.queries(), pool, None)?;
        let top = rescore_phrases(searcher, query.as_ref(), found.top, depth)?;
        return Ok((top, usize::try_from(found.count).unwrap_or(usize::MAX)));
    }
    let query = filters.wrap(query);
    let (docs, total) = searcher.search(&query, &(TopDocs::with_limit(depth.max(1)), Count))?;
    Ok((docs.into_iter().map(|(s, a)| (a, s)).collect(), total))
}

/// [`leg`] that also counts the matches by source and category, in the same pass (the
/// facets' count is the total).
///
/// One pass scores every match for the top k and counts it. Measured slower on the bench
/// queries: block-WAND top k plus a counting pass (the pass walks the postings again;
/// block-WAND gains little when two words each match a third of the papers), or plus counts
/// from a bitset of postings.
pub fn leg_with_facets(
    index: &PaperIndex,
    searcher: &Searcher,
    query: Box<dyn Query>,
    filters: &FilterSet,
    depth: usize,
) -> Result<(Leg, Facets), QueryError> {
    if let Some(terms) = term_disjunction(index, query.as_ref()) {
        let counts = OrdinalFacets::new(index, searcher);
        let pool = pool(query.as_ref(), depth);
        let found = taat::search(searcher, &terms, &filters.queries(), pool, Some(&counts))?;
        if let Some(facets) = found.facets {
            let top = rescore_phrases(searcher, query.as_ref(), found.top, depth)?;
            return Ok((top, facets));
        }
    }
    let query = filters.wrap(query);
    let (docs, facets) = searcher.search(
        &query,
        &(
            TopDocs::with_limit(depth.max(1)),
            OrdinalFacets::new(index, searcher),
        ),
    )?;
    Ok((docs.into_iter().map(|(s, a)| (a, s)).collect(), facets))
}

/// Top `depth` of `query` under `filters`, not counted: top k alone may skip blocks that
/// cannot make it (block-WAND).
pub fn top(
    searcher: &Searcher,
    query: Box<dyn Query>,
    filters: &FilterSet,
    depth: usize,
) -> Result<Leg, QueryError> {
    let query = filters.wrap(query);
    let docs = searcher.search(&query, &TopDocs::with_limit(depth.max(1)))?;
    Ok(docs.into_iter().map(|(s, a)| (a, s)).collect())
}
