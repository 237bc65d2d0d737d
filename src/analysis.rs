//! Text analysis shared by indexing and querying: one analyzer for mixed Chinese/English text.
//!
//! Runs of CJK characters are segmented with jieba (search mode: whole words plus their
//! dictionary sub-words); runs of other letters and digits become words that are lowercased and
//! English-stemmed. Token offsets are byte offsets into the original text and always fall on
//! UTF-8 character boundaries, so snippets can slice the text safely.

use std::sync::OnceLock;

use jieba_rs::{Jieba, TokenizeMode};
use tantivy::tokenizer::{
    Language, LowerCaser, RawTokenizer, RemoveLongFilter, Stemmer, TextAnalyzer, Token,
    TokenStream, Tokenizer,
};

/// Name of the mixed CJK + English analyzer in the index's tokenizer manager.
pub const MIXED: &str = "mixed";
/// Name of the keyword analyzer (whole value, lowercased).
pub const KEYWORD: &str = "keyword";
/// Tokens longer than this many bytes are dropped (base64 blobs, URLs glued together).
pub const MAX_TOKEN_BYTES: usize = 60;

fn jieba() -> &'static Jieba {
    static JIEBA: OnceLock<Jieba> = OnceLock::new();
    JIEBA.get_or_init(Jieba::new)
}

/// `text` as the index's terms set apart by spaces: lowercased, English-stemmed, CJK runs cut
/// into jieba's words (search mode), as the `text` field analyzes it. An analyzer that only
/// splits at spaces and punctuation and lowercases (Milvus's `standard`) then sees the terms
/// the index does: the same stems, and Chinese words instead of one word per run of CJK.
pub fn terms_text(text: &str) -> String {
    terms(text).join(" ")
}

/// True for characters that jieba should segment (Han ideographs, kana, CJK punctuation excluded).
pub fn is_cjk(c: char) -> bool {
    matches!(c as u32,
        0x3400..=0x4DBF      // CJK Unified Ideographs Extension A
        | 0x4E00..=0x9FFF    // CJK Unified Ideographs
        | 0xF900..=0xFAFF    // CJK Compatibility Ideographs
        | 0x3040..=0x30FF    // Hiragana, Katakana
        | 0x20000..=0x2EBEF  // Extensions B..F
    )
}

/// Splits mixed text into raw word tokens (before lowercasing and stemming).
#[derive(Clone, Default)]
pub struct MixedTokenizer {
    tokens: Vec<Token>,
}

#[derive(Clone, Copy, PartialEq)]
enum Class {
    Cjk,
    Word,
    Other,
}

fn class(c: char) -> Class {
    if is_cjk(c) {
        Class::Cjk
    } else if c.is_alphanumeric() {
        Class::Word
    } else {
        Class::Other
    }
}

impl MixedTokenizer {
    fn segment(&mut self, text: &str) {
        self.tokens.clear();
        let tokens = &mut self.tokens;
        raw_words(text, |from, to, word| {
            let position = tokens.len();
            tokens.push(Token {
                offset_from: from,
                offset_to: to,
                position,
                text: word.to_string(),
                position_length: 1,
            });
        });
    }
}

/// Token stream over a pre-computed token list.
pub struct VecTokenStream<'a> {
    tokens: &'a mut Vec<Token>,
    index: usize,
}

impl TokenStream for VecTokenStream<'_> {
    fn advance(&mut self) -> bool {
        if self.index < self.tokens.len() {
            self.index += 1;
            true
        } else {
            false
        }
    }

    fn token(&self) -> &Token {
        &self.tokens[self.index - 1]
    }

    fn token_mut(&mut self) -> &mut Token {
        &mut self.tokens[self.index - 1]
    }
}

impl Tokenizer for MixedTokenizer {
    type TokenStream<'a> = VecTokenStream<'a>;

    fn token_stream<'a>(&'a mut self, text: &'a str) -> VecTokenStream<'a> {
        self.segment(text);
        VecTokenStream {
            tokens: &mut self.tokens,
            index: 0,
        }
    }
}

