//! Ranking a radar: the new papers since a date, by hybrid relevance to the radar's queries,
//! moved up by closeness to its positive examples and down by closeness to its negative ones,
//! each with the reason it is there.
//!
//! Recipe, per query: BM25 leg and dense leg (under the radar's filters and the date range)
//! fused by the convex combination of [`crate::search::fusion`]; the dense leg's query vector is first
//! shifted Rocchio-style towards the mean vector of the positive examples and away from the
//! negatives'. Queries are combined by taking each paper's best query score (a radar is a union
//! of interests; a paper strongly about one of them should not lose to papers vaguely about
//! all). Finally each candidate gets `+POSITIVE_WEIGHT * rel(sim to closest positive)` and
//! `-NEGATIVE_WEIGHT * rel(sim to closest negative)`, where `rel` min-max scales similarities
//! over the candidates, so the effect of each example is visible and explained even for
//! BM25-only candidates and means the same with any embedding model. Similarity is the cosine of stored vectors when both
//! papers have one, else the cosine of tf-idf term vectors.
//!
//! Blocking (tantivy search, embedding): call from a blocking thread.

use std::collections::HashMap;

use serde::Serialize;
use tantivy::query::Query;
use tantivy::{DocAddress, Searcher};
use time::Date;

use crate::embed::{dot, normalize, Embedder};
use crate::index::PaperIndex;
use crate::paper::{format_date, Paper, PaperId};
use crate::search::fusion::{self, DEFAULT_ALPHA, DEFAULT_DEPTH};
use crate::search::run::positions;
use crate::search::{
    bm25, dense, embedding_text, parse, FilterSet, Filters, Mode, QueryEmbedder, QueryVector,
};

use super::model::Radar;
use super::text::{idf, terms_with_surface, SparseVec};
use super::RadarError;

/// Papers returned when the request does not say.
pub const DEFAULT_RADAR_K: usize = 20;
/// Most papers one radar request may return.
pub const MAX_RADAR_K: usize = 1000;
/// Rocchio weight of the original query vector.
pub const ROCCHIO_QUERY: f32 = 1.0;
/// Rocchio weight of the positive examples' mean vector.
pub const ROCCHIO_POSITIVE: f32 = 0.75;
/// Rocchio weight of the negative examples' mean vector (subtracted).
pub const ROCCHIO_NEGATIVE: f32 = 0.25;
/// Score added to the candidate closest to a positive example (others get less, in proportion
/// to their similarity relative to the least and most similar candidates).
pub const POSITIVE_WEIGHT: f32 = 0.3;
/// Score removed from the candidate closest to a negative example (same scaling).
pub const NEGATIVE_WEIGHT: f32 = 0.3;

/// What to rank.
#[derive(Debug, Clone, PartialEq)]
pub struct RankRequest {
    /// Only papers published on or after this date.
    pub since: Option<Date>,
    /// Only papers published on or before this date.
    pub until: Option<Date>,
    /// How many papers to return.
    pub k: usize,
}

impl Default for RankRequest {
    fn default() -> Self {
        RankRequest {
            since: None,
            until: None,
            k: DEFAULT_RADAR_K,
        }
    }
}

impl RankRequest {
    /// Checks `k` and the dates against `today` (a `since` in the future is an error).
    pub fn validate(&self, today: Date) -> Result<(), RadarError> {
        let bad = |name, reason: String| Err(RadarError::InvalidParam { name, reason });
        if self.k == 0 || self.k > MAX_RADAR_K {
            return bad(
                "k",
                format!("must be between 1 and {MAX_RADAR_K}, got {}", self.k),
            );
        }
        if let Some(s) = self.since {
            if s > today {
                return bad(
                    "since",
                    format!(
                        "{} is in the future (today is {})",
                        format_date(s),
                        format_date(today)
                    ),
                );
            }
        }
        if let (Some(s), Some(u)) = (self.since, self.until) {
            if s > u {
                return bad(
                    "until",
                    format!("{} is before since={}", format_date(u), format_date(s)),
                );
            }
        }
        Ok(())
    }
}

