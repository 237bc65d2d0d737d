//! Feed ingestion (issue #5): real captures from `tests/fixtures/feeds/` (see its README),
//! served by a small HTTP server on 127.0.0.1 inside the test process, so retries, 304s, 5xx,
//! slow and truncated responses and paging run for real.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use academichub::embed::{Embedder, HashEmbedder};
use academichub::index::doc_to_paper;
use academichub::ingest::feeds::{
    self, ClientConfig, FeedClient, IngestContext, IngestOptions, Source, SourceConfig, SourceKind,
    SourceReport,
};
use academichub::{Paper, PaperIndex};

use crate::fixtures::{datasets, fixture};
use crate::fixtures::{gate, HOLD_LIMIT};

// ---------------------------------------------------------------------------------------------
// A tiny HTTP/1.1 server: one thread, one request per connection, scripted responses.

#[derive(Debug, Clone)]
struct Req {
    path: String,
    headers: BTreeMap<String, String>,
}

#[derive(Clone, Default)]
struct Resp {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
    /// Send only this many body bytes, then close (Content-Length still says the full size).
    cut_at: Option<usize>,
}

fn ok(body: Vec<u8>) -> Resp {
    Resp {
        status: 200,
        body,
        ..Default::default()
    }
}

fn status(code: u16) -> Resp {
    Resp {
        status: code,
        body: format!("<html><body><h1>{code}</h1></body></html>").into_bytes(),
        headers: vec![("Content-Type".into(), "text/html".into())],
        ..Default::default()
    }
}

type Handler = dyn Fn(&Req, usize) -> Resp + Send + Sync;

struct Server {
    addr: String,
    log: Arc<Mutex<Vec<Req>>>,
}

impl Server {
    /// Starts a server; `handler(request, n)` gets the request and how many came before it.
    fn start(handler: impl Fn(&Req, usize) -> Resp + Send + Sync + 'static) -> Server {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let addr = format!("http://{}", listener.local_addr().expect("addr"));
        let log: Arc<Mutex<Vec<Req>>> = Arc::default();
        let log2 = log.clone();
        let handler: Arc<Handler> = Arc::new(handler);
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(stream) = stream else { continue };
                let log = log2.clone();
                let handler = handler.clone();
                std::thread::spawn(move || serve(stream, &log, &*handler));
            }
        });
        Server { addr, log }
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.addr)
    }

    fn requests(&self) -> Vec<Req> {
        self.log.lock().unwrap().clone()
    }
}

fn serve(mut stream: TcpStream, log: &Mutex<Vec<Req>>, handler: &Handler) {
    let mut reader = BufReader::new(stream.try_clone().expect("clone"));
    let mut line = String::new();
    if reader.read_line(&mut line).is_err() {
        return;
    }
    let path = line.split_whitespace().nth(1).unwrap_or("/").to_string();
    let mut headers = BTreeMap::new();
    loop {
        let mut h = String::new();
        if reader.read_line(&mut h).is_err() || h.trim().is_empty() {
            break;
        }
        if let Some((k, v)) = h.split_once(':') {
            headers.insert(k.trim().to_lowercase(), v.trim().to_string());
        }
    }
    let req = Req { path, headers };
    let n = {
        let mut l = log.lock().unwrap();
        l.push(req.clone());
        l.len() - 1
    };
    let resp = handler(&req, n);
    let reason = match resp.status {
        200 => "OK",
        304 => "Not Modified",
        404 => "Not Found",
        429 => "Too Many Requests",
        503 => "Service Unavailable",
        _ => "Status",
    };
    let mut head = format!("HTTP/1.1 {} {reason}\r\nConnection: close\r\n", resp.status);
    for (k, v) in &resp.headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    if resp.status != 304 {
        head.push_str(&format!("Content-Length: {}\r\n", resp.body.len()));
    }
    head.push_str("\r\n");
    let _ = stream.write_all(head.as_bytes());
    let body = match resp.cut_at {
        Some(n) => &resp.body[..n.min(resp.body.len())],
        None => &resp.body[..],
    };
    if resp.status != 304 {
        let _ = stream.write_all(body);
    }
    let _ = stream.flush();
    let _ = stream.shutdown(std::net::Shutdown::Both);
    let _ = reader.read(&mut [0u8; 1]);
}

// ---------------------------------------------------------------------------------------------
// Helpers

fn feed(rel: &str) -> PathBuf {
    fixture(&format!("feeds/{rel}"))
}

fn bytes(rel: &str) -> Vec<u8> {
    std::fs::read(feed(rel)).expect("fixture")
}

fn fast_client() -> ClientConfig {
    ClientConfig {
        connect_timeout: Duration::from_secs(2),
        read_timeout: Duration::from_millis(400),
        total_timeout: Duration::from_secs(10),
        retries: 3,
        backoff: Duration::from_millis(20),
        max_backoff: Duration::from_secs(3),
        arxiv_api_interval: Duration::from_millis(150),
        ..Default::default()
    }
}

struct Env {
    _dir: tempfile::TempDir,
    ctx: IngestContext,
    rt: tokio::runtime::Runtime,
}

