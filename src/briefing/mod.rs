//! Briefings: what one or more radars found since a date, grouped into themes, with the places
//! where fields meet, all extractive (every statement is a sentence or a term taken from the
//! papers, and cites their ids). An optional LLM narrative is added by [`llm`] on top of the
//! finished structure, never instead of it.
//!
//! Deterministic: same index, radars and request give byte-identical JSON and Markdown (no
//! timestamps, sorted maps, a fixed clustering seed, ties broken by paper id). Blocking: call
//! from a blocking thread. Knows nothing of HTTP or the CLI.

pub mod cluster;
pub mod llm;
pub mod render;

use std::collections::{BTreeMap, BTreeSet, HashMap};

use serde::{Deserialize, Serialize};
use time::Date;

use crate::embed::Embedder;
use crate::paper::{format_date, Paper, PaperId};
use crate::radar::rank::today_utc;
use crate::radar::text::{idf, positioned_terms, SparseVec};
use crate::radar::{self, PaperSource, Radar, RadarError, RadarPapers, RankRequest};
use crate::search::{Filters, Mode};

use cluster::{cluster, dense_point, similarity_matrix, Point};

/// Papers per radar when the request does not say.
pub const DEFAULT_BRIEFING_K: usize = 10;
/// Most radars in one briefing.
pub const MAX_RADARS: usize = 10;
/// Terms shown per theme.
pub const THEME_TERMS: usize = 5;
/// Key sentences per theme.
pub const THEME_SENTENCES: usize = 3;
/// Most cross-domain links listed.
pub const MAX_LINKS: usize = 10;
/// How many links one paper may take part in (keeps one hub from filling the list).
pub const LINKS_PER_PAPER: usize = 2;
/// Least cosine of two papers' embeddings for a cross-domain link.
pub const LINK_MIN_SIMILARITY_EMBEDDING: f32 = 0.5;
/// Least cosine of two papers' tf-idf vectors for a cross-domain link.
pub const LINK_MIN_SIMILARITY_TFIDF: f32 = 0.2;
/// Most papers a briefing without radars (the newest papers in the date range) reads.
pub const MAX_ALL_PAPERS: usize = 5000;

/// Language of the section labels (and of the LLM narrative).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Lang {
    #[default]
    Zh,
    En,
}

impl std::str::FromStr for Lang {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s.trim().to_ascii_lowercase().as_str() {
            "zh" => Ok(Lang::Zh),
            "en" => Ok(Lang::En),
            other => Err(format!("unknown lang {other:?} (use zh or en)")),
        }
    }
}

/// Output format of a briefing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum BriefingFormat {
    #[default]
    Json,
    Md,
}

impl std::str::FromStr for BriefingFormat {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s.trim().to_ascii_lowercase().as_str() {
            "json" => Ok(BriefingFormat::Json),
            "md" | "markdown" => Ok(BriefingFormat::Md),
            other => Err(format!("unknown format {other:?} (use json or md)")),
        }
    }
}

/// What to brief on (`GET /api/briefings?radar=ID&radar=ID2&since=&lang=`).
#[derive(Debug, Clone, PartialEq)]
pub struct BriefingRequest {
    /// Radar ids; empty = every paper in the date range (at most [`MAX_ALL_PAPERS`] read).
    pub radars: Vec<String>,
    pub since: Option<Date>,
    pub until: Option<Date>,
    pub lang: Lang,
    /// Papers per radar.
    pub k: usize,
}

impl Default for BriefingRequest {
    fn default() -> Self {
        BriefingRequest {
            radars: Vec::new(),
            since: None,
            until: None,
            lang: Lang::Zh,
            k: DEFAULT_BRIEFING_K,
        }
    }
}

/// One paper a radar picked.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Pick {
    pub id: PaperId,
    pub title: String,
    pub score: f32,
    /// Why the radar picked it.
    pub reason: String,
    /// The abstract sentence closest to the whole abstract.
    pub key_sentence: String,
}

/// One radar's part of the briefing.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RadarSection {
    /// Radar id (`*` for "every paper in the date range").
    pub id: String,
    pub name: String,
    pub mode: Mode,
    pub candidates: usize,
    pub notes: Vec<String>,
    pub papers: Vec<Pick>,
}

/// A selected paper, as cited by the briefing.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct BriefPaper {
    pub id: PaperId,
    pub title: String,
    pub primary_category: Option<String>,
    pub published: Option<String>,
    pub url: Option<String>,
    /// Radars that picked it.
    pub radars: Vec<String>,
}

