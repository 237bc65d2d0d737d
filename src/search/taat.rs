//! Term-at-a-time BM25 for the common query shape: words OR-ed together, each a term query on a
//! text field with term frequencies (what plain words parse into), possibly with `+required`
//! and `-excluded` words, under optional filters.
//!
//! Such a query needs every match scored anyway: the total and the facet counts cover all of
//! them, and with words that each match a third of the papers block-WAND cannot skip much. So
//! instead of merging the terms' postings document by document (tantivy's union scorer, then
//! one collector call per match), each term's postings are read block by block and their BM25
//! contributions added into one score per document of the segment; one sweep over those scores
//! then counts, facets and keeps the top `depth`. Same scores as tantivy's `Bm25Weight` (to the
//! last bits of the float sum, whose order differs), same order (score, then `DocAddress`).
//!
//! Any other query shape returns `None` from [`TermDisjunction::of`] and goes through tantivy.

use std::cell::RefCell;

use tantivy::collector::Collector;
use tantivy::directory::OwnedBytes;
use tantivy::fieldnorm::FieldNormReader;
use tantivy::postings::{BlockSegmentPostings, TermInfo};
use tantivy::query::{
    Bm25Weight, BooleanQuery, BoostQuery, EnableScoring, Occur, Query, TermQuery, Weight,
};
use tantivy::schema::{Field, IndexRecordOption};
use tantivy::{DocAddress, DocId, Score, Searcher, SegmentReader, Term};

use super::facets::{Facets, OrdinalFacets, OrdinalFacetsSegment};
use super::topk::TopK;

/// A query that is a sum of BM25 term scores: its scored terms in clause order with their
/// boosts, the terms a match must contain (`+word`, also scored) and those it must not
/// (`-word`).
#[derive(Debug, Clone)]
pub struct TermDisjunction {
    terms: Vec<Term>,
    boosts: Vec<Score>,
    required: Vec<Term>,
    excluded: Vec<Term>,
}

/// An OR of term queries, each with its own boost: the BM25 score of a document is the sum
/// of `boost * bm25(term)` over the terms it contains. What query translation adds (a
/// word's translations, weighted), ranked term at a time like plain words.
#[derive(Debug, Clone)]
pub struct WeightedTerms {
    terms: Vec<(Term, Score)>,
}

impl WeightedTerms {
    /// The weighted OR of `terms` (boosts must be finite and positive; others are dropped).
    pub fn new(terms: Vec<(Term, Score)>) -> WeightedTerms {
        WeightedTerms {
            terms: terms
                .into_iter()
                .filter(|(_, b)| b.is_finite() && *b > 0.0)
                .collect(),
        }
    }

    /// Its terms and boosts.
    pub fn terms(&self) -> &[(Term, Score)] {
        &self.terms
    }

    fn as_boolean(&self) -> BooleanQuery {
        BooleanQuery::new(
            self.terms
                .iter()
                .map(|(t, b)| {
                    let q: Box<dyn Query> = Box::new(BoostQuery::new(
                        Box::new(TermQuery::new(t.clone(), IndexRecordOption::WithFreqs)),
                        *b,
                    ));
                    (Occur::Should, q)
                })
                .collect(),
        )
    }
}

impl Query for WeightedTerms {
    fn weight(&self, enable_scoring: EnableScoring<'_>) -> tantivy::Result<Box<dyn Weight>> {
        self.as_boolean().weight(enable_scoring)
    }

    fn query_terms<'a>(&'a self, visitor: &mut dyn FnMut(&'a Term, bool)) {
        for (term, _) in &self.terms {
            visitor(term, false);
        }
    }
}

