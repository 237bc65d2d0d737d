//! Dense embeddings: model descriptions (`schema/models.toml`), the [`Embedder`] trait, the
//! ONNX Runtime implementation (our encoder, `onnx.rs`; fastembed for catalogue models) and a
//! deterministic fake for tests.
//!
//! Passages and queries are separate calls because models such as e5 need different prefixes.
//! Embedding is blocking, CPU-bound work: callers keep it off async runtimes.

mod fake;
mod model;
pub mod onnx;

use std::path::{Path, PathBuf};

pub use fake::HashEmbedder;
pub use model::{ort_environment, FastEmbedder, Threads, QUERY_CACHE_SIZE};
pub use onnx::SESSION_CONFIG;

use serde::{Deserialize, Serialize};

/// The model descriptions, embedded at build time.
pub const MODELS_TOML: &str = include_str!("../../schema/models.toml");
/// Default model for `--model`.
pub const DEFAULT_MODEL: &str = "me5-small";
/// Texts per `embed` call: bounds the token-level memory fastembed keeps per call.
pub const EMBED_CHUNK: usize = 64;

/// Errors of the embedding layer.
#[derive(Debug, thiserror::Error)]
pub enum EmbedError {
    #[error("unknown model {name:?} (known: {known})")]
    UnknownModel { name: String, known: String },
    #[error("{what} not found at {path}: run `scripts/fetch-models{model_flag}` (or set ACADEMICHUB_CACHE to where the models are)")]
    MissingFiles {
        what: String,
        path: PathBuf,
        model_flag: String,
    },
    #[error("cannot load ONNX Runtime from {path}: {reason}. Run `scripts/fetch-models` to install libonnxruntime 1.32 (>= 1.24 is required)")]
    Runtime { path: PathBuf, reason: String },
    #[error("cannot load model {name}: {reason} (a corrupt or truncated file? re-run `scripts/fetch-models --force`)")]
    Load { name: String, reason: String },
    #[error("embedding failed: {0}")]
    Embed(String),
    #[error("invalid models file: {0}")]
    Spec(String),
}

/// Pooling of token vectors into one text vector.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PoolingKind {
    Mean,
    Cls,
}

/// One model of `schema/models.toml`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelSpec {
    pub name: String,
    #[serde(default)]
    pub description: String,
    pub dir: String,
    pub dims: usize,
    pub pooling: PoolingKind,
    pub max_length: usize,
    #[serde(default)]
    pub query_prefix: String,
    #[serde(default)]
    pub passage_prefix: String,
    #[serde(default)]
    pub catalogue: Option<String>,
    /// Texts per ONNX Runtime batch when embedding passages. A batch is padded to its longest
    /// text and the runtime's arena grows with it; on CPU, one text at a time (the default)
    /// measured faster and lighter than 16 (BENCHMARKS.md).
    #[serde(default = "default_batch_size")]
    pub batch_size: usize,
}

fn default_batch_size() -> usize {
    1
}

#[derive(Deserialize)]
struct ModelsFile {
    model: Vec<ModelSpec>,
}

impl ModelSpec {
    /// All known models.
    pub fn all() -> Result<Vec<ModelSpec>, EmbedError> {
        let f: ModelsFile =
            toml::from_str(MODELS_TOML).map_err(|e| EmbedError::Spec(e.to_string()))?;
        Ok(f.model)
    }

    /// The model called `name`.
    pub fn named(name: &str) -> Result<ModelSpec, EmbedError> {
        let all = Self::all()?;
        let known = all
            .iter()
            .map(|m| m.name.clone())
            .collect::<Vec<_>>()
            .join(", ");
        all.into_iter()
            .find(|m| m.name == name)
            .ok_or(EmbedError::UnknownModel {
                name: name.to_string(),
                known,
            })
    }
}

/// Identity of the model that built an index's vectors.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ModelId {
    pub name: String,
    /// sha256 of the model file (or a fixed tag for the fake embedder).
    pub hash: String,
    pub dims: usize,
}

