//! The Chinese-English dictionary of query translation: CC-CEDICT, parsed once.
//!
//! CC-CEDICT (CC BY-SA 4.0, <https://cc-cedict.org/>) lists each word as
//! `traditional simplified [pinyin] /gloss/gloss/.../`. A word is looked up by either form;
//! entries with the same headword (readings of one word) are merged, glosses in file order (the
//! common sense first). Glosses are cleaned for retrieval: cross references (`see ...`,
//! `variant of ...`, `CL:...`), surnames and abbreviation notes are dropped, parenthesised notes
//! and a leading `to ` are removed, and only short glosses (at most [`MAX_GLOSS_WORDS`] words)
//! are kept: a long gloss explains a word, it does not translate it.
//!
//! The dictionary also answers which glosses share a headword with a gloss (`strengthen` and
//! `reinforce` both translate 加强): the English synonyms query translation offers when the
//! glosses of a word part do not form a term the papers use (强化 + 学习 is "reinforcement
//! learning", not "strengthen learn"). Which candidate wins is the index's call, see
//! [`super`].
//!
//! CC-CEDICT lacks most technical senses; a glossary built with the multilingual embedding
//! model ([`GLOSSARY`]) adds them after the dictionary's own, with words of jieba's
//! dictionary CC-CEDICT lacks (卷积) as headwords of their own, and keeps its weaker matches
//! apart as loose glosses ([`Dictionary::loose_glosses`]), which query translation trusts
//! only where the papers confirm them.
//!
//! Nothing here panics on bad input: a file that is not CC-CEDICT is an error.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

/// File name of CC-CEDICT in the cache (`scripts/fetch-models` puts it in `ROOT/cedict/`).
pub const CEDICT_FILE: &str = "cedict_1_0_ts_utf-8_mdbg.txt";
/// The model glossary: English words the multilingual embedding model puts nearest to a
/// CC-CEDICT headword or a jieba word, where the match is strong and clear (分割 -> segment,
/// 对抗 -> adversaries, 驾驶 -> driving: technical senses the dictionary lacks), then its
/// weaker matches as loose glosses (卷积 -> convolutional, among "encoding" and "knot"). Lines are
/// `headword TAB glosses TAB loose glosses`. Built by `scripts/models/neural_glosses.py`;
/// merged after the dictionary's own senses by [`Dictionary::load`], so corpus statistics
/// choose between them as between any senses.
pub const GLOSSARY: &str = include_str!("glossary.tsv");
/// Glosses of more words than this explain rather than translate, and are not kept.
pub const MAX_GLOSS_WORDS: usize = 4;
/// Headwords longer than this (in characters) are not indexed: no query word is that long.
pub const MAX_WORD_CHARS: usize = 12;

/// Errors loading the dictionary.
#[derive(Debug, thiserror::Error)]
pub enum DictError {
    #[error("cannot read the CC-CEDICT dictionary {path}: {source}; run `scripts/fetch-models` (or set ACADEMICHUB_CEDICT to the file)")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path} is not a CC-CEDICT file: {reason}")]
    Invalid { path: PathBuf, reason: String },
}

/// CC-CEDICT, indexed by headword (traditional and simplified) and by gloss.
#[derive(Debug, Default)]
pub struct Dictionary {
    /// Every cleaned gloss once; ids index `by_gloss`.
    glosses: Vec<Box<str>>,
    gloss_ids: HashMap<Box<str>, u32>,
    /// Per merged entry: its gloss ids, common sense first.
    entries: Vec<Vec<u32>>,
    /// Headword (either form) -> entry.
    by_word: HashMap<Box<str>, u32>,
    /// Gloss id -> the entries glossing it.
    by_gloss: Vec<Vec<u32>>,
    /// Entry -> its loose glosses (model matches too weak to trust alone); not in
    /// `by_gloss`, so never offered as anyone's synonym.
    loose: HashMap<u32, Vec<u32>>,
    /// Entries read from CC-CEDICT; those after them the glossary added (words CC-CEDICT
    /// lacks).
    cedict_entries: usize,
    longest_word: usize,
}

