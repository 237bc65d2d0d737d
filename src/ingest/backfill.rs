//! The embedding backfill: gives a vector to the papers that lack one, newest first, in
//! batches, committing as it goes so an interrupted run keeps what it finished.

use std::collections::HashSet;

use indicatif::{ProgressBar, ProgressStyle};

use super::error::ImportError;
use super::import::BATCH;
use crate::embed::{passage_text, Embedder};
use crate::index::milvus::{key, MilvusStore};
use crate::index::{date_to_tantivy, IndexError, PaperIndex};

/// What [`embed_missing`] did.
#[derive(Debug, Default, Clone, serde::Serialize)]
pub struct EmbedReport {
    /// Papers that got a vector now.
    pub embedded: u64,
    /// Papers (passing the filter) that already had one.
    pub already: u64,
    /// Papers passing the filter that still lack one (beyond `limit`).
    pub remaining: u64,
}

/// Gives a vector to papers that lack one: newest first, at most `limit`, only papers
/// published on or after `since` when given. Commits every [`EMBED_COMMIT_EVERY`] papers, so
/// an interrupted run keeps what it finished.
pub fn embed_missing(
    index: &PaperIndex,
    embedder: &mut dyn Embedder,
    since: Option<time::Date>,
    limit: Option<u64>,
    progress: bool,
) -> Result<EmbedReport, ImportError> {
    index.claim_embedding_model(embedder.id())?;
    index.reload()?;
    let searcher = index.reader().searcher();
    let (todo, already) = missing(index, &searcher, since)?;
    let mut report = EmbedReport {
        already,
        ..EmbedReport::default()
    };
    let take = limit.map_or(todo.len(), |l| (l as usize).min(todo.len()));
    report.remaining = (todo.len() - take) as u64;
    if take == 0 {
        // Nothing to write: no writer, so an index another process writes to (a running
        // `serve`) can still be checked and searched.
        return Ok(report);
    }
    let bar = embed_bar(take as u64, progress);
    let mut writer = index.writer()?;
    let mut since_commit = 0usize;
    for chunk in todo[..take].chunks(BATCH) {
        let mut papers = Vec::with_capacity(chunk.len());
        for (_, addr) in chunk {
            papers.push(index.paper_at(&searcher, *addr)?);
        }
        let vectors = embed_papers(embedder, &papers)?;
        for (p, v) in papers.iter().zip(&vectors) {
            writer.upsert_with_vector(p, Some(v))?;
        }
        report.embedded += papers.len() as u64;
        since_commit += papers.len();
        bar.inc(papers.len() as u64);
        if since_commit >= EMBED_COMMIT_EVERY {
            writer.commit()?;
            since_commit = 0;
        }
    }
    writer.commit()?;
    writer.wait_merging_threads()?;
    index.reload()?;
    bar.finish_and_clear();
    Ok(report)
}

/// The papers of `searcher` that lack a vector (published on or after `since` when given),
/// newest first, as (publication timestamp, address); and how many (passing the filter) have
/// one.
pub fn missing(
    index: &PaperIndex,
    searcher: &tantivy::Searcher,
    since: Option<time::Date>,
) -> Result<(Vec<(i64, tantivy::DocAddress)>, u64), IndexError> {
    let f = *index.fields();
    let query: Box<dyn tantivy::query::Query> = match since {
        Some(d) => Box::new(tantivy::query::RangeQuery::new(
            std::ops::Bound::Included(tantivy::Term::from_field_date(
                f.published,
                date_to_tantivy(d),
            )),
            std::ops::Bound::Unbounded,
        )),
        None => Box::new(tantivy::query::AllQuery),
    };
    let matching = searcher.search(&query, &tantivy::collector::DocSetCollector)?;
    let mut already = 0u64;
    let mut todo: Vec<(i64, tantivy::DocAddress)> = Vec::new();
    for addr in matching {
        let seg = searcher.segment_reader(addr.segment_ord);
        let vecs = index.vectors().segment(seg)?;
        if vecs.has_vector(addr.doc_id) {
            already += 1;
            continue;
        }
        let published = seg
            .fast_fields()
            .date("published")
            .ok()
            .and_then(|c| c.first(addr.doc_id))
            .map(|d| d.into_timestamp_secs())
            .unwrap_or(i64::MIN);
        todo.push((published, addr));
    }
    todo.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
    Ok((todo, already))
}

