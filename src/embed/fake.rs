//! A deterministic stand-in embedder for tests: hashed character trigrams, no model files.

use super::{normalize, EmbedError, Embedder, ModelId};

/// Hashed character-trigram embedder: texts sharing trigrams get close vectors.
pub struct HashEmbedder {
    id: ModelId,
    /// When set, every call fails with this message (to test fallbacks).
    pub fail_with: Option<String>,
}

impl HashEmbedder {
    /// A fake model of `dims` dimensions.
    pub fn new(dims: usize) -> Self {
        HashEmbedder {
            id: ModelId {
                name: "hash-trigram".into(),
                hash: "v1".into(),
                dims,
            },
            fail_with: None,
        }
    }

    fn vector(&self, text: &str) -> Vec<f32> {
        let mut v = vec![0f32; self.id.dims];
        let chars: Vec<char> = text.to_lowercase().chars().collect();
        for w in chars.windows(3) {
            let mut h: u64 = 0xcbf2_9ce4_8422_2325;
            for c in w {
                h ^= u64::from(*c);
                h = h.wrapping_mul(0x0100_0000_01b3);
            }
            let idx = (h % self.id.dims as u64) as usize;
            v[idx] += if h >> 63 == 0 { 1.0 } else { -1.0 };
        }
        normalize(&mut v);
        v
    }
}

impl Embedder for HashEmbedder {
    fn id(&self) -> &ModelId {
        &self.id
    }

    fn embed_passages(&mut self, texts: &[String]) -> Result<Vec<Vec<f32>>, EmbedError> {
        if let Some(msg) = &self.fail_with {
            return Err(EmbedError::Embed(msg.clone()));
        }
        Ok(texts.iter().map(|t| self.vector(t)).collect())
    }

    fn embed_query(&mut self, text: &str) -> Result<Vec<f32>, EmbedError> {
        if let Some(msg) = &self.fail_with {
            return Err(EmbedError::Embed(msg.clone()));
        }
        Ok(self.vector(text))
    }
}
