//! The HTTP API through `tower::ServiceExt::oneshot` (no socket) on the committed 250-paper
//! arXiv capture, with the deterministic hashed-trigram embedder for vectors.

use std::sync::Arc;

use academichub::embed::{Embedder, HashEmbedder};
use academichub::http::{self, AppState, IngestFuture, IngestTrigger, ServerConfig};
use academichub::PaperIndex;
use axum::body::Body;
use axum::http::{header, Request, StatusCode};
use serde_json::{json, Value};
use tower::ServiceExt;

use crate::fixtures::fixture_index;

pub const TOKEN: &str = "s3cret-token";

/// State over the fixture: embedder when `vectors`, writes enabled when `token`.
pub fn state(
    index: Arc<PaperIndex>,
    vectors: bool,
    token: bool,
    tweak: impl FnOnce(&mut ServerConfig),
) -> AppState {
    let mut config = ServerConfig {
        token: token.then(|| TOKEN.to_string()),
        ..ServerConfig::default()
    };
    tweak(&mut config);
    let mut s = AppState::new(index, config);
    s = if vectors {
        s.with_embedder(Box::new(HashEmbedder::new(64)))
    } else {
        s.without_embedder("no model in this test")
    };
    if token {
        s = s.open_writer().unwrap();
    }
    s
}

pub(crate) async fn send(
    app: &axum::Router,
    req: Request<Body>,
) -> (StatusCode, axum::http::HeaderMap, Vec<u8>) {
    let resp = app.clone().oneshot(req).await.unwrap();
    let status = resp.status();
    let headers = resp.headers().clone();
    let body = axum::body::to_bytes(resp.into_body(), usize::MAX)
        .await
        .unwrap();
    (status, headers, body.to_vec())
}

pub(crate) async fn get(app: &axum::Router, uri: &str) -> (StatusCode, Value) {
    let (s, _, b) = send(app, Request::get(uri).body(Body::empty()).unwrap()).await;
    let v = serde_json::from_slice(&b)
        .unwrap_or_else(|e| panic!("{uri}: not JSON ({e}): {}", String::from_utf8_lossy(&b)));
    (s, v)
}

pub(crate) async fn post(
    app: &axum::Router,
    uri: &str,
    token: Option<&str>,
    body: impl Into<Body>,
) -> (StatusCode, Value) {
    let mut req = Request::post(uri).header(header::CONTENT_TYPE, "application/json");
    if let Some(t) = token {
        req = req.header(header::AUTHORIZATION, format!("Bearer {t}"));
    }
    let (s, _, b) = send(app, req.body(body.into()).unwrap()).await;
    (
        s,
        serde_json::from_slice(&b)
            .unwrap_or_else(|e| panic!("{uri}: not JSON ({e}): {}", String::from_utf8_lossy(&b))),
    )
}

pub(crate) fn code(v: &Value) -> &str {
    v["error"]["code"]
        .as_str()
        .unwrap_or_else(|| panic!("no error code in {v}"))
}

pub(crate) fn ids(v: &Value) -> Vec<String> {
    v["hits"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["id"].as_str().unwrap().to_string())
        .collect()
}

/// Asserts the error shape: exactly `{"error": {"code", "message"}}` with a non-empty message.
fn assert_error(status: StatusCode, v: &Value, want_status: StatusCode, want_code: &str) {
    assert_eq!(status, want_status, "{v}");
    assert_eq!(code(v), want_code, "{v}");
    assert!(!v["error"]["message"].as_str().unwrap().is_empty());
    assert_eq!(v.as_object().unwrap().len(), 1, "{v}");
    assert_eq!(v["error"].as_object().unwrap().len(), 2, "{v}");
}

#[tokio::test]
async fn bm25_search_ranks_highlights_and_counts_facets() {
    let (_d, index) = fixture_index(false);
    let app = http::router(state(index, false, false, |_| {}));
    let (s, v) = get(&app, "/api/search?q=streaming%20LLMs%20survey&k=3").await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v["mode"], "bm25", "no vectors: bm25 is the default");
    assert_eq!(
        ids(&v)[0],
        "2603.04592",
        "the streaming-LLM survey ranks first"
    );
    let top = &v["hits"][0];
    assert_eq!(top["rank"], 1);
    assert_eq!(top["source"], "arxiv");
    assert_eq!(top["primary_category"], "cs.CL");
    assert_eq!(top["categories"], json!(["cs.CL", "cs.CV"]));
    assert_eq!(top["published"], "2026-06-16");
    assert_eq!(top["url"], "https://arxiv.org/abs/2603.04592");
    assert_eq!(top["bm25_rank"], 1);
    assert_eq!(top["score"], top["bm25_score"]);
    assert!(top["dense_score"].is_null());
    let title = top["highlight"]["title"].as_str().unwrap();
    assert!(title.contains("<mark>Survey</mark>"), "{title}");
    assert!(top["highlight"]["abstract"]
        .as_str()
        .unwrap()
        .contains("<mark>LLMs</mark>"));
    assert_eq!(v["hits"].as_array().unwrap().len(), 3);
    assert!(v["took_ms"].as_f64().unwrap() >= 0.0);
    // Facets count every match, not just the page: they sum to the total.
    let total = v["total"].as_u64().unwrap();
    assert!(total > 3);
    let sum: u64 = v["facets"]["category"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["count"].as_u64().unwrap())
        .sum();
    assert_eq!(
        v["facets"]["source"],
        json!([{"value": "arxiv", "count": total}])
    );
    assert!(
        sum <= total && sum + 1 >= total,
        "one paper has no category: {sum} vs {total}"
    );

    // Empty query, no filters: every paper; primary categories of the capture.
    let (_, all) = get(&app, "/api/search?k=1").await;
    assert_eq!(all["total"], 250);
    assert_eq!(
        all["facets"]["category"][0],
        json!({"value": "cs.CL", "count": 114})
    );
    assert_eq!(
        all["facets"]["category"][1],
        json!({"value": "cs.CV", "count": 52})
    );
    assert_eq!(
        all["facets"]["category"][2],
        json!({"value": "cs.AI", "count": 24})
    );

    // Filters: repeatable category, source, date range.
    let (_, f) = get(&app, "/api/search?q=speech&category=cs.CL&category=eess.AS&source=arxiv&from=2026-06-16&to=2026-06-16&k=50").await;
    assert!(f["total"].as_u64().unwrap() >= 3);
    for h in f["hits"].as_array().unwrap() {
        assert_eq!(h["published"], "2026-06-16");
        let cats = h["categories"].as_array().unwrap();
        assert!(cats.iter().any(|c| c == "cs.CL" || c == "eess.AS"), "{h}");
    }
    // Pagination continues the ranking.
    let (_, p1) = get(&app, "/api/search?q=language%20models&k=4").await;
    let (_, p2) = get(&app, "/api/search?q=language%20models&k=2&offset=2").await;
    assert_eq!(ids(&p2), ids(&p1)[2..4].to_vec());
    assert_eq!(p2["hits"][0]["rank"], 3);
    // HTML in titles is escaped (the snippet markup is the only markup).
    assert!(!p1["hits"]
        .as_array()
        .unwrap()
        .iter()
        .any(|h| h["highlight"]["title"]
            .as_str()
            .unwrap()
            .contains("<script")));
}

