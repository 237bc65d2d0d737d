//! Query translation: Chinese questions find English papers in bm25 mode (no vectors), with
//! the committed CC-CEDICT excerpt, over the 250-paper arXiv capture.

use academichub::embed::{Embedder, HashEmbedder};
use academichub::ingest::Format;
use academichub::search::translate::{self, translate_query_with, Translated};
use academichub::search::{Mode, SearchRequest};
use academichub::QueryEngine;

use tantivy::collector::TopDocs;

use crate::fixtures::{dictionary, index_with};

fn bm25(engine: &QueryEngine, q: &str, k: usize) -> academichub::SearchResults {
    let mut req = SearchRequest::new(q);
    req.k = k;
    req.mode = Mode::Bm25;
    engine.search(&req).expect("search runs")
}

fn text_of(h: &academichub::search::Hit) -> String {
    format!("{} {}", h.paper.title, h.paper.abstract_text).to_lowercase()
}

#[test]
fn chinese_terms_find_english_papers_without_vectors() {
    let (_d, index) = index_with(Format::ArxivJsonl, "arxiv-mini.jsonl");
    let engine = QueryEngine::new(&index);
    // Untranslated, the Chinese words match nothing in English abstracts.
    let mut plain = SearchRequest::new("强化学习");
    plain.translate = false;
    assert_eq!(engine.search(&plain).unwrap().total, 0);
    for (q, english, shown) in [
        // Shown as the papers spell the translation's words: the dictionary's "reinforce
        // learn" (what is embedded with the query) has the stems the papers' words have.
        (
            "强化学习",
            "reinforcement learning",
            "reinforcement learning",
        ),
        ("大语言模型", "language model", "large language models"),
    ] {
        let res = bm25(&engine, q, 5);
        assert_eq!(res.translation.as_deref(), Some(shown), "{q}");
        assert!(!res.hits.is_empty(), "{q}: no hits");
        let top: Vec<bool> = res
            .hits
            .iter()
            .map(|h| text_of(h).contains(english))
            .collect();
        assert!(
            top.iter().all(|&b| b),
            "{q}: top 5 not all about {english}: {top:?}"
        );
        // The JSON sources carry the translation; snippets highlight the English words.
        assert_eq!(res.hits[0].sources.translation.as_deref(), Some(shown));
        let marked = res.hits[0]
            .abstract_snippet
            .render("[", "]", |s, o| o.push_str(s));
        assert!(
            marked.to_lowercase().contains("[learning]") || marked.contains("[language]"),
            "{marked}"
        );
    }
}

#[test]
fn the_index_picks_the_sense_a_compound_needs() {
    let (_d, index) = index_with(Format::ArxivJsonl, "arxiv-mini.jsonl");
    let searcher = index.reader().searcher();
    let dict = dictionary();
    // 强化 glosses "strengthen/intensify"; "reinforce" comes from the dictionary's synonyms
    // (加强) and wins because the papers say "reinforcement learning".
    let t = translate::translate(&index, &searcher, dict, "强化学习")
        .unwrap()
        .unwrap();
    let units: Vec<&str> = t.groups.iter().map(|g| g.source.as_str()).collect();
    assert_eq!(units, ["强化", "学习"]);
    let first = &t.groups[0].terms;
    let best = first.iter().max_by(|a, b| a.1.total_cmp(&b.1)).unwrap();
    assert_eq!(best.0, "reinforc", "{first:?}");
    // One synonym group per unit: its weights sum to at most one.
    for g in &t.groups {
        let sum: f32 = g.terms.iter().map(|(_, w)| w).sum();
        assert!(sum <= 1.0 + 1e-4, "{}: {sum}", g.source);
    }
    assert_eq!(
        t.phrases,
        vec![vec!["reinforc".to_string(), "learn".to_string()]]
    );
    // Traditional characters translate the same way.
    let trad = translate::translate(&index, &searcher, dict, "強化學習")
        .unwrap()
        .unwrap();
    assert_eq!(trad.text, t.text);
}

#[test]
fn the_model_glossary_supplies_senses_the_dictionary_lacks() {
    let (_d, index) = index_with(Format::ArxivJsonl, "arxiv-mini.jsonl");
    let searcher = index.reader().searcher();
    // CC-CEDICT's 对抗 is "to withstand/to resist/confrontation": nothing adversarial.
    let text = std::fs::read_to_string(crate::fixtures::fixture("cedict-mini.txt")).unwrap();
    let bare = translate::Dictionary::parse(&text, std::path::Path::new("cedict-mini")).unwrap();
    assert!(!bare.glosses("对抗").contains(&"adversaries"));
    let without = translate::translate(&index, &searcher, &bare, "对抗样本")
        .unwrap()
        .unwrap();
    assert!(!without.text.contains("adversar"), "{}", without.text);
    // Loaded, the dictionary carries the built-in glossary: 对抗 -> adversaries, which the
    // papers' "adversarial" shares a stem with; it takes most of the word's weight.
    let with = translate::translate(&index, &searcher, dictionary(), "对抗样本")
        .unwrap()
        .unwrap();
    assert_eq!(with.text, "adversaries sample");
    let engine = QueryEngine::new(&index);
    let res = bm25(&engine, "对抗样本", 5);
    assert_eq!(res.translation.as_deref(), Some("adversarial sample"));
    let about: Vec<bool> = res
        .hits
        .iter()
        .map(|h| text_of(h).contains("adversarial"))
        .collect();
    // Four of the five (the other is a thin-film paper full of "samples" and "resistance",
    // the other senses of the two words).
    assert!(about.iter().filter(|&&b| b).count() >= 4, "{about:?}");
}

