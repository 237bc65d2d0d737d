//! Fusion of ranked lists: pure functions, no I/O, no index types.
//!
//! A ranked list is `&[(key, score)]` sorted best first. Results are sorted by fused score
//! descending, ties broken by key ascending, so fusion is deterministic.

use std::collections::HashMap;
use std::hash::Hash;

/// The `k` of reciprocal rank fusion (Cormack et al.; qdrant and meilisearch use 60 too).
pub const DEFAULT_RRF_K: f32 = 60.0;
/// Weight of the dense leg in the convex combination: equal weights, the one choice that stayed
/// at or above both legs on SciFact, Cranfield, CSL and arxiv-zh2en (BENCHMARKS.md).
pub const DEFAULT_ALPHA: f32 = 0.5;
/// How many candidates each leg contributes before fusion.
pub const DEFAULT_DEPTH: usize = 100;

/// Invalid fusion parameters.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum FusionError {
    #[error("alpha must be between 0 and 1, got {0}")]
    Alpha(f32),
    #[error("rrf k must be positive, got {0}")]
    RrfK(f32),
    #[error("{lists} lists but {weights} weights")]
    Weights { lists: usize, weights: usize },
    #[error("weights must be finite and non-negative, got {0}")]
    Weight(f32),
}

/// How two legs are merged.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Fusion {
    /// Reciprocal rank fusion with constant `k`.
    Rrf { k: f32 },
    /// `alpha * dense + (1 - alpha) * bm25` after per-list min-max normalization.
    Convex { alpha: f32 },
}

impl Default for Fusion {
    fn default() -> Self {
        Fusion::Convex {
            alpha: DEFAULT_ALPHA,
        }
    }
}

fn sort_fused<K: Ord>(mut v: Vec<(K, f32)>) -> Vec<(K, f32)> {
    v.sort_by(|a, b| {
        b.1.partial_cmp(&a.1)
            .unwrap_or(std::cmp::Ordering::Equal)
            .then_with(|| a.0.cmp(&b.0))
    });
    v
}

/// One finite, non-negative weight per list.
fn check_weights(lists: usize, weights: &[f32]) -> Result<(), FusionError> {
    if lists != weights.len() {
        return Err(FusionError::Weights {
            lists,
            weights: weights.len(),
        });
    }
    match weights.iter().find(|w| !w.is_finite() || **w < 0.0) {
        Some(w) => Err(FusionError::Weight(*w)),
        None => Ok(()),
    }
}

/// Weighted reciprocal rank fusion: `sum_i w_i / (k + rank_i)`, ranks starting at 1.
pub fn rrf<K: Hash + Eq + Ord + Clone>(
    lists: &[&[(K, f32)]],
    weights: &[f32],
    k: f32,
) -> Result<Vec<(K, f32)>, FusionError> {
    if k <= 0.0 || !k.is_finite() {
        return Err(FusionError::RrfK(k));
    }
    check_weights(lists.len(), weights)?;
    let mut acc: HashMap<K, f32> = HashMap::new();
    for (list, &w) in lists.iter().zip(weights) {
        for (rank, (key, _)) in list.iter().enumerate() {
            *acc.entry(key.clone()).or_insert(0.0) += w / (k + rank as f32 + 1.0);
        }
    }
    Ok(sort_fused(acc.into_iter().collect()))
}

/// Min-max normalizes scores to [0, 1]; a list whose scores are all equal maps to 1.
pub fn min_max<K: Clone>(list: &[(K, f32)]) -> Vec<(K, f32)> {
    let (lo, hi) = list
        .iter()
        .fold((f32::INFINITY, f32::NEG_INFINITY), |(lo, hi), (_, s)| {
            (lo.min(*s), hi.max(*s))
        });
    list.iter()
        .map(|(k, s)| {
            let n = if hi > lo { (s - lo) / (hi - lo) } else { 1.0 };
            (k.clone(), n)
        })
        .collect()
}

/// Convex combination `alpha * dense + (1 - alpha) * bm25` of min-max normalized scores; a key
/// missing from a list gets 0 from it.
pub fn convex<K: Hash + Eq + Ord + Clone>(
    bm25: &[(K, f32)],
    dense: &[(K, f32)],
    alpha: f32,
) -> Result<Vec<(K, f32)>, FusionError> {
    if !(0.0..=1.0).contains(&alpha) {
        return Err(FusionError::Alpha(alpha));
    }
    let mut acc: HashMap<K, f32> = HashMap::new();
    for (key, s) in min_max(bm25) {
        *acc.entry(key).or_insert(0.0) += (1.0 - alpha) * s;
    }
    for (key, s) in min_max(dense) {
        *acc.entry(key).or_insert(0.0) += alpha * s;
    }
    Ok(sort_fused(acc.into_iter().collect()))
}