/// A distinctive term of a theme.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ThemeTerm {
    /// Display form (the most frequent spelling in the papers, not the stem).
    pub term: String,
    /// Papers of the theme that use it.
    pub papers: usize,
    pub weight: f32,
}

/// An extractive statement: a sentence and the paper it comes from.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Statement {
    pub text: String,
    pub paper: PaperId,
}

/// A cluster of the selected papers.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Theme {
    /// 1-based, largest theme first.
    pub id: usize,
    pub label: String,
    pub terms: Vec<ThemeTerm>,
    /// Members, closest to the theme's centre first.
    pub papers: Vec<PaperId>,
    /// Primary categories of the members with counts, most frequent first.
    pub categories: Vec<(String, usize)>,
    /// Key sentences (central to the theme), each citing its paper.
    pub summary: Vec<Statement>,
}

/// Two close papers from different fields.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CrossLink {
    pub a: PaperId,
    pub b: PaperId,
    pub category_a: String,
    pub category_b: String,
    /// True when the top-level archives differ too (cs vs q-bio, not cs.CL vs cs.LG).
    pub cross_archive: bool,
    pub similarity: f32,
    /// Terms both papers weigh most.
    pub shared_terms: Vec<String>,
}

/// How the themes were formed.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Clustering {
    /// `embedding` (stored vectors) or `tfidf` (fallback when some paper has no vector).
    pub space: &'static str,
    pub papers_with_vectors: usize,
    pub silhouette: f32,
}

/// The LLM-written narrative (see [`llm`]).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Narrative {
    pub model: String,
    pub text: String,
    /// Sentences removed because they cited no paper or ids not in the briefing.
    pub dropped_sentences: usize,
}

/// A briefing.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Briefing {
    pub lang: Lang,
    pub since: Option<String>,
    pub until: Option<String>,
    pub radars: Vec<RadarSection>,
    /// Every selected paper (the ids any statement may cite), sorted by id.
    pub papers: Vec<BriefPaper>,
    pub clustering: Clustering,
    pub themes: Vec<Theme>,
    pub links: Vec<CrossLink>,
    /// Set when nothing was selected, saying why.
    pub empty: Option<String>,
    /// Degradations (no vectors, BM25-only, LLM fallback) and why.
    pub notes: Vec<String>,
    pub narrative: Option<Narrative>,
}

fn round4(x: f32) -> f32 {
    (x * 10_000.0).round() / 10_000.0
}

/// Abbreviations whose period does not end a sentence.
const ABBREVIATIONS: &[&str] = &[
    "e.g", "i.e", "et al", "al", "fig", "eq", "vs", "cf", "etc", "resp", "approx", "no", "ref",
    "sec", "dr", "mr", "ms",
];

/// Splits an abstract into sentences (`.?!` followed by a space, or `。？！`).
pub fn sentences(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut start = 0;
    let chars: Vec<(usize, char)> = text.char_indices().collect();
    for (k, &(i, c)) in chars.iter().enumerate() {
        let end = i + c.len_utf8();
        let boundary = match c {
            '。' | '？' | '！' => true,
            '.' | '?' | '!' => {
                let next_space = chars.get(k + 1).is_none_or(|(_, n)| n.is_whitespace());
                let before = text[start..i].trim_end();
                let word = before
                    .rsplit(|ch: char| ch.is_whitespace() || ch == '(')
                    .next()
                    .unwrap_or("");
                let last_word = word.to_lowercase();
                // "e.g.", "et al." and initials ("J. Smith") do not end a sentence.
                let abbreviation = c == '.'
                    && (ABBREVIATIONS.contains(&last_word.as_str())
                        || (word.chars().count() == 1 && word.chars().all(|x| x.is_uppercase())));
                next_space && !abbreviation
            }
            _ => false,
        };
        if boundary {
            let s = text[start..end].trim();
            if !s.is_empty() {
                out.push(s.to_string());
            }
            start = end;
        }
    }
    let rest = text[start..].trim();
    if !rest.is_empty() {
        out.push(rest.to_string());
    }
    out
}

/// Term statistics over the selected papers.
struct Corpus {
    /// Per paper: unigram stems (with repeats, in order).
    unigrams: Vec<Vec<String>>,
    /// Per paper: distinct unigram stems and ASCII bigrams (`"stem stem"`).
    term_sets: Vec<BTreeSet<String>>,
    /// Document frequency over the selected papers.
    df: BTreeMap<String, usize>,
    /// Surface spellings with counts, per stem or bigram.
    surface: HashMap<String, BTreeMap<String, usize>>,
    stems: HashMap<String, String>,
    n: usize,
    /// idf over the whole index, per unigram stem (bigrams: mean of their words').
    corpus_idf: HashMap<String, f32>,
}

