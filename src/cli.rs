//! The command line: `emporium [serve|migrate|seed]`.

use clap::{Parser, Subcommand};

use crate::config::Config;

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
    /// Exit 0 when the server on BIND_ADDR answers `/health/live` (for container health checks).
    Healthcheck,
}

/// Runs the command line; the error is printed by `main`.
pub async fn run(cli: Cli) -> anyhow::Result<()> {
    let config = Config::from_env()?;
    crate::telemetry::init(config.log_format);
    match cli.command.unwrap_or(Command::Serve) {
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
            let mut conn = state
                .conn()
                .await
                .map_err(|_| anyhow::anyhow!("cannot connect to PostgreSQL (DATABASE_URL)"))?;
            let report = crate::seed::seed_catalog(&mut conn).await?;
            println!(
                "seed: created {} categories, {} tags, {} products in {:.1} s",
                report.categories,
                report.tags,
                report.products,
                started.elapsed().as_secs_f64()
            );
            Ok(())
        }
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
