//! Vectors in the index, dense retrieval and hybrid fusion. Most tests use the deterministic
//! hashed-trigram embedder; the `real_*` tests use the fetched models (scripts/fetch-models)
//! and skip, saying so, when they are absent.

use std::path::PathBuf;

use academichub::embed::{
    default_cache_root, dot, Embedder, FastEmbedder, HashEmbedder, ModelId, ModelSpec,
};
use academichub::ingest::{embed_missing, import_file, Format, ImportOptions};
use academichub::search::fusion::Fusion;
use academichub::search::{Mode, QueryVector, SearchRequest};
use academichub::{IndexError, PaperIndex, QueryEngine, QueryError};

use crate::fixtures::fixture;

fn opts(format: Format) -> ImportOptions {
    let mut o = ImportOptions::new(format);
    o.progress = false;
    o
}

fn embedded_index(
    format: Format,
    rel: &str,
    e: &mut dyn Embedder,
) -> (tempfile::TempDir, PaperIndex) {
    let dir = tempfile::tempdir().unwrap();
    let index = PaperIndex::open_or_create(&dir.path().join("idx")).unwrap();
    let r = import_file(&index, &fixture(rel), &opts(format), Some(e)).unwrap();
    assert_eq!(r.embedded, r.imported);
    (dir, index)
}

fn request(q: &str, mode: Mode, v: Option<QueryVector>) -> SearchRequest {
    let mut r = SearchRequest::new(q);
    r.mode = mode;
    r.query_vector = v;
    r
}

#[test]
fn dense_and_hybrid_search_with_explanations() {
    let mut e = HashEmbedder::new(64);
    let (_d, index) = embedded_index(Format::Beir, "scifact-mini/corpus.jsonl", &mut e);
    let engine = QueryEngine::new(&index);
    let q = "1/2000 in UK have abnormal PrP positivity.";
    let v = e.embed_query(q).unwrap();
    let dense = engine
        .search(&request(
            q,
            Mode::Dense,
            Some(QueryVector::Ready(v.clone())),
        ))
        .unwrap();
    assert_eq!(dense.mode, Mode::Dense);
    assert_eq!(dense.total, 401, "every paper has a vector");
    assert!(dense.hits.windows(2).all(|w| w[0].score >= w[1].score));
    assert_eq!(dense.hits[0].sources.dense_rank, Some(1));
    assert!(dense.hits[0].sources.bm25_rank.is_none());
    let hybrid = engine
        .search(&request(q, Mode::Hybrid, Some(QueryVector::Ready(v))))
        .unwrap();
    assert_eq!(hybrid.mode, Mode::Hybrid);
    let top = &hybrid.hits[0];
    assert_eq!(
        top.paper.id.as_str(),
        "13734012",
        "BM25's clear winner stays first"
    );
    assert_eq!(top.sources.bm25_rank, Some(1));
    assert!(top.sources.fused_score.is_some() && top.sources.dense_rank.is_some());
    // Alpha 0 is BM25's order exactly.
    let mut r = request(
        q,
        Mode::Hybrid,
        Some(QueryVector::Ready(e.embed_query(q).unwrap())),
    );
    r.fusion = Fusion::Convex { alpha: 0.0 };
    r.k = 5;
    let bm25_only = engine.search(&request(q, Mode::Bm25, None)).unwrap();
    let a0 = engine.search(&r).unwrap();
    let ids = |res: &academichub::SearchResults| {
        res.hits
            .iter()
            .take(5)
            .map(|h| h.paper.id.clone())
            .collect::<Vec<_>>()
    };
    assert_eq!(ids(&a0), ids(&bm25_only));
}

