//! The offline commands over the cache: `status`, `search`, `book show` and `book edit`. None
//! of them touches the network; an edit goes into the outbox for the next `shelfmark sync`.

use clap::{Args, Subcommand};
use serde::Serialize;
use serde_json::Value;
use shelfmark_core::Book;
use shelfmark_core::Copy;
use shelfmark_store::{CachedRecord, Lookup, Status};
use uuid::Uuid;

use crate::CliError;
use crate::session::{Cache, Session};

#[derive(Debug, Args)]
pub struct StatusArgs {
    /// Print the counts as JSON.
    #[arg(long)]
    pub json: bool,
}

/// `status --json`: the cache's counts and whom it is signed in as.
#[derive(Serialize)]
struct StatusReport {
    #[serde(flatten)]
    status: Status,
    server: Option<String>,
    user: Option<String>,
}

pub fn status(cache: &Cache, args: &StatusArgs) -> Result<(), CliError> {
    let status = cache.open()?.status()?;
    let session = cache.session()?;
    let (server, user) = match session {
        Some(Session { server, user, .. }) => (Some(server), Some(user)),
        None => (None, None),
    };
    if args.json {
        let report = StatusReport {
            status,
            server,
            user,
        };
        println!("{}", serde_json::to_string_pretty(&report)?);
        return Ok(());
    }
    match (&server, &user) {
        (Some(s), Some(u)) => println!("signed in to {s} as {u}"),
        _ => println!("not signed in"),
    }
    println!(
        "cached: {} books, {} copies, {} patrons, {} holds",
        status.books, status.copies, status.patrons, status.holds
    );
    println!(
        "outbox: {} pending, {} failed, {} lost hold(s); {} conflict(s)",
        status.sync.pending_edits,
        status.sync.failed_edits,
        status.sync.lost_holds,
        status.sync.conflicts
    );
    println!(
        "last sync: {} (feed at {})",
        status.sync.last_sync.as_deref().unwrap_or("never"),
        status.sync.last_seq
    );
    Ok(())
}

#[derive(Debug, Args)]
pub struct SearchArgs {
    /// Words to look for in titles, authors, subjects and ISBNs (each a prefix).
    pub text: String,
    /// At most this many books.
    #[arg(long, default_value_t = 20)]
    pub limit: u32,
    /// Print the books as JSON.
    #[arg(long)]
    pub json: bool,
}

pub fn search(cache: &Cache, args: &SearchArgs) -> Result<(), CliError> {
    let books = cache.open()?.list_books(&args.text, args.limit)?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&books)?);
        return Ok(());
    }
    for b in &books {
        println!(
            "{}  {} — {}{}  [{}/{} available]{}",
            b.id,
            b.title,
            b.authors.join(", "),
            b.year.map(|y| format!(" ({y})")).unwrap_or_default(),
            b.copies_available,
            b.copies_total,
            if b.pending { "  (edit pending)" } else { "" }
        );
    }
    if books.is_empty() {
        eprintln!("no book matches {:?}", args.text);
    }
    Ok(())
}

