//! The document codec: a [`Paper`] (and its vector) to a tantivy document and back.
//!
//! The only place that knows how a paper's fields are laid out in a stored document and how a
//! vector is encoded in the `embedding` field. Pure apart from reading a searcher's store.

use tantivy::schema::document::{DeserializeError, DocumentDeserialize, DocumentDeserializer};
use tantivy::schema::{Field, OwnedValue};
use tantivy::{DateTime, DocAddress, Searcher, TantivyDocument};
use time::Date;

use super::error::IndexError;
use super::schema::Fields;
use crate::paper::{Paper, PaperId};

/// A date (midnight UTC) in tantivy's representation, for stored fields and filter bounds;
/// clamped to [`MIN_DATE`]..=[`MAX_DATE`], the span tantivy's nanoseconds hold (a wider date
/// would wrap around to another century).
///
/// [`MIN_DATE`]: crate::paper::MIN_DATE
/// [`MAX_DATE`]: crate::paper::MAX_DATE
pub fn date_to_tantivy(d: Date) -> DateTime {
    let d = d.clamp(crate::paper::MIN_DATE, crate::paper::MAX_DATE);
    DateTime::from_timestamp_secs(d.midnight().assume_utc().unix_timestamp())
}

fn tantivy_to_date(d: DateTime) -> Option<Date> {
    time::OffsetDateTime::from_unix_timestamp(d.into_timestamp_secs())
        .ok()
        .map(|t| t.date())
}

/// Builds the stored/indexed document for a paper.
pub fn paper_to_doc(f: &Fields, p: &Paper) -> TantivyDocument {
    let mut doc = TantivyDocument::default();
    doc.add_text(f.id, p.id.as_str());
    doc.add_u64(f.version, p.version);
    doc.add_text(f.title, &p.title);
    doc.add_text(f.abstract_text, &p.abstract_text);
    doc.add_text(f.text, &p.title);
    doc.add_text(f.text, &p.abstract_text);
    if !p.search_extra.is_empty() {
        doc.add_text(f.text, &p.search_extra);
        doc.add_text(f.search_extra, &p.search_extra);
    }
    for a in &p.authors {
        doc.add_text(f.authors, a);
    }
    for c in &p.categories {
        doc.add_text(f.categories, c);
    }
    if let Some(c) = p.primary_category() {
        doc.add_text(f.primary_category, c);
    }
    doc.add_text(f.source, &p.source);
    if let Some(d) = p.published {
        doc.add_date(f.published, date_to_tantivy(d));
    }
    if let Some(d) = p.updated.or(p.published) {
        doc.add_date(f.updated, date_to_tantivy(d));
    }
    for (field, value) in [
        (f.url, &p.url),
        (f.doi, &p.doi),
        (f.comment, &p.comment),
        (f.journal_ref, &p.journal_ref),
    ] {
        if let Some(v) = value {
            doc.add_text(field, v);
        }
    }
    doc.add_u64(f.content_hash, p.content_hash());
    doc
}

/// Rebuilds a [`Paper`] from its stored fields.
pub fn doc_to_paper(f: &Fields, doc: &TantivyDocument) -> Result<Paper, IndexError> {
    decode(
        f,
        doc.field_values()
            .map(|(field, value)| (field, OwnedValue::from(value))),
    )
    .map(|(paper, _)| paper)
}

/// A stored document as its (field, value) pairs in stored order, each value decoded straight
/// into an owned one: [`load_paper`] moves its strings into the [`Paper`] instead of building a
/// `TantivyDocument` and copying them out of it.
struct StoredValues(Vec<(Field, OwnedValue)>);

impl DocumentDeserialize for StoredValues {
    fn deserialize<'de, D>(mut deserializer: D) -> Result<Self, DeserializeError>
    where
        D: DocumentDeserializer<'de>,
    {
        let mut values = Vec::with_capacity(deserializer.size_hint());
        while let Some(pair) = deserializer.next_field::<OwnedValue>()? {
            values.push(pair);
        }
        Ok(StoredValues(values))
    }
}

