//! Embedding throughput: our `FastEmbedder::embed_passages` (prefixing, chunking,
//! normalization, dimension checks) next to a bare fastembed loop over the same texts and the
//! same model files, alternating passes in the same run; plus query-embedding latency with and
//! without the LRU cache (criterion).
//!
//! Needs the models of `scripts/fetch-models`; prints a skip line otherwise.
//! `BENCH_TEXTS` (default 128) texts are taken from `tests/fixtures/scifact-mini/corpus.jsonl`.

use std::time::Instant;

use academichub::embed::{default_cache_root, passage_text, Embedder, FastEmbedder, ModelSpec};
use criterion::{criterion_group, Criterion};
use fastembed::{
    InitOptionsUserDefined, Pooling, TextEmbedding, TokenizerFiles, UserDefinedEmbeddingModel,
};

fn texts(n: usize) -> Vec<String> {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/scifact-mini/corpus.jsonl");
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

fn bare(spec: &ModelSpec) -> Option<TextEmbedding> {
    let dir = default_cache_root().join("models").join(&spec.dir);
    let read = |f: &str| std::fs::read(dir.join(f)).ok();
    let files = TokenizerFiles {
        tokenizer_file: read("tokenizer.json")?,
        config_file: read("config.json")?,
        special_tokens_map_file: read("special_tokens_map.json")?,
        tokenizer_config_file: read("tokenizer_config.json")?,
    };
    let model =
        UserDefinedEmbeddingModel::new(read("model.onnx")?, files).with_pooling(Pooling::Mean);
    TextEmbedding::try_new_from_user_defined(
        model,
        InitOptionsUserDefined::new().with_max_length(spec.max_length),
    )
    .ok()
}

fn bench(c: &mut Criterion) {
    let name = std::env::var("BENCH_MODEL").unwrap_or_else(|_| "minilm-l6".into());
    let Ok(spec) = ModelSpec::named(&name) else {
        println!("unknown model {name}");
        return;
    };
    let Ok(mut ours) = FastEmbedder::load(&spec, &default_cache_root()) else {
        println!(
            "SKIPPED embed bench: model {name} not fetched (scripts/fetch-models --model {name})"
        );
        return;
    };
    let Some(mut plain) = bare(&spec) else {
        println!("SKIPPED embed bench: model files unreadable");
        return;
    };
    let n: usize = std::env::var("BENCH_TEXTS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(128);
    let docs = texts(n);
    let prefixed: Vec<String> = docs
        .iter()
        .map(|t| format!("{}{t}", spec.passage_prefix))
        .collect();
    let (mut t_ours, mut t_bare) = (0.0, 0.0);
    let passes = 2;
    for _ in 0..passes {
        let t = Instant::now();
        let v = ours.embed_passages(&docs).expect("embed");
        t_ours += t.elapsed().as_secs_f64();
        assert_eq!(v.len(), docs.len());
        let t = Instant::now();
        for chunk in prefixed.chunks(64) {
            std::hint::black_box(plain.embed(chunk, Some(spec.batch_size)).expect("embed"));
        }
        t_bare += t.elapsed().as_secs_f64();
    }
    let total = (docs.len() * passes) as f64;
    println!(
        "embedding {name}, {} texts x {passes} passes: academichub {:.1} docs/s, bare fastembed {:.1} docs/s, ratio {:.3}",
        docs.len(),
        total / t_ours,
        total / t_bare,
        t_bare / t_ours
    );
    let mut g = c.benchmark_group("query_embedding");
    g.sample_size(20);
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

criterion_group!(benches, bench);

fn main() {
    benches();
    Criterion::default().configure_from_args().final_summary();
}
