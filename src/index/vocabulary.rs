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

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use serde::{Deserialize, Serialize};

use super::error::IndexError;
use super::milvus::{MilvusError, MilvusStore};
use super::PaperIndex;
use crate::paper::Paper;

/// Papers in a sample: enough that the technical vocabulary of a field shows (a term in one
/// paper in a thousand is in about 20 of them), few enough to read from milvus-lite in
/// seconds and index in a few more.
pub const SAMPLE_PAPERS: usize = 20_000;

/// The sample's directory under the deployment's state directory.
pub const DIR_NAME: &str = "vocabulary";

const META_FILE: &str = "vocabulary.json";

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
    use tantivy::Term;

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
        // Indexed as the index indexes papers: "learning", "learn", "learned" are one term.
        let searcher = v.index().reader().searcher();
        let df = |t: &str| {
            let term = Term::from_field_text(v.index().fields().text, t);
            searcher.doc_freq(&term).expect("reads")
        };
        assert_eq!((df("learn"), df("network"), df("quantum")), (2, 1, 0));
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
