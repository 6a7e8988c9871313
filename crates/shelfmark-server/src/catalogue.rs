//! A library's catalogue brought in from MARC and given back out: the IT admin's first day
//! (`shelfmark-server import marc FILE...`) and the door out (`export marc`), so a library is
//! never locked in.
//!
//! Reading runs on its own thread (the file is read a record at a time, mapped to a book by
//! `shelfmark_core::marc`, and handed over in batches through a small bounded channel, so
//! memory stays flat whatever the file's size); each batch is then one write transaction of
//! normal writes (revisions, change feed, search index) through [`Store::import_books`]. The
//! ids are derived from the records, so running the same file again changes nothing, and an
//! import cut short finishes when run again. Records that cannot become books are reported
//! with their number in the file, their 001 and the reason, and the import goes on; a file
//! that cannot be read further stops with its error once the batches before are committed.

use std::fs::File;
use std::io::{BufReader, Write};
use std::path::{Path, PathBuf};

use serde::Serialize;
use shelfmark_core::marc::{from_book, to_book};
use shelfmark_core::{Book, RecordType};
use shelfmark_marc::{Entry, Format, MarcError, XmlWriter};

use crate::records::Books;
use crate::store::{Actor, ImportOutcome, ListQuery, Store, StoreError, Write as StoreWrite};

/// Books written per transaction: large enough that a commit's cost is spread thin, small
/// enough that the server's other writers wait only briefly for their turn.
const BATCH: usize = 20_000;

/// What an import does with a book the catalogue already has (same record, or same ISBN) but
/// with other content.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum OnDuplicate {
    Skip,
    Update,
}

/// The import's count of records, as printed at its end (and, with `--json`, as one object).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Summary {
    pub read: u64,
    pub created: u64,
    pub updated: u64,
    /// Already in the catalogue: the same, or different and not updated (`--on-duplicate skip`).
    pub skipped: u64,
    pub rejected: u64,
}

/// A record that did not become a book.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Rejected {
    pub file: String,
    /// Its number in the file, from 1.
    pub position: usize,
    /// Its 001, when it could be read.
    pub control_number: Option<String>,
    pub reason: String,
}

