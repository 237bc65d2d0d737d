//! The dense leg: top-k documents by cosine between the query vector and the vectors stored
//! with each paper, among the documents that pass the request's filters.
//!
//! Rows come from the index's per-segment matrices ([`crate::index::vectors`]). The scan reads
//! the int8 copy (a quarter of the memory traffic of f32, which is what bounds an exact scan),
//! keeps the best `OVERSAMPLE * k` candidates by the approximate score, and rescores those with
//! the int16 copy of the vectors: the returned scores are cosines to about 1e-6.
//!
//! A segment of [`BINARY_MIN_VECTORS`] vectors or more is first ranked by the Hamming distance
//! between sign bits of the centered vectors; only its nearest eighth (at most
//! [`BINARY_KEEP_GROWTH`] times the int8 candidates' minimum) goes to the int8 pass. Segments are
//! scanned in parallel, one thread per core.
//! The binary pass is approximate (99.8% of the exact top 10 kept on 10,000 real abstracts);
//! smaller segments are scanned exactly.
//!
//! A segment with inverted lists ([`crate::index::ivf`], built off the request path for
//! segments of [`ivf::MIN_VECTORS`] vectors or more) is scanned through them instead: the
//! collector only marks the documents the filters let through, then reads the lists of the
//! centroids nearest to the query, in order, until it has ranked a [`PROBE_FRACTION`]th of
//! those documents (and at least the binary pass's minimum) by their sign bits; the nearest
//! of them, as many as the binary pass's minimum, go to the int8 pass. A filter so narrow that
//! this is most of its documents is scanned whole, exactly. At 2.7M papers: recall@10 0.964
//! against the exact scan, a third of the binary pass's time (BENCHMARKS.md).

use std::cmp::Ordering;
use std::sync::Arc;

use tantivy::collector::{Collector, SegmentCollector};
use tantivy::fastfield::AliveBitSet;
use tantivy::query::AllQuery;
use tantivy::query::{EnableScoring, Query};
use tantivy::{DocAddress, DocId, Executor, Score, Searcher, SegmentOrdinal, SegmentReader};

use super::error::QueryError;
use super::facets::{Facets, OrdinalFacets};
use super::filters::FilterSet;
use super::topk::{Leg, TopK};
use crate::embed::{dot_i8, quantize};
use crate::index::ivf;
use crate::index::vectors::{self, bit_words, sign_bits};
use crate::index::{PaperIndex, SegmentVectors, VectorCache};

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

/// The int8 pass of a segment gets at most this many times `BINARY_OVERSAMPLE` times its
/// int8 candidates, however large the segment: the true neighbours stand further out of a
/// larger crowd, and an int8 pass over an eighth of a 270,000-vector segment was most of the
/// scan's time. Measured with the search bench (top 100, 20 queries): recall@10 against the
/// exact scan 1.0 on the 118K real vectors and 0.995 at 2.7M papers (BENCHMARKS.md).
pub const BINARY_KEEP_GROWTH: usize = 2;

/// A segment scanned through its inverted lists ranks at least this fraction (one over it)
/// of the documents passing the filters by sign bits: the lists of the nearest centroids are
/// read until it has. Measured with the search bench (`dense leg alone`, BENCHMARKS.md) at
/// 2.7M papers: recall@10 against the exact scan 0.893 at 1/8, 0.949 at 1/4, 0.964 at 1/3.
pub const PROBE_FRACTION: usize = 3;

/// The thread pool the dense scan spreads an index's segments over (one thread per core, at
/// most four; a single thread when the pool cannot be built). Concurrent searches queue for
/// it, so the scan never runs on more threads than there are cores.
fn executor() -> &'static Executor {
    static POOL: std::sync::OnceLock<Executor> = std::sync::OnceLock::new();
    POOL.get_or_init(|| {
        let threads = std::thread::available_parallelism()
            .map(|n| n.get().clamp(1, 4))
            .unwrap_or(1);
        if threads == 1 {
            return Executor::single_thread();
        }
        Executor::multi_thread(threads, "dense-scan-").unwrap_or_else(|_| Executor::single_thread())
    })
}

/// Decodes the vectors of every segment `searcher` sees into the index's cache, over the scan's
/// threads, so that the first searches do not pay it (at 2.7M papers it is tens of seconds).
/// Returns how many vectors the segments hold (decoded now or before).
pub fn warm(index: &PaperIndex, searcher: &Searcher) -> Result<usize, QueryError> {
    let cache = index.vectors();
    let counts = executor().map(
        |segment: &SegmentReader| cache.segment(segment).map(|v| v.with_vectors()),
        searcher.segment_readers().iter(),
    )?;
    Ok(counts.into_iter().sum())
}

/// Builds the inverted lists of every segment `searcher` sees that holds at least
/// [`ivf::MIN_VECTORS`] vectors and has none yet, one segment after another on the calling
/// thread (seconds per segment: call it off the request path; searches scan a segment without
/// lists as before meanwhile). Returns how many segments got lists.
pub fn build_lists(index: &PaperIndex, searcher: &Searcher) -> Result<usize, QueryError> {
    let mut built = 0;
    for segment in searcher.segment_readers() {
        if vectors::build_lists(index.vectors(), segment, ivf::MIN_VECTORS)? {
            built += 1;
        }
    }
    Ok(built)
}

