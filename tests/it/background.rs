//! Background embedding (`serve` embeds papers without a vector while it answers): newest
//! first, in committed batches of 16, nothing embedded twice, a paper replaced meanwhile never
//! overwritten, an interrupted run resumed from the index, queries first.

use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use academichub::embed::{EmbedError, Embedder, HashEmbedder, ModelId};
use academichub::index::PaperWriter;
use academichub::ingest::background::{run_batch, EmbedProgress, EmbedState, BATCH};
use academichub::{Paper, PaperIndex};

use crate::fixtures::fixture_index;

/// Runs before each text is embedded.
type Hook = Box<dyn FnMut(&str) + Send>;

/// A hashed-trigram embedder that counts the texts it embeds and can run a hook first.
struct Counting {
    inner: HashEmbedder,
    texts: Arc<Mutex<Vec<String>>>,
    before: Option<Hook>,
}

impl Counting {
    fn new() -> (Self, Arc<Mutex<Vec<String>>>) {
        let texts = Arc::new(Mutex::new(Vec::new()));
        (
            Counting {
                inner: HashEmbedder::new(64),
                texts: texts.clone(),
                before: None,
            },
            texts,
        )
    }
}

impl Embedder for Counting {
    fn id(&self) -> &ModelId {
        self.inner.id()
    }
    fn embed_passages(&mut self, texts: &[String]) -> Result<Vec<Vec<f32>>, EmbedError> {
        for t in texts {
            if let Some(f) = self.before.as_mut() {
                f(t);
            }
            self.texts.lock().unwrap().push(t.clone());
        }
        self.inner.embed_passages(texts)
    }
    fn embed_query(&mut self, text: &str) -> Result<Vec<f32>, EmbedError> {
        self.inner.embed_query(text)
    }
}

fn all_papers(index: &PaperIndex) -> Vec<(Paper, bool)> {
    index.reload().unwrap();
    let searcher = index.reader().searcher();
    let docs = searcher
        .search(
            &tantivy::query::AllQuery,
            &tantivy::collector::DocSetCollector,
        )
        .unwrap();
    docs.into_iter()
        .map(|a| {
            let p = index.paper_at(&searcher, a).unwrap();
            let s = index.stored(&searcher, &p.id).unwrap().unwrap();
            (p, s.vector.is_some())
        })
        .collect()
}

fn until_done(
    index: &PaperIndex,
    writer: &Mutex<PaperWriter>,
    e: &mut [Box<dyn Embedder>],
    progress: &EmbedProgress,
) -> usize {
    let mut batches = 0;
    let mut failed = HashSet::new();
    while run_batch(index, writer, e, progress, &mut failed).unwrap() > 0 {
        batches += 1;
        assert!(batches < 100, "no progress");
    }
    batches
}

#[test]
fn embeds_every_paper_newest_first_in_batches_and_never_twice() {
    let (_d, index) = fixture_index(false);
    let writer = Mutex::new(index.writer().unwrap());
    // Two workers (one per core in `serve`) share each batch.
    let (a, texts) = Counting::new();
    let (mut b, texts_b) = Counting::new();
    b.texts = texts.clone();
    drop(texts_b);
    index.claim_embedding_model(a.id()).unwrap();
    let mut e: Vec<Box<dyn Embedder>> = vec![Box::new(a), Box::new(b)];
    let progress = EmbedProgress::new("hash-trigram");
    let mut failed = HashSet::new();
    let n = run_batch(&index, &writer, &mut e, &progress, &mut failed).unwrap();
    assert_eq!(n, BATCH as u64);
    assert_eq!(texts.lock().unwrap().len(), BATCH);
    // Committed and visible: the 16 newest papers have a vector, no older paper has one.
    let papers = all_papers(&index);
    let done: Vec<_> = papers.iter().filter(|p| p.1).collect();
    assert_eq!(done.len(), BATCH);
    let oldest_done = done.iter().map(|p| p.0.published).min().unwrap();
    let newest_left = papers
        .iter()
        .filter(|p| !p.1)
        .map(|p| p.0.published)
        .max()
        .unwrap();
    assert!(
        oldest_done >= newest_left,
        "{oldest_done:?} < {newest_left:?}"
    );
    let r = progress.report();
    assert_eq!((r.papers, r.with_vectors, r.embedded), (250, 16, 16));
    assert!(r.eta_secs.is_some() && r.rate_per_sec > 0.0, "{r:?}");

    let batches = until_done(&index, &writer, &mut e, &progress);
    assert_eq!(batches, (250 - 16usize).div_ceil(BATCH));
    assert!(all_papers(&index).iter().all(|p| p.1));
    let texts = texts.lock().unwrap();
    assert_eq!(texts.len(), 250, "every paper embedded exactly once");
    assert_eq!(texts.iter().collect::<HashSet<_>>().len(), 250);
    let r = progress.report();
    assert_eq!((r.with_vectors, r.coverage, r.eta_secs), (250, 1.0, None));
    assert_eq!(r.state, EmbedState::Embedding);
}