impl TermDisjunction {
    /// The query's terms when it is a term query or a (nested) OR of term queries, all on
    /// `fields` (text fields indexed with frequencies), where the top level may also require
    /// or exclude single terms; `None` for any other shape.
    pub fn of(query: &dyn Query, fields: &[Field]) -> Option<TermDisjunction> {
        let mut out = TermDisjunction {
            terms: Vec::new(),
            boosts: Vec::new(),
            required: Vec::new(),
            excluded: Vec::new(),
        };
        match query.downcast_ref::<BooleanQuery>() {
            Some(q) if q.clauses().iter().any(|(o, _)| *o != Occur::Should) => {
                for (occur, sub) in q.clauses() {
                    match occur {
                        Occur::Should => collect_terms(sub.as_ref(), fields, &mut out)?,
                        Occur::Must => {
                            let term = single_term(sub.as_ref(), fields)?;
                            out.required.push(term.clone());
                            out.terms.push(term);
                            out.boosts.push(1.0);
                        }
                        Occur::MustNot => {
                            out.excluded.push(single_term(sub.as_ref(), fields)?);
                        }
                    }
                }
            }
            _ => collect_terms(query, fields, &mut out)?,
        }
        if out.terms.is_empty() {
            return None;
        }
        Some(out)
    }
}

fn single_term(query: &dyn Query, fields: &[Field]) -> Option<Term> {
    let term = query.downcast_ref::<TermQuery>()?.term();
    fields.contains(&term.field()).then(|| term.clone())
}

fn collect_terms(query: &dyn Query, fields: &[Field], out: &mut TermDisjunction) -> Option<()> {
    if let Some(term) = single_term(query, fields) {
        out.terms.push(term);
        out.boosts.push(1.0);
        return Some(());
    }
    if let Some(weighted) = query.downcast_ref::<WeightedTerms>() {
        for (term, boost) in weighted.terms() {
            if !fields.contains(&term.field()) {
                return None;
            }
            out.terms.push(term.clone());
            out.boosts.push(*boost);
        }
        return Some(());
    }
    let q = query.downcast_ref::<BooleanQuery>()?;
    if q.clauses().is_empty() {
        return None;
    }
    for (occur, sub) in q.clauses() {
        if *occur != Occur::Should {
            return None;
        }
        collect_terms(sub.as_ref(), fields, out)?;
    }
    Some(())
}

/// What [`search`] found: the top documents, best first, and the matches' count and facets.
pub struct Found {
    pub top: Vec<(DocAddress, Score)>,
    pub count: u64,
    pub facets: Option<Facets>,
}

/// Per-thread score buffer, one slot per document of the largest segment seen, all zero
/// between calls.
struct Scratch {
    scores: Vec<Score>,
    touched: Vec<DocId>,
    /// Set while scores are being added: still set at the next call means a call was
    /// interrupted (a panic) before zeroing, and the buffer is zeroed first.
    dirty: bool,
}

thread_local! {
    static SCRATCH: RefCell<Scratch> = const {
        RefCell::new(Scratch { scores: Vec::new(), touched: Vec::new(), dirty: false })
    };
}

