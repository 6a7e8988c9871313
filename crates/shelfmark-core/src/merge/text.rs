//! Line-by-line three-way merge of text, made to agree with `git merge-file`.
//!
//! It exists for two callers: the record merge (a book's `summary` and `notes`) and
//! `shelfmark merge-file`, whose output must be byte-identical to git's whenever the answer
//! is unambiguous. So this is a port of the decisions in git's `xdl_merge` (xdiff/xmerge.c)
//! on top of `similar`'s line diff:
//!
//! * each side is diffed against the base; hunks of the two sides that overlap **or touch**
//!   (no unchanged base line between them) form one region, which is a conflict unless both
//!   sides made exactly the same change there;
//! * at the zealous levels (git's default is [`MergeLevel::ZealousAlnum`]) a conflict is
//!   refined by diffing the two sides' versions against each other: the lines they agree on
//!   become clean and the rest splits into several smaller conflicts; then conflicts that are
//!   at most three lines apart (or apart only by lines without a letter or digit) are joined
//!   again, since the markers would cost more than the lines they save;
//! * `diff3` output turns refinement off (the base is shown and must match the sides), and
//!   `zdiff3` only trims lines common to both sides at the two ends of a conflict.
//!
//! The result is typed, not text: a list of chunks, each either resolved text or a conflict
//! carrying the base, mine and theirs versions. Rendering markers is the caller's business;
//! [`TextConflict::line_ending`] tells it which line ending git would give them.
//!
//! `similar::TextMerge` labels regions the same way before refinement, but it neither refines
//! nor joins conflicts nor decides marker line endings, so its conflicts differ from git's.

use std::ops::Range;

use super::diff::{self, Change, Interner, Lines};

/// How hard to try before calling a region a conflict (git's `XDL_MERGE_*` levels).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub enum MergeLevel {
    /// Every overlapping region is a conflict, even when both sides made the same change.
    Minimal,
    /// Identical changes on both sides are clean; other overlaps are conflicts.
    Eager,
    /// Conflicts are refined to the lines the two sides disagree on.
    Zealous,
    /// As `Zealous`, and conflicts separated only by lines without letters or digits (braces,
    /// blank lines) are joined. `git merge-file`'s default.
    #[default]
    ZealousAlnum,
}

/// How conflicts are to be shown; it changes what the merge computes, as in git.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum ConflictStyle {
    /// Mine and theirs only (git's default).
    #[default]
    Merge,
    /// Mine, base and theirs; conflicts are not refined, so the base shown is exact.
    Diff3,
    /// As `Diff3`, but lines common to mine and theirs at either end of a conflict are moved
    /// out of it.
    ZealousDiff3,
}

/// Options of [`merge_text`]; the default is what `git merge-file` does without options.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct TextMergeOptions {
    pub level: MergeLevel,
    pub style: ConflictStyle,
}

/// The line ending git would write on the markers of a conflict, and on a side whose last line
/// lacks one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum LineEnding {
    Lf,
    CrLf,
}

impl LineEnding {
    pub fn as_str(self) -> &'static str {
        match self {
            LineEnding::Lf => "\n",
            LineEnding::CrLf => "\r\n",
        }
    }
}

/// A region the two sides changed incompatibly.
///
/// The ranges are line indices into each input. With [`ConflictStyle::Merge`] at the zealous
/// levels a conflict may be a refined part of a larger overlapping region; its `base` is then
/// the base of that whole region (git shows no base in that style).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct TextConflict<'a> {
    pub base: &'a str,
    pub mine: &'a str,
    pub theirs: &'a str,
    pub base_lines: Range<usize>,
    pub mine_lines: Range<usize>,
    pub theirs_lines: Range<usize>,
    pub line_ending: LineEnding,
}

/// A piece of the merged text.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum TextChunk<'a> {
    /// Text both sides agree on (unchanged, changed by one side, or changed alike).
    Resolved(&'a str),
    Conflict(TextConflict<'a>),
}

/// The outcome of [`merge_text`]: the merged text as chunks borrowed from the inputs.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct TextMerge<'a> {
    chunks: Vec<TextChunk<'a>>,
}

