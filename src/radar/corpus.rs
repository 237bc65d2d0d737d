//! What one radar ranking reads from a store ([`Corpus`]), implemented for the tantivy index
//! and for a Milvus collection so that the recipe of [`super::rank`] is written once; and the
//! tf-idf term space that compares papers without vectors.

use std::hash::Hash;

use tantivy::query::Query;
use tantivy::{DocAddress, Searcher};

use super::text::{idf, terms_with_surface, SparseVec};
use super::RadarError;
use crate::embed::Embedder;
use crate::index::milvus::MilvusStore;
use crate::index::PaperIndex;
use crate::paper::{Paper, PaperId};
use crate::search::milvus::{filter_expr, plain_words};
use crate::search::{
    bm25, dense, embedding_text, parse, FilterSet, Filters, QueryEmbedder, QueryError,
};

/// A stored paper with its vector.
pub type Loaded = (Paper, Option<Vec<f32>>);
/// A ranked leg: papers by key, best first, with their scores.
pub(super) type Leg<K> = Vec<(K, f32)>;
/// The BM25 leg and the dense leg of one query.
pub(super) type Legs<K> = (Leg<K>, Leg<K>);

/// What one radar ranking reads from a store.
pub(super) trait Corpus {
    /// How the store names a paper within one ranking.
    type Key: Clone + Hash + Eq + Ord;
    /// A prepared BM25 query.
    type Query;

    /// The BM25 query for `text`: with query syntax (`syntax`, a radar's own query) or as
    /// plain words (the titles of example papers); and the warnings parsing gave.
    fn parse(&self, text: &str, syntax: bool) -> (Self::Query, Vec<String>);
    /// The text the dense leg embeds for query `text`.
    fn embedding_text(&self, text: &str) -> String;
    /// `embedder`, when queries can be embedded for this store (else a note says why not).
    fn query_embedder<'e>(
        &self,
        embedder: Option<&'e mut dyn Embedder>,
        notes: &mut Vec<String>,
    ) -> Option<QueryEmbedder<'e>>;
    /// The example paper `id`.
    fn example(&self, id: &PaperId) -> Result<Option<(Self::Key, Loaded)>, RadarError>;
    /// The BM25 leg of `query` and the dense leg of `vector` (when given), within `filters`,
    /// `depth` deep each.
    fn legs(
        &self,
        query: &Self::Query,
        vector: Option<&[f32]>,
        filters: &Filters,
        depth: usize,
    ) -> Result<Legs<Self::Key>, RadarError>;
    /// The papers at `keys`, in that order (a paper deleted meanwhile is left out).
    fn load(&self, keys: &[Self::Key]) -> Result<Vec<(Self::Key, Loaded)>, RadarError>;
    /// The tf-idf space that compares `papers` (those of this ranking) by their terms.
    fn term_space(&self, papers: &[&Paper]) -> TermSpace<'_>;
}

/// The tantivy index, read through one searcher for the whole ranking.
pub(super) struct IndexCorpus<'a> {
    index: &'a PaperIndex,
    searcher: Searcher,
}

impl<'a> IndexCorpus<'a> {
    pub(super) fn new(index: &'a PaperIndex) -> Self {
        IndexCorpus {
            index,
            searcher: index.reader().searcher(),
        }
    }
}

impl Corpus for IndexCorpus<'_> {
    type Key = DocAddress;
    type Query = Box<dyn Query>;

    fn parse(&self, text: &str, syntax: bool) -> (Box<dyn Query>, Vec<String>) {
        if syntax {
            parse::parse(self.index, text)
        } else {
            (parse::plain_query(self.index, text), Vec::new())
        }
    }

    fn embedding_text(&self, text: &str) -> String {
        embedding_text(self.index, text, true).into_owned()
    }

    fn query_embedder<'e>(
        &self,
        embedder: Option<&'e mut dyn Embedder>,
        notes: &mut Vec<String>,
    ) -> Option<QueryEmbedder<'e>> {
        if self.index.embedding_model().is_none() {
            notes.push(
                "the index has no vectors: ranking is BM25-only and examples are compared by their terms"
                    .into(),
            );
            return None;
        }
        let Some(embedder) = embedder else {
            notes.push("no embedding model is available: ranking is BM25-only".into());
            return None;
        };
        match QueryEmbedder::for_index(self.index, Ok(embedder)) {
            ready @ QueryEmbedder::Ready(_) => Some(ready),
            QueryEmbedder::Unavailable(why) => {
                notes.push(format!("ranking is BM25-only: {why}"));
                None
            }
        }
    }

    fn example(&self, id: &PaperId) -> Result<Option<(DocAddress, Loaded)>, RadarError> {
        Ok(self
            .index
            .stored(&self.searcher, id)?
            .map(|s| (s.addr, (s.paper, s.vector))))
    }

    fn legs(
        &self,
        query: &Box<dyn Query>,
        vector: Option<&[f32]>,
        filters: &Filters,
        depth: usize,
    ) -> Result<Legs<DocAddress>, RadarError> {
        let filters = FilterSet::new(self.index, filters);
        let (bm25, _) = bm25::leg(
            self.index,
            &self.searcher,
            query.box_clone(),
            &filters,
            depth,
        )?;
        let dense = match vector {
            Some(v) => dense::leg(self.index, &self.searcher, v, &filters, depth, false)?.0,
            None => Vec::new(),
        };
        Ok((bm25, dense))
    }

    fn load(&self, keys: &[DocAddress]) -> Result<Vec<(DocAddress, Loaded)>, RadarError> {
        keys.iter()
            .map(|&addr| {
                let s = self.index.stored_at(&self.searcher, addr)?;
                Ok((addr, (s.paper, s.vector)))
            })
            .collect()
    }

    fn term_space(&self, _papers: &[&Paper]) -> TermSpace<'_> {
        TermSpace {
            df: Df::Index {
                searcher: &self.searcher,
                field: self.index.fields().text,
            },
            n: self.searcher.num_docs() as usize,
            idf: Default::default(),
            stems: Default::default(),
        }
    }
}

