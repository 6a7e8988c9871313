//! The server's settings: each level (flag, environment, file, default) wins over the ones
//! below it, a bad file stops the start naming the file, the line and the reason, and
//! `config show` tells each value's origin without showing the SMTP password. The merge is
//! called as the binary calls it, and the binary itself is run for the command line's split
//! into flags and environment.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use shelfmark_server::config::{ConfigError, FileChoice, LogFormat, Values, load};

fn file(dir: &Path, text: &str) -> PathBuf {
    let path = dir.join("server.toml");
    std::fs::write(&path, text).expect("write the settings file");
    path
}

fn error_of(text: &str) -> String {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = file(dir.path(), text);
    let e = load(
        &Values::default(),
        &Values::default(),
        &FileChoice::Named(path.clone()),
    )
    .expect_err("the file is refused");
    e.to_string()
        .replace(&path.display().to_string(), "server.toml")
}

#[test]
fn each_level_wins_over_the_ones_below_it() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = file(
        dir.path(),
        "token_hours = 2\nlog_format = \"json\"\n\n[circulation]\nloan_days = 30\npickup_days = 4\n",
    );
    let named = FileChoice::Named(path.clone());
    let (none, empty) = (FileChoice::None, Values::default());

    // Default alone.
    let s = load(&empty, &empty, &none).expect("defaults");
    assert_eq!(s.server.token_ttl, Duration::from_secs(12 * 3600));
    assert_eq!(s.log_format, LogFormat::Text);
    assert_eq!(s.listen, "127.0.0.1:8080");
    assert!(s.show().contains("token_hours = 12  # default"));

    // The file over the default.
    let s = load(&empty, &empty, &named).expect("file");
    assert_eq!(s.server.token_ttl, Duration::from_secs(2 * 3600));
    assert_eq!(s.log_format, LogFormat::Json);
    assert_eq!(s.server.circulation.loan_period, chrono::Duration::days(30));
    assert_eq!(s.file.as_deref(), Some(path.as_path()));
    let shown = s.show();
    assert!(
        shown.contains(&format!("token_hours = 2  # file {}:1", path.display())),
        "{shown}"
    );
    assert!(shown.contains(&format!("loan_days = 30  # file {}:5", path.display())));

    // The environment over the file.
    let env = Values {
        token_hours: Some(3),
        loan_days: Some(40),
        ..Values::default()
    };
    let s = load(&empty, &env, &named).expect("env");
    assert_eq!(s.server.token_ttl, Duration::from_secs(3 * 3600));
    assert_eq!(s.server.circulation.loan_period, chrono::Duration::days(40));
    assert_eq!(
        s.server.circulation.pickup_window,
        chrono::Duration::days(4)
    );
    assert!(
        s.show()
            .contains("token_hours = 3  # env SHELFMARK_TOKEN_HOURS")
    );

    // A flag over the environment.
    let flags = Values {
        token_hours: Some(4),
        ..Values::default()
    };
    let s = load(&flags, &env, &named).expect("flags");
    assert_eq!(s.server.token_ttl, Duration::from_secs(4 * 3600));
    assert_eq!(s.server.circulation.loan_period, chrono::Duration::days(40));
    let shown = s.show();
    assert!(
        shown.contains("token_hours = 4  # flag --token-hours"),
        "{shown}"
    );
    assert!(shown.contains("loan_days = 40  # env SHELFMARK_LOAN_DAYS"));
    assert!(shown.contains("log_format = \"json\"  # file "));
}