/// Candidates ahead whose int8 rows are prefetched.
const PREFETCH_AHEAD: usize = 8;

/// Top-`k` documents by cosine to `query` among the documents a query matches, plus how many
/// matching documents have a vector.
pub struct DenseCollector {
    pub query: Arc<Vec<f32>>,
    pub k: usize,
    pub cache: Arc<VectorCache>,
    /// Segments with at least this many vectors get the binary first pass
    /// ([`BINARY_MIN_VECTORS`] by default).
    pub binary_min_vectors: usize,
    /// Whether segments with inverted lists are scanned through them (the default).
    pub use_lists: bool,
    /// See [`PROBE_FRACTION`].
    pub probe_fraction: usize,
}

impl DenseCollector {
    /// The collector of the top `k` by cosine to `query`, with the default binary threshold.
    pub fn new(query: Vec<f32>, k: usize, cache: Arc<VectorCache>) -> DenseCollector {
        DenseCollector {
            query: Arc::new(query),
            k,
            cache,
            binary_min_vectors: BINARY_MIN_VECTORS,
            use_lists: true,
            probe_fraction: PROBE_FRACTION,
        }
    }
}

/// Per-segment state of [`DenseCollector`].
pub struct DenseSegment {
    query: Arc<Vec<f32>>,
    query_i8: Arc<Vec<i8>>,
    vectors: Arc<SegmentVectors>,
    segment: SegmentOrdinal,
    top: TopK,
    with_vector: usize,
    /// The binary first pass, on large segments.
    binary: Option<BinaryPass>,
    /// The scan through inverted lists, on segments that have them.
    ivf: Option<ListsPass>,
}

/// The documents passing the filters that have a vector, marked as the query's scorer visits
/// them; the lists are read when the segment is harvested.
struct ListsPass {
    matched: Vec<u64>,
    /// One over the share of the marked documents ranked by sign bits ([`PROBE_FRACTION`]).
    fraction: usize,
}

