//! The one transaction that puts an import's new tables in place of the
//! live ones ([`swap`]).

use std::time::Duration;

use tokio_postgres::error::SqlState;
use tokio_postgres::{Client, Transaction};

use super::plan::{EMPTIED, LOADED, Plan, STAGE};
use super::stage;

/// How long the swap waits for its locks before it steps back (readers
/// queue behind a lock it waits for) and tries again, and how many times.
const LOCK_WAIT: &str = "5s";
const ATTEMPTS: u32 = 12;

/// Swaps the new tables in, in one transaction (see [`swap_once`]). When
/// it cannot get its locks in time, or PostgreSQL picks it to break a
/// deadlock with a buyer, it rolls back and tries again: the new tables
/// stay built meanwhile.
pub(super) async fn swap(client: &mut Client, plan: &Plan, replace: bool) -> anyhow::Result<()> {
    let mut attempt = 1;
    loop {
        let transaction = client.transaction().await?;
        let outcome = swap_once(&transaction, plan, replace).await;
        let outcome = match outcome {
            // PostgreSQL's own refusal (a code) is a rollback; no answer
            // at all leaves the commit's outcome unknown.
            Ok(()) => transaction.commit().await.map_err(|error| {
                if error.code().is_some() {
                    anyhow::Error::from(error)
                } else {
                    anyhow::Error::new(CommitUnknown(error))
                }
            }),
            Err(error) => Err(error),
        };
        match outcome {
            Err(error) if attempt < ATTEMPTS && waited_too_long(&error) => {
                tracing::warn!(%error, attempt, "the import's swap steps back and tries again");
                tokio::time::sleep(Duration::from_millis(200) * attempt).await;
                attempt += 1;
            }
            outcome => return outcome,
        }
    }
}

/// The swap's `COMMIT` failed on its way (a connection cut, a server gone):
/// it may have happened, or may still land.
#[derive(Debug)]
pub(super) struct CommitUnknown(tokio_postgres::Error);

impl std::fmt::Display for CommitUnknown {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "the swap's commit may or may not have landed: {}",
            self.0
        )
    }
}

impl std::error::Error for CommitUnknown {}

/// Whether the swap failed at its commit, its outcome unknown.
pub(super) fn outcome_unknown(error: &anyhow::Error) -> bool {
    error.downcast_ref::<CommitUnknown>().is_some()
}

fn waited_too_long(error: &anyhow::Error) -> bool {
    error
        .downcast_ref::<tokio_postgres::Error>()
        .and_then(tokio_postgres::Error::code)
        .is_some_and(|code| {
            *code == SqlState::LOCK_NOT_AVAILABLE || *code == SqlState::T_R_DEADLOCK_DETECTED
        })
}

/// Past orders keep their snapshots (name, price, style, size) but lose
/// their links into the catalog that goes away (the new one reuses its ids).
const UNLINK_PAST_ORDERS: &str = "UPDATE order_lines SET product_id = NULL, sku_id = NULL \
                                  WHERE product_id IS NOT NULL OR sku_id IS NOT NULL;";

