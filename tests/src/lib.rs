//! The harness for Shelfmark's cross-crate and end-to-end tests: starts the real
//! `shelfmark-server` binary with demo data on a free loopback port (with, when a test reads
//! the mail, a real SMTP server on loopback for it to deliver to), a virtual display (Xvfb),
//! and the real desktop app under `tauri-driver` for WebDriver, and saves screenshots.
//!
//! The binaries are taken from the same target folder as the running test
//! (`cargo build -p shelfmark-server -p shelfmark-desktop` first; `make test` does). The SMTP
//! server is aiosmtpd, installed by `scripts/setup.sh --test`.

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
    if let Ok(Some(_)) = child.try_wait() {
        return;
    }
    let _ = Command::new("kill")
        .arg("-TERM")
        .arg(child.id().to_string())
        .stderr(Stdio::null())
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

/// The address the server sends the manager's mails to in tests.
pub const MANAGER_EMAIL: &str = "manager@library.example";

/// The real `shelfmark-server` on a fresh SQLite database with `--demo` data.
pub struct DemoServer {
    child: Child,
    pub url: String,
    /// Where its mail goes when the test reads it ([`DemoServer::start_with_smtp`]); without
    /// it, mails are written to a spool folder inside `dir` and nobody reads them.
    smtp: Option<SmtpServer>,
    /// Holds the database (and the mail spool); removed when the server is dropped.
    dir: tempfile::TempDir,
}

impl DemoServer {
    /// The server, its mails written to a spool folder nobody reads.
    pub fn start() -> anyhow::Result<DemoServer> {
        Self::start_inner(None)
    }

    /// The server delivering its mails over SMTP to a real SMTP server on loopback (aiosmtpd),
    /// the manager's to [`MANAGER_EMAIL`]; [`DemoServer::mails_to`] reads what arrived.
    pub fn start_with_smtp() -> anyhow::Result<DemoServer> {
        Self::start_inner(Some(SmtpServer::start()?))
    }

    fn start_inner(smtp: Option<SmtpServer>) -> anyhow::Result<DemoServer> {
        let dir = tempfile::tempdir()?;
        let smtp_url = smtp.as_ref().map(SmtpServer::url);
        let (child, url) = spawn_server(dir.path(), "127.0.0.1:0", smtp_url.as_deref())?;
        Ok(DemoServer {
            child,
            url,
            smtp,
            dir,
        })
    }

    /// Every mail the SMTP server received so far for `address` (its envelope recipient), in
    /// the order they arrived. An error when the server was started without SMTP.
    pub fn mails_to(&self, address: &str) -> anyhow::Result<Vec<Mail>> {
        let smtp = self.smtp.as_ref().context(
            "this server delivers no mail over SMTP: start it with DemoServer::start_with_smtp",
        )?;
        Ok(smtp
            .mails()?
            .into_iter()
            .filter(|m| {
                m.envelope_to
                    .iter()
                    .any(|to| to.eq_ignore_ascii_case(address))
            })
            .collect())
    }

    /// Every mail the SMTP server received so far, whoever it was for.
    pub fn all_mails(&self) -> anyhow::Result<Vec<Mail>> {
        self.smtp
            .as_ref()
            .context(
                "this server delivers no mail over SMTP: start it with DemoServer::start_with_smtp",
            )?
            .mails()
    }

    /// Stops the server (SIGTERM, as an admin would), keeping its database.
    pub fn stop(&mut self) {
        terminate(&mut self.child);
    }

    /// Starts the server again on the same database, the same address and the same mail.
    pub fn restart(&mut self) -> anyhow::Result<()> {
        terminate(&mut self.child);
        let listen = self.url.trim_start_matches("http://").to_owned();
        let smtp_url = self.smtp.as_ref().map(SmtpServer::url);
        let (child, url) = spawn_server(self.dir.path(), &listen, smtp_url.as_deref())?;
        self.child = child;
        self.url = url;
        Ok(())
    }
}

