//! What the live catalog is made of, as an import reads it from
//! PostgreSQL's own catalog ([`Plan`]): each loaded table's indexes, keys,
//! triggers, sequences, owner and options, the views over those tables and
//! the keys into them from the rest of the database. The new tables are
//! built from it, and the swap reads it again to check nothing changed.

use tokio_postgres::GenericClient;

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

/// A foreign key: `ALTER TABLE <table> ADD CONSTRAINT <name> <definition>`
/// (`table` as PostgreSQL names it, quoted and qualified where needed).
#[derive(Clone, PartialEq, Debug)]
pub(super) struct Key {
    pub(super) table: String,
    pub(super) references: String,
    pub(super) name: String,
    definition: String,
}

impl Key {
    /// The statement that adds the key to `table`.
    pub(super) fn add_to(&self, table: &str) -> String {
        format!(
            "ALTER TABLE {table} ADD CONSTRAINT {} {}",
            self.name, self.definition
        )
    }

    /// The statement that adds the key back without reading the rows it
    /// covers (the swap's, under its locks): PostgreSQL checks every row
    /// written from then on, [`Key::validate`] the rows already there.
    pub(super) fn add_unchecked(&self) -> String {
        format!("{} NOT VALID", self.add_to(&self.table))
    }

    /// The statement that checks the rows already there against the key,
    /// while buyers go on writing (it blocks no reads and no row writes).
    pub(super) fn validate(&self) -> String {
        format!(
            "ALTER TABLE {} VALIDATE CONSTRAINT {}",
            self.table, self.name
        )
    }
}

