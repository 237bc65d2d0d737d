use academichub::http::html::push_html_escaped;
use academichub::ingest::Format;
use academichub::paper::parse_date;
use academichub::search::{Filters, SearchRequest};
use academichub::{QueryEngine, QueryError};

use crate::fixtures::index_with;

fn req(q: &str, k: usize) -> SearchRequest {
    let mut r = SearchRequest::new(q);
    r.k = k;
    r
}

#[test]
fn scifact_claim_finds_its_judged_abstract_first() {
    let (_d, index) = index_with(Format::Beir, "scifact-mini/corpus.jsonl");
    let engine = QueryEngine::new(&index);
    // SciFact query 5, judged relevant: 13734012.
    let res = engine
        .search(&req("1/2000 in UK have abnormal PrP positivity.", 5))
        .unwrap();
    assert_eq!(res.hits[0].paper.id.as_str(), "13734012");
    assert_eq!(res.hits[0].rank, 1);
    assert!(res.warnings.is_empty(), "{:?}", res.warnings);
    // Snippet highlights cover query words.
    let snip = &res.hits[0].abstract_snippet;
    assert!(!snip.highlights.is_empty());
    assert!(
        snip.render("<b>", "</b>", push_html_escaped)
            .contains("<b>abnormal</b>"),
        "{}",
        snip.render("<b>", "</b>", push_html_escaped)
    );
}

#[test]
fn chinese_title_finds_its_chinese_abstract() {
    let (_d, index) = index_with(Format::Beir, "csl-mini/corpus.jsonl");
    let engine = QueryEngine::new(&index);
    let res = engine
        .search(&req("邓小平的国家主权思想及其实践意义", 3))
        .unwrap();
    assert_eq!(res.hits[0].paper.id.as_str(), "csl-dev-0004");
    // Highlights on Chinese text are valid UTF-8 slices.
    for h in &res.hits {
        let s = &h.abstract_snippet;
        for r in &s.highlights {
            assert!(s.text.is_char_boundary(r.start) && s.text.is_char_boundary(r.end));
        }
        let _ = s.render("<b>", "</b>", push_html_escaped);
    }
    assert!(res.hits[0]
        .abstract_snippet
        .render("<b>", "</b>", push_html_escaped)
        .contains("<b>"));
}

#[test]
fn query_syntax_phrase_must_exclude_and_fields() {
    let (_d, index) = index_with(Format::ArxivJsonl, "arxiv-mini.jsonl");
    let engine = QueryEngine::new(&index);
    let ids = |q: &str| -> Vec<String> {
        engine
            .search(&req(q, 100))
            .unwrap()
            .hits
            .into_iter()
            .map(|h| h.paper.id.as_str().to_string())
            .collect()
    };
    let any = ids("language models");
    let phrase = ids("\"language models\"");
    assert!(
        !phrase.is_empty() && phrase.len() < any.len(),
        "{} vs {}",
        phrase.len(),
        any.len()
    );
    let must = ids("+survey streaming");
    assert!(must.contains(&"2603.04592".to_string()));
    for id in &must {
        let p = index
            .get(&academichub::PaperId::new(id.clone()))
            .unwrap()
            .unwrap();
        assert!(
            format!("{} {}", p.title, p.abstract_text)
                .to_lowercase()
                .contains("survey"),
            "{id}"
        );
    }
    let excluded = ids("streaming -survey");
    assert!(!excluded.contains(&"2603.04592".to_string()));
    let titled = ids("title:streaming");
    assert_eq!(titled.first().map(String::as_str), Some("2603.04592"));
    let cats = engine.search(&req("categories:cs.cv", 200)).unwrap();
    assert!(cats.total > 50);
    assert!(cats
        .hits
        .iter()
        .all(|h| h.paper.categories.iter().any(|c| c == "cs.CV")));
}

