//! Radar delivery over HTTP: the Atom feed read back by an independent parser (feed-rs),
//! conditional GET, "mark as read" leaving papers out of the feed, a revised paper coming back
//! as updated, and marks that die with their radar.

use academichub::http;
use axum::body::Body;
use axum::http::{header, Request, StatusCode};
use serde_json::{json, Value};

use crate::fixtures::fixture_index;
use crate::http::{call, get, post, send, state, TOKEN};

struct Fetched {
    status: StatusCode,
    etag: String,
    modified: String,
    ctype: String,
    body: String,
}

async fn fetch(app: &axum::Router, uri: &str, headers: &[(header::HeaderName, &str)]) -> Fetched {
    let mut req = Request::get(uri).header(header::HOST, "radar.test:8080");
    for (k, v) in headers {
        req = req.header(k, *v);
    }
    let (status, h, b) = send(app, req.body(Body::empty()).unwrap()).await;
    let get = |name: header::HeaderName| {
        h.get(name)
            .map(|v| v.to_str().unwrap().to_string())
            .unwrap_or_default()
    };
    Fetched {
        status,
        etag: get(header::ETAG),
        modified: get(header::LAST_MODIFIED),
        ctype: get(header::CONTENT_TYPE),
        body: String::from_utf8(b).unwrap(),
    }
}

fn parse(xml: &str) -> feed_rs::model::Feed {
    feed_rs::parser::parse(xml.as_bytes()).unwrap_or_else(|e| panic!("invalid feed ({e}):\n{xml}"))
}

/// Paper ids of a feed's entries, from their tag URIs.
fn entry_ids(f: &feed_rs::model::Feed) -> Vec<String> {
    f.entries
        .iter()
        .map(|e| {
            e.id.strip_prefix("tag:academichub,2026:paper/")
                .unwrap_or_else(|| panic!("entry id {}", e.id))
                .replace("%2F", "/")
        })
        .collect()
}

