//! One search request, as named steps: validate, parse, resolve the plan (bm25 | dense |
//! hybrid, with hybrid's fallback to bm25 when the query has no vector), rank with that plan,
//! then one shared step pages, loads the papers and builds their snippets.

use std::collections::HashMap;

use tantivy::query::Query;
use tantivy::{DocAddress, Score, Searcher};

use super::bm25;
use super::dense;
use super::error::{InvalidParam, QueryError};
use super::facets::Facets;
use super::filters::FilterSet;
use super::fusion;
use super::hybrid;
use super::parse;
use super::request::{Mode, QueryVector, SearchRequest};
use super::response::{Hit, SearchResults, Sources};
use super::snippets::Snippets;
use super::topk::Leg;
use crate::index::PaperIndex;

/// How a request is ranked, resolved once from its mode and its query vector.
pub(super) enum Plan<'r> {
    Bm25,
    Dense(&'r [f32]),
    Hybrid(&'r [f32]),
}

impl Plan<'_> {
    pub(super) fn mode(&self) -> Mode {
        match self {
            Plan::Bm25 => Mode::Bm25,
            Plan::Dense(_) => Mode::Dense,
            Plan::Hybrid(_) => Mode::Hybrid,
        }
    }
}

/// What a plan ranked: documents best first with how each leg saw them, the total and the
/// facets (when asked for).
struct Ranked {
    list: Vec<(DocAddress, Score, Sources)>,
    total: usize,
    /// Papers the dense leg could rank (dense and hybrid plans).
    by_meaning: Option<usize>,
    facets: Option<Facets>,
}

/// Runs a search: validated, filtered, ranked by its plan, paginated, with snippets on request.
pub fn search(index: &PaperIndex, req: &SearchRequest) -> Result<SearchResults, QueryError> {
    run(index, req, None::<fn() -> Option<QueryVector>>)
}

/// [`search`], with `embed` giving the query vector when the request has none and its mode
/// needs one. A hybrid search ranks its BM25 leg on this thread while `embed` runs on another:
/// the leg does not need the vector, and the two share out two cores (the query embedder is
/// one thread). `embed` returning `None` is a search without a vector (hybrid falls back to
/// BM25, with a warning).
pub fn search_embedding<F>(
    index: &PaperIndex,
    req: &SearchRequest,
    embed: F,
) -> Result<SearchResults, QueryError>
where
    F: FnOnce() -> Option<QueryVector> + Send,
{
    run(index, req, Some(embed))
}

fn run<F>(
    index: &PaperIndex,
    req: &SearchRequest,
    embed: Option<F>,
) -> Result<SearchResults, QueryError>
where
    F: FnOnce() -> Option<QueryVector> + Send,
{
    req.validate()?;
    let searcher = index.reader().searcher();
    let (parsed, mut warnings) = parse::parse_with(index, &req.query, req.translate);
    let filters = FilterSet::new(index, &req.filters);
    let want = req.offset + req.k;
    // Hybrid's BM25 leg, as deep as fusion reads.
    let words_leg = || {
        let depth = want.max(fusion::DEFAULT_DEPTH);
        hybrid::bm25_part(
            index,
            &searcher,
            parsed.as_ref(),
            &filters,
            depth,
            req.facets,
        )
    };
    let mut early = None;
    let embedded;
    let req = match embed {
        Some(embed) if req.query_vector.is_none() && req.mode != Mode::Bm25 => {
            let vector = if req.mode == Mode::Hybrid {
                let (leg, vector) = std::thread::scope(|s| {
                    let embedding = s.spawn(embed);
                    (words_leg(), embedding.join())
                });
                early = Some(leg?);
                vector.unwrap_or_else(|_| {
                    Some(QueryVector::Failed("the query embedder panicked".into()))
                })
            } else {
                embed()
            };
            embedded = SearchRequest {
                query_vector: vector,
                ..req.clone()
            };
            &embedded
        }
        _ => req,
    };
    let plan = resolve_plan(req, &mut warnings)?;
    let ranked = match plan {
        Plan::Bm25 => rank_bm25(index, &searcher, parsed.box_clone(), &filters, want, req)?,
        Plan::Dense(v) => rank_dense(index, &searcher, v, &filters, want, req)?,
        Plan::Hybrid(v) => {
            let bm25 = match early {
                Some(leg) => leg,
                None => words_leg()?,
            };
            rank_hybrid(
                index,
                &searcher,
                parsed.as_ref(),
                bm25,
                v,
                &filters,
                want,
                req,
            )?
        }
    };
    // The translation shown is the one used: by the BM25 leg, and by the dense leg when it was
    // embedded with the query (see `embedding_text`); its words spelled as the papers on the
    // page spell them.
    let mut hits = page(index, &searcher, parsed.as_ref(), ranked.list, req)?;
    let translation = super::translate::of(parsed.as_ref())
        .filter(|t| plan.mode() != Mode::Dense || t.informs_embedding())
        .map(|t| t.respelled(&super::snippets::spellings(&hits)));
    if translation.is_some() {
        for h in &mut hits {
            h.sources.translation.clone_from(&translation);
        }
    }
    Ok(SearchResults {
        hits,
        total: ranked.total,
        ranked_by_meaning: ranked.by_meaning,
        mode: plan.mode(),
        warnings,
        translation,
        facets: ranked.facets,
    })
}