/// Today's date (UTC), the reference for "in the future".
pub fn today_utc() -> Date {
    time::OffsetDateTime::now_utc().date()
}

/// How a paper matched one of the radar's queries.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct QueryMatch {
    /// 0-based index into the radar's queries (`None` for the examples-only pseudo query).
    pub index: Option<usize>,
    pub query: String,
    /// Fused (or BM25-only min-max normalized) score for this query, in [0, 1].
    pub score: f32,
    pub bm25_rank: Option<usize>,
    pub bm25_score: Option<f32>,
    pub dense_rank: Option<usize>,
    pub dense_score: Option<f32>,
}

/// How close a paper is to one example paper, and what that did to its score.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ExampleMatch {
    pub id: PaperId,
    pub similarity: f32,
    /// `embedding` (cosine of stored vectors) or `terms` (cosine of tf-idf vectors).
    pub measure: &'static str,
    /// Score added (positive) or removed (negative).
    pub effect: f32,
}

/// Why a paper is in the radar's results.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Reason {
    /// The query that matched best (absent when the paper came only from example similarity).
    pub query: Option<QueryMatch>,
    /// How many of the radar's queries retrieved the paper.
    pub queries_matched: usize,
    pub positive: Option<ExampleMatch>,
    pub negative: Option<ExampleMatch>,
    /// One line for people.
    pub text: String,
}

/// One ranked paper.
#[derive(Debug, Clone, Serialize)]
pub struct RadarHit {
    pub rank: usize,
    pub score: f32,
    #[serde(flatten)]
    pub paper: Paper,
    pub reason: Reason,
    /// The stored vector (for briefings; not serialized).
    #[serde(skip)]
    pub vector: Option<Vec<f32>>,
}

/// The result of `GET /api/radars/{id}/papers`.
#[derive(Debug, Clone, Serialize)]
pub struct RadarPapers {
    pub radar: Radar,
    pub since: Option<String>,
    pub until: Option<String>,
    pub k: usize,
    /// `hybrid` when queries were embedded, else `bm25`.
    pub mode: Mode,
    /// Distinct candidates considered (before `k`).
    pub candidates: usize,
    /// What degraded and why (no vectors, missing example papers, ...).
    pub notes: Vec<String>,
    pub papers: Vec<RadarHit>,
}

struct Example {
    id: PaperId,
    addr: DocAddress,
    paper: Paper,
    vector: Option<Vec<f32>>,
    terms: SparseVec,
}

/// tf-idf term vectors with idf from the whole index (cached per term).
struct TermSpace<'a> {
    searcher: &'a Searcher,
    field: tantivy::schema::Field,
    n: usize,
    idf: HashMap<String, f32>,
    stems: HashMap<String, String>,
}

impl<'a> TermSpace<'a> {
    fn new(index: &PaperIndex, searcher: &'a Searcher) -> Self {
        TermSpace {
            searcher,
            field: index.fields().text,
            n: searcher.num_docs() as usize,
            idf: HashMap::new(),
            stems: HashMap::new(),
        }
    }

    fn vector(&mut self, paper: &Paper) -> SparseVec {
        let text = format!("{}. {}", paper.title, paper.abstract_text);
        let terms: Vec<String> = terms_with_surface(&text, &mut self.stems)
            .into_iter()
            .map(|(s, _)| s)
            .collect();
        for t in &terms {
            if !self.idf.contains_key(t) {
                let df = self
                    .searcher
                    .doc_freq(&tantivy::Term::from_field_text(self.field, t))
                    .unwrap_or(0) as usize;
                self.idf.insert(t.clone(), idf(self.n, df));
            }
        }
        let idf = &self.idf;
        SparseVec::tfidf(terms.iter().map(String::as_str), |t| {
            idf.get(t).copied().unwrap_or(0.0)
        })
    }
}

fn mean(vectors: &[&[f32]]) -> Option<Vec<f32>> {
    let first = vectors.first()?;
    let dims = first.len();
    let mut m = vec![0f32; dims];
    for v in vectors.iter().filter(|v| v.len() == dims) {
        m.iter_mut().zip(v.iter()).for_each(|(a, b)| *a += b);
    }
    normalize(&mut m);
    Some(m)
}

