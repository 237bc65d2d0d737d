//! Property tests of every parser on generated input: random text in the scripts papers use
//! (Latin, CJK, LaTeX, markup, control characters) and real fixtures mutated by byte flips,
//! cuts and splices. The properties live in `fuzz/checks.rs`, which the coverage-guided fuzz
//! targets (`scripts/fuzz`) share; crashes those found are pinned at the bottom of this file.

#[path = "../../fuzz/checks.rs"]
mod checks;

use academichub::ingest::feeds::SourceKind;
use proptest::prelude::*;

/// Text in the shapes abstracts and queries come in.
fn texty() -> impl Strategy<Value = String> {
    let piece = prop_oneof![
        "[a-zA-Z0-9 .,;:()\\-]{0,40}",
        "[\u{4e00}-\u{9fa5}]{0,12}",
        "[\u{3000}-\u{303f}\u{ff00}-\u{ffef}]{0,4}",
        Just("$\\alpha$".to_string()),
        Just("\\textbf{".to_string()),
        Just("}$^{".to_string()),
        Just("<b>".to_string()),
        Just("&amp;".to_string()),
        Just("\"".to_string()),
        Just("\u{0301}".to_string()),
        Just("\u{200d}".to_string()),
        Just("👩‍🔬".to_string()),
        Just("\u{0}".to_string()),
        Just("\r\n\t".to_string()),
        Just("+\"-*".to_string()),
        any::<char>().prop_map(String::from),
    ];
    proptest::collection::vec(piece, 0..24).prop_map(|v| v.concat())
}

/// `base` mutated: up to 8 edits, each a byte overwrite, a cut, a duplicated span or an
/// inserted byte string.
fn mutated(base: Vec<u8>) -> impl Strategy<Value = Vec<u8>> {
    let edit = (
        0u8..4,
        any::<prop::sample::Index>(),
        any::<prop::sample::Index>(),
        proptest::collection::vec(any::<u8>(), 0..8),
    );
    proptest::collection::vec(edit, 0..8).prop_map(move |edits| {
        let mut b = base.clone();
        for (kind, at, len, bytes) in edits {
            if b.is_empty() {
                b.extend_from_slice(&bytes);
                continue;
            }
            let i = at.index(b.len());
            match kind {
                0 => {
                    for (k, x) in bytes.iter().enumerate() {
                        if let Some(slot) = b.get_mut(i + k) {
                            *slot = *x;
                        }
                    }
                }
                1 => b.truncate(i),
                2 => {
                    let n = len.index(64.min(b.len() - i) + 1);
                    let span = b[i..i + n].to_vec();
                    b.splice(i..i, span);
                }
                _ => {
                    b.splice(i..i, bytes);
                }
            }
        }
        b
    })
}

