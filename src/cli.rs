//! The command line: `emporium [serve|migrate|seed|create-admin|healthcheck|import-catwalk|generate-catwalk]`.

use clap::{Parser, Subcommand};

use secrecy::SecretString;

use crate::auth::domain::NewAccount;
use crate::auth::service::create_account;
use crate::config::Config;
use crate::domain::Role;
use crate::error::AppError;

/// Where `create-admin` reads the password when stdin is not used.
pub const ADMIN_PASSWORD_VARIABLE: &str = "EMPORIUM_ADMIN_PASSWORD";

#[derive(Debug, Parser)]
#[command(name = "emporium", version, about = "An e-commerce back end")]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Apply pending migrations and serve HTTP (the default).
    Serve,
    /// Apply pending migrations and exit.
    Migrate,
    /// Apply pending migrations and load the demo catalog (idempotent).
    Seed,
    /// Create an admin account. The password is read from
    /// `EMPORIUM_ADMIN_PASSWORD` when set, otherwise from the first line of
    /// standard input; never from a flag, which would land in shell history.
    CreateAdmin {
        #[arg(long)]
        email: String,
        #[arg(long)]
        name: String,
    },
    /// Load the Project Catwalk SDC CSV files from DIR (COPY into new tables, swapped in at the end).
    ImportCatwalk {
        dir: std::path::PathBuf,
        /// Replace the catalog (in the swap's transaction) instead of refusing a non-empty one.
        #[arg(long)]
        replace: bool,
    },
    /// Write SDC-shaped CSV files with the real data set's proportions.
    GenerateCatwalk {
        #[arg(long)]
        products: u64,
        #[arg(long)]
        out: std::path::PathBuf,
        #[arg(long, default_value_t = 1)]
        seed: u64,
    },
    /// Exit 0 when the server on BIND_ADDR answers `/health/live` (for container health checks).
    Healthcheck,
}