/// Top `depth` documents of `query` among the documents matching every one of `filters`
/// (which do not score), their count, and their facets when `facets` is given.
pub fn search(
    searcher: &Searcher,
    query: &TermDisjunction,
    filters: &[Box<dyn Query>],
    depth: usize,
    facets: Option<&OrdinalFacets>,
) -> tantivy::Result<Found> {
    let depth = depth.max(1);
    // Each term's dictionary entry in every segment, looked up once: its document frequency
    // (the sum) sets its BM25 weight, and the segments' entries locate its postings.
    let total_docs: u64 = (searcher.segment_readers().iter())
        .map(|s| u64::from(s.max_doc()))
        .sum();
    let mut weights = Vec::with_capacity(query.terms.len());
    for (term, &boost) in query.terms.iter().zip(&query.boosts) {
        let mut infos = Vec::with_capacity(searcher.segment_readers().len());
        let mut doc_freq = 0u64;
        let mut tokens = 0u64;
        for segment in searcher.segment_readers() {
            let inverted = segment.inverted_index(term.field())?;
            tokens += inverted.total_num_tokens();
            let info = inverted.get_term_info(term)?;
            doc_freq += info.as_ref().map_or(0, |i| u64::from(i.doc_freq));
            infos.push(info);
        }
        // As `Bm25Weight::for_terms` computes it for a term query.
        let average_fieldnorm = tokens as Score / total_docs as Score;
        let mut weight =
            Bm25Weight::for_one_term_without_explain(doc_freq, total_docs, average_fieldnorm);
        if boost != 1.0 {
            weight = weight.boost_by(boost);
        }
        weights.push(TermScores::new(weight, infos));
    }
    let filter_weights = filters
        .iter()
        .map(|f| f.weight(EnableScoring::disabled_from_searcher(searcher)))
        .collect::<tantivy::Result<Vec<_>>>()?;
    let mut top = TopK::new(depth);
    let mut count = 0u64;
    let mut segments = Vec::new();
    for (ord, segment) in searcher.segment_readers().iter().enumerate() {
        let ord = ord as u32;
        let allowed = allowed_bits(segment, &filter_weights, query)?;
        let mut facet_segment = match facets {
            Some(f) => Some(f.for_segment(ord, segment)?),
            None => None,
        };
        let mut sweep = Sweep {
            segment,
            ord,
            allowed: allowed.as_deref(),
            facets: facet_segment.as_mut(),
            top: &mut top,
            count: 0,
        };
        SCRATCH.with(|scratch| {
            let mut scratch = scratch.borrow_mut();
            score_segment(
                segment,
                ord,
                &query.terms,
                &mut weights,
                &mut scratch,
                &mut sweep,
            )
        })?;
        let matched = sweep.count;
        count += matched;
        if let Some(mut f) = facet_segment {
            f.add_count(matched);
            segments.push(f);
        }
    }
    let facets = facets.map(|f| f.merge_segments(segments));
    Ok(Found {
        top: top.into_sorted(),
        count,
        facets,
    })
}

/// A term's BM25 weight and its dictionary entry in each segment, with its scores for the
/// common small term frequencies remembered as they are first computed (a table read instead
/// of a division for nearly every posting).
struct TermScores {
    weight: Bm25Weight,
    /// Per segment ordinal: the term's entry, `None` where the segment lacks the term.
    infos: Vec<Option<TermInfo>>,
    /// `table[fieldnorm_id * TABLE_TF + tf - 1]` for `tf` up to [`TABLE_TF`], NaN until
    /// computed (a BM25 score is never NaN).
    table: Box<[Score; TABLE_LEN]>,
}

/// Term frequencies up to this one are read from [`TermScores::table`].
const TABLE_TF: u32 = 4;

const TABLE_LEN: usize = 256 * TABLE_TF as usize;

impl TermScores {
    fn new(weight: Bm25Weight, infos: Vec<Option<TermInfo>>) -> TermScores {
        TermScores {
            weight,
            infos,
            table: Box::new([Score::NAN; TABLE_LEN]),
        }
    }

    /// Exactly `Bm25Weight::score`.
    #[inline(always)]
    fn score(&mut self, fieldnorm_id: u8, tf: u32) -> Score {
        let small = tf.wrapping_sub(1);
        if small < TABLE_TF {
            // Below 256 * TABLE_TF: in bounds, without a check.
            let slot = usize::from(fieldnorm_id) * TABLE_TF as usize + small as usize;
            let cached = self.table[slot];
            if !cached.is_nan() {
                return cached;
            }
            let score = self.weight.score(fieldnorm_id, tf);
            self.table[slot] = score;
            return score;
        }
        self.weight.score(fieldnorm_id, tf)
    }
}

/// What the sweep of one segment does with each scored document.
struct Sweep<'a> {
    segment: &'a SegmentReader,
    ord: u32,
    /// Documents passing the filters and the required and excluded terms, one bit each.
    allowed: Option<&'a [u64]>,
    facets: Option<&'a mut OrdinalFacetsSegment>,
    top: &'a mut TopK,
    count: u64,
}