impl Dictionary {
    /// Parses CC-CEDICT text. Fails when no line parses, or when more than one non-comment
    /// line in a hundred is malformed (not a CC-CEDICT file, or a truncated one).
    pub fn parse(text: &str, path: &Path) -> Result<Dictionary, DictError> {
        let mut dict = Dictionary::default();
        let (mut lines, mut bad) = (0usize, 0usize);
        for line in text.lines() {
            let line = line.trim_end_matches('\r');
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            lines += 1;
            match parse_line(line) {
                Some((trad, simp, glosses)) => dict.add(trad, simp, glosses),
                None => bad += 1,
            }
        }
        let invalid = |reason: String| DictError::Invalid {
            path: path.to_path_buf(),
            reason,
        };
        if dict.entries.is_empty() {
            return Err(invalid(format!(
                "no entry could be read from its {lines} lines"
            )));
        }
        if bad * 100 > lines {
            return Err(invalid(format!("{bad} of its {lines} lines are malformed")));
        }
        dict.cedict_entries = dict.entries.len();
        Ok(dict)
    }

    /// Appends the glosses of a model glossary (`headword TAB gloss/gloss/... [TAB loose
    /// gloss/...]` lines, `#` comments) after the CC-CEDICT senses of each headword; a
    /// headword of Han characters the dictionary lacks becomes an entry of its own
    /// ([`Self::is_glossary_only`]). Loose glosses are kept apart ([`Self::loose_glosses`]).
    /// Malformed lines are skipped. Returns how many headwords gained a gloss.
    pub fn merge_glossary(&mut self, text: &str) -> usize {
        let mut merged = 0;
        for line in text.lines() {
            if line.starts_with('#') {
                continue;
            }
            let mut columns = line.split('\t');
            let (Some(word), Some(glosses)) = (columns.next(), columns.next()) else {
                continue;
            };
            let strict: Vec<String> = glosses.split('/').filter_map(clean_gloss).collect();
            let loose: Vec<String> = columns
                .next()
                .unwrap_or("")
                .split('/')
                .filter_map(clean_gloss)
                .collect();
            if strict.is_empty() && loose.is_empty() {
                continue;
            }
            let entry = match self.by_word.get(word) {
                Some(&entry) => entry,
                None => {
                    let chars = word.chars().count();
                    if !(2..=MAX_WORD_CHARS).contains(&chars)
                        || !word.chars().all(crate::analysis::is_cjk)
                    {
                        continue;
                    }
                    self.entries.push(Vec::new());
                    let entry = (self.entries.len() - 1) as u32;
                    self.longest_word = self.longest_word.max(chars);
                    self.by_word.insert(word.into(), entry);
                    entry
                }
            };
            let mut added = false;
            for gloss in strict {
                let id = self.intern(gloss);
                added |= self.push_gloss(entry, id);
            }
            for gloss in loose {
                // Interned like any gloss (a vocabulary of a few thousand words), but not
                // recorded in `by_gloss`.
                let id = self.intern(gloss);
                let slot = self.loose.entry(entry).or_default();
                if !self.entries[entry as usize].contains(&id) && !slot.contains(&id) {
                    slot.push(id);
                    added = true;
                }
            }
            merged += usize::from(added);
        }
        merged
    }