#[test]
fn a_paper_replaced_while_it_is_embedded_keeps_its_new_text() {
    let (_d, index) = fixture_index(false);
    let writer = Arc::new(Mutex::new(index.writer().unwrap()));
    let (mut e1, texts) = Counting::new();
    index.claim_embedding_model(e1.id()).unwrap();
    // The newest paper is embedded first; while it is, an upsert (as POST /api/papers would)
    // replaces it with a new abstract and commits.
    let mut papers = all_papers(&index);
    papers.sort_by_key(|p| std::cmp::Reverse(p.0.published));
    let target = papers[0].0.clone();
    let mut changed = target.clone();
    changed.abstract_text = "A revised abstract about gradient-free prompt search.".into();
    let (idx2, w2, fired) = (
        index.clone(),
        writer.clone(),
        Arc::new(AtomicBool::new(false)),
    );
    let f2 = fired.clone();
    let title = target.title.clone();
    e1.before = Some(Box::new(move |text: &str| {
        if text.starts_with(&title) && !f2.swap(true, Ordering::SeqCst) {
            let mut w = w2.lock().unwrap();
            w.upsert_with_vector(&changed, None).unwrap();
            w.commit().unwrap();
            idx2.reload().unwrap();
        }
    }));
    let mut e: Vec<Box<dyn Embedder>> = vec![Box::new(e1)];
    let progress = EmbedProgress::new("hash-trigram");
    let mut failed = HashSet::new();
    run_batch(&index, &writer, &mut e, &progress, &mut failed).unwrap();
    assert!(fired.load(Ordering::SeqCst), "the hook ran");
    let now = |index: &PaperIndex| {
        index.reload().unwrap();
        let s = index.reader().searcher();
        index.stored(&s, &target.id).unwrap().unwrap()
    };
    let s = now(&index);
    assert_eq!(s.paper.abstract_text, changed_text());
    assert!(
        s.vector.is_none(),
        "the old text's vector must not land on the new text"
    );
    // The next scans embed the new text.
    until_done(&index, &writer, &mut e, &progress);
    let s = now(&index);
    assert_eq!(s.paper.abstract_text, changed_text());
    assert!(s.vector.is_some());
    let texts = texts.lock().unwrap();
    assert_eq!(texts.len(), 251, "250 papers and the one new text");
    assert!(texts.iter().any(|t| t.ends_with(&changed_text())));
}

fn changed_text() -> String {
    "A revised abstract about gradient-free prompt search.".into()
}

#[test]
fn an_interrupted_run_resumes_from_the_index_without_embedding_twice() {
    let (d, index) = fixture_index(false);
    let (e1, texts) = Counting::new();
    let mut e: Vec<Box<dyn Embedder>> = vec![Box::new(e1)];
    {
        let writer = Mutex::new(index.writer().unwrap());
        index.claim_embedding_model(e[0].id()).unwrap();
        let progress = EmbedProgress::new("hash-trigram");
        let mut failed = HashSet::new();
        for _ in 0..3 {
            run_batch(&index, &writer, &mut e, &progress, &mut failed).unwrap();
        }
    }
    drop(index);
    // A new process: what was committed is there, the rest is embedded once.
    let index = PaperIndex::open(&d.path().join("idx")).unwrap();
    assert_eq!(all_papers(&index).iter().filter(|p| p.1).count(), 3 * BATCH);
    let writer = Mutex::new(index.writer().unwrap());
    let progress = EmbedProgress::new("hash-trigram");
    until_done(&index, &writer, &mut e, &progress);
    let t = texts.lock().unwrap();
    let mut seen = HashSet::new();
    let twice: Vec<&str> = t
        .iter()
        .filter(|x| !seen.insert(x.as_str()))
        .map(|x| &x[..x.len().min(60)])
        .collect();
    assert_eq!(t.len(), 250, "embedded twice: {twice:?}");
    drop(t);
    assert_eq!(progress.report().embedded, 250 - 3 * BATCH as u64);
}

