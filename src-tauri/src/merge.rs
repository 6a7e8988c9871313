//! The commands behind the merge screen: the conflict inbox, and a merge's state recomputed
//! from the librarian's choices. The merge itself is `shelfmark_core::merge` (pure); every
//! state is a value rebuilt from base / mine / theirs plus the list of choices, so undo and
//! redo are the UI dropping or re-adding a choice, and a reload after the server moved again
//! keeps every choice that still applies.

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use shelfmark_core::merge::{
    ConflictLocation, FieldKind, FieldValue, MergeState, Record, Resolution, WordChange, WordTag,
    merge_records,
};
use shelfmark_core::{Book, Copy, CopyStatus, Patron, RecordType};
use shelfmark_store::{ConflictEntry, Store, StoreError};
use tauri::State;
use ts_rs::TS;
use uuid::Uuid;

use crate::commands::CommandError;
use crate::sync::Engine;

type Result<T> = std::result::Result<T, CommandError>;

fn error(message: impl Into<String>) -> CommandError {
    CommandError::message(message.into())
}

/// One conflict of the inbox, as the list shows it.
#[derive(Debug, Serialize, TS)]
#[ts(export)]
pub(crate) struct ConflictSummary {
    #[ts(type = "number")]
    seq: i64,
    kind: RecordType,
    record_id: Uuid,
    /// The record's title, barcode or name.
    label: String,
    /// `edit-conflict`, `deleted` or `duplicate`.
    reason: String,
    detail: Option<String>,
    created_at: String,
}

/// Names a conflict within a merge (stable while other conflicts are settled).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
#[ts(export)]
pub(crate) struct ConflictKey {
    field: String,
    slot: usize,
}

/// How the librarian settles one conflict.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, TS)]
#[ts(export)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub(crate) enum Choice {
    Mine,
    Theirs,
    MineThenTheirs,
    TheirsThenMine,
    /// A hand-edited value (a string, a list of strings, a year...).
    Edited {
        value: Value,
    },
}

/// One settled conflict.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, TS)]
#[ts(export)]
pub(crate) struct Settled {
    key: ConflictKey,
    choice: Choice,
}

/// A run of words and whether it changed.
#[derive(Debug, Serialize, TS)]
#[ts(export)]
pub(crate) struct Words {
    tag: String,
    text: String,
}

/// What a field's row shows.
#[derive(Debug, Serialize, TS)]
#[ts(export)]
pub(crate) struct FieldRow {
    field: String,
    base: Value,
    mine: Value,
    theirs: Value,
    /// The merged value so far (base where a conflict is still open).
    merged: Value,
    /// `unchanged`, `mine`, `theirs`, `both` (merged from both sides) or `conflict`.
    status: String,
    mine_words: Vec<Words>,
    theirs_words: Vec<Words>,
}

/// One open conflict.
#[derive(Debug, Serialize, TS)]
#[ts(export)]
pub(crate) struct ConflictView {
    key: ConflictKey,
    /// `field`, `hunk` or `item`.
    location: String,
    /// For a hunk: `[start, end)` line ranges in base, mine and theirs.
    lines: Option<Vec<[usize; 2]>>,
    base: Value,
    mine: Value,
    theirs: Value,
    mine_words: Vec<Words>,
    theirs_words: Vec<Words>,
    /// Whether "both" makes sense (text hunks and list items, not single values).
    can_combine: bool,
}

/// The merge screen's whole state.
#[derive(Debug, Serialize, TS)]
#[ts(export)]
pub(crate) struct MergeView {
    summary: ConflictSummary,
    /// The librarian's whole version of the record (for the deleted and duplicate screens).
    mine: Value,
    fields: Vec<FieldRow>,
    conflicts: Vec<ConflictView>,
    /// Choices that no longer apply (the server moved again and the conflict went away or
    /// changed shape).
    dropped: Vec<Settled>,
    /// Choices that were applied.
    applied: Vec<Settled>,
    resolved: bool,
}

fn label(c: &ConflictEntry) -> String {
    let v = c.mine.as_ref().or(c.theirs.as_ref()).or(c.base.as_ref());
    ["title", "barcode", "name"]
        .iter()
        .find_map(|k| v.and_then(|v| v[*k].as_str()).map(str::to_owned))
        .unwrap_or_else(|| c.record_id.to_string())
}

