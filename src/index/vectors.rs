//! Each segment's vectors, decoded once from the `embedding` fast field into a contiguous
//! row-major matrix (cached by segment id, dropped when a merge removes the segment), with the
//! two compressed copies the dense scan reads: an int8 row per vector (one scale each) and the
//! sign bits of each vector minus the segment's mean.
//!
//! Vectors live in their document's fast field, so they follow it through merges and deletes.
//! This module only decodes and serves rows; the scan itself is the search stage's.

use std::sync::OnceLock;

use tantivy::{DocId, SegmentReader};

use super::codec::decode_vector;
use super::ivf::{Lists, Rows};
use super::segment_cache::{SegmentCache, SegmentData};
use crate::embed::quantize;

/// One segment's vectors: row `doc` holds document `doc`'s vector when `present[doc]`.
pub struct SegmentVectors {
    dims: usize,
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
    /// Inverted lists over the vectors, once built ([`SegmentVectors::build_lists`]).
    lists: OnceLock<Option<Lists>>,
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
        self.present.get(doc as usize).copied().unwrap_or(false)
    }

    /// Mean of the segment's vectors (the centre of its sign bits).
    pub fn mean(&self) -> &[f32] {
        &self.mean
    }

    /// The int8 row of `doc` and its scale, if it has a vector.
    #[inline]
    pub fn get_quantized(&self, doc: DocId) -> Option<(&[i8], f32)> {
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
                lists: OnceLock::new(),
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
            lists: OnceLock::new(),
        })
    }

    /// Documents of the segment (with a vector or not).
    #[inline]
    pub fn max_doc(&self) -> DocId {
        self.present.len() as DocId
    }

    /// The segment's inverted lists, once [`SegmentVectors::build_lists`] has built them.
    #[inline]
    pub fn lists(&self) -> Option<&Lists> {
        self.lists.get().and_then(Option::as_ref)
    }

    /// Builds the segment's inverted lists when it holds at least `min_vectors` vectors and
    /// has none yet (k-means over the segment: seconds for a few hundred thousand vectors, so
    /// callers run it off the request path). Returns whether this call built them.
    pub fn build_lists(&self, min_vectors: usize) -> bool {
        if self.with_vectors < min_vectors.max(1) || self.lists.get().is_some() {
            return false;
        }
        let mut built = false;
        self.lists.get_or_init(|| {
            built = true;
            Lists::build(self)
        });
        built
    }

    /// Hints the CPU to load `doc`'s int8 row into cache.
    #[inline]
    pub fn prefetch_quantized(&self, doc: DocId) {
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
    pub fn get_bits(&self, doc: DocId) -> Option<&[u64]> {
        let words = bit_words(self.dims);
        let d = doc as usize;
        self.bits.get(d * words..(d + 1) * words)
    }
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
    fn get(&self, doc: DocId) -> Option<&[f32]> {
        SegmentVectors::get(self, doc)
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