#[test]
fn a_query_in_progress_holds_the_worker_back() {
    let (_d, index) = fixture_index(false);
    let writer = Arc::new(Mutex::new(index.writer().unwrap()));
    let (mut e1, texts) = Counting::new();
    index.claim_embedding_model(e1.id()).unwrap();
    let held = Arc::new(AtomicBool::new(true));
    let violations = Arc::new(AtomicUsize::new(0));
    let (h, v) = (held.clone(), violations.clone());
    e1.before = Some(Box::new(move |_| {
        if h.load(Ordering::SeqCst) {
            v.fetch_add(1, Ordering::SeqCst);
        }
    }));
    let progress = Arc::new(EmbedProgress::new("hash-trigram"));
    let guard = progress.query_started();
    let worker = {
        let (index, writer, progress) = (index.clone(), writer.clone(), progress.clone());
        let mut e: Vec<Box<dyn Embedder>> = vec![Box::new(e1)];
        std::thread::spawn(move || {
            let mut failed = HashSet::new();
            run_batch(&index, &writer, &mut e, &progress, &mut failed).unwrap()
        })
    };
    std::thread::sleep(std::time::Duration::from_millis(200));
    assert_eq!(
        texts.lock().unwrap().len(),
        0,
        "no text while a query embeds"
    );
    held.store(false, Ordering::SeqCst);
    drop(guard);
    assert_eq!(worker.join().unwrap(), BATCH as u64);
    assert_eq!(violations.load(Ordering::SeqCst), 0);
}

#[test]
fn a_text_the_model_fails_on_is_skipped_not_retried_forever() {
    let (_d, index) = fixture_index(false);
    let writer = Mutex::new(index.writer().unwrap());
    let mut e1 = HashEmbedder::new(64);
    index.claim_embedding_model(e1.id()).unwrap();
    e1.fail_with = Some("model crashed".into());
    let mut e: Vec<Box<dyn Embedder>> = vec![Box::new(e1)];
    let progress = EmbedProgress::new("hash-trigram");
    let mut failed = HashSet::new();
    // Every text fails: each batch skips its 16, and the run ends once all are skipped.
    let mut batches = 0;
    while run_batch(&index, &writer, &mut e, &progress, &mut failed).unwrap() > 0 {
        batches += 1;
        assert!(batches < 100);
    }
    assert_eq!(failed.len(), 250);
    assert_eq!(progress.report().with_vectors, 0);
}

