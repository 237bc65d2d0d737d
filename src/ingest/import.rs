//! Bulk import of paper corpora from JSONL files (BEIR `corpus.jsonl`, arXiv metadata dumps),
//! gzip or plain, into the index with upsert-by-id semantics.
//!
//! A bad record is skipped, counted and reported with its file and line; the rest still lands.
//! Everything is committed once at the end, so an interrupted import leaves the index as it was.

use std::fs::File;
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};

use flate2::read::MultiGzDecoder;
use indicatif::{ProgressBar, ProgressStyle};
use serde::Deserialize;

use super::error::ImportError;
use crate::embed::{passage_text, Embedder};
use crate::index::milvus::MilvusStore;
use crate::index::{PaperIndex, PaperWriter};
use crate::normalize::{
    arxiv_paper, canonical_arxiv_id, clean_latex, collapse_whitespace, is_arxiv_category,
};
use crate::paper::{parse_date, Paper, PaperId};

/// Input formats `import` understands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// BEIR `corpus.jsonl`: `{"_id", "title", "text"}`.
    Beir,
    /// arXiv metadata JSONL: `{"id", "title", "authors", "categories", "abstract", ...}`.
    ArxivJsonl,
}

impl std::str::FromStr for Format {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "beir" => Ok(Format::Beir),
            "arxiv-jsonl" => Ok(Format::ArxivJsonl),
            other => Err(format!(
                "unknown format {other:?} (use beir or arxiv-jsonl)"
            )),
        }
    }
}

/// What an import did.
#[derive(Debug, Default, Clone, serde::Serialize)]
pub struct ImportReport {
    /// Non-empty lines read.
    pub records: u64,
    /// Papers written (new or replaced).
    pub imported: u64,
    /// Records skipped as bad.
    pub skipped: u64,
    /// The first few problems, each naming file and line.
    pub errors: Vec<String>,
    /// Papers in the index after the import.
    pub total_papers: u64,
    /// Papers whose vector was computed (unchanged papers keep their stored vector).
    pub embedded: u64,
}

/// How many skipped-record messages a report keeps.
pub const MAX_REPORTED_ERRORS: usize = 20;

/// Options for [`import_file`].
#[derive(Debug, Clone)]
pub struct ImportOptions {
    pub format: Format,
    /// Value of `source` for BEIR records (arXiv records are always `arxiv`).
    pub beir_source: String,
    /// Show a progress bar on stderr (hidden automatically when stderr is not a terminal).
    pub progress: bool,
}

impl ImportOptions {
    /// Defaults for a format.
    pub fn new(format: Format) -> Self {
        ImportOptions {
            format,
            beir_source: "beir".into(),
            progress: true,
        }
    }
}

struct CountingReader<R> {
    inner: R,
    bar: ProgressBar,
}

impl<R: Read> Read for CountingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.bar.inc(n as u64);
        Ok(n)
    }
}

/// Opens a possibly gzip-compressed file (detected by its magic bytes, not its name).
pub fn open_maybe_gz(path: &Path, bar: ProgressBar) -> Result<Box<dyn BufRead>, ImportError> {
    let open_err = |source| ImportError::Open {
        path: path.to_path_buf(),
        source,
    };
    let mut file = File::open(path).map_err(open_err)?;
    if file.metadata().map_err(open_err)?.is_dir() {
        return Err(open_err(std::io::Error::other(
            "is a directory (give the corpus file, e.g. DIR/corpus.jsonl)",
        )));
    }
    let mut magic = [0u8; 2];
    let n = read_fully(&mut file, &mut magic).map_err(open_err)?;
    let file = File::open(path).map_err(open_err)?;
    let counted = CountingReader { inner: file, bar };
    if n == 2 && magic == [0x1f, 0x8b] {
        Ok(Box::new(BufReader::with_capacity(
            1 << 16,
            MultiGzDecoder::new(BufReader::new(counted)),
        )))
    } else {
        Ok(Box::new(BufReader::with_capacity(1 << 16, counted)))
    }
}

