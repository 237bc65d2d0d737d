//! Nothing acknowledged is lost: writes through a directory that runs out of space fail
//! loudly, nothing of the failed batch is kept, and the next write succeeds without a restart
//! (tantivy's own writer, left alone, accepts later papers and silently never indexes them).

use std::io::{self, BufWriter, Write};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use academichub::paper::{Paper, PaperId};
use academichub::PaperIndex;
use axum::http::StatusCode;
use serde_json::json;
use tantivy::directory::error::{DeleteError, LockError, OpenReadError, OpenWriteError};
use tantivy::directory::{
    AntiCallToken, DirectoryLock, FileHandle, Lock, MmapDirectory, TerminatingWrite, WatchCallback,
    WatchHandle, WritePtr,
};
use tantivy::Directory;

use crate::fixtures::fixture_index;
use crate::http::{code, get, post, send, state, TOKEN};

/// An on-disk directory whose writes fail with `ENOSPC` while `full` is set, as a full disk
/// fails them: files open, then writing or closing them fails.
#[derive(Clone, Debug)]
struct FullableDirectory {
    inner: MmapDirectory,
    full: Arc<AtomicBool>,
}

fn enospc() -> io::Error {
    io::Error::from_raw_os_error(28)
}

struct FullableWrite {
    inner: Box<dyn TerminatingWrite>,
    full: Arc<AtomicBool>,
}

impl Write for FullableWrite {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if self.full.load(Ordering::SeqCst) {
            return Err(enospc());
        }
        self.inner.write(buf)
    }
    fn flush(&mut self) -> io::Result<()> {
        if self.full.load(Ordering::SeqCst) {
            return Err(enospc());
        }
        self.inner.flush()
    }
}

impl TerminatingWrite for FullableWrite {
    fn terminate_ref(&mut self, token: AntiCallToken) -> io::Result<()> {
        if self.full.load(Ordering::SeqCst) {
            return Err(enospc());
        }
        self.inner.terminate_ref(token)
    }
}

impl Directory for FullableDirectory {
    fn get_file_handle(&self, path: &Path) -> Result<Arc<dyn FileHandle>, OpenReadError> {
        self.inner.get_file_handle(path)
    }
    fn delete(&self, path: &Path) -> Result<(), DeleteError> {
        self.inner.delete(path)
    }
    fn exists(&self, path: &Path) -> Result<bool, OpenReadError> {
        self.inner.exists(path)
    }
    fn open_write(&self, path: &Path) -> Result<WritePtr, OpenWriteError> {
        let w = self.inner.open_write(path)?;
        let inner = w
            .into_inner()
            .map_err(|e| OpenWriteError::wrap_io_error(e.into_error(), path.to_path_buf()))?;
        Ok(BufWriter::new(Box::new(FullableWrite {
            inner,
            full: self.full.clone(),
        })))
    }
    fn atomic_read(&self, path: &Path) -> Result<Vec<u8>, OpenReadError> {
        self.inner.atomic_read(path)
    }
    fn atomic_write(&self, path: &Path, data: &[u8]) -> io::Result<()> {
        if self.full.load(Ordering::SeqCst) {
            return Err(enospc());
        }
        self.inner.atomic_write(path, data)
    }
    fn acquire_lock(&self, lock: &Lock) -> Result<DirectoryLock, LockError> {
        self.inner.acquire_lock(lock)
    }
    fn sync_directory(&self) -> io::Result<()> {
        self.inner.sync_directory()
    }
    fn watch(&self, cb: WatchCallback) -> tantivy::Result<WatchHandle> {
        self.inner.watch(cb)
    }
}

/// A new empty index in `dir` whose tantivy writes fail while the returned flag is set.
fn fullable_index(dir: &Path) -> (PaperIndex, Arc<AtomicBool>) {
    std::fs::create_dir_all(dir).unwrap();
    let full = Arc::new(AtomicBool::new(false));
    let directory = FullableDirectory {
        inner: MmapDirectory::open(dir).unwrap(),
        full: full.clone(),
    };
    let index = PaperIndex::create_with_directory(dir, Box::new(directory)).unwrap();
    (index, full)
}

fn paper(id: &str) -> Paper {
    Paper::new(
        PaperId::new(id),
        format!("Paper {id} on sourdough fermentation"),
        "We study sourdough fermentation.",
    )
}

