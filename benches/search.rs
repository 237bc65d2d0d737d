//! BM25 query latency: our `QueryEngine::search` (parse, filters, top-k, stored docs, snippets)
//! next to a raw tantivy baseline (tantivy's QueryParser over the same field, top-k, stored
//! docs) on the same index in the same run, so the ratio is our overhead.
//!
//! Index: `ACADEMICHUB_BENCH_INDEX=DIR` (e.g. the 118K arXiv import), or
//! `ACADEMICHUB_BENCH_CORPUS=FILE` (an arXiv JSONL imported into a temp index, or into
//! `ACADEMICHUB_BENCH_KEEP=DIR` which is kept, with synthetic
//! random unit vectors for every paper, so dense/hybrid latency can be measured at full size
//! without hours of embedding), or by default the committed fixture
//! `tests/fixtures/arxiv-mini.jsonl` (with synthetic vectors).
//! Besides criterion's estimates it prints p50/p99 over `BENCH_ROUNDS` passes of the query set
//! for bm25, dense and hybrid; dense and hybrid include embedding the query with the real
//! MiniLM model, or `BENCH_MODEL` (cache missed on purpose), when it has been fetched (`BENCH_SKIP_DENSE=1` skips
//! them, e.g. to profile the BM25 path alone; `BENCH_PER_QUERY=1` prints each query's p50;
//! `BENCH_SEQUENTIAL=1` embeds a hybrid query before searching instead of while its BM25 leg
//! is ranked; `BENCH_QUERY_THREADS=all-cores` embeds queries with a spinning pool of one thread per core
//! instead of the one thread `serve` uses (`all-cores-quiet`: that pool, sleeping when idle); `BENCH_RECALL_TITLES=N` sets how many paper titles the dense-scan recall
//! also queries, default 100).

use std::path::PathBuf;
use std::time::Instant;

use academichub::embed::{
    default_cache_root, normalize, EmbedError, Embedder, FastEmbedder, ModelId, ModelSpec,
};
use academichub::ingest::{import_file, Format, ImportOptions};
use academichub::search::{Mode, QueryVector, SearchRequest};
use academichub::{PaperIndex, QueryEngine};
use criterion::{criterion_group, Criterion};
use tantivy::collector::TopDocs;
use tantivy::query::QueryParser;
use tantivy::TantivyDocument;

/// The fixed query set of the benches and the load tests (`scripts/load/queries.txt`, one a
/// line): short keyword queries, phrases, +/-, a field, natural-language questions, Chinese.
static QUERIES: std::sync::LazyLock<Vec<&str>> = std::sync::LazyLock::new(|| {
    include_str!("../scripts/load/queries.txt")
        .lines()
        .filter(|l| !l.trim().is_empty())
        .collect()
});

/// Deterministic random unit vectors standing in for passage embeddings.
struct RandomEmbedder {
    id: ModelId,
}

impl Embedder for RandomEmbedder {
    fn id(&self) -> &ModelId {
        &self.id
    }
    fn embed_passages(&mut self, texts: &[String]) -> Result<Vec<Vec<f32>>, EmbedError> {
        Ok(texts
            .iter()
            .map(|t| {
                let mut x: u64 = t.bytes().fold(0x9e37_79b9_7f4a_7c15, |h, b| {
                    (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
                }) | 1;
                let mut v: Vec<f32> = (0..self.id.dims)
                    .map(|_| {
                        x ^= x << 13;
                        x ^= x >> 7;
                        x ^= x << 17;
                        (x >> 40) as f32 / (1u64 << 24) as f32 - 0.5
                    })
                    .collect();
                normalize(&mut v);
                v
            })
            .collect())
    }
    fn embed_query(&mut self, text: &str) -> Result<Vec<f32>, EmbedError> {
        Ok(self.embed_passages(&[text.to_string()])?.remove(0))
    }
}

fn index(model: &ModelId) -> (Option<tempfile::TempDir>, PaperIndex) {
    if let Some(dir) = std::env::var_os("ACADEMICHUB_BENCH_INDEX") {
        let index = PaperIndex::open(&PathBuf::from(dir)).expect("open ACADEMICHUB_BENCH_INDEX");
        return (None, index);
    }
    let corpus = std::env::var_os("ACADEMICHUB_BENCH_CORPUS")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/arxiv-mini.jsonl")
        });
    // `ACADEMICHUB_BENCH_KEEP=DIR` builds the index there and keeps it (e.g. to load-test
    // `serve` on 118K papers that all have vectors); otherwise it lives in a temp dir.
    let (tmp, dir) = match std::env::var_os("ACADEMICHUB_BENCH_KEEP") {
        Some(keep) => {
            let keep = PathBuf::from(keep);
            assert!(
                !keep.exists(),
                "ACADEMICHUB_BENCH_KEEP={} exists",
                keep.display()
            );
            (None, keep)
        }
        None => {
            let tmp = tempfile::tempdir().expect("temp dir");
            let dir = tmp.path().join("idx");
            (Some(tmp), dir)
        }
    };
    let index = PaperIndex::open_or_create(&dir).expect("create index");
    let mut opts = ImportOptions::new(Format::ArxivJsonl);
    opts.progress = false;
    let mut synthetic = RandomEmbedder { id: model.clone() };
    import_file(&index, &corpus, &opts, Some(&mut synthetic)).expect("import corpus");
    (tmp, index)
}

