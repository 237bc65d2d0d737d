//! The BM25 legs: a query's top documents under the request's filters, with the match count
//! and, on request, the facet counts of every match.
//!
//! A plain OR of words (the common shape, see [`super::taat`]) is ranked term at a time;
//! any other shape (phrases, field queries, nested +/-) goes through tantivy's own scorers.
//! Both rank identically (same scores, ties by address).

use tantivy::collector::{Count, TopDocs};
use tantivy::query::Query;
use tantivy::Searcher;

use super::error::QueryError;
use super::facets::{Facets, OrdinalFacets};
use super::filters::FilterSet;
use super::parse::scored_text_fields;
use super::taat::{self, TermDisjunction};
use super::topk::Leg;
use crate::index::PaperIndex;

/// The query as a plain OR of scored terms, when it is one.
fn term_disjunction(index: &PaperIndex, query: &dyn Query) -> Option<TermDisjunction> {
    TermDisjunction::of(query, &scored_text_fields(index))
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
        let found = taat::search(searcher, &terms, &filters.queries(), depth, None)?;
        return Ok((
            found.top,
            usize::try_from(found.count).unwrap_or(usize::MAX),
        ));
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
        let found = taat::search(searcher, &terms, &filters.queries(), depth, Some(&counts))?;
        if let Some(facets) = found.facets {
            return Ok((found.top, facets));
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
