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
//! always match the migrations), so the load is sequential writes only.
//! Everything is one transaction: a failed import leaves the catalog as it
//! was. The CSV ids are kept, so the catalog must be empty, or `--replace`
//! empties it in the same transaction.

use std::collections::HashMap;
use std::fs::File;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::time::Instant;

use bytes::{BufMut, BytesMut};
use futures_util::SinkExt;
use tokio_postgres::{Client, NoTls, Transaction};

use crate::progress::Progress;
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

/// The tables an import owns (emptied by `--replace`, indexes rebuilt).
const CATALOG_TABLES: [&str; 9] = [
    "products",
    "categories",
    "tags",
    "product_tags",
    "features",
    "styles",
    "photos",
    "skus",
    "related_products",
];

/// How many rejected lines a report quotes per file.
const EXAMPLES: usize = 5;
/// COPY data is sent in chunks of about this size.
const CHUNK: usize = 1 << 20;
/// How long readers skip the cache while an import runs, at most.
const IMPORT_PENDING_TTL: std::time::Duration = std::time::Duration::from_secs(2 * 3600);

/// What happened to one file.
#[derive(Debug, Clone, Default)]
pub struct FileReport {
    pub file: &'static str,
    pub read: u64,
    pub loaded: u64,
    pub rejected: u64,
    /// The first few rejected lines: (line number, reason).
    pub examples: Vec<(u64, String)>,
    pub seconds: f64,
}

impl FileReport {
    fn reject(&mut self, line: u64, reason: String) {
        self.rejected += 1;
        if self.examples.len() < EXAMPLES {
            self.examples.push((line, reason));
        }
    }
}

impl std::fmt::Display for FileReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{:<13} read {:>9}  loaded {:>9}  rejected {:>6}  {:>6.1} s  {:>9.0} rows/s",
            self.file,
            self.read,
            self.loaded,
            self.rejected,
            self.seconds,
            self.read as f64 / self.seconds.max(1e-9)
        )?;
        for (line, reason) in &self.examples {
            write!(f, "\n    line {line}: {reason}")?;
        }
        Ok(())
    }
}

/// The whole import's outcome.
#[derive(Debug, Clone, Default)]
pub struct ImportReport {
    pub files: Vec<FileReport>,
    pub categories: usize,
    pub load_seconds: f64,
    pub index_seconds: f64,
    pub total_seconds: f64,
}

/// A set of ids, as a bitmap (the ids are dense).
#[derive(Default)]
struct IdSet(Vec<u64>);

impl IdSet {
    fn insert(&mut self, id: i32) {
        let id = id as usize;
        if id / 64 >= self.0.len() {
            self.0.resize(id / 64 + 1, 0);
        }
        self.0[id / 64] |= 1 << (id % 64);
    }

    fn contains(&self, id: i32) -> bool {
        let id = id as usize;
        self.0
            .get(id / 64)
            .is_some_and(|word| word & (1 << (id % 64)) != 0)
    }
}

/// Splits CSV lines into fields (quotes and `""` escapes understood),
/// reusing its parser and buffers from line to line.
struct LineSplitter {
    reader: csv_core::Reader,
    output: Vec<u8>,
    ends: Vec<usize>,
}

impl Default for LineSplitter {
    fn default() -> Self {
        Self {
            reader: csv_core::Reader::new(),
            output: Vec::new(),
            ends: Vec::new(),
        }
    }
}

impl LineSplitter {
    /// The fields of `line`; `None` when it is not one complete record (a
    /// quote left open).
    fn split(&mut self, line: &[u8], fields: &mut Vec<String>) -> Option<()> {
        // Quotes pair up on a well-formed line (an escaped quote is two); an
        // odd count means a field's quote was never closed.
        if line.iter().filter(|byte| **byte == b'"').count() % 2 == 1 {
            return None;
        }
        self.reader.reset();
        self.output.resize(line.len() + 1, 0);
        self.ends.resize(line.len() + 2, 0);
        let mut input = line;
        let (mut out_at, mut ends_at) = (0, 0);
        loop {
            let (result, read, written, ended) = self.reader.read_record(
                input,
                &mut self.output[out_at..],
                &mut self.ends[ends_at..],
            );
            input = &input[read..];
            out_at += written;
            ends_at += ended;
            match result {
                csv_core::ReadRecordResult::InputEmpty if !input.is_empty() => continue,
                csv_core::ReadRecordResult::InputEmpty => {
                    // The end of the line ends the record.
                    let (result, _, _, ended) = self.reader.read_record(
                        &[],
                        &mut self.output[out_at..],
                        &mut self.ends[ends_at..],
                    );
                    ends_at += ended;
                    if !matches!(result, csv_core::ReadRecordResult::Record) {
                        return None;
                    }
                    break;
                }
                csv_core::ReadRecordResult::Record => {
                    if !input.iter().all(|byte| *byte == b'\r' || *byte == b'\n') {
                        return None;
                    }
                    break;
                }
                csv_core::ReadRecordResult::End => break,
                csv_core::ReadRecordResult::OutputFull
                | csv_core::ReadRecordResult::OutputEndsFull => return None,
            }
        }
        fields.clear();
        let mut start = 0;
        for end in &self.ends[..ends_at] {
            fields.push(String::from_utf8_lossy(&self.output[start..*end]).into_owned());
            start = *end;
        }
        Some(())
    }
}

