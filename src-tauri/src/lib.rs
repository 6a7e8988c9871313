//! The Shelfmark desktop shell: window set-up, the commands the UI calls, and the events it
//! listens to. It only wires things together: the cache is `shelfmark-store`, the sync engine
//! `shelfmark-client`; nothing here holds business rules. Only this crate knows Tauri.

mod commands;
mod config;
mod sync;

use std::sync::{Arc, Mutex};

use anyhow::Context as _;
use tauri::Manager as _;

/// Fails with a plain explanation when there is no display to open a window on.
pub fn check_display() -> Result<(), String> {
    if cfg!(target_os = "linux")
        && std::env::var_os("DISPLAY").is_none()
        && std::env::var_os("WAYLAND_DISPLAY").is_none()
    {
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

/// Starts the app and blocks until its window closes.
pub fn run() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| "info,shelfmark=debug".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    let config = config::Config::from_env()?;
    tauri::Builder::default()
        .invoke_handler(tauri::generate_handler![
            commands::list_books,
            commands::sync_status,
            commands::sync_now,
        ])
        .setup(move |app| {
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
            let engine = sync::Engine::new(Arc::new(Mutex::new(store)), config.clone());
            app.manage(engine.clone());
            tauri::async_runtime::spawn(engine.run(app.handle().clone()));
            Ok(())
        })
        .run(tauri::generate_context!())
        .context("the window system failed")?;
    Ok(())
}