/// With `replace`, first cuts the past orders' links into the catalog,
/// before any table is locked: rewriting every order line takes as long as
/// there are lines, and readers and buyers go on meanwhile (the lines
/// written meanwhile are cut under the locks). Then locks every table it
/// changes at once, in the order buyers do; checks the catalog's shape did
/// not change while the files loaded and that it is still empty (or
/// empties it, with `replace`: carts lose what is going away); drops the
/// live tables and what reads them; moves the new ones in with their id
/// sequences; and adds back the views, the keys from the rest of the
/// database (checked after the commit) and the words.
async fn swap_once(
    transaction: &Transaction<'_>,
    plan: &Plan,
    replace: bool,
) -> anyhow::Result<()> {
    let live = &plan.live;
    transaction
        .batch_execute(&format!("SET LOCAL lock_timeout = '{LOCK_WAIT}'"))
        .await?;
    if replace {
        transaction.batch_execute(UNLINK_PAST_ORDERS).await?;
    }
    // A buyer locks their cart's lines, then the products, then writes the
    // order's lines: the swap takes its locks in that order.
    let mut locked: Vec<&str> = vec!["cart_items"];
    for table in EMPTIED
        .into_iter()
        .chain(LOADED)
        .chain(plan.outside_keys.iter().map(|key| key.table.as_str()))
        .chain(["order_lines"])
    {
        if !locked.contains(&table) {
            locked.push(table);
        }
    }
    transaction
        .batch_execute(&format!(
            "LOCK TABLE {} IN ACCESS EXCLUSIVE MODE",
            locked.join(", ")
        ))
        .await?;
    anyhow::ensure!(
        Plan::read(transaction).await? == *plan,
        "the catalog's tables changed while the files loaded (a migration?); nothing was \
         changed: run the import again"
    );
    let holding = stage::holding_rows(transaction).await?;
    anyhow::ensure!(
        holding.is_empty() || replace,
        "the catalog gained rows in {} while the files loaded; nothing was changed",
        holding.join(", ")
    );
    let mut script = String::new();
    if replace {
        script.push_str(&format!(
            "{UNLINK_PAST_ORDERS} DELETE FROM cart_items; TRUNCATE {} RESTART IDENTITY;",
            EMPTIED.join(", ")
        ));
    }
    for key in &plan.outside_keys {
        script.push_str(&format!(
            "ALTER TABLE {} DROP CONSTRAINT {};",
            key.table, key.name
        ));
    }
    if !plan.views.is_empty() {
        let views: Vec<&str> = plan.views.iter().map(|(name, ..)| name.as_str()).collect();
        script.push_str(&format!("DROP VIEW {};", views.join(", ")));
    }
    for (_, _, sequence) in &plan.sequences {
        script.push_str(&format!("ALTER SEQUENCE {sequence} OWNED BY NONE;"));
    }
    let tables: Vec<String> = LOADED.iter().map(|t| format!("{live}.{t}")).collect();
    script.push_str(&format!("DROP TABLE {};", tables.join(", ")));
    for table in LOADED {
        script.push_str(&format!("ALTER TABLE {STAGE}.{table} SET SCHEMA {live};"));
    }
    for (table, column, sequence) in &plan.sequences {
        let literal = sequence.replace('\'', "''");
        script.push_str(&format!(
            "ALTER SEQUENCE {sequence} OWNED BY {live}.{table}.{column}; \
             SELECT CASE WHEN m IS NULL THEN setval('{literal}', 1, false) \
                         ELSE setval('{literal}', m, true) END \
             FROM (SELECT max({column}) AS m FROM {live}.{table}) AS loaded;"
        ));
    }
    for (name, definition, owner) in &plan.views {
        script.push_str(&format!(
            "CREATE VIEW {name} AS {definition}; ALTER VIEW {name} OWNER TO {owner};"
        ));
    }
    // Checked after the commit (`validate_outside_keys`): checking them
    // here would read every order line and cart line under the locks.
    for key in &plan.outside_keys {
        script.push_str(&key.add_unchecked());
        script.push(';');
    }
    // The word list grew with the names (migration `search_words`).
    script.push_str(&format!(
        "INSERT INTO {live}.search_words SELECT word FROM {STAGE}.words ON CONFLICT DO NOTHING; \
         DROP SCHEMA {STAGE} CASCADE; \
         ANALYZE {live}.search_words;"
    ));
    transaction.batch_execute(&script).await?;
    Ok(())
}

/// Checks the rows already there against the keys the swap added back
/// unchecked, one key at a time, while buyers go on: `VALIDATE CONSTRAINT`
/// blocks no reads and no row writes. None can fail: the swap found the
/// catalog empty, or (with `replace`) cut every link into it.
pub(super) async fn validate_outside_keys(client: &Client, plan: &Plan) -> anyhow::Result<()> {
    for key in &plan.outside_keys {
        client.batch_execute(&key.validate()).await?;
    }
    Ok(())
}
