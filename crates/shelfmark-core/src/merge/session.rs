//! One merge session: a record's base, mine and theirs (as the JSON the server and the cache
//! hold), the librarian's choices replayed onto them, and everything the merge screen, the
//! `shelfmark conflicts` command and the sync engine's clean merge need to know of the result.
//!
//! Every state is a value rebuilt from the three versions plus the list of choices, so undo and
//! redo are dropping or re-adding a choice, and a reload after the server moved again
//! ([`MergeSession::onto`]) keeps every choice that still applies. The typed merge itself is
//! [`super::state`]; this module dispatches on the [`RecordType`], reads and writes JSON, and
//! keeps the fields of theirs the merge does not know of (the id, fields newer than this app).

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::record::{FieldKind, FieldValue, Record};
use super::state::{ConflictLocation, MergeError, MergeState, Resolution, merge_records};
use super::words::WordChange;
use crate::{Book, Copy, Patron, RecordType};

/// Why a session could not be built or finished.
#[derive(Debug, thiserror::Error)]
pub enum SessionError {
    #[error("{} records are not merged field by field", .0.as_str())]
    NotMergeable(RecordType),
    #[error("the {side} version does not read as a {}", kind.as_str())]
    Unreadable {
        side: Side,
        kind: RecordType,
        #[source]
        source: serde_json::Error,
    },
    #[error("this conflict has no {0} version")]
    Missing(Side),
    #[error("the merged record cannot be written")]
    Unwritable(#[source] serde_json::Error),
    #[error("that value does not fit the field {field} ({expected:?})")]
    WrongKind { field: String, expected: FieldKind },
    #[error("{0} conflict(s) are still open")]
    Unresolved(usize),
    #[error(transparent)]
    Merge(#[from] MergeError),
}

/// One of the three versions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    Base,
    Mine,
    Theirs,
}

impl std::fmt::Display for Side {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Side::Base => "base",
            Side::Mine => "mine",
            Side::Theirs => "theirs",
        })
    }
}

/// Names a conflict within a merge (stable while other conflicts are settled).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
pub struct ConflictKey {
    pub field: String,
    #[cfg_attr(feature = "ts", ts(type = "number"))]
    pub slot: usize,
}

/// How the librarian settles one conflict.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Choice {
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
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
pub struct Settled {
    pub key: ConflictKey,
    pub choice: Choice,
}

/// Where a field's merged value comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
pub enum FieldStatus {
    /// Still the base value.
    Unchanged,
    /// Mine (theirs did not change it).
    Mine,
    /// Theirs (mine did not change it).
    Theirs,
    /// Merged from both sides (or settled by a choice).
    Both,
    /// A conflict of this field is still open.
    Conflict,
}

/// One field of the record, in the three versions and merged so far.
#[derive(Debug, Clone, PartialEq)]
pub struct FieldState {
    pub field: &'static str,
    pub base: Value,
    pub mine: Value,
    pub theirs: Value,
    /// The merged value so far (base where a conflict is still open).
    pub merged: Value,
    pub status: FieldStatus,
    /// Base to mine, word by word (text fields either side changed; empty otherwise).
    pub mine_words: Vec<WordChange>,
    /// Base to theirs, word by word.
    pub theirs_words: Vec<WordChange>,
}

/// One open conflict, its values as the record's JSON would hold them.
#[derive(Debug, Clone, PartialEq)]
pub struct OpenConflict {
    pub key: ConflictKey,
    pub location: ConflictLocation,
    pub base: Value,
    pub mine: Value,
    pub theirs: Value,
    pub mine_words: Vec<WordChange>,
    pub theirs_words: Vec<WordChange>,
    /// Whether keeping both makes sense (text hunks and list items, not single values).
    pub can_combine: bool,
}

/// A merge of one record with the librarian's choices replayed onto it.
#[derive(Debug, Clone, PartialEq)]
pub struct MergeSession {
    kind: RecordType,
    base: Option<Value>,
    mine: Option<Value>,
    theirs: Option<Value>,
    choices: Vec<Settled>,
    fields: Vec<FieldState>,
    conflicts: Vec<OpenConflict>,
    applied: Vec<Settled>,
    dropped: Vec<Settled>,
    finished: Option<Value>,
}