fn present(index: &PaperIndex, ids: &[&str]) -> Vec<String> {
    index.reload().unwrap();
    let searcher = index.reader().searcher();
    ids.iter()
        .filter(|id| {
            index
                .stored(&searcher, &PaperId::new(**id))
                .unwrap()
                .is_some()
        })
        .map(|id| id.to_string())
        .collect()
}

#[test]
fn a_failed_commit_keeps_nothing_of_its_batch_and_later_writes_land() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("idx");
    let all = ["a", "b1", "b2", "c", "d"];
    {
        let (index, full) = fullable_index(&dir);
        let mut w = index.writer().unwrap();
        w.upsert(&paper("a")).unwrap();
        w.commit().unwrap();

        full.store(true, Ordering::SeqCst);
        // The failure shows at an upsert (the indexing thread died starting a segment) or at
        // the commit, whichever comes first; either way it is loud and says why.
        let e = w
            .upsert(&paper("b1"))
            .and_then(|_| w.upsert(&paper("b2")))
            .and_then(|_| w.commit())
            .expect_err("the disk is full");
        assert!(e.is_storage_full(), "{e}");
        assert!(e.to_string().contains("no space left"), "{e}");
        // Still full: each write fails again, loudly.
        let again = w.upsert(&paper("b1")).and_then(|_| w.commit());
        assert!(again.is_err(), "a write on a full disk must fail");

        // Space freed: the next writes land, with no restart.
        full.store(false, Ordering::SeqCst);
        w.upsert(&paper("c")).unwrap();
        w.commit().expect("space is back");
        w.upsert(&paper("d")).unwrap();
        w.commit().unwrap();
        assert!(w.failures() >= 2);
        assert_eq!(present(&index, &all), ["a", "c", "d"]);
    }
    // And after a restart.
    let index = PaperIndex::open(&dir).unwrap();
    assert_eq!(present(&index, &all), ["a", "c", "d"]);
    assert_eq!(index.num_papers(), 3);
}

#[tokio::test]
async fn posts_on_a_full_disk_answer_503_and_succeed_once_space_is_back() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("idx");
    let (index, full) = fullable_index(&dir);
    let index = Arc::new(index);
    let app = academichub::http::router(state(index.clone(), false, true, |_| {}));
    let body = |id: &str| {
        json!([{"id": id, "title": format!("Paper {id} on zymurgy"), "abstract": "Zymurgy."}])
            .to_string()
    };
    let (s, r) = post(&app, "/api/papers", Some(TOKEN), body("p1")).await;
    assert_eq!(s, StatusCode::OK, "{r}");

    full.store(true, Ordering::SeqCst);
    for _ in 0..2 {
        let (s, r) = post(&app, "/api/papers", Some(TOKEN), body("p2")).await;
        assert_eq!(s, StatusCode::SERVICE_UNAVAILABLE, "{r}");
        assert_eq!(code(&r), "storage_full", "{r}");
        assert!(
            r["error"]["message"]
                .as_str()
                .unwrap()
                .contains("none of the request's papers were stored"),
            "{r}"
        );
    }

    full.store(false, Ordering::SeqCst);
    for id in ["p3", "p4"] {
        let (s, r) = post(&app, "/api/papers", Some(TOKEN), body(id)).await;
        assert_eq!(s, StatusCode::OK, "{r}");
        assert_eq!(r["upserted"], 1, "{r}");
    }
    let (_, v) = get(&app, "/api/search?q=zymurgy&mode=bm25&k=10").await;
    let mut got: Vec<String> = v["hits"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["id"].as_str().unwrap().to_string())
        .collect();
    got.sort();
    assert_eq!(
        got,
        ["p1", "p3", "p4"],
        "every 200 is searchable, the 503 is not"
    );
    drop(app);
    drop(index);
    let reopened = PaperIndex::open(&dir).unwrap();
    assert_eq!(
        present(&reopened, &["p1", "p2", "p3", "p4"]),
        ["p1", "p3", "p4"],
        "after a restart too"
    );
}

// ---------------------------------------------------------------------------------------------
// Untrusted input at the API: refused with a clear 4xx, or neutralised.

