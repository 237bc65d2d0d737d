//! Each segment's source and primary-category ordinals, decoded once into plain arrays (the
//! segment is immutable), so counting a match is an array read and an increment instead of two
//! column lookups. The facet counting of the search stage reads these.

use tantivy::columnar::StrColumn;
use tantivy::{DocId, SegmentReader};

use super::segment_cache::{SegmentCache, SegmentData};

/// One segment's source and primary-category ordinals. A document without a value has the
/// ordinal one past the last name.
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
        Ok(SegmentFacetOrds::new(
            source,
            source_names,
            category,
            category_names,
        ))
    }
}

impl SegmentFacetOrds {
    /// The ordinals of each document (`source[doc]`, `category[doc]`; one past the last name
    /// for no value) and the names of the ordinals.
    pub fn new(
        source: Vec<u32>,
        source_names: Vec<String>,
        category: Vec<u32>,
        category_names: Vec<String>,
    ) -> SegmentFacetOrds {
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
        SegmentFacetOrds {
            slots,
            stride,
            source_names,
            category_names,
        }
    }

    /// Source names by ordinal.
    pub fn source_names(&self) -> &[String] {
        &self.source_names
    }

    /// Primary-category names by ordinal.
    pub fn category_names(&self) -> &[String] {
        &self.category_names
    }

    /// The number of counters [`Self::count_doc`] and [`Self::count_mask`] index into.
    pub fn counters(&self) -> usize {
        let sources = self.source_names.len() + 1;
        match &self.slots {
            Slots::Pairs(_) => sources * self.stride,
            Slots::Separate { .. } => sources + self.stride,
        }
    }

    /// Counts `doc`'s source and category in `counts` (of [`Self::counters`] slots).
    #[inline]
    pub fn count_doc(&self, counts: &mut [u32], doc: DocId) {
        let d = doc as usize;
        match &self.slots {
            Slots::Pairs(pairs) => {
                if let Some(n) = pairs.get(d).and_then(|&p| counts.get_mut(p as usize)) {
                    *n += 1;
                }
            }
            Slots::Separate { source, category } => {
                let sources = self.source_names.len() + 1;
                if let Some(n) = source.get(d).and_then(|&o| counts.get_mut(o as usize)) {
                    *n += 1;
                }
                if let Some(n) =
                    (category.get(d)).and_then(|&o| counts.get_mut(sources + o as usize))
                {
                    *n += 1;
                }
            }
        }
    }

    /// Counts the source and category of document `base + i` for each bit `i` set in `mask`,
    /// as [`Self::count_doc`] does one by one (the slot layout is matched once per word).
    #[inline]
    pub fn count_mask(&self, counts: &mut [u32], base: DocId, mut mask: u64) {
        match &self.slots {
            Slots::Pairs(pairs) => {
                let window = pairs.get(base as usize..).unwrap_or_default();
                while mask != 0 {
                    let i = mask.trailing_zeros() as usize;
                    mask &= mask - 1;
                    if let Some(n) = window.get(i).and_then(|&p| counts.get_mut(p as usize)) {
                        *n += 1;
                    }
                }
            }
            Slots::Separate { .. } => {
                while mask != 0 {
                    let i = mask.trailing_zeros();
                    mask &= mask - 1;
                    self.count_doc(counts, base + i);
                }
            }
        }
    }

    /// Per source ordinal and per category ordinal totals of `counts` (the last ordinal of
    /// each: documents without a value).
    pub fn by_ordinal(&self, counts: &[u32]) -> (Vec<u64>, Vec<u64>) {
        let sources = self.source_names.len() + 1;
        let stride = self.stride;
        let mut by_source = vec![0u64; sources];
        let mut by_category = vec![0u64; stride];
        match &self.slots {
            Slots::Pairs(_) => {
                for (s, row) in counts.chunks(stride).enumerate() {
                    for (c, &n) in row.iter().enumerate() {
                        by_source[s] += u64::from(n);
                        by_category[c] += u64::from(n);
                    }
                }
            }
            Slots::Separate { .. } => {
                for (slot, &n) in by_source.iter_mut().zip(counts) {
                    *slot = u64::from(n);
                }
                for (slot, &n) in by_category.iter_mut().zip(&counts[sources..]) {
                    *slot = u64::from(n);
                }
            }
        }
        (by_source, by_category)
    }
}

/// [`SegmentFacetOrds`] per live segment (held by the `PaperIndex`, like its vectors).
pub type FacetOrdCache = SegmentCache<SegmentFacetOrds>;

#[cfg(test)]
mod tests {
    use super::*;

    fn names(prefix: &str, n: usize) -> Vec<String> {
        (0..n).map(|i| format!("{prefix}{i}")).collect()
    }

    /// Counts of documents `0..docs` through `count_doc` one by one and through `count_mask`
    /// a word at a time, as per-ordinal totals.
    fn totals(ords: &SegmentFacetOrds, docs: u32) -> [(Vec<u64>, Vec<u64>); 2] {
        let mut one = vec![0; ords.counters()];
        for doc in 0..docs {
            ords.count_doc(&mut one, doc);
        }
        let mut masked = vec![0; ords.counters()];
        for base in (0..docs).step_by(64) {
            let n = (docs - base).min(64);
            let mask = if n == 64 { u64::MAX } else { (1 << n) - 1 };
            ords.count_mask(&mut masked, base, mask);
        }
        [ords.by_ordinal(&one), ords.by_ordinal(&masked)]
    }

    #[test]
    fn pairs_and_separate_layouts_count_alike() {
        // 200 documents; some without a source or category (ordinal one past the names).
        let docs = 200u32;
        let reference = |sources: usize, categories: usize| {
            let source: Vec<u32> = (0..docs).map(|d| (d * 7) % (sources as u32 + 1)).collect();
            let category: Vec<u32> = (0..docs)
                .map(|d| (d * 13) % (categories as u32 + 1))
                .collect();
            let mut by_source = vec![0u64; sources + 1];
            let mut by_category = vec![0u64; categories + 1];
            for d in 0..docs as usize {
                by_source[source[d] as usize] += 1;
                by_category[category[d] as usize] += 1;
            }
            let ords = SegmentFacetOrds::new(
                source,
                names("s", sources),
                category,
                names("c", categories),
            );
            (ords, (by_source, by_category))
        };
        // Few names: one counter per (source, category) pair; many: separate counters.
        let (small, want_small) = reference(3, 5);
        assert!(matches!(small.slots, Slots::Pairs(_)));
        let (large, want_large) = reference(300, 400);
        assert!(matches!(large.slots, Slots::Separate { .. }));
        for (ords, want) in [(small, want_small), (large, want_large)] {
            for got in totals(&ords, docs) {
                assert_eq!(got, want);
            }
        }
    }
}
