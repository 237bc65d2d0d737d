//! Each segment's vectors, decoded once from the `embedding` fast field (cached by segment id,
//! dropped when a merge removes the segment), in the three forms the dense scan reads: an int16
//! row per vector (rescoring), an int8 row per vector (the int8 pass), each with one scale, and
//! the sign bits of each vector minus the segment's mean (the binary pass).
//!
//! A segment's inverted lists ([`build_lists`]) hold the int8 rows and sign bits again, in list
//! order; once they are built, the segment's entry in the cache is replaced by one without the
//! document-order copies, which the lists answer for. At 2.7M papers of 384 dimensions the int16
//! rows are 2.1 GB (the f32 matrix they replaced was 4.2 GB) and the dropped copies 1.2 GB.
//!
//! Vectors live in their document's fast field, so they follow it through merges and deletes.
//! This module only decodes and serves rows; the scan itself is the search stage's.

use std::sync::Arc;

use tantivy::{DocId, SegmentReader};

use super::codec::decode_vector;
use super::ivf::{Lists, Rows};
use super::segment_cache::{SegmentCache, SegmentData};
use crate::embed::{dequantize_i16, dot, quantize, quantize_i16};

/// One segment's vectors: document `doc` has one when `has_vector(doc)`.
pub struct SegmentVectors {
    dims: usize,
    /// Row-major int16 quantization of each vector, one scale per row (zeros for documents
    /// without one), which rescoring reads: half the memory of f32, and a cosine from it moves
    /// by about 2e-6 ([`quantize_i16`]; an f16 copy, tried first, keeps 11 significant bits
    /// and moved cosines five times as much, enough to reorder near-ties at 2.7M papers).
    fine: Arc<FineRows>,
    /// Mean of the segment's vectors (signs of centered vectors carry more information).
    mean: Arc<Vec<f32>>,
    present: Arc<Vec<bool>>,
    /// Documents with a vector.
    with_vectors: usize,
    /// The int8 rows and sign bits in document order, until inverted lists hold them.
    by_doc: Option<DocRows>,
    /// Inverted lists over the vectors, once built ([`build_lists`]).
    lists: Option<Arc<Lists>>,
}

/// Int16 rows and their scales, in document order.
struct FineRows {
    rows: Vec<i16>,
    scales: Vec<f32>,
}

/// Int8 rows, their scales and sign bits, in document order.
struct DocRows {
    /// Row-major int8 quantization of each vector, one scale per row.
    qdata: Vec<i8>,
    qscale: Vec<f32>,
    /// Row-major sign bits of each vector minus the mean (`bit_words(dims)` per row): the first
    /// pass of a scan over a large segment compares these by Hamming distance.
    bits: Vec<u64>,
}

impl SegmentData for SegmentVectors {
    fn load(segment: &SegmentReader) -> tantivy::Result<SegmentVectors> {
        SegmentVectors::decode(segment)
    }
}

impl SegmentVectors {
    /// The vector of `doc` (from its int16 row) written to `out`, if it has one.
    #[inline]
    pub fn get_into(&self, doc: DocId, out: &mut Vec<f32>) -> bool {
        let d = doc as usize;
        if !self.has_vector(doc) {
            return false;
        }
        let (Some(row), Some(&scale)) = (
            self.fine.rows.get(d * self.dims..(d + 1) * self.dims),
            self.fine.scales.get(d),
        ) else {
            return false;
        };
        out.resize(self.dims, 0.0);
        dequantize_i16(row, scale, out);
        true
    }

    /// The vector of `doc` (from its int16 row), if it has one.
    pub fn vector(&self, doc: DocId) -> Option<Vec<f32>> {
        let mut out = Vec::with_capacity(self.dims);
        self.get_into(doc, &mut out).then_some(out)
    }

    /// The dot product of `doc`'s vector with `query` (`buf` is scratch space), if it has one.
    #[inline]
    pub fn dot(&self, doc: DocId, query: &[f32], buf: &mut Vec<f32>) -> Option<f32> {
        self.get_into(doc, buf).then(|| dot(buf, query))
    }

    /// Vector dimensions (0 for a segment without vectors).
    #[inline]
    pub fn dims(&self) -> usize {
        self.dims
    }

    /// Documents of the segment that have a vector.
    #[inline]
    pub fn with_vectors(&self) -> usize {
        self.with_vectors
    }

    /// Whether `doc` has a vector.
    #[inline]
    pub fn has_vector(&self, doc: DocId) -> bool {
        self.dims > 0 && self.present.get(doc as usize).copied().unwrap_or(false)
    }

    /// Mean of the segment's vectors (the centre of its sign bits).
    pub fn mean(&self) -> &[f32] {
        &self.mean
    }