impl MergeSession {
    /// The three-way merge of `base`, `mine` and `theirs` (records of `kind`), no choice made.
    pub fn new(
        kind: RecordType,
        base: &Value,
        mine: &Value,
        theirs: &Value,
    ) -> Result<MergeSession, SessionError> {
        MergeSession::replay(kind, Some(base), Some(mine), Some(theirs), &[])
    }

    /// The merge with `choices` applied in order. A choice whose conflict is not open (any
    /// more) is dropped, not applied. Without a base or a theirs (deleted on the server, a
    /// create that met a duplicate) there is no three-way merge: no field, no conflict, every
    /// choice dropped, never finished. A hand-edited value of the wrong kind is an error.
    pub fn replay(
        kind: RecordType,
        base: Option<&Value>,
        mine: Option<&Value>,
        theirs: Option<&Value>,
        choices: &[Settled],
    ) -> Result<MergeSession, SessionError> {
        let mut session = MergeSession {
            kind,
            base: base.cloned(),
            mine: mine.cloned(),
            theirs: theirs.cloned(),
            choices: choices.to_vec(),
            fields: Vec::new(),
            conflicts: Vec::new(),
            applied: Vec::new(),
            dropped: Vec::new(),
            finished: None,
        };
        let (Some(base), Some(theirs)) = (base, theirs) else {
            session.dropped = choices.to_vec();
            return Ok(session);
        };
        let mine = mine.ok_or(SessionError::Missing(Side::Mine))?;
        match kind {
            RecordType::Book => session.run::<Book>(base, mine, theirs, choices)?,
            RecordType::Copy => session.run::<Copy>(base, mine, theirs, choices)?,
            RecordType::Patron => session.run::<Patron>(base, mine, theirs, choices)?,
            other => return Err(SessionError::NotMergeable(other)),
        }
        Ok(session)
    }

    /// The same choices replayed onto a newer `theirs` (the server moved again): those that
    /// still apply are kept, the others are reported as dropped.
    pub fn onto(&self, theirs: &Value) -> Result<MergeSession, SessionError> {
        MergeSession::replay(
            self.kind,
            self.base.as_ref(),
            self.mine.as_ref(),
            Some(theirs),
            &self.choices,
        )
    }

    /// The session with one more choice.
    pub fn settle(&self, settled: Settled) -> Result<MergeSession, SessionError> {
        let mut choices = self.choices.clone();
        choices.push(settled);
        MergeSession::replay(
            self.kind,
            self.base.as_ref(),
            self.mine.as_ref(),
            self.theirs.as_ref(),
            &choices,
        )
    }

