//! What an import did: per file, lines read, loaded and rejected (with the
//! first few reasons), and the whole run's times.

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
pub(super) struct IdSet(Vec<u64>);

impl IdSet {
    pub(super) fn insert(&mut self, id: i32) {
        let id = id as usize;
        if id / 64 >= self.0.len() {
            self.0.resize(id / 64 + 1, 0);
        }
        self.0[id / 64] |= 1 << (id % 64);
    }

    pub(super) fn contains(&self, id: i32) -> bool {
        let id = id as usize;
        self.0
            .get(id / 64)
            .is_some_and(|word| word & (1 << (id % 64)) != 0)
    }
}