impl Sweep<'_> {
    #[inline(always)]
    fn keep(&mut self, doc: DocId, score: Score) {
        if self.segment.is_deleted(doc) || self.allowed.is_some_and(|bits| !bit(bits, doc)) {
            return;
        }
        self.count += 1;
        if let Some(f) = self.facets.as_deref_mut() {
            f.count_doc(doc);
        }
        self.top.offer(score, DocAddress::new(self.ord, doc));
    }

    /// [`Sweep::keep`] for the documents `base + i` of the bits `i` set in `mask`, with
    /// `scores[i]` their scores (`base` a multiple of 64): masks, counts and facets a word at
    /// a time, and only offers the top k the scores that can enter it.
    #[inline(always)]
    fn keep_mask(&mut self, base: DocId, mut mask: u64, scores: &[Score]) {
        if let Some(bits) = self.allowed {
            mask &= bits.get(base as usize / 64).copied().unwrap_or(0);
        }
        if self.segment.alive_bitset().is_some() {
            let mut each = mask;
            while each != 0 {
                let i = each.trailing_zeros();
                each &= each - 1;
                if self.segment.is_deleted(base + i) {
                    mask &= !(1 << i);
                }
            }
        }
        if mask == 0 {
            return;
        }
        self.count += u64::from(mask.count_ones());
        if let Some(f) = self.facets.as_deref_mut() {
            f.count_mask(base, mask);
        }
        let mut candidates = mask & at_least_mask(scores, self.top.threshold());
        while candidates != 0 {
            let i = candidates.trailing_zeros();
            candidates &= candidates - 1;
            if let Some(&score) = scores.get(i as usize) {
                self.top.offer(score, DocAddress::new(self.ord, base + i));
            }
        }
    }
}

/// Scores every document of `segment` (ordinal `ord`) matching a term and calls
/// `sweep.keep(doc, score)` once for each (deleted ones included), then leaves `scratch` zeroed.
fn score_segment(
    segment: &SegmentReader,
    ord: u32,
    terms: &[Term],
    weights: &mut [TermScores],
    scratch: &mut Scratch,
    sweep: &mut Sweep<'_>,
) -> tantivy::Result<()> {
    let max_doc = segment.max_doc() as usize;
    let mut postings = Vec::with_capacity(terms.len());
    let mut total = 0u64;
    for (term, weight) in terms.iter().zip(weights.iter_mut()) {
        let Some(info) = weight.infos.get(ord as usize).cloned().flatten() else {
            continue;
        };
        total += u64::from(info.doc_freq);
        let inverted = segment.inverted_index(term.field())?;
        let block =
            inverted.read_block_postings_from_terminfo(&info, IndexRecordOption::WithFreqs)?;
        postings.push((block, fieldnorm_ids(segment, term.field())?, weight));
    }
    let Scratch {
        scores,
        touched,
        dirty,
    } = scratch;
    if *dirty {
        scores.fill(0.0);
    }
    if scores.len() < max_doc {
        scores.resize(max_doc, 0.0);
    }
    *dirty = true;
    let scores = &mut scores[..max_doc];
    // A query with few postings for the segment's size remembers the documents it touches, so
    // that the sweep and the reset cost its matches, not the whole segment.
    let sparse = total < (max_doc as u64) / 8;
    touched.clear();
    for (mut block, norms, weight) in postings {
        if sparse {
            add_postings::<true>(&mut block, weight, &norms, scores, touched);
        } else {
            add_postings::<false>(&mut block, weight, &norms, scores, touched);
        }
    }
    if sparse {
        for &doc in touched.iter() {
            if let Some(s) = scores.get_mut(doc as usize) {
                sweep.keep(doc, *s);
                *s = 0.0;
            }
        }
        touched.clear();
        *dirty = false;
        return Ok(());
    }
    // Every nonzero score is positive: a chunk without one is all zeros and stays so.
    for (chunk_index, chunk) in scores.chunks_mut(64).enumerate() {
        let matched = positive_mask(chunk);
        if matched != 0 {
            sweep.keep_mask((chunk_index * 64) as DocId, matched, chunk);
            chunk.fill(0.0);
        }
    }
    *dirty = false;
    Ok(())
}

