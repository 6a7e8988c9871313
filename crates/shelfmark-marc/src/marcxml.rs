//! MARCXML (the Library of Congress's `http://www.loc.gov/MARC21/slim` schema), read one
//! `<record>` at a time and written with the escaping XML needs.
//!
//! Exports differ in their namespaces (a default namespace, a `marc:` prefix, none at all, or
//! MARCXchange's), so elements are matched by local name alone, under a `<collection>` root
//! or as a single `<record>` root; elements this schema does not have are skipped.
//!
//! The file is untrusted: a DOCTYPE that declares entities is refused outright (an
//! entity-expansion bomb or an external entity reading the server's files is otherwise one
//! step away), nothing is ever fetched, and only XML's five predefined entities and character
//! references are decoded. One XML item (a tag, a text run) may not exceed 16 MiB, nor one
//! record's text 1 MiB (ten times the largest ISO 2709 record), so memory stays bounded by one
//! record whatever the file.

use std::borrow::Borrow;
use std::io::{self, BufRead, Write};

use quick_xml::errors::SyntaxError;
use quick_xml::events::{BytesStart, Event};
use shelfmark_core::marc::{ControlField, DataField, Record, Subfield};

use super::check;
use crate::{Entry, MarcError};

const NAMESPACE: &str = "http://www.loc.gov/MARC21/slim";

/// How much one file may make the reader hold at once.
#[derive(Debug, Clone, Copy)]
struct Limits {
    /// The largest single XML item (a start tag, a run of text, a DOCTYPE).
    item: usize,
    /// The most text one record may hold.
    record_text: usize,
}

impl Limits {
    const DEFAULT: Limits = Limits {
        item: 16 << 20,
        record_text: 1 << 20,
    };
}

fn size(bytes: usize) -> String {
    if bytes >= 1 << 20 && bytes.is_multiple_of(1 << 20) {
        format!("{} MiB", bytes >> 20)
    } else {
        format!("{bytes} bytes")
    }
}

/// A `BufRead` that fails once more than `limit` bytes were consumed since the last
/// [`Capped::reset`], so no single XML item can take unbounded memory.
struct Capped<R> {
    inner: R,
    limit: usize,
    consumed: usize,
    exceeded: bool,
}

impl<R> Capped<R> {
    fn reset(&mut self) {
        self.consumed = 0;
    }
}

impl<R: io::Read> io::Read for Capped<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.consumed += n;
        Ok(n)
    }
}

impl<R: BufRead> BufRead for Capped<R> {
    fn fill_buf(&mut self) -> io::Result<&[u8]> {
        if self.consumed > self.limit {
            self.exceeded = true;
            return Err(io::Error::other("an XML item is too large"));
        }
        self.inner.fill_buf()
    }

    fn consume(&mut self, amt: usize) {
        self.consumed += amt;
        self.inner.consume(amt);
    }
}

/// The elements of the schema, by local name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Name {
    Collection,
    Record,
    Leader,
    ControlField,
    DataField,
    Subfield,
    Other,
}

/// A start (or empty) tag with the attributes this schema uses.
struct Element {
    name: Name,
    /// The qualified name of an element outside the schema, for messages.
    other: String,
    tag: Option<String>,
    ind1: Option<String>,
    ind2: Option<String>,
    code: Option<String>,
}

/// What the record parser sees of the XML.
enum Ev {
    Start(Element),
    Empty(Element),
    End,
    /// Text, CDATA or a reference, appended to [`Events::text`].
    Text,
    Eof,
}

struct Events<R> {
    xml: quick_xml::Reader<Capped<R>>,
    buf: Vec<u8>,
    /// The text since the last start tag.
    text: String,
    /// Records read whole so far, for [`MarcError::Truncated`].
    whole: usize,
}

impl<R: BufRead> Events<R> {
    /// The next event; `position` is the record being read, for error messages.
    fn next(&mut self, position: Option<usize>) -> Result<Ev, MarcError> {
        loop {
            self.buf.clear();
            self.xml.get_mut().reset();
            let event = match self.xml.read_event_into(&mut self.buf) {
                Ok(_) if self.xml.get_ref().consumed > self.xml.get_ref().limit => {
                    return Err(self.too_large(position));
                }
                Ok(e) => e,
                Err(e) => return Err(self.broken(position, e)),
            };
            let ev = match event {
                Event::Start(e) => {
                    self.text.clear();
                    Ev::Start(element(&e).map_err(|m| xml(position, m))?)
                }
                Event::Empty(e) => {
                    self.text.clear();
                    Ev::Empty(element(&e).map_err(|m| xml(position, m))?)
                }
                Event::End(_) => Ev::End,
                Event::Text(t) => {
                    self.text.push_str(&t.xml10_content());
                    Ev::Text
                }
                Event::CData(t) => {
                    self.text.push_str(&t.xml10_content());
                    Ev::Text
                }
                Event::GeneralRef(r) => {
                    match r.resolve_char_ref() {
                        Ok(Some(c)) => self.text.push(c),
                        Ok(None) => match predefined(&r) {
                            Some(c) => self.text.push(c),
                            None => {
                                return Err(xml(
                                    position,
                                    format!("the entity &{}; is not defined", &*r),
                                ));
                            }
                        },
                        Err(e) => return Err(xml(position, e.to_string())),
                    }
                    Ev::Text
                }
                Event::DocType(d) => {
                    if declares_entities(&d) {
                        return Err(MarcError::DeclaresEntities);
                    }
                    continue;
                }
                Event::Decl(d) => {
                    if let Some(encoding) = d.encoding() {
                        let encoding = encoding.map_err(|e| xml(position, e.to_string()))?;
                        if !matches!(encoding.to_ascii_lowercase().as_str(), "utf-8" | "utf8") {
                            return Err(xml(
                                position,
                                format!("the file is in {encoding}; MARCXML is read as UTF-8"),
                            ));
                        }
                    }
                    continue;
                }
                Event::Comment(_) | Event::PI(_) => continue,
                Event::Eof => Ev::Eof,
            };
            // Text outside any leaf element is never used but is kept until the next tag:
            // a run of references there must not grow without bound either.
            if self.text.len() > self.xml.get_ref().limit {
                return Err(self.too_large(position));
            }
            return Ok(ev);
        }
    }

