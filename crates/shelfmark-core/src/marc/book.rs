//! What a MARC 21 bibliographic record means as a [`Book`], and the record a book is exported
//! as: the one place that decides which tag is which field, so that the bulk load, the desk's
//! import and the export cannot disagree.
//!
//! # Import ([`to_book`])
//!
//! | Book field  | MARC                                                                       |
//! |-------------|----------------------------------------------------------------------------|
//! | `isbn`      | the first 020 `$a` that is a valid ISBN-10 (converted) or ISBN-13; none: empty |
//! | `title`     | the first 245's `$a`, `$b`, `$n`, `$p` in record order, joined by a space  |
//! | `authors`   | 100/110 `$a`, then 700/710 `$a`, in record order, duplicates dropped        |
//! | `publisher` | the first `$b` of 264 (second indicator `1`, publication), else of 260      |
//! | `year`      | the first 4-digit number from 0 to 2100 in a `$c` of 264 `_1`, 260, 264 `_4` |
//! | `subjects`  | 650/651/655 `$a`, in record order, duplicates dropped                       |
//! | `summary`   | every 520 `$a`, one line each                                              |
//! | `notes`     | every 500 `$a`, one line each                                              |
//! | `id`        | [`book_id`]                                                                |
//!
//! Cataloguers end each part of a field with ISBD punctuation ("Signals : a history /"); a
//! Shelfmark field holds none. From the end of a title part, author, publisher or subject,
//! these go: any `/`, `:`, `;` or `=` (with the spaces before them), then one `,` or one `.`.
//! A period stays when it follows a single letter ("Smith, J.", "U.S.A.") or ends an ellipsis,
//! since there it is part of the words; one that ends any other abbreviation ("Inc.") goes.
//!
//! The publisher and the year are read from the publication fields in the order of the table
//! (all 264 `_1`, then all 260, then, for the year only, the copyright dates of 264 `_4`): the
//! first `$b` that is not empty, the first `$c` that has a year. A date with no year in it
//! ("[n.d.]") or none from 0 to 2100 leaves the year empty with a warning.
//!
//! One-line fields have their runs of whitespace collapsed to one space and are trimmed.
//! Control characters cannot be stored (`Book::validate` refuses them), and one stray byte in a
//! file of thousands of records must not keep a book out of the catalogue: they are removed
//! (in a one-line field each separates words as a space would; the summary and notes keep
//! their line breaks and tabs) and the record imports with a warning.
//!
//! # Export ([`from_book`])
//!
//! A book becomes a MARC 21 record holding exactly what Shelfmark knows, with no ISBD
//! punctuation added (leader/18 says so: "non-ISBD"), so that importing the export gives the
//! same book back field for field: `to_book(&from_book(&b))` is `b` for every book `to_book`
//! can produce (valid, its one-line fields trimmed with single spaces and no trailing ISBD
//! punctuation, no author or subject twice). The summary and notes are one 520 or 500 per
//! line for the same reason (an empty line too, as an empty `$a`): a subfield has no line
//! breaks in MARC, and one field per line keeps the lines as they were.

use uuid::Uuid;

use super::{ControlField, DataField, Record};
use crate::validate::ValidationErrors;
use crate::{Book, isbn};

/// A record read as a book, with what the librarian should know about how it was read (an
/// ISBN skipped, a year not understood, control characters removed).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Imported {
    pub book: Book,
    pub warnings: Vec<String>,
}

/// Why a record cannot become a book.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Rejected {
    #[error("the record has no title (MARC field 245 $a), and a book needs one")]
    NoTitle,
    #[error("the book this record describes breaks the catalogue's rules: {0}")]
    Invalid(ValidationErrors),
}

/// Reads a bibliographic record as a book (the mapping is in [the module's documentation](self)).
///
/// Only a record with no title is refused; whatever else is missing or unreadable leaves the
/// field empty and says so in a warning.
pub fn to_book(record: &Record) -> Result<Imported, Rejected> {
    let mut read = Reader::default();
    let fields = read.fields(record);
    if fields.title.is_empty() {
        return Err(Rejected::NoTitle);
    }
    let id = id_from(record, &fields);
    let mut book = Book {
        id,
        isbn: fields.isbn,
        title: fields.title,
        authors: fields.authors,
        publisher: fields.publisher,
        year: fields.year,
        subjects: fields.subjects,
        summary: fields.summary,
        notes: fields.notes,
    };
    book.validate().map_err(Rejected::Invalid)?;
    Ok(Imported {
        book,
        warnings: read.warnings,
    })
}

