//! What an import did: per file, lines read, loaded and rejected (with the
//! first few reasons; every one is written to [`REJECTS_FILE`]), and the
//! whole run's times.

use std::io::Write;
use std::path::{Path, PathBuf};

/// The file, in the import's folder, that lists every rejected line as
/// `<file>:<line>: <reason>`. Written only when a line is rejected; where
/// the folder cannot take it (a read-only mount), in the system's
/// temporary folder instead, named after the process.
pub const REJECTS_FILE: &str = "rejected-rows.txt";

/// Every rejected line, written as it is found (a file with millions of bad
/// lines costs no memory); files loading at once share it.
pub(super) struct RejectLog {
    path: PathBuf,
    out: std::sync::Mutex<Option<(PathBuf, std::io::BufWriter<std::fs::File>)>>,
}

impl RejectLog {
    /// A log in `dir`; a log left there by an earlier import is removed
    /// (where it can be: else the log goes to the temporary folder).
    pub(super) fn in_dir(dir: &Path) -> anyhow::Result<Self> {
        let path = dir.join(REJECTS_FILE);
        if let Err(error) = std::fs::remove_file(&path)
            && error.kind() != std::io::ErrorKind::NotFound
        {
            tracing::warn!(path = %path.display(), %error, "cannot remove an earlier list of rejected rows");
        }
        Ok(Self {
            path,
            out: std::sync::Mutex::new(None),
        })
    }

    pub(super) fn write(&self, file: &str, line: u64, reason: &str) -> anyhow::Result<()> {
        let mut out = self
            .out
            .lock()
            .map_err(|_| anyhow::anyhow!("the rejected rows' list was left broken"))?;
        let (_, out) = match &mut *out {
            Some(out) => out,
            None => out.insert(self.create()?),
        };
        let reason = reason.replace(['\n', '\r'], " ");
        writeln!(out, "{file}:{line}: {reason}")?;
        Ok(())
    }

    /// The list, in the import's folder or else, under a name nobody has
    /// taken, in the temporary folder.
    fn create(&self) -> anyhow::Result<(PathBuf, std::io::BufWriter<std::fs::File>)> {
        let fallback = std::env::temp_dir().join(format!(
            "emporium-{}-{REJECTS_FILE}",
            uuid::Uuid::new_v4().simple()
        ));
        let mut failures = Vec::new();
        for path in [&self.path, &fallback] {
            // A new file only: never through a link someone left there.
            match std::fs::File::options()
                .write(true)
                .create_new(true)
                .open(path)
            {
                Ok(created) => return Ok((path.clone(), std::io::BufWriter::new(created))),
                Err(error) => failures.push(format!("{}: {error}", path.display())),
            }
        }
        anyhow::bail!(
            "cannot write the rejected rows anywhere: {}",
            failures.join("; ")
        )
    }

    /// Flushes the file; its path when anything was written.
    pub(super) fn finish(self) -> anyhow::Result<Option<PathBuf>> {
        let out = self
            .out
            .into_inner()
            .map_err(|_| anyhow::anyhow!("the rejected rows' list was left broken"))?;
        match out {
            Some((path, mut out)) => {
                out.flush()?;
                Ok(Some(path))
            }
            None => Ok(None),
        }
    }
}

/// How many rejected lines a report quotes per file.
const EXAMPLES: usize = 5;

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
    pub(super) fn reject(&mut self, line: u64, reason: String) {
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
        let more = self.rejected - self.examples.len() as u64;
        if more > 0 {
            write!(f, "\n    and {more} more (every one in {REJECTS_FILE})")?;
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
    /// Where every rejected line is listed, when a line was rejected.
    pub rejects_file: Option<PathBuf>,
}

/// A set of ids: a bitmap for the ids SDC writes (dense, from 1), a hash
/// set for any far beyond them, so that one id of 2,147,483,647 costs an
/// entry, not a 256 MiB bitmap.
#[derive(Default)]
pub(super) struct IdSet {
    dense: Vec<u64>,
    sparse: std::collections::HashSet<i32>,
}

/// Ids below this are kept in the bitmap (at most 8 MiB).
const DENSE_IDS: usize = 1 << 26;

impl IdSet {
    /// Adds `id`; `false` when it was there already.
    pub(super) fn insert(&mut self, id: i32) -> bool {
        let Some(at) = usize::try_from(id).ok().filter(|at| *at < DENSE_IDS) else {
            return self.sparse.insert(id);
        };
        if at / 64 >= self.dense.len() {
            self.dense.resize(at / 64 + 1, 0);
        }
        let bit = 1 << (at % 64);
        let new = self.dense[at / 64] & bit == 0;
        self.dense[at / 64] |= bit;
        new
    }

    pub(super) fn contains(&self, id: i32) -> bool {
        match usize::try_from(id).ok().filter(|at| *at < DENSE_IDS) {
            Some(at) => self
                .dense
                .get(at / 64)
                .is_some_and(|word| word & (1 << (at % 64)) != 0),
            None => self.sparse.contains(&id),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_id_set_holds_dense_and_far_ids_alike() {
        let mut ids = IdSet::default();
        for id in [1, 64, 65, i32::MAX, 1 << 27] {
            assert!(!ids.contains(id));
            assert!(ids.insert(id));
            assert!(!ids.insert(id));
            assert!(ids.contains(id));
        }
        assert!(!ids.contains(2) && !ids.contains(i32::MAX - 1));
        assert!(ids.dense.len() <= 2, "far ids stay out of the bitmap");
    }

    #[test]
    fn a_report_quotes_a_few_rejected_lines_and_says_how_many_more_and_where() {
        let mut report = FileReport {
            file: "skus.csv",
            ..FileReport::default()
        };
        for line in 2..14 {
            report.reject(line, format!("bad {line}"));
        }
        let text = report.to_string();
        assert_eq!(text.matches("\n    line ").count(), EXAMPLES);
        assert!(
            text.ends_with("and 7 more (every one in rejected-rows.txt)"),
            "{text}"
        );
    }

    #[test]
    fn the_reject_log_lists_every_line_and_is_written_only_when_needed() {
        let dir = std::env::temp_dir().join(format!("rejects-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let empty = RejectLog::in_dir(&dir).unwrap();
        assert_eq!(empty.finish().unwrap(), None);
        let log = RejectLog::in_dir(&dir).unwrap();
        log.write("photos.csv", 3, "broken\nquoting").unwrap();
        log.write("skus.csv", 9, "size is empty").unwrap();
        let path = log.finish().unwrap().unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        assert_eq!(
            text,
            "photos.csv:3: broken quoting\nskus.csv:9: size is empty\n"
        );
        // A new import starts a new list.
        RejectLog::in_dir(&dir).unwrap().finish().unwrap();
        assert!(!path.exists());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