fn summary(c: &ConflictEntry) -> ConflictSummary {
    ConflictSummary {
        seq: c.outbox_seq,
        kind: c.kind,
        record_id: c.record_id,
        label: label(c),
        reason: c.reason.clone(),
        detail: c.detail.clone(),
        created_at: c.created_at.clone(),
    }
}

fn to_json(v: &FieldValue) -> Value {
    match v {
        FieldValue::Text(s) | FieldValue::Lines(s) => json!(s),
        FieldValue::List(l) => json!(l),
        FieldValue::Year(y) => json!(y),
        FieldValue::Flag(b) => json!(b),
        FieldValue::Id(id) => json!(id),
        FieldValue::CopyStatus(s) => json!(s),
    }
}

fn from_json(kind: FieldKind, v: &Value) -> Result<FieldValue> {
    let bad = || error(format!("that value does not fit this field ({kind:?})"));
    Ok(match kind {
        FieldKind::Text => FieldValue::Text(v.as_str().ok_or_else(bad)?.to_owned()),
        FieldKind::Lines => FieldValue::Lines(v.as_str().ok_or_else(bad)?.to_owned()),
        FieldKind::List => FieldValue::List(serde_json::from_value(v.clone()).map_err(|_| bad())?),
        FieldKind::Year => FieldValue::Year(serde_json::from_value(v.clone()).map_err(|_| bad())?),
        FieldKind::Flag => FieldValue::Flag(v.as_bool().ok_or_else(bad)?),
        FieldKind::Id => FieldValue::Id(serde_json::from_value(v.clone()).map_err(|_| bad())?),
        FieldKind::CopyStatus => FieldValue::CopyStatus(
            serde_json::from_value::<CopyStatus>(v.clone()).map_err(|_| bad())?,
        ),
    })
}

fn words(w: &[WordChange]) -> Vec<Words> {
    w.iter()
        .map(|c| Words {
            tag: match c.tag {
                WordTag::Same => "same",
                WordTag::Removed => "removed",
                WordTag::Added => "added",
            }
            .into(),
            text: c.text.clone(),
        })
        .collect()
}

fn parse<R: DeserializeOwned>(v: &Option<Value>, what: &str) -> Result<R> {
    let v = v
        .as_ref()
        .ok_or_else(|| error(format!("this conflict has no {what} version")))?;
    serde_json::from_value(v.clone())
        .map_err(|e| error(format!("the {what} version does not read: {e}")))
}

