//! The `shelfmark` command's subcommands, as a library so that tests and benchmarks can drive
//! them and the binary stays a thin dispatcher.
//!
//! Each subcommand is a module with a clap `Args` struct and a `run` function returning the
//! process exit code. Only `merge-file` exists so far; `sync` and `status` will sit beside it.

pub mod merge_file;
