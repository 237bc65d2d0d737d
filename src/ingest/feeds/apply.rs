//! Announce semantics against the index: every parsed entry is merged with the stored paper of
//! the same id, and only papers whose merged record differs are written.
//!
//! The merge is order-independent, so re-ingesting captures in any order converges to one
//! state: the highest version's text wins (`new` adds, `replace`/`replace-cross` move a paper to
//! its new version, an older version never downgrades it), categories are the union with the
//! primary of the newest version first and the others sorted (`cross` adds or extends
//! categories), `published` is the earliest date seen and `updated` the latest, and optional
//! fields a record lacks are filled from the other. Blocking: call from `spawn_blocking`.

use std::collections::{BTreeSet, HashMap};
use std::sync::Mutex;

use indicatif::{ProgressBar, ProgressStyle};

use super::{FeedEntry, FeedStore, IngestError};
use crate::embed::{passage_text, Embedder};
use crate::index::milvus::{key, MilvusStore};
use crate::index::{IndexError, PaperIndex};
use crate::paper::Paper;

/// What merging an entry into the index decided.
#[derive(Debug, Clone, PartialEq)]
pub enum Merge {
    /// No paper with this id yet.
    New(Paper),
    /// The merged paper differs from the stored one.
    Updated(Paper),
    /// Nothing to write.
    Unchanged,
}

fn union_categories(primary: Option<&str>, a: &[String], b: &[String]) -> Vec<String> {
    let rest: BTreeSet<&String> = a
        .iter()
        .chain(b)
        .filter(|c| Some(c.as_str()) != primary)
        .collect();
    primary
        .map(str::to_string)
        .into_iter()
        .chain(rest.into_iter().cloned())
        .collect()
}

fn min_date(a: Option<time::Date>, b: Option<time::Date>) -> Option<time::Date> {
    match (a, b) {
        (Some(x), Some(y)) => Some(x.min(y)),
        (x, y) => x.or(y),
    }
}

fn max_date(a: Option<time::Date>, b: Option<time::Date>) -> Option<time::Date> {
    match (a, b) {
        (Some(x), Some(y)) => Some(x.max(y)),
        (x, y) => x.or(y),
    }
}

/// Merges `incoming` into `stored` (pure; see the module docs for the rules).
pub fn merge(stored: Option<&Paper>, incoming: Paper) -> Merge {
    let Some(stored) = stored else {
        let mut p = incoming;
        p.categories = union_categories(
            p.primary_category().map(str::to_string).as_deref(),
            &p.categories,
            &[],
        );
        return Merge::New(p);
    };
    let (base, other) = if incoming.version >= stored.version {
        (incoming, stored)
    } else {
        (stored.clone(), &incoming)
    };
    let mut p = base;
    let primary = p
        .primary_category()
        .or(other.primary_category())
        .map(str::to_string);
    p.categories = union_categories(primary.as_deref(), &p.categories, &other.categories);
    let same_set = p.categories.len() == stored.categories.len()
        && p.categories.iter().all(|c| stored.categories.contains(c))
        && p.primary_category() == stored.primary_category();
    if same_set {
        // Keep the stored order (a corpus import's arXiv order) when nothing was added.
        p.categories = stored.categories.clone();
    }
    p.published = min_date(p.published, other.published);
    p.updated = max_date(max_date(p.updated, other.updated), p.published);
    if p.authors.is_empty() {
        p.authors = other.authors.clone();
    }
    for (mine, theirs) in [
        (&mut p.url, &other.url),
        (&mut p.doi, &other.doi),
        (&mut p.comment, &other.comment),
        (&mut p.journal_ref, &other.journal_ref),
    ] {
        if mine.is_none() {
            mine.clone_from(theirs);
        }
    }
    if p.source.is_empty() {
        p.source.clone_from(&other.source);
    }
    if &p == stored {
        Merge::Unchanged
    } else {
        Merge::Updated(p)
    }
}

/// Counts of one apply run.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct ApplyStats {
    pub new: u64,
    pub updated: u64,
    pub unchanged: u64,
    /// Papers whose vector was computed now.
    pub embedded: u64,
    /// New or changed papers left without a vector (index has vectors, no embedder given).
    pub not_embedded: u64,
    /// Index commits made (batches written, on the Milvus backend).
    pub commits: u64,
    /// Papers the store could not hold (a field too long for Milvus), left out with a log line.
    #[serde(skip_serializing_if = "is_zero")]
    pub refused: u64,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

/// A stored paper with what decides vector reuse.
struct Stored {
    paper: Paper,
    content_hash: Option<u64>,
    vector: Option<Vec<f32>>,
}

fn lookup(index: &PaperIndex, id: &crate::paper::PaperId) -> Result<Option<Stored>, IndexError> {
    let searcher = index.reader().searcher();
    let Some(found) = index.stored(&searcher, id)? else {
        return Ok(None);
    };
    let content_hash = found
        .content_hash
        .ok_or_else(|| IndexError::CorruptDoc(format!("paper {id} has no content hash")))?;
    Ok(Some(Stored {
        paper: found.paper,
        content_hash: Some(content_hash),
        vector: found.vector,
    }))
}

