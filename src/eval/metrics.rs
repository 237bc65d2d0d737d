//! Ranking metrics with trec_eval's exact definitions (checked against pytrec_eval-terrier).
//!
//! A run is a list of `(doc_id, score)` per query. Like trec_eval, documents are ordered by
//! score descending with ties broken by doc id descending, whatever order they arrive in.
//! A document is relevant when its judgement is >= 1; nDCG uses the judgement as the gain.

use std::collections::HashMap;

use serde::Serialize;

/// Judgements for one query: doc id -> relevance level.
pub type Judgements = HashMap<String, i32>;

/// Sorts a run the way trec_eval does: score descending, then doc id descending.
pub fn trec_order(run: &mut [(String, f64)]) {
    run.sort_by(|a, b| {
        b.1.partial_cmp(&a.1)
            .unwrap_or(std::cmp::Ordering::Equal)
            .then_with(|| b.0.cmp(&a.0))
    });
}

fn num_relevant(qrels: &Judgements) -> usize {
    qrels.values().filter(|&&r| r >= 1).count()
}

fn rel(qrels: &Judgements, doc: &str) -> i32 {
    qrels.get(doc).copied().unwrap_or(0)
}

/// nDCG at cutoff `k` (trec_eval `ndcg_cut.k`, linear gains).
pub fn ndcg_at(ranked: &[(String, f64)], qrels: &Judgements, k: usize) -> f64 {
    let dcg: f64 = ranked
        .iter()
        .take(k)
        .enumerate()
        .map(|(i, (d, _))| {
            let g = rel(qrels, d);
            if g > 0 {
                f64::from(g) / ((i + 2) as f64).log2()
            } else {
                0.0
            }
        })
        .sum();
    let mut gains: Vec<i32> = qrels.values().copied().filter(|&g| g > 0).collect();
    gains.sort_unstable_by(|a, b| b.cmp(a));
    let idcg: f64 = gains
        .iter()
        .take(k)
        .enumerate()
        .map(|(i, &g)| f64::from(g) / ((i + 2) as f64).log2())
        .sum();
    if idcg > 0.0 {
        dcg / idcg
    } else {
        0.0
    }
}

/// Recall at cutoff `k` (trec_eval `recall.k`).
pub fn recall_at(ranked: &[(String, f64)], qrels: &Judgements, k: usize) -> f64 {
    let n = num_relevant(qrels);
    if n == 0 {
        return 0.0;
    }
    let found = ranked
        .iter()
        .take(k)
        .filter(|(d, _)| rel(qrels, d) >= 1)
        .count();
    found as f64 / n as f64
}

/// Reciprocal rank of the first relevant document within the top `k` (MRR@k).
pub fn reciprocal_rank_at(ranked: &[(String, f64)], qrels: &Judgements, k: usize) -> f64 {
    ranked
        .iter()
        .take(k)
        .position(|(d, _)| rel(qrels, d) >= 1)
        .map_or(0.0, |i| 1.0 / (i + 1) as f64)
}

/// Average precision over the top `k` (trec_eval `map_cut.k`).
pub fn average_precision_at(ranked: &[(String, f64)], qrels: &Judgements, k: usize) -> f64 {
    let n = num_relevant(qrels);
    if n == 0 {
        return 0.0;
    }
    let mut hits = 0usize;
    let mut sum = 0.0;
    for (i, (d, _)) in ranked.iter().take(k).enumerate() {
        if rel(qrels, d) >= 1 {
            hits += 1;
            sum += hits as f64 / (i + 1) as f64;
        }
    }
    sum / n as f64
}

/// Relevant documents among the first `k` of a ranked run, divided by `k`.
pub fn precision_at(ranked: &[(String, f64)], qrels: &Judgements, k: usize) -> f64 {
    let hits = ranked
        .iter()
        .take(k)
        .filter(|(d, _)| qrels.get(d).is_some_and(|&r| r >= 1))
        .count();
    hits as f64 / k.max(1) as f64
}

