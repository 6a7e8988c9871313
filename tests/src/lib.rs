//! The harness for Shelfmark's cross-crate and end-to-end tests: starts the real
//! `shelfmark-server` binary with demo data on a free loopback port, a virtual display (Xvfb),
//! and the real desktop app under `tauri-driver` for WebDriver, and saves screenshots.
//!
//! The binaries are taken from the same target folder as the running test
//! (`cargo build -p shelfmark-server -p shelfmark-desktop` first; `make test` does).

use std::io::{BufRead as _, BufReader};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};

/// The password the demo users get in tests.
pub const DEMO_PASSWORD: &str = "e2e-demo-password";

/// The folder holding the workspace's binaries: the test executable lives in `<it>/deps/`.
pub fn bin_dir() -> anyhow::Result<PathBuf> {
    let exe = std::env::current_exe().context("no path for the test executable")?;
    exe.parent()
        .and_then(Path::parent)
        .map(Path::to_path_buf)
        .context("the test executable is not inside a target folder")
}

/// A binary of the workspace, with a clear message when it was not built.
pub fn workspace_bin(name: &str) -> anyhow::Result<PathBuf> {
    let path = bin_dir()?.join(name);
    if !path.is_file() {
        bail!(
            "{} is missing: build it first (`cargo build -p shelfmark-server -p shelfmark-desktop`, \
             or run `make test`)",
            path.display()
        );
    }
    Ok(path)
}