fn env_with(client: ClientConfig, embedder: Option<HashEmbedder>) -> Env {
    let dir = tempfile::tempdir().expect("tempdir");
    let index = Arc::new(PaperIndex::open_or_create(&dir.path().join("idx")).expect("index"));
    let embedder = embedder.map(|e| {
        index.claim_embedding_model(e.id()).expect("claim model");
        Arc::new(Mutex::new(Box::new(e) as Box<dyn Embedder>))
    });
    let writer = Arc::new(Mutex::new(index.writer().expect("writer")));
    let client = Arc::new(FeedClient::new(client).expect("client"));
    let ctx = IngestContext::new(index, writer, embedder, client, IngestOptions::default());
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    Env { _dir: dir, ctx, rt }
}

fn env() -> Env {
    env_with(fast_client(), None)
}

impl Env {
    fn file(&self, path: &Path, kind: SourceKind, name: &str) -> SourceReport {
        let src = Source::for_file(name, kind);
        let s = self
            .rt
            .block_on(feeds::ingest_file(&self.ctx, path, &src))
            .unwrap_or_else(|e| panic!("ingest {}: {e}", path.display()));
        s.sources.into_iter().next().expect("one report")
    }

    fn poll(&self, sources: &[Source]) -> Vec<SourceReport> {
        self.rt
            .block_on(feeds::poll_once(&self.ctx, sources, None))
            .expect("poll")
            .sources
    }

    fn index(&self) -> &academichub::PaperIndex {
        self.ctx.store.index().expect("a tantivy index")
    }

    fn get(&self, id: &str) -> Option<Paper> {
        self.index()
            .get(&academichub::PaperId::new(id))
            .expect("get")
    }
}

/// Every paper of an index, sorted by id, plus the number of live documents.
fn snapshot(index: &PaperIndex) -> (Vec<Paper>, u64) {
    index.reload().expect("reload");
    let searcher = index.reader().searcher();
    let addrs = searcher
        .search(
            &tantivy::query::AllQuery,
            &tantivy::collector::DocSetCollector,
        )
        .expect("all docs");
    let mut papers: Vec<Paper> = addrs
        .into_iter()
        .map(|a| {
            let doc: tantivy::TantivyDocument = searcher.doc(a).expect("doc");
            doc_to_paper(index.fields(), &doc).expect("paper")
        })
        .collect();
    papers.sort_by(|a, b| a.id.cmp(&b.id));
    (papers, searcher.num_docs())
}

fn source(name: &str, kind: &str, url: &str) -> Source {
    SourceConfig {
        name: name.into(),
        kind: kind.into(),
        url: Some(url.into()),
        server: (kind == "biorxiv-json").then(|| "biorxiv".to_string()),
        query: (kind == "arxiv-atom").then(|| "all:testing".to_string()),
        ..Default::default()
    }
    .build()
    .expect("valid source")
}

const REANNOUNCED: [&str; 5] = [
    "2606.14832",
    "2606.14867",
    "2606.14875",
    "2606.14782",
    "2606.14885",
];

// ---------------------------------------------------------------------------------------------
// Announce semantics on real listings

#[test]
fn two_listing_days_update_instead_of_duplicating_and_a_weekend_is_empty() {
    let e = env();
    let r16 = e.file(
        &feed("arxiv-rss/cs.CL-2026-06-16.xml"),
        SourceKind::ArxivRss,
        "cs.CL",
    );
    assert_eq!(
        (r16.fetched, r16.new, r16.updated, r16.skipped),
        (50, 50, 0, 0)
    );
    for id in REANNOUNCED {
        assert_eq!(e.get(id).expect("present").version, 1, "{id}");
    }
    let r17 = e.file(
        &feed("arxiv-rss/cs.CL-2026-06-17.xml"),
        SourceKind::ArxivRss,
        "cs.CL",
    );
    assert_eq!((r17.fetched, r17.new, r17.updated), (20, 15, 5));
    let (papers, docs) = snapshot(e.index());
    assert_eq!((papers.len(), docs), (65, 65));
    for id in REANNOUNCED {
        let p = e.get(id).expect("present");
        assert_eq!(p.version, 2, "{id}");
        assert_eq!(
            p.published.map(academichub::paper::format_date).as_deref(),
            Some("2026-06-16")
        );
        assert_eq!(
            p.updated.map(academichub::paper::format_date).as_deref(),
            Some("2026-06-17")
        );
    }
    // Normalization: prefix stripped, primary category first, authors split, arXiv url.
    let p = e.get("2606.14832").expect("PhoneHarness");
    assert!(
        p.abstract_text
            .starts_with("Phone agents are increasingly expected"),
        "{}",
        p.abstract_text
    );
    assert!(!p.abstract_text.contains("Announce Type"));
    assert_eq!(p.authors.first().map(String::as_str), Some("Chenxin Li"));
    assert_eq!(p.authors.len(), 21);
    assert_eq!(p.url.as_deref(), Some("https://arxiv.org/abs/2606.14832"));
    assert_eq!(p.source, "arxiv");
    let cross = e.get("2606.14782").expect("cross-listed paper");
    assert_eq!(cross.primary_category(), Some("cs.CV"));
    assert!(cross.categories.contains(&"cs.CL".to_string()));
    // Saturday: a valid feed without items is a successful poll of nothing.
    let r20 = e.file(
        &feed("arxiv-rss/cs.CL-2026-06-20.xml"),
        SourceKind::ArxivRss,
        "cs.CL",
    );
    assert!(r20.ok);
    assert_eq!((r20.fetched, r20.new, r20.skipped), (0, 0, 0));
    // Re-ingesting a day rewrites nothing.
    let again = e.file(
        &feed("arxiv-rss/cs.CL-2026-06-16.xml"),
        SourceKind::ArxivRss,
        "cs.CL",
    );
    assert_eq!((again.new, again.updated, again.unchanged), (0, 0, 50));
    assert_eq!(snapshot(e.index()).0, papers);
}

