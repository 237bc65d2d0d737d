//! The Milvus backend against a real Milvus server on loopback: milvus-lite from PyPI (the venv
//! of `scripts/test-tools`, or the `milvus-lite` named by `ACADEMICHUB_MILVUS_LITE`), started per
//! test on a free port. Skipped, saying so, when it is not installed.

use std::collections::BTreeMap;
use std::io::Write;
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use academichub::embed::{Embedder, HashEmbedder};
use academichub::index::milvus::{MilvusConfig, MilvusError, MilvusStore};
use academichub::ingest::{
    copy_into, embed_missing_milvus, import_file_milvus, CopySource, Format, ImportError,
    ImportOptions,
};
use academichub::search::{Mode, QueryVector, SearchRequest};
use academichub::{PaperId, QueryEngine, QueryError};

use crate::fixtures::{embedded_fixture, fixture, free_port};

/// A milvus-lite server on loopback, killed when dropped.
struct Lite {
    child: Child,
    port: u16,
    data: PathBuf,
    exe: PathBuf,
}

impl Drop for Lite {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn lite_exe() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("ACADEMICHUB_MILVUS_LITE") {
        return Some(PathBuf::from(p));
    }
    Some(crate::fixtures::test_venv()?.join("bin/milvus-lite")).filter(|p| p.exists())
}

fn spawn(exe: &Path, data: &Path, port: u16) -> Result<Child, String> {
    let child = Command::new(exe)
        .args(["server", "--data-dir"])
        .arg(data)
        .args(["--host", "127.0.0.1", "--port"])
        .arg(port.to_string())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| format!("cannot start {}: {e}", exe.display()))?;
    let started = Instant::now();
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        if started.elapsed() > Duration::from_secs(60) {
            return Err("milvus-lite did not listen within 60 s".into());
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    Ok(child)
}

/// A fresh server, or why there is none (the test then skips, printing it).
fn lite(dir: &Path) -> Option<Lite> {
    let Some(exe) = lite_exe() else {
        eprintln!("skipped: no milvus-lite (run scripts/test-tools; make test does)");
        return None;
    };
    let data = dir.join("milvus");
    std::fs::create_dir_all(&data).unwrap();
    let port = free_port();
    match spawn(&exe, &data, port) {
        Ok(child) => Some(Lite {
            child,
            port,
            data,
            exe,
        }),
        Err(why) => {
            eprintln!("skipped: {why}");
            None
        }
    }
}

impl Lite {
    fn config(&self, collection: &str) -> MilvusConfig {
        MilvusConfig {
            uri: format!("http://127.0.0.1:{}", self.port),
            collection: collection.into(),
            timeout_ms: 3_000,
            // Exact, so dense results can be compared with the index's exact scan.
            vector_index: "FLAT".into(),
            ..MilvusConfig::default()
        }
    }

    /// Kills the server and starts it again on the same data and port.
    fn restart(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        self.child = spawn(&self.exe, &self.data, self.port).unwrap();
    }
}

fn opts() -> ImportOptions {
    let mut o = ImportOptions::new(Format::ArxivJsonl);
    o.progress = false;
    o
}

fn request(q: &str, mode: Mode, v: Option<QueryVector>) -> SearchRequest {
    let mut r = SearchRequest::new(q);
    r.mode = mode;
    r.query_vector = v;
    r
}

/// The embedded fixture (250 papers with hash vectors) in an index and, with the same vectors,
/// in the Milvus collection `collection` (flushed).
fn fixture_on_both(
    server: &Lite,
    collection: &str,
) -> (
    tempfile::TempDir,
    academichub::PaperIndex,
    HashEmbedder,
    MilvusStore,
) {
    let (d, index, mut e) = embedded_fixture();
    let store = MilvusStore::open_or_create(&server.config(collection), e.id()).unwrap();
    let r = import_file_milvus(
        &store,
        &fixture("arxiv-mini.jsonl.gz"),
        &opts(),
        Some(&mut e),
    )
    .unwrap();
    assert_eq!((r.imported, r.embedded, r.total_papers), (250, 250, 250));
    store.flush();
    (d, index, e, store)
}

fn ids(res: &academichub::SearchResults) -> Vec<String> {
    res.hits.iter().map(|h| h.paper.id.to_string()).collect()
}

#[test]
fn milvus_ranks_filters_and_fuses_like_the_index() {
    let dir = tempfile::tempdir().unwrap();
    let Some(server) = lite(dir.path()) else {
        return;
    };
    let (_d, index, mut e, store) = fixture_on_both(&server, "papers");
    assert_eq!(store.counts().unwrap().with_vectors, 250);
    let engine = QueryEngine::new(&index);

    // BM25: the paper that names the words ranks first on both backends.
    for (q, first) in [
        ("Romanian parliamentary speech corpus", "2606.15984"),
        (
            "how to evaluate long-form simultaneous speech translation?",
            "2606.15059",
        ),
    ] {
        let m = academichub::search::milvus::search(&store, &request(q, Mode::Bm25, None)).unwrap();
        assert_eq!(ids(&m)[0], first, "{q}: milvus {:?}", ids(&m));
        let t = engine.search(&request(q, Mode::Bm25, None)).unwrap();
        assert_eq!(ids(&t)[0], first, "{q}: tantivy {:?}", ids(&t));
        assert!(m.total > 10, "{q}: {}", m.total);
        // Snippets from the stored text, with the same highlighter: the title names "speech".
        let title = &m.hits[0].title_snippet;
        assert!(title
            .highlights
            .iter()
            .any(|h| title.text[h.clone()].eq_ignore_ascii_case("speech")));
    }

    // The collection holds the index's terms, so a word matches its other forms there as on
    // the index ("segmenting" finds "segmentation", "LLMs" "LLM"): the same papers rank first.
    for q in [
        "segmenting medical images",
        "LLMs reasoning",
        "learned graph networks",
    ] {
        let m = academichub::search::milvus::search(&store, &request(q, Mode::Bm25, None)).unwrap();
        let t = engine.search(&request(q, Mode::Bm25, None)).unwrap();
        let (m, t) = (ids(&m), ids(&t));
        assert_eq!(m[..3], t[..3], "{q}");
        let shared = m.iter().filter(|id| t.contains(id)).count();
        assert!(shared >= 9, "{q}: {shared} of 10 shared");
    }

    // An empty query lists every paper passing the filters, as the index does.
    let mut r = request("", Mode::Bm25, None);
    r.filters.categories = vec!["cs.CV".into()];
    r.k = 5;
    let m = academichub::search::milvus::search(&store, &r).unwrap();
    let t = engine.search(&r).unwrap();
    assert_eq!((m.total, m.hits.len()), (t.total, 5));
    assert!(m
        .hits
        .iter()
        .all(|h| h.paper.categories.contains(&"cs.CV".to_string())));

    // Probing words in one request gives what probing each does: a rarer word scores higher,
    // a word no paper holds nothing.
    let words: Vec<String> = ["speech", "romanian", "zzqxjunkword", "the"]
        .iter()
        .map(|w| w.to_string())
        .collect();
    let all = store.probe_all(&words).unwrap();
    let each: Vec<Option<f32>> = words.iter().map(|w| store.probe(w).unwrap()).collect();
    assert_eq!(all.len(), 4);
    for (a, b) in all.iter().zip(&each) {
        assert_eq!(a.is_some(), b.is_some(), "{all:?} {each:?}");
        if let (Some(a), Some(b)) = (a, b) {
            assert!((a - b).abs() < 1e-4, "{all:?} {each:?}");
        }
    }
    assert!(all[2].is_none());
    assert!(all[1].unwrap() > all[0].unwrap(), "{all:?}");

    // Facets count the ranked candidates (the BM25 leg ranks 100 deep, here the 100 hits),
    // and the response says so; the total is then a lower bound, and it says so too.
    let mut r = request("language models for reasoning", Mode::Bm25, None);
    r.k = 100;
    r.facets = true;
    let m = academichub::search::milvus::search(&store, &r).unwrap();
    let f = m.facets.as_ref().expect("facets asked for");
    assert_eq!((f.count, m.hits.len(), m.total), (100, 100, 100));
    let mut by_category = std::collections::BTreeMap::new();
    for h in &m.hits {
        *by_category
            .entry(h.paper.categories[0].clone())
            .or_insert(0u64) += 1;
    }
    assert_eq!(f.by_primary_category, by_category);
    assert_eq!(f.by_source.get("arxiv"), Some(&100));
    for said in ["100 best-ranked papers", "more match"] {
        assert!(
            m.warnings.iter().any(|w| w.contains(said)),
            "{said}: {:?}",
            m.warnings
        );
    }

    // Dense with filters: the same papers, in the same order, as the index's exact scan.
    let v = e.embed_query("image segmentation").unwrap();
    for (categories, from) in [
        (vec![], None),
        (vec!["cs.CV".to_string()], None),
        (
            vec!["cs.CL".to_string(), "cs.LG".to_string()],
            time::Date::from_calendar_date(2026, time::Month::June, 1).ok(),
        ),
    ] {
        let mut r = request(
            "image segmentation",
            Mode::Dense,
            Some(QueryVector::Ready(v.clone())),
        );
        r.k = 20;
        r.filters.categories = categories.clone();
        r.filters.from = from;
        let m = academichub::search::milvus::search(&store, &r).unwrap();
        let t = engine.search(&r).unwrap();
        assert_eq!(ids(&m), ids(&t), "filters {categories:?} {from:?}");
        assert_eq!(m.total, t.total, "filters {categories:?} {from:?}");
        for (a, b) in m.hits.iter().zip(&t.hits) {
            assert!(
                (a.score - b.score).abs() < 1e-3,
                "{} vs {}",
                a.score,
                b.score
            );
        }
        assert!(!m.hits.is_empty());
    }

    // Hybrid: AcademicHub's fusion over the two legs Milvus ran.
    let q = "Romanian parliamentary speech corpus";
    let v = e.embed_query(q).unwrap();
    let m = academichub::search::milvus::search(
        &store,
        &request(q, Mode::Hybrid, Some(QueryVector::Ready(v))),
    )
    .unwrap();
    assert_eq!(m.mode, Mode::Hybrid);
    assert_eq!(ids(&m)[0], "2606.15984");
    let s = &m.hits[0].sources;
    assert_eq!(s.bm25_rank, Some(1));
    assert!(s.dense_rank.is_some() && s.fused_score.is_some());
    assert_eq!(m.ranked_by_meaning, Some(250));
}