fn ours(engine: &QueryEngine, q: &str, snippets: bool) -> usize {
    run_mode(engine, q, snippets, Mode::Bm25, None)
}

/// What `GET /api/search?mode=bm25` computes: top 10 with snippets and facet counts, in one
/// call (`facets: true`: top k without counting, then a batched facet pass that also gives the
/// total), or as before (top k with a count, then `browse::facets`).
fn api_work(engine: &QueryEngine, q: &str, one_pass: bool) -> usize {
    let mut req = SearchRequest::new(q);
    req.k = 10;
    req.facets = one_pass;
    let n = engine.search(&req).map(|r| r.hits.len()).unwrap_or(0);
    if !one_pass {
        let f = academichub::search::browse::facets(engine.index(), q, &req.filters);
        std::hint::black_box(f.map(|f| f.count).unwrap_or(0));
    }
    n
}

fn run_mode(
    engine: &QueryEngine,
    q: &str,
    snippets: bool,
    mode: Mode,
    v: Option<Vec<f32>>,
) -> usize {
    let mut req = SearchRequest::new(q);
    req.k = 10;
    req.snippets = snippets;
    req.mode = mode;
    req.query_vector = v.map(QueryVector::Ready);
    engine.search(&req).map(|r| r.hits.len()).unwrap_or(0)
}

fn raw(index: &PaperIndex, parser: &QueryParser, q: &str) -> usize {
    let searcher = index.reader().searcher();
    let (query, _) = parser.parse_query_lenient(q);
    let top = searcher
        .search(&query, &TopDocs::with_limit(10))
        .unwrap_or_default();
    top.iter()
        .filter(|(_, addr)| searcher.doc::<TantivyDocument>(*addr).is_ok())
        .count()
}

/// The short Chinese technical terms of `scripts/zh-terms/terms.tsv`.
static CHINESE_TERMS: std::sync::LazyLock<Vec<&str>> = std::sync::LazyLock::new(|| {
    include_str!("../scripts/zh-terms/terms.tsv")
        .lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .filter_map(|l| l.split('\t').nth(1))
        .collect()
});

