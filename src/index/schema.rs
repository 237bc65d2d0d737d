//! The declarative index schema (`schema/papers.toml`) and its tantivy form.
//!
//! The TOML file is the reviewed source of truth; this module turns it into a tantivy
//! [`Schema`] and resolves the fields the engine needs by name. It does no index I/O.

use serde::Deserialize;
use tantivy::schema::{
    DateOptions, DateTimePrecision, Field, IndexRecordOption, NumericOptions, Schema,
    TextFieldIndexing, TextOptions,
};

use super::error::IndexError;
use crate::analysis;

/// The schema file, embedded at build time so the binary and the file can never disagree.
pub const SCHEMA_TOML: &str = include_str!("../../schema/papers.toml");

/// One `[[field]]` of the schema file.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FieldDef {
    pub name: String,
    #[serde(rename = "type")]
    pub kind: FieldKind,
    #[serde(default)]
    pub analyzer: Option<String>,
    #[serde(default)]
    pub indexed: bool,
    #[serde(default)]
    pub stored: bool,
    #[serde(default)]
    pub fast: bool,
    #[serde(default)]
    pub multi: bool,
}

/// Field value types the schema file may use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FieldKind {
    Text,
    U64,
    Date,
    Bytes,
}

/// Applies a field's indexed/stored/fast flags to tantivy options of any non-text type.
macro_rules! flags {
    ($f:expr, $opts:expr) => {{
        let mut opts = $opts;
        if $f.indexed {
            opts = opts.set_indexed();
        }
        if $f.stored {
            opts = opts.set_stored();
        }
        if $f.fast {
            opts = opts.set_fast();
        }
        opts
    }};
}

/// The parsed schema file.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SchemaDef {
    pub version: u32,
    #[serde(rename = "field")]
    pub fields: Vec<FieldDef>,
}

impl SchemaDef {
    /// Parses a schema file's text.
    pub fn parse(text: &str) -> Result<Self, IndexError> {
        let def: SchemaDef =
            toml::from_str(text).map_err(|e| IndexError::SchemaFile(e.to_string()))?;
        for f in &def.fields {
            if f.kind == FieldKind::Text && f.indexed {
                match f.analyzer.as_deref() {
                    Some(analysis::MIXED) | Some(analysis::KEYWORD) => {}
                    other => {
                        return Err(IndexError::SchemaFile(format!(
                            "field {:?}: unknown analyzer {:?} (use \"mixed\" or \"keyword\")",
                            f.name, other
                        )))
                    }
                }
            }
        }
        Ok(def)
    }

    /// The built-in schema (`schema/papers.toml`).
    pub fn builtin() -> Self {
        Self::parse(SCHEMA_TOML).expect("schema/papers.toml is valid (checked by a unit test)")
    }

    /// Builds the tantivy schema.
    pub fn to_tantivy(&self) -> Schema {
        let mut b = Schema::builder();
        for f in &self.fields {
            match f.kind {
                FieldKind::Text => {
                    let mut opts = TextOptions::default();
                    if f.indexed {
                        let analyzer = f.analyzer.as_deref().unwrap_or(analysis::MIXED);
                        let record = if analyzer == analysis::KEYWORD {
                            IndexRecordOption::Basic
                        } else {
                            IndexRecordOption::WithFreqsAndPositions
                        };
                        opts = opts.set_indexing_options(
                            TextFieldIndexing::default()
                                .set_tokenizer(analyzer)
                                .set_index_option(record),
                        );
                    }
                    if f.stored {
                        opts = opts.set_stored();
                    }
                    if f.fast {
                        opts = opts.set_fast(Some("raw"));
                    }
                    b.add_text_field(&f.name, opts);
                }
                FieldKind::U64 => {
                    let opts = flags!(f, NumericOptions::default());
                    b.add_u64_field(&f.name, opts);
                }
                FieldKind::Bytes => {
                    let opts = flags!(f, tantivy::schema::BytesOptions::default());
                    b.add_bytes_field(&f.name, opts);
                }
                FieldKind::Date => {
                    let opts = flags!(
                        f,
                        DateOptions::default().set_precision(DateTimePrecision::Seconds)
                    );
                    b.add_date_field(&f.name, opts);
                }
            }
        }
        b.build()
    }
}

/// The fields the engine reads and writes, resolved once per index.
#[derive(Debug, Clone, Copy)]
pub struct Fields {
    pub id: Field,
    pub version: Field,
    pub title: Field,
    pub abstract_text: Field,
    pub text: Field,
    pub authors: Field,
    pub categories: Field,
    pub primary_category: Field,
    pub source: Field,
    pub published: Field,
    pub updated: Field,
    pub url: Field,
    pub doi: Field,
    pub comment: Field,
    pub journal_ref: Field,
    pub content_hash: Field,
    pub search_extra: Field,
    pub embedding: Field,
}

impl Fields {
    /// Resolves every field by name; a missing one means the schema file and code disagree.
    pub fn resolve(schema: &Schema) -> Result<Self, IndexError> {
        let get = |name: &str| {
            schema
                .get_field(name)
                .map_err(|_| IndexError::SchemaFile(format!("schema has no field {name:?}")))
        };
        Ok(Fields {
            id: get("id")?,
            version: get("version")?,
            title: get("title")?,
            abstract_text: get("abstract")?,
            text: get("text")?,
            authors: get("authors")?,
            categories: get("categories")?,
            primary_category: get("primary_category")?,
            source: get("source")?,
            published: get("published")?,
            updated: get("updated")?,
            url: get("url")?,
            doi: get("doi")?,
            comment: get("comment")?,
            journal_ref: get("journal_ref")?,
            content_hash: get("content_hash")?,
            search_extra: get("search_extra")?,
            embedding: get("embedding")?,
        })
    }
}

/// Fields a user may name in a query (`title:transformer`).
pub const QUERYABLE_FIELDS: &[&str] = &[
    "title",
    "abstract",
    "text",
    "authors",
    "categories",
    "primary_category",
    "source",
    "id",
    "doi",
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtin_schema_parses_and_resolves() {
        let def = SchemaDef::builtin();
        assert!(def.version >= 2);
        let schema = def.to_tantivy();
        Fields::resolve(&schema).expect("all engine fields exist");
        for name in QUERYABLE_FIELDS {
            assert!(schema.get_field(name).is_ok(), "{name}");
        }
    }

    #[test]
    fn unknown_analyzer_is_an_error() {
        let err = SchemaDef::parse(
            "version = 1\n[[field]]\nname = \"t\"\ntype = \"text\"\nindexed = true\nanalyzer = \"x\"\n",
        )
        .unwrap_err();
        assert!(err.to_string().contains("unknown analyzer"), "{err}");
    }

    #[test]
    fn unknown_key_is_an_error() {
        assert!(SchemaDef::parse(
            "version = 1\n[[field]]\nname = \"t\"\ntype = \"text\"\nsorted = true\n"
        )
        .is_err());
    }
}
