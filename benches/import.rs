//! Import throughput: parse + normalize + index + commit of a JSONL corpus into a fresh index.
//!
//! Corpus: `ACADEMICHUB_BENCH_CORPUS=FILE` (arXiv JSONL, e.g. the 118K corpus; one timed pass)
//! or, by default, the committed fixture `tests/fixtures/arxiv-mini.jsonl` under criterion.

use std::path::PathBuf;
use std::time::Instant;

use academichub::ingest::{import_file, Format, ImportOptions};
use academichub::PaperIndex;
use criterion::{criterion_group, Criterion, Throughput};

fn import_once(corpus: &std::path::Path) -> u64 {
    let tmp = tempfile::tempdir().expect("temp dir");
    let index = PaperIndex::open_or_create(&tmp.path().join("idx")).expect("create index");
    let mut opts = ImportOptions::new(Format::ArxivJsonl);
    opts.progress = false;
    import_file(&index, corpus, &opts, None)
        .expect("import")
        .imported
}

fn bench(c: &mut Criterion) {
    if let Some(corpus) = std::env::var_os("ACADEMICHUB_BENCH_CORPUS") {
        let corpus = PathBuf::from(corpus);
        let t = Instant::now();
        let n = import_once(&corpus);
        let s = t.elapsed().as_secs_f64();
        println!(
            "import {}: {n} papers in {s:.1}s = {:.0} docs/s",
            corpus.display(),
            n as f64 / s
        );
        return;
    }
    let fixture = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/arxiv-mini.jsonl");
    let n = import_once(&fixture);
    let mut g = c.benchmark_group("import");
    g.sample_size(10);
    g.throughput(Throughput::Elements(n));
    g.bench_function("arxiv_mini_250", |b| b.iter(|| import_once(&fixture)));
    g.finish();
}

criterion_group!(benches, bench);

fn main() {
    benches();
    Criterion::default().configure_from_args().final_summary();
}
