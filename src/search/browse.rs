//! Read-only views of the index besides ranked search: the newest papers (the daily list),
//! papers similar to a stored paper (by its stored vector), single papers with their vector
//! status, facet counts of a query's matches, and what the index holds.
//!
//! Built on the search stage's own pieces (parsing, filters, the dense leg, the facet
//! collector) so the HTTP layer never touches tantivy types. Blocking: callers on an async
//! runtime use a blocking thread.

use std::collections::BTreeMap;

use serde::Serialize;
use tantivy::collector::{Count, TopDocs};
use tantivy::query::AllQuery;
use tantivy::Order;

use super::dense;
use super::error::QueryError;
use super::facets::{Facets, OrdinalFacets};
use super::filters::FilterSet;
use super::parse;
use super::request::Filters;
use crate::index::{stats, IndexError, PaperIndex};
use crate::paper::{format_date, Paper, PaperId};

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

/// The newest papers passing `filters`, newest first (`offset`, `k` page through them).
/// Papers without a publication date come last.
pub fn latest(
    index: &PaperIndex,
    filters: &Filters,
    k: usize,
    offset: usize,
) -> Result<PaperPage, QueryError> {
    let searcher = index.reader().searcher();
    let query = FilterSet::new(index, filters).wrap(Box::new(AllQuery));
    let collector = TopDocs::with_limit(k.max(1))
        .and_offset(offset)
        .order_by_u64_field("published", Order::Desc);
    let (top, total) = searcher.search(&query, &(collector, Count))?;
    let mut papers = Vec::with_capacity(top.len());
    for (_, addr) in top {
        papers.push((index.paper_at(&searcher, addr)?, 0.0));
    }
    Ok(PaperPage { papers, total })
}

/// The paper stored under `id`, whether it has a vector, or `None`.
pub fn paper(index: &PaperIndex, id: &str) -> Result<Option<(Paper, bool)>, QueryError> {
    let searcher = index.reader().searcher();
    let Some(stored) = index.stored(&searcher, &PaperId::new(id.trim()))? else {
        return Ok(None);
    };
    Ok(Some((stored.paper, stored.vector.is_some())))
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
    let addr = index
        .find(&searcher, &PaperId::new(id.trim()))?
        .ok_or_else(|| SimilarError::UnknownPaper(id.into()))?;
    if index.embedding_model().is_none() {
        return Err(SimilarError::NoVectors);
    }
    let vector = index
        .vector_at(&searcher, addr)?
        .ok_or_else(|| SimilarError::PaperWithoutVector(id.into()))?;
    let filters = FilterSet::new(index, filters);
    let (leg, total, _) = dense::leg(index, &searcher, &vector, &filters, k + 1, false)?;
    let mut papers = Vec::with_capacity(k);
    for (a, score) in leg {
        if a == addr || papers.len() == k {
            continue;
        }
        papers.push((index.paper_at(&searcher, a)?, score));
    }
    Ok(PaperPage {
        papers,
        total: total.saturating_sub(1),
    })
}

/// Counts by source and primary category of the papers matching `query` (user syntax, as in
/// search) under `filters`; an empty query counts every paper passing the filters. Fast fields
/// only: one pass over the matches, no scoring, counts in arrays indexed by term ordinal.
pub fn facets(index: &PaperIndex, query: &str, filters: &Filters) -> Result<Facets, QueryError> {
    let (parsed, _) = parse::parse(index, query);
    let q = FilterSet::new(index, filters).wrap(parsed);
    let searcher = index.reader().searcher();
    Ok(searcher.search(&q, &OrdinalFacets::new(index, &searcher))?)
}

/// Everything `academichub stats` reports.
#[derive(Debug, Clone, Serialize)]
pub struct IndexStats {
    pub papers: u64,
    pub by_source: BTreeMap<String, u64>,
    pub by_primary_category: BTreeMap<String, u64>,
    pub first_published: Option<String>,
    pub last_published: Option<String>,
    pub size_bytes: u64,
    pub segments: usize,
    /// Papers that carry a dense vector.
    pub with_vectors: u64,
    /// The model that built the vectors, if any.
    pub embedding_model: Option<String>,
    pub schema_version: u32,
    pub index_dir: String,
}

/// What the index holds: live papers by source and primary category, their date range, how
/// many have a vector, and the index's size and model.
pub fn index_stats(index: &PaperIndex) -> Result<IndexStats, QueryError> {
    let searcher = index.reader().searcher();
    let f = searcher.search(&AllQuery, &OrdinalFacets::new(index, &searcher))?;
    let (first, last) = stats::published_range(&searcher)?;
    Ok(IndexStats {
        papers: f.count,
        by_source: f.by_source,
        by_primary_category: f.by_primary_category,
        first_published: first.map(format_date),
        last_published: last.map(format_date),
        size_bytes: index.size_on_disk()?,
        segments: searcher.segment_readers().len(),
        with_vectors: stats::count_vectors(&searcher)?,
        embedding_model: index.embedding_model().map(|m| m.name),
        schema_version: index.schema_version(),
        index_dir: index.dir().display().to_string(),
    })
}