#[test]
fn upsert_delete_and_reimport_keep_the_collection_right() {
    let dir = tempfile::tempdir().unwrap();
    let Some(server) = lite(dir.path()) else {
        return;
    };
    let mut e = HashEmbedder::new(64);
    let config = server.config("writes");
    let store = MilvusStore::open_or_create(&config, e.id()).unwrap();
    let path = fixture("arxiv-mini.jsonl.gz");
    import_file_milvus(&store, &path, &opts(), Some(&mut e)).unwrap();
    // Again, without a model: unchanged papers keep their vectors, nothing is duplicated.
    let again = import_file_milvus(&store, &path, &opts(), None).unwrap();
    assert_eq!((again.imported, again.total_papers), (250, 250));
    let c = store.counts().unwrap();
    assert_eq!((c.papers, c.with_vectors), (250, 250));

    // A changed abstract loses its vector (it described the old text); the embedder's work
    // list names it.
    let id = PaperId::new("2606.15984");
    let mut p = store.papers(std::slice::from_ref(&id)).unwrap().remove(0);
    p.abstract_text.push_str(" Revised.");
    assert!(store.upsert(&[(p.clone(), None)]).unwrap().is_empty());
    assert_eq!(store.counts().unwrap().with_vectors, 249);
    let todo = store.without_vectors(10).unwrap();
    assert_eq!(todo.len(), 1);
    assert_eq!(todo[0].abstract_text, p.abstract_text);
    let stored = store.get(std::slice::from_ref(&id)).unwrap();
    assert!(stored[0].vector.is_none() && stored[0].same_text(&p));

    // Ids match case-insensitively, as in the index; deleting counts what was there.
    let gone = [
        PaperId::new("2606.15984"),
        PaperId::new("2606.15059"),
        PaperId::new("no-such"),
    ];
    let mut upper = p.clone();
    upper.id = PaperId::new("2606.15984".to_uppercase());
    assert_eq!(
        store.papers(std::slice::from_ref(&upper.id)).unwrap().len(),
        1
    );
    assert_eq!(store.delete(&gone).unwrap(), 2);
    assert_eq!(store.counts().unwrap().papers, 248);
    let m = academichub::search::milvus::search(
        &store,
        &request("Romanian parliamentary speech corpus", Mode::Bm25, None),
    )
    .unwrap();
    assert!(!ids(&m).contains(&"2606.15984".to_string()));

    // A paper too long for a Milvus VarChar is refused with its reason; the rest lands.
    let mut long = p.clone();
    long.id = PaperId::new("too-long");
    long.abstract_text = "word ".repeat(20_000);
    let refused = store.upsert(&[(long, None), (p, None)]).unwrap();
    assert_eq!(refused.len(), 1);
    assert!(refused[0].1.contains("65535"), "{}", refused[0].1);
    assert_eq!(store.counts().unwrap().papers, 249);
}

/// Every paper of `store` with its vector, by id, read a few at a time.
fn scanned(store: &MilvusStore, limit: usize) -> BTreeMap<String, Option<Vec<f32>>> {
    let mut all = BTreeMap::new();
    store
        .scan_in(limit, |rows| {
            for r in rows {
                let first = all.insert(r.paper.id.to_string(), r.vector).is_none();
                assert!(first, "{} read twice", r.paper.id);
            }
            Ok::<_, MilvusError>(())
        })
        .unwrap();
    all
}