/// The paper stored at `addr` (what [`doc_to_paper`] returns for the same document).
pub fn load_paper(searcher: &Searcher, f: &Fields, addr: DocAddress) -> Result<Paper, IndexError> {
    load_stored(searcher, f, addr).map(|(paper, _)| paper)
}

/// The paper stored at `addr` and its stored content hash (`None` if it has none).
pub fn load_stored(
    searcher: &Searcher,
    f: &Fields,
    addr: DocAddress,
) -> Result<(Paper, Option<u64>), IndexError> {
    let doc: StoredValues = searcher.doc(addr)?;
    decode(f, doc.0)
}

/// A [`Paper`] and its content hash from a document's stored values: a single-valued field
/// takes its first value (as `get_first` reads it), authors and categories all of theirs.
fn decode(
    f: &Fields,
    values: impl IntoIterator<Item = (Field, OwnedValue)>,
) -> Result<(Paper, Option<u64>), IndexError> {
    let single = [
        f.id,
        f.version,
        f.title,
        f.abstract_text,
        f.search_extra,
        f.source,
        f.published,
        f.updated,
        f.url,
        f.doi,
        f.comment,
        f.journal_ref,
        f.content_hash,
    ];
    let mut first: [Option<OwnedValue>; 13] = Default::default();
    let (mut authors, mut categories) = (Vec::new(), Vec::new());
    for (field, value) in values {
        if field == f.authors || field == f.categories {
            if let OwnedValue::Str(s) = value {
                if field == f.authors {
                    authors.push(s);
                } else {
                    categories.push(s);
                }
            }
        } else if let Some(i) = single.iter().position(|&s| s == field) {
            if first[i].is_none() {
                first[i] = Some(value);
            }
        }
    }
    // In the order of `single`.
    let [id, version, title, abs, extra, source, published, updated, url, doi, comment, journal, hash] =
        first;
    let text = |v: Option<OwnedValue>| match v {
        Some(OwnedValue::Str(s)) => Some(s),
        _ => None,
    };
    let date = |v: Option<OwnedValue>| match v {
        Some(OwnedValue::Date(d)) => tantivy_to_date(d),
        _ => None,
    };
    let id = text(id).ok_or_else(|| IndexError::CorruptDoc("document without id".into()))?;
    let paper = Paper {
        id: PaperId::new(id),
        version: match version {
            Some(OwnedValue::U64(v)) => v,
            _ => 1,
        },
        title: text(title).unwrap_or_default(),
        abstract_text: text(abs).unwrap_or_default(),
        search_extra: text(extra).unwrap_or_default(),
        authors,
        categories,
        source: text(source).unwrap_or_default(),
        published: date(published),
        updated: date(updated),
        url: text(url),
        doi: text(doi),
        comment: text(comment),
        journal_ref: text(journal),
    };
    let hash = match hash {
        Some(OwnedValue::U64(h)) => Some(h),
        _ => None,
    };
    Ok((paper, hash))
}

/// Encodes a vector as little-endian f32 bytes (the `embedding` field's format).
pub fn encode_vector(v: &[f32]) -> Vec<u8> {
    v.iter().flat_map(|x| x.to_le_bytes()).collect()
}

/// Decodes little-endian f32 bytes; `None` when the length is not a multiple of 4.
pub fn decode_vector(bytes: &[u8]) -> Option<Vec<f32>> {
    if !bytes.len().is_multiple_of(4) {
        return None;
    }
    Some(
        bytes
            .chunks_exact(4)
            .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
            .collect(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vectors_round_trip_and_odd_lengths_are_refused() {
        let v = [0.5f32, -1.25, 3.0e-8, f32::MAX];
        assert_eq!(decode_vector(&encode_vector(&v)).as_deref(), Some(&v[..]));
        assert_eq!(decode_vector(&[]), Some(Vec::new()));
        assert_eq!(decode_vector(&[0, 0, 128]), None);
    }

    #[test]
    fn dates_are_midnight_utc_both_ways() {
        let d = crate::paper::parse_date("2026-06-16").expect("date");
        let t = date_to_tantivy(d);
        assert_eq!(t.into_timestamp_secs() % 86_400, 0);
        assert_eq!(tantivy_to_date(t), Some(d));
    }
}
