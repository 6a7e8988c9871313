//! The three-way merge as a spec: tables of (base, mine, theirs, expected) for text and
//! records, the settling of conflicts, and the properties every merge must keep.

use proptest::prelude::*;
use shelfmark_core::merge::{Choice, MergeSession, Settled};
use shelfmark_core::merge::{
    ConflictId, ConflictLocation, ConflictStyle, FieldValue, LineEnding, MergeError, MergeLevel,
    Resolution, TextChunk, TextMergeOptions, WordTag, merge_records, merge_text,
};
use shelfmark_core::{Book, Copy, CopyStatus, Patron, RecordType};
use uuid::Uuid;

// ---------------------------------------------------------------------------------------------
// Text

#[derive(Debug)]
enum Expect {
    Clean(&'static str),
    /// (mine, theirs) of each conflict, in order.
    Conflicts(&'static [(&'static str, &'static str)]),
}

use Expect::{Clean, Conflicts};

/// git merge-file's default behaviour, case by case (each was checked against git 2.47).
const TEXT: &[(&str, &str, &str, &str, Expect)] = &[
    (
        "one side changed: take it",
        "a\nb\nc\n",
        "a\nB\nc\n",
        "a\nb\nc\n",
        Clean("a\nB\nc\n"),
    ),
    (
        "the other side changed: take it",
        "a\nb\nc\n",
        "a\nb\nc\n",
        "a\nb\nC\n",
        Clean("a\nb\nC\n"),
    ),
    (
        "edits one unchanged line apart: both apply",
        "a\nb\nc\n",
        "A\nb\nc\n",
        "a\nb\nC\n",
        Clean("A\nb\nC\n"),
    ),
    (
        "edits on adjacent lines touch: a conflict",
        "a\nb\nc\nd\n",
        "a\nB\nc\nd\n",
        "a\nb\nC\nd\n",
        Conflicts(&[("B\nc\n", "b\nC\n")]),
    ),
    (
        "the same change on both sides is clean",
        "a\nb\nc\n",
        "a\nX\nc\n",
        "a\nX\nc\n",
        Clean("a\nX\nc\n"),
    ),
    (
        "different changes of one line: a conflict",
        "a\nb\nc\n",
        "a\nmine\nc\n",
        "a\ntheirs\nc\n",
        Conflicts(&[("mine\n", "theirs\n")]),
    ),
    (
        "both insert at the same place: a conflict",
        "a\nb\n",
        "a\nmine\nb\n",
        "a\ntheirs\nb\n",
        Conflicts(&[("mine\n", "theirs\n")]),
    ),
    (
        "both append at the end: a conflict",
        "a\n",
        "a\nmine\n",
        "a\ntheirs\n",
        Conflicts(&[("mine\n", "theirs\n")]),
    ),
    (
        "refinement keeps only the lines the sides disagree on",
        "a\nb\nc\nd\ne\nf\ng\n",
        "a\nX\nc\nd\ne\nY\ng\n",
        "a\nX\nc\nd\ne\nZ\ng\n",
        Conflicts(&[("Y\n", "Z\n")]),
    ),
    (
        "refined conflicts three lines apart are joined",
        "0\n1\n2\n3\n4\n5\n6\n",
        "0\nA\n2\n3\n4\nB\n6\n",
        "0\na\n2\n3\n4\nb\n6\n",
        Conflicts(&[("A\n2\n3\n4\nB\n", "a\n2\n3\n4\nb\n")]),
    ),
    (
        "a deletion against an edit of the same line: a conflict",
        "a\nb\nc\n",
        "a\nc\n",
        "a\nB\nc\n",
        Conflicts(&[("", "B\n")]),
    ),
    (
        "a dropped final newline is a change of the last line",
        "a\nb\nc\n",
        "a\nb\nc",
        "A\nb\nc\n",
        Clean("A\nb\nc"),
    ),
    (
        "so it touches an edit of the line above",
        "a\nb\n",
        "a\nb",
        "A\nb\n",
        Conflicts(&[("a\nb", "A\nb\n")]),
    ),
    (
        "an empty base with one side filled takes that side",
        "",
        "",
        "new\n",
        Clean("new\n"),
    ),
    (
        "CRLF lines merge like any other",
        "a\r\nb\r\nc\r\n",
        "A\r\nb\r\nc\r\n",
        "a\r\nb\r\nC\r\n",
        Clean("A\r\nb\r\nC\r\n"),
    ),
];

fn conflicts_of(base: &str, mine: &str, theirs: &str) -> Vec<(String, String)> {
    merge_text(base, mine, theirs, TextMergeOptions::default())
        .conflicts()
        .map(|c| (c.mine.to_owned(), c.theirs.to_owned()))
        .collect()
}

#[test]
fn text_merges_follow_the_spec_table() {
    for (what, base, mine, theirs, expect) in TEXT {
        let merge = merge_text(base, mine, theirs, TextMergeOptions::default());
        match expect {
            Clean(text) => assert_eq!(merge.clean_text().as_deref(), Some(*text), "{what}"),
            Conflicts(expected) => {
                let got = conflicts_of(base, mine, theirs);
                let expected: Vec<_> = expected
                    .iter()
                    .map(|(m, t)| (m.to_string(), t.to_string()))
                    .collect();
                assert_eq!(got, expected, "{what}");
            }
        }
    }
}

#[test]
fn diff3_keeps_the_exact_base_of_each_conflict() {
    let options = TextMergeOptions {
        style: ConflictStyle::Diff3,
        ..Default::default()
    };
    let merge = merge_text("a\nb\nc\n", "a\nX\nc\n", "a\nY\nc\n", options);
    let conflict = merge.conflicts().next().expect("a conflict");
    assert_eq!(
        (conflict.base, conflict.mine, conflict.theirs),
        ("b\n", "X\n", "Y\n")
    );
    assert_eq!(conflict.base_lines, 1..2);
}

#[test]
fn zdiff3_moves_common_lines_out_of_the_conflict_but_keeps_the_base() {
    let options = TextMergeOptions {
        style: ConflictStyle::ZealousDiff3,
        ..Default::default()
    };
    let merge = merge_text("a\nb\nc\n", "a\nS\nX\nc\n", "a\nS\nY\nc\n", options);
    let chunks = merge.chunks();
    assert_eq!(chunks[0], TextChunk::Resolved("a\nS\n"));
    let conflict = merge.conflicts().next().expect("a conflict");
    assert_eq!(
        (conflict.base, conflict.mine, conflict.theirs),
        ("b\n", "X\n", "Y\n")
    );
}

#[test]
fn minimal_level_calls_even_identical_changes_conflicts() {
    let options = TextMergeOptions {
        level: MergeLevel::Minimal,
        ..Default::default()
    };
    let merge = merge_text("a\nb\nc\n", "a\nX\nc\n", "a\nX\nc\n", options);
    assert_eq!(merge.conflict_count(), 1);
}

#[test]
fn conflict_markers_use_crlf_when_both_sides_and_the_base_do() {
    let merge = merge_text(
        "a\r\nb\r\n",
        "a\r\nmine\r\n",
        "a\r\ntheirs\r\n",
        TextMergeOptions::default(),
    );
    let conflict = merge.conflicts().next().expect("a conflict");
    assert_eq!(conflict.line_ending, LineEnding::CrLf);
    let lf = merge_text(
        "a\nb\n",
        "a\nmine\n",
        "a\ntheirs\n",
        TextMergeOptions::default(),
    );
    assert_eq!(
        lf.conflicts().next().expect("a conflict").line_ending,
        LineEnding::Lf
    );
}

// ---------------------------------------------------------------------------------------------
// Records

fn book() -> Book {
    Book {
        id: Uuid::nil(),
        isbn: "9780306406157".into(),
        title: "Signals".into(),
        authors: vec!["Ada".into(), "Brian".into()],
        publisher: "Plenum".into(),
        year: Some(1999),
        subjects: vec!["radio".into()],
        summary: "Line one.\nLine two.\nLine three.\nLine four.\n".into(),
        notes: String::new(),
    }
}

type Edit = fn(&mut Book);

/// (what, mine's edit, theirs' edit, expected merged book, fields left in conflict).
const BOOKS: &[(&str, Edit, Edit, Edit, &[&str])] = &[
    (
        "a field changed on one side takes that side",
        |b| b.title = "Signals and Noise".into(),
        |_| {},
        |b| b.title = "Signals and Noise".into(),
        &[],
    ),
    (
        "different fields changed on each side both apply",
        |b| b.title = "Signals and Noise".into(),
        |b| b.year = Some(2001),
        |b| {
            b.title = "Signals and Noise".into();
            b.year = Some(2001);
        },
        &[],
    ),
    (
        "the same change on both sides is clean",
        |b| b.publisher = "Springer".into(),
        |b| b.publisher = "Springer".into(),
        |b| b.publisher = "Springer".into(),
        &[],
    ),
    (
        "a single value changed differently on both sides is a conflict",
        |b| b.title = "Signals!".into(),
        |b| b.title = "Noise".into(),
        |_| {},
        &["title"],
    ),
    (
        "summary edits in different lines both apply",
        |b| b.summary = "Line ONE.\nLine two.\nLine three.\nLine four.\n".into(),
        |b| b.summary = "Line one.\nLine two.\nLine three.\nLine FOUR.\n".into(),
        |b| b.summary = "Line ONE.\nLine two.\nLine three.\nLine FOUR.\n".into(),
        &[],
    ),
    (
        "summary edits of the same line are a conflict",
        |b| b.summary = "Line 1.\nLine two.\nLine three.\nLine four.\n".into(),
        |b| b.summary = "Line uno.\nLine two.\nLine three.\nLine four.\n".into(),
        |_| {},
        &["summary"],
    ),
    (
        "an author added on one side and another removed on the other: both apply",
        |b| b.authors.push("Carol".into()),
        |b| b.authors.retain(|a| a != "Ada"),
        |b| b.authors = vec!["Brian".into(), "Carol".into()],
        &[],
    ),
    (
        "subjects added on both sides are all kept",
        |b| b.subjects.push("physics".into()),
        |b| b.subjects.push("history".into()),
        |b| b.subjects = vec!["radio".into(), "physics".into(), "history".into()],
        &[],
    ),
    (
        "an author moved on one side and removed on the other is a conflict",
        |b| b.authors = vec!["Brian".into(), "Ada".into()],
        |b| b.authors = vec!["Ada".into()],
        |_| {},
        &["authors"],
    ),
];

#[test]
fn book_merges_follow_the_spec_table() {
    for (what, edit_mine, edit_theirs, expect, conflicted) in BOOKS {
        let base = book();
        let (mut mine, mut theirs, mut expected) = (book(), book(), book());
        edit_mine(&mut mine);
        edit_theirs(&mut theirs);
        expect(&mut expected);
        let state = merge_records(&base, &mine, &theirs).expect("same record");
        let fields: Vec<_> = state.conflicts().map(|c| c.id.field).collect();
        assert_eq!(&fields, conflicted, "{what}");
        if conflicted.is_empty() {
            assert_eq!(state.finish(), Ok(expected), "{what}");
        }
    }
}

#[test]
fn each_overlapping_hunk_of_a_summary_is_its_own_conflict() {
    let base = book();
    let (mut mine, mut theirs) = (book(), book());
    mine.summary = "Line 1.\nLine two.\nLine three.\nLine 4.\n".into();
    theirs.summary = "Line I.\nLine two.\nLine three.\nLine IV.\n".into();
    let state = merge_records(&base, &mine, &theirs).expect("same record");
    let conflicts: Vec<_> = state.conflicts().collect();
    assert_eq!(conflicts.len(), 2);
    assert_eq!(conflicts[0].mine, FieldValue::Lines("Line 1.\n".into()));
    assert_eq!(conflicts[0].theirs, FieldValue::Lines("Line I.\n".into()));
    assert_eq!(conflicts[0].base, FieldValue::Lines("Line one.\n".into()));
    assert!(matches!(
        conflicts[1].location,
        ConflictLocation::Hunk { ref base_lines, .. } if *base_lines == (3..4)
    ));
    // The highlights name the changed word, not the whole line.
    let added: Vec<_> = conflicts[0]
        .mine_words
        .iter()
        .filter(|w| w.tag == WordTag::Added)
        .map(|w| w.text.as_str())
        .collect();
    assert_eq!(added, ["1."]);
}

#[test]
fn settling_every_conflict_gives_the_final_record_and_earlier_states_stay_usable() {
    let base = book();
    let (mut mine, mut theirs) = (book(), book());
    mine.title = "Mine".into();
    theirs.title = "Theirs".into();
    mine.summary = "Line 1.\nLine two.\nLine three.\nLine 4.\n".into();
    theirs.summary = "Line I.\nLine two.\nLine three.\nLine IV.\n".into();
    let start = merge_records(&base, &mine, &theirs).expect("same record");
    let ids: Vec<ConflictId> = start.conflicts().map(|c| c.id).collect();
    assert_eq!(ids.len(), 3);
    assert_eq!(start.finish(), Err(MergeError::Unresolved(3)));

    let s1 = start.settle(ids[0], Resolution::Theirs).expect("open");
    let s2 = s1.settle(ids[1], Resolution::MineThenTheirs).expect("open");
    let s3 = s2
        .settle(
            ids[2],
            Resolution::Edited(FieldValue::Lines("Line 4/IV.".into())),
        )
        .expect("open");
    let done = s3.finish().expect("all settled");
    assert_eq!(done.title, "Theirs");
    assert_eq!(
        done.summary,
        "Line 1.\nLine I.\nLine two.\nLine three.\nLine 4/IV."
    );
    // Undo is going back to an earlier value.
    assert_eq!(s1.conflicts().count(), 2);
    assert_eq!(start.conflicts().count(), 3);
    assert_eq!(s1.merged().title, "Theirs");
    // A settled conflict cannot be settled again.
    assert_eq!(
        s1.settle(ids[0], Resolution::Mine),
        Err(MergeError::NoSuchConflict(ids[0]))
    );
}

#[test]
fn a_hand_edit_of_the_wrong_kind_and_keeping_both_titles_are_refused() {
    let base = book();
    let (mut mine, mut theirs) = (book(), book());
    mine.title = "Mine".into();
    theirs.title = "Theirs".into();
    let state = merge_records(&base, &mine, &theirs).expect("same record");
    let id = state.conflicts().next().expect("a conflict").id;
    assert!(matches!(
        state.settle(id, Resolution::Edited(FieldValue::Year(None))),
        Err(MergeError::WrongKind { .. })
    ));
    assert!(matches!(
        state.settle(id, Resolution::MineThenTheirs),
        Err(MergeError::CannotCombine { .. })
    ));
    let edited = state
        .settle(id, Resolution::Edited(FieldValue::Text("Both".into())))
        .expect("right kind");
    assert_eq!(edited.finish().expect("settled").title, "Both");
}

#[test]
fn copies_and_patrons_merge_field_by_field() {
    let copy = Copy {
        id: Uuid::nil(),
        book_id: Uuid::nil(),
        barcode: "B1".into(),
        branch: "North".into(),
        call_number: "621.38".into(),
        status: CopyStatus::Available,
    };
    let mine = Copy {
        call_number: "621.384".into(),
        ..copy.clone()
    };
    let theirs = Copy {
        status: CopyStatus::OnLoan,
        ..copy.clone()
    };
    let merged = merge_records(&copy, &mine, &theirs)
        .and_then(|s| s.finish())
        .expect("clean");
    assert_eq!(
        (merged.call_number.as_str(), merged.status),
        ("621.384", CopyStatus::OnLoan)
    );

    let patron = Patron {
        id: Uuid::nil(),
        name: "Ann".into(),
        email: "ann@example.org".into(),
        premium: false,
        branch: "North".into(),
        card: "20000001".into(),
        notes: String::new(),
    };
    let mine = Patron {
        premium: true,
        ..patron.clone()
    };
    let theirs = Patron {
        branch: "South".into(),
        ..patron.clone()
    };
    let state = merge_records(&patron, &mine, &theirs).expect("same record");
    let merged = state.finish().expect("clean");
    assert!(merged.premium && merged.branch == "South");
}

#[test]
fn versions_of_different_records_are_refused() {
    let base = book();
    let mine = Book {
        id: Uuid::from_u128(1),
        ..book()
    };
    assert!(matches!(
        merge_records(&base, &mine, &book()),
        Err(MergeError::DifferentRecords { .. })
    ));
}

#[test]
fn word_changes_of_each_side_are_reported_for_changed_text_fields() {
    let base = book();
    let mut mine = book();
    mine.title = "Signals and Noise".into();
    let state = merge_records(&base, &mine, &book()).expect("same record");
    let title = state
        .changes()
        .iter()
        .find(|c| c.field == "title")
        .expect("title changed");
    assert!(
        title
            .mine
            .iter()
            .any(|w| w.tag == WordTag::Added && w.text.contains("Noise"))
    );
    assert!(title.theirs.iter().all(|w| w.tag == WordTag::Same));
}

// ---------------------------------------------------------------------------------------------
// Properties

/// Texts over a small alphabet of lines, so that edits collide and lines repeat.
fn text() -> impl Strategy<Value = String> {
    prop::collection::vec(
        prop::sample::select(vec!["a\n", "b\n", "c\n", "d\n", "e\n"]),
        0..12,
    )
    .prop_map(|lines| lines.concat())
}

fn clean(base: &str, mine: &str, theirs: &str) -> Option<String> {
    merge_text(base, mine, theirs, TextMergeOptions::default()).clean_text()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn merging_with_an_unchanged_theirs_gives_mine(base in text(), x in text()) {
        prop_assert_eq!(clean(&base, &x, &base), Some(x));
    }

    #[test]
    fn merging_with_an_unchanged_mine_gives_theirs(base in text(), y in text()) {
        prop_assert_eq!(clean(&base, &base, &y), Some(y));
    }

    #[test]
    fn merging_the_same_edit_twice_gives_it(base in text(), x in text()) {
        prop_assert_eq!(clean(&base, &x, &x), Some(x));
    }

    #[test]
    fn edits_in_disjoint_regions_merge_cleanly_and_keep_both(
        head in text(), tail in text(),
        head_edit in text(), tail_edit in text(),
    ) {
        // Unique separator lines keep the two regions apart.
        let sep = "separator one\nseparator two\n";
        let base = format!("{head}{sep}{tail}");
        let mine = format!("{head_edit}{sep}{tail}");
        let theirs = format!("{head}{sep}{tail_edit}");
        prop_assert_eq!(clean(&base, &mine, &theirs), Some(format!("{head_edit}{sep}{tail_edit}")));
    }

    #[test]
    fn the_chunks_of_a_merge_spell_mine_when_theirs_is_unchanged_in_them(
        base in text(), mine in text(), theirs in text(),
    ) {
        // Taking mine for every conflict never loses text outside the conflicts: the output
        // is made of the inputs' own lines.
        let merge = merge_text(&base, &mine, &theirs, TextMergeOptions::default());
        for chunk in merge.chunks() {
            if let TextChunk::Conflict(c) = chunk {
                prop_assert_eq!(&mine[char_range(&mine, c.mine_lines.clone())], c.mine);
            }
        }
    }

    #[test]
    fn list_fields_keep_every_addition_and_drop_every_removal(
        extra_mine in "[p-r]", extra_theirs in "[s-u]", drop in 0usize..3,
    ) {
        let base = book();
        let (mut mine, mut theirs) = (book(), book());
        mine.subjects = vec!["radio".into(), "x".into(), "y".into()];
        let base = Book { subjects: mine.subjects.clone(), ..base };
        mine.subjects.push(extra_mine.clone());
        theirs.subjects = base.subjects.clone();
        theirs.subjects.remove(drop);
        theirs.subjects.push(extra_theirs.clone());
        let merged = merge_records(&base, &mine, &theirs).and_then(|s| s.finish());
        let merged = merged.expect("clean");
        let dropped = &base.subjects[drop];
        prop_assert!(!merged.subjects.contains(dropped));
        prop_assert!(merged.subjects.contains(&extra_mine));
        prop_assert!(merged.subjects.contains(&extra_theirs));
    }
}

/// A book's JSON with `summary` and `notes`.
fn book_json(summary: &str, notes: &str) -> serde_json::Value {
    serde_json::to_value(Book {
        summary: summary.into(),
        notes: notes.into(),
        ..book()
    })
    .expect("a book serializes")
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    #[test]
    fn a_session_with_an_unchanged_theirs_finishes_as_mine(
        base in text(), x in text(), notes in text(),
    ) {
        let (base, mine) = (book_json(&base, ""), book_json(&x, &notes));
        let session = MergeSession::new(RecordType::Book, &base, &mine, &base).expect("merges");
        prop_assert_eq!(session.finish().expect("clean"), mine);
    }

    #[test]
    fn taking_mine_for_every_open_conflict_applies_every_choice_and_finishes(
        base in text(), mine in text(), theirs in text(),
    ) {
        let (base, mine, theirs) =
            (book_json(&base, ""), book_json(&mine, ""), book_json(&theirs, ""));
        let session = MergeSession::new(RecordType::Book, &base, &mine, &theirs).expect("merges");
        let choices: Vec<Settled> = session
            .conflicts()
            .iter()
            .map(|c| Settled { key: c.key.clone(), choice: Choice::Mine })
            .collect();
        let settled = MergeSession::replay(
            RecordType::Book, Some(&base), Some(&mine), Some(&theirs), &choices,
        )
        .expect("merges");
        prop_assert_eq!(settled.applied(), &choices[..]);
        prop_assert!(settled.dropped().is_empty());
        prop_assert!(settled.is_resolved());
        // Replayed onto the same theirs, nothing changes.
        prop_assert_eq!(settled.onto(&theirs).expect("merges"), settled);
    }
}

/// The byte range of lines `lines` of `text`.
fn char_range(text: &str, lines: std::ops::Range<usize>) -> std::ops::Range<usize> {
    let starts: Vec<usize> = std::iter::once(0)
        .chain(text.match_indices('\n').map(|(i, _)| i + 1))
        .chain(std::iter::once(text.len()))
        .collect();
    let at = |i: usize| starts.get(i).copied().unwrap_or(text.len()).min(text.len());
    at(lines.start)..at(lines.end)
}
