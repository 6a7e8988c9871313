//! The server's settings: the command line, the environment and a TOML file, merged.
//!
//! Each setting has a flag, an environment variable and a key of the settings file
//! (`/etc/shelfmark/server.toml` by default, read only when it exists; `--config FILE` /
//! `SHELFMARK_CONFIG` names another, which must exist). A value given by a flag wins over the
//! environment, which wins over the file, which wins over the built-in default; each value
//! remembers where it came from ([`Origin`]), for `shelfmark-server config show` and for the
//! errors: an unknown key or a bad value stops the start, naming the file and the line, the
//! flag or the variable, and the reason.
//!
//! It lives in the library, not the binary, so that the tests load settings the way the
//! binary does. The merge itself is [`load`], over three [`Values`] (the flags, the
//! environment, the file); [`Values::from_command_line`] splits what clap parsed into the
//! first two by where clap found each value.

use std::fmt::{self, Write as _};
use std::path::{Path, PathBuf};
use std::time::Duration;

use clap::parser::ValueSource;
use serde::Deserialize;
use toml::Spanned;

use crate::mail::compose::MailSettings;
use crate::mail::deliver::Transport;
use crate::records::Circulation;
use crate::state::{Config, TlsFiles};
use crate::store::DatabaseUrl;

/// The settings file read when none is named.
pub const DEFAULT_FILE: &str = "/etc/shelfmark/server.toml";

/// How the server writes its logs on stderr.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// Lines for a person (coloured on a terminal).
    #[default]
    Text,
    /// One JSON object a line, for a log collector.
    Json,
}

impl LogFormat {
    fn as_str(self) -> &'static str {
        match self {
            LogFormat::Text => "text",
            LogFormat::Json => "json",
        }
    }
}

/// The settings of one level (the command line, the environment, the file): only what that
/// level gives. Parsed by clap as the server's global flags, each with its variable; none has
/// a clap default, so that a value given is told apart from the default.
#[derive(clap::Args, Debug, Clone, Default)]
pub struct Values {
    /// The settings file [default: /etc/shelfmark/server.toml, read when it exists].
    #[arg(long, env = "SHELFMARK_CONFIG", value_name = "FILE", global = true)]
    pub config: Option<PathBuf>,
    /// Address to listen on (port 0 picks a free port) [default: 127.0.0.1:8080].
    #[arg(long, env = "SHELFMARK_LISTEN", global = true)]
    pub listen: Option<String>,
    /// `sqlite://PATH` or `postgres://...` [default: a SQLite file in the platform data
    /// directory].
    #[arg(
        long,
        env = "SHELFMARK_DATABASE_URL",
        value_name = "URL",
        global = true
    )]
    pub database: Option<String>,
    /// How the logs on stderr are written [default: text].
    #[arg(long, env = "SHELFMARK_LOG_FORMAT", value_enum, global = true)]
    pub log_format: Option<LogFormat>,
    /// How long a login token stays valid, in hours [default: 12].
    #[arg(long, env = "SHELFMARK_TOKEN_HOURS", global = true)]
    pub token_hours: Option<u64>,
    /// PEM certificate chain to serve HTTPS with (with --tls-key).
    #[arg(long, env = "SHELFMARK_TLS_CERT", value_name = "FILE", global = true)]
    pub tls_cert: Option<PathBuf>,
    /// PEM private key of the certificate (with --tls-cert).
    #[arg(long, env = "SHELFMARK_TLS_KEY", value_name = "FILE", global = true)]
    pub tls_key: Option<PathBuf>,
    /// Largest request body accepted, in bytes [default: 1048576].
    #[arg(long, env = "SHELFMARK_BODY_LIMIT", global = true)]
    pub body_limit: Option<usize>,
    /// Seconds a client may take to send a request's head [default: 10].
    #[arg(
        long,
        env = "SHELFMARK_HEADER_READ_TIMEOUT",
        value_name = "SECS",
        global = true
    )]
    pub header_read_timeout: Option<u64>,
    /// Seconds a request may take from its head to its answer [default: 30].
    #[arg(
        long,
        env = "SHELFMARK_REQUEST_TIMEOUT",
        value_name = "SECS",
        global = true
    )]
    pub request_timeout: Option<u64>,
    /// Requests served at once; more are answered 503 [default: 512].
    #[arg(long, env = "SHELFMARK_MAX_IN_FLIGHT", global = true)]
    pub max_in_flight: Option<usize>,
    /// Password checks run at once; more sign-ins wait their turn [default: the CPU's cores, at most 4].
    #[arg(long, env = "SHELFMARK_MAX_PASSWORD_CHECKS", global = true)]
    pub max_password_checks: Option<usize>,
    /// SMTP server for the mail outbox (`smtp://host:25`, `smtps://user:pass@host`,
    /// `smtp://host:587?tls=required`). Unset: mails are written to the spool folder.
    #[arg(long, env = "SHELFMARK_SMTP_URL", value_name = "URL", global = true)]
    pub smtp_url: Option<String>,
    /// Where the manager's mails go (needed with an SMTP server) [default: manager@localhost].
    #[arg(
        long,
        env = "SHELFMARK_MANAGER_EMAIL",
        value_name = "ADDRESS",
        global = true
    )]
    pub manager_email: Option<String>,
    /// The sender of the server's mails [default: Shelfmark <shelfmark@localhost>].
    #[arg(
        long,
        env = "SHELFMARK_MAIL_FROM",
        value_name = "ADDRESS",
        global = true
    )]
    pub mail_from: Option<String>,
    /// Folder of `.eml` files when no SMTP server is set [default: `mail-spool` beside a
    /// SQLite database, else in the platform data directory].
    #[arg(long, env = "SHELFMARK_MAIL_SPOOL", value_name = "DIR", global = true)]
    pub mail_spool: Option<PathBuf>,
    /// Days a ready hold waits on the hold shelf before it expires [default: 7].
    #[arg(long, env = "SHELFMARK_PICKUP_DAYS", global = true)]
    pub pickup_days: Option<u32>,
    /// Days a loan lasts [default: 21].
    #[arg(long, env = "SHELFMARK_LOAN_DAYS", global = true)]
    pub loan_days: Option<u32>,
}