/// Where the ids of imported books live: a fixed name-based (v5) UUID namespace of
/// Shelfmark's. Never change it: every imported book's id is derived from it, and a re-import
/// must find the books it made before.
const NAMESPACE: Uuid = Uuid::from_u128(0x9705_9a07_e37e_4637_8070_f54d_d830_a624);

/// What identifies the record's control number as one Shelfmark gave (001 is then a book id).
const OWN_ORGANISATION: &str = "Shelfmark";

/// The id of the book a record describes: the same record, imported again, gets the same id.
///
/// - A record Shelfmark exported (003 "Shelfmark", 001 a UUID) keeps its book's id.
/// - Otherwise, with a control number (001): the UUID v5 of `"001:{003}:{001}"` (003 may be
///   empty; both trimmed), since an organisation's control number names one record for good.
/// - Otherwise, with an ISBN (`isbn`, as [`to_book`] reads it: 13 digits): of `"isbn:{isbn}"`.
/// - Otherwise: of `"book:"` then the title, each author and the year (empty when unknown)
///   separated by U+001F, all as [`to_book`] reads them. Two editions without control number
///   or ISBN that share title, authors and year get one id; nothing better is left to tell
///   them apart.
///
/// The name prefixes keep the three kinds from ever meeting.
pub fn book_id(record: &Record, isbn: &str) -> Uuid {
    let mut fields = Reader::default().fields(record);
    fields.isbn = isbn::normalize(isbn.trim());
    id_from(record, &fields)
}

fn id_from(record: &Record, fields: &Fields) -> Uuid {
    let organisation = record.control("003").unwrap_or("").trim();
    if let Some(number) = record.control("001").map(str::trim)
        && !number.is_empty()
    {
        if organisation == OWN_ORGANISATION
            && let Ok(id) = Uuid::parse_str(number)
        {
            return id;
        }
        return Uuid::new_v5(
            &NAMESPACE,
            format!("001:{organisation}:{number}").as_bytes(),
        );
    }
    if !fields.isbn.is_empty() {
        return Uuid::new_v5(&NAMESPACE, format!("isbn:{}", fields.isbn).as_bytes());
    }
    let mut name = format!("book:{}", fields.title);
    for author in &fields.authors {
        name.push('\u{1f}');
        name.push_str(author);
    }
    name.push('\u{1f}');
    if let Some(year) = fields.year {
        name.push_str(&year.to_string());
    }
    Uuid::new_v5(&NAMESPACE, name.as_bytes())
}

/// The record a book is exported as (see [the module's documentation](self)). The book is
/// written as it is: give it a validated one.
pub fn from_book(book: &Book) -> Record {
    let mut data_fields = Vec::new();
    if !book.isbn.is_empty() {
        data_fields.push(DataField::new("020", ' ', ' ', &[('a', &book.isbn)]));
    }
    let mut authors = book.authors.iter();
    let main_entry = authors.next();
    if let Some(first) = main_entry {
        // First indicator 1: a personal name in inverted order is the cataloguers' usual;
        // Shelfmark does not know, and the indicator changes no reading of the name.
        data_fields.push(DataField::new("100", '1', ' ', &[('a', first)]));
    }
    // 245 ind1: whether the title is an added entry (it is when there is no 1XX); ind2: no
    // nonfiling characters, as Shelfmark does not know the title's article.
    let ind1 = if main_entry.is_some() { '1' } else { '0' };
    data_fields.push(DataField::new("245", ind1, '0', &[('a', &book.title)]));
    let year = book.year.map(|y| format!("{y:04}"));
    let mut publication = Vec::new();
    if !book.publisher.is_empty() {
        publication.push(('b', book.publisher.as_str()));
    }
    if let Some(year) = &year {
        publication.push(('c', year.as_str()));
    }
    if !publication.is_empty() {
        data_fields.push(DataField::new("264", ' ', '1', &publication));
    }
    data_fields.extend(lines(&book.notes).map(|l| DataField::new("500", ' ', ' ', &[('a', l)])));
    data_fields.extend(lines(&book.summary).map(|l| DataField::new("520", ' ', ' ', &[('a', l)])));
    // 650 ind2 4: a subject whose thesaurus is not known.
    data_fields.extend(
        book.subjects
            .iter()
            .map(|s| DataField::new("650", ' ', '4', &[('a', s)])),
    );
    data_fields.extend(authors.map(|a| DataField::new("700", '1', ' ', &[('a', a)])));
    Record {
        // New record, language material, monograph; UCS/Unicode (09 'a'), two indicators and
        // one-character subfield codes; encoding level unknown, non-ISBD (no punctuation).
        // The writer fills in the lengths and the base address.
        leader: "00000nam a2200000u  4500".to_owned(),
        control_fields: vec![
            ControlField::new("001", &book.id.hyphenated().to_string()),
            ControlField::new("003", OWN_ORGANISATION),
        ],
        data_fields,
    }
}