fn config(cases: u32) -> ProptestConfig {
    ProptestConfig {
        cases,
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

proptest! {
    #![proptest_config(config(256))]

    #[test]
    fn analyzer_offsets_stay_on_character_boundaries(text in texty()) {
        checks::analyzer(&text);
    }

    #[test]
    fn latex_normalizer_keeps_no_control_characters(text in texty()) {
        checks::latex(&text);
    }

    #[test]
    fn import_lines_give_storable_papers(line in texty()) {
        checks::import_line(&line);
    }

    #[test]
    fn json_bodies_give_storable_papers_and_valid_radars(text in texty()) {
        checks::paper_body(text.as_bytes());
        checks::radar_body(text.as_bytes());
    }
}

proptest! {
    #![proptest_config(config(128))]

    #[test]
    fn any_query_is_answered_or_refused(q in texty()) {
        checks::query(&q);
    }

    #[test]
    fn arxiv_rss_survives_mutation(b in mutated(checks::fixture("feeds/arxiv-rss/cs.CL-2026-06-17.xml"))) {
        checks::feed(SourceKind::ArxivRss, &b);
    }

    #[test]
    fn arxiv_api_survives_mutation(b in mutated(checks::fixture("feeds/arxiv-api/q_testing_s0_m10_bc5a6c384fe9.xml"))) {
        checks::feed(SourceKind::ArxivAtom, &b);
    }

    #[test]
    fn biorxiv_json_survives_mutation(b in mutated(checks::fixture("feeds/biorxiv/details-cursor0.json"))) {
        checks::feed(SourceKind::BiorxivJson, &b);
    }

    #[test]
    fn generic_rss_survives_mutation(b in mutated(checks::fixture("feeds/biorxiv/feed-rs_rss_1.0_biorxiv.xml"))) {
        checks::feed(SourceKind::Rss, &b);
    }

    #[test]
    fn import_lines_survive_mutation(b in mutated(first_line("arxiv-mini.jsonl"))) {
        checks::import_line(&String::from_utf8_lossy(&b));
    }

    #[test]
    fn paper_bodies_survive_mutation(b in mutated(PAPER_BODY.as_bytes().to_vec())) {
        checks::paper_body(&b);
    }

    #[test]
    fn radar_bodies_survive_mutation(b in mutated(RADAR_BODY.as_bytes().to_vec())) {
        checks::radar_body(&b);
    }
}

const PAPER_BODY: &str = r#"[{"id": "2606.00001", "title": "Streaming $\\alpha$-LLMs", "abstract": "We study <i>streaming</i>.", "authors": ["A. B"], "categories": ["cs.CL"], "published": "2026-06-16", "url": "https://arxiv.org/abs/2606.00001", "doi": "10.1/x"}]"#;
const RADAR_BODY: &str = r#"{"name": "LLM 推理", "queries": ["语音表示如何影响大语言模型的推理", "speech tokens"], "filters": {"categories": ["cs.CL"], "sources": ["arxiv"]}, "positive": ["2603.04592"], "negative": []}"#;

fn first_line(rel: &str) -> Vec<u8> {
    let all = checks::fixture(rel);
    let end = all.iter().position(|&b| b == b'\n').unwrap_or(all.len());
    all[..end].to_vec()
}

/// Every generator above feeds its property something real: the fixtures parse cleanly.
#[test]
fn the_seeds_themselves_are_valid() {
    checks::feed(
        SourceKind::ArxivRss,
        &checks::fixture("feeds/arxiv-rss/cs.CL-2026-06-17.xml"),
    );
    let ok = academichub::http::extract::parse_json::<Vec<academichub::http::dto::PaperInput>>(
        PAPER_BODY.as_bytes(),
        false,
    )
    .unwrap()
    .unwrap();
    assert_eq!(
        academichub::http::writes::papers_from_inputs(ok)
            .unwrap()
            .len(),
        1
    );
    let r = academichub::http::extract::parse_json::<academichub::http::dto::RadarSpecBody>(
        RADAR_BODY.as_bytes(),
        false,
    )
    .unwrap()
    .unwrap();
    assert!(academichub::radar::RadarSpec::from(r).validated().is_ok());
    assert!(academichub::ingest::import::parse_arxiv_line(
        &String::from_utf8(first_line("arxiv-mini.jsonl")).unwrap()
    )
    .is_ok());
}

// ---------------------------------------------------------------------------------------------
// Regressions: inputs the property tests or the fuzzers broke once.

/// Found by `latex_normalizer_keeps_no_control_characters`: NUL and other control characters
/// went through `clean_latex` (and `collapse_whitespace`) into stored display text.
#[test]
fn regression_control_characters_never_reach_display_text() {
    checks::latex("\0&amp;'\0 ,zDlg xn \u{301d}$\\alpha$\u{200d}p))UFd8");
    checks::latex("\u{1b}[31mred\u{7f} $x$");
    assert_eq!(
        academichub::normalize::collapse_whitespace("a\0b\u{1b}c \u{7f} d"),
        "a b c d"
    );
}

/// Found by the analyzer fuzz target: jieba's search mode gives a word's parts before the
/// word (`核爆`, `爆炸`, `核爆炸`), so offsets go back while positions go on; the property was
/// wrong, not the analyzer, and now checks positions.
#[test]
fn regression_search_mode_subwords_come_before_their_word() {
    checks::analyzer("亲历\"外交核爆炸\"");
}

/// Found by the import_line fuzz target: a BEIR `_id` (or an arXiv `id`) longer than the index
/// can look up was imported, and could then never be replaced or deleted.
#[test]
fn regression_overlong_ids_are_refused_at_import() {
    let long = "4092unds, three audio-capable LLMs ".repeat(40);
    let line = serde_json::json!({"_id": long, "title": "t", "text": "x"}).to_string();
    let err = academichub::ingest::import::parse_beir_line(&line, "beir").unwrap_err();
    assert!(err.contains("at most 1024"), "{err}");
    let line = serde_json::json!({"id": long, "title": "t", "abstract": "x"}).to_string();
    assert!(academichub::ingest::import::parse_arxiv_line(&line).is_err());
    checks::import_line(&line);
}

/// Found by the paper_body fuzz target: `https:/+arxiv.org/...` parses as a web URL (a browser
/// reads one slash as two) but was stored as written; links are now stored canonical.
#[test]
fn regression_links_are_stored_in_canonical_form() {
    let body = br#"[{"id": "2606.00001", "title": "t", "abstract": "a", "url": "https:/+arxiv.org/sa60/62b.00001"}]"#;
    checks::paper_body(body);
    let inputs = academichub::http::extract::parse_json::<Vec<academichub::http::dto::PaperInput>>(
        body, false,
    )
    .unwrap()
    .unwrap();
    let papers = academichub::http::writes::papers_from_inputs(inputs).unwrap();
    assert_eq!(
        papers[0].url.as_deref(),
        Some("https://+arxiv.org/sa60/62b.00001")
    );
}

/// Found by the query fuzz target: a boost of `^999…9` (a 1e80-odd number) overflowed every
/// score to infinity; boosts are now capped (with a warning) at `MAX_BOOST`.
#[test]
fn regression_huge_boosts_keep_scores_finite() {
    checks::query(
        "c\u{16}\0C99999999nation999999999999999999999999999\u{10}\0^99999999999999999999999999999999999999999999999999999999999999999999999999999999999L.2s99999 c强学习",
    );
    let index = checks::query_index();
    let mut req = academichub::search::SearchRequest::new(format!("language^{}", "9".repeat(90)));
    req.mode = academichub::search::Mode::Bm25;
    let res = academichub::search::QueryEngine::new(index)
        .search(&req)
        .unwrap();
    assert!(!res.hits.is_empty());
    assert!(res.hits.iter().all(|h| h.score.is_finite()));
    assert!(
        res.warnings.iter().any(|w| w.contains("largest allowed")),
        "{:?}",
        res.warnings
    );
}

/// Found by the query fuzz target: `IN[` followed by a Unicode space that is not ASCII (a
/// vertical tab, U+00A0, the ideographic space U+3000) made tantivy's query grammar loop
/// forever, allocating gigabytes: five characters from an anonymous search could take the
/// server down. The parser now hands the grammar ASCII spaces only. Each query runs on its own
/// thread with a deadline, so a regression fails instead of hanging the suite.
#[test]
fn regression_unicode_spaces_in_set_syntax_do_not_hang_the_parser() {
    for q in [
        "IN[\u{b}",
        "a IN [\u{3000}]",
        "IN[\u{a0}x",
        "IN[\u{2028}",
        "+a+atim IN[\0cy \u{b}\u{b}\u{b}\u{b}\u{b}\u{b}\u{b}w-Ttur n\u{f}\0rfacA\0dN\0",
    ] {
        checks::query_index();
        let (tx, rx) = std::sync::mpsc::channel();
        let query = q.to_string();
        std::thread::spawn(move || {
            checks::query(&query);
            let _ = tx.send(());
        });
        assert!(
            rx.recv_timeout(std::time::Duration::from_secs(20)).is_ok(),
            "{q:?} did not parse within 20 s"
        );
    }
}