impl ListsPass {
    #[inline]
    fn is_marked(&self, doc: DocId) -> bool {
        self.matched
            .get(doc as usize / 64)
            .is_some_and(|w| w >> (doc % 64) & 1 == 1)
    }
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
        let with_vectors = vectors.with_vectors();
        let least = k.saturating_mul(BINARY_OVERSAMPLE);
        let keep = (with_vectors / BINARY_FRACTION)
            .min(least.saturating_mul(BINARY_KEEP_GROWTH))
            .max(least);
        let ivf =
            (self.use_lists && vectors.lists().is_some() && vectors.dims() == self.query.len())
                .then(|| ListsPass {
                    matched: vec![0u64; (vectors.max_doc() as usize).div_ceil(64)],
                    fraction: self.probe_fraction.max(1),
                });
        let binary = (ivf.is_none()
            && with_vectors >= self.binary_min_vectors
            && with_vectors > keep
            && vectors.dims() == self.query.len())
        .then(|| {
            let mut query_bits = vec![0u64; bit_words(vectors.dims())];
            sign_bits(&self.query, vectors.mean(), &mut query_bits);
            BinaryPass {
                query_bits,
                keep,
                scanned: Vec::with_capacity(with_vectors),
                histogram: vec![0; vectors.dims() + 1],
            }
        });
        Ok(DenseSegment {
            query: self.query.clone(),
            query_i8: Arc::new(q),
            vectors,
            segment: ord,
            top: TopK::new(k),
            with_vector: 0,
            binary,
            ivf,
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
        if let Some(pass) = self.ivf.as_mut() {
            for &doc in docs {
                if self.vectors.has_vector(doc) {
                    if let Some(w) = pass.matched.get_mut(doc as usize / 64) {
                        *w |= 1 << (doc % 64);
                        self.with_vector += 1;
                    }
                }
            }
            return;
        }
        if self.binary.is_some() {
            #[cfg(target_arch = "x86_64")]
            if std::arch::is_x86_feature_detected!("popcnt") {
                // SAFETY: the CPU has POPCNT (checked at run time).
                unsafe { binary_block_popcnt(self, docs) };
                return;
            }
            self.binary_block(docs);
            return;
        }
        for &doc in docs {
            self.collect(doc, 0.0);
        }
    }

    #[inline]
    fn collect(&mut self, doc: DocId, _score: Score) {
        if self.ivf.is_some() {
            self.collect_block(&[doc]);
            return;
        }
        if self.binary.is_some() {
            self.binary_block(&[doc]);
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
        if let Some(pass) = self.ivf.take() {
            self.probe_lists(&pass);
        }
        if let Some(pass) = self.binary.take() {
            // The `keep` nearest by Hamming distance (ties at the cut by document order) go
            // through the int8 pass.
            let (cut, mut at_cut) = hamming_cut(&pass.histogram, pass.keep);
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
        // Rescoring of the int8 candidates with the int16 rows; `merge_fruits` keeps the best k
        // overall.
        let mut row = Vec::with_capacity(self.query.len());
        let rescored = self
            .top
            .into_unsorted()
            .into_iter()
            .filter_map(|s| Some((self.vectors.dot(s.1.doc_id, &self.query, &mut row)?, s.1)))
            .collect();
        (rescored, self.with_vector)
    }
}

impl DenseSegment {
    /// The binary pass over `docs`: each one's Hamming distance to the query's sign bits.
    /// Inlined into [`binary_block_popcnt`], where `count_ones` is one instruction; the
    /// portable build emulates it (a third of the speed at 2.7M papers, BENCHMARKS.md).
    #[inline(always)]
    fn binary_block(&mut self, docs: &[DocId]) {
        let Some(pass) = self.binary.as_mut() else {
            return;
        };
        for &doc in docs {
            if !self.vectors.has_vector(doc) {
                continue;
            }
            let Some(bits) = self.vectors.get_bits(doc) else {
                continue;
            };
            self.with_vector += 1;
            let d = hamming(bits, &pass.query_bits);
            if let Some(n) = pass.histogram.get_mut(d as usize) {
                *n += 1;
            }
            pass.scanned.push((d as u16, doc));
        }
    }

    /// The scan through the lists: a binary pass over the marked documents of the lists
    /// nearest to the query, list after list until a `pass.fraction`th of the marked documents
    /// (at least the binary pass's minimum) is ranked by Hamming distance; the nearest of
    /// those, as many as that minimum, go to the int8 pass. All marked documents go to the
    /// int8 pass when they are at most twice what would be ranked (a narrow filter).
    fn probe_lists(&mut self, pass: &ListsPass) {
        let least = self.top.capacity().saturating_mul(BINARY_OVERSAMPLE);
        let target = (self.with_vector / pass.fraction).max(least);
        let vectors = self.vectors.clone();
        let lists = match vectors.lists() {
            Some(lists) if self.with_vector > target.saturating_mul(2) => lists,
            // A narrow filter: every marked document. When they are more than a sixty-fourth of
            // the lists, read in list order (the lists hold the segment's only int8 rows: one
            // pass over them instead of a cache miss per document); fewer, one by one below.
            Some(lists) if self.with_vector.saturating_mul(64) >= lists.docs() => {
                for p in 0..lists.docs() {
                    if let (Some(doc), Some((row, scale))) = (lists.doc(p), lists.row(p)) {
                        if pass.is_marked(doc) {
                            let s = dot_i8(row, &self.query_i8) as f32 * scale;
                            self.top.offer(s, DocAddress::new(self.segment, doc));
                        }
                    }
                }
                return;
            }
            _ => {
                for (w, &word) in pass.matched.iter().enumerate() {
                    let mut bits = word;
                    while bits != 0 {
                        let doc = (w * 64) as DocId + bits.trailing_zeros();
                        bits &= bits - 1;
                        self.int8_candidate(doc);
                    }
                }
                return;
            }
        };
        // The lists have already set the crowd aside: the binary pass's minimum goes on.
        let keep = least;
        let mut ranked = Ranked {
            query_bits: vec![0u64; bit_words(vectors.dims())],
            histogram: vec![0; vectors.dims() + 1],
            scanned: Vec::with_capacity(target + target / 4),
        };
        sign_bits(&self.query, vectors.mean(), &mut ranked.query_bits);
        for list in lists.nearest(&self.query) {
            let span = lists.span(list);
            #[cfg(target_arch = "x86_64")]
            if std::arch::is_x86_feature_detected!("popcnt") {
                // SAFETY: the CPU has POPCNT (checked at run time).
                unsafe { rank_span_popcnt(lists, span, pass, &mut ranked) };
            } else {
                rank_span(lists, span, pass, &mut ranked);
            }
            #[cfg(not(target_arch = "x86_64"))]
            rank_span(lists, span, pass, &mut ranked);
            if ranked.scanned.len() >= target {
                break;
            }
        }
        let (cut, mut at_cut) = hamming_cut(&ranked.histogram, keep);
        let mut kept = Vec::with_capacity(keep);
        for &(d, p) in &ranked.scanned {
            let d = usize::from(d);
            if d > cut || (d == cut && at_cut == 0) {
                continue;
            }
            if d == cut {
                at_cut -= 1;
            }
            kept.push(p as usize);
        }
        for (i, &p) in kept.iter().enumerate() {
            if let Some(&ahead) = kept.get(i + PREFETCH_AHEAD) {
                lists.prefetch_row(ahead);
            }
            if let (Some(doc), Some((row, scale))) = (lists.doc(p), lists.row(p)) {
                let s = dot_i8(row, &self.query_i8) as f32 * scale;
                self.top.offer(s, DocAddress::new(self.segment, doc));
            }
        }
    }

    /// Marks every document with a vector that `alive` keeps (all of them without deletes),
    /// as a query matching every document would, a word of the lists' member bits at a time.
    fn mark_all(&mut self, alive: Option<&AliveBitSet>) {
        let vectors = self.vectors.clone();
        let (Some(pass), Some(lists)) = (self.ivf.as_mut(), vectors.lists()) else {
            return;
        };
        for (w, (out, &members)) in pass.matched.iter_mut().zip(lists.members()).enumerate() {
            let mut bits = members;
            if let Some(alive) = alive {
                let mut m = bits;
                while m != 0 {
                    let i = m.trailing_zeros();
                    m &= m - 1;
                    if !alive.is_alive((w * 64) as DocId + i) {
                        bits &= !(1 << i);
                    }
                }
            }
            *out = bits;
            self.with_vector += bits.count_ones() as usize;
        }
    }

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
        self.top.offer(s, DocAddress::new(self.segment, doc));
    }
}

/// The `keep` nearest of a binary pass: every distance below the first returned, and the
/// second's count of those at it (in scan order), from the documents per distance.
fn hamming_cut(histogram: &[u32], keep: usize) -> (usize, usize) {
    let mut below = 0usize;
    for (d, &n) in histogram.iter().enumerate() {
        if below + n as usize >= keep {
            return (d, keep - below);
        }
        below += n as usize;
    }
    (histogram.len(), 0)
}

/// A binary pass through inverted lists: Hamming distances of the list positions scanned.
struct Ranked {
    query_bits: Vec<u64>,
    histogram: Vec<u32>,
    /// (distance, list position) of each marked document scanned.
    scanned: Vec<(u16, u32)>,
}

/// Ranks the marked documents at the list positions `span` by Hamming distance to the
/// query's sign bits (the lists keep each list's bits together: one run of memory).
#[inline(always)]
fn rank_span(lists: &ivf::Lists, span: std::ops::Range<usize>, pass: &ListsPass, out: &mut Ranked) {
    let start = span.start;
    let Some((docs, bits, words)) = lists.span_bits(span) else {
        return;
    };
    for (p, (&doc, bits)) in (start..).zip(docs.iter().zip(bits.chunks_exact(words.max(1)))) {
        if !pass.is_marked(doc) {
            continue;
        }
        let d = hamming(bits, &out.query_bits);
        if let Some(n) = out.histogram.get_mut(d as usize) {
            *n += 1;
        }
        out.scanned.push((d as u16, p as u32));
    }
}

/// [`rank_span`] compiled with POPCNT.
///
/// # Safety
/// The CPU must have POPCNT (`is_x86_feature_detected!("popcnt")`).
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "popcnt")]
unsafe fn rank_span_popcnt(
    lists: &ivf::Lists,
    span: std::ops::Range<usize>,
    pass: &ListsPass,
    out: &mut Ranked,
) {
    rank_span(lists, span, pass, out);
}

