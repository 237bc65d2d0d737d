//! End to end: the real server on 127.0.0.1, the page in headless Chromium driven over the
//! DevTools protocol: type a query, press Enter, check the rendered results; open a paper.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use academichub::http;
use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};
use tokio_tungstenite::tungstenite::Message;

use crate::fixtures::fixture_index;
use crate::http::state;

/// Kills the browser when the test ends, however it ends.
struct Browser {
    child: Child,
    /// The throwaway profile directory, deleted after the browser exits.
    _profile: tempfile::TempDir,
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn chromium() -> Option<&'static str> {
    ["chromium", "chromium-browser", "google-chrome"]
        .into_iter()
        .find(|b| {
            Command::new(b)
                .arg("--version")
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()
                .is_ok_and(|s| s.success())
        })
}

/// Starts headless Chromium; returns it and its browser DevTools websocket URL.
fn launch(bin: &str) -> (Browser, String) {
    let profile = tempfile::tempdir().unwrap();
    let mut child = Command::new(bin)
        .args([
            "--headless=new",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--no-first-run",
            "--no-default-browser-check",
            "--remote-debugging-port=0",
            "--window-size=1200,900",
        ])
        .arg(format!("--user-data-dir={}", profile.path().display()))
        .arg("about:blank")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start chromium");
    let stderr = child.stderr.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if let Some(url) = line.split("DevTools listening on ").nth(1) {
                let _ = tx.send(url.trim().to_string());
            }
        }
    });
    let url = rx
        .recv_timeout(Duration::from_secs(60))
        .expect("chromium printed its DevTools URL");
    (
        Browser {
            child,
            _profile: profile,
        },
        url,
    )
}

type Ws =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

struct Cdp {
    ws: Ws,
    next: u64,
    session: Option<String>,
}

impl Cdp {
    async fn call(&mut self, method: &str, params: Value) -> Value {
        self.next += 1;
        let id = self.next;
        let mut msg = json!({"id": id, "method": method, "params": params});
        if let Some(s) = &self.session {
            msg["sessionId"] = json!(s);
        }
        self.ws
            .send(Message::Text(msg.to_string().into()))
            .await
            .unwrap();
        loop {
            let frame = tokio::time::timeout(Duration::from_secs(30), self.ws.next())
                .await
                .expect("DevTools answered in time")
                .expect("DevTools connection open")
                .unwrap();
            let Message::Text(text) = frame else { continue };
            let v: Value = serde_json::from_str(&text).unwrap();
            if v["id"] == id {
                assert!(v.get("error").is_none(), "{method}: {v}");
                return v["result"].clone();
            }
        }
    }

    /// Evaluates `expr` in the page and returns its value.
    async fn eval(&mut self, expr: &str) -> Value {
        let r = self
            .call(
                "Runtime.evaluate",
                json!({"expression": expr, "returnByValue": true, "awaitPromise": true}),
            )
            .await;
        assert!(r.get("exceptionDetails").is_none(), "{expr}: {r}");
        r["result"]["value"].clone()
    }