fn read_fully(r: &mut impl Read, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match r.read(&mut buf[n..])? {
            0 => break,
            k => n += k,
        }
    }
    Ok(n)
}

#[derive(Deserialize)]
struct BeirRecord {
    #[serde(rename = "_id")]
    id: Option<serde_json::Value>,
    #[serde(default)]
    title: Option<String>,
    #[serde(default)]
    text: Option<String>,
}

#[derive(Deserialize)]
struct ArxivRecord {
    id: Option<String>,
    #[serde(default)]
    title: Option<String>,
    #[serde(default, deserialize_with = "null_as_empty")]
    authors: Vec<String>,
    #[serde(default, deserialize_with = "null_as_empty")]
    categories: Vec<String>,
    #[serde(default)]
    comment: Option<String>,
    #[serde(default, rename = "abstract")]
    abstract_text: Option<String>,
    #[serde(default)]
    listing_file_date: Option<String>,
    #[serde(default)]
    doi: Option<String>,
    #[serde(default)]
    journal_ref: Option<String>,
}

/// `null` and a missing key both mean an empty list.
fn null_as_empty<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    Ok(Option::<Vec<String>>::deserialize(d)?.unwrap_or_default())
}

/// Parses one BEIR corpus line into a paper.
pub fn parse_beir_line(line: &str, source: &str) -> Result<Paper, String> {
    let rec: BeirRecord = serde_json::from_str(line).map_err(|e| format!("invalid JSON: {e}"))?;
    let id = match rec.id {
        Some(serde_json::Value::String(s)) if !s.trim().is_empty() => s.trim().to_string(),
        Some(serde_json::Value::Number(n)) => n.to_string(),
        _ => return Err("record without \"_id\"".into()),
    };
    if let Some(why) = PaperId::problem(&id) {
        return Err(format!("record \"_id\": {why}"));
    }
    let title = collapse_whitespace(rec.title.as_deref().unwrap_or(""));
    let text = collapse_whitespace(rec.text.as_deref().unwrap_or(""));
    if title.is_empty() && text.is_empty() {
        return Err(format!("record {id:?} has neither title nor text"));
    }
    let mut p = Paper::new(PaperId::new(id), title, text);
    p.source = source.to_string();
    Ok(p)
}

/// Parses one arXiv metadata line into a paper (LaTeX cleaned for display, kept searchable).
pub fn parse_arxiv_line(line: &str) -> Result<Paper, String> {
    let rec: ArxivRecord = serde_json::from_str(line).map_err(|e| format!("invalid JSON: {e}"))?;
    let raw_id = rec.id.unwrap_or_default();
    let (id, version) = canonical_arxiv_id(&raw_id);
    if id.is_empty() {
        return Err("record without \"id\"".into());
    }
    if let Some(why) = PaperId::problem(&id) {
        return Err(format!("record \"id\": {why}"));
    }
    let mut p = arxiv_paper(
        &id,
        version,
        rec.title.as_deref().unwrap_or(""),
        rec.abstract_text.as_deref().unwrap_or(""),
    );
    if p.title.is_empty() && p.abstract_text.is_empty() {
        return Err(format!("record {id:?} has neither title nor abstract"));
    }
    let published = match rec.listing_file_date.as_deref() {
        None | Some("") => None,
        Some(s) => Some(parse_date(s).ok_or_else(|| format!("record {id:?}: bad date {s:?}"))?),
    };
    p.authors = rec
        .authors
        .iter()
        .map(|a| clean_latex(a).0)
        .filter(|a| !a.is_empty())
        .collect();
    p.categories = rec
        .categories
        .into_iter()
        .filter(|c| is_arxiv_category(c))
        .collect();
    p.published = published;
    p.updated = published;
    p.comment = rec
        .comment
        .map(|c| collapse_whitespace(&c))
        .filter(|c| !c.is_empty());
    p.doi = rec.doi.filter(|d| !d.trim().is_empty());
    p.journal_ref = rec.journal_ref.filter(|j| !j.trim().is_empty());
    Ok(p)
}

