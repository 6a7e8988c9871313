//! `shelfmark-server`: the command line around the library (`shelfmark_server::serve`).
//!
//! Mail (the outbox of `shelfmark_server::mail`) leaves through `SHELFMARK_SMTP_URL` when it is
//! set, else into `.eml` files in a spool folder beside the database, so nothing is lost.
//!
//! Stdout carries exactly one line once the socket is bound (`shelfmark-server listening on
//! http://ADDR`), so scripts and tests can wait for it and learn the port; logs go to stderr.

use std::io::{BufRead, IsTerminal, Write};
use std::path::PathBuf;

use anyhow::{Context, bail};
use clap::{Parser, Subcommand, ValueEnum};
use shelfmark_core::wire::Role;
use shelfmark_server::demo::{self, Seeded};
use shelfmark_server::mail::{MailSettings, Retry, Transport, spawn_delivery_until};
use shelfmark_server::records::Circulation;
use shelfmark_server::store::Store;
use shelfmark_server::{AppState, Config, auth, serve};
use tokio::net::TcpListener;

/// mimalloc: measurably faster than the system allocator for a server's many small,
/// short-lived allocations (see BENCHMARKS.md).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser)]
#[command(
    name = "shelfmark-server",
    version,
    about = "The Shelfmark library server"
)]
struct Cli {
    /// Address to listen on (port 0 picks a free port).
    #[arg(
        long,
        env = "SHELFMARK_LISTEN",
        default_value = "127.0.0.1:8080",
        global = true
    )]
    listen: String,
    /// `sqlite://PATH` or `postgres://...`; default: a SQLite file in the platform data directory.
    #[arg(long, env = "SHELFMARK_DATABASE_URL", global = true)]
    database: Option<String>,
    /// Seed a demo library on an empty database (staff password: SHELFMARK_DEMO_PASSWORD).
    #[arg(long)]
    demo: bool,
    /// Largest request body accepted, in bytes.
    #[arg(long, env = "SHELFMARK_BODY_LIMIT", default_value_t = 1024 * 1024)]
    body_limit: usize,
    /// How long a login token stays valid, in hours.
    #[arg(long, env = "SHELFMARK_TOKEN_HOURS", default_value_t = 12)]
    token_hours: u64,
    /// SMTP server for the mail outbox (`smtp://host:25`, `smtps://user:pass@host`,
    /// `smtp://host:587?tls=required`). Unset: mails are written to the spool folder.
    #[arg(long, env = "SHELFMARK_SMTP_URL")]
    smtp_url: Option<String>,
    /// Where the manager's mails go (premium patrons' lost holds).
    #[arg(long, env = "SHELFMARK_MANAGER_EMAIL")]
    manager_email: Option<String>,
    /// The sender of the server's mails.
    #[arg(
        long,
        env = "SHELFMARK_MAIL_FROM",
        default_value = "Shelfmark <shelfmark@localhost>"
    )]
    mail_from: String,
    /// Folder of `.eml` files when no SMTP server is set (default: `mail-spool` beside a SQLite
    /// database, else in the platform data directory).
    #[arg(long, env = "SHELFMARK_MAIL_SPOOL")]
    mail_spool: Option<PathBuf>,
    /// How many days a ready hold waits on the hold shelf before it expires.
    #[arg(long, env = "SHELFMARK_PICKUP_DAYS", default_value_t = 7)]
    pickup_days: u32,
    /// How many days a loan lasts.
    #[arg(long, env = "SHELFMARK_LOAN_DAYS", default_value_t = 21)]
    loan_days: u32,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Manage staff users.
    User {
        #[command(subcommand)]
        action: UserAction,
    },
}

#[derive(Subcommand)]
enum UserAction {
    /// Add a user (or reset an existing one); the password is read from stdin or a prompt.
    Add {
        name: String,
        #[arg(long, value_enum)]
        role: RoleArg,
    },
}

#[derive(Clone, Copy, ValueEnum)]
enum RoleArg {
    Librarian,
    Manager,
}

impl From<RoleArg> for Role {
    fn from(r: RoleArg) -> Role {
        match r {
            RoleArg::Librarian => Role::Librarian,
            RoleArg::Manager => Role::Manager,
        }
    }
}

fn default_database() -> String {
    let dir = dirs::data_dir()
        .map(|d| d.join("shelfmark"))
        .unwrap_or_else(|| PathBuf::from("."));
    format!("sqlite://{}", dir.join("shelfmark-server.db").display())
}

