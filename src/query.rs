//! BM25 search over the paper index: query syntax, filters, pagination and snippets.
//!
//! Knows nothing of HTTP or the CLI. Query syntax is tantivy's: plain words (OR, ranked by BM25
//! over the combined title + abstract field), `"quoted phrases"`, `+must`, `-exclude`,
//! `field:term`. Malformed syntax never fails a search: it is parsed leniently and the problem
//! is reported in [`SearchResults::warnings`].

use std::collections::{BTreeMap, HashMap, HashSet};
use std::ops::{Bound, Range};

use serde::Serialize;
use tantivy::collector::{Count, TopDocs};
use tantivy::query::{
    AllQuery, BooleanQuery, BoostQuery, EmptyQuery, Occur, PhraseQuery, Query, RangeQuery,
    TermQuery, TermSetQuery,
};
use tantivy::query_grammar::{
    Delimiter, Occur as GrammarOccur, UserInputAst, UserInputLeaf, UserInputLiteral,
};
use tantivy::schema::IndexRecordOption;
use tantivy::tokenizer::TokenStream;
use tantivy::{DocAddress, Score, Searcher, TantivyDocument, Term};
use time::Date;

use crate::analysis;
use crate::error::QueryError;
use crate::fusion::{self, Fusion};
use crate::highlight::Highlighter;
use crate::index::{self, date_to_tantivy, PaperIndex};
use crate::paper::{Paper, PaperId};
use crate::schema::QUERYABLE_FIELDS;
use crate::stats::{Facets, OrdinalFacets};
use crate::taat::{self, TermDisjunction};
use crate::vectors::DenseCollector;

/// Largest `k` a request may ask for.
pub const MAX_K: usize = 1000;
/// Largest `offset` a request may ask for.
pub const MAX_OFFSET: usize = 10_000;
/// Longest query accepted, in characters.
pub const MAX_QUERY_CHARS: usize = 1000;
/// Default number of hits.
pub const DEFAULT_K: usize = 10;
/// Length of the abstract snippet, in characters.
pub const SNIPPET_CHARS: usize = 240;

/// Filters applied to every search mode alike.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Filters {
    /// Match papers carrying any of these categories (case-insensitive).
    pub categories: Vec<String>,
    /// Match papers from any of these sources (case-insensitive).
    pub sources: Vec<String>,
    /// First publication date, inclusive.
    pub from: Option<Date>,
    /// Last publication date, inclusive.
    pub to: Option<Date>,
}

impl Filters {
    /// True when nothing is filtered.
    pub fn is_empty(&self) -> bool {
        self.categories.is_empty()
            && self.sources.is_empty()
            && self.from.is_none()
            && self.to.is_none()
    }
}

/// Retrieval mode.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    /// Keyword ranking (BM25 over title + abstract).
    #[default]
    Bm25,
    /// Cosine between the query's and the papers' embeddings.
    Dense,
    /// Both, fused.
    Hybrid,
}

impl std::str::FromStr for Mode {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "bm25" => Ok(Mode::Bm25),
            "dense" => Ok(Mode::Dense),
            "hybrid" => Ok(Mode::Hybrid),
            other => Err(format!(
                "unknown mode {other:?} (use bm25, dense or hybrid)"
            )),
        }
    }
}

impl std::fmt::Display for Mode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Mode::Bm25 => "bm25",
            Mode::Dense => "dense",
            Mode::Hybrid => "hybrid",
        })
    }
}

/// The query's embedding, computed by the caller (embedding is blocking work that does not
/// belong in the query layer), or why it could not be computed.
#[derive(Debug, Clone)]
pub enum QueryVector {
    Ready(Vec<f32>),
    Failed(String),
}

/// How a hit got into the results.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Sources {
    /// 1-based rank in the BM25 list, if the paper was in it.
    pub bm25_rank: Option<usize>,
    pub bm25_score: Option<Score>,
    /// 1-based rank in the dense list, if the paper was in it.
    pub dense_rank: Option<usize>,
    pub dense_score: Option<Score>,
    /// 1-based rank in the dense-feedback BM25 list (hybrid, low-coverage queries only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub feedback_rank: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub feedback_score: Option<Score>,
    /// The fused score (hybrid mode only).
    pub fused_score: Option<Score>,
}

