//! `shelfmark`: the headless client and tools. This file only parses the command line and
//! dispatches to the subcommands in the library.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use shelfmark_cli::session::Cache;
use shelfmark_cli::{CliError, catalogue, circulation, conflicts, hold, login, merge_file, sync};
use shelfmark_client::{CertificateProblem, ClientError};

#[derive(Debug, Parser)]
#[command(
    name = "shelfmark",
    version,
    about = "Shelfmark's headless client and tools"
)]
struct Cli {
    /// The offline cache to work on (default: shelfmark/cache.db in the data directory).
    /// The session and, without a keyring, the token are kept beside it.
    #[arg(long, env = "SHELFMARK_CACHE", value_name = "PATH")]
    cache: Option<PathBuf>,
    /// The library's own certificate authority (a PEM file), trusted besides the system's;
    /// `login` keeps it for the commands after it.
    #[arg(long, global = true, env = "SHELFMARK_CA_CERT", value_name = "FILE")]
    ca_cert: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Three-way merge of one file, argument-compatible with `git merge-file`.
    MergeFile(merge_file::MergeFileArgs),
    /// Sign in to a library server (password from SHELFMARK_PASSWORD or a prompt).
    Login(login::LoginArgs),
    /// Sign out: end the session on the server and forget its token (pending edits stay in
    /// the cache).
    Logout,
    /// Pull the server's changes into the cache and push the pending edits.
    Sync(sync::SyncArgs),
    /// Counts of cached records, pending and failed edits, conflicts, and the last sync.
    Status(catalogue::StatusArgs),
    /// Search the cached catalogue (offline).
    Search(catalogue::SearchArgs),
    /// Show or edit one book (offline; edits go into the outbox).
    Book {
        #[command(subcommand)]
        command: catalogue::BookCommand,
    },
    /// The conflict inbox: base, mine, theirs and the open hunks of each.
    Conflicts(conflicts::ConflictsArgs),
    /// Scan at the circulation desk: `--patron CARD` then copies to check out, copies alone
    /// to check in (offline; changes queued for the next sync).
    Scan(circulation::ScanArgs),
    /// Bring records in at the desk (offline; new books queued for the next sync).
    Import {
        #[command(subcommand)]
        command: shelfmark_cli::import::ImportCommand,
    },
    /// Holds on books for patrons, and the hold shelf.
    Hold {
        #[command(subcommand)]
        command: hold::HoldCommand,
    },
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
    if let Command::MergeFile(args) = &cli.command {
        return merge_file::run(args);
    }
    match client_command(cli) {
        Ok(code) => code,
        Err(error) => {
            let untrusted = matches!(
                &error,
                CliError::Client(ClientError::Certificate {
                    problem: CertificateProblem::Untrusted,
                    ..
                })
            );
            eprintln!("shelfmark: {:#}", anyhow::Error::from(error));
            if untrusted {
                eprintln!(
                    "shelfmark: if the library runs its own certificate authority, give its CA \
                     file with --ca-cert FILE (or SHELFMARK_CA_CERT)"
                );
            }
            ExitCode::FAILURE
        }
    }
}

fn client_command(cli: Cli) -> Result<ExitCode, CliError> {
    let cache = Cache::new(cli.cache)?.trusting(cli.ca_cert);
    match &cli.command {
        Command::MergeFile(args) => return Ok(merge_file::run(args)),
        Command::Login(args) => login::login(&cache, args)?,
        Command::Logout => login::logout(&cache)?,
        Command::Sync(args) => sync::run(&cache, args)?,
        Command::Status(args) => catalogue::status(&cache, args)?,
        Command::Search(args) => catalogue::search(&cache, args)?,
        Command::Book { command } => catalogue::book(&cache, command)?,
        Command::Conflicts(args) => conflicts::run(&cache, args)?,
        Command::Scan(args) => {
            if !circulation::scan(&cache, args)? {
                return Ok(ExitCode::FAILURE);
            }
        }
        Command::Import { command } => shelfmark_cli::import::run(&cache, command)?,
        Command::Hold { command } => {
            if !hold::run(&cache, command)? {
                return Ok(ExitCode::FAILURE);
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}
