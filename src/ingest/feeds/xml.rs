//! A small, strict XML reader for feeds: the root element, the channel-level elements and, for
//! every `<item>`/`<entry>`, its child elements (qualified name, attributes, text, and the text
//! of their own children such as Atom's `<author><name>`).
//!
//! feed-rs drops the extension elements arXiv relies on (`arxiv:announce_type`,
//! `arxiv:primary_category`, `arxiv:doi`, `arxiv:journal_ref`, `dc:identifier`), so the arXiv
//! parsers and the DOI lookup of the generic parser read documents through this module.
//! Malformed or truncated documents are errors, never partial results.

use quick_xml::encoding::Decoder;
use quick_xml::events::{BytesStart, Event};
use quick_xml::{Reader, XmlVersion};

/// One child element of an item/entry (or of the channel).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct XmlField {
    /// Qualified name as written (`title`, `arxiv:announce_type`, `dc:creator`).
    pub name: String,
    /// Attributes (qualified name, unescaped value).
    pub attrs: Vec<(String, String)>,
    /// All text inside the element, entities resolved, whitespace as in the document.
    pub text: String,
    /// Direct children (qualified name, text), e.g. `name` and `arxiv:affiliation` of an author.
    pub children: Vec<(String, String)>,
}

impl XmlField {
    /// The value of attribute `name`.
    pub fn attr(&self, name: &str) -> Option<&str> {
        self.attrs
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// The text of child element `name`.
    pub fn child(&self, name: &str) -> Option<&str> {
        self.children
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

/// The child elements of one item or entry, in document order.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct XmlEntry {
    pub fields: Vec<XmlField>,
}

impl XmlEntry {
    /// The first field called `name`.
    pub fn field(&self, name: &str) -> Option<&XmlField> {
        self.fields.iter().find(|f| f.name == name)
    }

    /// The text of the first field called `name`.
    pub fn text(&self, name: &str) -> Option<&str> {
        self.field(name).map(|f| f.text.as_str())
    }

    /// Every field called `name`.
    pub fn all<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a XmlField> + 'a {
        self.fields.iter().filter(move |f| f.name == name)
    }
}

/// A parsed feed document.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct XmlFeed {
    /// Local name of the root element (`rss`, `feed`, `RDF`, `html`...).
    pub root: String,
    /// Elements directly under `<channel>` (RSS) or `<feed>` (Atom), except items/entries.
    pub channel: XmlEntry,
    /// Every `<item>` (RSS 0.9x/1.0/2.0) or `<entry>` (Atom), in document order.
    pub entries: Vec<XmlEntry>,
}

fn qname(e: &BytesStart<'_>) -> String {
    String::from_utf8_lossy(e.name().as_ref()).into_owned()
}

fn local(name: &str) -> &str {
    name.rsplit(':').next().unwrap_or(name)
}

/// Why a document could not be read; each names the byte offset where it could.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum XmlError {
    #[error("bad attribute: {0}")]
    Attribute(String),
    #[error("bad attribute value: {0}")]
    AttributeValue(String),
    #[error("malformed XML near byte {pos}: {reason}")]
    Syntax { pos: u64, reason: String },
    #[error("bad {what} near byte {pos}: {reason}")]
    Content {
        /// `text`, `CDATA` or `entity`.
        what: &'static str,
        pos: u64,
        reason: String,
    },
    #[error("bad character reference &{name}; near byte {pos}")]
    CharRef { name: String, pos: u64 },
    #[error("unknown entity &{name}; near byte {pos}")]
    UnknownEntity { name: String, pos: u64 },
    #[error("truncated document: it ends inside <{open}> (at byte {len})")]
    Truncated { open: String, len: usize },
    #[error("empty document (no root element)")]
    Empty,
}

impl XmlError {
    fn content(what: &'static str, pos: u64, reason: impl std::fmt::Display) -> XmlError {
        XmlError::Content {
            what,
            pos,
            reason: reason.to_string(),
        }
    }
}

