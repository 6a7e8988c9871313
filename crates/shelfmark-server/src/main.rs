//! `shelfmark-server`: the command line around the library. It parses the command line,
//! loads the settings (`shelfmark_server::config`: flags > environment > file > defaults) and
//! runs one subcommand: `serve` (the default), `config show`, `user ...`, `import marc`,
//! `export marc`, `backup`, `restore`.
//!
//! Mail (the outbox of `shelfmark_server::mail`) leaves through the SMTP URL when one is set,
//! else into `.eml` files in a spool folder beside the database, so nothing is lost.
//!
//! Stdout carries exactly one line once the socket is bound (`shelfmark-server listening on
//! http://ADDR`, `https://` with TLS), so scripts and tests can wait for it and learn the port;
//! logs go to stderr.

use std::io::{BufRead, IsTerminal, Write};
use std::path::PathBuf;

use anyhow::{Context, bail};
use clap::{CommandFactory, FromArgMatches, Parser, Subcommand, ValueEnum};
use shelfmark_core::wire::Role;
use shelfmark_marc::Format;
use shelfmark_server::catalogue::OnDuplicate;
use shelfmark_server::config::{self, LogFormat, Settings, Values};
use shelfmark_server::demo::{self, Seeded};
use shelfmark_server::mail::{Retry, spawn_delivery_until};
use shelfmark_server::store::Store;
use shelfmark_server::{AppState, auth, backup, serve};
use tokio::net::TcpListener;

/// mimalloc: measurably faster than the system allocator for a server's many small,
/// short-lived allocations (see BENCHMARKS.md).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser)]
#[command(
    name = "shelfmark-server",
    version,
    about = "The Shelfmark library server",
    after_help = "Settings come from the flags, else the environment, else the settings file \
                  (/etc/shelfmark/server.toml when it exists, or --config FILE), else the \
                  defaults; `shelfmark-server config show` prints them and their origin."
)]
struct Cli {
    #[command(flatten)]
    settings: Values,
    /// Seed a demo library on an empty database (staff password: SHELFMARK_DEMO_PASSWORD).
    #[arg(long, global = true)]
    demo: bool,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Serve the library (what the server does without a subcommand).
    Serve,
    /// The effective settings.
    Config {
        #[command(subcommand)]
        action: ConfigAction,
    },
    /// Manage staff users (passwords are read from a prompt, or from stdin when it is no
    /// terminal: one line).
    User {
        #[command(subcommand)]
        action: UserAction,
    },
    /// Copy a SQLite database to FILE, consistently, while the server runs (PostgreSQL:
    /// use pg_dump; this says how).
    Backup {
        #[arg(long, value_name = "FILE")]
        to: PathBuf,
    },
    /// Bring records into the catalogue (the configured database; the server may be running).
    Import {
        #[command(subcommand)]
        what: ImportWhat,
    },
    /// Write the catalogue out.
    Export {
        #[command(subcommand)]
        what: ExportWhat,
    },
    /// Replace the SQLite database by a backup, after checking it is one this server can
    /// open. Stop the server first: it is refused while another process has the database
    /// open (PostgreSQL: use pg_restore; this says how).
    Restore {
        #[arg(long, value_name = "FILE")]
        from: PathBuf,
    },
}

#[derive(Subcommand)]
enum ImportWhat {
    /// MARC 21 bibliographic records (ISO 2709 or MARCXML, UTF-8 or MARC-8) as books. Each
    /// is a normal write (history, change feed, search); running a file again changes
    /// nothing. Rejected records go to FILE.rejected.tsv beside the first file.
    Marc {
        #[arg(required = true, value_name = "FILE")]
        files: Vec<PathBuf>,
        /// The files' format, iso2709 or marcxml (default: told by their first bytes).
        #[arg(long)]
        format: Option<Format>,
        /// A book already in the catalogue (same record or same ISBN) with other content.
        #[arg(long, value_enum, default_value = "skip")]
        on_duplicate: OnDuplicate,
        /// Print the summary as one JSON object on stdout.
        #[arg(long)]
        json: bool,
    },
}

#[derive(Subcommand)]
enum ExportWhat {
    /// Every book as a MARC 21 record, to FILE (or stdout with `-`).
    Marc {
        /// iso2709 or marcxml.
        #[arg(long, default_value = "marcxml")]
        format: Format,
        #[arg(long, value_name = "FILE", default_value = "-")]
        to: PathBuf,
    },
}

#[derive(Subcommand)]
enum ConfigAction {
    /// Print the effective settings as TOML, each with where it came from (flag, env, file,
    /// default); the SMTP URL's password is masked.
    Show,
}

