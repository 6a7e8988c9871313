//! What the desktop's merge screen receives: a [`MergeSession`] as serializable rows (with
//! TypeScript bindings behind the `ts` feature), so the shell only reads the inbox entry,
//! builds the session and hands this over.

use serde::Serialize;
use serde_json::Value;
use uuid::Uuid;

use super::session::{ConflictKey, FieldState, FieldStatus, MergeSession, OpenConflict, Settled};
use super::state::ConflictLocation;
use super::words::{WordChange, WordTag};
use crate::RecordType;
use crate::push::ConflictReason;

/// One conflict of the inbox, as the list shows it.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
pub struct ConflictSummary {
    #[cfg_attr(feature = "ts", ts(type = "number"))]
    pub seq: i64,
    pub kind: RecordType,
    pub record_id: Uuid,
    /// The record in words ([`record_label`]).
    pub label: String,
    pub reason: ConflictReason,
    pub detail: Option<String>,
    /// For a duplicate: the record that already holds the unique value.
    pub existing_id: Option<Uuid>,
    pub created_at: String,
}

/// What names a record for a person, never its id: `book “Title”`, `copy 3100 of “Title”`,
/// `patron Ada Lovelace`, `hold for Ada Lovelace on “Title”`... The record is read from the
/// first version that exists (mine, then theirs, then base); `name_of` names the records it
/// refers to (a book by its title, a patron by name), None when this desk does not know them.
pub fn record_label(
    kind: RecordType,
    versions: [Option<&Value>; 3],
    name_of: &dyn Fn(RecordType, Uuid) -> Option<String>,
) -> String {
    let v = versions.into_iter().flatten().next();
    let text = |k: &str| v.and_then(|v| v[k].as_str()).filter(|s| !s.is_empty());
    let named = |k: &str, of: RecordType| {
        let id = v.and_then(|v| v[k].as_str()).and_then(|s| s.parse().ok());
        id.and_then(|id| name_of(of, id))
    };
    let book = |k: &str| match named(k, RecordType::Book) {
        Some(title) => format!("“{title}”"),
        None => "a book not on this computer".to_owned(),
    };
    let patron = || {
        named("patron_id", RecordType::Patron)
            .unwrap_or_else(|| "a patron not on this computer".to_owned())
    };
    match kind {
        RecordType::Book => match text("title") {
            Some(title) => format!("book “{title}”"),
            None => "a book without a title".to_owned(),
        },
        RecordType::Copy => format!(
            "copy {} of {}",
            text("barcode").unwrap_or("without a barcode"),
            book("book_id")
        ),
        RecordType::Patron => format!("patron {}", text("name").unwrap_or("without a name")),
        RecordType::Hold => format!("hold for {} on {}", patron(), book("book_id")),
        RecordType::Escalation => format!("escalation for {} on {}", patron(), book("book_id")),
        RecordType::PurchaseRequest => format!("purchase of {}", book("book_id")),
        RecordType::Loan => match named("copy_id", RecordType::Copy) {
            Some(barcode) => format!("loan of copy {barcode} to {}", patron()),
            None => format!("loan to {}", patron()),
        },
    }
}

/// A run of words and whether it changed.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
pub struct Words {
    pub tag: WordTag,
    pub text: String,
}

/// What a field's row shows.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
pub struct FieldRow {
    pub field: String,
    pub base: Value,
    pub mine: Value,
    pub theirs: Value,
    /// The merged value so far (base where a conflict is still open).
    pub merged: Value,
    /// `unchanged`, `mine`, `theirs`, `both` (merged from both sides) or `conflict`.
    pub status: FieldStatus,
    pub mine_words: Vec<Words>,
    pub theirs_words: Vec<Words>,
}

/// Where in its field a conflict is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
pub enum LocationKind {
    /// The whole field.
    Field,
    /// A hunk of multi-line text.
    Hunk,
    /// One list item.
    Item,
}

/// One open conflict.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
pub struct ConflictView {
    pub key: ConflictKey,
    /// `field`, `hunk` or `item`.
    pub location: LocationKind,
    /// For a hunk: `[start, end)` line ranges in base, mine and theirs.
    pub lines: Option<Vec<[usize; 2]>>,
    pub base: Value,
    pub mine: Value,
    pub theirs: Value,
    pub mine_words: Vec<Words>,
    pub theirs_words: Vec<Words>,
    /// Whether "both" makes sense (text hunks and list items, not single values).
    pub can_combine: bool,
}

/// The merge screen's whole state.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
pub struct MergeView {
    pub summary: ConflictSummary,
    /// The librarian's whole version of the record (for the deleted and duplicate screens).
    pub mine: Value,
    pub fields: Vec<FieldRow>,
    pub conflicts: Vec<ConflictView>,
    /// Choices that no longer apply (the server moved again and the conflict went away or
    /// changed shape).
    pub dropped: Vec<Settled>,
    /// Choices that were applied.
    pub applied: Vec<Settled>,
    pub resolved: bool,
}