/// Sends SIGTERM (graceful stop) and waits a little, then kills.
fn terminate(child: &mut Child) {
    let _ = Command::new("kill")
        .arg("-TERM")
        .arg(child.id().to_string())
        .status();
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline {
        if let Ok(Some(_)) = child.try_wait() {
            return;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let _ = child.kill();
    let _ = child.wait();
}

/// A free loopback port (bound then released: good enough for a test's own processes).
pub fn free_port() -> anyhow::Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

/// Waits for `cond` to hold, checking every 50 ms, until `timeout`.
pub fn wait_for(
    timeout: Duration,
    what: &str,
    mut cond: impl FnMut() -> bool,
) -> anyhow::Result<()> {
    let deadline = Instant::now() + timeout;
    while Instant::now() < deadline {
        if cond() {
            return Ok(());
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    bail!("timed out after {timeout:?} waiting for {what}")
}

/// The real `shelfmark-server` on a fresh SQLite database with `--demo` data.
pub struct DemoServer {
    child: Child,
    pub url: String,
    /// The folder of `.eml` files the server writes its mails to (no SMTP in tests).
    pub mail_spool: PathBuf,
    /// Holds the database and the mail spool; removed when the server is dropped.
    dir: tempfile::TempDir,
}

impl DemoServer {
    pub fn start() -> anyhow::Result<DemoServer> {
        let dir = tempfile::tempdir()?;
        let mail_spool = dir.path().join("mail-spool");
        let (child, url) = spawn_server(dir.path(), "127.0.0.1:0")?;
        Ok(DemoServer {
            child,
            url,
            mail_spool,
            dir,
        })
    }

    /// Stops the server (SIGTERM, as an admin would), keeping its database.
    pub fn stop(&mut self) {
        terminate(&mut self.child);
    }

    /// Starts the server again on the same database and the same address.
    pub fn restart(&mut self) -> anyhow::Result<()> {
        terminate(&mut self.child);
        let listen = self.url.trim_start_matches("http://").to_owned();
        let (child, url) = spawn_server(self.dir.path(), &listen)?;
        self.child = child;
        self.url = url;
        Ok(())
    }
}

/// Starts `shelfmark-server --demo` on the database in `dir`, listening on `listen`; returns
/// the process and the URL it announced.
fn spawn_server(dir: &Path, listen: &str) -> anyhow::Result<(Child, String)> {
    let db = dir.join("server.db");
    let mut child = Command::new(workspace_bin("shelfmark-server")?)
        .args(["--listen", listen, "--demo", "--database"])
        .arg(format!("sqlite://{}", db.display()))
        .arg("--mail-spool")
        .arg(dir.join("mail-spool"))
        .env("SHELFMARK_DEMO_PASSWORD", DEMO_PASSWORD)
        .env_remove("SHELFMARK_SMTP_URL")
        .env(
            "RUST_LOG",
            std::env::var("RUST_LOG").unwrap_or_else(|_| "warn".into()),
        )
        .env_remove("SHELFMARK_DATABASE_URL")
        .env_remove("SHELFMARK_LISTEN")
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .context("cannot start shelfmark-server")?;
    let stdout = child.stdout.take().context("no stdout")?;
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if let Some(url) = line.strip_prefix("shelfmark-server listening on ") {
                let _ = tx.send(url.trim().to_owned());
            }
        }
    });
    match rx.recv_timeout(Duration::from_secs(120)) {
        Ok(url) => Ok((child, url)),
        Err(_) => {
            terminate(&mut child);
            bail!("shelfmark-server did not say it was listening within 120 s")
        }
    }
}

impl Drop for DemoServer {
    fn drop(&mut self) {
        terminate(&mut self.child);
    }
}

/// A virtual X display of our own, so tests neither need nor disturb a real screen.
pub struct Xvfb {
    child: Child,
    pub display: String,
}

impl Xvfb {
    pub fn start() -> anyhow::Result<Xvfb> {
        for n in 90..190 {
            if Path::new(&format!("/tmp/.X11-unix/X{n}")).exists()
                || Path::new(&format!("/tmp/.X{n}-lock")).exists()
            {
                continue;
            }
            let display = format!(":{n}");
            let mut child = Command::new("Xvfb")
                .args([
                    display.as_str(),
                    "-screen",
                    "0",
                    "1280x800x24",
                    "-nolisten",
                    "tcp",
                ])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .context("cannot start Xvfb (Debian package xvfb; `make test` installs it)")?;
            let socket = format!("/tmp/.X11-unix/X{n}");
            let up = wait_for(Duration::from_secs(10), "Xvfb's socket", || {
                Path::new(&socket).exists() || matches!(child.try_wait(), Ok(Some(_)))
            });
            if up.is_ok() && matches!(child.try_wait(), Ok(None)) {
                return Ok(Xvfb { child, display });
            }
            terminate(&mut child);
        }
        bail!("no free X display between :90 and :189")
    }
}

impl Drop for Xvfb {
    fn drop(&mut self) {
        terminate(&mut self.child);
    }
}

/// Whether a failed WebDriver session request only met a driver that was not listening yet.
fn is_not_ready(e: &fantoccini::error::NewSessionError) -> bool {
    use fantoccini::error::NewSessionError;
    matches!(
        e,
        NewSessionError::Failed(_) | NewSessionError::FailedC(_) | NewSessionError::Lost(_)
    )
}

/// Where screenshots go: `$SHELFMARK_SCREENSHOT_DIR`, else `target/e2e-screenshots/` at the
/// repository's root (whatever `CARGO_TARGET_DIR` is).
pub fn screenshot_dir() -> PathBuf {
    match std::env::var_os("SHELFMARK_SCREENSHOT_DIR") {
        Some(dir) => PathBuf::from(dir),
        None => Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/e2e-screenshots"),
    }
}

/// The real desktop app, driven over WebDriver (tauri-driver + WebKitWebDriver).
pub struct Desktop {
    pub client: fantoccini::Client,
    driver: Child,
    test: String,
    _data: tempfile::TempDir,
}

impl Desktop {
    /// Starts the app signed in to `server` as `user`, on `xvfb`'s display.
    pub async fn launch(
        test: &str,
        server: &DemoServer,
        xvfb: &Xvfb,
        user: &str,
    ) -> anyhow::Result<Desktop> {
        Self::launch_with(
            test,
            xvfb,
            &[
                ("SHELFMARK_SERVER_URL", server.url.as_str()),
                ("SHELFMARK_USERNAME", user),
                ("SHELFMARK_PASSWORD", DEMO_PASSWORD),
            ],
        )
        .await
    }

    /// Starts the app with the given environment (server, account...) on `xvfb`'s display.
    pub async fn launch_with(
        test: &str,
        xvfb: &Xvfb,
        env: &[(&str, &str)],
    ) -> anyhow::Result<Desktop> {
        let app = workspace_bin("shelfmark-desktop")?;
        let data = tempfile::tempdir()?;
        let port = free_port()?;
        let native_port = free_port()?;
        let mut driver = Command::new("tauri-driver")
            .args([
                "--port",
                &port.to_string(),
                "--native-port",
                &native_port.to_string(),
            ])
            .env("DISPLAY", &xvfb.display)
            .env_remove("WAYLAND_DISPLAY")
            .env_remove("SHELFMARK_SERVER_URL")
            .env_remove("SHELFMARK_USERNAME")
            .env_remove("SHELFMARK_PASSWORD")
            // Tests never touch a developer's real keyring.
            .env("SHELFMARK_CREDENTIAL_STORE", "file")
            .envs(env.iter().copied())
            .env("SHELFMARK_DATA_DIR", data.path())
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .context(
                "cannot start tauri-driver (`cargo install tauri-driver`; `make test` does)",
            )?;
        let webdriver = format!("http://127.0.0.1:{port}");
        if let Err(e) = wait_for(Duration::from_secs(20), "tauri-driver's port", || {
            std::net::TcpStream::connect(("127.0.0.1", port)).is_ok()
        }) {
            terminate(&mut driver);
            return Err(e);
        }
        let mut caps = serde_json::Map::new();
        caps.insert("browserName".into(), "wry".into());
        caps.insert(
            "tauri:options".into(),
            serde_json::json!({ "application": app.to_string_lossy() }),
        );
        // tauri-driver accepts connections before its WebKitWebDriver is ready: a session
        // request that meets no answer is tried again for a while.
        let deadline = std::time::Instant::now() + Duration::from_secs(30);
        let client = loop {
            match fantoccini::ClientBuilder::rustls()?
                .capabilities(caps.clone())
                .connect(&webdriver)
                .await
            {
                Ok(c) => break c,
                Err(e) if std::time::Instant::now() < deadline && is_not_ready(&e) => {
                    tokio::time::sleep(Duration::from_millis(300)).await;
                }
                Err(e) => {
                    terminate(&mut driver);
                    bail!("cannot open a WebDriver session on the app: {e}");
                }
            }
        };
        Ok(Desktop {
            client,
            driver,
            test: test.to_owned(),
            _data: data,
        })
    }

    /// Saves what the window shows now as `<dir>/<test>-<step>.png`.
    pub async fn screenshot(&self, step: &str) -> anyhow::Result<PathBuf> {
        // A screenshot can lag the DOM by a frame: let two frames render first.
        self.client
            .execute_async(
                "const done = arguments[0]; \
                 requestAnimationFrame(() => requestAnimationFrame(() => done(null)));",
                vec![],
            )
            .await?;
        let png = self.client.screenshot().await?;
        let dir = screenshot_dir();
        std::fs::create_dir_all(&dir)?;
        let path = dir.join(format!("{}-{step}.png", self.test));
        std::fs::write(&path, png)?;
        Ok(path)
    }

    /// Ends the WebDriver session (closing the app) and stops tauri-driver.
    pub async fn close(mut self) -> anyhow::Result<()> {
        let result = self.client.clone().close().await;
        terminate(&mut self.driver);
        result.map_err(Into::into)
    }
}

impl Drop for Desktop {
    fn drop(&mut self) {
        // SIGTERM, never SIGKILL: only then does tauri-driver stop its WebKitWebDriver child.
        terminate(&mut self.driver);
    }
}
