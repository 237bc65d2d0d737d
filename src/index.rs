//! The on-disk paper index: creating and opening it, checking its schema version, upserting
//! papers by their own id, and turning stored documents back into [`Paper`]s.
//!
//! Rules from tantivy that this module enforces: one `IndexWriter` at a time (a second writer
//! gets [`IndexError::Locked`]), one `IndexReader` per opened index, and documents are joined on
//! our `id` field, never on tantivy's `DocAddress`, which changes when segments merge.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use tantivy::directory::MmapDirectory;
use tantivy::schema::document::{DeserializeError, DocumentDeserialize, DocumentDeserializer};
use tantivy::schema::{Field, OwnedValue};
use tantivy::{
    DateTime, DocAddress, Index, IndexReader, IndexWriter, ReloadPolicy, Searcher, TantivyDocument,
    Term,
};
use time::Date;

use std::sync::{Arc, Mutex};

use crate::analysis;
use crate::embed::ModelId;
use crate::error::IndexError;
use crate::paper::{Paper, PaperId};
use crate::schema::{Fields, SchemaDef};
use crate::stats::FacetOrdCache;
use crate::vectors::VectorCache;

/// File (inside the index directory) recording which schema built the index.
pub const META_FILE: &str = "academichub.json";
/// Memory budget of the index writer, split over its threads.
pub const WRITER_MEMORY_BYTES: usize = 256 * 1024 * 1024;
/// Default index location, relative to the working directory.
pub const DEFAULT_INDEX_DIR: &str = "index-data/papers";

#[derive(Debug, Clone, Serialize, Deserialize)]
struct IndexMeta {
    schema_version: u32,
    created_by: String,
    /// The model whose vectors the index holds (set by the first embedding run).
    #[serde(default)]
    embedding: Option<ModelId>,
}

/// An opened paper index with its single reader.
pub struct PaperIndex {
    index: Index,
    reader: IndexReader,
    fields: Fields,
    dir: PathBuf,
    schema_version: u32,
    meta: Mutex<IndexMeta>,
    vectors: Arc<VectorCache>,
    facet_ords: Arc<FacetOrdCache>,
}

fn write_meta(dir: &Path, meta: &IndexMeta) -> Result<(), IndexError> {
    let json = serde_json::to_vec_pretty(meta).map_err(|e| IndexError::Io {
        dir: dir.to_path_buf(),
        source: std::io::Error::other(e),
    })?;
    // Write-then-rename: a crash never leaves a half-written meta file.
    let tmp = dir.join(format!("{META_FILE}.tmp"));
    std::fs::write(&tmp, json).map_err(io_err(dir))?;
    std::fs::rename(&tmp, dir.join(META_FILE)).map_err(io_err(dir))
}

fn io_err(dir: &Path) -> impl FnOnce(std::io::Error) -> IndexError + '_ {
    move |source| IndexError::Io {
        dir: dir.to_path_buf(),
        source,
    }
}

impl PaperIndex {
    /// Opens the index at `dir`, creating it (and the directory) when absent.
    pub fn open_or_create(dir: &Path) -> Result<Self, IndexError> {
        if dir.join("meta.json").exists() {
            return Self::open(dir);
        }
        std::fs::create_dir_all(dir).map_err(io_err(dir))?;
        let def = SchemaDef::builtin();
        let mmap = MmapDirectory::open(dir).map_err(|e| IndexError::Io {
            dir: dir.to_path_buf(),
            source: std::io::Error::other(e.to_string()),
        })?;
        let index = Index::create(mmap, def.to_tantivy(), Default::default())?;
        let meta = IndexMeta {
            schema_version: def.version,
            created_by: format!("academichub {}", env!("CARGO_PKG_VERSION")),
            embedding: None,
        };
        write_meta(dir, &meta)?;
        Self::from_index(index, dir, meta)
    }