/// bm25 search (k=10, snippets) of the Chinese terms with and without query translation, in
/// the same run: the first round (the translation's corpus statistics not yet cached) and the
/// rounds after. The dictionary is loaded before timing, as `serve` loads it at start-up.
fn translation_latency(engine: &QueryEngine, rounds: usize) {
    if let Err(why) = academichub::search::translate::shared() {
        println!("  (translation latency skipped: {why})");
        return;
    }
    let run = |q: &str, translate: bool| {
        let mut req = SearchRequest::new(q);
        req.k = 10;
        req.translate = translate;
        let t = Instant::now();
        std::hint::black_box(engine.search(&req).map(|r| r.hits.len()).unwrap_or(0));
        t.elapsed().as_secs_f64() * 1e3
    };
    let (mut cold, mut warm, mut plain) = (Vec::new(), Vec::new(), Vec::new());
    for round in 0..rounds.max(2) {
        for q in CHINESE_TERMS.iter() {
            let ms = run(q, true);
            if round == 0 {
                cold.push(ms);
            } else {
                warm.push(ms);
            }
            plain.push(run(q, false));
        }
    }
    // Dense and hybrid searches translate once more for the text they embed (statistics
    // cached by then): its cost adds to theirs.
    let index = engine.index();
    let mut text_ms = Vec::new();
    for _ in 0..rounds.max(2) {
        for q in CHINESE_TERMS.iter() {
            let t = Instant::now();
            std::hint::black_box(academichub::search::embedding_text(index, q, true));
            text_ms.push(t.elapsed().as_secs_f64() * 1e3);
        }
    }
    let (e50, e99) = percentiles(text_ms);
    let (c50, c99) = percentiles(cold);
    let (w50, w99) = percentiles(warm);
    let (p50, p99) = percentiles(plain);
    println!("    embedding text (dense/hybrid) p50 {e50:.3} ms p99 {e99:.3} ms");
    println!(
        "  Chinese terms ({} queries), bm25 k=10 with snippets:\n    translated, first round  p50 {c50:.3} ms p99 {c99:.3} ms (+{:.3} ms p50)\n    translated, later rounds p50 {w50:.3} ms p99 {w99:.3} ms (+{:.3} ms p50)\n    untranslated             p50 {p50:.3} ms p99 {p99:.3} ms",
        CHINESE_TERMS.len(),
        c50 - p50,
        w50 - p50,
    );
}

fn percentiles(mut v: Vec<f64>) -> (f64, f64) {
    v.sort_by(|a, b| a.partial_cmp(b).unwrap_or(std::cmp::Ordering::Equal));
    let at = |p: f64| v[((v.len() as f64 - 1.0) * p).round() as usize];
    (at(0.50), at(0.99))
}