/// The analyzer for titles, abstracts and authors (index and query side alike).
pub fn mixed_analyzer() -> TextAnalyzer {
    TextAnalyzer::builder(MixedTokenizer::default())
        .filter(RemoveLongFilter::limit(MAX_TOKEN_BYTES))
        .filter(LowerCaser)
        .filter(Stemmer::new(Language::English))
        .build()
}

/// Lowercases, drops (too long) and stems one raw word exactly as [`mixed_analyzer`]'s filters
/// do: `None` when the filters drop it.
pub fn normalize_word(word: &str) -> Option<String> {
    thread_local! {
        static TAIL: std::cell::RefCell<TextAnalyzer> = std::cell::RefCell::new(
            TextAnalyzer::builder(RawTokenizer::default())
                .filter(RemoveLongFilter::limit(MAX_TOKEN_BYTES))
                .filter(LowerCaser)
                .filter(Stemmer::new(Language::English))
                .build(),
        );
    }
    TAIL.with(|tail| {
        let mut tail = tail.borrow_mut();
        let mut stream = tail.token_stream(word);
        stream.advance().then(|| stream.token().text.clone())
    })
}

/// Calls `f(from, to, word)` for each raw word of `text` in [`MixedTokenizer`]'s order (CJK runs
/// segmented by jieba in search mode, other runs of letters and digits whole), before any
/// filter. Offsets are byte offsets into `text`.
pub fn raw_words(text: &str, mut f: impl FnMut(usize, usize, &str)) {
    let jieba = jieba();
    let bytes = text.as_bytes();
    let mut run_start = 0;
    let mut run_class = Class::Other;
    let mut i = 0;
    loop {
        // ASCII (most of an English abstract) is classified from its byte, without decoding a
        // char or consulting the Unicode tables: the current run goes on over every ASCII byte
        // of its class.
        match run_class {
            Class::Word => i = ascii_run_end::<true>(bytes, i),
            Class::Other => i = ascii_run_end::<false>(bytes, i),
            Class::Cjk => {}
        }
        let (cl, len) = match bytes.get(i) {
            None => (Class::Other, 0),
            Some(&b) if b.is_ascii() => {
                if ASCII_CLASS[usize::from(b)] == WORD {
                    (Class::Word, 1)
                } else {
                    (Class::Other, 1)
                }
            }
            Some(_) => match text.get(i..).and_then(|rest| rest.chars().next()) {
                Some(c) => (class(c), c.len_utf8()),
                None => (Class::Other, 1),
            },
        };
        if cl != run_class {
            let run = &text[run_start..i];
            match run_class {
                Class::Other => {}
                Class::Word => f(run_start, i, run),
                Class::Cjk => {
                    for t in jieba.tokenize(run, TokenizeMode::Search, true) {
                        // `t.word` is a slice of `run`: its pointer gives the byte offset.
                        let start = t.word.as_ptr() as usize - run.as_ptr() as usize;
                        let end = start + t.word.len();
                        f(run_start + start, run_start + end, t.word);
                    }
                }
            }
            run_start = i;
            run_class = cl;
        }
        if len == 0 {
            break;
        }
        i += len;
    }
}

/// The first index from `i` on whose byte is not an ASCII byte of the class (`WORD_CLASS`:
/// letters and digits, else the other ASCII bytes), `bytes.len()` when there is none.
#[inline(always)]
fn ascii_run_end<const WORD_CLASS: bool>(bytes: &[u8], mut i: usize) -> usize {
    // Sixteen bytes classified at once: the run's end is found with one bit scan instead of a
    // byte loop whose exit, at every word boundary, the branch predictor cannot foresee.
    #[cfg(target_arch = "x86_64")]
    while let Some(chunk) = bytes.get(i..i + 16) {
        let (words, ascii) = ascii_classes_16(chunk);
        let same = if WORD_CLASS { words } else { ascii & !words };
        let stop = !same & 0xFFFF;
        if stop != 0 {
            return i + stop.trailing_zeros() as usize;
        }
        i += 16;
    }
    let want = if WORD_CLASS { WORD } else { OTHER };
    while bytes
        .get(i)
        .is_some_and(|&b| ASCII_CLASS[usize::from(b)] == want)
    {
        i += 1;
    }
    i
}

