//! `emporium import-catwalk DIR`: the SDC CSV files into the catalog, with
//! PostgreSQL `COPY`, on several connections at once, swapped in at the end
//! in one short transaction.
//!
//! Each file is read line by line (never whole) and each line parsed on its
//! own, so a broken quote costs that line only instead of swallowing the
//! ones after it. Rows are checked in Rust (fields, numbers, and that the
//! ids they point to were loaded: products for features, styles and related
//! rows; styles for photos and SKUs) and only good ones are streamed into
//! `COPY ... FROM STDIN`; PostgreSQL 15's COPY would stop at the first bad
//! row. The rows go into new tables, built like the live ones but without
//! their indexes, keys and triggers, which are added after the rows
//! (`stage`); the products are written once, after the SKUs, with the
//! stock the inventory's rule gives them. Two connections share the work
//! (`jobs`): the machine's cores, not one backend, set the pace.
//!
//! Readers and buyers use the live catalog meanwhile. Nothing live changes
//! until the swap (`swap`) commits, so a failed import leaves the catalog
//! as it was.
//! The CSV ids are kept, so the catalog must be empty, or `--replace`
//! empties it in the swap's transaction.

mod csv;
mod jobs;
mod load;
mod plan;
mod report;
mod rows;
mod stage;
mod swap;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use tokio_postgres::{Client, NoTls};

use load::Files;
use plan::Plan;
use plan::STAGE;
pub use report::{FileReport, ImportReport, REJECTS_FILE};
use report::{IdSet, RejectLog};

use crate::state::AppState;

/// Files in load order, with the header each must start with.
pub const FILES: [(&str, &str); 6] = [
    (
        "product.csv",
        "id,name,slogan,description,category,default_price",
    ),
    ("features.csv", "id,product_id,feature,value"),
    (
        "styles.csv",
        "id,productId,name,sale_price,original_price,default_style",
    ),
    ("photos.csv", "id,styleId,url,thumbnail_url"),
    ("skus.csv", "id,styleId,size,quantity"),
    ("related.csv", "id,current_product_id,related_product_id"),
];

/// How long readers skip the cache while an import swaps its tables in, at
/// most (if the import dies between its commit and the cache's finish).
const IMPORT_PENDING_TTL: std::time::Duration = std::time::Duration::from_secs(600);

/// The new table each file is copied into, and its columns, in [`FILES`]'
/// order (the products wait in `product_rows` for their stock).
const TARGETS: [(&str, &str); 6] = [
    (
        "product_rows",
        "id, product_name, slogan, description, category_id, price, stock",
    ),
    ("features", "id, product_id, feature, value"),
    (
        "styles",
        "id, product_id, name, sale_price, original_price, is_default",
    ),
    ("photos", "id, style_id, url, thumbnail_url"),
    ("skus", "id, style_id, size, quantity"),
    ("related_products", "id, product_id, related_product_id"),
];

/// A connection of the import's own, and the task that drives it.
struct Connection {
    client: Client,
    driver: tokio::task::JoinHandle<Result<(), tokio_postgres::Error>>,
}

impl Connection {
    async fn open(url: &str, settings: &str) -> anyhow::Result<Self> {
        let (client, connection) = tokio_postgres::connect(url, NoTls).await.map_err(|error| {
            anyhow::anyhow!("cannot connect to PostgreSQL (DATABASE_URL): {error}")
        })?;
        let driver = tokio::spawn(connection);
        client.batch_execute(settings).await?;
        Ok(Self { client, driver })
    }

    async fn close(self) {
        drop(self.client);
        let _ = self.driver.await;
    }
}

/// Runs the import (see the module documentation).
pub async fn import(state: &AppState, dir: &Path, replace: bool) -> anyhow::Result<ImportReport> {
    let started = Instant::now();
    let paths: Vec<PathBuf> = FILES.iter().map(|(file, _)| dir.join(file)).collect();
    for path in &paths {
        anyhow::ensure!(path.is_file(), "{} is missing", path.display());
    }
    let url = state.config.database_url();
    let mut coordinator = Connection::open(url, "SET lock_timeout = 0").await?;
    let locked: bool = coordinator
        .client
        .query_one("SELECT pg_try_advisory_lock($1)", &[&stage::IMPORT_LOCK])
        .await?
        .get(0);
    anyhow::ensure!(
        locked,
        "another import is running on this database; nothing was changed"
    );
    let outcome = run(state, &mut coordinator.client, url, &paths, replace, dir).await;
    if outcome.is_err()
        && let Err(error) = stage::discard(&coordinator.client).await
    {
        tracing::warn!(%error, "the import's new tables were left in the schema {STAGE}");
    }
    coordinator.close().await;
    let mut report = outcome?;
    report.total_seconds = started.elapsed().as_secs_f64();
    Ok(report)
}