#[test]
fn hybrid_falls_back_to_bm25_when_the_query_cannot_be_embedded() {
    let mut e = HashEmbedder::new(64);
    let (_d, index) = embedded_index(Format::Beir, "scifact-mini/corpus.jsonl", &mut e);
    let engine = QueryEngine::new(&index);
    let q = "abnormal PrP positivity";
    let res = engine
        .search(&request(
            q,
            Mode::Hybrid,
            Some(QueryVector::Failed("model crashed".into())),
        ))
        .unwrap();
    assert_eq!(res.mode, Mode::Bm25);
    assert!(
        res.warnings
            .iter()
            .any(|w| w.contains("fell back to bm25") && w.contains("model crashed")),
        "{:?}",
        res.warnings
    );
    assert_eq!(res.hits[0].paper.id.as_str(), "13734012");
    // Dense cannot fall back: it is a clear error naming the parameter.
    match engine.search(&request(q, Mode::Dense, None)) {
        Err(QueryError::Invalid(p)) if p.name() == "mode" => {}
        other => panic!("expected an invalid mode, got {other:?}"),
    }
}

#[test]
fn dense_respects_filters() {
    let mut e = HashEmbedder::new(64);
    let (_d, index) = embedded_index(Format::ArxivJsonl, "arxiv-mini.jsonl", &mut e);
    let engine = QueryEngine::new(&index);
    let v = e.embed_query("image segmentation").unwrap();
    let mut r = request(
        "image segmentation",
        Mode::Dense,
        Some(QueryVector::Ready(v)),
    );
    r.filters.categories = vec!["cs.CV".into()];
    r.k = 100;
    let res = engine.search(&r).unwrap();
    assert!(res.total > 10 && res.total < 250);
    assert!(res
        .hits
        .iter()
        .all(|h| h.paper.categories.iter().any(|c| c == "cs.CV")));
}

#[test]
fn vectors_are_reused_for_unchanged_papers_and_survive_reopen_and_merge() {
    let mut e = HashEmbedder::new(64);
    let (dir, index) = embedded_index(Format::Beir, "scifact-mini/corpus.jsonl", &mut e);
    // Re-importing without an embedder keeps the vectors of unchanged papers.
    let plain = import_file(
        &index,
        &fixture("scifact-mini/corpus.jsonl"),
        &opts(Format::Beir),
        None,
    )
    .unwrap();
    assert_eq!(plain.imported, 401);
    let mut nothing = HashEmbedder::new(64);
    let r = embed_missing(&index, &mut nothing, None, None, false).unwrap();
    assert_eq!((r.embedded, r.already), (0, 401), "no vector was lost");
    // Unchanged text: nothing is embedded again.
    let again = import_file(
        &index,
        &fixture("scifact-mini/corpus.jsonl"),
        &opts(Format::Beir),
        Some(&mut e),
    )
    .unwrap();
    assert_eq!((again.imported, again.embedded), (401, 0));
    // A changed abstract is embedded again; the others are not.
    let changed = dir.path().join("changed.jsonl");
    let first = std::fs::read_to_string(fixture("scifact-mini/corpus.jsonl")).unwrap();
    let mut rec: serde_json::Value = serde_json::from_str(first.lines().next().unwrap()).unwrap();
    rec["text"] = serde_json::json!("A completely different abstract about graphene.");
    std::fs::write(
        &changed,
        format!("{rec}\n{}\n", first.lines().nth(1).unwrap()),
    )
    .unwrap();
    let r = import_file(&index, &changed, &opts(Format::Beir), Some(&mut e)).unwrap();
    assert_eq!((r.imported, r.embedded), (2, 1));
    let q = format!(
        "{}. A completely different abstract about graphene.",
        rec["title"].as_str().unwrap()
    );
    let q = q.as_str();
    let v = e.embed_query(q).unwrap();
    let top = |index: &PaperIndex| {
        let engine = QueryEngine::new(index);
        let res = engine
            .search(&request(
                q,
                Mode::Dense,
                Some(QueryVector::Ready(v.clone())),
            ))
            .unwrap();
        (res.hits[0].paper.id.clone(), res.hits[0].score, res.total)
    };
    let before = top(&index);
    assert_eq!(before.0.as_str(), rec["_id"].as_str().unwrap());
    // Merge every segment into one: vectors follow their documents.
    {
        let mut w = index
            .tantivy()
            .writer::<tantivy::TantivyDocument>(50_000_000)
            .unwrap();
        let ids = index.tantivy().searchable_segment_ids().unwrap();
        assert!(ids.len() > 1);
        w.merge(&ids).wait().unwrap();
        w.wait_merging_threads().unwrap();
    }
    index.reload().unwrap();
    assert_eq!(index.reader().searcher().segment_readers().len(), 1);
    assert_eq!(top(&index), before);
    drop(index);
    let reopened = PaperIndex::open(&dir.path().join("idx")).unwrap();
    assert_eq!(top(&reopened), before);
    assert_eq!(reopened.embedding_model().unwrap().name, "hash-trigram");
}

