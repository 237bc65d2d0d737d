//! Inverted lists over one segment's vectors (an IVF index): the vectors are clustered by
//! spherical k-means, and each cluster's list holds the documents nearest to its centroid. A
//! dense scan of a large segment then reads the lists of the centroids nearest to the query
//! instead of every row (see `search::dense`), so its cost stops growing with the segment.
//!
//! Lists are built once per segment, off the request path (the server's vector warm-up thread
//! builds them after decoding a segment; until then a search scans the segment as before), and
//! kept with the segment's decoded vectors, so they follow it until a merge removes it.
//!
//! k-means runs on the segment's int8 rows (the products are exact integers; the AVX2 kernel
//! of [`dot_i8`] makes an assignment a few nanoseconds a centroid): centroids are means of the
//! vectors, normalized, and quantized again each round.

use tantivy::DocId;

use crate::embed::{dot, dot_i8, normalize, quantize};

/// Segments with fewer vectors are scanned without lists: their scan is cheap (a binary
/// pass over 100,000 rows is well under a millisecond), and small indexes keep exact results.
pub const MIN_VECTORS: usize = 100_000;

/// k-means rounds over the training sample.
const ROUNDS: usize = 6;

/// Training sample per list (the sample is at most `SAMPLE_PER_LIST` times the lists).
const SAMPLE_PER_LIST: usize = 32;

/// Lists for a segment of `n` vectors: about `2 sqrt(n)` (1,039 at 270,000), so a list holds
/// a few hundred documents and the centroids are a small part of a probe's work.
pub fn lists_for(n: usize) -> usize {
    ((2.0 * (n as f64).sqrt()).round() as usize).clamp(1, 8192)
}

/// The rows lists are built from: one segment's vectors in their three forms (implemented by
/// [`super::vectors::SegmentVectors`]).
pub trait Rows {
    /// Vector dimensions (0 without vectors).
    fn dims(&self) -> usize;
    /// Documents of the segment.
    fn max_doc(&self) -> DocId;
    /// Whether `doc` has a vector.
    fn has_vector(&self, doc: DocId) -> bool;
    /// Writes the vector of `doc` to `out`; false when it has none.
    fn get_into(&self, doc: DocId, out: &mut Vec<f32>) -> bool;
    /// The int8 row of `doc` and its scale.
    fn get_quantized(&self, doc: DocId) -> Option<(&[i8], f32)>;
    /// The sign bits of `doc`'s vector minus the segment's mean.
    fn get_bits(&self, doc: DocId) -> Option<&[u64]>;
}

/// One segment's inverted lists.
pub struct Lists {
    dims: usize,
    /// Unit-length centroids, row-major.
    centroids: Vec<f32>,
    /// List `i` is `docs[offsets[i]..offsets[i + 1]]`.
    offsets: Vec<u32>,
    docs: Vec<DocId>,
    /// The int8 row and scale of `docs[p]` at position `p` (a copy of the segment's rows in
    /// list order: a probe reads each list's rows as one run of memory instead of hundreds of
    /// scattered rows, which cost a cache and TLB miss each at 2.7M papers).
    rows: Vec<i8>,
    scales: Vec<f32>,
    /// The sign bits of `docs[p]` at position `p` (the segment's, in list order).
    bits: Vec<u64>,
    /// 64-bit words of sign bits per row.
    words: usize,
    /// The documents in the lists, one bit each.
    members: Vec<u64>,
    /// The list position of each document of the segment (`u32::MAX` without a vector): the
    /// lists answer for the segment's rows by document once they hold its only copy.
    positions: Vec<u32>,
}

