//! The Shelfmark desktop shell: window set-up, the commands the UI calls, and the events it
//! listens to (declared once in `ipc.rs`). It only wires things together: the cache is
//! `shelfmark-store`, the sync engine and its loop `shelfmark-client` (`desk::Desk`), the
//! rules `shelfmark-core`; nothing here holds business rules. Only this crate knows Tauri.

mod commands;
mod config;
mod escalations;
mod history;
mod imports;
mod ipc;
mod log;
mod merge;
mod probe;
mod webview;

// For tests/ipc.rs: the command list, and the walk the TypeScript map is written from.
#[doc(hidden)]
pub use ipc::{COMMANDS, Describe, PARAMETERS, describe};

use std::sync::{Arc, Mutex};

use anyhow::Context as _;
use shelfmark_client::desk::{Desk, Happened};
use tauri::{AppHandle, Manager as _};

use crate::commands::Progress;
use crate::ipc::SyncStatusChanged;

/// Fails with a plain explanation when there is no display to open a window on.
pub fn check_display() -> Result<(), String> {
    display_check(cfg!(target_os = "linux"), |name| {
        std::env::var_os(name).is_some()
    })
}

fn display_check(linux: bool, is_set: impl Fn(&str) -> bool) -> Result<(), String> {
    if linux && !is_set("DISPLAY") && !is_set("WAYLAND_DISPLAY") {
        return Err(
            "Shelfmark needs a graphical display, and this session has none \
                    (neither DISPLAY nor WAYLAND_DISPLAY is set).\n\
                    On a machine without a screen, run it under a virtual display:\n  \
                    Xvfb :99 -screen 0 1280x800x24 -nolisten tcp &\n  \
                    DISPLAY=:99 make run"
                .into(),
        );
    }
    Ok(())
}

/// Shows a desktop notification (a failure is logged: the window shows the same news).
fn notify(app: &AppHandle, notice: shelfmark_core::arrivals::Notice) {
    use tauri_plugin_notification::NotificationExt as _;
    let shown = app.notification().builder().title(&notice.title);
    if let Err(e) = shown.body(notice.body).show() {
        tracing::warn!("cannot show the notification “{}”: {e}", notice.title);
    }
}

/// Shows what the desk reports: the status bar (`sync-status`), the progress bar (the
/// channel `watch_sync` gave), desktop notifications.
fn show(app: &AppHandle, happened: Happened) {
    match happened {
        Happened::Status(status) => SyncStatusChanged::emit(app, &status),
        Happened::Step(event) => app.state::<Progress>().send(event),
        Happened::Notice(notice) => notify(app, notice),
    }
}

/// Starts the app and blocks until its window closes.
pub fn run() -> anyhow::Result<()> {
    let log = log::start();
    let about = commands::AboutApp {
        version: env!("CARGO_PKG_VERSION").to_owned(),
        log_folder: log.folder.as_ref().map(|f| f.display().to_string()),
    };
    tracing::info!(version = %about.version, log = ?about.log_folder, "Shelfmark starts");
    let config = config::Config::from_env()?;
    tauri::Builder::default()
        .plugin(tauri_plugin_notification::init())
        .plugin(tauri_plugin_dialog::init())
        .manage(probe::Probe::new(config.startup_probe))
        .manage(Progress::default())
        .manage(about)
        .invoke_handler(ipc::handler())
        .setup(move |app| {
            webview::configure(app)?;
            let data_dir = match &config.data_dir {
                Some(dir) => dir.clone(),
                None => app
                    .path()
                    .app_data_dir()
                    .context("no data directory for the cache")?,
            };
            std::fs::create_dir_all(&data_dir)
                .with_context(|| format!("cannot create {}", data_dir.display()))?;
            let cache = data_dir.join("cache.db");
            let store = shelfmark_store::Store::open(&cache)
                .with_context(|| format!("cannot open the cache {}", cache.display()))?;
            let desk = Desk::new(Arc::new(Mutex::new(store)), config.desk.clone(), data_dir);
            app.manage(desk.clone());
            commands::read_first_screen_ahead(&desk);
            let handle = app.handle().clone();
            tauri::async_runtime::spawn(desk.run(move |happened| show(&handle, happened)));
            Ok(())
        })
        .run(tauri::generate_context!())
        .context("the window system failed")?;
    drop(log);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::display_check;

    #[test]
    fn without_a_display_the_app_explains_how_to_use_xvfb() {
        let message = display_check(true, |_| false).expect_err("no display");
        assert!(
            message.contains("Xvfb :99") && message.contains("DISPLAY=:99"),
            "{message}"
        );
    }

    #[test]
    fn an_x11_or_wayland_display_is_enough() {
        assert!(display_check(true, |name| name == "DISPLAY").is_ok());
        assert!(display_check(true, |name| name == "WAYLAND_DISPLAY").is_ok());
        assert!(
            display_check(false, |_| false).is_ok(),
            "other systems always have one"
        );
    }
}