async fn post_raw(
    app: &axum::Router,
    auth: &str,
    body: serde_json::Value,
) -> (StatusCode, serde_json::Value) {
    let req = axum::http::Request::post("/api/papers")
        .header(axum::http::header::AUTHORIZATION, auth)
        .header(axum::http::header::CONTENT_TYPE, "application/json")
        .body(axum::body::Body::from(body.to_string()))
        .unwrap();
    let (s, _, b) = send(app, req).await;
    (s, serde_json::from_slice(&b).unwrap())
}

#[tokio::test]
async fn hostile_paper_fields_are_refused_and_any_bearer_spelling_works() {
    let (_d, index) = fixture_index(false);
    let app = academichub::http::router(state(index.clone(), false, true, |_| {}));
    let paper = |id: &str, extra: serde_json::Value| {
        let mut p = json!({"id": id, "title": "Sourdough kinetics", "abstract": "Lactobacilli."});
        for (k, v) in extra.as_object().unwrap() {
            p[k] = v.clone();
        }
        json!([p])
    };
    let auth = format!("Bearer {TOKEN}");
    for (body, field, part) in [
        (
            paper("x1", json!({"url": "javascript:alert(1)"})),
            "url",
            "http:// or https://",
        ),
        (paper(&"9".repeat(70_000), json!({})), "id", "at most 1024"),
        (
            paper("x2", json!({"published": "9999-12-31"})),
            "published",
            "between 1678-01-01 and 2261-12-31",
        ),
        (
            paper("x3", json!({"published": "1000-01-01"})),
            "published",
            "between",
        ),
    ] {
        let (s, r) = post_raw(&app, &auth, body).await;
        assert_eq!(s, StatusCode::BAD_REQUEST, "{r}");
        assert_eq!(code(&r), "invalid_body", "{r}");
        let msg = r["error"]["message"].as_str().unwrap();
        assert!(
            msg.contains(&format!("papers[0].{field}")) && msg.contains(part),
            "{msg}"
        );
    }
    // The scheme of the Authorization header is case-insensitive (RFC 9110).
    for scheme in ["BEARER", "bearer", "Bearer", "bEaReR"] {
        let (s, r) = post_raw(
            &app,
            &format!("{scheme} {TOKEN}"),
            paper(
                "x4",
                json!({"published": "2261-12-31", "url": "https://example.org/x4"}),
            ),
        )
        .await;
        assert_eq!(s, StatusCode::OK, "{scheme}: {r}");
    }
    let (s, r) = post_raw(&app, &format!("Basic {TOKEN}"), paper("x5", json!({}))).await;
    assert_eq!(s, StatusCode::UNAUTHORIZED, "{r}");
    // A far filter bound means "no bound", it does not wrap around to another century.
    let (s, v) = get(&app, "/api/search?q=sourdough&mode=bm25&to=9999-12-31").await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v["hits"][0]["id"], "x4", "{v}");
    let (_, v) = get(
        &app,
        "/api/search?q=sourdough&mode=bm25&from=1000-01-01&to=2200-01-01",
    )
    .await;
    assert_eq!(v["total"], 0, "x4 is dated 2261: {v}");
    // And the newest list is not topped by a paper from another era.
    let (_, v) = get(&app, "/api/latest?k=1").await;
    assert_eq!(v["hits"][0]["id"], "x4", "{v}");
}

#[tokio::test]
async fn requests_for_another_host_are_refused() {
    let (_d, index) = fixture_index(false);
    let bound: std::net::SocketAddr = "127.0.0.1:8080".parse().unwrap();
    let policy = academichub::http::host::HostPolicy::new(bound, &[]).unwrap();
    let app = academichub::http::router(state(index, false, false, |_| {}).with_hosts(policy));
    let with_host = |h: &str| {
        axum::http::Request::get("/api/latest?k=1")
            .header(axum::http::header::HOST, h)
            .body(axum::body::Body::empty())
            .unwrap()
    };
    // DNS rebinding: the attacker's name, resolved to this server's address.
    let (s, _, b) = send(&app, with_host("attacker.example:8080")).await;
    let v: serde_json::Value = serde_json::from_slice(&b).unwrap();
    assert_eq!(s, StatusCode::MISDIRECTED_REQUEST, "{v}");
    assert_eq!(code(&v), "host_not_allowed");
    for ok in ["localhost:8080", "127.0.0.1:8080", "[::1]:8080"] {
        let (s, _, _) = send(&app, with_host(ok)).await;
        assert_eq!(s, StatusCode::OK, "{ok}");
    }
}

