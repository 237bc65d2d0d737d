//! BibTeX and RIS exports over HTTP, read back with an independent BibTeX parser (the
//! `biblatex` crate) and a strict RIS reader: one paper, a search page and a radar's papers.

use std::collections::BTreeMap;

use academichub::http;
use axum::body::Body;
use axum::http::{header, Request, StatusCode};
use biblatex::{Bibliography, ChunksExt};
use serde_json::json;

use crate::fixtures::fixture_index;
use crate::http::{call, get, post, send, state, TOKEN};

/// A paper whose every field needs escaping in BibTeX.
const NASTY_TITLE: &str = r"{Braces}, 100% R&D $\alpha$-mixing: a_b ^ ~ # \cite{x}";

async fn text(app: &axum::Router, uri: &str) -> (StatusCode, String, String, String) {
    let (s, h, b) = send(app, Request::get(uri).body(Body::empty()).unwrap()).await;
    let ct = h
        .get(header::CONTENT_TYPE)
        .map(|v| v.to_str().unwrap().to_string())
        .unwrap_or_default();
    let cd = h
        .get(header::CONTENT_DISPOSITION)
        .map(|v| v.to_str().unwrap().to_string())
        .unwrap_or_default();
    (s, ct, cd, String::from_utf8(b).expect("exports are UTF-8"))
}

/// RIS records as lists of (tag, value), checking the line grammar: `XX  - value`, `TY`
/// first, `ER` last.
fn parse_ris(s: &str) -> Vec<Vec<(String, String)>> {
    let mut records = Vec::new();
    let mut cur: Option<Vec<(String, String)>> = None;
    for line in s.lines().filter(|l| !l.is_empty()) {
        let (tag, value) = line
            .split_once("  - ")
            .or_else(|| line.strip_suffix("  -").map(|t| (t, "")))
            .unwrap_or_else(|| panic!("not a RIS line: {line:?}"));
        assert!(
            tag.len() == 2
                && tag
                    .chars()
                    .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit()),
            "bad tag in {line:?}"
        );
        match tag {
            "TY" => {
                assert!(cur.is_none(), "TY inside a record");
                cur = Some(vec![(tag.into(), value.into())]);
            }
            "ER" => records.push(cur.take().expect("ER without TY")),
            _ => cur
                .as_mut()
                .expect("tag outside a record")
                .push((tag.into(), value.trim_end().into())),
        }
    }
    assert!(cur.is_none(), "record without ER");
    records
}

fn ris_values<'a>(r: &'a [(String, String)], tag: &str) -> Vec<&'a str> {
    r.iter()
        .filter(|(t, _)| t == tag)
        .map(|(_, v)| v.as_str())
        .collect()
}

/// BibTeX entries by key, with the title, eprint and doi as text.
fn parse_bib(
    s: &str,
) -> (
    Vec<String>,
    BTreeMap<String, BTreeMap<&'static str, String>>,
) {
    let bib = Bibliography::parse(s).unwrap_or_else(|e| panic!("invalid BibTeX ({e}):\n{s}"));
    let mut order = Vec::new();
    let mut out = BTreeMap::new();
    for e in bib.iter() {
        order.push(e.key.clone());
        let mut fields = BTreeMap::new();
        for name in [
            "title", "eprint", "doi", "url", "keywords", "journal", "abstract",
        ] {
            if let Some(v) = e.fields.get(name) {
                fields.insert(name, v.format_verbatim());
            }
        }
        let authors = e
            .author()
            .map(|a| {
                a.iter()
                    .map(|p| format!("{} {}", p.given_name, p.name))
                    .collect::<Vec<_>>()
                    .join("; ")
            })
            .unwrap_or_default();
        fields.insert("authors", authors);
        fields.insert("type", e.entry_type.to_string());
        out.insert(e.key.clone(), fields);
    }
    (order, out)
}

