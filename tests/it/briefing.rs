//! Briefings on the real 250-paper arXiv capture: determinism, themes, labels, cross-domain
//! links, citations, empty and degraded cases; the LLM narrative against a local
//! OpenAI-compatible stub server (request shape, answer checks, timeout, retries, fallbacks).

use std::collections::BTreeSet;
use std::io::{Read, Write};
use std::net::TcpListener;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use academichub::briefing::llm::{add_narrative, LlmClient, LlmConfig};
use academichub::briefing::{build_briefing, render, Briefing, BriefingRequest, Lang};
use academichub::embed::Embedder;
use academichub::ingest::Format;
use academichub::paper::parse_date;
use academichub::radar::{self, ErrorKind, RadarSpec};
use academichub::PaperIndex;

use crate::fixtures::{embedded_fixture, gate, index_with, Gate, HOLD_LIMIT};

fn add(index: &PaperIndex, name: &str, queries: &[&str]) -> String {
    radar::create_radar(
        index,
        &RadarSpec {
            name: name.into(),
            queries: queries.iter().map(|s| s.to_string()).collect(),
            ..Default::default()
        },
    )
    .unwrap()
    .id
}

fn two_radar_request(index: &PaperIndex, lang: Lang) -> BriefingRequest {
    let a = add(index, "LLM", &["large language models reasoning"]);
    let b = add(
        index,
        "Materials",
        &["superconductivity magnetic materials", "quantum"],
    );
    BriefingRequest {
        radars: vec![a, b],
        lang,
        k: 15,
        ..Default::default()
    }
}

/// Every id a statement of `b` cites.
fn cited(b: &Briefing) -> Vec<String> {
    let mut out = Vec::new();
    for r in &b.radars {
        out.extend(r.papers.iter().map(|p| p.id.to_string()));
    }
    for t in &b.themes {
        out.extend(t.papers.iter().map(|p| p.to_string()));
        out.extend(t.summary.iter().map(|s| s.paper.to_string()));
    }
    for l in &b.links {
        out.push(l.a.to_string());
        out.push(l.b.to_string());
    }
    out
}

#[test]
fn briefing_is_deterministic_and_cites_only_selected_papers() {
    let (_d, index, mut e) = embedded_fixture();
    let req = two_radar_request(&index, Lang::En);
    let one = build_briefing(&index, &req, Some(&mut e as &mut dyn Embedder)).unwrap();
    let two = build_briefing(&index, &req, Some(&mut e as &mut dyn Embedder)).unwrap();
    let json1 = serde_json::to_string_pretty(&one).unwrap();
    assert_eq!(json1, serde_json::to_string_pretty(&two).unwrap());
    assert_eq!(render::to_markdown(&one), render::to_markdown(&two));
    // A reopened index (another process) gives the same bytes.
    let again = PaperIndex::open(index.dir()).unwrap();
    let three = build_briefing(&again, &req, Some(&mut e as &mut dyn Embedder)).unwrap();
    assert_eq!(json1, serde_json::to_string_pretty(&three).unwrap());

    let selected: BTreeSet<String> = one.papers.iter().map(|p| p.id.to_string()).collect();
    assert!(
        selected.len() > 15 && selected.len() <= 30,
        "{}",
        selected.len()
    );
    for id in cited(&one) {
        assert!(selected.contains(&id), "{id} cited but not selected");
    }
    assert_eq!(one.clustering.space, "embedding");
    assert_eq!(one.clustering.papers_with_vectors, selected.len());
    // Every selected paper is in exactly one theme.
    let mut in_themes: Vec<String> = one
        .themes
        .iter()
        .flat_map(|t| t.papers.iter().map(|p| p.to_string()))
        .collect();
    in_themes.sort();
    assert_eq!(in_themes, selected.iter().cloned().collect::<Vec<_>>());
    // Key sentences are verbatim from the cited paper's abstract.
    let abstracts: std::collections::HashMap<String, String> = selected
        .iter()
        .map(|id| {
            let p = index
                .get(&academichub::PaperId::new(id.as_str()))
                .unwrap()
                .unwrap();
            (id.clone(), p.abstract_text)
        })
        .collect();
    for t in &one.themes {
        assert!(!t.label.is_empty() && !t.terms.is_empty(), "{t:?}");
        for s in &t.summary {
            assert!(abstracts[s.paper.as_str()].contains(&s.text), "{s:?}");
        }
    }
    for l in &one.links {
        assert_ne!(l.category_a, l.category_b);
    }
    let md = render::to_markdown(&one);
    assert!(md.contains("## Themes") && md.contains("## Top papers per radar"));
    println!("{md}");
}