/// A search request.
#[derive(Debug, Clone)]
pub struct SearchRequest {
    pub query: String,
    pub k: usize,
    pub offset: usize,
    pub filters: Filters,
    /// Compute highlighted snippets (off for evaluation runs).
    pub snippets: bool,
    pub mode: Mode,
    pub fusion: Fusion,
    /// Language-aware weighting and dense feedback of hybrid mode.
    pub hybrid: crate::hybrid::HybridParams,
    /// Required for dense mode; hybrid falls back to BM25 without it.
    pub query_vector: Option<QueryVector>,
    /// Also count the matches by source and primary category ([`SearchResults::facets`]):
    /// the BM25 matches (every paper passing the filters in dense mode). In bm25 mode the
    /// facet pass also gives the total, so the ranking pass need not count.
    pub facets: bool,
}

impl SearchRequest {
    /// A request for the top `DEFAULT_K` hits with snippets and no filters.
    pub fn new(query: impl Into<String>) -> Self {
        SearchRequest {
            query: query.into(),
            k: DEFAULT_K,
            offset: 0,
            filters: Filters::default(),
            snippets: true,
            mode: Mode::Bm25,
            fusion: Fusion::default(),
            hybrid: crate::hybrid::HybridParams::default(),
            query_vector: None,
            facets: false,
        }
    }

    /// Checks limits; every violation names the parameter.
    pub fn validate(&self) -> Result<(), QueryError> {
        let bad = |name, reason: String| Err(QueryError::InvalidParam { name, reason });
        if self.k == 0 || self.k > MAX_K {
            return bad(
                "k",
                format!("must be between 1 and {MAX_K}, got {}", self.k),
            );
        }
        if self.offset > MAX_OFFSET {
            return bad(
                "offset",
                format!("must be at most {MAX_OFFSET}, got {}", self.offset),
            );
        }
        let chars = self.query.chars().count();
        if chars > MAX_QUERY_CHARS {
            return bad(
                "q",
                format!("query is {chars} characters long; the limit is {MAX_QUERY_CHARS}"),
            );
        }
        if let Fusion::Convex { alpha } = self.fusion {
            if !(0.0..=1.0).contains(&alpha) {
                return bad("alpha", format!("must be between 0 and 1, got {alpha}"));
            }
        }
        if let (Some(from), Some(to)) = (self.filters.from, self.filters.to) {
            if from > to {
                return bad("from", format!("{from} is after to={to}"));
            }
        }
        Ok(())
    }
}

/// Text with highlighted byte ranges (always on UTF-8 boundaries).
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Snippet {
    pub text: String,
    pub highlights: Vec<Range<usize>>,
}

impl Snippet {
    /// Renders the snippet with `open`/`close` around highlights and `escape` appending each
    /// piece of text to the output.
    pub fn render(&self, open: &str, close: &str, escape: fn(&str, &mut String)) -> String {
        let mut out = String::with_capacity(self.text.len() + 16);
        let mut at = 0;
        for r in &self.highlights {
            if r.start < at || r.end > self.text.len() {
                continue;
            }
            escape(&self.text[at..r.start], &mut out);
            out.push_str(open);
            escape(&self.text[r.clone()], &mut out);
            out.push_str(close);
            at = r.end;
        }
        escape(&self.text[at..], &mut out);
        out
    }

    /// HTML with `<b>` around highlights.
    pub fn to_html(&self) -> String {
        self.render("<b>", "</b>", push_html_escaped)
    }
}

/// Escapes text for HTML.
pub fn html_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    push_html_escaped(s, &mut out);
    out
}

/// Appends `s` to `out`, escaped for HTML.
pub fn push_html_escaped(s: &str, out: &mut String) {
    // The five specials are ASCII: the text between them is copied as is, on char boundaries.
    let mut copied = 0;
    for (i, b) in s.bytes().enumerate() {
        let entity = match b {
            b'<' => "&lt;",
            b'>' => "&gt;",
            b'&' => "&amp;",
            b'"' => "&quot;",
            b'\'' => "&#39;",
            _ => continue,
        };
        out.push_str(&s[copied..i]);
        out.push_str(entity);
        copied = i + 1;
    }
    out.push_str(&s[copied..]);
}

/// One ranked paper.
#[derive(Debug, Clone, Serialize)]
pub struct Hit {
    /// 1-based rank in the whole result list (offset included).
    pub rank: usize,
    pub score: Score,
    #[serde(flatten)]
    pub paper: Paper,
    pub title_snippet: Snippet,
    pub abstract_snippet: Snippet,
    pub sources: Sources,
}