#[test]
fn copy_moves_an_index_or_a_collection_with_its_vectors() {
    let dir = tempfile::tempdir().unwrap();
    let Some(server) = lite(dir.path()) else {
        return;
    };
    let (_d, index, e) = embedded_fixture();
    let searcher = index.reader().searcher();
    let vector_of = |id: &str| {
        index
            .stored(&searcher, &PaperId::new(id))
            .unwrap()
            .unwrap()
            .vector
            .unwrap()
    };

    // Index -> collection: every paper with the vector it has, nothing embedded again.
    let moved = MilvusStore::open_or_create(&server.config("moved"), e.id()).unwrap();
    let r = copy_into(&CopySource::Index(&index), &moved, false).unwrap();
    assert_eq!(
        (r.read, r.copied, r.with_vectors, r.refused, r.total_papers),
        (250, 250, 250, 0, 250)
    );
    // Read back in requests of at most 2 papers: shard ranges and single shards split by
    // content hash, each paper once.
    let all = scanned(&moved, 2);
    assert_eq!(all.len(), 250);
    for (id, v) in &all {
        assert_eq!(v.as_ref(), Some(&vector_of(id)), "{id}");
    }
    // It ranks as the index does: BM25 by the words, dense by the copied vectors.
    let m = academichub::search::milvus::search(
        &moved,
        &request("Romanian parliamentary speech corpus", Mode::Bm25, None),
    )
    .unwrap();
    assert_eq!(ids(&m)[0], "2606.15984");
    assert_eq!(
        moved.dense(&vector_of("2606.15059"), "", 1).unwrap()[0].0,
        PaperId::new("2606.15059")
    );

    // Collection -> collection (how a collection of an earlier layout is written again), run
    // twice: upserts, so the second run changes nothing.
    let source = MilvusStore::open_to_read(&server.config("moved")).unwrap();
    let copied = MilvusStore::open_or_create(&server.config("copied"), e.id()).unwrap();
    for _ in 0..2 {
        let r = copy_into(&CopySource::Milvus(&source), &copied, false).unwrap();
        assert_eq!(
            (r.read, r.copied, r.with_vectors, r.total_papers),
            (250, 250, 250, 250)
        );
    }
    assert_eq!(scanned(&copied, 1_000), all);

    // Vectors of another model are refused before anything is written, naming both.
    let other =
        MilvusStore::open_or_create(&server.config("other"), HashEmbedder::new(32).id()).unwrap();
    let err = copy_into(&CopySource::Index(&index), &other, false).unwrap_err();
    let msg = err.to_string();
    assert!(
        matches!(err, ImportError::Milvus(MilvusError::Schema { .. }))
            && msg.contains("64 dimensions")
            && msg.contains("32 dimensions"),
        "{msg}"
    );
    assert_eq!(other.counts().unwrap().papers, 0);

    // The command: from the index into a collection it creates for the index's model.
    let config = dir.path().join("academichub.toml");
    std::fs::write(
        &config,
        format!(
            "[index]\nbackend = \"milvus\"\n\n[milvus]\nuri = \"{}\"\ncollection = \"cli_copy\"\n",
            server.config("cli_copy").uri
        ),
    )
    .unwrap();
    let copy = |from: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_academichub"))
            .arg("copy")
            .args(from)
            .args(["--json", "--config"])
            .arg(&config)
            .env_remove("ACADEMICHUB_CONFIG")
            .env_remove("ACADEMICHUB_INDEX")
            .stdin(Stdio::null())
            .output()
            .unwrap()
    };
    let out = copy(&["--from-index", index.dir().to_str().unwrap()]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        (
            &report["copied"],
            &report["with_vectors"],
            &report["total_papers"]
        ),
        (&250.into(), &250.into(), &250.into()),
        "{report}"
    );
    let cli = MilvusStore::open(&server.config("cli_copy")).unwrap();
    assert_eq!(cli.info().model, e.id().name);
    // The target itself as the source is refused, naming it.
    let out = copy(&["--from-collection", "cli_copy"]);
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("same collection \"cli_copy\""),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn embedding_workers_share_one_collection_without_doing_a_paper_twice() {
    let dir = tempfile::tempdir().unwrap();
    let Some(server) = lite(dir.path()) else {
        return;
    };
    let config = server.config("workers");
    let store = MilvusStore::open_or_create(&config, HashEmbedder::new(64).id()).unwrap();
    import_file_milvus(&store, &fixture("arxiv-mini.jsonl.gz"), &opts(), None).unwrap();
    let workers: Vec<_> = (0..3u32)
        .map(|i| {
            let config = config.clone();
            std::thread::spawn(move || {
                let store = MilvusStore::open(&config).unwrap();
                let mut e = HashEmbedder::new(64);
                embed_missing_milvus(&store, &mut e, None, Some((i, 3)), false).unwrap()
            })
        })
        .collect();
    let done: Vec<u64> = workers
        .into_iter()
        .map(|w| w.join().unwrap().embedded)
        .collect();
    assert_eq!(done.iter().sum::<u64>(), 250, "{done:?}");
    assert!(
        done.iter().all(|&n| n > 30),
        "each worker had a share: {done:?}"
    );
    let c = store.counts().unwrap();
    assert_eq!((c.papers, c.with_vectors), (250, 250));
    // Nothing left: another run embeds nothing; a bad worker number is a clear error.
    let mut e = HashEmbedder::new(64);
    assert_eq!(
        embed_missing_milvus(&store, &mut e, None, None, false)
            .unwrap()
            .embedded,
        0
    );
    assert!(store.without_vectors_for(10, Some((3, 3))).is_err());
    // The vectors are the model's: dense search finds a paper by its own text.
    let p = store
        .papers(&[PaperId::new("2606.15984")])
        .unwrap()
        .remove(0);
    let v = e
        .embed_passages(&[academichub::embed::passage_text(&p.title, &p.abstract_text)])
        .unwrap()
        .remove(0);
    assert_eq!(store.dense(&v, "", 1).unwrap()[0].0, p.id);
}

#[test]
fn another_schema_or_dimension_is_a_clear_error_naming_both() {
    let dir = tempfile::tempdir().unwrap();
    let Some(server) = lite(dir.path()) else {
        return;
    };
    let config = server.config("dims");
    MilvusStore::open_or_create(&config, HashEmbedder::new(64).id()).unwrap();
    let err = MilvusStore::open_or_create(&config, HashEmbedder::new(32).id()).unwrap_err();
    let msg = err.to_string();
    assert!(matches!(err, MilvusError::Schema { .. }), "{msg}");
    assert!(
        msg.contains("64 dimensions") && msg.contains("32 dimensions"),
        "{msg}"
    );
    // A collection that does not exist is named, with how to create it.
    let err = MilvusStore::open(&server.config("absent")).unwrap_err();
    assert!(matches!(err, MilvusError::NoCollection { .. }), "{err}");
    assert!(err.to_string().contains("\"absent\""), "{err}");
    // Dropping is idempotent.
    MilvusStore::drop_collection(&config).unwrap();
    MilvusStore::drop_collection(&config).unwrap();
    assert!(matches!(
        MilvusStore::open(&config),
        Err(MilvusError::NoCollection { .. })
    ));
}

#[test]
fn an_unreachable_milvus_is_a_quick_clear_error() {
    let port = free_port();
    let config = MilvusConfig {
        uri: format!("http://127.0.0.1:{port}"),
        timeout_ms: 1_500,
        ..MilvusConfig::default()
    };
    let started = Instant::now();
    let err = MilvusStore::open(&config).unwrap_err();
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "{:?}",
        started.elapsed()
    );
    assert!(err.is_unavailable(), "{err}");
    assert!(err.to_string().contains(&config.uri), "{err}");
    // At the API, a search that meets it answers 503 with a code, to be retried.
    let api = academichub::http::error::ApiError::from(QueryError::Milvus(err));
    assert_eq!(api.status.as_u16(), 503);
    assert_eq!(api.code, "backend_unavailable");
    assert!(api.retry_after.is_some());
}