#[derive(Subcommand)]
enum UserAction {
    /// List the staff users: name, role, enabled or disabled, created, live sessions.
    List,
    /// Add a user; the password is read from a prompt or stdin.
    Add {
        name: String,
        #[arg(long, value_enum)]
        role: RoleArg,
    },
    /// Change a user's password (read from a prompt or stdin); their sessions end.
    Passwd { name: String },
    /// Disable a user: they cannot sign in, and their sessions end.
    Disable { name: String },
    /// Enable a disabled user again.
    Enable { name: String },
    /// Remove a user and their sessions; the history keeps their name.
    Remove { name: String },
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
    auth::check_password(&password)?;
    Ok(password)
}

fn init_logs(format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let logs = tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(filter);
    match format {
        LogFormat::Text => logs.with_ansi(std::io::stderr().is_terminal()).init(),
        LogFormat::Json => logs.json().init(),
    }
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
    let matches = Cli::command().get_matches();
    let cli = Cli::from_arg_matches(&matches)?;
    let (flags, env, file) = cli.settings.clone().from_command_line(&matches);
    let settings = config::load(&flags, &env, &file)?;
    init_logs(settings.log_format);
    if let Some(path) = &settings.file {
        tracing::info!(file = %path.display(), "settings file read");
    }
    match cli.command {
        None | Some(Command::Serve) => run_server(settings, cli.demo).await,
        Some(Command::Config {
            action: ConfigAction::Show,
        }) => {
            print!("{}", settings.show());
            Ok(())
        }
        Some(Command::User { action }) => user(&settings, action).await,
        Some(Command::Import {
            what:
                ImportWhat::Marc {
                    files,
                    format,
                    on_duplicate,
                    json,
                },
        }) => import_marc(&settings, &files, format, on_duplicate, json).await,
        Some(Command::Export {
            what: ExportWhat::Marc { format, to },
        }) => export_marc(&settings, format, &to).await,
        Some(Command::Backup { to }) => match config::sqlite_path(&settings.database) {
            Some(db) => {
                let task = move || backup::backup_sqlite(&db, &to).map(|()| to);
                let to = tokio::task::spawn_blocking(task).await??;
                eprintln!("backup written to {}", to.display());
                Ok(())
            }
            None => {
                let (dump, _) = backup::postgres_commands(&settings.database, &to);
                bail!("the database is PostgreSQL: back it up with pg_dump, for example\n  {dump}")
            }
        },
        Some(Command::Restore { from }) => match config::sqlite_path(&settings.database) {
            Some(db) => {
                let target = db.clone();
                let task = move || backup::restore_sqlite(&from, &target);
                let version = tokio::task::spawn_blocking(task).await??;
                eprintln!(
                    "restored {} (schema {version}; migrated at the next start when older)",
                    db.display()
                );
                Ok(())
            }
            None => {
                let (_, restore) = backup::postgres_commands(&settings.database, &from);
                bail!(
                    "the database is PostgreSQL: restore it with pg_restore (server stopped), \
                     for example\n  {restore}"
                )
            }
        },
    }
}

async fn open_store(settings: &Settings) -> anyhow::Result<Store> {
    let url = &settings.database;
    let store = Store::connect(url)
        .await
        .with_context(|| format!("opening the database {}", config::mask_url(url)))?;
    tracing::info!(backend = store.backend(), "database ready");
    Ok(store)
}

/// The author of an import's revisions, as the history shows it.
const IMPORTER: &str = "marc-import";

async fn import_marc(
    settings: &Settings,
    files: &[PathBuf],
    format: Option<Format>,
    on_duplicate: OnDuplicate,
    json: bool,
) -> anyhow::Result<()> {
    use shelfmark_server::catalogue::{self, Summary};
    let store = open_store(settings).await?;
    let actor = shelfmark_server::store::Actor {
        name: IMPORTER.into(),
    };
    let report_path = catalogue::report_path(&files[0]);
    let mut report: Option<std::io::BufWriter<std::fs::File>> = None;
    let mut report_error = None;
    let mut summary = Summary::default();
    let mut failed = None;
    for file in files {
        let mut reject = |r: catalogue::Rejected| {
            if report_error.is_some() {
                return;
            }
            let line = catalogue::report_line(&r);
            let written = match &mut report {
                Some(out) => out.write_all(line.as_bytes()),
                None => std::fs::File::create(&report_path).and_then(|f| {
                    let mut out = std::io::BufWriter::new(f);
                    out.write_all(b"file\trecord\t001\treason\n")?;
                    out.write_all(line.as_bytes())?;
                    report = Some(out);
                    Ok(())
                }),
            };
            if let Err(e) = written {
                report_error = Some(e);
            }
        };
        let result = catalogue::import_file(
            &store,
            &actor,
            file,
            format,
            on_duplicate,
            &mut summary,
            &mut reject,
        )
        .await;
        if let Err(e) = result {
            failed = Some(e);
            break;
        }
    }
    if let Some(mut out) = report {
        out.flush()?;
    }
    if json {
        println!("{}", serde_json::to_string(&summary)?);
    } else {
        eprintln!(
            "read {}, created {}, updated {}, skipped {}, rejected {}",
            summary.read, summary.created, summary.updated, summary.skipped, summary.rejected
        );
    }
    if summary.rejected > 0 {
        eprintln!("rejected records are listed in {}", report_path.display());
    }
    if let Some(e) = report_error {
        bail!(
            "the report {} could not be written: {e}",
            report_path.display()
        );
    }
    if let Some(e) = failed {
        bail!("{e} (what came before is imported; run the import again once the file is mended)");
    }
    Ok(())
}