#[inline(always)]
fn hamming(a: &[u64], b: &[u64]) -> u32 {
    a.iter().zip(b).map(|(x, y)| (x ^ y).count_ones()).sum()
}

/// [`DenseSegment::binary_block`] compiled with POPCNT.
///
/// # Safety
/// The CPU must have POPCNT (`is_x86_feature_detected!("popcnt")`, which std caches).
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "popcnt")]
unsafe fn binary_block_popcnt(seg: &mut DenseSegment, docs: &[DocId]) {
    seg.binary_block(docs);
}

/// Runs `collector` over the documents `query` matches, the segments in parallel on the
/// scan's threads: the best documents by cosine (best first) and how many matches have a
/// vector.
pub fn run(
    searcher: &Searcher,
    query: &dyn Query,
    collector: &DenseCollector,
) -> Result<(Vec<(Score, DocAddress)>, usize), QueryError> {
    if query.downcast_ref::<AllQuery>().is_none() {
        return Ok(searcher.search_with_executor(
            query,
            collector,
            executor(),
            EnableScoring::disabled_from_searcher(searcher),
        )?);
    }
    // Every document matches: a segment with lists takes its members as they are instead of
    // visiting each document; the others are collected as tantivy would.
    let weight = AllQuery.weight(EnableScoring::disabled_from_searcher(searcher))?;
    let fruits = executor().map(
        |(ord, segment): (usize, &SegmentReader)| {
            let ord = ord as SegmentOrdinal;
            if !(collector.use_lists && collector.cache.segment(segment)?.lists().is_some()) {
                return collector.collect_segment(&*weight, ord, segment);
            }
            let mut child = collector.for_segment(ord, segment)?;
            child.mark_all(segment.alive_bitset());
            Ok(child.harvest())
        },
        searcher.segment_readers().iter().enumerate(),
    )?;
    Ok(collector.merge_fruits(fruits)?)
}