    /// Opens an existing index; fails with [`IndexError::Missing`] or
    /// [`IndexError::SchemaMismatch`] (with the fix in the message).
    pub fn open(dir: &Path) -> Result<Self, IndexError> {
        if !dir.join("meta.json").exists() {
            return Err(IndexError::Missing {
                dir: dir.to_path_buf(),
            });
        }
        let def = SchemaDef::builtin();
        let meta = match std::fs::read(dir.join(META_FILE)) {
            Ok(bytes) => serde_json::from_slice::<IndexMeta>(&bytes).ok(),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
            Err(e) => return Err(io_err(dir)(e)),
        };
        let found = meta.as_ref().map(|m| m.schema_version);
        let mismatch = |found: String| IndexError::SchemaMismatch {
            dir: dir.to_path_buf(),
            found,
            expected: def.version,
        };
        match found {
            Some(v) if v == def.version => {}
            Some(v) => return Err(mismatch(v.to_string())),
            None => return Err(mismatch("unknown (no readable academichub.json)".into())),
        }
        let index = Index::open_in_dir(dir)?;
        if index.schema() != def.to_tantivy() {
            return Err(mismatch(format!(
                "{} with different fields",
                found.unwrap_or_default()
            )));
        }
        let meta = meta.ok_or_else(|| mismatch("unknown".into()))?;
        Self::from_index(index, dir, meta)
    }

    fn from_index(index: Index, dir: &Path, meta: IndexMeta) -> Result<Self, IndexError> {
        analysis::register(&index);
        let fields = Fields::resolve(&index.schema())?;
        let reader = index
            .reader_builder()
            .reload_policy(ReloadPolicy::Manual)
            .try_into()?;
        Ok(PaperIndex {
            index,
            reader,
            fields,
            dir: dir.to_path_buf(),
            schema_version: meta.schema_version,
            meta: Mutex::new(meta),
            vectors: Arc::new(VectorCache::default()),
            facet_ords: Arc::new(FacetOrdCache::default()),
        })
    }

    /// The tantivy index (for the query layer and benches).
    pub fn tantivy(&self) -> &Index {
        &self.index
    }

    /// The process-wide reader.
    pub fn reader(&self) -> &IndexReader {
        &self.reader
    }

    /// Resolved schema fields.
    pub fn fields(&self) -> &Fields {
        &self.fields
    }

    /// The index directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The schema version recorded in the index.
    pub fn schema_version(&self) -> u32 {
        self.schema_version
    }

    /// The model whose vectors this index holds, if any paper has been embedded.
    pub fn embedding_model(&self) -> Option<ModelId> {
        self.meta.lock().ok().and_then(|m| m.embedding.clone())
    }

    /// Records `model` as the index's embedding model. Fails if vectors of another model (or
    /// another build of it) are already stored: mixing models would make cosines meaningless.
    pub fn claim_embedding_model(&self, model: &ModelId) -> Result<(), IndexError> {
        let mut meta = self
            .meta
            .lock()
            .map_err(|_| IndexError::CorruptDoc("index meta lock poisoned".into()))?;
        match &meta.embedding {
            Some(existing) if existing == model => Ok(()),
            Some(existing) => Err(IndexError::ModelMismatch {
                dir: self.dir.clone(),
                index_model: format!("{} ({})", existing.name, existing.hash),
                requested: format!("{} ({})", model.name, model.hash),
            }),
            None => {
                let mut updated = meta.clone();
                updated.embedding = Some(model.clone());
                write_meta(&self.dir, &updated)?;
                *meta = updated;
                Ok(())
            }
        }
    }

    /// Checks that queries embedded by `model` can be compared with the stored vectors.
    pub fn check_query_model(&self, model: &ModelId) -> Result<(), IndexError> {
        match self.embedding_model() {
            Some(existing) if &existing == model => Ok(()),
            Some(existing) => Err(IndexError::ModelMismatch {
                dir: self.dir.clone(),
                index_model: format!("{} ({})", existing.name, existing.hash),
                requested: format!("{} ({})", model.name, model.hash),
            }),
            None => Err(IndexError::NoVectors {
                dir: self.dir.clone(),
            }),
        }
    }

    /// Per-segment vector matrices for dense search.
    pub fn vectors(&self) -> &Arc<VectorCache> {
        &self.vectors
    }

    /// Per-segment source/category ordinals for facet counts.
    pub fn facet_ords(&self) -> &Arc<FacetOrdCache> {
        &self.facet_ords
    }