/// Starts `shelfmark-server --demo` on the database in `dir`, listening on `listen`, its mail
/// going to `smtp_url` (else to a spool folder in `dir`); returns the process and the URL it
/// announced.
fn spawn_server(
    dir: &Path,
    listen: &str,
    smtp_url: Option<&str>,
) -> anyhow::Result<(Child, String)> {
    let db = dir.join("server.db");
    let mut command = Command::new(workspace_bin("shelfmark-server")?);
    command
        .args(["--listen", listen, "--demo", "--database"])
        .arg(format!("sqlite://{}", db.display()));
    match smtp_url {
        Some(url) => command.args(["--smtp-url", url, "--manager-email", MANAGER_EMAIL]),
        None => command.arg("--mail-spool").arg(dir.join("mail-spool")),
    };
    let mut child = command
        // No settings from a machine's own /etc/shelfmark/server.toml (an installed package).
        .env("SHELFMARK_CONFIG", "/dev/null")
        .env("SHELFMARK_DEMO_PASSWORD", DEMO_PASSWORD)
        .env_remove("SHELFMARK_SMTP_URL")
        .env_remove("SHELFMARK_MANAGER_EMAIL")
        .env_remove("SHELFMARK_MAIL_FROM")
        .env_remove("SHELFMARK_MAIL_SPOOL")
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
        // The server first (its last delivery may still be talking to the SMTP server); the
        // SMTP server and the folder go with the fields.
        terminate(&mut self.child);
    }
}

/// The aiosmtpd command: `$SHELFMARK_TEST_AIOSMTPD`, else on the PATH, else where
/// `scripts/setup.sh --test` installs it (`$SHELFMARK_TOOLS_DIR/bin`, by default
/// `~/.cache/shelfmark/tools/bin`).
fn aiosmtpd() -> anyhow::Result<PathBuf> {
    if let Some(path) = std::env::var_os("SHELFMARK_TEST_AIOSMTPD") {
        return Ok(path.into());
    }
    let mut candidates: Vec<PathBuf> = std::env::var_os("PATH")
        .map(|p| {
            std::env::split_paths(&p)
                .map(|d| d.join("aiosmtpd"))
                .collect()
        })
        .unwrap_or_default();
    let tools = std::env::var_os("SHELFMARK_TOOLS_DIR")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| Path::new(&h).join(".cache/shelfmark/tools")));
    candidates.extend(tools.map(|t| t.join("bin/aiosmtpd")));
    candidates.into_iter().find(|p| p.is_file()).context(
        "aiosmtpd, the SMTP server these tests read the server's mail from, is not installed: \
         run `scripts/setup.sh --test` (or `make setup`), which puts it in \
         ~/.cache/shelfmark/tools/bin",
    )
}

/// A real SMTP server on a free loopback port (aiosmtpd with its Maildir handler), keeping
/// every mail it accepts; stopped (by its own pid) when dropped.
struct SmtpServer {
    child: Child,
    port: u16,
    /// The maildir (`<dir>/box`), removed with the server.
    dir: tempfile::TempDir,
}

impl SmtpServer {
    fn start() -> anyhow::Result<SmtpServer> {
        let bin = aiosmtpd()?;
        let dir = tempfile::tempdir()?;
        // A free port is bound and released before aiosmtpd binds it: should another process
        // take it in between, aiosmtpd exits and another port is tried.
        for _ in 0..5 {
            let port = free_port()?;
            let mut child = Command::new(&bin)
                .args(["-n", "-l", &format!("127.0.0.1:{port}")])
                .args(["-c", "aiosmtpd.handlers.Mailbox"])
                // The handler makes the maildir itself (it refuses an existing empty folder).
                .arg(dir.path().join("box"))
                .stdout(Stdio::null())
                .stderr(Stdio::inherit())
                .spawn()
                .with_context(|| format!("cannot start {}", bin.display()))?;
            let up = wait_for(Duration::from_secs(30), "aiosmtpd to listen", || {
                matches!(child.try_wait(), Ok(Some(_)))
                    || std::net::TcpStream::connect(("127.0.0.1", port)).is_ok()
            });
            if up.is_ok() && matches!(child.try_wait(), Ok(None)) {
                return Ok(SmtpServer { child, port, dir });
            }
            terminate(&mut child);
        }
        bail!("aiosmtpd did not start listening on a loopback port (5 tries)")
    }

    fn url(&self) -> String {
        format!("smtp://127.0.0.1:{}", self.port)
    }