fn progress_bar(path: &Path, show: bool) -> ProgressBar {
    if !show {
        return ProgressBar::hidden();
    }
    let len = std::fs::metadata(path).map(|m| m.len()).unwrap_or(0);
    let bar = ProgressBar::new(len);
    bar.set_style(
        ProgressStyle::with_template(
            "{spinner} importing [{bar:30}] {bytes}/{total_bytes} {msg} ({elapsed}, eta {eta})",
        )
        .unwrap_or_else(|_| ProgressStyle::default_bar())
        .progress_chars("=> "),
    );
    bar
}

/// Papers upserted (and embedded) per batch.
pub const BATCH: usize = 256;

/// Imports a JSONL corpus file into the index (upsert by id), then commits once.
///
/// With an `embedder`, every paper gets a vector: reused from the index when the paper's title
/// and abstract are unchanged, computed in bounded chunks otherwise. Returns an error only for
/// I/O failures, embedding failures, or when not a single record could be imported.
pub fn import_file(
    index: &PaperIndex,
    path: &Path,
    opts: &ImportOptions,
    embedder: Option<&mut dyn Embedder>,
) -> Result<ImportReport, ImportError> {
    if let Some(e) = embedder.as_deref() {
        index.claim_embedding_model(e.id())?;
    }
    let bar = progress_bar(path, opts.progress);
    let mut sink = IndexSink {
        index,
        writer: index.writer()?,
    };
    let mut report = import_records(&mut sink, path, opts, embedder, &bar)?;
    bar.set_message(format!("{} papers, committing", report.imported));
    sink.writer.commit()?;
    sink.writer.wait_merging_threads()?;
    index.reload()?;
    bar.finish_and_clear();
    report.total_papers = index.num_papers();
    Ok(report)
}

/// Imports a JSONL corpus file into the Milvus collection of `store` (upsert by id), as
/// [`import_file`] does into the index. Milvus has no transaction: each acknowledged batch
/// has landed, and an interrupted import can be run again (unchanged papers keep their
/// vectors).
pub fn import_file_milvus(
    store: &MilvusStore,
    path: &Path,
    opts: &ImportOptions,
    embedder: Option<&mut dyn Embedder>,
) -> Result<ImportReport, ImportError> {
    if let Some(e) = embedder.as_deref() {
        store.check_model(e.id())?;
    }
    let bar = progress_bar(path, opts.progress);
    let mut sink = MilvusSink { store };
    let mut report = import_records(&mut sink, path, opts, embedder, &bar)?;
    bar.set_message(format!("{} papers, flushing", report.imported));
    store.flush();
    bar.finish_and_clear();
    report.total_papers = store.counts()?.papers;
    Ok(report)
}

/// Where an import writes its batches.
trait Sink {
    /// For each paper, the vector already stored for it if its title and abstract are
    /// unchanged (`None` for all when the store holds no vectors).
    fn kept_vectors(&self, papers: &[Paper]) -> Result<Vec<Option<Vec<f32>>>, ImportError>;
    /// Upserts the papers with their vectors; returns the papers refused, with why.
    fn put(
        &mut self,
        papers: Vec<(Paper, Option<Vec<f32>>)>,
    ) -> Result<Vec<(PaperId, String)>, ImportError>;
}

struct IndexSink<'a> {
    index: &'a PaperIndex,
    writer: PaperWriter,
}

