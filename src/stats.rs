//! Counts over the live papers of an index (or of any query's matches): by source, by primary
//! category, and the publication date range. Read from fast fields, so deleted documents that
//! are still waiting for a merge are never counted.

use std::collections::BTreeMap;
use std::sync::Arc;

use serde::Serialize;
use tantivy::collector::{Collector, SegmentCollector};
use tantivy::columnar::{Column, StrColumn};
use tantivy::query::{AllQuery, Query};
use tantivy::{DocId, Score, Searcher, SegmentOrdinal, SegmentReader};
use time::Date;

use crate::error::IndexError;
use crate::index::PaperIndex;
use crate::paper::format_date;
use crate::segment_cache::{SegmentCache, SegmentData};

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

/// One segment's source and primary-category ordinals, decoded once into plain arrays (the
/// segment is immutable), so counting a match is an array read and an increment instead of
/// two column lookups. A document without a value has the ordinal one past the last name.
pub struct SegmentFacetOrds {
    slots: Slots,
    /// Category ordinals per source ordinal: `slot = source * stride + category`.
    stride: usize,
    source_names: Vec<String>,
    category_names: Vec<String>,
}

/// Each document's (source, category) pair as one counter index when the pairs fit in 16
/// bits (one increment per match, a third of the time of two), else the two ordinals.
enum Slots {
    Pairs(Vec<u16>),
    Separate {
        source: Vec<u32>,
        category: Vec<u32>,
    },
}

fn decode_ords(col: &Option<StrColumn>, max_doc: u32) -> tantivy::Result<(Vec<u32>, Vec<String>)> {
    let Some(col) = col else {
        return Ok((vec![0; max_doc as usize], Vec::new()));
    };
    let docs: Vec<DocId> = (0..max_doc).collect();
    let mut first: Vec<Option<u64>> = vec![None; docs.len()];
    col.ords().first_vals(&docs, &mut first);
    let n = col.num_terms();
    let ords = first
        .into_iter()
        .map(|o| match o {
            Some(o) if (o as usize) < n => o as u32,
            _ => n as u32,
        })
        .collect();
    let mut names = Vec::with_capacity(n);
    let mut buf = String::new();
    for ord in 0..n as u64 {
        buf.clear();
        if !col.ord_to_str(ord, &mut buf)? {
            buf.clear();
        }
        names.push(buf.clone());
    }
    Ok((ords, names))
}

impl SegmentData for SegmentFacetOrds {
    fn load(segment: &SegmentReader) -> tantivy::Result<SegmentFacetOrds> {
        let ff = segment.fast_fields();
        let (source, source_names) = decode_ords(&ff.str("source")?, segment.max_doc())?;
        let (category, category_names) =
            decode_ords(&ff.str("primary_category")?, segment.max_doc())?;
        let stride = category_names.len() + 1;
        let slots = if (source_names.len() + 1) * stride <= usize::from(u16::MAX) + 1 {
            Slots::Pairs(
                source
                    .iter()
                    .zip(&category)
                    .map(|(&s, &c)| (s as usize * stride + c as usize) as u16)
                    .collect(),
            )
        } else {
            Slots::Separate { source, category }
        };
        Ok(SegmentFacetOrds {
            slots,
            stride,
            source_names,
            category_names,
        })
    }
}

/// [`SegmentFacetOrds`] per live segment (held by the [`PaperIndex`], like its vectors).
pub type FacetOrdCache = SegmentCache<SegmentFacetOrds>;

/// Source and primary-category counts (no date range) of a query's matches: per segment,
/// counts in arrays indexed by term ordinal, read from the index's [`FacetOrdCache`].
pub struct OrdinalFacets {
    cache: Arc<FacetOrdCache>,
}

impl OrdinalFacets {
    /// The collector for the current searcher of `index` (drops cached segments that merged
    /// away).
    pub fn new(index: &PaperIndex, searcher: &Searcher) -> OrdinalFacets {
        index.facet_ords().retain_live(searcher);
        OrdinalFacets {
            cache: index.facet_ords().clone(),
        }
    }
}

/// Per-segment state of [`OrdinalFacets`].
pub struct OrdinalFacetsSegment {
    ords: Arc<SegmentFacetOrds>,
    /// Matches per (source, category) pair, or per source then per category (see [`Slots`]);
    /// the last ordinal of each counts documents without a value (not reported).
    counts: Vec<u32>,
    count: u64,
}

fn to_strings(names: &[String], counts: &[u64], out: &mut BTreeMap<String, u64>) {
    for (name, &n) in names.iter().zip(counts) {
        if n > 0 && !name.is_empty() {
            *out.entry(name.clone()).or_default() += n;
        }
    }
}