/// `a*q + b*mean(pos) - c*mean(neg)`, normalized.
fn rocchio(q: &[f32], pos: Option<&[f32]>, neg: Option<&[f32]>) -> Vec<f32> {
    let mut v: Vec<f32> = q.iter().map(|x| x * ROCCHIO_QUERY).collect();
    if let Some(p) = pos.filter(|p| p.len() == v.len()) {
        v.iter_mut()
            .zip(p)
            .for_each(|(a, b)| *a += ROCCHIO_POSITIVE * b);
    }
    if let Some(n) = neg.filter(|n| n.len() == v.len()) {
        v.iter_mut()
            .zip(n)
            .for_each(|(a, b)| *a -= ROCCHIO_NEGATIVE * b);
    }
    normalize(&mut v);
    v
}

/// One query to run: its index in the radar (none for the examples-only pseudo query), its
/// text, the parsed BM25 query and the (Rocchio-shifted) query vector.
struct RadarQuery {
    index: Option<usize>,
    text: String,
    parsed: Box<dyn Query>,
    vector: Option<Vec<f32>>,
}

#[derive(Default)]
struct Candidate {
    best: Option<QueryMatch>,
    matched: usize,
}

fn round4(x: f32) -> f32 {
    (x * 10_000.0).round() / 10_000.0
}

/// Ranks `radar` on `index`. `embedder` embeds the queries (it must be the index's model);
/// without one, or when the index has no vectors, ranking is BM25-only and a note says so.
pub fn rank(
    index: &PaperIndex,
    radar: &Radar,
    req: &RankRequest,
    embedder: Option<&mut dyn Embedder>,
) -> Result<RadarPapers, RadarError> {
    req.validate(today_utc())?;
    let searcher = index.reader().searcher();
    let mut notes: Vec<String> = Vec::new();
    let filters = Filters {
        categories: radar.filters.categories.clone(),
        sources: radar.filters.sources.clone(),
        from: req.since,
        to: req.until,
    };
    let mut embedder = query_embedder(index, embedder, &mut notes);
    let mut terms = TermSpace::new(index, &searcher);
    let positives = examples(
        index,
        &searcher,
        &radar.positive,
        "positive",
        &mut terms,
        &mut notes,
    )?;
    let negatives = examples(
        index,
        &searcher,
        &radar.negative,
        "negative",
        &mut terms,
        &mut notes,
    )?;
    let queries = radar_queries(
        index,
        radar,
        &positives,
        &negatives,
        &mut embedder,
        &mut notes,
    );
    let embedded = queries.iter().any(|q| q.vector.is_some());
    let exclude: Vec<DocAddress> = positives
        .iter()
        .chain(negatives.iter())
        .map(|e| e.addr)
        .collect();
    let depth = req.k.max(DEFAULT_DEPTH);
    let (candidates, dense_used) =
        candidates(index, &searcher, &queries, &filters, depth, &exclude)?;
    if embedded && !dense_used {
        notes.push(
            "no paper in the date range has a vector: ranking is BM25-only (give them vectors with `academichub embed --since DATE`)"
                .into(),
        );
    }
    let total = candidates.len();
    let papers = score(
        index, &searcher, candidates, &positives, &negatives, &mut terms, req.k,
    )?;
    if papers.is_empty() {
        notes.push(match req.since {
            Some(s) => format!(
                "no paper published since {} matches this radar",
                format_date(s)
            ),
            None => "no paper matches this radar".into(),
        });
    }
    Ok(RadarPapers {
        radar: radar.clone(),
        since: req.since.map(format_date),
        until: req.until.map(format_date),
        k: req.k,
        mode: if dense_used { Mode::Hybrid } else { Mode::Bm25 },
        candidates: total,
        notes,
        papers,
    })
}

