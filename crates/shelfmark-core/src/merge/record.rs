//! Records seen as named, typed fields, so one merge serves books, copies and patrons.
//!
//! The merge needs to read and write a record field by field and to know how each field
//! merges: single values whole, multi-line text line by line, lists as ordered sets. Each
//! record type lists its fields once here ([`Record`]); the merge itself is in
//! [`super::state`].

use uuid::Uuid;

use crate::model::{Book, CopyStatus, Patron};

/// The value of one field, typed.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum FieldValue {
    /// Single-line text: merged whole.
    Text(String),
    /// Multi-line text (`summary`, `notes`): merged line by line.
    Lines(String),
    /// An ordered set of strings (`authors`, `subjects`).
    List(Vec<String>),
    Year(Option<i32>),
    Flag(bool),
    Id(Uuid),
    CopyStatus(CopyStatus),
}

/// The kind of a [`FieldValue`], to check a hand-edited value against its field.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FieldKind {
    Text,
    Lines,
    List,
    Year,
    Flag,
    Id,
    CopyStatus,
}

impl FieldValue {
    pub fn kind(&self) -> FieldKind {
        match self {
            FieldValue::Text(_) => FieldKind::Text,
            FieldValue::Lines(_) => FieldKind::Lines,
            FieldValue::List(_) => FieldKind::List,
            FieldValue::Year(_) => FieldKind::Year,
            FieldValue::Flag(_) => FieldKind::Flag,
            FieldValue::Id(_) => FieldKind::Id,
            FieldValue::CopyStatus(_) => FieldKind::CopyStatus,
        }
    }

    /// The value as the record's JSON holds it.
    pub fn to_json(&self) -> serde_json::Value {
        use serde_json::Value;
        match self {
            FieldValue::Text(s) | FieldValue::Lines(s) => Value::from(s.as_str()),
            FieldValue::List(items) => Value::from(items.clone()),
            FieldValue::Year(y) => y.map_or(Value::Null, Value::from),
            FieldValue::Flag(b) => Value::from(*b),
            FieldValue::Id(id) => Value::from(id.to_string()),
            FieldValue::CopyStatus(s) => Value::from(s.as_str()),
        }
    }

    /// Reads a value of `kind` from JSON (a hand-edited value from the merge screen); `None`
    /// when the JSON is not of that kind.
    pub fn from_json(kind: FieldKind, v: &serde_json::Value) -> Option<FieldValue> {
        fn typed<T: serde::de::DeserializeOwned>(v: &serde_json::Value) -> Option<T> {
            serde_json::from_value(v.clone()).ok()
        }
        Some(match kind {
            FieldKind::Text => FieldValue::Text(v.as_str()?.to_owned()),
            FieldKind::Lines => FieldValue::Lines(v.as_str()?.to_owned()),
            FieldKind::List => FieldValue::List(typed(v)?),
            FieldKind::Year => FieldValue::Year(typed(v)?),
            FieldKind::Flag => FieldValue::Flag(v.as_bool()?),
            FieldKind::Id => FieldValue::Id(typed(v)?),
            FieldKind::CopyStatus => FieldValue::CopyStatus(typed(v)?),
        })
    }

    /// The text to diff word by word, for the text kinds.
    pub(crate) fn as_text(&self) -> Option<&str> {
        match self {
            FieldValue::Text(s) | FieldValue::Lines(s) => Some(s),
            _ => None,
        }
    }
}

/// A record the merge can take apart and put back together. The `id` is not a field: the
/// three versions must share it.
pub trait Record: Clone + PartialEq + std::fmt::Debug {
    /// The mergeable fields, in the order the UI shows them.
    const FIELDS: &'static [&'static str];

    fn id(&self) -> Uuid;

    /// The value of `field`, or `None` for a name not in [`Record::FIELDS`].
    fn get(&self, field: &str) -> Option<FieldValue>;

    /// Sets `field`; the value must be of the field's kind.
    fn set(&mut self, field: &str, value: FieldValue) -> Result<(), FieldMismatch>;
}

/// Why a value could not be set on a record (the merge reports it as its own error).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FieldMismatch {
    WrongKind {
        field: String,
        expected: FieldKind,
        got: FieldKind,
    },
    UnknownField(String),
}

macro_rules! record_fields {
    ($ty:ty { $($name:ident : $variant:ident),* $(,)? }) => {
        impl Record for $ty {
            const FIELDS: &'static [&'static str] = &[$(stringify!($name)),*];

            fn id(&self) -> Uuid {
                self.id
            }

            fn get(&self, field: &str) -> Option<FieldValue> {
                match field {
                    $(stringify!($name) => Some(FieldValue::$variant(self.$name.clone())),)*
                    _ => None,
                }
            }

            fn set(&mut self, field: &str, value: FieldValue) -> Result<(), FieldMismatch> {
                match (field, value) {
                    $((stringify!($name), FieldValue::$variant(v)) => {
                        self.$name = v;
                        Ok(())
                    })*
                    (field, value) => match self.get(field) {
                        Some(current) => Err(FieldMismatch::WrongKind {
                            field: field.to_owned(),
                            expected: current.kind(),
                            got: value.kind(),
                        }),
                        None => Err(FieldMismatch::UnknownField(field.to_owned())),
                    },
                }
            }
        }
    };
}

record_fields!(Book {
    isbn: Text,
    title: Text,
    authors: List,
    publisher: Text,
    year: Year,
    subjects: List,
    summary: Lines,
    notes: Lines,
});

record_fields!(crate::model::Copy {
    book_id: Id,
    barcode: Text,
    branch: Text,
    call_number: Text,
    status: CopyStatus,
});

record_fields!(Patron {
    name: Text,
    email: Text,
    premium: Flag,
    branch: Text,
    card: Text,
    notes: Lines,
});