/// Runs `$do!(field)` for each setting field of [`Values`] (not `config`).
macro_rules! each_setting {
    ($do:ident) => {
        $do!(listen);
        $do!(database);
        $do!(log_format);
        $do!(token_hours);
        $do!(tls_cert);
        $do!(tls_key);
        $do!(body_limit);
        $do!(header_read_timeout);
        $do!(request_timeout);
        $do!(max_in_flight);
        $do!(max_password_checks);
        $do!(smtp_url);
        $do!(manager_email);
        $do!(mail_from);
        $do!(mail_spool);
        $do!(pickup_days);
        $do!(loan_days);
    };
}

impl Values {
    /// Splits what clap parsed into the values given as flags and those taken from the
    /// environment (`matches` are the matches `self` came from), and the file to read.
    pub fn from_command_line(mut self, matches: &clap::ArgMatches) -> (Values, Values, FileChoice) {
        let mut env = Values::default();
        macro_rules! split {
            ($f:ident) => {
                if matches.value_source(stringify!($f)) == Some(ValueSource::EnvVariable) {
                    env.$f = self.$f.take();
                }
            };
        }
        each_setting!(split);
        let file = match self.config.take() {
            Some(path) => FileChoice::Named(path),
            None => FileChoice::Default(PathBuf::from(DEFAULT_FILE)),
        };
        (self, env, file)
    }
}

/// Which settings file to read.
#[derive(Debug, Clone)]
pub enum FileChoice {
    /// Named by `--config` / `SHELFMARK_CONFIG`: it must exist.
    Named(PathBuf),
    /// The default file: read when it exists.
    Default(PathBuf),
    /// No file at all.
    None,
}

/// Where a setting's value came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Origin {
    Flag(&'static str),
    Env(&'static str),
    File { path: PathBuf, line: usize },
    Default,
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Origin::Flag(flag) => write!(f, "flag {flag}"),
            Origin::Env(var) => write!(f, "env {var}"),
            Origin::File { path, line } => write!(f, "file {}:{line}", path.display()),
            Origin::Default => f.write_str("default"),
        }
    }
}