#[test]
fn another_model_is_a_clear_error() {
    let mut e = HashEmbedder::new(64);
    let (_d, index) = embedded_index(Format::Beir, "scifact-mini/corpus.jsonl", &mut e);
    let other = ModelId {
        name: "minilm-l6".into(),
        hash: "sha256:x".into(),
        dims: 384,
    };
    let err = index.check_query_model(&other).unwrap_err();
    assert!(matches!(err, IndexError::ModelMismatch { .. }));
    assert!(
        err.to_string().contains("hash-trigram") && err.to_string().contains("minilm-l6"),
        "{err}"
    );
    let mut e32 = HashEmbedder::new(32);
    let err = embed_missing(&index, &mut e32, None, None, false).unwrap_err();
    assert!(
        err.to_string().contains("dims") || err.to_string().contains("hash-trigram"),
        "another vector size is another model: {err}"
    );
    let mut same = HashEmbedder::new(64);
    let r = embed_missing(&index, &mut same, None, None, false).unwrap();
    assert_eq!(
        (r.embedded, r.already),
        (0, 401),
        "same model: nothing to do"
    );
    let fresh = tempfile::tempdir().unwrap();
    let plain = PaperIndex::open_or_create(&fresh.path().join("idx")).unwrap();
    assert!(matches!(
        plain.check_query_model(&other),
        Err(IndexError::NoVectors { .. })
    ));
}

#[test]
fn embed_missing_backfills_newest_first_with_a_limit() {
    let dir = tempfile::tempdir().unwrap();
    let index = PaperIndex::open_or_create(&dir.path().join("idx")).unwrap();
    import_file(
        &index,
        &fixture("arxiv-mini.jsonl"),
        &opts(Format::ArxivJsonl),
        None,
    )
    .unwrap();
    let mut e = HashEmbedder::new(64);
    let r = embed_missing(
        &index,
        &mut e,
        academichub::paper::parse_date("2026-06-16"),
        Some(50),
        false,
    )
    .unwrap();
    assert_eq!((r.embedded, r.already), (50, 0));
    assert!(r.remaining > 0);
    let r2 = embed_missing(&index, &mut e, None, None, false).unwrap();
    assert_eq!(r2.already, 50);
    assert_eq!(r2.embedded, 200);
    assert_eq!(
        index.num_papers(),
        250,
        "re-indexing for vectors never duplicates"
    );
    // Nothing left to embed: no writer is needed, so an index another writer holds (a
    // running `serve`) is checked, not refused (`eval --mode hybrid` beside a server).
    let held = index.writer().unwrap();
    let r3 = embed_missing(&index, &mut e, None, None, false).unwrap();
    assert_eq!((r3.already, r3.embedded, r3.remaining), (250, 0, 0));
    drop(held);
    // Failing embedder: the error surfaces, nothing is lost.
    let mut bad = HashEmbedder::new(64);
    bad.fail_with = Some("boom".into());
    let dir2 = tempfile::tempdir().unwrap();
    let idx2 = PaperIndex::open_or_create(&dir2.path().join("idx")).unwrap();
    let err = import_file(
        &idx2,
        &fixture("arxiv-mini.jsonl"),
        &opts(Format::ArxivJsonl),
        Some(&mut bad),
    )
    .unwrap_err();
    assert!(err.to_string().contains("boom"), "{err}");
}

// ---- real models -------------------------------------------------------------------------

fn real_model(name: &str, test: &str) -> Option<FastEmbedder> {
    let root = default_cache_root();
    let spec = ModelSpec::named(name).unwrap();
    if !root
        .join("models")
        .join(&spec.dir)
        .join("model.onnx")
        .exists()
    {
        eprintln!(
            "SKIPPED {test}: model {name} not in {} (run scripts/fetch-models --model {name})",
            root.display()
        );
        return None;
    }
    Some(FastEmbedder::load(&spec, &root).expect("load model"))
}