/// The embedder for the radar's queries when dense ranking is possible; otherwise `None` and a
/// note saying why ranking is BM25-only.
fn query_embedder<'e>(
    index: &PaperIndex,
    embedder: Option<&'e mut dyn Embedder>,
    notes: &mut Vec<String>,
) -> Option<QueryEmbedder<'e>> {
    if index.embedding_model().is_none() {
        notes.push(
            "the index has no vectors: ranking is BM25-only and examples are compared by their terms"
                .into(),
        );
        return None;
    }
    let Some(embedder) = embedder else {
        notes.push("no embedding model is available: ranking is BM25-only".into());
        return None;
    };
    match QueryEmbedder::for_index(index, Ok(embedder)) {
        ready @ QueryEmbedder::Ready(_) => Some(ready),
        QueryEmbedder::Unavailable(why) => {
            notes.push(format!("ranking is BM25-only: {why}"));
            None
        }
    }
}

/// The radar's example papers that are in the index (a note for each that is not).
fn examples(
    index: &PaperIndex,
    searcher: &Searcher,
    ids: &[PaperId],
    kind: &str,
    terms: &mut TermSpace<'_>,
    notes: &mut Vec<String>,
) -> Result<Vec<Example>, RadarError> {
    let mut out = Vec::new();
    for id in ids {
        match index.stored(searcher, id)? {
            Some(stored) => out.push(Example {
                id: stored.paper.id.clone(),
                addr: stored.addr,
                terms: terms.vector(&stored.paper),
                paper: stored.paper,
                vector: stored.vector,
            }),
            None => notes.push(format!(
                "{kind} example {id} is not in the index (deleted?); it was ignored"
            )),
        }
    }
    Ok(out)
}

/// The mean vector of the examples that have one.
fn mean_vector(examples: &[Example]) -> Option<Vec<f32>> {
    let vectors: Vec<&[f32]> = examples
        .iter()
        .filter_map(|e| e.vector.as_deref())
        .collect();
    mean(&vectors)
}

