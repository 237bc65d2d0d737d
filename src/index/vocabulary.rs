//! The vocabulary of a deployment whose papers live in Milvus: a small tantivy index of an even
//! sample of the collection's papers, kept in the deployment's state directory, so that the
//! query translation ([`crate::search::translate`]) can ask the papers which translations they
//! use (document frequencies and phrase counts) as it asks the tantivy index, without a count
//! request to Milvus per candidate (one `TEXT_MATCH` count took 0.66 s on milvus-lite at 5,183
//! papers; a Chinese question weighs dozens of candidates).
//!
//! Statistics of a sample are ratios of the whole: which sense of 强化 the papers use, which
//! pairs form their phrases, how much of a word's use is English. A word too rare for the
//! sample is left untranslated (the multilingual dense leg still reads it).
//!
//! The sample is built once (`serve` builds it on its warm-up thread, `search` and `eval` when
//! they first need it) and rebuilt when the collection has grown to twice the papers it was
//! drawn from (checked when it is loaded, and hourly by `serve`), or when it is unreadable.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use serde::{Deserialize, Serialize};
use tantivy::collector::TopDocs;
use tantivy::query::TermQuery;
use tantivy::schema::IndexRecordOption;
use tantivy::Term;

use super::error::IndexError;
use super::milvus::{MilvusError, MilvusStore};
use super::PaperIndex;
use crate::analysis;
use crate::paper::Paper;

/// Papers in a sample: enough that the technical vocabulary of a field shows (a term in one
/// paper in a thousand is in about 20 of them), few enough to read from milvus-lite in
/// seconds and index in a few more.
pub const SAMPLE_PAPERS: usize = 20_000;

/// The sample's directory under the deployment's state directory.
pub const DIR_NAME: &str = "vocabulary";

const META_FILE: &str = "vocabulary.json";

/// Papers whose text is read to find the spelling of a stem.
const SURFACE_PAPERS: usize = 20;