    fn too_large(&self, position: Option<usize>) -> MarcError {
        xml(
            position,
            format!(
                "an XML item at byte {} is larger than {}",
                self.xml.error_position(),
                size(self.xml.get_ref().limit)
            ),
        )
    }

    fn broken(&self, position: Option<usize>, e: quick_xml::Error) -> MarcError {
        if self.xml.get_ref().exceeded {
            return self.too_large(position);
        }
        match e {
            quick_xml::Error::Io(io) => MarcError::Io(io::Error::new(io.kind(), io.to_string())),
            // The input ended inside a tag, comment, CDATA section or the like.
            quick_xml::Error::Syntax(s) if s != SyntaxError::InvalidBangMarkup => {
                MarcError::Truncated {
                    position: self.whole,
                }
            }
            e => xml(
                position,
                format!("{e} (at byte {})", self.xml.error_position()),
            ),
        }
    }

    /// Reads past the end of an element whose start was just read.
    fn skip(&mut self, position: Option<usize>) -> Result<(), MarcError> {
        let mut depth = 0usize;
        loop {
            match self.next(position)? {
                Ev::Start(_) => depth += 1,
                Ev::End if depth == 0 => return Ok(()),
                Ev::End => depth -= 1,
                Ev::Eof => {
                    return Err(MarcError::Truncated {
                        position: self.whole,
                    });
                }
                Ev::Empty(_) | Ev::Text => {}
            }
        }
    }
}

fn xml(position: Option<usize>, message: String) -> MarcError {
    MarcError::Xml { position, message }
}

fn predefined(name: &str) -> Option<char> {
    Some(match name {
        "lt" => '<',
        "gt" => '>',
        "amp" => '&',
        "apos" => '\'',
        "quot" => '"',
        _ => return None,
    })
}

/// Whether a DOCTYPE's text declares entities (general or parameter ones), whatever the case.
fn declares_entities(doctype: &str) -> bool {
    doctype.to_ascii_uppercase().contains("<!ENTITY")
}

impl Element {
    /// The element's name as a message shows it.
    fn shown(&self) -> &str {
        match self.name {
            Name::Collection => "collection",
            Name::Record => "record",
            Name::Leader => "leader",
            Name::ControlField => "controlfield",
            Name::DataField => "datafield",
            Name::Subfield => "subfield",
            Name::Other => &self.other,
        }
    }
}

fn element(e: &BytesStart<'_>) -> Result<Element, String> {
    let qname = e.name();
    let name = match qname.local_name().as_ref() {
        "collection" => Name::Collection,
        "record" => Name::Record,
        "leader" => Name::Leader,
        "controlfield" => Name::ControlField,
        "datafield" => Name::DataField,
        "subfield" => Name::Subfield,
        _ => Name::Other,
    };
    let mut el = Element {
        name,
        other: match name {
            Name::Other => qname.as_ref().to_owned(),
            _ => String::new(),
        },
        tag: None,
        ind1: None,
        ind2: None,
        code: None,
    };
    if matches!(name, Name::ControlField | Name::DataField | Name::Subfield) {
        for attr in e.attributes() {
            let attr = attr.map_err(|e| e.to_string())?;
            let slot = match attr.key.local_name().as_ref() {
                "tag" => &mut el.tag,
                "ind1" => &mut el.ind1,
                "ind2" => &mut el.ind2,
                "code" => &mut el.code,
                _ => continue,
            };
            let value = attr
                .normalized_value(quick_xml::XmlVersion::Implicit1_0)
                .map_err(|e| e.to_string())?;
            *slot = Some(value.into_owned());
        }
    }
    Ok(el)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Before the root element.
    Prolog,
    /// Inside `<collection>`.
    Collection,
    Finished,
}

pub(crate) struct XmlReader<R> {
    events: Events<R>,
    state: State,
    /// `<record>` elements started so far.
    position: usize,
    text_limit: usize,
}

impl<R: BufRead> XmlReader<R> {
    pub(crate) fn new(input: R) -> Self {
        Self::with_limits(input, Limits::DEFAULT)
    }

