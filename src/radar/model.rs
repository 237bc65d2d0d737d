//! The radar itself: what a researcher saves (queries, filters, example papers), its
//! validation and its id. Pure: no I/O, no index.

use serde::{Deserialize, Serialize};

use crate::paper::PaperId;
use crate::search::MAX_QUERY_CHARS;

use super::RadarError;

/// Longest radar name, in characters.
pub const MAX_NAME_CHARS: usize = 200;
/// Most queries one radar may hold.
pub const MAX_QUERIES: usize = 20;
/// Most positive (and, separately, negative) example papers one radar may hold.
pub const MAX_EXAMPLES: usize = 100;
/// Most category (and, separately, source) filters one radar may hold.
pub const MAX_FILTER_VALUES: usize = 50;
/// Longest id slug derived from a name, in characters.
pub const MAX_SLUG_CHARS: usize = 40;

/// Category and source filters of a radar (any listed value matches; empty = no filter).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RadarFilters {
    #[serde(default)]
    pub categories: Vec<String>,
    #[serde(default)]
    pub sources: Vec<String>,
}

/// A saved research radar.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Radar {
    /// Short stable slug derived from the name at creation (`llm-reasoning`, `radar-2`); never
    /// changes afterwards.
    pub id: String,
    pub name: String,
    /// Keyword or natural-language queries, any language.
    pub queries: Vec<String>,
    #[serde(default)]
    pub filters: RadarFilters,
    /// Papers like these move up.
    #[serde(default)]
    pub positive: Vec<PaperId>,
    /// Papers like these move down.
    #[serde(default)]
    pub negative: Vec<PaperId>,
    /// RFC 3339 UTC timestamps.
    pub created: String,
    pub updated: String,
}

/// What a client sends to create or replace a radar (the body of `POST`/`PUT /api/radars`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RadarSpec {
    pub name: String,
    #[serde(default)]
    pub queries: Vec<String>,
    #[serde(default)]
    pub filters: RadarFilters,
    #[serde(default)]
    pub positive: Vec<PaperId>,
    #[serde(default)]
    pub negative: Vec<PaperId>,
}

fn invalid(name: &'static str, reason: impl Into<String>) -> RadarError {
    RadarError::InvalidParam {
        name,
        reason: reason.into(),
    }
}

/// Trims, drops empty entries and exact duplicates (keeping the first), checks the count.
fn clean_list(
    name: &'static str,
    values: &[String],
    max: usize,
    lowercase: bool,
) -> Result<Vec<String>, RadarError> {
    // Linear, and it stops at the first value past the limit: a body with a million entries
    // costs no more than one with `max + 1`.
    let mut out: Vec<String> = Vec::new();
    let mut seen: std::collections::HashSet<String> = std::collections::HashSet::new();
    for v in values {
        let v = v.trim();
        let v = if lowercase {
            v.to_lowercase()
        } else {
            v.to_string()
        };
        if !v.is_empty() && seen.insert(v.clone()) {
            out.push(v);
            if out.len() > max {
                return Err(invalid(
                    name,
                    format!("at most {max} distinct values allowed, got more"),
                ));
            }
        }
    }
    Ok(out)
}

fn clean_ids(name: &'static str, ids: &[PaperId]) -> Result<Vec<PaperId>, RadarError> {
    let raw: Vec<String> = ids.iter().map(|i| i.as_str().to_string()).collect();
    Ok(clean_list(name, &raw, MAX_EXAMPLES, false)?
        .into_iter()
        .map(PaperId::new)
        .collect())
}

impl RadarSpec {
    /// The spec cleaned (trimmed, deduplicated, categories/sources lowercased) and checked:
    /// a name, at least one query or positive example, limits, no paper both positive and
    /// negative. Whether the example papers exist is checked against the index by the service.
    pub fn validated(&self) -> Result<RadarSpec, RadarError> {
        let name = self.name.trim().to_string();
        if name.is_empty() {
            return Err(invalid("name", "must not be empty"));
        }
        let chars = name.chars().count();
        if chars > MAX_NAME_CHARS {
            return Err(invalid(
                "name",
                format!("is {chars} characters long; the limit is {MAX_NAME_CHARS}"),
            ));
        }
        let queries = clean_list("queries", &self.queries, MAX_QUERIES, false)?;
        if let Some(q) = queries.iter().find(|q| q.chars().count() > MAX_QUERY_CHARS) {
            return Err(invalid(
                "queries",
                format!(
                    "query {:?}... is longer than {MAX_QUERY_CHARS} characters",
                    q.chars().take(40).collect::<String>()
                ),
            ));
        }
        let positive = clean_ids("positive", &self.positive)?;
        let negative = clean_ids("negative", &self.negative)?;
        if queries.is_empty() && positive.is_empty() {
            return Err(invalid(
                "queries",
                "a radar needs at least one query or one positive example paper",
            ));
        }
        if let Some(both) = positive.iter().find(|p| {
            negative
                .iter()
                .any(|n| n.as_str().eq_ignore_ascii_case(p.as_str()))
        }) {
            return Err(invalid(
                "negative",
                format!("paper {both} is listed as both a positive and a negative example"),
            ));
        }
        Ok(RadarSpec {
            name,
            queries,
            filters: RadarFilters {
                categories: clean_list(
                    "categories",
                    &self.filters.categories,
                    MAX_FILTER_VALUES,
                    true,
                )?,
                sources: clean_list("sources", &self.filters.sources, MAX_FILTER_VALUES, true)?,
            },
            positive,
            negative,
        })
    }
}