#[test]
fn themes_labels_and_links_on_real_papers() {
    let (_d, index, mut e) = embedded_fixture();
    let req = two_radar_request(&index, Lang::Zh);
    let b = build_briefing(&index, &req, Some(&mut e as &mut dyn Embedder)).unwrap();
    println!("{}", serde_json::to_string_pretty(&b.themes).unwrap());
    println!("{}", serde_json::to_string_pretty(&b.links).unwrap());
    let md = render::to_markdown(&b);
    assert!(
        md.contains("## 主题") && md.contains("## 跨领域关联"),
        "{md}"
    );
    // The two radars pull from different fields: some theme is mostly condensed matter or
    // quantum physics and another mostly computer science.
    let physics = |c: &str| c.starts_with("cond-mat") || c.starts_with("quant-ph");
    assert!(b
        .themes
        .iter()
        .any(|t| t.categories.first().is_some_and(|(c, _)| physics(c))));
    assert!(b.themes.iter().any(|t| t
        .categories
        .first()
        .is_some_and(|(c, _)| c.starts_with("cs."))));
}

#[test]
fn empty_results_give_an_explained_empty_briefing() {
    let (_d, index, mut e) = embedded_fixture();
    let id = add(&index, "LLM", &["large language models"]);
    // The capture's newest paper is from 2026-06-30.
    let req = BriefingRequest {
        radars: vec![id.clone()],
        since: parse_date("2026-07-15"),
        lang: Lang::En,
        ..Default::default()
    };
    let b = build_briefing(&index, &req, Some(&mut e as &mut dyn Embedder)).unwrap();
    assert!(b.papers.is_empty() && b.themes.is_empty() && b.links.is_empty());
    assert_eq!(
        b.empty.as_deref(),
        Some("None of the radars found a paper since 2026-07-15.")
    );
    assert!(render::to_markdown(&b).contains("None of the radars found a paper"));
    let zh = build_briefing(
        &index,
        &BriefingRequest {
            lang: Lang::Zh,
            ..req.clone()
        },
        None,
    )
    .unwrap();
    assert_eq!(
        zh.empty.as_deref(),
        Some("自 2026-07-15 以来，雷达没有找到任何论文。")
    );
    // Unknown radars and future dates are errors, not empty briefings.
    let err = build_briefing(
        &index,
        &BriefingRequest {
            radars: vec![id.clone(), "nope".into()],
            ..Default::default()
        },
        None,
    )
    .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::NotFound);
    let err = build_briefing(
        &index,
        &BriefingRequest {
            radars: vec![id],
            since: parse_date("2200-01-01"),
            ..Default::default()
        },
        None,
    )
    .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidInput);
}

#[test]
fn whole_day_briefing_without_vectors_uses_tfidf() {
    let (_d, index) = index_with(Format::ArxivJsonl, "arxiv-mini.jsonl.gz");
    let day = parse_date("2026-06-16");
    let req = BriefingRequest {
        radars: vec![],
        since: day,
        until: day,
        lang: Lang::En,
        k: 1000,
    };
    let b = build_briefing(&index, &req, None).unwrap();
    assert_eq!(
        b.papers.len(),
        81,
        "the capture lists 81 papers on 2026-06-16"
    );
    assert_eq!(b.radars[0].id, "*");
    assert_eq!(b.clustering.space, "tfidf");
    assert_note(&b.notes, "0 of 81");
    assert!(b.themes.len() >= 2, "{}", b.themes.len());
    let labels: Vec<&str> = b.themes.iter().map(|t| t.label.as_str()).collect();
    println!("{labels:?}");
    println!("{}", serde_json::to_string_pretty(&b.links).unwrap());
    // Labels show words as written, not stems.
    for t in &b.themes {
        for term in &t.terms {
            assert!(!term.term.ends_with("i ") && !term.term.is_empty());
        }
    }
    let selected: BTreeSet<String> = b.papers.iter().map(|p| p.id.to_string()).collect();
    for id in cited(&b) {
        assert!(selected.contains(&id));
    }
}