fn bench(c: &mut Criterion) {
    // `BENCH_MODEL=me5-small` for an index embedded with it (the query model must match).
    let name = std::env::var("BENCH_MODEL").unwrap_or_else(|_| "minilm-l6".into());
    let spec = ModelSpec::named(&name).expect("BENCH_MODEL names a model of schema/models.toml");
    // The query embedder `serve` uses (one thread, sleeping when idle), or with
    // `BENCH_QUERY_THREADS=all-cores` the spinning pool a one-off caller gets
    // (`all-cores-quiet`: that pool, sleeping when idle).
    let threads = match std::env::var("BENCH_QUERY_THREADS").as_deref() {
        Ok("all-cores") => academichub::embed::Threads::AllCores,
        Ok("all-cores-quiet") => academichub::embed::Threads::AllCoresQuiet,
        _ => academichub::embed::Threads::Searching,
    };
    let mut embedder: Box<dyn Embedder> =
        match FastEmbedder::load_with(&spec, &default_cache_root(), threads) {
            Ok(e) => Box::new(e),
            Err(e) => {
                println!("(real model unavailable: {e}; query vectors are synthetic too)");
                Box::new(RandomEmbedder {
                    id: ModelId {
                        name: "synthetic".into(),
                        hash: "random".into(),
                        dims: spec.dims,
                    },
                })
            }
        };
    let model = embedder.id().clone();
    let (_tmp, index) = index(&model);
    let engine = QueryEngine::new(&index);
    let parser = QueryParser::for_index(index.tantivy(), vec![index.fields().text]);
    let rounds: usize = std::env::var("BENCH_ROUNDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(20);
    let (mut ours_ms, mut plain_ms, mut raw_ms) = (Vec::new(), Vec::new(), Vec::new());
    let (mut one_ms, mut two_ms) = (Vec::new(), Vec::new());
    for round in 0..rounds {
        for q in QUERIES.iter() {
            // The first run of a query pays for its cold stored documents: alternate which
            // of the two API variants goes first.
            for one_pass in [round % 2 == 0, round % 2 == 1] {
                let t = Instant::now();
                std::hint::black_box(api_work(&engine, q, one_pass));
                let ms = t.elapsed().as_secs_f64() * 1e3;
                if one_pass {
                    one_ms.push(ms);
                } else {
                    two_ms.push(ms);
                }
            }
            let t = Instant::now();
            std::hint::black_box(ours(&engine, q, true));
            ours_ms.push(t.elapsed().as_secs_f64() * 1e3);
            let t = Instant::now();
            std::hint::black_box(ours(&engine, q, false));
            plain_ms.push(t.elapsed().as_secs_f64() * 1e3);
            let t = Instant::now();
            std::hint::black_box(raw(&index, &parser, q));
            raw_ms.push(t.elapsed().as_secs_f64() * 1e3);
        }
    }
    if std::env::var_os("BENCH_PER_QUERY").is_some() {
        // `one_ms` and `two_ms` hold rounds x queries, in query order within each round.
        for (i, q) in QUERIES.iter().enumerate() {
            let p50 = |v: &[f64]| {
                percentiles(v.iter().skip(i).step_by(QUERIES.len()).copied().collect()).0
            };
            println!(
                "  API bm25 work p50 {:.3} ms (counted ranking + facet pass {:.3} ms)  {q}",
                p50(&one_ms),
                p50(&two_ms)
            );
        }
    }
    let (o50, o99) = percentiles(ours_ms.clone());
    let (p50, p99) = percentiles(plain_ms.clone());
    let (r50, r99) = percentiles(raw_ms.clone());
    let mean = |v: &[f64]| v.iter().sum::<f64>() / v.len() as f64;
    println!(
        "bm25 latency over {} papers, {} queries x {rounds}, k=10:\n  academichub with snippets  p50 {o50:.3} ms p99 {o99:.3} ms mean {:.3} ms ({:.2}x raw)\n  academichub, no snippets   p50 {p50:.3} ms p99 {p99:.3} ms mean {:.3} ms ({:.2}x raw)\n  raw tantivy (parse+top10+docs) p50 {r50:.3} ms p99 {r99:.3} ms mean {:.3} ms",
        index.num_papers(),
        QUERIES.len(),
        mean(&ours_ms),
        mean(&ours_ms) / mean(&raw_ms),
        mean(&plain_ms),
        mean(&plain_ms) / mean(&raw_ms),
        mean(&raw_ms),
    );
    let (a50, a99) = percentiles(one_ms.clone());
    let (b50, b99) = percentiles(two_ms.clone());
    println!(
        "  API bm25 work (snippets + facets), facets: true p50 {a50:.3} ms p99 {a99:.3} ms mean {:.3} ms\n  API bm25 work, counted ranking + facet pass   p50 {b50:.3} ms p99 {b99:.3} ms mean {:.3} ms ({:.2}x facets: true)",
        mean(&one_ms),
        mean(&two_ms),
        mean(&two_ms) / mean(&one_ms),
    );
    translation_latency(&engine, rounds);
    let skip_dense = std::env::var_os("BENCH_SKIP_DENSE").is_some();
    if skip_dense {
        println!("  (BENCH_SKIP_DENSE: dense/hybrid latency skipped)");
    } else if index.check_query_model(&model).is_ok() {
        // What `serve` does before searching: decode every segment's vectors, then build the
        // inverted lists of the large ones (its warm-up thread).
        let searcher = index.reader().searcher();
        let t = Instant::now();
        let n = academichub::search::dense::warm(&index, &searcher).expect("decode vectors");
        let decoded = t.elapsed().as_secs_f64();
        let t = Instant::now();
        let built = academichub::search::dense::build_lists(&index, &searcher).expect("lists");
        println!(
            "  {n} vectors decoded in {decoded:.1} s; inverted lists for {built} segments built in {:.1} s",
            t.elapsed().as_secs_f64()
        );
        // `BENCH_SEQUENTIAL=1`: embed first, then search (hybrid's BM25 leg waits for it).
        let sequential = std::env::var("BENCH_SEQUENTIAL").is_ok_and(|v| v == "1");
        let (mut dense_ms, mut hybrid_ms, mut embed_ms) = (Vec::new(), Vec::new(), Vec::new());
        for round in 0..rounds {
            for q in QUERIES.iter() {
                for (mode, out) in [(Mode::Dense, &mut dense_ms), (Mode::Hybrid, &mut hybrid_ms)] {
                    // A new text to embed every round (no cache can answer), the query itself
                    // to search: a round number in the searched text would add a term most
                    // abstracts hold to the BM25 leg.
                    // As `serve` searches: the query embedded while a hybrid search ranks
                    // its BM25 leg (`search_embedding`).
                    let text = format!("{q} {round} {mode}");
                    let mut req = SearchRequest::new(*q);
                    req.k = 10;
                    req.snippets = true;
                    req.mode = mode;
                    let mut e = 0.0;
                    let t = Instant::now();
                    let mut embed = || {
                        let t = Instant::now();
                        let v = embedder.embed_query(&text).expect("embed query");
                        e = t.elapsed().as_secs_f64() * 1e3;
                        Some(QueryVector::Ready(v))
                    };
                    if sequential {
                        req.query_vector = embed();
                    }
                    std::hint::black_box(
                        engine
                            .search_embedding(&req, embed)
                            .map(|r| r.hits.len())
                            .unwrap_or(0),
                    );
                    out.push(t.elapsed().as_secs_f64() * 1e3);
                    embed_ms.push(e);
                }
            }
        }
        let (d50, d99) = percentiles(dense_ms);
        let (h50, h99) = percentiles(hybrid_ms);
        let (e50, e99) = percentiles(embed_ms);
        println!(
            "  dense  (query embedding + dense scan of all vectors + snippets) p50 {d50:.3} ms p99 {d99:.3} ms\n  hybrid (query embedding beside bm25, dense + convex fusion + snippets) p50 {h50:.3} ms p99 {h99:.3} ms\n  of which query embedding ({}) p50 {e50:.3} ms p99 {e99:.3} ms",
            model.name
        );
    } else {
        println!(
            "  (index vectors are not from {}: dense/hybrid latency skipped)",
            model.name
        );
    }
    if !skip_dense {
        dense_scan(&index, &mut *embedder, rounds);
    }
    let mut g = c.benchmark_group("bm25_query_set");
    type Path<'a> = (&'a str, &'a dyn Fn(&str) -> usize);
    let paths: [Path; 3] = [
        ("academichub_search_k10_snippets", &|q| {
            ours(&engine, q, true)
        }),
        ("academichub_search_k10_no_snippets", &|q| {
            ours(&engine, q, false)
        }),
        ("raw_tantivy_k10", &|q| raw(&index, &parser, q)),
    ];
    for (name, run) in paths {
        g.bench_function(name, |b| {
            b.iter(|| QUERIES.iter().map(|q| run(q)).sum::<usize>())
        });
    }
    g.finish();
}

/// The dense leg alone (no query embedding, no snippets), top 100, three ways in the same run:
/// through the inverted lists of segments that have them (the default scan; lists built
/// before the dense/hybrid figures), the binary first pass (segments of 20,000+ vectors) and
/// int8 scan that segments without lists get, and a scan of every vector's int16 row (the
/// timed baseline). Queries: the query set, and for recall also the titles of
/// `BENCH_RECALL_TITLES` papers (default 100) spread over the index, embedded as questions.
/// Recall@10: the exact top 10 by the stored f32 vectors (read from the index) found in a
/// scan's top 10; agreement: the same for the top 100.
fn dense_scan(index: &PaperIndex, embedder: &mut dyn Embedder, rounds: usize) {
    use academichub::search::dense::{self, DenseCollector};
    if index.check_query_model(embedder.id()).is_err() {
        return;
    }
    let searcher = index.reader().searcher();
    let mut vectors: Vec<Vec<f32>> = QUERIES
        .iter()
        .map(|q| embedder.embed_query(q).expect("embed query"))
        .collect();
    let titles: usize = std::env::var("BENCH_RECALL_TITLES")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(100);
    let total = searcher.num_docs().max(1);
    let mut seen = 0u64;
    let mut wanted = (0..titles)
        .map(|i| i as u64 * total / titles.max(1) as u64)
        .peekable();
    'segments: for (ord, seg) in searcher.segment_readers().iter().enumerate() {
        for doc in seg.doc_ids_alive() {
            while wanted.peek() == Some(&seen) {
                wanted.next();
                let d: TantivyDocument = searcher
                    .doc(tantivy::DocAddress::new(ord as u32, doc))
                    .expect("stored paper");
                let title = d
                    .get_first(index.fields().title)
                    .and_then(|v| tantivy::schema::Value::as_str(&v).map(str::to_string))
                    .unwrap_or_default();
                vectors.push(embedder.embed_query(&title).expect("embed title"));
            }
            seen += 1;
            if wanted.peek().is_none() {
                break 'segments;
            }
        }
    }
    // The timed baseline: every vector's int16 row (what the scan rescores with) scored.
    let exact = |v: &[f32]| -> Vec<(f32, tantivy::DocAddress)> {
        let mut all = Vec::new();
        let mut buf = Vec::new();
        for (ord, seg) in searcher.segment_readers().iter().enumerate() {
            let sv = index.vectors().segment(seg).expect("segment vectors");
            for doc in 0..seg.max_doc() {
                if seg.alive_bitset().is_some_and(|a| !a.is_alive(doc)) {
                    continue;
                }
                if let Some(s) = sv.dot(doc, v, &mut buf) {
                    all.push((s, tantivy::DocAddress::new(ord as u32, doc)));
                }
            }
        }
        top_100(all)
    };
    // The reference: the exact top 100 by the stored f32 vectors, read from the index.
    let references = exact_f32(&searcher, &vectors);
    let lists_segments = searcher
        .segment_readers()
        .iter()
        .filter(|s| {
            index
                .vectors()
                .segment(s)
                .is_ok_and(|v| v.lists().is_some())
        })
        .count();
    struct Way {
        name: String,
        use_lists: bool,
        fraction: usize,
        ms: Vec<f64>,
        agree: (usize, usize),
        agree10: (usize, usize),
    }
    let way = |name: String, use_lists: bool, fraction: usize| Way {
        name,
        use_lists,
        fraction,
        ms: Vec::new(),
        agree: (0, 0),
        agree10: (0, 0),
    };
    let default = dense::PROBE_FRACTION;
    let mut ways = vec![way(
        format!("inverted lists, 1/{default} (default)"),
        true,
        default,
    )];
    for f in [2, 3, 4, 8].into_iter().filter(|&f| f != default) {
        ways.push(way(format!("inverted lists, 1/{f}"), true, f));
    }
    ways.push(way("binary pass + int8 scan".into(), false, default));
    // Segments without lists keep their rows in document order, which the segments with lists
    // no longer hold: the binary pass gets vectors decoded apart, without lists.
    let without_lists = std::sync::Arc::new(academichub::index::VectorCache::default());
    let mut exact_ms = Vec::new();
    let (mut int16_agree, mut int16_agree10) = ((0usize, 0usize), (0usize, 0usize));
    for round in 0..rounds {
        // Every round times the query set; the titles (recall only) run once.
        let n = if round == 0 {
            vectors.len()
        } else {
            QUERIES.len()
        };
        for (i, v) in vectors[..n].iter().enumerate() {
            let t = Instant::now();
            let scanned = exact(v);
            exact_ms.push(t.elapsed().as_secs_f64() * 1e3);
            let reference = &references[i];
            if round == 0 {
                // How far rescoring with the int16 rows moves the exact top 10 and 100.
                let ours: std::collections::HashSet<_> = scanned.iter().map(|(_, a)| *a).collect();
                let ours10: std::collections::HashSet<_> =
                    scanned.iter().take(10).map(|(_, a)| *a).collect();
                int16_agree.0 += reference.iter().filter(|(_, a)| ours.contains(a)).count();
                int16_agree.1 += reference.len();
                int16_agree10.0 += reference
                    .iter()
                    .take(10)
                    .filter(|(_, a)| ours10.contains(a))
                    .count();
                int16_agree10.1 += reference.len().min(10);
            }
            for way in ways.iter_mut() {
                let cache = if way.use_lists {
                    index.vectors().clone()
                } else {
                    without_lists.clone()
                };
                let mut collector = DenseCollector::new(v.clone(), 100, cache);
                collector.use_lists = way.use_lists;
                collector.probe_fraction = way.fraction;
                let t = Instant::now();
                let (leg, _) = dense::run(&searcher, &tantivy::query::AllQuery, &collector)
                    .expect("dense leg");
                way.ms.push(t.elapsed().as_secs_f64() * 1e3);
                if round > 0 {
                    continue;
                }
                let ours: std::collections::HashSet<_> = leg.iter().map(|(_, a)| *a).collect();
                way.agree.0 += reference.iter().filter(|(_, a)| ours.contains(a)).count();
                way.agree.1 += reference.len();
                let ours10: std::collections::HashSet<_> =
                    leg.iter().take(10).map(|(_, a)| *a).collect();
                way.agree10.0 += reference
                    .iter()
                    .take(10)
                    .filter(|(_, a)| ours10.contains(a))
                    .count();
                way.agree10.1 += reference.len().min(10);
            }
        }
    }
    let mean = |v: &[f64]| v.iter().sum::<f64>() / v.len().max(1) as f64;
    let (e50, e99) = percentiles(exact_ms.clone());
    println!(
        "dense leg alone, top 100 over {} vectors ({} of {} segments with inverted lists; recall over {} queries and titles):",
        academichub::index::stats::count_vectors(&searcher).unwrap_or(0),
        lists_segments,
        searcher.segment_readers().len(),
        vectors.len(),
    );
    for way in &ways {
        let (p50, p99) = percentiles(way.ms.clone());
        println!(
            "  {:<34} p50 {p50:.3} ms p99 {p99:.3} ms mean {:.3} ms ({:.2}x faster than exact); recall@10 {:.4}, top-100 agreement {:.4}",
            way.name,
            mean(&way.ms),
            mean(&exact_ms) / mean(&way.ms),
            way.agree10.0 as f64 / way.agree10.1.max(1) as f64,
            way.agree.0 as f64 / way.agree.1.max(1) as f64,
        );
    }
    println!(
        "  {:<34} p50 {e50:.3} ms p99 {e99:.3} ms mean {:.3} ms; recall@10 {:.4}, top-100 agreement {:.4}",
        "exact scan of the int16 rows",
        mean(&exact_ms),
        int16_agree10.0 as f64 / int16_agree10.1.max(1) as f64,
        int16_agree.0 as f64 / int16_agree.1.max(1) as f64,
    );
}