#[tokio::test]
async fn a_radar_feed_is_valid_atom_conditional_and_leaves_out_what_was_read() {
    let (_d, index) = fixture_index(true);
    let app = http::router(state(index, true, true, |_| {}));
    let spec = json!({"name": "Streaming LLMs", "queries": ["streaming large language models"]});
    let (s, v) = call(&app, "POST", "/api/radars", Some(TOKEN), Some(spec.clone())).await;
    assert_eq!(s, StatusCode::CREATED, "{v}");

    let url = "/api/radars/streaming-llms/feed.atom?k=10&days=30";
    let first = fetch(&app, url, &[]).await;
    assert_eq!(first.status, StatusCode::OK, "{}", first.body);
    assert_eq!(first.ctype, "application/atom+xml; charset=utf-8");
    assert!(
        first.etag.starts_with('"') && first.etag.len() == 34,
        "{}",
        first.etag
    );
    assert!(
        httpdate::parse_http_date(&first.modified).is_ok(),
        "{}",
        first.modified
    );
    assert!(
        first
            .body
            .contains("<feed xmlns=\"http://www.w3.org/2005/Atom\""),
        "Atom namespace on the root: {}",
        &first.body[..first.body.len().min(300)]
    );
    let f = parse(&first.body);
    assert_eq!(f.feed_type, feed_rs::model::FeedType::Atom);
    assert!(f
        .title
        .as_ref()
        .unwrap()
        .content
        .starts_with("Streaming LLMs"));
    assert!(f.links.iter().any(|l| l.rel.as_deref() == Some("self")
        && l.href == "http://radar.test:8080/api/radars/streaming-llms/feed.atom?k=10&days=30"));
    assert_eq!(f.entries.len(), 10, "{}", first.body);

    // The same papers as the radar's own ranking over the feed's window, newest first.
    let dates: Vec<_> = f.entries.iter().map(|e| e.published.unwrap()).collect();
    assert!(
        dates.windows(2).all(|w| w[0] >= w[1]),
        "newest first: {dates:?}"
    );
    let until = dates[0].format("%Y-%m-%d").to_string();
    let since = academichub::paper::format_date(
        academichub::paper::parse_date(&until).unwrap() - time::Duration::days(29),
    );
    let (_, ranked) = get(
        &app,
        &format!("/api/radars/streaming-llms/papers?since={since}&until={until}&k=10"),
    )
    .await;
    let mut want: Vec<String> = ranked["papers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["id"].as_str().unwrap().to_string())
        .collect();
    let mut got = entry_ids(&f);
    let top = got.clone();
    want.sort();
    got.sort();
    assert_eq!(got, want);
    // Every entry carries what a reader needs.
    let by_id: std::collections::HashMap<&str, &Value> = ranked["papers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| (p["id"].as_str().unwrap(), p))
        .collect();
    for (e, id) in f.entries.iter().zip(&top) {
        let p = by_id[id.as_str()];
        assert_eq!(
            e.title.as_ref().unwrap().content,
            p["title"].as_str().unwrap()
        );
        assert_eq!(e.links[0].href, p["url"].as_str().unwrap());
        assert!(e.updated.is_some());
        assert_eq!(e.authors.len(), p["authors"].as_array().unwrap().len());
        let cats: Vec<&str> = e.categories.iter().map(|c| c.term.as_str()).collect();
        assert_eq!(json!(cats), p["categories"]);
        assert_eq!(
            e.summary.as_ref().unwrap().content,
            p["reason"]["text"].as_str().unwrap()
        );
        let html = e.content.as_ref().unwrap().body.as_deref().unwrap();
        assert!(html.contains("Why:"), "{html}");
        let words: Vec<&str> = p["abstract"].as_str().unwrap().split(' ').take(3).collect();
        assert!(
            html.contains(&words.join(" ")) || p["abstract"].as_str().unwrap().contains('<'),
            "{html}"
        );
    }

    // Conditional GET: the ETag or the date answer 304 with no body.
    let again = fetch(&app, url, &[(header::IF_NONE_MATCH, first.etag.as_str())]).await;
    assert_eq!(
        (again.status, again.body.as_str()),
        (StatusCode::NOT_MODIFIED, "")
    );
    assert_eq!(again.etag, first.etag);
    let again = fetch(
        &app,
        url,
        &[(header::IF_MODIFIED_SINCE, first.modified.as_str())],
    )
    .await;
    assert_eq!(again.status, StatusCode::NOT_MODIFIED);
    let other = fetch(&app, url, &[(header::IF_NONE_MATCH, "\"something-else\"")]).await;
    assert_eq!(other.status, StatusCode::OK);

    // Mark three as read: they leave the feed (and the ETag changes); all=true shows them.
    let read: Vec<&str> = top[..3].iter().map(String::as_str).collect();
    let (s, v) = call(
        &app,
        "POST",
        "/api/radars/streaming-llms/read",
        None,
        Some(json!({"ids": read})),
    )
    .await;
    assert_eq!(
        (s, v["error"]["code"].clone()),
        (StatusCode::UNAUTHORIZED, json!("unauthorized"))
    );
    let (s, v) = call(
        &app,
        "POST",
        "/api/radars/streaming-llms/read",
        Some(TOKEN),
        Some(json!({"ids": ["9999.99999"]})),
    )
    .await;
    for bad in [
        json!({"ids": []}),
        json!({"ids": [""]}),
        json!({"ids": ["x".repeat(2000)]}),
    ] {
        let (s, v) = call(
            &app,
            "POST",
            "/api/radars/streaming-llms/read",
            Some(TOKEN),
            Some(bad),
        )
        .await;
        assert_eq!(
            (s, v["error"]["code"].as_str()),
            (StatusCode::BAD_REQUEST, Some("invalid_ids")),
            "{v}"
        );
    }
    assert_eq!(
        (s, v["error"]["code"].clone()),
        (StatusCode::BAD_REQUEST, json!("unknown_paper")),
        "{v}"
    );
    let (s, v) = call(
        &app,
        "POST",
        "/api/radars/streaming-llms/read",
        Some(TOKEN),
        Some(json!({"ids": read})),
    )
    .await;
    assert_eq!((s, v["marked"].clone()), (StatusCode::OK, json!(3)), "{v}");
    let (_, v) = call(
        &app,
        "POST",
        "/api/radars/streaming-llms/read",
        Some(TOKEN),
        Some(json!({"ids": read})),
    )
    .await;
    assert_eq!(v["marked"], 0, "marking twice changes nothing");
    let after = fetch(&app, url, &[(header::IF_NONE_MATCH, first.etag.as_str())]).await;
    assert_eq!(after.status, StatusCode::OK, "the marks change the feed");
    assert_ne!(after.etag, first.etag);
    let ids = entry_ids(&parse(&after.body));
    assert_eq!(
        ids.len(),
        7,
        "read papers are left out, not replaced by lower matches"
    );
    assert!(read.iter().all(|r| !ids.iter().any(|i| i == r)), "{ids:?}");
    let all = entry_ids(&parse(
        &fetch(&app, &format!("{url}&all=true"), &[]).await.body,
    ));
    assert_eq!(all, top);
    // The radar's papers with unread=true leave them out too (and say so).
    let unread_url =
        format!("/api/radars/streaming-llms/papers?since={since}&until={until}&k=10&unread=true");
    let (_, v) = get(&app, &unread_url).await;
    let listed: Vec<&str> = v["papers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["id"].as_str().unwrap())
        .collect();
    assert_eq!(listed.len(), 7);
    assert!(read.iter().all(|r| !listed.contains(r)), "{listed:?}");
    assert_eq!(v["unread"]["delivered_left_out"], 3, "{}", v["unread"]);
    assert_eq!(v["papers"][0]["rank"], 1);
    let (_, v) = get(&app, "/api/radars/streaming-llms/papers?unread=perhaps").await;
    assert_eq!(v["error"]["code"], "invalid_unread");

    // A new version of a read paper comes back, titled as updated.
    let (_, p) = get(&app, &format!("/api/papers/{}", read[0])).await;
    let revised = json!([{
        "id": read[0], "version": p["version"].as_u64().unwrap() + 1, "source": "arxiv",
        "title": p["title"], "abstract": p["abstract"], "authors": p["authors"],
        "categories": p["categories"], "published": p["published"], "url": p["url"]
    }]);
    let (s, v) = post(&app, "/api/papers", Some(TOKEN), revised.to_string()).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    let f = parse(&fetch(&app, url, &[]).await.body);
    let e = f
        .entries
        .iter()
        .find(|e| e.id.ends_with(read[0]))
        .expect("the revised paper is back");
    let title = &e.title.as_ref().unwrap().content;
    assert!(
        title.starts_with(&format!(
            "[updated v{}] ",
            p["version"].as_u64().unwrap() + 1
        )),
        "{title}"
    );
    let (_, v) = get(&app, &unread_url).await;
    assert_eq!(v["unread"]["updated"], json!([read[0]]), "{}", v["unread"]);
    assert_eq!(v["unread"]["delivered_left_out"], 2);

    // Marks belong to the radar: deleted and created again, it starts with nothing read.
    let (s, _) = call(
        &app,
        "DELETE",
        "/api/radars/streaming-llms",
        Some(TOKEN),
        None,
    )
    .await;
    assert_eq!(s, StatusCode::OK);
    let gone = fetch(&app, url, &[]).await;
    assert_eq!(gone.status, StatusCode::NOT_FOUND);
    let (s, _) = call(&app, "POST", "/api/radars", Some(TOKEN), Some(spec)).await;
    assert_eq!(s, StatusCode::CREATED);
    // Possibly within the same second as the first: deleting forgot the marks.
    let fresh = entry_ids(&parse(&fetch(&app, url, &[]).await.body));
    assert_eq!(fresh, top, "nothing read on the new radar");

    // Bad parameters are named.
    for (q, code) in [
        ("k=0", "invalid_k"),
        ("days=400", "invalid_days"),
        ("all=maybe", "invalid_all"),
        ("x=1", "unknown_param"),
    ] {
        let r = fetch(
            &app,
            &format!("/api/radars/streaming-llms/feed.atom?{q}"),
            &[],
        )
        .await;
        let v: Value = serde_json::from_str(&r.body).unwrap();
        assert_eq!(
            (r.status, v["error"]["code"].as_str()),
            (StatusCode::BAD_REQUEST, Some(code)),
            "{q}"
        );
    }
}

#[tokio::test]
async fn the_digest_preview_is_the_email_html() {
    let (_d, index) = fixture_index(true);
    let app = http::router(state(index, true, true, |_| {}));
    let spec = json!({"name": "Streaming LLMs", "queries": ["streaming large language models"]});
    let (s, _) = call(&app, "POST", "/api/radars", Some(TOKEN), Some(spec)).await;
    assert_eq!(s, StatusCode::CREATED);
    let r = fetch(
        &app,
        "/api/digest?radar=streaming-llms&days=30&k=3&lang=en",
        &[],
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.ctype, "text/html; charset=utf-8");
    assert!(r.body.starts_with("<!DOCTYPE html>"));
    assert!(
        r.body.contains("Streaming LLMs") && r.body.contains(">1. arXiv (CS."),
        "{}",
        r.body
    );
    assert_eq!(r.body.matches("Why: ").count(), 3);
    for (q, status, code) in [
        ("", StatusCode::BAD_REQUEST, "invalid_radar"),
        ("radar=nope", StatusCode::NOT_FOUND, "radar_not_found"),
        (
            "radar=streaming-llms&lang=fr",
            StatusCode::BAD_REQUEST,
            "invalid_lang",
        ),
        (
            "radar=streaming-llms&k=0",
            StatusCode::BAD_REQUEST,
            "invalid_k",
        ),
    ] {
        let r = fetch(&app, &format!("/api/digest?{q}"), &[]).await;
        let v: Value = serde_json::from_str(&r.body).unwrap();
        assert_eq!(
            (r.status, v["error"]["code"].as_str()),
            (status, Some(code)),
            "{q}"
        );
    }
    // A preview marks nothing: the feed still lists every match.
    let f = fetch(
        &app,
        "/api/radars/streaming-llms/feed.atom?days=30&k=3",
        &[],
    )
    .await;
    assert_eq!(parse(&f.body).entries.len(), 3);
}