/// Appends one value in COPY's text format (`\N` for NULL).
fn copy_value(buffer: &mut BytesMut, value: Option<&str>) {
    match value {
        None => buffer.put_slice(b"\\N"),
        Some(text) => {
            for byte in text.bytes() {
                match byte {
                    b'\\' => buffer.put_slice(b"\\\\"),
                    b'\t' => buffer.put_slice(b"\\t"),
                    b'\n' => buffer.put_slice(b"\\n"),
                    b'\r' => buffer.put_slice(b"\\r"),
                    other => buffer.put_u8(other),
                }
            }
        }
    }
}

fn copy_row(buffer: &mut BytesMut, values: &[Option<&str>]) {
    for (index, value) in values.iter().enumerate() {
        if index > 0 {
            buffer.put_u8(b'\t');
        }
        copy_value(buffer, *value);
    }
    buffer.put_u8(b'\n');
}

fn parse_id(field: &str, name: &str) -> Result<i32, String> {
    match field.trim().parse::<i32>() {
        Ok(id) if id > 0 => Ok(id),
        _ => Err(format!("{name} {field:?} is not a positive integer")),
    }
}

/// A price as SDC writes it (`140`, `99.99`); `null` (any case) is none.
fn parse_price(field: &str, name: &str) -> Result<Option<String>, String> {
    let field = field.trim();
    if field.is_empty() || field.eq_ignore_ascii_case("null") {
        return Ok(None);
    }
    let amount: rust_decimal::Decimal = field
        .parse()
        .map_err(|_| format!("{name} {field:?} is not a number"))?;
    crate::domain::Money::parse(amount)
        .map(|money| Some(money.to_string()))
        .map_err(|message| format!("{name} {field:?} {message}"))
}

fn nullable(field: &str) -> Option<&str> {
    (!field.eq_ignore_ascii_case("null")).then_some(field)
}

/// Streams one file through `check` into `COPY <target> FROM STDIN`.
/// `check` turns a line's fields into a row (values in target column order)
/// or a reason to reject it.
async fn load_file(
    transaction: &Transaction<'_>,
    path: &Path,
    file: &'static str,
    header: &str,
    target: &str,
    mut check: impl FnMut(&[String], &mut BytesMut) -> Result<(), String>,
) -> anyhow::Result<FileReport> {
    let started = Instant::now();
    let handle =
        File::open(path).map_err(|error| anyhow::anyhow!("{}: {error}", path.display()))?;
    let size = handle.metadata().map(|meta| meta.len()).unwrap_or(0);
    let mut reader = BufReader::with_capacity(1 << 20, handle);
    let mut report = FileReport {
        file,
        ..FileReport::default()
    };
    let mut line = Vec::new();
    reader.read_until(b'\n', &mut line)?;
    let found = String::from_utf8_lossy(&line)
        .trim()
        .trim_start_matches('\u{feff}')
        .to_owned();
    let expected_fields: Vec<&str> = header.split(',').collect();
    let found_fields: Vec<String> = found
        .split(',')
        .map(|field| field.trim().trim_matches('"').to_owned())
        .collect();
    if found_fields != expected_fields {
        anyhow::bail!("{file}: the header is {found:?}, expected {header:?}");
    }
    let sink = transaction
        .copy_in(&format!("COPY {target} FROM STDIN"))
        .await?;
    futures_util::pin_mut!(sink);
    let mut progress = Progress::new(file, size);
    let mut buffer = BytesMut::with_capacity(CHUNK + 4096);
    let mut fields = Vec::new();
    let mut splitter = LineSplitter::default();
    let mut number = 1u64;
    loop {
        line.clear();
        if reader.read_until(b'\n', &mut line)? == 0 {
            break;
        }
        number += 1;
        progress.row(line.len());
        if line.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        report.read += 1;
        let outcome = match splitter.split(&line, &mut fields) {
            None => Err("broken quoting".to_owned()),
            Some(()) if fields.len() != expected_fields.len() => Err(format!(
                "{} fields, expected {}",
                fields.len(),
                expected_fields.len()
            )),
            Some(()) => check(&fields, &mut buffer),
        };
        match outcome {
            Ok(()) => report.loaded += 1,
            Err(reason) => report.reject(number, reason),
        }
        if buffer.len() >= CHUNK {
            sink.send(buffer.split().freeze()).await?;
        }
    }
    if !buffer.is_empty() {
        sink.send(buffer.split().freeze()).await?;
    }
    let copied = sink.finish().await?;
    anyhow::ensure!(
        copied == report.loaded,
        "{file}: COPY took {copied} rows of {}",
        report.loaded
    );
    progress.finish();
    report.seconds = started.elapsed().as_secs_f64();
    Ok(report)
}

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
            anyhow::anyhow!("cannot reach Redis (REDIS_URL) to retire cached documents")
        })?;
    let outcome = run(&mut client, &paths, replace, started).await;
    write.finish().await;
    drop(client);
    let _ = driver.await;
    outcome
}

