//! The record merge and its state: what merged cleanly, what conflicts remain, and settling
//! them one at a time.
//!
//! A field changed on one side only takes that side; changed alike on both takes it; changed
//! differently on both is a conflict, except that multi-line text is merged line by line
//! (only overlapping hunks conflict, each hunk its own conflict) and lists are merged as
//! ordered sets. [`MergeState`] is a plain value: [`MergeState::settle`] returns the next
//! state and leaves the old one alone, so undo is keeping the previous value.

use std::fmt;
use std::ops::Range;

use uuid::Uuid;

use super::list::{ListPiece, merge_list};
use super::record::{FieldKind, FieldMismatch, FieldValue, Record};
use super::text::{ConflictStyle, MergeLevel, TextChunk, TextMergeOptions, merge_text};
use super::words::{WordChange, word_changes};

/// Why a merge or a settlement was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MergeError {
    #[error(
        "the three versions are of different records (base {base}, mine {mine}, theirs {theirs})"
    )]
    DifferentRecords {
        base: Uuid,
        mine: Uuid,
        theirs: Uuid,
    },
    #[error("there is no open conflict {0}")]
    NoSuchConflict(ConflictId),
    #[error("{field} holds a {expected:?} value, not a {got:?}")]
    WrongKind {
        field: String,
        expected: FieldKind,
        got: FieldKind,
    },
    #[error("{field}: two {kind:?} values cannot be kept both; pick one or edit")]
    CannotCombine { field: String, kind: FieldKind },
    #[error("{0} conflict(s) remain")]
    Unresolved(usize),
    #[error("unknown field {0}")]
    UnknownField(String),
}

impl From<FieldMismatch> for MergeError {
    fn from(e: FieldMismatch) -> Self {
        match e {
            FieldMismatch::WrongKind {
                field,
                expected,
                got,
            } => MergeError::WrongKind {
                field,
                expected,
                got,
            },
            FieldMismatch::UnknownField(field) => MergeError::UnknownField(field),
        }
    }
}

/// Names a conflict within a merge state: the field and the conflict's slot in it. Settling
/// one conflict does not renumber the others.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ConflictId {
    pub field: &'static str,
    pub slot: usize,
}

impl fmt::Display for ConflictId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}#{}", self.field, self.slot)
    }
}

/// Where in its field a conflict is.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum ConflictLocation {
    /// The whole field (single values).
    Field,
    /// One hunk of multi-line text: line ranges in each version of the field.
    Hunk {
        base_lines: Range<usize>,
        mine_lines: Range<usize>,
        theirs_lines: Range<usize>,
    },
    /// One item of a list, removed on one side and moved on the other.
    Item(String),
}

/// A place where the two sides disagree. For a hunk, `base`/`mine`/`theirs` hold that hunk's
/// lines; for a list item, the item on the sides that kept it (or an empty list).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Conflict {
    pub id: ConflictId,
    pub location: ConflictLocation,
    pub base: FieldValue,
    pub mine: FieldValue,
    pub theirs: FieldValue,
    /// Base to mine, word by word (text kinds only; empty otherwise).
    pub mine_words: Vec<WordChange>,
    /// Base to theirs, word by word (text kinds only; empty otherwise).
    pub theirs_words: Vec<WordChange>,
}

/// How the librarian settles a conflict.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Resolution {
    Mine,
    Theirs,
    /// Keep both, mine first (text hunks and list items).
    MineThenTheirs,
    /// Keep both, theirs first (text hunks and list items).
    TheirsThenMine,
    /// A hand-edited value of the field's kind.
    Edited(FieldValue),
}