/// The merge of one inbox entry with `choices` applied, and the final record when no conflict
/// is left.
fn merge<R: Record + Serialize + DeserializeOwned>(
    c: &ConflictEntry,
    choices: &[Settled],
) -> Result<(MergeView, Option<Value>)> {
    let (base, mine, theirs): (R, R, R) = (
        parse(&c.base, "base")?,
        parse(&c.mine, "mine")?,
        parse(&c.theirs, "theirs")?,
    );
    let mut state: MergeState<R> =
        merge_records(&base, &mine, &theirs).map_err(|e| error(e.to_string()))?;
    let (mut applied, mut dropped) = (Vec::new(), Vec::new());
    for settled in choices {
        let open = state
            .conflicts()
            .find(|x| x.id.field == settled.key.field && x.id.slot == settled.key.slot);
        let Some(open) = open else {
            dropped.push(settled.clone());
            continue;
        };
        let resolution = match &settled.choice {
            Choice::Mine => Resolution::Mine,
            Choice::Theirs => Resolution::Theirs,
            Choice::MineThenTheirs => Resolution::MineThenTheirs,
            Choice::TheirsThenMine => Resolution::TheirsThenMine,
            Choice::Edited { value } => Resolution::Edited(from_json(open.base.kind(), value)?),
        };
        match state.settle(open.id, resolution) {
            Ok(next) => {
                state = next;
                applied.push(settled.clone());
            }
            Err(_) => dropped.push(settled.clone()),
        }
    }
    let open_fields: Vec<&str> = state.conflicts().map(|x| x.id.field).collect();
    let changes = state.changes();
    let fields = R::FIELDS
        .iter()
        .map(|&f| {
            let get = |r: &R| r.get(f).map(|v| to_json(&v)).unwrap_or(Value::Null);
            let (b, m, t, merged) = (get(&base), get(&mine), get(&theirs), get(state.merged()));
            let status = if open_fields.contains(&f) {
                "conflict"
            } else if merged == b {
                "unchanged"
            } else if merged == m && t == b {
                "mine"
            } else if merged == t && m == b {
                "theirs"
            } else {
                "both"
            };
            let fc = changes.iter().find(|x| x.field == f);
            FieldRow {
                field: f.to_owned(),
                base: b,
                mine: m,
                theirs: t,
                merged,
                status: status.into(),
                mine_words: fc.map(|x| words(&x.mine)).unwrap_or_default(),
                theirs_words: fc.map(|x| words(&x.theirs)).unwrap_or_default(),
            }
        })
        .collect();
    let conflicts = state
        .conflicts()
        .map(|x| {
            let (location, lines) = match &x.location {
                ConflictLocation::Field => ("field", None),
                ConflictLocation::Hunk {
                    base_lines,
                    mine_lines,
                    theirs_lines,
                } => (
                    "hunk",
                    Some(vec![
                        [base_lines.start, base_lines.end],
                        [mine_lines.start, mine_lines.end],
                        [theirs_lines.start, theirs_lines.end],
                    ]),
                ),
                ConflictLocation::Item(_) => ("item", None),
            };
            ConflictView {
                key: ConflictKey {
                    field: x.id.field.to_owned(),
                    slot: x.id.slot,
                },
                location: location.into(),
                lines,
                base: to_json(&x.base),
                mine: to_json(&x.mine),
                theirs: to_json(&x.theirs),
                mine_words: words(&x.mine_words),
                theirs_words: words(&x.theirs_words),
                can_combine: matches!(x.base.kind(), FieldKind::Lines | FieldKind::List),
            }
        })
        .collect::<Vec<_>>();
    let resolved = state.is_resolved();
    let finished = if resolved {
        let mut record = serde_json::to_value(state.finish().map_err(|e| error(e.to_string()))?)
            .map_err(|e| error(e.to_string()))?;
        // Keep what the merge does not know of (the id, fields newer than this app).
        if let (Some(Value::Object(theirs)), Value::Object(out)) = (&c.theirs, &mut record) {
            for (k, v) in theirs {
                out.entry(k.clone()).or_insert_with(|| v.clone());
            }
        }
        Some(record)
    } else {
        None
    };
    let view = MergeView {
        summary: summary(c),
        mine: c.mine.clone().unwrap_or(Value::Null),
        fields,
        conflicts,
        dropped,
        applied,
        resolved,
    };
    Ok((view, finished))
}

fn merge_any(c: &ConflictEntry, choices: &[Settled]) -> Result<(MergeView, Option<Value>)> {
    if c.theirs.is_none() || c.base.is_none() {
        // Deleted on the server, or a duplicate: no three-way merge, the screen offers choices.
        let view = MergeView {
            summary: summary(c),
            mine: c.mine.clone().unwrap_or(Value::Null),
            fields: Vec::new(),
            conflicts: Vec::new(),
            dropped: choices.to_vec(),
            applied: Vec::new(),
            resolved: false,
        };
        return Ok((view, None));
    }
    match c.kind {
        RecordType::Book => merge::<Book>(c, choices),
        RecordType::Copy => merge::<Copy>(c, choices),
        RecordType::Patron => merge::<Patron>(c, choices),
        other => Err(error(format!(
            "{} records are not merged field by field",
            other.as_str()
        ))),
    }
}

fn entry(s: &Store, seq: i64) -> std::result::Result<ConflictEntry, StoreError> {
    s.conflict_entry(seq)?.ok_or(StoreError::NoSuchEdit(seq))
}

async fn read<T: Send + 'static>(
    engine: &Engine,
    f: impl FnOnce(&mut Store) -> std::result::Result<T, StoreError> + Send + 'static,
) -> Result<T> {
    crate::commands::with_store(engine, f).await
}

/// The conflict inbox, oldest first.
#[tauri::command]
pub(crate) async fn conflict_inbox(engine: State<'_, Engine>) -> Result<Vec<ConflictSummary>> {
    let inbox = read(&engine, |s| s.conflicts()).await?;
    Ok(inbox.iter().map(summary).collect())
}

/// The merge of one conflict with the librarian's choices so far.
#[tauri::command]
pub(crate) async fn merge_view(
    engine: State<'_, Engine>,
    seq: i64,
    choices: Vec<Settled>,
) -> Result<MergeView> {
    let c = read(&engine, move |s| entry(s, seq)).await?;
    Ok(merge_any(&c, &choices)?.0)
}