#[test]
fn killing_milvus_mid_import_fails_the_import_and_loses_nothing_acknowledged() {
    let dir = tempfile::tempdir().unwrap();
    let Some(mut server) = lite(dir.path()) else {
        return;
    };
    // 5,000 distinct papers: the fixture's 250 under 20 id prefixes.
    let big = dir.path().join("big.jsonl");
    let lines: Vec<String> =
        std::io::BufRead::lines(std::io::BufReader::new(flate2::read::MultiGzDecoder::new(
            std::fs::File::open(fixture("arxiv-mini.jsonl.gz")).unwrap(),
        )))
        .map(Result::unwrap)
        .collect();
    let mut f = std::fs::File::create(&big).unwrap();
    for c in 0..20 {
        for line in &lines {
            let mut v: serde_json::Value = serde_json::from_str(line).unwrap();
            let id = format!("c{c}-{}", v["id"].as_str().unwrap());
            v["id"] = serde_json::json!(id);
            writeln!(f, "{v}").unwrap();
        }
    }
    drop(f);
    let config = server.config("killed");
    let store = MilvusStore::open_or_create(&config, HashEmbedder::new(64).id()).unwrap();
    let importer = {
        let (config, big) = (config.clone(), big.clone());
        std::thread::spawn(move || {
            let store = MilvusStore::open(&config).unwrap();
            let mut e = HashEmbedder::new(64);
            let started = Instant::now();
            let r = import_file_milvus(&store, &big, &opts(), Some(&mut e));
            (r, started.elapsed())
        })
    };
    // Kill the server once the first batches have landed.
    let started = Instant::now();
    while store.counts().map_or(0, |c| c.papers) < 512 {
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "import made no progress"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let _ = server.child.kill();
    let (result, took) = importer.join().expect("the import thread does not panic");
    match result {
        Err(ImportError::Milvus(e)) => assert!(e.is_unavailable(), "{e}"),
        other => panic!("expected the import to fail on the dead server, got {other:?}"),
    }
    assert!(took < Duration::from_secs(60), "{took:?}");

    // Back up on the same data: what was acknowledged is there and whole; running the import
    // again completes it.
    server.restart();
    let store = MilvusStore::open(&config).unwrap();
    let before = store.counts().unwrap();
    assert!(before.papers >= 512 && before.papers < 5000, "{before:?}");
    assert_eq!(before.papers, before.with_vectors);
    let mut e = HashEmbedder::new(64);
    let r = import_file_milvus(&store, &big, &opts(), Some(&mut e)).unwrap();
    assert_eq!(r.total_papers, 5000);
    assert_eq!(
        r.embedded,
        5000 - before.papers,
        "acknowledged papers keep their vectors"
    );
    assert_eq!(store.counts().unwrap().with_vectors, 5000);
}

/// Radars on the Milvus backend, through the router, next to a server over the index with
/// the same papers and vectors: a radar is saved in the server's state directory, ranks the
/// collection's papers (the same first paper, mostly the same top ten: Milvus does not stem
/// and keeps BM25 statistics per segment), honours its filters and examples, and its feed,
/// "mark as read", unread papers, digest preview and briefing work as on the index.
#[test]
fn radars_rank_the_collection_like_the_index() {
    use academichub::http::{router, AppState, ServerConfig};
    use academichub::search::Backend;
    use std::sync::Arc;

    let dir = tempfile::tempdir().unwrap();
    let Some(server) = lite(dir.path()) else {
        return;
    };
    let (_d, index, e, store) = fixture_on_both(&server, "radars");
    let state_dir = dir.path().join("state");
    std::fs::create_dir_all(&state_dir).unwrap();
    let config = || ServerConfig {
        token: Some(crate::http::TOKEN.into()),
        ..ServerConfig::default()
    };
    let on_milvus = router(
        AppState::on_backend(
            Backend::Milvus(Arc::new(store.with_state_dir(state_dir.clone()))),
            config(),
        )
        .with_embedder(Box::new(HashEmbedder::new(64))),
    );
    let on_tantivy = router(
        AppState::new(Arc::new(index), config())
            .with_embedder(Box::new(e))
            .open_writer()
            .unwrap(),
    );
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let get = |app: &axum::Router, uri: &str| rt.block_on(crate::http::get(app, uri));
    let post = |app: &axum::Router, uri: &str, body: serde_json::Value| {
        rt.block_on(crate::http::post(
            app,
            uri,
            Some(crate::http::TOKEN),
            body.to_string(),
        ))
    };
    let papers = |v: &serde_json::Value| -> Vec<String> {
        v["papers"]
            .as_array()
            .unwrap_or_else(|| panic!("no papers: {v}"))
            .iter()
            .map(|h| h["id"].as_str().unwrap().to_string())
            .collect()
    };

    let spec = serde_json::json!({"name": "streaming",
        "queries": ["streaming large language models survey", "speech tokens"]});
    let (s, m) = post(&on_milvus, "/api/radars", spec.clone());
    assert_eq!(s.as_u16(), 201, "{m}");
    let (s, t) = post(&on_tantivy, "/api/radars", spec);
    assert_eq!(s.as_u16(), 201, "{t}");
    assert_eq!(m["id"], t["id"]);
    let id = m["id"].as_str().unwrap().to_string();
    // Kept in the state directory: listed, and read back by a store over the same directory.
    let (_, list) = get(&on_milvus, "/api/radars");
    assert_eq!(list["total"], 1, "{list}");
    assert!(academichub::radar::RadarStore::new(&state_dir)
        .get(&id)
        .is_ok());

    let uri = format!("/api/radars/{id}/papers?k=10");
    let (s, m) = get(&on_milvus, &uri);
    assert_eq!(s.as_u16(), 200, "{m}");
    let (_, t) = get(&on_tantivy, &uri);
    assert_eq!(
        (m["mode"].as_str(), t["mode"].as_str()),
        (Some("hybrid"), Some("hybrid"))
    );
    let (pm, pt) = (papers(&m), papers(&t));
    println!("milvus {pm:?}\ntantivy {pt:?}");
    assert_eq!(pm[0], "2603.04592", "{m}");
    assert_eq!(pt[0], "2603.04592");
    let shared = pm.iter().filter(|p| pt.contains(p)).count();
    assert!(shared >= 8, "{shared} of 10 shared: {pm:?} / {pt:?}");
    let reason = &m["papers"][0]["reason"];
    assert!(
        reason["query"]["bm25_rank"].is_u64()
            && reason["text"].as_str().unwrap().contains("bm25 #"),
        "{reason}"
    );

    // A category filter, and a positive example (left out of the results, its closeness
    // explained), on the collection.
    let spec = serde_json::json!({"name": "ai only",
        "queries": ["streaming large language models survey"],
        "filters": {"categories": ["cs.AI"]}, "positive": ["2603.04592"]});
    let (s, r) = post(&on_milvus, "/api/radars", spec);
    assert_eq!(s.as_u16(), 201, "{r}");
    let ai = r["id"].as_str().unwrap().to_string();
    let (s, v) = get(&on_milvus, &format!("/api/radars/{ai}/papers?k=20"));
    assert_eq!(s.as_u16(), 200, "{v}");
    let hits = v["papers"].as_array().unwrap();
    assert!(!hits.is_empty(), "{v}");
    for h in hits {
        assert!(
            h["categories"]
                .as_array()
                .unwrap()
                .iter()
                .any(|c| c == "cs.AI"),
            "{h}"
        );
        assert_ne!(h["id"], "2603.04592");
        assert_eq!(h["reason"]["positive"]["id"], "2603.04592", "{h}");
    }
    // An example the collection lacks is refused before anything is saved.
    let (s, r) = post(
        &on_milvus,
        "/api/radars",
        serde_json::json!({"name": "ghost", "queries": ["x"], "positive": ["0000.00000"]}),
    );
    assert_eq!(
        (s.as_u16(), r["error"]["code"].as_str()),
        (400, Some("unknown_paper")),
        "{r}"
    );

    // Delivery: the feed, "mark as read" (the paper leaves the unread list), the digest
    // preview and a briefing, over the collection.
    // A body that is not JSON (Atom, HTML).
    let text = |uri: String| {
        let (s, _, body) = rt.block_on(crate::http::send(
            &on_milvus,
            axum::http::Request::get(uri)
                .body(axum::body::Body::empty())
                .unwrap(),
        ));
        (s.as_u16(), String::from_utf8(body).unwrap())
    };
    let (s, feed) = text(format!("/api/radars/{id}/feed.atom?days=366"));
    assert_eq!(s, 200, "{feed}");
    assert!(feed.contains("<entry>"), "{feed}");
    let (s, r) = post(
        &on_milvus,
        &format!("/api/radars/{id}/read"),
        serde_json::json!({"ids": ["2603.04592"]}),
    );
    assert_eq!((s.as_u16(), r["marked"].as_u64()), (200, Some(1)), "{r}");
    let (s, v) = get(
        &on_milvus,
        &format!("/api/radars/{id}/papers?k=10&unread=true"),
    );
    assert_eq!(s.as_u16(), 200, "{v}");
    assert!(!papers(&v).contains(&"2603.04592".to_string()), "{v}");
    assert_eq!(v["unread"]["delivered_left_out"], 1, "{v}");
    let (s, html) = text(format!("/api/digest?radar={id}&days=366&lang=en"));
    assert_eq!(s, 200, "{html}");
    assert!(html.contains("<html"), "{html}");
    let (s, b) = get(
        &on_milvus,
        &format!("/api/briefings?radar={id}&lang=en&llm=false&k=5"),
    );
    assert_eq!(s.as_u16(), 200, "{b}");
    assert!(!b["papers"].as_array().unwrap().is_empty(), "{b}");
    // The all-papers briefing reads the newest papers of the collection.
    let (s, b) = get(&on_milvus, "/api/briefings?lang=en&llm=false&k=5");
    assert_eq!(s.as_u16(), 200, "{b}");
    assert_eq!(b["papers"].as_array().unwrap().len(), 5, "{b}");

    // Deleting the radar removes it from the state directory.
    let (s, _, _) = rt.block_on(crate::http::send(
        &on_milvus,
        axum::http::Request::delete(format!("/api/radars/{id}"))
            .header("authorization", format!("Bearer {}", crate::http::TOKEN))
            .body(axum::body::Body::empty())
            .unwrap(),
    ));
    assert_eq!(s.as_u16(), 200);
    let (s, _) = get(&on_milvus, &format!("/api/radars/{id}"));
    assert_eq!(s.as_u16(), 404);
}

/// `serve` on the Milvus backend, through the router: search (every mode), a paper by id,
/// similar papers, `/healthz` and `/metrics` answer from the collection, with the same first
/// papers as a server over the tantivy index; and once Milvus is gone, reads answer 503
/// `backend_unavailable` with Retry-After, quickly.
#[test]
fn the_server_answers_from_milvus_and_503s_when_it_is_gone() {
    use academichub::http::{router, AppState, ServerConfig};
    use academichub::search::Backend;
    use std::sync::Arc;

    let dir = tempfile::tempdir().unwrap();
    let Some(mut server) = lite(dir.path()) else {
        return;
    };
    let (_d, index, e, store) = fixture_on_both(&server, "served");
    let config = ServerConfig {
        token: Some(crate::http::TOKEN.into()),
        ..ServerConfig::default()
    };
    std::fs::create_dir_all(dir.path().join("state")).unwrap();
    let on_milvus = router(
        AppState::on_backend(
            Backend::Milvus(Arc::new(store.with_state_dir(dir.path().join("state")))),
            config,
        )
        .with_embedder(Box::new(HashEmbedder::new(64))),
    );
    let on_tantivy =
        router(AppState::new(Arc::new(index), ServerConfig::default()).with_embedder(Box::new(e)));
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let get = |app: &axum::Router, uri: &str| rt.block_on(crate::http::get(app, uri));
    let first = |v: &serde_json::Value| v["hits"][0]["id"].as_str().unwrap_or("").to_string();

    for (uri, expect) in [
        // Hybrid by default (the model is loaded), as on the tantivy server.
        ("/api/search?q=Romanian+parliamentary+speech+corpus", "2606.15984"),
        (
            "/api/search?q=Romanian+parliamentary+speech+corpus&mode=bm25",
            "2606.15984",
        ),
        (
            "/api/search?q=how+to+evaluate+long-form+simultaneous+speech+translation%3F&mode=bm25&category=cs.CL",
            "2606.15059",
        ),
    ] {
        let (s, m) = get(&on_milvus, uri);
        assert_eq!(s.as_u16(), 200, "{uri}: {m}");
        let (_, t) = get(&on_tantivy, uri);
        assert_eq!(first(&m), expect, "{uri}: {m}");
        assert_eq!(first(&t), expect, "{uri}: tantivy");
        assert_eq!(m["mode"], t["mode"], "{uri}");
        assert!(m["total"].as_u64().unwrap() > 10, "{uri}: {}", m["total"]);
    }
    // Dense with a filter: the same papers in the same order (FLAT is exact).
    let uri = "/api/search?q=image+segmentation&mode=dense&category=cs.CV&k=10";
    let (s, m) = get(&on_milvus, uri);
    assert_eq!(s.as_u16(), 200, "{m}");
    let (_, t) = get(&on_tantivy, uri);
    let page = crate::http::ids;
    assert!(!page(&m).is_empty());
    assert_eq!(page(&m), page(&t));

    // One paper, and its nearest papers: as the index has them.
    let (s, p) = get(&on_milvus, "/api/papers/2606.15984");
    assert_eq!(s.as_u16(), 200, "{p}");
    let (_, q) = get(&on_tantivy, "/api/papers/2606.15984");
    assert_eq!(p["title"], q["title"]);
    assert_eq!(p["has_vector"], true);
    let (s, p) = get(&on_milvus, "/api/papers/0000.00000");
    assert_eq!(
        (s.as_u16(), p["error"]["code"].as_str()),
        (404, Some("paper_not_found"))
    );
    let (s, m) = get(&on_milvus, "/api/papers/2606.15984/similar?k=5");
    assert_eq!(s.as_u16(), 200, "{m}");
    let (_, t) = get(&on_tantivy, "/api/papers/2606.15984/similar?k=5");
    let listed = crate::http::ids;
    assert_eq!(listed(&m).len(), 5, "{m}");
    assert!(!listed(&m).contains(&"2606.15984".to_string()));
    assert_eq!(listed(&m), listed(&t));

    // Health and metrics count the collection.
    let (s, h) = get(&on_milvus, "/healthz");
    assert_eq!(s.as_u16(), 200, "{h}");
    assert_eq!(
        (
            h["backend"].as_str(),
            h["papers"].as_u64(),
            h["with_vectors"].as_u64()
        ),
        (Some("milvus"), Some(250), Some(250))
    );
    let metrics = rt.block_on(async {
        let (_, _, body) = crate::http::send(
            &on_milvus,
            axum::http::Request::get("/metrics")
                .body(axum::body::Body::empty())
                .unwrap(),
        )
        .await;
        String::from_utf8(body).unwrap()
    });
    assert!(
        metrics.contains("academichub_index_papers 250"),
        "{metrics}"
    );
    assert!(metrics.contains("academichub_index_papers_with_vectors 250"));
    assert!(!metrics.contains("academichub_index_size_bytes"));

    // The newest papers: the same dates as the index's list, and one day's papers alike.
    let dates = |v: &serde_json::Value| -> Vec<String> {
        v["hits"]
            .as_array()
            .unwrap()
            .iter()
            .map(|h| h["published"].as_str().unwrap_or("").to_string())
            .collect()
    };
    let (s, m) = get(&on_milvus, "/api/latest?k=5");
    assert_eq!(s.as_u16(), 200, "{m}");
    let (_, t) = get(&on_tantivy, "/api/latest?k=5");
    assert_eq!(dates(&m), dates(&t));
    assert_eq!(m["total"], t["total"]);
    let mut day_m = page(&get(&on_milvus, "/api/latest?date=2026-06-23&k=50").1);
    let mut day_t = page(&get(&on_tantivy, "/api/latest?date=2026-06-23&k=50").1);
    day_m.sort();
    day_t.sort();
    assert_eq!((day_m.len(), day_m), (2, day_t));

    // Writes: POST /api/papers upserts into the collection, embedded at once (no background
    // worker here), searchable on return; unchanged text keeps its vector.
    let post = |body: &serde_json::Value| {
        rt.block_on(crate::http::post(
            &on_milvus,
            "/api/papers",
            Some(crate::http::TOKEN),
            body.to_string(),
        ))
    };
    let paper = serde_json::json!([{"id": "local-1", "title": "Zymurgical transformers",
        "abstract": "Brewing attention over fermentation logs.", "categories": ["cs.LG"]}]);
    let (s, r) = post(&paper);
    assert_eq!(s.as_u16(), 200, "{r}");
    assert_eq!(
        (
            r["upserted"].as_u64(),
            r["created"].as_u64(),
            r["embedded"].as_u64()
        ),
        (Some(1), Some(1), Some(1))
    );
    let (_, v) = get(&on_milvus, "/api/search?q=zymurgical&mode=bm25");
    assert_eq!(first(&v), "local-1", "{v}");
    let mut changed = paper.clone();
    changed[0]["categories"] = serde_json::json!(["cs.CL"]);
    let (s, r) = post(&changed);
    assert_eq!(s.as_u16(), 200, "{r}");
    assert_eq!(
        (
            r["created"].as_u64(),
            r["embedded"].as_u64(),
            r["vectors_kept"].as_u64()
        ),
        (Some(0), Some(0), Some(1))
    );
    let (_, v) = get(
        &on_milvus,
        "/api/search?q=zymurgical&mode=bm25&category=cs.CL",
    );
    assert_eq!(first(&v), "local-1", "{v}");
    // A paper Milvus cannot hold: 400, and nothing of the request is stored.
    let too_long = serde_json::json!([
        {"id": "local-2", "title": "Fine", "abstract": "A short one about zymurgy."},
        {"id": "local-3", "title": "Long", "abstract": "word ".repeat(20_000)}
    ]);
    let (s, r) = post(&too_long);
    assert_eq!(
        (s.as_u16(), r["error"]["code"].as_str()),
        (400, Some("invalid_body")),
        "{r}"
    );
    let (s, _) = get(&on_milvus, "/api/papers/local-2");
    assert_eq!(s.as_u16(), 404);
    let (_, h) = get(&on_milvus, "/healthz");
    assert_eq!(
        (h["papers"].as_u64(), h["writes"].as_bool()),
        (Some(251), Some(true))
    );

    // A radar, kept in the state directory.
    let (s, r) = rt.block_on(crate::http::post(
        &on_milvus,
        "/api/radars",
        Some(crate::http::TOKEN),
        serde_json::json!({"name": "speech", "queries": ["speech translation"]}).to_string(),
    ));
    assert_eq!(s.as_u16(), 201, "{r}");

    // Milvus gone: a quick 503 with a code and Retry-After, never a hang; what lives in the
    // state directory still answers.
    let _ = server.child.kill();
    let _ = server.child.wait();
    let (s, v) = get(&on_milvus, "/api/radars");
    assert_eq!((s.as_u16(), v["total"].as_u64()), (200, Some(1)), "{v}");
    for uri in [
        "/api/search?q=speech+translation&mode=bm25",
        "/api/papers/2606.15984",
        "/api/radars/speech/papers",
        "/healthz",
    ] {
        let started = Instant::now();
        let (s, headers, body) = rt.block_on(crate::http::send(
            &on_milvus,
            axum::http::Request::get(uri)
                .body(axum::body::Body::empty())
                .unwrap(),
        ));
        let v: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(
            (s.as_u16(), v["error"]["code"].as_str()),
            (503, Some("backend_unavailable")),
            "{uri}: {v}"
        );
        assert!(headers.contains_key("retry-after"), "{uri}");
        assert!(
            started.elapsed() < Duration::from_secs(15),
            "{uri}: {:?}",
            started.elapsed()
        );
    }
    let started = Instant::now();
    let (s, r) = post(&paper);
    assert_eq!(
        (s.as_u16(), r["error"]["code"].as_str()),
        (503, Some("backend_unavailable")),
        "{r}"
    );
    assert!(
        started.elapsed() < Duration::from_secs(30),
        "{:?}",
        started.elapsed()
    );
    // Milvus back on the same data: the same server answers again, without a restart, and
    // what it acknowledged is there.
    server.child = spawn(&server.exe, &server.data, server.port).unwrap();
    let started = Instant::now();
    loop {
        let (s, v) = get(&on_milvus, "/api/search?q=zymurgical&mode=bm25");
        if s.as_u16() == 200 {
            assert_eq!(first(&v), "local-1", "{v}");
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "still {s} after Milvus came back: {v}"
        );
        std::thread::sleep(Duration::from_millis(500));
    }
    drop((on_milvus, on_tantivy));
}

/// The `radar`, `briefing` and `digest` commands on a config naming the Milvus backend work on
/// the collection, keeping radars in `--index` (the local state directory `serve` uses).
#[test]
fn radar_commands_work_on_the_collection() {
    let dir = tempfile::tempdir().unwrap();
    let Some(server) = lite(dir.path()) else {
        return;
    };
    let mut mc = server.config("cli_radars");
    mc.vector_index = "AUTOINDEX".into();
    let store = MilvusStore::open_or_create(&mc, HashEmbedder::new(64).id()).unwrap();
    import_file_milvus(&store, &fixture("arxiv-mini.jsonl.gz"), &opts(), None).unwrap();
    store.flush();
    // No paper has a vector: none is ranked by meaning (milvus-lite answers a missing vector
    // with zeros, similarity 0).
    assert!(store.dense(&[0.125; 64], "", 10).unwrap().is_empty());
    let config = dir.path().join("academichub.toml");
    std::fs::write(
        &config,
        format!(
            "[index]\nbackend = \"milvus\"\n\n[milvus]\nuri = \"{}\"\ncollection = \"cli_radars\"\n",
            mc.uri
        ),
    )
    .unwrap();
    let state = dir.path().join("state");
    let run = |args: &[&str]| {
        let out = Command::new(env!("CARGO_BIN_EXE_academichub"))
            .args(args)
            .arg("--config")
            .arg(&config)
            .arg("--index")
            .arg(&state)
            .env_remove("ACADEMICHUB_CONFIG")
            .env_remove("ACADEMICHUB_INDEX")
            // No model here: ranking is BM25-only, and says so.
            .env("ACADEMICHUB_CACHE", dir.path())
            .stdin(Stdio::null())
            .output()
            .unwrap();
        let (stdout, stderr) = (
            String::from_utf8_lossy(&out.stdout).to_string(),
            String::from_utf8_lossy(&out.stderr).to_string(),
        );
        assert!(out.status.success(), "{args:?}: {stdout}{stderr}");
        (stdout, stderr)
    };
    run(&[
        "radar",
        "add",
        "--name",
        "streaming",
        "--query",
        "streaming large language models survey",
    ]);
    assert!(state.join("radars.json").exists());
    let (list, _) = run(&["radar", "list"]);
    assert!(list.contains("streaming"), "{list}");
    let (shown, _) = run(&["radar", "show", "streaming", "-k", "3", "--json"]);
    let v: serde_json::Value = serde_json::from_str(&shown).unwrap();
    assert_eq!(v["mode"], "bm25", "{v}");
    assert_eq!(v["papers"][0]["id"], "2603.04592", "{v}");
    let (md, _) = run(&[
        "briefing",
        "--radar",
        "streaming",
        "--lang",
        "en",
        "--format",
        "md",
        "-k",
        "3",
    ]);
    assert!(md.contains("[2603.04592]"), "{md}");
    let (mail, _) = run(&[
        "digest",
        "--radar",
        "streaming",
        "--dry-run",
        "--days",
        "366",
        "--to",
        "reader@example.org",
    ]);
    assert!(mail.starts_with("Subject: "), "{mail}");
    run(&["radar", "rm", "streaming"]);
    let (list, _) = run(&["radar", "list"]);
    assert!(list.contains("no radars"), "{list}");
}

/// `academichub serve` on a config naming an unreachable Milvus stops at once with an error
/// naming its address (it never serves a local index instead).
#[test]
fn serve_on_an_unreachable_milvus_fails_at_start_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let config = dir.path().join("academichub.toml");
    std::fs::write(
        &config,
        format!(
            "[index]\nbackend = \"milvus\"\n\n[milvus]\nuri = \"http://127.0.0.1:{port}\"\ncollection = \"papers\"\ntimeout_ms = 1500\n"
        ),
    )
    .unwrap();
    let started = Instant::now();
    let out = Command::new(env!("CARGO_BIN_EXE_academichub"))
        .args(["serve", "--addr", "127.0.0.1:0", "--config"])
        .arg(&config)
        .env_remove("ACADEMICHUB_CONFIG")
        .env("ACADEMICHUB_CACHE", dir.path())
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{stderr}");
    assert!(
        started.elapsed() < Duration::from_secs(20),
        "{:?}",
        started.elapsed()
    );
    assert!(
        stderr.contains(&format!("127.0.0.1:{port}")),
        "the error names the address: {stderr}"
    );
}

