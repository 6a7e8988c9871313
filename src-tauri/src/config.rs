//! Where the app finds its server and cache. Until the sign-in screen exists, the server and
//! the account come from the environment (the README's run command sets them).

use std::path::PathBuf;
use std::time::Duration;

use shelfmark_client::desk::Settings;

/// The app's settings.
#[derive(Debug, Clone)]
pub(crate) struct Config {
    /// The library server and account (`SHELFMARK_SERVER_URL`, `SHELFMARK_USERNAME`,
    /// `SHELFMARK_PASSWORD`), the library's CA file (`SHELFMARK_CA_CERT`), and the seconds
    /// between background syncs
    /// (`SHELFMARK_SYNC_INTERVAL`, default 30).
    pub(crate) desk: Settings,
    /// Where the cache lives (`SHELFMARK_DATA_DIR`; default: the OS's app data folder).
    pub(crate) data_dir: Option<PathBuf>,
    /// `SHELFMARK_STARTUP_PROBE`: say on stdout when the catalogue is first visible (`probe`).
    pub(crate) startup_probe: bool,
}

impl Config {
    pub(crate) fn from_env() -> anyhow::Result<Config> {
        let var = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
        let sync_interval = match var("SHELFMARK_SYNC_INTERVAL") {
            None => Duration::from_secs(30),
            Some(s) => Duration::from_secs(s.parse::<u64>().map_err(|_| {
                anyhow::anyhow!("SHELFMARK_SYNC_INTERVAL must be a number of seconds, not {s:?}")
            })?),
        };
        Ok(Config {
            desk: Settings {
                server_url: var("SHELFMARK_SERVER_URL"),
                username: var("SHELFMARK_USERNAME"),
                password: var("SHELFMARK_PASSWORD"),
                ca_cert: var("SHELFMARK_CA_CERT").map(PathBuf::from),
                sync_interval: sync_interval.max(Duration::from_secs(1)),
            },
            data_dir: var("SHELFMARK_DATA_DIR").map(PathBuf::from),
            startup_probe: var("SHELFMARK_STARTUP_PROBE").is_some(),
        })
    }
}
