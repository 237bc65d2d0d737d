//! A request's filters as tantivy queries, built once per request and shared by every leg:
//! score-neutral around a BM25 query, a bitset source for term-at-a-time BM25, the whole
//! candidate set of the dense leg.

use std::ops::Bound;

use tantivy::query::{AllQuery, BooleanQuery, BoostQuery, Occur, Query, RangeQuery, TermSetQuery};
use tantivy::Term;

use super::request::Filters;
use crate::index::{date_to_tantivy, PaperIndex};

/// The filters of one request, every one of which a paper must match.
pub struct FilterSet {
    clauses: Vec<Box<dyn Query>>,
}

impl FilterSet {
    /// `filters` on the fields of `index`: category and source as term sets (values trimmed
    /// and lowercased, as the keyword analyzer indexes them), dates as an inclusive range.
    pub fn new(index: &PaperIndex, filters: &Filters) -> FilterSet {
        let f = index.fields();
        let mut clauses: Vec<Box<dyn Query>> = Vec::new();
        let set = |field, values: &[String]| -> Box<dyn Query> {
            Box::new(TermSetQuery::new(
                values
                    .iter()
                    .map(|v| Term::from_field_text(field, &v.trim().to_lowercase())),
            ))
        };
        if !filters.categories.is_empty() {
            clauses.push(set(f.categories, &filters.categories));
        }
        if !filters.sources.is_empty() {
            clauses.push(set(f.source, &filters.sources));
        }
        if filters.from.is_some() || filters.to.is_some() {
            let bound = |d: Option<time::Date>| match d {
                Some(d) => Bound::Included(Term::from_field_date(f.published, date_to_tantivy(d))),
                None => Bound::Unbounded,
            };
            clauses.push(Box::new(RangeQuery::new(
                bound(filters.from),
                bound(filters.to),
            )));
        }
        FilterSet { clauses }
    }

    /// Each filter as its own query.
    pub fn queries(&self) -> Vec<Box<dyn Query>> {
        self.clauses.iter().map(|q| q.box_clone()).collect()
    }

    /// `query` restricted to papers passing the filters, scored as `query` alone (a boost of
    /// zero keeps BM25 scores equal to the unfiltered query's).
    pub fn wrap(&self, query: Box<dyn Query>) -> Box<dyn Query> {
        if self.clauses.is_empty() {
            return query;
        }
        let mut all = vec![(Occur::Must, query)];
        for q in &self.clauses {
            all.push((
                Occur::Must,
                Box::new(BoostQuery::new(q.box_clone(), 0.0)) as Box<dyn Query>,
            ));
        }
        Box::new(BooleanQuery::new(all))
    }

    /// Every paper passing the filters (every paper when nothing is filtered), unscored.
    pub fn matching_all(&self) -> Box<dyn Query> {
        if self.clauses.is_empty() {
            return Box::new(AllQuery);
        }
        Box::new(BooleanQuery::new(
            self.clauses
                .iter()
                .map(|q| (Occur::Must, q.box_clone()))
                .collect(),
        ))
    }
}
