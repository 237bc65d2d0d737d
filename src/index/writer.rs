//! The index's single writer: upserts by our own paper id; nothing is visible before a commit.

use tantivy::{IndexWriter, Term};

use super::codec::{encode_vector, paper_to_doc};
use super::error::IndexError;
use super::schema::Fields;
use crate::paper::{Paper, PaperId};

/// The index's single writer: upserts papers by id; nothing is visible until [`commit`].
///
/// Dropping it without committing discards everything added since the last commit, so an
/// interrupted import never leaves a half-written index.
///
/// [`commit`]: PaperWriter::commit
pub struct PaperWriter {
    writer: IndexWriter,
    fields: Fields,
}

impl PaperWriter {
    pub(super) fn new(writer: IndexWriter, fields: Fields) -> PaperWriter {
        PaperWriter { writer, fields }
    }

    /// Adds `paper`, replacing any paper with the same id.
    pub fn upsert(&mut self, paper: &Paper) -> Result<(), IndexError> {
        self.upsert_with_vector(paper, None)
    }

    /// Adds `paper` with its dense vector (if any), replacing any paper with the same id.
    pub fn upsert_with_vector(
        &mut self,
        paper: &Paper,
        vector: Option<&[f32]>,
    ) -> Result<(), IndexError> {
        self.writer.delete_term(id_term(&self.fields, &paper.id));
        let mut doc = paper_to_doc(&self.fields, paper);
        if let Some(v) = vector {
            doc.add_bytes(self.fields.embedding, &encode_vector(v));
        }
        self.writer.add_document(doc)?;
        Ok(())
    }

    /// Makes every change since the last commit durable and atomic. Blocks.
    pub fn commit(&mut self) -> Result<(), IndexError> {
        self.writer.commit()?;
        Ok(())
    }

    /// Waits for background merges to finish (call before exiting after a large import).
    pub fn wait_merging_threads(self) -> Result<(), IndexError> {
        self.writer.wait_merging_threads()?;
        Ok(())
    }
}

/// The term that identifies a paper (ids match case-insensitively).
pub(super) fn id_term(fields: &Fields, id: &PaperId) -> Term {
    Term::from_field_text(fields.id, &id.as_str().to_lowercase())
}