/// Feed ingestion writes to a Milvus collection with the same announce semantics as to the
/// index: the same real arXiv listings (two days of cs.CL with five re-announced papers, a
/// cs.LG day with cross-lists, a day re-ingested) give the same reports and the same stored
/// papers on both backends, and unchanged papers keep their vectors.
#[test]
fn feeds_ingest_into_milvus_as_into_the_index() {
    use academichub::ingest::feeds::{
        self, FeedClient, FeedStore, IngestContext, IngestOptions, Source, SourceKind,
    };
    use std::sync::{Arc, Mutex};

    let dir = tempfile::tempdir().unwrap();
    let Some(server) = lite(dir.path()) else {
        return;
    };
    let e = HashEmbedder::new(64);
    let store = Arc::new(MilvusStore::open_or_create(&server.config("feeds"), e.id()).unwrap());
    let index = Arc::new(academichub::PaperIndex::open_or_create(&dir.path().join("idx")).unwrap());
    index.claim_embedding_model(e.id()).unwrap();
    let writer = Arc::new(Mutex::new(index.writer().unwrap()));
    let context = |store: FeedStore| {
        let client = FeedClient::new(Default::default()).unwrap();
        IngestContext::with_store(
            store,
            Some(Arc::new(Mutex::new(
                Box::new(HashEmbedder::new(64)) as Box<dyn Embedder>
            ))),
            Arc::new(client),
            IngestOptions::default(),
        )
    };
    let on_milvus = context(FeedStore::Milvus {
        store: store.clone(),
        state_dir: dir.path().join("state"),
    });
    let on_index = context(FeedStore::Tantivy {
        index: index.clone(),
        writer,
    });
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let feed = |name: &str| {
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures/feeds/arxiv-rss")
            .join(name)
    };
    let mut expected = vec![
        (50, 50, 0, 0, 50),
        (20, 15, 5, 0, 15),
        (0, 0, 0, 0, 0),
        (50, 0, 0, 50, 0),
    ];
    expected.reverse();
    for (file, name) in [
        ("cs.CL-2026-06-16.xml", "cs.CL"),
        ("cs.CL-2026-06-17.xml", "cs.CL"),
        ("cs.LG-2026-06-16.xml", "cs.LG"),
        ("cs.CL-2026-06-16.xml", "cs.CL"),
    ] {
        let src = Source::for_file(name, SourceKind::ArxivRss);
        let m = rt
            .block_on(feeds::ingest_file(&on_milvus, &feed(file), &src))
            .unwrap();
        let t = rt
            .block_on(feeds::ingest_file(&on_index, &feed(file), &src))
            .unwrap();
        let (m, t) = (&m.sources[0], &t.sources[0]);
        let counts =
            |r: &feeds::SourceReport| (r.fetched, r.new, r.updated, r.unchanged, r.embedded);
        assert_eq!(counts(m), counts(t), "{file}");
        if file != "cs.LG-2026-06-16.xml" {
            assert_eq!(counts(m), expected.pop().unwrap(), "{file}");
        } else {
            expected.pop();
        }
    }
    // The same papers, field by field, with a vector each.
    let listed = academichub::search::browse::latest(
        &index,
        &academichub::search::Filters::default(),
        1000,
        0,
    )
    .unwrap();
    let ids: Vec<PaperId> = listed.papers.iter().map(|(p, _)| p.id.clone()).collect();
    assert!(ids.len() > 65, "{}", ids.len());
    assert_eq!(store.counts().unwrap().papers, ids.len() as u64);
    assert_eq!(store.counts().unwrap().with_vectors, ids.len() as u64);
    let mut from_milvus: Vec<_> = store
        .get(&ids)
        .unwrap()
        .into_iter()
        .map(|r| r.paper)
        .collect();
    from_milvus.sort_by(|a, b| a.id.as_str().cmp(b.id.as_str()));
    let mut from_index: Vec<_> = ids
        .iter()
        .map(|id| index.get(id).unwrap().unwrap())
        .collect();
    from_index.sort_by(|a, b| a.id.as_str().cmp(b.id.as_str()));
    assert_eq!(from_milvus, from_index);
    let v2 = from_milvus
        .iter()
        .find(|p| p.id.as_str() == "2606.14782")
        .unwrap();
    assert_eq!(v2.primary_category(), Some("cs.CV"));
    drop((on_milvus, on_index));
}