/// The radar's queries, parsed and embedded (Rocchio-shifted by the examples), or one pseudo
/// query from the positive examples when the radar has no queries.
fn radar_queries(
    index: &PaperIndex,
    radar: &Radar,
    positives: &[Example],
    negatives: &[Example],
    embedder: &mut Option<QueryEmbedder<'_>>,
    notes: &mut Vec<String>,
) -> Vec<RadarQuery> {
    let pos_mean = mean_vector(positives);
    let neg_mean = mean_vector(negatives);
    let mut queries: Vec<RadarQuery> = Vec::new();
    for (i, q) in radar.queries.iter().enumerate() {
        let (parsed, warnings) = parse::parse(index, q);
        notes.extend(warnings.into_iter().map(|w| format!("query {q:?}: {w}")));
        let text = embedding_text(index, q, true);
        let vector = match embedder.as_mut().map(|e| e.embed(&text)) {
            Some(QueryVector::Ready(v)) => {
                Some(rocchio(&v, pos_mean.as_deref(), neg_mean.as_deref()))
            }
            Some(QueryVector::Failed(err)) => {
                notes.push(format!(
                    "query {q:?} could not be embedded ({err}): BM25 only"
                ));
                None
            }
            None => None,
        };
        queries.push(RadarQuery {
            index: Some(i),
            text: q.clone(),
            parsed,
            vector,
        });
    }
    if radar.queries.is_empty() {
        if positives.is_empty() {
            notes.push("none of the radar's example papers is in the index".into());
            return queries;
        }
        let mut titles = String::new();
        for e in positives {
            titles.push_str(&e.paper.title);
            titles.push(' ');
        }
        let label = format!(
            "papers like {}",
            positives
                .iter()
                .map(|e| e.id.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        );
        let vector = match embedder {
            Some(_) => pos_mean
                .as_deref()
                .map(|p| rocchio(p, None, neg_mean.as_deref())),
            None => None,
        };
        queries.push(RadarQuery {
            index: None,
            text: label,
            parsed: parse::plain_query(index, &titles),
            vector,
        });
    }
    queries
}

/// Every paper any query retrieves (BM25 and dense legs fused per query), with its best query
/// match and how many queries retrieved it; and whether any dense leg found a paper.
fn candidates(
    index: &PaperIndex,
    searcher: &Searcher,
    queries: &[RadarQuery],
    filters: &Filters,
    depth: usize,
    exclude: &[DocAddress],
) -> Result<(HashMap<DocAddress, Candidate>, bool), RadarError> {
    let filters = FilterSet::new(index, filters);
    let mut dense_used = false;
    let mut candidates: HashMap<DocAddress, Candidate> = HashMap::new();
    for q in queries {
        let (bm25, _) = bm25::leg(index, searcher, q.parsed.box_clone(), &filters, depth)?;
        let dense = match &q.vector {
            Some(v) => dense::leg(index, searcher, v, &filters, depth, false)?.0,
            None => Vec::new(),
        };
        dense_used |= !dense.is_empty();
        let fused = if !dense.is_empty() {
            fusion::convex(&bm25, &dense, DEFAULT_ALPHA).map_err(|e| RadarError::InvalidParam {
                name: "fusion",
                reason: e.to_string(),
            })?
        } else {
            fusion::min_max(&bm25)
        };
        let (bpos, dpos) = (positions(&bm25), positions(&dense));
        for (addr, score) in fused {
            if exclude.contains(&addr) {
                continue;
            }
            let c = candidates.entry(addr).or_default();
            c.matched += 1;
            if c.best.as_ref().is_none_or(|b| score > b.score) {
                c.best = Some(QueryMatch {
                    index: q.index,
                    query: q.text.clone(),
                    score: round4(score),
                    bm25_rank: bpos.get(&addr).map(|x| x.0),
                    bm25_score: bpos.get(&addr).map(|x| round4(x.1)),
                    dense_rank: dpos.get(&addr).map(|x| x.0),
                    dense_score: dpos.get(&addr).map(|x| round4(x.1)),
                });
            }
        }
    }
    Ok((candidates, dense_used))
}

/// The candidates scored (best query score plus the examples' effects), best first, the top
/// `k` with reasons. Without examples only the top `k` papers are loaded.
fn score(
    index: &PaperIndex,
    searcher: &Searcher,
    candidates: HashMap<DocAddress, Candidate>,
    positives: &[Example],
    negatives: &[Example],
    terms: &mut TermSpace<'_>,
    k: usize,
) -> Result<Vec<RadarHit>, RadarError> {
    let with_examples = !positives.is_empty() || !negatives.is_empty();
    let mut scored: Vec<(f32, DocAddress, Candidate)> = candidates
        .into_iter()
        .map(|(a, c)| (c.best.as_ref().map(|b| b.score).unwrap_or(0.0), a, c))
        .collect();
    scored.sort_by(|a, b| {
        b.0.partial_cmp(&a.0)
            .unwrap_or(std::cmp::Ordering::Equal)
            .then(a.1.cmp(&b.1))
    });
    if !with_examples {
        scored.truncate(k);
    }
    let mut hits: Vec<(f32, PaperId, RadarHit)> = Vec::with_capacity(scored.len());
    for (base, addr, cand) in scored {
        let stored = index.stored_at(searcher, addr)?;
        let (paper, vector) = (stored.paper, stored.vector);
        let mut paper_terms: Option<SparseVec> = None;
        let mut closest = |exs: &[Example]| {
            closest_example(exs, &paper, vector.as_deref(), &mut paper_terms, terms)
        };
        let positive = closest(positives);
        let negative = closest(negatives);
        hits.push((
            base,
            paper.id.clone(),
            RadarHit {
                rank: 0,
                score: base,
                paper,
                reason: Reason {
                    query: cand.best,
                    queries_matched: cand.matched,
                    positive,
                    negative,
                    text: String::new(),
                },
                vector,
            },
        ));
    }
    apply_example_effects(&mut hits);
    hits.sort_by(|a, b| {
        b.0.partial_cmp(&a.0)
            .unwrap_or(std::cmp::Ordering::Equal)
            .then_with(|| a.1.cmp(&b.1))
    });
    Ok(hits
        .into_iter()
        .take(k)
        .enumerate()
        .map(|(i, (_, _, mut h))| {
            h.rank = i + 1;
            h
        })
        .collect())
}

/// The example closest to `paper`: by the cosine of stored vectors when both have one, else of
/// tf-idf term vectors (the paper's computed once, into `paper_terms`, when first needed).
fn closest_example(
    examples: &[Example],
    paper: &Paper,
    vector: Option<&[f32]>,
    paper_terms: &mut Option<SparseVec>,
    terms: &mut TermSpace<'_>,
) -> Option<ExampleMatch> {
    let mut best: Option<ExampleMatch> = None;
    for e in examples {
        let (sim, measure) = match (vector, &e.vector) {
            (Some(v), Some(ev)) if v.len() == ev.len() => (dot(v, ev), "embedding"),
            _ => {
                let t = paper_terms.get_or_insert_with(|| terms.vector(paper));
                (t.cosine(&e.terms), "terms")
            }
        };
        if best.as_ref().is_none_or(|b| sim > b.similarity) {
            best = Some(ExampleMatch {
                id: e.id.clone(),
                similarity: sim,
                measure,
                effect: 0.0,
            });
        }
    }
    best
}

/// Example effects relative to the other candidates: the closest candidate gets the full
/// weight, the farthest none, so the shift means the same with any embedding model. Adds them
/// to each hit's score and writes its reason.
fn apply_example_effects(hits: &mut [(f32, PaperId, RadarHit)]) {
    let range = |hits: &[(f32, PaperId, RadarHit)], get: fn(&Reason) -> Option<&ExampleMatch>| {
        hits.iter()
            .filter_map(|h| get(&h.2.reason).map(|m| m.similarity))
            .fold((f32::INFINITY, f32::NEG_INFINITY), |(lo, hi), s| {
                (lo.min(s), hi.max(s))
            })
    };
    let pos_range = range(hits, |r| r.positive.as_ref());
    let neg_range = range(hits, |r| r.negative.as_ref());
    let effect = |m: &mut ExampleMatch, (lo, hi): (f32, f32), weight: f32| {
        let rel = if hi - lo > 1e-6 {
            (m.similarity - lo) / (hi - lo)
        } else {
            0.5
        };
        m.effect = round4(weight * rel);
        m.similarity = round4(m.similarity);
        m.effect
    };
    for (score, _, h) in hits.iter_mut() {
        let r = &mut h.reason;
        if let Some(p) = r.positive.as_mut() {
            *score += effect(p, pos_range, POSITIVE_WEIGHT);
        }
        if let Some(n) = r.negative.as_mut() {
            *score += effect(n, neg_range, -NEGATIVE_WEIGHT);
        }
        h.score = round4(*score);
        r.text = reason_text(
            r.query.as_ref(),
            r.queries_matched,
            &r.positive,
            &r.negative,
        );
    }
}

fn reason_text(
    q: Option<&QueryMatch>,
    matched: usize,
    pos: &Option<ExampleMatch>,
    neg: &Option<ExampleMatch>,
) -> String {
    let mut parts = Vec::new();
    if let Some(q) = q {
        let mut legs = Vec::new();
        if let Some(r) = q.bm25_rank {
            legs.push(format!("bm25 #{r}"));
        }
        if let Some(r) = q.dense_rank {
            legs.push(format!("dense #{r}"));
        }
        let mut s = format!("matches {:?} ({})", q.query, legs.join(", "));
        if matched > 1 {
            s.push_str(&format!(" and {} other queries", matched - 1));
        }
        parts.push(s);
    }
    if let Some(p) = pos {
        parts.push(format!(
            "close to positive example {} ({} similarity {:.2}, {:+.3})",
            p.id, p.measure, p.similarity, p.effect
        ));
    }
    if let Some(n) = neg {
        if n.effect != 0.0 {
            parts.push(format!(
                "penalized for closeness to negative example {} ({} similarity {:.2}, {:+.3})",
                n.id, n.measure, n.similarity, n.effect
            ));
        }
    }
    parts.join("; ")
}