/// For the first 16 bytes of `chunk` (at least 16 long): bit `j` of the first mask set when
/// byte `j` is an ASCII letter or digit, of the second when it is ASCII (below 128).
#[cfg(target_arch = "x86_64")]
#[inline(always)]
fn ascii_classes_16(chunk: &[u8]) -> (u32, u32) {
    use std::arch::x86_64::{
        __m128i, _mm_and_si128, _mm_cmpgt_epi8, _mm_cmplt_epi8, _mm_loadu_si128, _mm_movemask_epi8,
        _mm_or_si128, _mm_set1_epi8,
    };
    assert!(chunk.len() >= 16);
    // SAFETY: SSE2 is part of x86_64, and `chunk` holds the 16 bytes the unaligned load reads.
    unsafe {
        let v = _mm_loadu_si128(chunk.as_ptr().cast::<__m128i>());
        // Bytes of 128 and up compare as negative numbers: never in a letter or digit range.
        let between = |x: __m128i, lo: u8, hi: u8| {
            _mm_and_si128(
                _mm_cmpgt_epi8(x, _mm_set1_epi8(lo as i8 - 1)),
                _mm_cmplt_epi8(x, _mm_set1_epi8(hi as i8 + 1)),
            )
        };
        // Setting bit 5 maps 'A'..='Z' onto 'a'..='z' and no other ASCII byte into that range.
        let lower = _mm_or_si128(v, _mm_set1_epi8(0x20));
        let words = _mm_or_si128(between(lower, b'a', b'z'), between(v, b'0', b'9'));
        let words = _mm_movemask_epi8(words) as u32;
        let ascii = !(_mm_movemask_epi8(v) as u32) & 0xFFFF;
        (words, ascii)
    }
}

const OTHER: u8 = 0;
const WORD: u8 = 1;
/// Class of each byte when it is an ASCII char: `WORD` for letters and digits, `OTHER` for the
/// rest; bytes of multi-byte chars (128 and up) are neither and get decoded.
const ASCII_CLASS: [u8; 256] = {
    let mut table = [2u8; 256];
    let mut b = 0;
    while b < 128 {
        table[b] = if (b as u8).is_ascii_alphanumeric() {
            WORD
        } else {
            OTHER
        };
        b += 1;
    }
    table
};

/// The analyzer for ids, categories and sources: the whole value as one lowercased token.
pub fn keyword_analyzer() -> TextAnalyzer {
    TextAnalyzer::builder(RawTokenizer::default())
        .filter(LowerCaser)
        .build()
}

/// The words of a run of CJK text as jieba cuts it (dictionary words, no HMM guesses for
/// unknown ones: those come out as single characters), as slices of `text`.
pub fn cut_cjk(text: &str) -> Vec<&str> {
    jieba().cut(text, false)
}

/// English function words (lowercase, unstemmed): articles, pronouns, auxiliaries,
/// prepositions, conjunctions and question words; the Snowball English list without its
/// negations (`no`, `not`, `nor`, `against`), which can carry a claim's meaning.
pub const ENGLISH_STOPWORDS: &[&str] = &[
    "a",
    "about",
    "above",
    "after",
    "again",
    "all",
    "am",
    "an",
    "and",
    "any",
    "are",
    "as",
    "at",
    "be",
    "because",
    "been",
    "before",
    "being",
    "below",
    "between",
    "both",
    "but",
    "by",
    "can",
    "could",
    "did",
    "do",
    "does",
    "doing",
    "down",
    "during",
    "each",
    "few",
    "for",
    "from",
    "further",
    "had",
    "has",
    "have",
    "having",
    "he",
    "her",
    "here",
    "hers",
    "herself",
    "him",
    "himself",
    "his",
    "how",
    "i",
    "if",
    "in",
    "into",
    "is",
    "it",
    "its",
    "itself",
    "just",
    "me",
    "more",
    "most",
    "my",
    "myself",
    "now",
    "of",
    "off",
    "on",
    "once",
    "only",
    "or",
    "other",
    "ought",
    "our",
    "ours",
    "ourselves",
    "out",
    "over",
    "own",
    "same",
    "she",
    "should",
    "so",
    "some",
    "such",
    "than",
    "that",
    "the",
    "their",
    "theirs",
    "them",
    "themselves",
    "then",
    "there",
    "these",
    "they",
    "this",
    "those",
    "through",
    "to",
    "too",
    "under",
    "until",
    "up",
    "very",
    "was",
    "we",
    "were",
    "what",
    "when",
    "where",
    "which",
    "while",
    "who",
    "whom",
    "why",
    "will",
    "with",
    "would",
    "you",
    "your",
    "yours",
    "yourself",
    "yourselves",
];