impl<'a> TextMerge<'a> {
    pub fn chunks(&self) -> &[TextChunk<'a>] {
        &self.chunks
    }

    pub fn into_chunks(self) -> Vec<TextChunk<'a>> {
        self.chunks
    }

    pub fn conflicts(&self) -> impl Iterator<Item = &TextConflict<'a>> {
        self.chunks.iter().filter_map(|chunk| match chunk {
            TextChunk::Conflict(conflict) => Some(conflict),
            TextChunk::Resolved(_) => None,
        })
    }

    pub fn conflict_count(&self) -> usize {
        self.conflicts().count()
    }

    pub fn is_clean(&self) -> bool {
        self.conflicts().next().is_none()
    }

    /// The merged text, or `None` while conflicts remain.
    pub fn clean_text(&self) -> Option<String> {
        let mut text = String::new();
        for chunk in &self.chunks {
            match chunk {
                TextChunk::Resolved(s) => text.push_str(s),
                TextChunk::Conflict(_) => return None,
            }
        }
        Some(text)
    }
}

/// Merges `mine` and `theirs`, both edited from `base`, line by line.
pub fn merge_text<'a>(
    base: &'a str,
    mine: &'a str,
    theirs: &'a str,
    options: TextMergeOptions,
) -> TextMerge<'a> {
    let mut interner = Interner::with_capacity(base.len() / 40 + 64);
    let base_lines = interner.split(base);
    let mine_lines = interner.split_against(mine, &base_lines);
    let theirs_lines = interner.split_against(theirs, &base_lines);
    let ours = diff::diff(&base_lines.ids, &mine_lines.ids);
    let other = diff::diff(&base_lines.ids, &theirs_lines.ids);
    // As git: when one side did nothing, the answer is the other side, verbatim.
    if ours.is_empty() {
        return TextMerge {
            chunks: vec![TextChunk::Resolved(theirs)],
        };
    }
    if other.is_empty() {
        return TextMerge {
            chunks: vec![TextChunk::Resolved(mine)],
        };
    }
    let files = Files {
        base: &base_lines,
        mine: &mine_lines,
        theirs: &theirs_lines,
    };
    let mut regions = combine(&files, &ours, &other, options);
    match options.style {
        ConflictStyle::ZealousDiff3 => trim_common_ends(&files, &mut regions),
        ConflictStyle::Diff3 => {}
        ConflictStyle::Merge => {
            if options.level >= MergeLevel::Zealous {
                regions = refine(&files, regions);
                join_close_conflicts(&files, &mut regions, options.level);
            }
        }
    }
    TextMerge {
        chunks: chunks(&files, &regions),
    }
}

struct Files<'f, 'a> {
    base: &'f Lines<'a>,
    mine: &'f Lines<'a>,
    theirs: &'f Lines<'a>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    Conflict,
    Mine,
    Theirs,
    /// Refinement found the two sides' versions identical.
    Same,
}

/// git's `xdmerge_t`: lines `i1..i1+chg1` of mine and `i2..i2+chg2` of theirs stand for
/// `i0..i0+chg0` of the base.
#[derive(Debug, Clone, Copy)]
struct Region {
    mode: Mode,
    i0: isize,
    chg0: isize,
    i1: isize,
    chg1: isize,
    i2: isize,
    chg2: isize,
}

impl Region {
    fn base(&self) -> Range<usize> {
        span(self.i0, self.chg0)
    }

    fn mine(&self) -> Range<usize> {
        span(self.i1, self.chg1)
    }

    fn theirs(&self) -> Range<usize> {
        span(self.i2, self.chg2)
    }
}

/// Line range `start..start + len`; git's arithmetic is signed, but the ranges it reads are
/// never negative.
fn span(start: isize, len: isize) -> Range<usize> {
    let start = usize::try_from(start).unwrap_or(0);
    start..start + usize::try_from(len).unwrap_or(0)
}