impl Sink for IndexSink<'_> {
    fn kept_vectors(&self, papers: &[Paper]) -> Result<Vec<Option<Vec<f32>>>, ImportError> {
        if self.index.embedding_model().is_none() {
            return Ok(vec![None; papers.len()]);
        }
        existing_vectors(self.index, papers)
    }

    fn put(
        &mut self,
        papers: Vec<(Paper, Option<Vec<f32>>)>,
    ) -> Result<Vec<(PaperId, String)>, ImportError> {
        for (p, v) in papers {
            self.writer.upsert_with_vector(&p, v.as_deref())?;
        }
        Ok(Vec::new())
    }
}

struct MilvusSink<'a> {
    store: &'a MilvusStore,
}

impl Sink for MilvusSink<'_> {
    fn kept_vectors(&self, papers: &[Paper]) -> Result<Vec<Option<Vec<f32>>>, ImportError> {
        let ids: Vec<PaperId> = papers.iter().map(|p| p.id.clone()).collect();
        let mut stored: std::collections::HashMap<String, _> = self
            .store
            .get(&ids)?
            .into_iter()
            .map(|s| (crate::index::milvus::key(&s.paper.id), s))
            .collect();
        Ok(papers
            .iter()
            .map(|p| {
                stored
                    .remove(&crate::index::milvus::key(&p.id))
                    .filter(|s| s.same_text(p))
                    .and_then(|s| s.vector)
            })
            .collect())
    }

    fn put(
        &mut self,
        papers: Vec<(Paper, Option<Vec<f32>>)>,
    ) -> Result<Vec<(PaperId, String)>, ImportError> {
        Ok(self.store.upsert(&papers)?)
    }
}

/// Reads the records of `path` into `sink` batch by batch, counting what it did.
fn import_records(
    sink: &mut dyn Sink,
    path: &Path,
    opts: &ImportOptions,
    mut embedder: Option<&mut dyn Embedder>,
    bar: &ProgressBar,
) -> Result<ImportReport, ImportError> {
    let reader = open_maybe_gz(path, bar.clone())?;
    let mut report = ImportReport::default();
    let path_buf: PathBuf = path.to_path_buf();
    let mut batch: Vec<Paper> = Vec::with_capacity(BATCH);
    let mut lineno = 0u64;
    let mut lines = reader.lines();
    loop {
        let line = lines.next();
        let done = line.is_none();
        if let Some(line) = line {
            lineno += 1;
            let line = line.map_err(|source| ImportError::Read {
                path: path_buf.clone(),
                line: lineno,
                source,
            })?;
            if line.trim().is_empty() {
                continue;
            }
            report.records += 1;
            let parsed = match opts.format {
                Format::Beir => parse_beir_line(&line, &opts.beir_source),
                Format::ArxivJsonl => parse_arxiv_line(&line),
            };
            match parsed {
                Ok(paper) => batch.push(paper),
                Err(reason) => {
                    report.skipped += 1;
                    if report.errors.len() < MAX_REPORTED_ERRORS {
                        report
                            .errors
                            .push(format!("{}:{lineno}: {reason}", path.display()));
                    }
                }
            }
        }
        if batch.len() >= BATCH || (done && !batch.is_empty()) {
            let written = write_batch(sink, &mut batch, &mut embedder)?;
            report.imported += written.imported;
            report.embedded += written.embedded;
            for (id, why) in written.refused {
                report.skipped += 1;
                if report.errors.len() < MAX_REPORTED_ERRORS {
                    report
                        .errors
                        .push(format!("{}: paper {id}: {why}", path.display()));
                }
            }
            bar.set_message(format!(
                "{} papers, {} embedded",
                report.imported, report.embedded
            ));
        }
        if done {
            break;
        }
    }
    if report.imported == 0 {
        bar.abandon();
        return Err(ImportError::NothingImported {
            path: path_buf,
            bad: report.skipped,
            first_error: report
                .errors
                .first()
                .cloned()
                .unwrap_or_else(|| "the file has no records".into()),
        });
    }
    Ok(report)
}

/// What one batch did.
struct Written {
    imported: u64,
    embedded: u64,
    refused: Vec<(PaperId, String)>,
}