#[tokio::test]
async fn dense_and_hybrid_search_and_their_fallbacks() {
    let (_d, index) = fixture_index(true);
    let app = http::router(state(index.clone(), true, false, |_| {}));
    assert_eq!(
        vector_memory(&app).await,
        0,
        "no vectors decoded before a search"
    );
    let (s, v) = get(&app, "/api/search?q=streaming%20LLMs%20survey&k=5").await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(
        v["mode"], "hybrid",
        "vectors and a model: hybrid is the default"
    );
    assert_eq!(ids(&v)[0], "2603.04592");
    assert!(v["hits"][0]["bm25_score"].is_number() && v["hits"][0]["dense_score"].is_number());
    let (_, d) = get(
        &app,
        "/api/search?q=streaming%20LLMs%20survey&mode=dense&k=5",
    )
    .await;
    assert_eq!(d["mode"], "dense");
    assert_eq!(d["total"], 250, "dense ranks every paper with a vector");
    assert!(d["hits"][0]["bm25_score"].is_null() && d["hits"][0]["dense_rank"] == 1);
    let scores: Vec<f64> = d["hits"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["score"].as_f64().unwrap())
        .collect();
    assert!(scores.windows(2).all(|w| w[0] >= w[1]));
    // The searches decoded every segment's vectors: at least an int16 and an int8 row of each
    // of the 250 vectors of 64 dimensions (3 bytes a dimension).
    let bytes = vector_memory(&app).await;
    assert!(bytes >= 250 * 64 * 3, "{bytes}");

    // Same index, model unavailable: hybrid falls back to bm25 and says so; dense is a 409.
    let app = http::router(state(index, false, false, |_| {}));
    let (_, h) = get(&app, "/api/search?q=streaming%20LLMs%20survey&mode=hybrid").await;
    assert_eq!(h["mode"], "bm25");
    assert!(
        h["warnings"][0]
            .as_str()
            .unwrap()
            .contains("fell back to bm25"),
        "{h}"
    );
    let (s, e) = get(&app, "/api/search?q=x&mode=dense").await;
    assert_error(s, &e, StatusCode::CONFLICT, "dense_unavailable");
}

/// The `academichub_index_vector_memory_bytes` gauge of `/metrics`.
async fn vector_memory(app: &axum::Router) -> usize {
    let (_, _, b) = send(app, Request::get("/metrics").body(Body::empty()).unwrap()).await;
    let text = String::from_utf8(b).unwrap();
    text.lines()
        .find_map(|l| l.strip_prefix("academichub_index_vector_memory_bytes "))
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("no vector memory gauge: {text}"))
}

/// With one read slot (`search_threads = 1`), reads sent together queue for it: every one is
/// answered (a slot never given back would leave the rest waiting into 503 `timeout`), each
/// exactly as it was when sent alone.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reads_beyond_search_threads_wait_their_turn() {
    let (_d, index) = fixture_index(true);
    let app = http::router(state(index, true, false, |c| {
        c.search_threads = 1;
        c.cache_entries = 0;
    }));
    let uris = [
        "/api/search?q=streaming%20LLMs%20survey&k=5",
        "/api/search?q=speech%20tokens%20reasoning&mode=hybrid&k=5",
        "/api/papers/2603.04592",
        "/api/papers/2603.04592/similar?k=3",
        "/api/latest?k=5",
    ];
    let without_time = |mut v: Value| {
        if let Some(o) = v.as_object_mut() {
            o.remove("took_ms");
        }
        v
    };
    let mut alone = Vec::new();
    for uri in uris {
        let (s, v) = get(&app, uri).await;
        assert_eq!(s, StatusCode::OK, "{uri}: {v}");
        alone.push(without_time(v));
    }
    let together =
        futures_util::future::join_all((0..6).flat_map(|_| uris).map(|uri| get(&app, uri))).await;
    assert_eq!(together.len(), 30);
    for (i, (s, v)) in together.into_iter().enumerate() {
        assert_eq!(s, StatusCode::OK, "{}: {v}", uris[i % uris.len()]);
        assert_eq!(
            without_time(v),
            alone[i % uris.len()],
            "{}",
            uris[i % uris.len()]
        );
    }
}