impl Corpus {
    fn new(papers: &[&Paper], source: &dyn PaperSource) -> Self {
        let mut c = Corpus {
            unigrams: Vec::new(),
            term_sets: Vec::new(),
            df: BTreeMap::new(),
            surface: HashMap::new(),
            stems: HashMap::new(),
            n: papers.len(),
            corpus_idf: HashMap::new(),
        };
        for p in papers {
            let text = format!("{}. {}", p.title, p.abstract_text);
            let toks = positioned_terms(&text, &mut c.stems);
            let mut set = BTreeSet::new();
            for t in &toks {
                set.insert(t.stem.clone());
                *c.surface
                    .entry(t.stem.clone())
                    .or_default()
                    .entry(t.surface.clone())
                    .or_insert(0) += 1;
            }
            for w in toks.windows(2) {
                // Adjacent words only: nothing but one space or hyphen between them.
                let gap = text.get(w[0].to..w[1].from).unwrap_or("#");
                let ascii = |s: &str| s.chars().all(|ch| ch.is_ascii_alphabetic());
                if w[1].pos == w[0].pos + 1
                    && (gap == " " || gap == "-")
                    && ascii(&w[0].surface)
                    && ascii(&w[1].surface)
                {
                    let key = format!("{} {}", w[0].stem, w[1].stem);
                    let spelled = text
                        .get(w[0].from..w[1].to)
                        .unwrap_or_default()
                        .to_lowercase();
                    *c.surface
                        .entry(key.clone())
                        .or_default()
                        .entry(spelled)
                        .or_insert(0) += 1;
                    set.insert(key);
                }
            }
            for t in &set {
                *c.df.entry(t.clone()).or_insert(0) += 1;
            }
            c.unigrams.push(toks.into_iter().map(|t| t.stem).collect());
            c.term_sets.push(set);
        }
        let terms: Vec<&str> =
            c.df.keys()
                .filter(|t| !t.contains(' '))
                .map(String::as_str)
                .collect();
        // Without the store's frequencies (Milvus), those of the briefing's own papers.
        let (total, dfs) = source.doc_freqs(&terms).unwrap_or_else(|| {
            (
                c.n,
                terms
                    .iter()
                    .map(|t| c.df.get(*t).copied().unwrap_or(0))
                    .collect(),
            )
        });
        for (term, df) in terms.iter().zip(dfs) {
            // A term the index does not know (cannot happen for indexed papers) counts as rare.
            c.corpus_idf
                .insert(term.to_string(), idf(total.max(1), df.max(1)));
        }
        c
    }

    /// idf over the whole index.
    fn idf(&self, term: &str) -> f32 {
        match self.corpus_idf.get(term) {
            Some(v) => *v,
            None if term.contains(' ') => {
                let parts: Vec<f32> = term.split(' ').map(|w| self.idf(w)).collect();
                parts.iter().sum::<f32>() / parts.len().max(1) as f32
            }
            None => 0.0,
        }
    }

    fn tfidf(&self, i: usize) -> SparseVec {
        SparseVec::tfidf(self.unigrams[i].iter().map(String::as_str), |t| self.idf(t))
    }

    fn text_vector(&mut self, text: &str) -> SparseVec {
        let toks = positioned_terms(text, &mut self.stems);
        let corpus_idf = &self.corpus_idf;
        SparseVec::tfidf(toks.iter().map(|t| t.stem.as_str()), |t| {
            corpus_idf.get(t).copied().unwrap_or(0.0)
        })
    }

    /// The most frequent spelling of a stem or bigram.
    fn display(&self, term: &str) -> String {
        self.surface
            .get(term)
            .and_then(|m| {
                m.iter()
                    .max_by(|a, b| a.1.cmp(b.1).then_with(|| b.0.cmp(a.0)))
                    .map(|(s, _)| s.clone())
            })
            .unwrap_or_else(|| term.to_string())
    }
}

struct Selected {
    paper: Paper,
    vector: Option<Vec<f32>>,
    radars: Vec<String>,
}

/// A radar's picks before their key sentences are known: id, title, score, reason.
type PickList = Vec<(PaperId, String, f32, String)>;

/// What the radars (or the all-papers list) selected: the sections, the selected papers (each
/// once, with the radars that picked it) and each section's picks in order.
struct Selection {
    sections: Vec<RadarSection>,
    selected: Vec<Selected>,
    picks: Vec<PickList>,
}