/// What the live catalog is made of, read before the load (and again by
/// the swap, which refuses to go on if it changed meanwhile).
#[derive(PartialEq, Debug)]
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
    /// Views over loaded tables, `(name, definition, owner)`, each after
    /// those it reads.
    pub(super) views: Vec<(String, String, String)>,
    /// `(table, column, sequence)`: the sequences the loaded tables own.
    pub(super) sequences: Vec<(String, String, String)>,
    /// Per loaded table: the statements that give the new table the live
    /// one's owner and storage options.
    pub(super) settings: Vec<String>,
    /// The loaded tables' columns (names, types, defaults), as text: `LIKE`
    /// copies them, and the swap checks they did not change meanwhile.
    columns: String,
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
    pub(super) async fn read(client: &impl GenericClient) -> anyhow::Result<Plan> {
        let tables = names();
        refuse_what_is_not_carried(client, &tables).await?;
        let live: String = client
            .query_one("SELECT quote_ident(current_schema())", &[])
            .await?
            .get(0);
        let mut indexes = Vec::new();
        for row in client
            .query(
                "SELECT t.relname::text, pg_get_indexdef(i.indexrelid), quote_ident(c.conname), \
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
                "SELECT conrelid::regclass::text, confrelid::regclass::text, quote_ident(conname), \
                        pg_get_constraintdef(oid) \
                 FROM pg_constraint WHERE contype = 'f' \
                   AND (conrelid::regclass::text = ANY($1) OR confrelid::regclass::text = ANY($1)) \
                 ORDER BY conrelid::regclass::text, conname",
                &[&tables],
            )
            .await?
        {
            let definition: String = row.get(3);
            let key = Key {
                table: row.get(0),
                references: row.get(1),
                name: row.get(2),
                // A key an earlier import added back but could not check
                // (it stopped in between) is added and checked again.
                definition: definition
                    .strip_suffix(" NOT VALID")
                    .unwrap_or(&definition)
                    .to_owned(),
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
                 WHERE NOT tgisinternal AND tgrelid::regclass::text = ANY($1) \
                 ORDER BY tgrelid::regclass::text, tgname",
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
                "SELECT t.relname::text, quote_ident(a.attname), s.oid::regclass::text FROM pg_depend d \
                 JOIN pg_class s ON s.oid = d.objid AND s.relkind = 'S' \
                 JOIN pg_class t ON t.oid = d.refobjid \
                 JOIN pg_attribute a ON a.attrelid = t.oid AND a.attnum = d.refobjsubid \
                 WHERE d.classid = 'pg_class'::regclass AND d.refclassid = 'pg_class'::regclass \
                   AND d.deptype = 'a' AND t.relnamespace = current_schema()::regnamespace \
                   AND t.relname = ANY($1) ORDER BY t.relname, a.attnum",
                &[&tables],
            )
            .await?
            .iter()
            .map(|row| (row.get(0), row.get(1), row.get(2)))
            .collect();
        let columns = client
            .query_one(
                "SELECT coalesce(string_agg(format('%s.%s %s %s %s %s', t.relname, a.attname, \
                        format_type(a.atttypid, a.atttypmod), a.attnotnull, a.attgenerated, \
                        pg_get_expr(d.adbin, d.adrelid)), ', ' ORDER BY t.relname, a.attnum), '') \
                 FROM pg_attribute a JOIN pg_class t ON t.oid = a.attrelid \
                 LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum \
                 WHERE t.relnamespace = current_schema()::regnamespace AND t.relname = ANY($1) \
                   AND a.attnum > 0 AND NOT a.attisdropped",
                &[&tables],
            )
            .await?
            .get(0);
        Ok(Plan {
            settings: settings(client, &tables).await?,
            columns,
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

/// Stops the import before it starts when the live tables have what the
/// new tables would not get: grants, row security, a replica identity of
/// their own, extended statistics, a publication, a trigger not simply
/// enabled, or views with grants or options.
async fn refuse_what_is_not_carried(
    client: &impl GenericClient,
    tables: &[String],
) -> anyhow::Result<()> {
    let reasons: Vec<String> = client
        .query(
            "WITH loaded AS (SELECT oid FROM pg_class \
                 WHERE relnamespace = current_schema()::regnamespace AND relname = ANY($1)) \
             SELECT format('the table %s has grants, row security or a replica identity', oid::regclass) \
               FROM pg_class WHERE oid IN (SELECT oid FROM loaded) \
                AND (coalesce(relacl <> acldefault('r', relowner), false) OR relrowsecurity \
                     OR relreplident <> 'd') \
             UNION ALL SELECT format('a column of %s has grants', attrelid::regclass) \
               FROM pg_attribute WHERE attrelid IN (SELECT oid FROM loaded) AND attacl IS NOT NULL \
             UNION ALL SELECT format('the trigger %s on %s is not simply enabled', tgname, tgrelid::regclass) \
               FROM pg_trigger WHERE tgrelid IN (SELECT oid FROM loaded) AND NOT tgisinternal \
                AND tgenabled <> 'O' \
             UNION ALL SELECT format('%s has extended statistics', stxrelid::regclass) \
               FROM pg_statistic_ext WHERE stxrelid IN (SELECT oid FROM loaded) \
             UNION ALL SELECT format('%s is published', prrelid::regclass) \
               FROM pg_publication_rel WHERE prrelid IN (SELECT oid FROM loaded) \
             UNION ALL SELECT format('the view %s has grants or options', v.oid::regclass) \
               FROM pg_class v JOIN pg_rewrite r ON r.ev_class = v.oid \
               JOIN pg_depend d ON d.objid = r.oid AND d.classid = 'pg_rewrite'::regclass \
              WHERE d.refobjid IN (SELECT oid FROM loaded) AND v.oid <> d.refobjid \
                AND (coalesce(v.relacl <> acldefault('r', v.relowner), false) \
                     OR v.reloptions IS NOT NULL OR v.relkind <> 'v')",
            &[&tables],
        )
        .await?
        .iter()
        .map(|row| row.get(0))
        .collect();
    anyhow::ensure!(
        reasons.is_empty(),
        "{}: the import builds new tables and swaps them in, and would not carry that over; \
         nothing was changed",
        reasons.join("; ")
    );
    Ok(())
}

/// The statements that give each new table the live one's owner and
/// storage options.
async fn settings(client: &impl GenericClient, tables: &[String]) -> anyhow::Result<Vec<String>> {
    let mut statements = Vec::new();
    for row in client
        .query(
            "SELECT relname::text, quote_ident(pg_get_userbyid(relowner)), \
                    array_to_string(reloptions, ', ') \
             FROM pg_class WHERE relnamespace = current_schema()::regnamespace \
               AND relname = ANY($1) ORDER BY relname",
            &[&tables],
        )
        .await?
    {
        let (table, owner): (String, String) = (row.get(0), row.get(1));
        statements.push(format!("ALTER TABLE {STAGE}.{table} OWNER TO {owner}"));
        if let Some(options) = row.get::<_, Option<String>>(2) {
            statements.push(format!("ALTER TABLE {STAGE}.{table} SET ({options})"));
        }
    }
    Ok(statements)
}

/// The views that read loaded tables (directly or through other views),
/// each after the views it reads.
async fn views(
    client: &impl GenericClient,
    tables: &[String],
) -> anyhow::Result<Vec<(String, String, String)>> {
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
             SELECT view::regclass::text, pg_get_viewdef(view), \
                    quote_ident(pg_get_userbyid((SELECT relowner FROM pg_class WHERE oid = view))) \
             FROM dependent GROUP BY view ORDER BY max(depth), view::regclass::text",
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
                row.get(2),
            )
        })
        .collect())
}