#[tokio::test]
async fn search_parameter_errors_name_the_parameter() {
    let (_d, index) = fixture_index(false);
    let app = http::router(state(index.clone(), false, false, |c| {
        c.limits.max_query_chars = 50
    }));
    for (uri, want_status, want_code) in [
        (
            "/api/search?q=x&mode=fuzzy",
            StatusCode::BAD_REQUEST,
            "invalid_mode",
        ),
        ("/api/search?q=x&k=0", StatusCode::BAD_REQUEST, "invalid_k"),
        (
            "/api/search?q=x&k=101",
            StatusCode::BAD_REQUEST,
            "invalid_k",
        ),
        (
            "/api/search?q=x&k=ten",
            StatusCode::BAD_REQUEST,
            "invalid_k",
        ),
        (
            "/api/search?q=x&offset=10001",
            StatusCode::BAD_REQUEST,
            "invalid_offset",
        ),
        (
            "/api/search?q=x&offset=-1",
            StatusCode::BAD_REQUEST,
            "invalid_offset",
        ),
        (
            "/api/search?q=x&from=2026-13-01",
            StatusCode::BAD_REQUEST,
            "invalid_from",
        ),
        (
            "/api/search?q=x&to=yesterday",
            StatusCode::BAD_REQUEST,
            "invalid_to",
        ),
        (
            "/api/search?q=x&from=2026-06-20&to=2026-06-01",
            StatusCode::BAD_REQUEST,
            "invalid_from",
        ),
        (
            "/api/search?q=x&colour=red",
            StatusCode::BAD_REQUEST,
            "unknown_param",
        ),
        (
            "/api/search?q=x&mode=dense",
            StatusCode::CONFLICT,
            "dense_unavailable",
        ),
        ("/api/nothing", StatusCode::NOT_FOUND, "not_found"),
    ] {
        let (s, v) = get(&app, uri).await;
        assert_error(s, &v, want_status, want_code);
    }
    let long = format!("/api/search?q={}", "a".repeat(51));
    let (s, v) = get(&app, &long).await;
    assert_error(s, &v, StatusCode::BAD_REQUEST, "query_too_long");
    assert!(v["error"]["message"]
        .as_str()
        .unwrap()
        .contains("51 characters"));
    // Exactly at the limit is fine; malformed query syntax is a warning, not an error.
    let (s, v) = get(&app, &format!("/api/search?q={}", "a".repeat(50))).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    let (s, v) = get(&app, "/api/search?q=%22unclosed%20quote").await;
    assert_eq!(s, StatusCode::OK);
    assert!(v["warnings"][0]
        .as_str()
        .unwrap()
        .contains("unclosed quote"));
    // Wrong method: JSON 405.
    let (s, _, b) = send(
        &app,
        Request::delete("/api/search").body(Body::empty()).unwrap(),
    )
    .await;
    assert_error(
        s,
        &serde_json::from_slice(&b).unwrap(),
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
    );
}

#[tokio::test]
async fn paper_similar_and_latest() {
    let (_d, index) = fixture_index(true);
    let app = http::router(state(index.clone(), true, false, |_| {}));
    let (s, p) = get(&app, "/api/papers/2603.04592").await;
    assert_eq!(s, StatusCode::OK);
    assert!(p["title"]
        .as_str()
        .unwrap()
        .starts_with("From Static Inference to Dynamic Interaction"));
    assert_eq!(p["authors"][0], "Junlong Tong");
    assert_eq!(p["comment"], "Accepted by ACL 2026 Findings");
    assert_eq!(p["has_vector"], true);
    assert!(p["abstract"]
        .as_str()
        .unwrap()
        .starts_with("Standard Large Language Models"));
    // Unknown ids are 404.
    let (s, e) = get(&app, "/api/papers/9999.99999").await;
    assert_error(s, &e, StatusCode::NOT_FOUND, "paper_not_found");

    let (s, sim) = get(&app, "/api/papers/2603.04592/similar?k=5").await;
    assert_eq!(s, StatusCode::OK, "{sim}");
    let sim_ids = ids(&sim);
    assert_eq!(sim_ids.len(), 5);
    assert!(
        !sim_ids.contains(&"2603.04592".to_string()),
        "similar excludes the paper itself"
    );
    assert_eq!(sim["total"], 249);
    let scores: Vec<f64> = sim["hits"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["score"].as_f64().unwrap())
        .collect();
    assert!(scores.windows(2).all(|w| w[0] >= w[1]) && scores[0] < 1.0);
    // The nearest neighbour by our own cosine over the hashed-trigram vectors.
    let mut e = HashEmbedder::new(64);
    let all = academichub::search::browse::latest(&index, &Default::default(), 250, 0).unwrap();
    let vec_of = |p: &academichub::Paper, e: &mut HashEmbedder| {
        e.embed_passages(&[academichub::embed::passage_text(&p.title, &p.abstract_text)])
            .unwrap()
            .remove(0)
    };
    let me = all
        .papers
        .iter()
        .find(|(p, _)| p.id.as_str() == "2603.04592")
        .unwrap()
        .0
        .clone();
    let mv = vec_of(&me, &mut e);
    let best = all
        .papers
        .iter()
        .filter(|(p, _)| p.id != me.id)
        .map(|(p, _)| {
            (
                academichub::embed::dot(&vec_of(p, &mut e), &mv),
                p.id.to_string(),
            )
        })
        .max_by(|a, b| a.0.total_cmp(&b.0))
        .unwrap();
    assert_eq!(sim_ids[0], best.1);
    let (s, e) = get(&app, "/api/papers/2603.04592/similar?k=0").await;
    assert_error(s, &e, StatusCode::BAD_REQUEST, "invalid_k");
    let (s, e) = get(&app, "/api/papers/nope/similar").await;
    assert_error(s, &e, StatusCode::NOT_FOUND, "paper_not_found");

    // Latest: newest first, the day's list, per category.
    let (s, l) = get(&app, "/api/latest?k=5").await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(l["total"], 250);
    assert_eq!(l["latest_date"], "2026-06-30");
    assert_eq!(ids(&l)[0], "2606.29093");
    let dates: Vec<&str> = l["hits"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["published"].as_str().unwrap())
        .collect();
    assert_eq!(
        dates[..4],
        ["2026-06-30", "2026-06-23", "2026-06-23", "2026-06-16"]
    );
    let (_, day) = get(&app, "/api/latest?date=2026-06-16&k=100").await;
    assert_eq!(day["total"], 81);
    assert_eq!(day["hits"].as_array().unwrap().len(), 81);
    assert!(day["hits"]
        .as_array()
        .unwrap()
        .iter()
        .all(|h| h["published"] == "2026-06-16"));
    let (_, cl) = get(&app, "/api/latest?category=cs.CL&date=2026-06-16&k=1").await;
    assert_eq!(cl["total"], 80);
    let (_, cl) = get(&app, "/api/latest?category=cs.CL&k=1").await;
    assert_eq!(ids(&cl), ["2606.22478"]);
    let (_, page2) = get(&app, "/api/latest?k=2&offset=1").await;
    assert_eq!(ids(&page2)[0], ids(&l)[1]);
    for (uri, c) in [
        ("/api/latest?date=16-06-2026", "invalid_date"),
        ("/api/latest?k=1000", "invalid_k"),
        ("/api/latest?day=2026-06-16", "unknown_param"),
    ] {
        let (s, e) = get(&app, uri).await;
        assert_error(s, &e, StatusCode::BAD_REQUEST, c);
    }
}

