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

/// The share of `papers` that have a vector (1 for an empty index): what dense and hybrid
/// search can rank by meaning.
pub fn coverage(with_vectors: u64, papers: u64) -> f64 {
    if papers == 0 {
        1.0
    } else {
        with_vectors.min(papers) as f64 / papers as f64
    }
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

/// The documents of `seg` that are not deleted.
pub(crate) fn live_docs(seg: &SegmentReader) -> impl Iterator<Item = DocId> + '_ {
    let alive = seg.alive_bitset();
    (0..seg.max_doc()).filter(move |&doc| alive.is_none_or(|a| a.is_alive(doc)))
}

fn secs_to_date(secs: i64) -> Option<Date> {
    time::OffsetDateTime::from_unix_timestamp(secs)
        .ok()
        .map(|t| t.date())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::index::PaperIndex;
    use crate::paper::{parse_date, Paper, PaperId};

    #[test]
    fn counts_live_vectors_and_dates_only() {
        let dir = tempfile::tempdir().expect("temp dir");
        let index = PaperIndex::open_or_create(&dir.path().join("idx")).expect("index");
        let mut w = index.writer().expect("writer");
        for (id, date, vector) in [
            ("a", "2025-03-01", true),
            ("b", "2026-07-31", false),
            ("c", "2024-01-15", true),
        ] {
            let mut p = Paper::new(PaperId::new(id), "Title", "Abstract");
            p.published = parse_date(date);
            w.upsert_with_vector(&p, vector.then_some(&[1.0, 0.0][..]))
                .expect("upsert");
        }
        w.commit().expect("commit");
        // Replace "c" (the oldest, with a vector) by a dated-less copy without one: the deleted
        // document still sits in its segment but must not count.
        w.upsert(&Paper::new(PaperId::new("c"), "Title", "Abstract"))
            .expect("upsert");
        w.commit().expect("commit");
        index.reload().expect("reload");
        let searcher = index.reader().searcher();
        assert!(searcher
            .segment_readers()
            .iter()
            .any(|s| s.num_deleted_docs() > 0));
        assert_eq!(count_vectors(&searcher).expect("count"), 1);
        assert_eq!(
            published_range(&searcher).expect("range"),
            (parse_date("2025-03-01"), parse_date("2026-07-31"))
        );
    }
}
