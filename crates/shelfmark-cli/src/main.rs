//! `shelfmark`: the headless client and tools. This file only parses the command line and
//! dispatches to the subcommands in the library.

use std::process::ExitCode;

use clap::{Parser, Subcommand};
use shelfmark_cli::merge_file;

#[derive(Debug, Parser)]
#[command(
    name = "shelfmark",
    version,
    about = "Shelfmark's headless client and tools"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Three-way merge of one file, argument-compatible with `git merge-file`.
    MergeFile(merge_file::MergeFileArgs),
}

/// git exits with 129 on a usage error; so do we, since `merge-file` stands in for git's.
const USAGE_ERROR: u8 = 129;

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(error) => {
            let _ = error.print();
            return if error.use_stderr() {
                ExitCode::from(USAGE_ERROR)
            } else {
                ExitCode::SUCCESS
            };
        }
    };
    match cli.command {
        Command::MergeFile(args) => merge_file::run(&args),
    }
}
