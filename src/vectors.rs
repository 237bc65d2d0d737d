//! Dense retrieval over the vectors stored with each paper.
//!
//! Vectors live in the `embedding` fast field of their document, so they follow it through
//! merges and deletes. Segments are immutable: each segment's vectors are decoded once into a
//! contiguous row-major matrix (cached by segment id, dropped when the segment disappears), and
//! a query scans the rows of the documents that pass the filters.
//!
//! The scan reads an int8 copy of the matrix (a quarter of the memory traffic of f32, which is
//! what bounds an exact scan), keeps the best `OVERSAMPLE * k` candidates by the approximate
//! score, and rescores those with the f32 vectors: the returned scores are exact cosines.
//!
//! A segment of [`BINARY_MIN_VECTORS`] vectors or more is first ranked by the Hamming distance
//! between sign bits of the centered vectors; only its nearest eighth goes to the int8 pass.
//! The binary pass is approximate (99.8% of the exact top 10 kept on 10,000 real abstracts);
//! smaller segments are scanned exactly.

use std::cmp::Ordering;
use std::collections::BinaryHeap;
use std::sync::Arc;

use tantivy::collector::{Collector, SegmentCollector};
use tantivy::{DocAddress, DocId, Score, SegmentOrdinal, SegmentReader};

use crate::embed::{dot, dot_i8, quantize};
use crate::segment_cache::{SegmentCache, SegmentData};

/// Candidates kept from the int8 scan per requested hit, rescored exactly.
pub const OVERSAMPLE: usize = 4;

/// On a segment of at least [`BINARY_MIN_VECTORS`] vectors, the scan first ranks by Hamming
/// distance between sign bits (48 bytes a row instead of 384 for 384 dimensions) and passes the
/// nearest `BINARY_OVERSAMPLE` times the int8 candidates, and at least `1 / BINARY_FRACTION` of
/// the segment, to the int8 pass. Measured on 10,000 real arXiv abstracts (me5-small), with 500
/// of them as queries: 99.8% of the exact top 10 kept at 1/8, 99.0% at 1/16, 97.8% at 1/32.
pub const BINARY_OVERSAMPLE: usize = 8;

/// Smaller segments are scanned in int8 only (exact top k after rescoring): their scan is
/// cheap, and small indexes keep exact results.
pub const BINARY_MIN_VECTORS: usize = 20_000;

/// See [`BINARY_OVERSAMPLE`].
pub const BINARY_FRACTION: usize = 8;

/// Candidates ahead whose int8 rows are prefetched.
const PREFETCH_AHEAD: usize = 8;
use crate::index::decode_vector;

/// One segment's vectors: row `doc` holds document `doc`'s vector when `present[doc]`.
pub struct SegmentVectors {
    pub dims: usize,
    data: Vec<f32>,
    /// Row-major int8 quantization of `data`, one scale per row.
    qdata: Vec<i8>,
    qscale: Vec<f32>,
    /// Row-major sign bits of each vector minus `mean` (`bit_words(dims)` per row): the first pass
    /// of a scan over a large segment compares these by Hamming distance.
    bits: Vec<u64>,
    /// Mean of the segment's vectors (signs of centered vectors carry more information).
    mean: Vec<f32>,
    present: Vec<bool>,
    /// Documents with a vector.
    with_vectors: usize,
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
                bits: Vec::new(),
                mean: Vec::new(),
                present: vec![false; max_doc],
                with_vectors: 0,
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
        let with_vectors = present.iter().filter(|&&p| p).count();
        let mut mean = vec![0f32; dims];
        if with_vectors > 0 {
            for (row, _) in data
                .chunks_exact(dims.max(1))
                .zip(&present)
                .filter(|(_, &p)| p)
            {
                for (m, x) in mean.iter_mut().zip(row) {
                    *m += x;
                }
            }
            mean.iter_mut().for_each(|m| *m /= with_vectors as f32);
        }
        let words = bit_words(dims);
        let mut bits = vec![0u64; max_doc * words];
        if dims > 0 {
            for ((row, out), _) in data
                .chunks_exact(dims)
                .zip(bits.chunks_exact_mut(words))
                .zip(&present)
                .filter(|(_, &p)| p)
            {
                sign_bits(row, &mean, out);
            }
        }
        Ok(SegmentVectors {
            dims,
            data,
            qdata,
            qscale,
            bits,
            mean,
            present,
            with_vectors,
        })
    }

    /// Hints the CPU to load `doc`'s int8 row into cache.
    #[inline]
    fn prefetch_quantized(&self, doc: DocId) {
        #[cfg(target_arch = "x86_64")]
        {
            use std::arch::x86_64::{_mm_prefetch, _MM_HINT_T0};
            let d = doc as usize;
            if let Some(row) = self.qdata.get(d * self.dims..(d + 1) * self.dims) {
                for line in row.chunks(64) {
                    // SAFETY: a prefetch never faults; the pointer is in bounds anyway.
                    unsafe { _mm_prefetch::<_MM_HINT_T0>(line.as_ptr()) };
                }
            }
        }
        #[cfg(not(target_arch = "x86_64"))]
        let _ = doc;
    }

    /// The sign bits of `doc`'s centered vector.
    #[inline]
    fn get_bits(&self, doc: DocId) -> Option<&[u64]> {
        let words = bit_words(self.dims);
        let d = doc as usize;
        self.bits.get(d * words..(d + 1) * words)
    }
}