async fn run(
    state: &AppState,
    coordinator: &mut Client,
    url: &str,
    paths: &[PathBuf],
    replace: bool,
    dir: &Path,
) -> anyhow::Result<ImportReport> {
    // The swap needs the cache's Redis: find out now, not after the load.
    state
        .cache
        .redis()
        .query::<String>(&redis::cmd("PING"))
        .await
        .map_err(|_| unreachable_cache())?;
    let holding = stage::holding_rows(&*coordinator).await?;
    if !holding.is_empty() && !replace {
        anyhow::bail!(
            "the catalog already holds rows (in {}); the import keeps the files' ids, \
             so it needs an empty catalog: run it with --replace to replace the catalog \
             (in the transaction that swaps the new one in)",
            holding.join(", ")
        );
    }
    let plan = Plan::read(coordinator).await?;
    stage::create(coordinator, &plan).await?;
    let rejects = RejectLog::in_dir(dir)?;
    let mut first = Connection::open(url, stage::BUILDER_SETTINGS).await?;
    let mut second = Connection::open(url, stage::BUILDER_SETTINGS).await?;

    let load_started = Instant::now();
    let files = Files {
        paths,
        rejects: &rejects,
    };
    let loaded = load(&mut first.client, &mut second.client, &files).await;
    let (files, categories) = match loaded {
        Ok(loaded) => loaded,
        // A refusal names the list of what was rejected.
        Err(error) => match rejects.finish() {
            Ok(Some(listed)) => {
                return Err(anyhow::anyhow!(
                    "{error:#} (the rejected lines: {})",
                    listed.display()
                ));
            }
            _ => return Err(error),
        },
    };
    let load_seconds = load_started.elapsed().as_secs_f64();

    let index_started = Instant::now();
    let jobs = jobs::plan(&plan);
    let built = jobs::run(&[&first.client, &second.client], &jobs).await;
    first.close().await;
    second.close().await;
    built?;
    // Before the cache's write begins: nothing that can fail comes between
    // its beginning and the swap (a write dropped unfinished would keep
    // catalog documents out of the cache for its markers' ten minutes).
    let rejects_file = rejects.finish()?;
    let write = state
        .cache
        .begin_write_for(crate::catalog::cache::bulk_change(), IMPORT_PENDING_TTL)
        .await
        .map_err(|_| unreachable_cache())?;
    let swapped = swap::swap(coordinator, &plan, replace).await;
    // A commit on its way may land after this process is gone: finishing
    // now could let a reader store the old catalog and serve it after.
    let finished = match &swapped {
        Err(error) if swap::outcome_unknown(error) => {
            write.leave_to_lapse();
            Ok(())
        }
        _ => write.finish().await,
    };
    swapped?;
    let validated = swap::validate_outside_keys(coordinator, &plan).await;
    finished.map_err(|error| {
        anyhow::anyhow!(
            "the new catalog is in place, but the cache could not record the end of the \
             write ({error}): readers store no document for up to ten minutes"
        )
    })?;
    validated.map_err(|error| {
        anyhow::anyhow!(
            "the new catalog is in place, but checking the rows that point into it failed \
             ({error}): PostgreSQL checks every row written, and the next import checks the rest"
        )
    })?;
    let index_seconds = index_started.elapsed().as_secs_f64();
    Ok(ImportReport {
        files,
        categories,
        load_seconds,
        index_seconds,
        total_seconds: 0.0,
        rejects_file,
    })
}

fn unreachable_cache() -> anyhow::Error {
    anyhow::anyhow!(
        "cannot reach the cache's Redis (CACHE_REDIS_URL, or REDIS_URL when unset) to retire \
         cached documents; nothing was changed"
    )
}

