//! A record's history as the history screen shows it: each revision the server keeps
//! (`wire::Revision`, `GET /v1/{collection}/{id}/revisions`), newest first, with who made it,
//! when, and what it changed against the revision before: the fields whose values differ,
//! each with its words marked (the same word diff the merge screen highlights with,
//! [`crate::merge::word_changes`]).
//!
//! It exists so that the desktop shell (and any later screen, such as a manager's patron page)
//! only fetches the revisions and hands this over: the comparing is a rule, and rules are
//! tested here, without I/O.

use serde::Serialize;
use serde_json::Value;

use crate::RecordType;
use crate::merge::{Record, Words, word_changes};
use crate::model::{Book, Copy, Patron};
use crate::wire::{Revision, RevisionAuthor};

/// What a revision did to the record.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
pub enum EntryKind {
    /// The first revision, or the first after a deletion (the id was created again).
    Created,
    Changed,
    Deleted,
}

/// One field a revision set or changed.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
pub struct FieldChange {
    pub field: String,
    /// The value before as text ([`value_text`]); None for a created record.
    pub before: Option<String>,
    /// The value after as text.
    pub after: String,
    /// The word diff from `before` (empty when None) to `after`: `same` and `removed` runs
    /// spell the old text, `same` and `added` runs the new.
    pub words: Vec<Words>,
}

/// One revision as the history screen shows it.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
pub struct HistoryEntry {
    #[cfg_attr(feature = "ts", ts(type = "number"))]
    pub version: i64,
    /// RFC 3339, as the server wrote it.
    pub at: String,
    pub by: RevisionAuthor,
    pub kind: EntryKind,
    /// For a creation, the fields that have a value; for a change, the fields whose value
    /// changed (none when the record was stored again unchanged); for a deletion, none.
    pub fields: Vec<FieldChange>,
}

/// The history of one record of `kind`: `revisions` in any order in, one entry per revision
/// out, newest first. Each revision is compared with the one before it (by version) field by
/// field, the `id` left out (it never changes).
pub fn entries(kind: RecordType, revisions: &[Revision]) -> Vec<HistoryEntry> {
    let mut oldest_first: Vec<&Revision> = revisions.iter().collect();
    oldest_first.sort_by_key(|r| r.version);
    let mut out = Vec::with_capacity(oldest_first.len());
    let mut previous: Option<&Value> = None;
    for revision in oldest_first {
        let now = revision.data.as_ref().filter(|_| !revision.deleted);
        let (entry_kind, fields) = match (previous, now) {
            (_, None) => (EntryKind::Deleted, Vec::new()),
            (None, Some(now)) => (EntryKind::Created, changed_fields(kind, None, now)),
            (Some(before), Some(now)) => {
                (EntryKind::Changed, changed_fields(kind, Some(before), now))
            }
        };
        out.push(HistoryEntry {
            version: revision.version,
            at: revision.at.clone(),
            by: revision.by.clone(),
            kind: entry_kind,
            fields,
        });
        previous = now;
    }
    out.reverse();
    out
}

/// A field's value as the history shows it: text as it is, a list as its items joined by
/// commas, a number as written, a flag as yes or no, nothing (null, or no field) as empty;
/// anything else (an object, a list of lists) as compact JSON.
pub fn value_text(value: Option<&Value>) -> String {
    fn scalar(v: &Value) -> Option<String> {
        match v {
            Value::Null => Some(String::new()),
            Value::String(s) => Some(s.clone()),
            Value::Bool(true) => Some("yes".into()),
            Value::Bool(false) => Some("no".into()),
            Value::Number(n) => Some(n.to_string()),
            Value::Array(_) | Value::Object(_) => None,
        }
    }
    match value {
        None => String::new(),
        Some(Value::Array(items)) => match items.iter().map(scalar).collect::<Option<Vec<_>>>() {
            Some(texts) => texts.join(", "),
            None => Value::Array(items.clone()).to_string(),
        },
        Some(v) => scalar(v).unwrap_or_else(|| v.to_string()),
    }
}