    /// Polls `expr` until it is truthy.
    async fn wait_for(&mut self, expr: &str, what: &str) -> Value {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let v = self.eval(expr).await;
            // JavaScript falsiness: a count of 0 means "not rendered yet", not an answer.
            let falsy = v.is_null()
                || v == json!(false)
                || v == json!("")
                || v == json!([])
                || v.as_f64() == Some(0.0);
            if !falsy {
                return v;
            }
            assert!(Instant::now() < deadline, "timed out waiting for {what}");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    async fn key(&mut self, key: &str, code: &str, vk: u32, text: Option<&str>) {
        let mut down = json!({"type": "keyDown", "key": key, "code": code, "windowsVirtualKeyCode": vk, "nativeVirtualKeyCode": vk});
        if let Some(t) = text {
            down["text"] = json!(t);
            down["unmodifiedText"] = json!(t);
        }
        self.call("Input.dispatchKeyEvent", down).await;
        self.call("Input.dispatchKeyEvent", json!({"type": "keyUp", "key": key, "code": code, "windowsVirtualKeyCode": vk, "nativeVirtualKeyCode": vk})).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn browser_types_a_query_and_sees_results() {
    let Some(bin) = chromium() else {
        eprintln!("SKIPPED browser_types_a_query_and_sees_results: no chromium binary (install the Debian package `chromium`; .ci/run does)");
        return;
    };
    let (_d, index) = fixture_index(true);
    academichub::radar::create_radar(
        &index,
        &academichub::radar::RadarSpec {
            name: "Streaming LLMs".into(),
            queries: vec!["streaming LLMs survey".into()],
            ..Default::default()
        },
    )
    .unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(http::serve(
        listener,
        state(index, true, true, |_| {}),
        async {
            let _ = stop_rx.await;
        },
    ));

    let (_browser, browser_ws) = tokio::task::spawn_blocking(move || launch(bin))
        .await
        .unwrap();
    let (ws, _) = tokio_tungstenite::connect_async(browser_ws.as_str())
        .await
        .unwrap();
    let mut cdp = Cdp {
        ws,
        next: 0,
        session: None,
    };
    let target = cdp
        .call("Target.createTarget", json!({"url": "about:blank"}))
        .await;
    let attached = cdp
        .call(
            "Target.attachToTarget",
            json!({"targetId": target["targetId"], "flatten": true}),
        )
        .await;
    cdp.session = attached["sessionId"].as_str().map(str::to_string);
    cdp.call("Page.enable", json!({})).await;
    cdp.call("Runtime.enable", json!({})).await;
    cdp.call("Page.navigate", json!({"url": format!("http://{addr}/")}))
        .await;

    // The page starts on the daily list, in Chinese.
    cdp.wait_for(
        "document.querySelectorAll('#results li.hit').length > 0",
        "the latest list",
    )
    .await;
    assert_eq!(cdp.eval("document.documentElement.lang").await, "zh-CN");
    assert_eq!(
        cdp.eval("document.getElementById('go').textContent").await,
        "搜索"
    );
    let first_latest = cdp
        .eval("document.querySelector('#results li.hit .title').textContent")
        .await;
    assert!(first_latest.as_str().unwrap().len() > 10);
    assert_eq!(
        cdp.eval("document.querySelector('#results li.hit .label').textContent")
            .await,
        "arXiv (CS.CV)",
        "seed-style source (category) label"
    );

    // `/` focuses the search box; type a query; Enter searches.
    cdp.eval("document.activeElement && document.activeElement.blur()")
        .await;
    cdp.key("/", "Slash", 191, Some("/")).await;
    assert_eq!(cdp.eval("document.activeElement.id").await, "q");
    cdp.call("Input.insertText", json!({"text": "streaming LLMs survey"}))
        .await;
    cdp.key("Enter", "Enter", 13, Some("\r")).await;
    let titles = cdp
        .wait_for(
            "(() => { const s = document.getElementById('status').textContent; \
              return /hybrid|bm25/.test(s) ? Array.from(document.querySelectorAll('#results li.hit .title')).map(e => e.textContent) : null })()",
            "search results",
        )
        .await;
    let titles: Vec<String> = serde_json::from_value(titles).unwrap();
    assert!(
        titles[0]
            .starts_with("From Static Inference to Dynamic Interaction: A Survey of Streaming"),
        "{titles:?}"
    );
    assert_eq!(titles.len(), 10);
    let marked = cdp
        .eval("document.querySelector('#results li.hit .title mark').textContent")
        .await;
    assert_eq!(marked, "Survey");
    assert_eq!(
        cdp.eval("document.querySelector('#results li.hit .num').textContent")
            .await,
        "1."
    );
    assert!(cdp
        .eval("location.search")
        .await
        .as_str()
        .unwrap()
        .contains("q=streaming+LLMs+survey"));

    // Arrow down selects the first hit, Enter opens it, similar papers load, Esc closes.
    cdp.key("ArrowDown", "ArrowDown", 40, None).await;
    cdp.key("Enter", "Enter", 13, Some("\r")).await;
    cdp.wait_for("!document.getElementById('detail').hidden && document.getElementById('d-title').textContent.startsWith('From Static')", "the detail panel").await;
    let similar = cdp
        .wait_for(
            "document.querySelectorAll('#d-similar li .title').length",
            "similar papers",
        )
        .await;
    assert_eq!(similar, 8);
    cdp.key("Escape", "Escape", 27, None).await;
    assert_eq!(
        cdp.eval("document.getElementById('detail').hidden").await,
        true
    );

    // English toggle, remembered across reloads.
    cdp.eval("document.getElementById('lang').click()").await;
    assert_eq!(
        cdp.eval("document.getElementById('go').textContent").await,
        "Search"
    );
    cdp.call("Page.reload", json!({})).await;
    cdp.wait_for("document.readyState === 'complete' && document.querySelectorAll('#results li.hit').length > 0", "reloaded page").await;
    assert_eq!(
        cdp.eval("document.getElementById('go').textContent").await,
        "Search"
    );
    assert_eq!(cdp.eval("document.documentElement.lang").await, "en");

    // The radar view: the saved radar's papers with the reason each matched, then its briefing
    // whose citations open papers.
    cdp.eval("document.getElementById('nav-radars').click()")
        .await;
    let first = cdp
        .wait_for(
            "document.querySelector('#radar-list button[aria-pressed=\"true\"]') && /^why: /.test(document.querySelector('#results li.hit .why:last-child')?.textContent || '') ? document.querySelector('#results li.hit .title').textContent : null",
            "the radar's papers",
        )
        .await;
    assert!(
        first.as_str().unwrap().starts_with("From Static Inference"),
        "{first}"
    );
    let why = cdp
        .eval("document.querySelector('#results li.hit .why:last-child').textContent")
        .await;
    assert!(
        why.as_str().unwrap().contains("streaming LLMs survey"),
        "{why}"
    );
    cdp.eval("document.getElementById('r-briefing').click()")
        .await;
    let cites = cdp
        .wait_for(
            "document.getElementById('briefing').hidden ? 0 : document.querySelectorAll('#briefing .cite').length",
            "the briefing",
        )
        .await;
    assert!(cites.as_u64().unwrap() >= 10, "{cites}");
    assert_eq!(
        cdp.eval("document.querySelector('#briefing h2').textContent")
            .await,
        "Themes"
    );
    cdp.eval("document.querySelector('#briefing .cite').click()")
        .await;
    cdp.wait_for(
        "!document.getElementById('detail').hidden && document.getElementById('d-title').textContent.length > 10 && !document.getElementById('d-title').textContent.startsWith('Loading')",
        "the cited paper",
    )
    .await;

    // Delivery on the radar view: the feed URL to copy, export links, the digest preview, and
    // "mark all as read" (the token asked once) empties the unread list.
    cdp.eval(
        "document.getElementById('d-close').click(); document.getElementById('nav-radars').click()",
    )
    .await;
    let feed = cdp
        .wait_for(
            "document.getElementById('r-feed-url').value || null",
            "the feed URL",
        )
        .await;
    assert_eq!(
        feed.as_str().unwrap(),
        format!("http://{addr}/api/radars/streaming-llms/feed.atom")
    );
    let bib = cdp
        .eval("document.getElementById('r-export-bib').getAttribute('href')")
        .await;
    assert!(bib.as_str().unwrap().contains("format=bibtex"), "{bib}");
    let digest = cdp
        .eval("document.getElementById('r-digest').getAttribute('href')")
        .await;
    assert!(
        digest
            .as_str()
            .unwrap()
            .starts_with("/api/digest?radar=streaming-llms"),
        "{digest}"
    );
    cdp.eval(&format!(
        "window.prompt = () => '{}'; document.getElementById('r-mark-read').click()",
        crate::http::TOKEN
    ))
    .await;
    let status = cdp
        .wait_for(
            "/marked as read/.test(document.getElementById('status').textContent) ? document.getElementById('status').textContent : null",
            "mark all as read",
        )
        .await;
    assert_eq!(status, "20 papers marked as read");
    assert_eq!(
        cdp.eval("document.querySelectorAll('#results li.hit').length")
            .await,
        0,
        "nothing unread is left"
    );

    // A Chinese query: the English its BM25 leg searched shows under the search box (hidden
    // for the English query above).
    cdp.eval("document.getElementById('nav-search').click()")
        .await;
    cdp.eval(
        "document.getElementById('q').value = '强化学习'; document.getElementById('search-form').requestSubmit()",
    )
    .await;
    let shown = cdp
        .wait_for(
            "(() => { const t = document.getElementById('translation'); return t.hidden ? null : t.textContent })()",
            "the translation",
        )
        .await;
    assert_eq!(shown, "searched in English as: reinforcement learning");

    let _ = stop_tx.send(());
    server.await.unwrap().unwrap();
}
