//! Where a deployment's papers live, for the reads every backend answers: the embedded
//! tantivy index ([`PaperIndex`]) or a Milvus collection ([`MilvusStore`]). A server holds one
//! [`Backend`]; ranked search, one paper by id, similar papers, the newest papers and the
//! counts go through it, and the views only the tantivy index offers (radars, digests,
//! briefings) ask for [`Backend::tantivy`].

use std::sync::Arc;

use super::browse::{self, PaperPage, SimilarError};
use super::error::QueryError;
use super::milvus::filter_expr;
use super::request::{Filters, QueryVector, SearchRequest};
use super::response::SearchResults;
use super::QueryEngine;
use crate::index::milvus::MilvusStore;
use crate::index::PaperIndex;
use crate::paper::{Paper, PaperId};

/// The store a server reads from (cheap to clone).
#[derive(Clone)]
pub enum Backend {
    /// The embedded tantivy index on local disk.
    Tantivy(Arc<PaperIndex>),
    /// A Milvus collection (`[index] backend = "milvus"`).
    Milvus(Arc<MilvusStore>),
}

/// Papers held and papers with a vector.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PaperCounts {
    pub papers: u64,
    pub with_vectors: u64,
}

impl Backend {
    /// "tantivy" or "milvus", as `[index] backend` names it.
    pub fn name(&self) -> &'static str {
        match self {
            Backend::Tantivy(_) => "tantivy",
            Backend::Milvus(_) => "milvus",
        }
    }

    /// The tantivy index, when the papers live in one.
    pub fn tantivy(&self) -> Option<&Arc<PaperIndex>> {
        match self {
            Backend::Tantivy(index) => Some(index),
            Backend::Milvus(_) => None,
        }
    }

    /// Ranks papers for `req`.
    pub fn search(&self, req: &SearchRequest) -> Result<SearchResults, QueryError> {
        match self {
            Backend::Tantivy(index) => QueryEngine::new(index).search(req),
            Backend::Milvus(store) => super::milvus::search(store, req),
        }
    }

    /// Ranks papers for `req`, with `embed` giving the query vector when the request has none
    /// and its mode needs one. On the index a hybrid search ranks its BM25 leg while the query
    /// is embedded ([`QueryEngine::search_embedding`]); on Milvus the query is embedded first.
    pub fn search_embedding<F>(
        &self,
        req: &SearchRequest,
        embed: F,
    ) -> Result<SearchResults, QueryError>
    where
        F: FnOnce() -> Option<QueryVector> + Send,
    {
        match self {
            Backend::Tantivy(index) => QueryEngine::new(index).search_embedding(req, embed),
            Backend::Milvus(store) => {
                if req.query_vector.is_some() || req.mode == super::Mode::Bm25 {
                    return super::milvus::search(store, req);
                }
                let req = SearchRequest {
                    query_vector: embed(),
                    ..req.clone()
                };
                super::milvus::search(store, &req)
            }
        }
    }

    /// The paper with id `id` (case-insensitive), and whether it has a vector.
    pub fn paper(&self, id: &str) -> Result<Option<(Paper, bool)>, QueryError> {
        match self {
            Backend::Tantivy(index) => browse::paper(index, id),
            Backend::Milvus(store) => Ok(store
                .get(&[PaperId::new(id.trim())])?
                .into_iter()
                .next()
                .map(|row| (row.paper, row.vector.is_some()))),
        }
    }

    /// The `k` papers nearest to paper `id` by their stored vectors, excluding itself, among
    /// the papers passing `filters`.
    pub fn similar(
        &self,
        id: &str,
        filters: &Filters,
        k: usize,
    ) -> Result<PaperPage, SimilarError> {
        let store = match self {
            Backend::Tantivy(index) => return browse::similar(index, id, filters, k),
            Backend::Milvus(store) => store,
        };
        let wanted = PaperId::new(id.trim());
        let row = store
            .get(std::slice::from_ref(&wanted))
            .map_err(QueryError::from)?
            .into_iter()
            .next()
            .ok_or_else(|| SimilarError::UnknownPaper(id.into()))?;
        let vector = row
            .vector
            .ok_or_else(|| SimilarError::PaperWithoutVector(id.into()))?;
        let filter = filter_expr(filters);
        let leg = store
            .dense(&vector, &filter, k + 1)
            .map_err(QueryError::from)?;
        let leg: Vec<(PaperId, f32)> = leg
            .into_iter()
            .filter(|(pid, _)| !pid.as_str().eq_ignore_ascii_case(row.paper.id.as_str()))
            .take(k)
            .collect();
        let ids: Vec<PaperId> = leg.iter().map(|(pid, _)| pid.clone()).collect();
        // In the order of `ids`; a paper deleted meanwhile is left out.
        let papers = store.papers(&ids).map_err(QueryError::from)?;
        let scores: std::collections::HashMap<String, f32> = leg
            .into_iter()
            .map(|(pid, s)| (pid.as_str().to_lowercase(), s))
            .collect();
        let page = papers
            .into_iter()
            .map(|p| {
                let score = scores.get(&p.id.as_str().to_lowercase()).copied();
                (p, score.unwrap_or(0.0))
            })
            .collect();
        let with_vectors = store
            .count_with_vectors(&filter)
            .map_err(QueryError::from)?;
        Ok(PaperPage {
            papers: page,
            total: usize::try_from(with_vectors)
                .unwrap_or(usize::MAX)
                .saturating_sub(1),
        })
    }

    /// The newest papers passing `filters`, newest first (`offset`, `k` page through them;
    /// papers without a date last). On Milvus a page ends at the 16,384th newest paper.
    pub fn latest(
        &self,
        filters: &Filters,
        k: usize,
        offset: usize,
        today: time::Date,
    ) -> Result<PaperPage, QueryError> {
        let store = match self {
            Backend::Tantivy(index) => return browse::latest(index, filters, k, offset),
            Backend::Milvus(store) => store,
        };
        let (ids, total) = store.newest(&filter_expr(filters), offset + k, today)?;
        let page: Vec<PaperId> = ids.into_iter().skip(offset).collect();
        Ok(PaperPage {
            papers: store.papers(&page)?.into_iter().map(|p| (p, 0.0)).collect(),
            total: usize::try_from(total).unwrap_or(usize::MAX),
        })
    }

    /// How many papers the store holds, and how many of them have a vector.
    pub fn counts(&self) -> Result<PaperCounts, QueryError> {
        match self {
            Backend::Tantivy(index) => Ok(PaperCounts {
                papers: index.num_papers(),
                with_vectors: crate::index::stats::count_vectors(&index.reader().searcher())?,
            }),
            Backend::Milvus(store) => {
                let c = store.counts()?;
                Ok(PaperCounts {
                    papers: c.papers,
                    with_vectors: c.with_vectors,
                })
            }
        }
    }

    /// True when the store holds (or is set up for) vectors of an embedding model.
    pub fn has_model(&self) -> bool {
        match self {
            Backend::Tantivy(index) => index.embedding_model().is_some(),
            // A collection records its model when it is created.
            Backend::Milvus(_) => true,
        }
    }

    /// What identifies the store's current contents for a result cache: `None` when results
    /// must not be cached (a Milvus collection changes under other writers without notice).
    pub fn generation(&self) -> Option<u64> {
        match self {
            Backend::Tantivy(index) => Some(index.generation()),
            Backend::Milvus(_) => None,
        }
    }
}