#[tokio::test]
async fn one_paper_as_bibtex_and_ris_reads_back() {
    let (_d, index) = fixture_index(false);
    let app = http::router(state(index, false, true, |_| {}));
    let paper = json!([{
        "id": "2699.00042",
        "source": "arxiv",
        "title": NASTY_TITLE,
        "abstract": "We spend 50% less & use {braces}.",
        "authors": ["Zoë Müller", "Barack and Michelle", "ATLAS Collaboration"],
        "categories": ["cs.LG", "stat.ML"],
        "published": "2026-07-01",
        "url": "https://arxiv.org/abs/2699.00042",
        "doi": "10.1000/x_y%z",
        "journal_ref": "J. Tests 1 (2026) 1-2"
    }]);
    let (s, r) = post(&app, "/api/papers", Some(TOKEN), paper.to_string()).await;
    assert_eq!(s, StatusCode::OK, "{r}");

    let (s, ct, cd, bib) = text(&app, "/api/papers/2699.00042.bib").await;
    assert_eq!(s, StatusCode::OK, "{bib}");
    assert!(ct.starts_with("application/x-bibtex"), "{ct}");
    assert_eq!(cd, "attachment; filename=\"2699.00042.bib\"");
    let (order, entries) = parse_bib(&bib);
    assert_eq!(order, ["muller2026braces"], "{bib}");
    let e = &entries["muller2026braces"];
    assert_eq!(e["type"], "article");
    // The parser undoes every escape: the title comes back as sent.
    assert_eq!(e["title"], NASTY_TITLE, "{bib}");
    assert_eq!(e["abstract"], "We spend 50% less & use {braces}.");
    assert_eq!(e["eprint"], "2699.00042");
    assert_eq!(e["doi"], "10.1000/x_y%z");
    assert_eq!(e["keywords"], "cs.LG, stat.ML");
    assert_eq!(e["journal"], "J. Tests 1 (2026) 1-2");
    // Three authors, the braced ones kept whole.
    assert_eq!(
        e["authors"], "Zoë Müller;  Barack and Michelle;  ATLAS Collaboration",
        "{bib}"
    );

    let (s, ct, cd, ris) = text(&app, "/api/papers/2699.00042.ris").await;
    assert_eq!(s, StatusCode::OK, "{ris}");
    assert!(
        ct.starts_with("application/x-research-info-systems"),
        "{ct}"
    );
    assert_eq!(cd, "attachment; filename=\"2699.00042.ris\"");
    let recs = parse_ris(&ris);
    assert_eq!(recs.len(), 1, "{ris}");
    let r = &recs[0];
    assert_eq!(ris_values(r, "TY"), ["JOUR"]);
    assert_eq!(ris_values(r, "TI"), [NASTY_TITLE]);
    assert_eq!(
        ris_values(r, "AU"),
        ["Zoë Müller", "Barack and Michelle", "ATLAS Collaboration"]
    );
    assert_eq!(ris_values(r, "DO"), ["10.1000/x_y%z"]);
    assert_eq!(ris_values(r, "KW"), ["cs.LG", "stat.ML"]);
    assert_eq!(ris_values(r, "DA"), ["2026/07/01"]);
    assert!(
        ris_values(r, "N1").contains(&"arXiv:2699.00042v1 [cs.LG]"),
        "{ris}"
    );

    // The JSON view is unchanged; unknown ids are 404 in every form.
    let (s, v) = get(&app, "/api/papers/2699.00042").await;
    assert_eq!((s, v["id"].clone()), (StatusCode::OK, json!("2699.00042")));
    for uri in ["/api/papers/9999.99999.bib", "/api/papers/9999.99999.ris"] {
        let (s, v) = get(&app, uri).await;
        assert_eq!(
            (s, v["error"]["code"].clone()),
            (StatusCode::NOT_FOUND, json!("paper_not_found")),
            "{uri}"
        );
    }
}

#[tokio::test]
async fn a_search_page_and_a_radar_export_the_papers_they_list() {
    let (_d, index) = fixture_index(true);
    let app = http::router(state(index, true, true, |_| {}));
    let (_, page) = get(&app, "/api/search?q=language+models&mode=bm25&k=7").await;
    let want: Vec<String> = page["hits"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["id"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(want.len(), 7);

    let (s, ct, cd, bib) = text(
        &app,
        "/api/search?q=language+models&mode=bm25&k=7&format=bibtex",
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{bib}");
    assert!(ct.starts_with("application/x-bibtex"));
    assert_eq!(cd, "attachment; filename=\"search-language_models.bib\"");
    let (order, entries) = parse_bib(&bib);
    let eprints: Vec<&str> = order
        .iter()
        .map(|k| entries[k]["eprint"].as_str())
        .collect();
    assert_eq!(eprints, want, "same papers, same order");
    for (k, h) in order.iter().zip(page["hits"].as_array().unwrap()) {
        assert_eq!(entries[k]["title"], h["title"].as_str().unwrap(), "{k}");
    }

    let (_, _, _, ris) = text(
        &app,
        "/api/search?q=language+models&mode=hybrid&k=5&offset=2&format=ris",
    )
    .await;
    let (_, hybrid) = get(
        &app,
        "/api/search?q=language+models&mode=hybrid&k=5&offset=2",
    )
    .await;
    let recs = parse_ris(&ris);
    let titles: Vec<&str> = recs.iter().map(|r| ris_values(r, "TI")[0]).collect();
    let want: Vec<&str> = hybrid["hits"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["title"].as_str().unwrap())
        .collect();
    assert_eq!(titles, want);
    assert!(recs
        .iter()
        .all(|r| ris_values(r, "TY") == ["UNPB"] || ris_values(r, "TY") == ["JOUR"]));

    // A radar's papers, in the radar's order.
    let spec = json!({"name": "Streaming LLMs", "queries": ["streaming LLMs survey"]});
    let (s, v) = call(&app, "POST", "/api/radars", Some(TOKEN), Some(spec)).await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    let (_, listed) = get(&app, "/api/radars/streaming-llms/papers?k=5").await;
    let (s, _, cd, ris) = text(&app, "/api/radars/streaming-llms/papers?k=5&format=ris").await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(cd, "attachment; filename=\"radar-streaming-llms.ris\"");
    let got: Vec<String> = parse_ris(&ris)
        .iter()
        .map(|r| {
            let n1 = ris_values(r, "N1")[0];
            n1.trim_start_matches("arXiv:")
                .split('v')
                .next()
                .unwrap()
                .to_string()
        })
        .collect();
    let want: Vec<String> = listed["papers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["id"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(got, want);
    let (_, _, _, bib) = text(&app, "/api/radars/streaming-llms/papers?k=5&format=bibtex").await;
    assert_eq!(parse_bib(&bib).0.len(), 5);

    // A bad format is named; json is the default.
    let (s, v) = get(&app, "/api/search?q=x&format=csv").await;
    assert_eq!(
        (s, v["error"]["code"].clone()),
        (StatusCode::BAD_REQUEST, json!("invalid_format"))
    );
    let (s, v) = get(&app, "/api/radars/streaming-llms/papers?format=pdf").await;
    assert_eq!(
        (s, v["error"]["code"].clone()),
        (StatusCode::BAD_REQUEST, json!("invalid_format"))
    );
    let (s, v) = get(&app, "/api/search?q=language+models&format=json&k=3").await;
    assert_eq!(
        (s, v["hits"].as_array().map(Vec::len)),
        (StatusCode::OK, Some(3))
    );
}