/// The newest papers without a sort in Milvus: a window of dates grown and narrowed until one
/// query holds it, checked with a cap of 40 rows a query against the index's sorted list (81
/// of the 250 fixture papers share one day, more than a query of 40 returns).
#[test]
fn the_newest_papers_come_from_a_window_of_dates() {
    let dir = tempfile::tempdir().unwrap();
    let Some(server) = lite(dir.path()) else {
        return;
    };
    let (_d, index, _) = embedded_fixture();
    let store = MilvusStore::open_or_create(
        &server.config("newest"),
        &HashEmbedder::new(64).id().clone(),
    )
    .unwrap();
    import_file_milvus(&store, &fixture("arxiv-mini.jsonl.gz"), &opts(), None).unwrap();
    let today = time::Date::from_calendar_date(2026, time::Month::July, 3).unwrap();
    let published = |ids: &[PaperId]| -> Vec<Option<time::Date>> {
        store
            .papers(ids)
            .unwrap()
            .into_iter()
            .map(|p| p.published)
            .collect()
    };
    for (want, cap) in [(3, 40), (10, 40), (30, 40), (100, 120), (10, 16_384)] {
        let (ids, total) = store.newest_within("", want, today, cap).unwrap();
        assert_eq!(total, 250);
        assert_eq!(ids.len(), want, "want {want} cap {cap}");
        let listed = academichub::search::browse::latest(
            &index,
            &academichub::search::Filters::default(),
            want,
            0,
        )
        .unwrap();
        let expected: Vec<_> = listed.papers.iter().map(|(p, _)| p.published).collect();
        assert_eq!(published(&ids), expected, "want {want} cap {cap}");
    }
    // With a filter: a category's newest.
    let filter = academichub::search::milvus::filter_expr(&academichub::search::Filters {
        categories: vec!["cs.CV".into()],
        ..Default::default()
    });
    let (ids, total) = store.newest_within(&filter, 5, today, 40).unwrap();
    let listed = academichub::search::browse::latest(
        &index,
        &academichub::search::Filters {
            categories: vec!["cs.CV".into()],
            ..Default::default()
        },
        5,
        0,
    )
    .unwrap();
    assert_eq!(total as usize, listed.total);
    let expected: Vec<_> = listed.papers.iter().map(|(p, _)| p.published).collect();
    assert_eq!(published(&ids), expected);
}

