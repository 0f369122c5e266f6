//! What is left after the load, as statements run on several connections
//! at once: the products written with their stock, then every index, key,
//! trigger and `ANALYZE` of the new tables, each statement after those it
//! needs (and after those it would only wait for, holding a connection
//! idle: two keys on one table, an index and a key on one table).

use std::collections::HashMap;
use std::time::Instant;

use tokio::sync::{Mutex, Notify};
use tokio_postgres::Client;

use super::plan::{LOADED, Plan, STAGE};
use super::stage;

/// One statement, and the jobs (by index) that must be done before it.
pub(super) struct Job {
    statement: String,
    after: Vec<usize>,
}

/// The jobs that build the new tables from their rows, in the order they
/// are best started in (the products first: the rest waits for them).
pub(super) fn plan(plan: &Plan) -> Vec<Job> {
    let mut jobs: Vec<Job> = Vec::new();
    let push = |jobs: &mut Vec<Job>, statement: String, after: Vec<usize>| {
        jobs.push(Job { statement, after });
        jobs.len() - 1
    };
    // The word list's triggers see the products written.
    let mut on_table: HashMap<&str, Vec<usize>> = HashMap::new();
    for (table, statement) in plan.triggers.iter().filter(|(t, _)| t == "products") {
        let job = push(&mut jobs, statement.clone(), vec![]);
        on_table.entry(table).or_default().push(job);
    }
    let mut before = on_table.get("products").cloned().unwrap_or_default();
    before.push(push(&mut jobs, stage::count_stock(), vec![]));
    let halves: Vec<usize> = (0..2)
        .map(|half| push(&mut jobs, stage::write_products(2, half), before.clone()))
        .collect();
    on_table.entry("products").or_default().extend(&halves);
    push(&mut jobs, stage::distinct_words(), halves.clone());
    for (table, statement) in &plan.indexes {
        let after = if table == "products" {
            halves.clone()
        } else {
            vec![]
        };
        let job = push(&mut jobs, statement.clone(), after);
        on_table.entry(table).or_default().push(job);
    }
    // A key checks every row against an index of the table it references,
    // and holds both tables against other keys and index builds.
    let mut keys: Vec<(usize, [&str; 2])> = Vec::new();
    for key in &plan.keys {
        let tables = [key.table.as_str(), key.references.as_str()];
        let mut after: Vec<usize> = tables
            .iter()
            .flat_map(|table| on_table.get(table).cloned().unwrap_or_default())
            .collect();
        after.extend(
            keys.iter()
                .filter(|(_, other)| other.iter().any(|table| tables.contains(table)))
                .map(|(job, _)| *job),
        );
        let job = push(&mut jobs, stage::add_key(key), after);
        keys.push((job, tables));
    }
    for (job, tables) in &keys {
        for table in tables {
            on_table.entry(table).or_default().push(*job);
        }
    }
    for (table, statement) in plan.triggers.iter().filter(|(t, _)| t != "products") {
        let after = on_table.get(table.as_str()).cloned().unwrap_or_default();
        let job = push(&mut jobs, statement.clone(), after);
        on_table.entry(table).or_default().push(job);
    }
    for table in LOADED {
        let after = on_table.get(table).cloned().unwrap_or_default();
        push(&mut jobs, format!("ANALYZE {}.{table}", STAGE), after);
    }
    jobs
}

#[derive(Default)]
struct Progress {
    started: Vec<bool>,
    done: Vec<bool>,
    failed: bool,
}

enum Next {
    Run(usize),
    Wait,
    Finished,
}

impl Progress {
    fn next(&mut self, jobs: &[Job]) -> Next {
        if self.failed || self.started.iter().all(|started| *started) {
            return Next::Finished;
        }
        let ready = (0..jobs.len()).find(|&job| {
            !self.started[job] && jobs[job].after.iter().all(|&before| self.done[before])
        });
        match ready {
            Some(job) => {
                self.started[job] = true;
                Next::Run(job)
            }
            None => Next::Wait,
        }
    }
}

/// Runs `jobs` on `clients`, each client one job at a time. After a failure
/// no job starts; the first error is returned once the running ones end.
pub(super) async fn run(clients: &[&Client], jobs: &[Job]) -> anyhow::Result<()> {
    let progress = Mutex::new(Progress {
        started: vec![false; jobs.len()],
        done: vec![false; jobs.len()],
        failed: false,
    });
    let changed = Notify::new();
    let workers = clients
        .iter()
        .map(|client| worker(client, jobs, &progress, &changed));
    let outcomes = futures_util::future::join_all(workers).await;
    outcomes.into_iter().collect()
}

/// Runs ready jobs on `client` until none is left (or one failed).
async fn worker(
    client: &Client,
    jobs: &[Job],
    progress: &Mutex<Progress>,
    changed: &Notify,
) -> anyhow::Result<()> {
    loop {
        let notified = changed.notified();
        tokio::pin!(notified);
        notified.as_mut().enable();
        let next = progress.lock().await.next(jobs);
        match next {
            Next::Finished => return Ok(()),
            Next::Wait => notified.await,
            Next::Run(job) => {
                let started = Instant::now();
                let outcome = client.batch_execute(&jobs[job].statement).await;
                tracing::info!(
                    seconds = started.elapsed().as_secs_f64(),
                    statement = %jobs[job].statement,
                    "import"
                );
                {
                    let mut progress = progress.lock().await;
                    match &outcome {
                        Ok(()) => progress.done[job] = true,
                        Err(_) => progress.failed = true,
                    }
                }
                changed.notify_waiters();
                // PostgreSQL's own words, not only "db error".
                outcome.map_err(|error| {
                    let reason = error
                        .as_db_error()
                        .map_or_else(|| error.to_string(), |db| db.message().to_owned());
                    anyhow::anyhow!("{}: {reason}", jobs[job].statement)
                })?;
            }
        }
    }
}