/// What each side changed in a text field, word by word, for highlighting.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct FieldChanges {
    pub field: &'static str,
    pub mine: Vec<WordChange>,
    pub theirs: Vec<WordChange>,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum Slot {
    Settled(FieldValue),
    Open(Conflict),
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct PendingField {
    name: &'static str,
    slots: Vec<Slot>,
}

/// A merge in progress (or done, when no conflict remains).
#[derive(Debug, Clone, PartialEq)]
pub struct MergeState<R> {
    merged: R,
    pending: Vec<PendingField>,
    changes: Vec<FieldChanges>,
}

/// Merges `mine` and `theirs`, both edited from `base`, field by field.
pub fn merge_records<R: Record>(
    base: &R,
    mine: &R,
    theirs: &R,
) -> Result<MergeState<R>, MergeError> {
    if base.id() != mine.id() || base.id() != theirs.id() {
        return Err(MergeError::DifferentRecords {
            base: base.id(),
            mine: mine.id(),
            theirs: theirs.id(),
        });
    }
    let mut merged = base.clone();
    let mut pending = Vec::new();
    let mut changes = Vec::new();
    for &name in R::FIELDS {
        let field = |r: &R| {
            r.get(name)
                .ok_or_else(|| MergeError::UnknownField(name.to_owned()))
        };
        let (b, m, t) = (field(base)?, field(mine)?, field(theirs)?);
        match (b.as_text(), m.as_text(), t.as_text()) {
            (Some(bt), Some(mt), Some(tt)) if bt != mt || bt != tt => {
                changes.push(FieldChanges {
                    field: name,
                    mine: word_changes(bt, mt),
                    theirs: word_changes(bt, tt),
                });
            }
            _ => {}
        }
        let slots = merge_field(name, b, m, t);
        match slots.as_slice() {
            [Slot::Settled(value)] => merged.set(name, value.clone())?,
            _ => pending.push(PendingField { name, slots }),
        }
    }
    Ok(MergeState {
        merged,
        pending,
        changes,
    })
}

fn merge_field(name: &'static str, b: FieldValue, m: FieldValue, t: FieldValue) -> Vec<Slot> {
    if m == t || t == b {
        return vec![Slot::Settled(m)];
    }
    if m == b {
        return vec![Slot::Settled(t)];
    }
    match (&b, &m, &t) {
        (FieldValue::Lines(bt), FieldValue::Lines(mt), FieldValue::Lines(tt)) => {
            // Exact base per hunk (no zealous splitting), common lines trimmed off the ends.
            let options = TextMergeOptions {
                level: MergeLevel::Eager,
                style: ConflictStyle::ZealousDiff3,
            };
            let merge = merge_text(bt, mt, tt, options);
            if let Some(text) = merge.clean_text() {
                return vec![Slot::Settled(FieldValue::Lines(text))];
            }
            let chunks = merge.into_chunks();
            (0..chunks.len())
                .zip(chunks)
                .map(|(slot, chunk)| match chunk {
                    TextChunk::Resolved(text) => Slot::Settled(FieldValue::Lines(text.to_owned())),
                    TextChunk::Conflict(c) => Slot::Open(Conflict {
                        id: ConflictId { field: name, slot },
                        location: ConflictLocation::Hunk {
                            base_lines: c.base_lines,
                            mine_lines: c.mine_lines,
                            theirs_lines: c.theirs_lines,
                        },
                        mine_words: word_changes(c.base, c.mine),
                        theirs_words: word_changes(c.base, c.theirs),
                        base: FieldValue::Lines(c.base.to_owned()),
                        mine: FieldValue::Lines(c.mine.to_owned()),
                        theirs: FieldValue::Lines(c.theirs.to_owned()),
                    }),
                })
                .collect()
        }
        (FieldValue::List(bl), FieldValue::List(ml), FieldValue::List(tl)) => {
            let pieces = merge_list(bl, ml, tl);
            if pieces.iter().all(|p| matches!(p, ListPiece::Items(_))) {
                let items = pieces
                    .into_iter()
                    .flat_map(|p| match p {
                        ListPiece::Items(items) => items,
                        ListPiece::Conflict { .. } => Vec::new(),
                    })
                    .collect();
                return vec![Slot::Settled(FieldValue::List(items))];
            }
            (0..pieces.len())
                .zip(pieces)
                .map(|(slot, piece)| match piece {
                    ListPiece::Items(items) => Slot::Settled(FieldValue::List(items)),
                    ListPiece::Conflict {
                        item,
                        in_mine,
                        in_theirs,
                    } => {
                        let present = |yes: bool| {
                            FieldValue::List(if yes { vec![item.clone()] } else { Vec::new() })
                        };
                        Slot::Open(Conflict {
                            id: ConflictId { field: name, slot },
                            base: present(true),
                            mine: present(in_mine),
                            theirs: present(in_theirs),
                            location: ConflictLocation::Item(item),
                            mine_words: Vec::new(),
                            theirs_words: Vec::new(),
                        })
                    }
                })
                .collect()
        }
        _ => {
            let words = |side: &FieldValue| match (b.as_text(), side.as_text()) {
                (Some(old), Some(new)) => word_changes(old, new),
                _ => Vec::new(),
            };
            vec![Slot::Open(Conflict {
                id: ConflictId {
                    field: name,
                    slot: 0,
                },
                location: ConflictLocation::Field,
                mine_words: words(&m),
                theirs_words: words(&t),
                base: b,
                mine: m,
                theirs: t,
            })]
        }
    }
}

impl<R: Record> MergeState<R> {
    /// The record with every clean field merged; a field with open conflicts still holds its
    /// base value.
    pub fn merged(&self) -> &R {
        &self.merged
    }

    /// The conflicts left, field by field in the record's field order.
    pub fn conflicts(&self) -> impl Iterator<Item = &Conflict> {
        self.pending.iter().flat_map(|f| {
            f.slots.iter().filter_map(|slot| match slot {
                Slot::Open(conflict) => Some(conflict),
                Slot::Settled(_) => None,
            })
        })
    }

    pub fn conflict(&self, id: ConflictId) -> Option<&Conflict> {
        self.conflicts().find(|c| c.id == id)
    }

    pub fn is_resolved(&self) -> bool {
        self.pending.is_empty()
    }

    /// Word-level changes of each side in every text field either side changed.
    pub fn changes(&self) -> &[FieldChanges] {
        &self.changes
    }

    /// The state after settling conflict `id`; `self` is left as it was.
    pub fn settle(&self, id: ConflictId, resolution: Resolution) -> Result<Self, MergeError> {
        let mut next = self.clone();
        let index = next
            .pending
            .iter()
            .position(|f| f.name == id.field)
            .ok_or(MergeError::NoSuchConflict(id))?;
        let field = &mut next.pending[index];
        let Some(Slot::Open(conflict)) = field.slots.get(id.slot) else {
            return Err(MergeError::NoSuchConflict(id));
        };
        let value = resolve(id.field, conflict, resolution)?;
        field.slots[id.slot] = Slot::Settled(value);
        if field.slots.iter().all(|s| matches!(s, Slot::Settled(_))) {
            let field = next.pending.remove(index);
            let value = join(field.slots.into_iter().filter_map(|s| match s {
                Slot::Settled(v) => Some(v),
                Slot::Open(_) => None,
            }));
            if let Some(value) = value {
                next.merged.set(field.name, value)?;
            }
        }
        Ok(next)
    }

    /// The merged record, once no conflict remains.
    pub fn finish(&self) -> Result<R, MergeError> {
        match self.conflicts().count() {
            0 => Ok(self.merged.clone()),
            n => Err(MergeError::Unresolved(n)),
        }
    }
}

fn resolve(field: &str, c: &Conflict, resolution: Resolution) -> Result<FieldValue, MergeError> {
    let both = |first: &FieldValue, second: &FieldValue| match (first, second) {
        (FieldValue::Lines(a), FieldValue::Lines(b)) => {
            let mut text = a.clone();
            if !text.is_empty() && !text.ends_with('\n') {
                text.push('\n');
            }
            text.push_str(b);
            Ok(FieldValue::Lines(text))
        }
        (FieldValue::List(a), FieldValue::List(b)) => {
            Ok(FieldValue::List(a.iter().chain(b).cloned().collect()))
        }
        _ => Err(MergeError::CannotCombine {
            field: field.to_owned(),
            kind: c.base.kind(),
        }),
    };
    match resolution {
        Resolution::Mine => Ok(c.mine.clone()),
        Resolution::Theirs => Ok(c.theirs.clone()),
        Resolution::MineThenTheirs => both(&c.mine, &c.theirs),
        Resolution::TheirsThenMine => both(&c.theirs, &c.mine),
        Resolution::Edited(value) if value.kind() == c.base.kind() => Ok(value),
        Resolution::Edited(value) => Err(MergeError::WrongKind {
            field: field.to_owned(),
            expected: c.base.kind(),
            got: value.kind(),
        }),
    }
}

/// Puts a field's settled slots back together: text concatenated (a hand-edited hunk gets the
/// line ending it lacks), list items concatenated without duplicates, a single value as is.
fn join(values: impl Iterator<Item = FieldValue>) -> Option<FieldValue> {
    let mut values = values.peekable();
    let first = values.next()?;
    Some(match first {
        FieldValue::Lines(mut text) => {
            for value in values {
                if let FieldValue::Lines(more) = value {
                    if !text.is_empty() && !text.ends_with('\n') && !more.is_empty() {
                        text.push('\n');
                    }
                    text.push_str(&more);
                }
            }
            FieldValue::Lines(text)
        }
        FieldValue::List(mut items) => {
            for value in values {
                if let FieldValue::List(more) = value {
                    items.extend(more);
                }
            }
            let mut seen = std::collections::HashSet::new();
            items.retain(|item| seen.insert(item.clone()));
            FieldValue::List(items)
        }
        single => single,
    })
}
