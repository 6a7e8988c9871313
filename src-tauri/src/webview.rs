//! The main window's web view settings.
//!
//! On Linux (WebKitGTK) the page is drawn without GPU compositing
//! (`HardwareAccelerationPolicy::Never`). The window shows text, a list and forms, which the
//! CPU paints quickly; compositing would keep a GL context and its buffers in both the app's
//! process and WebKit's web process (on a machine without a GPU, Mesa's software renderer):
//! about 80 MB of the app's memory, and a fifth of its start-up time (BENCHMARKS.md, "Desktop
//! start and memory"). Other systems keep their defaults.
//!
//! Under WebDriver (the end-to-end tests) the web view keeps compositing: WebKitGTK 2.50 never
//! answers a WebDriver screenshot request without it.

/// Applies the settings to the main window's web view (called from `setup`, once the window
/// exists).
#[cfg(target_os = "linux")]
pub(crate) fn configure(app: &tauri::App) -> anyhow::Result<()> {
    use anyhow::Context as _;
    use tauri::Manager as _;
    use webkit2gtk::{HardwareAccelerationPolicy, SettingsExt as _, WebViewExt as _};

    let window = app
        .get_webview_window("main")
        .context("the main window is missing")?;
    window.with_webview(|webview| {
        let view = webview.inner();
        if view.is_controlled_by_automation() {
            return;
        }
        if let Some(settings) = view.settings() {
            settings.set_hardware_acceleration_policy(HardwareAccelerationPolicy::Never);
        }
    })?;
    Ok(())
}

#[cfg(not(target_os = "linux"))]
pub(crate) fn configure(_app: &tauri::App) -> anyhow::Result<()> {
    Ok(())
}
