//! MARC 21 files in and out: ISO 2709 (UTF-8 or MARC-8) and MARCXML, read into and written
//! from [`shelfmark_core::marc::Record`], whose text is always UTF-8.
//!
//! A library's catalogue arrives as a file exported by another system, often large and not
//! always well made. Reading is therefore streaming (one record in memory at a time, whatever
//! the file's size) and sorts failures into two kinds:
//!
//! - a record that is bad on its own (a wrong length, a broken directory, text that is not
//!   UTF-8, a MARC-8 character set Shelfmark cannot convert) comes out as an [`Entry`] whose
//!   `record` is `Err(reason)`, and reading goes on with the next record;
//! - a file that cannot be read further (truncated, not MARC at all, XML that breaks, XML that
//!   declares entities) ends the iteration with a [`MarcError`].
//!
//! Writing checks each record first, so either a whole record is written or none of it.
//!
//! The ISO 2709 framing and the MARCXML mapping are written here rather than taken from the
//! `marc` crate: its parser indexes the input without bounds checks (a damaged directory makes
//! it panic) and its builder re-sorts fields by tag, so the tests use it only as an
//! independent reader of what this crate writes.

mod check;
mod iso2709;
mod marc8;
mod marcxml;

use std::fmt;
use std::io::BufRead;
use std::str::FromStr;

pub use iso2709::write_iso2709;
pub use marcxml::{XmlWriter, write_marcxml};
pub use shelfmark_core::marc::Record;

/// The two encodings of a MARC file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Format {
    /// ISO 2709 ("MARC communications format", `.mrc`), UTF-8 or MARC-8 by leader/09.
    Iso2709,
    /// MARCXML (the Library of Congress's `MARC21/slim` schema), UTF-8.
    MarcXml,
}

impl Format {
    /// The name [`FromStr`] reads and [`Display`](fmt::Display) writes.
    pub fn name(self) -> &'static str {
        match self {
            Format::Iso2709 => "iso2709",
            Format::MarcXml => "marcxml",
        }
    }
}

impl fmt::Display for Format {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A format name other than `iso2709` or `marcxml`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown MARC format {0:?}: expected \"iso2709\" or \"marcxml\"")]
pub struct UnknownFormat(pub String);

impl FromStr for Format {
    type Err = UnknownFormat;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if s.eq_ignore_ascii_case("iso2709") {
            Ok(Format::Iso2709)
        } else if s.eq_ignore_ascii_case("marcxml") {
            Ok(Format::MarcXml)
        } else {
            Err(UnknownFormat(s.to_owned()))
        }
    }
}

/// Why a MARC file cannot be read (any further) or written.
#[derive(Debug, thiserror::Error)]
pub enum MarcError {
    #[error("the file cannot be read or written: {0}")]
    Io(#[from] std::io::Error),
    /// The bytes are not a MARC file of the expected format; the text says what they look like.
    #[error("this is not a MARC file: {0}")]
    NotMarc(String),
    /// The file ends inside a record; `position` records were whole before it.
    #[error("{}", truncated(*.position))]
    Truncated { position: usize },
    /// No record terminator within the 99,999 bytes an ISO 2709 record may have, after
    /// `position` records.
    #[error(
        "no record terminator within 99,999 bytes after record {position}: the file is damaged or not ISO 2709"
    )]
    NoRecordTerminator { position: usize },
    /// The XML is not well-formed. `position` is the record being read, if any.
    #[error("the MARCXML is broken{}: {message}", in_record(*.position))]
    Xml {
        position: Option<usize>,
        message: String,
    },
    /// The XML has a DOCTYPE declaring entities (an entity-expansion bomb or an external entity
    /// would otherwise be possible); such a file is refused, never expanded or fetched.
    #[error("the file declares XML entities and is refused")]
    DeclaresEntities,
    /// Record `position` (1-based, in the order given to the writer) cannot be written; nothing
    /// of it was written.
    #[error("record {position} cannot be written: {reason}")]
    Unwritable { position: usize, reason: String },
}

fn truncated(position: usize) -> String {
    if position == 0 {
        "the file is truncated inside its first record".to_owned()
    } else {
        format!("the file is truncated after record {position}")
    }
}

fn in_record(position: Option<usize>) -> String {
    position
        .map(|n| format!(" in record {n}"))
        .unwrap_or_default()
}

/// One record of a file as read: where it was, its control number, and the record or the
/// reason it was rejected.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// The 1-based number of the record in the file.
    pub position: usize,
    /// Its 001, when that could be read (also for most rejected records, to name them).
    pub control_number: Option<String>,
    /// The record, or why this record is rejected, in plain words; reading goes on either way.
    pub record: Result<Record, String>,
}

/// The format of a file from its first bytes: a UTF-8 byte-order mark and white space are
/// skipped, then `<` means MARCXML and five ASCII digits (a record length) mean ISO 2709.
pub fn detect(head: &[u8]) -> Result<Format, MarcError> {
    let body = skip_bom_and_space(head);
    match body.first() {
        None if head.is_empty() => Err(MarcError::NotMarc("the file is empty".to_owned())),
        None => Err(MarcError::NotMarc(
            "the file holds only white space".to_owned(),
        )),
        Some(b'<') => Ok(Format::MarcXml),
        Some(_) if body.len() >= 5 && body[..5].iter().all(u8::is_ascii_digit) => {
            Ok(Format::Iso2709)
        }
        Some(_) => Err(MarcError::NotMarc(describe(body))),
    }
}

pub(crate) fn skip_bom_and_space(head: &[u8]) -> &[u8] {
    let body = head.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(head);
    let start = body
        .iter()
        .position(|b| !b.is_ascii_whitespace())
        .unwrap_or(body.len());
    &body[start..]
}