fn reference(name: &str) -> Option<(Vec<String>, Vec<Vec<f32>>)> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../shared/models/reference")
        .join(name);
    let text = std::fs::read_to_string(&path).ok()?;
    let v: serde_json::Value = serde_json::from_str(&text).ok()?;
    let texts = v["texts"]
        .as_array()?
        .iter()
        .filter_map(|t| t.as_str().map(String::from))
        .collect();
    let embs = v["embeddings"]
        .as_array()?
        .iter()
        .map(|e| {
            e.as_array()
                .map(|a| {
                    a.iter()
                        .filter_map(|x| x.as_f64())
                        .map(|x| x as f32)
                        .collect()
                })
                .unwrap_or_default()
        })
        .collect();
    Some((texts, embs))
}

fn check_reference(model: &str, file: &str, test: &str, raw: bool) {
    let Some(mut m) = real_model(model, test) else {
        return;
    };
    let Some((texts, refs)) = reference(file) else {
        eprintln!("SKIPPED {test}: ../shared/models/reference/{file} not found");
        return;
    };
    assert_eq!(texts.len(), 48);
    // The e5 reference texts already carry their "passage: " prefix: embed them as queries with
    // an empty prefix by going through the raw passage path of a prefix-free spec.
    let got = if raw {
        let mut spec = m.spec().clone();
        spec.passage_prefix.clear();
        let mut plain = FastEmbedder::load(&spec, &default_cache_root()).unwrap();
        plain.embed_passages(&texts).unwrap()
    } else {
        m.embed_passages(&texts).unwrap()
    };
    let min = got
        .iter()
        .zip(&refs)
        .map(|(a, b)| dot(a, b))
        .fold(f32::INFINITY, f32::min);
    // The tolerance is the one scripts/fetch-models documents for the installed graph and
    // records in BUILD_INFO (0.999 for float graphs, lower for int8 ones).
    let spec = m.spec().clone();
    let info = std::fs::read_to_string(
        default_cache_root()
            .join("models")
            .join(&spec.dir)
            .join("BUILD_INFO"),
    )
    .unwrap_or_default();
    let tolerance: f32 = info
        .lines()
        .find_map(|l| l.strip_prefix("reference_min_cos="))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0.999);
    assert!(
        tolerance >= 0.97,
        "{model}: tolerance {tolerance} too loose"
    );
    eprintln!("{model}: min cosine to the reference vectors {min:.6} (tolerance {tolerance})");
    assert!(min >= tolerance, "{model}: min cosine {min} < {tolerance}");
    // int8 graphs quantize activations per tensor: one text per run keeps a text's vector
    // independent of its neighbours.
    let alone = m.embed_passages(&texts[3..4]).unwrap();
    let among = m.embed_passages(&texts[..8]).unwrap();
    assert_eq!(alone[0], among[3], "{model}: a vector depends on its batch");
}

#[test]
fn real_minilm_matches_reference_vectors() {
    check_reference(
        "minilm-l6",
        "minilm-l6.json",
        "real_minilm_matches_reference_vectors",
        false,
    );
}

#[test]
fn real_me5_matches_reference_vectors() {
    check_reference(
        "me5-small",
        "me5-small-q4.json",
        "real_me5_matches_reference_vectors",
        true,
    );
}

#[test]
fn real_e5_tokenizer_matches_e5c_token_ids() {
    let root = default_cache_root();
    let path = root.join("models/me5-small/tokenizer.json");
    if !path.exists() {
        eprintln!("SKIPPED real_e5_tokenizer_matches_e5c_token_ids: {} missing (scripts/fetch-models --model me5-small)", path.display());
        return;
    }
    let tok = tokenizers::Tokenizer::from_file(&path).expect("load tokenizer.json");
    let cases: Vec<serde_json::Value> =
        serde_json::from_str(&std::fs::read_to_string(fixture("e5/token_ids.json")).unwrap())
            .unwrap();
    assert_eq!(cases.len(), 41);
    for c in &cases {
        let text = c["text"].as_str().unwrap();
        let want: Vec<u32> = c
            .get("tokenizers_ids")
            .unwrap_or(&c["ids"])
            .as_array()
            .unwrap()
            .iter()
            .map(|x| x.as_u64().unwrap() as u32)
            .collect();
        let got = tok.encode(text, true).expect("encode").get_ids().to_vec();
        assert_eq!(got, want, "token ids differ for {text:?}");
    }
}

