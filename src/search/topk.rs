//! Ranked lists and the one top-k both legs keep their best documents in.

use std::cmp::Ordering;
use std::collections::BinaryHeap;

use tantivy::{DocAddress, Score};

/// One leg's ranking on a given searcher, best first.
pub type Leg = Vec<(DocAddress, Score)>;

/// A scored document in a top-k heap: `Ord` puts the worst (lowest score, then highest
/// address) on top, so popping drops it.
#[derive(Debug, PartialEq, Clone, Copy)]
pub struct Scored(pub Score, pub DocAddress);

impl Eq for Scored {}

impl Ord for Scored {
    // Min-heap on score; among equal scores the larger address is "smaller" so the lower
    // address survives: deterministic results.
    fn cmp(&self, other: &Self) -> Ordering {
        other
            .0
            .partial_cmp(&self.0)
            .unwrap_or(Ordering::Equal)
            .then_with(|| self.1.cmp(&other.1))
    }
}

impl PartialOrd for Scored {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

/// The best `k` documents offered, by score then address (tantivy's `TopDocs` order).
pub struct TopK {
    k: usize,
    heap: BinaryHeap<Scored>,
    /// The worst kept score once `k` are kept: lower scores cannot enter.
    threshold: Score,
}

impl TopK {
    /// An empty top `k` (at least one).
    pub fn new(k: usize) -> TopK {
        let k = k.max(1);
        TopK {
            k,
            heap: BinaryHeap::with_capacity(k + 1),
            threshold: Score::NEG_INFINITY,
        }
    }

    /// How many it keeps.
    pub fn capacity(&self) -> usize {
        self.k
    }

    /// The score a document needs to be worth offering (minus infinity until `k` are kept).
    #[inline(always)]
    pub fn threshold(&self) -> Score {
        self.threshold
    }

    /// Keeps `addr` if it is among the best `k` offered so far.
    #[inline(always)]
    pub fn offer(&mut self, score: Score, addr: DocAddress) {
        if score < self.threshold {
            return;
        }
        let kept = Scored(score, addr);
        if self.heap.len() < self.k {
            self.heap.push(kept);
        } else if self.heap.peek().is_some_and(|worst| kept < *worst) {
            self.heap.pop();
            self.heap.push(kept);
        } else {
            return;
        }
        if self.heap.len() == self.k {
            self.threshold = self.heap.peek().map_or(Score::NEG_INFINITY, |w| w.0);
        }
    }

    /// The kept documents in no particular order.
    pub fn into_unsorted(self) -> Vec<Scored> {
        self.heap.into_vec()
    }

    /// The kept documents, best first.
    pub fn into_sorted(self) -> Leg {
        let mut top = self.heap.into_vec();
        top.sort();
        top.into_iter()
            .map(|Scored(score, addr)| (addr, score))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addr(doc: u32) -> DocAddress {
        DocAddress::new(0, doc)
    }

    #[test]
    fn keeps_the_best_k_with_ties_to_the_lower_address() {
        let mut top = TopK::new(3);
        for (doc, score) in [(5, 1.0), (1, 3.0), (4, 2.0), (2, 2.0), (3, 0.5), (0, 2.0)] {
            top.offer(score, addr(doc));
        }
        assert_eq!(top.threshold(), 2.0);
        assert_eq!(
            top.into_sorted(),
            vec![(addr(1), 3.0), (addr(0), 2.0), (addr(2), 2.0)]
        );
    }

    #[test]
    fn same_result_as_sorting_everything() {
        let mut rng = fastrand::Rng::with_seed(7);
        for k in [1, 2, 10, 64] {
            let offered: Vec<(u32, f32)> = (0..500)
                .map(|doc| (doc, f32::from(rng.u8(..20)) / 4.0))
                .collect();
            let mut top = TopK::new(k);
            for &(doc, s) in &offered {
                top.offer(s, addr(doc));
            }
            let mut all: Vec<Scored> = offered.iter().map(|&(d, s)| Scored(s, addr(d))).collect();
            all.sort();
            let want: Leg = all.into_iter().take(k).map(|Scored(s, a)| (a, s)).collect();
            assert_eq!(top.into_sorted(), want, "k={k}");
        }
    }

    #[test]
    fn zero_k_keeps_one() {
        let mut top = TopK::new(0);
        top.offer(1.0, addr(1));
        top.offer(2.0, addr(2));
        assert_eq!(top.into_sorted(), vec![(addr(2), 2.0)]);
    }
}