/// Papers between two commits of [`embed_missing`].
pub const EMBED_COMMIT_EVERY: usize = 2048;

/// How many times in a row [`embed_missing_milvus`] rereads a work list holding only papers it
/// already wrote (writes not yet visible) before it stops.
const STALE_READS: u32 = 10;

/// Gives a vector to papers of the Milvus collection of `store` that lack one, at most `limit`,
/// a batch at a time (each batch an acknowledged upsert, so an interrupted run keeps what it
/// finished). With `worker = Some((i, n))` it takes only the papers whose content hash falls
/// to worker `i` of `n`, so `n` processes can fill one collection at once without doing the
/// same paper twice.
pub fn embed_missing_milvus(
    store: &MilvusStore,
    embedder: &mut dyn Embedder,
    limit: Option<u64>,
    worker: Option<(u32, u32)>,
    progress: bool,
) -> Result<EmbedReport, ImportError> {
    store.check_model(embedder.id())?;
    let counts = store.counts()?;
    let missing = counts.papers.saturating_sub(counts.with_vectors);
    let mut report = EmbedReport {
        already: counts.with_vectors,
        ..EmbedReport::default()
    };
    let want = limit.unwrap_or(u64::MAX).min(missing);
    let bar = embed_bar(want, progress && want > 0);
    // Papers this run wrote: a read that does not see a write yet (milvus-lite under load, an
    // eventually consistent deployment) must not embed them again.
    let mut done: HashSet<String> = HashSet::new();
    let mut stale_reads = 0;
    while report.embedded < want {
        let take = (want - report.embedded).min(BATCH as u64) as usize;
        let listed = store.without_vectors_for(take + done.len().min(BATCH), worker)?;
        if listed.is_empty() {
            break;
        }
        let papers: Vec<_> = listed
            .into_iter()
            .filter(|p| !done.contains(&key(&p.id)))
            .take(take)
            .collect();
        if papers.is_empty() {
            // Only papers already written: wait for the writes to show, a few times.
            stale_reads += 1;
            if stale_reads > STALE_READS {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(200));
            continue;
        }
        stale_reads = 0;
        done.extend(papers.iter().map(|p| key(&p.id)));
        let vectors = embed_papers(embedder, &papers)?;
        let n = papers.len() as u64;
        let rows: Vec<_> = papers
            .into_iter()
            .zip(vectors.into_iter().map(Some))
            .collect();
        // A paper refused now was written before, so it fits: only a vector of the wrong
        // size is refused, which check_model rules out.
        let refused = store.upsert(&rows)?;
        if let Some((id, why)) = refused.first() {
            return Err(ImportError::Milvus(
                crate::index::milvus::MilvusError::Request {
                    what: "upsert",
                    reason: format!("paper {id}: {why}"),
                },
            ));
        }
        report.embedded += n;
        bar.inc(n);
    }
    bar.finish_and_clear();
    if report.embedded > 0 {
        store.flush();
    }
    let after = store.counts()?;
    report.remaining = after.papers.saturating_sub(after.with_vectors);
    Ok(report)
}

/// The progress bar of an embedding run of `len` papers (hidden without `progress`).
fn embed_bar(len: u64, progress: bool) -> ProgressBar {
    if !progress {
        return ProgressBar::hidden();
    }
    let b = ProgressBar::new(len);
    b.set_style(
        ProgressStyle::with_template(
            "{spinner} embedding [{bar:30}] {pos}/{len} papers ({per_sec}, eta {eta})",
        )
        .unwrap_or_else(|_| ProgressStyle::default_bar())
        .progress_chars("=> "),
    );
    b
}

/// The passage vectors of `papers`, in order.
fn embed_papers(
    embedder: &mut dyn Embedder,
    papers: &[crate::paper::Paper],
) -> Result<Vec<Vec<f32>>, ImportError> {
    let texts: Vec<String> = papers
        .iter()
        .map(|p| passage_text(&p.title, &p.abstract_text))
        .collect();
    embedder.embed_passages(&texts).map_err(ImportError::Embed)
}
