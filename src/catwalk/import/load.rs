//! Streaming one file into a new table with `COPY ... FROM STDIN (FREEZE)`,
//! line by line.

use std::fs::File;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::time::Instant;

use bytes::BytesMut;
use futures_util::SinkExt;
use tokio_postgres::Client;

use super::csv::LineSplitter;
use super::plan::STAGE;
use super::report::{FileReport, RejectLog};
use super::{FILES, TARGETS};
use crate::progress::Progress;

/// COPY data is sent in chunks of about this size.
const CHUNK: usize = 1 << 20;
/// The longest line read (an SDC line is well under a kilobyte); a longer
/// one is rejected without being held whole.
const MAX_LINE_BYTES: usize = 1 << 20;

/// The files of one import, and the list of their rejected lines.
pub(super) struct Files<'a> {
    pub(super) paths: &'a [PathBuf],
    pub(super) rejects: &'a RejectLog,
}

impl Files<'_> {
    /// Loads the file `index` of [`FILES`] into its new table ([`TARGETS`]).
    pub(super) async fn load(
        &self,
        client: &mut Client,
        index: usize,
        check: impl FnMut(&[String], &mut BytesMut) -> Result<(), String>,
    ) -> anyhow::Result<FileReport> {
        let (file, header) = FILES[index];
        let (table, columns) = TARGETS[index];
        load_file(
            client,
            &self.paths[index],
            file,
            header,
            &format!("{STAGE}.{table}"),
            columns,
            self.rejects,
            check,
        )
        .await
    }
}

/// Streams one file through `check` into `COPY <table> (<columns>) FROM
/// STDIN`, in a transaction of its own that empties `table` first (so its
/// rows are written frozen: nothing reads or vacuums them again to learn
/// they are visible). `check` turns a line's fields into a row (values in
/// column order) or a reason to reject it.
#[allow(clippy::too_many_arguments)]
async fn load_file(
    client: &mut Client,
    path: &Path,
    file: &'static str,
    header: &str,
    table: &str,
    columns: &str,
    rejects: &RejectLog,
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
    // A line's worth at most, as for the rows: a file with no line feed
    // (its lines end in CR alone) is not read whole as its header.
    std::io::Read::take(&mut reader, MAX_LINE_BYTES as u64 + 1).read_until(b'\n', &mut line)?;
    if line.len() > MAX_LINE_BYTES {
        anyhow::bail!(
            "{file}: the header is longer than {MAX_LINE_BYTES} bytes (do its lines end in CR \
             alone?), expected {header:?}"
        );
    }
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
        // Quoted as far as a header would go.
        let shown: String = found.chars().take(200).collect();
        anyhow::bail!("{file}: the header is {shown:?}, expected {header:?}");
    }
    let transaction = client.transaction().await?;
    transaction
        .batch_execute(&format!("TRUNCATE {table}"))
        .await?;
    let sink = transaction
        .copy_in(&format!("COPY {table} ({columns}) FROM STDIN (FREEZE)"))
        .await?;
    futures_util::pin_mut!(sink);
    let mut progress = Progress::new(file, size);
    let mut buffer = BytesMut::with_capacity(CHUNK + 4096);
    let mut fields = Vec::new();
    let mut splitter = LineSplitter::default();
    let mut number = 1u64;
    loop {
        line.clear();
        // At most a line's worth held at once: a longer one is skipped.
        let read = std::io::Read::take(&mut reader, MAX_LINE_BYTES as u64 + 1)
            .read_until(b'\n', &mut line)?;
        if read == 0 {
            break;
        }
        let too_long = line.len() > MAX_LINE_BYTES;
        if too_long && line.last() != Some(&b'\n') {
            progress.row(reader.skip_until(b'\n')?);
        }
        number += 1;
        progress.row(line.len());
        if line.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        report.read += 1;
        // Text in another encoding (Latin-1's "Café") is refused, not
        // loaded with its letters replaced.
        let not_utf8 = std::str::from_utf8(&line).err();
        let outcome = match splitter.split(&line, &mut fields) {
            _ if too_long => Err(format!("longer than {MAX_LINE_BYTES} bytes")),
            // (No PostgreSQL text holds one: COPY would refuse the load.)
            _ if line.contains(&0) => Err("holds a NUL byte".to_owned()),
            _ if let Some(error) = not_utf8 => Err(format!(
                "not UTF-8 (byte {} of the line)",
                error.valid_up_to() + 1
            )),
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
            Err(reason) => {
                rejects.write(file, number, &reason)?;
                report.reject(number, reason);
            }
        }
        if buffer.len() >= CHUNK {
            sink.send(buffer.split().freeze()).await?;
        }
    }
    if !buffer.is_empty() {
        sink.send(buffer.split().freeze()).await?;
    }
    let copied = sink.finish().await?;
    transaction.commit().await?;
    anyhow::ensure!(
        copied == report.loaded,
        "{file}: COPY took {copied} rows of {}",
        report.loaded
    );
    progress.finish();
    report.seconds = started.elapsed().as_secs_f64();
    Ok(report)
}