fn attrs(e: &BytesStart<'_>, decoder: Decoder) -> Result<Vec<(String, String)>, XmlError> {
    let mut out = Vec::new();
    for a in e.attributes() {
        let a = a.map_err(|err| XmlError::Attribute(err.to_string()))?;
        let key = String::from_utf8_lossy(a.key.as_ref()).into_owned();
        let value = a
            .decoded_and_normalized_value(XmlVersion::Implicit1_0, decoder)
            .map_err(|err| XmlError::AttributeValue(err.to_string()))?
            .into_owned();
        out.push((key, value));
    }
    Ok(out)
}

/// Where text goes while reading: the open item/entry child, or its own child.
struct Open {
    field: XmlField,
    /// Depth of the field element (its children are at depth + 1).
    depth: usize,
    child: Option<(String, String)>,
}

impl Open {
    fn new(name: String, attrs: Vec<(String, String)>, depth: usize) -> Open {
        Open {
            field: XmlField {
                name,
                attrs,
                ..Default::default()
            },
            depth,
            child: None,
        }
    }
}

/// Parses a feed document. Errors name the problem and the byte offset.
pub fn parse(bytes: &[u8]) -> Result<XmlFeed, XmlError> {
    let mut reader = Reader::from_reader(bytes);
    reader.config_mut().check_end_names = true;
    let mut buf = Vec::new();
    let mut feed = XmlFeed::default();
    // Stack of open element local names.
    let mut stack: Vec<String> = Vec::new();
    // Depth (stack length after push) of the open item/entry, if any.
    let mut entry_depth: Option<usize> = None;
    let mut current = XmlEntry::default();
    let mut open: Option<Open> = None;
    // Depth of the channel-level container whose children are channel fields.
    let mut channel_depth: Option<usize> = None;
    loop {
        let pos = reader.buffer_position();
        let event = reader
            .read_event_into(&mut buf)
            .map_err(|e| XmlError::Syntax {
                pos,
                reason: e.to_string(),
            })?;
        match event {
            Event::Start(e) => {
                let name = qname(&e);
                let loc = local(&name).to_string();
                if stack.is_empty() {
                    feed.root = loc.clone();
                    if loc == "feed" {
                        channel_depth = Some(1);
                    }
                }
                stack.push(loc.clone());
                let depth = stack.len();
                if loc == "channel" && entry_depth.is_none() {
                    channel_depth = Some(depth);
                }
                if entry_depth.is_none() && (loc == "item" || loc == "entry") {
                    entry_depth = Some(depth);
                    current = XmlEntry::default();
                } else if let Some(ed) = entry_depth {
                    if depth == ed + 1 {
                        open = Some(Open::new(name, attrs(&e, reader.decoder())?, depth));
                    } else if let Some(o) = open.as_mut() {
                        if depth == o.depth + 1 {
                            o.child = Some((name, String::new()));
                        }
                    }
                } else if channel_depth.is_some_and(|cd| depth == cd + 1) {
                    open = Some(Open::new(name, attrs(&e, reader.decoder())?, depth));
                }
            }
            Event::Empty(e) => {
                let name = qname(&e);
                let depth = stack.len() + 1;
                let field = XmlField {
                    name: name.clone(),
                    attrs: attrs(&e, reader.decoder())?,
                    ..Default::default()
                };
                if stack.is_empty() {
                    feed.root = local(&name).to_string();
                } else if let Some(ed) = entry_depth {
                    if depth == ed + 1 {
                        current.fields.push(field);
                    } else if let Some(o) = open.as_mut() {
                        if depth == o.depth + 1 {
                            o.field.children.push((name, String::new()));
                        }
                    }
                } else if channel_depth.is_some_and(|cd| depth == cd + 1) {
                    feed.channel.fields.push(field);
                }
            }
            Event::End(_) => {
                let depth = stack.len();
                stack.pop();
                if let Some(o) = open.as_mut() {
                    if depth == o.depth + 1 {
                        if let Some(c) = o.child.take() {
                            o.field.children.push(c);
                        }
                    }
                }
                if open.as_ref().is_some_and(|o| o.depth == depth) {
                    if let Some(o) = open.take() {
                        if entry_depth.is_some() {
                            current.fields.push(o.field);
                        } else {
                            feed.channel.fields.push(o.field);
                        }
                    }
                }
                if entry_depth == Some(depth) {
                    entry_depth = None;
                    feed.entries.push(std::mem::take(&mut current));
                }
            }
            Event::Text(t) => {
                let s = t
                    .xml10_content()
                    .map_err(|e| XmlError::content("text", pos, e))?;
                push_text(&mut open, &s);
            }
            Event::CData(t) => {
                let s = t.decode().map_err(|e| XmlError::content("CDATA", pos, e))?;
                push_text(&mut open, &s);
            }
            Event::GeneralRef(r) => {
                let name = r
                    .decode()
                    .map_err(|e| XmlError::content("entity", pos, e))?;
                let resolved: String = if r.is_char_ref() {
                    match r.resolve_char_ref() {
                        Ok(Some(c)) => c.to_string(),
                        _ => {
                            return Err(XmlError::CharRef {
                                name: name.to_string(),
                                pos,
                            })
                        }
                    }
                } else if let Some(v) = quick_xml::escape::resolve_xml_entity(&name) {
                    v.to_string()
                } else {
                    return Err(XmlError::UnknownEntity {
                        name: name.to_string(),
                        pos,
                    });
                };
                push_text(&mut open, &resolved);
            }
            Event::Eof => break,
            _ => {}
        }
        buf.clear();
    }
    if !stack.is_empty() {
        return Err(XmlError::Truncated {
            open: stack.join("><"),
            len: bytes.len(),
        });
    }
    if feed.root.is_empty() {
        return Err(XmlError::Empty);
    }
    Ok(feed)
}

