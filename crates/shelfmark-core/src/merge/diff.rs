//! Line tables and the two-way line diff under the three-way merge.
//!
//! This exists so that the merge sees the same edits `git merge-file` sees. The diff itself is
//! `similar`'s Myers on interned line ids (so comparing two lines is comparing two integers);
//! what we add is git's post-processing, `xdl_change_compact`: every group of changed lines is
//! slid as far down as the surrounding identical lines allow, then back up to line up with a
//! change in the other file if it can. Two minimal diffs that differ only in where an
//! ambiguous insertion sits come out identical after this, which is what makes the merge's
//! conflicts land where git's do.

use std::ops::Range;

use rustc_hash::FxHashMap;
use similar::{Algorithm, DiffOp};

/// One input split into lines (each keeps its `\n` or `\r\n`; the last may have none), with
/// every line replaced by an id shared across all the inputs of one merge.
#[derive(Debug)]
pub(crate) struct Lines<'a> {
    text: &'a str,
    /// Byte offset of each line's start, plus one final entry: `text.len()`.
    starts: Vec<usize>,
    pub(crate) ids: Vec<u32>,
}

impl<'a> Lines<'a> {
    pub(crate) fn len(&self) -> usize {
        self.ids.len()
    }

    /// The text of lines `range`, borrowed from the input.
    pub(crate) fn slice(&self, range: Range<usize>) -> &'a str {
        &self.text[self.starts[range.start]..self.starts[range.end]]
    }

    pub(crate) fn line(&self, index: usize) -> &'a str {
        self.slice(index..index + 1)
    }
}

/// Gives equal lines equal ids, so diffs compare integers.
#[derive(Debug, Default)]
pub(crate) struct Interner<'a> {
    ids: FxHashMap<&'a str, u32>,
    /// For each id, the index of its first line in the first text split (`u32::MAX` if none).
    first_line: Vec<u32>,
}

impl<'a> Interner<'a> {
    pub(crate) fn with_capacity(capacity: usize) -> Self {
        Interner {
            ids: FxHashMap::with_capacity_and_hasher(capacity, Default::default()),
            first_line: Vec::with_capacity(capacity),
        }
    }

    /// The id of `line`; `index` is its line number when it is a line of the base.
    fn intern(&mut self, line: &'a str, index: Option<usize>) -> u32 {
        let next = u32::try_from(self.ids.len()).unwrap_or(u32::MAX);
        let id = *self.ids.entry(line).or_insert(next);
        if id == next {
            let first = index.and_then(|i| u32::try_from(i).ok());
            self.first_line.push(first.unwrap_or(u32::MAX));
        }
        id
    }

    /// Splits the first text (the base): every line is looked up.
    pub(crate) fn split(&mut self, text: &'a str) -> Lines<'a> {
        self.split_with(text, None)
    }

    /// Splits a text derived from `reference` (the base). Most of its lines equal the
    /// reference's line at the same offset, so the line there is compared first and the hash
    /// table is only consulted where the texts differ (or realign after an edit).
    pub(crate) fn split_against(&mut self, text: &'a str, reference: &Lines<'a>) -> Lines<'a> {
        self.split_with(text, Some(reference))
    }

