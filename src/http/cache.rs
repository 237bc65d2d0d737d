//! The search result cache: least recently used responses, bounded both in entries and in the
//! bytes their JSON takes, so a flood of distinct large pages (`k=100`) cannot grow the server
//! past `[server] cache_bytes`. Keys carry the index generation, so a change of the index makes
//! old entries unreachable; they age out like any other.

use std::num::NonZeroUsize;
use std::sync::Arc;

use super::dto::SearchResponse;

/// A cached response and the bytes it is counted for.
struct Entry {
    response: Arc<SearchResponse>,
    bytes: usize,
}

/// LRU of search responses within an entry and a byte budget.
pub struct ResultCache {
    lru: lru::LruCache<String, Entry>,
    max_bytes: usize,
    bytes: usize,
}

/// Counts what serde_json writes, without keeping it.
struct Counter(usize);

impl std::io::Write for Counter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0 += buf.len();
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Bytes a response is counted for: its JSON plus its key, and a fixed overhead for the
/// structures around it (the in-memory form is within a small factor of the JSON).
fn cost(key: &str, response: &SearchResponse) -> usize {
    let mut c = Counter(0);
    let json = serde_json::to_writer(&mut c, response).map_or(usize::MAX / 2, |_| c.0);
    json.saturating_add(key.len()).saturating_add(256)
}

impl ResultCache {
    /// At most `entries` responses and `max_bytes` bytes (at least one entry).
    pub fn new(entries: usize, max_bytes: usize) -> ResultCache {
        let cap = NonZeroUsize::new(entries.max(1)).unwrap_or(NonZeroUsize::MIN);
        ResultCache {
            lru: lru::LruCache::new(cap),
            max_bytes,
            bytes: 0,
        }
    }

    /// The response cached under `key`, marked as recently used.
    pub fn get(&mut self, key: &str) -> Option<Arc<SearchResponse>> {
        self.lru.get(key).map(|e| e.response.clone())
    }

    /// Caches `response` under `key`, evicting the least recently used entries until both
    /// budgets hold. A response larger than the whole byte budget is not cached.
    pub fn put(&mut self, key: String, response: Arc<SearchResponse>) {
        let bytes = cost(&key, &response);
        if bytes > self.max_bytes {
            return;
        }
        if let Some((_, old)) = self.lru.push(key, Entry { response, bytes }) {
            // Either the same key replaced, or the least recent entry evicted by the count.
            self.bytes -= old.bytes;
        }
        self.bytes += bytes;
        while self.bytes > self.max_bytes {
            match self.lru.pop_lru() {
                Some((_, e)) => self.bytes -= e.bytes,
                None => break,
            }
        }
    }

    /// Entries held.
    pub fn len(&self) -> usize {
        self.lru.len()
    }

    /// Whether nothing is cached.
    pub fn is_empty(&self) -> bool {
        self.lru.is_empty()
    }

    /// Bytes the held entries are counted for.
    pub fn bytes(&self) -> usize {
        self.bytes
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn response(query: &str, filler: usize) -> Arc<SearchResponse> {
        Arc::new(SearchResponse {
            query: query.to_string(),
            mode: "bm25".into(),
            total: 0,
            ranked_by_meaning: None,
            offset: 0,
            k: 10,
            hits: Vec::new(),
            facets: Default::default(),
            warnings: vec!["x".repeat(filler)],
            translation: None,
            took_ms: 0.0,
        })
    }

    #[test]
    fn bounded_by_bytes_and_entries_least_recent_out_first() {
        let mut c = ResultCache::new(100, 5_000);
        for i in 0..10 {
            c.put(format!("q{i}"), response(&format!("q{i}"), 1_000));
        }
        assert!(c.bytes() <= 5_000, "{}", c.bytes());
        // 1,000 bytes of filler + JSON + overhead each: three fit.
        assert_eq!(c.len(), 3);
        assert!(c.get("q9").is_some() && c.get("q7").is_some());
        assert!(c.get("q0").is_none());
        // Using q7 keeps it over q8 when the next one comes in.
        c.get("q7");
        c.put("q10".into(), response("q10", 1_000));
        assert!(c.get("q7").is_some() && c.get("q8").is_none());

        // The entry count holds too, and the byte count follows evictions by count.
        let mut c = ResultCache::new(2, 1 << 20);
        for i in 0..5 {
            c.put(format!("q{i}"), response("q", 10));
        }
        assert_eq!(c.len(), 2);
        let one = cost("q4", &response("q", 10));
        assert_eq!(c.bytes(), 2 * one);
        // Replacing a key does not count it twice.
        c.put("q4".into(), response("q", 10));
        assert_eq!(c.bytes(), 2 * one);
    }

    #[test]
    fn a_response_over_the_whole_budget_is_not_cached() {
        let mut c = ResultCache::new(10, 1_000);
        c.put("small".into(), response("s", 10));
        c.put("huge".into(), response("h", 5_000));
        assert!(c.get("huge").is_none());
        assert!(c.get("small").is_some(), "and nothing was evicted for it");
    }
}