/// A two-way hunk in the signed arithmetic of the merge.
#[derive(Debug, Clone, Copy)]
struct Hunk {
    i1: isize,
    chg1: isize,
    i2: isize,
    chg2: isize,
}

impl From<&Change> for Hunk {
    fn from(c: &Change) -> Hunk {
        Hunk {
            i1: c.i1 as isize,
            chg1: c.chg1 as isize,
            i2: c.i2 as isize,
            chg2: c.chg2 as isize,
        }
    }
}

/// Appends a region, or extends the last one when it touches it on either side
/// (`xdl_append_merge`); mixing modes makes a conflict.
fn append(regions: &mut Vec<Region>, new: Region) {
    let touching =
        |last: &&mut Region| new.i1 <= last.i1 + last.chg1 || new.i2 <= last.i2 + last.chg2;
    match regions.last_mut().filter(touching) {
        Some(last) => {
            if new.mode != last.mode {
                last.mode = Mode::Conflict;
            }
            last.chg0 = new.i0 + new.chg0 - last.i0;
            last.chg1 = new.i1 + new.chg1 - last.i1;
            last.chg2 = new.i2 + new.chg2 - last.i2;
        }
        None => regions.push(new),
    }
}

/// `xdl_do_merge`'s first pass: walks both edit scripts in base order. A hunk that overlapped
/// the previous region may be visited again (as in git); `append` folds it back in.
fn combine(
    files: &Files<'_, '_>,
    ours: &[Change],
    other: &[Change],
    options: TextMergeOptions,
) -> Vec<Region> {
    let mut level = options.level;
    if options.style != ConflictStyle::Merge && level > MergeLevel::Eager {
        level = MergeLevel::Eager;
    }
    let shift_mine = files.mine.len() as isize - files.base.len() as isize;
    let shift_theirs = files.theirs.len() as isize - files.base.len() as isize;
    let ours: Vec<Hunk> = ours.iter().map(Hunk::from).collect();
    let other: Vec<Hunk> = other.iter().map(Hunk::from).collect();
    let mut regions = Vec::new();
    let (mut a, mut b) = (0, 0);
    loop {
        match (ours.get(a), other.get(b)) {
            (Some(x), Some(y)) if x.i1 + x.chg1 < y.i1 => {
                append(
                    &mut regions,
                    Region {
                        mode: Mode::Mine,
                        i0: x.i1,
                        chg0: x.chg1,
                        i1: x.i2,
                        chg1: x.chg2,
                        i2: y.i2 - y.i1 + x.i1,
                        chg2: x.chg1,
                    },
                );
                a += 1;
            }
            (Some(x), Some(y)) if y.i1 + y.chg1 < x.i1 => {
                append(
                    &mut regions,
                    Region {
                        mode: Mode::Theirs,
                        i0: y.i1,
                        chg0: y.chg1,
                        i1: x.i2 - x.i1 + y.i1,
                        chg1: y.chg1,
                        i2: y.i2,
                        chg2: y.chg2,
                    },
                );
                b += 1;
            }
            (Some(x), Some(y)) => {
                let same = level > MergeLevel::Minimal
                    && x.i1 == y.i1
                    && x.chg1 == y.chg1
                    && x.chg2 == y.chg2
                    && files.mine.ids[span(x.i2, x.chg2)] == files.theirs.ids[span(y.i2, y.chg2)];
                if !same {
                    // The region spans both hunks in the base; each side's range is widened
                    // by the base lines only the other hunk covers.
                    let off = x.i1 - y.i1;
                    let ffo = off + x.chg1 - y.chg1;
                    let (mut i0, mut i1, mut i2) = (x.i1, x.i2, y.i2);
                    if off > 0 {
                        i0 -= off;
                        i1 -= off;
                    } else {
                        i2 += off;
                    }
                    let mut chg0 = x.i1 + x.chg1 - i0;
                    let mut chg1 = x.i2 + x.chg2 - i1;
                    let mut chg2 = y.i2 + y.chg2 - i2;
                    if ffo < 0 {
                        chg0 -= ffo;
                        chg1 -= ffo;
                    } else {
                        chg2 += ffo;
                    }
                    append(
                        &mut regions,
                        Region {
                            mode: Mode::Conflict,
                            i0,
                            chg0,
                            i1,
                            chg1,
                            i2,
                            chg2,
                        },
                    );
                }
                let (end_x, end_y) = (x.i1 + x.chg1, y.i1 + y.chg1);
                if end_x >= end_y {
                    b += 1;
                }
                if end_y >= end_x {
                    a += 1;
                }
            }
            (Some(x), None) => {
                append(
                    &mut regions,
                    Region {
                        mode: Mode::Mine,
                        i0: x.i1,
                        chg0: x.chg1,
                        i1: x.i2,
                        chg1: x.chg2,
                        i2: x.i1 + shift_theirs,
                        chg2: x.chg1,
                    },
                );
                a += 1;
            }
            (None, Some(y)) => {
                append(
                    &mut regions,
                    Region {
                        mode: Mode::Theirs,
                        i0: y.i1,
                        chg0: y.chg1,
                        i1: y.i1 + shift_mine,
                        chg1: y.chg1,
                        i2: y.i2,
                        chg2: y.chg2,
                    },
                );
                b += 1;
            }
            (None, None) => break,
        }
    }
    regions
}