    fn with_limits(input: R, limits: Limits) -> Self {
        let mut xml = quick_xml::Reader::from_reader(Capped {
            inner: input,
            limit: limits.item,
            consumed: 0,
            exceeded: false,
        });
        let config = xml.config_mut();
        config.check_end_names = true;
        config.expand_empty_elements = false;
        config.trim_text(false);
        Self {
            events: Events {
                xml,
                buf: Vec::with_capacity(1024),
                text: String::new(),
                whole: 0,
            },
            state: State::Prolog,
            position: 0,
            text_limit: limits.record_text,
        }
    }

    fn step(&mut self) -> Result<Option<Entry>, MarcError> {
        loop {
            // Between records an error belongs to no record (its byte offset says where).
            let at = None;
            match (self.state, self.events.next(at)?) {
                (State::Finished, _) => return Ok(None),
                (State::Prolog, Ev::Start(e)) if e.name == Name::Collection => {
                    self.state = State::Collection;
                }
                (State::Prolog, Ev::Empty(e)) if e.name == Name::Collection => {
                    self.state = State::Finished;
                    return Ok(None);
                }
                (State::Prolog | State::Collection, Ev::Start(e)) if e.name == Name::Record => {
                    if self.state == State::Prolog {
                        self.state = State::Finished;
                    }
                    self.position += 1;
                    return self.record(false).map(Some);
                }
                (State::Prolog | State::Collection, Ev::Empty(e)) if e.name == Name::Record => {
                    if self.state == State::Prolog {
                        self.state = State::Finished;
                    }
                    self.position += 1;
                    return self.record(true).map(Some);
                }
                (State::Prolog, Ev::Start(e) | Ev::Empty(e)) => {
                    return Err(MarcError::NotMarc(format!(
                        "the XML's root element is <{}>, not a MARC <collection> or <record>",
                        e.shown()
                    )));
                }
                (State::Prolog, Ev::Eof) => {
                    return Err(MarcError::NotMarc("the XML has no root element".to_owned()));
                }
                (State::Collection, Ev::Start(_)) => self.events.skip(at)?,
                (State::Collection, Ev::End) => {
                    self.state = State::Finished;
                    return Ok(None);
                }
                (State::Collection, Ev::Eof) => {
                    return Err(MarcError::Truncated {
                        position: self.position,
                    });
                }
                (_, Ev::Empty(_) | Ev::Text | Ev::End) => {}
            }
        }
    }

    /// Reads the record whose start tag was just read (`empty`: it was `<record/>`).
    fn record(&mut self, empty: bool) -> Result<Entry, MarcError> {
        let position = self.position;
        let mut parts = Parts {
            text_limit: self.text_limit,
            ..Parts::default()
        };
        if !empty {
            // The elements open inside the record.
            let mut open: Vec<Open> = Vec::new();
            loop {
                match self.events.next(Some(position))? {
                    Ev::Eof => {
                        return Err(MarcError::Truncated {
                            position: position - 1,
                        });
                    }
                    Ev::Text => {}
                    Ev::Start(e) => {
                        let frame = parts.open(open.last(), e);
                        open.push(frame);
                    }
                    Ev::Empty(e) => {
                        let frame = parts.open(open.last(), e);
                        parts.close(frame, String::new());
                    }
                    Ev::End => match open.pop() {
                        Some(frame) => parts.close(frame, std::mem::take(&mut self.events.text)),
                        None => break,
                    },
                }
            }
        }
        self.events.whole = position;
        Ok(parts.finish(position))
    }
}

/// An element open inside a record.
enum Open {
    /// A leader, control field or subfield, whose text is being read.
    Leaf(Element),
    DataField,
    /// An element this schema does not have there, skipped with its content.
    Ignored,
}

/// A record as its elements are read, and the first reason it is rejected (reading goes on to
/// its end regardless, so the next record is found).
#[derive(Default)]
struct Parts {
    leader: Option<String>,
    record: Record,
    field: Option<DataField>,
    problem: Option<String>,
    text_size: usize,
    text_limit: usize,
}

impl Parts {
    fn reject(&mut self, why: String) {
        self.problem.get_or_insert(why);
    }

    fn open(&mut self, parent: Option<&Open>, e: Element) -> Open {
        match (parent, e.name) {
            (Some(Open::Ignored), _) => Open::Ignored,
            (Some(Open::Leaf(leaf)), _) => {
                self.reject(format!(
                    "an element <{}> inside <{}>",
                    e.shown(),
                    leaf.shown()
                ));
                Open::Ignored
            }
            (None, Name::Leader | Name::ControlField) | (Some(Open::DataField), Name::Subfield) => {
                Open::Leaf(e)
            }
            (None, Name::DataField) => {
                match data_field(&e) {
                    Ok(f) => self.field = Some(f),
                    Err(why) => self.reject(why),
                }
                Open::DataField
            }
            (_, Name::Other) => Open::Ignored,
            (_, _) => {
                self.reject(format!("a misplaced <{}> element", e.shown()));
                Open::Ignored
            }
        }
    }

