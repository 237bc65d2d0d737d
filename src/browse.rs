//! Read-only views of the index besides ranked search: the newest papers (the daily list),
//! papers similar to a stored paper (by its stored vector), single papers with their vector
//! status, and facet counts of a query's matches.
//!
//! Built on the public API of [`crate::query`] (parsing, filters, the dense leg) so the HTTP
//! layer never touches tantivy types. Blocking: callers on an async runtime use
//! `spawn_blocking`.

use std::collections::BTreeMap;

use tantivy::collector::{Count, TopDocs};
use tantivy::query::{AllQuery, Query, TermQuery};
use tantivy::schema::IndexRecordOption;
use tantivy::{DocAddress, Order, Searcher};

use crate::error::{IndexError, QueryError};
use crate::index::PaperIndex;
use crate::paper::{Paper, PaperId};
use crate::query::{Filters, QueryEngine};
use crate::stats::Facets;
pub use crate::stats::OrdinalFacets;

/// A page of papers (newest first, or by similarity) with their scores.
#[derive(Debug, Clone, Default)]
pub struct PaperPage {
    /// Papers with their score (cosine for similar papers, 0 for date-ordered lists).
    pub papers: Vec<(Paper, f32)>,
    /// How many papers match the filters (before paging).
    pub total: usize,
}

/// Why papers similar to one paper cannot be found.
#[derive(Debug, thiserror::Error)]
pub enum SimilarError {
    #[error("no paper with id {0:?}")]
    UnknownPaper(String),
    #[error("the index has no vectors: run `academichub embed` on it first")]
    NoVectors,
    #[error("paper {0:?} has no vector yet: run `academichub embed` to give it one")]
    PaperWithoutVector(String),
    #[error(transparent)]
    Query(#[from] QueryError),
}

impl From<IndexError> for SimilarError {
    fn from(e: IndexError) -> Self {
        SimilarError::Query(QueryError::Index(e))
    }
}

impl From<tantivy::TantivyError> for SimilarError {
    fn from(e: tantivy::TantivyError) -> Self {
        SimilarError::Query(QueryError::from(e))
    }
}

/// The newest papers passing `filters`, newest first (`offset`, `k` page through them).
/// Papers without a publication date come last.
pub fn latest(
    index: &PaperIndex,
    filters: &Filters,
    k: usize,
    offset: usize,
) -> Result<PaperPage, QueryError> {
    let engine = QueryEngine::new(index);
    let searcher = index.reader().searcher();
    let query = engine.with_filters(Box::new(AllQuery), filters);
    let collector = TopDocs::with_limit(k.max(1))
        .and_offset(offset)
        .order_by_u64_field("published", Order::Desc);
    let (top, total) = searcher.search(&query, &(collector, Count))?;
    let mut papers = Vec::with_capacity(top.len());
    for (_, addr) in top {
        papers.push((load(index, &searcher, addr)?, 0.0));
    }
    Ok(PaperPage { papers, total })
}

/// The paper stored under `id`, whether it has a vector, or `None`.
pub fn paper(index: &PaperIndex, id: &str) -> Result<Option<(Paper, bool)>, QueryError> {
    let searcher = index.reader().searcher();
    let Some(addr) = find(index, &searcher, id)? else {
        return Ok(None);
    };
    let paper = load(index, &searcher, addr)?;
    let has_vector = vector_of(index, &searcher, addr)?.is_some();
    Ok(Some((paper, has_vector)))
}

/// The `k` papers nearest to paper `id` by cosine of the stored vectors, excluding itself,
/// among the papers passing `filters`.
pub fn similar(
    index: &PaperIndex,
    id: &str,
    filters: &Filters,
    k: usize,
) -> Result<PaperPage, SimilarError> {
    let searcher = index.reader().searcher();
    let addr = find(index, &searcher, id)?.ok_or_else(|| SimilarError::UnknownPaper(id.into()))?;
    if index.embedding_model().is_none() {
        return Err(SimilarError::NoVectors);
    }
    let vector = vector_of(index, &searcher, addr)?
        .ok_or_else(|| SimilarError::PaperWithoutVector(id.into()))?;
    let engine = QueryEngine::new(index);
    let (leg, total) = engine.dense_leg(&searcher, &vector, filters, k + 1)?;
    let mut papers = Vec::with_capacity(k);
    for (a, score) in leg {
        if a == addr || papers.len() == k {
            continue;
        }
        papers.push((load(index, &searcher, a)?, score));
    }
    Ok(PaperPage {
        papers,
        total: total.saturating_sub(1),
    })
}

/// Counts by source and primary category of the papers matching `query` (user syntax, as in
/// search) under `filters`; an empty query counts every paper passing the filters. Fast fields
/// only: one pass over the matches, no scoring, counts in arrays indexed by term ordinal (the
/// per-request path; [`crate::stats::FacetCollector`] also computes the date range).
pub fn facets(index: &PaperIndex, query: &str, filters: &Filters) -> Result<Facets, QueryError> {
    let engine = QueryEngine::new(index);
    let (parsed, _) = engine.parse(query);
    let q = engine.with_filters(parsed, filters);
    let searcher = index.reader().searcher();
    Ok(searcher.search(&q, &OrdinalFacets::new(index, &searcher))?)
}

/// The generation of the current searcher: changes whenever a reload brings in new segments
/// (cache keys for query results).
pub fn generation(index: &PaperIndex) -> u64 {
    index.reader().searcher().generation().generation_id()
}

fn find(
    index: &PaperIndex,
    searcher: &Searcher,
    id: &str,
) -> Result<Option<DocAddress>, QueryError> {
    let id = id.trim();
    if id.is_empty() {
        return Ok(None);
    }
    let q: Box<dyn Query> = Box::new(TermQuery::new(
        index.id_term(&PaperId::new(id)),
        IndexRecordOption::Basic,
    ));
    let top = searcher.search(&q, &TopDocs::with_limit(1))?;
    Ok(top.first().map(|(_, a)| *a))
}

fn load(index: &PaperIndex, searcher: &Searcher, addr: DocAddress) -> Result<Paper, QueryError> {
    Ok(crate::index::load_paper(searcher, index.fields(), addr)?)
}

fn vector_of(
    index: &PaperIndex,
    searcher: &Searcher,
    addr: DocAddress,
) -> Result<Option<Vec<f32>>, QueryError> {
    let seg = searcher.segment_reader(addr.segment_ord);
    let vecs = index.vectors().segment(seg)?;
    Ok(vecs.get(addr.doc_id).map(<[f32]>::to_vec))
}

/// Reloads the reader when the index on disk has other segments (or deletes) than the current
/// searcher sees, e.g. after a commit by another process. Returns whether it reloaded.
pub fn reload_if_changed(index: &PaperIndex) -> Result<bool, IndexError> {
    let on_disk: BTreeMap<_, _> = index
        .tantivy()
        .searchable_segment_metas()?
        .into_iter()
        .map(|m| (m.id(), m.delete_opstamp()))
        .collect();
    let searcher = index.reader().searcher();
    if &on_disk == searcher.generation().segments() {
        return Ok(false);
    }
    index.reload()?;
    Ok(true)
}