/// Runs the command line; the error is printed by `main`.
pub async fn run(cli: Cli) -> anyhow::Result<()> {
    if let Some(Command::GenerateCatwalk {
        products,
        out,
        seed,
    }) = &cli.command
    {
        // Needs no configuration: it only writes files.
        let started = std::time::Instant::now();
        let counts = crate::catwalk::generate::generate(out, *products, *seed)?;
        let rows = counts.products
            + counts.features
            + counts.styles
            + counts.photos
            + counts.skus
            + counts.related;
        let seconds = started.elapsed().as_secs_f64();
        println!(
            "generate-catwalk: {} products, {} features, {} styles, {} photos, {} skus, {} related ({} dirty rows) in {}: {rows} rows in {seconds:.1} s, {:.0} rows/s",
            counts.products,
            counts.features,
            counts.styles,
            counts.photos,
            counts.skus,
            counts.related,
            counts.dirty,
            out.display(),
            rows as f64 / seconds.max(1e-9)
        );
        return Ok(());
    }
    let config = Config::from_env()?;
    crate::telemetry::init(config.log_format);
    match cli.command.unwrap_or(Command::Serve) {
        Command::GenerateCatwalk { .. } => unreachable!("handled above"),
        Command::ImportCatwalk { dir, replace } => {
            crate::db::ensure_database(config.database_url()).await?;
            crate::db::run_migrations(config.database_url()).await?;
            let state = crate::state::AppState::new(config)?;
            let report = crate::catwalk::import::import(&state, &dir, replace).await?;
            for file in &report.files {
                println!("{file}");
            }
            let rows: u64 = report.files.iter().map(|file| file.loaded).sum();
            println!(
                "import-catwalk: {rows} rows and {} categories loaded in {:.1} s (load {:.1} s, stock, indexes and keys {:.1} s), {:.0} rows/s",
                report.categories,
                report.total_seconds,
                report.load_seconds,
                report.index_seconds,
                rows as f64 / report.total_seconds.max(1e-9)
            );
            if let Some(path) = &report.rejects_file {
                println!(
                    "import-catwalk: every rejected line, with its reason: {}",
                    path.display()
                );
            }
            Ok(())
        }
        Command::Healthcheck => healthcheck(config.bind_addr).await,
        Command::Serve => crate::server::serve(config).await,
        Command::Migrate => {
            let started = std::time::Instant::now();
            crate::db::ensure_database(config.database_url()).await?;
            let applied = crate::db::run_migrations(config.database_url()).await?;
            println!(
                "migrate: {} migration(s) applied in {:.1} s{}",
                applied.len(),
                started.elapsed().as_secs_f64(),
                if applied.is_empty() {
                    " (already up to date)"
                } else {
                    ""
                }
            );
            Ok(())
        }
        Command::Seed => {
            let started = std::time::Instant::now();
            crate::db::ensure_database(config.database_url()).await?;
            crate::db::run_migrations(config.database_url()).await?;
            let state = crate::state::AppState::new(config)?;
            let (report, accounts) = crate::seed::run(&state).await?;
            let rows = report.categories + report.tags + report.products + accounts;
            let seconds = started.elapsed().as_secs_f64();
            println!(
                "seed: created {} categories, {} tags, {} products, {} accounts: {rows} rows in {seconds:.1} s, {:.0} rows/s",
                report.categories,
                report.tags,
                report.products,
                accounts,
                rows as f64 / seconds.max(1e-9)
            );
            Ok(())
        }
        Command::CreateAdmin { email, name } => {
            let password = admin_password()?;
            crate::db::ensure_database(config.database_url()).await?;
            crate::db::run_migrations(config.database_url()).await?;
            let account =
                NewAccount::parse(&email, password, &name, Role::Admin).map_err(describe)?;
            let state = crate::state::AppState::new(config)?;
            let mut conn = state
                .conn()
                .await
                .map_err(|_| anyhow::anyhow!("cannot connect to PostgreSQL (DATABASE_URL)"))?;
            let user = create_account(&mut conn, &state.hasher, account)
                .await
                .map_err(describe)?;
            println!("create-admin: admin {} has id {}", user.email, user.id);
            Ok(())
        }
    }
}

/// The new admin's password: the environment variable, else one line of stdin.
fn admin_password() -> anyhow::Result<SecretString> {
    if let Ok(password) = std::env::var(ADMIN_PASSWORD_VARIABLE) {
        return Ok(password.into());
    }
    let mut line = String::new();
    std::io::stdin().read_line(&mut line)?;
    let password = line.trim_end_matches(['\r', '\n']);
    if password.is_empty() {
        anyhow::bail!("no password: set {ADMIN_PASSWORD_VARIABLE} or write it on standard input");
    }
    Ok(password.to_owned().into())
}

/// An account error as one line for the terminal (field messages included).
fn describe(error: AppError) -> anyhow::Error {
    match error {
        AppError::Validation(errors) => anyhow::anyhow!("invalid account: {errors}"),
        other => anyhow::anyhow!("{other}"),
    }
}

/// A minimal HTTP/1.0 probe: the runtime image has no curl.
async fn healthcheck(bind_addr: std::net::SocketAddr) -> anyhow::Result<()> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    let mut target = bind_addr;
    if target.ip().is_unspecified() {
        target.set_ip(std::net::Ipv4Addr::LOCALHOST.into());
    }
    let probe = async {
        let mut stream = tokio::net::TcpStream::connect(target).await?;
        stream
            .write_all(b"GET /health/live HTTP/1.0\r\nHost: localhost\r\n\r\n")
            .await?;
        let mut head = [0u8; 12];
        stream.read_exact(&mut head).await?;
        anyhow::Ok(head)
    };
    let head = tokio::time::timeout(std::time::Duration::from_secs(3), probe).await??;
    if head.ends_with(b" 200") {
        Ok(())
    } else {
        anyhow::bail!("unhealthy: {}", String::from_utf8_lossy(&head))
    }
}
