//! `shelfmark merge-file` against `git merge-file`: the same arguments, files and exit
//! statuses, and byte-identical output wherever the alignment of lines is unambiguous.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use proptest::prelude::*;
use tempfile::TempDir;

const SHELFMARK: &str = env!("CARGO_BIN_EXE_shelfmark");

/// Three files in a fresh directory.
struct Case {
    dir: TempDir,
}

impl Case {
    fn new(current: &[u8], base: &[u8], other: &[u8]) -> Case {
        let dir = tempfile::tempdir().expect("temp dir");
        for (name, bytes) in [("current", current), ("base", base), ("other", other)] {
            std::fs::write(dir.path().join(name), bytes).expect("write input");
        }
        Case { dir }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn read(&self, name: &str) -> Vec<u8> {
        std::fs::read(self.path(name)).expect("read")
    }

    /// Runs `program` (with `merge-file` and `args` before the three files) in the directory,
    /// so that default labels are the bare file names.
    fn run(&self, program: &str, args: &[&str]) -> Output {
        let mut command = Command::new(program);
        command
            .arg("merge-file")
            .args(args)
            .args(["current", "base", "other"])
            .current_dir(self.dir.path());
        isolate_git(&mut command, self.dir.path());
        command.output().expect("runs")
    }

    fn shelfmark(&self, args: &[&str]) -> Output {
        self.run(SHELFMARK, args)
    }

    fn git(&self, args: &[&str]) -> Output {
        self.run("git", args)
    }
}

/// Keeps the user's git configuration (e.g. `merge.conflictStyle`) out of the comparison.
fn isolate_git(command: &mut Command, home: &Path) {
    command
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env("HOME", home);
}

fn assert_same_as_git(current: &str, base: &str, other: &str, args: &[&str]) {
    let case = Case::new(current.as_bytes(), base.as_bytes(), other.as_bytes());
    let ours = case.shelfmark(args);
    let git = case.git(args);
    assert_eq!(
        (String::from_utf8_lossy(&ours.stdout), ours.status.code()),
        (String::from_utf8_lossy(&git.stdout), git.status.code()),
        "args {args:?}\ncurrent {current:?}\nbase {base:?}\nother {other:?}"
    );
}

// ---------------------------------------------------------------------------------------------
// Fixed cases, each compared with git byte for byte

const CASES: &[(&str, &str, &str, &str)] = &[
    ("clean edits apart", "A\nb\nc\n", "a\nb\nc\n", "a\nb\nC\n"),
    (
        "one conflict",
        "a\nmine\nc\n",
        "a\nb\nc\n",
        "a\ntheirs\nc\n",
    ),
    (
        "touching edits",
        "a\nB\nc\nd\n",
        "a\nb\nc\nd\n",
        "a\nb\nC\nd\n",
    ),
    (
        "same change both sides",
        "a\nX\nc\n",
        "a\nb\nc\n",
        "a\nX\nc\n",
    ),
    (
        "refined",
        "a\nX\nc\nd\ne\nY\ng\n",
        "a\nb\nc\nd\ne\nf\ng\n",
        "a\nX\nc\nd\ne\nZ\ng\n",
    ),
    (
        "two conflicts far apart",
        "1\nA\n2\n3\n4\n5\n6\nB\n7\n",
        "1\nx\n2\n3\n4\n5\n6\ny\n7\n",
        "1\na\n2\n3\n4\n5\n6\nb\n7\n",
    ),
    (
        "conflicts apart by braces only are joined",
        "f\nA\n}\n}\n{\n{\n}\nB\ng\n",
        "f\nx\n}\n}\n{\n{\n}\ny\ng\n",
        "f\na\n}\n}\n{\n{\n}\nb\ng\n",
    ),
    (
        "crlf conflict",
        "a\r\nmine\r\n",
        "a\r\nb\r\n",
        "a\r\ntheirs\r\n",
    ),
    (
        "crlf clean",
        "A\r\nb\r\nc\r\n",
        "a\r\nb\r\nc\r\n",
        "a\r\nb\r\nC\r\n",
    ),
    ("mixed endings", "a\r\nmine\n", "a\r\nb\n", "a\r\ntheirs\n"),
    (
        "no final newline, clean",
        "a\nb\nc",
        "a\nb\nc\n",
        "A\nb\nc\n",
    ),
    ("no final newline, conflict", "a\nmine", "a\nb", "a\ntheirs"),
    ("no final newline on one side", "a\nb", "a\nb\n", "A\nb\n"),
    (
        "crlf without final newline",
        "a\r\nmine",
        "a\r\nb",
        "a\r\ntheirs",
    ),
    ("all empty", "", "", ""),
    ("empty base, both add", "mine\n", "", "theirs\n"),
    ("empty base, same add", "same\n", "", "same\n"),
    ("empty base, crlf adds", "mine\r\n", "", "theirs\r\n"),
    ("current emptied", "", "a\nb\n", "a\nb\n"),
    ("deleted vs edited", "", "a\n", "b\n"),
    (
        "insertions at the same place",
        "0\nm\n1\n",
        "0\n1\n",
        "0\nt\n1\n",
    ),
];

#[test]
fn fixed_cases_match_git_byte_for_byte_in_every_style() {
    for style in [
        &[][..],
        &["--diff3"],
        &["--zdiff3"],
        &["--ours"],
        &["--theirs"],
        &["--union"],
        &["--marker-size", "3"],
        &["-L", "mine", "-L", "orig", "-L", "server", "--diff3"],
    ] {
        for (what, current, base, other) in CASES {
            let mut args = vec!["-p"];
            args.extend_from_slice(style);
            let case = Case::new(current.as_bytes(), base.as_bytes(), other.as_bytes());
            let (ours, git) = (case.shelfmark(&args), case.git(&args));
            assert_eq!(
                (String::from_utf8_lossy(&ours.stdout), ours.status.code()),
                (String::from_utf8_lossy(&git.stdout), git.status.code()),
                "{what} with {args:?}"
            );
        }
    }
}

#[test]
fn without_stdout_the_result_replaces_current_as_git_does() {
    let (current, base, other) = ("a\nmine\n", "a\nb\n", "a\ntheirs\n");
    let ours = Case::new(current.as_bytes(), base.as_bytes(), other.as_bytes());
    let git = Case::new(current.as_bytes(), base.as_bytes(), other.as_bytes());
    let (o, g) = (ours.shelfmark(&[]), git.git(&[]));
    assert_eq!(o.status.code(), Some(1));
    assert_eq!(o.status.code(), g.status.code());
    assert!(o.stdout.is_empty());
    assert_eq!(ours.read("current"), git.read("current"));
    assert_eq!(
        String::from_utf8_lossy(&ours.read("current")),
        "a\n<<<<<<< current\nmine\n=======\ntheirs\n>>>>>>> other\n"
    );
}

#[test]
fn the_exit_status_counts_conflicts_up_to_127() {
    let mut base = String::new();
    let (mut current, mut other) = (String::new(), String::new());
    for i in 0..130 {
        // Four unchanged lines between conflicts keep git from joining them.
        let keep = format!("keep {i}a\nkeep {i}b\nkeep {i}c\nkeep {i}d\n");
        base.push_str(&format!("{keep}line {i}\n"));
        current.push_str(&format!("{keep}mine {i}\n"));
        other.push_str(&format!("{keep}theirs {i}\n"));
    }
    let case = Case::new(current.as_bytes(), base.as_bytes(), other.as_bytes());
    assert_eq!(case.shelfmark(&["-p"]).status.code(), Some(127));
    assert_eq!(case.git(&["-p"]).status.code(), Some(127));
}

#[test]
fn a_missing_file_is_an_error_with_status_255_and_a_clear_message() {
    let case = Case::new(b"a\n", b"a\n", b"a\n");
    std::fs::remove_file(case.path("base")).expect("remove");
    let out = case.shelfmark(&[]);
    assert_eq!(out.status.code(), Some(255));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("could not read base") && stderr.contains("No such file"),
        "{stderr}"
    );
    assert_eq!(case.git(&[]).status.code(), Some(255));
}

