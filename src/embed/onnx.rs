//! Our own text encoder over an ONNX Runtime session: the tokenizer, padded batches, the
//! session run and mean (or CLS) pooling, as fastembed's `TextEmbedding` does them, but with
//! the tokenizer shared by every session of a model in the process.
//!
//! Why not fastembed's `TextEmbedding` here: each one owns its tokenizer, and
//! multilingual-e5-small's (a 250,002-piece Unigram trie) takes about 280 MB. `serve` holds a
//! query session and one background session per core, so three copies took 850 MB of the
//! 1.36 GB the server used at 118K papers (measured with the `memprobe` loop in the commit
//! that introduced this file). The tokenizer is loaded the way fastembed's `load_tokenizer`
//! loads it (padding to the longest text, truncation at the model's maximum length, the
//! special tokens of `special_tokens_map.json`), and the session is built with the options
//! fastembed gives it (graph optimization level 3, the thread budget, the same config
//! entries), so vectors agree with fastembed's pipeline on the same graph
//! (`tests/it/dense.rs` checks it).

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, Weak};

use ort::session::builder::GraphOptimizationLevel;
use ort::session::Session;
use ort::value::Tensor;
use tokenizers::{AddedToken, PaddingParams, PaddingStrategy, Tokenizer, TruncationParams};

use super::{EmbedError, PoolingKind};

/// A model's tokenizer, loaded once per (model directory, maximum length) and shared.
pub fn shared_tokenizer(dir: &Path, max_length: usize) -> Result<Arc<Tokenizer>, EmbedError> {
    type Cache = Mutex<HashMap<(PathBuf, usize), Weak<Tokenizer>>>;
    static CACHE: std::sync::OnceLock<Cache> = std::sync::OnceLock::new();
    let cache = CACHE.get_or_init(Default::default);
    let key = (dir.to_path_buf(), max_length);
    // Loading takes a second: hold the lock so two sessions loading at once share one copy.
    let mut map = cache
        .lock()
        .map_err(|_| EmbedError::Embed("tokenizer cache poisoned".into()))?;
    if let Some(t) = map.get(&key).and_then(Weak::upgrade) {
        return Ok(t);
    }
    let t = Arc::new(load_tokenizer(dir, max_length)?);
    map.retain(|_, w| w.strong_count() > 0);
    map.insert(key, Arc::downgrade(&t));
    Ok(t)
}

fn read_json(dir: &Path, file: &str) -> Result<serde_json::Value, EmbedError> {
    let path = dir.join(file);
    let bytes = std::fs::read(&path).map_err(|_| EmbedError::MissingFiles {
        what: file.to_string(),
        path: path.clone(),
        model_flag: String::new(),
    })?;
    serde_json::from_slice(&bytes).map_err(|e| EmbedError::Load {
        name: dir.display().to_string(),
        reason: format!("{file}: {e}"),
    })
}

/// The tokenizer of the model in `dir`, set up as fastembed's `load_tokenizer` sets it up.
fn load_tokenizer(dir: &Path, max_length: usize) -> Result<Tokenizer, EmbedError> {
    let bad = |reason: String| EmbedError::Load {
        name: dir.display().to_string(),
        reason,
    };
    let config = read_json(dir, "config.json")?;
    let special = read_json(dir, "special_tokens_map.json")?;
    let tok_config = read_json(dir, "tokenizer_config.json")?;
    let path = dir.join("tokenizer.json");
    if !path.exists() {
        return Err(EmbedError::MissingFiles {
            what: "tokenizer.json".into(),
            path,
            model_flag: String::new(),
        });
    }
    let mut tokenizer =
        Tokenizer::from_file(&path).map_err(|e| bad(format!("tokenizer.json: {e}")))?;
    let model_max = tok_config["model_max_length"]
        .as_f64()
        .ok_or_else(|| bad("tokenizer_config.json has no numeric model_max_length".into()))?
        as f32;
    let max_length = max_length.min(model_max as usize);
    let pad = &tok_config["pad_token"];
    let pad_token: String = pad
        .as_str()
        .or_else(|| pad["content"].as_str())
        .ok_or_else(|| bad("tokenizer_config.json has no pad_token".into()))?
        .into();
    let pad_id = config["pad_token_id"]
        .as_u64()
        .map(|id| id as u32)
        .or_else(|| tokenizer.token_to_id(&pad_token))
        .unwrap_or(0);
    tokenizer
        .with_padding(Some(PaddingParams {
            strategy: PaddingStrategy::BatchLongest,
            pad_token,
            pad_id,
            ..Default::default()
        }))
        .with_truncation(Some(TruncationParams {
            max_length,
            ..Default::default()
        }))
        .map_err(|e| bad(e.to_string()))?;
    if let serde_json::Value::Object(map) = special {
        for value in map.values() {
            let token = if let Some(content) = value.as_str() {
                Some(AddedToken {
                    content: content.into(),
                    special: true,
                    ..Default::default()
                })
            } else if let (
                Some(content),
                Some(single_word),
                Some(lstrip),
                Some(rstrip),
                Some(normalized),
            ) = (
                value["content"].as_str(),
                value["single_word"].as_bool(),
                value["lstrip"].as_bool(),
                value["rstrip"].as_bool(),
                value["normalized"].as_bool(),
            ) {
                Some(AddedToken {
                    content: content.into(),
                    special: true,
                    single_word,
                    lstrip,
                    rstrip,
                    normalized,
                })
            } else {
                None
            };
            if let Some(t) = token {
                tokenizer
                    .add_special_tokens([t])
                    .map_err(|e| bad(e.to_string()))?;
            }
        }
    }
    Ok(tokenizer)
}