/// The spool folder's default: beside a SQLite file, else in the platform data directory.
fn default_spool(database_url: &str) -> PathBuf {
    let sqlite_file = database_url
        .strip_prefix("sqlite:")
        .map(|rest| rest.strip_prefix("//").unwrap_or(rest))
        .map(|rest| rest.split('?').next().unwrap_or(rest))
        .map(PathBuf::from);
    match sqlite_file.as_deref().and_then(|f| f.parent()) {
        Some(dir) if !dir.as_os_str().is_empty() => dir.join("mail-spool"),
        Some(_) => PathBuf::from("mail-spool"),
        None => dirs::data_dir()
            .map(|d| d.join("shelfmark"))
            .unwrap_or_else(|| PathBuf::from("."))
            .join("mail-spool"),
    }
}

fn read_password(name: &str) -> anyhow::Result<String> {
    let password = if std::io::stdin().is_terminal() {
        let first = rpassword::prompt_password(format!("Password for {name}: "))?;
        let again = rpassword::prompt_password("Again: ")?;
        if first != again {
            bail!("the passwords differ");
        }
        first
    } else {
        let mut line = String::new();
        std::io::stdin().lock().read_line(&mut line)?;
        line.trim_end_matches(['\r', '\n']).to_owned()
    };
    if password.chars().count() < 8 {
        bail!("a password needs at least 8 characters");
    }
    Ok(password)
}

async fn shutdown_signal() {
    let ctrl_c = async {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = terminate => {},
    }
    tracing::info!("shutting down: finishing in-flight requests");
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .init();
    let cli = Cli::parse();
    let url = cli.database.clone().unwrap_or_else(default_database);
    let store = Store::connect(&url)
        .await
        .with_context(|| format!("opening the database {url}"))?;
    tracing::info!(backend = store.backend(), "database ready");

    if let Some(Command::User {
        action: UserAction::Add { name, role },
    }) = cli.command
    {
        let name = name.trim().to_owned();
        if name.is_empty() {
            bail!("a user needs a name");
        }
        let password = read_password(&name)?;
        auth::add_user(&store, &name, role.into(), &password).await?;
        eprintln!("user {name} saved");
        return Ok(());
    }

    if cli.demo {
        let password = std::env::var("SHELFMARK_DEMO_PASSWORD")
            .ok()
            .filter(|p| !p.is_empty());
        let started = std::time::Instant::now();
        match demo::seed(&store, password).await? {
            Seeded::Created { generated_password } => {
                tracing::info!(elapsed = ?started.elapsed(), "demo library seeded");
                if let Some(p) = generated_password {
                    eprintln!("demo users librarian and manager have the password: {p}");
                }
            }
            Seeded::AlreadySeeded => tracing::info!("demo library already there"),
            Seeded::NotEmpty => {
                tracing::warn!("the database holds records already: the demo library was not added")
            }
        }
    }

    let manager = match (&cli.manager_email, &cli.smtp_url) {
        (Some(m), _) => m.clone(),
        (None, Some(_)) => bail!("SHELFMARK_SMTP_URL is set: set SHELFMARK_MANAGER_EMAIL too"),
        (None, None) => "manager@localhost".into(),
    };
    let mail = MailSettings::new(&cli.mail_from, &manager)?;
    let transport = match &cli.smtp_url {
        Some(url) => Transport::smtp(url)?,
        None => {
            let spool = cli
                .mail_spool
                .clone()
                .unwrap_or_else(|| default_spool(&url));
            tracing::info!(spool = %spool.display(), "no SMTP server set: mails go to the spool folder");
            Transport::Spool(spool)
        }
    };
    let config = Config {
        body_limit: cli.body_limit,
        token_ttl: std::time::Duration::from_secs(cli.token_hours.max(1) * 3600),
        mail,
        circulation: Circulation {
            pickup_window: chrono::Duration::days(cli.pickup_days.max(1).into()),
            loan_period: chrono::Duration::days(cli.loan_days.max(1).into()),
        },
        ..Config::default()
    };
    let listener = TcpListener::bind(&cli.listen)
        .await
        .with_context(|| format!("listening on {}", cli.listen))?;
    let addr = listener.local_addr()?;
    {
        let mut out = std::io::stdout().lock();
        writeln!(out, "shelfmark-server listening on http://{addr}")?;
        out.flush()?;
    }
    let state = AppState::new(store, config);
    // On shutdown the delivery finishes its pass (bounded by the SMTP timeout) rather than
    // being cut between a mail's acceptance and its mark as sent.
    let (stop_delivery, delivery_stopped) = tokio::sync::oneshot::channel::<()>();
    let mut delivery = spawn_delivery_until(
        state.store.clone(),
        transport,
        Retry::default(),
        state.mail_wake.clone(),
        async {
            let _ = delivery_stopped.await;
        },
    );
    let served = serve(listener, state, shutdown_signal()).await;
    let _ = stop_delivery.send(());
    if tokio::time::timeout(std::time::Duration::from_secs(30), &mut delivery)
        .await
        .is_err()
    {
        tracing::warn!("mail delivery still busy after 30 s: stopping it");
        delivery.abort();
    }
    served?;
    Ok(())
}