    /// The int8 row of `doc` and its scale, if it has a vector.
    #[inline]
    pub fn get_quantized(&self, doc: DocId) -> Option<(&[i8], f32)> {
        if !self.has_vector(doc) {
            return None;
        }
        match &self.by_doc {
            Some(rows) => {
                let d = doc as usize;
                Some((
                    rows.qdata.get(d * self.dims..(d + 1) * self.dims)?,
                    *rows.qscale.get(d)?,
                ))
            }
            None => {
                let lists = self.lists.as_deref()?;
                lists.row(lists.position(doc)?)
            }
        }
    }

    /// The sign bits of `doc`'s centered vector.
    #[inline]
    pub fn get_bits(&self, doc: DocId) -> Option<&[u64]> {
        match &self.by_doc {
            Some(rows) => {
                let words = bit_words(self.dims);
                let d = doc as usize;
                rows.bits.get(d * words..(d + 1) * words)
            }
            None => {
                let lists = self.lists.as_deref()?;
                lists.bits_at(lists.position(doc)?)
            }
        }
    }

    fn decode(segment: &SegmentReader) -> tantivy::Result<SegmentVectors> {
        let max_doc = segment.max_doc() as usize;
        let Some(col) = segment.fast_fields().bytes("embedding")? else {
            return Ok(SegmentVectors {
                dims: 0,
                fine: Arc::new(FineRows {
                    rows: Vec::new(),
                    scales: Vec::new(),
                }),
                mean: Arc::new(Vec::new()),
                present: Arc::new(vec![false; max_doc]),
                with_vectors: 0,
                by_doc: Some(DocRows {
                    qdata: Vec::new(),
                    qscale: Vec::new(),
                    bits: Vec::new(),
                }),
                lists: None,
            });
        };
        let mut dims = 0usize;
        let mut fine: Vec<i16> = Vec::new();
        let mut fine_scale = vec![0f32; max_doc];
        let mut qdata: Vec<i8> = Vec::new();
        let mut qscale = vec![0f32; max_doc];
        let mut present = vec![false; max_doc];
        let mut sum: Vec<f64> = Vec::new();
        let (mut row_i16, mut row_i8) = (Vec::new(), Vec::new());
        for_each_stored(&col, max_doc as DocId, |docs, v| {
            if dims == 0 {
                dims = v.len();
                fine = vec![0i16; max_doc * dims];
                qdata = vec![0i8; max_doc * dims];
                sum = vec![0f64; dims];
                row_i16 = vec![0i16; dims];
                row_i8 = vec![0i8; dims];
            }
            if v.len() != dims {
                return;
            }
            let fine_s = quantize_i16(&v, &mut row_i16);
            let scale = quantize(&v, &mut row_i8);
            for &doc in docs {
                let d = doc as usize;
                fine[d * dims..(d + 1) * dims].copy_from_slice(&row_i16);
                fine_scale[d] = fine_s;
                qdata[d * dims..(d + 1) * dims].copy_from_slice(&row_i8);
                qscale[d] = scale;
                present[d] = true;
            }
            for (s, x) in sum.iter_mut().zip(&v) {
                *s += f64::from(*x) * docs.len() as f64;
            }
        })?;
        let with_vectors = present.iter().filter(|&&p| p).count();
        let mean: Vec<f32> = sum
            .iter()
            .map(|s| (s / with_vectors.max(1) as f64) as f32)
            .collect();
        let words = bit_words(dims);
        let mut bits = vec![0u64; max_doc * words];
        if dims > 0 {
            let mut row = vec![0f32; dims];
            for (((r, &s), out), _) in fine
                .chunks_exact(dims)
                .zip(&fine_scale)
                .zip(bits.chunks_exact_mut(words))
                .zip(&present)
                .filter(|(_, &p)| p)
            {
                dequantize_i16(r, s, &mut row);
                sign_bits(&row, &mean, out);
            }
        }
        Ok(SegmentVectors {
            dims,
            fine: Arc::new(FineRows {
                rows: fine,
                scales: fine_scale,
            }),
            mean: Arc::new(mean),
            present: Arc::new(present),
            with_vectors,
            by_doc: Some(DocRows {
                qdata,
                qscale,
                bits,
            }),
            lists: None,
        })
    }

    /// Documents of the segment (with a vector or not).
    #[inline]
    pub fn max_doc(&self) -> DocId {
        self.present.len() as DocId
    }

    /// The segment's inverted lists, once [`build_lists`] has built them.
    #[inline]
    pub fn lists(&self) -> Option<&Lists> {
        self.lists.as_deref()
    }

    /// The segment's vectors with inverted lists and without the document-order int8 rows and
    /// sign bits they hold again, when it has at least `min_vectors` vectors and no lists yet
    /// (k-means over the segment: seconds for a few hundred thousand vectors).
    pub fn with_lists(&self, min_vectors: usize) -> Option<SegmentVectors> {
        if self.with_vectors < min_vectors.max(1) || self.lists.is_some() {
            return None;
        }
        let lists = Lists::build(self)?;
        Some(SegmentVectors {
            dims: self.dims,
            fine: self.fine.clone(),
            mean: self.mean.clone(),
            present: self.present.clone(),
            with_vectors: self.with_vectors,
            by_doc: None,
            lists: Some(Arc::new(lists)),
        })
    }