impl Lists {
    /// Clusters the vectors of `vectors` into [`lists_for`] lists (`None` for a segment
    /// without vectors). Deterministic: the sample and the first centroids are spread evenly
    /// over the segment's documents.
    pub fn build(vectors: &impl Rows) -> Option<Lists> {
        let dims = vectors.dims();
        let with: Vec<DocId> = (0..vectors.max_doc())
            .filter(|&d| vectors.has_vector(d))
            .collect();
        if dims == 0 || with.is_empty() {
            return None;
        }
        let nlist = lists_for(with.len()).min(with.len());
        let sample = spread(&with, (nlist * SAMPLE_PER_LIST).min(with.len()));
        let mut centroids: Vec<f32> = Vec::with_capacity(nlist * dims);
        let mut v = Vec::with_capacity(dims);
        for &doc in &spread(&sample, nlist) {
            if !vectors.get_into(doc, &mut v) {
                return None;
            }
            centroids.extend_from_slice(&v);
        }
        let mut assigned = vec![0u32; sample.len()];
        for _ in 0..ROUNDS {
            let q = Quantized::of(&centroids, dims);
            for (a, &doc) in assigned.iter_mut().zip(&sample) {
                *a = q.nearest(vectors.get_quantized(doc)?.0) as u32;
            }
            // New centroids: the normalized mean of each cluster; an emptied cluster keeps its
            // centroid (it may win members back next round).
            let mut sums = vec![0f32; nlist * dims];
            let mut counts = vec![0u32; nlist];
            for (&a, &doc) in assigned.iter().zip(&sample) {
                let a = a as usize;
                counts[a] += 1;
                if !vectors.get_into(doc, &mut v) {
                    return None;
                }
                for (s, x) in sums[a * dims..(a + 1) * dims].iter_mut().zip(&v) {
                    *s += x;
                }
            }
            for (c, (sum, &n)) in centroids
                .chunks_exact_mut(dims)
                .zip(sums.chunks_exact_mut(dims).zip(&counts))
            {
                if n > 0 {
                    normalize(sum);
                    c.copy_from_slice(sum);
                }
            }
        }
        // Every document to its nearest centroid, then the lists as one array.
        let q = Quantized::of(&centroids, dims);
        let mut of_doc: Vec<(u32, DocId)> = Vec::with_capacity(with.len());
        for &doc in &with {
            of_doc.push((q.nearest(vectors.get_quantized(doc)?.0) as u32, doc));
        }
        of_doc.sort_unstable();
        let mut offsets = vec![0u32; nlist + 1];
        for &(list, _) in &of_doc {
            offsets[list as usize + 1] += 1;
        }
        for i in 0..nlist {
            offsets[i + 1] += offsets[i];
        }
        let docs: Vec<DocId> = of_doc.into_iter().map(|(_, d)| d).collect();
        let mut rows = Vec::with_capacity(docs.len() * dims);
        let mut scales = Vec::with_capacity(docs.len());
        let words = with
            .first()
            .and_then(|&d| vectors.get_bits(d))
            .map_or(0, <[u64]>::len);
        let mut bits = Vec::with_capacity(docs.len() * words);
        let mut members = vec![0u64; (vectors.max_doc() as usize).div_ceil(64)];
        let mut positions = vec![u32::MAX; vectors.max_doc() as usize];
        for (p, &doc) in docs.iter().enumerate() {
            let (row, scale) = vectors.get_quantized(doc)?;
            rows.extend_from_slice(row);
            scales.push(scale);
            bits.extend_from_slice(vectors.get_bits(doc)?);
            members[doc as usize / 64] |= 1 << (doc % 64);
            *positions.get_mut(doc as usize)? = u32::try_from(p).ok()?;
        }
        Some(Lists {
            dims,
            centroids,
            offsets,
            docs,
            rows,
            scales,
            bits,
            words,
            members,
            positions,
        })
    }

    /// Number of lists.
    pub fn len(&self) -> usize {
        self.offsets.len().saturating_sub(1)
    }

    /// Whether there are no lists.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Positions of list `i` (indexes of [`Lists::doc`], [`Lists::row`], [`Lists::span_bits`]).
    pub fn span(&self, i: usize) -> std::ops::Range<usize> {
        match (self.offsets.get(i), self.offsets.get(i + 1)) {
            (Some(&a), Some(&b)) => a as usize..b as usize,
            _ => 0..0,
        }
    }

    /// Documents of list `i` (ascending).
    pub fn list(&self, i: usize) -> &[DocId] {
        self.docs.get(self.span(i)).unwrap_or(&[])
    }

    /// The documents at positions `span` and their sign bits (`words` a document).
    #[inline]
    pub fn span_bits(&self, span: std::ops::Range<usize>) -> Option<(&[DocId], &[u64], usize)> {
        let bits = self
            .bits
            .get(span.start * self.words..span.end * self.words)?;
        Some((self.docs.get(span)?, bits, self.words))
    }