/// Why the settings could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("{}: the settings file does not exist (named by --config or SHELFMARK_CONFIG)", .0.display())]
    MissingFile(PathBuf),
    #[error("{}: cannot read the settings file: {source}", path.display())]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    /// The file is not valid TOML, has a key it should not, or a value of the wrong type.
    #[error("{}:{line}: {message}", path.display())]
    File {
        path: PathBuf,
        line: usize,
        message: String,
    },
    /// A value of the right type that the server cannot use.
    #[error("{}: bad value for {key}: {message}", place(.origin))]
    Value {
        origin: Origin,
        key: &'static str,
        message: String,
    },
}

/// An origin as an error names it: `FILE:LINE`, `--flag`, `VARIABLE`.
fn place(origin: &Origin) -> String {
    match origin {
        Origin::Flag(flag) => (*flag).to_owned(),
        Origin::Env(var) => format!("{var} (environment)"),
        Origin::File { path, line } => format!("{}:{line}", path.display()),
        Origin::Default => "the default".to_owned(),
    }
}

/// How mail leaves the server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MailTransport {
    /// The SMTP server's URL; `None`: into `.eml` files in `spool`.
    pub smtp_url: Option<String>,
    pub spool: PathBuf,
}

impl MailTransport {
    pub fn transport(&self) -> Result<Transport, crate::mail::MailError> {
        match &self.smtp_url {
            Some(url) => Transport::smtp(url),
            None => Ok(Transport::Spool(self.spool.clone())),
        }
    }
}

/// The effective settings.
#[derive(Debug, Clone)]
pub struct Settings {
    pub listen: String,
    pub database: String,
    pub log_format: LogFormat,
    /// The running server's settings.
    pub server: Config,
    pub mail: MailTransport,
    /// The settings file read, if one was.
    pub file: Option<PathBuf>,
    shown: Vec<Shown>,
}

/// One line of `config show`.
#[derive(Debug, Clone)]
struct Shown {
    /// `key` or `table.key`, as in the file.
    key: &'static str,
    /// The value as TOML (secrets masked); `None` when not set.
    value: Option<String>,
    origin: Origin,
}

