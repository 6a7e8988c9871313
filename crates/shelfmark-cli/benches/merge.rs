//! Benchmark: `shelfmark merge-file` against `git merge-file`, side by side in one run, on
//! 10k- and 50k-line files with hundreds of scattered edits per side; and the in-process
//! merges (text and record) the desktop app calls.
//!
//! Run with `cargo bench -p shelfmark-cli --bench merge`. Each round runs the two commands
//! alternately so that both see the same machine load; the table gives medians and the
//! ratio of wall-clock medians, and the CPU time (user + system) of each, which the load of
//! other processes on the machine disturbs less. The outputs and exit statuses are compared
//! and must be identical.

use std::hint::black_box;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use shelfmark_core::Book;
use shelfmark_core::merge::{TextMergeOptions, merge_records, merge_text};

const SHELFMARK: &str = env!("CARGO_BIN_EXE_shelfmark");
const ROUNDS: usize = 40;

/// A small deterministic generator (xorshift), so every run merges the same files.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

const WORDS: &[&str] = &[
    "the",
    "library",
    "shelf",
    "patron",
    "copy",
    "loan",
    "hold",
    "return",
    "branch",
    "catalogue",
    "index",
    "summary",
    "notes",
    "author",
    "title",
    "edition",
    "binding",
    "spine",
    "reader",
];

/// Prose-like lines, each ending in its number (so lines are distinct), with a blank line
/// between paragraphs.
fn base_text(lines: usize, rng: &mut Rng) -> Vec<String> {
    (0..lines)
        .map(|i| {
            if i % 12 == 11 {
                return "\n".to_owned();
            }
            let mut line: Vec<&str> = (0..3 + rng.below(8))
                .map(|_| WORDS[rng.below(WORDS.len())])
                .collect();
            let n = i.to_string();
            line.push(&n);
            line.join(" ") + "\n"
        })
        .collect()
}

/// One change (edit a line, insert one, delete one) at each of `slots`.
fn edit(base: &[String], slots: &[usize], side: &str, rng: &mut Rng) -> String {
    let mut lines = base.to_vec();
    for &at in slots.iter().rev() {
        match rng.below(4) {
            0 | 1 => lines[at] = format!("{} (revised by {side})\n", lines[at].trim_end()),
            2 => lines.insert(at, format!("a sentence {side} added before line {at}\n")),
            _ => {
                lines.remove(at);
            }
        }
    }
    lines.concat()
}

struct Inputs {
    dir: PathBuf,
    lines: usize,
    edits: usize,
    base: String,
    mine: String,
    theirs: String,
}

fn inputs(root: &Path, lines: usize, edits: usize) -> Inputs {
    let mut rng = Rng(0x5eed_0000 + lines as u64);
    let base = base_text(lines, &mut rng);
    // Scattered positions, every one at least 8 lines from the next, split between the sides.
    let mut slots: Vec<usize> = (1..lines / 8 - 1).map(|k| k * 8 + rng.below(4)).collect();
    for i in (1..slots.len()).rev() {
        slots.swap(i, rng.below(i + 1));
    }
    let (mut ours, mut theirs) = (slots[..edits].to_vec(), slots[edits..2 * edits].to_vec());
    // One edit in twenty hits a line the other side edits too: a few real conflicts.
    for k in (0..edits).step_by(20) {
        theirs[k] = ours[k];
    }
    ours.sort_unstable();
    theirs.sort_unstable();
    let dir = root.join(format!("{lines}"));
    std::fs::create_dir_all(&dir).expect("bench dir");
    let inputs = Inputs {
        dir,
        lines,
        edits,
        mine: edit(&base, &ours, "mine", &mut rng),
        theirs: edit(&base, &theirs, "theirs", &mut rng),
        base: base.concat(),
    };
    for (name, text) in [
        ("current", &inputs.mine),
        ("base", &inputs.base),
        ("other", &inputs.theirs),
    ] {
        std::fs::write(inputs.dir.join(name), text).expect("write input");
    }
    inputs
}

fn run(program: &str, dir: &Path) -> (Duration, Output) {
    let mut command = Command::new(program);
    command
        .args(["merge-file", "-p", "current", "base", "other"])
        .current_dir(dir)
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .stdin(Stdio::null());
    let start = Instant::now();
    let output = command.output().expect("runs");
    (start.elapsed(), output)
}

/// CPU time (user + system) of this process's waited-for children so far, from
/// `/proc/self/stat` (in clock ticks of 10 ms; summed over many runs, precise enough).
fn children_cpu() -> Option<Duration> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
    let ticks: u64 = fields.get(13)?.parse::<u64>().ok()? + fields.get(14)?.parse::<u64>().ok()?;
    Some(Duration::from_millis(ticks * 10))
}

