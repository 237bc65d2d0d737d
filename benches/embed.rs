//! Embedding throughput, for both models in one run, on the same texts:
//!
//! - `academichub`: our `FastEmbedder::embed_passages` with the installed graph (prefixing,
//!   one text per run, normalization, dimension checks);
//! - `background`: the same graph on one thread, as `serve` embeds in the background;
//! - `bare ort`: a bare ONNX Runtime loop over the same graph (tokenizers + one session run
//!   per text + mean pooling, no fastembed), the floor our wrapper is measured against;
//! - `previous graph`: the graph this one replaced (me5-small q4 MatMulNBits, MiniLM fp32),
//!   when `scripts/fetch-models --baseline` installed it under `<cache>/baseline/`.
//!
//! Reported as docs/s and tokens/s (tokens after truncation, special tokens included), and
//! each row's ratio to the previous graph; then query-embedding latency (criterion, p50 in the
//! criterion estimate) with and without the LRU cache.
//!
//! Needs the models of `scripts/fetch-models`; prints a skip line otherwise. `BENCH_MODELS`
//! (default `me5-small,minilm-l6`), `BENCH_TEXTS` (default 64) texts from
//! `tests/fixtures/scifact-mini/corpus.jsonl`, `BENCH_PASSES` (default 3): rounds, each running every loop once in turn.

use std::path::Path;
use std::time::Instant;

use academichub::embed::{
    default_cache_root, passage_text, Embedder, FastEmbedder, ModelSpec, Threads,
};
use criterion::{criterion_group, Criterion};

fn texts(n: usize) -> Vec<String> {
    let path =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/scifact-mini/corpus.jsonl");
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .map(|v| {
            passage_text(
                v["title"].as_str().unwrap_or(""),
                v["text"].as_str().unwrap_or(""),
            )
        })
        .take(n)
        .collect()
}

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(default)
}

/// A bare ONNX Runtime loop: tokenizers, one session run per text, mean pooling, L2 norm.
struct BareOrt {
    session: ort::session::Session,
    tokenizer: tokenizers::Tokenizer,
    token_types: bool,
}

impl BareOrt {
    fn load(root: &Path, dir: &Path, max_length: usize) -> Option<BareOrt> {
        let env = academichub::embed::ort_environment(root).ok()?;
        let mut builder = ort::session::Session::builder(&env)
            .ok()?
            .with_intra_threads(std::thread::available_parallelism().map_or(1, |n| n.get()))
            .ok()?;
        // The same session options as the engine's sessions (the graph is what is compared).
        for (k, v) in academichub::embed::SESSION_CONFIG {
            builder = builder.with_config_entry(*k, *v).ok()?;
        }
        let session = builder.commit_from_file(dir.join("model.onnx")).ok()?;
        // As fastembed configures it: truncation at the model's length (a tokenizer.json may
        // carry its own, shorter one), no padding (one text per run).
        let mut tokenizer = tokenizers::Tokenizer::from_file(dir.join("tokenizer.json")).ok()?;
        tokenizer
            .with_truncation(Some(tokenizers::TruncationParams {
                max_length,
                ..Default::default()
            }))
            .ok()?;
        tokenizer.with_padding(None);
        let token_types = session
            .inputs()
            .iter()
            .any(|i| i.name() == "token_type_ids");
        Some(BareOrt {
            session,
            tokenizer,
            token_types,
        })
    }

    fn tokens(&self, text: &str) -> Vec<i64> {
        let enc = self.tokenizer.encode(text, true).expect("tokenize");
        enc.get_ids().iter().map(|&x| i64::from(x)).collect()
    }

    fn embed(&mut self, text: &str) -> Vec<f32> {
        let ids = self.tokens(text);
        let n = ids.len();
        let shape = [1usize, n];
        let input = ort::value::Tensor::from_array((shape, ids)).expect("tensor");
        let mask = ort::value::Tensor::from_array((shape, vec![1i64; n])).expect("tensor");
        let mut inputs = ort::inputs!["input_ids" => input, "attention_mask" => mask];
        if self.token_types {
            let types = ort::value::Tensor::from_array((shape, vec![0i64; n])).expect("tensor");
            inputs.push(("token_type_ids".into(), types.into()));
        }
        let out = self.session.run(inputs).expect("run");
        let (_, h) = out[0].try_extract_tensor::<f32>().expect("output");
        let dims = h.len() / n;
        let mut v = vec![0f32; dims];
        for row in h.chunks(dims) {
            for (a, x) in v.iter_mut().zip(row) {
                *a += x;
            }
        }
        academichub::embed::normalize(&mut v);
        v
    }
}

