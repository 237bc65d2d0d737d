//! Upserting already-normalized papers through a shared writer (the HTTP API's `POST
//! /api/papers`; usable by any long-running ingester holding the process's single writer).
//!
//! Vectors follow the rules of `import`: with an embedder, papers whose title and abstract are
//! unchanged keep their stored vector and the others are embedded; without one, unchanged
//! papers keep theirs and changed papers lose it (`academichub embed` fills them in later).
//! Blocking (embedding, commit): keep it off async runtimes.

use serde::Serialize;

use crate::embed::{passage_text, EmbedError, Embedder};
use crate::index::milvus::{key, MilvusError, MilvusStore};
use crate::index::{IndexError, PaperIndex, PaperWriter};
use crate::paper::Paper;

/// What [`upsert_papers`] did.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct UpsertReport {
    /// Papers written (new or replaced).
    pub upserted: usize,
    /// Of those, papers that were not in the index before.
    pub created: usize,
    /// Papers that got a freshly computed vector.
    pub embedded: usize,
    /// Papers that kept their stored vector (title and abstract unchanged).
    pub vectors_kept: usize,
}

/// Errors upserting papers.
#[derive(Debug, thiserror::Error)]
pub enum UpsertError {
    #[error(transparent)]
    Index(#[from] IndexError),
    #[error(transparent)]
    Embed(#[from] EmbedError),
    #[error(transparent)]
    Milvus(#[from] MilvusError),
    /// Papers the store cannot hold as they are (checked before anything is written).
    #[error("paper {id} cannot be stored: {reason}")]
    Refused { id: String, reason: String },
}

/// Upserts `papers` with `writer`, commits, and reloads the index's reader so the next
/// searcher sees them. With an `embedder` (whose model must be the index's), changed papers
/// are embedded. Nothing is visible (or durable) unless the whole batch is committed.
pub fn upsert_papers(
    index: &PaperIndex,
    writer: &mut PaperWriter,
    papers: &[Paper],
    embedder: Option<&mut dyn Embedder>,
) -> Result<UpsertReport, UpsertError> {
    let mut report = UpsertReport::default();
    let existing = existing(index, papers)?;
    let mut vectors: Vec<Option<Vec<f32>>> = Vec::with_capacity(papers.len());
    for (known, v) in &existing {
        if !known {
            report.created += 1;
        }
        if v.is_some() {
            report.vectors_kept += 1;
        }
        vectors.push(v.clone());
    }
    if let Some(e) = embedder {
        index.claim_embedding_model(e.id())?;
        let todo: Vec<usize> = (0..papers.len())
            .filter(|&i| vectors[i].is_none())
            .collect();
        let texts: Vec<String> = todo
            .iter()
            .map(|&i| passage_text(&papers[i].title, &papers[i].abstract_text))
            .collect();
        if !texts.is_empty() {
            let computed = e.embed_passages(&texts)?;
            report.embedded = computed.len();
            for (i, v) in todo.into_iter().zip(computed) {
                vectors[i] = Some(v);
            }
        }
    }
    for (p, v) in papers.iter().zip(&vectors) {
        writer.upsert_with_vector(p, v.as_deref())?;
    }
    writer.commit()?;
    index.reload()?;
    report.upserted = papers.len();
    Ok(report)
}

/// Whether a paper's id is already indexed, and its stored vector when its title and abstract
/// are unchanged.
type Existing = (bool, Option<Vec<f32>>);

/// [`Existing`] for each paper.
fn existing(index: &PaperIndex, papers: &[Paper]) -> Result<Vec<Existing>, IndexError> {
    let searcher = index.reader().searcher();
    let mut out = Vec::with_capacity(papers.len());
    for p in papers {
        out.push(match index.stored(&searcher, &p.id)? {
            None => (false, None),
            Some(s) if s.same_text(p) => (true, s.vector),
            Some(_) => (true, None),
        });
    }
    Ok(out)
}

/// [`upsert_papers`] into the Milvus collection of `store`: the same vector rules (papers with
/// unchanged text keep their stored vector; with an `embedder`, whose model must be the
/// collection's, the others are embedded, else left to the background embedder). Papers the
/// collection cannot hold are refused before anything is written. Milvus has no transaction
/// across batches: a failure after the first batch of [`crate::index::milvus::WRITE_BATCH`]
/// papers leaves the earlier ones written, and the error says so; resending is safe (upserts
/// by id).
pub fn upsert_papers_milvus(
    store: &MilvusStore,
    papers: &[Paper],
    embedder: Option<&mut dyn Embedder>,
) -> Result<UpsertReport, UpsertError> {
    let mut report = UpsertReport::default();
    let ids: Vec<_> = papers.iter().map(|p| p.id.clone()).collect();
    let stored: std::collections::HashMap<String, crate::index::milvus::StoredRow> = store
        .get(&ids)?
        .into_iter()
        .map(|row| (key(&row.paper.id), row))
        .collect();
    let mut rows: Vec<(Paper, Option<Vec<f32>>)> = Vec::with_capacity(papers.len());
    for p in papers {
        let kept = match stored.get(&key(&p.id)) {
            None => {
                report.created += 1;
                None
            }
            Some(row) if row.same_text(p) => row.vector.clone(),
            Some(_) => None,
        };
        report.vectors_kept += usize::from(kept.is_some());
        rows.push((p.clone(), kept));
    }
    if let Some((id, reason)) = store.refusals(&rows).into_iter().next() {
        return Err(UpsertError::Refused {
            id: id.to_string(),
            reason,
        });
    }
    if let Some(e) = embedder {
        store.check_model(e.id())?;
        let todo: Vec<usize> = (0..rows.len()).filter(|&i| rows[i].1.is_none()).collect();
        let texts: Vec<String> = todo
            .iter()
            .map(|&i| passage_text(&rows[i].0.title, &rows[i].0.abstract_text))
            .collect();
        if !texts.is_empty() {
            let computed = e.embed_passages(&texts)?;
            report.embedded = computed.len();
            for (i, v) in todo.into_iter().zip(computed) {
                rows[i].1 = Some(v);
            }
        }
    }
    store.upsert(&rows)?;
    // Sealed at once, so searches read the papers from indexed segments.
    store.flush();
    report.upserted = papers.len();
    Ok(report)
}
