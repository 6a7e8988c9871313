//! MARC 21 bibliographic records as the rest of Shelfmark sees them, and the one mapping
//! between such a record and a [`Book`](crate::Book).
//!
//! A library's catalogue arrives as MARC (ISO 2709 or MARCXML, UTF-8 or MARC-8); the crate
//! `shelfmark-marc` reads and writes those encodings and hands over a [`Record`] whose text is
//! already UTF-8. What a record *means* as a book (which tag is the title, how ISBD punctuation
//! is dropped, which ISBN counts) is decided here, once, for the server's bulk load, the
//! desk's import and the export alike: [`to_book`] and [`from_book`], whose field-by-field
//! mapping is set out in [`book`].

pub mod book;

pub use book::{Imported, Rejected, book_id, from_book, to_book};

/// One bibliographic record: its leader, its control fields (001–009) and its data fields,
/// in the order the record holds them. All text is UTF-8.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Record {
    /// The 24-character leader as the record carries it (lengths and addresses included; a
    /// writer recomputes those).
    pub leader: String,
    pub control_fields: Vec<ControlField>,
    pub data_fields: Vec<DataField>,
}

/// A control field (tags 001–009): a tag and an unstructured value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ControlField {
    pub tag: String,
    pub value: String,
}

impl ControlField {
    pub fn new(tag: &str, value: &str) -> ControlField {
        ControlField {
            tag: tag.to_owned(),
            value: value.to_owned(),
        }
    }
}

/// A data field (tags 010–999): a tag, two indicators and its subfields in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DataField {
    pub tag: String,
    pub ind1: char,
    pub ind2: char,
    pub subfields: Vec<Subfield>,
}

/// One subfield: its code (`a`, `b`, …) and value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Subfield {
    pub code: char,
    pub value: String,
}

impl Record {
    /// The value of the first control field with this tag.
    pub fn control(&self, tag: &str) -> Option<&str> {
        self.control_fields
            .iter()
            .find(|f| f.tag == tag)
            .map(|f| f.value.as_str())
    }

    /// The data fields with this tag, in order.
    pub fn fields<'a>(&'a self, tag: &'a str) -> impl Iterator<Item = &'a DataField> + 'a {
        self.data_fields.iter().filter(move |f| f.tag == tag)
    }
}

impl DataField {
    /// A data field with these subfields, in this order.
    pub fn new(tag: &str, ind1: char, ind2: char, subfields: &[(char, &str)]) -> DataField {
        DataField {
            tag: tag.to_owned(),
            ind1,
            ind2,
            subfields: subfields
                .iter()
                .map(|(code, value)| Subfield {
                    code: *code,
                    value: (*value).to_owned(),
                })
                .collect(),
        }
    }

    /// The values of the subfields with this code, in order.
    pub fn subfields(&self, code: char) -> impl Iterator<Item = &str> + '_ {
        self.subfields
            .iter()
            .filter(move |s| s.code == code)
            .map(|s| s.value.as_str())
    }

    /// The first subfield with this code.
    pub fn first(&self, code: char) -> Option<&str> {
        self.subfields(code).next()
    }
}