#[test]
fn full_cs_cl_listings_leave_238_papers() {
    let Some(ds) = datasets("full_cs_cl_listings_leave_238_papers") else {
        return;
    };
    let e = env();
    let rss = ds.join("feeds/arxiv-rss");
    let r16 = e.file(
        &rss.join("cs.CL-2026-06-16.xml"),
        SourceKind::ArxivRss,
        "cs.CL",
    );
    assert_eq!(r16.new, 160);
    let r17 = e.file(
        &rss.join("cs.CL-2026-06-17.xml"),
        SourceKind::ArxivRss,
        "cs.CL",
    );
    assert_eq!((r17.new, r17.updated), (78, 5));
    let (papers, docs) = snapshot(e.index());
    assert_eq!((papers.len(), docs), (238, 238));
    let v2: Vec<&str> = papers
        .iter()
        .filter(|p| p.version == 2 && REANNOUNCED.contains(&p.id.as_str()))
        .map(|p| p.id.as_str())
        .collect();
    assert_eq!(v2.len(), 5);
}

#[test]
fn cross_listings_in_another_category_do_not_duplicate() {
    let e = env();
    e.file(
        &feed("arxiv-rss/cs.CL-2026-06-16.xml"),
        SourceKind::ArxivRss,
        "cs.CL",
    );
    let lg = e.file(
        &feed("arxiv-rss/cs.LG-2026-06-16.xml"),
        SourceKind::ArxivRss,
        "cs.LG",
    );
    // 9 of the 14 cs.LG items are cross-listings of cs.CL papers already indexed.
    assert_eq!((lg.fetched, lg.new, lg.updated + lg.unchanged), (14, 5, 9));
    let (papers, docs) = snapshot(e.index());
    assert_eq!((papers.len() as u64, docs), (55, 55));
    for p in &papers {
        let mut c = p.categories.clone();
        c.sort();
        c.dedup();
        assert_eq!(
            c.len(),
            p.categories.len(),
            "{} has repeated categories",
            p.id
        );
    }
}

#[test]
fn arxiv_api_error_feed_is_a_source_error_and_unknown_ids_are_empty() {
    let e = env();
    let src = Source::for_file("api", SourceKind::ArxivAtom);
    let err =
        e.rt.block_on(feeds::ingest_file(
            &e.ctx,
            &feed("arxiv-api/id_abc_s0_m100_b79c8dcf6bc3.xml"),
            &src,
        ))
        .unwrap_err()
        .to_string();
    assert!(err.contains("incorrect id format for abc"), "{err}");
    assert_eq!(e.index().num_papers(), 0);
    let none = e.file(
        &feed("arxiv-api/id_0000.0000_s0_m100_8b51d9633a68.xml"),
        SourceKind::ArxivAtom,
        "api",
    );
    assert_eq!((none.fetched, none.skipped), (0, 0));
    let old = e.file(
        &feed("arxiv-api/id_astro-ph_0601001_s0_m100_3150dca9dc76.xml"),
        SourceKind::ArxivAtom,
        "api",
    );
    assert_eq!(old.new, 1);
    let p = e.get("astro-ph/0601001").expect("old-style id");
    assert_eq!(p.primary_category(), Some("astro-ph"));
    let listed = e.file(
        &feed("arxiv-api/id_list_1111.2011v2.xml"),
        SourceKind::ArxivAtom,
        "api",
    );
    assert_eq!(listed.new, 1);
    let p = e.get("1111.2011").expect("id list paper");
    assert_eq!(p.version, 2);
    assert!(p.published <= p.updated);
}

#[test]
fn biorxiv_rss_item_and_details_json_key_on_doi() {
    let e = env();
    let r = e.file(
        &feed("biorxiv/feed-rs_rss_1.0_biorxiv.xml"),
        SourceKind::Rss,
        "biorxiv-genomics",
    );
    assert_eq!((r.fetched, r.new), (1, 1));
    let p = e.get("10.1101/2023.12.16.571984").expect("doi id");
    assert_eq!(p.version, 1);
    assert_eq!(p.source, "biorxiv-genomics");
    assert_eq!(p.authors.len(), 10);
    assert_eq!(p.authors[0], "LAPALU, N.");
    assert_eq!(
        p.published.map(academichub::paper::format_date).as_deref(),
        Some("2023-12-16")
    );
    assert!(p
        .title
        .starts_with("Complete genome of the Medicago anthracnose fungus"));
    // The JSON details of the same paper (v1 then v2) upsert into the same record.
    let j = e.file(
        &feed("biorxiv/details-cursor0.json"),
        SourceKind::BiorxivJson,
        "biorxiv",
    );
    assert_eq!((j.fetched, j.new, j.updated), (2, 0, 2));
    let p = e.get("10.1101/2023.12.16.571984").expect("same record");
    assert_eq!(p.version, 2);
    assert_eq!(p.categories, vec!["genomics"]);
    assert_eq!(p.source, "biorxiv");
    assert_eq!(
        p.updated.map(academichub::paper::format_date).as_deref(),
        Some("2024-01-05")
    );
    let j2 = e.file(
        &feed("biorxiv/details-cursor2.json"),
        SourceKind::BiorxivJson,
        "biorxiv",
    );
    assert_eq!(j2.new, 1);
    assert!(e.get("10.64898/2025.05.09.000001").is_some());
    assert_eq!(snapshot(e.index()).1, 2);
}

