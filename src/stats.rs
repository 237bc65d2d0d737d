//! Counts over the live papers of an index (or of any query's matches): by source, by primary
//! category, and the publication date range. Read from fast fields, so deleted documents that
//! are still waiting for a merge are never counted.

use std::collections::BTreeMap;

use serde::Serialize;
use tantivy::collector::{Collector, SegmentCollector};
use tantivy::columnar::{Column, StrColumn};
use tantivy::query::{AllQuery, Query};
use tantivy::{DocId, Score, SegmentOrdinal, SegmentReader};
use time::Date;

use crate::error::IndexError;
use crate::index::PaperIndex;
use crate::paper::format_date;

/// Facet counts and date range of a set of papers.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Facets {
    pub count: u64,
    pub by_source: BTreeMap<String, u64>,
    pub by_primary_category: BTreeMap<String, u64>,
    /// Earliest publication date (`YYYY-MM-DD`).
    pub first_published: Option<String>,
    /// Latest publication date (`YYYY-MM-DD`).
    pub last_published: Option<String>,
}

/// Collects [`Facets`] for the documents a query matches.
pub struct FacetCollector;

/// Per-segment state of [`FacetCollector`].
pub struct FacetSegment {
    source: Option<StrColumn>,
    category: Option<StrColumn>,
    published: Option<Column<tantivy::DateTime>>,
    source_ords: BTreeMap<u64, u64>,
    category_ords: BTreeMap<u64, u64>,
    min: Option<i64>,
    max: Option<i64>,
    count: u64,
}

/// What one segment found (ordinals already turned into strings).
#[derive(Default)]
pub struct SegmentFacets {
    count: u64,
    by_source: BTreeMap<String, u64>,
    by_category: BTreeMap<String, u64>,
    min: Option<i64>,
    max: Option<i64>,
}

impl Collector for FacetCollector {
    type Fruit = Facets;
    type Child = FacetSegment;

    fn for_segment(
        &self,
        _: SegmentOrdinal,
        segment: &SegmentReader,
    ) -> tantivy::Result<FacetSegment> {
        let ff = segment.fast_fields();
        Ok(FacetSegment {
            source: ff.str("source")?,
            category: ff.str("primary_category")?,
            published: ff.date("published").ok(),
            source_ords: BTreeMap::new(),
            category_ords: BTreeMap::new(),
            min: None,
            max: None,
            count: 0,
        })
    }

    fn requires_scoring(&self) -> bool {
        false
    }

    fn merge_fruits(&self, fruits: Vec<SegmentFacets>) -> tantivy::Result<Facets> {
        let mut out = Facets::default();
        let (mut min, mut max): (Option<i64>, Option<i64>) = (None, None);
        for f in fruits {
            out.count += f.count;
            for (k, v) in f.by_source {
                *out.by_source.entry(k).or_default() += v;
            }
            for (k, v) in f.by_category {
                *out.by_primary_category.entry(k).or_default() += v;
            }
            min = min.into_iter().chain(f.min).min();
            max = max.into_iter().chain(f.max).max();
        }
        out.first_published = min.and_then(secs_to_date).map(format_date);
        out.last_published = max.and_then(secs_to_date).map(format_date);
        Ok(out)
    }
}

fn secs_to_date(secs: i64) -> Option<Date> {
    time::OffsetDateTime::from_unix_timestamp(secs)
        .ok()
        .map(|t| t.date())
}

fn count_first(col: &Option<StrColumn>, doc: DocId, counts: &mut BTreeMap<u64, u64>) {
    if let Some(col) = col {
        if let Some(ord) = col.term_ords(doc).next() {
            *counts.entry(ord).or_default() += 1;
        }
    }
}

fn resolve(col: &Option<StrColumn>, ords: BTreeMap<u64, u64>) -> BTreeMap<String, u64> {
    let mut out = BTreeMap::new();
    let Some(col) = col else {
        return out;
    };
    let mut buf = String::new();
    for (ord, n) in ords {
        buf.clear();
        if col.ord_to_str(ord, &mut buf).unwrap_or(false) {
            *out.entry(buf.clone()).or_default() += n;
        }
    }
    out
}

impl SegmentCollector for FacetSegment {
    type Fruit = SegmentFacets;

    fn collect(&mut self, doc: DocId, _score: Score) {
        self.count += 1;
        count_first(&self.source, doc, &mut self.source_ords);
        count_first(&self.category, doc, &mut self.category_ords);
        if let Some(col) = &self.published {
            if let Some(d) = col.first(doc) {
                let s = d.into_timestamp_secs();
                self.min = Some(self.min.map_or(s, |m| m.min(s)));
                self.max = Some(self.max.map_or(s, |m| m.max(s)));
            }
        }
    }