// ---- LLM stub server ----

#[derive(Clone)]
pub(crate) struct Reply {
    pub(crate) status: u16,
    pub(crate) body: String,
    /// Hold the reply at this gate before sending it (a model that does not answer).
    pub(crate) hold: Option<Gate>,
}

pub(crate) fn ok(content: &str) -> Reply {
    Reply {
        status: 200,
        body: serde_json::json!({
            "id": "chatcmpl-1",
            "object": "chat.completion",
            "choices": [{"index": 0, "message": {"role": "assistant", "content": content}, "finish_reason": "stop"}]
        })
        .to_string(),
        hold: None,
    }
}

/// Requests the stub received: (request line + headers, body).
pub(crate) type Seen = Arc<Mutex<Vec<(String, String)>>>;

/// How many requests `seen` holds once it holds at least `n`. The stub logs a request a moment
/// after the client sent it, so a client that gave up may return first; waits `HOLD_LIMIT` at
/// most.
pub(crate) fn seen_at_least(seen: &Seen, n: usize) -> usize {
    let deadline = Instant::now() + HOLD_LIMIT;
    loop {
        let len = seen.lock().unwrap().len();
        if len >= n || Instant::now() >= deadline {
            return len;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// An OpenAI-compatible stub on 127.0.0.1: answers with `replies` in order (the last one
/// repeats) and records each request's head and body.
pub(crate) fn stub(replies: Vec<Reply>) -> (String, Seen) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let log = seen.clone();
    std::thread::spawn(move || {
        for (n, stream) in listener.incoming().enumerate() {
            let Ok(mut s) = stream else { continue };
            let reply = replies[n.min(replies.len() - 1)].clone();
            let log = log.clone();
            std::thread::spawn(move || {
                let mut buf = Vec::new();
                let mut chunk = [0u8; 8192];
                let head_end = loop {
                    let Ok(r) = s.read(&mut chunk) else { return };
                    if r == 0 {
                        return;
                    }
                    buf.extend_from_slice(&chunk[..r]);
                    if let Some(p) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                        break p + 4;
                    }
                };
                let head = String::from_utf8_lossy(&buf[..head_end]).to_string();
                let len: usize = head
                    .lines()
                    .find_map(|l| {
                        let (k, v) = l.split_once(':')?;
                        k.eq_ignore_ascii_case("content-length")
                            .then(|| v.trim().parse().ok())?
                    })
                    .unwrap_or(0);
                while buf.len() < head_end + len {
                    let Ok(r) = s.read(&mut chunk) else { return };
                    if r == 0 {
                        break;
                    }
                    buf.extend_from_slice(&chunk[..r]);
                }
                let body = String::from_utf8_lossy(&buf[head_end..]).to_string();
                log.lock().unwrap().push((head, body));
                if let Some(gate) = &reply.hold {
                    gate.wait();
                }
                let resp = format!(
                    "HTTP/1.1 {} X\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{}",
                    reply.status,
                    reply.body.len(),
                    reply.body
                );
                let _ = s.write_all(resp.as_bytes());
            });
        }
    });
    (format!("http://{addr}/v1"), seen)
}

pub(crate) fn config(base_url: &str, timeout_secs: u64, retries: u32) -> LlmConfig {
    LlmConfig {
        base_url: Some(base_url.into()),
        model: Some("stub-model".into()),
        timeout_secs,
        retries,
        ..Default::default()
    }
}

fn small_briefing(lang: Lang) -> Briefing {
    let (_d, index, mut e) = embedded_fixture();
    let id = add(&index, "LLM", &["streaming large language models survey"]);
    build_briefing(
        &index,
        &BriefingRequest {
            radars: vec![id],
            lang,
            k: 5,
            ..Default::default()
        },
        Some(&mut e as &mut dyn Embedder),
    )
    .unwrap()
}

/// Asserts that one of `notes` contains `part`.
fn assert_note(notes: &[String], part: &str) {
    assert!(
        notes.iter().any(|n| n.contains(part)),
        "{part:?} not in {notes:?}"
    );
}

fn run<F: std::future::Future>(f: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(f)
}

#[test]
fn llm_request_shape_and_claim_validation() {
    let mut b = small_briefing(Lang::Zh);
    let first = b.papers[0].id.to_string();
    let answer = format!(
        "## 概述\n\n流式大语言模型是重点 [{first}]。这里有一个编造的结论 [9999.99999]。没有引用的句子。\n\n## 主题【{first}】\n\n另一个合法的观点【{first}】。"
    );
    let (url, seen) = stub(vec![ok(&answer)]);
    std::env::set_var("ACADEMICHUB_TEST_LLM_KEY", "sk-test-123");
    let mut cfg = config(&url, 5, 0);
    cfg.api_key_env = Some("ACADEMICHUB_TEST_LLM_KEY".into());
    let client = LlmClient::new(&cfg).unwrap();
    run(add_narrative(&client, &mut b));
    let n = b.narrative.as_ref().expect("narrative");
    assert_eq!(n.model, "stub-model");
    // The uncited heading goes with the two bad sentences; the cited one stays.
    assert_eq!(n.dropped_sentences, 3);
    assert_eq!(
        n.text,
        format!("流式大语言模型是重点 [{first}]。\n\n## 主题【{first}】\n\n另一个合法的观点【{first}】。")
    );
    let seen = seen.lock().unwrap();
    assert_eq!(seen.len(), 1);
    let (head, body) = &seen[0];
    assert!(head.starts_with("POST /v1/chat/completions "), "{head}");
    assert!(
        head.to_lowercase()
            .contains("authorization: bearer sk-test-123"),
        "{head}"
    );
    let req: serde_json::Value = serde_json::from_str(body).unwrap();
    assert_eq!(req["model"], "stub-model");
    let msgs = req["messages"].as_array().unwrap();
    assert_eq!(msgs[0]["role"], "system");
    assert!(msgs[0]["content"]
        .as_str()
        .unwrap()
        .contains("Simplified Chinese"));
    let user = msgs[1]["content"].as_str().unwrap();
    for p in &b.papers {
        assert!(user.contains(p.id.as_str()), "{} missing from prompt", p.id);
    }
    assert!(
        !user.contains("\"narrative\":{"),
        "no earlier narrative in the prompt"
    );
    // Markdown shows the narrative first.
    let md = render::to_markdown(&b);
    assert!(md.contains("## 综述（由语言模型生成）"), "{md}");
}

#[test]
fn llm_english_prompt_and_all_claims_invalid_falls_back() {
    let mut b = small_briefing(Lang::En);
    let (url, seen) = stub(vec![ok("Everything is great [1]. Trust me.")]);
    let client = LlmClient::new(&config(&url, 5, 0)).unwrap();
    run(add_narrative(&client, &mut b));
    assert!(b.narrative.is_none());
    assert_note(&b.notes, "no sentence of the model's answer cited a paper");
    let body: serde_json::Value = serde_json::from_str(&seen.lock().unwrap()[0].1).unwrap();
    assert!(body["messages"][0]["content"]
        .as_str()
        .unwrap()
        .contains("Write in English."));
    assert!(!seen.lock().unwrap()[0]
        .0
        .to_lowercase()
        .contains("authorization"));
}

#[test]
fn llm_timeout_falls_back_without_retrying() {
    let mut b = small_briefing(Lang::En);
    let first = b.papers[0].id.to_string();
    // A valid answer, held until the end of the test: only the client's timeout gets past it
    // (were it to wait, the held answer would arrive and become the narrative).
    let (gate, release) = gate();
    let (url, seen) = stub(vec![Reply {
        hold: Some(gate),
        ..ok(&format!("The survey defines streaming LLMs [{first}]."))
    }]);
    let client = LlmClient::new(&config(&url, 1, 3))
        .unwrap()
        .with_timeout(Duration::from_millis(200));
    run(add_narrative(&client, &mut b));
    assert!(b.narrative.is_none(), "{:?}", b.narrative);
    assert_note(&b.notes, "did not answer within 0.2 s");
    assert_eq!(seen_at_least(&seen, 1), 1, "a timeout is not retried");
    drop(release);
}

#[test]
fn llm_retries_server_errors_then_succeeds_or_falls_back() {
    let b0 = small_briefing(Lang::En);
    let first = b0.papers[0].id.to_string();
    let unavailable = Reply {
        status: 503,
        body: "{\"error\": \"overloaded\"}".into(),
        hold: None,
    };
    let (url, seen) = stub(vec![
        unavailable.clone(),
        unavailable.clone(),
        ok(&format!("The survey defines streaming LLMs [{first}].")),
    ]);
    let mut b = b0.clone();
    run(add_narrative(
        &LlmClient::new(&config(&url, 5, 2)).unwrap(),
        &mut b,
    ));
    assert_eq!(seen.lock().unwrap().len(), 3);
    assert_eq!(
        b.narrative.as_ref().unwrap().text,
        format!("The survey defines streaming LLMs [{first}].")
    );

    let (url, seen) = stub(vec![unavailable]);
    let mut b = b0.clone();
    run(add_narrative(
        &LlmClient::new(&config(&url, 5, 1)).unwrap(),
        &mut b,
    ));
    assert_eq!(seen.lock().unwrap().len(), 2);
    assert!(b.narrative.is_none());
    assert_note(&b.notes, "HTTP 503");

    // A 400 is not retried, and its body (which may hold a key or an internal address)
    // stays out of the briefing.
    let (url, seen) = stub(vec![Reply {
        status: 400,
        body: "{\"error\": \"invalid key sk-live-SECRET for http://10.0.0.7:8000/internal\"}"
            .into(),
        hold: None,
    }]);
    let mut b = b0.clone();
    run(add_narrative(
        &LlmClient::new(&config(&url, 5, 3)).unwrap(),
        &mut b,
    ));
    assert_eq!(seen.lock().unwrap().len(), 1);
    assert_note(&b.notes, "HTTP 400");
    let all = format!("{:?}", b.notes);
    assert!(
        !all.contains("SECRET") && !all.contains("10.0.0.7"),
        "{all}"
    );
}

#[test]
fn llm_answers_over_the_size_cap_are_refused() {
    let b0 = small_briefing(Lang::En);
    let first = b0.papers[0].id.to_string();
    // A valid completion padded past 1 MiB.
    let pad = "x".repeat(academichub::briefing::llm::MAX_ANSWER_BYTES);
    let body = serde_json::json!({
        "choices": [{"message": {"role": "assistant",
            "content": format!("The survey defines streaming LLMs [{first}]. {pad}")}}]
    })
    .to_string();
    let (url, _) = stub(vec![Reply {
        status: 200,
        body,
        hold: None,
    }]);
    let mut b = b0.clone();
    run(add_narrative(
        &LlmClient::new(&config(&url, 5, 0)).unwrap(),
        &mut b,
    ));
    assert!(b.narrative.is_none());
    assert_note(&b.notes, "larger than 1024 KiB");
}

#[test]
fn llm_invalid_or_empty_answers_fall_back() {
    let b0 = small_briefing(Lang::En);
    for (reply, expect) in [
        (
            Reply {
                status: 200,
                body: "<html>not json</html>".into(),
                hold: None,
            },
            "not a valid chat completion",
        ),
        (ok("   "), "answer is empty"),
        (
            Reply {
                status: 200,
                body: "{\"choices\": []}".into(),
                hold: None,
            },
            "no choices",
        ),
    ] {
        let (url, _) = stub(vec![reply]);
        let mut b = b0.clone();
        run(add_narrative(
            &LlmClient::new(&config(&url, 5, 0)).unwrap(),
            &mut b,
        ));
        assert!(b.narrative.is_none());
        assert_note(&b.notes, expect);
        // The extractive briefing is intact.
        assert_eq!(b.themes, b0.themes);
    }
    // Nothing listens on this port: a connection failure, retried, then the fallback.
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut b = b0.clone();
    run(add_narrative(
        &LlmClient::new(&config(&format!("http://127.0.0.1:{port}/v1"), 2, 1)).unwrap(),
        &mut b,
    ));
    assert_note(&b.notes, "cannot reach");
}