/// Something that turns text into unit-length vectors.
pub trait Embedder: Send {
    /// Which model this is.
    fn id(&self) -> &ModelId;
    /// Embeds passages (title + abstract), prefix applied. One vector per text, L2-normalized.
    fn embed_passages(&mut self, texts: &[String]) -> Result<Vec<Vec<f32>>, EmbedError>;
    /// Embeds one query, prefix applied. L2-normalized.
    fn embed_query(&mut self, text: &str) -> Result<Vec<f32>, EmbedError>;
}

/// The text a paper is embedded from.
pub fn passage_text(title: &str, abstract_text: &str) -> String {
    match (title.is_empty(), abstract_text.is_empty()) {
        (false, false) => format!("{title}. {abstract_text}"),
        (false, true) => title.to_string(),
        _ => abstract_text.to_string(),
    }
}

/// The model cache root: `$ACADEMICHUB_CACHE`, else `$XDG_CACHE_HOME/academichub`, else
/// `~/.cache/academichub` (the layout `scripts/fetch-models` writes).
pub fn default_cache_root() -> PathBuf {
    if let Some(p) = std::env::var_os("ACADEMICHUB_CACHE").filter(|p| !p.is_empty()) {
        return PathBuf::from(p);
    }
    if let Some(p) = std::env::var_os("XDG_CACHE_HOME").filter(|p| !p.is_empty()) {
        return PathBuf::from(p).join("academichub");
    }
    std::env::var_os("HOME")
        .map(|h| PathBuf::from(h).join(".cache"))
        .unwrap_or_else(std::env::temp_dir)
        .join("academichub")
}

/// Path of the ONNX Runtime library under a cache root.
pub fn runtime_library(cache_root: &Path) -> PathBuf {
    cache_root.join("onnxruntime").join("libonnxruntime.so")
}

/// L2-normalizes in place (zero vectors stay zero).
pub fn normalize(v: &mut [f32]) {
    let n = v.iter().map(|x| x * x).sum::<f32>().sqrt();
    if n > 0.0 {
        v.iter_mut().for_each(|x| *x /= n);
    }
}

/// Dot product (cosine for unit vectors). Fixed-size chunks and 16 independent accumulators
/// let the compiler emit bounds-check-free SIMD code; on x86-64 CPUs with AVX2 the same code
/// runs compiled for AVX2 (chosen at run time, so the binary stays portable).
#[inline]
pub fn dot(a: &[f32], b: &[f32]) -> f32 {
    #[cfg(target_arch = "x86_64")]
    if simd::has_avx2() {
        // SAFETY: the CPU supports AVX2 and FMA (checked above).
        return unsafe { simd::dot_avx2(a, b) };
    }
    dot_body(a, b)
}

#[inline(always)]
fn dot_body(a: &[f32], b: &[f32]) -> f32 {
    let n = a.len().min(b.len());
    let (a, b) = (&a[..n], &b[..n]);
    let (ca, ra) = a.as_chunks::<16>();
    let (cb, rb) = b.as_chunks::<16>();
    let mut acc = [0f32; 16];
    for (x, y) in ca.iter().zip(cb) {
        for j in 0..16 {
            acc[j] += x[j] * y[j];
        }
    }
    let tail: f32 = ra.iter().zip(rb).map(|(x, y)| x * y).sum();
    acc.iter().sum::<f32>() + tail
}

/// Dot product of two int8 vectors (see [`quantize`]), exact in `i32`.
#[inline]
pub fn dot_i8(a: &[i8], b: &[i8]) -> i32 {
    #[cfg(target_arch = "x86_64")]
    if simd::has_avx2() {
        // SAFETY: the CPU supports AVX2 and FMA (checked above).
        return unsafe { simd::dot_i8_avx2(a, b) };
    }
    dot_i8_body(a, b)
}