/// A multi-line text's lines; none for an empty text (so that "" and one empty line, the same
/// text, export alike).
fn lines(text: &str) -> impl Iterator<Item = &str> {
    text.split('\n').filter(move |_| !text.is_empty())
}

/// The book's fields as a record gives them, before the id.
struct Fields {
    isbn: String,
    title: String,
    authors: Vec<String>,
    publisher: String,
    year: Option<i32>,
    subjects: Vec<String>,
    summary: String,
    notes: String,
}

/// Reads fields, collecting the warnings as it goes.
#[derive(Default)]
struct Reader {
    warnings: Vec<String>,
}

impl Reader {
    fn warn(&mut self, warning: String) {
        if !self.warnings.contains(&warning) {
            self.warnings.push(warning);
        }
    }

    fn fields(&mut self, record: &Record) -> Fields {
        let publication: Vec<&DataField> = record
            .fields("264")
            .filter(|f| f.ind2 == '1')
            .chain(record.fields("260"))
            .chain(record.fields("264").filter(|f| f.ind2 == '4'))
            .collect();
        Fields {
            isbn: self.isbn(record),
            title: self.title(record),
            authors: self.list(record, &["100", "110"], &["700", "710"], "an author"),
            publisher: self.publisher(&publication),
            year: self.year(&publication),
            subjects: self.list(record, &["650", "651", "655"], &[], "a subject"),
            summary: self.text(record, "520", "the summary"),
            notes: self.text(record, "500", "the notes"),
        }
    }

    fn isbn(&mut self, record: &Record) -> String {
        let mut found = None;
        for raw in record.fields("020").flat_map(|f| f.subfields('a')) {
            match isbn::from_marc(raw) {
                Ok(isbn) => {
                    found.get_or_insert(isbn);
                }
                Err(e) => {
                    let shown = self.one_line(raw, "an ISBN");
                    self.warn(format!("the ISBN \"{shown}\" (020 $a) was skipped: {e}"));
                }
            }
        }
        found.unwrap_or_default()
    }

    fn title(&mut self, record: &Record) -> String {
        let Some(field) = record.fields("245").next() else {
            return String::new();
        };
        let parts: Vec<String> = field
            .subfields
            .iter()
            .filter(|s| matches!(s.code, 'a' | 'b' | 'n' | 'p'))
            .map(|s| strip_isbd(&self.one_line(&s.value, "the title")))
            .filter(|part| !part.is_empty())
            .collect();
        parts.join(" ")
    }

    /// The `$a` of the fields with the `first` tags, then of the `then` tags, each group in
    /// record order, without duplicates.
    fn list(&mut self, record: &Record, first: &[&str], then: &[&str], what: &str) -> Vec<String> {
        let in_group = |tags: &[&str]| {
            record
                .data_fields
                .iter()
                .filter(|f| tags.contains(&f.tag.as_str()))
                .flat_map(|f| f.subfields('a'))
                .collect::<Vec<_>>()
        };
        let mut values: Vec<String> = Vec::new();
        for raw in in_group(first).into_iter().chain(in_group(then)) {
            let value = strip_isbd(&self.one_line(raw, what));
            if !value.is_empty() && !values.contains(&value) {
                values.push(value);
            }
        }
        values
    }

    fn publisher(&mut self, publication: &[&DataField]) -> String {
        for raw in publication.iter().flat_map(|f| f.subfields('b')) {
            let publisher = strip_isbd(&self.one_line(raw, "the publisher"));
            if !publisher.is_empty() {
                return publisher;
            }
        }
        String::new()
    }

    fn year(&mut self, publication: &[&DataField]) -> Option<i32> {
        let dates: Vec<String> = publication
            .iter()
            .flat_map(|f| f.subfields('c'))
            .map(|raw| self.one_line(raw, "the date"))
            .filter(|d| !d.is_empty())
            .collect();
        if let Some(year) = dates.iter().find_map(|d| year_in(d)) {
            return Some(year);
        }
        if let Some(first) = dates.first() {
            self.warn(if four_digit_runs(first).next().is_some() {
                format!("the date \"{first}\" has no year between 0 and 2100; the book has no year")
            } else {
                format!("no year could be read from the date \"{first}\"; the book has no year")
            });
        }
        None
    }