impl Selection {
    /// Adds `paper` as picked by `radar` (once per paper).
    fn add(&mut self, paper: Paper, vector: Option<Vec<f32>>, radar: &str) {
        match self.selected.iter_mut().find(|s| s.paper.id == paper.id) {
            Some(s) => s.radars.push(radar.to_string()),
            None => self.selected.push(Selected {
                paper,
                vector,
                radars: vec![radar.to_string()],
            }),
        }
    }
}

/// Builds the extractive briefing. `embedder` embeds radar queries (BM25-only without one).
pub fn build_briefing(
    source: &dyn PaperSource,
    req: &BriefingRequest,
    embedder: Option<&mut dyn Embedder>,
) -> Result<Briefing, RadarError> {
    let (rank_req, radars) = resolve(source, req)?;
    let mut notes: Vec<String> = Vec::new();
    let selection = if radars.is_empty() {
        select_all(source, &rank_req, req, &mut notes)?
    } else {
        select_by_radars(source, &radars, &rank_req, embedder)?
    };
    let empty = empty_message(req, radars.is_empty());
    Ok(assemble(source, req, selection, notes, empty))
}

/// The briefing of radar rankings made elsewhere (a digest's unread papers): the same themes,
/// key sentences and cross-domain links as [`build_briefing`] over exactly these papers, in
/// the given order per radar. `req` gives the language and the date range shown.
pub fn briefing_of(
    source: &dyn PaperSource,
    req: &BriefingRequest,
    ranked: Vec<(Radar, RadarPapers)>,
) -> Briefing {
    let mut selection = Selection {
        sections: Vec::new(),
        selected: Vec::new(),
        picks: Vec::new(),
    };
    for (r, res) in ranked {
        add_section(&mut selection, &r, res);
    }
    let empty = empty_message(req, false);
    assemble(source, req, selection, Vec::new(), empty)
}

/// Themes, key sentences and links of a selection.
fn assemble(
    source: &dyn PaperSource,
    req: &BriefingRequest,
    mut selection: Selection,
    mut notes: Vec<String>,
    empty_message: String,
) -> Briefing {
    selection
        .selected
        .sort_by(|a, b| a.paper.id.cmp(&b.paper.id));
    let selected = &selection.selected;

    let papers_ref: Vec<&Paper> = selected.iter().map(|s| &s.paper).collect();
    let mut corpus = Corpus::new(&papers_ref, source);
    let tfidf: Vec<SparseVec> = (0..selected.len()).map(|i| corpus.tfidf(i)).collect();
    let sentence_vecs = sentence_vectors(selected, &mut corpus);
    fill_picks(&mut selection, &tfidf, &sentence_vecs);
    let selected = &selection.selected;

    let space = ClusteringSpace::of(selected, &corpus, &tfidf, &mut notes);
    let sim = similarity_matrix(&space.points, space.dims);
    let (assign, silhouette) = cluster(&space.points, space.dims, &sim);
    let themes = themes(
        selected,
        &assign,
        &space.points,
        space.dims,
        &corpus,
        &tfidf,
        &sentence_vecs,
    );
    let links = links(
        selected,
        &sim,
        &tfidf,
        &corpus,
        if space.embedding {
            LINK_MIN_SIMILARITY_EMBEDDING
        } else {
            LINK_MIN_SIMILARITY_TFIDF
        },
    );
    let empty = selected.is_empty().then_some(empty_message);
    Briefing {
        lang: req.lang,
        since: req.since.map(format_date),
        until: req.until.map(format_date),
        papers: selected
            .iter()
            .map(|s| BriefPaper {
                id: s.paper.id.clone(),
                title: s.paper.title.clone(),
                primary_category: s.paper.primary_category().map(str::to_string),
                published: s.paper.published.map(format_date),
                url: s.paper.url.clone(),
                radars: s.radars.clone(),
            })
            .collect(),
        clustering: Clustering {
            space: if space.embedding {
                "embedding"
            } else {
                "tfidf"
            },
            papers_with_vectors: space.with_vectors,
            silhouette: round4(silhouette),
        },
        radars: selection.sections,
        themes,
        links,
        empty,
        notes,
        narrative: None,
    }
}

/// Each selected paper's abstract sentences with their tf-idf vectors.
fn sentence_vectors(selected: &[Selected], corpus: &mut Corpus) -> Vec<SentenceVecs> {
    selected
        .iter()
        .map(|s| {
            sentences(&s.paper.abstract_text)
                .into_iter()
                .map(|t| {
                    let v = corpus.text_vector(&t);
                    (t, v)
                })
                .collect()
        })
        .collect()
}

