//! `shelfmark import marc FILE`: a vendor's MARC records loaded at the desk, with or without
//! a network. It previews first (how many are new, how many the catalogue already has by
//! ISBN or record, how many are rejected and why), then queues each new book in the outbox as
//! an offline create for the next `shelfmark sync`. `--dry-run` stops after the preview.

use std::io::IsTerminal;
use std::path::PathBuf;

use clap::{Args, Subcommand};
use indicatif::{ProgressBar, ProgressStyle};
use serde::Serialize;
use shelfmark_client::marc::read_marc_file;

use crate::CliError;
use crate::session::Cache;

#[derive(Debug, Subcommand)]
pub enum ImportCommand {
    /// MARC 21 records (ISO 2709 or MARCXML, UTF-8 or MARC-8) as new books.
    Marc(MarcArgs),
}

#[derive(Debug, Args)]
pub struct MarcArgs {
    pub file: PathBuf,
    /// Only say what the import would do.
    #[arg(long)]
    pub dry_run: bool,
    /// Print the outcome as JSON.
    #[arg(long)]
    pub json: bool,
}

/// `import marc --json`.
#[derive(Serialize)]
struct Report<'a> {
    new: usize,
    known: usize,
    rejected: &'a [shelfmark_store::RejectedRecord],
    queued: usize,
}

pub fn run(cache: &Cache, command: &ImportCommand) -> Result<(), CliError> {
    let ImportCommand::Marc(args) = command;
    let candidates = read_marc_file(&args.file)?;
    let mut store = cache.open()?;
    let preview = store.preview_import(candidates)?;
    if !args.json {
        println!(
            "{} new, {} already in the catalogue, {} rejected",
            preview.new.len(),
            preview.known.len(),
            preview.rejected.len()
        );
        for r in &preview.rejected {
            let number = r.control_number.as_deref().unwrap_or("no 001");
            println!("  record {} ({number}): {}", r.position, r.reason);
        }
    }
    let queued = if args.dry_run {
        0
    } else {
        let bar = if std::io::stderr().is_terminal() && !args.json {
            ProgressBar::new(preview.new.len() as u64)
        } else {
            ProgressBar::hidden()
        };
        bar.set_style(
            ProgressStyle::with_template("{bar:40} {pos}/{len} queued")
                .unwrap_or_else(|_| ProgressStyle::default_bar()),
        );
        let queued = store.queue_imports(&preview.new, |n| bar.set_position(n as u64))?;
        bar.finish_and_clear();
        queued
    };
    if args.json {
        let report = Report {
            new: preview.new.len(),
            known: preview.known.len(),
            rejected: &preview.rejected,
            queued,
        };
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else if !args.dry_run {
        println!("{queued} book(s) queued; `shelfmark sync` sends them to the server");
    }
    Ok(())
}