    /// Reads and parses the file at `path`, then merges the built-in model glossary
    /// ([`GLOSSARY`]) unless `ACADEMICHUB_GLOSSARY=0` (to measure or search without it).
    pub fn load(path: &Path) -> Result<Dictionary, DictError> {
        let bytes = std::fs::read(path).map_err(|source| DictError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        let text = String::from_utf8(bytes).map_err(|e| DictError::Invalid {
            path: path.to_path_buf(),
            reason: format!("not UTF-8 (at byte {})", e.utf8_error().valid_up_to()),
        })?;
        let mut dict = Dictionary::parse(&text, path)?;
        if std::env::var_os("ACADEMICHUB_GLOSSARY").is_none_or(|v| v != "0") {
            dict.merge_glossary(GLOSSARY);
        }
        Ok(dict)
    }

    fn add(&mut self, trad: &str, simp: &str, raw: &str) {
        let ids: Vec<u32> = raw
            .split('/')
            .filter_map(clean_gloss)
            .map(|g| self.intern(g))
            .collect();
        if ids.is_empty() {
            return;
        }
        let existing = self.by_word.get(simp).or_else(|| self.by_word.get(trad));
        let entry = match existing {
            Some(&e) => e,
            None => {
                self.entries.push(Vec::new());
                (self.entries.len() - 1) as u32
            }
        };
        for word in [simp, trad] {
            let chars = word.chars().count();
            if chars > MAX_WORD_CHARS {
                continue;
            }
            self.longest_word = self.longest_word.max(chars);
            self.by_word.entry(word.into()).or_insert(entry);
        }
        for id in ids {
            self.push_gloss(entry, id);
        }
    }

    /// Adds gloss `id` to `entry` (after its others) unless it has it; true when added.
    fn push_gloss(&mut self, entry: u32, id: u32) -> bool {
        let glosses = &mut self.entries[entry as usize];
        if glosses.contains(&id) {
            return false;
        }
        glosses.push(id);
        self.by_gloss[id as usize].push(entry);
        true
    }

    fn intern(&mut self, gloss: String) -> u32 {
        if let Some(&id) = self.gloss_ids.get(gloss.as_str()) {
            return id;
        }
        let id = self.glosses.len() as u32;
        let gloss: Box<str> = gloss.into();
        self.glosses.push(gloss.clone());
        self.gloss_ids.insert(gloss, id);
        self.by_gloss.push(Vec::new());
        id
    }

    /// Number of distinct headwords.
    pub fn len(&self) -> usize {
        self.by_word.len()
    }

    /// True when the dictionary has no entry (never, for a loaded one).
    pub fn is_empty(&self) -> bool {
        self.by_word.is_empty()
    }

    /// Length in characters of the longest headword.
    pub fn longest_word(&self) -> usize {
        self.longest_word
    }

    /// True when `word` (simplified or traditional) is a headword.
    pub fn contains(&self, word: &str) -> bool {
        self.by_word.contains_key(word)
    }

    /// The cleaned glosses of `word`, common sense first; empty when it is not a headword.
    pub fn glosses(&self, word: &str) -> Vec<&str> {
        match self.by_word.get(word) {
            Some(&e) => self.entry_glosses(e).collect(),
            None => Vec::new(),
        }
    }

    /// The loose glosses of `word`: the glossary's weaker model matches, to be trusted only
    /// with other evidence (a phrase of the papers). Empty for most words.
    pub fn loose_glosses(&self, word: &str) -> Vec<&str> {
        self.by_word
            .get(word)
            .and_then(|e| self.loose.get(e))
            .map(|g| g.iter().map(|&g| &*self.glosses[g as usize]).collect())
            .unwrap_or_default()
    }

    /// True when `word` is a headword only through the glossary (a jieba word CC-CEDICT
    /// lacks): where its glosses fail, its parts may still translate.
    pub fn is_glossary_only(&self, word: &str) -> bool {
        self.by_word
            .get(word)
            .is_some_and(|&e| e as usize >= self.cedict_entries)
    }

    fn entry_glosses(&self, entry: u32) -> impl Iterator<Item = &str> + '_ {
        self.entries[entry as usize]
            .iter()
            .map(|&g| &*self.glosses[g as usize])
    }

    /// Glosses sharing a headword with `gloss` (not `gloss` itself), each with the number of
    /// headwords they share, most shared first, then in the order met; at most `limit`.
    /// Only the first `per_entry` glosses of each headword are considered: the rest are rarer
    /// senses, not synonyms.
    pub fn synonyms(&self, gloss: &str, per_entry: usize, limit: usize) -> Vec<(&str, usize)> {
        let Some(&id) = self.gloss_ids.get(gloss) else {
            return Vec::new();
        };
        let mut found: Vec<(u32, usize)> = Vec::new();
        for &entry in &self.by_gloss[id as usize] {
            let top = &self.entries[entry as usize];
            // Only headwords for which `gloss` is itself a main sense.
            if !top.iter().take(per_entry).any(|&g| g == id) {
                continue;
            }
            for &other in top.iter().take(per_entry) {
                if other == id {
                    continue;
                }
                match found.iter_mut().find(|(g, _)| *g == other) {
                    Some((_, n)) => *n += 1,
                    None => found.push((other, 1)),
                }
            }
        }
        // Stable: equal counts keep the order met.
        found.sort_by_key(|f| std::cmp::Reverse(f.1));
        found
            .into_iter()
            .take(limit)
            .map(|(g, n)| (&*self.glosses[g as usize], n))
            .collect()
    }
}