    /// Every `$a` of the fields with this tag, one line each.
    fn text(&mut self, record: &Record, tag: &str, what: &str) -> String {
        let values: Vec<&str> = record.fields(tag).flat_map(|f| f.subfields('a')).collect();
        let mut removed = false;
        let lines: Vec<String> = values
            .iter()
            .map(|value| {
                value
                    .chars()
                    .filter(|c| {
                        let drop = c.is_control() && !matches!(c, '\n' | '\r' | '\t');
                        removed |= drop;
                        !drop
                    })
                    .collect()
            })
            .collect();
        if removed {
            self.warn(format!(
                "control characters were removed from {what} ({tag})"
            ));
        }
        lines.join("\n")
    }

    /// One line of text: control characters removed (with a warning) as whitespace is, so that
    /// they never glue two words together; runs of whitespace made one space; trimmed.
    fn one_line(&mut self, raw: &str, what: &str) -> String {
        if raw.chars().any(char::is_control) {
            self.warn(format!("control characters were removed from {what}"));
        }
        raw.split(|c: char| c.is_whitespace() || c.is_control())
            .filter(|word| !word.is_empty())
            .collect::<Vec<_>>()
            .join(" ")
    }
}

/// One part of a field without the ISBD punctuation that ends it (see the module's
/// documentation).
fn strip_isbd(part: &str) -> String {
    let mut s = part.trim_end();
    while let Some(rest) = s.strip_suffix(['/', ':', ';', '=']) {
        s = rest.trim_end();
    }
    if let Some(rest) = s.strip_suffix(',') {
        s = rest;
    } else if let Some(rest) = s.strip_suffix('.')
        && !part_of_the_words(rest)
    {
        s = rest;
    }
    s.trim_end().to_owned()
}

/// Whether a period after `before` belongs to the words: it follows a single letter (an
/// initial, "U.S.A.") or another period (an ellipsis).
fn part_of_the_words(before: &str) -> bool {
    let mut back = before.chars().rev();
    match (back.next(), back.next()) {
        (Some('.'), _) => true,
        (Some(c), previous) if c.is_alphabetic() => previous.is_none_or(|p| !p.is_alphanumeric()),
        _ => false,
    }
}

/// The runs of exactly four ASCII digits in a date, as numbers.
fn four_digit_runs(date: &str) -> impl Iterator<Item = i32> + '_ {
    date.split(|c: char| !c.is_ascii_digit())
        .filter(|run| run.len() == 4)
        .filter_map(|run| run.parse().ok())
}