/// Wired into the server: `/healthz` and `/metrics` show coverage growing to 100%, a hybrid
/// search says how many papers it could rank by meaning, and a POSTed paper gets its vector
/// from the worker, not from the request.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_server_reports_coverage_while_the_worker_embeds() {
    use academichub::http;
    use axum::body::Body;
    use axum::http::{header, Request};
    use tower::ServiceExt;

    let (_d, index) = fixture_index(false);
    let mut state = crate::http::state(index.clone(), true, true, |_| {});
    index
        .claim_embedding_model(HashEmbedder::new(64).id())
        .unwrap();
    let writer = state.writer.clone().unwrap();
    let (progress, handle) =
        academichub::ingest::background::spawn(index.clone(), writer, "hash-trigram", || {
            Ok(vec![
                Box::new(HashEmbedder::new(64)) as Box<dyn Embedder>,
                Box::new(HashEmbedder::new(64)),
            ])
        })
        .unwrap();
    state = state.with_background(progress.clone());
    let app = http::router(state);
    let get = |uri: &'static str| {
        let app = app.clone();
        async move {
            let resp = app
                .oneshot(Request::get(uri).body(Body::empty()).unwrap())
                .await
                .unwrap();
            let b = axum::body::to_bytes(resp.into_body(), usize::MAX)
                .await
                .unwrap();
            String::from_utf8(b.to_vec()).unwrap()
        }
    };
    let mut health: serde_json::Value = serde_json::Value::Null;
    for _ in 0..400 {
        health = serde_json::from_str(&get("/healthz").await).unwrap();
        if health["semantic_coverage"] == 1.0 && health["background_embedding"]["state"] == "idle" {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(25)).await;
    }
    assert_eq!(health["with_vectors"], 250, "{health}");
    assert_eq!(health["background_embedding"]["embedded"], 250, "{health}");
    assert_eq!(health["background_embedding"]["model"], "hash-trigram");
    let metrics = get("/metrics").await;
    assert!(
        metrics.contains("academichub_index_papers_with_vectors 250")
            && metrics.contains("academichub_embed_background_papers_total 250"),
        "{metrics}"
    );
    let search: serde_json::Value =
        serde_json::from_str(&get("/api/search?q=streaming+LLMs&mode=hybrid&category=cs.CL").await)
            .unwrap();
    // Every paper has a vector: all the cs.CL papers could be ranked by meaning.
    let cl = all_papers(&index)
        .iter()
        .filter(|p| p.0.categories.iter().any(|c| c == "cs.CL"))
        .count();
    assert!(cl > 10);
    assert_eq!(search["ranked_by_meaning"], cl, "{search}");
    let bm25: serde_json::Value =
        serde_json::from_str(&get("/api/search?q=streaming+LLMs&mode=bm25").await).unwrap();
    assert!(bm25.get("ranked_by_meaning").is_none(), "{bm25}");

    // A new paper through the API: stored at once without a vector, embedded by the worker.
    let body = serde_json::json!([{"id": "bg-1", "title": "A paper posted while serving",
        "abstract": "Background embedding gives it a vector within seconds."}]);
    let resp = app
        .clone()
        .oneshot(
            Request::post("/api/papers")
                .header(header::CONTENT_TYPE, "application/json")
                .header(
                    header::AUTHORIZATION,
                    format!("Bearer {}", crate::http::TOKEN),
                )
                .body(Body::from(body.to_string()))
                .unwrap(),
        )
        .await
        .unwrap();
    let b = axum::body::to_bytes(resp.into_body(), usize::MAX)
        .await
        .unwrap();
    let posted: serde_json::Value = serde_json::from_slice(&b).unwrap();
    assert_eq!(
        posted["embedded"], 0,
        "the request does not embed: {posted}"
    );
    let mut has_vector = false;
    for _ in 0..400 {
        let p: serde_json::Value = serde_json::from_str(&get("/api/papers/bg-1").await).unwrap();
        if p["has_vector"] == true {
            has_vector = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(25)).await;
    }
    assert!(has_vector, "the worker embeds the posted paper");
    progress.request_stop();
    tokio::task::spawn_blocking(move || handle.join().unwrap())
        .await
        .unwrap();
    assert_eq!(progress.report().state, EmbedState::Stopped);
}

#[test]
fn only_live_segments_stay_decoded_while_embedding() {
    // Every batch commits a segment and merges make new ones; what was decoded from segments
    // merged away must go (it once stayed until the next dense search: +170 KB per paper).
    let (_d, index) = fixture_index(false);
    let writer = Mutex::new(index.writer().unwrap());
    let (e1, _) = Counting::new();
    let mut e: Vec<Box<dyn Embedder>> = vec![Box::new(e1)];
    index.claim_embedding_model(e[0].id()).unwrap();
    let progress = EmbedProgress::new("hash-trigram");
    let mut failed = HashSet::new();
    let mut most = 0;
    while run_batch(&index, &writer, &mut e, &progress, &mut failed).unwrap() > 0 {
        index.reload().unwrap();
        let live = index.reader().searcher().segment_readers().len();
        let held = index.vectors().len();
        assert!(held <= live, "{held} segments decoded, {live} live");
        most = most.max(held);
    }
    assert!(most > 0, "the batches read the vectors through the cache");
}
