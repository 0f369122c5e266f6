//! `emporium import-catwalk DIR`: the SDC CSV files into the catalog, with
//! PostgreSQL `COPY`, in one transaction.
//!
//! Each file is read line by line (never whole) and each line parsed on its
//! own, so a broken quote costs that line only instead of swallowing the
//! ones after it. Rows are checked in Rust (fields, numbers, and that the
//! ids they point to were loaded: products for features, styles and related
//! rows; styles for photos and SKUs) and only good ones are streamed into
//! `COPY ... FROM STDIN`; PostgreSQL 15's COPY would stop at the first bad
//! row. The catalog's secondary indexes and foreign keys are dropped first
//! and rebuilt after (their definitions are read from the catalog, so they
//! always match the migrations), so the load is sequential writes only. A
//! product's stock follows its SKUs by the database's own rule (the `skus`
//! triggers), as for every other writer.
//! Everything is one transaction: a failed import leaves the catalog as it
//! was. The CSV ids are kept, so the catalog must be empty, or `--replace`
//! empties it in the same transaction.

mod csv;
mod load;
mod report;
mod rows;
mod schema;

use std::path::{Path, PathBuf};
use std::time::Instant;

use tokio_postgres::{Client, NoTls};

use load::load_file;
pub use report::{FileReport, ImportReport, REJECTS_FILE};
use rows::Loaded;

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

/// How long readers skip the cache while an import runs, at most.
const IMPORT_PENDING_TTL: std::time::Duration = std::time::Duration::from_secs(2 * 3600);

/// Runs the import (see the module documentation).
pub async fn import(state: &AppState, dir: &Path, replace: bool) -> anyhow::Result<ImportReport> {
    let started = Instant::now();
    let paths: Vec<PathBuf> = FILES.iter().map(|(file, _)| dir.join(file)).collect();
    for path in &paths {
        anyhow::ensure!(path.is_file(), "{} is missing", path.display());
    }
    let (mut client, connection) = tokio_postgres::connect(state.config.database_url(), NoTls)
        .await
        .map_err(|error| anyhow::anyhow!("cannot connect to PostgreSQL (DATABASE_URL): {error}"))?;
    let driver = tokio::spawn(connection);

    let write = state
        .cache
        .begin_write_for(crate::catalog::cache::bulk_change(), IMPORT_PENDING_TTL)
        .await
        .map_err(|_| {
            anyhow::anyhow!(
                "cannot reach the cache's Redis (CACHE_REDIS_URL, or REDIS_URL when unset) to retire cached documents"
            )
        })?;
    let outcome = run(&mut client, &paths, replace, started, dir).await;
    let finished = write.finish().await;
    drop(client);
    let _ = driver.await;
    let outcome = outcome?;
    finished.map_err(|error| anyhow::anyhow!("{error}"))?;
    Ok(outcome)
}

async fn run(
    client: &mut Client,
    paths: &[PathBuf],
    replace: bool,
    started: Instant,
    dir: &Path,
) -> anyhow::Result<ImportReport> {
    let mut rejects = report::RejectLog::in_dir(dir)?;
    let transaction = client.transaction().await?;
    let existing = schema::lock(&transaction).await?;
    if existing > 0 && !replace {
        anyhow::bail!(
            "the catalog already holds {existing} products; the import keeps the files' ids, \
             so it needs an empty catalog: run it with --replace to empty the catalog first \
             (in the same transaction)"
        );
    }
    let dropped = schema::drop_indexes_and_keys(&transaction).await?;
    if replace {
        schema::empty(&transaction).await?;
    }

    let load_started = Instant::now();
    let mut loaded = Loaded::default();
    let mut files = Vec::new();
    schema::stage_products(&transaction).await?;
    let targets = [
        schema::STAGED_PRODUCTS,
        "features (id, product_id, feature, value)",
        "styles (id, product_id, name, sale_price, original_price, is_default)",
        "photos (id, style_id, url, thumbnail_url)",
        "skus (id, style_id, size, quantity)",
        "related_products (id, product_id, related_product_id)",
    ];
    for (index, ((file, header), target)) in FILES.iter().zip(targets).enumerate() {
        let report = load_file(
            &transaction,
            &paths[index],
            file,
            header,
            target,
            &mut rejects,
            |fields, buffer| match index {
                0 => loaded.product(fields, buffer),
                1 => loaded.feature(fields, buffer),
                2 => loaded.style(fields, buffer),
                3 => loaded.photo(fields, buffer),
                4 => loaded.sku(fields, buffer),
                _ => loaded.related(fields, buffer),
            },
        )
        .await?;
        if index == 0 {
            // A product file with nothing usable in it is a mistake (a wrong
            // file, a wrong format), not an empty catalog to commit over the old one.
            anyhow::ensure!(
                report.loaded > 0,
                "product.csv has no loadable rows ({} rejected); nothing was changed",
                report.rejected
            );
            // Categories, with the ids the products were given.
            for (id, name) in loaded.categories.values() {
                transaction
                    .execute(
                        "INSERT INTO categories (id, category_name) VALUES ($1, $2)",
                        &[id, name],
                    )
                    .await?;
            }
        }
        files.push(report);
    }
    schema::write_staged_products(&transaction).await?;
    let load_seconds = load_started.elapsed().as_secs_f64();

    let index_started = Instant::now();
    schema::rebuild(&transaction, &dropped).await?;
    transaction.commit().await?;
    let index_seconds = index_started.elapsed().as_secs_f64();
    Ok(ImportReport {
        files,
        categories: loaded.categories.len(),
        load_seconds,
        index_seconds,
        total_seconds: started.elapsed().as_secs_f64(),
        rejects_file: rejects.finish()?,
    })
}