    fn split_with(&mut self, text: &'a str, reference: Option<&Lines<'a>>) -> Lines<'a> {
        let estimate = text.len() / 32 + 1;
        let mut starts = Vec::with_capacity(estimate + 1);
        let mut ids = Vec::with_capacity(estimate);
        let mut offset = 0;
        // Line `j` of `text` is expected to be line `j + shift` of the reference.
        let mut shift: isize = 0;
        let ends = memchr::memchr_iter(b'\n', text.as_bytes())
            .map(|i| i + 1)
            .chain((!text.is_empty() && !text.ends_with('\n')).then_some(text.len()));
        for (j, end) in ends.enumerate() {
            // Line boundaries sit just after a `\n`, always a char boundary.
            let line = &text[offset..end];
            starts.push(offset);
            offset = end;
            let aligned = reference.and_then(|r| {
                let k = usize::try_from(j as isize + shift).ok()?;
                (k < r.len() && r.line(k) == line).then(|| r.ids[k])
            });
            let id = match aligned {
                Some(id) => id,
                None => {
                    let id = self.intern(line, reference.is_none().then_some(j));
                    match self.first_line.get(id as usize) {
                        Some(&first) if reference.is_some() && first != u32::MAX => {
                            shift = first as isize - j as isize;
                        }
                        _ => {}
                    }
                    id
                }
            };
            ids.push(id);
        }
        starts.push(offset);
        Lines { text, starts, ids }
    }
}

/// One hunk of a two-way diff in git's terms: `chg1` lines of the old file at `i1` became
/// `chg2` lines of the new file at `i2`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Change {
    pub(crate) i1: usize,
    pub(crate) chg1: usize,
    pub(crate) i2: usize,
    pub(crate) chg2: usize,
}

/// The edit script from `old` to `new`, compacted as git compacts it.
pub(crate) fn diff(old: &[u32], new: &[u32]) -> Vec<Change> {
    // The common prefix and suffix cannot hold a change; skipping them keeps Myers small.
    let prefix = old.iter().zip(new).take_while(|(a, b)| a == b).count();
    let suffix = old[prefix..]
        .iter()
        .rev()
        .zip(new[prefix..].iter().rev())
        .take_while(|(a, b)| a == b)
        .count();
    if prefix == old.len() && prefix == new.len() {
        return Vec::new();
    }
    let mut f1 = Marks::new(old);
    let mut f2 = Marks::new(new);
    let (old_mid, new_mid) = (prefix..old.len() - suffix, prefix..new.len() - suffix);
    // As git's `xdl_cleanup_records`: a line with no equal on the other side cannot be part
    // of any common subsequence, so it is changed, and Myers never sees it. Edited and
    // inserted lines are mostly such lines, so what is left for Myers is nearly identical and
    // cheap to diff.
    let max_id = old[old_mid.clone()]
        .iter()
        .chain(&new[new_mid.clone()])
        .copied()
        .max()
        .unwrap_or(0) as usize;
    let mut seen = vec![0u8; max_id + 1];
    for &id in &old[old_mid.clone()] {
        seen[id as usize] |= 1;
    }
    for &id in &new[new_mid.clone()] {
        seen[id as usize] |= 2;
    }
    let (old_kept, old_ids) = keep_matched(old, old_mid, &seen, 2, &mut f1);
    let (new_kept, new_ids) = keep_matched(new, new_mid, &seen, 1, &mut f2);
    // What is left is mostly equal; only its differing middle goes to Myers.
    let head = old_ids
        .iter()
        .zip(&new_ids)
        .take_while(|(a, b)| a == b)
        .count();
    let tail = old_ids[head..]
        .iter()
        .rev()
        .zip(new_ids[head..].iter().rev())
        .take_while(|(a, b)| a == b)
        .count();
    let old_kept = &old_kept[head..old_kept.len() - tail];
    let new_kept = &new_kept[head..new_kept.len() - tail];
    let (old_ids, new_ids) = (
        &old_ids[head..old_ids.len() - tail],
        &new_ids[head..new_ids.len() - tail],
    );
    if !old_ids.is_empty() || !new_ids.is_empty() {
        for op in similar::capture_diff_slices(Algorithm::Myers, old_ids, new_ids) {
            let (old_range, new_range) = (op.old_range(), op.new_range());
            if !matches!(op, DiffOp::Equal { .. }) {
                f1.mark_each(&old_kept[old_range]);
                f2.mark_each(&new_kept[new_range]);
            }
        }
    }
    compact(&mut f1, &f2);
    compact(&mut f2, &f1);
    script(&f1, &f2)
}

