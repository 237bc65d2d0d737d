//! Per-segment data decoded once and shared by every query: segments are immutable, so what
//! is derived from one (its vector matrix, its facet ordinals) stays valid until a merge
//! removes the segment.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use tantivy::index::SegmentId;
use tantivy::{Searcher, SegmentReader};

/// Data derived from one segment's content.
pub trait SegmentData: Sized {
    /// Decodes the data of `segment`.
    fn load(segment: &SegmentReader) -> tantivy::Result<Self>;
}

/// One segment's slot: empty until loaded; its own lock makes a second caller wait for the
/// first one's load instead of decoding the segment again.
type Slot<T> = Arc<Mutex<Option<Arc<T>>>>;

/// `T` per live segment, loaded on first use, once: concurrent first uses of a segment wait for
/// one load (a 2.7M-paper index decodes gigabytes of vectors; doing it once per waiting request
/// would multiply the memory and the wait).
pub struct SegmentCache<T> {
    segments: Mutex<HashMap<SegmentId, Slot<T>>>,
}

impl<T> Default for SegmentCache<T> {
    fn default() -> Self {
        SegmentCache {
            segments: Mutex::new(HashMap::new()),
        }
    }
}

impl<T: SegmentData> SegmentCache<T> {
    /// The data of `segment`, decoded on first use (a failed load is retried by the next use).
    pub fn segment(&self, segment: &SegmentReader) -> tantivy::Result<Arc<T>> {
        let id = segment.segment_id();
        // A poisoned lock only means a panic elsewhere: the map and slots are still valid.
        let slot = self
            .segments
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .entry(id)
            .or_default()
            .clone();
        let mut held = slot.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(v) = held.as_ref() {
            return Ok(v.clone());
        }
        let loaded = Arc::new(T::load(segment)?);
        *held = Some(loaded.clone());
        Ok(loaded)
    }

    /// Puts `value` in place of `segment`'s data if the segment is still held (a caller holding
    /// the previous data finishes with it; the next use gets `value`).
    pub fn replace(&self, segment: &SegmentReader, value: Arc<T>) {
        let slot = self
            .segments
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(&segment.segment_id())
            .cloned();
        if let Some(slot) = slot {
            *slot.lock().unwrap_or_else(|e| e.into_inner()) = Some(value);
        }
    }

    /// The data loaded so far, one per segment; a segment being loaded right now is left out
    /// (its load holds its slot, and this never waits for one).
    pub fn loaded(&self) -> Vec<Arc<T>> {
        let slots: Vec<Slot<T>> = match self.segments.lock() {
            Ok(m) => m.values().cloned().collect(),
            Err(_) => return Vec::new(),
        };
        slots
            .iter()
            .filter_map(|slot| slot.try_lock().ok().and_then(|held| held.clone()))
            .collect()
    }

    /// Segments held now (loaded, or being loaded).
    pub fn len(&self) -> usize {
        self.segments.lock().map_or(0, |m| m.len())
    }

    /// Whether no segment is held.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Forgets segments that `searcher` no longer sees (merged away).
    pub fn retain_live(&self, searcher: &Searcher) {
        let live: Vec<SegmentId> = searcher
            .segment_readers()
            .iter()
            .map(|r| r.segment_id())
            .collect();
        if let Ok(mut m) = self.segments.lock() {
            m.retain(|id, _| live.contains(id));
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;
    use tantivy::schema::{Schema, STRING};
    use tantivy::{doc, Index, IndexWriter};

    /// Counts its loads; holds the segment's document count.
    struct Docs(u32);

    static LOADS: AtomicUsize = AtomicUsize::new(0);

    impl SegmentData for Docs {
        fn load(segment: &SegmentReader) -> tantivy::Result<Docs> {
            LOADS.fetch_add(1, Ordering::SeqCst);
            Ok(Docs(segment.max_doc()))
        }
    }

    /// An in-RAM index with one string field, a writer, and the field.
    fn ram_index() -> (Index, IndexWriter, tantivy::schema::Field) {
        let mut schema = Schema::builder();
        let f = schema.add_text_field("f", STRING);
        let index = Index::create_in_ram(schema.build());
        let writer = index
            .writer_with_num_threads(1, 15_000_000)
            .expect("writer");
        (index, writer, f)
    }

    /// A slow load, counted apart from `Docs`.
    struct Slow;

    static SLOW_LOADS: AtomicUsize = AtomicUsize::new(0);

    impl SegmentData for Slow {
        fn load(_segment: &SegmentReader) -> tantivy::Result<Slow> {
            SLOW_LOADS.fetch_add(1, Ordering::SeqCst);
            std::thread::sleep(std::time::Duration::from_millis(200));
            Ok(Slow)
        }
    }

    #[test]
    fn concurrent_first_uses_of_a_segment_share_one_load() {
        let (index, mut writer, f) = ram_index();
        writer.add_document(doc!(f => "a")).expect("add");
        writer.commit().expect("commit");
        let searcher = index.reader().expect("reader").searcher();
        let cache: SegmentCache<Slow> = SegmentCache::default();
        let segment = &searcher.segment_readers()[0];
        std::thread::scope(|s| {
            for _ in 0..4 {
                s.spawn(|| cache.segment(segment).expect("load"));
            }
        });
        assert_eq!(SLOW_LOADS.load(Ordering::SeqCst), 1);
        assert_eq!(cache.len(), 1);
    }

    #[test]
    fn loads_each_segment_once_and_forgets_merged_ones() {
        let (index, mut writer, f) = ram_index();
        for batch in 0..2 {
            for i in 0..(3 + batch) {
                writer
                    .add_document(doc!(f => format!("{batch}-{i}")))
                    .expect("add");
            }
            writer.commit().expect("commit");
        }
        let reader = index.reader().expect("reader");
        let cache: SegmentCache<Docs> = SegmentCache::default();
        let searcher = reader.searcher();
        let before = LOADS.load(Ordering::SeqCst);
        for _ in 0..3 {
            let mut sizes: Vec<u32> = (searcher.segment_readers().iter())
                .map(|s| cache.segment(s).expect("load").0)
                .collect();
            sizes.sort();
            assert_eq!(sizes, vec![3, 4]);
        }
        assert_eq!(
            LOADS.load(Ordering::SeqCst) - before,
            2,
            "one load per segment"
        );

        // Merge the two segments: the new searcher sees one segment, which is loaded once,
        // and retain_live forgets the two merged away.
        let ids = index.searchable_segment_ids().expect("ids");
        writer.merge(&ids).wait().expect("merge");
        writer.wait_merging_threads().expect("wait");
        reader.reload().expect("reload");
        let merged = reader.searcher();
        assert_eq!(merged.segment_readers().len(), 1);
        cache.retain_live(&merged);
        assert_eq!(cache.segments.lock().expect("lock").len(), 0);
        assert_eq!(
            cache.segment(&merged.segment_readers()[0]).expect("load").0,
            7
        );
        assert_eq!(cache.segments.lock().expect("lock").len(), 1);
        assert_eq!(LOADS.load(Ordering::SeqCst) - before, 3);
    }
}