/// The stored papers of a Milvus collection among `entries`, by lowercased id (one read for a
/// batch: a call per paper would cost a network round trip each).
fn lookup_milvus(
    store: &MilvusStore,
    entries: &[FeedEntry],
) -> Result<HashMap<String, Stored>, IngestError> {
    let ids: Vec<_> = entries.iter().map(|e| e.paper.id.clone()).collect();
    Ok(store
        .get(&ids)?
        .into_iter()
        .map(|row| {
            (
                key(&row.paper.id),
                Stored {
                    content_hash: Some(row.content_hash),
                    paper: row.paper,
                    vector: row.vector,
                },
            )
        })
        .collect())
}

/// Where apply writes: the index and its shared writer, or a Milvus collection; and
/// optionally an embedder.
pub struct ApplyTarget<'a> {
    pub store: &'a FeedStore,
    pub embedder: Option<&'a Mutex<Box<dyn Embedder>>>,
    /// Papers written between commits.
    pub commit_every: usize,
    /// Show a progress bar on stderr.
    pub progress: bool,
    /// Source name for logs.
    pub source: &'a str,
}

fn lock<'a, T>(
    m: &'a Mutex<T>,
    what: &'static str,
) -> Result<std::sync::MutexGuard<'a, T>, IngestError> {
    m.lock().map_err(|_| IngestError::Poisoned { what })
}