#[test]
fn malformed_syntax_never_fails() {
    let (_d, index) = index_with(Format::ArxivJsonl, "arxiv-mini.jsonl");
    let engine = QueryEngine::new(&index);
    for q in [
        "\"unclosed quote streaming",
        "-",
        "streaming -",
        "((",
        "title:",
        ":::",
        "a AND",
        "+",
        "\"\"",
        "[1 TO",
        "😀",
        "nofield:streaming",
    ] {
        let res = engine.search(&req(q, 5));
        assert!(res.is_ok(), "{q}: {:?}", res.err());
    }
    let res = engine
        .search(&req("\"unclosed quote streaming", 5))
        .unwrap();
    assert!(!res.hits.is_empty());
    assert!(
        res.warnings.iter().any(|w| w.contains("unclosed quote")),
        "{:?}",
        res.warnings
    );
    let res = engine.search(&req("nofield:streaming", 5)).unwrap();
    assert!(
        res.warnings
            .iter()
            .any(|w| w.contains("not a searchable field")),
        "{:?}",
        res.warnings
    );
    assert!(!res.hits.is_empty(), "the words are still searched");
}

#[test]
fn filters_and_pagination() {
    let (_d, index) = index_with(Format::ArxivJsonl, "arxiv-mini.jsonl");
    let engine = QueryEngine::new(&index);
    let mut r = req("learning", 10);
    r.filters = Filters {
        categories: vec!["cs.cl".into()],
        from: parse_date("2026-06-16"),
        to: parse_date("2026-06-16"),
        ..Filters::default()
    };
    let res = engine.search(&r).unwrap();
    assert!(res.total > 5);
    for h in &res.hits {
        assert!(h.paper.categories.iter().any(|c| c == "cs.CL"));
        assert_eq!(h.paper.published, parse_date("2026-06-16"));
    }
    // Filters do not change scores.
    let plain = engine.search(&req("learning", 200)).unwrap();
    let first = &res.hits[0];
    let same = plain
        .hits
        .iter()
        .find(|h| h.paper.id == first.paper.id)
        .unwrap();
    assert!((same.score - first.score).abs() < 1e-5);
    // Pages tile the full ranking.
    let all = engine.search(&req("learning", 20)).unwrap();
    let mut page2 = req("learning", 10);
    page2.offset = 10;
    let p2 = engine.search(&page2).unwrap();
    let ids: Vec<_> = all.hits[10..].iter().map(|h| &h.paper.id).collect();
    let ids2: Vec<_> = p2.hits.iter().map(|h| &h.paper.id).collect();
    assert_eq!(ids, ids2);
    assert_eq!(p2.hits[0].rank, 11);
    // A source that is absent matches nothing.
    let mut none = req("learning", 10);
    none.filters.sources = vec!["medrxiv".into()];
    assert_eq!(engine.search(&none).unwrap().total, 0);
}

#[test]
fn invalid_parameters_are_named() {
    let (_d, index) = index_with(Format::Beir, "scifact-mini/corpus.jsonl");
    let engine = QueryEngine::new(&index);
    let err = |r: SearchRequest| match engine.search(&r) {
        Err(QueryError::Invalid(p)) => p.name(),
        other => panic!("expected an invalid parameter, got {other:?}"),
    };
    assert_eq!(err(req("x", 0)), "k");
    assert_eq!(err(req("x", 100_000)), "k");
    let mut r = req("x", 10);
    r.offset = 1_000_000;
    assert_eq!(err(r), "offset");
    assert_eq!(err(req(&"word ".repeat(500), 10)), "q");
    let mut r = req("x", 10);
    r.filters.from = parse_date("2026-02-01");
    r.filters.to = parse_date("2026-01-01");
    assert_eq!(err(r), "from");
}

