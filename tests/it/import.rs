use std::io::Write;

use academichub::ingest::{import_file, Format, ImportOptions};
use academichub::search::browse::index_stats;
use academichub::{ImportError, IndexError, PaperId, PaperIndex};

use crate::fixtures::{fixture, index_with};

fn opts(format: Format) -> ImportOptions {
    let mut o = ImportOptions::new(format);
    o.progress = false;
    o
}

#[test]
fn reimport_upserts_by_id() {
    let (_dir, index) = index_with(Format::ArxivJsonl, "arxiv-mini.jsonl");
    assert_eq!(index.num_papers(), 250);
    // Same papers again, this time from the gzip copy: still 250.
    let report = import_file(
        &index,
        &fixture("arxiv-mini.jsonl.gz"),
        &opts(Format::ArxivJsonl),
        None,
    )
    .unwrap();
    assert_eq!(report.imported, 250);
    assert_eq!(report.total_papers, 250);
    let stats = index_stats(&index).unwrap();
    assert_eq!(stats.papers, 250);
    assert_eq!(stats.by_source.get("arxiv"), Some(&250));
    assert_eq!(stats.by_primary_category.get("cs.CL"), Some(&114));
    assert_eq!(stats.first_published.as_deref(), Some("2025-03-18"));
    assert_eq!(stats.last_published.as_deref(), Some("2026-06-30"));
}

#[test]
fn arxiv_text_is_cleaned_for_display_and_latex_stays_searchable() {
    let (_dir, index) = index_with(Format::ArxivJsonl, "arxiv-mini.jsonl");
    let paper = index
        .get(&PaperId::new("2603.04592"))
        .unwrap()
        .expect("paper present");
    assert_eq!(
        paper.title,
        "From Static Inference to Dynamic Interaction: A Survey of Streaming Large Language Models"
    );
    assert!(!paper.abstract_text.contains('\n'));
    assert_eq!(paper.categories.first().map(String::as_str), Some("cs.CL"));
    // Class codes such as "68T45, 62H30" never reach the categories.
    let stats = index_stats(&index).unwrap();
    assert!(stats
        .by_primary_category
        .keys()
        .all(|c| academichub::normalize::is_arxiv_category(c)));
}

#[test]
fn bad_records_are_skipped_and_reported_with_line_numbers() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("mixed.jsonl");
    let good = std::fs::read_to_string(fixture("arxiv-mini.jsonl")).unwrap();
    let mut lines: Vec<&str> = good.lines().take(5).collect();
    lines.insert(1, "{this is not json");
    lines.insert(3, r#"{"title": "no id"}"#);
    lines.push(r#"{"id": "9999.99999", "title": "", "abstract": ""}"#);
    std::fs::write(&path, lines.join("\n")).unwrap();
    let index = PaperIndex::open_or_create(&dir.path().join("idx")).unwrap();
    let report = import_file(&index, &path, &opts(Format::ArxivJsonl), None).unwrap();
    assert_eq!((report.records, report.imported, report.skipped), (8, 5, 3));
    assert!(
        report.errors[0].contains("mixed.jsonl:2: invalid JSON"),
        "{:?}",
        report.errors
    );
    assert!(
        report.errors[1].contains("mixed.jsonl:4: record without \"id\""),
        "{:?}",
        report.errors
    );
    assert_eq!(index.num_papers(), 5);
}

#[test]
fn nothing_importable_is_an_error_and_leaves_the_index_unchanged() {
    let (dir, index) = index_with(Format::Beir, "scifact-mini/corpus.jsonl");
    let bad = dir.path().join("bad.jsonl");
    std::fs::write(&bad, "not json\n{\"_id\": \"\"}\n").unwrap();
    let err = import_file(&index, &bad, &opts(Format::Beir), None).unwrap_err();
    assert!(
        matches!(err, ImportError::NothingImported { bad: 2, .. }),
        "{err}"
    );
    assert!(
        err.to_string().contains("bad.jsonl:1: invalid JSON"),
        "{err}"
    );
    assert_eq!(index.num_papers(), 401);
}

#[test]
fn truncated_gzip_is_a_clear_error_and_commits_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let bytes = std::fs::read(fixture("arxiv-mini.jsonl.gz")).unwrap();
    let path = dir.path().join("cut.jsonl.gz");
    std::fs::File::create(&path)
        .unwrap()
        .write_all(&bytes[..bytes.len() / 2])
        .unwrap();
    let index = PaperIndex::open_or_create(&dir.path().join("idx")).unwrap();
    let err = import_file(&index, &path, &opts(Format::ArxivJsonl), None).unwrap_err();
    let msg = err.to_string();
    assert!(
        msg.contains("cut.jsonl.gz") && msg.contains("read failed near line"),
        "{msg}"
    );
    index.reload().unwrap();
    assert_eq!(
        index.num_papers(),
        0,
        "an interrupted import must not commit"
    );
}