/// Checks the request and loads its radars (each once, in the order asked): every radar must
/// exist before any work is done.
fn resolve(
    source: &dyn PaperSource,
    req: &BriefingRequest,
) -> Result<(RankRequest, Vec<Radar>), RadarError> {
    if req.radars.len() > MAX_RADARS {
        return Err(RadarError::InvalidParam {
            name: "radar",
            reason: format!("at most {MAX_RADARS} radars, got {}", req.radars.len()),
        });
    }
    let rank_req = RankRequest {
        since: req.since,
        until: req.until,
        k: req.k,
    };
    rank_req.validate(today_utc())?;
    let mut ids: Vec<&str> = Vec::new();
    for id in &req.radars {
        if !ids.contains(&id.as_str()) {
            ids.push(id);
        }
    }
    let radars = ids
        .iter()
        .map(|id| radar::get_radar(source, id))
        .collect::<Result<Vec<_>, _>>()?;
    Ok((rank_req, radars))
}

/// Each radar's top papers, one section per radar.
fn select_by_radars(
    source: &dyn PaperSource,
    radars: &[Radar],
    rank_req: &RankRequest,
    mut embedder: Option<&mut dyn Embedder>,
) -> Result<Selection, RadarError> {
    let mut selection = Selection {
        sections: Vec::new(),
        selected: Vec::new(),
        picks: Vec::new(),
    };
    for r in radars {
        let res = radar::rank(
            source,
            r,
            rank_req,
            embedder.as_mut().map(|e| &mut **e as &mut dyn Embedder),
        )?;
        add_section(&mut selection, r, res);
    }
    Ok(selection)
}

/// One radar's ranked papers as a section of the selection.
fn add_section(selection: &mut Selection, r: &Radar, res: RadarPapers) {
    let mut picks = Vec::new();
    for h in res.papers {
        picks.push((
            h.paper.id.clone(),
            h.paper.title.clone(),
            h.score,
            h.reason.text.clone(),
        ));
        selection.add(h.paper, h.vector, &r.id);
    }
    selection.picks.push(picks);
    selection.sections.push(RadarSection {
        id: r.id.clone(),
        name: r.name.clone(),
        mode: res.mode,
        candidates: res.candidates,
        notes: res.notes,
        papers: Vec::new(),
    });
}

/// Without radars: every paper of the date range, newest first, in one section (a note when
/// the range holds more than the briefing covers).
fn select_all(
    source: &dyn PaperSource,
    rank_req: &RankRequest,
    req: &BriefingRequest,
    notes: &mut Vec<String>,
) -> Result<Selection, RadarError> {
    let (papers, section) = all_papers(source, rank_req, req.lang)?;
    let total = section.candidates;
    if total > papers.len() {
        notes.push(format!(
            "{total} papers in the date range: the briefing covers the newest {} (raise k, or narrow the dates)",
            papers.len()
        ));
    }
    let mut selection = Selection {
        sections: vec![section],
        selected: Vec::new(),
        picks: Vec::new(),
    };
    let mut list = Vec::new();
    for (paper, vector) in papers {
        list.push((paper.id.clone(), paper.title.clone(), 0.0, String::new()));
        selection.add(paper, vector, "*");
    }
    selection.picks.push(list);
    Ok(selection)
}

/// Each section's papers with their key sentence: the abstract sentence closest to the whole
/// abstract.
fn fill_picks(selection: &mut Selection, tfidf: &[SparseVec], sentence_vecs: &[SentenceVecs]) {
    let position: HashMap<PaperId, usize> = selection
        .selected
        .iter()
        .enumerate()
        .map(|(i, s)| (s.paper.id.clone(), i))
        .collect();
    let key_sentence: Vec<String> = (0..selection.selected.len())
        .map(|i| {
            best_sentence(&sentence_vecs[i], &as_map(&tfidf[i]))
                .map(|(t, _)| t)
                .unwrap_or_default()
        })
        .collect();
    let picks = std::mem::take(&mut selection.picks);
    for (section, picks) in selection.sections.iter_mut().zip(picks) {
        section.papers = picks
            .into_iter()
            .map(|(id, title, score, reason)| {
                let key = position
                    .get(&id)
                    .map(|&i| key_sentence[i].clone())
                    .unwrap_or_default();
                Pick {
                    id,
                    title,
                    score,
                    reason,
                    key_sentence: key,
                }
            })
            .collect();
    }
}

/// The space themes and links are computed in: the stored embeddings when every selected
/// paper has one (of the same size), else tf-idf term vectors (and a note saying so).
struct ClusteringSpace {
    points: Vec<Point>,
    dims: usize,
    embedding: bool,
    with_vectors: usize,
}