    /// Number of live papers as of the last reload.
    pub fn num_papers(&self) -> u64 {
        self.reader.searcher().num_docs()
    }

    /// Makes the latest commit visible to new searchers.
    pub fn reload(&self) -> Result<(), IndexError> {
        self.reader.reload()?;
        Ok(())
    }

    /// Total size of the index files on disk, in bytes.
    pub fn size_on_disk(&self) -> Result<u64, IndexError> {
        let mut total = 0;
        for entry in std::fs::read_dir(&self.dir).map_err(io_err(&self.dir))? {
            let entry = entry.map_err(io_err(&self.dir))?;
            let meta = entry.metadata().map_err(io_err(&self.dir))?;
            if meta.is_file() {
                total += meta.len();
            }
        }
        Ok(total)
    }

    /// Opens the single writer. Fails with [`IndexError::Locked`] if another one is open.
    pub fn writer(&self) -> Result<PaperWriter, IndexError> {
        let threads = std::thread::available_parallelism()
            .map(|n| n.get().clamp(1, 4))
            .unwrap_or(1);
        let writer = self
            .index
            .writer_with_num_threads(threads, WRITER_MEMORY_BYTES)
            .map_err(|e| match e {
                tantivy::TantivyError::LockFailure(..) => IndexError::Locked {
                    dir: self.dir.clone(),
                },
                other => IndexError::Tantivy(other),
            })?;
        Ok(PaperWriter {
            writer,
            fields: self.fields,
        })
    }

    /// The term that identifies a paper (ids match case-insensitively).
    pub fn id_term(&self, id: &PaperId) -> Term {
        id_term(&self.fields, id)
    }

    /// Looks a paper up by id.
    pub fn get(&self, id: &PaperId) -> Result<Option<Paper>, IndexError> {
        let searcher = self.reader.searcher();
        let query = tantivy::query::TermQuery::new(
            self.id_term(id),
            tantivy::schema::IndexRecordOption::Basic,
        );
        let top = searcher.search(&query, &tantivy::collector::TopDocs::with_limit(1))?;
        match top.first() {
            Some((_, addr)) => Ok(Some(load_paper(&searcher, &self.fields, *addr)?)),
            None => Ok(None),
        }
    }
}

fn id_term(fields: &Fields, id: &PaperId) -> Term {
    Term::from_field_text(fields.id, &id.as_str().to_lowercase())
}

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

/// A date (midnight UTC) in tantivy's representation, for stored fields and filter bounds.
pub fn date_to_tantivy(d: Date) -> DateTime {
    DateTime::from_timestamp_secs(d.midnight().assume_utc().unix_timestamp())
}

fn tantivy_to_date(d: DateTime) -> Option<Date> {
    time::OffsetDateTime::from_unix_timestamp(d.into_timestamp_secs())
        .ok()
        .map(|t| t.date())
}

/// Builds the stored/indexed document for a paper.
pub fn paper_to_doc(f: &Fields, p: &Paper) -> TantivyDocument {
    let mut doc = TantivyDocument::default();
    doc.add_text(f.id, p.id.as_str());
    doc.add_u64(f.version, p.version);
    doc.add_text(f.title, &p.title);
    doc.add_text(f.abstract_text, &p.abstract_text);
    doc.add_text(f.text, &p.title);
    doc.add_text(f.text, &p.abstract_text);
    if !p.search_extra.is_empty() {
        doc.add_text(f.text, &p.search_extra);
        doc.add_text(f.search_extra, &p.search_extra);
    }
    for a in &p.authors {
        doc.add_text(f.authors, a);
    }
    for c in &p.categories {
        doc.add_text(f.categories, c);
    }
    if let Some(c) = p.primary_category() {
        doc.add_text(f.primary_category, c);
    }
    doc.add_text(f.source, &p.source);
    if let Some(d) = p.published {
        doc.add_date(f.published, date_to_tantivy(d));
    }
    if let Some(d) = p.updated.or(p.published) {
        doc.add_date(f.updated, date_to_tantivy(d));
    }
    for (field, value) in [
        (f.url, &p.url),
        (f.doi, &p.doi),
        (f.comment, &p.comment),
        (f.journal_ref, &p.journal_ref),
    ] {
        if let Some(v) = value {
            doc.add_text(field, v);
        }
    }
    doc.add_u64(f.content_hash, p.content_hash());
    doc
}

