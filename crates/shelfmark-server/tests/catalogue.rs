//! The IT admin's bulk load and export (`shelfmark-server import marc`, `export marc`), run as
//! the binary against the database of a running server, on both databases: every record a
//! normal write (found by the search, in the change feed, with its revision), a second run
//! changing nothing, duplicates by ISBN skipped or updated as asked, rejected records reported
//! with their number, 001 and reason, a truncated file stopping with its error after the whole
//! records before it, and the export read back by the same import as the same books.

mod common;

use std::process::{Command, Stdio};

use common::Backend;
use common::server::{Server, get_json, items, on_both_backends};
use serde_json::Value;
use shelfmark_core::Book;
use shelfmark_core::marc::{ControlField, DataField, Record, to_book};
use shelfmark_marc::{Format, write_iso2709, write_marcxml};

/// A bibliographic record as a cataloguer writes one (ISBD punctuation included).
fn record(control: Option<&str>, isbn: Option<&str>, title: Option<&str>, author: &str) -> Record {
    let mut data_fields = Vec::new();
    if let Some(isbn) = isbn {
        data_fields.push(DataField::new("020", ' ', ' ', &[('a', isbn)]));
    }
    data_fields.push(DataField::new("100", '1', ' ', &[('a', author)]));
    if let Some(title) = title {
        data_fields.push(DataField::new(
            "245",
            '1',
            '0',
            &[('a', &format!("{title} :")), ('b', "a novel /")],
        ));
    }
    data_fields.push(DataField::new(
        "264",
        ' ',
        '1',
        &[('a', "London :"), ('b', "Harvill,"), ('c', "1998.")],
    ));
    data_fields.push(DataField::new("650", ' ', '0', &[('a', "Lighthouses.")]));
    Record {
        leader: "00000nam a2200000 i 4500".into(),
        control_fields: control
            .map(|c| {
                vec![
                    ControlField::new("001", c),
                    ControlField::new("003", "UkLoBL"),
                ]
            })
            .unwrap_or_default(),
        data_fields,
    }
}

/// Five records: one with an ISBN-10, one with an ISBN-13, one without ISBN nor 001, one
/// without a title (rejected), and one whose ISBN is the first one's (a duplicate).
fn catalogue() -> Vec<Record> {
    vec![
        record(
            Some("rec-1"),
            Some("0306406152 (pbk.)"),
            Some("Signals and Noise"),
            "Ames, Ada,",
        ),
        record(
            Some("rec-2"),
            Some("978-1-86046-849-0"),
            Some("The Lighthouse Keeper"),
            "Bell, Bo.",
        ),
        record(None, None, Some("A Parish Register"), "Cole, Cy."),
        record(Some("rec-4"), Some("9780306406157"), None, "Dee, Di."),
        record(
            Some("rec-5"),
            Some("978-0-306-40615-7"),
            Some("Signals, Second Thoughts"),
            "Ames, Ada,",
        ),
    ]
}