#[inline(always)]
fn dot_i8_body(a: &[i8], b: &[i8]) -> i32 {
    let n = a.len().min(b.len());
    let (a, b) = (&a[..n], &b[..n]);
    let (ca, ra) = a.as_chunks::<32>();
    let (cb, rb) = b.as_chunks::<32>();
    let mut acc = [0i32; 16];
    for (x, y) in ca.iter().zip(cb) {
        // Pairs of i16 products summed into i32: the shape of `pmaddwd`.
        for j in 0..16 {
            acc[j] += i32::from(x[2 * j]) * i32::from(y[2 * j])
                + i32::from(x[2 * j + 1]) * i32::from(y[2 * j + 1]);
        }
    }
    let tail: i32 = ra
        .iter()
        .zip(rb)
        .map(|(x, y)| i32::from(*x) * i32::from(*y))
        .sum();
    acc.iter().sum::<i32>() + tail
}

/// Symmetric int8 quantization of `v` into `out` (same length): `v[i] ~ out[i] * scale`.
/// Returns `scale` (0 for a zero vector).
pub fn quantize(v: &[f32], out: &mut [i8]) -> f32 {
    let max = v.iter().fold(0f32, |m, x| m.max(x.abs()));
    if max == 0.0 || !max.is_finite() {
        out.iter_mut().for_each(|q| *q = 0);
        return 0.0;
    }
    let scale = max / 127.0;
    for (q, x) in out.iter_mut().zip(v) {
        *q = (x / scale).round().clamp(-127.0, 127.0) as i8;
    }
    scale
}

/// Symmetric int16 quantization of `v` into `out` (same length): `v[i] ~ out[i] * scale`
/// ([`dequantize_i16`] gives the values back). Returns `scale` (0 for a zero vector). The
/// error of a component is at most the largest component / 65,534: a cosine from the values
/// given back moves by about 2e-6 in 384 dimensions, where an f16 copy moves it by about 1e-5.
pub fn quantize_i16(v: &[f32], out: &mut [i16]) -> f32 {
    let max = v.iter().fold(0f32, |m, x| m.max(x.abs()));
    if max == 0.0 || !max.is_finite() {
        out.iter_mut().for_each(|q| *q = 0);
        return 0.0;
    }
    let scale = max / 32767.0;
    for (q, x) in out.iter_mut().zip(v) {
        *q = (x / scale).round().clamp(-32767.0, 32767.0) as i16;
    }
    scale
}

/// The values of an int16 row of scale `scale` ([`quantize_i16`]) written to `out`.
#[inline]
pub fn dequantize_i16(row: &[i16], scale: f32, out: &mut [f32]) {
    for (o, q) in out.iter_mut().zip(row) {
        *o = f32::from(*q) * scale;
    }
}

#[cfg(target_arch = "x86_64")]
mod simd {
    use std::sync::OnceLock;

    pub fn has_avx2() -> bool {
        static HAS: OnceLock<bool> = OnceLock::new();
        *HAS.get_or_init(|| {
            std::arch::is_x86_feature_detected!("avx2")
                && std::arch::is_x86_feature_detected!("fma")
        })
    }

    #[target_feature(enable = "avx2,fma")]
    pub unsafe fn dot_avx2(a: &[f32], b: &[f32]) -> f32 {
        super::dot_body(a, b)
    }