/// The settings file as written: every key optional, none unknown.
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct File {
    listen: Option<Spanned<String>>,
    database: Option<Spanned<String>>,
    log_format: Option<Spanned<LogFormat>>,
    token_hours: Option<Spanned<u64>>,
    tls: Option<TlsSection>,
    limits: Option<LimitsSection>,
    mail: Option<MailSection>,
    circulation: Option<CirculationSection>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct TlsSection {
    cert: Option<Spanned<PathBuf>>,
    key: Option<Spanned<PathBuf>>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct LimitsSection {
    body_limit: Option<Spanned<usize>>,
    header_read_timeout_secs: Option<Spanned<u64>>,
    request_timeout_secs: Option<Spanned<u64>>,
    max_in_flight: Option<Spanned<usize>>,
    max_password_checks: Option<Spanned<usize>>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct MailSection {
    smtp_url: Option<Spanned<String>>,
    manager_email: Option<Spanned<String>>,
    from: Option<Spanned<String>>,
    spool: Option<Spanned<PathBuf>>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct CirculationSection {
    pickup_days: Option<Spanned<u32>>,
    loan_days: Option<Spanned<u32>>,
}

/// The keys each table of the file accepts, for the error naming an unknown one.
const TABLES: &[(&str, &[&str])] = &[
    (
        "",
        &[
            "listen",
            "database",
            "log_format",
            "token_hours",
            "tls",
            "limits",
            "mail",
            "circulation",
        ],
    ),
    ("tls", &["cert", "key"]),
    (
        "limits",
        &[
            "body_limit",
            "header_read_timeout_secs",
            "request_timeout_secs",
            "max_in_flight",
            "max_password_checks",
        ],
    ),
    ("mail", &["smtp_url", "manager_email", "from", "spool"]),
    ("circulation", &["pickup_days", "loan_days"]),
];

/// The file's values, each with the line it is on.
struct FileValues {
    path: PathBuf,
    text: String,
    file: File,
}

impl FileValues {
    fn origin<T>(&self, v: &Spanned<T>) -> Origin {
        Origin::File {
            path: self.path.clone(),
            line: line_of(&self.text, v.span().start),
        }
    }
}

fn line_of(text: &str, offset: usize) -> usize {
    let offset = offset.min(text.len());
    text.as_bytes()[..offset]
        .iter()
        .filter(|&&b| b == b'\n')
        .count()
        + 1
}

/// Reads and checks a settings file; `Ok(None)` for a default file that does not exist.
fn read_file(choice: &FileChoice) -> Result<Option<FileValues>, ConfigError> {
    let (path, must_exist) = match choice {
        FileChoice::Named(p) => (p, true),
        FileChoice::Default(p) => (p, false),
        FileChoice::None => return Ok(None),
    };
    let text = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return if must_exist {
                Err(ConfigError::MissingFile(path.clone()))
            } else {
                Ok(None)
            };
        }
        Err(source) => {
            return Err(ConfigError::Read {
                path: path.clone(),
                source,
            });
        }
    };
    let file = parse_file(path, &text)?;
    Ok(Some(FileValues {
        path: path.clone(),
        text,
        file,
    }))
}

fn parse_file(path: &Path, text: &str) -> Result<File, ConfigError> {
    let deserializer =
        toml::Deserializer::parse(text).map_err(|e| file_error(path, text, &e, &[]))?;
    serde_path_to_error::deserialize::<_, File>(deserializer).map_err(|e| {
        // The key's dotted path, without the inner field of `toml::Spanned`.
        let at: Vec<String> = e
            .path()
            .iter()
            .map(|segment| segment.to_string())
            .filter(|segment| !segment.starts_with("$__"))
            .collect();
        file_error(path, text, e.inner(), &at)
    })
}

/// The error of the file at `at`, the path of the key it is about.
fn file_error(path: &Path, text: &str, e: &toml::de::Error, at: &[String]) -> ConfigError {
    let line = e.span().map_or(1, |s| line_of(text, s.start));
    let message = e.message().trim();
    let message = match unknown_key(message) {
        Some(key) => {
            // The path ends with the unknown key itself: its table is what precedes it.
            let table = match at.split_last() {
                Some((last, table)) if last == key => table.join("."),
                _ => at.join("."),
            };
            let expected = TABLES
                .iter()
                .find(|(name, _)| *name == table)
                .map(|(_, keys)| keys.join(", "))
                .unwrap_or_default();
            let place = if table.is_empty() {
                "the top level".to_owned()
            } else {
                format!("[{table}]")
            };
            format!("unknown key \"{key}\" in {place}; expected one of {expected}")
        }
        None if !at.is_empty() => format!("bad value for {}: {message}", at.join(".")),
        None => message.to_owned(),
    };
    ConfigError::File {
        path: path.to_owned(),
        line,
        message,
    }
}

/// The key serde's "unknown field `KEY`, expected ..." names.
fn unknown_key(message: &str) -> Option<&str> {
    let rest = message.strip_prefix("unknown field `")?;
    rest.split_once('`').map(|(key, _)| key)
}

/// Merges the levels: `flags` over `env` over the file `file` chooses over the defaults.
pub fn load(flags: &Values, env: &Values, file: &FileChoice) -> Result<Settings, ConfigError> {
    let file = read_file(file)?;
    let mut m = Merge {
        flags,
        env,
        file: file.as_ref(),
        shown: Vec::new(),
    };
    let f = file.as_ref().map(|f| &f.file);
    let tls = f.and_then(|f| f.tls.as_ref());
    let limits = f.and_then(|f| f.limits.as_ref());
    let mail = f.and_then(|f| f.mail.as_ref());
    let circ = f.and_then(|f| f.circulation.as_ref());

    let (listen, _) = m.pick(
        "listen",
        ("--listen", "SHELFMARK_LISTEN"),
        |v| v.listen.clone(),
        f.and_then(|f| f.listen.as_ref()),
        Some("127.0.0.1:8080".to_owned()),
        |s| toml_str(s),
    );
    let listen = listen.unwrap_or_default();
    let (database, database_origin) = m.pick(
        "database",
        ("--database", "SHELFMARK_DATABASE_URL"),
        |v| v.database.clone(),
        f.and_then(|f| f.database.as_ref()),
        Some(default_database()),
        |s| toml_str(s),
    );
    let database = database.unwrap_or_default();
    check_database(&database).map_err(|message| ConfigError::Value {
        origin: database_origin,
        key: "database",
        message,
    })?;
    let (log_format, _) = m.pick(
        "log_format",
        ("--log-format", "SHELFMARK_LOG_FORMAT"),
        |v| v.log_format,
        f.and_then(|f| f.log_format.as_ref()),
        Some(LogFormat::Text),
        |l| toml_str(l.as_str()),
    );
    let log_format = log_format.unwrap_or_default();
    let token_hours = m.positive(
        "token_hours",
        ("--token-hours", "SHELFMARK_TOKEN_HOURS"),
        |v| v.token_hours,
        f.and_then(|f| f.token_hours.as_ref()),
        12,
    )?;

    let (cert, cert_origin) = m.pick(
        "tls.cert",
        ("--tls-cert", "SHELFMARK_TLS_CERT"),
        |v| v.tls_cert.clone(),
        tls.and_then(|t| t.cert.as_ref()),
        None,
        |p| toml_path(p),
    );
    let (key, key_origin) = m.pick(
        "tls.key",
        ("--tls-key", "SHELFMARK_TLS_KEY"),
        |v| v.tls_key.clone(),
        tls.and_then(|t| t.key.as_ref()),
        None,
        |p| toml_path(p),
    );
    let tls = match (cert, key) {
        (Some(cert), Some(key)) => Some(TlsFiles { cert, key }),
        (None, None) => None,
        (Some(_), None) => {
            return Err(ConfigError::Value {
                origin: cert_origin,
                key: "tls.cert",
                message: "a certificate needs its key too (tls.key, --tls-key)".into(),
            });
        }
        (None, Some(_)) => {
            return Err(ConfigError::Value {
                origin: key_origin,
                key: "tls.key",
                message: "a key needs its certificate too (tls.cert, --tls-cert)".into(),
            });
        }
    };

    // The defaults are the library's own (`Config::default`), written once.
    let defaults = Config::default();
    let body_limit = m.positive(
        "limits.body_limit",
        ("--body-limit", "SHELFMARK_BODY_LIMIT"),
        |v| v.body_limit,
        limits.and_then(|l| l.body_limit.as_ref()),
        defaults.body_limit,
    )?;
    let header_read_timeout = m.positive(
        "limits.header_read_timeout_secs",
        ("--header-read-timeout", "SHELFMARK_HEADER_READ_TIMEOUT"),
        |v| v.header_read_timeout,
        limits.and_then(|l| l.header_read_timeout_secs.as_ref()),
        defaults.header_read_timeout.as_secs(),
    )?;
    let request_timeout = m.positive(
        "limits.request_timeout_secs",
        ("--request-timeout", "SHELFMARK_REQUEST_TIMEOUT"),
        |v| v.request_timeout,
        limits.and_then(|l| l.request_timeout_secs.as_ref()),
        defaults.request_timeout.as_secs(),
    )?;
    let max_in_flight = m.positive(
        "limits.max_in_flight",
        ("--max-in-flight", "SHELFMARK_MAX_IN_FLIGHT"),
        |v| v.max_in_flight,
        limits.and_then(|l| l.max_in_flight.as_ref()),
        defaults.max_in_flight,
    )?;
    let max_password_checks = m.positive(
        "limits.max_password_checks",
        ("--max-password-checks", "SHELFMARK_MAX_PASSWORD_CHECKS"),
        |v| v.max_password_checks,
        limits.and_then(|l| l.max_password_checks.as_ref()),
        defaults.max_password_checks,
    )?;

    let (smtp_url, smtp_origin) = m.pick(
        "mail.smtp_url",
        ("--smtp-url", "SHELFMARK_SMTP_URL"),
        |v| v.smtp_url.clone(),
        mail.and_then(|x| x.smtp_url.as_ref()),
        None,
        |u| toml_str(&mask_url(u)),
    );
    if let Some(url) = &smtp_url
        && let Err(e) = Transport::smtp(url)
    {
        return Err(ConfigError::Value {
            origin: smtp_origin,
            key: "mail.smtp_url",
            message: e.to_string(),
        });
    }
    let (manager, manager_origin) = m.pick(
        "mail.manager_email",
        ("--manager-email", "SHELFMARK_MANAGER_EMAIL"),
        |v| v.manager_email.clone(),
        mail.and_then(|x| x.manager_email.as_ref()),
        None,
        |s| toml_str(s),
    );
    let manager = match (manager, &smtp_url) {
        (Some(m), _) => m,
        (None, Some(_)) => {
            return Err(ConfigError::Value {
                origin: smtp_origin,
                key: "mail.smtp_url",
                message: "mail goes to an SMTP server: set mail.manager_email \
                          (--manager-email, SHELFMARK_MANAGER_EMAIL) too"
                    .into(),
            });
        }
        (None, None) => "manager@localhost".to_owned(),
    };
    let (from, from_origin) = m.pick(
        "mail.from",
        ("--mail-from", "SHELFMARK_MAIL_FROM"),
        |v| v.mail_from.clone(),
        mail.and_then(|x| x.from.as_ref()),
        Some("Shelfmark <shelfmark@localhost>".to_owned()),
        |s| toml_str(s),
    );
    let from = from.unwrap_or_default();
    let mail_settings = MailSettings::new(&from, "manager@localhost")
        .map_err(|e| ConfigError::Value {
            origin: from_origin,
            key: "mail.from",
            message: e.to_string(),
        })
        .and_then(|_| {
            MailSettings::new(&from, &manager).map_err(|e| ConfigError::Value {
                origin: manager_origin,
                key: "mail.manager_email",
                message: e.to_string(),
            })
        })?;
    let (spool, _) = m.pick(
        "mail.spool",
        ("--mail-spool", "SHELFMARK_MAIL_SPOOL"),
        |v| v.mail_spool.clone(),
        mail.and_then(|x| x.spool.as_ref()),
        Some(default_spool(&database)),
        |p| toml_path(p),
    );
    let spool = spool.unwrap_or_default();

    let pickup_days = m.positive(
        "circulation.pickup_days",
        ("--pickup-days", "SHELFMARK_PICKUP_DAYS"),
        |v| v.pickup_days,
        circ.and_then(|c| c.pickup_days.as_ref()),
        7,
    )?;
    let loan_days = m.positive(
        "circulation.loan_days",
        ("--loan-days", "SHELFMARK_LOAN_DAYS"),
        |v| v.loan_days,
        circ.and_then(|c| c.loan_days.as_ref()),
        21,
    )?;

    let server = Config {
        body_limit,
        token_ttl: Duration::from_secs(token_hours.saturating_mul(3600)),
        mail: mail_settings,
        circulation: Circulation {
            pickup_window: chrono::Duration::days(pickup_days.into()),
            loan_period: chrono::Duration::days(loan_days.into()),
        },
        tls,
        header_read_timeout: Duration::from_secs(header_read_timeout),
        request_timeout: Duration::from_secs(request_timeout),
        max_in_flight,
        max_password_checks,
        ..Config::default()
    };
    let shown = m.shown;
    Ok(Settings {
        listen,
        database,
        log_format,
        server,
        mail: MailTransport { smtp_url, spool },
        file: file.map(|f| f.path),
        shown,
    })
}

struct Merge<'a> {
    flags: &'a Values,
    env: &'a Values,
    file: Option<&'a FileValues>,
    shown: Vec<Shown>,
}

impl Merge<'_> {
    /// The value of one setting: the flag's, else the variable's, else the file's, else the
    /// default; recorded for `config show` (as TOML by `show`).
    fn pick<T: Clone>(
        &mut self,
        key: &'static str,
        (flag, var): (&'static str, &'static str),
        get: impl Fn(&Values) -> Option<T>,
        in_file: Option<&Spanned<T>>,
        default: Option<T>,
        show: impl Fn(&T) -> String,
    ) -> (Option<T>, Origin) {
        let (value, origin) = if let Some(v) = get(self.flags) {
            (Some(v), Origin::Flag(flag))
        } else if let Some(v) = get(self.env) {
            (Some(v), Origin::Env(var))
        } else if let (Some(v), Some(file)) = (in_file, self.file) {
            (Some(v.get_ref().clone()), file.origin(v))
        } else {
            (default, Origin::Default)
        };
        self.shown.push(Shown {
            key,
            value: value.as_ref().map(show),
            origin: origin.clone(),
        });
        (value, origin)
    }

    /// [`Merge::pick`] of a number that must be at least 1.
    fn positive<T>(
        &mut self,
        key: &'static str,
        names: (&'static str, &'static str),
        get: impl Fn(&Values) -> Option<T>,
        in_file: Option<&Spanned<T>>,
        default: T,
    ) -> Result<T, ConfigError>
    where
        T: Copy + Default + PartialEq + fmt::Display,
    {
        let (value, origin) = self.pick(key, names, get, in_file, Some(default), |n| n.to_string());
        let value = value.unwrap_or(default);
        // Every number of the settings is a count or a length: zero (the default of the
        // type) is none.
        if value == T::default() {
            return Err(ConfigError::Value {
                origin,
                key,
                message: "must be at least 1".into(),
            });
        }
        Ok(value)
    }
}