/// Merges and writes `entries`, committing every `commit_every` entries (and at the end) and
/// reloading the reader after each commit. Blocking.
pub fn apply(target: &ApplyTarget<'_>, entries: Vec<FeedEntry>) -> Result<ApplyStats, IngestError> {
    let (index, writer, milvus): (Option<&PaperIndex>, _, Option<&MilvusStore>) = match target.store
    {
        FeedStore::Tantivy { index, writer } => (Some(&**index), Some(&**writer), None),
        FeedStore::Milvus { store, .. } => (None, None, Some(&**store)),
    };
    // Whether new papers get vectors (the store holds some model's), and the embedder for
    // them when it is that model.
    let has_model = match (index, milvus) {
        (Some(index), _) => {
            index.reload()?;
            index.embedding_model().is_some()
        }
        _ => true,
    };
    let embedder = match target.embedder {
        Some(e) if has_model => {
            let id = lock(e, "embedder")?.id().clone();
            match (index, milvus) {
                (Some(index), _) => {
                    if let Some(model) = index.embedding_model().filter(|m| m != &id) {
                        return Err(IngestError::Index(IndexError::ModelMismatch {
                            dir: index.dir().to_path_buf(),
                            index_model: format!("{} ({})", model.name, model.hash),
                            requested: format!("{} ({})", id.name, id.hash),
                        }));
                    }
                }
                (None, Some(store)) => store.check_model(&id)?,
                (None, None) => {}
            }
            Some(e)
        }
        _ => None,
    };
    let bar = if target.progress && entries.len() > 1 {
        let b = ProgressBar::new(entries.len() as u64);
        b.set_style(
            ProgressStyle::with_template(&format!(
                "{{spinner}} {} [{{bar:30}}] {{pos}}/{{len}} entries {{msg}} ({{elapsed}}, eta {{eta}})",
                target.source
            ))
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> "),
        );
        b
    } else {
        ProgressBar::hidden()
    };
    let mut stats = ApplyStats::default();
    // Papers written by this run, by lowercased id: later entries merge with these, not with
    // the (older) committed copy.
    let mut pending: HashMap<String, (Paper, Option<Vec<f32>>)> = HashMap::new();
    let chunk_size = target.commit_every.max(1);
    let mut entries = entries.into_iter().peekable();
    while entries.peek().is_some() {
        let chunk: Vec<FeedEntry> = entries.by_ref().take(chunk_size).collect();
        let n = chunk.len() as u64;
        let mut fetched = match milvus {
            Some(store) => lookup_milvus(store, &chunk)?,
            None => HashMap::new(),
        };
        // Papers to write in this batch (one slot per id) and the slots needing a vector.
        let mut writes: Vec<(Paper, Option<Vec<f32>>)> = Vec::new();
        let mut slot_of: HashMap<String, usize> = HashMap::new();
        for entry in chunk {
            let key = entry.paper.id.as_str().to_lowercase();
            let stored = match pending.get(&key) {
                Some((p, v)) => Some(Stored {
                    content_hash: Some(p.content_hash()),
                    paper: p.clone(),
                    vector: v.clone(),
                }),
                None => match index {
                    Some(index) => lookup(index, &entry.paper.id)?,
                    None => fetched.remove(&key),
                },
            };
            let decision = merge(stored.as_ref().map(|s| &s.paper), entry.paper);
            let paper = match decision {
                Merge::Unchanged => {
                    stats.unchanged += 1;
                    continue;
                }
                Merge::New(p) => {
                    stats.new += 1;
                    p
                }
                Merge::Updated(p) => {
                    stats.updated += 1;
                    p
                }
            };
            let same_text = stored
                .as_ref()
                .is_some_and(|s| s.content_hash == Some(paper.content_hash()));
            let kept = stored.filter(|_| same_text).and_then(|s| s.vector);
            match slot_of.get(&key) {
                Some(&i) => writes[i] = (paper.clone(), kept.clone()),
                None => {
                    slot_of.insert(key.clone(), writes.len());
                    writes.push((paper.clone(), kept.clone()));
                }
            }
            pending.insert(key, (paper, kept));
        }
        let to_embed: Vec<usize> = if has_model {
            (0..writes.len())
                .filter(|&i| writes[i].1.is_none())
                .collect()
        } else {
            Vec::new()
        };
        if embedder.is_none() {
            stats.not_embedded += to_embed.len() as u64;
        }
        if let Some(e) = embedder {
            if !to_embed.is_empty() {
                let texts: Vec<String> = to_embed
                    .iter()
                    .map(|&i| passage_text(&writes[i].0.title, &writes[i].0.abstract_text))
                    .collect();
                bar.set_message("embedding");
                let vectors = lock(e, "embedder")?
                    .embed_passages(&texts)
                    .map_err(IngestError::Embed)?;
                stats.embedded += vectors.len() as u64;
                for (i, v) in to_embed.into_iter().zip(vectors) {
                    writes[i].1 = Some(v);
                }
            }
        }
        if let (Some(store), false) = (milvus, writes.is_empty()) {
            // Papers Milvus cannot hold are left out (logged); the others are written.
            for (id, why) in store.refusals(&writes) {
                tracing::warn!(source = target.source, paper = %id, reason = %why, "paper refused by Milvus; left out");
                stats.refused += 1;
                writes.retain(|(p, _)| p.id != id);
            }
        }
        if !writes.is_empty() {
            bar.set_message("committing");
            match (index, writer, milvus) {
                (Some(index), Some(writer), _) => {
                    let mut w = lock(writer, "index writer")?;
                    for (p, v) in &writes {
                        w.upsert_with_vector(p, v.as_deref())?;
                    }
                    w.commit()?;
                    drop(w);
                    index.reload()?;
                }
                (_, _, Some(store)) => {
                    store.upsert(&writes)?;
                }
                _ => {}
            }
            stats.commits += 1;
            tracing::info!(
                source = target.source,
                written = writes.len(),
                new = stats.new,
                updated = stats.updated,
                "committed"
            );
            for (p, v) in writes {
                pending.insert(p.id.as_str().to_lowercase(), (p, v));
            }
        }
        bar.inc(n);
        bar.set_message(format!(
            "{} new, {} updated, {} unchanged",
            stats.new, stats.updated, stats.unchanged
        ));
    }
    bar.finish_and_clear();
    if let (Some(store), true) = (milvus, stats.commits > 0) {
        // Sealed, so searches read the new papers from indexed segments.
        store.flush();
    }
    Ok(stats)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::paper::{parse_date, PaperId};

    fn paper(v: u64, cats: &[&str], date: &str) -> Paper {
        let mut p = Paper::new(PaperId::new("2606.14832"), format!("T{v}"), "A");
        p.version = v;
        p.categories = cats.iter().map(|c| c.to_string()).collect();
        p.published = parse_date(date);
        p.updated = parse_date(date);
        p
    }

    #[test]
    fn replace_moves_to_new_version_and_never_downgrades() {
        let v1 = paper(1, &["cs.CL"], "2026-06-16");
        let v2 = paper(2, &["cs.CL"], "2026-06-17");
        let Merge::Updated(m) = merge(Some(&v1), v2.clone()) else {
            panic!("v2 must update v1")
        };
        assert_eq!((m.version, m.title.as_str()), (2, "T2"));
        assert_eq!(m.published, parse_date("2026-06-16"));
        assert_eq!(m.updated, parse_date("2026-06-17"));
        // v1 arriving after v2 changes nothing.
        assert_eq!(merge(Some(&m), v1.clone()), Merge::Unchanged);
        // The other order converges to the same record.
        let Merge::New(first) = merge(None, v2) else {
            panic!()
        };
        let Merge::Updated(m2) = merge(Some(&first), v1) else {
            panic!()
        };
        assert_eq!(m, m2);
    }

    #[test]
    fn cross_extends_categories_primary_first() {
        let stored = paper(1, &["cs.CV", "cs.CL"], "2026-06-16");
        let cross = paper(1, &["cs.CV", "cs.AI"], "2026-06-16");
        let Merge::Updated(m) = merge(Some(&stored), cross) else {
            panic!()
        };
        assert_eq!(m.categories, vec!["cs.CV", "cs.AI", "cs.CL"]);
        // Same set in another order: unchanged, stored order kept.
        let again = paper(1, &["cs.CV", "cs.AI", "cs.CL"], "2026-06-16");
        assert_eq!(merge(Some(&m), again), Merge::Unchanged);
    }
}
