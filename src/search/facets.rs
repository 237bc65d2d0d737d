//! Facet counts of a query's matches: by source and by primary category, read from the
//! index's per-segment ordinal arrays ([`crate::index::facet_ords`]), so deleted documents
//! still waiting for a merge are never counted. The one facet collector of the engine: the
//! BM25 legs (tantivy's and term-at-a-time), the dense leg, browse views and index statistics
//! all count through it.

use std::collections::BTreeMap;
use std::sync::Arc;

use serde::Serialize;
use tantivy::collector::{Collector, SegmentCollector};
use tantivy::{DocId, Score, Searcher, SegmentOrdinal, SegmentReader};

use crate::index::{FacetOrdCache, PaperIndex, SegmentFacetOrds};

/// Facet counts (and, for index statistics, the date range) of a set of papers.
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

    /// The facets of several segments' counts at once: each name is looked up and copied once,
    /// not once per segment as harvesting each and merging the fruits does.
    pub fn merge_segments(&self, segments: Vec<OrdinalFacetsSegment>) -> Facets {
        let mut count = 0;
        let mut by_source: BTreeMap<&str, u64> = BTreeMap::new();
        let mut by_category: BTreeMap<&str, u64> = BTreeMap::new();
        for segment in &segments {
            count += segment.count;
            let ords = &segment.ords;
            let (sources, categories) = ords.by_ordinal(&segment.counts);
            add_named(ords.source_names(), &sources, &mut by_source);
            add_named(ords.category_names(), &categories, &mut by_category);
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

/// Adds each named ordinal's count to `out` (unnamed and zero counts are not reported).
fn add_named<'a>(names: &'a [String], counts: &[u64], out: &mut BTreeMap<&'a str, u64>) {
    for (name, &n) in names.iter().zip(counts) {
        if n > 0 && !name.is_empty() {
            *out.entry(name.as_str()).or_default() += n;
        }
    }
}

/// Per-segment state of [`OrdinalFacets`].
pub struct OrdinalFacetsSegment {
    ords: Arc<SegmentFacetOrds>,
    /// Matches per (source, category) pair, or per source then per category; the last ordinal
    /// of each counts documents without a value (not reported).
    counts: Vec<u32>,
    count: u64,
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
        Ok(OrdinalFacetsSegment {
            counts: vec![0; ords.counters()],
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
        self.ords.count_doc(&mut self.counts, doc);
    }

    /// Counts the source and category of document `base + i` for each bit `i` set in `mask`.
    #[inline]
    pub fn count_mask(&mut self, base: DocId, mask: u64) {
        self.ords.count_mask(&mut self.counts, base, mask);
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
        let (by_source, by_category) = self.ords.by_ordinal(&self.counts);
        let mut named_sources = BTreeMap::new();
        let mut named_categories = BTreeMap::new();
        add_named(self.ords.source_names(), &by_source, &mut named_sources);
        add_named(
            self.ords.category_names(),
            &by_category,
            &mut named_categories,
        );
        let owned =
            |m: BTreeMap<&str, u64>| m.into_iter().map(|(k, v)| (k.to_string(), v)).collect();
        Facets {
            count: self.count,
            by_source: owned(named_sources),
            by_primary_category: owned(named_categories),
            ..Facets::default()
        }
    }
}