fn toml_str(s: &str) -> String {
    toml::Value::String(s.to_owned()).to_string()
}

fn toml_path(p: &Path) -> String {
    toml::Value::String(p.display().to_string()).to_string()
}

/// The URL with its password (if any) replaced by `****`.
pub fn mask_url(raw: &str) -> String {
    match url::Url::parse(raw) {
        Ok(mut u) if u.password().is_some() => {
            if u.set_password(Some("****")).is_ok() {
                u.to_string()
            } else {
                "****".to_owned()
            }
        }
        Ok(_) => raw.to_owned(),
        // Not a URL the server would accept anyway; shown masked in case it holds a secret.
        Err(_) => "****".to_owned(),
    }
}

fn check_database(url: &str) -> Result<(), String> {
    DatabaseUrl::parse(url)
        .map(|_| ())
        .map_err(|e| e.to_string())
}

/// The default database: a SQLite file in the platform data directory.
fn default_database() -> String {
    let dir = dirs::data_dir()
        .map(|d| d.join("shelfmark"))
        .unwrap_or_else(|| PathBuf::from("."));
    format!("sqlite://{}", dir.join("shelfmark-server.db").display())
}

/// The SQLite file a database URL names, if it names one.
pub fn sqlite_path(database_url: &str) -> Option<PathBuf> {
    match DatabaseUrl::parse(database_url) {
        Ok(DatabaseUrl::Sqlite(path)) => Some(path),
        _ => None,
    }
}