/// Why there is no vocabulary.
#[derive(Debug, thiserror::Error)]
pub enum VocabularyError {
    #[error("cannot read the sample of the collection's papers: {0}")]
    Milvus(#[from] MilvusError),
    #[error("cannot write the vocabulary sample: {0}")]
    Index(#[from] IndexError),
    #[error("cannot write the vocabulary sample at {dir}: {source}")]
    Io {
        dir: PathBuf,
        source: std::io::Error,
    },
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct Meta {
    /// Papers in the sample.
    sampled: u64,
    /// Papers the collection held when the sample was drawn.
    collection_papers: u64,
}

/// A sample of the collection's papers, indexed as the tantivy backend indexes papers.
pub struct Vocabulary {
    index: Arc<PaperIndex>,
    meta: Meta,
    /// Spellings of stems already looked up.
    surface: Mutex<HashMap<String, Vec<(String, f32)>>>,
}

impl std::fmt::Debug for Vocabulary {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Vocabulary")
            .field("dir", &self.index.dir())
            .field("sampled", &self.meta.sampled)
            .field("collection_papers", &self.meta.collection_papers)
            .finish()
    }
}

impl Vocabulary {
    /// The sample at `dir`, `None` when there is none (or it is unreadable: it is then built
    /// again).
    pub fn open(dir: &Path) -> Option<Self> {
        let meta: Meta = serde_json::from_slice(&std::fs::read(dir.join(META_FILE)).ok()?).ok()?;
        let index = PaperIndex::open(dir).ok()?;
        Some(Self::new(index, meta))
    }

    fn new(index: PaperIndex, meta: Meta) -> Self {
        Vocabulary {
            index: Arc::new(index),
            meta,
            surface: Mutex::new(HashMap::new()),
        }
    }

    /// Indexes `papers` as the sample of a collection of `collection_papers` at `dir`,
    /// replacing any sample there. Written beside `dir` and renamed into place: a reader never
    /// sees half a sample, and a crash leaves the old one.
    pub fn build(
        dir: &Path,
        papers: &[Paper],
        collection_papers: u64,
    ) -> Result<Self, VocabularyError> {
        let io = |dir: &Path| {
            let dir = dir.to_path_buf();
            move |source| VocabularyError::Io { dir, source }
        };
        let parent = dir.parent().unwrap_or(Path::new("."));
        std::fs::create_dir_all(parent).map_err(io(parent))?;
        let name = dir.file_name().and_then(|n| n.to_str()).unwrap_or(DIR_NAME);
        let staging = parent.join(format!(".{name}.building-{}", std::process::id()));
        if staging.exists() {
            std::fs::remove_dir_all(&staging).map_err(io(&staging))?;
        }
        let meta = Meta {
            sampled: papers.len() as u64,
            collection_papers,
        };
        {
            let index = PaperIndex::open_or_create(&staging)?;
            let mut writer = index.writer()?;
            for p in papers {
                writer.upsert(p)?;
            }
            writer.commit()?;
            writer.wait_merging_threads()?;
            let json = serde_json::to_vec_pretty(&meta).map_err(|e| VocabularyError::Io {
                dir: staging.clone(),
                source: std::io::Error::other(e),
            })?;
            super::files::write_atomic(&staging.join(META_FILE), &json).map_err(io(&staging))?;
        }
        if dir.exists() {
            std::fs::remove_dir_all(dir).map_err(io(dir))?;
        }
        if let Err(e) = std::fs::rename(&staging, dir) {
            // Another process put its sample in place first: that one serves as well.
            let _ = std::fs::remove_dir_all(&staging);
            return Self::open(dir).ok_or_else(|| io(dir)(e));
        }
        let index = PaperIndex::open(dir)?;
        Ok(Self::new(index, meta))
    }

    /// The sample of `store`'s collection at `dir`: the one there when it is still
    /// representative (the collection has not doubled since), else a new one drawn now.
    pub fn of_store(store: &MilvusStore, dir: &Path) -> Result<Self, VocabularyError> {
        let papers = store.counts()?.papers;
        if let Some(v) = Self::open(dir) {
            if !v.stale(papers) {
                return Ok(v);
            }
        }
        let started = std::time::Instant::now();
        let sample = store.sample(SAMPLE_PAPERS)?;
        let v = Self::build(dir, &sample, papers)?;
        tracing::info!(
            papers = sample.len(),
            collection = papers,
            seconds = format!("{:.1}", started.elapsed().as_secs_f64()),
            "vocabulary sample built for query translation"
        );
        Ok(v)
    }

    /// True when a collection now holding `papers` has outgrown the sample: it was drawn from
    /// fewer than half of them while it could have held more.
    pub fn stale(&self, papers: u64) -> bool {
        self.meta.sampled < SAMPLE_PAPERS as u64 && papers >= 2 * self.meta.collection_papers.max(1)
    }

    /// The sample's index, what translation reads its statistics from.
    pub fn index(&self) -> &Arc<PaperIndex> {
        &self.index
    }

    /// Papers in the sample.
    pub fn sampled(&self) -> u64 {
        self.meta.sampled
    }

    /// How the sample's papers most often spell the analyzed term `stem`, lowercase: `learn`
    /// is "learning" in papers about learning (an index without a stemmer, as Milvus's
    /// analyzers are, matches that word and not the stem). `None` when no sampled paper holds
    /// it.
    pub fn spelling(&self, stem: &str) -> Result<Option<String>, IndexError> {
        Ok(self.spellings(stem)?.into_iter().next().map(|(w, _)| w))
    }

    /// The spellings of `stem` the sample's papers use, most used first, each with its share
    /// of their uses (summing to 1): each that makes at least [`SPELLING_SHARE`] of the stem's
    /// uses, at most [`MAX_SPELLINGS`] (`network` is "networks" 0.71, "network" 0.29 in papers
    /// about networks). Empty when no sampled paper holds it.
    pub fn spellings(&self, stem: &str) -> Result<Vec<(String, f32)>, IndexError> {
        let cached = self
            .surface
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(stem)
            .cloned();
        if let Some(form) = cached {
            return Ok(form);
        }
        let searcher = self.index.reader().searcher();
        let term = Term::from_field_text(self.index.fields().text, stem);
        let query = TermQuery::new(term, IndexRecordOption::Basic);
        let top = searcher.search(&query, &TopDocs::with_limit(SURFACE_PAPERS))?;
        let mut counts: HashMap<String, u32> = HashMap::new();
        for (_, addr) in top {
            let p = self.index.paper_at(&searcher, addr)?;
            for text in [&p.title, &p.abstract_text] {
                analysis::raw_words(text, |_, _, word| {
                    if analysis::normalize_word(word).as_deref() == Some(stem) {
                        *counts.entry(word.to_lowercase()).or_default() += 1;
                    }
                });
            }
        }
        let forms = most_used(counts);
        self.surface
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(stem.to_string(), forms.clone());
        Ok(forms)
    }
}

/// A spelling making less of a stem's uses in the sample is left out of [`Vocabulary::spellings`].
pub const SPELLING_SHARE: f32 = 0.2;

/// Most spellings of one stem.
pub const MAX_SPELLINGS: usize = 3;

/// The spellings of `counts` making at least [`SPELLING_SHARE`] of the uses, most used first
/// (ties by spelling), at most [`MAX_SPELLINGS`], with their shares of the kept ones' uses.
fn most_used(counts: HashMap<String, u32>) -> Vec<(String, f32)> {
    let total: u32 = counts.values().sum();
    let mut forms: Vec<(String, u32)> = counts.into_iter().collect();
    forms.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    let kept: Vec<(String, u32)> = forms
        .into_iter()
        .enumerate()
        .filter(|(i, (_, n))| *i == 0 || *n as f32 >= SPELLING_SHARE * total as f32)
        .take(MAX_SPELLINGS)
        .map(|(_, f)| f)
        .collect();
    let sum = kept.iter().map(|(_, n)| *n).sum::<u32>().max(1) as f32;
    kept.into_iter().map(|(w, n)| (w, n as f32 / sum)).collect()
}

/// The sample's directory for a deployment whose state directory is `state_dir`.
pub fn dir_in(state_dir: &Path) -> PathBuf {
    state_dir.join(DIR_NAME)
}

/// The samples of this process by directory: opened or built once, shared by every search.
static SHARED: Mutex<Vec<(PathBuf, Arc<Vocabulary>)>> = Mutex::new(Vec::new());

/// The sample at `dir` this process has loaded ([`load`]), if any.
pub fn loaded(dir: &Path) -> Option<Arc<Vocabulary>> {
    SHARED
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .iter()
        .find(|(d, _)| d == dir)
        .map(|(_, v)| Arc::clone(v))
}

/// Draws the sample of `store`'s collection at `dir` again when the one this process shares
/// has been outgrown ([`Vocabulary::stale`]); returns the new one, `None` when the shared one
/// still serves (or none is loaded: [`load`] loads it).
pub fn refresh(
    store: &MilvusStore,
    dir: &Path,
) -> Result<Option<Arc<Vocabulary>>, VocabularyError> {
    let Some(current) = loaded(dir) else {
        return Ok(None);
    };
    if !current.stale(store.counts()?.papers) {
        return Ok(None);
    }
    let v = Arc::new(Vocabulary::of_store(store, dir)?);
    let mut shared = SHARED.lock().unwrap_or_else(|e| e.into_inner());
    shared.retain(|(d, _)| d != dir);
    shared.push((dir.to_path_buf(), Arc::clone(&v)));
    Ok(Some(v))
}

/// The sample of `store`'s collection at `dir` ([`Vocabulary::of_store`]), loaded once per
/// process and shared.
pub fn load(store: &MilvusStore, dir: &Path) -> Result<Arc<Vocabulary>, VocabularyError> {
    if let Some(v) = loaded(dir) {
        return Ok(v);
    }
    let v = Arc::new(Vocabulary::of_store(store, dir)?);
    let mut shared = SHARED.lock().unwrap_or_else(|e| e.into_inner());
    if let Some((_, v)) = shared.iter().find(|(d, _)| d == dir) {
        return Ok(Arc::clone(v));
    }
    shared.push((dir.to_path_buf(), Arc::clone(&v)));
    Ok(v)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spellings_are_the_most_used_ones() {
        let counts = |xs: &[(&str, u32)]| -> HashMap<String, u32> {
            xs.iter().map(|(w, n)| (w.to_string(), *n)).collect()
        };
        let forms = |f: Vec<(String, f32)>| f.into_iter().map(|(w, _)| w).collect::<Vec<_>>();
        // "learned" and "learn" make 9 of 58 uses each: under a fifth.
        let learn = counts(&[("learned", 9), ("learning", 40), ("learn", 9)]);
        assert_eq!(most_used(learn), [("learning".to_string(), 1.0)]);
        let tie = counts(&[("models", 3), ("model", 3)]);
        assert_eq!(forms(most_used(tie)), ["model", "models"]);
        let two = counts(&[("networks", 30), ("network", 10), ("networked", 1)]);
        assert_eq!(
            most_used(two),
            [
                ("networks".to_string(), 0.75),
                ("network".to_string(), 0.25)
            ]
        );
        // At most three, each at least a fifth; the most used always.
        let many = counts(&[("a", 5), ("b", 5), ("c", 5), ("d", 5)]);
        assert_eq!(forms(most_used(many)), ["a", "b", "c"]);
        let spread = counts(&[("a", 1), ("b", 1), ("c", 1), ("d", 1), ("e", 1), ("f", 1)]);
        assert_eq!(forms(most_used(spread)), ["a"]);
        assert!(most_used(HashMap::new()).is_empty());
    }

    #[test]
    fn a_sample_is_built_in_place_and_reopened() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let dir = tmp.path().join(DIR_NAME);
        let paper = |id: &str, title: &str, abs: &str| {
            Paper::new(crate::paper::PaperId::new(id), title, abs)
        };
        let papers = vec![
            paper(
                "a",
                "Reinforcement learning for robots",
                "We learn policies; learning is hard.",
            ),
            paper("b", "Graph neural networks", "Networks learned on graphs."),
        ];
        let v = Vocabulary::build(&dir, &papers, 100).expect("builds");
        assert_eq!(v.sampled(), 2);
        assert_eq!(v.index().num_papers(), 2);
        assert_eq!(
            v.spelling("learn").expect("reads").as_deref(),
            Some("learning")
        );
        assert_eq!(
            v.spellings("learn").expect("reads"),
            [
                ("learning".to_string(), 0.5),
                ("learn".to_string(), 0.25),
                ("learned".to_string(), 0.25)
            ]
        );
        assert_eq!(v.spelling("quantum").expect("reads"), None);
        assert!(!v.stale(199));
        assert!(v.stale(200));
        let again = Vocabulary::open(&dir).expect("reopens");
        assert_eq!(again.sampled(), 2);
        // A rebuild replaces it; no staging directory is left behind.
        let v = Vocabulary::build(&dir, &papers[..1], 100).expect("rebuilds");
        assert_eq!(v.index().num_papers(), 1);
        let left: Vec<_> = std::fs::read_dir(tmp.path()).expect("lists").collect();
        assert_eq!(left.len(), 1);
    }
}
