//! The app's log, for the support person who asks for it: every line goes to stderr, as
//! before, and to a file in the user's XDG state folder (`~/.local/state/org.shelfmark.desktop/`,
//! `$XDG_STATE_HOME` when set), a new file each day and the last seven kept (tracing-appender's
//! rolling writer, off the logging thread). The About box names the folder. Nothing logs a
//! token or a password: the client sends them and never formats them.

use std::path::PathBuf;

use tracing_appender::non_blocking::WorkerGuard;
use tracing_appender::rolling::{Builder, Rotation};
use tracing_subscriber::layer::SubscriberExt as _;
use tracing_subscriber::util::SubscriberInitExt as _;
use tracing_subscriber::{EnvFilter, Layer as _, fmt};

/// tauri.conf.json's `identifier`: the app's folders are named after it. Logging starts before
/// Tauri has read its configuration, so it is written here too (a test checks they agree).
pub(crate) const IDENTIFIER: &str = "org.shelfmark.desktop";

/// Days of log kept.
const KEPT_FILES: usize = 7;

/// Where the log goes; its file is written until this is dropped (at the app's end).
pub(crate) struct Log {
    /// The folder of the log files, when one could be made.
    pub(crate) folder: Option<PathBuf>,
    _flush: Option<WorkerGuard>,
}

fn filter() -> EnvFilter {
    EnvFilter::try_from_default_env().unwrap_or_else(|_| "info,shelfmark=debug".into())
}

/// Starts logging to stderr and, when the state folder can be written, to the log file.
pub(crate) fn start() -> Log {
    let folder = dirs::state_dir().map(|d| d.join(IDENTIFIER));
    let file = folder.as_ref().and_then(|folder| {
        // Made first: the writer's pruning of old files reads the folder before its first file.
        if let Err(e) = std::fs::create_dir_all(folder) {
            eprintln!("shelfmark: no log file in {}: {e}", folder.display());
            return None;
        }
        Builder::new()
            .rotation(Rotation::DAILY)
            .filename_prefix("shelfmark")
            .filename_suffix("log")
            .max_log_files(KEPT_FILES)
            .build(folder)
            .map_err(|e| eprintln!("shelfmark: no log file in {}: {e}", folder.display()))
            .ok()
    });
    let (file_layer, flush) = match file {
        Some(file) => {
            let (writer, flush) = tracing_appender::non_blocking(file);
            let layer = fmt::layer()
                .with_ansi(false)
                .with_writer(writer)
                .with_filter(filter());
            (Some(layer), Some(flush))
        }
        None => (None, None),
    };
    tracing_subscriber::registry()
        .with(
            fmt::layer()
                .with_writer(std::io::stderr)
                .with_filter(filter()),
        )
        .with(file_layer)
        .init();
    Log {
        folder: flush.as_ref().and(folder),
        _flush: flush,
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_log_folder_is_named_after_the_app_s_identifier() {
        let conf: serde_json::Value =
            serde_json::from_str(include_str!("../tauri.conf.json")).expect("JSON");
        assert_eq!(conf["identifier"], super::IDENTIFIER);
    }
}
