//! Ordered-set merge of list fields (`authors`, `subjects`).
//!
//! A list is not text: merging it line by line would make "mine added an author at the end,
//! theirs removed the last one" a conflict, though both can apply. So membership is merged as
//! a set (a removal on either side removes, an addition on either side adds) and order is
//! kept from the side that reordered, else from mine, with the other side's additions placed
//! after the item they follow there (after mine's own additions at the same place).
//!
//! The one conflict: an item one side removed while the other side added it at a new place
//! (moved it). Whether it should stay, and where, is the librarian's call.

use std::collections::HashSet;

use similar::{Algorithm, DiffOp};

/// A part of the merged list: settled items, or one item the sides disagree on.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum ListPiece {
    Items(Vec<String>),
    /// `item` was in the base; one side removed it, the other moved it.
    Conflict {
        item: String,
        in_mine: bool,
        in_theirs: bool,
    },
}

/// The merged list as pieces; a single `Items` piece (or none) when there is no conflict.
pub fn merge_list(base: &[String], mine: &[String], theirs: &[String]) -> Vec<ListPiece> {
    let (base, mine, theirs) = (dedup(base), dedup(mine), dedup(theirs));
    let in_base: HashSet<&str> = base.iter().copied().collect();
    let in_mine: HashSet<&str> = mine.iter().copied().collect();
    let in_theirs: HashSet<&str> = theirs.iter().copied().collect();
    let placed_mine = inserted(&base, &mine);
    let placed_theirs = inserted(&base, &theirs);
    let conflicted = |x: &str| {
        in_base.contains(x)
            && ((!in_mine.contains(x) && placed_theirs.contains(x))
                || (!in_theirs.contains(x) && placed_mine.contains(x)))
    };
    let kept = |x: &str| {
        conflicted(x)
            || if in_base.contains(x) {
                in_mine.contains(x) && in_theirs.contains(x)
            } else {
                in_mine.contains(x) || in_theirs.contains(x)
            }
    };
    let (skeleton, other) = if reordered(&base, &theirs) && !reordered(&base, &mine) {
        (&theirs, &mine)
    } else {
        (&mine, &theirs)
    };
    let mut merged: Vec<&str> = skeleton.iter().copied().filter(|x| kept(x)).collect();
    let mut previous: Option<&str> = None;
    for &x in other {
        if kept(x) && !merged.contains(&x) {
            let mut at = previous
                .and_then(|p| merged.iter().position(|m| *m == p))
                .map_or(0, |i| i + 1);
            // Both sides adding after the same item: the skeleton's additions come first.
            while at < merged.len()
                && !in_base.contains(merged[at])
                && skeleton.contains(&merged[at])
            {
                at += 1;
            }
            merged.insert(at, x);
        }
        if merged.contains(&x) {
            previous = Some(x);
        }
    }
    let mut pieces = Vec::new();
    let mut run = Vec::new();
    for x in merged {
        if conflicted(x) {
            if !run.is_empty() {
                pieces.push(ListPiece::Items(std::mem::take(&mut run)));
            }
            pieces.push(ListPiece::Conflict {
                item: x.to_owned(),
                in_mine: in_mine.contains(x),
                in_theirs: in_theirs.contains(x),
            });
        } else {
            run.push(x.to_owned());
        }
    }
    if !run.is_empty() {
        pieces.push(ListPiece::Items(run));
    }
    pieces
}

fn dedup(list: &[String]) -> Vec<&str> {
    let mut seen = HashSet::new();
    list.iter()
        .map(String::as_str)
        .filter(|x| seen.insert(*x))
        .collect()
}

/// Items the diff from `base` to `side` inserts: additions, and base items moved elsewhere.
fn inserted<'a>(base: &[&str], side: &[&'a str]) -> HashSet<&'a str> {
    let mut out = HashSet::new();
    for op in similar::capture_diff_slices(Algorithm::Myers, base, side) {
        if let DiffOp::Insert {
            new_index, new_len, ..
        }
        | DiffOp::Replace {
            new_index, new_len, ..
        } = op
        {
            out.extend(&side[new_index..new_index + new_len]);
        }
    }
    out
}

/// Whether `side` changed the relative order of the items it shares with `base`.
fn reordered(base: &[&str], side: &[&str]) -> bool {
    let in_side: HashSet<&str> = side.iter().copied().collect();
    let in_base: HashSet<&str> = base.iter().copied().collect();
    base.iter()
        .filter(|x| in_side.contains(*x))
        .ne(side.iter().filter(|x| in_base.contains(*x)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn list(items: &str) -> Vec<String> {
        items.split_whitespace().map(str::to_owned).collect()
    }

    fn clean(base: &str, mine: &str, theirs: &str) -> Vec<String> {
        match merge_list(&list(base), &list(mine), &list(theirs)).as_slice() {
            [] => Vec::new(),
            [ListPiece::Items(items)] => items.clone(),
            other => panic!("expected a clean merge, got {other:?}"),
        }
    }

    /// (base, mine, theirs, merged): the spec of the clean cases.
    const CLEAN: &[(&str, &str, &str, &str)] = &[
        ("A B", "A B C", "A", "A C"),
        ("A B", "A B", "A B C", "A B C"),
        ("A B", "A B C", "A B D", "A B C D"),
        ("A B", "X A B", "A B", "X A B"),
        ("A B", "A B", "Y A B", "Y A B"),
        ("A B", "B A", "A B C", "B C A"),
        ("A B", "A B C", "B A", "B C A"),
        ("A B C", "A X B C", "A Y B C", "A X Y B C"),
        ("A B", "A", "A", "A"),
        ("", "A", "A", "A"),
        ("A", "", "A B", "B"),
    ];

    #[test]
    fn list_merges_follow_the_spec_table() {
        for (base, mine, theirs, merged) in CLEAN {
            assert_eq!(
                clean(base, mine, theirs),
                list(merged),
                "base {base:?}, mine {mine:?}, theirs {theirs:?}"
            );
        }
    }

    #[test]
    fn an_item_moved_on_one_side_and_removed_on_the_other_is_a_conflict() {
        let pieces = merge_list(&list("A B C"), &list("C A B"), &list("A B"));
        assert_eq!(
            pieces,
            [
                ListPiece::Conflict {
                    item: "C".into(),
                    in_mine: true,
                    in_theirs: false
                },
                ListPiece::Items(list("A B")),
            ]
        );
    }
}