async fn run(
    client: &mut Client,
    paths: &[PathBuf],
    replace: bool,
    started: Instant,
) -> anyhow::Result<ImportReport> {
    let transaction = client.transaction().await?;
    transaction
        .batch_execute("SET LOCAL maintenance_work_mem = '256MB'")
        .await?;
    let tables = CATALOG_TABLES.join(", ");
    transaction
        .batch_execute(&format!("LOCK TABLE {tables} IN ACCESS EXCLUSIVE MODE"))
        .await?;
    let existing: i64 = transaction
        .query_one("SELECT count(*) FROM products", &[])
        .await?
        .get(0);
    if existing > 0 && !replace {
        anyhow::bail!(
            "the catalog already holds {existing} products; the import keeps the files' ids, \
             so it needs an empty catalog: run it with --replace to empty the catalog first \
             (in the same transaction)"
        );
    }

    // Foreign keys within, into and out of the catalog, and the catalog's
    // own secondary indexes: dropped now, rebuilt from these definitions.
    let table_list: Vec<String> = CATALOG_TABLES
        .iter()
        .map(|table| (*table).to_owned())
        .collect();
    let foreign_keys: Vec<(String, String, String)> = transaction
        .query(
            "SELECT conrelid::regclass::text, conname::text, pg_get_constraintdef(oid) \
             FROM pg_constraint WHERE contype = 'f' \
               AND (conrelid::regclass::text = ANY($1) OR confrelid::regclass::text = ANY($1))",
            &[&table_list],
        )
        .await?
        .iter()
        .map(|row| (row.get(0), row.get(1), row.get(2)))
        .collect();
    for (table, name, _) in &foreign_keys {
        transaction
            .batch_execute(&format!("ALTER TABLE {table} DROP CONSTRAINT {name}"))
            .await?;
    }
    let indexes: Vec<(String, String)> = transaction
        .query(
            "SELECT i.indexname::text, i.indexdef FROM pg_indexes i \
             WHERE i.schemaname = current_schema() AND i.tablename::text = ANY($1) \
               AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conname = i.indexname)",
            &[&table_list],
        )
        .await?
        .iter()
        .map(|row| (row.get(0), row.get(1)))
        .collect();
    for (name, _) in &indexes {
        transaction
            .batch_execute(&format!("DROP INDEX {name}"))
            .await?;
    }
    if replace {
        // Past orders keep their snapshots; carts lose what is going away.
        transaction
            .batch_execute(&format!(
                "UPDATE order_lines SET product_id = NULL, sku_id = NULL \
                   WHERE product_id IS NOT NULL OR sku_id IS NOT NULL; \
                 DELETE FROM cart_items; \
                 TRUNCATE {tables} RESTART IDENTITY"
            ))
            .await?;
    }

    let load_started = Instant::now();
    let mut files = Vec::new();
    let mut products = IdSet::default();
    // Lower-cased name -> (id, first spelling): names are unique regardless of case.
    let mut categories: HashMap<String, (i32, String)> = HashMap::new();
    files.push(
        load_file(
            &transaction,
            &paths[0],
            FILES[0].0,
            FILES[0].1,
            "products (id, product_name, slogan, description, category_id, price, stock)",
            |fields, buffer| {
                let id = parse_id(&fields[0], "id")?;
                let name = crate::domain::Name::parse(&fields[1])
                    .map(crate::domain::Name::into_inner)
                    .map_err(|message| format!("name {message}"))?;
                let price = parse_price(&fields[5], "default_price")?
                    .ok_or_else(|| "default_price is missing".to_owned())?;
                let category = fields[4].trim();
                let category_id = if category.is_empty() || category.eq_ignore_ascii_case("null") {
                    None
                } else {
                    let next = categories.len() as i32 + 1;
                    Some(
                        categories
                            .entry(category.to_lowercase())
                            .or_insert_with(|| (next, category.to_owned()))
                            .0,
                    )
                };
                let category_id = category_id.map(|id| id.to_string());
                products.insert(id);
                copy_row(
                    buffer,
                    &[
                        Some(&id.to_string()),
                        Some(&name),
                        nullable(&fields[2]),
                        nullable(&fields[3]),
                        category_id.as_deref(),
                        Some(&price),
                        Some("0"),
                    ],
                );
                Ok(())
            },
        )
        .await?,
    );
    // A product file with nothing usable in it is a mistake (a wrong file,
    // a wrong format), not an empty catalog to commit over the old one.
    anyhow::ensure!(
        files[0].loaded > 0,
        "product.csv has no loadable rows ({} rejected); nothing was changed",
        files[0].rejected
    );
    // Categories, with the ids the products were given.
    for (id, name) in categories.values() {
        transaction
            .execute(
                "INSERT INTO categories (id, category_name) VALUES ($1, $2)",
                &[id, name],
            )
            .await?;
    }

    files.push(
        load_file(
            &transaction,
            &paths[1],
            FILES[1].0,
            FILES[1].1,
            "features (id, product_id, feature, value)",
            |fields, buffer| {
                let id = parse_id(&fields[0], "id")?;
                let product_id = parse_id(&fields[1], "product_id")?;
                if !products.contains(product_id) {
                    return Err(format!("product_id {product_id} names no loaded product"));
                }
                copy_row(
                    buffer,
                    &[
                        Some(&id.to_string()),
                        Some(&product_id.to_string()),
                        Some(&fields[2]),
                        nullable(&fields[3]),
                    ],
                );
                Ok(())
            },
        )
        .await?,
    );

    let mut styles = IdSet::default();
    files.push(
        load_file(
            &transaction,
            &paths[2],
            FILES[2].0,
            FILES[2].1,
            "styles (id, product_id, name, sale_price, original_price, is_default)",
            |fields, buffer| {
                let id = parse_id(&fields[0], "id")?;
                let product_id = parse_id(&fields[1], "productId")?;
                if !products.contains(product_id) {
                    return Err(format!("productId {product_id} names no loaded product"));
                }
                let sale_price = parse_price(&fields[3], "sale_price")?;
                let original_price = parse_price(&fields[4], "original_price")?
                    .ok_or_else(|| "original_price is missing".to_owned())?;
                let is_default = match fields[5].trim() {
                    "1" | "true" | "t" => "t",
                    "0" | "false" | "f" => "f",
                    other => return Err(format!("default_style {other:?} is not 0 or 1")),
                };
                styles.insert(id);
                copy_row(
                    buffer,
                    &[
                        Some(&id.to_string()),
                        Some(&product_id.to_string()),
                        Some(&fields[2]),
                        sale_price.as_deref(),
                        Some(&original_price),
                        Some(is_default),
                    ],
                );
                Ok(())
            },
        )
        .await?,
    );

    files.push(
        load_file(
            &transaction,
            &paths[3],
            FILES[3].0,
            FILES[3].1,
            "photos (id, style_id, url, thumbnail_url)",
            |fields, buffer| {
                let id = parse_id(&fields[0], "id")?;
                let style_id = parse_id(&fields[1], "styleId")?;
                if !styles.contains(style_id) {
                    return Err(format!("styleId {style_id} names no loaded style"));
                }
                copy_row(
                    buffer,
                    &[
                        Some(&id.to_string()),
                        Some(&style_id.to_string()),
                        nullable(&fields[2]),
                        nullable(&fields[3]),
                    ],
                );
                Ok(())
            },
        )
        .await?,
    );

    files.push(
        load_file(
            &transaction,
            &paths[4],
            FILES[4].0,
            FILES[4].1,
            "skus (id, style_id, size, quantity)",
            |fields, buffer| {
                let id = parse_id(&fields[0], "id")?;
                let style_id = parse_id(&fields[1], "styleId")?;
                if !styles.contains(style_id) {
                    return Err(format!("styleId {style_id} names no loaded style"));
                }
                let quantity = match fields[3].trim().parse::<i32>() {
                    Ok(quantity) if quantity >= 0 => quantity,
                    _ => {
                        return Err(format!(
                            "quantity {:?} is not a non-negative integer",
                            fields[3]
                        ));
                    }
                };
                copy_row(
                    buffer,
                    &[
                        Some(&id.to_string()),
                        Some(&style_id.to_string()),
                        Some(&fields[2]),
                        Some(&quantity.to_string()),
                    ],
                );
                Ok(())
            },
        )
        .await?,
    );

    files.push(
        load_file(
            &transaction,
            &paths[5],
            FILES[5].0,
            FILES[5].1,
            "related_products (id, product_id, related_product_id)",
            |fields, buffer| {
                let id = parse_id(&fields[0], "id")?;
                let product_id = parse_id(&fields[1], "current_product_id")?;
                let related = fields[2]
                    .trim()
                    .parse::<i32>()
                    .map_err(|_| format!("related_product_id {:?} is not an integer", fields[2]))?;
                if related <= 0 {
                    return Err(format!("related_product_id is {related}"));
                }
                for (name, id) in [
                    ("current_product_id", product_id),
                    ("related_product_id", related),
                ] {
                    if !products.contains(id) {
                        return Err(format!("{name} {id} names no loaded product"));
                    }
                }
                copy_row(
                    buffer,
                    &[
                        Some(&id.to_string()),
                        Some(&product_id.to_string()),
                        Some(&related.to_string()),
                    ],
                );
                Ok(())
            },
        )
        .await?,
    );
    let load_seconds = load_started.elapsed().as_secs_f64();

    let index_started = Instant::now();
    // A product sold by SKU has the sum of its SKUs' quantities as stock.
    transaction
        .batch_execute(
            "UPDATE products p SET stock = s.total \
             FROM (SELECT st.product_id, LEAST(sum(k.quantity), 2147483647)::int AS total \
                   FROM skus k JOIN styles st ON st.id = k.style_id GROUP BY st.product_id) s \
             WHERE s.product_id = p.id",
        )
        .await?;
    for table in [
        "products",
        "categories",
        "features",
        "styles",
        "photos",
        "skus",
        "related_products",
    ] {
        transaction
            .batch_execute(&format!(
                "SELECT setval(pg_get_serial_sequence('{table}', 'id'), \
                               COALESCE((SELECT max(id) FROM {table}), 0) + 1, false)"
            ))
            .await?;
    }
    for (_, definition) in &indexes {
        transaction.batch_execute(definition).await?;
    }
    for (table, name, definition) in &foreign_keys {
        transaction
            .batch_execute(&format!(
                "ALTER TABLE {table} ADD CONSTRAINT {name} {definition}"
            ))
            .await?;
    }
    transaction
        .batch_execute(&format!("ANALYZE {tables}"))
        .await?;
    transaction.commit().await?;
    let index_seconds = index_started.elapsed().as_secs_f64();
    Ok(ImportReport {
        files,
        categories: categories.len(),
        load_seconds,
        index_seconds,
        total_seconds: started.elapsed().as_secs_f64(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fields(line: &str) -> Option<Vec<String>> {
        let mut fields = Vec::new();
        LineSplitter::default()
            .split(line.as_bytes(), &mut fields)
            .map(|()| fields)
    }

    #[test]
    fn lines_split_with_quotes_and_escapes() {
        assert_eq!(
            fields("1,\"a, b\",\"say \"\"hi\"\"\",3\n").unwrap(),
            ["1", "a, b", "say \"hi\"", "3"]
        );
        assert_eq!(fields("1,,null\r\n").unwrap(), ["1", "", "null"]);
    }

    #[test]
    fn a_quote_left_open_rejects_only_its_line() {
        assert!(fields("7,3,\"https://x.example/a.jpg,\"https://x.example/b.jpg\"\n").is_none());
        assert!(fields("7,3,\"https://x.example/a.jpg\n").is_none());
    }

    #[test]
    fn copy_text_escapes_its_separators() {
        let mut buffer = BytesMut::new();
        copy_row(&mut buffer, &[Some("a\tb\\c\nd"), None]);
        assert_eq!(&buffer[..], b"a\\tb\\\\c\\nd\t\\N\n");
    }

    #[test]
    fn prices_read_like_the_sdc_files_write_them() {
        assert_eq!(parse_price("140", "p").unwrap().as_deref(), Some("140.00"));
        assert_eq!(parse_price("null", "p").unwrap(), None);
        assert!(parse_price("-1", "p").is_err());
        assert!(parse_price("abc", "p").is_err());
    }
}