// ---------------------------------------------------------------------------------------------
// Convergence: every fixture twice, in different orders

fn all_fixtures() -> Vec<(PathBuf, SourceKind)> {
    use SourceKind::*;
    vec![
        (feed("arxiv-rss/cs.CL-2026-06-16.xml"), ArxivRss),
        (feed("arxiv-rss/cs.CL-2026-06-17.xml"), ArxivRss),
        (feed("arxiv-rss/cs.CL-2026-06-20.xml"), ArxivRss),
        (feed("arxiv-rss/cs.LG-2026-06-16.xml"), ArxivRss),
        (
            feed("arxiv-api/q_testing_s0_m10_bc5a6c384fe9.xml"),
            ArxivAtom,
        ),
        (
            feed("arxiv-api/q_testing_s10_m10_34e56e15aaac.xml"),
            ArxivAtom,
        ),
        (
            feed("arxiv-api/q_testing_s20_m10_348a237fecab.xml"),
            ArxivAtom,
        ),
        (feed("arxiv-api/id_list_1111.2011v2.xml"), ArxivAtom),
        (
            feed("arxiv-api/id_astro-ph_0601001_s0_m100_3150dca9dc76.xml"),
            ArxivAtom,
        ),
        (
            feed("arxiv-api/id_0000.0000_s0_m100_8b51d9633a68.xml"),
            ArxivAtom,
        ),
        (feed("biorxiv/feed-rs_rss_1.0_biorxiv.xml"), Rss),
        (feed("biorxiv/details-cursor0.json"), BiorxivJson),
        (feed("biorxiv/details-cursor2.json"), BiorxivJson),
    ]
}

fn ingest_in_order(order: &[usize]) -> (Vec<Paper>, u64, Vec<SourceReport>) {
    let e = env();
    let all = all_fixtures();
    let mut second_pass = Vec::new();
    for pass in 0..2 {
        for &i in order {
            let (path, kind) = &all[i];
            let r = e.file(path, *kind, "biorxiv");
            if pass == 1 {
                second_pass.push(r);
            }
        }
    }
    let (papers, docs) = snapshot(e.index());
    (papers, docs, second_pass)
}

#[test]
fn every_fixture_twice_in_any_order_gives_one_state_without_duplicates() {
    let n = all_fixtures().len();
    let forward: Vec<usize> = (0..n).collect();
    let backward: Vec<usize> = (0..n).rev().collect();
    let shuffled: Vec<usize> = (0..n).map(|i| (i * 5 + 3) % n).collect();
    let (a, a_docs, a_second) = ingest_in_order(&forward);
    // 65 cs.CL + 5 cs.LG-only + 30 API search results + 2 id lookups + 2 bioRxiv DOIs.
    assert_eq!(a.len(), 104);
    assert_eq!(a_docs, a.len() as u64, "duplicates in the index");
    for r in &a_second {
        assert_eq!(
            (r.new, r.updated),
            (0, 0),
            "second pass rewrote {}",
            r.source
        );
    }
    for order in [backward, shuffled] {
        let (b, b_docs, b_second) = ingest_in_order(&order);
        assert_eq!(b_docs, b.len() as u64, "duplicates in the index");
        assert!(b_second.iter().all(|r| r.new == 0 && r.updated == 0));
        assert_eq!(a.len(), b.len());
        for (x, y) in a.iter().zip(&b) {
            assert_eq!(x, y, "papers differ by ingest order");
        }
    }
}

// ---------------------------------------------------------------------------------------------
// The HTTP client against a local server

/// 503 with `Retry-After`, then 502, then the feed: the client retries both and lands it. (How
/// long a `Retry-After` makes it wait is `client::retry_delay`'s, unit-tested there without a
/// clock; the header here asks for no wait at all.)
#[test]
fn retries_5xx_then_succeeds_and_honours_retry_after() {
    let body = bytes("arxiv-rss/cs.CL-2026-06-20.xml");
    let server = Server::start(move |_req, n| match n {
        0 => Resp {
            headers: vec![("Retry-After".into(), "0".into())],
            ..status(503)
        },
        1 => status(502),
        _ => ok(body.clone()),
    });
    let e = env();
    let reports = e.poll(&[source("cl", "arxiv-rss", &server.url("/rss/cs.CL"))]);
    assert!(reports[0].ok, "{:?}", reports[0].error);
    let reqs = server.requests();
    assert_eq!(reqs.len(), 3);
    assert!(reqs[0].headers["user-agent"].starts_with("academichub/"));
}

