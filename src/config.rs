//! The optional configuration file (`academichub.toml` in the working directory, or the file
//! named by `--config` / `ACADEMICHUB_CONFIG`). Flags and environment variables win over it;
//! it wins over built-in defaults. See `academichub.example.toml`.

use std::path::{Path, PathBuf};

use serde::Deserialize;

/// File looked for in the working directory when no config path is given.
pub const DEFAULT_CONFIG_FILE: &str = "academichub.toml";

/// Errors reading the configuration file.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read config file {path}: {source}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("invalid config file {path}: {reason}")]
    Parse { path: PathBuf, reason: String },
}

/// `[models]` section.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelsConfig {
    /// Where `scripts/fetch-models` put ONNX Runtime and the models.
    pub cache_dir: Option<PathBuf>,
    /// Model used when neither `--model` nor the index says which.
    pub default: Option<String>,
}

/// Which store holds the papers: the embedded tantivy index (the default) or a Milvus
/// collection (`[milvus]`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Backend {
    #[default]
    Tantivy,
    Milvus,
}

/// `[index]` section.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IndexConfig {
    #[serde(default)]
    pub backend: Backend,
}

/// The whole configuration file.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    #[serde(default)]
    pub models: ModelsConfig,
    /// `[index]`: which backend holds the papers.
    #[serde(default)]
    pub index: IndexConfig,
    /// `[milvus]`: the Milvus deployment of `backend = "milvus"`.
    #[serde(default)]
    pub milvus: crate::index::milvus::MilvusConfig,
    /// `[[sources]]`: feeds polled by `academichub ingest` (see `crate::ingest::feeds::config`).
    #[serde(default)]
    pub sources: Vec<crate::ingest::feeds::SourceConfig>,
    /// `[ingest]`: client politeness and limits for feed ingestion.
    #[serde(default)]
    pub ingest: crate::ingest::feeds::IngestConfig,
    /// `[llm]`: optional OpenAI-compatible endpoint for briefing narratives.
    #[serde(default)]
    pub llm: crate::briefing::llm::LlmConfig,
    #[serde(default)]
    pub server: crate::http::ServerConfig,
    /// `[smtp]`: the mail server of email digests (absent: no email).
    #[serde(default)]
    pub smtp: Option<crate::delivery::mail::SmtpConfig>,
    /// `[[digest]]`: digests `serve` sends every day.
    #[serde(default)]
    pub digest: Vec<crate::delivery::schedule::DigestSchedule>,
}

impl Config {
    /// Loads `path` (which must exist), or `./academichub.toml` when present, or defaults.
    pub fn load(path: Option<&Path>) -> Result<Config, ConfigError> {
        let path = match path {
            Some(p) => p.to_path_buf(),
            None => {
                let p = PathBuf::from(DEFAULT_CONFIG_FILE);
                if !p.exists() {
                    return Ok(Config::default());
                }
                p
            }
        };
        let text = std::fs::read_to_string(&path).map_err(|source| ConfigError::Read {
            path: path.clone(),
            source,
        })?;
        toml::from_str(&text).map_err(|e| ConfigError::Parse {
            path,
            reason: e.to_string(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn example_file_parses() {
        let text = include_str!("../academichub.example.toml");
        let c: Config = toml::from_str(text).expect("example config parses");
        assert_eq!(c.models.default.as_deref(), Some("me5-small"));
        assert_eq!(c.server, crate::http::ServerConfig::default());
        assert_eq!(c.index.backend, Backend::Tantivy);
        assert_eq!(c.milvus, crate::index::milvus::MilvusConfig::default());
        let m: Config =
            toml::from_str("[index]\nbackend = \"milvus\"\n[milvus]\nuri = \"http://h:1\"\n")
                .expect("milvus config parses");
        assert_eq!(
            (m.index.backend, m.milvus.uri.as_str()),
            (Backend::Milvus, "http://h:1")
        );
        assert!(toml::from_str::<Config>("[index]\nbackend = \"elastic\"\n").is_err());
    }

    #[test]
    fn unknown_keys_and_missing_files_are_errors() {
        assert!(toml::from_str::<Config>("[models]\ncache = \"x\"\n").is_err());
        let err = Config::load(Some(Path::new("/nonexistent/academichub.toml"))).unwrap_err();
        assert!(err.to_string().contains("/nonexistent/academichub.toml"));
    }
}
