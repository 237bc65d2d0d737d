//! Where radars find their papers: the embedded tantivy index ([`PaperIndex`]) or a Milvus
//! collection ([`Backend::Milvus`], with its local state directory; [`of`] gives a server's).
//! [`PaperSource`] is what the radar, briefing and delivery services ask of either (where
//! radars are kept, one paper, the newest papers, a ranking); a ranking itself reads the store
//! through [`super::corpus::Corpus`].

use std::path::Path;

use tantivy::collector::{Count, TopDocs};
use tantivy::query::AllQuery;
use tantivy::Order;
use time::Date;

use super::corpus::{IndexCorpus, Loaded, MilvusCorpus};
use super::rank::{rank_on, RadarPapers, RankRequest};
use super::{Radar, RadarError};
use crate::embed::Embedder;
use crate::index::milvus::MilvusStore;
use crate::index::PaperIndex;
use crate::paper::{Paper, PaperId};
use crate::search::milvus::filter_expr;
use crate::search::{browse, Backend, FilterSet, Filters, QueryError};

/// Ranks `radar` on `source` (the index, or a server's backend): see [`super::rank`].
/// `embedder` embeds the queries (it must be the store's model); without one, or when the
/// store has no vectors, ranking is BM25-only and a note says so.
pub fn rank(
    source: &dyn PaperSource,
    radar: &Radar,
    req: &RankRequest,
    embedder: Option<&mut dyn Embedder>,
) -> Result<RadarPapers, RadarError> {
    source.rank_radar(radar, req, embedder)
}

/// A store of papers radars can rank (the tantivy index, or a server's [`Backend`]).
pub trait PaperSource: Sync {
    /// The directory where radars and their delivery logs are kept.
    fn state_dir(&self) -> Result<&Path, RadarError>;
    /// The paper with id `id`, when the store holds it.
    fn paper(&self, id: &PaperId) -> Result<Option<Paper>, RadarError>;
    /// A number that changes whenever the papers do (`None`: the store has none).
    fn generation(&self) -> Option<u64>;
    /// The newest publication date among the papers passing `filters`.
    fn newest_date(&self, filters: &Filters, today: Date) -> Result<Option<Date>, RadarError>;
    /// The newest `k` papers passing `filters` (newest first, with their vectors), and how
    /// many pass.
    fn newest_papers(
        &self,
        filters: &Filters,
        k: usize,
        today: Date,
    ) -> Result<(Vec<Loaded>, usize), RadarError>;
    /// The number of papers and the document frequency of each of `terms` (analyzed stems of
    /// the text field); `None` when the store cannot count them cheaply (Milvus: one count
    /// took 0.66 s on milvus-lite).
    fn doc_freqs(&self, terms: &[&str]) -> Option<(usize, Vec<usize>)>;
    /// Ranks `radar` (see [`super::rank`]).
    fn rank_radar(
        &self,
        radar: &Radar,
        req: &RankRequest,
        embedder: Option<&mut dyn Embedder>,
    ) -> Result<RadarPapers, RadarError>;
}

impl PaperSource for PaperIndex {
    fn state_dir(&self) -> Result<&Path, RadarError> {
        Ok(self.dir())
    }

    fn paper(&self, id: &PaperId) -> Result<Option<Paper>, RadarError> {
        Ok(self.get(id)?)
    }

    fn generation(&self) -> Option<u64> {
        Some(PaperIndex::generation(self))
    }

    fn newest_date(&self, filters: &Filters, _today: Date) -> Result<Option<Date>, RadarError> {
        let page = browse::latest(self, filters, 1, 0)?;
        Ok(page.papers.first().and_then(|(p, _)| p.published))
    }

    fn newest_papers(
        &self,
        filters: &Filters,
        k: usize,
        _today: Date,
    ) -> Result<(Vec<Loaded>, usize), RadarError> {
        let searcher = self.reader().searcher();
        let filters = FilterSet::new(self, filters);
        // The newest `k` by the publication date's fast field: only they are read.
        let collector = TopDocs::with_limit(k.max(1)).order_by_u64_field("published", Order::Desc);
        let (top, total) = searcher
            .search(&filters.wrap(Box::new(AllQuery)), &(collector, Count))
            .map_err(crate::index::IndexError::from)?;
        let mut papers = Vec::with_capacity(top.len());
        for (_, addr) in top {
            let stored = self.stored_at(&searcher, addr)?;
            papers.push((stored.paper, stored.vector));
        }
        Ok((papers, total))
    }

