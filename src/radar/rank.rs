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
use std::hash::Hash;

use serde::Serialize;
use time::Date;

use crate::embed::{dot, normalize, Embedder};
use crate::paper::{format_date, Paper, PaperId};
use crate::search::fusion::{self, DEFAULT_ALPHA, DEFAULT_DEPTH};
use crate::search::{Filters, Mode, QueryEmbedder, QueryVector};

use super::corpus::{Corpus, Loaded, TermSpace};
use super::model::Radar;
use super::text::SparseVec;
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

struct Example<K> {
    id: PaperId,
    key: K,
    paper: Paper,
    vector: Option<Vec<f32>>,
    /// Filled in once the ranking's term space exists (see [`score`]).
    terms: SparseVec,
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
struct RadarQuery<Q> {
    index: Option<usize>,
    text: String,
    parsed: Q,
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

/// Ranks `radar` over one store's [`Corpus`] (see [`super::source::rank`]).
pub(super) fn rank_on<C: Corpus>(
    corpus: &C,
    radar: &Radar,
    req: &RankRequest,
    embedder: Option<&mut dyn Embedder>,
) -> Result<RadarPapers, RadarError> {
    req.validate(today_utc())?;
    let mut notes: Vec<String> = Vec::new();
    let filters = Filters {
        categories: radar.filters.categories.clone(),
        sources: radar.filters.sources.clone(),
        from: req.since,
        to: req.until,
    };
    let mut embedder = corpus.query_embedder(embedder, &mut notes);
    let positives = examples(corpus, &radar.positive, "positive", &mut notes)?;
    let negatives = examples(corpus, &radar.negative, "negative", &mut notes)?;
    let queries = radar_queries(
        corpus,
        radar,
        &positives,
        &negatives,
        &mut embedder,
        &mut notes,
    );
    let embedded = queries.iter().any(|q| q.vector.is_some());
    let exclude: Vec<C::Key> = positives
        .iter()
        .chain(negatives.iter())
        .map(|e| e.key.clone())
        .collect();
    let depth = req.k.max(DEFAULT_DEPTH);
    let (candidates, dense_used) = candidates(corpus, &queries, &filters, depth, &exclude)?;
    if embedded && !dense_used {
        notes.push(
            "no paper in the date range has a vector: ranking is BM25-only (give them vectors with `academichub embed --since DATE`)"
                .into(),
        );
    }
    let total = candidates.len();
    let papers = score(corpus, candidates, positives, negatives, req.k)?;
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

fn examples<C: Corpus>(
    corpus: &C,
    ids: &[PaperId],
    kind: &str,
    notes: &mut Vec<String>,
) -> Result<Vec<Example<C::Key>>, RadarError> {
    let mut out = Vec::new();
    for id in ids {
        match corpus.example(id)? {
            Some((key, (paper, vector))) => out.push(Example {
                id: paper.id.clone(),
                key,
                paper,
                vector,
                terms: SparseVec::default(),
            }),
            None => notes.push(format!(
                "{kind} example {id} is not in the index (deleted?); it was ignored"
            )),
        }
    }
    Ok(out)
}

fn mean_vector<K>(examples: &[Example<K>]) -> Option<Vec<f32>> {
    let vectors: Vec<&[f32]> = examples
        .iter()
        .filter_map(|e| e.vector.as_deref())
        .collect();
    mean(&vectors)
}

fn radar_queries<C: Corpus>(
    corpus: &C,
    radar: &Radar,
    positives: &[Example<C::Key>],
    negatives: &[Example<C::Key>],
    embedder: &mut Option<QueryEmbedder<'_>>,
    notes: &mut Vec<String>,
) -> Vec<RadarQuery<C::Query>> {
    let pos_mean = mean_vector(positives);
    let neg_mean = mean_vector(negatives);
    let mut queries = Vec::new();
    for (i, q) in radar.queries.iter().enumerate() {
        let (parsed, warnings) = corpus.parse(q, true);
        notes.extend(warnings.into_iter().map(|w| format!("query {q:?}: {w}")));
        let text = corpus.embedding_text(q);
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
            parsed: corpus.parse(&titles, false).0,
            vector,
        });
    }
    queries
}

fn candidates<C: Corpus>(
    corpus: &C,
    queries: &[RadarQuery<C::Query>],
    filters: &Filters,
    depth: usize,
    exclude: &[C::Key],
) -> Result<(HashMap<C::Key, Candidate>, bool), RadarError> {
    let mut dense_used = false;
    let mut candidates: HashMap<C::Key, Candidate> = HashMap::new();
    for q in queries {
        let (bm25, dense) = corpus.legs(&q.parsed, q.vector.as_deref(), filters, depth)?;
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
        for (key, score) in fused {
            if exclude.contains(&key) {
                continue;
            }
            let (b, d) = (bpos.get(&key), dpos.get(&key));
            let c = candidates.entry(key).or_default();
            c.matched += 1;
            if c.best.as_ref().is_none_or(|b| score > b.score) {
                c.best = Some(QueryMatch {
                    index: q.index,
                    query: q.text.clone(),
                    score: round4(score),
                    bm25_rank: b.map(|x| x.0),
                    bm25_score: b.map(|x| round4(x.1)),
                    dense_rank: d.map(|x| x.0),
                    dense_score: d.map(|x| round4(x.1)),
                });
            }
        }
    }
    Ok((candidates, dense_used))
}

/// 1-based rank and score of each paper of a leg.
fn positions<K: Clone + Hash + Eq>(leg: &[(K, f32)]) -> HashMap<K, (usize, f32)> {
    leg.iter()
        .enumerate()
        .map(|(i, (k, s))| (k.clone(), (i + 1, *s)))
        .collect()
}

fn score<C: Corpus>(
    corpus: &C,
    candidates: HashMap<C::Key, Candidate>,
    mut positives: Vec<Example<C::Key>>,
    mut negatives: Vec<Example<C::Key>>,
    k: usize,
) -> Result<Vec<RadarHit>, RadarError> {
    let with_examples = !positives.is_empty() || !negatives.is_empty();
    let mut scored: Vec<(f32, C::Key, Candidate)> = candidates
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
    let keys: Vec<C::Key> = scored.iter().map(|(_, key, _)| key.clone()).collect();
    let mut loaded: HashMap<C::Key, Loaded> = corpus.load(&keys)?.into_iter().collect();
    // Term vectors are compared only when a paper or an example has no vector.
    let ranked: Vec<&Paper> = positives
        .iter()
        .chain(negatives.iter())
        .map(|e| &e.paper)
        .chain(loaded.values().map(|(p, _)| p))
        .collect();
    let mut terms = corpus.term_space(&ranked);
    for e in positives.iter_mut().chain(negatives.iter_mut()) {
        e.terms = terms.vector(&e.paper);
    }
    let mut hits: Vec<(f32, PaperId, RadarHit)> = Vec::with_capacity(scored.len());
    for (base, key, cand) in scored {
        let Some((paper, vector)) = loaded.remove(&key) else {
            continue;
        };
        let mut paper_terms: Option<SparseVec> = None;
        let mut closest = |exs: &[Example<C::Key>]| {
            closest_example(exs, &paper, vector.as_deref(), &mut paper_terms, &mut terms)
        };
        let positive = closest(&positives);
        let negative = closest(&negatives);
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
fn closest_example<K>(
    examples: &[Example<K>],
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
