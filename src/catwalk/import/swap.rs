//! The one transaction that puts an import's new tables in place of the
//! live ones ([`swap`]).

use tokio_postgres::Client;

use super::stage::{EMPTIED, LOADED, Plan, STAGE};

/// Swaps the new tables in, in one transaction: checks the catalog is
/// still empty (or empties it, with `replace`: past orders keep their
/// snapshots, carts lose what is going away), drops the live tables and
/// what reads them, moves the new ones in with their id sequences, and adds
/// back the views and the keys from the rest of the database.
pub(super) async fn swap(client: &mut Client, plan: &Plan, replace: bool) -> anyhow::Result<()> {
    let live = &plan.live;
    let transaction = client.transaction().await?;
    let all: Vec<&str> = LOADED.iter().chain(EMPTIED.iter()).copied().collect();
    transaction
        .batch_execute(&format!(
            "LOCK TABLE {} IN ACCESS EXCLUSIVE MODE",
            all.join(", ")
        ))
        .await?;
    let existing: i64 = transaction
        .query_one("SELECT count(*) FROM products", &[])
        .await?
        .get(0);
    anyhow::ensure!(
        existing == 0 || replace,
        "the catalog gained {existing} products while the files loaded; nothing was changed"
    );
    let mut script = String::new();
    if replace {
        script.push_str(&format!(
            "UPDATE order_lines SET product_id = NULL, sku_id = NULL \
               WHERE product_id IS NOT NULL OR sku_id IS NOT NULL; \
             DELETE FROM cart_items; \
             TRUNCATE {} RESTART IDENTITY;",
            EMPTIED.join(", ")
        ));
    }
    for key in &plan.outside_keys {
        script.push_str(&format!(
            "ALTER TABLE {live}.{} DROP CONSTRAINT {};",
            key.table, key.name
        ));
    }
    if !plan.views.is_empty() {
        let views: Vec<&str> = plan.views.iter().map(|(name, _)| name.as_str()).collect();
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
        script.push_str(&format!(
            "ALTER SEQUENCE {sequence} OWNED BY {live}.{table}.{column}; \
             SELECT setval('{sequence}', \
                           COALESCE((SELECT max({column}) FROM {live}.{table}), 0) + 1, false);"
        ));
    }
    for (name, definition) in &plan.views {
        script.push_str(&format!("CREATE VIEW {name} AS {definition};"));
    }
    for key in &plan.outside_keys {
        script.push_str(&key.add(live));
        script.push(';');
    }
    // The word list grew with the names (migration `search_words`).
    script.push_str(&format!(
        "INSERT INTO {live}.search_words SELECT DISTINCT word FROM {STAGE}.search_words \
           ON CONFLICT DO NOTHING; \
         DROP SCHEMA {STAGE} CASCADE; \
         ANALYZE {live}.search_words;"
    ));
    transaction.batch_execute(&script).await?;
    transaction.commit().await?;
    Ok(())
}
