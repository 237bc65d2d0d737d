//! Upserting already-normalized papers through a shared writer (the HTTP API's `POST
//! /api/papers`; usable by any long-running ingester holding the process's single writer).
//!
//! Vectors follow the rules of `import`: with an embedder, papers whose title and abstract are
//! unchanged keep their stored vector and the others are embedded; without one, unchanged
//! papers keep theirs and changed papers lose it (`academichub embed` fills them in later).
//! Blocking (embedding, commit): keep it off async runtimes.

use serde::Serialize;

use crate::embed::{passage_text, EmbedError, Embedder};
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
