//! `shelfmark merge-file`: the core's text merge on three files, a drop-in for
//! `git merge-file`.
//!
//! It exists so that the merge the desktop app uses on `summary` and `notes` can be checked
//! against git on real files, and used where git is not. The merge itself is
//! `shelfmark_core::merge::merge_text`; this module reads and checks the files, writes the
//! conflict markers as git writes them (labels, `|||||||` for diff3, CRLF markers in CRLF
//! files, a newline added to a side that lacks one) and maps the outcome to git's exit status:
//! the number of conflicts (at most 127), 0 when clean, 255 on error, 129 on a usage error.
//!
//! Not supported from git: `--object-id`, `--diff-algorithm` (the diff is always Myers), and
//! reading `merge.conflictStyle` from git's configuration.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, bail};
use clap::{ArgAction, Args};
use shelfmark_core::merge::{
    ConflictStyle, MergeLevel, TextChunk, TextConflict, TextMerge, TextMergeOptions, merge_text,
};

/// The command line of `shelfmark merge-file`, spelled as `git merge-file`'s.
#[derive(Debug, Clone, Args)]
#[command(
    about = "Three-way merge of one file, argument-compatible with `git merge-file`",
    long_about = "Merges the changes from <BASE> to <OTHER> into <CURRENT>.\n\n\
        Exit status: the number of conflicts (at most 127), 0 for a clean merge, \
        255 on error (missing, binary or non-UTF-8 input: nothing is written), 129 on a \
        usage error."
)]
pub struct MergeFileArgs {
    /// Send the result to standard output instead of overwriting CURRENT
    #[arg(short = 'p', long = "stdout")]
    pub stdout: bool,
    /// Show the base's version in conflicts too
    #[arg(long, overrides_with = "zdiff3")]
    pub diff3: bool,
    /// As --diff3, with lines common to both sides moved out of conflicts
    #[arg(long, overrides_with = "diff3")]
    pub zdiff3: bool,
    /// Resolve conflicts with our (current) version
    #[arg(long, overrides_with_all = ["theirs", "union"])]
    pub ours: bool,
    /// Resolve conflicts with their (other) version
    #[arg(long, overrides_with_all = ["ours", "union"])]
    pub theirs: bool,
    /// Resolve conflicts with both versions, ours first
    #[arg(long, overrides_with_all = ["ours", "theirs"])]
    pub union: bool,
    /// Length of the conflict markers (7 when 0 or less)
    #[arg(long = "marker-size", value_name = "N", allow_negative_numbers = true)]
    pub marker_size: Option<i64>,
    /// Do not warn about conflicts (and print no errors)
    #[arg(short = 'q', long)]
    pub quiet: bool,
    /// Label for CURRENT, then BASE, then OTHER (default: the file names)
    #[arg(short = 'L', value_name = "NAME", action = ArgAction::Append, allow_hyphen_values = true)]
    pub labels: Vec<String>,
    /// Our version; the result replaces it unless -p is given
    pub current: PathBuf,
    /// The common ancestor of both versions
    pub base: PathBuf,
    /// Their version
    pub other: PathBuf,
}

/// How conflicts are resolved without markers (`--ours`, `--theirs`, `--union`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Favor {
    Ours,
    Theirs,
    Union,
}

/// Everything that decides how a merge is written out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Markers {
    pub current: String,
    pub base: String,
    pub other: String,
    pub size: usize,
    pub style: ConflictStyle,
    pub favor: Option<Favor>,
}

impl MergeFileArgs {
    pub fn options(&self) -> TextMergeOptions {
        TextMergeOptions {
            level: MergeLevel::ZealousAlnum,
            style: self.style(),
        }
    }

    fn style(&self) -> ConflictStyle {
        if self.zdiff3 {
            ConflictStyle::ZealousDiff3
        } else if self.diff3 {
            ConflictStyle::Diff3
        } else {
            ConflictStyle::Merge
        }
    }

    pub fn markers(&self) -> Markers {
        let label = |index: usize, path: &Path| {
            self.labels
                .get(index)
                .cloned()
                .unwrap_or_else(|| path.to_string_lossy().into_owned())
        };
        Markers {
            current: label(0, &self.current),
            base: label(1, &self.base),
            other: label(2, &self.other),
            size: match self.marker_size {
                Some(n) if n > 0 => usize::try_from(n).unwrap_or(7),
                _ => 7,
            },
            style: self.style(),
            favor: if self.ours {
                Some(Favor::Ours)
            } else if self.theirs {
                Some(Favor::Theirs)
            } else if self.union {
                Some(Favor::Union)
            } else {
                None
            },
        }
    }
}