impl ClusteringSpace {
    fn of(
        selected: &[Selected],
        corpus: &Corpus,
        tfidf: &[SparseVec],
        notes: &mut Vec<String>,
    ) -> ClusteringSpace {
        let with_vectors = selected.iter().filter(|s| s.vector.is_some()).count();
        let dims_of = |s: &Selected| s.vector.as_ref().map(Vec::len);
        let same_dims = selected
            .windows(2)
            .all(|w| dims_of(&w[0]) == dims_of(&w[1]));
        let embedding = !selected.is_empty() && with_vectors == selected.len() && same_dims;
        if embedding {
            let dims = selected.first().and_then(dims_of).unwrap_or(0);
            return ClusteringSpace {
                points: selected
                    .iter()
                    .map(|s| dense_point(s.vector.as_deref().unwrap_or(&[])))
                    .collect(),
                dims,
                embedding,
                with_vectors,
            };
        }
        if !selected.is_empty() {
            notes.push(format!(
                "{} of {} selected papers have an embedding: themes and links use tf-idf term vectors instead",
                with_vectors,
                selected.len()
            ));
        }
        let vocab: BTreeMap<&String, u32> = corpus
            .df
            .keys()
            .filter(|k| !k.contains(' '))
            .enumerate()
            .map(|(i, k)| (k, i as u32))
            .collect();
        let points = tfidf
            .iter()
            .map(|v| {
                let mut p: Point =
                    v.0.iter()
                        .filter_map(|(t, w)| vocab.get(t).map(|&d| (d, *w)))
                        .collect();
                p.sort_by_key(|x| x.0);
                p
            })
            .collect();
        ClusteringSpace {
            points,
            dims: vocab.len(),
            embedding,
            with_vectors,
        }
    }
}

/// Why a briefing is empty, in its language.
fn empty_message(req: &BriefingRequest, all_papers: bool) -> String {
    let since = req
        .since
        .map(|d| format!(" since {}", format_date(d)))
        .unwrap_or_default();
    match req.lang {
        Lang::En if all_papers => format!("No paper was published{since}."),
        Lang::En => format!("None of the radars found a paper{since}."),
        Lang::Zh if all_papers => format!(
            "{}没有新论文。",
            req.since
                .map(|d| format!("自 {} 以来", format_date(d)))
                .unwrap_or_default()
        ),
        Lang::Zh => format!(
            "{}雷达没有找到任何论文。",
            req.since
                .map(|d| format!("自 {} 以来，", format_date(d)))
                .unwrap_or_default()
        ),
    }
}

type AllPapers = (Vec<(Paper, Option<Vec<f32>>)>, RadarSection);

/// Every paper in the date range, newest first (then by id), at most `req.k`.
fn all_papers(
    source: &dyn PaperSource,
    req: &RankRequest,
    lang: Lang,
) -> Result<AllPapers, RadarError> {
    let filters = Filters {
        from: req.since,
        to: req.until,
        ..Default::default()
    };
    let (mut papers, total) =
        source.newest_papers(&filters, req.k.clamp(1, MAX_ALL_PAPERS), today_utc())?;
    papers.sort_by(|a, b| b.0.published.cmp(&a.0.published).then(a.0.id.cmp(&b.0.id)));
    let section = RadarSection {
        id: "*".into(),
        name: match lang {
            Lang::Zh => "全部新论文".into(),
            Lang::En => "all new papers".into(),
        },
        mode: Mode::Bm25,
        candidates: total,
        notes: Vec::new(),
        papers: Vec::new(),
    };
    Ok((papers, section))
}

/// The sentences of an abstract with their tf-idf vectors (computed once per paper).
type SentenceVecs = Vec<(String, SparseVec)>;

/// The sentence closest to `centre`, with its score; very short or very long sentences are
/// discounted.
fn best_sentence(sentences: &SentenceVecs, centre: &HashMap<String, f32>) -> Option<(String, f32)> {
    let mut best: Option<(&String, f32)> = None;
    for (s, v) in sentences {
        let chars = s.chars().count();
        let length = if chars < 40 {
            0.5
        } else if chars > 300 {
            0.6
        } else {
            1.0
        };
        let score = v.cosine_map(centre) * length;
        if best.as_ref().is_none_or(|b| score > b.1) {
            best = Some((s, score));
        }
    }
    best.map(|(s, score)| (s.clone(), score))
}

fn as_map(v: &SparseVec) -> HashMap<String, f32> {
    v.0.iter().map(|(t, w)| (t.clone(), *w)).collect()
}

