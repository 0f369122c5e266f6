//! The catalog's tables as an import sees them. The files are loaded into
//! new tables in a schema of their own ([`STAGE`]), on several connections
//! at once; readers and buyers keep the live catalog meanwhile. The new
//! tables are built exactly like the live ones: their columns, defaults and
//! checks by `LIKE`, and their indexes, keys, triggers and views from the
//! definitions PostgreSQL holds for the live ones ([`super::plan`]), so
//! they always match the migrations, which own them. One short transaction then swaps them in
//! ([`super::swap`]); until it commits, nothing live has changed.

use tokio_postgres::{Client, GenericClient};

use super::plan::{Key, LOADED, Plan, STAGE};

/// One import at a time (a session advisory lock's key).
pub(super) const IMPORT_LOCK: i64 = 0x0e6d_706f_7274;

/// Session settings of a connection that builds the new tables: its
/// unqualified names (in the keys', triggers' and views' definitions, and
/// in the trigger functions) find the new tables first.
pub(super) const BUILDER_SETTINGS: &str = "SET search_path = import_stage, public; \
     SET maintenance_work_mem = '256MB'; SET work_mem = '256MB'; \
     SET max_parallel_maintenance_workers = 0; SET synchronous_commit = off; SET jit = off";

/// Drops whatever an earlier import left in the stage.
pub(super) async fn discard(client: &impl GenericClient) -> anyhow::Result<()> {
    client
        // A failed statement may have left the session in an aborted
        // transaction (a warning when there is none).
        .batch_execute(&format!("ROLLBACK; DROP SCHEMA IF EXISTS {STAGE} CASCADE"))
        .await?;
    Ok(())
}

/// Creates the stage: the loaded tables as the live ones are, without
/// their indexes, keys and triggers (those come after the rows); the
/// products' rows as loaded; the word list the products' triggers fill
/// (without its unique index, so that writers never wait on each other;
/// [`super::swap`] adds the words to the live list); and the views.
pub(super) async fn create(client: &Client, plan: &Plan) -> anyhow::Result<()> {
    let live = &plan.live;
    let mut script = format!(
        "DROP SCHEMA IF EXISTS {STAGE} CASCADE; CREATE SCHEMA {STAGE}; SET LOCAL search_path = {STAGE}, {live};"
    );
    for table in LOADED {
        script.push_str(&format!(
            "CREATE TABLE {STAGE}.{table} (LIKE {live}.{table} INCLUDING ALL EXCLUDING INDEXES);"
        ));
    }
    for statement in &plan.settings {
        script.push_str(statement);
        script.push(';');
    }
    script.push_str(&format!(
        "CREATE TABLE {STAGE}.product_rows AS \
           SELECT id, product_name, slogan, description, category_id, price, stock \
           FROM {live}.products WITH NO DATA; \
         CREATE TABLE {STAGE}.search_words \
           (LIKE {live}.search_words INCLUDING DEFAULTS INCLUDING CONSTRAINTS);"
    ));
    for (name, definition, _) in &plan.views {
        let name = name.rsplit('.').next().unwrap_or(name);
        script.push_str(&format!("CREATE VIEW {STAGE}.{name} AS {definition};"));
    }
    client
        .batch_execute(&format!("BEGIN; {script} COMMIT"))
        .await?;
    Ok(())
}

/// Counts every loaded product's stock once, by the inventory's rule (the
/// `sku_stock` view, here over the new tables: the sum of a product's SKUs),
/// for [`write_products`].
pub(super) fn count_stock() -> String {
    format!("CREATE TABLE {STAGE}.stock AS SELECT product_id, units FROM {STAGE}.sku_stock")
}

/// Writes the loaded products with their stock ([`count_stock`]), those
/// whose id leaves `remainder` when divided by `parts` (parts of the
/// products can be written on several connections at once).
pub(super) fn write_products(parts: i32, remainder: i32) -> String {
    format!(
        "INSERT INTO {STAGE}.products (id, product_name, slogan, description, category_id, price, stock) \
         SELECT p.id, p.product_name, p.slogan, p.description, p.category_id, p.price, \
                coalesce(k.units, p.stock) \
         FROM {STAGE}.product_rows p LEFT JOIN {STAGE}.stock k ON k.product_id = p.id \
         WHERE p.id % {parts} = {remainder}"
    )
}

/// The statement that adds `key` to the new tables.
pub(super) fn add_key(key: &Key) -> String {
    key.add_to(&format!("{STAGE}.{}", key.table))
}

/// The distinct words of the loaded names (the products' trigger wrote
/// them to the stage's word list, one row per product and word), for the
/// swap to add to the live list.
pub(super) fn distinct_words() -> String {
    format!("CREATE TABLE {STAGE}.words AS SELECT DISTINCT word FROM {STAGE}.search_words")
}

/// The loaded tables that hold rows (an import without `--replace` needs
/// them all empty: it keeps the files' ids).
pub(super) async fn holding_rows(client: &impl GenericClient) -> anyhow::Result<Vec<&'static str>> {
    let mut holding = Vec::new();
    for table in LOADED {
        let exists: bool = client
            .query_one(&format!("SELECT EXISTS (SELECT 1 FROM {table})"), &[])
            .await?
            .get(0);
        if exists {
            holding.push(table);
        }
    }
    Ok(holding)
}
