//! The catalog's tables as an import sees them. The files are loaded into
//! new tables in a schema of their own ([`STAGE`]), on several connections
//! at once; readers and buyers keep the live catalog meanwhile. The new
//! tables are built exactly like the live ones: their columns, defaults and
//! checks by `LIKE`, and their indexes, keys, triggers and views from the
//! definitions PostgreSQL holds for the live ones (so they always match the
//! migrations, which own them). One short transaction then swaps them in
//! ([`super::swap`]); until it commits, nothing live has changed.

use tokio_postgres::{Client, GenericClient};

/// The schema the new tables are built in.
pub(super) const STAGE: &str = "import_stage";

/// The tables an import writes whole: built in [`STAGE`] and swapped in.
pub(super) const LOADED: [&str; 7] = [
    "categories",
    "products",
    "features",
    "styles",
    "photos",
    "skus",
    "related_products",
];

/// The rest of the catalog, which `--replace` empties in place.
pub(super) const EMPTIED: [&str; 2] = ["product_tags", "tags"];

/// One import at a time (a session advisory lock's key).
pub(super) const IMPORT_LOCK: i64 = 0x0e6d_706f_7274;

/// A foreign key: `ALTER TABLE <table> ADD CONSTRAINT <name> <definition>`.
#[derive(Clone)]
pub(super) struct Key {
    pub(super) table: String,
    pub(super) references: String,
    pub(super) name: String,
    definition: String,
}

impl Key {
    pub(super) fn add(&self, schema: &str) -> String {
        format!(
            "ALTER TABLE {schema}.{} ADD CONSTRAINT {} {}",
            self.table, self.name, self.definition
        )
    }
}

/// What the live catalog is made of, read before the load.
pub(super) struct Plan {
    /// The live schema.
    pub(super) live: String,
    /// Per loaded table: `(table, statement)`, key-backing indexes first.
    pub(super) indexes: Vec<(String, String)>,
    /// The loaded tables' own keys, built on the new tables before the swap.
    pub(super) keys: Vec<Key>,
    /// Keys from the rest of the database into loaded tables: dropped and
    /// added again by the swap.
    pub(super) outside_keys: Vec<Key>,
    /// `(table, statement)`: the triggers, created on the new tables.
    pub(super) triggers: Vec<(String, String)>,
    /// Views over loaded tables, `(name, definition)`, each after those it reads.
    pub(super) views: Vec<(String, String)>,
    /// `(table, column, sequence)`: the sequences the loaded tables own.
    pub(super) sequences: Vec<(String, String, String)>,
    /// Per loaded table: the statements that give the new table the live
    /// one's owner and storage options.
    settings: Vec<String>,
}

fn names() -> Vec<String> {
    LOADED.iter().map(|table| (*table).to_owned()).collect()
}

/// Moves `ON <live>.<table> ` in a definition to the stage.
fn staged(definition: &str, live: &str, table: &str) -> anyhow::Result<String> {
    let from = format!(" ON {live}.{table} ");
    anyhow::ensure!(
        definition.contains(&from),
        "cannot stage {definition:?}: it does not name {live}.{table}"
    );
    Ok(definition.replacen(&from, &format!(" ON {STAGE}.{table} "), 1))
}

impl Plan {
    pub(super) async fn read(client: &Client) -> anyhow::Result<Plan> {
        let tables = names();
        let live: String = client
            .query_one("SELECT current_schema()::text", &[])
            .await?
            .get(0);
        let mut indexes = Vec::new();
        for row in client
            .query(
                "SELECT t.relname::text, pg_get_indexdef(i.indexrelid), c.conname::text, \
                        pg_get_constraintdef(c.oid) \
                 FROM pg_index i JOIN pg_class t ON t.oid = i.indrelid \
                 LEFT JOIN pg_constraint c ON c.conindid = i.indexrelid AND c.conrelid = t.oid \
                      AND c.contype IN ('p', 'u', 'x') \
                 WHERE t.relnamespace = current_schema()::regnamespace AND t.relname = ANY($1) \
                 ORDER BY t.relname, c.contype = 'p' DESC NULLS LAST, c.conname NULLS LAST, i.indexrelid",
                &[&tables],
            )
            .await?
        {
            let (table, definition): (String, String) = (row.get(0), row.get(1));
            let statement = match row.get::<_, Option<String>>(2) {
                Some(name) => format!(
                    "ALTER TABLE {STAGE}.{table} ADD CONSTRAINT {name} {}",
                    row.get::<_, String>(3)
                ),
                None => staged(&definition, &live, &table)?,
            };
            indexes.push((table, statement));
        }
        let (mut keys, mut outside_keys) = (Vec::new(), Vec::new());
        for row in client
            .query(
                "SELECT conrelid::regclass::text, confrelid::regclass::text, conname::text, \
                        pg_get_constraintdef(oid) \
                 FROM pg_constraint WHERE contype = 'f' \
                   AND (conrelid::regclass::text = ANY($1) OR confrelid::regclass::text = ANY($1)) \
                 ORDER BY conrelid::regclass::text, conname",
                &[&tables],
            )
            .await?
        {
            let key = Key {
                table: row.get(0),
                references: row.get(1),
                name: row.get(2),
                definition: row.get(3),
            };
            if tables.contains(&key.table) {
                keys.push(key);
            } else {
                outside_keys.push(key);
            }
        }
        let mut triggers = Vec::new();
        for row in client
            .query(
                "SELECT tgrelid::regclass::text, pg_get_triggerdef(oid) FROM pg_trigger \
                 WHERE NOT tgisinternal AND tgrelid::regclass::text = ANY($1) ORDER BY tgname",
                &[&tables],
            )
            .await?
        {
            let table: String = row.get(0);
            let statement = staged(row.get(1), &live, &table)?;
            triggers.push((table, statement));
        }
        let sequences = client
            .query(
                "SELECT t.relname::text, a.attname::text, s.oid::regclass::text FROM pg_depend d \
                 JOIN pg_class s ON s.oid = d.objid AND s.relkind = 'S' \
                 JOIN pg_class t ON t.oid = d.refobjid \
                 JOIN pg_attribute a ON a.attrelid = t.oid AND a.attnum = d.refobjsubid \
                 WHERE d.classid = 'pg_class'::regclass AND d.refclassid = 'pg_class'::regclass \
                   AND d.deptype = 'a' AND t.relnamespace = current_schema()::regnamespace \
                   AND t.relname = ANY($1)",
                &[&tables],
            )
            .await?
            .iter()
            .map(|row| (row.get(0), row.get(1), row.get(2)))
            .collect();
        Ok(Plan {
            settings: settings(client, &tables).await?,
            views: views(client, &tables).await?,
            live,
            indexes,
            keys,
            outside_keys,
            triggers,
            sequences,
        })
    }
}