/// Session config entries every encoder session gets.
///
/// ONNX Runtime fuses each residual `Add` + `LayerNormalization` into its contrib
/// `SkipLayerNormalization` at session creation; on the int8 graphs that fused CPU kernel took
/// 15% of me5-small's run time, against under 5% for the unfused Add and LayerNormalization
/// of the 4-bit graph (ORT 1.32 profiler, one thread: `scripts/bench/ort_fusion.py`). Without
/// the fusion, me5-small's int8 passages embed 1.18x as fast, vectors at cosine >= 0.9998 to
/// the fused ones; MiniLM (whose graph now keeps the ops unfused) went from 1.97x to 2.24x its
/// fp32 graph (BENCHMARKS.md, "Embedding throughput"). `scripts/models/*.py` create their
/// sessions the same way.
pub const SESSION_CONFIG: &[(&str, &str)] = &[(
    "optimization.disable_specified_optimizers",
    "SkipLayerNormFusion",
)];

/// One ONNX Runtime session of a text encoder and the shared tokenizer it reads.
pub struct Encoder {
    session: Session,
    tokenizer: Arc<Tokenizer>,
    token_types: bool,
    /// The output read: `last_hidden_state` when the graph has it, else its first output.
    output: String,
    pooling: PoolingKind,
}

impl Encoder {
    /// A session over the graph `onnx` with `threads` intra-op threads (`None`: one per core),
    /// [`SESSION_CONFIG`] and extra session config entries, built in `environment`.
    pub fn new(
        environment: &ort::environment::Environment,
        onnx: &[u8],
        tokenizer: Arc<Tokenizer>,
        pooling: PoolingKind,
        threads: Option<usize>,
        config: &[(&str, &str)],
    ) -> Result<Encoder, EmbedError> {
        let load = |e: String| EmbedError::Load {
            name: "onnx session".into(),
            reason: e,
        };
        let threads = match threads {
            Some(n) => n,
            None => std::thread::available_parallelism().map_or(1, |n| n.get()),
        };
        let mut builder = Session::builder(environment)
            .map_err(|e| load(e.to_string()))?
            .with_optimization_level(GraphOptimizationLevel::Level3)
            .map_err(|e| load(e.to_string()))?
            .with_intra_threads(threads)
            .map_err(|e| load(e.to_string()))?;
        for (k, v) in SESSION_CONFIG.iter().chain(config) {
            builder = builder
                .with_config_entry(*k, *v)
                .map_err(|e| load(e.to_string()))?;
        }
        let session = builder
            .commit_from_memory(onnx)
            .map_err(|e| load(e.to_string()))?;
        let token_types = session
            .inputs()
            .iter()
            .any(|i| i.name() == "token_type_ids");
        let names: Vec<String> = session
            .outputs()
            .iter()
            .map(|o| o.name().to_string())
            .collect();
        let output = names
            .iter()
            .find(|n| *n == "last_hidden_state")
            .or_else(|| names.first())
            .cloned()
            .ok_or_else(|| load("the graph has no output".into()))?;
        Ok(Encoder {
            session,
            tokenizer,
            token_types,
            output,
            pooling,
        })
    }

