//! Deterministic clustering of unit vectors: spherical k-means with k-means++ seeding from a
//! fixed seed, k chosen by the mean silhouette (cosine distance). Points are sparse
//! `(dimension, value)` lists so dense embeddings and tf-idf vectors go through the same code.
//! Pure: no I/O, no index.

/// Seed of the k-means++ generator (fixed: same input, same clusters).
pub const SEED: u64 = 0x5eed_7ad0_2026;
/// Most k-means iterations per k.
pub const MAX_ITERATIONS: usize = 50;
/// Largest number of clusters tried.
pub const MAX_K: usize = 10;
/// At or below this mean silhouette the data is treated as one theme (sparse tf-idf vectors
/// rarely score above 0.05 even for clearly separate topics, so only "no structure" counts).
pub const MIN_SILHOUETTE: f32 = 0.0;

/// A sparse unit vector: sorted `(dimension, value)` pairs.
pub type Point = Vec<(u32, f32)>;

/// A dense vector as a point.
pub fn dense_point(v: &[f32]) -> Point {
    v.iter()
        .enumerate()
        .filter(|(_, x)| **x != 0.0)
        .map(|(i, x)| (i as u32, *x))
        .collect()
}

/// Dot product of two sorted sparse points.
pub fn sparse_dot(a: &Point, b: &Point) -> f32 {
    let (mut i, mut j, mut s) = (0, 0, 0f32);
    while i < a.len() && j < b.len() {
        match a[i].0.cmp(&b[j].0) {
            std::cmp::Ordering::Less => i += 1,
            std::cmp::Ordering::Greater => j += 1,
            std::cmp::Ordering::Equal => {
                s += a[i].1 * b[j].1;
                i += 1;
                j += 1;
            }
        }
    }
    s
}

/// All pairwise cosines (points are unit vectors), row-major `n x n`.
pub fn similarity_matrix(points: &[Point], dims: usize) -> Vec<f32> {
    let n = points.len();
    let mut m = vec![0f32; n * n];
    // Scatter each row into a dense buffer once: then each pair costs the other point's nnz.
    let mut dense = vec![0f32; dims];
    for i in 0..n {
        for &(d, x) in &points[i] {
            dense[d as usize] = x;
        }
        m[i * n + i] = 1.0;
        for j in (i + 1)..n {
            let s: f32 = points[j].iter().map(|&(d, x)| dense[d as usize] * x).sum();
            m[i * n + j] = s;
            m[j * n + i] = s;
        }
        for &(d, _) in &points[i] {
            dense[d as usize] = 0.0;
        }
    }
    m
}

/// xorshift64*: tiny, deterministic.
struct Rng(u64);

impl Rng {
    fn next_f32(&mut self) -> f32 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        let x = self.0.wrapping_mul(0x2545_f491_4f6c_dd1d);
        (x >> 40) as f32 / (1u64 << 24) as f32
    }
}

fn normalize(v: &mut [f32]) {
    let n = v.iter().map(|x| x * x).sum::<f32>().sqrt();
    if n > 0.0 {
        v.iter_mut().for_each(|x| *x /= n);
    }
}

fn dot_dense(p: &Point, c: &[f32]) -> f32 {
    p.iter().map(|&(d, x)| c[d as usize] * x).sum()
}

/// Spherical k-means with k-means++ seeding; returns the cluster of each point.
pub fn kmeans(points: &[Point], dims: usize, k: usize, sim: &[f32]) -> Vec<usize> {
    let n = points.len();
    if n == 0 || k <= 1 {
        return vec![0; n];
    }
    let k = k.min(n);
    let mut rng = Rng(SEED ^ (k as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15));
    // k-means++ on cosine distance, using the similarity matrix.
    let mut seeds = vec![0usize];
    let mut d2: Vec<f32> = (0..n).map(|j| (1.0 - sim[j]).max(0.0).powi(2)).collect();
    while seeds.len() < k {
        let total: f32 = d2.iter().sum();
        let next = if total <= 0.0 {
            (0..n).find(|j| !seeds.contains(j)).unwrap_or(0)
        } else {
            let mut r = rng.next_f32() * total;
            let mut pick = n - 1;
            for (j, w) in d2.iter().enumerate() {
                if r < *w {
                    pick = j;
                    break;
                }
                r -= w;
            }
            pick
        };
        seeds.push(next);
        for (j, slot) in d2.iter_mut().enumerate() {
            let d = (1.0 - sim[next * n + j]).max(0.0).powi(2);
            if d < *slot {
                *slot = d;
            }
        }
    }
    let mut centroids: Vec<Vec<f32>> = seeds
        .iter()
        .map(|&s| {
            let mut c = vec![0f32; dims];
            for &(d, x) in &points[s] {
                c[d as usize] = x;
            }
            c
        })
        .collect();
    let mut assign = vec![usize::MAX; n];
    for _ in 0..MAX_ITERATIONS {
        let mut changed = false;
        for (i, p) in points.iter().enumerate() {
            let mut best = (f32::NEG_INFINITY, 0);
            for (c, centroid) in centroids.iter().enumerate() {
                let s = dot_dense(p, centroid);
                if s > best.0 {
                    best = (s, c);
                }
            }
            if assign[i] != best.1 {
                assign[i] = best.1;
                changed = true;
            }
        }
        if !changed {
            break;
        }
        for (c, centroid) in centroids.iter_mut().enumerate() {
            let members: Vec<usize> = (0..n).filter(|&i| assign[i] == c).collect();
            if members.is_empty() {
                continue; // keep the old centroid
            }
            centroid.iter_mut().for_each(|x| *x = 0.0);
            for &i in &members {
                for &(d, x) in &points[i] {
                    centroid[d as usize] += x;
                }
            }
            normalize(centroid);
        }
    }
    relabel(&assign)
}

