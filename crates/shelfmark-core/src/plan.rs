//! The push planner: which waiting edits may travel to the server at the same time.
//!
//! Edits of different records are independent and are pushed concurrently, a few at a time,
//! except where one refers to a record another edit in flight creates (a new copy of a book
//! created in the same session must not reach the server before its book), or where two
//! change the state of the same copy on the server (a check-in and the next check-out of one
//! copy, made at the desk in that order, must reach the server in that order). Pure: the engine
//! hands in what each edit writes and refers to, and gets back the order of the waves.

use uuid::Uuid;

/// One waiting edit as the planner sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlannedEdit {
    /// The record the edit writes.
    pub record: Uuid,
    /// The records it refers to (a copy's book, a hold's patron and book...).
    pub refers_to: Vec<Uuid>,
    /// The records whose state it changes on the server besides its own (a loan's copy).
    pub claims: Vec<Uuid>,
}

/// Splits edits, kept in their order, into waves of at most `width` that may be pushed
/// concurrently: a wave ends before an edit that refers to a record written in it.
pub fn waves(edits: &[PlannedEdit], width: usize) -> Vec<std::ops::Range<usize>> {
    let width = width.max(1);
    let mut out = Vec::new();
    let mut start = 0;
    for (i, edit) in edits.iter().enumerate() {
        let wave = &edits[start..i];
        let depends = wave.iter().any(|w| {
            edit.refers_to.contains(&w.record)
                || w.record == edit.record
                || edit.claims.iter().any(|c| w.claims.contains(c))
        });
        if i > start && (depends || i - start == width) {
            out.push(start..i);
            start = i;
        }
    }
    if start < edits.len() {
        out.push(start..edits.len());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn edit(record: u128, refers: &[u128]) -> PlannedEdit {
        PlannedEdit {
            record: Uuid::from_u128(record),
            refers_to: refers.iter().map(|r| Uuid::from_u128(*r)).collect(),
            claims: Vec::new(),
        }
    }

    #[test]
    fn two_edits_of_one_copys_state_go_in_the_order_they_were_made() {
        // Loans 1 and 3 of copy 9 (a check-in, then the next check-out), loan 2 of copy 8.
        let loan = |record: u128, copy: u128| PlannedEdit {
            claims: vec![Uuid::from_u128(copy)],
            ..edit(record, &[copy])
        };
        let edits = [loan(1, 9), loan(2, 8), loan(3, 9)];
        assert_eq!(waves(&edits, 8), [0..2, 2..3]);
    }

    #[test]
    fn independent_edits_go_in_waves_of_the_given_width() {
        let edits: Vec<_> = (1..=7).map(|n| edit(n, &[])).collect();
        assert_eq!(waves(&edits, 3), [0..3, 3..6, 6..7]);
    }

    #[test]
    fn an_edit_waits_for_the_wave_that_creates_what_it_refers_to() {
        // A new book, then a copy of it, then an unrelated edit.
        let edits = [edit(1, &[]), edit(2, &[1]), edit(3, &[])];
        assert_eq!(waves(&edits, 8), [0..1, 1..3]);
    }

    #[test]
    fn no_edits_no_waves_and_a_zero_width_still_moves() {
        assert!(waves(&[], 4).is_empty());
        assert_eq!(waves(&[edit(1, &[]), edit(2, &[])], 0), [0..1, 1..2]);
    }
}