/// The fieldnorm id of each document of `segment` for `field`, one byte each (the bytes
/// tantivy's `FieldNormReader` reads, without its per-document dispatch). As tantivy's term
/// weight: a field without norms scores as if every text had one token.
fn fieldnorm_ids(segment: &SegmentReader, field: Field) -> tantivy::Result<OwnedBytes> {
    if let Some(file) = segment
        .fieldnorms_readers()
        .get_inner_file()
        .open_read(field)
    {
        let ids = file.read_bytes()?;
        if ids.len() >= segment.max_doc() as usize {
            return Ok(ids);
        }
    }
    let one = FieldNormReader::fieldnorm_to_id(1);
    Ok(OwnedBytes::new(vec![one; segment.max_doc() as usize]))
}

#[inline(never)]
fn add_postings<const TRACK: bool>(
    block: &mut BlockSegmentPostings,
    weight: &mut TermScores,
    norms: &[u8],
    scores: &mut [Score],
    touched: &mut Vec<DocId>,
) {
    loop {
        let docs = block.docs();
        if docs.is_empty() {
            break;
        }
        for (&doc, &tf) in docs.iter().zip(block.freqs()) {
            let d = doc as usize;
            if let (Some(s), Some(&norm)) = (scores.get_mut(d), norms.get(d)) {
                if TRACK && *s == 0.0 {
                    touched.push(doc);
                }
                *s += weight.score(norm, tf);
            }
        }
        block.advance();
    }
}

/// Bit `i` set when `scores[i] > 0` (a matched document: every matching term adds a positive
/// score, BM25's idf being always above zero), for up to 64 scores.
#[inline]
fn positive_mask(scores: &[Score]) -> u64 {
    compare_mask::<false>(scores, 0.0)
}

/// Bit `i` set when `scores[i] >= threshold` (all bits when it is minus infinity).
#[inline]
fn at_least_mask(scores: &[Score], threshold: Score) -> u64 {
    if threshold == Score::NEG_INFINITY {
        return u64::MAX;
    }
    compare_mask::<true>(scores, threshold)
}

/// Bit `i` set when `scores[i] > bound` (`>=` when `OR_EQUAL`), for up to 64 scores.
#[inline]
fn compare_mask<const OR_EQUAL: bool>(scores: &[Score], bound: Score) -> u64 {
    #[cfg(target_arch = "x86_64")]
    if scores.len() == 64 {
        // SSE2 is part of x86_64: four comparisons per instruction, 4x the scalar loop.
        use std::arch::x86_64::{
            _mm_cmpge_ps, _mm_cmpgt_ps, _mm_loadu_ps, _mm_movemask_ps, _mm_set1_ps,
        };
        let mut mask = 0u64;
        for (j, four) in scores.chunks_exact(4).enumerate() {
            // SAFETY: `four` holds exactly four f32s, the unaligned load's width.
            let bits = unsafe {
                let values = _mm_loadu_ps(four.as_ptr());
                let bound = _mm_set1_ps(bound);
                let hits = if OR_EQUAL {
                    _mm_cmpge_ps(values, bound)
                } else {
                    _mm_cmpgt_ps(values, bound)
                };
                _mm_movemask_ps(hits)
            };
            mask |= u64::from(bits as u32) << (j * 4);
        }
        return mask;
    }
    compare_mask_scalar::<OR_EQUAL>(scores, bound)
}