/// An id slug for `name`: lowercase ASCII letters and digits joined by `-`, at most
/// [`MAX_SLUG_CHARS`]; `radar` when the name has no ASCII letters or digits (a Chinese name).
pub fn slug(name: &str) -> String {
    let mut out = String::new();
    let mut dash = false;
    for c in name.chars() {
        if c.is_ascii_alphanumeric() {
            let sep = dash && !out.is_empty();
            if out.len() + usize::from(sep) + 1 > MAX_SLUG_CHARS {
                break;
            }
            if sep {
                out.push('-');
            }
            dash = false;
            out.push(c.to_ascii_lowercase());
        } else {
            dash = true;
        }
    }
    let out = out.trim_end_matches('-').to_string();
    if out.is_empty() {
        "radar".into()
    } else {
        out
    }
}

/// A slug for `name` not in `taken`: the plain slug, else `slug-2`, `slug-3`, ...
pub fn unique_id<'a>(name: &str, taken: impl Iterator<Item = &'a str> + Clone) -> String {
    let base = slug(name);
    let used = |id: &str| taken.clone().any(|t| t == id);
    if !used(&base) {
        return base;
    }
    (2u64..)
        .map(|n| format!("{base}-{n}"))
        .find(|id| !used(id))
        .unwrap_or(base)
}

/// The current time as RFC 3339 UTC (second precision).
pub fn now_rfc3339() -> String {
    let now = time::OffsetDateTime::now_utc();
    let now = now.replace_nanosecond(0).unwrap_or(now);
    now.format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_else(|_| now.unix_timestamp().to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(name: &str, queries: &[&str], positive: &[&str]) -> RadarSpec {
        RadarSpec {
            name: name.into(),
            queries: queries.iter().map(|s| s.to_string()).collect(),
            positive: positive.iter().map(|s| PaperId::new(*s)).collect(),
            ..Default::default()
        }
    }

    #[test]
    fn slugs_are_short_and_stable() {
        assert_eq!(slug("LLM Reasoning & Speech!"), "llm-reasoning-speech");
        assert_eq!(slug("  大语言模型  "), "radar");
        assert_eq!(slug("图神经网络 GNN 2026"), "gnn-2026");
        assert!(slug(&"a b ".repeat(100)).len() <= MAX_SLUG_CHARS);
        let taken = ["llm", "llm-2"];
        assert_eq!(unique_id("LLM", taken.iter().copied()), "llm-3");
        assert_eq!(unique_id("vision", taken.iter().copied()), "vision");
    }

    #[test]
    fn validation_cleans_and_rejects() {
        let s = spec(" Speech ", &[" speech LLM ", "", "speech LLM"], &[])
            .validated()
            .unwrap();
        assert_eq!(s.name, "Speech");
        assert_eq!(s.queries, vec!["speech LLM"]);
        let err = spec("Empty", &["  "], &[]).validated().unwrap_err();
        assert!(
            matches!(
                err,
                RadarError::InvalidParam {
                    name: "queries",
                    ..
                }
            ),
            "{err}"
        );
        assert!(spec("", &["x"], &[]).validated().is_err());
        assert!(spec("only examples", &[], &["2603.04592"])
            .validated()
            .is_ok());
        let mut both = spec("x", &["q"], &["2603.04592"]);
        both.negative = vec![PaperId::new("2603.04592")];
        assert!(both.validated().unwrap_err().to_string().contains("both"));
        let many: Vec<String> = (0..=MAX_QUERIES).map(|i| format!("q{i}")).collect();
        let mut s = spec("x", &[], &[]);
        s.queries = many;
        assert!(s.validated().is_err());
    }
}