impl From<&WordChange> for Words {
    fn from(c: &WordChange) -> Words {
        Words {
            tag: c.tag,
            text: c.text.clone(),
        }
    }
}

fn words(w: &[WordChange]) -> Vec<Words> {
    w.iter().map(Words::from).collect()
}

impl From<&FieldState> for FieldRow {
    fn from(f: &FieldState) -> FieldRow {
        FieldRow {
            field: f.field.to_owned(),
            base: f.base.clone(),
            mine: f.mine.clone(),
            theirs: f.theirs.clone(),
            merged: f.merged.clone(),
            status: f.status,
            mine_words: words(&f.mine_words),
            theirs_words: words(&f.theirs_words),
        }
    }
}

impl From<&OpenConflict> for ConflictView {
    fn from(c: &OpenConflict) -> ConflictView {
        let (location, lines) = match &c.location {
            ConflictLocation::Field => (LocationKind::Field, None),
            ConflictLocation::Hunk {
                base_lines,
                mine_lines,
                theirs_lines,
            } => (
                LocationKind::Hunk,
                Some(vec![
                    [base_lines.start, base_lines.end],
                    [mine_lines.start, mine_lines.end],
                    [theirs_lines.start, theirs_lines.end],
                ]),
            ),
            ConflictLocation::Item(_) => (LocationKind::Item, None),
        };
        ConflictView {
            key: c.key.clone(),
            location,
            lines,
            base: c.base.clone(),
            mine: c.mine.clone(),
            theirs: c.theirs.clone(),
            mine_words: words(&c.mine_words),
            theirs_words: words(&c.theirs_words),
            can_combine: c.can_combine,
        }
    }
}

impl MergeSession {
    /// The session as the merge screen shows it, under the inbox entry's `summary`.
    pub fn view(&self, summary: ConflictSummary) -> MergeView {
        MergeView {
            summary,
            mine: self.mine().cloned().unwrap_or(Value::Null),
            fields: self.fields().iter().map(FieldRow::from).collect(),
            conflicts: self.conflicts().iter().map(ConflictView::from).collect(),
            dropped: self.dropped().to_vec(),
            applied: self.applied().to_vec(),
            resolved: self.is_resolved(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const BOOK: Uuid = Uuid::from_u128(1);
    const PATRON: Uuid = Uuid::from_u128(2);

    fn names(kind: RecordType, id: Uuid) -> Option<String> {
        match (kind, id) {
            (RecordType::Book, BOOK) => Some("The Long Way".into()),
            (RecordType::Patron, PATRON) => Some("Ada Lovelace".into()),
            _ => None,
        }
    }

    #[test]
    fn a_record_is_named_in_words_with_what_it_refers_to_and_never_by_its_id() {
        let hold = json!({"id": Uuid::from_u128(9), "patron_id": PATRON, "book_id": BOOK});
        let stranger = json!({"patron_id": Uuid::from_u128(7), "book_id": Uuid::from_u128(8)});
        let rows: [(RecordType, Value, &str); 7] = [
            (RecordType::Book, json!({"title": "Dune"}), "book “Dune”"),
            (
                RecordType::Copy,
                json!({"barcode": "3100", "book_id": BOOK}),
                "copy 3100 of “The Long Way”",
            ),
            (
                RecordType::Patron,
                json!({"name": "Bram Carrow"}),
                "patron Bram Carrow",
            ),
            (
                RecordType::Hold,
                hold.clone(),
                "hold for Ada Lovelace on “The Long Way”",
            ),
            (
                RecordType::Hold,
                stranger,
                "hold for a patron not on this computer on a book not on this computer",
            ),
            (
                RecordType::Escalation,
                hold,
                "escalation for Ada Lovelace on “The Long Way”",
            ),
            (
                RecordType::PurchaseRequest,
                json!({"book_id": BOOK}),
                "purchase of “The Long Way”",
            ),
        ];
        for (kind, record, expected) in rows {
            assert_eq!(
                record_label(kind, [Some(&record), None, None], &names),
                expected
            );
        }
    }

    #[test]
    fn a_label_reads_mine_first_then_theirs_then_base() {
        let (mine, theirs) = (json!({"title": "Mine"}), json!({"title": "Theirs"}));
        let label = |v| record_label(RecordType::Book, v, &names);
        assert_eq!(label([Some(&mine), Some(&theirs), None]), "book “Mine”");
        assert_eq!(label([None, Some(&theirs), None]), "book “Theirs”");
    }
}