/// Loads the six files into the new tables: the products first (every other
/// file points to them), then two connections at once: features, related
/// rows and photos on one, styles and SKUs on the other (the photos wait
/// for the styles). Answers each file's report and how many categories the
/// products named.
async fn load(
    first: &mut Client,
    second: &mut Client,
    files: &Files<'_>,
) -> anyhow::Result<(Vec<FileReport>, usize)> {
    let mut products = rows::Products::default();
    let report = files
        .load(first, 0, |fields, buffer| products.row(fields, buffer))
        .await?;
    // A product file with nothing usable in it is a mistake (a wrong file,
    // a wrong format), not an empty catalog to swap in for the old one.
    anyhow::ensure!(
        report.loaded > 0,
        "product.csv has no loadable rows ({} rejected); nothing was changed",
        report.rejected
    );
    // Categories, with the ids the products were given.
    for (id, category) in products.categories.values() {
        first
            .execute(
                "INSERT INTO import_stage.categories (id, category_name) VALUES ($1, $2)",
                &[id, category],
            )
            .await?;
    }
    let ids = &products.ids;
    let (styles_loaded, styles_known) = tokio::sync::oneshot::channel::<Arc<IdSet>>();
    let one = async {
        let mut reports = Vec::new();
        for (index, check) in [(1, rows::feature as RowCheck), (5, rows::related)] {
            let mut seen = IdSet::default();
            let report = files
                .load(first, index, |fields, buffer| {
                    check(ids, &mut seen, fields, buffer)
                })
                .await?;
            reports.push((index, report));
        }
        let styles = styles_known
            .await
            .map_err(|_| anyhow::anyhow!("styles.csv did not load"))?;
        let mut photos_seen = IdSet::default();
        let photos = files
            .load(first, 3, |fields, buffer| {
                rows::photo(&styles, &mut photos_seen, fields, buffer)
            })
            .await?;
        reports.push((3, photos));
        anyhow::Ok(reports)
    };
    let other = async {
        let mut styles = IdSet::default();
        let report = files
            .load(second, 2, |fields, buffer| {
                rows::style(ids, &mut styles, fields, buffer)
            })
            .await?;
        let styles = Arc::new(styles);
        let _ = styles_loaded.send(Arc::clone(&styles));
        let mut skus_seen = IdSet::default();
        let skus = files
            .load(second, 4, |fields, buffer| {
                rows::sku(&styles, &mut skus_seen, fields, buffer)
            })
            .await?;
        anyhow::Ok(vec![(2, report), (4, skus)])
    };
    let (one, other) = tokio::join!(one, other);
    // The styles' own failure says more than the photos' wait for them.
    let mut reports = other?;
    reports.extend(one?);
    reports.push((0, report));
    reports.sort_by_key(|(index, _)| *index);
    refuse_unsellable(reports.iter().map(|(_, report)| report))?;
    Ok((
        reports.into_iter().map(|(_, report)| report).collect(),
        products.categories.len(),
    ))
}

/// A load that would swap in a catalog that sells nothing it used to: a
/// file whose every line was rejected (styles from another export, a wrong
/// format), or styles with no SKU at all (every Catwalk product would be
/// out of stock). Nothing is changed; the old catalog stays.
fn refuse_unsellable<'r>(reports: impl Iterator<Item = &'r FileReport>) -> anyhow::Result<()> {
    let reports: Vec<&FileReport> = reports.collect();
    for report in &reports {
        if report.loaded == 0 && report.rejected > 0 {
            let (line, reason) = report.examples.first().cloned().unwrap_or_default();
            anyhow::bail!(
                "every line of {} was rejected ({}; line {line}: {reason}); nothing was changed",
                report.file,
                report.rejected
            );
        }
    }
    let loaded = |file: &str| {
        reports
            .iter()
            .find(|report| report.file == file)
            .map_or(0, |report| report.loaded)
    };
    anyhow::ensure!(
        loaded("styles.csv") == 0 || loaded("skus.csv") > 0,
        "styles.csv has {} styles but skus.csv no SKU: nothing could be sold; nothing was changed",
        loaded("styles.csv")
    );
    Ok(())
}

/// A check of a line that points to a product.
type RowCheck = fn(&IdSet, &mut IdSet, &[String], &mut bytes::BytesMut) -> Result<(), String>;