    fn close(&mut self, frame: Open, text: String) {
        let e = match frame {
            Open::Leaf(e) => e,
            Open::DataField => {
                if let Some(f) = self.field.take() {
                    self.record.data_fields.push(f);
                }
                return;
            }
            Open::Ignored => return,
        };
        self.text_size += text.len();
        if self.text_size > self.text_limit {
            self.reject(format!(
                "the record holds more than {} of text",
                size(self.text_limit)
            ));
            return;
        }
        match e.name {
            Name::Leader if self.leader.is_some() => {
                self.reject("the record has two leaders".to_owned())
            }
            // A leader never starts or ends with white space, so a pretty-printer's is dropped.
            Name::Leader => self.leader = Some(text.trim().to_owned()),
            Name::ControlField => match e.tag {
                Some(tag) if tag.chars().count() == 3 => self
                    .record
                    .control_fields
                    .push(ControlField { tag, value: text }),
                Some(tag) => self.reject(format!(
                    "a control field has the tag {tag:?}, not three characters"
                )),
                None => self.reject("a control field has no tag".to_owned()),
            },
            Name::Subfield => {
                let mut code = e.code.as_deref().unwrap_or("").chars();
                match (code.next(), code.next(), &mut self.field) {
                    (Some(code), None, Some(field)) => {
                        field.subfields.push(Subfield { code, value: text })
                    }
                    (Some(_), None, None) => {} // its field was already rejected
                    (None, _, _) => self.reject("a subfield has no code".to_owned()),
                    (Some(_), Some(_), _) => self.reject(format!(
                        "a subfield has the code {:?}, not one character",
                        e.code.unwrap_or_default()
                    )),
                }
            }
            _ => {}
        }
    }

    fn finish(mut self, position: usize) -> Entry {
        let control_number = self.record.control("001").map(str::to_owned);
        match self.leader.take() {
            Some(l) if l.chars().count() == 24 => self.record.leader = l,
            Some(l) => self.reject(format!(
                "the leader {l:?} is {} characters long, not 24",
                l.chars().count()
            )),
            None => self.reject("the record has no leader".to_owned()),
        }
        Entry {
            position,
            control_number,
            record: match self.problem {
                Some(why) => Err(why),
                None => Ok(self.record),
            },
        }
    }
}

/// A `<datafield>`'s tag and indicators; a missing or empty indicator is blank.
fn data_field(e: &Element) -> Result<DataField, String> {
    let tag = match &e.tag {
        Some(tag) if tag.chars().count() == 3 => tag.clone(),
        Some(tag) => {
            return Err(format!(
                "a data field has the tag {tag:?}, not three characters"
            ));
        }
        None => return Err("a data field has no tag".to_owned()),
    };
    let indicator = |value: &Option<String>, which: &str| {
        let mut chars = value.as_deref().unwrap_or("").chars();
        match (chars.next(), chars.next()) {
            (None, _) => Ok(' '),
            (Some(c), None) => Ok(c),
            (Some(_), Some(_)) => Err(format!(
                "field {tag} has {which} {:?}, not one character",
                value.as_deref().unwrap_or_default()
            )),
        }
    };
    Ok(DataField {
        ind1: indicator(&e.ind1, "ind1")?,
        ind2: indicator(&e.ind2, "ind2")?,
        tag,
        subfields: Vec::new(),
    })
}

impl<R: BufRead> Iterator for XmlReader<R> {
    type Item = Result<Entry, MarcError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.state == State::Finished {
            return None;
        }
        match self.step() {
            Ok(Some(entry)) => Some(Ok(entry)),
            Ok(None) => {
                self.state = State::Finished;
                None
            }
            Err(e) => {
                self.state = State::Finished;
                Some(Err(e))
            }
        }
    }
}

/// Writes MARCXML: the `<collection>` head on [`new`](Self::new), one `<record>` per
/// [`write`](Self::write), the end on [`finish`](Self::finish) (a writer dropped without
/// `finish` leaves the collection unclosed).
pub struct XmlWriter<W: Write> {
    out: W,
    buf: String,
    /// Records given to `write`, written or not, to number them in errors.
    given: usize,
    written: usize,
}

impl<W: Write> XmlWriter<W> {
    /// Writes the XML declaration and the `<collection>` start tag.
    pub fn new(mut out: W) -> Result<Self, MarcError> {
        out.write_all(
            format!(
                "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<collection xmlns=\"{NAMESPACE}\">\n"
            )
            .as_bytes(),
        )?;
        Ok(Self {
            out,
            buf: String::with_capacity(4096),
            given: 0,
            written: 0,
        })
    }

    /// Writes one record, with leader/09 `a` (the text is Unicode). A record that cannot be
    /// written is an [`MarcError::Unwritable`] and nothing of it is written, so the caller may
    /// go on with the next.
    pub fn write(&mut self, record: &Record) -> Result<(), MarcError> {
        self.given += 1;
        check::writable(record).map_err(|reason| MarcError::Unwritable {
            position: self.given,
            reason,
        })?;
        self.buf.clear();
        encode(record, &mut self.buf);
        self.out.write_all(self.buf.as_bytes())?;
        self.written += 1;
        Ok(())
    }

    /// How many records were written.
    pub fn written(&self) -> usize {
        self.written
    }

    /// Closes the collection, flushes, and hands back the output.
    pub fn finish(mut self) -> Result<W, MarcError> {
        self.out.write_all(b"</collection>\n")?;
        self.out.flush()?;
        Ok(self.out)
    }
}

