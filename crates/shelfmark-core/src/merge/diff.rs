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
}

impl<'a> Interner<'a> {
    pub(crate) fn with_capacity(capacity: usize) -> Self {
        Interner {
            ids: FxHashMap::with_capacity_and_hasher(capacity, Default::default()),
        }
    }

    pub(crate) fn split(&mut self, text: &'a str) -> Lines<'a> {
        let estimate = text.len() / 32 + 1;
        let mut starts = Vec::with_capacity(estimate + 1);
        let mut ids = Vec::with_capacity(estimate);
        let mut offset = 0;
        for line in text.split_inclusive('\n') {
            starts.push(offset);
            offset += line.len();
            let next = u32::try_from(self.ids.len()).unwrap_or(u32::MAX);
            ids.push(*self.ids.entry(line).or_insert(next));
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
    let ops = similar::capture_diff_slices(
        Algorithm::Myers,
        &old[prefix..old.len() - suffix],
        &new[prefix..new.len() - suffix],
    );
    for op in ops {
        match op {
            DiffOp::Equal { .. } => {}
            DiffOp::Delete {
                old_index, old_len, ..
            } => f1.mark(prefix + old_index, old_len),
            DiffOp::Insert {
                new_index, new_len, ..
            } => f2.mark(prefix + new_index, new_len),
            DiffOp::Replace {
                old_index,
                old_len,
                new_index,
                new_len,
            } => {
                f1.mark(prefix + old_index, old_len);
                f2.mark(prefix + new_index, new_len);
            }
        }
    }
    compact(&mut f1, &f2);
    compact(&mut f2, &f1);
    script(&f1, &f2)
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

    fn mark(&mut self, start: usize, len: usize) {
        for flag in &mut self.changed[start + 1..start + 1 + len] {
            *flag = true;
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