fn themes(
    selected: &[Selected],
    assign: &[usize],
    points: &[Point],
    dims: usize,
    corpus: &Corpus,
    tfidf: &[SparseVec],
    sentence_vecs: &[SentenceVecs],
) -> Vec<Theme> {
    let k = assign.iter().copied().max().map(|m| m + 1).unwrap_or(0);
    let mut groups: Vec<Vec<usize>> = (0..k)
        .map(|c| (0..assign.len()).filter(|&i| assign[i] == c).collect())
        .collect();
    groups.retain(|g| !g.is_empty());
    // Largest first; ties by the smallest member id (members are in id order).
    groups.sort_by(|a, b| b.len().cmp(&a.len()).then(a[0].cmp(&b[0])));
    let mut out = Vec::new();
    for (t, members) in groups.iter().enumerate() {
        // Centre in the clustering space; members ordered by closeness to it.
        let mut centre = vec![0f32; dims];
        for &i in members {
            for &(d, x) in &points[i] {
                centre[d as usize] += x;
            }
        }
        let closeness =
            |i: usize| -> f32 { points[i].iter().map(|&(d, x)| centre[d as usize] * x).sum() };
        let mut ordered = members.clone();
        ordered.sort_by(|&a, &b| {
            closeness(b)
                .partial_cmp(&closeness(a))
                .unwrap_or(std::cmp::Ordering::Equal)
                .then(a.cmp(&b))
        });
        let terms = theme_terms(members, corpus);
        let label = terms
            .iter()
            .take(3)
            .map(|t| t.term.clone())
            .collect::<Vec<_>>()
            .join(" · ");
        let categories = member_categories(selected, members);
        let candidates = key_sentences(members, tfidf, sentence_vecs);
        out.push(Theme {
            id: t + 1,
            label,
            terms,
            papers: ordered
                .iter()
                .map(|&i| selected[i].paper.id.clone())
                .collect(),
            categories,
            summary: candidates
                .into_iter()
                .take(THEME_SENTENCES)
                .map(|(_, i, text)| Statement {
                    text,
                    paper: selected[i].paper.id.clone(),
                })
                .collect(),
        });
    }
    out
}

/// Primary categories of a theme's members with counts, most frequent first.
fn member_categories(selected: &[Selected], members: &[usize]) -> Vec<(String, usize)> {
    let mut cats: BTreeMap<String, usize> = BTreeMap::new();
    for &i in members {
        if let Some(c) = selected[i].paper.primary_category() {
            *cats.entry(c.to_string()).or_insert(0) += 1;
        }
    }
    let mut categories: Vec<(String, usize)> = cats.into_iter().collect();
    categories.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    categories
}

/// A theme's key sentence candidates, best first: the best sentence of each member against the
/// theme's tf-idf centre, with its score and member.
fn key_sentences(
    members: &[usize],
    tfidf: &[SparseVec],
    sentence_vecs: &[SentenceVecs],
) -> Vec<(f32, usize, String)> {
    let mut centre_terms = SparseVec::default();
    for &i in members {
        centre_terms.add_scaled(&tfidf[i], 1.0);
    }
    centre_terms.normalize();
    let centre_terms = as_map(&centre_terms);
    let mut candidates: Vec<(f32, usize, String)> = members
        .iter()
        .filter_map(|&i| {
            best_sentence(&sentence_vecs[i], &centre_terms).map(|(s, score)| (score, i, s))
        })
        .collect();
    candidates.sort_by(|a, b| {
        b.0.partial_cmp(&a.0)
            .unwrap_or(std::cmp::Ordering::Equal)
            .then(a.1.cmp(&b.1))
    });
    candidates
}