/// The statements that give each new table the live one's owner and
/// storage options. Grants and row security are not carried over: a live
/// table with either stops the import before it starts.
async fn settings(client: &Client, tables: &[String]) -> anyhow::Result<Vec<String>> {
    let mut statements = Vec::new();
    for row in client
        .query(
            "SELECT relname::text, pg_get_userbyid(relowner)::text, \
                    array_to_string(reloptions, ', '), \
                    coalesce(relacl <> acldefault('r', relowner), false) OR relrowsecurity \
             FROM pg_class WHERE relnamespace = current_schema()::regnamespace \
               AND relname = ANY($1)",
            &[&tables],
        )
        .await?
    {
        let (table, owner): (String, String) = (row.get(0), row.get(1));
        anyhow::ensure!(
            !row.get::<_, bool>(3),
            "the table {table} has grants or row security, which the import does not carry \
             over to the tables it swaps in; nothing was changed"
        );
        statements.push(format!("ALTER TABLE {STAGE}.{table} OWNER TO \"{owner}\""));
        if let Some(options) = row.get::<_, Option<String>>(2) {
            statements.push(format!("ALTER TABLE {STAGE}.{table} SET ({options})"));
        }
    }
    Ok(statements)
}

/// The views that read loaded tables (directly or through other views),
/// each after the views it reads.
async fn views(client: &Client, tables: &[String]) -> anyhow::Result<Vec<(String, String)>> {
    let rows = client
        .query(
            "WITH RECURSIVE reads(view, source) AS ( \
                 SELECT DISTINCT r.ev_class, d.refobjid FROM pg_depend d \
                 JOIN pg_rewrite r ON r.oid = d.objid \
                 WHERE d.classid = 'pg_rewrite'::regclass AND d.refclassid = 'pg_class'::regclass \
                   AND r.ev_class <> d.refobjid), \
             dependent(view, depth) AS ( \
                 SELECT view, 1 FROM reads \
                 WHERE source IN (SELECT oid FROM pg_class \
                                  WHERE relnamespace = current_schema()::regnamespace AND relname = ANY($1)) \
                 UNION ALL \
                 SELECT reads.view, dependent.depth + 1 FROM reads \
                 JOIN dependent ON reads.source = dependent.view WHERE dependent.depth < 32) \
             SELECT view::regclass::text, pg_get_viewdef(view) FROM dependent \
             GROUP BY view ORDER BY max(depth), view::regclass::text",
            &[&tables],
        )
        .await?;
    // pg_get_viewdef ends its query with a semicolon.
    Ok(rows
        .iter()
        .map(|row| {
            let definition: String = row.get(1);
            (
                row.get(0),
                definition.trim_end().trim_end_matches(';').to_owned(),
            )
        })
        .collect())
}

/// Session settings of a connection that builds the new tables: its
/// unqualified names (in the keys', triggers' and views' definitions, and
/// in the trigger functions) find the new tables first.
pub(super) const BUILDER_SETTINGS: &str = "SET search_path = import_stage, public; \
     SET maintenance_work_mem = '256MB'; SET work_mem = '256MB'; \
     SET max_parallel_maintenance_workers = 0; SET synchronous_commit = off; SET jit = off";

/// Drops whatever an earlier import left in the stage.
pub(super) async fn discard(client: &impl GenericClient) -> anyhow::Result<()> {
    client
        .batch_execute(&format!("DROP SCHEMA IF EXISTS {STAGE} CASCADE"))
        .await?;
    Ok(())
}

/// Creates the stage: the loaded tables as the live ones are, without
/// their indexes, keys and triggers (those come after the rows); the
/// products' rows as loaded; the word list the products' triggers fill
/// (without its unique index, so that writers never wait on each other;
/// [`swap`] adds the words to the live list); and the views.
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
    for (name, definition) in &plan.views {
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
    key.add(STAGE)
}
