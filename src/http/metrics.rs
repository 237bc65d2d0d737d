//! Prometheus text exposition, hand-rolled (a few counters and histograms do not need a
//! metrics framework): request counts and latency histograms by route (the matched route
//! pattern, never the raw URI, so ids and queries cannot blow up the label set), the index's
//! size, and the last ingest per source.

use std::collections::{BTreeMap, HashMap};
use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// Upper bounds of the latency histogram buckets, in seconds.
pub const LATENCY_BUCKETS: &[f64] = &[
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

#[derive(Default)]
struct RouteStats {
    /// (method, status) -> count
    counts: BTreeMap<(String, u16), u64>,
    buckets: Vec<u64>,
    sum_secs: f64,
    count: u64,
}

#[derive(Debug, Clone, Copy, Default)]
struct IngestStat {
    last_unix_secs: f64,
    papers: u64,
    runs: u64,
}

/// Process-wide counters, shared by every request.
pub struct Metrics {
    routes: Mutex<HashMap<String, RouteStats>>,
    ingests: Mutex<BTreeMap<String, IngestStat>>,
    /// Search results answered from the result cache.
    pub cache_hits: AtomicU64,
    /// Searches computed.
    pub cache_misses: AtomicU64,
    started: Instant,
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics {
            routes: Mutex::new(HashMap::new()),
            ingests: Mutex::new(BTreeMap::new()),
            cache_hits: AtomicU64::new(0),
            cache_misses: AtomicU64::new(0),
            started: Instant::now(),
        }
    }
}

/// Index figures read when `/metrics` is scraped.
#[derive(Debug, Clone, Default)]
pub struct IndexFigures {
    pub papers: u64,
    /// The local index's size and segments (none on the Milvus backend).
    pub size_bytes: Option<u64>,
    pub segments: Option<usize>,
    /// Memory held by the segments' decoded vectors (none on the Milvus backend).
    pub vector_bytes: Option<usize>,
    /// Papers by source (not counted on the Milvus backend, which has no facet counts).
    pub by_source: BTreeMap<String, u64>,
    pub has_vectors: bool,
    /// Live papers with a vector.
    pub with_vectors: u64,
    /// Background embedding, when the server runs it.
    pub background: Option<crate::ingest::background::CoverageReport>,
    /// The read queues (waiting jobs, refusals, abandoned jobs skipped).
    pub reads: super::pool::PoolCounters,
    /// The result cache: entries and the bytes they are counted for.
    pub cache_entries: usize,
    pub cache_bytes: usize,
    /// Writes that failed and reset the index writer since the server started.
    pub write_failures: u64,
}

impl Metrics {
    /// Records one answered request.
    pub fn observe(&self, route: &str, method: &str, status: u16, elapsed: Duration) {
        let Ok(mut routes) = self.routes.lock() else {
            return;
        };
        let stats = match routes.get_mut(route) {
            Some(s) => s,
            None => routes
                .entry(route.to_string())
                .or_insert_with(|| RouteStats {
                    buckets: vec![0; LATENCY_BUCKETS.len()],
                    ..RouteStats::default()
                }),
        };
        match stats.counts.get_mut(&(method.to_string(), status)) {
            Some(n) => *n += 1,
            None => {
                stats.counts.insert((method.to_string(), status), 1);
            }
        }
        let secs = elapsed.as_secs_f64();
        if let Some(i) = LATENCY_BUCKETS.iter().position(|b| secs <= *b) {
            stats.buckets[i] += 1;
        }
        stats.sum_secs += secs;
        stats.count += 1;
    }