/// Terms frequent in the theme and rare in the rest of the selection (class tf-idf), bigrams
/// slightly preferred; a term whose words are all covered by better terms is skipped.
fn theme_terms(members: &[usize], corpus: &Corpus) -> Vec<ThemeTerm> {
    let size = members.len();
    let mut dfc: BTreeMap<&String, usize> = BTreeMap::new();
    for &i in members {
        for t in &corpus.term_sets[i] {
            *dfc.entry(t).or_insert(0) += 1;
        }
    }
    // Terms of one paper only describe that paper, not a theme (unless the theme is one paper).
    let min_df = if size >= 2 { 2 } else { 1 };
    // Frequent in the theme, rarer in the other selected papers, rare in the whole index.
    let mut scored: Vec<(f32, &String, usize)> = dfc
        .into_iter()
        .filter(|(_, c)| *c >= min_df)
        .map(|(t, c)| {
            let df = corpus.df.get(t).copied().unwrap_or(c).max(1);
            let bonus = if t.contains(' ') { 1.3 } else { 1.0 };
            let share = c as f32 / size as f32;
            let distinct = 1.0 + (corpus.n as f32 / df as f32).ln();
            (share * distinct * corpus.idf(t) * bonus, t, c)
        })
        .collect();
    scored.sort_by(|a, b| {
        b.0.partial_cmp(&a.0)
            .unwrap_or(std::cmp::Ordering::Equal)
            .then(a.1.cmp(b.1))
    });
    let mut covered: BTreeSet<&str> = BTreeSet::new();
    let mut out = Vec::new();
    for (score, term, c) in scored {
        let words: Vec<&str> = term.split(' ').collect();
        if words.iter().all(|w| covered.contains(w)) {
            continue;
        }
        covered.extend(words);
        out.push(ThemeTerm {
            term: corpus.display(term),
            papers: c,
            weight: round4(score),
        });
        if out.len() == THEME_TERMS {
            break;
        }
    }
    out
}

fn archive(category: &str) -> &str {
    category.split('.').next().unwrap_or(category)
}

fn links(
    selected: &[Selected],
    sim: &[f32],
    tfidf: &[SparseVec],
    corpus: &Corpus,
    threshold: f32,
) -> Vec<CrossLink> {
    let n = selected.len();
    let mut pairs: Vec<(bool, f32, usize, usize)> = Vec::new();
    for i in 0..n {
        let Some(ci) = selected[i].paper.primary_category() else {
            continue;
        };
        for j in (i + 1)..n {
            let Some(cj) = selected[j].paper.primary_category() else {
                continue;
            };
            let s = sim[i * n + j];
            if s >= threshold && !ci.eq_ignore_ascii_case(cj) {
                pairs.push((archive(ci) != archive(cj), s, i, j));
            }
        }
    }
    pairs.sort_by(|a, b| {
        b.0.cmp(&a.0)
            .then(b.1.partial_cmp(&a.1).unwrap_or(std::cmp::Ordering::Equal))
            .then((a.2, a.3).cmp(&(b.2, b.3)))
    });
    let mut used = vec![0usize; n];
    let mut out = Vec::new();
    for (cross, s, i, j) in pairs {
        if used[i] >= LINKS_PER_PAPER || used[j] >= LINKS_PER_PAPER {
            continue;
        }
        used[i] += 1;
        used[j] += 1;
        let mut shared: Vec<(f32, &String)> = tfidf[i]
            .0
            .iter()
            .filter_map(|(t, w)| tfidf[j].0.get(t).map(|o| (w * o, t)))
            .collect();
        shared.sort_by(|a, b| {
            b.0.partial_cmp(&a.0)
                .unwrap_or(std::cmp::Ordering::Equal)
                .then(a.1.cmp(b.1))
        });
        out.push(CrossLink {
            a: selected[i].paper.id.clone(),
            b: selected[j].paper.id.clone(),
            category_a: selected[i]
                .paper
                .primary_category()
                .unwrap_or("")
                .to_string(),
            category_b: selected[j]
                .paper
                .primary_category()
                .unwrap_or("")
                .to_string(),
            cross_archive: cross,
            similarity: round4(s),
            shared_terms: shared
                .into_iter()
                .take(3)
                .map(|(_, t)| corpus.display(t))
                .collect(),
        });
        if out.len() == MAX_LINKS {
            break;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sentence_splitting() {
        let s = sentences(
            "We study LLMs, e.g. GPT-4. Results improve by 3.5 points! Is it good? Yes. 我们提出方法。效果很好。",
        );
        assert_eq!(
            s,
            vec![
                "We study LLMs, e.g. GPT-4.",
                "Results improve by 3.5 points!",
                "Is it good?",
                "Yes.",
                "我们提出方法。",
                "效果很好。"
            ]
        );
        assert_eq!(
            sentences("Smith et al. show x. Done"),
            vec!["Smith et al. show x.", "Done"]
        );
        assert!(sentences("  ").is_empty());
    }

    #[test]
    fn lang_and_format_parse() {
        assert_eq!("ZH".parse::<Lang>(), Ok(Lang::Zh));
        assert_eq!("en".parse::<Lang>(), Ok(Lang::En));
        assert!("fr".parse::<Lang>().is_err());
        assert_eq!("md".parse::<BriefingFormat>(), Ok(BriefingFormat::Md));
        assert!("html".parse::<BriefingFormat>().is_err());
    }
}