    fn run<R: Record + Serialize + DeserializeOwned>(
        &mut self,
        base: &Value,
        mine: &Value,
        theirs: &Value,
        choices: &[Settled],
    ) -> Result<(), SessionError> {
        let kind = self.kind;
        let parse = |side: Side, v: &Value| {
            serde_json::from_value::<R>(v.clone()).map_err(|source| SessionError::Unreadable {
                side,
                kind,
                source,
            })
        };
        let (b, m, t) = (
            parse(Side::Base, base)?,
            parse(Side::Mine, mine)?,
            parse(Side::Theirs, theirs)?,
        );
        let mut state: MergeState<R> = merge_records(&b, &m, &t)?;
        for settled in choices {
            let open = state
                .conflicts()
                .find(|x| x.id.field == settled.key.field && x.id.slot == settled.key.slot);
            let Some(open) = open else {
                self.dropped.push(settled.clone());
                continue;
            };
            let resolution = match &settled.choice {
                Choice::Mine => Resolution::Mine,
                Choice::Theirs => Resolution::Theirs,
                Choice::MineThenTheirs => Resolution::MineThenTheirs,
                Choice::TheirsThenMine => Resolution::TheirsThenMine,
                Choice::Edited { value } => {
                    let expected = open.base.kind();
                    let value = FieldValue::from_json(expected, value).ok_or_else(|| {
                        SessionError::WrongKind {
                            field: settled.key.field.clone(),
                            expected,
                        }
                    })?;
                    Resolution::Edited(value)
                }
            };
            match state.settle(open.id, resolution) {
                Ok(next) => {
                    state = next;
                    self.applied.push(settled.clone());
                }
                Err(_) => self.dropped.push(settled.clone()),
            }
        }
        let open_fields: Vec<&str> = state.conflicts().map(|x| x.id.field).collect();
        let changes = state.changes();
        self.fields = R::FIELDS
            .iter()
            .map(|&field| {
                let get = |r: &R| r.get(field).map(|v| v.to_json()).unwrap_or(Value::Null);
                let (base, mine, theirs) = (get(&b), get(&m), get(&t));
                let merged = get(state.merged());
                let status = if open_fields.contains(&field) {
                    FieldStatus::Conflict
                } else if merged == base {
                    FieldStatus::Unchanged
                } else if merged == mine && theirs == base {
                    FieldStatus::Mine
                } else if merged == theirs && mine == base {
                    FieldStatus::Theirs
                } else {
                    FieldStatus::Both
                };
                let words = changes.iter().find(|x| x.field == field);
                FieldState {
                    field,
                    base,
                    mine,
                    theirs,
                    merged,
                    status,
                    mine_words: words.map(|x| x.mine.clone()).unwrap_or_default(),
                    theirs_words: words.map(|x| x.theirs.clone()).unwrap_or_default(),
                }
            })
            .collect();
        self.conflicts = state
            .conflicts()
            .map(|x| OpenConflict {
                key: ConflictKey {
                    field: x.id.field.to_owned(),
                    slot: x.id.slot,
                },
                location: x.location.clone(),
                base: x.base.to_json(),
                mine: x.mine.to_json(),
                theirs: x.theirs.to_json(),
                mine_words: x.mine_words.clone(),
                theirs_words: x.theirs_words.clone(),
                can_combine: matches!(x.base.kind(), FieldKind::Lines | FieldKind::List),
            })
            .collect();
        if state.is_resolved() {
            let mut record =
                serde_json::to_value(state.finish()?).map_err(SessionError::Unwritable)?;
            // Keep what the merge does not know of (the id, fields newer than this app).
            if let (Value::Object(theirs), Value::Object(out)) = (theirs, &mut record) {
                for (k, v) in theirs {
                    out.entry(k.clone()).or_insert_with(|| v.clone());
                }
            }
            self.finished = Some(record);
        }
        Ok(())
    }

    pub fn kind(&self) -> RecordType {
        self.kind
    }

    /// Mine as it came in (the librarian's whole version of the record).
    pub fn mine(&self) -> Option<&Value> {
        self.mine.as_ref()
    }

    /// Every field of the record in its order (empty without a three-way merge).
    pub fn fields(&self) -> &[FieldState] {
        &self.fields
    }

    /// The conflicts still open, field by field.
    pub fn conflicts(&self) -> &[OpenConflict] {
        &self.conflicts
    }

    /// Every choice made, applied or dropped, in the order they were made.
    pub fn choices(&self) -> &[Settled] {
        &self.choices
    }

    /// The choices that were applied.
    pub fn applied(&self) -> &[Settled] {
        &self.applied
    }

    /// The choices that no longer apply (their conflict went away or changed shape).
    pub fn dropped(&self) -> &[Settled] {
        &self.dropped
    }

    /// Whether no conflict is left (a merge with nothing to merge is never resolved).
    pub fn is_resolved(&self) -> bool {
        self.finished.is_some()
    }

    /// The merged record once no conflict is left, with theirs' unknown fields kept.
    pub fn finished(&self) -> Option<&Value> {
        self.finished.as_ref()
    }