#[test]
fn search_facets_equal_separate_and_per_document_counts() {
    use academichub::embed::{Embedder, HashEmbedder};
    use academichub::search::browse;
    use academichub::search::{Mode, QueryVector};

    let (_d, index) = crate::fixtures::fixture_index(true);
    let engine = QueryEngine::new(&index);
    let filters = Filters {
        categories: vec!["cs.CL".into(), "cs.CV".into()],
        from: parse_date("2026-06-16"),
        ..Filters::default()
    };
    let mut e = HashEmbedder::new(64);
    for (q, mode) in [
        ("language models", Mode::Bm25),
        ("\"language models\" -vision", Mode::Bm25),
        ("language models", Mode::Hybrid),
        ("language models", Mode::Dense),
    ] {
        let mut r = req(q, 5);
        r.mode = mode;
        r.filters = filters.clone();
        r.facets = true;
        r.query_vector = Some(QueryVector::Ready(e.embed_query(q).unwrap()));
        let res = engine.search(&r).unwrap();
        let counted = res.facets.clone().unwrap();
        let separate =
            browse::facets(&index, if mode == Mode::Dense { "" } else { q }, &filters).unwrap();
        assert_eq!(counted, separate, "{q} {mode:?}");
        // And the batched ordinal counts equal the per-document counts of `stats`.
        let parsed = engine
            .filters(&filters)
            .wrap(engine.parse(if mode == Mode::Dense { "" } else { q }).0);
        let per_doc = crate::fixtures::stored_facets(&index, parsed.as_ref());
        assert_eq!(counted.count, per_doc.count, "{q}");
        assert_eq!(counted.by_source, per_doc.by_source, "{q}");
        assert_eq!(
            counted.by_primary_category, per_doc.by_primary_category,
            "{q}"
        );
        assert!(counted.count > 5, "{q}: {counted:?}");
        assert!(counted
            .by_primary_category
            .keys()
            .all(|c| c == "cs.CL" || c == "cs.CV"));
        if mode == Mode::Bm25 {
            assert_eq!(res.total as u64, counted.count, "{q}");
        }
        // Without the flag nothing is counted, and the ranking is the same.
        r.facets = false;
        let plain = engine.search(&r).unwrap();
        assert!(plain.facets.is_none());
        let ids = |x: &academichub::search::SearchResults| {
            x.hits
                .iter()
                .map(|h| h.paper.id.clone())
                .collect::<Vec<_>>()
        };
        assert_eq!(ids(&plain), ids(&res), "{q} {mode:?}");
        assert_eq!(plain.total, res.total);
    }
}

/// Search totals and facet counts skip deleted documents (a re-upserted paper's old copy) and
/// see a second segment: equal to the per-document reference, with and without filters.
/// The filters of the tests on [`index_with_deletes`]: two categories and a start date.
fn cl_or_ir_since_june_16() -> Filters {
    Filters {
        categories: vec!["cs.CL".into(), "cs.IR".into()],
        from: parse_date("2026-06-16"),
        ..Filters::default()
    }
}

/// The fixture index after five papers were re-upserted, one of them into another category,
/// each with a marker word: their old copies are deleted documents, the new ones a second
/// segment.
fn index_with_deletes() -> (tempfile::TempDir, std::sync::Arc<academichub::PaperIndex>) {
    use academichub::paper::PaperId;

    let (d, index) = crate::fixtures::fixture_index(false);
    let mut w = index.writer().unwrap();
    for id in [
        "2603.04592",
        "2606.14832",
        "2606.14867",
        "2606.14875",
        "2606.14943",
    ] {
        let mut p = index
            .get(&PaperId::new(id))
            .unwrap()
            .expect("fixture paper");
        p.title = format!("{} (kwzmarker language models)", p.title);
        if id == "2606.14832" {
            p.categories.insert(0, "cs.IR".into());
        }
        w.upsert(&p).unwrap();
    }
    w.commit().unwrap();
    index.reload().unwrap();
    let searcher = index.reader().searcher();
    assert!(searcher.segment_readers().len() >= 2);
    assert!(searcher
        .segment_readers()
        .iter()
        .any(|s| s.num_deleted_docs() > 0));
    (d, index)
}