    fn doc_freqs(&self, terms: &[&str]) -> Option<(usize, Vec<usize>)> {
        let searcher = self.reader().searcher();
        let field = self.fields().text;
        let dfs = terms
            .iter()
            .map(|t| {
                searcher
                    .doc_freq(&tantivy::Term::from_field_text(field, t))
                    .unwrap_or(0) as usize
            })
            .collect();
        Some((searcher.num_docs() as usize, dfs))
    }

    fn rank_radar(
        &self,
        radar: &Radar,
        req: &RankRequest,
        embedder: Option<&mut dyn Embedder>,
    ) -> Result<RadarPapers, RadarError> {
        rank_on(&IndexCorpus::new(self), radar, req, embedder)
    }
}

impl PaperSource for MilvusStore {
    fn state_dir(&self) -> Result<&Path, RadarError> {
        MilvusStore::state_dir(self).ok_or(RadarError::NoStateDir)
    }

    fn paper(&self, id: &PaperId) -> Result<Option<Paper>, RadarError> {
        let rows = self
            .get(std::slice::from_ref(id))
            .map_err(QueryError::from)?;
        Ok(rows.into_iter().next().map(|r| r.paper))
    }

    fn generation(&self) -> Option<u64> {
        None
    }

    fn newest_date(&self, filters: &Filters, today: Date) -> Result<Option<Date>, RadarError> {
        let (ids, _) = self
            .newest(&filter_expr(filters), 1, today)
            .map_err(QueryError::from)?;
        let papers = self.papers(&ids).map_err(QueryError::from)?;
        Ok(papers.first().and_then(|p| p.published))
    }

    fn newest_papers(
        &self,
        filters: &Filters,
        k: usize,
        today: Date,
    ) -> Result<(Vec<Loaded>, usize), RadarError> {
        let (ids, total) = self
            .newest(&filter_expr(filters), k.max(1), today)
            .map_err(QueryError::from)?;
        let mut rows: std::collections::HashMap<PaperId, Loaded> = self
            .get(&ids)
            .map_err(QueryError::from)?
            .into_iter()
            .map(|r| (r.paper.id.clone(), (r.paper, r.vector)))
            .collect();
        let papers = ids.iter().filter_map(|id| rows.remove(id)).collect();
        Ok((papers, usize::try_from(total).unwrap_or(usize::MAX)))
    }

    fn doc_freqs(&self, _terms: &[&str]) -> Option<(usize, Vec<usize>)> {
        None
    }

    fn rank_radar(
        &self,
        radar: &Radar,
        req: &RankRequest,
        embedder: Option<&mut dyn Embedder>,
    ) -> Result<RadarPapers, RadarError> {
        rank_on(&MilvusCorpus { store: self }, radar, req, embedder)
    }
}

/// A shared store is the store.
impl<T: PaperSource + Send + Sync> PaperSource for std::sync::Arc<T> {
    fn state_dir(&self) -> Result<&Path, RadarError> {
        self.as_ref().state_dir()
    }

    fn paper(&self, id: &PaperId) -> Result<Option<Paper>, RadarError> {
        self.as_ref().paper(id)
    }

    fn generation(&self) -> Option<u64> {
        self.as_ref().generation()
    }

    fn newest_date(&self, filters: &Filters, today: Date) -> Result<Option<Date>, RadarError> {
        self.as_ref().newest_date(filters, today)
    }

    fn newest_papers(
        &self,
        filters: &Filters,
        k: usize,
        today: Date,
    ) -> Result<(Vec<Loaded>, usize), RadarError> {
        self.as_ref().newest_papers(filters, k, today)
    }

    fn doc_freqs(&self, terms: &[&str]) -> Option<(usize, Vec<usize>)> {
        self.as_ref().doc_freqs(terms)
    }

    fn rank_radar(
        &self,
        radar: &Radar,
        req: &RankRequest,
        embedder: Option<&mut dyn Embedder>,
    ) -> Result<RadarPapers, RadarError> {
        self.as_ref().rank_radar(radar, req, embedder)
    }
}

/// The store behind a server's backend.
pub fn of(backend: &Backend) -> &dyn PaperSource {
    match backend {
        Backend::Tantivy(index) => index.as_ref(),
        Backend::Milvus(store) => store.as_ref(),
    }
}