    /// Every mail received so far, oldest first.
    fn mails(&self) -> anyhow::Result<Vec<Mail>> {
        // The Maildir handler writes each mail into `tmp/` and renames it into `new/`: a file
        // in `new/` is always whole.
        let new = self.dir.path().join("box/new");
        let entries = match std::fs::read_dir(&new) {
            Ok(entries) => entries,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(e).with_context(|| format!("reading {}", new.display())),
        };
        let mut files = Vec::new();
        for entry in entries {
            let entry = entry?;
            if entry.file_name().to_string_lossy().starts_with('.') {
                continue;
            }
            let arrived = entry.metadata()?.modified()?;
            files.push((arrived, entry.path()));
        }
        files.sort();
        files
            .into_iter()
            .map(|(_, path)| {
                let raw =
                    std::fs::read(&path).with_context(|| format!("reading {}", path.display()))?;
                Mail::parse(&raw).with_context(|| format!("parsing {}", path.display()))
            })
            .collect()
    }
}

impl Drop for SmtpServer {
    fn drop(&mut self) {
        terminate(&mut self.child);
    }
}

/// A mail as the SMTP server received it, decoded the way a mail client shows it.
#[derive(Debug, Clone)]
pub struct Mail {
    /// The envelope's recipients (`RCPT TO`), as the SMTP server recorded them.
    pub envelope_to: Vec<String>,
    /// The header fields in order: unfolded, their encoded words (RFC 2047) decoded.
    pub headers: Vec<(String, String)>,
    /// The text, its transfer encoding (quoted-printable, base64) undone, lines ending in `\n`.
    pub body: String,
}

impl Mail {
    /// Reads one RFC 5322 message (single part, UTF-8 or ASCII text), as a Maildir holds it.
    pub fn parse(raw: &[u8]) -> anyhow::Result<Mail> {
        let raw = std::str::from_utf8(raw).context("a mail that is not 7-bit or UTF-8 text")?;
        let raw = raw.replace("\r\n", "\n");
        let (head, body) = raw.split_once("\n\n").unwrap_or((raw.as_str(), ""));
        let mut fields: Vec<String> = Vec::new();
        for line in head.lines() {
            match fields.last_mut() {
                // A folded line continues the field above (RFC 5322 2.2.3).
                Some(field) if line.starts_with([' ', '\t']) => field.push_str(line),
                _ => fields.push(line.to_owned()),
            }
        }
        let mut headers = Vec::new();
        for field in fields {
            let (name, value) = field
                .split_once(':')
                .with_context(|| format!("a header line without a colon: {field:?}"))?;
            headers.push((name.trim().to_owned(), decode_words(value.trim())?));
        }
        let find = |name: &str| {
            headers
                .iter()
                .find(|(n, _)| n.eq_ignore_ascii_case(name))
                .map(|(_, v)| v.as_str())
        };
        if let Some(charset) = find("Content-Type").and_then(|t| parameter(t, "charset")) {
            check_charset(&charset)?;
        }
        let bytes = match find("Content-Transfer-Encoding")
            .map(|e| e.trim().to_ascii_lowercase())
            .as_deref()
        {
            None | Some("7bit" | "8bit" | "binary") => body.as_bytes().to_vec(),
            Some("quoted-printable") => {
                quoted_printable::decode(body, quoted_printable::ParseMode::Robust)
                    .context("a body that is not quoted-printable")?
            }
            Some("base64") => {
                use base64::Engine as _;
                let compact: String = body.split_whitespace().collect();
                base64::engine::general_purpose::STANDARD
                    .decode(compact)
                    .context("a body that is not base64")?
            }
            Some(other) => bail!("a body in the unknown transfer encoding {other:?}"),
        };
        let body = String::from_utf8(bytes)
            .context("a body that is not UTF-8 text")?
            .replace("\r\n", "\n");
        let envelope_to = find("X-RcptTo")
            .map(|to| to.split(',').map(|a| a.trim().to_owned()).collect())
            .unwrap_or_default();
        Ok(Mail {
            envelope_to,
            headers,
            body,
        })
    }

    /// The first header field named `name` (any case), decoded.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The subject, decoded (empty when there is none).
    pub fn subject(&self) -> &str {
        self.header("Subject").unwrap_or_default()
    }
}