/// The dense leg: top `depth` documents by cosine to `vector` among those passing `filters`,
/// how many documents with a vector pass them, and with `facets` their source and category
/// counts (in the same pass: dense ranks every paper passing the filters, so those are what
/// the facets count).
pub fn leg(
    index: &PaperIndex,
    searcher: &Searcher,
    vector: &[f32],
    filters: &FilterSet,
    depth: usize,
    facets: bool,
) -> Result<(Leg, usize, Option<Facets>), QueryError> {
    let query: Box<dyn Query> = filters.matching_all();
    index.vectors().retain_live(searcher);
    let collector = DenseCollector::new(vector.to_vec(), depth.max(1), index.vectors().clone());
    let unscored = || EnableScoring::disabled_from_searcher(searcher);
    if !facets {
        let (docs, total) = run(searcher, &*query, &collector)?;
        return Ok((docs.into_iter().map(|(s, a)| (a, s)).collect(), total, None));
    }
    let ((docs, total), counts) = searcher.search_with_executor(
        &query,
        &(collector, OrdinalFacets::new(index, searcher)),
        executor(),
        unscored(),
    )?;
    Ok((
        docs.into_iter().map(|(s, a)| (a, s)).collect(),
        total,
        Some(counts),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::embed::{dot, normalize};
    use crate::index::encode_vector;
    use crate::index::segment_cache::SegmentData;
    use tantivy::query::{AllQuery, TermQuery};
    use tantivy::schema::{BytesOptions, IndexRecordOption, Schema, STRING};
    use tantivy::{doc, Index, Term};

    const DIMS: usize = 48;

    /// Unit vectors around 12 centres (like topics), every fifth document without a vector, in
    /// one segment; a `tag` field marks the even documents.
    fn index(n: usize, seed: u64) -> (Index, Vec<Option<Vec<f32>>>) {
        index_with(n, seed, 12, 0.6)
    }

    /// Like [`index`], with `centres` topics and noise `noise` around them. The vectors
    /// returned are the stored ones as their int16 rows give them back, as the scan ranks them.
    fn index_with(
        n: usize,
        seed: u64,
        centres: usize,
        noise: f32,
    ) -> (Index, Vec<Option<Vec<f32>>>) {
        let (index, stored) = index_stored(n, seed, centres, noise);
        let rounded = stored
            .into_iter()
            .map(|v| {
                v.map(|v| {
                    let (mut row, mut out) = (vec![0i16; v.len()], vec![0f32; v.len()]);
                    let scale = crate::embed::quantize_i16(&v, &mut row);
                    crate::embed::dequantize_i16(&row, scale, &mut out);
                    out
                })
            })
            .collect();
        (index, rounded)
    }

    /// Like [`index_with`], returning the vectors as stored (f32).
    fn index_stored(
        n: usize,
        seed: u64,
        centres: usize,
        noise: f32,
    ) -> (Index, Vec<Option<Vec<f32>>>) {
        let mut schema = Schema::builder();
        let embedding = schema.add_bytes_field("embedding", BytesOptions::default().set_fast());
        let tag = schema.add_text_field("tag", STRING);
        let index = Index::create_in_ram(schema.build());
        let mut rng = fastrand::Rng::with_seed(seed);
        let centres: Vec<Vec<f32>> = (0..centres).map(|_| unit(&mut rng, None, 1.0)).collect();
        let mut writer = index
            .writer_with_num_threads(1, 50_000_000)
            .expect("writer");
        let mut vectors = Vec::with_capacity(n);
        for d in 0..n {
            let t = if d % 2 == 0 { "even" } else { "odd" };
            if d % 5 == 4 {
                writer.add_document(doc!(tag => t)).expect("add");
                vectors.push(None);
                continue;
            }
            let centre = &centres[rng.usize(..centres.len())];
            let v = unit(&mut rng, Some(centre), noise);
            writer
                .add_document(doc!(tag => t, embedding => encode_vector(&v)))
                .expect("add");
            vectors.push(Some(v));
        }
        writer.commit().expect("commit");
        (index, vectors)
    }

    /// A unit vector: random, or `around` plus noise of size `noise`.
    fn unit(rng: &mut fastrand::Rng, around: Option<&[f32]>, noise: f32) -> Vec<f32> {
        let mut v: Vec<f32> = (0..DIMS)
            .map(|i| around.map_or(0.0, |c| c[i]) + noise * (rng.f32() * 2.0 - 1.0))
            .collect();
        normalize(&mut v);
        v
    }

    /// The exact top `k` by dot product among the documents `keep` allows.
    fn exact(
        vectors: &[Option<Vec<f32>>],
        q: &[f32],
        k: usize,
        keep: impl Fn(usize) -> bool,
    ) -> Vec<u32> {
        let mut all: Vec<(f32, u32)> = vectors
            .iter()
            .enumerate()
            .filter(|(d, _)| keep(*d))
            .filter_map(|(d, v)| v.as_ref().map(|v| (dot(v, q), d as u32)))
            .collect();
        all.sort_by(|a, b| {
            b.0.partial_cmp(&a.0)
                .unwrap_or(Ordering::Equal)
                .then(a.1.cmp(&b.1))
        });
        all.into_iter().take(k).map(|(_, d)| d).collect()
    }

    /// Runs the collector; returns the documents, checking each score is the exact cosine.
    fn scan(
        index: &Index,
        vectors: &[Option<Vec<f32>>],
        q: &[f32],
        k: usize,
        binary_min_vectors: usize,
        query: &dyn Query,
    ) -> (Vec<u32>, usize) {
        let searcher = index.reader().expect("reader").searcher();
        let mut collector = DenseCollector::new(q.to_vec(), k, Arc::new(VectorCache::default()));
        collector.binary_min_vectors = binary_min_vectors;
        let (top, with_vector) = searcher.search(query, &collector).expect("search");
        let docs: Vec<u32> = top.iter().map(|(_, a)| a.doc_id).collect();
        for (score, addr) in &top {
            let v = vectors[addr.doc_id as usize]
                .as_ref()
                .expect("a document with a vector");
            assert_eq!(*score, dot(v, q), "rescored exactly");
        }
        assert!(top.windows(2).all(|w| w[0].0 >= w[1].0), "best first");
        (docs, with_vector)
    }

    #[test]
    fn int8_pass_with_exact_rescoring_finds_the_exact_top_k() {
        let (index, vectors) = index(3000, 1);
        let mut rng = fastrand::Rng::with_seed(2);
        for _ in 0..40 {
            let near = vectors[rng.usize(..3000)]
                .as_deref()
                .or(vectors[0].as_deref());
            let q = unit(&mut rng, near, 0.3);
            for k in [1, 10, 50] {
                let (docs, with_vector) = scan(&index, &vectors, &q, k, usize::MAX, &AllQuery);
                assert_eq!(docs, exact(&vectors, &q, k, |_| true), "k={k}");
                assert_eq!(with_vector, vectors.iter().filter(|v| v.is_some()).count());
            }
        }
    }

    #[test]
    fn filters_limit_the_scan_and_the_count() {
        let (index, vectors) = index(1000, 3);
        let even = TermQuery::new(
            Term::from_field_text(index.schema().get_field("tag").expect("tag"), "even"),
            IndexRecordOption::Basic,
        );
        let q = vectors[1].clone().expect("a vector");
        let (docs, with_vector) = scan(&index, &vectors, &q, 20, usize::MAX, &even);
        assert_eq!(docs, exact(&vectors, &q, 20, |d| d % 2 == 0));
        let evens_with_vectors = (0..1000)
            .filter(|d| d % 2 == 0 && vectors[*d].is_some())
            .count();
        assert_eq!(with_vector, evens_with_vectors);
    }

    #[test]
    fn binary_first_pass_keeps_nearly_all_of_the_exact_top_k() {
        let (index, vectors) = index(4000, 4);
        let mut rng = fastrand::Rng::with_seed(5);
        let (mut kept, mut total) = (0, 0);
        for _ in 0..50 {
            let near = vectors[rng.usize(..4000)]
                .as_deref()
                .or(vectors[1].as_deref());
            let q = unit(&mut rng, near, 0.3);
            let want = exact(&vectors, &q, 10, |_| true);
            // Forced on this small segment: an eighth of it goes to the int8 pass.
            let (docs, _) = scan(&index, &vectors, &q, 10, 0, &AllQuery);
            assert_eq!(docs.len(), 10);
            kept += want.iter().filter(|d| docs.contains(d)).count();
            total += want.len();
        }
        let recall = kept as f64 / total as f64;
        assert!(recall >= 0.9, "binary pass recall@10 {recall:.3}");
    }

    #[test]
    fn segment_vectors_decode_rows_int8_and_sign_bits() {
        let (index, stored) = index_stored(200, 6, 12, 0.6);
        let (_, vectors) = index_with(200, 6, 12, 0.6);
        let searcher = index.reader().expect("reader").searcher();
        let segment = &searcher.segment_readers()[0];
        let decoded = SegmentVectors::load(segment).expect("decode");
        assert_eq!(decoded.dims(), DIMS);
        assert_eq!(
            decoded.with_vectors(),
            vectors.iter().filter(|v| v.is_some()).count()
        );
        let mut buf = Vec::new();
        let queries: Vec<&Vec<f32>> = stored.iter().flatten().take(5).collect();
        for (d, v) in vectors.iter().enumerate() {
            let doc = d as DocId;
            assert_eq!(decoded.vector(doc).as_ref(), v.as_ref(), "{d}");
            assert_eq!(decoded.has_vector(doc), v.is_some());
            // The int16 rows rank as the stored f32 vectors do, to within 2e-5 of a cosine in
            // 48 dimensions (the error shrinks as the dimensions grow).
            if let Some(raw) = &stored[d] {
                for q in &queries {
                    let got = decoded.dot(doc, q, &mut buf).expect("a vector");
                    assert!(
                        (got - dot(raw, q)).abs() <= 2e-5,
                        "{d}: {got} {}",
                        dot(raw, q)
                    );
                }
            }
            match (v, decoded.get_quantized(doc), decoded.get_bits(doc)) {
                (Some(v), Some((row, scale)), Some(bits)) => {
                    // int8 rows are quantized from the stored f32 vector, sign bits from the
                    // int16 rows.
                    let raw = stored[d].as_ref().expect("stored");
                    for (x, q) in raw.iter().zip(row) {
                        assert!((x - f32::from(*q) * scale).abs() <= scale / 2.0 + 1e-7);
                    }
                    let mut want = vec![0u64; bit_words(DIMS)];
                    sign_bits(v, decoded.mean(), &mut want);
                    assert_eq!(bits, &want[..]);
                }
                (None, None, _) => {}
                other => panic!("{d}: {other:?}"),
            }
        }
    }

    #[test]
    fn binary_pass_is_capped_and_the_popcnt_build_computes_the_same_distances() {
        let (index, vectors) = index(8000, 7);
        let searcher = index.reader().expect("reader").searcher();
        let seg = &searcher.segment_readers()[0];
        let q = vectors[3].clone().expect("a vector");
        let mut c = DenseCollector::new(q, 10, Arc::new(VectorCache::default()));
        c.binary_min_vectors = 0;
        let mut portable = c.for_segment(0, seg).expect("segment");
        let mut dispatched = c.for_segment(0, seg).expect("segment");
        // 6,400 vectors: an eighth (800) is more than BINARY_KEEP_GROWTH times the least
        // (10 * OVERSAMPLE * BINARY_OVERSAMPLE = 320), so the int8 pass gets 640.
        assert_eq!(portable.binary.as_ref().map(|p| p.keep), Some(640));
        let docs: Vec<DocId> = (0..seg.max_doc()).collect();
        portable.binary_block(&docs);
        for block in docs.chunks(64) {
            dispatched.collect_block(block);
        }
        let (a, b) = (
            portable.binary.as_ref().expect("binary pass"),
            dispatched.binary.as_ref().expect("binary pass"),
        );
        assert_eq!(a.scanned.len(), 6400);
        assert_eq!(a.scanned, b.scanned);
        assert_eq!(a.histogram, b.histogram);
        assert_eq!(portable.with_vector, dispatched.with_vector);
    }

    /// A searcher over `index` and a vector cache holding the inverted lists of its one
    /// segment (built whatever its size).
    fn with_lists(index: &Index) -> (Searcher, Arc<VectorCache>) {
        let searcher = index.reader().expect("reader").searcher();
        let cache = Arc::new(VectorCache::default());
        let segment = &searcher.segment_readers()[0];
        assert!(vectors::build_lists(&cache, segment, 1).expect("lists"));
        let segment = cache.segment(segment).expect("vectors");
        assert!(segment.lists().is_some(), "lists built");
        assert!(
            segment.get_quantized(0).is_some(),
            "rows by document, through the lists"
        );
        (searcher, cache)
    }

    /// Runs the collector through the lists of `cache` with probe fraction `fraction`.
    fn scan_lists(
        (searcher, cache): &(Searcher, Arc<VectorCache>),
        vectors: &[Option<Vec<f32>>],
        q: &[f32],
        k: usize,
        fraction: usize,
        query: &dyn Query,
    ) -> (Vec<u32>, usize) {
        let mut collector = DenseCollector::new(q.to_vec(), k, cache.clone());
        collector.probe_fraction = fraction;
        let (top, with_vector) = run(searcher, query, &collector).expect("search");
        for (score, addr) in &top {
            let v = vectors[addr.doc_id as usize].as_ref().expect("a vector");
            assert_eq!(*score, dot(v, q), "rescored exactly");
        }
        (top.iter().map(|(_, a)| a.doc_id).collect(), with_vector)
    }

    #[test]
    fn inverted_lists_hold_every_vector_once_in_its_nearest_list() {
        let (index, vectors) = index(3000, 8);
        let searcher = index.reader().expect("reader").searcher();
        let segment = &searcher.segment_readers()[0];
        let cache = VectorCache::default();
        let decoded = cache.segment(segment).expect("decode");
        assert!(
            !vectors::build_lists(&cache, segment, decoded.with_vectors() + 1).expect("lists"),
            "too few"
        );
        assert!(decoded.lists().is_none());
        assert!(vectors::build_lists(&cache, segment, 1).expect("lists"));
        assert!(
            !vectors::build_lists(&cache, segment, 1).expect("lists"),
            "built once"
        );
        let with_lists = cache.segment(segment).expect("vectors");
        assert!(
            decoded.lists().is_none(),
            "a holder of the entry before keeps it"
        );
        let lists = with_lists.lists().expect("lists");
        // The lists answer for the document-order rows and bits they replace.
        for doc in 0..3000 {
            assert_eq!(
                with_lists.get_quantized(doc),
                decoded.get_quantized(doc),
                "{doc}"
            );
            assert_eq!(
                with_lists.get_bits(doc).is_some(),
                vectors[doc as usize].is_some()
            );
            if vectors[doc as usize].is_some() {
                assert_eq!(with_lists.get_bits(doc), decoded.get_bits(doc), "{doc}");
            }
            assert_eq!(with_lists.vector(doc), decoded.vector(doc));
        }
        assert!(with_lists.heap_bytes() < decoded.heap_bytes() + lists.heap_bytes());
        assert_eq!(lists.len(), ivf::lists_for(decoded.with_vectors()));
        let mut all: Vec<DocId> = (0..lists.len())
            .flat_map(|i| lists.list(i).to_vec())
            .collect();
        all.sort_unstable();
        let want: Vec<DocId> = (0..3000)
            .filter(|&d| vectors[d as usize].is_some())
            .collect();
        assert_eq!(all, want, "each document with a vector in exactly one list");
        assert_eq!(lists.docs(), want.len());
        // A vector's own list is among the first few its vector probes (k-means on int8 rows
        // can leave a point one centroid off its exact nearest).
        let mut near = 0;
        for i in 0..lists.len() {
            for &doc in lists.list(i).iter().take(3) {
                let v = vectors[doc as usize].as_ref().expect("a vector");
                near += usize::from(lists.nearest(v).iter().take(3).any(|&l| l == i));
            }
        }
        let probed: usize = (0..lists.len()).map(|i| lists.list(i).len().min(3)).sum();
        assert!(
            near * 10 >= probed * 9,
            "{near} of {probed} in their top-3 lists"
        );
    }

    #[test]
    fn inverted_lists_keep_nearly_all_of_the_exact_top_k_and_respect_filters() {
        // Many tight topics, as real abstracts have: a query's neighbours share its topic.
        let (index, vectors) = index_with(6000, 9, 150, 0.25);
        let lists = with_lists(&index);
        let even = TermQuery::new(
            Term::from_field_text(index.schema().get_field("tag").expect("tag"), "even"),
            IndexRecordOption::Basic,
        );
        let mut rng = fastrand::Rng::with_seed(10);
        let (mut kept, mut total) = (0, 0);
        for _ in 0..40 {
            let near = vectors[rng.usize(..6000)]
                .as_deref()
                .or(vectors[1].as_deref());
            let q = unit(&mut rng, near, 0.3);
            // 4,800 vectors, a sixteenth is 300 < the minimum of 10 * 4 * 8 = 320: the lists of
            // the nearest centroids are read until 320 are scored.
            let (docs, with_vector) = scan_lists(&lists, &vectors, &q, 10, 16, &AllQuery);
            assert_eq!(with_vector, vectors.iter().filter(|v| v.is_some()).count());
            let want = exact(&vectors, &q, 10, |_| true);
            kept += want.iter().filter(|d| docs.contains(d)).count();
            total += want.len();
            // The filter holds, and the count is of the filtered documents.
            let (docs, with_vector) = scan_lists(&lists, &vectors, &q, 10, 16, &even);
            assert!(docs.iter().all(|d| d % 2 == 0));
            assert_eq!(
                with_vector,
                (0..6000)
                    .filter(|d| d % 2 == 0 && vectors[*d].is_some())
                    .count()
            );
        }
        // Ranking a sixteenth of the vectors by their sign bits keeps most of the exact top 10
        // (a broken probe would keep about a sixteenth of it); a quarter keeps nearly all
        // (measured 0.88 and 0.88-0.94: 48 sign bits say less than 384 do, and synthetic
        // topics are rounder than real ones).
        let recall = kept as f64 / total as f64;
        assert!(recall >= 0.8, "recall@10 through the lists {recall:.3}");
        let (mut kept, mut total) = (0, 0);
        for d in (0..6000).step_by(150) {
            let Some(q) = vectors[d].as_deref() else {
                continue;
            };
            let q = unit(&mut rng, Some(q), 0.3);
            let (docs, _) = scan_lists(&lists, &vectors, &q, 10, 4, &AllQuery);
            let want = exact(&vectors, &q, 10, |_| true);
            kept += want.iter().filter(|d| docs.contains(d)).count();
            total += want.len();
        }
        let recall = kept as f64 / total as f64;
        assert!(recall >= 0.85, "recall@10 ranking a quarter {recall:.3}");
    }

    #[test]
    fn a_narrow_filter_on_a_segment_with_lists_is_scanned_exactly() {
        let (index, vectors) = index(3000, 11);
        let lists = with_lists(&index);
        let q = vectors[2].clone().expect("a vector");
        // 1,200 even documents with a vector: at most twice the minimum of 20 * 4 * 8 = 640,
        // so every one of them is scored and the result is the exact top 20.
        let even = TermQuery::new(
            Term::from_field_text(index.schema().get_field("tag").expect("tag"), "even"),
            IndexRecordOption::Basic,
        );
        let (docs, _) = scan_lists(&lists, &vectors, &q, 20, 16, &even);
        assert_eq!(docs, exact(&vectors, &q, 20, |d| d % 2 == 0));
        // Probing every list (a fraction of one) is exact too.
        let (docs, _) = scan_lists(&lists, &vectors, &q, 20, 1, &AllQuery);
        assert_eq!(docs, exact(&vectors, &q, 20, |_| true));
    }

    #[test]
    fn deleted_documents_leave_the_lists_scan() {
        let (index, vectors) = index(3000, 12);
        let tag = index.schema().get_field("tag").expect("tag");
        let mut writer: tantivy::IndexWriter = index
            .writer_with_num_threads(1, 15_000_000)
            .expect("writer");
        writer.delete_term(Term::from_field_text(tag, "odd"));
        writer.commit().expect("commit");
        let lists = with_lists(&index);
        let q = vectors[2].clone().expect("a vector");
        // Every list read (a fraction of one): the exact top 20 of the even documents, the
        // count of the even documents with a vector.
        let (docs, with_vector) = scan_lists(&lists, &vectors, &q, 20, 1, &AllQuery);
        assert_eq!(docs, exact(&vectors, &q, 20, |d| d % 2 == 0));
        assert_eq!(
            with_vector,
            (0..3000)
                .filter(|d| d % 2 == 0 && vectors[*d].is_some())
                .count()
        );
        // Through the lists, deleted documents never come back either.
        let (docs, _) = scan_lists(&lists, &vectors, &q, 5, 16, &AllQuery);
        assert_eq!(docs.len(), 5);
        assert!(docs.iter().all(|d| d % 2 == 0), "{docs:?}");
    }

    #[test]
    fn hamming_counts_differing_bits() {
        assert_eq!(hamming(&[0b1011, 0], &[0b0001, 1 << 63]), 3);
        assert_eq!(hamming(&[], &[]), 0);
        let mut bits = vec![0u64; bit_words(3)];
        sign_bits(&[0.5, -0.5, 0.1], &[0.0, 0.0, 0.2], &mut bits);
        assert_eq!(bits, vec![0b001]);
    }
}