/// The year a date means: its first four-digit number from 0 to 2100 ("c2004." is 2004,
/// "[1998?]" 1998, "2001, c1999" 2001).
fn year_in(date: &str) -> Option<i32> {
    four_digit_runs(date).find(|y| (0..=2100).contains(y))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    type Field<'a> = (&'a str, char, char, &'a [(char, &'a str)]);

    fn record(control: &[(&str, &str)], fields: &[Field<'_>]) -> Record {
        Record {
            leader: "00000nam a2200000 i 4500".into(),
            control_fields: control
                .iter()
                .map(|(tag, value)| ControlField::new(tag, value))
                .collect(),
            data_fields: fields
                .iter()
                .map(|(tag, i1, i2, subfields)| DataField::new(tag, *i1, *i2, subfields))
                .collect(),
        }
    }

    /// A record with a title and these other fields.
    fn titled(fields: &[Field<'_>]) -> Record {
        let mut all: Vec<Field<'_>> = vec![("245", '0', '0', &[('a', "Signals")])];
        all.extend_from_slice(fields);
        record(&[], &all)
    }

    fn import(record: &Record) -> Imported {
        to_book(record).expect("imports")
    }

    #[test]
    fn an_isbn10_in_020_becomes_the_books_isbn13() {
        let got = import(&titled(&[("020", ' ', ' ', &[('a', "0306406152 (pbk.)")])]));
        assert_eq!(got.book.isbn, "9780306406157");
        assert!(got.warnings.is_empty(), "{:?}", got.warnings);
    }

    #[test]
    fn the_first_valid_isbn_of_several_is_kept_and_the_invalid_ones_are_named_in_warnings() {
        let got = import(&titled(&[
            ("020", ' ', ' ', &[('a', "0306406153 (pbk.)")]),
            ("020", ' ', ' ', &[('z', "0000000000"), ('q', "hardcover")]),
            ("020", ' ', ' ', &[('a', "978-0-306-40615-7 : £12.99")]),
            ("020", ' ', ' ', &[('a', "080442957X")]),
            ("020", ' ', ' ', &[('a', "(set)")]),
        ]));
        assert_eq!(got.book.isbn, "9780306406157");
        assert_eq!(
            got.warnings,
            [
                "the ISBN \"0306406153 (pbk.)\" (020 $a) was skipped: the ISBN-10's check digit \
                 is wrong: expected 2, found 3",
                "the ISBN \"(set)\" (020 $a) was skipped: there is no ISBN here",
            ]
        );
    }

    #[test]
    fn a_record_without_a_valid_isbn_is_imported_with_an_empty_one() {
        for fields in [&[][..], &[("020", ' ', ' ', &[('a', "12345")][..])][..]] {
            let got = import(&titled(fields));
            assert_eq!(got.book.isbn, "");
            assert_eq!(got.book.title, "Signals");
        }
    }

    #[test]
    fn isbd_punctuation_ends_no_title_author_publisher_or_subject() {
        for (raw, want) in [
            ("Signals /", "Signals"),
            ("Signals :", "Signals"),
            ("Signals ;", "Signals"),
            ("Signals =", "Signals"),
            ("Signals/", "Signals"),
            ("Signals.", "Signals"),
            ("Signals,", "Signals"),
            ("Signals. /", "Signals"),
            ("Signals..", "Signals.."),
            ("  Signals   of\tthe  sea : ", "Signals of the sea"),
            ("Smith, J.", "Smith, J."),
            ("Made in the U.S.A.", "Made in the U.S.A."),
            ("And then...", "And then..."),
            ("Acme Inc.", "Acme Inc"),
            ("Who?", "Who?"),
            ("Part 2.", "Part 2"),
            ("E = mc2", "E = mc2"),
            (" / ", ""),
        ] {
            assert_eq!(
                strip_isbd(&Reader::default().one_line(raw, "t")),
                want,
                "{raw:?}"
            );
        }
        let got = import(&record(
            &[],
            &[
                ("100", '1', ' ', &[('a', "Writer, Ann,"), ('d', "1950-")]),
                (
                    "245",
                    '1',
                    '0',
                    &[
                        ('a', "Signals :"),
                        ('b', "a history /"),
                        ('c', "Ann Writer."),
                    ],
                ),
                (
                    "264",
                    ' ',
                    '1',
                    &[('a', "London :"), ('b', "Acme Press,"), ('c', "2004.")],
                ),
                ("650", ' ', '0', &[('a', "Radio."), ('x', "History.")]),
            ],
        ));
        assert_eq!(got.book.title, "Signals a history");
        assert_eq!(got.book.authors, ["Writer, Ann"]);
        assert_eq!(got.book.publisher, "Acme Press");
        assert_eq!(got.book.year, Some(2004));
        assert_eq!(got.book.subjects, ["Radio"]);
    }

    #[test]
    fn the_title_is_245_a_b_n_p_in_record_order() {
        let got = import(&record(
            &[],
            &[
                (
                    "245",
                    '0',
                    '0',
                    &[
                        ('a', "Signals."),
                        ('n', "Part 2,"),
                        ('p', "Radio /"),
                        ('c', "by Ann Writer."),
                    ],
                ),
                ("245", '0', '0', &[('a', "A second 245")]),
            ],
        ));
        assert_eq!(got.book.title, "Signals Part 2 Radio");
    }

    #[test]
    fn a_record_without_a_title_is_rejected() {
        for r in [
            record(
                &[("001", "1")],
                &[("020", ' ', ' ', &[('a', "0306406152")])],
            ),
            record(&[], &[("245", '0', '0', &[('a', " / ")])]),
            record(&[], &[("245", '0', '0', &[('c', "Ann Writer.")])]),
        ] {
            assert_eq!(to_book(&r), Err(Rejected::NoTitle));
        }
        assert_eq!(
            Rejected::NoTitle.to_string(),
            "the record has no title (MARC field 245 $a), and a book needs one"
        );
    }

    #[test]
    fn authors_are_1xx_then_7xx_in_order_without_duplicates() {
        let got = import(&record(
            &[],
            &[
                ("700", '1', ' ', &[('a', "Second, Bea.")]),
                ("245", '1', '0', &[('a', "Signals")]),
                ("110", '2', ' ', &[('a', "Acme Society.")]),
                ("100", '1', ' ', &[('a', "Writer, Ann,")]),
                ("710", '2', ' ', &[('a', "Acme Society")]),
                ("700", '1', ' ', &[('a', "Writer, Ann.")]),
                ("700", '1', ' ', &[('a', "Third, C.")]),
            ],
        ));
        assert_eq!(
            got.book.authors,
            ["Acme Society", "Writer, Ann", "Second, Bea", "Third, C."]
        );
    }

    #[test]
    fn publication_264_is_preferred_to_260_and_260_to_a_copyright_date() {
        let cases: [(&[Field<'_>], &str, Option<i32>); 5] = [
            (
                &[
                    ("260", ' ', ' ', &[('b', "Old Press,"), ('c', "1990.")]),
                    ("264", ' ', '4', &[('c', "©1989")]),
                    ("264", ' ', '2', &[('b', "Distributor"), ('c', "1995")]),
                    ("264", ' ', '1', &[('b', "New Press,"), ('c', "[2004]")]),
                ],
                "New Press",
                Some(2004),
            ),
            (
                &[("260", ' ', ' ', &[('b', "Old Press,"), ('c', "c1990.")])],
                "Old Press",
                Some(1990),
            ),
            (
                &[
                    ("264", ' ', '4', &[('c', "©1989")]),
                    ("260", ' ', ' ', &[('b', "Old Press")]),
                ],
                "Old Press",
                Some(1989),
            ),
            (
                &[
                    ("264", ' ', '1', &[('b', "[s.n.]"), ('c', "[n.d.]")]),
                    ("260", ' ', ' ', &[('c', "1990")]),
                ],
                "[s.n.]",
                Some(1990),
            ),
            (
                &[("264", ' ', '3', &[('b', "Printer"), ('c', "2001")])],
                "",
                None,
            ),
        ];
        for (fields, publisher, year) in cases {
            let got = import(&titled(fields));
            assert_eq!(
                (got.book.publisher.as_str(), got.book.year),
                (publisher, year)
            );
        }
    }

    #[test]
    fn the_year_is_the_first_four_digit_number_up_to_2100() {
        for (date, want) in [
            ("c2004.", Some(2004)),
            ("[1998?]", Some(1998)),
            ("2001, c1999", Some(2001)),
            ("1990-1995.", Some(1990)),
            ("MMIV [i.e. 2004]", Some(2004)),
            ("9999 [i.e. 1999]", Some(1999)),
            ("0800", Some(800)),
            ("12345", None),
            ("[19--?]", None),
            ("2101", None),
        ] {
            assert_eq!(year_in(date), want, "{date:?}");
        }
    }

    #[test]
    fn a_date_without_a_plausible_year_leaves_the_year_empty_with_a_warning() {
        for (date, warning) in [
            (
                "c2204.",
                "the date \"c2204.\" has no year between 0 and 2100; the book has no year",
            ),
            (
                "[19--?]",
                "no year could be read from the date \"[19--?]\"; the book has no year",
            ),
        ] {
            let got = import(&titled(&[("264", ' ', '1', &[('c', date)])]));
            assert_eq!(got.book.year, None);
            assert_eq!(got.warnings, [warning]);
        }
    }

    #[test]
    fn subjects_come_from_650_651_655_in_order_without_duplicates() {
        let got = import(&titled(&[
            ("651", ' ', '0', &[('a', "Norway.")]),
            ("650", ' ', '0', &[('a', "Radio"), ('x', "History.")]),
            ("655", ' ', '7', &[('a', "Essays.")]),
            ("650", ' ', '4', &[('a', "Radio.")]),
            ("653", ' ', ' ', &[('a', "uncontrolled")]),
        ]));
        assert_eq!(got.book.subjects, ["Norway", "Radio", "Essays"]);
    }

    #[test]
    fn summaries_and_notes_are_their_fields_one_line_each() {
        let got = import(&titled(&[
            (
                "520",
                ' ',
                ' ',
                &[('a', "First paragraph."), ('b', "Expansion.")],
            ),
            ("500", ' ', ' ', &[('a', "Includes index.")]),
            (
                "520",
                ' ',
                ' ',
                &[('a', "Second  paragraph,\tkept as is. ")],
            ),
            ("500", ' ', ' ', &[('a', "Signed by the author.")]),
        ]));
        assert_eq!(
            got.book.summary,
            "First paragraph.\nSecond  paragraph,\tkept as is. "
        );
        assert_eq!(got.book.notes, "Includes index.\nSigned by the author.");
        assert!(got.warnings.is_empty());
        let nothing = import(&titled(&[]));
        assert_eq!(
            (nothing.book.summary.as_str(), nothing.book.notes.as_str()),
            ("", "")
        );
    }

    #[test]
    fn control_characters_are_removed_with_a_warning_and_do_not_reject_the_record() {
        let got = import(&record(
            &[],
            &[
                ("100", '1', ' ', &[('a', "Writer,\u{1b}[31m Ann")]),
                ("245", '1', '0', &[('a', "Signals\u{0} of\nthe\u{1f}sea")]),
                ("520", ' ', ' ', &[('a', "Line one.\nLine\u{7} two.")]),
            ],
        ));
        assert_eq!(got.book.title, "Signals of the sea");
        assert_eq!(got.book.authors, ["Writer, [31m Ann"]);
        assert_eq!(got.book.summary, "Line one.\nLine two.");
        assert_eq!(
            got.warnings,
            [
                "control characters were removed from the title",
                "control characters were removed from an author",
                "control characters were removed from the summary (520)",
            ]
        );
    }

    #[test]
    fn ids_are_deterministic_and_come_from_001_then_the_isbn_then_the_title() {
        let isbn = ("020", ' ', ' ', &[('a', "0306406152")][..]);
        let by_number = |org: &str, number: &str| {
            let control: Vec<(&str, &str)> = [("001", number), ("003", org)]
                .into_iter()
                .filter(|(_, v)| !v.is_empty())
                .collect();
            import(&record(&control, &[("245", '0', '0', &[('a', "T")]), isbn]))
                .book
                .id
        };
        let id = by_number("DLC", "12345");
        assert_eq!(id.get_version(), Some(uuid::Version::Sha1));
        assert_eq!(
            by_number("DLC", "12345"),
            id,
            "the same record gets the same id"
        );
        assert_eq!(
            by_number("DLC", " 12345 "),
            id,
            "control numbers are trimmed"
        );
        assert_ne!(by_number("DLC", "12346"), id);
        assert_ne!(by_number("OCoLC", "12345"), id);
        assert_ne!(by_number("", "12345"), id);

        let by_isbn = by_number("DLC", "");
        assert_eq!(by_isbn, by_number("", ""), "without 001, the ISBN decides");
        assert_eq!(
            import(&record(&[], &[("245", '0', '0', &[('a', "Other")]), isbn]))
                .book
                .id,
            by_isbn
        );
        assert_ne!(by_isbn, id);

        let by_title = |title: &str, year: &str| {
            import(&record(
                &[],
                &[
                    ("245", '0', '0', &[('a', title)]),
                    ("264", ' ', '1', &[('c', year)]),
                ],
            ))
            .book
            .id
        };
        let plain = by_title("Signals", "2004");
        assert_eq!(by_title("Signals", "2004"), plain);
        assert_ne!(by_title("Signals", "2005"), plain);
        assert_ne!(by_title("Signal", "2004"), plain);
        assert!(![id, by_isbn].contains(&plain));

        let r = record(
            &[("001", "12345"), ("003", "DLC")],
            &[("245", '0', '0', &[('a', "T")])],
        );
        assert_eq!(book_id(&r, ""), by_number("DLC", "12345"));
    }

    #[test]
    fn shelfmarks_own_control_number_is_the_books_id() {
        let own = Uuid::from_u128(42);
        let id = |org: &str, number: &str| {
            import(&record(
                &[("001", number), ("003", org)],
                &[("245", '0', '0', &[('a', "T")])],
            ))
            .book
            .id
        };
        assert_eq!(id("Shelfmark", &own.to_string()), own);
        assert_ne!(
            id("DLC", &own.to_string()),
            own,
            "another library's UUIDs are its own"
        );
        assert_ne!(id("Shelfmark", "not-a-uuid"), own);
    }

    fn book() -> Book {
        Book {
            id: Uuid::from_u128(7),
            isbn: "9780306406157".into(),
            title: "Signals : a history".into(),
            authors: vec!["Writer, Ann".into(), "Second, Bea".into()],
            publisher: "Acme Press".into(),
            year: Some(2004),
            subjects: vec!["Radio".into(), "Norway".into()],
            summary: "First.\n\nThird.".into(),
            notes: "Signed.".into(),
        }
    }

    #[test]
    fn an_exported_book_is_a_marc21_bibliographic_record_without_isbd_punctuation() {
        let r = from_book(&book());
        assert_eq!(r.leader.chars().count(), 24);
        assert_eq!(
            &r.leader[5..10],
            "nam a",
            "new language-material monograph in UTF-8"
        );
        assert_eq!(&r.leader[20..], "4500");
        assert_eq!(
            r.control("001"),
            Some("00000000-0000-0000-0000-000000000007")
        );
        assert_eq!(r.control("003"), Some("Shelfmark"));
        let shape: Vec<_> = r
            .data_fields
            .iter()
            .map(|f| {
                let subfields: Vec<_> = f
                    .subfields
                    .iter()
                    .map(|s| (s.code, s.value.as_str()))
                    .collect();
                (f.tag.as_str(), f.ind1, f.ind2, subfields)
            })
            .collect();
        assert_eq!(
            shape,
            [
                ("020", ' ', ' ', vec![('a', "9780306406157")]),
                ("100", '1', ' ', vec![('a', "Writer, Ann")]),
                ("245", '1', '0', vec![('a', "Signals : a history")]),
                ("264", ' ', '1', vec![('b', "Acme Press"), ('c', "2004")]),
                ("500", ' ', ' ', vec![('a', "Signed.")]),
                ("520", ' ', ' ', vec![('a', "First.")]),
                ("520", ' ', ' ', vec![('a', "")]),
                ("520", ' ', ' ', vec![('a', "Third.")]),
                ("650", ' ', '4', vec![('a', "Radio")]),
                ("650", ' ', '4', vec![('a', "Norway")]),
                ("700", '1', ' ', vec![('a', "Second, Bea")]),
            ]
        );
        let mut bare = book();
        (bare.isbn, bare.authors, bare.publisher, bare.year) =
            (String::new(), vec![], String::new(), None);
        (bare.subjects, bare.summary, bare.notes) = (vec![], String::new(), String::new());
        let r = from_book(&bare);
        let tags: Vec<_> = r
            .data_fields
            .iter()
            .map(|f| (f.tag.as_str(), f.ind1))
            .collect();
        assert_eq!(tags, [("245", '0')], "no 1XX: the title is its own entry");
        assert_eq!(to_book(&r).map(|i| i.book), Ok(bare));
    }

    /// A one-line value as `to_book` leaves it: words joined by single spaces or inner
    /// punctuation, ending in a letter or digit.
    fn phrase() -> impl Strategy<Value = String> {
        let separator = prop_oneof![
            Just(" "),
            Just(", "),
            Just(" : "),
            Just(" / "),
            Just(". "),
            Just(" = "),
            Just("-"),
        ];
        (
            "[\\p{L}\\p{N}]{1,8}",
            proptest::collection::vec((separator, "[\\p{L}\\p{N}]{1,8}"), 0..4),
        )
            .prop_map(|(first, rest)| {
                rest.into_iter().fold(first, |mut s, (sep, word)| {
                    s.push_str(sep);
                    s.push_str(&word);
                    s
                })
            })
    }

    fn distinct(max: usize) -> impl Strategy<Value = Vec<String>> {
        proptest::collection::vec(phrase(), 0..max).prop_map(|mut v| {
            let mut seen = Vec::new();
            v.retain(|x| {
                let new = !seen.contains(x);
                seen.push(x.clone());
                new
            });
            v
        })
    }

    fn text() -> impl Strategy<Value = String> {
        proptest::collection::vec("[^\\p{Cc}]{0,12}", 0..4).prop_map(|lines| lines.join("\n"))
    }

    fn valid_book() -> impl Strategy<Value = Book> {
        (
            any::<u128>(),
            prop_oneof![Just(String::new()), any::<u32>().prop_map(isbn::from_body)],
            phrase(),
            distinct(4),
            prop_oneof![Just(String::new()), phrase()],
            proptest::option::of(0..=2100i32),
            distinct(4),
            text(),
            text(),
        )
            .prop_map(
                |(id, isbn, title, authors, publisher, year, subjects, summary, notes)| Book {
                    id: Uuid::from_u128(id),
                    isbn,
                    title,
                    authors,
                    publisher,
                    year,
                    subjects,
                    summary,
                    notes,
                },
            )
    }

    proptest! {
        #[test]
        fn every_valid_book_comes_back_unchanged_from_export_and_import(b in valid_book()) {
            prop_assert_eq!(b.clone().validate(), Ok(()));
            let got = to_book(&from_book(&b));
            prop_assert_eq!(got, Ok(Imported { book: b, warnings: vec![] }));
        }
    }
}