impl<W: Write> std::fmt::Debug for XmlWriter<W> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("XmlWriter")
            .field("written", &self.written)
            .finish_non_exhaustive()
    }
}

/// Writes `records` as one MARCXML collection; returns how many were written. A record that
/// cannot be written stops the writing (see [`XmlWriter::write`] to skip such records instead).
pub fn write_marcxml<W, I>(out: W, records: I) -> Result<usize, MarcError>
where
    W: Write,
    I: IntoIterator,
    I::Item: Borrow<Record>,
{
    let mut writer = XmlWriter::new(out)?;
    for record in records {
        writer.write(record.borrow())?;
    }
    let written = writer.written();
    writer.finish()?;
    Ok(written)
}

/// One `<record>`, indented inside the collection. `record` passed [`check::writable`].
fn encode(record: &Record, out: &mut String) {
    out.push_str("  <record>\n    <leader>");
    // Writable leaders are ASCII, so position 9 is a byte.
    out.push_str(&record.leader[..9]);
    out.push('a');
    escape_text(&record.leader[10..], out);
    out.push_str("</leader>\n");
    for f in &record.control_fields {
        out.push_str("    <controlfield tag=\"");
        escape_attr(&f.tag, out);
        out.push_str("\">");
        escape_text(&f.value, out);
        out.push_str("</controlfield>\n");
    }
    for f in &record.data_fields {
        out.push_str("    <datafield tag=\"");
        escape_attr(&f.tag, out);
        out.push_str("\" ind1=\"");
        escape_attr(f.ind1.encode_utf8(&mut [0; 4]), out);
        out.push_str("\" ind2=\"");
        escape_attr(f.ind2.encode_utf8(&mut [0; 4]), out);
        out.push_str("\">\n");
        for s in &f.subfields {
            out.push_str("      <subfield code=\"");
            escape_attr(s.code.encode_utf8(&mut [0; 4]), out);
            out.push_str("\">");
            escape_text(&s.value, out);
            out.push_str("</subfield>\n");
        }
        out.push_str("    </datafield>\n");
    }
    out.push_str("  </record>\n");
}

/// Element text: markup characters as entities, and carriage returns as a character reference
/// (a reader turns a literal one into a line feed).
fn escape_text(s: &str, out: &mut String) {
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '\r' => out.push_str("&#13;"),
            c => out.push(c),
        }
    }
}