    /// Pooled (not normalized) vectors of `texts`, `batch` texts per session run (a batch is
    /// padded to its longest text).
    pub fn embed(&mut self, texts: &[String], batch: usize) -> Result<Vec<Vec<f32>>, EmbedError> {
        let fail = |e: String| EmbedError::Embed(e);
        let mut out = Vec::with_capacity(texts.len());
        for chunk in texts.chunks(batch.max(1)) {
            let inputs: Vec<&str> = chunk.iter().map(String::as_str).collect();
            let encodings = self
                .tokenizer
                .encode_batch(inputs, true)
                .map_err(|e| fail(format!("tokenizing: {e}")))?;
            let rows = encodings.len();
            let cols = encodings.first().map_or(0, |e| e.len());
            if rows == 0 || cols == 0 {
                return Err(fail("the tokenizer gave an empty batch".into()));
            }
            let mut ids = Vec::with_capacity(rows * cols);
            let mut mask = Vec::with_capacity(rows * cols);
            let mut types = Vec::with_capacity(rows * cols);
            for e in &encodings {
                ids.extend(e.get_ids().iter().map(|&x| i64::from(x)));
                mask.extend(e.get_attention_mask().iter().map(|&x| i64::from(x)));
                types.extend(e.get_type_ids().iter().map(|&x| i64::from(x)));
            }
            let tensor = |v: Vec<i64>| Tensor::from_array(([rows, cols], v));
            let mut feed = ort::inputs![
                "input_ids" => tensor(ids).map_err(|e| fail(e.to_string()))?,
                "attention_mask" => tensor(mask.clone()).map_err(|e| fail(e.to_string()))?,
            ];
            if self.token_types {
                feed.push((
                    "token_type_ids".into(),
                    tensor(types).map_err(|e| fail(e.to_string()))?.into(),
                ));
            }
            let outputs = self.session.run(feed).map_err(|e| fail(e.to_string()))?;
            let (shape, data) = outputs[self.output.as_str()]
                .try_extract_tensor::<f32>()
                .map_err(|e| fail(e.to_string()))?;
            out.extend(pool(shape, data, &mask, rows, cols, self.pooling)?);
        }
        Ok(out)
    }
}

/// Mean over the unmasked tokens (or the first token for CLS) of a `[rows, cols, dims]`
/// output; a `[rows, dims]` output is already pooled.
fn pool(
    shape: &[i64],
    data: &[f32],
    mask: &[i64],
    rows: usize,
    cols: usize,
    pooling: PoolingKind,
) -> Result<Vec<Vec<f32>>, EmbedError> {
    match *shape {
        [r, d] if r as usize == rows => Ok(data.chunks(d as usize).map(<[f32]>::to_vec).collect()),
        [r, c, d] if r as usize == rows && c as usize == cols => {
            let d = d as usize;
            let mut out = Vec::with_capacity(rows);
            for row in 0..rows {
                let tokens = &data[row * cols * d..(row + 1) * cols * d];
                let v = match pooling {
                    PoolingKind::Cls => tokens[..d].to_vec(),
                    PoolingKind::Mean => {
                        let mut sum = vec![0f32; d];
                        let mut n = 0f32;
                        for t in 0..cols {
                            if mask[row * cols + t] == 0 {
                                continue;
                            }
                            n += 1.0;
                            for (s, x) in sum.iter_mut().zip(&tokens[t * d..(t + 1) * d]) {
                                *s += x;
                            }
                        }
                        let n = if n == 0.0 { 1.0 } else { n };
                        sum.iter().map(|s| s / n).collect()
                    }
                };
                out.push(v);
            }
            Ok(out)
        }
        _ => Err(EmbedError::Embed(format!(
            "unexpected output shape {shape:?} for a batch of {rows} x {cols} tokens"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mean_pooling_skips_padding_and_cls_takes_the_first_token() {
        // Two texts, three positions, two dims; the second text has one padded position.
        let data = [
            1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 10.0, 20.0, 30.0, 40.0, 99.0, 99.0,
        ];
        let mask = [1, 1, 1, 1, 1, 0];
        let mean = pool(&[2, 3, 2], &data, &mask, 2, 3, PoolingKind::Mean).unwrap();
        assert_eq!(mean, vec![vec![3.0, 4.0], vec![20.0, 30.0]]);
        let cls = pool(&[2, 3, 2], &data, &mask, 2, 3, PoolingKind::Cls).unwrap();
        assert_eq!(cls, vec![vec![1.0, 2.0], vec![10.0, 20.0]]);
        let pooled = pool(&[2, 2], &data[..4], &mask, 2, 3, PoolingKind::Mean).unwrap();
        assert_eq!(pooled, vec![vec![1.0, 2.0], vec![3.0, 4.0]]);
        assert!(pool(&[3, 3, 2], &data, &mask, 2, 3, PoolingKind::Mean).is_err());
    }
}