#[test]
fn every_setting_of_the_file_reaches_the_server_settings() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = file(
        dir.path(),
        r#"
listen = "127.0.0.1:9999"
database = "sqlite:///srv/shelfmark/library.db"
log_format = "json"
token_hours = 8
[tls]
cert = "/etc/shelfmark/tls/cert.pem"
key = "/etc/shelfmark/tls/key.pem"
[limits]
body_limit = 2048
header_read_timeout_secs = 5
request_timeout_secs = 6
max_in_flight = 7
max_password_checks = 2
[mail]
smtp_url = "smtp://mail.example.org:587?tls=required"
manager_email = "manager@example.org"
from = "Shelfmark <shelfmark@example.org>"
spool = "/srv/spool"
[circulation]
pickup_days = 3
loan_days = 14
"#,
    );
    let s = load(
        &Values::default(),
        &Values::default(),
        &FileChoice::Named(path),
    )
    .expect("a complete file loads");
    assert_eq!(s.listen, "127.0.0.1:9999");
    assert_eq!(s.database, "sqlite:///srv/shelfmark/library.db");
    assert_eq!(s.scheme(), "https");
    let tls = s.server.tls.as_ref().expect("tls");
    assert_eq!(tls.cert, PathBuf::from("/etc/shelfmark/tls/cert.pem"));
    assert_eq!(tls.key, PathBuf::from("/etc/shelfmark/tls/key.pem"));
    assert_eq!(s.server.body_limit, 2048);
    assert_eq!(s.server.header_read_timeout, Duration::from_secs(5));
    assert_eq!(s.server.request_timeout, Duration::from_secs(6));
    assert_eq!(s.server.max_in_flight, 7);
    assert_eq!(s.server.max_password_checks, 2);
    assert_eq!(s.server.token_ttl, Duration::from_secs(8 * 3600));
    assert_eq!(
        s.mail.smtp_url.as_deref(),
        Some("smtp://mail.example.org:587?tls=required")
    );
    assert_eq!(s.mail.spool, PathBuf::from("/srv/spool"));
    assert_eq!(s.server.mail.manager.to_string(), "manager@example.org");
    assert_eq!(
        s.server.circulation.pickup_window,
        chrono::Duration::days(3)
    );
}

#[test]
fn a_missing_default_file_is_fine_and_a_missing_named_one_is_an_error() {
    let dir = tempfile::tempdir().expect("temp dir");
    let absent = dir.path().join("server.toml");
    let empty = Values::default();
    let s = load(&empty, &empty, &FileChoice::Default(absent.clone())).expect("no file");
    assert_eq!(s.file, None);
    assert!(s.show().contains("# Settings file: none read"));
    let e = load(&empty, &empty, &FileChoice::Named(absent)).expect_err("named, missing");
    assert!(matches!(e, ConfigError::MissingFile(_)), "{e}");
    assert!(e.to_string().contains("does not exist"), "{e}");
}

#[test]
fn an_unknown_key_is_refused_with_its_file_line_and_the_keys_expected() {
    assert_eq!(
        error_of("# the server\nlisten = \"127.0.0.1:8080\"\n\n\n\n\nlistn = \"0.0.0.0:80\"\n"),
        "server.toml:7: unknown key \"listn\" in the top level; expected one of listen, \
         database, log_format, token_hours, tls, limits, mail, circulation"
    );
    assert_eq!(
        error_of("[limits]\nbody_limit = 10\nmax_inflight = 3\n"),
        "server.toml:3: unknown key \"max_inflight\" in [limits]; expected one of body_limit, \
         header_read_timeout_secs, request_timeout_secs, max_in_flight, max_password_checks"
    );
    assert_eq!(
        error_of("[mail]\nsmtp = \"smtp://x\"\n"),
        "server.toml:2: unknown key \"smtp\" in [mail]; expected one of smtp_url, \
         manager_email, from, spool"
    );
}

#[test]
fn a_bad_value_is_refused_with_its_file_line_and_the_reason() {
    assert_eq!(
        error_of("listen = \"x:1\"\ntoken_hours = \"twelve\"\n"),
        "server.toml:2: bad value for token_hours: invalid type: string \"twelve\", expected u64"
    );
    assert_eq!(
        error_of("log_format = \"xml\"\n"),
        "server.toml:1: bad value for log_format: unknown variant `xml`, expected `text` or `json`"
    );
    assert_eq!(
        error_of("[circulation]\npickup_days = 7\nloan_days = 0\n"),
        "server.toml:3: bad value for circulation.loan_days: must be at least 1"
    );
    assert_eq!(
        error_of("[limits]\nmax_in_flight = -5\n"),
        "server.toml:2: bad value for limits.max_in_flight: invalid value: integer `-5`, \
         expected usize"
    );
    let e = error_of("[mail]\nmanager_email = \"not an address\"\n");
    assert!(
        e.starts_with("server.toml:2: bad value for mail.manager_email: "),
        "{e}"
    );
    let e = error_of("\ndatabase = \"mysql://db\"\n");
    assert!(
        e.starts_with("server.toml:2: bad value for database: "),
        "{e}"
    );
    let e = error_of("[tls]\ncert = \"/etc/cert.pem\"\n");
    assert!(
        e.starts_with("server.toml:2: bad value for tls.cert: a certificate needs its key"),
        "{e}"
    );
    // Not TOML at all: the parser's reason, still with the line.
    let e = error_of("listen = \"a\"\nlisten =\n");
    assert!(e.starts_with("server.toml:2: "), "{e}");
}