/// The spool folder's default: beside a SQLite file, else in the platform data directory.
fn default_spool(database_url: &str) -> PathBuf {
    match sqlite_path(database_url).as_deref().map(Path::parent) {
        Some(Some(dir)) if !dir.as_os_str().is_empty() => dir.join("mail-spool"),
        Some(_) => PathBuf::from("mail-spool"),
        None => dirs::data_dir()
            .map(|d| d.join("shelfmark"))
            .unwrap_or_else(|| PathBuf::from("."))
            .join("mail-spool"),
    }
}

impl Settings {
    /// Whether the server serves HTTPS.
    pub fn scheme(&self) -> &'static str {
        if self.server.tls.is_some() {
            "https"
        } else {
            "http"
        }
    }

    /// The effective settings as a TOML file (the SMTP URL's password masked), each value
    /// followed by where it came from; a setting not set is a comment.
    pub fn show(&self) -> String {
        let mut out = String::from(
            "# The effective settings of shelfmark-server: each value's origin is flag, env,\n\
             # file (with its line) or default. Precedence: flag > env > file > default.\n",
        );
        match &self.file {
            Some(path) => {
                let _ = writeln!(out, "# Settings file: {}", path.display());
            }
            None => out.push_str("# Settings file: none read\n"),
        }
        let mut section = None;
        for s in &self.shown {
            let (table, key) = match s.key.split_once('.') {
                Some((table, key)) => (Some(table), key),
                None => (None, s.key),
            };
            if table != section {
                section = table;
                if let Some(name) = section {
                    let _ = write!(out, "\n[{name}]\n");
                }
            }
            match &s.value {
                Some(v) => {
                    let _ = writeln!(out, "{key} = {v}  # {}", s.origin);
                }
                None => {
                    let _ = writeln!(out, "# {key} is not set  # {}", s.origin);
                }
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_url_shows_no_password() {
        assert_eq!(
            mask_url("smtps://ann:s3cret@mail.example.org:465"),
            "smtps://ann:****@mail.example.org:465"
        );
        assert_eq!(
            mask_url("smtp://mail.example.org:587?tls=required"),
            "smtp://mail.example.org:587?tls=required"
        );
    }

    #[test]
    fn lines_count_from_one() {
        assert_eq!(line_of("a\nb\nc", 0), 1);
        assert_eq!(line_of("a\nb\nc", 2), 2);
        assert_eq!(line_of("a\nb\nc", 4), 3);
    }
}