#[test]
fn gives_up_after_the_retry_budget_and_other_sources_still_land() {
    let good = bytes("arxiv-rss/cs.CL-2026-06-17.xml");
    let server = Server::start(move |req, _| {
        if req.path.contains("down") {
            status(503)
        } else {
            ok(good.clone())
        }
    });
    let e = env();
    let reports = e.poll(&[
        source("down", "arxiv-rss", &server.url("/down")),
        source("up", "arxiv-rss", &server.url("/up")),
    ]);
    assert!(!reports[0].ok);
    let err = reports[0].error.as_deref().unwrap_or("");
    assert!(err.contains("503") && err.contains("4 attempt"), "{err}");
    assert!(reports[1].ok);
    assert_eq!(reports[1].new, 20);
    let down_hits = server
        .requests()
        .iter()
        .filter(|r| r.path == "/down")
        .count();
    assert_eq!(down_hits, 4, "first try + 3 retries");
    // The failure is in the state file, with the count of failures in a row.
    let st = feeds::FeedState::load(e.index().dir()).expect("state");
    assert_eq!(st.sources["down"].consecutive_failures, 1);
    assert!(st.sources["up"].last_result.contains("20 new"));
    assert_eq!(e.ctx.last_ingest().len(), 2);
}

#[test]
fn conditional_get_with_etag_and_last_modified_costs_nothing() {
    let body = bytes("arxiv-rss/cs.CL-2026-06-17.xml");
    let b2 = body.clone();
    let server = Server::start(move |req, _| {
        let etag_ok = req.headers.get("if-none-match").map(String::as_str) == Some("\"day17\"");
        let lm_ok = req.headers.get("if-modified-since").map(String::as_str)
            == Some("Wed, 17 Jun 2026 05:00:11 GMT");
        if req.path == "/etag" && etag_ok || req.path == "/lm" && lm_ok {
            return Resp {
                status: 304,
                ..Default::default()
            };
        }
        let header = if req.path == "/etag" {
            ("ETag".to_string(), "\"day17\"".to_string())
        } else {
            (
                "Last-Modified".to_string(),
                "Wed, 17 Jun 2026 05:00:11 GMT".to_string(),
            )
        };
        Resp {
            headers: vec![header],
            ..ok(b2.clone())
        }
    });
    let e = env();
    let sources = [
        source("etag", "arxiv-rss", &server.url("/etag")),
        source("lm", "arxiv-rss", &server.url("/lm")),
    ];
    let first = e.poll(&sources);
    assert_eq!(first[0].new, 20);
    assert_eq!(first[1].unchanged, 20);
    let second = e.poll(&sources);
    for r in &second {
        assert!(r.ok && r.not_modified, "{r:?}");
        assert_eq!((r.fetched, r.new, r.unchanged), (0, 0, 0));
    }
    let reqs = server.requests();
    assert_eq!(reqs.len(), 4);
    assert_eq!(
        reqs[2].headers.get("if-none-match").map(String::as_str),
        Some("\"day17\"")
    );
    assert!(reqs[3].headers.contains_key("if-modified-since"));
    let _ = body;
}

#[test]
fn slow_responses_hit_the_read_timeout_and_are_retried() {
    let body = bytes("arxiv-rss/cs.CL-2026-06-20.xml");
    // The first response (a valid feed) is held until the end of the test: a slow server that
    // says nothing. Only the read timeout (400 ms) can end that attempt: the whole-request
    // limit lies beyond the hold.
    let (gate, release) = gate();
    let server = Server::start(move |_req, n| {
        if n == 0 {
            gate.wait();
        }
        ok(body.clone())
    });
    let e = env_with(
        ClientConfig {
            total_timeout: HOLD_LIMIT * 2,
            ..fast_client()
        },
        None,
    );
    let r = &e.poll(&[source("slow", "arxiv-rss", &server.url("/slow"))])[0];
    assert!(r.ok, "{:?}", r.error);
    // A client that waited for the held answer would have needed one request.
    assert_eq!(
        server.requests().len(),
        2,
        "the silent attempt was abandoned and retried"
    );
    drop(release);
}