#[tokio::test]
async fn similar_needs_vectors() {
    let (_d, index) = fixture_index(false);
    let app = http::router(state(index.clone(), false, true, |_| {}));
    let (s, e) = get(&app, "/api/papers/2603.04592/similar").await;
    assert_error(s, &e, StatusCode::CONFLICT, "no_vectors");
    let (_, p) = get(&app, "/api/papers/2603.04592").await;
    assert_eq!(p["has_vector"], false);

    // An index with vectors where one paper lacks its vector (model unavailable at upsert).
    let (_d2, vindex) = fixture_index(true);
    let app = http::router(state(vindex, false, true, |_| {}));
    let body = json!([{"id": "local-1", "title": "A brand new paper", "abstract": "Nothing like the others."}]);
    let (s, r) = post(&app, "/api/papers", Some(TOKEN), body.to_string()).await;
    assert_eq!(s, StatusCode::OK, "{r}");
    assert!(r["warnings"][0]
        .as_str()
        .unwrap()
        .contains("without vectors"));
    let (s, e) = get(&app, "/api/papers/local-1/similar").await;
    assert_error(s, &e, StatusCode::CONFLICT, "paper_has_no_vector");
}

#[tokio::test]
async fn upsert_then_search_finds_it_and_writes_need_the_token() {
    let (_d, index) = fixture_index(true);
    let st = state(index.clone(), true, true, |c| {
        c.limits.max_body_bytes = 4096
    });
    let app = http::router(st.clone());
    let paper = json!([{
        "id": "2699.00001",
        "title": "Zymurgical transformers for sourdough fermentation forecasting",
        "abstract": "We forecast sourdough fermentation with zymurgical transformers.",
        "authors": ["Ada Baker"],
        "categories": ["cs.LG", "q-bio.QM"],
        "published": "2026-07-01",
        "url": "https://example.org/2699.00001"
    }]);
    // No token, wrong token: 401 with a Bearer challenge; nothing written.
    let (s, e) = post(&app, "/api/papers", None, paper.to_string()).await;
    assert_error(s, &e, StatusCode::UNAUTHORIZED, "unauthorized");
    let (s, e) = post(&app, "/api/papers", Some("wrong"), paper.to_string()).await;
    assert_error(s, &e, StatusCode::UNAUTHORIZED, "unauthorized");
    let (s, h, _) = send(
        &app,
        Request::post("/api/papers")
            .body(Body::from(paper.to_string()))
            .unwrap(),
    )
    .await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
    assert!(h[header::WWW_AUTHENTICATE]
        .to_str()
        .unwrap()
        .starts_with("Bearer"));
    let (_, v) = get(&app, "/api/search?q=zymurgical&mode=bm25").await;
    assert_eq!(v["total"], 0);

    let (s, r) = post(&app, "/api/papers", Some(TOKEN), paper.to_string()).await;
    assert_eq!(s, StatusCode::OK, "{r}");
    assert_eq!(
        (
            r["upserted"].as_u64(),
            r["created"].as_u64(),
            r["embedded"].as_u64()
        ),
        (Some(1), Some(1), Some(1))
    );
    let (_, v) = get(&app, "/api/search?q=zymurgical&mode=bm25").await;
    assert_eq!(
        ids(&v),
        ["2699.00001"],
        "searchable right after the upsert (cache invalidated)"
    );
    assert_eq!(v["hits"][0]["source"], "api");
    let (_, v) = get(&app, "/api/latest?k=1").await;
    assert_eq!(ids(&v), ["2699.00001"], "newest paper heads the daily list");
    let (_, v) = get(&app, "/api/papers/2699.00001/similar?k=3").await;
    assert_eq!(v["hits"].as_array().unwrap().len(), 3, "{v}");

    // Upsert again with a new title: replaced, not duplicated; the vector is recomputed.
    let mut changed = paper.clone();
    changed[0]["title"] = json!("Zymurgical transformers, revised");
    let (_, r) = post(&app, "/api/papers", Some(TOKEN), changed.to_string()).await;
    assert_eq!(
        (r["created"].as_u64(), r["embedded"].as_u64()),
        (Some(0), Some(1))
    );
    let (_, v) = get(&app, "/api/search?q=zymurgical&mode=bm25").await;
    assert_eq!(v["total"], 1);
    assert!(v["hits"][0]["title"].as_str().unwrap().ends_with("revised"));
    // Unchanged text keeps the stored vector.
    let (_, r) = post(&app, "/api/papers", Some(TOKEN), changed.to_string()).await;
    assert_eq!(
        (r["embedded"].as_u64(), r["vectors_kept"].as_u64()),
        (Some(0), Some(1))
    );
    let (_, all) = get(&app, "/api/search?k=1&mode=bm25").await;
    assert_eq!(all["total"], 251);

    // Body errors.
    let (s, e) = post(&app, "/api/papers", Some(TOKEN), "[{\"id\": \"x\", ").await;
    assert_error(s, &e, StatusCode::BAD_REQUEST, "invalid_json");
    let (s, e) = post(&app, "/api/papers", Some(TOKEN), "{\"id\": \"x\"}").await;
    assert_error(s, &e, StatusCode::BAD_REQUEST, "invalid_body");
    let (s, e) = post(&app, "/api/papers", Some(TOKEN), "[]").await;
    assert_error(s, &e, StatusCode::BAD_REQUEST, "invalid_body");
    let (s, e) = post(
        &app,
        "/api/papers",
        Some(TOKEN),
        json!([{"id": " ", "title": "t"}]).to_string(),
    )
    .await;
    assert_error(s, &e, StatusCode::BAD_REQUEST, "invalid_body");
    assert!(e["error"]["message"]
        .as_str()
        .unwrap()
        .contains("papers[0].id"));
    let (s, e) = post(
        &app,
        "/api/papers",
        Some(TOKEN),
        json!([{"id": "a", "title": "t"}, {"id": "b", "title": "t", "published": "June"}])
            .to_string(),
    )
    .await;
    assert_error(s, &e, StatusCode::BAD_REQUEST, "invalid_body");
    assert!(e["error"]["message"]
        .as_str()
        .unwrap()
        .contains("papers[1].published"));
    let (s, e) = post(
        &app,
        "/api/papers",
        Some(TOKEN),
        json!([{"id": "a", "title": "t", "colour": "red"}]).to_string(),
    )
    .await;
    assert_error(s, &e, StatusCode::BAD_REQUEST, "invalid_body");
    let big = json!([{"id": "big", "title": "t", "abstract": "x".repeat(5000)}]).to_string();
    let (s, e) = post(&app, "/api/papers", Some(TOKEN), big).await;
    assert_error(s, &e, StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large");
    let (s, _, b) = send(
        &app,
        Request::post("/api/papers")
            .header(header::AUTHORIZATION, format!("Bearer {TOKEN}"))
            .header(header::CONTENT_TYPE, "text/csv")
            .body(Body::from("id,title"))
            .unwrap(),
    )
    .await;
    assert_error(
        s,
        &serde_json::from_slice(&b).unwrap(),
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        "unsupported_media_type",
    );
    let (_, all) = get(&app, "/api/search?k=1&mode=bm25").await;
    assert_eq!(all["total"], 251, "rejected requests wrote nothing");

    // Metrics: route patterns (not raw ids), the ingest per source.
    let (s, h, b) = send(&app, Request::get("/metrics").body(Body::empty()).unwrap()).await;
    assert_eq!(s, StatusCode::OK);
    assert!(h[header::CONTENT_TYPE]
        .to_str()
        .unwrap()
        .starts_with("text/plain"));
    let text = String::from_utf8(b).unwrap();
    assert!(text.contains("academichub_http_requests_total{route=\"/api/papers\",method=\"POST\",status=\"401\"} 3"), "{text}");
    assert!(text.contains("academichub_http_requests_total{route=\"/api/papers/{id}/similar\",method=\"GET\",status=\"200\"} 1"));
    assert!(!text.contains("2699.00001"), "ids never become labels");
    assert!(text.contains("academichub_ingested_papers_total{source=\"api\"} 3"));
    assert!(text.contains("academichub_last_ingest_timestamp_seconds{source=\"api\"} 1"));
    assert!(text.contains("academichub_index_papers 251"));
    assert!(text.contains("academichub_index_papers_by_source{source=\"arxiv\"} 250"));
    assert!(text.contains(
        "academichub_http_request_duration_seconds_bucket{route=\"/api/search\",le=\"+Inf\"}"
    ));
}

#[tokio::test]
async fn writes_are_disabled_without_a_token() {
    let (_d, index) = fixture_index(false);
    let app = http::router(state(index, false, false, |_| {}));
    let (s, e) = post(&app, "/api/papers", Some("anything"), "[]").await;
    assert_error(s, &e, StatusCode::FORBIDDEN, "writes_disabled");
    assert!(e["error"]["message"]
        .as_str()
        .unwrap()
        .contains("ACADEMICHUB_TOKEN"));
    let (s, e) = post(&app, "/api/ingest", None, "").await;
    assert_error(s, &e, StatusCode::FORBIDDEN, "writes_disabled");
    let (s, h) = get(&app, "/healthz").await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(h["status"], "ok");
    assert_eq!(h["papers"], 250);
    assert_eq!(
        (
            h["writes"].as_bool(),
            h["vectors"].as_bool(),
            h["embedder"].as_bool(),
            h["ingest"].as_bool()
        ),
        (Some(false), Some(false), Some(false), Some(false))
    );
}

struct FakePoller;

impl IngestTrigger for FakePoller {
    fn trigger(&self, source: Option<String>) -> IngestFuture {
        Box::pin(async move {
            match source.as_deref() {
                Some("broken") => Err("feed https://feeds.invalid/broken answered 500"
                    .to_string()
                    .into()),
                Some("full") => Err(http::IngestFailure {
                    message: "cannot write feed state: No space left on device".into(),
                    storage_full: true,
                }),
                s => Ok(json!({"polled": s.unwrap_or("all"), "new": 2})),
            }
        })
    }
}

#[tokio::test]
async fn ingest_is_pluggable() {
    let (_d, index) = fixture_index(false);
    let st = state(index, false, true, |_| {});
    let app = http::router(st.clone());
    let (s, e) = post(&app, "/api/ingest", Some(TOKEN), "").await;
    assert_error(s, &e, StatusCode::SERVICE_UNAVAILABLE, "ingest_unavailable");
    let app = http::router(st.with_ingest(Arc::new(FakePoller)));
    let (s, e) = post(&app, "/api/ingest", Some("nope"), "").await;
    assert_error(s, &e, StatusCode::UNAUTHORIZED, "unauthorized");
    let (s, r) = post(&app, "/api/ingest", Some(TOKEN), "").await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(r, json!({"polled": "all", "new": 2}));
    let (_, r) = post(
        &app,
        "/api/ingest",
        Some(TOKEN),
        json!({"source": "medrxiv"}).to_string(),
    )
    .await;
    assert_eq!(r["polled"], "medrxiv");
    let (s, e) = post(
        &app,
        "/api/ingest",
        Some(TOKEN),
        json!({"source": "broken"}).to_string(),
    )
    .await;
    assert_error(s, &e, StatusCode::BAD_GATEWAY, "ingest_failed");
    let (s, e) = post(
        &app,
        "/api/ingest",
        Some(TOKEN),
        json!({"source": "full"}).to_string(),
    )
    .await;
    assert_error(s, &e, StatusCode::SERVICE_UNAVAILABLE, "storage_full");
    let (s, e) = post(&app, "/api/ingest", Some(TOKEN), "{\"feed\": 1}").await;
    assert_error(s, &e, StatusCode::BAD_REQUEST, "invalid_body");
    let (_, h) = get(&app, "/healthz").await;
    assert_eq!(h["ingest"], true);
}

#[tokio::test]
async fn openapi_is_generated_served_and_complete() {
    let (_d, index) = fixture_index(false);
    let app = http::router(state(index, false, false, |_| {}));
    let (s, served) = get(&app, "/api/openapi.json").await;
    assert_eq!(s, StatusCode::OK);
    let generated = serde_json::to_value(academichub::http::openapi::document()).unwrap();
    assert_eq!(
        served, generated,
        "the served document is the generated one"
    );
    let paths = served["paths"].as_object().unwrap();
    for (method, path) in http::ROUTES {
        let op = &paths
            .get(*path)
            .unwrap_or_else(|| panic!("{path} missing from the OpenAPI document"))
            [method.to_lowercase()];
        assert!(op.is_object(), "{method} {path} missing");
        // And the route is really served (not the 404 fallback).
        let req = Request::builder()
            .method(*method)
            .uri(path.replace("{id}", "2603.04592"))
            .body(Body::empty())
            .unwrap();
        let (status, _, body) = send(&app, req).await;
        // A 404 may name a missing resource (`radar_not_found`), never the missing route.
        let answer: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
        assert!(
            status != StatusCode::NOT_FOUND || answer["error"]["code"] != "not_found",
            "{method} {path}: {}",
            String::from_utf8_lossy(&body)
        );
        assert_ne!(status, StatusCode::METHOD_NOT_ALLOWED, "{method} {path}");
    }
    let documented: std::collections::BTreeSet<(String, String)> = paths
        .iter()
        .flat_map(|(path, ops)| {
            ops.as_object()
                .unwrap()
                .keys()
                .map(move |m| (m.to_uppercase(), path.clone()))
        })
        .collect();
    let routes: std::collections::BTreeSet<(String, String)> = http::ROUTES
        .iter()
        .map(|(m, p)| (m.to_string(), p.to_string()))
        .collect();
    assert_eq!(documented, routes, "every documented operation is a route");
    assert!(served["paths"]["/api/search"]["get"]["parameters"]
        .as_array()
        .unwrap()
        .iter()
        .any(|p| p["name"] == "category"));
    assert!(served["components"]["schemas"]["SearchResponse"]["properties"]["facets"].is_object());
}

#[tokio::test]
async fn page_cors_and_timeout() {
    let (_d, index) = fixture_index(false);
    let app = http::router(state(index.clone(), false, false, |c| {
        c.cors_origins = vec!["https://hub.example".into()]
    }));
    let (s, h, b) = send(&app, Request::get("/").body(Body::empty()).unwrap()).await;
    assert_eq!(s, StatusCode::OK);
    assert!(h[header::CONTENT_TYPE]
        .to_str()
        .unwrap()
        .starts_with("text/html"));
    let html = String::from_utf8(b).unwrap();
    assert!(html.contains("<script src=\"/app.js\"") && html.contains("搜索"));
    // Each radar shows its feed URL with a copy button, export links and "mark all as read".
    for id in [
        "r-feed-url",
        "r-feed-copy",
        "r-export-bib",
        "r-export-ris",
        "r-mark-read",
        "r-unread",
    ] {
        assert!(
            html.contains(&format!("id=\"{id}\"")),
            "{id} missing from the page"
        );
    }
    assert!(
        !html.contains("http://") && !html.contains("https://"),
        "no external resources"
    );
    for asset in ["/app.js", "/app.css"] {
        let (s, _, b) = send(&app, Request::get(asset).body(Body::empty()).unwrap()).await;
        assert_eq!(s, StatusCode::OK);
        let text = String::from_utf8(b).unwrap();
        assert!(
            !text.contains("@import") && !text.contains("cdn"),
            "{asset} loads nothing external"
        );
    }
    // CORS: the configured origin is echoed, others get nothing; preflight answered.
    let (_, h, _) = send(
        &app,
        Request::get("/api/latest?k=1")
            .header(header::ORIGIN, "https://hub.example")
            .body(Body::empty())
            .unwrap(),
    )
    .await;
    assert_eq!(
        h[header::ACCESS_CONTROL_ALLOW_ORIGIN],
        "https://hub.example"
    );
    let (_, h, _) = send(
        &app,
        Request::get("/api/latest?k=1")
            .header(header::ORIGIN, "https://evil.example")
            .body(Body::empty())
            .unwrap(),
    )
    .await;
    assert!(h.get(header::ACCESS_CONTROL_ALLOW_ORIGIN).is_none());
    let (s, h, _) = send(
        &app,
        Request::options("/api/papers")
            .header(header::ORIGIN, "https://hub.example")
            .header(header::ACCESS_CONTROL_REQUEST_METHOD, "POST")
            .body(Body::empty())
            .unwrap(),
    )
    .await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    assert!(h[header::ACCESS_CONTROL_ALLOW_HEADERS]
        .to_str()
        .unwrap()
        .contains("authorization"));

    // A read over the time limit answers 503 `timeout`: the query embedder below does not
    // answer until the test has seen the 503, whatever the machine's speed.
    let (_dv, vindex) = fixture_index(true);
    let (gate, release) = crate::fixtures::gate();
    let held = HeldEmbedder {
        inner: HashEmbedder::new(64),
        gate,
    };
    let mut config = ServerConfig::default();
    config.limits.request_timeout_ms = 50;
    config.cache_entries = 0;
    let app = http::router(AppState::new(vindex, config).with_embedder(Box::new(held)));
    let (s, v) = get(&app, "/api/search?q=language%20models&mode=hybrid").await;
    assert_error(s, &v, StatusCode::SERVICE_UNAVAILABLE, "timeout");
    drop(release);
}

/// The fixture's embedder, but a query waits for `gate` to open before it is embedded.
struct HeldEmbedder {
    inner: HashEmbedder,
    gate: crate::fixtures::Gate,
}

impl Embedder for HeldEmbedder {
    fn id(&self) -> &academichub::embed::ModelId {
        self.inner.id()
    }

    fn embed_passages(
        &mut self,
        texts: &[String],
    ) -> Result<Vec<Vec<f32>>, academichub::embed::EmbedError> {
        self.inner.embed_passages(texts)
    }

    fn embed_query(&mut self, text: &str) -> Result<Vec<f32>, academichub::embed::EmbedError> {
        self.gate.wait();
        self.inner.embed_query(text)
    }
}

/// Any request with an optional bearer token and JSON body.
pub(crate) async fn call(
    app: &axum::Router,
    method: &str,
    uri: &str,
    token: Option<&str>,
    body: Option<Value>,
) -> (StatusCode, Value) {
    let mut req = Request::builder().method(method).uri(uri);
    if let Some(t) = token {
        req = req.header(header::AUTHORIZATION, format!("Bearer {t}"));
    }
    let body = match body {
        Some(b) => {
            req = req.header(header::CONTENT_TYPE, "application/json");
            Body::from(b.to_string())
        }
        None => Body::empty(),
    };
    let (s, _, b) = send(app, req.body(body).unwrap()).await;
    let v = serde_json::from_slice(&b).unwrap_or_else(|e| {
        panic!(
            "{method} {uri}: not JSON ({e}): {}",
            String::from_utf8_lossy(&b)
        )
    });
    (s, v)
}

#[tokio::test]
async fn radars_crud_papers_and_briefings() {
    let (_d, index) = fixture_index(true);
    let app = http::router(state(index.clone(), true, true, |_| {}));
    let (s, v) = get(&app, "/api/radars").await;
    assert_eq!((s, v["total"].clone()), (StatusCode::OK, json!(0)), "{v}");

    // Writes need the token; bad bodies are named.
    let spec = json!({"name": "Streaming LLMs", "queries": ["streaming LLMs survey"]});
    let (s, v) = call(&app, "POST", "/api/radars", None, Some(spec.clone())).await;
    assert_error(s, &v, StatusCode::UNAUTHORIZED, "unauthorized");
    let (s, v) = call(
        &app,
        "POST",
        "/api/radars",
        Some(TOKEN),
        Some(json!({"name": "x"})),
    )
    .await;
    assert_error(s, &v, StatusCode::BAD_REQUEST, "invalid_queries");
    let (s, v) = call(
        &app,
        "POST",
        "/api/radars",
        Some(TOKEN),
        Some(json!({"name": "x", "queries": ["a"], "colour": "red"})),
    )
    .await;
    assert_error(s, &v, StatusCode::BAD_REQUEST, "invalid_body");
    let (s, v) = call(
        &app,
        "POST",
        "/api/radars",
        Some(TOKEN),
        Some(json!({"name": "x", "queries": ["a"], "positive": ["9999.99999"]})),
    )
    .await;
    assert_error(s, &v, StatusCode::BAD_REQUEST, "unknown_paper");
    let (s, v) = call(&app, "POST", "/api/radars", Some(TOKEN), Some(spec)).await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    assert_eq!(v["id"], "streaming-llms");
    assert_eq!(v["queries"], json!(["streaming LLMs survey"]));

    let (s, v) = get(&app, "/api/radars/streaming-llms").await;
    assert_eq!(
        (s, v["name"].clone()),
        (StatusCode::OK, json!("Streaming LLMs"))
    );
    let (s, v) = get(&app, "/api/radars/nope").await;
    assert_error(s, &v, StatusCode::NOT_FOUND, "radar_not_found");

    // Ranked papers with reasons: the streaming-LLM survey first, through both legs.
    let (s, v) = get(&app, "/api/radars/streaming-llms/papers?k=5").await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v["mode"], "hybrid", "{v}");
    assert_eq!(v["papers"].as_array().unwrap().len(), 5);
    let top = &v["papers"][0];
    assert_eq!(top["id"], "2603.04592", "{v}");
    assert_eq!(top["rank"], 1);
    assert_eq!(top["reason"]["query"]["query"], "streaming LLMs survey");
    assert!(top["reason"]["query"]["bm25_rank"].is_number(), "{top}");
    assert!(!top["reason"]["text"].as_str().unwrap().is_empty());
    assert!(v["took_ms"].as_f64().unwrap() >= 0.0);
    let (s, v) = get(&app, "/api/radars/streaming-llms/papers?since=2026-06-17").await;
    assert_eq!(s, StatusCode::OK, "{v}");
    for p in v["papers"].as_array().unwrap() {
        assert!(p["published"].as_str().unwrap() >= "2026-06-17", "{p}");
    }
    for (uri, code_) in [
        (
            "/api/radars/streaming-llms/papers?since=2999-01-01",
            "invalid_since",
        ),
        (
            "/api/radars/streaming-llms/papers?since=yesterday",
            "invalid_since",
        ),
        ("/api/radars/streaming-llms/papers?k=0", "invalid_k"),
        (
            "/api/radars/streaming-llms/papers?colour=red",
            "unknown_param",
        ),
    ] {
        let (s, v) = get(&app, uri).await;
        assert_error(s, &v, StatusCode::BAD_REQUEST, code_);
    }
    let (s, v) = get(&app, "/api/radars/nope/papers").await;
    assert_error(s, &v, StatusCode::NOT_FOUND, "radar_not_found");

    // PUT replaces the definition; the id and creation time stay.
    let (_, before) = get(&app, "/api/radars/streaming-llms").await;
    let (s, v) = call(
        &app,
        "PUT",
        "/api/radars/streaming-llms",
        Some(TOKEN),
        Some(json!({"name": "Streaming LLMs", "queries": ["streaming LLMs survey"], "negative": ["2603.04592"]})),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v["created"], before["created"]);
    assert_eq!(v["negative"], json!(["2603.04592"]));
    let (_, v) = get(&app, "/api/radars/streaming-llms/papers?k=20").await;
    assert!(
        v["papers"]
            .as_array()
            .unwrap()
            .iter()
            .all(|p| p["id"] != "2603.04592"),
        "a negative example is not a result"
    );

    // Briefings: JSON citing only selected papers, Markdown, errors.
    let (s, v) = get(&app, "/api/briefings?radar=streaming-llms&lang=en&k=8").await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v["lang"], "en");
    assert_eq!(v["radars"][0]["id"], "streaming-llms");
    assert_eq!(v["radars"][0]["papers"].as_array().unwrap().len(), 8);
    let selected: Vec<&str> = v["papers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["id"].as_str().unwrap())
        .collect();
    for t in v["themes"].as_array().unwrap() {
        for id in t["papers"].as_array().unwrap() {
            assert!(selected.contains(&id.as_str().unwrap()), "{id}");
        }
    }
    assert!(v["narrative"].is_null(), "no LLM configured");
    let (s, headers, body) = send(
        &app,
        Request::get("/api/briefings?radar=streaming-llms&format=md")
            .body(Body::empty())
            .unwrap(),
    )
    .await;
    assert_eq!(s, StatusCode::OK);
    assert!(headers[header::CONTENT_TYPE]
        .to_str()
        .unwrap()
        .starts_with("text/markdown"));
    let md = String::from_utf8(body).unwrap();
    assert!(md.starts_with("# "), "{md}");
    assert!(md.contains(selected[0]), "the Markdown cites paper ids");
    for (uri, status, code_) in [
        (
            "/api/briefings?radar=nope",
            StatusCode::NOT_FOUND,
            "radar_not_found",
        ),
        (
            "/api/briefings?lang=fr",
            StatusCode::BAD_REQUEST,
            "invalid_lang",
        ),
        (
            "/api/briefings?format=pdf",
            StatusCode::BAD_REQUEST,
            "invalid_format",
        ),
        (
            "/api/briefings?since=2999-01-01",
            StatusCode::BAD_REQUEST,
            "invalid_since",
        ),
        (
            "/api/briefings?llm=maybe",
            StatusCode::BAD_REQUEST,
            "invalid_llm",
        ),
        (
            "/api/briefings?radars=x",
            StatusCode::BAD_REQUEST,
            "unknown_param",
        ),
    ] {
        let (s, v) = get(&app, uri).await;
        assert_error(s, &v, status, code_);
    }

    // DELETE needs the token, answers the radar, and it is gone.
    let (s, v) = call(
        &app,
        "DELETE",
        "/api/radars/streaming-llms",
        Some("wrong"),
        None,
    )
    .await;
    assert_error(s, &v, StatusCode::UNAUTHORIZED, "unauthorized");
    let (s, v) = call(
        &app,
        "DELETE",
        "/api/radars/streaming-llms",
        Some(TOKEN),
        None,
    )
    .await;
    assert_eq!(
        (s, v["deleted"]["id"].clone()),
        (StatusCode::OK, json!("streaming-llms"))
    );
    let (s, v) = call(
        &app,
        "DELETE",
        "/api/radars/streaming-llms",
        Some(TOKEN),
        None,
    )
    .await;
    assert_error(s, &v, StatusCode::NOT_FOUND, "radar_not_found");
    let (_, v) = get(&app, "/api/radars").await;
    assert_eq!(v["total"], 0);

    // Without a token, radar writes are disabled like every write; reads still work.
    let ro = http::router(state(index, true, false, |_| {}));
    let (s, v) = call(
        &ro,
        "POST",
        "/api/radars",
        Some(TOKEN),
        Some(json!({"name": "x", "queries": ["a"]})),
    )
    .await;
    assert_error(s, &v, StatusCode::FORBIDDEN, "writes_disabled");
    assert_eq!(get(&ro, "/api/radars").await.0, StatusCode::OK);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn briefing_narrative_from_a_stub_llm_and_its_fallbacks() {
    use crate::briefing::{config, ok, stub, Reply};
    use crate::fixtures::gate;
    use academichub::briefing::llm::LlmClient;
    use std::time::Duration;

    let (_d, index) = fixture_index(true);
    let base = state(index.clone(), true, true, |_| {});
    let app = http::router(base.clone());
    let (s, v) = call(
        &app,
        "POST",
        "/api/radars",
        Some(TOKEN),
        Some(json!({"name": "LLM", "queries": ["streaming LLMs survey"]})),
    )
    .await;
    assert_eq!(s, StatusCode::CREATED, "{v}");

    // A model that cites a selected paper once and makes one claim without a citation.
    let (url, seen) = stub(vec![ok(
        "流式大语言模型综述梳理了这一方向 [2603.04592]。这句话没有引用。",
    )]);
    let client = LlmClient::new(&config(&url, 10, 0)).unwrap();
    let app = http::router(base.clone().with_llm(client, Duration::from_secs(10)));
    let (s, v) = get(&app, "/api/briefings?radar=llm&k=5").await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v["narrative"]["model"], "stub-model", "{v}");
    let text = v["narrative"]["text"].as_str().unwrap();
    assert!(text.contains("[2603.04592]"), "{text}");
    assert!(
        !text.contains("没有引用"),
        "uncited claims are dropped: {text}"
    );
    assert_eq!(v["narrative"]["dropped_sentences"], 1);
    assert_eq!(seen.lock().unwrap().len(), 1);
    // `llm=false` skips the model.
    let (_, v) = get(&app, "/api/briefings?radar=llm&k=5&llm=false").await;
    assert!(v["narrative"].is_null());
    assert_eq!(seen.lock().unwrap().len(), 1, "the model was not asked");

    // A model slower than the server's budget: the extractive briefing, with a note. The held
    // answer is valid, so a server that waited for it would show it as the narrative; the
    // client's own timeout (30 s) is far beyond the budget.
    let (gate, release) = gate();
    let (url, _) = stub(vec![Reply {
        hold: Some(gate),
        ..ok("The survey covers streaming LLMs [2603.04592].")
    }]);
    let client = LlmClient::new(&config(&url, 30, 0)).unwrap();
    let app = http::router(base.with_llm(client, Duration::from_millis(300)));
    let (s, v) = get(&app, "/api/briefings?radar=llm&k=5").await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert!(v["narrative"].is_null(), "{v}");
    assert!(
        v["notes"]
            .as_array()
            .unwrap()
            .iter()
            .any(|n| n.as_str().unwrap().contains("did not finish")),
        "{v}"
    );
    assert!(!v["radars"][0]["papers"].as_array().unwrap().is_empty());
    drop(release);
}