#[tokio::test]
async fn the_result_cache_stays_within_its_byte_budget() {
    let (_d, index) = fixture_index(false);
    let app = academichub::http::router(state(index, false, false, |c| {
        c.cache_bytes = 60_000;
    }));
    for (i, q) in [
        "language",
        "model",
        "learning",
        "network",
        "data",
        "graph",
        "speech",
        "vision",
        "reasoning",
        "training",
        "robot",
        "quantum",
    ]
    .iter()
    .enumerate()
    {
        let (s, v) = get(
            &app,
            &format!("/api/search?q={q}&mode=bm25&k=100&offset={i}"),
        )
        .await;
        assert_eq!(s, StatusCode::OK, "{v}");
    }
    let req = axum::http::Request::get("/metrics")
        .body(axum::body::Body::empty())
        .unwrap();
    let (_, _, b) = send(&app, req).await;
    let text = String::from_utf8(b).unwrap();
    let gauge = |name: &str| -> u64 {
        text.lines()
            .find_map(|l| l.strip_prefix(&format!("{name} ")))
            .unwrap_or_else(|| panic!("{name} missing"))
            .parse()
            .unwrap()
    };
    let bytes = gauge("academichub_search_cache_bytes");
    let entries = gauge("academichub_search_cache_entries");
    assert!(bytes <= 60_000, "{bytes}");
    assert!(
        (1..12).contains(&entries),
        "some evicted, some kept: {entries}"
    );
}

// ---------------------------------------------------------------------------------------------
// Slow and silent clients, over a real socket.

