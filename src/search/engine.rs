//! [`QueryEngine`]: the search stage's front door for one index. Each method is one named
//! piece of the stage (parsing, a leg, the whole request path) and delegates to the file that
//! owns it; radars, briefings, evaluation and the benches use the legs directly.

use tantivy::query::Query;
use tantivy::{Score, Searcher};

use super::error::QueryError;
use super::filters::FilterSet;
use super::hybrid::{self, HybridLegs};
use super::request::{Filters, HybridParams, QueryVector, SearchRequest};
use super::response::SearchResults;
use super::topk::Leg;
use super::{bm25, dense, parse, run};
use crate::index::PaperIndex;
use crate::paper::PaperId;

/// Runs searches against one index. Cheap to build; share across requests.
pub struct QueryEngine<'a> {
    index: &'a PaperIndex,
}

impl<'a> QueryEngine<'a> {
    /// A query engine over `index`.
    pub fn new(index: &'a PaperIndex) -> Self {
        QueryEngine { index }
    }

    /// The index this engine searches.
    pub fn index(&self) -> &'a PaperIndex {
        self.index
    }

    /// Parses user syntax leniently into a tantivy query plus warnings (see [`parse::parse`]).
    pub fn parse(&self, query: &str) -> (Box<dyn Query>, Vec<String>) {
        parse::parse(self.index, query)
    }

    /// A plain OR query of every analyzed word of `text`: no syntax at all (evaluation runs).
    pub fn plain_query(&self, text: &str) -> Box<dyn Query> {
        parse::plain_query(self.index, text)
    }

    /// [`QueryEngine::plain_query`] with Chinese words translated or not.
    pub fn plain_query_with(&self, text: &str, translate: bool) -> Box<dyn Query> {
        parse::plain_query_with(self.index, text, translate)
    }

    /// `filters` as the queries every leg applies.
    pub fn filters(&self, filters: &Filters) -> FilterSet {
        FilterSet::new(self.index, filters)
    }

    /// Runs a search: validated, filtered, fused, paginated, with snippets on request.
    pub fn search(&self, req: &SearchRequest) -> Result<SearchResults, QueryError> {
        run::search(self.index, req)
    }

    /// [`search`](Self::search) with `embed` giving the query vector when the request has
    /// none: a hybrid search ranks its BM25 leg while the query is embedded (see
    /// [`run::search_embedding`]).
    pub fn search_embedding<F>(
        &self,
        req: &SearchRequest,
        embed: F,
    ) -> Result<SearchResults, QueryError>
    where
        F: FnOnce() -> Option<QueryVector> + Send,
    {
        run::search_embedding(self.index, req, embed)
    }

    /// The BM25 leg: top `depth` documents for `query` under `filters`, and the match count.
    pub fn bm25_leg(
        &self,
        searcher: &Searcher,
        query: Box<dyn Query>,
        filters: &Filters,
        depth: usize,
    ) -> Result<(Leg, usize), QueryError> {
        bm25::leg(self.index, searcher, query, &self.filters(filters), depth)
    }

    /// The dense leg: top `depth` documents by cosine under `filters`, and how many documents
    /// with a vector pass the filters.
    pub fn dense_leg(
        &self,
        searcher: &Searcher,
        vector: &[f32],
        filters: &Filters,
        depth: usize,
    ) -> Result<(Leg, usize), QueryError> {
        let (leg, total, _) = dense::leg(
            self.index,
            searcher,
            vector,
            &self.filters(filters),
            depth,
            false,
        )?;
        Ok((leg, total))
    }

    /// Every leg hybrid search fuses for one query (see [`hybrid::legs`]).
    pub fn hybrid_legs(
        &self,
        searcher: &Searcher,
        query: &dyn Query,
        vector: &[f32],
        filters: &Filters,
        depth: usize,
        params: &HybridParams,
    ) -> Result<HybridLegs, QueryError> {
        let filters = self.filters(filters);
        hybrid::legs(
            self.index, searcher, query, vector, &filters, depth, params, false,
        )
    }

    /// Share of the analyzed terms of `query` that occur in the index (see
    /// [`hybrid::term_coverage`]).
    pub fn term_coverage(&self, searcher: &Searcher, query: &dyn Query) -> Result<f32, QueryError> {
        hybrid::term_coverage(self.index, searcher, query)
    }

    /// Paper ids of ranked documents (no other stored field is decoded beyond the document).
    pub fn ids(
        &self,
        searcher: &Searcher,
        leg: &[(tantivy::DocAddress, Score)],
    ) -> Result<Vec<(PaperId, Score)>, QueryError> {
        leg.iter()
            .map(|(addr, score)| Ok((self.index.id_at(searcher, *addr)?, *score)))
            .collect()
    }
}