    /// The document at position `p`.
    #[inline]
    pub fn doc(&self, p: usize) -> Option<DocId> {
        self.docs.get(p).copied()
    }

    /// The int8 row and scale of the document at position `p`.
    #[inline]
    pub fn row(&self, p: usize) -> Option<(&[i8], f32)> {
        Some((
            self.rows.get(p * self.dims..(p + 1) * self.dims)?,
            *self.scales.get(p)?,
        ))
    }

    /// The sign bits of the document at position `p`.
    #[inline]
    pub fn bits_at(&self, p: usize) -> Option<&[u64]> {
        self.bits.get(p * self.words..(p + 1) * self.words)
    }

    /// The list position of `doc`, if it has a vector.
    #[inline]
    pub fn position(&self, doc: DocId) -> Option<usize> {
        match self.positions.get(doc as usize) {
            Some(&p) if p != u32::MAX => Some(p as usize),
            _ => None,
        }
    }

    /// Hints the CPU to load the int8 row at position `p` into cache.
    #[inline]
    pub fn prefetch_row(&self, p: usize) {
        #[cfg(target_arch = "x86_64")]
        {
            use std::arch::x86_64::{_mm_prefetch, _MM_HINT_T0};
            if let Some(row) = self.rows.get(p * self.dims..(p + 1) * self.dims) {
                for line in row.chunks(64) {
                    // SAFETY: a prefetch never faults; the pointer is in bounds anyway.
                    unsafe { _mm_prefetch::<_MM_HINT_T0>(line.as_ptr()) };
                }
            }
        }
        #[cfg(not(target_arch = "x86_64"))]
        let _ = p;
    }

    /// Documents held by all lists (the segment's documents with a vector).
    pub fn docs(&self) -> usize {
        self.docs.len()
    }

    /// The documents held by the lists, one bit each (bit `d % 64` of word `d / 64`).
    pub fn members(&self) -> &[u64] {
        &self.members
    }

    /// The lists by their centroid's similarity to `query`, nearest first.
    pub fn nearest(&self, query: &[f32]) -> Vec<usize> {
        if query.len() != self.dims || self.dims == 0 {
            return Vec::new();
        }
        let mut scored: Vec<(f32, usize)> = self
            .centroids
            .chunks_exact(self.dims)
            .map(|c| dot(c, query))
            .zip(0..)
            .collect();
        scored.sort_unstable_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
        scored.into_iter().map(|(_, i)| i).collect()
    }

    /// Bytes held (centroids, lists and their rows).
    pub fn heap_bytes(&self) -> usize {
        (self.centroids.len()
            + self.offsets.len()
            + self.docs.len()
            + self.scales.len()
            + self.positions.len())
            * 4
            + self.rows.len()
            + (self.bits.len() + self.members.len()) * 8
    }
}

/// Centroids quantized to int8 for the assignment step.
struct Quantized {
    dims: usize,
    rows: Vec<i8>,
    scales: Vec<f32>,
}

impl Quantized {
    fn of(centroids: &[f32], dims: usize) -> Quantized {
        let mut rows = vec![0i8; centroids.len()];
        let scales = centroids
            .chunks_exact(dims)
            .zip(rows.chunks_exact_mut(dims))
            .map(|(c, r)| quantize(c, r))
            .collect();
        Quantized { dims, rows, scales }
    }

    /// The centroid with the largest dot product with the int8 row `row` (its own scale
    /// is the same for every centroid, so it is left out).
    fn nearest(&self, row: &[i8]) -> usize {
        let mut best = (f32::NEG_INFINITY, 0);
        for (i, (c, &s)) in self
            .rows
            .chunks_exact(self.dims)
            .zip(&self.scales)
            .enumerate()
        {
            let score = dot_i8(c, row) as f32 * s;
            if score > best.0 {
                best = (score, i);
            }
        }
        best.1
    }
}

/// `n` items of `from`, evenly spaced (all of them when `n >= from.len()`).
fn spread(from: &[DocId], n: usize) -> Vec<DocId> {
    if n >= from.len() {
        return from.to_vec();
    }
    (0..n).map(|i| from[i * from.len() / n]).collect()
}