/// A page of results.
#[derive(Debug, Clone, Serialize)]
pub struct SearchResults {
    pub hits: Vec<Hit>,
    /// Papers matching the query and filters (dense: papers with a vector passing the filters;
    /// hybrid: the larger of the BM25 matches and the fused candidates).
    pub total: usize,
    /// The mode actually used (hybrid falls back to bm25 when the query could not be embedded).
    pub mode: Mode,
    /// Problems found in the query (the search still ran on what could be used).
    pub warnings: Vec<String>,
    /// Counts by source and primary category, when the request asked for them.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub facets: Option<Facets>,
}

/// One leg's ranking on a given searcher.
pub type Leg = Vec<(DocAddress, Score)>;

/// Runs searches against one index. Cheap to build; share across requests.
pub struct QueryEngine<'a> {
    index: &'a PaperIndex,
}

impl<'a> QueryEngine<'a> {
    /// A query engine over `index`.
    pub fn new(index: &'a PaperIndex) -> Self {
        QueryEngine { index }
    }

    /// The index this engine searches.
    pub fn index(&self) -> &'a PaperIndex {
        self.index
    }

    /// Parses user syntax leniently into a tantivy query plus warnings.
    ///
    /// Unquoted words are OR-ed term queries (a word that analyzes into several tokens, such as
    /// an unspaced Chinese sentence or `GPT-4`, becomes several OR-ed terms, not a phrase);
    /// quoted text is a phrase; `+`/`-` make a clause required/excluded; `field:word` searches
    /// one field. `name:value` where `name` is not a field is searched as plain words.
    pub fn parse(&self, query: &str) -> (Box<dyn Query>, Vec<String>) {
        let trimmed = query.trim();
        if trimmed.is_empty() {
            return (Box::new(AllQuery), Vec::new());
        }
        let mut warnings = Vec::new();
        let balanced;
        let mut text = trimmed;
        if text.matches('"').count() % 2 == 1 {
            // An unclosed quote would turn the rest of the query into one long phrase.
            if let Some(pos) = text.rfind('"') {
                balanced = format!("{}{}", &text[..pos], &text[pos + 1..]);
                text = &balanced;
                warnings.push(format!(
                    "unclosed quote at character {}: ignored, the words were searched one by one",
                    trimmed[..pos].chars().count()
                ));
            }
        }
        let (ast, errors) = tantivy::query_grammar::parse_query_lenient(text);
        warnings.extend(errors.iter().map(|e| {
            format!(
                "query syntax at character {}: {}; searched for the words that could be read",
                e.pos, e.message
            )
        }));
        let q = self
            .convert(&ast, &mut warnings)
            .unwrap_or_else(|| Box::new(EmptyQuery));
        warnings.dedup();
        (q, warnings)
    }

    /// A plain OR query of every analyzed word of `text`: no syntax at all (evaluation runs).
    pub fn plain_query(&self, text: &str) -> Box<dyn Query> {
        self.words_query(self.index.fields().text, text, false, 0)
            .unwrap_or_else(|| Box::new(EmptyQuery))
    }

    fn convert(&self, ast: &UserInputAst, warnings: &mut Vec<String>) -> Option<Box<dyn Query>> {
        match ast {
            UserInputAst::Clause(clauses) => {
                let mut out: Vec<(Occur, Box<dyn Query>)> = Vec::new();
                for (occur, sub) in clauses {
                    if let Some(q) = self.convert(sub, warnings) {
                        let occur = match occur {
                            Some(GrammarOccur::Must) => Occur::Must,
                            Some(GrammarOccur::MustNot) => Occur::MustNot,
                            _ => Occur::Should,
                        };
                        out.push((occur, q));
                    }
                }
                match out.len() {
                    0 => None,
                    1 if out[0].0 == Occur::Should => out.pop().map(|(_, q)| q),
                    _ => Some(Box::new(BooleanQuery::new(out))),
                }
            }
            UserInputAst::Boost(sub, boost) => self
                .convert(sub, warnings)
                .map(|q| Box::new(BoostQuery::new(q, *boost as Score)) as Box<dyn Query>),
            UserInputAst::Leaf(leaf) => match leaf.as_ref() {
                UserInputLeaf::Literal(lit) => self.literal(lit, warnings),
                UserInputLeaf::All => Some(Box::new(AllQuery)),
                UserInputLeaf::Range { .. }
                | UserInputLeaf::Set { .. }
                | UserInputLeaf::Exists { .. } => {
                    warnings.push(
                        "range, set and exists syntax is not supported in queries (use the from/to, category and source filters); that part was ignored"
                            .into(),
                    );
                    None
                }
            },
        }
    }

    fn literal(
        &self,
        lit: &UserInputLiteral,
        warnings: &mut Vec<String>,
    ) -> Option<Box<dyn Query>> {
        let f = self.index.fields();
        let (field, text) = match &lit.field_name {
            None => (f.text, lit.phrase.clone()),
            Some(name) => match self.queryable_field(name) {
                Some(field) => (field, lit.phrase.clone()),
                None => {
                    warnings.push(format!(
                        "{name:?} is not a searchable field (fields: {}); searched \"{name}:{}\" as words",
                        QUERYABLE_FIELDS.join(", "),
                        lit.phrase
                    ));
                    (f.text, format!("{name} {}", lit.phrase))
                }
            },
        };
        if lit.prefix {
            warnings.push(format!(
                "prefix search ({}*) is not supported; searched the whole word",
                lit.phrase
            ));
        }
        let phrase = lit.delimiter != Delimiter::None;
        self.words_query(field, &text, phrase, lit.slop)
    }

    fn queryable_field(&self, name: &str) -> Option<tantivy::schema::Field> {
        if !QUERYABLE_FIELDS.contains(&name) {
            return None;
        }
        self.index.tantivy().schema().get_field(name).ok()
    }

    fn is_keyword_field(&self, field: tantivy::schema::Field) -> bool {
        let f = self.index.fields();
        [f.id, f.doi, f.categories, f.primary_category, f.source].contains(&field)
    }

    /// Term, OR-of-terms or phrase query for `text` analyzed as `field` analyzes it.
    fn words_query(
        &self,
        field: tantivy::schema::Field,
        text: &str,
        phrase: bool,
        slop: u32,
    ) -> Option<Box<dyn Query>> {
        let keyword = self.is_keyword_field(field);
        let mut analyzer = if keyword {
            analysis::keyword_analyzer()
        } else {
            analysis::mixed_analyzer()
        };
        let mut stream = analyzer.token_stream(text.trim());
        let mut terms: Vec<(usize, Term)> = Vec::new();
        while stream.advance() {
            let t = stream.token();
            terms.push((t.position, Term::from_field_text(field, &t.text)));
        }
        let record = if keyword {
            IndexRecordOption::Basic
        } else {
            IndexRecordOption::WithFreqs
        };
        match terms.len() {
            0 => None,
            1 => terms
                .pop()
                .map(|(_, t)| Box::new(TermQuery::new(t, record)) as Box<dyn Query>),
            _ if phrase && !keyword => {
                let mut q = PhraseQuery::new_with_offset(terms);
                q.set_slop(slop);
                Some(Box::new(q))
            }
            _ => Some(Box::new(BooleanQuery::new(
                terms
                    .into_iter()
                    .map(|(_, t)| {
                        (
                            Occur::Should,
                            Box::new(TermQuery::new(t, record)) as Box<dyn Query>,
                        )
                    })
                    .collect(),
            ))),
        }
    }

    fn filter_clauses(&self, filters: &Filters) -> Vec<(Occur, Box<dyn Query>)> {
        let f = self.index.fields();
        let mut clauses: Vec<(Occur, Box<dyn Query>)> = Vec::new();
        let set = |field, values: &[String]| -> Box<dyn Query> {
            Box::new(TermSetQuery::new(
                values
                    .iter()
                    .map(|v| Term::from_field_text(field, &v.trim().to_lowercase())),
            ))
        };
        if !filters.categories.is_empty() {
            clauses.push((Occur::Must, set(f.categories, &filters.categories)));
        }
        if !filters.sources.is_empty() {
            clauses.push((Occur::Must, set(f.source, &filters.sources)));
        }
        if filters.from.is_some() || filters.to.is_some() {
            let lower = match filters.from {
                Some(d) => Bound::Included(Term::from_field_date(f.published, date_to_tantivy(d))),
                None => Bound::Unbounded,
            };
            let upper = match filters.to {
                Some(d) => Bound::Included(Term::from_field_date(f.published, date_to_tantivy(d))),
                None => Bound::Unbounded,
            };
            clauses.push((Occur::Must, Box::new(RangeQuery::new(lower, upper))));
        }
        clauses
    }

    /// The query as a plain OR of scored terms, when it is one (see [`crate::taat`]): text
    /// fields the parser queries with term frequencies.
    fn term_disjunction(&self, query: &dyn Query) -> Option<TermDisjunction> {
        let schema = self.index.tantivy().schema();
        let fields: Vec<tantivy::schema::Field> = QUERYABLE_FIELDS
            .iter()
            .filter_map(|name| schema.get_field(name).ok())
            .filter(|&field| !self.is_keyword_field(field))
            .filter(|&field| {
                schema
                    .get_field_entry(field)
                    .field_type()
                    .get_index_record_option()
                    .is_some_and(|o| o.has_freq())
            })
            .collect();
        TermDisjunction::of(query, &fields)
    }

    /// Top `depth` of an OR of terms, term at a time (see [`crate::taat`]), with the count and,
    /// when `facets`, the facet counts of every match.
    fn taat_leg(
        &self,
        searcher: &Searcher,
        terms: &TermDisjunction,
        filters: &Filters,
        depth: usize,
        facets: bool,
    ) -> Result<(Leg, u64, Option<Facets>), QueryError> {
        let filters = self.filter_queries(filters);
        let counts = facets.then(|| OrdinalFacets::new(self.index, searcher));
        let found = taat::search(searcher, terms, &filters, depth, counts.as_ref())?;
        Ok((found.top, found.count, found.facets))
    }

    /// The request's filters as queries, every one of which a paper must match.
    pub fn filter_queries(&self, filters: &Filters) -> Vec<Box<dyn Query>> {
        self.filter_clauses(filters)
            .into_iter()
            .map(|(_, q)| q)
            .collect()
    }

    /// Wraps a scored query with the request's filters (filters do not change scores).
    pub fn with_filters(&self, query: Box<dyn Query>, filters: &Filters) -> Box<dyn Query> {
        let clauses = self.filter_clauses(filters);
        if clauses.is_empty() {
            return query;
        }
        let mut all = vec![(Occur::Must, query)];
        for (occur, q) in clauses {
            // Score-neutral: a boost of zero keeps BM25 scores equal to the unfiltered query's.
            all.push((
                occur,
                Box::new(tantivy::query::BoostQuery::new(q, 0.0)) as Box<dyn Query>,
            ));
        }
        Box::new(BooleanQuery::new(all))
    }

    /// The BM25 leg: top `depth` documents for `query` under `filters`, and the match count.
    pub fn bm25_leg(
        &self,
        searcher: &Searcher,
        query: Box<dyn Query>,
        filters: &Filters,
        depth: usize,
    ) -> Result<(Leg, usize), QueryError> {
        if let Some(terms) = self.term_disjunction(query.as_ref()) {
            let (leg, count, _) = self.taat_leg(searcher, &terms, filters, depth, false)?;
            return Ok((leg, usize::try_from(count).unwrap_or(usize::MAX)));
        }
        let query = self.with_filters(query, filters);
        let (docs, total) = searcher.search(&query, &(TopDocs::with_limit(depth.max(1)), Count))?;
        Ok((docs.into_iter().map(|(s, a)| (a, s)).collect(), total))
    }

    /// [`Self::bm25_leg`] that also counts the matches by source and category, in the same
    /// pass (the total is their count).
    pub fn bm25_leg_with_facets(
        &self,
        searcher: &Searcher,
        query: Box<dyn Query>,
        filters: &Filters,
        depth: usize,
    ) -> Result<(Leg, Facets), QueryError> {
        if let Some(terms) = self.term_disjunction(query.as_ref()) {
            if let (leg, _, Some(facets)) = self.taat_leg(searcher, &terms, filters, depth, true)? {
                return Ok((leg, facets));
            }
        }
        let query = self.with_filters(query, filters);
        let (docs, facets) = searcher.search(
            &query,
            &(
                TopDocs::with_limit(depth.max(1)),
                OrdinalFacets::new(self.index, searcher),
            ),
        )?;
        Ok((docs.into_iter().map(|(s, a)| (a, s)).collect(), facets))
    }

    /// Top `depth` documents for `query` under `filters`, not counted: top k alone may skip
    /// blocks that cannot make it (block-WAND).
    pub fn bm25_top(
        &self,
        searcher: &Searcher,
        query: Box<dyn Query>,
        filters: &Filters,
        depth: usize,
    ) -> Result<Leg, QueryError> {
        let query = self.with_filters(query, filters);
        let docs = searcher.search(&query, &TopDocs::with_limit(depth.max(1)))?;
        Ok(docs.into_iter().map(|(s, a)| (a, s)).collect())
    }

    /// The dense leg: top `depth` documents by cosine under `filters`, and how many documents
    /// with a vector pass the filters.
    pub fn dense_leg(
        &self,
        searcher: &Searcher,
        vector: &[f32],
        filters: &Filters,
        depth: usize,
    ) -> Result<(Leg, usize), QueryError> {
        let (leg, total, _) = self.dense_leg_counted(searcher, vector, filters, depth, false)?;
        Ok((leg, total))
    }

    /// [`Self::dense_leg`], plus the source and category counts of the papers passing the
    /// filters when `facets` (in the same pass).
    pub fn dense_leg_counted(
        &self,
        searcher: &Searcher,
        vector: &[f32],
        filters: &Filters,
        depth: usize,
        facets: bool,
    ) -> Result<(Leg, usize, Option<Facets>), QueryError> {
        let clauses = self.filter_clauses(filters);
        let query: Box<dyn Query> = if clauses.is_empty() {
            Box::new(AllQuery)
        } else {
            Box::new(BooleanQuery::new(clauses))
        };
        self.index.vectors().retain_live(searcher);
        let collector =
            DenseCollector::new(vector.to_vec(), depth.max(1), self.index.vectors().clone());
        if !facets {
            let (docs, total) = searcher.search(&query, &collector)?;
            return Ok((docs.into_iter().map(|(s, a)| (a, s)).collect(), total, None));
        }
        // Dense ranks every paper passing the filters: those are what the facets count.
        let ((docs, total), counts) = searcher.search(
            &query,
            &(collector, OrdinalFacets::new(self.index, searcher)),
        )?;
        Ok((
            docs.into_iter().map(|(s, a)| (a, s)).collect(),
            total,
            Some(counts),
        ))
    }

    /// Runs a search: validated, filtered, fused, paginated, with snippets on request.
    pub fn search(&self, req: &SearchRequest) -> Result<SearchResults, QueryError> {
        req.validate()?;
        let searcher = self.index.reader().searcher();
        let (parsed, mut warnings) = self.parse(&req.query);
        let want = req.offset + req.k;
        let vector = match (&req.mode, &req.query_vector) {
            (Mode::Bm25, _) => None,
            (_, Some(QueryVector::Ready(v))) => Some(v.as_slice()),
            (Mode::Dense, Some(QueryVector::Failed(why))) => {
                return Err(QueryError::InvalidParam {
                    name: "mode",
                    reason: format!("dense search needs the query embedding, which failed: {why}"),
                })
            }
            (Mode::Dense, None) => {
                return Err(QueryError::InvalidParam {
                    name: "mode",
                    reason:
                        "dense search needs a query embedding (is an embedding model configured?)"
                            .into(),
                })
            }
            (Mode::Hybrid, failed) => {
                let why = match failed {
                    Some(QueryVector::Failed(why)) => why.clone(),
                    _ => "no embedding model is available".into(),
                };
                warnings.push(format!("hybrid search fell back to bm25: {why}"));
                None
            }
        };
        let mode = match (req.mode, vector) {
            (Mode::Hybrid, None) => Mode::Bm25,
            (m, _) => m,
        };
        let mut facets: Option<Facets> = None;
        let (ranked, total): (Vec<(DocAddress, Score, Sources)>, usize) = match (mode, vector) {
            (Mode::Dense, Some(v)) => {
                let (leg, total, counts) =
                    self.dense_leg_counted(&searcher, v, &req.filters, want, req.facets)?;
                facets = counts;
                (
                    single_leg(leg, |src, rank, s| {
                        src.dense_rank = Some(rank);
                        src.dense_score = Some(s);
                    }),
                    total,
                )
            }
            (Mode::Hybrid, Some(v)) => {
                let depth = want.max(fusion::DEFAULT_DEPTH);
                let mut legs = self.hybrid_legs(
                    &searcher,
                    parsed.as_ref(),
                    v,
                    &req.filters,
                    depth,
                    &req.hybrid,
                    req.facets,
                )?;
                facets = legs.facets.take();
                let fused = crate::hybrid::fuse_legs(
                    &legs.bm25,
                    &legs.dense,
                    &legs.feedback,
                    legs.coverage,
                    req.fusion,
                    &req.hybrid,
                )
                .map_err(|e| QueryError::InvalidParam {
                    name: "fusion",
                    reason: e.to_string(),
                })?;
                let total = legs.bm25_total.max(fused.len());
                let (bm25, dense, feedback) = (legs.bm25, legs.dense, legs.feedback);
                let bm25_pos: HashMap<DocAddress, (usize, Score)> = bm25
                    .iter()
                    .enumerate()
                    .map(|(i, (a, s))| (*a, (i + 1, *s)))
                    .collect();
                let dense_pos: HashMap<DocAddress, (usize, Score)> = dense
                    .iter()
                    .enumerate()
                    .map(|(i, (a, s))| (*a, (i + 1, *s)))
                    .collect();
                let feedback_pos: HashMap<DocAddress, (usize, Score)> = feedback
                    .iter()
                    .enumerate()
                    .map(|(i, (a, s))| (*a, (i + 1, *s)))
                    .collect();
                let ranked = fused
                    .into_iter()
                    .map(|(a, s)| {
                        let b = bm25_pos.get(&a);
                        let d = dense_pos.get(&a);
                        let f = feedback_pos.get(&a);
                        let src = Sources {
                            bm25_rank: b.map(|x| x.0),
                            bm25_score: b.map(|x| x.1),
                            dense_rank: d.map(|x| x.0),
                            dense_score: d.map(|x| x.1),
                            feedback_rank: f.map(|x| x.0),
                            feedback_score: f.map(|x| x.1),
                            fused_score: Some(s),
                        };
                        (a, s, src)
                    })
                    .collect();
                (ranked, total)
            }
            _ => {
                let (leg, total) = if req.facets {
                    // One pass scores every match for the top k and counts it. Measured slower
                    // on the bench queries: block-WAND top k plus a counting pass (the pass
                    // walks the postings again; block-WAND gains little when two words each
                    // match a third of the papers), or plus counts from a bitset of postings.
                    let (leg, counts) = self.bm25_leg_with_facets(
                        &searcher,
                        parsed.box_clone(),
                        &req.filters,
                        want,
                    )?;
                    let total = usize::try_from(counts.count).unwrap_or(usize::MAX);
                    facets = Some(counts);
                    (leg, total)
                } else {
                    self.bm25_leg(&searcher, parsed.box_clone(), &req.filters, want)?
                };
                (
                    single_leg(leg, |src, rank, s| {
                        src.bm25_rank = Some(rank);
                        src.bm25_score = Some(s);
                    }),
                    total,
                )
            }
        };
        let generators = if req.snippets {
            Some(self.highlighters(&searcher, parsed.as_ref())?)
        } else {
            None
        };
        let mut hits = Vec::with_capacity(req.k);
        for (i, (addr, score, sources)) in
            ranked.into_iter().skip(req.offset).take(req.k).enumerate()
        {
            let paper = self.load(&searcher, addr)?;
            let (title_snippet, abstract_snippet) = match &generators {
                Some((t, a)) => (
                    title_snippet(t, &paper.title),
                    abstract_snippet(a, &paper.abstract_text),
                ),
                None => (Snippet::default(), Snippet::default()),
            };
            hits.push(Hit {
                rank: req.offset + i + 1,
                score,
                paper,
                title_snippet,
                abstract_snippet,
                sources,
            });
        }
        Ok(SearchResults {
            hits,
            total,
            mode,
            warnings,
            facets,
        })
    }

    /// Paper ids of ranked documents (no other stored field is decoded beyond the document).
    pub fn ids(
        &self,
        searcher: &Searcher,
        leg: &[(DocAddress, Score)],
    ) -> Result<Vec<(PaperId, Score)>, QueryError> {
        let id_field = self.index.fields().id;
        let mut out = Vec::with_capacity(leg.len());
        for (addr, score) in leg {
            let doc: TantivyDocument = searcher.doc(*addr)?;
            let id = doc
                .get_first(id_field)
                .and_then(|v| tantivy::schema::Value::as_str(&v).map(str::to_string))
                .ok_or_else(|| {
                    QueryError::Index(crate::error::IndexError::CorruptDoc(
                        "document without id".into(),
                    ))
                })?;
            out.push((PaperId::new(id), *score));
        }
        Ok(out)
    }

    fn load(&self, searcher: &Searcher, addr: DocAddress) -> Result<Paper, QueryError> {
        Ok(index::load_paper(searcher, self.index.fields(), addr)?)
    }

    fn highlighters(
        &self,
        searcher: &Searcher,
        query: &dyn Query,
    ) -> Result<(Highlighter, Highlighter), QueryError> {
        let f = self.index.fields();
        let text_fields: HashSet<_> = [f.text, f.title, f.abstract_text].into_iter().collect();
        let mut terms: Vec<Term> = Vec::new();
        query.query_terms(&mut |term, _| {
            if text_fields.contains(&term.field()) {
                terms.push(term.clone());
            }
        });
        let mut weights: BTreeMap<String, Score> = BTreeMap::new();
        for term in terms {
            let value = term.value();
            let Some(text) = value.as_str() else {
                continue;
            };
            let df = searcher.doc_freq(&Term::from_field_text(f.text, text))?;
            if df > 0 {
                weights.insert(text.to_string(), 1.0 / (1.0 + df as Score));
            }
        }
        Ok((
            Highlighter::new(weights.clone(), 1000),
            Highlighter::new(weights, SNIPPET_CHARS),
        ))
    }
}

