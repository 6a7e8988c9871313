// Keeps a console window from opening next to the app on Windows release builds.
#![cfg_attr(not(debug_assertions), windows_subsystem = "windows")]

fn main() {
    if let Err(message) = shelfmark_desktop::check_display() {
        eprintln!("{message}");
        std::process::exit(2);
    }
    if let Err(e) = shelfmark_desktop::run() {
        eprintln!("shelfmark: {e:#}");
        std::process::exit(1);
    }
}