/// The value of `name=` in a header's parameters (`text/plain; charset=utf-8`).
fn parameter(value: &str, name: &str) -> Option<String> {
    value.split(';').skip(1).find_map(|p| {
        let (k, v) = p.split_once('=')?;
        k.trim()
            .eq_ignore_ascii_case(name)
            .then(|| v.trim().trim_matches('"').to_owned())
    })
}

/// Only the charsets the server writes (lettre: UTF-8, or plain ASCII) are read.
fn check_charset(charset: &str) -> anyhow::Result<()> {
    let charset = charset.split('*').next().unwrap_or_default();
    if ["utf-8", "utf8", "us-ascii"]
        .iter()
        .any(|c| charset.eq_ignore_ascii_case(c))
    {
        Ok(())
    } else {
        bail!("a mail in the charset {charset:?}, which these tests do not read")
    }
}

/// A header value with its encoded words (`=?utf-8?b?...?=`, `=?utf-8?q?...?=`) decoded; the
/// white space between two adjacent encoded words is dropped (RFC 2047 6.2).
fn decode_words(value: &str) -> anyhow::Result<String> {
    let mut out = String::new();
    let mut rest = value;
    let mut after_word = false;
    while let Some(start) = rest.find("=?") {
        let (before, candidate) = rest.split_at(start);
        match encoded_word(candidate) {
            Some((charset, encoding, text, len)) => {
                if !(after_word && before.trim().is_empty()) {
                    out.push_str(before);
                }
                check_charset(charset)?;
                let bytes = match encoding {
                    "b" | "B" => {
                        use base64::Engine as _;
                        base64::engine::general_purpose::STANDARD
                            .decode(text)
                            .with_context(|| format!("a bad base64 encoded word {candidate:?}"))?
                    }
                    _ => quoted_printable::decode(
                        text.replace('_', " "),
                        quoted_printable::ParseMode::Robust,
                    )
                    .with_context(|| format!("a bad Q encoded word {candidate:?}"))?,
                };
                out.push_str(
                    &String::from_utf8(bytes).context("an encoded word that is not UTF-8")?,
                );
                rest = &candidate[len..];
                after_word = true;
            }
            None => {
                out.push_str(before);
                out.push_str("=?");
                rest = &candidate[2..];
                after_word = false;
            }
        }
    }
    out.push_str(rest);
    Ok(out)
}