    fn harvest(self) -> SegmentFacets {
        SegmentFacets {
            count: self.count,
            by_source: resolve(&self.source, self.source_ords),
            by_category: resolve(&self.category, self.category_ords),
            min: self.min,
            max: self.max,
        }
    }
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

/// Facets of the documents matching `query`.
pub fn facets(index: &PaperIndex, query: &dyn Query) -> Result<Facets, IndexError> {
    Ok(index.reader().searcher().search(query, &FacetCollector)?)
}

/// Computes [`IndexStats`].
pub fn index_stats(index: &PaperIndex) -> Result<IndexStats, IndexError> {
    let f = facets(index, &AllQuery)?;
    Ok(IndexStats {
        papers: f.count,
        by_source: f.by_source,
        by_primary_category: f.by_primary_category,
        first_published: f.first_published,
        last_published: f.last_published,
        size_bytes: index.size_on_disk()?,
        segments: index.reader().searcher().segment_readers().len(),
        with_vectors: count_vectors(index)?,
        embedding_model: index.embedding_model().map(|m| m.name),
        schema_version: index.schema_version(),
        index_dir: index.dir().display().to_string(),
    })
}

/// Live papers with a vector: one pass over each segment's `embedding` fast-field ordinals.
pub fn count_vectors(index: &PaperIndex) -> Result<u64, IndexError> {
    let searcher = index.reader().searcher();
    let mut n = 0u64;
    for seg in searcher.segment_readers() {
        let Some(col) = seg.fast_fields().bytes("embedding")? else {
            continue;
        };
        let alive = seg.alive_bitset();
        for doc in 0..seg.max_doc() {
            if alive.is_some_and(|a| !a.is_alive(doc)) {
                continue;
            }
            if col.term_ords(doc).next().is_some() {
                n += 1;
            }
        }
    }
    Ok(n)
}

/// Source and primary-category counts (no date range), per segment in ordinal-indexed arrays.
pub struct OrdinalFacets;

/// Per-segment state of [`OrdinalFacets`].
pub struct OrdinalFacetsSegment {
    source: Option<StrColumn>,
    category: Option<StrColumn>,
    sources: Vec<u32>,
    categories: Vec<u32>,
    count: u64,
    /// Scratch for [`SegmentCollector::collect_block`]: the first ordinal of each document.
    buf: Vec<Option<u64>>,
}

fn ord_counts(col: &Option<StrColumn>) -> Vec<u32> {
    col.as_ref()
        .map(|c| vec![0; c.num_terms()])
        .unwrap_or_default()
}

/// Counts the first ordinal of each of `docs` (one batched column read instead of one
/// iterator per document).
fn count_ords(
    col: &Option<StrColumn>,
    docs: &[DocId],
    buf: &mut Vec<Option<u64>>,
    counts: &mut [u32],
) {
    let Some(col) = col else {
        return;
    };
    buf.clear();
    buf.resize(docs.len(), None);
    col.ords().first_vals(docs, buf);
    for ord in buf.iter().flatten() {
        if let Some(n) = counts.get_mut(*ord as usize) {
            *n += 1;
        }
    }
}

fn count_ord(col: &Option<StrColumn>, doc: DocId, counts: &mut [u32]) {
    if let Some(col) = col {
        if let Some(ord) = col.term_ords(doc).next() {
            if let Some(n) = counts.get_mut(ord as usize) {
                *n += 1;
            }
        }
    }
}

fn ords_to_strings(col: &Option<StrColumn>, counts: &[u32], out: &mut BTreeMap<String, u64>) {
    let Some(col) = col else {
        return;
    };
    let mut buf = String::new();
    for (ord, &n) in counts.iter().enumerate() {
        if n == 0 {
            continue;
        }
        buf.clear();
        if col.ord_to_str(ord as u64, &mut buf).unwrap_or(false) {
            *out.entry(buf.clone()).or_default() += u64::from(n);
        }
    }
}

impl Collector for OrdinalFacets {
    type Fruit = Facets;
    type Child = OrdinalFacetsSegment;

    fn for_segment(
        &self,
        _: SegmentOrdinal,
        segment: &SegmentReader,
    ) -> tantivy::Result<OrdinalFacetsSegment> {
        let ff = segment.fast_fields();
        let source = ff.str("source")?;
        let category = ff.str("primary_category")?;
        Ok(OrdinalFacetsSegment {
            sources: ord_counts(&source),
            categories: ord_counts(&category),
            source,
            category,
            count: 0,
            buf: Vec::new(),
        })
    }

    fn requires_scoring(&self) -> bool {
        false
    }

    fn merge_fruits(&self, fruits: Vec<Facets>) -> tantivy::Result<Facets> {
        let mut out = Facets::default();
        for f in fruits {
            out.count += f.count;
            for (k, v) in f.by_source {
                *out.by_source.entry(k).or_default() += v;
            }
            for (k, v) in f.by_primary_category {
                *out.by_primary_category.entry(k).or_default() += v;
            }
        }
        Ok(out)
    }
}

impl SegmentCollector for OrdinalFacetsSegment {
    type Fruit = Facets;

    fn collect(&mut self, doc: DocId, _score: Score) {
        self.count += 1;
        count_ord(&self.source, doc, &mut self.sources);
        count_ord(&self.category, doc, &mut self.categories);
    }

    fn collect_block(&mut self, docs: &[DocId]) {
        self.count += docs.len() as u64;
        count_ords(&self.source, docs, &mut self.buf, &mut self.sources);
        count_ords(&self.category, docs, &mut self.buf, &mut self.categories);
    }

    fn harvest(self) -> Facets {
        let mut out = Facets {
            count: self.count,
            ..Facets::default()
        };
        ords_to_strings(&self.source, &self.sources, &mut out.by_source);
        ords_to_strings(
            &self.category,
            &self.categories,
            &mut out.by_primary_category,
        );
        out
    }
}