/// `traditional simplified [pinyin] /gloss/.../` split into its parts.
fn parse_line(line: &str) -> Option<(&str, &str, &str)> {
    let (trad, rest) = line.split_once(' ')?;
    let (simp, rest) = rest.split_once(' ')?;
    let rest = rest.strip_prefix('[')?;
    let (_, rest) = rest.split_once("] ")?;
    let glosses = rest.strip_prefix('/')?.trim_end().strip_suffix('/')?;
    if trad.is_empty() || simp.is_empty() {
        return None;
    }
    Some((trad, simp, glosses))
}

/// A gloss as a translation: `None` for cross references, classifiers, surnames and notes.
pub fn clean_gloss(raw: &str) -> Option<String> {
    const DROP_PREFIXES: &[&str] = &[
        "cl:",
        "see ",
        "see also",
        "variant of",
        "old variant of",
        "archaic variant of",
        "japanese variant of",
        "also written",
        "also pr.",
        "surname ",
        "abbr. for",
        "abbr. of",
        "abbr. to",
        "used in",
        "used as",
        "erhua variant",
        "classifier for",
        "(bound form)",
        "pr.",
        "radical in chinese characters",
    ];
    let lower = raw.trim().to_lowercase();
    if lower.is_empty()
        || DROP_PREFIXES.iter().any(|p| lower.starts_with(p))
        || lower.contains("variant of")
    {
        return None;
    }
    // Notes in parentheses ("(of a storm)", "(math.)") go; so do references with brackets.
    let mut text = String::with_capacity(raw.len());
    let mut depth = 0usize;
    for c in raw.chars() {
        match c {
            '(' => depth += 1,
            ')' => depth = depth.saturating_sub(1),
            _ if depth == 0 => text.push(c),
            _ => {}
        }
    }
    if text.contains(['|', '[', ']']) || text.chars().any(crate::analysis::is_cjk) {
        return None;
    }
    let mut words: Vec<&str> = text
        .split(|c: char| c.is_whitespace() || c == ',' || c == ';')
        .filter(|w| !w.is_empty())
        .collect();
    for lead in ["lit.", "fig.", "to", "a", "an", "the", "sb", "sth"] {
        if words.len() > 1 && words[0].eq_ignore_ascii_case(lead) {
            words.remove(0);
        }
    }
    words.retain(|w| !matches!(*w, "sb" | "sth" | "sb's" | "sth's" | "etc" | "etc."));
    if words.len() > MAX_GLOSS_WORDS {
        // A person's entry: "Albert Einstein (1879-1955), German-born theoretical
        // physicist" translates as the name before the description.
        let name: Vec<&str> = text
            .split([',', ';'])
            .next()
            .unwrap_or("")
            .split_whitespace()
            .collect();
        let capitalized = |w: &&str| w.chars().next().is_some_and(char::is_uppercase);
        if name.len() < words.len() && name.len() <= MAX_GLOSS_WORDS && name.iter().all(capitalized)
        {
            words = name;
        }
    }
    if words.is_empty() || words.len() > MAX_GLOSS_WORDS {
        return None;
    }
    if !words
        .iter()
        .any(|w| w.chars().any(|c| c.is_ascii_alphabetic()))
    {
        return None;
    }
    Some(words.join(" "))
}

/// Where the dictionary is read from: `$ACADEMICHUB_CEDICT`, else `cedict/` under the model
/// cache root (see [`crate::embed::default_cache_root`]).
pub fn default_path() -> PathBuf {
    if let Some(p) = std::env::var_os("ACADEMICHUB_CEDICT").filter(|p| !p.is_empty()) {
        return PathBuf::from(p);
    }
    crate::embed::default_cache_root()
        .join("cedict")
        .join(CEDICT_FILE)
}