#[test]
fn arxiv_api_pages_with_start_and_max_results_spaced_apart() {
    let server = Server::start(|req, _| {
        let file = if req.path.contains("start=0&") {
            "arxiv-api/q_testing_s0_m10_bc5a6c384fe9.xml"
        } else if req.path.contains("start=10&") {
            "arxiv-api/q_testing_s10_m10_34e56e15aaac.xml"
        } else if req.path.contains("start=20&") {
            "arxiv-api/q_testing_s20_m10_348a237fecab.xml"
        } else {
            return status(404);
        };
        ok(bytes(file))
    });
    let mut src = source("testing", "arxiv-atom", &server.url("/api/query"));
    src.max_results = 30;
    src.page_size = 10;
    let e = env();
    let r = &e.poll(&[src])[0];
    assert!(r.ok, "{:?}", r.error);
    assert_eq!((r.requests, r.fetched, r.new), (3, 30, 30));
    let reqs = server.requests();
    assert!(
        reqs[0].path.contains("search_query=all%3Atesting"),
        "{}",
        reqs[0].path
    );
    assert!(
        reqs[2].path.contains("start=20&max_results=10"),
        "{}",
        reqs[2].path
    );
    // Three calls 150 ms apart take at least 300 ms (measured by the client: the server's
    // receive times jitter under load).
    assert!(
        r.duration_ms >= 300,
        "API calls not spaced: {} ms",
        r.duration_ms
    );
    let p = e.get("2202.12139").expect("first result");
    assert_eq!(p.categories, vec!["cs.SE", "cs.LG"]);
    assert_eq!(p.doi.as_deref(), Some("10.1109/ICSTW55395.2022.00035"));
    assert!(p
        .journal_ref
        .as_deref()
        .unwrap_or("")
        .starts_with("Artificial Intelligence in Software Testing"));
    assert!(p.comment.is_some());
    // Politeness defaults: at least 3 s between API calls, and the config refuses less.
    assert!(ClientConfig::default().arxiv_api_interval >= Duration::from_secs(3));
    let too_fast = academichub::ingest::feeds::IngestConfig {
        arxiv_api_interval: Some("1s".into()),
        ..Default::default()
    };
    assert!(too_fast.client_config().is_err());
}

#[test]
fn biorxiv_cursor_is_followed_to_the_end() {
    let server = Server::start(|req, _| {
        if req.path.ends_with("/0") {
            ok(bytes("biorxiv/details-cursor0.json"))
        } else if req.path.ends_with("/2") {
            ok(bytes("biorxiv/details-cursor2.json"))
        } else {
            ok(bytes("biorxiv/details-empty.json"))
        }
    });
    let e = env();
    let r = &e.poll(&[source("bio", "biorxiv-json", &server.url("/"))])[0];
    assert!(r.ok, "{:?}", r.error);
    assert_eq!((r.requests, r.fetched, r.new, r.updated), (2, 3, 2, 1));
    let reqs = server.requests();
    assert!(
        reqs[0].path.starts_with("/details/biorxiv/"),
        "{}",
        reqs[0].path
    );
    assert_eq!(e.get("10.1101/2023.12.16.571984").expect("v2").version, 2);
}

#[test]
fn html_truncated_and_malformed_bodies_are_source_errors() {
    let rss = bytes("arxiv-rss/cs.CL-2026-06-17.xml");
    let cut = rss.len() / 2;
    let r2 = rss.clone();
    let server = Server::start(move |req, _| {
        match req.path.as_str() {
        "/html" => Resp {
            headers: vec![("Content-Type".into(), "text/html".into())],
            ..ok(b"<!DOCTYPE html><html><head><title>Service maintenance</title></head><body>back soon</body></html>".to_vec())
        },
        "/cut-connection" => Resp {
            cut_at: Some(cut),
            ..ok(r2.clone())
        },
        "/cut-document" => ok(r2[..cut].to_vec()),
        "/bad-xml" => ok(b"<rss><channel><item><title>x</title></chanel></rss>".to_vec()),
        _ => ok(r2.clone()),
    }
    });
    let e = env();
    let reports = e.poll(&[
        source("html", "arxiv-rss", &server.url("/html")),
        source(
            "cut-connection",
            "arxiv-rss",
            &server.url("/cut-connection"),
        ),
        source("cut-document", "arxiv-rss", &server.url("/cut-document")),
        source("bad-xml", "rss", &server.url("/bad-xml")),
        source("good", "arxiv-rss", &server.url("/good")),
    ]);
    let err = |i: usize| reports[i].error.clone().unwrap_or_default();
    assert!(err(0).contains("HTML"), "{}", err(0));
    assert!(err(1).contains("reading the body"), "{}", err(1));
    assert!(err(2).contains("truncated"), "{}", err(2));
    assert!(err(3).contains("malformed"), "{}", err(3));
    assert!(reports[4].ok);
    assert_eq!(reports[4].new, 20, "the good source still lands");
    assert_eq!(e.index().num_papers(), 20);
    // A failed source keeps no validators: the next poll fetches it again.
    let st = feeds::FeedState::load(e.index().dir()).expect("state");
    assert_eq!(st.sources["html"].body_hash, None);
    // Malformed JSON from the details API.
    let bad = feeds::biorxiv::parse_details(
        b"{\"messages\": [{\"status\": \"ok\"",
        &Default::default(),
        "biorxiv",
    )
    .unwrap_err();
    assert!(bad.to_string().contains("invalid JSON"), "{bad}");
}