impl OrdinalFacets {
    /// The facets of several segments' counts at once: each name is looked up and copied once,
    /// not once per segment as harvesting each and merging the fruits does.
    pub fn merge_segments(&self, segments: Vec<OrdinalFacetsSegment>) -> Facets {
        let mut count = 0;
        let mut by_source: BTreeMap<&str, u64> = BTreeMap::new();
        let mut by_category: BTreeMap<&str, u64> = BTreeMap::new();
        for segment in &segments {
            count += segment.count;
            let ords = &segment.ords;
            let (sources, categories) = segment.by_ordinal();
            for (names, counts, out) in [
                (&ords.source_names, &sources, &mut by_source),
                (&ords.category_names, &categories, &mut by_category),
            ] {
                for (name, &n) in names.iter().zip(counts) {
                    if n > 0 && !name.is_empty() {
                        *out.entry(name.as_str()).or_default() += n;
                    }
                }
            }
        }
        let owned =
            |m: BTreeMap<&str, u64>| m.into_iter().map(|(k, v)| (k.to_string(), v)).collect();
        Facets {
            count,
            by_source: owned(by_source),
            by_primary_category: owned(by_category),
            ..Facets::default()
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
        let ords = self.cache.segment(segment)?;
        let sources = ords.source_names.len() + 1;
        let slots = match &ords.slots {
            Slots::Pairs(_) => sources * ords.stride,
            Slots::Separate { .. } => sources + ords.stride,
        };
        Ok(OrdinalFacetsSegment {
            counts: vec![0; slots],
            ords,
            count: 0,
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

impl OrdinalFacetsSegment {
    /// Adds `n` to the match count (the documents' facets go through [`Self::count_doc`]).
    pub fn add_count(&mut self, n: u64) {
        self.count += n;
    }

    /// Counts `doc`'s source and category (not the match itself: see [`Self::add_count`]).
    #[inline]
    pub fn count_doc(&mut self, doc: DocId) {
        let d = doc as usize;
        match &self.ords.slots {
            Slots::Pairs(pairs) => {
                if let Some(n) = pairs.get(d).and_then(|&p| self.counts.get_mut(p as usize)) {
                    *n += 1;
                }
            }
            Slots::Separate { source, category } => {
                let sources = self.ords.source_names.len() + 1;
                if let Some(n) = source.get(d).and_then(|&o| self.counts.get_mut(o as usize)) {
                    *n += 1;
                }
                if let Some(n) =
                    (category.get(d)).and_then(|&o| self.counts.get_mut(sources + o as usize))
                {
                    *n += 1;
                }
            }
        }
    }

    /// Counts the source and category of document `base + i` for each bit `i` set in `mask`,
    /// as [`Self::count_doc`] does one by one (the slot layout is matched once per word).
    #[inline]
    pub fn count_mask(&mut self, base: DocId, mut mask: u64) {
        match &self.ords.slots {
            Slots::Pairs(pairs) => {
                let window = pairs.get(base as usize..).unwrap_or_default();
                while mask != 0 {
                    let i = mask.trailing_zeros() as usize;
                    mask &= mask - 1;
                    if let Some(n) = window.get(i).and_then(|&p| self.counts.get_mut(p as usize)) {
                        *n += 1;
                    }
                }
            }
            Slots::Separate { .. } => {
                while mask != 0 {
                    let i = mask.trailing_zeros();
                    mask &= mask - 1;
                    self.count_doc(base + i);
                }
            }
        }
    }

    /// Per source ordinal and per category ordinal counts.
    fn by_ordinal(&self) -> (Vec<u64>, Vec<u64>) {
        let sources = self.ords.source_names.len() + 1;
        let stride = self.ords.stride;
        let mut by_source = vec![0u64; sources];
        let mut by_category = vec![0u64; stride];
        match &self.ords.slots {
            Slots::Pairs(_) => {
                for (s, row) in self.counts.chunks(stride).enumerate() {
                    for (c, &n) in row.iter().enumerate() {
                        by_source[s] += u64::from(n);
                        by_category[c] += u64::from(n);
                    }
                }
            }
            Slots::Separate { .. } => {
                for (slot, &n) in by_source.iter_mut().zip(&self.counts) {
                    *slot = u64::from(n);
                }
                for (slot, &n) in by_category.iter_mut().zip(&self.counts[sources..]) {
                    *slot = u64::from(n);
                }
            }
        }
        (by_source, by_category)
    }
}

impl SegmentCollector for OrdinalFacetsSegment {
    type Fruit = Facets;

    fn collect(&mut self, doc: DocId, _score: Score) {
        self.count += 1;
        self.count_doc(doc);
    }

    fn collect_block(&mut self, docs: &[DocId]) {
        self.count += docs.len() as u64;
        for &doc in docs {
            self.count_doc(doc);
        }
    }

    fn harvest(self) -> Facets {
        let mut out = Facets {
            count: self.count,
            ..Facets::default()
        };
        let (by_source, by_category) = self.by_ordinal();
        to_strings(&self.ords.source_names, &by_source, &mut out.by_source);
        to_strings(
            &self.ords.category_names,
            &by_category,
            &mut out.by_primary_category,
        );
        out
    }
}