    /// The merged record, or why it is not finished.
    pub fn finish(self) -> Result<Value, SessionError> {
        let open = self.conflicts.len();
        self.finished.ok_or(SessionError::Unresolved(open))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use uuid::Uuid;

    fn book(title: &str, summary: &str) -> Value {
        json!({
            "id": Uuid::nil(), "isbn": "9780306406157", "title": title, "authors": ["A"],
            "publisher": "", "year": 2000, "subjects": [], "summary": summary, "notes": ""
        })
    }

    fn key(field: &str, slot: usize) -> ConflictKey {
        ConflictKey {
            field: field.into(),
            slot,
        }
    }

    fn settled(field: &str, slot: usize, choice: Choice) -> Settled {
        Settled {
            key: key(field, slot),
            choice,
        }
    }

    fn replay(base: &Value, mine: &Value, theirs: &Value, choices: &[Settled]) -> MergeSession {
        MergeSession::replay(
            RecordType::Book,
            Some(base),
            Some(mine),
            Some(theirs),
            choices,
        )
        .expect("merges")
    }

    #[test]
    fn choices_settle_conflicts_until_the_record_is_final() {
        let (base, mine, theirs) = (
            book("Base", "one\ntwo\nthree\n"),
            book("Mine", "one\nTWO mine\nthree\n"),
            book("Theirs", "one\ntwo theirs\nthree\n"),
        );
        let session = MergeSession::new(RecordType::Book, &base, &mine, &theirs).expect("merges");
        assert!(session.finished().is_none() && !session.is_resolved());
        let open: Vec<_> = session
            .conflicts()
            .iter()
            .map(|x| (x.key.field.as_str(), x.location.clone()))
            .collect();
        assert_eq!(open[0], ("title", ConflictLocation::Field));
        assert_eq!(open[1].0, "summary");
        assert!(matches!(open[1].1, ConflictLocation::Hunk { .. }));
        assert_eq!(open.len(), 2);
        assert!(!session.conflicts()[0].can_combine && session.conflicts()[1].can_combine);
        let title = session
            .fields()
            .iter()
            .find(|f| f.field == "title")
            .expect("row");
        assert_eq!(title.status, FieldStatus::Conflict);

        let choices = vec![
            settled("title", 0, Choice::Theirs),
            Settled {
                key: session.conflicts()[1].key.clone(),
                choice: Choice::MineThenTheirs,
            },
        ];
        let session = replay(&base, &mine, &theirs, &choices);
        assert!(session.is_resolved() && session.dropped().is_empty());
        assert_eq!(session.applied(), choices);
        let record = session.finish().expect("final");
        assert_eq!(record["title"], "Theirs");
        assert_eq!(record["summary"], "one\nTWO mine\ntwo theirs\nthree\n");
    }

    #[test]
    fn a_choice_for_a_conflict_that_is_gone_is_reported_not_applied() {
        // The server moved again and now agrees with mine: the title conflict disappeared.
        let choices = vec![settled("title", 0, Choice::Theirs)];
        let session = replay(
            &book("Base", ""),
            &book("Mine", ""),
            &book("Mine", ""),
            &choices,
        );
        assert_eq!(session.dropped(), choices);
        assert_eq!(session.finished().expect("final")["title"], "Mine");
    }

    #[test]
    fn a_hand_edited_value_of_the_wrong_kind_is_refused_with_the_field_named() {
        let (base, mine, theirs) = (book("Base", ""), book("Mine", ""), book("Theirs", ""));
        let wrong = [settled(
            "title",
            0,
            Choice::Edited {
                value: json!(["x"]),
            },
        )];
        let err = MergeSession::replay(
            RecordType::Book,
            Some(&base),
            Some(&mine),
            Some(&theirs),
            &wrong,
        )
        .expect_err("a list is not a title");
        assert!(
            matches!(&err, SessionError::WrongKind { field, expected: FieldKind::Text } if field == "title"),
            "{err:?}"
        );
        assert_eq!(
            err.to_string(),
            "that value does not fit the field title (Text)"
        );
        let edited = [settled(
            "title",
            0,
            Choice::Edited {
                value: json!("Hand"),
            },
        )];
        let session = replay(&base, &mine, &theirs, &edited);
        assert_eq!(session.finished().expect("final")["title"], "Hand");
    }

    #[test]
    fn replay_onto_a_newer_theirs_keeps_the_choices_that_still_apply() {
        let base = book("Base", "one\n");
        let mine = json!({"year": 2001, "title": "Mine", "summary": "one mine\n"});
        let mine = merged_with(&base, &mine);
        let theirs = merged_with(
            &base,
            &json!({"title": "Theirs", "summary": "one theirs\n"}),
        );
        let choices = vec![
            settled("title", 0, Choice::Theirs),
            settled("summary", 0, Choice::Mine),
        ];
        let session = replay(&base, &mine, &theirs, &choices);
        assert!(session.is_resolved());
        assert_eq!(session.applied(), choices);

        // The server moved again: it took mine's summary, the title still conflicts.
        let newer = merged_with(
            &base,
            &json!({"title": "Theirs 2", "summary": "one mine\n"}),
        );
        let moved = session.onto(&newer).expect("merges");
        assert_eq!(moved.applied(), &choices[..1]);
        assert_eq!(moved.dropped(), &choices[1..]);
        let record = moved.finished().expect("final");
        assert_eq!(record["title"], "Theirs 2");
        assert_eq!(record["summary"], "one mine\n");
        assert_eq!(record["year"], 2001);
        assert_eq!(moved.choices(), choices);
    }

    #[test]
    fn the_finished_record_keeps_the_fields_of_theirs_the_merge_does_not_know() {
        let base = book("Base", "");
        let mine = book("Mine", "");
        let mut theirs = book("Base", "");
        theirs["shelf_mark"] = json!("QA76 .S5");
        let session = MergeSession::new(RecordType::Book, &base, &mine, &theirs).expect("merges");
        let record = session.finish().expect("clean");
        assert_eq!(record["title"], "Mine");
        assert_eq!(record["shelf_mark"], "QA76 .S5");
        assert_eq!(record["id"], json!(Uuid::nil()));
    }

    #[test]
    fn each_field_says_where_its_merged_value_comes_from() {
        let base = book("Base", "");
        let mine = merged_with(&base, &json!({"title": "Mine", "authors": ["A", "M"]}));
        let theirs = merged_with(&base, &json!({"year": 1999, "authors": ["T", "A"]}));
        let session = MergeSession::new(RecordType::Book, &base, &mine, &theirs).expect("merges");
        let status = |f: &str| {
            session
                .fields()
                .iter()
                .find(|x| x.field == f)
                .map(|x| x.status)
        };
        assert_eq!(status("title"), Some(FieldStatus::Mine));
        assert_eq!(status("year"), Some(FieldStatus::Theirs));
        assert_eq!(status("authors"), Some(FieldStatus::Both));
        assert_eq!(status("notes"), Some(FieldStatus::Unchanged));
        assert_eq!(
            serde_json::to_value(FieldStatus::Both).expect("serializes"),
            "both"
        );
    }

    #[test]
    fn without_theirs_there_is_no_three_way_merge_and_every_choice_is_dropped() {
        let mine = book("Mine", "");
        let choices = vec![settled("title", 0, Choice::Mine)];
        let session =
            MergeSession::replay(RecordType::Book, Some(&mine), Some(&mine), None, &choices)
                .expect("no merge to fail");
        assert!(session.fields().is_empty() && session.conflicts().is_empty());
        assert_eq!(session.dropped(), choices);
        assert!(!session.is_resolved());
        assert_eq!(session.mine(), Some(&mine));
    }

    #[test]
    fn holds_are_not_merged_field_by_field() {
        let v = json!({});
        let err = MergeSession::new(RecordType::Hold, &v, &v, &v).expect_err("not mergeable");
        assert!(matches!(err, SessionError::NotMergeable(RecordType::Hold)));
    }

    #[test]
    fn a_version_that_does_not_read_is_named() {
        let base = book("Base", "");
        let err = MergeSession::new(RecordType::Book, &base, &json!({"title": 3}), &base)
            .expect_err("mine is not a book");
        assert!(
            matches!(
                err,
                SessionError::Unreadable {
                    side: Side::Mine,
                    ..
                }
            ),
            "{err:?}"
        );
    }

    /// `base` with the fields of `changes` replaced.
    fn merged_with(base: &Value, changes: &Value) -> Value {
        let mut out = base.clone();
        for (k, v) in changes.as_object().expect("an object") {
            out[k] = v.clone();
        }
        out
    }
}
