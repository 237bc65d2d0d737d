//! Copying papers with their vectors into a Milvus collection: a single-node index moved to
//! Milvus when it outgrew one machine, or a collection an earlier AcademicHub wrote (an older
//! layout) written again in today's, without embedding a paper again.
//!
//! Each paper is upserted by id with the vector it has, a batch at a time. Milvus has no
//! transaction: every acknowledged batch has landed, and an interrupted copy is run again
//! (upserts by id are idempotent).

use indicatif::{ProgressBar, ProgressStyle};
use tantivy::DocAddress;

use super::error::ImportError;
use crate::embed::ModelId;
use crate::index::milvus::{MilvusStore, WRITE_BATCH};
use crate::index::stats::live_docs;
use crate::index::PaperIndex;
use crate::paper::Paper;

/// A paper with its vector, if it has one.
type Row = (Paper, Option<Vec<f32>>);

/// Where [`copy_into`] reads papers.
pub enum CopySource<'a> {
    /// A tantivy index: its live papers and the vectors stored with them.
    Index(&'a PaperIndex),
    /// A Milvus collection, of this layout or an earlier one
    /// ([`MilvusStore::open_to_read`]).
    Milvus(&'a MilvusStore),
}

impl CopySource<'_> {
    /// The model of the source's vectors (name and dimensions), when it holds vectors.
    pub fn model(&self) -> Option<ModelId> {
        match self {
            CopySource::Index(index) => index.embedding_model(),
            CopySource::Milvus(store) => Some(ModelId {
                name: store.info().model.clone(),
                hash: String::new(),
                dims: store.info().dims,
            }),
        }
    }

    /// How many papers the source holds.
    pub fn papers(&self) -> Result<u64, ImportError> {
        Ok(match self {
            CopySource::Index(index) => index.num_papers(),
            CopySource::Milvus(store) => store.counts()?.papers,
        })
    }

    /// Calls `f` with every paper of the source and its vector, [`WRITE_BATCH`] at a time.
    fn each_batch(
        &self,
        mut f: impl FnMut(Vec<Row>) -> Result<(), ImportError>,
    ) -> Result<(), ImportError> {
        match self {
            CopySource::Index(index) => {
                let searcher = index.reader().searcher();
                let mut batch = Vec::with_capacity(WRITE_BATCH);
                for (ord, segment) in searcher.segment_readers().iter().enumerate() {
                    for doc in live_docs(segment) {
                        let s = index.stored_at(&searcher, DocAddress::new(ord as u32, doc))?;
                        batch.push((s.paper, s.vector));
                        if batch.len() == WRITE_BATCH {
                            f(std::mem::take(&mut batch))?;
                        }
                    }
                }
                if !batch.is_empty() {
                    f(batch)?;
                }
                Ok(())
            }
            CopySource::Milvus(store) => {
                store.scan(|rows| f(rows.into_iter().map(|r| (r.paper, r.vector)).collect()))
            }
        }
    }
}

/// What a copy did.
#[derive(Debug, Default, Clone, serde::Serialize)]
pub struct CopyReport {
    /// Papers read from the source.
    pub read: u64,
    /// Papers written to the collection.
    pub copied: u64,
    /// Of those, papers written with their vector.
    pub with_vectors: u64,
    /// Papers the collection refused (a field too long for it, a vector of another size).
    pub refused: u64,
    /// The first few refusals, each naming the paper and why.
    pub errors: Vec<String>,
    /// Papers in the collection after the copy.
    pub total_papers: u64,
}

/// How many refusals a report names.
pub const MAX_REPORTED_REFUSALS: usize = 20;

/// Copies every paper of `source`, with its vector, into `target` (upsert by id). The source's
/// vectors must come from the collection's model; a source without vectors gives papers that
/// the embedder (`embed`, or `serve`'s background worker) fills in later. Papers already in
/// the collection and not in the source stay.
pub fn copy_into(
    source: &CopySource,
    target: &MilvusStore,
    progress: bool,
) -> Result<CopyReport, ImportError> {
    if let Some(model) = source.model() {
        target.check_model(&model)?;
    }
    let bar = if progress {
        let bar = ProgressBar::new(source.papers()?);
        bar.set_style(
            ProgressStyle::with_template(
                "{spinner} copying [{bar:30}] {pos}/{len} papers ({elapsed}, eta {eta})",
            )
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> "),
        );
        bar
    } else {
        ProgressBar::hidden()
    };
    let mut report = CopyReport::default();
    source.each_batch(|rows| {
        let n = rows.len() as u64;
        let vectors = rows.iter().filter(|(_, v)| v.is_some()).count() as u64;
        let refused = target.upsert(&rows)?;
        let refused_vectors = refused
            .iter()
            .filter(|(id, _)| rows.iter().any(|(p, v)| &p.id == id && v.is_some()))
            .count() as u64;
        report.read += n;
        report.copied += n - refused.len() as u64;
        report.with_vectors += vectors - refused_vectors;
        report.refused += refused.len() as u64;
        for (id, why) in refused {
            if report.errors.len() < MAX_REPORTED_REFUSALS {
                report.errors.push(format!("{id}: {why}"));
            }
        }
        bar.inc(n);
        Ok(())
    })?;
    bar.set_message("flushing");
    target.flush();
    bar.finish_and_clear();
    report.total_papers = target.counts()?.papers;
    Ok(report)
}