fn throughput(
    spec: &ModelSpec,
    root: &Path,
    docs: &[String],
    passes: usize,
) -> Option<FastEmbedder> {
    let name = &spec.name;
    let Ok(mut ours) = FastEmbedder::load(spec, root) else {
        println!(
            "SKIPPED embed bench for {name}: not fetched (scripts/fetch-models --model {name})"
        );
        return None;
    };
    let dir = root.join("models").join(&spec.dir);
    let Some(mut bare) = BareOrt::load(root, &dir, spec.max_length) else {
        println!("SKIPPED embed bench for {name}: model files unreadable");
        return None;
    };
    let prefixed: Vec<String> = docs
        .iter()
        .map(|t| format!("{}{t}", spec.passage_prefix))
        .collect();
    let tokens: usize = prefixed.iter().map(|t| bare.tokens(t).len()).sum();
    let per_doc = tokens as f64 / docs.len() as f64;
    // Same vectors from both loops (the bare loop is a fair floor only if it computes the same).
    let a = ours.embed_passages(&docs[..1]).expect("embed");
    let b = bare.embed(&prefixed[0]);
    let cos = academichub::embed::dot(&a[0], &b);
    // Every loop runs once per round, in turn, so drift of a shared machine hits them alike;
    // each row is its total rate and its ratio the median of the per-round ratios.
    type Loop<'a> = Box<dyn FnMut() + 'a>;
    let baseline_dir = root.join("baseline").join("models").join(&spec.dir);
    let mut previous = load_baseline(spec, root);
    let has_base = previous.is_some();
    let mut background = FastEmbedder::load_with(spec, root, Threads::Background).ok();
    let mut loops: Vec<(String, Loop)> = Vec::new();
    if let Some(p) = previous.as_mut() {
        loops.push((
            "previous graph".into(),
            Box::new(|| {
                std::hint::black_box(p.embed_passages(docs).expect("embed"));
            }),
        ));
    }
    loops.push((
        "academichub".into(),
        Box::new(|| {
            std::hint::black_box(ours.embed_passages(docs).expect("embed"));
        }),
    ));
    let prefixed = &prefixed;
    loops.push((
        "bare ort".into(),
        Box::new(move || {
            for t in prefixed {
                std::hint::black_box(bare.embed(t));
            }
        }),
    ));
    if let Some(bg) = background.as_mut() {
        loops.push((
            "background (1 thread)".into(),
            Box::new(|| {
                std::hint::black_box(bg.embed_passages(docs).expect("embed"));
            }),
        ));
    }
    let mut secs = vec![Vec::with_capacity(passes); loops.len()];
    for _ in 0..passes {
        for (i, (_, run)) in loops.iter_mut().enumerate() {
            let t = Instant::now();
            run();
            secs[i].push(t.elapsed().as_secs_f64());
        }
    }
    let labels: Vec<String> = loops.into_iter().map(|(l, _)| l).collect();
    let rows: Vec<(String, f64, Option<f64>)> = labels
        .into_iter()
        .enumerate()
        .map(|(i, label)| {
            let total: f64 = secs[i].iter().sum();
            let ratio = has_base.then(|| {
                let mut r: Vec<f64> = secs[0].iter().zip(&secs[i]).map(|(b, x)| b / x).collect();
                r.sort_by(f64::total_cmp);
                r[r.len() / 2]
            });
            (label, (docs.len() * passes) as f64 / total, ratio)
        })
        .collect();
    println!(
        "embedding {name} ({}), {} texts x {passes} rounds, {per_doc:.0} tokens/text; academichub vs bare ort cosine {cos:.6}",
        ours.id().hash,
        docs.len()
    );
    for (label, docs_s, ratio) in &rows {
        println!(
            "  {label:<22} {docs_s:>7.1} docs/s {:>8.0} tokens/s{}",
            docs_s * per_doc,
            ratio
                .map(|r| format!("  {r:.2}x previous graph (median of rounds)"))
                .unwrap_or_default()
        );
    }
    if !has_base {
        println!(
            "  (no previous graph: scripts/fetch-models --baseline installs it under {})",
            baseline_dir.display()
        );
    }
    Some(ours)
}

/// The graph the installed one replaced: `scripts/fetch-models --baseline` lays it out as a
/// second cache root under `<cache>/baseline/`.
fn load_baseline(spec: &ModelSpec, root: &Path) -> Option<FastEmbedder> {
    let base = root.join("baseline");
    if !base
        .join("models")
        .join(&spec.dir)
        .join("model.onnx")
        .exists()
    {
        return None;
    }
    FastEmbedder::load(spec, &base).ok()
}

fn bench(c: &mut Criterion) {
    let root = default_cache_root();
    let models = std::env::var("BENCH_MODELS").unwrap_or_else(|_| "me5-small,minilm-l6".into());
    let docs = texts(env_usize("BENCH_TEXTS", 64));
    let passes = env_usize("BENCH_PASSES", 3).max(1);
    for name in models.split(',').filter(|s| !s.is_empty()) {
        let Ok(spec) = ModelSpec::named(name) else {
            println!("unknown model {name}");
            continue;
        };
        let Some(mut ours) = throughput(&spec, &root, &docs, passes) else {
            continue;
        };
        let mut g = c.benchmark_group(format!("query_embedding/{name}"));
        g.sample_size(30);
        let mut i = 0u64;
        g.bench_function("uncached", |b| {
            b.iter(|| {
                i += 1;
                ours.embed_query(&format!("how do speech tokens affect LLM reasoning {i}"))
                    .expect("embed")
            })
        });
        g.bench_function("cached", |b| {
            b.iter(|| {
                ours.embed_query("how do speech tokens affect LLM reasoning")
                    .expect("embed")
            })
        });
        g.finish();
    }
}

criterion_group!(benches, bench);

fn main() {
    benches();
    Criterion::default().configure_from_args().final_summary();
}