static SHARED: OnceLock<Result<Dictionary, String>> = OnceLock::new();

/// The process's dictionary, loaded from [`default_path`] on first use (about a fifth of a
/// second), or why it could not be: searches then go on without translation.
pub fn shared() -> Result<&'static Dictionary, &'static str> {
    SHARED
        .get_or_init(|| Dictionary::load(&default_path()).map_err(|e| e.to_string()))
        .as_ref()
        .map_err(String::as_str)
}

/// Installs `dict` as the process's dictionary (the tests' excerpt) when none is loaded
/// yet; returns false when one already was.
pub fn install(dict: Dictionary) -> bool {
    SHARED.set(Ok(dict)).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAMPLE: &str = "# CC-CEDICT\n\
        強化 强化 [qiang2 hua4] /to strengthen/to intensify/\n\
        加強 加强 [jia1 qiang2] /to reinforce/to strengthen/to increase/\n\
        學習 学习 [xue2 xi2] /to learn/to study/\n\
        圖 图 [tu2] /diagram/picture/drawing/chart/map/CL:張|张[zhang1]/to plan/\n\
        圖形 图形 [tu2 xing2] /picture/figure/diagram/graph/depiction/graphical/\n\
        機制 机制 [ji1 zhi4] /mechanism/\n\
        機製 机制 [ji1 zhi4] /machine processed/machine made/mechanism/\n\
        大 大 [dai4] /see 大夫[dai4 fu5]/\n\
        網絡 网络 [wang3 luo4] /network (computing, telecommunications, transport etc)/\n";

    fn sample() -> Dictionary {
        Dictionary::parse(SAMPLE, Path::new("sample")).expect("parses")
    }

    #[test]
    fn glosses_are_cleaned_and_merged_by_headword() {
        let d = sample();
        assert_eq!(d.glosses("强化"), ["strengthen", "intensify"]);
        assert_eq!(
            d.glosses("強化"),
            ["strengthen", "intensify"],
            "traditional"
        );
        assert_eq!(
            d.glosses("图"),
            ["diagram", "picture", "drawing", "chart", "map", "plan"]
        );
        // Two entries of one headword merge, without repeating a gloss.
        assert_eq!(
            d.glosses("机制"),
            ["mechanism", "machine processed", "machine made"]
        );
        assert_eq!(d.glosses("网络"), ["network"], "parenthesised note removed");
        // Only a cross reference: no entry at all.
        assert!(!d.contains("大"));
        assert!(d.glosses("不在").is_empty());
        assert_eq!(d.longest_word(), 2);
    }

    #[test]
    fn synonyms_come_from_shared_headwords() {
        let d = sample();
        let syn: Vec<&str> = d
            .synonyms("strengthen", 3, 10)
            .into_iter()
            .map(|(g, _)| g)
            .collect();
        assert_eq!(syn, ["intensify", "reinforce", "increase"]);
        let graph: Vec<&str> = d.synonyms("diagram", 4, 10).iter().map(|s| s.0).collect();
        assert!(graph.contains(&"graph"), "{graph:?}");
        assert!(d.synonyms("no such gloss", 3, 10).is_empty());
    }

    #[test]
    fn clean_gloss_drops_references_and_notes() {
        assert_eq!(clean_gloss("to strengthen").as_deref(), Some("strengthen"));
        assert_eq!(clean_gloss("CL:張|张[zhang1]"), None);
        assert_eq!(clean_gloss("see 大夫[dai4 fu5]"), None);
        assert_eq!(clean_gloss("variant of 強|强[qiang2]"), None);
        assert_eq!(clean_gloss("surname Qiang"), None);
        assert_eq!(
            clean_gloss("graph theory (math.)").as_deref(),
            Some("graph theory")
        );
        assert_eq!(
            clean_gloss("to look after sb (esp. a child)").as_deref(),
            Some("look after")
        );
        assert_eq!(clean_gloss("a very long explanation of what it is"), None);
        // A person's entry translates as the name.
        assert_eq!(
            clean_gloss("Albert Einstein (1879-1955), German-born theoretical physicist")
                .as_deref(),
            Some("Albert Einstein")
        );
        assert_eq!(
            clean_gloss("long explanation, of what it is about here"),
            None
        );
        assert_eq!(clean_gloss("(dialect)"), None);
        assert_eq!(clean_gloss(""), None);
    }

    #[test]
    fn the_glossary_adds_senses_after_the_dictionary_own() {
        let mut d = sample();
        let merged = d.merge_glossary(
            "# comment\n网络\tnetwork/networks/networking\n学习\tlearning\n\
             分割\tsegment\n图谱\t\tgraph/spectrum\n图\t\tdiagram/graph\n\
             malformed line\nabc\tletters\n",
        );
        assert_eq!(merged, 5);
        // Words the sample lacks become headwords of the glossary only; Latin ones do not.
        assert!(d.contains("分割") && d.is_glossary_only("分割"));
        assert_eq!(d.glosses("分割"), ["segment"]);
        assert!(!d.contains("abc"));
        assert!(!d.is_glossary_only("网络"));
        // Loose glosses are kept apart, never repeat a sense, and are nobody's synonym.
        assert!(d.glosses("图谱").is_empty());
        assert_eq!(d.loose_glosses("图谱"), ["graph", "spectrum"]);
        assert_eq!(d.loose_glosses("图"), ["graph"]);
        assert!(d.synonyms("spectrum", 4, 10).is_empty());
        assert!(d.loose_glosses("网络").is_empty());
        assert_eq!(d.glosses("网络"), ["network", "networks", "networking"]);
        assert_eq!(d.glosses("学习"), ["learn", "study", "learning"]);
        // A merged gloss is a sense like any other: its headword is found from it.
        assert_eq!(d.synonyms("learning", 3, 5), [("learn", 1), ("study", 1)]);
    }

    #[test]
    fn the_shipped_glossary_is_well_formed_and_holds_technical_senses() {
        let mut lines = 0;
        for line in GLOSSARY.lines().filter(|l| !l.starts_with('#')) {
            let columns: Vec<&str> = line.split('\t').collect();
            assert!(
                (2..=3).contains(&columns.len()),
                "headword TAB glosses: {line}"
            );
            assert!((2..=4).contains(&columns[0].chars().count()), "{line}");
            let glosses = |c: usize| {
                columns
                    .get(c)
                    .map_or(0, |g| g.split('/').filter(|g| !g.is_empty()).count())
            };
            assert!(
                glosses(1) + glosses(2) > 0 && glosses(1) <= 3 && glosses(2) <= 8,
                "{line}"
            );
            lines += 1;
        }
        assert!(lines > 1000, "{lines} glossary lines");
        let find = |w: &str| {
            GLOSSARY
                .lines()
                .find_map(|l| l.strip_prefix(&format!("{w}\t")).map(str::to_owned))
        };
        assert!(find("分割").is_some_and(|g| g.contains("segment")));
        assert!(find("驾驶").is_some_and(|g| g.contains("driving")));
        // A jieba word CC-CEDICT lacks, with only loose matches (third column).
        let conv = find("卷积").expect("卷积 has a line");
        assert!(
            conv.starts_with('\t') && conv.contains("convolutional"),
            "{conv}"
        );
    }

    #[test]
    fn a_file_that_is_not_cedict_is_an_error() {
        let p = Path::new("x");
        assert!(matches!(
            Dictionary::parse("", p),
            Err(DictError::Invalid { .. })
        ));
        let junk = "hello world\nnot a dictionary\n";
        assert!(matches!(
            Dictionary::parse(junk, p),
            Err(DictError::Invalid { .. })
        ));
        // A truncated file: many broken lines among good ones.
        let mut text = String::from(SAMPLE);
        for _ in 0..20 {
            text.push_str("強化 强化 [qiang2\n");
        }
        assert!(Dictionary::parse(&text, p).is_err());
        let missing = Dictionary::load(Path::new("/no/such/cedict.txt"));
        assert!(matches!(missing, Err(DictError::Read { .. })));
    }
}