    /// 32 int8 pairs per step: sign-extend to i16 (`vpmovsxbw`), multiply and add adjacent
    /// pairs into i32 (`vpmaddwd`); the remainder goes through the portable body.
    #[target_feature(enable = "avx2,fma")]
    pub unsafe fn dot_i8_avx2(a: &[i8], b: &[i8]) -> i32 {
        use std::arch::x86_64::*;
        let n = a.len().min(b.len());
        let (a, b) = (&a[..n], &b[..n]);
        let steps = n / 32;
        let mut acc = _mm256_setzero_si256();
        for i in 0..steps {
            // SAFETY: i * 32 + 32 <= n, so both 32-byte loads are in bounds (unaligned loads).
            let (va, vb) = unsafe {
                (
                    _mm256_loadu_si256(a.as_ptr().add(i * 32) as *const __m256i),
                    _mm256_loadu_si256(b.as_ptr().add(i * 32) as *const __m256i),
                )
            };
            let a_lo = _mm256_cvtepi8_epi16(_mm256_castsi256_si128(va));
            let a_hi = _mm256_cvtepi8_epi16(_mm256_extracti128_si256::<1>(va));
            let b_lo = _mm256_cvtepi8_epi16(_mm256_castsi256_si128(vb));
            let b_hi = _mm256_cvtepi8_epi16(_mm256_extracti128_si256::<1>(vb));
            acc = _mm256_add_epi32(acc, _mm256_madd_epi16(a_lo, b_lo));
            acc = _mm256_add_epi32(acc, _mm256_madd_epi16(a_hi, b_hi));
        }
        let mut lanes = [0i32; 8];
        // SAFETY: `lanes` is 32 bytes.
        unsafe { _mm256_storeu_si256(lanes.as_mut_ptr() as *mut __m256i, acc) };
        let done = steps * 32;
        lanes.iter().sum::<i32>() + super::dot_i8_body(&a[done..], &b[done..])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn models_file_describes_both_models() {
        let m = ModelSpec::named("minilm-l6").unwrap();
        assert_eq!(
            (m.dims, m.max_length, m.pooling),
            (384, 256, PoolingKind::Mean)
        );
        let e5 = ModelSpec::named("me5-small").unwrap();
        assert_eq!(
            (e5.query_prefix.as_str(), e5.passage_prefix.as_str()),
            ("query: ", "passage: ")
        );
        assert_eq!(e5.max_length, 512);
        let err = ModelSpec::named("nope").unwrap_err().to_string();
        assert!(
            err.contains("minilm-l6") && err.contains("me5-small"),
            "{err}"
        );
    }

    #[test]
    fn dot_matches_naive() {
        let a: Vec<f32> = (0..387).map(|i| (i as f32 * 0.37).sin()).collect();
        let b: Vec<f32> = (0..387).map(|i| (i as f32 * 0.11).cos()).collect();
        let naive: f32 = a.iter().zip(&b).map(|(x, y)| x * y).sum();
        assert!((dot(&a, &b) - naive).abs() < 1e-3);
        assert!((dot_body(&a, &b) - naive).abs() < 1e-3);
    }

    #[test]
    fn int8_dot_is_exact_and_quantization_close() {
        let a: Vec<i8> = (0..387).map(|i| (i * 37 % 255 - 127) as i8).collect();
        let b: Vec<i8> = (0..387).map(|i| (i * 91 % 255 - 127) as i8).collect();
        let naive: i32 = a.iter().zip(&b).map(|(x, y)| *x as i32 * *y as i32).sum();
        assert_eq!(dot_i8(&a, &b), naive);
        assert_eq!(dot_i8_body(&a, &b), naive);
        let mut x: Vec<f32> = (0..384).map(|i| (i as f32 * 0.37).sin()).collect();
        let mut y: Vec<f32> = (0..384).map(|i| (i as f32 * 0.11).cos()).collect();
        normalize(&mut x);
        normalize(&mut y);
        let (mut qx, mut qy) = (vec![0i8; 384], vec![0i8; 384]);
        let (sx, sy) = (quantize(&x, &mut qx), quantize(&y, &mut qy));
        let approx = dot_i8(&qx, &qy) as f32 * sx * sy;
        assert!(
            (approx - dot(&x, &y)).abs() < 5e-3,
            "{approx} vs {}",
            dot(&x, &y)
        );
        assert_eq!(quantize(&[0.0; 4], &mut [1i8; 4]), 0.0);
    }

    #[test]
    fn passage_text_joins_title_and_abstract() {
        assert_eq!(passage_text("T", "A"), "T. A");
        assert_eq!(passage_text("T", ""), "T");
        assert_eq!(passage_text("", "A"), "A");
    }
}