/// The lines of `range` whose id has a match on the other side (`seen[id] & other`), as
/// (line index, id) lists; the others are marked changed.
fn keep_matched(
    recs: &[u32],
    range: Range<usize>,
    seen: &[u8],
    other: u8,
    marks: &mut Marks<'_>,
) -> (Vec<u32>, Vec<u32>) {
    let mut kept = Vec::with_capacity(range.len());
    let mut ids = Vec::with_capacity(range.len());
    for i in range {
        let id = recs[i];
        if seen[id as usize] & other != 0 {
            kept.push(i as u32);
            ids.push(id);
        } else {
            marks.set(i, true);
        }
    }
    (kept, ids)
}

/// Which lines of one file are changed, with a `false` sentinel before the first and after
/// the last line (git's `rchg`).
struct Marks<'r> {
    recs: &'r [u32],
    changed: Vec<bool>,
}

impl<'r> Marks<'r> {
    fn new(recs: &'r [u32]) -> Self {
        Marks {
            recs,
            changed: vec![false; recs.len() + 2],
        }
    }

    fn len(&self) -> usize {
        self.recs.len()
    }

    fn mark_each(&mut self, lines: &[u32]) {
        for &i in lines {
            self.set(i as usize, true);
        }
    }

    /// Line `i` is changed (`i == len()` is the sentinel: never).
    fn is(&self, i: usize) -> bool {
        self.changed[i + 1]
    }

    /// Line `i - 1` is changed (`i == 0` is the sentinel: never).
    fn before(&self, i: usize) -> bool {
        self.changed[i]
    }

    fn set(&mut self, i: usize, value: bool) {
        self.changed[i + 1] = value;
    }
}

/// A run of changed lines `start..end`, possibly empty (the gap between two unchanged lines).
/// Groups of the two files advance in lock step: the n-th group of one faces the n-th of the
/// other.
#[derive(Clone, Copy)]
struct Group {
    start: usize,
    end: usize,
}

impl Group {
    fn first(m: &Marks<'_>) -> Group {
        let mut end = 0;
        while m.is(end) {
            end += 1;
        }
        Group { start: 0, end }
    }

    fn next(&mut self, m: &Marks<'_>) -> bool {
        if self.end == m.len() {
            return false;
        }
        self.start = self.end + 1;
        self.end = self.start;
        while m.is(self.end) {
            self.end += 1;
        }
        true
    }

    fn previous(&mut self, m: &Marks<'_>) -> bool {
        if self.start == 0 {
            return false;
        }
        self.end = self.start - 1;
        self.start = self.end;
        while m.before(self.start) {
            self.start -= 1;
        }
        true
    }

    fn slide_down(&mut self, m: &mut Marks<'_>) -> bool {
        if self.end < m.len() && m.recs[self.start] == m.recs[self.end] {
            m.set(self.start, false);
            self.start += 1;
            m.set(self.end, true);
            self.end += 1;
            while m.is(self.end) {
                self.end += 1;
            }
            true
        } else {
            false
        }
    }

    fn slide_up(&mut self, m: &mut Marks<'_>) -> bool {
        if self.start > 0 && m.recs[self.start - 1] == m.recs[self.end - 1] {
            self.start -= 1;
            m.set(self.start, true);
            self.end -= 1;
            m.set(self.end, false);
            while m.before(self.start) {
                self.start -= 1;
            }
            true
        } else {
            false
        }
    }
}

