//! Exact dense retrieval over the vectors stored with each paper.
//!
//! Vectors live in the `embedding` fast field of their document, so they follow it through
//! merges and deletes. Segments are immutable: each segment's vectors are decoded once into a
//! contiguous row-major matrix (cached by segment id, dropped when the segment disappears), and
//! a query scans the rows of the documents that pass the filters.
//!
//! The scan reads an int8 copy of the matrix (a quarter of the memory traffic of f32, which is
//! what bounds an exact scan), keeps the best `OVERSAMPLE * k` candidates by the approximate
//! score, and rescores those with the f32 vectors: the returned scores are exact cosines.

use std::cmp::Ordering;
use std::collections::BinaryHeap;
use std::sync::Arc;

use tantivy::collector::{Collector, SegmentCollector};
use tantivy::{DocAddress, DocId, Score, SegmentOrdinal, SegmentReader};

use crate::embed::{dot, dot_i8, quantize};
use crate::segment_cache::{SegmentCache, SegmentData};

/// Candidates kept from the int8 scan per requested hit, rescored exactly.
pub const OVERSAMPLE: usize = 4;
use crate::index::decode_vector;

/// One segment's vectors: row `doc` holds document `doc`'s vector when `present[doc]`.
pub struct SegmentVectors {
    pub dims: usize,
    data: Vec<f32>,
    /// Row-major int8 quantization of `data`, one scale per row.
    qdata: Vec<i8>,
    qscale: Vec<f32>,
    present: Vec<bool>,
}

impl SegmentData for SegmentVectors {
    fn load(segment: &SegmentReader) -> tantivy::Result<SegmentVectors> {
        SegmentVectors::decode(segment)
    }
}

impl SegmentVectors {
    /// The vector of `doc`, if it has one.
    #[inline]
    pub fn get(&self, doc: DocId) -> Option<&[f32]> {
        let d = doc as usize;
        if self.dims == 0 || !self.present.get(d).copied().unwrap_or(false) {
            return None;
        }
        self.data.get(d * self.dims..(d + 1) * self.dims)
    }

    /// The int8 row of `doc` and its scale, if it has a vector.
    #[inline]
    fn get_quantized(&self, doc: DocId) -> Option<(&[i8], f32)> {
        let d = doc as usize;
        if self.dims == 0 || !self.present.get(d).copied().unwrap_or(false) {
            return None;
        }
        Some((
            self.qdata.get(d * self.dims..(d + 1) * self.dims)?,
            *self.qscale.get(d)?,
        ))
    }

    fn decode(segment: &SegmentReader) -> tantivy::Result<SegmentVectors> {
        let max_doc = segment.max_doc() as usize;
        let Some(col) = segment.fast_fields().bytes("embedding")? else {
            return Ok(SegmentVectors {
                dims: 0,
                data: Vec::new(),
                qdata: Vec::new(),
                qscale: Vec::new(),
                present: vec![false; max_doc],
            });
        };
        // Ordinals per document, then one pass over the sorted dictionary.
        let mut docs_by_ord: Vec<Vec<u32>> = vec![Vec::new(); col.num_terms()];
        for doc in 0..max_doc as u32 {
            if let Some(ord) = col.term_ords(doc).next() {
                if let Some(slot) = docs_by_ord.get_mut(ord as usize) {
                    slot.push(doc);
                }
            }
        }
        let mut dims = 0usize;
        let mut data: Vec<f32> = Vec::new();
        let mut qdata: Vec<i8> = Vec::new();
        let mut qscale = vec![0f32; max_doc];
        let mut present = vec![false; max_doc];
        let mut stream = col.dictionary().stream()?;
        while stream.advance() {
            let ord = stream.term_ord() as usize;
            let Some(docs) = docs_by_ord.get(ord) else {
                continue;
            };
            let Some(v) = decode_vector(stream.key()) else {
                continue;
            };
            if dims == 0 {
                dims = v.len();
                data = vec![0f32; max_doc * dims];
                qdata = vec![0i8; max_doc * dims];
            }
            if v.len() != dims {
                continue;
            }
            for &doc in docs {
                let d = doc as usize;
                data[d * dims..(d + 1) * dims].copy_from_slice(&v);
                qscale[d] = quantize(&v, &mut qdata[d * dims..(d + 1) * dims]);
                present[d] = true;
            }
        }
        Ok(SegmentVectors {
            dims,
            data,
            qdata,
            qscale,
            present,
        })
    }
}