    /// Records that `papers` papers from `source` were ingested now. Called by `POST
    /// /api/papers` and meant for any ingester wired into the server (feed polls).
    pub fn record_ingest(&self, source: &str, papers: u64) {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs_f64())
            .unwrap_or(0.0);
        if let Ok(mut m) = self.ingests.lock() {
            let e = m.entry(source.to_string()).or_default();
            e.last_unix_secs = now;
            e.papers += papers;
            e.runs += 1;
        }
    }

    /// The Prometheus text exposition (format 0.0.4).
    pub fn render(&self, index: &IndexFigures) -> String {
        let mut out = String::with_capacity(4096);
        let _ = self.render_into(&mut out, index);
        out
    }

    fn render_into(&self, out: &mut String, index: &IndexFigures) -> std::fmt::Result {
        if let Ok(routes) = self.routes.lock() {
            let mut names: Vec<&String> = routes.keys().collect();
            names.sort();
            writeln!(out, "# HELP academichub_http_requests_total HTTP requests answered, by route pattern, method and status.")?;
            writeln!(out, "# TYPE academichub_http_requests_total counter")?;
            for name in &names {
                for ((method, status), n) in &routes[*name].counts {
                    writeln!(
                        out,
                        "academichub_http_requests_total{{route=\"{}\",method=\"{}\",status=\"{status}\"}} {n}",
                        escape(name),
                        escape(method)
                    )?;
                }
            }
            writeln!(out, "# HELP academichub_http_request_duration_seconds Time to answer a request, by route pattern.")?;
            writeln!(
                out,
                "# TYPE academichub_http_request_duration_seconds histogram"
            )?;
            for name in &names {
                let s = &routes[*name];
                let label = escape(name);
                let mut cumulative = 0;
                for (b, n) in LATENCY_BUCKETS.iter().zip(&s.buckets) {
                    cumulative += n;
                    writeln!(out, "academichub_http_request_duration_seconds_bucket{{route=\"{label}\",le=\"{b}\"}} {cumulative}")?;
                }
                writeln!(out, "academichub_http_request_duration_seconds_bucket{{route=\"{label}\",le=\"+Inf\"}} {}", s.count)?;
                writeln!(
                    out,
                    "academichub_http_request_duration_seconds_sum{{route=\"{label}\"}} {}",
                    s.sum_secs
                )?;
                writeln!(
                    out,
                    "academichub_http_request_duration_seconds_count{{route=\"{label}\"}} {}",
                    s.count
                )?;
            }
        }
        writeln!(
            out,
            "# HELP academichub_index_papers Live papers in the index."
        )?;
        writeln!(out, "# TYPE academichub_index_papers gauge")?;
        writeln!(out, "academichub_index_papers {}", index.papers)?;
        writeln!(
            out,
            "# HELP academichub_index_papers_by_source Live papers in the index, by source."
        )?;
        writeln!(out, "# TYPE academichub_index_papers_by_source gauge")?;
        for (source, n) in &index.by_source {
            writeln!(
                out,
                "academichub_index_papers_by_source{{source=\"{}\"}} {n}",
                escape(source)
            )?;
        }
        if let Some(bytes) = index.size_bytes {
            writeln!(
                out,
                "# HELP academichub_index_size_bytes Size of the index files on disk."
            )?;
            writeln!(out, "# TYPE academichub_index_size_bytes gauge")?;
            writeln!(out, "academichub_index_size_bytes {bytes}")?;
        }
        if let Some(segments) = index.segments {
            writeln!(out, "# HELP academichub_index_segments Index segments.")?;
            writeln!(out, "# TYPE academichub_index_segments gauge")?;
            writeln!(out, "academichub_index_segments {segments}")?;
        }
        if let Some(bytes) = index.vector_bytes {
            writeln!(out, "# HELP academichub_index_vector_memory_bytes Memory held by the decoded vectors of the segments searched so far (int16 and int8 rows, sign bits, inverted lists).")?;
            writeln!(out, "# TYPE academichub_index_vector_memory_bytes gauge")?;
            writeln!(out, "academichub_index_vector_memory_bytes {bytes}")?;
        }
        writeln!(
            out,
            "# HELP academichub_index_has_vectors 1 when the index holds dense vectors."
        )?;
        writeln!(out, "# TYPE academichub_index_has_vectors gauge")?;
        writeln!(
            out,
            "academichub_index_has_vectors {}",
            u8::from(index.has_vectors)
        )?;
        writeln!(
            out,
            "# HELP academichub_index_papers_with_vectors Live papers with a dense vector."
        )?;
        writeln!(out, "# TYPE academichub_index_papers_with_vectors gauge")?;
        writeln!(
            out,
            "academichub_index_papers_with_vectors {}",
            index.with_vectors
        )?;
        if let Some(b) = &index.background {
            writeln!(out, "# HELP academichub_embed_background_papers_total Papers embedded in the background since start.")?;
            writeln!(
                out,
                "# TYPE academichub_embed_background_papers_total counter"
            )?;
            writeln!(
                out,
                "academichub_embed_background_papers_total {}",
                b.embedded
            )?;
            writeln!(out, "# HELP academichub_embed_background_rate Recent background embedding rate (papers per second).")?;
            writeln!(out, "# TYPE academichub_embed_background_rate gauge")?;
            writeln!(
                out,
                "academichub_embed_background_rate {:.3}",
                b.rate_per_sec
            )?;
            writeln!(out, "# HELP academichub_embed_background_eta_seconds Seconds to full coverage at the recent rate (0 when covered).")?;
            writeln!(out, "# TYPE academichub_embed_background_eta_seconds gauge")?;
            writeln!(
                out,
                "academichub_embed_background_eta_seconds {:.0}",
                b.eta_secs.unwrap_or(0.0)
            )?;
        }
        writeln!(out, "# HELP academichub_last_ingest_timestamp_seconds Unix time of the last ingest, by source (since this process started).")?;
        writeln!(
            out,
            "# TYPE academichub_last_ingest_timestamp_seconds gauge"
        )?;
        let ingests = self.ingests.lock().map(|m| m.clone()).unwrap_or_default();
        for (source, s) in &ingests {
            writeln!(
                out,
                "academichub_last_ingest_timestamp_seconds{{source=\"{}\"}} {}",
                escape(source),
                s.last_unix_secs
            )?;
        }
        writeln!(out, "# HELP academichub_ingested_papers_total Papers ingested, by source (since this process started).")?;
        writeln!(out, "# TYPE academichub_ingested_papers_total counter")?;
        for (source, s) in &ingests {
            writeln!(
                out,
                "academichub_ingested_papers_total{{source=\"{}\"}} {}",
                escape(source),
                s.papers
            )?;
        }
        writeln!(
            out,
            "# HELP academichub_ingests_total Ingest runs, by source (since this process started)."
        )?;
        writeln!(out, "# TYPE academichub_ingests_total counter")?;
        for (source, s) in &ingests {
            writeln!(
                out,
                "academichub_ingests_total{{source=\"{}\"}} {}",
                escape(source),
                s.runs
            )?;
        }
        writeln!(
            out,
            "# HELP academichub_search_cache_hits_total Searches answered from the result cache."
        )?;
        writeln!(out, "# TYPE academichub_search_cache_hits_total counter")?;
        writeln!(
            out,
            "academichub_search_cache_hits_total {}",
            self.cache_hits.load(Ordering::Relaxed)
        )?;
        writeln!(
            out,
            "# HELP academichub_search_cache_misses_total Searches computed."
        )?;
        writeln!(out, "# TYPE academichub_search_cache_misses_total counter")?;
        writeln!(
            out,
            "academichub_search_cache_misses_total {}",
            self.cache_misses.load(Ordering::Relaxed)
        )?;
        writeln!(out, "# HELP academichub_search_cache_bytes Bytes of response JSON held by the result cache.")?;
        writeln!(out, "# TYPE academichub_search_cache_bytes gauge")?;
        writeln!(out, "academichub_search_cache_bytes {}", index.cache_bytes)?;
        writeln!(
            out,
            "# HELP academichub_search_cache_entries Responses held by the result cache."
        )?;
        writeln!(out, "# TYPE academichub_search_cache_entries gauge")?;
        writeln!(
            out,
            "academichub_search_cache_entries {}",
            index.cache_entries
        )?;
        writeln!(
            out,
            "# HELP academichub_read_queue_jobs Reads waiting for a read thread, by lane."
        )?;
        writeln!(out, "# TYPE academichub_read_queue_jobs gauge")?;
        writeln!(
            out,
            "academichub_read_queue_jobs{{lane=\"quick\"}} {}",
            index.reads.queued_quick
        )?;
        writeln!(
            out,
            "academichub_read_queue_jobs{{lane=\"heavy\"}} {}",
            index.reads.queued_heavy
        )?;
        writeln!(out, "# HELP academichub_read_refused_total Reads answered 503 overloaded because their queue was full.")?;
        writeln!(out, "# TYPE academichub_read_refused_total counter")?;
        writeln!(
            out,
            "academichub_read_refused_total {}",
            index.reads.refused
        )?;
        writeln!(out, "# HELP academichub_read_abandoned_total Queued reads not run because their request was gone.")?;
        writeln!(out, "# TYPE academichub_read_abandoned_total counter")?;
        writeln!(
            out,
            "academichub_read_abandoned_total {}",
            index.reads.skipped
        )?;
        writeln!(out, "# HELP academichub_index_write_failures_total Index writes that failed (nothing of them kept; the writer was rebuilt).")?;
        writeln!(out, "# TYPE academichub_index_write_failures_total counter")?;
        writeln!(
            out,
            "academichub_index_write_failures_total {}",
            index.write_failures
        )?;
        writeln!(
            out,
            "# HELP academichub_uptime_seconds Seconds since the server started."
        )?;
        writeln!(out, "# TYPE academichub_uptime_seconds gauge")?;
        writeln!(
            out,
            "academichub_uptime_seconds {}",
            self.started.elapsed().as_secs_f64()
        )?;
        Ok(())
    }
}

