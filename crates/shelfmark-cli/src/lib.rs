//! The `shelfmark` command's subcommands, as a library so that tests and benchmarks can drive
//! them and the binary stays a thin dispatcher.
//!
//! Each subcommand is a module with a clap `Args` struct (or subcommand enum) and a `run`
//! function. `merge-file` stands in for git's and returns git's exit statuses; the client
//! commands (`login`, `sync`, `status`, `search`, `book`, `conflicts`, `hold`, `scan`, `import`) work on one
//! offline cache ([`session::Cache`]) and return a typed [`CliError`].

pub mod catalogue;
pub mod circulation;
pub mod conflicts;
mod error;
pub mod hold;
pub mod import;
pub mod login;
pub mod merge_file;
pub mod session;
pub mod sync;

pub use error::CliError;