#[test]
fn chinese_queries_over_english_papers_are_embedded_with_their_translation() {
    use academichub::search::{embedding_text, QueryVector};
    // Over English papers, the dense leg embeds the question followed by its translation.
    let (_d, english) = index_with(Format::ArxivJsonl, "arxiv-mini.jsonl");
    assert_eq!(
        embedding_text(&english, "强化学习", true),
        "强化学习 reinforce learn"
    );
    // Not with translation off, nor for a query without Chinese words.
    assert_eq!(embedding_text(&english, "强化学习", false), "强化学习");
    assert_eq!(
        embedding_text(&english, "reinforcement learning", true),
        "reinforcement learning"
    );
    // Over Chinese papers (CSL), whose own words match the question, it is embedded as is
    // (the unit tests check the English-share rule itself).
    let (_c, chinese) = index_with(Format::Beir, "csl-mini/corpus.jsonl");
    let q = "具有多重解的非线性奇摄动问题";
    assert_eq!(embedding_text(&chinese, q, true), q);
    // A dense search shows the translation it was embedded with, as the other modes do.
    let (_v, with_vectors) = crate::fixtures::fixture_index(true);
    let mut e = HashEmbedder::new(64);
    let text = embedding_text(&with_vectors, "强化学习", true);
    let mut req = SearchRequest::new("强化学习");
    req.mode = Mode::Dense;
    req.query_vector = Some(QueryVector::Ready(e.embed_query(&text).unwrap()));
    let res = QueryEngine::new(&with_vectors).search(&req).unwrap();
    assert_eq!(res.translation.as_deref(), Some("reinforcement learning"));
    assert_eq!(
        res.hits[0].sources.translation.as_deref(),
        Some("reinforcement learning")
    );
}

#[test]
fn bad_chinese_input_is_searched_without_panic() {
    let (_d, index) = index_with(Format::ArxivJsonl, "arxiv-mini.jsonl");
    let engine = QueryEngine::new(&index);
    // Only particles: nothing to translate, nothing found, no error.
    let res = bm25(&engine, "的了吗", 5);
    assert_eq!(res.translation, None);
    assert!(res.hits.is_empty());
    // Full-width punctuation and mixed scripts: the Latin word is kept as it is.
    let res = bm25(&engine, "强化学习，robot？", 5);
    assert_eq!(
        res.translation.as_deref(),
        Some("reinforcement learning ，robot？")
    );
    assert!(!res.hits.is_empty());
    // A 1,000-character Chinese query (the request limit) is translated from its start.
    let long: String = "语音识别的大语言模型".chars().cycle().take(1000).collect();
    let res = bm25(&engine, &long, 5);
    assert!(res.translation.is_some());
    // Without a dictionary the query is searched as it is, with a warning saying why.
    let mut warnings = Vec::new();
    let (q, _) = academichub::search::parse::parse_with(&index, "强化学习", false);
    let q = translate_query_with(&index, q, "强化学习", Err("no such file"), &mut warnings);
    assert!(q.downcast_ref::<Translated>().is_none());
    assert_eq!(
        warnings,
        ["Chinese words were not translated: no such file"]
    );
}

#[test]
fn english_questions_drop_function_words_from_the_query_and_highlights() {
    let (_d, index) = index_with(Format::ArxivJsonl, "arxiv-mini.jsonl");
    let engine = QueryEngine::new(&index);
    let res = bm25(&engine, "how do speech tokens affect LLM reasoning?", 5);
    assert!(!res.hits.is_empty());
    for h in &res.hits {
        for s in [&h.title_snippet, &h.abstract_snippet] {
            for r in &s.highlights {
                let w = s.text[r.clone()].to_lowercase();
                assert!(!["how", "do"].contains(&w.as_str()), "highlighted {w:?}");
            }
        }
    }
    // "not" carries a claim's meaning and stays; a query of stopwords only keeps them all
    // (there is nothing else to search).
    let terms = |q: &str| {
        let (q, _) = engine.parse(q);
        let mut out = Vec::new();
        q.query_terms(&mut |t, _| out.push(t.value().as_str().unwrap_or("").to_string()));
        out
    };
    assert_eq!(terms("to be or not"), ["not"]);
    assert_eq!(terms("to be or"), ["to", "be", "or"]);
}