#[derive(Debug, thiserror::Error)]
pub enum CatalogueError {
    #[error("{file}: {source}")]
    Marc {
        file: String,
        #[source]
        source: MarcError,
    },
    #[error("{file}: {source}")]
    Io {
        file: String,
        #[source]
        source: std::io::Error,
    },
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// One batch as the reading thread hands it over: each book as it will be written (its JSON,
/// search text and columns made there, off the writer's path).
#[derive(Default)]
struct Batch {
    books: Vec<(usize, Option<String>, StoreWrite)>,
    rejected: Vec<Rejected>,
    read: u64,
}

/// Imports one MARC file (its format detected when `format` is `None`) into the catalogue,
/// adding to `summary` as it goes and giving each rejected record to `reject`. On an error
/// the batches before it are committed and `summary` counts them. The whole file is one bulk
/// load ([`Store::begin_bulk`]).
pub async fn import_file(
    store: &Store,
    actor: &Actor,
    path: &Path,
    format: Option<Format>,
    on_duplicate: OnDuplicate,
    summary: &mut Summary,
    reject: &mut impl FnMut(Rejected),
) -> Result<(), CatalogueError> {
    store.begin_bulk().await?;
    let loaded = load(store, actor, path, format, on_duplicate, summary, reject).await;
    let ended = store.end_bulk().await;
    loaded?;
    Ok(ended?)
}

async fn load(
    store: &Store,
    actor: &Actor,
    path: &Path,
    format: Option<Format>,
    on_duplicate: OnDuplicate,
    summary: &mut Summary,
    reject: &mut impl FnMut(Rejected),
) -> Result<(), CatalogueError> {
    let file = path.display().to_string();
    let opened = File::open(path).map_err(|source| CatalogueError::Io {
        file: file.clone(),
        source,
    })?;
    let (tx, mut rx) = tokio::sync::mpsc::channel::<Batch>(2);
    let reading = {
        let file = file.clone();
        std::thread::spawn(move || read_batches(BufReader::new(opened), format, &file, &tx))
    };
    while let Some(batch) = rx.recv().await {
        summary.read += batch.read;
        for r in batch.rejected {
            summary.rejected += 1;
            reject(r);
        }
        let (meta, books): (Vec<_>, Vec<_>) = batch
            .books
            .into_iter()
            .map(|(position, control, book)| ((position, control), book))
            .unzip();
        let outcomes = store
            .import_books(actor, books, on_duplicate == OnDuplicate::Update)
            .await?;
        for ((position, control_number), outcome) in meta.into_iter().zip(outcomes) {
            match outcome {
                ImportOutcome::Created => summary.created += 1,
                ImportOutcome::Updated => summary.updated += 1,
                ImportOutcome::Unchanged | ImportOutcome::Skipped(_) => summary.skipped += 1,
                ImportOutcome::Refused(reason) => {
                    summary.rejected += 1;
                    reject(Rejected {
                        file: file.clone(),
                        position,
                        control_number,
                        reason,
                    });
                }
            }
        }
    }
    match reading.join() {
        Ok(result) => result,
        Err(_) => Err(CatalogueError::Io {
            file,
            source: std::io::Error::other("the reading thread failed"),
        }),
    }
}

/// The reading thread: records to books, in batches, until the file ends or cannot be read
/// further (that error is its result, given after the batches before it).
fn read_batches(
    input: BufReader<File>,
    format: Option<Format>,
    file: &str,
    tx: &tokio::sync::mpsc::Sender<Batch>,
) -> Result<(), CatalogueError> {
    let marc = |source| CatalogueError::Marc {
        file: file.to_owned(),
        source,
    };
    let reader = match format {
        Some(format) => shelfmark_marc::read(input, format),
        None => shelfmark_marc::read_detected(input).map_err(marc)?,
    };
    let mut batch = Batch::default();
    let mut failed = None;
    for entry in reader {
        let Entry {
            position,
            control_number,
            record,
        } = match entry {
            Ok(entry) => entry,
            Err(e) => {
                failed = Some(marc(e));
                break;
            }
        };
        batch.read += 1;
        match record.and_then(|r| {
            let book = to_book(&r).map_err(|e| e.to_string())?.book;
            StoreWrite::of::<Books>(book.id, &book).map_err(|e| e.to_string())
        }) {
            Ok(write) => batch.books.push((position, control_number, write)),
            Err(reason) => batch.rejected.push(Rejected {
                file: file.to_owned(),
                position,
                control_number,
                reason,
            }),
        }
        // A closed channel: the importer stopped (its error is the one to report).
        if batch.books.len() >= BATCH && tx.blocking_send(std::mem::take(&mut batch)).is_err() {
            return Ok(());
        }
    }
    if batch.read > 0 {
        // A closed channel means the importer stopped with an error of its own.
        let _ = tx.blocking_send(batch);
    }
    failed.map_or(Ok(()), Err)
}

/// Writes every live book of the catalogue to `out` as MARC records in `format` (in id
/// order, a page at a time); answers how many.
pub async fn export(
    store: &Store,
    format: Format,
    out: impl Write,
    target: &Path,
) -> Result<usize, CatalogueError> {
    let file = target.display().to_string();
    let marc = |source| CatalogueError::Marc {
        file: file.clone(),
        source,
    };
    enum Sink<W: Write> {
        Iso(W),
        Xml(XmlWriter<W>),
    }
    let mut sink = match format {
        Format::Iso2709 => Sink::Iso(out),
        Format::MarcXml => Sink::Xml(XmlWriter::new(out).map_err(marc)?),
    };
    let mut after = None;
    let mut written = 0;
    loop {
        let rows = store
            .list(
                RecordType::Book,
                ListQuery {
                    after,
                    limit: 1000,
                    ..ListQuery::default()
                },
            )
            .await?;
        let Some(last) = rows.last() else { break };
        after = Some(last.id);
        let mut records = Vec::with_capacity(rows.len());
        for row in &rows {
            let data = row.data.as_deref().unwrap_or("{}");
            let book: Book = serde_json::from_str(data)
                .map_err(|e| StoreError::Corrupt(format!("book {}: {e}", row.id)))?;
            records.push(from_book(&book));
        }
        match &mut sink {
            Sink::Iso(out) => {
                written += shelfmark_marc::write_iso2709(&mut *out, &records).map_err(marc)?
            }
            Sink::Xml(xml) => {
                for r in &records {
                    xml.write(r).map_err(marc)?;
                }
                written += records.len();
            }
        }
    }
    let mut out = match sink {
        Sink::Iso(out) => out,
        Sink::Xml(xml) => xml.finish().map_err(marc)?,
    };
    out.flush().map_err(|source| CatalogueError::Io {
        file: file.clone(),
        source,
    })?;
    Ok(written)
}

/// Where the rejected records of an import are reported: `FILE.rejected.tsv` beside the
/// first file (number, 001, reason; one line each, tabs and line breaks in a reason replaced).
pub fn report_path(first: &Path) -> PathBuf {
    let mut name = first.file_name().unwrap_or_default().to_os_string();
    name.push(".rejected.tsv");
    first.with_file_name(name)
}

/// One line of the report file.
pub fn report_line(r: &Rejected) -> String {
    let clean = |s: &str| s.replace(['\t', '\n', '\r'], " ");
    format!(
        "{}\t{}\t{}\t{}\n",
        clean(&r.file),
        r.position,
        clean(r.control_number.as_deref().unwrap_or("")),
        clean(&r.reason)
    )
}
