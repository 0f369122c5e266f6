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
}

/// Runs the command line; the error is printed by `main`.
pub async fn run(cli: Cli) -> anyhow::Result<()> {
    let config = Config::from_env()?;
    crate::telemetry::init(config.log_format);
    match cli.command.unwrap_or(Command::Serve) {
        Command::Serve => crate::server::serve(config).await,
        Command::Migrate => {
            let started = std::time::Instant::now();
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
