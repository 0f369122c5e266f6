//! Progress of long command-line work: an indicatif bar on a terminal, a
//! plain line every few seconds otherwise (CI logs), and a summary line.

use std::io::IsTerminal;
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressStyle};

/// How often a plain progress line is printed when not on a terminal.
const PLAIN_INTERVAL: Duration = Duration::from_secs(5);

/// Progress through one input, measured in bytes, counting rows.
pub struct Progress {
    label: String,
    bar: Option<ProgressBar>,
    total_bytes: u64,
    started: Instant,
    last_line: Instant,
    rows: u64,
    bytes: u64,
}

impl Progress {
    pub fn new(label: &str, total_bytes: u64) -> Self {
        let bar = std::io::stderr().is_terminal().then(|| {
            let bar = ProgressBar::new(total_bytes);
            bar.set_style(
                ProgressStyle::with_template(
                    "{prefix:>14} [{bar:30}] {percent:>3}% {msg} ({elapsed})",
                )
                .unwrap_or_else(|_| ProgressStyle::default_bar())
                .progress_chars("=> "),
            );
            bar.set_prefix(label.to_owned());
            bar
        });
        let now = Instant::now();
        Self {
            label: label.to_owned(),
            bar,
            total_bytes,
            started: now,
            last_line: now,
            rows: 0,
            bytes: 0,
        }
    }

    fn rate(&self) -> f64 {
        self.rows as f64 / self.started.elapsed().as_secs_f64().max(1e-9)
    }

    /// Counts one row of `bytes` bytes.
    pub fn row(&mut self, bytes: usize) {
        self.rows += 1;
        self.bytes += bytes as u64;
        if !self.rows.is_multiple_of(16_384) {
            return;
        }
        match &self.bar {
            Some(bar) => {
                bar.set_position(self.bytes);
                bar.set_message(format!("{} rows, {:.0} rows/s", self.rows, self.rate()));
            }
            None if self.last_line.elapsed() >= PLAIN_INTERVAL => {
                self.last_line = Instant::now();
                let percent = 100.0 * self.bytes as f64 / self.total_bytes.max(1) as f64;
                eprintln!(
                    "{}: {percent:.0}%, {} rows, {:.0} rows/s",
                    self.label,
                    self.rows,
                    self.rate()
                );
            }
            None => {}
        }
    }

    /// Ends the bar; returns (rows, seconds, rows per second).
    pub fn finish(self) -> (u64, f64, f64) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
        (self.rows, self.started.elapsed().as_secs_f64(), self.rate())
    }
}