#[test]
fn real_minilm_dense_finds_the_judged_abstract() {
    let Some(mut m) = real_model("minilm-l6", "real_minilm_dense_finds_the_judged_abstract") else {
        return;
    };
    let (_d, index) = embedded_index(Format::Beir, "scifact-mini/corpus.jsonl", &mut m);
    let engine = QueryEngine::new(&index);
    // A paraphrase sharing few words with the abstract (SciFact query 5 is about prion protein).
    let q = "How common are misfolded prion proteins in British appendix samples?";
    let v = m.embed_query(q).unwrap();
    let res = engine
        .search(&request(q, Mode::Dense, Some(QueryVector::Ready(v))))
        .unwrap();
    assert_eq!(res.hits[0].paper.id.as_str(), "13734012");
}

#[test]
fn coverage_weighting_keeps_english_hybrid_unchanged() {
    let mut e = HashEmbedder::new(64);
    let (_d, index) = embedded_index(Format::Beir, "scifact-mini/corpus.jsonl", &mut e);
    let engine = QueryEngine::new(&index);
    let searcher = index.reader().searcher();
    // Every word of an English question is in the English index: coverage 1, no feedback leg.
    let q = "1/2000 in UK have abnormal PrP positivity.";
    let (parsed, _) = engine.parse(q);
    assert_eq!(
        engine.term_coverage(&searcher, parsed.as_ref()).unwrap(),
        1.0
    );
    let v = e.embed_query(q).unwrap();
    let mut plain = request(q, Mode::Hybrid, Some(QueryVector::Ready(v.clone())));
    plain.hybrid = academichub::search::HybridParams::plain();
    let aware = request(q, Mode::Hybrid, Some(QueryVector::Ready(v)));
    let (a, b) = (
        engine.search(&plain).unwrap(),
        engine.search(&aware).unwrap(),
    );
    let ids = |r: &academichub::SearchResults| {
        r.hits
            .iter()
            .map(|h| (h.paper.id.clone(), h.score))
            .collect::<Vec<_>>()
    };
    assert_eq!(ids(&a), ids(&b));
    assert!(b.hits.iter().all(|h| h.sources.feedback_rank.is_none()));
    // English words the index has never seen are rare words, not another language: coverage
    // stays 1 while some English word matches; with none matching, it is 0.
    let coverage = |q: &str| {
        let (parsed, _) = engine.parse(q);
        engine.term_coverage(&searcher, parsed.as_ref()).unwrap()
    };
    assert_eq!(coverage("prion appendix qzxwvy zzyzxq"), 1.0);
    assert_eq!(coverage("qzxwvy zzyzxq"), 0.0);
    // Untranslated Chinese words beside matching English ones count as unknown.
    let (parsed, _) = academichub::search::parse::parse_with(&index, "prion 朊病毒蛋白", false);
    let c = engine.term_coverage(&searcher, parsed.as_ref()).unwrap();
    assert!(c > 0.0 && c < 1.0, "coverage {c}");
}