#[derive(Debug, Subcommand)]
pub enum BookCommand {
    /// Show one book as the cache has it (pending edits included), with its copies.
    Show {
        id: Uuid,
        /// Print the book as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Edit a book offline: the edit goes into the outbox for the next sync.
    Edit {
        id: Uuid,
        /// FIELD=VALUE, repeatable. Lists (authors, subjects) take a JSON array or items
        /// separated by `;`; `year=` clears the year.
        #[arg(long = "set", value_name = "FIELD=VALUE", required = true)]
        set: Vec<String>,
    },
}

/// `book show --json`.
#[derive(Serialize)]
struct BookReport {
    #[serde(flatten)]
    cached: CachedRecord<Book>,
    copies: Vec<Copy>,
}

pub fn book(cache: &Cache, command: &BookCommand) -> Result<(), CliError> {
    match command {
        BookCommand::Show { id, json } => show(cache, *id, *json),
        BookCommand::Edit { id, set } => edit(cache, *id, set),
    }
}

fn show(cache: &Cache, id: Uuid, json: bool) -> Result<(), CliError> {
    let store = cache.open()?;
    let cached = store.get::<Book>(id)?.ok_or(CliError::NoSuchBook(id))?;
    let copies = store.find_by::<Copy>(Lookup::BookId, &id.to_string())?;
    if json {
        let report = BookReport { cached, copies };
        println!("{}", serde_json::to_string_pretty(&report)?);
        return Ok(());
    }
    let b = &cached.record;
    println!("{}", b.title);
    println!("  id         {}", b.id);
    println!("  isbn       {}", b.isbn);
    println!("  authors    {}", b.authors.join("; "));
    println!("  publisher  {}", b.publisher);
    println!(
        "  year       {}",
        b.year.map(|y| y.to_string()).unwrap_or_default()
    );
    println!("  subjects   {}", b.subjects.join("; "));
    for (name, text) in [("summary", &b.summary), ("notes", &b.notes)] {
        let mut lines = text.lines();
        println!("  {name:<10} {}", lines.next().unwrap_or_default());
        for line in lines {
            println!("             {line}");
        }
    }
    if cached.pending {
        println!("  (a local edit waits to sync)");
    }
    if cached.in_conflict {
        println!("  (in conflict with the server: see `shelfmark conflicts`)");
    }
    println!("copies:");
    for c in &copies {
        println!(
            "  {}  {:<10} {:<10} {}",
            c.barcode,
            c.branch,
            c.status.as_str(),
            c.call_number
        );
    }
    Ok(())
}

fn edit(cache: &Cache, id: Uuid, sets: &[String]) -> Result<(), CliError> {
    let mut store = cache.open()?;
    let cached = store.get::<Book>(id)?.ok_or(CliError::NoSuchBook(id))?;
    let mut value = serde_json::to_value(&cached.record)?;
    for set in sets {
        let (field, raw) = set
            .split_once('=')
            .ok_or_else(|| CliError::Usage(format!("--set {set:?}: expected FIELD=VALUE")))?;
        apply_set(&mut value, field.trim(), raw)?;
    }
    let book: Book = serde_json::from_value(value)?;
    let entry = store.save(&book)?;
    println!(
        "saved; edit #{} of book {} waits in the outbox (`shelfmark sync` sends it)",
        entry.seq, id
    );
    Ok(())
}

/// The fields `--set` may change.
const BOOK_FIELDS: &[&str] = &[
    "isbn",
    "title",
    "authors",
    "publisher",
    "year",
    "subjects",
    "summary",
    "notes",
];

/// Sets one field of a book's JSON from the text given on the command line.
fn apply_set(book: &mut Value, field: &str, raw: &str) -> Result<(), CliError> {
    let value = match field {
        "isbn" | "title" | "publisher" | "summary" | "notes" => Value::String(raw.to_owned()),
        "year" if raw.trim().is_empty() => Value::Null,
        "year" => Value::from(raw.trim().parse::<i32>().map_err(|_| {
            CliError::Usage(format!("--set year={raw}: not a year (or empty to clear)"))
        })?),
        "authors" | "subjects" => Value::from(parse_list(field, raw)?),
        "id" => return Err(CliError::Usage("a book's id cannot change".into())),
        other => {
            return Err(CliError::Usage(format!(
                "--set {other}=...: a book has no field {other:?} (fields: {})",
                BOOK_FIELDS.join(", ")
            )));
        }
    };
    if let Value::Object(map) = book {
        map.insert(field.to_owned(), value);
    }
    Ok(())
}

/// A list from the command line: a JSON array of strings, or items separated by `;`.
fn parse_list(field: &str, raw: &str) -> Result<Vec<String>, CliError> {
    if raw.trim_start().starts_with('[') {
        return serde_json::from_str(raw).map_err(|e| {
            CliError::Usage(format!(
                "--set {field}=...: not a JSON array of strings: {e}"
            ))
        });
    }
    Ok(raw
        .split(';')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn book() -> Value {
        serde_json::json!({"id": Uuid::nil(), "isbn": "9780306406157", "title": "T",
            "authors": ["A"], "publisher": "", "year": 1999, "subjects": [], "summary": "",
            "notes": ""})
    }

    #[test]
    fn set_parses_each_field_by_its_kind() -> Result<(), CliError> {
        let mut b = book();
        apply_set(&mut b, "title", "A = B")?;
        apply_set(&mut b, "year", "")?;
        apply_set(&mut b, "authors", "Le Guin, Ursula; Lem, Stanisław")?;
        apply_set(&mut b, "subjects", r#"["Science fiction"]"#)?;
        assert_eq!(b["title"], "A = B");
        assert_eq!(b["year"], Value::Null);
        assert_eq!(
            b["authors"],
            serde_json::json!(["Le Guin, Ursula", "Lem, Stanisław"])
        );
        assert_eq!(b["subjects"], serde_json::json!(["Science fiction"]));
        Ok(())
    }

    #[test]
    fn set_refuses_unknown_fields_the_id_and_bad_years() {
        let mut b = book();
        assert!(matches!(
            apply_set(&mut b, "colour", "red"),
            Err(CliError::Usage(_))
        ));
        assert!(matches!(
            apply_set(&mut b, "id", "x"),
            Err(CliError::Usage(_))
        ));
        assert!(matches!(
            apply_set(&mut b, "year", "soon"),
            Err(CliError::Usage(_))
        ));
    }
}