#[test]
fn binary_input_is_refused_with_status_255_and_nothing_is_written() {
    let case = Case::new(b"a\n", b"a\0b\n", b"b\n");
    let out = case.shelfmark(&[]);
    assert_eq!(out.status.code(), Some(255));
    assert!(String::from_utf8_lossy(&out.stderr).contains("cannot merge binary files: base"));
    assert_eq!(case.read("current"), b"a\n");
    assert_eq!(case.git(&[]).status.code(), Some(255));
}

#[test]
fn non_utf8_input_is_refused_with_status_255_and_nothing_is_written() {
    let case = Case::new(b"caf\xe9\n", b"cafe\n", b"cafe\n");
    let out = case.shelfmark(&[]);
    assert_eq!(out.status.code(), Some(255));
    assert!(String::from_utf8_lossy(&out.stderr).contains("not UTF-8"));
    assert_eq!(case.read("current"), b"caf\xe9\n");
}

#[test]
fn quiet_silences_errors_but_keeps_the_status() {
    let case = Case::new(b"a\n", b"a\0\n", b"a\n");
    let out = case.shelfmark(&["-q"]);
    assert_eq!(out.status.code(), Some(255));
    assert!(out.stderr.is_empty());
}

#[test]
fn more_than_three_labels_and_missing_operands_are_refused() {
    let case = Case::new(b"a\n", b"a\n", b"a\n");
    let labels = ["-L", "1", "-L", "2", "-L", "3", "-L", "4"];
    assert_eq!(case.shelfmark(&labels).status.code(), Some(129));
    assert_eq!(case.git(&labels).status.code(), Some(129));
    let out = Command::new(SHELFMARK)
        .args(["merge-file", "only-one"])
        .output()
        .expect("runs");
    assert_eq!(out.status.code(), Some(129));
}