/// A one-leg ranking with its sources filled in by `mark(sources, 1-based rank, score)`.
fn single_leg(leg: Leg, mark: fn(&mut Sources, usize, Score)) -> Vec<(DocAddress, Score, Sources)> {
    leg.into_iter()
        .enumerate()
        .map(|(i, (addr, score))| {
            let mut src = Sources::default();
            mark(&mut src, i + 1, score);
            (addr, score, src)
        })
        .collect()
}

fn title_snippet(highlighter: &Highlighter, title: &str) -> Snippet {
    match highlighter.fragment(title) {
        // Highlights only when the whole title fits in the fragment.
        Some(f) if f.range.len() == title.len() => Snippet {
            text: title.to_string(),
            highlights: f.highlights,
        },
        _ => Snippet {
            text: title.to_string(),
            highlights: Vec::new(),
        },
    }
}

fn abstract_snippet(highlighter: &Highlighter, text: &str) -> Snippet {
    if let Some(f) = highlighter.fragment(text) {
        if !f.range.is_empty() {
            return Snippet {
                text: text[f.range].to_string(),
                highlights: f.highlights,
            };
        }
    }
    // No query word in the abstract: show its opening, cut on a character boundary.
    let end = text
        .char_indices()
        .nth(SNIPPET_CHARS)
        .map(|(i, _)| i)
        .unwrap_or(text.len());
    Snippet {
        text: text[..end].to_string(),
        highlights: Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::{html_escape, Snippet};

    #[test]
    fn html_escape_replaces_the_five_specials_and_keeps_everything_else() {
        for (raw, want) in [
            ("", ""),
            ("plain text, no specials", "plain text, no specials"),
            (
                "<b>\"quoted\" & 'single'</b>",
                "&lt;b&gt;&quot;quoted&quot; &amp; &#39;single&#39;&lt;/b&gt;",
            ),
            ("é<ü>模型&", "é&lt;ü&gt;模型&amp;"),
            ("&&", "&amp;&amp;"),
            ("x < y", "x &lt; y"),
        ] {
            assert_eq!(html_escape(raw), want, "{raw:?}");
        }
    }

    #[test]
    fn render_escapes_text_and_highlights_and_wraps_the_highlights() {
        let snippet = Snippet {
            text: "a<b & c> \"d\" e".to_string(),
            highlights: vec![2..3, 6..7, 10..11],
        };
        assert_eq!(
            snippet.render("<mark>", "</mark>", super::push_html_escaped),
            "a&lt;<mark>b</mark> &amp; <mark>c</mark>&gt; &quot;<mark>d</mark>&quot; e"
        );
        assert_eq!(
            snippet.render("[", "]", |s, out| out.push_str(s)),
            "a<[b] & [c]> \"[d]\" e"
        );
    }
}