/// Renumbers clusters 0.. in order of first appearance, dropping empty ones.
fn relabel(assign: &[usize]) -> Vec<usize> {
    let mut map: Vec<(usize, usize)> = Vec::new();
    assign
        .iter()
        .map(|a| match map.iter().find(|(from, _)| from == a) {
            Some((_, to)) => *to,
            None => {
                let to = map.len();
                map.push((*a, to));
                to
            }
        })
        .collect()
}

/// Mean silhouette with cosine distance; 0 for a single cluster.
pub fn silhouette(assign: &[usize], sim: &[f32]) -> f32 {
    let n = assign.len();
    let k = assign.iter().copied().max().map(|m| m + 1).unwrap_or(0);
    if k < 2 || n < 3 {
        return 0.0;
    }
    let sizes: Vec<usize> = (0..k)
        .map(|c| assign.iter().filter(|&&a| a == c).count())
        .collect();
    let mut total = 0f32;
    let mut sums = vec![0f32; k];
    for i in 0..n {
        sums.iter_mut().for_each(|s| *s = 0.0);
        for j in 0..n {
            if i != j {
                sums[assign[j]] += 1.0 - sim[i * n + j];
            }
        }
        let own = assign[i];
        if sizes[own] <= 1 {
            continue; // silhouette of a singleton is 0
        }
        let a = sums[own] / (sizes[own] - 1) as f32;
        let b = (0..k)
            .filter(|&c| c != own && sizes[c] > 0)
            .map(|c| sums[c] / sizes[c] as f32)
            .fold(f32::INFINITY, f32::min);
        let m = a.max(b);
        if m > 0.0 && b.is_finite() {
            total += (b - a) / m;
        }
    }
    total / n as f32
}

/// Clusters `points`, choosing k in `2..=min(MAX_K, n / 3)` by silhouette; one cluster when
/// there are fewer than 6 points or no k separates them. Returns the assignment and the
/// silhouette of the chosen k.
pub fn cluster(points: &[Point], dims: usize, sim: &[f32]) -> (Vec<usize>, f32) {
    let n = points.len();
    let max_k = MAX_K.min(n / 3);
    let mut best: (Vec<usize>, f32) = (vec![0; n], 0.0);
    for k in 2..=max_k {
        let assign = kmeans(points, dims, k, sim);
        let s = silhouette(&assign, sim);
        if s > best.1 + 1e-6 {
            best = (assign, s);
        }
    }
    if best.1 <= MIN_SILHOUETTE {
        return (vec![0; n], best.1.max(0.0));
    }
    best
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(v: &[f32]) -> Point {
        let mut v = v.to_vec();
        normalize(&mut v);
        dense_point(&v)
    }

    #[test]
    fn two_obvious_groups_are_found_deterministically() {
        let pts: Vec<Point> = vec![
            p(&[1.0, 0.1, 0.0]),
            p(&[0.0, 0.1, 1.0]),
            p(&[0.9, 0.0, 0.1]),
            p(&[0.1, 0.0, 0.9]),
            p(&[1.0, 0.2, 0.0]),
            p(&[0.0, 0.2, 1.0]),
        ];
        let sim = similarity_matrix(&pts, 3);
        let (a, s) = cluster(&pts, 3, &sim);
        assert_eq!(a, vec![0, 1, 0, 1, 0, 1]);
        assert!(s > 0.5, "{s}");
        assert_eq!(cluster(&pts, 3, &sim), (a, s));
    }

    #[test]
    fn tiny_and_empty_inputs() {
        assert_eq!(cluster(&[], 3, &[]).0, Vec::<usize>::new());
        let pts = vec![p(&[1.0, 0.0]), p(&[0.0, 1.0])];
        let sim = similarity_matrix(&pts, 2);
        assert_eq!(cluster(&pts, 2, &sim).0, vec![0, 0]);
        assert!((sparse_dot(&pts[0], &pts[0]) - 1.0).abs() < 1e-6);
        assert_eq!(sparse_dot(&pts[0], &pts[1]), 0.0);
    }
}