async fn export_marc(
    settings: &Settings,
    format: Format,
    to: &std::path::Path,
) -> anyhow::Result<()> {
    use shelfmark_server::catalogue;
    let store = open_store(settings).await?;
    let written = if to == std::path::Path::new("-") {
        let out = std::io::BufWriter::new(std::io::stdout().lock());
        catalogue::export(&store, format, out, to).await?
    } else {
        // Written beside the target and renamed into place, so a failed export leaves no
        // half-written file under the name asked for.
        let partial = to.with_extension("partial");
        let file = std::fs::File::create(&partial)
            .with_context(|| format!("cannot create {}", partial.display()))?;
        let written = catalogue::export(&store, format, std::io::BufWriter::new(file), to).await;
        match written {
            Ok(n) => {
                std::fs::rename(&partial, to)?;
                n
            }
            Err(e) => {
                let _ = std::fs::remove_file(&partial);
                return Err(e.into());
            }
        }
    };
    eprintln!("exported {written} books");
    Ok(())
}

async fn user(settings: &Settings, action: UserAction) -> anyhow::Result<()> {
    let store = open_store(settings).await?;
    match action {
        UserAction::List => {
            let users = auth::list(&store).await?;
            let mut out = std::io::stdout().lock();
            writeln!(
                out,
                "{:<24} {:<10} {:<9} {:<24} sessions",
                "name", "role", "status", "created"
            )?;
            for u in users {
                let status = if u.disabled { "disabled" } else { "enabled" };
                writeln!(
                    out,
                    "{:<24} {:<10} {:<9} {:<24} {}",
                    u.name,
                    u.role.as_str(),
                    status,
                    u.created_at,
                    u.live_sessions
                )?;
            }
        }
        UserAction::Add { name, role } => {
            let password = read_password(&name)?;
            auth::add(&store, &name, role.into(), &password).await?;
            eprintln!("user {name} added");
        }
        UserAction::Passwd { name } => {
            if store.user_named(&name).await?.is_none() {
                bail!(auth::UserAdminError::NoSuchUser(name));
            }
            let password = read_password(&name)?;
            let ended = auth::passwd(&store, &name, &password).await?;
            eprintln!("password of {name} changed; {ended} session(s) ended");
        }
        UserAction::Disable { name } => {
            let ended = auth::disable(&store, &name).await?;
            eprintln!("user {name} disabled; {ended} session(s) ended");
        }
        UserAction::Enable { name } => {
            auth::enable(&store, &name).await?;
            eprintln!("user {name} enabled");
        }
        UserAction::Remove { name } => {
            let ended = auth::remove(&store, &name).await?;
            eprintln!("user {name} removed; {ended} session(s) ended");
        }
    }
    Ok(())
}

async fn run_server(settings: Settings, seed_demo: bool) -> anyhow::Result<()> {
    let store = open_store(&settings).await?;
    if seed_demo {
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
    let transport = settings.mail.transport()?;
    if settings.mail.smtp_url.is_none() {
        let spool = settings.mail.spool.display();
        tracing::info!(spool = %spool, "no SMTP server set: mails go to the spool folder");
    }
    let listener = TcpListener::bind(&settings.listen)
        .await
        .with_context(|| format!("listening on {}", settings.listen))?;
    let addr = listener.local_addr()?;
    {
        let mut out = std::io::stdout().lock();
        writeln!(
            out,
            "shelfmark-server listening on {}://{addr}",
            settings.scheme()
        )?;
        out.flush()?;
    }
    let state = AppState::new(store, settings.server);
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
