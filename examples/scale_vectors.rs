//! Builds an index for the single-node scale benchmark with a vector on every paper
//! (BENCHMARKS.md, "Scale on one node"), without embedding millions of abstracts:
//!
//! ```text
//! cargo run --release --example scale_vectors -- SOURCE_INDEX COPIES OUT_INDEX
//! ```
//!
//! `SOURCE_INDEX` should give every paper a vector (the 118K arXiv import after `serve` or
//! `embed` finished); a partly embedded source works too, its papers without a vector getting a
//! synthetic one between two real vectors (`normalize(0.8 a + 0.6 b)`, as below), and the run
//! says how many. Copy 0 is the source itself, real text and real vectors. In copy `c > 0` each paper
//! gets the id `<id>-c<c>` and its dates shifted back `c` days (as `scripts/bench/scale_corpus.py`
//! does for the BM25 part), its real text, and a synthetic vector `normalize(0.8 v + 0.6 w)`:
//! `v` its own vector, `w` the vector of another paper drawn by a seeded generator. The copies
//! keep the geometry of real embeddings (every synthetic vector sits between two real ones)
//! without any two papers sharing a vector, so a top 10 is not ten copies of one paper.
//!
//! The result is an ordinary index claimed by the source's model: `serve`, `search`, `stats`
//! and the search bench (`ACADEMICHUB_BENCH_INDEX=OUT_INDEX`) read it as they read any other.

use std::path::PathBuf;
use std::process::ExitCode;

use academichub::{Paper, PaperId, PaperIndex};
use anyhow::{bail, Context, Result};
use indicatif::{ProgressBar, ProgressStyle};

/// Weight of the paper's own vector and of the other paper's in a synthetic vector.
const OWN: f32 = 0.8;
const OTHER: f32 = 0.6;
/// Papers written between commits.
const COMMIT_EVERY: u64 = 200_000;

/// SplitMix64: a seeded, dependency-free generator (the same copies on every run).
struct SplitMix(u64);

impl SplitMix {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
}

fn synthetic(own: &[f32], other: &[f32]) -> Vec<f32> {
    let mut v: Vec<f32> = own
        .iter()
        .zip(other)
        .map(|(a, b)| OWN * a + OTHER * b)
        .collect();
    let n = v.iter().map(|x| x * x).sum::<f32>().sqrt();
    if n > 0.0 {
        v.iter_mut().for_each(|x| *x /= n);
    }
    v
}

fn shifted(d: Option<time::Date>, days: i64) -> Option<time::Date> {
    d.and_then(|d| d.checked_sub(time::Duration::days(days)))
}

fn run(source: PathBuf, copies: u64, out: PathBuf) -> Result<()> {
    if copies == 0 {
        bail!("COPIES must be at least 1");
    }
    if out.exists() {
        bail!("{} exists: give a new directory", out.display());
    }
    let src = PaperIndex::open(&source).with_context(|| format!("open {}", source.display()))?;
    let model = src
        .embedding_model()
        .with_context(|| format!("{} has no vectors", source.display()))?;
    let searcher = src.reader().searcher();
    let mut papers: Vec<(Paper, Vec<f32>)> = Vec::new();
    let mut unembedded: Vec<Paper> = Vec::new();
    let bar = ProgressBar::new(searcher.num_docs());
    bar.set_style(ProgressStyle::with_template(
        "{msg} [{bar:30}] {pos}/{len} ({per_sec}, eta {eta})",
    )?);
    bar.set_message("reading the source");
    for (ord, segment) in searcher.segment_readers().iter().enumerate() {
        for doc in segment.doc_ids_alive() {
            let addr = tantivy::DocAddress::new(ord as u32, doc);
            let stored = src.stored_at(&searcher, addr)?;
            match stored.vector {
                Some(v) => papers.push((stored.paper, v)),
                None => unembedded.push(stored.paper),
            }
            bar.inc(1);
        }
    }
    bar.finish();
    if papers.is_empty() {
        bail!(
            "no paper of {} has a vector: embed the source first",
            source.display()
        );
    }
    let mut rng = SplitMix(0x5CA1_E000);
    if !unembedded.is_empty() {
        // A partly embedded source: the papers without a vector get one between two real ones.
        eprintln!(
            "{} of {} source papers have no vector: each gets a synthetic one between two real vectors",
            unembedded.len(),
            papers.len() + unembedded.len()
        );
        let real = papers.len() as u64;
        for p in unembedded {
            let a = &papers[(rng.next() % real) as usize].1;
            let b = &papers[(rng.next() % real) as usize].1;
            let v = synthetic(a, b);
            papers.push((p, v));
        }
    }
    let dst = PaperIndex::open_or_create(&out)?;
    dst.claim_embedding_model(&model)?;
    let mut writer = dst.writer()?;
    let total = papers.len() as u64 * copies;
    let bar = ProgressBar::new(total);
    bar.set_style(ProgressStyle::with_template(
        "{msg} [{bar:30}] {pos}/{len} ({per_sec}, eta {eta})",
    )?);
    bar.set_message("writing copies");
    let mut since_commit = 0;
    for c in 0..copies {
        for (p, v) in &papers {
            if c == 0 {
                writer.upsert_with_vector(p, Some(v))?;
            } else {
                let other = &papers[(rng.next() % papers.len() as u64) as usize].1;
                let mut q = p.clone();
                q.id = PaperId::new(format!("{}-c{c}", p.id));
                q.published = shifted(p.published, c as i64);
                q.updated = shifted(p.updated, c as i64);
                writer.upsert_with_vector(&q, Some(&synthetic(v, other)))?;
            }
            since_commit += 1;
            if since_commit >= COMMIT_EVERY {
                writer.commit()?;
                since_commit = 0;
            }
            bar.inc(1);
        }
    }
    writer.commit()?;
    bar.set_message("merging");
    writer.wait_merging_threads()?;
    bar.finish();
    eprintln!(
        "wrote {total} papers ({copies} x {}) with {} vectors to {}",
        papers.len(),
        model.name,
        out.display()
    );
    Ok(())
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [source, copies, out] = args.as_slice() else {
        eprintln!("usage: scale_vectors SOURCE_INDEX COPIES OUT_INDEX");
        return ExitCode::from(2);
    };
    let Ok(copies) = copies.parse::<u64>() else {
        eprintln!("error: COPIES must be a number, got {copies:?}");
        return ExitCode::from(2);
    };
    match run(PathBuf::from(source), copies, PathBuf::from(out)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