/// Decoded vectors per live segment.
pub type VectorCache = SegmentCache<SegmentVectors>;

#[derive(PartialEq)]
struct Scored(Score, DocAddress);

impl Eq for Scored {}

impl Ord for Scored {
    // Min-heap on score; among equal scores the larger address is "smaller" so the lower
    // address survives: deterministic results.
    fn cmp(&self, other: &Self) -> Ordering {
        other
            .0
            .partial_cmp(&self.0)
            .unwrap_or(Ordering::Equal)
            .then_with(|| self.1.cmp(&other.1))
    }
}

impl PartialOrd for Scored {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

/// Top-`k` documents by cosine to `query` among the documents a query matches, plus how many
/// matching documents have a vector.
pub struct DenseCollector {
    pub query: Arc<Vec<f32>>,
    pub k: usize,
    pub cache: Arc<VectorCache>,
}

/// Per-segment state of [`DenseCollector`].
pub struct DenseSegment {
    query: Arc<Vec<f32>>,
    query_i8: Arc<Vec<i8>>,
    vectors: Arc<SegmentVectors>,
    k: usize,
    segment: SegmentOrdinal,
    heap: BinaryHeap<Scored>,
    with_vector: usize,
}

impl Collector for DenseCollector {
    type Fruit = (Vec<(Score, DocAddress)>, usize);
    type Child = DenseSegment;

    fn for_segment(
        &self,
        ord: SegmentOrdinal,
        segment: &SegmentReader,
    ) -> tantivy::Result<DenseSegment> {
        let mut q = vec![0i8; self.query.len()];
        quantize(&self.query, &mut q);
        Ok(DenseSegment {
            query: self.query.clone(),
            query_i8: Arc::new(q),
            vectors: self.cache.segment(segment)?,
            k: self.k.max(1) * OVERSAMPLE,
            segment: ord,
            heap: BinaryHeap::with_capacity(self.k + 1),
            with_vector: 0,
        })
    }

    fn requires_scoring(&self) -> bool {
        false
    }

    fn merge_fruits(
        &self,
        fruits: Vec<(Vec<(Score, DocAddress)>, usize)>,
    ) -> tantivy::Result<Self::Fruit> {
        let mut total = 0;
        let mut all: Vec<(Score, DocAddress)> = Vec::new();
        for (hits, n) in fruits {
            total += n;
            all.extend(hits);
        }
        all.sort_by(|a, b| {
            b.0.partial_cmp(&a.0)
                .unwrap_or(Ordering::Equal)
                .then(a.1.cmp(&b.1))
        });
        all.truncate(self.k);
        Ok((all, total))
    }
}

impl SegmentCollector for DenseSegment {
    type Fruit = (Vec<(Score, DocAddress)>, usize);

    fn collect_block(&mut self, docs: &[DocId]) {
        for &doc in docs {
            self.collect(doc, 0.0);
        }
    }

    #[inline]
    fn collect(&mut self, doc: DocId, _score: Score) {
        let Some((v, scale)) = self.vectors.get_quantized(doc) else {
            return;
        };
        if v.len() != self.query_i8.len() {
            return;
        }
        self.with_vector += 1;
        // Approximate: the query's own scale is the same for every row, so it is left out.
        let s = dot_i8(v, &self.query_i8) as f32 * scale;
        let item = Scored(s, DocAddress::new(self.segment, doc));
        if self.heap.len() < self.k {
            self.heap.push(item);
        } else if let Some(min) = self.heap.peek() {
            if item.cmp(min) == Ordering::Less {
                self.heap.pop();
                self.heap.push(item);
            }
        }
    }

    fn harvest(self) -> Self::Fruit {
        // Exact rescoring of the int8 candidates; `merge_fruits` keeps the best k overall.
        let rescored = self
            .heap
            .into_iter()
            .filter_map(|s| {
                let v = self.vectors.get(s.1.doc_id)?;
                Some((dot(v, &self.query), s.1))
            })
            .collect();
        (rescored, self.with_vector)
    }
}