#[test]
fn bad_entries_are_skipped_with_reasons_and_long_abstracts_capped() {
    let rss = String::from_utf8(bytes("arxiv-rss/cs.CL-2026-06-17.xml")).expect("utf8");
    let start = rss.find("    <item>").expect("item");
    let end = rss.find("</item>\n").expect("end") + "</item>\n".len();
    let item = &rss[start..end];
    let guid = item
        .split("<guid isPermaLink=\"false\">")
        .nth(1)
        .and_then(|s| s.split("</guid>").next())
        .expect("guid")
        .to_string();
    let title = item
        .split("<title>")
        .nth(1)
        .and_then(|s| s.split("</title>").next())
        .expect("title")
        .to_string();
    let bare_id = guid.trim_start_matches("oai:arXiv.org:").to_string();
    let with_id = |n: &str| item.replace(&bare_id[..10], n);
    // 1: intact. 2: no id anywhere. 3: empty title. 4: impossible date. 5: 1 MB abstract.
    let no_id = {
        let mut s = item.replace(&format!("<guid isPermaLink=\"false\">{guid}</guid>"), "");
        s = s.replace(&format!("arXiv:{bare_id} "), "");
        let link_start = s.find("<link>").expect("link");
        let link_end = s.find("</link>").expect("/link") + "</link>".len();
        s.replace_range(link_start..link_end, "");
        s
    };
    let no_title =
        with_id("2606.99991").replace(&format!("<title>{title}</title>"), "<title> </title>");
    let bad_date = with_id("2606.99992").replace("Wed, 17 Jun 2026", "Tue, 31 Feb 2026");
    let huge = with_id("2606.99993").replace(
        "Abstract: ",
        &format!("Abstract: {}", "tokens ".repeat(150_000)),
    );
    let doc = format!(
        "{}{item}{no_id}{no_title}{bad_date}{huge}{}",
        &rss[..start],
        &rss[rss.rfind("  </channel>").expect("channel end")..]
    );
    let server = Server::start(move |_, _| ok(doc.clone().into_bytes()));
    let e = env();
    let r = &e.poll(&[source("crafted", "arxiv-rss", &server.url("/rss"))])[0];
    assert!(r.ok, "{:?}", r.error);
    assert_eq!((r.fetched, r.new, r.skipped, r.capped), (2, 2, 3, 1));
    let reasons = r.skipped_reasons.join("\n");
    assert!(reasons.contains("without id"), "{reasons}");
    assert!(
        reasons.contains("entry 2606.99991 has no title"),
        "{reasons}"
    );
    assert!(reasons.contains("impossible or unknown date"), "{reasons}");
    let huge = e.get("2606.99993").expect("capped paper kept");
    assert!(huge.abstract_text.chars().count() <= 20_002);
    assert!(huge.abstract_text.ends_with('…'));
}

#[test]
fn new_papers_get_vectors_and_unchanged_text_keeps_them() {
    let e = env_with(fast_client(), Some(HashEmbedder::new(32)));
    let r16 = e.file(
        &feed("arxiv-rss/cs.CL-2026-06-16.xml"),
        SourceKind::ArxivRss,
        "cs.CL",
    );
    assert_eq!(r16.embedded, 50);
    let r17 = e.file(
        &feed("arxiv-rss/cs.CL-2026-06-17.xml"),
        SourceKind::ArxivRss,
        "cs.CL",
    );
    // The five replacements have the same title and abstract: their vectors are reused.
    assert_eq!((r17.new, r17.updated, r17.embedded), (15, 5, 15));
    let searcher = e.index().reader().searcher();
    let mut with_vectors = 0;
    for seg in searcher.segment_readers() {
        let vecs = e.index().vectors().segment(seg).expect("vectors");
        for doc in seg.doc_ids_alive() {
            if vecs.has_vector(doc) {
                with_vectors += 1;
            }
        }
    }
    assert_eq!(with_vectors, 65);
    assert_eq!(
        e.rt.block_on(feeds::poll_once(&e.ctx, &[], None))
            .expect("empty poll")
            .embedding
            .as_deref(),
        Some("hash-trigram")
    );
}

// ---------------------------------------------------------------------------------------------
// Crash safety with the real binary

fn ids_of(papers: &[Paper]) -> Vec<(String, u64, Vec<String>)> {
    papers
        .iter()
        .map(|p| (p.id.to_string(), p.version, p.categories.clone()))
        .collect()
}