#[test]
fn translated_queries_rank_as_tantivy_scores_them() {
    // Term at a time over the original words and the weighted translations, then the phrases
    // re-rank the top: the same scores and order as tantivy's scorers over the whole query.
    let (_d, index) = index_with(Format::ArxivJsonl, "arxiv-mini.jsonl");
    let engine = QueryEngine::new(&index);
    let searcher = index.reader().searcher();
    for q in ["强化学习", "大语言模型 speech", "语音识别的大语言模型"] {
        let (parsed, _) = engine.parse(q);
        let t = parsed.downcast_ref::<Translated>().expect("translated");
        assert!(!t.translation().phrases.is_empty(), "{q}: a phrase");
        let (ours, _) = engine
            .bm25_leg(&searcher, parsed.box_clone(), &Default::default(), 10)
            .unwrap();
        let reference = searcher
            .search(parsed.as_ref(), &TopDocs::with_limit(10))
            .unwrap();
        assert_eq!(ours.len(), reference.len(), "{q}");
        for (i, ((_, score), (ref_score, _))) in ours.iter().zip(&reference).enumerate() {
            assert!(
                (score - ref_score).abs() <= 1e-4 * ref_score.abs().max(1.0),
                "{q} #{i}: {score} vs {ref_score}"
            );
        }
        // Each paper scores the same both ways (ties may order differently).
        for (addr, score) in &ours {
            if let Some((ref_score, _)) = reference.iter().find(|(_, a)| a == addr) {
                assert!(
                    (score - ref_score).abs() <= 1e-4 * ref_score.abs().max(1.0),
                    "{q}"
                );
            }
        }
    }
}

#[test]
fn loose_glossary_matches_count_only_where_a_phrase_of_the_papers_confirms_them() {
    let (_d, index) = index_with(Format::ArxivJsonl, "arxiv-mini.jsonl");
    let searcher = index.reader().searcher();
    let dict = dictionary();
    // 卷积 is no CC-CEDICT word: the glossary knows it (from jieba's dictionary) only
    // loosely, "convolutional" among weaker matches ("encoding", "knot", ...).
    assert!(dict.glosses("卷积").is_empty());
    let loose = dict.loose_glosses("卷积");
    assert!(
        loose.contains(&"convolutional") && loose.len() > 1,
        "{loose:?}"
    );
    // Beside 神经网络 the papers confirm it: "convolutional neural network".
    let t = translate::translate(&index, &searcher, dict, "卷积神经网络")
        .unwrap()
        .unwrap();
    assert_eq!(t.text, "convolutional neural network");
    assert!(t.groups.iter().all(|g| g.confirmed), "{t:?}");
    let engine = QueryEngine::new(&index);
    let res = bm25(&engine, "卷积神经网络", 3);
    for h in &res.hits {
        assert!(
            text_of(h).contains("convolutional neural"),
            "{}",
            h.paper.title
        );
    }
    // Two loose matches never confirm each other, however common their phrase: with a
    // made-up word 神网 known only loosely as "neural", 卷积神网 stays untranslated by them.
    let text = std::fs::read_to_string(crate::fixtures::fixture("cedict-mini.txt")).unwrap();
    let mut only_loose =
        translate::Dictionary::parse(&text, std::path::Path::new("cedict-mini")).unwrap();
    only_loose.merge_glossary("卷积\t\tconvolutional\n神网\t\tneural\n");
    let t = translate::translate(&index, &searcher, &only_loose, "卷积神网").unwrap();
    let text = t.map(|t| t.text).unwrap_or_default();
    assert!(
        !text.contains("convolutional") && !text.contains("neural"),
        "{text}"
    );
    // Alone, nothing confirms any loose match: the word is translated by its parts.
    let alone = translate::translate(&index, &searcher, dict, "卷积")
        .unwrap()
        .unwrap();
    let units: Vec<&str> = alone.groups.iter().map(|g| g.source.as_str()).collect();
    assert_eq!(units, ["卷", "积"]);
    assert!(!alone.text.contains("convolution") && !alone.text.contains("encoding"));
}

#[test]
fn unconfirmed_translations_count_half_for_coverage() {
    let (_d, index) = index_with(Format::ArxivJsonl, "arxiv-mini.jsonl");
    let searcher = index.reader().searcher();
    let engine = QueryEngine::new(&index);
    let coverage = |q: &str| {
        let (parsed, _) = engine.parse(q);
        let t = translate::of(parsed.as_ref()).cloned();
        (t, engine.term_coverage(&searcher, parsed.as_ref()).unwrap())
    };
    // "reinforcement learning" is a phrase of the papers: both units confirmed.
    let (t, c) = coverage("强化学习");
    assert!(t.unwrap().groups.iter().all(|g| g.confirmed));
    assert_eq!(c, 1.0);
    // "adversaries sample" is not (the papers say "adversarial examples"): over English
    // papers each unit counts half, so hybrid leans on the dense leg.
    let (t, c) = coverage("对抗样本");
    let t = t.unwrap();
    assert_eq!(t.text, "adversaries sample");
    assert!(
        t.groups.iter().all(|g| !g.confirmed && g.english > 0.99),
        "{t:?}"
    );
    assert!((c - 0.5).abs() < 0.01, "coverage {c}");
}