/// The background worker of `serve` on Milvus: gives every paper of the collection a vector,
/// says so in its progress, picks up a paper written later, and stops when asked.
#[test]
fn the_background_worker_fills_the_collection_and_picks_up_new_papers() {
    use academichub::ingest::background::{spawn_milvus, EmbedState};
    use std::sync::Arc;

    let dir = tempfile::tempdir().unwrap();
    let Some(server) = lite(dir.path()) else {
        return;
    };
    let e = HashEmbedder::new(64);
    let store = Arc::new(MilvusStore::open_or_create(&server.config("worker"), e.id()).unwrap());
    import_file_milvus(&store, &fixture("arxiv-mini.jsonl.gz"), &opts(), None).unwrap();
    assert_eq!(store.counts().unwrap().with_vectors, 0);
    let (progress, handle) = spawn_milvus(store.clone(), Box::new(e)).unwrap();
    let wait_for = |what: &str, done: &dyn Fn() -> bool| {
        let started = Instant::now();
        while !done() {
            assert!(
                started.elapsed() < Duration::from_secs(60),
                "{what}: {:?}",
                progress.report()
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    };
    wait_for("every paper embedded", &|| {
        store.counts().unwrap().with_vectors == 250
    });
    wait_for("idle, with the counts", &|| {
        let r = progress.report();
        r.state == EmbedState::Idle && (r.papers, r.with_vectors, r.embedded) == (250, 250, 250)
    });
    // A paper written later without a vector gets one.
    let p = academichub::Paper::new(PaperId::new("late-1"), "A late paper", "On late arrivals.");
    store.upsert(&[(p, None)]).unwrap();
    wait_for("the late paper embedded", &|| {
        store
            .get(&[PaperId::new("late-1")])
            .unwrap()
            .first()
            .is_some_and(|r| r.vector.is_some())
    });
    progress.request_stop();
    handle.join().unwrap();
    assert_eq!(progress.report().state, EmbedState::Stopped);
}

#[test]
fn chinese_questions_are_translated_over_the_vocabulary_sample() {
    let dir = tempfile::tempdir().unwrap();
    let Some(server) = lite(dir.path()) else {
        return;
    };
    crate::fixtures::install_dictionary();
    let (_d, index, mut e, store) = fixture_on_both(&server, "papers");
    let state = dir.path().join("state");
    std::fs::create_dir_all(&state).unwrap();
    let store = store.with_state_dir(state.clone());
    let engine = QueryEngine::new(&index);

    // Before the sample is read, Chinese words are searched as they are, and the answer says so.
    let m = academichub::search::milvus::search(&store, &request("强化学习", Mode::Bm25, None))
        .unwrap();
    assert!(m.translation.is_none());
    assert!(
        m.warnings.iter().any(|w| w.contains("not translated")),
        "{:?}",
        m.warnings
    );

    // The sample: every paper of a small collection, in a local index beside the state.
    let vocab = academichub::search::milvus::load_vocabulary(&store).unwrap();
    assert_eq!(vocab.sampled(), 250);
    assert!(state.join("vocabulary").join("meta.json").exists());
    // The collection has not outgrown it: a refresh keeps it.
    assert_eq!(
        academichub::search::milvus::refresh_vocabulary(&store),
        Ok(false)
    );

    for (q, english) in [
        ("强化学习", "reinforcement learning"),
        ("大语言模型", "language model"),
    ] {
        let m = academichub::search::milvus::search(&store, &request(q, Mode::Bm25, None)).unwrap();
        let t = engine.search(&request(q, Mode::Bm25, None)).unwrap();
        // The same translation as over the index (the sample is the whole collection here).
        assert_eq!(m.translation, t.translation, "{q}");
        assert!(m.translation.is_some(), "{q}");
        assert_eq!(m.hits[0].sources.translation, m.translation);
        assert!(m.hits.len() >= 5, "{q}: {}", m.hits.len());
        // The papers that name the English term rank first, as over the index (then a paper
        // that says "reinforcement unlearning" may follow: Milvus ranks words, not phrases).
        for h in &m.hits[..4] {
            let text = format!("{} {}", h.paper.title, h.paper.abstract_text).to_lowercase();
            assert!(
                text.contains(english),
                "{q}: {} is not about {english}",
                h.paper.id
            );
        }
        // Snippets highlight the English words the translation matched.
        let marked = m.hits[0]
            .abstract_snippet
            .render("[", "]", |s, o| o.push_str(s))
            .to_lowercase();
        assert!(
            marked.contains("[learning]") || marked.contains("[language]"),
            "{marked}"
        );
    }

    // Hybrid: the translation counts for coverage, so the words leg keeps its weight and the
    // papers it ranks first stay near the top.
    let q = "强化学习";
    let v = e.embed_query(q).unwrap();
    let m = academichub::search::milvus::search(
        &store,
        &request(q, Mode::Hybrid, Some(QueryVector::Ready(v))),
    )
    .unwrap();
    assert!(m.translation.is_some());
    let top = format!(
        "{} {}",
        m.hits[0].paper.title, m.hits[0].paper.abstract_text
    );
    assert!(
        top.to_lowercase().contains("reinforcement learning"),
        "{}",
        m.hits[0].paper.id
    );
    assert!(m.hits[0].sources.bm25_rank.is_some());

    // A question made only of particles has nothing to translate: no hits, no error.
    let m =
        academichub::search::milvus::search(&store, &request("的了吗", Mode::Bm25, None)).unwrap();
    assert!(m.translation.is_none());
}

#[test]
fn chinese_papers_are_found_by_their_words() {
    // Milvus's standard tokenizer takes a run of Chinese characters for one word; the store
    // writes the index's jieba words apart, so a Chinese paper matches the words of a Chinese
    // question as on the index.
    let dir = tempfile::tempdir().unwrap();
    let Some(server) = lite(dir.path()) else {
        return;
    };
    let e = HashEmbedder::new(64);
    let store = MilvusStore::open_or_create(&server.config("chinese"), e.id()).unwrap();
    let paper =
        |id: &str, title: &str, abs: &str| academichub::Paper::new(PaperId::new(id), title, abs);
    let papers = [
        paper(
            "zh-1",
            "基于深度强化学习的机器人路径规划方法",
            "本文提出一种基于深度强化学习的路径规划方法，在仿真环境中训练机器人避障。",
        ),
        paper(
            "zh-2",
            "大规模知识图谱的构建与应用",
            "我们构建了一个面向医学领域的知识图谱，并用于问答系统。",
        ),
        paper(
            "zh-3",
            "水稻产量的遥感估算研究",
            "利用多时相遥感影像估算水稻产量，精度优于传统方法。",
        ),
    ];
    let rows: Vec<_> = papers.iter().map(|p| (p.clone(), None)).collect();
    assert!(store.upsert(&rows).unwrap().is_empty());
    store.flush();
    for (q, want) in [
        ("路径规划", "zh-1"),
        ("知识图谱构建", "zh-2"),
        ("水稻遥感", "zh-3"),
    ] {
        let mut r = request(q, Mode::Bm25, None);
        r.translate = false;
        let m = academichub::search::milvus::search(&store, &r).unwrap();
        assert_eq!(
            ids(&m).first().map(String::as_str),
            Some(want),
            "{q}: {:?}",
            ids(&m)
        );
    }
}