/// An attribute value in double quotes: also the quote, and white space a reader would
/// otherwise normalise to spaces.
fn escape_attr(s: &str, out: &mut String) {
    for c in s.chars() {
        match c {
            '"' => out.push_str("&quot;"),
            '\t' => out.push_str("&#9;"),
            '\n' => out.push_str("&#10;"),
            c => escape_text(c.encode_utf8(&mut [0; 4]), out),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LEADER: &str = "00000nam a2200000 i 4500";

    fn entries(xml: &str) -> Vec<Result<Entry, MarcError>> {
        XmlReader::new(xml.as_bytes()).collect()
    }

    fn records(xml: &str) -> Vec<Record> {
        entries(xml)
            .into_iter()
            .map(|e| {
                e.expect("the record is read")
                    .record
                    .expect("the record is read")
            })
            .collect()
    }

    fn one(id: &str) -> String {
        format!(
            r#"<record><leader>{LEADER}</leader><controlfield tag="001">{id}</controlfield>
               <datafield tag="245" ind1="1" ind2="0"><subfield code="a">Title {id}</subfield></datafield>
               </record>"#
        )
    }

    #[test]
    fn a_collection_in_the_default_namespace_reads_every_record() {
        let xml = format!(
            r#"<?xml version="1.0" encoding="UTF-8"?>
            <collection xmlns="http://www.loc.gov/MARC21/slim">{}{}</collection>"#,
            one("a"),
            one("b")
        );
        let read: Vec<Entry> = entries(&xml).into_iter().map(Result::unwrap).collect();
        assert_eq!(read.len(), 2);
        assert_eq!(read[1].position, 2);
        assert_eq!(read[1].control_number.as_deref(), Some("b"));
        let r = read[0].record.as_ref().expect("the record is read");
        assert_eq!(r.leader, LEADER);
        assert_eq!(r.control("001"), Some("a"));
        let f = &r.data_fields[0];
        assert_eq!((f.tag.as_str(), f.ind1, f.ind2), ("245", '1', '0'));
        assert_eq!(f.first('a'), Some("Title a"));
    }

    #[test]
    fn elements_with_the_marc_prefix_read_the_same() {
        let xml = r#"<marc:collection xmlns:marc="http://www.loc.gov/MARC21/slim">
            <marc:record><marc:leader>00000nam a2200000 i 4500</marc:leader>
            <marc:controlfield tag="001">p1</marc:controlfield>
            <marc:datafield tag="100" ind1="1" ind2=" "><marc:subfield code="a">Hugo, Victor</marc:subfield></marc:datafield>
            </marc:record></marc:collection>"#;
        let r = &records(xml)[0];
        assert_eq!(r.control("001"), Some("p1"));
        assert_eq!(r.data_fields[0].first('a'), Some("Hugo, Victor"));
    }

    #[test]
    fn a_single_record_root_without_a_namespace_reads() {
        let read = records(&one("solo"));
        assert_eq!(read.len(), 1);
        assert_eq!(read[0].control("001"), Some("solo"));
    }

    #[test]
    fn predefined_entities_character_references_and_cdata_are_decoded() {
        let xml = format!(
            r#"<record><leader>{LEADER}</leader><datafield tag="245" ind1="0" ind2="0">
               <subfield code="a">Tom &amp; Jerry &lt;&#233;t&#xE9;&gt; &quot;&apos;</subfield>
               <subfield code="b"><![CDATA[a <b> & c]]></subfield></datafield></record>"#
        );
        let r = &records(&xml)[0];
        assert_eq!(r.data_fields[0].first('a'), Some("Tom & Jerry <été> \"'"));
        assert_eq!(r.data_fields[0].first('b'), Some("a <b> & c"));
    }

    #[test]
    fn spaces_and_line_breaks_inside_a_subfield_are_kept() {
        let xml = format!(
            "<record><leader>{LEADER}</leader><datafield tag=\"500\" ind1=\" \" ind2=\" \">\
             <subfield code=\"a\">  two\nlines&#13;  </subfield></datafield></record>"
        );
        assert_eq!(
            records(&xml)[0].data_fields[0].first('a'),
            Some("  two\nlines\r  ")
        );
    }

    #[test]
    fn missing_indicators_are_blank() {
        let xml = format!(
            r#"<record><leader>{LEADER}</leader><datafield tag="500"><subfield code="a">n</subfield></datafield></record>"#
        );
        let f = &records(&xml)[0].data_fields[0];
        assert_eq!((f.ind1, f.ind2), (' ', ' '));
    }

    #[test]
    fn elements_outside_the_schema_are_skipped() {
        let xml = format!(
            r#"<collection><note>exported <b>today</b></note>{}<record><leader>{LEADER}</leader>
               <local:extra xmlns:local="urn:x"><subfield code="z">no</subfield></local:extra>
               <controlfield tag="001">k</controlfield></record></collection>"#,
            one("a")
        );
        let read = records(&xml);
        assert_eq!(read.len(), 2);
        assert_eq!(read[1].control_fields.len(), 1);
        assert!(read[1].data_fields.is_empty());
    }

    #[test]
    fn an_entity_expansion_bomb_is_refused_unexpanded() {
        let xml = r#"<?xml version="1.0"?>
<!DOCTYPE collection [
  <!ENTITY lol "lol">
  <!ENTITY lol1 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
  <!ENTITY lol2 "&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;">
  <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
  <!ENTITY lol9 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
]>
<collection><record><leader>00000nam a2200000 i 4500</leader>
<datafield tag="245" ind1="0" ind2="0"><subfield code="a">&lol9;</subfield></datafield>
</record></collection>"#;
        let read = entries(xml);
        assert_eq!(read.len(), 1);
        let err = read
            .into_iter()
            .next()
            .expect("an entry")
            .expect_err("is refused");
        assert!(matches!(err, MarcError::DeclaresEntities), "{err}");
        assert_eq!(
            err.to_string(),
            "the file declares XML entities and is refused"
        );
    }

    #[test]
    fn an_external_entity_is_refused_and_never_read() {
        let xml = r#"<?xml version="1.0"?>
<!DOCTYPE collection [ <!ENTITY xxe SYSTEM "file:///etc/passwd"> ]>
<collection><record><leader>00000nam a2200000 i 4500</leader>
<controlfield tag="001">&xxe;</controlfield></record></collection>"#;
        let read = entries(xml);
        assert_eq!(read.len(), 1);
        assert!(matches!(read[0], Err(MarcError::DeclaresEntities)));
    }

    #[test]
    fn a_parameter_entity_is_refused() {
        let xml = r#"<!DOCTYPE collection [ <!ENTITY % remote SYSTEM "http://example.invalid/x.dtd"> %remote; ]><collection/>"#;
        assert!(matches!(entries(xml)[0], Err(MarcError::DeclaresEntities)));
    }

    #[test]
    fn a_doctype_without_entities_is_read_past() {
        let xml = format!(
            "<!DOCTYPE collection SYSTEM \"MARC21slim.dtd\"><collection>{}</collection>",
            one("a")
        );
        assert_eq!(records(&xml).len(), 1);
    }

    #[test]
    fn an_undefined_entity_breaks_the_file_in_its_record() {
        let xml = format!(
            "<collection>{}<record><leader>&nbsp;</leader></record></collection>",
            one("a")
        );
        let read = entries(&xml);
        assert!(read[0].is_ok());
        match &read[1] {
            Err(MarcError::Xml { position, message }) => {
                assert_eq!(*position, Some(2));
                assert!(message.contains("&nbsp;"), "{message}");
            }
            other => panic!("expected an XML error, got {other:?}"),
        }
        assert_eq!(read.len(), 2);
    }

    #[test]
    fn a_mismatched_end_tag_is_an_xml_error_naming_the_record() {
        let xml = format!(
            "<collection>{}<record><leader>{LEADER}</leader><controlfield tag=\"001\">x</datafield></record></collection>",
            one("a")
        );
        let read = entries(&xml);
        assert_eq!(read.len(), 2);
        assert!(
            matches!(
                &read[1],
                Err(MarcError::Xml {
                    position: Some(2),
                    ..
                })
            ),
            "{:?}",
            read[1]
        );
    }

    #[test]
    fn a_file_cut_inside_a_record_is_truncated_after_the_records_before_it() {
        let xml = format!("<collection>{}{}", one("a"), one("b"));
        let cut = &xml[..xml.len() - 30];
        let read = entries(cut);
        assert_eq!(read.len(), 2);
        assert!(read[0].is_ok());
        let err = read[1].as_ref().expect_err("is refused");
        assert!(matches!(err, MarcError::Truncated { position: 1 }), "{err}");
    }

    #[test]
    fn a_file_cut_anywhere_inside_its_second_record_is_truncated_after_the_first() {
        let (a, b) = (one("a"), one("b"));
        let head = format!("<collection>{a}");
        for cut in 1..b.len() - 1 {
            let xml = format!("{head}{}", &b[..cut]);
            let read = entries(&xml);
            assert!(read[0].is_ok(), "cut at {cut}");
            assert!(
                matches!(read.get(1), Some(Err(MarcError::Truncated { position: 1 }))),
                "cut at {cut}: {:?}",
                read.get(1).map(|r| r.as_ref().err())
            );
            assert_eq!(read.len(), 2, "cut at {cut}");
        }
    }

    #[test]
    fn a_collection_never_closed_is_truncated() {
        let xml = format!("<collection>{}", one("a"));
        let read = entries(&xml);
        assert!(matches!(read[1], Err(MarcError::Truncated { position: 1 })));
    }

    #[test]
    fn a_record_without_a_leader_is_rejected_and_reading_goes_on() {
        let xml = format!(
            "<collection><record><controlfield tag=\"001\">nl</controlfield></record>{}</collection>",
            one("b")
        );
        let read: Vec<Entry> = entries(&xml).into_iter().map(Result::unwrap).collect();
        assert_eq!(read[0].control_number.as_deref(), Some("nl"));
        assert_eq!(read[0].record, Err("the record has no leader".to_owned()));
        assert!(read[1].record.is_ok());
    }

    #[test]
    fn a_subfield_without_a_code_rejects_the_record() {
        let xml = format!(
            "<record><leader>{LEADER}</leader><datafield tag=\"245\" ind1=\"0\" ind2=\"0\"><subfield>t</subfield></datafield></record>"
        );
        let entry = entries(&xml).remove(0).expect("an entry");
        assert_eq!(entry.record, Err("a subfield has no code".to_owned()));
    }

    #[test]
    fn a_data_field_tag_of_four_characters_rejects_the_record() {
        let xml = format!("<record><leader>{LEADER}</leader><datafield tag=\"2450\"/></record>");
        let entry = entries(&xml).remove(0).expect("an entry");
        assert_eq!(
            entry.record,
            Err("a data field has the tag \"2450\", not three characters".to_owned())
        );
    }

    #[test]
    fn a_short_leader_rejects_the_record() {
        let xml = "<record><leader>00000nam</leader></record>";
        let entry = entries(xml).remove(0).expect("an entry");
        assert!(entry.record.expect_err("is refused").contains("not 24"));
    }

    #[test]
    fn an_html_page_is_not_marc() {
        let read = entries("<!DOCTYPE html><html><body>Catalogue</body></html>");
        assert_eq!(read.len(), 1);
        match &read[0] {
            Err(MarcError::NotMarc(why)) => assert!(why.contains("<html>"), "{why}"),
            other => panic!("expected NotMarc, got {other:?}"),
        }
    }

    #[test]
    fn a_file_declared_in_another_encoding_is_refused() {
        let read = entries("<?xml version=\"1.0\" encoding=\"ISO-8859-1\"?><collection/>");
        assert!(
            matches!(&read[0], Err(MarcError::Xml { message, .. }) if message.contains("ISO-8859-1"))
        );
    }

    #[test]
    fn invalid_utf8_in_the_xml_is_an_error() {
        let mut xml = format!("<collection>{}</collection>", one("a")).into_bytes();
        let at = xml.windows(5).position(|w| w == b"Title").expect("found");
        xml[at] = 0xFF;
        let read: Vec<_> = XmlReader::new(&xml[..]).collect();
        assert!(
            matches!(read.last(), Some(Err(MarcError::Xml { .. }))),
            "{read:?}"
        );
    }

    #[test]
    fn an_xml_item_larger_than_the_limit_is_refused() {
        let xml = format!(
            "<collection><record><leader>{LEADER}</leader><controlfield tag=\"001\">{}</controlfield></record></collection>",
            "x".repeat(5000)
        );
        let limits = Limits {
            item: 1000,
            record_text: 100_000,
        };
        let read: Vec<_> = XmlReader::with_limits(xml.as_bytes(), limits).collect();
        // Also read in small pieces, as from a file: the reader stops inside the item.
        let piecewise = std::io::BufReader::with_capacity(64, xml.as_bytes());
        let streamed: Vec<_> = XmlReader::with_limits(piecewise, limits).collect();
        assert!(
            matches!(&streamed[..], [Err(MarcError::Xml { message, .. })] if message.contains("larger than 1000 bytes")),
            "{:?}",
            streamed.first().map(|r| r.as_ref().map(|e| e.position))
        );
        assert!(
            matches!(&read[0], Err(MarcError::Xml { message, .. }) if message.contains("larger than 1000 bytes")),
            "{:?}",
            read[0].as_ref().map(|e| e.position)
        );
    }

    #[test]
    fn a_long_run_of_references_between_elements_is_refused() {
        let xml = format!(
            "<collection>{}{}</collection>",
            "&amp;".repeat(300),
            one("a")
        );
        let limits = Limits {
            item: 100,
            record_text: 100_000,
        };
        let read: Vec<_> = XmlReader::with_limits(xml.as_bytes(), limits).collect();
        assert!(
            matches!(&read[..], [Err(MarcError::Xml { message, .. })] if message.contains("larger than 100 bytes")),
            "{read:?}"
        );
    }

    #[test]
    fn an_element_inside_a_subfield_rejects_the_record_and_reading_goes_on() {
        let xml = format!(
            "<collection><record><leader>{LEADER}</leader><datafield tag=\"245\" ind1=\"0\" ind2=\"0\">\
             <subfield code=\"a\">A <i>bold</i> title</subfield></datafield></record>{}</collection>",
            one("b")
        );
        let read: Vec<Entry> = entries(&xml)
            .into_iter()
            .map(|e| e.expect("an entry"))
            .collect();
        assert_eq!(
            read[0].record,
            Err("an element <i> inside <subfield>".to_owned())
        );
        assert!(read[1].record.is_ok());
    }

    #[test]
    fn a_record_with_more_text_than_the_limit_is_rejected_and_reading_goes_on() {
        let big = format!(
            "<record><leader>{LEADER}</leader><controlfield tag=\"001\">big</controlfield>{}</record>",
            "<datafield tag=\"500\" ind1=\" \" ind2=\" \"><subfield code=\"a\">0123456789</subfield></datafield>".repeat(20)
        );
        let xml = format!("<collection>{big}{}</collection>", one("b"));
        let limits = Limits {
            item: 1 << 20,
            record_text: 100,
        };
        let read: Vec<Entry> = XmlReader::with_limits(xml.as_bytes(), limits)
            .map(Result::unwrap)
            .collect();
        assert_eq!(
            read[0].record,
            Err("the record holds more than 100 bytes of text".to_owned())
        );
        assert!(read[1].record.is_ok());
    }

    fn sample() -> Record {
        Record {
            leader: "01234cam  2200301 i 4500".to_owned(),
            control_fields: vec![ControlField {
                tag: "001".to_owned(),
                value: "x<1>".to_owned(),
            }],
            data_fields: vec![DataField {
                tag: "245".to_owned(),
                ind1: '"',
                ind2: '&',
                subfields: vec![Subfield {
                    code: 'a',
                    value: "Tom & Jerry <3> ]]> \"quoted\"\r\n".to_owned(),
                }],
            }],
        }
    }

    #[test]
    fn the_writer_escapes_markup_and_marks_the_leader_unicode() {
        let mut out = Vec::new();
        assert_eq!(write_marcxml(&mut out, [sample()]).expect("writes"), 1);
        let xml = String::from_utf8(out).expect("is UTF-8");
        assert!(xml.starts_with("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<collection xmlns=\"http://www.loc.gov/MARC21/slim\">\n"));
        assert!(
            xml.contains("<leader>01234cam a2200301 i 4500</leader>"),
            "{xml}"
        );
        assert!(
            xml.contains("<controlfield tag=\"001\">x&lt;1&gt;</controlfield>"),
            "{xml}"
        );
        assert!(
            xml.contains("<datafield tag=\"245\" ind1=\"&quot;\" ind2=\"&amp;\">"),
            "{xml}"
        );
        assert!(
            xml.contains("Tom &amp; Jerry &lt;3&gt; ]]&gt; \"quoted\"&#13;\n</subfield>"),
            "{xml}"
        );
        assert!(xml.ends_with("</collection>\n"));
        let mut back = records(&xml).remove(0);
        back.leader.replace_range(9..10, " ");
        assert_eq!(back, sample());
    }

    #[test]
    fn an_unwritable_record_is_skipped_whole_and_the_writer_goes_on() {
        let mut bad = sample();
        bad.data_fields[0].subfields[0].value = "bell\u{7}".to_owned();
        let mut w = XmlWriter::new(Vec::new()).expect("writes");
        let err = w.write(&bad).expect_err("is refused");
        assert!(
            matches!(&err, MarcError::Unwritable { position: 1, reason } if reason.contains("U+0007")),
            "{err}"
        );
        w.write(&sample()).expect("writes");
        assert_eq!(w.written(), 1);
        let xml = String::from_utf8(w.finish().expect("writes")).expect("writes");
        assert_eq!(records(&xml).len(), 1);
    }

    #[test]
    fn an_empty_collection_has_no_records() {
        let xml = String::from_utf8(
            XmlWriter::new(Vec::new())
                .expect("writes")
                .finish()
                .expect("writes"),
        )
        .expect("writes");
        assert!(entries(&xml).is_empty());
        assert!(entries("<collection/>").is_empty());
    }
}