fn push_text(open: &mut Option<Open>, s: &str) {
    if let Some(o) = open.as_mut() {
        o.field.text.push_str(s);
        if let Some(c) = o.child.as_mut() {
            c.1.push_str(s);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_items_fields_attributes_and_children() {
        let doc = br#"<?xml version="1.0"?>
<feed xmlns="http://www.w3.org/2005/Atom" xmlns:arxiv="http://arxiv.org/schemas/atom">
  <title>t</title>
  <entry>
    <id>http://arxiv.org/abs/2202.12139v1</id>
    <title>A &amp; B &#233;</title>
    <category term="cs.SE"/>
    <arxiv:primary_category term="cs.SE"/>
    <author><name>Ann</name><arxiv:affiliation>X</arxiv:affiliation></author>
  </entry>
</feed>"#;
        let f = parse(doc).unwrap();
        assert_eq!(f.root, "feed");
        assert_eq!(f.channel.text("title"), Some("t"));
        assert_eq!(f.entries.len(), 1);
        let e = &f.entries[0];
        assert_eq!(e.text("title"), Some("A & B é"));
        assert_eq!(
            e.field("arxiv:primary_category").unwrap().attr("term"),
            Some("cs.SE")
        );
        assert_eq!(e.field("author").unwrap().child("name"), Some("Ann"));
    }

    #[test]
    fn truncated_and_malformed_documents_are_errors() {
        let err = parse(b"<rss><channel><item><title>x</title>").unwrap_err();
        assert_eq!(
            err,
            XmlError::Truncated {
                open: "rss><channel><item".into(),
                len: 36
            }
        );
        assert_eq!(
            err.to_string(),
            "truncated document: it ends inside <rss><channel><item> (at byte 36)"
        );
        let err = parse(b"<rss><channel><item></channel></rss>").unwrap_err();
        assert!(matches!(err, XmlError::Syntax { .. }), "{err}");
        assert!(
            err.to_string().starts_with("malformed XML near byte"),
            "{err}"
        );
        assert_eq!(parse(b""), Err(XmlError::Empty));
        assert_eq!(
            parse(b"<rss>&bogus;</rss>").unwrap_err().to_string(),
            "unknown entity &bogus; near byte 5"
        );
    }
}
