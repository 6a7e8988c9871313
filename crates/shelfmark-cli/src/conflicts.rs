//! `shelfmark conflicts`: the conflict inbox, each entry with base, mine and theirs and the
//! places where they still disagree ("open hunks"), recomputed with the merge session of
//! `shelfmark-core` (the one the desktop's merge view uses) so a script sees exactly what the
//! merge view would show.

use clap::Args;
use serde::Serialize;
use serde_json::Value;
use shelfmark_core::merge::{self, ConflictLocation, SessionError};
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
    field: String,
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
            "#{} {} {}: {}{}{}",
            e.entry.outbox_seq,
            e.entry.kind.as_str(),
            e.entry.record_id,
            e.entry.reason,
            e.entry
                .detail
                .as_deref()
                .map(|d| format!(" ({d})"))
                .unwrap_or_default(),
            e.entry
                .existing_id
                .map(|id| format!(" [existing record {id}]"))
                .unwrap_or_default()
        );
        for c in &e.open {
            println!("  {}: mine {} / theirs {}", c.id, c.mine, c.theirs);
        }
    }
    Ok(())
}

fn open_conflicts(entry: &ConflictEntry) -> Result<Vec<OpenConflict>, CliError> {
    match entry.session(&[]) {
        Ok(session) => Ok(session.conflicts().iter().map(open_conflict).collect()),
        // Holds and the other kinds are not merged field by field: nothing to list.
        Err(SessionError::NotMergeable(_)) => Ok(Vec::new()),
        Err(e) => Err(e.into()),
    }
}

fn open_conflict(c: &merge::OpenConflict) -> OpenConflict {
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
        id: format!("{}#{}", c.key.field, c.key.slot),
        field: c.key.field.clone(),
        location,
        base: c.base.clone(),
        mine: c.mine.clone(),
        theirs: c.theirs.clone(),
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
        let entry = ConflictEntry {
            outbox_seq: 1,
            kind: shelfmark_core::RecordType::Book,
            record_id: uuid::Uuid::nil(),
            base: Some(base),
            mine: Some(mine),
            theirs: Some(theirs),
            theirs_etag: Some("\"v2\"".into()),
            reason: shelfmark_store::ConflictReason::EditConflict,
            detail: None,
            existing_id: None,
            created_at: String::new(),
            label: "book “Mine”".into(),
        };
        let open = open_conflicts(&entry)?;
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