/// [`compare_mask`] one score at a time: the path of other targets and of short chunks.
#[inline]
fn compare_mask_scalar<const OR_EQUAL: bool>(scores: &[Score], bound: Score) -> u64 {
    let mut mask = 0u64;
    for (i, &s) in scores.iter().take(64).enumerate() {
        let hit = if OR_EQUAL { s >= bound } else { s > bound };
        mask |= u64::from(hit) << i;
    }
    mask
}

/// Documents of `segment` that may match as far as the filters, required and excluded terms
/// go, one bit each (`None`: all of them).
fn allowed_bits(
    segment: &SegmentReader,
    filters: &[Box<dyn tantivy::query::Weight>],
    query: &TermDisjunction,
) -> tantivy::Result<Option<Vec<u64>>> {
    if filters.is_empty() && query.required.is_empty() && query.excluded.is_empty() {
        return Ok(None);
    }
    let words = (segment.max_doc() as usize).div_ceil(64);
    let mut allowed = if filters.is_empty() {
        vec![u64::MAX; words]
    } else {
        filter_bits(segment, filters)?
    };
    for (terms, keep) in [(&query.required, true), (&query.excluded, false)] {
        for term in terms {
            let bits = term_bits(segment, term, words)?;
            for (a, b) in allowed.iter_mut().zip(&bits) {
                *a &= if keep { *b } else { !*b };
            }
        }
    }
    Ok(Some(allowed))
}

/// Documents of `segment` containing `term`, one bit each.
fn term_bits(segment: &SegmentReader, term: &Term, words: usize) -> tantivy::Result<Vec<u64>> {
    let mut bits = vec![0u64; words];
    let inverted = segment.inverted_index(term.field())?;
    if let Some(mut block) = inverted.read_block_postings(term, IndexRecordOption::Basic)? {
        loop {
            let docs = block.docs();
            if docs.is_empty() {
                break;
            }
            for &d in docs {
                set_bit(&mut bits, d);
            }
            block.advance();
        }
    }
    Ok(bits)
}

/// Documents of `segment` matching all of `filters`, as a bitset (one bit per document).
fn filter_bits(
    segment: &SegmentReader,
    filters: &[Box<dyn tantivy::query::Weight>],
) -> tantivy::Result<Vec<u64>> {
    let words = (segment.max_doc() as usize).div_ceil(64);
    let mut all: Option<Vec<u64>> = None;
    for weight in filters {
        let mut bits = vec![0u64; words];
        weight.for_each_no_score(segment, &mut |docs: &[DocId]| {
            for &d in docs {
                set_bit(&mut bits, d);
            }
        })?;
        all = Some(match all {
            None => bits,
            Some(mut acc) => {
                for (a, b) in acc.iter_mut().zip(&bits) {
                    *a &= b;
                }
                acc
            }
        });
    }
    Ok(all.unwrap_or_else(|| vec![u64::MAX; words]))
}

#[inline]
fn set_bit(bits: &mut [u64], doc: DocId) {
    if let Some(w) = bits.get_mut(doc as usize / 64) {
        *w |= 1 << (doc % 64);
    }
}