#[test]
fn killed_mid_ingest_the_index_is_its_last_commit_and_a_rerun_converges() {
    let bin = env!("CARGO_BIN_EXE_academichub");
    let capture = feed("arxiv-rss/cs.CL-2026-06-16.xml");
    let dir = tempfile::tempdir().expect("tempdir");
    let idx = dir.path().join("idx");
    let run = |extra: &[&str]| {
        let mut c = std::process::Command::new(bin);
        c.args(["ingest", "--file"])
            .arg(&capture)
            .args(["--kind", "arxiv-rss", "--index"])
            .arg(&idx)
            .args(extra)
            .env("RUST_LOG", "academichub=info")
            .env_remove("ACADEMICHUB_CONFIG")
            .current_dir(dir.path());
        c
    };
    let mut child = run(&["--commit-every", "2", "--json"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("spawn ingest");
    let stderr = child.stderr.take().expect("stderr");
    let mut lines = BufReader::new(stderr).lines();
    let mut saw_commit = false;
    for line in lines.by_ref() {
        let line = line.expect("line");
        if line.contains("committed") {
            saw_commit = true;
            break;
        }
    }
    assert!(saw_commit, "the ingest never committed");
    child.kill().expect("SIGKILL");
    let _ = child.wait();
    // The index opens and holds a prefix of the feed, committed in whole batches.
    let feed_order: Vec<String> = {
        let src = Source::for_file("x", SourceKind::ArxivRss);
        feeds::parse_body(
            SourceKind::ArxivRss,
            &std::fs::read(&capture).expect("read"),
            &Default::default(),
            &src,
        )
        .expect("parse")
        .entries
        .into_iter()
        .map(|e| e.paper.id.to_string())
        .collect()
    };
    let killed = {
        let index = PaperIndex::open(&idx).expect("index opens after SIGKILL");
        let (papers, docs) = snapshot(&index);
        assert_eq!(docs, papers.len() as u64, "duplicates after kill");
        let mut have: Vec<String> = papers.iter().map(|p| p.id.to_string()).collect();
        have.sort();
        let mut prefix: Vec<String> = feed_order[..have.len()].to_vec();
        prefix.sort();
        assert_eq!(
            have, prefix,
            "not a prefix of the feed: a partial batch leaked"
        );
        assert!(have.len().is_multiple_of(2), "not whole batches of 2");
        have.len()
    };
    assert!(
        (2..50).contains(&killed),
        "killed after {killed} papers: not mid-ingest"
    );
    // Rerun to completion.
    let out = run(&["--json"]).output().expect("rerun");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let summary: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json summary");
    assert_eq!(
        summary["sources"][0]["new"].as_u64(),
        Some(50 - killed as u64)
    );
    assert_eq!(
        summary["sources"][0]["unchanged"].as_u64(),
        Some(killed as u64)
    );
    // Same final state as one clean run.
    let clean_dir = tempfile::tempdir().expect("tempdir");
    let clean = std::process::Command::new(bin)
        .args(["ingest", "--file"])
        .arg(&capture)
        .args(["--kind", "arxiv-rss", "--json", "--index"])
        .arg(clean_dir.path().join("idx"))
        .current_dir(clean_dir.path())
        .output()
        .expect("clean run");
    assert!(clean.status.success());
    let a = snapshot(&PaperIndex::open(&idx).expect("open")).0;
    let b = snapshot(&PaperIndex::open(&clean_dir.path().join("idx")).expect("open")).0;
    assert_eq!(ids_of(&a), ids_of(&b));
    assert_eq!(a, b);
}

#[test]
fn redirects_are_followed_on_the_same_host_only() {
    // The "internal" host a hostile feed points the fetcher at: it must never be asked.
    let internal_body = bytes("arxiv-rss/cs.CL-2026-06-17.xml");
    let internal = Server::start(move |_, _| ok(internal_body.clone()));
    let target = internal.url("/admin/export.xml");
    let good = bytes("arxiv-rss/cs.CL-2026-06-17.xml");
    let server = Server::start(move |req, _| match req.path.as_str() {
        "/away" => Resp {
            status: 302,
            headers: vec![("Location".into(), target.clone())],
            ..Default::default()
        },
        "/script" => Resp {
            status: 302,
            headers: vec![("Location".into(), "file:///etc/passwd".into())],
            ..Default::default()
        },
        "/moved" => Resp {
            status: 301,
            headers: vec![("Location".into(), "/rss/cs.CL".into())],
            ..Default::default()
        },
        _ => ok(good.clone()),
    });
    let e = env();
    let reports = e.poll(&[
        source("away", "arxiv-rss", &server.url("/away")),
        source("script", "arxiv-rss", &server.url("/script")),
        source("moved", "arxiv-rss", &server.url("/moved")),
    ]);
    assert!(!reports[0].ok);
    let err = reports[0].error.as_deref().unwrap_or("");
    assert!(err.contains("redirect to another host"), "{err}");
    assert!(
        err.contains("1 attempt"),
        "a refused redirect is not retried: {err}"
    );
    assert!(
        internal.requests().is_empty(),
        "the other host was never asked"
    );
    // reqwest does not follow a non-web scheme at all: the 302 itself is the answer.
    assert!(!reports[1].ok);
    assert!(
        reports[1].error.as_deref().unwrap_or("").contains("302"),
        "{:?}",
        reports[1].error
    );
    assert!(reports[2].ok, "{:?}", reports[2].error);
    assert_eq!(reports[2].new, 20);
}

#[test]
fn only_web_links_are_stored_from_a_feed() {
    // The real bioRxiv item, its link turned into a script URL.
    let xml = String::from_utf8(bytes("biorxiv/feed-rs_rss_1.0_biorxiv.xml"))
        .unwrap()
        .replace(
            "http://biorxiv.org/cgi/content/short/2023.12.16.571984v1?rss=1\n        </link>",
            "javascript:alert(document.cookie)\n        </link>",
        );
    assert!(xml.contains("javascript:"));
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("hostile.xml");
    std::fs::write(&path, xml).unwrap();
    let e = env();
    let r = e.file(&path, SourceKind::Rss, "biorxiv-genomics");
    assert_eq!(r.new, 1, "the paper itself is kept");
    let p = e.get("10.1101/2023.12.16.571984").expect("doi id");
    assert_eq!(
        p.url.as_deref(),
        Some("https://doi.org/10.1101/2023.12.16.571984"),
        "the script link gives way to the DOI's"
    );
    assert!(p.title.starts_with("Complete genome"));
}