/// Plain words (with `+required` and `-excluded` words) are ranked term at a time
/// (`academichub::search::taat`), not by tantivy's boolean scorers: the same matches, counts and scores
/// (to float rounding), in the same order, with deleted documents, two segments and filters;
/// both the sparse path (few postings) and the dense one.
#[test]
fn term_at_a_time_ranks_like_tantivy() {
    use academichub::search::taat::{self, TermDisjunction};
    use tantivy::collector::{Count, TopDocs};

    let (_d, index) = index_with_deletes();
    let engine = QueryEngine::new(&index);
    let f = index.fields();
    let fields = [f.text, f.title, f.abstract_text];
    let searcher = index.reader().searcher();
    let filters = cl_or_ir_since_june_16();
    let mut compared = 0;
    for q in [
        "language models",
        "kwzmarker",
        "kwzmarker speech",
        "the of and a",
        "大语言模型 speech recognition",
        "title:survey",
        "graph neural network retrieval augmented generation benchmark",
        "zzzqqq",
        "+speech recognition",
        "speech -recognition",
        "+kwzmarker +language models -speech",
        "+language",
        "contrastive learning -image -vision",
    ] {
        // Untranslated: `translate::translated_queries_rank_as_tantivy_scores_them` checks
        // translated ones.
        let parsed = academichub::search::parse::parse_with(&index, q, false).0;
        let terms = TermDisjunction::of(parsed.as_ref(), &fields)
            .unwrap_or_else(|| panic!("{q}: plain words are a term disjunction"));
        for flt in [Filters::default(), filters.clone()] {
            let clauses = engine.filters(&flt).queries();
            let found = taat::search(&searcher, &terms, &clauses, 40, None).unwrap();
            let query = engine.filters(&flt).wrap(parsed.box_clone());
            let (top, count) = searcher
                .search(&query, &(TopDocs::with_limit(40), Count))
                .unwrap();
            assert_eq!(found.count, count as u64, "{q} {flt:?}");
            assert_eq!(found.top.len(), top.len(), "{q} {flt:?}");
            for (i, ((addr, score), (ref_score, ref_addr))) in
                found.top.iter().zip(&top).enumerate()
            {
                assert!(
                    (score - ref_score).abs() <= 1e-5 * ref_score.abs().max(1.0),
                    "{q} {flt:?} #{i}: {score} vs {ref_score}"
                );
                // Equal addresses unless two scores tie to float rounding.
                if addr != ref_addr {
                    let theirs = top.iter().find(|(_, a)| a == addr).map(|(s, _)| *s);
                    assert!(
                        theirs.is_some_and(|s| (s - score).abs() <= 1e-5 * score.abs()),
                        "{q} {flt:?} #{i}: {addr:?} vs {ref_addr:?}"
                    );
                }
            }
            compared += count;
            // The engine's leg is the same ranking.
            let (leg, total) = engine
                .bm25_leg(&searcher, parsed.box_clone(), &flt, 40)
                .unwrap();
            assert_eq!(total, count, "{q} {flt:?}");
            assert_eq!(leg, found.top, "{q} {flt:?}");
        }
    }
    assert!(compared > 300, "{compared}");
    // Other shapes go through tantivy.
    for q in [
        "\"language models\"",
        "+\"language models\" speech",
        "speech -\"language models\"",
        "-speech",
        "categories:cs.CL language",
    ] {
        assert!(
            TermDisjunction::of(engine.parse(q).0.as_ref(), &fields).is_none(),
            "{q}"
        );
    }
}

#[test]
fn facet_counts_equal_per_document_counts_with_deletes_and_filters() {
    let (_d, index) = index_with_deletes();
    let engine = QueryEngine::new(&index);
    let filters = cl_or_ir_since_june_16();
    let mut checked = 0;
    for q in [
        "language models",
        "kwzmarker",
        "大语言模型 speech",
        "\"language models\" -vision",
    ] {
        for f in [Filters::default(), filters.clone()] {
            let query = engine.filters(&f).wrap(engine.parse(q).0);
            let reference = crate::fixtures::stored_facets(&index, query.as_ref());
            let mut r = req(q, 3);
            r.filters = f.clone();
            r.facets = true;
            let res = engine.search(&r).unwrap();
            let counted = res.facets.unwrap();
            assert_eq!(res.total as u64, reference.count, "{q} {f:?}");
            assert_eq!(counted.count, reference.count, "{q} {f:?}");
            assert_eq!(counted.by_source, reference.by_source, "{q} {f:?}");
            assert_eq!(
                counted.by_primary_category, reference.by_primary_category,
                "{q} {f:?}"
            );
            checked += reference.count;
        }
    }
    let marked = crate::fixtures::stored_facets(&index, engine.parse("kwzmarker").0.as_ref());
    assert_eq!(marked.count, 5);
    assert_eq!(marked.by_primary_category.get("cs.IR"), Some(&1));
    assert!(checked > 100, "{checked}");
}