/// The headline metrics for one query.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct QueryMetrics {
    #[serde(rename = "ndcg@10")]
    pub ndcg_10: f64,
    #[serde(rename = "recall@100")]
    pub recall_100: f64,
    #[serde(rename = "mrr@10")]
    pub mrr_10: f64,
    #[serde(rename = "map@100")]
    pub map_100: f64,
    /// Share of the top ten that is relevant (trec_eval's P_10: a shorter run still
    /// divides by ten).
    #[serde(rename = "p@10")]
    pub p_10: f64,
}

/// Scores one query's run (any order; it is put in trec_eval order first).
pub fn evaluate_query(run: &[(String, f64)], qrels: &Judgements) -> QueryMetrics {
    let mut ranked = run.to_vec();
    trec_order(&mut ranked);
    QueryMetrics {
        ndcg_10: ndcg_at(&ranked, qrels, 10),
        recall_100: recall_at(&ranked, qrels, 100),
        mrr_10: reciprocal_rank_at(&ranked, qrels, 10),
        map_100: average_precision_at(&ranked, qrels, 100),
        p_10: precision_at(&ranked, qrels, 10),
    }
}

/// Mean of per-query metrics (zero queries give zeros).
pub fn mean(per_query: &[QueryMetrics]) -> QueryMetrics {
    let n = per_query.len().max(1) as f64;
    let mut m = QueryMetrics::default();
    for q in per_query {
        m.ndcg_10 += q.ndcg_10;
        m.recall_100 += q.recall_100;
        m.mrr_10 += q.mrr_10;
        m.map_100 += q.map_100;
        m.p_10 += q.p_10;
    }
    m.ndcg_10 /= n;
    m.recall_100 /= n;
    m.mrr_10 /= n;
    m.map_100 /= n;
    m.p_10 /= n;
    m
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(docs: &[(&str, f64)]) -> Vec<(String, f64)> {
        docs.iter().map(|(d, s)| (d.to_string(), *s)).collect()
    }

    fn qrels(pairs: &[(&str, i32)]) -> Judgements {
        pairs.iter().map(|(d, r)| (d.to_string(), *r)).collect()
    }

    #[test]
    fn hand_computed_values() {
        let q = qrels(&[("a", 2), ("c", 1), ("z", 1), ("n", 0)]);
        let r = run(&[("a", 3.0), ("b", 2.0), ("c", 1.0), ("n", 0.5)]);
        let m = evaluate_query(&r, &q);
        // DCG = 2/log2(2) + 1/log2(4) = 2.5; IDCG = 2 + 1/log2(3) + 1/log2(4) = 3.1309...
        let idcg = 2.0 + 1.0 / 3f64.log2() + 0.5;
        assert!((m.ndcg_10 - 2.5 / idcg).abs() < 1e-12);
        assert!((m.recall_100 - 2.0 / 3.0).abs() < 1e-12);
        assert_eq!(m.mrr_10, 1.0);
        assert!((m.map_100 - (1.0 + 2.0 / 3.0) / 3.0).abs() < 1e-12);
        assert!((m.p_10 - 0.2).abs() < 1e-12, "two relevant in the top ten");
    }

    #[test]
    fn ties_break_by_doc_id_descending() {
        let q = qrels(&[("a", 1)]);
        // Same score: trec_eval puts "b" before "a", so the relevant doc is at rank 2.
        let m = evaluate_query(&run(&[("a", 1.0), ("b", 1.0)]), &q);
        assert_eq!(m.mrr_10, 0.5);
    }

    #[test]
    fn empty_run_and_no_relevant() {
        let q = qrels(&[("a", 1)]);
        assert_eq!(evaluate_query(&[], &q), QueryMetrics::default());
        let none = qrels(&[("a", 0)]);
        assert_eq!(
            evaluate_query(&run(&[("a", 1.0)]), &none),
            QueryMetrics::default()
        );
        assert_eq!(mean(&[]), QueryMetrics::default());
    }

    #[test]
    fn mrr_is_cut_at_ten() {
        let q = qrels(&[("k", 1)]);
        let docs: Vec<(String, f64)> = (0..11)
            .map(|i| (format!("d{i:02}"), 100.0 - i as f64))
            .collect();
        let mut r = docs.clone();
        r.push(("k".into(), 1.0));
        assert_eq!(evaluate_query(&r, &q).mrr_10, 0.0);
        assert!(evaluate_query(&r, &q).recall_100 == 1.0);
    }
}
