//! Radars: durable storage under concurrent writers (threads and processes), validation, and
//! ranking on the real 250-paper arXiv capture with the deterministic hashed-trigram embedder.

use std::process::Command;
use std::sync::Arc;

use academichub::embed::Embedder;
use academichub::ingest::Format;
use academichub::paper::{parse_date, PaperId};
use academichub::radar::{
    self, ErrorKind, RadarError, RadarFilters, RadarSpec, RadarStore, RankRequest,
};
use academichub::search::Mode;
use academichub::PaperIndex;

use crate::fixtures::{embedded_fixture, index_with};

fn spec(name: &str, queries: &[&str]) -> RadarSpec {
    RadarSpec {
        name: name.into(),
        queries: queries.iter().map(|s| s.to_string()).collect(),
        ..Default::default()
    }
}

fn ids(v: &[&str]) -> Vec<PaperId> {
    v.iter().map(|s| PaperId::new(*s)).collect()
}

fn top_ids(res: &radar::RadarPapers) -> Vec<String> {
    res.papers
        .iter()
        .map(|h| h.paper.id.as_str().to_string())
        .collect()
}

#[test]
fn store_survives_reopen_and_keeps_ids() {
    let (_d, index) = index_with(Format::ArxivJsonl, "arxiv-mini.jsonl.gz");
    let a = radar::create_radar(&index, &spec("Streaming LLMs", &["streaming LLM"])).unwrap();
    let b = radar::create_radar(&index, &spec("Streaming LLMs", &["streaming"])).unwrap();
    let c = radar::create_radar(&index, &spec("大语言模型", &["大语言模型"])).unwrap();
    assert_eq!(
        (a.id.as_str(), b.id.as_str(), c.id.as_str()),
        ("streaming-llms", "streaming-llms-2", "radar")
    );
    // A fresh store (another process after a restart) reads the same radars.
    let reopened = PaperIndex::open(index.dir()).unwrap();
    let listed = radar::list_radars(&reopened).unwrap();
    assert_eq!(listed, vec![a.clone(), b.clone(), c.clone()]);
    let mut new_spec = spec("Renamed", &["speech"]);
    new_spec.filters = RadarFilters {
        categories: vec!["CS.CL".into()],
        sources: vec![],
    };
    let u = radar::update_radar(&reopened, &a.id, &new_spec).unwrap();
    assert_eq!(
        (u.id.as_str(), u.name.as_str()),
        ("streaming-llms", "Renamed")
    );
    assert_eq!(u.created, a.created);
    assert_eq!(u.filters.categories, vec!["cs.cl"]);
    let gone = radar::delete_radar(&reopened, &b.id).unwrap();
    assert_eq!(gone.id, b.id);
    let err = radar::get_radar(&reopened, &b.id).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::NotFound);
    assert!(err.to_string().contains("streaming-llms-2"), "{err}");
    assert_eq!(
        radar::delete_radar(&reopened, "nope").unwrap_err().kind(),
        ErrorKind::NotFound
    );
    assert_eq!(radar::list_radars(&reopened).unwrap().len(), 2);
    // No temp file left behind.
    assert!(!index.dir().join("radars.json.tmp").exists());
}

#[test]
fn corrupt_store_is_an_error_and_left_untouched() {
    let (_d, index) = index_with(Format::ArxivJsonl, "arxiv-mini.jsonl.gz");
    let path = index.dir().join("radars.json");
    std::fs::write(&path, "{\"version\": 1, \"radars\": [ {broken").unwrap();
    let err = radar::create_radar(&index, &spec("x", &["y"])).unwrap_err();
    assert!(matches!(err, RadarError::Corrupt { .. }), "{err}");
    assert_eq!(err.kind(), ErrorKind::Internal);
    assert_eq!(
        std::fs::read_to_string(&path).unwrap(),
        "{\"version\": 1, \"radars\": [ {broken"
    );
    assert!(radar::list_radars(&index).is_err());
}