/// Weighted sum of min-max normalized scores over any number of lists; a key missing from a
/// list gets 0 from it. `convex(b, d, a)` equals `weighted_convex(&[b, d], &[1 - a, a])`.
pub fn weighted_convex<K: Hash + Eq + Ord + Clone>(
    lists: &[&[(K, f32)]],
    weights: &[f32],
) -> Result<Vec<(K, f32)>, FusionError> {
    check_weights(lists.len(), weights)?;
    let mut acc: HashMap<K, f32> = HashMap::new();
    for (list, &w) in lists.iter().zip(weights) {
        for (key, s) in min_max(list) {
            *acc.entry(key).or_insert(0.0) += w * s;
        }
    }
    Ok(sort_fused(acc.into_iter().collect()))
}

/// Applies `fusion` to a BM25 and a dense list.
pub fn fuse<K: Hash + Eq + Ord + Clone>(
    bm25: &[(K, f32)],
    dense: &[(K, f32)],
    fusion: Fusion,
) -> Result<Vec<(K, f32)>, FusionError> {
    match fusion {
        Fusion::Rrf { k } => rrf(&[bm25, dense], &[1.0, 1.0], k),
        Fusion::Convex { alpha } => convex(bm25, dense, alpha),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn l(items: &[(&'static str, f32)]) -> Vec<(&'static str, f32)> {
        items.to_vec()
    }

    #[test]
    fn rrf_exact_scores() {
        let a = l(&[("x", 9.0), ("y", 5.0)]);
        let b = l(&[("y", 0.9), ("z", 0.1)]);
        let f = rrf(&[&a, &b], &[1.0, 1.0], 60.0).unwrap();
        assert_eq!(f[0].0, "y");
        assert!((f[0].1 - (1.0 / 62.0 + 1.0 / 61.0)).abs() < 1e-7);
        // x and z tie at 1/61: key order decides.
        assert_eq!((f[1].0, f[2].0), ("x", "z"));
        assert!((f[1].1 - 1.0 / 61.0).abs() < 1e-7);
    }

    #[test]
    fn rrf_zero_weight_ignores_a_list() {
        let a = l(&[("x", 1.0)]);
        let b = l(&[("y", 1.0)]);
        let f = rrf(&[&a, &b], &[1.0, 0.0], 60.0).unwrap();
        assert_eq!(f[0], ("x", 1.0 / 61.0));
        assert_eq!(f[1], ("y", 0.0));
    }

    #[test]
    fn convex_exact_scores() {
        let bm25 = l(&[("a", 10.0), ("b", 6.0), ("c", 2.0)]);
        let dense = l(&[("c", 0.9), ("d", 0.5)]);
        let f = convex(&bm25, &dense, 0.5).unwrap();
        let got: HashMap<_, _> = f.iter().cloned().collect();
        assert!((got["a"] - 0.5).abs() < 1e-6);
        assert!((got["b"] - 0.25).abs() < 1e-6);
        assert!((got["c"] - 0.5).abs() < 1e-6);
        assert!((got["d"] - 0.0).abs() < 1e-6);
        assert_eq!((f[0].0, f[1].0), ("a", "c"), "tie broken by key");
        // alpha 0 is pure BM25 order, alpha 1 pure dense order.
        assert_eq!(convex(&bm25, &dense, 0.0).unwrap()[0].0, "a");
        assert_eq!(convex(&bm25, &dense, 1.0).unwrap()[0].0, "c");
    }

    #[test]
    fn empty_lists_and_single_scores() {
        let empty: Vec<(&str, f32)> = Vec::new();
        assert!(convex(&empty, &empty, 0.5).unwrap().is_empty());
        assert!(rrf::<&str>(&[], &[], 60.0).unwrap().is_empty());
        let one = l(&[("a", 3.0)]);
        assert_eq!(min_max(&one), vec![("a", 1.0)]);
        assert_eq!(convex(&one, &empty, 0.3).unwrap(), vec![("a", 0.7)]);
    }

    #[test]
    fn invalid_parameters_are_errors() {
        let a = l(&[("a", 1.0)]);
        assert_eq!(convex(&a, &a, 1.5), Err(FusionError::Alpha(1.5)));
        assert_eq!(rrf(&[&a], &[1.0], 0.0), Err(FusionError::RrfK(0.0)));
        assert_eq!(
            rrf(&[&a], &[], 60.0),
            Err(FusionError::Weights {
                lists: 1,
                weights: 0
            })
        );
        assert_eq!(rrf(&[&a], &[-1.0], 60.0), Err(FusionError::Weight(-1.0)));
    }
}
