//! A minimal XML element tree: written exactly the way pugixml formats IR, parsed with quick-xml.

#![cfg_attr(not(test), deny(clippy::indexing_slicing))]

use std::fmt::Write as _;
use std::path::Path;

use quick_xml::XmlVersion;
use quick_xml::events::{BytesStart, Event};

use crate::error::SerializeError;

/// One XML element with its attributes (in document order), children and text.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct Element {
    pub name: String,
    pub attrs: Vec<(String, String)>,
    pub children: Vec<Element>,
    /// Character data directly inside the element (only `<dim>` uses it in IR).
    pub text: String,
}

impl Element {
    pub fn new(name: &str) -> Element {
        Element { name: name.to_string(), ..Element::default() }
    }

    pub fn attr(mut self, key: &str, value: impl Into<String>) -> Element {
        self.attrs.push((key.to_string(), value.into()));
        self
    }

    pub fn push_attr(&mut self, key: &str, value: impl Into<String>) {
        self.attrs.push((key.to_string(), value.into()));
    }

    pub fn child(&mut self, e: Element) {
        self.children.push(e);
    }

    pub fn get(&self, key: &str) -> Option<&str> {
        self.attrs.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str())
    }

    pub fn first(&self, name: &str) -> Option<&Element> {
        self.children.iter().find(|c| c.name == name)
    }

    pub fn all<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a Element> + 'a {
        self.children.iter().filter(move |c| c.name == name)
    }

    /// Serializes the whole document the way pugixml's `save()` with default flags does.
    pub fn to_document(&self) -> String {
        let mut out = String::from("<?xml version=\"1.0\"?>\n");
        self.write(&mut out, 0);
        out
    }

    fn write(&self, out: &mut String, depth: usize) {
        for _ in 0..depth {
            out.push('\t');
        }
        out.push('<');
        out.push_str(&self.name);
        for (k, v) in &self.attrs {
            out.push(' ');
            out.push_str(k);
            out.push_str("=\"");
            escape_into(out, v, true);
            out.push('"');
        }
        if self.children.is_empty() && self.text.is_empty() {
            out.push_str(" />\n");
        } else if self.children.is_empty() {
            // pugixml keeps a lone text child on the same line: `<dim>3</dim>`.
            out.push('>');
            escape_into(out, &self.text, false);
            let _ = writeln!(out, "</{}>", self.name);
        } else {
            out.push_str(">\n");
            for c in &self.children {
                c.write(out, depth + 1);
            }
            for _ in 0..depth {
                out.push('\t');
            }
            let _ = writeln!(out, "</{}>", self.name);
        }
    }
}

/// pugixml's escaping: `& <` always, `"` in attributes, `>` in text, control characters as
/// `&#NN;` (in attributes also tab, CR and LF, which attribute-value normalization would lose).
fn escape_into(out: &mut String, s: &str, attribute: bool) {
    for ch in s.chars() {
        match ch {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '"' if attribute => out.push_str("&quot;"),
            '>' if !attribute => out.push_str("&gt;"),
            '\t' | '\n' | '\r' if !attribute => out.push(ch),
            c if (c as u32) < 32 => {
                let n = c as u32;
                let _ = write!(out, "&#{}{};", n / 10, n % 10);
            }
            c => out.push(c),
        }
    }
}

/// Whether `s` can be used as an element name (otherwise rt_info keys go to `<info name=..>`).
pub(crate) fn is_xml_name(s: &str) -> bool {
    let mut chars = s.chars();
    let Some(first) = chars.next() else { return false };
    (first.is_alphabetic() || first == '_' || first == ':')
        && chars.all(|c| c.is_alphanumeric() || matches!(c, '_' | ':' | '-' | '.'))
        && !s.to_ascii_lowercase().starts_with("xml")
}

/// Deepest element nesting accepted. Real IR nests a handful of levels (sub-graph bodies of
/// `Loop`/`If` add a few per level); the limit keeps recursive walks of the tree (and its drop)
/// far from the stack's end on hostile input.
pub(crate) const MAX_DEPTH: usize = 256;

