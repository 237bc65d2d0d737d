//! The one stored-paper lookup: a paper by our id, with what later stages decide on (its
//! content hash, its stored vector) and its current address.
//!
//! Every stage that needs "the paper with this id, and its vector" comes here: search views,
//! radars, upserts, imports and feed merges. A [`DocAddress`] is only valid for the searcher
//! it came from (segments merge), so lookups take the searcher and never outlive it.

use tantivy::collector::TopDocs;
use tantivy::query::TermQuery;
use tantivy::schema::{IndexRecordOption, Value};
use tantivy::{DocAddress, Searcher, TantivyDocument};

use super::codec::load_stored;
use super::error::IndexError;
use super::PaperIndex;
use crate::paper::{Paper, PaperId};

/// A paper as the index stores it.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredPaper {
    /// Where it is in the searcher it was read from.
    pub addr: DocAddress,
    pub paper: Paper,
    /// Hash of title + abstract when stored (unchanged text keeps its vector).
    pub content_hash: Option<u64>,
    /// Its dense vector, if it has one.
    pub vector: Option<Vec<f32>>,
}

impl StoredPaper {
    /// True when the stored text is the text of `paper` (same content hash).
    pub fn same_text(&self, paper: &Paper) -> bool {
        self.content_hash == Some(paper.content_hash())
    }
}

impl PaperIndex {
    /// The address of paper `id` in `searcher` (ids match case-insensitively; a blank id
    /// matches nothing).
    pub fn find(
        &self,
        searcher: &Searcher,
        id: &PaperId,
    ) -> Result<Option<DocAddress>, IndexError> {
        if id.as_str().trim().is_empty() {
            return Ok(None);
        }
        let query = TermQuery::new(self.id_term(id), IndexRecordOption::Basic);
        let top = searcher.search(&query, &TopDocs::with_limit(1))?;
        Ok(top.first().map(|(_, addr)| *addr))
    }

    /// Paper `id` with its content hash and stored vector, or `None`.
    pub fn stored(
        &self,
        searcher: &Searcher,
        id: &PaperId,
    ) -> Result<Option<StoredPaper>, IndexError> {
        match self.find(searcher, id)? {
            Some(addr) => self.stored_at(searcher, addr).map(Some),
            None => Ok(None),
        }
    }

    /// The paper at `addr` with its content hash and stored vector.
    pub fn stored_at(
        &self,
        searcher: &Searcher,
        addr: DocAddress,
    ) -> Result<StoredPaper, IndexError> {
        let (paper, content_hash) = load_stored(searcher, self.fields(), addr)?;
        Ok(StoredPaper {
            addr,
            paper,
            content_hash,
            vector: self.vector_at(searcher, addr)?,
        })
    }

    /// The paper at `addr`.
    pub fn paper_at(&self, searcher: &Searcher, addr: DocAddress) -> Result<Paper, IndexError> {
        super::codec::load_paper(searcher, self.fields(), addr)
    }

    /// The stored vector of the document at `addr`, if it has one: the f32 values the embedder
    /// wrote, read from the `embedding` column (not the dense scan's int16 rows, so a vector
    /// kept through an upsert stays what was written).
    pub fn vector_at(
        &self,
        searcher: &Searcher,
        addr: DocAddress,
    ) -> Result<Option<Vec<f32>>, IndexError> {
        let segment = searcher.segment_reader(addr.segment_ord);
        let Some(col) = segment.fast_fields().bytes("embedding")? else {
            return Ok(None);
        };
        let Some(ord) = col.term_ords(addr.doc_id).next() else {
            return Ok(None);
        };
        let mut bytes = Vec::new();
        if !col
            .ord_to_bytes(ord, &mut bytes)
            .map_err(|e| IndexError::Tantivy(e.into()))?
        {
            return Ok(None);
        }
        Ok(super::codec::decode_vector(&bytes))
    }

    /// The paper id of the document at `addr` (only the stored document, no other field is
    /// turned into a [`Paper`]).
    pub fn id_at(&self, searcher: &Searcher, addr: DocAddress) -> Result<PaperId, IndexError> {
        let doc: TantivyDocument = searcher.doc(addr)?;
        doc.get_first(self.fields().id)
            .and_then(|v| v.as_str().map(str::to_string))
            .map(PaperId::new)
            .ok_or_else(|| IndexError::CorruptDoc("document without id".into()))
    }

    /// Looks a paper up by id in the current searcher.
    pub fn get(&self, id: &PaperId) -> Result<Option<Paper>, IndexError> {
        let searcher = self.reader().searcher();
        match self.find(&searcher, id)? {
            Some(addr) => Ok(Some(self.paper_at(&searcher, addr)?)),
            None => Ok(None),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::paper::parse_date;

    fn paper(id: &str, title: &str) -> Paper {
        let mut p = Paper::new(PaperId::new(id), title, "An abstract.");
        p.categories = vec!["cs.CL".into()];
        p.published = parse_date("2026-06-16");
        // Stored as the publication date when absent.
        p.updated = p.published;
        p
    }

    #[test]
    fn finds_papers_by_id_with_hash_and_vector_and_updates_replace_them() {
        let dir = tempfile::tempdir().expect("temp dir");
        let index = PaperIndex::open_or_create(&dir.path().join("idx")).expect("index");
        let mut w = index.writer().expect("writer");
        w.upsert_with_vector(&paper("2606.00001", "First"), Some(&[0.6, 0.8]))
            .expect("upsert");
        w.upsert(&paper("hep-th/9901001", "Second"))
            .expect("upsert");
        w.commit().expect("commit");
        index.reload().expect("reload");
        let searcher = index.reader().searcher();

        let first = index
            .stored(&searcher, &PaperId::new("2606.00001"))
            .expect("lookup")
            .expect("stored");
        assert_eq!(first.paper, paper("2606.00001", "First"));
        assert!(first.same_text(&paper("2606.00001", "First")));
        assert!(!first.same_text(&paper("2606.00001", "Changed")));
        assert_eq!(first.vector, Some(vec![0.6, 0.8]));
        assert_eq!(
            index.vector_at(&searcher, first.addr).expect("vector"),
            first.vector
        );
        assert_eq!(
            index.id_at(&searcher, first.addr).expect("id").as_str(),
            "2606.00001"
        );
        // Ids match case-insensitively; a blank or unknown id matches nothing.
        let second = index
            .stored(&searcher, &PaperId::new("HEP-TH/9901001"))
            .expect("lookup");
        assert_eq!(
            second.map(|s| (s.paper.title, s.vector)),
            Some(("Second".into(), None))
        );
        assert_eq!(
            index.find(&searcher, &PaperId::new("  ")).expect("find"),
            None
        );
        assert_eq!(index.get(&PaperId::new("2606.99999")).expect("get"), None);

        // An upsert replaces the paper: one document, the new text, no stale vector.
        w.upsert(&paper("2606.00001", "Changed")).expect("upsert");
        w.commit().expect("commit");
        index.reload().expect("reload");
        let searcher = index.reader().searcher();
        assert_eq!(searcher.num_docs(), 2);
        let changed = index
            .stored(&searcher, &PaperId::new("2606.00001"))
            .expect("lookup")
            .expect("stored");
        assert_eq!(
            (changed.paper.title.as_str(), changed.vector),
            ("Changed", None)
        );
    }
}