/// `xdl_refine_conflicts`: diffs mine's and theirs' versions of each conflict against each
/// other and keeps only the hunks where they differ.
fn refine(files: &Files<'_, '_>, regions: Vec<Region>) -> Vec<Region> {
    let mut refined = Vec::with_capacity(regions.len());
    for mut m in regions {
        if m.mode != Mode::Conflict || m.chg1 == 0 || m.chg2 == 0 {
            refined.push(m);
            continue;
        }
        let hunks = diff::diff(&files.mine.ids[m.mine()], &files.theirs.ids[m.theirs()]);
        if hunks.is_empty() {
            m.mode = Mode::Same;
            refined.push(m);
            continue;
        }
        for h in hunks.iter().map(Hunk::from) {
            refined.push(Region {
                mode: Mode::Conflict,
                i1: m.i1 + h.i1,
                chg1: h.chg1,
                i2: m.i2 + h.i2,
                chg2: h.chg2,
                ..m
            });
        }
    }
    refined
}

/// `xdl_simplify_non_conflicts`: joins two conflicts when at most three lines lie between
/// them, or (at `ZealousAlnum`) when none of those lines has an ASCII letter or digit.
fn join_close_conflicts(files: &Files<'_, '_>, regions: &mut Vec<Region>, level: MergeLevel) {
    let mut joined: Vec<Region> = Vec::with_capacity(regions.len());
    for next in regions.drain(..) {
        let both_conflicts =
            |m: &&mut Region| m.mode == Mode::Conflict && next.mode == Mode::Conflict;
        if let Some(m) = joined.last_mut().filter(both_conflicts) {
            let (begin, end) = (m.i1 + m.chg1, next.i1);
            let blank = level == MergeLevel::ZealousAlnum
                && !files
                    .mine
                    .slice(span(begin, end - begin))
                    .bytes()
                    .any(|b| b.is_ascii_alphanumeric());
            if end - begin <= 3 || blank {
                m.chg1 = next.i1 + next.chg1 - m.i1;
                m.chg2 = next.i2 + next.chg2 - m.i2;
                m.chg0 = (next.i0 + next.chg0).max(m.i0 + m.chg0) - m.i0;
                continue;
            }
        }
        joined.push(next);
    }
    *regions = joined;
}

/// `xdl_refine_zdiff3_conflicts`: moves lines common to both sides at either end of a
/// conflict out of it, keeping the whole base.
fn trim_common_ends(files: &Files<'_, '_>, regions: &mut [Region]) {
    let (mine, theirs) = (&files.mine.ids, &files.theirs.ids);
    let at = |i: isize| usize::try_from(i).unwrap_or(0);
    for m in regions.iter_mut().filter(|m| m.mode == Mode::Conflict) {
        while m.chg1 > 0 && m.chg2 > 0 && mine[at(m.i1)] == theirs[at(m.i2)] {
            m.i1 += 1;
            m.i2 += 1;
            m.chg1 -= 1;
            m.chg2 -= 1;
        }
        while m.chg1 > 0
            && m.chg2 > 0
            && mine[at(m.i1 + m.chg1 - 1)] == theirs[at(m.i2 + m.chg2 - 1)]
        {
            m.chg1 -= 1;
            m.chg2 -= 1;
        }
    }
}