#[test]
fn real_me5_chinese_questions_find_english_papers() {
    let test = "real_me5_chinese_questions_find_english_papers";
    let Some(mut m) = real_model("me5-small", test) else {
        return;
    };
    // 80 real English arXiv abstracts and 8 Chinese title translations of the arxiv-zh2en set
    // (6 purely Chinese, 2 with an English name in them).
    let (_d, index) = embedded_index(Format::Beir, "zh2en-mini/corpus.jsonl", &mut m);
    let engine = QueryEngine::new(&index);
    let searcher = index.reader().searcher();
    let qrels = std::fs::read_to_string(fixture("zh2en-mini/qrels/test.tsv")).unwrap();
    let relevant: std::collections::HashMap<String, String> = qrels
        .lines()
        .skip(1)
        .filter_map(|l| {
            let mut it = l.split('\t');
            Some((it.next()?.to_string(), it.next()?.to_string()))
        })
        .collect();
    let queries = std::fs::read_to_string(fixture("zh2en-mini/queries.jsonl")).unwrap();
    let (mut bm25_first, mut dense_first, mut hybrid_first) = (0, 0, 0);
    for line in queries.lines() {
        let q: serde_json::Value = serde_json::from_str(line).unwrap();
        let (qid, text) = (q["_id"].as_str().unwrap(), q["text"].as_str().unwrap());
        let want = &relevant[qid];
        // Embedded as a search embeds it: with its translation over these English papers.
        let v = m
            .embed_query(&academichub::search::embedding_text(&index, text, true))
            .unwrap();
        let first = |mode: Mode| {
            let mut req = request(text, mode, Some(QueryVector::Ready(v.clone())));
            // BM25 alone untranslated: its words cannot cross languages.
            req.translate = mode != Mode::Bm25;
            let r = engine.search(&req).unwrap();
            r.hits.first().map(|h| h.paper.id.as_str().to_string())
        };
        bm25_first += usize::from(first(Mode::Bm25).as_deref() == Some(want.as_str()));
        dense_first += usize::from(first(Mode::Dense).as_deref() == Some(want.as_str()));
        hybrid_first += usize::from(first(Mode::Hybrid).as_deref() == Some(want.as_str()));
        // Untranslated, a Chinese question's words are unknown to English papers.
        let (parsed, _) = academichub::search::parse::parse_with(&index, text, false);
        let coverage = engine.term_coverage(&searcher, parsed.as_ref()).unwrap();
        if !text.chars().any(|c| c.is_ascii_alphabetic()) {
            assert!(coverage < 0.3, "{text}: coverage {coverage}");
            let mut r = request(text, Mode::Hybrid, Some(QueryVector::Ready(v)));
            r.translate = false;
            r.hybrid.feedback_weight = 0.5;
            let h = engine.search(&r).unwrap();
            assert!(
                h.hits.iter().any(|h| h.sources.feedback_rank.is_some()),
                "{text}: the feedback leg runs for a Chinese question when enabled"
            );
        }
    }
    eprintln!(
        "first-ranked correct of 8: bm25 {bm25_first}, dense {dense_first}, hybrid {hybrid_first}"
    );
    assert!(
        bm25_first <= 2,
        "untranslated keywords cannot cross languages"
    );
    assert!(dense_first >= 6, "dense {dense_first}/8");
    // Eight queries: one swap either way is the sample's noise (over all 1,000 arxiv-zh2en
    // queries hybrid scores 0.906 against dense 0.733, BENCHMARKS.md).
    assert!(
        hybrid_first + 1 >= dense_first,
        "hybrid {hybrid_first} < dense {dense_first} - 1"
    );
}

#[test]
fn binary_first_pass_keeps_each_paper_nearest_to_itself_with_exact_scores() {
    // Forced on the small fixture (it starts at 20,000 vectors a segment by default): the
    // Hamming pass keeps 1/8 of the papers, the int8 and int16 passes rescore them. A paper's
    // own vector is at distance 0 from itself, so it must come first with cosine 1; every
    // returned score is the exact cosine; the count covers every paper with a vector.
    use academichub::search::dense::DenseCollector;
    use tantivy::query::AllQuery;

    let mut e = HashEmbedder::new(64);
    let (_d, index) = embedded_index(Format::Beir, "scifact-mini/corpus.jsonl", &mut e);
    let searcher = index.reader().searcher();
    let engine = QueryEngine::new(&index);
    let filters = academichub::Filters::default();
    let cache = index.vectors().clone();
    let mut checked = 0;
    for segment in searcher.segment_readers() {
        let vectors = cache.segment(segment).unwrap();
        for doc in (0..segment.max_doc()).step_by(9) {
            let Some(v) = vectors.vector(doc) else {
                continue;
            };
            let v = &v[..];
            let mut binary = DenseCollector::new(v.to_vec(), 5, cache.clone());
            binary.binary_min_vectors = 0;
            let (top, total) = searcher.search(&AllQuery, &binary).unwrap();
            assert_eq!(total, 401);
            assert_eq!(top[0].1.doc_id, doc);
            assert!((top[0].0 - 1.0).abs() < 1e-4, "{}", top[0].0);
            let (exact, _) = engine.dense_leg(&searcher, v, &filters, 1000).unwrap();
            for (score, addr) in &top {
                let want = exact.iter().find(|(a, _)| a == addr).map(|(_, s)| *s);
                assert_eq!(want, Some(*score), "{addr:?}");
            }
            checked += 1;
        }
    }
    assert!(checked > 40, "{checked}");
}