/// What the start of a file that is not MARC looks like, for the librarian.
fn describe(body: &[u8]) -> String {
    let what = if body.starts_with(b"\x89PNG") {
        "it is a PNG image"
    } else if body.starts_with(b"%PDF") {
        "it is a PDF document"
    } else if body.starts_with(b"PK\x03\x04") {
        "it is a ZIP archive (or an office document)"
    } else if body.starts_with(b"\x1F\x8B") {
        "it is gzip-compressed"
    } else if body.starts_with(b"\xFF\xFE") || body.starts_with(b"\xFE\xFF") {
        "it is UTF-16 text"
    } else if matches!(body.first(), Some(b'{' | b'[')) {
        "it looks like JSON"
    } else {
        let start: Vec<u8> = body.iter().copied().take(16).collect();
        return format!(
            "it starts with \"{}\", neither a five-digit ISO 2709 record length nor XML",
            start.escape_ascii()
        );
    };
    format!("{what}, not ISO 2709 or MARCXML")
}

/// Reads the records of a MARC file one at a time; see [`read`].
pub struct Reader<R: BufRead> {
    inner: Inner<R>,
}

enum Inner<R: BufRead> {
    Iso(iso2709::IsoReader<R>),
    Xml(Box<marcxml::XmlReader<R>>),
}

/// The records of `input` in `format`, one [`Entry`] at a time. The iteration ends after the
/// last record, or with one `Err` when the file cannot be read further.
pub fn read<R: BufRead>(input: R, format: Format) -> Reader<R> {
    let inner = match format {
        Format::Iso2709 => Inner::Iso(iso2709::IsoReader::new(input)),
        Format::MarcXml => Inner::Xml(Box::new(marcxml::XmlReader::new(input))),
    };
    Reader { inner }
}

/// Like [`read`], with the format [`detect`]ed from what `input`'s buffer first holds (a
/// `BufReader` holds its first 8 KiB).
pub fn read_detected<R: BufRead>(mut input: R) -> Result<Reader<R>, MarcError> {
    let format = detect(input.fill_buf()?)?;
    Ok(read(input, format))
}

impl<R: BufRead> Reader<R> {
    /// The format being read.
    pub fn format(&self) -> Format {
        match self.inner {
            Inner::Iso(_) => Format::Iso2709,
            Inner::Xml(_) => Format::MarcXml,
        }
    }
}

impl<R: BufRead> Iterator for Reader<R> {
    type Item = Result<Entry, MarcError>;

    fn next(&mut self) -> Option<Self::Item> {
        match &mut self.inner {
            Inner::Iso(r) => r.next(),
            Inner::Xml(r) => r.next(),
        }
    }
}

impl<R: BufRead> fmt::Debug for Reader<R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Reader")
            .field("format", &self.format())
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_iso2709_record_length_is_detected_as_iso2709() {
        assert_eq!(
            detect(b"00714cam a2200205 a 4500").expect("detected"),
            Format::Iso2709
        );
    }

    #[test]
    fn xml_after_a_byte_order_mark_and_white_space_is_detected_as_marcxml() {
        assert_eq!(
            detect(b"\xEF\xBB\xBF\n  <?xml version=\"1.0\"?><collection/>").expect("detected"),
            Format::MarcXml
        );
    }

    #[test]
    fn a_png_is_not_marc_and_is_named() {
        let err = detect(b"\x89PNG\r\n\x1A\n\0\0\0\rIHDR").expect_err("is refused");
        assert!(
            matches!(&err, MarcError::NotMarc(m) if m.contains("PNG")),
            "{err}"
        );
    }

    #[test]
    fn json_is_not_marc_and_is_named() {
        let err = detect(br#"{"title": "Emma"}"#).expect_err("is refused");
        assert!(
            matches!(&err, MarcError::NotMarc(m) if m.contains("JSON")),
            "{err}"
        );
    }

    #[test]
    fn other_text_is_not_marc_and_its_start_is_quoted() {
        let err = detect(b"Title,Author\nEmma,Austen").expect_err("is refused");
        assert!(
            matches!(&err, MarcError::NotMarc(m) if m.contains("Title,Author")),
            "{err}"
        );
    }

    #[test]
    fn an_empty_file_is_not_marc() {
        assert!(matches!(detect(b""), Err(MarcError::NotMarc(m)) if m.contains("empty")));
    }

    #[test]
    fn four_digits_are_not_a_record_length() {
        assert!(matches!(detect(b"0071"), Err(MarcError::NotMarc(_))));
    }

    #[test]
    fn format_names_read_back_as_the_format() {
        for f in [Format::Iso2709, Format::MarcXml] {
            assert_eq!(f.to_string().parse::<Format>().expect("parses"), f);
        }
        assert_eq!(
            "MARCXML".parse::<Format>().expect("parses"),
            Format::MarcXml
        );
        assert!("json".parse::<Format>().is_err());
    }

    #[test]
    fn read_detected_picks_the_reader_by_the_first_bytes() {
        let xml = b"<collection xmlns=\"http://www.loc.gov/MARC21/slim\"></collection>";
        let reader = read_detected(&xml[..]).expect("reads");
        assert_eq!(reader.format(), Format::MarcXml);
        assert_eq!(reader.count(), 0);
    }

    #[test]
    fn truncation_before_any_whole_record_says_so() {
        assert_eq!(
            MarcError::Truncated { position: 0 }.to_string(),
            "the file is truncated inside its first record"
        );
        assert_eq!(
            MarcError::Truncated { position: 7 }.to_string(),
            "the file is truncated after record 7"
        );
    }
}