/// Saves a merge with no conflict left: the result goes back to the outbox, based on theirs,
/// and is pushed with `If-Match` on theirs.
#[tauri::command]
pub(crate) async fn save_merge(
    engine: State<'_, Engine>,
    seq: i64,
    choices: Vec<Settled>,
) -> Result<()> {
    let c = read(&engine, move |s| entry(s, seq)).await?;
    let (view, record) = merge_any(&c, &choices)?;
    let Some(record) = record else {
        return Err(error(format!(
            "{} conflict(s) are still open",
            view.conflicts.len()
        )));
    };
    read(&engine, move |s| s.resolve(seq, Some(&record))).await?;
    engine.edited();
    Ok(())
}

/// Settles a conflict with a whole record: mine again after a deletion on the server
/// (recreating it), or mine with a changed ISBN or barcode after a duplicate.
#[tauri::command]
pub(crate) async fn keep_mine(
    engine: State<'_, Engine>,
    seq: i64,
    record: Option<Value>,
) -> Result<()> {
    read(&engine, move |s| {
        let c = entry(s, seq)?;
        let mine = record.or(c.mine).unwrap_or(Value::Null);
        s.resolve(seq, Some(&mine))
    })
    .await?;
    engine.edited();
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn book(title: &str, summary: &str) -> Value {
        json!({
            "id": Uuid::nil(), "isbn": "9780306406157", "title": title, "authors": ["A"],
            "publisher": "", "year": 2000, "subjects": [], "summary": summary, "notes": ""
        })
    }

    fn entry(base: Value, mine: Value, theirs: Value) -> ConflictEntry {
        ConflictEntry {
            outbox_seq: 1,
            kind: RecordType::Book,
            record_id: Uuid::nil(),
            base: Some(base),
            mine: Some(mine),
            theirs: Some(theirs),
            theirs_etag: Some("\"v2\"".into()),
            reason: "edit-conflict".into(),
            detail: None,
            created_at: String::new(),
        }
    }

    fn key(field: &str, slot: usize) -> ConflictKey {
        ConflictKey {
            field: field.into(),
            slot,
        }
    }

    #[test]
    fn choices_settle_conflicts_until_the_record_is_final() {
        let c = entry(
            book("Base", "one\ntwo\nthree\n"),
            book("Mine", "one\nTWO mine\nthree\n"),
            book("Theirs", "one\ntwo theirs\nthree\n"),
        );
        let (view, record) = merge_any(&c, &[]).expect("merges");
        assert!(record.is_none() && !view.resolved);
        let open: Vec<_> = view
            .conflicts
            .iter()
            .map(|x| (x.key.field.as_str(), x.location.as_str()))
            .collect();
        assert_eq!(open, [("title", "field"), ("summary", "hunk")]);
        assert!(!view.conflicts[0].can_combine && view.conflicts[1].can_combine);
        let title = view
            .fields
            .iter()
            .find(|f| f.field == "title")
            .expect("row");
        assert_eq!(title.status, "conflict");

        let choices = vec![
            Settled {
                key: key("title", 0),
                choice: Choice::Theirs,
            },
            Settled {
                key: view.conflicts[1].key.clone(),
                choice: Choice::MineThenTheirs,
            },
        ];
        let (view, record) = merge_any(&c, &choices).expect("merges");
        assert!(view.resolved && view.dropped.is_empty());
        let record = record.expect("final");
        assert_eq!(record["title"], "Theirs");
        assert_eq!(record["summary"], "one\nTWO mine\ntwo theirs\nthree\n");
    }

    #[test]
    fn a_choice_for_a_conflict_that_is_gone_is_reported_not_applied() {
        // The server moved again and now agrees with mine: the title conflict disappeared.
        let c = entry(book("Base", ""), book("Mine", ""), book("Mine", ""));
        let choices = vec![Settled {
            key: key("title", 0),
            choice: Choice::Theirs,
        }];
        let (view, record) = merge_any(&c, &choices).expect("merges");
        assert_eq!(view.dropped, choices);
        assert_eq!(record.expect("final")["title"], "Mine");
    }

    #[test]
    fn a_hand_edited_value_of_the_wrong_kind_is_refused() {
        let c = entry(book("Base", ""), book("Mine", ""), book("Theirs", ""));
        let choices = vec![Settled {
            key: key("title", 0),
            choice: Choice::Edited {
                value: json!(["x"]),
            },
        }];
        assert!(merge_any(&c, &choices).is_err());
        let choices = vec![Settled {
            key: key("title", 0),
            choice: Choice::Edited {
                value: json!("Hand"),
            },
        }];
        assert_eq!(
            merge_any(&c, &choices).expect("merges").1.expect("final")["title"],
            "Hand"
        );
    }
}
