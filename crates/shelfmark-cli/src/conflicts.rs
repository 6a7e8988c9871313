//! `shelfmark conflicts`: the conflict inbox, each entry with base, mine and theirs and the
//! places where they still disagree ("open hunks"), recomputed with the record merge of
//! `shelfmark-core` so a script sees exactly what the desktop's merge view would show.

use clap::Args;
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;
use shelfmark_core::merge::{Conflict, ConflictLocation, FieldValue, Record, merge_records};
use shelfmark_core::{Book, Copy, Patron, RecordType};
use shelfmark_store::ConflictEntry;

use crate::CliError;
use crate::session::Cache;

#[derive(Debug, Args)]
pub struct ConflictsArgs {
    /// Print the inbox as JSON.
    #[arg(long)]
    pub json: bool,
}

/// One inbox entry as `conflicts --json` prints it.
#[derive(Serialize)]
struct InboxEntry {
    #[serde(flatten)]
    entry: ConflictEntry,
    /// Where base, mine and theirs still disagree (empty when the merge cannot be recomputed:
    /// the record was deleted on the server, or a create met a duplicate).
    open: Vec<OpenConflict>,
}

/// One open conflict of a record merge.
#[derive(Debug, Serialize, PartialEq)]
struct OpenConflict {
    /// `field#slot`, stable while other conflicts are settled.
    id: String,
    field: &'static str,
    location: Location,
    base: Value,
    mine: Value,
    theirs: Value,
}

#[derive(Debug, Serialize, PartialEq)]
#[serde(tag = "type", rename_all = "snake_case")]
enum Location {
    /// The whole field.
    Field,
    /// A hunk of multi-line text: line ranges `[start, end)` in each version of the field.
    Hunk {
        base_lines: [usize; 2],
        mine_lines: [usize; 2],
        theirs_lines: [usize; 2],
    },
    /// One list item, removed on one side and moved on the other.
    Item { item: String },
}

pub fn run(cache: &Cache, args: &ConflictsArgs) -> Result<(), CliError> {
    let inbox: Vec<InboxEntry> = cache
        .open()?
        .conflicts()?
        .into_iter()
        .map(|entry| {
            let open = open_conflicts(&entry)?;
            Ok(InboxEntry { entry, open })
        })
        .collect::<Result<_, CliError>>()?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&inbox)?);
        return Ok(());
    }
    if inbox.is_empty() {
        println!("no conflicts");
    }
    for e in &inbox {
        println!(
            "#{} {} {}: {}{}",
            e.entry.outbox_seq,
            e.entry.kind.as_str(),
            e.entry.record_id,
            e.entry.reason,
            e.entry
                .detail
                .as_deref()
                .map(|d| format!(" ({d})"))
                .unwrap_or_default()
        );
        for c in &e.open {
            println!("  {}: mine {} / theirs {}", c.id, c.mine, c.theirs);
        }
    }
    Ok(())
}

fn open_conflicts(entry: &ConflictEntry) -> Result<Vec<OpenConflict>, CliError> {
    let (Some(base), Some(mine), Some(theirs)) = (&entry.base, &entry.mine, &entry.theirs) else {
        return Ok(Vec::new());
    };
    match entry.kind {
        RecordType::Book => open_of::<Book>(base, mine, theirs),
        RecordType::Copy => open_of::<Copy>(base, mine, theirs),
        RecordType::Patron => open_of::<Patron>(base, mine, theirs),
        _ => Ok(Vec::new()),
    }
}

fn open_of<R: Record + DeserializeOwned>(
    base: &Value,
    mine: &Value,
    theirs: &Value,
) -> Result<Vec<OpenConflict>, CliError> {
    let parse = |v: &Value| serde_json::from_value::<R>(v.clone());
    let state = merge_records(&parse(base)?, &parse(mine)?, &parse(theirs)?)
        .map_err(|e| CliError::Usage(format!("cannot merge this inbox entry: {e}")))?;
    Ok(state.conflicts().map(open_conflict).collect())
}

fn open_conflict(c: &Conflict) -> OpenConflict {
    let location = match &c.location {
        ConflictLocation::Field => Location::Field,
        ConflictLocation::Hunk {
            base_lines,
            mine_lines,
            theirs_lines,
        } => Location::Hunk {
            base_lines: [base_lines.start, base_lines.end],
            mine_lines: [mine_lines.start, mine_lines.end],
            theirs_lines: [theirs_lines.start, theirs_lines.end],
        },
        ConflictLocation::Item(item) => Location::Item { item: item.clone() },
    };
    OpenConflict {
        id: c.id.to_string(),
        field: c.id.field,
        location,
        base: json_of(&c.base),
        mine: json_of(&c.mine),
        theirs: json_of(&c.theirs),
    }
}

/// A field value as the record's JSON would hold it.
fn json_of(v: &FieldValue) -> Value {
    match v {
        FieldValue::Text(s) | FieldValue::Lines(s) => Value::from(s.as_str()),
        FieldValue::List(items) => Value::from(items.clone()),
        FieldValue::Year(y) => y.map_or(Value::Null, Value::from),
        FieldValue::Flag(b) => Value::from(*b),
        FieldValue::Id(id) => Value::from(id.to_string()),
        FieldValue::CopyStatus(s) => Value::from(s.as_str()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_hunk_conflict_in_the_notes_is_listed_with_its_lines() -> Result<(), CliError> {
        let book = |notes: &str, title: &str| {
            serde_json::json!({"id": uuid::Uuid::nil(), "isbn": "9780306406157",
                "title": title, "notes": notes})
        };
        let base = book("a\nb\nc\n", "T");
        let mine = book("a\nB mine\nc\n", "Mine");
        let theirs = book("a\nB theirs\nc\n", "T");
        let open = open_of::<Book>(&base, &mine, &theirs)?;
        assert_eq!(
            open.len(),
            1,
            "the title changed on one side only: {open:?}"
        );
        assert_eq!(open[0].field, "notes");
        assert_eq!(
            open[0].location,
            Location::Hunk {
                base_lines: [1, 2],
                mine_lines: [1, 2],
                theirs_lines: [1, 2]
            }
        );
        assert_eq!(open[0].mine, "B mine\n");
        assert_eq!(open[0].theirs, "B theirs\n");
        Ok(())
    }
}