#[test]
fn concurrent_threads_lose_no_radar() {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(RadarStore::new(dir.path()));
    let threads: Vec<_> = (0..8)
        .map(|t| {
            let store = store.clone();
            std::thread::spawn(move || {
                for i in 0..10 {
                    let s = spec(&format!("t{t} r{i}"), &["q"]).validated().unwrap();
                    store.create(s).unwrap();
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    let all = store.list().unwrap();
    assert_eq!(all.len(), 80);
    let mut names: Vec<_> = all.iter().map(|r| r.name.clone()).collect();
    names.sort();
    names.dedup();
    assert_eq!(names.len(), 80);
}

#[test]
fn concurrent_processes_lose_no_radar() {
    let (_d, index) = index_with(Format::ArxivJsonl, "arxiv-mini.jsonl.gz");
    let idx = index.dir().to_str().unwrap().to_string();
    // Twelve processes started at once, each adding one radar through the CLI.
    let spawned: Vec<_> = (0..12)
        .map(|p| {
            Command::new(env!("CARGO_BIN_EXE_academichub"))
                .args([
                    "radar",
                    "add",
                    "--name",
                    &format!("parallel {p}"),
                    "--query",
                    "speech",
                    "--index",
                    &idx,
                ])
                .env_remove("ACADEMICHUB_INDEX")
                .stdout(std::process::Stdio::null())
                .spawn()
                .unwrap()
        })
        .collect();
    for mut c in spawned {
        assert!(c.wait().unwrap().success());
    }
    let all = radar::list_radars(&index).unwrap();
    assert_eq!(all.len(), 12, "{all:?}");
    let mut ids: Vec<_> = all.iter().map(|r| r.id.clone()).collect();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), 12);
}

#[test]
fn bad_input_is_rejected_clearly() {
    let (_d, index) = index_with(Format::ArxivJsonl, "arxiv-mini.jsonl.gz");
    let err = radar::create_radar(&index, &spec("empty", &[" "])).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidInput);
    assert!(err.to_string().contains("at least one query"), "{err}");
    let mut s = spec("ghost", &["x"]);
    s.positive = ids(&["9999.99999"]);
    let err = radar::create_radar(&index, &s).unwrap_err();
    assert!(
        matches!(
            err,
            RadarError::UnknownPaper {
                kind: "positive",
                ..
            }
        ),
        "{err}"
    );
    assert!(radar::list_radars(&index).unwrap().is_empty());
    let r = radar::create_radar(&index, &spec("ok", &["streaming"])).unwrap();
    let future = parse_date("2200-01-01");
    let err = radar::radar_papers(
        &index,
        &r.id,
        &RankRequest {
            since: future,
            ..Default::default()
        },
        None,
    )
    .unwrap_err();
    assert!(
        matches!(err, RadarError::InvalidParam { name: "since", .. }),
        "{err}"
    );
    assert!(err.to_string().contains("in the future"), "{err}");
    for k in [0, radar::MAX_RADAR_K + 1] {
        let err = radar::radar_papers(
            &index,
            &r.id,
            &RankRequest {
                k,
                ..Default::default()
            },
            None,
        )
        .unwrap_err();
        assert!(matches!(err, RadarError::InvalidParam { name: "k", .. }));
    }
    let err = radar::radar_papers(&index, "missing", &RankRequest::default(), None).unwrap_err();
    assert_eq!(err.code(), "not_found");
}

#[test]
fn bm25_only_ranking_on_real_papers_says_so() {
    let (_d, index) = index_with(Format::ArxivJsonl, "arxiv-mini.jsonl.gz");
    let r = radar::create_radar(
        &index,
        &spec(
            "streaming",
            &["streaming large language models survey", "speech tokens"],
        ),
    )
    .unwrap();
    let res = radar::radar_papers(&index, &r.id, &RankRequest::default(), None).unwrap();
    assert_eq!(res.mode, Mode::Bm25);
    assert!(
        res.notes.iter().any(|n| n.contains("no vectors")),
        "{:?}",
        res.notes
    );
    let first = &res.papers[0];
    assert_eq!(first.paper.id.as_str(), "2603.04592");
    let q = first.reason.query.as_ref().unwrap();
    assert_eq!(
        (q.index, q.bm25_rank, q.dense_rank),
        (Some(0), Some(1), None)
    );
    assert!(
        first.reason.text.contains("bm25 #1"),
        "{}",
        first.reason.text
    );
    // Every paper in the list is from one of the two queries, ranks are 1..n, scores sorted.
    assert_eq!(res.papers.len(), 20);
    assert!(res.papers.windows(2).all(|w| w[0].score >= w[1].score));
    assert!(res.papers.iter().enumerate().all(|(i, h)| h.rank == i + 1));
    // The since filter: only the 86 papers listed on or after 2026-06-15.
    let since = RankRequest {
        since: parse_date("2026-06-15"),
        k: 1000,
        ..Default::default()
    };
    let res = radar::radar_papers(&index, &r.id, &since, None).unwrap();
    assert!(!res.papers.is_empty());
    assert!(res
        .papers
        .iter()
        .all(|h| h.paper.published >= parse_date("2026-06-15")));
    // A category filter restricts the candidates.
    let mut s = spec("cv only", &["streaming large language models survey"]);
    s.filters.categories = vec!["cs.AI".into()];
    let ai = radar::create_radar(&index, &s).unwrap();
    let res = radar::radar_papers(&index, &ai.id, &RankRequest::default(), None).unwrap();
    assert!(!res.papers.is_empty());
    assert!(res
        .papers
        .iter()
        .all(|h| h.paper.categories.iter().any(|c| c == "cs.AI")));
    assert!(
        !top_ids(&res).contains(&"2603.04592".to_string()),
        "cs.CL + cs.CV only"
    );
}

#[test]
fn examples_move_papers_up_and_down() {
    let (_d, index, mut e) = embedded_fixture();
    let query = "large language model reasoning";
    let base = radar::create_radar(&index, &spec("base", &[query])).unwrap();
    let req = RankRequest {
        k: 50,
        ..Default::default()
    };
    let plain =
        radar::radar_papers(&index, &base.id, &req, Some(&mut e as &mut dyn Embedder)).unwrap();
    assert_eq!(plain.mode, Mode::Hybrid, "{:?}", plain.notes);
    let ranked = top_ids(&plain);
    println!("plain: {:?}", &ranked[..10]);
    let q = plain.papers[0].reason.query.as_ref().unwrap();
    assert!(q.bm25_rank.is_some() && q.dense_rank.is_some(), "{q:?}");

    // Pick the example and the paper to watch from the real ranking: the 1st paper as the
    // example, and its nearest neighbour (by stored vector) further down the list.
    let example = ranked[0].clone();
    let mut with_pos = spec("pos", &[query]);
    with_pos.positive = ids(&[&example]);
    let pos = radar::create_radar(&index, &with_pos).unwrap();
    let up = radar::radar_papers(&index, &pos.id, &req, Some(&mut e as &mut dyn Embedder)).unwrap();
    let up_ids = top_ids(&up);
    assert!(!up_ids.contains(&example), "examples are not results");
    // Watch the paper most similar to the example among those ranked 11th or lower without it.
    let closest = up
        .papers
        .iter()
        .filter(|h| {
            ranked
                .iter()
                .position(|x| x == h.paper.id.as_str())
                .is_none_or(|p| p >= 10)
        })
        .max_by(|a, b| {
            let s = |h: &radar::RadarHit| h.reason.positive.as_ref().unwrap().similarity;
            s(a).partial_cmp(&s(b)).unwrap()
        })
        .unwrap();
    let cid = closest.paper.id.as_str().to_string();
    let before = ranked.iter().position(|x| *x == cid);
    let after = up_ids.iter().position(|x| *x == cid).unwrap();
    println!("closest to {example}: {cid} before {before:?} after {after}");
    let p = closest.reason.positive.as_ref().unwrap();
    assert_eq!(p.id.as_str(), example);
    assert_eq!(p.measure, "embedding");
    assert!(closest
        .reason
        .text
        .contains(&format!("positive example {example}")));
    assert!(
        before.is_none_or(|b| after + 3 < b),
        "{cid}: {before:?} -> {after}"
    );

    // The same paper as a negative example pushes its neighbour down.
    let mut with_neg = spec("neg", &[query]);
    with_neg.negative = ids(&[&example]);
    let neg = radar::create_radar(&index, &with_neg).unwrap();
    let down =
        radar::radar_papers(&index, &neg.id, &req, Some(&mut e as &mut dyn Embedder)).unwrap();
    let down_ids = top_ids(&down);
    let after_neg = down_ids.iter().position(|x| *x == cid);
    println!("after negative: {after_neg:?}");
    assert!(
        after_neg.is_none_or(|a| before.is_none_or(|b| a > b)),
        "{cid}: {before:?} -> {after_neg:?}"
    );
    let hit = down.papers.iter().find(|h| h.paper.id.as_str() == cid);
    if let Some(h) = hit {
        let n = h.reason.negative.as_ref().unwrap();
        assert!(n.effect < 0.0 && n.id.as_str() == example);
        assert!(h.reason.text.contains("penalized"), "{}", h.reason.text);
    }
}

#[test]
fn examples_only_radar_finds_neighbours() {
    let (_d, index, mut e) = embedded_fixture();
    let mut s = spec("like the survey", &[]);
    s.positive = ids(&["2603.04592"]);
    let r = radar::create_radar(&index, &s).unwrap();
    let res = radar::radar_papers(
        &index,
        &r.id,
        &RankRequest::default(),
        Some(&mut e as &mut dyn Embedder),
    )
    .unwrap();
    assert_eq!(res.mode, Mode::Hybrid);
    assert!(!top_ids(&res).contains(&"2603.04592".to_string()));
    let q = res.papers[0].reason.query.as_ref().unwrap();
    assert_eq!(q.index, None);
    assert_eq!(q.query, "papers like 2603.04592");
    println!("{:?}", &top_ids(&res)[..5]);
}

// ---- benchmark (ignored by default; BENCHMARKS.md "Radars and briefings (#7)") --------------

/// Precision@10 of radars built from three SciFact test queries against a plain hybrid search
/// of the three queries concatenated, over 30 seeded random triples. Needs the SciFact eval
/// index with MiniLM vectors at `index-data/eval/beir-scifact` (copy it from a built checkout
/// or run `academichub eval --dataset ../shared/datasets/beir/scifact --mode dense` once) and
/// the MiniLM model. Run:
/// `cargo test --release --locked --test it -- --ignored --nocapture scifact_radar_precision`
#[test]
#[ignore]
fn scifact_radar_precision() {
    use academichub::embed::{default_cache_root, FastEmbedder, ModelSpec};
    use academichub::eval::{load_qrels, load_queries};
    use academichub::search::{QueryVector, SearchRequest};
    use academichub::QueryEngine;
    use std::collections::HashSet;

    let test = "scifact_radar_precision";
    let Some(data) = crate::fixtures::datasets(test) else {
        return;
    };
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("index-data/eval/beir-scifact");
    if !dir.join("meta.json").exists() {
        eprintln!("SKIPPED {test}: no index at {}", dir.display());
        return;
    }
    // Work on a copy: radars are written into the index directory.
    let tmp = tempfile::tempdir().unwrap();
    let copy = tmp.path().join("idx");
    std::fs::create_dir_all(&copy).unwrap();
    for e in std::fs::read_dir(&dir).unwrap() {
        let e = e.unwrap();
        if e.file_type().unwrap().is_file() {
            std::fs::copy(e.path(), copy.join(e.file_name())).unwrap();
        }
    }
    let index = PaperIndex::open(&copy).unwrap();
    let spec = ModelSpec::named("minilm-l6").unwrap();
    let Ok(mut model) = FastEmbedder::load(&spec, &default_cache_root()) else {
        eprintln!("SKIPPED {test}: MiniLM not in the model cache (scripts/fetch-models)");
        return;
    };
    index.check_query_model(model.id()).unwrap();
    let scifact = data.join("beir/scifact");
    let queries = load_queries(&scifact.join("queries.jsonl")).unwrap();
    let qrels = load_qrels(&scifact.join("qrels/test.tsv")).unwrap();
    let judged: Vec<(String, String)> = queries
        .into_iter()
        .filter(|(id, _)| qrels.contains_key(id))
        .collect();
    let relevant = |qid: &str| -> Vec<String> {
        let mut v: Vec<String> = qrels[qid]
            .iter()
            .filter(|(_, rel)| **rel > 0)
            .map(|(d, _)| d.clone())
            .collect();
        v.sort();
        v
    };
    // xorshift, fixed seed: the same 30 triples every run.
    let mut state: u64 = 0x7ad0_2026;
    let mut next = |n: usize| {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        (state % n as u64) as usize
    };
    let engine = QueryEngine::new(&index);
    let (mut p_base, mut p_radar, mut p_base_ex, mut p_radar_ex) = (0.0, 0.0, 0.0, 0.0);
    let (mut ceiling, mut p_radar_noex) = (0.0, 0.0);
    let triples = 30;
    for t in 0..triples {
        let mut pick: Vec<usize> = Vec::new();
        while pick.len() < 3 {
            let i = next(judged.len());
            if !pick.contains(&i) {
                pick.push(i);
            }
        }
        let qs: Vec<&(String, String)> = pick.iter().map(|&i| &judged[i]).collect();
        let rel: HashSet<String> = qs.iter().flat_map(|(id, _)| relevant(id)).collect();
        // Baseline: one hybrid search of the three queries concatenated.
        let joined = qs
            .iter()
            .map(|(_, q)| q.as_str())
            .collect::<Vec<_>>()
            .join(" ");
        let mut req = SearchRequest::new(joined.clone());
        req.mode = Mode::Hybrid;
        req.snippets = false;
        req.k = 11;
        req.query_vector = Some(QueryVector::Ready(model.embed_query(&joined).unwrap()));
        let base: Vec<String> = engine
            .search(&req)
            .unwrap()
            .hits
            .into_iter()
            .map(|h| h.paper.id.to_string())
            .collect();
        let radar_spec = RadarSpec {
            name: format!("triple {t}"),
            queries: qs.iter().map(|(_, q)| q.clone()).collect(),
            ..Default::default()
        };
        let r = radar::create_radar(&index, &radar_spec).unwrap();
        let req10 = RankRequest {
            k: 10,
            ..Default::default()
        };
        let got = top_ids(&radar::radar_papers(&index, &r.id, &req10, Some(&mut model)).unwrap());
        let p = |ids: &[String], rel: &HashSet<String>| {
            ids.iter().take(10).filter(|d| rel.contains(*d)).count() as f64 / 10.0
        };
        ceiling += rel.len().min(10) as f64 / 10.0;
        p_base += p(&base, &rel);
        p_radar += p(&got, &rel);
        // With one positive example per radar (the first judged document of the first query),
        // excluded from scoring on both sides.
        let example = relevant(&qs[0].0)[0].clone();
        let mut rel_ex = rel.clone();
        rel_ex.remove(&example);
        let base_ex: Vec<String> = base.iter().filter(|d| **d != example).cloned().collect();
        let mut with_ex = radar_spec.clone();
        with_ex.name = format!("triple {t} + example");
        with_ex.positive = vec![PaperId::new(example.clone())];
        let r = radar::create_radar(&index, &with_ex).unwrap();
        let got_ex =
            top_ids(&radar::radar_papers(&index, &r.id, &req10, Some(&mut model)).unwrap());
        let got_noex: Vec<String> = got.iter().filter(|d| **d != example).cloned().collect();
        p_radar_noex += p(&got_noex, &rel_ex);
        p_base_ex += p(&base_ex, &rel_ex);
        p_radar_ex += p(&got_ex, &rel_ex);
    }
    let n = triples as f64;
    println!(
        "SciFact test, {triples} seeded triples: P@10 plain hybrid (concatenated) {:.4}, radar {:.4} \
         (ceiling {:.4}); one judged document as positive example, excluded from scoring: \
         plain {:.4}, radar without the example {:.4}, radar with it {:.4}",
        p_base / n,
        p_radar / n,
        ceiling / n,
        p_base_ex / n,
        p_radar_noex / n,
        p_radar_ex / n
    );
    assert!(
        p_radar > p_base,
        "the radar should beat the concatenated search"
    );
}