#[test]
fn short_options_may_be_stuck_to_their_values_as_in_git() {
    assert_same_as_git(
        "a\nmine\n",
        "a\nb\n",
        "a\ntheirs\n",
        &["-p", "-Lme", "-Lbase", "-Lyou"],
    );
}

// ---------------------------------------------------------------------------------------------
// Pinned differences: ambiguous alignments

/// Where lines repeat, a two-way diff has several minimal answers. git's Myers and
/// `similar`'s Myers break those ties differently, and the merge inherits the choice; both
/// outputs are correct merges. Each case pins both outputs, so a change in either shows.
const AMBIGUOUS: &[(&str, [&str; 3], &str, &str)] = &[
    (
        // theirs swaps g and o; "keep g, move o up" and "keep o, move g down" are both
        // minimal. git keeps o (its conflict spans g and o); similar keeps g (its conflict is
        // just mine's missing newline against nothing).
        "a swap next to an edit",
        ["c\nj\ng\no", "c\nj\ng\no\n", "c\nj\no\ng\n"],
        "c\nj\n<<<<<<< current\ng\no\n=======\no\ng\n>>>>>>> other\n",
        "c\nj\no\ng\n<<<<<<< current\no\n=======\n>>>>>>> other\n",
    ),
    (
        // Runs of repeated lines: git aligns mine's and theirs' edits so that they touch (a
        // conflict); similar aligns them one line apart (clean).
        "edits within runs of repeated lines",
        [
            "c\nb\nc\nb\nb\nb\n",
            "c\nc\nb\nc\nb\nb\n",
            "c\nc\nc\nb\nc\nb\n",
        ],
        "c\n<<<<<<< current\nb\n=======\nc\n>>>>>>> other\nc\nb\nc\nb\nb\n",
        "c\nb\nc\nc\nb\nb\n",
    ),
];

#[test]
fn ambiguous_alignments_differ_from_git_as_pinned() {
    for (what, [current, base, other], git_output, our_output) in AMBIGUOUS {
        let case = Case::new(current.as_bytes(), base.as_bytes(), other.as_bytes());
        let ours = case.shelfmark(&["-p"]);
        let git = case.git(&["-p"]);
        assert_eq!(String::from_utf8_lossy(&ours.stdout), *our_output, "{what}");
        assert_eq!(String::from_utf8_lossy(&git.stdout), *git_output, "{what}");
    }
}

// ---------------------------------------------------------------------------------------------
// Differential: generated inputs

/// A base of distinct lines, and an edit of it: each of a few positions gets one of
/// replace / insert / delete. With distinct lines (new lines are distinct too) every diff has
/// one best alignment, so git and we must agree byte for byte, clean or not.
fn edited(base: &[String], ops: &[(usize, u8)], side: &str) -> String {
    let mut lines: Vec<String> = base.to_vec();
    let mut ops = ops.to_vec();
    ops.sort_unstable();
    ops.dedup_by_key(|(at, _)| *at);
    for (at, op) in ops.into_iter().rev() {
        let at = at.min(lines.len());
        match op % 3 {
            0 if at < lines.len() => lines[at] = format!("{side} changed {at}\n"),
            1 => lines.insert(at, format!("{side} inserted {at}\n")),
            _ if at < lines.len() => {
                lines.remove(at);
            }
            _ => lines.push(format!("{side} appended\n")),
        }
    }
    lines.concat()
}

fn edits(len: usize) -> impl Strategy<Value = Vec<(usize, u8)>> {
    prop::collection::vec((0..=len, any::<u8>()), 0..5)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    #[test]
    fn generated_merges_match_git_byte_for_byte(
        len in 0usize..40,
        mine in edits(40),
        theirs in edits(40),
        crlf in any::<bool>(),
        no_final_newline in any::<bool>(),
        style in prop::sample::select(vec!["", "--diff3", "--zdiff3"]),
    ) {
        let eol = if crlf { "\r\n" } else { "\n" };
        let base: Vec<String> = (0..len).map(|i| format!("line {i}{eol}")).collect();
        let fix = |text: String| {
            let text = text.replace('\n', eol).replace("\r\r", "\r");
            if no_final_newline { text.trim_end_matches(['\r', '\n']).to_owned() } else { text }
        };
        let current = fix(edited(&base, &mine, "mine"));
        let other = fix(edited(&base, &theirs, "theirs"));
        let base = fix(base.concat());
        let mut args = vec!["-p"];
        if !style.is_empty() {
            args.push(style);
        }
        assert_same_as_git(&current, &base, &other, &args);
    }
}
