//! Counts over the live papers of a searcher read straight from fast fields (documents deleted
//! but not yet merged away are never counted): papers with a vector, publication date range.

use tantivy::{DocId, Searcher, SegmentReader};
use time::Date;

use super::error::IndexError;

/// Live papers with a vector: one pass over each segment's `embedding` fast-field ordinals.
pub fn count_vectors(searcher: &Searcher) -> Result<u64, IndexError> {
    let mut n = 0u64;
    for seg in searcher.segment_readers() {
        let Some(col) = seg.fast_fields().bytes("embedding")? else {
            continue;
        };
        n += live_docs(seg)
            .filter(|&doc| col.term_ords(doc).next().is_some())
            .count() as u64;
    }
    Ok(n)
}

/// The earliest and latest publication date of the live papers (`None` without dates).
pub fn published_range(searcher: &Searcher) -> Result<(Option<Date>, Option<Date>), IndexError> {
    let (mut min, mut max): (Option<i64>, Option<i64>) = (None, None);
    for seg in searcher.segment_readers() {
        let Ok(col) = seg.fast_fields().date("published") else {
            continue;
        };
        for doc in live_docs(seg) {
            if let Some(d) = col.first(doc) {
                let s = d.into_timestamp_secs();
                min = Some(min.map_or(s, |m| m.min(s)));
                max = Some(max.map_or(s, |m| m.max(s)));
            }
        }
    }
    Ok((min.and_then(secs_to_date), max.and_then(secs_to_date)))
}

fn live_docs(seg: &SegmentReader) -> impl Iterator<Item = DocId> + '_ {
    let alive = seg.alive_bitset();
    (0..seg.max_doc()).filter(move |&doc| alive.is_none_or(|a| a.is_alive(doc)))
}

fn secs_to_date(secs: i64) -> Option<Date> {
    time::OffsetDateTime::from_unix_timestamp(secs)
        .ok()
        .map(|t| t.date())
}