/// Runs the binary with `args` on the server's database; its success, stdout and stderr.
fn run(s: &Server, dir: &std::path::Path, args: &[&str]) -> (bool, String, String) {
    let settings = dir.join("server.toml");
    std::fs::write(&settings, "").expect("an empty settings file");
    let out = Command::new(env!("CARGO_BIN_EXE_shelfmark-server"))
        .arg("--config")
        .arg(&settings)
        .args(["--database", &s.db.url])
        .args(args)
        .env("RUST_LOG", "warn")
        .stdin(Stdio::null())
        .output()
        .expect("run shelfmark-server");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn summary(stdout: &str) -> Value {
    serde_json::from_str(stdout.trim()).unwrap_or_else(|e| panic!("{e}: {stdout:?}"))
}

async fn books(s: &Server) -> Vec<Book> {
    let mut books: Vec<Book> = items(s, "/v1/books?limit=100")
        .await
        .into_iter()
        .map(|v| serde_json::from_value(v).expect("a book"))
        .collect();
    books.sort_by(|a, b| a.title.cmp(&b.title));
    books
}

async fn an_import_writes_books_normally_and_a_second_run_changes_nothing(s: Server) {
    let dir = tempfile::tempdir().expect("dir");
    let file = dir.path().join("vendor.mrc");
    let mut bytes = Vec::new();
    write_iso2709(&mut bytes, catalogue()).expect("write");
    std::fs::write(&file, bytes).expect("write the file");
    let path = file.to_str().expect("path");

    let (ok, out, err) = run(&s, dir.path(), &["import", "marc", path, "--json"]);
    assert!(ok, "{err}");
    let first = summary(&out);
    assert_eq!(
        first,
        serde_json::json!({"read": 5, "created": 3, "updated": 0, "skipped": 1, "rejected": 1}),
        "{err}"
    );
    let report = std::fs::read_to_string(dir.path().join("vendor.mrc.rejected.tsv"))
        .expect("the report of rejected records");
    let line = report.lines().nth(1).expect("one rejected record");
    let cols: Vec<&str> = line.split('\t').collect();
    assert_eq!(&cols[1..3], ["4", "rec-4"], "{report}");
    assert!(cols[3].contains("no title"), "{report}");

    let got = books(&s).await;
    let titles: Vec<&str> = got.iter().map(|b| b.title.as_str()).collect();
    assert_eq!(
        titles,
        [
            "A Parish Register a novel",
            "Signals and Noise a novel",
            "The Lighthouse Keeper a novel"
        ]
    );
    let signals = &got[1];
    assert_eq!(
        signals.isbn, "9780306406157",
        "the ISBN-10 became an ISBN-13"
    );
    assert_eq!(signals.authors, ["Ames, Ada"]);
    assert_eq!(
        (signals.publisher.as_str(), signals.year),
        ("Harvill", Some(1998))
    );
    assert_eq!(got[0].isbn, "", "a book without ISBN is imported");

    // A normal write: the search index, the change feed and the history have it.
    let found = items(&s, "/v1/books?q=keeper").await;
    assert_eq!(found.len(), 1, "{found:?}");
    let (feed, _) = get_json(&s, "/v1/changes?since=0").await;
    let changed = feed["changes"].as_array().map_or(0, Vec::len);
    assert_eq!(changed, 3, "{feed}");
    let history: Value = s
        .req(
            reqwest::Method::GET,
            &format!("/v1/books/{}/revisions", signals.id),
        )
        .send()
        .await
        .expect("history")
        .json()
        .await
        .expect("json");
    assert_eq!(history.as_array().map(Vec::len), Some(1), "{history}");

    let (ok, out, err) = run(&s, dir.path(), &["import", "marc", path, "--json"]);
    assert!(ok, "{err}");
    assert_eq!(
        summary(&out),
        serde_json::json!({"read": 5, "created": 0, "updated": 0, "skipped": 4, "rejected": 1})
    );
    assert_eq!(
        books(&s).await,
        got,
        "running the file again changes nothing"
    );

    // Updating on a duplicate: the record with the first one's ISBN replaces its content,
    // keeping the catalogue's id.
    let (ok, out, err) = run(
        &s,
        dir.path(),
        &["import", "marc", path, "--json", "--on-duplicate", "update"],
    );
    assert!(ok, "{err}");
    assert_eq!(summary(&out)["updated"], 1, "{out}");
    let after = books(&s).await;
    let updated = after
        .iter()
        .find(|b| b.isbn == "9780306406157")
        .expect("the book of that ISBN");
    assert_eq!(updated.id, signals.id);
    assert_eq!(updated.title, "Signals, Second Thoughts a novel");
}

async fn the_export_reads_back_as_the_same_books_in_both_formats(s: Server) {
    let dir = tempfile::tempdir().expect("dir");
    let file = dir.path().join("vendor.xml");
    let mut bytes = Vec::new();
    write_marcxml(&mut bytes, catalogue()).expect("write");
    std::fs::write(&file, bytes).expect("write the file");
    let (ok, out, err) = run(
        &s,
        dir.path(),
        &["import", "marc", file.to_str().expect("path"), "--json"],
    );
    assert!(ok, "{err}");
    assert_eq!(summary(&out)["created"], 3);
    let catalogued = books(&s).await;

    for (format, name) in [(Format::MarcXml, "marcxml"), (Format::Iso2709, "iso2709")] {
        let target = dir.path().join(format!("out.{name}"));
        let (ok, _, err) = run(
            &s,
            dir.path(),
            &[
                "export",
                "marc",
                "--format",
                name,
                "--to",
                target.to_str().expect("path"),
            ],
        );
        assert!(ok, "{err}");
        assert!(err.contains("exported 3 books"), "{err}");
        let input = std::io::BufReader::new(std::fs::File::open(&target).expect("the export"));
        let mut back: Vec<Book> = shelfmark_marc::read(input, format)
            .map(|e| {
                let record = e.expect("readable").record.expect("a record");
                to_book(&record).expect("a book").book
            })
            .collect();
        back.sort_by(|a, b| a.title.cmp(&b.title));
        assert_eq!(back, catalogued, "{name}");
    }
}

async fn a_truncated_file_stops_with_its_error_after_the_whole_records_before_it(s: Server) {
    let dir = tempfile::tempdir().expect("dir");
    let file = dir.path().join("cut.mrc");
    let mut bytes = Vec::new();
    write_iso2709(&mut bytes, catalogue()).expect("write");
    // The file ends in the middle of its third record.
    let ends: Vec<usize> = bytes
        .iter()
        .enumerate()
        .filter(|(_, b)| **b == 0x1D)
        .map(|(i, _)| i)
        .collect();
    bytes.truncate(ends[1] + 40);
    std::fs::write(&file, bytes).expect("write the file");
    let (ok, _, err) = run(
        &s,
        dir.path(),
        &["import", "marc", file.to_str().expect("path")],
    );
    assert!(!ok, "a truncated file is an error");
    assert!(err.contains("truncated after record 2"), "{err}");
    assert!(err.contains("created 2"), "{err}");
    assert_eq!(books(&s).await.len(), 2);

    let other = dir.path().join("picture.png");
    std::fs::write(&other, b"\x89PNG\r\n\x1a\n....").expect("write");
    let (ok, _, err) = run(
        &s,
        dir.path(),
        &["import", "marc", other.to_str().expect("path")],
    );
    assert!(!ok);
    assert!(err.contains("not a MARC file"), "{err}");
    assert_eq!(books(&s).await.len(), 2, "nothing written");
}

on_both_backends!(
    an_import_writes_books_normally_and_a_second_run_changes_nothing,
    the_export_reads_back_as_the_same_books_in_both_formats,
    a_truncated_file_stops_with_its_error_after_the_whole_records_before_it,
);
