//! Query parsing: tantivy's user syntax turned, leniently, into our own tantivy queries.
//!
//! Plain words (OR, ranked by BM25 over the combined title + abstract field), `"quoted
//! phrases"`, `+must`, `-exclude`, `field:term`. Malformed syntax never fails a search: it is
//! parsed leniently and each problem becomes a warning naming where it is.

use tantivy::query::{
    AllQuery, BooleanQuery, BoostQuery, EmptyQuery, Occur, PhraseQuery, Query, TermQuery,
};
use tantivy::query_grammar::{
    Delimiter, Occur as GrammarOccur, UserInputAst, UserInputLeaf, UserInputLiteral,
};
use tantivy::schema::{Field, IndexRecordOption};
use tantivy::tokenizer::TokenStream;
use tantivy::{Score, Term};

use crate::analysis;
use crate::index::{PaperIndex, QUERYABLE_FIELDS};

/// Parses user syntax leniently into a tantivy query plus warnings.
///
/// Unquoted words are OR-ed term queries (a word that analyzes into several tokens, such as
/// an unspaced Chinese sentence or `GPT-4`, becomes several OR-ed terms, not a phrase);
/// quoted text is a phrase; `+`/`-` make a clause required/excluded; `field:word` searches
/// one field. `name:value` where `name` is not a field is searched as plain words.
///
/// Chinese words are also translated into English (see [`super::translate`]).
pub fn parse(index: &PaperIndex, query: &str) -> (Box<dyn Query>, Vec<String>) {
    parse_with(index, query, true)
}

/// [`parse`], with query translation on or off.
pub fn parse_with(
    index: &PaperIndex,
    query: &str,
    translate: bool,
) -> (Box<dyn Query>, Vec<String>) {
    let (q, mut warnings) = Parser { index }.parse(query);
    if !translate {
        return (q, warnings);
    }
    let q = super::translate::translate_query(index, q, query, &mut warnings);
    (q, warnings)
}

/// A plain OR query of every analyzed word of `text`: no syntax at all (evaluation runs);
/// Chinese words translated when `translate` is set.
pub fn plain_query_with(index: &PaperIndex, text: &str, translate: bool) -> Box<dyn Query> {
    let parser = Parser { index };
    let q = parser
        .words_query(index.fields().text, text, false, 0)
        .unwrap_or_else(|| Box::new(EmptyQuery));
    if !translate {
        return q;
    }
    super::translate::translate_query(index, q, text, &mut Vec::new())
}

/// [`plain_query_with`] with translation on.
pub fn plain_query(index: &PaperIndex, text: &str) -> Box<dyn Query> {
    plain_query_with(index, text, true)
}

/// The fields a query may score on with BM25: the queryable text fields indexed with term
/// frequencies (what term-at-a-time ranking reads).
pub fn scored_text_fields(index: &PaperIndex) -> Vec<Field> {
    let schema = index.tantivy().schema();
    QUERYABLE_FIELDS
        .iter()
        .filter_map(|name| schema.get_field(name).ok())
        .filter(|&field| !is_keyword_field(index, field))
        .filter(|&field| {
            schema
                .get_field_entry(field)
                .field_type()
                .get_index_record_option()
                .is_some_and(|o| o.has_freq())
        })
        .collect()
}

/// `text` with every whitespace and control character replaced by an ASCII space.
fn ascii_spaces(text: &str) -> std::borrow::Cow<'_, str> {
    if text
        .chars()
        .all(|c| c == ' ' || !(c.is_whitespace() || c.is_control()))
    {
        return std::borrow::Cow::Borrowed(text);
    }
    std::borrow::Cow::Owned(
        text.chars()
            .map(|c| {
                if c.is_whitespace() || c.is_control() {
                    ' '
                } else {
                    c
                }
            })
            .collect(),
    )
}

/// The largest term boost a query may ask for (`word^100`); larger ones are lowered to it.
pub const MAX_BOOST: f64 = 100.0;

/// Fields matched as one whole lowercased value (ids, categories, sources).
fn is_keyword_field(index: &PaperIndex, field: Field) -> bool {
    let f = index.fields();
    [f.id, f.doi, f.categories, f.primary_category, f.source].contains(&field)
}

/// True for the term of an English stopword ("how", "do", "the") in a text field.
fn is_stop(term: &Term) -> bool {
    term.value().as_str().is_some_and(analysis::is_stop_term)
}

/// Drops the optional single-stopword clauses of a clause list when an optional clause with
/// a content word remains: a question's function words match nearly every paper and add
/// noise to its ranking (and to its highlights). `+the`, phrases and an all-stopword query
/// ("to be or not to be" keeps `not`) are left alone.
fn drop_stopwords(clauses: &mut Vec<(Occur, Box<dyn Query>)>) {
    let stop = |q: &dyn Query| {
        q.downcast_ref::<TermQuery>()
            .is_some_and(|t| is_stop(t.term()))
    };
    let content = clauses
        .iter()
        .any(|(o, q)| *o == Occur::Should && !stop(q.as_ref()));
    if content {
        clauses.retain(|(o, q)| *o != Occur::Should || !stop(q.as_ref()));
    }
}

struct Parser<'a> {
    index: &'a PaperIndex,
}

impl Parser<'_> {
    fn parse(&self, query: &str) -> (Box<dyn Query>, Vec<String>) {
        // tantivy's query grammar (0.25) splits words on Unicode whitespace but skips only
        // ASCII whitespace between set elements: `IN[` followed by a vertical tab, a no-break
        // or an ideographic space (U+3000, common in Chinese text) loops forever, allocating
        // gigabytes (found by the query fuzz target). Every whitespace or control character
        // is an ASCII space before the grammar sees the query; the analyzer splits on either.
        let spaced = ascii_spaces(query);
        let trimmed = spaced.trim();
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
                drop_stopwords(&mut out);
                match out.len() {
                    0 => None,
                    1 if out[0].0 == Occur::Should => out.pop().map(|(_, q)| q),
                    _ => Some(Box::new(BooleanQuery::new(out))),
                }
            }
            UserInputAst::Boost(sub, boost) => {
                let q = self.convert(sub, warnings)?;
                let boost = *boost;
                // `word^1e99` would overflow every score to infinity (and break the ranking).
                let b = if boost.is_finite() && boost > 0.0 {
                    if boost > MAX_BOOST {
                        warnings.push(format!(
                            "boost ^{boost} is over the largest allowed ({MAX_BOOST}); used {MAX_BOOST}"
                        ));
                    }
                    boost.min(MAX_BOOST)
                } else {
                    warnings.push(format!("boost ^{boost} is not a positive number; ignored"));
                    1.0
                };
                Some(Box::new(BoostQuery::new(q, b as Score)) as Box<dyn Query>)
            }
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

    fn queryable_field(&self, name: &str) -> Option<Field> {
        if !QUERYABLE_FIELDS.contains(&name) {
            return None;
        }
        self.index.tantivy().schema().get_field(name).ok()
    }

    /// Term, OR-of-terms or phrase query for `text` analyzed as `field` analyzes it.
    fn words_query(
        &self,
        field: Field,
        text: &str,
        phrase: bool,
        slop: u32,
    ) -> Option<Box<dyn Query>> {
        let keyword = is_keyword_field(self.index, field);
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
        if !keyword && !phrase && terms.iter().any(|(_, t)| !is_stop(t)) {
            terms.retain(|(_, t)| !is_stop(t));
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
}
