//! Domain types shared by every stage: a normalized [`Paper`] and its stable [`PaperId`].
//!
//! These types carry no tantivy, fastembed, axum or reqwest types, so any stage can use them.

use serde::{Deserialize, Serialize};
use time::Date;

/// Our own stable paper id: arXiv id without version, else DOI, else a source-specific id.
///
/// Stored lowercased-insensitively in the index; the original spelling is kept here.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct PaperId(String);

/// The longest paper id accepted, in bytes. The index can only look up (replace, delete) ids
/// that fit in one term (65,530 bytes); real ids (arXiv ids, DOIs) are far shorter.
pub const MAX_ID_BYTES: usize = 1024;

impl PaperId {
    /// Wraps an already canonical id (see [`crate::normalize::canonical_arxiv_id`]).
    pub fn new(id: impl Into<String>) -> Self {
        PaperId(id.into())
    }

    /// Why `id` cannot be a paper id (empty, or longer than [`MAX_ID_BYTES`]), if it cannot.
    pub fn problem(id: &str) -> Option<String> {
        if id.trim().is_empty() {
            Some("the id is empty".into())
        } else if id.len() > MAX_ID_BYTES {
            Some(format!(
                "the id is {} bytes long; at most {MAX_ID_BYTES} are allowed",
                id.len()
            ))
        } else {
            None
        }
    }

    /// The id as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for PaperId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// One paper, normalized: what every source turns into and what the index stores.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Paper {
    pub id: PaperId,
    /// Version number (arXiv's vN; 1 when the source has none).
    pub version: u64,
    pub title: String,
    /// Abstract cleaned for display.
    #[serde(rename = "abstract")]
    pub abstract_text: String,
    /// Extra searchable words that cleaning removed from the display text (LaTeX command names).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub search_extra: String,
    pub authors: Vec<String>,
    /// Categories, primary first.
    pub categories: Vec<String>,
    /// arxiv, medrxiv, biorxiv, beir, or a journal's name.
    pub source: String,
    #[serde(default, with = "opt_date")]
    pub published: Option<Date>,
    #[serde(default, with = "opt_date")]
    pub updated: Option<Date>,
    #[serde(default)]
    pub url: Option<String>,
    #[serde(default)]
    pub doi: Option<String>,
    #[serde(default)]
    pub comment: Option<String>,
    #[serde(default)]
    pub journal_ref: Option<String>,
}

impl Paper {
    /// A paper with only the required fields set.
    pub fn new(id: PaperId, title: impl Into<String>, abstract_text: impl Into<String>) -> Self {
        Paper {
            id,
            version: 1,
            title: title.into(),
            abstract_text: abstract_text.into(),
            search_extra: String::new(),
            authors: Vec::new(),
            categories: Vec::new(),
            source: String::new(),
            published: None,
            updated: None,
            url: None,
            doi: None,
            comment: None,
            journal_ref: None,
        }
    }

    /// The primary category, if any.
    pub fn primary_category(&self) -> Option<&str> {
        self.categories.first().map(String::as_str)
    }

    /// A stable 64-bit hash of the text that embeddings are computed from (FNV-1a).
    pub fn content_hash(&self) -> u64 {
        let mut h: u64 = 0xcbf2_9ce4_8422_2325;
        for b in self
            .title
            .bytes()
            .chain(std::iter::once(0u8))
            .chain(self.abstract_text.bytes())
        {
            h ^= u64::from(b);
            h = h.wrapping_mul(0x0100_0000_01b3);
        }
        h
    }
}

/// Formats a date as `YYYY-MM-DD`.
pub fn format_date(d: Date) -> String {
    format!("{:04}-{:02}-{:02}", d.year(), u8::from(d.month()), d.day())
}

/// The earliest date a paper may carry. The index stores dates as signed 64-bit nanoseconds
/// since 1970 (1677-09-21 to 2262-04-11); whole years inside that span are accepted.
pub const MIN_DATE: Date = time::macros::date!(1678 - 01 - 01);
/// The latest date a paper may carry (see [`MIN_DATE`]).
pub const MAX_DATE: Date = time::macros::date!(2261 - 12 - 31);

/// Whether `d` is within [`MIN_DATE`]..=[`MAX_DATE`].
pub fn date_in_range(d: Date) -> bool {
    (MIN_DATE..=MAX_DATE).contains(&d)
}

/// Parses a paper's `YYYY-MM-DD` (a trailing time part such as `T00:00:00Z` is ignored);
/// `None` for an impossible date or one outside [`MIN_DATE`]..=[`MAX_DATE`].
pub fn parse_date(s: &str) -> Option<Date> {
    parse_date_unbounded(s).filter(|d| date_in_range(*d))
}

/// Parses `YYYY-MM-DD` with any year `time` accepts: for filter bounds, which the index clamps
/// to the dates it can hold (`to=9999-12-31` means "no upper bound").
pub fn parse_date_unbounded(s: &str) -> Option<Date> {
    let s = s.trim();
    let day = s.get(..10)?;
    let fmt = time::macros::format_description!("[year]-[month]-[day]");
    Date::parse(day, &fmt).ok()
}

mod opt_date {
    use serde::{Deserialize, Deserializer, Serializer};
    use time::Date;

    pub fn serialize<S: Serializer>(d: &Option<Date>, s: S) -> Result<S::Ok, S::Error> {
        match d {
            Some(d) => s.serialize_str(&super::format_date(*d)),
            None => s.serialize_none(),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Date>, D::Error> {
        let raw: Option<String> = Option::deserialize(d)?;
        match raw {
            None => Ok(None),
            Some(s) if s.trim().is_empty() => Ok(None),
            Some(s) => super::parse_date(&s)
                .map(Some)
                .ok_or_else(|| serde::de::Error::custom(format!("invalid date {s:?}"))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_round_trip() {
        let d = parse_date("2026-06-16").expect("valid date");
        assert_eq!(format_date(d), "2026-06-16");
        assert_eq!(parse_date("2026-06-16T12:00:00Z"), Some(d));
        assert_eq!(parse_date("2026-02-30"), None);
        assert_eq!(parse_date("16/06/2026"), None);
        assert_eq!(parse_date("2026-06-1"), None);
        // Outside what the index can store: refused for papers, kept for filter bounds.
        assert_eq!(parse_date("9999-12-31"), None);
        assert_eq!(parse_date("1000-01-01"), None);
        assert_eq!(parse_date("1677-12-31"), None);
        assert_eq!(parse_date("1678-01-01"), Some(MIN_DATE));
        assert_eq!(parse_date("2261-12-31"), Some(MAX_DATE));
        assert!(parse_date_unbounded("9999-12-31").is_some());
    }

    #[test]
    fn content_hash_depends_on_title_and_abstract_only() {
        let a = Paper::new(PaperId::new("1"), "T", "A");
        let mut b = a.clone();
        b.authors.push("X".into());
        assert_eq!(a.content_hash(), b.content_hash());
        b.abstract_text.push('!');
        assert_ne!(a.content_hash(), b.content_hash());
        // The separator keeps "ab"+"c" apart from "a"+"bc".
        let c = Paper::new(PaperId::new("1"), "ab", "c");
        let d = Paper::new(PaperId::new("1"), "a", "bc");
        assert_ne!(c.content_hash(), d.content_hash());
    }
}
