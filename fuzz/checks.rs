//! The properties every parser must keep on any input, in one place: the proptest suite
//! (`tests/it/props.rs`) and the coverage-guided fuzz targets (`fuzz/fuzz_targets/`) both call
//! these. Each function panics, naming the property, when one is broken; a parser's `Err` for
//! bad input is fine.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use academichub::http::dto::{PaperInput, RadarSpecBody};
use academichub::http::extract::parse_json;
use academichub::http::writes::papers_from_inputs;
use academichub::ingest::feeds::{parse_body, ParseOptions, Source, SourceKind};
use academichub::ingest::import::{parse_arxiv_line, parse_beir_line};
use academichub::ingest::{import_file, Format, ImportOptions};
use academichub::paper::{date_in_range, Paper, PaperId, MAX_ID_BYTES};
use academichub::radar::RadarSpec;
use academichub::search::{Mode, QueryEngine, SearchRequest};
use academichub::PaperIndex;

/// The repository root (for the committed fixtures).
pub fn root() -> PathBuf {
    let here = Path::new(env!("CARGO_MANIFEST_DIR"));
    if here.join("tests/fixtures").is_dir() {
        here.to_path_buf()
    } else {
        here.join("..")
    }
}

/// A committed fixture's bytes.
pub fn fixture(rel: &str) -> Vec<u8> {
    std::fs::read(root().join("tests/fixtures").join(rel))
        .unwrap_or_else(|e| panic!("fixture {rel}: {e}"))
}

/// What a stored paper must look like whatever the source said.
fn check_paper(p: &Paper, from: &str) {
    assert!(
        PaperId::problem(p.id.as_str()).is_none(),
        "{from}: unusable id {:?}",
        p.id.as_str().chars().take(60).collect::<String>()
    );
    assert!(p.id.as_str().len() <= MAX_ID_BYTES, "{from}: id too long");
    for d in [p.published, p.updated].into_iter().flatten() {
        assert!(
            date_in_range(d),
            "{from}: date {d} out of the index's range"
        );
    }
    if let Some(u) = &p.url {
        assert!(
            u.starts_with("http://") || u.starts_with("https://"),
            "{from}: non-web url {u:?}"
        );
    }
}

/// The analyzer: every token's offsets lie on UTF-8 boundaries inside the text, positions
/// increase (offsets need not: jieba's search mode gives `核爆`, `爆炸`, then `核爆炸`), and
/// the raw words are slices of the text.
pub fn analyzer(text: &str) {
    let mut a = academichub::analysis::mixed_analyzer();
    let mut ts = a.token_stream(text);
    let mut last_position: Option<usize> = None;
    while ts.advance() {
        let t = ts.token();
        assert!(t.offset_from <= t.offset_to, "offsets reversed: {t:?}");
        assert!(t.offset_to <= text.len(), "offset past the end: {t:?}");
        assert!(
            text.is_char_boundary(t.offset_from) && text.is_char_boundary(t.offset_to),
            "offset inside a character: {t:?} in {text:?}"
        );
        assert!(
            last_position.is_none_or(|p| t.position > p),
            "positions out of order: {t:?}"
        );
        last_position = Some(t.position);
        assert!(!t.text.is_empty(), "empty token: {t:?}");
    }
    academichub::analysis::raw_words(text, |from, to, word| {
        assert!(
            from <= to && to <= text.len(),
            "raw word offsets {from}..{to}"
        );
        assert!(text.is_char_boundary(from) && text.is_char_boundary(to));
        assert_eq!(&text[from..to], word, "raw word is not its slice");
    });
    let _ = academichub::analysis::terms(text);
}

/// The LaTeX normalizer: any text gives a display form and search words, with no control
/// characters left but for whitespace.
pub fn latex(text: &str) {
    let (display, extra) = academichub::normalize::clean_latex(text);
    for c in display.chars().chain(extra.chars()) {
        assert!(
            !c.is_control() || c.is_whitespace(),
            "control character {c:?} kept from {text:?}"
        );
    }
    let _ = academichub::normalize::collapse_whitespace(text);
    let _ = academichub::normalize::canonical_arxiv_id(text);
}

/// The fixture index the query checks search: the 250-paper capture, built once per process,
/// with the committed CC-CEDICT excerpt as the query dictionary.
pub fn query_index() -> &'static PaperIndex {
    static INDEX: OnceLock<(tempfile::TempDir, PaperIndex)> = OnceLock::new();
    &INDEX
        .get_or_init(|| {
            if let Ok(dict) = academichub::search::translate::Dictionary::load(
                &root().join("tests/fixtures/cedict-mini.txt"),
            ) {
                academichub::search::translate::install(dict);
            }
            let dir = tempfile::tempdir().expect("temp dir");
            let index = PaperIndex::open_or_create(&dir.path().join("idx")).expect("index");
            let mut opts = ImportOptions::new(Format::ArxivJsonl);
            opts.progress = false;
            import_file(
                &index,
                &root().join("tests/fixtures/arxiv-mini.jsonl"),
                &opts,
                None,
            )
            .expect("import the fixture");
            index.reload().expect("reload");
            (dir, index)
        })
        .1
}

/// The query parser and a whole BM25 search with snippets and facets: any query text gives an
/// answer or a clean error, and every hit is a stored paper.
pub fn query(q: &str) {
    let index = query_index();
    let _ = academichub::search::parse::parse(index, q);
    let mut req = SearchRequest::new(q);
    req.mode = Mode::Bm25;
    req.k = 5;
    req.facets = true;
    if let Ok(res) = QueryEngine::new(index).search(&req) {
        assert!(res.hits.len() <= 5);
        for h in &res.hits {
            assert!(h.score.is_finite(), "non-finite score for {q:?}");
            assert!(!h.paper.id.as_str().is_empty());
        }
    }
}

/// A feed parser of `kind` on any body: entries it keeps are storable papers.
pub fn feed(kind: SourceKind, bytes: &[u8]) {
    let source = Source::for_file("fuzz", kind);
    if let Ok(parsed) = parse_body(kind, bytes, &ParseOptions::default(), &source) {
        for e in &parsed.entries {
            check_paper(&e.paper, kind.as_str());
        }
    }
}

/// The import line parsers (BEIR corpus and arXiv metadata JSONL).
pub fn import_line(line: &str) {
    if let Ok(p) = parse_beir_line(line, "beir") {
        check_paper(&p, "beir line");
    }
    if let Ok(p) = parse_arxiv_line(line) {
        check_paper(&p, "arxiv line");
    }
}

/// `POST /api/papers` bodies: accepted papers are storable.
pub fn paper_body(bytes: &[u8]) {
    if let Ok(Some(inputs)) = parse_json::<Vec<PaperInput>>(bytes, false) {
        if let Ok(papers) = papers_from_inputs(inputs) {
            for p in &papers {
                check_paper(p, "paper body");
            }
        }
    }
}

/// `POST`/`PUT /api/radars` bodies: parsed and validated, or refused.
pub fn radar_body(bytes: &[u8]) {
    if let Ok(Some(body)) = parse_json::<RadarSpecBody>(bytes, false) {
        let spec = RadarSpec::from(body);
        if let Ok(v) = spec.validated() {
            assert!(!v.name.trim().is_empty(), "a radar without a name passed");
        }
    }
}
