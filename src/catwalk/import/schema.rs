//! The catalog's tables as an import sees them: locked, their secondary
//! indexes and foreign keys dropped before the load and rebuilt after from
//! the definitions PostgreSQL holds (so they always match the migrations,
//! which own them), emptied for `--replace`, their id sequences set past the
//! loaded ids; products staged and written once, with their stock.

use tokio_postgres::Transaction;

/// The tables an import owns (emptied by `--replace`, indexes rebuilt).
pub(super) const CATALOG_TABLES: [&str; 9] = [
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

/// What was dropped, to be rebuilt: `(table, name, definition)` of each
/// foreign key, `(name, definition)` of each index.
pub(super) struct Dropped {
    foreign_keys: Vec<(String, String, String)>,
    indexes: Vec<(String, String)>,
}

/// Locks the catalog; how many products it holds.
pub(super) async fn lock(transaction: &Transaction<'_>) -> anyhow::Result<i64> {
    transaction
        .batch_execute(&format!(
            "SET LOCAL maintenance_work_mem = '256MB'; SET LOCAL work_mem = '256MB'; \
             LOCK TABLE {} IN ACCESS EXCLUSIVE MODE",
            CATALOG_TABLES.join(", ")
        ))
        .await?;
    Ok(transaction
        .query_one("SELECT count(*) FROM products", &[])
        .await?
        .get(0))
}

/// Drops the foreign keys within, into and out of the catalog, and its own
/// secondary indexes; remembers them.
pub(super) async fn drop_indexes_and_keys(
    transaction: &Transaction<'_>,
) -> anyhow::Result<Dropped> {
    let tables: Vec<String> = CATALOG_TABLES.iter().map(|t| (*t).to_owned()).collect();
    let foreign_keys: Vec<(String, String, String)> = transaction
        .query(
            "SELECT conrelid::regclass::text, conname::text, pg_get_constraintdef(oid) \
             FROM pg_constraint WHERE contype = 'f' \
               AND (conrelid::regclass::text = ANY($1) OR confrelid::regclass::text = ANY($1))",
            &[&tables],
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
            &[&tables],
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
    Ok(Dropped {
        foreign_keys,
        indexes,
    })
}

/// Empties the catalog; past orders keep their snapshots, carts lose what
/// is going away.
pub(super) async fn empty(transaction: &Transaction<'_>) -> anyhow::Result<()> {
    transaction
        .batch_execute(&format!(
            "UPDATE order_lines SET product_id = NULL, sku_id = NULL \
               WHERE product_id IS NOT NULL OR sku_id IS NOT NULL; \
             DELETE FROM cart_items; \
             TRUNCATE {} RESTART IDENTITY",
            CATALOG_TABLES.join(", ")
        ))
        .await?;
    Ok(())
}

/// Sets the id sequences past the loaded ids, rebuilds what was dropped,
/// and analyzes the catalog.
pub(super) async fn rebuild(
    transaction: &Transaction<'_>,
    dropped: &Dropped,
) -> anyhow::Result<()> {
    for table in CATALOG_TABLES {
        if matches!(table, "tags" | "product_tags") {
            continue;
        }
        transaction
            .batch_execute(&format!(
                "SELECT setval(pg_get_serial_sequence('{table}', 'id'), \
                               COALESCE((SELECT max(id) FROM {table}), 0) + 1, false)"
            ))
            .await?;
    }
    for (_, definition) in &dropped.indexes {
        transaction.batch_execute(definition).await?;
    }
    for (table, name, definition) in &dropped.foreign_keys {
        transaction
            .batch_execute(&format!(
                "ALTER TABLE {table} ADD CONSTRAINT {name} {definition}"
            ))
            .await?;
    }
    // The word list grew with the names (migration `search_words`).
    transaction
        .batch_execute(&format!(
            "ANALYZE {}, search_words",
            CATALOG_TABLES.join(", ")
        ))
        .await?;
    Ok(())
}

/// Where the products are loaded first: a temporary table of the columns
/// loaded, dropped at the commit.
pub(super) const STAGED_PRODUCTS: &str =
    "import_products (id, product_name, slogan, description, category_id, price, stock)";

/// Stages the products: they are written to `products` once, after the
/// SKUs, with their stock ([`write_staged_products`]). Until then the SKUs'
/// per-statement stock trigger is off (it would update every product a
/// second time); the transaction turns it back on, or rolls back.
pub(super) async fn stage_products(transaction: &Transaction<'_>) -> anyhow::Result<()> {
    transaction
        .batch_execute(
            "CREATE TEMPORARY TABLE import_products ON COMMIT DROP AS \
               SELECT id, product_name, slogan, description, category_id, price, stock \
               FROM products WITH NO DATA; \
             ALTER TABLE skus DISABLE TRIGGER skus_stock_on_insert",
        )
        .await?;
    Ok(())
}

/// Writes the staged products, each with the stock the inventory's rule
/// gives it (the `sku_stock` view: the sum of its SKUs), and turns the
/// SKUs' stock trigger back on.
pub(super) async fn write_staged_products(transaction: &Transaction<'_>) -> anyhow::Result<()> {
    transaction
        .batch_execute(
            "INSERT INTO products (id, product_name, slogan, description, category_id, price, stock) \
             SELECT p.id, p.product_name, p.slogan, p.description, p.category_id, p.price, \
                    coalesce(k.units, p.stock) \
             FROM import_products p LEFT JOIN sku_stock k ON k.product_id = p.id; \
             ALTER TABLE skus ENABLE TRIGGER skus_stock_on_insert",
        )
        .await?;
    Ok(())
}