#[test]
fn missing_file_and_directory_are_clear_errors() {
    let dir = tempfile::tempdir().unwrap();
    let index = PaperIndex::open_or_create(&dir.path().join("idx")).unwrap();
    let err = import_file(
        &index,
        &dir.path().join("nope.jsonl"),
        &opts(Format::Beir),
        None,
    )
    .unwrap_err();
    assert!(
        err.to_string().contains("cannot open") && err.to_string().contains("nope.jsonl"),
        "{err}"
    );
    let err = import_file(&index, dir.path(), &opts(Format::Beir), None).unwrap_err();
    assert!(err.to_string().contains("is a directory"), "{err}");
}

#[test]
fn opening_an_index_of_another_schema_version_says_how_to_rebuild() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("idx");
    drop(PaperIndex::open_or_create(&path).unwrap());
    std::fs::write(
        path.join("academichub.json"),
        r#"{"schema_version": 999, "created_by": "test"}"#,
    )
    .unwrap();
    let err = PaperIndex::open(&path).err().expect("must fail");
    assert!(matches!(err, IndexError::SchemaMismatch { .. }), "{err}");
    let msg = err.to_string();
    assert!(
        msg.contains("schema version 999") && msg.contains("rebuild"),
        "{msg}"
    );
    let missing = PaperIndex::open(&dir.path().join("none"))
        .err()
        .expect("must fail");
    assert!(
        missing.to_string().contains("academichub import"),
        "{missing}"
    );
}

#[test]
fn second_writer_is_refused_while_the_first_is_open() {
    let dir = tempfile::tempdir().unwrap();
    let index = PaperIndex::open_or_create(&dir.path().join("idx")).unwrap();
    let _w = index.writer().unwrap();
    let err = index.writer().err().expect("locked");
    assert!(matches!(err, IndexError::Locked { .. }), "{err}");
}

/// `load_paper` decodes a document's stored values straight into a `Paper`: for every imported
/// paper it must give what `doc_to_paper` gives from the same document's `TantivyDocument`,
/// including the multi-valued and optional fields.
#[test]
fn papers_load_straight_from_the_store_as_from_documents() {
    use academichub::index::{doc_to_paper, load_paper};
    use tantivy::{DocAddress, TantivyDocument};
    let (_dir, index) = index_with(Format::ArxivJsonl, "arxiv-mini.jsonl");
    let searcher = index.reader().searcher();
    let (mut papers, mut several_authors, mut comment) = (0, 0, 0);
    for (ord, segment) in searcher.segment_readers().iter().enumerate() {
        for doc in 0..segment.max_doc() {
            let addr = DocAddress::new(ord as u32, doc);
            let stored: TantivyDocument = searcher.doc(addr).expect("stored document");
            let want = doc_to_paper(index.fields(), &stored).expect("paper from document");
            let got = load_paper(&searcher, index.fields(), addr).expect("paper from store");
            assert_eq!(got, want, "{addr:?}");
            papers += 1;
            several_authors += usize::from(got.authors.len() > 1);
            comment += usize::from(got.comment.is_some());
            assert!(!got.title.is_empty() && got.published.is_some(), "{got:?}");
        }
    }
    assert_eq!(papers, 250);
    for (what, n) in [("several authors", several_authors), ("a comment", comment)] {
        assert!(n > 0, "no fixture paper has {what}");
    }

    // No fixture paper has a DOI or a journal reference: one with every optional field set
    // makes the round trip.
    let first = load_paper(&searcher, index.fields(), DocAddress::new(0, 0)).expect("paper");
    let mut full = first.clone();
    full.id = PaperId::new("2601.00001");
    full.doi = Some("10.1000/xyz123".into());
    full.comment = Some("12 pages".into());
    full.journal_ref = Some("J. Test 1 (2026) 1".into());
    full.updated = full.published;
    full.authors = vec!["A. One".into(), "B. Two".into(), "C. Three".into()];
    full.categories = vec!["cs.CL".into(), "cs.IR".into()];
    let mut writer = index.writer().expect("writer");
    writer.upsert(&full).expect("upsert");
    writer.commit().expect("commit");
    index.reload().expect("reload");
    assert_eq!(index.get(&full.id).expect("get"), Some(full));
}