    /// Bytes held by the vectors in all their forms (int16 and int8 rows, sign bits and lists;
    /// the int16 rows are shared with the entry this one replaced, if any).
    pub fn heap_bytes(&self) -> usize {
        self.fine.rows.len() * 2
            + self.fine.scales.len() * 4
            + self.present.len()
            + self
                .by_doc
                .as_ref()
                .map_or(0, |r| r.qdata.len() + r.qscale.len() * 4 + r.bits.len() * 8)
            + self.lists.as_deref().map_or(0, Lists::heap_bytes)
    }

    /// Hints the CPU to load `doc`'s int8 row into cache.
    #[inline]
    pub fn prefetch_quantized(&self, doc: DocId) {
        #[cfg(target_arch = "x86_64")]
        {
            use std::arch::x86_64::{_mm_prefetch, _MM_HINT_T0};
            if let Some((row, _)) = self.get_quantized(doc) {
                for line in row.chunks(64) {
                    // SAFETY: a prefetch never faults; the pointer is in bounds anyway.
                    unsafe { _mm_prefetch::<_MM_HINT_T0>(line.as_ptr()) };
                }
            }
        }
        #[cfg(not(target_arch = "x86_64"))]
        let _ = doc;
    }
}

/// Calls `f` with each distinct vector stored in the `embedding` column `col` (the f32 values
/// as written) and the documents below `max_doc` holding it (deleted ones included): one pass
/// over the column's sorted dictionary. Stored bytes that are not a vector are skipped.
pub fn for_each_stored(
    col: &tantivy::columnar::BytesColumn,
    max_doc: DocId,
    mut f: impl FnMut(&[DocId], Vec<f32>),
) -> tantivy::Result<()> {
    let mut docs_by_ord: Vec<Vec<DocId>> = vec![Vec::new(); col.num_terms()];
    for doc in 0..max_doc {
        if let Some(ord) = col.term_ords(doc).next() {
            if let Some(slot) = docs_by_ord.get_mut(ord as usize) {
                slot.push(doc);
            }
        }
    }
    let mut stream = col.dictionary().stream()?;
    while stream.advance() {
        let Some(docs) = docs_by_ord
            .get(stream.term_ord() as usize)
            .filter(|d| !d.is_empty())
        else {
            continue;
        };
        if let Some(v) = decode_vector(stream.key()) {
            f(docs, v);
        }
    }
    Ok(())
}

/// Builds the inverted lists of `segment`'s vectors in `cache` when it holds at least
/// `min_vectors` vectors and has none yet, and puts its vectors with the lists (and without the
/// document-order copies the lists hold again) in the cache in place of the previous entry; a
/// search already holding that entry finishes with it. Seconds for a few hundred thousand
/// vectors: callers run it off the request path, from one thread. Returns whether it built
/// lists.
pub fn build_lists(
    cache: &VectorCache,
    segment: &SegmentReader,
    min_vectors: usize,
) -> tantivy::Result<bool> {
    let current = cache.segment(segment)?;
    let Some(next) = current.with_lists(min_vectors) else {
        return Ok(false);
    };
    drop(current);
    cache.replace(segment, Arc::new(next));
    Ok(true)
}

impl Rows for SegmentVectors {
    fn dims(&self) -> usize {
        self.dims
    }
    fn max_doc(&self) -> DocId {
        SegmentVectors::max_doc(self)
    }
    fn has_vector(&self, doc: DocId) -> bool {
        SegmentVectors::has_vector(self, doc)
    }
    fn get_into(&self, doc: DocId, out: &mut Vec<f32>) -> bool {
        SegmentVectors::get_into(self, doc, out)
    }
    fn get_quantized(&self, doc: DocId) -> Option<(&[i8], f32)> {
        SegmentVectors::get_quantized(self, doc)
    }
    fn get_bits(&self, doc: DocId) -> Option<&[u64]> {
        SegmentVectors::get_bits(self, doc)
    }
}

/// 64-bit words of sign bits per vector of `dims` dimensions.
pub fn bit_words(dims: usize) -> usize {
    dims.div_ceil(64)
}

/// Bit `i` set when `v[i] > mean[i]`.
pub fn sign_bits(v: &[f32], mean: &[f32], out: &mut [u64]) {
    out.iter_mut().for_each(|w| *w = 0);
    for (i, (x, m)) in v.iter().zip(mean).enumerate() {
        if x > m {
            if let Some(w) = out.get_mut(i / 64) {
                *w |= 1 << (i % 64);
            }
        }
    }
}

/// Decoded vectors per live segment.
pub type VectorCache = SegmentCache<SegmentVectors>;
