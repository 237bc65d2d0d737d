//! The binary as a user runs it: exit codes, JSON keys, messages.

use std::process::Command;

use crate::fixtures::fixture;

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_academichub"))
}

fn run(args: &[&str]) -> (bool, String, String) {
    let out = bin()
        .args(args)
        .env_remove("ACADEMICHUB_INDEX")
        .output()
        .expect("run binary");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn import_search_stats_eval_end_to_end() {
    let tmp = tempfile::tempdir().unwrap();
    let idx = tmp.path().join("idx");
    let idx = idx.to_str().unwrap();
    let corpus = fixture("arxiv-mini.jsonl.gz");
    let (ok, out, err) = run(&[
        "import",
        "--format",
        "arxiv-jsonl",
        corpus.to_str().unwrap(),
        "--index",
        idx,
    ]);
    assert!(ok, "{err}");
    assert!(out.contains("imported 250 papers"), "{out}");

    let (ok, out, err) = run(&[
        "search",
        "streaming large language models survey",
        "--index",
        idx,
        "-k",
        "3",
        "--json",
    ]);
    assert!(ok, "{err}");
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    let hit = &v["hits"][0];
    assert_eq!(hit["id"], "2603.04592");
    for key in [
        "title",
        "published",
        "categories",
        "score",
        "abstract_snippet",
        "rank",
    ] {
        assert!(!hit[key].is_null(), "missing {key} in {hit}");
    }
    assert!(v["total"].as_u64().unwrap() >= 3);

    // The same results as citations: BibTeX read back by an independent parser, RIS by tag.
    let want: Vec<&str> = v["hits"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["id"].as_str().unwrap())
        .collect();
    let q = "streaming large language models survey";
    let (ok, out, err) = run(&["search", q, "--index", idx, "-k", "3", "--format", "bibtex"]);
    assert!(ok, "{err}");
    let bib = biblatex::Bibliography::parse(&out).expect("valid BibTeX");
    let eprints: Vec<String> = bib
        .iter()
        .map(|e| biblatex::ChunksExt::format_verbatim(e.fields.get("eprint").unwrap().as_slice()))
        .collect();
    assert_eq!(eprints, want, "{out}");
    let (ok, out, err) = run(&["search", q, "--index", idx, "-k", "3", "--format", "ris"]);
    assert!(ok, "{err}");
    let notes: Vec<&str> = out
        .lines()
        .filter(|l| l.starts_with("N1  - arXiv:"))
        .collect();
    assert_eq!(notes.len(), 3, "{out}");
    assert!(
        notes[0].starts_with(&format!("N1  - arXiv:{}v", want[0])),
        "{out}"
    );
    assert_eq!(out.lines().filter(|l| l.starts_with("TY  - ")).count(), 3);
    let (ok, _, err) = run(&["search", q, "--index", idx, "--format", "csv"]);
    assert!(!ok && err.contains("unknown export format"), "{err}");
    let (ok, _, err) = run(&["search", q, "--index", idx, "--format", "ris", "--json"]);
    assert!(!ok && err.contains("cannot be used with"), "{err}");
    let (ok, _, err) = run(&[
        "radar",
        "add",
        "--name",
        "Streaming",
        "--query",
        q,
        "--index",
        idx,
    ]);
    assert!(ok, "{err}");
    let (ok, out, err) = run(&[
        "radar",
        "show",
        "streaming",
        "--index",
        idx,
        "-k",
        "2",
        "--format",
        "ris",
    ]);
    assert!(ok, "{err}");
    assert_eq!(
        out.lines().filter(|l| l.starts_with("TY  - ")).count(),
        2,
        "{out}"
    );
    // Reading the first paper leaves it out of `show --unread`.
    let show = |extra: &[&str]| {
        let mut args = vec![
            "radar",
            "show",
            "streaming",
            "--index",
            idx,
            "-k",
            "3",
            "--json",
        ];
        args.extend_from_slice(extra);
        let (ok, out, err) = run(&args);
        assert!(ok, "{err}");
        let v: serde_json::Value = serde_json::from_str(&out).unwrap();
        v["papers"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p["id"].as_str().unwrap().to_string())
            .collect::<Vec<_>>()
    };
    let before = show(&[]);
    let (ok, out, err) = run(&[
        "radar",
        "read",
        "streaming",
        "--paper",
        &before[0],
        "--index",
        idx,
    ]);
    assert!(ok && out.contains("marked 1 papers"), "{out}{err}");
    let after = show(&["--unread"]);
    assert_eq!(after[..2], before[1..], "{after:?}");
    let (ok, _, err) = run(&[
        "radar",
        "read",
        "streaming",
        "--paper",
        "9999.99999",
        "--index",
        idx,
    ]);
    assert!(!ok && err.contains("9999.99999"), "{err}");

    let (ok, out, _) = run(&[
        "search",
        "streaming",
        "--index",
        idx,
        "--category",
        "cs.CL",
        "--from",
        "2026-06-16",
        "--to",
        "2026-06-16",
    ]);
    assert!(ok);
    assert!(out.contains("matching papers"), "{out}");

    let (ok, out, _) = run(&["stats", "--index", idx, "--json"]);
    assert!(ok);
    let s: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(s["papers"], 250);
    assert_eq!(s["schema_version"], 2);
    assert!(s["size_bytes"].as_u64().unwrap() > 0);

    let (ok, out, err) = run(&[
        "eval",
        "--dataset",
        fixture("scifact-mini").to_str().unwrap(),
        "--index",
        tmp.path().join("ev").to_str().unwrap(),
        "--json",
    ]);
    assert!(ok, "{err}");
    let e: serde_json::Value = serde_json::from_str(&out).unwrap();
    for key in ["ndcg@10", "recall@100", "mrr@10", "map@100", "queries"] {
        assert!(e[key].is_number(), "missing {key} in {e}");
    }
    assert_eq!(e["queries"], 40);
}

#[test]
fn user_errors_exit_nonzero_with_a_message_and_never_panic() {
    let tmp = tempfile::tempdir().unwrap();
    let idx = tmp.path().join("idx");
    let idx = idx.to_str().unwrap();
    let (ok, _, err) = run(&["search", "x", "--index", idx]);
    assert!(
        !ok && err.contains("no index at") && err.contains("academichub import"),
        "{err}"
    );
    let (ok, _, err) = run(&[
        "import",
        "--format",
        "beir",
        "/nonexistent/corpus.jsonl",
        "--index",
        idx,
    ]);
    assert!(!ok && err.contains("/nonexistent/corpus.jsonl"), "{err}");
    let (ok, _, err) = run(&["import", "--format", "xml", "f", "--index", idx]);
    assert!(!ok && err.contains("xml"), "{err}");
    let (ok, _, err) = run(&["search", "x", "--from", "2026-13-01"]);
    assert!(!ok && err.contains("YYYY-MM-DD"), "{err}");
    let (ok, _, err) = run(&["eval", "--dataset", tmp.path().to_str().unwrap()]);
    assert!(!ok && err.contains("corpus.jsonl"), "{err}");
    let (ok, _, err) = run(&["search", "\"unclosed", "--index", idx]);
    assert!(!ok && !err.contains("panicked"), "{err}");
}