/// Parses a document into its root element. DTDs are rejected and no entity other than the
/// five predefined ones and character references is ever expanded.
pub(crate) fn parse(text: &str, path: &Path) -> Result<Element, SerializeError> {
    let mut reader = quick_xml::Reader::from_str(text);
    let err = |reader: &quick_xml::Reader<&[u8]>, message: String| SerializeError::Xml {
        path: path.to_path_buf(),
        position: reader.buffer_position(),
        message,
    };
    let mut stack: Vec<Element> = Vec::new();
    let mut root: Option<Element> = None;
    loop {
        let event = reader.read_event().map_err(|e| SerializeError::Xml {
            path: path.to_path_buf(),
            position: reader.error_position(),
            message: e.to_string(),
        })?;
        match event {
            Event::Start(e) => {
                let el = start_element(&e).map_err(|m| err(&reader, m))?;
                if stack.len() >= MAX_DEPTH {
                    return Err(err(&reader, format!("elements are nested more than {MAX_DEPTH} levels deep")));
                }
                stack.push(el);
            }
            Event::Empty(e) => {
                let el = start_element(&e).map_err(|m| err(&reader, m))?;
                match stack.last_mut() {
                    Some(parent) => parent.children.push(el),
                    None if root.is_none() => root = Some(el),
                    None => return Err(err(&reader, "more than one root element".into())),
                }
            }
            Event::End(_) => {
                // quick-xml checks that end tags match their start tags.
                let el = stack.pop().ok_or_else(|| err(&reader, "unexpected end tag".into()))?;
                match stack.last_mut() {
                    Some(parent) => parent.children.push(el),
                    None if root.is_none() => root = Some(el),
                    None => return Err(err(&reader, "more than one root element".into())),
                }
            }
            Event::Text(t) => {
                if let Some(top) = stack.last_mut() {
                    let s = t.xml_content(XmlVersion::Implicit1_0);
                    let s = s.trim();
                    if !s.is_empty() {
                        top.text.push_str(s);
                    }
                }
            }
            Event::GeneralRef(r) => {
                // Only character references are honoured in text; IR text is numbers anyway.
                match r.resolve_char_ref() {
                    Ok(Some(c)) => {
                        if let Some(top) = stack.last_mut() {
                            top.text.push(c);
                        }
                    }
                    _ => {
                        let name = r.to_string();
                        match quick_xml::escape::resolve_predefined_entity(&name) {
                            Some(s) => {
                                if let Some(top) = stack.last_mut() {
                                    top.text.push_str(s);
                                }
                            }
                            None => return Err(err(&reader, format!("unknown entity &{name};"))),
                        }
                    }
                }
            }
            Event::DocType(_) => {
                return Err(err(&reader, "DTDs are not allowed in IR files".into()));
            }
            Event::CData(c) => {
                if let Some(top) = stack.last_mut() {
                    top.text.push_str(&c);
                }
            }
            Event::Comment(_) | Event::Decl(_) | Event::PI(_) => {}
            Event::Eof => break,
        }
    }
    if !stack.is_empty() {
        return Err(err(
            &reader,
            format!("unclosed element <{}>", stack.last().map(|e| e.name.as_str()).unwrap_or("")),
        ));
    }
    root.ok_or_else(|| err(&reader, "the document has no root element".into()))
}

fn start_element(e: &BytesStart<'_>) -> Result<Element, String> {
    let name = e.name().as_ref().to_string();
    let mut el = Element::new(&name);
    for a in e.attributes() {
        let a = a.map_err(|e| format!("bad attribute in <{name}>: {e}"))?;
        let key: &str = a.key.as_ref();
        let value =
            a.normalized_value(XmlVersion::Implicit1_0).map_err(|e| format!("attribute {key} of <{name}>: {e}"))?;
        if el.get(key).is_some() {
            return Err(format!("duplicate attribute {key} in <{name}>"));
        }
        el.attrs.push((key.to_string(), value.into_owned()));
    }
    Ok(el)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pugixml_layout() {
        let mut net = Element::new("net").attr("name", "a&b\"<>'\t").attr("version", "11");
        let mut layers = Element::new("layers");
        let mut dim = Element::new("dim");
        dim.text = "3".into();
        let mut port = Element::new("port").attr("id", "0");
        port.child(dim);
        layers.child(port);
        net.child(layers);
        net.child(Element::new("rt_info"));
        let doc = net.to_document();
        assert_eq!(
            doc,
            "<?xml version=\"1.0\"?>\n<net name=\"a&amp;b&quot;&lt;>'&#09;\" version=\"11\">\n\t<layers>\n\t\t<port id=\"0\">\n\t\t\t<dim>3</dim>\n\t\t</port>\n\t</layers>\n\t<rt_info />\n</net>\n"
        );
        let back = parse(&doc, Path::new("x.xml")).expect("parses");
        assert_eq!(back, net);
    }

    #[test]
    fn dtd_and_entities_are_rejected() {
        let doc = "<?xml version=\"1.0\"?><!DOCTYPE net [<!ENTITY x \"boom\">]><net name=\"&x;\"/>";
        assert!(parse(doc, Path::new("x.xml")).is_err());
        let doc = "<net name=\"&x;\"/>";
        assert!(parse(doc, Path::new("x.xml")).is_err());
    }

    #[test]
    fn deep_nesting_is_an_error_not_a_stack_overflow() {
        let doc = format!("{}{}", "<a>".repeat(100_000), "</a>".repeat(100_000));
        let e = parse(&doc, Path::new("x.xml")).expect_err("too deep").to_string();
        assert!(e.contains("nested more than"), "{e}");
        let ok = format!("{}{}", "<a>".repeat(MAX_DEPTH), "</a>".repeat(MAX_DEPTH));
        assert!(parse(&ok, Path::new("x.xml")).is_ok());
    }

    #[test]
    fn xml_names() {
        assert!(is_xml_name("Runtime_version"));
        assert!(!is_xml_name("OpenVINO Runtime"));
        assert!(!is_xml_name("1abc"));
        assert!(!is_xml_name(""));
    }
}