#[test]
fn warming_decodes_every_segment_once_ahead_of_searches() {
    let (_d, index) = crate::fixtures::fixture_index(true);
    let searcher = index.reader().searcher();
    assert!(index.vectors().is_empty());
    let n = academichub::search::dense::warm(&index, &searcher).expect("warm");
    assert_eq!(n, 250, "every paper of the fixture has a vector");
    assert_eq!(index.vectors().len(), searcher.segment_readers().len());
    // A second pass finds them decoded; a search uses them as they are.
    assert_eq!(
        academichub::search::dense::warm(&index, &searcher).expect("warm"),
        250
    );
    let v = index
        .vector_at(&searcher, tantivy::DocAddress::new(0, 0))
        .expect("read")
        .expect("a vector");
    let engine = QueryEngine::new(&index);
    let (leg, _) = engine
        .dense_leg(&searcher, &v, &academichub::Filters::default(), 5)
        .expect("dense leg");
    assert_eq!(leg[0].0, tantivy::DocAddress::new(0, 0));
    assert_eq!(index.vectors().len(), searcher.segment_readers().len());
}

#[test]
fn real_models_embed_any_text_without_failing() {
    for name in ["me5-small", "minilm-l6"] {
        let Some(mut m) = real_model(name, "real_models_embed_any_text_without_failing") else {
            continue;
        };
        let long = "Graph neural networks learn representations of molecules. ".repeat(1800);
        assert!(long.len() > 100_000);
        let texts = vec![
            String::new(),
            academichub::embed::passage_text("", "An abstract without a title."),
            academichub::embed::passage_text("A title without an abstract", ""),
            long.clone(),
            "强化学习 مرحبا بالعالم नमस्ते दुनिया 🙂 Ελληνικά ∑∫ \u{0}\u{200b}".into(),
        ];
        let v = m.embed_passages(&texts).unwrap();
        assert_eq!(v.len(), texts.len());
        for (t, x) in texts.iter().zip(&v) {
            let norm: f32 = x.iter().map(|a| a * a).sum::<f32>().sqrt();
            assert!(
                x.len() == 384 && x.iter().all(|a| a.is_finite()) && (norm - 1.0).abs() < 1e-3,
                "{name}: {:?}",
                t.chars().take(40).collect::<String>()
            );
        }
        // The 100 KB abstract is truncated to the model's length: the same vector as its start.
        let head: String = long.chars().take(6000).collect();
        let h = m.embed_passages(&[head]).unwrap();
        assert!(dot(&h[0], &v[3]) > 0.999, "{name}: truncation");
    }
}

