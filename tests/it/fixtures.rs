//! The fixtures every test module shares: committed captures under `tests/fixtures/`, the shared
//! datasets (skipped with a printed reason when absent), fixture indexes, and reference counts.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

use academichub::embed::{Embedder, HashEmbedder};
use academichub::ingest::{import_file, Format, ImportOptions};
use academichub::search::Facets;
use academichub::PaperIndex;
use tantivy::collector::DocSetCollector;
use tantivy::query::Query;
pub fn fixture(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(rel)
}

/// The shared datasets directory, or `None` (with the reason printed) when it is absent.
pub fn datasets(test: &str) -> Option<PathBuf> {
    let dir = std::env::var_os("ACADEMICHUB_DATASETS")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/datasets"));
    if dir.join("README.md").exists() {
        Some(dir)
    } else {
        eprintln!(
            "SKIPPED {test}: datasets not found at {} (set ACADEMICHUB_DATASETS)",
            dir.display()
        );
        None
    }
}

/// The committed CC-CEDICT excerpt, loaded once.
pub fn dictionary() -> &'static academichub::search::translate::Dictionary {
    static DICT: std::sync::OnceLock<academichub::search::translate::Dictionary> =
        std::sync::OnceLock::new();
    DICT.get_or_init(|| {
        academichub::search::translate::Dictionary::load(&fixture("cedict-mini.txt"))
            .expect("tests/fixtures/cedict-mini.txt loads")
    })
}

/// Makes the committed CC-CEDICT excerpt the process's dictionary of query translation (the
/// fixture indexes call it, so searches in this test binary never read the cache).
pub fn install_dictionary() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let dict = academichub::search::translate::Dictionary::load(&fixture("cedict-mini.txt"))
            .expect("tests/fixtures/cedict-mini.txt loads");
        academichub::search::translate::install(dict);
    });
}

/// A fresh index in a temp dir with one fixture file imported.
pub fn index_with(format: Format, rel: &str) -> (tempfile::TempDir, PaperIndex) {
    install_dictionary();
    let dir = tempfile::tempdir().expect("temp dir");
    let index = PaperIndex::open_or_create(&dir.path().join("idx")).expect("create index");
    let mut opts = ImportOptions::new(format);
    opts.progress = false;
    import_file(&index, &fixture(rel), &opts, None).expect("import fixture");
    (dir, index)
}

/// A temp index of the 250-paper arXiv capture; with `vectors`, every paper embedded by
/// `HashEmbedder` (64 dims).
pub fn fixture_index(vectors: bool) -> (tempfile::TempDir, Arc<PaperIndex>) {
    install_dictionary();
    let dir = tempfile::tempdir().unwrap();
    let index = PaperIndex::open_or_create(&dir.path().join("idx")).unwrap();
    let mut opts = ImportOptions::new(Format::ArxivJsonl);
    opts.progress = false;
    let mut e = HashEmbedder::new(64);
    let embedder: Option<&mut dyn Embedder> = if vectors { Some(&mut e) } else { None };
    import_file(&index, &fixture("arxiv-mini.jsonl"), &opts, embedder).unwrap();
    index.reload().unwrap();
    (dir, Arc::new(index))
}

/// The gzipped arXiv capture imported with hashed-trigram vectors (64 dims), and the embedder.
pub fn embedded_fixture() -> (tempfile::TempDir, PaperIndex, HashEmbedder) {
    let dir = tempfile::tempdir().unwrap();
    let index = PaperIndex::open_or_create(&dir.path().join("idx")).unwrap();
    let mut e = HashEmbedder::new(64);
    let mut o = ImportOptions::new(Format::ArxivJsonl);
    o.progress = false;
    let r = import_file(&index, &fixture("arxiv-mini.jsonl.gz"), &o, Some(&mut e)).unwrap();
    assert_eq!((r.imported, r.embedded), (250, 250));
    (dir, index, e)
}

/// The reference for facet counts: every document `query` matches, loaded from the store (not
/// the fast fields the engine counts from) and counted by its paper's source and primary
/// category.
pub fn stored_facets(index: &PaperIndex, query: &dyn Query) -> Facets {
    let searcher = index.reader().searcher();
    let docs = searcher.search(query, &DocSetCollector).unwrap();
    let mut by_source: BTreeMap<String, u64> = BTreeMap::new();
    let mut by_category: BTreeMap<String, u64> = BTreeMap::new();
    for addr in &docs {
        let paper = index.paper_at(&searcher, *addr).unwrap();
        *by_source.entry(paper.source.clone()).or_default() += 1;
        if let Some(c) = paper.primary_category() {
            *by_category.entry(c.to_string()).or_default() += 1;
        }
    }
    Facets {
        count: docs.len() as u64,
        by_source,
        by_primary_category: by_category,
        ..Facets::default()
    }
}

/// The longest a held reply waits for its release: a client that never gives up then gets the
/// held answer and its test fails, instead of hanging.
pub const HOLD_LIMIT: Duration = Duration::from_secs(60);

/// A stall the test controls, instead of a sleep: a stub holds a reply (connection open,
/// nothing sent) at the gate until the test drops the matching [`Release`], or [`HOLD_LIMIT`].
#[derive(Clone)]
pub struct Gate(Arc<(Mutex<bool>, Condvar)>);

/// Opens its gate when dropped: at the end of the test, or while a failing test unwinds.
pub struct Release(Gate);

/// A closed gate and the handle that opens it.
pub fn gate() -> (Gate, Release) {
    let g = Gate(Arc::default());
    (g.clone(), Release(g))
}

impl Gate {
    /// Blocks until the gate is opened, or [`HOLD_LIMIT`] has passed.
    pub fn wait(&self) {
        let (open, cv) = &*self.0;
        let open = open.lock().unwrap_or_else(|p| p.into_inner());
        let _ = cv.wait_timeout_while(open, HOLD_LIMIT, |open| !*open);
    }
}

impl Drop for Release {
    fn drop(&mut self) {
        let (open, cv) = &*(self.0).0;
        *open.lock().unwrap_or_else(|p| p.into_inner()) = true;
        cv.notify_all();
    }
}

/// A TCP port free on loopback now (for a test's own server).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .expect("bind a loopback port")
        .local_addr()
        .expect("its address")
        .port()
}

/// The venv `scripts/test-tools` fills (`<cache>/test-venv`: `ACADEMICHUB_CACHE`, else
/// `$XDG_CACHE_HOME/academichub`, else `~/.cache/academichub`).
pub fn test_venv() -> Option<PathBuf> {
    let cache = std::env::var_os("ACADEMICHUB_CACHE")
        .map(PathBuf::from)
        .or_else(|| {
            std::env::var_os("XDG_CACHE_HOME").map(|x| PathBuf::from(x).join("academichub"))
        })
        .or_else(|| {
            std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache/academichub"))
        })?;
    Some(cache.join("test-venv"))
}