/// The plan for `req`: dense needs a query vector; hybrid without one falls back to bm25 and
/// says why in a warning.
pub(super) fn resolve_plan<'r>(
    req: &'r SearchRequest,
    warnings: &mut Vec<String>,
) -> Result<Plan<'r>, QueryError> {
    Ok(match (req.mode, &req.query_vector) {
        (Mode::Bm25, _) => Plan::Bm25,
        (Mode::Dense, Some(QueryVector::Ready(v))) => Plan::Dense(v),
        (Mode::Hybrid, Some(QueryVector::Ready(v))) => Plan::Hybrid(v),
        (Mode::Dense, Some(QueryVector::Failed(why))) => {
            return Err(InvalidParam::DenseEmbeddingFailed(why.clone()).into())
        }
        (Mode::Dense, None) => return Err(InvalidParam::DenseWithoutVector.into()),
        (Mode::Hybrid, failed) => {
            let why = match failed {
                Some(QueryVector::Failed(why)) => why.clone(),
                _ => "no embedding model is available".into(),
            };
            warnings.push(format!("hybrid search fell back to bm25: {why}"));
            Plan::Bm25
        }
    })
}

fn rank_bm25(
    index: &PaperIndex,
    searcher: &Searcher,
    query: Box<dyn Query>,
    filters: &FilterSet,
    want: usize,
    req: &SearchRequest,
) -> Result<Ranked, QueryError> {
    let (leg, total, facets) = if req.facets {
        // The facet pass counts every match: its count is the total.
        let (leg, counts) = bm25::leg_with_facets(index, searcher, query, filters, want)?;
        let total = usize::try_from(counts.count).unwrap_or(usize::MAX);
        (leg, total, Some(counts))
    } else {
        let (leg, total) = bm25::leg(index, searcher, query, filters, want)?;
        (leg, total, None)
    };
    Ok(single_leg(leg, total, facets, |src, rank, s| {
        src.bm25_rank = Some(rank);
        src.bm25_score = Some(s);
    }))
}

fn rank_dense(
    index: &PaperIndex,
    searcher: &Searcher,
    vector: &[f32],
    filters: &FilterSet,
    want: usize,
    req: &SearchRequest,
) -> Result<Ranked, QueryError> {
    let (leg, total, facets) = dense::leg(index, searcher, vector, filters, want, req.facets)?;
    let mut ranked = single_leg(leg, total, facets, |src, rank, s| {
        src.dense_rank = Some(rank);
        src.dense_score = Some(s);
    });
    ranked.by_meaning = Some(total);
    Ok(ranked)
}

/// Ranks a hybrid search whose BM25 leg (`want.max(DEFAULT_DEPTH)` deep) is ranked already.
#[allow(clippy::too_many_arguments)]
fn rank_hybrid(
    index: &PaperIndex,
    searcher: &Searcher,
    query: &dyn Query,
    bm25: hybrid::Bm25Part,
    vector: &[f32],
    filters: &FilterSet,
    want: usize,
    req: &SearchRequest,
) -> Result<Ranked, QueryError> {
    let depth = want.max(fusion::DEFAULT_DEPTH);
    let legs = hybrid::legs_after(
        index,
        searcher,
        query,
        bm25,
        vector,
        filters,
        depth,
        &req.hybrid,
    )?;
    let fused = hybrid::fuse_legs(
        &legs.bm25,
        &legs.dense,
        &legs.feedback,
        legs.coverage,
        req.fusion,
        &req.hybrid,
    )
    .map_err(InvalidParam::Fusion)?;
    let total = legs.bm25_total.max(fused.len());
    let (bm25, dense, feedback) = (
        positions(&legs.bm25),
        positions(&legs.dense),
        positions(&legs.feedback),
    );
    let list = fused
        .into_iter()
        .map(|(a, s)| {
            let (b, d, f) = (bm25.get(&a), dense.get(&a), feedback.get(&a));
            let src = Sources {
                bm25_rank: b.map(|x| x.0),
                bm25_score: b.map(|x| x.1),
                dense_rank: d.map(|x| x.0),
                dense_score: d.map(|x| x.1),
                feedback_rank: f.map(|x| x.0),
                feedback_score: f.map(|x| x.1),
                fused_score: Some(s),
                translation: None,
            };
            (a, s, src)
        })
        .collect();
    Ok(Ranked {
        list,
        total,
        by_meaning: Some(legs.dense_total),
        facets: legs.facets,
    })
}

/// Each document of a leg with its 1-based rank and score in it.
pub fn positions(leg: &Leg) -> HashMap<DocAddress, (usize, Score)> {
    leg.iter()
        .enumerate()
        .map(|(i, (a, s))| (*a, (i + 1, *s)))
        .collect()
}

/// A one-leg ranking with its sources filled in by `mark(sources, 1-based rank, score)`.
fn single_leg(
    leg: Leg,
    total: usize,
    facets: Option<Facets>,
    mark: fn(&mut Sources, usize, Score),
) -> Ranked {
    let list = leg
        .into_iter()
        .enumerate()
        .map(|(i, (addr, score))| {
            let mut src = Sources::default();
            mark(&mut src, i + 1, score);
            (addr, score, src)
        })
        .collect();
    Ranked {
        list,
        total,
        by_meaning: None,
        facets,
    }
}

/// The requested page of `ranked`: papers loaded, snippets built when asked for.
fn page(
    index: &PaperIndex,
    searcher: &Searcher,
    query: &dyn Query,
    ranked: Vec<(DocAddress, Score, Sources)>,
    req: &SearchRequest,
) -> Result<Vec<Hit>, QueryError> {
    let snippets = if req.snippets {
        Some(Snippets::new(index, searcher, query)?)
    } else {
        None
    };
    let mut hits = Vec::with_capacity(req.k);
    for (i, (addr, score, sources)) in ranked.into_iter().skip(req.offset).take(req.k).enumerate() {
        let paper = index.paper_at(searcher, addr)?;
        hits.push(Snippets::hit(
            snippets.as_ref(),
            req.offset + i + 1,
            score,
            paper,
            sources,
        ));
    }
    Ok(hits)
}