/// `is_eol_crlf`: whether line `i` ends in CRLF (for a last line without an ending, the line
/// before it decides); `None` when it cannot be told.
fn is_eol_crlf(lines: &Lines<'_>, i: usize) -> Option<bool> {
    let n = lines.len();
    if i + 1 < n {
        return Some(lines.line(i).ends_with("\r\n"));
    }
    if n == 0 {
        return None;
    }
    let line = lines.line(i);
    if line.ends_with('\n') {
        return Some(line.ends_with("\r\n"));
    }
    if i == 0 {
        return None;
    }
    Some(lines.line(i - 1).ends_with("\r\n"))
}

/// `is_cr_needed`: CRLF markers only when the lines before the conflict on both sides and the
/// base's first line all end in CRLF (an undecidable side does not veto; an empty base does).
fn line_ending(files: &Files<'_, '_>, m: &Region) -> LineEnding {
    let before = |i: isize| usize::try_from(i - 1).unwrap_or(0);
    let crlf = is_eol_crlf(files.mine, before(m.i1)) != Some(false)
        && is_eol_crlf(files.theirs, before(m.i2)) != Some(false)
        && is_eol_crlf(files.base, 0) == Some(true);
    if crlf {
        LineEnding::CrLf
    } else {
        LineEnding::Lf
    }
}

/// Where a piece of the output comes from, before it becomes a chunk.
enum Piece {
    Mine(Range<usize>),
    Theirs(Range<usize>),
    Conflict(Region),
}

/// `xdl_fill_merge_buffer`, producing chunks instead of bytes: unchanged lines come from mine.
fn chunks<'a>(files: &Files<'_, 'a>, regions: &[Region]) -> Vec<TextChunk<'a>> {
    let mut pieces = Vec::with_capacity(regions.len() * 2 + 1);
    let take_mine = |pieces: &mut Vec<Piece>, range: Range<usize>| {
        if range.is_empty() {
            return;
        }
        // Adjacent lines of mine make one chunk.
        match pieces.last_mut() {
            Some(Piece::Mine(previous)) if previous.end == range.start => {
                previous.end = range.end;
                return;
            }
            _ => {}
        }
        pieces.push(Piece::Mine(range));
    };
    let mut i = 0;
    for m in regions {
        let (mine, theirs) = (m.mine(), m.theirs());
        match m.mode {
            Mode::Same => continue,
            Mode::Mine => take_mine(&mut pieces, i..mine.end.max(i)),
            Mode::Theirs => {
                take_mine(&mut pieces, i..mine.start.max(i));
                if !theirs.is_empty() {
                    pieces.push(Piece::Theirs(theirs));
                }
            }
            Mode::Conflict => {
                take_mine(&mut pieces, i..mine.start.max(i));
                pieces.push(Piece::Conflict(*m));
            }
        }
        i = mine.end;
    }
    take_mine(&mut pieces, i..files.mine.len().max(i));
    pieces
        .into_iter()
        .map(|piece| match piece {
            Piece::Mine(range) => TextChunk::Resolved(files.mine.slice(range)),
            Piece::Theirs(range) => TextChunk::Resolved(files.theirs.slice(range)),
            Piece::Conflict(m) => TextChunk::Conflict(TextConflict {
                base: files.base.slice(m.base()),
                mine: files.mine.slice(m.mine()),
                theirs: files.theirs.slice(m.theirs()),
                base_lines: m.base(),
                mine_lines: m.mine(),
                theirs_lines: m.theirs(),
                line_ending: line_ending(files, &m),
            }),
        })
        .collect()
}