/// Serves the fixture on a loopback port with short limits; returns the address, a shutdown
/// trigger and the server task.
async fn serve_with(
    header_ms: u64,
    shutdown_ms: u64,
) -> (
    std::net::SocketAddr,
    tokio::sync::oneshot::Sender<()>,
    tokio::task::JoinHandle<std::io::Result<()>>,
    tempfile::TempDir,
) {
    let (d, index) = fixture_index(false);
    let st = state(index, false, false, |c| {
        c.limits.header_timeout_ms = header_ms;
        c.limits.shutdown_timeout_ms = shutdown_ms;
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(academichub::http::serve(listener, st, async {
        let _ = rx.await;
    }));
    (addr, tx, task, d)
}

/// Seconds until the server closes `stream` (reads until EOF or a reset).
async fn seconds_until_closed(mut stream: tokio::net::TcpStream) -> f64 {
    use tokio::io::AsyncReadExt;
    let t = std::time::Instant::now();
    let mut buf = [0u8; 1024];
    loop {
        match tokio::time::timeout(std::time::Duration::from_secs(20), stream.read(&mut buf)).await
        {
            Ok(Ok(0)) | Ok(Err(_)) => return t.elapsed().as_secs_f64(),
            Ok(Ok(_)) => continue,
            Err(_) => return f64::INFINITY,
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn half_sent_and_silent_connections_are_closed_at_the_header_timeout() {
    use tokio::io::AsyncWriteExt;
    let (addr, stop, task, _d) = serve_with(500, 1_000).await;
    let silent = tokio::net::TcpStream::connect(addr).await.unwrap();
    let mut half = tokio::net::TcpStream::connect(addr).await.unwrap();
    half.write_all(b"GET /api/latest HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ")
        .await
        .unwrap();
    let (a, b) = tokio::join!(seconds_until_closed(silent), seconds_until_closed(half));
    assert!(a < 5.0, "a silent connection stayed open {a} s");
    assert!(b < 5.0, "a half-sent request stayed open {b} s");
    // A whole request on a fresh connection is still answered.
    let mut ok = tokio::net::TcpStream::connect(addr).await.unwrap();
    ok.write_all(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    let mut text = String::new();
    tokio::io::AsyncReadExt::read_to_string(&mut ok, &mut text)
        .await
        .unwrap();
    assert!(text.starts_with("HTTP/1.1 200"), "{text}");
    // Shutdown does not wait forever for a half-sent request: the deadline closes it.
    let mut pending = tokio::net::TcpStream::connect(addr).await.unwrap();
    pending
        .write_all(b"GET /api/latest HTTP/1.1\r\nHost: 127.0.0.1\r\n")
        .await
        .unwrap();
    let t = std::time::Instant::now();
    let _ = stop.send(());
    let done = tokio::time::timeout(std::time::Duration::from_secs(10), task).await;
    assert!(done.is_ok(), "serve did not return after SIGTERM");
    assert!(t.elapsed().as_secs_f64() < 5.0, "{:?}", t.elapsed());
    drop(pending);
}

#[test]
fn background_embedding_on_a_full_disk_fails_its_batch_and_resumes_after() {
    use academichub::embed::{Embedder, HashEmbedder};
    use academichub::ingest::background::{run_batch, EmbedProgress, BATCH};
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("idx");
    let (index, full) = fullable_index(&dir);
    let ids: Vec<String> = (0..40).map(|i| format!("bg{i}")).collect();
    let writer = std::sync::Mutex::new(index.writer().unwrap());
    {
        let mut w = writer.lock().unwrap();
        for id in &ids {
            w.upsert(&paper(id)).unwrap();
        }
        w.commit().unwrap();
    }
    let e = HashEmbedder::new(32);
    index.claim_embedding_model(e.id()).unwrap();
    let mut embedders: Vec<Box<dyn Embedder>> = vec![Box::new(e)];
    let progress = EmbedProgress::new("hash-trigram");
    let mut failed = std::collections::HashSet::new();
    let with_vectors = |index: &PaperIndex| {
        index.reload().unwrap();
        let s = index.reader().searcher();
        ids.iter()
            .filter(|id| {
                index
                    .stored(&s, &PaperId::new(id.as_str()))
                    .unwrap()
                    .expect("never lost")
                    .vector
                    .is_some()
            })
            .count()
    };
    assert_eq!(
        run_batch(&index, &writer, &mut embedders, &progress, &mut failed).unwrap(),
        BATCH as u64
    );
    full.store(true, Ordering::SeqCst);
    let err = run_batch(&index, &writer, &mut embedders, &progress, &mut failed)
        .expect_err("the disk is full");
    assert!(err.to_string().contains("no space left"), "{err}");
    assert_eq!(with_vectors(&index), BATCH, "the failed batch kept nothing");
    full.store(false, Ordering::SeqCst);
    while run_batch(&index, &writer, &mut embedders, &progress, &mut failed).unwrap() > 0 {}
    assert_eq!(
        with_vectors(&index),
        40,
        "every paper got its vector once space was back"
    );
    assert_eq!(index.num_papers(), 40);
}

#[test]
fn feed_ingestion_on_a_full_disk_fails_whole_and_lands_once_space_is_back() {
    use academichub::ingest::feeds::{
        self, ClientConfig, FeedClient, IngestContext, IngestOptions, Source, SourceKind,
    };
    let tmp = tempfile::tempdir().unwrap();
    let (index, full) = fullable_index(&tmp.path().join("idx"));
    let index = Arc::new(index);
    let writer = Arc::new(std::sync::Mutex::new(index.writer().unwrap()));
    let client = Arc::new(FeedClient::new(ClientConfig::default()).unwrap());
    let ctx = IngestContext::new(
        index.clone(),
        writer,
        None,
        client,
        IngestOptions::default(),
    );
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    // A real listing: 20 new cs.CL papers.
    let capture = crate::fixtures::fixture("feeds/arxiv-rss/cs.CL-2026-06-17.xml");
    let source = Source::for_file("cs.CL", SourceKind::ArxivRss);
    full.store(true, Ordering::SeqCst);
    let err = rt
        .block_on(feeds::ingest_file(&ctx, &capture, &source))
        .expect_err("the disk is full");
    assert!(err.is_storage_full(), "{err}");
    assert_eq!(
        index.num_papers(),
        0,
        "nothing of the failed run is visible"
    );
    full.store(false, Ordering::SeqCst);
    let summary = rt
        .block_on(feeds::ingest_file(&ctx, &capture, &source))
        .expect("space is back");
    assert_eq!(summary.sources[0].new, 20);
    index.reload().unwrap();
    assert_eq!(index.num_papers(), 20);
}