/// Upserts a batch, embedding what needs it: papers whose text is unchanged keep their stored
/// vector; without an embedder, the others are written without one (they lose a vector that
/// described the old text; `embed` fills them in later).
fn write_batch(
    sink: &mut dyn Sink,
    batch: &mut Vec<Paper>,
    embedder: &mut Option<&mut dyn Embedder>,
) -> Result<Written, ImportError> {
    let mut vectors = sink.kept_vectors(batch)?;
    let mut embedded = 0;
    if let Some(embedder) = embedder.as_mut() {
        let todo: Vec<usize> = (0..batch.len()).filter(|&i| vectors[i].is_none()).collect();
        let texts: Vec<String> = todo
            .iter()
            .map(|&i| passage_text(&batch[i].title, &batch[i].abstract_text))
            .collect();
        let computed = embedder
            .embed_passages(&texts)
            .map_err(ImportError::Embed)?;
        embedded = computed.len() as u64;
        for (i, v) in todo.into_iter().zip(computed) {
            vectors[i] = Some(v);
        }
    }
    let n = batch.len() as u64;
    let refused = sink.put(batch.drain(..).zip(vectors).collect())?;
    Ok(Written {
        imported: n - refused.len() as u64,
        embedded,
        refused,
    })
}

/// For each paper, the vector already stored for it if its title and abstract are unchanged.
fn existing_vectors(
    index: &PaperIndex,
    papers: &[Paper],
) -> Result<Vec<Option<Vec<f32>>>, ImportError> {
    let searcher = index.reader().searcher();
    let mut out = Vec::with_capacity(papers.len());
    for p in papers {
        let kept = index
            .stored(&searcher, &p.id)?
            .filter(|s| s.same_text(p))
            .and_then(|s| s.vector);
        out.push(kept);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arxiv_line_is_normalized() {
        let line = r#"{"id": "1804.06498", "title": "Deep  Multimodal\nClustering", "authors": ["A B"], "categories": ["cs.LG", "cs.AI", "68T45, 62H30"], "comment": null, "abstract": "We use $\\alpha$-divergence\nhere.", "listing_file_date": "2026-06-16"}"#;
        let p = parse_arxiv_line(line).expect("valid record");
        assert_eq!(p.id.as_str(), "1804.06498");
        assert_eq!(p.title, "Deep Multimodal Clustering");
        assert_eq!(p.abstract_text, "We use α-divergence here.");
        assert_eq!(p.search_extra, "alpha");
        assert_eq!(p.categories, vec!["cs.LG", "cs.AI"]);
        assert_eq!(
            p.published.map(crate::paper::format_date).as_deref(),
            Some("2026-06-16")
        );
        assert_eq!(p.url.as_deref(), Some("https://arxiv.org/abs/1804.06498"));
    }

    #[test]
    fn bad_lines_are_errors_not_panics() {
        assert!(parse_arxiv_line("{not json").is_err());
        assert!(parse_arxiv_line(r#"{"title": "x"}"#)
            .unwrap_err()
            .contains("without"));
        assert!(parse_arxiv_line(r#"{"id": "1", "title": "", "abstract": " "}"#).is_err());
        assert!(parse_arxiv_line(
            r#"{"id": "1", "title": "t", "listing_file_date": "2026-13-01"}"#
        )
        .unwrap_err()
        .contains("bad date"));
        assert!(parse_beir_line(r#"{"_id": "", "title": "t"}"#, "beir").is_err());
        assert!(parse_beir_line(r#"{"_id": 42, "title": "t"}"#, "beir").is_ok());
        assert!(parse_beir_line("[]", "beir").is_err());
        let no_cats =
            parse_arxiv_line(r#"{"id": "1", "title": "t", "categories": null, "authors": null}"#)
                .expect("null lists are empty lists");
        assert!(no_cats.categories.is_empty() && no_cats.authors.is_empty());
    }
}