/// The encoded word `s` starts with: its charset, encoding (`B` or `Q`), text and length.
fn encoded_word(s: &str) -> Option<(&str, &str, &str, usize)> {
    let inner = s.strip_prefix("=?")?;
    let (charset, rest) = inner.split_once('?')?;
    let (encoding, rest) = rest.split_once('?')?;
    let end = rest.find("?=")?;
    let text = &rest[..end];
    let valid = !charset.is_empty()
        && ["b", "B", "q", "Q"].contains(&encoding)
        && !charset.contains(char::is_whitespace)
        && !text.contains(char::is_whitespace);
    valid.then_some((
        charset,
        encoding,
        text,
        2 + charset.len() + 1 + encoding.len() + 1 + end + 2,
    ))
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

impl Xvfb {
    /// Answers the native file chooser titled `title` on this display with `path`, as a
    /// person at the keyboard would: the chooser's location field (Ctrl+L), the path, Enter.
    /// WebDriver reaches only the web view, not the GTK dialog the dialog plugin opens, so
    /// the keys are sent with xdotool (Debian package xdotool) to the dialog's window.
    pub fn choose_file(&self, title: &str, path: &Path) -> anyhow::Result<()> {
        let xdotool = |args: &[&str]| -> anyhow::Result<String> {
            let out = Command::new("xdotool")
                .args(args)
                .env("DISPLAY", &self.display)
                .output()
                .context("cannot run xdotool (Debian package xdotool; `make test` installs it)")?;
            Ok(String::from_utf8_lossy(&out.stdout).trim().to_owned())
        };
        let mut window = String::new();
        wait_for(Duration::from_secs(20), "the file chooser", || {
            window = xdotool(&["search", "--onlyvisible", "--name", title])
                .unwrap_or_default()
                .lines()
                .last()
                .unwrap_or_default()
                .to_owned();
            !window.is_empty()
        })?;
        // With no window manager the dialog gets the keyboard only when given it.
        xdotool(&["windowfocus", &window])?;
        std::thread::sleep(Duration::from_millis(300));
        xdotool(&["key", "--clearmodifiers", "ctrl+l"])?;
        std::thread::sleep(Duration::from_millis(300));
        let path = path.to_str().context("the file's path is not UTF-8")?;
        xdotool(&["type", "--delay", "10", path])?;
        std::thread::sleep(Duration::from_millis(300));
        xdotool(&["key", "Return"])?;
        wait_for(Duration::from_secs(10), "the file chooser to close", || {
            xdotool(&["search", "--onlyvisible", "--name", title])
                .map(|w| w.is_empty())
                .unwrap_or(false)
        })
    }
}

impl Drop for Xvfb {
    fn drop(&mut self) {
        terminate(&mut self.child);
    }
}

/// A private D-Bus session bus with a monitor on the desktop-notifications interface: the app,
/// started with [`NotificationWatch::address`] as its session bus, asks this bus to show its
/// notifications, and the test reads each request off the wire. No notification server runs,
/// so the requests fail after being seen (the app logs it and goes on, as on a desktop
/// without one).
pub struct NotificationWatch {
    bus: Child,
    monitor: Child,
    /// `DBUS_SESSION_BUS_ADDRESS` for the app.
    pub address: String,
    seen: std::sync::Arc<std::sync::Mutex<Vec<String>>>,
    _dir: tempfile::TempDir,
}

impl NotificationWatch {
    pub fn start() -> anyhow::Result<NotificationWatch> {
        let dir = tempfile::tempdir()?;
        let socket = dir.path().join("bus");
        let address = format!("unix:path={}", socket.display());
        let mut bus = Command::new("dbus-daemon")
            .args(["--session", "--nofork", "--nopidfile"])
            .arg(format!("--address={address}"))
            .stdout(Stdio::null())
            // Its chatter (activating the accessibility bus for WebKit...) is not the test's.
            .stderr(Stdio::null())
            .spawn()
            .context(
                "cannot start dbus-daemon (Debian package dbus-daemon; `make test` installs it)",
            )?;
        if let Err(e) = wait_for(Duration::from_secs(10), "the D-Bus session bus", || {
            socket.exists()
        }) {
            terminate(&mut bus);
            return Err(e);
        }
        let monitor = Command::new("dbus-monitor")
            .args([
                "--address",
                &address,
                "type='method_call',interface='org.freedesktop.Notifications',member='Notify'",
            ])
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn();
        let mut monitor = match monitor {
            Ok(m) => m,
            Err(e) => {
                terminate(&mut bus);
                return Err(anyhow::Error::new(e)
                    .context("cannot start dbus-monitor (Debian package dbus-bin)"));
            }
        };
        let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let lines = std::sync::Arc::clone(&seen);
        let stdout = monitor.stdout.take().context("no stdout")?;
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if let Ok(mut lines) = lines.lock() {
                    lines.push(line);
                }
            }
        });
        let watch = NotificationWatch {
            bus,
            monitor,
            address,
            seen,
            _dir: dir,
        };
        // The monitor says hello (its NameAcquired) once it is attached.
        wait_for(Duration::from_secs(10), "dbus-monitor to attach", || {
            watch.lines().iter().any(|l| l.contains("NameAcquired"))
        })?;
        Ok(watch)
    }

    fn lines(&self) -> Vec<String> {
        self.seen.lock().map(|l| l.clone()).unwrap_or_default()
    }

    /// Waits up to `timeout` for the app's first notification request; then all so far.
    pub async fn shown(&self, timeout: Duration) -> anyhow::Result<Vec<(String, String)>> {
        let deadline = Instant::now() + timeout;
        loop {
            let shown = self.notifications();
            if !shown.is_empty() {
                return Ok(shown);
            }
            if Instant::now() > deadline {
                bail!("the app asked for no notification within {timeout:?}");
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// The notifications the app asked for so far, as (summary, body).
    pub fn notifications(&self) -> Vec<(String, String)> {
        // `Notify(app_name, replaces_id, app_icon, summary, body, actions, hints, timeout)`,
        // one argument per line after the call's header line.
        let lines = self.lines();
        let text = |line: Option<&String>| {
            line.and_then(|l| {
                let l = l.trim().strip_prefix("string \"")?;
                Some(l.strip_suffix('"').unwrap_or(l).to_owned())
            })
        };
        lines
            .iter()
            .enumerate()
            .filter(|(_, l)| l.contains("member=Notify"))
            .filter_map(|(i, _)| Some((text(lines.get(i + 4))?, text(lines.get(i + 5))?)))
            .collect()
    }
}

impl Drop for NotificationWatch {
    fn drop(&mut self) {
        terminate(&mut self.monitor);
        terminate(&mut self.bus);
    }
}

/// Picks rustls's crypto provider for the process, before fantoccini builds its client. rustls
/// picks one by itself only when the build enables exactly one, and a test binary that links
/// the server (lettre brings ring) and the client (reqwest brings aws-lc-rs) enables both.
pub fn choose_tls_provider() {
    // An error only says a provider was chosen already.
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
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

    /// Like [`Desktop::launch`], with the notifications it asks for seen by `watch`.
    pub async fn launch_watched(
        test: &str,
        server: &DemoServer,
        xvfb: &Xvfb,
        user: &str,
        watch: &NotificationWatch,
    ) -> anyhow::Result<Desktop> {
        Self::launch_with(
            test,
            xvfb,
            &[
                ("SHELFMARK_SERVER_URL", server.url.as_str()),
                ("SHELFMARK_USERNAME", user),
                ("SHELFMARK_PASSWORD", DEMO_PASSWORD),
                ("DBUS_SESSION_BUS_ADDRESS", watch.address.as_str()),
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
        Self::launch_in(test, xvfb, &app, env, tempfile::tempdir()?, false).await
    }

    /// Starts the installed app `app` (say `/usr/bin/shelfmark-desktop`) as a new user's first
    /// run would: no Shelfmark setting in its environment, and an empty home whose XDG folders
    /// (data, config, state, cache) are under [`Desktop::home`]. No session bus either, so no
    /// keyring: the token goes to the 0600 file, as on a desktop without a Secret Service.
    pub async fn launch_installed(test: &str, xvfb: &Xvfb, app: &Path) -> anyhow::Result<Desktop> {
        Self::launch_in(test, xvfb, app, &[], tempfile::tempdir()?, true).await
    }

    /// The home folder of an app started by [`Desktop::launch_installed`].
    pub fn home(&self) -> &Path {
        self._data.path()
    }

    /// Starts the app signed in to `server` as `user` on the data folder `data` (its cache and
    /// session), as [`Desktop::close_keeping_data`] left it: a restart of the app.
    pub async fn relaunch(
        test: &str,
        server: &DemoServer,
        xvfb: &Xvfb,
        user: &str,
        data: tempfile::TempDir,
    ) -> anyhow::Result<Desktop> {
        let env = [
            ("SHELFMARK_SERVER_URL", server.url.as_str()),
            ("SHELFMARK_USERNAME", user),
            ("SHELFMARK_PASSWORD", DEMO_PASSWORD),
        ];
        let app = workspace_bin("shelfmark-desktop")?;
        Self::launch_in(test, xvfb, &app, &env, data, false).await
    }

    async fn launch_in(
        test: &str,
        xvfb: &Xvfb,
        app: &Path,
        env: &[(&str, &str)],
        data: tempfile::TempDir,
        first_run: bool,
    ) -> anyhow::Result<Desktop> {
        let home = data.path();
        let own_env: Vec<(String, PathBuf)> = if first_run {
            [
                "XDG_DATA_HOME",
                "XDG_CONFIG_HOME",
                "XDG_STATE_HOME",
                "XDG_CACHE_HOME",
            ]
            .iter()
            .map(|v| (v.to_string(), home.join(v.to_lowercase())))
            .chain([
                ("HOME".to_string(), home.to_path_buf()),
                (
                    "DBUS_SESSION_BUS_ADDRESS".to_string(),
                    PathBuf::from("unix:path=/nonexistent"),
                ),
            ])
            .collect()
        } else {
            vec![
                // Tests never touch a developer's real keyring.
                (
                    "SHELFMARK_CREDENTIAL_STORE".to_string(),
                    PathBuf::from("file"),
                ),
                ("SHELFMARK_DATA_DIR".to_string(), home.to_path_buf()),
            ]
        };
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
            .env_remove("SHELFMARK_DATA_DIR")
            .env_remove("SHELFMARK_CREDENTIAL_STORE")
            // GTK (the file chooser) keeps its settings in memory, not in a dconf it cannot reach.
            .env("GSETTINGS_BACKEND", "memory")
            .envs(own_env)
            .envs(env.iter().copied())
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
        choose_tls_provider();
        let client = loop {
            let mut builder = match fantoccini::ClientBuilder::rustls() {
                Ok(builder) => builder,
                Err(e) => {
                    // Never leave tauri-driver (and its WebKitWebDriver) behind.
                    terminate(&mut driver);
                    bail!("cannot set up the WebDriver client's TLS: {e}");
                }
            };
            match builder.capabilities(caps.clone()).connect(&webdriver).await {
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

    /// Closes the app as [`Desktop::close`] does and hands back its data folder (cache,
    /// session), for [`Desktop::relaunch`].
    pub async fn close_keeping_data(mut self) -> anyhow::Result<tempfile::TempDir> {
        let result = self.client.clone().close().await;
        terminate(&mut self.driver);
        result?;
        let placeholder = tempfile::tempdir()?;
        Ok(std::mem::replace(&mut self._data, placeholder))
    }
}

impl Drop for Desktop {
    fn drop(&mut self) {
        // SIGTERM, never SIGKILL: only then does tauri-driver stop its WebKitWebDriver child.
        terminate(&mut self.driver);
    }
}

#[cfg(test)]
mod tests {
    use super::Mail;

    /// What lettre writes for a patron with a non-ASCII name (a folded subject of encoded
    /// words, a quoted-printable body with a soft line break), as aiosmtpd's Maildir keeps it.
    const RECEIVED: &str = "From: Shelfmark <shelfmark@localhost>\n\
        To: zoe@example.org\n\
        Subject: =?utf-8?b?WW91ciBob2xkIG9uICJDw6lsaW5lJ3Mi?=\n \
        =?utf-8?b?IEF0bGFzIHdhcyBjYW5jZWxsZWQ=?=\n\
        Message-ID: <0193@shelfmark>\n\
        Content-Type: text/plain; charset=utf-8\n\
        Content-Transfer-Encoding: quoted-printable\n\
        X-Peer: ('127.0.0.1', 48044)\n\
        X-MailFrom: shelfmark@localhost\n\
        X-RcptTo: zoe@example.org\n\
        \n\
        Dear Zo=C3=AB =C3=85ngstr=C3=B6m,\n\
        a line long enough to be wrapped by the en=\n\
        coder, and a =3D sign.\n";

    #[test]
    fn a_received_mail_reads_as_a_mail_client_shows_it() -> anyhow::Result<()> {
        let mail = Mail::parse(RECEIVED.as_bytes())?;
        assert_eq!(mail.envelope_to, ["zoe@example.org"]);
        assert_eq!(
            mail.subject(),
            "Your hold on \"Céline's\" Atlas was cancelled"
        );
        assert_eq!(mail.header("message-id"), Some("<0193@shelfmark>"));
        assert_eq!(
            mail.body,
            "Dear Zoë Ångström,\na line long enough to be wrapped by the encoder, and a = sign.\n"
        );
        Ok(())
    }

    #[test]
    fn crlf_line_ends_and_a_base64_body_read_the_same() -> anyhow::Result<()> {
        let raw = "Subject: =?utf-8?q?Caf=C3=A9_au_lait?= and =?bogus\r\n\
            Content-Transfer-Encoding: base64\r\n\
            X-RcptTo: a@example.org, b@example.org\r\n\
            \r\n\
            RGVhciBDw6lsaW5lLAo=\r\n";
        let mail = Mail::parse(raw.as_bytes())?;
        assert_eq!(mail.subject(), "Café au lait and =?bogus");
        assert_eq!(mail.envelope_to, ["a@example.org", "b@example.org"]);
        assert_eq!(mail.body, "Dear Céline,\n");
        Ok(())
    }

    #[test]
    fn a_charset_these_tests_do_not_read_is_an_error_not_garbage() {
        let raw = "Subject: =?iso-8859-1?q?Caf=E9?=\n\nx\n";
        assert!(Mail::parse(raw.as_bytes()).is_err());
        let raw = "Content-Type: text/plain; charset=\"koi8-r\"\n\nx\n";
        assert!(Mail::parse(raw.as_bytes()).is_err());
    }
}