/// True when `word` (any case, unstemmed) is one of [`ENGLISH_STOPWORDS`].
pub fn is_english_stopword(word: &str) -> bool {
    if word.len() > 10 || !word.is_ascii() {
        return false;
    }
    let lower = word.to_ascii_lowercase();
    ENGLISH_STOPWORDS.binary_search(&lower.as_str()).is_ok()
}

/// True when `term` (as [`mixed_analyzer`] outputs it: lowercased and stemmed) is the term of
/// an English stopword ("does" is `doe`, "this" `thi`).
pub fn is_stop_term(term: &str) -> bool {
    static STEMS: OnceLock<std::collections::HashSet<String>> = OnceLock::new();
    STEMS
        .get_or_init(|| {
            ENGLISH_STOPWORDS
                .iter()
                .filter_map(|w| normalize_word(w))
                .collect()
        })
        .contains(term)
}

/// Registers this module's analyzers on an index.
pub fn register(index: &tantivy::Index) {
    let manager = index.tokenizers();
    manager.register(MIXED, mixed_analyzer());
    manager.register(KEYWORD, keyword_analyzer());
}

/// Analyzes `text` into its terms (the Milvus `text` field, tests, snippets and diagnostics).
pub fn terms(text: &str) -> Vec<String> {
    let mut analyzer = mixed_analyzer();
    let mut stream = analyzer.token_stream(text);
    let mut out = Vec::new();
    while stream.advance() {
        out.push(stream.token().text.clone());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn terms_text_is_the_terms_set_apart_by_spaces() {
        let text = "基于强化学习的GNN方法: Graph neural networks, 2024.";
        let spaced = terms_text(text);
        let words: Vec<&str> = spaced.split(' ').collect();
        assert_eq!(words, terms(text));
        // jieba's words, lowercased and stemmed English, digits; no punctuation.
        for w in [
            "基于", "强化", "学习", "方法", "gnn", "graph", "neural", "network", "2024",
        ] {
            assert!(words.contains(&w), "{w}: {spaced}");
        }
        assert!(!spaced.contains(',') && !spaced.contains(':'), "{spaced}");
        assert_eq!(terms_text(""), "");
    }

    #[test]
    fn stopword_list_is_sorted_and_lowercase() {
        assert!(ENGLISH_STOPWORDS.windows(2).all(|w| w[0] < w[1]));
        assert!(is_english_stopword("How") && is_english_stopword("do"));
        assert!(!is_english_stopword("not") && !is_english_stopword("speech"));
        assert!(!is_english_stopword("注意"));
    }

    fn offsets(text: &str) -> Vec<(String, usize, usize)> {
        let mut analyzer = mixed_analyzer();
        let mut stream = analyzer.token_stream(text);
        let mut out = Vec::new();
        while stream.advance() {
            let t = stream.token();
            out.push((t.text.clone(), t.offset_from, t.offset_to));
        }
        out
    }

    #[test]
    fn english_is_lowercased_and_stemmed() {
        assert_eq!(
            terms("Running Networks, GPT-4!"),
            vec!["run", "network", "gpt", "4"]
        );
    }

    #[test]
    fn chinese_is_segmented_with_search_mode() {
        let t = terms("基于深度学习的图像识别");
        assert!(t.contains(&"深度".to_string()), "{t:?}");
        assert!(t.contains(&"学习".to_string()), "{t:?}");
        assert!(t.contains(&"图像".to_string()), "{t:?}");
        assert!(t.contains(&"识别".to_string()), "{t:?}");
    }

    #[test]
    fn mixed_text_offsets_are_char_boundaries() {
        let text = "使用Transformer模型进行机器翻译 with BERT，效果很好。";
        for (term, from, to) in offsets(text) {
            assert!(text.is_char_boundary(from) && text.is_char_boundary(to));
            let slice = &text[from..to];
            assert!(!slice.is_empty());
            if slice.is_ascii() {
                assert!(
                    slice.to_lowercase().starts_with(&term[..1]),
                    "{term} vs {slice}"
                );
            }
        }
        let t = terms(text);
        assert!(t.contains(&"transform".to_string()), "{t:?}");
        assert!(t.contains(&"机器".to_string()), "{t:?}");
        assert!(t.contains(&"bert".to_string()), "{t:?}");
    }

    #[test]
    fn odd_input_never_panics() {
        for s in [
            "",
            " ",
            "。。。",
            "😀😀 a",
            "ＡＢＣ１２３",
            "a\u{0301}",
            "\u{10FFFF}",
            "𠀀𠀁",
        ] {
            let _ = offsets(s);
        }
        assert_eq!(terms("ＡＢＣ"), vec!["ａｂｃ"]);
    }

    #[test]
    fn normalize_word_is_the_analyzer_on_one_word() {
        for w in [
            "Running",
            "STUDIES",
            "GPT",
            "4",
            "模型",
            "ＡＢＣ",
            "Ünïcode",
        ] {
            assert_eq!(
                normalize_word(w).into_iter().collect::<Vec<_>>(),
                terms(w),
                "{w}"
            );
        }
        assert_eq!(normalize_word(&"a".repeat(MAX_TOKEN_BYTES)), None);
        assert!(normalize_word(&"a".repeat(MAX_TOKEN_BYTES - 1)).is_some());
    }

    /// The words `raw_words` would give if it classified every char through `class` (no ASCII
    /// shortcut): its definition, char by char.
    fn raw_words_char_by_char(text: &str) -> Vec<(usize, usize, String)> {
        let mut out = Vec::new();
        let mut run_start = 0;
        let mut run_class = Class::Other;
        for (i, c) in text
            .char_indices()
            .chain(std::iter::once((text.len(), ' ')))
        {
            let cl = class(c);
            if cl != run_class {
                let run = &text[run_start..i];
                match run_class {
                    Class::Other => {}
                    Class::Word => out.push((run_start, i, run.to_string())),
                    Class::Cjk => {
                        for t in jieba().tokenize(run, TokenizeMode::Search, true) {
                            let start = t.word.as_ptr() as usize - run.as_ptr() as usize;
                            let end = start + t.word.len();
                            out.push((run_start + start, run_start + end, t.word.to_string()));
                        }
                    }
                }
                run_start = i;
                run_class = cl;
            }
        }
        out
    }

    #[test]
    fn ascii_shortcut_splits_words_as_char_classes_do() {
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/fixtures/arxiv-mini.jsonl"
        );
        let mut texts: Vec<String> = std::fs::read_to_string(path)
            .expect("fixture")
            .lines()
            .take(60)
            .map(String::from)
            .collect();
        texts.extend(
            [
                "使用Transformer模型进行机器翻译 with BERT，效果很好。",
                "Schrödinger's café: naïve Ünïcode, α-helix β2 ＡＢＣ１２３ 😀x",
                "ends in a word",
                "模型",
                "a\u{0301}b",
                "",
            ]
            .map(String::from),
        );
        // Every ASCII byte, in order and interleaved with letters, and a two-byte char at every
        // offset of a 16-byte window (the classified chunks).
        let ascii: String = (0u8..128).map(char::from).collect();
        let mixed: String = (0u8..128).flat_map(|b| [char::from(b), 'x']).collect();
        texts.extend([ascii.clone(), mixed.clone(), ascii.repeat(3)]);
        for at in 0..40 {
            let mut t = "abc def-ghi jkl, mno pqr stu vwx yz 0123 456789".to_string();
            t.insert(at.min(t.len()), 'é');
            texts.push(t);
        }
        for text in &texts {
            let mut ours = Vec::new();
            raw_words(text, |from, to, word| {
                ours.push((from, to, word.to_string()))
            });
            assert_eq!(ours, raw_words_char_by_char(text), "{text}");
        }
    }

    #[test]
    fn keyword_lowercases_whole_value() {
        let mut a = keyword_analyzer();
        let mut s = a.token_stream("cs.CL");
        assert!(s.advance());
        assert_eq!(s.token().text, "cs.cl");
        assert!(!s.advance());
    }
}