/// The best 100 of `all`, best first (ties by address).
fn top_100(mut all: Vec<(f32, tantivy::DocAddress)>) -> Vec<(f32, tantivy::DocAddress)> {
    let k = 100.min(all.len());
    if k > 0 {
        all.select_nth_unstable_by(k - 1, |a, b| b.0.total_cmp(&a.0));
        all.truncate(k);
    }
    all.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
    all
}

/// The exact top 100 of each of `queries` by the f32 vectors stored in the `embedding` fast
/// field (one pass over each segment's dictionary of vectors; deleted documents left out).
fn exact_f32(
    searcher: &tantivy::Searcher,
    queries: &[Vec<f32>],
) -> Vec<Vec<(f32, tantivy::DocAddress)>> {
    let mut best: Vec<Vec<(f32, tantivy::DocAddress)>> = vec![Vec::new(); queries.len()];
    for (ord, seg) in searcher.segment_readers().iter().enumerate() {
        let Ok(Some(col)) = seg.fast_fields().bytes("embedding") else {
            continue;
        };
        let alive = |doc: u32| seg.alive_bitset().is_none_or(|a| a.is_alive(doc));
        academichub::index::vectors::for_each_stored(&col, seg.max_doc(), |docs, v| {
            for (q, out) in queries.iter().zip(best.iter_mut()) {
                let s = academichub::embed::dot(&v, q);
                for &doc in docs.iter().filter(|&&d| alive(d)) {
                    out.push((s, tantivy::DocAddress::new(ord as u32, doc)));
                }
                if out.len() >= 4096 {
                    *out = top_100(std::mem::take(out));
                }
            }
        })
        .expect("vectors");
    }
    best.into_iter().map(top_100).collect()
}

criterion_group!(benches, bench);

fn main() {
    benches();
    Criterion::default().configure_from_args().final_summary();
}