#[inline]
fn bit(bits: &[u64], doc: DocId) -> bool {
    bits.get(doc as usize / 64)
        .is_some_and(|w| w & (1 << (doc % 64)) != 0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use tantivy::collector::{Count, TopDocs};
    use tantivy::doc;
    use tantivy::query::BoostQuery;
    use tantivy::schema::{Schema, STRING, TEXT};
    use tantivy::Index;

    /// A two-segment in-memory index of `n` documents over a small vocabulary (word `w<i>`
    /// appears in about one document in `i + 1`), a `tag` field for filters, and some deletes.
    fn index(n: u32) -> (Index, Field, Field) {
        let mut schema = Schema::builder();
        let text = schema.add_text_field("text", TEXT);
        let tag = schema.add_text_field("tag", STRING);
        let index = Index::create_in_ram(schema.build());
        let mut writer = index
            .writer_with_num_threads(1, 15_000_000)
            .expect("writer");
        let mut rng = fastrand::Rng::with_seed(11);
        for d in 0..n {
            let words: Vec<String> = (0..rng.usize(3..40))
                .map(|_| {
                    let top = rng.usize(1..60);
                    format!("w{}", rng.usize(0..top))
                })
                .collect();
            writer
                .add_document(doc!(text => words.join(" "), tag => format!("t{}", d % 3)))
                .expect("add");
            if d == n / 2 {
                writer.commit().expect("commit");
            }
        }
        writer.commit().expect("commit");
        writer.delete_term(Term::from_field_text(tag, "t1"));
        writer
            .add_document(doc!(text => "w0 w1 w1 w1 rare", tag => "t1"))
            .expect("add");
        writer.commit().expect("commit");
        (index, text, tag)
    }

    fn term_query(field: Field, word: &str) -> Box<dyn Query> {
        Box::new(TermQuery::new(
            Term::from_field_text(field, word),
            IndexRecordOption::WithFreqs,
        ))
    }

    /// Term at a time against tantivy's own scorers on the same query: the same count, the
    /// same scores (to float rounding: the sums are added in another order) in the same order.
    fn assert_ranks_like_tantivy(
        searcher: &Searcher,
        query: &dyn Query,
        fields: &[Field],
        filter: Option<Box<dyn Query>>,
        depth: usize,
    ) -> u64 {
        let terms = TermDisjunction::of(query, fields).expect("a term disjunction");
        let filters: Vec<Box<dyn Query>> = filter.iter().map(|f| f.box_clone()).collect();
        let found = search(searcher, &terms, &filters, depth, None).expect("taat");
        let reference: Box<dyn Query> = match filter {
            Some(f) => Box::new(BooleanQuery::new(vec![
                (Occur::Must, query.box_clone()),
                (Occur::Must, Box::new(BoostQuery::new(f, 0.0))),
            ])),
            None => query.box_clone(),
        };
        let (top, count) = searcher
            .search(&reference, &(TopDocs::with_limit(depth), Count))
            .expect("tantivy");
        assert_eq!(found.count, count as u64);
        assert_eq!(found.top.len(), top.len());
        for (i, ((addr, score), (ref_score, ref_addr))) in found.top.iter().zip(&top).enumerate() {
            assert!(
                (score - ref_score).abs() <= 1e-5 * ref_score.abs().max(1.0),
                "#{i}: {score} vs {ref_score}"
            );
            if addr != ref_addr {
                let theirs = top.iter().find(|(_, a)| a == addr).map(|(s, _)| *s);
                assert!(
                    theirs.is_some_and(|s| (s - score).abs() <= 1e-5 * score.abs()),
                    "#{i}: {addr:?} vs {ref_addr:?}"
                );
            }
        }
        found.count
    }

    #[test]
    fn ranks_like_tantivy_on_dense_and_sparse_postings_with_deletes_and_filters() {
        let (index, text, tag) = index(3000);
        let searcher = index.reader().expect("reader").searcher();
        assert!(searcher.segment_readers().len() >= 2);
        assert!(searcher
            .segment_readers()
            .iter()
            .any(|s| s.num_deleted_docs() > 0));
        let or = |words: &[&str]| -> Box<dyn Query> {
            Box::new(BooleanQuery::new(
                words
                    .iter()
                    .map(|w| (Occur::Should, term_query(text, w)))
                    .collect(),
            ))
        };
        let mut matched = 0;
        // Common words (the dense sweep), rare ones (the sparse path), one word, no match.
        for words in [
            &["w0", "w1", "w2"][..],
            &["w50", "w55", "rare"],
            &["w3"],
            &["absent"],
        ] {
            for filter in [None, Some(term_query(tag, "t2"))] {
                matched +=
                    assert_ranks_like_tantivy(&searcher, or(words).as_ref(), &[text], filter, 25);
            }
        }
        // +required and -excluded words.
        let shaped = BooleanQuery::new(vec![
            (Occur::Should, term_query(text, "w4")),
            (Occur::Should, term_query(text, "w5")),
            (Occur::Must, term_query(text, "w1")),
            (Occur::MustNot, term_query(text, "w2")),
        ]);
        matched += assert_ranks_like_tantivy(&searcher, &shaped, &[text], None, 1000);
        assert!(matched > 3000, "{matched}");
    }

    #[test]
    fn only_or_of_terms_on_the_given_fields_is_a_term_disjunction() {
        let (_, text, tag) = index(10);
        assert!(TermDisjunction::of(term_query(text, "w1").as_ref(), &[text]).is_some());
        // A term on another field, a phrase, a nested required clause: not this shape.
        assert!(TermDisjunction::of(term_query(tag, "t1").as_ref(), &[text]).is_none());
        let phrase = tantivy::query::PhraseQuery::new(vec![
            Term::from_field_text(text, "w1"),
            Term::from_field_text(text, "w2"),
        ]);
        assert!(TermDisjunction::of(&phrase, &[text]).is_none());
        let nested = BooleanQuery::new(vec![(
            Occur::Should,
            Box::new(BooleanQuery::new(vec![(
                Occur::Must,
                term_query(text, "w1"),
            )])) as Box<dyn Query>,
        )]);
        assert!(TermDisjunction::of(&nested, &[text]).is_none());
        assert!(TermDisjunction::of(&BooleanQuery::new(Vec::new()), &[text]).is_none());
    }

    #[test]
    fn sse2_masks_equal_the_scalar_path() {
        let mut rng = fastrand::Rng::with_seed(5);
        let specials = [
            0.0,
            -0.0,
            1.5,
            f32::INFINITY,
            f32::NEG_INFINITY,
            f32::MIN_POSITIVE,
        ];
        for round in 0..500 {
            let scores: Vec<Score> = (0..64)
                .map(|_| match rng.u8(..10) {
                    0 => specials[rng.usize(..specials.len())],
                    1 => 1.5,
                    _ => rng.f32() * 4.0 - 1.0,
                })
                .collect();
            let bound = if round % 3 == 0 { 1.5 } else { rng.f32() * 3.0 };
            assert_eq!(
                compare_mask::<false>(&scores, bound),
                compare_mask_scalar::<false>(&scores, bound),
                "> {bound} {scores:?}"
            );
            assert_eq!(
                compare_mask::<true>(&scores, bound),
                compare_mask_scalar::<true>(&scores, bound),
                ">= {bound} {scores:?}"
            );
        }
        // A short chunk (a segment's last) takes the scalar path; bits past it stay clear.
        let short = [0.0, 2.0, 0.5, 3.0];
        assert_eq!(positive_mask(&short), 0b1110);
        assert_eq!(at_least_mask(&short, 2.0), 0b1010);
        assert_eq!(at_least_mask(&short, Score::NEG_INFINITY), u64::MAX);
    }

    #[test]
    fn the_score_table_gives_bm25_weight_scores() {
        let weight = Bm25Weight::for_one_term_without_explain(30, 1000, 12.5);
        let mut scores = TermScores::new(weight.clone(), Vec::new());
        for norm in [0u8, 1, 7, 100, 255] {
            for tf in 1..=9 {
                // Twice: computed, then read from the table.
                for _ in 0..2 {
                    assert_eq!(
                        scores.score(norm, tf),
                        weight.score(norm, tf),
                        "{norm} {tf}"
                    );
                }
            }
        }
    }

    #[test]
    fn bits_set_and_read_back() {
        let mut bits = vec![0u64; 3];
        for doc in [0, 63, 64, 130] {
            set_bit(&mut bits, doc);
        }
        set_bit(&mut bits, 9999);
        for doc in 0..192 {
            assert_eq!(bit(&bits, doc), [0, 63, 64, 130].contains(&doc), "{doc}");
        }
        assert!(!bit(&bits, 9999));
    }
}