/// Escapes a label value (backslash, quote, newline).
fn escape(s: &str) -> String {
    s.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn histogram_is_cumulative_and_labels_escaped() {
        let m = Metrics::default();
        m.observe("/api/search", "GET", 200, Duration::from_micros(700));
        m.observe("/api/search", "GET", 200, Duration::from_millis(30));
        m.observe("/api/search", "GET", 400, Duration::from_millis(30));
        m.record_ingest("a\"b", 3);
        let text = m.render(&IndexFigures::default());
        assert!(text.contains(
            "academichub_http_requests_total{route=\"/api/search\",method=\"GET\",status=\"200\"} 2"
        ));
        assert!(text.contains(
            "academichub_http_request_duration_seconds_bucket{route=\"/api/search\",le=\"0.001\"} 1"
        ));
        assert!(text.contains(
            "academichub_http_request_duration_seconds_bucket{route=\"/api/search\",le=\"0.05\"} 3"
        ));
        assert!(text.contains("academichub_ingested_papers_total{source=\"a\\\"b\"} 3"));
    }
}

/// Prometheus metrics.
#[utoipa::path(
    get,
    path = "/metrics",
    tag = "ops",
    responses((status = 200, description = "Prometheus text format 0.0.4", content_type = "text/plain"))
)]
pub async fn metrics_endpoint(
    axum::extract::State(state): axum::extract::State<super::AppState>,
) -> Result<axum::response::Response, super::ApiError> {
    use axum::response::IntoResponse;
    let backend = state.backend.clone();
    let background = state.background.as_ref().map(|b| b.report());
    let (cache_entries, cache_bytes) = state
        .cache
        .lock()
        .map(|c| (c.len(), c.bytes()))
        .unwrap_or_default();
    let reads = state.reads.counters();
    let write_failures = state
        .write_failures
        .as_ref()
        .map_or(0, |f| f.load(std::sync::atomic::Ordering::Relaxed));
    // Counting facets over every paper is a heavy read: it waits its turn like a search.
    let figures = super::extract::heavy_blocking(&state, move || {
        let (papers, with_vectors, by_source, size_bytes, segments, vector_bytes) = match &backend {
            crate::search::Backend::Tantivy(index) => {
                let all =
                    crate::search::browse::facets(index, "", &crate::search::Filters::default())?;
                let with_vectors = crate::index::stats::count_vectors(&index.reader().searcher())
                    .map_err(super::ApiError::internal)?;
                (
                    all.count,
                    with_vectors,
                    all.by_source,
                    Some(index.size_on_disk().map_err(super::ApiError::internal)?),
                    Some(index.reader().searcher().segment_readers().len()),
                    Some(
                        index
                            .vectors()
                            .loaded()
                            .iter()
                            .map(|v| v.heap_bytes())
                            .sum(),
                    ),
                )
            }
            // Milvus down: 503 `backend_unavailable`, like a search.
            crate::search::Backend::Milvus(_) => {
                let c = backend.counts()?;
                (c.papers, c.with_vectors, BTreeMap::new(), None, None, None)
            }
        };
        Ok(IndexFigures {
            with_vectors,
            background,
            papers,
            size_bytes,
            segments,
            vector_bytes,
            by_source,
            has_vectors: backend.has_model(),
            reads,
            cache_entries,
            cache_bytes,
            write_failures,
        })
    })
    .await?;
    Ok((
        [(
            axum::http::header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        state.metrics.render(&figures),
    )
        .into_response())
}
