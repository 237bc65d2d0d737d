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

/// `T` per live segment, loaded on first use.
pub struct SegmentCache<T> {
    segments: Mutex<HashMap<SegmentId, Arc<T>>>,
}

impl<T> Default for SegmentCache<T> {
    fn default() -> Self {
        SegmentCache {
            segments: Mutex::new(HashMap::new()),
        }
    }
}

impl<T: SegmentData> SegmentCache<T> {
    /// The data of `segment`, decoded on first use.
    pub fn segment(&self, segment: &SegmentReader) -> tantivy::Result<Arc<T>> {
        let id = segment.segment_id();
        if let Some(v) = self.segments.lock().ok().and_then(|m| m.get(&id).cloned()) {
            return Ok(v);
        }
        let loaded = Arc::new(T::load(segment)?);
        if let Ok(mut m) = self.segments.lock() {
            m.insert(id, loaded.clone());
        }
        Ok(loaded)
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