/// Runs the subcommand: reads, merges, writes, and returns git's exit status.
pub fn run(args: &MergeFileArgs) -> ExitCode {
    if args.labels.len() > 3 {
        // A usage error for git (status 129), like a wrong option.
        eprintln!("error: too many labels on the command line");
        return ExitCode::from(129);
    }
    match execute(args) {
        Ok(conflicts) => ExitCode::from(u8::try_from(conflicts.min(127)).unwrap_or(127)),
        Err(error) => {
            if !args.quiet {
                eprintln!("error: {error:#}");
            }
            ExitCode::from(255)
        }
    }
}

/// Does the work of [`run`]; the number of conflicts left in the output.
pub fn execute(args: &MergeFileArgs) -> anyhow::Result<usize> {
    if args.labels.len() > 3 {
        bail!("too many labels on the command line");
    }
    let current = read_text(&args.current)?;
    let base = read_text(&args.base)?;
    let other = read_text(&args.other)?;
    let merge = merge_text(&base, &current, &other, args.options());
    let markers = args.markers();
    if args.stdout {
        let mut stdout = std::io::BufWriter::with_capacity(1 << 16, std::io::stdout().lock());
        write_merge(&merge, &markers, &mut stdout)
            .and_then(|()| stdout.flush())
            .context("could not write to standard output")?;
    } else {
        let mut output = Vec::with_capacity(current.len() + other.len() / 8);
        write_merge(&merge, &markers, &mut output).context("could not render the merge")?;
        std::fs::write(&args.current, output)
            .with_context(|| format!("could not write {}", args.current.display()))?;
    }
    Ok(match markers.favor {
        Some(_) => 0,
        None => merge.conflict_count(),
    })
}

/// git reads a file as binary when its first 8000 bytes hold a NUL (`buffer_is_binary`).
const BINARY_PROBE: usize = 8000;

/// git refuses inputs over 1 GiB (`MAX_XDIFF_SIZE`) as binary; so do we.
const MAX_SIZE: usize = 1 << 30;

/// Reads one input, refusing what git would call binary and what is not UTF-8.
pub fn read_text(path: &Path) -> anyhow::Result<String> {
    let bytes =
        std::fs::read(path).with_context(|| format!("could not read {}", path.display()))?;
    if bytes.len() > MAX_SIZE || bytes[..bytes.len().min(BINARY_PROBE)].contains(&0) {
        bail!("cannot merge binary files: {}", path.display());
    }
    String::from_utf8(bytes).map_err(|error| {
        anyhow::anyhow!(
            "cannot merge {}: not UTF-8 text (invalid byte at offset {})",
            path.display(),
            error.utf8_error().valid_up_to()
        )
    })
}

/// Writes the merge as `git merge-file` would: resolved text as is, conflicts between
/// markers (or resolved by `favor`).
pub fn write_merge<W: Write>(
    merge: &TextMerge<'_>,
    markers: &Markers,
    out: &mut W,
) -> std::io::Result<()> {
    for chunk in merge.chunks() {
        match chunk {
            TextChunk::Resolved(text) => out.write_all(text.as_bytes())?,
            TextChunk::Conflict(conflict) => write_conflict(out, conflict, markers)?,
        }
    }
    Ok(())
}

fn write_conflict<W: Write>(
    out: &mut W,
    c: &TextConflict<'_>,
    markers: &Markers,
) -> std::io::Result<()> {
    let eol = c.line_ending.as_str();
    let side = |out: &mut W, text: &str, add_newline: bool| {
        out.write_all(text.as_bytes())?;
        if add_newline && !text.is_empty() && !text.ends_with('\n') {
            out.write_all(eol.as_bytes())?;
        }
        Ok::<(), std::io::Error>(())
    };
    let marker = |out: &mut W, ch: &str, label: Option<&str>| {
        out.write_all(ch.repeat(markers.size).as_bytes())?;
        if let Some(label) = label {
            out.write_all(b" ")?;
            out.write_all(label.as_bytes())?;
        }
        out.write_all(eol.as_bytes())
    };
    match markers.favor {
        Some(Favor::Ours) => side(out, c.mine, false),
        Some(Favor::Theirs) => side(out, c.theirs, false),
        Some(Favor::Union) => {
            side(out, c.mine, true)?;
            side(out, c.theirs, false)
        }
        None => {
            marker(out, "<", Some(&markers.current))?;
            side(out, c.mine, true)?;
            if markers.style != ConflictStyle::Merge {
                marker(out, "|", Some(&markers.base))?;
                side(out, c.base, true)?;
            }
            marker(out, "=", None)?;
            side(out, c.theirs, true)?;
            marker(out, ">", Some(&markers.other))
        }
    }
}