/// The fields of `now` that differ from `before` as text (every field with a value when there
/// is no `before`), in the order [`field_order`] gives.
fn changed_fields(kind: RecordType, before: Option<&Value>, now: &Value) -> Vec<FieldChange> {
    let mut names: Vec<&str> = Vec::new();
    for record in before.into_iter().chain([now]) {
        if let Value::Object(map) = record {
            names.extend(map.keys().map(String::as_str));
        }
    }
    names.retain(|name| *name != "id");
    names.sort_by_key(|name| field_order(kind, name));
    names.dedup();
    names
        .into_iter()
        .filter_map(|name| {
            let after = value_text(now.get(name));
            let before = before.map(|b| value_text(b.get(name)));
            let changed = match &before {
                None => !after.is_empty(),
                Some(before) => *before != after,
            };
            changed.then(|| FieldChange {
                field: name.to_owned(),
                words: word_changes(before.as_deref().unwrap_or(""), &after)
                    .iter()
                    .map(Words::from)
                    .collect(),
                before,
                after,
            })
        })
        .collect()
}

/// Where a field goes: the kinds the merge knows list their fields in the order their forms
/// show them ([`Record::FIELDS`]); any other field (and every field of the other kinds)
/// follows, by name.
fn field_order(kind: RecordType, field: &str) -> (usize, &str) {
    let known: &[&str] = match kind {
        RecordType::Book => Book::FIELDS,
        RecordType::Copy => Copy::FIELDS,
        RecordType::Patron => Patron::FIELDS,
        _ => &[],
    };
    let place = known.iter().position(|f| *f == field);
    (place.unwrap_or(known.len()), field)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::merge::WordTag;

    fn revision(version: i64, by: &str, data: Option<Value>) -> Revision {
        Revision {
            version,
            etag: format!("\"v{version}\""),
            deleted: data.is_none(),
            data,
            by: RevisionAuthor {
                id: None,
                name: by.into(),
            },
            at: format!("2026-03-0{version}T10:00:00.000Z"),
        }
    }

    /// A field change as `field: [(tag, text)...]`, to compare in a table.
    fn marked(change: &FieldChange) -> (String, Vec<(WordTag, String)>) {
        let words = change.words.iter().map(|w| (w.tag, w.text.clone()));
        (change.field.clone(), words.collect())
    }

    use WordTag::{Added as A, Removed as R, Same as S};

    #[test]
    fn each_revision_is_compared_with_the_one_before_and_the_newest_comes_first() {
        let book = |title: &str, year: Value| {
            json!({"id": "b1", "isbn": "9780306406157", "title": title, "authors": ["Ann Author"],
                   "year": year, "summary": "", "notes": ""})
        };
        // Given oldest last, to show the order of the input does not matter.
        let revisions = [
            revision(3, "manager", None),
            revision(2, "ana", Some(book("The Green Garden", json!(2001)))),
            revision(1, "demo", Some(book("The Garden", Value::Null))),
        ];
        let history = entries(RecordType::Book, &revisions);
        let summary: Vec<_> = history
            .iter()
            .map(|e| (e.version, e.by.name.as_str(), e.kind))
            .collect();
        assert_eq!(
            summary,
            [
                (3, "manager", EntryKind::Deleted),
                (2, "ana", EntryKind::Changed),
                (1, "demo", EntryKind::Created),
            ]
        );
        assert!(history[0].fields.is_empty(), "a deletion lists no fields");
        let s = |t: &str| t.to_owned();
        assert_eq!(
            history[1].fields.iter().map(marked).collect::<Vec<_>>(),
            [
                (
                    s("title"),
                    vec![(S, s("The ")), (A, s("Green ")), (S, s("Garden"))]
                ),
                (s("year"), vec![(A, s("2001"))]),
            ]
        );
        // A creation lists the fields that have a value, in the form's order, without the id.
        let created: Vec<_> = history[2]
            .fields
            .iter()
            .map(|f| (f.field.as_str(), f.before.as_deref(), f.after.as_str()))
            .collect();
        assert_eq!(
            created,
            [
                ("isbn", None, "9780306406157"),
                ("title", None, "The Garden"),
                ("authors", None, "Ann Author"),
            ]
        );
        assert!(
            history[2]
                .fields
                .iter()
                .all(|f| f.words.iter().all(|w| w.tag == WordTag::Added)),
            "everything of a created record is new"
        );
    }

    #[test]
    fn changes_are_found_field_by_field_and_word_by_word() {
        // (field, before, after, what the history marks; None: no change shown)
        type Marks = Option<Vec<(WordTag, &'static str)>>;
        let cases: Vec<(&str, Value, Value, Marks)> = vec![
            (
                "title",
                json!("A history of the book"),
                json!("A history of the codex"),
                Some(vec![(S, "A history of the "), (R, "book"), (A, "codex")]),
            ),
            ("title", json!("Same"), json!("Same"), None),
            (
                "authors",
                json!(["Ann Author"]),
                json!(["Ann Author", "Bob Writer"]),
                Some(vec![(S, "Ann "), (R, "Author"), (A, "Author, Bob Writer")]),
            ),
            (
                "year",
                json!(2001),
                json!(2002),
                Some(vec![(R, "2001"), (A, "2002")]),
            ),
            (
                "premium",
                json!(false),
                json!(true),
                Some(vec![(R, "no"), (A, "yes")]),
            ),
            (
                "cancel_reason",
                Value::Null,
                json!("patron"),
                Some(vec![(A, "patron")]),
            ),
            ("copy_id", json!("c1"), Value::Null, Some(vec![(R, "c1")])),
            // No value and an empty one read the same: not a change anyone made.
            ("notes", Value::Null, json!(""), None),
            (
                "summary",
                json!("Line one.\nLine two."),
                json!("Line one.\nLine 2."),
                Some(vec![(S, "Line one.\nLine "), (R, "two."), (A, "2.")]),
            ),
        ];
        for (field, before, after, expected) in cases {
            let revisions = [
                revision(1, "ana", Some(json!({"id": "r", field: before}))),
                revision(2, "ana", Some(json!({"id": "r", field: after}))),
            ];
            let history = entries(RecordType::Hold, &revisions);
            let changed = &history[0].fields;
            let got = changed.first().map(|f| {
                f.words
                    .iter()
                    .map(|w| (w.tag, w.text.as_str()))
                    .collect::<Vec<_>>()
            });
            assert_eq!(got, expected, "{field}: {before} -> {after}");
            assert!(changed.len() <= 1);
        }
    }

    #[test]
    fn the_words_spell_the_value_before_and_after() {
        let revisions = [
            revision(1, "ana", Some(json!({"note": "call the patron on Monday"}))),
            revision(
                2,
                "ana",
                Some(json!({"note": "mail the patron on Tuesday"})),
            ),
        ];
        let change = &entries(RecordType::Hold, &revisions)[0].fields[0];
        let spell = |keep: WordTag| {
            change
                .words
                .iter()
                .filter(|w| w.tag == WordTag::Same || w.tag == keep)
                .map(|w| w.text.as_str())
                .collect::<String>()
        };
        assert_eq!(Some(spell(WordTag::Removed)), change.before);
        assert_eq!(spell(WordTag::Added), change.after);
    }

    #[test]
    fn a_record_created_again_after_its_deletion_starts_over_and_a_resave_changes_nothing() {
        let hold = |status: &str| json!({"id": "h", "status": status, "cancel_reason": null});
        let revisions = [
            revision(1, "ana", Some(hold("active"))),
            revision(2, "ana", Some(hold("active"))),
            revision(3, "ana", None),
            revision(4, "ana", Some(hold("active"))),
        ];
        let kinds: Vec<_> = entries(RecordType::Hold, &revisions)
            .iter()
            .map(|e| (e.kind, e.fields.len()))
            .collect();
        assert_eq!(
            kinds,
            [
                (EntryKind::Created, 1),
                (EntryKind::Deleted, 0),
                (EntryKind::Changed, 0),
                (EntryKind::Created, 1),
            ]
        );
    }

    #[test]
    fn values_read_as_text() {
        let cases = [
            (None, ""),
            (Some(Value::Null), ""),
            (Some(json!("Central")), "Central"),
            (Some(json!(["Gardening", "Botany"])), "Gardening, Botany"),
            (Some(json!([])), ""),
            (Some(json!(3)), "3"),
            (Some(json!(true)), "yes"),
            (Some(json!({"a": 1})), r#"{"a":1}"#),
            (Some(json!([[1], 2])), "[[1],2]"),
        ];
        for (value, text) in cases {
            assert_eq!(value_text(value.as_ref()), text, "{value:?}");
        }
    }

    #[test]
    fn fields_follow_the_form_s_order_then_their_names() {
        let copy = json!({"id": "c", "zeta": "z", "status": "available", "barcode": "31",
                          "book_id": "b", "alpha": "a"});
        let fields: Vec<_> = entries(RecordType::Copy, &[revision(1, "ana", Some(copy))])[0]
            .fields
            .iter()
            .map(|f| f.field.clone())
            .collect();
        assert_eq!(fields, ["book_id", "barcode", "status", "alpha", "zeta"]);
    }
}