/// A Milvus collection: Milvus ranks each leg, papers are keyed by id.
pub(super) struct MilvusCorpus<'a> {
    pub(super) store: &'a MilvusStore,
}

impl Corpus for MilvusCorpus<'_> {
    type Key = PaperId;
    /// The words Milvus ranks with.
    type Query = String;

    fn parse(&self, text: &str, syntax: bool) -> (String, Vec<String>) {
        let (words, used_syntax) = plain_words(text);
        let mut warnings = Vec::new();
        if syntax && used_syntax {
            warnings.push(
                "the milvus backend ranks plain words: phrases, + and field: are read as plain \
                 words and -words are left out"
                    .into(),
            );
        }
        let translated = syntax
            .then(|| crate::search::milvus::translate_query(self.store, text, &mut warnings))
            .flatten();
        (
            crate::search::milvus::bm25_text(&words, translated.as_ref()),
            warnings,
        )
    }

    fn embedding_text(&self, text: &str) -> String {
        crate::search::milvus::embedding_text(self.store, text).into_owned()
    }

    fn query_embedder<'e>(
        &self,
        embedder: Option<&'e mut dyn Embedder>,
        notes: &mut Vec<String>,
    ) -> Option<QueryEmbedder<'e>> {
        match embedder {
            Some(e) => match self.store.check_model(e.id()) {
                Ok(()) => Some(QueryEmbedder::Ready(e)),
                Err(err) => {
                    notes.push(format!("ranking is BM25-only: {err}"));
                    None
                }
            },
            None => {
                notes.push("no embedding model is available: ranking is BM25-only".into());
                None
            }
        }
    }

    fn example(&self, id: &PaperId) -> Result<Option<(PaperId, Loaded)>, RadarError> {
        let rows = self
            .store
            .get(std::slice::from_ref(id))
            .map_err(QueryError::from)?;
        Ok(rows
            .into_iter()
            .next()
            .map(|r| (r.paper.id.clone(), (r.paper, r.vector))))
    }

    fn legs(
        &self,
        words: &String,
        vector: Option<&[f32]>,
        filters: &Filters,
        depth: usize,
    ) -> Result<Legs<PaperId>, RadarError> {
        let filter = filter_expr(filters);
        let bm25 = self
            .store
            .bm25(words, &filter, depth)
            .map_err(QueryError::from)?;
        let dense = match vector {
            Some(v) => self
                .store
                .dense(v, &filter, depth)
                .map_err(QueryError::from)?,
            None => Vec::new(),
        };
        Ok((bm25, dense))
    }

    fn load(&self, keys: &[PaperId]) -> Result<Vec<(PaperId, Loaded)>, RadarError> {
        let mut rows: std::collections::HashMap<PaperId, Loaded> = self
            .store
            .get(keys)
            .map_err(QueryError::from)?
            .into_iter()
            .map(|r| (r.paper.id.clone(), (r.paper, r.vector)))
            .collect();
        Ok(keys
            .iter()
            .filter_map(|k| rows.remove(k).map(|l| (k.clone(), l)))
            .collect())
    }

    /// Milvus gives no cheap document frequency (one count took 0.66 s on milvus-lite), so
    /// terms are weighted by their frequency among the papers of this ranking.
    fn term_space(&self, papers: &[&Paper]) -> TermSpace<'_> {
        let mut stems = std::collections::HashMap::new();
        let mut df = std::collections::HashMap::new();
        for p in papers {
            let mut seen: Vec<String> = terms_with_surface(&paper_text(p), &mut stems)
                .into_iter()
                .map(|(s, _)| s)
                .collect();
            seen.sort();
            seen.dedup();
            for t in seen {
                *df.entry(t).or_insert(0usize) += 1;
            }
        }
        TermSpace {
            df: Df::Local(df),
            n: papers.len().max(1),
            idf: Default::default(),
            stems,
        }
    }
}

/// The text a paper's term vector is made of.
fn paper_text(paper: &Paper) -> String {
    format!("{}. {}", paper.title, paper.abstract_text)
}

/// Where document frequencies come from.
enum Df<'a> {
    /// The whole index.
    Index {
        searcher: &'a Searcher,
        field: tantivy::schema::Field,
    },
    /// The papers of one ranking, counted up front.
    Local(std::collections::HashMap<String, usize>),
}

/// tf-idf term vectors (idf cached per term).
pub(super) struct TermSpace<'a> {
    df: Df<'a>,
    n: usize,
    idf: std::collections::HashMap<String, f32>,
    stems: std::collections::HashMap<String, String>,
}

impl TermSpace<'_> {
    /// The term vector of `paper` (title and abstract).
    pub(super) fn vector(&mut self, paper: &Paper) -> SparseVec {
        let terms: Vec<String> = terms_with_surface(&paper_text(paper), &mut self.stems)
            .into_iter()
            .map(|(s, _)| s)
            .collect();
        for t in &terms {
            if !self.idf.contains_key(t) {
                let df = match &self.df {
                    Df::Index { searcher, field } => searcher
                        .doc_freq(&tantivy::Term::from_field_text(*field, t))
                        .unwrap_or(0) as usize,
                    Df::Local(df) => df.get(t).copied().unwrap_or(0),
                };
                self.idf.insert(t.clone(), idf(self.n, df));
            }
        }
        let idf = &self.idf;
        SparseVec::tfidf(terms.iter().map(String::as_str), |t| {
            idf.get(t).copied().unwrap_or(0.0)
        })
    }
}
