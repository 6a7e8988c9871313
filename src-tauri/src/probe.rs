//! The startup probe, for the startup benchmark (`tests/benches/startup.rs`; BENCHMARKS.md,
//! "Desktop start and memory"). With `SHELFMARK_STARTUP_PROBE` set, the app prints
//! [`CATALOGUE_VISIBLE`] on its standard output, once, when the catalogue's first rows are on
//! screen: the catalogue calls [`catalogue_visible`] two animation frames after it rendered
//! them. Without the variable the command does nothing (one no-op call each time the
//! catalogue opens).

use std::io::Write as _;
use std::sync::atomic::{AtomicBool, Ordering};

/// The line the benchmark waits for.
pub(crate) const CATALOGUE_VISIBLE: &str = "shelfmark: catalogue visible";

/// Whether the probe is on, and whether it has spoken.
#[derive(Debug)]
pub(crate) struct Probe {
    enabled: bool,
    said: AtomicBool,
}

impl Probe {
    pub(crate) fn new(enabled: bool) -> Probe {
        Probe {
            enabled,
            said: AtomicBool::new(false),
        }
    }

    /// The line to print now, if any: the first call only, and only when enabled.
    fn line(&self) -> Option<&'static str> {
        (self.enabled && !self.said.swap(true, Ordering::Relaxed)).then_some(CATALOGUE_VISIBLE)
    }
}

/// The catalogue's first rows are painted.
#[tauri::command]
pub(crate) async fn catalogue_visible(
    probe: tauri::State<'_, Probe>,
) -> Result<(), crate::commands::CommandError> {
    if let Some(line) = probe.line() {
        let mut out = std::io::stdout().lock();
        let _ = writeln!(out, "{line}").and_then(|()| out.flush());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::{CATALOGUE_VISIBLE, Probe};

    #[test]
    fn the_probe_speaks_once_and_only_when_enabled() {
        let off = Probe::new(false);
        assert_eq!(off.line(), None);
        let on = Probe::new(true);
        assert_eq!(on.line(), Some(CATALOGUE_VISIBLE));
        assert_eq!(
            on.line(),
            None,
            "a second render (another view) says nothing"
        );
    }
}