fn median(mut times: Vec<Duration>) -> Duration {
    times.sort_unstable();
    times[times.len() / 2]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// Calls `f` until about half a second has passed; the median time per call.
fn time_in_process(mut f: impl FnMut()) -> Duration {
    let mut samples = Vec::new();
    let start = Instant::now();
    while start.elapsed() < Duration::from_millis(500) || samples.len() < 5 {
        let t = Instant::now();
        f();
        samples.push(t.elapsed());
    }
    median(samples)
}

fn main() {
    // `cargo bench` passes `--bench`; nothing else to parse.
    let root = std::env::temp_dir().join(format!("shelfmark-merge-bench-{}", std::process::id()));
    println!(
        "| input | edits per side | conflicts | git merge-file | shelfmark merge-file | ratio | CPU git / ours | CPU ratio | identical |"
    );
    println!("|---|---|---|---|---|---|---|---|---|");
    for (lines, edits) in [(10_000, 200), (50_000, 600)] {
        let input = inputs(&root, lines, edits);
        let (mut git, mut ours) = (Vec::new(), Vec::new());
        let (mut cpu_git, mut cpu_ours) = (Duration::ZERO, Duration::ZERO);
        let mut identical = true;
        let mut conflicts = None;
        for round in 0..ROUNDS + 3 {
            let c0 = children_cpu();
            let (tg, og) = run("git", &input.dir);
            let c1 = children_cpu();
            let (ts, os) = run(SHELFMARK, &input.dir);
            let c2 = children_cpu();
            if let (Some(c0), Some(c1), Some(c2), true) = (c0, c1, c2, round >= 3) {
                cpu_git += c1 - c0;
                cpu_ours += c2 - c1;
            }
            identical &= og.stdout == os.stdout && og.status.code() == os.status.code();
            conflicts = os.status.code();
            if round >= 3 {
                git.push(tg);
                ours.push(ts);
            }
        }
        let (g, s) = (median(git), median(ours));
        let per_run = |d: Duration| ms(d) / ROUNDS as f64;
        println!(
            "| {}k lines | {} | {} | {:.1} ms | {:.1} ms | {:.2}x | {:.1} / {:.1} ms | {:.2}x | {} |",
            input.lines / 1000,
            input.edits,
            conflicts.unwrap_or(-1),
            ms(g),
            ms(s),
            s.as_secs_f64() / g.as_secs_f64(),
            per_run(cpu_git),
            per_run(cpu_ours),
            cpu_ours.as_secs_f64() / cpu_git.as_secs_f64().max(1e-9),
            if identical { "yes" } else { "NO" },
        );
        if lines == 50_000 {
            let t = time_in_process(|| {
                let merge = merge_text(
                    black_box(&input.base),
                    black_box(&input.mine),
                    black_box(&input.theirs),
                    TextMergeOptions::default(),
                );
                black_box(merge.conflict_count());
            });
            println!(
                "\nIn process: `merge_text` on the 50k-line input: {:.2} ms per merge.",
                ms(t)
            );
        }
    }
    let _ = std::fs::remove_dir_all(&root);

    let base = Book {
        id: uuid::Uuid::nil(),
        isbn: "9780306406157".into(),
        title: "Signals".into(),
        authors: vec!["Ada".into(), "Brian".into()],
        publisher: "Plenum".into(),
        year: Some(1999),
        subjects: vec!["radio".into(), "physics".into()],
        summary: (0..20)
            .map(|i| format!("Summary sentence {i}.\n"))
            .collect(),
        notes: (0..10).map(|i| format!("Staff note {i}.\n")).collect(),
    };
    let mut mine = base.clone();
    mine.title = "Signals and Noise".into();
    mine.authors.push("Carol".into());
    mine.summary = mine.summary.replace("sentence 3.", "sentence three.");
    mine.notes = mine.notes.replace("note 5.", "note five.");
    let mut theirs = base.clone();
    theirs.year = Some(2001);
    theirs.subjects.retain(|s| s != "physics");
    theirs.summary = theirs.summary.replace("sentence 15.", "sentence fifteen.");
    theirs.notes = theirs.notes.replace("note 5.", "note V.");
    let t = time_in_process(|| {
        let state = merge_records(black_box(&base), black_box(&mine), black_box(&theirs));
        black_box(state.map(|s| s.conflicts().count()).unwrap_or(0));
    });
    println!(
        "In process: `merge_records` on a book (4 fields changed per side, 1 conflicting hunk): {:.1} µs per merge.",
        t.as_secs_f64() * 1e6
    );
}