/// 64-bit words of sign bits per vector of `dims` dimensions.
fn bit_words(dims: usize) -> usize {
    dims.div_ceil(64)
}

/// Bit `i` set when `v[i] > mean[i]`.
fn sign_bits(v: &[f32], mean: &[f32], out: &mut [u64]) {
    out.iter_mut().for_each(|w| *w = 0);
    for (i, (x, m)) in v.iter().zip(mean).enumerate() {
        if x > m {
            if let Some(w) = out.get_mut(i / 64) {
                *w |= 1 << (i % 64);
            }
        }
    }
}

#[inline]
fn hamming(a: &[u64], b: &[u64]) -> u32 {
    a.iter().zip(b).map(|(x, y)| (x ^ y).count_ones()).sum()
}

/// Decoded vectors per live segment.
pub type VectorCache = SegmentCache<SegmentVectors>;

/// A scored document in a top-k heap: `Ord` puts the worst (lowest score, then highest
/// address) on top, so popping drops it. Also used by [`crate::taat`].
#[derive(PartialEq, Clone, Copy)]
pub(crate) struct Scored(pub(crate) Score, pub(crate) DocAddress);

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
    /// Segments with at least this many vectors get the binary first pass
    /// ([`BINARY_MIN_VECTORS`] by default).
    pub binary_min_vectors: usize,
}

impl DenseCollector {
    /// The collector of the top `k` by cosine to `query`, with the default binary threshold.
    pub fn new(query: Vec<f32>, k: usize, cache: Arc<VectorCache>) -> DenseCollector {
        DenseCollector {
            query: Arc::new(query),
            k,
            cache,
            binary_min_vectors: BINARY_MIN_VECTORS,
        }
    }
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
    /// The binary first pass, on large segments.
    binary: Option<BinaryPass>,
}

/// Hamming distances of the scanned documents to the query's sign bits.
struct BinaryPass {
    query_bits: Vec<u64>,
    /// Candidates the int8 pass gets.
    keep: usize,
    scanned: Vec<(u16, DocId)>,
    /// Documents per distance.
    histogram: Vec<u32>,
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
        let vectors = self.cache.segment(segment)?;
        let k = self.k.max(1) * OVERSAMPLE;
        let keep = k
            .saturating_mul(BINARY_OVERSAMPLE)
            .max(vectors.with_vectors / BINARY_FRACTION);
        let binary = (vectors.with_vectors >= self.binary_min_vectors
            && vectors.with_vectors > keep
            && vectors.dims == self.query.len())
        .then(|| {
            let mut query_bits = vec![0u64; bit_words(vectors.dims)];
            sign_bits(&self.query, &vectors.mean, &mut query_bits);
            BinaryPass {
                query_bits,
                keep,
                scanned: Vec::with_capacity(vectors.with_vectors),
                histogram: vec![0; vectors.dims + 1],
            }
        });
        Ok(DenseSegment {
            query: self.query.clone(),
            query_i8: Arc::new(q),
            vectors,
            k,
            segment: ord,
            heap: BinaryHeap::with_capacity(k + 1),
            with_vector: 0,
            binary,
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
        if let Some(pass) = self.binary.as_mut() {
            if !self
                .vectors
                .present
                .get(doc as usize)
                .copied()
                .unwrap_or(false)
            {
                return;
            }
            let Some(bits) = self.vectors.get_bits(doc) else {
                return;
            };
            self.with_vector += 1;
            let d = hamming(bits, &pass.query_bits);
            if let Some(n) = pass.histogram.get_mut(d as usize) {
                *n += 1;
            }
            pass.scanned.push((d as u16, doc));
            return;
        }
        if self
            .vectors
            .get_quantized(doc)
            .is_some_and(|(v, _)| v.len() == self.query_i8.len())
        {
            self.with_vector += 1;
            self.int8_candidate(doc);
        }
    }

    fn harvest(mut self) -> Self::Fruit {
        if let Some(pass) = self.binary.take() {
            // The `keep` nearest by Hamming distance (ties at the cut by document order) go
            // through the int8 pass.
            let mut below = 0usize;
            let mut cut = pass.histogram.len();
            for (d, &n) in pass.histogram.iter().enumerate() {
                if below + n as usize >= pass.keep {
                    cut = d;
                    break;
                }
                below += n as usize;
            }
            let mut at_cut = pass.keep.saturating_sub(below);
            let mut candidates = Vec::with_capacity(pass.keep);
            for &(d, doc) in &pass.scanned {
                let d = usize::from(d);
                if d < cut || (d == cut && at_cut > 0) {
                    if d == cut {
                        at_cut -= 1;
                    }
                    candidates.push(doc);
                }
            }
            // The candidates' rows are scattered over the matrix: each is a cache (and TLB)
            // miss. Asking for rows a few candidates ahead overlaps those misses.
            for (i, &doc) in candidates.iter().enumerate() {
                if let Some(&ahead) = candidates.get(i + PREFETCH_AHEAD) {
                    self.vectors.prefetch_quantized(ahead);
                }
                self.int8_candidate(doc);
            }
        }
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

impl DenseSegment {
    /// Scores `doc` with the int8 vectors and keeps it among the best `k`.
    #[inline]
    fn int8_candidate(&mut self, doc: DocId) {
        let Some((v, scale)) = self.vectors.get_quantized(doc) else {
            return;
        };
        if v.len() != self.query_i8.len() {
            return;
        }
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
}