#[test]
fn a_bad_value_of_a_flag_or_the_environment_names_it() {
    let env = Values {
        manager_email: Some("nobody".into()),
        ..Values::default()
    };
    let e = load(&Values::default(), &env, &FileChoice::None).expect_err("refused");
    assert!(
        e.to_string()
            .starts_with("SHELFMARK_MANAGER_EMAIL (environment): bad value for mail.manager_email"),
        "{e}"
    );
    let flags = Values {
        smtp_url: Some("smtp://mail.example.org".into()),
        ..Values::default()
    };
    let e = load(&flags, &Values::default(), &FileChoice::None).expect_err("refused");
    assert!(
        e.to_string()
            .starts_with("--smtp-url: bad value for mail.smtp_url: mail goes to an SMTP server"),
        "{e}"
    );
}

#[test]
fn config_show_masks_the_smtp_password() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = file(
        dir.path(),
        "[mail]\nsmtp_url = \"smtps://shelfmark:hunter2-secret@mail.example.org:465\"\n\
         manager_email = \"manager@example.org\"\n",
    );
    let s = load(
        &Values::default(),
        &Values::default(),
        &FileChoice::Named(path.clone()),
    )
    .expect("loads");
    // The server itself has the real URL...
    assert_eq!(
        s.mail.smtp_url.as_deref(),
        Some("smtps://shelfmark:hunter2-secret@mail.example.org:465")
    );
    // ...which `config show` never prints.
    let shown = s.show();
    assert!(!shown.contains("hunter2"), "{shown}");
    assert!(
        shown.contains(&format!(
            "smtp_url = \"smtps://shelfmark:****@mail.example.org:465\"  # file {}:2",
            path.display()
        )),
        "{shown}"
    );
    // What it prints is TOML (comments aside) the server would read back.
    let reparsed: toml::Table = toml::from_str(&shown).expect("config show prints TOML");
    assert_eq!(reparsed["token_hours"].as_integer(), Some(12));
}

/// The binary: a value given as a flag, one from the environment and one from the file, each
/// reported as such (clap's own split of flag and environment).
#[test]
fn the_binary_tells_flags_environment_and_file_apart() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = file(dir.path(), "token_hours = 9\nlisten = \"127.0.0.1:7000\"\n");
    let out = Command::new(env!("CARGO_BIN_EXE_shelfmark-server"))
        .args(["config", "show", "--loan-days", "15"])
        .env("SHELFMARK_CONFIG", &path)
        .env("SHELFMARK_LISTEN", "127.0.0.1:7001")
        .env(
            "SHELFMARK_SMTP_URL",
            "smtp://ann:pa55word@mail.example.org:25",
        )
        .env("SHELFMARK_MANAGER_EMAIL", "manager@example.org")
        .env_remove("SHELFMARK_DATABASE_URL")
        .env_remove("SHELFMARK_TOKEN_HOURS")
        .env_remove("SHELFMARK_LOAN_DAYS")
        .output()
        .expect("run shelfmark-server config show");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains("loan_days = 15  # flag --loan-days"),
        "{stdout}"
    );
    assert!(stdout.contains("listen = \"127.0.0.1:7001\"  # env SHELFMARK_LISTEN"));
    assert!(stdout.contains(&format!("token_hours = 9  # file {}:1", path.display())));
    assert!(stdout.contains("pickup_days = 7  # default"));
    assert!(stdout.contains("smtp_url = \"smtp://ann:****@mail.example.org:25\""));
    assert!(!stdout.contains("pa55word"));

    // A bad file stops the binary with the file and line, before anything else.
    std::fs::write(&path, "[limits]\nbody_limits = 1\n").expect("write");
    let out = Command::new(env!("CARGO_BIN_EXE_shelfmark-server"))
        .args(["--config"])
        .arg(&path)
        .args(["--listen", "127.0.0.1:0"])
        .env("RUST_BACKTRACE", "0")
        .output()
        .expect("run shelfmark-server");
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains(&format!(
            "{}:2: unknown key \"body_limits\" in [limits]",
            path.display()
        )),
        "{stderr}"
    );
    assert!(out.stdout.is_empty(), "nothing listened");
}