/// Rebuilds a [`Paper`] from its stored fields.
pub fn doc_to_paper(f: &Fields, doc: &TantivyDocument) -> Result<Paper, IndexError> {
    paper_from_values(
        f,
        doc.field_values()
            .map(|(field, value)| (field, OwnedValue::from(value))),
    )
}

/// A stored document as its (field, value) pairs in stored order, each value decoded straight
/// into an owned one: [`load_paper`] moves its strings into the [`Paper`] instead of building a
/// `TantivyDocument` and copying them out of it.
pub struct StoredValues(Vec<(Field, OwnedValue)>);

impl DocumentDeserialize for StoredValues {
    fn deserialize<'de, D>(mut deserializer: D) -> Result<Self, DeserializeError>
    where
        D: DocumentDeserializer<'de>,
    {
        let mut values = Vec::with_capacity(deserializer.size_hint());
        while let Some(pair) = deserializer.next_field::<OwnedValue>()? {
            values.push(pair);
        }
        Ok(StoredValues(values))
    }
}

/// The paper stored at `addr` (what [`doc_to_paper`] returns for the same document).
pub fn load_paper(searcher: &Searcher, f: &Fields, addr: DocAddress) -> Result<Paper, IndexError> {
    let doc: StoredValues = searcher.doc(addr)?;
    paper_from_values(f, doc.0)
}

/// A [`Paper`] from a document's stored values: a single-valued field takes its first value
/// (as `get_first` reads it), authors and categories all of theirs.
fn paper_from_values(
    f: &Fields,
    values: impl IntoIterator<Item = (Field, OwnedValue)>,
) -> Result<Paper, IndexError> {
    let single = [
        f.id,
        f.version,
        f.title,
        f.abstract_text,
        f.search_extra,
        f.source,
        f.published,
        f.updated,
        f.url,
        f.doi,
        f.comment,
        f.journal_ref,
    ];
    let mut first: [Option<OwnedValue>; 12] = Default::default();
    let (mut authors, mut categories) = (Vec::new(), Vec::new());
    for (field, value) in values {
        if field == f.authors || field == f.categories {
            if let OwnedValue::Str(s) = value {
                if field == f.authors {
                    authors.push(s);
                } else {
                    categories.push(s);
                }
            }
        } else if let Some(i) = single.iter().position(|&s| s == field) {
            if first[i].is_none() {
                first[i] = Some(value);
            }
        }
    }
    // In the order of `single`.
    let [id, version, title, abs, extra, source, published, updated, url, doi, comment, journal] =
        first;
    let text = |v: Option<OwnedValue>| match v {
        Some(OwnedValue::Str(s)) => Some(s),
        _ => None,
    };
    let date = |v: Option<OwnedValue>| match v {
        Some(OwnedValue::Date(d)) => tantivy_to_date(d),
        _ => None,
    };
    let id = text(id).ok_or_else(|| IndexError::CorruptDoc("document without id".into()))?;
    Ok(Paper {
        id: PaperId::new(id),
        version: match version {
            Some(OwnedValue::U64(v)) => v,
            _ => 1,
        },
        title: text(title).unwrap_or_default(),
        abstract_text: text(abs).unwrap_or_default(),
        search_extra: text(extra).unwrap_or_default(),
        authors,
        categories,
        source: text(source).unwrap_or_default(),
        published: date(published),
        updated: date(updated),
        url: text(url),
        doi: text(doi),
        comment: text(comment),
        journal_ref: text(journal),
    })
}

/// Encodes a vector as little-endian f32 bytes (the `embedding` field's format).
pub fn encode_vector(v: &[f32]) -> Vec<u8> {
    v.iter().flat_map(|x| x.to_le_bytes()).collect()
}

/// Decodes little-endian f32 bytes; `None` when the length is not a multiple of 4.
pub fn decode_vector(bytes: &[u8]) -> Option<Vec<f32>> {
    if !bytes.len().is_multiple_of(4) {
        return None;
    }
    Some(
        bytes
            .chunks_exact(4)
            .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
            .collect(),
    )
}