/// git's `xdl_change_compact` without the indent heuristic (which `git merge-file` does not
/// enable): slide each group down as far as it goes, merging groups it bumps into, then back
/// up to the last position where it faced a change in the other file, if any.
fn compact(f: &mut Marks<'_>, o: &Marks<'_>) {
    let mut g = Group::first(f);
    let mut go = Group::first(o);
    loop {
        if g.end != g.start {
            let mut earliest_end;
            let mut end_matching_other;
            loop {
                let size = g.end - g.start;
                end_matching_other = None;
                while g.slide_up(f) {
                    go.previous(o);
                }
                earliest_end = g.end;
                if go.end > go.start {
                    end_matching_other = Some(g.end);
                }
                while g.slide_down(f) {
                    go.next(o);
                    if go.end > go.start {
                        end_matching_other = Some(g.end);
                    }
                }
                if size == g.end - g.start {
                    break;
                }
            }
            if g.end != earliest_end && end_matching_other.is_some() {
                while go.end == go.start {
                    g.slide_up(f);
                    go.previous(o);
                }
            }
        }
        if !g.next(f) {
            break;
        }
        go.next(o);
    }
}

/// Collects the runs of changed lines into hunks (git's `xdl_build_script`).
fn script(f1: &Marks<'_>, f2: &Marks<'_>) -> Vec<Change> {
    let mut changes = Vec::new();
    let (mut i1, mut i2) = (0, 0);
    while i1 < f1.len() || i2 < f2.len() {
        if f1.is(i1) || f2.is(i2) {
            let (s1, s2) = (i1, i2);
            while f1.is(i1) {
                i1 += 1;
            }
            while f2.is(i2) {
                i2 += 1;
            }
            changes.push(Change {
                i1: s1,
                chg1: i1 - s1,
                i2: s2,
                chg2: i2 - s2,
            });
        } else {
            i1 += 1;
            i2 += 1;
        }
    }
    changes
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ids(text: &str) -> Vec<u32> {
        text.bytes().map(u32::from).collect()
    }

    #[test]
    fn identical_inputs_have_no_changes() {
        assert_eq!(diff(&ids("abc"), &ids("abc")), []);
    }

    #[test]
    fn an_ambiguous_insertion_slides_down_as_git_does() {
        // "b" inserted into "abbc": Myers may report it at index 1 or 2; git reports the last.
        let changes = diff(&ids("abbc"), &ids("abbbc"));
        assert_eq!(
            changes,
            [Change {
                i1: 3,
                chg1: 0,
                i2: 3,
                chg2: 1
            }]
        );
    }

    #[test]
    fn a_replacement_is_one_change() {
        let changes = diff(&ids("axc"), &ids("ayc"));
        assert_eq!(
            changes,
            [Change {
                i1: 1,
                chg1: 1,
                i2: 1,
                chg2: 1
            }]
        );
    }

    #[test]
    fn lines_keep_their_endings_and_a_missing_final_newline_is_a_different_line() {
        let mut interner = Interner::default();
        let a = interner.split("x\r\ny\nz");
        let b = interner.split("z\n");
        assert_eq!(a.len(), 3);
        assert_eq!(a.line(0), "x\r\n");
        assert_eq!(a.line(2), "z");
        assert_ne!(a.ids[2], b.ids[0]);
        assert_eq!(a.slice(1..3), "y\nz");
    }
}

#[cfg(test)]
mod interner_properties {
    use proptest::prelude::*;

    use super::*;

    fn text() -> impl Strategy<Value = String> {
        prop::collection::vec(
            prop::sample::select(vec!["a\n", "b\n", "c\n", "d", "e\r\n"]),
            0..20,
        )
        .prop_map(|lines| lines.concat())
    }

    proptest! {
        #[test]
        fn splitting_against_the_base_gives_equal_lines_equal_ids(base in text(), side in text()) {
            let mut interner = Interner::default();
            let b = interner.split(&base);
            let s = interner.split_against(&side, &b);
            let all: Vec<(&str, u32)> = (0..b.len())
                .map(|i| (b.line(i), b.ids[i]))
                .chain((0..s.len()).map(|i| (s.line(i), s.ids[i])))
                .collect();
            for (line, id) in &all {
                for (other, other_id) in &all {
                    prop_assert_eq!(line == other, id == other_id);
                }
            }
            prop_assert_eq!(s.slice(0..s.len()), side.as_str());
        }
    }
}