/// Our encoder (embed/onnx.rs: a tokenizer shared by a model's sessions) gives the vectors
/// fastembed's own pipeline gives on the same graph and texts, for both models.
#[test]
fn real_models_match_fastembeds_pipeline() {
    use fastembed::{
        InitOptionsUserDefined, Pooling, TextEmbedding, TokenizerFiles, UserDefinedEmbeddingModel,
    };
    for name in ["minilm-l6", "me5-small"] {
        let test = "real_models_match_fastembeds_pipeline";
        let Some(mut ours) = real_model(name, test) else {
            continue;
        };
        let Some((texts, _)) = reference(if name == "me5-small" {
            "me5-small-q4.json"
        } else {
            "minilm-l6.json"
        }) else {
            eprintln!("SKIPPED {test}: reference texts not found");
            return;
        };
        let spec = ours.spec().clone();
        let root = default_cache_root();
        let dir = root.join("models").join(&spec.dir);
        let read = |f: &str| std::fs::read(dir.join(f)).unwrap();
        let files = TokenizerFiles {
            tokenizer_file: read("tokenizer.json"),
            config_file: read("config.json"),
            special_tokens_map_file: read("special_tokens_map.json"),
            tokenizer_config_file: read("tokenizer_config.json"),
        };
        let model = UserDefinedEmbeddingModel::new(read("model.onnx"), files).with_pooling(
            match spec.pooling {
                academichub::embed::PoolingKind::Mean => Pooling::Mean,
                academichub::embed::PoolingKind::Cls => Pooling::Cls,
            },
        );
        let mut options = InitOptionsUserDefined::new()
            .with_max_length(spec.max_length)
            .with_environment(academichub::embed::ort_environment(&root).unwrap());
        // The same session options (the pipelines are compared, not ORT's graph fusions).
        for (k, v) in academichub::embed::SESSION_CONFIG {
            options = options.with_session_config(*k, *v);
        }
        let mut theirs = TextEmbedding::try_new_from_user_defined(model, options).unwrap();
        let prefixed: Vec<String> = texts
            .iter()
            .map(|t| format!("{}{t}", spec.passage_prefix))
            .collect();
        let want = theirs.embed(&prefixed, Some(1)).unwrap();
        let got = ours.embed_passages(&texts).unwrap();
        for (i, (g, w)) in got.iter().zip(&want).enumerate() {
            let mut w = w.clone();
            academichub::embed::normalize(&mut w);
            let cos = dot(g, &w);
            assert!(
                cos > 0.99999,
                "{name} text #{i}: cosine {cos} to fastembed's vector"
            );
        }
        eprintln!(
            "{name}: {} texts agree with fastembed's pipeline",
            texts.len()
        );
    }
}

#[test]
fn a_query_embedded_beside_the_bm25_leg_ranks_as_one_embedded_first() {
    let (_d, index, mut e) = crate::fixtures::embedded_fixture();
    let engine = QueryEngine::new(&index);
    for (q, mode) in [
        ("speech translation benchmark", Mode::Hybrid),
        ("reinforcement learning for robots", Mode::Hybrid),
        ("speech translation benchmark", Mode::Dense),
    ] {
        let v = e.embed_query(q).unwrap();
        let mut first = request(q, mode, Some(QueryVector::Ready(v.clone())));
        first.facets = true;
        let expected = engine.search(&first).unwrap();
        let mut later = first.clone();
        later.query_vector = None;
        let got = engine
            .search_embedding(&later, || Some(QueryVector::Ready(v)))
            .unwrap();
        assert_eq!(got.mode, mode);
        let ids = |r: &academichub::SearchResults| {
            r.hits
                .iter()
                .map(|h| (h.paper.id.to_string(), h.score))
                .collect::<Vec<_>>()
        };
        assert_eq!(ids(&got), ids(&expected), "{q} {mode}");
        assert_eq!(got.total, expected.total);
        assert_eq!(got.facets, expected.facets);
    }
    // No vector, or an embedder that panics: hybrid falls back to BM25 and says why.
    let mut req = request("speech translation benchmark", Mode::Hybrid, None);
    let bm25 = engine
        .search(&request("speech translation benchmark", Mode::Bm25, None))
        .unwrap();
    for embed in [
        Box::new(|| None) as Box<dyn FnOnce() -> Option<QueryVector> + Send>,
        Box::new(|| panic!("embedder broke")),
    ] {
        let got = engine.search_embedding(&req, embed).unwrap();
        assert_eq!(got.mode, Mode::Bm25);
        assert!(got.warnings.iter().any(|w| w.contains("fell back to bm25")));
        assert_eq!(got.hits[0].paper.id, bm25.hits[0].paper.id);
    }
    // A failed embedding is the same fallback.
    let failed = engine
        .search_embedding(&req, || Some(QueryVector::Failed("model gone".into())))
        .unwrap();
    assert!(failed.warnings.iter().any(|w| w.contains("model gone")));
    // A request carrying its vector does not call `embed`.
    req.query_vector = Some(QueryVector::Ready(e.embed_query("speech").unwrap()));
    let got = engine
        .search_embedding(&req, || panic!("not called"))
        .unwrap();
    assert_eq!(got.mode, Mode::Hybrid);
}
